/* nic_bench.h - what the NIC benchmark programs share: option parsing for a
 * backend queue, pinning, timing. */
#ifndef NIC_BENCH_H
#define NIC_BENCH_H

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wirematch.h"

static inline double nb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int nb_pin(int cpu)
{
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

/* "sqpoll,defer_taskrun" -> flags; -1 on an unknown name. */
static inline int nb_flags(const char *list, uint32_t *flags)
{
    static const struct { const char *name; uint32_t bit; } names[] = {
        { "sqpoll", WM_NIC_O_SQPOLL },       { "defer_taskrun", WM_NIC_O_DEFER_TASKRUN },
        { "coop_taskrun", WM_NIC_O_COOP_TASKRUN }, { "napi", WM_NIC_O_NAPI },
        { "send_zc", WM_NIC_O_SEND_ZC },     { "no_addr", WM_NIC_O_NO_ADDR },
        { "busy_poll", WM_NIC_O_BUSY_POLL },
    };
    *flags = 0;
    if (list == NULL || *list == '\0' || strcmp(list, "none") == 0)
        return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(tok, names[i].name) == 0)
                break;
        if (i == sizeof names / sizeof names[0])
            return -1;
        *flags |= names[i].bit;
    }
    return 0;
}

#endif
