"""`make fuzz-campaign`: run every libFuzzer target of native/fuzz for a set
number of executions (or seconds), merge what it found into the saved corpus
minimised, and write a summary table.  docs/fuzzing.md describes the steps
and the table.

Per target <t> (binary build/fuzz/<t>, built by make), under
build/fuzz/campaign/<t>/:
  1. fuzz: new inputs go to new/, seeded from native/fuzz/corpus/<t>;
     artifacts (crash-, leak-, timeout-, oom-) to artifacts/; log in fuzz.log;
  2. merge: libFuzzer -merge=1 of the saved corpus and new/ into merged/
     (smallest inputs first, each kept only if it adds a feature: an edge or
     an edge's hit-count bucket), which replaces the saved corpus; when that
     keeps more than --max-files inputs, the merge is redone on edges alone
     (-use_counters=0: every edge still covered, fewer inputs).  Files named
     regress-* (inputs that once crashed) are kept whatever they add;
  3. replay the saved corpus once (-runs=0): its coverage.
Exit status 1 if any target left an artifact or a step failed.

Standard library only; no project imports.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ_SRC = ROOT / "native" / "fuzz"
CORPUS = FUZZ_SRC / "corpus"
BIN_DIR = ROOT / "build" / "fuzz"
# The Python parsers' targets (atheris, same libFuzzer flags): the script is
# the binary, its corpus beside it.
PY_FUZZ = ROOT / "tools" / "fuzz"
ARTIFACT_PREFIXES = ("crash-", "leak-", "timeout-", "oom-", "slow-unit-")
REGRESS_PREFIX = "regress-"

# "#123 DONE   cov: 1105 ft: 4378 corp: 440/245Kb ..." (also INITED, NEW, pulse)
STATUS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+)")
STAT = re.compile(r"^stat::(\w+):\s+(\d+)")
MERGE = re.compile(
    r"MERGE-OUTER: (\d+) new files with (\d+) new features added; (\d+) new coverage edges"
)


@dataclass
class Result:
    target: str
    executions: int = 0
    exec_per_sec: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    cov: int = 0
    ft: int = 0
    corpus_before: int = 0
    corpus_after: int = 0
    corpus_bytes: int = 0
    corpus_cov: int = 0
    corpus_ft: int = 0
    merge_new_files: int = 0
    merge_on: str = "features"
    crashes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def rel(p: Path) -> str:
    """p relative to the repository when inside it."""
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def targets() -> list[str]:
    c = {p.stem for p in FUZZ_SRC.glob("fuzz_*.c")}
    return sorted(c | {p.stem for p in PY_FUZZ.glob("fuzz_*.py")})


def binary_of(t: str) -> Path:
    py = PY_FUZZ / f"{t}.py"
    return py if py.is_file() else BIN_DIR / t


def corpus_of(t: str) -> Path:
    return (PY_FUZZ / "corpus" / t) if (PY_FUZZ / f"{t}.py").is_file() else CORPUS / t


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)  # the targets are instrumented themselves
    # The Python targets' `#!/usr/bin/env python3` is this interpreter (the
    # project's virtualenv, which has atheris and the package).
    e["PATH"] = f"{Path(sys.executable).parent}:{e.get('PATH', '')}"
    return e


def children_cpu() -> float:
    """CPU seconds (user + system) of the children waited for so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_logged(cmd: list[str], log: Path) -> tuple[int, list[str]]:
    """Run cmd with stdout and stderr to log; its exit status and lines."""
    with log.open("w") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.run(
            cmd, stdout=f, stderr=subprocess.STDOUT, env=env(), check=False
        ).returncode
    return rc, log.read_text(errors="replace").splitlines()


def last_status(lines: list[str]) -> tuple[int, int, int]:
    """(units, cov, ft) of the last libFuzzer status line."""
    units = cov = ft = 0
    for ln in lines:
        m = STATUS.match(ln)
        if m:
            units, cov, ft = int(m.group(1)), int(m.group(3)), int(m.group(4))
    return units, cov, ft


def files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


def merge(
    binary: Path, saved: Path, new: Path, merged: Path, timeout: int, log: Path, edges_only: bool
) -> int | None:
    """Merge saved and new into an emptied merged/ (regress-* files first):
    the number of files the merge added, or None if it failed."""
    shutil.rmtree(merged)
    merged.mkdir()
    for p in files(saved):
        if p.name.startswith(REGRESS_PREFIX):
            shutil.copy2(p, merged / p.name)
    cmd = [str(binary), "-merge=1", f"-timeout={timeout}"]
    if edges_only:
        cmd.append("-use_counters=0")
    rc, lines = run_logged(cmd + [str(merged), str(saved), str(new)], log)
    m = next((MERGE.search(ln) for ln in lines if MERGE.search(ln)), None)
    return int(m.group(1)) if rc == 0 and m is not None else None


def fuzz_one(
    t: str, runs: int, seconds: int | None, out: Path, timeout: int, max_files: int
) -> Result:
    r = Result(t)
    binary = binary_of(t)
    saved = corpus_of(t)
    work = out / t
    if work.exists():
        shutil.rmtree(work)
    new, merged, artifacts = work / "new", work / "merged", work / "artifacts"
    for d in (new, merged, artifacts):
        d.mkdir(parents=True)
    saved.mkdir(parents=True, exist_ok=True)
    r.corpus_before = len(files(saved))

    # 1. fuzz
    cmd = [
        str(binary),
        f"-runs={runs}",
        "-print_final_stats=1",
        f"-timeout={timeout}",
        f"-artifact_prefix={artifacts}/",
    ]
    if seconds:
        cmd.append(f"-max_total_time={seconds}")
    cmd += [str(new), str(saved)]
    print(
        f"fuzz-campaign: {t}: fuzzing ({runs} runs" + (f" or {seconds} s" if seconds else "") + ")",
        flush=True,
    )
    t0, c0 = time.monotonic(), children_cpu()
    rc, lines = run_logged(cmd, work / "fuzz.log")
    r.seconds = time.monotonic() - t0
    r.cpu_seconds = children_cpu() - c0
    units, r.cov, r.ft = last_status(lines)
    stats = {m.group(1): int(m.group(2)) for m in map(STAT.match, lines) if m}
    r.executions = stats.get("number_of_executed_units", units)
    # libFuzzer's figure is over whole seconds (0 for a run under one).
    r.exec_per_sec = stats.get("average_exec_per_sec", 0) or int(
        r.executions / max(r.seconds, 1e-9)
    )
    r.crashes = [rel(p) for p in files(artifacts) if p.name.startswith(ARTIFACT_PREFIXES)]
    if rc != 0 and not r.crashes:
        r.errors.append(f"fuzzing exited {rc} (see {rel(work / 'fuzz.log')})")

    # 2. merge, minimised, into the saved corpus.  regress-* files go into
    # merged/ first: libFuzzer keeps what the output directory holds and
    # counts its features as already covered.
    print(f"fuzz-campaign: {t}: merging", flush=True)
    m = merge(binary, saved, new, merged, timeout, work / "merge.log", edges_only=False)
    if m is not None and len(files(merged)) > max_files:
        r.merge_on = "edges"
        m = merge(binary, saved, new, merged, timeout, work / "merge_edges.log", edges_only=True)
    if m is None:
        r.errors.append(f"merge failed (see {rel(work)}/merge*.log); saved corpus kept")
    else:
        r.merge_new_files = m
        for p in files(saved):
            p.unlink()
        for p in files(merged):
            shutil.copy2(p, saved / p.name)
    kept = files(saved)
    r.corpus_after = len(kept)
    r.corpus_bytes = sum(p.stat().st_size for p in kept)

    # 3. the saved corpus's own coverage
    rc, lines = run_logged(
        [str(binary), "-runs=0", f"-timeout={timeout}", str(saved)], work / "replay.log"
    )
    if rc != 0:
        r.errors.append(f"replaying the saved corpus exited {rc} (see {rel(work / 'replay.log')})")
    _, r.corpus_cov, r.corpus_ft = last_status(lines)
    return r


HEADER = (
    "| target | executions | exec/s | exec/CPU s | time (s) | cov | ft "
    "| corpus files (before → after) "
    "| corpus KiB | corpus cov / ft | crashes |"
)
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"


def table(results: list[Result]) -> str:
    rows = [HEADER, RULE]
    for r in results:
        crashes = ", ".join(f"`{c}`" for c in r.crashes) if r.crashes else "0"
        on_edges = " (edges)" if r.merge_on == "edges" else ""
        rows.append(
            f"| {r.target} | {r.executions:,} | {r.exec_per_sec:,} "
            f"| {int(r.executions / max(r.cpu_seconds, 1e-9)):,} | {r.seconds:.0f} "
            f"| {r.cov} | {r.ft} | {r.corpus_before} → {r.corpus_after}{on_edges} "
            f"| {r.corpus_bytes / 1024:.1f} "
            f"| {r.corpus_cov} / {r.corpus_ft} | {crashes} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--runs", type=int, default=100_000_000, help="executions per target (default 10^8)"
    )
    ap.add_argument(
        "--seconds", type=int, default=0, help="time per target instead (0: no time limit)"
    )
    ap.add_argument(
        "--targets", default="", help="comma-separated subset (default: every native/fuzz target)"
    )
    ap.add_argument(
        "--timeout", type=int, default=10, help="seconds one input may take (libFuzzer -timeout)"
    )
    ap.add_argument(
        "--max-files",
        type=int,
        default=300,
        help="most inputs a merge on features may keep before it is redone on edges",
    )
    ap.add_argument("--out", type=Path, default=BIN_DIR / "campaign")
    args = ap.parse_args(argv)
    names = targets()
    if args.targets:
        wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            print(
                f"fuzz-campaign: no such target: {', '.join(unknown)} (have {', '.join(names)})",
                file=sys.stderr,
            )
            return 2
        names = wanted
    missing = [t for t in names if not binary_of(t).is_file()]
    if missing:
        print(
            f"fuzz-campaign: not built: {', '.join(missing)} (make fuzz-campaign builds them)",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results = [
        fuzz_one(t, args.runs, args.seconds or None, args.out, args.timeout, args.max_files)
        for t in names
    ]
    text = table(results)
    limit = (
        f"{args.runs:,} executions"
        + (f" or {args.seconds} s" if args.seconds else "")
        + " per target"
    )
    (args.out / "summary.md").write_text(
        f"Fuzz campaign, {limit}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n" + text
    )
    (args.out / "summary.json").write_text(
        json.dumps([asdict(r) for r in results], indent=2) + "\n"
    )
    print()
    print(text, end="")
    print(f"\nfuzz-campaign: summary in {rel(args.out / 'summary.md')} and summary.json")
    bad = False
    for r in results:
        for c in r.crashes:
            bad = True
            print(
                f"fuzz-campaign: {r.target}: artifact {c} (reproduce: build/fuzz/{r.target} {c})",
                file=sys.stderr,
            )
        for e in r.errors:
            bad = True
            print(f"fuzz-campaign: {r.target}: {e}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
