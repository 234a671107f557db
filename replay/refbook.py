"""A small, slow, obviously-correct reference order book (pure Python).

It implements the rules of docs/matching.md with dicts and lists and produces
the same events as the C matcher (same fields, sequence numbers and order),
as tuples in EVENT_DTYPE field order:
(seq, ts, order_ref, client_id, price, qty, aux, session, instrument, type, flags).
The property test (tests/test_matcher_property.py) compares the two; the
replay harness (replay/model.py) uses it as the golden model's book.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INT64_MAX = (1 << 63) - 1

# Command types, sides, order types, TIF, STP, flags, states (matcher.h).
NEW, CANCEL, REPLACE, MASS_CANCEL, HALT, RESUME, CLOSE, SET_REF = range(1, 9)
BUY, SELL = 1, 2
LIMIT, MARKET = 1, 2
DAY, GTC, IOC, FOK = 1, 2, 3, 4
STP_NONE, STP_NEWEST, STP_OLDEST, STP_BOTH, STP_DECREMENT = range(5)
F_POST_ONLY, F_ALL_INSTRUMENTS = 1, 2
OPEN, HALTED, CLOSED = 1, 2, 3

# Event types and flags.
EV_ACCEPTED, EV_REJECTED, EV_EXECUTED, EV_CANCELLED, EV_REPLACED = 1, 2, 3, 4, 5
EV_BOOKED, EV_LEVEL, EV_STATE, EV_REF_PRICE, EV_MASS_CANCELLED = 6, 7, 8, 9, 10
F_MAKER = F_RESTING = 4
F_PARTIAL = F_IN_PLACE = 8

# Reject reasons.
(
    R_UNKNOWN_INSTRUMENT,
    R_BAD_SIDE,
    R_BAD_ORDER_TYPE,
    R_BAD_TIF,
    R_BAD_STP,
    R_BAD_FLAGS,
    R_BAD_QTY,
    R_BAD_MIN_QTY,
    R_BAD_DISPLAY_QTY,
    R_BAD_LOT,
    R_QTY_LIMIT,
    R_BAD_PRICE,
    R_OFF_TICK,
    R_OUT_OF_BAND,
    R_HALTED,
    R_CLOSED,
    R_DUPLICATE_ID,
    R_CAPACITY,
    R_POST_ONLY,
    R_UNKNOWN_ORDER,
    R_BAD_COMMAND,
    R_OVERFLOW,
) = range(1, 23)

# Cancel reasons.
C_USER, C_MASS, C_IOC, C_FOK, C_MIN_QTY, C_STP, C_REPLACED, C_CLOSE = range(1, 9)


@dataclass
class Order:
    ref: int
    client_id: int
    price: int
    leaves: int
    session: int
    account: int
    instrument: int
    side: int
    tif: int
    stp: int
    flags: int
    ord_type: int


@dataclass
class Instrument:
    id: int
    tick: int
    lot: int
    min_qty: int
    max_qty: int
    ref: int
    band: int
    max_levels: int
    max_orders: int
    state: int = OPEN
    live: int = 0
    # side -> price -> FIFO list of orders
    book: dict[int, dict[int, list[Order]]] = field(default_factory=lambda: {BUY: {}, SELL: {}})

    def best(self, side: int) -> int | None:
        levels = self.book[side]
        if not levels:
            return None
        return max(levels) if side == BUY else min(levels)

    def prices(self, side: int) -> list[int]:
        """Prices of one side, best first."""
        return sorted(self.book[side], reverse=(side == BUY))

    def nlevels(self) -> int:
        return len(self.book[BUY]) + len(self.book[SELL])


def other(side: int) -> int:
    return SELL if side == BUY else BUY


def crosses_price(side: int, ord_type: int, limit: int, level_price: int) -> bool:
    if ord_type == MARKET:
        return True
    return level_price <= limit if side == BUY else level_price >= limit


class RefBook:
    def __init__(self, max_orders: int, max_sessions: int = 1024) -> None:
        self.max_orders = max_orders
        self.max_sessions = max_sessions
        # session -> its live orders, oldest entry first (mass cancel order);
        # a session stays known once seen.
        self.sessions: dict[int, list[Order]] = {}
        self.instruments: dict[int, Instrument] = {}
        self.orders: dict[tuple[int, int], Order] = {}
        self.seq = 0
        self.next_ref = 0
        self.next_trade = 0
        self.events: list[tuple[int, ...]] = []
        self.ts = 0

    def add_instrument(
        self,
        id: int,
        tick_size: int = 1,
        lot_size: int = 1,
        min_order_qty: int = 1,
        max_order_qty: int = INT64_MAX,
        ref_price: int = 10_000,
        price_band: int = 0,
        max_levels: int = 1024,
        max_orders: int = 0,
        state: int = 0,
        **_ignored: int,
    ) -> None:
        self.instruments[id] = Instrument(
            id,
            tick_size,
            lot_size,
            min_order_qty,
            max_order_qty,
            ref_price,
            price_band,
            max_levels,
            max_orders or self.max_orders,
            state or OPEN,
        )

    # ---- events ----------------------------------------------------------

    def _emit(self, *fields: int) -> None:
        order_ref, client_id, price, qty, aux, session, instrument, type_, flags = fields
        self.seq += 1
        ev = (order_ref, client_id, price, qty, aux, session, instrument, type_, flags)
        self.events.append((self.seq, self.ts, *ev))

    def _ev_order(self, type_: int, o: Order, qty: int, aux: int, flags: int = 0) -> None:
        self._emit(
            o.ref, o.client_id, o.price, qty, aux, o.session, o.instrument, type_, o.side | flags
        )

    def _ev_level(self, inst: Instrument, side: int, price: int) -> None:
        q = inst.book[side].get(price, [])
        self._emit(0, 0, price, sum(o.leaves for o in q), len(q), 0, inst.id, EV_LEVEL, side)

    def _reject(self, c: dict[str, int], reason: int) -> None:
        flags = (c["side"] & 3) | ((c["type"] & 15) << 4)
        self._emit(
            0, c["client_id"], c["price"], c["qty"], reason, c["session"], c["instrument"],
            EV_REJECTED, flags,
        )  # fmt: skip

    # ---- book helpers ----------------------------------------------------

    def _remove(self, inst: Instrument, o: Order) -> None:
        """Take a resting order off its level (deleting an empty level)."""
        q = inst.book[o.side][o.price]
        q.remove(o)
        if not q:
            del inst.book[o.side][o.price]

    def _free(self, inst: Instrument, o: Order) -> None:
        del self.orders[(o.session, o.client_id)]
        self.sessions[o.session].remove(o)
        inst.live -= 1

    def _cancel_resting(self, inst: Instrument, o: Order, reason: int) -> None:
        self._ev_order(EV_CANCELLED, o, o.leaves, reason, F_RESTING)
        self._remove(inst, o)
        self._ev_level(inst, o.side, o.price)
        self._free(inst, o)

    # ---- validation ------------------------------------------------------

    @staticmethod
    def _check_qty(inst: Instrument, qty: int) -> int:
        if qty <= 0:
            return R_BAD_QTY
        if qty % inst.lot:
            return R_BAD_LOT
        if qty < inst.min_qty or qty > inst.max_qty:
            return R_QTY_LIMIT
        return 0

    @staticmethod
    def _check_price(inst: Instrument, price: int) -> int:
        if price <= 0:
            return R_BAD_PRICE
        if price % inst.tick:
            return R_OFF_TICK
        if inst.band > 0 and abs(price - inst.ref) > inst.band:
            return R_OUT_OF_BAND
        return 0

    @staticmethod
    def _check_state(inst: Instrument) -> int:
        return {HALTED: R_HALTED, CLOSED: R_CLOSED}.get(inst.state, 0)

    @staticmethod
    def _check_rest(inst: Instrument, side: int, price: int, qty: int, me: Order | None) -> int:
        q = inst.book[side].get(price)
        if q is None:
            return R_CAPACITY if inst.nlevels() >= inst.max_levels else 0
        total = sum(o.leaves for o in q if o is not me)
        return R_OVERFLOW if total + qty > INT64_MAX else 0

    def _crosses(self, inst: Instrument, side: int, ord_type: int, price: int) -> bool:
        b = inst.best(other(side))
        return b is not None and crosses_price(side, ord_type, price, b)

    # ---- matching --------------------------------------------------------

    def _contra_orders(self, inst: Instrument, t: Order) -> list[Order]:
        """Crossing resting orders in priority order (a snapshot)."""
        out = []
        side = other(t.side)
        for p in inst.prices(side):
            if not crosses_price(t.side, t.ord_type, t.price, p):
                break
            out.extend(inst.book[side][p])
        return out

    def _executable(self, inst: Instrument, t: Order, need: int) -> int:
        leaves, filled = t.leaves, 0
        for mk in self._contra_orders(inst, t):
            if t.stp != STP_NONE and mk.account == t.account:
                if t.stp == STP_OLDEST:
                    continue
                if t.stp == STP_DECREMENT and mk.leaves < leaves:
                    leaves -= mk.leaves
                    continue
                return filled
            q = min(mk.leaves, leaves)
            filled += q
            leaves -= q
            if leaves == 0 or filled >= need:
                return filled
        return filled

    def _match(self, inst: Instrument, t: Order) -> None:
        """Match the taker t; then cancel or rest its remainder."""
        cside = other(t.side)
        touched: int | None = None  # price of a touched, still non-empty level

        def maker_gone(mk: Order) -> None:
            nonlocal touched
            self._remove(inst, mk)
            self._free(inst, mk)
            if mk.price not in inst.book[cside]:
                self._ev_level(inst, cside, mk.price)
                touched = None
            else:
                touched = mk.price

        def cancel_taker(qty: int, flags: int = 0) -> None:
            self._ev_order(EV_CANCELLED, t, qty, C_STP, flags)

        while t.leaves > 0:
            best = inst.best(cside)
            if best is None or not crosses_price(t.side, t.ord_type, t.price, best):
                break
            mk = inst.book[cside][best][0]
            if t.stp != STP_NONE and mk.account == t.account:
                if t.stp == STP_NEWEST:
                    cancel_taker(t.leaves)
                    t.leaves = 0
                elif t.stp == STP_OLDEST:
                    self._ev_order(EV_CANCELLED, mk, mk.leaves, C_STP, F_RESTING)
                    mk.leaves = 0
                    maker_gone(mk)
                elif t.stp == STP_BOTH:
                    self._ev_order(EV_CANCELLED, mk, mk.leaves, C_STP, F_RESTING)
                    mk.leaves = 0
                    maker_gone(mk)
                    cancel_taker(t.leaves)
                    t.leaves = 0
                else:  # decrement
                    d = min(mk.leaves, t.leaves)
                    if mk.leaves > d:
                        mk.leaves -= d
                        self._ev_order(EV_CANCELLED, mk, d, C_STP, F_RESTING | F_PARTIAL)
                        touched = mk.price
                    else:
                        self._ev_order(EV_CANCELLED, mk, d, C_STP, F_RESTING)
                        mk.leaves = 0
                        maker_gone(mk)
                    if t.leaves > d:
                        t.leaves -= d
                        cancel_taker(d, F_PARTIAL)
                    else:
                        cancel_taker(d)
                        t.leaves = 0
                continue
            q = min(mk.leaves, t.leaves)
            self.next_trade += 1
            mk.leaves -= q
            t.leaves -= q
            self._emit(
                mk.ref, mk.client_id, best, q, self.next_trade, mk.session, inst.id,
                EV_EXECUTED, mk.side | F_MAKER,
            )  # fmt: skip
            self._emit(
                t.ref, t.client_id, best, q, self.next_trade, t.session, inst.id,
                EV_EXECUTED, t.side,
            )  # fmt: skip
            if mk.leaves == 0:
                maker_gone(mk)
            else:
                touched = best
        # The taker's end.
        if touched is not None:
            self._ev_level(inst, cside, touched)
        if t.leaves > 0:
            if t.ord_type == MARKET or t.tif in (IOC, FOK):
                self._ev_order(EV_CANCELLED, t, t.leaves, C_FOK if t.tif == FOK else C_IOC)
                self._free(inst, t)
            else:
                inst.book[t.side].setdefault(t.price, []).append(t)
                self._ev_order(EV_BOOKED, t, t.leaves, 0)
                self._ev_level(inst, t.side, t.price)
        else:
            self._free(inst, t)

    # ---- commands --------------------------------------------------------

    def apply(self, c: dict[str, int]) -> None:
        self.ts = c["ts"]
        handler = {
            NEW: self._new,
            CANCEL: self._cancel,
            REPLACE: self._replace,
            MASS_CANCEL: self._mass_cancel,
            HALT: lambda c: self._state(c, HALTED),
            RESUME: lambda c: self._state(c, OPEN),
            CLOSE: lambda c: self._state(c, CLOSED),
            SET_REF: self._set_ref,
        }.get(c["type"])
        if handler is None:
            self._reject(c, R_BAD_COMMAND)
        else:
            handler(c)

    def _validate_new(self, inst: Instrument, c: dict[str, int]) -> int:
        if c["side"] not in (BUY, SELL):
            return R_BAD_SIDE
        if c["ord_type"] not in (LIMIT, MARKET):
            return R_BAD_ORDER_TYPE
        if c["tif"] not in (DAY, GTC, IOC, FOK) or (
            c["ord_type"] == MARKET and c["tif"] not in (IOC, FOK)
        ):
            return R_BAD_TIF
        if c["stp"] > STP_DECREMENT:
            return R_BAD_STP
        if c["flags"] & ~F_POST_ONLY:
            return R_BAD_FLAGS
        if c["flags"] & F_POST_ONLY and (
            c["ord_type"] != LIMIT or c["tif"] in (IOC, FOK) or c["min_qty"] != 0
        ):
            return R_BAD_FLAGS
        r = self._check_qty(inst, c["qty"])
        if r:
            return r
        if c["min_qty"] < 0 or c["min_qty"] > c["qty"]:
            return R_BAD_MIN_QTY
        if c["display_qty"] != 0:
            return R_BAD_DISPLAY_QTY
        if c["ord_type"] == MARKET:
            if c["price"] != 0:
                return R_BAD_PRICE
        else:
            r = self._check_price(inst, c["price"])
            if r:
                return r
        return self._check_state(inst)

    def _new(self, c: dict[str, int]) -> None:
        inst = self.instruments.get(c["instrument"])
        if inst is None:
            return self._reject(c, R_UNKNOWN_INSTRUMENT)
        r = self._validate_new(inst, c)
        if r:
            return self._reject(c, r)
        if (c["session"], c["client_id"]) in self.orders:
            return self._reject(c, R_DUPLICATE_ID)
        if (
            len(self.orders) >= self.max_orders
            or inst.live >= inst.max_orders
            or (c["session"] not in self.sessions and len(self.sessions) >= self.max_sessions)
        ):
            return self._reject(c, R_CAPACITY)
        may_rest = c["ord_type"] == LIMIT and c["tif"] in (DAY, GTC)
        if may_rest:
            r = self._check_rest(inst, c["side"], c["price"], c["qty"], None)
            if r:
                return self._reject(c, r)
        if c["flags"] & F_POST_ONLY and self._crosses(inst, c["side"], c["ord_type"], c["price"]):
            return self._reject(c, R_POST_ONLY)
        self.next_ref += 1
        o = Order(
            self.next_ref, c["client_id"], c["price"], c["qty"], c["session"], c["account"],
            inst.id, c["side"], c["tif"], c["stp"], c["flags"], c["ord_type"],
        )  # fmt: skip
        self.orders[(o.session, o.client_id)] = o
        self.sessions.setdefault(o.session, []).append(o)
        inst.live += 1
        aux = c["tif"] | c["ord_type"] << 8 | c["flags"] << 16 | c["stp"] << 24 | c["account"] << 32
        self._ev_order(EV_ACCEPTED, o, c["qty"], aux)
        need = c["qty"] if c["tif"] == FOK else c["min_qty"]
        if need > 0 and self._executable(inst, o, need) < need:
            self._ev_order(EV_CANCELLED, o, o.leaves, C_FOK if c["tif"] == FOK else C_MIN_QTY)
            self._free(inst, o)
            return None
        self._match(inst, o)
        return None

    def _cancel(self, c: dict[str, int]) -> None:
        o = self.orders.get((c["session"], c["client_id"]))
        if o is None or o.instrument != c["instrument"]:
            return self._reject(c, R_UNKNOWN_ORDER)
        self._cancel_resting(self.instruments[o.instrument], o, C_USER)
        return None

    def _replace(self, c: dict[str, int]) -> None:
        o = self.orders.get((c["session"], c["client_id"]))
        if o is None or o.instrument != c["instrument"]:
            return self._reject(c, R_UNKNOWN_ORDER)
        inst = self.instruments[o.instrument]
        new_id = c["new_client_id"]
        r = (
            self._check_qty(inst, c["qty"])
            or self._check_price(inst, c["price"])
            or self._check_state(inst)
        )
        if not r and new_id != c["client_id"] and (c["session"], new_id) in self.orders:
            r = R_DUPLICATE_ID
        if not r:
            r = self._check_rest(inst, o.side, c["price"], c["qty"], o)
        if not r and o.flags & F_POST_ONLY and self._crosses(inst, o.side, LIMIT, c["price"]):
            r = R_POST_ONLY
        if r:
            return self._reject(c, r)
        old_id = o.client_id
        if c["price"] == o.price and c["qty"] <= o.leaves:
            d = o.leaves - c["qty"]
            if d:
                o.leaves = c["qty"]
                self._ev_order(EV_CANCELLED, o, d, C_REPLACED, F_RESTING | F_PARTIAL)
            del self.orders[(o.session, old_id)]
            o.client_id = new_id
            self.orders[(o.session, new_id)] = o
            self._ev_order(EV_REPLACED, o, o.leaves, old_id, F_IN_PLACE)
            if d:
                self._ev_level(inst, o.side, o.price)
            return None
        self._ev_order(EV_CANCELLED, o, o.leaves, C_REPLACED, F_RESTING)
        self._remove(inst, o)
        self._ev_level(inst, o.side, o.price)
        del self.orders[(o.session, old_id)]
        o.client_id = new_id
        self.orders[(o.session, new_id)] = o
        self.sessions[o.session].remove(o)  # a new entry: to the end of the list
        self.sessions[o.session].append(o)
        self.next_ref += 1
        o.ref = self.next_ref
        o.price = c["price"]
        o.leaves = c["qty"]
        self._ev_order(EV_REPLACED, o, o.leaves, old_id)
        self._match(inst, o)
        return None

    def _sweep(self, ids: list[int], session: int | None, day_only: bool, reason: int) -> int:
        count = 0
        for iid in ids:
            inst = self.instruments[iid]
            for side in (BUY, SELL):
                victims = [
                    o
                    for p in inst.prices(side)
                    for o in inst.book[side][p]
                    if (session is None or o.session == session) and (not day_only or o.tif == DAY)
                ]
                for o in victims:
                    self._cancel_resting(inst, o, reason)
                    count += 1
        return count

    def _mass_cancel(self, c: dict[str, int]) -> None:
        if c["flags"] & ~F_ALL_INSTRUMENTS:
            return self._reject(c, R_BAD_FLAGS)
        if c["flags"] & F_ALL_INSTRUMENTS:
            ids, report = sorted(self.instruments), 0xFFFF
        else:
            if c["instrument"] not in self.instruments:
                return self._reject(c, R_UNKNOWN_INSTRUMENT)
            ids, report = [c["instrument"]], c["instrument"]
        victims = [o for o in self.sessions.get(c["session"], []) if o.instrument in ids]
        for o in victims:
            self._cancel_resting(self.instruments[o.instrument], o, C_MASS)
        self._emit(0, 0, 0, len(victims), 0, c["session"], report, EV_MASS_CANCELLED, 0)
        return None

    def _state(self, c: dict[str, int], state: int) -> None:
        inst = self.instruments.get(c["instrument"])
        if inst is None:
            return self._reject(c, R_UNKNOWN_INSTRUMENT)
        old, inst.state = inst.state, state
        self._emit(0, 0, 0, old, state, 0, inst.id, EV_STATE, 0)
        if state == CLOSED:
            self._sweep([inst.id], None, True, C_CLOSE)
        return None

    def _set_ref(self, c: dict[str, int]) -> None:
        inst = self.instruments.get(c["instrument"])
        if inst is None:
            return self._reject(c, R_UNKNOWN_INSTRUMENT)
        if c["price"] <= 0:
            return self._reject(c, R_BAD_PRICE)
        if c["price"] % inst.tick:
            return self._reject(c, R_OFF_TICK)
        inst.ref = c["price"]
        self._emit(0, 0, c["price"], 0, 0, 0, inst.id, EV_REF_PRICE, 0)
        return None

    # ---- views for the invariants ------------------------------------------

    def l3(self, instrument: int, side: int) -> list[tuple[int, int, int, int]]:
        """(order_ref, client_id, price, leaves) in priority order."""
        inst = self.instruments[instrument]
        return [
            (o.ref, o.client_id, o.price, o.leaves)
            for p in inst.prices(side)
            for o in inst.book[side][p]
        ]
