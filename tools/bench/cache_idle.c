/* cache_idle - does this core keep its caches while it idles?
 *
 *   cache_idle [--cpu C] [--lines N] [--span BYTES] [--reps R]
 *
 * A light-load order takes the appliance's whole path after the worker has
 * polled an empty queue for a while (20 us between orders at 50k/s).  This
 * measures what that idle time costs on the machine, with nothing of the
 * appliance in it: a chain of N cache lines spread over a 1 MiB buffer
 * (fits the L2 of the CPUs this runs on) is walked once (pointer chase,
 * every line a dependent load) right after the previous walk, and after
 * spinning on `pause` (no memory access, no system call) for 1, 5, 20,
 * 100 and 1000 us.  On a core that keeps its caches the walk costs the same
 * after any idle time; where it grows, something outside this process
 * (other tenants of the physical core, the hypervisor) evicts the lines,
 * and every order after an idle gap pays for it.  One JSON line per idle
 * time: p50/p90/p99 of the walk in ns.
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
    fprintf(stderr, "usage: cache_idle [--cpu C] [--lines N] [--span BYTES] [--reps R]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int cpu = -1;
    long nlines = 64, span = 1 << 20, reps = 2000;
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        long v = strtol(argv[i + 1], NULL, 0);
        if (strcmp(argv[i], "--cpu") == 0)
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
    if (nlines < 2 || span < 64 * nlines || reps < 100)
        usage();
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
    if (buf == NULL || order == NULL || t == NULL) {
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
           "\"tsc_hz\": %llu}\n",
           cpu, nlines, span, reps, (unsigned long long)clk.tsc_hz);
    for (size_t k = 0; k < sizeof(idle_us) / sizeof(idle_us[0]); k++) {
        uint64_t idle_ticks = (uint64_t)idle_us[k] * clk.tsc_hz / 1000000u;
        void *p = buf + order[0] * 64;
        for (long j = 0; j < reps; j++) {
            uint64_t until = ticks() + idle_ticks;
            while (ticks() < until)
                _mm_pause();
            uint64_t t0 = ticks();
            for (long i = 0; i < nlines; i++)
                p = *(void **)p;
            t[j] = ticks() - t0;
        }
        if (p == NULL) /* keeps the chase; never true */
            return 1;
        qsort(t, (size_t)reps, sizeof(t[0]), cmp_u64);
        printf("{\"case\": \"retouch\", \"idle_us\": %u, \"p50_ns\": %llu, \"p90_ns\": %llu, "
               "\"p99_ns\": %llu}\n",
               idle_us[k], (unsigned long long)wm_clock_cycles_to_ns(&clk, t[reps / 2]),
               (unsigned long long)wm_clock_cycles_to_ns(&clk, t[reps * 9 / 10]),
               (unsigned long long)wm_clock_cycles_to_ns(&clk, t[reps * 99 / 100]));
        fflush(stdout);
    }
    free(t);
    free(order);
    free(buf);
    return 0;
}
