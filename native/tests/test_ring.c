/* Ring unit tests (single thread): validation, full/empty, burst partial,
 * bulk all-or-nothing, wrap-around, every element size, every mode mix,
 * through both the exported functions and the inline API. */
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

static void test_validation(void)
{
    static unsigned char mem[1 << 16] __attribute__((aligned(128)));
    CHECK_EQ(wm_ring_memsize(0, 16), 0);
    CHECK_EQ(wm_ring_memsize(4, 16), 0);
    CHECK_EQ(wm_ring_memsize(12, 16), 0);      /* not a multiple of 8 */
    CHECK_EQ(wm_ring_memsize(72, 16), 0);      /* over 64 */
    CHECK_EQ(wm_ring_memsize(8, 1), 0);
    CHECK_EQ(wm_ring_memsize(8, 0), 0);
    CHECK_EQ(wm_ring_memsize(8, 24), 0);       /* not a power of two */
    CHECK_EQ(wm_ring_memsize(8, (1u << 31)), 0);
    CHECK(wm_ring_memsize(8, WM_RING_MAX_CAP) >= (size_t)8 * WM_RING_MAX_CAP);
    CHECK(wm_ring_memsize(8, 2) > 0);
    CHECK_EQ(wm_ring_memsize(64, 16) % WM_CACHE_LINE, 0);

    CHECK_EQ(wm_ring_init(mem, sizeof mem, "x", 12, 16), -EINVAL);
    CHECK_EQ(wm_ring_init(mem, sizeof mem, "x", 8, 24), -EINVAL);
    CHECK_EQ(wm_ring_init(mem, sizeof mem, "x", 8, 1), -EINVAL);
    size_t need = wm_ring_memsize(16, 64);
    CHECK_EQ(wm_ring_init(mem, need - 1, "x", 16, 64), -EINVAL);      /* too small */
    CHECK_EQ(wm_ring_init(mem + 8, need, "x", 16, 64), -EINVAL);      /* misaligned */
    CHECK_EQ(wm_ring_init(NULL, need, "x", 16, 64), -EINVAL);
    CHECK_EQ(wm_ring_init(mem, need, "0123456789012345678901234567890123", 16, 64), -EINVAL);
    CHECK_EQ(wm_ring_init(mem, need, "caller-memory", 16, 64), 0);
    struct wm_ring *r = (struct wm_ring *)mem;
    CHECK_EQ(wm_ring_check(mem, need), 0);
    CHECK_EQ(wm_ring_check(mem, need - 1), -EINVAL);
    CHECK(strcmp(wm_ring_name(r), "caller-memory") == 0);
    CHECK_EQ(wm_ring_elem_size(r), 16);
    CHECK_EQ(wm_ring_capacity(r), 64);
    CHECK_EQ(wm_ring_count(r), 0);
    CHECK_EQ(wm_ring_free_count(r), 64);
    wm_ring_destroy(r);                       /* caller memory: not freed */
    CHECK_EQ(wm_ring_check(mem, need), 0);

    /* A corrupted ring is refused by check. */
    r->capacity = 48;
    CHECK_EQ(wm_ring_check(mem, need), -EINVAL);
    memset(mem, 0, sizeof mem);
    CHECK_EQ(wm_ring_check(mem, sizeof mem), -EINVAL);

    struct wm_ring *c = NULL;
    CHECK_EQ(wm_ring_create("bad", 8, 3, &c), -EINVAL);
    CHECK_EQ(wm_ring_create("bad", 9, 4, &c), -EINVAL);
    CHECK_EQ(wm_ring_create("ok", 8, 4, NULL), -EINVAL);
    CHECK(c == NULL);
    CHECK_EQ(wm_ring_create(NULL, 8, 4, &c), 0);
    CHECK(c != NULL && strcmp(wm_ring_name(c), "") == 0);

    struct wm_ring_layout lay;
    wm_ring_layout(c, &lay);
    CHECK_EQ(lay.slots_offset % WM_CACHE_LINE, 0);
    CHECK_EQ(lay.slot_stride, 8);
    CHECK_EQ(lay.elem_offset, 0);
    CHECK_EQ(lay.seq_offset, UINT32_MAX);     /* no per-slot sequence word */
    CHECK_EQ(lay.elem_size, 8);
    CHECK_EQ(lay.capacity, 4);
    CHECK(lay.cons_head_offset - lay.prod_head_offset >= WM_CACHE_LINE);
    CHECK(lay.slots_offset >= lay.cons_head_offset + 8);
    /* The heads are where the layout says. */
    uint64_t e = 7;
    CHECK_EQ(wm_ring_sp_enqueue(c, &e), 0);
    CHECK_EQ(*(uint64_t *)((char *)c + lay.prod_head_offset), 1);
    CHECK_EQ(*(uint64_t *)((char *)c + lay.slots_offset + lay.elem_offset), 7);
    CHECK_EQ(wm_ring_sc_dequeue(c, &e), 0);
    CHECK_EQ(*(uint64_t *)((char *)c + lay.cons_head_offset), 1);
    wm_ring_destroy(c);
}

/* Full / empty / stats for single-element calls in every mode mix. */
static void test_single(uint32_t esz, int mp, int mc)
{
    struct wm_ring *r;
    uint64_t e[8], out[8];
    CHECK_EQ(wm_ring_create("single", esz, 8, &r), 0);
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
    uint64_t in[40 * 8], out[40 * 8];
    CHECK_EQ(wm_ring_create("multi", esz, CAP, &r), 0);
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
    uint64_t e[8];
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

/* The inline API with a constant element size, as in-tree callers use it. */
static void test_inline_api(void)
{
    struct wm_ring *r;
    uint64_t in[4 * 32], out[4 * 32];
    CHECK_EQ(wm_ring_create("inline", 32, 64, &r), 0);
    for (uint64_t i = 0; i < 32; i++)
        make_elem(in + i * 4, 32, i);
    CHECK_EQ(wm_ring_mp_enqueue_burst_elem(r, in, 32, 32), 32);
    CHECK_EQ(wm_ring_sp_enqueue_bulk_elem(r, in, 32, 32), 32);
    CHECK_EQ(wm_ring_sp_enqueue_bulk_elem(r, in, 32, 1), 0);
    CHECK_EQ(wm_ring_mp_enqueue_elem(r, in, 32), -ENOBUFS);
    CHECK_EQ(wm_ring_mc_dequeue_bulk_elem(r, out, 32, 32), 32);
    for (uint64_t i = 0; i < 32; i++)
        CHECK(elem_is(out + i * 4, 32, i));
    CHECK_EQ(wm_ring_sc_dequeue_elem(r, out, 32), 0);
    CHECK(elem_is(out, 32, 0));
    CHECK_EQ(wm_ring_sc_dequeue_burst_elem(r, out, 32, 64), 31);
    CHECK_EQ(wm_ring_mc_dequeue_elem(r, out, 32), -ENOENT);
    CHECK_EQ(wm_ring_sp_enqueue_elem(r, in, 32), 0);
    CHECK_EQ(wm_ring_mc_dequeue_burst_elem(r, out, 32, 8), 1);
    struct wm_ring_stats st;
    wm_ring_get_stats(r, &st);
    CHECK_EQ(st.enqueue_refused, 2);
    wm_ring_destroy(r);
}

/* Capacity 2, the smallest ring, across many laps. */
static void test_tiny(void)
{
    struct wm_ring *r;
    uint64_t v, out[4];
    CHECK_EQ(wm_ring_create("tiny", 8, 2, &r), 0);
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
    test_validation();
    for (uint32_t esz = 8; esz <= 64; esz += 8)
        for (int mp = 0; mp < 2; mp++)
            for (int mc = 0; mc < 2; mc++) {
                test_single(esz, mp, mc);
                test_multi(esz, mp, mc);
            }
    test_inline_api();
    test_tiny();
    return check_finish("test_ring");
}
