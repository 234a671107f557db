/* wirematch/matcher_worker.h - the matcher's thread: commands in from a ring,
 * events out to a ring.
 *
 *   in ring  (struct wm_cmd, 64 B)   --sc burst-->  wm_matcher_apply
 *                                    --sp bulk--->  out ring (struct wm_event, 64 B)
 *
 * The worker is the only consumer of `in` and the only producer of `out`.
 * Backpressure, not loss: the worker asks the matcher for about as many
 * events as `out` has free slots (the matcher's apply is resumable between
 * steps) and then publishes every event, waiting for room as long as it
 * takes; so a slow event reader slows the matcher down and no event is ever
 * dropped.  Each wait for room is counted (out_full_waits).
 *
 * Commands carry their receive timestamp in `ts`, in ticks of the clock given
 * here (wm_clock_ticks); the worker records ticks-to-events-published in the
 * latency histogram, in nanoseconds.
 *
 * Stop drains: after wm_matcher_worker_request_stop the thread keeps going
 * until `in` is empty and no command is half-applied, then exits.  Someone
 * must keep reading `out` meanwhile (wm_matcher_worker_done says when the
 * thread has finished).
 */
#ifndef WIREMATCH_MATCHER_WORKER_H
#define WIREMATCH_MATCHER_WORKER_H

#include "wirematch/common.h"
#include "wirematch/worker.h"

#define WM_MATCHER_WORKER_COUNTERS(X)                                           \
    X(WM_MW_BATCHES, "batches")               /* non-empty dequeues */          \
    X(WM_MW_COMMANDS, "commands")             /* commands applied */            \
    X(WM_MW_EVENTS, "events")                 /* events published */            \
    X(WM_MW_EMPTY_POLLS, "empty_polls")       /* dequeues that found nothing */ \
    X(WM_MW_OUT_FULL_WAITS, "out_full_waits") /* waits for room in out */       \
    X(WM_MW_BUSY_CYCLES, "busy_cycles")       /* TSC cycles in apply+publish */ \
    X(WM_MW_IDLE_SLEEPS, "idle_sleeps")       /* idle polls that slept */

enum wm_matcher_worker_counter {
    WM_MATCHER_WORKER_COUNTERS(WM_COUNTER_ENUM) WM_MW_N_COUNTERS
};

struct wm_matcher;
struct wm_ring;
struct wm_counters;
struct wm_hist;
struct wm_clock;

struct wm_matcher_worker_config {
    uint32_t size;                 /* sizeof(struct wm_matcher_worker_config) */
    uint32_t burst;                /* commands per dequeue: 1..256 (0 = 32) */
    struct wm_idle_policy idle;
    struct wm_matcher *matcher;    /* not touched by anyone else while running */
    struct wm_ring *in;            /* 64-byte elements: struct wm_cmd */
    struct wm_ring *out;           /* 64-byte elements: struct wm_event */
    struct wm_counters *counters;  /* optional: WM_MW_N_COUNTERS named as above */
    struct wm_hist *latency;       /* optional: ns from cmd.ts to events published */
    struct wm_hist *batch_sizes;   /* optional: commands per non-empty dequeue */
    const struct wm_clock *clock;  /* for ts and cycles -> ns (NULL = default clock) */
};

struct wm_matcher_worker;

/* Names of the worker's counters, in enum order (for wm_counters_init). */
const char *const *wm_matcher_worker_counter_names(void);

/* Validate, start the thread and wait until it reports its thread id.
 * Returns 0, -EINVAL (missing ring/matcher, element sizes not 64, bad burst,
 * counters block of the wrong shape) or -errno from pthread_create. */
int wm_matcher_worker_start(const struct wm_matcher_worker_config *cfg,
                            struct wm_matcher_worker **out);
/* The thread's Linux thread id (for sched_setaffinity from Python). */
int wm_matcher_worker_tid(const struct wm_matcher_worker *w);
void wm_matcher_worker_request_stop(struct wm_matcher_worker *w);
/* 1 once the thread has drained `in` and exited its loop after a stop request. */
int wm_matcher_worker_done(const struct wm_matcher_worker *w);
/* Request stop if not yet, join the thread, free the handle.  Returns 0. */
int wm_matcher_worker_join(struct wm_matcher_worker *w);

#endif
