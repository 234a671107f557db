"""Frames for the kernel-bypass backends' tests (AF_XDP, DPDK): their
descriptors are whole Ethernet frames, so the tests parse them, and build
replies by swapping the addresses."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from tests.nic_helpers import checksum


@dataclass(frozen=True)
class Udp:
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def parse_udp(frame: bytes) -> Udp | None:
    """The UDP datagram in an Ethernet/IPv4 frame (VLAN tags skipped), or None."""
    off, etype = 14, struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0
    while etype in (0x8100, 0x88A8) and len(frame) >= off + 4:
        etype = struct.unpack_from("!H", frame, off + 2)[0]
        off += 4
    if etype != 0x0800 or len(frame) < off + 28:
        return None
    ihl = (frame[off] & 0x0F) * 4
    if frame[off + 9] != 17 or len(frame) < off + ihl + 8:
        return None
    src = socket.inet_ntoa(frame[off + 12 : off + 16])
    dst = socket.inet_ntoa(frame[off + 16 : off + 20])
    sport, dport, ulen = struct.unpack_from("!HHH", frame, off + ihl)
    payload = frame[off + ihl + 8 : off + ihl + ulen]
    return Udp((src, sport), (dst, dport), payload)


def reply_frame(frame: bytes, payload: bytes) -> bytes:
    """A reply to an Ethernet/IPv4/UDP frame: MACs, addresses and ports swapped,
    the new payload, IPv4 checksum computed, UDP checksum 0 (legal for IPv4)."""
    ihl = (frame[14] & 0x0F) * 4
    ip = bytearray(frame[14 : 14 + ihl])
    ip[12:16], ip[16:20] = frame[30:34], frame[26:30]
    struct.pack_into("!H", ip, 2, ihl + 8 + len(payload))
    struct.pack_into("!H", ip, 10, 0)
    struct.pack_into("!H", ip, 10, checksum(bytes(ip)))
    sport, dport = struct.unpack_from("!HH", frame, 14 + ihl)
    udp = struct.pack("!HHHH", dport, sport, 8 + len(payload), 0)
    return frame[6:12] + frame[0:6] + frame[12:14] + bytes(ip) + udp + payload
