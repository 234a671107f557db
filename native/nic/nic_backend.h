/* nic_backend.h - what a backend implements, and what the core gives it.
 *
 * Each backend is one `struct wm_nic_ops` (a vtable) listed in nic.c's
 * table.  The core validates and normalises the options (defaults filled
 * in, flags the backend does not list in `flags` rejected), owns the queue
 * struct and the counter block, and calls `open` with `q->opts` ready.
 */
#ifndef WM_NIC_BACKEND_H
#define WM_NIC_BACKEND_H

#include <netinet/in.h>

#include "wirematch/clock.h"
#include "wirematch/counters.h"
#include "wirematch/nic.h"

struct wm_nic_ops {
    const char *name;
    uint32_t flags;              /* enum wm_nic_opt_flag this backend implements */
    int (*open)(struct wm_nic_queue *q);
    void (*close)(struct wm_nic_queue *q);
    int (*rx_burst)(struct wm_nic_queue *q, struct wm_nic_pkt *pkts, uint32_t n);
    void (*rx_release)(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n);
    int (*tx_burst)(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n);
    int (*flush)(struct wm_nic_queue *q);
    /* optional: fold the kernel's own counts (a system call) into the
     * counters; called by wm_nic_flush at most every WM_NIC_STATS_BEAT_US,
     * by wm_nic_sync_stats at once, and by the backend's close */
    void (*fold_stats)(struct wm_nic_queue *q);
    int (*wait)(struct wm_nic_queue *q, uint32_t timeout_us);
    /* optional (NULL: none): name/value statistics read now, see wm_nic_xstats */
    int (*xstats)(struct wm_nic_queue *q, struct wm_nic_xstat *out, uint32_t n);
};

struct wm_nic_queue {
    const struct wm_nic_ops *ops;
    void *priv;                  /* the backend's state */
    uint64_t *ctr;               /* counter values (the block's array) */
    struct wm_counters *counters;
    struct wm_counters *own_counters;  /* allocated by the core, or NULL */
    const struct wm_clock *clk;
    struct wm_nic_opts opts;     /* normalised copy; strings not owned */
    struct wm_nic_info info;     /* filled by the backend's open */
    uint64_t stats_due;          /* TSC after which wm_nic_flush folds stats */
    uint64_t stats_every;        /* WM_NIC_STATS_BEAT_US in TSC ticks */
};

/* How often the flush beat folds the kernel's statistics: a flush on every
 * idle turn of a worker must not cost a system call each (one would delay
 * the next packet by ~0.5-1 us on this VM). */
#define WM_NIC_STATS_BEAT_US 1000

extern const struct wm_nic_ops wm_nic_socket_ops;
extern const struct wm_nic_ops wm_nic_io_uring_ops;
extern const struct wm_nic_ops wm_nic_pcap_ops;
extern const struct wm_nic_ops wm_nic_af_xdp_ops;
extern const struct wm_nic_ops wm_nic_dpdk_ops;   /* loads libwirematch_dpdk.so on open */

/* The flags the DPDK backend implements (the shim and the plugin agree). */
#define WM_NIC_DPDK_FLAGS (WM_NIC_O_HUGEPAGES)

/* Record the sentence wm_nic_last_error() returns; returns rc (negative). */
int wm_nic_error(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Single writer: the queue's thread (relaxed load + store, as counters.h). */
static inline void nic_count(struct wm_nic_queue *q, uint32_t idx, uint64_t delta)
{
    uint64_t *v = q->ctr + idx;
    __atomic_store_n(v, __atomic_load_n(v, __ATOMIC_RELAXED) + delta, __ATOMIC_RELAXED);
}

/* Shared by the socket backends (nic_sock.c). */
int wm_nic_udp_socket(struct wm_nic_queue *q, int *fd_out);
/* Fold a UDP socket's cumulative drop count (sk_drops, read with SO_MEMINFO)
 * into drop_socket_full; *last holds the count already folded.  Called on
 * the control beat (flush) and at close, never per packet. */
void wm_nic_fold_socket_drops(struct wm_nic_queue *q, int fd, uint32_t *last);

#endif
