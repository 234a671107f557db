/* Fixed-size object pool: layout, creation and checked out-of-line calls.
 * The hot-path get/put are inline in wirematch/pool_inline.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wirematch/pool.h"

#define POOL_MAGIC 0x314c4f4f504d5755ull /* "UWMPOOL1" */
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))

static size_t stack_offset(void)
{
    return ALIGN_UP(sizeof(struct wm_pool), WM_CACHE_LINE);
}

static size_t objs_offset(uint32_t capacity)
{
    return ALIGN_UP(stack_offset() + (size_t)capacity * sizeof(uint32_t), WM_CACHE_LINE);
}

size_t wm_pool_memsize(uint32_t obj_size, uint32_t capacity)
{
    if (obj_size == 0 || capacity == 0 || capacity > (1u << 31))
        return 0;
    size_t osz = ALIGN_UP((size_t)obj_size, 8);
    return objs_offset(capacity) + osz * capacity;
}

int wm_pool_init(void *mem, size_t memsize, uint32_t obj_size, uint32_t capacity)
{
    size_t need = wm_pool_memsize(obj_size, capacity);
    if (mem == NULL || need == 0 || memsize < need || ((uintptr_t)mem & 7))
        return -EINVAL;
    struct wm_pool *pool = mem;
    memset(pool, 0, sizeof(*pool));
    pool->magic = POOL_MAGIC;
    pool->obj_size = (uint32_t)ALIGN_UP((size_t)obj_size, 8);
    pool->capacity = capacity;
    pool->objs_offset = objs_offset(capacity);
    pool->free_stack = (uint32_t *)((unsigned char *)mem + stack_offset());
    pool->objs = (unsigned char *)mem + pool->objs_offset;
    /* Lowest index on top: the first gets walk memory forwards. */
    for (uint32_t i = 0; i < capacity; i++)
        pool->free_stack[i] = capacity - 1 - i;
    pool->free_count = capacity;
    return 0;
}

int wm_pool_create(uint32_t obj_size, uint32_t capacity, struct wm_pool **out)
{
    size_t need = wm_pool_memsize(obj_size, capacity);
    if (need == 0 || out == NULL)
        return -EINVAL;
    void *mem = aligned_alloc(WM_CACHE_LINE, ALIGN_UP(need, WM_CACHE_LINE));
    if (mem == NULL)
        return -ENOMEM;
    int rc = wm_pool_init(mem, need, obj_size, capacity);
    if (rc < 0) {
        free(mem);
        return rc;
    }
    ((struct wm_pool *)mem)->owned_mem = mem;
    *out = mem;
    return 0;
}

void wm_pool_destroy(struct wm_pool *pool)
{
    if (pool != NULL && pool->owned_mem != NULL)
        free(pool->owned_mem);
}

void *wm_pool_get_obj(struct wm_pool *pool)
{
    return wm_pool_get(pool);
}

/* Checked put: rejects foreign pointers, misaligned pointers and a put that
 * would overfill the free stack (a double free).  Returns 0 or -EINVAL. */
int wm_pool_put_obj(struct wm_pool *pool, void *obj)
{
    unsigned char *p = obj;
    if (p < pool->objs || p >= pool->objs + (size_t)pool->capacity * pool->obj_size)
        return -EINVAL;
    if ((size_t)(p - pool->objs) % pool->obj_size != 0)
        return -EINVAL;
    if (pool->free_count >= pool->capacity)
        return -EINVAL;
    wm_pool_put(pool, obj);
    return 0;
}

uint32_t wm_pool_in_use(const struct wm_pool *pool)
{
    return pool->capacity - pool->free_count;
}
