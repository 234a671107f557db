/* wirematch/pool.h - fixed-size object pool.
 *
 * All memory is reserved by wm_pool_init/wm_pool_create; wm_pool_get and
 * wm_pool_put never allocate.  Objects are addressed by pointer or by a dense
 * 32-bit index (0 .. capacity-1), so other structures can link them with
 * 4-byte indices.  A pool has ONE owner thread: it is not thread-safe (the
 * matcher owns its pools; cross-thread hand-off goes through rings).
 *
 * Exhaustion is not an error condition for the program: wm_pool_get returns
 * NULL and counts it in get_failures.
 */
#ifndef WIREMATCH_POOL_H
#define WIREMATCH_POOL_H

#include "wirematch/common.h"

#define WM_POOL_NONE 0xffffffffu   /* "no object" index */

struct wm_pool {
    uint64_t magic;
    uint32_t obj_size;      /* bytes per object, rounded up to 8 */
    uint32_t capacity;      /* number of objects */
    uint32_t free_count;    /* objects on the free stack */
    uint32_t high_water;    /* most objects ever in use at once */
    uint64_t get_failures;  /* wm_pool_get calls that found the pool empty */
    uint64_t objs_offset;   /* from the struct to the first object */
    uint32_t *free_stack;   /* indices of free objects; top = free_count-1 */
    unsigned char *objs;    /* capacity * obj_size bytes */
    void *owned_mem;        /* set by wm_pool_create: freed by wm_pool_destroy */
};

/* Bytes needed for a pool of capacity objects of obj_size bytes (including
 * the struct itself); 0 if the arguments are invalid or overflow. */
size_t wm_pool_memsize(uint32_t obj_size, uint32_t capacity);

/* Lay out a pool in caller memory of at least wm_pool_memsize() bytes
 * (8-byte aligned).  Returns 0, or -EINVAL (obj_size 0, capacity 0 or over
 * 2^31, memsize too small). */
int wm_pool_init(void *mem, size_t memsize, uint32_t obj_size, uint32_t capacity);

/* Allocate memory (once) and init a pool.  Returns 0 or -EINVAL/-ENOMEM. */
int wm_pool_create(uint32_t obj_size, uint32_t capacity, struct wm_pool **out);
void wm_pool_destroy(struct wm_pool *pool);

/* Out-of-line versions of the inline functions below (for cffi and for
 * callers that do not want the inline code). */
void *wm_pool_get_obj(struct wm_pool *pool);
int wm_pool_put_obj(struct wm_pool *pool, void *obj);
uint32_t wm_pool_in_use(const struct wm_pool *pool);

#ifndef WM_CDEF
#include "wirematch/pool_inline.h"
#endif

#endif
