/* test_gateway.c - the OUCH <-> matcher <-> ITCH gateway from C: tables,
 * timestamp conversion by callback, a small session end to end through the
 * real matcher into MoldUDP64 builders (ITCH read back by the C decoder),
 * refusals counted, and the order table: every Order Accepted echoes its
 * ClOrdID through many inserts and removals in scrambled order, Modify is
 * answered with Order Modified, System Event, the table full. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wirematch.h"
#include "check.h"

static uint64_t minus_base(void *ctx, uint64_t ts)
{
    return ts - *(const uint64_t *)ctx;
}

static struct wm_ouch_in enter(uint32_t ref, char side, uint32_t qty, int64_t price)
{
    struct wm_ouch_in m;
    memset(&m, 0, sizeof(m));
    m.type = 'O';
    m.u.enter.user_ref_num = ref;
    m.u.enter.side = side;
    m.u.enter.quantity = qty;
    memcpy(m.u.enter.symbol, "WMT     ", 8);
    m.u.enter.price = price;
    m.u.enter.time_in_force = '0';
    m.u.enter.display = 'Y';
    m.u.enter.capacity = 'A';
    m.u.enter.iso = 'N';
    m.u.enter.cross_type = 'N';
    memset(m.u.enter.cl_ord_id, ' ', 14);
    return m;
}

/* Apply one command and publish its events; returns the event count. */
static int run(struct wm_gw *gw, struct wm_matcher *m, const struct wm_cmd *c,
               struct wm_mold_builder *feed, struct wm_event *evs)
{
    unsigned used = 0;
    int n = wm_matcher_apply(m, c, 1, evs, 64, &used);
    CHECK_EQ(used, 1);
    for (int i = 0; i < n; i++) {
        int r = wm_gw_publish_itch(gw, &evs[i], feed);
        CHECK(r >= 0);
        r = wm_gw_publish_ouch(gw, &evs[i]);
        CHECK(r >= 0);
    }
    return n;
}

/* Decode every OUCH message of a flushed builder into out[]; the count. */
static int read_ouch(struct wm_mold_builder *b, uint8_t *buf, struct wm_ouch_out *out, int cap)
{
    uint32_t len = wm_mold_builder_flush(b);
    if (!len)
        return 0;
    struct wm_mold_packet pkt;
    CHECK_EQ(wm_mold_decode(buf, len, &pkt, NULL), 0);
    uint16_t blen;
    const uint8_t *p;
    int n = 0;
    while ((p = wm_mold_next_block(&pkt, &blen)) && n < cap) {
        CHECK_EQ(wm_ouch_decode_out(p, blen, &out[n], NULL), 0);
        n++;
    }
    return n;
}

/* Map one OUCH message of session 1, apply it, publish the events with the
 * -ENOBUFS retry; the gateway's own reply goes to the session too. */
static int submit(struct wm_gw *gw, struct wm_matcher *m, const struct wm_ouch_in *in,
                  struct wm_mold_builder *ob)
{
    struct wm_cmd c;
    struct wm_ouch_out reply;
    struct wm_event evs[64];
    int r = wm_gw_ouch_to_cmd(gw, 1, 100, in, &c, &reply);
    if (reply.type)
        CHECK_EQ(wm_mold_builder_add_ouch(ob, &reply), 0);
    if (r)
        return r;
    unsigned used = 0, ncmd = 1;
    do {    /* a mass cancel may take several calls */
        int n = wm_matcher_apply(m, &c, ncmd, evs, 64, &used);
        CHECK(n > 0);
        ncmd = 0;
        for (int i = 0; i < n; i++) {
            int pr = wm_gw_publish_ouch(gw, &evs[i]);
            CHECK(pr >= 0);
        }
    } while (wm_matcher_pending(m));
    return 0;
}

static void test_order_table(void)
{
    enum { N = 200 };
    struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = 1024, .max_sessions = 8};
    struct wm_matcher *m;
    CHECK_EQ(wm_matcher_create(&mc, &m), 0);
    struct wm_instrument_config ic = {.id = 2, .max_levels = 512, .tick_size = 1, .lot_size = 1,
                                      .min_order_qty = 1, .max_order_qty = 1000000,
                                      .ref_price = 10000};
    CHECK_EQ(wm_matcher_add_instrument(m, &ic), 0);
    static struct wm_gw gw;
    struct wm_gw_config cfg = {.matcher = m, .max_orders = N};
    cfg.max_orders = WM_GW_MAX_ORDERS + 1;
    CHECK_EQ(wm_gw_init(&gw, &cfg), -EINVAL);
    cfg.max_orders = N;
    CHECK_EQ(wm_gw_init(&gw, &cfg), 0);
    CHECK_EQ(gw.max_orders, N);
    CHECK_EQ(wm_gw_add_instrument(&gw, "WMT", 2, 1, 100), 0);
    static uint8_t obuf[WM_MOLD_MTU_PAYLOAD];
    static struct wm_ouch_out out[N + 8];
    struct wm_mold_builder ob;
    CHECK_EQ(wm_mold_builder_init(&ob, "S1", 1, obuf, sizeof(obuf)), 0);
    CHECK_EQ(wm_gw_add_session(&gw, 1, &ob), 0);

    /* Start of day. */
    CHECK_EQ(wm_gw_publish_system_event(&gw, 1, 'S', 100), 0);
    CHECK_EQ(wm_gw_publish_system_event(&gw, 1, 'Q', 100), -EINVAL);
    CHECK_EQ(wm_gw_publish_system_event(&gw, 9, 'S', 100), WM_GW_OUCH_DROP_UNKNOWN_SESSION);
    CHECK_EQ(read_ouch(&ob, obuf, out, 1), 1);
    CHECK_EQ(out[0].type, 'S');
    CHECK_EQ(out[0].u.system_event.event_code, 'S');

    /* N resting orders (sells at distinct prices, so nothing trades), each
     * with its own ClOrdID and Capacity P: each Order Accepted echoes them. */
    for (uint32_t i = 1; i <= N; i++) {
        struct wm_ouch_in o = enter(i, i % 2 ? 'S' : 'T', 100, 1000000 + 100 * i);
        o.u.enter.capacity = 'P';
        char id[15];
        snprintf(id, sizeof(id), "ID-%-11u", i);
        memcpy(o.u.enter.cl_ord_id, id, 14);
        CHECK_EQ(submit(&gw, m, &o, &ob), 0);
        CHECK_EQ(read_ouch(&ob, obuf, out, 1), 1);
        CHECK_EQ(out[0].type, 'A');
        CHECK_EQ(out[0].u.accepted.user_ref_num, i);
        CHECK(memcmp(out[0].u.accepted.cl_ord_id, id, 14) == 0);
        CHECK_EQ(out[0].u.accepted.side, i % 2 ? 'S' : 'T');
        CHECK_EQ(out[0].u.accepted.capacity, 'P');
    }
    CHECK_EQ(gw.n_orders, N);
    /* Full: the next order is refused by the gateway, Processing error. */
    struct wm_ouch_in o = enter(N + 1, 'S', 100, 2000000);
    memcpy(o.u.enter.cl_ord_id, "ONE TOO MANY  ", 14);
    CHECK_EQ(submit(&gw, m, &o, &ob), WM_GW_IN_DROP_ORDER_TABLE_FULL);
    CHECK_EQ(read_ouch(&ob, obuf, out, 1), 1);
    CHECK_EQ(out[0].type, 'J');
    CHECK_EQ(out[0].u.rejected.reason, WM_OUCH_REJECT_PROCESSING_ERROR);
    CHECK(memcmp(out[0].u.rejected.cl_ord_id, "ONE TOO MANY  ", 14) == 0);

    /* Cancel in a scrambled order (a stride coprime with N) two thirds of
     * them; modify the rest: Order Modified, sells may switch S <-> T. */
    uint32_t stride = 7;
    static uint8_t modified[N + 1];
    for (uint32_t k = 0; k < N; k++) {
        uint32_t ref = (k * stride) % N + 1;
        struct wm_ouch_in x;
        memset(&x, 0, sizeof(x));
        if (k % 3) {
            x.type = 'X';
            x.u.cancel.user_ref_num = ref;
            x.u.cancel.quantity = 0;
        } else {
            modified[ref] = 1;
            x.type = 'M';
            x.u.modify.user_ref_num = ref;
            x.u.modify.side = ref % 2 ? 'T' : 'S';
            x.u.modify.quantity = 40;
        }
        CHECK_EQ(submit(&gw, m, &x, &ob), 0);
        CHECK_EQ(read_ouch(&ob, obuf, out, 2), 1);
        if (k % 3) {
            CHECK_EQ(out[0].type, 'C');
            CHECK_EQ(out[0].u.canceled.quantity, 100);
        } else {
            CHECK_EQ(out[0].type, 'M');
            CHECK_EQ(out[0].u.modified.user_ref_num, ref);
            CHECK_EQ(out[0].u.modified.side, ref % 2 ? 'T' : 'S');
            CHECK_EQ(out[0].u.modified.quantity, 40);
        }
    }
    CHECK_EQ(gw.n_orders, (N + 2) / 3);
    CHECK_EQ(gw.n_orders, wm_matcher_live_orders(m));
    /* A buy-side change of a sell: Cancel Reject, counted. */
    struct wm_ouch_in mb;
    memset(&mb, 0, sizeof(mb));
    mb.type = 'M';
    mb.u.modify.user_ref_num = 1;
    mb.u.modify.side = 'B';
    mb.u.modify.quantity = 10;
    CHECK_EQ(submit(&gw, m, &mb, &ob), WM_GW_IN_DROP_MODIFY_SIDE);
    CHECK_EQ(read_ouch(&ob, obuf, out, 1), 1);
    CHECK_EQ(out[0].type, 'I');
    /* Every remaining order still echoes its ClOrdID, now via Replace:
     * Order Replaced carries the Replace's ClOrdID and the order's capacity. */
    uint32_t next = N + 2;
    for (uint32_t ref = 1; ref <= N; ref++) {
        if (!modified[ref])
            continue;
        struct wm_ouch_in u;
        memset(&u, 0, sizeof(u));
        u.type = 'U';
        u.u.replace.orig_user_ref_num = ref;
        u.u.replace.user_ref_num = next;
        u.u.replace.quantity = 30;
        u.u.replace.price = 3000000 + 100 * ref;
        u.u.replace.time_in_force = '0';
        u.u.replace.display = 'Y';
        u.u.replace.iso = 'N';
        char id[15];
        snprintf(id, sizeof(id), "RE-%-11u", next);
        memcpy(u.u.replace.cl_ord_id, id, 14);
        CHECK_EQ(submit(&gw, m, &u, &ob), 0);
        CHECK_EQ(read_ouch(&ob, obuf, out, 1), 1);
        CHECK_EQ(out[0].type, 'U');
        CHECK_EQ(out[0].u.replaced.orig_user_ref_num, ref);
        CHECK_EQ(out[0].u.replaced.user_ref_num, next);
        CHECK(memcmp(out[0].u.replaced.cl_ord_id, id, 14) == 0);
        CHECK_EQ(out[0].u.replaced.capacity, 'P');
        CHECK_EQ(out[0].u.replaced.side, ref % 2 ? 'T' : 'S');
        next++;
    }
    CHECK_EQ(gw.n_orders, wm_matcher_live_orders(m));
    /* End of day: mass cancel, the table empties. */
    struct wm_ouch_in mc2;
    memset(&mc2, 0, sizeof(mc2));
    mc2.type = 'C';
    mc2.u.mass_cancel.user_ref_num = next;
    memcpy(mc2.u.mass_cancel.firm, "WMCH", 4);
    memset(mc2.u.mass_cancel.symbol, ' ', 8);
    CHECK_EQ(submit(&gw, m, &mc2, &ob), 0);
    wm_mold_builder_flush(&ob);
    CHECK_EQ(gw.n_orders, 0);
    CHECK_EQ(wm_matcher_live_orders(m), 0);
    /* Freed twice is fine; init again works. */
    wm_gw_fini(&gw);
    wm_gw_fini(&gw);
    wm_gw_fini(NULL);
    wm_matcher_destroy(m);
}

/* The home slot of a session id in the gateway's index (gateway.c,
 * session_home): used here only to pick ids whose probe runs collide. */
static uint32_t home_of(uint32_t session)
{
    return (session * 0x9e3779b1u) >> (32 - __builtin_ctz(WM_GW_SESSION_INDEX));
}

/* The session table: a full table of ids that share home slots (long probe
 * runs that wrap around the index end) is found entry by entry, absent ids
 * are not, duplicates and overflow are refused; ctx is the owner's. */
static void test_session_table(void)
{
    static struct wm_gw gw;
    struct wm_gw_config cfg = {.max_orders = 16};
    CHECK_EQ(wm_gw_init(&gw, &cfg), 0);
    static uint32_t ids[WM_GW_MAX_SESSIONS];
    uint32_t n = 0;
    /* 40 ids on the last slot (their runs wrap to slot 0), 40 on slot 0,
     * then ids on slots 1.. (each finds its home taken), the rest spread. */
    uint32_t want[3] = { WM_GW_SESSION_INDEX - 1, 0, 1 };
    for (int k = 0; k < 3; k++)
        for (uint32_t id = 1; n < 40u * (uint32_t)(k + 1) && id < 50000000u; id++)
            if (home_of(id) == want[k])
                ids[n++] = id;
    CHECK_EQ(n, 120);
    for (uint32_t id = 0xfffffff0u; n < WM_GW_MAX_SESSIONS; id -= 7)
        ids[n++] = id;
    static struct wm_mold_builder b[WM_GW_MAX_SESSIONS];
    for (uint32_t i = 0; i < n; i++) {
        CHECK_EQ(wm_gw_add_session(&gw, ids[i], &b[i]), 0);
        CHECK_EQ(wm_gw_add_session(&gw, ids[i], NULL), -EEXIST);
    }
    CHECK_EQ(gw.n_sessions, WM_GW_MAX_SESSIONS);
    CHECK_EQ(wm_gw_add_session(&gw, 7, NULL), -ENOSPC);
    CHECK_EQ(wm_gw_add_session(&gw, ids[5], NULL), -EEXIST);
    int found = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct wm_gw_session *s = wm_gw_find_session(&gw, ids[i]);
        if (s && s->session == ids[i] && s->builder == &b[i] && s->ctx == NULL &&
            s->next_user_ref == 1)
            found++;
        if (s)
            s->ctx = &b[i];
    }
    CHECK_EQ(found, WM_GW_MAX_SESSIONS);
    for (uint32_t i = 0; i < n; i++)
        CHECK(wm_gw_find_session(&gw, ids[i])->ctx == &b[i]);
    /* Absent ids, including ones whose home is in the crowded runs. */
    CHECK(wm_gw_find_session(&gw, 0) == NULL);
    CHECK(wm_gw_find_session(&gw, 7) == NULL);
    CHECK(wm_gw_find_session(NULL, ids[0]) == NULL);
    int absent = 0;
    for (uint32_t id = ids[119] + 1; absent < 50 && id < 60000000u; id++)
        if (home_of(id) <= 1 || home_of(id) == WM_GW_SESSION_INDEX - 1) {
            CHECK(wm_gw_find_session(&gw, id) == NULL);
            absent++;
        }
    CHECK_EQ(absent, 50);
    wm_gw_fini(&gw);
}

/* wm_gw_publish_ouch_to names the session entry the message went to: on
 * success and on -ENOBUFS (the caller flushes that builder and retries:
 * the message is sent once), and NULL when there is no message or no
 * builder. */
static void test_publish_to(void)
{
    static struct wm_gw gw;
    struct wm_gw_config cfg = {.max_orders = 16};
    CHECK_EQ(wm_gw_init(&gw, &cfg), 0);
    CHECK_EQ(wm_gw_add_instrument(&gw, "WMT", 2, 1, 100), 0);
    uint8_t buf[WM_MOLD_HEADER_LEN + 2 + 70];   /* one Order Accepted */
    struct wm_mold_builder ob;
    CHECK_EQ(wm_mold_builder_init(&ob, "S1", 1, buf, sizeof(buf)), 0);
    CHECK_EQ(wm_gw_add_session(&gw, 11, &ob), 0);
    CHECK_EQ(wm_gw_add_session(&gw, 12, NULL), 0);
    struct wm_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = WM_EV_ACCEPTED;
    ev.ts = 1000;
    ev.session = 11;
    ev.client_id = 5;
    ev.order_ref = 77;
    ev.instrument = 2;
    ev.price = 100;
    ev.qty = 10;
    ev.flags = WM_SIDE_BUY;
    struct wm_gw_session *to = (struct wm_gw_session *)&ev;   /* overwritten */
    CHECK_EQ(wm_gw_publish_ouch_to(&gw, &ev, &to), 0);
    CHECK(to == wm_gw_find_session(&gw, 11));
    ev.client_id = 6;
    CHECK_EQ(wm_gw_publish_ouch_to(&gw, &ev, &to), -ENOBUFS);
    CHECK(to == wm_gw_find_session(&gw, 11));
    CHECK_EQ(gw.counts[WM_GW_OUCH_MESSAGES], 1);
    uint32_t len = wm_mold_builder_flush(to->builder);
    CHECK(len > 0);
    CHECK_EQ(wm_gw_publish_ouch_to(&gw, &ev, &to), 0);
    CHECK(to == wm_gw_find_session(&gw, 11));
    CHECK_EQ(gw.counts[WM_GW_OUCH_MESSAGES], 2);
    CHECK_EQ(ob.count, 1);
    /* No builder: a counted drop, no entry named. */
    ev.session = 12;
    CHECK_EQ(wm_gw_publish_ouch_to(&gw, &ev, &to), WM_GW_OUCH_DROP_UNKNOWN_SESSION);
    CHECK(to == NULL);
    /* Not in the table. */
    ev.session = 13;
    CHECK_EQ(wm_gw_publish_ouch_to(&gw, &ev, &to), WM_GW_OUCH_DROP_UNKNOWN_SESSION);
    CHECK(to == NULL);
    /* No message for the client. */
    ev.session = 11;
    ev.type = WM_EV_BOOKED;
    CHECK_EQ(wm_gw_publish_ouch_to(&gw, &ev, &to), WM_GW_OUCH_NOT_FOR_CLIENT);
    CHECK(to == NULL);
    CHECK_EQ(wm_gw_publish_ouch_to(&gw, &ev, NULL), -EINVAL);
    CHECK_EQ(wm_gw_publish_ouch_to(NULL, &ev, &to), -EINVAL);
    CHECK(to == NULL);
    wm_gw_fini(&gw);
}

/* Entry refusals at the protocols' edges: a price OUCH carries but the
 * ITCH feed cannot (above 200,000.0000) is refused with Invalid price, for
 * Enter and Replace, and nothing reaches the matcher; the feed's largest
 * price is taken.  UserRefNum UINT32_MAX may be used once: a second use
 * (Enter, Mass Cancel) is refused as not increasing, and Account Query
 * names UINT32_MAX. */
static void test_entry_edges(void)
{
    struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = 64, .max_sessions = 8};
    struct wm_matcher *m;
    CHECK_EQ(wm_matcher_create(&mc, &m), 0);
    struct wm_instrument_config ic = {.id = 2, .max_levels = 64, .tick_size = 1, .lot_size = 1,
                                      .min_order_qty = 1, .max_order_qty = 1000000,
                                      .ref_price = 20000000};
    CHECK_EQ(wm_matcher_add_instrument(m, &ic), 0);
    static struct wm_gw gw;
    struct wm_gw_config cfg = {.matcher = m, .max_orders = 16};
    CHECK_EQ(wm_gw_init(&gw, &cfg), 0);
    CHECK_EQ(wm_gw_add_instrument(&gw, "WMT", 2, 1, 100), 0);
    CHECK_EQ(wm_gw_add_session(&gw, 1, NULL), 0);
    struct wm_cmd c;
    struct wm_ouch_out reply;
    const int64_t over[] = {(int64_t)WM_ITCH_PRICE_MAX + 100, 2147483600, WM_OUCH_PRICE_MAX - 47};
    uint32_t ref = 1;
    for (unsigned i = 0; i < sizeof(over) / sizeof(over[0]); i++, ref++) {
        struct wm_ouch_in o = enter(ref, 'B', 100, over[i]);
        memcpy(o.u.enter.cl_ord_id, "HIGHPRICE     ", 14);
        CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, 100, &o, &c, &reply),
                 WM_GW_IN_DROP_PRICE_OVER_FEED_MAX);
        CHECK_EQ(reply.type, 'J');
        CHECK_EQ(reply.u.rejected.reason, WM_OUCH_REJECT_INVALID_PRICE);
        CHECK_EQ(reply.u.rejected.user_ref_num, ref);
        CHECK(memcmp(reply.u.rejected.cl_ord_id, "HIGHPRICE     ", 14) == 0);
    }
    CHECK_EQ(gw.counts[WM_GW_IN_DROP_PRICE_OVER_FEED_MAX], 3);
    CHECK_EQ(gw.counts[WM_GW_IN_COMMANDS], 0);
    /* The feed's largest price is an order like any other, and its Add
     * Order is published. */
    struct wm_ouch_in top = enter(ref, 'B', 100, WM_ITCH_PRICE_MAX);
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, 100, &top, &c, &reply), 0);
    CHECK_EQ(c.price, WM_ITCH_PRICE_MAX / 100);
    struct wm_event evs[8];
    unsigned used = 0;
    int n = wm_matcher_apply(m, &c, 1, evs, 8, &used);
    int booked = 0;
    for (int i = 0; i < n; i++) {
        struct wm_itch_msg im;
        CHECK(wm_gw_event_ouch(&gw, &evs[i], &reply) >= 0);
        if (evs[i].type == WM_EV_BOOKED) {
            CHECK_EQ(wm_gw_event_itch(&gw, &evs[i], &im), 0);
            CHECK_EQ(im.type, 'A');
            CHECK_EQ(im.u.add.price, WM_ITCH_PRICE_MAX);
            booked++;
        }
    }
    CHECK_EQ(booked, 1);
    CHECK_EQ(gw.counts[WM_GW_ITCH_DROP_UNENCODABLE], 0);
    /* Replace of that order to a price over the feed's: refused. */
    struct wm_ouch_in u;
    memset(&u, 0, sizeof(u));
    u.type = 'U';
    u.u.replace.orig_user_ref_num = ref;
    u.u.replace.user_ref_num = ref + 1;
    u.u.replace.quantity = 100;
    u.u.replace.price = (int64_t)WM_ITCH_PRICE_MAX + 100;
    u.u.replace.time_in_force = '0';
    u.u.replace.display = 'Y';
    u.u.replace.iso = 'N';
    memset(u.u.replace.cl_ord_id, ' ', 14);
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, 100, &u, &c, &reply), WM_GW_IN_DROP_PRICE_OVER_FEED_MAX);
    CHECK_EQ(reply.type, 'J');
    CHECK_EQ(reply.u.rejected.reason, WM_OUCH_REJECT_INVALID_PRICE);
    CHECK_EQ(gw.counts[WM_GW_IN_DROP_PRICE_OVER_FEED_MAX], 4);

    /* UserRefNum UINT32_MAX: once. */
    struct wm_ouch_in last = enter(UINT32_MAX, 'S', 100, 30000000);
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, 100, &last, &c, &reply), 0);
    CHECK_EQ(c.client_id, UINT32_MAX);
    CHECK_EQ(wm_gw_find_session(&gw, 1)->next_user_ref, (uint64_t)UINT32_MAX + 1);
    struct wm_ouch_in q;
    memset(&q, 0, sizeof(q));
    q.type = 'Q';
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, 100, &q, &c, &reply), WM_GW_IN_REPLIES);
    CHECK_EQ(reply.u.account.next_user_ref_num, UINT32_MAX);
    uint64_t before = gw.counts[WM_GW_IN_DROP_USER_REF_NOT_INCREASING];
    memcpy(last.u.enter.cl_ord_id, "AGAIN         ", 14);
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, 100, &last, &c, &reply),
             WM_GW_IN_DROP_USER_REF_NOT_INCREASING);
    CHECK_EQ(reply.type, 'J');
    CHECK_EQ(reply.u.rejected.reason, WM_OUCH_REJECT_OTHER);
    CHECK_EQ(reply.u.rejected.user_ref_num, UINT32_MAX);
    CHECK(memcmp(reply.u.rejected.cl_ord_id, "AGAIN         ", 14) == 0);
    struct wm_ouch_in mc2;
    memset(&mc2, 0, sizeof(mc2));
    mc2.type = 'C';
    mc2.u.mass_cancel.user_ref_num = UINT32_MAX;
    memset(mc2.u.mass_cancel.firm, ' ', 4);
    memset(mc2.u.mass_cancel.symbol, ' ', 8);
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, 100, &mc2, &c, &reply),
             WM_GW_IN_DROP_USER_REF_NOT_INCREASING);
    CHECK_EQ(reply.type, 'J');
    CHECK_EQ(gw.counts[WM_GW_IN_DROP_USER_REF_NOT_INCREASING], before + 2);
    wm_gw_fini(&gw);
    wm_matcher_destroy(m);
}

int main(void)
{
    struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = 64, .max_sessions = 8};
    struct wm_matcher *m;
    CHECK_EQ(wm_matcher_create(&mc, &m), 0);
    struct wm_instrument_config ic = {.id = 2, .max_levels = 16, .tick_size = 1, .lot_size = 1,
                                      .min_order_qty = 1, .max_order_qty = 1000000,
                                      .ref_price = 10000};
    CHECK_EQ(wm_matcher_add_instrument(m, &ic), 0);

    static struct wm_gw gw;   /* ~10 KB: not on the stack */
    uint64_t base = 1000000;
    struct wm_gw_config cfg = {.matcher = m, .ts_to_ns = minus_base, .ts_ctx = &base};
    CHECK_EQ(wm_gw_init(&gw, NULL), -EINVAL);
    CHECK_EQ(wm_gw_init(&gw, &cfg), 0);
    CHECK_EQ(wm_gw_add_instrument(&gw, "WMT", 2, 1, 100), 0);
    CHECK_EQ(wm_gw_add_instrument(&gw, "WMT", 3, 2, 100), -EEXIST);
    CHECK_EQ(wm_gw_add_instrument(&gw, "BAD SYM", 3, 2, 100), -EINVAL);
    CHECK_EQ(wm_gw_add_instrument(&gw, "IBM", 3, 2, 0), -EINVAL);
    uint8_t fbuf[256], obuf[256];
    struct wm_mold_builder feed, ob;
    CHECK_EQ(wm_mold_builder_init(&feed, "FEED", 1, fbuf, sizeof(fbuf)), 0);
    CHECK_EQ(wm_mold_builder_init(&ob, "S1", 1, obuf, sizeof(obuf)), 0);
    CHECK_EQ(wm_gw_add_session(&gw, 1, &ob), 0);
    CHECK_EQ(wm_gw_add_session(&gw, 2, NULL), 0);
    CHECK_EQ(wm_gw_add_session(&gw, 1, NULL), -EEXIST);
    CHECK_EQ(wm_gw_add_session(&gw, 0, NULL), -EINVAL);
    for (uint32_t i = 3; i < WM_GW_MAX_SESSIONS + 1; i++)
        CHECK_EQ(wm_gw_add_session(&gw, i, NULL), 0);
    CHECK_EQ(wm_gw_add_session(&gw, 5000, NULL), -ENOSPC);

    struct wm_cmd c;
    struct wm_ouch_out reply;
    struct wm_event evs[64];
    struct wm_ouch_in o = enter(1, 'S', 100, 1000100);
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, base + 5, &o, &c, &reply), 0);
    CHECK_EQ(reply.type, 0);
    CHECK_EQ(c.type, WM_CMD_NEW);
    CHECK_EQ(c.price, 10001);
    CHECK_EQ(c.instrument, 2);
    CHECK(run(&gw, m, &c, &feed, evs) > 0);
    /* A buyer from session 2 (no builder): its OUCH reports are counted drops. */
    o = enter(1, 'B', 30, 1000100);
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 2, base + 6, &o, &c, &reply), 0);
    run(&gw, m, &c, &feed, evs);
    CHECK(gw.counts[WM_GW_OUCH_DROP_UNKNOWN_SESSION] >= 2);   /* accepted, executed */
    CHECK_EQ(gw.counts[WM_GW_ITCH_MESSAGES], 2);              /* Add, Executed */
    /* Off-tick price: Rejected Order with the callback's timestamp. */
    o = enter(2, 'B', 30, 1000150);
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, base + 7, &o, &c, &reply), WM_GW_IN_DROP_PRICE_OFF_TICK);
    CHECK_EQ(reply.type, 'J');
    CHECK_EQ(reply.timestamp, 7);
    CHECK_EQ(reply.u.rejected.reason, WM_OUCH_REJECT_INVALID_PRICE);
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 5000, base, &o, &c, NULL), WM_GW_IN_DROP_UNKNOWN_SESSION);
    CHECK_EQ(wm_gw_ouch_to_cmd(NULL, 1, base, &o, &c, NULL), -EINVAL);
    struct wm_ouch_in bad;
    memset(&bad, 0, sizeof(bad));
    bad.type = 'Z';
    CHECK_EQ(wm_gw_ouch_to_cmd(&gw, 1, base, &bad, &c, NULL), WM_GW_IN_DROP_UNKNOWN_TYPE);

    /* Read the feed back: Add Order then Order Executed, timestamps converted. */
    uint32_t len = wm_mold_builder_flush(&feed);
    struct wm_mold_packet pkt;
    struct wm_codec_stats st;
    memset(&st, 0, sizeof(st));
    CHECK_EQ(wm_mold_decode(fbuf, len, &pkt, &st), 0);
    CHECK_EQ(pkt.count, 2);
    uint16_t blen;
    const uint8_t *p = wm_mold_next_block(&pkt, &blen);
    struct wm_itch_msg im;
    CHECK(p != NULL);
    CHECK_EQ(wm_itch_decode(p, blen, &im, &st), 0);
    CHECK_EQ(im.type, 'A');
    CHECK_EQ(im.timestamp, 5);
    CHECK_EQ(im.u.add.price, 1000100);
    CHECK_EQ(im.u.add.side, 'S');
    p = wm_mold_next_block(&pkt, &blen);
    CHECK(p != NULL);
    CHECK_EQ(wm_itch_decode(p, blen, &im, &st), 0);
    CHECK_EQ(im.type, 'E');
    CHECK_EQ(im.u.executed.shares, 30);
    CHECK_EQ(im.timestamp, 6);

    /* Session 1's OUCH: Order Accepted then Order Executed (maker, 'A'). */
    len = wm_mold_builder_flush(&ob);
    CHECK_EQ(wm_mold_decode(obuf, len, &pkt, &st), 0);
    CHECK_EQ(pkt.count, 2);
    struct wm_ouch_out om;
    p = wm_mold_next_block(&pkt, &blen);
    CHECK_EQ(wm_ouch_decode_out(p, blen, &om, &st), 0);
    CHECK_EQ(om.type, 'A');
    CHECK_EQ(om.u.accepted.price, 1000100);
    p = wm_mold_next_block(&pkt, &blen);
    CHECK_EQ(wm_ouch_decode_out(p, blen, &om, &st), 0);
    CHECK_EQ(om.type, 'E');
    CHECK_EQ(om.u.executed.liquidity_flag, 'A');

    /* A full builder: -ENOBUFS, nothing counted, fine after a flush. */
    uint8_t tiny[WM_MOLD_HEADER_LEN + 40];
    struct wm_mold_builder tb;
    CHECK_EQ(wm_mold_builder_init(&tb, "T", 1, tiny, sizeof(tiny)), 0);
    struct wm_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = WM_EV_BOOKED;
    ev.ts = base;
    ev.order_ref = 9;
    ev.price = 10000;
    ev.qty = 5;
    ev.instrument = 2;
    ev.flags = WM_SIDE_BUY;
    CHECK_EQ(wm_gw_publish_itch(&gw, &ev, &tb), 0);
    uint64_t before = gw.counts[WM_GW_ITCH_MESSAGES];
    CHECK_EQ(wm_gw_publish_itch(&gw, &ev, &tb), -ENOBUFS);
    CHECK_EQ(gw.counts[WM_GW_ITCH_MESSAGES], before);
    wm_mold_builder_flush(&tb);
    CHECK_EQ(wm_gw_publish_itch(&gw, &ev, &tb), 0);

    CHECK(wm_gw_counter_name(WM_GW_N_COUNTERS) == NULL);
    CHECK(strcmp(wm_gw_counter_name(WM_GW_IN_COMMANDS), "gw_in_commands") == 0);
    wm_gw_fini(&gw);
    wm_matcher_destroy(m);
    test_order_table();
    test_session_table();
    test_publish_to();
    test_entry_edges();
    return check_finish("test_gateway");
}
