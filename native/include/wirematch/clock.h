/* wirematch/clock.h - TSC timestamps converted to nanoseconds.
 *
 * wm_clock_init calibrates the TSC against CLOCK_MONOTONIC_RAW.  When the CPU
 * does not advertise an invariant TSC (constant_tsc + nonstop_tsc), or the
 * caller forces it, the clock falls back to clock_gettime and says so through
 * wm_clock_source().  Conversion is ns = ns0 + ((tsc - tsc0) * mult) >> 32,
 * computed in 128 bits (no overflow for centuries).
 *
 * Drift: wm_clock_recalibrate() (control path, e.g. once a second) compares
 * the TSC-derived time with CLOCK_MONOTONIC_RAW, records the error and the
 * drift in parts per billion, and re-bases the conversion so that error does
 * not accumulate.  Readers on other threads see either the old or the new
 * parameter set, never a torn mix (a sequence counter guards them).
 */
#ifndef WIREMATCH_CLOCK_H
#define WIREMATCH_CLOCK_H

#include "wirematch/common.h"

enum wm_clock_source {
    WM_CLOCK_TSC = 1,            /* invariant TSC, calibrated */
    WM_CLOCK_MONOTONIC_RAW = 2   /* fallback: clock_gettime per reading */
};

struct wm_clock {
    uint64_t seq;                /* odd while parameters are being changed */
    uint64_t tsc0;               /* base tick reading of the conversion */
    uint64_t ns0;                /* CLOCK_MONOTONIC_RAW ns at tsc0 */
    uint64_t mult;               /* ns per tick in 32.32 fixed point (1.0 in fallback) */
    uint64_t origin_tsc;         /* first calibration point: the long baseline */
    uint64_t origin_ns;          /*   that recalibration measures the rate over */
    uint64_t tsc_hz;             /* calibrated ticks per second */
    int64_t  last_error_ns;      /* TSC time minus reference at last recalibration */
    int64_t  drift_ppb;          /* measured drift at last recalibration */
    uint32_t source;             /* enum wm_clock_source */
    uint32_t recalibrations;
};

/* Flags for wm_clock_init. */
enum { WM_CLOCK_FORCE_FALLBACK = 1 };   /* use clock_gettime even with a good TSC */

/* Calibrate over calib_us microseconds (0 = default 20000).  Returns 0, or
 * -errno if clock_gettime fails. */
int wm_clock_init(struct wm_clock *clk, uint32_t calib_us, uint32_t flags);

/* Re-measure against CLOCK_MONOTONIC_RAW; returns the drift in ppb since the
 * previous calibration (0 in fallback mode). */
int64_t wm_clock_recalibrate(struct wm_clock *clk);

/* 1 when the CPU advertises an invariant TSC, else 0. */
int wm_tsc_is_invariant(void);

/* Out-of-line readers (for cffi). */
uint64_t wm_clock_read_tsc(void);
uint64_t wm_clock_tsc_to_ns(const struct wm_clock *clk, uint64_t tsc);
uint64_t wm_clock_now_ns(const struct wm_clock *clk);
uint64_t wm_clock_cycles_to_ns(const struct wm_clock *clk, uint64_t cycles);
const char *wm_clock_source_name(const struct wm_clock *clk);

/* The process-wide clock, initialised on first use (thread-safe). */
const struct wm_clock *wm_clock_default(void);

#ifndef WM_CDEF
#include "wirematch/clock_inline.h"
#endif

#endif
