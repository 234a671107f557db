#!/usr/bin/env bash
# Install what wirematch needs on Debian 12, as root.  Idempotent and quiet
# when everything is already there; waits for a held apt/dpkg lock instead of
# failing.  Called by `make deps` (and so by `make test` and `make run`).
#
# The Python side lives in a project virtualenv, .venv/ (Debian's own Python
# is "externally managed" and refuses pip): the Makefile, .ci/run and the
# `wirematch` entry point (.venv/bin/wirematch) use it.  BASE_PYTHON names the
# interpreter that creates it (default: python3 on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_PYTHON=${BASE_PYTHON:-python3}
VENV=.venv
PYTHON=$VENV/bin/python
APT_PACKAGES=(
    build-essential pkg-config make gcc clang llvm libclang-rt-14-dev
    python3-venv python3-dev
    liburing-dev libxdp-dev libbpf-dev libpcap-dev bpftool xdp-tools
    libdpdk-dev dpdk dpdk-dev
    tshark tcpreplay ethtool iproute2 valgrind linux-perf tmux chromium
    python3-pyverbs ibverbs-providers librdmacm1
    prometheus
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps: missing Debian packages: ${missing[*]}" >&2
        echo "deps: run 'make deps' as root (or install them with apt-get) and try again" >&2
        exit 1
    fi
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer for it.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -q -y)
    for attempt in 1 2 3 4 5 6; do
        if apt-get "${apt_opts[@]}" update >/tmp/wirematch-apt-update.log 2>&1; then break; fi
        echo "deps: apt-get update failed (attempt $attempt, lock held?), retrying in 10 s" >&2
        sleep 10
    done
    apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}" >/tmp/wirematch-apt-install.log 2>&1 || {
        echo "deps: apt-get install failed; see /tmp/wirematch-apt-install.log" >&2
        tail -20 /tmp/wirematch-apt-install.log >&2
        exit 1
    }
    # prometheus is here for promtool (the metrics test); do not leave the
    # daemon its package enables running when this script installed it.
    if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi

# The project virtualenv.
if [ ! -x "$PYTHON" ]; then
    echo "deps: creating the project virtualenv $VENV ($("$BASE_PYTHON" --version 2>&1))"
    "$BASE_PYTHON" -m venv "$VENV"
fi

# pyverbs (RDMA discovery): Debian's build (python3-pyverbs, rdma-core 44)
# works from this Python once its package directory is importable; PyPI's
# needs rdma-core 59 system libraries, which Debian 12 does not have.  A .pth
# file in the virtualenv's site-packages does it.
site=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -d /usr/lib/python3/dist-packages/pyverbs ] && [ ! -f "$site/wirematch-pyverbs.pth" ]; then
    mkdir -p "$site/wirematch-pyverbs"
    ln -sfn /usr/lib/python3/dist-packages/pyverbs "$site/wirematch-pyverbs/pyverbs"
    echo "$site/wirematch-pyverbs" > "$site/wirematch-pyverbs.pth"
fi

# The Python package (editable, with the test tools).  `pip install -e .`
# builds the native core through the Makefile.
if ! "$PYTHON" - <<'PY' >/dev/null 2>&1
import importlib.metadata as md, pathlib, sys
import cffi, numpy, scapy, pyroute2, pytest, hypothesis, hdrh, prometheus_client, matplotlib  # noqa: F401
import ruff, meatpy, atheris  # noqa: F401
import wirematch.pipeline.cli  # noqa: F401  (the editable install maps the folders)
md.version("wirematch")
sys.exit(0 if pathlib.Path(sys.prefix, "bin", "wirematch").exists() else 1)
PY
then
    echo "deps: installing the wirematch Python package (editable) and its test tools"
    "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[dev]'
fi
