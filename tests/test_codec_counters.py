"""The codec's drop reasons and the sequence tracker's counters, as data."""

from __future__ import annotations

from wirematch.pipeline.native import ffi, lib
from wirematch.pipeline.protocols import codec

NAME_LEN = 48  # WM_COUNTER_NAME_LEN: the names must fit a shared counters block


def test_codec_counter_names_are_distinct_and_fit() -> None:
    names = codec.counter_names()
    assert len(names) == lib.WM_CODEC_N_COUNTERS
    assert len(set(names)) == len(names)
    assert all(0 < len(n) < NAME_LEN for n in names)
    assert names[lib.WM_OUCH_DROP_BAD_SIDE] == "ouch_drop_bad_side"
    assert lib.wm_codec_counter_name(lib.WM_CODEC_N_COUNTERS) == ffi.NULL
    table = lib.wm_codec_counter_names()
    assert [ffi.string(table[i]).decode() for i in range(len(names))] == names


def test_seq_counter_names_are_distinct_and_fit() -> None:
    n = lib.wm_mold_seq_counter_count()
    names = [ffi.string(lib.wm_mold_seq_counter_name(i)).decode() for i in range(n)]
    assert len(set(names)) == n and all(0 < len(x) < NAME_LEN for x in names)


def test_each_drop_is_counted_once_under_its_reason() -> None:
    stats = codec.new_stats()
    good = codec.encode_ouch_in("X", user_ref_num=5, quantity=0)
    codec.decode_ouch_in(good, stats)
    for bad in (b"", b"Z", good[:-1], good + b"\x00", b"X" + bytes(8)):
        try:
            codec.decode_ouch_in(bad, stats)
        except codec.CodecError:
            pass
        else:
            raise AssertionError(f"{bad!r} accepted")
    assert codec.stats_dict(stats) == {
        "ouch_messages": 1,
        "ouch_drop_truncated": 2,
        "ouch_drop_unknown_type": 1,
        "ouch_drop_length_mismatch": 1,
        "ouch_drop_bad_user_ref_num": 1,
    }


def test_sequence_tracker_from_python() -> None:
    table = ffi.new("struct wm_mold_seq_table **")
    assert lib.wm_mold_seq_create(8, lib.WM_MOLD_SEQ_GAP_DROP, table) == 0
    t = table[0]
    try:
        pkt = ffi.new("struct wm_mold_packet *")
        res = ffi.new("struct wm_mold_seq_result *")
        msgs = [codec.encode_ouch_in("Q")] * 3
        for seq, want, status in (
            (1, 3, lib.WM_MOLD_SEQ_IN_ORDER),
            (1, 0, lib.WM_MOLD_SEQ_DUPLICATE),
            (6, 0, lib.WM_MOLD_SEQ_GAP),
            (3, 2, lib.WM_MOLD_SEQ_OVERLAP),
        ):
            raw = codec.mold_pack("C1", seq, msgs)
            assert lib.wm_mold_decode(raw, len(raw), pkt, ffi.NULL) == 0
            assert lib.wm_mold_seq_check(t, 7, pkt, res) == want
            assert res.status == status
        assert lib.wm_mold_seq_expected(t, 7, b"C1        ") == 6
        assert t.counts[lib.WM_SEQ_DUPLICATE_MESSAGES] == 3 + 1
        assert t.counts[lib.WM_SEQ_GAP_MESSAGES] == 2  # 4 and 5
    finally:
        lib.wm_mold_seq_destroy(t)
