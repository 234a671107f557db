"""Field types shared by the OUCH and ITCH layers."""

from __future__ import annotations

from typing import Any

from scapy.fields import StrFixedLenField
from scapy.packet import Packet


class AlphaField(StrFixedLenField):
    """Nasdaq alpha: ASCII, left-justified, padded on the right with spaces."""

    __slots__ = ["width"]

    def __init__(self, name: str, default: str | bytes, length: int) -> None:
        self.width = length
        super().__init__(name, self._pad(default, length), length)

    @staticmethod
    def _pad(value: str | bytes, length: int) -> bytes:
        raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
        if len(raw) > length:
            raise ValueError(f"{raw!r} longer than {length}")
        return raw.ljust(length, b" ")

    def any2i(self, pkt: Packet | None, x: Any) -> Any:
        if isinstance(x, (str, bytes)):
            return self._pad(x, self.width)
        return super().any2i(pkt, x)

    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        return repr(x.decode("latin-1") if isinstance(x, bytes) else x)


class CharField(AlphaField):
    """One alpha character (an enumerated code)."""

    def __init__(self, name: str, default: str | bytes) -> None:
        super().__init__(name, default, 1)


class Message(Packet):
    """A message inside a MoldUDP64 block: nothing follows it."""

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s
