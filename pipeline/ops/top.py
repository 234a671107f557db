"""`wirematch top`: a full-screen view of a running instance (curses).

Every figure on a screen covers the same window: the interval since the
previous screen (counts and rates per second, latency percentiles of that
window).  Views, switched with the number keys or Tab:

  1 overview  business figures first: orders in, accepted, rejected by
              reason, trades, replies and market data out; then what was
              lost and why (kernel receive drops, fill ring found empty,
              drops by stage and reason); then latency
  2 stages    per stage: work per second, busy share, ns per unit, drops
  3 latency   every histogram's window percentiles
  4 rings     ring occupancy, enqueues per second, refusals

Keys: q quits, p pauses (the window then grows until resumed), + and -
change the interval.  The screen fits 80x24 and follows resizes.  The view
is drawn by pure functions of a status report (`screen`), so it is tested
without a terminal; the curses loop only draws their lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from wirematch.pipeline.ops.status import (
    attach,
    build_report,
    read_instance,
    take_snapshot,
    tsc_hz,
)

VIEWS = ("overview", "stages", "latency", "rings")
# Loss a reader should see first, with what it means.
LOSS_CAUSES = {
    "drop_kernel_rx": "kernel receive drops (no free AF_XDP buffer)",
    "rx_fill_ring_empty": "fill ring found empty by the kernel",
    "drop_rx_ring_full": "receive ring full",
    "drop_socket_full": "socket queue overflowed",
    "drop_no_mbuf": "DPDK mbuf pool empty",
}


def _n(v: float | int | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


def _us(ns: float | None) -> str:
    if ns is None:
        return "-"
    return f"{ns / 1000:,.1f}µs" if ns < 1e6 else f"{ns / 1e6:,.1f}ms"


def _delta(report: dict[str, Any], obj: str) -> dict[str, int]:
    for st in report["stages"]:
        if st["object"] == obj:
            return st.get("delta", {})
    return {}


def _sum_delta(report: dict[str, Any], stage: str, key: str) -> int:
    return sum(st.get("delta", {}).get(key, 0) for st in report["stages"] if st["stage"] == stage)


def header(report: dict[str, Any], view: str, interval: float, paused: bool) -> list[str]:
    inst = report.get("instance") or {}
    state = "running" if report["running"] else "NOT RUNNING"
    where = f"{inst.get('backend', '?')}, pid {inst.get('pid', '?')}" if inst else ""
    win = report.get("window_s") or 0.0
    tabs = "  ".join(f"[{i + 1} {v}]" if v == view else f"{i + 1} {v}" for i, v in enumerate(VIEWS))
    mode = "PAUSED" if paused else f"every {interval:g} s"
    return [
        f"wirematch top  {report['name']}: {state}  {where}  {time.strftime('%H:%M:%S')}",
        f"{tabs}   window {win:.2f} s ({mode})",
        "q quit  p pause  +/- interval  Tab next view",
    ]


def overview(report: dict[str, Any]) -> list[str]:
    win = report.get("window_s") or 0.0
    per_s = (lambda n: n / win) if win > 0 else (lambda n: 0.0)
    m = _delta(report, "matcher.s0")
    rejects = {k[7:]: v for k, v in m.items() if k.startswith("reject_") and v}
    rejects.pop("none", None)
    rows = [
        ("orders in", _sum_delta(report, "rx", "messages")),
        ("  new", m.get("cmd_new", 0)),
        ("  cancel", m.get("cmd_cancel", 0)),
        ("  replace", m.get("cmd_replace", 0)),
        ("accepted (new orders)", m.get("accepted", 0)),
        ("rejected", sum(rejects.values())),
        *((f"  {k}", v) for k, v in sorted(rejects.items(), key=lambda kv: -kv[1])[:3]),
        ("refused by the gateway", _sum_delta(report, "engine", "refused")),
        ("trades", m.get("trades", 0)),
        ("OUCH replies out", _sum_delta(report, "engine", "replies")),
        ("ITCH messages out", _sum_delta(report, "engine", "md_messages")),
    ]
    lines = [f"{'ORDERS':34}{'per second':>16}{'in window':>16}"]
    lines += [f"{name:34}{_n(per_s(v)):>16}{_n(v):>16}" for name, v in rows]
    lines.append("")
    lines.append("LOSS (in window)")
    loss = []
    for st in report["stages"]:
        d = st.get("delta", {})
        for key, why in LOSS_CAUSES.items():
            if d.get(key):
                loss.append(f"  {st['object']:12} {why:44}{_n(d[key]):>14}")
        for reason, n in st.get("drops_delta", {}).items():
            if n and f"drop_{reason}" not in LOSS_CAUSES:
                loss.append(f"  {st['object']:12} {reason:44}{_n(n):>14}")
    lines += loss or ["  none"]
    lines.append("")
    lines += latency(report, only=("rx_to_match_ns", "rx_to_reply_ns"))
    return lines


def stages(report: dict[str, Any]) -> list[str]:
    lines = [f"{'stage':14}{'unit':10}{'per second':>14}{'busy':>8}{'ns/unit':>10}{'drops':>12}"]
    for st in report["stages"]:
        work = st.get("work")
        rate = st.get("rate", {}).get(work) if work else None
        busy = st.get("busy")
        drops = sum(st.get("drops_delta", {}).values())
        lines.append(
            f"{st['object']:14}{work or '-':10}{_n(rate):>14}"
            f"{(f'{busy * 100:.1f}%' if busy is not None else '-'):>8}"
            f"{_n(st.get('ns_per_unit')):>10}{_n(drops):>12}"
        )
    return lines


def latency(report: dict[str, Any], only: tuple[str, ...] = ()) -> list[str]:
    lines = [f"{'LATENCY (window)':28}{'count':>10}{'p50':>10}{'p99':>10}{'p99.9':>10}{'max':>10}"]
    for h in report["histograms"]:
        if only and h["metric"] not in only:
            continue
        s = h.get("window") or {}
        if h["unit"] == "ns":
            cells = [
                _us(s.get(k)) if s.get("count") else "-" for k in ("p50", "p99", "p99.9", "max")
            ]
        else:
            cells = [
                _n(s.get(k)) if s.get("count") else "-" for k in ("p50", "p99", "p99.9", "max")
            ]
        lines.append(
            f"{h['object']:28}{_n(s.get('count', 0)):>10}" + "".join(f"{c:>10}" for c in cells)
        )
    return lines


def rings(report: dict[str, Any]) -> list[str]:
    lines = [f"{'ring':16}{'used':>10}{'capacity':>10}{'occupied':>10}{'enq/s':>14}{'refused':>10}"]
    for r in report["rings"]:
        rate = r.get("rate", {}).get("enqueued")
        refused = r.get("delta", {}).get("enqueue_refused", 0)
        lines.append(
            f"{r['name']:16}{_n(r['count']):>10}{_n(r['capacity']):>10}"
            f"{r['occupancy'] * 100:>9.1f}%{_n(rate):>14}{_n(refused):>10}"
        )
    return lines


BODIES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "overview": overview,
    "stages": stages,
    "latency": latency,
    "rings": rings,
}


def screen(
    report: dict[str, Any], view: str, width: int, height: int, interval: float, paused: bool
) -> list[str]:
    """The lines of one screen, cut to width x height."""
    lines = header(report, view, interval, paused) + [""] + BODIES[view](report)
    if len(lines) > height:
        lines = lines[: height - 1] + [
            f"... {len(lines) - height + 1} more lines (a taller window)"
        ]
    return [ln[: max(width - 1, 0)] for ln in lines]


def run_curses(name: str, interval: float) -> None:
    """The interactive loop: q quits, p pauses, Tab/1-4 switch views, +/- interval."""
    import curses

    def loop(win: Any) -> None:
        curses.curs_set(0)
        win.timeout(100)
        view, paused, every = VIEWS[0], False, interval
        with attach(name) as region:
            hz = tsc_hz()
            before = take_snapshot(region)
            report = build_report(None, before, hz, read_instance(region), name)
            next_at = time.monotonic() + every
            while True:
                now = time.monotonic()
                if not paused and now >= next_at:
                    after = take_snapshot(region)
                    report = build_report(before, after, hz, read_instance(region), name)
                    before, next_at = after, now + every
                h, w = win.getmaxyx()
                win.erase()
                for y, line in enumerate(screen(report, view, w, h, every, paused)):
                    win.addstr(y, 0, line)
                win.refresh()
                key = win.getch()
                if key in (ord("q"), ord("Q"), 27):
                    return
                if key in (ord("p"), ord("P"), ord(" ")):
                    paused = not paused
                    next_at = time.monotonic()
                elif key == ord("\t"):
                    view = VIEWS[(VIEWS.index(view) + 1) % len(VIEWS)]
                elif ord("1") <= key < ord("1") + len(VIEWS):
                    view = VIEWS[key - ord("1")]
                elif key == ord("+"):
                    every = min(every * 2, 60.0)
                elif key == ord("-"):
                    every = max(every / 2, 0.1)
                # curses.KEY_RESIZE: the next pass reads the new size.

    try:
        curses.wrapper(loop)
    except KeyboardInterrupt:
        pass
