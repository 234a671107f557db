"""The C encoders and the Scapy layers write byte-identical messages.

Every OUCH 5.0 message (both directions) and every ITCH 5.0 message the
appliance uses is built once from the same field values by the C encoder
(through pipeline.codec) and by the Scapy layer; the bytes must match, each
side must decode the other's bytes back to the same values, and MoldUDP64
packets from the C builder must equal Scapy's framing of the same messages.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirematch.pipeline.protocols import codec, itch, ouch
from wirematch.pipeline.protocols.layers import MoldItch, MoldOuchIn, MoldOuchOut, mold_packet

TS = 34_200_123_456_789  # 09:30:00.123456789

OUCH_IN: dict[str, dict[str, Any]] = {
    "O": dict(
        user_ref_num=1,
        side="B",
        quantity=300,
        symbol="MSFT",
        price=3_105_000,
        time_in_force="0",
        display="Y",
        capacity="A",
        iso="N",
        cross_type="N",
        cl_ord_id="ORD-1",
        app=dict(min_qty=100, max_floor=200, post_only="P", price_type="L", firm="WMCH"),
    ),
    "U": dict(
        orig_user_ref_num=1,
        user_ref_num=2,
        quantity=200,
        price=3_100_000,
        time_in_force="3",
        display="N",
        iso="N",
        cl_ord_id="ORD-2",
        app=dict(min_qty=50, side="S", user_ref_idx=3),
    ),
    "X": dict(user_ref_num=2, quantity=0),
    "M": dict(user_ref_num=2, side="S", quantity=150),
    "Q": dict(),
    "C": dict(user_ref_num=3, firm="WMCH", symbol="", app=dict(side="B", group_id=7)),
}

OUCH_OUT: dict[str, dict[str, Any]] = {
    "S": dict(event_code="S"),
    "A": dict(
        user_ref_num=1,
        side="B",
        quantity=300,
        symbol="MSFT",
        price=3_105_000,
        time_in_force="0",
        display="Y",
        order_ref=1001,
        capacity="A",
        iso="N",
        cross_type="N",
        order_state="L",
        cl_ord_id="ORD-1",
        app=dict(min_qty=100, post_only="P", secondary_ord_ref=77, bbo_weight="1"),
    ),
    "U": dict(
        orig_user_ref_num=1,
        user_ref_num=2,
        side="B",
        quantity=200,
        symbol="MSFT",
        price=3_100_000,
        time_in_force="0",
        display="Y",
        order_ref=1002,
        capacity="A",
        iso="N",
        cross_type="N",
        order_state="L",
        cl_ord_id="ORD-2",
        app=dict(),
    ),
    "C": dict(user_ref_num=2, quantity=200, reason="U"),
    "E": dict(user_ref_num=2, quantity=100, price=3_100_000, liquidity_flag="A", match_number=5),
    "J": dict(user_ref_num=9, reason=codec.lib.WM_OUCH_REJECT_INVALID_PRICE, cl_ord_id="BAD"),
    "I": dict(user_ref_num=10),
    "M": dict(user_ref_num=2, side="B", quantity=50),
    "T": dict(user_ref_num=2, price=3_100_000, display="Y", order_ref=1002),
    "Q": dict(next_user_ref_num=11),
}

ITCH: dict[str, dict[str, Any]] = {
    "S": dict(event_code="Q"),
    "R": dict(
        stock="ZVZZT",
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
    "H": dict(stock="ZVZZT", trading_state="T", reserved=" ", reason=""),
    "A": dict(order_ref=1, side="B", shares=100, stock="ZVZZT", price=1_000_000),
    "F": dict(
        order_ref=2, side="S", shares=100, stock="ZVZZT", price=1_010_000, attribution="WMCH"
    ),
    "E": dict(order_ref=1, shares=40, match_number=1),
    "C": dict(order_ref=1, shares=10, match_number=2, printable="Y", price=1_000_100),
    "X": dict(order_ref=2, shares=50),
    "D": dict(order_ref=2),
    "U": dict(orig_order_ref=1, new_order_ref=3, shares=60, price=999_900),
    "P": dict(order_ref=0, side="B", shares=25, stock="ZVZZT", price=1_000_000, match_number=3),
}


def scapy_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if k != "app"}
    if "app" in fields:
        out["appendage"] = ouch.appendage(**fields["app"])
    return out


def scapy_values(pkt: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """The packet's values for the given field names, as pipeline.codec spells them."""
    out: dict[str, Any] = {}
    for name in fields:
        if name == "app":
            out[name] = ouch.appendage_fields(pkt.appendage)
            continue
        value = pkt.getfieldval(name)
        out[name] = value.decode("latin-1") if isinstance(value, bytes) else value
    return out


def padded(fields: dict[str, Any], decoded: dict[str, Any]) -> dict[str, Any]:
    """fields with alpha values padded the way the decoder returns them."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        got = decoded[name]
        if isinstance(value, str) and isinstance(got, str):
            value = value.ljust(len(got))
        if isinstance(value, dict):
            value = padded(value, got)
        out[name] = value
    return out


@pytest.mark.parametrize("type_", sorted(OUCH_IN))
def test_ouch_inbound_identical(type_: str) -> None:
    fields = OUCH_IN[type_]
    c_bytes = codec.encode_ouch_in(type_, **fields)
    s_pkt = ouch.INBOUND[type_](**scapy_fields(fields))
    assert bytes(s_pkt) == c_bytes
    assert c_bytes[:1] == type_.encode()
    decoded = codec.decode_ouch_in(bytes(s_pkt))
    assert {k: v for k, v in decoded.items() if k != "type"} == padded(fields, decoded)
    dissected = ouch.dispatch_in(c_bytes)
    assert type(dissected) is ouch.INBOUND[type_]
    assert padded(scapy_values(dissected, fields), decoded) == padded(fields, decoded)


@pytest.mark.parametrize("type_", sorted(OUCH_OUT))
def test_ouch_outbound_identical(type_: str) -> None:
    fields = OUCH_OUT[type_]
    c_bytes = codec.encode_ouch_out(type_, timestamp=TS, **fields)
    s_pkt = ouch.OUTBOUND[type_](timestamp=TS, **scapy_fields(fields))
    assert bytes(s_pkt) == c_bytes
    decoded = codec.decode_ouch_out(bytes(s_pkt))
    assert decoded["timestamp"] == TS
    body = {k: v for k, v in decoded.items() if k not in ("type", "timestamp")}
    assert body == padded(fields, decoded)
    assert type(ouch.dispatch_out(c_bytes)) is ouch.OUTBOUND[type_]


@pytest.mark.parametrize("type_", sorted(ITCH))
def test_itch_identical(type_: str) -> None:
    fields = ITCH[type_]
    c_bytes = codec.encode_itch(type_, stock_locate=7, tracking_number=1, timestamp=TS, **fields)
    s_pkt = itch.MESSAGES[type_](stock_locate=7, tracking_number=1, timestamp=TS, **fields)
    assert bytes(s_pkt) == c_bytes
    assert len(c_bytes) == codec.lib.wm_itch_message_len(type_.encode())
    decoded = codec.decode_itch(bytes(s_pkt))
    assert decoded["timestamp"] == TS and decoded["stock_locate"] == 7
    body = {k: v for k, v in decoded.items() if k in fields}
    assert body == padded(fields, decoded)
    assert type(itch.dispatch(c_bytes)) is itch.MESSAGES[type_]


def test_every_type_covered() -> None:
    assert set(OUCH_IN) == set(ouch.INBOUND) == set(codec.OUCH_IN_MEMBERS)
    assert set(OUCH_OUT) == set(ouch.OUTBOUND) == set(codec.OUCH_OUT_MEMBERS)
    assert set(ITCH) == set(itch.MESSAGES) == set(codec.ITCH_MEMBERS)


def test_mold_framing_identical() -> None:
    """The C packet builder and Scapy frame the same messages the same way,
    splitting at the MTU with consecutive sequence numbers."""
    structs = []
    scapy_msgs = []
    for i in range(100):
        fields = dict(ITCH["A"], order_ref=i + 1)
        structs.append(codec.itch_struct("A", stock_locate=1, timestamp=TS + i, **fields))
        scapy_msgs.append(itch.AddOrder(stock_locate=1, timestamp=TS + i, **fields))
    packets = codec.mold_packets("MDFEED", 41, structs, "itch")
    assert len(packets) == 3 and all(len(p) <= 1472 for p in packets)
    seq, at = 41, 0
    for raw in packets:
        pkt = MoldItch(raw)
        n = pkt.count
        expect = mold_packet(MoldItch, "MDFEED", seq, scapy_msgs[at : at + n])
        assert bytes(expect) == raw
        assert pkt.seq == seq and len(pkt.messages) == n
        seq, at = seq + n, at + n
    assert at == 100

    out_structs = [codec.ouch_out_struct(t, TS, **f) for t, f in OUCH_OUT.items()]
    (raw,) = codec.mold_packets("CLIENT1", 1, out_structs, "ouch")
    scapy_out = [ouch.OUTBOUND[t](timestamp=TS, **scapy_fields(f)) for t, f in OUCH_OUT.items()]
    assert bytes(mold_packet(MoldOuchOut, "CLIENT1", 1, scapy_out)) == raw
    inbound = mold_packet(MoldOuchIn, "CLIENT1", 1, [ouch.CancelOrder(user_ref_num=1)])
    session, seq, count, msgs = codec.mold_unpack(bytes(inbound))
    assert (session, seq, count) == ("CLIENT1   ", 1, 1)
    assert codec.decode_ouch_in(msgs[0]) == {"type": "X", "user_ref_num": 1, "quantity": 0}


def test_scapy_crafted_bad_input_is_dropped_with_reason() -> None:
    stats = codec.new_stats()
    good = ouch.EnterOrder(**scapy_fields(OUCH_IN["O"]))
    cases = {
        "ouch_drop_bad_side": good.copy(),
        "ouch_drop_bad_time_in_force": good.copy(),
        "ouch_drop_bad_symbol": good.copy(),
        "ouch_drop_bad_price": good.copy(),
        "ouch_drop_appendage_unknown_tag": good.copy(),
    }
    cases["ouch_drop_bad_side"].side = "Z"
    cases["ouch_drop_bad_time_in_force"].time_in_force = "9"
    cases["ouch_drop_bad_symbol"].symbol = "AB\xe9".encode("latin-1")
    cases["ouch_drop_bad_price"].price = -1
    cases["ouch_drop_appendage_unknown_tag"].appendage = [ouch.TagValue(tag=99, value=b"x")]
    for reason, pkt in cases.items():
        with pytest.raises(codec.CodecError) as err:
            codec.decode_ouch_in(bytes(pkt), stats)
        assert err.value.reason_name == reason
    with pytest.raises(codec.CodecError) as err:
        codec.decode_ouch_in(bytes(good)[:-1], stats)
    assert err.value.reason_name == "ouch_drop_length_mismatch"
    counts = codec.stats_dict(stats)
    assert all(counts[r] == 1 for r in cases) and counts["ouch_drop_length_mismatch"] == 1
    bad_count = bytes(mold_packet(MoldOuchIn, "S", 1, [good]))
    with pytest.raises(codec.CodecError) as err:
        codec.mold_unpack(bad_count[:18] + b"\x00\x02" + bad_count[20:])
    assert err.value.reason_name == "mold_drop_truncated_length"


alpha = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    user_ref_num=st.integers(1, 2**32 - 1),
    side=st.sampled_from("BSTE"),
    quantity=st.integers(1, 1_000_000),
    symbol=alpha,
    price=st.integers(1, 0x7FFFFFFF),
    tif=st.sampled_from("0356E"),
    display=st.sampled_from("YNA"),
    min_qty=st.none() | st.integers(1, 1),
    peg=st.none() | st.integers(-(2**31), 2**31 - 1),
    cl_ord_id=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=14),
)
def test_enter_order_identical_property(
    user_ref_num, side, quantity, symbol, price, tif, display, min_qty, peg, cl_ord_id
) -> None:
    app: dict[str, Any] = {}
    if min_qty is not None:
        app["min_qty"] = min_qty
    if peg is not None:
        app["peg_offset"] = peg
    fields = dict(
        user_ref_num=user_ref_num,
        side=side,
        quantity=quantity,
        symbol=symbol,
        price=price,
        time_in_force=tif,
        display=display,
        capacity="P",
        iso="N",
        cross_type="N",
        cl_ord_id=cl_ord_id,
        app=app,
    )
    c_bytes = codec.encode_ouch_in("O", **fields)
    assert bytes(ouch.EnterOrder(**scapy_fields(fields))) == c_bytes
    assert codec.decode_ouch_in(c_bytes)["price"] == price


@settings(max_examples=200, deadline=None)
@given(
    locate=st.integers(0, 65535),
    ts=st.integers(0, 86_400 * 10**9 - 1),
    ref=st.integers(1, 2**64 - 1),
    side=st.sampled_from("BS"),
    shares=st.integers(1, 2**32 - 1),
    stock=alpha,
    price=st.integers(1, 2_000_000_000),
)
def test_add_order_identical_property(locate, ts, ref, side, shares, stock, price) -> None:
    fields = dict(order_ref=ref, side=side, shares=shares, stock=stock, price=price)
    c_bytes = codec.encode_itch("A", stock_locate=locate, timestamp=ts, **fields)
    s_bytes = bytes(itch.AddOrder(stock_locate=locate, timestamp=ts, **fields))
    assert s_bytes == c_bytes
    assert codec.decode_itch(c_bytes)["timestamp"] == ts
