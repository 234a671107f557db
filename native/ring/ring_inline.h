/* ring/ring_inline.h - the ring's layout and its inline operations.
 *
 * Private to native/: in-tree C callers that want the operations inlined (the
 * worker loops, the benchmark, the tests) include this header; everybody else
 * calls the exported wrappers declared in wirematch/ring.h.
 *
 * Algorithm (docs/ring.md has the long form)
 * ------------------------------------------
 * Positions are 64-bit counters that never wrap in practice (2^64 elements at
 * 10^9/s is 584 years), so position p lives in slot p & mask and no value is
 * ever reused: there is no ABA.  Every slot starts with a 64-bit sequence
 * word saying what the slot is waiting for:
 *
 *   seq == p        free: the producer of position p may write it
 *   seq == p + 1    filled: the consumer of position p may read it
 *   seq == p + cap  read and handed back: free for position p + cap
 *
 * Producers claim positions by advancing prod.head (a CAS for mp_, a plain
 * store for sp_), consumers likewise on cons.head; a burst claims its n
 * positions with ONE head update.  Completion is per slot: the claimer of p
 * writes (or reads) the element and then release-stores the slot's next
 * sequence value, so nobody waits for an earlier claimer to finish (no
 * in-order tail as in rte_ring's MP/MC modes), and consumers may finish out of
 * order.
 *
 * Two ways to decide that positions may be claimed:
 *   - single-element operations look at the slot itself (Vyukov's bounded
 *     MPMC queue): a producer claims p only when slot p already says "free
 *     for p", a consumer only when it says "filled for p".  The other side's
 *     head is never read, so a hand-off touches just the slot's line.
 *   - bursts compare their head with a cached copy of the other side's head
 *     (prod.cons_cache / cons.prod_cache), refreshed only when the cache says
 *     there is not enough room / not enough elements.  The other side's head
 *     counts positions it has CLAIMED, so a claimed slot may still be in use
 *     by a claimer that has not finished: the burst then waits for the slot's
 *     sequence word (a short, bounded wait on a running peer; a preempted peer
 *     delays it, exactly as rte_ring's tail wait does).
 * Both rules keep 0 <= prod.head - cons.head <= capacity at all times.
 *
 * Memory ordering
 * ---------------
 * The element is published and handed back ONLY through the slot's sequence
 * word: release-store after writing/reading the element, acquire-load before
 * reading/writing it.  The heads and the caches are claim counters: they are
 * accessed relaxed, because no data is ever published through them (a
 * position obtained from a head is always re-validated by the acquire of its
 * slot's sequence word before the element is touched).
 */
#ifndef WM_RING_INLINE_H
#define WM_RING_INLINE_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "wirematch/ring.h"

#define WM_RING_SEQ_SIZE 8u        /* bytes of the sequence word before each element */
#define WM_RING_BLOCK    128u      /* producer and consumer blocks: two lines each, so
                                      the adjacent-line prefetcher cannot pair them */

/* The ring, at the start of its memory.  No pointers: another process maps
 * the same bytes at another address. */
struct wm_ring {
    /* Line 0: written once by wm_ring_init, read-only afterwards (stays
     * shared in every core's cache). */
    uint64_t magic;            /* WM_RING_MAGIC, stored last by init */
    uint64_t memsize;          /* bytes laid out by init */
    uint32_t elem_size;
    uint32_t capacity;
    uint32_t mask;             /* capacity - 1 */
    uint32_t slot_stride;      /* WM_RING_SEQ_SIZE + elem_size */
    uint32_t owned;            /* 1: allocated by wm_ring_create, freed by destroy */
    uint32_t reserved;
    char name[WM_RING_NAME_LEN];

    /* Producers' block: written by producers only. */
    struct {
        uint64_t head;         /* next position to claim; = elements enqueued */
        uint64_t cons_cache;   /* a value cons.head had (never ahead of it) */
        uint64_t refused;      /* elements refused because the ring was full */
    } prod WM_ALIGNED(WM_RING_BLOCK);

    /* Consumers' block: written by consumers only. */
    struct {
        uint64_t head;         /* next position to claim; = elements dequeued */
        uint64_t prod_cache;   /* a value prod.head had (never ahead of it) */
    } cons WM_ALIGNED(WM_RING_BLOCK);

    /* Slots start here: capacity x (uint64_t seq, elem_size bytes). */
    unsigned char slots[] WM_ALIGNED(WM_RING_BLOCK);
};

/* Compile-time flags of the inline cores: every exported function passes
 * constants, so each becomes its own specialised code. */
#define WM_RING_MP   1u            /* multiple producers: CAS the head */
#define WM_RING_MC   1u            /* multiple consumers: CAS the head */
#define WM_RING_BULK 2u            /* all n or nothing */

#define WM_RING_INLINE static inline __attribute__((always_inline))

WM_RING_INLINE void wm_ring_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

WM_RING_INLINE unsigned char *wm_ring_slot_at(struct wm_ring *r, uint32_t idx, const uint32_t esz)
{
    return r->slots + (size_t)idx * (WM_RING_SEQ_SIZE + esz);
}

/* Wait until a claimed slot's sequence word reaches want.  The acquire pairs
 * with the release store that handed the slot over (see the callers). */
WM_RING_INLINE void wm_ring_wait_seq(const uint64_t *seq, uint64_t want)
{
    while (WM_UNLIKELY(__atomic_load_n(seq, __ATOMIC_ACQUIRE) != want))
        wm_ring_pause();
}

/* Count refused elements.  Relaxed: a statistic, published to nobody; mp uses
 * an atomic add (producers race), sp a load + store (one writer). */
WM_RING_INLINE void wm_ring_count_refused(struct wm_ring *r, uint64_t n, const bool mp)
{
    if (mp)
        __atomic_fetch_add(&r->prod.refused, n, __ATOMIC_RELAXED);
    else
        __atomic_store_n(&r->prod.refused,
                         __atomic_load_n(&r->prod.refused, __ATOMIC_RELAXED) + n,
                         __ATOMIC_RELAXED);
}

/* Write n elements into claimed positions head .. head+n-1. */
WM_RING_INLINE void wm_ring_fill(struct wm_ring *r, uint64_t head, const unsigned char *src,
                                 unsigned n, const uint32_t esz)
{
    const uint32_t stride = WM_RING_SEQ_SIZE + esz;
    uint32_t idx = (uint32_t)head & r->mask;
    unsigned first = r->capacity - idx;          /* slots before the wrap */
    if (first > n)
        first = n;
    unsigned char *slot = wm_ring_slot_at(r, idx, esz);
    uint64_t pos = head;
    for (unsigned i = 0; i < n; i++) {
        if (i == first)
            slot = r->slots;                     /* wrapped to slot 0 */
        uint64_t *seq = (uint64_t *)slot;
        /* acquire: pairs with the release in wm_ring_drain / dequeue_one that
         * handed the slot back (seq = pos); the consumer's read of the old
         * element happens before our write of the new one. */
        wm_ring_wait_seq(seq, pos);
        memcpy(slot + WM_RING_SEQ_SIZE, src, esz);
        /* release: pairs with the acquire in wm_ring_drain / dequeue_one; the
         * element is written before anyone sees "filled for pos". */
        __atomic_store_n(seq, pos + 1, __ATOMIC_RELEASE);
        src += esz;
        slot += stride;
        pos++;
    }
}

/* Read n elements out of claimed positions head .. head+n-1 and hand the
 * slots back for the next lap. */
WM_RING_INLINE void wm_ring_drain(struct wm_ring *r, uint64_t head, unsigned char *dst,
                                  unsigned n, const uint32_t esz)
{
    const uint32_t stride = WM_RING_SEQ_SIZE + esz;
    const uint64_t cap = r->capacity;
    uint32_t idx = (uint32_t)head & r->mask;
    unsigned first = r->capacity - idx;
    if (first > n)
        first = n;
    unsigned char *slot = wm_ring_slot_at(r, idx, esz);
    uint64_t pos = head;
    for (unsigned i = 0; i < n; i++) {
        if (i == first)
            slot = r->slots;
        uint64_t *seq = (uint64_t *)slot;
        /* acquire: pairs with the release in wm_ring_fill / enqueue_one
         * (seq = pos + 1); the element was written before we read it. */
        wm_ring_wait_seq(seq, pos + 1);
        memcpy(dst, slot + WM_RING_SEQ_SIZE, esz);
        /* release: pairs with the acquire in wm_ring_fill / enqueue_one of
         * position pos + cap; our read is done before the slot is reused. */
        __atomic_store_n(seq, pos + cap, __ATOMIC_RELEASE);
        dst += esz;
        slot += stride;
        pos++;
    }
}

/* ---- enqueue ----------------------------------------------------------- */

/* Burst/bulk enqueue core: claim up to n positions with one head update, then
 * fill them.  Returns the number enqueued. */
WM_RING_INLINE unsigned wm_ring_enqueue_core(struct wm_ring *r, const void *elems, unsigned n,
                                             const uint32_t esz, const unsigned flags)
{
    const bool mp = flags & WM_RING_MP, bulk = flags & WM_RING_BULK;
    const uint64_t cap = r->capacity;
    const unsigned want = n;
    if (WM_UNLIKELY(n == 0))
        return 0;
    /* relaxed: the head only allocates positions (the CAS below re-validates
     * it for mp; for sp we are its only writer). */
    uint64_t head = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);
    for (;;) {
        /* relaxed: the cache is a lower bound of cons.head; a stale value is
         * only conservative and the slots are validated by their seq. */
        uint64_t cons = __atomic_load_n(&r->prod.cons_cache, __ATOMIC_RELAXED);
        uint64_t used = head - cons;
        uint64_t room = used < cap ? cap - used : 0;
        if (WM_UNLIKELY(room < n)) {
            /* The cache says "full": refresh it.  relaxed: cons.head only
             * counts positions consumers have claimed; the slot's seq tells
             * when each one has been handed back (acquire in wm_ring_fill). */
            cons = __atomic_load_n(&r->cons.head, __ATOMIC_RELAXED);
            __atomic_store_n(&r->prod.cons_cache, cons, __ATOMIC_RELAXED);
            if (mp)  /* read after cons, so head >= cons (heads only grow) */
                head = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);
            used = head - cons;
            room = used < cap ? cap - used : 0;
            if (room < n) {
                if (bulk || room == 0) {
                    wm_ring_count_refused(r, want, mp);
                    return 0;
                }
                n = (unsigned)room;
            }
        }
        if (!mp) {
            /* relaxed: see the header comment; consumers only learn that
             * positions are claimed, and wait for each slot's seq. */
            __atomic_store_n(&r->prod.head, head + n, __ATOMIC_RELAXED);
            break;
        }
        /* relaxed CAS: it claims positions, it publishes nothing.  On
         * failure head is reloaded and the room is checked again. */
        if (__atomic_compare_exchange_n(&r->prod.head, &head, head + n, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            break;
        n = want;
    }
    if (WM_UNLIKELY(n < want))
        wm_ring_count_refused(r, want - n, mp);
    wm_ring_fill(r, head, elems, n, esz);
    return n;
}

/* Single-element enqueue: Vyukov's check of the slot itself.  Returns 0 or
 * -ENOBUFS (full, counted). */
WM_RING_INLINE int wm_ring_enqueue_one(struct wm_ring *r, const void *elem, const uint32_t esz,
                                       const bool mp)
{
    /* relaxed: a guess, validated by the slot's seq and (mp) the CAS. */
    uint64_t head = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);
    uint64_t *seq;
    for (;;) {
        seq = (uint64_t *)wm_ring_slot_at(r, (uint32_t)head & r->mask, esz);
        /* acquire: pairs with the release in wm_ring_drain / dequeue_one
         * (seq = head): the old element was read before we overwrite it. */
        uint64_t s = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        int64_t dif = (int64_t)(s - head);
        if (WM_LIKELY(dif == 0)) {
            if (!mp) {
                /* relaxed: the head publishes nothing (see header). */
                __atomic_store_n(&r->prod.head, head + 1, __ATOMIC_RELAXED);
                break;
            }
            /* relaxed CAS: claims the position; the data goes through seq. */
            if (__atomic_compare_exchange_n(&r->prod.head, &head, head + 1, true,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                break;
        } else if (dif < 0) {
            /* The slot still holds, or is being read for, position
             * head - cap: the ring is full. */
            wm_ring_count_refused(r, 1, mp);
            return -ENOBUFS;
        } else {
            /* Another producer took head already (mp only). */
            head = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);
        }
    }
    memcpy((unsigned char *)seq + WM_RING_SEQ_SIZE, elem, esz);
    /* release: pairs with the acquire in wm_ring_drain / dequeue_one. */
    __atomic_store_n(seq, head + 1, __ATOMIC_RELEASE);
    return 0;
}

/* ---- dequeue ----------------------------------------------------------- */

WM_RING_INLINE unsigned wm_ring_dequeue_core(struct wm_ring *r, void *elems, unsigned n,
                                             const uint32_t esz, const unsigned flags)
{
    const bool mc = flags & WM_RING_MC, bulk = flags & WM_RING_BULK;
    const unsigned want = n;
    if (WM_UNLIKELY(n == 0))
        return 0;
    /* relaxed: allocates positions only (CAS re-validates it for mc). */
    uint64_t head = __atomic_load_n(&r->cons.head, __ATOMIC_RELAXED);
    for (;;) {
        /* relaxed: a lower bound of prod.head; elements are validated by
         * their slot's seq (acquire in wm_ring_drain). */
        uint64_t prod = __atomic_load_n(&r->cons.prod_cache, __ATOMIC_RELAXED);
        uint64_t avail = (int64_t)(prod - head) > 0 ? prod - head : 0;
        if (WM_UNLIKELY(avail < n)) {
            /* relaxed: prod.head counts claimed positions; each one's
             * completion is the slot's seq (acquire in wm_ring_drain). */
            prod = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);
            __atomic_store_n(&r->cons.prod_cache, prod, __ATOMIC_RELAXED);
            avail = (int64_t)(prod - head) > 0 ? prod - head : 0;
            if (avail < n) {
                /* A stale head (mc) only over-estimates avail (the CAS then
                 * fails); avail == 0 means empty at the time prod was read. */
                if (bulk || avail == 0)
                    return 0;
                n = (unsigned)avail;
            }
        }
        if (!mc) {
            /* relaxed: producers only learn the positions are claimed and
             * wait for each slot's seq before reusing it. */
            __atomic_store_n(&r->cons.head, head + n, __ATOMIC_RELAXED);
            break;
        }
        /* relaxed CAS: claims positions, publishes nothing. */
        if (__atomic_compare_exchange_n(&r->cons.head, &head, head + n, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            break;
        n = want;
    }
    wm_ring_drain(r, head, elems, n, esz);
    return n;
}

/* Single-element dequeue: Vyukov's check of the slot.  0 or -ENOENT. */
WM_RING_INLINE int wm_ring_dequeue_one(struct wm_ring *r, void *elem, const uint32_t esz,
                                       const bool mc)
{
    uint64_t head = __atomic_load_n(&r->cons.head, __ATOMIC_RELAXED);   /* relaxed: a guess */
    uint64_t *seq;
    for (;;) {
        seq = (uint64_t *)wm_ring_slot_at(r, (uint32_t)head & r->mask, esz);
        /* acquire: pairs with the release in wm_ring_fill / enqueue_one
         * (seq = head + 1): the element is written before we read it. */
        uint64_t s = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        int64_t dif = (int64_t)(s - (head + 1));
        if (WM_LIKELY(dif == 0)) {
            if (!mc) {
                __atomic_store_n(&r->cons.head, head + 1, __ATOMIC_RELAXED);  /* relaxed: see header */
                break;
            }
            if (__atomic_compare_exchange_n(&r->cons.head, &head, head + 1, true,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                break;
        } else if (dif < 0) {
            /* Not filled for head yet: empty (or its producer is still
             * writing it). */
            return -ENOENT;
        } else {
            head = __atomic_load_n(&r->cons.head, __ATOMIC_RELAXED);  /* another consumer took it */
        }
    }
    memcpy(elem, (unsigned char *)seq + WM_RING_SEQ_SIZE, esz);
    /* release: pairs with the acquire in wm_ring_fill / enqueue_one of
     * position head + cap. */
    __atomic_store_n(seq, head + r->capacity, __ATOMIC_RELEASE);
    return 0;
}

/* ---- dispatch on the element size --------------------------------------
 * With a constant esz (in-tree callers that know their element type) the
 * switch folds away; the exported wrappers pass r->elem_size and get one
 * specialised copy per size. */
#define WM_RING_FOR_EACH_SIZE(X) X(8) X(16) X(24) X(32) X(40) X(48) X(56) X(64)

WM_RING_INLINE unsigned wm_ring_enqueue_elem(struct wm_ring *r, const void *elems, unsigned n,
                                             uint32_t esz, const unsigned flags)
{
    switch (esz) {
#define WM_RING_CASE(sz) case sz: return wm_ring_enqueue_core(r, elems, n, sz, flags);
        WM_RING_FOR_EACH_SIZE(WM_RING_CASE)
#undef WM_RING_CASE
    }
    return 0;
}

WM_RING_INLINE unsigned wm_ring_dequeue_elem(struct wm_ring *r, void *elems, unsigned n,
                                             uint32_t esz, const unsigned flags)
{
    switch (esz) {
#define WM_RING_CASE(sz) case sz: return wm_ring_dequeue_core(r, elems, n, sz, flags);
        WM_RING_FOR_EACH_SIZE(WM_RING_CASE)
#undef WM_RING_CASE
    }
    return 0;
}

WM_RING_INLINE int wm_ring_enqueue_one_elem(struct wm_ring *r, const void *elem, uint32_t esz,
                                            const bool mp)
{
    switch (esz) {
#define WM_RING_CASE(sz) case sz: return wm_ring_enqueue_one(r, elem, sz, mp);
        WM_RING_FOR_EACH_SIZE(WM_RING_CASE)
#undef WM_RING_CASE
    }
    return -EINVAL;
}

WM_RING_INLINE int wm_ring_dequeue_one_elem(struct wm_ring *r, void *elem, uint32_t esz,
                                            const bool mc)
{
    switch (esz) {
#define WM_RING_CASE(sz) case sz: return wm_ring_dequeue_one(r, elem, sz, mc);
        WM_RING_FOR_EACH_SIZE(WM_RING_CASE)
#undef WM_RING_CASE
    }
    return -EINVAL;
}

/* The inline API, named like the exported one with an _elem suffix and the
 * element size as an argument (pass a constant to get the specialised copy;
 * it must equal the ring's element size). */
#define WM_RING_DEFINE_INLINE_API(x)                                                               \
    x(sp_enqueue_burst, enqueue, const void *, 0)                                                  \
    x(mp_enqueue_burst, enqueue, const void *, WM_RING_MP)                                         \
    x(sp_enqueue_bulk, enqueue, const void *, WM_RING_BULK)                                        \
    x(mp_enqueue_bulk, enqueue, const void *, WM_RING_MP | WM_RING_BULK)                           \
    x(sc_dequeue_burst, dequeue, void *, 0)                                                        \
    x(mc_dequeue_burst, dequeue, void *, WM_RING_MC)                                               \
    x(sc_dequeue_bulk, dequeue, void *, WM_RING_BULK)                                              \
    x(mc_dequeue_bulk, dequeue, void *, WM_RING_MC | WM_RING_BULK)

#define WM_RING_INLINE_FN(name, op, ptr_t, flags)                                                  \
    WM_RING_INLINE unsigned wm_ring_##name##_elem(struct wm_ring *r, ptr_t elems, uint32_t esz,   \
                                                  unsigned n)                                      \
    {                                                                                              \
        return wm_ring_##op##_elem(r, elems, n, esz, flags);                                       \
    }
WM_RING_DEFINE_INLINE_API(WM_RING_INLINE_FN)
#undef WM_RING_INLINE_FN

WM_RING_INLINE int wm_ring_sp_enqueue_elem(struct wm_ring *r, const void *e, uint32_t esz)
{
    return wm_ring_enqueue_one_elem(r, e, esz, false);
}
WM_RING_INLINE int wm_ring_mp_enqueue_elem(struct wm_ring *r, const void *e, uint32_t esz)
{
    return wm_ring_enqueue_one_elem(r, e, esz, true);
}
WM_RING_INLINE int wm_ring_sc_dequeue_elem(struct wm_ring *r, void *e, uint32_t esz)
{
    return wm_ring_dequeue_one_elem(r, e, esz, false);
}
WM_RING_INLINE int wm_ring_mc_dequeue_elem(struct wm_ring *r, void *e, uint32_t esz)
{
    return wm_ring_dequeue_one_elem(r, e, esz, true);
}

#endif
