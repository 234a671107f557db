/* wm_replay - send a capture at its recorded pace, at a fixed rate, or as
 * fast as possible, and say honestly what happened.
 *
 *   wm_replay --pcap in.pcap --iface veth0 --pps 50000 --json
 *   wm_replay --pcap in.pcap --udp 10.199.0.1:15000 --pace recorded --loop 3
 *   wm_replay --pcap in.pcap --iface veth0 --topspeed --sent-pcap sent.pcap
 *
 * Transmit: --iface IF sends the capture's Ethernet frames unchanged (an
 * AF_PACKET socket, sendmmsg in batches; --dst-mac rewrites the destination
 * MAC); --udp HOST:PORT sends the UDP payloads of the capture's IPv4/UDP
 * frames from one UDP socket per source port of the capture (bound to that
 * port with --keep-sport, so each client flow keeps its port).
 *
 * Pacing against an absolute schedule, never sleep-per-packet: packet i is
 * due at t0 + offset(i) (recorded: capture time since the first frame
 * divided by --speed; --pps R: i / R); the sender sleeps with
 * clock_nanosleep(TIMER_ABSTIME) until --spin-us before the next due time,
 * busy-waits the rest, then hands the kernel every packet already due (at
 * most --batch).  Lateness never accumulates into drift: a late packet
 * makes the following ones go as soon as they are due, not later.
 *
 * Reported (text, and one JSON object with --json): packets attempted, sent
 * (accepted by the kernel), failed, elapsed (packet 0's due time to the last
 * hand-over),
 * achieved rate, the requested rate, and the lateness of each hand-over
 * against its due time (max, mean, p50, p99).  --sent-pcap writes what was
 * sent with the CLOCK_REALTIME time of each hand-over (for measure.py).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX 256
#define MAX_SPORTS 4096

struct frame {
    uint64_t ts;                 /* capture time, ns */
    uint32_t off, len;           /* frame in the arena */
    uint32_t pl_off, pl_len;     /* UDP payload (pl_len 0: not IPv4/UDP) */
    uint16_t sport;              /* host order */
};

struct capture {
    uint8_t *arena;
    size_t used, cap;
    struct frame *f;
    uint64_t n, fcap;
};

struct cfg {
    const char *pcap, *iface, *sent_pcap;
    struct sockaddr_in udp_dst;
    bool udp, keep_sport, topspeed, json, qdisc_bypass, have_dst_mac, fifo;
    double pps, speed, duration;
    uint64_t loops, count;
    uint32_t batch;
    int64_t spin_ns;
    int cpu;
    uint8_t dst_mac[6];
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t rd32(const uint8_t *p, bool swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

/* A classic pcap (µs or ns, either byte order, Ethernet).  0 or -1 with a message. */
static int load_pcap(const char *path, struct capture *c)
{
    FILE *fh = fopen(path, "rb");
    if (!fh) {
        fprintf(stderr, "wm_replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t h[24];
    int rc = -1;
    if (fread(h, 1, 24, fh) != 24) {
        fprintf(stderr, "wm_replay: %s: shorter than a pcap header\n", path);
        goto out;
    }
    uint32_t magic;
    memcpy(&magic, h, 4);
    bool swap = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u;
    uint32_t m = swap ? __builtin_bswap32(magic) : magic;
    if (m != 0xa1b2c3d4u && m != 0xa1b23c4du) {
        fprintf(stderr, "wm_replay: %s: not a classic pcap (pcapng is not read)\n", path);
        goto out;
    }
    uint64_t scale = m == 0xa1b23c4du ? 1 : 1000;
    if ((rd32(h + 20, swap) & 0xffff) != 1) {
        fprintf(stderr, "wm_replay: %s: link type is not Ethernet\n", path);
        goto out;
    }
    for (;;) {
        uint8_t r[16];
        size_t got = fread(r, 1, 16, fh);
        if (got == 0)
            break;
        if (got != 16) {
            fprintf(stderr, "wm_replay: %s: truncated record header\n", path);
            goto out;
        }
        uint32_t incl = rd32(r + 8, swap);
        if (incl > 65535) {
            fprintf(stderr, "wm_replay: %s: record of %u bytes\n", path, incl);
            goto out;
        }
        if (c->used + incl > c->cap) {
            c->cap = c->cap ? c->cap * 2 : 1 << 20;
            while (c->used + incl > c->cap)
                c->cap *= 2;
            uint8_t *a = realloc(c->arena, c->cap);
            if (!a)
                goto nomem;
            c->arena = a;
        }
        if (c->n == c->fcap) {
            c->fcap = c->fcap ? c->fcap * 2 : 4096;
            struct frame *f = realloc(c->f, c->fcap * sizeof *f);
            if (!f)
                goto nomem;
            c->f = f;
        }
        if (fread(c->arena + c->used, 1, incl, fh) != incl) {
            fprintf(stderr, "wm_replay: %s: truncated record\n", path);
            goto out;
        }
        struct frame *f = &c->f[c->n++];
        memset(f, 0, sizeof *f);
        f->ts = (uint64_t)rd32(r, swap) * 1000000000ull + (uint64_t)rd32(r + 4, swap) * scale;
        f->off = (uint32_t)c->used;
        f->len = incl;
        const uint8_t *p = c->arena + c->used;
        uint32_t l3 = 14;
        if (incl >= 18 && p[12] == 0x81 && p[13] == 0x00)
            l3 = 18;
        if (incl >= l3 + 28 && p[l3 - 2] == 0x08 && p[l3 - 1] == 0x00 && (p[l3] >> 4) == 4 &&
            p[l3 + 9] == 17) {
            uint32_t ihl = (p[l3] & 15u) * 4;
            const uint8_t *u = p + l3 + ihl;
            if (ihl >= 20 && l3 + ihl + 8 <= incl) {
                uint32_t ulen = (uint32_t)(u[4] << 8 | u[5]);
                if (ulen >= 8 && l3 + ihl + ulen <= incl) {
                    f->sport = (uint16_t)(u[0] << 8 | u[1]);
                    f->pl_off = f->off + l3 + ihl + 8;
                    f->pl_len = ulen - 8;
                }
            }
        }
        c->used += incl;
    }
    if (c->n == 0) {
        fprintf(stderr, "wm_replay: %s holds no frames\n", path);
        goto out;
    }
    rc = 0;
    goto out;
nomem:
    fprintf(stderr, "wm_replay: out of memory reading %s\n", path);
out:
    fclose(fh);
    return rc;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: wm_replay --pcap FILE (--iface IF | --udp HOST:PORT) [pace] [options]\n"
            "pace (one): --pace recorded (default) [--speed X] | --pps R | --topspeed\n"
            "  --loop N          play the capture N times (default 1)\n"
            "  --count N         stop after N packets\n"
            "  --duration S      stop after S seconds (a run is always bounded by the capture)\n"
            "  --batch B         at most B packets per system call (default 32)\n"
            "  --spin-us U       busy-wait the last U microseconds before a due time (default 50)\n"
            "  --dst-mac MAC     --iface: rewrite the destination MAC of every frame\n"
            "  --qdisc-bypass    --iface: PACKET_QDISC_BYPASS\n"
            "  --keep-sport      --udp: send each flow from its captured source port\n"
            "  --sent-pcap FILE  write what was sent, stamped with the hand-over time\n"
            "  --cpu N           pin to core N\n"
            "  --fifo            run SCHED_FIFO (priority 10) for the run: no preemption by\n"
            "                    ordinary processes (root)\n"
            "  --json            also print one JSON summary line\n");
}

static int parse_args(int argc, char **argv, struct cfg *c)
{
    static const struct option o[] = {
        { "pcap", 1, 0, 'f' },       { "iface", 1, 0, 'i' },   { "udp", 1, 0, 'u' },
        { "pace", 1, 0, 'P' },       { "speed", 1, 0, 'S' },   { "pps", 1, 0, 'r' },
        { "topspeed", 0, 0, 'T' },   { "loop", 1, 0, 'l' },    { "count", 1, 0, 'c' },
        { "duration", 1, 0, 'd' },   { "batch", 1, 0, 'b' },   { "spin-us", 1, 0, 's' },
        { "dst-mac", 1, 0, 'M' },    { "qdisc-bypass", 0, 0, 'Q' },
        { "keep-sport", 0, 0, 'K' }, { "sent-pcap", 1, 0, 'w' }, { "cpu", 1, 0, 'C' },
        { "json", 0, 0, 'j' },       { "fifo", 0, 0, 'R' },    { "help", 0, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    memset(c, 0, sizeof *c);
    c->speed = 1.0;
    c->loops = 1;
    c->batch = 32;
    c->spin_ns = 50000;
    c->cpu = -1;
    int opt;
    while ((opt = getopt_long(argc, argv, "", o, NULL)) != -1) {
        switch (opt) {
        case 'f': c->pcap = optarg; break;
        case 'i': c->iface = optarg; break;
        case 'u': {
            char host[64];
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon - optarg >= (long)sizeof host) {
                fprintf(stderr, "wm_replay: --udp wants HOST:PORT, got %s\n", optarg);
                return -1;
            }
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = 0;
            c->udp_dst.sin_family = AF_INET;
            c->udp_dst.sin_port = htons((uint16_t)atoi(colon + 1));
            if (inet_pton(AF_INET, host, &c->udp_dst.sin_addr) != 1 || !c->udp_dst.sin_port) {
                fprintf(stderr, "wm_replay: --udp wants IPv4:PORT, got %s\n", optarg);
                return -1;
            }
            c->udp = true;
            break;
        }
        case 'P':
            if (strcmp(optarg, "recorded") != 0) {
                fprintf(stderr, "wm_replay: --pace recorded, or use --pps / --topspeed\n");
                return -1;
            }
            break;
        case 'S': c->speed = atof(optarg); break;
        case 'r': c->pps = atof(optarg); break;
        case 'T': c->topspeed = true; break;
        case 'l': c->loops = strtoull(optarg, NULL, 10); break;
        case 'c': c->count = strtoull(optarg, NULL, 10); break;
        case 'd': c->duration = atof(optarg); break;
        case 'b': c->batch = (uint32_t)atoi(optarg); break;
        case 's': c->spin_ns = (int64_t)(atof(optarg) * 1000); break;
        case 'M': {
            unsigned v[6];
            if (sscanf(optarg, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) {
                fprintf(stderr, "wm_replay: bad --dst-mac %s\n", optarg);
                return -1;
            }
            for (int k = 0; k < 6; k++)
                c->dst_mac[k] = (uint8_t)v[k];
            c->have_dst_mac = true;
            break;
        }
        case 'Q': c->qdisc_bypass = true; break;
        case 'K': c->keep_sport = true; break;
        case 'w': c->sent_pcap = optarg; break;
        case 'C': c->cpu = atoi(optarg); break;
        case 'j': c->json = true; break;
        case 'R': c->fifo = true; break;
        default: usage(); return -1;
        }
    }
    if (!c->pcap) {
        fprintf(stderr, "wm_replay: --pcap FILE is required\n");
        return -1;
    }
    if (!c->iface == !c->udp) {
        fprintf(stderr, "wm_replay: give one of --iface IF or --udp HOST:PORT\n");
        return -1;
    }
    if ((c->pps > 0) + c->topspeed > 1 || c->pps < 0 || c->speed <= 0) {
        fprintf(stderr, "wm_replay: one pace: --pace recorded [--speed X>0], --pps R>0 or --topspeed\n");
        return -1;
    }
    if (c->loops == 0 || c->batch == 0 || c->batch > BATCH_MAX) {
        fprintf(stderr, "wm_replay: --loop >= 1 and --batch in 1..%d\n", BATCH_MAX);
        return -1;
    }
    return 0;
}

static int open_iface(const struct cfg *c)
{
    int fd = socket(AF_PACKET, SOCK_RAW, 0);     /* protocol 0: transmit only */
    if (fd < 0) {
        fprintf(stderr, "wm_replay: AF_PACKET socket: %s%s\n", strerror(errno),
                errno == EPERM ? " (needs CAP_NET_RAW: run as root)" : "");
        return -1;
    }
    unsigned idx = if_nametoindex(c->iface);
    if (!idx) {
        fprintf(stderr, "wm_replay: no interface %s here\n", c->iface);
        close(fd);
        return -1;
    }
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)idx };
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        fprintf(stderr, "wm_replay: bind to %s: %s\n", c->iface, strerror(errno));
        close(fd);
        return -1;
    }
    int sndbuf = 4 << 20, one = 1;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
    if (c->qdisc_bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0) {
        fprintf(stderr, "wm_replay: PACKET_QDISC_BYPASS: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* One UDP socket per captured source port (or one, unbound, without --keep-sport). */
static int open_udp(const struct cfg *c, const struct capture *cap, int *fd_of_port, int *fds,
                    int *nfds)
{
    *nfds = 0;
    for (uint64_t i = 0; i < cap->n; i++) {
        const struct frame *f = &cap->f[i];
        if (!f->pl_len)
            continue;
        uint16_t p = c->keep_sport ? f->sport : 0;
        if (fd_of_port[p] >= 0)
            continue;
        if (*nfds == MAX_SPORTS) {
            fprintf(stderr, "wm_replay: more than %d source ports\n", MAX_SPORTS);
            return -1;
        }
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        int sndbuf = 4 << 20;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
        struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(p) };
        if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) < 0) {
            fprintf(stderr, "wm_replay: cannot bind UDP source port %u: %s\n", p, strerror(errno));
            return -1;
        }
        fd_of_port[p] = fd;
        fds[(*nfds)++] = fd;
    }
    if (*nfds == 0) {
        fprintf(stderr, "wm_replay: the capture holds no IPv4/UDP datagrams to send\n");
        return -1;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int write_sent(const char *path, const struct capture *cap, const uint64_t *pass,
                      uint64_t per_pass, const uint64_t *stamp, uint64_t n)
{
    FILE *fh = fopen(path, "wb");
    if (!fh) {
        fprintf(stderr, "wm_replay: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint32_t h[6] = { 0xa1b23c4du, 2 | 4u << 16, 0, 0, 65535, 1 };
    fwrite(h, 4, 6, fh);
    for (uint64_t k = 0; k < n; k++) {
        const struct frame *f = &cap->f[pass[k % per_pass]];
        uint32_t r[4] = { (uint32_t)(stamp[k] / 1000000000ull),
                          (uint32_t)(stamp[k] % 1000000000ull), f->len, f->len };
        fwrite(r, 4, 4, fh);
        fwrite(cap->arena + f->off, 1, f->len, fh);
    }
    return fclose(fh) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct cfg c;
    if (parse_args(argc, argv, &c) < 0)
        return 2;
    static struct capture cap;
    if (load_pcap(c.pcap, &cap) < 0)
        return 1;
    if (c.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(c.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) {
            fprintf(stderr, "wm_replay: cannot pin to core %d: %s\n", c.cpu, strerror(errno));
            return 1;
        }
    }
    /* Sleeps must end when asked: the default 50 us timer slack would make
     * every wake-up late by up to that much. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    if (c.fifo) {
        struct sched_param sp = { .sched_priority = 10 };
        if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
            fprintf(stderr, "wm_replay: --fifo: %s\n", strerror(errno));
            return 1;
        }
    }
    if (c.have_dst_mac)
        for (uint64_t i = 0; i < cap.n; i++)
            memcpy(cap.arena + cap.f[i].off, c.dst_mac, 6);

    /* The packets of one pass: every frame (--iface) or every UDP datagram (--udp). */
    uint64_t *pass = malloc(cap.n * sizeof *pass), per_pass = 0;
    for (uint64_t i = 0; i < cap.n; i++)
        if (!c.udp || cap.f[i].pl_len)
            pass[per_pass++] = i;
    static int fd_of_port[65536];
    static int fds[MAX_SPORTS];
    int nfds = 0, fd = -1;
    memset(fd_of_port, -1, sizeof fd_of_port);
    if (c.udp) {
        if (open_udp(&c, &cap, fd_of_port, fds, &nfds) < 0)
            return 1;
    } else if ((fd = open_iface(&c)) < 0) {
        return 1;
    }
    uint64_t total = per_pass * c.loops;
    if (c.count && c.count < total)
        total = c.count;
    /* Recorded pace: a pass lasts its span plus one mean gap, so loops keep the rate. */
    uint64_t t_first = cap.f[pass[0]].ts, span = cap.f[pass[per_pass - 1]].ts - t_first;
    uint64_t period = per_pass > 1 ? span + span / (per_pass - 1) : 1000;
    uint64_t *late = malloc(total * sizeof *late), *stamp = c.sent_pcap ? malloc(total * 8) : NULL;
    if (!pass || !late || (c.sent_pcap && !stamp)) {
        fprintf(stderr, "wm_replay: out of memory for %llu packets\n", (unsigned long long)total);
        return 1;
    }
    struct mmsghdr msgs[BATCH_MAX];
    struct iovec iov[BATCH_MAX];
    uint64_t sent = 0, failed = 0, retries = 0, calls = 0, bytes = 0, i = 0;
    uint64_t last_send = 0;
    uint64_t deadline = c.duration > 0 ? (uint64_t)(c.duration * 1e9) : UINT64_MAX;
    uint64_t t0 = mono_ns() + 1000000;           /* start 1 ms from now */
    uint64_t real_off = real_ns() - mono_ns();
    while (i < total) {
        uint64_t due = 0;
        if (c.pps > 0)
            due = (uint64_t)((double)i * 1e9 / c.pps);
        else if (!c.topspeed)
            due = (uint64_t)((double)((i / per_pass) * period +
                                      (cap.f[pass[i % per_pass]].ts - t_first)) / c.speed);
        uint64_t now = mono_ns();
        if (now - t0 > deadline && now > t0)
            break;
        if (t0 + due > now) {
            int64_t wait = (int64_t)(t0 + due - now);
            if (wait > c.spin_ns) {
                uint64_t wake = t0 + due - (uint64_t)c.spin_ns;
                struct timespec ts = { (time_t)(wake / 1000000000ull), (long)(wake % 1000000000ull) };
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
                continue;
            }
            while ((now = mono_ns()) < t0 + due)
                __builtin_ia32_pause();
        }
        /* every packet already due, at most a batch; all of one socket (--udp) */
        uint32_t n = 0;
        int sfd = fd;
        while (n < c.batch && i + n < total) {
            uint64_t k = i + n;
            if (n) {
                uint64_t d = 0;
                if (c.pps > 0)
                    d = (uint64_t)((double)k * 1e9 / c.pps);
                else if (!c.topspeed)
                    d = (uint64_t)((double)((k / per_pass) * period +
                                            (cap.f[pass[k % per_pass]].ts - t_first)) / c.speed);
                if (t0 + d > now)
                    break;
            }
            const struct frame *f = &cap.f[pass[k % per_pass]];
            if (c.udp) {
                int pfd = fd_of_port[c.keep_sport ? f->sport : 0];
                if (n == 0)
                    sfd = pfd;
                else if (pfd != sfd)
                    break;
                iov[n].iov_base = cap.arena + f->pl_off;
                iov[n].iov_len = f->pl_len;
                msgs[n].msg_hdr = (struct msghdr){ .msg_name = &c.udp_dst,
                                                   .msg_namelen = sizeof c.udp_dst,
                                                   .msg_iov = &iov[n], .msg_iovlen = 1 };
            } else {
                iov[n].iov_base = cap.arena + f->off;
                iov[n].iov_len = f->len;
                msgs[n].msg_hdr = (struct msghdr){ .msg_iov = &iov[n], .msg_iovlen = 1 };
            }
            n++;
        }
        uint64_t hand = mono_ns();
        for (uint32_t k = 0; k < n; k++) {
            uint64_t d = 0;
            if (c.pps > 0)
                d = (uint64_t)((double)(i + k) * 1e9 / c.pps);
            else if (!c.topspeed)
                d = (uint64_t)((double)(((i + k) / per_pass) * period +
                                        (cap.f[pass[(i + k) % per_pass]].ts - t_first)) / c.speed);
            late[i + k] = c.topspeed ? 0 : hand - (t0 + d);
            if (stamp)
                stamp[i + k] = hand + real_off;
        }
        uint32_t done = 0, tries = 0;
        while (done < n) {
            calls++;
            int r = sendmmsg(sfd, msgs + done, n - done, 0);
            if (r > 0) {
                for (int k = 0; k < r; k++)
                    bytes += iov[done + (uint32_t)k].iov_len;
                sent += (uint32_t)r;
                done += (uint32_t)r;
                continue;
            }
            if ((errno == ENOBUFS || errno == EAGAIN || errno == EINTR) && tries++ < 1000) {
                retries++;
                continue;
            }
            failed++;               /* refused: counted, go on with the next */
            done++;
        }
        last_send = hand;
        i += n;
    }
    uint64_t attempted = i;
    /* From the schedule's start (packet 0's due time) to the last hand-over:
     * a late start or a late end both show, as they would to the receiver. */
    double elapsed = attempted ? (double)(last_send - t0) * 1e-9 : 0;
    /* n packets span n - 1 intervals of the schedule */
    double rate = attempted > 1 && elapsed > 0 ? (double)(attempted - 1) / elapsed : 0;
    double requested = 0;
    if (c.pps > 0)
        requested = c.pps;
    else if (!c.topspeed && attempted > 1) {
        uint64_t k = attempted - 1;
        double sched = (double)((k / per_pass) * period + (cap.f[pass[k % per_pass]].ts - t_first)) /
                       c.speed;
        requested = sched > 0 ? (double)k / (sched * 1e-9) : 0;
    }
    uint64_t max_late = 0;
    double mean_late = 0;
    for (uint64_t k = 0; k < attempted; k++) {
        max_late = late[k] > max_late ? late[k] : max_late;
        mean_late += (double)late[k];
    }
    mean_late = attempted ? mean_late / (double)attempted : 0;
    qsort(late, attempted, sizeof *late, cmp_u64);
    uint64_t p50 = attempted ? late[attempted / 2] : 0;
    uint64_t p99 = attempted ? late[(attempted * 99) / 100 < attempted ? (attempted * 99) / 100 : attempted - 1] : 0;
    const char *pace = c.topspeed ? "topspeed" : c.pps > 0 ? "pps" : "recorded";
    const char *mode = c.udp ? "udp" : "af_packet";
    printf("Actual: %llu packets (%llu bytes) sent in %.6f seconds\n",
           (unsigned long long)sent, (unsigned long long)bytes, elapsed);
    printf("Rated: %.1f Bps, %.2f Mbps, %.2f pps\n", elapsed > 0 ? (double)bytes / elapsed : 0,
           elapsed > 0 ? (double)bytes * 8 / elapsed / 1e6 : 0, rate);
    printf("Target: %s (%s), requested %.2f pps\n", pace, mode, requested);
    printf("Schedule lateness: max %.3f us, mean %.3f us, p50 %.3f us, p99 %.3f us\n",
           (double)max_late / 1e3, mean_late / 1e3, (double)p50 / 1e3, (double)p99 / 1e3);
    printf("Attempted %llu, failed packets: %llu, retried (ENOBUFS/EAGAIN): %llu, calls %llu\n",
           (unsigned long long)attempted, (unsigned long long)failed,
           (unsigned long long)retries, (unsigned long long)calls);
    if (c.json)
        printf("{\"mode\": \"%s\", \"pace\": \"%s\", \"attempted\": %llu, \"sent\": %llu, "
               "\"failed\": %llu, \"retried\": %llu, \"calls\": %llu, \"bytes\": %llu, "
               "\"elapsed_s\": %.9f, \"rate_pps\": %.3f, \"requested_pps\": %.3f, "
               "\"rate_error\": %.6f, \"late_max_ns\": %llu, \"late_mean_ns\": %.1f, "
               "\"late_p50_ns\": %llu, \"late_p99_ns\": %llu, \"loops\": %llu, "
               "\"capture_packets\": %llu, \"batch\": %u}\n",
               mode, pace, (unsigned long long)attempted, (unsigned long long)sent,
               (unsigned long long)failed, (unsigned long long)retries,
               (unsigned long long)calls, (unsigned long long)bytes, elapsed, rate, requested,
               requested > 0 ? rate / requested - 1 : 0.0, (unsigned long long)max_late,
               mean_late, (unsigned long long)p50, (unsigned long long)p99,
               (unsigned long long)c.loops, (unsigned long long)per_pass, c.batch);
    fflush(stdout);
    int rc = failed ? 3 : 0;
    if (stamp && write_sent(c.sent_pcap, &cap, pass, per_pass, stamp, attempted) < 0)
        rc = 1;
    for (int k = 0; k < nfds; k++)
        close(fds[k]);
    if (fd >= 0)
        close(fd);
    free(late);
    free(stamp);
    free(pass);
    free(cap.arena);
    free(cap.f);
    return rc;
}
