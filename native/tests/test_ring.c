/* Ring unit tests (single thread): validation, full/empty, burst partial,
 * bulk all-or-nothing, wrap-around, every element size, every mode mix,
 * through both the exported functions and the inline API; every case runs
 * for both synchronisation modes (HEADTAIL, SLOTSEQ). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ring/ring_inline.h"
#include "wirematch/ring.h"

/* An element of esz bytes whose every 8-byte word encodes (value, word). */
static void make_elem(uint64_t *e, uint32_t esz, uint64_t value)
{
    for (uint32_t w = 0; w < esz / 8; w++)
        e[w] = value * 8 + w;
}

static int elem_is(const uint64_t *e, uint32_t esz, uint64_t value)
{
    for (uint32_t w = 0; w < esz / 8; w++)
        if (e[w] != value * 8 + w)
            return 0;
    return 1;
}

typedef int (*enq_one_fn)(struct wm_ring *, const void *);
typedef int (*deq_one_fn)(struct wm_ring *, void *);
typedef unsigned (*enq_n_fn)(struct wm_ring *, const void *, unsigned);
typedef unsigned (*deq_n_fn)(struct wm_ring *, void *, unsigned);

static const enq_one_fn enq_one[2] = {wm_ring_sp_enqueue, wm_ring_mp_enqueue};
static const deq_one_fn deq_one[2] = {wm_ring_sc_dequeue, wm_ring_mc_dequeue};
static const enq_n_fn enq_burst[2] = {wm_ring_sp_enqueue_burst, wm_ring_mp_enqueue_burst};
static const enq_n_fn enq_bulk[2] = {wm_ring_sp_enqueue_bulk, wm_ring_mp_enqueue_bulk};
static const deq_n_fn deq_burst[2] = {wm_ring_sc_dequeue_burst, wm_ring_mc_dequeue_burst};
static const deq_n_fn deq_bulk[2] = {wm_ring_sc_dequeue_bulk, wm_ring_mc_dequeue_bulk};

/* The mode under test: every case below creates its rings in it. */
static enum wm_ring_sync g_sync;

static int create(const char *name, uint32_t esz, uint32_t cap, struct wm_ring **out)
{
    return wm_ring_create_sync(name, esz, cap, g_sync, out);
}

static void test_validation(void)
{
    static unsigned char mem[1 << 16] __attribute__((aligned(128)));
    const enum wm_ring_sync sync = g_sync;
    const size_t seq = sync == WM_RING_SYNC_SLOTSEQ ? 8 : 0;
    CHECK_EQ(wm_ring_memsize_sync(0, 16, sync), 0);
    CHECK_EQ(wm_ring_memsize_sync(4, 16, sync), 0);
    CHECK_EQ(wm_ring_memsize_sync(12, 16, sync), 0);      /* not a multiple of 8 */
    CHECK_EQ(wm_ring_memsize_sync(72, 16, sync), 0);      /* 72..120: no */
    CHECK_EQ(wm_ring_memsize_sync(136, 16, sync), 0);     /* 136..184: no */
    CHECK_EQ(wm_ring_memsize_sync(184, 16, sync), 0);
    CHECK(wm_ring_memsize_sync(128, 16, sync) > 0);
    CHECK(wm_ring_memsize_sync(192, 16, sync) > 0);
    CHECK_EQ(wm_ring_memsize_sync(200, 16, sync), 0);     /* over 192 */
    CHECK_EQ(wm_ring_memsize_sync(256, 16, sync), 0);
    CHECK_EQ(wm_ring_memsize_sync(8, 1, sync), 0);
    CHECK_EQ(wm_ring_memsize_sync(8, 0, sync), 0);
    CHECK_EQ(wm_ring_memsize_sync(8, 24, sync), 0);       /* not a power of two */
    CHECK_EQ(wm_ring_memsize_sync(8, (1u << 31), sync), 0);
    CHECK_EQ(wm_ring_memsize_sync(8, 16, (enum wm_ring_sync)2), 0);   /* not a mode */
    CHECK(wm_ring_memsize_sync(8, WM_RING_MAX_CAP, sync) >= (8 + seq) * WM_RING_MAX_CAP);
    CHECK(wm_ring_memsize_sync(8, 2, sync) > 0);
    CHECK_EQ(wm_ring_memsize_sync(64, 16, sync) % WM_CACHE_LINE, 0);
    /* The slots are capacity x (seq + element) bytes. */
    CHECK_EQ(wm_ring_memsize_sync(64, 1024, sync) - wm_ring_memsize_sync(64, 512, sync),
             512 * (64 + seq));
    /* The calls without _sync mean HEADTAIL. */
    CHECK_EQ(wm_ring_memsize(24, 64), wm_ring_memsize_sync(24, 64, WM_RING_SYNC_HEADTAIL));

    CHECK_EQ(wm_ring_init_sync(mem, sizeof mem, "x", 12, 16, sync), -EINVAL);
    CHECK_EQ(wm_ring_init_sync(mem, sizeof mem, "x", 8, 24, sync), -EINVAL);
    CHECK_EQ(wm_ring_init_sync(mem, sizeof mem, "x", 8, 1, sync), -EINVAL);
    CHECK_EQ(wm_ring_init_sync(mem, sizeof mem, "x", 8, 16, (enum wm_ring_sync)7), -EINVAL);
    size_t need = wm_ring_memsize_sync(16, 64, sync);
    CHECK_EQ(wm_ring_init_sync(mem, need - 1, "x", 16, 64, sync), -EINVAL);  /* too small */
    CHECK_EQ(wm_ring_init_sync(mem + 8, need, "x", 16, 64, sync), -EINVAL);  /* misaligned */
    CHECK_EQ(wm_ring_init_sync(NULL, need, "x", 16, 64, sync), -EINVAL);
    CHECK_EQ(wm_ring_init_sync(mem, need, "0123456789012345678901234567890123", 16, 64, sync),
             -EINVAL);
    CHECK_EQ(wm_ring_init_sync(mem, need, "caller-memory", 16, 64, sync), 0);
    struct wm_ring *r = (struct wm_ring *)mem;
    CHECK_EQ(wm_ring_sync(r), sync);
    CHECK_EQ(wm_ring_check(mem, need), 0);
    CHECK_EQ(wm_ring_check(mem, need - 1), -EINVAL);
    CHECK(strcmp(wm_ring_name(r), "caller-memory") == 0);
    CHECK_EQ(wm_ring_elem_size(r), 16);
    CHECK_EQ(wm_ring_capacity(r), 64);
    CHECK_EQ(wm_ring_count(r), 0);
    CHECK_EQ(wm_ring_free_count(r), 64);
    wm_ring_destroy(r);                       /* caller memory: not freed */
    CHECK_EQ(wm_ring_check(mem, need), 0);

    /* A corrupted ring is refused by check: geometry, then the mode (a ring
     * of the other mode has another memsize and stride; an unknown mode is
     * refused outright). */
    r->capacity = 48;
    CHECK_EQ(wm_ring_check(mem, need), -EINVAL);
    r->capacity = 64;
    CHECK_EQ(wm_ring_check(mem, need), 0);
    r->sync = 2;
    CHECK_EQ(wm_ring_check(mem, need), -EINVAL);
    r->sync = sync == WM_RING_SYNC_SLOTSEQ ? WM_RING_SYNC_HEADTAIL : WM_RING_SYNC_SLOTSEQ;
    CHECK_EQ(wm_ring_check(mem, sizeof mem), -EINVAL);
    r->sync = sync;
    CHECK_EQ(wm_ring_check(mem, need), 0);
    memset(mem, 0, sizeof mem);
    CHECK_EQ(wm_ring_check(mem, sizeof mem), -EINVAL);

    struct wm_ring *c = NULL;
    CHECK_EQ(create("bad", 8, 3, &c), -EINVAL);
    CHECK_EQ(create("bad", 9, 4, &c), -EINVAL);
    CHECK_EQ(create("ok", 8, 4, NULL), -EINVAL);
    CHECK_EQ(wm_ring_create_sync("bad", 8, 4, (enum wm_ring_sync)2, &c), -EINVAL);
    CHECK(c == NULL);
    CHECK_EQ(create(NULL, 8, 4, &c), 0);
    CHECK(c != NULL && strcmp(wm_ring_name(c), "") == 0);
    CHECK_EQ(wm_ring_sync(c), sync);

    struct wm_ring_layout lay;
    wm_ring_layout(c, &lay);
    CHECK_EQ(lay.slots_offset % WM_CACHE_LINE, 0);
    CHECK_EQ(lay.slot_stride, 8 + seq);
    if (sync == WM_RING_SYNC_SLOTSEQ) {
        CHECK_EQ(lay.seq_offset, 0);
        CHECK_EQ(lay.elem_offset, 8);
    } else {
        CHECK_EQ(lay.elem_offset, 0);
        CHECK_EQ(lay.seq_offset, UINT32_MAX);     /* no per-slot sequence word */
    }
    CHECK_EQ(lay.elem_size, 8);
    CHECK_EQ(lay.capacity, 4);
    CHECK(lay.cons_head_offset - lay.prod_head_offset >= WM_CACHE_LINE);
    CHECK(lay.slots_offset >= lay.cons_head_offset + 8);
    /* The heads (and the sequence words) are where the layout says. */
    uint64_t e = 7;
    for (uint64_t i = 0; i < 6; i++) {     /* 6 positions: slots 0, 1 see two laps */
        e = 7 + i;
        CHECK_EQ(wm_ring_sp_enqueue(c, &e), 0);
        CHECK_EQ(*(uint64_t *)((char *)c + lay.prod_head_offset), i + 1);
        const char *slot = (char *)c + lay.slots_offset + (i % 4) * lay.slot_stride;
        CHECK_EQ(*(uint64_t *)(slot + lay.elem_offset), 7 + i);
        if (sync == WM_RING_SYNC_SLOTSEQ)
            CHECK_EQ(*(uint64_t *)(slot + lay.seq_offset), i + 1);   /* filled for i */
        CHECK_EQ(wm_ring_sc_dequeue(c, &e), 0);
        CHECK_EQ(e, 7 + i);
        CHECK_EQ(*(uint64_t *)((char *)c + lay.cons_head_offset), i + 1);
    }
    wm_ring_destroy(c);

    /* The calls without _sync lay out HEADTAIL rings. */
    CHECK_EQ(wm_ring_create("plain", 8, 4, &c), 0);
    CHECK_EQ(wm_ring_sync(c), WM_RING_SYNC_HEADTAIL);
    wm_ring_destroy(c);
    CHECK_EQ(wm_ring_init(mem, sizeof mem, "plain", 8, 4), 0);
    CHECK_EQ(wm_ring_sync((struct wm_ring *)mem), WM_RING_SYNC_HEADTAIL);
}

/* Full / empty / stats for single-element calls in every mode mix. */
static void test_single(uint32_t esz, int mp, int mc)
{
    struct wm_ring *r;
    uint64_t e[WM_RING_MAX_ELEM / 8], out[WM_RING_MAX_ELEM / 8];
    CHECK_EQ(create("single", esz, 8, &r), 0);
    CHECK_EQ(deq_one[mc](r, out), -ENOENT);
    for (uint64_t i = 0; i < 8; i++) {
        make_elem(e, esz, i);
        CHECK_EQ(enq_one[mp](r, e), 0);
    }
    CHECK_EQ(wm_ring_count(r), 8);
    CHECK_EQ(wm_ring_free_count(r), 0);
    make_elem(e, esz, 99);
    CHECK_EQ(enq_one[mp](r, e), -ENOBUFS);
    CHECK_EQ(enq_one[mp](r, e), -ENOBUFS);
    struct wm_ring_stats st;
    wm_ring_get_stats(r, &st);
    CHECK_EQ(st.enqueued, 8);
    CHECK_EQ(st.enqueue_refused, 2);
    CHECK_EQ(st.dequeued, 0);
    /* Wrap around many laps, one in one out. */
    for (uint64_t i = 0; i < 8 * 5 + 3; i++) {
        CHECK_EQ(deq_one[mc](r, out), 0);
        CHECK(elem_is(out, esz, i));
        make_elem(e, esz, i + 8);
        CHECK_EQ(enq_one[mp](r, e), 0);
    }
    for (uint64_t i = 8 * 5 + 3; i < 8 * 6 + 3; i++) {
        CHECK_EQ(deq_one[mc](r, out), 0);
        CHECK(elem_is(out, esz, i));
    }
    CHECK_EQ(deq_one[mc](r, out), -ENOENT);
    wm_ring_get_stats(r, &st);
    CHECK_EQ(st.enqueued, 8 * 6 + 3);
    CHECK_EQ(st.dequeued, 8 * 6 + 3);
    CHECK_EQ(st.enqueue_refused, 2);
    CHECK_EQ(wm_ring_count(r), 0);
    wm_ring_destroy(r);
}

/* Burst partial, bulk all-or-nothing, wrap-around inside a burst. */
static void test_multi(uint32_t esz, int mp, int mc)
{
    enum { CAP = 16 };
    struct wm_ring *r;
    static uint64_t in[40 * WM_RING_MAX_ELEM / 8], out[40 * WM_RING_MAX_ELEM / 8];
    CHECK_EQ(create("multi", esz, CAP, &r), 0);
    for (uint64_t i = 0; i < 40; i++)
        make_elem(in + i * (esz / 8), esz, i);

    CHECK_EQ(enq_burst[mp](r, in, 0), 0);
    CHECK_EQ(deq_burst[mc](r, out, 4), 0);           /* empty */
    CHECK_EQ(deq_bulk[mc](r, out, 1), 0);
    CHECK_EQ(enq_bulk[mp](r, in, CAP + 1), 0);       /* more than capacity: nothing */
    CHECK_EQ(wm_ring_count(r), 0);
    CHECK_EQ(enq_bulk[mp](r, in, 10), 10);
    CHECK_EQ(enq_bulk[mp](r, in + 10 * (esz / 8), 7), 0);   /* 6 free: nothing */
    CHECK_EQ(wm_ring_count(r), 10);
    CHECK_EQ(enq_burst[mp](r, in + 10 * (esz / 8), 7), 6);  /* partial */
    CHECK_EQ(wm_ring_count(r), CAP);
    CHECK_EQ(enq_burst[mp](r, in, 3), 0);            /* full */
    struct wm_ring_stats st;
    wm_ring_get_stats(r, &st);
    CHECK_EQ(st.enqueued, 16);
    CHECK_EQ(st.enqueue_refused, (CAP + 1) + 7 + 1 + 3);

    CHECK_EQ(deq_bulk[mc](r, out, CAP + 1), 0);      /* not that many: nothing */
    CHECK_EQ(deq_bulk[mc](r, out, 5), 5);
    for (uint64_t i = 0; i < 5; i++)
        CHECK(elem_is(out + i * (esz / 8), esz, i));
    /* Refill across the wrap: positions 16..20 use slots 0..4. */
    CHECK_EQ(enq_burst[mp](r, in + 16 * (esz / 8), 8), 5);
    CHECK_EQ(deq_burst[mc](r, out, 40), CAP);        /* partial: all there is */
    for (uint64_t i = 0; i < CAP; i++)
        CHECK(elem_is(out + i * (esz / 8), esz, i + 5));
    CHECK_EQ(wm_ring_count(r), 0);

    /* Many laps with bursts whose sizes do not divide the capacity, mixing
     * single and burst calls. */
    uint64_t next_in = 0, next_out = 0;
    uint64_t e[WM_RING_MAX_ELEM / 8];
    for (int round = 0; round < 200; round++) {
        unsigned k = 1 + (unsigned)(round * 7) % 13;
        unsigned free_slots = wm_ring_free_count(r);
        for (unsigned i = 0; i < k; i++)
            make_elem(in + i * (esz / 8), esz, next_in + i);
        unsigned put = (round % 3 == 0) ? enq_bulk[mp](r, in, k) : enq_burst[mp](r, in, k);
        CHECK_EQ(put, (round % 3 == 0) ? (k <= free_slots ? k : 0) : (k < free_slots ? k : free_slots));
        next_in += put;
        if (round % 5 == 0) {
            make_elem(e, esz, next_in);
            if (enq_one[mp](r, e) == 0)
                next_in++;
        }
        unsigned m = 1 + (unsigned)(round * 5) % 11;
        unsigned got = (round % 4 == 0) ? deq_bulk[mc](r, out, m) : deq_burst[mc](r, out, m);
        for (unsigned i = 0; i < got; i++)
            CHECK(elem_is(out + i * (esz / 8), esz, next_out + i));
        next_out += got;
        if (round % 7 == 0 && deq_one[mc](r, e) == 0) {
            CHECK(elem_is(e, esz, next_out));
            next_out++;
        }
        CHECK_EQ(wm_ring_count(r), next_in - next_out);
    }
    while (wm_ring_count(r) > 0) {
        unsigned got = deq_burst[mc](r, out, 3);
        CHECK(got > 0);
        for (unsigned i = 0; i < got; i++)
            CHECK(elem_is(out + i * (esz / 8), esz, next_out + i));
        next_out += got;
    }
    CHECK_EQ(next_in, next_out);
    CHECK(next_in > 400);
    wm_ring_get_stats(r, &st);
    CHECK_EQ(st.enqueued, 21 + next_in);
    CHECK_EQ(st.dequeued, 21 + next_out);
    wm_ring_destroy(r);
}

/* The inline API with a constant element size, as in-tree callers use it:
 * the mode-generic calls and the ring's own mode's calls, mixed. */
#define INLINE_ENQ_BURST(r, v, esz, n, mp)                                                         \
    (g_sync == WM_RING_SYNC_SLOTSEQ                                                                \
         ? ((mp) ? wm_ring_slotseq_mp_enqueue_burst_elem(r, v, esz, n)                             \
                 : wm_ring_slotseq_sp_enqueue_burst_elem(r, v, esz, n))                            \
         : ((mp) ? wm_ring_headtail_mp_enqueue_burst_elem(r, v, esz, n)                            \
                 : wm_ring_headtail_sp_enqueue_burst_elem(r, v, esz, n)))
#define INLINE_DEQ_BULK(r, v, esz, n)                                                              \
    (g_sync == WM_RING_SYNC_SLOTSEQ ? wm_ring_slotseq_mc_dequeue_bulk_elem(r, v, esz, n)          \
                                    : wm_ring_headtail_mc_dequeue_bulk_elem(r, v, esz, n))
#define INLINE_DEQ_ONE(r, v, esz)                                                                  \
    (g_sync == WM_RING_SYNC_SLOTSEQ ? wm_ring_slotseq_sc_dequeue_elem(r, v, esz)                  \
                                    : wm_ring_headtail_sc_dequeue_elem(r, v, esz))

static void test_inline_api(void)
{
    struct wm_ring *r;
    uint64_t in[4 * 32], out[4 * 32];
    CHECK_EQ(create("inline", 32, 64, &r), 0);
    for (uint64_t i = 0; i < 32; i++)
        make_elem(in + i * 4, 32, i);
    CHECK_EQ(wm_ring_mp_enqueue_burst_elem(r, in, 32, 32), 32);
    CHECK_EQ(wm_ring_sp_enqueue_bulk_elem(r, in, 32, 32), 32);
    CHECK_EQ(wm_ring_sp_enqueue_bulk_elem(r, in, 32, 1), 0);
    CHECK_EQ(INLINE_ENQ_BURST(r, in, 32, 1, 1), 0);
    CHECK_EQ(wm_ring_mp_enqueue_elem(r, in, 32), -ENOBUFS);
    CHECK_EQ(INLINE_DEQ_BULK(r, out, 32, 32), 32);
    for (uint64_t i = 0; i < 32; i++)
        CHECK(elem_is(out + i * 4, 32, i));
    CHECK_EQ(INLINE_DEQ_ONE(r, out, 32), 0);
    CHECK(elem_is(out, 32, 0));
    CHECK_EQ(wm_ring_sc_dequeue_burst_elem(r, out, 32, 64), 31);
    CHECK_EQ(wm_ring_mc_dequeue_elem(r, out, 32), -ENOENT);
    CHECK_EQ(wm_ring_sp_enqueue_elem(r, in, 32), 0);
    CHECK_EQ(wm_ring_mc_dequeue_burst_elem(r, out, 32, 8), 1);
    CHECK_EQ(INLINE_ENQ_BURST(r, in + 4, 32, 5, 0), 5);
    CHECK_EQ(INLINE_DEQ_ONE(r, out, 32), 0);
    CHECK(elem_is(out, 32, 1));
    CHECK_EQ(INLINE_DEQ_BULK(r, out, 32, 5), 0);
    CHECK_EQ(INLINE_DEQ_BULK(r, out, 32, 4), 4);
    CHECK(elem_is(out + 3 * 4, 32, 5));
    struct wm_ring_stats st;
    wm_ring_get_stats(r, &st);
    CHECK_EQ(st.enqueue_refused, 3);
    CHECK_EQ(st.enqueued, 64 + 1 + 5);
    CHECK_EQ(st.dequeued, 64 + 1 + 5);
    wm_ring_destroy(r);
}

/* Capacity 2, the smallest ring, across many laps. */
static void test_tiny(void)
{
    struct wm_ring *r;
    uint64_t v, out[4];
    CHECK_EQ(create("tiny", 8, 2, &r), 0);
    for (uint64_t i = 0; i < 1000; i++) {
        v = i;
        CHECK_EQ(wm_ring_mp_enqueue(r, &v), 0);
        CHECK_EQ(wm_ring_sp_enqueue_burst(r, &v, 1), 1);
        CHECK_EQ(wm_ring_mp_enqueue(r, &v), -ENOBUFS);
        CHECK_EQ(wm_ring_mc_dequeue_burst(r, out, 4), 2);
        CHECK_EQ(out[0], i);
        CHECK_EQ(out[1], i);
    }
    wm_ring_destroy(r);
}

int main(void)
{
    static const enum wm_ring_sync modes[] = {WM_RING_SYNC_HEADTAIL, WM_RING_SYNC_SLOTSEQ};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        g_sync = modes[m];
        test_validation();
        for (uint32_t esz = 8; esz <= WM_RING_MAX_ELEM; esz = esz < 64 ? esz + 8 : esz + 64)
            for (int mp = 0; mp < 2; mp++)
                for (int mc = 0; mc < 2; mc++) {
                    test_single(esz, mp, mc);
                    test_multi(esz, mp, mc);
                }
        test_inline_api();
        test_tiny();
    }
    return check_finish("test_ring");
}
