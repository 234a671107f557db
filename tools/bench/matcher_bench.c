/* matcher_bench - the matching engine on one pinned core (docs/matching.md,
 * "Benchmark").  Prints one JSON object per line.
 *
 *   matcher_bench [--mode throughput|latency|callgrind] [--orders N]
 *                 [--levels L] [--cmds N] [--seed S] [--cpu C] [--batch B]
 *                 [--recent PCT] [--reps K]   (K timed runs from one generated stream)
 *                 [--mix A,C,R,G]             (percent add,cancel,replace,aggressive)
 *                 [--lat-batch B]             (burst size of the batched latency run)
 *                 [--window W]                (dense ladder window, ticks; default 16384)
 *                 [--drift T]                 (the fair price rises a tick every T commands)
 *                 [--dump-stream FILE]        (write the prefill and the stream, see below)
 *                 [--options O]               (throughput: the timed matcher's
 *                                              wm_matcher_config.options)
 *
 * Workload (seeded, generated before timing): one instrument, N resting
 * orders spread over L price levels per side around the reference price, then
 * a mixed stream of commands:
 *   48% add      passive DAY limit within 10 ticks of its own best
 *   30% cancel   PCT% (default 50) a recent order (one of the last 256 ids
 *                of a random session), the rest any live order, uniformly
 *   10% replace  live order: half a quantity decrease (keeps priority), half
 *                a move of 1..3 ticks away from the touch (loses priority)
 *   12% aggressive IOC limit at the contra best + 0..2 ticks, 1..120 lots
 * The stream is generated against a generator matcher (same code, same seed)
 * so that cancels and replaces name live orders; the timed matcher then
 * replays it from the same prefill and produces the same events.
 *
 * --levels above 8000 a side (a deep book) needs --window large enough or
 * lands in the matcher's fallback structure: measured as it is.  The
 * instrument gets max(65536, 2 x levels + 65536) levels.
 *
 * --drift T: a fair price starts at the reference price and rises one tick
 * every T commands.  Adds are placed 1..10 ticks from the fair price on
 * their own side (never crossing the contra best); an aggressive order buys
 * when the best ask is at or below the fair price, sells when the best bid
 * is at or above it, else either side.  Without --drift the generator is
 * the one above, draw for draw.
 *
 * --dump-stream FILE writes the prefill and the stream before the timed
 * phase (format in matcher_stream.h): peer engines replay it
 * (liquibook_bench), so every engine runs the same commands.
 *
 * throughput: median-able M commands/s applying the stream in batches.  With
 *             --options (hash and/or LEVEL events off) the events differ from
 *             the generator's, so the run checks the book instead: trades,
 *             live orders, levels and best prices equal the generator's
 *             ("state_ok"; "hash_ok" is null).
 * latency:    per-command TSC time, p50/p99/p99.9 per type, two ways:
 *             alone (lfence;rdtsc .. rdtscp;lfence around a wm_matcher_apply
 *             of one command: no prefetch, every miss shows), and batched
 *             (bursts of --lat-batch, default 32, through a copy of the
 *             matcher built with per-command stamps inside its batch loop).
 * callgrind:  run under valgrind --tool=callgrind --instr-atstart=no; only
 *             the mixed phase is instrumented.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "matcher_stream.h"
#include "wirematch.h"

/* The matcher compiled a second time into this program, with per-command
 * TSC stamps inside wm_matcher_apply's batch loop (WM_MATCHER_CMD_TSC) and
 * its entry points renamed timed_wm_matcher_*: the batched latency mode
 * uses it.  Same source, same compiler flags; everything else here
 * (throughput, latency alone, callgrind) runs the library's matcher.  The
 * hook adds no field to any struct, so a matcher made by the library can be
 * driven by the timed copy. */
#define WM_MATCHER_CMD_TSC 1
#define wm_matcher_add_instrument timed_wm_matcher_add_instrument
#define wm_matcher_apply timed_wm_matcher_apply
#define wm_matcher_apply_indexed timed_wm_matcher_apply_indexed
#define wm_matcher_counter_count timed_wm_matcher_counter_count
#define wm_matcher_counter_name timed_wm_matcher_counter_name
#define wm_matcher_counter_value timed_wm_matcher_counter_value
#define wm_matcher_create timed_wm_matcher_create
#define wm_matcher_depth_at timed_wm_matcher_depth_at
#define wm_matcher_destroy timed_wm_matcher_destroy
#define wm_matcher_hash timed_wm_matcher_hash
#define wm_matcher_hash_event timed_wm_matcher_hash_event
#define wm_matcher_instrument_status timed_wm_matcher_instrument_status
#define wm_matcher_l2 timed_wm_matcher_l2
#define wm_matcher_l3 timed_wm_matcher_l3
#define wm_matcher_last_seq timed_wm_matcher_last_seq
#define wm_matcher_live_orders timed_wm_matcher_live_orders
#define wm_matcher_order_info timed_wm_matcher_order_info
#define wm_matcher_pending timed_wm_matcher_pending
#define wm_matcher_reset timed_wm_matcher_reset
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include "matcher/matcher.c"
#pragma GCC diagnostic pop
#undef wm_matcher_add_instrument
#undef wm_matcher_apply
#undef wm_matcher_apply_indexed
#undef wm_matcher_counter_count
#undef wm_matcher_counter_name
#undef wm_matcher_counter_value
#undef wm_matcher_create
#undef wm_matcher_depth_at
#undef wm_matcher_destroy
#undef wm_matcher_hash
#undef wm_matcher_hash_event
#undef wm_matcher_instrument_status
#undef wm_matcher_l2
#undef wm_matcher_l3
#undef wm_matcher_last_seq
#undef wm_matcher_live_orders
#undef wm_matcher_order_info
#undef wm_matcher_pending
#undef wm_matcher_reset

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#else
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#define HAVE_CALLGRIND 0
#endif

enum { K_ADD, K_CANCEL, K_REPLACE, K_AGGR, K_N };
static const char *const kind_name[K_N] = {"add", "cancel", "replace", "aggressive"};

#define REF_PRICE 1000000
#define INSTR 0

struct opts {
    const char *mode;
    const char *dump; /* --dump-stream FILE or NULL */
    uint32_t orders, levels, cmds, batch, recent, reps, lat_batch, window, drift;
    uint64_t seed;
    int cpu;
    uint32_t options; /* wm_matcher_config.options of the timed matcher (throughput) */
};

static uint32_t window_ticks = 16384; /* --window */
static uint32_t max_levels = 65536;   /* max(65536, 2 x --levels + 65536) */
static uint32_t drift_every;          /* --drift: commands per tick, 0 = none */

static uint64_t rng_state;
static inline uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline uint32_t rnd_below(uint32_t n)
{
    return (uint32_t)(((rnd() >> 32) * (uint64_t)n) >> 32);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double tsc_ghz(void)
{
    double t0 = now_s();
    uint64_t c0 = __rdtsc();
    while (now_s() - t0 < 0.05)
        ;
    double t1 = now_s();
    uint64_t c1 = __rdtsc();
    return (double)(c1 - c0) / ((t1 - t0) * 1e9);
}

static struct wm_matcher *make_matcher(uint32_t max_orders, uint32_t options)
{
    struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = max_orders,
                                   .options = options};
    struct wm_matcher *m;
    if (wm_matcher_create(&mc, &m) < 0) {
        fprintf(stderr, "wm_matcher_create failed\n");
        exit(1);
    }
    struct wm_instrument_config ic = {
        .id = INSTR,
        .max_levels = max_levels,
        .window_ticks = window_ticks,
        .tick_size = 1,
        .lot_size = 1,
        .min_order_qty = 1,
        .max_order_qty = 1000000,
        .ref_price = REF_PRICE,
        .price_band = 0,
    };
    if (wm_matcher_add_instrument(m, &ic) < 0) {
        fprintf(stderr, "wm_matcher_add_instrument failed\n");
        exit(1);
    }
    return m;
}

/* Client ids are per session and strictly increasing (OUCH 5.0 UserRefNum
 * rules); the generator's tables are indexed by key(session, client id). */
#define NSESSIONS 64
static uint64_t per_session;             /* ids per session (table stride) */
static uint64_t next_cid[NSESSIONS + 1]; /* next client id per session */
static inline uint64_t key(uint32_t session, uint64_t cid)
{
    return (uint64_t)(session - 1) * per_session + cid;
}
static inline uint64_t take_cid(uint32_t session)
{
    uint64_t c = next_cid[session]++;
    if (c >= per_session) {
        fprintf(stderr, "session %u ran out of ids\n", session);
        exit(1);
    }
    return c;
}

/* ---- workload generation -------------------------------------------------- */

struct live_set {            /* live client ids, O(1) add/remove/pick */
    uint64_t *ids;
    uint32_t n;
    uint32_t *pos;           /* by client id */
    int64_t *leaves;         /* by client id */
    int64_t *price;          /* by client id */
    uint8_t *side;           /* by client id */
};

static void live_add(struct live_set *l, uint64_t id, int64_t leaves, int64_t price, uint8_t side)
{
    l->pos[id] = l->n;
    l->ids[l->n++] = id;
    l->leaves[id] = leaves;
    l->price[id] = price;
    l->side[id] = side;
}

static void live_del(struct live_set *l, uint64_t id)
{
    uint32_t p = l->pos[id];
    uint64_t last = l->ids[--l->n];
    l->ids[p] = last;
    l->pos[last] = p;
    l->pos[id] = UINT32_MAX;
    l->leaves[id] = 0;
}

static void track(struct live_set *l, const struct wm_event *e, int n)
{
    for (int i = 0; i < n; i++, e++) {
        uint64_t id = key(e->session, e->client_id);
        switch (e->type) {
        case WM_EV_BOOKED:
            live_add(l, id, e->qty, e->price, e->flags & 3);
            break;
        case WM_EV_EXECUTED:
            if (e->flags & WM_EVF_MAKER) {
                l->leaves[id] -= e->qty;
                if (l->leaves[id] == 0)
                    live_del(l, id);
            }
            break;
        case WM_EV_CANCELLED:
            if (l->pos[id] == UINT32_MAX)
                break; /* a taker's remainder */
            if (e->flags & WM_EVF_PARTIAL)
                l->leaves[id] -= e->qty;
            else
                live_del(l, id);
            break;
        case WM_EV_REPLACED:
            if (e->flags & WM_EVF_IN_PLACE) {
                uint64_t old = key(e->session, e->aux), nw = id;
                uint32_t p = l->pos[old];
                l->ids[p] = nw;
                l->pos[nw] = p;
                l->pos[old] = UINT32_MAX;
                l->leaves[nw] = e->qty;
                l->price[nw] = e->price;
                l->side[nw] = l->side[old];
                l->leaves[old] = 0;
            }
            break;
        default:
            break;
        }
    }
}

static struct wm_event evbuf[1 << 16];

static unsigned apply_all(struct wm_matcher *m, const struct wm_cmd *c, unsigned n,
                          struct live_set *track_to)
{
    unsigned done = 0, total = 0;
    while (done < n || wm_matcher_pending(m)) {
        unsigned used;
        int k = wm_matcher_apply(m, c + done, n - done, evbuf, 1 << 16, &used);
        if (k < 0) {
            fprintf(stderr, "apply failed %d\n", k);
            exit(1);
        }
        if (track_to)
            track(track_to, evbuf, k);
        done += used;
        total += (unsigned)k;
    }
    return total;
}

static void prefill_cmds(const struct opts *o, struct wm_cmd *c)
{
    for (uint32_t i = 0; i < o->orders; i++) {
        memset(&c[i], 0, sizeof(c[i]));
        int sell = i & 1;
        uint32_t k = 1 + rnd_below(o->levels);
        c[i].type = WM_CMD_NEW;
        c[i].session = 1 + rnd_below(NSESSIONS);
        c[i].client_id = take_cid(c[i].session);
        c[i].account = c[i].session;
        c[i].instrument = INSTR;
        c[i].side = sell ? WM_SIDE_SELL : WM_SIDE_BUY;
        c[i].ord_type = WM_ORD_LIMIT;
        c[i].tif = WM_TIF_DAY;
        c[i].price = sell ? REF_PRICE + k : REF_PRICE - k;
        c[i].qty = 1 + rnd_below(100);
        c[i].ts = i;
    }
}

/* Pick a live order: recent_pct% from the last 256 ids of a random session,
 * the rest uniformly among all live orders. */
static uint32_t recent_pct = 50;
static uint32_t mix[K_N] = {48, 30, 10, 12}; /* percent: add, cancel, replace, aggressive */

static uint64_t pick_live(const struct live_set *l)
{
    if (rnd_below(100) < recent_pct) {
        for (int tries = 0; tries < 4; tries++) {
            uint32_t s = 1 + rnd_below(NSESSIONS);
            uint64_t last = next_cid[s] - 1, span = last < 256 ? last : 256;
            if (span == 0)
                continue;
            uint64_t id = key(s, last - rnd_below((uint32_t)span));
            if (l->pos[id] != UINT32_MAX)
                return id;
        }
    }
    return l->ids[rnd_below(l->n)];
}

/* An add or aggressive order around a drifting fair price (--drift). */
static void gen_drifting(struct wm_cmd *x, int kind, const struct wm_instrument_status *st,
                         int64_t fair)
{
    int sell;
    if (kind == K_AGGR && st->best_ask && st->best_ask <= fair)
        sell = 0;
    else if (kind == K_AGGR && st->best_bid && st->best_bid >= fair)
        sell = 1;
    else
        sell = rnd() & 1;
    x->type = WM_CMD_NEW;
    x->session = 1 + rnd_below(NSESSIONS);
    x->client_id = take_cid(x->session);
    x->account = x->session;
    x->side = sell ? WM_SIDE_SELL : WM_SIDE_BUY;
    x->ord_type = WM_ORD_LIMIT;
    if (kind == K_ADD) {
        x->tif = WM_TIF_DAY;
        int64_t off = 1 + rnd_below(10);
        x->price = sell ? fair + off : fair - off;
        if (sell && st->best_bid && x->price <= st->best_bid)
            x->price = st->best_bid + 1;
        if (!sell && st->best_ask && x->price >= st->best_ask)
            x->price = st->best_ask - 1;
        x->qty = 1 + rnd_below(100);
    } else {
        x->tif = WM_TIF_IOC;
        int64_t contra = sell ? (st->best_bid ? st->best_bid : fair)
                              : (st->best_ask ? st->best_ask : fair);
        int64_t off = rnd_below(3);
        x->price = sell ? contra - off : contra + off;
        x->qty = 1 + rnd_below(120);
    }
}

/* Generates the stream against gm; returns the most orders live after any
 * command (the timed matchers are made large enough for it). */
static uint32_t gen_mixed(const struct opts *o, struct wm_cmd *c, uint8_t *kinds,
                          struct wm_matcher *gm, struct live_set *l)
{
    struct wm_instrument_status st;
    uint32_t peak = wm_matcher_live_orders(gm);
    for (uint32_t i = 0; i < o->cmds; i++) {
        struct wm_cmd *x = &c[i];
        memset(x, 0, sizeof(*x));
        wm_matcher_instrument_status(gm, INSTR, &st);
        uint32_t r = rnd_below(100);
        int kind = r < mix[0]                     ? K_ADD
                   : r < mix[0] + mix[1]          ? K_CANCEL
                   : r < mix[0] + mix[1] + mix[2] ? K_REPLACE
                                                  : K_AGGR;
        if ((kind == K_CANCEL || kind == K_REPLACE) && l->n == 0)
            kind = K_ADD;
        x->ts = 1000000 + i;
        x->instrument = INSTR;
        if (drift_every && (kind == K_ADD || kind == K_AGGR)) {
            gen_drifting(x, kind, &st, REF_PRICE + i / drift_every);
        } else if (kind == K_ADD || kind == K_AGGR) {
            int sell = rnd() & 1;
            x->type = WM_CMD_NEW;
            x->session = 1 + rnd_below(NSESSIONS);
            x->client_id = take_cid(x->session);
            x->account = x->session;
            x->side = sell ? WM_SIDE_SELL : WM_SIDE_BUY;
            x->ord_type = WM_ORD_LIMIT;
            if (kind == K_ADD) {
                x->tif = WM_TIF_DAY;
                int64_t own = sell ? (st.best_ask ? st.best_ask : REF_PRICE + 1)
                                   : (st.best_bid ? st.best_bid : REF_PRICE - 1);
                int64_t off = rnd_below(10);
                x->price = sell ? own + off : own - off;
                if (sell && st.best_bid && x->price <= st.best_bid)
                    x->price = st.best_bid + 1;
                if (!sell && st.best_ask && x->price >= st.best_ask)
                    x->price = st.best_ask - 1;
                x->qty = 1 + rnd_below(100);
            } else {
                x->tif = WM_TIF_IOC;
                int64_t contra = sell ? (st.best_bid ? st.best_bid : REF_PRICE)
                                      : (st.best_ask ? st.best_ask : REF_PRICE);
                int64_t off = rnd_below(3);
                x->price = sell ? contra - off : contra + off;
                x->qty = 1 + rnd_below(120);
            }
        } else {
            uint64_t id = pick_live(l);
            x->type = kind == K_CANCEL ? WM_CMD_CANCEL : WM_CMD_REPLACE;
            x->session = (uint32_t)(id / per_session) + 1;
            x->client_id = id % per_session;
            if (kind == K_REPLACE) {
                int64_t leaves = l->leaves[id];
                x->new_client_id = take_cid(x->session);
                if ((rnd() & 1) && leaves > 1) {
                    x->price = l->price[id];
                    x->qty = 1 + rnd_below((uint32_t)(leaves - 1));
                } else {
                    int64_t mv = 1 + rnd_below(3);
                    x->price = l->side[id] == WM_SIDE_SELL ? l->price[id] + mv : l->price[id] - mv;
                    x->qty = leaves;
                }
            }
        }
        kinds[i] = (uint8_t)kind;
        apply_all(gm, x, 1, l);
        if (wm_matcher_live_orders(gm) > peak)
            peak = wm_matcher_live_orders(gm);
    }
    return peak;
}

struct workload {
    struct wm_cmd *prefill;
    struct wm_cmd *mixed;
    uint8_t *kinds;
    uint64_t expect_hash;
    uint32_t capacity; /* max_orders of the timed matchers */
    /* The generator's book after the stream (checked by --options runs). */
    uint64_t expect_trades;
    uint32_t expect_live;
    struct wm_instrument_status expect_status;
};

/* Orders live before the 1024 the capacity keeps spare: the prefill plus
 * half (the default mix grows the book by ~6% over its 2M commands), or
 * the stream's peak when it grows more (an add-heavy --mix).  A command
 * rejected for capacity would be timed as a cheap reject, not as the
 * command the workload names, so the capacity never runs out. */
static uint32_t capacity_for(uint32_t orders, uint32_t peak)
{
    uint32_t base = orders + orders / 2;
    return (peak > base ? peak : base) + 1024;
}

static uint64_t counter(const struct wm_matcher *m, const char *name)
{
    for (unsigned i = 0; i < wm_matcher_counter_count(); i++)
        if (strcmp(wm_matcher_counter_name(i), name) == 0)
            return wm_matcher_counter_value(m, i);
    return 0;
}

static void build(const struct opts *o, struct workload *w)
{
    rng_state = o->seed;
    per_session = ((uint64_t)o->orders + 2 * (uint64_t)o->cmds) / NSESSIONS * 3 / 2 + 4096;
    for (int s = 0; s <= NSESSIONS; s++)
        next_cid[s] = 1;
    size_t max_ids = (size_t)(per_session * NSESSIONS);
    struct live_set l = {
        .ids = malloc(max_ids * sizeof(uint64_t)),
        .pos = malloc(max_ids * sizeof(uint32_t)),
        .leaves = calloc(max_ids, sizeof(int64_t)),
        .price = calloc(max_ids, sizeof(int64_t)),
        .side = calloc(max_ids, 1),
    };
    w->prefill = malloc((size_t)o->orders * sizeof(struct wm_cmd));
    w->mixed = malloc((size_t)o->cmds * sizeof(struct wm_cmd));
    w->kinds = malloc(o->cmds);
    if (!l.ids || !l.pos || !l.leaves || !l.price || !l.side || !w->prefill ||
        !w->mixed || !w->kinds) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    memset(l.pos, 0xff, max_ids * sizeof(uint32_t));
    prefill_cmds(o, w->prefill);
    /* The generator never runs out of room: every add of the stream fits. */
    struct wm_matcher *gm = make_matcher(o->orders + o->cmds + 1024, 0);
    apply_all(gm, w->prefill, o->orders, &l);
    uint64_t trades0 = counter(gm, "trades");
    w->capacity = capacity_for(o->orders, gen_mixed(o, w->mixed, w->kinds, gm, &l));
    w->expect_hash = wm_matcher_hash(gm);
    w->expect_trades = counter(gm, "trades") - trades0;
    w->expect_live = wm_matcher_live_orders(gm);
    wm_matcher_instrument_status(gm, INSTR, &w->expect_status);
    wm_matcher_destroy(gm);
    free(l.ids);
    free(l.pos);
    free(l.leaves);
    free(l.price);
    free(l.side);
}

static void stream_rec_of(const struct wm_cmd *c, uint8_t kind, struct wm_stream_rec *r)
{
    memset(r, 0, sizeof(*r));
    static const uint8_t kind_of[K_N] = {MS_ADD, MS_CANCEL, MS_REPLACE, MS_AGGRESSIVE};
    r->kind = kind_of[kind];
    r->side = c->side == WM_SIDE_SELL ? MS_SELL : MS_BUY;
    r->id = key(c->session, c->client_id);
    r->new_id = kind == K_REPLACE ? key(c->session, c->new_client_id) : 0;
    r->price = c->price;
    r->qty = c->qty;
}

/* --dump-stream: the prefill and the stream (matcher_stream.h); returns
 * -errno, the file is removed on failure. */
static int dump_stream(const char *path, const struct opts *o, const struct workload *w)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -errno;
    struct wm_stream_header h = {.orders = o->orders, .cmds = o->cmds,
                                 .id_space = per_session * NSESSIONS};
    memcpy(h.magic, WM_STREAM_MAGIC, sizeof(WM_STREAM_MAGIC));
    int ok = fwrite(&h, sizeof(h), 1, f) == 1;
    struct wm_stream_rec r;
    for (uint32_t i = 0; ok && i < o->orders; i++) {
        stream_rec_of(&w->prefill[i], K_ADD, &r);
        ok = fwrite(&r, sizeof(r), 1, f) == 1;
    }
    for (uint32_t i = 0; ok && i < o->cmds; i++) {
        stream_rec_of(&w->mixed[i], w->kinds[i], &r);
        ok = fwrite(&r, sizeof(r), 1, f) == 1;
    }
    int err = ok ? 0 : (errno ? -errno : -EIO);
    if (fclose(f) != 0 && err == 0)
        err = -errno;
    if (err)
        remove(path);
    return err;
}

static struct wm_matcher *fresh(const struct opts *o, const struct workload *w)
{
    struct wm_matcher *m = make_matcher(w->capacity, o->options);
    apply_all(m, w->prefill, o->orders, NULL);
    return m;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One JSON line per command kind: "<kind>_latency" (batched) or
 * "<kind>_latency_alone"; sorts lat[k]. */
static void print_latency(const char *how, uint64_t **lat, const unsigned *nl, double ghz)
{
    for (int k = 0; k < K_N; k++) {
        unsigned n = nl[k];
        if (n == 0)
            continue;
        qsort(lat[k], n, sizeof(uint64_t), cmp_u64);
        printf("{\"case\": \"%s_latency%s\", \"count\": %u, \"p50_ns\": %.2f, "
               "\"p99_ns\": %.2f, \"p999_ns\": %.2f, \"max_ns\": %.2f}\n",
               kind_name[k], strcmp(how, "alone") == 0 ? "_alone" : "", n, lat[k][n / 2] / ghz,
               lat[k][(size_t)(n * 0.99)] / ghz, lat[k][(size_t)(n * 0.999)] / ghz,
               lat[k][n - 1] / ghz);
    }
}

/* The control for the latency figures: a fixed computation with no memory
 * access (a dependent chain of CONTROL_CHAIN multiplies, ~3 cycles each:
 * 40 ns here with the stamps, near an add's p50) timed alone with the batched run's stamps
 * (lfence; rdtsc), CONTROL_N times.  It does the same work every time, so
 * its spread is the machine's own (interrupts, the hypervisor, clock
 * changes); what a command's p99 exceeds it by is the matcher's. */
#define CONTROL_CHAIN 40
#define CONTROL_N 200000
static void print_control(double ghz)
{
    uint64_t *t = malloc(CONTROL_N * sizeof(uint64_t));
    if (t == NULL)
        return;
    uint64_t x = 3;
    for (int i = 0; i < CONTROL_N; i++) {
        _mm_lfence();
        uint64_t a = __rdtsc();
        for (int j = 0; j < CONTROL_CHAIN; j++)
            __asm__ volatile("imul %0, %0" : "+r"(x));
        x |= 3;
        _mm_lfence();
        t[i] = __rdtsc() - a;
    }
    qsort(t, CONTROL_N, sizeof(uint64_t), cmp_u64);
    printf("{\"case\": \"control_latency\", \"chain\": %d, \"count\": %d, \"p50_ns\": %.2f, "
           "\"p99_ns\": %.2f, \"p999_ns\": %.2f, \"odd\": %llu}\n",
           CONTROL_CHAIN, CONTROL_N, t[CONTROL_N / 2] / ghz, t[CONTROL_N / 100 * 99] / ghz,
           t[CONTROL_N / 1000 * 999] / ghz, (unsigned long long)(x & 1));
    free(t);
}

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        fprintf(stderr, "sched_setaffinity(%d): %s\n", cpu, strerror(errno));
}

int main(int argc, char **argv)
{
    struct opts o = {.mode = "throughput", .orders = 1000000, .levels = 250, .cmds = 2000000,
                     .batch = 64, .seed = 42, .cpu = -1, .recent = 50, .reps = 1, .lat_batch = 32,
                     .window = 16384};
    static const struct option lo[] = {
        {"mode", 1, 0, 'm'}, {"orders", 1, 0, 'o'}, {"levels", 1, 0, 'l'}, {"cmds", 1, 0, 'n'},
        {"seed", 1, 0, 's'}, {"cpu", 1, 0, 'c'},    {"batch", 1, 0, 'b'},  {"recent", 1, 0, 'r'},
        {"reps", 1, 0, 'k'}, {"mix", 1, 0, 'x'}, {"lat-batch", 1, 0, 'L'},
        {"window", 1, 0, 'w'}, {"drift", 1, 0, 'd'}, {"dump-stream", 1, 0, 'D'},
        {"options", 1, 0, 'O'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'm': o.mode = optarg; break;
        case 'o': o.orders = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'l': o.levels = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'n': o.cmds = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 's': o.seed = strtoull(optarg, NULL, 0); break;
        case 'c': o.cpu = atoi(optarg); break;
        case 'b': o.batch = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'r': o.recent = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'k': o.reps = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'L': o.lat_batch = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'w': o.window = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'd': o.drift = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'D': o.dump = optarg; break;
        case 'O': o.options = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'x':
            if (sscanf(optarg, "%u,%u,%u,%u", &mix[0], &mix[1], &mix[2], &mix[3]) != 4 ||
                mix[0] + mix[1] + mix[2] + mix[3] != 100) {
                fprintf(stderr, "--mix add,cancel,replace,aggressive (percent, sum 100)\n");
                return 2;
            }
            break;
        default: fprintf(stderr, "usage: see the header of matcher_bench.c\n"); return 2;
        }
    }
    if (o.batch == 0 || o.lat_batch == 0 || o.cmds == 0 || o.orders == 0 || o.levels == 0 ||
        o.levels >= REF_PRICE / 2)
        return 2;
    if (o.window < 64 || o.window > 262144 || (o.window & (o.window - 1))) {
        fprintf(stderr, "--window: a power of two, 64..262144\n");
        return 2;
    }
    window_ticks = o.window;
    max_levels = 2 * o.levels + 65536 > 65536 ? 2 * o.levels + 65536 : 65536;
    drift_every = o.drift;
    if (o.options && strcmp(o.mode, "throughput") != 0) {
        fprintf(stderr, "--options applies to --mode throughput only\n");
        return 2;
    }
    pin(o.cpu);
    recent_pct = o.recent;
    struct workload w;
    build(&o, &w);
    if (o.dump) {
        int err = dump_stream(o.dump, &o, &w);
        if (err) {
            fprintf(stderr, "--dump-stream %s: %s\n", o.dump, strerror(-err));
            return 1;
        }
    }
    unsigned kcount[K_N] = {0};
    for (uint32_t i = 0; i < o.cmds; i++)
        kcount[w.kinds[i]]++;
    struct wm_matcher *m = fresh(&o, &w);
    struct wm_instrument_status st;
    wm_matcher_instrument_status(m, INSTR, &st);
    printf("{\"case\": \"workload\", \"orders\": %u, \"bid_levels\": %u, \"ask_levels\": %u, "
           "\"cmds\": %u, \"add\": %u, \"cancel\": %u, \"replace\": %u, \"aggressive\": %u, "
           "\"seed\": %llu, \"cpu\": %d, \"capacity\": %u, \"window\": %u, \"drift\": %u, "
           "\"batch\": %u}\n",
           wm_matcher_live_orders(m), st.bid_levels, st.ask_levels, o.cmds, kcount[K_ADD],
           kcount[K_CANCEL], kcount[K_REPLACE], kcount[K_AGGR], (unsigned long long)o.seed,
           o.cpu, w.capacity, o.window, o.drift, o.batch);

    if (strcmp(o.mode, "throughput") == 0) {
      for (uint32_t rep = 0; rep < o.reps; rep++) {
        if (rep > 0) {
            wm_matcher_destroy(m);
            m = fresh(&o, &w);
        }
        uint64_t trades0 = counter(m, "trades"), rejected0 = counter(m, "rejected");
        unsigned events = 0;
        double t0 = now_s();
        for (uint32_t i = 0; i < o.cmds; i += o.batch) {
            unsigned n = o.cmds - i < o.batch ? o.cmds - i : o.batch;
            events += apply_all(m, w.mixed + i, n, NULL);
        }
        double t1 = now_s();
        uint64_t trades = counter(m, "trades") - trades0;
        uint64_t rejected = counter(m, "rejected") - rejected0;
        struct wm_instrument_status st2;
        wm_matcher_instrument_status(m, INSTR, &st2);
        const struct wm_instrument_status *es = &w.expect_status;
        bool state_ok = trades == w.expect_trades && wm_matcher_live_orders(m) == w.expect_live &&
                        st2.bid_levels == es->bid_levels && st2.ask_levels == es->ask_levels &&
                        st2.best_bid == es->best_bid && st2.best_ask == es->best_ask;
        printf("{\"case\": \"mixed_throughput\", \"mcmd_per_s\": %.4f, \"seconds\": %.6f, "
               "\"events\": %u, \"trades\": %llu, \"rejected\": %llu, \"live_after\": %u, "
               "\"levels_after\": %u, "
               "\"fallback_levels_after\": %u, \"best_bid_after\": %lld, "
               "\"best_ask_after\": %lld, \"options\": %u, \"state_ok\": %s, \"hash_ok\": %s}\n",
               o.cmds / (t1 - t0) / 1e6, t1 - t0, events, (unsigned long long)trades,
               (unsigned long long)rejected,
               wm_matcher_live_orders(m), st2.bid_levels + st2.ask_levels, st2.levels_in_fallback,
               (long long)st2.best_bid, (long long)st2.best_ask, o.options,
               state_ok ? "true" : "false",
               o.options ? "null" : wm_matcher_hash(m) == w.expect_hash ? "true" : "false");
        fflush(stdout);
      }
    } else if (strcmp(o.mode, "latency") == 0) {
        double ghz = tsc_ghz();
        uint64_t *lat[K_N];
        unsigned nl[K_N] = {0};
        for (int k = 0; k < K_N; k++)
            lat[k] = malloc((kcount[k] + 1) * sizeof(uint64_t));
        /* timer overhead: an empty measured region */
        uint64_t *ovh = malloc(100000 * sizeof(uint64_t));
        for (int i = 0; i < 100000; i++) {
            _mm_lfence();
            uint64_t a = __rdtsc();
            unsigned aux;
            uint64_t b = __rdtscp(&aux);
            _mm_lfence();
            ovh[i] = b - a;
        }
        qsort(ovh, 100000, sizeof(uint64_t), cmp_u64);
        for (uint32_t i = 0; i < o.cmds; i++) {
            unsigned used;
            _mm_lfence();
            uint64_t a = __rdtsc();
            int k = wm_matcher_apply(m, &w.mixed[i], 1, evbuf, 1 << 16, &used);
            unsigned aux;
            uint64_t b = __rdtscp(&aux);
            _mm_lfence();
            if (k < 0 || used != 1 || wm_matcher_pending(m)) {
                fprintf(stderr, "latency run: unexpected apply result\n");
                return 1;
            }
            lat[w.kinds[i]][nl[w.kinds[i]]++] = b - a;
        }
        printf("{\"case\": \"tsc_overhead\", \"p50_ns\": %.2f, \"tsc_ghz\": %.4f, "
               "\"hash_ok\": %s}\n",
               ovh[50000] / ghz, ghz, wm_matcher_hash(m) == w.expect_hash ? "true" : "false");
        print_latency("alone", lat, nl, ghz);
        /* Batched: bursts of lat_batch commands (the ring worker's dequeue
         * size) through the timed copy; each command's time is the
         * difference of the stamps before and after it inside the batch. */
        wm_matcher_destroy(m);
        m = fresh(&o, &w);
        memset(nl, 0, sizeof(nl));
        uint64_t *stamps = malloc(((size_t)o.lat_batch + 1) * sizeof(uint64_t));
        uint64_t batch_sum = 0;
        unsigned nbatch = 0;
        for (uint32_t i = 0; i < o.cmds; i += o.lat_batch) {
            unsigned n = o.cmds - i < o.lat_batch ? o.cmds - i : o.lat_batch, used;
            mt_cmd_tsc = stamps;
            mt_cmd_tsc_n = 0;
            int k = timed_wm_matcher_apply(m, &w.mixed[i], n, evbuf, 1 << 16, &used);
            mt_cmd_tsc = NULL;
            if (k < 0 || used != n || wm_matcher_pending(m) || mt_cmd_tsc_n != n + 1) {
                fprintf(stderr, "batched latency run: unexpected apply result\n");
                return 1;
            }
            for (unsigned j = 0; j < n; j++)
                lat[w.kinds[i + j]][nl[w.kinds[i + j]]++] = stamps[j + 1] - stamps[j];
            if (n == o.lat_batch) {
                batch_sum += stamps[n] - stamps[0];
                nbatch++;
            }
        }
        free(stamps);
        printf("{\"case\": \"batched_latency\", \"batch\": %u, \"ns_per_cmd\": %.2f, "
               "\"hash_ok\": %s}\n",
               o.lat_batch, nbatch ? batch_sum / ghz / nbatch / o.lat_batch : 0.0,
               wm_matcher_hash(m) == w.expect_hash ? "true" : "false");
        print_latency("batched", lat, nl, ghz);
        print_control(ghz);
        for (int k = 0; k < K_N; k++)
            free(lat[k]);
        free(ovh);
    } else if (strcmp(o.mode, "callgrind") == 0) {
        CALLGRIND_START_INSTRUMENTATION;
        for (uint32_t i = 0; i < o.cmds; i += o.batch) {
            unsigned n = o.cmds - i < o.batch ? o.cmds - i : o.batch;
            apply_all(m, w.mixed + i, n, NULL);
        }
        CALLGRIND_STOP_INSTRUMENTATION;
        printf("{\"case\": \"callgrind\", \"cmds\": %u, \"instrumented\": %s, \"hash_ok\": %s}\n",
               o.cmds, HAVE_CALLGRIND ? "true" : "false",
               wm_matcher_hash(m) == w.expect_hash ? "true" : "false");
    } else {
        fprintf(stderr, "unknown mode %s\n", o.mode);
        return 2;
    }
    wm_matcher_destroy(m);
    free(w.prefill);
    free(w.mixed);
    free(w.kinds);
    return 0;
}
