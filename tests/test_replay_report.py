"""Measurement and the `wirematch replay` commands: latency matched from two
captures, throughput over time, report.json and PNG plots, and the CLI
table (gen, golden with record/check, report)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wirematch.pipeline.cli import main
from wirematch.replay import inprocess, measure
from wirematch.replay.gen import GenSpec, generate
from wirematch.replay.pcapio import Record, read_pcap, write_pcap
from wirematch.replay.setup import Setup

SETUP = Setup()
PNG = b"\x89PNG\r\n\x1a\n"


def test_latency_and_throughput_from_two_captures(tmp_path: Path) -> None:
    cap = generate(GenSpec(packets=800, sessions=6, seed=5))
    sent = [Record(ts, fr, len(fr)) for ts, fr in cap.records]
    out = inprocess.run(cap.records, SETUP).records
    # the in-process outputs are stamped 1 µs + their position after the input
    delay = 25_000
    late = [Record(ts + delay, fr, len(fr)) for ts, fr in out]
    rep = measure.report(sent, late, SETUP, tmp_path / "r")
    lat = rep["latency"]["reply"]
    assert lat["count"] > 700 and rep["latency"]["unmatched_replies"] == 0
    assert delay + 1000 <= lat["min_ns"] <= lat["p50_ns"] <= lat["p99_ns"] <= lat["max_ns"]
    assert lat["max_ns"] < delay + 1000 + 200  # a few packets per input at most
    assert rep["latency"]["feed"]["count"] > 300 and rep["golden"]["identical"]
    tp = rep["throughput"]
    assert sum(tp["inbound"]) == len(sent) and sum(tp["replies"]) > 0
    assert sum(tp["feed"]) >= rep["latency"]["feed"]["count"]
    files = [Path(f) for f in rep["files"]]
    assert {f.name for f in files} == {"latency.png", "throughput.png", "report.json"}
    for f in files:
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == PNG and f.stat().st_size > 10_000
    back = json.loads((tmp_path / "r" / "report.json").read_text())
    assert back["latency"]["reply"]["p99_ns"] == lat["p99_ns"]
    # a reply that never came back is counted, not hidden
    lost = [
        r for r in late if r.data[30:34] != bytes([10, 199, 0, 2]) or r.data[36:38] != b"\x9c\x40"
    ]
    lat2, _, _ = measure.latencies(sent, lost, SETUP)
    assert lat2.unmatched_replies > 0 and len(lat2.reply_ns) < lat["count"]
    assert np.all(lat2.reply_ns >= delay)


def test_cli_gen_golden_report(tmp_path: Path, capsys) -> None:
    flow = tmp_path / "flow.pcap"
    assert main(["replay", "gen", str(flow), "--packets", "300", "--sessions", "4", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["packets"] == 304 and Path(info["sidecar"]).exists()
    g = tmp_path / "g.json"
    assert main(["replay", "golden", str(flow), "--inprocess", "--record", str(g)]) == 0
    assert "identical" in capsys.readouterr().out
    assert main(["replay", "golden", str(flow), "--inprocess", "--check", str(g), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["identical"] and res["hash"] == json.loads(g.read_text())["hash"]
    # a different output fails with the first divergence
    out = tmp_path / "out.pcap"
    recs = inprocess.run(read_pcap(flow), SETUP).records
    write_pcap(out, recs[:-5])
    assert main(["replay", "golden", str(flow), "--output", str(out)]) == 1
    text = capsys.readouterr()
    assert "first divergence" in text.out and "the output differs" in text.err
    write_pcap(out, recs)
    assert main(["replay", "golden", str(flow), "--output", str(out), "--check", str(g)]) == 0
    capsys.readouterr()
    assert main(["replay", "report", "--sent", str(flow), "--output", str(out),
                 "--dir", str(tmp_path / "rep")]) == 0  # fmt: skip
    assert "replies matched" in capsys.readouterr().out
    assert (tmp_path / "rep" / "latency.png").exists()
    adv = tmp_path / "adv.pcap"
    assert main(["replay", "gen", str(adv), "--adversarial", "--packets", "200", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["expected_counts"]
    # the flood: 64 ghost flows, each first packet a flow miss (held until the
    # flow is decided), every packet denied
    assert counts["flow_misses"] == 64 and counts["flow_denied"] == 200
    assert main(["replay", "golden", str(tmp_path / "missing.pcap")]) == 1
    assert "missing.pcap" in capsys.readouterr().err


def test_a_differing_appliance_run_says_how_far_the_packets_got() -> None:
    from wirematch.replay.capture import Captured
    from wirematch.replay.run import _where_it_stopped

    final = {
        "counters": {
            "rx.q0": {"packets": 1000, "messages": 1500},
            "engine.s0": {"messages": 1500},
            "tx.q0": {"packets": 0},
        }
    }
    got = Captured()
    got.outgoing = 1000
    line = _where_it_stopped(final, got, 1000)
    assert line == (
        "inputs 1000 packets; appliance: rx 1000 packets / 1500 messages, engine 1500 "
        "messages, tx 0 packets; capture 0 frames (1000 sent by the peer)"
    )
    assert "rx 0 packets" in _where_it_stopped({}, Captured(), 5)


def test_a_differing_appliance_run_names_the_rx_drops_by_reason() -> None:
    from wirematch.replay.run import _rx_reasons

    final = {
        "counters": {
            "rx.q0": {"packets": 1006, "messages": 0, "flow_misses": 500, "drop_after_gap": 608,
                      "drop_flow_denied": 0, "held": 0},
            "slowpath.q0": {"flow_misses": 500, "slow_path_pushed": 500, "slow_path_ring_full": 0},
        }
    }  # fmt: skip
    assert _rx_reasons(final) == (
        "rx drops by reason: drop_after_gap 608; new flows: flow_misses 500; "
        "slow-path gate: slow_path_pushed 500"
    )
    assert _rx_reasons({}) == (
        "rx drops by reason: none; new flows: none; slow-path gate: nothing pushed"
    )
