"""pipeline.ring: the numpy view of the C ring."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wirematch.pipeline.native import ffi, lib
from wirematch.pipeline.native.ring import NO_SEQ, SYNC_MODES, Ring, RingStats

ORDER = np.dtype(
    [("order_id", "<u8"), ("price", "<i8"), ("qty", "<u4"), ("side", "u1")], align=True
)  # 24 bytes


MODES = ["headtail", "slotseq"]


@pytest.fixture(params=MODES)
def sync(request: pytest.FixtureRequest) -> str:
    """Every test taking `sync` runs once per synchronisation mode."""
    return str(request.param)


def orders(start: int, n: int) -> np.ndarray:
    a = np.zeros(n, dtype=ORDER)
    a["order_id"] = np.arange(start, start + n)
    a["price"] = -np.arange(start, start + n) * 100
    a["qty"] = np.arange(start, start + n) % 1000
    a["side"] = np.arange(start, start + n) % 2
    return a


def test_round_trip_preserves_records(sync: str) -> None:
    ring = Ring.create("orders", ORDER, 64, sync=sync)
    a = orders(0, 40)
    assert ring.enqueue(a) == 40
    assert ring.count == 40 and len(ring) == 40
    got = ring.dequeue(100)
    assert got.dtype == ORDER
    np.testing.assert_array_equal(got, a)
    assert ring.count == 0
    assert ring.stats() == RingStats(enqueued=40, dequeued=40, enqueue_refused=0)


def test_full_refuses_and_counts(sync: str) -> None:
    ring = Ring.create("full", ORDER, 8, sync=sync)
    assert ring.enqueue(orders(0, 10)) == 8
    assert ring.free_count == 0
    assert ring.enqueue(orders(10, 3)) == 0
    assert ring.stats().enqueue_refused == 2 + 3
    assert ring.enqueue_bulk(orders(10, 1)) == 0
    assert ring.stats().enqueue_refused == 6
    np.testing.assert_array_equal(ring.dequeue(8), orders(0, 8))


def test_empty_gives_empty_array(sync: str) -> None:
    ring = Ring.create("empty", ORDER, 8, sync=sync)
    got = ring.dequeue(4)
    assert got.shape == (0,) and got.dtype == ORDER
    assert ring.dequeue(0).shape == (0,)
    assert ring.enqueue(orders(0, 0)) == 0


def test_bulk_is_all_or_nothing(sync: str) -> None:
    ring = Ring.create("bulk", ORDER, 8, sync=sync)
    assert ring.enqueue(orders(0, 4)) == 4
    assert ring.enqueue_bulk(orders(4, 5)) == 0  # only 4 free
    assert ring.count == 4
    assert ring.enqueue_bulk(orders(4, 4)) == 4
    assert len(ring.dequeue_bulk(9)) == 0
    assert len(ring.dequeue_bulk(3)) == 3
    np.testing.assert_array_equal(ring.dequeue(8), orders(3, 5))


def test_wrap_around_many_laps(sync: str) -> None:
    ring = Ring.create("wrap", ORDER, 16, sync=sync)
    nxt_in = nxt_out = 0
    for k in range(200):
        n = 1 + (k * 7) % 13
        nxt_in += ring.enqueue(orders(nxt_in, n))
        got = ring.dequeue(1 + (k * 5) % 11)
        np.testing.assert_array_equal(got, orders(nxt_out, len(got)))
        nxt_out += len(got)
    assert ring.count == nxt_in - nxt_out


@pytest.mark.parametrize(
    "dtype",
    [
        np.dtype([("a", "<u4")]),  # 4 bytes: too small
        np.dtype([("a", "<u8"), ("b", "<u4")]),  # 12 bytes: not a multiple of 8
        np.dtype([("a", "<u8", 9)]),  # 72 bytes: too large
    ],
)
def test_bad_element_size_is_a_value_error(dtype: np.dtype) -> None:
    with pytest.raises(ValueError, match="itemsize"):
        Ring.create("bad", dtype, 8)


def test_plain_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="structured"):
        Ring.create("plain", np.uint64, 8)


@pytest.mark.parametrize("capacity", [0, 1, 3, 24, 1 << 31])
def test_bad_capacity_is_a_value_error(capacity: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        Ring.create("cap", ORDER, capacity)


def test_long_name_is_refused() -> None:
    with pytest.raises(ValueError, match="longer"):
        Ring.create("x" * 32, ORDER, 8)


def test_wrong_array_dtype_is_refused(sync: str) -> None:
    ring = Ring.create("dtype", ORDER, 8, sync=sync)
    other = np.zeros(3, dtype=[("x", "<u8"), ("y", "<u8"), ("z", "<u8")])  # 24 bytes too
    with pytest.raises(ValueError, match="element dtype"):
        ring.enqueue(other)
    with pytest.raises(ValueError, match="1-D"):
        ring.enqueue(orders(0, 4).reshape(2, 2))
    assert ring.count == 0


def test_view_with_mismatched_dtype_is_refused(sync: str) -> None:
    ring = Ring.create("view", ORDER, 8, sync=sync)
    with pytest.raises(ValueError, match="element size 24"):
        Ring(ring.ptr, np.dtype([("a", "<u8"), ("b", "<u8")]), owner=ring)


def test_pointer_that_is_not_a_ring_is_refused() -> None:
    junk = ffi.new("char[]", 4096)
    aligned = ffi.cast("struct wm_ring *", (int(ffi.cast("uintptr_t", junk)) + 127) & ~127)
    with pytest.raises(OSError):
        Ring(aligned, ORDER, owner=junk)


def test_slots_view_is_read_only_and_zero_copy(sync: str) -> None:
    ring = Ring.create("slots", ORDER, 8, sync=sync)
    view = ring.slots()
    assert view.shape == (8,)
    assert view.dtype.itemsize == ring.layout()["slot_stride"]
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view["elem"]["qty"][0] = 1
    with pytest.raises(ValueError):
        view.flags.writeable = True
    assert (view["elem"]["order_id"] == 0).all()
    # Zero copy: the view taken before the enqueue shows what the ring now holds.
    ring.enqueue(orders(100, 3))
    np.testing.assert_array_equal(view["elem"][:3], orders(100, 3))
    ring.dequeue(3)
    ring.enqueue(orders(200, 7))  # positions 3..9: slots 3..7, then 0 and 1
    np.testing.assert_array_equal(view["elem"][[3, 4, 5, 6, 7, 0, 1]], orders(200, 7))
    if sync == "slotseq":
        # The sequence word says which position each slot was filled for
        # (p + 1): positions 8, 9 in slots 0, 1 (second lap), 2..7 in 2..7.
        assert view.dtype.names == ("seq", "elem")
        assert list(view["seq"]) == [9, 10, 3, 4, 5, 6, 7, 8]
    else:
        assert view.dtype.names == ("elem",)
    # The view's memory is the ring's own, at the layout's offset.
    base = int(ffi.cast("uintptr_t", ring.ptr))
    assert view.__array_interface__["data"][0] == base + ring.layout()["slots_offset"]


def test_slots_view_keeps_the_ring_alive(sync: str) -> None:
    view = Ring.create("alive", ORDER, 8, sync=sync).slots()
    part = view[2:5]
    del view
    import gc

    gc.collect()
    assert (part["elem"]["order_id"] == 0).all()


def test_readonly_ring_refuses_changes_but_reads(sync: str) -> None:
    ring = Ring.create("rw", ORDER, 8, sync=sync)
    ring.enqueue(orders(0, 5))
    ro = Ring(ring.ptr, ORDER, owner=ring, readonly=True)
    with pytest.raises(PermissionError, match="read-only"):
        ro.enqueue(orders(5, 1))
    with pytest.raises(PermissionError, match="read-only"):
        ro.dequeue(1)
    with pytest.raises(PermissionError, match="read-only"):
        ro.enqueue_bulk(orders(5, 1))
    assert ro.count == 5
    assert ro.capacity == 8
    assert ro.name == "rw"
    assert ro.stats().enqueued == 5
    np.testing.assert_array_equal(ro.slots()["elem"][:5], orders(0, 5))
    assert ring.count == 5  # nothing moved


def test_c_layout_offsets_match_the_view(sync: str) -> None:
    ring = Ring.create("layout", ORDER, 4, sync=sync)
    lay = ring.layout()
    ring.enqueue(orders(7, 2))
    raw = np.frombuffer(ffi.buffer(ring.ptr, lay["slots_offset"] + 4 * lay["slot_stride"]), "u1")
    prod = raw[lay["prod_head_offset"] : lay["prod_head_offset"] + 8].view("<u8")[0]
    cons = raw[lay["cons_head_offset"] : lay["cons_head_offset"] + 8].view("<u8")[0]
    assert (prod, cons) == (2, 0)
    assert lib.wm_ring_elem_size(ring.ptr) == lay["elem_size"] == ORDER.itemsize
    # Slot 1 holds position 1 at the layout's element offset (and, slotseq,
    # its sequence word 1 + 1 at the sequence offset).
    slot1 = lay["slots_offset"] + lay["slot_stride"]
    elem = raw[slot1 + lay["elem_offset"] : slot1 + lay["elem_offset"] + ORDER.itemsize]
    np.testing.assert_array_equal(elem.view(ORDER), orders(8, 1))
    if sync == "slotseq":
        assert (lay["seq_offset"], lay["elem_offset"]) == (0, 8)
        assert lay["slot_stride"] == 8 + ORDER.itemsize
        assert raw[slot1 + lay["seq_offset"] : slot1 + lay["seq_offset"] + 8].view("<u8")[0] == 2
    else:
        assert (lay["seq_offset"], lay["elem_offset"]) == (NO_SEQ, 0)
        assert lay["slot_stride"] == ORDER.itemsize


def test_sync_mode_is_recorded_in_the_ring(sync: str) -> None:
    ring = Ring.create("mode", ORDER, 8, sync=sync)
    assert ring.sync == sync
    assert sync in repr(ring)
    assert lib.wm_ring_sync(ring.ptr) == SYNC_MODES[sync]
    # A view of the same memory (as another process would attach it) reads
    # the mode from the ring, and works in it.
    other = Ring(int(ffi.cast("uintptr_t", ring.ptr)), ORDER, owner=ring)
    assert other.sync == sync
    assert ring.enqueue(orders(0, 3)) == 3
    np.testing.assert_array_equal(other.dequeue(8), orders(0, 3))


def test_default_sync_is_headtail() -> None:
    assert Ring.create("default", ORDER, 8).sync == "headtail"


@pytest.mark.parametrize("bad", ["", "rts", "HEADTAIL", "slot_seq"])
def test_unknown_sync_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="sync mode"):
        Ring.create("bad", ORDER, 8, sync=bad)


def test_memory_of_a_ring_with_a_corrupted_mode_is_refused() -> None:
    ring = Ring.create("corrupt", ORDER, 8, sync="slotseq")
    mem = ffi.cast("uint32_t *", ring.ptr)
    # struct wm_ring: magic, memsize (8 bytes each), elem_size, capacity,
    # mask, slot_stride, owned, sync (4 bytes each): sync is word 9.
    assert mem[9] == lib.WM_RING_SYNC_SLOTSEQ
    mem[9] = 5
    with pytest.raises(OSError):
        Ring(ring.ptr, ORDER, owner=ring)
    mem[9] = lib.WM_RING_SYNC_HEADTAIL  # a headtail ring would be smaller
    with pytest.raises(OSError):
        Ring(ring.ptr, ORDER, owner=ring)
    mem[9] = lib.WM_RING_SYNC_SLOTSEQ
    assert Ring(ring.ptr, ORDER, owner=ring).sync == "slotseq"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["enq", "bulk", "deq", "deq_bulk"]), st.integers(0, 20)),
        max_size=60,
    ),
    st.sampled_from(MODES),
)
def test_matches_a_fifo_model(ops: list[tuple[str, int]], mode: str) -> None:
    ring = Ring.create("model", ORDER, 16, sync=mode)
    model: collections.deque[int] = collections.deque()
    nxt = refused = 0
    for op, n in ops:
        if op in ("enq", "bulk"):
            a = orders(nxt, n)
            put = ring.enqueue(a) if op == "enq" else ring.enqueue_bulk(a)
            room = 16 - len(model)
            expect = min(n, room) if op == "enq" else (n if n <= room else 0)
            assert put == expect
            refused += n - put
            model.extend(range(nxt, nxt + put))
            nxt += put
        else:
            got = ring.dequeue(n) if op == "deq" else ring.dequeue_bulk(n)
            expect = min(n, len(model)) if op == "deq" else (n if n <= len(model) else 0)
            assert len(got) == expect
            assert list(got["order_id"]) == [model.popleft() for _ in range(expect)]
        assert ring.count == len(model)
    assert ring.stats().enqueue_refused == refused
