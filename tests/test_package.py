"""The package as a new user gets it: `pip install <checkout>` into a fresh
virtualenv outside the checkout, then the commands run from elsewhere, with
nothing of the source tree in reach.

The fresh virtualenv sees the project virtualenv's third-party packages (a
path line in a .pth file: their .pth hooks, among them the editable install's,
are not run), so the test does not download numpy and friends again; the
checkout itself is never on its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests import ROOT

pytestmark = pytest.mark.no_sanitizer  # runs pip and the appliance in subprocesses


def run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIREMATCH_", "PYTHON"))}
    env.pop("LD_PRELOAD", None)
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages"))
    assert found, f"no site-packages in {venv}"
    return found[0]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """A fresh venv with `pip install <checkout>`; what the install added."""
    base = tmp_path_factory.mktemp("pkg")
    venv = base / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=base)
    site = site_packages(venv)
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    before = {p.name for p in site.iterdir()}
    run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            str(ROOT),
        ],
        cwd=base,
    )
    added = {p.name for p in site.iterdir()} - before - {"__pycache__"}
    return venv, added


def test_the_install_adds_only_the_wirematch_package(installed: tuple[Path, set[str]]) -> None:
    _, added = installed
    dist = {n for n in added if n.endswith(".dist-info")}
    assert added - dist == {"wirematch"}, f"site-packages gained {sorted(added)}"
    assert len(dist) == 1 and next(iter(dist)).startswith("wirematch-")


def test_the_package_carries_its_native_parts(installed: tuple[Path, set[str]]) -> None:
    venv, _ = installed
    native = site_packages(venv) / "wirematch" / "_native"
    for rel in ("libwirematch.so", "tools/loadgen", "tools/wm_replay"):
        assert (native / rel).is_file(), f"{rel} missing from the installed package"
    assert list((native / "python").glob("_wirematch_cffi*.so")), "no cffi extension"
    code = (
        "import wirematch.pipeline.native as n, wirematch.pipeline.protocols.layers, "
        "wirematch.replay.gen; print(n.native_dir())"
    )
    out = run([str(venv / "bin" / "python"), "-c", code], cwd=venv).stdout.strip()
    assert out == str(native), f"the native parts load from {out}, not from the package"


@pytest.mark.parametrize(
    "argv",
    [["clock", "--seconds", "0.1", "--json"], ["config", "default"], ["nic", "list", "--json"]],
    ids=["clock", "config-default", "nic-list"],
)
def test_commands_run_from_the_installed_package(
    installed: tuple[Path, set[str]], argv: list[str]
) -> None:
    venv, _ = installed
    run([str(venv / "bin" / "wirematch"), *argv], cwd=venv)


def test_config_check_and_replay_gen_from_the_installed_package(
    installed: tuple[Path, set[str]], tmp_path: Path
) -> None:
    venv, _ = installed
    exe = str(venv / "bin" / "wirematch")
    cfg = tmp_path / "app.toml"
    cfg.write_text(run([exe, "config", "default"], cwd=tmp_path).stdout)
    out = run([exe, "config", "check", str(cfg), "--json"], cwd=tmp_path).stdout
    assert json.loads(out)["ok"] is True
    run([exe, "replay", "gen", str(tmp_path / "f.pcap"), "--packets", "200"], cwd=tmp_path)
    assert (tmp_path / "f.pcap").stat().st_size > 0


def test_demo_runs_from_the_installed_package(installed: tuple[Path, set[str]]) -> None:
    venv, _ = installed
    if os.geteuid() != 0:
        pytest.fail("the demo's veth pair needs root (run the suite as root)", pytrace=False)
    out = run(
        [str(venv / "bin" / "wirematch"), "demo", "--seconds", "1", "--json"], cwd=venv
    ).stdout
    summary = json.loads(out)
    assert summary, "the demo printed no summary"


def test_pip_wheel_is_a_platform_wheel(tmp_path: Path) -> None:
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        cwd=tmp_path,
    )
    wheels = list(tmp_path.glob("wirematch-*.whl"))
    assert len(wheels) == 1, wheels
    assert not wheels[0].name.endswith("-none-any.whl"), wheels[0].name
    names = zipfile.ZipFile(wheels[0]).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"wirematch"}, tops
    assert "wirematch/_native/libwirematch.so" in names
    assert "wirematch/pipeline/protocols/layers.py" in names
