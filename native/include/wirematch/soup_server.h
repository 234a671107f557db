/* wirematch/soup_server.h - a SoupBinTCP server on io_uring: one TCP
 * listener, many connections, one thread.
 *
 * The kernel does TCP; the server does everything above it: a multishot
 * accept on the listener, a multishot receive per connection into a
 * provided buffer ring, the SoupBinTCP parser and session state machine
 * (codec/soup_session.h) on each received chunk, and sends
 * (IORING_OP_SEND, IORING_RECVSEND_FIXED_BUF) from each connection's output
 * ring inside one registered buffer.  Everything is submitted once per wm_soup_server_poll:
 * no system call per message.
 *
 * Unsequenced Data goes to cfg.deliver (session index, OUCH message, a view
 * of the receive buffer valid during the call).  The engine's replies enter
 * through wm_soup_server_publish: each session keeps a bounded history of
 * its Sequenced Data (replay on login), and the logged-in connection pulls
 * from it as its output ring has room.  A connection whose live messages
 * find its ring full (less than max_msg free of out_bytes) is closed
 * (soup_close_output_bound); the engine never waits.  The replay is paced
 * by the reader.
 *
 * One owner thread calls every function.  Times are the caller's clock in
 * nanoseconds.
 */
#ifndef WIREMATCH_SOUP_SERVER_H
#define WIREMATCH_SOUP_SERVER_H

#include "wirematch/common.h"
#include "wirematch/soup.h"

struct wm_soup_server;

/* Zero fields take defaults. */
struct wm_soup_server_config {
    uint32_t addr;                      /* IPv4 to listen on, network order (0: any) */
    uint16_t port;                      /* 0: an ephemeral port (wm_soup_server_port) */
    uint16_t reserved;
    uint32_t max_conns;                 /* connections at once (64) */
    uint32_t rx_bufs;                   /* provided receive buffers, power of two (256) */
    uint32_t rx_buf_size;               /* bytes each (4096) */
    uint32_t out_bytes;                 /* output ring per connection: the bound (256 KiB) */
    uint32_t max_msg;                   /* largest OUCH message either way (1024) */
    uint32_t history_msgs;              /* Sequenced Data kept per session (65536) */
    uint32_t history_bytes;             /* bytes of it per session (4 MiB) */
    int32_t  sndbuf;                    /* SO_SNDBUF of each connection (0: kernel's) */
    uint64_t heartbeat_ns;              /* soup_session.h defaults */
    uint64_t client_timeout_ns;
    uint64_t login_timeout_ns;
    uint64_t sequenced_hold_ns;
    void (*deliver)(void *ctx, uint32_t session, const uint8_t *msg, uint16_t len);
    void *ctx;
};

/* 0, or -errno (bad config, socket/bind/listen, io_uring set-up). */
int wm_soup_server_create(const struct wm_soup_server_config *cfg, struct wm_soup_server **out);
/* Closes every connection without End of Session (see wm_soup_server_end). */
void wm_soup_server_destroy(struct wm_soup_server *srv);
/* The listening port (host order). */
uint16_t wm_soup_server_port(const struct wm_soup_server *srv);
/* A session (wm_soup_sessions_add rules): its index, or -errno. */
int wm_soup_server_add_session(struct wm_soup_server *srv, const char *name,
                               const char *username, const char *password);
/* Handle what completed, run the timers, submit: one io_uring_enter, which
 * waits up to wait_ns (0: none) for a completion or the next timer.
 * Returns the completions handled, or -errno from io_uring. */
int wm_soup_server_poll(struct wm_soup_server *srv, uint64_t now, uint64_t wait_ns);
/* The session's next Sequenced Data message.  Returns its sequence number,
 * or -EINVAL (bad session, empty or above max_msg). */
int64_t wm_soup_server_publish(struct wm_soup_server *srv, uint32_t session, const uint8_t *msg,
                               uint16_t len, uint64_t now);
/* End of Session: no more logins; each logged-in connection gets what is
 * pending, then End of Session, then is closed. */
void wm_soup_server_end(struct wm_soup_server *srv, uint64_t now);
/* Connections open (any state). */
uint32_t wm_soup_server_open_conns(const struct wm_soup_server *srv);
/* The counters, WM_SOUP_N_COUNTERS values indexed by enum wm_soup_counter. */
const uint64_t *wm_soup_server_counts(const struct wm_soup_server *srv);

#endif
