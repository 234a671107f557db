/* Idle strategies for worker threads (cold-ish: only when there is no work). */
#include <sched.h>
#include <time.h>

#include "wirematch/clock.h"
#include "wirematch/worker.h"

const char *wm_idle_name(uint32_t strategy)
{
    switch (strategy) {
    case WM_IDLE_SPIN: return "spin";
    case WM_IDLE_SPIN_YIELD: return "spin_yield";
    case WM_IDLE_SLEEP: return "sleep";
    case WM_IDLE_ADAPTIVE: return "adaptive";
    default: return NULL;
    }
}

static uint32_t or_default(uint32_t v, uint32_t dflt)
{
    return v ? v : dflt;
}

uint32_t wm_idle_adaptive_step(const struct wm_idle_policy *p, uint64_t idle_ns, uint32_t *nap_us)
{
    uint64_t spin_ns = (uint64_t)or_default(p->spin_us, 50) * 1000;
    uint64_t yield_ns = (uint64_t)or_default(p->yield_us, 200) * 1000;
    if (idle_ns < spin_ns)
        return WM_IDLE_PAUSE;
    if (idle_ns < spin_ns + yield_ns)
        return WM_IDLE_YIELD;
    uint32_t cap = or_default(p->max_sleep_us, 200);
    uint32_t next = *nap_us ? (*nap_us > cap / 2 ? cap : *nap_us * 2) : or_default(p->sleep_us, 50);
    *nap_us = next < cap ? next : cap;
    return WM_IDLE_NAP;
}

static void nap(uint32_t us)
{
    struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static uint64_t now_ns(void)
{
    const struct wm_clock *clk = wm_clock_default();
    return wm_tsc_to_ns(clk, wm_clock_ticks(clk));
}

uint32_t wm_idle_poll(const struct wm_idle_policy *p, struct wm_idle_state *s)
{
    if (p->strategy != WM_IDLE_ADAPTIVE) {
        uint32_t before = s->empty;
        wm_idle_wait(p, &s->empty);
        if (p->strategy == WM_IDLE_SPIN || before < or_default(p->spin_polls, 1024))
            return WM_IDLE_PAUSE;
        return p->strategy == WM_IDLE_SPIN_YIELD ? WM_IDLE_YIELD : WM_IDLE_NAP;
    }
    uint64_t now = now_ns();
    if (s->empty++ == 0) {
        s->since_ns = now;
        s->nap_us = 0;
    }
    uint32_t action = wm_idle_adaptive_step(p, now - s->since_ns, &s->nap_us);
    if (action == WM_IDLE_PAUSE)
        __builtin_ia32_pause();
    else if (action == WM_IDLE_YIELD)
        sched_yield();
    else
        nap(s->nap_us);
    return action;
}

void wm_idle_wait(const struct wm_idle_policy *p, uint32_t *empty)
{
    uint32_t spins = or_default(p->spin_polls, 1024);
    (*empty)++;
    if (p->strategy == WM_IDLE_SPIN || *empty <= spins) {
        __builtin_ia32_pause();
        return;
    }
    if (p->strategy == WM_IDLE_SPIN_YIELD || p->strategy == WM_IDLE_ADAPTIVE) {
        sched_yield();
        return;
    }
    nap(or_default(p->sleep_us, 50));
}
