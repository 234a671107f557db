/* app/tx.c - the tx stage: one per NIC queue, on the queue's thread.
 *
 * Takes finished MoldUDP64 datagrams from tx.q<N>, hands them to the NIC
 * (UDP payloads to socket backends; for frame backends it writes the
 * Ethernet, IPv4 and UDP headers into the buffer's headroom), records
 * receive-to-reply latency, and returns each buffer to its shard's free
 * ring once the backend has taken it. */
#include <arpa/inet.h>
#include <string.h>

#include "app_internal.h"
#include "wirematch/ipv4.h"

static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Ethernet + IPv4 + UDP headers in front of the payload; returns the frame. */
static uint8_t *frame(const struct wm_app *app, const struct app_tx *t, uint8_t *payload)
{
    uint8_t *f = payload - 42;
    memcpy(f, t->dst_mac, 6);
    memcpy(f + 6, app->cfg.local_mac, 6);
    wr16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    wr16(ip + 2, (uint16_t)(20 + 8 + t->len));
    wr16(ip + 4, 0);
    wr16(ip + 6, 0x4000);                       /* don't fragment */
    ip[8] = app->cfg.ttl ? app->cfg.ttl : 64;
    ip[9] = 17;
    wr16(ip + 10, 0);
    wr32(ip + 12, app->cfg.local_addr);
    wr32(ip + 16, t->dst_addr);
    wr16(ip + 10, wm_ipv4_checksum(ip, 20));
    uint8_t *udp = ip + 20;
    wr16(udp, app->cfg.local_port);
    wr16(udp + 2, t->dst_port);
    wr16(udp + 4, (uint16_t)(8 + t->len));
    wr16(udp + 6, 0);                           /* no checksum (legal for IPv4) */
    return f;
}

static void give_back(struct wm_app *app, const struct app_tx *t)
{
    uint64_t idx = t->buf;
    struct wm_ring *free = app->en[t->shard]->free;
    /* The free ring holds every buffer of the shard: never full. */
    while (wm_ring_mp_enqueue(free, &idx) != 0)
        ;
}

int app_tx_idle(const struct app_tx_stage *tx)
{
    return tx->held_off == tx->nheld && wm_ring_count(tx->ring) == 0;
}

int app_tx_backlog(const struct app_tx_stage *tx)
{
    return tx->held_off != tx->nheld || wm_ring_count(tx->ring) >= tx->app->cfg.burst;
}

unsigned app_tx_poll(struct app_tx_stage *tx)
{
    struct wm_app *app = tx->app;
    struct app_rx *rx = app->rx[tx->q];
    if (tx->held_off == tx->nheld) {
        tx->nheld = wm_ring_sc_dequeue_burst(tx->ring, tx->held, app->cfg.burst);
        tx->held_off = 0;
        if (tx->nheld == 0) {
            if (tx->unflushed) {
                wm_nic_flush(rx->nq);
                tx->unflushed = 0;
            }
            return 0;
        }
    }
    uint64_t t0 = wm_tsc();
    uint32_t m = 0;
    for (uint32_t i = tx->held_off; i < tx->nheld; i++) {
        const struct app_tx *t = &tx->held[i];
        struct wm_nic_pkt *p = &tx->out[m];
        if (WM_UNLIKELY(t->dst_addr == 0 || t->dst_port == 0)) {
            wm_counter_add(tx->ctr, WM_TX_DROP_NO_ROUTE, 1);
            /* Consumed here: keep the held run contiguous by giving it back now. */
            if (i == tx->held_off + m) {
                give_back(app, t);
                tx->held_off++;
                continue;
            }
            break;
        }
        uint8_t *payload = app->en[t->shard]->arena + (size_t)t->buf * APP_TX_BUF + APP_HEADROOM;
        memset(p, 0, sizeof(*p));
        if (rx->l2) {
            p->kind = WM_NIC_PKT_L2;
            p->data = frame(app, t, payload);
            p->len = t->len + 42u;
        } else {
            p->kind = WM_NIC_PKT_L4;
            p->data = payload;
            p->len = t->len;
            p->dst_addr = htonl(t->dst_addr);
            p->dst_port = htons(t->dst_port);
        }
        m++;
    }
    if (m == 0)
        return 0;
    int k = wm_nic_tx_burst(rx->nq, tx->out, m);
    if (k < 0)
        k = 0;
    uint64_t now = wm_clock_ticks(app->clock), bytes = 0;
    for (int i = 0; i < k; i++) {
        const struct app_tx *t = &tx->held[tx->held_off + (uint32_t)i];
        bytes += t->len;
        if (tx->rx_to_reply && t->ts) {
            uint64_t d = now > t->ts ? now - t->ts : 0;
            wm_hist_record(tx->rx_to_reply, wm_clock_cycles_to_ns(app->clock, d));
        }
        give_back(app, t);
    }
    tx->held_off += (uint32_t)k;
    tx->unflushed = 1;
    if ((uint32_t)k < m) {
        /* The backend's transmit ring is full: reap its completions and
         * kick it (AF_XDP, io_uring) before the next try. */
        wm_counter_add(tx->ctr, WM_TX_NIC_FULL_WAITS, 1);
        wm_nic_flush(rx->nq);
    }
    wm_counter_add(tx->ctr, WM_TX_PACKETS, (uint64_t)k);
    wm_counter_add(tx->ctr, WM_TX_BYTES, bytes);
    wm_counter_add(tx->ctr, WM_TX_BUSY_CYCLES, wm_tsc() - t0);
    return (unsigned)k;
}
