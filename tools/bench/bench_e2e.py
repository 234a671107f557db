"""End to end: orders per second through the whole appliance and receive-to-
match / receive-to-reply latency, per backend, on 2 cores (load generator on
one, the appliance's one worker on the other), over a veth pair.

Peer: the plain socket backend (the kernel's UDP path) in the same run,
cases interleaved backend by backend, medians of the repeats.  The load
generator sends the realistic mix (16 orders per MoldUDP64 packet, 8
sessions) at top speed, so the figure is what the appliance sustains; what
the kernel drops before the appliance sees it is not counted as processed.
At top speed the latency percentiles are queueing delay, so latency is also
measured at a fixed moderate load (20k packets/s = 320k orders/s): the
`_at_320k` cases.
"""

from __future__ import annotations

import contextlib
import io

from pipeline.quickstart import run_quickstart
from tools.bench.common import BenchContext, Row, median

BACKENDS = ("af_xdp", "io_uring", "socket")
PEER = "socket"
SECONDS = 2.0
MODERATE_PPS = 20_000.0


def _one(backend: str, pps: float = 0.0) -> dict[str, float] | None:
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            s = run_quickstart(seconds=SECONDS, sessions=8, msgs=16, backend=backend, pps=pps)
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


def run(ctx: BenchContext) -> list[Row]:
    repeats = max(1, min(ctx.repeats, 5))
    results: dict[str, list[dict[str, float]]] = {b: [] for b in BACKENDS}
    moderate: dict[str, list[dict[str, float]]] = {b: [] for b in BACKENDS}
    for i in range(repeats):
        for b in BACKENDS:  # interleaved: A, B, C, A, B, C ...
            for pps, store in ((0.0, results), (MODERATE_PPS, moderate)):
                r = _one(b, pps)
                if r:
                    store[b].append(r)
                    print(
                        f"  run {i + 1} {b} {'top speed' if not pps else f'{pps:.0f} pps'}: "
                        f"{r['orders']:.3f} M orders/s, receive-to-match p50/p99 "
                        f"{r['match_p50']:.0f}/{r['match_p99']:.0f} ns, receive-to-reply p99 "
                        f"{r['reply_p99']:.0f} ns",
                        flush=True,
                    )
    med = {b: {k: median([r[k] for r in rs]) for k in rs[0]} for b, rs in results.items() if rs}
    mod = {b: {k: median([r[k] for r in rs]) for k in rs[0]} for b, rs in moderate.items() if rs}
    rows: list[Row] = []
    peer = med.get(PEER)
    mpeer = mod.get(PEER)
    for b, m in mod.items():
        for key in ("match_p50", "match_p99", "reply_p50", "reply_p99"):
            what = "rx_to_match" if key.startswith("match") else "rx_to_reply"
            row = Row("e2e", f"{b}_{what}_{key[-3:]}_at_320k", "latency", "ns", m[key])
            if mpeer and b != PEER and mpeer.get(key):
                row.with_peer(f"{PEER}_{what}_{key[-3:]}_at_320k", mpeer[key])
            rows.append(row)
    for b, m in med.items():
        cases = (
            (f"{b}_orders", "throughput", "M/s", m["orders"], "orders"),
            (f"{b}_rx_to_match_p50", "latency", "ns", m["match_p50"], "match_p50"),
            (f"{b}_rx_to_match_p99", "latency", "ns", m["match_p99"], "match_p99"),
            (f"{b}_rx_to_reply_p50", "latency", "ns", m["reply_p50"], "reply_p50"),
            (f"{b}_rx_to_reply_p99", "latency", "ns", m["reply_p99"], "reply_p99"),
        )
        for case, metric, unit, value, key in cases:
            row = Row("e2e", case, metric, unit, value)
            if peer and b != PEER and peer.get(key):
                row.with_peer(f"{PEER}_{key}", peer[key])
            rows.append(row)
    return rows
