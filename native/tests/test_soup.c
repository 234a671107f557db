/* test_soup.c - SoupBinTCP 3.0: every packet type encoded, parsed and
 * decoded; hand-assembled bytes; the stream parser over every chunking of
 * a multi-packet stream; every bad-input reason; the session state machine
 * state by state with a fake clock. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "codec/soup_session.h"
#include "wirematch.h"

#define SEC 1000000000ull
#define LATER (100000 * SEC)    /* long after every login of the tests */

/* Parse one whole buffer with a fresh parser; returns the parser result of
 * the first call and the packet. */
static int parse_one(int side, const uint8_t *buf, size_t len, struct wm_soup_packet *pkt,
                     uint8_t *hold, uint32_t cap)
{
    struct wm_soup_parser p;
    CHECK_EQ(wm_soup_parser_init(&p, side, hold, cap), 0);
    wm_soup_parser_feed(&p, buf, len);
    int r = wm_soup_parser_next(&p, pkt);
    if (r == 0) {
        /* Whole in the buffer: a view of it, and nothing left over. */
        CHECK(pkt->payload == buf + WM_SOUP_HEADER_LEN);
        struct wm_soup_packet more;
        CHECK_EQ(wm_soup_parser_next(&p, &more), -EAGAIN);
    }
    return r;
}

static void test_login_request_bytes(void)
{
    uint8_t buf[64], hold[256];
    int n = wm_soup_write_login_request(buf, sizeof(buf), "ab12", "pw", "SES1", 42, 0);
    CHECK_EQ(n, WM_SOUP_LOGIN_REQUEST_LEN);
    static const char want[] = "\x00\x2f" "L" "ab12  " "pw        " "SES1      "
                               "                  42";
    CHECK(memcmp(buf, want, WM_SOUP_LOGIN_REQUEST_LEN) == 0);

    struct wm_soup_packet pkt;
    struct wm_soup_login login;
    CHECK_EQ(parse_one(WM_SOUP_FROM_CLIENT, buf, (size_t)n, &pkt, hold, sizeof(hold)), 0);
    CHECK_EQ(pkt.type, 'L');
    CHECK_EQ(pkt.len, 46);
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), 0);
    CHECK(memcmp(login.username, "ab12  ", 6) == 0);
    CHECK(memcmp(login.password, "pw        ", 10) == 0);
    CHECK(memcmp(login.session, "SES1      ", 10) == 0);
    CHECK_EQ(login.seq, 42);
    CHECK_EQ(login.hb_timeout_ms, 0);

    /* The 4.x form: a Heartbeat Timeout field, length 52. */
    n = wm_soup_write_login_request(buf, sizeof(buf), "ab12", "pw", "", 0, 1500);
    CHECK_EQ(n, WM_SOUP_LOGIN_REQUEST_HB_LEN);
    CHECK_EQ(buf[0], 0);
    CHECK_EQ(buf[1], 52);
    CHECK(memcmp(buf + 49, " 1500", 5) == 0);
    CHECK_EQ(parse_one(WM_SOUP_FROM_CLIENT, buf, (size_t)n, &pkt, hold, sizeof(hold)), 0);
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), 0);
    CHECK(memcmp(login.session, "          ", 10) == 0);
    CHECK_EQ(login.seq, 0);
    CHECK_EQ(login.hb_timeout_ms, 1500);

    /* Right-justified Alpha fields and a left-justified number (how some
     * clients write them) decode; the numbers' range is checked. */
    static const char right[] = "\x00\x2f" "L" "  ab12" "        pw" "      SES1"
                                "7                   ";
    memcpy(buf, right, WM_SOUP_LOGIN_REQUEST_LEN);
    CHECK_EQ(parse_one(WM_SOUP_FROM_CLIENT, buf, WM_SOUP_LOGIN_REQUEST_LEN, &pkt, hold, sizeof(hold)), 0);
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), 0);
    CHECK_EQ(login.seq, 7);
    CHECK(wm_soup_alpha_equal(login.username, 6, "ab12  ", 6));
    CHECK(wm_soup_alpha_equal(login.password, 10, "pw", 2));
    CHECK(!wm_soup_alpha_equal(login.password, 10, "pw2", 3));
    CHECK(!wm_soup_alpha_equal(login.password, 10, "p w", 3));

    memcpy(buf + 29, "18446744073709551615", 20);          /* UINT64_MAX */
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), 0);
    CHECK(login.seq == UINT64_MAX);
    memcpy(buf + 29, "18446744073709551616", 20);          /* one above */
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), WM_SOUP_CLOSE_BAD_LOGIN_FIELD);
    memcpy(buf + 29, "                    ", 20);          /* no digits */
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), WM_SOUP_CLOSE_BAD_LOGIN_FIELD);
    memcpy(buf + 29, "         1 2        ", 20);          /* two numbers */
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), WM_SOUP_CLOSE_BAD_LOGIN_FIELD);
    memcpy(buf + 29, "                  -1", 20);
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), WM_SOUP_CLOSE_BAD_LOGIN_FIELD);
    memcpy(buf + 29, "                   1", 20);
    buf[3] = 0x01;                                            /* control character */
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), WM_SOUP_CLOSE_BAD_LOGIN_FIELD);
    buf[3] = 0x80;
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), WM_SOUP_CLOSE_BAD_LOGIN_FIELD);
    buf[3] = 'a';
    CHECK_EQ(wm_soup_decode_login(&pkt, &login), 0);
    struct wm_soup_packet other = pkt;
    other.type = 'U';
    CHECK_EQ(wm_soup_decode_login(&other, &login), WM_SOUP_CLOSE_BAD_LENGTH);
}

static void test_server_packets(void)
{
    uint8_t buf[128], hold[256];
    struct wm_soup_packet pkt;

    int n = wm_soup_write_login_accepted(buf, sizeof(buf), "SES1", 12345);
    CHECK_EQ(n, WM_SOUP_LOGIN_ACCEPTED_LEN);
    static const char acc[] = "\x00\x1f" "A" "SES1      " "               12345";
    CHECK(memcmp(buf, acc, WM_SOUP_LOGIN_ACCEPTED_LEN) == 0);
    CHECK_EQ(parse_one(WM_SOUP_FROM_SERVER, buf, (size_t)n, &pkt, hold, sizeof(hold)), 0);
    char session[10];
    uint64_t seq = 0;
    CHECK_EQ(wm_soup_decode_login_accepted(&pkt, session, &seq), 0);
    CHECK(memcmp(session, "SES1      ", 10) == 0);
    CHECK_EQ(seq, 12345);
    /* The client's packet types are unknown to a client's parser. */
    CHECK_EQ(parse_one(WM_SOUP_FROM_CLIENT, buf, (size_t)n, &pkt, hold, sizeof(hold)),
             WM_SOUP_CLOSE_UNKNOWN_TYPE);

    uint8_t code = 0;
    n = wm_soup_write_login_rejected(buf, sizeof(buf), 'A');
    CHECK_EQ(n, 4);
    CHECK(memcmp(buf, "\x00\x02JA", 4) == 0);
    CHECK_EQ(parse_one(WM_SOUP_FROM_SERVER, buf, (size_t)n, &pkt, hold, sizeof(hold)), 0);
    CHECK_EQ(wm_soup_decode_login_rejected(&pkt, &code), 0);
    CHECK_EQ(code, 'A');
    n = wm_soup_write_login_rejected(buf, sizeof(buf), 'S');
    CHECK_EQ(parse_one(WM_SOUP_FROM_SERVER, buf, (size_t)n, &pkt, hold, sizeof(hold)), 0);
    CHECK_EQ(wm_soup_decode_login_rejected(&pkt, &code), 0);
    CHECK_EQ(code, 'S');
    CHECK_EQ(wm_soup_write_login_rejected(buf, sizeof(buf), 'X'), -EINVAL);

    /* Variable and empty packets of both sides, each through its parser. */
    static const struct { uint8_t type; int side; size_t len; } kinds[] = {
        { 'S', WM_SOUP_FROM_SERVER, 40 }, { 'S', WM_SOUP_FROM_SERVER, 0 },
        { 'H', WM_SOUP_FROM_SERVER, 0 },  { 'Z', WM_SOUP_FROM_SERVER, 0 },
        { '+', WM_SOUP_FROM_SERVER, 11 }, { 'U', WM_SOUP_FROM_CLIENT, 47 },
        { 'R', WM_SOUP_FROM_CLIENT, 0 },  { 'O', WM_SOUP_FROM_CLIENT, 0 },
        { '+', WM_SOUP_FROM_CLIENT, 5 },
    };
    uint8_t payload[64];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        n = wm_soup_write_packet(buf, sizeof(buf), kinds[k].type, payload, kinds[k].len);
        CHECK_EQ(n, (int)(3 + kinds[k].len));
        CHECK_EQ(buf[0] << 8 | buf[1], (int)kinds[k].len + 1);
        CHECK_EQ(buf[2], kinds[k].type);
        CHECK_EQ(parse_one(kinds[k].side, buf, (size_t)n, &pkt, hold, sizeof(hold)), 0);
        CHECK_EQ(pkt.type, kinds[k].type);
        CHECK_EQ(pkt.len, kinds[k].len);
        CHECK(memcmp(pkt.payload, payload, kinds[k].len) == 0);
        int other = kinds[k].side == WM_SOUP_FROM_CLIENT ? WM_SOUP_FROM_SERVER : WM_SOUP_FROM_CLIENT;
        int r = parse_one(other, buf, (size_t)n, &pkt, hold, sizeof(hold));
        CHECK_EQ(r, kinds[k].type == '+' ? 0 : WM_SOUP_CLOSE_UNKNOWN_TYPE);
    }

    /* Encoder refusals. */
    CHECK_EQ(wm_soup_write_packet(buf, sizeof(buf), 'H', payload, 1), -EINVAL);
    CHECK_EQ(wm_soup_write_packet(buf, sizeof(buf), 'L', payload, 46), -EINVAL);
    CHECK_EQ(wm_soup_write_packet(buf, sizeof(buf), 'Q', payload, 1), -EINVAL);
    CHECK_EQ(wm_soup_write_packet(buf, 42, 'S', payload, 40), -ENOBUFS);
    CHECK_EQ(wm_soup_write_packet(buf, 43, 'S', payload, 40), 43);
    CHECK_EQ(wm_soup_write_header(buf, sizeof(buf), 'S', WM_SOUP_MAX_PAYLOAD + 1), -EINVAL);
    CHECK_EQ(wm_soup_write_header(buf, sizeof(buf), 'S', WM_SOUP_MAX_PAYLOAD), 3);
    CHECK_EQ(buf[0], 0xff);
    CHECK_EQ(buf[1], 0xff);
    CHECK_EQ(wm_soup_write_login_accepted(buf, 32, "S", 1), -ENOBUFS);
    CHECK_EQ(wm_soup_write_login_accepted(buf, sizeof(buf), "SESSION0001", 1), -EINVAL);
    CHECK_EQ(wm_soup_write_login_accepted(buf, sizeof(buf), "SESSION001", UINT64_MAX),
             WM_SOUP_LOGIN_ACCEPTED_LEN);
    CHECK(memcmp(buf + 13, "18446744073709551615", 20) == 0);
    CHECK_EQ(wm_soup_write_login_request(buf, sizeof(buf), "toolong", "pw", "", 1, 0), -EINVAL);
    CHECK_EQ(wm_soup_write_login_request(buf, sizeof(buf), "u", "pw\n", "", 1, 0), -EINVAL);
    CHECK_EQ(wm_soup_write_login_request(buf, sizeof(buf), "u", "pw", "", 1, 100000), -EINVAL);
    CHECK_EQ(wm_soup_write_login_request(buf, 48, "u", "pw", "", 1, 0), -ENOBUFS);
    CHECK_EQ(wm_soup_write_login_request(buf, 53, "u", "pw", "", 1, 99999), -ENOBUFS);
}

/* ---- the stream parser over chunkings ---- */

struct expect {
    uint8_t type;
    uint16_t len;
    const uint8_t *payload;
};

static uint8_t stream[1200];
static size_t stream_len;
static struct expect want[16];
static int n_want;

static void add(int n, uint8_t type, uint16_t plen)
{
    CHECK(n > 0);
    want[n_want].type = type;
    want[n_want].len = plen;
    want[n_want].payload = stream + stream_len + 3;
    n_want++;
    stream_len += (size_t)n;
}

static void build_stream(void)
{
    static uint8_t big[700];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i ^ (i >> 3));
    stream_len = 0;
    n_want = 0;
    uint8_t *s = stream;
    size_t cap = sizeof(stream);
    add(wm_soup_write_login_request(s, cap, "user", "secret", "", 1, 0), 'L', 46);
    add(wm_soup_write_packet(stream + stream_len, cap - stream_len, 'U', big, 47), 'U', 47);
    add(wm_soup_write_packet(stream + stream_len, cap - stream_len, 'R', NULL, 0), 'R', 0);
    add(wm_soup_write_packet(stream + stream_len, cap - stream_len, 'U', big + 5, 1), 'U', 1);
    add(wm_soup_write_packet(stream + stream_len, cap - stream_len, 'U', NULL, 0), 'U', 0);
    add(wm_soup_write_packet(stream + stream_len, cap - stream_len, '+', "dbg", 3), '+', 3);
    add(wm_soup_write_packet(stream + stream_len, cap - stream_len, 'U', big, 700), 'U', 700);
    add(wm_soup_write_login_request(stream + stream_len, cap - stream_len, "user", "secret",
                                    "S1", 99, 30000), 'L', 51);
    add(wm_soup_write_packet(stream + stream_len, cap - stream_len, 'O', NULL, 0), 'O', 0);
}

/* Feed stream cut at the given points; every packet must come out once, in
 * order, with its bytes; a packet whole inside a chunk must be a view of it. */
static int run_cuts(const size_t *cuts, int n_cuts, uint32_t hold_cap)
{
    static uint8_t hold[2048];
    static uint8_t chunk[1200];
    struct wm_soup_parser p;
    struct wm_soup_packet pkt;
    int got = 0, bad = 0;
    CHECK_EQ(wm_soup_parser_init(&p, WM_SOUP_FROM_CLIENT, hold, hold_cap), 0);
    size_t start = 0;
    for (int c = 0; c <= n_cuts; c++) {
        size_t end = c < n_cuts ? cuts[c] : stream_len;
        /* A private copy, scribbled over after use: a packet must not
         * point into a chunk once that chunk is used up. */
        memcpy(chunk, stream + start, end - start);
        wm_soup_parser_feed(&p, chunk, end - start);
        int r;
        while ((r = wm_soup_parser_next(&p, &pkt)) == 0) {
            if (got >= n_want) {
                bad++;
                continue;
            }
            if (pkt.type != want[got].type || pkt.len != want[got].len ||
                memcmp(pkt.payload, want[got].payload, pkt.len) != 0)
                bad++;
            int inside = pkt.payload >= chunk && pkt.payload + pkt.len <= chunk + (end - start);
            int whole = (size_t)(want[got].payload - stream) - 3 >= start &&
                        (size_t)(want[got].payload - stream) + pkt.len <= end;
            if (whole != inside || (inside && pkt.payload != chunk + (want[got].payload - stream - start)))
                bad++;
            got++;
        }
        if (r != -EAGAIN)
            bad++;
        memset(chunk, 0xAA, end - start);
        start = end;
    }
    if (got != n_want || p.held != 0)
        bad++;
    return bad;
}

static void test_parser_chunkings(void)
{
    build_stream();
    CHECK_EQ(n_want, 9);
    int bad = 0;
    size_t cuts[1200];
    /* Fixed-size chunks of every size, 1 byte to the whole stream. */
    for (size_t size = 1; size <= stream_len; size++) {
        int n = 0;
        for (size_t at = size; at < stream_len; at += size)
            cuts[n++] = at;
        bad += run_cuts(cuts, n, 1024);
    }
    CHECK_EQ(bad, 0);
    /* Every pair of cut points (three chunks of any sizes, empty included). */
    bad = 0;
    long runs = 0;
    for (size_t i = 0; i <= stream_len; i += 1)
        for (size_t j = i; j <= stream_len; j += 3) {
            cuts[0] = i;
            cuts[1] = j;
            bad += run_cuts(cuts, 2, 1024);
            runs++;
        }
    CHECK_EQ(bad, 0);
    CHECK(runs > 100000);
    printf("parser: %zu-byte stream of %d packets, every chunk size and %ld three-chunk splits\n",
           stream_len, n_want, runs);
}

/* ---- bad input ---- */

static int feed_all(int side, const uint8_t *b, size_t len, uint32_t cap, int *packets)
{
    static uint8_t hold[1024];
    struct wm_soup_parser p;
    struct wm_soup_packet pkt;
    CHECK_EQ(wm_soup_parser_init(&p, side, hold, cap), 0);
    wm_soup_parser_feed(&p, b, len);
    int r;
    *packets = 0;
    while ((r = wm_soup_parser_next(&p, &pkt)) == 0)
        (*packets)++;
    if (r > 0) {
        /* Sticky: the same reason again, even with more bytes. */
        CHECK_EQ(wm_soup_parser_next(&p, &pkt), r);
        wm_soup_parser_feed(&p, (const uint8_t *)"\x00\x01R", 3);
        CHECK_EQ(wm_soup_parser_next(&p, &pkt), r);
    }
    return r;
}

static void test_bad_input(void)
{
    uint8_t b[2048];
    int packets;
    uint8_t hold[256];
    struct wm_soup_parser p;
    CHECK_EQ(wm_soup_parser_init(&p, WM_SOUP_FROM_CLIENT, hold, WM_SOUP_MIN_HOLD - 1), -EINVAL);
    CHECK_EQ(wm_soup_parser_init(&p, 3, hold, sizeof(hold)), -EINVAL);
    CHECK_EQ(wm_soup_parser_init(&p, WM_SOUP_FROM_CLIENT, NULL, sizeof(hold)), -EINVAL);

    /* Length 0: no type byte. */
    memcpy(b, "\x00\x01R\x00\x00R", 6);
    CHECK_EQ(feed_all(WM_SOUP_FROM_CLIENT, b, 6, 256, &packets), WM_SOUP_CLOSE_BAD_LENGTH);
    CHECK_EQ(packets, 1);                   /* the heartbeat before it came out */
    /* Unknown types, and the other side's types. */
    static const uint8_t client_unknown[] = { 'A', 'J', 'S', 'H', 'Z', 'X', 0, 0xff, 'l' };
    for (size_t i = 0; i < sizeof(client_unknown); i++) {
        b[0] = 0, b[1] = 1, b[2] = client_unknown[i];
        CHECK_EQ(feed_all(WM_SOUP_FROM_CLIENT, b, 3, 256, &packets), WM_SOUP_CLOSE_UNKNOWN_TYPE);
    }
    static const uint8_t server_unknown[] = { 'L', 'U', 'R', 'O', 'X' };
    for (size_t i = 0; i < sizeof(server_unknown); i++) {
        b[0] = 0, b[1] = 1, b[2] = server_unknown[i];
        CHECK_EQ(feed_all(WM_SOUP_FROM_SERVER, b, 3, 256, &packets), WM_SOUP_CLOSE_UNKNOWN_TYPE);
    }
    /* Fixed-length types with another length. */
    static const struct { uint8_t type; int side; uint16_t lf; } wrong[] = {
        { 'R', WM_SOUP_FROM_CLIENT, 2 },  { 'O', WM_SOUP_FROM_CLIENT, 5 },
        { 'L', WM_SOUP_FROM_CLIENT, 46 }, { 'L', WM_SOUP_FROM_CLIENT, 48 },
        { 'L', WM_SOUP_FROM_CLIENT, 51 }, { 'L', WM_SOUP_FROM_CLIENT, 53 },
        { 'A', WM_SOUP_FROM_SERVER, 30 }, { 'J', WM_SOUP_FROM_SERVER, 1 },
        { 'H', WM_SOUP_FROM_SERVER, 2 },  { 'Z', WM_SOUP_FROM_SERVER, 3 },
    };
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        b[0] = (uint8_t)(wrong[i].lf >> 8), b[1] = (uint8_t)wrong[i].lf, b[2] = wrong[i].type;
        memset(b + 3, '1', wrong[i].lf);
        CHECK_EQ(feed_all(wrong[i].side, b, 2u + wrong[i].lf, 256, &packets), WM_SOUP_CLOSE_BAD_LENGTH);
        CHECK_EQ(wm_soup_header_check(wrong[i].side, wrong[i].lf, wrong[i].type, 256),
                 WM_SOUP_CLOSE_BAD_LENGTH);
    }
    /* Oversized: known from the 3-byte header alone, and the limit is the
     * hold size exactly. */
    b[0] = 0x01, b[1] = 0x00, b[2] = 'U';                     /* 258 bytes */
    CHECK_EQ(feed_all(WM_SOUP_FROM_CLIENT, b, 3, 256, &packets), WM_SOUP_CLOSE_OVERSIZED);
    CHECK_EQ(feed_all(WM_SOUP_FROM_CLIENT, b, 3, 257, &packets), WM_SOUP_CLOSE_OVERSIZED);
    CHECK_EQ(feed_all(WM_SOUP_FROM_CLIENT, b, 3, 258, &packets), -EAGAIN);
    memset(b + 3, 'q', 255);
    CHECK_EQ(feed_all(WM_SOUP_FROM_CLIENT, b, 258, 258, &packets), -EAGAIN);
    CHECK_EQ(packets, 1);
    CHECK_EQ(feed_all(WM_SOUP_FROM_CLIENT, b, 2, 256, &packets), -EAGAIN);   /* not known yet */
    b[0] = 0xff, b[1] = 0xff, b[2] = 'S';
    CHECK_EQ(feed_all(WM_SOUP_FROM_SERVER, b, 3, 1024, &packets), WM_SOUP_CLOSE_OVERSIZED);
    /* A bad header split across chunks is found when its third byte comes. */
    CHECK_EQ(wm_soup_parser_init(&p, WM_SOUP_FROM_CLIENT, hold, sizeof(hold)), 0);
    struct wm_soup_packet pkt;
    wm_soup_parser_feed(&p, (const uint8_t *)"\x00", 1);
    CHECK_EQ(wm_soup_parser_next(&p, &pkt), -EAGAIN);
    wm_soup_parser_feed(&p, (const uint8_t *)"\x01", 1);
    CHECK_EQ(wm_soup_parser_next(&p, &pkt), -EAGAIN);
    wm_soup_parser_feed(&p, (const uint8_t *)"Q", 1);
    CHECK_EQ(wm_soup_parser_next(&p, &pkt), WM_SOUP_CLOSE_UNKNOWN_TYPE);
    /* An empty chunk and a NULL chunk are nothing. */
    CHECK_EQ(wm_soup_parser_init(&p, WM_SOUP_FROM_CLIENT, hold, sizeof(hold)), 0);
    wm_soup_parser_feed(&p, NULL, 5);
    CHECK_EQ(wm_soup_parser_next(&p, &pkt), -EAGAIN);
    wm_soup_parser_feed(&p, (const uint8_t *)"\x00\x01", 2);
    CHECK_EQ(wm_soup_parser_next(&p, &pkt), -EAGAIN);
    wm_soup_parser_feed(&p, NULL, 0);
    CHECK_EQ(wm_soup_parser_next(&p, &pkt), -EAGAIN);
    wm_soup_parser_feed(&p, (const uint8_t *)"O", 1);
    CHECK_EQ(wm_soup_parser_next(&p, &pkt), 0);
    CHECK_EQ(pkt.type, 'O');
    CHECK(pkt.payload == hold + 3);          /* assembled in the hold buffer */

    /* Numeric field parser. */
    uint64_t v;
    CHECK_EQ(wm_soup_parse_numeric((const uint8_t *)"00012", 5, &v), 0);
    CHECK_EQ(v, 12);
    CHECK_EQ(wm_soup_parse_numeric((const uint8_t *)" 12  ", 5, &v), 0);
    CHECK_EQ(v, 12);
    CHECK_EQ(wm_soup_parse_numeric((const uint8_t *)"1 2  ", 5, &v), -EINVAL);
    CHECK_EQ(wm_soup_parse_numeric((const uint8_t *)"+12  ", 5, &v), -EINVAL);
    CHECK_EQ(wm_soup_parse_numeric((const uint8_t *)"     ", 5, &v), -EINVAL);
}

/* ---- the session state machine ---- */

static struct wm_soup_sessions ss;

static uint8_t pkt_buf[128];

static struct wm_soup_packet packet(uint8_t type, const void *payload, size_t len)
{
    struct wm_soup_packet pkt;
    int n = wm_soup_write_packet(pkt_buf, sizeof(pkt_buf), type, payload, len);
    CHECK(n > 0);
    pkt.type = type;
    pkt.reserved = 0;
    pkt.len = (uint16_t)len;
    pkt.payload = pkt_buf + 3;
    return pkt;
}

static struct wm_soup_packet login_pkt(const char *user, const char *pw, const char *session,
                                       uint64_t seq)
{
    struct wm_soup_packet pkt;
    int n = wm_soup_write_login_request(pkt_buf, sizeof(pkt_buf), user, pw, session, seq, 0);
    CHECK_EQ(n, WM_SOUP_LOGIN_REQUEST_LEN);
    pkt.type = 'L';
    pkt.reserved = 0;
    pkt.len = 46;
    pkt.payload = pkt_buf + 3;
    return pkt;
}

static void setup_sessions(void)
{
    struct wm_soup_config cfg = { 0 };
    cfg.output_bound = 1000;
    CHECK_EQ(wm_soup_sessions_init(&ss, &cfg), 0);
    CHECK_EQ(ss.cfg.heartbeat_ns, SEC);
    CHECK_EQ(ss.cfg.client_timeout_ns, 15 * SEC);
    CHECK_EQ(ss.cfg.login_timeout_ns, 15 * SEC);
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESS1", "alice", "pw1"), 0);
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESS2", "bob", "pw2"), 1);
}

static void test_sessions_table(void)
{
    setup_sessions();
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESS1", "carol", "x"), -EEXIST);
    CHECK_EQ(wm_soup_sessions_add(&ss, " SESS1 ", "carol", "x"), -EEXIST);
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESS3", "alice", "x"), -EEXIST);
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESSION0003", "carol", "x"), -EINVAL);
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESS3", "carol", ""), -EINVAL);
    CHECK_EQ(wm_soup_sessions_add(&ss, "   ", "carol", "x"), -EINVAL);
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESS3", "carol", "tab\t"), -EINVAL);
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESS3", NULL, "x"), -EINVAL);
    CHECK_EQ(wm_soup_sessions_find(&ss, "SESS2"), 1);
    CHECK_EQ(wm_soup_sessions_find(&ss, "SESS9"), -ENOENT);
    char name[16], user[16];
    for (unsigned i = 2; i < WM_SOUP_MAX_SESSIONS; i++) {
        snprintf(name, sizeof(name), "S%u", i % 1000u);
        snprintf(user, sizeof(user), "u%u", i % 1000u);
        CHECK_EQ(wm_soup_sessions_add(&ss, name, user, "p"), (int)i);
    }
    CHECK_EQ(wm_soup_sessions_add(&ss, "SX", "ux", "p"), -ENOSPC);
    CHECK_EQ(wm_soup_sessions_init(NULL, NULL), -EINVAL);
}

static void test_login_rules(void)
{
    struct wm_soup_conn c, d;
    struct wm_soup_actions act;
    struct wm_soup_packet pkt;
    setup_sessions();

    /* Bad password, unknown user: 'A', closed. */
    wm_soup_conn_open(&ss, &c, 1, 0);
    CHECK_EQ(c.state, WM_SOUP_AWAITING_LOGIN);
    pkt = login_pkt("alice", "wrong", "", 1);
    wm_soup_conn_packet(&ss, &c, 10, &pkt, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_SEND_LOGIN_REJECTED | WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.reject_code, 'A');
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_LOGIN_REJECTED);
    CHECK_EQ(c.state, WM_SOUP_CLOSED);
    CHECK_EQ(ss.st.counts[WM_SOUP_REJECT_NOT_AUTHORIZED], 1);
    wm_soup_conn_open(&ss, &c, 1, 0);
    pkt = login_pkt("mallor", "pw1", "", 1);
    wm_soup_conn_packet(&ss, &c, 10, &pkt, &act);
    CHECK_EQ(act.reject_code, 'A');
    /* Another user's password does not open this user's session. */
    wm_soup_conn_open(&ss, &c, 1, 0);
    pkt = login_pkt("alice", "pw2", "", 1);
    wm_soup_conn_packet(&ss, &c, 10, &pkt, &act);
    CHECK_EQ(act.reject_code, 'A');
    CHECK_EQ(ss.st.counts[WM_SOUP_REJECT_NOT_AUTHORIZED], 3);

    /* Another session's name: 'S'. */
    wm_soup_conn_open(&ss, &c, 1, 0);
    pkt = login_pkt("alice", "pw1", "SESS2", 1);
    wm_soup_conn_packet(&ss, &c, 10, &pkt, &act);
    CHECK_EQ(act.reject_code, 'S');
    CHECK_EQ(ss.st.counts[WM_SOUP_REJECT_UNKNOWN_SESSION], 1);

    /* Good: by name, and blank session. */
    wm_soup_conn_open(&ss, &c, 1, 0);
    pkt = login_pkt("alice", "pw1", "SESS1", 1);
    wm_soup_conn_packet(&ss, &c, 10, &pkt, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_SEND_LOGIN_ACCEPTED);
    CHECK_EQ(act.session, 0);
    CHECK_EQ(act.seq, 1);
    CHECK_EQ(c.state, WM_SOUP_ACTIVE);
    CHECK_EQ(ss.s[0].conn, 2);

    /* Second login for a logged-in session: 'S', the first untouched. */
    wm_soup_conn_open(&ss, &d, 2, 20);
    pkt = login_pkt("alice", "pw1", "", 0);
    wm_soup_conn_packet(&ss, &d, 30, &pkt, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_SEND_LOGIN_REJECTED | WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.reject_code, 'S');
    CHECK_EQ(ss.st.counts[WM_SOUP_REJECT_ALREADY_LOGGED_IN], 1);
    CHECK_EQ(c.state, WM_SOUP_ACTIVE);
    CHECK_EQ(ss.s[0].conn, 2);
    /* Bob logs in beside alice. */
    wm_soup_conn_open(&ss, &d, 2, 20);
    pkt = login_pkt("bob", "pw2", "", 0);
    wm_soup_conn_packet(&ss, &d, 30, &pkt, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_SEND_LOGIN_ACCEPTED);
    CHECK_EQ(act.session, 1);

    /* A Login Request on a logged-in connection closes it and frees the
     * session for the next login. */
    pkt = login_pkt("alice", "pw1", "", 0);
    wm_soup_conn_packet(&ss, &c, 40, &pkt, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_LOGIN_WHILE_LOGGED_IN);
    CHECK_EQ(ss.s[0].conn, 0);
    CHECK_EQ(d.state, WM_SOUP_ACTIVE);
    /* Closed is final: more packets do nothing and count nothing. */
    uint64_t in = ss.st.counts[WM_SOUP_PACKETS_IN];
    pkt = packet('U', "x", 1);
    wm_soup_conn_packet(&ss, &c, 50, &pkt, &act);
    CHECK_EQ(act.todo, 0);
    CHECK_EQ(ss.st.counts[WM_SOUP_PACKETS_IN], in);
    wm_soup_conn_close(&ss, &c, WM_SOUP_CLOSE_PEER_CLOSED, &act);
    CHECK_EQ(act.todo, 0);
    CHECK_EQ(c.close_reason, WM_SOUP_CLOSE_LOGIN_WHILE_LOGGED_IN);

    /* A malformed Login Request closes with the field reason. */
    wm_soup_conn_open(&ss, &c, 1, 0);
    pkt = login_pkt("alice", "pw1", "", 0);
    memcpy(pkt_buf + 29, "       abc          ", 20);
    wm_soup_conn_packet(&ss, &c, 60, &pkt, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_BAD_LOGIN_FIELD);
    CHECK_EQ(ss.st.counts[WM_SOUP_CLOSE_BAD_LOGIN_FIELD], 1);

    /* After End of Session no login is accepted. */
    wm_soup_sessions_end(&ss);
    wm_soup_conn_open(&ss, &c, 1, 0);
    pkt = login_pkt("alice", "pw1", "", 0);
    wm_soup_conn_packet(&ss, &c, 70, &pkt, &act);
    CHECK_EQ(act.reject_code, 'S');
    CHECK_EQ(ss.st.counts[WM_SOUP_REJECT_SESSION_ENDED], 1);
}

/* Log connection c in to alice's session asking for seq; returns the
 * Login Accepted number (0 if not accepted). */
static uint64_t alice_login(struct wm_soup_conn *c, uint32_t id, uint64_t now, uint64_t seq)
{
    struct wm_soup_actions act;
    struct wm_soup_packet pkt = login_pkt("alice", "pw1", "", seq);
    wm_soup_conn_open(&ss, c, id, now);
    wm_soup_conn_packet(&ss, c, now, &pkt, &act);
    return act.todo == WM_SOUP_DO_SEND_LOGIN_ACCEPTED ? act.seq : 0;
}

/* Drain what c is to send; record the numbers in got[]. */
static int drain(struct wm_soup_conn *c, uint64_t *got, int n, uint32_t step)
{
    uint64_t from;
    uint32_t k;
    while ((k = wm_soup_conn_pending(&ss, c, LATER, &from, step)) > 0)
        for (uint32_t i = 0; i < k; i++)
            got[n++] = from + i;
    return n;
}

static void test_sequence_and_replay(void)
{
    struct wm_soup_conn c;
    struct wm_soup_actions act;
    uint64_t got[64];
    setup_sessions();

    /* Five messages before anyone logs in. */
    for (int i = 1; i <= 5; i++)
        CHECK_EQ(wm_soup_session_append(&ss, 0), (uint64_t)i);
    CHECK_EQ(ss.s[0].next_seq, 6);

    /* Requested 1: all five replayed, then live ones, no gap, no duplicate,
     * whatever the pull size. */
    CHECK_EQ(alice_login(&c, 1, 0, 1), 1);
    int n = 0;
    uint64_t from;
    CHECK_EQ(wm_soup_conn_pending(&ss, &c, LATER, &from, 2), 2);
    CHECK_EQ(from, 1);
    got[n++] = 1, got[n++] = 2;
    CHECK_EQ(wm_soup_session_append(&ss, 0), 6);           /* live while replaying */
    n = drain(&c, got, n, 3);
    CHECK_EQ(wm_soup_session_append(&ss, 0), 7);
    n = drain(&c, got, n, 1);
    CHECK_EQ(n, 7);
    for (int i = 0; i < n; i++)
        CHECK_EQ(got[i], (uint64_t)(i + 1));
    CHECK_EQ(ss.st.counts[WM_SOUP_REPLAYED_OUT], 5);
    CHECK_EQ(ss.st.counts[WM_SOUP_SEQUENCED_OUT], 2);

    /* Reconnect from the next expected number after a drop. */
    wm_soup_conn_close(&ss, &c, WM_SOUP_CLOSE_PEER_CLOSED, &act);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_PEER_CLOSED);
    CHECK_EQ(ss.s[0].conn, 0);
    CHECK_EQ(wm_soup_session_append(&ss, 0), 8);           /* while nobody is logged in */
    CHECK_EQ(alice_login(&c, 1, 100, 6), 6);
    n = drain(&c, got, 0, 64);
    CHECK_EQ(n, 3);
    CHECK_EQ(got[0], 6);
    CHECK_EQ(got[2], 8);

    /* 0: from now (Login Accepted carries the next number, nothing replayed). */
    wm_soup_conn_close(&ss, &c, WM_SOUP_CLOSE_PEER_CLOSED, &act);
    CHECK_EQ(alice_login(&c, 1, 200, 0), 9);
    CHECK_EQ(wm_soup_conn_pending(&ss, &c, LATER, &from, 64), 0);
    CHECK_EQ(wm_soup_session_append(&ss, 0), 9);
    CHECK_EQ(wm_soup_conn_pending(&ss, &c, LATER, &from, 64), 1);
    CHECK_EQ(from, 9);

    /* Beyond the end: accepted at the session's next number, counted. */
    wm_soup_conn_close(&ss, &c, WM_SOUP_CLOSE_PEER_CLOSED, &act);
    CHECK_EQ(alice_login(&c, 1, 300, 1000), 10);
    CHECK_EQ(ss.st.counts[WM_SOUP_LOGINS_SEQ_BEYOND_END], 1);
    CHECK_EQ(wm_soup_conn_pending(&ss, &c, LATER, &from, 64), 0);
    /* Exactly the next number is not beyond the end. */
    wm_soup_conn_close(&ss, &c, WM_SOUP_CLOSE_PEER_CLOSED, &act);
    CHECK_EQ(alice_login(&c, 1, 300, 10), 10);
    CHECK_EQ(ss.st.counts[WM_SOUP_LOGINS_SEQ_BEYOND_END], 1);

    /* Below what is kept: rejected 'S'. */
    wm_soup_conn_close(&ss, &c, WM_SOUP_CLOSE_PEER_CLOSED, &act);
    wm_soup_session_retain_from(&ss, 0, 4);
    CHECK_EQ(alice_login(&c, 1, 400, 3), 0);
    CHECK_EQ(ss.st.counts[WM_SOUP_REJECT_SEQ_NOT_RETAINED], 1);
    CHECK_EQ(alice_login(&c, 1, 400, 4), 4);
    wm_soup_conn_close(&ss, &c, WM_SOUP_CLOSE_PEER_CLOSED, &act);
    wm_soup_session_retain_from(&ss, 0, 2);                 /* never goes back */
    CHECK_EQ(ss.s[0].first_seq, 4);
    wm_soup_session_retain_from(&ss, 0, 1000);              /* at most next */
    CHECK_EQ(ss.s[0].first_seq, 10);
    /* Bob's stream is separate. */
    CHECK_EQ(ss.s[1].next_seq, 1);

    /* The sequenced hold: nothing for 20 ms after Login Accepted, then all;
     * the deadline says when. */
    struct wm_soup_config cfg = { .sequenced_hold_ns = 20000000 };
    CHECK_EQ(wm_soup_sessions_init(&ss, &cfg), 0);
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESS1", "alice", "pw1"), 0);
    wm_soup_session_append(&ss, 0);
    wm_soup_session_append(&ss, 0);
    uint64_t t = 50 * SEC;
    CHECK_EQ(alice_login(&c, 1, t, 1), 1);
    CHECK_EQ(wm_soup_conn_deadline(&ss, &c), t + 20000000);
    CHECK_EQ(wm_soup_conn_pending(&ss, &c, t, &from, 64), 0);
    CHECK_EQ(wm_soup_conn_pending(&ss, &c, t + 19999999, &from, 64), 0);
    CHECK_EQ(from, 1);
    CHECK_EQ(wm_soup_conn_pending(&ss, &c, t + 20000000, &from, 64), 2);
    CHECK_EQ(from, 1);
    CHECK_EQ(wm_soup_conn_deadline(&ss, &c), t + SEC);       /* the heartbeat */
    /* Nothing waiting: the hold does not set the deadline. */
    wm_soup_conn_close(&ss, &c, WM_SOUP_CLOSE_PEER_CLOSED, &act);
    CHECK_EQ(alice_login(&c, 1, t, 0), 3);
    CHECK_EQ(wm_soup_conn_deadline(&ss, &c), t + SEC);
}

static void test_timers(void)
{
    struct wm_soup_conn c;
    struct wm_soup_actions act;
    struct wm_soup_packet pkt;
    setup_sessions();
    uint64_t t0 = 1000 * SEC;

    /* Awaiting login: no heartbeats; closed after the login timeout. */
    wm_soup_conn_open(&ss, &c, 7, t0);
    CHECK_EQ(wm_soup_conn_deadline(&ss, &c), t0 + 15 * SEC + 1);
    wm_soup_conn_tick(&ss, &c, t0 + 5 * SEC, &act);
    CHECK_EQ(act.todo, 0);
    pkt = packet('R', NULL, 0);                 /* a heartbeat does not extend it */
    wm_soup_conn_packet(&ss, &c, t0 + 10 * SEC, &pkt, &act);
    CHECK_EQ(act.todo, 0);
    wm_soup_conn_tick(&ss, &c, t0 + 15 * SEC, &act);
    CHECK_EQ(act.todo, 0);
    wm_soup_conn_tick(&ss, &c, t0 + 15 * SEC + 1, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_LOGIN_TIMEOUT);
    CHECK_EQ(wm_soup_conn_deadline(&ss, &c), UINT64_MAX);

    /* Active: heartbeat after 1 s without output, not before. */
    CHECK_EQ(alice_login(&c, 7, t0, 0), 1);
    CHECK_EQ(wm_soup_conn_queued(&ss, &c, t0, WM_SOUP_LOGIN_ACCEPTED_LEN, &act), 0);
    CHECK_EQ(wm_soup_conn_deadline(&ss, &c), t0 + SEC);
    wm_soup_conn_tick(&ss, &c, t0 + SEC - 1, &act);
    CHECK_EQ(act.todo, 0);
    wm_soup_conn_tick(&ss, &c, t0 + SEC, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_SEND_HEARTBEAT);
    CHECK_EQ(ss.st.counts[WM_SOUP_SERVER_HEARTBEATS_OUT], 1);
    CHECK_EQ(wm_soup_conn_deadline(&ss, &c), t0 + 2 * SEC);
    /* Output resets the heartbeat timer. */
    CHECK_EQ(wm_soup_conn_queued(&ss, &c, t0 + 1500000000ull, 20, &act), 0);
    wm_soup_conn_tick(&ss, &c, t0 + 2 * SEC, &act);
    CHECK_EQ(act.todo, 0);
    wm_soup_conn_tick(&ss, &c, t0 + 2500000000ull, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_SEND_HEARTBEAT);
    /* Heartbeats every second while the client keeps talking. */
    int beats = 0;
    for (uint64_t t = t0 + 3 * SEC; t <= t0 + 30 * SEC; t += SEC / 2) {
        pkt = packet('R', NULL, 0);
        wm_soup_conn_packet(&ss, &c, t, &pkt, &act);
        wm_soup_conn_tick(&ss, &c, t, &act);
        CHECK(!(act.todo & WM_SOUP_DO_CLOSE));
        beats += !!(act.todo & WM_SOUP_DO_SEND_HEARTBEAT);
    }
    CHECK_EQ(beats, 27);
    CHECK_EQ(c.state, WM_SOUP_ACTIVE);
    /* Client silent: closed just after 15 s, not at 15 s. */
    uint64_t last = t0 + 30 * SEC;
    wm_soup_conn_tick(&ss, &c, last + 15 * SEC, &act);
    CHECK(!(act.todo & WM_SOUP_DO_CLOSE));
    CHECK_EQ(wm_soup_conn_deadline(&ss, &c), last + 15 * SEC + 1);
    wm_soup_conn_tick(&ss, &c, last + 15 * SEC + 1, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_CLIENT_TIMEOUT);
    CHECK_EQ(ss.st.counts[WM_SOUP_CLOSE_CLIENT_TIMEOUT], 1);
    CHECK_EQ(ss.s[0].conn, 0);

    /* A configured timeout. */
    struct wm_soup_config cfg = { .client_timeout_ns = 3 * SEC, .heartbeat_ns = SEC / 2 };
    CHECK_EQ(wm_soup_sessions_init(&ss, &cfg), 0);
    CHECK_EQ(ss.cfg.login_timeout_ns, 3 * SEC);
    CHECK_EQ(wm_soup_sessions_add(&ss, "SESS1", "alice", "pw1"), 0);
    CHECK_EQ(alice_login(&c, 7, t0, 0), 1);
    CHECK_EQ(wm_soup_conn_deadline(&ss, &c), t0 + SEC / 2);
    wm_soup_conn_tick(&ss, &c, t0 + 3 * SEC + 1, &act);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_CLIENT_TIMEOUT);
}

static void test_packets_by_state(void)
{
    struct wm_soup_conn c;
    struct wm_soup_actions act;
    struct wm_soup_packet pkt;
    setup_sessions();

    /* Awaiting login: debug and heartbeat are fine, data closes, logout
     * closes. */
    wm_soup_conn_open(&ss, &c, 3, 0);
    pkt = packet('+', "hello", 5);
    wm_soup_conn_packet(&ss, &c, 1, &pkt, &act);
    CHECK_EQ(act.todo, 0);
    CHECK_EQ(ss.st.counts[WM_SOUP_DEBUG_IN], 1);
    pkt = packet('R', NULL, 0);
    wm_soup_conn_packet(&ss, &c, 2, &pkt, &act);
    CHECK_EQ(act.todo, 0);
    pkt = packet('U', "O", 1);
    wm_soup_conn_packet(&ss, &c, 3, &pkt, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_DATA_BEFORE_LOGIN);
    CHECK_EQ(ss.st.counts[WM_SOUP_CLOSE_DATA_BEFORE_LOGIN], 1);
    wm_soup_conn_open(&ss, &c, 3, 0);
    pkt = packet('O', NULL, 0);
    wm_soup_conn_packet(&ss, &c, 3, &pkt, &act);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_LOGOUT);

    /* Active: data is delivered as a view of the packet, with its session. */
    CHECK_EQ(alice_login(&c, 3, 10, 0), 1);
    static const uint8_t msg[] = "OUCH-MESSAGE";
    pkt = packet('U', msg, sizeof(msg));
    wm_soup_conn_packet(&ss, &c, 11, &pkt, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_DELIVER);
    CHECK(act.data == pkt.payload);
    CHECK_EQ(act.len, sizeof(msg));
    CHECK_EQ(act.session, 0);
    CHECK_EQ(ss.st.counts[WM_SOUP_UNSEQUENCED_IN], 1);
    CHECK_EQ(c.last_in_ns, 11);
    /* A packet type the server's parser never passes still closes. */
    struct wm_soup_packet odd = packet('S', "x", 1);
    wm_soup_conn_packet(&ss, &c, 12, &odd, &act);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_UNKNOWN_TYPE);
    /* Logout while active frees the session. */
    CHECK_EQ(alice_login(&c, 3, 20, 0), 1);
    pkt = packet('O', NULL, 0);
    wm_soup_conn_packet(&ss, &c, 21, &pkt, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_LOGOUT);
    CHECK_EQ(ss.s[0].conn, 0);
    CHECK_EQ(wm_soup_conn_pending(&ss, &c, LATER, &(uint64_t){ 0 }, 10), 0);

    /* Parser reasons close through wm_soup_conn_close and are counted. */
    CHECK_EQ(alice_login(&c, 3, 30, 0), 1);
    wm_soup_conn_close(&ss, &c, WM_SOUP_CLOSE_OVERSIZED, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_CLOSE);
    CHECK_EQ(ss.st.counts[WM_SOUP_CLOSE_OVERSIZED], 1);
    CHECK_EQ(ss.s[0].conn, 0);
    wm_soup_conn_open(&ss, &c, 3, 0);
    wm_soup_conn_close(&ss, &c, 0, &act);          /* not a reason: peer closed */
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_PEER_CLOSED);

    /* End of Session: active connections get 'Z', others just close. */
    struct wm_soup_conn w;
    CHECK_EQ(alice_login(&c, 3, 40, 0), 1);
    wm_soup_conn_open(&ss, &w, 4, 40);
    wm_soup_sessions_end(&ss);
    wm_soup_conn_end_of_session(&ss, &c, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_SEND_END_OF_SESSION | WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_END_OF_SESSION);
    wm_soup_conn_end_of_session(&ss, &w, &act);
    CHECK_EQ(act.todo, WM_SOUP_DO_CLOSE);
    wm_soup_conn_end_of_session(&ss, &w, &act);
    CHECK_EQ(act.todo, 0);
    CHECK_EQ(ss.st.counts[WM_SOUP_CLOSE_END_OF_SESSION], 2);
}

static void test_output_bound(void)
{
    struct wm_soup_conn c, d;
    struct wm_soup_actions act;
    setup_sessions();                            /* bound 1000 bytes */
    CHECK_EQ(alice_login(&c, 1, 0, 0), 1);
    wm_soup_conn_open(&ss, &d, 2, 0);
    struct wm_soup_packet pkt = login_pkt("bob", "pw2", "", 0);
    wm_soup_conn_packet(&ss, &d, 0, &pkt, &act);
    CHECK_EQ(d.state, WM_SOUP_ACTIVE);

    /* Up to the bound is fine; sends make room. */
    CHECK_EQ(wm_soup_conn_queued(&ss, &c, 1, 600, &act), 0);
    CHECK_EQ(wm_soup_conn_queued(&ss, &c, 2, 400, &act), 0);
    CHECK_EQ(c.unsent, 1000);
    wm_soup_conn_sent(&c, 300);
    CHECK_EQ(c.unsent, 700);
    CHECK_EQ(wm_soup_conn_queued(&ss, &c, 3, 300, &act), 0);
    /* One byte past it closes this connection, not bob's. */
    CHECK_EQ(wm_soup_conn_queued(&ss, &c, 4, 1, &act), WM_SOUP_CLOSE_OUTPUT_BOUND);
    CHECK_EQ(act.todo, WM_SOUP_DO_CLOSE);
    CHECK_EQ(act.close_reason, WM_SOUP_CLOSE_OUTPUT_BOUND);
    CHECK_EQ(ss.st.counts[WM_SOUP_CLOSE_OUTPUT_BOUND], 1);
    CHECK_EQ(ss.s[0].conn, 0);
    CHECK_EQ(d.state, WM_SOUP_ACTIVE);
    CHECK_EQ(wm_soup_conn_queued(&ss, &c, 5, 1, &act), 0);    /* closed: ignored */
    CHECK_EQ(act.todo, 0);
    wm_soup_conn_sent(&c, 5000);
    CHECK_EQ(c.unsent, 0);
    /* The client recovers by logging in again with its next number. */
    for (int i = 0; i < 3; i++)
        wm_soup_session_append(&ss, 0);
    CHECK_EQ(alice_login(&c, 1, 10, 2), 2);
    uint64_t got[8];
    CHECK_EQ(drain(&c, got, 0, 8), 2);
    CHECK_EQ(got[0], 2);
    CHECK_EQ(got[1], 3);
}

static void test_counter_names(void)
{
    CHECK_EQ(wm_soup_counter_count(), WM_SOUP_N_COUNTERS);
    CHECK(strcmp(wm_soup_counter_name(WM_SOUP_OK), "ok") == 0);
    CHECK(strcmp(wm_soup_counter_name(WM_SOUP_CLOSE_OUTPUT_BOUND), "soup_close_output_bound") == 0);
    CHECK(wm_soup_counter_name(WM_SOUP_N_COUNTERS) == NULL);
    const char *const *names = wm_soup_counter_names();
    for (uint32_t i = 0; i < WM_SOUP_N_COUNTERS; i++) {
        CHECK(names[i] != NULL);
        for (uint32_t j = 0; j < i; j++)
            CHECK(strcmp(names[i], names[j]) != 0);
    }
}

int main(void)
{
    test_login_request_bytes();
    test_server_packets();
    test_parser_chunkings();
    test_bad_input();
    test_sessions_table();
    test_login_rules();
    test_sequence_and_replay();
    test_timers();
    test_packets_by_state();
    test_output_bound();
    test_counter_names();
    return check_finish("test_soup");
}
