"""Capture what crosses an interface to a pcap: an AF_PACKET socket, kernel
receive timestamps (SO_TIMESTAMPNS, CLOCK_REALTIME, the same clock the
replayer stamps its --sent-pcap with), bounded in time and in packets.

Both directions are kept (the client side of a veth sees its own orders
leave and the appliance's replies arrive); `Captured.outgoing` counts the
first.  Kernel drops (PACKET_STATISTICS) are reported, never hidden.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from wirematch.replay.pcapio import write_pcap

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_OUTGOING = 4


@dataclass
class Captured:
    records: list[tuple[int, bytes]] = field(default_factory=list)
    outgoing: int = 0
    kernel_packets: int = 0
    kernel_drops: int = 0
    truncated: bool = False  # stopped at max_packets

    def write(self, path: str | Path) -> int:
        return write_pcap(path, self.records)

    def summary(self) -> dict[str, int | bool]:
        return {
            "packets": len(self.records),
            "outgoing": self.outgoing,
            "incoming": len(self.records) - self.outgoing,
            "kernel_packets": self.kernel_packets,
            "kernel_drops": self.kernel_drops,
            "truncated": self.truncated,
        }


class Capturer:
    """start() opens the socket (inside netns if given) and reads on a thread
    until stop(), `seconds` or `max_packets`."""

    def __init__(
        self,
        iface: str,
        seconds: float = 10.0,
        max_packets: int = 1_000_000,
        netns: str | None = None,
        rcvbuf: int = 64 << 20,
    ) -> None:
        self.iface, self.seconds, self.max_packets = iface, seconds, max_packets
        self.netns, self.rcvbuf = netns, rcvbuf
        self.result = Captured()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def _open(self) -> socket.socket:
        # Protocol 0 until bound: a socket opened with ETH_P_ALL would queue
        # every interface's packets until bind() narrows it to one.
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.rcvbuf)
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        s.bind((self.iface, ETH_P_ALL))
        s.setblocking(False)
        return s

    def start(self) -> Capturer:
        if self.netns:
            from wirematch.nic.testhost import in_netns

            with in_netns(self.netns):
                self._sock = self._open()
        else:
            self._sock = self._open()
        self._thread = threading.Thread(target=self._run, name="replay-capture", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._sock is not None
        s, res = self._sock, self.result
        end = time.monotonic() + self.seconds
        anc = socket.CMSG_SPACE(16)
        while not self._stop.is_set() and time.monotonic() < end:
            r, _, _ = select.select([s], [], [], 0.02)
            if not r:
                continue
            while len(res.records) < self.max_packets:
                try:
                    data, cmsgs, _, addr = s.recvmsg(65536, anc)
                except BlockingIOError:
                    break
                ts = time.time_ns()
                for level, kind, cdata in cmsgs:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                        sec, nsec = struct.unpack("qq", cdata[:16])
                        ts = sec * 1_000_000_000 + nsec
                res.records.append((ts, data))
                if addr[2] == PACKET_OUTGOING:
                    res.outgoing += 1
            if len(res.records) >= self.max_packets:
                res.truncated = True
                break

    def stop(self) -> Captured:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.seconds + 5)
        if self._sock is not None:
            raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            self.result.kernel_packets, self.result.kernel_drops = struct.unpack("II", raw)
            self._sock.close()
            self._sock = None
        self.result.records.sort(key=lambda r: r[0])
        return self.result

    def __enter__(self) -> Capturer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def capture(
    iface: str, seconds: float, max_packets: int = 1_000_000, netns: str | None = None
) -> Captured:
    """Capture for `seconds` (or until max_packets), then return."""
    c = Capturer(iface, seconds, max_packets, netns).start()
    time.sleep(seconds)
    return c.stop()
