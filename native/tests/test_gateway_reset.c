/* test_gateway_reset.c - wm_gw_reset and wm_matcher_reset together, as
 * native/fuzz/fuzz_gateway uses them: a gateway and matcher that ran a long
 * OUCH session (order table full, orders resting, UserRefNums advanced,
 * every kind of refusal counted) and were then reset, and a gateway and
 * matcher just created, publish byte-identical ITCH and OUCH streams and
 * end with the same counters and matcher hash on the same input. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wirematch.h"
#include "check.h"

enum { LOG_CAP = 4 << 20, MAX_GW_ORDERS = 24 };

/* A gateway and matcher with a market data feed and two sessions; every
 * packet their builders flush is appended to log. */
struct rig {
    struct wm_matcher *m;
    struct wm_gw gw;
    struct wm_mold_builder feed, ob[2];
    uint8_t fbuf[WM_MOLD_MTU_PAYLOAD], obuf[2][WM_MOLD_MTU_PAYLOAD];
    uint8_t *log;
    size_t log_len;
};

static void rig_log(struct rig *r, struct wm_mold_builder *b, const uint8_t *buf)
{
    uint32_t len = wm_mold_builder_flush(b);
    if (!len)
        return;
    CHECK(r->log_len + len <= LOG_CAP);
    if (r->log_len + len > LOG_CAP)
        return;
    memcpy(r->log + r->log_len, buf, len);
    r->log_len += len;
}

static void rig_flush(struct rig *r)
{
    rig_log(r, &r->feed, r->fbuf);
    rig_log(r, &r->ob[0], r->obuf[0]);
    rig_log(r, &r->ob[1], r->obuf[1]);
}

/* Instruments, sessions, builders, start of day: what follows wm_gw_init
 * (or wm_gw_reset) and wm_matcher_create (or wm_matcher_reset). */
static void rig_open(struct rig *r)
{
    CHECK_EQ(wm_gw_add_instrument(&r->gw, "WMT", 1, 1, 100), 0);
    CHECK_EQ(wm_gw_add_instrument(&r->gw, "BAND", 2, 2, 100), 0);
    CHECK_EQ(wm_mold_builder_init(&r->feed, "FEED", 1, r->fbuf, sizeof(r->fbuf)), 0);
    for (uint32_t i = 0; i < 2; i++) {
        CHECK_EQ(wm_mold_builder_init(&r->ob[i], i ? "S2" : "S1", 1, r->obuf[i],
                                      sizeof(r->obuf[i])), 0);
        CHECK_EQ(wm_gw_add_session(&r->gw, i + 1, &r->ob[i]), 0);
        CHECK_EQ(wm_gw_publish_system_event(&r->gw, i + 1, 'S', 1), 0);
    }
}

static void rig_create(struct rig *r, uint8_t *log)
{
    memset(r, 0, sizeof(*r));
    r->log = log;
    struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = 64, .max_sessions = 8};
    CHECK_EQ(wm_matcher_create(&mc, &r->m), 0);
    struct wm_instrument_config a = {.id = 1, .max_levels = 16, .window_ticks = 64,
                                     .tick_size = 1, .lot_size = 1, .min_order_qty = 1,
                                     .max_order_qty = 1000000, .ref_price = 10000};
    struct wm_instrument_config b = a;
    b.id = 2;
    b.price_band = 8;
    CHECK_EQ(wm_matcher_add_instrument(r->m, &a), 0);
    CHECK_EQ(wm_matcher_add_instrument(r->m, &b), 0);
    struct wm_gw_config cfg = {.matcher = r->m, .max_orders = MAX_GW_ORDERS};
    CHECK_EQ(wm_gw_init(&r->gw, &cfg), 0);
    rig_open(r);
}

static void rig_destroy(struct rig *r)
{
    wm_gw_fini(&r->gw);
    wm_matcher_destroy(r->m);
}

/* One OUCH message of `session`: map, reply, apply, publish (flushing a
 * full builder and retrying). */
static void rig_submit(struct rig *r, uint32_t session, uint64_t ts, const struct wm_ouch_in *in)
{
    struct wm_cmd c;
    struct wm_ouch_out reply;
    struct wm_event evs[16];
    int rc = wm_gw_ouch_to_cmd(&r->gw, session, ts, in, &c, &reply);
    if (reply.type) {
        struct wm_mold_builder *b = &r->ob[session - 1];
        if (wm_mold_builder_add_ouch(b, &reply) == -ENOBUFS) {
            rig_log(r, b, r->obuf[session - 1]);
            CHECK_EQ(wm_mold_builder_add_ouch(b, &reply), 0);
        }
    }
    if (rc)
        return;
    unsigned used = 0, ncmd = 1;
    do {
        int n = wm_matcher_apply(r->m, &c, ncmd, evs, 16, &used);
        CHECK(n >= 0);
        ncmd = 0;
        for (int i = 0; i < n; i++) {
            int pr = wm_gw_publish_itch(&r->gw, &evs[i], &r->feed);
            if (pr == -ENOBUFS) {
                rig_log(r, &r->feed, r->fbuf);
                pr = wm_gw_publish_itch(&r->gw, &evs[i], &r->feed);
            }
            CHECK(pr >= 0);
            pr = wm_gw_publish_ouch(&r->gw, &evs[i]);
            if (pr == -ENOBUFS) {
                uint32_t s = evs[i].session - 1;
                rig_log(r, &r->ob[s], r->obuf[s]);
                pr = wm_gw_publish_ouch(&r->gw, &evs[i]);
            }
            CHECK(pr >= 0);
        }
    } while (wm_matcher_pending(r->m));
    CHECK_EQ(r->gw.n_orders, wm_matcher_live_orders(r->m));
}

/* n OUCH messages from a seed, sessions 1 and 2: orders of both symbols
 * (some crossing, some out of the band, some on a reused UserRefNum), and
 * cancels, partial cancels, replaces, modifies and mass cancels of
 * recent orders. */
static void rig_run(struct rig *r, uint64_t seed, int n)
{
    uint64_t x = seed;
    uint32_t next_ref[2] = {1, 1};
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t s = (uint32_t)(x & 1);
        uint32_t back = (uint32_t)((x >> 8) % 12);
        uint32_t recent = next_ref[s] > back + 1 ? next_ref[s] - 1 - back : 1;
        int64_t price = (9990 + (int64_t)((x >> 16) % 21)) * 100;
        uint32_t qty = 1 + (uint32_t)((x >> 24) % 300);
        static const char sides[] = "BSTE";
        unsigned kind = (unsigned)((x >> 32) % 100);
        struct wm_ouch_in in;
        memset(&in, 0, sizeof(in));
        if (kind < 55) {
            in.type = 'O';
            in.u.enter.user_ref_num = kind < 2 ? recent : next_ref[s]++;
            in.u.enter.side = sides[(x >> 40) & 3];
            in.u.enter.quantity = qty;
            memcpy(in.u.enter.symbol, (x >> 42) & 3 ? "WMT     " : "BAND    ", 8);
            in.u.enter.price = price;
            in.u.enter.time_in_force = (x >> 44) % 5 ? '0' : '3';
            in.u.enter.display = 'Y';
            in.u.enter.capacity = 'A';
            in.u.enter.iso = 'N';
            in.u.enter.cross_type = 'N';
            char id[15];
            snprintf(id, sizeof(id), "C%013d", i);
            memcpy(in.u.enter.cl_ord_id, id, sizeof(in.u.enter.cl_ord_id));
        } else if (kind < 72) {
            in.type = 'X';
            in.u.cancel.user_ref_num = recent;
            in.u.cancel.quantity = (x >> 44) & 1 ? 0 : qty / 4;
        } else if (kind < 86) {
            in.type = 'U';
            in.u.replace.orig_user_ref_num = recent;
            in.u.replace.user_ref_num = next_ref[s]++;
            in.u.replace.quantity = qty;
            in.u.replace.price = price;
            in.u.replace.time_in_force = '0';
            in.u.replace.display = 'Y';
            in.u.replace.iso = 'N';
            memset(in.u.replace.cl_ord_id, 'R', sizeof(in.u.replace.cl_ord_id));
        } else if (kind < 97) {
            in.type = 'M';
            in.u.modify.user_ref_num = recent;
            in.u.modify.side = sides[(x >> 40) & 3];
            in.u.modify.quantity = qty / 2;
        } else {
            in.type = 'C';
            in.u.mass_cancel.user_ref_num = next_ref[s]++;
            memcpy(in.u.mass_cancel.firm, "WMCH", 4);
            memcpy(in.u.mass_cancel.symbol, (x >> 42) & 1 ? "WMT     " : "        ", 8);
        }
        rig_submit(r, s + 1, (uint64_t)i + 2, &in);
    }
    rig_flush(r);
}

static uint64_t matcher_count(const struct wm_matcher *m, const char *name)
{
    for (unsigned i = 0; i < wm_matcher_counter_count(); i++)
        if (strcmp(wm_matcher_counter_name(i), name) == 0)
            return wm_matcher_counter_value(m, i);
    CHECK(!"no such matcher counter");
    return 0;
}

static void check_same(struct rig *a, struct rig *b)
{
    CHECK(memcmp(a->gw.counts, b->gw.counts, sizeof(a->gw.counts)) == 0);
    CHECK_EQ(a->gw.n_orders, b->gw.n_orders);
    CHECK_EQ(wm_matcher_hash(a->m), wm_matcher_hash(b->m));
    CHECK_EQ(wm_matcher_live_orders(a->m), wm_matcher_live_orders(b->m));
}

static void test_reset_equals_fresh(void)
{
    static uint8_t log_used[LOG_CAP], log_fresh[LOG_CAP];
    static struct rig used, fresh;
    rig_create(&used, log_used);
    rig_run(&used, 0x9e3779b97f4a7c15ull, 4000);
    /* The run left state a fresh pair does not have (the test can fail). */
    CHECK(used.gw.n_orders > 0);
    CHECK(used.gw.counts[WM_GW_IN_DROP_ORDER_TABLE_FULL] > 0);
    CHECK(used.gw.counts[WM_GW_OUCH_MESSAGES] > 1000);
    CHECK(matcher_count(used.m, "trades") > 0);
    CHECK(matcher_count(used.m, "reject_out_of_band") > 0);

    CHECK_EQ(wm_gw_reset(&used.gw), 0);
    CHECK_EQ(wm_matcher_reset(used.m), 0);
    CHECK_EQ(used.gw.n_orders, 0);
    CHECK_EQ(used.gw.n_sessions, 0);
    CHECK_EQ(used.gw.n_instruments, 0);
    CHECK_EQ(used.gw.max_orders, MAX_GW_ORDERS);
    rig_open(&used);
    used.log_len = 0;
    rig_create(&fresh, log_fresh);

    rig_run(&used, 0x2545f4914f6cdd1dull, 4000);
    rig_run(&fresh, 0x2545f4914f6cdd1dull, 4000);
    CHECK(fresh.log_len > 100000);
    CHECK_EQ(used.log_len, fresh.log_len);
    CHECK(memcmp(used.log, fresh.log, fresh.log_len) == 0);
    check_same(&used, &fresh);
    CHECK(fresh.gw.counts[WM_GW_IN_DROP_ORDER_TABLE_FULL] > 0);

    /* Errors: NULL, a gateway not initialised or finished. */
    static struct wm_gw blank;
    CHECK_EQ(wm_gw_reset(NULL), -EINVAL);
    CHECK_EQ(wm_gw_reset(&blank), -EINVAL);
    rig_destroy(&used);
    CHECK_EQ(wm_gw_reset(&used.gw), -EINVAL);
    rig_destroy(&fresh);
}

int main(void)
{
    test_reset_equals_fresh();
    return check_finish("test_gateway_reset");
}
