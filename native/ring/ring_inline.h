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
        uint64_t cons_tail;    /* cached copy of cons.tail (never ahead of it) */
        uint64_t refused;      /* elements refused because the ring was full */
    } prod WM_ALIGNED(WM_RING_BLOCK);

    /* Fill hint, on its own line (burst consumers read it; the producers'
     * claim line stays private to producers): the end of the latest filled
     * batch.  Only a hint: under mp it may briefly go backwards, and every
     * element is still validated by its slot's seq. */
    uint64_t filled_hint WM_ALIGNED(WM_RING_BLOCK);

    /* Consumers' block: written by consumers only. */
    struct {
        uint64_t head;         /* next position to claim; = elements dequeued */
        uint64_t tail;         /* every position below has been read: producers
                                  may reuse those slots */
        uint64_t hint_cache;   /* consumers' copy of filled_hint */
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

/* ---- enqueue ----------------------------------------------------------- */

WM_RING_INLINE void wm_ring_raise_hint(struct wm_ring *r, uint64_t end, const bool mp)
{
    if (!mp) {
        __atomic_store_n(&r->filled_hint, end, __ATOMIC_RELAXED);
        return;
    }
    uint64_t cur = __atomic_load_n(&r->filled_hint, __ATOMIC_RELAXED);
    while ((int64_t)(cur - end) < 0 &&
           !__atomic_compare_exchange_n(&r->filled_hint, &cur, end, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        ;
}

/* Write count elements into claimed slots starting at slot, for positions
 * pos .. pos+count-1 (no wrap inside). */
WM_RING_INLINE void wm_ring_fill_run(unsigned char *slot, const unsigned char *src, unsigned count,
                                     uint64_t pos, const uint32_t esz)
{
    for (unsigned i = 0; i < count; i++) {
        memcpy(slot + WM_RING_SEQ_SIZE, src, esz);
        /* release: pairs with the acquire of this seq in wm_ring_filled /
         * dequeue_one; the element is written before anyone sees "filled
         * for pos". */
        __atomic_store_n((uint64_t *)slot, pos + 1, __ATOMIC_RELEASE);
        src += esz;
        slot += WM_RING_SEQ_SIZE + esz;
        pos++;
    }
}

WM_RING_INLINE void wm_ring_fill(struct wm_ring *r, uint64_t head, const unsigned char *src,
                                 unsigned n, const uint32_t esz)
{
    uint32_t idx = (uint32_t)head & r->mask;
    unsigned first = r->capacity - idx;          /* slots before the wrap */
    if (first >= n) {
        wm_ring_fill_run(wm_ring_slot_at(r, idx, esz), src, n, head, esz);
        return;
    }
    wm_ring_fill_run(wm_ring_slot_at(r, idx, esz), src, first, head, esz);
    wm_ring_fill_run(r->slots, src + (size_t)first * esz, n - first, head + first, esz);
}

/* Claim up to n positions with one head update and fill them.  Returns the
 * number enqueued (bulk: n or 0). */
WM_RING_INLINE unsigned wm_ring_enqueue_core(struct wm_ring *r, const void *elems, unsigned n,
                                             const uint32_t esz, const unsigned flags)
{
    const bool mp = flags & WM_RING_MP, bulk = flags & WM_RING_BULK;
    const uint64_t cap = r->capacity;
    const unsigned want = n;
    if (WM_UNLIKELY(n == 0))
        return 0;
    /* relaxed: the head only allocates positions (mp: the CAS below
     * re-validates it; sp: we are its only writer). */
    uint64_t head = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);
    for (;;) {
        /* acquire: pairs with the release store of the cache below (by this
         * or another producer), which follows that producer's acquire of
         * cons.tail: the consumers' reads of every position below the cached
         * tail happen before our writes into those slots. */
        uint64_t tail = __atomic_load_n(&r->prod.cons_tail, __ATOMIC_ACQUIRE);
        uint64_t used = head - tail;             /* huge if head is stale (mp) */
        uint64_t room = used <= cap ? cap - used : 0;
        if (WM_UNLIKELY(room < n)) {
            /* The cache says "full": refresh it.  acquire: pairs with the
             * release of cons.tail in wm_ring_release_cons. */
            tail = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
            /* release: pairs with the acquire of the cache above. */
            __atomic_store_n(&r->prod.cons_tail, tail, __ATOMIC_RELEASE);
            if (mp)  /* read after the tail, so head >= tail (both only grow) */
                head = __atomic_load_n(&r->prod.head, __ATOMIC_RELAXED);
            used = head - tail;
            room = used <= cap ? cap - used : 0;
            if (room < n) {
                if (bulk || room == 0) {
                    wm_ring_count_refused(r, want, mp);
                    return 0;
                }
                n = (unsigned)room;
            }
        }
        if (!mp) {
            /* relaxed: the head publishes nothing; consumers learn of each
             * element from its slot's seq. */
            __atomic_store_n(&r->prod.head, head + n, __ATOMIC_RELAXED);
            break;
        }
        /* relaxed CAS: it claims positions and publishes nothing (the room
         * was established by the acquire of the cache above).  On failure
         * head is reloaded and the room checked again. */
        if (__atomic_compare_exchange_n(&r->prod.head, &head, head + n, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            break;
        n = want;
    }
    if (WM_UNLIKELY(n < want))
        wm_ring_count_refused(r, want - n, mp);
    wm_ring_fill(r, head, elems, n, esz);
    /* Tell burst consumers how far they may look: filled_hint only grows
     * and, once this call returns, covers every position it filled.
     * relaxed: a hint, publishing nothing (each slot's seq does).  sp is
     * the only producer, so head + n is the maximum; mp raises it with a
     * CAS unless another producer already raised it further. */
    wm_ring_raise_hint(r, head + n, mp);
    return n;
}

/* ---- dequeue ----------------------------------------------------------- */

/* How many of count slots from slot (positions pos ..; no wrap inside) are
 * filled for their position (stops at the first that is not). */
WM_RING_INLINE unsigned wm_ring_filled_run(const unsigned char *slot, unsigned count, uint64_t pos,
                                           const uint32_t esz)
{
    for (unsigned i = 0; i < count; i++) {
        /* acquire: pairs with the release in wm_ring_fill_run; the element
         * is read after this (wm_ring_copy_out / take_run). */
        if (__atomic_load_n((const uint64_t *)slot, __ATOMIC_ACQUIRE) != pos + 1)
            return i;
        slot += WM_RING_SEQ_SIZE + esz;
        pos++;
    }
    return count;
}

WM_RING_INLINE unsigned wm_ring_filled(struct wm_ring *r, uint64_t head, unsigned n,
                                       const uint32_t esz)
{
    uint32_t idx = (uint32_t)head & r->mask;
    unsigned first = r->capacity - idx;
    if (first >= n)
        return wm_ring_filled_run(wm_ring_slot_at(r, idx, esz), n, head, esz);
    unsigned got = wm_ring_filled_run(wm_ring_slot_at(r, idx, esz), first, head, esz);
    if (got < first)
        return got;
    return got + wm_ring_filled_run(r->slots, n - first, head + first, esz);
}

/* Copy count elements out of claimed slots (no wrap inside).  Each was seen
 * filled by an acquire of its seq (wm_ring_filled). */
WM_RING_INLINE void wm_ring_copy_out(const unsigned char *slot, unsigned char *dst, unsigned count,
                                     const uint32_t esz)
{
    for (unsigned i = 0; i < count; i++) {
        memcpy(dst, slot + WM_RING_SEQ_SIZE, esz);
        dst += esz;
        slot += WM_RING_SEQ_SIZE + esz;
    }
}

WM_RING_INLINE void wm_ring_drain(struct wm_ring *r, uint64_t head, unsigned char *dst, unsigned n,
                                  const uint32_t esz)
{
    uint32_t idx = (uint32_t)head & r->mask;
    unsigned first = r->capacity - idx;
    if (first >= n) {
        wm_ring_copy_out(wm_ring_slot_at(r, idx, esz), dst, n, esz);
        return;
    }
    wm_ring_copy_out(wm_ring_slot_at(r, idx, esz), dst, first, esz);
    wm_ring_copy_out(r->slots, dst + (size_t)first * esz, n - first, esz);
}

/* Sc: check and copy in one pass (nobody else takes these elements, and no
 * producer reuses a slot before cons.tail passes it). */
WM_RING_INLINE unsigned wm_ring_take_run(const unsigned char *slot, unsigned char *dst,
                                         unsigned count, uint64_t pos, const uint32_t esz)
{
    for (unsigned i = 0; i < count; i++) {
        /* acquire: pairs with the release in wm_ring_fill_run. */
        if (__atomic_load_n((const uint64_t *)slot, __ATOMIC_ACQUIRE) != pos + 1)
            return i;
        memcpy(dst, slot + WM_RING_SEQ_SIZE, esz);
        dst += esz;
        slot += WM_RING_SEQ_SIZE + esz;
        pos++;
    }
    return count;
}

WM_RING_INLINE unsigned wm_ring_take(struct wm_ring *r, uint64_t head, unsigned char *dst,
                                     unsigned n, const uint32_t esz)
{
    uint32_t idx = (uint32_t)head & r->mask;
    unsigned first = r->capacity - idx;
    if (first >= n)
        return wm_ring_take_run(wm_ring_slot_at(r, idx, esz), dst, n, head, esz);
    unsigned got = wm_ring_take_run(wm_ring_slot_at(r, idx, esz), dst, first, head, esz);
    if (got < first)
        return got;
    return got + wm_ring_take_run(r->slots, dst + (size_t)first * esz, n - first, head + first,
                                  esz);
}

/* Hand positions head .. head+n-1 back to the producers.  Consumers finish
 * in claim order: a later claimer waits for the earlier ones (mc only). */
WM_RING_INLINE void wm_ring_release_cons(struct wm_ring *r, uint64_t head, unsigned n,
                                         const bool mc)
{
    if (mc) {
        /* acquire: pairs with the release below by the consumer of the
         * positions before ours, so that our release also covers its reads
         * (release sequences do not extend through plain stores). */
        while (WM_UNLIKELY(__atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE) != head))
            wm_ring_pause();
    }
    /* release: pairs with the acquire of cons.tail in wm_ring_enqueue_core;
     * our reads of the elements happen before any producer reuses the
     * slots. */
    __atomic_store_n(&r->cons.tail, head + n, __ATOMIC_RELEASE);
}

/* How many slots a burst or bulk of up to n from head may look at: what
 * filled_hint covers (its cached copy, refreshed when it falls short).
 * Bursts never read slots beyond it, so they do not pull lines producers
 * are still writing (single-element dequeues do look at the slot: for one
 * element the slot's line is the hand-off).  Returns 0 when nothing is
 * covered (bulk: when fewer than n are). */
WM_RING_INLINE unsigned wm_ring_scan_len(struct wm_ring *r, uint64_t head, unsigned n,
                                         const bool bulk)
{
    /* relaxed: hints only; the slots' seq decide (acquire in
     * wm_ring_filled / take). */
    uint64_t hint = __atomic_load_n(&r->cons.hint_cache, __ATOMIC_RELAXED);
    int64_t avail = (int64_t)(hint - head);
    if (avail < (int64_t)n) {
        hint = __atomic_load_n(&r->filled_hint, __ATOMIC_RELAXED);
        __atomic_store_n(&r->cons.hint_cache, hint, __ATOMIC_RELAXED);
        avail = (int64_t)(hint - head);
    }
    if (avail >= (int64_t)n)
        return n;
    if (bulk || avail <= 0)
        return 0;
    return (unsigned)avail;
}

WM_RING_INLINE unsigned wm_ring_dequeue_core(struct wm_ring *r, void *elems, unsigned n,
                                             const uint32_t esz, const unsigned flags)
{
    const bool mc = flags & WM_RING_MC, bulk = flags & WM_RING_BULK;
    /* relaxed: consumers' claim counter; mc re-validates it with the CAS. */
    uint64_t head = __atomic_load_n(&r->cons.head, __ATOMIC_RELAXED);
    unsigned got;
    if (WM_UNLIKELY(n == 0))
        return 0;
    if (!mc && !bulk) {
        unsigned look = n == 1 ? 1 : wm_ring_scan_len(r, head, n, false);
        if (look == 0)
            return 0;
        got = wm_ring_take(r, head, elems, look, esz);
        if (got == 0)
            return 0;
        /* relaxed: the claim counter is ours alone (sc); the hand-back to
         * producers is the release of cons.tail. */
        __atomic_store_n(&r->cons.head, head + got, __ATOMIC_RELAXED);
        wm_ring_release_cons(r, head, got, false);
        return got;
    }
    for (;;) {
        unsigned look = n == 1 ? 1 : wm_ring_scan_len(r, head, n, bulk);
        got = look ? wm_ring_filled(r, head, look, esz) : 0;
        if (got == 0 || (bulk && got < n))
            return 0;
        if (!mc) {
            __atomic_store_n(&r->cons.head, head + got, __ATOMIC_RELAXED);  /* relaxed: as above */
            break;
        }
        /* relaxed CAS: claims positions; the elements were published by
         * the slots' seq (acquired in wm_ring_filled), and no producer can
         * reuse a slot until cons.tail passes it, which needs our claim. */
        if (__atomic_compare_exchange_n(&r->cons.head, &head, head + got, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            break;
    }
    wm_ring_drain(r, head, elems, got, esz);
    wm_ring_release_cons(r, head, got, mc);
    return got;
}

/* Single-element operations: the burst cores with n = 1 (the compiler
 * folds the loops away). */
WM_RING_INLINE int wm_ring_enqueue_one(struct wm_ring *r, const void *elem, const uint32_t esz,
                                       const bool mp)
{
    return wm_ring_enqueue_core(r, elem, 1, esz, mp ? WM_RING_MP : 0) ? 0 : -ENOBUFS;
}

WM_RING_INLINE int wm_ring_dequeue_one(struct wm_ring *r, void *elem, const uint32_t esz,
                                       const bool mc)
{
    return wm_ring_dequeue_core(r, elem, 1, esz, mc ? WM_RING_MC : 0) ? 0 : -ENOENT;
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
