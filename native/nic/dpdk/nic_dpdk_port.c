/* The DPDK backend (the plugin libwirematch_dpdk.so, loaded by nic_dpdk.c).
 *
 * EAL: initialised by the first open in the process with opts.eal_argv
 * (nic/dpdk.py builds them from the appliance config: cores, memory, a
 * unique --file-prefix, devices).  DPDK allows one initialisation per
 * process: later opens must pass the same arguments or none; different ones
 * are refused with a sentence.  rte_eal_init pins the calling thread to the
 * main lcore of the -l list.
 *
 * Port: opts.device names it ("net_af_packet0", "0000:01:00.0"), or the
 * only one there is.  The first open of a port configures n_queues rx/tx
 * queue pairs, creates its mbuf pool (data room RTE_PKTMBUF_HEADROOM +
 * buf_size) and starts it; every queue of the port is then opened by id;
 * the last close stops and closes the port and frees the pool.
 *
 * Receive: rte_eth_rx_burst; descriptors are L2 frames pointing into the
 * mbufs (handle = the mbuf), freed in bulk by rx_release.  Multi-segment
 * frames (larger than buf_size) are dropped as drop_truncated.
 * Transmit: each L2 frame is copied into an mbuf from the pool and sent
 * with rte_eth_tx_burst; what the ring does not take is freed and counted
 * (tx_ring_full).  DPDK frees sent mbufs itself: tx_completions counts
 * what the driver accepted.
 * wait: DPDK has no descriptor to sleep on without interrupt set-up, so it
 * polls (a burst every 20 us) into a stash the next rx_burst returns first.
 *
 * Statistics: wm_nic_flush folds the port's imissed, rx_nombuf, ierrors and
 * oerrors into queue 0's counters (they are per port); wm_nic_xstats gives
 * every extended statistic of the port (rte_eth_xstats).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "nic/nic_backend.h"

#define MAX_BURST 256
#define STASH 64

/* ---- EAL, once per process ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int eal_rc = 1;           /* 1: not tried; 0: up; -errno: failed */
static char eal_line[1024];      /* the arguments it was initialised with */
static char eal_error[sizeof eal_line + 160];

static void join_args(const struct wm_nic_opts *o, char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    for (uint32_t i = 1; i < o->eal_argc && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%s%s", i > 1 ? " " : "", o->eal_argv[i]);
}

static int eal_up(const struct wm_nic_opts *o)
{
    char line[sizeof eal_line];
    join_args(o, line, sizeof line);
    if (eal_rc == 0) {
        if (o->eal_argc && strcmp(line, eal_line) != 0)
            return wm_nic_error(-EALREADY, "DPDK's EAL can be initialised once per process and "
                                "already is, with other arguments: open with the same ones or "
                                "none (running: '%s'; asked: '%s')", eal_line, line);
        return 0;
    }
    if (eal_rc < 0)
        return wm_nic_error(eal_rc, "%s", eal_error);
    if (o->eal_argc == 0)
        return wm_nic_error(-EINVAL, "the first dpdk open in a process needs EAL arguments "
                            "(eal_argv; nic.dpdk.eal_args builds them from the config)");
    if (o->eal_argc > 64)
        return wm_nic_error(-E2BIG, "%u EAL arguments: at most 64", o->eal_argc);
    /* rte_eal_init permutes argv: give it a copy. */
    char *argv[65];
    for (uint32_t i = 0; i < o->eal_argc; i++)
        argv[i] = (char *)o->eal_argv[i];
    argv[o->eal_argc] = NULL;
    int rc = rte_eal_init((int)o->eal_argc, argv);
    if (rc < 0) {
        int err = rte_errno ? rte_errno : EINVAL;
        eal_rc = -err;
        snprintf(eal_error, sizeof eal_error, "DPDK's EAL did not start with '%s': %s%s", line,
                 rte_strerror(err),
                 err == EACCES || err == EPERM ? " (run as root)"
                 : err == ENOMEM ? " (not enough memory: free hugepages, or --no-huge -m N)"
                                 : "");
        return wm_nic_error(eal_rc, "%s", eal_error);
    }
    eal_rc = 0;
    snprintf(eal_line, sizeof eal_line, "%s", line);
    /* With --no-shconf / --in-memory the EAL leaves its runtime directory
     * empty; remove it now, so that not even a killed process leaves it. */
    rmdir(rte_eal_get_runtime_dir());
    return 0;
}

/* ---- ports, shared by their queues ---- */

struct port_state {
    uint32_t refs;
    uint16_t n_queues;
    uint16_t nb_rxd, nb_txd;
    uint64_t open_queues;
    struct rte_mempool *pool;
    struct rte_eth_stats last;   /* port statistics already counted (by queue 0) */
};

static struct port_state ports[RTE_MAX_ETHPORTS];

static int find_port(const struct wm_nic_opts *o, uint16_t *port)
{
    if (o->device != NULL) {
        if (rte_eth_dev_get_port_by_name(o->device, port) == 0)
            return 0;
    } else if (rte_eth_dev_count_avail() == 1) {
        RTE_ETH_FOREACH_DEV(*port)
            return 0;
    }
    char names[256] = "";
    size_t off = 0;
    uint16_t p;
    RTE_ETH_FOREACH_DEV(p)
    {
        char name[RTE_ETH_NAME_MAX_LEN];
        if (rte_eth_dev_get_name_by_port(p, name) == 0 && off < sizeof names)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", off ? ", " : "", name);
    }
    if (o->device != NULL)
        return wm_nic_error(-ENODEV, "no DPDK port named '%s' (ports: %s); add it to the EAL "
                            "arguments (--vdev or a PCI address)", o->device,
                            off ? names : "none");
    return wm_nic_error(-ENODEV, "%s: name the device to use (opts.device)",
                        off ? names : "no DPDK ports (the EAL arguments named no device)");
}

static int port_setup(const struct wm_nic_opts *o, uint16_t port, struct port_state *ps)
{
    struct rte_eth_dev_info di;
    int rc = rte_eth_dev_info_get(port, &di);
    if (rc < 0)
        return wm_nic_error(rc, "cannot read DPDK port %u's information: %s", port,
                            rte_strerror(-rc));
    if (o->n_queues > di.max_rx_queues || o->n_queues > di.max_tx_queues)
        return wm_nic_error(-EINVAL, "%u queues asked for, DPDK port %u (%s) has %u rx / %u tx",
                            o->n_queues, port, di.driver_name, di.max_rx_queues, di.max_tx_queues);
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    rc = rte_eth_dev_configure(port, o->n_queues, o->n_queues, &conf);
    if (rc < 0)
        return wm_nic_error(rc, "cannot configure DPDK port %u (%s): %s", port, di.driver_name,
                            rte_strerror(-rc));
    uint16_t nb_rxd = (uint16_t)(o->ring_size ? o->ring_size : 1024), nb_txd = nb_rxd;
    rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    if (rc < 0)
        return wm_nic_error(rc, "DPDK port %u refused %u descriptors: %s", port, nb_rxd,
                            rte_strerror(-rc));
    /* In the rings, with the caller, in flight, and in the per-lcore caches. */
    uint32_t n_mbufs = o->n_queues * (nb_rxd + nb_txd + o->n_buffers + MAX_BURST) + 512;
    uint32_t pow = 1;
    while (pow < n_mbufs + 1)
        pow <<= 1;
    char name[RTE_MEMPOOL_NAMESIZE];
    snprintf(name, sizeof name, "wm_mbufs_%u", port);
    int socket = rte_eth_dev_socket_id(port);
    ps->pool = rte_pktmbuf_pool_create(name, pow - 1, 256, 0,
                                       (uint16_t)(RTE_PKTMBUF_HEADROOM + o->buf_size),
                                       socket < 0 ? (int)rte_socket_id() : socket);
    if (ps->pool == NULL)
        return wm_nic_error(-rte_errno, "cannot create a pool of %u mbufs of %u bytes: %s (give "
                            "the EAL more memory: -m, or hugepages)", pow - 1,
                            RTE_PKTMBUF_HEADROOM + o->buf_size, rte_strerror(rte_errno));
    for (uint16_t i = 0; i < o->n_queues; i++) {
        rc = rte_eth_rx_queue_setup(port, i, nb_rxd, (unsigned)socket, NULL, ps->pool);
        if (rc == 0)
            rc = rte_eth_tx_queue_setup(port, i, nb_txd, (unsigned)socket, NULL);
        if (rc < 0) {
            rte_mempool_free(ps->pool);
            ps->pool = NULL;
            return wm_nic_error(rc, "cannot set up queue %u of DPDK port %u (%s): %s", i, port,
                                di.driver_name, rte_strerror(-rc));
        }
    }
    rc = rte_eth_dev_start(port);
    if (rc < 0) {
        rte_eth_dev_close(port);
        rte_mempool_free(ps->pool);
        ps->pool = NULL;
        return wm_nic_error(rc, "cannot start DPDK port %u (%s): %s", port, di.driver_name,
                            rte_strerror(-rc));
    }
    ps->n_queues = o->n_queues;
    ps->nb_rxd = nb_rxd;
    ps->nb_txd = nb_txd;
    rte_eth_stats_reset(port);
    memset(&ps->last, 0, sizeof ps->last);
    return 0;
}

/* ---- the queue ---- */

struct dpdk_q {
    uint16_t port, queue;
    struct port_state *ps;
    struct rte_mempool *pool;
    uint32_t max_len;            /* largest frame an mbuf takes */
    struct rte_mbuf *stash[STASH];  /* received by wait, returned by the next rx_burst */
    uint32_t stash_head, stash_n;
};

static void dpdk_close(struct wm_nic_queue *q)
{
    struct dpdk_q *d = q->priv;
    if (d == NULL)
        return;
    for (uint32_t i = 0; i < d->stash_n; i++)
        rte_pktmbuf_free(d->stash[(d->stash_head + i) % STASH]);
    pthread_mutex_lock(&lock);
    if (d->ps) {
        d->ps->open_queues &= ~(1ull << d->queue);
        if (--d->ps->refs == 0) {
            rte_eth_dev_stop(d->port);
            rte_eth_dev_close(d->port);
            rte_mempool_free(d->ps->pool);
            memset(d->ps, 0, sizeof *d->ps);
        }
    }
    pthread_mutex_unlock(&lock);
    free(d);
    q->priv = NULL;
}

static int dpdk_open(struct wm_nic_queue *q)
{
    const struct wm_nic_opts *o = &q->opts;
    if (o->n_queues > 64)
        return wm_nic_error(-EINVAL, "%u queues: at most 64", o->n_queues);
    if (o->ring_size > 32768)
        return wm_nic_error(-EINVAL, "ring_size %u: at most 32768", o->ring_size);
    struct dpdk_q *d = calloc(1, sizeof *d);
    if (d == NULL)
        return wm_nic_error(-ENOMEM, "out of memory");
    q->priv = d;
    pthread_mutex_lock(&lock);
    int rc = eal_up(o);
    uint16_t port = 0;
    if (rc == 0)
        rc = find_port(o, &port);
    struct port_state *ps = &ports[port];
    if (rc == 0 && ps->refs == 0) {
        rc = port_setup(o, port, ps);
    } else if (rc == 0) {
        if (ps->n_queues != o->n_queues)
            rc = wm_nic_error(-EINVAL, "DPDK port %u is set up with %u queues, not %u", port,
                              ps->n_queues, o->n_queues);
        else if (ps->open_queues & (1ull << o->queue))
            rc = wm_nic_error(-EBUSY, "queue %u of DPDK port %u is already open", o->queue, port);
    }
    if (rc == 0) {
        ps->refs++;
        ps->open_queues |= 1ull << o->queue;
        d->ps = ps;
    }
    pthread_mutex_unlock(&lock);
    if (rc < 0) {
        dpdk_close(q);
        return rc;
    }
    d->port = port;
    d->queue = o->queue;
    d->pool = ps->pool;
    d->max_len = rte_pktmbuf_data_room_size(ps->pool) - RTE_PKTMBUF_HEADROOM;

    struct rte_eth_dev_info di;
    char name[RTE_ETH_NAME_MAX_LEN] = "?";
    rte_eth_dev_info_get(port, &di);
    rte_eth_dev_get_name_by_port(port, name);
    const char *bus = di.device ? rte_bus_name(rte_dev_bus(di.device)) : "?";
    /* A physical (PCI) NIC writes into the mbufs; virtual devices copy into them. */
    q->info.zero_copy_rx = bus && strcmp(bus, "pci") == 0;
    q->info.zero_copy_tx = 0;    /* transmit copies into an mbuf */
    q->info.umem_hugepages = rte_eal_has_hugepages() ? 1 : 0;
    q->info.dpdk_port = port;
    q->info.flags = o->flags;
    q->info.n_buffers = rte_mempool_avail_count(ps->pool) + rte_mempool_in_use_count(ps->pool);
    q->info.buf_size = d->max_len;
    if ((o->flags & WM_NIC_O_HUGEPAGES) && !rte_eal_has_hugepages()) {
        dpdk_close(q);
        return wm_nic_error(-EINVAL, "the hugepages option is set but the EAL runs without "
                            "hugepages (--no-huge): give it hugepages or drop the option");
    }
    snprintf(q->info.mode, sizeof q->info.mode,
             "dpdk port %u %s (driver %s, bus %s), rx/tx descriptors %u/%u, %u mbufs, %s", port,
             name, di.driver_name, bus ? bus : "?", ps->nb_rxd, ps->nb_txd, q->info.n_buffers,
             rte_eal_has_hugepages() ? "hugepages" : "no hugepages");
    return 0;
}

static inline uint32_t fill_descs(struct wm_nic_queue *q, struct dpdk_q *d, struct rte_mbuf **m,
                                  uint32_t got, struct wm_nic_pkt *pkts)
{
    uint64_t now = wm_clock_ticks(q->clk), bytes = 0;
    uint32_t out = 0;
    for (uint32_t i = 0; i < got; i++) {
        if (WM_UNLIKELY(m[i]->nb_segs != 1)) {
            nic_count(q, WM_NIC_DROP_TRUNCATED, 1);
            rte_pktmbuf_free(m[i]);
            continue;
        }
        struct wm_nic_pkt *p = &pkts[out++];
        p->data = rte_pktmbuf_mtod(m[i], uint8_t *);
        p->len = m[i]->data_len;
        p->kind = WM_NIC_PKT_L2;
        p->queue = d->queue;
        p->src_addr = p->dst_addr = 0;
        p->src_port = p->dst_port = 0;
        p->reserved = 0;
        p->rx_ticks = now;
        p->handle = (uint64_t)(uintptr_t)m[i];
        bytes += p->len;
    }
    if (out) {
        nic_count(q, WM_NIC_RX_PACKETS, out);
        nic_count(q, WM_NIC_RX_BYTES, bytes);
        nic_count(q, WM_NIC_RX_BURSTS, 1);
    }
    return out;
}

static int dpdk_rx_burst(struct wm_nic_queue *q, struct wm_nic_pkt *pkts, uint32_t n)
{
    struct dpdk_q *d = q->priv;
    struct rte_mbuf *m[MAX_BURST];
    if (n > MAX_BURST)
        n = MAX_BURST;
    uint32_t got = 0;
    while (d->stash_n && got < n) {
        m[got++] = d->stash[d->stash_head];
        d->stash_head = (d->stash_head + 1) % STASH;
        d->stash_n--;
    }
    if (got < n)
        got += rte_eth_rx_burst(d->port, d->queue, m + got, (uint16_t)(n - got));
    if (got == 0)
        return 0;
    return (int)fill_descs(q, d, m, got, pkts);
}

static void dpdk_rx_release(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    struct rte_mbuf *m[64];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (WM_UNLIKELY(pkts[i].handle == 0 || pkts[i].kind != WM_NIC_PKT_L2)) {
            nic_count(q, WM_NIC_RX_ERRORS, 1);   /* not a received mbuf */
            continue;
        }
        m[k++] = (struct rte_mbuf *)(uintptr_t)pkts[i].handle;
        if (k == 64) {
            rte_pktmbuf_free_bulk(m, k);
            k = 0;
        }
    }
    if (k)
        rte_pktmbuf_free_bulk(m, k);
}

static int dpdk_tx_burst(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    struct dpdk_q *d = q->priv;
    struct rte_mbuf *m[64];
    uint32_t done = 0;
    while (done < n) {
        /* Bad descriptors at the front are consumed and counted. */
        const struct wm_nic_pkt *p = &pkts[done];
        if (WM_UNLIKELY(p->kind != WM_NIC_PKT_L2)) {
            nic_count(q, WM_NIC_TX_DROP_BAD_KIND, 1);
            done++;
            continue;
        }
        if (WM_UNLIKELY(p->len > d->max_len || p->len < 14)) {
            nic_count(q, WM_NIC_TX_DROP_OVERSIZED, 1);
            done++;
            continue;
        }
        /* A run of good ones. */
        uint32_t k = 0;
        while (done + k < n && k < 64) {
            const struct wm_nic_pkt *r = &pkts[done + k];
            if (r->kind != WM_NIC_PKT_L2 || r->len > d->max_len || r->len < 14)
                break;
            k++;
        }
        if (rte_pktmbuf_alloc_bulk(d->pool, m, k) != 0) {
            nic_count(q, WM_NIC_TX_RING_FULL, 1);   /* pool empty: try again later */
            break;
        }
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < k; i++) {
            const struct wm_nic_pkt *r = &pkts[done + i];
            char *dst = rte_pktmbuf_append(m[i], (uint16_t)r->len);
            memcpy(dst, r->data, r->len);
            bytes += r->len;
        }
        uint16_t sent = rte_eth_tx_burst(d->port, d->queue, m, (uint16_t)k);
        if (sent) {
            for (uint32_t i = sent; i < k; i++)
                bytes -= pkts[done + i].len;
            nic_count(q, WM_NIC_TX_PACKETS, sent);
            nic_count(q, WM_NIC_TX_BYTES, bytes);
            nic_count(q, WM_NIC_TX_COMPLETIONS, sent);
        }
        done += sent;
        if (sent < k) {
            rte_pktmbuf_free_bulk(m + sent, k - sent);
            nic_count(q, WM_NIC_TX_RING_FULL, 1);
            break;
        }
    }
    return (int)done;
}

static int dpdk_flush(struct wm_nic_queue *q)
{
    struct dpdk_q *d = q->priv;
    if (d->queue != 0)
        return 0;
    struct rte_eth_stats st;
    int rc = rte_eth_stats_get(d->port, &st);
    if (rc < 0)
        return rc;
    struct rte_eth_stats *l = &d->ps->last;
    nic_count(q, WM_NIC_DROP_RX_RING_FULL, st.imissed - l->imissed);
    nic_count(q, WM_NIC_DROP_NO_MBUF, st.rx_nombuf - l->rx_nombuf);
    nic_count(q, WM_NIC_RX_ERRORS, st.ierrors - l->ierrors);
    nic_count(q, WM_NIC_TX_ERRORS, st.oerrors - l->oerrors);
    *l = st;
    return 0;
}

static int dpdk_wait(struct wm_nic_queue *q, uint32_t timeout_us)
{
    struct dpdk_q *d = q->priv;
    struct timespec t0, t, nap = { 0, 20000 };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (d->stash_n)
            return 1;
        uint32_t tail = (d->stash_head + d->stash_n) % STASH;
        uint32_t room = STASH - tail < STASH - d->stash_n ? STASH - tail : STASH - d->stash_n;
        uint16_t got = rte_eth_rx_burst(d->port, d->queue, d->stash + tail, (uint16_t)room);
        d->stash_n += got;
        if (got)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &t);
        int64_t us = (t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000;
        if (us >= (int64_t)timeout_us)
            return 0;
        nanosleep(&nap, NULL);
    }
}

static int dpdk_xstats(struct wm_nic_queue *q, struct wm_nic_xstat *out, uint32_t n)
{
    struct dpdk_q *d = q->priv;
    int total = rte_eth_xstats_get_names(d->port, NULL, 0);
    if (total < 0)
        return total;
    if (n == 0 || total == 0)
        return total;
    struct rte_eth_xstat_name *names = calloc((size_t)total, sizeof *names);
    struct rte_eth_xstat *vals = calloc((size_t)total, sizeof *vals);
    int rc = -ENOMEM;
    if (names && vals) {
        rc = rte_eth_xstats_get_names(d->port, names, (unsigned)total);
        if (rc >= 0)
            rc = rte_eth_xstats_get(d->port, vals, (unsigned)total);
        if (rc > 0) {
            int m = rc < total ? rc : total;
            for (int i = 0; i < m && (uint32_t)i < n; i++) {
                uint64_t id = vals[i].id < (uint64_t)total ? vals[i].id : 0;
                snprintf(out[i].name, sizeof out[i].name, "%s", names[id].name);
                out[i].value = vals[i].value;
            }
        }
    }
    free(names);
    free(vals);
    return rc;
}

const struct wm_nic_ops wm_nic_dpdk_plugin_ops;
const struct wm_nic_ops wm_nic_dpdk_plugin_ops = {
    .name = "dpdk",
    .flags = WM_NIC_DPDK_FLAGS,
    .open = dpdk_open,
    .close = dpdk_close,
    .rx_burst = dpdk_rx_burst,
    .rx_release = dpdk_rx_release,
    .tx_burst = dpdk_tx_burst,
    .flush = dpdk_flush,
    .wait = dpdk_wait,
    .xstats = dpdk_xstats,
};
