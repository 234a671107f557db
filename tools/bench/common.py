"""What every benchmark shares: priority, medians, the JSONL row format, the table.

A benchmark module is tools/bench/bench_<name>.py with a function
`run(ctx: BenchContext) -> list[Row]`.  `make bench BENCH=<name>` runs one;
`make bench` runs all.  Rows land in bench-results/<name>.jsonl, one JSON
object per line with the fields bench, case, metric, unit, value, peer,
peer_value, ratio (ratio > 1 means wirematch is better than the peer).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench-results"

# Units and which direction is better.
HIGHER_IS_BETTER = {"M/s": True, "ns": False, "instr": False, "us": False, "%core": False}


@dataclass
class Row:
    bench: str
    case: str
    metric: str
    unit: str
    value: float
    peer: str | None = None
    peer_value: float | None = None
    ratio: float | None = None

    def with_peer(self, peer: str, peer_value: float) -> Row:
        """Attach the peer's figure; ratio > 1 means wirematch is better."""
        self.peer = peer
        self.peer_value = peer_value
        if peer_value and self.value:
            better_high = HIGHER_IS_BETTER.get(self.unit, True)
            self.ratio = self.value / peer_value if better_high else peer_value / self.value
        return self


@dataclass
class BenchContext:
    name: str
    build_dir: Path
    repeats: int = 5

    def binary(self, prog: str) -> Path:
        path = self.build_dir / "bench" / prog
        if not path.exists():
            raise FileNotFoundError(f"{path} not built: run `make build`")
        return path


def raise_priority() -> str:
    """Give this process (and its children) the machine's attention.

    With sched_autogroup a nice value only ranks processes inside one
    autogroup, so the autogroup's own nice is set too.  Returns what was done.
    """
    done = []
    try:
        Path("/proc/self/autogroup").write_text("-20\n")
        done.append("autogroup -20")
    except OSError as exc:
        done.append(f"autogroup unchanged ({exc.strerror})")
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -20)
        done.append("nice -20")
    except OSError as exc:
        done.append(f"nice unchanged ({exc.strerror})")
    return ", ".join(done)


def _free_hugepages() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("HugePages_Free:"):
            return int(line.split()[1])
    return 0


@contextmanager
def hugepages_reserved(pages: int, mount: Path = Path("/dev/hugepages")) -> Iterator[str]:
    """At least `pages` free 2 MiB pages in a hugetlbfs mount for the
    duration (the appliance's shared memory region uses one when it has room,
    else /dev/shm); mounts hugetlbfs at `mount` if none is mounted and raises
    vm.nr_hugepages; both are put back afterwards.  Yields what was done (a
    machine that cannot, e.g. without root, runs on /dev/shm: said, not
    fatal)."""
    nr = Path("/proc/sys/vm/nr_hugepages")
    mounted = any(
        line.split()[2] == "hugetlbfs" for line in Path("/proc/mounts").read_text().splitlines()
    )
    before = int(nr.read_text())
    did_mount = False
    try:
        if not mounted:
            mount.mkdir(exist_ok=True)
            subprocess.run(["mount", "-t", "hugetlbfs", "none", str(mount)], check=True,
                           capture_output=True)  # fmt: skip
            did_mount = True
        free = _free_hugepages()
        if free < pages:
            nr.write_text(f"{before + pages - free}\n")
        said = f"{_free_hugepages()} free 2 MiB pages"
        if did_mount:
            said += " (hugetlbfs mounted)"
    except (OSError, subprocess.CalledProcessError) as exc:
        said = f"no huge pages ({exc}): shared memory on /dev/shm"
    try:
        yield said
    finally:
        if int(nr.read_text()) != before:
            nr.write_text(f"{before}\n")
        if did_mount:
            subprocess.run(["umount", "--lazy", str(mount)], capture_output=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def run_json_lines(cmd: Sequence[str], timeout: float = 600) -> list[dict]:
    """Run a benchmark program that prints one JSON object per line."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def write_rows(name: str, rows: Sequence[Row]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.jsonl"
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(asdict(row)) + "\n")
    return path


def format_table(rows: Sequence[Row]) -> str:
    def fmt(v: float | None) -> str:
        if v is None:
            return "-"
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"

    header = ("case", "metric", "unit", "wirematch", "peer", "peer value", "ratio")
    table = [header] + [
        (r.case, r.metric, r.unit, fmt(r.value), r.peer or "-", fmt(r.peer_value), fmt(r.ratio))
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in table
    )
