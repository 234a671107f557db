/* app/soup_server.c - a SoupBinTCP server on io_uring (wirematch/soup_server.h).
 *
 * Each connection: a multishot receive from the provided buffer ring, the
 * parser (packets split across receives assembled in the connection's hold
 * buffer), the session state machine, and an output ring inside the one
 * registered buffer, sent with at most one send in flight.  Closing:
 * graceful (after Login Rejected, Logout, End of Session: the output is
 * sent first) or at once (bad input, output bound, peer gone: the output is
 * dropped; a graceful close whose output the client does not take within
 * the client timeout becomes one); either way shutdown(2), then close(2)
 * once the kernel holds no request of the connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec/soup_session.h"
#include "wirematch/mold.h"
#include "wirematch/soup_server.h"

#define BGID 7

enum { UD_ACCEPT = 1, UD_RECV = 2, UD_SEND = 3 };
enum { OPEN = 0, CLOSE_FLUSH = 1, CLOSE_NOW = 2 };

struct conn {
    int      fd;                        /* -1: free slot */
    uint32_t gen;                       /* bumped when the slot is freed */
    uint8_t  recv_armed;
    uint8_t  send_inflight;
    uint8_t  closing;                   /* OPEN, CLOSE_FLUSH, CLOSE_NOW */
    uint8_t  shut;                      /* shutdown(2) done */
    uint32_t inflight;                  /* requests of this connection in the kernel */
    uint64_t flush_since;               /* CLOSE_FLUSH began (0: not yet seen) */
    uint8_t *out;                       /* output ring, cfg.out_bytes */
    uint32_t head;                      /* first unsent byte */
    uint32_t used;                      /* unsent bytes */
    struct wm_soup_conn sm;
    struct wm_soup_parser parser;
};

struct wm_soup_server {
    struct wm_soup_server_config cfg;
    struct io_uring ring;
    int      lfd;
    uint16_t port;
    uint8_t  accept_armed;
    uint8_t  ring_ok;
    uint8_t  send_fixed;                /* the kernel sends from registered buffers */
    uint32_t n_open;
    struct io_uring_buf_ring *br;
    size_t   br_bytes;
    uint8_t *rx_mem;
    size_t   rx_bytes;
    uint8_t *out_mem;
    size_t   out_bytes;
    uint8_t *hold_mem;
    uint32_t hold_cap;
    struct conn *conns;
    struct wm_mold_history *hist[WM_SOUP_MAX_SESSIONS];
    struct wm_soup_sessions ss;
};

static inline uint64_t ud(int kind, uint32_t slot, uint32_t gen)
{
    return (uint64_t)kind << 56 | (uint64_t)(gen & 0xffffffu) << 32 | slot;
}

static void *map_anon(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static struct io_uring_sqe *sqe_get(struct wm_soup_server *srv)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&srv->ring);
    if (!sqe) {
        io_uring_submit(&srv->ring);        /* the SQ is full: make room */
        sqe = io_uring_get_sqe(&srv->ring);
    }
    return sqe;
}

static void arm_accept(struct wm_soup_server *srv)
{
    struct io_uring_sqe *sqe = sqe_get(srv);
    if (!sqe)
        return;
    io_uring_prep_multishot_accept(sqe, srv->lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, ud(UD_ACCEPT, 0, 0));
    srv->accept_armed = 1;
}

static void arm_recv(struct wm_soup_server *srv, uint32_t slot)
{
    struct conn *c = &srv->conns[slot];
    struct io_uring_sqe *sqe = sqe_get(srv);
    if (!sqe)
        return;
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, ud(UD_RECV, slot, c->gen));
    c->recv_armed = 1;
    c->inflight++;
}

static void flush(struct wm_soup_server *srv, uint32_t slot)
{
    struct conn *c = &srv->conns[slot];
    if (c->send_inflight || c->used == 0 || c->shut)
        return;
    uint32_t seg = srv->cfg.out_bytes - c->head;
    if (seg > c->used)
        seg = c->used;
    struct io_uring_sqe *sqe = sqe_get(srv);
    if (!sqe)
        return;
    /* A send (MSG_NOSIGNAL: a peer gone is an error, not SIGPIPE) from the
     * registered buffer. */
    io_uring_prep_send(sqe, c->fd, c->out + c->head, seg, MSG_NOSIGNAL);
    if (srv->send_fixed) {
        sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
        sqe->buf_index = 0;
    }
    io_uring_sqe_set_data64(sqe, ud(UD_SEND, slot, c->gen));
    c->send_inflight = 1;
    c->inflight++;
}

/* shutdown(2) when it is time, close(2) when the kernel holds nothing. */
static void try_finish(struct wm_soup_server *srv, struct conn *c)
{
    if (c->fd < 0 || c->closing == OPEN)
        return;
    if (!c->shut && (c->closing == CLOSE_NOW || (c->used == 0 && !c->send_inflight))) {
        shutdown(c->fd, SHUT_RDWR);
        c->shut = 1;
    }
    if (c->shut && c->inflight == 0) {
        close(c->fd);
        c->fd = -1;
        c->gen++;
        srv->n_open--;
    }
}

static void begin_close(struct wm_soup_server *srv, struct conn *c, int graceful)
{
    if (c->closing == CLOSE_NOW)
        return;
    c->closing = graceful ? CLOSE_FLUSH : CLOSE_NOW;
    if (!graceful)
        c->used = 0;                    /* what was not sent is dropped */
    try_finish(srv, c);
}

static void apply(struct wm_soup_server *srv, struct conn *c, uint64_t now,
                  const struct wm_soup_actions *act);

/* Append one packet to c's output ring; a packet that does not fit closes
 * the connection (soup_close_output_bound). */
static void queue(struct wm_soup_server *srv, struct conn *c, uint64_t now, const uint8_t *hdr,
                  uint32_t hlen, const uint8_t *body, uint32_t blen)
{
    uint32_t cap = srv->cfg.out_bytes, n = hlen + blen;
    if (c->closing == CLOSE_NOW)
        return;
    if (cap - c->used < n) {
        struct wm_soup_actions act;
        wm_soup_conn_close(&srv->ss, &c->sm, WM_SOUP_CLOSE_OUTPUT_BOUND, &act);
        begin_close(srv, c, 0);
        return;
    }
    const uint8_t *parts[2] = { hdr, body };
    uint32_t lens[2] = { hlen, blen };
    uint32_t tail = (c->head + c->used) % cap;
    for (int i = 0; i < 2; i++) {
        if (lens[i] == 0)
            continue;
        uint32_t first = cap - tail < lens[i] ? cap - tail : lens[i];
        memcpy(c->out + tail, parts[i], first);
        if (lens[i] > first)
            memcpy(c->out, parts[i] + first, lens[i] - first);
        tail = (tail + lens[i]) % cap;
    }
    c->used += n;
    struct wm_soup_actions act;
    if (wm_soup_conn_queued(&srv->ss, &c->sm, now, n, &act) != 0)
        begin_close(srv, c, 0);
}

/* Sequenced Data c is to send, while its ring has room for the largest.
 * Live messages (past the replay) that find no room close the connection:
 * the reader is too slow (soup_close_output_bound).  The replay is paced by
 * the reader instead. */
static void pump(struct wm_soup_server *srv, struct conn *c, uint64_t now)
{
    if (c->sm.state != WM_SOUP_ACTIVE || c->closing != OPEN)
        return;
    const struct wm_mold_history *h = srv->hist[c->sm.session];
    struct wm_soup_actions act;
    for (;;) {
        if (srv->cfg.out_bytes - c->used < WM_SOUP_HEADER_LEN + srv->cfg.max_msg) {
            if (c->sm.next_seq < srv->ss.s[c->sm.session].next_seq &&
                c->sm.next_seq >= c->sm.replay_end &&
                now - c->sm.accepted_ns >= srv->ss.cfg.sequenced_hold_ns) {
                wm_soup_conn_close(&srv->ss, &c->sm, WM_SOUP_CLOSE_OUTPUT_BOUND, &act);
                begin_close(srv, c, 0);
            }
            return;
        }
        uint64_t from;
        if (wm_soup_conn_pending(&srv->ss, &c->sm, now, &from, 1) == 0)
            return;
        uint16_t len;
        const uint8_t *m = wm_mold_history_get(h, from, &len);
        if (!m) {
            /* Forgotten before this connection sent it: it lagged more
             * than the history holds. */
            wm_soup_conn_close(&srv->ss, &c->sm, WM_SOUP_CLOSE_OUTPUT_BOUND, &act);
            begin_close(srv, c, 0);
            return;
        }
        uint8_t hdr[WM_SOUP_HEADER_LEN];
        wm_soup_write_header(hdr, sizeof(hdr), WM_SOUP_SEQUENCED, len);
        queue(srv, c, now, hdr, sizeof(hdr), m, len);
    }
}

static void session_name(const struct wm_soup_session *s, char out[WM_SOUP_SESSION_LEN + 1])
{
    unsigned n = WM_SOUP_SESSION_LEN;
    while (n && s->name[n - 1] == ' ')
        n--;
    memcpy(out, s->name, n);
    out[n] = 0;
}

static void apply(struct wm_soup_server *srv, struct conn *c, uint64_t now,
                  const struct wm_soup_actions *act)
{
    uint8_t pkt[WM_SOUP_LOGIN_ACCEPTED_LEN];
    int n;
    if (act->todo & WM_SOUP_DO_SEND_LOGIN_ACCEPTED) {
        char name[WM_SOUP_SESSION_LEN + 1];
        session_name(&srv->ss.s[act->session], name);
        n = wm_soup_write_login_accepted(pkt, sizeof(pkt), name, act->seq);
        if (n > 0)
            queue(srv, c, now, pkt, (uint32_t)n, NULL, 0);
    }
    if (act->todo & WM_SOUP_DO_SEND_LOGIN_REJECTED) {
        n = wm_soup_write_login_rejected(pkt, sizeof(pkt), act->reject_code);
        if (n > 0)
            queue(srv, c, now, pkt, (uint32_t)n, NULL, 0);
    }
    if ((act->todo & WM_SOUP_DO_DELIVER) && srv->cfg.deliver)
        srv->cfg.deliver(srv->cfg.ctx, act->session, act->data, act->len);
    if (act->todo & WM_SOUP_DO_SEND_HEARTBEAT) {
        n = wm_soup_write_packet(pkt, sizeof(pkt), WM_SOUP_SERVER_HEARTBEAT, NULL, 0);
        queue(srv, c, now, pkt, (uint32_t)n, NULL, 0);
    }
    if (act->todo & WM_SOUP_DO_SEND_END_OF_SESSION) {
        n = wm_soup_write_packet(pkt, sizeof(pkt), WM_SOUP_END_OF_SESSION, NULL, 0);
        queue(srv, c, now, pkt, (uint32_t)n, NULL, 0);
    }
    if (act->todo & WM_SOUP_DO_CLOSE) {
        int graceful = act->close_reason == WM_SOUP_CLOSE_LOGIN_REJECTED ||
                       act->close_reason == WM_SOUP_CLOSE_LOGOUT ||
                       act->close_reason == WM_SOUP_CLOSE_END_OF_SESSION;
        begin_close(srv, c, graceful);
    }
}

static void recycle(struct wm_soup_server *srv, uint32_t bid)
{
    io_uring_buf_ring_add(srv->br, srv->rx_mem + (size_t)bid * srv->cfg.rx_buf_size,
                          srv->cfg.rx_buf_size, (unsigned short)bid, srv->cfg.rx_bufs - 1, 0);
    io_uring_buf_ring_advance(srv->br, 1);
}

static void on_accept(struct wm_soup_server *srv, const struct io_uring_cqe *cqe, uint64_t now)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        srv->accept_armed = 0;
    if (cqe->res < 0)
        return;
    int fd = cqe->res;
    uint32_t slot;
    for (slot = 0; slot < srv->cfg.max_conns; slot++)
        if (srv->conns[slot].fd < 0)
            break;
    if (slot == srv->cfg.max_conns) {
        srv->ss.st.counts[WM_SOUP_REFUSED_TABLE_FULL]++;
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (srv->cfg.sndbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &srv->cfg.sndbuf, sizeof(srv->cfg.sndbuf));
    struct conn *c = &srv->conns[slot];
    uint32_t gen = c->gen;
    uint8_t *out = c->out;
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->gen = gen;
    c->out = out;
    wm_soup_parser_init(&c->parser, WM_SOUP_FROM_CLIENT, srv->hold_mem + (size_t)slot * srv->hold_cap,
                        srv->hold_cap);
    wm_soup_conn_open(&srv->ss, &c->sm, slot, now);
    srv->n_open++;
    arm_recv(srv, slot);
}

static void on_recv(struct wm_soup_server *srv, struct conn *c, const struct io_uring_cqe *cqe,
                    uint64_t now)
{
    struct wm_soup_actions act;
    int more = !!(cqe->flags & IORING_CQE_F_MORE);
    if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
        uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (c->sm.state != WM_SOUP_CLOSED && c->closing == OPEN) {
            wm_soup_parser_feed(&c->parser, srv->rx_mem + (size_t)bid * srv->cfg.rx_buf_size,
                                (size_t)cqe->res);
            struct wm_soup_packet pkt;
            while (c->sm.state != WM_SOUP_CLOSED) {
                int r = wm_soup_parser_next(&c->parser, &pkt);
                if (r == -EAGAIN)
                    break;
                if (r > 0)
                    wm_soup_conn_close(&srv->ss, &c->sm, r, &act);
                else
                    wm_soup_conn_packet(&srv->ss, &c->sm, now, &pkt, &act);
                apply(srv, c, now, &act);
            }
        }
        recycle(srv, bid);
    } else if (cqe->res == -ENOBUFS) {
        srv->ss.st.counts[WM_SOUP_RX_NO_BUFFERS]++;   /* re-armed by the next poll */
    } else if (cqe->res <= 0) {
        wm_soup_conn_close(&srv->ss, &c->sm, WM_SOUP_CLOSE_PEER_CLOSED, &act);
        begin_close(srv, c, 0);
    }
    if (!more) {
        c->recv_armed = 0;
        c->inflight--;
    }
}

static void on_send(struct wm_soup_server *srv, struct conn *c, const struct io_uring_cqe *cqe)
{
    c->send_inflight = 0;
    c->inflight--;
    if (c->closing == CLOSE_NOW)
        return;
    if (cqe->res == -EINVAL && srv->send_fixed) {
        /* A kernel without fixed-buffer sends: plain sends from the same
         * memory, and this one again. */
        srv->send_fixed = 0;
        return;
    }
    if (cqe->res > 0) {
        uint32_t n = (uint32_t)cqe->res;
        c->head = (c->head + n) % srv->cfg.out_bytes;
        c->used -= n;
        wm_soup_conn_sent(&c->sm, n);
    } else {
        struct wm_soup_actions act;
        wm_soup_conn_close(&srv->ss, &c->sm, WM_SOUP_CLOSE_PEER_CLOSED, &act);
        begin_close(srv, c, 0);
    }
}

static void on_cqe(struct wm_soup_server *srv, const struct io_uring_cqe *cqe, uint64_t now)
{
    uint64_t d = cqe->user_data;
    int kind = (int)(d >> 56);
    if (kind == UD_ACCEPT) {
        on_accept(srv, cqe, now);
        return;
    }
    uint32_t slot = (uint32_t)(d & 0xffffffffu);
    uint32_t gen = (uint32_t)(d >> 32) & 0xffffffu;
    struct conn *c = slot < srv->cfg.max_conns ? &srv->conns[slot] : NULL;
    if (!c || c->fd < 0 || (c->gen & 0xffffffu) != gen) {
        /* Cannot happen while close(2) waits for every request; a buffer
         * goes back to the ring all the same. */
        if (kind == UD_RECV && (cqe->flags & IORING_CQE_F_BUFFER))
            recycle(srv, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        return;
    }
    if (kind == UD_RECV)
        on_recv(srv, c, cqe, now);
    else
        on_send(srv, c, cqe);
    try_finish(srv, c);
}

int wm_soup_server_poll(struct wm_soup_server *srv, uint64_t now, uint64_t wait_ns)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&srv->ring, head, cqe) {
        on_cqe(srv, cqe, now);
        seen++;
    }
    if (seen)
        io_uring_cq_advance(&srv->ring, seen);
    if (!srv->accept_armed)
        arm_accept(srv);
    uint64_t next = UINT64_MAX;
    struct wm_soup_actions act;
    for (uint32_t i = 0; i < srv->cfg.max_conns; i++) {
        struct conn *c = &srv->conns[i];
        if (c->fd < 0)
            continue;
        if (c->closing == CLOSE_FLUSH && !c->shut) {
            /* A graceful close waits for the output at most the client
             * timeout. */
            if (!c->flush_since)
                c->flush_since = now;
            else if (now - c->flush_since > srv->ss.cfg.client_timeout_ns) {
                srv->ss.st.counts[WM_SOUP_FLUSH_ABANDONED]++;
                begin_close(srv, c, 0);
            }
        }
        if (!c->shut && c->closing != CLOSE_NOW) {
            if (c->sm.state != WM_SOUP_CLOSED && now >= wm_soup_conn_deadline(&srv->ss, &c->sm)) {
                wm_soup_conn_tick(&srv->ss, &c->sm, now, &act);
                apply(srv, c, now, &act);
            }
            pump(srv, c, now);
            if (!c->recv_armed && c->closing == OPEN && c->sm.state != WM_SOUP_CLOSED)
                arm_recv(srv, i);
            flush(srv, i);
            if (c->sm.state != WM_SOUP_CLOSED) {
                uint64_t d = wm_soup_conn_deadline(&srv->ss, &c->sm);
                if (d < next)
                    next = d;
            }
        }
        try_finish(srv, c);
    }
    int rc;
    if (wait_ns) {
        if (next != UINT64_MAX && next - now < wait_ns)
            wait_ns = next > now ? next - now : 1;
        struct __kernel_timespec ts = { .tv_sec = (long long)(wait_ns / 1000000000u),
                                        .tv_nsec = (long long)(wait_ns % 1000000000u) };
        rc = io_uring_submit_and_wait_timeout(&srv->ring, &cqe, 1, &ts, NULL);
        if (rc == -ETIME || rc == -EINTR)
            rc = 0;
    } else {
        rc = io_uring_submit(&srv->ring);
    }
    return rc < 0 ? rc : (int)seen;
}

int64_t wm_soup_server_publish(struct wm_soup_server *srv, uint32_t session, const uint8_t *msg,
                               uint16_t len, uint64_t now)
{
    if (session >= srv->ss.n || !msg || len == 0 || len > srv->cfg.max_msg)
        return -EINVAL;
    struct wm_mold_history *h = srv->hist[session];
    uint64_t seq = wm_soup_session_append(&srv->ss, session);
    if (wm_mold_history_record(h, seq, msg, len) != 0)
        return -EINVAL;                 /* cannot happen: numbered in step */
    wm_soup_session_retain_from(&srv->ss, session, h->first_seq);
    uint32_t id = srv->ss.s[session].conn;
    if (id)
        pump(srv, &srv->conns[id - 1], now);
    return (int64_t)seq;
}

void wm_soup_server_end(struct wm_soup_server *srv, uint64_t now)
{
    struct wm_soup_actions act;
    wm_soup_sessions_end(&srv->ss);
    for (uint32_t i = 0; i < srv->cfg.max_conns; i++) {
        struct conn *c = &srv->conns[i];
        if (c->fd < 0 || c->sm.state == WM_SOUP_CLOSED)
            continue;
        pump(srv, c, now);
        wm_soup_conn_end_of_session(&srv->ss, &c->sm, &act);
        apply(srv, c, now, &act);
        flush(srv, i);
    }
    io_uring_submit(&srv->ring);
}

int wm_soup_server_add_session(struct wm_soup_server *srv, const char *name,
                               const char *username, const char *password)
{
    int idx = wm_soup_sessions_add(&srv->ss, name, username, password);
    if (idx < 0)
        return idx;
    int rc = wm_mold_history_create(srv->cfg.history_msgs, srv->cfg.history_bytes, 1,
                                    &srv->hist[idx]);
    if (rc) {
        srv->ss.n--;                    /* the session just added */
        return rc;
    }
    return idx;
}

uint16_t wm_soup_server_port(const struct wm_soup_server *srv)
{
    return srv->port;
}

uint32_t wm_soup_server_open_conns(const struct wm_soup_server *srv)
{
    return srv->n_open;
}

const uint64_t *wm_soup_server_counts(const struct wm_soup_server *srv)
{
    return srv->ss.st.counts;
}

void wm_soup_server_destroy(struct wm_soup_server *srv)
{
    if (!srv)
        return;
    if (srv->conns) {
        for (uint32_t i = 0; i < srv->cfg.max_conns; i++)
            if (srv->conns[i].fd >= 0)
                close(srv->conns[i].fd);
        free(srv->conns);
    }
    if (srv->lfd >= 0)
        close(srv->lfd);
    if (srv->ring_ok)
        io_uring_queue_exit(&srv->ring);
    if (srv->br)
        munmap(srv->br, srv->br_bytes);
    if (srv->rx_mem)
        munmap(srv->rx_mem, srv->rx_bytes);
    if (srv->out_mem)
        munmap(srv->out_mem, srv->out_bytes);
    free(srv->hold_mem);
    for (uint32_t i = 0; i < WM_SOUP_MAX_SESSIONS; i++)
        wm_mold_history_destroy(srv->hist[i]);
    free(srv);
}

static int set_up(struct wm_soup_server *srv)
{
    struct wm_soup_server_config *cfg = &srv->cfg;
    struct wm_soup_config sc = { .heartbeat_ns = cfg->heartbeat_ns,
                                 .client_timeout_ns = cfg->client_timeout_ns,
                                 .login_timeout_ns = cfg->login_timeout_ns,
                                 .sequenced_hold_ns = cfg->sequenced_hold_ns,
                                 .output_bound = cfg->out_bytes };
    int rc = wm_soup_sessions_init(&srv->ss, &sc);
    if (rc)
        return rc;

    srv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv->lfd < 0)
        return -errno;
    int one = 1;
    setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cfg->port),
                              .sin_addr.s_addr = cfg->addr };
    socklen_t sl = sizeof(sa);
    if (bind(srv->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(srv->lfd, 128) != 0 ||
        getsockname(srv->lfd, (struct sockaddr *)&sa, &sl) != 0)
        return -errno;
    srv->port = ntohs(sa.sin_port);

    rc = io_uring_queue_init(cfg->max_conns * 4 + 64, &srv->ring, 0);
    if (rc)
        return rc;
    srv->ring_ok = 1;

    /* Provided receive buffers. */
    srv->br_bytes = (size_t)cfg->rx_bufs * sizeof(struct io_uring_buf);
    srv->br = map_anon(srv->br_bytes);
    srv->rx_bytes = (size_t)cfg->rx_bufs * cfg->rx_buf_size;
    srv->rx_mem = map_anon(srv->rx_bytes);
    if (!srv->br || !srv->rx_mem)
        return -ENOMEM;
    io_uring_buf_ring_init(srv->br);
    struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)srv->br,
                                    .ring_entries = cfg->rx_bufs, .bgid = BGID };
    rc = io_uring_register_buf_ring(&srv->ring, &reg, 0);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < cfg->rx_bufs; i++)
        io_uring_buf_ring_add(srv->br, srv->rx_mem + (size_t)i * cfg->rx_buf_size,
                              cfg->rx_buf_size, (unsigned short)i, cfg->rx_bufs - 1, (int)i);
    io_uring_buf_ring_advance(srv->br, (int)cfg->rx_bufs);

    /* Output rings: one registered buffer. */
    srv->out_bytes = (size_t)cfg->max_conns * cfg->out_bytes;
    srv->out_mem = map_anon(srv->out_bytes);
    if (!srv->out_mem)
        return -ENOMEM;
    struct iovec iov = { .iov_base = srv->out_mem, .iov_len = srv->out_bytes };
    rc = io_uring_register_buffers(&srv->ring, &iov, 1);
    if (rc)
        return rc;

    srv->send_fixed = 1;
    srv->hold_cap = cfg->max_msg + WM_SOUP_HEADER_LEN;
    if (srv->hold_cap < WM_SOUP_MIN_HOLD)
        srv->hold_cap = WM_SOUP_MIN_HOLD;
    srv->hold_mem = malloc((size_t)cfg->max_conns * srv->hold_cap);
    srv->conns = calloc(cfg->max_conns, sizeof(*srv->conns));
    if (!srv->hold_mem || !srv->conns)
        return -ENOMEM;
    for (uint32_t i = 0; i < cfg->max_conns; i++) {
        srv->conns[i].fd = -1;
        srv->conns[i].out = srv->out_mem + (size_t)i * cfg->out_bytes;
    }
    arm_accept(srv);
    io_uring_submit(&srv->ring);
    return 0;
}

int wm_soup_server_create(const struct wm_soup_server_config *cfg, struct wm_soup_server **out)
{
    if (!cfg || !out)
        return -EINVAL;
    struct wm_soup_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    srv->cfg = *cfg;
    srv->lfd = -1;
    struct wm_soup_server_config *c = &srv->cfg;
    if (!c->max_conns)
        c->max_conns = 64;
    if (!c->rx_bufs)
        c->rx_bufs = 256;
    if (!c->rx_buf_size)
        c->rx_buf_size = 4096;
    if (!c->out_bytes)
        c->out_bytes = 256 * 1024;
    if (!c->max_msg)
        c->max_msg = 1024;
    if (!c->history_msgs)
        c->history_msgs = 65536;
    if (!c->history_bytes)
        c->history_bytes = 4u << 20;
    int rc = -EINVAL;
    if (c->max_conns > (1u << 20) || (c->rx_bufs & (c->rx_bufs - 1)) || c->rx_bufs > 32768 ||
        c->max_msg > WM_SOUP_MAX_PAYLOAD || c->out_bytes < 2 * (c->max_msg + WM_SOUP_HEADER_LEN) ||
        c->history_bytes <= c->max_msg)
        goto fail;
    rc = set_up(srv);
    if (rc)
        goto fail;
    *out = srv;
    return 0;
fail:
    wm_soup_server_destroy(srv);
    return rc;
}
