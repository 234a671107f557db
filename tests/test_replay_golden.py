"""The replay harness's generator, golden model and comparison, without the
network: determinism of generated captures, the golden model against the
real C gateway + matcher in process, adversarial sidecars, golden files."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from wirematch.pipeline.protocols import codec
from wirematch.replay import compare, inprocess, model
from wirematch.replay.gen import GenSpec, addresses, adversarial, generate
from wirematch.replay.pcapio import read_pcap
from wirematch.replay.setup import Setup

SETUP = Setup()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    spec = GenSpec(packets=400, sessions=6, seed=11)
    a, _ = generate(spec).write(tmp_path / "a.pcap")
    b, _ = generate(GenSpec(packets=400, sessions=6, seed=11)).write(tmp_path / "b.pcap")
    c, _ = generate(GenSpec(packets=400, sessions=6, seed=12)).write(tmp_path / "c.pcap")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c)]
    assert digest[0] == digest[1] != digest[2]
    x, sx = adversarial(GenSpec(packets=300, seed=4)).write(tmp_path / "x.pcap")
    y, sy = adversarial(GenSpec(packets=300, seed=4)).write(tmp_path / "y.pcap")
    assert x.read_bytes() == y.read_bytes() and sx.read_bytes() == sy.read_bytes()


def test_generated_flow_is_what_it_claims(tmp_path: Path) -> None:
    spec = GenSpec(packets=1500, sessions=12, seed=3, client_addrs=addresses("10.199.0.2", 3))
    path, _ = generate(spec).write(tmp_path / "flow.pcap")
    recs = read_pcap(path)
    assert len(recs) == 12 + 1500
    assert all(b.ts_ns > a.ts_ns for a, b in zip(recs, recs[1:], strict=False))
    exp = model.expected(recs, SETUP)
    flows = {v["flow"] for v in exp.verdicts}
    assert len(flows) == 12 and len({f.split(":")[0] for f in flows}) == 3
    # Each flow's opening heartbeat is a flow miss, held until the flow is
    # decided and then taken as a heartbeat.
    assert {v["verdict"] for v in exp.verdicts} == {"heartbeat", "applied"}
    misses = [v for v in exp.verdicts if v.get("flow_miss")]
    assert len(misses) == 12 == exp.counters["flow_misses"] == exp.counters["heartbeats"]
    assert {v["verdict"] for v in misses} == {"heartbeat"}
    kinds = Counter(m["type"] for r in exp.replies.values() for m in map(codec.decode_ouch_out, r))
    # passive adds, fills, cancels (user and IOC remainder), replaces, rejects, cancel rejects
    for t in "AECUJI":
        assert kinds[t] > 0, (t, kinds)
    feed = Counter(codec.decode_itch(m)["type"] for m in exp.feed)
    for t in "AEDX":
        assert feed[t] > 0, (t, feed)
    inter = [b.ts_ns - a.ts_ns for a, b in zip(recs[12:], recs[13:], strict=False)]
    assert sum(1 for d in inter if d == 1000) > 50  # bursts 1 µs apart
    multi = sum(1 for r in recs[12:] if codec.mold_unpack(r.data[42:])[2] > 1)
    assert multi > 50


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_golden_model_equals_the_c_gateway_and_matcher(seed: int) -> None:
    cap = generate(GenSpec(packets=1200, sessions=10, seed=seed))
    exp = model.expected(cap.records, SETUP)
    real = inprocess.run(cap.records, SETUP)
    got = compare.from_capture(real.records, SETUP)
    report = compare.compare(compare.from_expected(exp), got, compare.causes_of(exp))
    assert report["identical"], json.dumps(report["divergences"][:1], default=str)[:2000]
    assert report["hash"] == report["expected_hash"]
    assert sum(len(v) for v in got.messages.values()) == (
        exp.counters["gw_itch_messages"] + sum(len(r) for r in exp.replies.values())
    )
    for name in ("gw_in_commands", "gw_itch_messages", "gw_ouch_messages", "seq_messages_applied"):
        assert exp.counters[name] == real.counters[name], name


def test_adversarial_capture_sidecar_model_and_c_agree(tmp_path: Path) -> None:
    cap = adversarial(GenSpec(packets=600, sessions=6, seed=9), flood=150)
    path, side_path = cap.write(tmp_path / "adv.pcap")
    side = json.loads(side_path.read_text())
    recs = read_pcap(path)
    exp = model.expected(recs, SETUP)
    assert len(side["expect"]) == 11 + 150
    for e in side["expect"]:
        v = exp.verdicts[e["index"]]
        assert bool(v.get("flow_miss")) == bool(e.get("flow_miss")), (e, v)
        if e["verdict"] == "drop":
            assert (v["verdict"], v.get("reason")) == ("drop", e["reason"]) or (
                v["verdict"] == "applied" and v["messages"] == [e["reason"]]
            ), (e, v)
        elif e["verdict"] == "partial":
            assert v["verdict"] == "partial", (e, v)
        else:  # a reject by the gateway: Rejected Order 0x0F to that flow
            assert v["messages"] == [e["reason"]], (e, v)
            j = exp.first_reply[(e["index"], 0)]
            reply = codec.decode_ouch_out(exp.replies[j[0]][j[1]])
            assert reply["type"] == "J" and reply["reason"] == 0x0F
            assert reply["user_ref_num"] == e["user_ref_num"]
    # every reason the sidecar names is counted by the model, at least as often
    for reason, n in side["expected_counts"].items():
        assert exp.counters[reason] >= n, reason
    # the real C parts count the same drops
    real = inprocess.run(recs, SETUP)
    for reason in side["expected_counts"]:
        assert real.counters[reason] == exp.counters[reason], reason
    got = compare.from_capture(real.records, SETUP)
    assert compare.compare(compare.from_expected(exp), got)["identical"]
    # nothing answers the denied flood
    flood_src = {exp.verdicts[e["index"]]["flow"].split(":")[0] for e in side["expect"]
                 if e["reason"] == "flow_denied"}  # fmt: skip
    assert not any(k.split(" ")[1].split(":")[0] in flood_src for k in got.messages if k != "feed")


def test_first_divergence_is_reported_with_context(tmp_path: Path) -> None:
    cap = generate(GenSpec(packets=500, sessions=5, seed=21))
    exp = model.expected(cap.records, SETUP)
    real = inprocess.run(cap.records, SETUP)
    # corrupt one reply: the quantity of the 40th message of the busiest flow
    frames = list(real.records)
    flow = max(exp.replies, key=lambda f: len(exp.replies[f]))
    host, port = flow.split(":")
    count = 0
    for i, (ts, fr) in enumerate(frames):
        if fr[30:34] == bytes(map(int, host.split("."))) and int.from_bytes(fr[36:38]) == int(port):
            session, seq, n, msgs = codec.mold_unpack(fr[42:])
            if count + n > 40:
                k = 40 - count
                off = 42 + 20 + sum(2 + len(m) for m in msgs[:k]) + 2
                bad = bytearray(fr)
                bad[off] = ord("J") if msgs[k][:1] != b"J" else ord("I")
                frames[i] = (ts, bytes(bad))
                break
            count += n
    got = compare.from_capture(frames, SETUP)
    report = compare.compare(
        compare.from_expected(exp), got, compare.causes_of(exp), compare.input_messages(cap.records)
    )
    assert not report["identical"]
    (d,) = report["divergences"]
    assert d["stream"] == f"reply {flow}" and d["index"] == 40
    assert len(d["expected_context"]) == 4 and d["cause"]["input"]["flow"] == flow
    # timestamps are ignored: shifting every timestamp changes nothing
    shifted = [(ts + 12345, fr) for ts, fr in real.records]
    assert compare.compare(compare.from_expected(exp), compare.from_capture(shifted, SETUP))[
        "identical"
    ]


def test_golden_file_round_trip_and_regression(tmp_path: Path) -> None:
    cap = generate(GenSpec(packets=300, sessions=4, seed=8))
    real = inprocess.run(cap.records, SETUP)
    streams = compare.from_capture(real.records, SETUP)
    compare.write_golden(tmp_path / "g.json", streams, {"input": "seed 8"})
    back, doc = compare.read_golden(tmp_path / "g.json")
    assert doc["hash"] == streams.hash()
    assert compare.compare(back, streams)["identical"]
    other = inprocess.run(generate(GenSpec(packets=300, sessions=4, seed=9)).records, SETUP)
    report = compare.compare(back, compare.from_capture(other.records, SETUP))
    assert not report["identical"] and report["divergences"]
    raw = json.loads((tmp_path / "g.json").read_text())
    raw["streams"]["feed"]["messages"][0] = "00"
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="do not hash"):
        compare.read_golden(tmp_path / "bad.json")
