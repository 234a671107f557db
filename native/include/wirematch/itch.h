/* wirematch/itch.h - Nasdaq TotalView-ITCH 5.0 market data messages.
 *
 * Every message starts with Message Type (1), Stock Locate (2), Tracking
 * Number (2) and Timestamp (6: nanoseconds since midnight).  Integers are
 * big-endian, prices Price(4) with 4 implied decimals, alpha fields
 * left-justified and space padded.  Supported: System Event 'S', Stock
 * Directory 'R', Stock Trading Action 'H', Add Order 'A', Add Order with
 * attribution 'F', Order Executed 'E', Order Executed with Price 'C', Order
 * Cancel 'X', Order Delete 'D', Order Replace 'U', Trade 'P'.
 *
 * Encoders validate and write into caller memory (or straight into a
 * MoldUDP64 packet builder); the decoder, for tools, tests and fuzzing,
 * validates every field and returns 0 or a drop reason counted in st.
 */
#ifndef WIREMATCH_ITCH_H
#define WIREMATCH_ITCH_H

#include "wirematch/common.h"
#include "wirematch/mold.h"

enum {
    WM_ITCH_SYSTEM_EVENT_LEN = 12,
    WM_ITCH_STOCK_DIRECTORY_LEN = 39,
    WM_ITCH_TRADING_ACTION_LEN = 25,
    WM_ITCH_ADD_ORDER_LEN = 36,
    WM_ITCH_ADD_ORDER_MPID_LEN = 40,
    WM_ITCH_ORDER_EXECUTED_LEN = 31,
    WM_ITCH_ORDER_EXECUTED_PRICE_LEN = 36,
    WM_ITCH_ORDER_CANCEL_LEN = 23,
    WM_ITCH_ORDER_DELETE_LEN = 19,
    WM_ITCH_ORDER_REPLACE_LEN = 35,
    WM_ITCH_TRADE_LEN = 44,
    WM_ITCH_MAX_MESSAGE = 44
};

/* Price(4), 4 decimals: 1 .. WM_ITCH_PRICE_MAX (the spec's largest price,
 * 200,000.0000, as Nasdaq caps it). */
#define WM_ITCH_PRICE_MAX 2000000000u
/* Nanoseconds in a day: timestamps must be below it. */
#define WM_ITCH_NS_PER_DAY 86400000000000ull

struct wm_itch_system_event {
    char event_code;            /* O S Q M E C */
};

struct wm_itch_stock_directory {
    char     stock[8];
    char     market_category;
    char     financial_status;
    uint32_t round_lot_size;
    char     round_lots_only;
    char     issue_classification;
    char     issue_sub_type[2];
    char     authenticity;
    char     short_sale_threshold;
    char     ipo_flag;
    char     luld_ref_price_tier;
    char     etp_flag;
    uint32_t etp_leverage_factor;
    char     inverse_indicator;
};

struct wm_itch_trading_action {
    char stock[8];
    char trading_state;         /* H P Q T */
    char reserved;
    char reason[4];
};

struct wm_itch_add_order {
    uint64_t order_ref;
    char     side;              /* B S */
    uint32_t shares;
    char     stock[8];
    uint32_t price;
    char     attribution[4];    /* 'F' only */
};

struct wm_itch_order_executed {
    uint64_t order_ref;
    uint32_t shares;
    uint64_t match_number;
    char     printable;         /* 'C' only: Y N */
    uint32_t price;             /* 'C' only */
};

struct wm_itch_order_cancel {
    uint64_t order_ref;
    uint32_t shares;
};

struct wm_itch_order_delete {
    uint64_t order_ref;
};

struct wm_itch_order_replace {
    uint64_t orig_order_ref;
    uint64_t new_order_ref;
    uint32_t shares;
    uint32_t price;
};

struct wm_itch_trade {
    uint64_t order_ref;
    char     side;
    uint32_t shares;
    char     stock[8];
    uint32_t price;
    uint64_t match_number;
};

struct wm_itch_msg {
    char     type;
    uint16_t len;               /* bytes on the wire (filled by decode) */
    uint16_t stock_locate;
    uint16_t tracking_number;
    uint64_t timestamp;         /* ns since midnight, < WM_ITCH_NS_PER_DAY */
    union {
        struct wm_itch_system_event system_event;
        struct wm_itch_stock_directory directory;
        struct wm_itch_trading_action trading_action;
        struct wm_itch_add_order add;           /* 'A' and 'F' */
        struct wm_itch_order_executed executed; /* 'E' and 'C' */
        struct wm_itch_order_cancel cancel;
        struct wm_itch_order_delete del;
        struct wm_itch_order_replace replace;
        struct wm_itch_trade trade;
    } u;
};

int wm_itch_decode(const uint8_t *msg, size_t len, struct wm_itch_msg *out,
                   struct wm_codec_stats *st);
/* Returns bytes written, -EINVAL (unknown type or a value out of range) or
 * -ENOBUFS. */
int wm_itch_encode(uint8_t *buf, size_t cap, const struct wm_itch_msg *m);
/* Wire length of a message type, or 0 for a type this codec does not know. */
uint32_t wm_itch_message_len(char type);
/* Append to the builder's open packet: 0, -ENOBUFS (full: flush and retry),
 * -EMSGSIZE or -EINVAL. */
int wm_mold_builder_add_itch(struct wm_mold_builder *b, const struct wm_itch_msg *m);

#endif
