/* ring/ring_inline.h - the ring's layout and its inline operations.
 *
 * Private to native/: in-tree C callers that want the operations inlined (the
 * worker loops, the benchmark, the tests) include this header; everybody else
 * calls the exported wrappers declared in wirematch/ring.h.
 *
 * Algorithm (docs/ring.md has the long form and the measurements)
 * ----------------------------------------------------------------
 * Positions are 64-bit counters that never wrap in practice (2^64 elements at
 * 10^9/s is 584 years): position p lives in slot p & mask, and no position
 * value is ever reused, so there is no ABA on any counter.
 *
 * Each side (producers, consumers) has
 *   claim.head   the next position to claim: advanced with ONE CAS per call
 *                (mp_/mc_) or one plain store (sp_/sc_), for 1 or n elements;
 *   claim.other_tail  a cached copy of the other side's tail, refreshed only
 *                when it says there is not enough room (producers) or not
 *                enough elements (consumers);
 *   tail         every position below it is complete on this side (written
 *                by producers / read by consumers).
 * claim lives on lines only its own side touches, so a CAS on a head never
 * waits for a line the other side is polling; tail lives on its own lines
 * and is what the other side polls.  (rte_ring keeps head and tail of a side
 * on one line, so its mp/mc CAS fights the other side's polling of the tail:
 * that, not the in-order wait, is what makes its MP/MC hand-off slow.)
 *
 *   producers: claim [h, h+n) if h + n <= cons.tail + capacity; copy the n
 *              elements into slots h..h+n-1; wait until prod.tail == h
 *              (mp only: earlier claimers finish first); prod.tail = h + n.
 *   consumers: claim [c, c+n) if c + n <= prod.tail; copy out; wait until
 *              cons.tail == c (mc only); cons.tail = c + n.
 * Hence cons.tail <= cons.head <= prod.tail <= prod.head <= cons.tail + cap:
 * a claimed slot is never in use by the other side.  Elements are
 * contiguous (no per-slot word), copied with fixed-size moves per element
 * size.  A claim never waits; completion waits only for earlier claimers of
 * the same side (mp/mc), which are copying - unless one was descheduled.
 *
 * Memory ordering
 * ---------------
 * Data is published only through the tails: release-store of a side's tail
 * after its copies, acquire-load of the other side's tail before using the
 * positions below it.  The cached copy is stored with release after that
 * acquire and loaded with acquire, so a peer claiming on the strength of the
 * cache is ordered after the other side's copies too.  Heads are claim
 * counters and publish nothing: relaxed (the mp/mc CAS re-validates them).
 * The mp/mc completion wait loads its own tail with acquire so that its
 * release also covers the earlier claimer's copies.
 */
#ifndef WM_RING_INLINE_H
#define WM_RING_INLINE_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include "wirematch/ring.h"

#define WM_RING_BLOCK    128u      /* each block its own pair of lines, so the
                                      adjacent-line prefetcher cannot pair them */

/* One side's state (producers' or consumers'), split by who touches it:
 *   claim: head and the cached other side's tail - touched only by this side,
 *          so its CAS never waits for a line the other side is polling;
 *   tail:  what this side has completed - polled by the other side. */
struct wm_ring_side {
    struct {
        uint64_t head;         /* next position to claim */
        uint64_t other_tail;   /* cached copy of the other side's tail */
        uint64_t refused;      /* producers: elements refused, ring full */
    } claim WM_ALIGNED(WM_RING_BLOCK);
    uint64_t tail WM_ALIGNED(WM_RING_BLOCK);  /* every position below is complete */
};

/* The ring, at the start of its memory.  No pointers: another process maps
 * the same bytes at another address. */
struct wm_ring {
    /* Block 0: written once by wm_ring_init, read-only afterwards (stays
     * shared in every core's cache). */
    uint64_t magic;            /* WM_RING_MAGIC, stored last by init */
    uint64_t memsize;          /* bytes laid out by init */
    uint32_t elem_size;
    uint32_t capacity;
    uint32_t mask;             /* capacity - 1 */
    uint32_t slot_stride;      /* = elem_size: elements are contiguous */
    uint32_t owned;            /* 1: allocated by wm_ring_create, freed by destroy */
    uint32_t reserved;
    char name[WM_RING_NAME_LEN];

    struct wm_ring_side prod WM_ALIGNED(WM_RING_BLOCK);
    struct wm_ring_side cons WM_ALIGNED(WM_RING_BLOCK);

    /* capacity x elem_size bytes. */
    unsigned char slots[] WM_ALIGNED(WM_RING_BLOCK);
};

/* Compile-time flags of the inline cores: every exported function passes
 * constants, so each becomes its own specialised code. */
#define WM_RING_MP   1u            /* multiple producers: CAS the head, wait for the tail */
#define WM_RING_MC   1u            /* multiple consumers: likewise */
#define WM_RING_BULK 2u            /* all n or nothing */

#define WM_RING_INLINE static inline __attribute__((always_inline))

/* Pauses before a completion wait yields the CPU (see wm_ring_complete). */
#define WM_RING_SPIN_LIMIT 1024u

WM_RING_INLINE void wm_ring_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* Ask for the line of the first slot a claim will touch before the CAS:
 * a locked instruction waits for every earlier memory access, so without
 * this the slot's cache miss would come after the CAS instead of overlapping
 * the miss on the other side's tail.  A hint: it changes no value. */
WM_RING_INLINE void wm_ring_prefetch_slot(struct wm_ring *r, uint64_t pos, const uint32_t esz,
                                          const bool for_write)
{
    const unsigned char *p = r->slots + (size_t)((uint32_t)pos & r->mask) * esz;
#if defined(__x86_64__)
    if (for_write)
        __asm__ volatile("prefetchw %0" ::"m"(*p));   /* a NOP hint where unsupported */
    else
        __builtin_prefetch(p, 0, 3);
#else
    __builtin_prefetch(p, for_write, 3);
#endif
}

/* Count refused elements.  Relaxed: a statistic, published to nobody; mp uses
 * an atomic add (producers race), sp a load + store (one writer). */
WM_RING_INLINE void wm_ring_count_refused(struct wm_ring *r, uint64_t n, const bool mp)
{
    if (mp)
        __atomic_fetch_add(&r->prod.claim.refused, n, __ATOMIC_RELAXED);
    else
        __atomic_store_n(&r->prod.claim.refused,
                         __atomic_load_n(&r->prod.claim.refused, __ATOMIC_RELAXED) + n,
                         __ATOMIC_RELAXED);
}

/* Copy bytes (a multiple of 8, known per element size) with fixed-size
 * moves: 32-byte chunks, then what is left in 8-byte steps. */
WM_RING_INLINE void wm_ring_copy(unsigned char *dst, const unsigned char *src, size_t bytes)
{
    size_t off = 0;
    for (; off + 32 <= bytes; off += 32)
        __builtin_memcpy(dst + off, src + off, 32);
    for (; off < bytes; off += 8)
        __builtin_memcpy(dst + off, src + off, 8);
}

/* Copy n elements between the caller's array and the slots of positions
 * pos .. pos+n-1 (two runs when they wrap). */
WM_RING_INLINE void wm_ring_copy_in(struct wm_ring *r, uint64_t pos, const unsigned char *src,
                                    unsigned n, const uint32_t esz)
{
    uint32_t idx = (uint32_t)pos & r->mask;
    uint32_t first = r->capacity - idx;
    unsigned char *slot = r->slots + (size_t)idx * esz;
    if (WM_LIKELY(first >= n)) {
        wm_ring_copy(slot, src, (size_t)n * esz);
        return;
    }
    wm_ring_copy(slot, src, (size_t)first * esz);
    wm_ring_copy(r->slots, src + (size_t)first * esz, (size_t)(n - first) * esz);
}

WM_RING_INLINE void wm_ring_copy_out(struct wm_ring *r, uint64_t pos, unsigned char *dst,
                                     unsigned n, const uint32_t esz)
{
    uint32_t idx = (uint32_t)pos & r->mask;
    uint32_t first = r->capacity - idx;
    const unsigned char *slot = r->slots + (size_t)idx * esz;
    if (WM_LIKELY(first >= n)) {
        wm_ring_copy(dst, slot, (size_t)n * esz);
        return;
    }
    wm_ring_copy(dst, slot, (size_t)first * esz);
    wm_ring_copy(dst + (size_t)first * esz, r->slots, (size_t)(n - first) * esz);
}

/* Claim up to n positions on side `self`, bounded by the other side's tail
 * plus `room` (producers: capacity; consumers: 0).  Returns the count
 * claimed (bulk: n or 0) and the first position in *start. */
WM_RING_INLINE unsigned wm_ring_claim(struct wm_ring *r, struct wm_ring_side *self,
                                      struct wm_ring_side *other, uint64_t room, unsigned n,
                                      uint64_t *start, const uint32_t esz, const bool multi,
                                      const bool bulk)
{
    /* relaxed: the head only allocates positions (multi: the CAS below
     * re-validates it; single: we are its only writer). */
    uint64_t head = __atomic_load_n(&self->claim.head, __ATOMIC_RELAXED);
    if (multi)
        wm_ring_prefetch_slot(r, head, esz, room != 0);
    unsigned got;
    for (;;) {
        /* acquire: pairs with the release store of the cache below (by us or
         * a peer on our side), which follows that claimer's acquire of the
         * other side's tail: everything the other side completed below it
         * happens before what we do with the claimed positions. */
        uint64_t tail = __atomic_load_n(&self->claim.other_tail, __ATOMIC_ACQUIRE);
        int64_t avail = (int64_t)(tail + room - head);
        if (WM_UNLIKELY(avail < (int64_t)n)) {
            /* The cache falls short: refresh it.  acquire: pairs with the
             * release in wm_ring_complete on the other side. */
            tail = __atomic_load_n(&other->tail, __ATOMIC_ACQUIRE);
            /* release: pairs with the acquire of the cache above. */
            __atomic_store_n(&self->claim.other_tail, tail, __ATOMIC_RELEASE);
            if (multi)  /* read after the tail: a stale head cannot hide room */
                head = __atomic_load_n(&self->claim.head, __ATOMIC_RELAXED);
            avail = (int64_t)(tail + room - head);
            if (avail < (int64_t)n) {
                if (bulk || avail <= 0)
                    return 0;
                n = (unsigned)avail;
            }
        }
        got = n;
        if (!multi) {
            /* relaxed: the head publishes nothing (the tail does). */
            __atomic_store_n(&self->claim.head, head + got, __ATOMIC_RELAXED);
            break;
        }
        /* relaxed CAS: claims positions, publishes nothing; the room was
         * established by the acquire above.  On failure head is reloaded. */
        if (__atomic_compare_exchange_n(&self->claim.head, &head, head + got, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            break;
    }
    *start = head;
    return got;
}

/* Publish positions start .. start+n-1 as complete to the other side.
 * Claimers complete in claim order: under multi a later claimer waits for
 * the earlier ones (they are copying; nobody waits on an idle side). */
WM_RING_INLINE void wm_ring_complete(struct wm_ring_side *self, uint64_t start, unsigned n,
                                     const bool multi)
{
    if (multi) {
        /* acquire: pairs with the release below by the claimer before us,
         * so our release also covers its copies (a release sequence does
         * not extend through another thread's plain store). */
        unsigned spins = 0;
        while (WM_UNLIKELY(__atomic_load_n(&self->tail, __ATOMIC_ACQUIRE) != start)) {
            /* The earlier claimer is copying a few elements: nanoseconds.
             * After WM_RING_SPIN_LIMIT pauses (tens of microseconds) it has
             * evidently been descheduled, and spinning on would only keep
             * it off the CPU (threads sharing a core): give the CPU up.  On
             * a dedicated core this never happens in normal operation. */
            if (WM_UNLIKELY(++spins % WM_RING_SPIN_LIMIT == 0))
                sched_yield();
            else
                wm_ring_pause();
        }
    }
    /* release: pairs with the acquire of this tail in wm_ring_claim on the
     * other side: our copies happen before it uses these positions. */
    __atomic_store_n(&self->tail, start + n, __ATOMIC_RELEASE);
}

/* ---- the cores ------------------------------------------------------------ */

WM_RING_INLINE unsigned wm_ring_enqueue_core(struct wm_ring *r, const void *elems, unsigned n,
                                             const uint32_t esz, const unsigned flags)
{
    const bool mp = flags & WM_RING_MP, bulk = flags & WM_RING_BULK;
    uint64_t start;
    if (WM_UNLIKELY(n == 0))
        return 0;
    unsigned got = wm_ring_claim(r, &r->prod, &r->cons, r->capacity, n, &start, esz, mp, bulk);
    if (WM_UNLIKELY(got < n))
        wm_ring_count_refused(r, n - got, mp);
    if (got == 0)
        return 0;
    if (mp) {
        /* Start taking the tail's line (which consumers poll) while we copy,
         * so its ownership transfer overlaps the slots' instead of following
         * it: the next locked CAS waits for both stores to complete. */
#if defined(__x86_64__)
        __asm__ volatile("prefetchw %0" ::"m"(r->prod.tail));
#endif
    }
    wm_ring_copy_in(r, start, elems, got, esz);
    wm_ring_complete(&r->prod, start, got, mp);
    return got;
}

WM_RING_INLINE unsigned wm_ring_dequeue_core(struct wm_ring *r, void *elems, unsigned n,
                                             const uint32_t esz, const unsigned flags)
{
    const bool mc = flags & WM_RING_MC, bulk = flags & WM_RING_BULK;
    uint64_t start;
    if (WM_UNLIKELY(n == 0))
        return 0;
    unsigned got = wm_ring_claim(r, &r->cons, &r->prod, 0, n, &start, esz, mc, bulk);
    if (got == 0)
        return 0;
    wm_ring_copy_out(r, start, elems, got, esz);
    wm_ring_complete(&r->cons, start, got, mc);
    return got;
}

/* Single-element operations: the cores with n = 1 (the loops fold away). */
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
