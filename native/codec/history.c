/* codec/history.c - MoldUDP64 retransmission: a bounded history of sent
 * messages and the answers to request packets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/layout.h"
#include "wirematch/mold.h"

#define HISTORY_MAGIC 0x3154534948484d57ull   /* "WMHHIST1" */

size_t wm_mold_history_memsize(uint32_t max_msgs, uint32_t bytes)
{
    if (max_msgs < 2 || max_msgs > (1u << 24) || bytes < 0xffffu + 2 || bytes > (1u << 31))
        return 0;
    size_t n = wm_pow2_at_least(max_msgs < 2 ? 2 : max_msgs);
    return sizeof(struct wm_mold_history) + n * sizeof(struct wm_mold_history_entry) + bytes;
}

static struct wm_mold_history_entry *entries(const struct wm_mold_history *h)
{
    return (struct wm_mold_history_entry *)((uintptr_t)h + h->entries_offset);
}

static uint8_t *data(const struct wm_mold_history *h)
{
    return (uint8_t *)((uintptr_t)h + h->data_offset);
}

int wm_mold_history_init(void *mem, size_t memsize, uint32_t max_msgs, uint32_t bytes,
                         uint64_t first_seq)
{
    size_t need = wm_mold_history_memsize(max_msgs, bytes);
    if (!mem || need == 0 || memsize < need || first_seq == 0)
        return -EINVAL;
    memset(mem, 0, need);
    struct wm_mold_history *h = mem;
    h->magic = HISTORY_MAGIC;
    h->max_msgs = wm_pow2_at_least(max_msgs < 2 ? 2 : max_msgs);
    h->bytes = bytes;
    h->next_seq = first_seq;
    h->entries_offset = sizeof(*h);
    h->data_offset = sizeof(*h) + (uint64_t)h->max_msgs * sizeof(struct wm_mold_history_entry);
    return 0;
}

int wm_mold_history_create(uint32_t max_msgs, uint32_t bytes, uint64_t first_seq,
                           struct wm_mold_history **out)
{
    size_t need = wm_mold_history_memsize(max_msgs, bytes);
    if (!out || need == 0)
        return -EINVAL;
    void *mem = aligned_alloc(64, (need + 63) & ~(size_t)63);
    if (!mem)
        return -ENOMEM;
    int rc = wm_mold_history_init(mem, need, max_msgs, bytes, first_seq);
    if (rc) {
        free(mem);
        return rc;
    }
    *out = mem;
    return 0;
}

void wm_mold_history_destroy(struct wm_mold_history *h)
{
    free(h);
}

static void evict_oldest(struct wm_mold_history *h)
{
    struct wm_mold_history_entry *e = &entries(h)[h->first_seq & (h->max_msgs - 1)];
    e->seq = 0;
    h->first_seq++;
    h->evicted++;
    if (h->first_seq == h->next_seq)
        h->first_seq = 0;           /* empty */
}

int wm_mold_history_record(struct wm_mold_history *h, uint64_t seq, const uint8_t *msg,
                           uint16_t len)
{
    if (seq != h->next_seq || len == 0)
        return -EINVAL;
    uint32_t start = h->head;
    int wrapped = 0;
    if ((uint64_t)start + len > h->bytes) {
        start = 0;
        wrapped = 1;
    }
    /* Forget the oldest messages while there is no free entry, or while the
     * oldest lies where this message goes (or in the tail a wrap skips). */
    while (h->first_seq) {
        const struct wm_mold_history_entry *o = &entries(h)[h->first_seq & (h->max_msgs - 1)];
        int full = h->next_seq - h->first_seq >= h->max_msgs;
        int overlaps = o->off < start + len && o->off + o->len > start;
        int in_skipped_tail = wrapped && o->off >= h->head;
        if (!full && !overlaps && !in_skipped_tail)
            break;
        evict_oldest(h);
    }
    struct wm_mold_history_entry *e = &entries(h)[seq & (h->max_msgs - 1)];
    e->seq = seq;
    e->off = start;
    e->len = len;
    memcpy(data(h) + start, msg, len);
    h->head = start + len;
    if (h->first_seq == 0)
        h->first_seq = seq;
    h->next_seq = seq + 1;
    h->recorded++;
    return 0;
}

const uint8_t *wm_mold_history_get(const struct wm_mold_history *h, uint64_t seq, uint16_t *len)
{
    if (h->first_seq == 0 || seq < h->first_seq || seq >= h->next_seq)
        return NULL;
    const struct wm_mold_history_entry *e = &entries(h)[seq & (h->max_msgs - 1)];
    if (e->seq != seq)
        return NULL;
    *len = e->len;
    return data(h) + e->off;
}

int wm_mold_history_record_packet(struct wm_mold_history *h, const uint8_t *pkt, size_t len)
{
    struct wm_mold_packet p;
    if (wm_mold_decode(pkt, len, &p, NULL) != 0 || p.count == WM_MOLD_END_OF_SESSION_COUNT)
        return -EINVAL;
    if (p.count && p.seq != h->next_seq)
        return -EINVAL;
    uint16_t mlen;
    const uint8_t *m;
    int n = 0;
    while ((m = wm_mold_next_block(&p, &mlen))) {
        int rc = wm_mold_history_record(h, h->next_seq, m, mlen);
        if (rc)
            return rc;
        n++;
    }
    return n;
}

int wm_mold_history_answer(const struct wm_mold_history *h, const char *session,
                           const uint8_t *req, size_t req_len, uint8_t *out, size_t cap,
                           struct wm_codec_stats *st)
{
    uint8_t name[WM_MOLD_SESSION_LEN];
    if (req_len != WM_MOLD_HEADER_LEN) {
        wm_stat(st, WM_MOLD_DROP_BAD_REQUEST);
        return -EBADMSG;
    }
    uint64_t seq = wm_be64(req + 10);
    uint16_t count = wm_be16(req + 18);
    if (count == 0 || count == WM_MOLD_END_OF_SESSION_COUNT || seq == 0) {
        wm_stat(st, WM_MOLD_DROP_BAD_REQUEST);
        return -EBADMSG;
    }
    wm_mold_write_header(out, cap < WM_MOLD_HEADER_LEN ? 0 : cap, session, seq, 0);
    if (cap < WM_MOLD_HEADER_LEN)
        return -ENOBUFS;
    memcpy(name, out, WM_MOLD_SESSION_LEN);
    if (memcmp(name, req, WM_MOLD_SESSION_LEN) != 0) {
        wm_stat(st, WM_MOLD_DROP_REQUEST_OTHER_SESSION);
        return -EACCES;
    }
    if (seq >= h->next_seq) {
        wm_stat(st, WM_MOLD_DROP_REQUEST_FUTURE);
        return -ERANGE;
    }
    if (h->first_seq == 0 || seq < h->first_seq) {
        wm_stat(st, WM_MOLD_DROP_REQUEST_TOO_OLD);
        return -ENOENT;
    }
    size_t off = WM_MOLD_HEADER_LEN;
    uint16_t n = 0;
    for (uint64_t s = seq; s < h->next_seq && n < count; s++, n++) {
        const struct wm_mold_history_entry *e = &entries(h)[s & (h->max_msgs - 1)];
        if (e->seq != s || off + 2 + e->len > cap)
            break;
        wm_put16(out + off, e->len);
        memcpy(out + off + 2, data(h) + e->off, e->len);
        off += 2 + (size_t)e->len;
    }
    if (n == 0)
        return -ENOBUFS;
    wm_put16(out + 18, n);
    wm_stat(st, WM_MOLD_REQUESTS_ANSWERED);
    return (int)off;
}
