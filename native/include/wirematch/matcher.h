/* wirematch/matcher.h - the embedded matching engine: a deterministic central
 * limit order book (price-time priority), usable from C without Python.
 *
 * One owner thread applies fixed-size commands (struct wm_cmd, 64 bytes) and
 * receives fixed-size events (struct wm_event, 64 bytes).  Every rule, event
 * sequence and reason code is pinned down in docs/matching.md.
 *
 *   wm_matcher_create(&cfg, &m);
 *   wm_matcher_add_instrument(m, &icfg);           (reserves all its memory)
 *   n = wm_matcher_apply(m, cmds, ncmds, evs, cap, &consumed);
 *
 * No allocation, lock, system call or clock read happens inside
 * wm_matcher_apply.  The same command sequence always gives the same,
 * byte-identical event stream, whatever the batch and buffer sizes;
 * wm_matcher_hash() is a rolling hash over every event emitted.
 * wm_matcher_apply_indexed() also says which command each event belongs to.
 *
 * Standalone: libwirematch_matcher (.so/.a, pkg-config wirematch-matcher)
 * holds the matcher alone and needs libc only; this header and
 * wirematch/common.h are its whole interface.
 *
 * Output buffer rule: events_cap must be at least WM_MATCHER_MIN_EVENTS.  A
 * command may produce more events than fit (an order sweeping many resting
 * orders): the matcher then stops mid-command at a step boundary, counts the
 * command as consumed, and finishes it first on the next call (even one with
 * no new commands; wm_matcher_pending() says whether work is left).  The
 * stream is the same as with an unbounded buffer.
 */
#ifndef WIREMATCH_MATCHER_H
#define WIREMATCH_MATCHER_H

#include "wirematch/common.h"

/* Command types (wm_cmd.type). */
enum wm_cmd_type {
    WM_CMD_NEW = 1,          /* new order */
    WM_CMD_CANCEL = 2,       /* cancel (session, client_id) */
    WM_CMD_REPLACE = 3,      /* cancel-replace (session, client_id) -> new_client_id */
    WM_CMD_MASS_CANCEL = 4,  /* every order of session (in instrument, or all) */
    WM_CMD_HALT = 5,         /* instrument -> halted (cancels only) */
    WM_CMD_RESUME = 6,       /* instrument -> open */
    WM_CMD_CLOSE = 7,        /* instrument -> closed; DAY orders expire */
    WM_CMD_SET_REF = 8       /* instrument's reference price (price band centre) */
};

enum wm_side {
    WM_SIDE_BUY = 1,
    WM_SIDE_SELL = 2
};

enum wm_ord_type {
    WM_ORD_LIMIT = 1,
    WM_ORD_MARKET = 2
};

enum wm_tif {
    WM_TIF_DAY = 1,          /* rests; expires at CLOSE */
    WM_TIF_GTC = 2,          /* rests; survives CLOSE */
    WM_TIF_IOC = 3,          /* remainder cancelled */
    WM_TIF_FOK = 4           /* all or nothing, at once */
};

enum wm_stp {
    WM_STP_NONE = 0,             /* same-account trades allowed */
    WM_STP_CANCEL_NEWEST = 1,    /* incoming (taker) remainder cancelled */
    WM_STP_CANCEL_OLDEST = 2,    /* resting (maker) cancelled, taker goes on */
    WM_STP_CANCEL_BOTH = 3,      /* both cancelled */
    WM_STP_DECREMENT = 4         /* smaller cancelled, larger decremented by it */
};

/* wm_cmd.flags */
enum wm_cmd_flags {
    WM_CMDF_POST_ONLY = 1,       /* NEW: rejected if it would take liquidity */
    WM_CMDF_ALL_INSTRUMENTS = 2  /* MASS_CANCEL: every instrument */
};

enum wm_trading_state {
    WM_STATE_OPEN = 1,
    WM_STATE_HALTED = 2,
    WM_STATE_CLOSED = 3
};

/* A command: 64 bytes, plain data.  Unused fields must be zero. */
struct wm_cmd {
    uint64_t ts;             /*  0 receive timestamp, opaque, copied into events */
    uint64_t client_id;      /*  8 client order id (NEW) or the order acted on */
    int64_t  price;          /* 16 limit price / new price / reference price */
    int64_t  qty;            /* 24 quantity / new open quantity (REPLACE) */
    union {
        int64_t  min_qty;    /* 32 NEW: minimum quantity on entry (0 = none) */
        uint64_t new_client_id; /* 32 REPLACE: client id of the replacement */
    };
    int64_t  display_qty;    /* 40 NEW: must be 0 (iceberg not supported) */
    uint32_t session;        /* 48 owning session (ids are unique per session) */
    uint32_t account;        /* 52 self-trade prevention group */
    uint16_t instrument;     /* 56 */
    uint8_t  type;           /* 58 enum wm_cmd_type */
    uint8_t  side;           /* 59 enum wm_side */
    uint8_t  ord_type;       /* 60 enum wm_ord_type */
    uint8_t  tif;            /* 61 enum wm_tif */
    uint8_t  flags;          /* 62 enum wm_cmd_flags */
    uint8_t  stp;            /* 63 enum wm_stp */
};

/* Event types (wm_event.type). */
enum wm_event_type {
    WM_EV_ACCEPTED = 1,      /* new order accepted: order_ref assigned */
    WM_EV_REJECTED = 2,      /* command rejected: aux = reason, flags >> 4 = cmd type */
    WM_EV_EXECUTED = 3,      /* one side of a trade: aux = trade id */
    WM_EV_CANCELLED = 4,     /* qty removed from an order: aux = reason */
    WM_EV_REPLACED = 5,      /* replace done: aux = previous client id */
    WM_EV_BOOKED = 6,        /* order now rests on the book with qty */
    WM_EV_LEVEL = 7,         /* price level total changed: qty = total, aux = orders */
    WM_EV_STATE = 8,         /* trading state changed: aux = new state, qty = old */
    WM_EV_REF_PRICE = 9,     /* reference price set: price */
    WM_EV_MASS_CANCELLED = 10 /* mass cancel done: qty = orders cancelled */
};

/* wm_event.flags: bits 0-1 side, bits 2-3 per type, bits 4-7 rejected cmd type. */
enum wm_event_flags {
    WM_EVF_SIDE_MASK = 3,
    WM_EVF_MAKER = 4,        /* EXECUTED: this side is the resting (maker) order */
    WM_EVF_RESTING = 4,      /* CANCELLED: the order was on the book */
    WM_EVF_PARTIAL = 8,      /* CANCELLED: only qty removed, the order stays live */
    WM_EVF_IN_PLACE = 8,     /* REPLACED: same order_ref, priority kept */
    WM_EVF_CMD_SHIFT = 4
};

/* Reject reasons (REJECTED aux).  Distinct, counted. */
#define WM_REJECT_REASONS(X)                                    \
    X(WM_REJ_UNKNOWN_INSTRUMENT, 1, "unknown_instrument")      \
    X(WM_REJ_BAD_SIDE, 2, "bad_side")                          \
    X(WM_REJ_BAD_ORDER_TYPE, 3, "bad_order_type")              \
    X(WM_REJ_BAD_TIF, 4, "bad_tif")                            \
    X(WM_REJ_BAD_STP, 5, "bad_stp")                            \
    X(WM_REJ_BAD_FLAGS, 6, "bad_flags")                        \
    X(WM_REJ_BAD_QTY, 7, "bad_qty")                            \
    X(WM_REJ_BAD_MIN_QTY, 8, "bad_min_qty")                    \
    X(WM_REJ_BAD_DISPLAY_QTY, 9, "bad_display_qty")            \
    X(WM_REJ_BAD_LOT, 10, "bad_lot")                           \
    X(WM_REJ_QTY_LIMIT, 11, "qty_limit")                       \
    X(WM_REJ_BAD_PRICE, 12, "bad_price")                       \
    X(WM_REJ_OFF_TICK, 13, "off_tick")                         \
    X(WM_REJ_OUT_OF_BAND, 14, "out_of_band")                   \
    X(WM_REJ_HALTED, 15, "halted")                             \
    X(WM_REJ_CLOSED, 16, "closed")                             \
    X(WM_REJ_DUPLICATE_ID, 17, "duplicate_id")                 \
    X(WM_REJ_CAPACITY, 18, "capacity")                         \
    X(WM_REJ_POST_ONLY, 19, "post_only_would_take")            \
    X(WM_REJ_UNKNOWN_ORDER, 20, "unknown_order")               \
    X(WM_REJ_BAD_COMMAND, 21, "bad_command")                   \
    X(WM_REJ_OVERFLOW, 22, "overflow")

/* Cancel reasons (CANCELLED aux). */
#define WM_CANCEL_REASONS(X)                                    \
    X(WM_CXL_USER, 1, "user")                                  \
    X(WM_CXL_MASS, 2, "mass")                                  \
    X(WM_CXL_IOC, 3, "ioc_remainder")                          \
    X(WM_CXL_FOK, 4, "fok_unfilled")                           \
    X(WM_CXL_MIN_QTY, 5, "min_qty_unmet")                      \
    X(WM_CXL_STP, 6, "self_trade")                             \
    X(WM_CXL_REPLACED, 7, "replaced")                          \
    X(WM_CXL_CLOSE, 8, "close")

#define WM_REASON_ENUM(id, val, name) id = val,
enum wm_reject_reason { WM_REJECT_REASONS(WM_REASON_ENUM) WM_REJ_MAX = 23 };
enum wm_cancel_reason { WM_CANCEL_REASONS(WM_REASON_ENUM) WM_CXL_MAX = 9 };

/* An event: 64 bytes, plain data.  Field meaning per type in docs/matching.md. */
struct wm_event {
    uint64_t seq;            /*  0 global sequence number, from 1 */
    uint64_t ts;             /*  8 the command's ts */
    uint64_t order_ref;      /* 16 matcher order id (ITCH order reference), 0 if none */
    uint64_t client_id;      /* 24 the client's order id (OUCH user reference) */
    int64_t  price;          /* 32 */
    int64_t  qty;            /* 40 */
    uint64_t aux;            /* 48 trade id / reason / previous client id / state / count */
    uint32_t session;        /* 56 session of the order (0 for book-wide events) */
    uint16_t instrument;     /* 60 ITCH stock locate */
    uint8_t  type;           /* 62 enum wm_event_type */
    uint8_t  flags;          /* 63 enum wm_event_flags */
};

/* Events one command step may emit; the minimum events_cap. */
enum { WM_MATCHER_MIN_EVENTS = 8 };

/* wm_matcher_config.options: what a matcher may leave out (0: everything on). */
enum wm_matcher_options {
    WM_MATCHER_NO_HASH = 1,          /* no rolling hash: wm_matcher_hash() returns 0 */
    WM_MATCHER_NO_LEVEL_EVENTS = 2   /* no WM_EV_LEVEL events (depth: l2, depth_at) */
};

struct wm_matcher_config {
    uint32_t max_instruments;    /* instrument ids 0 .. max_instruments-1 (<= 65535) */
    uint32_t max_orders;         /* live orders over all instruments (order pool, id table; < 2^28) */
    uint32_t max_sessions;       /* distinct session ids over the matcher's life (0 = 1024) */
    uint32_t options;            /* enum wm_matcher_options, or-ed; unknown bits: -EINVAL */
};

struct wm_instrument_config {
    uint32_t id;                 /* < max_instruments */
    uint32_t max_orders;         /* live orders in this instrument (0 = matcher's max) */
    uint32_t max_levels;         /* price levels, both sides together (pool) */
    uint32_t window_ticks;       /* dense ladder window, power of two 64..262144 (0 = 16384),
                                  * centred on ref_price, re-centred by each SET_REF
                                  * and by the first level of an empty book */
    int64_t  tick_size;          /* > 0: prices are multiples of it */
    int64_t  lot_size;           /* > 0: quantities are multiples of it */
    int64_t  min_order_qty;      /* >= 1 */
    int64_t  max_order_qty;      /* >= min_order_qty */
    int64_t  ref_price;          /* > 0, on tick: band centre and window centre */
    int64_t  price_band;         /* >= 0: |price - ref| <= band; 0 = no band */
    uint32_t state;              /* initial enum wm_trading_state (0 = open) */
    uint32_t reserved;
};

struct wm_level_info {
    int64_t  price;
    int64_t  qty;                /* sum of open quantities */
    uint32_t orders;
    uint32_t reserved;
};

struct wm_order_info {
    uint64_t order_ref;
    uint64_t client_id;
    int64_t  price;
    int64_t  qty;                /* open (leaves) quantity */
    uint32_t session;
    uint32_t account;
    uint16_t instrument;
    uint8_t  side;
    uint8_t  tif;
    uint8_t  stp;
    uint8_t  flags;              /* WM_CMDF_POST_ONLY */
    uint16_t reserved;
};

struct wm_instrument_status {
    uint32_t state;
    uint32_t live_orders;
    uint32_t bid_levels;
    uint32_t ask_levels;
    int64_t  ref_price;
    int64_t  best_bid;           /* 0 when the side is empty */
    int64_t  best_ask;
    uint32_t levels_in_fallback; /* levels outside the dense window */
    uint32_t level_capacity;
};

struct wm_matcher;

/* Create a matcher (reserves the order pool and the id table).  Returns 0,
 * -EINVAL or -ENOMEM. */
int wm_matcher_create(const struct wm_matcher_config *cfg, struct wm_matcher **out);
void wm_matcher_destroy(struct wm_matcher *m);
/* Back to the state of a matcher just created with its instruments just
 * added (their configs as given: state, reference price): no orders,
 * sessions, pending command or counts, the event hash and sequence at
 * their start.  Keeps all memory; cost in proportion to the tables' sizes.
 * For harnesses that run many independent sequences (native/fuzz).
 * Returns 0 or -EINVAL (m NULL). */
int wm_matcher_reset(struct wm_matcher *m);

/* Add an instrument, reserving all its memory.  Returns 0, -EINVAL (bad
 * rule or capacity), -EEXIST, -ENOMEM, or -EBUSY while a command is pending. */
int wm_matcher_add_instrument(struct wm_matcher *m, const struct wm_instrument_config *cfg);

/* Apply up to n commands; write events to events[0..events_cap).  Returns the
 * number of events written, or -EINVAL (events_cap < WM_MATCHER_MIN_EVENTS).
 * *consumed (if not NULL) receives the number of commands taken from cmds. */
int wm_matcher_apply(struct wm_matcher *m, const struct wm_cmd *cmds, unsigned n,
                     struct wm_event *events, unsigned events_cap, unsigned *consumed);

/* wm_matcher_apply, and which command each event belongs to.  cmd_end (n + 1
 * entries) receives cmd_end[0], the number of events at the head of events
 * that finish the command a previous call left half-done (0 when none), and
 * for each command k < *consumed, cmd_end[k + 1], the index one past its last
 * event: command k's events are events[cmd_end[k] .. cmd_end[k + 1]).  When
 * the last consumed command is left half-done, its remaining events come at
 * the head of the next call's buffer (that call's cmd_end[0]).  The events
 * are exactly wm_matcher_apply's.  Entries past *consumed are not written. */
int wm_matcher_apply_indexed(struct wm_matcher *m, const struct wm_cmd *cmds, unsigned n,
                             struct wm_event *events, unsigned events_cap, unsigned *consumed,
                             uint32_t *cmd_end);

/* 1 while a command is half-done (call apply again), else 0. */
int wm_matcher_pending(const struct wm_matcher *m);

/* Rolling hash over every event emitted so far (docs/matching.md; 0 with
 * WM_MATCHER_NO_HASH), and the last sequence number used. */
uint64_t wm_matcher_hash(const struct wm_matcher *m);
uint64_t wm_matcher_last_seq(const struct wm_matcher *m);
/* The hash step for one event, from a previous hash value (for checkers). */
uint64_t wm_matcher_hash_event(uint64_t h, const struct wm_event *ev);

/* Snapshots (not while pending: -EBUSY).  L2: up to n levels of one side, best
 * first; returns the count or -EINVAL/-ENOENT.  L3: up to n resting orders of
 * one side in priority order (best level first, FIFO within a level). */
int wm_matcher_l2(const struct wm_matcher *m, uint32_t instrument, uint32_t side,
                  struct wm_level_info *out, unsigned n);
int wm_matcher_l3(const struct wm_matcher *m, uint32_t instrument, uint32_t side,
                  struct wm_order_info *out, unsigned n);

/* Depth at one price of one side: *qty, the open quantity resting there, and
 * *orders, the number of orders (both 0 when none rests there; either pointer
 * may be NULL).  Returns 0, -EINVAL (bad side, price <= 0 or off the
 * instrument's tick), -ENOENT (unknown instrument) or -EBUSY (pending). */
int wm_matcher_depth_at(const struct wm_matcher *m, uint32_t instrument, uint32_t side,
                        int64_t price, int64_t *qty, uint32_t *orders);

/* A live order by (session, client id): 0 or -ENOENT. */
int wm_matcher_order_info(const struct wm_matcher *m, uint32_t session, uint64_t client_id,
                          struct wm_order_info *out);
int wm_matcher_instrument_status(const struct wm_matcher *m, uint32_t instrument,
                                 struct wm_instrument_status *out);
uint32_t wm_matcher_live_orders(const struct wm_matcher *m);

/* Counters: per command type, per reject reason, per cancel reason, trades,
 * events.  Names are fixed; values belong to one matcher. */
unsigned wm_matcher_counter_count(void);
const char *wm_matcher_counter_name(unsigned idx);
uint64_t wm_matcher_counter_value(const struct wm_matcher *m, unsigned idx);

#endif
