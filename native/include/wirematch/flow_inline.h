/* wirematch/flow_inline.h - flow lookup and per-flow counting for the data
 * plane (included by flow.h).
 *
 * Reader side of a slot's sequence word (the writer is slot_write in
 * native/flow/flow.c):
 *   1. acquire load of version  - pairs with the writer's release store of
 *      the even version: seeing it, the reader sees every field it covers;
 *   2. acquire loads of state, key and decision words - each pairs with the
 *      writer's release store of that word, which follows its store of the
 *      odd version: a reader that sees any new word will see the version
 *      moved at step 3.  Acquire also keeps step 3 from being hoisted above;
 *   3. relaxed re-load of version: equal and even means the copy is whole.
 * On x86 every one of these is a plain load.  (The same pattern as
 * wm_tsc_to_ns and wm_rate_params; no standalone fences, which
 * ThreadSanitizer cannot follow.)
 */
#ifndef WIREMATCH_FLOW_INLINE_H
#define WIREMATCH_FLOW_INLINE_H

#include <errno.h>
#include <string.h>
#include <nmmintrin.h>

static inline uint32_t wm_flow_hash(uint64_t k0, uint64_t k1)
{
    /* CRC32-C of the 16 key bytes (SSE4.2, in x86-64-v2 and up), mixed so
     * that the low bits depend on every key bit. */
    uint32_t h = (uint32_t)_mm_crc32_u64(_mm_crc32_u64(0x9e3779b9u, k0), k1);
    return h ^ (h >> 16);
}

static inline void wm_flow_key_words(const struct wm_flow_key *k, uint64_t *k0, uint64_t *k1)
{
    memcpy(k0, k, 8);
    memcpy(k1, (const char *)k + 8, 8);
}

static inline struct wm_flow_entry *wm_flow_slots(const struct wm_flow_table *t)
{
    return (struct wm_flow_entry *)((char *)t + t->entries_offset);
}

/* A consistent copy of a slot's control line.  0, or -EBUSY after
 * WM_FLOW_READ_TRIES attempts that all overlapped a write. */
static inline int wm_flow_slot_copy(const struct wm_flow_entry *e, uint32_t *state, uint64_t kw[2],
                                    uint64_t dw[2])
{
    for (int i = 0; i < WM_FLOW_READ_TRIES; i++) {
        uint64_t v = __atomic_load_n(&e->version, __ATOMIC_ACQUIRE);
        *state = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
        kw[0] = __atomic_load_n(&e->key_words[0], __ATOMIC_ACQUIRE);
        kw[1] = __atomic_load_n(&e->key_words[1], __ATOMIC_ACQUIRE);
        dw[0] = __atomic_load_n(&e->decision_words[0], __ATOMIC_ACQUIRE);
        dw[1] = __atomic_load_n(&e->decision_words[1], __ATOMIC_ACQUIRE);
        if (!(v & 1) && v == __atomic_load_n(&e->version, __ATOMIC_RELAXED))
            return 0;
        __builtin_ia32_pause();
    }
    return -EBUSY;
}

/* Look a key up.  Returns the slot index (and the decision in *out), -ENOENT
 * on a miss, or -EBUSY when a slot on the way stayed under rewrite for every
 * retry (treat as a miss: the slow path will find the flow installed). */
static inline int wm_flow_lookup(const struct wm_flow_table *t, const struct wm_flow_key *key,
                                 struct wm_flow_decision *out)
{
    uint64_t k0, k1;
    wm_flow_key_words(key, &k0, &k1);
    const struct wm_flow_entry *slots = wm_flow_slots(t);
    uint32_t mask = t->capacity - 1;
    /* Relaxed: max_probe only grows, and is raised before the entry that
     * needs it is published.  A reader holding an older, smaller bound can
     * only miss an entry being inserted concurrently with this lookup. */
    uint32_t limit = __atomic_load_n(&t->max_probe, __ATOMIC_RELAXED);
    uint32_t i = wm_flow_hash(k0, k1) & mask;
    for (uint32_t d = 0; d <= limit; d++, i = (i + 1) & mask) {
        uint32_t state;
        uint64_t kw[2], dw[2];
        if (WM_UNLIKELY(wm_flow_slot_copy(&slots[i], &state, kw, dw) < 0))
            return -EBUSY;
        if (state == WM_FLOW_EMPTY)
            return -ENOENT;
        if (state == WM_FLOW_LIVE && kw[0] == k0 && kw[1] == k1) {
            memcpy(out, dw, sizeof(*out));
            return (int)i;
        }
    }
    return -ENOENT;
}

/* Count packets on the slot a lookup returned.  The flow's data-plane
 * thread only (one writer: relaxed load + relaxed store). */
static inline void wm_flow_count(struct wm_flow_table *t, uint32_t slot, uint32_t packets,
                                 uint64_t bytes, uint32_t drops, uint64_t now)
{
    struct wm_flow_entry *e = wm_flow_slots(t) + slot;
    __atomic_store_n(&e->packets, __atomic_load_n(&e->packets, __ATOMIC_RELAXED) + packets,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&e->bytes, __atomic_load_n(&e->bytes, __ATOMIC_RELAXED) + bytes,
                     __ATOMIC_RELAXED);
    if (drops)
        __atomic_store_n(&e->drops, __atomic_load_n(&e->drops, __ATOMIC_RELAXED) + drops,
                         __ATOMIC_RELAXED);
    __atomic_store_n(&e->last_seen, now, __ATOMIC_RELAXED);
}

#endif
