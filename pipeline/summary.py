"""What a run did, from the appliance's counters and histograms: orders in,
accepted, rejected by reason, trades, market data out, rates, latency
percentiles, and how the counts reconcile.  A summary covers a window: the
whole run (`summarize`, from the final status) or a phase between two
snapshots of the region (`window`, `summarize_window`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wirematch.pipeline.native.hist import HistSnapshot
from wirematch.pipeline.native.shm import Region

MATCH_HIST = "engine.s0.rx_to_match_ns"
REPLY_HIST = "tx.q0.rx_to_reply_ns"

# What each matcher reject and gateway refusal means to someone reading a summary.
REASONS = {
    "unknown_order": "cancel or replace of an order no longer on the book (filled or "
    "cancelled before it arrived)",
    "gw_in_drop_user_ref_not_increasing": "a client's order number was not above its last",
    "gw_in_drop_price_over_feed_max": "a limit price above 200,000.0000, which the market "
    "data feed cannot carry",
    "nic.drop_kernel_rx": "no free receive buffer for the AF_XDP socket: the receiver was "
    "saturated",
    "nic.drop_rx_ring_full": "the receive ring was full: the receiver was saturated",
    "nic.drop_socket_full": "the kernel's socket queue overflowed: the receiver was saturated",
    "rx.drop_after_gap": "the client's MoldUDP64 sequence had a gap (on_sequence_gap = drop)",
}


@dataclass
class Snapshot:
    """Every counter block and latency histogram of a region at one moment."""

    counters: dict[str, dict[str, int]]
    hists: dict[str, HistSnapshot]


def snapshot(region: Region) -> Snapshot:
    counters: dict[str, dict[str, int]] = {}
    hists: dict[str, HistSnapshot] = {}
    for obj in region.objects():
        if obj.type == "counters":
            counters[obj.name] = dict(region.counters(obj.name).snapshot())
        elif obj.type == "histogram" and obj.name in (MATCH_HIST, REPLY_HIST):
            hists[obj.name] = region.histogram(obj.name).snapshot()
    return Snapshot(counters, hists)


def window(after: Snapshot, before: Snapshot) -> Snapshot:
    """What happened between two snapshots."""
    counters = {
        name: {k: v - before.counters.get(name, {}).get(k, 0) for k, v in block.items()}
        for name, block in after.counters.items()
    }
    hists = {n: h - before.hists[n] if n in before.hists else h for n, h in after.hists.items()}
    return Snapshot(counters, hists)


# Drop counters that count messages (orders); every other drop counts packets.
ORDER_DROPS = {
    "rx.drop_duplicate",
    "rx.drop_after_gap",
    "rx.drop_seq_table_full",
    "rx.drop_session_ended",
    "rx.drop_bad_ouch",
    "rx.drop_message_too_long",
}


def drop_unit(name: str) -> str:
    """'orders' or 'packets': what a drop counter (stage.counter) counts."""
    return "orders" if name in ORDER_DROPS or name.startswith("engine.") else "packets"


def _sum(counters: dict[str, dict[str, int]], prefix: str, key: str) -> int:
    return sum(v.get(key, 0) for k, v in counters.items() if k.startswith(prefix))


def _drops(block: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in block.items() if "drop" in k and v}


def _latency(h: HistSnapshot | None) -> dict[str, float]:
    if h is None or h.total == 0:
        return {}
    p50, p90, p99, p999 = h.percentiles((50, 90, 99, 99.9))
    return {"count": h.total, "p50": p50, "p90": p90, "p99": p99, "p99.9": p999, "max": h.max}


def _counts(c: dict[str, dict[str, int]], seconds: float) -> dict[str, Any]:
    m = c.get("matcher.s0", {})
    gw = c.get("gateway.s0", {})
    rejects = {
        k[7:]: v for k, v in m.items() if k.startswith("reject_") and v and k != "reject_none"
    }
    refused = {
        k[len("gw_in_drop_") :]: v for k, v in gw.items() if k.startswith("gw_in_drop_") and v
    }
    dropped: dict[str, dict[str, int]] = {"packets": {}, "orders": {}}
    for name, block in c.items():
        stage = name.split(".")[0]
        if stage in ("rx", "engine", "tx", "slowpath", "nic"):
            for k, v in _drops(block).items():
                key = f"{stage}.{k}"
                unit = dropped[drop_unit(key)]
                unit[key] = unit.get(key, 0) + v
    orders_in = _sum(c, "rx.", "messages")
    return {
        "seconds": round(seconds, 3),
        "packets_in": _sum(c, "rx.", "packets"),
        "orders_in": orders_in,
        "commands_to_matcher": _sum(c, "engine.", "commands"),
        "new_orders": m.get("cmd_new", 0),
        "cancels": m.get("cmd_cancel", 0),
        "replaces": m.get("cmd_replace", 0),
        "accepted": m.get("accepted", 0),
        "rejected_by_matcher": rejects,
        "refused_by_gateway": refused,
        "dropped": dropped,
        "trades": m.get("trades", 0),
        "replies_out": _sum(c, "engine.", "replies"),
        "market_data_out": _sum(c, "engine.", "md_messages"),
        "packets_out": _sum(c, "tx.", "packets"),
        "orders_per_sec": round(orders_in / max(seconds, 1e-9)),
    }


def summarize(final: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The whole run.  final: Appliance.stop()'s status; seconds: how long
    traffic flowed."""
    lat = final.get("latency_ns", {})
    return {
        "backend": final.get("backend"),
        **_counts(final["counters"], seconds),
        "rx_to_match_ns": lat.get(MATCH_HIST, {}),
        "rx_to_reply_ns": lat.get(REPLY_HIST, {}),
        "drained": final.get("drained", False),
    }


def summarize_window(win: Snapshot, seconds: float) -> dict[str, Any]:
    """One phase: the counts and latencies of a window between two snapshots."""
    return {
        **_counts(win.counters, seconds),
        "rx_to_match_ns": _latency(win.hists.get(MATCH_HIST)),
        "rx_to_reply_ns": _latency(win.hists.get(REPLY_HIST)),
    }


def reconcile(s: dict[str, Any], sent: dict[str, Any] | None = None) -> dict[str, Any]:
    """How the counts add up.  Packets: what the sender sent = received +
    dropped by the NIC stage (with the reason it counted) + not seen at all
    (lost before the appliance could count them).  Orders: received = applied
    by the matcher + refused by the gateway + dropped after receive."""
    packets, orders = s["dropped"]["packets"], s["dropped"]["orders"]
    out: dict[str, Any] = {
        "orders_to_engine": s["orders_in"],
        "orders_applied": s["commands_to_matcher"],
        "orders_refused": sum(s["refused_by_gateway"].values()),
        "orders_dropped_by_engine": sum(v for k, v in orders.items() if k.startswith("engine.")),
        "orders_dropped_at_receive": sum(v for k, v in orders.items() if k.startswith("rx.")),
    }
    out["orders_unexplained"] = (
        out["orders_to_engine"]
        - out["orders_applied"]
        - out["orders_refused"]
        - out["orders_dropped_by_engine"]
    )
    if sent:
        before_rx = sum(v for k, v in packets.items() if k.startswith("nic."))
        # The sender's --hello heartbeats come before its timed run: received too.
        total = sent["packets"] + sent.get("hello_packets", 0)
        out["packets_sent"] = total
        out["packets_received"] = s["packets_in"]
        out["packets_dropped_before_receive"] = before_rx
        out["packets_not_seen"] = total - s["packets_in"] - before_rx
    return out


def _us(ns: float) -> str:
    return f"{ns / 1000:,.1f} µs" if ns < 1e6 else f"{ns / 1e6:,.2f} ms"


def render_latency(h: dict[str, float]) -> str:
    if not h:
        return "n/a (no orders)"
    return f"p50 {_us(h['p50'])}, p99 {_us(h['p99'])}, p99.9 {_us(h['p99.9'])}, max {_us(h['max'])}"


def _kv(d: dict[str, int], unit: str) -> str:
    if not d:
        return "none"
    parts = []
    for k, v in sorted(d.items(), key=lambda x: -x[1]):
        why = REASONS.get(k) or REASONS.get(f"gw_in_drop_{k}")
        parts.append(f"{v:,} {unit}: {k}" + (f" ({why})" if why else ""))
    return "; ".join(parts)


def render_drops(dropped: dict[str, dict[str, int]]) -> str:
    parts = [_kv(d, unit) for unit, d in dropped.items() if d]
    return "; ".join(parts) or "none"


def render(s: dict[str, Any]) -> str:
    """A whole run, as `wirematch run` prints it at the end."""
    lines = [
        f"backend:             {s['backend']}",
        f"orders in:           {s['orders_in']:,} orders in {s['packets_in']:,} packets over "
        f"{s['seconds']} s ({s['orders_per_sec']:,} orders/s)",
        *render_counts(s),
        f"receive to match:    {render_latency(s['rx_to_match_ns'])}",
        f"receive to reply:    {render_latency(s['rx_to_reply_ns'])}",
        f"clean stop:          {'yes, every ring drained' if s['drained'] else 'NO (timed out)'}",
    ]
    return "\n".join(lines)


def render_counts(s: dict[str, Any]) -> list[str]:
    return [
        f"to the matcher:      {s['commands_to_matcher']:,} orders (new {s['new_orders']:,}, "
        f"cancel {s['cancels']:,}, replace {s['replaces']:,})",
        f"accepted:            {s['accepted']:,} new orders",
        f"rejected (matcher):  {_kv(s['rejected_by_matcher'], 'orders')}",
        f"refused (gateway):   {_kv(s['refused_by_gateway'], 'orders')}",
        f"dropped:             {render_drops(s['dropped'])}",
        f"trades:              {s['trades']:,}",
        f"out:                 {s['replies_out']:,} OUCH replies and {s['market_data_out']:,} "
        f"ITCH messages in {s['packets_out']:,} packets",
    ]
