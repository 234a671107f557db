"""The matcher from Python: struct mirrors, batches, snapshots, admin, determinism.

The rules themselves are tested scenario by scenario in native/tests/test_matcher.c
and against the reference book in tests/test_matcher_property.py."""

from __future__ import annotations

import random

import numpy as np
import pytest

from wirematch.pipeline.native import ffi
from wirematch.pipeline.native import matcher as mt


@pytest.mark.parametrize("name", sorted(mt.LAYOUTS))
def test_dtype_mirrors_c_struct(name: str) -> None:
    dtype, ctype, fields = mt.LAYOUTS[name]
    assert dtype.itemsize == ffi.sizeof(ctype)
    cfields = _flat_fields(ffi.typeof(ctype))
    assert sorted(cfields) == sorted(f[0] for f in fields)
    for field, fmt, offset in fields:
        assert ffi.offsetof(ctype, field) == offset, field
        assert dtype.fields[field][1] == offset
        assert np.dtype(fmt).itemsize == ffi.sizeof(cfields[field]), field


def _flat_fields(ctype) -> dict:
    """Field name -> cffi type, anonymous unions flattened."""
    out = {}
    for name, f in ctype.fields:
        if name:
            out[name] = f.type
        else:
            out.update(_flat_fields(f.type))
    return out


def test_union_fields_share_bytes() -> None:
    c = mt.cmd(type=mt.CMD_REPLACE, new_client_id=(1 << 64) - 1)
    assert c["min_qty"][0] == -1
    cdata = ffi.from_buffer("struct wm_cmd *", c)
    assert cdata.new_client_id == (1 << 64) - 1
    assert mt.CMD_DTYPE.itemsize == mt.EVENT_DTYPE.itemsize == 64


def _book() -> mt.Matcher:
    m = mt.Matcher(max_instruments=4, max_orders=1024)
    m.add_instrument(mt.InstrumentRules(id=1, tick_size=1, ref_price=1000, max_levels=64))
    return m


def _new(session: int, cid: int, side: int, price: int, qty: int, tif: int = mt.DAY) -> dict:
    return dict(
        type=mt.CMD_NEW,
        session=session,
        account=session,
        client_id=cid,
        instrument=1,
        side=side,
        ord_type=mt.LIMIT,
        tif=tif,
        price=price,
        qty=qty,
    )


def _batch(rows: list[dict]) -> np.ndarray:
    out = mt.commands(len(rows))
    for i, row in enumerate(rows):
        for k, v in row.items():
            out[k][i] = v
    return out


def test_batch_in_events_out_and_snapshots() -> None:
    m = _book()
    ev = m.apply(
        _batch(
            [
                _new(1, 1, mt.SELL, 1001, 10),
                _new(1, 2, mt.SELL, 1002, 20),
                _new(2, 1, mt.BUY, 999, 30),
                _new(3, 1, mt.BUY, 1001, 15, mt.IOC),
            ]
        )
    )
    assert ev.dtype == mt.EVENT_DTYPE
    names = [mt.EV_NAMES[t] for t in ev["type"]]
    assert names[-5:] == ["accepted", "executed", "executed", "level", "cancelled"]
    assert list(ev["seq"]) == list(range(1, len(ev) + 1))
    trade = ev[ev["type"] == mt.EV["executed"]]
    assert list(trade["price"]) == [1001, 1001]
    assert list(trade["flags"] & 4) == [4, 0]  # maker first
    asks = m.l2(1, mt.SELL)
    assert asks.dtype == mt.LEVEL_DTYPE
    assert [(int(a["price"]), int(a["qty"])) for a in asks] == [(1002, 20)]
    bids = m.l3(1, mt.BUY)
    assert bids.dtype == mt.ORDER_DTYPE
    assert [(int(b["session"]), int(b["client_id"]), int(b["qty"])) for b in bids] == [(2, 1, 30)]
    assert m.order_info(2, 1)["qty"] == 30
    assert m.order_info(2, 99) is None
    st = m.status(1)
    assert (st["best_bid"], st["best_ask"], st["live_orders"]) == (999, 1002, 2)
    counters = m.counters()
    assert counters["cmd_new"] == 4 and counters["trades"] == 1
    assert counters["cancel_ioc_remainder"] == 1


def test_halt_resume_and_mass_cancel() -> None:
    m = _book()
    m.apply(_batch([_new(1, 1, mt.BUY, 990, 5), _new(1, 2, mt.SELL, 1010, 5)]))
    ev = m.halt(1)
    assert ev["type"][0] == mt.EV["state"] and ev["aux"][0] == mt.HALTED
    ev = m.apply(_batch([_new(2, 1, mt.BUY, 995, 5)]))
    assert ev["type"][0] == mt.EV["rejected"] and ev["aux"][0] == mt.REJECT["halted"]
    assert m.status(1)["state"] == mt.HALTED
    m.resume(1)
    assert m.status(1)["state"] == mt.OPEN
    ev = m.mass_cancel(session=1, instrument=1)
    assert [mt.EV_NAMES[t] for t in ev["type"]] == [
        "cancelled",
        "level",
        "cancelled",
        "level",
        "mass_cancelled",
    ]
    assert ev["qty"][-1] == 2
    assert m.live_orders == 0
    ev = m.mass_cancel(session=1)
    assert ev["type"][0] == mt.EV["mass_cancelled"] and ev["qty"][0] == 0


def _random_stream(seed: int, n: int) -> np.ndarray:
    r = random.Random(seed)
    rows = []
    for i in range(n):
        kind = r.random()
        session = r.randint(1, 4)
        if kind < 0.6:
            rows.append(
                _new(session, i + 1, r.choice([mt.BUY, mt.SELL]), 1000 + r.randint(-5, 5), 10)
            )
            rows[-1]["tif"] = r.choice([mt.DAY, mt.IOC, mt.GTC])
            rows[-1]["stp"] = r.randint(0, 4)
        elif kind < 0.85:
            rows.append(
                dict(
                    type=mt.CMD_CANCEL, session=session, instrument=1, client_id=r.randint(1, i + 1)
                )
            )
        else:
            rows.append(
                dict(
                    type=mt.CMD_REPLACE,
                    session=session,
                    instrument=1,
                    client_id=r.randint(1, i + 1),
                    new_client_id=10_000 + i,
                    price=1000 + r.randint(-5, 5),
                    qty=r.randint(1, 12),
                )
            )
        rows[-1]["ts"] = i
    return _batch(rows)


def test_same_stream_same_hash() -> None:
    stream = _random_stream(7, 2000)
    a, b = _book(), _book()
    ev_a = a.apply(stream)
    ev_b = np.concatenate(
        [b.apply(stream[i : i + 37], events_cap=mt.MIN_EVENTS) for i in range(0, 2000, 37)]
    )
    assert ev_a.tobytes() == ev_b.tobytes()
    assert a.hash == b.hash == mt.hash_events(ev_a)
    assert a.last_seq == len(ev_a)
    assert (ev_a["type"] == mt.EV["executed"]).sum() > 100
    c = _book()
    c.apply(_random_stream(8, 2000))
    assert c.hash != a.hash


def test_bad_batches_are_refused() -> None:
    m = _book()
    with pytest.raises(TypeError):
        m.apply(np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError):
        m.apply(mt.commands(1), events_cap=mt.MIN_EVENTS - 1)
    with pytest.raises(OSError):
        m.add_instrument(mt.InstrumentRules(id=1))
    with pytest.raises(OSError):
        m.l2(3, mt.BUY)
