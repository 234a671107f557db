/* codec/layout.c - the one table-driven decoder/encoder behind OUCH and ITCH. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "codec/layout.h"
#include "wirematch/itch.h"
#include "wirematch/ouch.h"

#define APP_OFF(m) ((uint16_t)offsetof(struct wm_ouch_appendage, m))
#define TAG(m, k, w, c, r) { APP_OFF(m), (k), (w), (c), (r) }

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

/* Character-set checks: bit (1 << check) of char_sets[c] says c is valid
 * for that check.  Filled once when the library loads. */
static uint32_t char_sets[256];

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
            char_sets[(uint8_t)*c] |= 1u << char_set_defs[i].check;
    for (unsigned c = 0x20; c <= 0x7e; c++)
        char_sets[c] |= 1u << CK_CHAR;
}

static inline int in_set(uint8_t check, uint64_t c)
{
    return c < 256 && (char_sets[c] >> check) & 1;
}

static inline int printable(uint8_t c)
{
    return c >= 0x20 && c <= 0x7e;
}

/* Symbol: at least one non-space printable character, left-justified, then
 * only spaces. */
static inline int symbol_ok(const uint8_t *s, unsigned w, int blank_ok)
{
    unsigned i = 0;
    while (i < w && s[i] > 0x20 && s[i] <= 0x7e)
        i++;
    if (i == 0 && !blank_ok)
        return 0;
    for (; i < w; i++)
        if (s[i] != ' ')
            return 0;
    return 1;
}

/* v: the integer value (or the character); s: the field's bytes for alpha. */
static inline __attribute__((always_inline)) int check_ok(uint8_t check, uint64_t v,
                                                          const uint8_t *s, unsigned w)
{
    switch (check) {
    case CK_NONE: return 1;
    case CK_OUCH_SIDE:
    case CK_ITCH_SIDE:
    case CK_TIF:
    case CK_DISPLAY:
    case CK_CAPACITY:
    case CK_YES_NO:
    case CK_CROSS:
    case CK_CHAR:
    case CK_OUCH_EVENT:
    case CK_ITCH_EVENT:
    case CK_ORDER_STATE:
    case CK_UPPER:
    case CK_PRICE_TYPE:
    case CK_POST_ONLY:
    case CK_TRADING_STATE:
    case CK_LIQUIDITY: return in_set(check, v);
    case CK_SYMBOL: return symbol_ok(s, w, 0);
    case CK_SYMBOL_OR_BLANK: return symbol_ok(s, w, 1);
    case CK_TEXT:
        for (unsigned i = 0; i < w; i++)
            if (!printable(s[i]))
                return 0;
        return 1;
    case CK_OUCH_PRICE: return (int64_t)v >= 1 && (int64_t)v <= WM_OUCH_PRICE_MAX;
    case CK_QTY: return v >= 1 && v <= WM_OUCH_MAX_QUANTITY;
    case CK_QTY0: return v <= WM_OUCH_MAX_QUANTITY;
    case CK_NONZERO: return v != 0;
    case CK_TIMESTAMP: return v < WM_ITCH_NS_PER_DAY;
    case CK_ITCH_PRICE: return v >= 1 && v <= WM_ITCH_PRICE_MAX;
    case CK_REJECT: return v >= 1 && v <= 0x1f;
    default: return 0;
    }
}

/* Load one field from the wire into obj; returns the value for checks. */
static inline __attribute__((always_inline)) uint64_t field_load(uint8_t kind, unsigned width, const uint8_t *p, unsigned char *dst)
{
    uint64_t v = 0;
    switch (kind) {
    case FK_CHAR: *(char *)dst = (char)p[0]; return p[0];
    case FK_U8: *dst = p[0]; return p[0];
    case FK_U16: { uint16_t x = wm_be16(p); memcpy(dst, &x, 2); return x; }
    case FK_U32: { uint32_t x = wm_be32(p); memcpy(dst, &x, 4); return x; }
    case FK_I32: { int32_t x = (int32_t)wm_be32(p); memcpy(dst, &x, 4); return (uint64_t)(int64_t)x; }
    case FK_U48:
        v = ((uint64_t)wm_be16(p) << 32) | wm_be32(p + 2);
        memcpy(dst, &v, 8);
        return v;
    case FK_U64:
    case FK_I64: v = wm_be64(p); memcpy(dst, &v, 8); return v;
    case FK_ALPHA: memcpy(dst, p, width); return 0;
    default: return 0;
    }
}

/* Read one field from obj (for encoding): the value, and the bytes for alpha. */
static inline __attribute__((always_inline)) uint64_t field_read(uint8_t kind, const unsigned char *src)
{
    switch (kind) {
    case FK_CHAR:
    case FK_U8: return *src;
    case FK_U16: { uint16_t x; memcpy(&x, src, 2); return x; }
    case FK_U32: { uint32_t x; memcpy(&x, src, 4); return x; }
    case FK_I32: { int32_t x; memcpy(&x, src, 4); return (uint64_t)(int64_t)x; }
    case FK_U48:
    case FK_U64:
    case FK_I64: { uint64_t x; memcpy(&x, src, 8); return x; }
    default: return 0;
    }
}

static inline __attribute__((always_inline)) void field_store(uint8_t kind, unsigned width, uint8_t *p, uint64_t v,
                        const unsigned char *src)
{
    switch (kind) {
    case FK_CHAR:
    case FK_U8: p[0] = (uint8_t)v; break;
    case FK_U16: wm_put16(p, (uint16_t)v); break;
    case FK_U32:
    case FK_I32: wm_put32(p, (uint32_t)v); break;
    case FK_U48: wm_put16(p, (uint16_t)(v >> 32)); wm_put32(p + 2, (uint32_t)v); break;
    case FK_U64:
    case FK_I64: wm_put64(p, v); break;
    case FK_ALPHA: memcpy(p, src, width); break;
    default: break;
    }
}

int wm_layout_decode(const struct wm_layout *l, const uint8_t *msg, void *obj)
{
    const uint8_t *p = msg + l->header_len;
    unsigned char *base = obj;
    for (unsigned i = 0; i < l->n_fields; i++) {
        const struct wm_field *f = &l->fields[i];
        uint64_t v = field_load(f->kind, f->width, p, base + f->obj_off);
        if (f->check != CK_NONE && !check_ok(f->check, v, p, f->width))
            return f->reason;
        p += f->width;
    }
    return 0;
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
    for (unsigned tag = 1; tag <= WM_OUCH_TAG_MAX; tag++)
        if (app->present & (1u << tag))
            n += 2 + tag_desc[tag].width;
    return n;
}

int wm_layout_encoded_len(const struct wm_layout *l, const void *obj)
{
    int app = wm_appendage_len(l, obj);
    return app < 0 ? app : l->fixed_len + app;
}

int wm_layout_encode(const struct wm_layout *l, uint8_t *buf, size_t cap, const void *obj)
{
    const unsigned char *base = obj;
    int app_len = wm_appendage_len(l, obj);
    if (app_len < 0)
        return app_len;
    size_t total = (size_t)l->fixed_len + (size_t)app_len;
    if (total > cap)
        return -ENOBUFS;
    uint8_t *p = buf;
    *p = (uint8_t)l->type;
    p += l->header_len;
    for (unsigned i = 0; i < l->n_fields; i++) {
        const struct wm_field *f = &l->fields[i];
        const unsigned char *src = base + f->obj_off;
        uint64_t v = field_read(f->kind, src);
        if (f->check != CK_NONE && !check_ok(f->check, v, src, f->width))
            return -EINVAL;
        if (f->kind == FK_U48 && (v >> 48))
            return -EINVAL;
        field_store(f->kind, f->width, p, v, src);
        p += f->width;
    }
    if (l->has_appendage) {
        wm_put16(p, (uint16_t)app_len);
        p += 2;
    }
    if (app_len > 0) {
        const struct wm_ouch_appendage *app = (const void *)(base + l->app_obj_off);
        for (unsigned tag = 1; tag <= WM_OUCH_TAG_MAX; tag++) {
            if (!(app->present & (1u << tag)))
                continue;
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
    }
    return (int)(p - buf);
}
