/* ring_bench: the wirematch ring in both synchronisation modes against DPDK's
 * rte_ring, same process, same cases, interleaved (headtail, slotseq,
 * rte_ring, headtail, slotseq, rte_ring, ...), one JSON object per
 * measurement on stdout.  tools/bench/bench_ring.py takes the medians.
 *
 *   ring_bench [--repeats N] [--only SUBSTRING] [--impl headtail|slotseq|rte_ring]
 *             [--size CAPACITY]
 *
 * Cases (ring of 4096 elements for all three - equal capacity in elements,
 * so SLOTSEQ's slots take 8 bytes more each; 8- and 32-byte elements):
 *   <mode>_1thread_<ops>_<size>   one thread enqueues then dequeues: ns/element
 *   <mode>_2core_<ops>_<size>     producer pinned to core 0, consumer to core 1:
 *                                 M elements/s
 *   {spsc,mpmc}_roundtrip_p50/p99 ping-pong of one 8-byte element through two
 *                                 rings between cores 0 and 1: ns
 * mode is spsc (sp_/sc_ calls) or mpmc (mp_/mc_ calls, still one thread per
 * side); ops is single (one element per call) or burst32.
 *
 * Every ring is called through header-inline code with a constant element
 * size: wirematch's per-mode inline API (ring/ring_inline.h,
 * wm_ring_headtail_* / wm_ring_slotseq_*) and rte_ring_elem.h; the thread
 * bodies are instantiated per implementation (no branch on it in the loop).
 *
 * Clock: throughput uses CLOCK_MONOTONIC_RAW; round trips use rdtsc,
 * calibrated against CLOCK_MONOTONIC_RAW at start-up (the project's TSC
 * clock module is not in this tree yet).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "ring/ring_inline.h"
#include "wirematch/ring.h"

#ifdef WM_HAVE_DPDK
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#endif

#define BURST 32u
#define INLINE static inline __attribute__((always_inline))

static unsigned ring_size = 4096;

enum impl { IMPL_HT = 0, IMPL_SS = 1, IMPL_RTE = 2, N_IMPL };
static const char *const impl_names[] = {"headtail", "slotseq", "rte_ring"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double tsc_ghz;

static void calibrate_tsc(void)
{
    double t0 = now_s();
    uint64_t c0 = __rdtsc();
    while (now_s() - t0 < 0.05)
        ;
    uint64_t c1 = __rdtsc();
    double t1 = now_s();
    tsc_ghz = (double)(c1 - c0) / ((t1 - t0) * 1e9);
}

static void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* ---- the two rings behind one inline interface ------------------------- */

struct queue {
    enum impl impl;
    void *ring;
};

INLINE unsigned q_enqueue(const struct queue *q, const void *src, unsigned n, const uint32_t esz,
                          const int mp, const int single, const enum impl impl)
{
    if (impl == IMPL_HT) {
        struct wm_ring *r = q->ring;
        if (single)
            return (mp ? wm_ring_headtail_mp_enqueue_elem(r, src, esz)
                       : wm_ring_headtail_sp_enqueue_elem(r, src, esz)) == 0;
        return mp ? wm_ring_headtail_mp_enqueue_burst_elem(r, src, esz, n)
                  : wm_ring_headtail_sp_enqueue_burst_elem(r, src, esz, n);
    }
    if (impl == IMPL_SS) {
        struct wm_ring *r = q->ring;
        if (single)
            return (mp ? wm_ring_slotseq_mp_enqueue_elem(r, src, esz)
                       : wm_ring_slotseq_sp_enqueue_elem(r, src, esz)) == 0;
        return mp ? wm_ring_slotseq_mp_enqueue_burst_elem(r, src, esz, n)
                  : wm_ring_slotseq_sp_enqueue_burst_elem(r, src, esz, n);
    }
#ifdef WM_HAVE_DPDK
    struct rte_ring *r = q->ring;
    if (single)
        return (mp ? rte_ring_mp_enqueue_elem(r, (void *)src, esz)
                   : rte_ring_sp_enqueue_elem(r, (void *)src, esz)) == 0;
    return mp ? rte_ring_mp_enqueue_burst_elem(r, src, esz, n, NULL)
              : rte_ring_sp_enqueue_burst_elem(r, src, esz, n, NULL);
#else
    return 0;
#endif
}

INLINE unsigned q_dequeue(const struct queue *q, void *dst, unsigned n, const uint32_t esz,
                          const int mc, const int single, const enum impl impl)
{
    if (impl == IMPL_HT) {
        struct wm_ring *r = q->ring;
        if (single)
            return (mc ? wm_ring_headtail_mc_dequeue_elem(r, dst, esz)
                       : wm_ring_headtail_sc_dequeue_elem(r, dst, esz)) == 0;
        return mc ? wm_ring_headtail_mc_dequeue_burst_elem(r, dst, esz, n)
                  : wm_ring_headtail_sc_dequeue_burst_elem(r, dst, esz, n);
    }
    if (impl == IMPL_SS) {
        struct wm_ring *r = q->ring;
        if (single)
            return (mc ? wm_ring_slotseq_mc_dequeue_elem(r, dst, esz)
                       : wm_ring_slotseq_sc_dequeue_elem(r, dst, esz)) == 0;
        return mc ? wm_ring_slotseq_mc_dequeue_burst_elem(r, dst, esz, n)
                  : wm_ring_slotseq_sc_dequeue_burst_elem(r, dst, esz, n);
    }
#ifdef WM_HAVE_DPDK
    struct rte_ring *r = q->ring;
    if (single)
        return (mc ? rte_ring_mc_dequeue_elem(r, dst, esz) : rte_ring_sc_dequeue_elem(r, dst, esz)) == 0;
    return mc ? rte_ring_mc_dequeue_burst_elem(r, dst, esz, n, NULL)
              : rte_ring_sc_dequeue_burst_elem(r, dst, esz, n, NULL);
#else
    return 0;
#endif
}

static int q_create(struct queue *q, enum impl impl, const char *name, uint32_t esz)
{
    q->impl = impl;
    if (impl != IMPL_RTE) {
        struct wm_ring *r;
        int rc = wm_ring_create_sync(name, esz, ring_size,
                                     impl == IMPL_SS ? WM_RING_SYNC_SLOTSEQ : WM_RING_SYNC_HEADTAIL, &r);
        q->ring = r;
        return rc;
    }
#ifdef WM_HAVE_DPDK
    char n[RTE_RING_NAMESIZE];
    static unsigned serial;
    snprintf(n, sizeof n, "%s-%u", name, serial++);
    q->ring = rte_ring_create_elem(n, esz, ring_size, 0, 0);
    return q->ring ? 0 : -ENOMEM;
#else
    return -ENOTSUP;
#endif
}

static void q_free(struct queue *q)
{
    if (q->impl != IMPL_RTE)
        wm_ring_destroy(q->ring);
#ifdef WM_HAVE_DPDK
    else
        rte_ring_free(q->ring);
#endif
}

/* Source buffer: 2 x BURST elements whose first word is its index mod BURST,
 * so a consumer can check the sum of everything it received. */
static uint64_t src_buf[2 * BURST * 8] __attribute__((aligned(64)));

static void init_src(uint32_t esz)
{
    memset(src_buf, 0, sizeof src_buf);
    for (unsigned i = 0; i < 2 * BURST; i++)
        src_buf[i * (esz / 8)] = i % BURST;
}

static uint64_t expected_sum(uint64_t n)
{
    uint64_t full = n / BURST, rest = n % BURST;
    return full * (BURST * (BURST - 1) / 2) + rest * (rest - 1) / 2;
}

static int failures;

/* ---- one thread: enqueue then dequeue ----------------------------------- */

INLINE double one_thread(const struct queue *q, const uint32_t esz, const int multi,
                         const unsigned bsz, const enum impl impl, uint64_t elements)
{
    uint64_t dst[BURST * 8];
    uint64_t iters = elements / bsz, sum = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < iters; i++) {
        unsigned put = q_enqueue(q, src_buf, bsz, esz, multi, bsz == 1, impl);
        unsigned got = q_dequeue(q, dst, bsz, esz, multi, bsz == 1, impl);
        sum += dst[0] + put - got;
    }
    double dt = now_s() - t0;
    if (sum != 0) {
        fprintf(stderr, "one_thread: lost elements or wrong data (%llu)\n", (unsigned long long)sum);
        failures++;
    }
    return dt * 1e9 / (double)(iters * bsz);
}

/* ---- two cores: producer on 0, consumer on 1 ---------------------------- */

struct duo {
    const struct queue *q;
    uint64_t n;
    int go;                 /* atomic */
    double t_end;
    uint64_t sum;
};

INLINE void producer_loop(struct duo *d, const uint32_t esz, const int multi, const unsigned bsz,
                          const enum impl impl)
{
    uint64_t sent = 0;
    while (!__atomic_load_n(&d->go, __ATOMIC_ACQUIRE))
        _mm_pause();
    while (sent < d->n) {
        unsigned k = bsz;
        if (k > d->n - sent)
            k = (unsigned)(d->n - sent);
        unsigned put =
            q_enqueue(d->q, src_buf + (sent % BURST) * (esz / 8), k, esz, multi, bsz == 1, impl);
        sent += put;
        if (put == 0)
            _mm_pause();
    }
}

INLINE void consumer_loop(struct duo *d, const uint32_t esz, const int multi, const unsigned bsz,
                          const enum impl impl)
{
    uint64_t dst[BURST * 8];
    uint64_t got = 0, sum = 0;
    while (!__atomic_load_n(&d->go, __ATOMIC_ACQUIRE))
        _mm_pause();
    while (got < d->n) {
        unsigned k = q_dequeue(d->q, dst, bsz, esz, multi, bsz == 1, impl);
        for (unsigned i = 0; i < k; i++)
            sum += dst[i * (esz / 8)];
        got += k;
        if (k == 0)
            _mm_pause();
    }
    d->t_end = now_s();
    d->sum = sum;
}

/* Instantiate the thread bodies for every (size, multi, burst) combination
 * and every implementation. */
#define DUO_COMBOS(X) \
    X(8, 0, 1) X(8, 0, 32) X(8, 1, 1) X(8, 1, 32) X(32, 0, 1) X(32, 0, 32) X(32, 1, 1) X(32, 1, 32)

#define DUO_FNS_IMPL(esz, multi, bsz, impl)                                                        \
    static void *producer_##esz##_##multi##_##bsz##_##impl(void *arg)                              \
    {                                                                                              \
        pin_to(0);                                                                                 \
        producer_loop(arg, esz, multi, bsz, impl);                                                 \
        return NULL;                                                                               \
    }                                                                                              \
    static void *consumer_##esz##_##multi##_##bsz##_##impl(void *arg)                              \
    {                                                                                              \
        pin_to(1);                                                                                 \
        consumer_loop(arg, esz, multi, bsz, impl);                                                 \
        return NULL;                                                                               \
    }                                                                                              \
    static double one_thread_##esz##_##multi##_##bsz##_##impl(const struct queue *q, uint64_t n)  \
    {                                                                                              \
        return one_thread(q, esz, multi, bsz, impl, n);                                            \
    }
#define DUO_FNS(esz, multi, bsz)                                                                   \
    DUO_FNS_IMPL(esz, multi, bsz, IMPL_HT)                                                         \
    DUO_FNS_IMPL(esz, multi, bsz, IMPL_SS) DUO_FNS_IMPL(esz, multi, bsz, IMPL_RTE)
DUO_COMBOS(DUO_FNS)

typedef void *(*thread_fn)(void *);

struct combo {
    uint32_t esz;
    int multi;
    unsigned bsz;
    thread_fn producer[N_IMPL], consumer[N_IMPL];
    double (*one[N_IMPL])(const struct queue *, uint64_t);
};

#define DUO_PER_IMPL(fn, esz, multi, bsz)                                                          \
    {fn##_##esz##_##multi##_##bsz##_IMPL_HT, fn##_##esz##_##multi##_##bsz##_IMPL_SS,               \
     fn##_##esz##_##multi##_##bsz##_IMPL_RTE}
static const struct combo combos[] = {
#define DUO_ENTRY(esz, multi, bsz)                                                                 \
    {esz, multi, bsz, DUO_PER_IMPL(producer, esz, multi, bsz),                                     \
     DUO_PER_IMPL(consumer, esz, multi, bsz), DUO_PER_IMPL(one_thread, esz, multi, bsz)},
    DUO_COMBOS(DUO_ENTRY)
};

static double two_cores(const struct queue *q, const struct combo *c, uint64_t n)
{
    struct duo d = {.q = q, .n = n};
    pthread_t prod, cons;
    pthread_create(&cons, NULL, c->consumer[q->impl], &d);
    pthread_create(&prod, NULL, c->producer[q->impl], &d);
    usleep(20000);    /* both threads pinned and spinning on go */
    double t0 = now_s();
    __atomic_store_n(&d.go, 1, __ATOMIC_RELEASE);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    if (d.sum != expected_sum(n)) {
        fprintf(stderr, "two_cores: wrong sum %llu, expected %llu\n", (unsigned long long)d.sum,
                (unsigned long long)expected_sum(n));
        failures++;
    }
    return (double)n / (d.t_end - t0) / 1e6;
}

/* ---- round trip through two rings --------------------------------------- */

struct pingpong {
    const struct queue *there, *back;
    int multi;
    unsigned n;
    int go;
    uint64_t *rtt;          /* cycles, n entries */
};

INLINE void pong_loop(struct pingpong *p, const int multi, const enum impl impl)
{
    uint64_t v[1];
    while (!__atomic_load_n(&p->go, __ATOMIC_ACQUIRE))
        _mm_pause();
    for (unsigned i = 0; i < p->n; i++) {
        while (!q_dequeue(p->there, v, 1, 8, multi, 1, impl))
            _mm_pause();
        while (!q_enqueue(p->back, v, 1, 8, multi, 1, impl))
            _mm_pause();
    }
}

INLINE void ping_loop(struct pingpong *p, const int multi, const enum impl impl)
{
    uint64_t v[1];
    while (!__atomic_load_n(&p->go, __ATOMIC_ACQUIRE))
        _mm_pause();
    for (unsigned i = 0; i < p->n; i++) {
        uint64_t t0 = __rdtsc();
        v[0] = i;
        while (!q_enqueue(p->there, v, 1, 8, multi, 1, impl))
            _mm_pause();
        while (!q_dequeue(p->back, v, 1, 8, multi, 1, impl))
            _mm_pause();
        p->rtt[i] = __rdtsc() - t0;
        if (v[0] != i)
            failures++;
    }
}

#define PINGPONG_FNS(impl)                                                                         \
    static void *pong_sp_##impl(void *a) { pin_to(1); pong_loop(a, 0, impl); return NULL; }       \
    static void *pong_mp_##impl(void *a) { pin_to(1); pong_loop(a, 1, impl); return NULL; }       \
    static void *ping_sp_##impl(void *a) { pin_to(0); ping_loop(a, 0, impl); return NULL; }       \
    static void *ping_mp_##impl(void *a) { pin_to(0); ping_loop(a, 1, impl); return NULL; }
PINGPONG_FNS(IMPL_HT)
PINGPONG_FNS(IMPL_SS)
PINGPONG_FNS(IMPL_RTE)
/* [impl][multi] */
static const thread_fn pong_fns[N_IMPL][2] = {
    {pong_sp_IMPL_HT, pong_mp_IMPL_HT}, {pong_sp_IMPL_SS, pong_mp_IMPL_SS}, {pong_sp_IMPL_RTE, pong_mp_IMPL_RTE}};
static const thread_fn ping_fns[N_IMPL][2] = {
    {ping_sp_IMPL_HT, ping_mp_IMPL_HT}, {ping_sp_IMPL_SS, ping_mp_IMPL_SS}, {ping_sp_IMPL_RTE, ping_mp_IMPL_RTE}};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void round_trip(enum impl impl, int multi, unsigned n, double *p50, double *p99)
{
    struct queue there, back;
    if (q_create(&there, impl, "rt-there", 8) || q_create(&back, impl, "rt-back", 8)) {
        failures++;
        return;
    }
    struct pingpong p = {.there = &there, .back = &back, .multi = multi, .n = n};
    p.rtt = calloc(n, sizeof(uint64_t));
    pthread_t a, b;
    pthread_create(&b, NULL, pong_fns[impl][multi], &p);
    pthread_create(&a, NULL, ping_fns[impl][multi], &p);
    usleep(20000);
    __atomic_store_n(&p.go, 1, __ATOMIC_RELEASE);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    unsigned skip = n / 20;   /* warm-up */
    qsort(p.rtt + skip, n - skip, sizeof(uint64_t), cmp_u64);
    *p50 = (double)p.rtt[skip + (n - skip) / 2] / tsc_ghz;
    *p99 = (double)p.rtt[skip + (size_t)((n - skip) * 0.99)] / tsc_ghz;
    free(p.rtt);
    q_free(&there);
    q_free(&back);
}

/* ---- driver -------------------------------------------------------------- */

static void emit(const char *cs, enum impl impl, int rep, double value, const char *unit)
{
    printf("{\"case\": \"%s\", \"impl\": \"%s\", \"rep\": %d, \"value\": %.4f, \"unit\": \"%s\"}\n",
           cs, impl_names[impl], rep, value, unit);
    fflush(stdout);
}

static int wanted(const char *only, const char *cs)
{
    return only == NULL || strstr(cs, only) != NULL;
}

int main(int argc, char **argv)
{
    int repeats = 5;
    const char *only = NULL;
    int impl_only = -1;     /* --impl headtail|slotseq|rte_ring: profile one */
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            ring_size = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--impl") && i + 1 < argc) {
            ++i;
            for (int im = 0; im < N_IMPL; im++)
                if (!strcmp(argv[i], impl_names[im]))
                    impl_only = im;
            bad = impl_only < 0;
        } else
            bad = 1;
    }
    if (bad || ring_size < 64 || (ring_size & (ring_size - 1))) {
        fprintf(stderr,
                "usage: %s [--repeats N] [--only SUBSTRING] [--impl headtail|slotseq|rte_ring] "
                "[--size POWER_OF_TWO>=64]\n",
                argv[0]);
        return 2;
    }
    int n_impl = 2;         /* headtail, slotseq; rte_ring if the EAL starts */
#ifdef WM_HAVE_DPDK
    char prefix[64];
    snprintf(prefix, sizeof prefix, "--file-prefix=wm-ring-bench-%d", (int)getpid());
    /* --no-shconf: no shared config files; the empty run directory is removed at exit. */
    char *eal_argv[] = {argv[0], "--no-huge", "-m", "64", "--no-pci", "--no-shconf", prefix,
                        "-l", "0-1", "--log-level=1", "--no-telemetry", NULL};
    if (rte_eal_init((int)(sizeof eal_argv / sizeof eal_argv[0]) - 1, eal_argv) < 0) {
        fprintf(stderr, "rte_eal_init failed: rte_ring cases skipped\n");
    } else {
        n_impl = 3;
    }
#endif
    calibrate_tsc();
    printf("{\"info\": \"tsc_ghz\", \"value\": %.4f, \"peer\": %d, \"size\": %u}\n", tsc_ghz,
           n_impl == 3, ring_size);

    char cs[64];
    for (size_t ci = 0; ci < sizeof combos / sizeof combos[0]; ci++) {
        const struct combo *c = &combos[ci];
        snprintf(cs, sizeof cs, "%s_1thread_%s_%uB", c->multi ? "mpmc" : "spsc",
                 c->bsz == 1 ? "single" : "burst32", c->esz);
        if (!wanted(only, cs))
            continue;
        init_src(c->esz);
        for (int rep = 0; rep < repeats; rep++)
            for (int im = 0; im < n_impl; im++) {
                if (impl_only >= 0 && im != impl_only)
                    continue;
                struct queue q;
                if (q_create(&q, (enum impl)im, "one", c->esz)) {
                    failures++;
                    continue;
                }
                c->one[im](&q, 200000);   /* warm-up */
                emit(cs, (enum impl)im, rep, c->one[im](&q, c->bsz == 1 ? 4000000 : 20000000), "ns");
                q_free(&q);
            }
    }
    for (size_t ci = 0; ci < sizeof combos / sizeof combos[0]; ci++) {
        const struct combo *c = &combos[ci];
        snprintf(cs, sizeof cs, "%s_2core_%s_%uB", c->multi ? "mpmc" : "spsc",
                 c->bsz == 1 ? "single" : "burst32", c->esz);
        if (!wanted(only, cs))
            continue;
        init_src(c->esz);
        uint64_t n = c->bsz == 1 ? (c->multi ? 1500000 : 6000000) : 30000000;
        for (int rep = 0; rep < repeats; rep++)
            for (int im = 0; im < n_impl; im++) {
                if (impl_only >= 0 && im != impl_only)
                    continue;
                struct queue q;
                if (q_create(&q, (enum impl)im, "duo", c->esz)) {
                    failures++;
                    continue;
                }
                emit(cs, (enum impl)im, rep, two_cores(&q, c, n), "M/s");
                q_free(&q);
            }
    }
    for (int multi = 0; multi < 2; multi++) {
        const char *pfx = multi ? "mpmc_" : "spsc_";
        snprintf(cs, sizeof cs, "%sroundtrip", pfx);
        if (!wanted(only, cs))
            continue;
        for (int rep = 0; rep < repeats; rep++)
            for (int im = 0; im < n_impl; im++) {
                if (impl_only >= 0 && im != impl_only)
                    continue;
                double p50 = 0, p99 = 0;
                round_trip((enum impl)im, multi, 200000, &p50, &p99);
                snprintf(cs, sizeof cs, "%sroundtrip_p50", pfx);
                emit(cs, (enum impl)im, rep, p50, "ns");
                snprintf(cs, sizeof cs, "%sroundtrip_p99", pfx);
                emit(cs, (enum impl)im, rep, p99, "ns");
            }
    }
#ifdef WM_HAVE_DPDK
    if (n_impl == 3) {
        rte_eal_cleanup();
        char rundir[128];
        snprintf(rundir, sizeof rundir, "/var/run/dpdk/wm-ring-bench-%d", (int)getpid());
        rmdir(rundir); /* empty with --no-shconf */
    }
#endif
    if (failures)
        fprintf(stderr, "ring_bench: %d correctness failures\n", failures);
    return failures ? 1 : 0;
}
