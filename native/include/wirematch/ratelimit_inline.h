/* wirematch/ratelimit_inline.h - token bucket take (included by ratelimit.h).
 *
 * Memory ordering: the parameter pair (per_tick, burst_fp, flags) is read
 * under the bucket's sequence word, exactly like wm_tsc_to_ns reads the
 * clock: acquire of version (pairs with the release of the even version in
 * wm_rate_bucket_configure), acquire of each parameter (pairs with its
 * release store, which follows the odd version), relaxed re-check of version
 * (cannot move above the acquire loads).  tokens/last/allowed/dropped have
 * one writer, this thread: relaxed loads and stores, whole values for any
 * reader.
 */
#ifndef WIREMATCH_RATELIMIT_INLINE_H
#define WIREMATCH_RATELIMIT_INLINE_H

#define WM_RATE_READ_TRIES 16

/* Read (per_tick, burst_fp, flags) consistently.  Returns 0, or -1 when the
 * control plane stayed in the middle of a change for all tries (the caller
 * then behaves as before the change: it keeps its previous refill). */
static inline int wm_rate_params(const struct wm_rate_bucket *b, uint64_t *per_tick,
                                 uint64_t *burst_fp, uint32_t *flags)
{
    for (int i = 0; i < WM_RATE_READ_TRIES; i++) {
        uint64_t v = __atomic_load_n(&b->version, __ATOMIC_ACQUIRE);
        *per_tick = __atomic_load_n(&b->per_tick, __ATOMIC_ACQUIRE);
        *burst_fp = __atomic_load_n(&b->burst_fp, __ATOMIC_ACQUIRE);
        *flags = __atomic_load_n(&b->flags, __ATOMIC_ACQUIRE);
        if (!(v & 1) && v == __atomic_load_n(&b->version, __ATOMIC_RELAXED))
            return 0;
        __builtin_ia32_pause();
    }
    return -1;
}

/* Refill to `now` and return the tokens (fixed point); writer only. */
static inline uint64_t wm_rate_refill(struct wm_rate_bucket *b, uint64_t now, uint64_t per_tick,
                                      uint64_t burst_fp)
{
    uint64_t tokens = __atomic_load_n(&b->tokens_fp, __ATOMIC_RELAXED);
    uint64_t last = __atomic_load_n(&b->last, __ATOMIC_RELAXED);
    if (last == 0) {
        /* Never refilled: a bucket starts full.  (A timestamp of 0 is kept
         * as 1 so that this happens once.) */
        __atomic_store_n(&b->last, now ? now : 1, __ATOMIC_RELAXED);
        return burst_fp;
    }
    if (now > last) {
        /* A clock behind `last` (another core's TSC a few ticks back) adds nothing. */
        unsigned __int128 add = ((unsigned __int128)(now - last) * per_tick) >>
                                (WM_RATE_TICK_BITS - WM_RATE_FRAC_BITS);
        tokens = add >= (unsigned __int128)burst_fp ? burst_fp : tokens + (uint64_t)add;
        __atomic_store_n(&b->last, now, __ATOMIC_RELAXED);
    }
    if (tokens > burst_fp) /* the burst was lowered */
        tokens = burst_fp;
    return tokens;
}

/* Grant up to n single tokens; returns the number granted, counts the rest
 * as dropped.  Writer only (the bucket's data-plane thread). */
static inline uint32_t wm_rate_take_burst(struct wm_rate_bucket *b, uint64_t now, uint32_t n)
{
    uint64_t per_tick, burst_fp;
    uint32_t flags;
    if (WM_UNLIKELY(wm_rate_params(b, &per_tick, &burst_fp, &flags) < 0)) {
        /* The control plane is mid-change: grant nothing new from a refill
         * we cannot compute, spend what is there. */
        per_tick = 0;
        burst_fp = __atomic_load_n(&b->tokens_fp, __ATOMIC_RELAXED);
        flags = 0;
    }
    uint32_t granted = n;
    if (!(flags & WM_RATE_UNLIMITED)) {
        uint64_t tokens = wm_rate_refill(b, now, per_tick, burst_fp);
        uint64_t whole = tokens >> WM_RATE_FRAC_BITS;
        if (whole < n)
            granted = (uint32_t)whole;
        tokens -= (uint64_t)granted << WM_RATE_FRAC_BITS;
        __atomic_store_n(&b->tokens_fp, tokens, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&b->allowed, __atomic_load_n(&b->allowed, __ATOMIC_RELAXED) + granted,
                     __ATOMIC_RELAXED);
    if (granted < n)
        __atomic_store_n(&b->dropped,
                         __atomic_load_n(&b->dropped, __ATOMIC_RELAXED) + (n - granted),
                         __ATOMIC_RELAXED);
    return granted;
}

/* Take n tokens at once: 1 (taken) or 0 (not enough: nothing taken, n drops
 * counted).  Writer only. */
static inline int wm_rate_take(struct wm_rate_bucket *b, uint64_t now, uint32_t n)
{
    uint64_t per_tick, burst_fp;
    uint32_t flags;
    if (WM_UNLIKELY(wm_rate_params(b, &per_tick, &burst_fp, &flags) < 0)) {
        per_tick = 0;
        burst_fp = __atomic_load_n(&b->tokens_fp, __ATOMIC_RELAXED);
        flags = 0;
    }
    int ok = 1;
    if (!(flags & WM_RATE_UNLIMITED)) {
        uint64_t tokens = wm_rate_refill(b, now, per_tick, burst_fp);
        uint64_t need = (uint64_t)n << WM_RATE_FRAC_BITS;
        ok = tokens >= need;
        if (ok)
            tokens -= need;
        __atomic_store_n(&b->tokens_fp, tokens, __ATOMIC_RELAXED);
    }
    uint64_t *count = ok ? &b->allowed : &b->dropped;
    __atomic_store_n(count, __atomic_load_n(count, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
    return ok;
}

#endif
