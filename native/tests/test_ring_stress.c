/* Ring stress: producers and consumers on real threads, every mode mix, no
 * loss, no duplication, per-producer order preserved at every consumer.
 *
 * One harness, one table of cases.  Each producer numbers its elements
 * 0..N-1 and stamps every word of the element with them (a torn copy shows);
 * each consumer checks that the numbers it sees from one producer strictly
 * increase, and marks each in a per-producer bitmap (a second mark is a
 * duplicate); at the end every bit must be set (no loss).
 *
 * Every case runs in both synchronisation modes (HEADTAIL, SLOTSEQ), each
 * with half the case's element count.
 *
 * Scale: WM_RING_STRESS_SCALE (a float, default 1) multiplies the element
 * counts; under ThreadSanitizer they are divided by 40 so the TSan suite
 * stays fast while still running every case.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ring/ring_inline.h"
#include "wirematch/ring.h"

#if defined(__SANITIZE_THREAD__)
#  define UNDER_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define UNDER_TSAN 1
#  endif
#endif
#ifndef UNDER_TSAN
#  define UNDER_TSAN 0
#endif

#define MAX_THREADS 4
#define MAX_BURST 32

enum op_style { OP_SINGLE, OP_BURST, OP_BULK, OP_MIXED, OP_INLINE };

struct stress_case {
    const char *name;
    int producers, consumers;
    int mp, mc;                 /* which contract the calls use */
    enum op_style style;
    uint32_t elem_size, capacity;
    uint64_t per_producer;      /* elements per producer at scale 1 */
};

struct shared {
    const struct stress_case *c;
    enum wm_ring_sync sync;
    struct wm_ring *r;
    uint64_t n;                 /* elements per producer */
    uint64_t *seen[MAX_THREADS];   /* per-producer bitmaps */
    uint64_t consumed;          /* atomic: total dequeued */
    uint64_t errors;            /* atomic */
    pthread_barrier_t start;
};

struct worker {
    struct shared *s;
    int id;
    uint64_t ops;
};

static uint64_t word_for(uint64_t value, uint32_t w)
{
    return (value ^ (0x9e3779b97f4a7c15ull * (w + 1))) + w;
}

static void make_elem(uint64_t *e, uint32_t esz, int producer, uint64_t seq)
{
    uint64_t value = ((uint64_t)producer << 56) | seq;
    e[0] = value;
    for (uint32_t w = 1; w < esz / 8; w++)
        e[w] = word_for(value, w);
}

static const char *const sync_names[] = {"headtail", "slotseq"};

static void note_error(struct shared *s, const char *what, uint64_t a, uint64_t b)
{
    if (__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED) < 10)
        fprintf(stderr, "%s/%s: %s (%llu, %llu)\n", s->c->name, sync_names[s->sync], what,
                (unsigned long long)a, (unsigned long long)b);
}

static unsigned pick(uint64_t *rng, unsigned max)
{
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    return 1 + (unsigned)((*rng >> 33) % max);
}

static unsigned do_enqueue(const struct shared *s, struct wm_ring *r, const uint64_t *elems,
                           unsigned n, uint64_t *rng)
{
    const struct stress_case *c = s->c;
    enum op_style style = c->style;
    if (style == OP_MIXED)
        style = (enum op_style)(pick(rng, 3) - 1);
    switch (style) {
    case OP_SINGLE: {
        int rc = c->mp ? wm_ring_mp_enqueue(r, elems) : wm_ring_sp_enqueue(r, elems);
        return rc == 0 ? 1 : 0;
    }
    case OP_BURST:
        return c->mp ? wm_ring_mp_enqueue_burst(r, elems, n) : wm_ring_sp_enqueue_burst(r, elems, n);
    case OP_BULK:
        return c->mp ? wm_ring_mp_enqueue_bulk(r, elems, n) : wm_ring_sp_enqueue_bulk(r, elems, n);
    default:   /* OP_INLINE: constant element size 16, the ring's own mode's calls */
        if (s->sync == WM_RING_SYNC_SLOTSEQ)
            return c->mp ? wm_ring_slotseq_mp_enqueue_burst_elem(r, elems, 16, n)
                         : wm_ring_slotseq_sp_enqueue_burst_elem(r, elems, 16, n);
        return c->mp ? wm_ring_headtail_mp_enqueue_burst_elem(r, elems, 16, n)
                     : wm_ring_headtail_sp_enqueue_burst_elem(r, elems, 16, n);
    }
}

static unsigned do_dequeue(const struct shared *s, struct wm_ring *r, uint64_t *elems,
                           unsigned n, uint64_t *rng)
{
    const struct stress_case *c = s->c;
    enum op_style style = c->style;
    if (style == OP_MIXED)
        style = (enum op_style)(pick(rng, 3) - 1);
    switch (style) {
    case OP_SINGLE: {
        int rc = c->mc ? wm_ring_mc_dequeue(r, elems) : wm_ring_sc_dequeue(r, elems);
        return rc == 0 ? 1 : 0;
    }
    case OP_BURST:
        return c->mc ? wm_ring_mc_dequeue_burst(r, elems, n) : wm_ring_sc_dequeue_burst(r, elems, n);
    case OP_BULK:
        return c->mc ? wm_ring_mc_dequeue_bulk(r, elems, n) : wm_ring_sc_dequeue_bulk(r, elems, n);
    default:   /* OP_INLINE: the mode-generic inline calls */
        return c->mc ? wm_ring_mc_dequeue_burst_elem(r, elems, 16, n)
                     : wm_ring_sc_dequeue_burst_elem(r, elems, 16, n);
    }
}

/* After a run of failed attempts, let a descheduled peer run: with more
 * threads than cores that is what the spinning one is waiting for. */
static void backoff(unsigned *fails)
{
    if (++*fails % 64 == 0)
        sched_yield();
    else
        wm_ring_pause();
}

static void *producer_main(void *arg)
{
    struct worker *w = arg;
    struct shared *s = w->s;
    const struct stress_case *c = s->c;
    const uint32_t words = c->elem_size / 8;
    uint64_t elems[MAX_BURST * 8];
    uint64_t rng = 0x1234567ull + (uint64_t)w->id * 977;
    uint64_t next = 0;
    unsigned fails = 0;
    pthread_barrier_wait(&s->start);
    while (next < s->n) {
        unsigned n = pick(&rng, MAX_BURST);
        if (n > s->n - next)
            n = (unsigned)(s->n - next);
        for (unsigned i = 0; i < n; i++)
            make_elem(elems + i * words, c->elem_size, w->id, next + i);
        unsigned put = do_enqueue(s, s->r, elems, n, &rng);
        w->ops++;
        if (put > n) {
            note_error(s, "enqueue returned more than asked", put, n);
            break;
        }
        next += put;
        if (put == 0)
            backoff(&fails);
    }
    return NULL;
}

static void *consumer_main(void *arg)
{
    struct worker *w = arg;
    struct shared *s = w->s;
    const struct stress_case *c = s->c;
    const uint32_t words = c->elem_size / 8;
    const uint64_t total = s->n * (uint64_t)c->producers;
    uint64_t elems[MAX_BURST * 8];
    uint64_t last[MAX_THREADS];
    uint64_t rng = 0x7654321ull + (uint64_t)w->id * 131;
    unsigned fails = 0;
    for (int p = 0; p < MAX_THREADS; p++)
        last[p] = UINT64_MAX;
    pthread_barrier_wait(&s->start);
    /* relaxed: a progress counter used only to know when to stop. */
    while (__atomic_load_n(&s->consumed, __ATOMIC_RELAXED) < total) {
        unsigned got = do_dequeue(s, s->r, elems, pick(&rng, MAX_BURST), &rng);
        w->ops++;
        if (got == 0) {
            backoff(&fails);
            continue;
        }
        for (unsigned i = 0; i < got; i++) {
            const uint64_t *e = elems + i * words;
            uint64_t value = e[0];
            int p = (int)(value >> 56);
            uint64_t seq = value & ((1ull << 56) - 1);
            if (p >= c->producers || seq >= s->n) {
                note_error(s, "foreign element", value, 0);
                continue;
            }
            for (uint32_t k = 1; k < words; k++)
                if (e[k] != word_for(value, k))
                    note_error(s, "torn element", value, k);
            if (last[p] != UINT64_MAX && seq <= last[p])
                note_error(s, "order broken for a producer", last[p], seq);
            last[p] = seq;
            uint64_t bit = 1ull << (seq % 64);
            if (__atomic_fetch_or(&s->seen[p][seq / 64], bit, __ATOMIC_RELAXED) & bit)
                note_error(s, "duplicate", (uint64_t)p, seq);
        }
        __atomic_fetch_add(&s->consumed, got, __ATOMIC_RELAXED);
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_case(const struct stress_case *c, enum wm_ring_sync sync, double scale)
{
    struct shared s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.sync = sync;
    s.n = (uint64_t)((double)c->per_producer * scale);
    if (s.n < 1000)
        s.n = 1000;
    CHECK_EQ(wm_ring_create_sync(c->name, c->elem_size, c->capacity, sync, &s.r), 0);
    CHECK_EQ(wm_ring_sync(s.r), sync);
    for (int p = 0; p < c->producers; p++)
        s.seen[p] = calloc((s.n + 63) / 64, sizeof(uint64_t));
    int nthreads = c->producers + c->consumers;
    pthread_barrier_init(&s.start, NULL, (unsigned)nthreads);
    pthread_t tids[2 * MAX_THREADS];
    struct worker workers[2 * MAX_THREADS];
    double t0 = now_s();
    for (int i = 0; i < nthreads; i++) {
        workers[i] = (struct worker){.s = &s, .id = i < c->producers ? i : i - c->producers};
        pthread_create(&tids[i], NULL, i < c->producers ? producer_main : consumer_main,
                       &workers[i]);
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(tids[i], NULL);
    double dt = now_s() - t0;

    uint64_t missing = 0;
    for (int p = 0; p < c->producers; p++) {
        for (uint64_t q = 0; q < s.n; q++)
            if (!(s.seen[p][q / 64] & (1ull << (q % 64))))
                missing++;
        free(s.seen[p]);
    }
    struct wm_ring_stats st;
    wm_ring_get_stats(s.r, &st);
    uint64_t total = s.n * (uint64_t)c->producers;
    CHECK_EQ(s.errors, 0);
    CHECK_EQ(missing, 0);
    CHECK_EQ(s.consumed, total);
    CHECK_EQ(st.enqueued, total);
    CHECK_EQ(st.dequeued, total);
    CHECK_EQ(wm_ring_count(s.r), 0);
    printf("%-24s %-8s %dx%d %2uB cap %-5u %10llu elements %6.2f s %7.1f M/s, refused %llu\n",
           c->name, sync_names[sync], c->producers, c->consumers, c->elem_size, c->capacity,
           (unsigned long long)total, dt, (double)total / dt / 1e6,
           (unsigned long long)st.enqueue_refused);
    pthread_barrier_destroy(&s.start);
    wm_ring_destroy(s.r);
}

static const struct stress_case cases[] = {
    {"spsc_single", 1, 1, 0, 0, OP_SINGLE, 8, 1024, 40000000},
    {"spsc_burst", 1, 1, 0, 0, OP_BURST, 8, 1024, 80000000},
    {"spsc_bulk_small_ring", 1, 1, 0, 0, OP_BULK, 24, 32, 4000000},
    {"mpmc_2x2_single", 2, 2, 1, 1, OP_SINGLE, 16, 256, 7500000},
    {"mpmc_2x2_burst", 2, 2, 1, 1, OP_BURST, 16, 1024, 30000000},
    {"mpmc_2x2_mixed", 2, 2, 1, 1, OP_MIXED, 64, 64, 5000000},
    {"mpmc_2x2_tiny_ring", 2, 2, 1, 1, OP_MIXED, 8, 4, 500000},
    {"mpmc_1x1_mixed", 1, 1, 1, 1, OP_MIXED, 32, 128, 30000000},
    {"spmc_1x2_burst", 1, 2, 0, 1, OP_BURST, 16, 512, 40000000},
    {"spmc_1x2_single", 1, 2, 0, 1, OP_SINGLE, 8, 512, 10000000},
    {"mpsc_2x1_mixed", 2, 1, 1, 0, OP_MIXED, 40, 256, 7500000},
    {"mpsc_2x1_inline", 2, 1, 1, 0, OP_INLINE, 16, 1024, 30000000},
};

int main(void)
{
    double scale = 1.0;
    const char *env = getenv("WM_RING_STRESS_SCALE");
    if (env != NULL && *env)
        scale = atof(env);
    if (UNDER_TSAN)
        scale /= 40;
    printf("scale %.4g%s\n", scale, UNDER_TSAN ? " (ThreadSanitizer)" : "");
    /* Both modes, case by case (A, B, A, B: a slow patch of the machine
     * hits both alike), each with half the element count. */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_case(&cases[i], WM_RING_SYNC_HEADTAIL, scale / 2);
        run_case(&cases[i], WM_RING_SYNC_SLOTSEQ, scale / 2);
    }
    return check_finish("test_ring_stress");
}
