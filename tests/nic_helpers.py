"""Helpers for the NIC and load-generator tests: run the load generator in a
test host, parse what it sends (MoldUDP64 + OUCH 5.0 Enter Order, layout as
documented in tools/loadgen/payload.h), write small captures, build raw
frames."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import time
from pathlib import Path

from wirematch.pipeline.native import build_dir

ENTER_ORDER = struct.Struct(">cIcI8sQccccc14sH")  # 47 bytes
assert ENTER_ORDER.size == 47


def loadgen_path() -> Path:
    path = build_dir() / "tools" / "loadgen"
    assert path.exists(), f"{path} not built: run `make build`"
    return path


def run_loadgen(host, *args: str, timeout: float = 30) -> tuple[dict, str]:  # noqa: ANN001
    proc = host.run([str(loadgen_path()), "--json", *args], timeout=timeout)
    assert proc.returncode == 0, f"loadgen failed ({proc.returncode}): {proc.stderr}{proc.stdout}"
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary, proc.stdout


def parse_mold(payload: bytes) -> tuple[str, int, list[tuple]]:
    """(session, first sequence, Enter Order tuples); asserts the framing."""
    session = payload[:10].decode()
    seq, count = struct.unpack_from(">QH", payload, 10)
    off, msgs = 20, []
    for _ in range(count):
        (length,) = struct.unpack_from(">H", payload, off)
        assert length == ENTER_ORDER.size
        msgs.append(ENTER_ORDER.unpack_from(payload, off + 2))
        off += 2 + length
    assert off == len(payload), "trailing bytes after the message blocks"
    return session, seq, msgs


def check_enter_order(m: tuple) -> None:
    typ, ref, side, qty, symbol, price, tif, display, cap, iso, cross, clordid, app = m
    assert typ == b"O"
    assert side in (b"B", b"S") and 0 < qty < 1_000_000
    assert symbol.rstrip(b" ").isalpha() and price > 0
    assert tif == b"0" and display in b"YNA" and cap in b"APRO" and iso in b"YN"
    assert cross == b"N" and app == 0
    assert clordid[:1] == b"S" and clordid[4:5] == b"O" and int(clordid[5:]) == ref % 10**9


def receive_n(q, n: int, deadline_s: float = 10.0) -> list:  # noqa: ANN001
    got: list = []
    end = time.monotonic() + deadline_s
    while len(got) < n and time.monotonic() < end:
        got.extend(q.recv(256, timeout=0.05))
    return got


def write_pcap(path: Path, frames: list[bytes], ns: bool = False) -> None:
    magic = 0xA1B23C4D if ns else 0xA1B2C3D4
    with path.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, 1))
        for k, f in enumerate(frames):
            fh.write(struct.pack("<IIII", 1000 + k // 1000, (k % 1000) * 1000, len(f), len(f)))
            fh.write(f)


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def ipv4_frame(
    dst_mac: str,
    src_mac: str,
    src: str,
    dst: str,
    proto: int,
    l4: bytes,
    total_len: int | None = None,
) -> bytes:
    tot = total_len if total_len is not None else 20 + len(l4)
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        tot,
        1,
        0x4000,
        64,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + b"\x08\x00" + hdr + l4


def udp_frame(
    dst_mac: str,
    src_mac: str,
    src: tuple[str, int],
    dst: tuple[str, int],
    payload: bytes,
    **kw: int,
) -> bytes:
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    return ipv4_frame(dst_mac, src_mac, src[0], dst[0], 17, udp, **kw)


def run_cmd(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
