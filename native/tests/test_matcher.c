/* test_matcher - one scenario per rule of docs/matching.md, through the
 * public C API only (no Python): create, add instruments, apply, snapshots,
 * hash, counters.  Event sequences are checked as strings of type letters:
 *   A accepted  R rejected  E executed  C cancelled  P replaced  B booked
 *   L level     S state     F ref price M mass cancelled
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "wirematch/matcher.h"

#define I1 1 /* tick 1, lot 1, no band */
#define I2 2 /* tick 5, lot 10, qty 10..1000, band +-100 around 1000 */

static struct wm_event ev[4096];
static int nev;
static char seqbuf[4096];

static struct wm_matcher *mk(uint32_t max_orders, uint32_t max_levels)
{
    struct wm_matcher_config mc = {.max_instruments = 8, .max_orders = max_orders};
    struct wm_matcher *m = NULL;
    CHECK_EQ(wm_matcher_create(&mc, &m), 0);
    struct wm_instrument_config a = {.id = I1, .max_levels = max_levels, .window_ticks = 64,
                                     .tick_size = 1, .lot_size = 1, .min_order_qty = 1,
                                     .max_order_qty = INT64_MAX, .ref_price = 1000};
    CHECK_EQ(wm_matcher_add_instrument(m, &a), 0);
    struct wm_instrument_config b = {.id = I2, .max_levels = max_levels, .tick_size = 5,
                                     .lot_size = 10, .min_order_qty = 10, .max_order_qty = 1000,
                                     .ref_price = 1000, .price_band = 100};
    CHECK_EQ(wm_matcher_add_instrument(m, &b), 0);
    return m;
}

static const char *seq(void)
{
    static const char letters[] = "?ARECPBLSFM";
    for (int i = 0; i < nev; i++)
        seqbuf[i] = ev[i].type < sizeof(letters) - 1 ? letters[ev[i].type] : '?';
    seqbuf[nev] = 0;
    return seqbuf;
}

static int apply(struct wm_matcher *m, const struct wm_cmd *c)
{
    unsigned used = 0;
    nev = wm_matcher_apply(m, c, 1, ev, 4096, &used);
    CHECK_EQ(used, 1);
    CHECK(!wm_matcher_pending(m));
    return nev;
}

#define SEQ(expect)                                                                   \
    do {                                                                              \
        check_count++;                                                                \
        if (strcmp(seq(), expect) != 0) {                                             \
            check_failures++;                                                         \
            fprintf(stderr, "%s:%d: events %s, expected %s\n", __FILE__, __LINE__, seq(), \
                    expect);                                                          \
        }                                                                             \
    } while (0)

static struct wm_cmd order(uint16_t instr, uint32_t session, uint64_t id, uint8_t side,
                           int64_t price, int64_t qty, uint8_t tif)
{
    struct wm_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = WM_CMD_NEW;
    c.instrument = instr;
    c.session = session;
    c.account = session;
    c.client_id = id;
    c.side = side;
    c.ord_type = WM_ORD_LIMIT;
    c.tif = tif;
    c.price = price;
    c.qty = qty;
    c.ts = 7;
    return c;
}

static int add(struct wm_matcher *m, uint16_t instr, uint32_t session, uint64_t id, uint8_t side,
               int64_t price, int64_t qty, uint8_t tif)
{
    struct wm_cmd c = order(instr, session, id, side, price, qty, tif);
    return apply(m, &c);
}

static int cancel(struct wm_matcher *m, uint16_t instr, uint32_t session, uint64_t id)
{
    struct wm_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = WM_CMD_CANCEL;
    c.instrument = instr;
    c.session = session;
    c.client_id = id;
    return apply(m, &c);
}

static int replace(struct wm_matcher *m, uint16_t instr, uint32_t session, uint64_t id,
                   uint64_t new_id, int64_t price, int64_t qty)
{
    struct wm_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = WM_CMD_REPLACE;
    c.instrument = instr;
    c.session = session;
    c.client_id = id;
    c.new_client_id = new_id;
    c.price = price;
    c.qty = qty;
    return apply(m, &c);
}

static int admin(struct wm_matcher *m, uint8_t type, uint16_t instr, int64_t price)
{
    struct wm_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = type;
    c.instrument = instr;
    c.price = price;
    return apply(m, &c);
}

static int64_t leaves(struct wm_matcher *m, uint32_t session, uint64_t id)
{
    struct wm_order_info oi;
    if (wm_matcher_order_info(m, session, id, &oi) != 0)
        return -1;
    return oi.qty;
}

static uint64_t counter(struct wm_matcher *m, const char *name)
{
    for (unsigned i = 0; i < wm_matcher_counter_count(); i++)
        if (strcmp(wm_matcher_counter_name(i), name) == 0)
            return wm_matcher_counter_value(m, i);
    fprintf(stderr, "no counter %s\n", name);
    check_failures++;
    return 0;
}

/* Book fingerprint: every resting order (both sides) of an instrument. */
static uint64_t book_fp(struct wm_matcher *m, uint32_t instr)
{
    static struct wm_order_info o[1024];
    uint64_t h = 1469598103934665603ull;
    for (uint32_t side = 1; side <= 2; side++) {
        int n = wm_matcher_l3(m, instr, side, o, 1024);
        for (int i = 0; i < n; i++) {
            const unsigned char *p = (const unsigned char *)&o[i];
            for (size_t k = 0; k < sizeof(o[i]); k++)
                h = (h ^ p[k]) * 1099511628211ull;
        }
        h = (h ^ (uint64_t)n) * 1099511628211ull;
    }
    return h;
}

static void test_price_time_priority(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_SELL, 1001, 100, WM_TIF_DAY);
    SEQ("ABL");
    CHECK_EQ(ev[0].order_ref, 1);
    CHECK_EQ(ev[2].price, 1001);
    CHECK_EQ(ev[2].qty, 100);
    add(m, I1, 1, 2, WM_SIDE_SELL, 1001, 100, WM_TIF_DAY);
    add(m, I1, 2, 3, WM_SIDE_SELL, 1000, 50, WM_TIF_DAY);
    /* A buy at 1005 for 200: best price first (3 @1000), then time (1, 2);
     * every fill at the maker's price, never the taker's 1005. */
    add(m, I1, 3, 9, WM_SIDE_BUY, 1005, 200, WM_TIF_IOC);
    SEQ("AEELEEEEL");
    CHECK_EQ(ev[1].client_id, 3);
    CHECK_EQ(ev[1].price, 1000);
    CHECK(ev[1].flags & WM_EVF_MAKER);
    CHECK(!(ev[2].flags & WM_EVF_MAKER));
    CHECK_EQ(ev[2].price, 1000);
    CHECK_EQ(ev[1].aux, ev[2].aux); /* one trade id, both sides */
    CHECK_EQ(ev[3].qty, 0);         /* level 1000 gone */
    CHECK_EQ(ev[4].client_id, 1);
    CHECK_EQ(ev[4].price, 1001);
    CHECK_EQ(ev[4].qty, 100);
    CHECK_EQ(ev[6].client_id, 2);
    CHECK_EQ(ev[6].qty, 50);
    CHECK_EQ(ev[8].qty, 50); /* level 1001 left with 50, one event at the end */
    CHECK_EQ(ev[8].aux, 1);
    CHECK_EQ(ev[2].aux + 1, ev[4].aux);
    /* Sequence numbers are global and dense. */
    CHECK_EQ(ev[8].seq, wm_matcher_last_seq(m));
    CHECK_EQ(ev[0].ts, 7);
    wm_matcher_destroy(m);
}

static void test_partial_fill_keeps_priority(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_BUY, 990, 100, WM_TIF_DAY);
    add(m, I1, 1, 2, WM_SIDE_BUY, 990, 100, WM_TIF_DAY);
    add(m, I1, 2, 1, WM_SIDE_SELL, 990, 30, WM_TIF_DAY);
    SEQ("AEEL");
    CHECK_EQ(ev[1].client_id, 1);
    CHECK_EQ(leaves(m, 1, 1), 70);
    add(m, I1, 2, 2, WM_SIDE_SELL, 990, 80, WM_TIF_DAY);
    SEQ("AEEEEL");
    CHECK_EQ(ev[1].client_id, 1); /* the partially filled maker is still first */
    CHECK_EQ(ev[1].qty, 70);
    CHECK_EQ(ev[3].client_id, 2);
    CHECK_EQ(ev[3].qty, 10);
    CHECK_EQ(leaves(m, 1, 1), -1);
    CHECK_EQ(leaves(m, 1, 2), 90);
    wm_matcher_destroy(m);
}

static void test_ioc_remainder_never_rests(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_SELL, 1000, 20, WM_TIF_DAY);
    add(m, I1, 2, 1, WM_SIDE_BUY, 1000, 50, WM_TIF_IOC);
    SEQ("AEELC");
    CHECK_EQ(ev[4].aux, WM_CXL_IOC);
    CHECK_EQ(ev[4].qty, 30);
    CHECK(!(ev[4].flags & WM_EVF_RESTING));
    struct wm_instrument_status st;
    wm_matcher_instrument_status(m, I1, &st);
    CHECK_EQ(st.bid_levels, 0);
    CHECK_EQ(st.live_orders, 0);
    CHECK_EQ(leaves(m, 2, 1), -1);
    /* Market order: sweeps any price, remainder cancelled; DAY is refused. */
    add(m, I1, 1, 2, WM_SIDE_SELL, 1000, 5, WM_TIF_DAY);
    add(m, I1, 1, 3, WM_SIDE_SELL, 1200, 5, WM_TIF_DAY);
    struct wm_cmd c = order(I1, 3, 1, WM_SIDE_BUY, 0, 20, WM_TIF_IOC);
    c.ord_type = WM_ORD_MARKET;
    apply(m, &c);
    SEQ("AEELEELC");
    CHECK_EQ(ev[4].price, 1200);
    CHECK_EQ(ev[7].qty, 10);
    c.client_id = 2;
    c.tif = WM_TIF_DAY;
    apply(m, &c);
    SEQ("R");
    CHECK_EQ(ev[0].aux, WM_REJ_BAD_TIF);
    wm_matcher_destroy(m);
}

static void test_fok_all_or_nothing(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_SELL, 1000, 30, WM_TIF_DAY);
    add(m, I1, 1, 2, WM_SIDE_SELL, 1001, 30, WM_TIF_DAY);
    uint64_t fp = book_fp(m, I1);
    add(m, I1, 2, 1, WM_SIDE_BUY, 1001, 61, WM_TIF_FOK);
    SEQ("AC"); /* killed without a single execution */
    CHECK_EQ(ev[1].aux, WM_CXL_FOK);
    CHECK_EQ(ev[1].qty, 61);
    CHECK_EQ(book_fp(m, I1), fp);
    add(m, I1, 2, 2, WM_SIDE_BUY, 1000, 31, WM_TIF_FOK); /* price limits it */
    SEQ("AC");
    add(m, I1, 2, 3, WM_SIDE_BUY, 1001, 60, WM_TIF_FOK);
    SEQ("AEELEEL");
    /* FOK feasibility applies self-trade prevention exactly as matching:
     * 40 available, but 20 of it is the taker's own account. */
    add(m, I1, 1, 3, WM_SIDE_SELL, 1000, 20, WM_TIF_DAY);
    add(m, I1, 3, 1, WM_SIDE_SELL, 1000, 20, WM_TIF_DAY);
    fp = book_fp(m, I1);
    struct wm_cmd c = order(I1, 1, 9, WM_SIDE_BUY, 1000, 40, WM_TIF_FOK);
    c.stp = WM_STP_CANCEL_OLDEST; /* would cancel its own 20, then fill only 20 */
    apply(m, &c);
    SEQ("AC");
    CHECK_EQ(book_fp(m, I1), fp);
    c.client_id = 10;
    c.qty = 20;
    apply(m, &c); /* feasible: own order cancelled, 20 from session 3 */
    SEQ("ACEEL"); /* one LEVEL event, when the taker is done with the level */
    CHECK_EQ(ev[1].aux, WM_CXL_STP);
    CHECK_EQ(ev[1].client_id, 3);
    wm_matcher_destroy(m);
}

static void test_post_only(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_SELL, 1000, 10, WM_TIF_DAY);
    uint64_t fp = book_fp(m, I1);
    struct wm_cmd c = order(I1, 2, 1, WM_SIDE_BUY, 1000, 10, WM_TIF_DAY);
    c.flags = WM_CMDF_POST_ONLY;
    apply(m, &c);
    SEQ("R"); /* rejected, not repriced */
    CHECK_EQ(ev[0].aux, WM_REJ_POST_ONLY);
    CHECK_EQ(ev[0].flags >> WM_EVF_CMD_SHIFT, WM_CMD_NEW);
    CHECK_EQ(book_fp(m, I1), fp);
    c.price = 999;
    apply(m, &c);
    SEQ("ABL");
    /* A post-only order replaced to a crossing price: rejected, unchanged. */
    replace(m, I1, 2, 1, 1, 1000, 10);
    SEQ("R");
    CHECK_EQ(ev[0].aux, WM_REJ_POST_ONLY);
    CHECK_EQ(ev[0].flags >> WM_EVF_CMD_SHIFT, WM_CMD_REPLACE);
    CHECK_EQ(leaves(m, 2, 1), 10);
    c.tif = WM_TIF_IOC;
    c.client_id = 2;
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_BAD_FLAGS);
    wm_matcher_destroy(m);
}

static void test_min_qty(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_SELL, 1000, 30, WM_TIF_DAY);
    struct wm_cmd c = order(I1, 2, 1, WM_SIDE_BUY, 1000, 100, WM_TIF_DAY);
    c.min_qty = 31;
    apply(m, &c);
    SEQ("AC");
    CHECK_EQ(ev[1].aux, WM_CXL_MIN_QTY);
    CHECK_EQ(ev[1].qty, 100);
    c.client_id = 2;
    c.min_qty = 30;
    apply(m, &c); /* minimum met: trades, the rest rests (no minimum later) */
    SEQ("AEELBL");
    CHECK_EQ(ev[4].qty, 70);
    c.client_id = 3;
    c.min_qty = 101;
    apply(m, &c);
    SEQ("R");
    CHECK_EQ(ev[0].aux, WM_REJ_BAD_MIN_QTY);
    wm_matcher_destroy(m);
}

static void test_cancel(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_BUY, 990, 10, WM_TIF_DAY);
    add(m, I1, 1, 2, WM_SIDE_BUY, 990, 15, WM_TIF_DAY);
    cancel(m, I1, 1, 1);
    SEQ("CL");
    CHECK_EQ(ev[0].aux, WM_CXL_USER);
    CHECK_EQ(ev[0].qty, 10);
    CHECK(ev[0].flags & WM_EVF_RESTING);
    CHECK_EQ(ev[1].qty, 15);
    cancel(m, I1, 1, 1);
    SEQ("R");
    CHECK_EQ(ev[0].aux, WM_REJ_UNKNOWN_ORDER);
    CHECK_EQ(ev[0].flags >> WM_EVF_CMD_SHIFT, WM_CMD_CANCEL);
    cancel(m, I1, 2, 2); /* ids are per session */
    SEQ("R");
    cancel(m, I2, 1, 2); /* and per instrument */
    SEQ("R");
    cancel(m, I1, 1, 2);
    SEQ("CL");
    CHECK_EQ(ev[1].qty, 0);
    CHECK_EQ(counter(m, "reject_unknown_order"), 3);
    wm_matcher_destroy(m);
}

/* The id table's home line, as docs/matching.md defines it (four
 * consecutive client ids of a session share a 64-byte line of 16-byte slots). */
static uint64_t id_home_line(uint32_t session, uint64_t cid, unsigned slot_bits)
{
    uint64_t h = ((cid >> 2) ^ ((uint64_t)session * 0xc2b2ae3d27d4eb4full)) * 0x9e3779b97f4a7c15ull;
    return h >> (64 - slot_bits) >> 2;
}

/* Groups of four ids whose homes collide run on into the lines after them
 * (distances up to and past the 15 the entry word stores exactly); every
 * removal's backward shift keeps every other order findable.  Then random
 * adds and cancels against a shadow set. */
static void test_id_table_colliding_runs(void)
{
    enum { MAXO = 32, NS = 8 };
    /* The table's size as wm_matcher_create makes it: a power of two, at
     * least 64 and at least 4 slots per order. */
    unsigned slot_bits = 6;
    while ((1u << slot_bits) < 4u * MAXO)
        slot_bits++;
    struct wm_matcher_config mc = {.max_instruments = 8, .max_orders = MAXO};
    struct wm_matcher *m = NULL;
    CHECK_EQ(wm_matcher_create(&mc, &m), 0);
    struct wm_instrument_config a = {.id = I1, .max_levels = 64, .window_ticks = 64,
                                     .tick_size = 1, .lot_size = 1, .min_order_qty = 1,
                                     .max_order_qty = INT64_MAX, .ref_price = 1000};
    CHECK_EQ(wm_matcher_add_instrument(m, &a), 0);
    /* Eight sessions whose ids 0..3 all have the same home line: a run of
     * 32 entries, group k sitting 4k past its home (the last ones 28..31,
     * past the 15 the entry word holds exactly). */
    uint32_t sess[NS] = {1};
    uint64_t line = id_home_line(1, 0, slot_bits);
    for (uint32_t s = 2, k = 1; k < NS; s++)
        if (id_home_line(s, 0, slot_bits) == line)
            sess[k++] = s;
    for (int k = 0; k < NS; k++)
        for (uint64_t id = 0; id < 4; id++) {
            add(m, I1, sess[k], id, WM_SIDE_BUY, 990 - k, 1 + (int64_t)id, WM_TIF_DAY);
            CHECK_EQ(seq()[0], 'A');
        }
    for (int k = 0; k < NS; k++)
        for (uint64_t id = 0; id < 4; id++)
            CHECK_EQ(leaves(m, sess[k], id), 1 + (int64_t)id);
    add(m, I1, sess[NS - 1], 3, WM_SIDE_BUY, 990, 1, WM_TIF_DAY); /* duplicate, 31 past */
    CHECK_EQ(ev[0].aux, WM_REJ_DUPLICATE_ID);
    /* Remove the first group's entries (at home): the others shift back. */
    for (uint64_t id = 0; id < 4; id++) {
        cancel(m, I1, sess[0], id);
        CHECK_EQ(seq()[0], 'C');
        for (int k = 1; k < NS; k++)
            for (uint64_t j = 0; j < 4; j++)
                CHECK_EQ(leaves(m, sess[k], j), 1 + (int64_t)j);
    }
    /* Random adds and cancels over the colliding sessions and two others. */
    enum { NA = NS + 2 };
    uint32_t all[NA] = {0};
    int live[NA][8] = {{0}};
    for (int k = 0; k < NS; k++)
        all[k] = sess[k];
    all[NS] = 7000001;
    all[NS + 1] = 7000002;
    for (int k = 1; k < NS; k++)
        for (int j = 0; j < 4; j++)
            live[k][j] = 1;
    int n_live = 4 * (NS - 1);
    uint64_t rnd = 42;
    for (int step = 0; step < 4000; step++) {
        rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((rnd >> 33) % NA), j = (int)((rnd >> 40) % 8);
        if (live[k][j]) {
            cancel(m, I1, all[k], (uint64_t)j);
            CHECK_EQ(seq()[0], 'C');
            live[k][j] = 0;
            n_live--;
        } else if (n_live < MAXO) {
            add(m, I1, all[k], (uint64_t)j, WM_SIDE_BUY, 980 + k, 1 + j, WM_TIF_DAY);
            CHECK_EQ(seq()[0], 'A');
            live[k][j] = 1;
            n_live++;
        }
        for (int kk = 0; kk < NA; kk++)
            for (int jj = 0; jj < 8; jj++)
                if (leaves(m, all[kk], (uint64_t)jj) != (live[kk][jj] ? 1 + jj : -1)) {
                    check_failures++;
                    fprintf(stderr, "step %d: session %u id %d lost in the id table\n", step,
                            all[kk], jj);
                    kk = NA;
                    step = 4000;
                    break;
                }
    }
    check_count++;
    wm_matcher_destroy(m);
}

static void test_replace(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_SELL, 1010, 100, WM_TIF_DAY);
    uint64_t ref1 = ev[0].order_ref;
    add(m, I1, 1, 2, WM_SIDE_SELL, 1010, 100, WM_TIF_DAY);
    add(m, I1, 2, 1, WM_SIDE_BUY, 1010, 30, WM_TIF_IOC); /* order 1: 70 left */
    /* Quantity decrease from the OPEN quantity (70 -> 50), not from the
     * original 100: in place, same order_ref, priority kept. */
    replace(m, I1, 1, 1, 11, 1010, 50);
    SEQ("CPL");
    CHECK_EQ(ev[0].aux, WM_CXL_REPLACED);
    CHECK_EQ(ev[0].qty, 20);
    CHECK_EQ(ev[0].flags & (WM_EVF_RESTING | WM_EVF_PARTIAL), WM_EVF_RESTING | WM_EVF_PARTIAL);
    CHECK_EQ(ev[1].order_ref, ref1);
    CHECK(ev[1].flags & WM_EVF_IN_PLACE);
    CHECK_EQ(ev[1].client_id, 11);
    CHECK_EQ(ev[1].aux, 1);
    CHECK_EQ(ev[1].qty, 50);
    CHECK_EQ(ev[2].qty, 150);
    CHECK_EQ(leaves(m, 1, 11), 50);
    CHECK_EQ(leaves(m, 1, 1), -1);
    add(m, I1, 2, 2, WM_SIDE_BUY, 1010, 10, WM_TIF_IOC);
    CHECK_EQ(ev[1].client_id, 11); /* still first */
    /* Quantity increase: priority lost (behind order 2), new order_ref. */
    replace(m, I1, 1, 11, 12, 1010, 60);
    SEQ("CLPBL");
    CHECK(!(ev[0].flags & WM_EVF_PARTIAL));
    CHECK_EQ(ev[0].qty, 40);
    CHECK(ev[2].order_ref > ref1);
    CHECK(!(ev[2].flags & WM_EVF_IN_PLACE));
    add(m, I1, 2, 3, WM_SIDE_BUY, 1010, 10, WM_TIF_IOC);
    CHECK_EQ(ev[1].client_id, 2);
    /* Replace that becomes marketable trades at once as the aggressor, at the
     * resting price; the book is never left crossed. */
    add(m, I1, 3, 1, WM_SIDE_BUY, 1000, 25, WM_TIF_DAY);
    replace(m, I1, 3, 1, 2, 1012, 25);
    SEQ("CLPEEL"); /* sells at 1010: 90 (order 2) then 60 (order 12): 25 fills */
    CHECK_EQ(ev[3].price, 1010);
    CHECK_EQ(ev[3].client_id, 2);
    CHECK_EQ(ev[3].qty, 25);
    CHECK_EQ(leaves(m, 3, 2), -1);
    struct wm_instrument_status st;
    wm_matcher_instrument_status(m, I1, &st);
    CHECK(st.best_bid == 0 || st.best_bid < st.best_ask);
    /* Replace of a filled order, of an unknown order: rejected. */
    replace(m, I1, 2, 1, 5, 1010, 5);
    SEQ("R");
    CHECK_EQ(ev[0].aux, WM_REJ_UNKNOWN_ORDER);
    /* New id already live in the session: rejected, nothing changes. */
    uint64_t fp = book_fp(m, I1);
    replace(m, I1, 1, 2, 12, 1011, 5);
    SEQ("R");
    CHECK_EQ(ev[0].aux, WM_REJ_DUPLICATE_ID);
    CHECK_EQ(book_fp(m, I1), fp);
    /* Same price and quantity: id change only, in place. */
    replace(m, I1, 1, 2, 20, 1010, 65);
    SEQ("P");
    CHECK(ev[0].flags & WM_EVF_IN_PLACE);
    wm_matcher_destroy(m);
}

static void test_mass_cancel(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_BUY, 990, 10, WM_TIF_DAY);
    add(m, I1, 2, 1, WM_SIDE_BUY, 990, 10, WM_TIF_DAY);
    add(m, I1, 1, 2, WM_SIDE_SELL, 1010, 10, WM_TIF_GTC);
    add(m, I2, 1, 3, WM_SIDE_SELL, 1010, 10, WM_TIF_DAY);
    struct wm_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = WM_CMD_MASS_CANCEL;
    c.session = 1;
    c.instrument = I1;
    apply(m, &c);
    SEQ("CLCLM");
    CHECK_EQ(ev[0].client_id, 1); /* the session's orders in order of entry */
    CHECK_EQ(ev[2].client_id, 2);
    CHECK_EQ(ev[0].aux, WM_CXL_MASS);
    CHECK_EQ(ev[4].qty, 2);
    CHECK_EQ(leaves(m, 2, 1), 10);
    CHECK_EQ(leaves(m, 1, 3), 10);
    c.flags = WM_CMDF_ALL_INSTRUMENTS;
    apply(m, &c);
    SEQ("CLM");
    CHECK_EQ(ev[0].instrument, I2);
    CHECK_EQ(ev[2].qty, 1);
    CHECK_EQ(ev[2].instrument, 0xffff);
    c.flags = 0;
    c.instrument = 7;
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_UNKNOWN_INSTRUMENT);
    wm_matcher_destroy(m);
}

/* Mass cancel order is the order of entry (a priority-losing replace is a
 * new entry), and does not depend on the size of the rest of the book. */
static void test_mass_cancel_entry_order_and_sessions(void)
{
    struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = 64, .max_sessions = 2};
    struct wm_matcher *m = NULL;
    CHECK_EQ(wm_matcher_create(&mc, &m), 0);
    struct wm_instrument_config a = {.id = I1, .max_levels = 16, .tick_size = 1, .lot_size = 1,
                                     .min_order_qty = 1, .max_order_qty = 100, .ref_price = 1000};
    CHECK_EQ(wm_matcher_add_instrument(m, &a), 0);
    add(m, I1, 5, 1, WM_SIDE_BUY, 990, 1, WM_TIF_DAY);
    add(m, I1, 5, 2, WM_SIDE_BUY, 995, 1, WM_TIF_DAY);
    add(m, I1, 5, 3, WM_SIDE_BUY, 992, 1, WM_TIF_DAY);
    add(m, I1, 6, 1, WM_SIDE_BUY, 999, 1, WM_TIF_DAY);
    add(m, I1, 7, 1, WM_SIDE_BUY, 999, 1, WM_TIF_DAY); /* a third session: no room */
    SEQ("R");
    CHECK_EQ(ev[0].aux, WM_REJ_CAPACITY);
    replace(m, I1, 5, 1, 4, 991, 1); /* re-entered: now last */
    struct wm_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = WM_CMD_MASS_CANCEL;
    c.session = 5;
    c.instrument = I1;
    apply(m, &c);
    SEQ("CLCLCLM");
    CHECK_EQ(ev[0].client_id, 2);
    CHECK_EQ(ev[2].client_id, 3);
    CHECK_EQ(ev[4].client_id, 4);
    CHECK_EQ(ev[6].qty, 3);
    CHECK_EQ(leaves(m, 6, 1), 1);
    apply(m, &c); /* nothing left */
    SEQ("M");
    CHECK_EQ(ev[0].qty, 0);
    c.session = 9; /* a session never seen */
    apply(m, &c);
    SEQ("M");
    wm_matcher_destroy(m);
}

static void stp_setup(struct wm_matcher *m)
{
    add(m, I1, 1, 1, WM_SIDE_SELL, 1000, 30, WM_TIF_DAY); /* own */
    add(m, I1, 2, 1, WM_SIDE_SELL, 1000, 30, WM_TIF_DAY); /* other */
}

static void stp_taker(struct wm_matcher *m, uint8_t mode, int64_t qty)
{
    struct wm_cmd c = order(I1, 1, 9, WM_SIDE_BUY, 1000, qty, WM_TIF_DAY);
    c.stp = mode;
    apply(m, &c);
}

static void test_self_trade_prevention(void)
{
    struct wm_matcher *m = mk(64, 64);
    stp_setup(m);
    stp_taker(m, WM_STP_CANCEL_NEWEST, 50);
    SEQ("AC"); /* taker cancelled, own resting order untouched: no LEVEL */
    CHECK_EQ(ev[1].client_id, 9);
    CHECK_EQ(ev[1].aux, WM_CXL_STP);
    CHECK_EQ(leaves(m, 1, 1), 30);
    wm_matcher_destroy(m);

    m = mk(64, 64);
    stp_setup(m);
    stp_taker(m, WM_STP_CANCEL_OLDEST, 50);
    SEQ("ACEELBL"); /* own maker cancelled, taker trades 30 with the other, rests 20 */
    CHECK_EQ(ev[1].client_id, 1);
    CHECK(ev[1].flags & WM_EVF_RESTING);
    CHECK_EQ(ev[2].session, 2);
    CHECK_EQ(ev[5].qty, 20);
    wm_matcher_destroy(m);

    m = mk(64, 64);
    stp_setup(m);
    stp_taker(m, WM_STP_CANCEL_BOTH, 50);
    SEQ("ACCL");
    CHECK_EQ(ev[1].client_id, 1);
    CHECK_EQ(ev[2].client_id, 9);
    CHECK_EQ(leaves(m, 2, 1), 30);
    wm_matcher_destroy(m);

    /* Decrement: taker 50 vs own 30 -> own cancelled, taker decremented to 20,
     * then it trades 20 with the other account. */
    m = mk(64, 64);
    stp_setup(m);
    stp_taker(m, WM_STP_DECREMENT, 50);
    SEQ("ACCEEL");
    CHECK_EQ(ev[1].client_id, 1);
    CHECK_EQ(ev[1].qty, 30);
    CHECK(!(ev[1].flags & WM_EVF_PARTIAL));
    CHECK_EQ(ev[2].client_id, 9);
    CHECK_EQ(ev[2].qty, 30);
    CHECK(ev[2].flags & WM_EVF_PARTIAL);
    CHECK_EQ(ev[3].qty, 20);
    CHECK_EQ(leaves(m, 2, 1), 10);
    wm_matcher_destroy(m);
    /* Decrement: taker 10 vs own 30 -> own decremented to 20 (keeps its
     * place), taker cancelled. */
    m = mk(64, 64);
    stp_setup(m);
    stp_taker(m, WM_STP_DECREMENT, 10);
    SEQ("ACCL");
    CHECK(ev[1].flags & WM_EVF_PARTIAL);
    CHECK_EQ(leaves(m, 1, 1), 20);
    CHECK_EQ(ev[3].qty, 50);
    add(m, I1, 3, 1, WM_SIDE_BUY, 1000, 5, WM_TIF_IOC);
    CHECK_EQ(ev[1].client_id, 1);
    /* No prevention: same-account trades happen. */
    stp_taker(m, WM_STP_NONE, 5);
    SEQ("AEEL");
    CHECK_EQ(ev[1].session, 1);
    wm_matcher_destroy(m);
}

static void test_instrument_rules(void)
{
    struct wm_matcher *m = mk(64, 64);
    struct {
        int64_t price, qty;
        int reason;
    } cases[] = {
        {1003, 10, WM_REJ_OFF_TICK},    {1000, 15, WM_REJ_BAD_LOT},
        {1000, 0, WM_REJ_BAD_QTY},      {1000, -10, WM_REJ_BAD_QTY},
        {1000, 1010, WM_REJ_QTY_LIMIT}, {1105, 10, WM_REJ_OUT_OF_BAND},
        {895, 10, WM_REJ_OUT_OF_BAND},  {0, 10, WM_REJ_BAD_PRICE},
        {-5, 10, WM_REJ_BAD_PRICE},     {1100, 1000, 0},
        {900, 10, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t fp = book_fp(m, I2);
        add(m, I2, 1, 100 + i, WM_SIDE_BUY, cases[i].price, cases[i].qty, WM_TIF_DAY);
        if (cases[i].reason) {
            SEQ("R");
            CHECK_EQ(ev[0].aux, cases[i].reason);
            CHECK_EQ(book_fp(m, I2), fp);
        } else {
            SEQ("ABL");
        }
    }
    /* Reference price moves the band. */
    admin(m, WM_CMD_SET_REF, I2, 1200);
    SEQ("F");
    add(m, I2, 1, 200, WM_SIDE_SELL, 1300, 10, WM_TIF_DAY);
    SEQ("ABL");
    add(m, I2, 1, 201, WM_SIDE_SELL, 1305, 10, WM_TIF_DAY);
    CHECK_EQ(ev[0].aux, WM_REJ_OUT_OF_BAND);
    /* Halted: new orders and replaces rejected, cancels accepted. */
    admin(m, WM_CMD_HALT, I2, 0);
    SEQ("S");
    CHECK_EQ(ev[0].aux, WM_STATE_HALTED);
    CHECK_EQ(ev[0].qty, WM_STATE_OPEN);
    add(m, I2, 1, 202, WM_SIDE_SELL, 1200, 10, WM_TIF_DAY);
    CHECK_EQ(ev[0].aux, WM_REJ_HALTED);
    replace(m, I2, 1, 200, 200, 1250, 10);
    CHECK_EQ(ev[0].aux, WM_REJ_HALTED);
    cancel(m, I2, 1, 200);
    SEQ("CL");
    admin(m, WM_CMD_RESUME, I2, 0);
    SEQ("S");
    add(m, I2, 1, 203, WM_SIDE_SELL, 1200, 10, WM_TIF_GTC);
    SEQ("ABL");
    /* Closed: DAY orders expire, GTC orders stay; new orders rejected. */
    admin(m, WM_CMD_CLOSE, I2, 0);
    SEQ("SCLCL");
    CHECK_EQ(ev[1].aux, WM_CXL_CLOSE);
    CHECK_EQ(leaves(m, 1, 203), 10);
    add(m, I2, 1, 204, WM_SIDE_SELL, 1200, 10, WM_TIF_GTC);
    CHECK_EQ(ev[0].aux, WM_REJ_CLOSED);
    CHECK_EQ(counter(m, "reject_out_of_band"), 3);
    CHECK_EQ(counter(m, "cancel_close"), 2);
    wm_matcher_destroy(m);
}

static void test_rejects_distinct_and_counted(void)
{
    struct wm_matcher *m = mk(3, 2);
    add(m, I1, 1, 1, WM_SIDE_BUY, 990, 10, WM_TIF_DAY);
    uint64_t fp = book_fp(m, I1);
    uint64_t h = wm_matcher_hash(m);
    struct wm_cmd c = order(I1, 1, 1, WM_SIDE_BUY, 990, 10, WM_TIF_DAY);
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_DUPLICATE_ID);
    c = order(5, 1, 2, WM_SIDE_BUY, 990, 10, WM_TIF_DAY);
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_UNKNOWN_INSTRUMENT);
    c = order(I1, 1, 2, 3, 990, 10, WM_TIF_DAY);
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_BAD_SIDE);
    c = order(I1, 1, 2, WM_SIDE_BUY, 990, 10, 9);
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_BAD_TIF);
    c = order(I1, 1, 2, WM_SIDE_BUY, 990, 10, WM_TIF_DAY);
    c.ord_type = 7;
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_BAD_ORDER_TYPE);
    c.ord_type = WM_ORD_LIMIT;
    c.stp = 9;
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_BAD_STP);
    c.stp = 0;
    c.display_qty = 5;
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_BAD_DISPLAY_QTY);
    c.display_qty = 0;
    c.type = 99;
    apply(m, &c);
    CHECK_EQ(ev[0].aux, WM_REJ_BAD_COMMAND);
    CHECK_EQ(book_fp(m, I1), fp);
    /* Capacity: levels (2 in all), then orders (3 in all). */
    add(m, I1, 1, 2, WM_SIDE_BUY, 989, 10, WM_TIF_DAY);
    SEQ("ABL");
    fp = book_fp(m, I1);
    add(m, I1, 1, 3, WM_SIDE_BUY, 988, 10, WM_TIF_DAY);
    SEQ("R");
    CHECK_EQ(ev[0].aux, WM_REJ_CAPACITY);
    CHECK_EQ(book_fp(m, I1), fp);
    add(m, I1, 1, 3, WM_SIDE_BUY, 988, 10, WM_TIF_IOC); /* never rests: no level needed */
    SEQ("AC");
    add(m, I1, 1, 4, WM_SIDE_BUY, 989, 10, WM_TIF_DAY);
    SEQ("ABL");
    add(m, I1, 1, 5, WM_SIDE_BUY, 989, 10, WM_TIF_DAY);
    CHECK_EQ(ev[0].aux, WM_REJ_CAPACITY);
    CHECK_EQ(counter(m, "reject_capacity"), 2);
    CHECK_EQ(counter(m, "reject_duplicate_id"), 1);
    CHECK_EQ(counter(m, "reject_bad_side"), 1);
    CHECK_EQ(counter(m, "reject_unknown_instrument"), 1);
    CHECK_EQ(counter(m, "cmd_unknown_type"), 1);
    CHECK_EQ(counter(m, "rejected"), 10);
    CHECK(wm_matcher_hash(m) != h);
    wm_matcher_destroy(m);
}

static void test_overflow_at_64_bit_limits(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_SELL, 1000, INT64_MAX, WM_TIF_DAY);
    SEQ("ABL");
    CHECK_EQ(ev[2].qty, INT64_MAX);
    uint64_t fp = book_fp(m, I1);
    add(m, I1, 1, 2, WM_SIDE_SELL, 1000, 1, WM_TIF_DAY);
    SEQ("R");
    CHECK_EQ(ev[0].aux, WM_REJ_OVERFLOW);
    CHECK_EQ(book_fp(m, I1), fp);
    add(m, I1, 2, 1, WM_SIDE_BUY, 1000, INT64_MAX - 1, WM_TIF_IOC);
    SEQ("AEEL");
    CHECK_EQ(ev[1].qty, INT64_MAX - 1);
    CHECK_EQ(leaves(m, 1, 1), 1);
    /* Prices at the top of the 64-bit range live in the fallback ladder. */
    add(m, I1, 1, 3, WM_SIDE_SELL, INT64_MAX, 5, WM_TIF_DAY);
    SEQ("ABL");
    add(m, I1, 2, 2, WM_SIDE_BUY, INT64_MAX, INT64_MAX, WM_TIF_IOC);
    SEQ("AEELEELC");
    CHECK_EQ(ev[1].price, 1000);
    CHECK_EQ(ev[4].price, INT64_MAX);
    CHECK_EQ(ev[7].qty, INT64_MAX - 6);
    wm_matcher_destroy(m);
}

static void test_ladder_wide_swings(void)
{
    /* Window of 64 ticks around 1000: prices far outside go to the fallback,
     * and priority across both structures is still by price. */
    struct wm_matcher *m = mk(256, 128);
    int64_t prices[] = {1000, 5, 1031, 1033, 100000, 968, 1, 2000000000000ll, 1010, 967};
    for (int i = 0; i < 10; i++)
        add(m, I1, 1, 1 + i, WM_SIDE_SELL, prices[i], 1, WM_TIF_GTC);
    CHECK_EQ(nev, 0 + 3);
    /* Bids would cross: put them on the other side of the asks only after
     * the asks are consumed.  First the L2 of the asks: ascending. */
    struct wm_level_info l2[16];
    int n = wm_matcher_l2(m, I1, WM_SIDE_SELL, l2, 16);
    CHECK_EQ(n, 10);
    int64_t want[] = {1, 5, 967, 968, 1000, 1010, 1031, 1033, 100000, 2000000000000ll};
    for (int i = 0; i < n && i < 10; i++)
        CHECK_EQ(l2[i].price, want[i]);
    struct wm_instrument_status st;
    wm_matcher_instrument_status(m, I1, &st);
    CHECK(st.levels_in_fallback >= 5);
    CHECK_EQ(st.best_ask, 1);
    /* A sweep walks them in price order across window and fallback. */
    struct wm_cmd c = order(I1, 2, 1, WM_SIDE_BUY, 0, 10, WM_TIF_IOC);
    c.ord_type = WM_ORD_MARKET;
    apply(m, &c);
    CHECK_EQ(nev, 1 + 10 * 3);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(ev[1 + 3 * i].price, want[i]);
    wm_matcher_instrument_status(m, I1, &st);
    CHECK_EQ(st.ask_levels, 0);
    CHECK_EQ(st.levels_in_fallback, 0);
    /* Bids far below and above the window. */
    int64_t bids[] = {500, 1020, 3, 999, 50000};
    for (int i = 0; i < 5; i++)
        add(m, I1, 3, 1 + i, WM_SIDE_BUY, bids[i], 1, WM_TIF_GTC);
    n = wm_matcher_l2(m, I1, WM_SIDE_BUY, l2, 16);
    int64_t wantb[] = {50000, 1020, 999, 500, 3};
    CHECK_EQ(n, 5);
    for (int i = 0; i < n && i < 5; i++)
        CHECK_EQ(l2[i].price, wantb[i]);
    cancel(m, I1, 3, 5);
    wm_matcher_instrument_status(m, I1, &st);
    CHECK_EQ(st.best_bid, 1020);
    wm_matcher_destroy(m);
}

static void test_snapshots(void)
{
    struct wm_matcher *m = mk(64, 64);
    add(m, I1, 1, 1, WM_SIDE_BUY, 990, 10, WM_TIF_DAY);
    add(m, I1, 2, 1, WM_SIDE_BUY, 991, 20, WM_TIF_DAY);
    add(m, I1, 1, 2, WM_SIDE_BUY, 990, 30, WM_TIF_DAY);
    struct wm_level_info l2[4];
    CHECK_EQ(wm_matcher_l2(m, I1, WM_SIDE_BUY, l2, 4), 2);
    CHECK_EQ(l2[0].price, 991);
    CHECK_EQ(l2[1].qty, 40);
    CHECK_EQ(l2[1].orders, 2);
    CHECK_EQ(wm_matcher_l2(m, I1, WM_SIDE_BUY, l2, 1), 1);
    struct wm_order_info l3[4];
    CHECK_EQ(wm_matcher_l3(m, I1, WM_SIDE_BUY, l3, 4), 3);
    CHECK_EQ(l3[0].session, 2);
    CHECK_EQ(l3[1].client_id, 1);
    CHECK_EQ(l3[2].client_id, 2);
    CHECK_EQ(l3[2].qty, 30);
    CHECK_EQ(wm_matcher_l3(m, I1, WM_SIDE_SELL, l3, 4), 0);
    CHECK_EQ(wm_matcher_l2(m, 6, WM_SIDE_SELL, l2, 4), -ENOENT);
    CHECK_EQ(wm_matcher_l2(m, I1, 3, l2, 4), -EINVAL);
    wm_matcher_destroy(m);
}

/* A command producing more events than the buffer holds: it is split at step
 * boundaries, and the stream equals the one from a large buffer. */
static void test_resumable_and_deterministic(void)
{
    static struct wm_cmd cmds[300];
    int nc = 0;
    for (int i = 0; i < 200; i++)
        cmds[nc++] = order(I1, 1 + i % 3, 1 + i, WM_SIDE_SELL, 1000 + i % 7, 5, WM_TIF_DAY);
    cmds[nc++] = order(I1, 9, 1, WM_SIDE_BUY, 1010, 700, WM_TIF_GTC);
    for (int i = 0; i < 50; i++)
        cmds[nc++] = order(I1, 9, 2 + i, i & 1 ? WM_SIDE_BUY : WM_SIDE_SELL, 1003 + i % 5, 3,
                           WM_TIF_IOC);
    static struct wm_event big[8192], small[8192];
    struct wm_matcher *a = mk(512, 64), *b = mk(512, 64);
    unsigned used = 0;
    int na = wm_matcher_apply(a, cmds, (unsigned)nc, big, 8192, &used);
    CHECK_EQ(used, (unsigned)nc);
    CHECK(!wm_matcher_pending(a));
    int nb = 0;
    unsigned done = 0, calls = 0;
    while (done < (unsigned)nc || wm_matcher_pending(b)) {
        int k = wm_matcher_apply(b, cmds + done, (unsigned)nc - done, small + nb,
                                 WM_MATCHER_MIN_EVENTS, &used);
        CHECK(k >= 0 && k <= WM_MATCHER_MIN_EVENTS);
        nb += k;
        done += used;
        calls++;
    }
    CHECK_EQ(na, nb);
    CHECK(calls > 100);
    CHECK(memcmp(big, small, (size_t)na * sizeof(big[0])) == 0);
    CHECK_EQ(wm_matcher_hash(a), wm_matcher_hash(b));
    uint64_t h = 0x6a09e667f3bcc908ull;
    for (int i = 0; i < na; i++)
        h = wm_matcher_hash_event(h, &big[i]);
    CHECK_EQ(h, wm_matcher_hash(a));
    CHECK(counter(b, "pending_splits") > 0);
    /* Small buffer rule. */
    CHECK_EQ(wm_matcher_apply(a, cmds, 1, big, WM_MATCHER_MIN_EVENTS - 1, &used), -EINVAL);
    /* Snapshots are refused while a command is half-done. */
    struct wm_cmd sweep = order(I1, 8, 1, WM_SIDE_SELL, 0, 10000, WM_TIF_IOC);
    sweep.ord_type = WM_ORD_MARKET;
    struct wm_level_info l2[2];
    CHECK_EQ(wm_matcher_apply(a, &sweep, 1, big, WM_MATCHER_MIN_EVENTS, &used), 1);
    CHECK_EQ(used, 1);
    CHECK(wm_matcher_pending(a));
    CHECK_EQ(wm_matcher_l2(a, I1, WM_SIDE_BUY, l2, 2), -EBUSY);
    while (wm_matcher_pending(a))
        wm_matcher_apply(a, NULL, 0, big, 64, &used);
    CHECK_EQ(wm_matcher_l2(a, I1, WM_SIDE_BUY, l2, 2), 0);
    wm_matcher_destroy(a);
    wm_matcher_destroy(b);
}

/* The hash as docs/matching.md writes it, one 64-bit lane at a time. */
static uint64_t ref_hash_event(uint64_t h, const struct wm_event *e)
{
    static const uint64_t k[8] = {
        0xa0761d6478bd642full, 0xe7037ed1a0b428dbull, 0x8ebc6af09c88c6e3ull,
        0x589965cc75374cc3ull, 0x1d8e4e27c47d124full, 0xc2b2ae3d27d4eb4full,
        0x165667b19e3779f9ull, 0xd6e8feb86659fd93ull,
    };
    uint64_t w[8], d = 0;
    memcpy(w, e, sizeof(w));
    for (int i = 0; i < 8; i++) {
        uint64_t x = w[i] ^ k[i];
        d += (x & 0xffffffffu) * (x >> 32) + w[i];
    }
    return (((h << 23) | (h >> 41)) ^ d) * 0x9e3779b97f4a7c15ull;
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static int64_t rng_in(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

/* Whatever the build computes its hash with (AVX2 or scalar lanes), it is
 * the documented formula: random event bytes, extreme words, and events
 * hashed in batches of every parity (the AVX2 path pairs them). */
static void test_hash_formula(void)
{
    static struct wm_event e[257];
    for (int i = 0; i < 257; i++) {
        uint64_t w[8];
        for (int j = 0; j < 8; j++)
            w[j] = i < 2 ? (i ? ~0ull : 0) : rng();
        memcpy(&e[i], w, sizeof(w));
    }
    uint64_t h = 0x6a09e667f3bcc908ull, r = h;
    for (int i = 0; i < 257; i++) {
        h = wm_matcher_hash_event(h, &e[i]);
        r = ref_hash_event(r, &e[i]);
    }
    CHECK_EQ(h, r);
}

/* A pseudo-random stream over both instruments (the 64-tick window of I1
 * overflows into the fallback; I2 rejects off tick, lot and band), applied
 * in random batches through random buffer sizes, must give the same events
 * as one call with a large buffer.  Its hash is printed: the portable and
 * the AVX2 builds print the same line (tests/test_matcher_lib.py). */
#define STREAM_CMDS 20000
static struct wm_cmd stream[STREAM_CMDS];
static struct wm_event stream_ev[STREAM_CMDS * 16];

/* The stream's commands; each command's ts is its index. */
static void make_stream(struct wm_cmd *cmds)
{
    rng_state = 0x243f6a8885a308d3ull;
    int halted = 0;
    uint64_t next_id[5] = {0, 1, 1, 1, 1};
    for (int i = 0; i < STREAM_CMDS; i++) {
        struct wm_cmd *c = &cmds[i];
        memset(c, 0, sizeof(*c));
        uint32_t session = (uint32_t)rng_in(1, 4);
        uint16_t instr = rng() % 4 ? I1 : I2;
        int64_t tick = instr == I1 ? 1 : 5, lot = instr == I1 ? 1 : 10;
        int roll = (int)rng_in(0, 999);
        c->ts = (uint64_t)i;
        c->session = session;
        c->account = session & 1 ? session : 1;
        c->instrument = instr;
        if (roll < 560) {
            c->type = WM_CMD_NEW;
            c->client_id = next_id[session]++;
            c->side = rng() & 1 ? WM_SIDE_BUY : WM_SIDE_SELL;
            c->ord_type = WM_ORD_LIMIT;
            c->tif = (uint8_t)(rng() % 8 < 5 ? WM_TIF_DAY : rng_in(WM_TIF_GTC, WM_TIF_FOK));
            c->stp = (uint8_t)(rng() % 4 ? WM_STP_NONE : rng_in(1, 4));
            int64_t off = rng() % 20 ? rng_in(-12, 12) : rng_in(-400, 400);
            c->price = 1000 + off * tick;
            c->qty = rng_in(1, 30) * lot;
        } else if (roll < 580) {
            c->type = WM_CMD_NEW;
            c->client_id = next_id[session]++;
            c->side = rng() & 1 ? WM_SIDE_BUY : WM_SIDE_SELL;
            c->ord_type = WM_ORD_MARKET;
            c->tif = WM_TIF_IOC;
            c->qty = rng_in(1, 40) * lot;
        } else if (roll < 800) {
            c->type = WM_CMD_CANCEL;
            c->client_id = (uint64_t)rng_in(1, (int64_t)next_id[session]);
        } else if (roll < 960) {
            c->type = WM_CMD_REPLACE;
            c->client_id = (uint64_t)rng_in(1, (int64_t)next_id[session]);
            c->new_client_id = rng() & 1 ? c->client_id : next_id[session]++;
            c->price = 1000 + rng_in(-12, 12) * tick;
            c->qty = rng_in(1, 30) * lot;
        } else if (roll < 964) {
            c->type = WM_CMD_MASS_CANCEL;
            c->flags = rng() & 1 ? WM_CMDF_ALL_INSTRUMENTS : 0;
        } else if (roll < 984) {
            c->type = WM_CMD_SET_REF;
            c->price = 1000 + rng_in(-4, 4) * tick;
        } else {
            /* A halt now and then, resumed by the next such command. */
            c->type = halted ? WM_CMD_RESUME : WM_CMD_HALT;
            halted = !halted;
        }
    }
}

static struct wm_matcher *mk_opts(uint32_t options)
{
    struct wm_matcher_config mc = {.max_instruments = 8, .max_orders = 4096,
                                   .options = options};
    struct wm_matcher *m = NULL;
    CHECK_EQ(wm_matcher_create(&mc, &m), 0);
    struct wm_instrument_config a = {.id = I1, .max_levels = 1024, .window_ticks = 64,
                                     .tick_size = 1, .lot_size = 1, .min_order_qty = 1,
                                     .max_order_qty = INT64_MAX, .ref_price = 1000};
    CHECK_EQ(wm_matcher_add_instrument(m, &a), 0);
    struct wm_instrument_config b = {.id = I2, .max_levels = 1024, .tick_size = 5,
                                     .lot_size = 10, .min_order_qty = 10, .max_order_qty = 1000,
                                     .ref_price = 1000, .price_band = 100};
    CHECK_EQ(wm_matcher_add_instrument(m, &b), 0);
    return m;
}

static void test_random_stream(void)
{
    struct wm_cmd *cmds = stream;
    struct wm_event *one = stream_ev;
    static struct wm_event part[4096];
    make_stream(cmds);
    struct wm_matcher *a = mk(4096, 1024), *b = mk(4096, 1024);
    unsigned used = 0;
    int na = wm_matcher_apply(a, cmds, STREAM_CMDS, one, STREAM_CMDS * 16, &used);
    CHECK_EQ(used, STREAM_CMDS);
    CHECK(!wm_matcher_pending(a));
    static const unsigned caps[] = {WM_MATCHER_MIN_EVENTS, 13, 64, 4096};
    unsigned done = 0;
    long nb = 0;
    bool same = true;
    while (done < STREAM_CMDS || wm_matcher_pending(b)) {
        unsigned batch = (unsigned)rng_in(0, 64);
        if (batch > STREAM_CMDS - done)
            batch = STREAM_CMDS - done;
        int k = wm_matcher_apply(b, cmds + done, batch, part, caps[rng() % 4], &used);
        CHECK(k >= 0);
        if (k > 0 && (nb + k > na || memcmp(part, one + nb, (size_t)k * sizeof(part[0])) != 0))
            same = false;
        nb += k > 0 ? k : 0;
        done += used;
    }
    CHECK(same);
    CHECK_EQ(nb, na);
    CHECK_EQ(wm_matcher_hash(a), wm_matcher_hash(b));
    uint64_t r = 0x6a09e667f3bcc908ull;
    for (int i = 0; i < na; i++)
        r = ref_hash_event(r, &one[i]);
    CHECK_EQ(wm_matcher_hash(a), r);
    /* The stream reaches the fallback ladder and trades. */
    CHECK(counter(a, "trades") > 1000);
    CHECK(counter(a, "rejected") > 100);
    struct wm_instrument_status st;
    CHECK_EQ(wm_matcher_instrument_status(a, I1, &st), 0);
    CHECK(st.levels_in_fallback > 0);
    printf("test_matcher: stream %d commands, %d events, %llu trades, hash %016llx\n",
           STREAM_CMDS, na, (unsigned long long)counter(a, "trades"),
           (unsigned long long)wm_matcher_hash(a));
    wm_matcher_destroy(a);
    wm_matcher_destroy(b);
}

/* apply_indexed: the same events as apply, through random batches and
 * buffer sizes (commands left half-done and finished in the next call), and
 * every event lands in the command whose ts it carries (the stream's ts is
 * the command's index); every command has at least one event. */
static void test_apply_indexed(void)
{
    make_stream(stream);
    struct wm_matcher *a = mk_opts(0), *b = mk_opts(0);
    unsigned used = 0;
    int na = wm_matcher_apply(a, stream, STREAM_CMDS, stream_ev, STREAM_CMDS * 16, &used);
    CHECK_EQ(used, STREAM_CMDS);
    static struct wm_event part[4096];
    static uint32_t ends[65];
    static const unsigned caps[] = {WM_MATCHER_MIN_EVENTS, 9, 64, 4096};
    unsigned done = 0;
    long nb = 0;
    int wrong_owner = 0, empty = 0, mismatch = 0, carried_calls = 0;
    while (done < STREAM_CMDS || wm_matcher_pending(b)) {
        unsigned batch = (unsigned)rng_in(0, 64);
        if (batch > STREAM_CMDS - done)
            batch = STREAM_CMDS - done;
        memset(ends, 0xff, sizeof(ends));
        int k = wm_matcher_apply_indexed(b, stream + done, batch, part, caps[rng() % 4], &used,
                                         ends);
        CHECK(k >= 0);
        if (k < 0)
            break;
        if (memcmp(part, stream_ev + nb, (size_t)k * sizeof(part[0])) != 0)
            mismatch++;
        /* The head finishes the command before this batch (index done - 1). */
        CHECK(ends[0] <= (uint32_t)k);
        carried_calls += ends[0] > 0;
        for (uint32_t e = 0; e < ends[0]; e++)
            wrong_owner += done == 0 || part[e].ts != done - 1;
        for (unsigned c = 0; c < used; c++) {
            CHECK(ends[c] <= ends[c + 1] && ends[c + 1] <= (uint32_t)k);
            /* A command that is finished here has events here unless it was
             * left half-done (then its first events are here too). */
            empty += ends[c + 1] == ends[c];
            for (uint32_t e = ends[c]; e < ends[c + 1]; e++)
                wrong_owner += part[e].ts != done + c;
        }
        /* The last command's events (or the carried ones) end the buffer;
         * nothing past the consumed commands is written. */
        CHECK_EQ(ends[used], (uint32_t)k);
        if (used < 64)
            CHECK_EQ(ends[used + 1], 0xffffffffu);
        nb += k;
        done += used;
    }
    CHECK_EQ(mismatch, 0);
    CHECK_EQ(wrong_owner, 0);
    CHECK_EQ(empty, 0);
    CHECK(carried_calls > 10);
    CHECK_EQ(nb, na);
    CHECK_EQ(wm_matcher_hash(a), wm_matcher_hash(b));
    CHECK_EQ(wm_matcher_apply_indexed(b, stream, 1, part, 64, &used, NULL), -EINVAL);
    wm_matcher_destroy(a);
    wm_matcher_destroy(b);
}

/* Options: without the hash the events are the same and the hash reads 0;
 * without LEVEL events the stream is the default one minus its LEVEL events,
 * numbered 1, 2, ... with no gap, and the book is the same. */
static void test_options(void)
{
    make_stream(stream);
    static struct wm_event nolevel[STREAM_CMDS * 16], nohash[STREAM_CMDS * 16];
    struct wm_matcher *a = mk_opts(0), *b = mk_opts(WM_MATCHER_NO_LEVEL_EVENTS),
                      *c = mk_opts(WM_MATCHER_NO_HASH),
                      *d = mk_opts(WM_MATCHER_NO_HASH | WM_MATCHER_NO_LEVEL_EVENTS);
    unsigned used = 0;
    int na = wm_matcher_apply(a, stream, STREAM_CMDS, stream_ev, STREAM_CMDS * 16, &used);
    int nb = wm_matcher_apply(b, stream, STREAM_CMDS, nolevel, STREAM_CMDS * 16, &used);
    int nc = wm_matcher_apply(c, stream, STREAM_CMDS, nohash, STREAM_CMDS * 16, &used);
    CHECK_EQ(nc, na);
    CHECK(memcmp(nohash, stream_ev, (size_t)na * sizeof(stream_ev[0])) == 0);
    CHECK_EQ(wm_matcher_hash(c), 0);
    CHECK(wm_matcher_hash(a) != 0);
    CHECK_EQ(wm_matcher_last_seq(c), wm_matcher_last_seq(a));
    int levels = 0, j = 0, differ = 0;
    for (int i = 0; i < na; i++) {
        if (stream_ev[i].type == WM_EV_LEVEL) {
            levels++;
            continue;
        }
        struct wm_event x = stream_ev[i];
        x.seq = (uint64_t)j + 1;
        differ += j >= nb || memcmp(&x, &nolevel[j], sizeof(x)) != 0;
        j++;
    }
    CHECK(levels > 1000);
    CHECK_EQ(j, nb);
    CHECK_EQ(differ, 0);
    CHECK_EQ(wm_matcher_last_seq(b), (uint64_t)nb);
    /* The hash of the shorter stream is still kept. */
    uint64_t r = 0x6a09e667f3bcc908ull;
    for (int i = 0; i < nb; i++)
        r = ref_hash_event(r, &nolevel[i]);
    CHECK_EQ(wm_matcher_hash(b), r);
    CHECK_EQ(counter(b, "trades"), counter(a, "trades"));
    CHECK_EQ(counter(b, "events"), (uint64_t)nb);
    /* Both off: the LEVEL-free stream again, no hash. */
    int nd = wm_matcher_apply(d, stream, STREAM_CMDS, nohash, STREAM_CMDS * 16, &used);
    CHECK_EQ(nd, nb);
    CHECK(memcmp(nohash, nolevel, (size_t)nb * sizeof(nolevel[0])) == 0);
    CHECK_EQ(wm_matcher_hash(d), 0);
    /* Same books. */
    static struct wm_level_info la[2048], lb[2048];
    for (uint16_t in = I1; in <= I2; in++)
        for (uint32_t side = WM_SIDE_BUY; side <= WM_SIDE_SELL; side++) {
            int ka = wm_matcher_l2(a, in, side, la, 2048);
            int kb = wm_matcher_l2(b, in, side, lb, 2048);
            CHECK(ka > 0);
            CHECK_EQ(ka, kb);
            CHECK(ka == kb && memcmp(la, lb, (size_t)ka * sizeof(la[0])) == 0);
        }
    struct wm_matcher_config bad = {.max_instruments = 1, .max_orders = 8, .options = 4};
    struct wm_matcher *m = NULL;
    CHECK_EQ(wm_matcher_create(&bad, &m), -EINVAL);
    wm_matcher_destroy(a);
    wm_matcher_destroy(b);
    wm_matcher_destroy(c);
    wm_matcher_destroy(d);
}

static void test_depth_at(void)
{
    struct wm_matcher *m = mk(64, 16);
    int64_t q = -1;
    uint32_t n = 99;
    CHECK_EQ(wm_matcher_depth_at(m, I1, WM_SIDE_BUY, 1000, &q, &n), 0);
    CHECK_EQ(q, 0);
    CHECK_EQ(n, 0);
    add(m, I1, 1, 1, WM_SIDE_BUY, 1000, 5, WM_TIF_DAY);
    add(m, I1, 2, 1, WM_SIDE_BUY, 1000, 7, WM_TIF_GTC);
    add(m, I1, 1, 2, WM_SIDE_BUY, 999, 3, WM_TIF_DAY);
    add(m, I1, 1, 3, WM_SIDE_SELL, 1500, 4, WM_TIF_DAY); /* outside the 64-tick window */
    CHECK_EQ(wm_matcher_depth_at(m, I1, WM_SIDE_BUY, 1000, &q, &n), 0);
    CHECK_EQ(q, 12);
    CHECK_EQ(n, 2);
    CHECK_EQ(wm_matcher_depth_at(m, I1, WM_SIDE_BUY, 999, &q, NULL), 0);
    CHECK_EQ(q, 3);
    CHECK_EQ(wm_matcher_depth_at(m, I1, WM_SIDE_SELL, 1000, &q, &n), 0);
    CHECK_EQ(q, 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(wm_matcher_depth_at(m, I1, WM_SIDE_SELL, 1500, NULL, &n), 0);
    CHECK_EQ(n, 1);
    struct wm_instrument_status st;
    wm_matcher_instrument_status(m, I1, &st);
    CHECK_EQ(st.levels_in_fallback, 1);
    /* A partial fill and a cancel change it. */
    add(m, I1, 3, 1, WM_SIDE_SELL, 1000, 6, WM_TIF_IOC);
    CHECK_EQ(wm_matcher_depth_at(m, I1, WM_SIDE_BUY, 1000, &q, &n), 0);
    CHECK_EQ(q, 6);
    CHECK_EQ(n, 1);
    cancel(m, I1, 2, 1);
    CHECK_EQ(wm_matcher_depth_at(m, I1, WM_SIDE_BUY, 1000, &q, &n), 0);
    CHECK_EQ(q, 0);
    CHECK_EQ(n, 0);
    /* Tick 5 on I2: 1005 is a price, 1003 is not. */
    add(m, I2, 1, 1, WM_SIDE_SELL, 1005, 20, WM_TIF_DAY);
    CHECK_EQ(wm_matcher_depth_at(m, I2, WM_SIDE_SELL, 1005, &q, &n), 0);
    CHECK_EQ(q, 20);
    CHECK_EQ(wm_matcher_depth_at(m, I2, WM_SIDE_SELL, 1003, &q, &n), -EINVAL);
    CHECK_EQ(wm_matcher_depth_at(m, I2, WM_SIDE_SELL, 0, &q, &n), -EINVAL);
    CHECK_EQ(wm_matcher_depth_at(m, I2, 3, 1005, &q, &n), -EINVAL);
    CHECK_EQ(wm_matcher_depth_at(m, 5, WM_SIDE_SELL, 1005, &q, &n), -ENOENT);
    CHECK_EQ(wm_matcher_depth_at(m, 60000, WM_SIDE_SELL, 1005, &q, &n), -ENOENT);
    wm_matcher_destroy(m);
    /* Over the random stream's book: every level l2 lists has that depth at
     * its price, and the prices between levels have none. */
    make_stream(stream);
    m = mk_opts(0);
    unsigned used;
    wm_matcher_apply(m, stream, STREAM_CMDS, stream_ev, STREAM_CMDS * 16, &used);
    static struct wm_level_info l2[2048];
    int bad = 0, checked = 0;
    for (uint16_t in = I1; in <= I2; in++)
        for (uint32_t side = WM_SIDE_BUY; side <= WM_SIDE_SELL; side++) {
            int k = wm_matcher_l2(m, in, side, l2, 2048);
            int64_t tick = in == I1 ? 1 : 5;
            for (int i = 0; i < k; i++) {
                bad += wm_matcher_depth_at(m, in, side, l2[i].price, &q, &n) != 0 ||
                       q != l2[i].qty || n != l2[i].orders;
                checked++;
                if (i + 1 < k)
                    for (int64_t p = l2[i].price + tick; p < l2[i + 1].price; p += tick)
                        bad += wm_matcher_depth_at(m, in, side, p, &q, &n) != 0 || q || n;
            }
        }
    CHECK(checked > 20);
    CHECK_EQ(bad, 0);
    /* Refused while a command is half-done (the stream may end halted). */
    admin(m, WM_CMD_RESUME, I1, 0);
    struct wm_cmd sweep = order(I1, 9, 1, WM_SIDE_SELL, 0, 1000000, WM_TIF_IOC);
    sweep.ord_type = WM_ORD_MARKET;
    wm_matcher_apply(m, &sweep, 1, stream_ev, WM_MATCHER_MIN_EVENTS, &used);
    if (wm_matcher_pending(m))
        CHECK_EQ(wm_matcher_depth_at(m, I1, WM_SIDE_BUY, 1000, &q, &n), -EBUSY);
    else
        CHECK(!"the sweep did not stop half-done");
    wm_matcher_destroy(m);
}

/* SET_REF re-centres the dense window on the new reference price.  A matcher
 * with a 64-tick window (levels move between window and fallback at every
 * SET_REF) and one with a window wide enough to hold every price give the
 * same events over a stream whose reference price drifts; after a SET_REF
 * the fallback holds exactly the levels outside the new window. */
static struct wm_matcher *mk_window(uint32_t window)
{
    struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = 4096};
    struct wm_matcher *m = NULL;
    CHECK_EQ(wm_matcher_create(&mc, &m), 0);
    struct wm_instrument_config a = {.id = I1, .max_levels = 2048, .window_ticks = window,
                                     .tick_size = 1, .lot_size = 1, .min_order_qty = 1,
                                     .max_order_qty = 1000000, .ref_price = 100000};
    CHECK_EQ(wm_matcher_add_instrument(m, &a), 0);
    return m;
}

static uint32_t outside_window(struct wm_matcher *m, int64_t ref, int64_t window)
{
    static struct wm_level_info l2[4096];
    uint32_t out = 0;
    for (uint32_t side = WM_SIDE_BUY; side <= WM_SIDE_SELL; side++) {
        int k = wm_matcher_l2(m, I1, side, l2, 4096);
        for (int i = 0; i < k; i++) {
            int64_t d = l2[i].price - (ref - window / 2);
            out += d < 0 || d >= window;
        }
    }
    return out;
}

static void test_set_ref_recentres_window(void)
{
    enum { N = 20000 };
    rng_state = 0x13198a2e03707344ull;
    int64_t ref = 100000;
    uint64_t next_id = 1;
    for (int i = 0; i < N; i++) {
        struct wm_cmd *c = &stream[i];
        memset(c, 0, sizeof(*c));
        c->ts = (uint64_t)i;
        c->session = 1 + (uint32_t)(rng() % 3);
        c->account = c->session;
        c->instrument = I1;
        int roll = (int)rng_in(0, 99);
        if (roll < 3) {
            ref += rng_in(-60, 60); /* the market moves: most levels change place */
            c->type = WM_CMD_SET_REF;
            c->price = ref;
        } else if (roll < 65) {
            c->type = WM_CMD_NEW;
            c->client_id = next_id++;
            c->side = rng() & 1 ? WM_SIDE_BUY : WM_SIDE_SELL;
            c->ord_type = WM_ORD_LIMIT;
            c->tif = rng() % 8 ? WM_TIF_GTC : WM_TIF_IOC;
            int64_t off = rng() % 10 ? rng_in(1, 40) : rng_in(1, 500);
            c->price = c->side == WM_SIDE_BUY ? ref - off + rng_in(0, 3) : ref + off - rng_in(0, 3);
            c->qty = rng_in(1, 50);
        } else {
            c->type = WM_CMD_CANCEL;
            c->client_id = (uint64_t)rng_in(1, (int64_t)next_id);
        }
    }
    struct wm_matcher *narrow = mk_window(64), *wide = mk_window(262144);
    static struct wm_event wide_ev[N * 16];
    unsigned used;
    int nn = wm_matcher_apply(narrow, stream, N, stream_ev, N * 16, &used);
    int nw = wm_matcher_apply(wide, stream, N, wide_ev, N * 16, &used);
    CHECK_EQ(nn, nw);
    CHECK(nn == nw && memcmp(stream_ev, wide_ev, (size_t)nn * sizeof(stream_ev[0])) == 0);
    CHECK(counter(narrow, "trades") > 500);
    struct wm_instrument_status sn, sw;
    wm_matcher_instrument_status(narrow, I1, &sn);
    wm_matcher_instrument_status(wide, I1, &sw);
    CHECK(sn.bid_levels + sn.ask_levels > 50);
    CHECK_EQ(sw.levels_in_fallback, 0);
    /* A last SET_REF far away, then back: each time the fallback holds
     * exactly the levels outside the window around the new reference. */
    int64_t refs[] = {ref + 5000, ref - 3, ref + 17};
    for (int r = 0; r < 3; r++) {
        admin(narrow, WM_CMD_SET_REF, I1, refs[r]);
        admin(wide, WM_CMD_SET_REF, I1, refs[r]);
        wm_matcher_instrument_status(narrow, I1, &sn);
        CHECK_EQ(sn.levels_in_fallback, outside_window(narrow, refs[r], 64));
    }
    CHECK(sn.levels_in_fallback > 0 && sn.levels_in_fallback < sn.bid_levels + sn.ask_levels);
    /* The book is the same level by level; a sweep after the moves walks it
     * in price order as the wide one does. */
    static struct wm_level_info a[4096], b[4096];
    for (uint32_t side = WM_SIDE_BUY; side <= WM_SIDE_SELL; side++) {
        int ka = wm_matcher_l2(narrow, I1, side, a, 4096);
        int kb = wm_matcher_l2(wide, I1, side, b, 4096);
        CHECK_EQ(ka, kb);
        CHECK(ka == kb && memcmp(a, b, (size_t)ka * sizeof(a[0])) == 0);
    }
    struct wm_cmd sweep = order(I1, 9, 1, WM_SIDE_BUY, 0, 1000000, WM_TIF_IOC);
    sweep.ord_type = WM_ORD_MARKET;
    nn = wm_matcher_apply(narrow, &sweep, 1, stream_ev, N * 16, &used);
    nw = wm_matcher_apply(wide, &sweep, 1, wide_ev, N * 16, &used);
    CHECK_EQ(nn, nw);
    CHECK(nn > 10 && memcmp(stream_ev, wide_ev, (size_t)nn * sizeof(stream_ev[0])) == 0);
    wm_matcher_destroy(narrow);
    wm_matcher_destroy(wide);
}

/* The first level of an empty book centres the window on its price. */
static void test_empty_book_centres_window(void)
{
    struct wm_matcher *m = mk(64, 64); /* I1: a 64-tick window around 1000 */
    struct wm_instrument_status st;
    add(m, I1, 1, 1, WM_SIDE_SELL, 50000, 5, WM_TIF_GTC);
    add(m, I1, 1, 2, WM_SIDE_SELL, 50020, 5, WM_TIF_GTC);
    add(m, I1, 1, 3, WM_SIDE_BUY, 49990, 5, WM_TIF_GTC);
    wm_matcher_instrument_status(m, I1, &st);
    CHECK_EQ(st.bid_levels + st.ask_levels, 3);
    CHECK_EQ(st.levels_in_fallback, 0);
    add(m, I1, 1, 4, WM_SIDE_BUY, 1000, 5, WM_TIF_GTC); /* the book is not empty: fallback */
    wm_matcher_instrument_status(m, I1, &st);
    CHECK_EQ(st.levels_in_fallback, 1);
    for (uint64_t id = 1; id <= 4; id++)
        cancel(m, I1, 1, id);
    add(m, I1, 1, 5, WM_SIDE_BUY, 7000, 5, WM_TIF_GTC);
    add(m, I1, 1, 6, WM_SIDE_SELL, 7031, 5, WM_TIF_GTC);
    add(m, I1, 1, 7, WM_SIDE_SELL, 7032, 5, WM_TIF_GTC); /* just outside: 7000 - 32 + 64 */
    wm_matcher_instrument_status(m, I1, &st);
    CHECK_EQ(st.levels_in_fallback, 1);
    CHECK_EQ(st.best_bid, 7000);
    CHECK_EQ(st.best_ask, 7031);
    wm_matcher_destroy(m);
}

/* A mixed command stream from a seed: orders of every kind on both
 * instruments (in and out of band, some crossing), cancels, replaces, mass
 * cancels, halts, resumes, closes and reference price changes. */
static int mixed_stream(uint64_t seed, struct wm_cmd *cmds, int n)
{
    uint64_t x = seed;
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint16_t instr = x & 1 ? I2 : I1;
        uint32_t sess = 1 + (uint32_t)(x >> 1) % 4;
        uint64_t id = 1 + (x >> 4) % 40;
        uint8_t side = (x >> 10) & 1 ? WM_SIDE_BUY : WM_SIDE_SELL;
        int64_t price = instr == I2 ? 950 + 5 * (int64_t)((x >> 12) % 24)
                                    : 990 + (int64_t)((x >> 12) % 21);
        int64_t qty = instr == I2 ? 10 * (int64_t)(1 + (x >> 20) % 9) : 1 + (int64_t)((x >> 20) % 30);
        unsigned t = (unsigned)((x >> 24) % 8);
        uint8_t tif = t < 3 ? WM_TIF_DAY : t < 6 ? WM_TIF_GTC : t < 7 ? WM_TIF_IOC : WM_TIF_FOK;
        unsigned kind = (unsigned)((x >> 32) % 200);
        struct wm_cmd c = order(instr, sess, id, side, price, qty, tif);
        c.stp = (uint8_t)((x >> 40) % 5);
        if (kind < 10)
            c.ord_type = WM_ORD_MARKET, c.price = 0, c.tif = WM_TIF_IOC;
        else if (kind < 150)
            ;
        else if (kind < 170)
            c.type = WM_CMD_CANCEL;
        else if (kind < 188)
            c.type = WM_CMD_REPLACE, c.new_client_id = 41 + (x >> 44) % 40;
        else if (kind < 190)
            c.type = WM_CMD_MASS_CANCEL, c.flags = (x >> 50) & 1 ? WM_CMDF_ALL_INSTRUMENTS : 0;
        else if (kind < 192)
            c.type = WM_CMD_HALT;
        else if (kind < 196)
            c.type = WM_CMD_RESUME;
        else if (kind < 197)
            c.type = WM_CMD_CLOSE;
        else
            c.type = WM_CMD_SET_REF;
        c.ts = (uint64_t)i + 1;
        cmds[i] = c;
    }
    return n;
}

/* Apply cmds with an event buffer of WM_MATCHER_MIN_EVENTS (long commands
 * split over calls) until done; the events go to out. */
static int run_all(struct wm_matcher *m, const struct wm_cmd *cmds, int nc, struct wm_event *out,
                   int cap)
{
    int n = 0;
    unsigned done = 0, used = 0;
    while ((done < (unsigned)nc || wm_matcher_pending(m)) && n + WM_MATCHER_MIN_EVENTS <= cap) {
        int k = wm_matcher_apply(m, cmds + done, (unsigned)nc - done, out + n,
                                 WM_MATCHER_MIN_EVENTS, &used);
        CHECK(k >= 0);
        if (k < 0)
            break;
        n += k;
        done += used;
    }
    return n;
}

/* Everything the public API shows of a matcher's state, compared. */
static void check_same_state(struct wm_matcher *a, struct wm_matcher *b)
{
    CHECK_EQ(wm_matcher_hash(a), wm_matcher_hash(b));
    CHECK_EQ(wm_matcher_last_seq(a), wm_matcher_last_seq(b));
    CHECK_EQ(wm_matcher_live_orders(a), wm_matcher_live_orders(b));
    CHECK_EQ(wm_matcher_pending(a), wm_matcher_pending(b));
    for (unsigned i = 0; i < wm_matcher_counter_count(); i++)
        CHECK_EQ(wm_matcher_counter_value(a, i), wm_matcher_counter_value(b, i));
    for (uint32_t instr = I1; instr <= I2; instr++) {
        struct wm_instrument_status sa, sb;
        CHECK_EQ(wm_matcher_instrument_status(a, instr, &sa), 0);
        CHECK_EQ(wm_matcher_instrument_status(b, instr, &sb), 0);
        CHECK(memcmp(&sa, &sb, sizeof(sa)) == 0);
        CHECK_EQ(book_fp(a, instr), book_fp(b, instr));
    }
}

/* wm_matcher_reset: a matcher that ran a long mixed stream (halted and
 * closed instruments, moved reference prices, a full order pool and level
 * pool, sessions known, a command half-done) then reset, and a matcher just
 * created, give the same events, hash and state on the same stream. */
static void test_reset_equals_fresh(void)
{
    enum { NC = 3000, CAP = 200000 };
    static struct wm_cmd a_cmds[NC], b_cmds[NC];
    static struct wm_event ev_reset[CAP], ev_fresh[CAP];
    mixed_stream(0x9e3779b97f4a7c15ull, a_cmds, NC);
    mixed_stream(0x2545f4914f6cdd1dull, b_cmds, NC);
    struct wm_matcher *used = mk(48, 12), *fresh = mk(48, 12);
    run_all(used, a_cmds, NC, ev_reset, CAP);
    /* Leave a command half-done: a market sweep of a full book. */
    admin(used, WM_CMD_RESUME, I1, 0);
    for (uint32_t sess = 1; sess <= 4; sess++) {
        struct wm_cmd mc;
        memset(&mc, 0, sizeof(mc));
        mc.type = WM_CMD_MASS_CANCEL;
        mc.session = sess;
        mc.flags = WM_CMDF_ALL_INSTRUMENTS;
        apply(used, &mc);
    }
    for (uint64_t i = 0; i < 8; i++)
        add(used, I1, 3, 1000 + i, WM_SIDE_SELL, 995 + (int64_t)i, 1, WM_TIF_GTC);
    struct wm_cmd sweep = order(I1, 4, 1000, WM_SIDE_BUY, 0, 100000, WM_TIF_IOC);
    sweep.ord_type = WM_ORD_MARKET;
    unsigned k = 0;
    CHECK(wm_matcher_apply(used, &sweep, 1, ev_reset, WM_MATCHER_MIN_EVENTS, &k) > 0);
    CHECK(wm_matcher_pending(used));
    /* The run left state a fresh matcher does not have (the test can fail). */
    CHECK(wm_matcher_hash(used) != wm_matcher_hash(fresh));
    CHECK(counter(used, "cmd_halt") > 0 && counter(used, "cmd_close") > 0 &&
          counter(used, "cmd_set_ref") > 0 && counter(used, "trades") > 0);
    CHECK(counter(used, "reject_capacity") > 0);

    CHECK_EQ(wm_matcher_reset(used), 0);
    CHECK_EQ(wm_matcher_reset(NULL), -EINVAL);
    check_same_state(used, fresh);

    int nr = run_all(used, b_cmds, NC, ev_reset, CAP);
    int nf = run_all(fresh, b_cmds, NC, ev_fresh, CAP);
    CHECK(nf > NC);
    CHECK_EQ(nr, nf);
    CHECK(memcmp(ev_reset, ev_fresh, (size_t)nf * sizeof(ev_fresh[0])) == 0);
    check_same_state(used, fresh);
    CHECK(wm_matcher_live_orders(fresh) > 0);

    /* A reset matcher run again from the same start: the same hash. */
    uint64_t h = wm_matcher_hash(fresh);
    CHECK_EQ(wm_matcher_reset(fresh), 0);
    CHECK_EQ(run_all(fresh, b_cmds, NC, ev_fresh, CAP), nf);
    CHECK_EQ(wm_matcher_hash(fresh), h);
    wm_matcher_destroy(used);
    wm_matcher_destroy(fresh);
}

static void test_api_errors(void)
{
    struct wm_matcher_config mc = {.max_instruments = 0, .max_orders = 10};
    struct wm_matcher *m;
    CHECK_EQ(wm_matcher_create(&mc, &m), -EINVAL);
    m = mk(16, 16);
    struct wm_instrument_config ic = {.id = I1, .max_levels = 4, .tick_size = 1, .lot_size = 1,
                                      .min_order_qty = 1, .max_order_qty = 10, .ref_price = 10};
    CHECK_EQ(wm_matcher_add_instrument(m, &ic), -EEXIST);
    ic.id = 3;
    ic.window_ticks = 100; /* not a power of two */
    CHECK_EQ(wm_matcher_add_instrument(m, &ic), -EINVAL);
    ic.window_ticks = 0;
    ic.ref_price = 0;
    CHECK_EQ(wm_matcher_add_instrument(m, &ic), -EINVAL);
    ic.ref_price = 10;
    ic.id = 8;
    CHECK_EQ(wm_matcher_add_instrument(m, &ic), -EINVAL);
    CHECK(wm_matcher_counter_count() > 30);
    CHECK(wm_matcher_counter_name(wm_matcher_counter_count()) == NULL);
    wm_matcher_destroy(m);
}

int main(void)
{
    test_price_time_priority();
    test_partial_fill_keeps_priority();
    test_ioc_remainder_never_rests();
    test_fok_all_or_nothing();
    test_post_only();
    test_min_qty();
    test_cancel();
    test_id_table_colliding_runs();
    test_replace();
    test_mass_cancel();
    test_mass_cancel_entry_order_and_sessions();
    test_self_trade_prevention();
    test_instrument_rules();
    test_rejects_distinct_and_counted();
    test_overflow_at_64_bit_limits();
    test_ladder_wide_swings();
    test_snapshots();
    test_resumable_and_deterministic();
    test_hash_formula();
    test_random_stream();
    test_apply_indexed();
    test_options();
    test_depth_at();
    test_set_ref_recentres_window();
    test_empty_book_centres_window();
    test_reset_equals_fresh();
    test_api_errors();
    return check_finish("test_matcher");
}
