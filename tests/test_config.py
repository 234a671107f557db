"""The appliance config: defaults, every invalid case names its key, the docs
match the declarations, the CLI subcommands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wirematch.pipeline import config as cf

ROOT = Path(__file__).resolve().parents[1]


def with_changes(text: str, section: str, key: str, value: str, index: int = 0) -> str:
    """The default config with `key = value` set in the index-th `section` table
    (the multi-line rules string is first folded onto one line)."""
    text = re.sub(r"'''\n(.*?)\n'''", lambda m: repr(m.group(1)), text, flags=re.S)
    out, seen, inside, done = [], -1, False, False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            if inside and not done:
                out.append(f"{key} = {value}")
                done = True
            name = stripped.strip("[]")
            inside = name == section and (seen := seen + 1) == index
        if inside and not done and stripped.split("=")[0].strip() == key:
            line, done = f"{key} = {value}", True
        out.append(line)
    if inside and not done:
        out.append(f"{key} = {value}")
    return "\n".join(out) + "\n"


def test_default_config_loads() -> None:
    cfg = cf.default_config()
    assert cfg["appliance"]["name"] == "wirematch"
    assert cfg["instruments"][1]["lot_size"] == 100
    assert cfg["flows"]["capacity"] == 65536  # default filled
    assert cfg["matcher"]["cmd_ring"] == 1 << 14
    assert len(cfg.rules.rules) == 1


@pytest.mark.parametrize(
    ("section", "key", "value", "path", "message"),
    [
        ("instruments", "tick_size", "0", "instruments[1].tick_size", "must be > 0, got 0"),
        ("instruments", "id", "1", "instruments[1].id", "is also instruments[0].id"),
        ("instruments", "symbol", '"WMTA"', "instruments[1].symbol", "is also instruments[0]"),
        ("instruments", "symbol", '"TOOLONGSYM"', "instruments[1].symbol", "1..8 characters"),
        ("instruments", "max_qty", "50", "instruments[1].max_qty", "must be >= min_qty"),
        ("instruments", "ref_price", "250001", "instruments[1].ref_price", "multiple of tick_size"),
        ("instruments", "lot_size", '"x"', "instruments[1].lot_size", "must be an integer"),
        ("instruments", "bogus", "1", "instruments[1].bogus", "unknown key"),
        ("matcher", "cmd_ring", "1000", "matcher.cmd_ring", "power of two"),
        ("matcher", "idle", '"nap"', "matcher.idle", "must be one of spin"),
        (
            "matcher",
            "idle_max_sleep_us",
            "0",
            "matcher.idle_max_sleep_us",
            "must be 1..1000000, got 0",
        ),
        ("matcher", "burst", "true", "matcher.burst", "must be an integer"),
        ("interfaces", "backend", '"carrier-pigeon"', "interfaces[0].backend", "unknown backend"),
        ("interfaces", "address", '"10.0.0.1"', "interfaces[0].address", "address:port"),
        ("interfaces", "rx_cores", "[999]", "interfaces[0].rx_cores", "core 999 is not available"),
        ("interfaces", "rx_cores", "[0, 0]", "interfaces[0].rx_cores", "one core per queue"),
        ("market_data", "destination", '"239.1.1.1:0"', "market_data.destination", "1..65535"),
        ("metrics", "address", '"nowhere:80"', "metrics.address", "not an IPv4 address"),
        ("appliance", "shm_size", "4096", "appliance.shm_size", "must be >= 1048576"),
        (
            "appliance",
            "shm_size",
            str(1 << 40),
            "appliance.shm_size",
            "more than half of this machine's memory",
        ),
        ("appliance", "shm_group", '"no-such-group-x"', "appliance.shm_group", "no group named"),
        ("api", "address", '"0.0.0.0:8780"', "api.address", "not a loopback address"),
        ("sessions", "id", "-1", "sessions[0].id", "must be 0..65535"),
        (
            "flows",
            "rules",
            "'allow src 10.0.0.1 as session 9'",
            "flows.rules",
            "session 9 is not declared",
        ),
        ("flows", "rules", "'allow src 10.0.0.1'", "flows.rules", "line 1: allow needs"),
        ("flows", "idle_timeout", "0", "flows.idle_timeout", "must be > 0"),
        ("flows", "rules_file", '"missing.rules"', "flows.rules_file", "rules or rules_file"),
        ("flows", "slow_path_ring", "100", "flows.slow_path_ring", "power of two"),
    ],
)
def test_invalid_values_name_their_key(
    section: str, key: str, value: str, path: str, message: str
) -> None:
    index = 1 if section == "instruments" else 0
    text = with_changes(cf.DEFAULT_TOML, section, key, value, index)
    with pytest.raises(cf.ConfigError) as exc:
        cf.parse_config(text)
    assert exc.value.path == path
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)


def test_structural_errors() -> None:
    with pytest.raises(cf.ConfigError, match=r"^routing: unknown section"):
        cf.parse_config(cf.DEFAULT_TOML + "\n[routing]\nx = 1\n")
    with pytest.raises(cf.ConfigError, match="not valid TOML"):
        cf.parse_config("[appliance\n")
    with pytest.raises(cf.ConfigError, match=r"^instruments\[0\]\.ref_price: is required"):
        cf.parse_config('[[interfaces]]\nname="lo"\n[[instruments]]\nsymbol="A"\nid=1\n')
    with pytest.raises(cf.ConfigError, match=r"^interfaces: at least one"):
        cf.parse_config('[[instruments]]\nsymbol="A"\nid=1\nref_price=5\n')


def test_rules_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "client.rules").write_text(
        "deny src 10.0.0.66\nallow src 10.0.0.0/8 as session 1\n"
    )
    text = with_changes(cf.DEFAULT_TOML, "flows", "rules", "''")
    text = with_changes(text, "flows", "rules_file", '"client.rules"')
    (tmp_path / "wm.toml").write_text(text)
    cfg = cf.load_config(tmp_path / "wm.toml")
    assert len(cfg.rules.rules) == 2
    (tmp_path / "client.rules").write_text("allow src 10.0.0.0/8 as sesion 1\n")
    with pytest.raises(cf.ConfigError, match=r"^flows.rules_file: line 1: expected 'session'"):
        cf.load_config(tmp_path / "wm.toml")


def test_docs_are_generated_from_the_declarations() -> None:
    doc = (ROOT / "docs" / "config.md").read_text()
    assert doc == cf.config_markdown(), (
        "regenerate: .venv/bin/python -m wirematch.pipeline.config --markdown > docs/config.md"
    )
    for sec in cf.SECTIONS:
        for key in sec.keys:
            assert f"| `{key.name}` |" in doc and key.doc


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "wirematch", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_cli_config_commands(tmp_path: Path) -> None:
    out = run_cli("config", "default")
    assert out.returncode == 0 and out.stdout == cf.DEFAULT_TOML
    good = tmp_path / "good.toml"
    good.write_text(out.stdout)
    ok = run_cli("config", "check", str(good), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    bad = tmp_path / "bad.toml"
    bad.write_text(with_changes(cf.DEFAULT_TOML, "matcher", "event_ring", "3"))
    res = run_cli("config", "check", str(bad), "--json")
    assert res.returncode == 1 and json.loads(res.stdout)["key"] == "matcher.event_ring"
    res = run_cli("config", "check", str(bad))
    assert res.returncode == 1 and "matcher.event_ring: must be a power of two" in res.stderr
