/* loadgen - send order traffic (MoldUDP64 + OUCH 5.0 Enter Order, or any
 * capture) at a given rate or as fast as possible, and say what was sent.
 *
 *   loadgen --dst 10.199.1.1 --dport 9000 --count 100000 --pps 50000
 *   loadgen --dst 10.199.1.1 --dport 9000 --duration 2 --topspeed --xdp veth-n
 *
 * Transmit paths: sendmmsg on UDP sockets (one per session, source ports
 * sport, sport+1, ...), or AF_XDP (--xdp IFNAME): frames built in a UMEM and
 * handed to the interface's transmit ring, bypassing the sender's UDP/IP
 * stack (on veth the kernel path costs the sender most of the work; AF_XDP
 * on veth is copy mode).  UDP checksums are 0 (legal for IPv4).
 *
 * End of run, tcpreplay-style:  Actual (what the kernel accepted, and in
 * how long), Rated (the achieved rate), Failed (refused packets), plus a
 * JSON line with --json.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include "payload.h"
#include "wirematch/ipv4.h"

#define BATCH_MAX 256
#define XSK_FRAMES 4096
#define XSK_FRAME 2048
#define XSK_RING 2048

struct cfg {
    struct in_addr dst, src;
    bool have_src;
    uint16_t dport, sport;
    uint64_t count;              /* 0 = unbounded (duration given) */
    double duration;             /* 0 = unbounded (count given) */
    double pps;                  /* 0 with topspeed */
    bool topspeed;
    uint32_t sessions, msgs, batch;
    int cpu;
    const char *xdp_if;
    int xdp_queue;
    uint8_t dst_mac[6];
    bool have_dst_mac;
    const char *pcap;
    bool frames;
    bool json;
    const char *mix;             /* symbols of the realistic mix, or NULL */
    uint64_t mid, tick, seed;
    bool hello;
};

struct totals {
    uint64_t packets, bytes, failed, retries;
    uint64_t hellos; /* --hello heartbeats sent before the timed run (not in packets) */
    double seconds;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --dst IP --dport PORT (--count N | --duration S) [options]\n"
            "  --pps R           packets per second (default: --topspeed)\n"
            "  --topspeed        as fast as possible\n"
            "  --sessions K      MoldUDP64 sessions / source ports (default 1)\n"
            "  --msgs M          Enter Order messages per packet (default 1)\n"
            "  --sport P         first source port (default 40000)\n"
            "  --src IP          source address (AF_XDP: default the interface's)\n"
            "  --batch B         packets per system call (default 32)\n"
            "  --pcap FILE       send this capture's UDP payloads instead\n"
            "  --frames          with --pcap and --xdp: send its Ethernet frames unchanged\n"
            "  --xdp IFNAME      transmit with AF_XDP on IFNAME (copy mode on veth)\n"
            "  --xdp-queue Q     AF_XDP queue (default 0)\n"
            "  --dst-mac MAC     AF_XDP: next hop (default: the neighbour entry of --dst)\n"
            "  --cpu N           pin to core N\n"
            "  --mix SYMS        realistic mix (passive/aggressive enters, cancels, replaces)\n"
            "                    over comma-separated symbols, instead of Enter Orders only\n"
            "  --mid P --tick T  mix prices: around P, multiples of T (Price(4) units)\n"
            "  --seed N          mix seed (default 1)\n"
            "  --hello           open each session with a MoldUDP64 heartbeat, then wait 100 ms\n"
            "  --json            also print a JSON summary line\n");
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

static int parse_args(int argc, char **argv, struct cfg *c)
{
    static const struct option longopts[] = {
        { "dst", 1, 0, 'd' },      { "dport", 1, 0, 'p' },   { "count", 1, 0, 'c' },
        { "duration", 1, 0, 't' }, { "pps", 1, 0, 'r' },     { "topspeed", 0, 0, 'T' },
        { "sessions", 1, 0, 's' }, { "msgs", 1, 0, 'm' },    { "sport", 1, 0, 'P' },
        { "src", 1, 0, 'S' },      { "batch", 1, 0, 'b' },   { "pcap", 1, 0, 'f' },
        { "frames", 0, 0, 'F' },   { "xdp", 1, 0, 'x' },     { "xdp-queue", 1, 0, 'q' },
        { "dst-mac", 1, 0, 'M' },  { "cpu", 1, 0, 'C' },     { "json", 0, 0, 'j' },
        { "mix", 1, 0, 'X' },      { "mid", 1, 0, 'I' },     { "tick", 1, 0, 'K' },
        { "seed", 1, 0, 'E' },     { "hello", 0, 0, 'H' },
        { "help", 0, 0, 'h' },     { 0, 0, 0, 0 },
    };
    memset(c, 0, sizeof *c);
    c->sessions = 1;
    c->msgs = 1;
    c->batch = 32;
    c->sport = 40000;
    c->cpu = -1;
    c->mid = 1000000;
    c->tick = 100;
    c->seed = 1;
    bool have_dst = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd': have_dst = inet_pton(AF_INET, optarg, &c->dst) == 1;
                  if (!have_dst) { fprintf(stderr, "loadgen: --dst %s is not an IPv4 address\n", optarg); return -1; }
                  break;
        case 'p': c->dport = (uint16_t)atoi(optarg); break;
        case 'c': c->count = strtoull(optarg, NULL, 10); break;
        case 't': c->duration = atof(optarg); break;
        case 'r': c->pps = atof(optarg); break;
        case 'T': c->topspeed = true; break;
        case 's': c->sessions = (uint32_t)atoi(optarg); break;
        case 'm': c->msgs = (uint32_t)atoi(optarg); break;
        case 'P': c->sport = (uint16_t)atoi(optarg); break;
        case 'S': c->have_src = inet_pton(AF_INET, optarg, &c->src) == 1;
                  if (!c->have_src) { fprintf(stderr, "loadgen: --src %s is not an IPv4 address\n", optarg); return -1; }
                  break;
        case 'b': c->batch = (uint32_t)atoi(optarg); break;
        case 'f': c->pcap = optarg; break;
        case 'F': c->frames = true; break;
        case 'x': c->xdp_if = optarg; break;
        case 'q': c->xdp_queue = atoi(optarg); break;
        case 'M': if (parse_mac(optarg, c->dst_mac) < 0) { fprintf(stderr, "loadgen: bad --dst-mac\n"); return -1; }
                  c->have_dst_mac = true; break;
        case 'C': c->cpu = atoi(optarg); break;
        case 'j': c->json = true; break;
        case 'X': c->mix = optarg; break;
        case 'I': c->mid = strtoull(optarg, NULL, 10); break;
        case 'K': c->tick = strtoull(optarg, NULL, 10); break;
        case 'E': c->seed = strtoull(optarg, NULL, 10); break;
        case 'H': c->hello = true; break;
        default: usage(); return -1;
        }
    }
    if (!have_dst && !c->frames) {
        fprintf(stderr, "loadgen: --dst is required\n");
        return -1;
    }
    if (c->dport == 0 && !c->frames) {
        fprintf(stderr, "loadgen: --dport is required\n");
        return -1;
    }
    if (c->count == 0 && c->duration <= 0) {
        fprintf(stderr, "loadgen: give --count N or --duration S (a run is always bounded)\n");
        return -1;
    }
    if (c->pps <= 0 && !c->topspeed) {
        fprintf(stderr, "loadgen: give --pps R or --topspeed\n");
        return -1;
    }
    if (c->sessions == 0 || c->sessions > LG_MAX_SESSIONS) {
        fprintf(stderr, "loadgen: --sessions between 1 and %d\n", LG_MAX_SESSIONS);
        return -1;
    }
    if (c->batch == 0 || c->batch > BATCH_MAX) {
        fprintf(stderr, "loadgen: --batch between 1 and %d\n", BATCH_MAX);
        return -1;
    }
    if (c->frames && (!c->pcap || !c->xdp_if)) {
        fprintf(stderr, "loadgen: --frames needs --pcap and --xdp\n");
        return -1;
    }
    return 0;
}

/* Pacing: how many packets may go now, given `sent` so far. */
static uint64_t allowance(const struct cfg *c, double t0, uint64_t sent, uint32_t batch)
{
    uint64_t want = batch;
    if (c->count && c->count - sent < want)
        want = c->count - sent;
    if (c->topspeed)
        return want;
    for (;;) {
        double t = now_s() - t0;
        uint64_t due = (uint64_t)(t * c->pps) + 1;
        if (due > sent)
            return due - sent < want ? due - sent : want;
        double ahead = (double)(sent + 1 - due) / c->pps;
        if (ahead > 100e-6) {
            struct timespec ts = { 0, (long)((ahead - 50e-6) * 1e9) };
            nanosleep(&ts, NULL);
        }
    }
}

static bool finished(const struct cfg *c, double t0, uint64_t sent)
{
    if (c->count && sent >= c->count)
        return true;
    return c->duration > 0 && now_s() - t0 >= c->duration;
}

/* ---- sendmmsg ---- */

static int run_sendmmsg(const struct cfg *c, struct lg_source *src, struct totals *tot)
{
    int fds[LG_MAX_SESSIONS];
    for (uint32_t i = 0; i < c->sessions; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(c->sport + i)) };
        if (c->have_src)
            me.sin_addr = c->src;
        int sndbuf = 4 << 20;
        setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&me, sizeof me) < 0) {
            fprintf(stderr, "loadgen: cannot bind UDP source port %u: %s\n", c->sport + i,
                    strerror(errno));
            return -1;
        }
    }
    static uint8_t bufs[BATCH_MAX][LG_MAX_PAYLOAD];
    struct mmsghdr msgs[BATCH_MAX];
    struct iovec iov[BATCH_MAX];
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(c->dport), .sin_addr = c->dst };
    uint32_t session = 0;
    uint64_t sent = 0;
    if (c->hello && !src->from_pcap) {
        for (uint32_t i = 0; i < c->sessions; i++) {
            uint32_t len = lg_heartbeat(src, i, bufs[0]);
            if (sendto(fds[i], bufs[0], len, 0, (struct sockaddr *)&to, sizeof to) < 0)
                tot->failed++;
            else
                tot->hellos++;
        }
        struct timespec ts = { 0, 100000000 };
        nanosleep(&ts, NULL);
    }
    double t0 = now_s();
    while (!finished(c, t0, sent)) {
        uint32_t n = (uint32_t)allowance(c, t0, sent, c->batch);
        /* one batch per session socket */
        for (uint32_t i = 0; i < n; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = lg_next_payload(src, session, bufs[i], LG_MAX_PAYLOAD);
            msgs[i].msg_hdr = (struct msghdr){ .msg_name = &to, .msg_namelen = sizeof to,
                                               .msg_iov = &iov[i], .msg_iovlen = 1 };
        }
        uint32_t done = 0, tries = 0;
        while (done < n) {
            int r = sendmmsg(fds[session], msgs + done, n - done, 0);
            if (r > 0) {
                for (int k = 0; k < r; k++)
                    tot->bytes += iov[done + (uint32_t)k].iov_len;
                tot->packets += (uint32_t)r;
                done += (uint32_t)r;
                continue;
            }
            if ((errno == ENOBUFS || errno == EAGAIN || errno == EINTR) && tries++ < 1000) {
                tot->retries++;
                continue;
            }
            tot->failed++;       /* refused: count it, go on with the next */
            done++;
        }
        sent += n;
        session = (session + 1) % c->sessions;
    }
    tot->seconds = now_s() - t0;
    for (uint32_t i = 0; i < c->sessions; i++)
        close(fds[i]);
    return 0;
}

/* ---- AF_XDP ---- */

static int neighbour_mac(struct in_addr ip, const char *ifname, uint8_t mac[6])
{
    FILE *f = fopen("/proc/net/arp", "r");
    if (f == NULL)
        return -1;
    char line[256], want[32];
    inet_ntop(AF_INET, &ip, want, sizeof want);
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        char a[64], hw[64], dev[64];
        unsigned flags;
        if (sscanf(line, "%63s %*s 0x%x %63s %*s %63s", a, &flags, hw, dev) == 4 &&
            strcmp(a, want) == 0 && strcmp(dev, ifname) == 0 && (flags & 2) &&
            parse_mac(hw, mac) == 0) {
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int run_xdp(const struct cfg *c, struct lg_source *src, struct totals *tot)
{
    uint8_t src_mac[6], dst_mac[6];
    struct in_addr saddr = c->src;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", c->xdp_if);
    if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
        fprintf(stderr, "loadgen: no interface %s here\n", c->xdp_if);
        close(s);
        return -1;
    }
    memcpy(src_mac, ifr.ifr_hwaddr.sa_data, 6);
    if (!c->have_src) {
        if (ioctl(s, SIOCGIFADDR, &ifr) < 0) {
            fprintf(stderr, "loadgen: %s has no IPv4 address: pass --src\n", c->xdp_if);
            close(s);
            return -1;
        }
        saddr = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
    }
    close(s);
    if (c->have_dst_mac) {
        memcpy(dst_mac, c->dst_mac, 6);
    } else if (!c->frames && neighbour_mac(c->dst, c->xdp_if, dst_mac) < 0) {
        fprintf(stderr, "loadgen: no neighbour entry for %s on %s: add one "
                "(ip neigh replace ... lladdr ... nud permanent) or pass --dst-mac\n",
                inet_ntoa(c->dst), c->xdp_if);
        return -1;
    }

    size_t area_len = (size_t)XSK_FRAMES * XSK_FRAME;
    void *area = mmap(NULL, area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) {
        perror("loadgen: mmap");
        return -1;
    }
    struct xsk_umem *umem;
    /* zeroed: libxdp 1.3 leaves the cached indices of the rings it maps as they were */
    struct xsk_ring_prod fill = { 0 }, tx = { 0 };
    struct xsk_ring_cons comp = { 0 }, rx = { 0 };
    (void)rx;
    struct xsk_umem_config ucfg = { .fill_size = XSK_RING, .comp_size = XSK_RING,
                                    .frame_size = XSK_FRAME, .frame_headroom = 0 };
    int rc = xsk_umem__create(&umem, area, area_len, &fill, &comp, &ucfg);
    if (rc) {
        fprintf(stderr, "loadgen: AF_XDP UMEM: %s%s\n", strerror(-rc),
                rc == -EPERM ? " (AF_XDP needs CAP_NET_RAW and CAP_BPF: run as root)" : "");
        munmap(area, area_len);
        return -1;
    }
    struct xsk_socket *xsk;
    /* An (unused) rx ring too: libxdp 1.3's xsk_socket__delete assumes one. */
    struct xsk_socket_config xcfg = { .rx_size = 64, .tx_size = XSK_RING,
                                      .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
                                      .bind_flags = XDP_COPY };
    rc = xsk_socket__create(&xsk, c->xdp_if, (uint32_t)c->xdp_queue, umem, &rx, &tx, &xcfg);
    if (rc) {
        fprintf(stderr, "loadgen: AF_XDP socket on %s queue %d: %s\n", c->xdp_if, c->xdp_queue,
                strerror(-rc));
        xsk_umem__delete(umem);
        munmap(area, area_len);
        return -1;
    }
    int fd = xsk_socket__fd(xsk);

    /* frames: a free stack of UMEM addresses */
    static uint64_t free_frames[XSK_FRAMES];
    uint32_t n_free = 0;
    for (uint32_t i = 0; i < XSK_FRAMES; i++)
        free_frames[n_free++] = (uint64_t)i * XSK_FRAME;

    uint8_t hdr[42];
    memcpy(hdr, dst_mac, 6);
    memcpy(hdr + 6, src_mac, 6);
    hdr[12] = 0x08, hdr[13] = 0x00;
    uint8_t *ip = hdr + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45, ip[6] = 0x40, ip[8] = 64, ip[9] = 17;
    memcpy(ip + 12, &saddr, 4);
    memcpy(ip + 16, &c->dst, 4);
    uint16_t dport = htons(c->dport);

    uint32_t session = 0, outstanding = 0;
    uint64_t sent = 0, kicks_failed = 0;
    uint16_t ip_id = 0;
    double t0 = now_s();
    while (!finished(c, t0, sent)) {
        /* reclaim completed frames */
        uint32_t idx = 0;
        uint32_t done = xsk_ring_cons__peek(&comp, XSK_RING, &idx);
        for (uint32_t i = 0; i < done; i++)
            free_frames[n_free++] = *xsk_ring_cons__comp_addr(&comp, idx + i);
        if (done) {
            xsk_ring_cons__release(&comp, done);
            outstanding -= done;
            tot->packets += done;
        }
        uint32_t n = (uint32_t)allowance(c, t0, sent, c->batch);
        if (n > n_free)
            n = n_free;
        if (n && xsk_ring_prod__reserve(&tx, n, &idx) == n) {
            for (uint32_t i = 0; i < n; i++) {
                uint64_t addr = free_frames[--n_free];
                uint8_t *f = xsk_umem__get_data(area, addr);
                uint32_t len;
                if (c->frames) {
                    len = lg_next_payload(src, 0, f, XSK_FRAME);
                } else {
                    uint32_t pl = lg_next_payload(src, session, f + 42, XSK_FRAME - 42);
                    memcpy(f, hdr, 42);
                    uint8_t *fip = f + 14;
                    uint16_t totlen = (uint16_t)(28 + pl);
                    fip[2] = (uint8_t)(totlen >> 8), fip[3] = (uint8_t)totlen;
                    fip[4] = (uint8_t)(ip_id >> 8), fip[5] = (uint8_t)ip_id;
                    ip_id++;
                    uint16_t ck = wm_ipv4_checksum(fip, 20);
                    fip[10] = (uint8_t)(ck >> 8), fip[11] = (uint8_t)ck;
                    uint8_t *udp = fip + 20;
                    uint16_t sp = htons((uint16_t)(c->sport + session)), ul = htons((uint16_t)(8 + pl));
                    memcpy(udp, &sp, 2);
                    memcpy(udp + 2, &dport, 2);
                    memcpy(udp + 4, &ul, 2);
                    udp[6] = udp[7] = 0;
                    len = 42 + pl;
                    session = (session + 1) % c->sessions;
                }
                struct xdp_desc *d = xsk_ring_prod__tx_desc(&tx, idx + i);
                d->addr = addr;
                d->len = len;
                tot->bytes += len;
            }
            xsk_ring_prod__submit(&tx, n);
            outstanding += n;
            sent += n;
        }
        /* copy mode transmits inside this call */
        if (outstanding && sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
            errno != EAGAIN && errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN)
            kicks_failed++;
    }
    /* drain: wait (bounded) for the rest to complete */
    double t_end = now_s() + 1.0;
    while (outstanding && now_s() < t_end) {
        sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
        uint32_t idx = 0;
        uint32_t done = xsk_ring_cons__peek(&comp, XSK_RING, &idx);
        if (done) {
            xsk_ring_cons__release(&comp, done);
            outstanding -= done;
            tot->packets += done;
        }
    }
    tot->seconds = now_s() - t0;
    /* never completed (invalid descriptors included) or refused kicks */
    tot->failed = outstanding + kicks_failed;
    xsk_socket__delete(xsk);
    xsk_umem__delete(umem);
    munmap(area, area_len);
    return 0;
}

int main(int argc, char **argv)
{
    struct cfg c;
    if (parse_args(argc, argv, &c) < 0)
        return 2;
    if (c.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) {
            fprintf(stderr, "loadgen: cannot pin to core %d: %s\n", c.cpu, strerror(errno));
            return 1;
        }
    }
    static struct lg_source src;
    int rc = c.pcap  ? lg_source_pcap(&src, c.pcap, c.frames)
             : c.mix ? lg_source_mix(&src, c.sessions, c.msgs, c.mix, c.mid, c.tick, c.seed)
                     : lg_source_ouch(&src, c.sessions, c.msgs);
    if (rc < 0) {
        if (!c.pcap)
            fprintf(stderr, "loadgen: --msgs %u does not fit a 1472-byte datagram%s\n", c.msgs,
                    c.mix ? ", or --mix/--mid/--tick are inconsistent (mid a multiple of tick, "
                            "above 20 ticks; 1..16 symbols of 1..8 characters)" : "");
        return 1;
    }
    struct totals tot = { 0 };
    rc = c.xdp_if ? run_xdp(&c, &src, &tot) : run_sendmmsg(&c, &src, &tot);
    lg_source_free(&src);
    if (rc < 0)
        return 1;
    double secs = tot.seconds > 0 ? tot.seconds : 1e-9;
    const char *mode = c.xdp_if ? "af_xdp" : "sendmmsg";
    printf("Actual: %llu packets (%llu bytes) sent in %.6f seconds\n",
           (unsigned long long)tot.packets, (unsigned long long)tot.bytes, secs);
    printf("Rated: %.1f Bps, %.2f Mbps, %.2f pps\n", (double)tot.bytes / secs,
           (double)tot.bytes * 8 / secs / 1e6, (double)tot.packets / secs);
    printf("Target: %s (%s, %u session%s)\n",
           c.topspeed ? "top speed" : "rate-limited", mode, c.sessions, c.sessions > 1 ? "s" : "");
    if (!c.topspeed)
        printf("Requested rate: %.2f pps\n", c.pps);
    printf("Failed packets: %llu\n", (unsigned long long)tot.failed);
    printf("Retried packets (ENOBUFS/EAGAIN): %llu\n", (unsigned long long)tot.retries);
    if (c.json)
        printf("{\"mode\": \"%s\", \"packets\": %llu, \"bytes\": %llu, \"seconds\": %.6f, "
               "\"pps\": %.1f, \"failed\": %llu, \"retried\": %llu, \"sessions\": %u, "
               "\"hello_packets\": %llu, \"messages\": %llu, \"mix\": {\"passive\": %llu, \"aggressive\": %llu, "
               "\"cancel\": %llu, \"replace\": %llu}}\n",
               mode, (unsigned long long)tot.packets, (unsigned long long)tot.bytes, secs,
               (double)tot.packets / secs, (unsigned long long)tot.failed,
               (unsigned long long)tot.retries, c.sessions, (unsigned long long)tot.hellos,
               (unsigned long long)(src.from_pcap ? 0 : tot.packets * c.msgs),
               (unsigned long long)src.mix_counts[0], (unsigned long long)src.mix_counts[1],
               (unsigned long long)src.mix_counts[2], (unsigned long long)src.mix_counts[3]);
    fflush(stdout);
    return tot.failed ? 3 : 0;
}
