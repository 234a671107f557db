/* codec/layout.c - the one table-driven decoder/encoder behind OUCH and ITCH. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "codec/layout.h"
#include "wirematch/itch.h"
#include "wirematch/ouch.h"

#define APP_OFF(m) ((uint16_t)offsetof(struct wm_ouch_appendage, m))
#define TAG(m, k, w, c, r) { APP_OFF(m), (k), (w), (c), (r) }

uint32_t wm_codec_char_sets[256];

static const struct { uint8_t check; const char *set; } char_set_defs[] = {
    { CK_OUCH_SIDE, "BSTE" }, { CK_ITCH_SIDE, "BS" }, { CK_TIF, "0356E" },
    { CK_DISPLAY, "YNA" }, { CK_CAPACITY, "APRO" }, { CK_YES_NO, "YN" },
    { CK_CROSS, "NOCHSREA" }, { CK_OUCH_EVENT, "SE" }, { CK_ITCH_EVENT, "OSQMEC" },
    { CK_ORDER_STATE, "LD" }, { CK_PRICE_TYPE, "LPMRQm" }, { CK_POST_ONLY, "PN" },
    { CK_TRADING_STATE, "HPQT" },
    { CK_UPPER, "ABCDEFGHIJKLMNOPQRSTUVWXYZ" },
    { CK_LIQUIDITY, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" },
};

__attribute__((constructor)) static void char_sets_init(void)
{
    for (size_t i = 0; i < sizeof(char_set_defs) / sizeof(char_set_defs[0]); i++)
        for (const char *c = char_set_defs[i].set; *c; c++)
            wm_codec_char_sets[(uint8_t)*c] |= 1u << char_set_defs[i].check;
    for (unsigned c = 0x20; c <= 0x7e; c++)
        wm_codec_char_sets[c] |= 1u << CK_CHAR;
}



/* OUCH 5.0 optional appendage tags. */
static const struct wm_tag_desc tag_desc[WM_OUCH_TAG_MAX + 1] = {
    [WM_OUCH_TAG_SECONDARY_ORD_REF] = TAG(secondary_ord_ref, FK_U64, 8, CK_NONE, 0),
    [WM_OUCH_TAG_FIRM] = TAG(firm, FK_ALPHA, 4, CK_TEXT, WM_OUCH_DROP_BAD_TEXT),
    [WM_OUCH_TAG_MIN_QTY] = TAG(min_qty, FK_U32, 4, CK_QTY, WM_OUCH_DROP_BAD_MIN_QTY),
    [WM_OUCH_TAG_CUSTOMER_TYPE] = TAG(customer_type, FK_CHAR, 1, CK_CHAR, WM_OUCH_DROP_BAD_CODE),
    [WM_OUCH_TAG_MAX_FLOOR] = TAG(max_floor, FK_U32, 4, CK_QTY0, WM_OUCH_DROP_BAD_MAX_FLOOR),
    [WM_OUCH_TAG_PRICE_TYPE] = TAG(price_type, FK_CHAR, 1, CK_PRICE_TYPE, WM_OUCH_DROP_BAD_PRICE_TYPE),
    [WM_OUCH_TAG_PEG_OFFSET] = TAG(peg_offset, FK_I32, 4, CK_NONE, 0),
    [WM_OUCH_TAG_DISCRETION_PRICE] = TAG(discretion_price, FK_I64, 8, CK_OUCH_PRICE, WM_OUCH_DROP_BAD_PRICE),
    [WM_OUCH_TAG_DISCRETION_PRICE_TYPE] = TAG(discretion_price_type, FK_CHAR, 1, CK_PRICE_TYPE, WM_OUCH_DROP_BAD_PRICE_TYPE),
    [WM_OUCH_TAG_DISCRETION_PEG_OFFSET] = TAG(discretion_peg_offset, FK_I32, 4, CK_NONE, 0),
    [WM_OUCH_TAG_POST_ONLY] = TAG(post_only, FK_CHAR, 1, CK_POST_ONLY, WM_OUCH_DROP_BAD_YES_NO),
    [WM_OUCH_TAG_RANDOM_RESERVES] = TAG(random_reserves, FK_U32, 4, CK_QTY0, WM_OUCH_DROP_BAD_QUANTITY),
    [WM_OUCH_TAG_ROUTE] = TAG(route, FK_ALPHA, 4, CK_TEXT, WM_OUCH_DROP_BAD_TEXT),
    [WM_OUCH_TAG_EXPIRE_TIME] = TAG(expire_time, FK_U32, 4, CK_NONE, 0),
    [WM_OUCH_TAG_TRADE_NOW] = TAG(trade_now, FK_CHAR, 1, CK_CHAR, WM_OUCH_DROP_BAD_CODE),
    [WM_OUCH_TAG_HANDLE_INST] = TAG(handle_inst, FK_CHAR, 1, CK_CHAR, WM_OUCH_DROP_BAD_CODE),
    [WM_OUCH_TAG_BBO_WEIGHT] = TAG(bbo_weight, FK_CHAR, 1, CK_CHAR, WM_OUCH_DROP_BAD_CODE),
    [WM_OUCH_TAG_DISPLAY_QTY] = TAG(display_qty, FK_U32, 4, CK_QTY0, WM_OUCH_DROP_BAD_QUANTITY),
    [WM_OUCH_TAG_DISPLAY_PRICE] = TAG(display_price, FK_I64, 8, CK_OUCH_PRICE, WM_OUCH_DROP_BAD_PRICE),
    [WM_OUCH_TAG_GROUP_ID] = TAG(group_id, FK_U16, 2, CK_NONE, 0),
    [WM_OUCH_TAG_SHARES_LOCATED] = TAG(shares_located, FK_CHAR, 1, CK_YES_NO, WM_OUCH_DROP_BAD_YES_NO),
    [WM_OUCH_TAG_SIDE] = TAG(side, FK_CHAR, 1, CK_OUCH_SIDE, WM_OUCH_DROP_BAD_SIDE),
    [WM_OUCH_TAG_USER_REF_IDX] = TAG(user_ref_idx, FK_U8, 1, CK_NONE, 0),
};

int wm_layout_decode(const struct wm_layout *l, const uint8_t *msg, void *obj)
{
    return wm_layout_decode_fields(l, msg, obj);
}

int wm_appendage_decode(const struct wm_layout *l, const uint8_t *p, size_t len, void *app_obj)
{
    struct wm_ouch_appendage *app = app_obj;
    const uint8_t *end = p + len;
    memset(app, 0, sizeof(*app));
    while (p < end) {
        if (end - p < 2)
            return WM_OUCH_DROP_APPENDAGE_TRUNCATED;
        unsigned flen = p[0];               /* tag + value bytes */
        unsigned tag = p[1];
        if (flen < 1)
            return WM_OUCH_DROP_APPENDAGE_BAD_LENGTH;
        if ((size_t)(end - p - 1) < flen)
            return WM_OUCH_DROP_APPENDAGE_TRUNCATED;
        if (tag > WM_OUCH_TAG_MAX || tag_desc[tag].width == 0)
            return WM_OUCH_DROP_APPENDAGE_UNKNOWN_TAG;
        const struct wm_tag_desc *d = &tag_desc[tag];
        if (!(l->allowed_tags & (1u << tag)))
            return WM_OUCH_DROP_APPENDAGE_TAG_NOT_ALLOWED;
        if (flen - 1 != d->width)
            return WM_OUCH_DROP_APPENDAGE_BAD_LENGTH;
        if (app->present & (1u << tag))
            return WM_OUCH_DROP_APPENDAGE_DUPLICATE_TAG;
        uint64_t v = field_load(d->kind, d->width, p + 2, (unsigned char *)app + d->obj_off);
        if (d->check != CK_NONE && !check_ok(d->check, v, p + 2, d->width))
            return d->reason;
        app->present |= 1u << tag;
        p += 1 + flen;
    }
    return 0;
}

int wm_appendage_len(const struct wm_layout *l, const void *obj)
{
    if (!l->has_appendage || !l->allowed_tags)
        return 0;      /* no appendage, or one that carries nothing here */
    const struct wm_ouch_appendage *app =
        (const void *)((const unsigned char *)obj + l->app_obj_off);
    if (app->present & ~l->allowed_tags)
        return -EINVAL;
    int n = 0;
    for (uint32_t bits = app->present; bits; bits &= bits - 1)
        n += 2 + tag_desc[__builtin_ctz(bits)].width;
    return n;
}

int wm_layout_encoded_len(const struct wm_layout *l, const void *obj)
{
    int app = wm_appendage_len(l, obj);
    return app < 0 ? app : l->fixed_len + app;
}

int wm_layout_encode(const struct wm_layout *l, uint8_t *buf, size_t cap, const void *obj)
{
    return wm_layout_encode_fields(l, buf, cap, obj);
}

int wm_appendage_encode(const struct wm_layout *l, uint8_t *p, const void *obj)
{
    const struct wm_ouch_appendage *app =
        (const void *)((const unsigned char *)obj + l->app_obj_off);
    uint8_t *start = p;
    /* Ascending tag order; wm_appendage_len has checked every bit is a known tag. */
    for (uint32_t bits = app->present; bits; bits &= bits - 1) {
        unsigned tag = (unsigned)__builtin_ctz(bits);
        const struct wm_tag_desc *d = &tag_desc[tag];
        const unsigned char *src = (const unsigned char *)app + d->obj_off;
        uint64_t v = field_read(d->kind, src);
        if (d->check != CK_NONE && !check_ok(d->check, v, src, d->width))
            return -EINVAL;
        p[0] = (uint8_t)(1 + d->width);
        p[1] = (uint8_t)tag;
        field_store(d->kind, d->width, p + 2, v, src);
        p += 2 + d->width;
    }
    return (int)(p - start);
}
