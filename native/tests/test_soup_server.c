/* test_soup_server.c - the io_uring SoupBinTCP server over loopback: a
 * server thread (the echo engine: every Unsequenced message comes back as
 * Sequenced Data; "BURST" publishes 400 messages) and plain blocking TCP
 * clients.  Login split across writes, echo, heartbeat, rejections, replay
 * from a requested number then live without gap or duplicate, bad input on
 * one connection leaving the others alone, output bound and recovery, a
 * graceful close whose output is never read, client timeout, End of
 * Session. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "wirematch.h"

#define MS 1000000ull

static struct wm_soup_server *srv;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t snap[WM_SOUP_N_COUNTERS];
static uint32_t snap_open;
static int stop_flag, end_flag;
static uint64_t cur_now;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

enum { BURST = 400, BURST_LEN = 200 };

static void deliver(void *ctx, uint32_t session, const uint8_t *msg, uint16_t len)
{
    (void)ctx;
    if (len == 5 && memcmp(msg, "BURST", 5) == 0) {
        uint8_t m[BURST_LEN];
        for (int i = 0; i < BURST; i++) {
            memset(m, 'a' + i % 26, sizeof(m));
            memcpy(m, &i, sizeof(i));
            wm_soup_server_publish(srv, session, m, sizeof(m), cur_now);
        }
        return;
    }
    wm_soup_server_publish(srv, session, msg, len, cur_now);
}

/* Burst message i, whole. */
static int burst_ok(const uint8_t *m, uint16_t len, int i)
{
    int idx;
    if (len != BURST_LEN)
        return 0;
    memcpy(&idx, m, sizeof(idx));
    for (int k = (int)sizeof(idx); k < BURST_LEN; k++)
        if (m[k] != 'a' + i % 26)
            return 0;
    return idx == i;
}

static void *server_thread(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE)) {
        cur_now = mono_ns();
        int rc = wm_soup_server_poll(srv, cur_now, 2 * MS);
        if (rc < 0)
            fprintf(stderr, "poll: %s\n", strerror(-rc));
        if (__atomic_load_n(&end_flag, __ATOMIC_ACQUIRE) == 1) {
            wm_soup_server_end(srv, mono_ns());
            __atomic_store_n(&end_flag, 2, __ATOMIC_RELEASE);
        }
        pthread_mutex_lock(&mu);
        memcpy(snap, wm_soup_server_counts(srv), sizeof(snap));
        snap_open = wm_soup_server_open_conns(srv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static uint64_t counter(int idx)
{
    pthread_mutex_lock(&mu);
    uint64_t v = snap[idx];
    pthread_mutex_unlock(&mu);
    return v;
}

/* Wait up to 3 s for counter idx to reach want. */
static int wait_counter(int idx, uint64_t want)
{
    for (int i = 0; i < 300; i++) {
        if (counter(idx) >= want)
            return 1;
        usleep(10000);
    }
    return 0;
}

static int client(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(wm_soup_server_port(srv)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("connect");
        return -1;
    }
    return fd;
}

static void send_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

/* 0, -1 when the server closed the connection, -2 on a timeout or another
 * error. */
static int read_full(int fd, uint8_t *buf, size_t n)
{
    while (n) {
        ssize_t k = recv(fd, buf, n, 0);
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return -1;                  /* closed by the server */
        if (k < 0)
            return -2;
        buf += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One packet: its type (payload in buf, *len), or read_full's -1 / -2. */
static int read_packet(int fd, uint8_t *buf, uint16_t *len)
{
    uint8_t h[3];
    int r = read_full(fd, h, 3);
    if (r)
        return r;
    uint16_t lf = (uint16_t)(h[0] << 8 | h[1]);
    *len = (uint16_t)(lf - 1);
    if (*len && (r = read_full(fd, buf, *len)) != 0)
        return r;
    return h[2];
}

/* The next packet that is not a Server Heartbeat. */
static int read_data(int fd, uint8_t *buf, uint16_t *len)
{
    int t;
    while ((t = read_packet(fd, buf, len)) == 'H')
        ;
    return t;
}

/* The server closed the connection (not a timeout), after heartbeats. */
static int at_eof(int fd)
{
    uint8_t buf[2048];
    uint16_t len;
    int t;
    while ((t = read_packet(fd, buf, &len)) == 'H')
        ;
    return t == -1;
}

static void send_u(int fd, const void *msg, size_t len)
{
    uint8_t b[2048];
    int n = wm_soup_write_packet(b, sizeof(b), 'U', msg, len);
    send_all(fd, b, (size_t)n);
}

/* Login; returns the Login Accepted number, or -(reject code), or -1000. */
static int64_t login(int fd, const char *user, const char *pw, uint64_t seq, int split)
{
    uint8_t b[64];
    int n = wm_soup_write_login_request(b, sizeof(b), user, pw, "", seq, 0);
    if (split) {
        send_all(fd, b, 10);
        usleep(20000);
        send_all(fd, b + 10, (size_t)n - 10);
    } else {
        send_all(fd, b, (size_t)n);
    }
    uint16_t len;
    uint8_t r[64];
    int t = read_packet(fd, r, &len);
    if (t == 'A') {
        struct wm_soup_packet pkt = { .type = 'A', .len = len, .payload = r };
        char session[10];
        uint64_t s;
        if (wm_soup_decode_login_accepted(&pkt, session, &s) != 0)
            return -1000;
        return (int64_t)s;
    }
    if (t == 'J')
        return -(int64_t)r[0];
    return -1000;
}

static void test_server(void)
{
    struct wm_soup_server_config cfg = { 0 };
    cfg.addr = htonl(INADDR_LOOPBACK);
    cfg.max_conns = 8;
    cfg.out_bytes = 8192;
    cfg.sndbuf = 4096;
    cfg.history_bytes = 1u << 20;
    cfg.client_timeout_ns = 3000 * MS;
    cfg.sequenced_hold_ns = 5 * MS;
    cfg.deliver = deliver;
    CHECK_EQ(wm_soup_server_create(&cfg, &srv), 0);
    if (!srv)
        return;
    CHECK(wm_soup_server_port(srv) != 0);
    CHECK_EQ(wm_soup_server_add_session(srv, "SESS1", "alice", "pw1"), 0);
    CHECK_EQ(wm_soup_server_add_session(srv, "SESS2", "bob", "pw2"), 1);
    CHECK_EQ(wm_soup_server_add_session(srv, "SESS3", "carol", "pw3"), 2);
    CHECK_EQ(wm_soup_server_add_session(srv, "SESS1", "dave", "x"), -EEXIST);
    pthread_t th;
    pthread_create(&th, NULL, server_thread, NULL);

    uint8_t buf[2048];
    uint16_t len;
    char msg[32];

    /* Login split across two writes; five messages in one write echoed. */
    int a = client(0);
    CHECK_EQ(login(a, "alice", "pw1", 1, 1), 1);
    uint8_t five[256];
    size_t off = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(msg, sizeof(msg), "hello-%d", i);
        off += (size_t)wm_soup_write_packet(five + off, sizeof(five) - off, 'U', msg, strlen(msg));
    }
    send_all(a, five, off);
    for (int i = 0; i < 5; i++) {
        snprintf(msg, sizeof(msg), "hello-%d", i);
        CHECK_EQ(read_data(a, buf, &len), 'S');
        CHECK(len == strlen(msg) && memcmp(buf, msg, len) == 0);
    }
    /* A Server Heartbeat after 1 s without output. */
    uint64_t t0 = mono_ns();
    CHECK_EQ(read_packet(a, buf, &len), 'H');
    uint64_t waited = mono_ns() - t0;
    CHECK(waited > 800 * MS && waited < 2000 * MS);

    /* Rejections: the session logged in already ('S'), a bad password ('A');
     * either closes the connection. */
    int b = client(0);
    CHECK_EQ(login(b, "alice", "pw1", 0, 0), -'S');
    CHECK(at_eof(b));
    close(b);
    b = client(0);
    CHECK_EQ(login(b, "bob", "nope", 0, 0), -'A');
    CHECK(at_eof(b));
    close(b);

    /* Reconnect asking for 3: 3, 4, 5 replayed, then live 6. */
    close(a);
    CHECK(wait_counter(WM_SOUP_CLOSE_PEER_CLOSED, 1));
    a = client(0);
    CHECK_EQ(login(a, "alice", "pw1", 3, 0), 3);
    for (int i = 2; i < 5; i++) {
        snprintf(msg, sizeof(msg), "hello-%d", i);
        CHECK_EQ(read_data(a, buf, &len), 'S');
        CHECK(len == strlen(msg) && memcmp(buf, msg, len) == 0);
    }
    send_u(a, "live-6", 6);
    CHECK_EQ(read_data(a, buf, &len), 'S');
    CHECK(len == 6 && memcmp(buf, "live-6", 6) == 0);
    CHECK(wait_counter(WM_SOUP_REPLAYED_OUT, 3));
    CHECK_EQ(counter(WM_SOUP_REPLAYED_OUT), 3);

    /* Bad input closes that connection only: unknown type, data before
     * login, oversized. */
    b = client(0);
    CHECK_EQ(login(b, "bob", "pw2", 0, 0), 1);
    send_all(b, "\x00\x01X", 3);
    CHECK(at_eof(b));
    close(b);
    CHECK(wait_counter(WM_SOUP_CLOSE_UNKNOWN_TYPE, 1));
    b = client(0);
    send_u(b, "early", 5);
    CHECK(at_eof(b));
    close(b);
    CHECK(wait_counter(WM_SOUP_CLOSE_DATA_BEFORE_LOGIN, 1));
    b = client(0);
    CHECK_EQ(login(b, "bob", "pw2", 0, 0), 1);
    send_all(b, "\x07\xd0U", 3);                     /* 2000 bytes announced */
    CHECK(at_eof(b));
    close(b);
    CHECK(wait_counter(WM_SOUP_CLOSE_OVERSIZED, 1));
    send_u(a, "still-7", 7);
    CHECK_EQ(read_data(a, buf, &len), 'S');
    CHECK(len == 7 && memcmp(buf, "still-7", 7) == 0);

    /* Output bound: a client that does not read, a burst of 400 x 200
     * bytes: closed; it logs in again with its next number and gets the
     * rest, every message once, in order. */
    int c = client(4096);
    CHECK_EQ(login(c, "carol", "pw3", 1, 0), 1);
    send_u(c, "BURST", 5);
    CHECK(wait_counter(WM_SOUP_CLOSE_OUTPUT_BOUND, 1));
    int got = 0, bad = 0, t;
    while ((t = read_data(c, buf, &len)) == 'S') {
        bad += !burst_ok(buf, len, got);
        got++;
    }
    close(c);
    CHECK(got < BURST);
    printf("output bound: closed after %d of %d messages reached the client\n", got, BURST);
    c = client(0);
    CHECK_EQ(login(c, "carol", "pw3", (uint64_t)got + 1, 0), got + 1);
    while (got < BURST && read_data(c, buf, &len) == 'S') {
        bad += !burst_ok(buf, len, got);
        got++;
    }
    CHECK_EQ(got, BURST);
    CHECK_EQ(bad, 0);
    close(c);

    /* Client timeout: alice stays silent (reading heartbeats) for 3 s. */
    t0 = mono_ns();
    CHECK(at_eof(a));
    waited = mono_ns() - t0;
    CHECK(waited > 2500 * MS && waited < 4500 * MS);
    CHECK(wait_counter(WM_SOUP_CLOSE_CLIENT_TIMEOUT, 1));
    close(a);

    /* A Logout behind output the client never reads: the graceful close
     * waits the client timeout, then drops it. */
    c = client(4096);
    CHECK_EQ(login(c, "carol", "pw3", 1, 0), 1);
    usleep(50000);                                 /* the replay fills the ring */
    send_all(c, "\x00\x01O", 3);
    CHECK(wait_counter(WM_SOUP_CLOSE_LOGOUT, 1));
    CHECK_EQ(counter(WM_SOUP_FLUSH_ABANDONED), 0);
    sleep(3);
    CHECK(wait_counter(WM_SOUP_FLUSH_ABANDONED, 1));
    close(c);

    /* End of Session: Z, then the connection closes; no login after. */
    b = client(0);
    CHECK_EQ(login(b, "bob", "pw2", 0, 0), 1);
    __atomic_store_n(&end_flag, 1, __ATOMIC_RELEASE);
    CHECK_EQ(read_data(b, buf, &len), 'Z');
    CHECK(at_eof(b));
    close(b);
    b = client(0);
    CHECK_EQ(login(b, "bob", "pw2", 0, 0), -'S');
    close(b);
    CHECK(wait_counter(WM_SOUP_CLOSE_END_OF_SESSION, 1));

    /* Every connection closed by the server once the clients are gone. */
    uint32_t open = 1;
    for (int i = 0; i < 300 && open; i++) {
        pthread_mutex_lock(&mu);
        open = snap_open;
        pthread_mutex_unlock(&mu);
        if (open)
            usleep(10000);
    }
    CHECK_EQ(open, 0);
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    for (uint32_t i = 1; i < WM_SOUP_N_COUNTERS; i++)
        if (wm_soup_server_counts(srv)[i])
            printf("  %s %llu\n", wm_soup_counter_name(i),
                   (unsigned long long)wm_soup_server_counts(srv)[i]);
    CHECK_EQ(wm_soup_server_open_conns(srv), 0);
    CHECK_EQ(wm_soup_server_counts(srv)[WM_SOUP_LOGINS_ACCEPTED], 8);
    CHECK_EQ(wm_soup_server_counts(srv)[WM_SOUP_REFUSED_TABLE_FULL], 0);
    wm_soup_server_destroy(srv);
}

int main(void)
{
    test_server();
    return check_finish("test_soup_server");
}
