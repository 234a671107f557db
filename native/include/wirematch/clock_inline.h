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
        seq = clk->seq;
        __atomic_thread_fence(__ATOMIC_ACQUIRE); /* pairs with the release in recalibrate */
        int64_t d = (int64_t)(tsc - clk->tsc0);
        __int128 scaled = (__int128)d * (__int128)clk->mult;
        ns = clk->ns0 + (uint64_t)(int64_t)(scaled >> 32);
        __atomic_thread_fence(__ATOMIC_ACQUIRE); /* parameters read before seq re-check */
    } while ((seq & 1) || seq != clk->seq);
    return ns;
}

#endif
