"""Nasdaq OUCH 5.0 messages as Scapy layers (declarative fields_desc).

Inbound (client to appliance): EnterOrder 'O', ReplaceOrder 'U', CancelOrder
'X', ModifyOrder 'M', AccountQuery 'Q', MassCancelRequest 'C'.  Outbound:
SystemEvent 'S', OrderAccepted 'A', OrderReplaced 'U', OrderCanceled 'C',
OrderExecuted 'E', RejectedOrder 'J', CancelReject 'I', OrderModified 'M',
OrderPriorityUpdate 'T', AccountQueryResponse 'Q'.  Integers big-endian,
Price(8) signed with 4 decimals, timestamps 8-byte ns since midnight.
Optional appendages are lists of TagValue; `appendage(**fields)` builds one
from names (the same names as pipeline.codec.APPENDAGE_TAGS).
"""

from __future__ import annotations

import struct
from typing import Any

from scapy.fields import (
    ByteEnumField,
    FieldLenField,
    IntField,
    LongField,
    PacketListField,
    ShortField,
    SignedLongField,
    StrLenField,
)
from scapy.packet import Packet, Raw

from wirematch.pipeline.protocols.common import AlphaField, CharField, Message
from wirematch.pipeline.protocols.mold import mold_class

# name -> (tag, struct format of the value)
TAGS: dict[str, tuple[int, str]] = {
    "secondary_ord_ref": (1, ">Q"),
    "firm": (2, "4s"),
    "min_qty": (3, ">I"),
    "customer_type": (4, "1s"),
    "max_floor": (5, ">I"),
    "price_type": (6, "1s"),
    "peg_offset": (7, ">i"),
    "discretion_price": (9, ">q"),
    "discretion_price_type": (10, "1s"),
    "discretion_peg_offset": (11, ">i"),
    "post_only": (12, "1s"),
    "random_reserves": (13, ">I"),
    "route": (14, "4s"),
    "expire_time": (15, ">I"),
    "trade_now": (16, "1s"),
    "handle_inst": (17, "1s"),
    "bbo_weight": (18, "1s"),
    "display_qty": (22, ">I"),
    "display_price": (23, ">q"),
    "group_id": (24, ">H"),
    "shares_located": (25, "1s"),
    "side": (27, "1s"),
    "user_ref_idx": (28, ">B"),
}
TAG_NAMES = {tag: name for name, (tag, _) in TAGS.items()}


class TagValue(Packet):
    """One optional field: Length (1, counts tag and value), Tag (1), Value."""

    name = "OUCH TagValue"
    fields_desc = [
        FieldLenField("length", None, length_of="value", fmt="B", adjust=lambda p, x: x + 1),
        ByteEnumField("tag", 0, TAG_NAMES),
        StrLenField("value", b"", length_from=lambda p: max(p.length - 1, 0)),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


def appendage(**fields: Any) -> list[TagValue]:
    """TagValues for the named fields, in ascending tag order."""
    out = []
    for name in sorted(fields, key=lambda n: TAGS[n][0]):
        tag, fmt = TAGS[name]
        value = fields[name]
        if fmt.endswith("s"):
            width = int(fmt[:-1])
            value = (value.encode("ascii") if isinstance(value, str) else value).ljust(width, b" ")
        out.append(TagValue(tag=tag, value=struct.pack(fmt, value)))
    return out


def appendage_fields(tvs: list[TagValue]) -> dict[str, Any]:
    """The inverse of appendage(): {name: value}."""
    out: dict[str, Any] = {}
    for tv in tvs:
        name = TAG_NAMES[tv.tag]
        (value,) = struct.unpack(TAGS[name][1], tv.value)
        out[name] = value.decode("latin-1") if isinstance(value, bytes) else value
    return out


def _appendage_fields() -> list[Any]:
    return [
        FieldLenField("appendage_length", None, length_of="appendage", fmt="!H"),
        PacketListField("appendage", [], TagValue, length_from=lambda p: p.appendage_length),
    ]


def _price(name: str) -> SignedLongField:
    return SignedLongField(name, 0)


# ---- inbound ----


class EnterOrder(Message):
    name = "OUCH Enter Order"
    fields_desc = [
        CharField("type", "O"),
        IntField("user_ref_num", 0),
        CharField("side", "B"),
        IntField("quantity", 0),
        AlphaField("symbol", "", 8),
        _price("price"),
        CharField("time_in_force", "0"),
        CharField("display", "Y"),
        CharField("capacity", "A"),
        CharField("iso", "N"),
        CharField("cross_type", "N"),
        AlphaField("cl_ord_id", "", 14),
        *_appendage_fields(),
    ]


class ReplaceOrder(Message):
    name = "OUCH Replace Order"
    fields_desc = [
        CharField("type", "U"),
        IntField("orig_user_ref_num", 0),
        IntField("user_ref_num", 0),
        IntField("quantity", 0),
        _price("price"),
        CharField("time_in_force", "0"),
        CharField("display", "Y"),
        CharField("iso", "N"),
        AlphaField("cl_ord_id", "", 14),
        *_appendage_fields(),
    ]


class CancelOrder(Message):
    name = "OUCH Cancel Order"
    fields_desc = [CharField("type", "X"), IntField("user_ref_num", 0), IntField("quantity", 0)]


class ModifyOrder(Message):
    name = "OUCH Modify Order"
    fields_desc = [
        CharField("type", "M"),
        IntField("user_ref_num", 0),
        CharField("side", "B"),
        IntField("quantity", 0),
    ]


class AccountQuery(Message):
    name = "OUCH Account Query"
    fields_desc = [CharField("type", "Q")]


class MassCancelRequest(Message):
    name = "OUCH Mass Cancel Request"
    fields_desc = [
        CharField("type", "C"),
        IntField("user_ref_num", 0),
        AlphaField("firm", "", 4),
        AlphaField("symbol", "", 8),
        *_appendage_fields(),
    ]


# ---- outbound ----


def _order_tail() -> list[Any]:
    return [
        CharField("side", "B"),
        IntField("quantity", 0),
        AlphaField("symbol", "", 8),
        _price("price"),
        CharField("time_in_force", "0"),
        CharField("display", "Y"),
        LongField("order_ref", 0),
        CharField("capacity", "A"),
        CharField("iso", "N"),
        CharField("cross_type", "N"),
        CharField("order_state", "L"),
        AlphaField("cl_ord_id", "", 14),
        *_appendage_fields(),
    ]


class SystemEvent(Message):
    name = "OUCH System Event"
    fields_desc = [CharField("type", "S"), LongField("timestamp", 0), CharField("event_code", "S")]


class OrderAccepted(Message):
    name = "OUCH Order Accepted"
    fields_desc = [
        CharField("type", "A"),
        LongField("timestamp", 0),
        IntField("user_ref_num", 0),
        *_order_tail(),
    ]


class OrderReplaced(Message):
    name = "OUCH Order Replaced"
    fields_desc = [
        CharField("type", "U"),
        LongField("timestamp", 0),
        IntField("orig_user_ref_num", 0),
        IntField("user_ref_num", 0),
        *_order_tail(),
    ]


class OrderCanceled(Message):
    name = "OUCH Order Canceled"
    fields_desc = [
        CharField("type", "C"),
        LongField("timestamp", 0),
        IntField("user_ref_num", 0),
        IntField("quantity", 0),
        CharField("reason", "U"),
    ]


class OrderExecuted(Message):
    name = "OUCH Order Executed"
    fields_desc = [
        CharField("type", "E"),
        LongField("timestamp", 0),
        IntField("user_ref_num", 0),
        IntField("quantity", 0),
        _price("price"),
        CharField("liquidity_flag", "A"),
        LongField("match_number", 0),
        *_appendage_fields(),
    ]


class RejectedOrder(Message):
    name = "OUCH Rejected Order"
    fields_desc = [
        CharField("type", "J"),
        LongField("timestamp", 0),
        IntField("user_ref_num", 0),
        ShortField("reason", 0),
        AlphaField("cl_ord_id", "", 14),
    ]


class CancelReject(Message):
    name = "OUCH Cancel Reject"
    fields_desc = [CharField("type", "I"), LongField("timestamp", 0), IntField("user_ref_num", 0)]


class OrderModified(Message):
    name = "OUCH Order Modified"
    fields_desc = [
        CharField("type", "M"),
        LongField("timestamp", 0),
        IntField("user_ref_num", 0),
        CharField("side", "B"),
        IntField("quantity", 0),
    ]


class OrderPriorityUpdate(Message):
    name = "OUCH Order Priority Update"
    fields_desc = [
        CharField("type", "T"),
        LongField("timestamp", 0),
        IntField("user_ref_num", 0),
        _price("price"),
        CharField("display", "Y"),
        LongField("order_ref", 0),
    ]


class AccountQueryResponse(Message):
    name = "OUCH Account Query Response"
    fields_desc = [
        CharField("type", "Q"),
        LongField("timestamp", 0),
        IntField("next_user_ref_num", 0),
    ]


INBOUND: dict[str, type[Message]] = {
    "O": EnterOrder,
    "U": ReplaceOrder,
    "X": CancelOrder,
    "M": ModifyOrder,
    "Q": AccountQuery,
    "C": MassCancelRequest,
}
OUTBOUND: dict[str, type[Message]] = {
    "S": SystemEvent,
    "A": OrderAccepted,
    "U": OrderReplaced,
    "C": OrderCanceled,
    "E": OrderExecuted,
    "J": RejectedOrder,
    "I": CancelReject,
    "M": OrderModified,
    "T": OrderPriorityUpdate,
    "Q": AccountQueryResponse,
}


def _dispatch(table: dict[str, type[Message]]) -> Any:
    def dispatch(data: bytes, *args: Any, **kwargs: Any) -> Packet:
        cls = table.get(chr(data[0])) if data else None
        return (cls or Raw)(data, *args, **kwargs)

    return dispatch


dispatch_in = _dispatch(INBOUND)
dispatch_out = _dispatch(OUTBOUND)

MoldOuchIn = mold_class("MoldOuchIn", dispatch_in)
MoldOuchOut = mold_class("MoldOuchOut", dispatch_out)
