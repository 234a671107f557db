/* The io_uring backend: one UDP socket and one ring per queue.
 *
 * Receive: one multishot recvmsg (or recv, with WM_NIC_O_NO_ADDR) picking
 * buffers from a provided buffer ring that we map and register ourselves
 * (liburing 2.3 lacks io_uring_setup_buf_ring).  Each completion names the
 * buffer the kernel wrote; the descriptor points into it (no copy) until the
 * caller releases it back to the ring.  When the kernel ends the multishot
 * request (-ENOBUFS when every buffer is held, or a full completion queue)
 * it is re-armed on the next burst once buffers are back.
 *
 * Completions are reaped in batches into a small pending ring of
 * descriptors, so that reaping for transmit slots never loses a receive.
 *
 * Transmit: sendmsg (or sendmsg_zc from zc_min_len bytes) from a slot that
 * holds a copy of the caller's datagram until its completion (and, for
 * zero-copy, its notification) arrives.
 *
 * Options: SQPOLL pinned to a core, DEFER_TASKRUN (+SINGLE_ISSUER),
 * COOP_TASKRUN (+TASKRUN_FLAG), NAPI busy polling through the raw register
 * opcode (liburing 2.3 has no io_uring_register_napi).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nic/nic_backend.h"


#define REGISTER_NAPI 27          /* IORING_REGISTER_NAPI, newer than our uapi headers */
struct uring_napi {               /* struct io_uring_napi */
    uint32_t busy_poll_to;
    uint8_t prefer_busy_poll;
    uint8_t pad[3];
    uint64_t resv;
};

#define UD_RX 1ull
#define UD_TX (1ull << 63)
#define BGID 7

struct tx_slot {
    struct msghdr msg;
    struct iovec iov;
    struct sockaddr_in sa;
    uint8_t *buf;
};

struct uring_q {
    struct io_uring ring;
    bool ring_ok;
    int fd;
    uint32_t setup_flags;
    bool no_addr, zc, need_events, coop, napi;
    int fd_owner;                /* thread that registered the ring fd (0: none yet) */
    bool armed;

    /* receive buffers and their ring */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    uint32_t n_bufs, mask;
    uint32_t stride;              /* bytes per buffer */
    uint8_t *bufs;
    size_t bufs_bytes;
    uint32_t held;                /* buffers out of the ring (pending or with the caller) */
    uint32_t rearm_min;           /* buffers back in the ring before re-arming */
    struct msghdr rx_msg;         /* layout template for multishot recvmsg */
    uint32_t last_ovfl;

    /* reaped receive descriptors not yet returned by rx_burst */
    struct wm_nic_pkt *pend;
    uint32_t pend_head, pend_tail, pend_mask;

    /* transmit */
    struct tx_slot *slots;
    uint8_t *tx_bufs;
    size_t tx_bytes;
    uint32_t *tx_free;
    uint32_t n_tx_free, n_slots;
    uint32_t tx_buf_size;
    uint32_t zc_min_len;
    uint32_t unsubmitted;
};

static inline uint8_t *buf_addr(struct uring_q *u, uint32_t bid)
{
    return u->bufs + (size_t)bid * u->stride;
}

static void uring_close(struct wm_nic_queue *q)
{
    struct uring_q *u = q->priv;
    if (u == NULL)
        return;
    wm_nic_fold_socket_drops(q, u->fd, &u->last_ovfl);
    if (u->ring_ok)
        io_uring_queue_exit(&u->ring);
    if (u->fd >= 0)
        close(u->fd);
    if (u->br)
        munmap(u->br, u->br_bytes);
    if (u->bufs)
        munmap(u->bufs, u->bufs_bytes);
    if (u->tx_bufs)
        munmap(u->tx_bufs, u->tx_bytes);
    free(u->pend);
    free(u->slots);
    free(u->tx_free);
    free(u);
    q->priv = NULL;
}

static void *map_anon(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int arm_rx(struct wm_nic_queue *q)
{
    struct uring_q *u = q->priv;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (sqe == NULL) {
        io_uring_submit(&u->ring);
        u->unsubmitted = 0;
        sqe = io_uring_get_sqe(&u->ring);
        if (sqe == NULL)
            return -EBUSY;
    }
    if (u->no_addr) {
        /* MSG_TRUNC: a datagram longer than the buffer reports its real length. */
        io_uring_prep_recv_multishot(sqe, 0, NULL, 0, MSG_TRUNC);
    } else {
        io_uring_prep_recvmsg_multishot(sqe, 0, &u->rx_msg, 0);
    }
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, UD_RX);
    u->armed = true;
    u->unsubmitted++;
    nic_count(q, WM_NIC_RX_REARMS, 1);
    return 0;
}

static void recycle(struct uring_q *u, uint32_t bid)
{
    io_uring_buf_ring_add(u->br, buf_addr(u, bid), u->stride, (unsigned short)bid, u->mask, 0);
    io_uring_buf_ring_advance(u->br, 1);
    u->held--;
}

static void rx_completion(struct wm_nic_queue *q, const struct io_uring_cqe *cqe, uint64_t now)
{
    struct uring_q *u = q->priv;
    if (!(cqe->flags & IORING_CQE_F_MORE))
        u->armed = false;        /* the kernel ended the multishot: re-arm later */
    if (cqe->res < 0) {
        if (cqe->res == -ENOBUFS)
            nic_count(q, WM_NIC_RX_NO_BUFFERS, 1);
        else if (cqe->res != -ECANCELED)
            nic_count(q, WM_NIC_RX_ERRORS, 1);
        return;
    }
    if (!(cqe->flags & IORING_CQE_F_BUFFER))
        return;
    uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    uint8_t *buf = buf_addr(u, bid);
    u->held++;
    struct wm_nic_pkt *p = &u->pend[u->pend_tail & u->pend_mask];
    if (u->no_addr) {
        if (WM_UNLIKELY((uint32_t)cqe->res > u->stride)) {
            nic_count(q, WM_NIC_DROP_TRUNCATED, 1);
            recycle(u, bid);
            return;
        }
        p->data = buf;
        p->len = (uint32_t)cqe->res;
        p->src_addr = 0;
        p->src_port = 0;
    } else {
        struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &u->rx_msg);
        if (WM_UNLIKELY(o == NULL)) {
            nic_count(q, WM_NIC_RX_ERRORS, 1);
            recycle(u, bid);
            return;
        }
        if (WM_UNLIKELY(o->flags & MSG_TRUNC)) {
            nic_count(q, WM_NIC_DROP_TRUNCATED, 1);
            recycle(u, bid);
            return;
        }
        const struct sockaddr_in *sa = io_uring_recvmsg_name(o);
        p->data = io_uring_recvmsg_payload(o, &u->rx_msg);
        p->len = io_uring_recvmsg_payload_length(o, cqe->res, &u->rx_msg);
        p->src_addr = sa->sin_addr.s_addr;
        p->src_port = sa->sin_port;
    }
    p->kind = WM_NIC_PKT_L4;
    p->queue = q->info.queue;
    p->dst_addr = q->info.local_addr;
    p->dst_port = htons(q->info.local_port);
    p->reserved = 0;
    p->rx_ticks = now;
    p->handle = bid;
    u->pend_tail++;
}

static void tx_completion(struct wm_nic_queue *q, const struct io_uring_cqe *cqe)
{
    struct uring_q *u = q->priv;
    uint32_t slot = (uint32_t)(cqe->user_data & 0xffffffffu);
    if (cqe->flags & IORING_CQE_F_NOTIF) {
        /* zero-copy: the kernel is done with the slot's memory now */
        u->tx_free[u->n_tx_free++] = slot;
        return;
    }
    if (cqe->res < 0)
        nic_count(q, WM_NIC_TX_ERRORS, 1);
    else
        nic_count(q, WM_NIC_TX_COMPLETIONS, 1);
    if (!(cqe->flags & IORING_CQE_F_MORE))
        u->tx_free[u->n_tx_free++] = slot;
}

/* Reap every available completion: one CQ head update per batch. */
static uint32_t reap(struct wm_nic_queue *q)
{
    struct uring_q *u = q->priv;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    uint64_t now = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe) {
        if (cqe->user_data & UD_TX) {
            tx_completion(q, cqe);
        } else {
            if (now == 0)
                now = wm_clock_ticks(q->clk);
            rx_completion(q, cqe, now);
        }
        seen++;
    }
    if (seen)
        io_uring_cq_advance(&u->ring, seen);
    return seen;
}

static inline void maybe_rearm(struct wm_nic_queue *q)
{
    struct uring_q *u = q->priv;
    if (!u->armed && u->n_bufs - u->held >= u->rearm_min)
        arm_rx(q);
}

static inline void submit_pending(struct uring_q *u)
{
    if (u->unsubmitted) {
        io_uring_submit(&u->ring);
        u->unsubmitted = 0;
    }
}

/* The queue's thread registers the ring fd on first use (saves an fd lookup
 * per io_uring_enter); another thread using the queue unregisters it. */
static __thread int this_tid;

static inline void own_ring(struct uring_q *u)
{
    if (WM_UNLIKELY(this_tid == 0))
        this_tid = (int)syscall(SYS_gettid);
    if (WM_LIKELY(u->fd_owner == this_tid || u->fd_owner < 0))
        return;
    if (u->fd_owner > 0)
        io_uring_unregister_ring_fd(&u->ring);
    /* -1 when registration fails: the plain fd from then on. */
    u->fd_owner = io_uring_register_ring_fd(&u->ring) == 1 ? this_tid : -1;
}

static int uring_rx_burst(struct wm_nic_queue *q, struct wm_nic_pkt *pkts, uint32_t n)
{
    struct uring_q *u = q->priv;
    own_ring(u);
    if (u->pend_head == u->pend_tail) {
        maybe_rearm(q);
        submit_pending(u);
        if (WM_UNLIKELY(IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)) {
            /* Completions the full CQ could not take wait in the kernel's
             * overflow list until an io_uring_enter flushes them. */
            nic_count(q, WM_NIC_RX_CQ_OVERFLOWS, 1);
            io_uring_get_events(&u->ring);
        }
        uint32_t reaped = reap(q);
        if (reaped == 0 && u->napi) {
            /* NAPI busy polling happens only in a waiting io_uring_enter:
             * one wait of 1 us, in which the kernel polls the socket's NAPI
             * context for up to napi_busy_poll_us or until a completion. */
            struct __kernel_timespec ts = { 0, 1000 };
            struct io_uring_cqe *cqe;
            io_uring_wait_cqes(&u->ring, &cqe, 1, &ts, NULL);
            reap(q);
        } else if (reaped == 0 && u->need_events) {
            /* DEFER_TASKRUN always, COOP_TASKRUN when the kernel flags pending work. */
            if (!u->coop || (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_TASKRUN)) {
                io_uring_get_events(&u->ring);
                reap(q);
            }
        }
        if (u->pend_head == u->pend_tail) {
            if (!u->armed && u->held == u->n_bufs && n)
                nic_count(q, WM_NIC_RX_NO_BUFFERS, 1);
            return 0;
        }
    }
    uint32_t avail = u->pend_tail - u->pend_head;
    uint32_t m = avail < n ? avail : n;
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < m; i++) {
        pkts[i] = u->pend[(u->pend_head + i) & u->pend_mask];
        bytes += pkts[i].len;
    }
    u->pend_head += m;
    if (m) {
        nic_count(q, WM_NIC_RX_PACKETS, m);
        nic_count(q, WM_NIC_RX_BYTES, bytes);
        nic_count(q, WM_NIC_RX_BURSTS, 1);
    }
    return (int)m;
}

static void uring_rx_release(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    struct uring_q *u = q->priv;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t bid = (uint32_t)pkts[i].handle;
        io_uring_buf_ring_add(u->br, buf_addr(u, bid), u->stride, (unsigned short)bid, u->mask,
                              (int)i);
    }
    /* release the new tail: the kernel reads the entries after it sees it */
    io_uring_buf_ring_advance(u->br, (int)n);
    u->held -= n;
}

static int uring_tx_burst(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    struct uring_q *u = q->priv;
    own_ring(u);
    uint32_t done = 0;
    uint64_t bytes = 0, sent = 0;
    for (; done < n; done++) {
        const struct wm_nic_pkt *p = &pkts[done];
        if (WM_UNLIKELY(p->kind != WM_NIC_PKT_L4)) {
            nic_count(q, WM_NIC_TX_DROP_BAD_KIND, 1);
            continue;
        }
        if (WM_UNLIKELY(p->len > u->tx_buf_size)) {
            nic_count(q, WM_NIC_TX_DROP_OVERSIZED, 1);
            continue;
        }
        if (u->n_tx_free == 0) {
            reap(q);
            if (u->n_tx_free == 0) {
                nic_count(q, WM_NIC_TX_RING_FULL, 1);
                break;
            }
        }
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
        if (sqe == NULL) {
            submit_pending(u);
            sqe = io_uring_get_sqe(&u->ring);
            if (sqe == NULL) {
                nic_count(q, WM_NIC_TX_RING_FULL, 1);
                break;
            }
        }
        uint32_t slot = u->tx_free[--u->n_tx_free];
        struct tx_slot *t = &u->slots[slot];
        memcpy(t->buf, p->data, p->len);
        t->iov.iov_len = p->len;
        t->sa.sin_addr.s_addr = p->dst_addr;
        t->sa.sin_port = p->dst_port;
        if (u->zc && p->len >= u->zc_min_len)
            io_uring_prep_sendmsg_zc(sqe, 0, &t->msg, 0);
        else
            io_uring_prep_sendmsg(sqe, 0, &t->msg, 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, UD_TX | slot);
        u->unsubmitted++;
        bytes += p->len;
        sent++;
    }
    if (sent) {
        nic_count(q, WM_NIC_TX_PACKETS, sent);
        nic_count(q, WM_NIC_TX_BYTES, bytes);
    }
    submit_pending(u);
    return (int)done;
}

static void uring_fold_stats(struct wm_nic_queue *q)
{
    struct uring_q *u = q->priv;
    wm_nic_fold_socket_drops(q, u->fd, &u->last_ovfl);
}

static int uring_flush(struct wm_nic_queue *q)
{
    struct uring_q *u = q->priv;
    submit_pending(u);
    if (u->need_events || (IO_URING_READ_ONCE(*u->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
        io_uring_get_events(&u->ring);
    reap(q);
    return 0;
}

static int uring_wait(struct wm_nic_queue *q, uint32_t timeout_us)
{
    struct uring_q *u = q->priv;
    if (u->pend_head != u->pend_tail)
        return 1;
    maybe_rearm(q);
    struct __kernel_timespec ts = { .tv_sec = timeout_us / 1000000,
                                    .tv_nsec = (timeout_us % 1000000) * 1000LL };
    struct io_uring_cqe *cqe;
    u->unsubmitted = 0;
    int rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
    if (rc == -ETIME || rc == -EINTR)
        return 0;
    if (rc < 0)
        return rc;
    reap(q);
    return u->pend_head != u->pend_tail;
}

static int setup_ring(struct wm_nic_queue *q, struct uring_q *u)
{
    const struct wm_nic_opts *o = &q->opts;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    /* Room for a completion per buffer and slot, twice; the kernel's limit is
     * 65536 (a buffer ring holds at most 32768). */
    p.cq_entries = wm_pow2_at_least(2 * (o->n_buffers + o->tx_slots));
    if (p.cq_entries > 65536)
        p.cq_entries = 65536;
    if (o->flags & WM_NIC_O_SQPOLL) {
        p.flags |= IORING_SETUP_SQPOLL;
        p.sq_thread_idle = o->sqpoll_idle_ms;
        if (o->sqpoll_cpu >= 0) {
            p.flags |= IORING_SETUP_SQ_AFF;
            p.sq_thread_cpu = (uint32_t)o->sqpoll_cpu;
        }
    }
    if (o->flags & WM_NIC_O_DEFER_TASKRUN)
        p.flags |= IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
    if (o->flags & WM_NIC_O_COOP_TASKRUN)
        p.flags |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    uint32_t entries = wm_pow2_at_least(o->tx_slots + 16);
    int rc = io_uring_queue_init_params(entries, &u->ring, &p);
    if (rc < 0) {
        if (rc == -ENOSYS)
            return wm_nic_error(rc, "this kernel has no io_uring (CONFIG_IO_URING off): use the "
                                "socket backend");
        if (rc == -EPERM)
            return wm_nic_error(rc, "io_uring is disabled for this process "
                                "(sysctl kernel.io_uring_disabled, or a seccomp policy): set "
                                "kernel.io_uring_disabled=0 or use the socket backend");
        if (rc == -EINVAL && (o->flags & (WM_NIC_O_DEFER_TASKRUN | WM_NIC_O_COOP_TASKRUN)))
            return wm_nic_error(rc, "this kernel refuses the io_uring task-run flags "
                                "(DEFER_TASKRUN needs Linux 6.1, COOP_TASKRUN 5.19)");
        if (rc == -EINVAL && (o->flags & WM_NIC_O_SQPOLL) && o->sqpoll_cpu >= 0)
            return wm_nic_error(rc, "SQPOLL cannot be pinned to CPU %d (offline or outside "
                                "this process's CPU set)", o->sqpoll_cpu);
        return wm_nic_error(rc, "io_uring set-up failed: %s", strerror(-rc));
    }
    u->ring_ok = true;
    u->setup_flags = p.flags;
    if (!(p.features & IORING_FEAT_FAST_POLL))
        return wm_nic_error(-EOPNOTSUPP, "this kernel's io_uring lacks fast poll (Linux 5.7+)");
    /* The ring fd is registered later, by the thread that runs the queue:
     * a registered ring index belongs to the registering thread, and io_uring_enter
     * from any other thread fails with it (a queue is often opened by the
     * control thread and run by a worker). */
    return 0;
}

static int setup_buffers(struct wm_nic_queue *q, struct uring_q *u)
{
    const struct wm_nic_opts *o = &q->opts;
    u->n_bufs = o->n_buffers;
    u->mask = (uint32_t)io_uring_buf_ring_mask(u->n_bufs);
    /* recvmsg multishot writes its header and the source address in front
     * of the payload (no control data: drops are read with SO_MEMINFO). */
    uint32_t head = u->no_addr ? 0
                               : (uint32_t)(sizeof(struct io_uring_recvmsg_out) +
                                            sizeof(struct sockaddr_in));
    u->stride = (o->buf_size + head + WM_CACHE_LINE - 1) & ~(uint32_t)(WM_CACHE_LINE - 1);
    u->bufs_bytes = (size_t)u->stride * u->n_bufs;
    u->bufs = map_anon(u->bufs_bytes);
    u->br_bytes = (sizeof(struct io_uring_buf) * u->n_bufs + 4095) & ~(size_t)4095;
    u->br = map_anon(u->br_bytes);
    u->pend_mask = u->n_bufs - 1;
    u->pend = calloc(u->n_bufs, sizeof *u->pend);
    if (u->bufs == NULL || u->br == NULL || u->pend == NULL)
        return wm_nic_error(-ENOMEM, "cannot map %u receive buffers", u->n_bufs);
    io_uring_buf_ring_init(u->br);
    struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)u->br,
                                    .ring_entries = u->n_bufs,
                                    .bgid = BGID };
    int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (rc < 0)
        return wm_nic_error(rc, "this kernel cannot register a provided buffer ring (%s): "
                            "Linux 5.19 or later is needed", strerror(-rc));
    for (uint32_t i = 0; i < u->n_bufs; i++)
        io_uring_buf_ring_add(u->br, buf_addr(u, i), u->stride, (unsigned short)i, u->mask,
                              (int)i);
    io_uring_buf_ring_advance(u->br, (int)u->n_bufs);
    u->rearm_min = o->burst < u->n_bufs / 4 ? o->burst : u->n_bufs / 4;
    if (u->rearm_min == 0)
        u->rearm_min = 1;

    memset(&u->rx_msg, 0, sizeof u->rx_msg);
    u->rx_msg.msg_namelen = sizeof(struct sockaddr_in);
    u->rx_msg.msg_controllen = 0;

    /* transmit slots */
    u->n_slots = o->tx_slots;
    u->tx_buf_size = o->buf_size;
    u->zc_min_len = o->zc_min_len;
    u->tx_bytes = (size_t)u->n_slots * u->stride;
    u->tx_bufs = map_anon(u->tx_bytes);
    u->slots = calloc(u->n_slots, sizeof *u->slots);
    u->tx_free = calloc(u->n_slots, sizeof *u->tx_free);
    if (u->tx_bufs == NULL || u->slots == NULL || u->tx_free == NULL)
        return wm_nic_error(-ENOMEM, "cannot allocate %u transmit slots", u->n_slots);
    for (uint32_t i = 0; i < u->n_slots; i++) {
        struct tx_slot *t = &u->slots[i];
        t->buf = u->tx_bufs + (size_t)i * u->stride;
        t->iov.iov_base = t->buf;
        t->sa.sin_family = AF_INET;
        t->msg.msg_name = &t->sa;
        t->msg.msg_namelen = sizeof t->sa;
        t->msg.msg_iov = &t->iov;
        t->msg.msg_iovlen = 1;
        u->tx_free[i] = u->n_slots - 1 - i;
    }
    u->n_tx_free = u->n_slots;
    return 0;
}

static int check_opcodes(struct wm_nic_queue *q, struct uring_q *u)
{
    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    if (probe == NULL)
        return wm_nic_error(-EOPNOTSUPP, "this kernel's io_uring cannot be probed (Linux 5.6+)");
    int rc = 0;
    int rx_op = u->no_addr ? IORING_OP_RECV : IORING_OP_RECVMSG;
    if (!io_uring_opcode_supported(probe, rx_op) || !io_uring_opcode_supported(probe, IORING_OP_SENDMSG))
        rc = wm_nic_error(-EOPNOTSUPP, "this kernel's io_uring lacks recvmsg/sendmsg");
    else if ((q->opts.flags & WM_NIC_O_SEND_ZC) &&
             !io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC))
        rc = wm_nic_error(-EOPNOTSUPP, "this kernel's io_uring has no zero-copy sendmsg "
                          "(Linux 6.1+): drop the send_zc option");
    io_uring_free_probe(probe);
    return rc;
}

static int register_napi(struct wm_nic_queue *q, struct uring_q *u)
{
    struct uring_napi napi = { .busy_poll_to = q->opts.napi_busy_poll_us, .prefer_busy_poll = 1 };
    long rc = syscall(__NR_io_uring_register, u->ring.ring_fd, REGISTER_NAPI, &napi, 1);
    if (rc < 0) {
        int err = errno;
        return wm_nic_error(-err, "this kernel refuses io_uring NAPI busy polling (%s): it "
                            "needs Linux 6.9+ with CONFIG_NET_RX_BUSY_POLL; drop the napi option",
                            strerror(err));
    }
    return 0;
}

static int uring_open(struct wm_nic_queue *q)
{
    const struct wm_nic_opts *o = &q->opts;
    struct uring_q *u = calloc(1, sizeof *u);
    if (u == NULL)
        return wm_nic_error(-ENOMEM, "out of memory");
    q->priv = u;
    u->fd = -1;
    u->no_addr = o->flags & WM_NIC_O_NO_ADDR;
    u->zc = o->flags & WM_NIC_O_SEND_ZC;
    u->coop = (o->flags & WM_NIC_O_COOP_TASKRUN) && !(o->flags & WM_NIC_O_DEFER_TASKRUN);
    u->need_events = o->flags & (WM_NIC_O_DEFER_TASKRUN | WM_NIC_O_COOP_TASKRUN);
    u->napi = (o->flags & WM_NIC_O_NAPI) != 0;
    if ((o->flags & WM_NIC_O_SQPOLL) && (o->flags & WM_NIC_O_DEFER_TASKRUN)) {
        uring_close(q);
        return wm_nic_error(-EINVAL, "sqpoll and defer_taskrun exclude each other (the kernel "
                            "thread, not this one, reaps with sqpoll)");
    }

    int rc = wm_nic_udp_socket(q, &u->fd);
    if (rc < 0)
        goto err;
    rc = setup_ring(q, u);
    if (rc < 0)
        goto err;
    rc = check_opcodes(q, u);
    if (rc < 0)
        goto err;
    rc = io_uring_register_files(&u->ring, &u->fd, 1);
    if (rc < 0) {
        wm_nic_error(rc, "cannot register the socket with io_uring: %s", strerror(-rc));
        goto err;
    }
    rc = setup_buffers(q, u);
    if (rc < 0)
        goto err;
    if (o->flags & WM_NIC_O_NAPI) {
        rc = register_napi(q, u);
        if (rc < 0)
            goto err;
    }
    rc = arm_rx(q);
    if (rc < 0) {
        wm_nic_error(rc, "cannot queue the multishot receive");
        goto err;
    }
    q->ctr[WM_NIC_RX_REARMS] = 0;   /* the first arm is not a re-arm */
    submit_pending(u);

    int len = snprintf(q->info.mode, sizeof q->info.mode, "multishot %s, buffer ring %u",
                       u->no_addr ? "recv" : "recvmsg", u->n_bufs);
    if (o->flags & WM_NIC_O_SQPOLL)
        len += snprintf(q->info.mode + len, sizeof q->info.mode - (size_t)len, ", sqpoll%s%d",
                        o->sqpoll_cpu >= 0 ? " cpu " : "", o->sqpoll_cpu >= 0 ? o->sqpoll_cpu : 0);
    if (o->flags & WM_NIC_O_DEFER_TASKRUN)
        len += snprintf(q->info.mode + len, sizeof q->info.mode - (size_t)len, ", defer_taskrun");
    if (o->flags & WM_NIC_O_COOP_TASKRUN)
        len += snprintf(q->info.mode + len, sizeof q->info.mode - (size_t)len, ", coop_taskrun");
    if (o->flags & WM_NIC_O_NAPI)
        len += snprintf(q->info.mode + len, sizeof q->info.mode - (size_t)len, ", napi %uus",
                        o->napi_busy_poll_us);
    if (o->flags & WM_NIC_O_SEND_ZC)
        snprintf(q->info.mode + len, sizeof q->info.mode - (size_t)len, ", send_zc from %u bytes",
                 o->zc_min_len);
    q->info.zero_copy_rx = 0;    /* the kernel copies into our buffers */
    q->info.zero_copy_tx = u->zc;
    q->info.flags = o->flags;
    return 0;
err:
    uring_close(q);
    return rc;
}

const struct wm_nic_ops wm_nic_io_uring_ops = {
    .name = "io_uring",
    .flags = WM_NIC_O_SQPOLL | WM_NIC_O_DEFER_TASKRUN | WM_NIC_O_COOP_TASKRUN | WM_NIC_O_NAPI |
             WM_NIC_O_SEND_ZC | WM_NIC_O_NO_ADDR,
    .open = uring_open,
    .close = uring_close,
    .rx_burst = uring_rx_burst,
    .rx_release = uring_rx_release,
    .tx_burst = uring_tx_burst,
    .flush = uring_flush,
    .fold_stats = uring_fold_stats,
    .wait = uring_wait,
};
