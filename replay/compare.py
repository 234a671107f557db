"""Golden comparison: captured output against the model or a golden file.

An output capture is cut into streams: `feed` (MoldUDP64 to the
market-data destination) and `reply <addr:port>` (MoldUDP64 from the
appliance's order-entry port to one client flow).  Each stream's messages
are put in MoldUDP64 sequence order (a retransmitted message seen twice
must be identical; missing numbers are reported as a gap) and normalized:

* ignored, because they legitimately differ between runs: the OUCH
  timestamp (bytes 1..8 of every outbound message), the ITCH timestamp
  (bytes 5..10), the MoldUDP64 session names and the packetization
  (how many messages share a packet; only message order counts);
* everything else is compared byte for byte: types, UserRefNums, order
  reference and match numbers, prices, quantities, reasons, ClOrdIDs.

The event-stream hash is SHA-256 over the normalized streams in a fixed
order (feed first, then reply streams by flow).  A golden file (JSON) holds
the normalized streams, their hashes and what produced them, so a later
release's capture can be checked against it with the same first-divergence
report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wirematch.pipeline.protocols import codec
from wirematch.replay.model import Expected
from wirematch.replay.pcapio import Record, parse_udp
from wirematch.replay.setup import Setup

IGNORED = [
    "OUCH outbound Timestamp (bytes 1-8 of each message)",
    "ITCH Timestamp (bytes 5-10 of each message)",
    "MoldUDP64 session names and how messages are packed into packets",
]
GOLDEN_VERSION = 1
CONTEXT = 3


def normalize(stream: str, msg: bytes) -> bytes:
    if stream == "feed":
        return msg[:5] + bytes(6) + msg[11:] if len(msg) >= 11 else msg
    return msg[:1] + bytes(8) + msg[9:] if len(msg) >= 9 else msg


def decode(stream: str, msg: bytes) -> dict[str, Any] | str:
    try:
        return codec.decode_itch(msg) if stream == "feed" else codec.decode_ouch_out(msg)
    except codec.CodecError as exc:
        return f"undecodable ({exc.reason_name}): {msg.hex()}"


@dataclass
class Streams:
    """Normalized output messages by stream, with where each came from."""

    messages: dict[str, list[bytes]] = field(default_factory=dict)
    times: dict[str, list[int]] = field(default_factory=dict)  # capture ts of each message
    problems: list[str] = field(default_factory=list)  # gaps, conflicting retransmissions
    sessions: dict[str, str] = field(default_factory=dict)  # stream -> MoldUDP64 session
    other_packets: int = 0

    def hash(self) -> str:
        return stream_hash(self.messages)


def stream_key(flow: str) -> str:
    return f"reply {flow}"


def stream_hash(messages: dict[str, list[bytes]]) -> str:
    h = hashlib.sha256()
    for name in sorted(messages, key=lambda n: (n != "feed", n)):
        h.update(f"{name}\n{len(messages[name])}\n".encode())
        for m in messages[name]:
            h.update(len(m).to_bytes(2, "big") + m)
    return h.hexdigest()


def from_expected(exp: Expected) -> Streams:
    s = Streams()
    s.messages["feed"] = [normalize("feed", m) for m in exp.feed]
    for flow, msgs in sorted(exp.replies.items()):
        s.messages[stream_key(flow)] = [normalize("reply", m) for m in msgs]
    return s


def from_capture(records: Iterable[Record | tuple[int, bytes]], setup: Setup) -> Streams:
    """The appliance's output streams in a capture (other packets counted, not used)."""
    app_addr, app_port = setup.appliance
    feed = setup.feed
    by_seq: dict[str, dict[int, tuple[bytes, int]]] = {}
    out = Streams()
    for rec in records:
        ts, frame = (rec.ts_ns, rec.data) if isinstance(rec, Record) else rec
        u = parse_udp(frame)
        if isinstance(u, str):
            out.other_packets += 1
            continue
        if (u.dst, u.dport) == feed:
            name = "feed"
        elif u.sport == app_port and (app_addr == "0.0.0.0" or u.src == app_addr):
            name = stream_key(f"{u.dst}:{u.dport}")
        else:
            out.other_packets += 1
            continue
        try:
            session, seq, count, msgs = codec.mold_unpack(u.payload)
        except codec.CodecError as exc:
            out.problems.append(f"{name}: undecodable MoldUDP64 packet ({exc.reason_name})")
            continue
        out.sessions.setdefault(name, session.rstrip())
        if count == 0xFFFF:
            continue
        seen = by_seq.setdefault(name, {})
        for k, m in enumerate(msgs):
            nm = normalize(name, m)
            old = seen.get(seq + k)
            if old is not None and old[0] != nm:
                out.problems.append(f"{name}: message {seq + k} sent twice with different bytes")
            if old is None:
                seen[seq + k] = (nm, ts)
    for name, seen in by_seq.items():
        if not seen:
            continue
        nums = sorted(seen)
        if nums[0] != 1:
            out.problems.append(f"{name}: first sequence number {nums[0]}, not 1")
        missing = nums[-1] - nums[0] + 1 - len(nums)
        if missing:
            out.problems.append(f"{name}: {missing} sequence numbers missing")
        out.messages[name] = [seen[n][0] for n in nums]
        out.times[name] = [seen[n][1] for n in nums]
    out.messages.setdefault("feed", [])
    return out


def _ctx(stream: str, msgs: list[bytes], i: int) -> list[Any]:
    return [decode(stream, m) for m in msgs[max(0, i - CONTEXT) : i + 1]]


def compare(
    expected: Streams,
    actual: Streams,
    causes: dict[str, list[Any]] | None = None,
    inputs: list[Any] | None = None,
) -> dict[str, Any]:
    """{"identical": bool, "hash": actual hash, "divergences": [per stream,
    first divergence with context], "problems": [...], "ignored": [...]}.
    causes/inputs (from the model) add the input message behind the
    expected one."""
    divs: list[dict[str, Any]] = []
    names = sorted(set(expected.messages) | set(actual.messages), key=lambda n: (n != "feed", n))
    for name in names:
        exp = expected.messages.get(name, [])
        act = actual.messages.get(name, [])
        i = next((k for k, (a, b) in enumerate(zip(exp, act, strict=False)) if a != b), None)
        if i is None and len(exp) == len(act):
            continue
        if i is None:
            i = min(len(exp), len(act))
        d: dict[str, Any] = {
            "stream": name,
            "index": i,
            "expected_count": len(exp),
            "actual_count": len(act),
            "expected": decode(name, exp[i]) if i < len(exp) else "(end of stream)",
            "actual": decode(name, act[i]) if i < len(act) else "(end of stream)",
            "expected_context": _ctx(name, exp, i),
            "actual_context": _ctx(name, act, i),
        }
        if causes is not None and i < len(causes.get(name, [])):
            cause = causes[name][i]
            d["cause"] = {"input_record": cause.record, "message": cause.message}
            if inputs is not None and 0 <= cause.record < len(inputs):
                d["cause"]["input"] = inputs[cause.record]
        divs.append(d)
    divs.sort(key=lambda d: d.get("cause", {}).get("input_record", 1 << 62))
    identical = not divs and not actual.problems
    return {
        "identical": identical,
        "hash": actual.hash(),
        "expected_hash": expected.hash(),
        "streams": {n: len(actual.messages.get(n, [])) for n in names},
        "divergences": divs,
        "problems": actual.problems,
        "ignored": IGNORED,
    }


def causes_of(exp: Expected) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"feed": exp.feed_causes}
    for flow, c in exp.reply_causes.items():
        out[stream_key(flow)] = c
    return out


def input_messages(records: list[Record | tuple[int, bytes]]) -> list[Any]:
    """A short decoded view of each input record (for divergence context)."""
    out: list[Any] = []
    for rec in records:
        frame = rec.data if isinstance(rec, Record) else rec[1]
        u = parse_udp(frame)
        if isinstance(u, str):
            out.append(u)
            continue
        try:
            session, seq, count, msgs = codec.mold_unpack(u.payload)
        except codec.CodecError as exc:
            out.append(f"{u.flow}: {exc.reason_name}")
            continue
        decoded: list[Any] = []
        for m in msgs:
            try:
                decoded.append(codec.decode_ouch_in(m))
            except codec.CodecError as exc:
                decoded.append(exc.reason_name)
        out.append({"flow": u.flow, "session": session.rstrip(), "seq": seq, "messages": decoded})
    return out


# ---- golden files ---------------------------------------------------------


def write_golden(path: str | Path, streams: Streams, meta: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "version": GOLDEN_VERSION,
        "hash": streams.hash(),
        "ignored": IGNORED,
        "meta": meta,
        "streams": {
            name: {
                "count": len(msgs),
                "sha256": stream_hash({name: msgs}),
                "messages": [m.hex() for m in msgs],
            }
            for name, msgs in streams.messages.items()
        },
    }
    Path(path).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return doc


def read_golden(path: str | Path) -> tuple[Streams, dict[str, Any]]:
    doc = json.loads(Path(path).read_text())
    if doc.get("version") != GOLDEN_VERSION:
        raise ValueError(f"{path}: golden file version {doc.get('version')}, expected 1")
    s = Streams()
    for name, st in doc["streams"].items():
        s.messages[name] = [bytes.fromhex(h) for h in st["messages"]]
    if s.hash() != doc["hash"]:
        raise ValueError(f"{path}: the streams do not hash to the recorded {doc['hash']}")
    return s, doc
