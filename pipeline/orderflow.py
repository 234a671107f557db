"""Seeded, reproducible order flow as matcher command batches.

The mix is realistic in shape: passive limit orders near the touch, cancels
and replaces of the session's own recent orders (some of which have traded
away by then, so a few are rejected as unknown, as in real flow), aggressive
IOC orders that cross the spread, and a small share of bad commands (prices
outside the band, unknown instruments, zero quantities, duplicate ids) so
rejects by reason show up.  The same seed gives the same commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wirematch.pipeline.native import matcher as mt

KINDS = ("passive", "cancel", "replace", "aggressive", "bad")


@dataclass
class FlowSpec:
    commands: int = 1_000_000
    instruments: int = 4
    sessions: int = 16
    seed: int = 1
    ref_price: int = 100_000  # price units (ticks of 1)
    price_band: int = 5_000
    mix: dict[str, float] = field(
        default_factory=lambda: {
            "passive": 0.55,
            "cancel": 0.25,
            "replace": 0.08,
            "aggressive": 0.10,
            "bad": 0.02,
        }
    )
    recent: int = 50  # cancels/replaces pick among the session's last N resting orders

    def rules(self) -> list[mt.InstrumentRules]:
        return [
            mt.InstrumentRules(
                id=i,
                tick_size=1,
                lot_size=1,
                min_order_qty=1,
                max_order_qty=1_000_000,
                ref_price=self.ref_price,
                price_band=self.price_band,
                max_levels=4096,
            )
            for i in range(self.instruments)
        ]


def generate(spec: FlowSpec) -> np.ndarray:
    """The command stream of `spec` (CMD_DTYPE, `spec.commands` long)."""
    rng = np.random.default_rng(spec.seed)
    n = spec.commands
    probs = np.array([spec.mix.get(k, 0.0) for k in KINDS], dtype=np.float64)
    if probs.sum() <= 0:
        raise ValueError("order flow mix has no weight")
    kind = rng.choice(len(KINDS), size=n, p=probs / probs.sum())
    cmds = mt.commands(n)
    session = rng.integers(1, spec.sessions + 1, size=n, dtype=np.uint32)
    instrument = rng.integers(0, spec.instruments, size=n, dtype=np.uint16)
    side = rng.integers(1, 3, size=n, dtype=np.uint8)  # BUY=1, SELL=2
    qty = rng.integers(1, 20, size=n) * 100
    # Passive prices rest 1..~50 ticks from the reference, geometric: most
    # near the touch.  Aggressive orders cross by 1..20 ticks.
    depth = np.minimum(rng.geometric(0.08, size=n), 400)
    cross = rng.integers(1, 20, size=n)
    sign = np.where(side == mt.BUY, -1, 1)
    passive_px = spec.ref_price + sign * depth
    aggressive_px = spec.ref_price - sign * cross

    cmds["session"] = session
    cmds["account"] = session  # one account per session: self-trades possible
    cmds["instrument"] = instrument
    cmds["side"] = side
    cmds["ord_type"] = mt.LIMIT
    cmds["stp"] = mt.STP_CANCEL_NEWEST
    cmds["qty"] = qty

    is_new = (kind == 0) | (kind == 3) | (kind == 4)
    cmds["type"] = np.where(is_new, mt.CMD_NEW, 0)
    cmds["tif"] = np.where(kind == 3, mt.IOC, mt.DAY)
    cmds["price"] = np.where(kind == 3, aggressive_px, passive_px)

    # Client ids: sequential per session over the orders it enters.
    client_id = np.zeros(n, dtype=np.uint64)
    price = cmds["price"].copy()
    target_of = np.full(n, -1, dtype=np.int64)  # the order a cancel/replace acts on
    for s in range(1, spec.sessions + 1):
        mine = np.flatnonzero(session == s)
        news = mine[is_new[mine]]
        client_id[news] = np.arange(1, len(news) + 1, dtype=np.uint64)
        # Cancels/replaces aim at one of the session's recent resting
        # (passive) orders; some will have traded or gone by then.
        resting = mine[kind[mine] == 0]
        acts = mine[(kind[mine] == 1) | (kind[mine] == 2)]
        if len(acts) == 0 or len(resting) == 0:
            continue
        placed = np.searchsorted(resting, acts)  # resting orders entered before each act
        back = rng.integers(0, spec.recent, size=len(acts))
        pick = np.clip(placed - 1 - np.minimum(back, np.maximum(placed - 1, 0)), 0, None)
        target_of[acts] = np.where(placed > 0, resting[pick], -1)
        # Replacement ids continue above the session's new-order ids.
        cmds["new_client_id"][acts] = (1 << 40) + np.arange(len(acts), dtype=np.uint64)
    acts = np.flatnonzero(target_of >= 0)
    tgt = target_of[acts]
    client_id[acts] = client_id[tgt]
    cmds["instrument"][acts] = instrument[tgt]
    cmds["side"][acts] = side[tgt]
    price[acts] = price[tgt]
    orphan = np.flatnonzero(((kind == 1) | (kind == 2)) & (target_of < 0))
    client_id[orphan] = 1 << 50  # nothing entered yet: an unknown order
    cmds["client_id"] = client_id
    cmds["type"][kind == 1] = mt.CMD_CANCEL
    cmds["type"][kind == 2] = mt.CMD_REPLACE
    cmds["qty"][kind == 1] = 0
    # Replace: half a quantity decrease in place, half a move of 1..3 ticks
    # away from the touch (priority lost).
    rep = np.flatnonzero(kind == 2)
    move = rng.random(len(rep)) < 0.5
    step = rng.integers(1, 4, size=len(rep))
    rep_side = cmds["side"][rep]
    away = np.where(rep_side == mt.BUY, -step, step)
    cmds["price"][rep] = price[rep] + np.where(move, away, 0)
    cmds["qty"][rep] = np.where(move, cmds["qty"][rep], np.maximum(cmds["qty"][rep] // 2, 100))

    # Bad commands, one reason each, in turn.
    bad = np.flatnonzero(kind == 4)
    reasons = bad % 4
    cmds["price"][bad[reasons == 0]] = spec.ref_price + 10 * spec.price_band  # out of band
    cmds["instrument"][bad[reasons == 1]] = 65535  # unknown instrument
    cmds["qty"][bad[reasons == 2]] = 0  # bad quantity
    dup = bad[reasons == 3]  # duplicate id: reuse the session's first id
    cmds["client_id"][dup] = 1
    cmds["price"][dup] = passive_px[dup]
    return cmds
