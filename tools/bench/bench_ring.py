"""Ring benchmark: wirematch's ring in both sync modes against DPDK's rte_ring.

The C program tools/bench/ring_bench.c measures every case for the three
rings interleaved (headtail, slotseq, rte_ring, headtail, ...) ctx.repeats
times in one process and prints one JSON object per measurement; this module
takes the medians and attaches rte_ring as the peer of each mode.

Cases (ring of 4096 elements for all three; producer pinned to core 0,
consumer to core 1):
  {spsc,mpmc}_1thread_{single,burst32}_{8B,32B}_<mode>  ns per element, one thread
  {spsc,mpmc}_2core_{single,burst32}_{8B,32B}_<mode>    M elements/s, two cores
  {spsc,mpmc}_roundtrip_{p50,p99}_<mode>                ns, ping-pong through two rings
  best_<case>   the mode docs/ring.md RECOMMENDS for the case's regime (fixed
                below, not picked after the fact from whichever measured best):
                SLOTSEQ for single-element hand-offs and round trips, HEADTAIL
                for bursts.

tools/bench/ring_dispatch_bench.c measures how the exported operations pick
the mode (one thread, ns per element, peer = dispatch through a per-mode
function-pointer table):
  dispatch_1thread_{single,burst32}_8B_<mode>_branch    branch on r->sync (as ring.c)
  dispatch_1thread_{single,burst32}_8B_<mode>_split     branch, then a tail call per mode
  dispatch_1thread_{single,burst32}_8B_<mode>_exported  the library's exported calls (PLT)
"""

from __future__ import annotations

from collections import defaultdict

from tools.bench.common import BenchContext, Row, median, run_json_lines

PEER = "rte_ring"
MODES = ("headtail", "slotseq")
METRIC = {"M/s": "throughput", "ns": "time"}


def recommended_mode(case: str) -> str:
    """The mode docs/ring.md recommends for a case's regime."""
    return "headtail" if "burst" in case else "slotseq"


def metric_for(case: str, unit: str) -> str:
    if "roundtrip" in case:
        return "round trip"
    if "1thread" in case:
        return "time per element"
    return METRIC.get(unit, unit)


def run(ctx: BenchContext) -> list[Row]:
    binary = ctx.binary("ring_bench")
    lines = run_json_lines([str(binary), "--repeats", str(ctx.repeats)], timeout=1800)
    info = next((d for d in lines if d.get("info") == "tsc_ghz"), {})
    if info:
        print(
            f"ring: TSC {info['value']:.3f} GHz, ring of {info.get('size', '?')} elements, "
            f"rte_ring peer {'on' if info['peer'] else 'off'}"
        )
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    units: dict[str, str] = {}
    order: list[str] = []
    for d in lines:
        if "case" not in d:
            continue
        if d["case"] not in units:
            order.append(d["case"])
        units[d["case"]] = d["unit"]
        values[(d["case"], d["impl"])].append(float(d["value"]))

    def row(name: str, case: str, mode: str) -> Row | None:
        if not values.get((case, mode)):
            return None
        unit = units[case]
        r = Row(
            bench=ctx.name,
            case=name,
            metric=metric_for(case, unit),
            unit=unit,
            value=median(values[(case, mode)]),
        )
        if values.get((case, PEER)):
            r.with_peer(PEER, median(values[(case, PEER)]))
        return r

    rows = []
    for case in order:
        for mode in MODES:
            r = row(f"{case}_{mode}", case, mode)
            if r is not None:
                rows.append(r)
    for case in order:
        r = row(f"best_{case}", case, recommended_mode(case))
        if r is not None:
            rows.append(r)
    return rows + dispatch_rows(ctx)


def dispatch_rows(ctx: BenchContext) -> list[Row]:
    """Branch on the ring's mode vs a function-pointer table (ring_dispatch_bench)."""
    binary = ctx.binary("ring_dispatch_bench")
    lines = run_json_lines([str(binary), "--repeats", str(ctx.repeats)], timeout=600)
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    order: list[str] = []
    for d in lines:
        if "case" not in d:
            continue
        if d["case"] not in order:
            order.append(d["case"])
        values[(d["case"], d["impl"])].append(float(d["value"]))
    rows = []
    for case in order:
        for impl in ("branch", "split", "exported"):
            if values.get((case, impl)):
                r = Row(
                    bench=ctx.name,
                    case=f"{case}_{impl}",
                    metric="time per element",
                    unit="ns",
                    value=median(values[(case, impl)]),
                )
                if values.get((case, "fnptr")):
                    r.with_peer("fnptr", median(values[(case, "fnptr")]))
                rows.append(r)
    return rows
