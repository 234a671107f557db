/* ring_dispatch_bench: how the exported ring operations should pick the
 * synchronisation mode - a branch on the ring's read-only r->sync (what
 * native/ring/ring.c does) or an indirect call through a per-mode table of
 * functions (a process-local table indexed by r->sync: rings hold no
 * pointers), or a branch on r->sync that tail-calls one of two per-mode
 * functions ("split").  All are compiled here, out of line, with the same
 * element-size switch inside; the exported library functions (called
 * through the PLT) are measured alongside for reference.
 *
 *   ring_dispatch_bench [--repeats N]
 *
 * One thread, sp_enqueue then sc_dequeue of one 8-byte element (the call
 * overhead dominates there), and burst 32, per mode; implementations
 * interleaved (branch, fnptr, exported, branch, ...).  One JSON object per
 * measurement: {"case", "impl", "rep", "value" (ns per element), "unit"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring/ring_inline.h"
#include "wirematch/ring.h"

#define NOINLINE __attribute__((noinline))
#define BURST 32u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- branch dispatch: as in ring.c ------------------------------------- */

static NOINLINE int branch_sp_enqueue(struct wm_ring *r, const void *e)
{
    if (r->sync == WM_RING_SYNC_SLOTSEQ)
        return wm_ring_enqueue_sync(r, e, 1, r->elem_size, 0, WM_RING_SYNC_SLOTSEQ) ? 0 : -ENOBUFS;
    return wm_ring_enqueue_sync(r, e, 1, r->elem_size, 0, WM_RING_SYNC_HEADTAIL) ? 0 : -ENOBUFS;
}

static NOINLINE int branch_sc_dequeue(struct wm_ring *r, void *e)
{
    if (r->sync == WM_RING_SYNC_SLOTSEQ)
        return wm_ring_dequeue_sync(r, e, 1, r->elem_size, 0, WM_RING_SYNC_SLOTSEQ) ? 0 : -ENOENT;
    return wm_ring_dequeue_sync(r, e, 1, r->elem_size, 0, WM_RING_SYNC_HEADTAIL) ? 0 : -ENOENT;
}

static NOINLINE unsigned branch_sp_enqueue_burst(struct wm_ring *r, const void *v, unsigned n)
{
    if (r->sync == WM_RING_SYNC_SLOTSEQ)
        return wm_ring_enqueue_sync(r, v, n, r->elem_size, 0, WM_RING_SYNC_SLOTSEQ);
    return wm_ring_enqueue_sync(r, v, n, r->elem_size, 0, WM_RING_SYNC_HEADTAIL);
}

static NOINLINE unsigned branch_sc_dequeue_burst(struct wm_ring *r, void *v, unsigned n)
{
    if (r->sync == WM_RING_SYNC_SLOTSEQ)
        return wm_ring_dequeue_sync(r, v, n, r->elem_size, 0, WM_RING_SYNC_SLOTSEQ);
    return wm_ring_dequeue_sync(r, v, n, r->elem_size, 0, WM_RING_SYNC_HEADTAIL);
}

/* ---- function-pointer dispatch: one function per mode ------------------- */

#define PER_MODE(sync, tag)                                                                        \
    static NOINLINE int tag##_sp_enqueue(struct wm_ring *r, const void *e)                         \
    {                                                                                              \
        return wm_ring_enqueue_sync(r, e, 1, r->elem_size, 0, sync) ? 0 : -ENOBUFS;                \
    }                                                                                              \
    static NOINLINE int tag##_sc_dequeue(struct wm_ring *r, void *e)                               \
    {                                                                                              \
        return wm_ring_dequeue_sync(r, e, 1, r->elem_size, 0, sync) ? 0 : -ENOENT;                 \
    }                                                                                              \
    static NOINLINE unsigned tag##_sp_enqueue_burst(struct wm_ring *r, const void *v, unsigned n) \
    {                                                                                              \
        return wm_ring_enqueue_sync(r, v, n, r->elem_size, 0, sync);                               \
    }                                                                                              \
    static NOINLINE unsigned tag##_sc_dequeue_burst(struct wm_ring *r, void *v, unsigned n)       \
    {                                                                                              \
        return wm_ring_dequeue_sync(r, v, n, r->elem_size, 0, sync);                               \
    }
PER_MODE(WM_RING_SYNC_HEADTAIL, ht)
PER_MODE(WM_RING_SYNC_SLOTSEQ, ss)

struct ring_ops {
    int (*sp_enqueue)(struct wm_ring *, const void *);
    int (*sc_dequeue)(struct wm_ring *, void *);
    unsigned (*sp_enqueue_burst)(struct wm_ring *, const void *, unsigned);
    unsigned (*sc_dequeue_burst)(struct wm_ring *, void *, unsigned);
};

/* volatile: the compiler must not resolve the indirect calls at build time
 * (in a real program the table would be filled at start-up). */
static const struct ring_ops *volatile ops_table[2];
static const struct ring_ops ht_ops = {ht_sp_enqueue, ht_sc_dequeue, ht_sp_enqueue_burst,
                                       ht_sc_dequeue_burst};
static const struct ring_ops ss_ops = {ss_sp_enqueue, ss_sc_dequeue, ss_sp_enqueue_burst,
                                       ss_sc_dequeue_burst};

static NOINLINE int fnptr_sp_enqueue(struct wm_ring *r, const void *e)
{
    return ops_table[r->sync]->sp_enqueue(r, e);
}
static NOINLINE int fnptr_sc_dequeue(struct wm_ring *r, void *e)
{
    return ops_table[r->sync]->sc_dequeue(r, e);
}
static NOINLINE unsigned fnptr_sp_enqueue_burst(struct wm_ring *r, const void *v, unsigned n)
{
    return ops_table[r->sync]->sp_enqueue_burst(r, v, n);
}
static NOINLINE unsigned fnptr_sc_dequeue_burst(struct wm_ring *r, void *v, unsigned n)
{
    return ops_table[r->sync]->sc_dequeue_burst(r, v, n);
}

/* ---- branch, then a direct (tail) call to the per-mode function ---------- */

static NOINLINE int split_sp_enqueue(struct wm_ring *r, const void *e)
{
    return r->sync == WM_RING_SYNC_SLOTSEQ ? ss_sp_enqueue(r, e) : ht_sp_enqueue(r, e);
}
static NOINLINE int split_sc_dequeue(struct wm_ring *r, void *e)
{
    return r->sync == WM_RING_SYNC_SLOTSEQ ? ss_sc_dequeue(r, e) : ht_sc_dequeue(r, e);
}
static NOINLINE unsigned split_sp_enqueue_burst(struct wm_ring *r, const void *v, unsigned n)
{
    return r->sync == WM_RING_SYNC_SLOTSEQ ? ss_sp_enqueue_burst(r, v, n)
                                           : ht_sp_enqueue_burst(r, v, n);
}
static NOINLINE unsigned split_sc_dequeue_burst(struct wm_ring *r, void *v, unsigned n)
{
    return r->sync == WM_RING_SYNC_SLOTSEQ ? ss_sc_dequeue_burst(r, v, n)
                                           : ht_sc_dequeue_burst(r, v, n);
}

/* ---- measurement ---------------------------------------------------------- */

enum impl { BRANCH, FNPTR, SPLIT, EXPORTED, N_IMPL };
static const char *const impl_names[] = {"branch", "fnptr", "split", "exported"};
static const char *const sync_names[] = {"headtail", "slotseq"};
static int failures;

static double run_single(struct wm_ring *r, enum impl impl, uint64_t iters)
{
    uint64_t v = 1, out = 0, sum = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < iters; i++) {
        int a, b;
        switch (impl) {
        case BRANCH:
            a = branch_sp_enqueue(r, &v);
            b = branch_sc_dequeue(r, &out);
            break;
        case FNPTR:
            a = fnptr_sp_enqueue(r, &v);
            b = fnptr_sc_dequeue(r, &out);
            break;
        case SPLIT:
            a = split_sp_enqueue(r, &v);
            b = split_sc_dequeue(r, &out);
            break;
        default:
            a = wm_ring_sp_enqueue(r, &v);
            b = wm_ring_sc_dequeue(r, &out);
            break;
        }
        sum += out + (uint64_t)(a | b);
    }
    double dt = now_s() - t0;
    if (sum != iters)
        failures++;
    return dt * 1e9 / (double)iters;
}

static double run_burst(struct wm_ring *r, enum impl impl, uint64_t iters)
{
    uint64_t in[BURST], out[BURST], sum = 0;
    for (unsigned i = 0; i < BURST; i++)
        in[i] = i;
    double t0 = now_s();
    for (uint64_t i = 0; i < iters; i++) {
        unsigned a, b;
        switch (impl) {
        case BRANCH:
            a = branch_sp_enqueue_burst(r, in, BURST);
            b = branch_sc_dequeue_burst(r, out, BURST);
            break;
        case FNPTR:
            a = fnptr_sp_enqueue_burst(r, in, BURST);
            b = fnptr_sc_dequeue_burst(r, out, BURST);
            break;
        case SPLIT:
            a = split_sp_enqueue_burst(r, in, BURST);
            b = split_sc_dequeue_burst(r, out, BURST);
            break;
        default:
            a = wm_ring_sp_enqueue_burst(r, in, BURST);
            b = wm_ring_sc_dequeue_burst(r, out, BURST);
            break;
        }
        sum += out[BURST - 1] + a - b;
    }
    double dt = now_s() - t0;
    if (sum != iters * (BURST - 1))
        failures++;
    return dt * 1e9 / (double)(iters * BURST);
}

int main(int argc, char **argv)
{
    int repeats = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--repeats N]\n", argv[0]);
            return 2;
        }
    }
    ops_table[WM_RING_SYNC_HEADTAIL] = &ht_ops;
    ops_table[WM_RING_SYNC_SLOTSEQ] = &ss_ops;
    for (int kind = 0; kind < 2; kind++)
        for (int sync = 0; sync < 2; sync++) {
            char cs[64];
            snprintf(cs, sizeof cs, "dispatch_1thread_%s_8B_%s", kind ? "burst32" : "single",
                     sync_names[sync]);
            for (int rep = 0; rep < repeats; rep++)
                for (int im = 0; im < N_IMPL; im++) {
                    struct wm_ring *r;
                    if (wm_ring_create_sync("dispatch", 8, 1024, (enum wm_ring_sync)sync, &r)) {
                        failures++;
                        continue;
                    }
                    double ns = kind ? run_burst(r, (enum impl)im, 500000)
                                     : run_single(r, (enum impl)im, 4000000);
                    printf("{\"case\": \"%s\", \"impl\": \"%s\", \"rep\": %d, \"value\": %.4f, "
                           "\"unit\": \"ns\"}\n",
                           cs, impl_names[im], rep, ns);
                    fflush(stdout);
                    wm_ring_destroy(r);
                }
        }
    if (failures)
        fprintf(stderr, "ring_dispatch_bench: %d correctness failures\n", failures);
    return failures ? 1 : 0;
}
