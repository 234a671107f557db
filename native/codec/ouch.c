/* codec/ouch.c - OUCH 5.0 messages as layout tables, and their API. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "codec/layout.h"
#include "wirematch/ouch.h"

#define IN(m) ((uint16_t)offsetof(struct wm_ouch_in, u.m))
#define OUT(m) ((uint16_t)offsetof(struct wm_ouch_out, u.m))
#define TS { (uint16_t)offsetof(struct wm_ouch_out, timestamp), FK_U64, 8, CK_TIMESTAMP, WM_OUCH_DROP_BAD_TIMESTAMP }

#define B(t) (1u << (t))
/* Tags an Enter Order may carry (and that Order Accepted echoes). */
#define ENTER_TAGS                                                                         \
    (B(WM_OUCH_TAG_FIRM) | B(WM_OUCH_TAG_MIN_QTY) | B(WM_OUCH_TAG_CUSTOMER_TYPE) |         \
     B(WM_OUCH_TAG_MAX_FLOOR) | B(WM_OUCH_TAG_PRICE_TYPE) | B(WM_OUCH_TAG_PEG_OFFSET) |    \
     B(WM_OUCH_TAG_DISCRETION_PRICE) | B(WM_OUCH_TAG_DISCRETION_PRICE_TYPE) |              \
     B(WM_OUCH_TAG_DISCRETION_PEG_OFFSET) | B(WM_OUCH_TAG_POST_ONLY) |                     \
     B(WM_OUCH_TAG_RANDOM_RESERVES) | B(WM_OUCH_TAG_ROUTE) | B(WM_OUCH_TAG_EXPIRE_TIME) |  \
     B(WM_OUCH_TAG_TRADE_NOW) | B(WM_OUCH_TAG_HANDLE_INST) | B(WM_OUCH_TAG_GROUP_ID) |     \
     B(WM_OUCH_TAG_SHARES_LOCATED) | B(WM_OUCH_TAG_USER_REF_IDX))
/* Replace Order: Firm, Route and Customer Type stay with the original order. */
#define REPLACE_TAGS                                                                       \
    ((ENTER_TAGS & ~(B(WM_OUCH_TAG_FIRM) | B(WM_OUCH_TAG_ROUTE))) | B(WM_OUCH_TAG_SIDE))
#define ACCEPTED_TAGS                                                                      \
    (ENTER_TAGS | B(WM_OUCH_TAG_SECONDARY_ORD_REF) | B(WM_OUCH_TAG_BBO_WEIGHT) |           \
     B(WM_OUCH_TAG_DISPLAY_QTY) | B(WM_OUCH_TAG_DISPLAY_PRICE))
#define MASS_CANCEL_TAGS (B(WM_OUCH_TAG_SIDE) | B(WM_OUCH_TAG_GROUP_ID) | B(WM_OUCH_TAG_USER_REF_IDX))

#define N(a) ((uint8_t)(sizeof(a) / sizeof((a)[0])))

/* ---- inbound ---- */

static const struct wm_field enter_fields[] = {
    { IN(enter.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { IN(enter.side), FK_CHAR, 1, CK_OUCH_SIDE, WM_OUCH_DROP_BAD_SIDE },
    { IN(enter.quantity), FK_U32, 4, CK_QTY, WM_OUCH_DROP_BAD_QUANTITY },
    { IN(enter.symbol), FK_ALPHA, 8, CK_SYMBOL, WM_OUCH_DROP_BAD_SYMBOL },
    { IN(enter.price), FK_I64, 8, CK_OUCH_PRICE, WM_OUCH_DROP_BAD_PRICE },
    { IN(enter.time_in_force), FK_CHAR, 1, CK_TIF, WM_OUCH_DROP_BAD_TIF },
    { IN(enter.display), FK_CHAR, 1, CK_DISPLAY, WM_OUCH_DROP_BAD_DISPLAY },
    { IN(enter.capacity), FK_CHAR, 1, CK_CAPACITY, WM_OUCH_DROP_BAD_CAPACITY },
    { IN(enter.iso), FK_CHAR, 1, CK_YES_NO, WM_OUCH_DROP_BAD_ISO },
    { IN(enter.cross_type), FK_CHAR, 1, CK_CROSS, WM_OUCH_DROP_BAD_CROSS_TYPE },
    { IN(enter.cl_ord_id), FK_ALPHA, 14, CK_TEXT, WM_OUCH_DROP_BAD_TEXT },
};

static const struct wm_field replace_fields[] = {
    { IN(replace.orig_user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { IN(replace.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { IN(replace.quantity), FK_U32, 4, CK_QTY, WM_OUCH_DROP_BAD_QUANTITY },
    { IN(replace.price), FK_I64, 8, CK_OUCH_PRICE, WM_OUCH_DROP_BAD_PRICE },
    { IN(replace.time_in_force), FK_CHAR, 1, CK_TIF, WM_OUCH_DROP_BAD_TIF },
    { IN(replace.display), FK_CHAR, 1, CK_DISPLAY, WM_OUCH_DROP_BAD_DISPLAY },
    { IN(replace.iso), FK_CHAR, 1, CK_YES_NO, WM_OUCH_DROP_BAD_ISO },
    { IN(replace.cl_ord_id), FK_ALPHA, 14, CK_TEXT, WM_OUCH_DROP_BAD_TEXT },
};

static const struct wm_field cancel_fields[] = {
    { IN(cancel.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { IN(cancel.quantity), FK_U32, 4, CK_QTY0, WM_OUCH_DROP_BAD_QUANTITY },
};

static const struct wm_field modify_fields[] = {
    { IN(modify.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { IN(modify.side), FK_CHAR, 1, CK_OUCH_SIDE, WM_OUCH_DROP_BAD_SIDE },
    { IN(modify.quantity), FK_U32, 4, CK_QTY0, WM_OUCH_DROP_BAD_QUANTITY },
};

static const struct wm_field mass_cancel_fields[] = {
    { IN(mass_cancel.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { IN(mass_cancel.firm), FK_ALPHA, 4, CK_TEXT, WM_OUCH_DROP_BAD_TEXT },
    { IN(mass_cancel.symbol), FK_ALPHA, 8, CK_SYMBOL_OR_BLANK, WM_OUCH_DROP_BAD_SYMBOL },
};

static const struct wm_layout in_enter = {
    'O', N(enter_fields), WM_OUCH_ENTER_ORDER_LEN, IN(enter.app), 1, 1, ENTER_TAGS, enter_fields };
static const struct wm_layout in_replace = {
    'U', N(replace_fields), WM_OUCH_REPLACE_ORDER_LEN, IN(replace.app), 1, 1, REPLACE_TAGS,
    replace_fields };
static const struct wm_layout in_cancel = {
    'X', N(cancel_fields), WM_OUCH_CANCEL_ORDER_LEN, 0, 0, 1, 0, cancel_fields };
static const struct wm_layout in_modify = {
    'M', N(modify_fields), WM_OUCH_MODIFY_ORDER_LEN, 0, 0, 1, 0, modify_fields };
static const struct wm_layout in_account_query = {
    'Q', 0, WM_OUCH_ACCOUNT_QUERY_LEN, 0, 0, 1, 0, NULL };
static const struct wm_layout in_mass_cancel = {
    'C', N(mass_cancel_fields), WM_OUCH_MASS_CANCEL_LEN, IN(mass_cancel.app), 1, 1,
    MASS_CANCEL_TAGS, mass_cancel_fields };

static const struct wm_layout *const in_layouts[256] = {
    ['O'] = &in_enter, ['U'] = &in_replace, ['X'] = &in_cancel,
    ['M'] = &in_modify, ['Q'] = &in_account_query, ['C'] = &in_mass_cancel,
};

/* ---- outbound ---- */

static const struct wm_field system_event_fields[] = {
    TS,
    { OUT(system_event.event_code), FK_CHAR, 1, CK_OUCH_EVENT, WM_OUCH_DROP_BAD_CODE },
};

#define ORDER_TAIL(msg)                                                                   \
    { OUT(msg.side), FK_CHAR, 1, CK_OUCH_SIDE, WM_OUCH_DROP_BAD_SIDE },                   \
    { OUT(msg.quantity), FK_U32, 4, CK_QTY0, WM_OUCH_DROP_BAD_QUANTITY },                 \
    { OUT(msg.symbol), FK_ALPHA, 8, CK_SYMBOL, WM_OUCH_DROP_BAD_SYMBOL },                 \
    { OUT(msg.price), FK_I64, 8, CK_OUCH_PRICE, WM_OUCH_DROP_BAD_PRICE },                 \
    { OUT(msg.time_in_force), FK_CHAR, 1, CK_TIF, WM_OUCH_DROP_BAD_TIF },                 \
    { OUT(msg.display), FK_CHAR, 1, CK_DISPLAY, WM_OUCH_DROP_BAD_DISPLAY },               \
    { OUT(msg.order_ref), FK_U64, 8, CK_NONE, 0 },                                        \
    { OUT(msg.capacity), FK_CHAR, 1, CK_CAPACITY, WM_OUCH_DROP_BAD_CAPACITY },            \
    { OUT(msg.iso), FK_CHAR, 1, CK_YES_NO, WM_OUCH_DROP_BAD_ISO },                        \
    { OUT(msg.cross_type), FK_CHAR, 1, CK_CROSS, WM_OUCH_DROP_BAD_CROSS_TYPE },           \
    { OUT(msg.order_state), FK_CHAR, 1, CK_ORDER_STATE, WM_OUCH_DROP_BAD_CODE },          \
    { OUT(msg.cl_ord_id), FK_ALPHA, 14, CK_TEXT, WM_OUCH_DROP_BAD_TEXT }

static const struct wm_field accepted_fields[] = {
    TS,
    { OUT(accepted.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    ORDER_TAIL(accepted),
};

static const struct wm_field replaced_fields[] = {
    TS,
    { OUT(replaced.orig_user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { OUT(replaced.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    ORDER_TAIL(replaced),
};

static const struct wm_field canceled_fields[] = {
    TS,
    { OUT(canceled.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { OUT(canceled.quantity), FK_U32, 4, CK_QTY, WM_OUCH_DROP_BAD_QUANTITY },
    { OUT(canceled.reason), FK_CHAR, 1, CK_UPPER, WM_OUCH_DROP_BAD_CODE },
};

static const struct wm_field executed_fields[] = {
    TS,
    { OUT(executed.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { OUT(executed.quantity), FK_U32, 4, CK_QTY, WM_OUCH_DROP_BAD_QUANTITY },
    { OUT(executed.price), FK_I64, 8, CK_OUCH_PRICE, WM_OUCH_DROP_BAD_PRICE },
    { OUT(executed.liquidity_flag), FK_CHAR, 1, CK_LIQUIDITY, WM_OUCH_DROP_BAD_CODE },
    { OUT(executed.match_number), FK_U64, 8, CK_NONE, 0 },
};

static const struct wm_field rejected_fields[] = {
    TS,
    { OUT(rejected.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { OUT(rejected.reason), FK_U16, 2, CK_REJECT, WM_OUCH_DROP_BAD_CODE },
    { OUT(rejected.cl_ord_id), FK_ALPHA, 14, CK_TEXT, WM_OUCH_DROP_BAD_TEXT },
};

static const struct wm_field cancel_reject_fields[] = {
    TS,
    { OUT(cancel_reject.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
};

static const struct wm_field modified_fields[] = {
    TS,
    { OUT(modified.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { OUT(modified.side), FK_CHAR, 1, CK_OUCH_SIDE, WM_OUCH_DROP_BAD_SIDE },
    { OUT(modified.quantity), FK_U32, 4, CK_QTY0, WM_OUCH_DROP_BAD_QUANTITY },
};

static const struct wm_field priority_update_fields[] = {
    TS,
    { OUT(priority_update.user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
    { OUT(priority_update.price), FK_I64, 8, CK_OUCH_PRICE, WM_OUCH_DROP_BAD_PRICE },
    { OUT(priority_update.display), FK_CHAR, 1, CK_DISPLAY, WM_OUCH_DROP_BAD_DISPLAY },
    { OUT(priority_update.order_ref), FK_U64, 8, CK_NONE, 0 },
};

static const struct wm_field account_fields[] = {
    TS,
    { OUT(account.next_user_ref_num), FK_U32, 4, CK_NONZERO, WM_OUCH_DROP_BAD_USER_REF },
};

static const struct wm_layout out_system_event = {
    'S', N(system_event_fields), WM_OUCH_SYSTEM_EVENT_LEN, 0, 0, 1, 0, system_event_fields };
static const struct wm_layout out_accepted = {
    'A', N(accepted_fields), WM_OUCH_ORDER_ACCEPTED_LEN, OUT(accepted.app), 1, 1, ACCEPTED_TAGS,
    accepted_fields };
static const struct wm_layout out_replaced = {
    'U', N(replaced_fields), WM_OUCH_ORDER_REPLACED_LEN, OUT(replaced.app), 1, 1, ACCEPTED_TAGS,
    replaced_fields };
static const struct wm_layout out_canceled = {
    'C', N(canceled_fields), WM_OUCH_ORDER_CANCELED_LEN, 0, 0, 1, 0, canceled_fields };
/* Order Executed ends with an appendage length; this codec writes none and
 * accepts none (the spec's tags 19/20, reference price, are not used). */
static const struct wm_layout out_executed = {
    'E', N(executed_fields), WM_OUCH_ORDER_EXECUTED_LEN, 0, 1, 1, 0, executed_fields };
static const struct wm_layout out_rejected = {
    'J', N(rejected_fields), WM_OUCH_REJECTED_LEN, 0, 0, 1, 0, rejected_fields };
static const struct wm_layout out_cancel_reject = {
    'I', N(cancel_reject_fields), WM_OUCH_CANCEL_REJECT_LEN, 0, 0, 1, 0, cancel_reject_fields };
static const struct wm_layout out_modified = {
    'M', N(modified_fields), WM_OUCH_ORDER_MODIFIED_LEN, 0, 0, 1, 0, modified_fields };
static const struct wm_layout out_priority_update = {
    'T', N(priority_update_fields), WM_OUCH_PRIORITY_UPDATE_LEN, 0, 0, 1, 0,
    priority_update_fields };
static const struct wm_layout out_account = {
    'Q', N(account_fields), WM_OUCH_ACCOUNT_QUERY_RESPONSE_LEN, 0, 0, 1, 0, account_fields };

static const struct wm_layout *const out_layouts[256] = {
    ['S'] = &out_system_event, ['A'] = &out_accepted, ['U'] = &out_replaced,
    ['C'] = &out_canceled, ['E'] = &out_executed, ['J'] = &out_rejected,
    ['I'] = &out_cancel_reject, ['M'] = &out_modified, ['T'] = &out_priority_update,
    ['Q'] = &out_account,
};

/* ---- shared decode/encode ---- */

/* The fixed fields, unrolled per message type for the common ones. */
static inline __attribute__((always_inline)) int decode_fields(const struct wm_layout *l,
                                                               const uint8_t *msg, void *obj)
{
    if (l == &in_enter)
        return wm_layout_decode_fields(&in_enter, msg, obj);
    if (l == &in_cancel)
        return wm_layout_decode_fields(&in_cancel, msg, obj);
    if (l == &in_replace)
        return wm_layout_decode_fields(&in_replace, msg, obj);
    if (l == &in_modify)
        return wm_layout_decode_fields(&in_modify, msg, obj);
    return wm_layout_decode(l, msg, obj);
}

static inline __attribute__((always_inline)) int encode_fields(const struct wm_layout *l,
                                                               uint8_t *buf, size_t cap,
                                                               const void *obj)
{
    if (l == &out_accepted)
        return wm_layout_encode_fields(&out_accepted, buf, cap, obj);
    if (l == &out_executed)
        return wm_layout_encode_fields(&out_executed, buf, cap, obj);
    if (l == &out_canceled)
        return wm_layout_encode_fields(&out_canceled, buf, cap, obj);
    if (l == &out_replaced)
        return wm_layout_encode_fields(&out_replaced, buf, cap, obj);
    return wm_layout_encode(l, buf, cap, obj);
}

static int decode_msg(const struct wm_layout *const *table, const uint8_t *msg, size_t len,
                      void *obj)
{
    if (len < 1)
        return WM_OUCH_DROP_TRUNCATED;
    const struct wm_layout *l = table[msg[0]];
    if (!l)
        return WM_OUCH_DROP_UNKNOWN_TYPE;
    if (len < l->fixed_len)
        return WM_OUCH_DROP_TRUNCATED;
    size_t app_len = 0;
    if (l->has_appendage) {
        app_len = wm_be16(msg + l->fixed_len - 2);
        if (len != l->fixed_len + app_len)
            return WM_OUCH_DROP_LENGTH_MISMATCH;
    } else if (len != l->fixed_len) {
        return WM_OUCH_DROP_LENGTH_MISMATCH;
    }
    if (len > 0xffff)
        return WM_OUCH_DROP_LENGTH_MISMATCH;
    int r = decode_fields(l, msg, obj);
    if (r)
        return r;
    if (l->has_appendage) {
        if (l->allowed_tags == 0) {
            if (app_len)
                return WM_OUCH_DROP_APPENDAGE_TAG_NOT_ALLOWED;
        } else {
            r = wm_appendage_decode(l, msg + l->fixed_len, app_len,
                                    (unsigned char *)obj + l->app_obj_off);
            if (r)
                return r;
        }
    }
    return 0;
}

/* Quantity-relative appendage checks: a minimum or a displayed floor above
 * the order's own quantity cannot be honoured. */
static int check_reserve(const struct wm_ouch_appendage *app, uint32_t quantity)
{
    if ((app->present & B(WM_OUCH_TAG_MIN_QTY)) && app->min_qty > quantity)
        return WM_OUCH_DROP_BAD_MIN_QTY;
    if ((app->present & B(WM_OUCH_TAG_MAX_FLOOR)) && app->max_floor > quantity)
        return WM_OUCH_DROP_BAD_MAX_FLOOR;
    return 0;
}

int wm_ouch_decode_in(const uint8_t *msg, size_t len, struct wm_ouch_in *out,
                      struct wm_codec_stats *st)
{
    int r = decode_msg(in_layouts, msg, len, out);
    if (r == 0) {
        out->type = (char)msg[0];
        out->len = (uint16_t)len;
        if (out->type == 'O')
            r = check_reserve(&out->u.enter.app, out->u.enter.quantity);
        else if (out->type == 'U')
            r = check_reserve(&out->u.replace.app, out->u.replace.quantity);
    }
    wm_stat(st, r ? r : WM_OUCH_MESSAGES);
    return r;
}

int wm_ouch_decode_out(const uint8_t *msg, size_t len, struct wm_ouch_out *out,
                       struct wm_codec_stats *st)
{
    int r = decode_msg(out_layouts, msg, len, out);
    if (r == 0) {
        out->type = (char)msg[0];
        out->len = (uint16_t)len;
    }
    wm_stat(st, r ? r : WM_OUCH_MESSAGES);
    return r;
}

int wm_ouch_encoded_len_in(const struct wm_ouch_in *m)
{
    const struct wm_layout *l = in_layouts[(uint8_t)m->type];
    return l ? wm_layout_encoded_len(l, m) : -EINVAL;
}

int wm_ouch_encoded_len_out(const struct wm_ouch_out *m)
{
    const struct wm_layout *l = out_layouts[(uint8_t)m->type];
    return l ? wm_layout_encoded_len(l, m) : -EINVAL;
}

int wm_ouch_encode_in(uint8_t *buf, size_t cap, const struct wm_ouch_in *m)
{
    const struct wm_layout *l = in_layouts[(uint8_t)m->type];
    if (!l)
        return -EINVAL;
    if (m->type == 'O' && check_reserve(&m->u.enter.app, m->u.enter.quantity))
        return -EINVAL;
    if (m->type == 'U' && check_reserve(&m->u.replace.app, m->u.replace.quantity))
        return -EINVAL;
    return wm_layout_encode(l, buf, cap, m);
}

int wm_ouch_encode_out(uint8_t *buf, size_t cap, const struct wm_ouch_out *m)
{
    const struct wm_layout *l = out_layouts[(uint8_t)m->type];
    if (!l)
        return -EINVAL;
    return encode_fields(l, buf, cap, m);
}

int wm_mold_builder_add_ouch(struct wm_mold_builder *b, const struct wm_ouch_out *m)
{
    int len = wm_ouch_encoded_len_out(m);
    if (len < 0)
        return len;
    int err = 0;
    uint8_t *p = wm_mold_builder_reserve(b, (uint32_t)len, &err);
    if (!p)
        return err;
    int n = wm_ouch_encode_out(p, (size_t)len, m);
    if (n < 0) {
        wm_mold_builder_commit(b, 0);
        return n;
    }
    wm_mold_builder_commit(b, (uint32_t)n);
    return 0;
}
