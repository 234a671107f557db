/* wirematch/counters.h - a block of named 64-bit counters.
 *
 * Each block has one writer thread; readers anywhere (another thread, or a
 * process that attached the shared region read-only) load the values.  The
 * writer adds with a relaxed load + relaxed store (no locked instruction);
 * a reader sees each value whole.
 *
 * Stages declare their counters as data, next to the code that bumps them
 * (an X-macro generating the enum and the names):
 *
 *   #define RX_COUNTERS(X) X(RX_PACKETS, "rx_packets") X(RX_DROP_SHORT, "drop_short")
 *   enum { RX_COUNTERS(WM_COUNTER_ENUM) RX_N_COUNTERS };
 *   static const char *const rx_names[] = { RX_COUNTERS(WM_COUNTER_NAME) };
 */
#ifndef WIREMATCH_COUNTERS_H
#define WIREMATCH_COUNTERS_H

#include "wirematch/common.h"

#define WM_COUNTERS_MAGIC 0x31544e43484d5755ull  /* "UWMHCNT1" */
#define WM_COUNTER_NAME_LEN 48                   /* bytes per name, NUL-padded */

#define WM_COUNTER_ENUM(id, name) id,
#define WM_COUNTER_NAME(id, name) name,

struct wm_counters {
    uint64_t magic;
    uint32_t n;             /* number of counters */
    uint32_t name_len;      /* WM_COUNTER_NAME_LEN */
    uint64_t names_offset;  /* from the struct: n names of name_len bytes */
    uint64_t values_offset; /* from the struct: n uint64_t, cache-line aligned */
};

size_t wm_counters_memsize(uint32_t n);
/* names: n strings, each shorter than WM_COUNTER_NAME_LEN, distinct.
 * Returns 0 or -EINVAL. */
int wm_counters_init(void *mem, size_t memsize, const char *const *names, uint32_t n);
int wm_counters_create(const char *const *names, uint32_t n, struct wm_counters **out);
void wm_counters_destroy(struct wm_counters *c);
/* Validate a block found in shared memory of size bytes: 0 or -EINVAL. */
int wm_counters_check(const void *mem, size_t size);

const char *wm_counters_name(const struct wm_counters *c, uint32_t idx);
uint64_t wm_counters_get(const struct wm_counters *c, uint32_t idx);
void wm_counters_add_value(struct wm_counters *c, uint32_t idx, uint64_t delta);
/* Index of a name, or -ENOENT. */
int wm_counters_find(const struct wm_counters *c, const char *name);

#ifndef WM_CDEF
static inline uint64_t *wm_counters_values(struct wm_counters *c)
{
    return (uint64_t *)((unsigned char *)c + c->values_offset);
}

/* Writer only. */
static inline void wm_counter_add(struct wm_counters *c, uint32_t idx, uint64_t delta)
{
    uint64_t *v = wm_counters_values(c) + idx;
    __atomic_store_n(v, __atomic_load_n(v, __ATOMIC_RELAXED) + delta, __ATOMIC_RELAXED);
}
#endif

#endif
