/* nic_echo - UDP round-trip latency through one NIC backend.
 *
 * Server (the backend under test, spinning):
 *   nic_echo server --backend io_uring --addr 10.199.1.1 --port 0 --cpu 0 --duration 10
 * Client (the same for every backend: a spinning non-blocking UDP socket):
 *   nic_echo client --dst 10.199.1.1 --port P --count 100000 --cpu 1
 *
 * The server sends every datagram back to its source.  The client sends one
 * 64-byte datagram, spins until the reply, records the round trip in an HDR
 * histogram, and prints p50/p99/p999 in microseconds as one JSON line.
 *
 * --breakdown (with `xsk_echo_min --stamp`, which writes TSC readings into
 * the reply at payload bytes 16 and 24) adds the medians and p99s of the
 * parts of the round trip: the client's send call, send start to the
 * server seeing the frame, the server's own work, the server's kick to the
 * reply read, and the client's last (successful) recv call. */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nic_bench.h"

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

static int server(int argc, char **argv)
{
    const char *backend = "socket", *addr = NULL, *opts = NULL, *ifname = NULL, *eal = NULL;
    const char *device = NULL;
    int port = 0, cpu = -1, sqcpu = -1;
    double duration = 10, flush_ms = 50;
    static const struct option lo[] = {
        { "backend", 1, 0, 'b' }, { "addr", 1, 0, 'a' },       { "port", 1, 0, 'p' },
        { "flush-ms", 1, 0, 'f' },
        { "options", 1, 0, 'o' }, { "cpu", 1, 0, 'c' },        { "sqpoll-cpu", 1, 0, 's' },
        { "duration", 1, 0, 'd' }, { "ifname", 1, 0, 'I' },   { "eal", 1, 0, 'E' },
        { "device", 1, 0, 'D' },  { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'b': backend = optarg; break;
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'o': opts = optarg; break;
        case 'c': cpu = atoi(optarg); break;
        case 's': sqcpu = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'f': flush_ms = atof(optarg); break;
        case 'I': ifname = optarg; break;
        case 'E': eal = optarg; break;
        case 'D': device = optarg; break;
        default: return 2;
        }
    }
    struct wm_nic_opts o = { .size = sizeof o, .addr = addr, .port = (uint16_t)port,
                             .n_buffers = 256, .sqpoll_cpu = sqcpu, .ifname = ifname,
                             .device = device };
    char eal_buf[1024];
    const char *eal_argv[64];
    o.eal_argc = nb_split_args(eal, eal_buf, sizeof eal_buf, eal_argv, 64);
    o.eal_argv = eal_argv;
    if (nb_flags(opts, &o.flags) < 0 || nb_pin(cpu) < 0) {
        fprintf(stderr, "nic_echo: bad options or cannot pin\n");
        return 2;
    }
    struct wm_nic_queue *q;
    if (wm_nic_open(backend, &o, &q) < 0) {
        fprintf(stderr, "nic_echo: %s\n", wm_nic_last_error());
        return 1;
    }
    /* Stopped by a signal: close the queue (an XDP program is detached, a DPDK port closed). */
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    struct wm_nic_info info;
    wm_nic_info(q, &info);
    printf("{\"ready\": true, \"port\": %u, \"mode\": \"%s\"}\n", info.local_port, info.mode);
    fflush(stdout);
    struct wm_nic_pkt pk[32], out[32];
    static uint8_t frames[32][2048];  /* L2 backends: the swapped replies */
    double end = nb_now() + duration, next_flush = 0;
    uint64_t spins = 0, echoed = 0;
    for (;;) {
        int n = wm_nic_rx_burst(q, pk, 32);
        if (n > 0) {
            int m = 0;
            for (int i = 0; i < n; i++) {
                out[m] = pk[i];
                if (pk[i].kind == WM_NIC_PKT_L2) {
                    out[m].data = frames[m];
                    out[m].len = nb_swap_frame(pk[i].data, pk[i].len, frames[m]);
                    if (out[m].len == 0)
                        continue;        /* not IPv4/UDP (ARP, ...): not echoed */
                } else {
                    out[m].dst_addr = pk[i].src_addr;
                    out[m].dst_port = pk[i].src_port;
                }
                m++;
            }
            int done = 0;
            while (done < m)
                done += wm_nic_tx_burst(q, out + done, (uint32_t)(m - done));
            wm_nic_rx_release(q, pk, (uint32_t)n);
            echoed += (uint32_t)n;
        } else if ((++spins & 0xfff) == 0) {
            /* The control beat: wm_nic_flush folds the kernel's statistics in
             * (AF_XDP: a getsockopt and a BPF map read, a few us), so it runs
             * every flush_ms, not every few thousand spins, where a reply
             * arriving meanwhile would wait for it. */
            double t = nb_now();
            if (t >= next_flush) {
                wm_nic_flush(q);
                next_flush = t + flush_ms * 1e-3;
            }
            if (t > end || stop)
                break;
        }
    }
    printf("{\"echoed\": %llu}\n", (unsigned long long)echoed);
    wm_nic_close(q);
    return 0;
}

static int client(int argc, char **argv)
{
    const char *dst = NULL;
    int port = 0, cpu = -1;
    uint64_t count = 100000, warmup = 1000;
    int breakdown = 0;
    static const struct option lo[] = {
        { "dst", 1, 0, 'd' },    { "port", 1, 0, 'p' },      { "count", 1, 0, 'n' },
        { "cpu", 1, 0, 'c' },    { "warmup", 1, 0, 'w' },    { "breakdown", 0, 0, 'b' },
        { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd': dst = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': count = strtoull(optarg, NULL, 10); break;
        case 'c': cpu = atoi(optarg); break;
        case 'w': warmup = strtoull(optarg, NULL, 10); break;
        case 'b': breakdown = 1; break;
        default: return 2;
        }
    }
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (dst == NULL || inet_pton(AF_INET, dst, &to.sin_addr) != 1 || nb_pin(cpu) < 0) {
        fprintf(stderr, "nic_echo client: --dst IP --port P needed\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        perror("connect");
        return 1;
    }
    const struct wm_clock *clk = wm_clock_default();
    struct wm_hist *h;
    wm_hist_create(1000000000ull, &h);
    uint8_t msg[64] = { 0 }, rep[2048];
    uint64_t lost = 0, stamped = 0;
    enum { B_SEND, B_TO_SERVER, B_SERVER, B_TO_CLIENT, B_LAST_RECV, B_N };
    static const char *const b_names[B_N] = { "send_call", "to_server", "server",
                                              "kick_to_reply", "last_recv" };
    struct wm_hist *bh[B_N] = { 0 };
    for (int k = 0; breakdown && k < B_N; k++)
        wm_hist_create(1000000000ull, &bh[k]);
    for (uint64_t i = 0; i < count + warmup; i++) {
        memcpy(msg, &i, sizeof i);
        uint64_t t0 = wm_tsc_start();
        if (send(fd, msg, sizeof msg, 0) < 0) {
            lost++;
            continue;
        }
        uint64_t t_sent = breakdown ? wm_tsc_start() : 0, t_call = 0;
        double give_up = 0;
        for (uint64_t spins = 1;; spins++) {
            if (breakdown)
                t_call = wm_tsc_start();
            ssize_t r = recv(fd, rep, sizeof rep, 0);
            if (r >= 8 && memcmp(rep, &i, 8) == 0)
                break;
            if ((spins & 0xffff) == 0) {
                double t = nb_now();
                if (give_up == 0)
                    give_up = t + 0.2;
                else if (t > give_up) {
                    lost++;
                    break;
                }
            }
        }
        uint64_t t1 = wm_tsc_end();
        if (i < warmup)
            continue;
        wm_hist_record_value(h, wm_clock_cycles_to_ns(clk, t1 - t0));
        if (breakdown) {
            uint64_t seen, kick;
            memcpy(&seen, rep + 16, 8);
            memcpy(&kick, rep + 24, 8);
            if (seen < t0 || kick < seen || t1 < kick)
                continue;        /* no stamps (another server), or a TSC step */
            uint64_t part[B_N] = { t_sent - t0, seen - t0, kick - seen, t1 - kick, t1 - t_call };
            for (int k = 0; k < B_N; k++)
                wm_hist_record_value(bh[k], wm_clock_cycles_to_ns(clk, part[k]));
            stamped++;
        }
    }
    printf("{\"count\": %llu, \"lost\": %llu, \"p50_us\": %.3f, \"p99_us\": %.3f, "
           "\"p999_us\": %.3f",
           (unsigned long long)count, (unsigned long long)lost, wm_hist_percentile(h, 50) / 1e3,
           wm_hist_percentile(h, 99) / 1e3, wm_hist_percentile(h, 99.9) / 1e3);
    if (breakdown)
        printf(", \"stamped\": %llu", (unsigned long long)stamped);
    for (int k = 0; breakdown && k < B_N; k++) {
        if (stamped)
            printf(", \"%s_p50_us\": %.3f, \"%s_p99_us\": %.3f", b_names[k],
                   wm_hist_percentile(bh[k], 50) / 1e3, b_names[k],
                   wm_hist_percentile(bh[k], 99) / 1e3);
        wm_hist_destroy(bh[k]);
    }
    printf("}\n");
    wm_hist_destroy(h);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "server") == 0)
        return server(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "client") == 0)
        return client(argc - 1, argv + 1);
    fprintf(stderr, "usage: nic_echo server|client [options]\n");
    return 2;
}
