"""The matcher's integrator API from Python (docs/matching.md, "Embedding"):
which command each event belongs to, hash and LEVEL events off, depth at a
price.  The C side of each is tested in native/tests/test_matcher.c."""

from __future__ import annotations

import errno
import random

import numpy as np
import pytest

from wirematch.pipeline.native import matcher as mt

N_CMDS = 3000


def _matcher(**options: bool) -> mt.Matcher:
    m = mt.Matcher(max_instruments=4, max_orders=4096, **options)
    m.add_instrument(
        mt.InstrumentRules(id=1, tick_size=1, ref_price=1000, max_levels=512, window_ticks=64)
    )
    return m


def _stream(seed: int = 7) -> np.ndarray:
    """A mixed stream (rests, crosses, sweeps, cancels and replaces of
    known and unknown ids, mass cancels); ts is each command's index."""
    rnd = random.Random(seed)
    cmds = mt.commands(N_CMDS)
    next_id = {s: 1 for s in (1, 2, 3)}
    for k in range(N_CMDS):
        s = rnd.choice((1, 2, 3))
        c = cmds[k]
        c["ts"], c["session"], c["account"], c["instrument"] = k, s, s, 1
        roll = rnd.random()
        if roll < 0.6:
            c["type"], c["client_id"] = mt.CMD_NEW, next_id[s]
            next_id[s] += 1
            c["side"] = rnd.choice((mt.BUY, mt.SELL))
            c["ord_type"], c["tif"] = mt.LIMIT, rnd.choice((mt.DAY, mt.DAY, mt.GTC, mt.IOC))
            far = rnd.random() < 0.05  # outside the 64-tick window
            c["price"] = 1000 + (rnd.randint(-300, 300) if far else rnd.randint(-10, 10))
            c["qty"] = rnd.randint(1, 40) if rnd.random() < 0.97 else 400  # a sweep now and then
        elif roll < 0.8:
            c["type"], c["client_id"] = mt.CMD_CANCEL, rnd.randint(1, next_id[s])
        elif roll < 0.97:
            c["type"], c["client_id"] = mt.CMD_REPLACE, rnd.randint(1, next_id[s])
            c["new_client_id"] = next_id[s]
            next_id[s] += 1
            c["price"], c["qty"] = 1000 + rnd.randint(-10, 10), rnd.randint(1, 40)
        else:
            c["type"] = mt.CMD_MASS_CANCEL
    return cmds


@pytest.mark.parametrize("events_cap", [mt.MIN_EVENTS, 11, 4096])
def test_apply_indexed_says_which_command(events_cap: int) -> None:
    cmds = _stream()
    plain = _matcher().apply(cmds)
    events, ends = _matcher().apply_indexed(cmds, events_cap=events_cap)
    assert events.tobytes() == plain.tobytes()
    assert len(ends) == N_CMDS + 1 and ends[0] == 0 and ends[-1] == len(events)
    assert (np.diff(ends) >= 1).all()  # every command has an event
    owner = np.repeat(np.arange(N_CMDS), np.diff(ends))
    assert (events["ts"] == owner).all()
    # The stream does sweep: some commands have many events.
    assert np.diff(ends).max() > 20


def test_apply_indexed_empty_batch() -> None:
    events, ends = _matcher().apply_indexed(mt.commands(0))
    assert len(events) == 0 and ends.tolist() == [0]


def test_no_level_events_is_the_default_stream_without_them() -> None:
    cmds = _stream()
    full, lean = _matcher(), _matcher(level_events=False)
    a, b = full.apply(cmds), lean.apply(cmds)
    kept = a[a["type"] != mt.EV["level"]]
    assert len(kept) < len(a)
    assert (b["type"] != mt.EV["level"]).all()
    assert b["seq"].tolist() == list(range(1, len(b) + 1))
    cols = [f for f in mt.EVENT_DTYPE.names if f != "seq"]
    for f in cols:
        assert (b[f] == kept[f]).all(), f
    assert lean.hash == mt.hash_events(b) != full.hash
    for side in (mt.BUY, mt.SELL):
        assert lean.l2(1, side, 600).tobytes() == full.l2(1, side, 600).tobytes()
    assert lean.counters()["events"] == len(b)


def test_no_hash_keeps_events_and_reads_zero() -> None:
    cmds = _stream()
    full, nohash = _matcher(), _matcher(hashing=False)
    assert nohash.apply(cmds).tobytes() == full.apply(cmds).tobytes()
    assert nohash.hash == 0
    assert full.hash != 0
    both = _matcher(hashing=False, level_events=False)
    both.apply(cmds)
    assert both.hash == 0 and both.last_seq < full.last_seq


def test_depth_at_equals_l2() -> None:
    m = _matcher()
    m.apply(_stream())
    checked = 0
    for side in (mt.BUY, mt.SELL):
        levels = m.l2(1, side, 1000)
        assert len(levels) >= 2
        by_price = {int(lv["price"]): (int(lv["qty"]), int(lv["orders"])) for lv in levels}
        lo, hi = min(by_price), max(by_price)
        for price in range(lo - 2, hi + 3):
            assert m.depth_at(1, side, price) == by_price.get(price, (0, 0)), price
            checked += 1
    assert checked > 20
    assert m.status(1)["levels_in_fallback"] > 0  # prices outside the 64-tick window too


def test_depth_at_errors() -> None:
    m = mt.Matcher(max_instruments=4, max_orders=64)
    m.add_instrument(mt.InstrumentRules(id=2, tick_size=5, ref_price=1000))
    assert m.depth_at(2, mt.SELL, 1005) == (0, 0)
    with pytest.raises(OSError) as off_tick:
        m.depth_at(2, mt.SELL, 1003)
    assert off_tick.value.errno == errno.EINVAL
    with pytest.raises(OSError) as bad_side:
        m.depth_at(2, 3, 1005)
    assert bad_side.value.errno == errno.EINVAL
    with pytest.raises(OSError) as unknown:
        m.depth_at(1, mt.SELL, 1005)
    assert unknown.value.errno == errno.ENOENT


def test_close_frees_once() -> None:
    m = _matcher()
    m.apply(_stream()[:100])
    m.close()
    m.close()  # a second close does nothing
    with pytest.raises(ValueError):
        mt.matcher_ptr(m)
