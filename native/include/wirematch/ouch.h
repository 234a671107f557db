/* wirematch/ouch.h - Nasdaq OUCH 5.0 order entry messages.
 *
 * Inbound (client to appliance): Enter Order 'O', Replace Order 'U', Cancel
 * Order 'X' (quantity 0 cancels the rest), Modify Order 'M', Account Query
 * 'Q', Mass Cancel Request 'C'.  Outbound (appliance to client): System
 * Event 'S', Order Accepted 'A', Order Replaced 'U', Order Canceled 'C',
 * Order Executed 'E', Rejected Order 'J', Cancel Reject 'I', Order Modified
 * 'M', Order Priority Update 'T', Account Query Response 'Q'.
 * Layouts and value sets: docs/protocol.md.  Integers are big-endian;
 * prices are signed 8-byte integers with 4 implied decimals; timestamps
 * 8-byte nanoseconds since midnight; alpha fields are left-justified and
 * padded with spaces (kept as they are on the wire, not NUL-terminated).
 *
 * Decoding fills a small fixed struct from the message bytes (no payload
 * copy beyond the fields themselves, no allocation) and validates every
 * field; it returns 0 or a drop reason (enum wm_codec_counter) counted in st.
 * Encoding validates the same way and returns the bytes written, -EINVAL
 * for a value the protocol cannot carry, or -ENOBUFS.
 */
#ifndef WIREMATCH_OUCH_H
#define WIREMATCH_OUCH_H

#include "wirematch/common.h"
#include "wirematch/mold.h"

enum {
    WM_OUCH_SYMBOL_LEN = 8,
    WM_OUCH_CLORDID_LEN = 14,
    WM_OUCH_FIRM_LEN = 4,
    WM_OUCH_MAX_QUANTITY = 1000000,        /* shares per order (Nasdaq's limit) */
    WM_OUCH_MAX_MESSAGE = 512,             /* largest message this codec emits */
    /* Longest inbound message the decoder accepts: Enter Order (47) with
     * each of its 18 tags once (a tag may not repeat): 18 x 2 bytes of
     * length and tag + 50 value bytes = 133.  Replace Order's longest is
     * 40 + 17 x 2 + 43 = 117, Mass Cancel's 19 + 3 x 2 + 4 = 29; test_codec
     * derives all three from the layout tables. */
    WM_OUCH_MAX_IN_MESSAGE = 133,
    /* fixed lengths (without appendage bytes) */
    WM_OUCH_ENTER_ORDER_LEN = 47,
    WM_OUCH_REPLACE_ORDER_LEN = 40,
    WM_OUCH_CANCEL_ORDER_LEN = 9,
    WM_OUCH_MODIFY_ORDER_LEN = 10,
    WM_OUCH_ACCOUNT_QUERY_LEN = 1,
    WM_OUCH_MASS_CANCEL_LEN = 19,
    WM_OUCH_SYSTEM_EVENT_LEN = 10,
    WM_OUCH_ORDER_ACCEPTED_LEN = 64,
    WM_OUCH_ORDER_REPLACED_LEN = 68,
    WM_OUCH_ORDER_CANCELED_LEN = 18,
    WM_OUCH_ORDER_EXECUTED_LEN = 36,
    WM_OUCH_REJECTED_LEN = 29,
    WM_OUCH_CANCEL_REJECT_LEN = 13,
    WM_OUCH_ORDER_MODIFIED_LEN = 18,
    WM_OUCH_PRIORITY_UPDATE_LEN = 30,
    WM_OUCH_ACCOUNT_QUERY_RESPONSE_LEN = 13
};

/* Prices: Price(8) with 4 decimals.  Limit prices must be in 1..MAX (the
 * 4-byte ITCH range, so every resting price can be published). */
#define WM_OUCH_PRICE_MAX 0x7fffffffLL

/* Optional appendage tags (OUCH 5.0 TagValue: Length(1) Tag(1) Value). */
enum wm_ouch_tag {
    WM_OUCH_TAG_SECONDARY_ORD_REF = 1,  /* u64 */
    WM_OUCH_TAG_FIRM = 2,               /* alpha 4 */
    WM_OUCH_TAG_MIN_QTY = 3,            /* u32 */
    WM_OUCH_TAG_CUSTOMER_TYPE = 4,      /* alpha 1 */
    WM_OUCH_TAG_MAX_FLOOR = 5,          /* u32 */
    WM_OUCH_TAG_PRICE_TYPE = 6,         /* alpha 1 */
    WM_OUCH_TAG_PEG_OFFSET = 7,         /* signed i32, 4 decimals */
    WM_OUCH_TAG_DISCRETION_PRICE = 9,   /* i64 price */
    WM_OUCH_TAG_DISCRETION_PRICE_TYPE = 10, /* alpha 1 */
    WM_OUCH_TAG_DISCRETION_PEG_OFFSET = 11, /* signed i32 */
    WM_OUCH_TAG_POST_ONLY = 12,         /* alpha 1: 'P' post only, 'N' no */
    WM_OUCH_TAG_RANDOM_RESERVES = 13,   /* u32 */
    WM_OUCH_TAG_ROUTE = 14,             /* alpha 4 */
    WM_OUCH_TAG_EXPIRE_TIME = 15,       /* u32 seconds */
    WM_OUCH_TAG_TRADE_NOW = 16,         /* alpha 1 */
    WM_OUCH_TAG_HANDLE_INST = 17,       /* alpha 1 */
    WM_OUCH_TAG_BBO_WEIGHT = 18,        /* alpha 1 */
    WM_OUCH_TAG_DISPLAY_QTY = 22,       /* u32 */
    WM_OUCH_TAG_DISPLAY_PRICE = 23,     /* i64 price */
    WM_OUCH_TAG_GROUP_ID = 24,          /* u16 */
    WM_OUCH_TAG_SHARES_LOCATED = 25,    /* alpha 1 */
    WM_OUCH_TAG_SIDE = 27,              /* alpha 1 */
    WM_OUCH_TAG_USER_REF_IDX = 28,      /* u8 */
    WM_OUCH_TAG_MAX = 28
};

/* Decoded appendage: `present` has bit (1u << tag) for each tag seen; only
 * those fields are meaningful.  Encoders emit the present tags in ascending
 * tag order. */
struct wm_ouch_appendage {
    uint32_t present;
    uint32_t min_qty;
    uint32_t max_floor;
    uint32_t random_reserves;
    uint32_t expire_time;
    uint32_t display_qty;
    int32_t  peg_offset;
    int32_t  discretion_peg_offset;
    uint64_t secondary_ord_ref;
    int64_t  discretion_price;
    int64_t  display_price;
    uint16_t group_id;
    char     firm[4];
    char     route[4];
    char     customer_type;
    char     price_type;
    char     discretion_price_type;
    char     post_only;
    char     trade_now;
    char     handle_inst;
    char     bbo_weight;
    char     shares_located;
    char     side;
    uint8_t  user_ref_idx;
};

/* ---- inbound ---- */
struct wm_ouch_enter_order {
    uint32_t user_ref_num;
    char     side;              /* B S T E */
    uint32_t quantity;
    char     symbol[8];
    int64_t  price;
    char     time_in_force;     /* 0 3 5 6 E */
    char     display;           /* Y N A */
    char     capacity;          /* A P R O */
    char     iso;               /* Y N */
    char     cross_type;        /* N O C H S R E A */
    char     cl_ord_id[14];
    struct wm_ouch_appendage app;
};

struct wm_ouch_replace_order {
    uint32_t orig_user_ref_num;
    uint32_t user_ref_num;
    uint32_t quantity;
    int64_t  price;
    char     time_in_force;
    char     display;
    char     iso;
    char     cl_ord_id[14];
    struct wm_ouch_appendage app;
};

struct wm_ouch_cancel_order {
    uint32_t user_ref_num;
    uint32_t quantity;          /* new total quantity; 0 cancels the rest */
};

struct wm_ouch_modify_order {
    uint32_t user_ref_num;
    char     side;
    uint32_t quantity;
};

struct wm_ouch_mass_cancel {
    uint32_t user_ref_num;
    char     firm[4];
    char     symbol[8];         /* all spaces: every symbol */
    struct wm_ouch_appendage app;
};

struct wm_ouch_in {
    char     type;              /* 'O' 'U' 'X' 'M' 'Q' 'C' */
    uint16_t len;               /* message bytes on the wire */
    union {
        struct wm_ouch_enter_order enter;
        struct wm_ouch_replace_order replace;
        struct wm_ouch_cancel_order cancel;
        struct wm_ouch_modify_order modify;
        struct wm_ouch_mass_cancel mass_cancel;
    } u;
};

/* ---- outbound ---- */
struct wm_ouch_system_event {
    char     event_code;        /* S start of day, E end of day */
};

struct wm_ouch_order_accepted {
    uint32_t user_ref_num;
    char     side;
    uint32_t quantity;
    char     symbol[8];
    int64_t  price;
    char     time_in_force;
    char     display;
    uint64_t order_ref;         /* appliance order id (also the ITCH order ref) */
    char     capacity;
    char     iso;
    char     cross_type;
    char     order_state;       /* L live, D dead */
    char     cl_ord_id[14];
    struct wm_ouch_appendage app;
};

struct wm_ouch_order_replaced {
    uint32_t orig_user_ref_num;
    uint32_t user_ref_num;
    char     side;
    uint32_t quantity;
    char     symbol[8];
    int64_t  price;
    char     time_in_force;
    char     display;
    uint64_t order_ref;
    char     capacity;
    char     iso;
    char     cross_type;
    char     order_state;
    char     cl_ord_id[14];
    struct wm_ouch_appendage app;
};

struct wm_ouch_order_canceled {
    uint32_t user_ref_num;
    uint32_t quantity;          /* shares canceled (decrement) */
    char     reason;            /* U user, I IOC, T timeout, S supervisory, ... */
};

struct wm_ouch_order_executed {
    uint32_t user_ref_num;
    uint32_t quantity;
    int64_t  price;
    char     liquidity_flag;    /* A added, R removed, ... */
    uint64_t match_number;
};

struct wm_ouch_rejected {
    uint32_t user_ref_num;
    uint16_t reason;            /* OUCH 5.0 reject code (enum wm_ouch_reject) */
    char     cl_ord_id[14];
};

struct wm_ouch_cancel_reject {
    uint32_t user_ref_num;
};

struct wm_ouch_order_modified {
    uint32_t user_ref_num;
    char     side;
    uint32_t quantity;
};

struct wm_ouch_priority_update {
    uint32_t user_ref_num;
    int64_t  price;
    char     display;
    uint64_t order_ref;
};

struct wm_ouch_account_query_response {
    uint32_t next_user_ref_num;
};

struct wm_ouch_out {
    char     type;              /* 'S' 'A' 'U' 'C' 'E' 'J' 'I' 'M' 'T' 'Q' */
    uint16_t len;
    uint64_t timestamp;         /* ns since midnight */
    union {
        struct wm_ouch_system_event system_event;
        struct wm_ouch_order_accepted accepted;
        struct wm_ouch_order_replaced replaced;
        struct wm_ouch_order_canceled canceled;
        struct wm_ouch_order_executed executed;
        struct wm_ouch_rejected rejected;
        struct wm_ouch_cancel_reject cancel_reject;
        struct wm_ouch_order_modified modified;
        struct wm_ouch_priority_update priority_update;
        struct wm_ouch_account_query_response account;
    } u;
};

/* OUCH 5.0 Rejected Order reasons (2-byte codes). */
enum wm_ouch_reject {
    WM_OUCH_REJECT_QUOTE_UNAVAILABLE = 0x01,
    WM_OUCH_REJECT_DESTINATION_CLOSED = 0x02,
    WM_OUCH_REJECT_INVALID_DISPLAY = 0x03,
    WM_OUCH_REJECT_INVALID_MAX_FLOOR = 0x04,
    WM_OUCH_REJECT_INVALID_PEG_TYPE = 0x05,
    WM_OUCH_REJECT_FAT_FINGER = 0x06,
    WM_OUCH_REJECT_HALTED = 0x07,
    WM_OUCH_REJECT_ISO_NOT_ALLOWED = 0x08,
    WM_OUCH_REJECT_INVALID_SIDE = 0x09,
    WM_OUCH_REJECT_PROCESSING_ERROR = 0x0a,
    WM_OUCH_REJECT_CANCEL_PENDING = 0x0b,
    WM_OUCH_REJECT_FIRM_NOT_AUTHORIZED = 0x0c,
    WM_OUCH_REJECT_INVALID_MIN_QTY = 0x0d,
    WM_OUCH_REJECT_NO_CLOSING_REFERENCE_PRICE = 0x0e,
    WM_OUCH_REJECT_OTHER = 0x0f,
    WM_OUCH_REJECT_CANCEL_NOT_ALLOWED = 0x10,
    WM_OUCH_REJECT_PEGGING_NOT_ALLOWED = 0x11,
    WM_OUCH_REJECT_CROSSED_MARKET = 0x12,
    WM_OUCH_REJECT_INVALID_QUANTITY = 0x13,
    WM_OUCH_REJECT_INVALID_CROSS_ORDER = 0x14,
    WM_OUCH_REJECT_REPLACE_NOT_ALLOWED = 0x15,
    WM_OUCH_REJECT_ROUTING_NOT_ALLOWED = 0x16,
    WM_OUCH_REJECT_INVALID_SYMBOL = 0x17,
    WM_OUCH_REJECT_TEST = 0x18,
    WM_OUCH_REJECT_LATE_LOC_TOO_AGGRESSIVE = 0x19,
    WM_OUCH_REJECT_RETAIL_NOT_ALLOWED = 0x1a,
    WM_OUCH_REJECT_INVALID_MIDPOINT_POST_ONLY_PRICE = 0x1b,
    WM_OUCH_REJECT_INVALID_DESTINATION = 0x1c,
    WM_OUCH_REJECT_INVALID_PRICE = 0x1d,
    WM_OUCH_REJECT_SHARES_EXCEED_THRESHOLD = 0x1e,
    WM_OUCH_REJECT_EXCEEDS_MAX_NOTIONAL = 0x1f
};

/* Decode one inbound (client) message of len bytes (a MoldUDP64 block). */
int wm_ouch_decode_in(const uint8_t *msg, size_t len, struct wm_ouch_in *out,
                      struct wm_codec_stats *st);
/* Decode one outbound (appliance) message: for tools, tests and fuzzing. */
int wm_ouch_decode_out(const uint8_t *msg, size_t len, struct wm_ouch_out *out,
                       struct wm_codec_stats *st);

/* Encode: m->type selects the message.  Return bytes written or -errno. */
int wm_ouch_encode_in(uint8_t *buf, size_t cap, const struct wm_ouch_in *m);
int wm_ouch_encode_out(uint8_t *buf, size_t cap, const struct wm_ouch_out *m);
/* Bytes wm_ouch_encode_* would write, or -EINVAL. */
int wm_ouch_encoded_len_in(const struct wm_ouch_in *m);
int wm_ouch_encoded_len_out(const struct wm_ouch_out *m);

/* Append an outbound message to the builder's open packet.  Returns 0,
 * -ENOBUFS (packet full: flush, then retry), -EMSGSIZE or -EINVAL. */
int wm_mold_builder_add_ouch(struct wm_mold_builder *b, const struct wm_ouch_out *m);

#endif
