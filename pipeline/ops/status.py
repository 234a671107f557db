"""`wirematch status`, `top` and `flows`: a running instance seen from outside.

Everything here attaches to the instance's shared-memory region read-only
(docs/operations.md) and never asks the data plane anything.  The region's
objects are read generically by their names:

- counter blocks `<stage>.<q|s><N>` (per NIC queue or per engine shard):
  `drop_<reason>` counters are drops, `busy_cycles` is TSC cycles spent
  working, `packets` or `commands` the units of work;
- histograms `<stage>.<q|s><N>.<metric>` (`*_ns` in nanoseconds, others counts);
- rings (occupancy and totals without knowing the element type);
- blob `instance` (JSON facts about the process), blob `flows` (the flow
  table), counter block `appliance` (`running`, `started_ns`, `stopped_ns`).

A clear-and-measure window is two snapshots `interval` seconds apart: the
report gives totals since start and, for the window, deltas, rates and
histogram percentiles of the window alone (histogram snapshots subtract).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wirematch.output import Command
    from wirematch.pipeline.native.hist import HistSnapshot
    from wirematch.pipeline.native.shm import Region

DEFAULT_NAME = "wirematch"
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
# The counter names the readers (status, top, metrics, the API client) rely on.
# The C side declares every block's names (wm_app_counter_name); the tests
# check these against its tables.
WORK_COUNTERS = ("packets", "commands")  # units of work, first present wins
BUSY_COUNTER = "busy_cycles"  # TSC cycles a stage spent working
DROP_PREFIX = "drop_"  # drop_<reason>
APPLIANCE_BLOCK = "appliance"  # the one block Python writes:
APPLIANCE_COUNTERS = ("running", "started_ns", "stopped_ns")
RUNNING = "running"  # 1 while the appliance runs
INSTANCE_BLOB = "instance"
FLOWS_BLOB = "flows"

_OBJECT_NAME = re.compile(
    r"^(?P<stage>[a-z][a-z0-9_]*)\.(?P<kind>[qsw])(?P<index>\d+)(?:\.(?P<metric>[a-z0-9_]+))?$"
)
KIND_LABEL = {"q": "queue", "s": "shard", "w": "worker"}
# The order a packet goes through the stages (reports list them so); others follow.
STAGE_ORDER = ("nic", "rx", "slowpath", "engine", "gateway", "matcher", "tx")


@dataclass(frozen=True)
class ObjectName:
    """`rx.q0` -> stage rx, queue 0; `engine.s1.rx_to_match_ns` -> shard 1, metric."""

    stage: str
    kind: str | None  # "queue", "shard", "worker" or None (a name outside the convention)
    index: int | None
    metric: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        if self.kind is None or self.index is None:
            return {}
        return {self.kind: str(self.index)}


def pipeline_order(name: str) -> tuple[int, str, int, str]:
    """Sort key: stage in packet order, then queue/shard index, then metric."""
    on = parse_object_name(name)
    rank = STAGE_ORDER.index(on.stage) if on.stage in STAGE_ORDER else len(STAGE_ORDER)
    return (rank, on.stage, on.index if on.index is not None else -1, on.metric or "")


def parse_object_name(name: str) -> ObjectName:
    m = _OBJECT_NAME.match(name)
    if m is None:
        return ObjectName(stage=name, kind=None, index=None)
    return ObjectName(
        stage=m["stage"], kind=KIND_LABEL[m["kind"]], index=int(m["index"]), metric=m["metric"]
    )


# -- reading the region -------------------------------------------------------


def read_blob(region: Region, name: str) -> tuple[Any, int] | None:
    """(pointer, size) of blob `name`, or None when the region has none."""
    from wirematch.pipeline.native import ffi, lib

    ent = lib.wm_shm_find(region.handle, name.encode(), lib.WM_OBJ_BLOB)
    if ent == ffi.NULL:
        return None
    ptr = lib.wm_shm_object(region.handle, ent)
    if ptr == ffi.NULL:
        return None
    return ptr, int(ent.size)


def read_instance(region: Region) -> dict[str, Any] | None:
    """The `instance` blob's JSON (NUL padded), or None when absent or unreadable."""
    from wirematch.pipeline.native import ffi

    blob = read_blob(region, INSTANCE_BLOB)
    if blob is None:
        return None
    raw = bytes(ffi.buffer(blob[0], blob[1])).split(b"\0", 1)[0]
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {"error": f"instance blob is not JSON: {exc}"}
    return data if isinstance(data, dict) else {"error": "instance blob is not a JSON object"}


def attach_flow_table(region: Region) -> Any:
    """The region's flow table (classify.table.FlowTable over blob `flows`), or None."""
    from wirematch.classify.table import FlowTable
    from wirematch.pipeline.native import lib

    blob = read_blob(region, FLOWS_BLOB)
    if blob is None:
        return None
    if lib.wm_flow_table_check(blob[0], blob[1]) < 0:
        raise ValueError(f"blob {FLOWS_BLOB!r} is not a valid flow table")
    return FlowTable(blob[0], owner=region)


@dataclass
class Snapshot:
    """Everything countable in a region at one instant (copies)."""

    taken_ns: int  # CLOCK_MONOTONIC
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    hists: dict[str, HistSnapshot] = field(default_factory=dict)
    hist_sums: dict[str, int] = field(default_factory=dict)
    rings: dict[str, dict[str, int]] = field(default_factory=dict)


def take_snapshot(region: Region) -> Snapshot:
    snap = Snapshot(taken_ns=time.monotonic_ns())
    for obj in region.objects():
        if obj.type == "counters":
            snap.counters[obj.name] = region.counters(obj.name).snapshot()
        elif obj.type == "histogram":
            h = region.histogram(obj.name)
            snap.hists[obj.name] = h.snapshot()
            snap.hist_sums[obj.name] = int(h.ptr.sum)
        elif obj.type == "ring":
            snap.rings[obj.name] = region.ring_info(obj.name)
    return snap


# -- the report -----------------------------------------------------------------


def _hist_summary(h: HistSnapshot) -> dict[str, float]:
    values = h.percentiles(PERCENTILES)
    out: dict[str, float] = {"count": h.total, "mean": round(h.mean, 1)}
    out.update({f"p{p:g}": v for p, v in zip(PERCENTILES, values, strict=True)})
    out["max"] = h.max
    return out


def _work_counter(values: dict[str, int]) -> str | None:
    return next((n for n in WORK_COUNTERS if n in values), None)


def _stage_report(
    name: str, after: dict[str, int], before: dict[str, int] | None, seconds: float, tsc_hz: int
) -> dict[str, Any]:
    on = parse_object_name(name)
    out: dict[str, Any] = {"object": name, "stage": on.stage, **on.labels}
    out["counters"] = dict(after)
    out["drops"] = {k[len(DROP_PREFIX) :]: v for k, v in after.items() if k.startswith(DROP_PREFIX)}
    out["dropped"] = sum(out["drops"].values())
    work = _work_counter(after)
    out["work"] = work
    window = before is not None
    if window:
        assert before is not None
        delta = {k: v - before.get(k, 0) for k, v in after.items()}
        out["delta"] = delta
        out["rate"] = {k: round(v / seconds, 1) for k, v in delta.items()} if seconds > 0 else {}
        out["drops_delta"] = {
            k[len(DROP_PREFIX) :]: v for k, v in delta.items() if k.startswith(DROP_PREFIX)
        }
        basis = delta
    else:
        basis = after
    if work is not None and BUSY_COUNTER in after:
        units = basis.get(work, 0)
        cycles = basis.get(BUSY_COUNTER, 0)
        if units > 0:
            out["cycles_per_unit"] = round(cycles / units, 1)
            out["ns_per_unit"] = round(cycles / units * 1e9 / tsc_hz, 1) if tsc_hz else None
        else:
            out["cycles_per_unit"] = out["ns_per_unit"] = None
        if window and seconds > 0 and tsc_hz:
            # Fraction of the window the stage's thread spent working.
            out["busy"] = cycles / tsc_hz / seconds
    return out


def build_report(
    before: Snapshot | None,
    after: Snapshot,
    tsc_hz: int,
    instance: dict[str, Any] | None = None,
    region_name: str = "",
) -> dict[str, Any]:
    """The status dict from one snapshot (totals) or two (a window)."""
    seconds = (after.taken_ns - before.taken_ns) / 1e9 if before is not None else 0.0
    appliance = after.counters.get(APPLIANCE_BLOCK, {})
    report: dict[str, Any] = {
        "name": region_name,
        "instance": instance,
        "running": bool(appliance.get(RUNNING, 0)),
        "appliance": appliance,
        "window_s": round(seconds, 6) if before is not None else None,
        "tsc_hz": tsc_hz,
        "stages": [],
        "histograms": [],
        "rings": [],
        "drops": {},
    }
    for name, values in sorted(after.counters.items(), key=lambda kv: pipeline_order(kv[0])):
        if name == APPLIANCE_BLOCK:
            continue
        prev = before.counters.get(name, {}) if before is not None else None
        st = _stage_report(name, values, prev, seconds, tsc_hz)
        report["stages"].append(st)
        for reason, n in st["drops"].items():
            report["drops"][f"{name}.{reason}"] = n
    for name, h in sorted(after.hists.items(), key=lambda kv: pipeline_order(kv[0])):
        on = parse_object_name(name)
        metric = on.metric or name
        entry: dict[str, Any] = {
            "object": name,
            "stage": on.stage,
            **on.labels,
            "metric": metric,
            "unit": "ns" if metric.endswith("_ns") else "count",
            "total": _hist_summary(h),
            "overflows": h.overflows,
        }
        if before is not None and name in before.hists:
            entry["window"] = _hist_summary(h - before.hists[name])
        report["histograms"].append(entry)
    for name, info in sorted(after.rings.items()):
        cap = info["capacity"]
        entry = {"name": name, **info, "occupancy": round(info["count"] / cap, 4) if cap else 0.0}
        if before is not None and name in before.rings:
            prev_ring = before.rings[name]
            delta = {k: info[k] - prev_ring[k] for k in ("enqueued", "dequeued", "enqueue_refused")}
            entry["delta"] = delta
            if seconds > 0:
                entry["rate"] = {k: round(v / seconds, 1) for k, v in delta.items()}
        report["rings"].append(entry)
    return report


_TSC_HZ: int | None = None


def tsc_hz() -> int:
    """This machine's calibrated TSC frequency (once per process)."""
    global _TSC_HZ
    if _TSC_HZ is None:
        from wirematch.pipeline.native.clock import Clock

        _TSC_HZ = Clock().info().tsc_hz
    return _TSC_HZ


def attach(name: str) -> Region:
    """Attach read-only; a missing instance is a clear error (RegionError)."""
    from wirematch.pipeline.native.shm import Region, RegionError

    try:
        return Region.attach(name, readonly=True)
    except RegionError as exc:
        raise RegionError(
            exc.errno,
            f"no running wirematch instance named {name!r} ({exc}); "
            "start one with `wirematch run CONFIG` or pass --name",
        ) from exc


def read_status(name: str = DEFAULT_NAME, interval: float = 0.0) -> dict[str, Any]:
    """Attach to instance `name` read-only; totals, and a window of `interval` s if > 0."""
    with attach(name) as region:
        instance = read_instance(region)
        first = take_snapshot(region)
        if interval <= 0:
            return build_report(None, first, tsc_hz(), instance, name)
        time.sleep(interval)
        second = take_snapshot(region)
        return build_report(first, second, tsc_hz(), instance, name)


# -- text -------------------------------------------------------------------------


def _num(v: float | int | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


def _where(entry: dict[str, Any]) -> str:
    if "queue" in entry:
        return f"q{entry['queue']}"
    if "shard" in entry:
        return f"s{entry['shard']}"
    return ""


def render_status(report: dict[str, Any]) -> str:
    inst = report.get("instance") or {}
    lines = []
    head = f"instance {report['name']}: {'running' if report['running'] else 'NOT running'}"
    if inst and "error" not in inst:
        head += (
            f", pid {inst.get('pid', '?')}, backend {inst.get('backend', '?')}, "
            f"{inst.get('queues', '?')} queue(s), {inst.get('shards', '?')} shard(s)"
        )
    elif inst:
        head += f" ({inst['error']})"
    window = report.get("window_s")
    head += f"; window {window:g} s" if window else "; totals since start"
    lines.append(head)

    windowed = window is not None
    lines.append("")
    hdr = f"{'stage':10} {'where':5} {'work':>14} {'unit':8} {'rate/s':>12} {'dropped':>10} "
    hdr += f"{'cycles/unit':>11} {'ns/unit':>8} {'busy':>6}"
    lines.append(hdr)
    for st in report["stages"]:
        work = st.get("work")
        units = st["counters"].get(work, 0) if work else None
        rate = st.get("rate", {}).get(work) if windowed and work else None
        dropped = sum(st["drops_delta"].values()) if windowed else st["dropped"]
        busy = st.get("busy")
        lines.append(
            f"{st['stage']:10} {_where(st):5} "
            f"{_num(units):>14} {work or '-':8} {_num(rate):>12} "
            f"{_num(dropped):>10} {_num(st.get('cycles_per_unit')):>11} "
            f"{_num(st.get('ns_per_unit')):>8} "
            f"{(f'{busy * 100:.1f}%' if busy is not None else '-'):>6}"
        )
    drops = [
        (st, reason, n)
        for st in report["stages"]
        for reason, n in (st["drops_delta"] if windowed else st["drops"]).items()
        if n
    ]
    lines.append("")
    if drops:
        lines.append("drops by reason" + (" (window)" if windowed else ""))
        for st, reason, n in drops:
            lines.append(f"  {st['object']:14} {reason:32} {_num(n):>12}")
    else:
        lines.append("drops: none" + (" in the window" if windowed else ""))

    if report["histograms"]:
        lines.append("")
        pcols = "".join(f"{'p' + format(p, 'g'):>9}" for p in PERCENTILES)
        lines.append(f"{'histogram':28} {'count':>10}{pcols}{'max':>10}")
        for h in report["histograms"]:
            s = h.get("window", h["total"]) if windowed else h["total"]
            unit = " ns" if h["unit"] == "ns" else ""
            vals = "".join(f"{_num(s[f'p{p:g}']):>9}" for p in PERCENTILES)
            lines.append(
                f"{h['object'] + unit:28} {_num(s['count']):>10}{vals}{_num(s['max']):>10}"
            )
    if report["rings"]:
        lines.append("")
        lines.append(
            f"{'ring':14} {'used':>10} {'capacity':>10} {'occ':>7} {'enq/s':>12} {'refused':>10}"
        )
        for r in report["rings"]:
            rate = r.get("rate", {}).get("enqueued")
            refused = (
                r["delta"]["enqueue_refused"] if windowed and "delta" in r else r["enqueue_refused"]
            )
            lines.append(
                f"{r['name']:14} {_num(r['count']):>10} {_num(r['capacity']):>10} "
                f"{r['occupancy'] * 100:6.1f}% {_num(rate):>12} {_num(refused):>10}"
            )
    return "\n".join(lines)


# -- flows --------------------------------------------------------------------------

PROTOCOLS = {6: "tcp", 17: "udp"}


def read_flows(name: str = DEFAULT_NAME) -> dict[str, Any]:
    """The instance's flow table: stats and one dict per live flow."""
    from wirematch.pipeline.native import lib

    with attach(name) as region:
        table = attach_flow_table(region)
        if table is None:
            raise LookupError(f"instance {name!r} has no flow table (blob {FLOWS_BLOB!r})")
        entries = table.flows()
        stats = table.stats()
        capacity, max_flows = table.capacity, table.max_flows
        now = int(lib.wm_clock_read_tsc())
    hz = tsc_hz()
    flows = []
    for e in entries:
        k, d = e["key"], e["decision"]
        last = int(e["last_seen"])
        flows.append(
            {
                "src": f"{ipaddress.IPv4Address(int(k['src_addr']))}:{int(k['src_port'])}",
                "dst": f"{ipaddress.IPv4Address(int(k['dst_addr']))}:{int(k['dst_port'])}",
                "vlan": int(k["vlan"]),
                "proto": PROTOCOLS.get(int(k["proto"]), str(int(k["proto"]))),
                "action": "allow" if int(d["action"]) == lib.WM_FLOW_ALLOW else "deny",
                "session": int(d["session"]),
                "shard": int(d["shard"]),
                "queue": int(d["queue"]),
                "bucket": None if int(d["bucket"]) == lib.WM_FLOW_NO_BUCKET else int(d["bucket"]),
                "rule": None if int(d["rule"]) == lib.WM_FLOW_NO_RULE else f"{int(d['rule']):08x}",
                "packets": int(e["packets"]),
                "bytes": int(e["bytes"]),
                "drops": int(e["drops"]),
                "installed_tsc": int(e["installed"]),
                "last_seen_tsc": last,
                "idle_s": round(max(0, now - last) / hz, 3) if last and hz else None,
            }
        )
    flows.sort(key=lambda f: (-f["packets"], f["src"]))
    return {
        "name": name,
        "capacity": capacity,
        "max_flows": max_flows,
        "stats": stats,
        "flows": flows,
    }


def render_flows(data: dict[str, Any]) -> str:
    st = data["stats"]
    lines = [
        f"flow table of {data['name']}: {st['n_live']} live / {data['max_flows']} max "
        f"({data['capacity']} slots, {st['n_tombstones']} tombstones, longest probe "
        f"{st['max_probe']}); inserts {st['inserts']}, updates {st['updates']}, "
        f"removes {st['removes']}, expired {st['expired']}, refused (full) {st['insert_full']}"
    ]
    if not data["flows"]:
        lines.append("no flows")
        return "\n".join(lines)
    lines.append(
        f"{'source':22} {'destination':22} {'vlan':>4} {'proto':5} {'action':6} {'session':>7} "
        f"{'shard':>5} {'packets':>12} {'bytes':>14} {'drops':>10} {'idle s':>8}"
    )
    for f in data["flows"]:
        lines.append(
            f"{f['src']:22} {f['dst']:22} {f['vlan']:>4} {f['proto']:5} {f['action']:6} "
            f"{f['session']:>7} {f['shard']:>5} {f['packets']:>12,} {f['bytes']:>14,} "
            f"{f['drops']:>10,} {_num(f['idle_s']):>8}"
        )
    return "\n".join(lines)


# -- commands -------------------------------------------------------------------


def _cli_error(exc: Exception) -> Exception:
    from wirematch.output import CliError

    return CliError(str(exc))


def cmd_status(args: argparse.Namespace) -> None:
    from wirematch.output import CliError
    from wirematch.pipeline.native.shm import RegionError

    if args.interval < 0:
        raise CliError("--interval must be >= 0 seconds")
    try:
        report = read_status(args.name, args.interval)
    except RegionError as exc:
        raise _cli_error(exc) from exc
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render_status(report))


CLEAR_SCREEN = "\x1b[H\x1b[2J"


def run_top(
    name: str,
    interval: float,
    count: int,
    out: Callable[[str], None],
    as_json: bool = False,
    clear: bool = True,
) -> int:
    """Refresh a status screen every `interval` s, `count` times (0: until Ctrl-C).

    Each screen shows the window since the previous one.  Returns the number
    of screens shown; Ctrl-C ends it cleanly."""
    shown = 0
    with attach(name) as region:
        hz = tsc_hz()
        before = take_snapshot(region)
        try:
            while count == 0 or shown < count:
                time.sleep(interval)
                after = take_snapshot(region)
                report = build_report(before, after, hz, read_instance(region), name)
                if as_json:
                    out(json.dumps(report, default=str))
                else:
                    stamp = time.strftime("%H:%M:%S")
                    screen = f"wirematch top  {stamp}  (Ctrl-C quits)\n" + render_status(report)
                    out((CLEAR_SCREEN if clear else "") + screen)
                shown += 1
                before = after
        except KeyboardInterrupt:
            pass
    return shown


def cmd_top(args: argparse.Namespace) -> None:
    from wirematch.output import CliError
    from wirematch.pipeline.native.shm import RegionError

    if args.interval <= 0:
        raise CliError("--interval must be > 0 seconds")
    if args.count < 0:
        raise CliError("--count must be >= 0 (0: until Ctrl-C)")

    def out(text: str) -> None:
        print(text, flush=True)

    try:
        if sys.stdout.isatty() and not args.json and args.count == 0:
            from wirematch.pipeline.ops.top import run_curses

            attach(args.name).close()  # a missing instance is an error, not a blank screen
            run_curses(args.name, args.interval)
            return
        run_top(args.name, args.interval, args.count, out, args.json, sys.stdout.isatty())
    except RegionError as exc:
        raise _cli_error(exc) from exc


def cmd_flows(args: argparse.Namespace) -> None:
    from wirematch.pipeline.native.shm import RegionError

    try:
        data = read_flows(args.name)
    except (RegionError, LookupError, ValueError) as exc:
        raise _cli_error(exc) from exc
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(render_flows(data))


NAME_ARG = (
    ("--name",),
    {"default": DEFAULT_NAME, "help": "instance name ([appliance] name); default wirematch"},
)


def register_commands(register: Callable[[Command], None]) -> None:
    """Add status, top and flows to the CLI's command table."""
    from wirematch.output import Command

    register(
        Command(
            ("status",),
            cmd_status,
            "attach read-only to a running instance: work, drops by reason, cycles per "
            "packet, latency percentiles, ring occupancy (a window with --interval)",
            (
                NAME_ARG,
                (
                    ("--interval",),
                    {
                        "type": float,
                        "default": 1.0,
                        "help": "clear-and-measure window in seconds (0: totals only)",
                    },
                ),
            ),
        )
    )
    register(
        Command(
            ("top",),
            cmd_top,
            "full-screen view of a running instance, refreshed every --interval seconds "
            "(q quits, p pauses, 1-4 or Tab switch views); with --count or --json, or when "
            "the output is not a terminal, one status screen per interval",
            (
                NAME_ARG,
                (("--interval",), {"type": float, "default": 1.0, "help": "seconds per screen"}),
                (
                    ("--count", "--iterations"),
                    {"type": int, "default": 0, "help": "screens to show (0: until Ctrl-C)"},
                ),
            ),
        )
    )
    register(
        Command(
            ("flows",),
            cmd_flows,
            "dump the fast-path flow table of a running instance with per-flow counters",
            (NAME_ARG,),
        )
    )
