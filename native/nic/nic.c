/* The backend table, option normalisation, statistics and the dispatching
 * entry points of wirematch/nic.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include "nic/nic_backend.h"

#ifndef SO_MEMINFO
#  define SO_MEMINFO 55
#endif

static const struct wm_nic_ops *const backends[] = {
    &wm_nic_io_uring_ops,
    &wm_nic_socket_ops,
    &wm_nic_pcap_ops,
    &wm_nic_af_xdp_ops,
    &wm_nic_dpdk_ops,
};
#define N_BACKENDS (sizeof backends / sizeof backends[0])

static const char *const counter_names[] = { WM_NIC_COUNTERS(WM_COUNTER_NAME) };

static __thread char last_error[768];

int wm_nic_error(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return rc;
}

const char *wm_nic_last_error(void)
{
    return last_error;
}

uint32_t wm_nic_backend_count(void)
{
    return N_BACKENDS;
}

const char *wm_nic_backend_name(uint32_t index)
{
    return index < N_BACKENDS ? backends[index]->name : NULL;
}

const char *const *wm_nic_counter_names(void)
{
    return counter_names;
}

static const char *const flag_names[] = {
    "sqpoll", "defer_taskrun", "coop_taskrun", "napi", "send_zc",
    "no_addr", "pace", "loop", "l4", "busy_poll",
    "xdp_skb", "xdp_native", "zero_copy", "copy", "hugepages",
};

static int normalise(const struct wm_nic_ops *ops, const struct wm_nic_opts *in,
                     struct wm_nic_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sqpoll_cpu = -1;
    if (in != NULL) {
        if (in->size < offsetof(struct wm_nic_opts, flags) + sizeof in->flags)
            return wm_nic_error(-EINVAL, "wm_nic_opts.size is %u: set it to sizeof(struct wm_nic_opts)",
                                in->size);
        memcpy(o, in, in->size < sizeof *o ? in->size : sizeof *o);
        if (in->size < offsetof(struct wm_nic_opts, sqpoll_cpu) + sizeof in->sqpoll_cpu)
            o->sqpoll_cpu = -1;
    }
    o->size = sizeof *o;
    uint32_t unknown = o->flags & ~ops->flags;
    if (unknown) {
        for (uint32_t b = 0; b < sizeof flag_names / sizeof flag_names[0]; b++)
            if (unknown & (1u << b))
                return wm_nic_error(-EOPNOTSUPP, "the %s backend has no option %s", ops->name,
                                    flag_names[b]);
        return wm_nic_error(-EINVAL, "unknown option flags 0x%x", unknown);
    }
    if (o->n_queues == 0)
        o->n_queues = 1;
    if (o->queue >= o->n_queues)
        return wm_nic_error(-EINVAL, "queue %u out of range: %u queues", o->queue, o->n_queues);
    if (o->burst == 0)
        o->burst = 32;
    if (o->n_buffers == 0)
        o->n_buffers = 1024;
    if (o->n_buffers & (o->n_buffers - 1) || o->n_buffers > 32768)
        return wm_nic_error(-EINVAL, "n_buffers %u: a power of two up to 32768", o->n_buffers);
    if (o->buf_size == 0)
        o->buf_size = 2048;
    if (o->buf_size < 64 || o->buf_size > 65536)
        return wm_nic_error(-EINVAL, "buf_size %u: between 64 and 65536 bytes", o->buf_size);
    if (o->tx_slots == 0)
        o->tx_slots = 256;
    if (o->tx_slots > 32768)
        return wm_nic_error(-EINVAL, "tx_slots %u: at most 32768", o->tx_slots);
    if (o->sqpoll_idle_ms == 0)
        o->sqpoll_idle_ms = 1000;
    if (o->napi_busy_poll_us == 0)
        o->napi_busy_poll_us = 50;
    if (o->zc_min_len == 0)
        o->zc_min_len = 4096;
    if (o->ring_size & (o->ring_size - 1) || o->ring_size > 32768)
        return wm_nic_error(-EINVAL, "ring_size %u: a power of two up to 32768", o->ring_size);
    if (o->eal_argc && o->eal_argv == NULL)
        return wm_nic_error(-EINVAL, "eal_argc is %u but eal_argv is NULL", o->eal_argc);
    return 0;
}

int wm_nic_open(const char *name, const struct wm_nic_opts *opts, struct wm_nic_queue **out)
{
    const struct wm_nic_ops *ops = NULL;
    int rc;

    last_error[0] = '\0';
    if (name == NULL || out == NULL)
        return wm_nic_error(-EINVAL, "wm_nic_open needs a backend name and an output pointer");
    for (size_t i = 0; i < N_BACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0)
            ops = backends[i];
    if (ops == NULL)
        return wm_nic_error(-ENOENT, "no NIC backend named '%s' (have io_uring, socket, pcap, "
                            "af_xdp, dpdk)", name);

    struct wm_nic_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return wm_nic_error(-ENOMEM, "out of memory");
    q->ops = ops;
    rc = normalise(ops, opts, &q->opts);
    if (rc < 0)
        goto err_free;

    if (q->opts.counters != NULL) {
        q->counters = q->opts.counters;
        if (wm_counters_check(q->counters, wm_counters_memsize(WM_NIC_N_COUNTERS)) < 0 ||
            q->counters->n != WM_NIC_N_COUNTERS ||
            strcmp(wm_counters_name(q->counters, 0), counter_names[0]) != 0) {
            rc = wm_nic_error(-EINVAL, "opts.counters is not a block of the NIC counters");
            goto err_free;
        }
    } else {
        rc = wm_counters_create(counter_names, WM_NIC_N_COUNTERS, &q->own_counters);
        if (rc < 0) {
            wm_nic_error(rc, "cannot allocate the statistics block");
            goto err_free;
        }
        q->counters = q->own_counters;
    }
    q->ctr = wm_counters_values(q->counters);
    q->clk = wm_clock_default();
    q->stats_every = q->clk->tsc_hz ? q->clk->tsc_hz / (1000000 / WM_NIC_STATS_BEAT_US) : 0;

    snprintf(q->info.backend, sizeof q->info.backend, "%s", ops->name);
    q->info.queue = q->opts.queue;
    q->info.n_queues = q->opts.n_queues;
    q->info.n_buffers = q->opts.n_buffers;
    q->info.buf_size = q->opts.buf_size;
    q->info.fd = -1;
    q->info.dpdk_port = -1;
    rc = ops->open(q);
    if (rc < 0)
        goto err_counters;
    *out = q;
    return 0;

err_counters:
    wm_counters_destroy(q->own_counters);
err_free:
    free(q);
    return rc;
}

void wm_nic_close(struct wm_nic_queue *q)
{
    if (q == NULL)
        return;
    q->ops->close(q);
    wm_counters_destroy(q->own_counters);
    free(q);
}

int wm_nic_rx_burst(struct wm_nic_queue *q, struct wm_nic_pkt *pkts, uint32_t n)
{
    return q->ops->rx_burst(q, pkts, n);
}

void wm_nic_rx_release(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    if (n)
        q->ops->rx_release(q, pkts, n);
}

int wm_nic_tx_burst(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    return n ? q->ops->tx_burst(q, pkts, n) : 0;
}

int wm_nic_flush(struct wm_nic_queue *q)
{
    int rc = q->ops->flush(q);
    if (q->ops->fold_stats) {
        uint64_t now = wm_tsc();
        if (now >= q->stats_due) {
            q->ops->fold_stats(q);
            q->stats_due = now + q->stats_every;
        }
    }
    return rc;
}

int wm_nic_sync_stats(struct wm_nic_queue *q)
{
    if (q == NULL)
        return -EINVAL;
    if (q->ops->fold_stats) {
        q->ops->fold_stats(q);
        q->stats_due = wm_tsc() + q->stats_every;
    }
    return 0;
}

int wm_nic_wait(struct wm_nic_queue *q, uint32_t timeout_us)
{
    return q->ops->wait(q, timeout_us);
}

int wm_nic_info(const struct wm_nic_queue *q, struct wm_nic_info *info)
{
    if (q == NULL || info == NULL)
        return -EINVAL;
    *info = q->info;
    return 0;
}

struct wm_counters *wm_nic_counters(struct wm_nic_queue *q)
{
    return q->counters;
}

int wm_nic_xstats(struct wm_nic_queue *q, struct wm_nic_xstat *out, uint32_t n)
{
    if (q == NULL || (out == NULL && n))
        return -EINVAL;
    return q->ops->xstats ? q->ops->xstats(q, out, n) : 0;
}

void wm_nic_fold_socket_drops(struct wm_nic_queue *q, int fd, uint32_t *last)
{
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t len = sizeof mem;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0 ||
        len <= SK_MEMINFO_DROPS * sizeof(uint32_t))
        return;
    uint32_t delta = mem[SK_MEMINFO_DROPS] - *last; /* a wrapping u32 */
    if (delta) {
        nic_count(q, WM_NIC_DROP_SOCKET_FULL, delta);
        *last = mem[SK_MEMINFO_DROPS];
    }
}
