/* NIC backends on loopback and on files: exact delivery, replies, truncation,
 * buffer exhaustion and recovery, option errors, pcap/pcapng reading,
 * pacing and looping.  (The veth tests are in tests/test_nic_veth.py.) */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "wirematch.h"

#define N_TEST 200

static int udp_client(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    struct timeval tv = { .tv_sec = 2 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_to(int fd, uint16_t port, const void *buf, size_t len)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof sa);
}

static void fill(uint8_t *b, uint32_t len, uint32_t seq)
{
    for (uint32_t i = 0; i < len; i++)
        b[i] = (uint8_t)(seq * 31 + i);
    memcpy(b, &seq, sizeof seq);
}

/* Receive until `want` packets or 2 s; checks each against fill(). Returns count. */
static uint32_t receive_all(struct wm_nic_queue *q, uint32_t want, uint32_t len, uint32_t *seqs,
                            struct wm_nic_pkt *last, int release)
{
    struct wm_nic_pkt pk[32];
    uint32_t got = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got < want) {
        int n = wm_nic_rx_burst(q, pk, 32);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            uint8_t expect[2048];
            uint32_t seq;
            memcpy(&seq, pk[i].data, 4);
            fill(expect, len, seq);
            CHECK_EQ(pk[i].len, len);
            CHECK(memcmp(pk[i].data, expect, len) == 0);
            CHECK_EQ(pk[i].kind, WM_NIC_PKT_L4);
            if (seqs && seq < N_TEST)
                seqs[seq]++;
            *last = pk[i];
        }
        got += (uint32_t)(n > 0 ? n : 0);
        if (release && n > 0)
            wm_nic_rx_release(q, pk, (uint32_t)n);
        if (n <= 0) {
            wm_nic_wait(q, 10000);
            clock_gettime(CLOCK_MONOTONIC, &t);
            if (t.tv_sec - t0.tv_sec > 2)
                break;
        }
    }
    return got;
}

static uint64_t ctr(struct wm_nic_queue *q, uint32_t idx)
{
    return wm_counters_get(wm_nic_counters(q), idx);
}

static void test_udp_backend(const char *name, uint32_t flags)
{
    struct wm_nic_opts o = { .size = sizeof o, .flags = flags, .addr = "127.0.0.1",
                             .n_buffers = 64, .buf_size = 512,
                             .zc_min_len = (flags & WM_NIC_O_SEND_ZC) ? 1 : 0 };
    struct wm_nic_queue *q = NULL;
    int rc = wm_nic_open(name, &o, &q);
    if (rc < 0)
        fprintf(stderr, "%s (flags 0x%x): %s\n", name, flags, wm_nic_last_error());
    CHECK_EQ(rc, 0);
    if (rc < 0)
        return;
    struct wm_nic_info info;
    CHECK_EQ(wm_nic_info(q, &info), 0);
    CHECK(strcmp(info.backend, name) == 0);
    CHECK(info.local_port != 0);
    CHECK_EQ(info.flags, flags);
    printf("%s: %s\n", name, info.mode);

    int cl = udp_client();
    uint8_t buf[2048];
    uint32_t seqs[N_TEST] = { 0 };
    /* exact delivery, in batches the socket buffer holds */
    for (uint32_t s = 0; s < N_TEST; s++) {
        fill(buf, 100, s);
        send_to(cl, info.local_port, buf, 100);
        if (s % 32 == 31)
            usleep(1000);
    }
    struct wm_nic_pkt last;
    CHECK_EQ(receive_all(q, N_TEST, 100, seqs, &last, 1), N_TEST);
    for (uint32_t s = 0; s < N_TEST; s++)
        CHECK_EQ(seqs[s], 1);
    CHECK_EQ(ctr(q, WM_NIC_RX_PACKETS), N_TEST);
    CHECK_EQ(ctr(q, WM_NIC_RX_BYTES), N_TEST * 100);

    /* reply to the sender */
    if (!(flags & WM_NIC_O_NO_ADDR)) {
        struct sockaddr_in me;
        socklen_t ml = sizeof me;
        getsockname(cl, (struct sockaddr *)&me, &ml);
        CHECK_EQ(last.src_port, me.sin_port);
        CHECK_EQ(last.src_addr, htonl(INADDR_LOOPBACK));
        struct wm_nic_pkt reply = { .data = (uint8_t *)"pong", .len = 4, .kind = WM_NIC_PKT_L4,
                                    .dst_addr = last.src_addr, .dst_port = last.src_port };
        CHECK_EQ(wm_nic_tx_burst(q, &reply, 1), 1);
        wm_nic_flush(q);
        ssize_t r = recv(cl, buf, sizeof buf, 0);
        CHECK_EQ(r, 4);
        CHECK(memcmp(buf, "pong", 4) == 0);
        /* an L2 frame and an oversized datagram are refused with a reason */
        struct wm_nic_pkt bad[2] = { reply, reply };
        bad[0].kind = WM_NIC_PKT_L2;
        bad[1].len = 70000;
        CHECK_EQ(wm_nic_tx_burst(q, bad, 2), 2);
        CHECK_EQ(ctr(q, WM_NIC_TX_DROP_BAD_KIND), 1);
        CHECK_EQ(ctr(q, WM_NIC_TX_DROP_OVERSIZED), 1);
        for (int i = 0; i < 20; i++)
            wm_nic_flush(q);
        CHECK_EQ(ctr(q, WM_NIC_TX_COMPLETIONS), 1);
    }

    /* a datagram larger than a buffer is dropped as truncated; the next one arrives */
    fill(buf, 1500, 7);
    send_to(cl, info.local_port, buf, 1500);
    fill(buf, 100, 8);
    send_to(cl, info.local_port, buf, 100);
    uint32_t dummy[N_TEST] = { 0 };
    CHECK_EQ(receive_all(q, 1, 100, dummy, &last, 1), 1);
    CHECK_EQ(dummy[8], 1);
    CHECK_EQ(ctr(q, WM_NIC_DROP_TRUNCATED), 1);

    /* buffer exhaustion: hold every buffer, the rest wait in the socket;
     * released, they all arrive */
    struct wm_nic_pkt held[64];
    uint32_t n_held = 0;
    for (uint32_t s = 0; s < 100; s++) {
        fill(buf, 100, s);
        send_to(cl, info.local_port, buf, 100);
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (n_held < 64) {
        int n = wm_nic_rx_burst(q, held + n_held, 64 - n_held);
        CHECK(n >= 0);
        n_held += (uint32_t)(n > 0 ? n : 0);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 2)
            break;
    }
    CHECK_EQ(n_held, 64);
    struct wm_nic_pkt extra[4];
    for (int i = 0; i < 5; i++) {
        wm_nic_wait(q, 2000);
        CHECK_EQ(wm_nic_rx_burst(q, extra, 4), 0);
    }
    CHECK(ctr(q, WM_NIC_RX_NO_BUFFERS) > 0);
    wm_nic_rx_release(q, held, n_held);
    CHECK_EQ(receive_all(q, 36, 100, NULL, &last, 1), 36);
    CHECK_EQ(ctr(q, WM_NIC_DROP_SOCKET_FULL), 0);
    close(cl);
    wm_nic_close(q);
}

static void test_open_errors(void)
{
    struct wm_nic_queue *q = NULL;
    struct wm_nic_opts o = { .size = sizeof o };
    CHECK_EQ(wm_nic_open("nonesuch", &o, &q), -ENOENT);
    CHECK(strstr(wm_nic_last_error(), "nonesuch") != NULL);
    o.flags = WM_NIC_O_SQPOLL;
    CHECK_EQ(wm_nic_open("socket", &o, &q), -EOPNOTSUPP);
    CHECK(strstr(wm_nic_last_error(), "sqpoll") != NULL);
    o.flags = 0;
    o.n_buffers = 100;
    CHECK_EQ(wm_nic_open("socket", &o, &q), -EINVAL);
    o.n_buffers = 0;
    o.addr = "10.0.0.300";
    CHECK_EQ(wm_nic_open("io_uring", &o, &q), -EINVAL);
    o.addr = "127.0.0.1";
    o.ifname = "nosuchif0";
    CHECK_EQ(wm_nic_open("io_uring", &o, &q), -ENODEV);
    o.ifname = NULL;
    o.flags = WM_NIC_O_SQPOLL | WM_NIC_O_DEFER_TASKRUN;
    CHECK_EQ(wm_nic_open("io_uring", &o, &q), -EINVAL);
    struct wm_nic_opts p = { .size = sizeof p, .path = "/nonexistent.pcap" };
    CHECK_EQ(wm_nic_open("pcap", &p, &q), -ENOENT);
    CHECK(strstr(wm_nic_last_error(), "/nonexistent.pcap") != NULL);
    CHECK_EQ(wm_nic_backend_count(), 5);
    CHECK(strcmp(wm_nic_backend_name(0), "io_uring") == 0);
    CHECK(strcmp(wm_nic_backend_name(3), "af_xdp") == 0);
    CHECK(strcmp(wm_nic_backend_name(4), "dpdk") == 0);
    CHECK(wm_nic_backend_name(5) == NULL);
    CHECK(strcmp(wm_nic_counter_names()[WM_NIC_DROP_TRUNCATED], "drop_truncated") == 0);
}

/* Write a capture through the pcap backend's transmit side, read it back. */
static void test_pcap_roundtrip(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/rt.pcap", dir);
    struct wm_nic_opts o = { .size = sizeof o, .tx_path = path, .addr = "10.199.0.1", .port = 5000 };
    struct wm_nic_queue *q = NULL;
    CHECK_EQ(wm_nic_open("pcap", &o, &q), 0);
    if (!q)
        return;
    uint8_t buf[300];
    struct wm_nic_pkt pk[10];
    for (uint32_t i = 0; i < 10; i++) {
        fill(buf, 200, i);
        pk[i] = (struct wm_nic_pkt){ .data = malloc(200), .len = 200, .kind = WM_NIC_PKT_L4,
                                     .dst_addr = htonl(0x0ac70002), .dst_port = htons(6000 + i) };
        memcpy(pk[i].data, buf, 200);
    }
    pk[9].dst_port = htons(5000);   /* one "to our port" for the port filter below */
    CHECK_EQ(wm_nic_tx_burst(q, pk, 10), 10);
    CHECK_EQ(ctr(q, WM_NIC_TX_PACKETS), 10);
    wm_nic_close(q);

    /* frames */
    o = (struct wm_nic_opts){ .size = sizeof o, .path = path };
    CHECK_EQ(wm_nic_open("pcap", &o, &q), 0);
    struct wm_nic_pkt in[16];
    int n = wm_nic_rx_burst(q, in, 16);
    CHECK_EQ(n, 10);
    for (int i = 0; i < n; i++) {
        CHECK_EQ(in[i].kind, WM_NIC_PKT_L2);
        CHECK_EQ(in[i].len, 14 + 20 + 8 + 200);
        CHECK(memcmp(in[i].data + 42, pk[i].data, 200) == 0);
    }
    CHECK_EQ(wm_nic_rx_burst(q, in, 16), -ENODATA);
    wm_nic_close(q);

    /* UDP payloads with addresses; with a port, only that port */
    o.flags = WM_NIC_O_L4;
    CHECK_EQ(wm_nic_open("pcap", &o, &q), 0);
    n = wm_nic_rx_burst(q, in, 16);
    CHECK_EQ(n, 10);
    CHECK_EQ(in[3].len, 200);
    CHECK(memcmp(in[3].data, pk[3].data, 200) == 0);
    CHECK_EQ(in[3].src_addr, htonl(0x0ac70001));
    CHECK_EQ(in[3].dst_addr, htonl(0x0ac70002));
    CHECK_EQ(in[3].src_port, htons(5000));
    CHECK_EQ(in[3].dst_port, htons(6003));
    wm_nic_close(q);
    o.port = 5000;
    CHECK_EQ(wm_nic_open("pcap", &o, &q), 0);
    CHECK_EQ(wm_nic_rx_burst(q, in, 16), 1);
    CHECK_EQ(ctr(q, WM_NIC_DROP_OTHER_PORT), 9);
    wm_nic_close(q);

    /* loop: 25 packets out of a 10-packet file */
    o = (struct wm_nic_opts){ .size = sizeof o, .path = path, .flags = WM_NIC_O_LOOP };
    CHECK_EQ(wm_nic_open("pcap", &o, &q), 0);
    uint32_t got = 0;
    while (got < 25) {
        n = wm_nic_rx_burst(q, in, 25 - got < 16 ? 25 - got : 16);
        CHECK(n > 0);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++)
            CHECK(memcmp(in[i].data + 42, pk[(got + (uint32_t)i) % 10].data, 200) == 0);
        got += (uint32_t)n;
    }
    wm_nic_close(q);
    for (int i = 0; i < 10; i++)
        free(pk[i].data);
}

static void put32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); }
static void put16(FILE *f, uint16_t v) { fwrite(&v, 2, 1, f); }

/* pcapng by hand: SHB, IDB with nanosecond resolution, three EPBs (one cut
 * short by the capture, one non-UDP), a custom block to skip, then a pcap
 * paced at 20 ms intervals. */
static void test_pcapng_and_pace(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/t.pcapng", dir);
    FILE *f = fopen(path, "w");
    put32(f, 0x0A0D0D0A); put32(f, 28); put32(f, 0x1A2B3C4D); put16(f, 1); put16(f, 0);
    put32(f, 0xffffffff); put32(f, 0xffffffff); put32(f, 28);
    /* IDB: linktype 1, snaplen 0, option if_tsresol=9, end */
    put32(f, 1); put32(f, 32); put16(f, 1); put16(f, 0); put32(f, 0);
    put16(f, 9); put16(f, 1); uint8_t res[4] = { 9, 0, 0, 0 }; fwrite(res, 4, 1, f);
    put16(f, 0); put16(f, 0); put32(f, 32);
    uint8_t frame[60];
    memset(frame, 0, sizeof frame);
    frame[12] = 0x08; frame[14] = 0x45; frame[16] = 0; frame[17] = 46; frame[23] = 17;
    frame[34] = 0x13; frame[35] = 0x88; frame[36] = 0x17; frame[37] = 0x70; frame[39] = 26;
    memcpy(frame + 42, "hello-pcapng-payload-18", 18);
    for (int k = 0; k < 3; k++) {
        uint8_t fr[60];
        memcpy(fr, frame, 60);
        uint32_t cap = 60, orig = 60;
        if (k == 1)
            orig = 100;              /* capture cut short */
        if (k == 2)
            fr[23] = 6;              /* TCP */
        put32(f, 6); put32(f, 32 + 60); put32(f, 0); put32(f, 0); put32(f, 1000u * (uint32_t)k);
        put32(f, cap); put32(f, orig); fwrite(fr, 60, 1, f); put32(f, 32 + 60);
    }
    put32(f, 0xBAD); put32(f, 16); put32(f, 0); put32(f, 16);  /* custom block */
    fclose(f);
    struct wm_nic_opts o = { .size = sizeof o, .path = path, .flags = WM_NIC_O_L4 };
    struct wm_nic_queue *q = NULL;
    CHECK_EQ(wm_nic_open("pcap", &o, &q), 0);
    if (q == NULL)
        return;
    struct wm_nic_pkt in[8];
    CHECK_EQ(wm_nic_rx_burst(q, in, 8), 1);
    CHECK_EQ(in[0].len, 18);
    CHECK(memcmp(in[0].data, "hello-pcapng-payload-18", 18) == 0);
    CHECK_EQ(ntohs(in[0].dst_port), 6000);
    CHECK_EQ(ctr(q, WM_NIC_DROP_TRUNCATED), 1);
    CHECK_EQ(ctr(q, WM_NIC_DROP_NOT_UDP), 1);
    CHECK_EQ(wm_nic_rx_burst(q, in, 8), -ENODATA);
    wm_nic_close(q);

    /* pace: 5 packets 20 ms apart take ~80 ms to deliver */
    snprintf(path, sizeof path, "%s/pace.pcap", dir);
    f = fopen(path, "w");
    put32(f, 0xa1b2c3d4); put16(f, 2); put16(f, 4); put32(f, 0); put32(f, 0); put32(f, 65535);
    put32(f, 1);
    for (uint32_t k = 0; k < 5; k++) {
        put32(f, 100); put32(f, 20000 * k); put32(f, 60); put32(f, 60);
        fwrite(frame, 60, 1, f);
    }
    fclose(f);
    o = (struct wm_nic_opts){ .size = sizeof o, .path = path, .flags = WM_NIC_O_PACE };
    CHECK_EQ(wm_nic_open("pcap", &o, &q), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int got = 0, first = wm_nic_rx_burst(q, in, 8);
    CHECK_EQ(first, 1);          /* only the first is due at once */
    got += first;
    while (got < 5) {
        int w = wm_nic_wait(q, 100000);
        CHECK(w >= 0);
        int n = wm_nic_rx_burst(q, in, 8);
        CHECK(n >= 0);
        got += n > 0 ? n : 0;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 2)
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK_EQ(got, 5);
    CHECK(ms >= 79 && ms < 400);
    wm_nic_close(q);

    /* garbage is refused with a sentence */
    snprintf(path, sizeof path, "%s/junk.pcap", dir);
    f = fopen(path, "w");
    fwrite("this is not a capture file at all", 33, 1, f);
    fclose(f);
    o = (struct wm_nic_opts){ .size = sizeof o, .path = path };
    CHECK_EQ(wm_nic_open("pcap", &o, &q), -EINVAL);
    CHECK(strstr(wm_nic_last_error(), "not a pcap") != NULL);
}

int main(void)
{
    char dir[] = "/tmp/wm-test-nic-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    test_open_errors();
    test_udp_backend("socket", 0);
    test_udp_backend("io_uring", 0);
    test_udp_backend("io_uring", WM_NIC_O_DEFER_TASKRUN);
    test_udp_backend("io_uring", WM_NIC_O_COOP_TASKRUN);
    test_udp_backend("io_uring", WM_NIC_O_SQPOLL);
    test_udp_backend("io_uring", WM_NIC_O_NO_ADDR);
    test_udp_backend("io_uring", WM_NIC_O_SEND_ZC);
    test_pcap_roundtrip(dir);
    test_pcapng_and_pace(dir);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_finish("test_nic");
}
