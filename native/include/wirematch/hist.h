/* wirematch/hist.h - HDR-style log-linear latency histogram.
 *
 * Layout (the same as HdrHistogram with 2 significant digits, unit 1):
 * values below 256 have their own bucket; above, each power of two is split
 * into 128 linear sub-buckets, so a bucket's width is at most 1/128 (0.78%)
 * of the values it holds.  The index of value v is
 *   b   = max(0, 56 - clz(v | 255))      (power-of-two bucket)
 *   idx = (b << 7) + (v >> b)            (0 .. n_counts-1)
 * Values above max_value are counted in `overflows` and recorded in the last
 * bucket.  One writer thread records (wm_hist_record); any number of readers,
 * in this or another process, read the counts (relaxed 64-bit loads: a reader
 * sees each count whole, possibly a few records behind).
 */
#ifndef WIREMATCH_HIST_H
#define WIREMATCH_HIST_H

#include "wirematch/common.h"

#define WM_HIST_MAGIC     0x31545349484d5755ull   /* "UWMHIST1" */
#define WM_HIST_SUB_BITS  7                       /* 128 sub-buckets per power of two */
#define WM_HIST_MAX_VALUE_DEFAULT (1ull << 40)    /* ~1100 s in ns */

struct wm_hist {
    uint64_t magic;
    uint32_t sub_bits;      /* WM_HIST_SUB_BITS */
    uint32_t n_counts;      /* entries in counts[] */
    uint64_t max_value;     /* highest value tracked exactly */
    uint64_t total;         /* values recorded */
    uint64_t sum;           /* sum of values (saturating) */
    uint64_t min;           /* smallest value (UINT64_MAX when empty) */
    uint64_t max;           /* largest value */
    uint64_t overflows;     /* values above max_value */
    uint64_t reserved[6];
    uint64_t counts[];      /* n_counts entries, starts on a cache line */
};

/* Bytes for a histogram tracking values up to max_value (>= 256); 0 if invalid. */
size_t wm_hist_memsize(uint64_t max_value);
/* Lay out an empty histogram in caller memory.  Returns 0 or -EINVAL. */
int wm_hist_init(void *mem, size_t memsize, uint64_t max_value);
/* Allocate and init (control path).  Returns 0 or -EINVAL/-ENOMEM. */
int wm_hist_create(uint64_t max_value, struct wm_hist **out);
void wm_hist_destroy(struct wm_hist *h);

/* Out-of-line record (for cffi), one value or an array of n. */
void wm_hist_record_value(struct wm_hist *h, uint64_t value);
void wm_hist_record_array(struct wm_hist *h, const uint64_t *values, size_t n);
/* Index of a value, and the lowest and highest values that share its bucket. */
uint32_t wm_hist_index_of(uint64_t value);
uint64_t wm_hist_lowest_at(uint32_t idx);
uint64_t wm_hist_highest_at(uint32_t idx);
/* Value at percentile p (0..100], HdrHistogram's definition: the highest
 * value equivalent to the bucket where the cumulative count first reaches
 * round(p/100 * total), at least 1.  0 when empty. */
uint64_t wm_hist_percentile(const struct wm_hist *h, double p);
/* dst += src (same max_value).  Returns 0 or -EINVAL.  dst must not be being
 * recorded into concurrently. */
int wm_hist_merge(struct wm_hist *dst, const struct wm_hist *src);
/* Zero a histogram (only by its writer thread, or when nobody records). */
void wm_hist_reset(struct wm_hist *h);
/* Validate a histogram found in shared memory of size bytes: 0 or -EINVAL. */
int wm_hist_check(const void *mem, size_t size);

#ifndef WM_CDEF
#include "wirematch/hist_inline.h"
#endif

#endif
