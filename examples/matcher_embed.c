/* matcher_embed - the matching engine embedded in a C program, through
 * libwirematch_matcher alone (docs/matching.md, "Embedding"):
 *
 *   cc matcher_embed.c $(pkg-config --cflags --libs wirematch-matcher)
 *
 * A matcher without the rolling hash and LEVEL events, one instrument, two
 * batches of commands applied with wm_matcher_apply_indexed so that each
 * command's events are printed under it (the 12-event buffer splits the
 * third command over two calls), and the depth at a price after each batch.
 * examples/matcher_embed.py does the same from Python and prints
 * the same lines (tests/test_matcher_lib.py compares them). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <wirematch/matcher.h>

#define INSTRUMENT 1

static const char *const event_names[] = {
    [WM_EV_ACCEPTED] = "ACCEPTED", [WM_EV_REJECTED] = "REJECTED",
    [WM_EV_EXECUTED] = "EXECUTED", [WM_EV_CANCELLED] = "CANCELLED",
    [WM_EV_REPLACED] = "REPLACED", [WM_EV_BOOKED] = "BOOKED",
    [WM_EV_LEVEL] = "LEVEL",       [WM_EV_STATE] = "STATE",
    [WM_EV_REF_PRICE] = "REF_PRICE", [WM_EV_MASS_CANCELLED] = "MASS_CANCELLED",
};

static struct wm_cmd limit(uint32_t session, uint64_t id, uint8_t side, int64_t price,
                           int64_t qty, uint8_t tif)
{
    struct wm_cmd c;
    memset(&c, 0, sizeof(c)); /* unused fields must be zero */
    c.type = WM_CMD_NEW;
    c.session = session;
    c.account = session;
    c.client_id = id;
    c.instrument = INSTRUMENT;
    c.side = side;
    c.ord_type = WM_ORD_LIMIT;
    c.tif = tif;
    c.price = price;
    c.qty = qty;
    return c;
}

static struct wm_cmd cancel(uint32_t session, uint64_t id)
{
    struct wm_cmd c;
    memset(&c, 0, sizeof(c));
    c.type = WM_CMD_CANCEL;
    c.session = session;
    c.client_id = id;
    c.instrument = INSTRUMENT;
    return c;
}

static void print_event(const struct wm_event *e)
{
    printf(" %s", event_names[e->type]);
    if (e->type == WM_EV_EXECUTED)
        printf("(%s %lld @ %lld, trade %llu)", e->flags & WM_EVF_MAKER ? "maker" : "taker",
               (long long)e->qty, (long long)e->price, (unsigned long long)e->aux);
    else if (e->type == WM_EV_CANCELLED || e->type == WM_EV_BOOKED)
        printf("(%lld)", (long long)e->qty);
    else if (e->type == WM_EV_REJECTED)
        printf("(reason %llu)", (unsigned long long)e->aux);
}

/* Apply a batch; print each command's events on its own line.  The loop runs
 * until every command is taken and none is left half-done.  With a buffer
 * too small for a command's events, the matcher stops it half-done and the
 * next call's cmd_end[0] events finish it: they continue its line. */
static bool line_open;

static int run_batch(struct wm_matcher *m, const struct wm_cmd *cmds, unsigned n, unsigned first)
{
    struct wm_event ev[WM_MATCHER_MIN_EVENTS + 4];
    uint32_t cmd_end[16 + 1];
    unsigned done = 0;
    while (done < n || wm_matcher_pending(m)) {
        unsigned used = 0;
        unsigned batch = n - done < 16 ? n - done : 16;
        int k = wm_matcher_apply_indexed(m, cmds + done, batch, ev,
                                         WM_MATCHER_MIN_EVENTS + 4, &used, cmd_end);
        if (k < 0)
            return k;
        for (uint32_t i = 0; i < cmd_end[0]; i++)
            print_event(&ev[i]);
        for (unsigned c = 0; c < used; c++) {
            printf("%scmd %u:", line_open ? "\n" : "", first + done + c);
            line_open = true;
            for (uint32_t i = cmd_end[c]; i < cmd_end[c + 1]; i++)
                print_event(&ev[i]);
        }
        done += used;
    }
    if (line_open)
        printf("\n");
    line_open = false;
    return 0;
}

static void print_depth(const struct wm_matcher *m, uint32_t side, int64_t price)
{
    int64_t qty = 0;
    uint32_t orders = 0;
    int rc = wm_matcher_depth_at(m, INSTRUMENT, side, price, &qty, &orders);
    printf("depth %s %lld: rc %d, qty %lld, orders %u\n", side == WM_SIDE_BUY ? "buy" : "sell",
           (long long)price, rc, (long long)qty, orders);
}

int main(void)
{
    struct wm_matcher_config mc = {.max_instruments = 4, .max_orders = 1024, .max_sessions = 16,
                                   .options = WM_MATCHER_NO_HASH | WM_MATCHER_NO_LEVEL_EVENTS};
    struct wm_matcher *m;
    int rc = wm_matcher_create(&mc, &m);
    if (rc < 0) {
        fprintf(stderr, "wm_matcher_create: %d\n", rc);
        return 1;
    }
    struct wm_instrument_config ic = {.id = INSTRUMENT, .max_levels = 256, .tick_size = 1,
                                      .lot_size = 1, .min_order_qty = 1, .max_order_qty = 1000000,
                                      .ref_price = 100};
    rc = wm_matcher_add_instrument(m, &ic);
    if (rc < 0) {
        fprintf(stderr, "wm_matcher_add_instrument: %d\n", rc);
        return 1;
    }
    const struct wm_cmd first[] = {
        limit(1, 1, WM_SIDE_SELL, 100, 5, WM_TIF_DAY),
        limit(1, 2, WM_SIDE_SELL, 101, 3, WM_TIF_DAY),
        limit(2, 1, WM_SIDE_BUY, 101, 7, WM_TIF_IOC), /* takes 5 @ 100, 2 @ 101 */
    };
    const struct wm_cmd second[] = {
        cancel(1, 2), /* the 1 left at 101 */
        cancel(1, 9), /* no such order: rejected */
    };
    if (run_batch(m, first, 3, 0) < 0)
        return 1;
    print_depth(m, WM_SIDE_SELL, 100);
    print_depth(m, WM_SIDE_SELL, 101);
    if (run_batch(m, second, 2, 3) < 0)
        return 1;
    print_depth(m, WM_SIDE_SELL, 101);
    printf("live orders %u, hash %llu\n", wm_matcher_live_orders(m),
           (unsigned long long)wm_matcher_hash(m));
    wm_matcher_destroy(m);
    return 0;
}
