"""MoldUDP64 (Nasdaq) as Scapy layers.

A downstream packet: Session (10 ASCII), Sequence Number (8, of the first
message), Message Count (2; 0 heartbeat, 0xFFFF end of session), then Count
message blocks of Length (2) + message.  The message inside a block depends
on the flow, so there is one packet class per payload protocol
(MoldOuchIn, MoldOuchOut, MoldItch), each bound to its UDP port by
protocols.bind_ports().  `count` is computed from the blocks when left None.
"""

from __future__ import annotations

from typing import Any

from scapy.fields import (
    FieldLenField,
    LongField,
    PacketLenField,
    PacketListField,
    ShortField,
    StrFixedLenField,
)
from scapy.packet import Packet

END_OF_SESSION = 0xFFFF


def _block_count(pkt: Any) -> int:
    return 0 if pkt.count in (None, END_OF_SESSION) else int(pkt.count)


class MoldBlock(Packet):
    """Length (2) + one message; subclasses say which protocol the message is."""

    name = "MoldUDP64 message block"
    dispatch: Any = None  # callable(bytes) -> Packet

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


def _block_class(name: str, dispatcher: Any) -> type[MoldBlock]:
    fields = [
        FieldLenField("length", None, length_of="msg", fmt="!H"),
        PacketLenField("msg", None, dispatcher, length_from=lambda p: p.length),
    ]
    return type(name, (MoldBlock,), {"name": f"MoldUDP64 block ({name})", "fields_desc": fields})


class MoldUDP64(Packet):
    """Header only: heartbeats, end of session, or blocks left as a raw payload."""

    name = "MoldUDP64"
    fields_desc = [
        StrFixedLenField("session", b" " * 10, 10),
        LongField("seq", 1),
        ShortField("count", 0),
    ]


def mold_class(name: str, dispatcher: Any) -> type[MoldUDP64]:
    """A MoldUDP64 packet class whose blocks hold messages decoded by dispatcher."""
    block = _block_class(f"{name}Block", dispatcher)
    fields = [
        StrFixedLenField("session", b" " * 10, 10),
        LongField("seq", 1),
        FieldLenField("count", None, count_of="messages", fmt="!H"),
        PacketListField("messages", [], block, count_from=_block_count),
    ]
    cls = type(name, (MoldUDP64,), {"name": f"MoldUDP64 ({name})", "fields_desc": fields})
    cls.block = block  # type: ignore[attr-defined]
    return cls


def session_field(session: str) -> bytes:
    """A session name as it travels: ASCII, space-padded to 10 bytes."""
    raw = session.encode("ascii")
    if len(raw) > 10:
        raise ValueError(f"session {session!r} longer than 10 characters")
    return raw.ljust(10, b" ")


def mold_packet(cls: type[MoldUDP64], session: str, seq: int, msgs: list[Packet]) -> MoldUDP64:
    """A packet of class cls (from mold_class) carrying msgs, numbered from seq."""
    block = cls.block  # type: ignore[attr-defined]
    return cls(session=session_field(session), seq=seq, messages=[block(msg=m) for m in msgs])
