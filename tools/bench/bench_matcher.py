"""`make bench BENCH=matcher`: the matching engine on one pinned core.

Runs build/<variant>/bench/matcher_bench (workload in its header and in
docs/matching.md): throughput (median M commands/s over the repeats),
per-command latency p50/p99/p99.9 by command type from TSC (medians over the
repeats) measured two ways -- `<kind>_p99`: inside bursts of 32 commands (the
ring worker's dequeue size, prefetching across the burst), from stamps taken
between commands in a bench-only build of the matcher; `<kind>_p99_alone`:
one command per wm_matcher_apply call, no prefetch -- and instructions per
command from callgrind on a smaller run, only the mixed phase instrumented.
No peer engine is installed on this machine, so the engine rows have no peer.
Two variants run interleaved with the default in every repeat (same seed,
same workload) and carry it as their peer: the matcher without the hash and
LEVEL events (`--options 3`, checked against the generator's final book),
and the portable build (`make matcher-lib VARIANT=portable`, -march=x86-64,
the scalar hash) against this x86-64-v3 one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tools.bench.common import BenchContext, Row, median, run_json_lines

KINDS = ("add", "cancel", "replace", "aggressive")
CALLGRIND_ARGS = ["--orders", "100000", "--levels", "100", "--cmds", "200000"]


def _cpu() -> int:
    """The highest CPU this process may use (CPU 0 takes most interrupts)."""
    return max(os.sched_getaffinity(0))


def _callgrind_ir(binary: Path, cpu: int) -> tuple[float, int]:
    """Total instructions of the instrumented phase and the command count."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}",
            str(binary),
            "--mode",
            "callgrind",
            "--cpu",
            str(cpu),
            *CALLGRIND_ARGS,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"callgrind run failed:\n{proc.stderr[-2000:]}")
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if not any('"instrumented": true' in line for line in lines):
            raise RuntimeError("matcher_bench was built without valgrind/callgrind.h")
        text = out.read_text()
        # With --instr-atstart=no the "summary:" line may be 0; "totals:" sums
        # the instrumented part.
        m = re.search(r"^totals:\s+(\d+)", text, re.M) or re.search(
            r"^summary:\s+(\d+)", text, re.M
        )
        if m is None or int(m.group(1)) == 0:
            raise RuntimeError("no totals line in the callgrind output")
        return float(m.group(1)), int(CALLGRIND_ARGS[CALLGRIND_ARGS.index("--cmds") + 1])


def _check_run(rec: dict) -> None:
    """A timed run must replay the generator's events, and the workload has
    no invalid command: a reject (for capacity, say) would be timed as a
    cheap reject instead of the command the workload names."""
    if not rec["hash_ok"]:
        raise RuntimeError("matcher replay hash differs from the generator's")
    if rec["rejected"]:
        raise RuntimeError(f"matcher workload had {rec['rejected']} rejected commands")


def _check_lean_run(rec: dict) -> None:
    """A run with hash and LEVEL events off has other events than the
    generator's: its book must end the same (trades, orders, levels, best
    prices)."""
    if not rec["state_ok"]:
        raise RuntimeError("matcher run without hash/LEVEL ended with another book")
    if rec["rejected"]:
        raise RuntimeError(f"matcher workload had {rec['rejected']} rejected commands")


def _portable_binary(ctx: BenchContext) -> Path:
    """The portable build's matcher_bench, built here (the default build
    does not make it)."""
    root = ctx.build_dir.parent.parent
    proc = subprocess.run(
        ["make", "--no-print-directory", "matcher-lib", "VARIANT=portable"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"portable matcher build failed:\n{proc.stderr[-2000:]}")
    return root / "build" / "portable" / "bench" / "matcher_bench"


def run(ctx: BenchContext) -> list[Row]:
    binary = ctx.binary("matcher_bench")
    portable = _portable_binary(ctx)
    cpu = _cpu()
    thr: list[float] = []
    thr_lean: list[float] = []
    thr_portable: list[float] = []
    events_default: list[float] = []
    events_lean: list[float] = []
    thr_small: list[float] = []
    # "<kind>" (batched, bursts of 32, per-command stamps inside apply) and
    # "<kind>_alone" (one command per apply call, no prefetch).
    lat: dict[str, dict[str, list[float]]] = {
        k + how: {"p50": [], "p99": [], "p999": []} for k in KINDS for how in ("", "_alone")
    }
    control: dict[str, list[float]] = {"p50": [], "p99": [], "p999": []}
    batched_ns: list[float] = []
    overhead: list[float] = []
    workload: dict = {}
    for i in range(ctx.repeats):
        seed = str(42 + i)
        for rec in run_json_lines(
            [str(binary), "--mode", "throughput", "--cpu", str(cpu), "--seed", seed]
        ):
            if rec["case"] == "workload":
                workload = rec
            elif rec["case"] == "mixed_throughput":
                _check_run(rec)
                thr.append(rec["mcmd_per_s"])
                events_default.append(rec["events"])
        # The same stream without hash and LEVEL events, then on the
        # portable build, right after the default run.
        lean = [str(binary), "--mode", "throughput", "--cpu", str(cpu), "--seed", seed]
        for rec in run_json_lines([*lean, "--options", "3"]):
            if rec["case"] == "mixed_throughput":
                _check_lean_run(rec)
                thr_lean.append(rec["mcmd_per_s"])
                events_lean.append(rec["events"])
        for rec in run_json_lines(
            [str(portable), "--mode", "throughput", "--cpu", str(cpu), "--seed", seed]
        ):
            if rec["case"] == "mixed_throughput":
                _check_run(rec)
                thr_portable.append(rec["mcmd_per_s"])
        # The same mix on a 20,000-order book (fits in cache): the CPU cost alone.
        small = [str(binary), "--mode", "throughput", "--cpu", str(cpu), "--seed", seed]
        for rec in run_json_lines([*small, "--orders", "20000", "--levels", "50"]):
            if rec["case"] == "mixed_throughput":
                _check_run(rec)
                thr_small.append(rec["mcmd_per_s"])
        for rec in run_json_lines(
            [str(binary), "--mode", "latency", "--cpu", str(cpu), "--seed", seed]
        ):
            if rec["case"] == "tsc_overhead":
                overhead.append(rec["p50_ns"])
            elif rec["case"] == "batched_latency":
                if not rec["hash_ok"]:
                    raise RuntimeError("batched latency run: hash differs from the generator's")
                batched_ns.append(rec["ns_per_cmd"])
            elif rec["case"] == "control_latency":
                for q in control:
                    control[q].append(rec[f"{q}_ns"])
            elif "_latency" in rec["case"]:
                kind = rec["case"].replace("_latency", "")
                for q in ("p50", "p99", "p999"):
                    lat[kind][q].append(rec[f"{q}_ns"])
    print(
        f"matcher: cpu {cpu}, {workload.get('orders')} resting orders over "
        f"{workload.get('bid_levels')}+{workload.get('ask_levels')} levels, "
        f"{workload.get('cmds')} commands per run (add {workload.get('add')}, cancel "
        f"{workload.get('cancel')}, replace {workload.get('replace')}, aggressive "
        f"{workload.get('aggressive')}); timer overhead ~{median(overhead):.0f} ns included"
    )
    ncmds = float(workload.get("cmds") or 1)
    rows = [
        Row("matcher", "mixed_throughput", "throughput", "M/s", median(thr)),
        Row("matcher", "mixed_throughput_20k_book", "throughput", "M/s", median(thr_small)),
        Row(
            "matcher", "mixed_throughput_hash_level_off", "throughput", "M/s", median(thr_lean)
        ).with_peer("matcher with hash and LEVEL events (same run)", median(thr)),
        Row(
            "matcher",
            "mixed_events_per_cmd_hash_level_off",
            "events",
            "events/cmd",
            median(events_lean) / ncmds,
        ).with_peer("matcher with LEVEL events", median(events_default) / ncmds),
        Row(
            "matcher", "mixed_throughput_portable", "throughput", "M/s", median(thr_portable)
        ).with_peer("x86-64-v3 build (same run)", median(thr)),
    ]
    for kind in KINDS:
        for how in ("", "_alone"):
            for q in ("p50", "p99", "p999"):
                rows.append(
                    Row("matcher", f"{kind}_{q}{how}", "latency", "ns", median(lat[kind + how][q]))
                )
    rows.append(Row("matcher", "batched32_ns_per_cmd", "latency", "ns", median(batched_ns)))
    rows.append(Row("matcher", "tsc_overhead_p50", "latency", "ns", median(overhead)))
    # The machine's own spread: a fixed 40-multiply chain timed like the
    # batched commands (not a peer: nothing of the matcher in it).
    for q in ("p50", "p99", "p999"):
        rows.append(Row("matcher", f"control_fixed_work_{q}", "latency", "ns", median(control[q])))
    ir, ncmds = _callgrind_ir(binary, cpu)
    rows.append(Row("matcher", "mixed_instructions_per_cmd", "instructions", "instr", ir / ncmds))
    return rows
