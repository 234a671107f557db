"""The Prometheus exporter: scraped over HTTP from a region laid out as a
running instance's (the C side's counter blocks, values the tests choose) and
from a real appliance that saw known traffic; values checked, the body checked
by `promtool check metrics`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests import needs, opsregion
from tests.appliance_host import appliance_with_traffic
from wirematch.pipeline.native.shm import Region
from wirematch.pipeline.ops.metrics import (
    counter_metric,
    metric_name,
    parse_address,
    serve_metrics,
)


@pytest.fixture
def ops(shm_name: str) -> Iterator[opsregion.OpsRegion]:
    o = opsregion.build(shm_name)
    yield o
    o.close()


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return resp.read().decode()


def _samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _v(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _promtool(body: str) -> None:
    promtool = needs.program("promtool", "Debian package prometheus")
    p = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, f"promtool check metrics: {p.stdout}{p.stderr}"
    assert p.stdout.strip() == "" and p.stderr.strip() == "", p.stdout + p.stderr  # no lint


def test_scrape_values_and_promtool(ops: opsregion.OpsRegion, shm_name: str) -> None:
    with serve_metrics(shm_name, "127.0.0.1:0") as server:
        body = _scrape(server.url)
        s = _samples(body)
        assert _v(s, "wirematch_up") == 1
        info = [k for k in s if k[0] == "wirematch_instance_info"]
        assert len(info) == 1 and ("name", shm_name) in info[0][1]
        assert ("backend", "socket") in info[0][1]
        assert _v(s, "wirematch_rx_packets_total", queue="0") == 1000
        assert _v(s, "wirematch_engine_commands_total", shard="0") == 990
        assert _v(s, "wirematch_rx_drops_total", queue="0", reason="short_frame") == 3
        assert _v(s, "wirematch_rx_drops_total", queue="0", reason="flow_denied") == 7
        assert _v(s, "wirematch_engine_drops_total", shard="0", reason="bad_ouch") == 0
        assert _v(s, "wirematch_nic_rx_packets_total", queue="0") == 1000
        assert _v(s, "wirematch_rx_busy_cycles_total", queue="0") == 200_000
        busy = _v(s, "wirematch_rx_busy_seconds_total", queue="0")
        assert 200_000 / 10e9 < busy < 200_000 / 0.5e9  # cycles at a plausible TSC rate

        lat = "wirematch_engine_rx_to_match_seconds"
        assert _v(s, lat + "_count", shard="0") == 1000
        assert _v(s, lat + "_sum", shard="0") == pytest.approx(sum(range(100, 1100)) * 1e-9)
        # Histograms with buckets (cumulative): 100..1099 ns, one sample each.
        assert _v(s, lat + "_bucket", shard="0", le="+Inf") == 1000
        assert _v(s, lat + "_bucket", shard="0", le="2.5e-07") == pytest.approx(151, abs=4)
        assert _v(s, lat + "_bucket", shard="0", le="5e-07") == pytest.approx(401, abs=8)
        assert _v(s, lat + "_bucket", shard="0", le="1e-06") == pytest.approx(901, abs=16)
        assert _v(s, lat + "_bucket", shard="0", le="2e-06") == 1000
        reply = "wirematch_tx_rx_to_reply_seconds_bucket"
        assert _v(s, reply, queue="0", le="2e-06") == 0
        assert _v(s, reply, queue="0", le="1e-05") == 990
        assert _v(s, "wirematch_rx_batch_bucket", queue="0", le="8") == 5
        assert _v(s, "wirematch_rx_batch_bucket", queue="0", le="32") == 35
        assert _v(s, "wirematch_rx_batch_count", queue="0") == 35

        assert _v(s, "wirematch_ring_used_elements", ring="out.q0") == 512
        assert _v(s, "wirematch_ring_capacity_elements", ring="out.q0") == 512
        assert _v(s, "wirematch_ring_enqueue_refused_total", ring="out.q0") == 3
        assert _v(s, "wirematch_ring_used_elements", ring="in.s0") == 10
        assert _v(s, "wirematch_flow_table_flows") == 3
        assert _v(s, "wirematch_flow_table_max_flows") == 64
        assert _v(s, "wirematch_flow_table_inserts_total") == 3
        sessions = {dict(k[1])["session"] for k in s if k[0] == "wirematch_session_flows"}
        assert sessions, "no per-session gauges"
        for sid in sessions:
            assert _v(s, "wirematch_session_packets_total", session=sid) >= 0
        workers = {dict(k[1])["worker"]: dict(k[1]) for k in s if k[0] == "wirematch_worker_info"}
        assert workers["engine0"]["core"] == "1" and workers["rx0"]["stages"] == "rx.q0,tx.q0"

        # The next scrape sees what the data plane did since.
        ops.counters["rx.q0"].add("drop_short_frame", 5)
        s = _samples(_scrape(server.url))
        assert _v(s, "wirematch_rx_drops_total", queue="0", reason="short_frame") == 8
    _promtool(body)


def test_no_instance_then_a_started_one(shm_name: str) -> None:
    with serve_metrics(shm_name, "127.0.0.1:0") as server:
        body = _scrape(server.url)
        assert _samples(body) == {("wirematch_up", frozenset()): 0}
        _promtool(body)
        o = opsregion.build(shm_name)  # an instance starts: the next scrape finds it
        try:
            assert _v(_samples(_scrape(server.url)), "wirematch_up") == 1
        finally:
            o.close()
        Region.unlink(shm_name)
        assert _v(_samples(_scrape(server.url)), "wirematch_up") == 0
        url = server.url
    with pytest.raises(urllib.error.URLError):  # closed: nothing listens any more
        urllib.request.urlopen(url, timeout=5)


def test_stopped_instance_is_down(ops: opsregion.OpsRegion, shm_name: str) -> None:
    appliance = ops.counters["appliance"]
    appliance.values[appliance.names.index("running")] = 0  # the appliance stopped
    with serve_metrics(shm_name, "127.0.0.1:0") as server:
        s = _samples(_scrape(server.url))
    assert _v(s, "wirematch_up") == 0
    assert _v(s, "wirematch_rx_packets_total", queue="0") == 1000  # still readable


def test_names_and_addresses() -> None:
    assert metric_name("rx", "drop-x") == "wirematch_rx_drop_x"
    assert parse_address("127.0.0.1:9108") == ("127.0.0.1", 9108)
    assert parse_address("[::1]:0") == ("::1", 0)
    for bad in ("9108", "host:", "host:99999", "host:x"):
        with pytest.raises(ValueError, match="expected host:port"):
            parse_address(bad)


def test_metrics_command_prints_one_scrape(ops: opsregion.OpsRegion, shm_name: str) -> None:
    from tests import ROOT

    p = subprocess.run(
        [sys.executable, "-m", "wirematch", "metrics", "--name", shm_name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert _v(_samples(p.stdout), "wirematch_rx_packets_total", queue="0") == 1000


def test_bad_blobs_are_reported_not_fatal(
    shm_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from wirematch.pipeline.cli import main
    from wirematch.pipeline.ops import status

    with Region.create(shm_name, size=1 << 20, hugepages=False) as r:
        r.create_counters("appliance", ["running"]).add("running", 1)
        r.create_counters("rx.q0", ["packets", "busy_cycles"]).add("packets", 4)
        opsregion.write_blob(r, "instance", b"{not json", 256)
        opsregion.write_blob(r, "flows", b"not a flow table", 4096)
        report = status.read_status(shm_name, 0)
        assert report["instance"]["error"].startswith("instance blob is not JSON")
        assert "(instance blob is not JSON" in status.render_status(report)
        assert main(["flows", "--name", shm_name]) == 1
        assert "blob 'flows' is not a valid flow table" in capsys.readouterr().err
        with serve_metrics(shm_name, "127.0.0.1:0") as server:
            body = _scrape(server.url)
        s = _samples(body)
        assert _v(s, "wirematch_up") == 1 and _v(s, "wirematch_rx_packets_total", queue="0") == 4
        assert not any(k[0].startswith(("wirematch_instance", "wirematch_flow_table")) for k in s)
        _promtool(body)


def test_scrape_of_a_real_appliance() -> None:
    with appliance_with_traffic(f"wmopsmx{os.getpid()}") as (_, app, t):
        with serve_metrics(app.name, "127.0.0.1:0") as server:
            body = _scrape(server.url)
        c = app.counters()  # nothing arrives meanwhile: the scrape's values
        s = _samples(body)
        assert _v(s, "wirematch_up") == 1
        assert _v(s, "wirematch_rx_drops_total", queue="0", reason="flow_denied") == 3
        assert _v(s, "wirematch_engine_messages_total", shard="0") == t.sent
        assert _v(s, "wirematch_matcher_commands_total", shard="0", type="new") == t.sent
        for stage, block in (("rx", "rx.q0"), ("tx", "tx.q0"), ("nic", "nic.q0")):
            for name, value in c[block].items():
                base, labels, _ = counter_metric(stage, name) or ("", {}, "")
                assert _v(s, f"wirematch_{base}_total", queue="0", **labels) == value, name
        families = {k[0].removesuffix("_total").removesuffix("_bucket") for k in s}
        families = {f.removesuffix("_count").removesuffix("_sum") for f in families}
        # One metric per reason family, the reason a label: no per-reason names,
        # no stage named twice (gateway_gw_...).
        assert not [f for f in families if re.search(r"_(drop|reject|cancel|cmd)_", f)], families
        assert not [f for f in families if "_gw_" in f or "_mold_" in f], families
        assert not [f for f in families if "slowpath_slow_path" in f], families
        assert _v(s, "wirematch_matcher_rejects_total", shard="0", reason="unknown_order") >= 0
        assert _v(s, "wirematch_gateway_drops_total", shard="0", stream="in",
                  reason="unknown_session") == 0  # fmt: skip
        assert _v(s, "wirematch_codec_drops_total", queue="0", protocol="mold",
                  reason="short_header") == 0  # fmt: skip
        assert _v(s, "wirematch_engine_busy_seconds_total", shard="0") > 0
        assert _v(s, "wirematch_engine_rx_to_match_seconds_count", shard="0") == t.sent
        workers = [dict(k[1]) for k in s if k[0] == "wirematch_worker_info"]
        assert [w["stages"] for w in workers] == ["rx.q0,engine.s0"]
    _promtool(body)
