/* fuzz_soup.c - libFuzzer target: the SoupBinTCP stream parser, the field
 * decoders and encoders, and the server's session state machine.
 *
 * Input: byte 0 picks the side (bit 0) and the chunk sizes (bits 1..7, a
 * seed); the rest is the TCP stream.  Oracles: no crash or sanitizer report;
 * parsing in chunks yields exactly the packets (bytes and order) and the
 * final result of parsing the whole stream at once; a decoded Login Request
 * or Login Accepted encodes back to fields that decode the same; the state
 * machine never reopens a closed connection and a session's logged-in
 * connection is always an active one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/soup_session.h"
#include "wirematch.h"

enum { HOLD = 512, MAX_PKTS = 4096 };

struct seen {
    uint8_t type;
    uint16_t len;
    uint32_t off;                   /* payload offset in the stream */
};

static struct seen whole[MAX_PKTS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct wm_soup_packet *pkt)
{
    uint8_t buf[64], hold[HOLD];
    struct wm_soup_parser p;
    struct wm_soup_packet again;
    if (pkt->type == WM_SOUP_LOGIN_REQUEST) {
        struct wm_soup_login a, b;
        if (wm_soup_decode_login(pkt, &a) != 0)
            return;
        /* Fields as NUL-terminated strings, padding dropped. */
        char user[7], pass[11], sess[11];
        struct { char *dst; const char *src; unsigned w; } f[3] = {
            { user, a.username, 6 }, { pass, a.password, 10 }, { sess, a.session, 10 } };
        for (int i = 0; i < 3; i++) {
            unsigned s = 0, e = f[i].w;
            while (s < e && f[i].src[s] == ' ')
                s++;
            while (e > s && f[i].src[e - 1] == ' ')
                e--;
            memcpy(f[i].dst, f[i].src + s, e - s);
            f[i].dst[e - s] = 0;
        }
        int n = wm_soup_write_login_request(buf, sizeof(buf), user, pass, sess, a.seq,
                                            pkt->len == 51 ? a.hb_timeout_ms : 0);
        if (pkt->len == 51 && a.hb_timeout_ms == 0)
            return;                 /* 0 selects the 3.0 form: nothing to compare */
        if (n != pkt->len + 3)
            abort();
        if (wm_soup_parser_init(&p, WM_SOUP_FROM_CLIENT, hold, sizeof(hold)) != 0)
            abort();
        wm_soup_parser_feed(&p, buf, (size_t)n);
        if (wm_soup_parser_next(&p, &again) != 0 || wm_soup_decode_login(&again, &b) != 0)
            abort();
        if (a.seq != b.seq || a.hb_timeout_ms != b.hb_timeout_ms ||
            !wm_soup_alpha_equal(a.username, 6, b.username, 6) ||
            !wm_soup_alpha_equal(a.password, 10, b.password, 10) ||
            !wm_soup_alpha_equal(a.session, 10, b.session, 10))
            abort();
    } else if (pkt->type == WM_SOUP_LOGIN_ACCEPTED) {
        char s1[10], s2[10], str[11];
        uint64_t q1, q2;
        if (wm_soup_decode_login_accepted(pkt, s1, &q1) != 0)
            return;
        unsigned e = 10;
        while (e && s1[e - 1] == ' ')
            e--;
        memcpy(str, s1, e);
        str[e] = 0;
        int n = wm_soup_write_login_accepted(buf, sizeof(buf), str, q1);
        if (n != WM_SOUP_LOGIN_ACCEPTED_LEN)
            abort();
        if (wm_soup_parser_init(&p, WM_SOUP_FROM_SERVER, hold, sizeof(hold)) != 0)
            abort();
        wm_soup_parser_feed(&p, buf, (size_t)n);
        if (wm_soup_parser_next(&p, &again) != 0 ||
            wm_soup_decode_login_accepted(&again, s2, &q2) != 0 || q1 != q2 ||
            memcmp(s1, s2, e) != 0)
            abort();
    }
}

static struct wm_soup_sessions ss;

static void state_check(const struct wm_soup_conn *c)
{
    for (uint32_t i = 0; i < ss.n; i++)
        if (ss.s[i].conn && (ss.s[i].conn != c->id + 1 || c->state != WM_SOUP_ACTIVE ||
                             c->session != i))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int side = (data[0] & 1) ? WM_SOUP_FROM_SERVER : WM_SOUP_FROM_CLIENT;
    uint32_t seed = data[0] >> 1;
    /* An exact-size heap copy so ASan sees any overread. */
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);

    static uint8_t hold[HOLD];
    struct wm_soup_parser p;
    struct wm_soup_packet pkt;
    if (wm_soup_parser_init(&p, side, hold, sizeof(hold)) != 0)
        abort();

    /* Whole stream at once: the reference. */
    wm_soup_parser_feed(&p, buf, len);
    int n_whole = 0, r_whole;
    while ((r_whole = wm_soup_parser_next(&p, &pkt)) == 0) {
        if (pkt.payload < buf || pkt.payload + pkt.len > buf + len)
            abort();                /* whole in the buffer: a view of it */
        if (n_whole < MAX_PKTS)
            whole[n_whole] = (struct seen){ pkt.type, pkt.len, (uint32_t)(pkt.payload - buf) };
        n_whole++;
        roundtrip(&pkt);
    }
    if (r_whole != -EAGAIN && (r_whole <= 0 || r_whole >= WM_SOUP_N_COUNTERS))
        abort();

    /* The same stream in chunks (sizes from the seed), through the state
     * machine when it is a client's stream. */
    if (wm_soup_sessions_init(&ss, NULL) != 0 || wm_soup_sessions_add(&ss, "S1", "user", "pass") != 0)
        abort();
    struct wm_soup_conn c;
    struct wm_soup_actions act;
    uint64_t now = 1;
    wm_soup_conn_open(&ss, &c, 5, now);
    if (wm_soup_parser_init(&p, side, hold, sizeof(hold)) != 0)
        abort();
    int n = 0, r = -EAGAIN;
    uint8_t *chunk = NULL;
    for (size_t off = 0; off < len || off == 0;) {
        seed = seed * 1103515245u + 12345u;
        size_t step = 1 + (seed >> 16) % 64;
        if (step > len - off)
            step = len - off;
        free(chunk);
        chunk = malloc(step ? step : 1);
        if (!chunk)
            abort();
        memcpy(chunk, buf + off, step);
        wm_soup_parser_feed(&p, chunk, step);
        while ((r = wm_soup_parser_next(&p, &pkt)) == 0) {
            if (n >= n_whole)
                abort();
            if (n < MAX_PKTS && (pkt.type != whole[n].type || pkt.len != whole[n].len ||
                                 memcmp(pkt.payload, buf + whole[n].off, pkt.len) != 0))
                abort();
            n++;
            if (side == WM_SOUP_FROM_CLIENT) {
                uint8_t before = c.state;
                now += 1 + (seed & 0x3fffffff);
                wm_soup_conn_tick(&ss, &c, now, &act);
                wm_soup_conn_packet(&ss, &c, now, &pkt, &act);
                if (before == WM_SOUP_CLOSED && c.state != WM_SOUP_CLOSED)
                    abort();
                if ((act.todo & WM_SOUP_DO_DELIVER) && (act.data != pkt.payload || act.len != pkt.len))
                    abort();
                if (act.todo & WM_SOUP_DO_SEND_LOGIN_ACCEPTED) {
                    wm_soup_session_append(&ss, 0);
                    uint64_t from;
                    uint32_t k = wm_soup_conn_pending(&ss, &c, now, &from, 4);
                    if (k > 1 || (k && from != act.seq))
                        abort();
                }
                state_check(&c);
            }
        }
        off += step;
        if (r != -EAGAIN || step == 0)
            break;
    }
    free(chunk);
    if (n != n_whole || r != r_whole)
        abort();
    if (r > 0 && side == WM_SOUP_FROM_CLIENT) {
        wm_soup_conn_close(&ss, &c, r, &act);
        state_check(&c);
    }
    free(buf);
    return 0;
}
