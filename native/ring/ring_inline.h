/* ring/ring_inline.h - the ring's layout and its inline operations.
 *
 * Private to native/: in-tree C callers that want the operations inlined (the
 * worker loops, the benchmark, the tests) include this header; everybody else
 * calls the exported wrappers declared in wirematch/ring.h.
 *
 * Two synchronisation modes, chosen when the ring is laid out and recorded in
 * its read-only header (r->sync); docs/ring.md has the long form, when to use
 * which, and the measurements.  Shared by both:
 *
 * Positions are 64-bit counters that never wrap in practice (2^64 elements at
 * 10^9/s is 584 years): position p lives in slot p & mask, and no position
 * value is ever reused, so there is no ABA on any counter or sequence word.
 *
 * Each side (producers, consumers) has
 *   claim.head   the next position to claim: advanced with ONE CAS per call
 *                (mp_/mc_) or one plain store (sp_/sc_), for 1 or n elements;
 *   claim.other_tail  a cached copy of what this side polls on the other
 *                side, refreshed only when it says there is not enough room
 *                (producers) or not enough elements (consumers);
 *   tail         polled by the other side (see the modes).
 * claim lives on lines only its own side touches, so a CAS on a head never
 * waits for a line the other side is polling; tail lives on its own lines.
 * (rte_ring keeps head and tail of a side on one line, so its mp/mc CAS
 * fights the other side's polling of the tail.)
 *
 * Producers are the same in both modes: claim [h, h+n) if h + n <=
 * cons.tail + capacity (cached tail first).  Consumers hand slots back the
 * same way in both: copy out, wait until cons.tail == c (mc only), cons.tail
 * = c + n.  The modes differ in how producers PUBLISH elements:
 *
 * WM_RING_SYNC_HEADTAIL (split head/tail; elements contiguous, slot = elem)
 *   producers: copy the n elements; wait until prod.tail == h (mp only:
 *              earlier claimers finish first); prod.tail = h + n.
 *   consumers: claim [c, c+n) if c + n <= prod.tail (cached first).
 *   Hence cons.tail <= cons.head <= prod.tail <= prod.head <= cons.tail+cap.
 *   A single hand-off touches two lines on the consumer: prod.tail and the
 *   slot; a burst of 32 8-byte elements touches 4 slot lines and the tail.
 *
 * WM_RING_SYNC_SLOTSEQ (per-slot sequence word; slot = 8-byte seq + elem)
 *   producers: for each element: copy it, then seq = p + 1 ("filled for p");
 *              then raise prod.fill_hint to h + n (a hint, see below).  No
 *              in-order wait: producers complete in any order.
 *   consumers: claim [c, c+n) only where every slot says seq == p + 1 (a
 *              single dequeue looks only at its slot: ONE line per hand-off);
 *              bursts scan no further than prod.fill_hint, so they do not
 *              pull lines producers are still writing.
 *   Hence cons.tail <= cons.head <= prod.head <= cons.tail + cap, and every
 *   position below cons.head was seen filled.  seq starts at 0 (never p + 1);
 *   an old lap's value p - cap + 1 never equals p + 1.
 *
 * A claim never waits.  Completion under mp/mc (HEADTAIL producers, both
 * modes' consumers) waits only for earlier claimers of the same side, which
 * are copying - unless one was descheduled (then the waiter yields).
 *
 * Memory ordering
 * ---------------
 * HEADTAIL: data is published only through the tails: release-store of a
 * side's tail after its copies, acquire-load of the other side's tail before
 * using the positions below it.  SLOTSEQ: elements are published through
 * their slot's seq (release after the copy, acquire before the read), and
 * handed back through cons.tail as in HEADTAIL; prod.fill_hint and the
 * consumers' copy of it publish nothing (relaxed: every slot is validated by
 * its seq).  Both: the cached copy of cons.tail is stored with release after
 * its acquire and loaded with acquire, so a peer claiming on the strength of
 * the cache is ordered after the consumers' reads too.  Heads are claim
 * counters and publish nothing: relaxed (the mp/mc CAS re-validates them).
 * The mp/mc completion wait loads its own tail with acquire so that its
 * release also covers the earlier claimer's copies.  Every edge below names
 * its partner.
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
_Static_assert(WM_RING_BLOCK == WM_RING_ALIGN, "public alignment = block size");
#define WM_RING_SEQ_SIZE 8u        /* SLOTSEQ: the sequence word before each element */

/* Bytes per slot for an element size and a mode (both constants in the
 * specialised cores). */
#define WM_RING_STRIDE(esz, sync)                                                                  \
    ((uint32_t)(esz) + ((sync) == WM_RING_SYNC_SLOTSEQ ? WM_RING_SEQ_SIZE : 0u))

/* One side's state (producers' or consumers'), split by who touches it:
 *   claim: head and the cached other side's tail - touched only by this side,
 *          so its CAS never waits for a line the other side is polling;
 *   tail:  what this side has completed - polled by the other side. */
struct wm_ring_side {
    struct {
        uint64_t head;         /* next position to claim */
        uint64_t other_tail;   /* cached copy of the other side's tail (SLOTSEQ
                                  consumers: of prod.fill_hint) */
        uint64_t refused;      /* producers: elements refused, ring full */
    } claim WM_ALIGNED(WM_RING_BLOCK);
    union {
        /* HEADTAIL, and consumers in both modes: every position below is
         * complete on this side. */
        uint64_t tail;
        /* SLOTSEQ producers: the end of the latest filled batch.  Only a
         * bound for burst consumers' scans; every element is validated by
         * its slot's seq. */
        uint64_t fill_hint;
    } WM_ALIGNED(WM_RING_BLOCK);
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
    uint32_t slot_stride;      /* HEADTAIL: elem_size (contiguous); SLOTSEQ:
                                  WM_RING_SEQ_SIZE + elem_size */
    uint32_t owned;            /* 1: allocated by wm_ring_create, freed by destroy */
    uint32_t sync;             /* enum wm_ring_sync: how producers publish */
    char name[WM_RING_NAME_LEN];

    struct wm_ring_side prod WM_ALIGNED(WM_RING_BLOCK);
    struct wm_ring_side cons WM_ALIGNED(WM_RING_BLOCK);

    /* capacity x slot_stride bytes: HEADTAIL the elements; SLOTSEQ each
     * slot a uint64_t seq then the element. */
    unsigned char slots[] WM_ALIGNED(WM_RING_BLOCK);
};

/* Compile-time flags of the inline cores: every exported function passes
 * constants, so each becomes its own specialised code. */
#define WM_RING_MP   1u            /* multiple producers: CAS the head (HEADTAIL: and
                                      complete after earlier claimers) */
#define WM_RING_MC   1u            /* multiple consumers: CAS the head, complete after
                                      earlier claimers (both modes) */
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
WM_RING_INLINE void wm_ring_prefetch_slot(struct wm_ring *r, uint64_t pos, const uint32_t stride,
                                          const bool for_write)
{
    const unsigned char *p = r->slots + (size_t)((uint32_t)pos & r->mask) * stride;
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

/* HEADTAIL: copy n elements between the caller's array and the slots of
 * positions pos .. pos+n-1 (contiguous; two runs when they wrap). */
WM_RING_INLINE void wm_ring_ht_copy_in(struct wm_ring *r, uint64_t pos, const unsigned char *src,
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

WM_RING_INLINE void wm_ring_ht_copy_out(struct wm_ring *r, uint64_t pos, unsigned char *dst,
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
 * claimed (bulk: n or 0) and the first position in *start.  Used by the
 * producers of both modes (the bound is cons.tail) and by HEADTAIL
 * consumers (the bound is prod.tail); SLOTSEQ consumers claim by the slots'
 * seq (wm_ring_ss_dequeue_core). */
WM_RING_INLINE unsigned wm_ring_claim(struct wm_ring *r, struct wm_ring_side *self,
                                      struct wm_ring_side *other, uint64_t room, unsigned n,
                                      uint64_t *start, const uint32_t stride, const bool multi,
                                      const bool bulk)
{
    /* relaxed: the head only allocates positions (multi: the CAS below
     * re-validates it; single: we are its only writer). */
    uint64_t head = __atomic_load_n(&self->claim.head, __ATOMIC_RELAXED);
    if (multi)
        wm_ring_prefetch_slot(r, head, stride, room != 0);
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
             * release in wm_ring_complete on the other side (producers:
             * consumers' hand-back of cons.tail, both modes; HEADTAIL
             * consumers: producers' publication of prod.tail). */
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

/* ---- HEADTAIL cores ------------------------------------------------------ */

WM_RING_INLINE unsigned wm_ring_ht_enqueue_core(struct wm_ring *r, const void *elems, unsigned n,
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
    wm_ring_ht_copy_in(r, start, elems, got, esz);
    /* release of prod.tail inside: pairs with the acquire of prod.tail in
     * wm_ring_claim by HEADTAIL consumers. */
    wm_ring_complete(&r->prod, start, got, mp);
    return got;
}

WM_RING_INLINE unsigned wm_ring_ht_dequeue_core(struct wm_ring *r, void *elems, unsigned n,
                                                const uint32_t esz, const unsigned flags)
{
    const bool mc = flags & WM_RING_MC, bulk = flags & WM_RING_BULK;
    uint64_t start;
    if (WM_UNLIKELY(n == 0))
        return 0;
    unsigned got = wm_ring_claim(r, &r->cons, &r->prod, 0, n, &start, esz, mc, bulk);
    if (got == 0)
        return 0;
    wm_ring_ht_copy_out(r, start, elems, got, esz);
    /* release of cons.tail inside: pairs with the producers' acquire of
     * cons.tail in wm_ring_claim. */
    wm_ring_complete(&r->cons, start, got, mc);
    return got;
}

/* ---- SLOTSEQ cores ------------------------------------------------------- */

WM_RING_INLINE uint64_t *wm_ring_ss_seq(struct wm_ring *r, uint32_t idx, const uint32_t esz)
{
    return (uint64_t *)(r->slots + (size_t)idx * WM_RING_STRIDE(esz, WM_RING_SYNC_SLOTSEQ));
}

/* Fill count slots from idx (no wrap inside) for positions pos .. with the
 * elements at src: element first, then its seq. */
WM_RING_INLINE void wm_ring_ss_fill_run(struct wm_ring *r, uint32_t idx, const unsigned char *src,
                                        unsigned count, uint64_t pos, const uint32_t esz)
{
    const uint32_t stride = WM_RING_STRIDE(esz, WM_RING_SYNC_SLOTSEQ);
    unsigned char *slot = (unsigned char *)wm_ring_ss_seq(r, idx, esz);
    for (unsigned i = 0; i < count; i++) {
        wm_ring_copy(slot + WM_RING_SEQ_SIZE, src, esz);
        /* release: pairs with the acquire of this seq in wm_ring_ss_filled_run
         * / wm_ring_ss_take_run: the element is written before any consumer
         * sees "filled for pos". */
        __atomic_store_n((uint64_t *)slot, pos + 1, __ATOMIC_RELEASE);
        src += esz;
        slot += stride;
        pos++;
    }
}

/* Raise prod.fill_hint to end (it only grows).  relaxed: a bound for burst
 * consumers' scans, publishing nothing (each slot's seq does).  sp: we are
 * the only producer, so end is the maximum.  mp: a CAS unless another
 * producer already raised it further; once this call returns, the hint
 * covers every position it filled, so no element stays invisible to bursts. */
WM_RING_INLINE void wm_ring_ss_raise_hint(struct wm_ring *r, uint64_t end, const bool mp)
{
    if (!mp) {
        __atomic_store_n(&r->prod.fill_hint, end, __ATOMIC_RELAXED);
        return;
    }
    uint64_t cur = __atomic_load_n(&r->prod.fill_hint, __ATOMIC_RELAXED);
    while ((int64_t)(cur - end) < 0 &&
           !__atomic_compare_exchange_n(&r->prod.fill_hint, &cur, end, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        ;
}

WM_RING_INLINE unsigned wm_ring_ss_enqueue_core(struct wm_ring *r, const void *elems, unsigned n,
                                                const uint32_t esz, const unsigned flags)
{
    const bool mp = flags & WM_RING_MP, bulk = flags & WM_RING_BULK;
    const unsigned char *src = elems;
    uint64_t start;
    if (WM_UNLIKELY(n == 0))
        return 0;
    /* The same claim as HEADTAIL: against cons.tail (acquire inside, pairs
     * with the consumers' release in wm_ring_complete), so the consumers'
     * reads of the slots happen before our writes into them. */
    unsigned got = wm_ring_claim(r, &r->prod, &r->cons, r->capacity, n, &start,
                                 WM_RING_STRIDE(esz, WM_RING_SYNC_SLOTSEQ), mp, bulk);
    if (WM_UNLIKELY(got < n))
        wm_ring_count_refused(r, n - got, mp);
    if (got == 0)
        return 0;
    uint32_t idx = (uint32_t)start & r->mask;
    unsigned first = r->capacity - idx;          /* slots before the wrap */
    if (WM_LIKELY(first >= got)) {
        wm_ring_ss_fill_run(r, idx, src, got, start, esz);
    } else {
        wm_ring_ss_fill_run(r, idx, src, first, start, esz);
        wm_ring_ss_fill_run(r, 0, src + (size_t)first * esz, got - first, start + first, esz);
    }
    wm_ring_ss_raise_hint(r, start + got, mp);
    return got;
}

/* How many of count slots from idx (positions pos ..; no wrap inside) are
 * filled for their position, stopping at the first that is not. */
WM_RING_INLINE unsigned wm_ring_ss_filled_run(struct wm_ring *r, uint32_t idx, unsigned count,
                                              uint64_t pos, const uint32_t esz)
{
    const uint32_t stride = WM_RING_STRIDE(esz, WM_RING_SYNC_SLOTSEQ);
    const unsigned char *slot = (const unsigned char *)wm_ring_ss_seq(r, idx, esz);
    for (unsigned i = 0; i < count; i++) {
        /* acquire: pairs with the release in wm_ring_ss_fill_run; the
         * element is read after this (wm_ring_ss_copy_out_run, after the
         * claim). */
        if (__atomic_load_n((const uint64_t *)slot, __ATOMIC_ACQUIRE) != pos + 1)
            return i;
        slot += stride;
        pos++;
    }
    return count;
}

WM_RING_INLINE unsigned wm_ring_ss_filled(struct wm_ring *r, uint64_t pos, unsigned n,
                                          const uint32_t esz)
{
    uint32_t idx = (uint32_t)pos & r->mask;
    unsigned first = r->capacity - idx;
    if (WM_LIKELY(first >= n))
        return wm_ring_ss_filled_run(r, idx, n, pos, esz);
    unsigned got = wm_ring_ss_filled_run(r, idx, first, pos, esz);
    if (got < first)
        return got;
    return got + wm_ring_ss_filled_run(r, 0, n - first, pos + first, esz);
}

/* Copy count claimed elements out (no wrap inside); each was seen filled by
 * the acquire of its seq in wm_ring_ss_filled_run, and no producer rewrites
 * a slot before cons.tail passes it. */
WM_RING_INLINE void wm_ring_ss_copy_out_run(struct wm_ring *r, uint32_t idx, unsigned char *dst,
                                            unsigned count, const uint32_t esz)
{
    const uint32_t stride = WM_RING_STRIDE(esz, WM_RING_SYNC_SLOTSEQ);
    const unsigned char *slot = (const unsigned char *)wm_ring_ss_seq(r, idx, esz);
    for (unsigned i = 0; i < count; i++) {
        wm_ring_copy(dst, slot + WM_RING_SEQ_SIZE, esz);
        dst += esz;
        slot += stride;
    }
}

WM_RING_INLINE void wm_ring_ss_copy_out(struct wm_ring *r, uint64_t pos, unsigned char *dst,
                                        unsigned n, const uint32_t esz)
{
    uint32_t idx = (uint32_t)pos & r->mask;
    unsigned first = r->capacity - idx;
    if (WM_LIKELY(first >= n)) {
        wm_ring_ss_copy_out_run(r, idx, dst, n, esz);
        return;
    }
    wm_ring_ss_copy_out_run(r, idx, dst, first, esz);
    wm_ring_ss_copy_out_run(r, 0, dst + (size_t)first * esz, n - first, esz);
}

/* sc: check and copy in one pass (nobody else takes these positions, and no
 * producer rewrites a slot before cons.tail passes it). */
WM_RING_INLINE unsigned wm_ring_ss_take_run(struct wm_ring *r, uint32_t idx, unsigned char *dst,
                                            unsigned count, uint64_t pos, const uint32_t esz)
{
    const uint32_t stride = WM_RING_STRIDE(esz, WM_RING_SYNC_SLOTSEQ);
    const unsigned char *slot = (const unsigned char *)wm_ring_ss_seq(r, idx, esz);
    for (unsigned i = 0; i < count; i++) {
        /* acquire: pairs with the release in wm_ring_ss_fill_run. */
        if (__atomic_load_n((const uint64_t *)slot, __ATOMIC_ACQUIRE) != pos + 1)
            return i;
        wm_ring_copy(dst, slot + WM_RING_SEQ_SIZE, esz);
        dst += esz;
        slot += stride;
        pos++;
    }
    return count;
}

WM_RING_INLINE unsigned wm_ring_ss_take(struct wm_ring *r, uint64_t pos, unsigned char *dst,
                                        unsigned n, const uint32_t esz)
{
    uint32_t idx = (uint32_t)pos & r->mask;
    unsigned first = r->capacity - idx;
    if (WM_LIKELY(first >= n))
        return wm_ring_ss_take_run(r, idx, dst, n, pos, esz);
    unsigned got = wm_ring_ss_take_run(r, idx, dst, first, pos, esz);
    if (got < first)
        return got;
    return got + wm_ring_ss_take_run(r, 0, dst + (size_t)first * esz, n - first, pos + first,
                                     esz);
}

/* How many slots from position head a burst or bulk of up to n may look at:
 * what prod.fill_hint covers (through the consumers' cached copy, refreshed
 * when it falls short).  Bursts never read slots beyond it, so they do not
 * pull lines producers are still writing (a single dequeue does look at its
 * slot: for one element the slot's line is the hand-off).  Returns 0 when
 * nothing is covered (bulk: when fewer than n are). */
WM_RING_INLINE unsigned wm_ring_ss_scan_len(struct wm_ring *r, uint64_t head, unsigned n,
                                            const bool bulk)
{
    /* relaxed (both loads, the store): a bound only, publishing nothing;
     * every slot is validated by the acquire of its seq.  Under mc a peer
     * may store an older copy: then we refresh once more, no harm. */
    uint64_t hint = __atomic_load_n(&r->cons.claim.other_tail, __ATOMIC_RELAXED);
    int64_t avail = (int64_t)(hint - head);
    if (avail < (int64_t)n) {
        hint = __atomic_load_n(&r->prod.fill_hint, __ATOMIC_RELAXED);
        __atomic_store_n(&r->cons.claim.other_tail, hint, __ATOMIC_RELAXED);
        avail = (int64_t)(hint - head);
    }
    if (avail >= (int64_t)n)
        return n;
    if (bulk || avail <= 0)
        return 0;
    return (unsigned)avail;
}

WM_RING_INLINE unsigned wm_ring_ss_dequeue_core(struct wm_ring *r, void *elems, unsigned n,
                                                const uint32_t esz, const unsigned flags)
{
    const bool mc = flags & WM_RING_MC, bulk = flags & WM_RING_BULK;
    unsigned char *dst = elems;
    unsigned got;
    if (WM_UNLIKELY(n == 0))
        return 0;
    /* relaxed: the consumers' claim counter publishes nothing (sc: ours
     * alone; mc: the CAS below re-validates it). */
    uint64_t head = __atomic_load_n(&r->cons.claim.head, __ATOMIC_RELAXED);
    if (!mc && !bulk) {
        unsigned look = n == 1 ? 1 : wm_ring_ss_scan_len(r, head, n, false);
        if (look == 0)
            return 0;
        got = wm_ring_ss_take(r, head, dst, look, esz);
        if (got == 0)
            return 0;
        /* relaxed: see above; the hand-back is the release of cons.tail. */
        __atomic_store_n(&r->cons.claim.head, head + got, __ATOMIC_RELAXED);
    } else {
        for (;;) {
            unsigned look = n == 1 ? 1 : wm_ring_ss_scan_len(r, head, n, bulk);
            got = look ? wm_ring_ss_filled(r, head, look, esz) : 0;
            if (got == 0 || (bulk && got < n))
                return 0;
            if (!mc) {
                /* relaxed: as above. */
                __atomic_store_n(&r->cons.claim.head, head + got, __ATOMIC_RELAXED);
                break;
            }
            /* relaxed CAS: claims positions, publishes nothing.  The slots
             * were seen filled for exactly [head, head+got) by the acquires
             * in wm_ring_ss_filled; positions are never reused, so if the
             * CAS succeeds those slots are still ours to read (no producer
             * rewrites them before cons.tail passes them, which needs our
             * completion).  On failure head is reloaded and we re-check. */
            if (__atomic_compare_exchange_n(&r->cons.claim.head, &head, head + got, true,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                break;
        }
        wm_ring_ss_copy_out(r, head, dst, got, esz);
    }
    /* release of cons.tail inside: pairs with the producers' acquire of
     * cons.tail in wm_ring_claim (our reads happen before they rewrite). */
    wm_ring_complete(&r->cons, head, got, mc);
    return got;
}

/* ---- dispatch -------------------------------------------------------------
 * On the mode (sync) and the element size (esz).  With constants (in-tree
 * callers that know their ring) both fold away; the exported wrappers and
 * the mode-generic inline API read r->sync (a read-only header field on the
 * line that also holds elem_size and mask: one well-predicted branch) and
 * r->elem_size, and get one specialised copy per mode and size. */
#define WM_RING_FOR_EACH_SIZE(X) X(8) X(16) X(24) X(32) X(40) X(48) X(56) X(64) X(128) X(192)

WM_RING_INLINE unsigned wm_ring_enqueue_sync(struct wm_ring *r, const void *elems, unsigned n,
                                             uint32_t esz, const unsigned flags,
                                             const enum wm_ring_sync sync)
{
    switch (esz) {
#define WM_RING_CASE(sz)                                                                           \
    case sz:                                                                                       \
        return sync == WM_RING_SYNC_SLOTSEQ ? wm_ring_ss_enqueue_core(r, elems, n, sz, flags)     \
                                            : wm_ring_ht_enqueue_core(r, elems, n, sz, flags);
        WM_RING_FOR_EACH_SIZE(WM_RING_CASE)
#undef WM_RING_CASE
    }
    return 0;
}

WM_RING_INLINE unsigned wm_ring_dequeue_sync(struct wm_ring *r, void *elems, unsigned n,
                                             uint32_t esz, const unsigned flags,
                                             const enum wm_ring_sync sync)
{
    switch (esz) {
#define WM_RING_CASE(sz)                                                                           \
    case sz:                                                                                       \
        return sync == WM_RING_SYNC_SLOTSEQ ? wm_ring_ss_dequeue_core(r, elems, n, sz, flags)     \
                                            : wm_ring_ht_dequeue_core(r, elems, n, sz, flags);
        WM_RING_FOR_EACH_SIZE(WM_RING_CASE)
#undef WM_RING_CASE
    }
    return 0;
}

/* Mode read from the ring (mode-generic callers). */
WM_RING_INLINE unsigned wm_ring_enqueue_elem(struct wm_ring *r, const void *elems, unsigned n,
                                             uint32_t esz, const unsigned flags)
{
    if (r->sync == WM_RING_SYNC_SLOTSEQ)
        return wm_ring_enqueue_sync(r, elems, n, esz, flags, WM_RING_SYNC_SLOTSEQ);
    return wm_ring_enqueue_sync(r, elems, n, esz, flags, WM_RING_SYNC_HEADTAIL);
}

WM_RING_INLINE unsigned wm_ring_dequeue_elem(struct wm_ring *r, void *elems, unsigned n,
                                             uint32_t esz, const unsigned flags)
{
    if (r->sync == WM_RING_SYNC_SLOTSEQ)
        return wm_ring_dequeue_sync(r, elems, n, esz, flags, WM_RING_SYNC_SLOTSEQ);
    return wm_ring_dequeue_sync(r, elems, n, esz, flags, WM_RING_SYNC_HEADTAIL);
}

/* ---- the inline API --------------------------------------------------------
 * Named like the exported functions with an _elem suffix and the element
 * size as an argument (pass a constant, equal to the ring's element size, to
 * get the specialised copy):
 *   wm_ring_<op>_elem(r, ...)           reads the ring's mode (one branch)
 *   wm_ring_headtail_<op>_elem(r, ...)  for a ring laid out HEADTAIL
 *   wm_ring_slotseq_<op>_elem(r, ...)   for a ring laid out SLOTSEQ
 * The per-mode ones do not look at r->sync: calling one on a ring of the
 * other mode corrupts it.  Single-element calls (sp_enqueue, ...) return 0
 * or -ENOBUFS / -ENOENT; the others a count. */
#define WM_RING_DEFINE_INLINE_API(x)                                                               \
    x(sp_enqueue_burst, enqueue, const void *, 0)                                                  \
    x(mp_enqueue_burst, enqueue, const void *, WM_RING_MP)                                         \
    x(sp_enqueue_bulk, enqueue, const void *, WM_RING_BULK)                                        \
    x(mp_enqueue_bulk, enqueue, const void *, WM_RING_MP | WM_RING_BULK)                           \
    x(sc_dequeue_burst, dequeue, void *, 0)                                                        \
    x(mc_dequeue_burst, dequeue, void *, WM_RING_MC)                                               \
    x(sc_dequeue_bulk, dequeue, void *, WM_RING_BULK)                                              \
    x(mc_dequeue_bulk, dequeue, void *, WM_RING_MC | WM_RING_BULK)

#define WM_RING_DEFINE_INLINE_SINGLE(x)                                                            \
    x(sp_enqueue, enqueue, const void *, 0, -ENOBUFS)                                              \
    x(mp_enqueue, enqueue, const void *, WM_RING_MP, -ENOBUFS)                                     \
    x(sc_dequeue, dequeue, void *, 0, -ENOENT)                                                     \
    x(mc_dequeue, dequeue, void *, WM_RING_MC, -ENOENT)

#define WM_RING_INLINE_FN(name, op, ptr_t, flags)                                                  \
    WM_RING_INLINE unsigned wm_ring_##name##_elem(struct wm_ring *r, ptr_t elems, uint32_t esz,   \
                                                  unsigned n)                                      \
    {                                                                                              \
        return wm_ring_##op##_elem(r, elems, n, esz, flags);                                       \
    }                                                                                              \
    WM_RING_INLINE unsigned wm_ring_headtail_##name##_elem(struct wm_ring *r, ptr_t elems,        \
                                                           uint32_t esz, unsigned n)               \
    {                                                                                              \
        return wm_ring_##op##_sync(r, elems, n, esz, flags, WM_RING_SYNC_HEADTAIL);               \
    }                                                                                              \
    WM_RING_INLINE unsigned wm_ring_slotseq_##name##_elem(struct wm_ring *r, ptr_t elems,         \
                                                          uint32_t esz, unsigned n)                \
    {                                                                                              \
        return wm_ring_##op##_sync(r, elems, n, esz, flags, WM_RING_SYNC_SLOTSEQ);                \
    }
WM_RING_DEFINE_INLINE_API(WM_RING_INLINE_FN)
#undef WM_RING_INLINE_FN

#define WM_RING_INLINE_ONE(name, op, ptr_t, flags, err)                                            \
    WM_RING_INLINE int wm_ring_##name##_elem(struct wm_ring *r, ptr_t e, uint32_t esz)            \
    {                                                                                              \
        return wm_ring_##op##_elem(r, e, 1, esz, flags) ? 0 : (err);                               \
    }                                                                                              \
    WM_RING_INLINE int wm_ring_headtail_##name##_elem(struct wm_ring *r, ptr_t e, uint32_t esz)   \
    {                                                                                              \
        return wm_ring_##op##_sync(r, e, 1, esz, flags, WM_RING_SYNC_HEADTAIL) ? 0 : (err);       \
    }                                                                                              \
    WM_RING_INLINE int wm_ring_slotseq_##name##_elem(struct wm_ring *r, ptr_t e, uint32_t esz)    \
    {                                                                                              \
        return wm_ring_##op##_sync(r, e, 1, esz, flags, WM_RING_SYNC_SLOTSEQ) ? 0 : (err);        \
    }
WM_RING_DEFINE_INLINE_SINGLE(WM_RING_INLINE_ONE)
#undef WM_RING_INLINE_ONE

#endif
