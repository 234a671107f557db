"""Measurement from two captures: what went in (the replayer's --sent-pcap,
or the client side's capture) and what came out (replies and market data).

Each inbound message is matched to its first reply by the golden model,
which knows, for every message it applies, which flow's reply stream it
answers on and at which position (the MoldUDP64 sequence number of that
reply, by session); the captured reply with that sequence number gives the
time out.  Wire-in to reply-out latency = capture time of the reply packet -
capture time of the inbound packet; both timestamps come from the captures
(CLOCK_REALTIME on one machine: the replayer's hand-over time and the
capturer's kernel receive time).  The same for the first market-data
message an inbound message causes.  Throughput over time: inbound packets,
reply and feed messages per bin.

Runs are measured unlooped: a loop replays the same UserRefNums, which the
appliance rejects, so its replies are not the first pass's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wirematch.replay import compare, model
from wirematch.replay.pcapio import Record, parse_udp
from wirematch.replay.setup import Setup

PERCENTILES = (50, 90, 99, 99.9)


@dataclass
class Latencies:
    reply_ns: np.ndarray
    feed_ns: np.ndarray
    unmatched_replies: int
    unmatched_feed: int


def _summary(ns: np.ndarray) -> dict[str, float]:
    if len(ns) == 0:
        return {"count": 0}
    out = {"count": int(len(ns)), "min_ns": float(ns.min()), "mean_ns": float(ns.mean())}
    for p in PERCENTILES:
        out[f"p{p:g}_ns"] = float(np.percentile(ns, p))
    out["max_ns"] = float(ns.max())
    return out


def latencies(
    sent: list[Record], output: list[Record], setup: Setup
) -> tuple[Latencies, compare.Streams, model.Expected]:
    exp = model.expected(sent, setup)
    got = compare.from_capture(output, setup)
    reply: list[int] = []
    missing = 0
    for (rec, _k), (flow, idx) in exp.first_reply.items():
        times = got.times.get(compare.stream_key(flow), [])
        if idx < len(times):
            reply.append(times[idx] - sent[rec].ts_ns)
        else:
            missing += 1
    feed: list[int] = []
    fmissing = 0
    seen: set[tuple[int, int]] = set()
    ftimes = got.times.get("feed", [])
    for i, cause in enumerate(exp.feed_causes):
        key = (cause.record, cause.message)
        if key in seen:
            continue
        seen.add(key)
        if i < len(ftimes):
            feed.append(ftimes[i] - sent[cause.record].ts_ns)
        else:
            fmissing += 1
    lat = Latencies(
        np.array(reply, dtype=np.int64), np.array(feed, dtype=np.int64), missing, fmissing
    )
    return lat, got, exp


def throughput(
    sent: list[Record], got: compare.Streams, setup: Setup, bin_ns: int
) -> dict[str, Any]:
    app = setup.appliance
    t_in = []
    for r in sent:
        u = parse_udp(r.data)
        if not isinstance(u, str) and u.dport == app[1]:
            t_in.append(r.ts_ns)
    t_rep = [t for name, ts in got.times.items() if name != "feed" for t in ts]
    t_feed = got.times.get("feed", [])
    every = t_in + t_rep + list(t_feed)
    if not every:
        return {"bin_ns": bin_ns, "start_ns": 0, "inbound": [], "replies": [], "feed": []}
    t0 = min(every)
    nbins = (max(every) - t0) // bin_ns + 1

    def hist(ts: list[int]) -> list[int]:
        h = np.zeros(nbins, dtype=np.int64)
        if ts:
            np.add.at(h, (np.array(ts, dtype=np.int64) - t0) // bin_ns, 1)
        return [int(x) for x in h]

    return {
        "bin_ns": bin_ns,
        "start_ns": int(t0),
        "inbound": hist(t_in),
        "replies": hist(t_rep),
        "feed": hist(list(t_feed)),
    }


# Percentiles marked on the latency plot, and the x axis ticks (1/(1-p), log).
MARKED = (50.0, 99.0, 99.9)
TICKS = (0.0, 90.0, 99.0, 99.9, 99.99, 99.999)


def plot(report: dict[str, Any], lat: Latencies, out_dir: Path, details: str = "") -> list[str]:
    """latency.png: the percentile distribution HdrHistogram-style (latency
    against 1/(1-p) on a log axis, so the tail is readable), p50/p99/p99.9
    marked; throughput.png: packets in and messages out on their own axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = f"{report['inbound_packets']:,} packets in, {report['commands']:,} commands" + (
        f"; {details}" if details else ""
    )
    files = []
    fig, ax = plt.subplots(figsize=(10, 5.5))
    top, lo, hi = 0.0, float("inf"), 0.0
    for k, (name, ns) in enumerate((("reply", lat.reply_ns), ("market data", lat.feed_ns))):
        if len(ns) == 0:
            continue
        us = np.sort(ns) / 1e3
        n = len(us)
        frac = np.arange(n) / n  # fraction of messages at or below each value
        x = 1.0 / (1.0 - frac)
        (line,) = ax.plot(x, us, drawstyle="steps-post", label=f"{name} ({n:,} messages)")
        for p in MARKED:
            v = float(np.percentile(us, p))
            ax.plot([1.0 / (1.0 - p / 100.0)], [v], "o", color=line.get_color())
            ax.annotate(
                f"p{p:g} {v:,.1f} µs",
                (1.0 / (1.0 - p / 100.0), v),
                textcoords="offset points",
                xytext=(6, 8) if k == 0 else (6, -14),  # one stream above, one below
                fontsize=8,
                color=line.get_color(),
            )
        top, lo, hi = max(top, float(n)), min(lo, float(us[0])), max(hi, float(us[-1]))
    ax.set_xscale("log")
    if hi > 50 * lo > 0:
        ax.set_yscale("log")  # a tail fifty times the fastest: keep both readable
    ticks = [1.0 / (1.0 - p / 100.0) for p in TICKS if 1.0 / (1.0 - p / 100.0) <= max(top, 10)]
    ax.set_xticks(ticks, [f"{p:g}%" for p in TICKS[: len(ticks)]])
    ax.set(
        title=f"wire-in to wire-out latency by percentile\n{run}",
        xlabel="percentile (log scale in 1/(1-p))",
        ylabel="latency (µs)",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = out_dir / "latency.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    files.append(str(path))

    tp = report["throughput"]
    fig, (ax_in, ax_out) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    scale = 1e9 / tp["bin_ns"]
    x = np.arange(len(tp["inbound"])) * tp["bin_ns"] / 1e9
    ax_in.plot(x, np.array(tp["inbound"]) * scale, label="order-entry packets in")
    ax_in.set(ylabel="packets/s", title=f"throughput over time\n{run}")
    for key, label in (("replies", "OUCH replies out"), ("feed", "ITCH messages out")):
        ax_out.plot(x, np.array(tp[key]) * scale, label=label)
    ax_out.set(
        ylabel="messages/s", xlabel=f"s since the first packet ({tp['bin_ns'] / 1e6:g} ms bins)"
    )
    for ax in (ax_in, ax_out):
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right")
    fig.tight_layout()
    path = out_dir / "throughput.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    files.append(str(path))
    return files


def report(
    sent: list[Record],
    output: list[Record],
    setup: Setup,
    out_dir: str | Path,
    bin_ns: int = 10_000_000,
    plots: bool = True,
    details: str = "",
) -> dict[str, Any]:
    """Write report.json (and latency.png, throughput.png) into out_dir;
    returns the report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lat, got, exp = latencies(sent, output, setup)
    cmp = compare.compare(compare.from_expected(exp), got)
    rep: dict[str, Any] = {
        "inbound_packets": len(sent),
        "commands": exp.commands,
        "latency": {
            "reply": _summary(lat.reply_ns),
            "feed": _summary(lat.feed_ns),
            "unmatched_replies": lat.unmatched_replies,
            "unmatched_feed": lat.unmatched_feed,
            "matched_by": "flow + MoldUDP64 sequence number of the first reply, from the model",
        },
        "throughput": throughput(sent, got, setup, bin_ns),
        "golden": {k: cmp[k] for k in ("identical", "hash", "expected_hash", "problems")},
        "files": [],
    }
    if plots:
        rep["files"] = plot(rep, lat, out, details)
    (out / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    rep["files"].append(str(out / "report.json"))
    return rep
