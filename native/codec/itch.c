/* codec/itch.c - TotalView-ITCH 5.0 messages as layout tables, and their API. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "codec/layout.h"
#include "wirematch/itch.h"

#define M(m) ((uint16_t)offsetof(struct wm_itch_msg, m))
#define U(m) M(u.m)
#define N(a) ((uint8_t)(sizeof(a) / sizeof((a)[0])))

/* Stock Locate, Tracking Number, Timestamp: after the type in every message. */
#define HEADER                                                                        \
    { M(stock_locate), FK_U16, 2, CK_NONE, 0 },                                      \
    { M(tracking_number), FK_U16, 2, CK_NONE, 0 },                                   \
    { M(timestamp), FK_U48, 6, CK_TIMESTAMP, WM_ITCH_DROP_BAD_TIMESTAMP }

#define REF(m) { U(m), FK_U64, 8, CK_NONZERO, WM_ITCH_DROP_BAD_ORDER_REF }
#define SHARES(m) { U(m), FK_U32, 4, CK_NONZERO, WM_ITCH_DROP_BAD_QUANTITY }
#define PRICE(m) { U(m), FK_U32, 4, CK_ITCH_PRICE, WM_ITCH_DROP_BAD_PRICE }
#define STOCK(m) { U(m), FK_ALPHA, 8, CK_SYMBOL, WM_ITCH_DROP_BAD_SYMBOL }
#define CODE(m, ck) { U(m), FK_CHAR, 1, (ck), WM_ITCH_DROP_BAD_CODE }
#define CHAR(m) CODE(m, CK_CHAR)

static const struct wm_field system_event_fields[] = {
    HEADER,
    CODE(system_event.event_code, CK_ITCH_EVENT),
};

static const struct wm_field directory_fields[] = {
    HEADER,
    STOCK(directory.stock),
    CHAR(directory.market_category),
    CHAR(directory.financial_status),
    { U(directory.round_lot_size), FK_U32, 4, CK_NONZERO, WM_ITCH_DROP_BAD_QUANTITY },
    CODE(directory.round_lots_only, CK_YES_NO),
    CHAR(directory.issue_classification),
    { U(directory.issue_sub_type), FK_ALPHA, 2, CK_TEXT, WM_ITCH_DROP_BAD_TEXT },
    CHAR(directory.authenticity),
    CHAR(directory.short_sale_threshold),
    CHAR(directory.ipo_flag),
    CHAR(directory.luld_ref_price_tier),
    CHAR(directory.etp_flag),
    { U(directory.etp_leverage_factor), FK_U32, 4, CK_NONE, 0 },
    CHAR(directory.inverse_indicator),
};

static const struct wm_field trading_action_fields[] = {
    HEADER,
    STOCK(trading_action.stock),
    CODE(trading_action.trading_state, CK_TRADING_STATE),
    CHAR(trading_action.reserved),
    { U(trading_action.reason), FK_ALPHA, 4, CK_TEXT, WM_ITCH_DROP_BAD_TEXT },
};

static const struct wm_field add_fields[] = {
    HEADER,
    REF(add.order_ref),
    { U(add.side), FK_CHAR, 1, CK_ITCH_SIDE, WM_ITCH_DROP_BAD_SIDE },
    SHARES(add.shares),
    STOCK(add.stock),
    PRICE(add.price),
};

static const struct wm_field add_mpid_fields[] = {
    HEADER,
    REF(add.order_ref),
    { U(add.side), FK_CHAR, 1, CK_ITCH_SIDE, WM_ITCH_DROP_BAD_SIDE },
    SHARES(add.shares),
    STOCK(add.stock),
    PRICE(add.price),
    { U(add.attribution), FK_ALPHA, 4, CK_SYMBOL, WM_ITCH_DROP_BAD_TEXT },
};

static const struct wm_field executed_fields[] = {
    HEADER,
    REF(executed.order_ref),
    SHARES(executed.shares),
    { U(executed.match_number), FK_U64, 8, CK_NONZERO, WM_ITCH_DROP_BAD_ORDER_REF },
};

static const struct wm_field executed_price_fields[] = {
    HEADER,
    REF(executed.order_ref),
    SHARES(executed.shares),
    { U(executed.match_number), FK_U64, 8, CK_NONZERO, WM_ITCH_DROP_BAD_ORDER_REF },
    CODE(executed.printable, CK_YES_NO),
    PRICE(executed.price),
};

static const struct wm_field cancel_fields[] = {
    HEADER,
    REF(cancel.order_ref),
    SHARES(cancel.shares),
};

static const struct wm_field delete_fields[] = {
    HEADER,
    REF(del.order_ref),
};

static const struct wm_field replace_fields[] = {
    HEADER,
    REF(replace.orig_order_ref),
    REF(replace.new_order_ref),
    SHARES(replace.shares),
    PRICE(replace.price),
};

static const struct wm_field trade_fields[] = {
    HEADER,
    { U(trade.order_ref), FK_U64, 8, CK_NONE, 0 },  /* 0 for hidden orders */
    { U(trade.side), FK_CHAR, 1, CK_ITCH_SIDE, WM_ITCH_DROP_BAD_SIDE },
    SHARES(trade.shares),
    STOCK(trade.stock),
    PRICE(trade.price),
    { U(trade.match_number), FK_U64, 8, CK_NONZERO, WM_ITCH_DROP_BAD_ORDER_REF },
};

#define LAYOUT(name, t, fields, len) \
    static const struct wm_layout name = { (t), N(fields), (len), 0, 0, 1, 0, (fields) }

LAYOUT(l_system_event, 'S', system_event_fields, WM_ITCH_SYSTEM_EVENT_LEN);
LAYOUT(l_directory, 'R', directory_fields, WM_ITCH_STOCK_DIRECTORY_LEN);
LAYOUT(l_trading_action, 'H', trading_action_fields, WM_ITCH_TRADING_ACTION_LEN);
LAYOUT(l_add, 'A', add_fields, WM_ITCH_ADD_ORDER_LEN);
LAYOUT(l_add_mpid, 'F', add_mpid_fields, WM_ITCH_ADD_ORDER_MPID_LEN);
LAYOUT(l_executed, 'E', executed_fields, WM_ITCH_ORDER_EXECUTED_LEN);
LAYOUT(l_executed_price, 'C', executed_price_fields, WM_ITCH_ORDER_EXECUTED_PRICE_LEN);
LAYOUT(l_cancel, 'X', cancel_fields, WM_ITCH_ORDER_CANCEL_LEN);
LAYOUT(l_delete, 'D', delete_fields, WM_ITCH_ORDER_DELETE_LEN);
LAYOUT(l_replace, 'U', replace_fields, WM_ITCH_ORDER_REPLACE_LEN);
LAYOUT(l_trade, 'P', trade_fields, WM_ITCH_TRADE_LEN);

static const struct wm_layout *const layouts[256] = {
    ['S'] = &l_system_event, ['R'] = &l_directory, ['H'] = &l_trading_action,
    ['A'] = &l_add, ['F'] = &l_add_mpid, ['E'] = &l_executed, ['C'] = &l_executed_price,
    ['X'] = &l_cancel, ['D'] = &l_delete, ['U'] = &l_replace, ['P'] = &l_trade,
};

#define ALL_LAYOUTS(X)                                                                 \
    X('S', l_system_event) X('R', l_directory) X('H', l_trading_action) X('A', l_add)     \
    X('F', l_add_mpid) X('E', l_executed) X('C', l_executed_price) X('X', l_cancel)      \
    X('D', l_delete) X('U', l_replace) X('P', l_trade)

/* One unrolled field walk per message type. */
static int decode_fields(char type, const uint8_t *msg, struct wm_itch_msg *out)
{
    switch (type) {
#define DECODE_CASE(ch, lay) case ch: return wm_layout_decode_fields(&lay, msg, out);
    ALL_LAYOUTS(DECODE_CASE)
    default: return WM_ITCH_DROP_UNKNOWN_TYPE;
    }
}

static int encode_fields(char type, uint8_t *buf, size_t cap, const struct wm_itch_msg *m)
{
    switch (type) {
#define ENCODE_CASE(ch, lay) case ch: return wm_layout_encode_fields(&lay, buf, cap, m);
    ALL_LAYOUTS(ENCODE_CASE)
    default: return -EINVAL;
    }
}

uint32_t wm_itch_message_len(char type)
{
    const struct wm_layout *l = layouts[(uint8_t)type];
    return l ? l->fixed_len : 0;
}

int wm_itch_decode(const uint8_t *msg, size_t len, struct wm_itch_msg *out,
                   struct wm_codec_stats *st)
{
    int r;
    const struct wm_layout *l = len ? layouts[msg[0]] : NULL;
    if (len == 0)
        r = WM_ITCH_DROP_LENGTH_MISMATCH;
    else if (!l)
        r = WM_ITCH_DROP_UNKNOWN_TYPE;
    else if (len != l->fixed_len)
        r = WM_ITCH_DROP_LENGTH_MISMATCH;
    else
        r = decode_fields((char)msg[0], msg, out);
    if (r == 0) {
        out->type = (char)msg[0];
        out->len = (uint16_t)len;
    }
    wm_stat(st, r ? r : WM_ITCH_MESSAGES);
    return r;
}

int wm_itch_encode(uint8_t *buf, size_t cap, const struct wm_itch_msg *m)
{
    return encode_fields(m->type, buf, cap, m);
}

int wm_mold_builder_add_itch(struct wm_mold_builder *b, const struct wm_itch_msg *m)
{
    uint32_t len = wm_itch_message_len(m->type);
    if (!len)
        return -EINVAL;
    int err = 0;
    uint8_t *p = wm_mold_builder_reserve(b, len, &err);
    if (!p)
        return err;
    int n = wm_itch_encode(p, len, m);
    if (n < 0) {
        wm_mold_builder_commit(b, 0);
        return n;
    }
    wm_mold_builder_commit(b, (uint32_t)n);
    return 0;
}
