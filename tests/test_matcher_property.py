"""Random command streams through the C matcher and the Python reference book
(replay/refbook.py): identical event streams, and invariants after every
command (never crossed, quantities conserved, every resting order reachable
by id, L2 consistent with L3)."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wirematch.pipeline.native import matcher as mt
from wirematch.replay import refbook as rb

INT64_MAX = (1 << 63) - 1
MAX_ORDERS = 24
INSTRUMENTS = [
    # Instrument 1: tick 5, a price band, a wide dense window.
    dict(id=1, tick_size=5, lot_size=1, ref_price=10_000, price_band=300, max_levels=64),
    # Instrument 2: tick 1, lot 10, no band, few levels, a 64-tick window so
    # that most prices live in the fallback structure.
    dict(id=2, tick_size=1, lot_size=10, ref_price=10_000, max_levels=8, window_ticks=64),
    # Instrument 3: a per-instrument order limit, quantities up to 2^63-1.
    dict(id=3, tick_size=1, lot_size=1, ref_price=1_000, max_orders=6, max_levels=16),
]
TICK = {1: 5, 2: 1, 3: 1}
LOT = {1: 1, 2: 10, 3: 1}
MID = {1: 10_000, 2: 10_000, 3: 1_000}

FIELDS = [name for name, _, _ in mt._CMD_FIELDS]


def _blank() -> dict[str, int]:
    return {name: 0 for name in FIELDS}


def command(r: random.Random, sent: list[tuple[int, int, int]]) -> dict[str, int]:
    """One random command.  Hypothesis draws the stream's seed and length; a
    seeded Random keeps the designed mix (crossing orders, live ids, rare admin
    commands), which Hypothesis' own draws, leaning to small values, skew."""
    c = _blank()
    c["ts"] = r.randrange(1 << 40)
    c["session"] = r.randint(1, 3)
    c["client_id"] = r.randint(1, 15)
    inst = r.choice([1, 1, 1, 2, 2, 3, 9])  # 9: unknown
    c["instrument"] = inst
    tick, lot, mid = TICK.get(inst, 1), LOT.get(inst, 1), MID.get(inst, 10_000)
    kind = r.choices(
        ["new", "cancel", "replace", "mass", "admin", "junk"], weights=[28, 6, 6, 2, 1, 2]
    )[0]
    if kind == "new":
        c["type"] = mt.CMD_NEW
        c["side"] = r.choice([mt.BUY, mt.SELL])
        c["account"] = r.randint(1, 2)
        c["stp"] = r.choice([0, 0, 1, 2, 3, 4])
        market = r.random() < 0.1
        c["ord_type"] = mt.MARKET if market else mt.LIMIT
        if market:
            c["tif"] = r.choice([mt.IOC, mt.FOK])
        else:
            c["tif"] = r.choice([mt.DAY, mt.DAY, mt.DAY, mt.GTC, mt.IOC, mt.FOK])
            c["price"] = mid + tick * r.randint(-6, 6)
            if r.random() < 0.03:
                c["price"] += r.choice([1, 2, 400, 100_000])
        c["qty"] = lot * r.randint(1, 12)
        if inst == 3 and r.random() < 0.15:
            c["qty"] = INT64_MAX - r.randint(0, 3)
        if not market and c["tif"] in (mt.DAY, mt.GTC) and r.random() < 0.15:
            c["flags"] = mt.POST_ONLY
        elif r.random() < 0.15:
            c["min_qty"] = r.randint(1, max(1, c["qty"] // lot)) * lot
    elif kind == "cancel":
        c["type"] = mt.CMD_CANCEL
        if sent and r.random() < 0.8:  # mostly ids sent before (live or not)
            c["session"], c["client_id"], c["instrument"] = r.choice(sent)
    elif kind == "replace":
        c["type"] = mt.CMD_REPLACE
        if sent and r.random() < 0.8:
            c["session"], c["client_id"], c["instrument"] = r.choice(sent)
            inst = c["instrument"]
            tick, lot, mid = TICK.get(inst, 1), LOT.get(inst, 1), MID.get(inst, 10_000)
        c["new_client_id"] = r.choice([c["client_id"], r.randint(1, 15)])
        c["price"] = mid + tick * r.randint(-6, 6)
        c["qty"] = lot * r.randint(1, 12)
    elif kind == "mass":
        c["type"] = mt.CMD_MASS_CANCEL
        if r.random() < 0.5:
            c["flags"] = mt.ALL_INSTRUMENTS
    elif kind == "admin":
        c["type"] = r.choice(
            [mt.CMD_HALT, mt.CMD_RESUME, mt.CMD_RESUME, mt.CMD_RESUME, mt.CMD_CLOSE, mt.CMD_SET_REF]
        )
        if c["type"] == mt.CMD_SET_REF:
            c["price"] = mid + tick * r.randint(-3, 3)
    else:  # junk: any field anything
        c["type"] = r.randint(0, 10)
        c["side"] = r.randint(0, 3)
        c["ord_type"] = r.randint(0, 3)
        c["tif"] = r.randint(0, 5)
        c["stp"] = r.randint(0, 6)
        c["flags"] = r.randint(0, 4)
        c["price"] = r.choice([r.randint(-(1 << 63), INT64_MAX), mid, mid + 1, 0])
        c["qty"] = r.choice([r.randint(-(1 << 63), INT64_MAX), 0, -1, lot])
        c["min_qty"] = r.randint(-5, 20)
        c["display_qty"] = r.choice([0, 0, 5])
    if c["type"] == mt.CMD_NEW:
        sent.append((c["session"], c["client_id"], c["instrument"]))
    return c


@st.composite
def streams(draw: st.DrawFn, max_size: int = 120) -> list[dict[str, int]]:
    seed = draw(st.integers(0, (1 << 64) - 1))
    n = draw(st.integers(1, max_size))
    r = random.Random(seed)
    sent: list[tuple[int, int, int]] = []
    return [command(r, sent) for _ in range(n)]


def _to_array(c: dict[str, int]) -> np.ndarray:
    out = mt.commands(1)
    for k, v in c.items():
        if k == "new_client_id" and c["type"] != mt.CMD_REPLACE:
            continue
        if k == "min_qty" and c["type"] == mt.CMD_REPLACE:
            continue
        out[k][0] = v
    return out


def _make(max_sessions: int = 1024) -> tuple[mt.Matcher, rb.RefBook]:
    m = mt.Matcher(max_instruments=16, max_orders=MAX_ORDERS, max_sessions=max_sessions)
    ref = rb.RefBook(MAX_ORDERS, max_sessions=max_sessions)
    for spec in INSTRUMENTS:
        m.add_instrument(mt.InstrumentRules(**spec))
        ref.add_instrument(**spec)
    return m, ref


def _check_invariants(m: mt.Matcher, ref: rb.RefBook, open_qty: dict[int, int]) -> None:
    live = 0
    resting_refs = set()
    for spec in INSTRUMENTS:
        iid = spec["id"]
        st_ = m.status(iid)
        bids = m.l3(iid, mt.BUY, MAX_ORDERS)
        asks = m.l3(iid, mt.SELL, MAX_ORDERS)
        for side, book in ((mt.BUY, bids), (mt.SELL, asks)):
            got = [
                tuple(int(o[k]) for k in ("order_ref", "client_id", "price", "qty")) for o in book
            ]
            assert got == ref.l3(iid, side), f"L3 differs, instrument {iid} side {side}"
            # Every resting order is reachable by id, with the same data.
            for o in book:
                info = m.order_info(int(o["session"]), int(o["client_id"]))
                assert info is not None and info["order_ref"] == o["order_ref"]
                assert info["qty"] == o["qty"] > 0
                resting_refs.add(int(o["order_ref"]))
                # Conservation: accepted = executed + cancelled + open.
                assert open_qty[int(o["order_ref"])] == int(o["qty"])
            # L2 is the per-level sum of L3.
            l2 = m.l2(iid, side, 100)
            sums: dict[int, tuple[int, int]] = {}
            for o in book:
                q, n = sums.get(int(o["price"]), (0, 0))
                sums[int(o["price"])] = (q + int(o["qty"]), n + 1)
            assert [(int(lv["price"]), int(lv["qty"]), int(lv["orders"])) for lv in l2] == [
                (p, q, n) for p, (q, n) in sums.items()
            ]
        if len(bids) and len(asks):
            assert bids[0]["price"] < asks[0]["price"], "crossed book"
        assert st_["live_orders"] == len(bids) + len(asks)
        live += len(bids) + len(asks)
    assert m.live_orders == live == len(ref.orders)
    for r, q in open_qty.items():
        if r not in resting_refs:
            assert q == 0, f"order {r} left the book with {q} unaccounted"


def _track(open_qty: dict[int, int], events: np.ndarray) -> None:
    for e in events:
        t, r = int(e["type"]), int(e["order_ref"])
        if t == mt.EV["accepted"]:
            open_qty[r] = int(e["qty"])
        elif t == mt.EV["replaced"]:
            if int(e["flags"]) & 8:
                assert open_qty[r] == int(e["qty"])
            else:
                open_qty[r] = int(e["qty"])
        elif t in (mt.EV["executed"], mt.EV["cancelled"]):
            open_qty[r] -= int(e["qty"])
            assert open_qty[r] >= 0


def _compare(cmds: list[dict[str, int]], cap: int, max_sessions: int = 1024) -> mt.Matcher:
    m, ref = _make(max_sessions)
    open_qty: dict[int, int] = {}
    all_events = []
    for i, c in enumerate(cmds):
        before = len(ref.events)
        ref.apply(c)
        got = m.apply(_to_array(c), events_cap=cap)
        want = ref.events[before:]
        assert [tuple(int(x) for x in e) for e in got] == want, f"command {i}: {c}"
        _track(open_qty, got)
        _check_invariants(m, ref, open_qty)
        all_events.append(got)
    stream = np.concatenate(all_events)
    assert m.hash == mt.hash_events(stream)
    assert m.last_seq == len(stream) == ref.seq
    return m


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cmds=streams(),
    cap=st.sampled_from([mt.MIN_EVENTS, 9, 13, 4096]),
)
def test_matcher_equals_reference_book(cmds: list[dict[str, int]], cap: int) -> None:
    _compare(cmds, cap)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cmds=streams())
def test_session_capacity_equals_reference_book(cmds: list[dict[str, int]]) -> None:
    """Two sessions at most (the streams use three): the third is refused."""
    _compare(cmds, 4096, max_sessions=2)


@settings(max_examples=40, deadline=None)
@given(cmds=streams(150), split=st.integers(1, 149))
def test_batching_does_not_change_the_stream(cmds: list[dict[str, int]], split: int) -> None:
    """One batch vs. two batches with a tiny buffer: identical bytes, hash."""
    batch = mt.concat_commands([_to_array(c) for c in cmds])
    a, _ = _make()
    b, _ = _make()
    ev_a = a.apply(batch)
    ev_b = np.concatenate([b.apply(batch[:split], events_cap=8), b.apply(batch[split:], 11)])
    assert ev_a.tobytes() == ev_b.tobytes()
    assert a.hash == b.hash
