"""Classic pcap files (read and write) and the Ethernet/IPv4/UDP layer of
their frames, without Scapy on the read path (captures can be large).

Written files are nanosecond pcap (magic 0xa1b23c4d), link type Ethernet;
the reader takes micro- and nanosecond files of either byte order.  Every
timestamp in this package is integer nanoseconds since the Unix epoch.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535

ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100
IPPROTO_UDP = 17


class PcapError(ValueError):
    """A file that is not a pcap this reader understands (the message says why)."""


@dataclass(frozen=True)
class Record:
    ts_ns: int
    data: bytes
    orig_len: int


def write_pcap(path: str | Path, records: Iterable[tuple[int, bytes]]) -> int:
    """Write (ts_ns, frame) records to a nanosecond pcap; returns the count."""
    n = 0
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", MAGIC_NS, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        for ts, frame in records:
            sec, nsec = divmod(int(ts), 1_000_000_000)
            fh.write(struct.pack("<IIII", sec, nsec, len(frame), len(frame)))
            fh.write(frame)
            n += 1
    return n


def iter_pcap(path: str | Path) -> Iterator[Record]:
    with open(path, "rb") as fh:
        head = fh.read(24)
        if len(head) < 24:
            raise PcapError(f"{path}: shorter than a pcap header")
        for endian in ("<", ">"):
            (magic,) = struct.unpack(endian + "I", head[:4])
            if magic in (MAGIC_US, MAGIC_NS):
                break
        else:
            raise PcapError(
                f"{path}: not a classic pcap (magic {head[:4].hex()}); pcapng is not read here"
            )
        scale = 1 if magic == MAGIC_NS else 1000
        (linktype,) = struct.unpack(endian + "I", head[20:24])
        if linktype & 0xFFFF != LINKTYPE_ETHERNET:
            raise PcapError(f"{path}: link type {linktype}, only Ethernet (1) is read")
        rec = struct.Struct(endian + "IIII")
        while True:
            h = fh.read(16)
            if not h:
                return
            if len(h) < 16:
                raise PcapError(f"{path}: truncated record header")
            sec, frac, incl, orig = rec.unpack(h)
            data = fh.read(incl)
            if len(data) < incl:
                raise PcapError(f"{path}: truncated record")
            yield Record(sec * 1_000_000_000 + frac * scale, data, orig)


def read_pcap(path: str | Path) -> list[Record]:
    return list(iter_pcap(path))


@dataclass(frozen=True)
class Udp:
    """The addressing and payload of one Ethernet/IPv4/UDP frame."""

    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes
    vlan: int = 0

    @property
    def flow(self) -> str:
        """The client flow as the appliance sees it: "addr:port"."""
        return f"{self.src}:{self.sport}"


def parse_udp(frame: bytes) -> Udp | str:
    """The UDP datagram in a frame, or a reason string when there is none
    (not IPv4, not UDP, a fragment, truncated headers or lengths)."""
    if len(frame) < 14:
        return "short_ethernet"
    off, vlan = 12, 0
    (etype,) = struct.unpack_from("!H", frame, off)
    if etype == ETH_P_8021Q:
        if len(frame) < 18:
            return "short_ethernet"
        (tci, etype) = struct.unpack_from("!HH", frame, 14)
        vlan, off = tci & 0xFFF, 16
    off += 2
    if etype != ETH_P_IP:
        return "not_ipv4"
    if len(frame) < off + 20:
        return "short_ip"
    vihl, _, total, _, frag, _, proto = struct.unpack_from("!BBHHHBB", frame, off)
    ihl = (vihl & 15) * 4
    if vihl >> 4 != 4 or ihl < 20 or len(frame) < off + ihl:
        return "bad_ip_header"
    if proto != IPPROTO_UDP:
        return "not_udp"
    if frag & 0x3FFF:
        return "ip_fragment"
    if total < ihl + 8 or len(frame) < off + total:
        return "bad_ip_length"
    src = str(ipaddress.IPv4Address(frame[off + 12 : off + 16]))
    dst = str(ipaddress.IPv4Address(frame[off + 16 : off + 20]))
    u = off + ihl
    sport, dport, ulen = struct.unpack_from("!HHH", frame, u)
    if ulen < 8 or ulen > total - ihl:
        return "bad_udp_length"
    return Udp(src, dst, sport, dport, bytes(frame[u + 8 : u + ulen]), vlan)


def _ip_checksum(header: bytes) -> int:
    s = sum(struct.unpack("!10H", header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def udp_frame(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    payload: bytes,
    src_mac: str = "02:00:00:00:00:02",
    dst_mac: str = "02:00:00:00:00:01",
    ip_id: int = 0,
) -> bytes:
    """An Ethernet/IPv4/UDP frame (UDP checksum 0, legal for IPv4)."""
    total = 20 + 8 + len(payload)
    ip = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            total,
            ip_id & 0xFFFF,
            0x4000,
            64,
            IPPROTO_UDP,
            0,
            ipaddress.IPv4Address(src).packed,
            ipaddress.IPv4Address(dst).packed,
        )
    )
    struct.pack_into("!H", ip, 10, _ip_checksum(bytes(ip)))
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    eth = mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ETH_P_IP)
    return eth + bytes(ip) + udp + payload
