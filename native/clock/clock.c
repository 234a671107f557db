/* TSC calibration against CLOCK_MONOTONIC_RAW, drift tracking, fallback. */
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wirematch/clock.h"

static int mono_raw_ns(uint64_t *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC_RAW, &ts) != 0)
        return -errno;
    *out = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return 0;
}

/* One (tsc, ns) pair: the TSC read bracketed by two clock reads, keeping the
 * tightest bracket of a few tries so a preemption does not skew it. */
static int sample_pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best_gap = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        uint64_t a = 0, b = 0;
        int rc = mono_raw_ns(&a);
        if (rc < 0)
            return rc;
        uint64_t t = wm_tsc_start();
        if ((rc = mono_raw_ns(&b)) < 0)
            return rc;
        if (b - a < best_gap) {
            best_gap = b - a;
            *tsc = t;
            *ns = a + (b - a) / 2;
        }
    }
    return 0;
}

static int cpuinfo_has_flag(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return 0;
    char line[8192];
    int found = 0;
    size_t len = strlen(flag);
    while (!found && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        for (char *p = strstr(line, flag); p != NULL; p = strstr(p + 1, flag)) {
            if ((p == line || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n')) {
                found = 1;
                break;
            }
        }
        break; /* the first CPU's flags are enough */
    }
    fclose(f);
    return found;
}

int wm_tsc_is_invariant(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)))
        return 1;
    /* Hypervisors often hide the CPUID bit while the kernel still knows. */
    return cpuinfo_has_flag("constant_tsc") && cpuinfo_has_flag("nonstop_tsc");
}

static void set_params(struct wm_clock *clk, uint64_t tsc0, uint64_t ns0, uint64_t mult)
{
    /* Writer side of the sequence lock (one writer: the control thread).
     * seq goes odd, the parameters are stored with release (so the odd seq is
     * visible to a reader that loads a new parameter with acquire), then seq
     * goes even with release (a reader that acquires the even seq sees all
     * three).  Pairs with the acquire loads in wm_tsc_to_ns. */
    uint64_t seq = __atomic_load_n(&clk->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&clk->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&clk->tsc0, tsc0, __ATOMIC_RELEASE);
    __atomic_store_n(&clk->ns0, ns0, __ATOMIC_RELEASE);
    __atomic_store_n(&clk->mult, mult, __ATOMIC_RELEASE);
    __atomic_store_n(&clk->seq, seq + 2, __ATOMIC_RELEASE);
}

int wm_clock_init(struct wm_clock *clk, uint32_t calib_us, uint32_t flags)
{
    memset(clk, 0, sizeof(*clk));
    uint64_t ns_now;
    int rc = mono_raw_ns(&ns_now);
    if (rc < 0)
        return rc;
    if ((flags & WM_CLOCK_FORCE_FALLBACK) || !wm_tsc_is_invariant()) {
        clk->source = WM_CLOCK_MONOTONIC_RAW;
        clk->tsc_hz = 1000000000ull;
        set_params(clk, 0, 0, 1ull << 32);
        return 0;
    }
    if (calib_us == 0)
        calib_us = 20000;
    uint64_t t0, n0, t1, n1;
    if ((rc = sample_pair(&t0, &n0)) < 0)
        return rc;
    do {
        if ((rc = sample_pair(&t1, &n1)) < 0)
            return rc;
    } while (n1 - n0 < (uint64_t)calib_us * 1000u);
    if (t1 <= t0) {
        /* A TSC that does not advance is no clock: fall back. */
        clk->source = WM_CLOCK_MONOTONIC_RAW;
        clk->tsc_hz = 1000000000ull;
        set_params(clk, 0, 0, 1ull << 32);
        return 0;
    }
    clk->source = WM_CLOCK_TSC;
    clk->origin_tsc = t0;
    clk->origin_ns = n0;
    uint64_t mult = (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0));
    clk->tsc_hz = (uint64_t)(((unsigned __int128)(t1 - t0) * 1000000000u) / (n1 - n0));
    set_params(clk, t1, n1, mult);
    return 0;
}

int64_t wm_clock_recalibrate(struct wm_clock *clk)
{
    if (clk->source != WM_CLOCK_TSC)
        return 0;
    uint64_t t, n;
    if (sample_pair(&t, &n) < 0 || t <= clk->origin_tsc || n <= clk->origin_ns)
        return 0;
    uint64_t predicted = wm_tsc_to_ns(clk, t);
    int64_t error = (int64_t)(predicted - n);
    uint64_t since = n - clk->ns0;
    int64_t drift = since ? (int64_t)(((__int128)error * 1000000000) / (__int128)since) : 0;
    /* New rate over the whole baseline since the first calibration: the
     * longer the baseline, the smaller the rate error. */
    uint64_t mult = (uint64_t)(((unsigned __int128)(n - clk->origin_ns) << 32) / (t - clk->origin_tsc));
    clk->tsc_hz = (uint64_t)(((unsigned __int128)(t - clk->origin_tsc) * 1000000000u) /
                             (n - clk->origin_ns));
    clk->last_error_ns = error;
    clk->drift_ppb = drift;
    clk->recalibrations++;
    set_params(clk, t, n, mult);
    return drift;
}

uint64_t wm_clock_read_tsc(void)
{
    return wm_tsc();
}

uint64_t wm_clock_tsc_to_ns(const struct wm_clock *clk, uint64_t tsc)
{
    return wm_tsc_to_ns(clk, tsc);
}

uint64_t wm_clock_now_ns(const struct wm_clock *clk)
{
    return wm_tsc_to_ns(clk, wm_clock_ticks(clk));
}

uint64_t wm_clock_cycles_to_ns(const struct wm_clock *clk, uint64_t cycles)
{
    return (uint64_t)(((unsigned __int128)cycles * clk->mult) >> 32);
}

const char *wm_clock_source_name(const struct wm_clock *clk)
{
    return clk->source == WM_CLOCK_TSC ? "tsc" : "clock_gettime(CLOCK_MONOTONIC_RAW)";
}

static struct wm_clock default_clock;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    if (wm_clock_init(&default_clock, 0, 0) < 0)
        wm_clock_init(&default_clock, 0, WM_CLOCK_FORCE_FALLBACK);
}

const struct wm_clock *wm_clock_default(void)
{
    pthread_once(&default_once, default_init);
    return &default_clock;
}
