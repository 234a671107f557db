/* codec_bench.c - decode and encode throughput of the wire codecs, one core.
 *
 * Prints one JSON object per case: {"case", "mps"} with messages per second,
 * and for two cases a hand-coded reference (fixed offsets, bswap, no
 * validation, no tables) as "ref_mps", to show what the table-driven,
 * fully validating codec costs.  Usage: codec_bench [seconds_per_case]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wirematch.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile uint64_t sink;

#define N_PACKETS 64
#define PER_PACKET 20

static uint8_t packets[N_PACKETS][WM_MOLD_MTU_PAYLOAD];
static uint32_t packet_len[N_PACKETS];

static void fill_enter(struct wm_ouch_in *m, uint32_t i)
{
    memset(m, 0, sizeof(*m));
    m->type = 'O';
    m->u.enter.user_ref_num = i + 1;
    m->u.enter.side = (i & 1) ? 'B' : 'S';
    m->u.enter.quantity = 100 + i % 900;
    memcpy(m->u.enter.symbol, "ZVZZT   ", 8);
    m->u.enter.price = 1000000 + (int64_t)(i % 100) * 100;
    m->u.enter.time_in_force = '0';
    m->u.enter.display = 'Y';
    m->u.enter.capacity = 'A';
    m->u.enter.iso = 'N';
    m->u.enter.cross_type = 'N';
    memcpy(m->u.enter.cl_ord_id, "BENCH-0000001 ", 14);
    m->u.enter.app.present = 1u << WM_OUCH_TAG_MIN_QTY;
    m->u.enter.app.min_qty = 100;
}

static void build_inbound(void)
{
    for (uint32_t p = 0; p < N_PACKETS; p++) {
        uint8_t *buf = packets[p];
        size_t off = (size_t)wm_mold_write_header(buf, WM_MOLD_MTU_PAYLOAD, "BENCH", 1 + p * PER_PACKET,
                                                  PER_PACKET);
        for (uint32_t k = 0; k < PER_PACKET; k++) {
            struct wm_ouch_in m;
            fill_enter(&m, p * PER_PACKET + k);
            int n = wm_ouch_encode_in(buf + off + 2, WM_MOLD_MTU_PAYLOAD - off - 2, &m);
            if (n < 0)
                abort();
            buf[off] = (uint8_t)(n >> 8);
            buf[off + 1] = (uint8_t)n;
            off += 2 + (size_t)n;
        }
        packet_len[p] = (uint32_t)off;
    }
}

typedef uint64_t (*bench_fn)(uint64_t rounds);

/* MoldUDP64 packet decode + OUCH Enter Order decode of each block. */
static uint64_t run_mold_ouch_decode(uint64_t rounds)
{
    struct wm_codec_stats st;
    memset(&st, 0, sizeof(st));
    uint64_t msgs = 0, acc = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        struct wm_mold_packet pkt;
        const uint8_t *buf = packets[r % N_PACKETS];
        if (wm_mold_decode(buf, packet_len[r % N_PACKETS], &pkt, &st))
            abort();
        uint16_t len;
        const uint8_t *p;
        while ((p = wm_mold_next_block(&pkt, &len))) {
            struct wm_ouch_in m;
            if (wm_ouch_decode_in(p, len, &m, &st))
                abort();
            acc += (uint64_t)m.u.enter.price + m.u.enter.quantity;
            msgs++;
        }
    }
    sink = acc;
    return msgs;
}

static inline uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return __builtin_bswap32(v); }
static inline uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return __builtin_bswap64(v); }

/* Reference: the same walk with fixed offsets and no checks at all. */
static uint64_t run_mold_ouch_decode_ref(uint64_t rounds)
{
    uint64_t msgs = 0, acc = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        const uint8_t *buf = packets[r % N_PACKETS];
        unsigned count = (unsigned)(buf[18] << 8 | buf[19]);
        size_t off = 20;
        for (unsigned k = 0; k < count; k++) {
            unsigned len = (unsigned)(buf[off] << 8 | buf[off + 1]);
            const uint8_t *p = buf + off + 2;
            struct wm_ouch_enter_order e;
            e.user_ref_num = rd32(p + 1);
            e.side = (char)p[5];
            e.quantity = rd32(p + 6);
            memcpy(e.symbol, p + 10, 8);
            e.price = (int64_t)rd64(p + 18);
            e.time_in_force = (char)p[26];
            memcpy(e.cl_ord_id, p + 31, 14);
            acc += (uint64_t)e.price + e.quantity + (uint8_t)e.side + e.user_ref_num;
            off += 2 + len;
            msgs++;
        }
    }
    sink = acc;
    return msgs;
}

static uint8_t cancel_msg[WM_OUCH_CANCEL_ORDER_LEN];
static uint8_t add_msg[WM_ITCH_ADD_ORDER_LEN];

static uint64_t run_ouch_cancel_decode(uint64_t rounds)
{
    struct wm_codec_stats st;
    memset(&st, 0, sizeof(st));
    uint64_t acc = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        struct wm_ouch_in m;
        cancel_msg[4] = (uint8_t)r | 1;
        if (wm_ouch_decode_in(cancel_msg, sizeof(cancel_msg), &m, &st))
            abort();
        acc += m.u.cancel.user_ref_num;
    }
    sink = acc;
    return rounds;
}

static uint64_t run_itch_decode(uint64_t rounds)
{
    struct wm_codec_stats st;
    memset(&st, 0, sizeof(st));
    uint64_t acc = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        struct wm_itch_msg m;
        add_msg[18] = (uint8_t)r | 1;
        if (wm_itch_decode(add_msg, sizeof(add_msg), &m, &st))
            abort();
        acc += m.u.add.order_ref + m.u.add.price;
    }
    sink = acc;
    return rounds;
}

static uint8_t out_buf[WM_MOLD_MTU_PAYLOAD];

/* ITCH Add Order into a MoldUDP64 packet builder, flushing when full. */
static uint64_t run_itch_encode(uint64_t rounds)
{
    struct wm_mold_builder b;
    struct wm_itch_msg m;
    memset(&m, 0, sizeof(m));
    m.type = 'A';
    m.stock_locate = 1;
    m.u.add.side = 'B';
    m.u.add.shares = 100;
    memcpy(m.u.add.stock, "ZVZZT   ", 8);
    wm_mold_builder_init(&b, "MDFEED", 1, out_buf, sizeof(out_buf));
    uint64_t bytes = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        m.timestamp = 34200000000000ull + r;
        m.u.add.order_ref = r + 1;
        m.u.add.price = 1000000 + (uint32_t)(r & 1023);
        int rc = wm_mold_builder_add_itch(&b, &m);
        if (rc == -ENOBUFS) {
            bytes += wm_mold_builder_flush(&b);
            rc = wm_mold_builder_add_itch(&b, &m);
        }
        if (rc)
            abort();
    }
    bytes += wm_mold_builder_flush(&b);
    sink = bytes;
    return rounds;
}

static inline void wr16(uint8_t *p, uint16_t v) { v = __builtin_bswap16(v); memcpy(p, &v, 2); }
static inline void wr32(uint8_t *p, uint32_t v) { v = __builtin_bswap32(v); memcpy(p, &v, 4); }
static inline void wr64(uint8_t *p, uint64_t v) { v = __builtin_bswap64(v); memcpy(p, &v, 8); }

/* Reference: the same packets written with fixed offsets, no validation. */
static uint64_t run_itch_encode_ref(uint64_t rounds)
{
    uint64_t bytes = 0, seq = 1;
    uint32_t len = 0, count = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        if (len == 0) {
            memcpy(out_buf, "MDFEED    ", 10);
            wr64(out_buf + 10, seq);
            len = 20;
        }
        if (len + 2 + 36 > sizeof(out_buf)) {
            wr16(out_buf + 18, (uint16_t)count);
            bytes += len;
            seq += count;
            count = 0;
            memcpy(out_buf, "MDFEED    ", 10);
            wr64(out_buf + 10, seq);
            len = 20;
        }
        uint8_t *p = out_buf + len;
        wr16(p, 36);
        p += 2;
        uint64_t ts = 34200000000000ull + r;
        p[0] = 'A';
        wr16(p + 1, 1);
        wr16(p + 3, 0);
        wr16(p + 5, (uint16_t)(ts >> 32));
        wr32(p + 7, (uint32_t)ts);
        wr64(p + 11, r + 1);
        p[19] = 'B';
        wr32(p + 20, 100);
        memcpy(p + 24, "ZVZZT   ", 8);
        wr32(p + 32, 1000000 + (uint32_t)(r & 1023));
        len += 38;
        count++;
    }
    sink = bytes + len;
    return rounds;
}

static uint64_t run_ouch_accepted_encode(uint64_t rounds)
{
    struct wm_mold_builder b;
    struct wm_ouch_out m;
    memset(&m, 0, sizeof(m));
    m.type = 'A';
    struct wm_ouch_order_accepted *a = &m.u.accepted;
    a->side = 'B';
    a->quantity = 100;
    memcpy(a->symbol, "ZVZZT   ", 8);
    a->price = 1000000;
    a->time_in_force = '0';
    a->display = 'Y';
    a->capacity = 'A';
    a->iso = 'N';
    a->cross_type = 'N';
    a->order_state = 'L';
    memcpy(a->cl_ord_id, "BENCH-0000001 ", 14);
    wm_mold_builder_init(&b, "CLIENT", 1, out_buf, sizeof(out_buf));
    uint64_t bytes = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        m.timestamp = 34200000000000ull + r;
        a->user_ref_num = (uint32_t)r + 1;
        a->order_ref = r + 1;
        int rc = wm_mold_builder_add_ouch(&b, &m);
        if (rc == -ENOBUFS) {
            bytes += wm_mold_builder_flush(&b);
            rc = wm_mold_builder_add_ouch(&b, &m);
        }
        if (rc)
            abort();
    }
    bytes += wm_mold_builder_flush(&b);
    sink = bytes;
    return rounds;
}

static double measure(bench_fn fn, double seconds)
{
    uint64_t rounds = 1000;
    fn(rounds);     /* warm up */
    for (;;) {
        double t0 = now_s();
        uint64_t msgs = fn(rounds);
        double dt = now_s() - t0;
        if (dt >= seconds)
            return (double)msgs / dt;
        rounds = dt < seconds / 16 ? rounds * 8 : (uint64_t)((double)rounds * seconds / dt * 1.1);
    }
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.3;
    build_inbound();
    struct wm_ouch_in c = { .type = 'X' };
    c.u.cancel.user_ref_num = 1;
    if (wm_ouch_encode_in(cancel_msg, sizeof(cancel_msg), &c) != WM_OUCH_CANCEL_ORDER_LEN)
        abort();
    struct wm_itch_msg a;
    memset(&a, 0, sizeof(a));
    a.type = 'A';
    a.u.add.order_ref = 1;
    a.u.add.side = 'S';
    a.u.add.shares = 100;
    memcpy(a.u.add.stock, "ZVZZT   ", 8);
    a.u.add.price = 1000000;
    if (wm_itch_encode(add_msg, sizeof(add_msg), &a) != WM_ITCH_ADD_ORDER_LEN)
        abort();

    struct { const char *name; bench_fn fn; bench_fn ref; } cases[] = {
        { "decode_mold_ouch_enter_order_20_per_packet", run_mold_ouch_decode, run_mold_ouch_decode_ref },
        { "decode_ouch_cancel_order", run_ouch_cancel_decode, NULL },
        { "decode_itch_add_order", run_itch_decode, NULL },
        { "encode_itch_add_order_mold", run_itch_encode, run_itch_encode_ref },
        { "encode_ouch_order_accepted_mold", run_ouch_accepted_encode, NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double mps = measure(cases[i].fn, seconds);
        if (cases[i].ref) {
            double ref = measure(cases[i].ref, seconds);
            printf("{\"case\": \"%s\", \"mps\": %.1f, \"ref_mps\": %.1f}\n", cases[i].name, mps, ref);
        } else {
            printf("{\"case\": \"%s\", \"mps\": %.1f}\n", cases[i].name, mps);
        }
    }
    return 0;
}
