"""Golden runs through the real appliance: a generated capture replayed over
a veth pair into the appliance gives
exactly the golden model's replies and market data on every backend here;
an adversarial capture moves exactly the sidecar's drop counters and
rejects and the appliance stops cleanly; the measurement report comes from
a real run.  A backend that cannot run here fails with its reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wirematch.nic.testhost import VethHost
from wirematch.pipeline.cli import main
from wirematch.replay import compare, model
from wirematch.replay.gen import GenSpec, adversarial, generate
from wirematch.replay.pcapio import read_pcap
from wirematch.replay.run import RunResult, golden_run, predicted_counters
from wirematch.replay.send import Pace
from wirematch.replay.setup import Setup

PNG = b"\x89PNG\r\n\x1a\n"
# A quarter of the recorded pace (about 5 kpps, bursts of 16 at 1 µs): the
# socket backend's receive buffer does not overflow on this shared machine.
PACE = Pace(speed=0.25)


def _run(pcap: Path, backend: str, host: VethHost, tmp: Path) -> RunResult:
    try:
        return golden_run(pcap, backend, host=host, pace=PACE, work_dir=tmp / f"work-{backend}")
    except Exception as exc:  # the backend cannot run here: a failure with its reason
        pytest.fail(f"backend {backend} cannot run a golden run here: {exc!r}", pytrace=False)


def _offline_hash(pcap: Path) -> str:
    return compare.from_expected(model.expected(read_pcap(pcap), Setup())).hash()


@pytest.mark.parametrize("backend", ["socket", "io_uring", "af_xdp"])
def test_golden_run_is_identical_on_every_backend(
    backend: str, veth_pair: VethHost, tmp_path: Path
) -> None:
    spec = GenSpec(seed=11, sessions=8, packets=1200)
    pcap, _ = generate(spec).write(tmp_path / "flow.pcap")
    res = _run(pcap, backend, veth_pair, tmp_path)
    s = res.summary()
    assert res.identical, json.dumps([s["problems"], s["divergences"][:1]], default=str)[:3000]
    # The same hash as the model gives offline for the capture, whatever
    # backend and veth addresses ran it.
    assert res.hash == res.expected_hash == _offline_hash(pcap)
    c = res.final["counters"]
    assert res.final["drained"]
    assert c["nic.q0"].get("drop_socket_full", 0) == 0
    assert c["rx.q0"]["flow_misses"] == spec.sessions  # the opening heartbeats
    assert (
        c["rx.q0"]["messages"]
        == c["engine.s0"]["messages"]
        == res.expected.counters["seq_messages_applied"]
    )
    assert c["engine.s0"]["sessions"] == spec.sessions
    assert res.final["classifier"]["allowed"] == spec.sessions
    # every session: System Event S first and E last
    for name, msgs in compare.from_capture(res.output, res.setup).messages.items():
        if name != "feed":
            assert msgs[0][0:1] == b"S" and msgs[0][9:10] == b"S", name
            assert msgs[-1][0:1] == b"S" and msgs[-1][9:10] == b"E", name


def test_sessions_opening_back_to_back_lose_nothing(veth_pair: VethHost, tmp_path: Path) -> None:
    """Issue #24: the capture sent at top speed on AF_XDP, so each session's
    opening heartbeat and first orders reach the rx stage in the same bursts,
    before the classifier can have decided the flow (as when the replayer,
    the rx thread or the classifier stalls longer than the opening pause).
    The packets wait in the hold, leave it in arrival order, and the output
    is the model's."""
    pcap, _ = generate(GenSpec(seed=5, sessions=6, packets=1000)).write(tmp_path / "f.pcap")
    try:
        res = golden_run(
            pcap, "af_xdp", host=veth_pair, pace=Pace(topspeed=True), work_dir=tmp_path / "w"
        )
    except Exception as exc:  # the backend cannot run here: a failure with its reason
        pytest.fail(f"backend af_xdp cannot run a golden run here: {exc!r}", pytrace=False)
    assert res.identical, res.summary()["problems"]
    c = res.final["counters"]
    rx, applied = c["rx.q0"], res.expected.counters["seq_messages_applied"]
    assert rx["messages"] == c["engine.s0"]["messages"] == applied > 1000, rx
    assert rx["flow_misses"] == 6 == rx["heartbeats"] and rx["held"] > 6, rx
    assert _rx_drops(rx) == {}, rx
    assert c["nic.q0"].get("drop_socket_full", 0) == 0


def _rx_drops(block: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in block.items() if (k.startswith("drop_") or "_drop_" in k) and v}


@pytest.mark.parametrize("backend", ["socket", "io_uring", "af_xdp"])
def test_adversarial_capture_moves_exactly_the_sidecar_counters(
    backend: str, veth_pair: VethHost, tmp_path: Path
) -> None:
    spec = GenSpec(seed=9, sessions=6, packets=900)
    pcap, side_path = adversarial(spec, flood=150).write(tmp_path / "adv.pcap")
    side = json.loads(side_path.read_text())
    res = _run(pcap, backend, veth_pair, tmp_path)
    assert res.identical, json.dumps(res.summary()["divergences"][:1], default=str)[:3000]
    assert res.final["drained"]  # stopped cleanly after all of it: it stayed up
    c = res.final["counters"]
    want: dict[str, dict[str, int]] = side["appliance_counts"]
    # the sessions' opening heartbeats are flow misses too
    want["rx.q0"]["flow_misses"] += spec.sessions
    for block, counters in want.items():
        for name, n in counters.items():
            assert c[block][name] == n, (block, name, c[block][name], n)
    # ... and nothing else is dropped or refused: every drop counter of the
    # rx stage and the codec is the sidecar's (or zero), and the gateway
    # refused what the sidecar says plus the generator's ordinary bad orders
    # (off-tick prices, unknown symbols), exactly as the model predicts.
    assert _rx_drops(c["rx.q0"]) == {k: v for k, v in want["rx.q0"].items() if k != "flow_misses"}
    assert _rx_drops(c["codec.q0"]) == want["codec.q0"]
    pred = predicted_counters(res.expected)
    gw_drops = {k: v for k, v in c["gateway.s0"].items() if k.startswith("gw_in_drop_") and v}
    assert gw_drops == {k: v for k, v in pred["gateway.s0"].items() if k.startswith("gw_in_drop_")}
    assert gw_drops["gw_in_drop_user_ref_not_increasing"] == 1
    assert res.final["classifier"]["denied_default"] == min(64, 150)
    # matcher rejects: one Cancel Reject / Rejected Order per matcher reject
    # of a client command, as the (identical) reply streams already show
    rej = sum(v for k, v in c["matcher.s0"].items() if k.startswith("reject_"))
    assert rej == c["matcher.s0"]["rejected"]


def test_cli_run_records_golden_and_writes_the_report(tmp_path: Path, capsys: Any) -> None:
    from wirematch.nic.testhost import TestHostError, check_privileges

    try:
        check_privileges()
    except TestHostError as exc:
        pytest.fail(str(exc), pytrace=False)
    pcap, _ = generate(GenSpec(seed=5, sessions=6, packets=1000)).write(tmp_path / "f.pcap")
    g, rep_dir = tmp_path / "g.json", tmp_path / "rep"
    argv = ["replay", "run", str(pcap), "--backend", "socket", "--speed", "0.25"]
    assert main([*argv, "--record", str(g), "--report", str(rep_dir), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["identical"] and out["hash"] == _offline_hash(pcap)
    assert json.loads(g.read_text())["hash"] == out["hash"]
    files = {Path(f).name: Path(f) for f in out["report"]}
    assert set(files) == {"latency.png", "throughput.png", "report.json"}
    for name in ("latency.png", "throughput.png"):
        assert files[name].read_bytes()[:8] == PNG and files[name].stat().st_size > 10_000
    rep = json.loads(files["report.json"].read_text())
    lat = rep["latency"]["reply"]
    assert rep["golden"]["identical"] and rep["latency"]["unmatched_replies"] == 0
    assert (
        lat["count"] > 900 and 0 < lat["min_ns"] <= lat["p50_ns"] <= lat["p99_ns"] <= lat["max_ns"]
    )
    assert lat["max_ns"] < 1_000_000_000  # wire-in to reply-out, one clock
    assert sum(rep["throughput"]["inbound"]) == rep["inbound_packets"] > 1000
    # the recorded run checks against itself on another backend
    assert main([*argv[:4], "af_xdp", "--speed", "0.25", "--check", str(g)]) == 0
    assert "identical" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["socket", "io_uring", "af_xdp"])
def test_golden_run_repeats_identically(backend: str, veth_pair: VethHost, tmp_path: Path) -> None:
    """Issue #24: the CLI test's capture, run again and again on one backend:
    every run identical (a run that differs names its rx drops by reason)."""
    pcap, _ = generate(GenSpec(seed=5, sessions=6, packets=1000)).write(tmp_path / "f.pcap")
    for i in range(8):
        res = _run(pcap, backend, veth_pair, tmp_path)
        assert res.identical, (i, res.summary()["problems"])
        rx = res.final["counters"]["rx.q0"]
        assert rx["flow_misses"] == 6 == rx["heartbeats"], (i, rx)
        assert _rx_drops(rx) == {}, (i, rx)
