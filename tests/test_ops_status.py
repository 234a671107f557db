"""`wirematch status`, `top`, `flows`: a region laid out as a running instance's
(tests/opsregion.py: the C side's counter blocks, values the tests choose),
read read-only, also from another process; and the region of a real appliance
that saw known traffic, whose counter blocks must be exactly the C tables'
and in which the readers may look up no counter the C side does not declare."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests import ROOT, opsregion
from tests.appliance_host import Traffic, appliance_with_traffic, enter, wait_for
from wirematch.nic.testhost import VethHost
from wirematch.pipeline.appliance import Appliance
from wirematch.pipeline.cli import main
from wirematch.pipeline.native.counters import Counters, appliance_counter_blocks
from wirematch.pipeline.native.shm import Region, RegionError
from wirematch.pipeline.ops import api, metrics, status


@pytest.fixture
def ops(shm_name: str) -> Iterator[opsregion.OpsRegion]:
    o = opsregion.build(shm_name)
    yield o
    o.close()


def _stage(report: dict, obj: str) -> dict:
    return next(s for s in report["stages"] if s["object"] == obj)


def _hist(report: dict, obj: str) -> dict:
    return next(h for h in report["histograms"] if h["object"] == obj)


def _ring(report: dict, name: str) -> dict:
    return next(r for r in report["rings"] if r["name"] == name)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wirematch", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_object_names() -> None:
    on = status.parse_object_name("rx.q3")
    assert (on.stage, on.kind, on.index, on.metric) == ("rx", "queue", 3, None)
    assert on.labels == {"queue": "3"}
    on = status.parse_object_name("engine.s1.rx_to_match_ns")
    assert (on.stage, on.kind, on.index, on.metric) == ("engine", "shard", 1, "rx_to_match_ns")
    on = status.parse_object_name("slowpath")
    assert (on.stage, on.kind, on.labels) == ("slowpath", None, {})


def test_totals(ops: opsregion.OpsRegion, shm_name: str) -> None:
    report = status.read_status(shm_name, 0)
    assert report["running"] and report["window_s"] is None
    assert report["instance"]["pid"] == os.getpid()
    assert report["instance"]["workers"][1]["core"] == 1
    rx = _stage(report, "rx.q0")
    assert rx["stage"] == "rx" and rx["queue"] == "0" and rx["work"] == "packets"
    assert rx["counters"]["packets"] == 1000
    rx_names = opsregion.counter_blocks()["rx.q0"]
    assert set(rx["drops"]) == {n[5:] for n in rx_names if n.startswith("drop_")}
    assert {k: v for k, v in rx["drops"].items() if v} == {"short_frame": 3, "flow_denied": 7}
    assert rx["dropped"] == 10
    assert rx["cycles_per_unit"] == 200.0
    assert rx["ns_per_unit"] == pytest.approx(200 * 1e9 / report["tsc_hz"], rel=1e-3)
    engine = _stage(report, "engine.s0")
    assert engine["shard"] == "0" and engine["work"] == "commands"
    assert engine["cycles_per_unit"] == 100.0
    assert _stage(report, "matcher.s0")["work"] is None  # no unit of work: no cycles/unit
    assert report["drops"]["rx.q0.short_frame"] == 3
    assert report["drops"]["rx.q0.flow_denied"] == 7
    assert all(s["object"] != "appliance" for s in report["stages"])

    lat = _hist(report, "engine.s0.rx_to_match_ns")
    assert lat["unit"] == "ns" and lat["metric"] == "rx_to_match_ns" and lat["shard"] == "0"
    t = lat["total"]
    assert t["count"] == 1000
    # Values 100..1099, HdrHistogram's highest-equivalent values (within 1%).
    assert t["p50"] == pytest.approx(599, rel=0.01)
    assert t["p99"] == pytest.approx(1089, rel=0.01)
    assert t["max"] == pytest.approx(1099, rel=0.01)
    assert _hist(report, "rx.q0.batch")["unit"] == "count"
    assert _hist(report, "rx.q0.batch")["total"]["p50"] == 32

    out = _ring(report, "out.q0")
    assert out["count"] == out["capacity"] == 512 and out["occupancy"] == 1.0
    assert out["enqueue_refused"] == 3
    assert _ring(report, "in.s0")["count"] == 10


def test_window_deltas_rates_and_histogram_subtraction(
    ops: opsregion.OpsRegion, shm_name: str
) -> None:
    with Region.attach(shm_name) as ro:
        before = status.take_snapshot(ro)
        ops.counters["rx.q0"].add("packets", 500)
        ops.counters["rx.q0"].add("busy_cycles", 50_000)  # 100 cycles/packet in the window
        ops.counters["rx.q0"].add("drop_short_frame", 2)
        ops.hists["engine.s0.rx_to_match_ns"].record(np.full(100, 2000, dtype=np.uint64))
        ops.rings["in.s0"].enqueue(np.zeros(5, dtype=opsregion.ELEM))
        after = status.take_snapshot(ro)
    after.taken_ns = before.taken_ns + 2_000_000_000  # a 2 s window for exact rates
    report = status.build_report(before, after, 2_000_000_000, None, shm_name)
    assert report["window_s"] == 2.0
    rx = _stage(report, "rx.q0")
    assert rx["delta"]["packets"] == 500 and rx["rate"]["packets"] == 250.0
    assert rx["drops_delta"]["short_frame"] == 2 and sum(rx["drops_delta"].values()) == 2
    assert rx["cycles_per_unit"] == 100.0  # the window's, not the totals' 200/packet
    assert rx["busy"] == pytest.approx(50_000 / 2e9 / 2)
    lat = _hist(report, "engine.s0.rx_to_match_ns")
    assert lat["window"]["count"] == 100
    assert lat["window"]["p50"] == pytest.approx(2000, rel=0.01)  # only the window's values
    assert lat["total"]["count"] == 1100
    ring = _ring(report, "in.s0")
    assert ring["delta"] == {"enqueued": 5, "dequeued": 0, "enqueue_refused": 0}
    assert ring["rate"]["enqueued"] == 2.5
    text = status.render_status(report)
    assert "window 2 s" in text and "short_frame" in text and "flow_denied" not in text


def test_window_through_read_status(ops: opsregion.OpsRegion, shm_name: str) -> None:
    def writer() -> None:
        time.sleep(0.3)
        ops.counters["engine.s0"].add("commands", 40)

    t = threading.Thread(target=writer)
    t.start()
    report = status.read_status(shm_name, 1.2)
    t.join()
    assert report["window_s"] == pytest.approx(1.2, abs=0.2)
    engine = _stage(report, "engine.s0")
    assert engine["delta"]["commands"] == 40
    assert engine["rate"]["commands"] == pytest.approx(40 / report["window_s"], rel=0.01)


def test_text_rendering(ops: opsregion.OpsRegion, shm_name: str) -> None:
    text = status.render_status(status.read_status(shm_name, 0))
    assert text.startswith(f"instance {shm_name}: running, pid {os.getpid()}, backend socket")
    assert "totals since start" in text
    assert "rx.q0          short_frame" in text
    assert "engine.s0.rx_to_match_ns ns" in text
    assert "100.0%" in text  # out.q0 is full


def test_status_from_another_process(ops: opsregion.OpsRegion, shm_name: str) -> None:
    p = _cli("status", "--name", shm_name, "--interval", "0.2", "--json")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["window_s"] == pytest.approx(0.2, abs=0.15)
    assert _stage(report, "rx.q0")["counters"]["drop_flow_denied"] == 7
    p = _cli("status", "--name", shm_name, "--interval", "0")
    assert p.returncode == 0 and "drops by reason" in p.stdout


def test_missing_instance_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RegionError, match="no running wirematch instance named 'absent-x'"):
        status.read_status("absent-x")
    assert main(["status", "--name", "absent-x"]) == 1
    assert "start one with `wirematch run CONFIG`" in capsys.readouterr().err
    assert main(["status", "--name", "absent-x", "--interval", "-1"]) == 1


def test_top_screens(ops: opsregion.OpsRegion, shm_name: str) -> None:
    screens: list[str] = []
    n = status.run_top(shm_name, 0.05, 3, screens.append)
    assert n == 3 and len(screens) == 3
    assert all(s.startswith(status.CLEAR_SCREEN + "wirematch top") for s in screens)
    assert all("window" in s for s in screens)
    lines: list[str] = []
    status.run_top(shm_name, 0.05, 2, lines.append, as_json=True)
    assert [json.loads(x)["window_s"] > 0 for x in lines] == [True, True]


def test_top_command_is_bounded_and_ctrl_c_is_clean(
    ops: opsregion.OpsRegion, shm_name: str
) -> None:
    p = _cli("top", "--name", shm_name, "--interval", "0.05", "--count", "2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("wirematch top") == 2
    proc = subprocess.Popen(
        [sys.executable, "-m", "wirematch", "top", "--name", shm_name, "--interval", "0.1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while "wirematch top" not in proc.stdout.readline():  # the first screen is out
            assert time.monotonic() < deadline and proc.poll() is None
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err


def test_flows(ops: opsregion.OpsRegion, shm_name: str) -> None:
    data = status.read_flows(shm_name)
    assert data["stats"]["n_live"] == 3 and data["max_flows"] == 64
    first, *rest = data["flows"]  # most packets first
    assert first["src"] == "10.0.0.1:40001" and first["dst"] == "10.0.0.254:15000"
    assert (first["action"], first["session"], first["packets"], first["bytes"]) == (
        "allow",
        1,
        1000,
        64_000,
    )
    assert first["rule"] == "000000ab" and first["bucket"] == 0 and first["proto"] == "udp"
    assert 0 <= first["idle_s"] < 60
    by_src = {f["src"]: f for f in rest}
    assert by_src["10.0.0.2:40002"]["vlan"] == 100
    assert by_src["10.0.0.2:40002"]["bucket"] is None
    deny = by_src["10.0.0.66:40066"]
    assert (deny["action"], deny["drops"], deny["rule"]) == ("deny", 7, None)
    text = status.render_flows(data)
    assert "3 live / 64 max" in text and "10.0.0.66:40066" in text

    p = _cli("flows", "--name", shm_name, "--json")
    assert p.returncode == 0, p.stderr
    assert [f["src"] for f in json.loads(p.stdout)["flows"]] == [f["src"] for f in data["flows"]]


def test_flows_without_a_table(shm_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    o = opsregion.build(shm_name, flows=False)
    try:
        assert main(["flows", "--name", shm_name]) == 1
        assert "has no flow table" in capsys.readouterr().err
    finally:
        o.close()


# -- the names: the C side's tables -----------------------------------------------------


def test_reader_counter_names_are_declared_by_the_c_side() -> None:
    """The counter names status, top, metrics and the API client rely on are
    in the C side's tables (or the block Python writes)."""
    blocks = appliance_counter_blocks()
    declared = {n for _, names in blocks.values() for n in names}
    assert set(status.WORK_COUNTERS) <= declared
    assert status.RUNNING in status.APPLIANCE_COUNTERS
    for stage in ("rx", "engine", "tx"):  # the stages that count their busy time
        names = blocks[stage][1]
        assert status.BUSY_COUNTER in names, stage
        assert any(n.startswith(status.DROP_PREFIX) for n in names), stage
    for stage, (_, names) in blocks.items():
        if status.BUSY_COUNTER in names:  # busy time needs a unit of work to divide by
            assert any(w in names for w in status.WORK_COUNTERS), stage
    assert [(s, k) for s, (k, _) in blocks.items()] == [
        ("nic", "q"),
        ("rx", "q"),
        ("codec", "q"),
        ("slowpath", "q"),
        ("engine", "s"),
        ("gateway", "s"),
        ("matcher", "s"),
        ("tx", "q"),
        ("worker", "w"),
    ]


def test_test_region_cannot_carry_undeclared_counters(shm_name: str) -> None:
    o = opsregion.build(shm_name)
    try:
        with pytest.raises(KeyError):
            o.counters["rx.q0"].add("drop_short", 1)  # not a name the C side declares
    finally:
        o.close()


# -- a real appliance's region ------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> Iterator[tuple[VethHost, Appliance, Traffic]]:
    with appliance_with_traffic(f"wmopsst{os.getpid()}") as live:
        yield live


def test_real_region_holds_the_c_tables_blocks(
    real: tuple[VethHost, Appliance, Traffic],
) -> None:
    _, app, _ = real
    with Region.attach(app.name, readonly=True) as r:
        blocks = {o.name: r.counters(o.name).names for o in r.objects() if o.type == "counters"}
    assert blocks == opsregion.counter_blocks()  # the test region's blocks are the real ones


def test_status_of_a_real_appliance(real: tuple[VethHost, Appliance, Traffic]) -> None:
    _, app, t = real
    report = status.read_status(app.name, 0)
    assert report["running"] and report["instance"]["pid"] == os.getpid()
    assert report["drops"]["rx.q0.flow_denied"] == 3
    assert {k: v for k, v in report["drops"].items() if v} == {"rx.q0.flow_denied": 3}
    rx, engine, tx = (_stage(report, o) for o in ("rx.q0", "engine.s0", "tx.q0"))
    assert rx["work"] == "packets" and engine["work"] == "commands" and tx["work"] == "packets"
    assert engine["counters"]["messages"] == t.sent
    assert _stage(report, "matcher.s0")["counters"]["cmd_new"] == t.sent
    for st in (rx, engine, tx):  # cycles per unit of work, from the C side's counters
        assert st["cycles_per_unit"] > 0, st
    text = status.render_status(report)
    assert "rx.q0          flow_denied" in text
    assert [h["object"] for h in report["histograms"]] == [
        "rx.q0.batch",
        "engine.s0.batch",
        "engine.s0.rx_to_match_ns",
        "tx.q0.rx_to_reply_ns",
    ]

    with Region.attach(app.name, readonly=True) as ro:  # a window with one more order
        before = status.take_snapshot(ro)
        accepted = before.counters["matcher.s0"]["accepted"]
        t.send(21001, 1, [enter(t.next_ref(21001), side="B", qty=1, price=999_700)])
        # send() waits for the engine to take the message; the matcher's block
        # is written once the command is applied, a moment later.
        assert wait_for(lambda: app.counters()["matcher.s0"]["accepted"] == accepted + 1)
        after = status.take_snapshot(ro)
    window = status.build_report(before, after, status.tsc_hz(), None, app.name)
    assert _stage(window, "engine.s0")["delta"]["messages"] == 1
    assert _stage(window, "rx.q0")["delta"]["messages"] == 1
    assert _stage(window, "matcher.s0")["delta"]["accepted"] == 1


class _Looked(dict):
    """A counter snapshot that records which names are looked up in it."""

    def __init__(self, names: list[str], values: dict[str, int], log: list) -> None:
        super().__init__(values)
        self.names, self.log = names, log

    def __getitem__(self, key: str) -> int:
        self.log.append(("get", tuple(self.names), key))
        return super().__getitem__(key)

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.log.append(("get", tuple(self.names), key))
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.log.append(("in", tuple(self.names), key))
        return super().__contains__(key)


def test_readers_look_up_only_declared_counters(
    real: tuple[VethHost, Appliance, Traffic], monkeypatch: pytest.MonkeyPatch
) -> None:
    """status, top, metrics and the API client read a real appliance's region;
    every counter they fetch by name is one its block has, and every name
    they probe for is one the C side (or Python's appliance block) declares."""
    _, app, _ = real
    log: list[tuple[str, tuple[str, ...], object]] = []
    snapshot, getitem = Counters.snapshot, Counters.__getitem__

    def looked_snapshot(self: Counters) -> dict[str, int]:
        return _Looked(self.names, snapshot(self), log)

    def looked_getitem(self: Counters, name: str) -> int:
        log.append(("get", tuple(self.names), name))
        return getitem(self, name)

    monkeypatch.setattr(Counters, "snapshot", looked_snapshot)
    monkeypatch.setattr(Counters, "__getitem__", looked_getitem)
    status.render_status(status.read_status(app.name, 0.05))
    status.run_top(app.name, 0.05, 1, lambda _: None)
    metrics.render_metrics(app.name)
    api.resolve_api(app.name, None, "t")
    declared = {n for _, names in appliance_counter_blocks().values() for n in names}
    declared |= set(status.APPLIANCE_COUNTERS)
    fetched = {key for kind, _, key in log if kind == "get"}
    assert {status.BUSY_COUNTER, status.RUNNING, "packets", "commands"} <= fetched  # it looked
    missing = [(key, names[:3]) for kind, names, key in log if kind == "get" and key not in names]
    assert missing == []
    assert {key for _, _, key in log} - declared == set()
