/* wirematch/gateway.h - the mapping between the wire codecs and the matcher.
 *
 *   OUCH 5.0 inbound (decoded)  -> struct wm_cmd          wm_gw_ouch_to_cmd
 *   struct wm_event             -> ITCH 5.0 (market data) wm_gw_event_itch / wm_gw_publish_itch
 *   struct wm_event             -> OUCH 5.0 outbound      wm_gw_event_ouch / wm_gw_publish_ouch
 *
 * The tables (instruments by symbol, client sessions) are fixed-capacity
 * arrays inside struct wm_gw, filled at start; sessions are found through a
 * hash index beside them (wm_gw_find_session, on every message and reply).
 * The order table (what each client sent that the matcher does not keep:
 * ClOrdID, capacity, the appendage..., echoed in Order Accepted / Replaced /
 * Rejected Order, and the pending Modify / Replace of each order) is
 * allocated once by wm_gw_init with cfg.max_orders entries and freed by
 * wm_gw_fini; nothing is allocated per message.  One owner thread: the
 * matcher's (cancel and replace look the order up in the matcher to find
 * its instrument and price), and wm_gw_event_ouch / wm_gw_publish_ouch /
 * wm_gw_publish_ouch_to must see every event the matcher emits, once and
 * in order (they keep the order table).
 *
 * Every function returns 0 when it produced its output, a positive reason
 * (enum wm_gw_counter, counted in gw->counts) when it produced nothing, or
 * -EINVAL (NULL argument) / -ENOBUFS (the builder's packet is full: flush it
 * and call again; nothing counted).  Mapping rules: docs/protocol.md,
 * "Mapping to the matcher".
 */
#ifndef WIREMATCH_GATEWAY_H
#define WIREMATCH_GATEWAY_H

#include "wirematch/common.h"
#include "wirematch/mold.h"
#include "wirematch/ouch.h"
#include "wirematch/itch.h"
#include "wirematch/matcher.h"

#ifndef WM_COUNTER_ENUM
#define WM_COUNTER_ENUM(id, name) id,
#define WM_COUNTER_NAME(id, name) name,
#endif

/* Index 0 is "ok".  Names without "drop" are not drops (outputs, or events
 * that have no message in that protocol by design). */
#define WM_GW_COUNTERS(X)                                                      \
    X(WM_GW_OK, "ok")                                                          \
    /* OUCH inbound -> command */                                              \
    X(WM_GW_IN_COMMANDS, "gw_in_commands")                                     \
    X(WM_GW_IN_REPLIES, "gw_in_replies")                                       \
    X(WM_GW_IN_DROP_UNKNOWN_SESSION, "gw_in_drop_unknown_session")             \
    X(WM_GW_IN_DROP_UNKNOWN_TYPE, "gw_in_drop_unknown_type")                   \
    X(WM_GW_IN_DROP_USER_REF_NOT_INCREASING, "gw_in_drop_user_ref_not_increasing") \
    X(WM_GW_IN_DROP_UNKNOWN_SYMBOL, "gw_in_drop_unknown_symbol")               \
    X(WM_GW_IN_DROP_PRICE_OFF_TICK, "gw_in_drop_price_off_tick")               \
    X(WM_GW_IN_DROP_PRICE_OVER_FEED_MAX, "gw_in_drop_price_over_feed_max")     \
    X(WM_GW_IN_DROP_UNSUPPORTED_TIF, "gw_in_drop_unsupported_tif")             \
    X(WM_GW_IN_DROP_HIDDEN, "gw_in_drop_hidden_display")                       \
    X(WM_GW_IN_DROP_PRICE_TYPE, "gw_in_drop_unsupported_price_type")           \
    X(WM_GW_IN_DROP_RESERVE, "gw_in_drop_reserve_order")                       \
    X(WM_GW_IN_DROP_MODIFY_SIDE, "gw_in_drop_modify_bad_side")                 \
    X(WM_GW_IN_DROP_MASS_CANCEL_SIDE, "gw_in_drop_mass_cancel_by_side")        \
    X(WM_GW_IN_DROP_REPLACE_NOT_ALLOWED, "gw_in_drop_replace_not_allowed")     \
    X(WM_GW_IN_DROP_ORDER_TABLE_FULL, "gw_in_drop_order_table_full")           \
    /* event -> ITCH */                                                        \
    X(WM_GW_ITCH_MESSAGES, "gw_itch_messages")                                 \
    X(WM_GW_ITCH_NOT_MARKET_DATA, "gw_itch_not_market_data")                   \
    X(WM_GW_ITCH_DROP_UNKNOWN_INSTRUMENT, "gw_itch_drop_unknown_instrument")   \
    X(WM_GW_ITCH_DROP_BAD_TIMESTAMP, "gw_itch_drop_bad_timestamp")             \
    X(WM_GW_ITCH_DROP_UNENCODABLE, "gw_itch_drop_unencodable")                 \
    /* event -> OUCH outbound */                                               \
    X(WM_GW_OUCH_MESSAGES, "gw_ouch_messages")                                 \
    X(WM_GW_OUCH_NOT_FOR_CLIENT, "gw_ouch_not_for_client")                     \
    X(WM_GW_OUCH_DROP_UNKNOWN_SESSION, "gw_ouch_drop_unknown_session")         \
    X(WM_GW_OUCH_DROP_UNKNOWN_INSTRUMENT, "gw_ouch_drop_unknown_instrument")   \
    X(WM_GW_OUCH_DROP_BAD_TIMESTAMP, "gw_ouch_drop_bad_timestamp")             \
    X(WM_GW_OUCH_DROP_UNENCODABLE, "gw_ouch_drop_unencodable")

enum wm_gw_counter { WM_GW_COUNTERS(WM_COUNTER_ENUM) WM_GW_N_COUNTERS };

enum {
    WM_GW_MAX_INSTRUMENTS = 64,
    WM_GW_MAX_SESSIONS = 256,
    WM_GW_SESSION_INDEX = 1024,         /* session index slots: a power of two, 4 per session */
    WM_GW_DEFAULT_MAX_ORDERS = 65536,   /* cfg.max_orders 0 */
    WM_GW_MAX_ORDERS = 1 << 26
};

/* One instrument: its OUCH/ITCH symbol, the matcher's instrument id, the
 * ITCH Stock Locate, and the tick in Price(4) units (100 = one cent). */
struct wm_gw_instrument {
    char     symbol[8];         /* as on the wire: left-justified, space padded */
    uint16_t instrument;        /* matcher instrument id */
    uint16_t stock_locate;      /* ITCH Stock Locate */
    uint32_t reserved;
    int64_t  tick;              /* > 0: wire_price = ticks * tick */
};

/* One client session: the matcher's session id, the builder of its outbound
 * OUCH stream (may be NULL: wm_gw_event_ouch only), the next UserRefNum it
 * may use (Account Query; inbound UserRefNums must increase strictly: 2^32
 * once UINT32_MAX is used, so that every later one is refused), and the
 * owner's own per-session data (NULL unless the owner sets it; the
 * appliance keeps the stream's destination and open packet there). */
struct wm_gw_session {
    uint32_t session;
    uint32_t reserved;
    uint64_t next_user_ref;
    struct wm_mold_builder *builder;
    void    *ctx;
};

/* Event ts -> ns since midnight: ts_to_ns(ts_ctx, ts) when set, else
 * ts + ts_offset_ns.  A result not below a day is a counted drop. */
struct wm_gw_config {
    const struct wm_matcher *matcher;   /* for cancel/replace lookups (NULL: none) */
    uint64_t (*ts_to_ns)(void *ctx, uint64_t ts);
    void    *ts_ctx;
    int64_t  ts_offset_ns;
    uint32_t account_per_session;       /* 1: cmd.account = session (STP group) */
    uint8_t  stp;                       /* enum wm_stp for every NEW */
    uint8_t  reserved[3];
    /* Live orders the order table holds (0: WM_GW_DEFAULT_MAX_ORDERS); set
     * it to the matcher's max_orders.  128 bytes per order plus a 16-byte
     * index slot per 1/2 order (index at most half full). */
    uint32_t max_orders;
};

/* The order table's entry and index slot (layouts private to
 * native/codec/gateway.c). */
struct wm_gw_order;
struct wm_gw_order_slot;

struct wm_gw {
    struct wm_gw_config cfg;
    uint32_t n_instruments;
    uint32_t n_sessions;
    struct wm_gw_instrument instruments[WM_GW_MAX_INSTRUMENTS];
    struct wm_gw_session sessions[WM_GW_MAX_SESSIONS];
    /* Open addressing, linear probing, never deleted: sessions[] position
     * + 1, 0 = empty slot. */
    uint16_t session_index[WM_GW_SESSION_INDEX];
    uint64_t counts[WM_GW_N_COUNTERS];
    /* The last CANCELLED(replaced) seen by wm_gw_event_ouch, for the
     * REPLACED that follows it (an in-place decrease is answered with its
     * decrement). */
    uint32_t replaced_session;
    uint32_t reserved;
    uint64_t replaced_client_id;
    int64_t  replaced_qty;
    /* Order table, keyed by (session, UserRefNum); allocated by wm_gw_init. */
    struct wm_gw_order *orders;         /* max_orders entries */
    struct wm_gw_order_slot *slots;     /* slot_mask + 1 index slots */
    uint32_t max_orders;
    uint32_t n_orders;                  /* entries in use */
    uint32_t slot_mask;
    uint32_t free_head;                 /* free entries: index + 1, 0 = none */
    /* wm_gw_publish_ouch's message held over an -ENOBUFS, so the retry
     * with the same event sends it without mapping the event twice. */
    struct wm_event held_ev;
    struct wm_ouch_out held_msg;
    uint32_t held;
    uint32_t reserved2;
};

uint32_t wm_gw_counter_count(void);
const char *wm_gw_counter_name(uint32_t idx);   /* NULL past the end */

/* 0, -EINVAL (cfg NULL, max_orders above WM_GW_MAX_ORDERS) or -ENOMEM.
 * Clears the tables and counters and allocates the order table: call
 * wm_gw_fini before initialising the same gateway again. */
int wm_gw_init(struct wm_gw *gw, const struct wm_gw_config *cfg);
/* Frees the order table (the gateway can be initialised again).  NULL and a
 * zeroed struct are fine. */
void wm_gw_fini(struct wm_gw *gw);
/* Back to the state wm_gw_init left (same config, the order table's memory
 * kept): no instruments, sessions, orders or counts.  For harnesses that run
 * many independent sequences (native/fuzz).  0, or -EINVAL (NULL, not
 * initialised). */
int wm_gw_reset(struct wm_gw *gw);
/* symbol: up to 8 characters (NUL-terminated or 8 bytes), valid OUCH symbol.
 * 0, -EINVAL (bad symbol or tick), -EEXIST (symbol or instrument known),
 * -ENOSPC (table full). */
int wm_gw_add_instrument(struct wm_gw *gw, const char *symbol, uint16_t instrument,
                         uint16_t stock_locate, int64_t tick);
/* 0, -EEXIST, -ENOSPC, -EINVAL (session 0).  The entry's ctx is NULL. */
int wm_gw_add_session(struct wm_gw *gw, uint32_t session, struct wm_mold_builder *builder);
/* The session's entry (a hash lookup), or NULL. */
struct wm_gw_session *wm_gw_find_session(struct wm_gw *gw, uint32_t session);

/* A decoded OUCH inbound message of `session`, received at ts, to a matcher
 * command.  Returns 0 with *cmd filled, or a reason; when the protocol has
 * an answer (Rejected Order, Account Query Response) it is in *reply
 * (reply->type != 0), for the session's outbound stream. */
int wm_gw_ouch_to_cmd(struct wm_gw *gw, uint32_t session, uint64_t ts,
                      const struct wm_ouch_in *in, struct wm_cmd *cmd,
                      struct wm_ouch_out *reply);

/* An event to its ITCH message (0, *out filled) or a reason
 * (gw_itch_not_market_data for events without one). */
int wm_gw_event_itch(struct wm_gw *gw, const struct wm_event *ev, struct wm_itch_msg *out);
/* The same, appended to the feed's builder.  -ENOBUFS: flush and retry. */
int wm_gw_publish_itch(struct wm_gw *gw, const struct wm_event *ev, struct wm_mold_builder *b);

/* An event to the OUCH message for the owning session (0, *out filled) or a
 * reason (gw_ouch_not_for_client for events without one). */
int wm_gw_event_ouch(struct wm_gw *gw, const struct wm_event *ev, struct wm_ouch_out *out);
/* The same, appended to the owning session's builder (-ENOBUFS: flush that
 * session's builder, wm_gw_find_session(gw, ev->session)->builder, and retry). */
int wm_gw_publish_ouch(struct wm_gw *gw, const struct wm_event *ev);
/* wm_gw_publish_ouch for an owner that frames each session's stream itself
 * (the appliance): *to is the entry of the session whose builder the
 * message was offered to (returns 0, -ENOBUFS: flush (*to)->builder and
 * retry, or gw_ouch_drop_unencodable: the builder refused it), NULL when
 * the event has no message or its session has no entry or no builder. */
int wm_gw_publish_ouch_to(struct wm_gw *gw, const struct wm_event *ev,
                          struct wm_gw_session **to);

/* OUCH System Event at ts: code 'S' start of day (send it to each session
 * before its first order), 'E' end of day (at a clean stop, after the
 * last events).  0 (*out filled), -EINVAL (NULL, another code) or
 * gw_ouch_drop_bad_timestamp. */
int wm_gw_system_event(struct wm_gw *gw, char code, uint64_t ts, struct wm_ouch_out *out);
/* The same, appended to the builder of `session`: 0 (gw_ouch_messages),
 * gw_ouch_drop_unknown_session (no such session or no builder),
 * gw_ouch_drop_bad_timestamp, -EINVAL, or -ENOBUFS (flush and retry). */
int wm_gw_publish_system_event(struct wm_gw *gw, uint32_t session, char code, uint64_t ts);

/* OUCH Rejected Order code for a matcher reject reason. */
uint16_t wm_gw_ouch_reject_code(uint32_t matcher_reason);
/* OUCH Order Canceled reason letter for a matcher cancel reason. */
char wm_gw_ouch_cancel_reason(uint32_t matcher_reason);

#endif
