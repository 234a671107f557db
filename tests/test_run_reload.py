"""SIGHUP on `wirematch run`: the flow rules are re-read and applied, and
every other change is named as not applied (it needs a restart) instead of
being ignored under a "rules reloaded" line."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.runinstance import run_instance

pytestmark = pytest.mark.no_sanitizer  # the appliance runs in a subprocess


def test_sighup_applies_rules_and_names_what_needs_a_restart(tmp_path: Path) -> None:
    with run_instance(tmp_path) as inst:
        text = inst.config.read_text()
        assert "band = 10000" in text
        text = text.replace("band = 10000", "band = 5000", 1)
        text = text.replace("rules = '''\n", "rules = '''\ndeny src 127.0.0.99\n", 1)
        inst.config.write_text(text)
        inst.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        inst.proc.send_signal(signal.SIGTERM)
        _, err = inst.proc.communicate(timeout=30)
    assert "SIGHUP: flow rules reloaded from" in err and "(2 rules)" in err, err
    line = next(ln for ln in err.splitlines() if "NOT applied" in ln)
    assert "need a restart" in line and ".band 10000 -> 5000" in line, line
    assert "flows.rules" not in line, line
