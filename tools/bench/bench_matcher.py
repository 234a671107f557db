"""`make bench BENCH=matcher`: the matching engine on one pinned core.

Runs build/<variant>/bench/matcher_bench (workload in its header and in
docs/matching.md): throughput (median M commands/s over the repeats),
per-command latency p50/p99/p99.9 by command type from TSC (medians over the
repeats) measured two ways -- `<kind>_p99`: inside bursts of 32 commands (the
ring worker's dequeue size, prefetching across the burst), from stamps taken
between commands in a bench-only build of the matcher; `<kind>_p99_alone`:
one command per wm_matcher_apply call, no prefetch -- and instructions per
command from callgrind on a smaller run, only the mixed phase instrumented.

The peer is Liquibook (the PyPI package `liquibook`, its header-only C++ order
book; build/<variant>/bench/liquibook_bench, tools/bench/liquibook_bench.cpp).
For every throughput case, each repeat generates one stream with
`matcher_bench --dump-stream`, which times wirematch on it, then
liquibook_bench replays the same file (same prefill, same commands), then the
next case: A, B, A, B, on the same pinned core at the same priority.  The
cases: the mix on the 1M-order book (batched, 64 commands per
wm_matcher_apply call, and one command per call), the mix on a 20k-order
book, a deep book (10^5 price levels a side), a drifting price, and an
aggressive-heavy mix.  Liquibook takes one command per call in every case,
so both matcher rows of the 1M-order mix carry the same Liquibook run.
Liquibook's replace loses time priority where the matcher keeps it (a
quantity decrease), so its fills drift a little from the matcher's; the
commands on orders Liquibook has already filled are not sent to it
(`skipped_filled`, printed per case).  The peer cases run PEER_REPEATS
rounds (at most --repeats) on streams of 200,000 to 1,000,000 commands
(PEER_CASES); the latency runs use the full 2M-command stream.
Two variants also run interleaved with the default matcher in every repeat
(same seed, same workload) and carry it as their peer: the matcher without
the hash and LEVEL events (`--options 3`, checked against the generator's
final book), and the portable build (`make matcher-lib VARIANT=portable`,
-march=x86-64, the scalar hash) against this x86-64-v3 one.
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
PEER = "liquibook"
# Throughput cases run against the peer: (row name, matcher_bench arguments).
# Liquibook finds the order a cancel or replace names by walking the queue of
# its price level from the front, and the mix's adds gather within 10 ticks
# of the touch, so its time per cancel grows with the stream (thousands of
# orders a level); the streams are short enough for a run of a few minutes.
PEER_CASES: list[tuple[str, list[str]]] = [
    ("mixed_throughput", ["--cmds", "200000"]),
    ("mixed_throughput_20k_book", ["--orders", "20000", "--levels", "50", "--cmds", "500000"]),
    # 1M orders over 100,000 levels a side (5 orders a level); the window at
    # its largest (262,144 ticks) holds the whole book.
    ("deep_book_throughput", ["--levels", "100000", "--window", "262144", "--cmds", "200000"]),
    # The fair price rises a tick every 100 commands: 10,000 ticks over the
    # stream, past the edge of the default 16,384-tick window (8,192 above the
    # reference price), into the fallback structure.
    ("drifting_price_throughput", ["--orders", "100000", "--drift", "100", "--cmds", "1000000"]),
    ("aggressive_heavy_throughput", ["--mix", "40,20,10,30", "--cmds", "200000"]),
]
# Repeats of the peer cases (at most --repeats): Liquibook's runs take ~1 min a round.
PEER_REPEATS = 3
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


def _peer_binary(ctx: BenchContext) -> Path:
    path = ctx.build_dir / "bench" / "liquibook_bench"
    if not path.exists():
        raise RuntimeError(
            f"{path} not built: the Makefile builds it when the Liquibook headers are "
            "installed (the dev extra `liquibook`: `make deps`, or "
            "`.venv/bin/python -m pip install liquibook`), then `make build`"
        )
    return path


def _stream_dir() -> str | None:
    """Where the dumped streams go: RAM when /dev/shm is there."""
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


def _throughput(cmd: list[str]) -> dict:
    """The mixed_throughput record of one run (matcher_bench or liquibook_bench)."""
    for rec in run_json_lines(cmd):
        if rec["case"] == "mixed_throughput":
            return rec
    raise RuntimeError(f"{' '.join(cmd)}: no mixed_throughput line")


def _peer_cases(ctx: BenchContext, binary: Path, cpu: int) -> list[Row]:
    """Every throughput case, wirematch and Liquibook interleaved on one stream per repeat."""
    peer = _peer_binary(ctx)
    wm: dict[str, list[float]] = {name: [] for name, _ in PEER_CASES}
    lb: dict[str, list[float]] = {name: [] for name, _ in PEER_CASES}
    one_per_call: list[float] = []
    notes: dict[str, tuple[dict, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="wm-matcher-", dir=_stream_dir()) as tmp:
        stream = Path(tmp) / "stream.bin"
        for i in range(min(ctx.repeats, PEER_REPEATS)):
            seed = str(42 + i)
            for name, args in PEER_CASES:
                base = [str(binary), "--mode", "throughput", "--cpu", str(cpu), "--seed", seed]
                base += args
                wm_rec = _throughput([*base, "--dump-stream", str(stream)])
                _check_run(wm_rec)
                lb_rec = _throughput([str(peer), "--stream", str(stream), "--cpu", str(cpu)])
                if lb_rec["rejected"]:
                    raise RuntimeError(f"liquibook rejected {lb_rec['rejected']} commands ({name})")
                wm[name].append(wm_rec["mcmd_per_s"])
                lb[name].append(lb_rec["mcmd_per_s"])
                notes[name] = (wm_rec, lb_rec)
                if name == "mixed_throughput":
                    # The same stream, one command per wm_matcher_apply call.
                    rec = _throughput([*base, "--batch", "1"])
                    _check_run(rec)
                    one_per_call.append(rec["mcmd_per_s"])
                stream.unlink()
    rows = []
    for name, _ in PEER_CASES:
        w, b = notes[name]
        print(
            f"  {name} (last repeat): trades wirematch {w['trades']}, liquibook {b['trades']} "
            f"({b['skipped_filled']} commands skipped on orders it had filled); live after "
            f"{w['live_after']} / {b['live_after']}; best bid/ask after "
            f"{w['best_bid_after']}/{w['best_ask_after']} / "
            f"{b['best_bid_after']}/{b['best_ask_after']}; "
            f"wirematch levels in the fallback {w['fallback_levels_after']}; rounds M/s "
            f"wirematch {', '.join(f'{v:.3g}' for v in wm[name])}, "
            f"liquibook {', '.join(f'{v:.3g}' for v in lb[name])}"
        )
        rows.append(
            Row("matcher", name, "throughput", "M/s", median(wm[name])).with_peer(
                PEER, median(lb[name])
            )
        )
        if name == "mixed_throughput":
            rows.append(
                Row(
                    "matcher", "mixed_throughput_one_per_call", "throughput", "M/s",
                    median(one_per_call),
                ).with_peer(PEER, median(lb[name]))
            )  # fmt: skip
            print(
                "  mixed, one command per call / batched (64): "
                f"{median(one_per_call) / median(wm[name]):.3f}"
            )
    return rows


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


def _variant_cases(ctx: BenchContext, binary: Path, portable: Path, cpu: int) -> list[Row]:
    """The default matcher, then without hash and LEVEL events, then the
    portable build, on one stream per repeat (the full 1M-order mix)."""
    thr: list[float] = []
    thr_lean: list[float] = []
    thr_portable: list[float] = []
    events_default: list[float] = []
    events_lean: list[float] = []
    ncmds = 1.0
    for i in range(ctx.repeats):
        base = ["--mode", "throughput", "--cpu", str(cpu), "--seed", str(42 + i)]
        for rec in run_json_lines([str(binary), *base]):
            if rec["case"] == "workload":
                ncmds = float(rec.get("cmds") or 1)
            elif rec["case"] == "mixed_throughput":
                _check_run(rec)
                thr.append(rec["mcmd_per_s"])
                events_default.append(rec["events"])
        rec = _throughput([str(binary), *base, "--options", "3"])
        _check_lean_run(rec)
        thr_lean.append(rec["mcmd_per_s"])
        events_lean.append(rec["events"])
        rec = _throughput([str(portable), *base])
        _check_run(rec)
        thr_portable.append(rec["mcmd_per_s"])
    return [
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


def run(ctx: BenchContext) -> list[Row]:
    binary = ctx.binary("matcher_bench")
    portable = _portable_binary(ctx)
    cpu = _cpu()
    # "<kind>" (batched, bursts of 32, per-command stamps inside apply) and
    # "<kind>_alone" (one command per apply call, no prefetch).
    lat: dict[str, dict[str, list[float]]] = {
        k + how: {"p50": [], "p99": [], "p999": []} for k in KINDS for how in ("", "_alone")
    }
    control: dict[str, list[float]] = {"p50": [], "p99": [], "p999": []}
    batched_ns: list[float] = []
    overhead: list[float] = []
    workload: dict = {}
    peer_rows = _peer_cases(ctx, binary, cpu)
    variant_rows = _variant_cases(ctx, binary, portable, cpu)
    for i in range(ctx.repeats):
        seed = str(42 + i)
        for rec in run_json_lines(
            [str(binary), "--mode", "latency", "--cpu", str(cpu), "--seed", seed]
        ):
            if rec["case"] == "workload":
                workload = rec
            elif rec["case"] == "tsc_overhead":
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
    rows = peer_rows + variant_rows
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
