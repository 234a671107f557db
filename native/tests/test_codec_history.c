/* test_codec_history.c - MoldUDP64 retransmission history: recording with
 * eviction by count and by bytes, and answers to request packets. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "wirematch.h"

/* Message seq: length 1 + seq % 300 bytes, each byte derived from seq. */
static uint16_t make_msg(uint64_t seq, uint8_t *buf)
{
    uint16_t len = (uint16_t)(1 + seq % 300);
    for (uint16_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seq * 31 + i);
    return len;
}

static int msg_ok(uint64_t seq, const uint8_t *p, uint16_t len)
{
    uint8_t want[400];
    uint16_t wlen = make_msg(seq, want);
    return wlen == len && memcmp(want, p, len) == 0;
}

static size_t request(uint8_t *req, const char *session, uint64_t seq, uint16_t count)
{
    return (size_t)wm_mold_write_header(req, 20, session, seq, count);
}

int main(void)
{
    struct wm_mold_history *h;
    struct wm_codec_stats st;
    memset(&st, 0, sizeof(st));
    CHECK_EQ(wm_mold_history_create(64, 1000, 1, &h), -EINVAL);   /* too few bytes */
    CHECK_EQ(wm_mold_history_create(64, 70000, 0, &h), -EINVAL);  /* seq 0 */
    CHECK_EQ(wm_mold_history_create(60, 70000, 1, &h), 0);
    CHECK_EQ(h->max_msgs, 64);

    uint8_t msg[400], req[20], out[WM_MOLD_MTU_PAYLOAD];
    CHECK_EQ(wm_mold_history_record(h, 2, msg, 5), -EINVAL);      /* out of order */
    for (uint64_t seq = 1; seq <= 1000; seq++) {
        uint16_t len = make_msg(seq, msg);
        CHECK_EQ(wm_mold_history_record(h, seq, msg, len), 0);
        CHECK(h->next_seq - h->first_seq <= 64);
    }
    CHECK_EQ(h->next_seq, 1001);
    CHECK_EQ(h->first_seq, 1001 - 64);      /* bounded by count here */
    CHECK_EQ(h->recorded, 1000);
    CHECK_EQ(h->evicted, 1000 - 64);

    /* Every retained message comes back intact, in order. */
    for (uint64_t seq = h->first_seq; seq < h->next_seq; seq += 3) {
        int n = wm_mold_history_answer(h, "FEED", req, request(req, "FEED", seq, 5), out,
                                       sizeof(out), &st);
        CHECK(n > 20);
        struct wm_mold_packet pkt;
        CHECK_EQ(wm_mold_decode(out, (size_t)n, &pkt, &st), 0);
        CHECK_EQ(pkt.seq, seq);
        CHECK(pkt.count >= 1 && pkt.count <= 5);
        uint16_t len;
        const uint8_t *p;
        uint64_t s = seq;
        while ((p = wm_mold_next_block(&pkt, &len)))
            CHECK(msg_ok(s++, p, len));
        CHECK(s == seq + 5 || s == h->next_seq || n + 2 + 300 > (int)sizeof(out));
    }
    /* Refusals, each counted. */
    CHECK_EQ(wm_mold_history_answer(h, "FEED", req, request(req, "FEED", 5, 1), out, sizeof(out), &st), -ENOENT);
    CHECK_EQ(st.counts[WM_MOLD_DROP_REQUEST_TOO_OLD], 1);
    CHECK_EQ(wm_mold_history_answer(h, "FEED", req, request(req, "FEED", 1001, 1), out, sizeof(out), &st), -ERANGE);
    CHECK_EQ(st.counts[WM_MOLD_DROP_REQUEST_FUTURE], 1);
    CHECK_EQ(wm_mold_history_answer(h, "FEED", req, request(req, "OTHER", 990, 1), out, sizeof(out), &st), -EACCES);
    CHECK_EQ(st.counts[WM_MOLD_DROP_REQUEST_OTHER_SESSION], 1);
    CHECK_EQ(wm_mold_history_answer(h, "FEED", req, request(req, "FEED", 990, 0), out, sizeof(out), &st), -EBADMSG);
    CHECK_EQ(wm_mold_history_answer(h, "FEED", req, 19, out, sizeof(out), &st), -EBADMSG);
    CHECK_EQ(st.counts[WM_MOLD_DROP_BAD_REQUEST], 2);
    /* The answer stops at the buffer's end. */
    int n = wm_mold_history_answer(h, "FEED", req, request(req, "FEED", 990, 11), out, 400, &st);
    CHECK(n > 20 && n <= 400);
    wm_mold_history_destroy(h);

    /* Bounded by bytes: large messages in a small ring, across wraps. */
    CHECK_EQ(wm_mold_history_create(1024, 70000, 100, &h), 0);
    uint8_t big[20000];
    for (uint64_t seq = 100; seq < 140; seq++) {
        uint16_t len = (uint16_t)(5000 + (seq % 7) * 2000);
        memset(big, (int)seq, len);
        CHECK_EQ(wm_mold_history_record(h, seq, big, len), 0);
        /* What is held fits and is intact. */
        uint64_t held = 0;
        for (uint64_t s = h->first_seq; s < h->next_seq; s++) {
            uint8_t small_req[20];
            static uint8_t resp[20 + 2 + 20000];
            int r = wm_mold_history_answer(h, "B", small_req, request(small_req, "B", s, 1), resp,
                                           sizeof(resp), &st);
            CHECK(r > 22);
            uint16_t blen = (uint16_t)(resp[20] << 8 | resp[21]);
            CHECK_EQ(blen, 5000 + (s % 7) * 2000);
            CHECK(resp[22] == (uint8_t)s && resp[22 + blen - 1] == (uint8_t)s);
            held += blen;
        }
        CHECK(held <= 70000);
        CHECK(seq == 100 || h->next_seq - h->first_seq >= 2);  /* each message <= ring / 4 */
    }
    CHECK(h->evicted > 0);

    /* Recording a flushed packet. */
    struct wm_mold_history *h2;
    CHECK_EQ(wm_mold_history_create(16, 70000, 1, &h2), 0);
    uint8_t pkt[200];
    struct wm_mold_builder b;
    CHECK_EQ(wm_mold_builder_init(&b, "P", 1, pkt, sizeof(pkt)), 0);
    struct wm_itch_msg m;
    memset(&m, 0, sizeof(m));
    m.type = 'D';
    for (int i = 0; i < 3; i++) {
        m.u.del.order_ref = (uint64_t)i + 1;
        CHECK_EQ(wm_mold_builder_add_itch(&b, &m), 0);
    }
    uint32_t plen = wm_mold_builder_flush(&b);
    CHECK_EQ(wm_mold_history_record_packet(h2, pkt, plen), 3);
    CHECK_EQ(wm_mold_history_record_packet(h2, pkt, plen), -EINVAL);   /* already recorded */
    int r = wm_mold_history_answer(h2, "P", req, request(req, "P", 2, 2), out, sizeof(out), &st);
    CHECK_EQ(r, 20 + 2 * (2 + WM_ITCH_ORDER_DELETE_LEN));
    struct wm_itch_msg d;
    CHECK_EQ(wm_itch_decode(out + 22, WM_ITCH_ORDER_DELETE_LEN, &d, &st), 0);
    CHECK_EQ(d.u.del.order_ref, 2);
    wm_mold_history_destroy(h2);
    wm_mold_history_destroy(h);
    return check_finish("test_codec_history");
}
