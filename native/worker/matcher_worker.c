/* The matcher's thread: sc burst from the command ring, wm_matcher_apply,
 * sp bulk to the event ring.  Per-burst work only: no allocation, no lock,
 * no system call unless idle. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wirematch/clock.h"
#include "wirematch/counters.h"
#include "wirematch/hist.h"
#include "wirematch/matcher.h"
#include "wirematch/matcher_worker.h"
#include "wirematch/ring.h"

#define MAX_BURST 256
#define EVBUF 1024 /* events per apply call, at most */

static const char *const counter_names[] = { WM_MATCHER_WORKER_COUNTERS(WM_COUNTER_NAME) };

const char *const *wm_matcher_worker_counter_names(void)
{
    return counter_names;
}

struct wm_matcher_worker {
    struct wm_matcher_worker_config cfg;
    pthread_t thread;
    int tid;           /* written once by the thread (release), read by start */
    int stop;          /* set by request_stop (release), polled by the thread */
    int done;          /* set by the thread when it leaves its loop (release) */
    uint64_t cycles_per_us_mult;
    struct wm_cmd cmds[MAX_BURST];
    struct wm_event events[EVBUF];
};

static void count(struct wm_matcher_worker *w, uint32_t idx, uint64_t delta)
{
    if (w->cfg.counters)
        wm_counter_add(w->cfg.counters, idx, delta);
}

/* Record ticks-from-receive for the commands [from, to) just published. */
static void record_latency(struct wm_matcher_worker *w, unsigned from, unsigned to, uint64_t now)
{
    if (!w->cfg.latency)
        return;
    for (unsigned i = from; i < to; i++) {
        uint64_t ts = w->cmds[i].ts;
        uint64_t d = now > ts ? now - ts : 0;
        wm_hist_record(w->cfg.latency, wm_clock_cycles_to_ns(w->cfg.clock, d));
    }
}

static void *worker_main(void *arg)
{
    struct wm_matcher_worker *w = arg;
    const struct wm_matcher_worker_config *c = &w->cfg;
    /* Release: pairs with the acquire in wm_matcher_worker_start. */
    __atomic_store_n(&w->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);

    unsigned n = 0, off = 0; /* commands held: cmds[off..n) not yet consumed */
    struct wm_idle_state idle = { 0 };
    for (;;) {
        if (off == n && !wm_matcher_pending(c->matcher)) {
            n = wm_ring_sc_dequeue_burst(c->in, w->cmds, c->burst);
            off = 0;
            if (n == 0) {
                /* Acquire: pairs with the release in request_stop.  Checked
                 * only when the ring is empty: stop drains. */
                if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) &&
                    wm_ring_count(c->in) == 0)
                    break;
                count(w, WM_MW_EMPTY_POLLS, 1);
                if (wm_idle_poll(&c->idle, &idle) == WM_IDLE_NAP)
                    count(w, WM_MW_IDLE_SLEEPS, 1);
                continue;
            }
            idle.empty = 0;
            count(w, WM_MW_BATCHES, 1);
            if (c->batch_sizes)
                wm_hist_record(c->batch_sizes, n);
        }
        /* Ask for no more events than the out ring seems to have room for
         * (an estimate: a reader in the middle of a dequeue holds slots it has
         * claimed), then publish every one of them, waiting for room as long
         * as it takes: an event is never dropped. */
        unsigned room = wm_ring_free_count(c->out);
        if (room > EVBUF)
            room = EVBUF;
        if (room < WM_MATCHER_MIN_EVENTS)
            room = WM_MATCHER_MIN_EVENTS;
        uint64_t t0 = wm_tsc();
        unsigned consumed = 0;
        int ev = wm_matcher_apply(c->matcher, w->cmds + off, n - off, w->events, room, &consumed);
        for (unsigned put = 0; ev > 0 && put < (unsigned)ev;) {
            unsigned k = wm_ring_sp_enqueue_burst(c->out, w->events + put, (unsigned)ev - put);
            put += k;
            if (k == 0 && put < (unsigned)ev) {
                count(w, WM_MW_OUT_FULL_WAITS, 1);
                uint32_t waits = 0;
                wm_idle_wait(&c->idle, &waits);
            }
        }
        if (ev > 0)
            count(w, WM_MW_EVENTS, (uint64_t)ev);
        uint64_t t1 = wm_tsc();
        count(w, WM_MW_BUSY_CYCLES, t1 - t0);
        count(w, WM_MW_COMMANDS, consumed);
        record_latency(w, off, off + consumed, wm_clock_ticks(c->clock));
        off += consumed;
    }
    /* Release: pairs with the acquire in wm_matcher_worker_done. */
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int counters_match(const struct wm_counters *c)
{
    if (c->n != WM_MW_N_COUNTERS)
        return 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (strcmp(wm_counters_name(c, i), counter_names[i]) != 0)
            return 0;
    return 1;
}

int wm_matcher_worker_start(const struct wm_matcher_worker_config *cfg,
                            struct wm_matcher_worker **out)
{
    if (cfg == NULL || out == NULL || cfg->size < sizeof(*cfg) || cfg->matcher == NULL ||
        cfg->in == NULL || cfg->out == NULL)
        return -EINVAL;
    if (wm_ring_elem_size(cfg->in) != sizeof(struct wm_cmd) ||
        wm_ring_elem_size(cfg->out) != sizeof(struct wm_event) ||
        wm_ring_capacity(cfg->out) < WM_MATCHER_MIN_EVENTS)
        return -EINVAL;
    if (cfg->burst > MAX_BURST || wm_idle_name(cfg->idle.strategy) == NULL)
        return -EINVAL;
    if (cfg->counters && !counters_match(cfg->counters))
        return -EINVAL;
    /* C11: the size must be a multiple of the alignment. */
    size_t size = (sizeof(struct wm_matcher_worker) + WM_CACHE_LINE - 1) & ~(size_t)(WM_CACHE_LINE - 1);
    struct wm_matcher_worker *w = aligned_alloc(WM_CACHE_LINE, size);
    if (w == NULL)
        return -ENOMEM;
    memset(w, 0, sizeof(*w));
    w->cfg = *cfg;
    if (w->cfg.burst == 0)
        w->cfg.burst = 32;
    if (w->cfg.clock == NULL)
        w->cfg.clock = wm_clock_default();
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        free(w);
        return -rc;
    }
    /* Acquire: pairs with the release of tid in worker_main. */
    while (__atomic_load_n(&w->tid, __ATOMIC_ACQUIRE) == 0)
        sched_yield();
    *out = w;
    return 0;
}

int wm_matcher_worker_tid(const struct wm_matcher_worker *w)
{
    return __atomic_load_n(&w->tid, __ATOMIC_ACQUIRE);
}

void wm_matcher_worker_request_stop(struct wm_matcher_worker *w)
{
    /* Release: pairs with the acquire in worker_main. */
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
}

int wm_matcher_worker_done(const struct wm_matcher_worker *w)
{
    return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE);
}

int wm_matcher_worker_join(struct wm_matcher_worker *w)
{
    wm_matcher_worker_request_stop(w);
    pthread_join(w->thread, NULL);
    free(w);
    return 0;
}
