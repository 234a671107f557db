/* Ring: layout, validation, statistics, and the exported out-of-line
 * operations (one-line wrappers passing constant flags to the inline cores in
 * ring/ring_inline.h, specialised per element size). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ring/ring_inline.h"

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))

_Static_assert(offsetof(struct wm_ring, prod) % WM_RING_BLOCK == 0, "producer block aligned");
_Static_assert(offsetof(struct wm_ring_side, tail) - offsetof(struct wm_ring_side, claim) >=
                   WM_RING_BLOCK,
               "claim and tail on separate lines");
_Static_assert(offsetof(struct wm_ring, cons) - offsetof(struct wm_ring, prod) >=
                   sizeof(struct wm_ring_side),
               "producer and consumer state on separate lines");
_Static_assert(offsetof(struct wm_ring, slots) % WM_RING_BLOCK == 0, "slots aligned");

_Static_assert(offsetof(struct wm_ring_side, tail) == offsetof(struct wm_ring_side, fill_hint),
               "SLOTSEQ's fill hint takes the producer tail's place");

/* One validation for init, memsize and check: the geometry and the mode. */
static int valid_geometry(uint32_t elem_size, uint32_t capacity, uint32_t sync)
{
    if (elem_size < WM_RING_MIN_ELEM || elem_size % 8 != 0 ||
        (elem_size > 64 && elem_size != 128 && elem_size != WM_RING_MAX_ELEM))
        return 0;
    if (capacity < 2 || capacity > WM_RING_MAX_CAP || (capacity & (capacity - 1)) != 0)
        return 0;
    if (sync != WM_RING_SYNC_HEADTAIL && sync != WM_RING_SYNC_SLOTSEQ)
        return 0;
    return 1;
}

size_t wm_ring_memsize_sync(uint32_t elem_size, uint32_t capacity, enum wm_ring_sync sync)
{
    if (!valid_geometry(elem_size, capacity, (uint32_t)sync))
        return 0;
    size_t stride = WM_RING_STRIDE(elem_size, sync);
    return ALIGN_UP(offsetof(struct wm_ring, slots) + stride * capacity, WM_CACHE_LINE);
}

size_t wm_ring_memsize(uint32_t elem_size, uint32_t capacity)
{
    return wm_ring_memsize_sync(elem_size, capacity, WM_RING_SYNC_HEADTAIL);
}

int wm_ring_init_sync(void *mem, size_t memsize, const char *name, uint32_t elem_size,
                      uint32_t capacity, enum wm_ring_sync sync)
{
    size_t need = wm_ring_memsize_sync(elem_size, capacity, sync);
    if (mem == NULL || need == 0 || memsize < need || ((uintptr_t)mem % WM_RING_ALIGN) != 0)
        return -EINVAL;
    if (name == NULL)
        name = "";
    size_t name_len = strnlen(name, WM_RING_NAME_LEN);
    if (name_len >= WM_RING_NAME_LEN)
        return -EINVAL;
    struct wm_ring *r = mem;
    memset(r, 0, offsetof(struct wm_ring, slots));
    memcpy(r->name, name, name_len);
    r->memsize = need;
    r->elem_size = elem_size;
    r->capacity = capacity;
    r->mask = capacity - 1;
    r->slot_stride = WM_RING_STRIDE(elem_size, sync);
    r->sync = (uint32_t)sync;
    /* Elements start zeroed so that a read-only view never shows bytes of a
     * previous user of the memory.  SLOTSEQ: every seq 0 means no slot is
     * filled for any position (position p is filled when seq == p + 1). */
    memset(r->slots, 0, (size_t)r->slot_stride * capacity);
    /* release: whoever sees the magic (e.g. wm_ring_check in a process that
     * attaches later) sees the whole layout. */
    __atomic_store_n(&r->magic, WM_RING_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int wm_ring_init(void *mem, size_t memsize, const char *name, uint32_t elem_size,
                 uint32_t capacity)
{
    return wm_ring_init_sync(mem, memsize, name, elem_size, capacity, WM_RING_SYNC_HEADTAIL);
}

int wm_ring_create_sync(const char *name, uint32_t elem_size, uint32_t capacity,
                        enum wm_ring_sync sync, struct wm_ring **out)
{
    size_t need = wm_ring_memsize_sync(elem_size, capacity, sync);
    if (need == 0 || out == NULL)
        return -EINVAL;
    void *mem = aligned_alloc(WM_RING_BLOCK, ALIGN_UP(need, WM_RING_BLOCK));
    if (mem == NULL)
        return -ENOMEM;
    int rc = wm_ring_init_sync(mem, need, name, elem_size, capacity, sync);
    if (rc < 0) {
        free(mem);
        return rc;
    }
    ((struct wm_ring *)mem)->owned = 1;
    *out = mem;
    return 0;
}

int wm_ring_create(const char *name, uint32_t elem_size, uint32_t capacity,
                   struct wm_ring **out)
{
    return wm_ring_create_sync(name, elem_size, capacity, WM_RING_SYNC_HEADTAIL, out);
}

void wm_ring_destroy(struct wm_ring *r)
{
    if (r != NULL && r->owned)
        free(r);
}

int wm_ring_check(const void *mem, size_t size)
{
    const struct wm_ring *r = mem;
    if (mem == NULL || ((uintptr_t)mem % WM_CACHE_LINE) != 0 ||
        size < offsetof(struct wm_ring, slots))
        return -EINVAL;
    /* acquire: pairs with the release of the magic in wm_ring_init. */
    if (__atomic_load_n(&r->magic, __ATOMIC_ACQUIRE) != WM_RING_MAGIC)
        return -EINVAL;
    /* The mode is validated with the geometry (an unknown mode is refused,
     * so the operations' two-way dispatch never meets a third value). */
    if (!valid_geometry(r->elem_size, r->capacity, r->sync))
        return -EINVAL;
    size_t need = wm_ring_memsize_sync(r->elem_size, r->capacity, (enum wm_ring_sync)r->sync);
    if (r->memsize != need || size < need || r->mask != r->capacity - 1 ||
        r->slot_stride != WM_RING_STRIDE(r->elem_size, r->sync) ||
        memchr(r->name, 0, WM_RING_NAME_LEN) == NULL)
        return -EINVAL;
    return 0;
}

uint32_t wm_ring_elem_size(const struct wm_ring *r)
{
    return r->elem_size;
}

uint32_t wm_ring_capacity(const struct wm_ring *r)
{
    return r->capacity;
}

enum wm_ring_sync wm_ring_sync(const struct wm_ring *r)
{
    return (enum wm_ring_sync)r->sync;
}

uint32_t wm_ring_count(const struct wm_ring *r)
{
    /* relaxed: a snapshot for statistics.  cons.head is read first, and
     * under concurrency the difference is clamped to 0 .. capacity. */
    uint64_t cons = __atomic_load_n(&r->cons.claim.head, __ATOMIC_RELAXED);
    uint64_t prod = __atomic_load_n(&r->prod.claim.head, __ATOMIC_RELAXED);
    int64_t used = (int64_t)(prod - cons);
    if (used < 0)
        return 0;
    return used > (int64_t)r->capacity ? r->capacity : (uint32_t)used;
}

uint32_t wm_ring_free_count(const struct wm_ring *r)
{
    /* What producers can count on: slots up to the consumers' completed tail
     * (a consumer between its claim and its completion still holds its
     * slots; producers of both modes check room against cons.tail).  The
     * tail is read before the head, so a concurrent enqueue only makes the
     * figure smaller: a lower bound, exact for a lone producer at rest.
     * Relaxed: a figure, not a publication. */
    uint64_t tail = __atomic_load_n(&r->cons.tail, __ATOMIC_RELAXED);
    uint64_t prod = __atomic_load_n(&r->prod.claim.head, __ATOMIC_RELAXED);
    int64_t used = (int64_t)(prod - tail);
    if (used <= 0)
        return r->capacity;
    return used >= (int64_t)r->capacity ? 0 : r->capacity - (uint32_t)used;
}

const char *wm_ring_name(const struct wm_ring *r)
{
    return r->name;
}

void wm_ring_layout(const struct wm_ring *r, struct wm_ring_layout *out)
{
    memset(out, 0, sizeof(*out));
    out->slots_offset = offsetof(struct wm_ring, slots);
    out->slot_stride = r->slot_stride;
    if (r->sync == WM_RING_SYNC_SLOTSEQ) {
        out->seq_offset = 0;
        out->elem_offset = WM_RING_SEQ_SIZE;
    } else {
        out->seq_offset = UINT32_MAX;   /* no sequence word: completion is the tails */
        out->elem_offset = 0;
    }
    out->elem_size = r->elem_size;
    out->capacity = r->capacity;
    out->prod_head_offset = offsetof(struct wm_ring, prod.claim.head);
    out->cons_head_offset = offsetof(struct wm_ring, cons.claim.head);
}

void wm_ring_get_stats(const struct wm_ring *r, struct wm_ring_stats *out)
{
    /* relaxed: statistics; each counter is read whole.  The totals are the
     * heads themselves, in both modes: every claimed position is completed
     * (HEADTAIL: through the tail; SLOTSEQ: through its seq). */
    out->dequeued = __atomic_load_n(&r->cons.claim.head, __ATOMIC_RELAXED);
    out->enqueued = __atomic_load_n(&r->prod.claim.head, __ATOMIC_RELAXED);
    out->enqueue_refused = __atomic_load_n(&r->prod.claim.refused, __ATOMIC_RELAXED);
}

/* ---- the exported operations -------------------------------------------
 * One branch on the ring's mode (a read-only header field on the line that
 * also holds elem_size), then the size switch, then the specialised core.
 * (A function pointer per operation would need a table per process - rings
 * hold no pointers - and an indirect call; the branch is predicted.) */

#define WM_RING_EXPORT_ONE(name, op, ptr_t, flags, err)                                            \
    int wm_ring_##name(struct wm_ring *r, ptr_t elem)                                              \
    {                                                                                              \
        if (r->sync == WM_RING_SYNC_SLOTSEQ)                                                       \
            return wm_ring_##op##_sync(r, elem, 1, r->elem_size, flags, WM_RING_SYNC_SLOTSEQ)      \
                       ? 0 : (err);                                                                \
        return wm_ring_##op##_sync(r, elem, 1, r->elem_size, flags, WM_RING_SYNC_HEADTAIL)         \
                   ? 0 : (err);                                                                    \
    }
WM_RING_DEFINE_INLINE_SINGLE(WM_RING_EXPORT_ONE)

#define WM_RING_EXPORT_FN(name, op, ptr_t, flags)                                                 \
    unsigned wm_ring_##name(struct wm_ring *r, ptr_t elems, unsigned n)                            \
    {                                                                                              \
        if (r->sync == WM_RING_SYNC_SLOTSEQ)                                                       \
            return wm_ring_##op##_sync(r, elems, n, r->elem_size, flags, WM_RING_SYNC_SLOTSEQ);   \
        return wm_ring_##op##_sync(r, elems, n, r->elem_size, flags, WM_RING_SYNC_HEADTAIL);      \
    }
WM_RING_DEFINE_INLINE_API(WM_RING_EXPORT_FN)
