/* liquibook_bench - the matcher benchmark's peer: Liquibook's order book
 * (liquibook::book::OrderBook, header-only, from the PyPI package
 * `liquibook`) replaying the command stream matcher_bench wrote with
 * --dump-stream (matcher_stream.h).  Prints one JSON object per line.
 *
 *   liquibook_bench --stream FILE [--cpu C]
 *
 * The prefill is applied first, untimed; then the stream's commands are
 * applied one call each (Liquibook has no batch entry point: add, cancel
 * and replace are one order each), timed as a whole: M commands/s over the
 * timed phase, as matcher_bench's throughput.
 *
 * The order class is a plain struct (no virtual calls, no reference
 * counting: OrderBook<LbOrder *>); orders live in one array allocated
 * before timing, as the matcher's pool is.  Liquibook's own containers
 * (std::multimap per side, its callback vector) allocate as they do.
 *
 * Semantics against wirematch's matcher, command by command:
 *   add         OrderBook::add(order), no conditions: a DAY limit order.
 *   aggressive  OrderBook::add(order, oc_immediate_or_cancel): an IOC limit
 *               order; it crosses as in the matcher (price-time, best
 *               price first, at the resting order's price).
 *   cancel      OrderBook::cancel(order) of the same order.  Liquibook finds
 *               it by walking the queue at its price from the front
 *               (O(orders at that level)); the matcher by its id table.
 *   replace     OrderBook::replace(order, size_delta, new_price) with
 *               size_delta = the new open quantity - the open quantity here.
 *               Liquibook's replace takes the order off the book and adds it
 *               again, so it loses time priority even when only the quantity
 *               goes down; the matcher keeps priority on a quantity decrease
 *               at the same price.
 * Because of that, fills can land on other resting orders than in the
 * matcher, and the books drift apart a little: a command of the stream on
 * an order this book has already filled completely is not sent (counted as
 * `skipped_filled`); an order this book still holds but the matcher filled
 * stays on the book (`live_after` says how many orders rest at the end).
 * Callbacks are the ones every command produces (accept, fill, cancel,
 * replace, book update); this driver's overrides count fills and keep each
 * order's open quantity and price (Liquibook finds a resting order by the
 * price the order object reports, so a replace's new price is stored in
 * the on_replace callback).
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iostream>
#include <vector>

#include <liquibook/book/order_book.h>

#include "matcher_stream.h"

namespace lb = liquibook::book;

struct LbOrder {
    lb::Price px;
    lb::Quantity qty;  /* order quantity (after replaces) */
    lb::Quantity open; /* open quantity as this driver tracks it */
    bool buy;
    bool is_buy() const { return buy; }
    lb::Price price() const { return px; }
    lb::Price stop_price() const { return 0; }
    lb::Quantity order_qty() const { return qty; }
    bool all_or_none() const { return false; }
    bool immediate_or_cancel() const { return false; }
};

class Book : public lb::OrderBook<LbOrder *> {
public:
    uint64_t fills = 0, fill_qty = 0, cancels = 0, replaces = 0, rejects = 0;

protected:
    void on_fill(LbOrder *const &order, LbOrder *const &matched, lb::Quantity qty, lb::Price,
                 bool, bool) override
    {
        order->open -= qty;
        matched->open -= qty;
        fills++;
        fill_qty += qty;
    }
    void on_cancel(LbOrder *const &order, lb::Quantity) override
    {
        order->open = 0;
        cancels++;
    }
    void on_replace(LbOrder *const &order, lb::Quantity current_qty, lb::Quantity new_qty,
                    lb::Price new_price) override
    {
        int64_t delta = (int64_t)new_qty - (int64_t)current_qty;
        order->qty += delta;
        order->open += delta;
        order->px = new_price;
        replaces++;
    }
    void on_reject(LbOrder *const &, const char *) override { rejects++; }
    void on_cancel_reject(LbOrder *const &, const char *) override { rejects++; }
    void on_replace_reject(LbOrder *const &, const char *) override { rejects++; }
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        fprintf(stderr, "sched_setaffinity(%d): %s\n", cpu, strerror(errno));
}

struct Stream {
    wm_stream_header h;
    std::vector<wm_stream_rec> recs; /* prefill, then the timed stream */
};

static bool load(const char *path, Stream &s)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = fread(&s.h, sizeof(s.h), 1, f) == 1 &&
              memcmp(s.h.magic, WM_STREAM_MAGIC, sizeof(WM_STREAM_MAGIC)) == 0;
    if (ok) {
        size_t n = (size_t)s.h.orders + s.h.cmds;
        s.recs.resize(n);
        ok = fread(s.recs.data(), sizeof(wm_stream_rec), n, f) == n;
    }
    fclose(f);
    if (!ok)
        fprintf(stderr, "%s: not a complete matcher_bench stream (matcher_stream.h)\n", path);
    return ok;
}

/* The driver's state: the book, the orders, and the order each key names. */
struct Driver {
    Book book;
    std::vector<LbOrder> orders;  /* every order of the run, made before timing */
    std::vector<uint32_t> slot;   /* key -> index in orders + 1, 0 = none */
    size_t next = 0;
    uint64_t skipped_filled = 0, bad = 0;

    inline void apply(const wm_stream_rec &r)
    {
        switch (r.kind) {
        case MS_ADD:
        case MS_AGGRESSIVE: {
            LbOrder *o = &orders[next];
            o->px = (lb::Price)r.price;
            o->qty = o->open = (lb::Quantity)r.qty;
            o->buy = r.side == MS_BUY;
            slot[r.id] = (uint32_t)++next;
            book.add(o, r.kind == MS_AGGRESSIVE ? lb::oc_immediate_or_cancel : lb::oc_no_conditions);
            break;
        }
        case MS_CANCEL:
        case MS_REPLACE: {
            uint32_t k = slot[r.id];
            if (k == 0) {
                bad++;
                break;
            }
            LbOrder *o = &orders[k - 1];
            if (r.kind == MS_REPLACE)
                slot[r.new_id] = k;
            if (o->open == 0) {
                skipped_filled++;
                break;
            }
            if (r.kind == MS_CANCEL) {
                book.cancel(o);
            } else {
                int64_t delta = r.qty - (int64_t)o->open;
                lb::Price np = (lb::Price)r.price == o->px ? lb::PRICE_UNCHANGED : (lb::Price)r.price;
                book.replace(o, delta, np);
            }
            break;
        }
        default:
            bad++;
        }
    }
};

int main(int argc, char **argv)
{
    const char *path = NULL;
    int cpu = -1;
    static const struct option lo[] = {{"stream", 1, 0, 's'}, {"cpu", 1, 0, 'c'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 's': path = optarg; break;
        case 'c': cpu = atoi(optarg); break;
        default: fprintf(stderr, "usage: liquibook_bench --stream FILE [--cpu C]\n"); return 2;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: liquibook_bench --stream FILE [--cpu C]\n");
        return 2;
    }
    pin(cpu);
    Stream s;
    if (!load(path, s))
        return 1;
    Driver d;
    size_t news = 0, kcount[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < s.recs.size(); i++) {
        const wm_stream_rec &r = s.recs[i];
        if (r.kind > MS_AGGRESSIVE || r.id >= s.h.id_space ||
            (r.kind == MS_REPLACE && r.new_id >= s.h.id_space)) {
            fprintf(stderr, "record %zu: bad kind or key\n", i);
            return 1;
        }
        news += r.kind == MS_ADD || r.kind == MS_AGGRESSIVE;
        if (i >= s.h.orders)
            kcount[r.kind]++;
    }
    d.orders.resize(news);
    d.slot.assign(s.h.id_space, 0);
    const wm_stream_rec *pre = s.recs.data(), *mixed = pre + s.h.orders;
    for (uint32_t i = 0; i < s.h.orders; i++)
        d.apply(pre[i]);
    uint64_t fills0 = d.book.fills, qty0 = d.book.fill_qty, rejects0 = d.book.rejects;
    printf("{\"case\": \"workload\", \"orders\": %zu, \"cmds\": %u, \"add\": %zu, "
           "\"cancel\": %zu, \"replace\": %zu, \"aggressive\": %zu}\n",
           d.book.bids().size() + d.book.asks().size(), s.h.cmds, kcount[MS_ADD],
           kcount[MS_CANCEL], kcount[MS_REPLACE], kcount[MS_AGGRESSIVE]);
    double t0 = now_s();
    for (uint32_t i = 0; i < s.h.cmds; i++)
        d.apply(mixed[i]);
    double t1 = now_s();
    const auto &bids = d.book.bids();
    const auto &asks = d.book.asks();
    printf("{\"case\": \"mixed_throughput\", \"mcmd_per_s\": %.4f, \"seconds\": %.6f, "
           "\"trades\": %llu, \"traded_qty\": %llu, \"rejected\": %llu, "
           "\"skipped_filled\": %llu, \"bad_records\": %llu, \"live_after\": %zu, "
           "\"best_bid_after\": %llu, \"best_ask_after\": %llu}\n",
           s.h.cmds / (t1 - t0) / 1e6, t1 - t0,
           (unsigned long long)(d.book.fills - fills0), (unsigned long long)(d.book.fill_qty - qty0),
           (unsigned long long)(d.book.rejects - rejects0), (unsigned long long)d.skipped_filled,
           (unsigned long long)d.bad, bids.size() + asks.size(),
           bids.empty() ? 0ull : (unsigned long long)bids.begin()->first.price(),
           asks.empty() ? 0ull : (unsigned long long)asks.begin()->first.price());
    return d.bad ? 1 : 0;
}
