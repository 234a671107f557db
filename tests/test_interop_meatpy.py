"""meatpy (PyPI; an ITCH 5.0 book builder nobody here wrote) reads the ITCH 5.0
stream the appliance publishes and rebuilds the book the matcher holds.

The scripted session is a list of OUCH 5.0 inbound messages from three client
sessions (adds at several levels, partial and full executions, cancels, a
priority-losing replace, in-place decreases, refusals).  Each goes through
the C OUCH decoder, the gateway's OUCH -> command mapping, the real matcher,
and the gateway's event -> ITCH mapping into a MoldUDP64 packet builder; the
packets are converted to Nasdaq's length-prefixed file format and read by
meatpy.  meatpy's rebuilt book must equal the matcher's L3 snapshot
(`expected_l3_book`), and meatpy's check that every execution hits the first
order in line must find nothing.  A hand-written ITCH stream (SESSION) keeps
the field-by-field parse test and the control case that must fail.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from tests import needs  # noqa: E402
from wirematch.pipeline.native.matcher import BUY, SELL, InstrumentRules, Matcher
from wirematch.pipeline.protocols import codec
from wirematch.pipeline.protocols.gateway import Gateway, Stream

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


INSTRUMENT = 1
TICK = 100  # one cent in Price(4) units: matcher prices are in cents


# The OUCH session: (client session, message type, fields).  Prices are
# Price(8) with 4 decimals (1_000_000 is 100.0000).
def _enter(ref: int, side: str, qty: int, price: int, tif: str = "0") -> dict[str, Any]:
    return dict(
        user_ref_num=ref,
        side=side,
        quantity=qty,
        symbol=STOCK,
        price=price,
        time_in_force=tif,
        display="Y",
        capacity="A",
        iso="N",
        cross_type="N",
        cl_ord_id=f"C{ref}",
    )


OUCH_SESSION: list[tuple[int, str, dict[str, Any]]] = [
    (1, "O", _enter(1, "B", 100, 1_000_000)),
    (2, "O", _enter(1, "B", 200, 1_000_000)),
    (1, "O", _enter(2, "B", 300, 999_900)),
    (3, "O", _enter(1, "S", 100, 1_000_100)),
    (2, "O", _enter(2, "S", 150, 1_000_100)),
    (3, "O", _enter(2, "S", 500, 1_000_200)),
    (1, "O", _enter(3, "B", 50, 999_800)),
    (2, "O", _enter(3, "B", 10, 1_000_050)),  # off the one-cent tick: Rejected Order
    (3, "O", _enter(3, "S", 40, 1_000_000, tif="3")),  # IOC: 40 of s1's order 1
    (3, "O", _enter(4, "S", 60, 990_000)),  # the rest of s1/1, nothing left over
    (1, "O", _enter(4, "B", 100, 1_000_100)),  # all of s3/1
    (2, "X", dict(user_ref_num=1, quantity=150)),  # in-place decrease 200 -> 150
    (
        1,
        "U",  # price change: priority lost, behind s2/1
        dict(
            orig_user_ref_num=2,
            user_ref_num=5,
            quantity=250,
            price=1_000_000,
            time_in_force="0",
            display="Y",
            iso="N",
            cl_ord_id="C5",
        ),
    ),
    (1, "X", dict(user_ref_num=3, quantity=0)),  # full cancel
    (3, "O", _enter(5, "B", 50, 1_000_100)),  # 50 of s2/2
    (3, "O", _enter(6, "S", 75, 1_000_100)),  # rests behind s2/2
    (3, "X", dict(user_ref_num=2, quantity=400)),  # in-place decrease 500 -> 400
    (2, "X", dict(user_ref_num=99, quantity=0)),  # unknown order: Cancel Reject
]


def preamble() -> list[Any]:
    """Messages the feed sends before the instrument opens (not matcher events)."""
    return [
        codec.itch_struct(t, 0 if t == "S" else LOCATE, 0, T0 + i, **fields)
        for i, (t, fields) in enumerate(SESSION[:4])
    ]


def run_session() -> tuple[Gateway, Matcher]:
    """OUCH session -> decode -> gateway -> matcher -> ITCH/OUCH packets."""
    m = Matcher(max_instruments=4, max_orders=1024)
    m.add_instrument(
        InstrumentRules(id=INSTRUMENT, ref_price=10_000, max_levels=64, state=2)  # halted
    )
    feed = Stream("MDFEED", mtu_payload=200)
    gw = Gateway(m, feed)
    gw.add_instrument(STOCK, INSTRUMENT, LOCATE, TICK)
    for s in (1, 2, 3):
        gw.add_session(s)
    for msg in preamble():
        feed.add_itch(msg)
    gw.publish(m.resume(INSTRUMENT, ts=T0 + 10))  # STATE -> Stock Trading Action 'T'
    for i, (session, t, fields) in enumerate(OUCH_SESSION):
        gw.submit(session, T0 + (i + 1) * 1000, codec.encode_ouch_in(t, **fields))
    gw.flush()
    return gw, m


def expected_l3_book(m: Matcher) -> Book:
    """The matcher's L3 snapshot in meatpy's representation: per side, levels
    best first, each (Price(4), [(ITCH order ref, shares) in time priority])."""
    book: Book = {}
    for name, side in (("bids", BUY), ("asks", SELL)):
        levels: list[tuple[int, list[tuple[int, int]]]] = []
        for o in m.l3(INSTRUMENT, side):
            price = int(o["price"]) * TICK
            if not levels or levels[-1][0] != price:
                levels.append((price, []))
            levels[-1][1].append((int(o["order_ref"]), int(o["qty"])))
        book[name] = levels
    return book


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


def test_meatpy_rebuilds_the_matchers_book(tmp_path: Path) -> None:
    gw, m = run_session()
    packets = gw.feed.packets
    assert len(packets) > 1  # the session spans several packets
    path = tmp_path / "session.itch50"
    n = to_itch_file(packets, path)
    assert n == len(preamble()) + gw.counters()["gw_itch_messages"]
    book, lob = meatpy_book(path)
    expected = expected_l3_book(m)
    assert book == expected
    lob.end_of_day()  # raises if any execution did not hit the first order in line

    # The script reaches what it claims: the book it leaves, in Price(4)
    # (order refs are the matcher's, in entry order; s1's replace got 9).
    assert [(p, [q for _, q in orders]) for p, orders in expected["bids"]] == [
        (1_000_000, [150, 250])
    ]
    assert [(p, [q for _, q in orders]) for p, orders in expected["asks"]] == [
        (1_000_100, [100, 75]),
        (1_000_200, [400]),
    ]
    types = [codec.decode_itch(msg)["type"] for raw in packets for msg in codec.mold_unpack(raw)[3]]
    assert types.count("E") == 4 and types.count("X") == 2 and types.count("D") == 2
    assert "U" not in types  # a priority-losing replace is Delete + Add
    c = gw.counters()
    assert c["gw_in_drop_price_off_tick"] == 1 and "gw_itch_drop_unknown_instrument" not in c


def test_ouch_replies_of_the_session() -> None:
    """Each session's OUCH stream answers its own orders."""
    gw, _ = run_session()

    def msgs(session: int) -> list[dict[str, Any]]:
        return [
            codec.decode_ouch_out(msg)
            for raw in gw.sessions[session].packets
            for msg in codec.mold_unpack(raw)[3]
        ]

    s1, s2, s3 = msgs(1), msgs(2), msgs(3)
    assert [x["type"] for x in s1] == ["A", "A", "A", "E", "E", "A", "E", "U", "C"]
    assert s1[3]["liquidity_flag"] == "A" and s1[3]["quantity"] == 40
    assert s1[6]["liquidity_flag"] == "R" and s1[6]["price"] == 1_000_100
    assert s1[7]["orig_user_ref_num"] == 2 and s1[7]["user_ref_num"] == 5
    assert s1[7]["quantity"] == 250 and s1[7]["price"] == 1_000_000
    assert s1[8]["user_ref_num"] == 3 and s1[8]["quantity"] == 50 and s1[8]["reason"] == "U"
    assert [x["type"] for x in s2] == ["A", "A", "J", "C", "E", "I"]
    assert s2[2]["reason"] == lib_reject("INVALID_PRICE") and s2[2]["user_ref_num"] == 3
    assert s2[3]["user_ref_num"] == 1 and s2[3]["quantity"] == 50  # decrease 200 -> 150
    assert s2[5]["user_ref_num"] == 99
    ioc = [x for x in s3 if x["type"] == "C" and x["reason"] == "I"]
    assert ioc == []  # the IOC filled completely
    assert s3[-1]["type"] == "C" and s3[-1]["quantity"] == 100


def lib_reject(name: str) -> int:
    from wirematch.pipeline.native import lib

    return int(getattr(lib, f"WM_OUCH_REJECT_{name}"))


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
