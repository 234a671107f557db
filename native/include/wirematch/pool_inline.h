/* wirematch/pool_inline.h - hot-path pool operations (included by pool.h).
 * Single owner thread: no atomics are needed or used. */
#ifndef WIREMATCH_POOL_INLINE_H
#define WIREMATCH_POOL_INLINE_H

static inline void *wm_pool_at(const struct wm_pool *pool, uint32_t idx)
{
    return pool->objs + (size_t)idx * pool->obj_size;
}

static inline uint32_t wm_pool_index(const struct wm_pool *pool, const void *obj)
{
    return (uint32_t)(((const unsigned char *)obj - pool->objs) / pool->obj_size);
}

/* Returns a free object, or NULL (counted) when the pool is exhausted. */
static inline void *wm_pool_get(struct wm_pool *pool)
{
    if (WM_UNLIKELY(pool->free_count == 0)) {
        pool->get_failures++;
        return NULL;
    }
    uint32_t idx = pool->free_stack[--pool->free_count];
    uint32_t used = pool->capacity - pool->free_count;
    if (used > pool->high_water)
        pool->high_water = used;
    return wm_pool_at(pool, idx);
}

/* Returns an object to the pool.  The caller guarantees obj came from this
 * pool and is not already free (wm_pool_put_obj checks both). */
static inline void wm_pool_put(struct wm_pool *pool, void *obj)
{
    pool->free_stack[pool->free_count++] = wm_pool_index(pool, obj);
}

#endif
