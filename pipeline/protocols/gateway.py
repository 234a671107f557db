"""Python access to the wire gateway (native/include/wirematch/gateway.h).

The C gateway maps decoded OUCH 5.0 inbound messages to matcher commands and
matcher events to ITCH 5.0 (the market-data feed) and OUCH 5.0 outbound (each
order's own session), written straight into MoldUDP64 packet builders.  This
module wires it to a `pipeline.matcher.Matcher` for tools and tests: OUCH
bytes in, MoldUDP64 packets out.  Mapping rules: docs/protocol.md, "Mapping
to the matcher".
"""

from __future__ import annotations

import errno
from typing import Any

import numpy as np

from wirematch.pipeline.native import check, ffi, lib
from wirematch.pipeline.native.matcher import EVENT_DTYPE, Matcher, commands, matcher_ptr
from wirematch.pipeline.protocols import codec


def counter_name(idx: int) -> str:
    name = lib.wm_gw_counter_name(idx)
    return ffi.string(name).decode() if name != ffi.NULL else f"unknown-{idx}"


class Stream:
    """One outbound MoldUDP64 stream: a C packet builder and the packets it
    has flushed so far."""

    def __init__(self, session: str, first_seq: int = 1, mtu_payload: int = 1472) -> None:
        self.buf = ffi.new("uint8_t[]", mtu_payload)
        self.builder = ffi.new("struct wm_mold_builder *")
        check(
            lib.wm_mold_builder_init(
                self.builder, session.encode(), first_seq, self.buf, mtu_payload
            ),
            "wm_mold_builder_init",
        )
        self.packets: list[bytes] = []

    def flush(self) -> None:
        n = lib.wm_mold_builder_flush(self.builder)
        if n:
            self.packets.append(bytes(ffi.buffer(self.buf, n)))

    def add(self, append: Any) -> int:
        """Call append() (a C append into this builder); on a full packet,
        flush and call it once more.  Returns append's last result."""
        rc = int(append())
        if rc == -errno.ENOBUFS:
            self.flush()
            rc = int(append())
        return rc

    def add_itch(self, msg: Any) -> None:
        check(self.add(lambda: lib.wm_mold_builder_add_itch(self.builder, msg)), "add_itch")

    def add_ouch(self, msg: Any) -> None:
        check(self.add(lambda: lib.wm_mold_builder_add_ouch(self.builder, msg)), "add_ouch")


class Gateway:
    """A wm_gw bound to a Matcher, a market-data stream and session streams."""

    def __init__(
        self,
        matcher: Matcher,
        feed: Stream,
        ts_offset_ns: int = 0,
        account_per_session: bool = False,
        stp: int = 0,
        max_orders: int = 0,
    ) -> None:
        self.matcher = matcher
        self.feed = feed
        self.sessions: dict[int, Stream] = {}
        cfg = ffi.new("struct wm_gw_config *")
        cfg.matcher = matcher_ptr(matcher)
        cfg.ts_offset_ns = ts_offset_ns
        cfg.account_per_session = int(account_per_session)
        cfg.stp = stp
        cfg.max_orders = max_orders  # order table (0: WM_GW_DEFAULT_MAX_ORDERS)
        gw = ffi.new("struct wm_gw *")
        check(lib.wm_gw_init(gw, cfg), "wm_gw_init")
        # wm_gw_fini frees the order table when the gateway goes.
        self.gw = ffi.gc(gw, lib.wm_gw_fini)
        self.events: list[np.ndarray] = []

    def add_instrument(self, symbol: str, instrument: int, stock_locate: int, tick: int) -> None:
        rc = lib.wm_gw_add_instrument(self.gw, symbol.encode(), instrument, stock_locate, tick)
        check(rc, f"wm_gw_add_instrument {symbol}")

    def add_session(self, session: int, stream: Stream | None = None) -> Stream:
        stream = stream or Stream(f"S{session}")
        check(lib.wm_gw_add_session(self.gw, session, stream.builder), "wm_gw_add_session")
        self.sessions[session] = stream
        return stream

    def to_cmd(
        self, session: int, ts: int, ouch: bytes
    ) -> tuple[np.ndarray | None, str, dict[str, Any] | None]:
        """Decode OUCH bytes (C decoder) and map them: (a one-command batch or
        None, the reason's counter name ("ok" when a command), the reply the
        session gets from the gateway itself, decoded, or None)."""
        msg = ffi.new("struct wm_ouch_in *")
        r = lib.wm_ouch_decode_in(ouch, len(ouch), msg, ffi.NULL)
        if r:
            raise codec.CodecError(r, "OUCH in")
        return self.map_struct(session, ts, msg)

    def map_struct(
        self, session: int, ts: int, msg: Any
    ) -> tuple[np.ndarray | None, str, dict[str, Any] | None]:
        batch = commands(1)
        cptr = ffi.cast("struct wm_cmd *", ffi.from_buffer(batch))
        reply = ffi.new("struct wm_ouch_out *")
        r = check(lib.wm_gw_ouch_to_cmd(self.gw, session, ts, msg, cptr, reply), "ouch_to_cmd")
        out = None
        if reply.type != b"\0":
            buf = ffi.new("uint8_t[]", 1024)
            n = check(lib.wm_ouch_encode_out(buf, 1024, reply), "encode reply")
            out = codec.decode_ouch_out(bytes(ffi.buffer(buf, n)))
        return (batch if r == 0 else None), counter_name(r), out

    def submit(self, session: int, ts: int, ouch: bytes) -> np.ndarray:
        """One OUCH message through decode, mapping, the matcher and both
        outbound mappings; returns the matcher's events."""
        batch, _, reply = self.to_cmd(session, ts, ouch)
        if reply is not None:
            self.sessions[session].add_ouch(codec.ouch_out_struct(**_reply_fields(reply)))
        if batch is None:
            return np.zeros(0, dtype=EVENT_DTYPE)
        events = self.matcher.apply(batch)
        self.publish(events)
        return events

    def publish(self, events: np.ndarray) -> None:
        """Every event to the feed (ITCH) and to its session (OUCH)."""
        events = np.ascontiguousarray(events)
        self.events.append(events)
        base = ffi.cast("const struct wm_event *", ffi.from_buffer(events))
        for i in range(len(events)):
            ev = base + i
            rc = self.feed.add(lambda ev=ev: lib.wm_gw_publish_itch(self.gw, ev, self.feed.builder))
            check(min(rc, 0), "wm_gw_publish_itch")
            rc = lib.wm_gw_publish_ouch(self.gw, ev)
            if rc == -errno.ENOBUFS:
                stream = self.sessions[int(events["session"][i])]
                stream.flush()
                rc = lib.wm_gw_publish_ouch(self.gw, ev)
            check(min(rc, 0), "wm_gw_publish_ouch")

    def flush(self) -> None:
        self.feed.flush()
        for s in self.sessions.values():
            s.flush()

    def system_event(self, session: int, code: str, ts: int) -> None:
        """OUCH System Event ('S' start of day, 'E' end of day) to a session."""
        stream = self.sessions[session]
        rc = stream.add(lambda: lib.wm_gw_publish_system_event(self.gw, session, code.encode(), ts))
        if check(rc, "wm_gw_publish_system_event"):
            raise ValueError(f"system event refused: {counter_name(rc)}")

    def live_orders(self) -> int:
        """Orders in the gateway's order table (entered, not yet dead)."""
        return int(self.gw.n_orders)

    def counters(self) -> dict[str, int]:
        """Non-zero gateway counters by name."""
        return {
            counter_name(i): int(self.gw.counts[i])
            for i in range(lib.wm_gw_counter_count())
            if self.gw.counts[i]
        }


def _reply_fields(reply: dict[str, Any]) -> dict[str, Any]:
    fields = dict(reply)
    return {"type_": fields.pop("type"), **fields}
