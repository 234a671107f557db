/* HDR-style log-linear histogram: layout, percentiles, merge, validation.
 * Recording is inline in wirematch/hist_inline.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wirematch/hist.h"

#define SUB_HALF (1u << WM_HIST_SUB_BITS) /* 128 */

uint32_t wm_hist_index_of(uint64_t value)
{
    return wm_hist_index(value);
}

static uint32_t bucket_of_index(uint32_t idx)
{
    return idx < 2 * SUB_HALF ? 0 : (idx >> WM_HIST_SUB_BITS) - 1;
}

uint64_t wm_hist_lowest_at(uint32_t idx)
{
    uint32_t b = bucket_of_index(idx);
    if (b == 0)
        return idx;
    return (uint64_t)((idx & (SUB_HALF - 1)) + SUB_HALF) << b;
}

uint64_t wm_hist_highest_at(uint32_t idx)
{
    return wm_hist_lowest_at(idx) + (1ull << bucket_of_index(idx)) - 1;
}

static uint32_t counts_for(uint64_t max_value)
{
    return wm_hist_index(max_value) + 1;
}

size_t wm_hist_memsize(uint64_t max_value)
{
    if (max_value < 256 || max_value > (1ull << 62))
        return 0;
    return sizeof(struct wm_hist) + (size_t)counts_for(max_value) * sizeof(uint64_t);
}

int wm_hist_init(void *mem, size_t memsize, uint64_t max_value)
{
    size_t need = wm_hist_memsize(max_value);
    if (mem == NULL || need == 0 || memsize < need || ((uintptr_t)mem & 7))
        return -EINVAL;
    struct wm_hist *h = mem;
    memset(h, 0, need);
    h->sub_bits = WM_HIST_SUB_BITS;
    h->n_counts = counts_for(max_value);
    h->max_value = max_value;
    h->min = UINT64_MAX;
    /* Publish last: a reader that sees the magic sees a laid-out histogram. */
    __atomic_store_n(&h->magic, WM_HIST_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int wm_hist_create(uint64_t max_value, struct wm_hist **out)
{
    size_t need = wm_hist_memsize(max_value);
    if (need == 0 || out == NULL)
        return -EINVAL;
    size_t alloc = (need + WM_CACHE_LINE - 1) & ~(size_t)(WM_CACHE_LINE - 1);
    void *mem = aligned_alloc(WM_CACHE_LINE, alloc);
    if (mem == NULL)
        return -ENOMEM;
    wm_hist_init(mem, alloc, max_value);
    *out = mem;
    return 0;
}

void wm_hist_destroy(struct wm_hist *h)
{
    free(h);
}

void wm_hist_record_value(struct wm_hist *h, uint64_t value)
{
    wm_hist_record(h, value);
}

void wm_hist_record_array(struct wm_hist *h, const uint64_t *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wm_hist_record(h, values[i]);
}

uint64_t wm_hist_percentile(const struct wm_hist *h, double p)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < h->n_counts; i++)
        total += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
    if (total == 0)
        return 0;
    if (p > 100.0)
        p = 100.0;
    if (p < 0.0)
        p = 0.0;
    uint64_t target = (uint64_t)(p / 100.0 * (double)total + 0.5);
    if (target < 1)
        target = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < h->n_counts; i++) {
        seen += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
        if (seen >= target)
            return wm_hist_highest_at(i);
    }
    return wm_hist_highest_at(h->n_counts - 1);
}

int wm_hist_merge(struct wm_hist *dst, const struct wm_hist *src)
{
    if (dst->n_counts != src->n_counts || dst->max_value != src->max_value)
        return -EINVAL;
    for (uint32_t i = 0; i < src->n_counts; i++)
        dst->counts[i] += __atomic_load_n(&src->counts[i], __ATOMIC_RELAXED);
    dst->total += src->total;
    uint64_t s = dst->sum + src->sum;
    dst->sum = s < dst->sum ? UINT64_MAX : s;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->overflows += src->overflows;
    return 0;
}

void wm_hist_reset(struct wm_hist *h)
{
    memset(h->counts, 0, (size_t)h->n_counts * sizeof(uint64_t));
    h->total = h->sum = h->max = h->overflows = 0;
    h->min = UINT64_MAX;
}

int wm_hist_check(const void *mem, size_t size)
{
    const struct wm_hist *h = mem;
    if (size < sizeof(*h) || __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != WM_HIST_MAGIC)
        return -EINVAL;
    if (h->sub_bits != WM_HIST_SUB_BITS || wm_hist_memsize(h->max_value) == 0 ||
        h->n_counts != counts_for(h->max_value) || wm_hist_memsize(h->max_value) > size)
        return -EINVAL;
    return 0;
}
