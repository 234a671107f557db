"""What a run did, from the appliance's counters: orders in, accepted,
rejected by reason, trades, market data out, rates, latency percentiles."""

from __future__ import annotations

from typing import Any


def _sum(counters: dict[str, dict[str, int]], prefix: str, key: str) -> int:
    return sum(v.get(key, 0) for k, v in counters.items() if k.startswith(prefix))


def _drops(block: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in block.items() if "drop" in k and v}


def summarize(final: dict[str, Any], seconds: float) -> dict[str, Any]:
    """final: Appliance.stop()'s status; seconds: how long traffic flowed."""
    c: dict[str, dict[str, int]] = final["counters"]
    m = c.get("matcher.s0", {})
    gw = c.get("gateway.s0", {})
    rejects = {
        k[7:]: v for k, v in m.items() if k.startswith("reject_") and v and k != "reject_none"
    }
    refused = {
        k[len("gw_in_drop_") :]: v for k, v in gw.items() if k.startswith("gw_in_drop_") and v
    }
    dropped: dict[str, int] = {}
    for name, block in c.items():
        stage = name.split(".")[0]
        if stage in ("rx", "engine", "tx", "slowpath", "nic"):
            for k, v in _drops(block).items():
                dropped[f"{stage}.{k}"] = dropped.get(f"{stage}.{k}", 0) + v
    orders_in = _sum(c, "rx.", "messages")
    commands = _sum(c, "engine.", "commands")
    lat = final.get("latency_ns", {})
    secs = max(seconds, 1e-9)
    return {
        "backend": final.get("backend"),
        "seconds": round(seconds, 3),
        "packets_in": _sum(c, "rx.", "packets"),
        "orders_in": orders_in,
        "commands_to_matcher": commands,
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
        "orders_per_sec": round(orders_in / secs),
        "rx_to_match_ns": lat.get("engine.s0.rx_to_match_ns", {}),
        "rx_to_reply_ns": lat.get("tx.q0.rx_to_reply_ns", {}),
        "drained": final.get("drained", False),
    }


def render(s: dict[str, Any]) -> str:
    def pct(h: dict[str, float]) -> str:
        if not h:
            return "n/a"
        return (
            f"p50 {h['p50']:.0f} ns, p90 {h['p90']:.0f} ns, p99 {h['p99']:.0f} ns, "
            f"p99.9 {h['p99.9']:.0f} ns, max {h['max']:.0f} ns"
        )

    def kv(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda x: -x[1])) or "none"

    lines = [
        f"backend:             {s['backend']}",
        f"orders in:           {s['orders_in']} in {s['packets_in']} packets over "
        f"{s['seconds']} s ({s['orders_per_sec']:,} orders/s)",
        f"to the matcher:      {s['commands_to_matcher']} (new {s['new_orders']}, "
        f"cancel {s['cancels']}, replace {s['replaces']})",
        f"accepted:            {s['accepted']}",
        f"rejected (matcher):  {kv(s['rejected_by_matcher'])}",
        f"refused (gateway):   {kv(s['refused_by_gateway'])}",
        f"dropped:             {kv(s['dropped'])}",
        f"trades:              {s['trades']}",
        f"out:                 {s['replies_out']} OUCH replies, {s['market_data_out']} ITCH "
        f"messages in {s['packets_out']} packets",
        f"receive to match:    {pct(s['rx_to_match_ns'])}",
        f"receive to reply:    {pct(s['rx_to_reply_ns'])}",
        f"clean stop:          {'yes, every ring drained' if s['drained'] else 'NO (timed out)'}",
    ]
    return "\n".join(lines)
