/* fuzz_mold.c - libFuzzer target: MoldUDP64 packet decode, block iteration,
 * the sequence tracker, and OUCH inbound decode of every block (the order
 * entry receive path), and retransmission requests answered from a
 * history (20-byte inputs).  Oracles: no crash or sanitizer report; a decoded
 * packet yields exactly `count` blocks that tile the packet. */
#include <stdlib.h>
#include <string.h>

#include "wirematch.h"

static struct wm_mold_seq_table *table;
static struct wm_mold_history *history;

/* A history holding messages 1..300 of stream "FUZZFEED". */
static void history_setup(void)
{
    uint8_t msg[64];
    if (wm_mold_history_create(128, 70000, 1, &history) != 0)
        abort();
    for (uint64_t seq = 1; seq <= 300; seq++) {
        memset(msg, (int)seq, sizeof(msg));
        if (wm_mold_history_record(history, seq, msg, (uint16_t)(1 + seq % 64)) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wm_codec_stats st;
    struct wm_mold_packet pkt;
    memset(&st, 0, sizeof(st));
    if (!table && wm_mold_seq_create(64, WM_MOLD_SEQ_GAP_DROP, &table) != 0)
        abort();
    /* Copy into an exact-size heap buffer so ASan sees any overread. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (!history)
        history_setup();
    if (size == WM_MOLD_HEADER_LEN) {
        uint8_t out[WM_MOLD_MTU_PAYLOAD];
        int n = wm_mold_history_answer(history, "FUZZFEED", buf, size, out, sizeof(out), &st);
        if (n > 0) {
            struct wm_mold_packet ans;
            struct wm_codec_stats st2;
            memset(&st2, 0, sizeof(st2));
            if (n > (int)sizeof(out) || wm_mold_decode(out, (size_t)n, &ans, &st2) != 0 ||
                ans.count == 0)
                abort();
        }
    }
    int r = wm_mold_decode(buf, size, &pkt, &st);
    if (r == 0) {
        struct wm_mold_seq_result res;
        int apply = wm_mold_seq_check(table, size & 3, &pkt, &res);
        if (apply < 0 || apply > pkt.count)
            abort();
        uint16_t len;
        const uint8_t *msg;
        unsigned n = 0;
        size_t bytes = WM_MOLD_HEADER_LEN;
        while ((msg = wm_mold_next_block(&pkt, &len))) {
            struct wm_ouch_in in;
            if (msg < buf || msg + len > buf + size)
                abort();
            wm_ouch_decode_in(msg, len, &in, &st);
            n++;
            bytes += 2u + len;
        }
        unsigned want = pkt.count == WM_MOLD_END_OF_SESSION_COUNT ? 0 : pkt.count;
        if (n != want || bytes != size)
            abort();
    } else if (r <= 0 || r >= WM_CODEC_N_COUNTERS || st.counts[r] != 1) {
        abort();
    }
    free(buf);
    return 0;
}
