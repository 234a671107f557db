"""The monitoring that ships with the appliance (deploy/): the Prometheus
alert rules pass `promtool check rules` and their unit tests (`promtool test
rules`), and every metric the Grafana dashboard and the rules query is one a
real appliance exports (a scrape of `wirematch run` after some orders)."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import ROOT, needs
from tests.nic_helpers import loadgen_path
from tests.runinstance import Instance, run_instance

pytestmark = pytest.mark.no_sanitizer  # the appliance runs in a subprocess

DEPLOY = ROOT / "deploy"
METRIC = re.compile(r"\bwirematch_[a-z0-9_]+")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = needs.program("promtool", "apt: prometheus")
    return subprocess.run([exe, *args], cwd=DEPLOY / "prometheus", capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


def test_alert_rules_check_and_unit_tests() -> None:
    p = promtool("check", "rules", "alerts.yml")
    assert p.returncode == 0, p.stdout + p.stderr
    p = promtool("test", "rules", "alerts_test.yml")
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """Sample names of a real appliance's scrape after a few orders."""
    with run_instance(tmp_path_factory.mktemp("deploy")) as inst:
        send_orders(inst)
        with urllib.request.urlopen(f"http://{inst.metrics}/metrics", timeout=10) as r:
            body = r.read().decode()
    yield {ln.split("{")[0].split(" ")[0] for ln in body.splitlines() if ln.startswith("wirematch")}


def send_orders(inst: Instance) -> None:
    host, port = inst.order_entry
    subprocess.run(
        [str(loadgen_path()), "--dst", host, "--dport", str(port), "--sessions", "1",
         "--msgs", "4", "--count", "200", "--pps", "2000", "--hello",
         "--mix", "WMTA,WMTB", "--mid", "1000000", "--tick", "100"],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip


def queried(path: Path) -> set[str]:
    return set(METRIC.findall(path.read_text()))


def test_grafana_queries_name_exported_metrics(exported: set[str]) -> None:
    dash = json.loads((DEPLOY / "grafana" / "wirematch.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert exprs, "the dashboard has no queries"
    names = {m for e in exprs for m in METRIC.findall(e)}
    names |= set(METRIC.findall(json.dumps(dash["templating"])))
    missing = sorted(names - exported)
    assert not missing, f"the dashboard queries metrics no appliance exports: {missing}"


def test_alert_rules_name_exported_metrics(exported: set[str]) -> None:
    missing = sorted(queried(DEPLOY / "prometheus" / "alerts.yml") - exported)
    assert not missing, f"the alert rules query metrics no appliance exports: {missing}"


def test_the_check_would_catch_a_renamed_metric(exported: set[str]) -> None:
    assert "wirematch_rx_messages_total" in exported
    assert "wirematch_rx_message_total" not in exported
    assert "wirematch_engine_rx_to_match_seconds_bucket" in exported
