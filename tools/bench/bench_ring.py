"""Ring benchmark: wirematch's ring against DPDK's rte_ring, same process.

The C program tools/bench/ring_bench.c measures every case for both rings,
interleaved (wirematch, rte_ring, wirematch, ...) ctx.repeats times, and
prints one JSON object per measurement; this module takes the medians and
attaches rte_ring as the peer.

Cases (ring of 4096; producer pinned to core 0, consumer to core 1):
  {spsc,mpmc}_1thread_{single,burst32}_{8B,32B}   ns per element, one thread
  {spsc,mpmc}_2core_{single,burst32}_{8B,32B}     M elements/s across two cores
  [mpmc_]roundtrip_p50 / _p99                     ns, ping-pong through two rings
"""

from __future__ import annotations

from collections import defaultdict

from tools.bench.common import BenchContext, Row, median, run_json_lines

PEER = "rte_ring"
METRIC = {"M/s": "throughput", "ns": "time"}


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
        print(f"ring: TSC {info['value']:.3f} GHz, rte_ring peer {'on' if info['peer'] else 'off'}")
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
    rows = []
    for case in order:
        unit = units[case]
        row = Row(
            bench=ctx.name,
            case=case,
            metric=metric_for(case, unit),
            unit=unit,
            value=median(values[(case, "wirematch")]),
        )
        if values.get((case, PEER)):
            row.with_peer(PEER, median(values[(case, PEER)]))
        rows.append(row)
    return rows
