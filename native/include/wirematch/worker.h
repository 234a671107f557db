/* wirematch/worker.h - what every data-plane worker thread shares: how it
 * idles when there is no work, and how it reports its thread id so the
 * control plane can pin it.
 *
 * Idle strategies (per worker, from the configuration):
 *   WM_IDLE_SPIN        busy-poll with pause: lowest latency, burns the core
 *   WM_IDLE_SPIN_YIELD  spin for spin_polls empty polls, then sched_yield
 *                       between polls: shares a core politely (2-core hosts)
 *   WM_IDLE_SLEEP       spin for spin_polls, then sleep sleep_us per poll
 */
#ifndef WIREMATCH_WORKER_H
#define WIREMATCH_WORKER_H

#include "wirematch/common.h"

enum wm_idle {
    WM_IDLE_SPIN = 0,
    WM_IDLE_SPIN_YIELD = 1,
    WM_IDLE_SLEEP = 2
};

struct wm_idle_policy {
    uint32_t strategy;    /* enum wm_idle */
    uint32_t spin_polls;  /* empty polls before yielding/sleeping (0 = 1024) */
    uint32_t sleep_us;    /* WM_IDLE_SLEEP: microseconds per sleep (0 = 50) */
    uint32_t reserved;
};

/* Name of a strategy ("spin", "spin_yield", "sleep"), or NULL. */
const char *wm_idle_name(uint32_t strategy);

#ifndef WM_CDEF
/* One empty poll: pause, yield or sleep according to the policy.  *empty
 * counts consecutive empty polls; the caller zeroes it when work arrives. */
void wm_idle_wait(const struct wm_idle_policy *p, uint32_t *empty);
#endif

#endif
