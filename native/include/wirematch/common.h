/* wirematch/common.h - conventions shared by every module.
 *
 * Errors: functions that can fail return 0 (or a count) on success and a
 * negative errno value on failure (-EINVAL, -ENOMEM, -ENOBUFS, ...), like
 * liburing.  Functions returning a pointer return NULL and set errno.
 *
 * Hot-path functions never allocate, lock or make system calls; they return
 * a count (possibly 0) and bump a named counter.
 *
 * WM_CDEF is defined when this header is preprocessed for cffi's cdef: inline
 * code, attributes and anything cffi cannot parse hide behind it.
 */
#ifndef WIREMATCH_COMMON_H
#define WIREMATCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define WM_CACHE_LINE 64

#ifndef WM_CDEF
#  define WM_LIKELY(x)   __builtin_expect(!!(x), 1)
#  define WM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define WM_ALIGNED(n)  __attribute__((aligned(n)))
#  define WM_CACHE_ALIGNED WM_ALIGNED(WM_CACHE_LINE)
#  define WM_EXPORT      __attribute__((visibility("default")))

/* The smallest power of two >= v (1 for 0); v at most 2^31.  Set-up sizing. */
static inline uint32_t wm_pow2_at_least(uint32_t v)
{
    return v <= 1 ? 1u : 1u << (32 - __builtin_clz(v - 1));
}
#endif

#endif
