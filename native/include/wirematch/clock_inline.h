/* wirematch/clock_inline.h - TSC reads for the hot path (included by clock.h).
 *
 * wm_tsc()       plain rdtsc: cheapest, may be reordered with nearby loads.
 * wm_tsc_start() lfence; rdtsc: earlier instructions have completed before
 *                the read (start of a measured region).
 * wm_tsc_end()   rdtscp; lfence: the measured region has completed before the
 *                read, and later instructions wait for it.
 */
#ifndef WIREMATCH_CLOCK_INLINE_H
#define WIREMATCH_CLOCK_INLINE_H

#include <time.h>
#include <x86intrin.h>

static inline uint64_t wm_tsc(void)
{
    return __rdtsc();
}

static inline uint64_t wm_tsc_start(void)
{
    _mm_lfence();
    return __rdtsc();
}

static inline uint64_t wm_tsc_end(void)
{
    unsigned aux;
    uint64_t t = __rdtscp(&aux);
    _mm_lfence();
    return t;
}

/* A timestamp for the hot path: TSC ticks, or ns in fallback mode. */
static inline uint64_t wm_clock_ticks(const struct wm_clock *clk)
{
    if (WM_LIKELY(clk->source == WM_CLOCK_TSC))
        return __rdtsc();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Convert a TSC reading (or a fallback-mode tick, for which it is the
 * identity) to CLOCK_MONOTONIC_RAW nanoseconds. */
static inline uint64_t wm_tsc_to_ns(const struct wm_clock *clk, uint64_t tsc)
{
    uint64_t seq, ns;
    do {
        /* Acquire: pairs with the release of the even seq in set_params. */
        seq = __atomic_load_n(&clk->seq, __ATOMIC_ACQUIRE);
        /* Acquire on each parameter: pairs with its release store, and keeps
         * the seq re-check below from being hoisted above these loads. */
        uint64_t tsc0 = __atomic_load_n(&clk->tsc0, __ATOMIC_ACQUIRE);
        uint64_t ns0 = __atomic_load_n(&clk->ns0, __ATOMIC_ACQUIRE);
        uint64_t mult = __atomic_load_n(&clk->mult, __ATOMIC_ACQUIRE);
        __int128 scaled = (__int128)(int64_t)(tsc - tsc0) * (__int128)mult;
        ns = ns0 + (uint64_t)(int64_t)(scaled >> 32);
    } while ((seq & 1) || seq != __atomic_load_n(&clk->seq, __ATOMIC_RELAXED));
    return ns;
}

#endif
