"""tshark (Wireshark's MoldUDP64 dissector, written by nobody here) decodes the
framing of both order-entry directions and of the market-data feed from a
pcap whose payloads the C encoders and packet builder produced."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from tests import needs
from wirematch.pipeline.protocols import codec
from wirematch.pipeline.protocols.layers import ITCH_PORT, OUCH_PORT

TSHARK = shutil.which("tshark") or "tshark"


@pytest.fixture(autouse=True)
def _tshark() -> None:
    needs.program("tshark", "apt: tshark")


CLIENT = ("10.0.0.2", 40001)
APPLIANCE = "10.0.0.1"
GROUP = "239.1.1.1"
TS = 34_200_000_000_000


def inbound_packets() -> list[tuple[str, int, int, bytes]]:
    """Client packets: (session, seq, count, payload), C-encoded messages."""
    enter = [
        codec.encode_ouch_in(
            "O",
            user_ref_num=i,
            side="B" if i % 2 else "S",
            quantity=100 * i,
            symbol="ZVZZT",
            price=1_000_000 + i * 100,
            time_in_force="0",
            display="Y",
            capacity="A",
            iso="N",
            cross_type="N",
            cl_ord_id=f"C{i}",
            app={"min_qty": 100} if i == 3 else {},
        )
        for i in range(1, 6)
    ]
    cancel = codec.encode_ouch_in("X", user_ref_num=2, quantity=0)
    query = codec.encode_ouch_in("Q")
    out = []
    seq = 1
    for msgs in (enter[:2], enter[2:], [cancel, query], []):
        out.append(("CLIENT01  ", seq, len(msgs), codec.mold_pack("CLIENT01", seq, msgs)))
        seq += len(msgs)
    return out


def outbound_packets() -> list[bytes]:
    structs = [codec.ouch_out_struct("S", TS, event_code="S")]
    for i in range(1, 6):
        structs.append(
            codec.ouch_out_struct(
                "A",
                TS + i,
                user_ref_num=i,
                side="B",
                quantity=100,
                symbol="ZVZZT",
                price=1_000_000,
                time_in_force="0",
                display="Y",
                order_ref=1000 + i,
                capacity="A",
                iso="N",
                cross_type="N",
                order_state="L",
                cl_ord_id=f"C{i}",
            )
        )
    structs.append(codec.ouch_out_struct("C", TS + 9, user_ref_num=2, quantity=100, reason="U"))
    structs.append(codec.ouch_out_struct("Q", TS + 10, next_user_ref_num=6))
    # A small MTU so the stream spans several packets.
    return codec.mold_packets("CLIENT01", 1, structs, "ouch", mtu_payload=200)


def itch_packets() -> list[bytes]:
    structs = [codec.itch_struct("S", 0, 0, TS, event_code="O")]
    for i in range(1, 41):
        structs.append(
            codec.itch_struct(
                "A",
                1,
                0,
                TS + i,
                order_ref=i,
                side="B",
                shares=100,
                stock="ZVZZT",
                price=1_000_000 - i,
            )
        )
    structs.append(codec.itch_struct("D", 1, 0, TS + 99, order_ref=1))
    return codec.mold_packets("MDFEED", 1, structs, "itch")


def frames(tmp_path: Path) -> tuple[Path, list[tuple[str, int, int, list[int]]]]:
    """Write the pcap; return it and what each frame carries."""
    pkts, expect = [], []
    for session, seq, count, payload in inbound_packets():
        pkts.append(
            Ether()
            / IP(src=CLIENT[0], dst=APPLIANCE)
            / UDP(sport=CLIENT[1], dport=OUCH_PORT)
            / payload
        )
        _, _, _, msgs = codec.mold_unpack(payload)
        expect.append((session, seq, count, [len(m) for m in msgs]))
    for stream, port, dst in (
        (outbound_packets(), (OUCH_PORT, CLIENT[1]), CLIENT[0]),
        (itch_packets(), (ITCH_PORT + 1, ITCH_PORT), GROUP),
    ):
        for payload in stream:
            pkts.append(
                Ether() / IP(src=APPLIANCE, dst=dst) / UDP(sport=port[0], dport=port[1]) / payload
            )
            session, seq, count, msgs = codec.mold_unpack(payload)
            expect.append((session, seq, count, [len(m) for m in msgs]))
    path = tmp_path / "wirematch-mold.pcap"
    wrpcap(str(path), pkts)
    return path, expect


def tshark(path: Path, *args: str) -> str:
    cmd = [
        str(TSHARK),
        "-r",
        str(path),
        "-d",
        f"udp.port=={OUCH_PORT},moldudp64",
        "-d",
        f"udp.port=={ITCH_PORT},moldudp64",
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_tshark_decodes_mold_framing(tmp_path: Path) -> None:
    path, expect = frames(tmp_path)
    out = tshark(
        path,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "aggregator=,",
        "-e",
        "moldudp64.session",
        "-e",
        "moldudp64.sequence",
        "-e",
        "moldudp64.count",
        "-e",
        "moldudp64.msglen",
        "-e",
        "moldudp64.msgseq",
    )
    rows = [line.split("|") for line in out.splitlines()]
    assert len(rows) == len(expect)
    for row, (session, seq, count, lens) in zip(rows, expect, strict=True):
        assert row[0].strip() == session.strip()
        assert int(row[1]) == seq
        assert int(row[2]) == count
        got_lens = [int(x) for x in row[3].split(",") if x]
        assert got_lens == lens
        got_seqs = [int(x) for x in row[4].split(",") if x]
        assert got_seqs == list(range(seq, seq + count))
    # Three streams, each numbered consecutively across its packets.
    assert sum(c for _, _, c, _ in expect) == 7 + 8 + 42


def test_tshark_reports_no_expert_problems(tmp_path: Path) -> None:
    path, _ = frames(tmp_path)
    out = tshark(path, "-q", "-z", "expert")
    for line in out.splitlines():
        low = line.lower()
        assert not low.startswith("errors"), out
        assert not low.startswith("warns"), out
    # Sanity: tshark does flag a packet whose count disagrees with its blocks.
    bad = tmp_path / "bad.pcap"
    payload = codec.mold_pack("CLIENT01", 1, [codec.encode_ouch_in("Q")])
    broken = payload[:18] + b"\x00\x03" + payload[20:]
    wrpcap(str(bad), [Ether() / IP(src=CLIENT[0], dst=APPLIANCE) / UDP(dport=OUCH_PORT) / broken])
    flagged = tshark(bad, "-q", "-z", "expert")
    assert "Errors (1)" in flagged and "Invalid Message Count" in flagged, flagged


def test_tshark_decodes_a_retransmission_request_and_answer(tmp_path: Path) -> None:
    """A client asks the feed's history for messages 3..5 (a MoldUDP64
    request: the header alone); the C history answers from what it recorded."""
    from wirematch.pipeline.native import ffi, lib

    hist = ffi.new("struct wm_mold_history **")
    assert lib.wm_mold_history_create(64, 1 << 17, 1, hist) == 0
    try:
        for payload in itch_packets():
            assert lib.wm_mold_history_record_packet(hist[0], payload, len(payload)) >= 0
        request = codec.mold_pack("MDFEED", 3, [])[:18] + (3).to_bytes(2, "big")
        out = ffi.new("uint8_t[]", 1472)
        stats = codec.new_stats()
        n = lib.wm_mold_history_answer(hist[0], b"MDFEED", request, 20, out, 1472, stats)
        assert n > 20
        answer = bytes(ffi.buffer(out, n))
        assert codec.stats_dict(stats) == {"mold_requests_answered": 1}
        assert n_refused(hist[0], b"OTHER", request) == -lib_errno("EACCES")
    finally:
        lib.wm_mold_history_destroy(hist[0])
    session, seq, count, msgs = codec.mold_unpack(answer)
    assert (seq, count) == (3, 3)
    assert [codec.decode_itch(m)["order_ref"] for m in msgs] == [2, 3, 4]
    path = tmp_path / "retransmit.pcap"
    wrpcap(
        str(path),
        [
            Ether()
            / IP(src=CLIENT[0], dst=APPLIANCE)
            / UDP(sport=CLIENT[1], dport=ITCH_PORT)
            / request,
            Ether()
            / IP(src=APPLIANCE, dst=CLIENT[0])
            / UDP(sport=ITCH_PORT, dport=CLIENT[1])
            / answer,
        ],
    )
    out_fields = tshark(
        path,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "moldudp64.sequence",
        "-e",
        "moldudp64.count",
        "-e",
        "moldudp64.msgseq",
    )
    rows = [line.split("|") for line in out_fields.splitlines()]
    assert rows[0][:2] == ["3", "3"] and rows[0][2] == ""  # a request: no blocks
    assert rows[1][:2] == ["3", "3"] and rows[1][2] == "3,4,5"
    assert "Errors" not in tshark(path, "-q", "-z", "expert")


def n_refused(hist: object, session: bytes, request: bytes) -> int:
    from wirematch.pipeline.native import ffi, lib

    out = ffi.new("uint8_t[]", 1472)
    return int(lib.wm_mold_history_answer(hist, session, request, 20, out, 1472, ffi.NULL))


def lib_errno(name: str) -> int:
    import errno

    return int(getattr(errno, name))
