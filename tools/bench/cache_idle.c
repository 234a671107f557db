/* cache_idle - does this core keep its caches while it idles?
 *
 *   cache_idle [--cpu C] [--lines N] [--span BYTES] [--reps R] [--no-pause]
 *
 * A light-load order takes the appliance's whole path after the worker has
 * polled an empty queue for a while (20 us between orders at 50k/s).  This
 * measures what that idle time costs on the machine, with nothing of the
 * appliance in it: a chain of N cache lines (64: 4 KiB, L1-sized) spread
 * over a 1 MiB buffer (so over up to 64 pages: the walk needs their TLB
 * entries too) is walked once (pointer chase, every line a dependent load)
 * right after the previous walk, and after spinning on `pause` (or, with
 * --no-pause, on an empty loop; no memory access, no system call) for 1,
 * 5, 20, 100 and 1000 us.  On a core that keeps its caches the walk costs
 * the same after any idle time; where it grows, the lines were evicted
 * while this process only spun.  A spin in which two TSC readings lie more
 * than 2 us apart was interrupted (the guest's timer tick, an interrupt,
 * the hypervisor taking the CPU): its share is reported, and the walk's
 * percentiles are given over all repetitions and over the uninterrupted
 * ones.  One JSON line per idle time, ns.
 */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

#include "wirematch/clock.h"

static uint64_t ticks(void)
{
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cache_idle [--cpu C] [--lines N] [--span BYTES] [--reps R] [--no-pause]\n"
            "  2 <= N <= 4096, 64*N <= BYTES <= 1 GiB, 100 <= R <= 10000000\n");
    exit(2);
}

static long arg_long(const char *text)
{
    char *end;
    long v = strtol(text, &end, 0);
    if (end == text || *end != '\0')
        usage();
    return v;
}

static uint64_t pct(const uint64_t *sorted, long n, int p)
{
    return n ? sorted[n * p / 100] : 0;
}

int main(int argc, char **argv)
{
    int cpu = -1, use_pause = 1;
    long nlines = 64, span = 1 << 20, reps = 2000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-pause") == 0) {
            use_pause = 0;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        long v = arg_long(argv[i + 1]);
        if (strcmp(argv[i], "--cpu") == 0 && v >= 0 && v < CPU_SETSIZE)
            cpu = (int)v;
        else if (strcmp(argv[i], "--lines") == 0)
            nlines = v;
        else if (strcmp(argv[i], "--span") == 0)
            span = v;
        else if (strcmp(argv[i], "--reps") == 0)
            reps = v;
        else
            usage();
        i++;
    }
    if (nlines < 2 || nlines > 4096 || span < 64 * nlines || span > (1l << 30) || reps < 100 ||
        reps > 10000000)
        usage();
    span = (span + 4095) & ~4095l; /* aligned_alloc: a multiple of the alignment */
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            perror("sched_setaffinity");
            return 1;
        }
    }
    struct wm_clock clk;
    if (wm_clock_init(&clk, 0, 0) != 0 || clk.source != WM_CLOCK_TSC) {
        fprintf(stderr, "cache_idle: needs an invariant TSC\n");
        return 1;
    }
    char *buf = aligned_alloc(4096, (size_t)span);
    long *order = malloc(sizeof(long) * (size_t)nlines);
    uint64_t *t = malloc(sizeof(uint64_t) * (size_t)reps);
    uint64_t *clean = malloc(sizeof(uint64_t) * (size_t)reps);
    if (buf == NULL || order == NULL || t == NULL || clean == NULL) {
        fprintf(stderr, "cache_idle: out of memory\n");
        return 1;
    }
    memset(buf, 0, (size_t)span);
    /* nlines distinct lines in a seeded random order: a dependent chain. */
    long total = span / 64;
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (long i = 0; i < nlines; i++) {
        for (;;) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            long cand = (long)((r >> 33) % (uint64_t)total), k = 0;
            while (k < i && order[k] != cand)
                k++;
            if (k == i) {
                order[i] = cand;
                break;
            }
        }
    }
    for (long i = 0; i < nlines; i++)
        *(void **)(buf + order[i] * 64) = buf + order[(i + 1) % nlines] * 64;
    static const unsigned idle_us[] = {0, 1, 5, 20, 100, 1000};
    printf("{\"case\": \"setup\", \"cpu\": %d, \"lines\": %ld, \"span\": %ld, \"reps\": %ld, "
           "\"pause\": %s, \"tsc_hz\": %llu}\n",
           cpu, nlines, span, reps, use_pause ? "true" : "false", (unsigned long long)clk.tsc_hz);
    const uint64_t gap_ticks = 2 * clk.tsc_hz / 1000000u; /* 2 us */
    for (size_t k = 0; k < sizeof(idle_us) / sizeof(idle_us[0]); k++) {
        uint64_t idle_ticks = (uint64_t)idle_us[k] * clk.tsc_hz / 1000000u;
        void *p = buf + order[0] * 64;
        long nclean = 0;
        for (long j = 0; j < reps; j++) {
            uint64_t prev = ticks(), until = prev + idle_ticks, gap = 0;
            for (uint64_t now = prev; now < until; prev = now) {
                if (use_pause)
                    _mm_pause();
                now = ticks();
                if (now - prev > gap)
                    gap = now - prev;
            }
            uint64_t t0 = ticks();
            for (long i = 0; i < nlines; i++)
                p = *(void **)p;
            t[j] = ticks() - t0;
            if (gap <= gap_ticks)
                clean[nclean++] = t[j];
        }
        if (p == NULL) /* keeps the chase; never true */
            return 1;
        qsort(t, (size_t)reps, sizeof(t[0]), cmp_u64);
        qsort(clean, (size_t)nclean, sizeof(clean[0]), cmp_u64);
        printf("{\"case\": \"retouch\", \"idle_us\": %u, \"p50_ns\": %llu, \"p90_ns\": %llu, "
               "\"p99_ns\": %llu, \"interrupted_share\": %.4f, \"clean_p50_ns\": %llu, "
               "\"clean_p99_ns\": %llu}\n",
               idle_us[k], (unsigned long long)wm_clock_cycles_to_ns(&clk, pct(t, reps, 50)),
               (unsigned long long)wm_clock_cycles_to_ns(&clk, pct(t, reps, 90)),
               (unsigned long long)wm_clock_cycles_to_ns(&clk, pct(t, reps, 99)),
               (double)(reps - nclean) / (double)reps,
               (unsigned long long)wm_clock_cycles_to_ns(&clk, pct(clean, nclean, 50)),
               (unsigned long long)wm_clock_cycles_to_ns(&clk, pct(clean, nclean, 99)));
        fflush(stdout);
    }
    free(clean);
    free(t);
    free(order);
    free(buf);
    return 0;
}
