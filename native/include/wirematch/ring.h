/* wirematch/ring.h - bounded lock-free ring of fixed-size elements.
 *
 * Elements are 8 to 64 bytes (a multiple of 8), fixed when the ring is laid
 * out; capacity is a power of two.  The ring lives in caller memory (e.g. the
 * shared region) and holds no pointers, so another process can map it.
 *
 * The concurrency contract is in the function name:
 *   sp_ / mp_  single / multiple producers
 *   sc_ / mc_  single / multiple consumers
 * Any sp/mp enqueue may be paired with any sc/mc dequeue, as long as every
 * caller honours the contract it names.
 *
 *   *_enqueue / *_dequeue        one element: 0, or -ENOBUFS (full) / -ENOENT (empty)
 *   *_enqueue_burst / _dequeue_burst   as many as possible up to n: returns the count
 *   *_enqueue_bulk  / _dequeue_bulk    all n or nothing: returns n or 0
 *
 * Nothing blocks on an empty or full ring: a call that finds no room / no
 * element returns at once (-ENOBUFS / -ENOENT / 0).  A burst or bulk claims
 * its n positions with one atomic operation.  A refused enqueue is counted
 * in the ring's stats (enqueue_refused, in elements).
 *
 * Synchronisation mode, chosen when the ring is laid out (wm_ring_*_sync;
 * the calls without _sync mean HEADTAIL) and recorded in the ring; every
 * operation above works in both modes with the same semantics:
 *   WM_RING_SYNC_HEADTAIL  elements contiguous, published through a producer
 *                          tail: compact bursts (rx -> matcher rings);
 *   WM_RING_SYNC_SLOTSEQ   each slot carries a sequence word (8 more bytes
 *                          per element): a single-element hand-off touches
 *                          one cache line (latency-critical hand-offs).
 * Under mc_ (both modes) and under mp_ in HEADTAIL, a caller that has
 * claimed positions completes after the callers that claimed earlier
 * positions on its side (they are copying; a descheduled one delays it, as
 * with rte_ring, and after a while the waiter yields the CPU); SLOTSEQ
 * producers complete each slot on its own, in any order.
 *
 * The algorithms, their memory-ordering arguments, when to use which mode and
 * measured figures are in docs/ring.md.
 */
#ifndef WIREMATCH_RING_H
#define WIREMATCH_RING_H

#include "wirematch/common.h"

#define WM_RING_MAGIC      0x31474e49524d5755ull   /* "UWMRING1" */
#define WM_RING_MIN_ELEM   8
#define WM_RING_MAX_ELEM   192  /* 8..64 in steps of 8, 128 and 192 (whole records) */
#define WM_RING_MAX_CAP    (1u << 30)
#define WM_RING_NAME_LEN   32
/* Rings start on a WM_RING_ALIGN boundary: the producer and consumer blocks
 * are two cache lines each (so the adjacent-line prefetcher cannot pair them). */
enum { WM_RING_ALIGN = 128 };

struct wm_ring;

/* How producers publish elements to consumers (docs/ring.md). */
enum wm_ring_sync {
    WM_RING_SYNC_HEADTAIL = 0,   /* split head/tail: contiguous elements, bursts */
    WM_RING_SYNC_SLOTSEQ = 1,    /* per-slot sequence word: single hand-offs */
};

/* Where things are inside a ring's memory, for zero-copy read-only views. */
struct wm_ring_layout {
    uint64_t slots_offset;     /* from the ring start to slot 0 */
    uint32_t slot_stride;      /* bytes from one slot to the next */
    uint32_t elem_offset;      /* from a slot's start to its element */
    uint32_t seq_offset;       /* SLOTSEQ: from a slot's start to its 64-bit sequence
                                  word (p + 1 once position p is filled);
                                  HEADTAIL: UINT32_MAX (no such word) */
    uint32_t elem_size;
    uint32_t capacity;
    uint64_t prod_head_offset; /* 64-bit producer position (from the ring start) */
    uint64_t cons_head_offset; /* 64-bit consumer position */
};

struct wm_ring_stats {
    uint64_t enqueued;         /* elements accepted (sum over producers) */
    uint64_t dequeued;
    uint64_t enqueue_refused;  /* elements refused because the ring was full */
};

/* Bytes for a ring; 0 when elem_size, capacity or sync is invalid. */
size_t wm_ring_memsize_sync(uint32_t elem_size, uint32_t capacity, enum wm_ring_sync sync);
/* Lay out an empty ring in caller memory (WM_RING_ALIGN-aligned, at least
 * wm_ring_memsize_sync bytes).  Returns 0 or -EINVAL (elem_size not 8..64 or
 * not a multiple of 8, capacity not a power of two in 2..2^30, sync not a
 * mode, memory too small or misaligned, name of WM_RING_NAME_LEN bytes or
 * more; NULL means ""). */
int wm_ring_init_sync(void *mem, size_t memsize, const char *name, uint32_t elem_size,
                      uint32_t capacity, enum wm_ring_sync sync);
/* Allocate (aligned) and init.  Returns 0 or -EINVAL / -ENOMEM.
 * wm_ring_destroy frees such a ring; on a ring laid out by wm_ring_init* in
 * caller memory it does nothing. */
int wm_ring_create_sync(const char *name, uint32_t elem_size, uint32_t capacity,
                        enum wm_ring_sync sync, struct wm_ring **out);
/* The same with WM_RING_SYNC_HEADTAIL. */
size_t wm_ring_memsize(uint32_t elem_size, uint32_t capacity);
int wm_ring_init(void *mem, size_t memsize, const char *name, uint32_t elem_size,
                 uint32_t capacity);
int wm_ring_create(const char *name, uint32_t elem_size, uint32_t capacity,
                   struct wm_ring **out);
void wm_ring_destroy(struct wm_ring *r);
/* Validate a ring found in shared memory of size bytes: 0 or -EINVAL. */
int wm_ring_check(const void *mem, size_t size);

uint32_t wm_ring_elem_size(const struct wm_ring *r);
uint32_t wm_ring_capacity(const struct wm_ring *r);
enum wm_ring_sync wm_ring_sync(const struct wm_ring *r);
/* Elements in the ring (claimed by producers, not yet claimed by consumers);
 * a snapshot, approximate under concurrency, always 0..capacity. */
uint32_t wm_ring_count(const struct wm_ring *r);
uint32_t wm_ring_free_count(const struct wm_ring *r);  /* a lower bound for producers */
const char *wm_ring_name(const struct wm_ring *r);
void wm_ring_layout(const struct wm_ring *r, struct wm_ring_layout *out);
void wm_ring_get_stats(const struct wm_ring *r, struct wm_ring_stats *out);

int wm_ring_sp_enqueue(struct wm_ring *r, const void *elem);
int wm_ring_mp_enqueue(struct wm_ring *r, const void *elem);
int wm_ring_sc_dequeue(struct wm_ring *r, void *elem);
int wm_ring_mc_dequeue(struct wm_ring *r, void *elem);

unsigned wm_ring_sp_enqueue_burst(struct wm_ring *r, const void *elems, unsigned n);
unsigned wm_ring_mp_enqueue_burst(struct wm_ring *r, const void *elems, unsigned n);
unsigned wm_ring_sp_enqueue_bulk(struct wm_ring *r, const void *elems, unsigned n);
unsigned wm_ring_mp_enqueue_bulk(struct wm_ring *r, const void *elems, unsigned n);
unsigned wm_ring_sc_dequeue_burst(struct wm_ring *r, void *elems, unsigned n);
unsigned wm_ring_mc_dequeue_burst(struct wm_ring *r, void *elems, unsigned n);
unsigned wm_ring_sc_dequeue_bulk(struct wm_ring *r, void *elems, unsigned n);
unsigned wm_ring_mc_dequeue_bulk(struct wm_ring *r, void *elems, unsigned n);

/* In-tree C code that wants the operations inlined includes
 * "ring/ring_inline.h" (private to native/) instead of calling these; it
 * offers mode-generic and per-mode inline cores. */

#endif
