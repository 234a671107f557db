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


def test_sighup_rereads_an_edited_rules_file(tmp_path: Path) -> None:
    """The file the configuration names keeps its path; its content changed."""
    rules = tmp_path / "client.rules"
    with run_instance(tmp_path) as inst:
        text = inst.config.read_text()
        port = inst.order_entry[1]
        start = text.index("rules = '''")
        end = text.index("'''", start + len("rules = '''")) + 3
        rules.write_text(f"allow src 127.0.0.0/8 dport {port} proto udp as session 1\n")
        inst.config.write_text(text[:start] + f'rules_file = "{rules}"' + text[end:])
        # The running instance first learns the path (flows.rules_file is a
        # live key), then only the file's content changes.
        inst.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        rules.write_text(rules.read_text() + "deny src 127.0.0.99\n")
        inst.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        inst.proc.send_signal(signal.SIGTERM)
        _, err = inst.proc.communicate(timeout=30)
    reloads = [ln for ln in err.splitlines() if "flow rules reloaded" in ln]
    assert len(reloads) == 2 and "(2 rules)" in reloads[1], err
    assert "has no changes" not in err, err
