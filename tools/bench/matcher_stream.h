/* matcher_stream.h - the command stream file matcher_bench writes
 * (--dump-stream FILE) and the peer drivers replay (liquibook_bench), so
 * that every engine of the matcher benchmark runs the same commands.
 *
 * Layout, host byte order (x86-64, little endian): one struct
 * wm_stream_header, then `orders` prefill records (all MS_ADD), then `cmds`
 * records of the timed stream.  Orders are named by a key < id_space,
 * unique for the run: a replace names the order it changes (`id`) and the
 * key it is known by afterwards (`new_id`).
 */
#ifndef WM_BENCH_MATCHER_STREAM_H
#define WM_BENCH_MATCHER_STREAM_H

#include <stdint.h>

#define WM_STREAM_MAGIC "WMSTRM1"

enum wm_stream_kind {
    MS_ADD = 0,        /* passive DAY limit order */
    MS_CANCEL = 1,     /* cancel the live order `id` */
    MS_REPLACE = 2,    /* order `id` becomes `new_id` at `price` with `qty` open */
    MS_AGGRESSIVE = 3, /* IOC limit order that crosses */
};

enum wm_stream_side { MS_BUY = 0, MS_SELL = 1 };

struct wm_stream_header {
    char magic[8];     /* WM_STREAM_MAGIC, NUL-terminated */
    uint32_t orders;   /* prefill records */
    uint32_t cmds;     /* timed records */
    uint64_t id_space; /* every key is below it */
};

struct wm_stream_rec {
    uint8_t kind;    /* enum wm_stream_kind */
    uint8_t side;    /* enum wm_stream_side (adds and aggressive orders) */
    uint8_t pad[6];
    uint64_t id;     /* the order's key */
    uint64_t new_id; /* MS_REPLACE: the key after the replace */
    int64_t price;   /* limit price in ticks (MS_REPLACE: the new price) */
    int64_t qty;     /* order quantity (MS_REPLACE: the new open quantity) */
};

#endif
