"""`wirematch demo-rings`: the matcher's C thread between two rings, fed from Python.

What runs: a shared-memory region with a command ring and an event ring, the
matcher's C thread pinned to its own core, and a seeded order flow fed into
the command ring in batches from Python (where the appliance has its
receive stages).  At the end: what went in, what came out, how fast,
and a check that a second matcher fed the same commands directly produces
the identical event stream (same count, same hash): nothing was lost or
reordered on the way through the rings.
"""

from __future__ import annotations

import argparse
import os
import time
import zlib
from typing import Any

import numpy as np

from wirematch.pipeline.native import lib
from wirematch.pipeline.native import matcher as mt
from wirematch.pipeline.native.matcher_worker import COUNTER_NAMES, MatcherWorker
from wirematch.pipeline.native.shm import Region
from wirematch.pipeline.orderflow import FlowSpec, generate

CMD_RING = 1 << 14
EVENT_RING = 1 << 18


def _matcher(spec: FlowSpec) -> mt.Matcher:
    m = mt.Matcher(max_instruments=spec.instruments, max_orders=1 << 21, max_sessions=1024)
    for rules in spec.rules():
        m.add_instrument(rules)
    return m


def _cpus() -> tuple[int, int | None]:
    """(cpu for this process, cpu for the matcher thread)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        return cpus[0], cpus[1]
    return cpus[0], None


class EventTally:
    """Counts events by type and rejects by reason as they are drained."""

    def __init__(self) -> None:
        self.by_type = np.zeros(256, dtype=np.int64)
        self.rejects = np.zeros(256, dtype=np.int64)
        self.cancels = np.zeros(256, dtype=np.int64)
        self.events = 0
        self.crc = 0  # CRC-32 of the raw event bytes, in order

    def add(self, ev: np.ndarray) -> None:
        if len(ev) == 0:
            return
        self.events += len(ev)
        self.by_type += np.bincount(ev["type"], minlength=256)
        rej = ev["aux"][ev["type"] == mt.EV["rejected"]]
        self.rejects += np.bincount(rej.astype(np.int64), minlength=256)
        cxl = ev["aux"][ev["type"] == mt.EV["cancelled"]]
        self.cancels += np.bincount(cxl.astype(np.int64), minlength=256)
        self.crc = zlib.crc32(np.ascontiguousarray(ev).view(np.uint8), self.crc)


def run_demo(
    spec: FlowSpec, batch: int = 256, idle: str = "adaptive", max_inflight: int = 1024
) -> dict[str, Any]:
    cmds = generate(spec)
    my_cpu, worker_cpu = _cpus()
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {my_cpu})  # the feeder off the matcher's core; restored below
    name = f"demo-{os.getpid()}"
    region = Region.create(name, size=64 << 20, replace=True)
    try:
        cmd_ring = region.create_ring("matcher.cmd", mt.CMD_DTYPE, CMD_RING)
        ev_ring = region.create_ring("matcher.events", mt.EVENT_DTYPE, EVENT_RING)
        counters = region.create_counters("matcher.worker", COUNTER_NAMES)
        latency = region.create_histogram("matcher.latency_ns")
        batches = region.create_histogram("matcher.batch_size")
        matcher = _matcher(spec)
        worker = MatcherWorker(
            matcher, cmd_ring, ev_ring, counters, latency, batches, idle=idle, cpu=worker_cpu
        )
        tally = EventTally()
        worker.start()
        t0 = time.perf_counter()
        pos = 0
        while pos < len(cmds):
            if cmd_ring.count > max_inflight:  # keep the queue short: latency, not backlog
                tally.add(ev_ring.dequeue(65536))
                continue
            chunk = cmds[pos : pos + batch]
            chunk["ts"] = lib.wm_clock_read_tsc()  # received now
            pos += cmd_ring.enqueue(chunk)
            tally.add(ev_ring.dequeue(65536))
        worker.request_stop()
        while not worker.done:
            tally.add(ev_ring.dequeue(65536))
        worker.join()
        tally.add(ev_ring.dequeue(EVENT_RING))
        elapsed = time.perf_counter() - t0
        wc = counters.snapshot()
        lat = latency.summary((50, 99, 99.9))
        busy_ns = lib.wm_clock_cycles_to_ns(lib.wm_clock_default(), wc["busy_cycles"])
        hash_threaded = matcher.hash

        # The same commands straight into a second matcher: same events?
        direct = _matcher(spec)
        direct_tally = EventTally()
        for i in range(0, len(cmds), 65536):
            direct_tally.add(direct.apply(cmds[i : i + 65536], events_cap=1 << 16))
        identical = (
            direct_tally.events == tally.events
            and direct.hash == hash_threaded
            and direct_tally.crc == tally.crc
        )
        inv_rej = {v: k for k, v in mt.REJECT.items()}
        inv_cxl = {v: k for k, v in mt.CANCEL_REASON.items()}
        bt = {mt.EV_NAMES[i]: int(c) for i, c in enumerate(tally.by_type) if c and i in mt.EV_NAMES}
        return {
            "region": name,
            "commands_in": int(len(cmds)),
            "commands_applied": wc["commands"],
            "accepted": bt.get("accepted", 0),
            "rejected": bt.get("rejected", 0),
            "rejected_by_reason": {
                inv_rej.get(i, str(i)): int(c) for i, c in enumerate(tally.rejects) if c
            },
            "trades": bt.get("executed", 0) // 2,
            "cancelled_by_reason": {
                inv_cxl.get(i, str(i)): int(c) for i, c in enumerate(tally.cancels) if c
            },
            "events_out": tally.events,
            "events_by_type": bt,
            "resting_orders_at_end": int(matcher.live_orders),
            "elapsed_s": elapsed,
            "commands_per_s": len(cmds) / elapsed,
            "matcher_busy_ns_per_command": busy_ns / max(wc["commands"], 1),
            "latency_ns": lat,
            "mean_batch": batches.mean,
            "out_full_waits": wc["out_full_waits"],
            "matcher_cpu": worker_cpu,
            "feeder_cpu": my_cpu,
            "idle": idle,
            "max_inflight": max_inflight,
            "batch": batch,
            "event_hash": f"{hash_threaded:016x}",
            "identical_to_direct_run": bool(identical),
        }
    finally:
        region.close()
        Region.unlink(name, missing_ok=True)
        os.sched_setaffinity(0, affinity)


def format_summary(r: dict[str, Any]) -> str:
    lat = r["latency_ns"]
    lines = [
        "wirematch demo: seeded order flow -> command ring -> matcher thread -> event ring",
        f"  matcher thread on CPU {r['matcher_cpu']}, feeder on CPU {r['feeder_cpu']}, "
        f"idle strategy {r['idle']}",
        f"  commands in        {r['commands_in']:>12,}   applied {r['commands_applied']:,}",
        f"  accepted           {r['accepted']:>12,}",
        f"  rejected           {r['rejected']:>12,}   "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(r["rejected_by_reason"].items())),
        f"  trades             {r['trades']:>12,}",
        f"  cancelled          {sum(r['cancelled_by_reason'].values()):>12,}   "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(r["cancelled_by_reason"].items())),
        f"  events out         {r['events_out']:>12,}   "
        f"resting at end {r['resting_orders_at_end']:,}",
        f"  throughput         {r['commands_per_s'] / 1e6:>12.2f} M commands/s through the rings "
        f"({r['elapsed_s']:.2f} s)",
        f"  matcher busy       {r['matcher_busy_ns_per_command']:>12.0f} ns per command "
        f"(mean batch {r['mean_batch']:.1f})",
        f"  ring-in to events  p50 {lat['p50']:,.0f} ns  p99 {lat['p99']:,.0f} ns  "
        f"p99.9 {lat['p99.9']:,.0f} ns  max {lat['max']:,.0f} ns",
        f"                     (includes waiting behind up to {r['max_inflight']:,} queued "
        f"commands and the feeder's batches of {r['batch']})",
        f"  event stream hash  {r['event_hash']}: "
        + (
            "identical to a direct run of the same commands"
            if r["identical_to_direct_run"]
            else "DIFFERS from a direct run of the same commands"
        ),
    ]
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> None:
    import json

    from wirematch.output import CliError

    spec = FlowSpec(commands=args.commands, seed=args.seed, sessions=args.sessions)
    result = run_demo(spec, batch=args.batch, idle=args.idle, max_inflight=args.max_inflight)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_summary(result))
    if not result["identical_to_direct_run"]:
        raise CliError("the threaded run's events differ from a direct run")
