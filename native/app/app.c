/* app/app.c - the appliance's data plane: set-up, worker threads, stop, control.
 * Control path only: allocation and system calls are fine here. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "app_internal.h"

static __thread char last_error[256];

static int fail(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return rc;
}

const char *wm_app_last_error(void)
{
    return last_error;
}

static const char *const rx_names[] = { WM_RX_COUNTERS(WM_COUNTER_NAME) };
static const char *const en_names[] = { WM_ENGINE_COUNTERS(WM_COUNTER_NAME) };
static const char *const tx_names[] = { WM_TX_COUNTERS(WM_COUNTER_NAME) };
static const char *const worker_names[] = { WM_WORKER_COUNTERS(WM_COUNTER_NAME) };

/* The counter blocks of an appliance region, in packet order. */
static const struct {
    const char *stage;
    char kind;
} blocks[] = {
    { "nic", 'q' },    { "rx", 'q' },      { "codec", 'q' },   { "slowpath", 'q' },
    { "engine", 's' }, { "gateway", 's' }, { "matcher", 's' }, { "tx", 'q' },
    { "worker", 'w' },
};

int wm_app_counter_block(uint32_t i, const char **stage, char *kind)
{
    if (i >= sizeof(blocks) / sizeof(blocks[0]) || !stage || !kind)
        return -ENOENT;
    *stage = blocks[i].stage;
    *kind = blocks[i].kind;
    return 0;
}

const char *wm_app_counter_name(const char *stage, uint32_t idx)
{
    if (!stage)
        return NULL;
    if (strcmp(stage, "nic") == 0)
        return idx < WM_NIC_N_COUNTERS ? wm_nic_counter_names()[idx] : NULL;
    if (strcmp(stage, "rx") == 0)
        return idx < WM_RX_N_COUNTERS ? rx_names[idx] : NULL;
    if (strcmp(stage, "codec") == 0)
        return wm_codec_counter_name(idx);
    if (strcmp(stage, "slowpath") == 0)
        return idx < WM_SP_N_COUNTERS ? wm_slowpath_counter_names()[idx] : NULL;
    if (strcmp(stage, "engine") == 0)
        return idx < WM_EN_N_COUNTERS ? en_names[idx] : NULL;
    if (strcmp(stage, "gateway") == 0)
        return wm_gw_counter_name(idx);
    if (strcmp(stage, "matcher") == 0)
        return wm_matcher_counter_name(idx);
    if (strcmp(stage, "tx") == 0)
        return idx < WM_TX_N_COUNTERS ? tx_names[idx] : NULL;
    if (strcmp(stage, "worker") == 0)
        return idx < WM_WK_N_COUNTERS ? worker_names[idx] : NULL;
    return NULL;
}

static void *zalloc(size_t size)
{
    size = (size + WM_CACHE_LINE - 1) & ~(size_t)(WM_CACHE_LINE - 1);
    void *p = aligned_alloc(WM_CACHE_LINE, size);
    if (p)
        memset(p, 0, size);
    return p;
}

static int pow2(uint32_t v)
{
    return v >= 2 && (v & (v - 1)) == 0;
}

static struct wm_counters *counters(struct wm_app *app, const char *stage, char kind, uint32_t i,
                                    const char *const *names, uint32_t n)
{
    char name[WM_SHM_NAME_LEN];
    snprintf(name, sizeof(name), "%s.%c%u", stage, kind, i);
    struct wm_counters *c = wm_shm_counters_create(app->cfg.shm, name, names, n);
    if (!c)
        fail(-errno, "cannot create counters %s in the region: %s", name, strerror(errno));
    return c;
}

static struct wm_hist *hist(struct wm_app *app, const char *stage, char kind, uint32_t i,
                            const char *metric, uint64_t max)
{
    char name[WM_SHM_NAME_LEN];
    snprintf(name, sizeof(name), "%s.%c%u.%s", stage, kind, i, metric);
    struct wm_hist *h = wm_shm_hist_create(app->cfg.shm, name, max);
    if (!h)
        fail(-errno, "cannot create histogram %s in the region: %s", name, strerror(errno));
    return h;
}

static struct wm_ring *ring(struct wm_app *app, const char *name, uint32_t elem, uint32_t cap)
{
    struct wm_ring *r = wm_shm_ring_create(app->cfg.shm, name, elem, cap, 0);
    if (!r)
        fail(-errno, "cannot create ring %s (%u x %u B) in the region: %s", name, cap, elem,
             strerror(errno));
    return r;
}

static int create_engine(struct wm_app *app, uint32_t s)
{
    struct app_engine *en = zalloc(sizeof(*en));
    if (!en)
        return -ENOMEM;
    app->en[s] = en;
    en->app = app;
    en->s = s;
    en->n_bufs = app->cfg.tx_buffers;
    size_t arena = ((size_t)en->n_bufs * APP_TX_BUF + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    en->arena = aligned_alloc(2u << 20, arena);
    if (!en->arena)
        return fail(-ENOMEM, "cannot allocate %u tx buffers", en->n_bufs);
    /* Huge pages where the kernel has them, and touched now: a first write
     * on the reply path would be a page fault. */
    (void)madvise(en->arena, arena, MADV_HUGEPAGE);
    memset(en->arena, 0, arena);
    char name[WM_SHM_NAME_LEN];
    snprintf(name, sizeof(name), "in.s%u", s);
    if (!(en->in = ring(app, name, sizeof(struct app_msg), app->cfg.in_ring)))
        return -errno;
    snprintf(name, sizeof(name), "ctl.s%u", s);
    if (!(en->ctl = ring(app, name, sizeof(struct app_ctl), 64)))
        return -errno;
    snprintf(name, sizeof(name), "free.s%u", s);
    if (!(en->free = ring(app, name, 8, en->n_bufs)))
        return -errno;
    snprintf(name, sizeof(name), "answer.s%u", s);
    en->answer = wm_shm_alloc(app->cfg.shm, WM_OBJ_BLOB, name, sizeof(*en->answer),
                              WM_CACHE_LINE);
    if (!en->answer)
        return fail(-errno, "cannot create the control answer of shard %u: %s", s,
                    strerror(errno));
    const char *gnames[WM_GW_N_COUNTERS];
    for (uint32_t i = 0; i < WM_GW_N_COUNTERS; i++)
        gnames[i] = wm_gw_counter_name(i);
    unsigned nm = wm_matcher_counter_count();
    const char **mnames = calloc(nm, sizeof(*mnames));
    if (!mnames)
        return -ENOMEM;
    for (unsigned i = 0; i < nm; i++)
        mnames[i] = wm_matcher_counter_name(i);
    en->ctr = counters(app, "engine", 's', s, en_names, WM_EN_N_COUNTERS);
    en->gw_ctr = counters(app, "gateway", 's', s, gnames, WM_GW_N_COUNTERS);
    en->m_ctr = counters(app, "matcher", 's', s, mnames, nm);
    free(mnames);
    en->batch = hist(app, "engine", 's', s, "batch", 1024);
    en->rx_to_match = hist(app, "engine", 's', s, "rx_to_match_ns", 10000000000ull);
    if (!en->ctr || !en->gw_ctr || !en->m_ctr || !en->batch || !en->rx_to_match)
        return -ENOSPC;
#ifdef APP_TRACE
    static const char *const trn[7] = { "tr1_rx_ns", "tr2_ring_ns", "tr3_behind_ns",
                                        "tr4_session_ns", "tr5_gw_ns", "tr6_match_ns",
                                        "tr7_publish_ns" };
    for (int i = 0; i < 7; i++)
        en->tr[i] = hist(app, "engine", 's', s, trn[i], 10000000000ull);
#endif
    int rc = app_engine_init(en);
    if (rc)
        return fail(rc, "engine of shard %u: %s", s, strerror(-rc));
    return 0;
}

static int create_queue(struct wm_app *app, uint32_t q)
{
    struct app_rx *rx = zalloc(sizeof(*rx));
    struct app_tx_stage *tx = zalloc(sizeof(*tx));
    if (!rx || !tx) {
        free(rx);
        free(tx);
        return -ENOMEM;
    }
    app->rx[q] = rx;
    app->tx[q] = tx;
    rx->app = tx->app = app;
    rx->q = tx->q = q;
    rx->ctr = counters(app, "rx", 'q', q, rx_names, WM_RX_N_COUNTERS);
    struct wm_counters *codec = counters(app, "codec", 'q', q, wm_codec_counter_names(),
                                         wm_codec_counter_count());
    struct wm_counters *spc = counters(app, "slowpath", 'q', q, wm_slowpath_counter_names(),
                                       WM_SP_N_COUNTERS);
    tx->ctr = counters(app, "tx", 'q', q, tx_names, WM_TX_N_COUNTERS);
    rx->batch = hist(app, "rx", 'q', q, "batch", 1024);
    tx->rx_to_reply = hist(app, "tx", 'q', q, "rx_to_reply_ns", 10000000000ull);
    if (!rx->ctr || !codec || !spc || !tx->ctr || !rx->batch || !tx->rx_to_reply)
        return -ENOSPC;
    /* The codec counters are a plain array indexed like the block's values. */
    rx->codec = (struct wm_codec_stats *)wm_counters_values(codec);
    struct wm_slowpath_config sc = {
        .size = sizeof(sc),
        .max_new_per_sec = app->cfg.max_new_flows_per_sec,
        .tick_hz = app->clock->tsc_hz ? app->clock->tsc_hz : 1000000000ull,
        .ring = app->slowpath,
        .table = app->cfg.flows,
        .counters = spc,
    };
    rx->hold_ticks = sc.tick_hz / 1000 * WM_APP_HOLD_MS;
    int rc = wm_slowpath_init(&rx->sp, &sc);
    if (rc)
        return fail(rc, "slow-path gate of queue %u: bad configuration", q);
    rc = wm_mold_seq_create(APP_SEQ_SESSIONS,
                            app->cfg.gap_accept ? WM_MOLD_SEQ_GAP_ACCEPT : WM_MOLD_SEQ_GAP_DROP,
                            &rx->seq);
    if (rc)
        return fail(rc, "cannot create the sequence table of queue %u", q);
    uint32_t nbufs = app->cfg.tx_buffers * app->cfg.n_shards;
    uint32_t cap = 2;
    while (cap < nbufs)
        cap <<= 1;
    char name[WM_SHM_NAME_LEN];
    snprintf(name, sizeof(name), "out.q%u", q);
    if (!(tx->ring = ring(app, name, sizeof(struct app_tx), cap)))
        return -errno;
    return 0;
}

int wm_app_create(const struct wm_app_config *cfg, struct wm_app **out)
{
    if (!cfg || !out || cfg->size < sizeof(*cfg))
        return fail(-EINVAL, "missing configuration (or built against another version)");
    if (!cfg->shm || !cfg->flows)
        return fail(-EINVAL, "a shared region and a flow table are required");
    if (cfg->n_queues < 1 || cfg->n_queues > WM_APP_MAX_QUEUES)
        return fail(-EINVAL, "queues must be 1..%d, got %u", WM_APP_MAX_QUEUES, cfg->n_queues);
    if (cfg->n_shards < 1 || cfg->n_shards > WM_APP_MAX_SHARDS)
        return fail(-EINVAL, "shards must be 1..%d, got %u", WM_APP_MAX_SHARDS, cfg->n_shards);
    if (cfg->burst > APP_MAX_BURST)
        return fail(-EINVAL, "burst must be at most %d, got %u", APP_MAX_BURST, cfg->burst);
    if (cfg->md_queue >= cfg->n_queues)
        return fail(-EINVAL, "market data queue %u is not one of the %u queues", cfg->md_queue,
                    cfg->n_queues);
    struct wm_app *app = zalloc(sizeof(*app));
    if (!app)
        return -ENOMEM;
    app->cfg = *cfg;
    struct wm_app_config *c = &app->cfg;
    if (!c->burst)
        c->burst = 32;
    if (!c->in_ring)
        c->in_ring = 16384;
    if (!c->tx_buffers)
        c->tx_buffers = 4096;
    if (!c->slowpath_ring)
        c->slowpath_ring = 4096;
    int rc = 0;
    if (!pow2(c->in_ring) || !pow2(c->tx_buffers) || !pow2(c->slowpath_ring) ||
        c->tx_buffers < 2 * (WM_APP_MAX_SESSIONS + 2)) {
        rc = fail(-EINVAL, "in_ring, tx_buffers (at least %d) and slowpath_ring must be powers "
                  "of two", 2 * (WM_APP_MAX_SESSIONS + 2));
        goto err;
    }
    app->clock = c->clock ? c->clock : wm_clock_default();
    app->quiet_polls = 64;
    app->slowpath = ring(app, "slowpath", WM_FLOW_MISS_SIZE, c->slowpath_ring);
    if (!app->slowpath) {
        rc = -errno;
        goto err;
    }
    for (uint32_t s = 0; s < c->n_shards; s++)
        if ((rc = create_engine(app, s)) != 0)
            goto err;
    for (uint32_t q = 0; q < c->n_queues; q++)
        if ((rc = create_queue(app, q)) != 0)
            goto err;
    *out = app;
    return 0;
err:
    wm_app_destroy(app);
    return rc < 0 ? rc : -EINVAL;
}

int wm_app_set_queue(struct wm_app *app, uint32_t q, struct wm_nic_queue *nq)
{
    if (!app || q >= app->cfg.n_queues || !nq)
        return fail(-EINVAL, "no queue %u", q);
    if (app->n_workers)
        return fail(-EBUSY, "workers already run");
    struct wm_nic_info info;
    int rc = wm_nic_info(nq, &info);
    if (rc)
        return fail(rc, "cannot read the NIC queue's info");
    struct app_rx *rx = app->rx[q];
    /* Every message of a full burst of the largest packets fits (3 bytes:
     * the smallest block), so a burst never has to be cut short. */
    uint32_t buf = info.buf_size ? info.buf_size : 2048;
    uint32_t cap = app->cfg.burst * ((buf > 20 ? buf - 20 : 0) / 3 + 1);
    for (uint32_t s = 0; s < app->cfg.n_shards; s++) {
        free(rx->pend[s]);
        rx->pend[s] = zalloc((size_t)cap * sizeof(struct app_msg));
        if (!rx->pend[s])
            return -ENOMEM;
    }
    /* The hold arena: a slot takes any payload the queue can deliver. */
    free(rx->hold_arena);
    rx->hold_slot = buf;
    rx->hold_arena = zalloc((size_t)WM_APP_HOLD_PKTS * buf);
    if (!rx->hold_arena)
        return -ENOMEM;
    rx->n_held = 0;
    memset(rx->held_filter, 0, sizeof(rx->held_filter));
    for (uint32_t i = 0; i < WM_APP_HOLD_PKTS; i++)
        rx->hold_free[i] = (uint16_t)(WM_APP_HOLD_PKTS - 1 - i);
    rx->n_hold_free = WM_APP_HOLD_PKTS;
    rx->nq = nq;
    rx->l2 = strcmp(info.backend, "socket") != 0 && strcmp(info.backend, "io_uring") != 0 &&
             !(strcmp(info.backend, "pcap") == 0 && (info.flags & WM_NIC_O_L4));
    return 0;
}

int wm_app_set_matcher(struct wm_app *app, uint32_t shard, struct wm_matcher *m)
{
    if (!app || shard >= app->cfg.n_shards || !m)
        return fail(-EINVAL, "no shard %u", shard);
    if (app->n_workers)
        return fail(-EBUSY, "workers already run");
    app->en[shard]->m = m;
    app->en[shard]->gw.cfg.matcher = m;
    return 0;
}

int wm_app_add_instrument(struct wm_app *app, uint32_t shard, const char *symbol,
                          uint16_t instrument, uint16_t stock_locate, int64_t tick)
{
    if (!app || shard >= app->cfg.n_shards)
        return fail(-EINVAL, "no shard %u", shard);
    int rc = wm_gw_add_instrument(&app->en[shard]->gw, symbol, instrument, stock_locate, tick);
    if (rc)
        return fail(rc, "instrument %.8s (id %u): %s", symbol, instrument,
                    rc == -EEXIST ? "symbol or id already known" : strerror(-rc));
    return 0;
}

/* ---- workers ---------------------------------------------------------- */

static int all_rx_quiet(struct wm_app *app)
{
    for (uint32_t q = 0; q < app->cfg.n_queues; q++)
        if (!__atomic_load_n(&app->rx[q]->quiet, __ATOMIC_ACQUIRE) || app_rx_pending(app->rx[q]))
            return 0;
    return 1;
}

static int all_engines_drained(struct wm_app *app)
{
    for (uint32_t s = 0; s < app->cfg.n_shards; s++)
        if (!__atomic_load_n(&app->en[s]->drained, __ATOMIC_ACQUIRE))
            return 0;
    return 1;
}

void app_worker_assist(struct wm_app *app, uint32_t worker)
{
    uint32_t mask = app->workers[worker].queue_mask;
    for (uint32_t q = 0; q < app->cfg.n_queues; q++)
        if (mask & (1u << q))
            app_tx_poll(app->tx[q]);
}

/* Stop phase: 1 when every stage of the worker has finished. */
static int finished(struct app_worker *w)
{
    struct wm_app *app = w->app;
    for (uint32_t q = 0; q < app->cfg.n_queues; q++)
        if ((w->queue_mask & (1u << q)) &&
            (!__atomic_load_n(&app->rx[q]->quiet, __ATOMIC_ACQUIRE) || app_rx_pending(app->rx[q])))
            return 0;
    for (uint32_t s = 0; s < app->cfg.n_shards; s++) {
        struct app_engine *en = app->en[s];
        if (!(w->shard_mask & (1u << s)) || en->drained)
            continue;
        if (!all_rx_quiet(app) || !app_engine_idle(en))
            return 0;
        app_engine_end_of_day(en);
        __atomic_store_n(&en->drained, 1, __ATOMIC_RELEASE);
    }
    if (!all_engines_drained(app))
        return 0;
    for (uint32_t q = 0; q < app->cfg.n_queues; q++)
        if ((w->queue_mask & (1u << q)) && !app_tx_idle(app->tx[q]))
            return 0;
    return 1;
}

static void *worker_main(void *arg)
{
    struct app_worker *w = arg;
    struct wm_app *app = w->app;
    __atomic_store_n(&w->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
    struct wm_idle_state idle = { 0 };
    for (;;) {
        unsigned work = 0;
        /* Relaxed: a line written once per run; the acquire below orders the rest. */
        if (WM_UNLIKELY(__atomic_load_n(&app->phase, __ATOMIC_RELAXED) == APP_ABORT))
            break;
        for (uint32_t q = 0; q < app->cfg.n_queues; q++)
            if (w->queue_mask & (1u << q))
                work += app_rx_poll(app->rx[q]);
        unsigned matched = 0;
        for (uint32_t s = 0; s < app->cfg.n_shards; s++)
            if (w->shard_mask & (1u << s))
                matched += app_engine_poll(app->en[s]);
        work += matched;
        /* Sending (on veth and AF_XDP copy mode a system call that runs the
         * kernel's transmit path on this core) waits until this worker's
         * engines found nothing to do, so it never stands between a
         * received order and its match; a burst's worth of datagrams goes
         * out anyway (and the engine runs tx itself when out of buffers). */
        for (uint32_t q = 0; q < app->cfg.n_queues; q++)
            if ((w->queue_mask & (1u << q)) && (!matched || app_tx_backlog(app->tx[q])))
                work += app_tx_poll(app->tx[q]);
        if (work) {
            idle.empty = 0;
            continue;
        }
        int phase = __atomic_load_n(&app->phase, __ATOMIC_ACQUIRE);
        if (phase == APP_ABORT)
            break;
        wm_counter_add(w->ctr, WM_WK_EMPTY_POLLS, 1);
        if (phase == APP_STOP_RX) {
            if (finished(w))
                break;
            /* A queue is quiet after quiet_us empty polls: drain at the
             * short-wait pace (adaptive spins and yields, never sleeps). */
            wm_idle_wait(&w->idle, &idle.empty);
            continue;
        }
        uint32_t action = wm_idle_poll(&w->idle, &idle);
        if (action == WM_IDLE_YIELD)
            wm_counter_add(w->ctr, WM_WK_IDLE_YIELDS, 1);
        else if (action == WM_IDLE_NAP)
            wm_counter_add(w->ctr, WM_WK_IDLE_SLEEPS, 1);
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

int wm_app_start_worker(struct wm_app *app, uint32_t queue_mask, uint32_t shard_mask,
                        const struct wm_idle_policy *idle, int *tid)
{
    if (!app || !idle || wm_idle_name(idle->strategy) == NULL)
        return fail(-EINVAL, "bad idle policy");
    if (app->n_workers == WM_APP_MAX_WORKERS)
        return fail(-ENOSPC, "at most %d workers", WM_APP_MAX_WORKERS);
    uint32_t all_q = app->cfg.n_queues >= 32 ? ~0u : (1u << app->cfg.n_queues) - 1;
    uint32_t all_s = (1u << app->cfg.n_shards) - 1;
    if ((queue_mask & ~all_q) || (shard_mask & ~all_s) || (!queue_mask && !shard_mask))
        return fail(-EINVAL, "queue mask %#x / shard mask %#x name no stage or a missing one",
                    queue_mask, shard_mask);
    if ((queue_mask & app->queue_owned) || (shard_mask & app->shard_owned))
        return fail(-EINVAL, "a stage already has a worker");
    for (uint32_t q = 0; q < app->cfg.n_queues; q++)
        if ((queue_mask & (1u << q)) && !app->rx[q]->nq)
            return fail(-EINVAL, "queue %u has no NIC queue", q);
    for (uint32_t s = 0; s < app->cfg.n_shards; s++)
        if ((shard_mask & (1u << s)) && !app->en[s]->m)
            return fail(-EINVAL, "shard %u has no matcher", s);
    uint32_t i = app->n_workers;
    struct app_worker *w = &app->workers[i];
    memset(w, 0, sizeof(*w));
    w->app = app;
    w->queue_mask = queue_mask;
    w->shard_mask = shard_mask;
    w->idle = *idle;
    w->ctr = counters(app, "worker", 'w', i, worker_names, WM_WK_N_COUNTERS);
    if (!w->ctr)
        return -ENOSPC;
    for (uint32_t s = 0; s < app->cfg.n_shards; s++)
        if (shard_mask & (1u << s))
            app->en[s]->worker = i;
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc)
        return fail(-rc, "cannot start a worker thread: %s", strerror(rc));
    w->started = 1;
    app->n_workers++;
    app->queue_owned |= queue_mask;
    app->shard_owned |= shard_mask;
    while (__atomic_load_n(&w->tid, __ATOMIC_ACQUIRE) == 0)
        sched_yield();
    if (tid)
        *tid = w->tid;
    return (int)i;
}

int wm_app_running(const struct wm_app *app)
{
    for (uint32_t i = 0; i < app->n_workers; i++)
        if (app->workers[i].started && !__atomic_load_n(&app->workers[i].done, __ATOMIC_ACQUIRE))
            return 1;
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int wm_app_stop(struct wm_app *app, uint32_t quiet_us, uint32_t timeout_ms)
{
    if (!app)
        return -EINVAL;
    if (app->n_workers && (app->queue_owned != (1u << app->cfg.n_queues) - 1 ||
                           app->shard_owned != (1u << app->cfg.n_shards) - 1)) {
        /* Stages without a worker can never drain: do not wait for them. */
        timeout_ms = 0;
    }
    /* Empty polls that make a queue quiet: about quiet_us of polling. */
    app->quiet_polls = quiet_us ? quiet_us : 1;
    __atomic_store_n(&app->phase, APP_STOP_RX, __ATOMIC_RELEASE);
    uint64_t deadline = now_ms() + timeout_ms;
    int rc = 0;
    while (wm_app_running(app)) {
        if (now_ms() >= deadline) {
            __atomic_store_n(&app->phase, APP_ABORT, __ATOMIC_RELEASE);
            rc = fail(-ETIMEDOUT, "the stages did not drain in %u ms", timeout_ms);
            break;
        }
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    for (uint32_t i = 0; i < app->n_workers; i++) {
        if (app->workers[i].started) {
            pthread_join(app->workers[i].thread, NULL);
            app->workers[i].started = 0;
        }
    }
    for (uint32_t s = 0; s < app->cfg.n_shards; s++)
        if (app->en[s] && app->en[s]->m)
            app_engine_mirror(app->en[s]);
    return rc;
}

int wm_app_control(struct wm_app *app, uint32_t shard, uint32_t op, uint32_t arg,
                   uint32_t timeout_ms, struct wm_app_ctl_answer *answer)
{
    if (!app || shard >= app->cfg.n_shards || op < WM_APP_CTL_HALT || op > WM_APP_CTL_STATUS)
        return fail(-EINVAL, "bad control request (shard %u, op %u)", shard, op);
    if (!(app->shard_owned & (1u << shard)) || !wm_app_running(app))
        return fail(-ESRCH, "shard %u's engine is not running", shard);
    struct app_engine *en = app->en[shard];
    struct app_ctl c;
    memset(&c, 0, sizeof(c));
    c.id = ++app->ctl_next_id;
    c.op = op;
    c.arg = arg;
    if (wm_ring_mp_enqueue(en->ctl, &c) != 0)
        return fail(-EAGAIN, "shard %u's control ring is full", shard);
    uint64_t deadline = now_ms() + timeout_ms;
    while (__atomic_load_n(&en->answer->id, __ATOMIC_ACQUIRE) != c.id) {
        if (now_ms() >= deadline)
            return fail(-ETIMEDOUT, "shard %u did not answer in %u ms", shard, timeout_ms);
        struct timespec ts = { 0, 50000 };
        nanosleep(&ts, NULL);
    }
    if (answer)
        memcpy(answer, en->answer, sizeof(*answer));
    return 0;
}

void wm_app_destroy(struct wm_app *app)
{
    if (!app)
        return;
    if (wm_app_running(app))
        wm_app_stop(app, 1000, 5000);
    for (uint32_t q = 0; q < WM_APP_MAX_QUEUES; q++) {
        if (app->rx[q]) {
            for (uint32_t s = 0; s < WM_APP_MAX_SHARDS; s++)
                free(app->rx[q]->pend[s]);
            free(app->rx[q]->hold_arena);
            wm_mold_seq_destroy(app->rx[q]->seq);
        }
        free(app->rx[q]);
        free(app->tx[q]);
    }
    for (uint32_t s = 0; s < WM_APP_MAX_SHARDS; s++) {
        if (app->en[s]) {
            free(app->en[s]->arena);
            wm_gw_fini(&app->en[s]->gw);
        }
        free(app->en[s]);
    }
    free(app);
}
