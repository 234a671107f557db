/* app/rx.c - the rx stage: one per NIC queue, on the queue's thread.
 *
 * Per burst: receive; per packet parse (L2 frames) or take the socket's
 * addresses (L4), look the 5-tuple up in the flow table (misses go to the
 * slow-path gate), enforce the flow's decision and its session's token
 * bucket, frame MoldUDP64, drop duplicates and gaps by sequence number,
 * check every OUCH message, and copy each into a 192-byte record for the
 * shard's engine.  The records are pushed to the shard's in ring; when the
 * ring is full they wait here and the stage stops receiving until they are
 * in (backpressure into the NIC's own buffers, never a lost message). */
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

/* One packet's UDP payload from a known flow. */
static void take_payload(struct app_rx *rx, const struct wm_flow_key *key, const uint8_t *mac,
                         const uint8_t *p, uint32_t len, uint64_t now)
{
    struct wm_app *app = rx->app;
    struct wm_flow_decision d;
    int slot = wm_flow_lookup(app->cfg.flows, key, &d);
    if (slot < 0) {
        if (rx->n_miss < APP_MAX_BURST) {
            struct wm_flow_miss *m = &rx->misses[rx->n_miss++];
            m->key = *key;
            m->first_seen = now;
            m->queue = (uint16_t)rx->q;
            m->len = (uint16_t)(len > 0xffff ? 0xffff : len);
            m->reserved = 0;
        }
        cnt(rx, WM_RX_FLOW_MISSES, 1);
        return;
    }
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
    /* Orders already received are matched before more packets are taken:
     * a packet waiting in the NIC's ring costs the orders ahead of it
     * nothing, one parsed into the in ring delays their engine. */
    if (engines_behind(rx)) {
        cnt(rx, WM_RX_BACKLOG_WAITS, 1);
        return 0;
    }
    int n = wm_nic_rx_burst(rx->nq, rx->pkts, app->cfg.burst);
    if (n <= 0) {
        if (__atomic_load_n(&app->phase, __ATOMIC_ACQUIRE) == APP_STOP_RX &&
            (n < 0 || ++rx->empty_polls >= app->quiet_polls))
            __atomic_store_n(&rx->quiet, 1, __ATOMIC_RELEASE);
        return 0;
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
    if (rx->n_miss)
        wm_slowpath_push_burst(&rx->sp, rx->misses, rx->n_miss, rx->pkts[0].rx_ticks);
    flush_pending(rx);
    cnt(rx, WM_RX_PACKETS, (uint64_t)n);
    cnt(rx, WM_RX_BYTES, bytes);
    cnt(rx, WM_RX_BURSTS, 1);
    if (rx->batch)
        wm_hist_record(rx->batch, (uint64_t)n);
    cnt(rx, WM_RX_BUSY_CYCLES, wm_tsc() - t0);
    return (unsigned)n;
}
