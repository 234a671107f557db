/* Packet contents of the load generator: MoldUDP64 + OUCH 5.0 Enter Order,
 * or the payloads/frames of a capture.  Layouts in payload.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"
#include "wirematch.h"

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_text(uint8_t *p, const char *s, size_t width)
{
    size_t n = strlen(s);
    if (n > width)
        n = width;
    memcpy(p, s, n);
    memset(p + n, ' ', width - n);
}

int lg_source_ouch(struct lg_source *s, uint32_t sessions, uint32_t msgs)
{
    if (sessions == 0 || sessions > LG_MAX_SESSIONS || msgs == 0 ||
        LG_MOLD_HEADER + (size_t)msgs * (2 + LG_OUCH_ENTER_LEN) > 1472)
        return -EINVAL;
    memset(s, 0, sizeof *s);
    s->sessions = sessions;
    s->msgs_per_packet = msgs;
    for (uint32_t i = 0; i < sessions; i++) {
        char name[11];
        snprintf(name, sizeof name, "WMLG%06u", i);
        memcpy(s->session_name[i], name, 10);
        s->next_seq[i] = 1;
        s->next_ref[i] = 1;
    }
    return 0;
}

/* One Enter Order; fields vary with the order number so that contents differ. */
static void ouch_enter_order(uint8_t *m, uint32_t session, uint32_t ref)
{
    static const char *const symbols[] = { "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META" };
    char clordid[16];
    m[0] = 'O';
    put_be32(m + 1, ref);
    m[5] = (ref & 1) ? 'B' : 'S';
    put_be32(m + 6, 100 + (ref % 9) * 100);
    put_text(m + 10, symbols[ref % 6], 8);
    put_be64(m + 18, 1000000 + (uint64_t)(ref % 200) * 100);   /* 100.0000 + cents */
    m[26] = '0';
    m[27] = 'Y';
    m[28] = 'P';
    m[29] = 'N';
    m[30] = 'N';
    snprintf(clordid, sizeof clordid, "S%03uO%09u", session % 1000, ref % 1000000000u);
    put_text(m + 31, clordid, 14);
    put_be16(m + 45, 0);
}

int lg_source_mix(struct lg_source *s, uint32_t sessions, uint32_t msgs, const char *symbols,
                  uint64_t mid, uint64_t tick, uint64_t seed)
{
    if (tick == 0 || mid <= 20 * tick || mid % tick != 0 || !symbols || !*symbols)
        return -EINVAL;
    int rc = lg_source_ouch(s, sessions, msgs);
    if (rc)
        return rc;
    s->mix = 1;
    s->mid = mid;
    s->tick = tick;
    const char *p = symbols;
    while (*p && s->n_symbols < 16) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n > 8)
            return -EINVAL;
        memset(s->symbols[s->n_symbols], ' ', 8);
        memcpy(s->symbols[s->n_symbols], p, n);
        s->n_symbols++;
        p += n;
        if (*p == ',')
            p++;
    }
    for (uint32_t i = 0; i < sessions; i++)
        s->rng[i] = (seed + 1) * 0x9e3779b97f4a7c15ull ^ (i + 1) * 0xbf58476d1ce4e5b9ull;
    return 0;
}

uint32_t lg_heartbeat(const struct lg_source *s, uint32_t session, uint8_t *buf)
{
    memcpy(buf, s->session_name[session], 10);
    put_be64(buf + 10, s->next_seq[session]);
    put_be16(buf + 18, 0);
    return LG_MOLD_HEADER;
}

static uint64_t next_rand(uint64_t *x)
{
    uint64_t v = *x;
    v ^= v << 13;
    v ^= v >> 7;
    v ^= v << 17;
    return *x = v;
}

/* One message of the mix into m; returns its length. */
static uint32_t mix_message(struct lg_source *s, uint32_t session, uint8_t *m)
{
    uint64_t r = next_rand(&s->rng[session]);
    uint32_t pick = (uint32_t)(r % 100);
    uint32_t *live = s->live[session];
    uint32_t *n_live = &s->n_live[session];
    uint64_t off = s->tick * (1 + (r >> 8) % 10);
    int buy = (r >> 16) & 1;
    char clordid[16];
    /* A client keeps at most LG_MIX_LIVE orders open per session, as a real
     * one bounds its exposure: a new order with the set full is a cancel of
     * one of them instead, so the book stays stationary at top speed
     * (without the bound it grows by every untracked order until the
     * appliance's order table is full). */
    int full = *n_live == LG_MIX_LIVE && (pick < 55 || pick >= 85);
    if ((full || (pick >= 55 && pick < 85)) && *n_live) {
        uint32_t k = (uint32_t)((r >> 24) % *n_live);
        uint32_t ref = live[k];
        if (full || pick < 75) {                          /* cancel */
            live[k] = live[--*n_live];
            m[0] = 'X';
            put_be32(m + 1, ref);
            put_be32(m + 5, 0);
            s->mix_counts[2]++;
            return 9;
        }
        uint32_t nref = s->next_ref[session]++;        /* replace: new price and size */
        live[k] = nref;
        m[0] = 'U';
        put_be32(m + 1, ref);
        put_be32(m + 5, nref);
        put_be32(m + 9, 100 * (1 + (uint32_t)((r >> 32) % 5)));
        put_be64(m + 13, buy ? s->mid - off : s->mid + off);
        m[21] = '0';
        m[22] = 'Y';
        m[23] = 'N';
        snprintf(clordid, sizeof clordid, "S%03uR%09u", session % 1000, nref % 1000000000u);
        put_text(m + 24, clordid, 14);
        put_be16(m + 38, 0);
        s->mix_counts[3]++;
        return 40;
    }
    uint32_t ref = s->next_ref[session]++;
    int aggressive = pick >= 85;
    uint64_t price = aggressive ? (buy ? s->mid + 2 * s->tick : s->mid - 2 * s->tick)
                                : (buy ? s->mid - off : s->mid + off);
    m[0] = 'O';
    put_be32(m + 1, ref);
    m[5] = buy ? 'B' : 'S';
    put_be32(m + 6, 100 * (1 + (uint32_t)((r >> 32) % 5)));
    memcpy(m + 10, s->symbols[(r >> 40) % s->n_symbols], 8);
    put_be64(m + 18, price);
    m[26] = '0';
    m[27] = 'Y';
    m[28] = 'P';
    m[29] = 'N';
    m[30] = 'N';
    snprintf(clordid, sizeof clordid, "S%03uO%09u", session % 1000, ref % 1000000000u);
    put_text(m + 31, clordid, 14);
    put_be16(m + 45, 0);
    live[(*n_live)++] = ref;
    s->mix_counts[aggressive ? 1 : 0]++;
    return 47;
}

uint32_t lg_next_payload(struct lg_source *s, uint32_t session, uint8_t *buf, uint32_t cap)
{
    if (s->from_pcap) {
        const struct lg_record *r = &s->records[s->next_record];
        if (r->len > cap)
            return 0;
        memcpy(buf, s->arena + r->offset, r->len);
        if (++s->next_record == s->n_records)
            s->next_record = 0;
        return r->len;
    }
    uint32_t n = s->msgs_per_packet;
    uint32_t len = LG_MOLD_HEADER + n * (2 + LG_OUCH_ENTER_LEN);
    if (len > cap)
        return 0;
    if (s->mix) {
        memcpy(buf, s->session_name[session], 10);
        put_be64(buf + 10, s->next_seq[session]);
        put_be16(buf + 18, (uint16_t)n);
        uint8_t *q = buf + LG_MOLD_HEADER;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t ml = mix_message(s, session, q + 2);
            put_be16(q, (uint16_t)ml);
            q += 2 + ml;
        }
        s->next_seq[session] += n;
        return (uint32_t)(q - buf);
    }
    memcpy(buf, s->session_name[session], 10);
    put_be64(buf + 10, s->next_seq[session]);
    put_be16(buf + 18, (uint16_t)n);
    uint8_t *p = buf + LG_MOLD_HEADER;
    for (uint32_t i = 0; i < n; i++) {
        put_be16(p, LG_OUCH_ENTER_LEN);
        ouch_enter_order(p + 2, session, s->next_ref[session]++);
        p += 2 + LG_OUCH_ENTER_LEN;
    }
    s->next_seq[session] += n;
    return len;
}

uint32_t lg_max_payload(const struct lg_source *s)
{
    if (!s->from_pcap)
        return LG_MOLD_HEADER + s->msgs_per_packet * (2 + LG_OUCH_ENTER_LEN);
    uint32_t m = 0;
    for (uint64_t i = 0; i < s->n_records; i++)
        if (s->records[i].len > m)
            m = s->records[i].len;
    return m;
}

int lg_source_pcap(struct lg_source *s, const char *path, int frames)
{
    memset(s, 0, sizeof *s);
    s->from_pcap = 1;
    s->frames = frames;
    s->sessions = 1;
    struct wm_nic_opts o = { .size = sizeof o, .path = path, .flags = frames ? 0 : WM_NIC_O_L4 };
    struct wm_nic_queue *q;
    int rc = wm_nic_open("pcap", &o, &q);
    if (rc < 0) {
        fprintf(stderr, "loadgen: %s\n", wm_nic_last_error());
        return rc;
    }
    size_t arena_cap = 1 << 20, used = 0, rec_cap = 1024;
    s->arena = malloc(arena_cap);
    s->records = malloc(rec_cap * sizeof *s->records);
    struct wm_nic_pkt pk[32];
    for (;;) {
        int n = wm_nic_rx_burst(q, pk, 32);
        if (n == -ENODATA)
            break;
        if (n < 0 || s->arena == NULL || s->records == NULL) {
            rc = n < 0 ? n : -ENOMEM;
            goto out;
        }
        for (int i = 0; i < n; i++) {
            if (pk[i].len > LG_MAX_PAYLOAD)
                continue;
            if (used + pk[i].len > arena_cap) {
                arena_cap *= 2;
                uint8_t *a = realloc(s->arena, arena_cap);
                if (a == NULL) {
                    rc = -ENOMEM;
                    goto out;
                }
                s->arena = a;
            }
            if (s->n_records == rec_cap) {
                rec_cap *= 2;
                struct lg_record *r = realloc(s->records, rec_cap * sizeof *r);
                if (r == NULL) {
                    rc = -ENOMEM;
                    goto out;
                }
                s->records = r;
            }
            memcpy(s->arena + used, pk[i].data, pk[i].len);
            s->records[s->n_records++] = (struct lg_record){ (uint32_t)used, pk[i].len };
            used += pk[i].len;
        }
    }
    rc = 0;
    if (s->n_records == 0) {
        fprintf(stderr, "loadgen: %s holds no %s to send\n", path,
                frames ? "Ethernet frames" : "IPv4 UDP datagrams");
        rc = -EINVAL;
    }
out:
    wm_nic_close(q);
    if (rc < 0)
        lg_source_free(s);
    return rc;
}

void lg_source_free(struct lg_source *s)
{
    free(s->arena);
    free(s->records);
    s->arena = NULL;
    s->records = NULL;
}
