/* wirematch/hist_inline.h - recording for the hot path (included by hist.h). */
#ifndef WIREMATCH_HIST_INLINE_H
#define WIREMATCH_HIST_INLINE_H

static inline uint32_t wm_hist_index(uint64_t v)
{
    int b = 56 - __builtin_clzll(v | 255);   /* 0 for v < 256 */
    return ((uint32_t)b << WM_HIST_SUB_BITS) + (uint32_t)(v >> b);
}

/* Single writer.  Each field is updated with a relaxed store of a value the
 * writer alone computes: readers (other threads or processes) load relaxed
 * and see whole 64-bit values; no ordering between fields is promised. */
static inline void wm_hist_record(struct wm_hist *h, uint64_t v)
{
    if (WM_UNLIKELY(v > h->max_value)) {
        __atomic_store_n(&h->overflows, h->overflows + 1, __ATOMIC_RELAXED);
        v = h->max_value;
    }
    uint32_t i = wm_hist_index(v);
    __atomic_store_n(&h->counts[i], h->counts[i] + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&h->total, h->total + 1, __ATOMIC_RELAXED);
    uint64_t s = h->sum + v;
    __atomic_store_n(&h->sum, s < v ? UINT64_MAX : s, __ATOMIC_RELAXED);
    if (v < h->min)
        __atomic_store_n(&h->min, v, __ATOMIC_RELAXED);
    if (v > h->max)
        __atomic_store_n(&h->max, v, __ATOMIC_RELAXED);
}

#endif
