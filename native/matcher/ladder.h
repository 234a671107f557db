/* matcher/ladder.h - private: one side of a price ladder.
 *
 * A dense window of W price slots (W a power of two, 64..262144) starting at
 * base_ticks, each holding a level index or WM_POOL_NONE, with a three-level
 * bitmap over the non-empty slots (64-bit words: l0 per slot, l1 per l0 word,
 * l2 one word per l1 word), so the best and the next non-empty slot are found
 * with at most three ctz/clz steps.  Prices outside the window are kept in a
 * fallback array of level indices sorted by "goodness" (bids: price, asks:
 * -price), best last: O(log n) search, O(n) insert; nothing is dropped.
 * SET_REF re-centres the window (matcher.c, ladder_recentre), and so does
 * the first level of an empty book (level_create).
 */
#ifndef WM_MATCHER_LADDER_H
#define WM_MATCHER_LADDER_H

#include <stdint.h>

#define BM_NONE UINT32_MAX

struct bitmap3 {
    uint64_t *l0;   /* W/64 words */
    uint64_t *l1;   /* W/4096 words (at least 1) */
    uint64_t l2;
    uint32_t nbits; /* W */
};

static inline void bm_set(struct bitmap3 *b, uint32_t i)
{
    uint32_t w = i >> 6;
    b->l0[w] |= 1ull << (i & 63);
    b->l1[w >> 6] |= 1ull << (w & 63);
    b->l2 |= 1ull << (w >> 6);
}

static inline void bm_clear(struct bitmap3 *b, uint32_t i)
{
    uint32_t w = i >> 6;
    b->l0[w] &= ~(1ull << (i & 63));
    if (b->l0[w] == 0) {
        b->l1[w >> 6] &= ~(1ull << (w & 63));
        if (b->l1[w >> 6] == 0)
            b->l2 &= ~(1ull << (w >> 6));
    }
}

/* Lowest set bit >= i, or BM_NONE. */
static inline uint32_t bm_next_ge(const struct bitmap3 *b, uint32_t i)
{
    if (i >= b->nbits)
        return BM_NONE;
    uint32_t w = i >> 6;
    uint64_t m = b->l0[w] & (~0ull << (i & 63));
    if (m)
        return (w << 6) | (uint32_t)__builtin_ctzll(m);
    uint32_t w1 = w + 1; /* next l0 word to consider */
    uint32_t nw0 = b->nbits >> 6;
    if (w1 >= nw0)
        return BM_NONE;
    uint32_t j = w1 >> 6;
    uint64_t m1 = b->l1[j] & (~0ull << (w1 & 63));
    if (!m1) {
        uint32_t j2 = j + 1;
        uint64_t m2 = j2 < 64 ? (b->l2 & (~0ull << j2)) : 0;
        if (!m2)
            return BM_NONE;
        j = (uint32_t)__builtin_ctzll(m2);
        m1 = b->l1[j];
    }
    uint32_t w0 = (j << 6) | (uint32_t)__builtin_ctzll(m1);
    return (w0 << 6) | (uint32_t)__builtin_ctzll(b->l0[w0]);
}

/* Highest set bit <= i, or BM_NONE. */
static inline uint32_t bm_prev_le(const struct bitmap3 *b, uint32_t i)
{
    if (i >= b->nbits)
        i = b->nbits - 1;
    uint32_t w = i >> 6;
    uint64_t m = b->l0[w] & (~0ull >> (63 - (i & 63)));
    if (m)
        return (w << 6) | (63 - (uint32_t)__builtin_clzll(m));
    if (w == 0)
        return BM_NONE;
    uint32_t w1 = w - 1;
    uint32_t j = w1 >> 6;
    uint64_t m1 = b->l1[j] & (~0ull >> (63 - (w1 & 63)));
    if (!m1) {
        if (j == 0)
            return BM_NONE;
        uint32_t j2 = j - 1;
        uint64_t m2 = b->l2 & (~0ull >> (63 - j2));
        if (!m2)
            return BM_NONE;
        j = 63 - (uint32_t)__builtin_clzll(m2);
        m1 = b->l1[j];
    }
    uint32_t w0 = (j << 6) | (63 - (uint32_t)__builtin_clzll(m1));
    return (w0 << 6) | (63 - (uint32_t)__builtin_clzll(b->l0[w0]));
}

#endif
