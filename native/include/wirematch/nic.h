/* wirematch/nic.h - one interface for every packet I/O backend.
 *
 * A queue is opened by backend name (wm_nic_open("io_uring", &opts, &q)) and
 * then used from one thread:
 *
 *   n = wm_nic_rx_burst(q, pkts, 32);     descriptors into the backend's own
 *   ... parse pkts[i].data in place ...    buffers (no copy)
 *   wm_nic_rx_release(q, pkts, n);         hand the buffers back
 *   wm_nic_tx_burst(q, out, m);            queue replies
 *
 * A descriptor is either a UDP payload (kind WM_NIC_PKT_L4: socket backends,
 * with the addresses and ports filled in) or a whole Ethernet frame (kind
 * WM_NIC_PKT_L2: pcap files, AF_XDP and DPDK).  Addresses and ports are in
 * network byte order, as on the wire.
 *
 * Every backend reports what it actually got (wm_nic_info: mode, zero-copy
 * or copy, queue count, the options in force).  A requested option the
 * backend cannot provide makes wm_nic_open fail with a sentence in
 * wm_nic_last_error(); nothing degrades silently.
 *
 * Per-queue statistics are a counter block (wirematch/counters.h) with one
 * writer, the queue's thread; the names are WM_NIC_COUNTERS below.  The
 * block can live in caller memory (opts.counters, e.g. a shared region).
 */
#ifndef WIREMATCH_NIC_H
#define WIREMATCH_NIC_H

#include "wirematch/common.h"
#include "wirematch/counters.h"

struct wm_nic_queue;             /* opaque */

/* Descriptor kinds. */
enum wm_nic_pkt_kind {
    WM_NIC_PKT_L4 = 1,           /* data = UDP payload; addresses/ports valid */
    WM_NIC_PKT_L2 = 2            /* data = Ethernet frame */
};

struct wm_nic_pkt {
    uint8_t *data;               /* start of the frame (L2) or payload (L4) */
    uint32_t len;                /* bytes at data */
    uint16_t kind;               /* enum wm_nic_pkt_kind */
    uint16_t queue;              /* receiving queue id */
    uint32_t src_addr;           /* IPv4, network order (L4; 0 for L2) */
    uint32_t dst_addr;           /* IPv4, network order (L4) */
    uint16_t src_port;           /* network order (L4) */
    uint16_t dst_port;           /* network order (L4) */
    uint32_t reserved;
    uint64_t rx_ticks;           /* wm_clock_ticks() when the burst was reaped */
    uint64_t handle;             /* backend-private: buffer id, UMEM address, mbuf */
};

/* Option flags (wm_nic_opts.flags).  A backend that does not implement a
 * requested flag fails wm_nic_open with -EOPNOTSUPP. */
enum wm_nic_opt_flag {
    WM_NIC_O_SQPOLL          = 1 << 0,  /* io_uring: kernel submission thread (sqpoll_cpu) */
    WM_NIC_O_DEFER_TASKRUN   = 1 << 1,  /* io_uring: completions run when reaped */
    WM_NIC_O_COOP_TASKRUN    = 1 << 2,  /* io_uring: no IPI to run completions */
    WM_NIC_O_NAPI            = 1 << 3,  /* io_uring: NAPI busy poll (napi_busy_poll_us) */
    WM_NIC_O_SEND_ZC         = 1 << 4,  /* io_uring: zero-copy send from zc_min_len bytes */
    WM_NIC_O_NO_ADDR         = 1 << 5,  /* io_uring: multishot recv, addresses not wanted */
    WM_NIC_O_PACE            = 1 << 6,  /* pcap: deliver at the recorded pace */
    WM_NIC_O_LOOP            = 1 << 7,  /* pcap: start over at the end of the file */
    WM_NIC_O_L4              = 1 << 8,  /* pcap: deliver UDP payloads (to opts.port if set) */
    WM_NIC_O_BUSY_POLL       = 1 << 9,  /* socket, af_xdp: SO_BUSY_POLL (napi_busy_poll_us);
                                           af_xdp adds SO_PREFER_BUSY_POLL + budget */
    WM_NIC_O_XDP_SKB         = 1 << 10, /* af_xdp: attach in SKB (generic) mode */
    WM_NIC_O_XDP_NATIVE      = 1 << 11, /* af_xdp: native (driver) mode or fail */
    WM_NIC_O_ZERO_COPY       = 1 << 12, /* af_xdp: zero-copy or fail */
    WM_NIC_O_COPY            = 1 << 13, /* af_xdp: copy mode even where zero-copy exists */
    WM_NIC_O_HUGEPAGES       = 1 << 14  /* af_xdp: UMEM in hugepages or fail (default: when
                                           free hugepages exist) */
};

/* AF_XDP fill-ring refill policy (wm_nic_opts.fill_policy).  Either way the
 * fill ring holds every receive frame the caller does not hold, give or take
 * one burst's worth waiting (batched) until the next rx_burst. */
enum wm_nic_fill_policy {
    WM_NIC_FILL_ON_RELEASE = 0,  /* rx_release puts frames straight back */
    WM_NIC_FILL_BATCHED    = 1   /* released frames wait; rx_burst refills them in one
                                    producer update once a burst's worth is free, or
                                    when the rx ring is empty */
};

/* XDP attach modes, as read back from the kernel. */
enum wm_nic_xdp_mode {
    WM_NIC_XDP_NONE   = 0,
    WM_NIC_XDP_NATIVE = 1,       /* driver mode */
    WM_NIC_XDP_SKB    = 2,       /* generic mode */
    WM_NIC_XDP_HW     = 3        /* offloaded */
};

struct wm_nic_opts {
    uint32_t size;               /* sizeof(struct wm_nic_opts) the caller was built with */
    uint32_t flags;              /* enum wm_nic_opt_flag */
    const char *ifname;          /* bind to this interface (SO_BINDTODEVICE), or NULL */
    const char *addr;            /* local IPv4 address to bind ("10.199.0.1"); NULL = any */
    uint16_t port;               /* local UDP port, host order; 0 = ephemeral */
    uint16_t queue;              /* this queue's id, < n_queues */
    uint16_t n_queues;           /* queues sharing the port (SO_REUSEPORT when > 1); 0 = 1 */
    uint16_t burst;              /* largest burst the caller asks for; 0 = 32 */
    uint32_t n_buffers;          /* receive buffers (power of two); 0 = 1024 */
    uint32_t buf_size;           /* bytes per buffer (largest datagram); 0 = 2048 */
    uint32_t tx_slots;           /* io_uring: sends in flight; 0 = 256 */
    uint32_t rcvbuf;             /* SO_RCVBUF bytes; 0 = system default */
    int32_t sqpoll_cpu;          /* core of the SQPOLL thread; -1 = unpinned */
    uint32_t sqpoll_idle_ms;     /* SQPOLL idle time before it sleeps; 0 = 1000 */
    uint32_t napi_busy_poll_us;  /* NAPI / SO_BUSY_POLL budget; 0 = 50 */
    uint32_t zc_min_len;         /* SEND_ZC from this payload size; 0 = 4096 */
    const char *path;            /* pcap: file to read (NULL = no receive) */
    const char *tx_path;         /* pcap: file to write transmitted packets to (NULL = none) */
    struct wm_counters *counters;/* statistics block initialised with wm_nic_counter_names,
                                    or NULL for one owned by the queue */
    /* -- AF_XDP and DPDK (appended: older callers' shorter structs get the defaults) -- */
    uint32_t fill_policy;        /* af_xdp: enum wm_nic_fill_policy */
    uint32_t busy_poll_budget;   /* af_xdp busy_poll: SO_BUSY_POLL_BUDGET; 0 = burst */
    uint32_t ring_size;          /* af_xdp rx ring / dpdk rx and tx descriptors (power of
                                    two); 0 = n_buffers (af_xdp), 1024 (dpdk) */
    uint32_t eal_argc;           /* dpdk: EAL arguments (argv[0] included), used by the
                                    first open in the process; later opens must pass
                                    the same ones or none */
    const char *const *eal_argv;
    const char *device;          /* dpdk: port by device name ("net_af_packet0",
                                    "0000:01:00.0"); NULL = the only port */
};

/* What a queue actually got. */
struct wm_nic_info {
    char backend[16];            /* "io_uring", "socket", "pcap" */
    char mode[160];              /* e.g. "multishot recvmsg, provided buffer ring, sqpoll cpu 0" */
    uint32_t zero_copy_rx;       /* 1: descriptors point where the kernel/NIC wrote */
    uint32_t zero_copy_tx;       /* 1: transmit does not copy (SEND_ZC in force) */
    uint32_t flags;              /* enum wm_nic_opt_flag actually in force */
    uint16_t queue;
    uint16_t n_queues;
    uint32_t n_buffers;
    uint32_t buf_size;
    uint32_t local_addr;         /* bound IPv4, network order (L4 backends) */
    uint16_t local_port;         /* bound port, host order (L4 backends) */
    uint16_t reserved;
    int32_t fd;                  /* pollable descriptor, or -1 */
    /* AF_XDP: read back from the kernel (bpf_xdp_query, XDP_OPTIONS) */
    uint32_t xdp_mode;           /* enum wm_nic_xdp_mode of the attached program */
    uint32_t xdp_prog_id;
    uint32_t bind_flags;         /* XDP_COPY 2, XDP_ZEROCOPY 4, XDP_USE_NEED_WAKEUP 8 */
    uint32_t umem_hugepages;     /* 1: UMEM (dpdk: mbuf memory) in hugepages */
    uint32_t stale_prog_id;      /* a crashed run's program replaced at open, or 0 */
    int32_t dpdk_port;           /* dpdk port id, or -1 */
};

/* Per-queue statistics: rx/tx totals and drops by reason. */
#define WM_NIC_COUNTERS(X)                                                         \
    X(WM_NIC_RX_PACKETS,        "rx_packets")                                      \
    X(WM_NIC_RX_BYTES,          "rx_bytes")                                        \
    X(WM_NIC_RX_BURSTS,         "rx_bursts")        /* non-empty bursts */           \
    X(WM_NIC_TX_PACKETS,        "tx_packets")       /* handed to the kernel/file */ \
    X(WM_NIC_TX_BYTES,          "tx_bytes")                                        \
    X(WM_NIC_TX_COMPLETIONS,    "tx_completions")                                  \
    X(WM_NIC_RX_REARMS,         "rx_rearms")        /* multishot receive re-armed */ \
    X(WM_NIC_RX_NO_BUFFERS,     "rx_no_buffers")    /* receive stalled: every buffer held */ \
    X(WM_NIC_DROP_TRUNCATED,    "drop_truncated")   /* larger than a buffer, or cut capture */ \
    X(WM_NIC_DROP_SOCKET_FULL,  "drop_socket_full") /* kernel socket queue overflowed */ \
    X(WM_NIC_DROP_NOT_UDP,      "drop_not_udp")     /* pcap L4 mode: not IPv4/UDP */   \
    X(WM_NIC_DROP_OTHER_PORT,   "drop_other_port")  /* pcap L4 mode: not to opts.port */ \
    X(WM_NIC_DROP_BAD_FRAME,    "drop_bad_frame")   /* pcap: malformed record */       \
    X(WM_NIC_RX_ERRORS,         "rx_errors")        /* receive failed with an errno */ \
    X(WM_NIC_TX_RING_FULL,      "tx_ring_full")     /* tx burst stopped: no slot */    \
    X(WM_NIC_TX_DROP_OVERSIZED, "tx_drop_oversized")                               \
    X(WM_NIC_TX_DROP_BAD_KIND,  "tx_drop_bad_kind") /* L2 frame on an L4 backend */   \
    X(WM_NIC_TX_ERRORS,         "tx_errors")        /* send failed with an errno */ \
    X(WM_NIC_DROP_RX_RING_FULL, "drop_rx_ring_full") /* af_xdp rx ring full; dpdk imissed */ \
    X(WM_NIC_DROP_KERNEL_RX,    "drop_kernel_rx")   /* af_xdp rx_dropped (no fill frame...) */ \
    X(WM_NIC_RX_FILL_RING_EMPTY,"rx_fill_ring_empty") /* af_xdp: kernel found it empty */ \
    X(WM_NIC_DROP_NO_MBUF,      "drop_no_mbuf")     /* dpdk rx_nombuf: mbuf pool empty */ \
    X(WM_NIC_RX_INVALID_DESCS,  "rx_invalid_descs") /* af_xdp: bad fill-ring address */ \
    X(WM_NIC_TX_INVALID_DESCS,  "tx_invalid_descs") /* af_xdp: bad tx descriptor */ \
    X(WM_NIC_TX_RING_EMPTY,     "tx_ring_empty")    /* af_xdp: kicked with nothing queued */ \
    X(WM_NIC_RX_WAKEUPS,        "rx_wakeups")       /* af_xdp: recvfrom (busy poll, fill) */ \
    X(WM_NIC_TX_WAKEUPS,        "tx_wakeups")       /* af_xdp: sendto kicks */ \
    X(WM_NIC_RX_CQ_OVERFLOWS,   "cq_overflows")     /* io_uring: completions flushed from the
                                                       kernel's overflow list */

enum wm_nic_counter { WM_NIC_COUNTERS(WM_COUNTER_ENUM) WM_NIC_N_COUNTERS };

/* Backends, by name.  index < wm_nic_backend_count(). */
uint32_t wm_nic_backend_count(void);
const char *wm_nic_backend_name(uint32_t index);

/* The counter names, WM_NIC_N_COUNTERS of them (for wm_counters_init). */
const char *const *wm_nic_counter_names(void);

/* Open queue opts->queue of backend `name`.  Returns 0, or -errno with a
 * sentence in wm_nic_last_error() (-ENOENT unknown backend, -EOPNOTSUPP a
 * requested option the kernel or backend lacks, -EPERM privileges, ...). */
int wm_nic_open(const char *name, const struct wm_nic_opts *opts, struct wm_nic_queue **out);
void wm_nic_close(struct wm_nic_queue *q);
const char *wm_nic_last_error(void);

/* Hot path, one thread per queue.  Never blocks.
 * rx_burst: up to n descriptors; returns the count, or -ENODATA when a
 *   finite source (pcap without loop) is exhausted, or -errno on failure.
 * rx_release: return the buffers of n received descriptors (any order).
 * tx_burst: consumes descriptors from the front; each consumed one is queued
 *   for sending (the caller's memory may be reused on return) or dropped with
 *   a counted reason.  Stops early (tx_ring_full) when no slot is free:
 *   returns the number consumed. */
int wm_nic_rx_burst(struct wm_nic_queue *q, struct wm_nic_pkt *pkts, uint32_t n);
void wm_nic_rx_release(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n);
int wm_nic_tx_burst(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n);

/* Control path: reap transmit completions and push queued sends (0 or
 * -errno), and every WM_NIC_STATS_BEAT_US (1 ms) fold the kernel's own
 * counts in (socket drops, XDP_STATISTICS); wm_nic_sync_stats folds them
 * now (the queue's thread only; close folds them too).  wm_nic_wait: wait
 * until packets may be ready or timeout_us passes (1 ready, 0 timeout,
 * -ENODATA at the end of a finite source, -errno). */
int wm_nic_flush(struct wm_nic_queue *q);
int wm_nic_sync_stats(struct wm_nic_queue *q);
int wm_nic_wait(struct wm_nic_queue *q, uint32_t timeout_us);

int wm_nic_info(const struct wm_nic_queue *q, struct wm_nic_info *info);
struct wm_counters *wm_nic_counters(struct wm_nic_queue *q);

/* Backend-specific statistics as name/value pairs, read now (control path):
 * af_xdp: the socket's XDP_STATISTICS and the interface's program counters;
 * dpdk: the port's extended statistics (rte_eth_xstats).  Returns the number
 * of pairs there are (may exceed n: only n are written), 0 for backends
 * without any, or -errno. */
struct wm_nic_xstat {
    char name[64];
    uint64_t value;
};
int wm_nic_xstats(struct wm_nic_queue *q, struct wm_nic_xstat *out, uint32_t n);

/* ---- AF_XDP: the interface's XDP program (control path) ---- */

/* What is attached to an interface now, read from the kernel. */
struct wm_nic_xdp_state {
    uint32_t native_prog_id;     /* program in driver mode, or 0 */
    uint32_t skb_prog_id;        /* program in SKB (generic) mode, or 0 */
    uint32_t hw_prog_id;
    uint32_t prog_id;            /* the one described below (wirematch's first) */
    uint32_t mode;               /* enum wm_nic_xdp_mode of prog_id */
    uint32_t ours;               /* 1: wirematch's steering program (by name) */
    int32_t owner_pid;           /* ours: the process that attached it */
    uint32_t owner_alive;        /* ours: that process still runs (else it is stale) */
    char prog_name[16];
    uint32_t local_addr;         /* ours: steered destination address (network order), 0 any */
    uint32_t n_ports;            /* ours: UDP ports steered */
    uint64_t steered;            /* ours: program counters, summed over CPUs */
    uint64_t passed;
    uint64_t dropped;
};
/* 0 and *st filled (all zero: nothing attached), or -errno (-ENODEV no such
 * interface, -EPERM without CAP_SYS_ADMIN/CAP_BPF). */
int wm_nic_xdp_query(const char *ifname, struct wm_nic_xdp_state *st);
/* Detach wirematch's program from ifname (both modes).  Refuses (-EBUSY)
 * when its owner still runs unless force, and (-EPERM) another program.
 * Returns the number of programs detached. */
int wm_nic_xdp_detach(const char *ifname, uint32_t force);
/* Steer (on=1) or stop steering (on=0) UDP destination port `port` (host
 * order) into the AF_XDP sockets of q's interface.  -EOPNOTSUPP for other
 * backends. */
int wm_nic_xdp_steer_port(struct wm_nic_queue *q, uint16_t port, uint32_t on);

#endif
