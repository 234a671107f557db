/* nic_echo - UDP round-trip latency through one NIC backend.
 *
 * Server (the backend under test, spinning):
 *   nic_echo server --backend io_uring --addr 10.199.1.1 --port 0 --cpu 0 --duration 10
 * Client (the same for every backend: a spinning non-blocking UDP socket):
 *   nic_echo client --dst 10.199.1.1 --port P --count 100000 --cpu 1
 * or the AF_XDP client (the project's af_xdp backend on the client's side):
 *   nic_echo client --backend af_xdp --ifname PEER_IF --options xdp_native|xdp_skb
 *                   --dst 10.199.1.1 --port P [--sport 9301] [--src IP] [--dst-mac MAC]
 *                   [--timeout-ms 200] [--duration 60] --count 100000 --cpu 1
 *
 * The server sends every datagram back to its source.  The client sends one
 * 64-byte datagram, spins until the reply, records the round trip in an HDR
 * histogram, and prints p50/p99/p999 in microseconds as one JSON line.
 *
 * Why two clients: the socket client's own system calls (a ~2.9 us send,
 * 0.4 to 0.7 us per spinning recv on this VM) are most of the round trip it
 * measures (docs/nic.md).  The AF_XDP client builds the Ethernet/IPv4/UDP
 * request frame itself (source MAC and address from the interface, the
 * next hop's MAC from the neighbour table, UDP checksum 0, legal for IPv4),
 * sends it through an af_xdp queue on the interface (the project's XDP
 * program steers UDP to --sport on the interface's address into the
 * socket; everything else passes to the kernel), and polls the rx ring
 * without system calls: the one system call per round trip is the tx kick
 * copy mode needs (the JSON's rx_wakeups/tx_wakeups say what was made).  A
 * reply counts when it is the echo of the request in flight: IPv4/UDP from
 * --dst:--port to the client's address and port, the same payload length
 * and the request's sequence number (payload bytes 0..7).  Other frames
 * (late echoes of timed-out requests, anything else steered) are counted
 * and dropped.  A request unanswered within --timeout-ms is lost; the run
 * stops after --duration seconds whatever is left (duration_limited).
 * SIGTERM/SIGINT stop it too; the queue is closed on every exit path, so
 * the XDP program is detached.
 *
 * --breakdown (with `xsk_echo_min --stamp`, which writes TSC readings into
 * the reply at payload bytes 16 and 24) adds the medians and p99s of the
 * parts of the round trip: the client's send call, send start to the
 * server seeing the frame, the server's own work, the server's kick to the
 * reply read, and the client's last (successful) recv call. */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nic_bench.h"
#include "wirematch/ipv4.h"

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

struct client_cfg {
    const char *backend, *dst, *ifname, *options, *src, *dst_mac;
    int port, sport, cpu, breakdown;
    uint64_t count, warmup;
    double timeout_ms, duration;
};

/* --breakdown: each round trip split at the two TSC stamps a stamping
 * server (xsk_echo_min --stamp) writes into its reply: when it saw the
 * request and when it kicked the reply out. */
enum { B_SEND, B_TO_SERVER, B_SERVER, B_TO_CLIENT, B_LAST, B_N };
struct breakdown {
    int on;
    const char *last;            /* the client's last wait: "last_recv" / "last_poll" */
    uint64_t stamped;
    struct wm_hist *h[B_N];
};

static void breakdown_init(struct breakdown *b, int on, const char *last)
{
    memset(b, 0, sizeof *b);
    b->on = on;
    b->last = last;
    for (int k = 0; on && k < B_N; k++)
        wm_hist_create(1000000000ull, &b->h[k]);
}

/* t0 send started, t_sent send returned, t_last the last wait started, t1
 * the reply seen; seen/kick the server's stamps. */
static void breakdown_record(struct breakdown *b, const struct wm_clock *clk, uint64_t t0,
                             uint64_t t_sent, uint64_t t_last, uint64_t t1, uint64_t seen,
                             uint64_t kick)
{
    if (!b->on || seen < t0 || kick < seen || t1 < kick)
        return;                  /* no stamps (another server), or a TSC step */
    uint64_t part[B_N] = { t_sent - t0, seen - t0, kick - seen, t1 - kick, t1 - t_last };
    for (int k = 0; k < B_N; k++)
        wm_hist_record_value(b->h[k], wm_clock_cycles_to_ns(clk, part[k]));
    b->stamped++;
}

/* Appends the breakdown's JSON fields (if on) and frees it. */
static void breakdown_finish(struct breakdown *b)
{
    static const char *const names[B_N - 1] = { "send_call", "to_server", "server",
                                                "kick_to_reply" };
    if (b->on)
        printf(", \"stamped\": %llu", (unsigned long long)b->stamped);
    for (int k = 0; b->on && k < B_N; k++) {
        const char *name = k == B_LAST ? b->last : names[k];
        if (b->stamped)
            printf(", \"%s_p50_us\": %.3f, \"%s_p99_us\": %.3f", name,
                   wm_hist_percentile(b->h[k], 50) / 1e3, name,
                   wm_hist_percentile(b->h[k], 99) / 1e3);
        wm_hist_destroy(b->h[k]);
    }
}

static int client_socket(const struct client_cfg *cfg);
static int client_xdp(const struct client_cfg *cfg);

static int client(int argc, char **argv)
{
    struct client_cfg cfg = { .backend = "socket", .sport = 9301, .cpu = -1, .count = 100000,
                              .warmup = 1000, .timeout_ms = 200, .duration = 60 };
    static const struct option lo[] = {
        { "dst", 1, 0, 'd' },    { "port", 1, 0, 'p' },      { "count", 1, 0, 'n' },
        { "cpu", 1, 0, 'c' },    { "warmup", 1, 0, 'w' },    { "breakdown", 0, 0, 'b' },
        { "backend", 1, 0, 'B' }, { "ifname", 1, 0, 'I' },   { "options", 1, 0, 'o' },
        { "sport", 1, 0, 's' },  { "src", 1, 0, 'S' },       { "dst-mac", 1, 0, 'M' },
        { "timeout-ms", 1, 0, 't' }, { "duration", 1, 0, 'D' },
        { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd': cfg.dst = optarg; break;
        case 'p': cfg.port = atoi(optarg); break;
        case 'n': cfg.count = strtoull(optarg, NULL, 10); break;
        case 'c': cfg.cpu = atoi(optarg); break;
        case 'w': cfg.warmup = strtoull(optarg, NULL, 10); break;
        case 'b': cfg.breakdown = 1; break;
        case 'B': cfg.backend = optarg; break;
        case 'I': cfg.ifname = optarg; break;
        case 'o': cfg.options = optarg; break;
        case 's': cfg.sport = atoi(optarg); break;
        case 'S': cfg.src = optarg; break;
        case 'M': cfg.dst_mac = optarg; break;
        case 't': cfg.timeout_ms = atof(optarg); break;
        case 'D': cfg.duration = atof(optarg); break;
        default: return 2;
        }
    }
    if (strcmp(cfg.backend, "socket") == 0)
        return client_socket(&cfg);
    if (strcmp(cfg.backend, "af_xdp") == 0)
        return client_xdp(&cfg);
    fprintf(stderr, "nic_echo client: --backend socket or af_xdp, not %s\n", cfg.backend);
    return 2;
}

/* The socket client: one spinning non-blocking UDP socket (send, recv). */
static int client_socket(const struct client_cfg *cfg)
{
    const char *dst = cfg->dst;
    int port = cfg->port, cpu = cfg->cpu, breakdown = cfg->breakdown;
    uint64_t count = cfg->count, warmup = cfg->warmup;
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
    uint64_t lost = 0;
    struct breakdown bd;
    breakdown_init(&bd, breakdown, "last_recv");
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
            breakdown_record(&bd, clk, t0, t_sent, t_call, t1, seen, kick);
        }
    }
    printf("{\"count\": %llu, \"lost\": %llu, \"p50_us\": %.3f, \"p99_us\": %.3f, "
           "\"p999_us\": %.3f",
           (unsigned long long)count, (unsigned long long)lost, wm_hist_percentile(h, 50) / 1e3,
           wm_hist_percentile(h, 99) / 1e3, wm_hist_percentile(h, 99.9) / 1e3);
    breakdown_finish(&bd);
    printf("}\n");
    wm_hist_destroy(h);
    close(fd);
    return 0;
}

/* ---- the AF_XDP client ---- */

enum { ETH_LEN = 14, IP_LEN = 20, UDP_LEN = 8, PAYLOAD = 64 };
enum { HDRS = ETH_LEN + IP_LEN + UDP_LEN, FRAME_LEN = HDRS + PAYLOAD };

static int parse_mac(const char *text, uint8_t mac[6])
{
    unsigned v[6];
    if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 0xff)
            return -1;
        mac[i] = (uint8_t)v[i];
    }
    return 0;
}

/* The complete (permanent or reachable) neighbour entry of ip on ifname. */
static int neighbour_mac(struct in_addr ip, const char *ifname, uint8_t mac[6])
{
    FILE *f = fopen("/proc/net/arp", "r");
    if (f == NULL)
        return -1;
    char line[256], want[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &ip, want, sizeof want);
    int rc = -1;
    while (rc < 0 && fgets(line, sizeof line, f)) {
        char a[64], hw[64], dev[64];
        unsigned flags;
        if (sscanf(line, "%63s %*s 0x%x %63s %*s %63s", a, &flags, hw, dev) == 4 &&
            strcmp(a, want) == 0 && strcmp(dev, ifname) == 0 && (flags & 2) &&
            parse_mac(hw, mac) == 0)
            rc = 0;
    }
    fclose(f);
    return rc;
}

/* The interface's MAC and (unless given) its IPv4 address. */
static int interface_addrs(const char *ifname, uint8_t mac[6], struct in_addr *addr, int want_addr)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    int rc = -1;
    if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
        fprintf(stderr, "nic_echo client: no interface %s here\n", ifname);
    } else {
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
        rc = 0;
        if (want_addr) {
            if (ioctl(s, SIOCGIFADDR, &ifr) < 0) {
                fprintf(stderr, "nic_echo client: %s has no IPv4 address: pass --src\n", ifname);
                rc = -1;
            } else {
                *addr = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
            }
        }
    }
    close(s);
    return rc;
}

/* Ethernet/IPv4/UDP request frame, payload zero (the sequence number goes
 * into payload bytes 0..7 per request; no checksum covers them: UDP 0). */
static void build_request(uint8_t *f, const uint8_t dmac[6], const uint8_t smac[6],
                          struct in_addr src, struct in_addr dst, uint16_t sport, uint16_t dport)
{
    memset(f, 0, FRAME_LEN);
    memcpy(f, dmac, 6);
    memcpy(f + 6, smac, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t *ip = f + ETH_LEN;
    ip[0] = 0x45;
    ip[2] = (uint8_t)((IP_LEN + UDP_LEN + PAYLOAD) >> 8);
    ip[3] = (uint8_t)(IP_LEN + UDP_LEN + PAYLOAD);
    ip[6] = 0x40;        /* DF */
    ip[8] = 64;          /* TTL */
    ip[9] = 17;          /* UDP */
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    uint16_t csum = wm_ipv4_checksum(ip, IP_LEN);
    ip[10] = (uint8_t)(csum >> 8);
    ip[11] = (uint8_t)csum;
    uint8_t *udp = ip + IP_LEN;
    udp[0] = (uint8_t)(sport >> 8);
    udp[1] = (uint8_t)sport;
    udp[2] = (uint8_t)(dport >> 8);
    udp[3] = (uint8_t)dport;
    udp[4] = (uint8_t)((UDP_LEN + PAYLOAD) >> 8);
    udp[5] = (uint8_t)(UDP_LEN + PAYLOAD);
}

/* The echo of a request of ours: IPv4/UDP, from the request's destination
 * address and port to its source, the same payload length.  Returns the
 * payload (its sequence number at 0..7), or NULL. */
static const uint8_t *echo_payload(const uint8_t *f, uint32_t len, const uint8_t *req)
{
    if (len < HDRS || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4 || f[23] != 17)
        return NULL;
    uint32_t ihl = (uint32_t)(f[14] & 0x0f) * 4;
    if (ihl < IP_LEN || len < ETH_LEN + ihl + UDP_LEN + PAYLOAD)
        return NULL;
    const uint8_t *ip = f + ETH_LEN, *rip = req + ETH_LEN;
    const uint8_t *udp = ip + ihl, *rudp = rip + IP_LEN;
    if (memcmp(ip + 12, rip + 16, 4) != 0 || memcmp(ip + 16, rip + 12, 4) != 0 ||
        memcmp(udp, rudp + 2, 2) != 0 || memcmp(udp + 2, rudp, 2) != 0 ||
        (udp[4] << 8 | udp[5]) != UDP_LEN + PAYLOAD)
        return NULL;
    return udp + UDP_LEN;
}

static int client_xdp(const struct client_cfg *cfg)
{
    struct in_addr dst, src = { 0 };
    if (cfg->dst == NULL || inet_pton(AF_INET, cfg->dst, &dst) != 1 || cfg->port <= 0 ||
        cfg->port > 65535 || cfg->ifname == NULL || cfg->sport <= 0 || cfg->sport > 65535 ||
        (cfg->src && inet_pton(AF_INET, cfg->src, &src) != 1) || cfg->timeout_ms <= 0 ||
        cfg->duration <= 0) {
        fprintf(stderr, "nic_echo client --backend af_xdp: --ifname IF --dst IP --port P "
                        "needed (--sport 1..65535, --src IP, --timeout-ms and --duration > 0)\n");
        return 2;
    }
    uint8_t smac[6], dmac[6];
    if (interface_addrs(cfg->ifname, smac, &src, cfg->src == NULL) < 0)
        return 1;
    if (cfg->dst_mac ? parse_mac(cfg->dst_mac, dmac) < 0
                     : neighbour_mac(dst, cfg->ifname, dmac) < 0) {
        fprintf(stderr, "nic_echo client: no neighbour entry for %s on %s: add one (ip neigh "
                        "replace ... lladdr ... nud permanent) or pass --dst-mac\n",
                cfg->dst, cfg->ifname);
        return 1;
    }
    /* Round trips, time-outs and the duration limit are TSC readings. */
    const struct wm_clock *clk = wm_clock_default();
    if (clk->source != WM_CLOCK_TSC) {
        fprintf(stderr, "nic_echo client: needs an invariant, calibrated TSC (clock source "
                        "here: %s)\n", wm_clock_source_name(clk));
        return 1;
    }
    char src_text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &src, src_text, sizeof src_text);
    struct wm_nic_opts o = { .size = sizeof o, .ifname = cfg->ifname, .addr = src_text,
                             .port = (uint16_t)cfg->sport, .n_buffers = 256, .tx_slots = 64,
                             .burst = 32 };
    if (nb_flags(cfg->options, &o.flags) < 0 || nb_pin(cfg->cpu) < 0) {
        fprintf(stderr, "nic_echo client: bad options or cannot pin\n");
        return 2;
    }
    struct wm_nic_queue *q;
    if (wm_nic_open("af_xdp", &o, &q) < 0) {
        fprintf(stderr, "nic_echo client: %s\n", wm_nic_last_error());
        return 1;
    }
    /* From here on every exit closes the queue (and so detaches the program). */
    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    struct wm_nic_info info;
    wm_nic_info(q, &info);

    const uint64_t timeout_ticks = (uint64_t)((double)clk->tsc_hz * cfg->timeout_ms * 1e-3);
    const uint64_t end_ticks = wm_tsc_start() + (uint64_t)((double)clk->tsc_hz * cfg->duration);
    struct wm_hist *h;
    wm_hist_create(1000000000ull, &h);
    struct breakdown bd;
    breakdown_init(&bd, cfg->breakdown, "last_poll");

    static uint8_t req[FRAME_LEN];
    build_request(req, dmac, smac, src, dst, (uint16_t)cfg->sport, (uint16_t)cfg->port);
    struct wm_nic_pkt out = { .data = req, .len = FRAME_LEN, .kind = WM_NIC_PKT_L2 };
    struct wm_nic_pkt pk[32];
    uint64_t sent = 0, answered = 0, lost = 0, late = 0, other = 0, tx_refused = 0;
    uint64_t i;
    int duration_limited = 0;
    uint8_t stamps[16];
    for (i = 0; i < cfg->count + cfg->warmup && !stop; i++) {
        uint64_t t0 = wm_tsc_start();
        if (t0 > end_ticks) {
            duration_limited = 1;
            break;
        }
        memcpy(req + HDRS, &i, sizeof i);
        if (wm_nic_tx_burst(q, &out, 1) != 1) {
            /* No free transmit frame: completions are reaped by the next
             * burst; count it and move on (a ring of 64 for one in flight). */
            tx_refused++;
            lost++;
            wm_nic_flush(q);
            continue;
        }
        sent++;
        uint64_t t_sent = wm_tsc_start(), t_poll = 0, t1 = 0;
        /* The overall limit holds for the request in flight too. */
        uint64_t deadline = t_sent + timeout_ticks < end_ticks ? t_sent + timeout_ticks : end_ticks;
        int got = 0;
        while (!got) {
            t_poll = wm_tsc_start();
            int n = wm_nic_rx_burst(q, pk, 32);
            if (n > 0) {
                t1 = wm_tsc_end();
                for (int k = 0; k < n; k++) {
                    const uint8_t *pl = echo_payload(pk[k].data, pk[k].len, req);
                    uint64_t seq;
                    if (pl == NULL) {
                        other++;
                        continue;
                    }
                    memcpy(&seq, pl, sizeof seq);
                    if (seq != i || got) {
                        late++;        /* an earlier request's echo, after its time-out */
                        continue;
                    }
                    got = 1;
                    memcpy(stamps, pl + 16, sizeof stamps);
                }
                wm_nic_rx_release(q, pk, (uint32_t)n);
            } else if (n < 0) {
                fprintf(stderr, "nic_echo client: rx burst failed: %s\n", strerror(-n));
                stop = 1;
            }
            if (!got && (t_poll > deadline || stop))
                break;
        }
        if (!got) {
            lost++;
            if (t_poll > end_ticks)
                duration_limited = 1;
            continue;
        }
        answered++;
        if (i < cfg->warmup)
            continue;
        wm_hist_record_value(h, wm_clock_cycles_to_ns(clk, t1 - t0));
        if (cfg->breakdown) {
            uint64_t seen, kick;
            memcpy(&seen, stamps, 8);
            memcpy(&kick, stamps + 8, 8);
            breakdown_record(&bd, clk, t0, t_sent, t_poll, t1, seen, kick);
        }
    }
    wm_nic_sync_stats(q);   /* fold the kernel's statistics into the counters */
    struct wm_counters *ctr = wm_nic_counters(q);
    printf("{\"count\": %llu, \"lost\": %llu, \"p50_us\": %.3f, \"p99_us\": %.3f, "
           "\"p999_us\": %.3f, \"recorded\": %llu, \"client\": \"af_xdp\", \"mode\": \"%s\", \"requests\": %llu, "
           "\"sent\": %llu, \"answered\": %llu, \"late\": %llu, \"other\": %llu, "
           "\"tx_refused\": %llu, \"duration_limited\": %s, \"stopped\": %s, "
           "\"rx_wakeups\": %llu, \"tx_wakeups\": %llu, \"drop_kernel_rx\": %llu",
           (unsigned long long)cfg->count, (unsigned long long)lost,
           wm_hist_percentile(h, 50) / 1e3, wm_hist_percentile(h, 99) / 1e3,
           wm_hist_percentile(h, 99.9) / 1e3, (unsigned long long)h->total, info.mode, (unsigned long long)i,
           (unsigned long long)sent, (unsigned long long)answered, (unsigned long long)late,
           (unsigned long long)other, (unsigned long long)tx_refused,
           duration_limited ? "true" : "false", stop ? "true" : "false",
           (unsigned long long)wm_counters_get(ctr, WM_NIC_RX_WAKEUPS),
           (unsigned long long)wm_counters_get(ctr, WM_NIC_TX_WAKEUPS),
           (unsigned long long)wm_counters_get(ctr, WM_NIC_DROP_KERNEL_RX));
    breakdown_finish(&bd);
    printf("}\n");
    wm_hist_destroy(h);
    wm_nic_close(q);
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
