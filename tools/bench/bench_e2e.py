"""End to end: orders per second through the whole appliance and receive-to-
match / receive-to-reply latency, per backend, on 2 cores (load generator on
one, the appliance's one worker on the other), over a veth pair.

Peer: the plain socket backend (the kernel's UDP path) in the same run,
cases interleaved backend by backend, medians of the repeats.  Three loads:

- top speed, the realistic mix (16 orders per MoldUDP64 packet, 8
  sessions): the `_orders` throughput and the unsuffixed latency cases.  The
  generator offers more than the appliance takes; what the kernel drops
  before the appliance sees it is not counted as processed, and the latency
  percentiles are queueing delay.
- 20k packets/s of 16 orders (320k orders/s): the `_at_320k` cases.  An
  order waits for the orders before it in its packet (one receive
  timestamp per packet).
- 50k packets/s of 1 order (50k orders/s), the OUCH norm for a latency-
  sensitive client: the `_at_50k_1msg` cases, where receive-to-match is the
  appliance's own path (rx stage, ring, gateway, matcher).

Context rows `core_retouch_64_lines_<p>_after_<t>us`: the appliance's core
walks 64 cache lines right after its previous walk and after idling (a
`pause` spin, no memory access) for 20, 100 and 1000 us (cache_idle.c,
which also prints the share of spins that were interrupted).  Where they
grow with the idle time, the core lost those lines while it only spun;
the appliance's worker waits the same way between light-load orders.

Receive-to-match runs from the receive timestamp (taken when the backend's
burst is reaped: a packet's wait in the NIC ring before that is not seen)
to the matcher's result, before publishing; receive-to-reply to the reply
datagram handed to the backend.  The machine's other load shows in the
tails: run it on a quiet machine.
"""

from __future__ import annotations

import contextlib
import io
import os

from tools.bench.common import BenchContext, Row, hugepages_reserved, median, run_json_lines
from wirematch.pipeline.quickstart import run_quickstart

BACKENDS = ("af_xdp", "io_uring", "socket")
PEER = "socket"
SECONDS = 2.0
# (case suffix, packets/s (0 = top speed), orders per packet)
LOADS = (("", 0.0, 16), ("_at_320k", 20_000.0, 16), ("_at_50k_1msg", 50_000.0, 1))
HUGE_PAGES = 72  # 64 for the quick start's 128 MiB region, 8 spare
KEYS = ("match_p50", "match_p99", "reply_p50", "reply_p99")
RETOUCH_IDLE_US = (0, 20, 100, 1000)


def _one(backend: str, pps: float, msgs: int) -> dict[str, float] | None:
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            s = run_quickstart(seconds=SECONDS, sessions=8, msgs=msgs, backend=backend, pps=pps)
    except Exception as exc:  # a backend this machine cannot run: reported, not fatal
        print(f"  {backend}: not measured ({exc})")
        return None
    if s["backend"] != backend:
        return None
    return {
        "orders": s["orders_in"] / s["seconds"] / 1e6,
        "match_p50": s["rx_to_match_ns"].get("p50", 0),
        "match_p99": s["rx_to_match_ns"].get("p99", 0),
        "reply_p50": s["rx_to_reply_ns"].get("p50", 0),
        "reply_p99": s["rx_to_reply_ns"].get("p99", 0),
        "drained": float(s["drained"]),
    }


def _case(b: str, key: str, suffix: str) -> str:
    what = "rx_to_match" if key.startswith("match") else "rx_to_reply"
    return f"{b}_{what}_{key[-3:]}{suffix}"


def run(ctx: BenchContext) -> list[Row]:
    # The appliance's shared memory (rings, counters, histograms) on 2 MiB
    # pages when the machine has them: receive-to-match p99 at 50k/s 1.42
    # against 1.50-1.69 us on 4 KiB pages, interleaved (docs/appliance.md).
    with hugepages_reserved(HUGE_PAGES) as said:
        print(f"  huge pages: {said}")
        return _run(ctx)


def _run(ctx: BenchContext) -> list[Row]:
    repeats = max(1, min(ctx.repeats, 5))
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        suffix: {b: [] for b in BACKENDS} for suffix, _, _ in LOADS
    }
    retouch: dict[tuple[int, str], list[float]] = {}
    cpus = sorted(os.sched_getaffinity(0))
    app_core = cpus[1] if len(cpus) > 1 else cpus[0]  # the quick start's worker core
    for i in range(repeats):
        try:
            recs = run_json_lines([str(ctx.binary("cache_idle")), "--cpu", str(app_core)])
        except (OSError, RuntimeError) as exc:  # context only: the e2e cases go on
            print(f"  core retouch: not measured ({exc})")
            recs = []
        for rec in recs:
            if rec["case"] == "retouch" and rec["idle_us"] in RETOUCH_IDLE_US:
                for q in ("p50", "p99"):
                    retouch.setdefault((rec["idle_us"], q), []).append(rec[f"{q}_ns"])
                print(
                    f"  core retouch after {rec['idle_us']} us idle: p50/p99 "
                    f"{rec['p50_ns']}/{rec['p99_ns']} ns, "
                    f"{100 * rec['interrupted_share']:.1f}% of the spins interrupted",
                    flush=True,
                )
        for b in BACKENDS:  # interleaved: A, B, C, A, B, C ...
            for suffix, pps, msgs in LOADS:
                r = _one(b, pps, msgs)
                if not r:
                    continue
                results[suffix][b].append(r)
                load = "top speed" if not pps else f"{pps:.0f} pps x {msgs}"
                print(
                    f"  run {i + 1} {b} {load}: {r['orders']:.3f} M orders/s, "
                    f"receive-to-match p50/p99 {r['match_p50']:.0f}/{r['match_p99']:.0f} ns, "
                    f"receive-to-reply p50/p99 {r['reply_p50']:.0f}/{r['reply_p99']:.0f} ns",
                    flush=True,
                )
    rows: list[Row] = []
    for suffix, _, _ in LOADS:
        med = {
            b: {k: median([r[k] for r in rs]) for k in rs[0]}
            for b, rs in results[suffix].items()
            if rs
        }
        peer = med.get(PEER)
        for b, m in med.items():
            if not suffix:
                row = Row("e2e", f"{b}_orders", "throughput", "M/s", m["orders"])
                if peer and b != PEER and peer.get("orders"):
                    row.with_peer(f"{PEER}_orders", peer["orders"])
                rows.append(row)
            for key in KEYS:
                row = Row("e2e", _case(b, key, suffix), "latency", "ns", m[key])
                if peer and b != PEER and peer.get(key):
                    row.with_peer(_case(PEER, key, suffix), peer[key])
                rows.append(row)
    for (idle, q), vals in sorted(retouch.items()):
        case = f"core_retouch_64_lines_{q}_after_{idle}us"
        rows.append(Row("e2e", case, "latency", "ns", median(vals)))
    return rows
