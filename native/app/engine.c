/* app/engine.c - the engine stage: one per shard, on its own or a shared thread.
 *
 * Per burst from in.s<N>: each OUCH message goes through the gateway to a
 * matcher command (one command at a time: a cancel that follows an enter
 * in the same burst must see it), the matcher applies it, and the gateway
 * publishes every event as ITCH (market-data stream) and OUCH (the owning
 * session's reply stream) straight into MoldUDP64 packets built in tx
 * buffers; this stage frames them (which buffer, which destination).  At
 * the end of the burst every open packet is handed to the tx ring of the
 * queue its destination is served by.  Control requests (ctl.s<N>) are
 * applied between bursts, on this thread: nothing else touches the matcher. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app_internal.h"


static inline void cnt(struct app_engine *en, uint32_t idx, uint64_t d)
{
    wm_counter_add(en->ctr, idx, d);
}

static inline uint8_t *buf_at(const struct app_engine *en, uint32_t idx)
{
    return en->arena + (size_t)idx * APP_TX_BUF;
}

/* A free tx buffer; waits (running this worker's tx stages) while none is.
 * UINT32_MAX only when the appliance is being aborted (stop timed out). */
static uint32_t get_buffer(struct app_engine *en)
{
    uint64_t idx;
    if (WM_LIKELY(wm_ring_sc_dequeue(en->free, &idx) == 0))
        return (uint32_t)idx;
    cnt(en, WM_EN_BUFFER_WAITS, 1);
    uint32_t spins = 0;
    while (wm_ring_sc_dequeue(en->free, &idx) != 0) {
        if (__atomic_load_n(&en->app->phase, __ATOMIC_ACQUIRE) == APP_ABORT)
            return UINT32_MAX;
        app_worker_assist(en->app, en->worker);
        struct wm_idle_policy p = { .strategy = WM_IDLE_SPIN_YIELD, .spin_polls = 64 };
        wm_idle_wait(&p, &spins);
    }
    return (uint32_t)idx;
}

static uint32_t buffer_of(const struct app_engine *en, const struct wm_mold_builder *b)
{
    return (uint32_t)((size_t)(b->buf - APP_HEADROOM - en->arena) / APP_TX_BUF);
}

/* Finish a stream's open packet and hand it to its queue's tx stage. */
static void flush_stream(struct app_engine *en, struct app_session *s)
{
    uint32_t len = wm_mold_builder_flush(&s->b);
    s->dirty = 0;
    if (!len)
        return;
    uint32_t next = get_buffer(en);
    if (WM_UNLIKELY(next == UINT32_MAX)) {
        /* Aborting: the packet cannot be sent; its buffer is reused. */
        cnt(en, WM_EN_DROP_UNPUBLISHABLE, 1);
        return;
    }
    struct app_tx t;
    memset(&t, 0, sizeof(t));
    t.ts = s->oldest_ts;
    t.buf = buffer_of(en, &s->b);
    t.len = (uint16_t)len;
    t.shard = (uint8_t)en->s;
    t.dst_addr = s->addr;
    t.dst_port = s->port;
    memcpy(t.dst_mac, s->mac, 6);
    struct wm_ring *ring = en->app->tx[s->queue]->ring;
    /* The tx ring has a slot for every buffer of every shard: never full. */
    while (wm_ring_mp_enqueue(ring, &t) != 0)
        app_worker_assist(en->app, en->worker);
    cnt(en, s == &en->md ? WM_EN_MD_PACKETS : WM_EN_REPLY_PACKETS, 1);
    s->b.buf = buf_at(en, next) + APP_HEADROOM;
    s->oldest_ts = 0;
}

static void mark(struct app_engine *en, struct app_session *s, uint64_t ts)
{
    if (!s->dirty) {
        s->dirty = 1;
        s->oldest_ts = ts;
        en->dirty[en->n_dirty++] = s == &en->md ? WM_APP_MAX_SESSIONS : (uint32_t)(s - en->sessions);
    }
}

static void flush_dirty(struct app_engine *en)
{
    for (uint32_t i = 0; i < en->n_dirty; i++) {
        uint32_t k = en->dirty[i];
        flush_stream(en, k == WM_APP_MAX_SESSIONS ? &en->md : &en->sessions[k]);
    }
    en->n_dirty = 0;
}

static int stream_init(struct app_engine *en, struct app_session *s, const char *name)
{
    uint32_t idx = get_buffer(en);
    if (idx == UINT32_MAX)
        return -ECANCELED;
    uint8_t *buf = buf_at(en, idx) + APP_HEADROOM;
    return wm_mold_builder_init(&s->b, name, 1, buf, WM_MOLD_MTU_PAYLOAD);
}

/* The gateway's session table is the engine's: each entry's ctx is the
 * engine's struct app_session for it. */
_Static_assert((int)WM_APP_MAX_SESSIONS <= (int)WM_GW_MAX_SESSIONS,
               "every engine session has a gateway entry");

/* OUCH System Event `code` at ts to a session's stream through the gateway;
 * rx_ts: receive ticks of the message it answers (0: none). */
static void publish_system_event(struct app_engine *en, struct app_session *s, char code,
                                 uint64_t ts, uint64_t rx_ts)
{
    int r = wm_gw_publish_system_event(&en->gw, s->session, code, ts);
    if (WM_UNLIKELY(r == -ENOBUFS)) {
        flush_stream(en, s);
        r = wm_gw_publish_system_event(&en->gw, s->session, code, ts);
    }
    if (r == 0) {
        mark(en, s, rx_ts);
        cnt(en, WM_EN_REPLIES, 1);
    } else if (r < 0) {
        cnt(en, WM_EN_DROP_UNPUBLISHABLE, 1);
    }
}

/* The session's entry (created on its first message, which it is told
 * System Event 'S' before), or NULL when the table is full (or for session
 * 0, which the gateway does not take). */
static struct app_session *session_get(struct app_engine *en, uint32_t session, uint64_t ts)
{
    struct wm_gw_session *gs = wm_gw_find_session(&en->gw, session);
    if (WM_LIKELY(gs != NULL))
        return gs->ctx;
    if (session == 0 || en->n_sessions == WM_APP_MAX_SESSIONS)
        return NULL;
    struct app_session *s = &en->sessions[en->n_sessions];
    memset(s, 0, sizeof(*s));
    s->session = session;
    char name[16];
    snprintf(name, sizeof(name), "O%09u", session % 1000000000u);
    if (stream_init(en, s, name) != 0 || wm_gw_add_session(&en->gw, session, &s->b) != 0)
        return NULL;
    wm_gw_find_session(&en->gw, session)->ctx = s;
    en->n_sessions++;
    cnt(en, WM_EN_SESSIONS, 1);
    publish_system_event(en, s, 'S', ts, ts);
    return s;
}

/* Publish one event through the gateway: ITCH to the feed, OUCH to its
 * session.  A full packet is sent and the message offered once more.  What
 * the gateway does not publish it counts by reason (gateway.s<N>); counted
 * here as well (drop_unpublishable): a message refused again after the
 * flush, and a reply its session's builder refused. */
static void publish(struct app_engine *en, const struct wm_event *ev)
{
    int r = wm_gw_publish_itch(&en->gw, ev, &en->md.b);
    if (WM_UNLIKELY(r == -ENOBUFS)) {
        flush_stream(en, &en->md);
        r = wm_gw_publish_itch(&en->gw, ev, &en->md.b);
    }
    if (r == 0) {
        mark(en, &en->md, ev->ts);
        cnt(en, WM_EN_MD_MESSAGES, 1);
    } else if (r < 0) {
        cnt(en, WM_EN_DROP_UNPUBLISHABLE, 1);
    }
    struct wm_gw_session *to;
    r = wm_gw_publish_ouch_to(&en->gw, ev, &to);
    if (WM_UNLIKELY(r == -ENOBUFS)) {
        flush_stream(en, to->ctx);
        r = wm_gw_publish_ouch_to(&en->gw, ev, &to);
    }
    if (r == 0) {
        mark(en, to->ctx, ev->ts);
        cnt(en, WM_EN_REPLIES, 1);
    } else if (r < 0 || to) {
        cnt(en, WM_EN_DROP_UNPUBLISHABLE, 1);
    }
}

/* Apply one command to completion and publish its events; returns events.
 * rx_ts (receive ticks, 0 for control requests): the command is matched
 * when the matcher returns its first events, before they are published;
 * that is the receive-to-match time (publishing is in receive-to-reply). */
static uint64_t apply(struct app_engine *en, const struct wm_cmd *cmd, uint64_t rx_ts)
{
    uint64_t total = 0;
    unsigned consumed = 0;
    do {
        unsigned used = 0;
        int ev = wm_matcher_apply(en->m, cmd, consumed ? 0 : 1, en->events,
                                  sizeof(en->events) / sizeof(en->events[0]), &used);
#ifdef APP_TRACE
        if (!consumed)
            en->tr_m = wm_tsc();
#endif
        if (rx_ts && !consumed && en->rx_to_match) {
            uint64_t now = wm_clock_ticks(en->app->clock);
            uint64_t d = now > rx_ts ? now - rx_ts : 0;
            wm_hist_record(en->rx_to_match, wm_clock_cycles_to_ns(en->app->clock, d));
        }
        consumed += used;
        for (int i = 0; i < ev; i++)
            publish(en, &en->events[i]);
        if (ev > 0)
            total += (uint64_t)ev;
    } while (wm_matcher_pending(en->m));
    cnt(en, WM_EN_COMMANDS, 1);
    cnt(en, WM_EN_EVENTS, total);
    return total;
}

/* The gateway's own answer to an inbound message (Rejected Order, Cancel
 * Reject, Account Query Response; wm_gw_ouch_to_cmd's reply) to the
 * session's stream. */
static void reply_direct(struct app_engine *en, struct app_session *s,
                         const struct wm_ouch_out *reply, uint64_t ts)
{
    int r = wm_mold_builder_add_ouch(&s->b, reply);
    if (r == -ENOBUFS) {
        flush_stream(en, s);
        r = wm_mold_builder_add_ouch(&s->b, reply);
    }
    if (r == 0) {
        mark(en, s, ts);
        cnt(en, WM_EN_REPLIES, 1);
    } else {
        cnt(en, WM_EN_DROP_UNPUBLISHABLE, 1);
    }
}

static void take(struct app_engine *en, const struct app_msg *msg)
{
#ifdef APP_TRACE
    uint64_t t0 = wm_tsc();
#endif
    struct app_session *s = session_get(en, msg->session, msg->ts);
    if (!s) {
        cnt(en, WM_EN_DROP_SESSION_TABLE_FULL, 1);
        return;
    }
#ifdef APP_TRACE
    en->tr_s = wm_tsc();
#endif
    /* Replies follow the session's latest flow. */
    s->addr = msg->src_addr;
    s->port = msg->src_port;
    s->queue = msg->queue;
    memcpy(s->mac, msg->src_mac, 6);
    struct wm_ouch_in in;
    if (wm_ouch_decode_in(msg->msg, msg->len, &in, NULL) != 0) {
        cnt(en, WM_EN_DROP_BAD_OUCH, 1);
        return;
    }
    struct wm_cmd cmd;
    struct wm_ouch_out reply;
    int r = wm_gw_ouch_to_cmd(&en->gw, msg->session, msg->ts, &in, &cmd, &reply);
    if (reply.type)
        reply_direct(en, s, &reply, msg->ts);
    if (r != 0) {
        cnt(en, WM_EN_REFUSED, 1);
        return;
    }
#ifdef APP_TRACE
    uint64_t ta = wm_tsc();
    apply(en, &cmd, msg->ts);
    uint64_t tb = wm_tsc();
    {
        const struct wm_clock *ck = en->app->clock;
        uint32_t tq;
        memcpy(&tq, msg->pad, 4);
        uint32_t t_rx = (uint32_t)msg->ts;
        uint32_t t_deq = (uint32_t)en->tr_deq;
        wm_hist_record(en->tr[0], wm_clock_cycles_to_ns(ck, tq - t_rx));          /* rx stage */
        wm_hist_record(en->tr[1], wm_clock_cycles_to_ns(ck, t_deq - tq));         /* ring */
        wm_hist_record(en->tr[2], wm_clock_cycles_to_ns(ck, (uint32_t)t0 - t_deq)); /* behind burst */
        wm_hist_record(en->tr[3], wm_clock_cycles_to_ns(ck, en->tr_s - t0));
        wm_hist_record(en->tr[4], wm_clock_cycles_to_ns(ck, ta - en->tr_s));
        wm_hist_record(en->tr[5], wm_clock_cycles_to_ns(ck, en->tr_m - ta));
        wm_hist_record(en->tr[6], wm_clock_cycles_to_ns(ck, tb - en->tr_m));
    }
#else
    apply(en, &cmd, msg->ts);
#endif
}

static void control(struct app_engine *en, const struct app_ctl *c)
{
    struct wm_app_ctl_answer *a = en->answer;
    struct wm_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.ts = wm_clock_ticks(en->app->clock);
    a->rc = 0;
    a->value = 0;
    a->cancelled = 0;
    a->state = 0;
    a->n_bids = a->n_asks = a->n_bid_orders = a->n_ask_orders = 0;
    struct wm_instrument_status st;
    switch (c->op) {
    case WM_APP_CTL_HALT:
    case WM_APP_CTL_RESUME:
        if (wm_matcher_instrument_status(en->m, c->arg, &st) != 0) {
            a->rc = -ENOENT;
            break;
        }
        cmd.type = c->op == WM_APP_CTL_HALT ? WM_CMD_HALT : WM_CMD_RESUME;
        cmd.instrument = (uint16_t)c->arg;
        a->value = apply(en, &cmd, 0);
        if (wm_matcher_instrument_status(en->m, c->arg, &st) == 0)
            a->state = st.state;
        break;
    case WM_APP_CTL_CANCEL_ALL: {
        cmd.type = WM_CMD_MASS_CANCEL;
        cmd.session = c->arg;
        cmd.flags = WM_CMDF_ALL_INSTRUMENTS;
        /* A mass cancel only removes orders: the drop in live orders is its count. */
        uint32_t live = wm_matcher_live_orders(en->m);
        a->value = apply(en, &cmd, 0);
        a->cancelled = live - wm_matcher_live_orders(en->m);
        break;
    }
    case WM_APP_CTL_BOOK: {
        if (wm_matcher_instrument_status(en->m, c->arg, &st) != 0) {
            a->rc = -ENOENT;
            break;
        }
        a->state = st.state;
        a->value = st.live_orders;
        int n;
        n = wm_matcher_l2(en->m, c->arg, WM_SIDE_BUY, a->bids, WM_APP_BOOK_MAX);
        a->n_bids = n > 0 ? (uint32_t)n : 0;
        n = wm_matcher_l2(en->m, c->arg, WM_SIDE_SELL, a->asks, WM_APP_BOOK_MAX);
        a->n_asks = n > 0 ? (uint32_t)n : 0;
        n = wm_matcher_l3(en->m, c->arg, WM_SIDE_BUY, a->bid_orders, WM_APP_BOOK_MAX);
        a->n_bid_orders = n > 0 ? (uint32_t)n : 0;
        n = wm_matcher_l3(en->m, c->arg, WM_SIDE_SELL, a->ask_orders, WM_APP_BOOK_MAX);
        a->n_ask_orders = n > 0 ? (uint32_t)n : 0;
        break;
    }
    case WM_APP_CTL_STATUS:
        a->value = wm_matcher_live_orders(en->m);
        break;
    default: a->rc = -EINVAL; break;
    }
    a->hash = wm_matcher_hash(en->m);
    a->seq = wm_matcher_last_seq(en->m);
    flush_dirty(en);
    app_engine_mirror(en);
    cnt(en, WM_EN_CTL_REQUESTS, 1);
    /* Release: the answer is whole before its id says so (acquire in wm_app_control). */
    __atomic_store_n(&a->id, c->id, __ATOMIC_RELEASE);
}

void app_engine_mirror(struct app_engine *en)
{
    uint64_t *g = wm_counters_values(en->gw_ctr);
    for (uint32_t i = 0; i < WM_GW_N_COUNTERS; i++)
        __atomic_store_n(&g[i], en->gw.counts[i], __ATOMIC_RELAXED);
    uint64_t *m = wm_counters_values(en->m_ctr);
    unsigned n = wm_matcher_counter_count();
    for (unsigned i = 0; i < n; i++)
        __atomic_store_n(&m[i], wm_matcher_counter_value(en->m, i), __ATOMIC_RELAXED);
}

void app_engine_end_of_day(struct app_engine *en)
{
    uint64_t ts = wm_clock_ticks(en->app->clock);
    for (uint32_t i = 0; i < en->n_sessions; i++)
        publish_system_event(en, &en->sessions[i], 'E', ts, 0);
    flush_dirty(en);
    app_engine_mirror(en);
}

int app_engine_idle(struct app_engine *en)
{
    return wm_ring_count(en->in) == 0 && wm_ring_count(en->ctl) == 0 &&
           !wm_matcher_pending(en->m) && en->n_dirty == 0;
}

unsigned app_engine_poll(struct app_engine *en)
{
    unsigned work = 0;
    struct app_ctl c;
    if (WM_UNLIKELY(wm_ring_sc_dequeue(en->ctl, &c) == 0)) {
        control(en, &c);
        work++;
    }
    unsigned n = wm_ring_sc_dequeue_burst(en->in, en->msgs, en->app->cfg.burst);
    if (n == 0) {
        if (en->n_dirty) {
            flush_dirty(en);
            en->bursts_open = 0;
        }
        cnt(en, WM_EN_EMPTY_POLLS, 1);
        if ((wm_counters_values(en->ctr)[WM_EN_EMPTY_POLLS] & 1023) == 0)
            app_engine_mirror(en);
        return work;
    }
    uint64_t t0 = wm_tsc();
#ifdef APP_TRACE
    en->tr_deq = t0;
#endif
    for (unsigned i = 0; i < n; i++)
        take(en, &en->msgs[i]);
    /* Open packets go out when no more work is waiting, or after a few
     * bursts: fuller packets under load, no added wait when idle. */
    if (++en->bursts_open >= APP_FLUSH_BURSTS || wm_ring_count(en->in) == 0) {
        flush_dirty(en);
        en->bursts_open = 0;
    }
    cnt(en, WM_EN_MESSAGES, n);
    cnt(en, WM_EN_BATCHES, 1);
    if (en->batch)
        wm_hist_record(en->batch, n);
    if (++en->bursts % APP_MIRROR_EVERY == 0)
        app_engine_mirror(en);
    cnt(en, WM_EN_BUSY_CYCLES, wm_tsc() - t0);
    return work + n;
}

static uint64_t ts_to_ns(void *ctx, uint64_t ts)
{
    struct app_engine *en = ctx;
    int64_t ns = (int64_t)wm_clock_tsc_to_ns(en->app->clock, ts) + en->app->cfg.ts_offset_ns;
    return ns < 0 ? UINT64_MAX : (uint64_t)ns;
}

int app_engine_init(struct app_engine *en)
{
    struct wm_gw_config gc;
    memset(&gc, 0, sizeof(gc));
    gc.matcher = en->m;
    gc.ts_to_ns = ts_to_ns;
    gc.ts_ctx = en;
    gc.account_per_session = 1;
    gc.max_orders = en->app->cfg.max_orders;
    int rc = wm_gw_init(&en->gw, &gc);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < en->n_bufs; i++) {
        uint64_t idx = i;
        if (wm_ring_sp_enqueue(en->free, &idx) != 0)
            return -ENOSPC;
    }
    char name[16];
    snprintf(name, sizeof(name), "WMITCH%04u", en->s);
    struct app_session *md = &en->md;
    memset(md, 0, sizeof(*md));
    md->addr = en->app->cfg.md_addr;
    md->port = en->app->cfg.md_port;
    md->queue = (uint8_t)en->app->cfg.md_queue;
    memcpy(md->mac, en->app->cfg.md_mac, 6);
    return stream_init(en, md, name);
}
