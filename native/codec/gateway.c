/* codec/gateway.c - OUCH inbound -> matcher commands; matcher events -> ITCH
 * market data and OUCH execution reports.  Rules: docs/protocol.md,
 * "Mapping to the matcher". */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wirematch/gateway.h"

static const char *const gw_names[] = { WM_GW_COUNTERS(WM_COUNTER_NAME) };

uint32_t wm_gw_counter_count(void)
{
    return WM_GW_N_COUNTERS;
}

const char *wm_gw_counter_name(uint32_t idx)
{
    return idx < WM_GW_N_COUNTERS ? gw_names[idx] : NULL;
}

static int count(struct wm_gw *gw, int reason)
{
    gw->counts[reason]++;
    return reason;
}

/* ---- order table ------------------------------------------------------
 *
 * One entry per order the gateway entered and the matcher has not finished
 * with: the fields of Enter Order / Replace Order the matcher does not keep
 * (echoed in Order Accepted, Order Replaced, Rejected Order) and what is
 * pending on the order (a Replace waiting for its REPLACED or REJECTED, a
 * Modify waiting for its REPLACED).  Keyed by (session, UserRefNum); an
 * index of 16-byte slots, open addressing with linear probing and
 * backward-shift deletion (no tombstones), at most half full; entries come
 * from a free list.  Both arrays are allocated by wm_gw_init.  An entry is
 * removed when the events say the order is dead (rejected, cancelled,
 * filled, replaced by its replacement). */

enum order_state {
    ORD_PENDING = 1,    /* mapped (NEW or replacement), no ACCEPTED / REPLACED yet */
    ORD_LIVE = 2
};

enum order_flags {
    ORDF_MODIFY = 1     /* a Modify is pending: its REPLACED is Order Modified */
};

struct wm_gw_order {
    uint32_t session;
    uint32_t user_ref;
    /* LIVE: the replacement a Replace Order is waiting for (0: none);
     * PENDING replacement: the UserRefNum of the order it replaces. */
    uint32_t pending_ref;
    uint32_t next_free;         /* free list: index + 1 */
    int64_t  leaves;            /* open quantity, as the events tell it */
    uint8_t  state;             /* enum order_state */
    uint8_t  flags;             /* enum order_flags */
    char     side;              /* as entered: B S T E (Modify may change S T E) */
    char     time_in_force;
    char     display;
    char     capacity;
    char     iso;
    char     cross_type;
    char     modify_side;       /* the side a pending Modify asks for */
    char     cl_ord_id[WM_OUCH_CLORDID_LEN];
    struct wm_ouch_appendage app;
};

struct wm_gw_order_slot {
    uint64_t key;               /* session << 32 | UserRefNum; 0 = empty (session is never 0) */
    uint32_t idx;               /* entry index */
    uint32_t reserved;
};

_Static_assert(sizeof(struct wm_gw_order) == 128, "order table entry: two cache lines");

static uint64_t order_key(uint32_t session, uint32_t user_ref)
{
    return (uint64_t)session << 32 | user_ref;
}

/* Fibonacci hashing of (session, UserRefNum / 4), keeping the low two bits:
 * a session's consecutive UserRefNums (they only increase) share one
 * 64-byte line of four slots, so an insert or a cancel of a recent order
 * lands on a line the session just touched instead of a random one. */
static uint32_t order_home(const struct wm_gw *gw, uint64_t key)
{
    uint64_t line = (key >> 2) * 0x9e3779b97f4a7c15ull;
    return ((uint32_t)(line >> 32) << 2 | (uint32_t)(key & 3)) & gw->slot_mask;
}

/* The slot holding key, or -1. */
static int64_t order_slot(const struct wm_gw *gw, uint64_t key)
{
    if (!gw->slots)
        return -1;
    for (uint32_t i = order_home(gw, key);; i = (i + 1) & gw->slot_mask) {
        if (gw->slots[i].key == key)
            return i;
        if (gw->slots[i].key == 0)
            return -1;
    }
}

static struct wm_gw_order *order_find(const struct wm_gw *gw, uint32_t session, uint32_t ref)
{
    if (session == 0 || ref == 0)
        return NULL;
    int64_t i = order_slot(gw, order_key(session, ref));
    return i < 0 ? NULL : &gw->orders[gw->slots[i].idx];
}

/* A new zeroed entry for (session, ref); NULL with *why = -EEXIST or
 * -ENOSPC. */
static struct wm_gw_order *order_add(struct wm_gw *gw, uint32_t session, uint32_t ref, int *why)
{
    uint64_t key = order_key(session, ref);
    if (!gw->slots || gw->free_head == 0) {
        *why = -ENOSPC;
        return NULL;
    }
    uint32_t i = order_home(gw, key);
    for (; gw->slots[i].key; i = (i + 1) & gw->slot_mask)
        if (gw->slots[i].key == key) {
            *why = -EEXIST;
            return NULL;
        }
    uint32_t idx = gw->free_head - 1;
    struct wm_gw_order *o = &gw->orders[idx];
    gw->free_head = o->next_free;
    memset(o, 0, sizeof(*o));
    o->session = session;
    o->user_ref = ref;
    gw->slots[i].key = key;
    gw->slots[i].idx = idx;
    gw->n_orders++;
    return o;
}

/* Remove (session, ref) if present.  Backward shift: each later entry of
 * the probe run moves into the hole unless its home lies cyclically in
 * (hole, its slot]. */
static void order_del(struct wm_gw *gw, uint32_t session, uint32_t ref)
{
    int64_t at = order_slot(gw, order_key(session, ref));
    if (at < 0)
        return;
    uint32_t hole = (uint32_t)at, mask = gw->slot_mask;
    uint32_t idx = gw->slots[hole].idx;
    gw->orders[idx].session = 0;
    gw->orders[idx].next_free = gw->free_head;
    gw->free_head = idx + 1;
    gw->n_orders--;
    for (uint32_t j = (hole + 1) & mask; gw->slots[j].key; j = (j + 1) & mask) {
        uint32_t home = order_home(gw, gw->slots[j].key);
        if (((j - home) & mask) < ((j - hole) & mask))
            continue;       /* home in (hole, j]: it stays */
        gw->slots[hole] = gw->slots[j];
        hole = j;
    }
    gw->slots[hole].key = 0;
    gw->slots[hole].idx = 0;
}

#define GW_HUGE (2u << 20)

/* A table written now, 2 MiB aligned and advised to use transparent huge
 * pages: order homes are spread over all of it, so calloc's lazily mapped
 * zero pages would put a read fault and a write fault per page on the
 * order path for a session's first minutes, and 4 KiB pages a TLB miss
 * on nearly every lookup.  Creation time only. */
static void *table_alloc(size_t size)
{
    size_t sz = (size + GW_HUGE - 1) & ~(size_t)(GW_HUGE - 1);
    void *p = aligned_alloc(GW_HUGE, sz);
    if (!p)
        return NULL;
    (void)madvise(p, sz, MADV_HUGEPAGE);
    memset(p, 0, sz);
    return p;
}

static int orders_alloc(struct wm_gw *gw, uint32_t max_orders)
{
    uint64_t nslots = 16;
    while (nslots < 2ull * max_orders)
        nslots <<= 1;
    gw->orders = table_alloc((size_t)max_orders * sizeof(struct wm_gw_order));
    if (!gw->orders)
        return -ENOMEM;
    gw->slots = table_alloc(nslots * sizeof(struct wm_gw_order_slot));
    if (!gw->slots) {
        free(gw->orders);
        gw->orders = NULL;
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < max_orders; i++)
        gw->orders[i].next_free = i + 2 <= max_orders ? i + 2 : 0;
    gw->free_head = 1;
    gw->max_orders = max_orders;
    gw->slot_mask = (uint32_t)(nslots - 1);
    return 0;
}

int wm_gw_init(struct wm_gw *gw, const struct wm_gw_config *cfg)
{
    if (!gw || !cfg || cfg->max_orders > WM_GW_MAX_ORDERS)
        return -EINVAL;
    memset(gw, 0, sizeof(*gw));
    gw->cfg = *cfg;
    return orders_alloc(gw, cfg->max_orders ? cfg->max_orders : WM_GW_DEFAULT_MAX_ORDERS);
}

void wm_gw_fini(struct wm_gw *gw)
{
    if (!gw)
        return;
    free(gw->orders);
    free(gw->slots);
    gw->orders = NULL;
    gw->slots = NULL;
    gw->max_orders = gw->n_orders = gw->slot_mask = gw->free_head = 0;
}

/* A valid symbol: 1..8 printable non-space characters, then only spaces. */
static int symbol_ok(const char s[8])
{
    int i = 0;
    while (i < 8 && s[i] > 0x20 && s[i] < 0x7f)
        i++;
    if (i == 0)
        return 0;
    for (; i < 8; i++)
        if (s[i] != ' ')
            return 0;
    return 1;
}

static int symbol_blank(const char s[8])
{
    for (int i = 0; i < 8; i++)
        if (s[i] != ' ')
            return 0;
    return 1;
}

static const struct wm_gw_instrument *by_symbol(const struct wm_gw *gw, const char s[8])
{
    for (uint32_t i = 0; i < gw->n_instruments; i++)
        if (memcmp(gw->instruments[i].symbol, s, 8) == 0)
            return &gw->instruments[i];
    return NULL;
}

static const struct wm_gw_instrument *by_id(const struct wm_gw *gw, uint32_t id)
{
    for (uint32_t i = 0; i < gw->n_instruments; i++)
        if (gw->instruments[i].instrument == id)
            return &gw->instruments[i];
    return NULL;
}

int wm_gw_add_instrument(struct wm_gw *gw, const char *symbol, uint16_t instrument,
                         uint16_t stock_locate, int64_t tick)
{
    if (!gw || !symbol || tick <= 0 || tick > WM_OUCH_PRICE_MAX)
        return -EINVAL;
    char s[8];
    size_t n = strnlen(symbol, 8);
    memset(s, ' ', sizeof(s));
    memcpy(s, symbol, n);
    if (!symbol_ok(s))
        return -EINVAL;
    if (by_symbol(gw, s) || by_id(gw, instrument))
        return -EEXIST;
    if (gw->n_instruments >= WM_GW_MAX_INSTRUMENTS)
        return -ENOSPC;
    struct wm_gw_instrument *e = &gw->instruments[gw->n_instruments++];
    memcpy(e->symbol, s, 8);
    e->instrument = instrument;
    e->stock_locate = stock_locate;
    e->reserved = 0;
    e->tick = tick;
    return 0;
}

/* ---- session table -----------------------------------------------------
 *
 * sessions[] in the order they were added, found through session_index:
 * Fibonacci hashing of the id, linear probing, at most a quarter full
 * (WM_GW_MAX_SESSIONS entries in WM_GW_SESSION_INDEX slots), so a probe
 * run always ends at an empty slot.  Sessions are never removed. */

_Static_assert((WM_GW_SESSION_INDEX & (WM_GW_SESSION_INDEX - 1)) == 0 &&
                   WM_GW_SESSION_INDEX >= 2 * WM_GW_MAX_SESSIONS &&
                   WM_GW_MAX_SESSIONS < 65535,
               "session index: a power of two, twice the sessions or more, uint16_t positions");

static uint32_t session_home(uint32_t session)
{
    return (session * 0x9e3779b1u) >> (32 - __builtin_ctz(WM_GW_SESSION_INDEX));
}

/* The slot holding session, or the empty slot ending its probe run. */
static uint32_t session_slot(const struct wm_gw *gw, uint32_t session)
{
    uint32_t h = session_home(session);
    for (;; h = (h + 1) & (WM_GW_SESSION_INDEX - 1)) {
        uint16_t v = gw->session_index[h];
        if (v == 0 || gw->sessions[v - 1].session == session)
            return h;
    }
}

static struct wm_gw_session *find_session(struct wm_gw *gw, uint32_t session)
{
    uint16_t v = gw->session_index[session_slot(gw, session)];
    return v ? &gw->sessions[v - 1] : NULL;
}

struct wm_gw_session *wm_gw_find_session(struct wm_gw *gw, uint32_t session)
{
    return gw ? find_session(gw, session) : NULL;
}

int wm_gw_add_session(struct wm_gw *gw, uint32_t session, struct wm_mold_builder *builder)
{
    if (!gw || session == 0)
        return -EINVAL;
    uint32_t h = session_slot(gw, session);
    if (gw->session_index[h])
        return -EEXIST;
    if (gw->n_sessions >= WM_GW_MAX_SESSIONS)
        return -ENOSPC;
    struct wm_gw_session *e = &gw->sessions[gw->n_sessions++];
    e->session = session;
    e->next_user_ref = 1;
    e->builder = builder;
    e->ctx = NULL;
    gw->session_index[h] = (uint16_t)gw->n_sessions;
    return 0;
}

/* ns since midnight of an event ts, or UINT64_MAX when out of the day. */
static uint64_t to_ns(const struct wm_gw *gw, uint64_t ts)
{
    uint64_t ns = gw->cfg.ts_to_ns ? gw->cfg.ts_to_ns(gw->cfg.ts_ctx, ts)
                                   : ts + (uint64_t)gw->cfg.ts_offset_ns;
    return ns < WM_ITCH_NS_PER_DAY ? ns : UINT64_MAX;
}

/* ---- reason tables ---------------------------------------------------- */

uint16_t wm_gw_ouch_reject_code(uint32_t r)
{
    switch (r) {
    case WM_REJ_UNKNOWN_INSTRUMENT: return WM_OUCH_REJECT_INVALID_SYMBOL;
    case WM_REJ_BAD_SIDE: return WM_OUCH_REJECT_INVALID_SIDE;
    case WM_REJ_BAD_QTY:
    case WM_REJ_BAD_LOT: return WM_OUCH_REJECT_INVALID_QUANTITY;
    case WM_REJ_BAD_MIN_QTY: return WM_OUCH_REJECT_INVALID_MIN_QTY;
    case WM_REJ_BAD_DISPLAY_QTY: return WM_OUCH_REJECT_INVALID_DISPLAY;
    case WM_REJ_QTY_LIMIT:
    case WM_REJ_OVERFLOW: return WM_OUCH_REJECT_SHARES_EXCEED_THRESHOLD;
    case WM_REJ_BAD_PRICE:
    case WM_REJ_OFF_TICK: return WM_OUCH_REJECT_INVALID_PRICE;
    case WM_REJ_OUT_OF_BAND: return WM_OUCH_REJECT_FAT_FINGER;
    case WM_REJ_HALTED: return WM_OUCH_REJECT_HALTED;
    case WM_REJ_CLOSED: return WM_OUCH_REJECT_DESTINATION_CLOSED;
    case WM_REJ_CAPACITY:
    case WM_REJ_BAD_COMMAND: return WM_OUCH_REJECT_PROCESSING_ERROR;
    case WM_REJ_POST_ONLY: return WM_OUCH_REJECT_CROSSED_MARKET;
    default: return WM_OUCH_REJECT_OTHER;   /* order type, tif, stp, flags, duplicate id */
    }
}

char wm_gw_ouch_cancel_reason(uint32_t r)
{
    switch (r) {
    case WM_CXL_IOC:
    case WM_CXL_FOK:
    case WM_CXL_MIN_QTY: return 'I';
    case WM_CXL_STP: return 'Q';
    case WM_CXL_CLOSE: return 'E';
    case WM_CXL_MASS:
    case WM_CXL_USER:
    default: return 'U';
    }
}

/* ---- OUCH inbound -> command -------------------------------------------- */

static void reject_reply(struct wm_gw *gw, uint64_t ts, struct wm_ouch_out *reply,
                         uint32_t user_ref, uint16_t code, const char *cl_ord_id)
{
    uint64_t ns = to_ns(gw, ts);
    reply->type = 'J';
    reply->timestamp = ns == UINT64_MAX ? 0 : ns;
    reply->u.rejected.user_ref_num = user_ref;
    reply->u.rejected.reason = code;
    if (cl_ord_id)
        memcpy(reply->u.rejected.cl_ord_id, cl_ord_id, WM_OUCH_CLORDID_LEN);
    else
        memset(reply->u.rejected.cl_ord_id, ' ', WM_OUCH_CLORDID_LEN);
}

/* Refuse an order-entry message with a Rejected Order. */
static int refuse(struct wm_gw *gw, int reason, uint64_t ts, struct wm_ouch_out *reply,
                  uint32_t user_ref, uint16_t code, const char *cl_ord_id)
{
    if (reply)
        reject_reply(gw, ts, reply, user_ref, code, cl_ord_id);
    return count(gw, reason);
}

/* Answer a Cancel or Modify that cannot be carried out with Cancel Reject. */
static int cancel_reject(struct wm_gw *gw, int reason, uint64_t ts, struct wm_ouch_out *reply,
                         uint32_t user_ref)
{
    if (reply) {
        uint64_t ns = to_ns(gw, ts);
        reply->type = 'I';
        reply->timestamp = ns == UINT64_MAX ? 0 : ns;
        reply->u.cancel_reject.user_ref_num = user_ref;
    }
    return count(gw, reason);
}

/* Modify Order and the Side tag of Replace Order may change a sell among
 * S, T, E; a buy stays a buy (the matcher keeps the side). */
static int side_change_ok(char from, char to)
{
    return from == 'B' ? to == 'B' : to != 'B';
}

/* A new order-table entry for an order-entry message, or a refusal. */
static int order_entry(struct wm_gw *gw, uint32_t session, uint32_t ref, uint64_t ts,
                       struct wm_ouch_out *reply, const char *cl_ord_id,
                       struct wm_gw_order **out)
{
    int why = 0;
    *out = order_add(gw, session, ref, &why);
    if (*out)
        return 0;
    if (why == -EEXIST)     /* the number is in use: a reused UserRefNum */
        return refuse(gw, WM_GW_IN_DROP_USER_REF_NOT_INCREASING, ts, reply, ref,
                      WM_OUCH_REJECT_OTHER, cl_ord_id);
    return refuse(gw, WM_GW_IN_DROP_ORDER_TABLE_FULL, ts, reply, ref,
                  WM_OUCH_REJECT_PROCESSING_ERROR, cl_ord_id);
}

static int tif_of(char t)
{
    switch (t) {
    case '0': return WM_TIF_DAY;
    case '3': return WM_TIF_IOC;
    default: return 0;      /* GTX, GTT, after hours: not offered */
    }
}

/* The appendage features the matcher has; others refused by reason. */
static int check_appendage(const struct wm_ouch_appendage *app, uint32_t qty, uint16_t *code)
{
    if ((app->present & (1u << WM_OUCH_TAG_PRICE_TYPE)) && app->price_type != 'L') {
        *code = WM_OUCH_REJECT_PEGGING_NOT_ALLOWED;
        return WM_GW_IN_DROP_PRICE_TYPE;
    }
    if ((app->present & (1u << WM_OUCH_TAG_MAX_FLOOR)) && app->max_floor != 0 &&
        app->max_floor < qty) {
        *code = WM_OUCH_REJECT_INVALID_MAX_FLOOR;
        return WM_GW_IN_DROP_RESERVE;
    }
    return 0;
}

/* Price(8) -> ticks; 0 when off tick. */
static int64_t ticks_of(int64_t price, int64_t tick)
{
    if (price <= 0 || price % tick != 0)
        return 0;
    return price / tick;
}

/* A limit price the market data feed cannot carry (ITCH Price(4) up to
 * WM_ITCH_PRICE_MAX; OUCH's Price(8) goes higher): refused at entry, so
 * that every resting order can be announced.  Quantities need no such
 * check: the decoder caps them at WM_OUCH_MAX_QUANTITY, below ITCH's
 * 32-bit Shares. */
static int price_over_feed_max(int64_t price)
{
    return price > (int64_t)WM_ITCH_PRICE_MAX;
}
_Static_assert(WM_OUCH_MAX_QUANTITY <= UINT32_MAX, "ITCH Shares carry every OUCH quantity");

static int map_enter(struct wm_gw *gw, struct wm_gw_session *s, uint64_t ts,
                     const struct wm_ouch_enter_order *o, struct wm_cmd *cmd,
                     struct wm_ouch_out *reply)
{
    uint16_t code = 0;
    const struct wm_gw_instrument *ins = by_symbol(gw, o->symbol);
    if (!ins)
        return refuse(gw, WM_GW_IN_DROP_UNKNOWN_SYMBOL, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_INVALID_SYMBOL, o->cl_ord_id);
    int64_t ticks = ticks_of(o->price, ins->tick);
    if (!ticks)
        return refuse(gw, WM_GW_IN_DROP_PRICE_OFF_TICK, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_INVALID_PRICE, o->cl_ord_id);
    if (price_over_feed_max(o->price))
        return refuse(gw, WM_GW_IN_DROP_PRICE_OVER_FEED_MAX, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_INVALID_PRICE, o->cl_ord_id);
    int tif = tif_of(o->time_in_force);
    if (!tif)
        return refuse(gw, WM_GW_IN_DROP_UNSUPPORTED_TIF, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_OTHER, o->cl_ord_id);
    if (o->display == 'N')
        return refuse(gw, WM_GW_IN_DROP_HIDDEN, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_INVALID_DISPLAY, o->cl_ord_id);
    int r = check_appendage(&o->app, o->quantity, &code);
    if (r)
        return refuse(gw, r, ts, reply, o->user_ref_num, code, o->cl_ord_id);
    struct wm_gw_order *e;
    r = order_entry(gw, s->session, o->user_ref_num, ts, reply, o->cl_ord_id, &e);
    if (r)
        return r;
    e->state = ORD_PENDING;
    e->side = o->side;
    e->time_in_force = o->time_in_force;
    e->display = o->display;
    e->capacity = o->capacity;
    e->iso = o->iso;
    e->cross_type = o->cross_type;
    memcpy(e->cl_ord_id, o->cl_ord_id, WM_OUCH_CLORDID_LEN);
    e->app = o->app;
    memset(cmd, 0, sizeof(*cmd));
    cmd->ts = ts;
    cmd->type = WM_CMD_NEW;
    cmd->client_id = o->user_ref_num;
    cmd->session = s->session;
    cmd->account = gw->cfg.account_per_session ? s->session : 0;
    cmd->instrument = ins->instrument;
    cmd->side = o->side == 'B' ? WM_SIDE_BUY : WM_SIDE_SELL;
    cmd->ord_type = WM_ORD_LIMIT;
    cmd->tif = (uint8_t)tif;
    cmd->price = ticks;
    cmd->qty = o->quantity;
    cmd->stp = gw->cfg.stp;
    if (o->app.present & (1u << WM_OUCH_TAG_MIN_QTY))
        cmd->min_qty = o->app.min_qty;
    if ((o->app.present & (1u << WM_OUCH_TAG_POST_ONLY)) && o->app.post_only == 'P')
        cmd->flags = WM_CMDF_POST_ONLY;
    return 0;
}

/* The live order (session, user ref) from the matcher, or 0 fields. */
static int lookup(const struct wm_gw *gw, uint32_t session, uint32_t user_ref,
                  struct wm_order_info *info)
{
    memset(info, 0, sizeof(*info));
    if (!gw->cfg.matcher)
        return -ENOENT;
    return wm_matcher_order_info(gw->cfg.matcher, session, user_ref, info);
}

static int map_replace(struct wm_gw *gw, struct wm_gw_session *s, uint64_t ts,
                       const struct wm_ouch_replace_order *o, struct wm_cmd *cmd,
                       struct wm_ouch_out *reply)
{
    struct wm_order_info info;
    uint16_t code = 0;
    memset(cmd, 0, sizeof(*cmd));
    cmd->ts = ts;
    cmd->type = WM_CMD_REPLACE;
    cmd->session = s->session;
    cmd->client_id = o->orig_user_ref_num;
    cmd->new_client_id = o->user_ref_num;
    cmd->qty = o->quantity;
    if (lookup(gw, s->session, o->orig_user_ref_num, &info) != 0) {
        /* Unknown order: the matcher refuses it (unknown_order -> Cancel
         * Reject), so the command stream stays a full record. */
        cmd->price = 0;
        return 0;
    }
    const struct wm_gw_instrument *ins = by_id(gw, info.instrument);
    if (!ins)
        return refuse(gw, WM_GW_IN_DROP_UNKNOWN_SYMBOL, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_INVALID_SYMBOL, o->cl_ord_id);
    int64_t ticks = ticks_of(o->price, ins->tick);
    if (!ticks)
        return refuse(gw, WM_GW_IN_DROP_PRICE_OFF_TICK, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_INVALID_PRICE, o->cl_ord_id);
    if (price_over_feed_max(o->price))
        return refuse(gw, WM_GW_IN_DROP_PRICE_OVER_FEED_MAX, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_INVALID_PRICE, o->cl_ord_id);
    int tif = tif_of(o->time_in_force);
    if (!tif || tif != info.tif)      /* the matcher keeps the order's TIF */
        return refuse(gw, WM_GW_IN_DROP_UNSUPPORTED_TIF, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_REPLACE_NOT_ALLOWED, o->cl_ord_id);
    if (o->display == 'N')
        return refuse(gw, WM_GW_IN_DROP_HIDDEN, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_INVALID_DISPLAY, o->cl_ord_id);
    int r = check_appendage(&o->app, o->quantity, &code);
    if (r)
        return refuse(gw, r, ts, reply, o->user_ref_num, code, o->cl_ord_id);
    /* The matcher keeps post-only and applies a minimum quantity on entry
     * only: a Replace asking to change them is refused, not ignored. */
    uint32_t app = o->app.present;
    struct wm_gw_order *orig = order_find(gw, s->session, o->orig_user_ref_num);
    if ((app & (1u << WM_OUCH_TAG_MIN_QTY)) ||
        ((app & (1u << WM_OUCH_TAG_POST_ONLY)) &&
         (o->app.post_only == 'P') != !!(info.flags & WM_CMDF_POST_ONLY)) ||
        ((app & (1u << WM_OUCH_TAG_SIDE)) && orig && !side_change_ok(orig->side, o->app.side)))
        return refuse(gw, WM_GW_IN_DROP_REPLACE_NOT_ALLOWED, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_REPLACE_NOT_ALLOWED, o->cl_ord_id);
    if (orig) {
        if (orig->pending_ref) {    /* a Replace mapped but never applied */
            struct wm_gw_order *stale = order_find(gw, s->session, orig->pending_ref);
            if (stale && stale->state == ORD_PENDING)
                order_del(gw, s->session, orig->pending_ref);
            orig->pending_ref = 0;
        }
        struct wm_gw_order *n;
        r = order_entry(gw, s->session, o->user_ref_num, ts, reply, o->cl_ord_id, &n);
        if (r)
            return r;
        n->state = ORD_PENDING;
        n->pending_ref = o->orig_user_ref_num;
        n->side = (app & (1u << WM_OUCH_TAG_SIDE)) ? o->app.side : orig->side;
        n->time_in_force = o->time_in_force;
        n->display = o->display;
        n->capacity = orig->capacity;       /* not in Replace Order: the order keeps them */
        n->iso = o->iso;
        n->cross_type = orig->cross_type;
        memcpy(n->cl_ord_id, o->cl_ord_id, WM_OUCH_CLORDID_LEN);
        n->app = o->app;
        n->app.present &= ~(1u << WM_OUCH_TAG_SIDE);    /* not an Order Replaced tag */
        /* Firm and Route (not Replace tags) and post-only stay the order's. */
        uint32_t keep = orig->app.present & ~n->app.present &
                        ((1u << WM_OUCH_TAG_FIRM) | (1u << WM_OUCH_TAG_ROUTE) |
                         (1u << WM_OUCH_TAG_POST_ONLY));
        n->app.present |= keep;
        if (keep & (1u << WM_OUCH_TAG_FIRM))
            memcpy(n->app.firm, orig->app.firm, sizeof(n->app.firm));
        if (keep & (1u << WM_OUCH_TAG_ROUTE))
            memcpy(n->app.route, orig->app.route, sizeof(n->app.route));
        if (keep & (1u << WM_OUCH_TAG_POST_ONLY))
            n->app.post_only = orig->app.post_only;
        orig->pending_ref = o->user_ref_num;
    }
    cmd->instrument = info.instrument;
    cmd->price = ticks;
    return 0;
}

/* Cancel 'X' and Modify 'M' (modify_side != 0).  qty 0: cancel; qty > 0:
 * reduce the open quantity to qty, an in-place REPLACE at the same price and
 * id.  A Modify is remembered on the order (flag and side) so that its
 * REPLACED is answered with Order Modified, not Order Canceled. */
static int map_reduce(struct wm_gw *gw, struct wm_gw_session *s, uint64_t ts, uint32_t user_ref,
                      uint32_t qty, char modify_side, struct wm_cmd *cmd,
                      struct wm_ouch_out *reply)
{
    struct wm_order_info info;
    struct wm_gw_order *e = order_find(gw, s->session, user_ref);
    if (modify_side && e && !side_change_ok(e->side, modify_side))
        return cancel_reject(gw, WM_GW_IN_DROP_MODIFY_SIDE, ts, reply, user_ref);
    if (e) {
        e->flags &= (uint8_t)~ORDF_MODIFY;
        if (modify_side && qty > 0) {
            e->flags |= ORDF_MODIFY;
            e->modify_side = modify_side;
        }
    }
    memset(cmd, 0, sizeof(*cmd));
    cmd->ts = ts;
    cmd->session = s->session;
    cmd->client_id = user_ref;
    int found = lookup(gw, s->session, user_ref, &info) == 0;
    if (found)
        cmd->instrument = info.instrument;
    if (qty == 0) {
        cmd->type = WM_CMD_CANCEL;
        return 0;
    }
    cmd->type = WM_CMD_REPLACE;
    cmd->new_client_id = user_ref;
    if (found) {
        cmd->price = info.price;
        /* Reduce only: a "reduction" to at least the open quantity leaves it. */
        cmd->qty = (int64_t)qty < info.qty ? (int64_t)qty : info.qty;
    } else {
        cmd->qty = qty;       /* the matcher answers unknown_order */
    }
    return 0;
}

static int map_mass_cancel(struct wm_gw *gw, struct wm_gw_session *s, uint64_t ts,
                           const struct wm_ouch_mass_cancel *o, struct wm_cmd *cmd,
                           struct wm_ouch_out *reply)
{
    if (o->app.present & (1u << WM_OUCH_TAG_SIDE))
        return refuse(gw, WM_GW_IN_DROP_MASS_CANCEL_SIDE, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_CANCEL_NOT_ALLOWED, NULL);
    memset(cmd, 0, sizeof(*cmd));
    cmd->ts = ts;
    cmd->type = WM_CMD_MASS_CANCEL;
    cmd->session = s->session;
    if (symbol_blank(o->symbol)) {
        cmd->flags = WM_CMDF_ALL_INSTRUMENTS;
        return 0;
    }
    const struct wm_gw_instrument *ins = by_symbol(gw, o->symbol);
    if (!ins)
        return refuse(gw, WM_GW_IN_DROP_UNKNOWN_SYMBOL, ts, reply, o->user_ref_num,
                      WM_OUCH_REJECT_INVALID_SYMBOL, NULL);
    cmd->instrument = ins->instrument;
    return 0;
}

/* The UserRefNum a message consumes (0: none). */
static uint32_t user_ref_of(const struct wm_ouch_in *in)
{
    switch (in->type) {
    case 'O': return in->u.enter.user_ref_num;
    case 'U': return in->u.replace.user_ref_num;
    case 'C': return in->u.mass_cancel.user_ref_num;
    default: return 0;      /* Cancel and Modify name an existing order */
    }
}

int wm_gw_ouch_to_cmd(struct wm_gw *gw, uint32_t session, uint64_t ts,
                      const struct wm_ouch_in *in, struct wm_cmd *cmd,
                      struct wm_ouch_out *reply)
{
    if (!gw || !in || !cmd)
        return -EINVAL;
    if (reply)
        memset(reply, 0, sizeof(*reply));
    struct wm_gw_session *s = find_session(gw, session);
    if (!s)
        return count(gw, WM_GW_IN_DROP_UNKNOWN_SESSION);
    uint32_t ref = user_ref_of(in);
    if (ref) {
        if (ref < s->next_user_ref)
            return refuse(gw, WM_GW_IN_DROP_USER_REF_NOT_INCREASING, ts, reply, ref,
                          WM_OUCH_REJECT_OTHER,
                          in->type == 'O'   ? in->u.enter.cl_ord_id
                          : in->type == 'U' ? in->u.replace.cl_ord_id
                                            : NULL);
        s->next_user_ref = (uint64_t)ref + 1;
    }
    int r;
    switch (in->type) {
    case 'O': r = map_enter(gw, s, ts, &in->u.enter, cmd, reply); break;
    case 'U': r = map_replace(gw, s, ts, &in->u.replace, cmd, reply); break;
    case 'X':
        r = map_reduce(gw, s, ts, in->u.cancel.user_ref_num, in->u.cancel.quantity, 0, cmd,
                       reply);
        break;
    case 'M':
        r = map_reduce(gw, s, ts, in->u.modify.user_ref_num, in->u.modify.quantity,
                       in->u.modify.side, cmd, reply);
        break;
    case 'C': r = map_mass_cancel(gw, s, ts, &in->u.mass_cancel, cmd, reply); break;
    case 'Q':
        if (reply) {
            uint64_t ns = to_ns(gw, ts);
            reply->type = 'Q';
            reply->timestamp = ns == UINT64_MAX ? 0 : ns;
            /* After UINT32_MAX no number is left: the reply names UINT32_MAX
             * (refused like any used one). */
            reply->u.account.next_user_ref_num =
                s->next_user_ref > UINT32_MAX ? UINT32_MAX : (uint32_t)s->next_user_ref;
        }
        return count(gw, WM_GW_IN_REPLIES);
    default: return count(gw, WM_GW_IN_DROP_UNKNOWN_TYPE);
    }
    if (r == 0)
        count(gw, WM_GW_IN_COMMANDS);
    return r;
}

/* ---- event -> ITCH ---------------------------------------------------- */

static char side_char(uint8_t flags)
{
    return (flags & WM_EVF_SIDE_MASK) == WM_SIDE_BUY ? 'B' : 'S';
}

static int ev_price(const struct wm_gw_instrument *ins, int64_t ticks, int64_t max, int64_t *out)
{
    if (ticks <= 0 || ticks > max / ins->tick)
        return -1;
    *out = ticks * ins->tick;
    return 0;
}

/* Inlined into both callers: the publish path makes no call to map. */
static inline __attribute__((always_inline)) int event_itch(struct wm_gw *gw,
                                                            const struct wm_event *ev,
                                                            struct wm_itch_msg *m)
{
    int maker = ev->type == WM_EV_EXECUTED && (ev->flags & WM_EVF_MAKER);
    int resting_cxl = ev->type == WM_EV_CANCELLED && (ev->flags & WM_EVF_RESTING);
    if (ev->type != WM_EV_BOOKED && ev->type != WM_EV_STATE && !maker && !resting_cxl)
        return count(gw, WM_GW_ITCH_NOT_MARKET_DATA);
    if (ev->type != WM_EV_STATE && ev->order_ref == 0)
        return count(gw, WM_GW_ITCH_DROP_UNENCODABLE);
    const struct wm_gw_instrument *ins = by_id(gw, ev->instrument);
    if (!ins)
        return count(gw, WM_GW_ITCH_DROP_UNKNOWN_INSTRUMENT);
    uint64_t ns = to_ns(gw, ev->ts);
    if (ns == UINT64_MAX)
        return count(gw, WM_GW_ITCH_DROP_BAD_TIMESTAMP);
    memset(m, 0, sizeof(*m));
    m->stock_locate = ins->stock_locate;
    m->timestamp = ns;
    int64_t price = 0;
    if (ev->type == WM_EV_BOOKED) {
        if (ev_price(ins, ev->price, WM_ITCH_PRICE_MAX, &price) || ev->qty <= 0 ||
            ev->qty > UINT32_MAX)
            return count(gw, WM_GW_ITCH_DROP_UNENCODABLE);
        m->type = 'A';
        m->u.add.order_ref = ev->order_ref;
        m->u.add.side = side_char(ev->flags);
        m->u.add.shares = (uint32_t)ev->qty;
        memcpy(m->u.add.stock, ins->symbol, 8);
        m->u.add.price = (uint32_t)price;
    } else if (maker) {
        if (ev->qty <= 0 || ev->qty > UINT32_MAX)
            return count(gw, WM_GW_ITCH_DROP_UNENCODABLE);
        m->type = 'E';     /* the fill price is always the maker's own price */
        m->u.executed.order_ref = ev->order_ref;
        m->u.executed.shares = (uint32_t)ev->qty;
        m->u.executed.match_number = ev->aux;
    } else if (resting_cxl && (ev->flags & WM_EVF_PARTIAL)) {
        if (ev->qty <= 0 || ev->qty > UINT32_MAX)
            return count(gw, WM_GW_ITCH_DROP_UNENCODABLE);
        m->type = 'X';
        m->u.cancel.order_ref = ev->order_ref;
        m->u.cancel.shares = (uint32_t)ev->qty;
    } else if (resting_cxl) {
        m->type = 'D';
        m->u.del.order_ref = ev->order_ref;
    } else {   /* STATE */
        m->type = 'H';
        memcpy(m->u.trading_action.stock, ins->symbol, 8);
        m->u.trading_action.trading_state = ev->aux == WM_STATE_OPEN ? 'T' : 'H';
        m->u.trading_action.reserved = ' ';
        memset(m->u.trading_action.reason, ' ', 4);
    }
    return 0;
}

int wm_gw_event_itch(struct wm_gw *gw, const struct wm_event *ev, struct wm_itch_msg *m)
{
    if (!gw || !ev || !m)
        return -EINVAL;
    return event_itch(gw, ev, m);
}

int wm_gw_publish_itch(struct wm_gw *gw, const struct wm_event *ev, struct wm_mold_builder *b)
{
    struct wm_itch_msg m;
    if (!gw || !ev || !b)
        return -EINVAL;
    int r = event_itch(gw, ev, &m);
    if (r)
        return r;
    r = wm_mold_builder_add_itch(b, &m);
    if (r == -ENOBUFS)
        return r;
    if (r)
        return count(gw, WM_GW_ITCH_DROP_UNENCODABLE);
    return count(gw, WM_GW_ITCH_MESSAGES), 0;
}

/* ---- event -> OUCH outbound ------------------------------------------- */

static char tif_char(uint8_t tif)
{
    return tif == WM_TIF_IOC || tif == WM_TIF_FOK ? '3' : '0';
}

static int fill_order(const struct wm_gw_instrument *ins, const struct wm_event *ev,
                      char *side, uint32_t *qty, char symbol[8], int64_t *price)
{
    if (ev->qty < 0 || ev->qty > WM_OUCH_MAX_QUANTITY ||
        ev_price(ins, ev->price, WM_OUCH_PRICE_MAX, price))
        return -1;
    *side = side_char(ev->flags);
    *qty = (uint32_t)ev->qty;
    memcpy(symbol, ins->symbol, 8);
    return 0;
}

/* What the order table tells about an event's order (track()). */
enum echo_kind {
    ECHO_NONE = 0,          /* no entry: echo the defaults */
    ECHO_ORDER,             /* *echo: the order (ACCEPTED, REJECTED NEW, REPLACED) */
    ECHO_REPLACE_REJECTED,  /* *echo: the rejected replacement (REJECTED REPLACE) */
    ECHO_REDUCE_REJECTED    /* REJECTED REPLACE of a Cancel to a quantity or a Modify */
};

/* Keep the order table in step with one event and copy out what its
 * message echoes (before the entry goes, when the event ends the order). */
static inline __attribute__((always_inline)) int track(struct wm_gw *gw,
                                                       const struct wm_event *ev,
                                                       struct wm_gw_order *echo)
{
    if (ev->session == 0 || ev->client_id == 0 || ev->client_id > UINT32_MAX)
        return ECHO_NONE;
    uint32_t sess = ev->session, ref = (uint32_t)ev->client_id;
    struct wm_gw_order *e = order_find(gw, sess, ref);
    uint8_t cmd_type = ev->flags >> WM_EVF_CMD_SHIFT;
    switch (ev->type) {
    case WM_EV_ACCEPTED:
        if (!e)
            return ECHO_NONE;
        e->state = ORD_LIVE;
        e->leaves = ev->qty;
        *echo = *e;
        return ECHO_ORDER;
    case WM_EV_REJECTED:
        if (!e)
            return ECHO_NONE;
        if (cmd_type == WM_CMD_NEW && e->state == ORD_PENDING) {
            *echo = *e;
            order_del(gw, sess, ref);
            return ECHO_ORDER;
        }
        if (cmd_type != WM_CMD_REPLACE)
            return ECHO_NONE;
        e->flags &= (uint8_t)~ORDF_MODIFY;
        if (e->pending_ref) {
            uint32_t nref = e->pending_ref;
            struct wm_gw_order *n = order_find(gw, sess, nref);
            e->pending_ref = 0;
            if (!n)
                return ECHO_NONE;
            *echo = *n;
            order_del(gw, sess, nref);
            return ECHO_REPLACE_REJECTED;
        }
        return ECHO_REDUCE_REJECTED;
    case WM_EV_EXECUTED:
        if (e && (e->leaves -= ev->qty) <= 0)
            order_del(gw, sess, ref);
        return ECHO_NONE;
    case WM_EV_CANCELLED:
        if (!e)
            return ECHO_NONE;
        if (ev->flags & WM_EVF_PARTIAL)
            e->leaves -= ev->qty;
        if (ev->aux == WM_CXL_REPLACED)
            return ECHO_NONE;       /* the REPLACED that follows tells the rest */
        if (!(ev->flags & WM_EVF_PARTIAL) || e->leaves <= 0)
            order_del(gw, sess, ref);
        return ECHO_NONE;
    case WM_EV_REPLACED:
        if (!e)
            return ECHO_NONE;
        *echo = *e;
        e->leaves = ev->qty;
        if (ev->aux == ev->client_id) {     /* in place, same id: Cancel or Modify */
            if (e->flags & ORDF_MODIFY)
                e->side = e->modify_side;
            e->flags &= (uint8_t)~ORDF_MODIFY;
        } else {                            /* the replacement takes over */
            e->state = ORD_LIVE;
            e->pending_ref = 0;
            if (ev->aux <= UINT32_MAX)
                order_del(gw, sess, (uint32_t)ev->aux);
        }
        if (e->leaves <= 0)
            order_del(gw, sess, ref);
        return ECHO_ORDER;
    default:
        return ECHO_NONE;
    }
}

/* Inlined into both callers, as event_itch. */
static inline __attribute__((always_inline)) int event_ouch(struct wm_gw *gw,
                                                            const struct wm_event *ev,
                                                            struct wm_ouch_out *m)
{
    /* Events that are never a client's (BOOKED, STATE, LEVEL, ...): the
     * order table has nothing to do with them either. */
    if (ev->type != WM_EV_ACCEPTED && ev->type != WM_EV_REJECTED &&
        ev->type != WM_EV_EXECUTED && ev->type != WM_EV_CANCELLED &&
        ev->type != WM_EV_REPLACED)
        return count(gw, WM_GW_OUCH_NOT_FOR_CLIENT);
    uint8_t cmd_type = ev->flags >> WM_EVF_CMD_SHIFT;
    struct wm_gw_order echo;
    memset(&echo, 0, sizeof(echo));     /* read only when track() filled it */
    int kind = track(gw, ev, &echo);
    switch (ev->type) {
    case WM_EV_ACCEPTED:
    case WM_EV_EXECUTED:
    case WM_EV_REPLACED:
        break;
    case WM_EV_CANCELLED:
        if (ev->aux == WM_CXL_REPLACED) {  /* the REPLACED that follows tells it */
            gw->replaced_session = ev->session;
            gw->replaced_client_id = ev->client_id;
            gw->replaced_qty = (ev->flags & WM_EVF_PARTIAL) ? ev->qty : 0;
            return count(gw, WM_GW_OUCH_NOT_FOR_CLIENT);
        }
        break;
    case WM_EV_REJECTED:
        if (cmd_type == WM_CMD_NEW || cmd_type == WM_CMD_CANCEL || cmd_type == WM_CMD_REPLACE)
            break;
        return count(gw, WM_GW_OUCH_NOT_FOR_CLIENT);
    default:
        return count(gw, WM_GW_OUCH_NOT_FOR_CLIENT);
    }
    if (ev->session == 0 || ev->client_id == 0 || ev->client_id > UINT32_MAX)
        return count(gw, WM_GW_OUCH_DROP_UNKNOWN_SESSION);
    uint64_t ns = to_ns(gw, ev->ts);
    if (ns == UINT64_MAX)
        return count(gw, WM_GW_OUCH_DROP_BAD_TIMESTAMP);
    memset(m, 0, sizeof(*m));
    m->timestamp = ns;
    uint32_t ref = (uint32_t)ev->client_id;
    const struct wm_gw_instrument *ins = by_id(gw, ev->instrument);
    switch (ev->type) {
    case WM_EV_ACCEPTED: {
        struct wm_ouch_order_accepted *a = &m->u.accepted;
        if (!ins)
            return count(gw, WM_GW_OUCH_DROP_UNKNOWN_INSTRUMENT);
        if (fill_order(ins, ev, &a->side, &a->quantity, a->symbol, &a->price) || ev->qty == 0)
            return count(gw, WM_GW_OUCH_DROP_UNENCODABLE);
        m->type = 'A';
        a->user_ref_num = ref;
        a->order_ref = ev->order_ref;
        a->order_state = 'L';
        if (kind == ECHO_ORDER) {   /* as the client entered it */
            a->side = echo.side;
            a->time_in_force = echo.time_in_force;
            a->display = echo.display;
            a->capacity = echo.capacity;
            a->iso = echo.iso;
            a->cross_type = echo.cross_type;
            memcpy(a->cl_ord_id, echo.cl_ord_id, WM_OUCH_CLORDID_LEN);
            a->app = echo.app;
            break;
        }
        a->time_in_force = tif_char((uint8_t)ev->aux);
        a->display = 'Y';
        a->capacity = 'A';
        a->iso = 'N';
        a->cross_type = 'N';
        memset(a->cl_ord_id, ' ', WM_OUCH_CLORDID_LEN);
        if ((ev->aux >> 16) & WM_CMDF_POST_ONLY) {
            a->app.present = 1u << WM_OUCH_TAG_POST_ONLY;
            a->app.post_only = 'P';
        }
        break;
    }
    case WM_EV_REPLACED: {
        struct wm_ouch_order_replaced *p = &m->u.replaced;
        if (ev->aux == ev->client_id) {
            /* Same id: a Modify Order (the order table remembers it):
             * Order Modified with the side and the open quantity now. */
            int64_t dec = gw->replaced_session == ev->session &&
                                  gw->replaced_client_id == ev->client_id
                              ? gw->replaced_qty
                              : 0;
            gw->replaced_qty = 0;
            if (kind == ECHO_ORDER && (echo.flags & ORDF_MODIFY)) {
                if (ev->qty <= 0 || ev->qty > WM_OUCH_MAX_QUANTITY)
                    return count(gw, WM_GW_OUCH_DROP_UNENCODABLE);
                m->type = 'M';
                m->u.modified.user_ref_num = ref;
                m->u.modified.side = echo.modify_side;
                m->u.modified.quantity = (uint32_t)ev->qty;
                break;
            }
            /* Else a Cancel Order to a quantity (an in-place decrease),
             * answered as OUCH does: Order Canceled with the decrement. */
            if (dec <= 0)
                return count(gw, WM_GW_OUCH_NOT_FOR_CLIENT);   /* nothing changed */
            if (dec > WM_OUCH_MAX_QUANTITY)
                return count(gw, WM_GW_OUCH_DROP_UNENCODABLE);
            m->type = 'C';
            m->u.canceled.user_ref_num = ref;
            m->u.canceled.quantity = (uint32_t)dec;
            m->u.canceled.reason = 'U';
            break;
        }
        if (!ins)
            return count(gw, WM_GW_OUCH_DROP_UNKNOWN_INSTRUMENT);
        if (fill_order(ins, ev, &p->side, &p->quantity, p->symbol, &p->price) ||
            ev->aux == 0 || ev->aux > UINT32_MAX)
            return count(gw, WM_GW_OUCH_DROP_UNENCODABLE);
        m->type = 'U';
        p->orig_user_ref_num = (uint32_t)ev->aux;
        p->user_ref_num = ref;
        p->order_ref = ev->order_ref;
        p->order_state = ev->qty > 0 ? 'L' : 'D';
        if (kind == ECHO_ORDER) {   /* the Replace Order as sent, plus what the order keeps */
            p->side = echo.side;
            p->time_in_force = echo.time_in_force;
            p->display = echo.display;
            p->capacity = echo.capacity;
            p->iso = echo.iso;
            p->cross_type = echo.cross_type;
            memcpy(p->cl_ord_id, echo.cl_ord_id, WM_OUCH_CLORDID_LEN);
            p->app = echo.app;
            break;
        }
        p->time_in_force = '0';
        p->display = 'Y';
        p->capacity = 'A';
        p->iso = 'N';
        p->cross_type = 'N';
        memset(p->cl_ord_id, ' ', WM_OUCH_CLORDID_LEN);
        break;
    }
    case WM_EV_EXECUTED: {
        struct wm_ouch_order_executed *e = &m->u.executed;
        if (!ins)
            return count(gw, WM_GW_OUCH_DROP_UNKNOWN_INSTRUMENT);
        if (ev->qty <= 0 || ev->qty > WM_OUCH_MAX_QUANTITY ||
            ev_price(ins, ev->price, WM_OUCH_PRICE_MAX, &e->price) || ev->aux == 0)
            return count(gw, WM_GW_OUCH_DROP_UNENCODABLE);
        m->type = 'E';
        e->user_ref_num = ref;
        e->quantity = (uint32_t)ev->qty;
        e->liquidity_flag = (ev->flags & WM_EVF_MAKER) ? 'A' : 'R';
        e->match_number = ev->aux;
        break;
    }
    case WM_EV_CANCELLED:
        if (ev->qty <= 0 || ev->qty > WM_OUCH_MAX_QUANTITY)
            return count(gw, WM_GW_OUCH_DROP_UNENCODABLE);
        m->type = 'C';
        m->u.canceled.user_ref_num = ref;
        m->u.canceled.quantity = (uint32_t)ev->qty;
        m->u.canceled.reason = wm_gw_ouch_cancel_reason((uint32_t)ev->aux);
        break;
    default: /* REJECTED */
        if (kind == ECHO_REDUCE_REJECTED ||
            (cmd_type != WM_CMD_NEW && ev->aux == WM_REJ_UNKNOWN_ORDER)) {
            /* The order named is unknown, or a Cancel to a quantity / a
             * Modify could not be done: the order (if any) is unchanged. */
            m->type = 'I';
            m->u.cancel_reject.user_ref_num = ref;
        } else {
            /* A new order, or a Replace Order: the rejected message's own
             * UserRefNum and ClOrdID when the order table has them. */
            m->type = 'J';
            m->u.rejected.user_ref_num = kind != ECHO_NONE ? echo.user_ref : ref;
            m->u.rejected.reason = wm_gw_ouch_reject_code((uint32_t)ev->aux);
            if (kind != ECHO_NONE)
                memcpy(m->u.rejected.cl_ord_id, echo.cl_ord_id, WM_OUCH_CLORDID_LEN);
            else
                memset(m->u.rejected.cl_ord_id, ' ', WM_OUCH_CLORDID_LEN);
        }
        break;
    }
    return 0;
}

int wm_gw_event_ouch(struct wm_gw *gw, const struct wm_event *ev, struct wm_ouch_out *m)
{
    if (!gw || !ev || !m)
        return -EINVAL;
    return event_ouch(gw, ev, m);
}

int wm_gw_publish_ouch_to(struct wm_gw *gw, const struct wm_event *ev,
                          struct wm_gw_session **to)
{
    struct wm_ouch_out local;
    const struct wm_ouch_out *m = &local;
    if (!to)
        return -EINVAL;
    *to = NULL;
    if (!gw || !ev)
        return -EINVAL;
    if (WM_UNLIKELY(gw->held) && memcmp(&gw->held_ev, ev, sizeof(*ev)) == 0) {
        m = &gw->held_msg;      /* the retry after -ENOBUFS: mapped already */
    } else {
        gw->held = 0;
        int r = event_ouch(gw, ev, &local);
        if (r)
            return r;
    }
    struct wm_gw_session *s = find_session(gw, ev->session);
    if (!s || !s->builder) {
        gw->held = 0;
        return count(gw, WM_GW_OUCH_DROP_UNKNOWN_SESSION);
    }
    *to = s;
    int r = wm_mold_builder_add_ouch(s->builder, m);
    if (r == -ENOBUFS) {
        if (m == &local) {
            gw->held_ev = *ev;
            gw->held_msg = local;
            gw->held = 1;
        }
        return r;
    }
    gw->held = 0;
    if (r)
        return count(gw, WM_GW_OUCH_DROP_UNENCODABLE);
    return count(gw, WM_GW_OUCH_MESSAGES), 0;
}

int wm_gw_publish_ouch(struct wm_gw *gw, const struct wm_event *ev)
{
    struct wm_gw_session *to;
    return wm_gw_publish_ouch_to(gw, ev, &to);
}

int wm_gw_system_event(struct wm_gw *gw, char code, uint64_t ts, struct wm_ouch_out *out)
{
    if (!gw || !out || (code != 'S' && code != 'E'))
        return -EINVAL;
    uint64_t ns = to_ns(gw, ts);
    if (ns == UINT64_MAX)
        return count(gw, WM_GW_OUCH_DROP_BAD_TIMESTAMP);
    memset(out, 0, sizeof(*out));
    out->type = 'S';
    out->timestamp = ns;
    out->u.system_event.event_code = code;
    return 0;
}

int wm_gw_publish_system_event(struct wm_gw *gw, uint32_t session, char code, uint64_t ts)
{
    struct wm_ouch_out m;
    if (!gw || (code != 'S' && code != 'E'))
        return -EINVAL;
    struct wm_gw_session *s = find_session(gw, session);
    if (!s || !s->builder)
        return count(gw, WM_GW_OUCH_DROP_UNKNOWN_SESSION);
    int r = wm_gw_system_event(gw, code, ts, &m);
    if (r)
        return r;
    r = wm_mold_builder_add_ouch(s->builder, &m);
    if (r == -ENOBUFS)
        return r;
    if (r)
        return count(gw, WM_GW_OUCH_DROP_UNENCODABLE);
    return count(gw, WM_GW_OUCH_MESSAGES), 0;
}

/* ---- reset --------------------------------------------------------------- */

int wm_gw_reset(struct wm_gw *gw)
{
    if (!gw || !gw->orders || !gw->slots)
        return -EINVAL;
    struct wm_gw_config cfg = gw->cfg;
    struct wm_gw_order *orders = gw->orders;
    struct wm_gw_order_slot *slots = gw->slots;
    uint32_t max_orders = gw->max_orders, slot_mask = gw->slot_mask;
    memset(gw, 0, sizeof(*gw));
    gw->cfg = cfg;
    memset(orders, 0, (size_t)max_orders * sizeof(*orders));
    memset(slots, 0, ((size_t)slot_mask + 1) * sizeof(*slots));
    for (uint32_t i = 0; i < max_orders; i++)
        orders[i].next_free = i + 2 <= max_orders ? i + 2 : 0;
    gw->orders = orders;
    gw->slots = slots;
    gw->max_orders = max_orders;
    gw->slot_mask = slot_mask;
    gw->free_head = 1;
    return 0;
}
