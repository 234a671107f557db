/* test_codec.c - MoldUDP64 framing, builder and sequence tracker; OUCH 5.0
 * and ITCH 5.0 round trips, hand-assembled bytes, and every drop reason. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "wirematch.h"

static struct wm_codec_stats st;

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i)); }
static void put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i)); }

/* A packet with the given blocks (lens[i] bytes of 'X' each... first byte 'Q'). */
static size_t make_packet(uint8_t *buf, uint64_t seq, uint16_t count, const uint16_t *lens, int n)
{
    memcpy(buf, "SESSION001", 10);
    put64(buf + 10, seq);
    put16(buf + 18, count);
    size_t off = 20;
    for (int i = 0; i < n; i++) {
        put16(buf + off, lens[i]);
        memset(buf + off + 2, 'Q', lens[i]);
        off += 2 + lens[i];
    }
    return off;
}

static void test_mold_decode(void)
{
    uint8_t buf[256];
    struct wm_mold_packet pkt;
    uint16_t lens[3] = { 1, 1, 1 };
    size_t n = make_packet(buf, 7, 3, lens, 3);
    CHECK_EQ(wm_mold_decode(buf, n, &pkt, &st), 0);
    CHECK_EQ(pkt.seq, 7);
    CHECK_EQ(pkt.count, 3);
    uint16_t len;
    int blocks = 0;
    while (wm_mold_next_block(&pkt, &len)) {
        CHECK_EQ(len, 1);
        blocks++;
    }
    CHECK_EQ(blocks, 3);

    /* Each failure has its own reason, and is counted. */
    uint64_t before = st.counts[WM_MOLD_DROP_SHORT_HEADER];
    CHECK_EQ(wm_mold_decode(buf, 19, &pkt, &st), WM_MOLD_DROP_SHORT_HEADER);
    CHECK_EQ(st.counts[WM_MOLD_DROP_SHORT_HEADER], before + 1);
    n = make_packet(buf, 7, 4, lens, 3);            /* count above the blocks */
    CHECK_EQ(wm_mold_decode(buf, n, &pkt, &st), WM_MOLD_DROP_TRUNCATED_LENGTH);
    n = make_packet(buf, 7, 2, lens, 3);            /* count below the blocks */
    CHECK_EQ(wm_mold_decode(buf, n, &pkt, &st), WM_MOLD_DROP_TRAILING_BYTES);
    n = make_packet(buf, 7, 3, lens, 3);
    CHECK_EQ(wm_mold_decode(buf, n - 1, &pkt, &st), WM_MOLD_DROP_TRUNCATED_BLOCK);
    CHECK_EQ(wm_mold_decode(buf, 21, &pkt, &st), WM_MOLD_DROP_TRUNCATED_LENGTH);
    uint16_t zero[1] = { 0 };
    n = make_packet(buf, 7, 1, zero, 1);
    CHECK_EQ(wm_mold_decode(buf, n, &pkt, &st), WM_MOLD_DROP_EMPTY_BLOCK);
    n = make_packet(buf, 7, 3, lens, 3);
    buf[3] = 0x01;
    CHECK_EQ(wm_mold_decode(buf, n, &pkt, &st), WM_MOLD_DROP_BAD_SESSION);
    n = make_packet(buf, 7, 0xffff, lens, 1);
    CHECK_EQ(wm_mold_decode(buf, n, &pkt, &st), WM_MOLD_DROP_EOS_WITH_BLOCKS);
    n = make_packet(buf, 7, 0xffff, lens, 0);
    CHECK_EQ(wm_mold_decode(buf, n, &pkt, &st), 0);
    CHECK(wm_mold_next_block(&pkt, &len) == NULL);
    n = make_packet(buf, UINT64_MAX, 1, lens, 1);
    CHECK_EQ(wm_mold_decode(buf, n, &pkt, &st), WM_MOLD_DROP_SEQ_OVERFLOW);
    n = make_packet(buf, 9, 0, lens, 0);
    uint64_t hb = st.counts[WM_MOLD_HEARTBEATS];
    CHECK_EQ(wm_mold_decode(buf, n, &pkt, &st), 0);
    CHECK_EQ(st.counts[WM_MOLD_HEARTBEATS], hb + 1);
    CHECK(strcmp(wm_codec_counter_name(WM_MOLD_DROP_EMPTY_BLOCK), "mold_drop_empty_block") == 0);
    CHECK(wm_codec_counter_name(WM_CODEC_N_COUNTERS) == NULL);
}

static void fill_add(struct wm_itch_msg *m, uint64_t ref)
{
    memset(m, 0, sizeof(*m));
    m->type = 'A';
    m->stock_locate = 1;
    m->tracking_number = 0;
    m->timestamp = 34200000000000ull;
    m->u.add.order_ref = ref;
    m->u.add.side = 'B';
    m->u.add.shares = 100;
    memcpy(m->u.add.stock, "AAPL    ", 8);
    m->u.add.price = 1500000;
}

static void test_builder(void)
{
    uint8_t buf[WM_MOLD_MTU_PAYLOAD];
    struct wm_mold_builder b;
    CHECK_EQ(wm_mold_builder_init(&b, "MD", 0, buf, sizeof(buf)), -EINVAL);
    CHECK_EQ(wm_mold_builder_init(&b, "MD", 1, buf, sizeof(buf)), 0);
    struct wm_itch_msg m;
    int added = 0, rc;
    for (;;) {
        fill_add(&m, (uint64_t)added + 1);
        rc = wm_mold_builder_add_itch(&b, &m);
        if (rc)
            break;
        added++;
    }
    CHECK_EQ(rc, -ENOBUFS);
    CHECK_EQ(added, (WM_MOLD_MTU_PAYLOAD - 20) / (2 + WM_ITCH_ADD_ORDER_LEN));
    uint32_t len = wm_mold_builder_flush(&b);
    CHECK_EQ(len, 20 + added * (2 + WM_ITCH_ADD_ORDER_LEN));
    CHECK(len <= WM_MOLD_MTU_PAYLOAD);
    struct wm_mold_packet pkt;
    CHECK_EQ(wm_mold_decode(buf, len, &pkt, &st), 0);
    CHECK_EQ(pkt.seq, 1);
    CHECK_EQ(pkt.count, added);
    CHECK(memcmp(pkt.session, "MD        ", 10) == 0);
    uint16_t blen;
    const uint8_t *p;
    uint64_t ref = 1;
    while ((p = wm_mold_next_block(&pkt, &blen))) {
        struct wm_itch_msg d;
        CHECK_EQ(wm_itch_decode(p, blen, &d, &st), 0);
        CHECK_EQ(d.u.add.order_ref, ref++);
    }
    CHECK_EQ(b.next_seq, 1 + (uint64_t)added);
    /* The refused message goes into the next packet, numbered after. */
    CHECK_EQ(wm_mold_builder_add_itch(&b, &m), 0);
    len = wm_mold_builder_flush(&b);
    CHECK_EQ(wm_mold_decode(buf, len, &pkt, &st), 0);
    CHECK_EQ(pkt.seq, 1 + (uint64_t)added);
    CHECK_EQ(pkt.count, 1);
    CHECK_EQ(wm_mold_builder_flush(&b), 0);
    /* A bad message leaves nothing behind. */
    m.u.add.side = 'X';
    CHECK_EQ(wm_mold_builder_add_itch(&b, &m), -EINVAL);
    CHECK_EQ(wm_mold_builder_flush(&b), 0);
    /* A message that can never fit. */
    uint8_t tiny[30];
    CHECK_EQ(wm_mold_builder_init(&b, "MD", 5, tiny, sizeof(tiny)), 0);
    fill_add(&m, 1);
    CHECK_EQ(wm_mold_builder_add_itch(&b, &m), -EMSGSIZE);
    CHECK_EQ(wm_mold_builder_heartbeat(&b, tiny, sizeof(tiny)), 20);
    CHECK_EQ(wm_mold_decode(tiny, 20, &pkt, &st), 0);
    CHECK_EQ(pkt.seq, 5);
    CHECK_EQ(pkt.count, 0);
}

static void seq_packet(uint8_t *buf, size_t *n, const char *session, uint64_t seq, uint16_t count,
                       struct wm_mold_packet *pkt)
{
    uint16_t lens[16];
    for (int i = 0; i < 16; i++)
        lens[i] = 1;
    *n = make_packet(buf, seq, count, lens, count == 0xffff ? 0 : count);
    memcpy(buf, session, 10);
    int rc = wm_mold_decode(buf, *n, pkt, &st);
    CHECK_EQ(rc, 0);
}

static void test_seq(void)
{
    struct wm_mold_seq_table *t;
    CHECK_EQ(wm_mold_seq_create(0, 0, &t), -EINVAL);
    CHECK_EQ(wm_mold_seq_create(2, WM_MOLD_SEQ_GAP_DROP, &t), 0);
    uint8_t buf[256];
    size_t n;
    struct wm_mold_packet pkt;
    struct wm_mold_seq_result r;

    seq_packet(buf, &n, "CLIENTA   ", 1, 3, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 42, &pkt, &r), 3);
    CHECK_EQ(r.status, WM_MOLD_SEQ_IN_ORDER);
    CHECK_EQ(wm_mold_seq_expected(t, 42, (const uint8_t *)"CLIENTA   "), 4);
    /* The same packet again: a duplicate, nothing applied. */
    CHECK_EQ(wm_mold_seq_check(t, 42, &pkt, &r), 0);
    CHECK_EQ(r.status, WM_MOLD_SEQ_DUPLICATE);
    CHECK_EQ(t->counts[WM_SEQ_DUPLICATE_MESSAGES], 3);
    /* Overlap: 3..5 when 4 is expected. */
    seq_packet(buf, &n, "CLIENTA   ", 3, 3, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 42, &pkt, &r), 2);
    CHECK_EQ(r.status, WM_MOLD_SEQ_OVERLAP);
    CHECK_EQ(r.skip, 1);
    CHECK_EQ(r.apply, 2);
    /* Gap: 9 when 6 is expected: reported, not applied. */
    seq_packet(buf, &n, "CLIENTA   ", 9, 2, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 42, &pkt, &r), 0);
    CHECK_EQ(r.status, WM_MOLD_SEQ_GAP);
    CHECK_EQ(r.gap_first, 6);
    CHECK_EQ(r.gap_count, 3);
    CHECK_EQ(wm_mold_seq_expected(t, 42, (const uint8_t *)"CLIENTA   "), 6);
    /* A heartbeat ahead reports the gap too. */
    seq_packet(buf, &n, "CLIENTA   ", 8, 0, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 42, &pkt, &r), 0);
    CHECK_EQ(r.status, WM_MOLD_SEQ_GAP);
    /* The resend fills it. */
    seq_packet(buf, &n, "CLIENTA   ", 6, 5, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 42, &pkt, &r), 5);
    CHECK_EQ(t->counts[WM_SEQ_MESSAGES_APPLIED], 10);
    /* Same session name from another flow is another session. */
    seq_packet(buf, &n, "CLIENTA   ", 1, 1, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 43, &pkt, &r), 1);
    /* Table full (2 sessions). */
    seq_packet(buf, &n, "CLIENTB   ", 1, 1, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 42, &pkt, &r), 0);
    CHECK_EQ(r.status, WM_MOLD_SEQ_TABLE_FULL);
    CHECK_EQ(t->counts[WM_SEQ_TABLE_FULL], 1);
    /* End of session, then nothing more. */
    seq_packet(buf, &n, "CLIENTA   ", 11, 0xffff, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 42, &pkt, &r), 0);
    CHECK_EQ(t->counts[WM_SEQ_ENDED_SESSIONS], 1);
    seq_packet(buf, &n, "CLIENTA   ", 11, 1, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 42, &pkt, &r), 0);
    CHECK_EQ(r.status, WM_MOLD_SEQ_ENDED);
    wm_mold_seq_destroy(t);

    /* Gap-accepting mode: apply and jump; the late ones are duplicates. */
    CHECK_EQ(wm_mold_seq_create(4, WM_MOLD_SEQ_GAP_ACCEPT, &t), 0);
    seq_packet(buf, &n, "S         ", 5, 2, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 1, &pkt, &r), 2);
    CHECK_EQ(r.status, WM_MOLD_SEQ_GAP);
    CHECK_EQ(r.gap_count, 4);
    seq_packet(buf, &n, "S         ", 1, 4, &pkt);
    CHECK_EQ(wm_mold_seq_check(t, 1, &pkt, &r), 0);
    CHECK_EQ(r.status, WM_MOLD_SEQ_DUPLICATE);
    wm_mold_seq_destroy(t);
}

static void fill_enter(struct wm_ouch_in *m)
{
    memset(m, 0, sizeof(*m));
    m->type = 'O';
    m->u.enter.user_ref_num = 7;
    m->u.enter.side = 'B';
    m->u.enter.quantity = 300;
    memcpy(m->u.enter.symbol, "MSFT    ", 8);
    m->u.enter.price = 3105000;     /* 310.5000 */
    m->u.enter.time_in_force = '0';
    m->u.enter.display = 'Y';
    m->u.enter.capacity = 'A';
    m->u.enter.iso = 'N';
    m->u.enter.cross_type = 'N';
    memcpy(m->u.enter.cl_ord_id, "ORDER-0000001 ", 14);
}

static void test_ouch_enter_bytes(void)
{
    struct wm_ouch_in m, d;
    fill_enter(&m);
    m.u.enter.app.present = (1u << WM_OUCH_TAG_MIN_QTY) | (1u << WM_OUCH_TAG_POST_ONLY);
    m.u.enter.app.min_qty = 100;
    m.u.enter.app.post_only = 'P';
    uint8_t buf[128], want[128];
    int n = wm_ouch_encode_in(buf, sizeof(buf), &m);
    CHECK_EQ(n, 47 + 6 + 3);
    /* Hand-assembled from the spec's field list. */
    uint8_t *p = want;
    *p++ = 'O';
    put32(p, 7); p += 4;
    *p++ = 'B';
    put32(p, 300); p += 4;
    memcpy(p, "MSFT    ", 8); p += 8;
    put64(p, 3105000); p += 8;
    *p++ = '0'; *p++ = 'Y'; *p++ = 'A'; *p++ = 'N'; *p++ = 'N';
    memcpy(p, "ORDER-0000001 ", 14); p += 14;
    put16(p, 9); p += 2;
    *p++ = 5; *p++ = 3; put32(p, 100); p += 4;      /* MinQty */
    *p++ = 2; *p++ = 12; *p++ = 'P';                /* PostOnly */
    CHECK_EQ(p - want, n);
    CHECK(memcmp(buf, want, (size_t)n) == 0);
    CHECK_EQ(wm_ouch_decode_in(buf, (size_t)n, &d, &st), 0);
    CHECK_EQ(d.type, 'O');
    CHECK_EQ(d.len, n);
    CHECK_EQ(d.u.enter.price, 3105000);
    CHECK_EQ(d.u.enter.app.min_qty, 100);
    CHECK_EQ(d.u.enter.app.post_only, 'P');
    CHECK_EQ(d.u.enter.app.present, m.u.enter.app.present);

    /* Field by field, each bad value has its own reason. */
    struct { int off; uint8_t val; int reason; } bad[] = {
        { 5, 'X', WM_OUCH_DROP_BAD_SIDE },
        { 10, 'a' - 0x60, WM_OUCH_DROP_BAD_SYMBOL },
        { 11, ' ', WM_OUCH_DROP_BAD_SYMBOL },            /* embedded space */
        { 26, '9', WM_OUCH_DROP_BAD_TIF },
        { 27, 'Z', WM_OUCH_DROP_BAD_DISPLAY },
        { 28, 'Z', WM_OUCH_DROP_BAD_CAPACITY },
        { 29, 'Z', WM_OUCH_DROP_BAD_ISO },
        { 30, 'Z', WM_OUCH_DROP_BAD_CROSS_TYPE },
        { 31, 0x80, WM_OUCH_DROP_BAD_TEXT },
        { 0, 'Z', WM_OUCH_DROP_UNKNOWN_TYPE },
        { 47, 3, WM_OUCH_DROP_APPENDAGE_BAD_LENGTH },
        { 47, 0, WM_OUCH_DROP_APPENDAGE_BAD_LENGTH },
        { 47, 60, WM_OUCH_DROP_APPENDAGE_TRUNCATED },
        { 48, 8, WM_OUCH_DROP_APPENDAGE_UNKNOWN_TAG },
        { 48, 99, WM_OUCH_DROP_APPENDAGE_UNKNOWN_TAG },
        { 48, 27, WM_OUCH_DROP_APPENDAGE_TAG_NOT_ALLOWED },
        { 54, 3, WM_OUCH_DROP_APPENDAGE_BAD_LENGTH },
        { 55, 'X', WM_OUCH_DROP_BAD_YES_NO },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t copy[128];
        memcpy(copy, buf, (size_t)n);
        copy[bad[i].off] = bad[i].val;
        uint64_t before = st.counts[bad[i].reason];
        int r = wm_ouch_decode_in(copy, (size_t)n, &d, &st);
        if (r != bad[i].reason)
            fprintf(stderr, "case %zu: off %d got %d want %d\n", i, bad[i].off, r, bad[i].reason);
        CHECK_EQ(r, bad[i].reason);
        CHECK_EQ(st.counts[bad[i].reason], before + 1);
    }
    /* The same tag twice. */
    uint8_t copy[128];
    memcpy(copy, buf, 47);
    put16(copy + 45, 6);
    memcpy(copy + 47, "\x02\x0cP\x02\x0cN", 6);
    CHECK_EQ(wm_ouch_decode_in(copy, 53, &d, &st), WM_OUCH_DROP_APPENDAGE_DUPLICATE_TAG);
    copy[48] = 2;   /* Firm with a 1-byte value */
    CHECK_EQ(wm_ouch_decode_in(copy, 53, &d, &st), WM_OUCH_DROP_APPENDAGE_BAD_LENGTH);
    put16(copy + 45, 1);   /* a lone length byte */
    CHECK_EQ(wm_ouch_decode_in(copy, 48, &d, &st), WM_OUCH_DROP_APPENDAGE_TRUNCATED);
    /* Prices and quantities out of range. */
    memcpy(copy, buf, (size_t)n);
    put64(copy + 18, 0);
    CHECK_EQ(wm_ouch_decode_in(copy, (size_t)n, &d, &st), WM_OUCH_DROP_BAD_PRICE);
    put64(copy + 18, (uint64_t)-5);
    CHECK_EQ(wm_ouch_decode_in(copy, (size_t)n, &d, &st), WM_OUCH_DROP_BAD_PRICE);
    put64(copy + 18, 0x80000000ull);
    CHECK_EQ(wm_ouch_decode_in(copy, (size_t)n, &d, &st), WM_OUCH_DROP_BAD_PRICE);
    memcpy(copy, buf, (size_t)n);
    put32(copy + 6, 0);
    CHECK_EQ(wm_ouch_decode_in(copy, (size_t)n, &d, &st), WM_OUCH_DROP_BAD_QUANTITY);
    put32(copy + 6, WM_OUCH_MAX_QUANTITY + 1);
    CHECK_EQ(wm_ouch_decode_in(copy, (size_t)n, &d, &st), WM_OUCH_DROP_BAD_QUANTITY);
    put32(copy + 6, 50);    /* below MinQty 100 */
    CHECK_EQ(wm_ouch_decode_in(copy, (size_t)n, &d, &st), WM_OUCH_DROP_BAD_MIN_QTY);
    memcpy(copy, buf, (size_t)n);
    put32(copy + 1, 0);
    CHECK_EQ(wm_ouch_decode_in(copy, (size_t)n, &d, &st), WM_OUCH_DROP_BAD_USER_REF);
    /* Lengths that disagree. */
    CHECK_EQ(wm_ouch_decode_in(buf, 46, &d, &st), WM_OUCH_DROP_TRUNCATED);
    CHECK_EQ(wm_ouch_decode_in(buf, (size_t)n - 1, &d, &st), WM_OUCH_DROP_LENGTH_MISMATCH);
    CHECK_EQ(wm_ouch_decode_in(buf, 0, &d, &st), WM_OUCH_DROP_TRUNCATED);
    memcpy(copy, buf, (size_t)n);
    copy[n] = 0;
    CHECK_EQ(wm_ouch_decode_in(copy, (size_t)n + 1, &d, &st), WM_OUCH_DROP_LENGTH_MISMATCH);
    /* The encoder refuses what the decoder would drop. */
    m.u.enter.side = 'Q';
    CHECK_EQ(wm_ouch_encode_in(buf, sizeof(buf), &m), -EINVAL);
    fill_enter(&m);
    CHECK_EQ(wm_ouch_encode_in(buf, 46, &m), -ENOBUFS);
    m.u.enter.app.present = 1u << WM_OUCH_TAG_SIDE;     /* not allowed on Enter */
    CHECK_EQ(wm_ouch_encode_in(buf, sizeof(buf), &m), -EINVAL);
}

/* Every tag a message may carry, with a legal value; the tags the message
 * type does not allow are left out (the encoder refuses them). */
static uint32_t fill_all_tags(struct wm_ouch_in *m, struct wm_ouch_appendage *app)
{
    app->min_qty = 100;
    app->max_floor = 0;
    app->customer_type = 'R';
    app->price_type = 'L';
    app->peg_offset = -100;
    app->discretion_price = 3104000;
    app->discretion_price_type = 'L';
    app->discretion_peg_offset = 100;
    app->post_only = 'N';
    app->random_reserves = 0;
    memcpy(app->firm, "WMCH", 4);
    memcpy(app->route, "RTE1", 4);
    app->expire_time = 3600;
    app->trade_now = 'N';
    app->handle_inst = 'I';
    app->bbo_weight = '0';
    app->display_qty = 100;
    app->display_price = 3105000;
    app->group_id = 7;
    app->shares_located = 'N';
    app->side = 'S';
    app->user_ref_idx = 1;
    app->secondary_ord_ref = 42;
    uint32_t kept = 0;
    for (unsigned tag = 1; tag <= WM_OUCH_TAG_MAX; tag++) {
        app->present = kept | (1u << tag);
        if (wm_ouch_encoded_len_in(m) > 0)
            kept |= 1u << tag;
    }
    app->present = kept;
    return kept;
}

/* The longest legal inbound message, derived from the layout tables: each
 * type with every tag it allows (once each: a repeat is refused) encodes,
 * decodes, and is not longer than WM_OUCH_MAX_IN_MESSAGE; Enter Order's is
 * exactly that long.  One byte more is not a legal message. */
static void test_ouch_longest_inbound(void)
{
    uint8_t buf[512];
    struct wm_ouch_in m, d;
    int longest = 0;
    const char types[] = "OUC";
    for (const char *t = types; *t; t++) {
        struct wm_ouch_appendage *app;
        if (*t == 'O') {
            fill_enter(&m);
            app = &m.u.enter.app;
        } else if (*t == 'U') {
            memset(&m, 0, sizeof(m));
            m.type = 'U';
            m.u.replace.orig_user_ref_num = 7;
            m.u.replace.user_ref_num = 8;
            m.u.replace.quantity = 300;
            m.u.replace.price = 3100000;
            m.u.replace.time_in_force = '0';
            m.u.replace.display = 'Y';
            m.u.replace.iso = 'N';
            memcpy(m.u.replace.cl_ord_id, "REPLACE-1     ", 14);
            app = &m.u.replace.app;
        } else {
            memset(&m, 0, sizeof(m));
            m.type = 'C';
            m.u.mass_cancel.user_ref_num = 9;
            memcpy(m.u.mass_cancel.firm, "FIRM", 4);
            memcpy(m.u.mass_cancel.symbol, "MSFT    ", 8);
            app = &m.u.mass_cancel.app;
        }
        uint32_t tags = fill_all_tags(&m, app);
        int n = wm_ouch_encode_in(buf, sizeof(buf), &m);
        CHECK(n > 0);
        CHECK_EQ(wm_ouch_decode_in(buf, (size_t)n, &d, &st), 0);
        CHECK_EQ(d.type, *t);
        CHECK_EQ(d.len, n);
        CHECK(n <= WM_OUCH_MAX_IN_MESSAGE);
        if (*t == 'O') {
            CHECK_EQ(__builtin_popcount(tags), 18);
            CHECK_EQ(d.u.enter.app.present, tags);
        }
        if (n > longest)
            longest = n;
    }
    CHECK_EQ(longest, WM_OUCH_MAX_IN_MESSAGE);
    /* Enter Order plus a repeated tag (the only way to grow it) is refused. */
    fill_enter(&m);
    fill_all_tags(&m, &m.u.enter.app);
    int n = wm_ouch_encode_in(buf, sizeof(buf), &m);
    CHECK_EQ(n, WM_OUCH_MAX_IN_MESSAGE);
    buf[n] = 2;
    buf[n + 1] = WM_OUCH_TAG_POST_ONLY;
    buf[n + 2] = 'N';
    uint16_t app_len = (uint16_t)(n + 3 - WM_OUCH_ENTER_ORDER_LEN);
    buf[WM_OUCH_ENTER_ORDER_LEN - 2] = (uint8_t)(app_len >> 8);
    buf[WM_OUCH_ENTER_ORDER_LEN - 1] = (uint8_t)app_len;
    CHECK_EQ(wm_ouch_decode_in(buf, (size_t)n + 3, &d, &st), WM_OUCH_DROP_APPENDAGE_DUPLICATE_TAG);
}

static void test_ouch_roundtrip(void)
{
    uint8_t buf[256];
    struct wm_ouch_in in, din;
    /* Inbound, every type. */
    const char in_types[] = "OUXMQC";
    for (const char *t = in_types; *t; t++) {
        memset(&in, 0, sizeof(in));
        in.type = *t;
        switch (*t) {
        case 'O': fill_enter(&in); in.u.enter.app.present = 1u << WM_OUCH_TAG_MAX_FLOOR; in.u.enter.app.max_floor = 100; break;
        case 'U':
            in.u.replace.orig_user_ref_num = 7; in.u.replace.user_ref_num = 8;
            in.u.replace.quantity = 200; in.u.replace.price = 3100000;
            in.u.replace.time_in_force = '0'; in.u.replace.display = 'Y'; in.u.replace.iso = 'N';
            memcpy(in.u.replace.cl_ord_id, "REPLACE-1     ", 14);
            break;
        case 'X': in.u.cancel.user_ref_num = 8; in.u.cancel.quantity = 0; break;
        case 'M': in.u.modify.user_ref_num = 8; in.u.modify.side = 'S'; in.u.modify.quantity = 50; break;
        case 'Q': break;
        case 'C':
            in.u.mass_cancel.user_ref_num = 9; memcpy(in.u.mass_cancel.firm, "FIRM", 4);
            memcpy(in.u.mass_cancel.symbol, "        ", 8);
            in.u.mass_cancel.app.present = 1u << WM_OUCH_TAG_SIDE; in.u.mass_cancel.app.side = 'B';
            break;
        }
        int n = wm_ouch_encode_in(buf, sizeof(buf), &in);
        CHECK(n > 0);
        CHECK_EQ(n, wm_ouch_encoded_len_in(&in));
        CHECK_EQ(wm_ouch_decode_in(buf, (size_t)n, &din, &st), 0);
        uint8_t again[256];
        CHECK_EQ(wm_ouch_encode_in(again, sizeof(again), &din), n);
        CHECK(memcmp(buf, again, (size_t)n) == 0);
    }
    /* Outbound, every type. */
    struct wm_ouch_out o, dout;
    const char out_types[] = "SAUCEJIMTQ";
    for (const char *t = out_types; *t; t++) {
        memset(&o, 0, sizeof(o));
        o.type = *t;
        o.timestamp = 37800123456789ull;
        switch (*t) {
        case 'S': o.u.system_event.event_code = 'S'; break;
        case 'A': case 'U': {
            struct wm_ouch_order_accepted *a = &o.u.accepted;
            if (*t == 'U') {
                o.u.replaced.orig_user_ref_num = 7;
                o.u.replaced.user_ref_num = 8;
                a = NULL;
            }
            char *side = a ? &a->side : &o.u.replaced.side;
            *side = 'S';
            if (a) {
                a->user_ref_num = 7; a->quantity = 300; memcpy(a->symbol, "MSFT    ", 8);
                a->price = 3105000; a->time_in_force = '0'; a->display = 'Y'; a->order_ref = 1001;
                a->capacity = 'A'; a->iso = 'N'; a->cross_type = 'N'; a->order_state = 'L';
                memcpy(a->cl_ord_id, "ORDER-0000001 ", 14);
                a->app.present = 1u << WM_OUCH_TAG_MIN_QTY; a->app.min_qty = 100;
            } else {
                struct wm_ouch_order_replaced *r = &o.u.replaced;
                r->quantity = 200; memcpy(r->symbol, "MSFT    ", 8); r->price = 3100000;
                r->time_in_force = '0'; r->display = 'Y'; r->order_ref = 1002; r->capacity = 'A';
                r->iso = 'N'; r->cross_type = 'N'; r->order_state = 'L';
                memcpy(r->cl_ord_id, "REPLACE-1     ", 14);
            }
            break;
        }
        case 'C': o.u.canceled.user_ref_num = 8; o.u.canceled.quantity = 200; o.u.canceled.reason = 'U'; break;
        case 'E':
            o.u.executed.user_ref_num = 8; o.u.executed.quantity = 100; o.u.executed.price = 3100000;
            o.u.executed.liquidity_flag = 'A'; o.u.executed.match_number = 55;
            break;
        case 'J':
            o.u.rejected.user_ref_num = 9; o.u.rejected.reason = WM_OUCH_REJECT_INVALID_PRICE;
            memcpy(o.u.rejected.cl_ord_id, "BAD-1         ", 14);
            break;
        case 'I': o.u.cancel_reject.user_ref_num = 10; break;
        case 'M': o.u.modified.user_ref_num = 8; o.u.modified.side = 'S'; o.u.modified.quantity = 50; break;
        case 'T':
            o.u.priority_update.user_ref_num = 8; o.u.priority_update.price = 3100000;
            o.u.priority_update.display = 'Y'; o.u.priority_update.order_ref = 1002;
            break;
        case 'Q': o.u.account.next_user_ref_num = 11; break;
        }
        int n = wm_ouch_encode_out(buf, sizeof(buf), &o);
        if (n <= 0)
            fprintf(stderr, "encode_out %c: %d\n", *t, n);
        CHECK(n > 0);
        CHECK_EQ(n, wm_ouch_encoded_len_out(&o));
        CHECK_EQ(buf[0], (uint8_t)*t);
        CHECK_EQ(wm_ouch_decode_out(buf, (size_t)n, &dout, &st), 0);
        CHECK_EQ(dout.timestamp, o.timestamp);
        uint8_t again[256];
        CHECK_EQ(wm_ouch_encode_out(again, sizeof(again), &dout), n);
        CHECK(memcmp(buf, again, (size_t)n) == 0);
        /* Every truncation is caught. */
        for (int k = 0; k < n; k++)
            CHECK(wm_ouch_decode_out(buf, (size_t)k, &dout, &st) != 0);
    }
    /* Rejected reason 0 and a timestamp past midnight are refused. */
    memset(&o, 0, sizeof(o));
    o.type = 'J';
    o.u.rejected.user_ref_num = 1;
    memcpy(o.u.rejected.cl_ord_id, "X             ", 14);
    CHECK_EQ(wm_ouch_encode_out(buf, sizeof(buf), &o), -EINVAL);
    o.u.rejected.reason = 1;
    o.timestamp = WM_ITCH_NS_PER_DAY;
    CHECK_EQ(wm_ouch_encode_out(buf, sizeof(buf), &o), -EINVAL);
    o.type = 'Z';
    CHECK_EQ(wm_ouch_encode_out(buf, sizeof(buf), &o), -EINVAL);
}

static void test_itch(void)
{
    struct wm_itch_msg m, d;
    uint8_t buf[64], want[64];
    fill_add(&m, 0x0102030405060708ull);
    m.tracking_number = 3;
    int n = wm_itch_encode(buf, sizeof(buf), &m);
    CHECK_EQ(n, 36);
    uint8_t *p = want;
    *p++ = 'A';
    put16(p, 1); p += 2;
    put16(p, 3); p += 2;
    put16(p, (unsigned)(34200000000000ull >> 32)); put32(p + 2, (uint32_t)34200000000000ull); p += 6;
    put64(p, 0x0102030405060708ull); p += 8;
    *p++ = 'B';
    put32(p, 100); p += 4;
    memcpy(p, "AAPL    ", 8); p += 8;
    put32(p, 1500000); p += 4;
    CHECK_EQ(p - want, 36);
    CHECK(memcmp(buf, want, 36) == 0);
    CHECK_EQ(wm_itch_decode(buf, 36, &d, &st), 0);
    CHECK_EQ(d.timestamp, 34200000000000ull);
    CHECK_EQ(d.u.add.order_ref, 0x0102030405060708ull);

    const char types[] = "SRHAFECXDUP";
    for (const char *t = types; *t; t++) {
        memset(&m, 0, sizeof(m));
        m.type = *t;
        m.stock_locate = 2;
        m.timestamp = 1;
        switch (*t) {
        case 'S': m.u.system_event.event_code = 'O'; break;
        case 'R': {
            struct wm_itch_stock_directory *r = &m.u.directory;
            memcpy(r->stock, "ZVZZT   ", 8); r->market_category = 'Q'; r->financial_status = 'N';
            r->round_lot_size = 100; r->round_lots_only = 'N'; r->issue_classification = 'C';
            memcpy(r->issue_sub_type, "Z ", 2); r->authenticity = 'T'; r->short_sale_threshold = 'N';
            r->ipo_flag = ' '; r->luld_ref_price_tier = '1'; r->etp_flag = 'N'; r->inverse_indicator = 'N';
            break;
        }
        case 'H':
            memcpy(m.u.trading_action.stock, "ZVZZT   ", 8); m.u.trading_action.trading_state = 'T';
            m.u.trading_action.reserved = ' '; memcpy(m.u.trading_action.reason, "    ", 4);
            break;
        case 'A': case 'F':
            m.u.add.order_ref = 1; m.u.add.side = 'S'; m.u.add.shares = 10;
            memcpy(m.u.add.stock, "ZVZZT   ", 8); m.u.add.price = 100; memcpy(m.u.add.attribution, "WMCH", 4);
            break;
        case 'E': case 'C':
            m.u.executed.order_ref = 1; m.u.executed.shares = 5; m.u.executed.match_number = 9;
            m.u.executed.printable = 'Y'; m.u.executed.price = 100;
            break;
        case 'X': m.u.cancel.order_ref = 1; m.u.cancel.shares = 2; break;
        case 'D': m.u.del.order_ref = 1; break;
        case 'U':
            m.u.replace.orig_order_ref = 1; m.u.replace.new_order_ref = 2;
            m.u.replace.shares = 10; m.u.replace.price = 101;
            break;
        case 'P':
            m.u.trade.order_ref = 0; m.u.trade.side = 'B'; m.u.trade.shares = 10;
            memcpy(m.u.trade.stock, "ZVZZT   ", 8); m.u.trade.price = 100; m.u.trade.match_number = 10;
            break;
        }
        n = wm_itch_encode(buf, sizeof(buf), &m);
        CHECK_EQ(n, (int)wm_itch_message_len(*t));
        CHECK_EQ(wm_itch_decode(buf, (size_t)n, &d, &st), 0);
        uint8_t again[64];
        CHECK_EQ(wm_itch_encode(again, sizeof(again), &d), n);
        CHECK(memcmp(again, buf, (size_t)n) == 0);
        CHECK_EQ(wm_itch_decode(buf, (size_t)n - 1, &d, &st), WM_ITCH_DROP_LENGTH_MISMATCH);
    }
    /* Drop reasons. */
    fill_add(&m, 5);
    n = wm_itch_encode(buf, sizeof(buf), &m);
    uint8_t c[64];
    memcpy(c, buf, 36); c[19] = 'Z';
    CHECK_EQ(wm_itch_decode(c, 36, &d, &st), WM_ITCH_DROP_BAD_SIDE);
    memcpy(c, buf, 36); c[24] = 0xc3;
    CHECK_EQ(wm_itch_decode(c, 36, &d, &st), WM_ITCH_DROP_BAD_SYMBOL);
    memcpy(c, buf, 36); put32(c + 32, 0);
    CHECK_EQ(wm_itch_decode(c, 36, &d, &st), WM_ITCH_DROP_BAD_PRICE);
    memcpy(c, buf, 36); put32(c + 20, 0);
    CHECK_EQ(wm_itch_decode(c, 36, &d, &st), WM_ITCH_DROP_BAD_QUANTITY);
    memcpy(c, buf, 36); put64(c + 11, 0);
    CHECK_EQ(wm_itch_decode(c, 36, &d, &st), WM_ITCH_DROP_BAD_ORDER_REF);
    memcpy(c, buf, 36); memset(c + 5, 0xff, 6);
    CHECK_EQ(wm_itch_decode(c, 36, &d, &st), WM_ITCH_DROP_BAD_TIMESTAMP);
    memcpy(c, buf, 36); c[0] = 'z';
    CHECK_EQ(wm_itch_decode(c, 36, &d, &st), WM_ITCH_DROP_UNKNOWN_TYPE);
    CHECK_EQ(wm_itch_decode(c, 0, &d, &st), WM_ITCH_DROP_LENGTH_MISMATCH);
    m.timestamp = WM_ITCH_NS_PER_DAY;
    CHECK_EQ(wm_itch_encode(buf, sizeof(buf), &m), -EINVAL);
    fill_add(&m, 5);
    m.u.add.price = WM_ITCH_PRICE_MAX + 1;
    CHECK_EQ(wm_itch_encode(buf, sizeof(buf), &m), -EINVAL);
    fill_add(&m, 5);
    CHECK_EQ(wm_itch_encode(buf, 35, &m), -ENOBUFS);
}

int main(void)
{
    test_mold_decode();
    test_builder();
    test_seq();
    test_ouch_enter_bytes();
    test_ouch_roundtrip();
    test_ouch_longest_inbound();
    test_itch();
    return check_finish("test_codec");
}
