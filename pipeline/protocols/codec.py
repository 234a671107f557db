"""Python access to the C wire codecs (OUCH 5.0, ITCH 5.0, MoldUDP64).

For tools and tests: build a message from keyword fields, encode it with the
C encoder, decode bytes with the C decoder into a plain dict, frame messages
into MoldUDP64 packets with the C packet builder.  Field names are the C
struct members (see native/include/wirematch/{ouch,itch}.h); alpha fields
take str and are space-padded to their width; one-character fields take a
one-character str; an OUCH appendage is a dict keyed by APPENDAGE_TAGS names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wirematch.pipeline.native import ffi, lib

# Union member of each message type.
OUCH_IN_MEMBERS = {
    "O": "enter",
    "U": "replace",
    "X": "cancel",
    "M": "modify",
    "Q": None,
    "C": "mass_cancel",
}
OUCH_OUT_MEMBERS = {
    "S": "system_event",
    "A": "accepted",
    "U": "replaced",
    "C": "canceled",
    "E": "executed",
    "J": "rejected",
    "I": "cancel_reject",
    "M": "modified",
    "T": "priority_update",
    "Q": "account",
}
ITCH_MEMBERS = {
    "S": "system_event",
    "R": "directory",
    "H": "trading_action",
    "A": "add",
    "F": "add",
    "E": "executed",
    "C": "executed",
    "X": "cancel",
    "D": "del",
    "U": "replace",
    "P": "trade",
}
# Fields of a shared member that a type does not carry on the wire.
ITCH_ONLY = {("A", "attribution"), ("E", "printable"), ("E", "price")}

# OUCH 5.0 appendage: name -> (tag, struct member).
APPENDAGE_TAGS: dict[str, tuple[int, str]] = {
    "secondary_ord_ref": (lib.WM_OUCH_TAG_SECONDARY_ORD_REF, "secondary_ord_ref"),
    "firm": (lib.WM_OUCH_TAG_FIRM, "firm"),
    "min_qty": (lib.WM_OUCH_TAG_MIN_QTY, "min_qty"),
    "customer_type": (lib.WM_OUCH_TAG_CUSTOMER_TYPE, "customer_type"),
    "max_floor": (lib.WM_OUCH_TAG_MAX_FLOOR, "max_floor"),
    "price_type": (lib.WM_OUCH_TAG_PRICE_TYPE, "price_type"),
    "peg_offset": (lib.WM_OUCH_TAG_PEG_OFFSET, "peg_offset"),
    "discretion_price": (lib.WM_OUCH_TAG_DISCRETION_PRICE, "discretion_price"),
    "discretion_price_type": (lib.WM_OUCH_TAG_DISCRETION_PRICE_TYPE, "discretion_price_type"),
    "discretion_peg_offset": (lib.WM_OUCH_TAG_DISCRETION_PEG_OFFSET, "discretion_peg_offset"),
    "post_only": (lib.WM_OUCH_TAG_POST_ONLY, "post_only"),
    "random_reserves": (lib.WM_OUCH_TAG_RANDOM_RESERVES, "random_reserves"),
    "route": (lib.WM_OUCH_TAG_ROUTE, "route"),
    "expire_time": (lib.WM_OUCH_TAG_EXPIRE_TIME, "expire_time"),
    "trade_now": (lib.WM_OUCH_TAG_TRADE_NOW, "trade_now"),
    "handle_inst": (lib.WM_OUCH_TAG_HANDLE_INST, "handle_inst"),
    "bbo_weight": (lib.WM_OUCH_TAG_BBO_WEIGHT, "bbo_weight"),
    "display_qty": (lib.WM_OUCH_TAG_DISPLAY_QTY, "display_qty"),
    "display_price": (lib.WM_OUCH_TAG_DISPLAY_PRICE, "display_price"),
    "group_id": (lib.WM_OUCH_TAG_GROUP_ID, "group_id"),
    "shares_located": (lib.WM_OUCH_TAG_SHARES_LOCATED, "shares_located"),
    "side": (lib.WM_OUCH_TAG_SIDE, "side"),
    "user_ref_idx": (lib.WM_OUCH_TAG_USER_REF_IDX, "user_ref_idx"),
}
_TAG_NAMES = {tag: name for name, (tag, _) in APPENDAGE_TAGS.items()}


class CodecError(ValueError):
    """A message the C codec refused, with the reason's counter name."""

    def __init__(self, reason: int, what: str) -> None:
        self.reason = reason
        self.reason_name = counter_name(reason)
        super().__init__(f"{what}: {self.reason_name} ({reason})")


def counter_name(idx: int) -> str:
    name = lib.wm_codec_counter_name(idx)
    return ffi.string(name).decode() if name != ffi.NULL else f"unknown-{idx}"


def counter_names() -> list[str]:
    return [counter_name(i) for i in range(lib.wm_codec_counter_count())]


def new_stats() -> Any:
    return ffi.new("struct wm_codec_stats *")


def stats_dict(stats: Any) -> dict[str, int]:
    """Non-zero counters of a stats block, by name."""
    return {
        counter_name(i): int(stats.counts[i])
        for i in range(lib.wm_codec_counter_count())
        if stats.counts[i]
    }


def _set_field(obj: Any, name: str, value: Any) -> None:
    ctype = ffi.typeof(obj).fields
    ftype = dict(ctype)[name].type
    if ftype.kind == "array":
        raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
        if len(raw) > ftype.length:
            raise ValueError(f"{name}: {value!r} longer than {ftype.length}")
        raw = raw.ljust(ftype.length, b" ")
        ffi.memmove(getattr(obj, name), raw, ftype.length)
    elif ftype.cname == "char":
        raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
        if len(raw) != 1:
            raise ValueError(f"{name}: one character expected, got {value!r}")
        setattr(obj, name, raw)
    else:
        setattr(obj, name, int(value))


def _get_fields(obj: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in ffi.typeof(obj).fields:
        if name in skip:
            continue
        value = getattr(obj, name)
        if name == "app":
            out[name] = _get_appendage(value)
        elif field.type.kind == "array":
            out[name] = ffi.unpack(value, field.type.length).decode("latin-1")
        elif field.type.cname == "char":
            out[name] = value.decode("latin-1")
        else:
            out[name] = int(value)
    return out


def _set_appendage(app: Any, fields: Mapping[str, Any]) -> None:
    present = 0
    for name, value in fields.items():
        tag, member = APPENDAGE_TAGS[name]
        _set_field(app, member, value)
        present |= 1 << tag
    app.present = present


def _get_appendage(app: Any) -> dict[str, Any]:
    types = dict(ffi.typeof(app).fields)
    out: dict[str, Any] = {}
    for tag in range(1, lib.WM_OUCH_TAG_MAX + 1):
        if not app.present & (1 << tag):
            continue
        name = _TAG_NAMES[tag]
        member = APPENDAGE_TAGS[name][1]
        ftype = types[member].type
        value = getattr(app, member)
        if ftype.kind == "array":
            out[name] = ffi.unpack(value, ftype.length).decode("latin-1")
        elif ftype.cname == "char":
            out[name] = value.decode("latin-1")
        else:
            out[name] = int(value)
    return out


def _fill(msg: Any, member: str | None, fields: Mapping[str, Any]) -> None:
    if member is None:
        if fields:
            raise ValueError(f"message has no fields, got {sorted(fields)}")
        return
    body = getattr(msg.u, member)
    for name, value in fields.items():
        if name == "app":
            _set_appendage(body.app, value)
        else:
            _set_field(body, name, value)


def _encode(fn: Any, msg: Any, what: str) -> bytes:
    buf = ffi.new("uint8_t[]", 1024)
    n = fn(buf, 1024, msg)
    if n < 0:
        raise ValueError(f"{what}: the C encoder refused it (errno {-n})")
    return bytes(ffi.buffer(buf, n))


def ouch_in_struct(type_: str, **fields: Any) -> Any:
    msg = ffi.new("struct wm_ouch_in *")
    msg.type = type_.encode()
    _fill(msg, OUCH_IN_MEMBERS[type_], fields)
    return msg


def ouch_out_struct(type_: str, timestamp: int = 0, **fields: Any) -> Any:
    msg = ffi.new("struct wm_ouch_out *")
    msg.type = type_.encode()
    msg.timestamp = timestamp
    _fill(msg, OUCH_OUT_MEMBERS[type_], fields)
    return msg


def itch_struct(
    type_: str, stock_locate: int = 0, tracking_number: int = 0, timestamp: int = 0, **fields: Any
) -> Any:
    msg = ffi.new("struct wm_itch_msg *")
    msg.type = type_.encode()
    msg.stock_locate = stock_locate
    msg.tracking_number = tracking_number
    msg.timestamp = timestamp
    _fill(msg, ITCH_MEMBERS[type_], fields)
    return msg


def encode_ouch_in(type_: str, **fields: Any) -> bytes:
    return _encode(lib.wm_ouch_encode_in, ouch_in_struct(type_, **fields), f"OUCH in {type_}")


def encode_ouch_out(type_: str, timestamp: int = 0, **fields: Any) -> bytes:
    msg = ouch_out_struct(type_, timestamp, **fields)
    return _encode(lib.wm_ouch_encode_out, msg, f"OUCH out {type_}")


def encode_itch(type_: str, **fields: Any) -> bytes:
    return _encode(lib.wm_itch_encode, itch_struct(type_, **fields), f"ITCH {type_}")


def decode_ouch_in(data: bytes, stats: Any = None) -> dict[str, Any]:
    msg = ffi.new("struct wm_ouch_in *")
    r = lib.wm_ouch_decode_in(data, len(data), msg, stats if stats is not None else ffi.NULL)
    if r:
        raise CodecError(r, "OUCH in")
    type_ = msg.type.decode()
    member = OUCH_IN_MEMBERS[type_]
    body = _get_fields(getattr(msg.u, member)) if member else {}
    return {"type": type_, **body}


def decode_ouch_out(data: bytes, stats: Any = None) -> dict[str, Any]:
    msg = ffi.new("struct wm_ouch_out *")
    r = lib.wm_ouch_decode_out(data, len(data), msg, stats if stats is not None else ffi.NULL)
    if r:
        raise CodecError(r, "OUCH out")
    type_ = msg.type.decode()
    body = _get_fields(getattr(msg.u, OUCH_OUT_MEMBERS[type_]))
    return {"type": type_, "timestamp": int(msg.timestamp), **body}


def decode_itch(data: bytes, stats: Any = None) -> dict[str, Any]:
    msg = ffi.new("struct wm_itch_msg *")
    r = lib.wm_itch_decode(data, len(data), msg, stats if stats is not None else ffi.NULL)
    if r:
        raise CodecError(r, "ITCH")
    type_ = msg.type.decode()
    skip = [f for t, f in ITCH_ONLY if t == type_]
    body = _get_fields(getattr(msg.u, ITCH_MEMBERS[type_]), skip)
    return {
        "type": type_,
        "stock_locate": int(msg.stock_locate),
        "tracking_number": int(msg.tracking_number),
        "timestamp": int(msg.timestamp),
        **body,
    }


def mold_packets(
    session: str,
    first_seq: int,
    structs: Iterable[Any],
    kind: str,
    mtu_payload: int = lib.WM_MOLD_MTU_PAYLOAD,
) -> list[bytes]:
    """Frame message structs (from ouch_out_struct or itch_struct, per kind
    "ouch" or "itch") into MoldUDP64 packets with the C packet builder."""
    add = {"ouch": lib.wm_mold_builder_add_ouch, "itch": lib.wm_mold_builder_add_itch}[kind]
    buf = ffi.new("uint8_t[]", mtu_payload)
    b = ffi.new("struct wm_mold_builder *")
    rc = lib.wm_mold_builder_init(b, session.encode(), first_seq, buf, mtu_payload)
    if rc:
        raise ValueError(f"wm_mold_builder_init: errno {-rc}")
    packets: list[bytes] = []
    for msg in structs:
        rc = add(b, msg)
        if rc == -lib_errno("ENOBUFS"):
            packets.append(bytes(ffi.buffer(buf, lib.wm_mold_builder_flush(b))))
            rc = add(b, msg)
        if rc:
            raise ValueError(f"wm_mold_builder_add_{kind}: errno {-rc}")
    n = lib.wm_mold_builder_flush(b)
    if n:
        packets.append(bytes(ffi.buffer(buf, n)))
    return packets


def mold_pack(session: str, seq: int, messages: Iterable[bytes]) -> bytes:
    """One MoldUDP64 packet around already-encoded messages (any count)."""
    msgs = list(messages)
    head = ffi.new("uint8_t[]", lib.WM_MOLD_HEADER_LEN)
    lib.wm_mold_write_header(head, lib.WM_MOLD_HEADER_LEN, session.encode(), seq, len(msgs))
    body = b"".join(len(m).to_bytes(2, "big") + m for m in msgs)
    return bytes(ffi.buffer(head, lib.WM_MOLD_HEADER_LEN)) + body


def mold_unpack(data: bytes, stats: Any = None) -> tuple[str, int, int, list[bytes]]:
    """(session, sequence, count, messages) of a packet, by the C decoder."""
    pkt = ffi.new("struct wm_mold_packet *")
    r = lib.wm_mold_decode(data, len(data), pkt, stats if stats is not None else ffi.NULL)
    if r:
        raise CodecError(r, "MoldUDP64")
    session = bytes(ffi.buffer(pkt.session, lib.WM_MOLD_SESSION_LEN)).decode("ascii")
    blen = ffi.new("uint16_t *")
    msgs: list[bytes] = []
    while True:
        p = lib.wm_mold_next_block(pkt, blen)
        if p == ffi.NULL:
            break
        msgs.append(bytes(ffi.buffer(p, blen[0])))
    return session, int(pkt.seq), int(pkt.count), msgs


def lib_errno(name: str) -> int:
    import errno

    return int(getattr(errno, name))
