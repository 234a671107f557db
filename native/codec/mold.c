/* codec/mold.c - MoldUDP64 packets, the packet builder, the sequence tracker
 * and the codec counter names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/layout.h"
#include "wirematch/mold.h"

static const char *const codec_names[] = { WM_CODEC_COUNTERS(WM_COUNTER_NAME) };
static const char *const seq_names[] = { WM_MOLD_SEQ_COUNTERS(WM_COUNTER_NAME) };

uint32_t wm_codec_counter_count(void)
{
    return WM_CODEC_N_COUNTERS;
}

const char *wm_codec_counter_name(uint32_t idx)
{
    return idx < WM_CODEC_N_COUNTERS ? codec_names[idx] : NULL;
}

const char *const *wm_codec_counter_names(void)
{
    return codec_names;
}

uint32_t wm_mold_seq_counter_count(void)
{
    return WM_MOLD_SEQ_N_COUNTERS;
}

const char *wm_mold_seq_counter_name(uint32_t idx)
{
    return idx < WM_MOLD_SEQ_N_COUNTERS ? seq_names[idx] : NULL;
}

/* ---- packets ---- */

static int session_ok(const uint8_t *s)
{
    for (int i = 0; i < WM_MOLD_SESSION_LEN; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

static int mold_check(const uint8_t *buf, size_t len, struct wm_mold_packet *pkt)
{
    if (len < WM_MOLD_HEADER_LEN || len > UINT32_MAX)
        return WM_MOLD_DROP_SHORT_HEADER;
    if (!session_ok(buf))
        return WM_MOLD_DROP_BAD_SESSION;
    pkt->session = buf;
    pkt->seq = wm_be64(buf + 10);
    pkt->count = wm_be16(buf + 18);
    pkt->data = buf;
    pkt->len = (uint32_t)len;
    pkt->next_index = 0;
    pkt->next_off = WM_MOLD_HEADER_LEN;
    if (pkt->count == WM_MOLD_END_OF_SESSION_COUNT)
        return len == WM_MOLD_HEADER_LEN ? 0 : WM_MOLD_DROP_EOS_WITH_BLOCKS;
    /* The last message's number must be representable. */
    if (pkt->count && pkt->seq > UINT64_MAX - pkt->count)
        return WM_MOLD_DROP_SEQ_OVERFLOW;
    size_t off = WM_MOLD_HEADER_LEN;
    for (unsigned i = 0; i < pkt->count; i++) {
        if (len - off < 2)
            return WM_MOLD_DROP_TRUNCATED_LENGTH;   /* count says more blocks than present */
        unsigned blen = wm_be16(buf + off);
        if (blen == 0)
            return WM_MOLD_DROP_EMPTY_BLOCK;
        if (len - off - 2 < blen)
            return WM_MOLD_DROP_TRUNCATED_BLOCK;
        off += 2 + blen;
    }
    if (off != len)
        return WM_MOLD_DROP_TRAILING_BYTES;         /* count says fewer blocks than present */
    return 0;
}

int wm_mold_decode(const uint8_t *buf, size_t len, struct wm_mold_packet *pkt,
                   struct wm_codec_stats *st)
{
    int r = mold_check(buf, len, pkt);
    if (r) {
        wm_stat(st, r);
        return r;
    }
    wm_stat(st, WM_MOLD_PACKETS);
    if (pkt->count == 0)
        wm_stat(st, WM_MOLD_HEARTBEATS);
    else if (pkt->count == WM_MOLD_END_OF_SESSION_COUNT)
        wm_stat(st, WM_MOLD_END_OF_SESSION);
    return 0;
}

const uint8_t *wm_mold_next_block(struct wm_mold_packet *pkt, uint16_t *len)
{
    if (pkt->count == WM_MOLD_END_OF_SESSION_COUNT || pkt->next_index >= pkt->count)
        return NULL;
    if (pkt->len - pkt->next_off < 2)
        return NULL;
    uint16_t blen = wm_be16(pkt->data + pkt->next_off);
    if (pkt->len - pkt->next_off - 2 < blen)
        return NULL;
    const uint8_t *p = pkt->data + pkt->next_off + 2;
    pkt->next_off += 2u + blen;
    pkt->next_index++;
    *len = blen;
    return p;
}

static void put_session(uint8_t *dst, const char *session)
{
    size_t n = session ? strnlen(session, WM_MOLD_SESSION_LEN) : 0;
    if (n)
        memcpy(dst, session, n);
    memset(dst + n, ' ', WM_MOLD_SESSION_LEN - n);
}

int wm_mold_write_header(uint8_t *buf, size_t cap, const char *session, uint64_t seq,
                         uint16_t count)
{
    if (cap < WM_MOLD_HEADER_LEN)
        return -ENOBUFS;
    put_session(buf, session);
    wm_put64(buf + 10, seq);
    wm_put16(buf + 18, count);
    return WM_MOLD_HEADER_LEN;
}

/* ---- builder ---- */

int wm_mold_builder_init(struct wm_mold_builder *b, const char *session, uint64_t first_seq,
                         uint8_t *buf, uint32_t cap)
{
    if (!b || !buf || first_seq == 0 || cap < WM_MOLD_HEADER_LEN + 3 || cap > 0xffff)
        return -EINVAL;
    memset(b, 0, sizeof(*b));
    b->buf = buf;
    b->cap = cap;
    b->next_seq = first_seq;
    put_session((uint8_t *)b->session, session);
    return 0;
}

uint8_t *wm_mold_builder_reserve(struct wm_mold_builder *b, uint32_t msg_len, int *err)
{
    if (msg_len == 0 || msg_len > 0xffff) {
        *err = msg_len ? -EMSGSIZE : -EINVAL;
        return NULL;
    }
    if (b->len == 0) {
        memcpy(b->buf, b->session, WM_MOLD_SESSION_LEN);
        wm_put64(b->buf + 10, b->next_seq);
        b->len = WM_MOLD_HEADER_LEN;
        b->count = 0;
    }
    if ((uint64_t)b->len + 2 + msg_len > b->cap || b->count >= WM_MOLD_MAX_COUNT) {
        if (b->count == 0) {
            *err = -EMSGSIZE;
            return NULL;
        }
        b->full++;
        *err = -ENOBUFS;
        return NULL;
    }
    b->reserved_len = (uint16_t)msg_len;
    return b->buf + b->len + 2;
}

void wm_mold_builder_commit(struct wm_mold_builder *b, uint32_t written)
{
    if (written > b->reserved_len)
        written = b->reserved_len;
    b->reserved_len = 0;
    if (written == 0)
        return;
    wm_put16(b->buf + b->len, (uint16_t)written);
    b->len += 2 + written;
    b->count++;
}

uint32_t wm_mold_builder_flush(struct wm_mold_builder *b)
{
    if (b->len == 0 || b->count == 0) {
        b->len = 0;
        return 0;
    }
    wm_put16(b->buf + 18, b->count);
    uint32_t n = b->len;
    b->next_seq += b->count;
    b->packets++;
    b->messages += b->count;
    b->len = 0;
    b->count = 0;
    return n;
}

int wm_mold_builder_heartbeat(const struct wm_mold_builder *b, uint8_t *buf, size_t cap)
{
    if (cap < WM_MOLD_HEADER_LEN)
        return -ENOBUFS;
    memcpy(buf, b->session, WM_MOLD_SESSION_LEN);
    wm_put64(buf + 10, b->next_seq);
    wm_put16(buf + 18, 0);
    return WM_MOLD_HEADER_LEN;
}

/* ---- sequence tracking ---- */

#define SEQ_MAGIC 0x3151455344484d57ull   /* "WMHDSEQ1" */
#define SEQ_MAX_SESSIONS (1u << 24)

static uint32_t seq_slots(uint32_t max_sessions)
{
    uint32_t cap = 2;
    while (cap < 2ull * max_sessions)
        cap <<= 1;
    return cap;
}

size_t wm_mold_seq_memsize(uint32_t max_sessions)
{
    if (max_sessions == 0 || max_sessions > SEQ_MAX_SESSIONS)
        return 0;
    return sizeof(struct wm_mold_seq_table) +
           (size_t)seq_slots(max_sessions) * sizeof(struct wm_mold_seq_entry);
}

int wm_mold_seq_init(void *mem, size_t memsize, uint32_t max_sessions, uint32_t flags)
{
    size_t need = wm_mold_seq_memsize(max_sessions);
    if (!mem || need == 0 || memsize < need || flags > WM_MOLD_SEQ_GAP_ACCEPT)
        return -EINVAL;
    memset(mem, 0, need);
    struct wm_mold_seq_table *t = mem;
    t->magic = SEQ_MAGIC;
    t->capacity = seq_slots(max_sessions);
    t->max_sessions = max_sessions;
    t->flags = flags;
    return 0;
}

int wm_mold_seq_create(uint32_t max_sessions, uint32_t flags, struct wm_mold_seq_table **out)
{
    size_t need = wm_mold_seq_memsize(max_sessions);
    if (!out || need == 0)
        return -EINVAL;
    void *mem = aligned_alloc(64, (need + 63) & ~(size_t)63);
    if (!mem)
        return -ENOMEM;
    int rc = wm_mold_seq_init(mem, need, max_sessions, flags);
    if (rc) {
        free(mem);
        return rc;
    }
    *out = mem;
    return 0;
}

void wm_mold_seq_destroy(struct wm_mold_seq_table *t)
{
    free(t);
}

static uint64_t seq_hash(uint64_t flow_key, const uint8_t *session)
{
    uint64_t a, b = 0;
    memcpy(&a, session, 8);
    memcpy(&b, session + 8, 2);
    uint64_t h = flow_key * 0x9e3779b97f4a7c15ull;
    h ^= a + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
    h ^= b + 0x8cb92ba72f3d8dd7ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

/* Find the entry of (flow_key, session), or the free slot where it would go
 * (*found = 0), or -1 when the table has neither. */
static int32_t seq_lookup(const struct wm_mold_seq_table *t, uint64_t flow_key,
                          const uint8_t *session, int *found)
{
    uint32_t mask = t->capacity - 1;
    uint32_t i = (uint32_t)seq_hash(flow_key, session) & mask;
    for (uint32_t n = 0; n < t->capacity; n++, i = (i + 1) & mask) {
        const struct wm_mold_seq_entry *e = &t->entries[i];
        if (e->next_seq == 0) {
            *found = 0;
            return (int32_t)i;
        }
        if (e->flow_key == flow_key && memcmp(e->session, session, WM_MOLD_SESSION_LEN) == 0) {
            *found = 1;
            return (int32_t)i;
        }
    }
    *found = 0;
    return -1;
}

uint64_t wm_mold_seq_expected(const struct wm_mold_seq_table *t, uint64_t flow_key,
                              const uint8_t *session)
{
    int found;
    int32_t i = seq_lookup(t, flow_key, session, &found);
    return (i >= 0 && found) ? t->entries[i].next_seq : 0;
}

int wm_mold_seq_check(struct wm_mold_seq_table *t, uint64_t flow_key,
                      const struct wm_mold_packet *pkt, struct wm_mold_seq_result *res)
{
    int found;
    memset(res, 0, sizeof(*res));
    t->counts[WM_SEQ_PACKETS]++;
    int32_t i = seq_lookup(t, flow_key, pkt->session, &found);
    if (!found) {
        if (i < 0 || t->used >= t->max_sessions) {
            t->counts[WM_SEQ_TABLE_FULL]++;
            res->status = WM_MOLD_SEQ_TABLE_FULL;
            res->entry = -1;
            return 0;
        }
        struct wm_mold_seq_entry *e = &t->entries[i];
        e->flow_key = flow_key;
        memcpy(e->session, pkt->session, WM_MOLD_SESSION_LEN);
        e->next_seq = 1;            /* a session's messages are numbered from 1 */
        t->used++;
        t->counts[WM_SEQ_NEW_SESSIONS]++;
    }
    struct wm_mold_seq_entry *e = &t->entries[i];
    res->entry = i;
    res->expected = e->next_seq;
    e->packets++;
    if (e->ended) {
        t->counts[WM_SEQ_AFTER_END]++;
        res->status = WM_MOLD_SEQ_ENDED;
        return 0;
    }
    if (pkt->count == WM_MOLD_END_OF_SESSION_COUNT) {
        /* End of session: the client's last message was seq - 1. */
        if (pkt->seq > e->next_seq) {
            res->status = WM_MOLD_SEQ_GAP;
            res->gap_first = e->next_seq;
            res->gap_count = pkt->seq - e->next_seq;
            t->counts[WM_SEQ_GAPS]++;
            t->counts[WM_SEQ_GAP_MESSAGES] += res->gap_count;
            e->gaps++;
            if (t->flags == WM_MOLD_SEQ_GAP_DROP)
                return 0;           /* end only once everything before it arrived */
        }
        e->ended = 1;
        t->counts[WM_SEQ_ENDED_SESSIONS]++;
        return 0;
    }
    uint64_t first = pkt->seq, count = pkt->count, expected = e->next_seq;
    if (first > expected) {
        res->status = WM_MOLD_SEQ_GAP;
        res->gap_first = expected;
        res->gap_count = first - expected;
        t->counts[WM_SEQ_GAPS]++;
        t->counts[WM_SEQ_GAP_MESSAGES] += res->gap_count;
        e->gaps++;
        if (t->flags == WM_MOLD_SEQ_GAP_DROP || count == 0) {
            t->counts[WM_SEQ_GAP_DROPPED_MESSAGES] += count;
            return 0;
        }
        res->apply = (uint16_t)count;
        e->next_seq = first + count;
        t->counts[WM_SEQ_MESSAGES_APPLIED] += count;
        return (int)count;
    }
    if (count == 0)                 /* heartbeat at or below the expected number */
        return 0;
    if (first + count <= expected) {
        res->status = WM_MOLD_SEQ_DUPLICATE;
        t->counts[WM_SEQ_DUPLICATE_PACKETS]++;
        t->counts[WM_SEQ_DUPLICATE_MESSAGES] += count;
        e->duplicates += count;
        return 0;
    }
    uint64_t skip = expected - first;
    if (skip) {
        res->status = WM_MOLD_SEQ_OVERLAP;
        t->counts[WM_SEQ_OVERLAP_PACKETS]++;
        t->counts[WM_SEQ_DUPLICATE_MESSAGES] += skip;
        e->duplicates += skip;
    }
    res->skip = (uint16_t)skip;
    res->apply = (uint16_t)(count - skip);
    e->next_seq = first + count;
    t->counts[WM_SEQ_MESSAGES_APPLIED] += res->apply;
    return res->apply;
}
