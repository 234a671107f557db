/* The pcap backend: a capture file as a receive queue, a capture file as the
 * transmit side.
 *
 * Receive: the file (pcap with micro- or nanosecond stamps, either byte
 * order, or pcapng with section, interface, enhanced and simple packet
 * blocks) is memory-mapped; descriptors point into the mapping (zero copy).
 * Ethernet frames are delivered as L2 descriptors, or with WM_NIC_O_L4 the
 * UDP payloads of IPv4 packets (Ethernet with VLAN tags, raw IPv4, Linux
 * cooked captures), to opts.port only when it is set.  WM_NIC_O_PACE
 * delivers each packet when its recorded offset from the first one has
 * elapsed; WM_NIC_O_LOOP starts over at the end.  Records cut by the capture
 * (caplen < length) are counted as truncated and skipped.
 *
 * Transmit: packets are appended to tx_path as a nanosecond pcap of
 * Ethernet frames; L4 descriptors get Ethernet/IPv4/UDP headers (source: the
 * bound address and port; IPv4 checksum computed, UDP checksum 0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nic/nic_backend.h"
#include "wirematch/ipv4.h"

enum { FMT_PCAP = 1, FMT_PCAPNG = 2 };
enum { LT_EN10MB = 1, LT_RAW = 101, LT_LINUX_SLL = 113, LT_IPV4 = 228 };
#define MAX_IFS 16
#define PCAP_MAX_FRAME 262144u

struct pcap_if {
    uint16_t linktype;
    uint64_t ts_num, ts_den;     /* ns = ticks * ts_num / ts_den */
    uint32_t snaplen;
};

struct pcap_rec {
    const uint8_t *data;
    uint32_t caplen, origlen;
    uint64_t ts_ns;
    uint16_t linktype;
    size_t next;                 /* offset after this record */
};

struct pcap_q {
    /* receive */
    const uint8_t *map;
    size_t size;
    size_t pos;
    int format;
    bool swap, nsec;
    uint16_t linktype;           /* classic pcap */
    struct pcap_if ifs[MAX_IFS];
    uint32_t n_ifs;
    bool pace, loop, l4, eof;
    uint16_t want_port;          /* network order; 0 = any */
    bool started;
    uint64_t first_ts, last_ts;  /* capture time of the first/last record seen */
    uint64_t wall0;              /* replay time of first_ts */
    uint64_t loop_shift;         /* ns added per completed loop */
    uint64_t records_this_pass;
    /* transmit */
    FILE *tx;
    uint8_t frame[PCAP_MAX_FRAME];
};

static inline uint16_t rd16(const struct pcap_q *p, const uint8_t *b)
{
    uint16_t v;
    memcpy(&v, b, 2);
    return p->swap ? __builtin_bswap16(v) : v;
}

static inline uint32_t rd32(const struct pcap_q *p, const uint8_t *b)
{
    uint32_t v;
    memcpy(&v, b, 4);
    return p->swap ? __builtin_bswap32(v) : v;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Parse pcapng interface options: if_tsresol (code 9). */
static void parse_idb(struct pcap_q *p, const uint8_t *body, uint32_t body_len)
{
    if (p->n_ifs >= MAX_IFS || body_len < 8)
        return;
    struct pcap_if *f = &p->ifs[p->n_ifs++];
    f->linktype = rd16(p, body);
    f->snaplen = rd32(p, body + 4);
    f->ts_num = 1000;            /* default resolution: microseconds */
    f->ts_den = 1;
    uint32_t off = 8;
    while (off + 4 <= body_len) {
        uint16_t code = rd16(p, body + off), len = rd16(p, body + off + 2);
        if (code == 0 || off + 4u + len > body_len)
            break;
        if (code == 9 && len >= 1) {
            uint8_t r = body[off + 4];
            uint64_t units = 1;
            if (r & 0x80) {
                f->ts_num = 1000000000ull;
                f->ts_den = 1ull << ((r & 0x7f) > 63 ? 63 : (r & 0x7f));
            } else {
                for (int i = 0; i < (r & 0x7f) && i < 19; i++)
                    units *= 10;
                f->ts_num = units >= 1000000000ull ? 1 : 1000000000ull / units;
                f->ts_den = units >= 1000000000ull ? units / 1000000000ull : 1;
            }
        }
        off += 4u + ((len + 3u) & ~3u);
    }
}

/* Find the next packet record at or after p->pos.  Metadata blocks are
 * consumed (p->pos moves past them); the packet itself is not.  Returns 1
 * with *r filled, 0 at the end of the file, -1 for a malformed file. */
static int next_record(struct pcap_q *p, struct pcap_rec *r)
{
    if (p->format == FMT_PCAP) {
        if (p->pos + 16 > p->size)
            return p->pos == p->size ? 0 : -1;
        const uint8_t *h = p->map + p->pos;
        uint32_t sec = rd32(p, h), frac = rd32(p, h + 4);
        r->caplen = rd32(p, h + 8);
        r->origlen = rd32(p, h + 12);
        if (r->caplen > PCAP_MAX_FRAME || p->pos + 16 + r->caplen > p->size)
            return -1;
        r->data = h + 16;
        r->ts_ns = (uint64_t)sec * 1000000000ull + (p->nsec ? frac : (uint64_t)frac * 1000);
        r->linktype = p->linktype;
        r->next = p->pos + 16 + r->caplen;
        return 1;
    }
    for (;;) {
        if (p->pos + 12 > p->size)
            return p->pos == p->size ? 0 : -1;
        const uint8_t *b = p->map + p->pos;
        uint32_t type, len;
        memcpy(&type, b, 4);
        if (type == 0x0A0D0D0A) {
            /* a new section: its own byte order and interfaces */
            uint32_t bom;
            memcpy(&bom, b + 8, 4);
            if (bom == 0x1A2B3C4D)
                p->swap = false;
            else if (bom == 0x4D3C2B1A)
                p->swap = true;
            else
                return -1;
            p->n_ifs = 0;
        } else if (p->swap) {
            type = __builtin_bswap32(type);
        }
        len = rd32(p, b + 4);
        if (len < 12 || (len & 3) || p->pos + len > p->size)
            return -1;
        const uint8_t *body = b + 8;
        uint32_t body_len = len - 12;
        if (type == 1) {
            parse_idb(p, body, body_len);
        } else if (type == 6 && body_len >= 20) {
            uint32_t ifid = rd32(p, body);
            if (ifid >= p->n_ifs)
                return -1;
            const struct pcap_if *f = &p->ifs[ifid];
            uint64_t ticks = ((uint64_t)rd32(p, body + 4) << 32) | rd32(p, body + 8);
            r->caplen = rd32(p, body + 12);
            r->origlen = rd32(p, body + 16);
            if (r->caplen > body_len - 20)
                return -1;
            r->data = body + 20;
            r->ts_ns = (uint64_t)((unsigned __int128)ticks * f->ts_num / f->ts_den);
            r->linktype = f->linktype;
            r->next = p->pos + len;
            return 1;
        } else if (type == 3 && body_len >= 4) {
            if (p->n_ifs == 0)
                return -1;
            r->origlen = rd32(p, body);
            r->caplen = r->origlen;
            if (p->ifs[0].snaplen && r->caplen > p->ifs[0].snaplen)
                r->caplen = p->ifs[0].snaplen;
            if (r->caplen > body_len - 4)
                r->caplen = body_len - 4;
            r->data = body + 4;
            r->ts_ns = p->last_ts;   /* simple packet blocks carry no time */
            r->linktype = p->ifs[0].linktype;
            r->next = p->pos + len;
            return 1;
        }
        p->pos += len;
    }
}

/* L4 view of a record: the UDP payload of an IPv4 packet.  0 or a drop counter. */
static int udp_payload(const struct pcap_rec *r, struct wm_nic_pkt *pk)
{
    const uint8_t *d = r->data;
    uint32_t n = r->caplen, off = 0;
    uint16_t proto;
    if (r->linktype == LT_EN10MB) {
        if (n < 14)
            return WM_NIC_DROP_BAD_FRAME;
        proto = (uint16_t)(d[12] << 8 | d[13]);
        off = 14;
        while ((proto == 0x8100 || proto == 0x88a8) && off + 4 <= n) {
            proto = (uint16_t)(d[off + 2] << 8 | d[off + 3]);
            off += 4;
        }
    } else if (r->linktype == LT_LINUX_SLL) {
        if (n < 16)
            return WM_NIC_DROP_BAD_FRAME;
        proto = (uint16_t)(d[14] << 8 | d[15]);
        off = 16;
    } else if (r->linktype == LT_RAW || r->linktype == LT_IPV4) {
        proto = 0x0800;
    } else {
        return WM_NIC_DROP_NOT_UDP;
    }
    if (proto != 0x0800 || off + 20 > n || (d[off] >> 4) != 4)
        return WM_NIC_DROP_NOT_UDP;
    const uint8_t *ip = d + off;
    uint32_t ihl = (ip[0] & 15u) * 4u;
    uint32_t tot = (uint32_t)(ip[2] << 8 | ip[3]);
    if (ihl < 20 || tot < ihl || off + tot > n)
        return WM_NIC_DROP_BAD_FRAME;
    if (ip[9] != 17 || (((ip[6] & 0x3f) << 8) | ip[7]) != 0)   /* not UDP, or a fragment */
        return WM_NIC_DROP_NOT_UDP;
    const uint8_t *udp = ip + ihl;
    if (tot - ihl < 8)
        return WM_NIC_DROP_BAD_FRAME;
    uint32_t ulen = (uint32_t)(udp[4] << 8 | udp[5]);
    if (ulen < 8 || ulen > tot - ihl)
        return WM_NIC_DROP_BAD_FRAME;
    pk->data = (uint8_t *)udp + 8;
    pk->len = ulen - 8;
    memcpy(&pk->src_addr, ip + 12, 4);
    memcpy(&pk->dst_addr, ip + 16, 4);
    memcpy(&pk->src_port, udp, 2);
    memcpy(&pk->dst_port, udp + 2, 2);
    return -1;
}

static void rewind_file(struct pcap_q *p)
{
    p->pos = p->format == FMT_PCAP ? 24 : 0;
    p->loop_shift += p->last_ts - p->first_ts;
    p->records_this_pass = 0;
}

static int pcap_rx_burst(struct wm_nic_queue *q, struct wm_nic_pkt *pkts, uint32_t n)
{
    struct pcap_q *p = q->priv;
    if (p->map == NULL)
        return -ENODATA;
    uint64_t now_ns = p->pace ? mono_ns() : 0, ticks = wm_clock_ticks(q->clk), bytes = 0;
    uint32_t out = 0, guard = 0;
    struct pcap_rec r;
    while (out < n) {
        int rc = next_record(p, &r);
        if (rc <= 0) {
            if (rc < 0 && !p->eof)
                nic_count(q, WM_NIC_DROP_BAD_FRAME, 1);   /* cut or corrupt tail */
            if (p->loop && p->records_this_pass > 0 && guard++ < 2) {
                rewind_file(p);
                continue;
            }
            p->eof = true;
            break;
        }
        if (!p->started) {
            p->started = true;
            p->first_ts = r.ts_ns;
            p->last_ts = r.ts_ns;
            p->wall0 = now_ns ? now_ns : mono_ns();
        }
        if (p->pace) {
            uint64_t rel = (r.ts_ns > p->first_ts ? r.ts_ns - p->first_ts : 0) + p->loop_shift;
            if (p->wall0 + rel > now_ns)
                break;           /* not due yet: leave it for a later burst */
        }
        if (r.ts_ns > p->last_ts)
            p->last_ts = r.ts_ns;
        p->pos = r.next;
        p->records_this_pass++;
        if (r.caplen < r.origlen) {
            nic_count(q, WM_NIC_DROP_TRUNCATED, 1);
            continue;
        }
        struct wm_nic_pkt *pk = &pkts[out];
        if (p->l4) {
            int drop = udp_payload(&r, pk);
            if (drop >= 0) {
                nic_count(q, (uint32_t)drop, 1);
                continue;
            }
            if (p->want_port && pk->dst_port != p->want_port) {
                nic_count(q, WM_NIC_DROP_OTHER_PORT, 1);
                continue;
            }
            pk->kind = WM_NIC_PKT_L4;
        } else {
            if (r.linktype != LT_EN10MB) {
                nic_count(q, WM_NIC_DROP_BAD_FRAME, 1);
                continue;
            }
            pk->data = (uint8_t *)r.data;
            pk->len = r.caplen;
            pk->kind = WM_NIC_PKT_L2;
            pk->src_addr = pk->dst_addr = 0;
            pk->src_port = pk->dst_port = 0;
        }
        pk->queue = q->info.queue;
        pk->reserved = 0;
        pk->rx_ticks = ticks;
        pk->handle = (uint64_t)(r.data - p->map);
        bytes += pk->len;
        out++;
    }
    if (out) {
        nic_count(q, WM_NIC_RX_PACKETS, out);
        nic_count(q, WM_NIC_RX_BYTES, bytes);
        nic_count(q, WM_NIC_RX_BURSTS, 1);
        return (int)out;
    }
    return p->eof ? -ENODATA : 0;
}

static void pcap_rx_release(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    (void)q, (void)pkts, (void)n;    /* the mapping stays until close */
}

static int write_record(struct pcap_q *p, const uint8_t *data, uint32_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint32_t h[4] = { (uint32_t)ts.tv_sec, (uint32_t)ts.tv_nsec, len, len };
    if (fwrite(h, sizeof h, 1, p->tx) != 1 || fwrite(data, 1, len, p->tx) != len)
        return -EIO;
    return 0;
}

static int pcap_tx_burst(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    struct pcap_q *p = q->priv;
    uint64_t bytes = 0, sent = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct wm_nic_pkt *pk = &pkts[i];
        int rc;
        if (p->tx == NULL) {
            nic_count(q, WM_NIC_TX_ERRORS, 1);
            continue;
        }
        if (pk->kind == WM_NIC_PKT_L2) {
            if (pk->len > PCAP_MAX_FRAME || pk->len < 14) {
                nic_count(q, WM_NIC_TX_DROP_OVERSIZED, 1);
                continue;
            }
            rc = write_record(p, pk->data, pk->len);
        } else if (pk->kind == WM_NIC_PKT_L4) {
            if (pk->len > 65507) {
                nic_count(q, WM_NIC_TX_DROP_OVERSIZED, 1);
                continue;
            }
            uint8_t *f = p->frame;
            static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
            memcpy(f, macs, 12);
            f[12] = 0x08, f[13] = 0x00;
            uint8_t *ip = f + 14;
            uint16_t tot = (uint16_t)(20 + 8 + pk->len);
            memset(ip, 0, 20);
            ip[0] = 0x45;
            ip[2] = (uint8_t)(tot >> 8), ip[3] = (uint8_t)tot;
            ip[6] = 0x40;        /* don't fragment */
            ip[8] = 64;
            ip[9] = 17;
            memcpy(ip + 12, &q->info.local_addr, 4);
            memcpy(ip + 16, &pk->dst_addr, 4);
            uint16_t c = wm_ipv4_checksum(ip, 20);
            ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
            uint8_t *udp = ip + 20;
            uint16_t sport = htons(q->info.local_port), ulen = htons((uint16_t)(8 + pk->len));
            memcpy(udp, &sport, 2);
            memcpy(udp + 2, &pk->dst_port, 2);
            memcpy(udp + 4, &ulen, 2);
            udp[6] = udp[7] = 0;  /* no checksum: legal for IPv4 */
            memcpy(udp + 8, pk->data, pk->len);
            rc = write_record(p, f, 14u + tot);
        } else {
            nic_count(q, WM_NIC_TX_DROP_BAD_KIND, 1);
            continue;
        }
        if (rc < 0) {
            nic_count(q, WM_NIC_TX_ERRORS, 1);
            continue;
        }
        sent++;
        bytes += pk->len;
    }
    if (sent) {
        nic_count(q, WM_NIC_TX_PACKETS, sent);
        nic_count(q, WM_NIC_TX_BYTES, bytes);
        nic_count(q, WM_NIC_TX_COMPLETIONS, sent);
    }
    return (int)n;
}

static int pcap_flush(struct wm_nic_queue *q)
{
    struct pcap_q *p = q->priv;
    if (p->tx && fflush(p->tx) != 0)
        return -errno;
    return 0;
}

static int pcap_wait(struct wm_nic_queue *q, uint32_t timeout_us)
{
    struct pcap_q *p = q->priv;
    if (p->map == NULL || p->eof)
        return -ENODATA;
    if (!p->pace || !p->started)
        return 1;
    struct pcap_rec r;
    int rc = next_record(p, &r);
    if (rc <= 0)
        return 1;                /* end of pass: the next burst loops or reports it */
    uint64_t due = p->wall0 + (r.ts_ns > p->first_ts ? r.ts_ns - p->first_ts : 0) + p->loop_shift;
    uint64_t now = mono_ns();
    if (due <= now)
        return 1;
    uint64_t wait = due - now, limit = (uint64_t)timeout_us * 1000;
    struct timespec ts;
    uint64_t sleep_ns = wait < limit ? wait : limit;
    ts.tv_sec = (time_t)(sleep_ns / 1000000000ull);
    ts.tv_nsec = (long)(sleep_ns % 1000000000ull);
    nanosleep(&ts, NULL);
    return wait <= limit;
}

static void pcap_close(struct wm_nic_queue *q)
{
    struct pcap_q *p = q->priv;
    if (p == NULL)
        return;
    if (p->map)
        munmap((void *)p->map, p->size);
    if (p->tx)
        fclose(p->tx);
    free(p);
    q->priv = NULL;
}

static int open_input(struct pcap_q *p, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        if (rc == -ENOENT)
            return wm_nic_error(rc, "no capture file %s", path);
        return wm_nic_error(rc, "cannot open capture %s: %s", path, strerror(-rc));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < 24) {
        close(fd);
        return wm_nic_error(-EINVAL, "%s is too short to be a capture", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return wm_nic_error(-errno, "cannot map %s: %s", path, strerror(errno));
    p->map = m;
    p->size = (size_t)st.st_size;
    uint32_t magic;
    memcpy(&magic, p->map, 4);
    switch (magic) {
    case 0xa1b2c3d4: p->format = FMT_PCAP; break;
    case 0xd4c3b2a1: p->format = FMT_PCAP; p->swap = true; break;
    case 0xa1b23c4d: p->format = FMT_PCAP; p->nsec = true; break;
    case 0x4d3cb2a1: p->format = FMT_PCAP; p->nsec = true; p->swap = true; break;
    case 0x0A0D0D0A: p->format = FMT_PCAPNG; break;
    default:
        return wm_nic_error(-EINVAL, "%s is not a pcap or pcapng file (magic 0x%08x)", path,
                            magic);
    }
    if (p->format == FMT_PCAP) {
        p->linktype = (uint16_t)rd32(p, p->map + 20);
        p->pos = 24;
        if (!p->l4 && p->linktype != LT_EN10MB)
            return wm_nic_error(-EINVAL, "%s has link type %u: only Ethernet captures replay as "
                                "frames (use the l4 option for UDP payloads)", path, p->linktype);
    }
    return 0;
}

static int pcap_open(struct wm_nic_queue *q)
{
    const struct wm_nic_opts *o = &q->opts;
    if (o->path == NULL && o->tx_path == NULL)
        return wm_nic_error(-EINVAL, "the pcap backend needs a capture to read (path) or to "
                            "write (tx_path)");
    struct pcap_q *p = calloc(1, sizeof *p);
    if (p == NULL)
        return wm_nic_error(-ENOMEM, "out of memory");
    q->priv = p;
    p->pace = o->flags & WM_NIC_O_PACE;
    p->loop = o->flags & WM_NIC_O_LOOP;
    p->l4 = o->flags & WM_NIC_O_L4;
    p->want_port = htons(o->port);
    int rc;
    if (o->path != NULL && (rc = open_input(p, o->path)) < 0)
        goto err;
    if (o->addr != NULL && inet_pton(AF_INET, o->addr, &q->info.local_addr) != 1) {
        rc = wm_nic_error(-EINVAL, "'%s' is not an IPv4 address", o->addr);
        goto err;
    }
    q->info.local_port = o->port;
    if (o->tx_path != NULL) {
        p->tx = fopen(o->tx_path, "we");
        if (p->tx == NULL) {
            rc = wm_nic_error(-errno, "cannot create %s: %s", o->tx_path, strerror(errno));
            goto err;
        }
        /* nanosecond pcap, Ethernet */
        uint32_t h[6] = { 0xa1b23c4d, 2 | (4u << 16), 0, 0, PCAP_MAX_FRAME, LT_EN10MB };
        if (fwrite(h, sizeof h, 1, p->tx) != 1) {
            rc = wm_nic_error(-EIO, "cannot write %s", o->tx_path);
            goto err;
        }
    }
    snprintf(q->info.mode, sizeof q->info.mode, "%s%s%s%s%s",
             o->path ? (p->format == FMT_PCAPNG ? "read pcapng" : "read pcap") : "",
             o->path ? (p->l4 ? " udp payloads" : " frames") : "",
             o->path ? (p->pace ? ", recorded pace" : ", top speed") : "",
             p->loop ? ", loop" : "", o->tx_path ? (o->path ? ", write pcap" : "write pcap") : "");
    q->info.zero_copy_rx = 1;    /* descriptors point into the mapped file */
    q->info.flags = o->flags;
    return 0;
err:
    pcap_close(q);
    return rc;
}

const struct wm_nic_ops wm_nic_pcap_ops = {
    .name = "pcap",
    .flags = WM_NIC_O_PACE | WM_NIC_O_LOOP | WM_NIC_O_L4,
    .open = pcap_open,
    .close = pcap_close,
    .rx_burst = pcap_rx_burst,
    .rx_release = pcap_rx_release,
    .tx_burst = pcap_tx_burst,
    .flush = pcap_flush,
    .wait = pcap_wait,
};
