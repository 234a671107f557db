/* codec/layout.h - private: messages declared as data.
 *
 * Each message type is a table of fields in wire order (struct wm_field):
 * how wide it is on the wire, what C type it lands in, where in the decoded
 * struct, which value check applies and which drop reason a failure counts.
 * One decoder and one encoder walk those tables for every OUCH and ITCH
 * message, so a layout is written once (like a Scapy fields_desc) and the
 * encoder and decoder cannot disagree.
 */
#ifndef WM_CODEC_LAYOUT_H
#define WM_CODEC_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include "wirematch/itch.h"
#include "wirematch/mold.h"
#include "wirematch/ouch.h"

enum wm_fkind {
    FK_CHAR = 1,    /* 1 byte -> char */
    FK_U8,          /* 1 byte -> uint8_t */
    FK_U16,         /* 2 bytes -> uint16_t */
    FK_U32,         /* 4 bytes -> uint32_t */
    FK_U48,         /* 6 bytes -> uint64_t (ITCH timestamp) */
    FK_U64,         /* 8 bytes -> uint64_t */
    FK_I32,         /* 4 bytes -> int32_t */
    FK_I64,         /* 8 bytes -> int64_t */
    FK_ALPHA        /* width bytes -> char[width] */
};

/* Value checks: each names a set of valid values. */
enum wm_fcheck {
    CK_NONE = 0,
    CK_OUCH_SIDE,       /* B S T E */
    CK_ITCH_SIDE,       /* B S */
    CK_TIF,             /* 0 3 5 6 E */
    CK_DISPLAY,         /* Y N A */
    CK_CAPACITY,        /* A P R O */
    CK_YES_NO,          /* Y N */
    CK_CROSS,           /* N O C H S R E A */
    CK_SYMBOL,          /* printable, left-justified, space padded, not blank */
    CK_SYMBOL_OR_BLANK, /* as CK_SYMBOL, or all spaces */
    CK_TEXT,            /* printable ASCII (0x20..0x7e) */
    CK_CHAR,            /* one printable ASCII character */
    CK_OUCH_PRICE,      /* 1 .. WM_OUCH_PRICE_MAX */
    CK_QTY,             /* 1 .. WM_OUCH_MAX_QUANTITY */
    CK_QTY0,            /* 0 .. WM_OUCH_MAX_QUANTITY */
    CK_NONZERO,         /* != 0 */
    CK_TIMESTAMP,       /* < ns per day */
    CK_ITCH_PRICE,      /* 1 .. WM_ITCH_PRICE_MAX */
    CK_OUCH_EVENT,      /* S E */
    CK_ITCH_EVENT,      /* O S Q M E C */
    CK_ORDER_STATE,     /* L D */
    CK_UPPER,           /* A..Z */
    CK_REJECT,          /* 1 .. 0x1f */
    CK_PRICE_TYPE,      /* L P M R Q m */
    CK_POST_ONLY,       /* P N */
    CK_TRADING_STATE,   /* H P Q T */
    CK_LIQUIDITY        /* letter or digit */
};

struct wm_field {
    uint16_t obj_off;   /* offset in the decoded struct */
    uint8_t  kind;      /* enum wm_fkind */
    uint8_t  width;     /* bytes on the wire */
    uint8_t  check;     /* enum wm_fcheck */
    uint8_t  reason;    /* enum wm_codec_counter counted when the check fails */
};

struct wm_layout {
    char     type;
    uint8_t  n_fields;
    uint16_t fixed_len;         /* bytes including type (and appendage length) */
    uint16_t app_obj_off;       /* offset of struct wm_ouch_appendage, if any */
    uint8_t  has_appendage;     /* a 2-byte appendage length ends the fixed part */
    uint8_t  header_len;        /* bytes before the first field (1: the type) */
    uint32_t allowed_tags;      /* appendage tags accepted (bit per tag) */
    const struct wm_field *fields;
};

/* Value of an optional appendage tag: where it lands and how it is checked. */
struct wm_tag_desc {
    uint16_t obj_off;   /* in struct wm_ouch_appendage; width 0 = unknown tag */
    uint8_t  kind;
    uint8_t  width;
    uint8_t  check;
    uint8_t  reason;
};

static inline uint16_t wm_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t wm_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

static inline uint64_t wm_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline void wm_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void wm_put32(uint8_t *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    memcpy(p, &v, 4);
}

static inline void wm_put64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

static inline void wm_stat(struct wm_codec_stats *st, int idx)
{
    if (st)
        st->counts[idx]++;
}

/* Character-set checks: bit (1 << check) of char_sets[c] says c is valid
 * for that check.  Filled once when the library loads. */
extern uint32_t wm_codec_char_sets[256];

static inline int in_set(uint8_t check, uint64_t c)
{
    return c < 256 && (wm_codec_char_sets[c] >> check) & 1;
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


/* The field walks, inlined where the layout is a compile-time constant so
 * the compiler unrolls them into straight-line code for that message. */
static inline __attribute__((always_inline)) int wm_layout_decode_fields(
    const struct wm_layout *l, const uint8_t *msg, void *obj)
{
    const uint8_t *p = msg + l->header_len;
    unsigned char *base = obj;
#pragma GCC unroll 32
    for (unsigned i = 0; i < l->n_fields; i++) {
        const struct wm_field *f = &l->fields[i];
        uint64_t v = field_load(f->kind, f->width, p, base + f->obj_off);
        if (f->check != CK_NONE && !check_ok(f->check, v, p, f->width))
            return f->reason;
        p += f->width;
    }
    return 0;
}

/* Bytes the appendage of obj encodes to, or -EINVAL (tag not allowed). */
int wm_appendage_len(const struct wm_layout *l, const void *obj);
/* Write the appendage TagValues of obj at p: bytes written or -EINVAL. */
int wm_appendage_encode(const struct wm_layout *l, uint8_t *p, const void *obj);

static inline __attribute__((always_inline)) int wm_layout_encode_fields(
    const struct wm_layout *l, uint8_t *buf, size_t cap, const void *obj)
{
    const unsigned char *base = obj;
    int app_len = (l->has_appendage && l->allowed_tags) ? wm_appendage_len(l, obj) : 0;
    if (app_len < 0)
        return app_len;
    size_t total = (size_t)l->fixed_len + (size_t)app_len;
    if (total > cap)
        return -ENOBUFS;
    uint8_t *p = buf;
    *p = (uint8_t)l->type;
    p += l->header_len;
#pragma GCC unroll 32
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
        int n = wm_appendage_encode(l, p, obj);
        if (n < 0)
            return n;
        p += n;
    }
    return (int)(p - buf);
}

/* Decode the fixed fields of l from msg (at least l->fixed_len bytes) into
 * obj.  Returns 0 or the failing field's reason. */
int wm_layout_decode(const struct wm_layout *l, const uint8_t *msg, void *obj);
/* Decode an appendage of len bytes into app (zeroed first).  Returns 0 or a
 * reason. */
int wm_appendage_decode(const struct wm_layout *l, const uint8_t *p, size_t len, void *app);
/* Encode obj per l into buf (cap bytes).  Returns the length, -EINVAL or
 * -ENOBUFS. */
int wm_layout_encode(const struct wm_layout *l, uint8_t *buf, size_t cap, const void *obj);
/* Total encoded length of obj per l, or -EINVAL. */
int wm_layout_encoded_len(const struct wm_layout *l, const void *obj);

#endif
