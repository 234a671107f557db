/* The socket backend: a UDP socket per queue read with recvmmsg and written
 * with sendmmsg.  The portable fallback and the baseline of every benchmark.
 * Also the UDP socket set-up the io_uring backend shares. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nic/nic_backend.h"

int wm_nic_udp_socket(struct wm_nic_queue *q, int *fd_out)
{
    const struct wm_nic_opts *o = &q->opts;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(o->port) };
    int one = 1, rc;

    if (o->addr != NULL && inet_pton(AF_INET, o->addr, &sa.sin_addr) != 1)
        return wm_nic_error(-EINVAL, "'%s' is not an IPv4 address", o->addr);
    if (o->ifname != NULL && if_nametoindex(o->ifname) == 0)
        return wm_nic_error(-ENODEV, "no network interface named '%s'", o->ifname);

    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wm_nic_error(-errno, "cannot create a UDP socket: %s", strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        goto err_errno;
    if (o->n_queues > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        goto err_errno;
    if (o->rcvbuf) {
        int v = (int)o->rcvbuf;
        /* SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN; else the capped form. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0 &&
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) < 0)
            goto err_errno;
    }
    if (o->ifname != NULL &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->ifname, (socklen_t)strlen(o->ifname)) < 0) {
        rc = -errno;
        close(fd);
        if (rc == -EPERM)
            return wm_nic_error(rc, "binding to interface %s needs CAP_NET_RAW: run as root "
                                "or leave ifname unset", o->ifname);
        return wm_nic_error(rc, "cannot bind to interface %s: %s", o->ifname, strerror(-rc));
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = -errno;
        close(fd);
        if (rc == -EADDRNOTAVAIL)
            return wm_nic_error(rc, "address %s is not configured on any interface here",
                                o->addr ? o->addr : "0.0.0.0");
        if (rc == -EADDRINUSE)
            return wm_nic_error(rc, "UDP port %u is in use%s", o->port,
                                o->n_queues > 1 ? " by a socket without SO_REUSEPORT" : "");
        if (rc == -EACCES)
            return wm_nic_error(rc, "UDP port %u needs CAP_NET_BIND_SERVICE (run as root or "
                                "use a port from 1024)", o->port);
        return wm_nic_error(rc, "cannot bind UDP %s:%u: %s", o->addr ? o->addr : "0.0.0.0",
                            o->port, strerror(-rc));
    }
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        goto err_errno;
    q->info.local_addr = sa.sin_addr.s_addr;
    q->info.local_port = ntohs(sa.sin_port);
    q->info.fd = fd;
    *fd_out = fd;
    return 0;

err_errno:
    rc = -errno;
    close(fd);
    return wm_nic_error(rc, "UDP socket set-up failed: %s", strerror(-rc));
}

/* ---- the socket backend ---- */


struct sock_q {
    int fd;
    uint32_t burst;
    uint32_t buf_size;
    uint8_t *bufs;               /* n_buffers x buf_size */
    uint32_t *free;              /* stack of free buffer ids */
    uint32_t n_free;
    uint32_t last_ovfl;
    struct mmsghdr *msgs;        /* burst of each, reused */
    struct iovec *iov;
    struct sockaddr_in *names;
    uint32_t *ids;               /* buffer id per message of the current burst */
};

static void sock_close(struct wm_nic_queue *q)
{
    struct sock_q *s = q->priv;
    if (s == NULL)
        return;
    if (s->fd >= 0) {
        wm_nic_fold_socket_drops(q, s->fd, &s->last_ovfl);
        close(s->fd);
    }
    free(s->bufs);
    free(s->free);
    free(s->msgs);
    free(s->iov);
    free(s->names);
    free(s->ids);
    free(s);
    q->priv = NULL;
}

static int sock_open(struct wm_nic_queue *q)
{
    const struct wm_nic_opts *o = &q->opts;
    struct sock_q *s = calloc(1, sizeof *s);
    if (s == NULL)
        return wm_nic_error(-ENOMEM, "out of memory");
    s->fd = -1;
    q->priv = s;
    s->burst = o->burst;
    s->buf_size = o->buf_size;
    /* C11: the size must be a multiple of the alignment. */
    size_t bufs_size = (size_t)o->n_buffers * o->buf_size;
    s->bufs = aligned_alloc(WM_CACHE_LINE, (bufs_size + WM_CACHE_LINE - 1) & ~(size_t)(WM_CACHE_LINE - 1));
    s->free = calloc(o->n_buffers, sizeof *s->free);
    s->msgs = calloc(s->burst, sizeof *s->msgs);
    s->iov = calloc(s->burst, sizeof *s->iov);
    s->names = calloc(s->burst, sizeof *s->names);
    s->ids = calloc(s->burst, sizeof *s->ids);
    if (!s->bufs || !s->free || !s->msgs || !s->iov || !s->names || !s->ids) {
        sock_close(q);
        return wm_nic_error(-ENOMEM, "out of memory for %u buffers", o->n_buffers);
    }
    for (uint32_t i = 0; i < o->n_buffers; i++)
        s->free[i] = o->n_buffers - 1 - i;
    s->n_free = o->n_buffers;
    int rc = wm_nic_udp_socket(q, &s->fd);
    if (rc < 0) {
        sock_close(q);
        return rc;
    }
    if (o->flags & WM_NIC_O_BUSY_POLL) {
        int us = (int)o->napi_busy_poll_us;
        if (setsockopt(s->fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof us) < 0) {
            rc = -errno;
            sock_close(q);
            return wm_nic_error(rc, "SO_BUSY_POLL refused (%s): it needs CAP_NET_ADMIN to raise "
                                "above net.core.busy_poll", strerror(-rc));
        }
    }
    snprintf(q->info.mode, sizeof q->info.mode, "recvmmsg/sendmmsg, batch %u%s", s->burst,
             (o->flags & WM_NIC_O_BUSY_POLL) ? ", SO_BUSY_POLL" : "");
    q->info.flags = o->flags;
    return 0;
}

static int sock_rx_burst(struct wm_nic_queue *q, struct wm_nic_pkt *pkts, uint32_t n)
{
    struct sock_q *s = q->priv;
    uint32_t m = n < s->burst ? n : s->burst;
    if (m > s->n_free)
        m = s->n_free;
    if (WM_UNLIKELY(m == 0)) {
        if (n != 0)
            nic_count(q, WM_NIC_RX_NO_BUFFERS, 1);
        return 0;
    }
    for (uint32_t i = 0; i < m; i++) {
        uint32_t id = s->free[s->n_free - 1 - i];
        s->ids[i] = id;
        s->iov[i].iov_base = s->bufs + (size_t)id * s->buf_size;
        s->iov[i].iov_len = s->buf_size;
        struct msghdr *h = &s->msgs[i].msg_hdr;
        h->msg_name = &s->names[i];
        h->msg_namelen = sizeof s->names[i];
        h->msg_iov = &s->iov[i];
        h->msg_iovlen = 1;
        h->msg_control = NULL;
        h->msg_controllen = 0;
        h->msg_flags = 0;
    }
    int r = recvmmsg(s->fd, s->msgs, m, MSG_DONTWAIT, NULL);
    if (r <= 0) {
        if (r == 0 || errno == EAGAIN || errno == EINTR)
            return 0;
        nic_count(q, WM_NIC_RX_ERRORS, 1);
        return -errno;
    }
    uint64_t now = wm_clock_ticks(q->clk), bytes = 0;
    uint32_t out = 0;
    /* Buffers 0..r-1 of the popped run are consumed (or recycled below). */
    s->n_free -= (uint32_t)r;
    for (int i = 0; i < r; i++) {
        struct msghdr *h = &s->msgs[i].msg_hdr;
        if (WM_UNLIKELY(h->msg_flags & MSG_TRUNC)) {
            nic_count(q, WM_NIC_DROP_TRUNCATED, 1);
            s->free[s->n_free++] = s->ids[i];
            continue;
        }
        struct wm_nic_pkt *p = &pkts[out++];
        p->data = s->iov[i].iov_base;
        p->len = s->msgs[i].msg_len;
        p->kind = WM_NIC_PKT_L4;
        p->queue = q->info.queue;
        p->src_addr = s->names[i].sin_addr.s_addr;
        p->src_port = s->names[i].sin_port;
        p->dst_addr = q->info.local_addr;
        p->dst_port = htons(q->info.local_port);
        p->reserved = 0;
        p->rx_ticks = now;
        p->handle = s->ids[i];
        bytes += p->len;
    }
    if (out) {
        nic_count(q, WM_NIC_RX_PACKETS, out);
        nic_count(q, WM_NIC_RX_BYTES, bytes);
        nic_count(q, WM_NIC_RX_BURSTS, 1);
    }
    return (int)out;
}

static void sock_rx_release(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    struct sock_q *s = q->priv;
    for (uint32_t i = 0; i < n; i++)
        s->free[s->n_free++] = (uint32_t)pkts[i].handle;
}

static int sock_tx_burst(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    struct sock_q *s = q->priv;
    uint32_t done = 0;
    while (done < n) {
        /* Gather a batch of sendable descriptors; bad ones are consumed and counted. */
        uint32_t m = 0, start = done, i;
        for (i = start; i < n && m < s->burst; i++) {
            const struct wm_nic_pkt *p = &pkts[i];
            if (WM_UNLIKELY(p->kind != WM_NIC_PKT_L4)) {
                if (m)
                    break;
                nic_count(q, WM_NIC_TX_DROP_BAD_KIND, 1);
                done++;
                start++;
                continue;
            }
            if (WM_UNLIKELY(p->len > 65507)) {
                if (m)
                    break;
                nic_count(q, WM_NIC_TX_DROP_OVERSIZED, 1);
                done++;
                start++;
                continue;
            }
            s->names[m] = (struct sockaddr_in){ .sin_family = AF_INET,
                                                .sin_port = p->dst_port,
                                                .sin_addr.s_addr = p->dst_addr };
            s->iov[m] = (struct iovec){ .iov_base = p->data, .iov_len = p->len };
            s->msgs[m].msg_hdr = (struct msghdr){ .msg_name = &s->names[m],
                                                  .msg_namelen = sizeof s->names[m],
                                                  .msg_iov = &s->iov[m],
                                                  .msg_iovlen = 1 };
            m++;
        }
        if (m == 0)
            continue;
        int r = sendmmsg(s->fd, s->msgs, m, MSG_DONTWAIT);
        if (r > 0) {
            uint64_t bytes = 0;
            for (int k = 0; k < r; k++)
                bytes += s->iov[k].iov_len;
            nic_count(q, WM_NIC_TX_PACKETS, (uint32_t)r);
            nic_count(q, WM_NIC_TX_BYTES, bytes);
            nic_count(q, WM_NIC_TX_COMPLETIONS, (uint32_t)r);
            done = start + (uint32_t)r;
            continue;
        }
        if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
            nic_count(q, WM_NIC_TX_RING_FULL, 1);
            break;
        }
        /* The first datagram failed for itself (unreachable, too big...): consume it. */
        nic_count(q, WM_NIC_TX_ERRORS, 1);
        done = start + 1;
    }
    return (int)done;
}

static int sock_flush(struct wm_nic_queue *q)
{
    (void)q;
    return 0;
}

static void sock_fold_stats(struct wm_nic_queue *q)
{
    struct sock_q *s = q->priv;
    wm_nic_fold_socket_drops(q, s->fd, &s->last_ovfl);
}

static int sock_wait(struct wm_nic_queue *q, uint32_t timeout_us)
{
    struct sock_q *s = q->priv;
    struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
    struct timespec ts = { .tv_sec = timeout_us / 1000000, .tv_nsec = (timeout_us % 1000000) * 1000L };
    int r = ppoll(&pfd, 1, &ts, NULL);
    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    return r > 0;
}

const struct wm_nic_ops wm_nic_socket_ops = {
    .name = "socket",
    .flags = WM_NIC_O_BUSY_POLL,
    .open = sock_open,
    .close = sock_close,
    .rx_burst = sock_rx_burst,
    .rx_release = sock_rx_release,
    .tx_burst = sock_tx_burst,
    .flush = sock_flush,
    .fold_stats = sock_fold_stats,
    .wait = sock_wait,
};
