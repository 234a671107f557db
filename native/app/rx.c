/* app/rx.c - the rx stage: one per NIC queue, on the queue's thread.
 *
 * Per burst: receive; per packet parse (L2 frames) or take the socket's
 * addresses (L4), look the 5-tuple up in the flow table (misses go to the
 * slow-path gate, and their packets wait in the stage's hold until the
 * classifier has decided the flow, with everything that arrives after them
 * behind: packets are taken in arrival order), enforce the flow's decision
 * and its session's token
 * bucket, frame MoldUDP64, drop duplicates and gaps by sequence number,
 * check every OUCH message, and copy each into a 192-byte record for the
 * shard's engine.  The records are pushed to the shard's in ring; when the
 * ring is full they wait here and the stage stops receiving until they are
 * in (backpressure into the NIC's own buffers: no message is lost while
 * those buffers hold; a long stop, such as a hold waiting for a slow
 * classifier, can overflow them, and the NIC stage counts what it drops). */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "app_internal.h"

static inline void cnt(struct app_rx *rx, uint32_t idx, uint64_t d)
{
    wm_counter_add(rx->ctr, idx, d);
}

/* Push what waits for each shard; 1 when everything is in. */
static int flush_pending(struct app_rx *rx)
{
    int all = 1;
    for (uint32_t s = 0; s < rx->app->cfg.n_shards; s++) {
        uint32_t left = rx->npend[s] - rx->pend_off[s];
        if (!left)
            continue;
#ifdef APP_TRACE
        uint32_t tq = (uint32_t)wm_tsc();
        for (uint32_t j = 0; j < left; j++)
            memcpy(rx->pend[s][rx->pend_off[s] + j].pad, &tq, 4);
#endif
        unsigned k = wm_ring_mp_enqueue_burst(rx->app->en[s]->in, rx->pend[s] + rx->pend_off[s],
                                              left);
        rx->pend_off[s] += k;
        if (k == left) {
            rx->npend[s] = rx->pend_off[s] = 0;
        } else {
            all = 0;
        }
    }
    return all;
}

int app_rx_pending(const struct app_rx *rx)
{
    for (uint32_t s = 0; s < rx->app->cfg.n_shards; s++)
        if (rx->npend[s] != rx->pend_off[s])
            return 1;
    return 0;
}

/* One packet's UDP payload from a flow the table has decided (its entry is
 * `slot`, its decision `dec`). */
static void take_decided(struct app_rx *rx, int slot, const struct wm_flow_decision *dec,
                         const struct wm_flow_key *key, const uint8_t *mac, const uint8_t *p,
                         uint32_t len, uint64_t now)
{
    struct wm_app *app = rx->app;
    const struct wm_flow_decision d = *dec;
    if (d.action != WM_FLOW_ALLOW) {
        wm_flow_count(app->cfg.flows, (uint32_t)slot, 1, len, 1, now);
        cnt(rx, WM_RX_DROP_FLOW_DENIED, 1);
        return;
    }
    if (d.shard >= app->cfg.n_shards) {
        wm_flow_count(app->cfg.flows, (uint32_t)slot, 1, len, 1, now);
        cnt(rx, WM_RX_DROP_UNKNOWN_SHARD, 1);
        return;
    }
    struct wm_mold_packet mp;
    if (wm_mold_decode(p, len, &mp, rx->codec) != 0) {
        wm_flow_count(app->cfg.flows, (uint32_t)slot, 1, len, 1, now);
        cnt(rx, WM_RX_DROP_BAD_MOLD, 1);
        return;
    }
    if (mp.count == WM_MOLD_HEARTBEAT) {
        wm_flow_count(app->cfg.flows, (uint32_t)slot, 1, len, 0, now);
        cnt(rx, WM_RX_HEARTBEATS, 1);
        return;
    }
    /* The session's bucket: one token per message.  Checked before the
     * sequence number moves, so a throttled packet can be sent again. */
    if (d.bucket != WM_FLOW_NO_BUCKET && app->cfg.rates && d.bucket < app->cfg.rates->n) {
        uint32_t need = mp.count == WM_MOLD_END_OF_SESSION_COUNT ? 1 : mp.count;
        if (!wm_rate_take(&app->cfg.rates->buckets[d.bucket], now, need)) {
            wm_flow_count(app->cfg.flows, (uint32_t)slot, 1, len, 1, now);
            cnt(rx, WM_RX_DROP_RATE_LIMITED, 1);
            return;
        }
    }
    uint64_t fk = (uint64_t)key->src_addr << 16 | key->src_port | (uint64_t)key->vlan << 48;
    struct wm_mold_seq_result res;
    wm_mold_seq_check(rx->seq, fk, &mp, &res);
    uint32_t total = mp.count == WM_MOLD_END_OF_SESSION_COUNT ? 0 : mp.count;
    switch (res.status) {
    case WM_MOLD_SEQ_DUPLICATE: cnt(rx, WM_RX_DROP_DUPLICATE, total); break;
    case WM_MOLD_SEQ_OVERLAP: cnt(rx, WM_RX_DROP_DUPLICATE, res.skip); break;
    case WM_MOLD_SEQ_GAP:
        cnt(rx, WM_RX_SEQ_GAPS, 1);
        cnt(rx, WM_RX_GAP_MESSAGES_MISSING, res.gap_count);
        if (res.apply < total)
            cnt(rx, WM_RX_DROP_AFTER_GAP, total - res.apply);
        break;
    case WM_MOLD_SEQ_TABLE_FULL: cnt(rx, WM_RX_DROP_SEQ_TABLE_FULL, total); break;
    case WM_MOLD_SEQ_ENDED: cnt(rx, WM_RX_DROP_SESSION_ENDED, total); break;
    default: break;
    }
    uint32_t dropped = 0;
    uint16_t mlen;
    for (uint32_t i = 0; i < res.skip; i++)
        wm_mold_next_block(&mp, &mlen);
    struct app_msg *pend = rx->pend[d.shard];
    for (uint32_t i = 0; i < res.apply; i++) {
        const uint8_t *msg = wm_mold_next_block(&mp, &mlen);
        if (!msg)
            break;
        if (mlen > WM_APP_MSG_MAX) {
            cnt(rx, WM_RX_DROP_MESSAGE_TOO_LONG, 1);
            dropped++;
            continue;
        }
        struct wm_ouch_in in;
        if (wm_ouch_decode_in(msg, mlen, &in, rx->codec) != 0) {
            cnt(rx, WM_RX_DROP_BAD_OUCH, 1);
            dropped++;
            continue;
        }
        struct app_msg *r = &pend[rx->npend[d.shard]++];
        r->ts = now;
        r->session = d.session;
        r->src_addr = key->src_addr;
        r->src_port = key->src_port;
        r->queue = (uint8_t)rx->q;
        r->len = (uint8_t)mlen;
        if (mac)
            memcpy(r->src_mac, mac, 6);
        else
            memset(r->src_mac, 0, 6);
        memcpy(r->msg, msg, mlen);
    }
    cnt(rx, WM_RX_MESSAGES, res.apply - dropped);
    wm_flow_count(app->cfg.flows, (uint32_t)slot, 1, len, res.apply < total ? 1 : 0, now);
}

/* ---- the hold: packets of undecided flows and those behind them --------- */

static inline uint32_t held_bit(const struct wm_flow_key *key)
{
    uint64_t k0, k1;
    wm_flow_key_words(key, &k0, &k1);
    return wm_flow_hash(k0, k1) & 255;
}

static inline void filter_set(uint64_t f[4], uint32_t bit)
{
    f[bit >> 6] |= 1ull << (bit & 63);
}

static inline int filter_has(const uint64_t f[4], uint32_t bit)
{
    return (int)(f[bit >> 6] >> (bit & 63) & 1);
}

static inline int same_key(const struct wm_flow_key *a, const struct wm_flow_key *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* 1 when a packet of the flow is among the first n held ones. */
static int held_among(const struct app_rx *rx, uint32_t n, const uint64_t filter[4],
                      const struct wm_flow_key *key)
{
    if (!filter_has(filter, held_bit(key)))
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (same_key(&rx->held[i].key, key))
            return 1;
    return 0;
}

/* Copy a packet to the end of the hold: 1, or 0 when no slot takes it
 * (counted drop_hold_full). */
static int hold(struct app_rx *rx, const struct wm_flow_key *key, const uint8_t *mac,
                const uint8_t *p, uint32_t len, uint64_t ts)
{
    if (!rx->n_hold_free || len > rx->hold_slot) {
        cnt(rx, WM_RX_DROP_HOLD_FULL, 1);
        return 0;
    }
    struct app_held *h = &rx->held[rx->n_held++];
    h->key = *key;
    h->ts = ts;
    h->since = wm_tsc();
    h->len = len;
    h->buf = rx->hold_free[--rx->n_hold_free];
    h->has_mac = mac != NULL;
    if (mac)
        memcpy(h->mac, mac, 6);
    memcpy(rx->hold_arena + (size_t)h->buf * rx->hold_slot, p, len);
    filter_set(rx->held_filter, held_bit(key));
    cnt(rx, WM_RX_HELD, 1);
    return 1;
}

/* Walk the hold in arrival order and take out each packet for which
 * leave(rx, h, ctx) says so (returns 1); a packet whose flow has an earlier
 * packet still held stays behind it.  Returns how many left. */
typedef int (*held_leave_fn)(struct app_rx *rx, const struct app_held *h, void *ctx);

static uint32_t sweep_held(struct app_rx *rx, held_leave_fn leave, void *ctx)
{
    uint64_t filter[4] = { 0 };
    uint32_t kept = 0, left = 0;
    for (uint32_t i = 0; i < rx->n_held; i++) {
        struct app_held h = rx->held[i];
        if (!held_among(rx, kept, filter, &h.key) && leave(rx, &h, ctx)) {
            rx->hold_free[rx->n_hold_free++] = h.buf;
            left++;
            continue;
        }
        rx->held[kept++] = h;
        filter_set(filter, held_bit(&h.key));
    }
    rx->n_held = kept;
    memcpy(rx->held_filter, filter, sizeof(filter));
    return left;
}

/* Take packets from the head of the hold while their flow is decided (at
 * most budget of them: what they add fits the pending buffers), dropping
 * those held longer than the hold time; stop at the first one still
 * waiting for its decision, so that packets leave in arrival order.
 * Returns how many left. */
static uint32_t release_head(struct app_rx *rx, uint32_t budget)
{
    uint64_t now = wm_tsc();
    uint32_t i = 0;
    for (; i < rx->n_held && budget; i++) {
        const struct app_held *h = &rx->held[i];
        struct wm_flow_decision d;
        int slot = wm_flow_lookup(rx->app->cfg.flows, &h->key, &d);
        if (slot >= 0) {
            budget--;
            take_decided(rx, slot, &d, &h->key, h->has_mac ? h->mac : NULL,
                         rx->hold_arena + (size_t)h->buf * rx->hold_slot, h->len, h->ts);
        } else if (now - h->since > rx->hold_ticks) {
            cnt(rx, WM_RX_DROP_HOLD_TIMEOUT, 1);
        } else {
            break;
        }
        rx->hold_free[rx->n_hold_free++] = h->buf;
    }
    if (!i)
        return 0;
    rx->n_held -= i;
    memmove(rx->held, rx->held + i, (size_t)rx->n_held * sizeof(rx->held[0]));
    memset(rx->held_filter, 0, sizeof(rx->held_filter));
    for (uint32_t k = 0; k < rx->n_held; k++)
        filter_set(rx->held_filter, held_bit(&rx->held[k].key));
    return i;
}

/* The packets of a flow whose miss the slow-path gate refused: no decision
 * will come for them. */
static int refuse_one(struct app_rx *rx, const struct app_held *h, void *ctx)
{
    if (!same_key(&h->key, ctx))
        return 0;
    cnt(rx, WM_RX_DROP_NOT_CLASSIFIED, 1);
    return 1;
}

/* One packet's UDP payload: taken when its flow is decided and nothing is
 * held; else held, behind what is (a flow's first undecided packet also
 * goes to the slow-path gate). */
static void take_payload(struct app_rx *rx, const struct wm_flow_key *key, const uint8_t *mac,
                         const uint8_t *p, uint32_t len, uint64_t now)
{
    struct wm_flow_decision d;
    int slot = wm_flow_lookup(rx->app->cfg.flows, key, &d);
    if (slot >= 0) {
        if (WM_LIKELY(!rx->n_held)) {
            take_decided(rx, slot, &d, key, mac, p, len, now);
            return;
        }
        /* Decided, but packets that arrived earlier wait: after them. */
        if (hold(rx, key, mac, p, len, now))
            cnt(rx, WM_RX_HELD_BEHIND, 1);
        return;
    }
    /* Undecided: one miss per flow while its packets wait. */
    int asked = rx->n_held && held_among(rx, rx->n_held, rx->held_filter, key);
    hold(rx, key, mac, p, len, now);
    if (asked)
        return;
    cnt(rx, WM_RX_FLOW_MISSES, 1);
    if (rx->n_miss < APP_MAX_BURST) {
        struct wm_flow_miss *m = &rx->misses[rx->n_miss++];
        m->key = *key;
        m->first_seen = now;
        m->queue = (uint16_t)rx->q;
        m->len = (uint16_t)(len > 0xffff ? 0xffff : len);
        m->reserved = 0;
    }
}

/* 1 when a shard's engine has rx_backlog records or more still to take. */
static int engines_behind(const struct app_rx *rx)
{
    uint32_t limit = rx->app->cfg.rx_backlog;
    if (!limit)
        return 0;
    for (uint32_t s = 0; s < rx->app->cfg.n_shards; s++)
        if (wm_ring_count(rx->app->en[s]->in) >= limit)
            return 1;
    return 0;
}

unsigned app_rx_poll(struct app_rx *rx)
{
    struct wm_app *app = rx->app;
    if (!flush_pending(rx)) {
        cnt(rx, WM_RX_RING_FULL_WAITS, 1);
        return 0;
    }
    if (rx->quiet)
        return 0;
    /* Held packets first: they arrived before anything still in the NIC. */
    uint32_t released = 0;
    if (rx->n_held) {
        released = release_head(rx, app->cfg.burst);
        if (released && !flush_pending(rx)) {
            cnt(rx, WM_RX_RING_FULL_WAITS, 1);
            return released;
        }
    }
    /* Every packet of a burst may need a hold slot: while there is no room
     * for a burst the stage stops receiving (backpressure into the NIC's
     * own buffers, as for a full in ring) until the classifier has decided
     * held flows or their hold time has passed. */
    if (rx->n_hold_free < app->cfg.burst) {
        cnt(rx, WM_RX_HOLD_FULL_WAITS, 1);
        return released;
    }
    /* Orders already received are matched before more packets are taken:
     * a packet waiting in the NIC's ring costs the orders ahead of it
     * nothing, one parsed into the in ring delays their engine. */
    if (engines_behind(rx)) {
        cnt(rx, WM_RX_BACKLOG_WAITS, 1);
        return released;
    }
    int n = wm_nic_rx_burst(rx->nq, rx->pkts, app->cfg.burst);
    if (n <= 0) {
        /* Quiet once nothing arrives and nothing is held. */
        if (__atomic_load_n(&app->phase, __ATOMIC_ACQUIRE) == APP_STOP_RX && !rx->n_held &&
            (n < 0 || ++rx->empty_polls >= app->quiet_polls))
            __atomic_store_n(&rx->quiet, 1, __ATOMIC_RELEASE);
        return released;
    }
    rx->empty_polls = 0;
    uint64_t t0 = wm_tsc();
    uint64_t bytes = 0;
    rx->n_miss = 0;
    for (int i = 0; i < n; i++) {
        const struct wm_nic_pkt *pk = &rx->pkts[i];
        uint64_t now = pk->rx_ticks;
        bytes += pk->len;
        struct wm_flow_key key = { .proto = 17 };
        const uint8_t *payload;
        uint32_t plen;
        const uint8_t *mac = NULL;
        if (rx->l2) {
            int r = wm_app_parse_frame(pk->data, pk->len, &key.src_addr, &key.dst_addr,
                                       &key.src_port, &key.dst_port, &key.vlan, &payload, &plen);
            if (r) {
                cnt(rx, (uint32_t)r, 1);
                continue;
            }
            if (key.dst_port != app->cfg.local_port ||
                (app->cfg.local_addr && key.dst_addr != app->cfg.local_addr)) {
                cnt(rx, WM_RX_DROP_OTHER_DESTINATION, 1);
                continue;
            }
            mac = pk->data + 6;
        } else {
            key.src_addr = ntohl(pk->src_addr);
            key.dst_addr = ntohl(pk->dst_addr);
            key.src_port = ntohs(pk->src_port);
            key.dst_port = ntohs(pk->dst_port);
            payload = pk->data;
            plen = pk->len;
        }
        take_payload(rx, &key, mac, payload, plen, now);
    }
    wm_nic_rx_release(rx->nq, rx->pkts, (uint32_t)n);
    if (rx->n_miss) {
        unsigned pushed =
            wm_slowpath_push_burst(&rx->sp, rx->misses, rx->n_miss, rx->pkts[0].rx_ticks);
        for (unsigned i = pushed; i < rx->n_miss && rx->n_held; i++)
            sweep_held(rx, refuse_one, &rx->misses[i].key);
    }
    flush_pending(rx);
    cnt(rx, WM_RX_PACKETS, (uint64_t)n);
    cnt(rx, WM_RX_BYTES, bytes);
    cnt(rx, WM_RX_BURSTS, 1);
    if (rx->batch)
        wm_hist_record(rx->batch, (uint64_t)n);
    cnt(rx, WM_RX_BUSY_CYCLES, wm_tsc() - t0);
    return (unsigned)n + released;
}
