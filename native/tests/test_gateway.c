/* test_gateway.c - the OUCH <-> matcher <-> ITCH gateway from C: tables,
 * timestamp conversion by callback, a small session end to end through the
 * real matcher into MoldUDP64 builders (ITCH read back by the C decoder),
 * and refusals counted. */
#include <errno.h>
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

int main(void)
{
    struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = 64, .max_sessions = 8};
    struct wm_matcher *m;
    CHECK_EQ(wm_matcher_create(&mc, &m), 0);
    struct wm_instrument_config ic = {.id = 2, .max_levels = 16, .tick_size = 1, .lot_size = 1,
                                      .min_order_qty = 1, .max_order_qty = 1000000,
                                      .ref_price = 10000};
    CHECK_EQ(wm_matcher_add_instrument(m, &ic), 0);

    static struct wm_gw gw;   /* ~6 KB: not on the stack */
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
    wm_matcher_destroy(m);
    return check_finish("test_gateway");
}
