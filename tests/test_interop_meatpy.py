"""meatpy (PyPI; an ITCH 5.0 book builder nobody here wrote) reads the ITCH 5.0
stream of a scripted session, encoded by the C encoders and framed into
MoldUDP64 packets by the C packet builder, then converted to Nasdaq's
length-prefixed file format, and rebuilds the expected L3 book.  meatpy also
checks that every execution hits the first order in line at the best price.

INTEGRATION HOOK: expected_l3_book() returns the book hand-derived from the
script below.  Once the matcher merges, the same session is to be replayed as
OUCH orders through the matcher and this function is to return the matcher's
L3 snapshot instead (see the function's docstring).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline import codec
from tests import needs  # noqa: E402

meatpy = needs.module("meatpy", "pip install meatpy; part of the dev extras")
from meatpy.itch50 import ITCH50MarketProcessor, ITCH50MessageReader  # noqa: E402
from meatpy.lob import ExecutionPriorityExceptionList  # noqa: E402

STOCK = "ZVZZT"
LOCATE = 1
T0 = 34_200_000_000_000  # 09:30:00

# One L3 book: per side, levels best first, each (price, [(order_ref, shares) in time priority]).
Book = dict[str, list[tuple[int, list[tuple[int, int]]]]]

# The scripted session: (type, fields) in publication order.  Prices are
# Price(4): 1_000_000 is 100.0000.
SESSION: list[tuple[str, dict[str, Any]]] = [
    ("S", dict(event_code="O")),
    (
        "R",
        dict(
            stock=STOCK,
            market_category="Q",
            financial_status="N",
            round_lot_size=100,
            round_lots_only="N",
            issue_classification="C",
            issue_sub_type="Z",
            authenticity="T",
            short_sale_threshold="N",
            ipo_flag=" ",
            luld_ref_price_tier="1",
            etp_flag="N",
            etp_leverage_factor=0,
            inverse_indicator="N",
        ),
    ),
    ("S", dict(event_code="S")),
    ("S", dict(event_code="Q")),
    ("H", dict(stock=STOCK, trading_state="T", reserved=" ", reason="")),
    ("A", dict(order_ref=1, side="B", shares=100, stock=STOCK, price=1_000_000)),
    ("A", dict(order_ref=2, side="B", shares=200, stock=STOCK, price=1_000_000)),
    ("A", dict(order_ref=3, side="B", shares=300, stock=STOCK, price=999_900)),
    ("A", dict(order_ref=4, side="S", shares=100, stock=STOCK, price=1_000_100)),
    (
        "F",
        dict(order_ref=5, side="S", shares=150, stock=STOCK, price=1_000_100, attribution="WMCH"),
    ),
    ("A", dict(order_ref=6, side="S", shares=500, stock=STOCK, price=1_000_200)),
    ("A", dict(order_ref=7, side="B", shares=50, stock=STOCK, price=999_800)),
    ("E", dict(order_ref=1, shares=40, match_number=1)),  # first in line at the best bid
    ("E", dict(order_ref=1, shares=60, match_number=2)),  # order 1 gone, 2 is first
    ("C", dict(order_ref=4, shares=100, match_number=3, printable="Y", price=1_000_100)),
    ("X", dict(order_ref=2, shares=50)),  # partial cancel: 150 left
    ("U", dict(orig_order_ref=3, new_order_ref=8, shares=250, price=999_950)),
    ("D", dict(order_ref=7)),
    # A trade against a non-displayed order: no book effect.
    ("P", dict(order_ref=0, side="B", shares=25, stock=STOCK, price=1_000_100, match_number=4)),
    ("E", dict(order_ref=5, shares=50, match_number=5)),
    ("A", dict(order_ref=9, side="S", shares=75, stock=STOCK, price=1_000_100)),
    ("X", dict(order_ref=6, shares=100)),
]

EXPECTED_BOOK: Book = {
    "bids": [(1_000_000, [(2, 150)]), (999_950, [(8, 250)])],
    "asks": [(1_000_100, [(5, 100), (9, 75)]), (1_000_200, [(6, 400)])],
}


def expected_l3_book() -> Book:
    """The book the stream must rebuild.

    INTEGRATION HOOK: today the hand-derived EXPECTED_BOOK of SESSION.  When
    the matcher lands, drive the equivalent OUCH session through it, take its
    L3 snapshot (levels best first, orders in time priority, prices in ITCH
    Price(4) units) and return that; the ITCH messages then come from the
    matcher's market-data events instead of SESSION.
    """
    return EXPECTED_BOOK


def publish(session: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    """The MoldUDP64 packets the appliance would send for the session."""
    structs = [
        codec.itch_struct(t, 0 if t == "S" else LOCATE, 0, T0 + i * 1000, **fields)
        for i, (t, fields) in enumerate(session)
    ]
    return codec.mold_packets("MDFEED", 1, structs, "itch", mtu_payload=200)


def to_itch_file(packets: list[bytes], path: Path) -> int:
    """Nasdaq's file format: each message prefixed by its 2-byte length.
    Checks the stream's sequence numbers are contiguous on the way."""
    next_seq = 1
    count = 0
    with path.open("wb") as fh:
        for raw in packets:
            session, seq, n, msgs = codec.mold_unpack(raw)
            assert session == "MDFEED    " and seq == next_seq and n == len(msgs)
            next_seq += n
            for m in msgs:
                codec.decode_itch(m)  # the C decoder accepts every message
                fh.write(len(m).to_bytes(2, "big") + m)
                count += 1
    return count


def meatpy_book(path: Path) -> tuple[Book, Any]:
    processor = ITCH50MarketProcessor(STOCK, datetime.datetime(2024, 1, 2))
    reader = ITCH50MessageReader()
    for message in reader.read_file(path):
        processor.process_message(message)
    lob = processor.current_lob
    assert lob is not None

    def side(levels: list[Any]) -> list[tuple[int, list[tuple[int, int]]]]:
        return [(lv.price, [(o.order_id, o.volume) for o in lv.queue]) for lv in levels]

    return {"bids": side(lob.bid_levels), "asks": side(lob.ask_levels)}, lob


def test_meatpy_rebuilds_the_book(tmp_path: Path) -> None:
    packets = publish(SESSION)
    assert len(packets) > 1  # the session spans several packets
    path = tmp_path / "session.itch50"
    assert to_itch_file(packets, path) == len(SESSION)
    book, lob = meatpy_book(path)
    assert book == expected_l3_book()
    lob.end_of_day()  # raises if any execution did not hit the first order in line


def test_meatpy_parses_every_field(tmp_path: Path) -> None:
    """meatpy's own parse of each message agrees with what was encoded."""
    path = tmp_path / "session.itch50"
    to_itch_file(publish(SESSION), path)
    renames = {
        "side": "bsindicator",
        "match_number": "match",
        "orig_order_ref": "original_ref",
        "new_order_ref": "new_ref",
        "event_code": "code",
        "trading_state": "state",
    }
    messages = list(ITCH50MessageReader().read_file(path))
    assert len(messages) == len(SESSION)
    for i, (msg, (t, fields)) in enumerate(zip(messages, SESSION, strict=True)):
        assert msg.timestamp == T0 + i * 1000
        if t == "R":
            assert msg.stock == b"ZVZZT   " and msg.lotsize == 100
            continue
        for name, value in fields.items():
            attr = renames.get(name, name)
            if t == "X" and name == "shares":
                attr = "canceled_shares"
            if t == "C" and name == "price":
                attr = "execution_price"
            if name in ("reserved", "reason"):
                continue
            got = getattr(msg, attr)
            if isinstance(got, bytes):
                got = got.decode().rstrip()
            assert got == value, (t, name)


def test_meatpy_flags_an_execution_out_of_line(tmp_path: Path) -> None:
    """The oracle can fail: executing the second order in line is caught."""
    bad = SESSION[:12] + [("E", dict(order_ref=2, shares=10, match_number=1))]
    bad += [("E", dict(order_ref=1, shares=10, match_number=2))]
    path = tmp_path / "bad.itch50"
    to_itch_file(publish(bad), path)
    with pytest.raises(ExecutionPriorityExceptionList):
        _, lob = meatpy_book(path)
        lob.end_of_day()
