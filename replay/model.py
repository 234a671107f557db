"""The golden model: what the appliance must send for an input capture.

Computed independently of the appliance's C gateway and matcher: the flow
rules (classify.match, the same first-match semantics), a Python model of
the MoldUDP64 inbound sequence tracker (docs/protocol.md, "Inbound
sessions": go-back-N, gaps dropped), the OUCH -> command and event -> OUCH /
ITCH mappings written out here from docs/protocol.md ("Mapping to the
matcher"), and the Python reference book (replay/refbook.py).  Only the
codecs are shared with the appliance: the C MoldUDP64 and OUCH decoders say
which bytes are well-formed, the C encoders write the expected messages
(their byte layout is checked against Scapy and tshark elsewhere).

What is not modelled, so a run must avoid it: session rate limits (the
model admits everything a rule allows; rules with `rate` are reported in
`Expected.caveats`), flow-table capacity and ageing, the slow path's new-flow
rate limit, several shards or rx queues reordering flows against each
other (the model applies packets in capture order, as one queue and one
shard do).

Timestamps are not part of the expected messages (set to 0): they
legitimately differ between runs; compare.normalize zeroes them in captured
messages too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from wirematch.pipeline.protocols import codec
from wirematch.replay import refbook as rb
from wirematch.replay.pcapio import Record, Udp, parse_udp
from wirematch.replay.setup import Instrument, SessionMap, Setup

DAY_NS = 86_400 * 1_000_000_000
END_OF_SESSION = 0xFFFF
OUCH_MAX_QTY = 1_000_000
OUCH_PRICE_MAX = 0x7FFFFFFF
ITCH_PRICE_MAX = 2_000_000_000
BLANK_CLORDID = " " * 14

# OUCH 5.0 Rejected Order codes used by the mapping (docs/protocol.md).
REJ_FAT_FINGER, REJ_HALTED, REJ_INVALID_SIDE, REJ_PROCESSING = 0x06, 0x07, 0x09, 0x0A
REJ_DEST_CLOSED, REJ_INVALID_DISPLAY, REJ_MAX_FLOOR = 0x02, 0x03, 0x04
REJ_MIN_QTY, REJ_OTHER, REJ_CANCEL_NOT_ALLOWED, REJ_PEGGING = 0x0D, 0x0F, 0x10, 0x11
REJ_CROSSED, REJ_QTY, REJ_REPLACE_NOT_ALLOWED, REJ_SYMBOL = 0x12, 0x13, 0x15, 0x17
REJ_PRICE, REJ_SHARES_EXCEED = 0x1D, 0x1E

MATCHER_REJECT_TO_OUCH = {
    rb.R_UNKNOWN_INSTRUMENT: REJ_SYMBOL,
    rb.R_BAD_SIDE: REJ_INVALID_SIDE,
    rb.R_BAD_QTY: REJ_QTY,
    rb.R_BAD_LOT: REJ_QTY,
    rb.R_BAD_MIN_QTY: REJ_MIN_QTY,
    rb.R_BAD_DISPLAY_QTY: REJ_INVALID_DISPLAY,
    rb.R_QTY_LIMIT: REJ_SHARES_EXCEED,
    rb.R_OVERFLOW: REJ_SHARES_EXCEED,
    rb.R_BAD_PRICE: REJ_PRICE,
    rb.R_OFF_TICK: REJ_PRICE,
    rb.R_OUT_OF_BAND: REJ_FAT_FINGER,
    rb.R_HALTED: REJ_HALTED,
    rb.R_CLOSED: REJ_DEST_CLOSED,
    rb.R_CAPACITY: REJ_PROCESSING,
    rb.R_BAD_COMMAND: REJ_PROCESSING,
    rb.R_POST_ONLY: REJ_CROSSED,
}
CANCEL_REASON = {
    rb.C_IOC: "I",
    rb.C_FOK: "I",
    rb.C_MIN_QTY: "I",
    rb.C_STP: "Q",
    rb.C_CLOSE: "E",
}
CMD_FIELDS = (
    "ts client_id price qty min_qty new_client_id display_qty session account "
    "instrument type side ord_type tif flags stp"
).split()


# Where the appliance counts what the model counts (block, counter name):
# rx.q0 for the flow decision, heartbeats, sequencing and bad packets,
# codec.q0 for why a MoldUDP64 packet or OUCH message was malformed,
# gateway.s0 for the gateway's own counters.  Frames that are not IPv4/UDP
# to the order-entry port never reach the rx stage on the backends here
# (the socket and io_uring backends receive from a UDP socket bound to the
# port; the AF_XDP program redirects only that UDP port): they have no entry.
RX_REASONS = {
    "flow_misses": "flow_misses",
    "flow_denied": "drop_flow_denied",
    "heartbeats": "heartbeats",
    "seq_duplicate_messages": "drop_duplicate",
    "seq_drop_after_gap_messages": "drop_after_gap",
    "seq_drop_after_end_of_session": "drop_session_ended",
}


def appliance_counters(reason: str) -> list[tuple[str, str]]:
    """The appliance counters a model counter corresponds to (may be none)."""
    if reason in RX_REASONS:
        return [("rx.q0", RX_REASONS[reason])]
    if reason.startswith("mold_drop_"):
        return [("codec.q0", reason), ("rx.q0", "drop_bad_mold")]
    if reason.startswith("ouch_drop_"):
        return [("codec.q0", reason), ("rx.q0", "drop_bad_ouch")]
    if reason.startswith("gw_in_"):
        return [("gateway.s0", reason)]
    return []


@dataclass
class Cause:
    """Where an expected output message came from: the input record and the
    message's index inside that record's MoldUDP64 packet."""

    record: int
    message: int


@dataclass
class Expected:
    """The model's answer for one input capture."""

    feed: list[bytes] = field(default_factory=list)  # ITCH messages, timestamp 0
    feed_causes: list[Cause] = field(default_factory=list)
    replies: dict[str, list[bytes]] = field(default_factory=dict)  # flow -> OUCH out
    reply_causes: dict[str, list[Cause]] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # one per input record
    counters: Counter = field(default_factory=Counter)
    commands: int = 0
    events: int = 0
    caveats: list[str] = field(default_factory=list)
    # (record, message) -> (flow, index of its first reply in the flow's stream)
    first_reply: dict[tuple[int, int], tuple[str, int]] = field(default_factory=dict)


@dataclass
class _GwSession:
    session: int
    flow: str
    next_user_ref: int = 1


@dataclass
class _Order:
    """The gateway's order-table entry (docs/protocol.md, "The order table"):
    what an order's OUCH answers echo that the matcher does not keep."""

    user_ref: int
    side: str
    time_in_force: str
    display: str
    capacity: str
    iso: str
    cross_type: str
    cl_ord_id: str
    app: dict[str, Any]
    live: bool = False  # False: pending (mapped, no ACCEPTED / REPLACED yet)
    pending_ref: int = 0  # live order: its pending replacement; replacement: the original
    leaves: int = 0
    modify: bool = False  # a Modify Order waits for its REPLACED
    modify_side: str = ""

    def echo(self) -> dict[str, Any]:
        return dict(
            side=self.side, time_in_force=self.time_in_force, display=self.display,
            capacity=self.capacity, iso=self.iso, cross_type=self.cross_type,
            cl_ord_id=self.cl_ord_id, app=dict(self.app),
        )  # fmt: skip


def _side_change_ok(old: str, new: str) -> bool:
    """Modify / Replace may change the side among S, T, E; a buy stays a buy."""
    return new == "B" if old == "B" else new != "B"


@dataclass
class _SeqEntry:
    next_seq: int = 1
    ended: bool = False


class Model:
    """Feed it input records in order (`apply`); read `expected`."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.flows = SessionMap(setup)
        self.book = setup.refbook()
        self.seq: dict[str, _SeqEntry] = {}
        self.gw: dict[int, _GwSession] = {}
        self.seen_flows: set[str] = set()
        self.orders: dict[tuple[int, int], _Order] = {}  # (session, UserRefNum)
        self.started: list[int] = []  # sessions told System Event 'S', in that order
        self.replaced: tuple[int, int, int] = (0, 0, 0)  # session, client id, qty
        self.out = Expected()
        self.cause = Cause(-1, -1)
        for r in setup.rules.rules:
            if r.allow and r.rate:
                self.out.caveats.append(f"rule `{r.text}` has a rate limit; the model ignores it")

    # ---- the input side --------------------------------------------------

    def apply(self, index: int, rec: Record | tuple[int, bytes]) -> None:
        ts, frame = (rec.ts_ns, rec.data) if isinstance(rec, Record) else rec
        verdict: dict[str, Any] = {"index": index}
        self.out.verdicts.append(verdict)
        u = parse_udp(frame)
        app_addr, app_port = self.setup.appliance
        if isinstance(u, str):
            return self._drop(verdict, u)
        verdict["flow"] = u.flow
        if u.dport != app_port or (app_addr != "0.0.0.0" and u.dst != app_addr):
            return self._drop(verdict, "not_order_entry")
        session = self.flows.session_of(u.src, u.sport, u.dst, u.dport)
        if u.flow not in self.seen_flows:
            # The flow's first packet goes to the slow path, which decides the
            # flow (auto ids in this order); the rx stage holds the packet
            # until then and takes it like any other.
            self.seen_flows.add(u.flow)
            verdict["flow_miss"] = True
            self.out.counters["flow_misses"] += 1
        if session is None:
            return self._drop(verdict, "flow_denied")
        if session not in self.gw:
            self.gw[session] = _GwSession(session, u.flow)
        self._mold(index, ts, u, session, verdict)

    def stop(self) -> None:
        """A clean stop: System Event 'E' to every session the engine knows,
        in the order they started."""
        self.cause = Cause(-1, -1)
        for session in self.started:
            self._reply(self.gw[session].flow, "S", event_code="E")
            self.out.counters["gw_ouch_messages"] += 1

    def _drop(self, verdict: dict[str, Any], reason: str) -> None:
        verdict.update(verdict="drop", reason=reason)
        self.out.counters[reason] += 1

    def _mold(self, index: int, ts: int, u: Udp, session: int, verdict: dict[str, Any]) -> None:
        try:
            name, first, count, msgs = codec.mold_unpack(u.payload)
        except codec.CodecError as exc:
            return self._drop(verdict, exc.reason_name)
        c = self.out.counters
        if count == 0:  # a heartbeat: the rx stage counts it, the tracker never sees it
            c["heartbeats"] += 1
            verdict.update(verdict="heartbeat")
            return None
        c["seq_packets"] += 1
        key = u.flow  # the rx stage's tracker keys by source address and port
        e = self.seq.get(key)
        if e is None:
            e = self.seq[key] = _SeqEntry()
            c["seq_new_sessions"] += 1
        if e.ended:
            return self._drop(verdict, "seq_drop_after_end_of_session")
        if count == END_OF_SESSION:
            if first > e.next_seq:
                c["seq_gaps"] += 1
                c["seq_gap_messages_missing"] += first - e.next_seq
                return self._drop(verdict, "seq_end_of_session_after_gap")
            e.ended = True
            c["seq_ended_sessions"] += 1
            verdict.update(verdict="end_of_session")
            return None
        if first > e.next_seq:
            c["seq_gaps"] += 1
            c["seq_gap_messages_missing"] += first - e.next_seq
            c["seq_drop_after_gap_messages"] += count
            verdict.update(verdict="drop", reason="seq_drop_after_gap_messages")
            return None
        if first + count <= e.next_seq:
            c["seq_duplicate_messages"] += count
            return self._drop(verdict, "seq_duplicate_packets")
        skip = e.next_seq - first
        if skip:
            c["seq_overlap_packets"] += 1
            c["seq_duplicate_messages"] += skip
        e.next_seq = first + count
        c["seq_messages_applied"] += count - skip
        verdict.update(verdict="partial" if skip else "applied", messages=[])
        for k in range(skip, count):
            verdict["messages"].append(self._ouch(index, k, ts, session, msgs[k]))
        return None

    def _ouch(self, index: int, k: int, ts: int, session: int, data: bytes) -> str:
        self.cause = Cause(index, k)
        try:
            msg = codec.decode_ouch_in(data)
        except codec.CodecError as exc:
            self.out.counters[exc.reason_name] += 1
            return exc.reason_name
        s = self.gw[session]
        if session not in self.started:  # the engine's new session: System Event 'S' first
            self.started.append(session)
            self._reply(s.flow, "S", event_code="S")
            self.out.counters["gw_ouch_messages"] += 1
        before = len(self.out.replies.get(s.flow, []))
        what = self._map(s, ts % DAY_NS, msg)
        if len(self.out.replies.get(s.flow, [])) > before:
            self.out.first_reply[(index, k)] = (s.flow, before)
        return what

    # ---- OUCH inbound -> command (docs/protocol.md) ----------------------

    def _reply(self, flow: str, type_: str, **fields: Any) -> None:
        self.out.replies.setdefault(flow, []).append(codec.encode_ouch_out(type_, 0, **fields))
        self.out.reply_causes.setdefault(flow, []).append(self.cause)

    def _refuse(self, s: _GwSession, reason: str, ref: int, code: int, clordid: str) -> str:
        self.out.counters[reason] += 1
        self._reply(s.flow, "J", user_ref_num=ref, reason=code, cl_ord_id=clordid)
        return reason

    def _map(self, s: _GwSession, ts: int, m: dict[str, Any]) -> str:
        t = m["type"]
        ref = m.get("user_ref_num", 0) if t in "OUC" else 0
        if ref:
            if ref < s.next_user_ref:
                clordid = m.get("cl_ord_id", BLANK_CLORDID) if t in "OU" else BLANK_CLORDID
                why = "gw_in_drop_user_ref_not_increasing"
                return self._refuse(s, why, ref, REJ_OTHER, clordid)
            s.next_user_ref = ref + 1  # 2^32 after UINT32_MAX: every later one refused
        cmd: dict[str, int] = dict.fromkeys(CMD_FIELDS, 0)
        cmd.update(ts=ts, session=s.session)
        if t == "O":
            r = self._enter(s, m, cmd)
        elif t == "U":
            r = self._replace(s, m, cmd)
        elif t == "X":
            r = self._reduce(s, m, cmd)
        elif t == "M":
            r = self._reduce(s, m, cmd, m["side"])
        elif t == "C":
            r = self._mass_cancel(s, m, cmd)
        else:  # 'Q'
            self.out.counters["gw_in_replies"] += 1
            self._reply(s.flow, "Q", next_user_ref_num=min(s.next_user_ref, 0xFFFFFFFF))
            return "gw_in_replies"
        if r:
            return r
        self.out.counters["gw_in_commands"] += 1
        self.out.commands += 1
        self._apply(cmd)
        return "command"

    def _checks(self, s: _GwSession, m: dict[str, Any], ins: Instrument, tif_need: int) -> str:
        """Price, TIF, display and appendage checks shared by Enter and Replace;
        '' when they pass (cmd price/tif are then set by the caller)."""
        ref, clordid = m["user_ref_num"], m["cl_ord_id"]
        if m["price"] <= 0 or m["price"] % ins.tick:
            return self._refuse(s, "gw_in_drop_price_off_tick", ref, REJ_PRICE, clordid)
        if m["price"] > ITCH_PRICE_MAX:  # the feed could not announce it
            return self._refuse(s, "gw_in_drop_price_over_feed_max", ref, REJ_PRICE, clordid)
        tif = {"0": rb.DAY, "3": rb.IOC}.get(m["time_in_force"], 0)
        if not tif or (tif_need and tif != tif_need):
            code = REJ_REPLACE_NOT_ALLOWED if tif_need else REJ_OTHER
            return self._refuse(s, "gw_in_drop_unsupported_tif", ref, code, clordid)
        if m["display"] == "N":
            return self._refuse(s, "gw_in_drop_hidden_display", ref, REJ_INVALID_DISPLAY, clordid)
        app = m.get("app", {})
        if app.get("price_type", "L") != "L":
            return self._refuse(s, "gw_in_drop_unsupported_price_type", ref, REJ_PEGGING, clordid)
        if 0 < app.get("max_floor", 0) < m["quantity"]:
            return self._refuse(s, "gw_in_drop_reserve_order", ref, REJ_MAX_FLOOR, clordid)
        return ""

    def _enter(self, s: _GwSession, m: dict[str, Any], cmd: dict[str, int]) -> str:
        ins = self.setup.by_symbol(m["symbol"])
        if ins is None:
            return self._refuse(
                s, "gw_in_drop_unknown_symbol", m["user_ref_num"], REJ_SYMBOL, m["cl_ord_id"]
            )
        r = self._checks(s, m, ins, 0)
        if r:
            return r
        app = m.get("app", {})
        self.orders[(s.session, m["user_ref_num"])] = _Order(
            m["user_ref_num"], m["side"], m["time_in_force"], m["display"], m["capacity"],
            m["iso"], m["cross_type"], m["cl_ord_id"], dict(app),
        )  # fmt: skip
        cmd.update(
            type=rb.NEW,
            client_id=m["user_ref_num"],
            account=s.session if self.setup.account_per_session else 0,
            instrument=ins.id,
            side=rb.BUY if m["side"] == "B" else rb.SELL,
            ord_type=rb.LIMIT,
            tif=rb.DAY if m["time_in_force"] == "0" else rb.IOC,
            price=m["price"] // ins.tick,
            qty=m["quantity"],
            stp=self.setup.stp,
            min_qty=app.get("min_qty", 0),
            flags=rb.F_POST_ONLY if app.get("post_only") == "P" else 0,
        )
        return ""

    def _replace(self, s: _GwSession, m: dict[str, Any], cmd: dict[str, int]) -> str:
        cmd.update(
            type=rb.REPLACE,
            client_id=m["orig_user_ref_num"],
            new_client_id=m["user_ref_num"],
            qty=m["quantity"],
        )
        o = self.book.orders.get((s.session, m["orig_user_ref_num"]))
        if o is None:
            return ""  # the book answers unknown_order: Cancel Reject
        ins = self.setup.by_id(o.instrument)
        if ins is None:
            return self._refuse(
                s, "gw_in_drop_unknown_symbol", m["user_ref_num"], REJ_SYMBOL, m["cl_ord_id"]
            )
        r = self._checks(s, m, ins, o.tif)
        if r:
            return r
        # The matcher keeps post-only and applies a minimum quantity on entry
        # only: a Replace asking to change them (or a buy/sell flip) is refused.
        app = m.get("app", {})
        orig = self.orders.get((s.session, m["orig_user_ref_num"]))
        post_only = bool(o.flags & rb.F_POST_ONLY)
        if (
            "min_qty" in app
            or ("post_only" in app and (app["post_only"] == "P") != post_only)
            or ("side" in app and orig is not None and not _side_change_ok(orig.side, app["side"]))
        ):
            return self._refuse(
                s, "gw_in_drop_replace_not_allowed", m["user_ref_num"], REJ_REPLACE_NOT_ALLOWED,
                m["cl_ord_id"],
            )  # fmt: skip
        if orig is not None:
            if orig.pending_ref:  # a Replace mapped but never applied
                stale = self.orders.get((s.session, orig.pending_ref))
                if stale is not None and not stale.live:
                    del self.orders[(s.session, orig.pending_ref)]
                orig.pending_ref = 0
            napp = {k: v for k, v in app.items() if k != "side"}
            for k in ("firm", "route", "post_only"):
                if k in orig.app and k not in napp:
                    napp[k] = orig.app[k]
            self.orders[(s.session, m["user_ref_num"])] = _Order(
                m["user_ref_num"], app.get("side", orig.side), m["time_in_force"], m["display"],
                orig.capacity, m["iso"], orig.cross_type, m["cl_ord_id"], napp,
                pending_ref=m["orig_user_ref_num"],
            )  # fmt: skip
            orig.pending_ref = m["user_ref_num"]
        cmd.update(instrument=o.instrument, price=m["price"] // ins.tick)
        return ""

    def _reduce(
        self, s: _GwSession, m: dict[str, Any], cmd: dict[str, int], modify_side: str = ""
    ) -> str:
        ref, qty = m["user_ref_num"], m["quantity"]
        e = self.orders.get((s.session, ref))
        if modify_side and e is not None and not _side_change_ok(e.side, modify_side):
            self.out.counters["gw_in_drop_modify_bad_side"] += 1
            self._reply(s.flow, "I", user_ref_num=ref)
            return "gw_in_drop_modify_bad_side"
        if e is not None:
            e.modify = bool(modify_side) and qty > 0
            if e.modify:
                e.modify_side = modify_side
        o = self.book.orders.get((s.session, ref))
        cmd.update(client_id=ref, instrument=o.instrument if o else 0)
        if qty == 0:
            cmd["type"] = rb.CANCEL
            return ""
        cmd.update(type=rb.REPLACE, new_client_id=ref)
        if o is not None:
            cmd.update(price=o.price, qty=min(qty, o.leaves))
        else:
            cmd["qty"] = qty
        return ""

    def _mass_cancel(self, s: _GwSession, m: dict[str, Any], cmd: dict[str, int]) -> str:
        if "side" in m.get("app", {}):
            return self._refuse(
                s, "gw_in_drop_mass_cancel_by_side", m["user_ref_num"], REJ_CANCEL_NOT_ALLOWED,
                BLANK_CLORDID,
            )  # fmt: skip
        cmd["type"] = rb.MASS_CANCEL
        if not m["symbol"].strip(" "):
            cmd["flags"] = rb.F_ALL_INSTRUMENTS
            return ""
        ins = self.setup.by_symbol(m["symbol"])
        if ins is None:
            return self._refuse(
                s, "gw_in_drop_unknown_symbol", m["user_ref_num"], REJ_SYMBOL, BLANK_CLORDID
            )
        cmd["instrument"] = ins.id
        return ""

    # ---- the book and the outbound mappings ------------------------------

    def _apply(self, cmd: dict[str, int]) -> None:
        first = len(self.book.events)
        self.book.apply(cmd)
        for ev in self.book.events[first:]:
            self.out.events += 1
            self._itch(ev)
            self._ouch_out(ev)

    def _itch(self, ev: tuple[int, ...]) -> None:
        _, _, ref, _, price, qty, aux, _, iid, typ, flags = ev
        c = self.out.counters
        maker = typ == rb.EV_EXECUTED and flags & rb.F_MAKER
        resting = typ == rb.EV_CANCELLED and flags & rb.F_RESTING
        if typ not in (rb.EV_BOOKED, rb.EV_STATE) and not maker and not resting:
            c["gw_itch_not_market_data"] += 1
            return
        ins = self.setup.by_id(iid)
        if (typ != rb.EV_STATE and ref == 0) or ins is None:
            c["gw_itch_drop_unencodable" if ins else "gw_itch_drop_unknown_instrument"] += 1
            return
        f: dict[str, Any]
        if typ == rb.EV_BOOKED:
            if not 0 < price * ins.tick <= ITCH_PRICE_MAX or not 0 < qty <= 0xFFFFFFFF:
                c["gw_itch_drop_unencodable"] += 1
                return
            t = "A"
            side = "B" if flags & 3 == rb.BUY else "S"
            f = dict(order_ref=ref, side=side, shares=qty, stock=ins.symbol, price=price * ins.tick)
        elif maker:
            t, f = "E", dict(order_ref=ref, shares=qty, match_number=aux)
        elif flags & rb.F_PARTIAL:
            t, f = "X", dict(order_ref=ref, shares=qty)
        elif resting:
            t, f = "D", dict(order_ref=ref)
        else:
            state = "T" if aux == rb.OPEN else "H"
            t, f = "H", dict(stock=ins.symbol, trading_state=state, reserved=" ", reason="    ")
        self.out.feed.append(codec.encode_itch(t, stock_locate=ins.locate, timestamp=0, **f))
        self.out.feed_causes.append(self.cause)
        c["gw_itch_messages"] += 1

    def _track(self, ev: tuple[int, ...]) -> tuple[str, _Order | None]:
        """Keep the order table in step with an event; what the answer echoes:
        ("order", entry), ("replace_rejected", the replacement),
        ("reduce_rejected", None) or ("none", None)."""
        _, _, _, cid, _, qty, aux, session, _, typ, flags = ev
        if session == 0 or cid == 0 or cid > 0xFFFFFFFF:
            return "none", None
        key = (session, cid)
        e = self.orders.get(key)
        cmd_type = flags >> 4
        if typ == rb.EV_ACCEPTED:
            if e is None:
                return "none", None
            e.live, e.leaves = True, qty
            return "order", replace(e, app=dict(e.app))
        if typ == rb.EV_REJECTED:
            if e is None:
                return "none", None
            if cmd_type == rb.NEW and not e.live:
                del self.orders[key]
                return "order", e
            if cmd_type != rb.REPLACE:
                return "none", None
            e.modify = False
            if e.pending_ref:
                nkey = (session, e.pending_ref)
                e.pending_ref = 0
                n = self.orders.pop(nkey, None)
                return ("replace_rejected", n) if n is not None else ("none", None)
            return "reduce_rejected", None
        if typ == rb.EV_EXECUTED:
            if e is not None:
                e.leaves -= qty
                if e.leaves <= 0:
                    del self.orders[key]
            return "none", None
        if typ == rb.EV_CANCELLED:
            if e is None:
                return "none", None
            if flags & rb.F_PARTIAL:
                e.leaves -= qty
            if aux == rb.C_REPLACED:
                return "none", None
            if not flags & rb.F_PARTIAL or e.leaves <= 0:
                del self.orders[key]
            return "none", None
        if typ == rb.EV_REPLACED:
            if e is None:
                return "none", None
            echo = replace(e, app=dict(e.app))
            e.leaves = qty
            if aux == cid:  # in place: a Cancel to a quantity or a Modify
                if e.modify:
                    e.side = e.modify_side
                e.modify = False
            else:  # the replacement takes over from the order it replaces
                e.live, e.pending_ref = True, 0
                self.orders.pop((session, aux), None)
            if e.leaves <= 0:
                self.orders.pop(key, None)
            return "order", echo
        return "none", None

    def _ouch_out(self, ev: tuple[int, ...]) -> None:
        _, _, ref, cid, price, qty, aux, session, iid, typ, flags = ev
        c = self.out.counters
        cmd_type = flags >> 4
        kind, echo = self._track(ev)
        if typ == rb.EV_CANCELLED and aux == rb.C_REPLACED:
            self.replaced = (session, cid, qty if flags & rb.F_PARTIAL else 0)
            c["gw_ouch_not_for_client"] += 1
            return
        if typ == rb.EV_REJECTED and cmd_type not in (rb.NEW, rb.CANCEL, rb.REPLACE):
            typ = 0
        if typ not in (rb.EV_ACCEPTED, rb.EV_EXECUTED, rb.EV_REPLACED, rb.EV_CANCELLED,
                       rb.EV_REJECTED):  # fmt: skip
            c["gw_ouch_not_for_client"] += 1
            return
        s = self.gw.get(session)
        if s is None or cid == 0 or cid > 0xFFFFFFFF:
            c["gw_ouch_drop_unknown_session"] += 1
            return
        ins = self.setup.by_id(iid)
        side = "B" if flags & 3 == rb.BUY else "S"

        def order_ok() -> bool:
            return (
                ins is not None
                and 0 <= qty <= OUCH_MAX_QTY
                and 0 < price * ins.tick <= (OUCH_PRICE_MAX)
            )

        defaults = dict(display="Y", capacity="A", iso="N", cross_type="N", cl_ord_id=BLANK_CLORDID)
        if typ == rb.EV_ACCEPTED:
            if ins is None or not order_ok() or qty == 0:
                c["gw_ouch_drop_unencodable" if ins else "gw_ouch_drop_unknown_instrument"] += 1
                return
            if kind == "order" and echo is not None:  # as the client entered it
                f = echo.echo()
            else:
                tif = "3" if aux & 0xFF in (rb.IOC, rb.FOK) else "0"
                app = {"post_only": "P"} if (aux >> 16) & rb.F_POST_ONLY else {}
                f = dict(side=side, time_in_force=tif, app=app, **defaults)
            self._reply(
                s.flow, "A", user_ref_num=cid, quantity=qty, symbol=ins.symbol,
                price=price * ins.tick, order_ref=ref, order_state="L", **f,
            )  # fmt: skip
        elif typ == rb.EV_REPLACED and aux == cid:
            rs, rc, dec = self.replaced
            dec = dec if (rs, rc) == (session, cid) else 0
            self.replaced = (rs, rc, 0)
            if kind == "order" and echo is not None and echo.modify:
                if not 0 < qty <= OUCH_MAX_QTY:
                    c["gw_ouch_drop_unencodable"] += 1
                    return
                self._reply(s.flow, "M", user_ref_num=cid, side=echo.modify_side, quantity=qty)
            else:
                if dec <= 0:
                    c["gw_ouch_not_for_client"] += 1
                    return
                self._reply(s.flow, "C", user_ref_num=cid, quantity=dec, reason="U")
        elif typ == rb.EV_REPLACED:
            if ins is None or not order_ok() or aux == 0 or aux > 0xFFFFFFFF:
                c["gw_ouch_drop_unencodable" if ins else "gw_ouch_drop_unknown_instrument"] += 1
                return
            if kind == "order" and echo is not None:  # the Replace Order as sent
                f = echo.echo()
            else:
                f = dict(side=side, time_in_force="0", **defaults)
            self._reply(
                s.flow, "U", orig_user_ref_num=aux, user_ref_num=cid, quantity=qty,
                symbol=ins.symbol, price=price * ins.tick, order_ref=ref,
                order_state="L" if qty > 0 else "D", **f,
            )  # fmt: skip
        elif typ == rb.EV_EXECUTED:
            if ins is None or not 0 < qty <= OUCH_MAX_QTY or aux == 0:
                c["gw_ouch_drop_unencodable"] += 1
                return
            liq = "A" if flags & rb.F_MAKER else "R"
            self._reply(
                s.flow, "E", user_ref_num=cid, quantity=qty, price=price * ins.tick,
                liquidity_flag=liq, match_number=aux,
            )  # fmt: skip
        elif typ == rb.EV_CANCELLED:
            if not 0 < qty <= OUCH_MAX_QTY:
                c["gw_ouch_drop_unencodable"] += 1
                return
            reason = CANCEL_REASON.get(aux, "U")
            self._reply(s.flow, "C", user_ref_num=cid, quantity=qty, reason=reason)
        elif kind == "reduce_rejected" or (cmd_type != rb.NEW and aux == rb.R_UNKNOWN_ORDER):
            self._reply(s.flow, "I", user_ref_num=cid)
        else:
            code = MATCHER_REJECT_TO_OUCH.get(aux, REJ_OTHER)
            if echo is not None:  # the rejected message's own UserRefNum and ClOrdID
                self._reply(s.flow, "J", user_ref_num=echo.user_ref, reason=code,
                            cl_ord_id=echo.cl_ord_id)  # fmt: skip
            else:
                self._reply(s.flow, "J", user_ref_num=cid, reason=code, cl_ord_id=BLANK_CLORDID)
        c["gw_ouch_messages"] += 1


def expected(
    records: Iterable[Record | tuple[int, bytes]], setup: Setup, clean_stop: bool = True
) -> Expected:
    """The golden model over a whole capture (and, with clean_stop, the
    appliance's clean stop after it)."""
    m = Model(setup)
    for i, rec in enumerate(records):
        m.apply(i, rec)
    if clean_stop:
        m.stop()
    return m.out
