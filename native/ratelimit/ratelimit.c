/* Token bucket tables: layout, control-plane parameter changes, and the
 * out-of-line takes for cffi and tests.  The hot path is in
 * wirematch/ratelimit_inline.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wirematch/ratelimit.h"

#define MAX_BUCKETS (1u << 24)

size_t wm_rate_table_memsize(uint32_t n)
{
    if (n == 0 || n > MAX_BUCKETS)
        return 0;
    return sizeof(struct wm_rate_table) + (size_t)n * sizeof(struct wm_rate_bucket);
}

void wm_rate_bucket_init(struct wm_rate_bucket *b)
{
    memset(b, 0, sizeof(*b));
    b->flags = WM_RATE_UNLIMITED;
}

/* Writer side of the bucket's sequence word (one writer: the control
 * thread).  The odd version is stored first; every parameter is then stored
 * with release, so a reader that acquires a new parameter also sees the odd
 * version at its re-check (pairs with the acquire loads in wm_rate_params);
 * the even version is stored with release last (pairs with the reader's
 * first acquire of version: it then sees every new parameter). */
int wm_rate_bucket_configure(struct wm_rate_bucket *b, uint64_t tick_hz, uint32_t rate,
                             uint32_t burst)
{
    if (b == NULL || tick_hz == 0 || burst > WM_RATE_MAX_BURST || (rate == 0) != (burst == 0))
        return -EINVAL;
    uint64_t per_tick = 0, burst_fp = 0;
    uint32_t flags = WM_RATE_UNLIMITED;
    if (rate != 0) {
        /* Rounded up: the bucket never grants less than the rate (the excess
         * is below 2^-48 tokens per tick, 2^-18 tokens per second at 1 GHz),
         * and a token is back exactly 1/rate seconds after it was taken. */
        per_tick = (uint64_t)((((unsigned __int128)rate << WM_RATE_TICK_BITS) + tick_hz - 1) /
                              tick_hz);
        burst_fp = (uint64_t)burst << WM_RATE_FRAC_BITS;
        flags = 0;
    }
    uint64_t v = __atomic_load_n(&b->version, __ATOMIC_RELAXED);
    __atomic_store_n(&b->version, v + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&b->per_tick, per_tick, __ATOMIC_RELEASE);
    __atomic_store_n(&b->burst_fp, burst_fp, __ATOMIC_RELEASE);
    __atomic_store_n(&b->rate, rate, __ATOMIC_RELEASE);
    __atomic_store_n(&b->flags, flags, __ATOMIC_RELEASE);
    __atomic_store_n(&b->version, v + 2, __ATOMIC_RELEASE);
    return 0;
}

int wm_rate_table_init(void *mem, size_t memsize, uint32_t n, uint64_t tick_hz)
{
    size_t need = wm_rate_table_memsize(n);
    if (mem == NULL || need == 0 || memsize < need || tick_hz == 0 ||
        ((uintptr_t)mem & (WM_CACHE_LINE - 1)))
        return -EINVAL;
    struct wm_rate_table *t = mem;
    memset(t, 0, sizeof(*t));
    t->n = n;
    t->tick_hz = tick_hz;
    for (uint32_t i = 0; i < n; i++)
        wm_rate_bucket_init(&t->buckets[i]);
    /* Publish last: pairs with the acquire in wm_rate_table_check. */
    __atomic_store_n(&t->magic, WM_RATE_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int wm_rate_table_create(uint32_t n, uint64_t tick_hz, struct wm_rate_table **out)
{
    size_t need = wm_rate_table_memsize(n);
    if (need == 0 || out == NULL)
        return -EINVAL;
    /* C11: the size must be a multiple of the alignment. */
    void *mem = aligned_alloc(WM_CACHE_LINE, (need + WM_CACHE_LINE - 1) & ~(size_t)(WM_CACHE_LINE - 1));
    if (mem == NULL)
        return -ENOMEM;
    int rc = wm_rate_table_init(mem, need, n, tick_hz);
    if (rc < 0) {
        free(mem);
        return rc;
    }
    *out = mem;
    return 0;
}

void wm_rate_table_destroy(struct wm_rate_table *t)
{
    free(t);
}

int wm_rate_table_check(const void *mem, size_t size)
{
    const struct wm_rate_table *t = mem;
    if (mem == NULL || size < sizeof(*t) ||
        __atomic_load_n(&t->magic, __ATOMIC_ACQUIRE) != WM_RATE_MAGIC)
        return -EINVAL;
    size_t need = wm_rate_table_memsize(t->n);
    if (need == 0 || need > size || t->tick_hz == 0)
        return -EINVAL;
    return 0;
}

int wm_rate_bucket_set(struct wm_rate_table *t, uint32_t idx, uint32_t rate, uint32_t burst)
{
    if (t == NULL || idx >= t->n)
        return -EINVAL;
    return wm_rate_bucket_configure(&t->buckets[idx], t->tick_hz, rate, burst);
}

int wm_rate_table_take(struct wm_rate_table *t, uint32_t idx, uint64_t now, uint32_t n)
{
    if (idx >= t->n)
        return 0;
    return wm_rate_take(&t->buckets[idx], now, n);
}

uint32_t wm_rate_table_take_burst(struct wm_rate_table *t, uint32_t idx, uint64_t now, uint32_t n)
{
    if (idx >= t->n)
        return 0;
    return wm_rate_take_burst(&t->buckets[idx], now, n);
}

uint64_t wm_rate_table_tokens(const struct wm_rate_table *t, uint32_t idx)
{
    if (idx >= t->n)
        return 0;
    return __atomic_load_n(&t->buckets[idx].tokens_fp, __ATOMIC_RELAXED) >> WM_RATE_FRAC_BITS;
}
