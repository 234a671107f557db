/* Idle strategies for worker threads (cold-ish: only when there is no work). */
#include <sched.h>
#include <time.h>

#include "wirematch/worker.h"

const char *wm_idle_name(uint32_t strategy)
{
    switch (strategy) {
    case WM_IDLE_SPIN: return "spin";
    case WM_IDLE_SPIN_YIELD: return "spin_yield";
    case WM_IDLE_SLEEP: return "sleep";
    default: return NULL;
    }
}

void wm_idle_wait(const struct wm_idle_policy *p, uint32_t *empty)
{
    uint32_t spins = p->spin_polls ? p->spin_polls : 1024;
    (*empty)++;
    if (p->strategy == WM_IDLE_SPIN || *empty <= spins) {
        __builtin_ia32_pause();
        return;
    }
    if (p->strategy == WM_IDLE_SPIN_YIELD) {
        sched_yield();
        return;
    }
    uint32_t us = p->sleep_us ? p->sleep_us : 50;
    struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}
