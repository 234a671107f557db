/* wirematch/worker.h - what every data-plane worker thread shares: how it
 * idles when there is no work, and how it reports its thread id so the
 * control plane can pin it.
 *
 * Idle strategies (per worker, from the configuration):
 *   WM_IDLE_SPIN        busy-poll with pause: lowest latency, burns the core
 *   WM_IDLE_SPIN_YIELD  spin for spin_polls empty polls, then sched_yield
 *                       between polls: shares a core politely, but a lone
 *                       worker still keeps its core busy
 *   WM_IDLE_SLEEP       spin for spin_polls, then sleep sleep_us per poll
 *   WM_IDLE_ADAPTIVE    by the time since the last work: pause-spin for
 *                       spin_us, then sched_yield until spin_us + yield_us,
 *                       then sleep, first sleep_us, doubling up to
 *                       max_sleep_us; any work starts it over at spinning
 *
 * Work never costs a system call: the worker only zeroes state.empty when it
 * finds work; the clock is read and the back-off runs only on empty polls.
 */
#ifndef WIREMATCH_WORKER_H
#define WIREMATCH_WORKER_H

#include "wirematch/common.h"

enum wm_idle {
    WM_IDLE_SPIN = 0,
    WM_IDLE_SPIN_YIELD = 1,
    WM_IDLE_SLEEP = 2,
    WM_IDLE_ADAPTIVE = 3
};

struct wm_idle_policy {
    uint32_t strategy;     /* enum wm_idle */
    uint32_t spin_polls;   /* SPIN_YIELD, SLEEP: empty polls before yielding/sleeping (0 = 1024) */
    uint32_t sleep_us;     /* SLEEP: each sleep; ADAPTIVE: the first sleep (0 = 50) */
    uint32_t spin_us;      /* ADAPTIVE: spin this long after the last work (0 = 50) */
    uint32_t yield_us;     /* ADAPTIVE: then yield this long (0 = 200) */
    uint32_t max_sleep_us; /* ADAPTIVE: the longest sleep (0 = 200) */
};

/* What an empty poll does. */
enum wm_idle_action {
    WM_IDLE_PAUSE = 0, /* one pause instruction */
    WM_IDLE_YIELD = 1, /* sched_yield */
    WM_IDLE_NAP = 2    /* nanosleep */
};

/* A worker's idle state: zero it at start; zero `empty` when work arrives. */
struct wm_idle_state {
    uint32_t empty;    /* consecutive empty polls */
    uint32_t nap_us;   /* ADAPTIVE: the length of the last sleep (0 = none yet) */
    uint64_t since_ns; /* ADAPTIVE: when the first empty poll of this run was */
};

/* Name of a strategy ("spin", "spin_yield", "sleep", "adaptive"), or NULL. */
const char *wm_idle_name(uint32_t strategy);

/* The adaptive schedule, a pure function: idle_ns since the last work ->
 * the action.  *nap_us is the previous sleep's length (0 = none yet); for
 * WM_IDLE_NAP it is set to this sleep's length. */
uint32_t wm_idle_adaptive_step(const struct wm_idle_policy *p, uint64_t idle_ns,
                               uint32_t *nap_us);

#ifndef WM_CDEF
/* One empty poll: pause, yield or sleep according to the policy; returns the
 * enum wm_idle_action taken. */
uint32_t wm_idle_poll(const struct wm_idle_policy *p, struct wm_idle_state *s);

/* One empty poll of a short wait (a full ring, no free buffer): like
 * wm_idle_poll, with ADAPTIVE waiting as SPIN_YIELD does.  *empty counts
 * consecutive empty polls. */
void wm_idle_wait(const struct wm_idle_policy *p, uint32_t *empty);
#endif

#endif
