"""Nasdaq TotalView-ITCH 5.0 messages as Scapy layers (declarative fields_desc).

Every message: Message Type (1), Stock Locate (2), Tracking Number (2),
Timestamp (6, ns since midnight).  Prices are Price(4), unsigned, 4 decimals.
"""

from __future__ import annotations

from typing import Any

from scapy.fields import BitField, IntField, LongField, ShortField
from scapy.packet import Packet, Raw

from wirematch.pipeline.protocols.common import AlphaField, CharField, Message
from wirematch.pipeline.protocols.mold import mold_class


def _header(type_: str) -> list[Any]:
    return [
        CharField("type", type_),
        ShortField("stock_locate", 0),
        ShortField("tracking_number", 0),
        BitField("timestamp", 0, 48),
    ]


class SystemEvent(Message):
    name = "ITCH System Event"
    fields_desc = [*_header("S"), CharField("event_code", "O")]


class StockDirectory(Message):
    name = "ITCH Stock Directory"
    fields_desc = [
        *_header("R"),
        AlphaField("stock", "", 8),
        CharField("market_category", "Q"),
        CharField("financial_status", "N"),
        IntField("round_lot_size", 100),
        CharField("round_lots_only", "N"),
        CharField("issue_classification", "C"),
        AlphaField("issue_sub_type", "Z", 2),
        CharField("authenticity", "P"),
        CharField("short_sale_threshold", "N"),
        CharField("ipo_flag", " "),
        CharField("luld_ref_price_tier", "1"),
        CharField("etp_flag", "N"),
        IntField("etp_leverage_factor", 0),
        CharField("inverse_indicator", "N"),
    ]


class StockTradingAction(Message):
    name = "ITCH Stock Trading Action"
    fields_desc = [
        *_header("H"),
        AlphaField("stock", "", 8),
        CharField("trading_state", "T"),
        CharField("reserved", " "),
        AlphaField("reason", "", 4),
    ]


class AddOrder(Message):
    name = "ITCH Add Order"
    fields_desc = [
        *_header("A"),
        LongField("order_ref", 0),
        CharField("side", "B"),
        IntField("shares", 0),
        AlphaField("stock", "", 8),
        IntField("price", 0),
    ]


class AddOrderMPID(Message):
    name = "ITCH Add Order with MPID Attribution"
    fields_desc = [
        *_header("F"),
        LongField("order_ref", 0),
        CharField("side", "B"),
        IntField("shares", 0),
        AlphaField("stock", "", 8),
        IntField("price", 0),
        AlphaField("attribution", "", 4),
    ]


class OrderExecuted(Message):
    name = "ITCH Order Executed"
    fields_desc = [
        *_header("E"),
        LongField("order_ref", 0),
        IntField("shares", 0),
        LongField("match_number", 0),
    ]


class OrderExecutedWithPrice(Message):
    name = "ITCH Order Executed With Price"
    fields_desc = [
        *_header("C"),
        LongField("order_ref", 0),
        IntField("shares", 0),
        LongField("match_number", 0),
        CharField("printable", "Y"),
        IntField("price", 0),
    ]


class OrderCancel(Message):
    name = "ITCH Order Cancel"
    fields_desc = [*_header("X"), LongField("order_ref", 0), IntField("shares", 0)]


class OrderDelete(Message):
    name = "ITCH Order Delete"
    fields_desc = [*_header("D"), LongField("order_ref", 0)]


class OrderReplace(Message):
    name = "ITCH Order Replace"
    fields_desc = [
        *_header("U"),
        LongField("orig_order_ref", 0),
        LongField("new_order_ref", 0),
        IntField("shares", 0),
        IntField("price", 0),
    ]


class Trade(Message):
    name = "ITCH Trade (non-cross)"
    fields_desc = [
        *_header("P"),
        LongField("order_ref", 0),
        CharField("side", "B"),
        IntField("shares", 0),
        AlphaField("stock", "", 8),
        IntField("price", 0),
        LongField("match_number", 0),
    ]


MESSAGES: dict[str, type[Message]] = {
    "S": SystemEvent,
    "R": StockDirectory,
    "H": StockTradingAction,
    "A": AddOrder,
    "F": AddOrderMPID,
    "E": OrderExecuted,
    "C": OrderExecutedWithPrice,
    "X": OrderCancel,
    "D": OrderDelete,
    "U": OrderReplace,
    "P": Trade,
}


def dispatch(data: bytes, *args: Any, **kwargs: Any) -> Packet:
    cls = MESSAGES.get(chr(data[0])) if data else None
    return (cls or Raw)(data, *args, **kwargs)


MoldItch = mold_class("MoldItch", dispatch)
