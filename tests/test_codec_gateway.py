"""The gateway's mappings (native/codec/gateway.c): every OUCH inbound type to
the matcher command it becomes (or its counted refusal and reply), every
matcher event type to the ITCH and OUCH messages it becomes (their bytes read
back with the Scapy layers, written independently of the C codecs), and
arbitrary input counted, never a crash."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wirematch.pipeline.native import ffi, lib
from wirematch.pipeline.native.matcher import (
    ALL_INSTRUMENTS,
    BUY,
    CANCEL_REASON,
    CMD_CANCEL,
    CMD_MASS_CANCEL,
    CMD_NEW,
    CMD_REPLACE,
    DAY,
    EV,
    EVENT_DTYPE,
    IOC,
    LIMIT,
    POST_ONLY,
    REJECT,
    SELL,
    InstrumentRules,
    Matcher,
)
from wirematch.pipeline.protocols import codec
from wirematch.pipeline.protocols import itch as sitch
from wirematch.pipeline.protocols import ouch as souch
from wirematch.pipeline.protocols.gateway import Gateway, Stream, counter_name

INS = 3
LOCATE = 7
TICK = 100
T0 = 36_000_000_000_000  # 10:00:00


def make(account_per_session: bool = True, ts_offset_ns: int = 0) -> tuple[Gateway, Matcher]:
    m = Matcher(max_instruments=8, max_orders=256)
    m.add_instrument(InstrumentRules(id=INS, ref_price=10_000, max_levels=64))
    gw = Gateway(
        m, Stream("FEED"), ts_offset_ns=ts_offset_ns, account_per_session=account_per_session, stp=0
    )
    gw.add_instrument("WMT", INS, LOCATE, TICK)
    gw.add_instrument("AAPL", 4, 8, 1)
    gw.add_session(11)
    gw.add_session(12)
    return gw, m


def enter(ref: int, **over: Any) -> bytes:
    fields: dict[str, Any] = dict(
        user_ref_num=ref,
        side="B",
        quantity=300,
        symbol="WMT",
        price=1_000_000,
        time_in_force="0",
        display="Y",
        capacity="A",
        iso="N",
        cross_type="N",
        cl_ord_id=f"ORD{ref}",
    )
    fields.update(over)
    return codec.encode_ouch_in("O", **fields)


def replace(orig: int, new: int, **over: Any) -> bytes:
    fields: dict[str, Any] = dict(
        orig_user_ref_num=orig,
        user_ref_num=new,
        quantity=200,
        price=1_000_100,
        time_in_force="0",
        display="Y",
        iso="N",
        cl_ord_id=f"ORD{new}",
    )
    fields.update(over)
    return codec.encode_ouch_in("U", **fields)


def cmd_fields(batch: np.ndarray | None) -> dict[str, int]:
    assert batch is not None
    names = batch.dtype.names
    assert names is not None
    return {n: int(batch[n][0]) for n in names}


# ---- OUCH inbound -> command ------------------------------------------------


def test_enter_order_to_new() -> None:
    gw, _ = make()
    app = dict(min_qty=100, post_only="P", price_type="L", firm="WMCH")
    batch, reason, reply = gw.to_cmd(11, T0, enter(5, side="T", app=app))
    assert reason == "ok" and reply is None
    c = cmd_fields(batch)
    assert c["type"] == CMD_NEW and c["client_id"] == 5 and c["session"] == 11
    assert c["instrument"] == INS and c["side"] == SELL and c["ord_type"] == LIMIT
    assert c["tif"] == DAY and c["price"] == 10_000 and c["qty"] == 300
    assert c["min_qty"] == 100 and c["flags"] == POST_ONLY and c["ts"] == T0
    assert c["account"] == 11 and c["display_qty"] == 0 and c["stp"] == 0
    batch, _, _ = gw.to_cmd(12, T0, enter(1, symbol="AAPL", price=1_234_567, time_in_force="3"))
    c = cmd_fields(batch)
    assert c["side"] == BUY and c["tif"] == IOC and c["instrument"] == 4
    assert c["price"] == 1_234_567 and c["flags"] == 0 and c["min_qty"] == 0
    assert gw.counters() == {"gw_in_commands": 2}


def test_replace_cancel_and_decrease() -> None:
    gw, m = make()
    gw.submit(11, T0, enter(1))
    batch, reason, _ = gw.to_cmd(11, T0 + 1, replace(1, 2, quantity=250, price=999_900))
    c = cmd_fields(batch)
    assert reason == "ok" and c["type"] == CMD_REPLACE and c["client_id"] == 1
    assert c["new_client_id"] == 2 and c["price"] == 9_999 and c["qty"] == 250
    assert c["instrument"] == INS and c["session"] == 11
    # Cancel 'X' with quantity 0: CANCEL, the instrument found in the matcher.
    c = cmd_fields(gw.to_cmd(11, T0, codec.encode_ouch_in("X", user_ref_num=1, quantity=0))[0])
    assert c["type"] == CMD_CANCEL and c["client_id"] == 1 and c["instrument"] == INS
    # Cancel 'X' with a quantity: REPLACE in place (same price and id).
    c = cmd_fields(gw.to_cmd(11, T0, codec.encode_ouch_in("X", user_ref_num=1, quantity=120))[0])
    assert c["type"] == CMD_REPLACE and c["client_id"] == c["new_client_id"] == 1
    assert c["price"] == 10_000 and c["qty"] == 120
    # ... never an increase: at most the open quantity.
    c = cmd_fields(gw.to_cmd(11, T0, codec.encode_ouch_in("X", user_ref_num=1, quantity=900))[0])
    assert c["qty"] == 300
    # Unknown order: passed on, the matcher answers (Cancel Reject).
    c = cmd_fields(gw.to_cmd(11, T0, codec.encode_ouch_in("X", user_ref_num=77, quantity=0))[0])
    assert c["type"] == CMD_CANCEL and c["client_id"] == 77
    events = m.apply(gw.to_cmd(11, T0, codec.encode_ouch_in("X", user_ref_num=77, quantity=5))[0])
    assert events["type"].tolist() == [EV["rejected"]]
    assert int(events["aux"][0]) == REJECT["unknown_order"]


def test_mass_cancel_modify_and_account_query() -> None:
    gw, _ = make()
    c = cmd_fields(
        gw.to_cmd(11, T0, codec.encode_ouch_in("C", user_ref_num=1, firm="WMCH", symbol=""))[0]
    )
    assert c["type"] == CMD_MASS_CANCEL and c["flags"] == ALL_INSTRUMENTS and c["session"] == 11
    c = cmd_fields(
        gw.to_cmd(11, T0, codec.encode_ouch_in("C", user_ref_num=2, firm="WMCH", symbol="WMT"))[0]
    )
    assert c["type"] == CMD_MASS_CANCEL and c["flags"] == 0 and c["instrument"] == INS
    batch, reason, reply = gw.to_cmd(
        11, T0, codec.encode_ouch_in("C", user_ref_num=3, firm="WMCH", symbol="", app={"side": "B"})
    )
    assert batch is None and reason == "gw_in_drop_mass_cancel_by_side"
    assert reply is not None and reply["type"] == "J"
    # Modify of an order nobody knows: passed on (the matcher answers
    # unknown_order, which is Cancel Reject); the Modify paths are below.
    batch, reason, reply = gw.to_cmd(
        11, T0, codec.encode_ouch_in("M", user_ref_num=1, side="B", quantity=10)
    )
    c = cmd_fields(batch)
    assert reason == "ok" and reply is None
    assert c["type"] == CMD_REPLACE and c["client_id"] == c["new_client_id"] == 1
    batch, reason, reply = gw.to_cmd(11, T0, codec.encode_ouch_in("Q"))
    assert batch is None and reason == "gw_in_replies"
    assert reply == {"type": "Q", "timestamp": T0, "next_user_ref_num": 4}


def test_refusals_are_counted_with_their_reply() -> None:
    gw, _ = make()
    cases: list[tuple[int, bytes, str, int | None]] = [
        (99, enter(1), "gw_in_drop_unknown_session", None),
        (11, enter(1, symbol="IBM"), "gw_in_drop_unknown_symbol", 0x17),
        (11, enter(2, price=1_000_050), "gw_in_drop_price_off_tick", 0x1D),
        (11, enter(3, time_in_force="6"), "gw_in_drop_unsupported_tif", 0x0F),
        (11, enter(4, display="N"), "gw_in_drop_hidden_display", 0x03),
        (11, enter(5, app={"price_type": "M"}), "gw_in_drop_unsupported_price_type", 0x11),
        (11, enter(6, app={"max_floor": 100}), "gw_in_drop_reserve_order", 0x04),
        (11, enter(6), "gw_in_drop_user_ref_not_increasing", 0x0F),
    ]
    for session, raw, want, code in cases:
        batch, reason, reply = gw.to_cmd(session, T0, raw)
        assert batch is None and reason == want, want
        if code is None:
            assert reply is None
        else:
            assert reply is not None and reply["type"] == "J" and reply["reason"] == code
            assert reply["cl_ord_id"].strip().startswith("ORD")
    counts = gw.counters()
    assert all(counts[w] == 1 for _, _, w, _ in cases)
    assert "gw_in_commands" not in counts
    # A replace may not change the TIF (the matcher keeps it): refused.
    gw.submit(11, T0, enter(10))
    batch, reason, reply = gw.to_cmd(11, T0, replace(10, 11, time_in_force="3"))
    assert batch is None and reason == "gw_in_drop_unsupported_tif"
    assert reply is not None and reply["reason"] == 0x15


def test_prices_the_feed_cannot_carry_and_the_last_user_ref_num() -> None:
    """A price OUCH carries but ITCH cannot (over 200,000.0000) is refused at
    entry (Enter and Replace), the feed's largest is taken and announced;
    UserRefNum 2^32-1 serves once."""
    itch_max = 2_000_000_000
    m = Matcher(max_instruments=8, max_orders=256)
    m.add_instrument(InstrumentRules(id=INS, ref_price=itch_max // TICK, max_levels=64))
    gw = Gateway(m, Stream("FEED"), account_per_session=True, stp=0)
    gw.add_instrument("WMT", INS, LOCATE, TICK)
    gw.add_session(11)
    gw.add_session(12)
    for ref, price in ((1, itch_max + TICK), (2, 2_147_483_600)):
        batch, reason, reply = gw.to_cmd(11, T0, enter(ref, price=price))
        assert batch is None and reason == "gw_in_drop_price_over_feed_max"
        assert reply is not None and reply["type"] == "J" and reply["reason"] == 0x1D
        assert reply["user_ref_num"] == ref and reply["cl_ord_id"].strip() == f"ORD{ref}"
    gw.submit(11, T0, enter(3, price=itch_max))
    gw.flush()
    feed = [codec.decode_itch(x) for p in gw.feed.packets for x in codec.mold_unpack(p)[3]]
    adds = [x for x in feed if x["type"] == "A"]
    assert [(a["order_ref"] > 0, a["price"]) for a in adds] == [(True, itch_max)]
    batch, reason, reply = gw.to_cmd(11, T0, replace(3, 4, price=itch_max + TICK))
    assert batch is None and reason == "gw_in_drop_price_over_feed_max"
    assert reply is not None and reply["reason"] == 0x1D
    last = 0xFFFFFFFF
    batch, reason, reply = gw.to_cmd(12, T0, enter(last))
    assert reason == "ok" and cmd_fields(batch)["client_id"] == last
    assert gw.to_cmd(12, T0, codec.encode_ouch_in("Q"))[2]["next_user_ref_num"] == last
    for again in (enter(last), codec.encode_ouch_in("C", user_ref_num=last, firm="", symbol="")):
        batch, reason, reply = gw.to_cmd(12, T0, again)
        assert batch is None and reason == "gw_in_drop_user_ref_not_increasing"
        assert reply is not None and reply["type"] == "J" and reply["reason"] == 0x0F
        assert reply["user_ref_num"] == last
    counts = gw.counters()
    assert counts["gw_in_drop_price_over_feed_max"] == 3
    assert counts["gw_in_drop_user_ref_not_increasing"] == 2
    assert "gw_itch_drop_unencodable" not in counts


# ---- events -> ITCH / OUCH --------------------------------------------------


def event(type_: str, **fields: int) -> np.ndarray:
    ev = np.zeros(1, dtype=EVENT_DTYPE)
    base = dict(seq=1, ts=T0, instrument=INS, session=11, client_id=5, order_ref=42)
    base.update(fields)
    for k, v in base.items():
        ev[k][0] = v
    ev["type"][0] = EV[type_]
    return ev


def to_itch(gw: Gateway, ev: np.ndarray) -> tuple[str, Any]:
    msg = ffi.new("struct wm_itch_msg *")
    r = lib.wm_gw_event_itch(gw.gw, ffi.cast("struct wm_event *", ffi.from_buffer(ev)), msg)
    if r:
        return counter_name(r), None
    raw = codec._encode(lib.wm_itch_encode, msg, "ITCH")
    return "ok", sitch.dispatch(raw)


def to_ouch(gw: Gateway, ev: np.ndarray) -> tuple[str, Any]:
    msg = ffi.new("struct wm_ouch_out *")
    r = lib.wm_gw_event_ouch(gw.gw, ffi.cast("struct wm_event *", ffi.from_buffer(ev)), msg)
    if r:
        return counter_name(r), None
    raw = codec._encode(lib.wm_ouch_encode_out, msg, "OUCH")
    return "ok", souch.dispatch_out(raw)


def val(pkt: Any, name: str) -> Any:
    v = pkt.getfieldval(name)
    return v.decode().rstrip() if isinstance(v, bytes) else v


def fields(pkt: Any, *names: str) -> tuple[Any, ...]:
    return tuple(val(pkt, n) for n in names)


SIDE_SELL = SELL
MAKER = 4
RESTING = 4
PARTIAL = 8


def test_booked_and_state_to_itch_only() -> None:
    gw, _ = make()
    r, p = to_itch(gw, event("booked", price=10_001, qty=300, flags=SIDE_SELL))
    assert r == "ok" and isinstance(p, sitch.AddOrder)
    assert fields(
        p, "stock_locate", "timestamp", "order_ref", "side", "shares", "stock", "price"
    ) == (
        LOCATE,
        T0,
        42,
        "S",
        300,
        "WMT",
        1_000_100,
    )
    assert to_ouch(gw, event("booked", price=10_001, qty=300))[0] == "gw_ouch_not_for_client"
    for state, letter in ((1, "T"), (2, "H"), (3, "H")):
        r, p = to_itch(gw, event("state", aux=state, qty=1, session=0, client_id=0, order_ref=0))
        assert r == "ok" and isinstance(p, sitch.StockTradingAction)
        assert fields(p, "stock", "trading_state") == ("WMT", letter)
    for t in ("level", "ref_price", "mass_cancelled", "accepted", "rejected", "replaced"):
        assert to_itch(gw, event(t, price=10_000, qty=1))[0] == "gw_itch_not_market_data", t


def test_executions() -> None:
    gw, _ = make()
    maker = event("executed", price=10_000, qty=40, aux=9, flags=BUY | MAKER)
    r, p = to_itch(gw, maker)
    assert isinstance(p, sitch.OrderExecuted)
    assert fields(p, "order_ref", "shares", "match_number") == (42, 40, 9)
    r, p = to_ouch(gw, maker)
    assert isinstance(p, souch.OrderExecuted)
    assert fields(p, "user_ref_num", "quantity", "price", "liquidity_flag", "match_number") == (
        5,
        40,
        1_000_000,
        "A",
        9,
    )
    taker = event("executed", price=10_000, qty=40, aux=9, flags=SELL, session=12, client_id=8)
    assert to_itch(gw, taker)[0] == "gw_itch_not_market_data"
    r, p = to_ouch(gw, taker)
    assert fields(p, "user_ref_num", "liquidity_flag") == (8, "R")


def test_cancels() -> None:
    gw, _ = make()
    full = event("cancelled", price=10_000, qty=300, aux=CANCEL_REASON["user"], flags=RESTING)
    r, p = to_itch(gw, full)
    assert isinstance(p, sitch.OrderDelete) and val(p, "order_ref") == 42
    r, p = to_ouch(gw, full)
    assert isinstance(p, souch.OrderCanceled)
    assert fields(p, "user_ref_num", "quantity", "reason") == (5, 300, "U")
    part = event("cancelled", price=10_000, qty=50, aux=1, flags=RESTING | PARTIAL)
    r, p = to_itch(gw, part)
    assert isinstance(p, sitch.OrderCancel)
    assert fields(p, "order_ref", "shares") == (42, 50)
    ioc = event("cancelled", price=10_000, qty=7, aux=CANCEL_REASON["ioc"])
    assert to_itch(gw, ioc)[0] == "gw_itch_not_market_data"
    assert val(to_ouch(gw, ioc)[1], "reason") == "I"
    for reason, letter in (("stp", "Q"), ("close", "E"), ("mass", "U"), ("fok", "I")):
        ev = event("cancelled", price=10_000, qty=7, aux=CANCEL_REASON[reason])
        assert val(to_ouch(gw, ev)[1], "reason") == letter


def test_replaces() -> None:
    gw, _ = make()
    # Priority lost: CANCELLED(replaced) is an ITCH Delete and nothing for OUCH;
    # REPLACED is an OUCH Order Replaced; the later BOOKED is the Add.
    cxl = event("cancelled", price=10_000, qty=300, aux=CANCEL_REASON["replaced"], flags=4)
    assert isinstance(to_itch(gw, cxl)[1], sitch.OrderDelete)
    assert to_ouch(gw, cxl)[0] == "gw_ouch_not_for_client"
    rep = event("replaced", order_ref=43, client_id=6, aux=5, price=10_001, qty=200, flags=BUY)
    r, p = to_ouch(gw, rep)
    assert isinstance(p, souch.OrderReplaced)
    assert fields(
        p, "orig_user_ref_num", "user_ref_num", "side", "quantity", "symbol", "price", "order_ref"
    ) == (5, 6, "B", 200, "WMT", 1_000_100, 43)
    assert to_itch(gw, rep)[0] == "gw_itch_not_market_data"
    # In-place decrease from a Cancel to a quantity (same id): ITCH Order
    # Cancel, OUCH Order Canceled with the decrement.
    dec = event("cancelled", price=10_000, qty=80, aux=CANCEL_REASON["replaced"], flags=4 | 8)
    assert isinstance(to_itch(gw, dec)[1], sitch.OrderCancel)
    assert to_ouch(gw, dec)[0] == "gw_ouch_not_for_client"
    same = event("replaced", aux=5, price=10_000, qty=220, flags=BUY | 8)
    r, p = to_ouch(gw, same)
    assert isinstance(p, souch.OrderCanceled)
    assert fields(p, "user_ref_num", "quantity", "reason") == (5, 80, "U")
    # Replayed without its CANCELLED: nothing changed, nothing to say.
    assert to_ouch(gw, same)[0] == "gw_ouch_not_for_client"


def test_accepted_and_rejected() -> None:
    gw, _ = make()
    acc = event(
        "accepted", price=10_000, qty=300, aux=IOC | LIMIT << 8 | POST_ONLY << 16, flags=BUY
    )
    r, p = to_ouch(gw, acc)
    assert isinstance(p, souch.OrderAccepted)
    assert fields(
        p, "user_ref_num", "side", "quantity", "symbol", "price", "time_in_force", "order_ref"
    ) == (5, "B", 300, "WMT", 1_000_000, "3", 42)
    assert val(p, "order_state") == "L"
    assert souch.appendage_fields(p.appendage) == {"post_only": "P"}
    assert to_itch(gw, acc)[0] == "gw_itch_not_market_data"
    cases = [
        (CMD_NEW, "halted", "J", 0x07),
        (CMD_NEW, "off_tick", "J", 0x1D),
        (CMD_NEW, "post_only", "J", 0x12),
        (CMD_CANCEL, "unknown_order", "I", None),
        (CMD_REPLACE, "unknown_order", "I", None),
        (CMD_REPLACE, "halted", "J", 0x07),
    ]
    for cmd_type, reason, letter, code in cases:
        ev = event("rejected", order_ref=0, aux=REJECT[reason], flags=cmd_type << 4)
        r, p = to_ouch(gw, ev)
        assert r == "ok" and val(p, "type") == letter and val(p, "user_ref_num") == 5
        if code is not None:
            assert val(p, "reason") == code
    mass = event("rejected", aux=REJECT["unknown_instrument"], flags=CMD_MASS_CANCEL << 4)
    assert to_ouch(gw, mass)[0] == "gw_ouch_not_for_client"


def test_timestamps_and_unknowns_are_counted_drops() -> None:
    gw, _ = make(ts_offset_ns=-T0 + 5)  # event ts T0 -> 5 ns after midnight
    gw2, _ = make(ts_offset_ns=0)
    r, p = to_itch(gw, event("booked", price=10_000, qty=1, flags=BUY))
    assert val(p, "timestamp") == 5
    late = event("booked", ts=86_400 * 10**9, price=10_000, qty=1, flags=BUY)
    assert to_itch(gw2, late)[0] == "gw_itch_drop_bad_timestamp"
    assert to_ouch(gw2, event("executed", ts=86_400 * 10**9, price=1, qty=1, aux=1))[0] == (
        "gw_ouch_drop_bad_timestamp"
    )
    other = event("booked", instrument=5, price=10_000, qty=1, flags=BUY)
    assert to_itch(gw2, other)[0] == "gw_itch_drop_unknown_instrument"
    big = event("booked", price=3_000_000_000, qty=1, flags=BUY)  # above ITCH's price range
    assert to_itch(gw2, big)[0] == "gw_itch_drop_unencodable"
    huge = event("executed", price=10_000, qty=2_000_000, aux=1)  # above OUCH's quantity
    assert to_ouch(gw2, huge)[0] == "gw_ouch_drop_unencodable"
    assert gw2.counters()["gw_itch_drop_bad_timestamp"] == 1


# ---- arbitrary input: counted, never a crash --------------------------------

EVENT_FIELDS = st.fixed_dictionaries(
    {
        "ts": st.integers(0, 2**64 - 1),
        "order_ref": st.integers(0, 2**64 - 1),
        "client_id": st.integers(0, 2**64 - 1),
        "price": st.integers(-(2**63), 2**63 - 1),
        "qty": st.integers(-(2**63), 2**63 - 1),
        "aux": st.integers(0, 2**64 - 1),
        "session": st.sampled_from([0, 11, 12, 99]),
        "instrument": st.sampled_from([0, INS, 4, 0xFFFF]),
        "type": st.integers(0, 255),
        "flags": st.integers(0, 255),
    }
)


@settings(max_examples=400, deadline=None)
@given(EVENT_FIELDS)
def test_any_event_is_published_or_counted(f: dict[str, int]) -> None:
    gw, _ = make()
    ev = np.zeros(1, dtype=EVENT_DTYPE)
    for k, v in f.items():
        ev[k][0] = v
    ptr = ffi.cast("struct wm_event *", ffi.from_buffer(ev))
    before = sum(gw.gw.counts)
    r = lib.wm_gw_publish_itch(gw.gw, ptr, gw.feed.builder)
    assert r >= 0
    r2 = lib.wm_gw_publish_ouch(gw.gw, ptr)
    assert r2 >= 0
    assert sum(gw.gw.counts) == before + 2  # each call counted exactly once
    gw.flush()
    for raw in gw.feed.packets:
        for msg in codec.mold_unpack(raw)[3]:
            codec.decode_itch(msg)  # what it publishes is valid ITCH
    for s in gw.sessions.values():
        for raw in s.packets:
            for msg in codec.mold_unpack(raw)[3]:
                codec.decode_ouch_out(msg)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["O", "U", "X", "M", "Q", "C"]),
    st.integers(1, 2**32 - 1),
    st.integers(0, 1_000_000),
    st.integers(1, 0x7FFFFFFF),
    st.sampled_from([11, 12, 99]),
    st.sampled_from(["0", "3", "5", "6", "E"]),
)
def test_any_order_entry_is_mapped_or_counted(
    t: str, ref: int, qty: int, price: int, session: int, tif: str
) -> None:
    gw, m = make()
    gw.submit(11, T0, enter(1))
    raw = {
        "O": lambda: enter(ref, quantity=max(qty, 1), price=price, time_in_force=tif),
        "U": lambda: replace(1, ref, quantity=max(qty, 1), price=price, time_in_force=tif),
        "X": lambda: codec.encode_ouch_in("X", user_ref_num=ref % 3, quantity=qty),
        "M": lambda: codec.encode_ouch_in("M", user_ref_num=ref, side="S", quantity=qty),
        "Q": lambda: codec.encode_ouch_in("Q"),
        "C": lambda: codec.encode_ouch_in("C", user_ref_num=ref, firm="F", symbol="WMT"),
    }[t]
    try:
        data = raw()
    except ValueError:
        return  # not a valid message (X with user ref 0)
    before = sum(gw.gw.counts)
    batch, reason, reply = gw.to_cmd(session, T0, data)
    assert sum(gw.gw.counts) == before + 1
    if batch is not None:
        m.apply(batch)  # the matcher accepts or rejects it, never an error
    else:
        assert reason != "ok"
        if reply is not None:
            assert reply["type"] in "JIQ"


# ---- the order table: echoes, Modify, System Event --------------------------


def replies(gw: Gateway, session: int) -> list[Any]:
    """The session's OUCH messages since the last call, read back with the
    Scapy layers."""
    stream = gw.sessions[session]
    stream.flush()
    out = [souch.dispatch_out(msg) for raw in stream.packets for msg in codec.mold_unpack(raw)[3]]
    stream.packets.clear()
    return out


def send(gw: Gateway, session: int, raw: bytes, ts: int = T0) -> list[Any]:
    """One OUCH message through the gateway and the matcher; the session's
    replies (the gateway's own answer included)."""
    gw.submit(session, ts, raw)
    return replies(gw, session)


def modify(ref: int, side: str, qty: int) -> bytes:
    return codec.encode_ouch_in("M", user_ref_num=ref, side=side, quantity=qty)


def test_order_accepted_echoes_the_enter_order() -> None:
    gw, _ = make()
    app = dict(firm="WMCH", customer_type="R", route="RT01", handle_inst="I", user_ref_idx=3)
    raw = enter(
        4,
        side="T",
        display="A",
        capacity="P",
        iso="Y",
        cross_type="S",
        time_in_force="0",
        cl_ord_id="CLIENT-4 ID",
        app=dict(app, expire_time=3600, post_only="N", group_id=77),
    )
    (acc,) = send(gw, 11, raw)
    assert isinstance(acc, souch.OrderAccepted)
    assert fields(
        acc,
        "user_ref_num",
        "side",
        "display",
        "capacity",
        "iso",
        "cross_type",
        "time_in_force",
        "cl_ord_id",
    ) == (4, "T", "A", "P", "Y", "S", "0", "CLIENT-4 ID")
    assert souch.appendage_fields(acc.appendage) == dict(
        app, expire_time=3600, post_only="N", group_id=77
    )
    assert gw.live_orders() == 1
    # The order is dead once cancelled: its entry goes.
    (cxl,) = send(gw, 11, codec.encode_ouch_in("X", user_ref_num=4, quantity=0))
    assert isinstance(cxl, souch.OrderCanceled) and gw.live_orders() == 0


def test_replace_echoes_and_rejections_of_the_replacement() -> None:
    gw, m = make()
    send(gw, 11, enter(1, capacity="R", cross_type="N", app={"firm": "WMCH", "post_only": "P"}))
    # Priority lost (new price): Order Replaced echoes the Replace Order and
    # keeps what the order keeps (capacity, firm, post-only).
    (rep,) = send(gw, 11, replace(1, 2, price=999_900, display="A", cl_ord_id="REPL-2"))
    assert isinstance(rep, souch.OrderReplaced)
    assert fields(
        rep, "orig_user_ref_num", "user_ref_num", "cl_ord_id", "display", "capacity", "quantity"
    ) == (1, 2, "REPL-2", "A", "R", 200)
    assert souch.appendage_fields(rep.appendage) == {"firm": "WMCH", "post_only": "P"}
    assert gw.live_orders() == 1
    # Rejected by the matcher (halted): Rejected Order with the replacement's
    # UserRefNum and ClOrdID; the order stays live under its own.
    gw.publish(m.halt(INS))
    (rej,) = send(gw, 11, replace(2, 3, cl_ord_id="REPL-3"))
    assert isinstance(rej, souch.RejectedOrder)
    assert fields(rej, "user_ref_num", "reason", "cl_ord_id") == (3, 0x07, "REPL-3")
    assert gw.live_orders() == 1 and m.order_info(11, 2) is not None
    # A Cancel to a quantity rejected (halted: no replace of any kind) is a
    # Cancel Reject: the order is unchanged.
    (crj,) = send(gw, 11, codec.encode_ouch_in("X", user_ref_num=2, quantity=10))
    assert isinstance(crj, souch.CancelReject) and val(crj, "user_ref_num") == 2
    # A new order rejected by the matcher: its own ClOrdID.
    (rj,) = send(gw, 11, enter(9, cl_ord_id="HALTED-9"))
    assert fields(rj, "type", "user_ref_num", "reason", "cl_ord_id") == ("J", 9, 0x07, "HALTED-9")
    assert gw.live_orders() == 1
    # Replace asking for what the matcher keeps: refused by the gateway.
    for ref, app in ((10, {"min_qty": 5}), (11, {"post_only": "N"})):
        batch, reason, reply = gw.to_cmd(11, T0, replace(2, ref, app=app))
        assert batch is None and reason == "gw_in_drop_replace_not_allowed"
        assert reply is not None and reply["reason"] == 0x15
    gw.publish(m.resume(INS))
    # In place (same price, smaller): same order ref, echo of the Replace.
    before = m.order_info(11, 2)
    assert before is not None
    (rep,) = send(gw, 11, replace(2, 12, quantity=150, price=999_900, cl_ord_id="SMALLER"))
    assert fields(rep, "user_ref_num", "order_ref", "cl_ord_id", "quantity") == (
        12,
        before["order_ref"],
        "SMALLER",
        150,
    )
    gw.publish(m.mass_cancel(11))
    assert gw.live_orders() == 0


def test_modify_order_paths() -> None:
    gw, m = make()
    send(gw, 11, enter(1, side="S", quantity=300))
    # Decrease and S -> T: Order Modified (side and the open quantity), the
    # feed prints the decrease as Order Cancel, priority kept.
    ref_before = m.order_info(11, 1)
    (mod,) = send(gw, 11, modify(1, "T", 120))
    assert isinstance(mod, souch.OrderModified)
    assert fields(mod, "user_ref_num", "side", "quantity") == (1, "T", 120)
    info = m.order_info(11, 1)
    assert info is not None and ref_before is not None
    assert info["qty"] == 120 and info["order_ref"] == ref_before["order_ref"]
    # Side only (quantity at least the open one): Order Modified, same qty.
    (mod,) = send(gw, 11, modify(1, "E", 500))
    assert fields(mod, "side", "quantity") == ("E", 120)
    # A Cancel to a quantity is still Order Canceled with the decrement.
    (cxl,) = send(gw, 11, codec.encode_ouch_in("X", user_ref_num=1, quantity=100))
    assert isinstance(cxl, souch.OrderCanceled) and fields(cxl, "quantity") == (20,)
    # A sell cannot become a buy: Cancel Reject, counted, nothing sent.
    batch, reason, reply = gw.to_cmd(11, T0, modify(1, "B", 50))
    assert batch is None and reason == "gw_in_drop_modify_bad_side"
    assert reply == {"type": "I", "timestamp": T0, "user_ref_num": 1}
    # Unknown order: Cancel Reject from the matcher's unknown_order.
    (crj,) = send(gw, 11, modify(77, "S", 5))
    assert isinstance(crj, souch.CancelReject) and val(crj, "user_ref_num") == 77
    # Refused while halted: Cancel Reject, the order unchanged.
    gw.publish(m.halt(INS))
    (crj,) = send(gw, 11, modify(1, "S", 10))
    assert isinstance(crj, souch.CancelReject)
    info = m.order_info(11, 1)
    assert info is not None and info["qty"] == 100
    gw.publish(m.resume(INS))
    # The side the order now has is the one echoed later: a Replace keeps E.
    (rep,) = send(gw, 11, replace(1, 2, quantity=100, price=1_000_000))
    assert fields(rep, "side") == ("E",)
    # Quantity 0 cancels the order: Order Canceled, the entry goes.
    (cxl,) = send(gw, 11, modify(2, "S", 0))
    assert isinstance(cxl, souch.OrderCanceled) and fields(cxl, "quantity") == (100,)
    assert gw.live_orders() == 0 and m.live_orders == 0


def test_fills_and_fok_remove_entries() -> None:
    gw, m = make()
    send(gw, 11, enter(1, side="S", quantity=100))
    send(gw, 11, enter(2, side="S", quantity=100))
    assert gw.live_orders() == 2
    send(gw, 12, enter(1, side="B", quantity=150))  # fills 1, half of 2
    assert gw.live_orders() == 1  # 11/1 filled; 11/2 lives
    send(gw, 12, enter(2, side="B", quantity=80, time_in_force="3"))  # IOC: 50 fill, 30 cancel
    assert gw.live_orders() == 0 and m.live_orders == 0


def test_order_table_full_refuses_new_orders() -> None:
    m = Matcher(max_instruments=8, max_orders=64)
    m.add_instrument(InstrumentRules(id=INS, ref_price=10_000, max_levels=64))
    gw = Gateway(m, Stream("FEED"), max_orders=2)
    gw.add_instrument("WMT", INS, LOCATE, TICK)
    gw.add_session(11)
    send(gw, 11, enter(1))
    send(gw, 11, enter(2))
    batch, reason, reply = gw.to_cmd(11, T0, enter(3, cl_ord_id="FULL"))
    assert batch is None and reason == "gw_in_drop_order_table_full"
    assert reply is not None and (reply["reason"], reply["cl_ord_id"].strip()) == (0x0A, "FULL")
    send(gw, 11, codec.encode_ouch_in("X", user_ref_num=1, quantity=0))
    (acc,) = send(gw, 11, enter(4, cl_ord_id="AFTER"))
    assert isinstance(acc, souch.OrderAccepted) and val(acc, "cl_ord_id") == "AFTER"


def test_system_event() -> None:
    gw, _ = make()
    gw.system_event(11, "S", T0)
    gw.submit(11, T0 + 1, enter(1))
    gw.system_event(11, "E", T0 + 5)
    seen = replies(gw, 11)
    assert [type(p) for p in seen] == [souch.SystemEvent, souch.OrderAccepted, souch.SystemEvent]
    assert fields(seen[0], "event_code", "timestamp") == ("S", T0)
    assert fields(seen[2], "event_code", "timestamp") == ("E", T0 + 5)
    assert lib.wm_gw_publish_system_event(gw.gw, 11, b"X", T0) < 0  # not an event code
    r = lib.wm_gw_publish_system_event(gw.gw, 99, b"S", T0)
    assert counter_name(r) == "gw_ouch_drop_unknown_session"
    msg = ffi.new("struct wm_ouch_out *")
    r = lib.wm_gw_system_event(gw.gw, b"S", 86_400 * 10**9, msg)
    assert counter_name(r) == "gw_ouch_drop_bad_timestamp"


def test_full_packet_retry_sends_each_reply_once() -> None:
    """A session builder with room for one message: every publish after the
    first is -ENOBUFS, flush, retry; the retry must send the message mapped
    the first time (the order table is not stepped twice)."""
    m = Matcher(max_instruments=8, max_orders=64)
    m.add_instrument(InstrumentRules(id=INS, ref_price=10_000, max_levels=64))
    gw = Gateway(m, Stream("FEED"))
    gw.add_instrument("WMT", INS, LOCATE, TICK)
    gw.add_session(11, Stream("S11", mtu_payload=20 + 2 + 70))
    gw.submit(11, T0, enter(1, side="S", quantity=300, cl_ord_id="ONE"))
    gw.submit(11, T0, codec.encode_ouch_in("X", user_ref_num=1, quantity=200))
    gw.submit(11, T0, modify(1, "T", 150))
    gw.submit(11, T0, replace(1, 2, quantity=150, price=1_000_100, cl_ord_id="TWO"))
    gw.submit(11, T0, codec.encode_ouch_in("X", user_ref_num=2, quantity=0))
    got = [(val(p, "type"), val(p, "user_ref_num")) for p in replies(gw, 11)]
    assert got == [("A", 1), ("C", 1), ("M", 1), ("U", 2), ("C", 2)]
    assert gw.live_orders() == 0


CLORD = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=14)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["O", "O", "U", "X", "M"]),
            st.sampled_from([11, 12]),
            st.sampled_from(["B", "S", "T"]),
            st.integers(0, 400),
            st.integers(9_990, 10_010),
            CLORD,
        ),
        max_size=40,
    )
)
def test_every_reply_echoes_its_cl_ord_id(ops: list[tuple[str, int, str, int, int, str]]) -> None:
    """Random order entry from two sessions through the gateway and the real
    matcher: every Order Accepted / Order Replaced / Rejected Order carries
    the ClOrdID of the message it answers, and once every order is cancelled
    the order table is empty."""
    gw, m = make()
    next_ref = {11: 1, 12: 1}
    live: dict[int, list[int]] = {11: [], 12: []}
    sent: dict[tuple[int, int], str] = {}
    for kind, sess, side, qty, ticks, clord in ops:
        ref = next_ref[sess]
        if kind in "UXM":
            target = live[sess][-1] if live[sess] else 999
        if kind == "O":
            raw = enter(ref, side=side, quantity=max(qty, 1), price=ticks * TICK, cl_ord_id=clord)
            sent[sess, ref] = clord
            next_ref[sess] += 1
            live[sess].append(ref)
        elif kind == "U":
            raw = replace(target, ref, quantity=max(qty, 1), price=ticks * TICK, cl_ord_id=clord)
            sent[sess, ref] = clord
            next_ref[sess] += 1
            live[sess].append(ref)
        elif kind == "X":
            raw = codec.encode_ouch_in("X", user_ref_num=target, quantity=qty)
        else:
            raw = modify(target, side, qty)
        for p in send(gw, sess, raw):
            if isinstance(p, (souch.OrderAccepted, souch.OrderReplaced, souch.RejectedOrder)):
                assert val(p, "cl_ord_id") == sent[sess, val(p, "user_ref_num")].rstrip()
    for sess in (11, 12):
        gw.publish(m.mass_cancel(sess))
    assert m.live_orders == 0 and gw.live_orders() == 0
