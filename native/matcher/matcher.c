/* The matching engine: price-time priority limit order books.
 *
 * Rules, event sequences and reason codes: docs/matching.md.  Structure:
 *   - orders: one wm_pool of struct mt_order for the matcher (64 bytes each),
 *     linked into FIFO queues per level by 32-bit indices;
 *   - an open-addressing id table (linear probing, backward-shift deletion)
 *     maps (session, client id) to the order index;
 *   - per instrument: a wm_pool of levels and two ladders (ladder.h);
 *   - a resumable "job" carries a command that does not fit in the caller's
 *     event buffer over to the next wm_matcher_apply call.
 * Nothing here allocates after wm_matcher_add_instrument.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) || defined(WM_MATCHER_CMD_TSC)
#include <immintrin.h>
#endif
#include <sys/mman.h>

#include "matcher/ladder.h"
#include "wirematch/matcher.h"
#include "wirematch/pool.h"

#define NONE WM_POOL_NONE
/* Hot helpers inlined into their callers (each call cost ~10-20 instructions
 * of register saves, measured with callgrind). */
#define MT_HOT static inline __attribute__((always_inline))

/* Prefetch hints that the compiler keeps.  GCC treats __builtin_prefetch as
 * free of side effects, so a helper whose only work is prefetching is
 * found "const" and every call to it is deleted, inlined or not: written
 * with __builtin_prefetch, the batch prefetch's id-slot and link stages
 * (prefetch_slot, prefetch_links) compile to nothing (objdump of
 * matcher.o: 3 prefetch instructions in all).  An asm volatile prefetch is
 * never deleted.  A prefetch never faults, whatever the address. */
#if defined(__x86_64__) || defined(__i386__)
static inline void pf_read(const void *p)
{
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
}

/* PREFETCHW decodes as a no-op on x86 CPUs without it. */
static inline void pf_write(const void *p)
{
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
}
#elif defined(__aarch64__)
static inline void pf_read(const void *p)
{
    __asm__ volatile("prfm pldl1keep, [%0]" : : "r"(p));
}

static inline void pf_write(const void *p)
{
    __asm__ volatile("prfm pstl1keep, [%0]" : : "r"(p));
}
#else
/* Other targets: the compiler's hint (which it may drop, see above). */
static inline void pf_read(const void *p)
{
    __builtin_prefetch(p, 0, 3);
}

static inline void pf_write(const void *p)
{
    __builtin_prefetch(p, 1, 3);
}
#endif
#define ALL_INSTRUMENTS 0xffffu

_Static_assert(sizeof(struct wm_cmd) == 64, "wm_cmd is 64 bytes");
_Static_assert(sizeof(struct wm_event) == 64, "wm_event is 64 bytes");

/* ---- counters (X-macro: names are data) ---------------------------------- */

#define MT_BASE_COUNTERS(X)                   \
    X(C_CMD_NEW, "cmd_new")                   \
    X(C_CMD_CANCEL, "cmd_cancel")             \
    X(C_CMD_REPLACE, "cmd_replace")           \
    X(C_CMD_MASS_CANCEL, "cmd_mass_cancel")   \
    X(C_CMD_HALT, "cmd_halt")                 \
    X(C_CMD_RESUME, "cmd_resume")             \
    X(C_CMD_CLOSE, "cmd_close")               \
    X(C_CMD_SET_REF, "cmd_set_ref")           \
    X(C_CMD_UNKNOWN, "cmd_unknown_type")      \
    X(C_ACCEPTED, "accepted")                 \
    X(C_REJECTED, "rejected")                 \
    X(C_TRADES, "trades")                     \
    X(C_EVENTS, "events")                     \
    X(C_PENDING_SPLITS, "pending_splits")

#define MT_REJ_NAME(id, val, name) "reject_" name,
#define MT_CXL_NAME(id, val, name) "cancel_" name,

#define MT_ENUM(id, name) id,
enum { MT_BASE_COUNTERS(MT_ENUM) C_BASE_N };
#define C_REJ_BASE C_BASE_N                      /* + reason code */
#define C_CXL_BASE (C_REJ_BASE + WM_REJ_MAX)     /* + reason code */
#define C_N (C_CXL_BASE + WM_CXL_MAX)

static const char *const counter_names[C_N] = {
#define WM_COUNTER_NAME_(id, name) name,
    MT_BASE_COUNTERS(WM_COUNTER_NAME_) "reject_none",
    WM_REJECT_REASONS(MT_REJ_NAME) "cancel_none",
    WM_CANCEL_REASONS(MT_CXL_NAME)
};

/* ---- data structures ------------------------------------------------------ */

struct mt_order {
    uint64_t order_ref;
    uint64_t client_id;
    int64_t price;        /* 0 for market orders */
    int64_t leaves;
    /* session .. side: the order's event tail word (ev_tail) with the type
     * byte 0, written whole by cmd_new and read whole by order_tail. */
    uint32_t session;
    uint16_t instrument;
    uint8_t tail_type;    /* always 0 */
    uint8_t side;
    uint32_t account;
    uint32_t prev, next;  /* FIFO links within the level */
    uint32_t sprev, snext; /* links in its session's list of live orders */
    uint8_t tif, stp, flags, ord_type;
};
_Static_assert(sizeof(struct mt_order) == 64, "order is one cache line");
_Static_assert(offsetof(struct mt_order, side) - offsetof(struct mt_order, session) == 7,
               "session, instrument, type byte, side form the event tail word");

struct mt_level {
    int64_t price;
    int64_t total;
    uint32_t head, tail;
    uint32_t count;
    uint32_t pad;
};

struct mt_side {
    uint32_t *slot;       /* window: level index per price slot */
    struct bitmap3 bm;
    uint32_t *fb;         /* fallback levels, sorted by goodness, best last */
    uint32_t nfb;
    uint32_t nlevels;
    uint32_t best;        /* cached best level index or NONE */
};

struct mt_instr {
    bool used;
    uint32_t state;
    uint32_t max_orders;
    uint32_t live;
    int64_t tick, lot, min_qty, max_qty, ref, band;
    int tick_shift, lot_shift; /* log2 when a power of two, else -1 */
    int64_t base_ticks;   /* price/tick of window slot 0 */
    uint32_t window;
    struct wm_pool *levels;
    struct mt_level *lv;  /* levels->objs, typed (pool objects are 32 bytes) */
    struct mt_side side[2]; /* 0 bids, 1 asks */
};

struct mt_slot {          /* id table entry; ent == SLOT_EMPTY when empty */
    uint64_t client_id;
    uint32_t session;
    uint32_t ent;         /* order index (low 28 bits) | probe distance (top 4, 15 = 15+) */
};

enum { JOB_NONE = 0, JOB_MATCH = 1, JOB_SWEEP = 2 };

/* A session's live orders, oldest entry first (mass cancel walks it). */
struct mt_sess {
    uint32_t session;
    uint32_t used;
    uint32_t head, tail;
};


struct mt_job {
    int kind;
    uint64_t ts;
    /* MATCH */
    uint32_t taker;
    uint32_t touched;     /* level touched and still non-empty, or NONE */
    uint16_t touched_instr;
    /* SWEEP (close: the book of one instrument; mass cancel: a session's list) */
    bool by_session;
    uint32_t sess_next;   /* next order in the session list */
    uint32_t session;
    bool any_session, day_only, report;
    uint8_t reason;
    uint32_t instr, instr_last, sw_side, sw_next;
    bool sw_started;
    uint64_t count;
    uint16_t report_instr;
};

struct wm_matcher {
    uint32_t max_instruments;
    uint32_t max_orders;
    uint32_t live;
    struct wm_pool *orders;
    struct mt_order *ob;  /* orders->objs, typed (pool objects are 64 bytes) */
    struct mt_slot *ids;
    uint64_t id_mask;
    int id_shift;         /* 64 - log2(slots) */
    struct mt_sess *sess; /* session table: open addressing, never shrinks */
    uint32_t sess_mask, nsess, max_sessions;
    struct mt_instr *instr;
    uint64_t seq, hash, next_ref, next_trade;
    struct mt_job job;
    /* current output buffer */
    struct wm_event *ev;
    struct wm_event *ev_next;  /* where the next event goes */
    struct wm_event *ev_last;  /* ev + cap - WM_MATCHER_MIN_EVENTS: a step may
                                * start while ev_next <= ev_last */
    bool level_events;         /* WM_EV_LEVEL emitted (not WM_MATCHER_NO_LEVEL_EVENTS) */
    bool hashing;              /* the rolling hash kept (not WM_MATCHER_NO_HASH) */
    uint64_t counters[C_N];
    /* ladder_recentre's work list: the largest max_levels of any instrument
     * (outside the instruments, whose layout the hot paths index). */
    uint32_t *scratch;
    uint32_t scratch_cap;
    /* Each instrument's config as added, apart from the hot per-instrument
     * struct (its size is in the indexing of every command): the reset
     * rebuilds the instrument from it. */
    struct wm_instrument_config *instr_cfg;
};

/* ---- memory ---------------------------------------------------------------- */

#define HUGE_SZ (2u << 20)

/* Zeroed memory for a large table, 2 MiB aligned and advised to use
 * transparent huge pages (fewer TLB misses on random access).  Creation time
 * only. */
static void *big_alloc(size_t size)
{
    size_t sz = (size + HUGE_SZ - 1) & ~(size_t)(HUGE_SZ - 1);
    void *p = aligned_alloc(sz >= HUGE_SZ ? HUGE_SZ : WM_CACHE_LINE, sz);
    if (p == NULL)
        return NULL;
    if (sz >= HUGE_SZ)
        (void)madvise(p, sz, MADV_HUGEPAGE);
    memset(p, 0, sz);
    return p;
}

static struct wm_pool *big_pool(uint32_t obj_size, uint32_t capacity)
{
    size_t need = wm_pool_memsize(obj_size, capacity);
    void *mem = need ? big_alloc(need) : NULL;
    if (mem == NULL)
        return NULL;
    if (wm_pool_init(mem, need, obj_size, capacity) < 0) {
        free(mem);
        return NULL;
    }
    return mem;
}

/* ---- hashing --------------------------------------------------------------- */

/* The rolling hash of docs/matching.md.  Each event's digest is independent
 * of the others (eight lanes: x = w ^ K, lo32(x) * hi32(x) + w, summed), so
 * the digests of a whole batch are computed after the batch (events are then
 * in L1 and no store is forwarded into a wide load), with AVX2 where the
 * build targets it and eight scalar lanes otherwise (the same sums mod 2^64,
 * so the same hash); only the chain step (rotate, xor, one multiply) is
 * serial. */
#define HASH_INIT 0x6a09e667f3bcc908ull
#define HASH_MUL 0x9e3779b97f4a7c15ull
static const uint64_t hash_k[8] __attribute__((aligned(32))) = {
    0xa0761d6478bd642full, 0xe7037ed1a0b428dbull, 0x8ebc6af09c88c6e3ull, 0x589965cc75374cc3ull,
    0x1d8e4e27c47d124full, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull, 0xd6e8feb86659fd93ull,
};

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t hash_chain(uint64_t h, uint64_t digest)
{
    return (rotl64(h, 23) ^ digest) * HASH_MUL;
}

#ifdef __AVX2__
static inline __m256i lane_mix(__m256i w, __m256i k)
{
    __m256i x = _mm256_xor_si256(w, k);
    return _mm256_add_epi64(_mm256_mul_epu32(x, _mm256_srli_epi64(x, 32)), w);
}

/* The eight mixed lanes of an event, summed pairwise to four. */
static inline __m256i event_lanes(const struct wm_event *ev, __m256i k0, __m256i k1)
{
    __m256i a = _mm256_loadu_si256((const __m256i *)ev);
    __m256i b = _mm256_loadu_si256((const __m256i *)ev + 1);
    return _mm256_add_epi64(lane_mix(a, k0), lane_mix(b, k1));
}

static inline uint64_t event_digest(const struct wm_event *ev, __m256i k0, __m256i k1)
{
    __m256i s = event_lanes(ev, k0, k1);
    __m128i t = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    t = _mm_add_epi64(t, _mm_unpackhi_epi64(t, t));
    return (uint64_t)_mm_cvtsi128_si64(t);
}

static uint64_t hash_events(uint64_t h, const struct wm_event *ev, unsigned n)
{
    const __m256i k0 = _mm256_load_si256((const __m256i *)hash_k);
    const __m256i k1 = _mm256_load_si256((const __m256i *)hash_k + 1);
    const struct wm_event *end = ev + n;
    /* Two events at a time share the horizontal sums (the same digests:
     * 64-bit lane sums in another order). */
    for (; end - ev >= 2; ev += 2) {
        __m256i sa = event_lanes(ev, k0, k1), sb = event_lanes(ev + 1, k0, k1);
        __m256i u = _mm256_add_epi64(_mm256_unpacklo_epi64(sa, sb), _mm256_unpackhi_epi64(sa, sb));
        __m128i t = _mm_add_epi64(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
        h = hash_chain(h, (uint64_t)_mm_cvtsi128_si64(t));
        h = hash_chain(h, (uint64_t)_mm_extract_epi64(t, 1));
    }
    if (ev < end)
        h = hash_chain(h, event_digest(ev, k0, k1));
    return h;
}
#else
static inline uint64_t event_digest(const struct wm_event *ev)
{
    uint64_t w[8], d = 0;
    memcpy(w, ev, sizeof(w));
    for (int i = 0; i < 8; i++) {
        uint64_t x = w[i] ^ hash_k[i];
        d += (x & 0xffffffffu) * (x >> 32) + w[i];
    }
    return d;
}

static uint64_t hash_events(uint64_t h, const struct wm_event *ev, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        h = hash_chain(h, event_digest(&ev[i]));
    return h;
}
#endif

uint64_t wm_matcher_hash_event(uint64_t h, const struct wm_event *ev)
{
    return hash_events(h, ev, 1);
}

/* ---- id table -------------------------------------------------------------- */

/* Home slot of (session, client id).  Four consecutive client ids of a
 * session, 4k..4k+3, share one 64-byte line of four 16-byte slots: the line
 * is the top bits of ((client_id >> 2) ^ session * K1) * K2 (multiplicative
 * hashing, two multiplies), the slot in it client_id & 3.  Client ids
 * increase per session (OUCH UserRefNum), so a NEW order's duplicate check
 * and insert, and a cancel of a recent order, land on the line the session
 * touched for its previous order instead of a random line of the table (on
 * the benchmark's 1M-order book: the mixed workload +30%,
 * docs/matching.md).  The slot is still a likely miss for an old order;
 * wm_matcher_apply prefetches it for the commands ahead. */
static inline uint64_t id_slot(const struct wm_matcher *m, uint32_t session, uint64_t client_id)
{
    uint64_t h = ((client_id >> 2) ^ ((uint64_t)session * 0xc2b2ae3d27d4eb4full)) *
                 0x9e3779b97f4a7c15ull;
    return ((h >> m->id_shift) & ~(uint64_t)3) | (client_id & 3);
}

/* Entry word: the order index and how far the entry sits past its home
 * (0..14 exact, 15 = 15 or more: recomputed from the key), so a removal's
 * backward shift decides without rehashing the entries behind it. */
#define SLOT_EMPTY UINT32_MAX
#define SLOT_IDX_MASK 0x0fffffffu
#define SLOT_DIST_SHIFT 28
#define SLOT_DIST_FAR 15u

static inline uint32_t slot_idx(uint32_t ent)
{
    return ent & SLOT_IDX_MASK;
}

static inline uint32_t slot_ent(uint32_t idx, uint64_t dist)
{
    return idx | (uint32_t)(dist < SLOT_DIST_FAR ? dist : SLOT_DIST_FAR) << SLOT_DIST_SHIFT;
}

#define ID_NONE UINT64_MAX

/* Position of (session, cid) in the table, probing from its home slot
 * (id_slot), or ID_NONE. */
static inline uint64_t id_find_from(const struct wm_matcher *m, uint64_t home, uint32_t session,
                                    uint64_t cid)
{
    uint64_t i = home;
    for (;;) {
        const struct mt_slot *s = &m->ids[i];
        if (s->ent == SLOT_EMPTY)
            return ID_NONE;
        if (s->client_id == cid && s->session == session)
            return i;
        i = (i + 1) & m->id_mask;
    }
}

static inline uint64_t id_find_pos(const struct wm_matcher *m, uint32_t session, uint64_t cid)
{
    return id_find_from(m, id_slot(m, session, cid), session, cid);
}

static inline uint32_t id_find(const struct wm_matcher *m, uint32_t session, uint64_t cid)
{
    uint64_t i = id_find_pos(m, session, cid);
    return i == ID_NONE ? NONE : slot_idx(m->ids[i].ent);
}

/* One probe for a NEW order's id: its position when present (a duplicate);
 * when absent, ID_ABSENT | the empty slot that ends the chain, which is
 * where id_put will store it as long as the table does not change in
 * between (linear probing without tombstones), *dist its distance from home. */
#define ID_ABSENT (1ull << 63)
static inline uint64_t id_probe(const struct wm_matcher *m, uint64_t home, uint32_t session,
                                uint64_t cid, uint64_t *dist)
{
    uint64_t i = home, d = 0;
    for (;;) {
        const struct mt_slot *s = &m->ids[i];
        if (s->ent == SLOT_EMPTY) {
            *dist = d;
            return i | ID_ABSENT;
        }
        if (s->client_id == cid && s->session == session) {
            *dist = d; /* id_insert of a present key rewrites it in place */
            return i;
        }
        i = (i + 1) & m->id_mask;
        d++;
    }
}

static inline void id_put(struct wm_matcher *m, uint64_t i, uint64_t dist, uint32_t session,
                          uint64_t cid, uint32_t idx)
{
    m->ids[i].client_id = cid;
    m->ids[i].session = session;
    m->ids[i].ent = slot_ent(idx, dist);
}

static inline void id_insert(struct wm_matcher *m, uint32_t session, uint64_t cid, uint32_t idx)
{
    uint64_t dist = 0;
    uint64_t i = id_probe(m, id_slot(m, session, cid), session, cid, &dist);
    id_put(m, i & ~ID_ABSENT, dist, session, cid, idx);
}

/* Remove the entry at position i (found by id_find_pos). */
static inline void id_remove_at(struct wm_matcher *m, uint64_t i)
{
    /* Backward-shift deletion: keep every probe chain unbroken.  The entry
     * at j may move back to the hole at i if its home is not in (i, j]
     * cyclically, i.e. if it sits at least j - i past its home. */
    uint64_t j = i;
    for (;;) {
        m->ids[i].ent = SLOT_EMPTY;
        uint64_t dist, gap;
        for (;;) {
            j = (j + 1) & m->id_mask;
            uint32_t e = m->ids[j].ent;
            if (e == SLOT_EMPTY)
                return;
            dist = e >> SLOT_DIST_SHIFT;
            if (WM_UNLIKELY(dist == SLOT_DIST_FAR))
                dist = (j - id_slot(m, m->ids[j].session, m->ids[j].client_id)) & m->id_mask;
            gap = (j - i) & m->id_mask;
            if (dist >= gap)
                break;
        }
        m->ids[i] = m->ids[j];
        m->ids[i].ent = slot_ent(slot_idx(m->ids[j].ent), dist - gap);
        i = j;
    }
}

/* ---- orders and levels ----------------------------------------------------- */

/* Pool objects by index: the pools hold exactly these structs (sizes are
 * multiples of 8, so wm_pool keeps them unpadded), so plain array indexing
 * equals wm_pool_at without its multiply. */
_Static_assert(sizeof(struct mt_level) % 8 == 0, "level size is the pool stride");
static inline struct mt_order *ord(const struct wm_matcher *m, uint32_t idx)
{
    return &m->ob[idx];
}

static inline struct mt_level *lvl(const struct mt_instr *in, uint32_t idx)
{
    return &in->lv[idx];
}

static inline int side_ix(uint8_t side)
{
    return side == WM_SIDE_SELL;
}

/* Is level price p better than q on this side? */
static inline bool better(int s, int64_t p, int64_t q)
{
    return s == 0 ? p > q : p < q;
}

static inline int64_t goodness(int s, int64_t price)
{
    return s == 0 ? price : -price;
}

/* x / d and x % d for x >= 0, with a shift when d is a power of two (a
 * 64-bit division costs tens of cycles; most instruments use tick 1, lot 1
 * or powers of two). */
static inline int64_t div_by(int64_t x, int64_t d, int shift)
{
    return shift >= 0 && x >= 0 ? x >> shift : x / d;
}

static inline int64_t mod_by(int64_t x, int64_t d, int shift)
{
    return shift >= 0 && x >= 0 ? x & (d - 1) : x % d;
}

static int log2_or_minus1(int64_t d)
{
    return d > 0 && (d & (d - 1)) == 0 ? __builtin_ctzll((uint64_t)d) : -1;
}

/* Window slot of a price, or NONE when outside the window. */
static inline uint32_t win_slot(const struct mt_instr *in, int64_t price)
{
    int64_t t = div_by(price, in->tick, in->tick_shift); /* ladder prices are on tick */
    int64_t d;
    if (__builtin_sub_overflow(t, in->base_ticks, &d) || d < 0 || d >= (int64_t)in->window)
        return NONE;
    return (uint32_t)d;
}

/* Fallback: first position whose goodness is >= g. */
static uint32_t fb_lower(const struct mt_instr *in, const struct mt_side *sd, int s, int64_t g)
{
    uint32_t lo = 0, hi = sd->nfb;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (goodness(s, lvl(in, sd->fb[mid])->price) < g)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

MT_HOT uint32_t level_find(const struct mt_instr *in, int s, int64_t price)
{
    const struct mt_side *sd = &in->side[s];
    uint32_t w = win_slot(in, price);
    if (w != NONE)
        return sd->slot[w];
    int64_t g = goodness(s, price);
    uint32_t p = fb_lower(in, sd, s, g);
    if (p < sd->nfb && lvl(in, sd->fb[p])->price == price)
        return sd->fb[p];
    return NONE;
}

static uint32_t window_best(const struct mt_instr *in, int s)
{
    const struct mt_side *sd = &in->side[s];
    uint32_t b = s == 0 ? bm_prev_le(&sd->bm, in->window - 1) : bm_next_ge(&sd->bm, 0);
    return b == BM_NONE ? NONE : sd->slot[b];
}

static void recompute_best(struct mt_instr *in, int s)
{
    struct mt_side *sd = &in->side[s];
    uint32_t wb = window_best(in, s);
    uint32_t fbb = sd->nfb ? sd->fb[sd->nfb - 1] : NONE;
    if (wb == NONE)
        sd->best = fbb;
    else if (fbb == NONE)
        sd->best = wb;
    else
        sd->best = better(s, lvl(in, fbb)->price, lvl(in, wb)->price) ? fbb : wb;
}

/* The next level worse than price on side s, or NONE. */
static uint32_t level_next_worse(const struct mt_instr *in, int s, int64_t price)
{
    const struct mt_side *sd = &in->side[s];
    uint32_t cand = NONE;
    int64_t t = div_by(price, in->tick, in->tick_shift);
    int64_t d;
    bool ovf = __builtin_sub_overflow(t, in->base_ticks, &d);
    uint32_t b = BM_NONE;
    if (s == 0) { /* bids: worse = lower */
        if (ovf ? t > 0 : d >= (int64_t)in->window)
            b = bm_prev_le(&sd->bm, in->window - 1);
        else if (!ovf && d > 0)
            b = bm_prev_le(&sd->bm, (uint32_t)d - 1);
    } else {      /* asks: worse = higher */
        if (ovf ? t < 0 : d < 0)
            b = bm_next_ge(&sd->bm, 0);
        else if (!ovf && d + 1 < (int64_t)in->window)
            b = bm_next_ge(&sd->bm, (uint32_t)d + 1);
    }
    if (b != BM_NONE)
        cand = sd->slot[b];
    uint32_t p = fb_lower(in, sd, s, goodness(s, price));
    if (p > 0) {
        uint32_t f = sd->fb[p - 1];
        if (cand == NONE || better(s, lvl(in, f)->price, lvl(in, cand)->price))
            cand = f;
    }
    return cand;
}

/* The first level of an empty book, outside the window: the window is
 * centred on its price (nothing to move, both sides are empty); returns its
 * slot.  Out of line: level_create is inlined into the hot paths. */
static __attribute__((noinline, cold)) uint32_t centre_empty(struct mt_instr *in, int64_t price)
{
    in->base_ticks = div_by(price, in->tick, in->tick_shift) - (int64_t)(in->window / 2);
    return win_slot(in, price);
}

/* Create an empty level (the caller checked that the pool has one). */
static uint32_t level_create(struct mt_instr *in, int s, int64_t price)
{
    struct mt_level *l = wm_pool_get(in->levels);
    uint32_t li = wm_pool_index(in->levels, l);
    l->price = price;
    l->total = 0;
    l->head = l->tail = NONE;
    l->count = 0;
    struct mt_side *sd = &in->side[s];
    uint32_t w = win_slot(in, price);
    if (WM_UNLIKELY(w == NONE) && in->side[0].nlevels == 0 && in->side[1].nlevels == 0)
        w = centre_empty(in, price);
    if (w != NONE) {
        sd->slot[w] = li;
        bm_set(&sd->bm, w);
    } else {
        uint32_t p = fb_lower(in, sd, s, goodness(s, price));
        memmove(&sd->fb[p + 1], &sd->fb[p], (sd->nfb - p) * sizeof(uint32_t));
        sd->fb[p] = li;
        sd->nfb++;
    }
    sd->nlevels++;
    if (sd->best == NONE || better(s, price, lvl(in, sd->best)->price))
        sd->best = li;
    return li;
}

static void level_destroy(struct mt_instr *in, int s, uint32_t li)
{
    struct mt_level *l = lvl(in, li);
    struct mt_side *sd = &in->side[s];
    uint32_t w = win_slot(in, l->price);
    if (w != NONE) {
        sd->slot[w] = NONE;
        bm_clear(&sd->bm, w);
    } else {
        uint32_t p = fb_lower(in, sd, s, goodness(s, l->price));
        memmove(&sd->fb[p], &sd->fb[p + 1], (sd->nfb - p - 1) * sizeof(uint32_t));
        sd->nfb--;
    }
    sd->nlevels--;
    wm_pool_put(in->levels, l);
    if (sd->best == li)
        recompute_best(in, s);
}

static inline void level_append(struct wm_matcher *m, struct mt_level *l, uint32_t li,
                                uint32_t oi)
{
    struct mt_order *o = ord(m, oi);
    (void)li;
    o->next = NONE;
    o->prev = l->tail;
    if (l->tail != NONE)
        ord(m, l->tail)->next = oi;
    else
        l->head = oi;
    l->tail = oi;
    l->count++;
    l->total += o->leaves;
}

static inline void level_unlink(struct wm_matcher *m, struct mt_level *l, struct mt_order *o)
{
    if (o->prev != NONE)
        ord(m, o->prev)->next = o->next;
    else
        l->head = o->next;
    if (o->next != NONE)
        ord(m, o->next)->prev = o->prev;
    else
        l->tail = o->prev;
    l->count--;
}

/* ---- session lists ---------------------------------------------------------- */

static inline uint32_t sess_hash(uint32_t session)
{
    return (uint32_t)(((uint64_t)session * 0x9e3779b97f4a7c15ull) >> 32);
}

/* The session's table entry, or NULL when the session was never seen. */
static inline struct mt_sess *sess_find(const struct wm_matcher *m, uint32_t session)
{
    uint32_t i = sess_hash(session) & m->sess_mask;
    while (m->sess[i].used) {
        if (m->sess[i].session == session)
            return &m->sess[i];
        i = (i + 1) & m->sess_mask;
    }
    return NULL;
}

/* Find or add; NULL when the table already holds max_sessions sessions. */
static inline struct mt_sess *sess_get(struct wm_matcher *m, uint32_t session)
{
    uint32_t i = sess_hash(session) & m->sess_mask;
    while (m->sess[i].used) {
        if (m->sess[i].session == session)
            return &m->sess[i];
        i = (i + 1) & m->sess_mask;
    }
    if (m->nsess >= m->max_sessions)
        return NULL;
    m->nsess++;
    m->sess[i].used = 1;
    m->sess[i].session = session;
    m->sess[i].head = m->sess[i].tail = NONE;
    return &m->sess[i];
}

static inline void sess_append(struct wm_matcher *m, struct mt_sess *ss, uint32_t oi)
{
    struct mt_order *o = ord(m, oi);
    o->sprev = ss->tail;
    o->snext = NONE;
    if (ss->tail != NONE)
        ord(m, ss->tail)->snext = oi;
    else
        ss->head = oi;
    ss->tail = oi;
}

static inline void sess_unlink(struct wm_matcher *m, struct mt_sess *ss, struct mt_order *o)
{
    if (o->sprev != NONE)
        ord(m, o->sprev)->snext = o->snext;
    else
        ss->head = o->snext;
    if (o->snext != NONE)
        ord(m, o->snext)->sprev = o->sprev;
    else
        ss->tail = o->sprev;
}

/* sess_unlink that looks the session up only when the order is its list's
 * head or tail (an order between two others just joins its neighbours). */
static inline void sess_unlink_lazy(struct wm_matcher *m, struct mt_order *o)
{
    if (o->sprev != NONE && o->snext != NONE) {
        ord(m, o->sprev)->snext = o->snext;
        ord(m, o->snext)->sprev = o->sprev;
        return;
    }
    sess_unlink(m, sess_find(m, o->session), o);
}

/* Free a live order; id_pos is its id-table position, or ID_NONE (found here). */
MT_HOT void order_free_at(struct wm_matcher *m, struct mt_instr *in, struct mt_order *o,
                                 uint64_t id_pos)
{
    sess_unlink_lazy(m, o);
    id_remove_at(m, id_pos != ID_NONE ? id_pos : id_find_pos(m, o->session, o->client_id));
    in->live--;
    m->live--;
    wm_pool_put(m->orders, o);
}

MT_HOT void order_free(struct wm_matcher *m, struct mt_instr *in, struct mt_order *o)
{
    order_free_at(m, in, o, ID_NONE);
}

/* ---- events ---------------------------------------------------------------- */

/* Last word of an event (session, instrument, type, flags; little endian). */
static inline uint64_t ev_tail(uint32_t session, uint16_t instrument, uint8_t type,
                               uint8_t flags)
{
    return session | (uint64_t)instrument << 32 | (uint64_t)type << 48 | (uint64_t)flags << 56;
}
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ev_tail is little endian");
_Static_assert(offsetof(struct wm_event, session) == 56, "tail word");

/* The tail word of an event about order o: its session, instrument and side
 * in one load; the caller ors in the type (<< 48) and extra flags (<< 56). */
static inline uint64_t order_tail(const struct mt_order *o)
{
    uint64_t w;
    memcpy(&w, &o->session, sizeof(w));
    return w;
}

/* Write the next event whole: every field once, the tail in one store.  The
 * hash is computed over the batch's events at the end of wm_matcher_apply. */
static inline void put_event(struct wm_matcher *m, uint64_t order_ref, uint64_t client_id,
                             int64_t price, int64_t qty, uint64_t aux, uint64_t tail)
{
    struct wm_event *e = m->ev_next++;
    uint64_t seq = ++m->seq, ts = m->job.ts;
    e->seq = seq;
    e->ts = ts;
    e->order_ref = order_ref;
    e->client_id = client_id;
    e->price = price;
    e->qty = qty;
    e->aux = aux;
    memcpy(&e->session, &tail, sizeof(tail));
}

static inline void emit_order(struct wm_matcher *m, uint8_t type, const struct mt_order *o,
                              int64_t qty, uint64_t aux, uint8_t extra_flags)
{
    put_event(m, o->order_ref, o->client_id, o->price, qty, aux,
              order_tail(o) | (uint64_t)type << 48 | (uint64_t)extra_flags << 56);
}

static inline void emit_level(struct wm_matcher *m, uint16_t instrument, int s,
                              const struct mt_level *l, int64_t price)
{
    if (WM_UNLIKELY(!m->level_events))
        return;
    put_event(m, 0, 0, price, l ? l->total : 0, l ? l->count : 0,
              ev_tail(0, instrument, WM_EV_LEVEL, (uint8_t)(s + 1)));
}

static inline void emit_cancel(struct wm_matcher *m, const struct mt_order *o, int64_t qty,
                               uint8_t reason, uint8_t flags)
{
    m->counters[C_CXL_BASE + reason]++;
    emit_order(m, WM_EV_CANCELLED, o, qty, reason, flags);
}

static void reject(struct wm_matcher *m, const struct wm_cmd *c, uint8_t reason)
{
    m->counters[C_REJECTED]++;
    m->counters[C_REJ_BASE + reason]++;
    put_event(m, 0, c->client_id, c->price, c->qty, reason,
              ev_tail(c->session, c->instrument, WM_EV_REJECTED,
                      (uint8_t)((c->side & WM_EVF_SIDE_MASK) | ((c->type & 15) << 4))));
}

/* Remove a resting order from its level: emit the CANCELLED event, then the
 * LEVEL event, free the order. */
MT_HOT void cancel_resting(struct wm_matcher *m, struct mt_instr *in, struct mt_order *o,
                           uint8_t reason, uint64_t id_pos)
{
    int s = side_ix(o->side);
    uint32_t li = level_find(in, s, o->price);
    struct mt_level *l = lvl(in, li);
    emit_cancel(m, o, o->leaves, reason, WM_EVF_RESTING);
    l->total -= o->leaves;
    level_unlink(m, l, o);
    int64_t price = l->price;
    if (l->count == 0) {
        level_destroy(in, s, li);
        emit_level(m, o->instrument, s, NULL, price);
    } else {
        emit_level(m, o->instrument, s, l, price);
    }
    order_free_at(m, in, o, id_pos);
}

/* ---- validation ------------------------------------------------------------ */

static inline struct mt_instr *instr_of(struct wm_matcher *m, uint32_t id)
{
    if (id >= m->max_instruments || !m->instr[id].used)
        return NULL;
    return &m->instr[id];
}

/* Price rule of a limit price: 0 or a reject reason. */
MT_HOT int check_price(const struct mt_instr *in, int64_t price)
{
    if (price <= 0)
        return WM_REJ_BAD_PRICE;
    if (mod_by(price, in->tick, in->tick_shift) != 0)
        return WM_REJ_OFF_TICK;
    if (in->band > 0) {
        int64_t lo, hi;
        if (__builtin_sub_overflow(in->ref, in->band, &lo))
            lo = INT64_MIN;
        if (__builtin_add_overflow(in->ref, in->band, &hi))
            hi = INT64_MAX;
        if (price < lo || price > hi)
            return WM_REJ_OUT_OF_BAND;
    }
    return 0;
}

static int check_qty(const struct mt_instr *in, int64_t qty)
{
    if (qty <= 0)
        return WM_REJ_BAD_QTY;
    if (mod_by(qty, in->lot, in->lot_shift) != 0)
        return WM_REJ_BAD_LOT;
    if (qty < in->min_qty || qty > in->max_qty)
        return WM_REJ_QTY_LIMIT;
    return 0;
}

static int check_state(const struct mt_instr *in)
{
    if (in->state == WM_STATE_HALTED)
        return WM_REJ_HALTED;
    if (in->state == WM_STATE_CLOSED)
        return WM_REJ_CLOSED;
    return 0;
}

/* Would an order of side s at price (market: any) cross the contra best? */
static inline bool crosses(const struct mt_instr *in, int s, uint8_t ord_type, int64_t price)
{
    uint32_t b = in->side[1 - s].best;
    if (b == NONE)
        return false;
    if (ord_type == WM_ORD_MARKET)
        return true;
    int64_t bp = lvl(in, b)->price;
    return s == 0 ? bp <= price : bp >= price;
}

/* Resting at price needs a level: 0, or a reason (no level and the pool is
 * empty; or the level total would overflow). */
static int check_rest_at(const struct mt_instr *in, uint32_t li, int64_t qty,
                         const struct mt_order *self)
{
    if (li == NONE)
        return in->levels->free_count == 0 ? WM_REJ_CAPACITY : 0;
    int64_t total = lvl(in, li)->total, t;
    if (self != NULL && self->price == lvl(in, li)->price) /* self rests there */
        total -= self->leaves;
    if (__builtin_add_overflow(total, qty, &t))
        return WM_REJ_OVERFLOW;
    return 0;
}

static int check_rest(const struct mt_instr *in, int s, int64_t price, int64_t qty,
                      const struct mt_order *self)
{
    return check_rest_at(in, level_find(in, s, price), qty, self);
}

/* Quantity the taker would execute at once under exactly the matching rules
 * (self-trade prevention included), stopping once `need` is reached. */
static int64_t simulate_fill(const struct wm_matcher *m, const struct mt_instr *in,
                             const struct mt_order *t, int64_t need)
{
    int s = side_ix(t->side), cs = 1 - s;
    int64_t leaves = t->leaves, filled = 0;
    uint32_t li = in->side[cs].best;
    while (li != NONE) {
        const struct mt_level *l = lvl(in, li);
        if (t->ord_type != WM_ORD_MARKET && (s == 0 ? l->price > t->price : l->price < t->price))
            break;
        for (uint32_t oi = l->head; oi != NONE; oi = ord(m, oi)->next) {
            const struct mt_order *mk = ord(m, oi);
            if (t->stp != WM_STP_NONE && mk->account == t->account) {
                switch (t->stp) {
                case WM_STP_CANCEL_OLDEST:
                    continue;
                case WM_STP_DECREMENT:
                    if (mk->leaves >= leaves)
                        return filled;
                    leaves -= mk->leaves;
                    continue;
                default:
                    return filled;
                }
            }
            int64_t q = mk->leaves < leaves ? mk->leaves : leaves;
            filled += q;
            leaves -= q;
            if (leaves == 0 || filled >= need)
                return filled;
        }
        li = level_next_worse(in, cs, l->price);
    }
    return filled;
}

/* ---- matching -------------------------------------------------------------- */

MT_HOT void finish_taker(struct wm_matcher *m)
{
    struct mt_order *o = ord(m, m->job.taker);
    struct mt_instr *in = &m->instr[o->instrument];
    int s = side_ix(o->side);
    if (m->job.touched != NONE) {
        struct mt_level *tl = lvl(in, m->job.touched);
        emit_level(m, o->instrument, 1 - s, tl, tl->price);
        m->job.touched = NONE;
    }
    if (o->leaves > 0) {
        if (o->ord_type == WM_ORD_MARKET || o->tif == WM_TIF_IOC || o->tif == WM_TIF_FOK) {
            emit_cancel(m, o, o->leaves, o->tif == WM_TIF_FOK ? WM_CXL_FOK : WM_CXL_IOC, 0);
            order_free(m, in, o);
        } else {
            uint32_t li = level_find(in, s, o->price);
            if (li == NONE)
                li = level_create(in, s, o->price);
            struct mt_level *l = lvl(in, li);
            level_append(m, l, li, m->job.taker);
            emit_order(m, WM_EV_BOOKED, o, o->leaves, 0, 0);
            emit_level(m, o->instrument, s, l, l->price);
        }
    } else {
        order_free(m, in, o);
    }
    m->job.kind = JOB_NONE;
}

/* Remove a maker whose leaves reached 0 (filled or cancelled), maintaining
 * the touched level and emitting LEVEL 0 when the level empties. */
MT_HOT void maker_gone(struct wm_matcher *m, struct mt_instr *in, struct mt_order *mk,
                       struct mt_level *l, uint32_t li, int cs)
{
    level_unlink(m, l, mk);
    order_free(m, in, mk);
    if (l->count == 0) {
        int64_t price = l->price;
        level_destroy(in, cs, li);
        emit_level(m, (uint16_t)(in - m->instr), cs, NULL, price);
        m->job.touched = NONE;
    } else {
        m->job.touched = li;
    }
}

/* One step: at most one maker (a fill or a self-trade decision) and perhaps
 * the taker's end.  At most 7 events. */
static void match_step(struct wm_matcher *m)
{
    struct mt_order *o = ord(m, m->job.taker);
    struct mt_instr *in = &m->instr[o->instrument];
    int s = side_ix(o->side), cs = 1 - s;
    uint32_t li = in->side[cs].best;
    if (li == NONE) {
        finish_taker(m);
        return;
    }
    struct mt_level *l = lvl(in, li);
    if (o->ord_type != WM_ORD_MARKET && (s == 0 ? l->price > o->price : l->price < o->price)) {
        finish_taker(m);
        return;
    }
    struct mt_order *mk = ord(m, l->head);
    if (WM_UNLIKELY(o->stp != WM_STP_NONE && mk->account == o->account)) {
        int64_t d;
        switch (o->stp) {
        case WM_STP_CANCEL_NEWEST:
            emit_cancel(m, o, o->leaves, WM_CXL_STP, 0);
            o->leaves = 0;
            finish_taker(m);
            return;
        case WM_STP_CANCEL_OLDEST:
            emit_cancel(m, mk, mk->leaves, WM_CXL_STP, WM_EVF_RESTING);
            l->total -= mk->leaves;
            mk->leaves = 0;
            maker_gone(m, in, mk, l, li, cs);
            return;
        case WM_STP_CANCEL_BOTH:
            emit_cancel(m, mk, mk->leaves, WM_CXL_STP, WM_EVF_RESTING);
            l->total -= mk->leaves;
            mk->leaves = 0;
            maker_gone(m, in, mk, l, li, cs);
            emit_cancel(m, o, o->leaves, WM_CXL_STP, 0);
            o->leaves = 0;
            finish_taker(m);
            return;
        default: /* WM_STP_DECREMENT */
            d = mk->leaves < o->leaves ? mk->leaves : o->leaves;
            l->total -= d;
            if (mk->leaves > d) {
                mk->leaves -= d;
                emit_cancel(m, mk, d, WM_CXL_STP, WM_EVF_RESTING | WM_EVF_PARTIAL);
                m->job.touched = li;
            } else {
                emit_cancel(m, mk, d, WM_CXL_STP, WM_EVF_RESTING);
                mk->leaves = 0;
                maker_gone(m, in, mk, l, li, cs);
            }
            if (o->leaves > d) {
                o->leaves -= d;
                emit_cancel(m, o, d, WM_CXL_STP, WM_EVF_PARTIAL);
            } else {
                emit_cancel(m, o, d, WM_CXL_STP, 0);
                o->leaves = 0;
                finish_taker(m);
            }
            return;
        }
    }
    if (mk->next != NONE)
        pf_write(ord(m, mk->next));
    int64_t q = mk->leaves < o->leaves ? mk->leaves : o->leaves;
    uint64_t trade = ++m->next_trade;
    m->counters[C_TRADES]++;
    mk->leaves -= q;
    o->leaves -= q;
    l->total -= q;
    /* Fill price is the maker's price, in both events. */
    put_event(m, mk->order_ref, mk->client_id, l->price, q, trade,
              order_tail(mk) | (uint64_t)WM_EV_EXECUTED << 48 | (uint64_t)WM_EVF_MAKER << 56);
    put_event(m, o->order_ref, o->client_id, l->price, q, trade,
              order_tail(o) | (uint64_t)WM_EV_EXECUTED << 48);
    if (mk->leaves == 0)
        maker_gone(m, in, mk, l, li, cs);
    else
        m->job.touched = li;
    if (o->leaves == 0)
        finish_taker(m);
}

/* ---- sweeps (mass cancel, close) ------------------------------------------- */

static bool sweep_match(const struct mt_job *j, const struct mt_order *o)
{
    if (!j->any_session && o->session != j->session)
        return false;
    if (j->day_only && o->tif != WM_TIF_DAY)
        return false;
    return true;
}

/* Cancel the next matching order (<= 2 events); false when the sweep is over. */
static bool sweep_step(struct wm_matcher *m)
{
    struct mt_job *j = &m->job;
    if (j->by_session) {
        while (j->sess_next != NONE) {
            uint32_t oi = j->sess_next;
            struct mt_order *o = ord(m, oi);
            j->sess_next = o->snext;
            if (o->instrument >= j->instr && o->instrument <= j->instr_last) {
                cancel_resting(m, &m->instr[o->instrument], o, j->reason, ID_NONE);
                j->count++;
                return true;
            }
        }
        return false;
    }
    while (j->instr <= j->instr_last) {
        struct mt_instr *in = instr_of(m, j->instr);
        if (in == NULL) {
            j->instr++;
            continue;
        }
        int s = (int)j->sw_side;
        if (!j->sw_started) {
            uint32_t b = in->side[s].best;
            j->sw_next = b == NONE ? NONE : lvl(in, b)->head;
            j->sw_started = true;
        }
        while (j->sw_next != NONE) {
            struct mt_order *o = ord(m, j->sw_next);
            uint32_t nx = o->next;
            if (nx == NONE) {
                uint32_t nl = level_next_worse(in, s, o->price);
                nx = nl == NONE ? NONE : lvl(in, nl)->head;
            }
            j->sw_next = nx;
            if (sweep_match(j, o)) {
                cancel_resting(m, in, o, j->reason, ID_NONE);
                j->count++;
                return true;
            }
        }
        j->sw_started = false;
        if (j->sw_side == 0) {
            j->sw_side = 1;
        } else {
            j->sw_side = 0;
            j->instr++;
        }
    }
    return false;
}

/* ---- jobs ------------------------------------------------------------------ */

static void run_job(struct wm_matcher *m)
{
    while (m->job.kind != JOB_NONE) {
        if (m->ev_next > m->ev_last) {
            m->counters[C_PENDING_SPLITS]++;
            return;
        }
        if (m->job.kind == JOB_MATCH) {
            match_step(m);
        } else if (!sweep_step(m)) {
            if (m->job.report) {
                put_event(m, 0, 0, 0, (int64_t)m->job.count, 0,
                          ev_tail(m->job.session, m->job.report_instr, WM_EV_MASS_CANCELLED, 0));
            }
            m->job.kind = JOB_NONE;
        }
    }
}

/* ---- commands -------------------------------------------------------------- */

MT_HOT int validate_new(const struct mt_instr *in, const struct wm_cmd *c)
{
    int r;
    /* The common NEW first, behind one branch: a limit order with side, time
     * in force and STP mode in range and none of post-only, minimum or
     * display quantity.  It passes every check below up to the quantity, so
     * only these remain, in the same order (the same reason as below). */
    if (WM_LIKELY((unsigned)c->side - WM_SIDE_BUY <= WM_SIDE_SELL - WM_SIDE_BUY &&
                  c->ord_type == WM_ORD_LIMIT &&
                  (unsigned)c->tif - WM_TIF_DAY <= WM_TIF_FOK - WM_TIF_DAY &&
                  c->stp <= WM_STP_DECREMENT &&
                  ((uint64_t)c->flags | (uint64_t)c->min_qty | (uint64_t)c->display_qty) == 0)) {
        if ((r = check_qty(in, c->qty)) != 0)
            return r;
        if ((r = check_price(in, c->price)) != 0)
            return r;
        return check_state(in);
    }
    if (c->side != WM_SIDE_BUY && c->side != WM_SIDE_SELL)
        return WM_REJ_BAD_SIDE;
    if (c->ord_type != WM_ORD_LIMIT && c->ord_type != WM_ORD_MARKET)
        return WM_REJ_BAD_ORDER_TYPE;
    if (c->tif < WM_TIF_DAY || c->tif > WM_TIF_FOK ||
        (c->ord_type == WM_ORD_MARKET && c->tif != WM_TIF_IOC && c->tif != WM_TIF_FOK))
        return WM_REJ_BAD_TIF;
    if (c->stp > WM_STP_DECREMENT)
        return WM_REJ_BAD_STP;
    if ((c->flags & ~WM_CMDF_POST_ONLY) ||
        ((c->flags & WM_CMDF_POST_ONLY) &&
         (c->ord_type != WM_ORD_LIMIT || c->tif == WM_TIF_IOC || c->tif == WM_TIF_FOK ||
          c->min_qty != 0)))
        return WM_REJ_BAD_FLAGS;
    if ((r = check_qty(in, c->qty)) != 0)
        return r;
    if (c->min_qty < 0 || c->min_qty > c->qty)
        return WM_REJ_BAD_MIN_QTY;
    if (c->display_qty != 0)
        return WM_REJ_BAD_DISPLAY_QTY;
    if (c->ord_type == WM_ORD_MARKET) {
        if (c->price != 0)
            return WM_REJ_BAD_PRICE;
    } else if ((r = check_price(in, c->price)) != 0) {
        return r;
    }
    return check_state(in);
}

/* ACCEPTED's aux: tif | ord_type << 8 | flags << 16 | stp << 24 | account << 32.
 * The command holds ord_type, tif, flags, stp in that order in one word:
 * load it whole and swap its two low bytes. */
_Static_assert(offsetof(struct wm_cmd, tif) == offsetof(struct wm_cmd, ord_type) + 1 &&
                   offsetof(struct wm_cmd, flags) == offsetof(struct wm_cmd, ord_type) + 2 &&
                   offsetof(struct wm_cmd, stp) == offsetof(struct wm_cmd, ord_type) + 3,
               "ord_type, tif, flags, stp are one word");
static inline uint64_t accepted_aux(const struct wm_cmd *c)
{
    uint32_t w;
    memcpy(&w, &c->ord_type, sizeof(w));
    w = (w & 0xffff0000u) | (uint16_t)(w << 8 | (w >> 8 & 0xffu));
    return (uint64_t)w | (uint64_t)c->account << 32;
}

/* home: id_slot(m, c->session, c->client_id), computed once per command
 * (by the batch prefetch's first stage, or by apply). */
MT_HOT void cmd_new(struct wm_matcher *m, const struct wm_cmd *c, uint64_t home)
{
    m->counters[C_CMD_NEW]++;
    struct mt_instr *in = instr_of(m, c->instrument);
    if (in == NULL) {
        reject(m, c, WM_REJ_UNKNOWN_INSTRUMENT);
        return;
    }
    int r = validate_new(in, c);
    if (r) {
        reject(m, c, (uint8_t)r);
        return;
    }
    uint64_t id_dist = 0;
    uint64_t id_pos = id_probe(m, home, c->session, c->client_id, &id_dist);
    if (!(id_pos & ID_ABSENT)) {
        reject(m, c, WM_REJ_DUPLICATE_ID);
        return;
    }
    struct mt_sess *ss = sess_find(m, c->session);
    if (m->orders->free_count == 0 || in->live >= in->max_orders ||
        (ss == NULL && m->nsess >= m->max_sessions)) {
        reject(m, c, WM_REJ_CAPACITY);
        return;
    }
    int s = side_ix(c->side);
    bool may_rest = c->ord_type == WM_ORD_LIMIT && (c->tif == WM_TIF_DAY || c->tif == WM_TIF_GTC);
    uint32_t rest_li = NONE;
    if (may_rest) {
        rest_li = level_find(in, s, c->price);
        if ((r = check_rest_at(in, rest_li, c->qty, NULL)) != 0) {
            reject(m, c, (uint8_t)r);
            return;
        }
    }
    bool cross = crosses(in, s, c->ord_type, c->price);
    if ((c->flags & WM_CMDF_POST_ONLY) && cross) {
        reject(m, c, WM_REJ_POST_ONLY);
        return;
    }
    if (ss == NULL)
        ss = sess_get(m, c->session); /* a session is known from its first accepted order */
    struct mt_order *o = wm_pool_get(m->orders);
    uint32_t oi = (uint32_t)(o - m->ob); /* wm_pool_index without its division */
    o->order_ref = ++m->next_ref;
    o->client_id = c->client_id;
    o->price = c->price;
    o->leaves = c->qty;
    uint64_t tail = c->session | (uint64_t)c->instrument << 32 | (uint64_t)c->side << 56;
    memcpy(&o->session, &tail, sizeof(tail)); /* session, instrument, type byte 0, side */
    o->account = c->account;
    o->prev = o->next = NONE;
    o->tif = c->tif;
    o->stp = c->stp;
    o->flags = c->flags;
    o->ord_type = c->ord_type;
    /* Nothing since the probe changed the id table. */
    id_put(m, id_pos & ~ID_ABSENT, id_dist, c->session, c->client_id, oi);
    sess_append(m, ss, oi);
    in->live++;
    m->live++;
    m->counters[C_ACCEPTED]++;
    emit_order(m, WM_EV_ACCEPTED, o, c->qty, accepted_aux(c), 0);
    if (!cross && may_rest && c->min_qty == 0) {
        /* Fast path, the same events as the matching job would give: the
         * order rests at once (its level was found above). */
        if (rest_li == NONE)
            rest_li = level_create(in, s, c->price);
        struct mt_level *l = lvl(in, rest_li);
        level_append(m, l, rest_li, oi);
        emit_order(m, WM_EV_BOOKED, o, o->leaves, 0, 0);
        emit_level(m, o->instrument, s, l, l->price);
        return;
    }
    int64_t need = c->tif == WM_TIF_FOK ? c->qty : c->min_qty;
    if (need > 0 && simulate_fill(m, in, o, need) < need) {
        emit_cancel(m, o, o->leaves, c->tif == WM_TIF_FOK ? WM_CXL_FOK : WM_CXL_MIN_QTY, 0);
        order_free(m, in, o);
        return;
    }
    m->job.kind = JOB_MATCH;
    m->job.taker = oi;
    m->job.touched = NONE;
}

MT_HOT void cmd_cancel(struct wm_matcher *m, const struct wm_cmd *c, uint64_t home)
{
    m->counters[C_CMD_CANCEL]++;
    uint64_t pos = id_find_from(m, home, c->session, c->client_id);
    if (pos == ID_NONE) {
        reject(m, c, WM_REJ_UNKNOWN_ORDER);
        return;
    }
    struct mt_order *o = ord(m, slot_idx(m->ids[pos].ent));
    if (o->instrument != c->instrument) {
        reject(m, c, WM_REJ_UNKNOWN_ORDER);
        return;
    }
    cancel_resting(m, &m->instr[o->instrument], o, WM_CXL_USER, pos);
}

MT_HOT void cmd_replace(struct wm_matcher *m, const struct wm_cmd *c, uint64_t home)
{
    m->counters[C_CMD_REPLACE]++;
    uint64_t pos = id_find_from(m, home, c->session, c->client_id);
    if (pos == ID_NONE) {
        reject(m, c, WM_REJ_UNKNOWN_ORDER);
        return;
    }
    uint32_t oi = slot_idx(m->ids[pos].ent);
    struct mt_order *o = ord(m, oi);
    if (o->instrument != c->instrument) {
        reject(m, c, WM_REJ_UNKNOWN_ORDER);
        return;
    }
    struct mt_instr *in = &m->instr[o->instrument];
    int s = side_ix(o->side);
    int r = check_qty(in, c->qty);
    if (!r)
        r = check_price(in, c->price);
    if (!r)
        r = check_state(in);
    if (!r && c->new_client_id != c->client_id && id_find(m, c->session, c->new_client_id) != NONE)
        r = WM_REJ_DUPLICATE_ID;
    if (!r)
        r = check_rest(in, s, c->price, c->qty, o);
    if (!r && (o->flags & WM_CMDF_POST_ONLY) && crosses(in, s, WM_ORD_LIMIT, c->price))
        r = WM_REJ_POST_ONLY;
    if (r) {
        reject(m, c, (uint8_t)r);
        return;
    }
    uint64_t old_id = o->client_id;
    uint32_t li = level_find(in, s, o->price);
    struct mt_level *l = lvl(in, li);
    if (c->price == o->price && c->qty <= o->leaves) {
        /* In place: same order_ref, priority kept. */
        int64_t d = o->leaves - c->qty;
        if (d > 0) {
            o->leaves = c->qty;
            l->total -= d;
            emit_cancel(m, o, d, WM_CXL_REPLACED, WM_EVF_RESTING | WM_EVF_PARTIAL);
        }
        if (c->new_client_id != old_id) {
            id_remove_at(m, pos);
            id_insert(m, o->session, c->new_client_id, oi);
            o->client_id = c->new_client_id;
        }
        emit_order(m, WM_EV_REPLACED, o, o->leaves, old_id, WM_EVF_IN_PLACE);
        if (d > 0)
            emit_level(m, o->instrument, s, l, l->price);
        return;
    }
    /* Priority lost: the old order leaves the book, a new one enters as the
     * aggressor. */
    emit_cancel(m, o, o->leaves, WM_CXL_REPLACED, WM_EVF_RESTING);
    l->total -= o->leaves;
    level_unlink(m, l, o);
    int64_t price = l->price;
    if (l->count == 0) {
        level_destroy(in, s, li);
        emit_level(m, o->instrument, s, NULL, price);
    } else {
        emit_level(m, o->instrument, s, l, price);
    }
    id_remove_at(m, pos);
    id_insert(m, o->session, c->new_client_id, oi);
    struct mt_sess *ss = sess_find(m, o->session);
    sess_unlink(m, ss, o);
    sess_append(m, ss, oi);
    o->client_id = c->new_client_id;
    o->order_ref = ++m->next_ref;
    o->price = c->price;
    o->leaves = c->qty;
    o->prev = o->next = NONE;
    emit_order(m, WM_EV_REPLACED, o, o->leaves, old_id, 0);
    m->job.kind = JOB_MATCH;
    m->job.taker = oi;
    m->job.touched = NONE;
}

static void cmd_mass_cancel(struct wm_matcher *m, const struct wm_cmd *c)
{
    m->counters[C_CMD_MASS_CANCEL]++;
    bool all = c->flags & WM_CMDF_ALL_INSTRUMENTS;
    if (c->flags & ~WM_CMDF_ALL_INSTRUMENTS) {
        reject(m, c, WM_REJ_BAD_FLAGS);
        return;
    }
    if (!all && instr_of(m, c->instrument) == NULL) {
        reject(m, c, WM_REJ_UNKNOWN_INSTRUMENT);
        return;
    }
    struct mt_job *j = &m->job;
    const struct mt_sess *ss = sess_find(m, c->session);
    j->kind = JOB_SWEEP;
    j->by_session = true;
    j->sess_next = ss ? ss->head : NONE;
    j->session = c->session;
    j->any_session = false;
    j->day_only = false;
    j->report = true;
    j->reason = WM_CXL_MASS;
    j->instr = all ? 0 : c->instrument;
    j->instr_last = all ? m->max_instruments - 1 : c->instrument;
    j->report_instr = all ? ALL_INSTRUMENTS : c->instrument;
    j->sw_side = 0;
    j->sw_started = false;
    j->count = 0;
}

static void cmd_state(struct wm_matcher *m, const struct wm_cmd *c, uint32_t state)
{
    struct mt_instr *in = instr_of(m, c->instrument);
    if (in == NULL) {
        reject(m, c, WM_REJ_UNKNOWN_INSTRUMENT);
        return;
    }
    uint32_t old = in->state;
    in->state = state;
    put_event(m, 0, 0, 0, old, state, ev_tail(0, c->instrument, WM_EV_STATE, 0));
    if (state == WM_STATE_CLOSED) {
        struct mt_job *j = &m->job;
        j->kind = JOB_SWEEP;
        j->by_session = false;
        j->any_session = true;
        j->day_only = true;
        j->report = false;
        j->reason = WM_CXL_CLOSE;
        j->instr = j->instr_last = c->instrument;
        j->sw_side = 0;
        j->sw_started = false;
        j->count = 0;
    }
}

/* Move the dense window so that it is centred on centre (a price on tick), as
 * at creation around ref_price: levels now outside it move to the fallback,
 * levels now inside it move in; every level keeps its index, so the book and
 * the events are the same (the ladder is storage only).  O(levels + W/64),
 * on SET_REF only. */
static __attribute__((noinline, cold)) void ladder_recentre(struct mt_instr *in, int64_t centre,
                                                            uint32_t *scratch)
{
    int64_t base = div_by(centre, in->tick, in->tick_shift) - (int64_t)(in->window / 2);
    if (base == in->base_ticks)
        return;
    uint32_t nw0 = in->window / 64, nw1 = nw0 / 64 ? nw0 / 64 : 1;
    for (int s = 0; s < 2; s++) {
        struct mt_side *sd = &in->side[s];
        /* The window's levels in ascending price, then in ascending goodness. */
        uint32_t nw = 0;
        for (uint32_t b = bm_next_ge(&sd->bm, 0); b != BM_NONE; b = bm_next_ge(&sd->bm, b + 1)) {
            scratch[nw++] = sd->slot[b];
            sd->slot[b] = NONE;
        }
        memset(sd->bm.l0, 0, nw0 * sizeof(uint64_t));
        memset(sd->bm.l1, 0, nw1 * sizeof(uint64_t));
        sd->bm.l2 = 0;
        if (s == 1)
            for (uint32_t i = 0, j = nw; i + 1 < j; i++, j--) {
                uint32_t t = scratch[i];
                scratch[i] = scratch[j - 1];
                scratch[j - 1] = t;
            }
        /* Merged with the fallback (ascending goodness too) from the back:
         * fb then holds every level of the side (nlevels <= max_levels). */
        uint32_t i = sd->nfb, j = nw, k = sd->nfb + nw;
        while (j > 0) {
            if (i > 0 && goodness(s, lvl(in, sd->fb[i - 1])->price) >
                             goodness(s, lvl(in, scratch[j - 1])->price))
                sd->fb[--k] = sd->fb[--i];
            else
                sd->fb[--k] = scratch[--j];
        }
        sd->nfb += nw;
    }
    in->base_ticks = base;
    for (int s = 0; s < 2; s++) {
        struct mt_side *sd = &in->side[s];
        uint32_t k = 0;
        for (uint32_t i = 0; i < sd->nfb; i++) {
            uint32_t li = sd->fb[i];
            uint32_t w = win_slot(in, lvl(in, li)->price);
            if (w != NONE) {
                sd->slot[w] = li;
                bm_set(&sd->bm, w);
            } else {
                sd->fb[k++] = li; /* k <= i: the order is kept */
            }
        }
        sd->nfb = k;
    }
}

static void cmd_set_ref(struct wm_matcher *m, const struct wm_cmd *c)
{
    m->counters[C_CMD_SET_REF]++;
    struct mt_instr *in = instr_of(m, c->instrument);
    if (in == NULL) {
        reject(m, c, WM_REJ_UNKNOWN_INSTRUMENT);
        return;
    }
    if (c->price <= 0 || c->price % in->tick != 0) {
        reject(m, c, c->price <= 0 ? WM_REJ_BAD_PRICE : WM_REJ_OFF_TICK);
        return;
    }
    in->ref = c->price;
    ladder_recentre(in, c->price, m->scratch);
    put_event(m, 0, 0, c->price, 0, 0, ev_tail(0, c->instrument, WM_EV_REF_PRICE, 0));
}

/* home: the command's id_slot when it carries an order id (cmd_has_id). */
MT_HOT void process(struct wm_matcher *m, const struct wm_cmd *c, uint64_t home)
{
    m->job.ts = c->ts;
    switch (c->type) {
    case WM_CMD_NEW:
        cmd_new(m, c, home);
        break;
    case WM_CMD_CANCEL:
        cmd_cancel(m, c, home);
        break;
    case WM_CMD_REPLACE:
        cmd_replace(m, c, home);
        break;
    case WM_CMD_MASS_CANCEL:
        cmd_mass_cancel(m, c);
        break;
    case WM_CMD_HALT:
        m->counters[C_CMD_HALT]++;
        cmd_state(m, c, WM_STATE_HALTED);
        break;
    case WM_CMD_RESUME:
        m->counters[C_CMD_RESUME]++;
        cmd_state(m, c, WM_STATE_OPEN);
        break;
    case WM_CMD_CLOSE:
        m->counters[C_CMD_CLOSE]++;
        cmd_state(m, c, WM_STATE_CLOSED);
        break;
    case WM_CMD_SET_REF:
        cmd_set_ref(m, c);
        break;
    default:
        m->counters[C_CMD_UNKNOWN]++;
        reject(m, c, WM_REJ_BAD_COMMAND);
        break;
    }
}

/* Software pipelining over a batch: a command PF_SLOT places ahead gets its
 * id-table slot prefetched, PF_ORDER ahead its order record, PF_LINKS ahead
 * the order's queue neighbours.  Hints only: stale reads are harmless (every
 * index read is bounds-safe pool memory) and change nothing. */
enum { PF_SLOT = 20, PF_ORDER = 12, PF_LINKS = 6 };

static inline bool cmd_has_id(const struct wm_cmd *c)
{
    return c->type == WM_CMD_NEW || c->type == WM_CMD_CANCEL || c->type == WM_CMD_REPLACE;
}

/* The command's id_slot (0 when it has no order id): computed once, here or
 * by stage 1, and handed to process. */
static inline uint64_t cmd_home(const struct wm_matcher *m, const struct wm_cmd *c)
{
    return cmd_has_id(c) ? id_slot(m, c->session, c->client_id) : 0;
}

/* A command applied without the batch prefetch (its own copy of the command
 * code: the batch loop in wm_matcher_apply keeps everything inlined). */
static __attribute__((noinline)) void process_alone(struct wm_matcher *m, const struct wm_cmd *c)
{
    process(m, c, cmd_home(m, c));
}

/* Stage 1: the command's id slot (and a replace's new one); returns the
 * home for the later stages and process. */
static inline uint64_t prefetch_slot(const struct wm_matcher *m, const struct wm_cmd *c)
{
    uint64_t home = cmd_home(m, c);
    if (cmd_has_id(c))
        pf_read(&m->ids[home]);
    if (c->type == WM_CMD_REPLACE) /* the replacement id: checked and inserted */
        pf_write(&m->ids[id_slot(m, c->session, c->new_client_id)]);
    return home;
}

static inline uint32_t prefetch_target(const struct wm_matcher *m, const struct wm_cmd *c,
                                       uint64_t home)
{
    if (c->type != WM_CMD_CANCEL && c->type != WM_CMD_REPLACE)
        return NONE;
    uint64_t pos = id_find_from(m, home, c->session, c->client_id);
    uint32_t oi = pos == ID_NONE ? NONE : slot_idx(m->ids[pos].ent);
    return oi < m->orders->capacity ? oi : NONE;
}

/* A NEW order's first maker: the head of the contra side's best level. */
static inline uint32_t prefetch_maker(const struct wm_matcher *m, const struct wm_cmd *c)
{
    if (c->type != WM_CMD_NEW || c->instrument >= m->max_instruments)
        return NONE;
    const struct mt_instr *in = &m->instr[c->instrument];
    if (!in->used)
        return NONE;
    /* A bad side reads the ask side: a hint only (the command is rejected). */
    uint32_t b = in->side[c->side != WM_SIDE_SELL].best;
    if (b == NONE)
        return NONE;
    uint32_t h = lvl(in, b)->head;
    return h < m->orders->capacity ? h : NONE;
}

/* Stage 2: find the order a command will touch first (the target of a
 * cancel/replace, or the first maker of a NEW order) and prefetch it;
 * returns it (or NONE | 1<<31 for a maker, NONE) for stage 3. */
#define PF_MAKER 0x80000000u
static inline uint32_t prefetch_order(const struct wm_matcher *m, const struct wm_cmd *c,
                                      uint64_t home)
{
    uint32_t oi = prefetch_target(m, c, home);
    uint32_t tag = 0;
    if (oi == NONE) {
        oi = prefetch_maker(m, c);
        tag = PF_MAKER;
    }
    if (oi == NONE)
        return NONE;
    pf_write(ord(m, oi));
    return oi | tag;
}

/* Stage 3: from the (now cached) order, prefetch what the command touches
 * next: a target's queue neighbours; a maker's id slot (it may be filled and
 * removed) and its successor. */
MT_HOT void prefetch_links(const struct wm_matcher *m, const struct wm_cmd *c, uint32_t found)
{
    if (found == NONE)
        return;
    uint32_t oi = found & ~PF_MAKER;
    const struct mt_order *o = ord(m, oi);
    /* Its neighbours in the session list (unlinked when it goes). */
    if (o->sprev < m->orders->capacity)
        pf_write(ord(m, o->sprev));
    if (o->snext < m->orders->capacity)
        pf_write(ord(m, o->snext));
    if (found & PF_MAKER) {
        pf_write(&m->ids[id_slot(m, o->session, o->client_id)]);
    } else {
        if (o->prev < m->orders->capacity)
            pf_write(ord(m, o->prev));
        /* A replace that moves: the tail of the destination level. */
        if (c->type == WM_CMD_REPLACE && c->price != o->price && c->price > 0 &&
            o->instrument < m->max_instruments && m->instr[o->instrument].used &&
            (o->side == WM_SIDE_BUY || o->side == WM_SIDE_SELL)) {
            const struct mt_instr *in = &m->instr[o->instrument];
            uint32_t w = win_slot(in, c->price);
            uint32_t li = w == NONE ? NONE : in->side[side_ix(o->side)].slot[w];
            if (li != NONE && lvl(in, li)->tail < m->orders->capacity)
                pf_write(ord(m, lvl(in, li)->tail));
        }
    }
    if (o->next < m->orders->capacity)
        pf_write(ord(m, o->next));
}

#ifdef WM_MATCHER_CMD_TSC
/* Benchmark-only build (tools/bench/matcher_bench.c compiles this file a
 * second time with WM_MATCHER_CMD_TSC and renamed entry points): when
 * mt_cmd_tsc is set, apply stores a TSC stamp (lfence; rdtsc) before the
 * first command and after each command of the batch, so each command's time
 * inside batched, prefetched processing is the difference of two stamps.
 * The library build has none of this. */
static uint64_t *mt_cmd_tsc;
static unsigned mt_cmd_tsc_n;
#define MT_CMD_STAMP()                                    \
    do {                                                  \
        if (mt_cmd_tsc) {                                 \
            _mm_lfence();                                 \
            mt_cmd_tsc[mt_cmd_tsc_n++] = __rdtsc();       \
        }                                                 \
    } while (0)
#else
#define MT_CMD_STAMP() ((void)0)
#endif

/* The body of wm_matcher_apply and wm_matcher_apply_indexed: inlined into
 * each, so that apply (cmd_end NULL) has no per-command store or test. */
static inline __attribute__((always_inline)) int
apply_batch(struct wm_matcher *m, const struct wm_cmd *cmds, unsigned n, struct wm_event *events,
            unsigned events_cap, unsigned *consumed, uint32_t *cmd_end)
{
    if (m == NULL || events == NULL || events_cap < WM_MATCHER_MIN_EVENTS ||
        (cmds == NULL && n > 0))
        return -EINVAL;
    m->ev = events;
    m->ev_next = events;
    m->ev_last = events + (events_cap - WM_MATCHER_MIN_EVENTS);
    unsigned i = 0;
    if (m->job.kind != JOB_NONE)
        run_job(m);
    if (cmd_end)
        cmd_end[0] = (uint32_t)(m->ev_next - events);
    /* home[k & 31]: stage 1's id slot for command k (stages 2 and process);
     * found[k & 15]: stage 2's result for command k, read by stage 3. */
    uint64_t home[32];
    uint32_t found[16];
    _Static_assert(PF_SLOT < 32 && PF_ORDER < 16 && PF_LINKS < PF_ORDER && PF_ORDER < PF_SLOT,
                   "prefetch rings hold the commands in flight");
    bool pf = n > PF_LINKS;
    if (pf) {
        for (unsigned k = 0; k < n && k < PF_SLOT; k++)
            home[k & 31] = prefetch_slot(m, &cmds[k]);
        for (unsigned k = 0; k < n && k < PF_ORDER; k++)
            found[k & 15] = prefetch_order(m, &cmds[k], home[k & 31]);
    }
    MT_CMD_STAMP();
    if (pf) {
        while (m->job.kind == JOB_NONE && i < n && m->ev_next <= m->ev_last) {
            if (i + PF_SLOT < n)
                home[(i + PF_SLOT) & 31] = prefetch_slot(m, &cmds[i + PF_SLOT]);
            if (i + PF_ORDER < n)
                found[(i + PF_ORDER) & 15] =
                    prefetch_order(m, &cmds[i + PF_ORDER], home[(i + PF_ORDER) & 31]);
            if (i + PF_LINKS < n)
                prefetch_links(m, &cmds[i + PF_LINKS], found[(i + PF_LINKS) & 15]);
            process(m, &cmds[i], home[i & 31]);
            i++;
            if (m->job.kind != JOB_NONE)
                run_job(m);
            if (cmd_end)
                cmd_end[i] = (uint32_t)(m->ev_next - events);
            MT_CMD_STAMP();
        }
    } else {
        while (m->job.kind == JOB_NONE && i < n && m->ev_next <= m->ev_last) {
            process_alone(m, &cmds[i]);
            i++;
            if (m->job.kind != JOB_NONE)
                run_job(m);
            if (cmd_end)
                cmd_end[i] = (uint32_t)(m->ev_next - events);
            MT_CMD_STAMP();
        }
    }
    if (consumed)
        *consumed = i;
    unsigned nev = (unsigned)(m->ev_next - events);
    m->counters[C_EVENTS] += nev;
    if (WM_LIKELY(m->hashing))
        m->hash = hash_events(m->hash, events, nev);
    return (int)nev;
}

int wm_matcher_apply(struct wm_matcher *m, const struct wm_cmd *cmds, unsigned n,
                     struct wm_event *events, unsigned events_cap, unsigned *consumed)
{
    return apply_batch(m, cmds, n, events, events_cap, consumed, NULL);
}

int wm_matcher_apply_indexed(struct wm_matcher *m, const struct wm_cmd *cmds, unsigned n,
                             struct wm_event *events, unsigned events_cap, unsigned *consumed,
                             uint32_t *cmd_end)
{
    if (cmd_end == NULL)
        return -EINVAL;
    return apply_batch(m, cmds, n, events, events_cap, consumed, cmd_end);
}

int wm_matcher_pending(const struct wm_matcher *m)
{
    return m->job.kind != JOB_NONE;
}

uint64_t wm_matcher_hash(const struct wm_matcher *m)
{
    return m->hashing ? m->hash : 0;
}

uint64_t wm_matcher_last_seq(const struct wm_matcher *m)
{
    return m->seq;
}

/* ---- creation -------------------------------------------------------------- */

/* The state of a matcher just created: no orders, sessions, events or
 * counts, the hash at its start.  The tables keep their memory. */
static void matcher_clear(struct wm_matcher *m)
{
    m->live = 0;
    m->nsess = 0;
    m->seq = m->next_ref = m->next_trade = 0;
    m->hash = HASH_INIT;
    memset(&m->job, 0, sizeof(m->job));
    m->ev = m->ev_next = m->ev_last = NULL;
    memset(m->counters, 0, sizeof(m->counters));
    memset(m->ids, 0, (m->id_mask + 1) * sizeof(struct mt_slot));
    for (uint64_t i = 0; i <= m->id_mask; i++)
        m->ids[i].ent = SLOT_EMPTY;
    memset(m->sess, 0, ((size_t)m->sess_mask + 1) * sizeof(struct mt_sess));
    size_t need = wm_pool_memsize(sizeof(struct mt_order), m->max_orders);
    memset(m->orders, 0, need);
    (void)wm_pool_init(m->orders, need, sizeof(struct mt_order), m->max_orders);
    m->ob = (struct mt_order *)m->orders->objs;
}

/* An instrument as wm_matcher_add_instrument leaves it, from its config: an
 * empty book, the configured state and reference price.  The memory it
 * reserved is kept. */
static void instr_clear(const struct wm_matcher *m, struct mt_instr *in)
{
    const struct wm_instrument_config *cfg = &m->instr_cfg[in - m->instr];
    uint32_t w = cfg->window_ticks;
    in->state = cfg->state ? cfg->state : WM_STATE_OPEN;
    in->max_orders = cfg->max_orders ? cfg->max_orders : m->max_orders;
    in->live = 0;
    in->tick = cfg->tick_size;
    in->tick_shift = log2_or_minus1(cfg->tick_size);
    in->lot_shift = log2_or_minus1(cfg->lot_size);
    in->lot = cfg->lot_size;
    in->min_qty = cfg->min_order_qty;
    in->max_qty = cfg->max_order_qty;
    in->ref = cfg->ref_price;
    in->band = cfg->price_band;
    in->window = w;
    in->base_ticks = cfg->ref_price / cfg->tick_size - (int64_t)(w / 2);
    size_t need = wm_pool_memsize(sizeof(struct mt_level), cfg->max_levels);
    memset(in->levels, 0, need);
    (void)wm_pool_init(in->levels, need, sizeof(struct mt_level), cfg->max_levels);
    in->lv = (struct mt_level *)in->levels->objs;
    uint32_t nw0 = w / 64, nw1 = nw0 / 64 ? nw0 / 64 : 1;
    for (int s = 0; s < 2; s++) {
        struct mt_side *sd = &in->side[s];
        memset(sd->slot, 0xff, w * sizeof(uint32_t));
        memset(sd->bm.l0, 0, nw0 * sizeof(uint64_t));
        memset(sd->bm.l1, 0, nw1 * sizeof(uint64_t));
        sd->bm.l2 = 0;
        sd->bm.nbits = w;
        sd->nfb = 0;
        sd->nlevels = 0;
        sd->best = NONE;
    }
}

int wm_matcher_create(const struct wm_matcher_config *cfg, struct wm_matcher **out)
{
    if (cfg == NULL || out == NULL || cfg->max_instruments == 0 || cfg->max_instruments > 65535 ||
        cfg->max_orders == 0 || cfg->max_orders >= (1u << 28) || cfg->max_sessions > (1u << 24) ||
        (cfg->options & ~(uint32_t)(WM_MATCHER_NO_HASH | WM_MATCHER_NO_LEVEL_EVENTS)))
        return -EINVAL;
    struct wm_matcher *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    int rc = -ENOMEM;
    m->max_instruments = cfg->max_instruments;
    m->max_orders = cfg->max_orders;
    m->hash = HASH_INIT;
    m->hashing = !(cfg->options & WM_MATCHER_NO_HASH);
    m->level_events = !(cfg->options & WM_MATCHER_NO_LEVEL_EVENTS);
    /* At least 4 slots per order: groups of four consecutive ids fill whole
     * lines, so a colliding group runs on into the next line; at <= 25% load
     * those runs stay short (with 2 slots per order the mixed benchmark
     * takes ~2% more instructions per command, 541 against 531 in
     * callgrind, and the 20k-order book runs ~8% slower).  Indices stay
     * below 2^28 - 1, so an entry word (index | distance << 28) never
     * equals SLOT_EMPTY. */
    uint64_t slots = 64;
    while (slots < 4ull * cfg->max_orders)
        slots <<= 1;
    m->id_mask = slots - 1;
    m->id_shift = 64 - __builtin_ctzll(slots);
    m->ids = big_alloc(slots * sizeof(struct mt_slot));
    if (m->ids == NULL)
        goto fail;
    m->instr = calloc(cfg->max_instruments, sizeof(struct mt_instr));
    m->instr_cfg = calloc(cfg->max_instruments, sizeof(struct wm_instrument_config));
    if (m->instr == NULL || m->instr_cfg == NULL)
        goto fail;
    m->max_sessions = cfg->max_sessions ? cfg->max_sessions : 1024;
    uint32_t ns = 16;
    while (ns < 2 * m->max_sessions)
        ns <<= 1;
    m->sess_mask = ns - 1;
    m->sess = calloc(ns, sizeof(struct mt_sess));
    if (m->sess == NULL)
        goto fail;
    m->orders = big_pool(sizeof(struct mt_order), cfg->max_orders);
    if (m->orders == NULL)
        goto fail;
    matcher_clear(m);
    *out = m;
    return 0;
fail:
    free(m->sess);
    free(m->instr_cfg);
    free(m->instr);
    free(m->ids);
    free(m);
    return rc;
}

static void instr_free(struct mt_instr *in)
{
    for (int s = 0; s < 2; s++) {
        free(in->side[s].slot);
        free(in->side[s].bm.l0);
        free(in->side[s].bm.l1);
        free(in->side[s].fb);
    }
    free(in->levels);
    memset(in, 0, sizeof(*in));
}

void wm_matcher_destroy(struct wm_matcher *m)
{
    if (m == NULL)
        return;
    for (uint32_t i = 0; i < m->max_instruments; i++)
        if (m->instr[i].used)
            instr_free(&m->instr[i]);
    free(m->orders);
    free(m->scratch);
    free(m->sess);
    free(m->instr_cfg);
    free(m->instr);
    free(m->ids);
    free(m);
}

int wm_matcher_add_instrument(struct wm_matcher *m, const struct wm_instrument_config *cfg)
{
    if (m == NULL || cfg == NULL)
        return -EINVAL;
    if (m->job.kind != JOB_NONE)
        return -EBUSY;
    uint32_t w = cfg->window_ticks ? cfg->window_ticks : 16384;
    if (cfg->id >= m->max_instruments || cfg->tick_size <= 0 || cfg->lot_size <= 0 ||
        cfg->min_order_qty < 1 || cfg->max_order_qty < cfg->min_order_qty ||
        cfg->ref_price <= 0 || cfg->ref_price % cfg->tick_size != 0 || cfg->price_band < 0 ||
        cfg->max_levels == 0 || cfg->max_levels > (1u << 30) || cfg->max_orders > m->max_orders ||
        w < 64 || w > 262144 || (w & (w - 1)) || cfg->state > WM_STATE_CLOSED)
        return -EINVAL;
    if (m->instr[cfg->id].used)
        return -EEXIST;
    struct mt_instr *in = &m->instr[cfg->id];
    memset(in, 0, sizeof(*in));
    m->instr_cfg[cfg->id] = *cfg;
    m->instr_cfg[cfg->id].window_ticks = w;
    in->levels = big_pool(sizeof(struct mt_level), cfg->max_levels);
    if (in->levels == NULL) {
        instr_free(in);
        return -ENOMEM;
    }
    if (cfg->max_levels > m->scratch_cap) {
        uint32_t *sc = malloc((size_t)cfg->max_levels * sizeof(uint32_t));
        if (sc == NULL) {
            instr_free(in);
            return -ENOMEM;
        }
        free(m->scratch);
        m->scratch = sc;
        m->scratch_cap = cfg->max_levels;
    }
    uint32_t nw0 = w / 64, nw1 = nw0 / 64 ? nw0 / 64 : 1;
    for (int s = 0; s < 2; s++) {
        struct mt_side *sd = &in->side[s];
        sd->slot = big_alloc(w * sizeof(uint32_t));
        sd->bm.l0 = calloc(nw0, sizeof(uint64_t));
        sd->bm.l1 = calloc(nw1, sizeof(uint64_t));
        sd->fb = malloc((size_t)cfg->max_levels * sizeof(uint32_t));
        if (!sd->slot || !sd->bm.l0 || !sd->bm.l1 || !sd->fb) {
            instr_free(in);
            return -ENOMEM;
        }
    }
    instr_clear(m, in);
    in->used = true;
    return 0;
}

int wm_matcher_reset(struct wm_matcher *m)
{
    if (m == NULL)
        return -EINVAL;
    matcher_clear(m);
    for (uint32_t i = 0; i < m->max_instruments; i++)
        if (m->instr[i].used)
            instr_clear(m, &m->instr[i]);
    return 0;
}

/* ---- queries --------------------------------------------------------------- */

static void order_info(const struct mt_order *o, struct wm_order_info *out)
{
    memset(out, 0, sizeof(*out));
    out->order_ref = o->order_ref;
    out->client_id = o->client_id;
    out->price = o->price;
    out->qty = o->leaves;
    out->session = o->session;
    out->account = o->account;
    out->instrument = o->instrument;
    out->side = o->side;
    out->tif = o->tif;
    out->stp = o->stp;
    out->flags = o->flags;
}

static int snap_side(const struct wm_matcher *m, uint32_t instrument, uint32_t side,
                     const struct mt_instr **in)
{
    if (m == NULL || (side != WM_SIDE_BUY && side != WM_SIDE_SELL))
        return -EINVAL;
    if (m->job.kind != JOB_NONE)
        return -EBUSY;
    if (instrument >= m->max_instruments || !m->instr[instrument].used)
        return -ENOENT;
    *in = &m->instr[instrument];
    return side_ix((uint8_t)side);
}

int wm_matcher_l2(const struct wm_matcher *m, uint32_t instrument, uint32_t side,
                  struct wm_level_info *out, unsigned n)
{
    const struct mt_instr *in;
    int s = snap_side(m, instrument, side, &in);
    if (s < 0)
        return s;
    unsigned k = 0;
    for (uint32_t li = in->side[s].best; li != NONE && k < n; k++) {
        const struct mt_level *l = lvl(in, li);
        out[k].price = l->price;
        out[k].qty = l->total;
        out[k].orders = l->count;
        out[k].reserved = 0;
        li = level_next_worse(in, s, l->price);
    }
    return (int)k;
}

int wm_matcher_l3(const struct wm_matcher *m, uint32_t instrument, uint32_t side,
                  struct wm_order_info *out, unsigned n)
{
    const struct mt_instr *in;
    int s = snap_side(m, instrument, side, &in);
    if (s < 0)
        return s;
    unsigned k = 0;
    for (uint32_t li = in->side[s].best; li != NONE && k < n;) {
        const struct mt_level *l = lvl(in, li);
        for (uint32_t oi = l->head; oi != NONE && k < n; oi = ord(m, oi)->next)
            order_info(ord(m, oi), &out[k++]);
        li = level_next_worse(in, s, l->price);
    }
    return (int)k;
}

int wm_matcher_depth_at(const struct wm_matcher *m, uint32_t instrument, uint32_t side,
                        int64_t price, int64_t *qty, uint32_t *orders)
{
    const struct mt_instr *in;
    int s = snap_side(m, instrument, side, &in);
    if (s < 0)
        return s;
    if (price <= 0 || mod_by(price, in->tick, in->tick_shift) != 0)
        return -EINVAL;
    uint32_t li = level_find(in, s, price);
    if (qty)
        *qty = li == NONE ? 0 : lvl(in, li)->total;
    if (orders)
        *orders = li == NONE ? 0 : lvl(in, li)->count;
    return 0;
}

int wm_matcher_order_info(const struct wm_matcher *m, uint32_t session, uint64_t client_id,
                          struct wm_order_info *out)
{
    if (m == NULL || out == NULL)
        return -EINVAL;
    uint32_t oi = id_find(m, session, client_id);
    if (oi == NONE)
        return -ENOENT;
    order_info(ord(m, oi), out);
    return 0;
}

int wm_matcher_instrument_status(const struct wm_matcher *m, uint32_t instrument,
                                 struct wm_instrument_status *out)
{
    if (m == NULL || out == NULL)
        return -EINVAL;
    if (instrument >= m->max_instruments || !m->instr[instrument].used)
        return -ENOENT;
    const struct mt_instr *in = &m->instr[instrument];
    memset(out, 0, sizeof(*out));
    out->state = in->state;
    out->live_orders = in->live;
    out->bid_levels = in->side[0].nlevels;
    out->ask_levels = in->side[1].nlevels;
    out->ref_price = in->ref;
    out->best_bid = in->side[0].best == NONE ? 0 : lvl(in, in->side[0].best)->price;
    out->best_ask = in->side[1].best == NONE ? 0 : lvl(in, in->side[1].best)->price;
    out->levels_in_fallback = in->side[0].nfb + in->side[1].nfb;
    out->level_capacity = in->levels->capacity;
    return 0;
}

uint32_t wm_matcher_live_orders(const struct wm_matcher *m)
{
    return m->live;
}

unsigned wm_matcher_counter_count(void)
{
    return C_N;
}

const char *wm_matcher_counter_name(unsigned idx)
{
    return idx < C_N ? counter_names[idx] : NULL;
}

uint64_t wm_matcher_counter_value(const struct wm_matcher *m, unsigned idx)
{
    return idx < C_N ? m->counters[idx] : 0;
}
