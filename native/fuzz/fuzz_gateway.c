/* fuzz_gateway.c - libFuzzer target: OUCH inbound bytes through the gateway
 * into the real matcher and back out as ITCH and OUCH.
 * Input: a sequence of records { session selector (1), length (1), OUCH
 * message (length bytes) }.  Each decodes (wm_ouch_decode_in); what decodes
 * is mapped (wm_gw_ouch_to_cmd), applied, and every event published.
 * Oracles: no crash or sanitizer report; each mapping call is counted exactly
 * once; every message the gateway publishes decodes again (ITCH and OUCH)
 * and goes to the event's own session (wm_gw_publish_ouch_to's entry);
 * after each command the gateway's order table holds exactly as many
 * orders as the matcher has live (every dead order removed, no pending one
 * left behind), so it is empty once both sessions are mass cancelled.  The
 * order table is small (24 orders) so that it fills; the matcher holds more
 * (32), so that the gateway's limit is the one reached. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wirematch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Harness bookkeeping, called around every message: not instrumented for
 * coverage (its loop is not code under test, and a traced compare per
 * counter would cost more than the gateway's mapping). */
__attribute__((no_sanitize("coverage"))) static uint64_t sum(const struct wm_gw *gw)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < WM_GW_N_COUNTERS; i++)
        s += gw->counts[i];
    return s;
}

/* Flush a builder and check every message it held decodes. */
static void drain(struct wm_mold_builder *b, uint8_t *buf, int itch)
{
    uint32_t len = wm_mold_builder_flush(b);
    if (!len)
        return;
    struct wm_mold_packet pkt;
    if (wm_mold_decode(buf, len, &pkt, NULL) != 0)
        abort();
    uint16_t blen;
    const uint8_t *p;
    while ((p = wm_mold_next_block(&pkt, &blen))) {
        struct wm_itch_msg im;
        struct wm_ouch_out om;
        if (itch ? wm_itch_decode(p, blen, &im, NULL) : wm_ouch_decode_out(p, blen, &om, NULL))
            abort();
    }
}

static struct wm_gw gw;
static uint8_t fbuf[WM_MOLD_MTU_PAYLOAD], obuf[2][WM_MOLD_MTU_PAYLOAD];
static struct wm_mold_builder feed, ob[2];
static struct wm_event evs[64];

static struct wm_matcher *m;

/* Apply one command, publishing every event (the matcher may need several
 * calls: events_cap is small on purpose). */
static void apply(const struct wm_cmd *c)
{
    unsigned used = 0;
    int first = 1;
    do {
        int n = wm_matcher_apply(m, c, first ? 1 : 0, evs, 64, &used);
        first = 0;
        if (n < 0)
            abort();
        for (int i = 0; i < n; i++) {
            int pr = wm_gw_publish_itch(&gw, &evs[i], &feed);
            if (pr == -ENOBUFS) {
                drain(&feed, fbuf, 1);
                pr = wm_gw_publish_itch(&gw, &evs[i], &feed);
            }
            if (pr < 0)
                abort();
            /* As the appliance's engine publishes: the entry named is the
             * one to flush on -ENOBUFS. */
            struct wm_gw_session *to;
            pr = wm_gw_publish_ouch_to(&gw, &evs[i], &to);
            if (pr == -ENOBUFS) {
                if (!to || to->session != evs[i].session)
                    abort();
                drain(to->builder, to->builder->buf, 0);
                pr = wm_gw_publish_ouch_to(&gw, &evs[i], &to);
            }
            if (pr < 0 || (pr == 0 && (!to || to->session != evs[i].session)))
                abort();
        }
    } while (wm_matcher_pending(m));
}

/* The matcher and gateway are created once and reset before each input
 * (wm_matcher_reset, wm_gw_reset: the state of a fresh pair), so that an
 * input runs the same way alone or after any other. */
static void setup(void)
{
    if (!m) {
        struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = 32,
                                       .max_sessions = 8};
        struct wm_instrument_config ic = {.id = 1, .max_levels = 32, .tick_size = 1,
                                          .lot_size = 1, .min_order_qty = 1,
                                          .max_order_qty = 1000000, .ref_price = 10000,
                                          .window_ticks = 64};
        struct wm_gw_config cfg = {.matcher = NULL, .ts_offset_ns = 0, .max_orders = 24};
        if (wm_matcher_create(&mc, &m) || wm_matcher_add_instrument(m, &ic))
            abort();
        cfg.matcher = m;
        if (wm_gw_init(&gw, &cfg))
            abort();
    } else if (wm_matcher_reset(m) || wm_gw_reset(&gw)) {
        abort();
    }
    if (wm_gw_add_instrument(&gw, "WMT", 1, 1, 100) ||
        wm_gw_add_instrument(&gw, "ZVZZT", 2, 2, 1))   /* not in the matcher */
        abort();
    wm_mold_builder_init(&feed, "FEED", 1, fbuf, sizeof(fbuf));
    for (int i = 0; i < 2; i++) {
        wm_mold_builder_init(&ob[i], "S", 1, obuf[i], sizeof(obuf[i]));
        if (wm_gw_add_session(&gw, (uint32_t)i + 1, &ob[i]) ||
            wm_gw_publish_system_event(&gw, (uint32_t)i + 1, 'S', 0) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    size_t off = 0;
    uint64_t ts = 1;
    while (off + 2 <= size) {
        uint32_t session = data[off] % 3 + 1;      /* 3: unknown */
        size_t len = data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        struct wm_ouch_in in;
        struct wm_cmd c;
        struct wm_ouch_out reply;
        int r = wm_ouch_decode_in(data + off, len, &in, NULL);
        off += len;
        if (r)
            continue;
        uint64_t before = sum(&gw);
        r = wm_gw_ouch_to_cmd(&gw, session, ts++, &in, &c, &reply);
        if (r < 0 || r >= WM_GW_N_COUNTERS || sum(&gw) != before + 1)
            abort();
        if (reply.type) {
            uint8_t tmp[WM_OUCH_MAX_MESSAGE];
            if (wm_ouch_encode_out(tmp, sizeof(tmp), &reply) <= 0)
                abort();
        }
        if (r)
            continue;
        apply(&c);
        if (gw.n_orders > gw.max_orders || gw.n_orders != wm_matcher_live_orders(m))
            abort();
    }
    drain(&feed, fbuf, 1);
    drain(&ob[0], obuf[0], 0);
    drain(&ob[1], obuf[1], 0);
    for (uint32_t sess = 1; sess <= 2; sess++) {
        struct wm_cmd mc2;
        memset(&mc2, 0, sizeof(mc2));
        mc2.type = WM_CMD_MASS_CANCEL;
        mc2.session = sess;
        mc2.flags = WM_CMDF_ALL_INSTRUMENTS;
        apply(&mc2);
    }
    drain(&feed, fbuf, 1);
    drain(&ob[0], obuf[0], 0);
    drain(&ob[1], obuf[1], 0);
    if (wm_matcher_live_orders(m) != 0 || gw.n_orders != 0)
        abort();
    return 0;
}
