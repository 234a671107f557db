/* wirematch/ratelimit.h - token buckets refilled from the TSC.
 *
 * A bucket holds up to `burst` tokens and gains `rate` tokens per second.
 * wm_rate_take(b, now, n) takes n tokens and returns 1, or returns 0 and
 * counts a drop when fewer than n are there.  Integer arithmetic only: tokens
 * are 32.32 fixed point, the refill per tick 16.48 fixed point, the product
 * taken in 128 bits (no floating point, no division on the hot path).
 *
 * Concurrency contract:
 *   - tokens, last refill and the allowed/dropped counts have ONE writer: the
 *     data-plane thread that owns the bucket (wm_rate_take*).
 *   - rate and burst are changed by the control plane (wm_rate_bucket_set),
 *     under a sequence word: the data plane always sees a matching
 *     (per_tick, burst) pair, never a torn mix, and never waits for the
 *     control plane (after a few retries it keeps the pair it had).
 *   - anyone may read the counts (relaxed loads; whole values).
 *
 * A bucket starts full, and refills to full after an idle period; a bucket
 * flagged WM_RATE_UNLIMITED allows everything (and still counts it).
 * Buckets live in a table (struct wm_rate_table) laid out in caller memory
 * with no pointers inside, so it can sit in the shared region.
 */
#ifndef WIREMATCH_RATELIMIT_H
#define WIREMATCH_RATELIMIT_H

#include "wirematch/common.h"

#define WM_RATE_MAGIC 0x3154415248484d57ull /* "WMHHRAT1" */

enum {
    WM_RATE_UNLIMITED = 1,        /* bucket flag: allow everything */
    WM_RATE_MAX_BURST = 1 << 30,  /* tokens */
    WM_RATE_FRAC_BITS = 32,       /* tokens_fp: 32.32 */
    WM_RATE_TICK_BITS = 48        /* per_tick: tokens per tick << 48 */
};

struct wm_rate_bucket {            /* 64 bytes, one cache line */
    /* Written by the control plane under `version` (odd while changing). */
    uint64_t version;              /*  0 */
    uint64_t per_tick;             /*  8 tokens per tick, << WM_RATE_TICK_BITS */
    uint64_t burst_fp;             /* 16 burst << WM_RATE_FRAC_BITS */
    uint32_t rate;                 /* 24 tokens per second, as configured */
    uint32_t flags;                /* 28 WM_RATE_UNLIMITED */
    /* Written by the data-plane thread that owns the bucket. */
    uint64_t tokens_fp;            /* 32 tokens << WM_RATE_FRAC_BITS */
    uint64_t last;                 /* 40 ticks at the last refill */
    uint64_t allowed;              /* 48 tokens granted */
    uint64_t dropped;              /* 56 tokens refused (drops) */
};

struct wm_rate_table {
    uint64_t magic;                /* WM_RATE_MAGIC, stored last (release) */
    uint32_t n;                    /* buckets */
    uint32_t reserved;
    uint64_t tick_hz;              /* ticks per second of the `now` given to take */
    uint64_t pad[5];
    struct wm_rate_bucket buckets[];
};

/* Bytes for a table of n buckets (1..2^24); 0 when n is invalid. */
size_t wm_rate_table_memsize(uint32_t n);
/* Lay out n unlimited buckets in caller memory (64-byte aligned).  tick_hz:
 * ticks per second of the timestamps (wm_clock's tsc_hz, or 1e9 for ns).
 * Returns 0 or -EINVAL. */
int wm_rate_table_init(void *mem, size_t memsize, uint32_t n, uint64_t tick_hz);
int wm_rate_table_create(uint32_t n, uint64_t tick_hz, struct wm_rate_table **out);
void wm_rate_table_destroy(struct wm_rate_table *t);
int wm_rate_table_check(const void *mem, size_t size);

/* Control plane: set a bucket's rate (tokens/s, >= 1) and burst (tokens,
 * 1..WM_RATE_MAX_BURST), or make it unlimited (rate = burst = 0).  Tokens
 * already in the bucket are kept (clamped to the new burst at the next take).
 * Returns 0 or -EINVAL (bad index, rate 0 with burst > 0, burst too large). */
int wm_rate_bucket_set(struct wm_rate_table *t, uint32_t idx, uint32_t rate, uint32_t burst);

/* Out-of-line hot-path calls (for cffi and tests; C callers use the inline
 * wm_rate_take / wm_rate_take_burst).  1 = allowed, 0 = dropped. */
int wm_rate_table_take(struct wm_rate_table *t, uint32_t idx, uint64_t now, uint32_t n);
/* Up to n single tokens: returns how many were granted (the rest counted as drops). */
uint32_t wm_rate_table_take_burst(struct wm_rate_table *t, uint32_t idx, uint64_t now,
                                  uint32_t n);
/* Whole tokens in the bucket as of its last refill (a snapshot). */
uint64_t wm_rate_table_tokens(const struct wm_rate_table *t, uint32_t idx);

/* Lay out / set one bucket outside a table (e.g. inside another structure). */
void wm_rate_bucket_init(struct wm_rate_bucket *b);
int wm_rate_bucket_configure(struct wm_rate_bucket *b, uint64_t tick_hz, uint32_t rate,
                             uint32_t burst);

#ifndef WM_CDEF
#include "wirematch/ratelimit_inline.h"
#endif

#endif
