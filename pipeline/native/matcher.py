"""The matching engine from Python: instruments, numpy command batches, events.

Commands and events are 64-byte C structs (native/include/wirematch/matcher.h);
CMD_DTYPE and EVENT_DTYPE mirror them field by field (tests check sizes and
offsets against ffi.offsetof).  A batch of commands is a numpy array of
CMD_DTYPE; `Matcher.apply` returns the events as an array of EVENT_DTYPE.
Rules and event sequences: docs/matching.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wirematch.pipeline.native import check, ffi, lib

# Field name, numpy type, offset.  `min_qty` and `new_client_id` share bytes
# 32..40 (a C union): NEW uses min_qty, REPLACE uses new_client_id.
_CMD_FIELDS: list[tuple[str, str, int]] = [
    ("ts", "<u8", 0),
    ("client_id", "<u8", 8),
    ("price", "<i8", 16),
    ("qty", "<i8", 24),
    ("min_qty", "<i8", 32),
    ("new_client_id", "<u8", 32),
    ("display_qty", "<i8", 40),
    ("session", "<u4", 48),
    ("account", "<u4", 52),
    ("instrument", "<u2", 56),
    ("type", "u1", 58),
    ("side", "u1", 59),
    ("ord_type", "u1", 60),
    ("tif", "u1", 61),
    ("flags", "u1", 62),
    ("stp", "u1", 63),
]

_EVENT_FIELDS: list[tuple[str, str, int]] = [
    ("seq", "<u8", 0),
    ("ts", "<u8", 8),
    ("order_ref", "<u8", 16),
    ("client_id", "<u8", 24),
    ("price", "<i8", 32),
    ("qty", "<i8", 40),
    ("aux", "<u8", 48),
    ("session", "<u4", 56),
    ("instrument", "<u2", 60),
    ("type", "u1", 62),
    ("flags", "u1", 63),
]

_LEVEL_FIELDS: list[tuple[str, str, int]] = [
    ("price", "<i8", 0),
    ("qty", "<i8", 8),
    ("orders", "<u4", 16),
    ("reserved", "<u4", 20),
]

_ORDER_FIELDS: list[tuple[str, str, int]] = [
    ("order_ref", "<u8", 0),
    ("client_id", "<u8", 8),
    ("price", "<i8", 16),
    ("qty", "<i8", 24),
    ("session", "<u4", 32),
    ("account", "<u4", 36),
    ("instrument", "<u2", 40),
    ("side", "u1", 42),
    ("tif", "u1", 43),
    ("stp", "u1", 44),
    ("flags", "u1", 45),
    ("reserved", "<u2", 46),
]


def _dtype(fields: list[tuple[str, str, int]], size: int) -> np.dtype:
    return np.dtype(
        {
            "names": [f[0] for f in fields],
            "formats": [f[1] for f in fields],
            "offsets": [f[2] for f in fields],
            "itemsize": size,
        }
    )


CMD_DTYPE = _dtype(_CMD_FIELDS, 64)
EVENT_DTYPE = _dtype(_EVENT_FIELDS, 64)
LEVEL_DTYPE = _dtype(_LEVEL_FIELDS, 24)
ORDER_DTYPE = _dtype(_ORDER_FIELDS, 48)

# (dtype, C struct, fields) for the layout test.
LAYOUTS: dict[str, tuple[np.dtype, str, list[tuple[str, str, int]]]] = {
    "cmd": (CMD_DTYPE, "struct wm_cmd", _CMD_FIELDS),
    "event": (EVENT_DTYPE, "struct wm_event", _EVENT_FIELDS),
    "level": (LEVEL_DTYPE, "struct wm_level_info", _LEVEL_FIELDS),
    "order": (ORDER_DTYPE, "struct wm_order_info", _ORDER_FIELDS),
}

# Constants from the C enums.
CMD_NEW = lib.WM_CMD_NEW
CMD_CANCEL = lib.WM_CMD_CANCEL
CMD_REPLACE = lib.WM_CMD_REPLACE
CMD_MASS_CANCEL = lib.WM_CMD_MASS_CANCEL
CMD_HALT = lib.WM_CMD_HALT
CMD_RESUME = lib.WM_CMD_RESUME
CMD_CLOSE = lib.WM_CMD_CLOSE
CMD_SET_REF = lib.WM_CMD_SET_REF
BUY = lib.WM_SIDE_BUY
SELL = lib.WM_SIDE_SELL
LIMIT = lib.WM_ORD_LIMIT
MARKET = lib.WM_ORD_MARKET
DAY = lib.WM_TIF_DAY
GTC = lib.WM_TIF_GTC
IOC = lib.WM_TIF_IOC
FOK = lib.WM_TIF_FOK
STP_NONE = lib.WM_STP_NONE
STP_CANCEL_NEWEST = lib.WM_STP_CANCEL_NEWEST
STP_CANCEL_OLDEST = lib.WM_STP_CANCEL_OLDEST
STP_CANCEL_BOTH = lib.WM_STP_CANCEL_BOTH
STP_DECREMENT = lib.WM_STP_DECREMENT
POST_ONLY = lib.WM_CMDF_POST_ONLY
ALL_INSTRUMENTS = lib.WM_CMDF_ALL_INSTRUMENTS
OPEN = lib.WM_STATE_OPEN
HALTED = lib.WM_STATE_HALTED
CLOSED = lib.WM_STATE_CLOSED
MIN_EVENTS = lib.WM_MATCHER_MIN_EVENTS
NO_HASH = lib.WM_MATCHER_NO_HASH
NO_LEVEL_EVENTS = lib.WM_MATCHER_NO_LEVEL_EVENTS

EV_NAMES = {
    lib.WM_EV_ACCEPTED: "accepted",
    lib.WM_EV_REJECTED: "rejected",
    lib.WM_EV_EXECUTED: "executed",
    lib.WM_EV_CANCELLED: "cancelled",
    lib.WM_EV_REPLACED: "replaced",
    lib.WM_EV_BOOKED: "booked",
    lib.WM_EV_LEVEL: "level",
    lib.WM_EV_STATE: "state",
    lib.WM_EV_REF_PRICE: "ref_price",
    lib.WM_EV_MASS_CANCELLED: "mass_cancelled",
}
EV = {name: code for code, name in EV_NAMES.items()}


def _enum_names(prefix: str) -> dict[str, int]:
    out = {}
    for name in dir(lib):
        if name.startswith(prefix) and not name.endswith("_MAX"):
            out[name.removeprefix(prefix).lower()] = getattr(lib, name)
    return out


REJECT = _enum_names("WM_REJ_")  # e.g. REJECT["duplicate_id"]
CANCEL_REASON = _enum_names("WM_CXL_")  # e.g. CANCEL_REASON["stp"]


def commands(n: int) -> np.ndarray:
    """A zeroed batch of n commands."""
    return np.zeros(n, dtype=CMD_DTYPE)


def concat_commands(batches: list[np.ndarray]) -> np.ndarray:
    """Concatenate command batches keeping CMD_DTYPE (np.concatenate would
    repack the overlapping union fields)."""
    out = commands(sum(len(b) for b in batches))
    raw = out.view(np.uint8).reshape(-1, 64)
    pos = 0
    for b in batches:
        raw[pos : pos + len(b)] = np.ascontiguousarray(b).view(np.uint8).reshape(-1, 64)
        pos += len(b)
    return out


def cmd(**fields: int) -> np.ndarray:
    """One command (a 1-element batch) from keyword fields; others are 0."""
    out = commands(1)
    for k, v in fields.items():
        out[k][0] = v
    return out


@dataclass
class InstrumentRules:
    """Rules of one instrument (wm_instrument_config); prices in price units."""

    id: int
    tick_size: int = 1
    lot_size: int = 1
    min_order_qty: int = 1
    max_order_qty: int = (1 << 63) - 1
    ref_price: int = 10_000
    price_band: int = 0  # 0: no band
    max_levels: int = 1024
    max_orders: int = 0  # 0: the matcher's max
    window_ticks: int = 0  # 0: 16384
    state: int = 0  # 0: open


class Matcher:
    """A wm_matcher owned by Python (freed on close or garbage collection).

    hashing=False: no rolling hash (`hash` reads 0); level_events=False: no
    LEVEL events (depth from `l2` and `depth_at`)."""

    def __init__(
        self,
        max_instruments: int = 16,
        max_orders: int = 1 << 16,
        max_sessions: int = 1024,
        *,
        hashing: bool = True,
        level_events: bool = True,
    ) -> None:
        cfg = ffi.new("struct wm_matcher_config *")
        cfg.max_instruments = max_instruments
        cfg.max_orders = max_orders
        cfg.max_sessions = max_sessions
        cfg.options = (0 if hashing else NO_HASH) | (0 if level_events else NO_LEVEL_EVENTS)
        out = ffi.new("struct wm_matcher **")
        check(lib.wm_matcher_create(cfg, out), "wm_matcher_create")
        self._m: Any = ffi.gc(out[0], lib.wm_matcher_destroy)
        self._evbuf = np.zeros(4096, dtype=EVENT_DTYPE)

    def close(self) -> None:
        if self._m is not None:
            ptr, self._m = self._m, None
            ffi.gc(ptr, None)  # detach the collector's destructor (it returns None)
            lib.wm_matcher_destroy(ptr)

    def add_instrument(self, rules: InstrumentRules) -> None:
        c = ffi.new("struct wm_instrument_config *")
        for field in (
            "id",
            "tick_size",
            "lot_size",
            "min_order_qty",
            "max_order_qty",
            "ref_price",
            "price_band",
            "max_levels",
            "max_orders",
            "window_ticks",
            "state",
        ):
            setattr(c, field, getattr(rules, field))
        check(lib.wm_matcher_add_instrument(self._m, c), f"add_instrument {rules.id}")

    def apply(self, cmds: np.ndarray, events_cap: int = 4096) -> np.ndarray:
        """Apply a batch of commands; return every event they produce.

        events_cap sizes the per-call buffer (>= MIN_EVENTS); the event stream
        does not depend on it."""
        return self._apply(cmds, events_cap, None)

    def apply_indexed(
        self, cmds: np.ndarray, events_cap: int = 4096
    ) -> tuple[np.ndarray, np.ndarray]:
        """`apply`, and which command each event belongs to: returns (events,
        ends), ends holding len(cmds) + 1 offsets: command k's events are
        events[ends[k]:ends[k + 1]], and events[:ends[0]] finish a command a
        C caller left half-done before this batch (none: ends[0] == 0)."""
        ends = np.zeros(len(cmds) + 1, dtype=np.int64)
        return self._apply(cmds, events_cap, ends), ends

    def _apply(self, cmds: np.ndarray, events_cap: int, ends: np.ndarray | None) -> np.ndarray:
        if cmds.dtype != CMD_DTYPE:
            raise TypeError(f"commands must have CMD_DTYPE, not {cmds.dtype}")
        cmds = np.ascontiguousarray(cmds)
        if events_cap < MIN_EVENTS:
            raise ValueError(f"events_cap must be >= {MIN_EVENTS}")
        if len(self._evbuf) != events_cap:
            self._evbuf = np.zeros(events_cap, dtype=EVENT_DTYPE)
        buf = ffi.from_buffer("struct wm_event[]", self._evbuf)
        cptr = ffi.cast("const struct wm_cmd *", ffi.from_buffer(cmds))
        consumed = ffi.new("unsigned *")
        n = len(cmds)
        call_ends = np.zeros(n + 1, dtype=np.uint32) if ends is not None else None
        ends_ptr = ffi.from_buffer("uint32_t[]", call_ends) if call_ends is not None else None
        parts = []
        done = 0
        total = 0
        while done < n or lib.wm_matcher_pending(self._m):
            if ends_ptr is None:
                rc = lib.wm_matcher_apply(self._m, cptr + done, n - done, buf, events_cap, consumed)
            else:
                rc = lib.wm_matcher_apply_indexed(
                    self._m, cptr + done, n - done, buf, events_cap, consumed, ends_ptr
                )
            check(rc, "wm_matcher_apply")
            used = consumed[0]
            if ends is not None and call_ends is not None:
                # This call's head finishes command done - 1 (or, at done 0,
                # one left half-done before the batch): its end moves on.
                ends[done] = total + int(call_ends[0])
                ends[done + 1 : done + used + 1] = total + call_ends[1 : used + 1].astype(np.int64)
            done += used
            total += rc
            if rc:
                parts.append(self._evbuf[:rc].copy())
        if not parts:
            return np.zeros(0, dtype=EVENT_DTYPE)
        return np.concatenate(parts)

    def submit(self, **fields: int) -> np.ndarray:
        """Apply one command given as keyword fields."""
        return self.apply(cmd(**fields))

    def halt(self, instrument: int, ts: int = 0) -> np.ndarray:
        return self.submit(type=CMD_HALT, instrument=instrument, ts=ts)

    def resume(self, instrument: int, ts: int = 0) -> np.ndarray:
        return self.submit(type=CMD_RESUME, instrument=instrument, ts=ts)

    def close_instrument(self, instrument: int, ts: int = 0) -> np.ndarray:
        return self.submit(type=CMD_CLOSE, instrument=instrument, ts=ts)

    def mass_cancel(self, session: int, instrument: int | None = None, ts: int = 0) -> np.ndarray:
        if instrument is None:
            return self.submit(type=CMD_MASS_CANCEL, session=session, flags=ALL_INSTRUMENTS, ts=ts)
        return self.submit(type=CMD_MASS_CANCEL, session=session, instrument=instrument, ts=ts)

    @property
    def pending(self) -> bool:
        return bool(lib.wm_matcher_pending(self._m))

    @property
    def hash(self) -> int:
        return int(lib.wm_matcher_hash(self._m))

    @property
    def last_seq(self) -> int:
        return int(lib.wm_matcher_last_seq(self._m))

    @property
    def live_orders(self) -> int:
        return int(lib.wm_matcher_live_orders(self._m))

    def l2(self, instrument: int, side: int, depth: int = 10) -> np.ndarray:
        out = np.zeros(depth, dtype=LEVEL_DTYPE)
        rc = lib.wm_matcher_l2(
            self._m, instrument, side, ffi.from_buffer("struct wm_level_info[]", out), depth
        )
        return out[: check(rc, "wm_matcher_l2")].copy()

    def depth_at(self, instrument: int, side: int, price: int) -> tuple[int, int]:
        """(open quantity, orders) resting at one price of one side; (0, 0)
        when none.  OSError (EINVAL) for a bad side or a price off the tick."""
        qty = ffi.new("int64_t *")
        orders = ffi.new("uint32_t *")
        check(
            lib.wm_matcher_depth_at(self._m, instrument, side, price, qty, orders),
            "wm_matcher_depth_at",
        )
        return int(qty[0]), int(orders[0])

    def l3(self, instrument: int, side: int, max_orders: int | None = None) -> np.ndarray:
        if max_orders is None:
            st = self.status(instrument)
            max_orders = max(1, st["live_orders"])
        out = np.zeros(max_orders, dtype=ORDER_DTYPE)
        rc = lib.wm_matcher_l3(
            self._m, instrument, side, ffi.from_buffer("struct wm_order_info[]", out), max_orders
        )
        return out[: check(rc, "wm_matcher_l3")].copy()

    def order_info(self, session: int, client_id: int) -> dict[str, int] | None:
        info = ffi.new("struct wm_order_info *")
        rc = lib.wm_matcher_order_info(self._m, session, client_id, info)
        if rc == -2:  # ENOENT
            return None
        check(rc, "wm_matcher_order_info")
        return {name: int(getattr(info, name)) for name, _, _ in _ORDER_FIELDS}

    def status(self, instrument: int) -> dict[str, int]:
        st = ffi.new("struct wm_instrument_status *")
        check(lib.wm_matcher_instrument_status(self._m, instrument, st), "instrument_status")
        names = (
            "state",
            "live_orders",
            "bid_levels",
            "ask_levels",
            "ref_price",
            "best_bid",
            "best_ask",
            "levels_in_fallback",
            "level_capacity",
        )
        return {name: int(getattr(st, name)) for name in names}

    def counters(self) -> dict[str, int]:
        out = {}
        for i in range(lib.wm_matcher_counter_count()):
            name = ffi.string(lib.wm_matcher_counter_name(i)).decode()
            out[name] = int(lib.wm_matcher_counter_value(self._m, i))
        return out


def hash_events(events: np.ndarray, h: int = 0x6A09E667F3BCC908) -> int:
    """The rolling hash of docs/matching.md, computed in Python (a checker).

    Per event (eight little-endian u64 words w): x = w ^ K, digest = sum of
    lo32(x) * hi32(x) + w over the eight lanes; h = (rotl(h, 23) ^ digest) *
    0x9E3779B97F4A7C15, all mod 2**64.
    """
    k = np.array(
        [
            0xA0761D6478BD642F,
            0xE7037ED1A0B428DB,
            0x8EBC6AF09C88C6E3,
            0x589965CC75374CC3,
            0x1D8E4E27C47D124F,
            0xC2B2AE3D27D4EB4F,
            0x165667B19E3779F9,
            0xD6E8FEB86659FD93,
        ],
        dtype=np.uint64,
    )
    mask = (1 << 64) - 1
    words = np.ascontiguousarray(events).view("<u8").reshape(-1, 8).astype(np.uint64)
    x = words ^ k
    lanes = (x & np.uint64(0xFFFFFFFF)) * (x >> np.uint64(32)) + words  # wraps mod 2**64
    digests = lanes.sum(axis=1, dtype=np.uint64)
    for d in digests.tolist():
        rot = ((h << 23) | (h >> 41)) & mask
        h = ((rot ^ d) * 0x9E3779B97F4A7C15) & mask
    return h


def matcher_ptr(matcher: Matcher) -> Any:
    """The `struct wm_matcher *` of a Matcher (for C workers; keep it alive)."""
    if matcher._m is None:
        raise ValueError("matcher is closed")
    return matcher._m
