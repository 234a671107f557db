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
#include <string.h>

#include "wirematch/mold.h"

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

/* Decode the fixed fields of l from msg (at least l->fixed_len bytes) into
 * obj.  Returns 0 or the failing field's reason. */
int wm_layout_decode(const struct wm_layout *l, const uint8_t *msg, void *obj);
/* Decode an appendage of len bytes into app (zeroed first).  Returns 0 or a
 * reason. */
int wm_appendage_decode(const struct wm_layout *l, const uint8_t *p, size_t len, void *app);
/* Bytes the appendage of obj encodes to, or -EINVAL (tag not allowed). */
int wm_appendage_len(const struct wm_layout *l, const void *obj);
/* Encode obj per l into buf (cap bytes).  Returns the length, -EINVAL or
 * -ENOBUFS. */
int wm_layout_encode(const struct wm_layout *l, uint8_t *buf, size_t cap, const void *obj);
/* Total encoded length of obj per l, or -EINVAL. */
int wm_layout_encoded_len(const struct wm_layout *l, const void *obj);

#endif
