/* codec/soup.c - SoupBinTCP 3.0 packets: the stream parser, the field
 * decoders, the encoders and the counter names. */
#include <errno.h>
#include <string.h>

#include "wirematch/soup.h"

static const char *const soup_names[] = { WM_SOUP_COUNTERS(WM_COUNTER_NAME) };

uint32_t wm_soup_counter_count(void)
{
    return WM_SOUP_N_COUNTERS;
}

const char *wm_soup_counter_name(uint32_t idx)
{
    return idx < WM_SOUP_N_COUNTERS ? soup_names[idx] : NULL;
}

const char *const *wm_soup_counter_names(void)
{
    return soup_names;
}

/* Length field of the 3.0 and 4.x Login Request, Login Accepted, Rejected. */
enum {
    LEN_LOGIN = WM_SOUP_LOGIN_REQUEST_LEN - 2,
    LEN_LOGIN_HB = WM_SOUP_LOGIN_REQUEST_HB_LEN - 2,
    LEN_ACCEPTED = WM_SOUP_LOGIN_ACCEPTED_LEN - 2,
    LEN_REJECTED = WM_SOUP_LOGIN_REJECTED_LEN - 2
};

/* ---- parser ---- */

int wm_soup_header_check(int side, uint16_t length_field, uint8_t type, uint32_t max_packet)
{
    if (length_field == 0)
        return WM_SOUP_CLOSE_BAD_LENGTH;        /* not even a type byte */
    int fixed;                                  /* required length field, 0: variable */
    if (side == WM_SOUP_FROM_CLIENT) {
        switch (type) {
        case WM_SOUP_LOGIN_REQUEST:
            return length_field == LEN_LOGIN || length_field == LEN_LOGIN_HB
                       ? 0 : WM_SOUP_CLOSE_BAD_LENGTH;
        case WM_SOUP_CLIENT_HEARTBEAT:
        case WM_SOUP_LOGOUT_REQUEST:
            fixed = 1;
            break;
        case WM_SOUP_UNSEQUENCED:
        case WM_SOUP_DEBUG:
            fixed = 0;
            break;
        default:
            return WM_SOUP_CLOSE_UNKNOWN_TYPE;
        }
    } else {
        switch (type) {
        case WM_SOUP_LOGIN_ACCEPTED:
            fixed = LEN_ACCEPTED;
            break;
        case WM_SOUP_LOGIN_REJECTED:
            fixed = LEN_REJECTED;
            break;
        case WM_SOUP_SERVER_HEARTBEAT:
        case WM_SOUP_END_OF_SESSION:
            fixed = 1;
            break;
        case WM_SOUP_SEQUENCED:
        case WM_SOUP_DEBUG:
            fixed = 0;
            break;
        default:
            return WM_SOUP_CLOSE_UNKNOWN_TYPE;
        }
    }
    if (fixed)
        return length_field == fixed ? 0 : WM_SOUP_CLOSE_BAD_LENGTH;
    return (uint32_t)length_field + 2 > max_packet ? WM_SOUP_CLOSE_OVERSIZED : 0;
}

int wm_soup_parser_init(struct wm_soup_parser *p, int side, uint8_t *hold, uint32_t hold_cap)
{
    if (!p || !hold || hold_cap < WM_SOUP_MIN_HOLD ||
        (side != WM_SOUP_FROM_CLIENT && side != WM_SOUP_FROM_SERVER))
        return -EINVAL;
    memset(p, 0, sizeof(*p));
    p->hold = hold;
    p->hold_cap = hold_cap;
    p->side = (uint8_t)side;
    return 0;
}

void wm_soup_parser_feed(struct wm_soup_parser *p, const uint8_t *buf, size_t len)
{
    p->buf = buf;
    p->len = buf ? len : 0;
    p->off = 0;
}

static inline uint16_t be16(const uint8_t *b)
{
    return (uint16_t)((b[0] << 8) | b[1]);
}

/* Header of the packet at b (3 bytes present): 0 and its whole length, or
 * the reason (sticky). */
static int header(struct wm_soup_parser *p, const uint8_t *b, uint32_t *total)
{
    uint16_t lf = be16(b);
    int r = wm_soup_header_check(p->side, lf, b[2], p->hold_cap);
    if (r) {
        p->failed = (uint8_t)r;
        return r;
    }
    *total = (uint32_t)lf + 2;
    return 0;
}

static void view(struct wm_soup_packet *pkt, const uint8_t *b, uint32_t total)
{
    pkt->type = b[2];
    pkt->reserved = 0;
    pkt->len = (uint16_t)(total - WM_SOUP_HEADER_LEN);
    pkt->payload = b + WM_SOUP_HEADER_LEN;
}

int wm_soup_parser_next(struct wm_soup_parser *p, struct wm_soup_packet *pkt)
{
    uint32_t total;
    if (p->failed)
        return p->failed;
    size_t left = p->len - p->off;
    if (p->held) {
        /* Complete the split packet: its header first, then the rest. */
        while (p->held < WM_SOUP_HEADER_LEN && left) {
            p->hold[p->held++] = p->buf[p->off++];
            left--;
        }
        if (p->held < WM_SOUP_HEADER_LEN)
            return -EAGAIN;
        int r = header(p, p->hold, &total);
        if (r)
            return r;
        size_t take = total - p->held;
        if (take > left)
            take = left;
        if (take) {
            memcpy(p->hold + p->held, p->buf + p->off, take);
            p->held += (uint32_t)take;
            p->off += take;
        }
        if (p->held < total)
            return -EAGAIN;
        p->held = 0;
        view(pkt, p->hold, total);
        return 0;
    }
    if (left == 0)
        return -EAGAIN;
    const uint8_t *b = p->buf + p->off;
    if (left >= WM_SOUP_HEADER_LEN) {
        int r = header(p, b, &total);
        if (r)
            return r;
        if (left >= total) {
            p->off += total;
            view(pkt, b, total);                /* whole in the chunk: no copy */
            return 0;
        }
    }
    /* A partial packet (header checked if present, so it fits the hold). */
    memcpy(p->hold, b, left);                   /* left > 0 */
    p->held = (uint32_t)left;
    p->off = p->len;
    return -EAGAIN;
}

/* ---- fields ---- */

static int printable(const uint8_t *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

int wm_soup_parse_numeric(const uint8_t *f, unsigned width, uint64_t *out)
{
    unsigned i = 0;
    uint64_t v = 0;
    while (i < width && f[i] == ' ')
        i++;
    unsigned digits = 0;
    for (; i < width && f[i] >= '0' && f[i] <= '9'; i++, digits++) {
        unsigned d = (unsigned)(f[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    while (i < width && f[i] == ' ')
        i++;
    if (!digits || i != width)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Copy of an Alpha field without its padding, left-justified in dst[w]. */
static void canonical(char *dst, const char *s, unsigned w)
{
    unsigned a = 0, b = w;
    while (a < b && s[a] == ' ')
        a++;
    while (b > a && s[b - 1] == ' ')
        b--;
    memset(dst, ' ', w);
    memcpy(dst, s + a, b - a);
}

int wm_soup_alpha_equal(const char *a, unsigned wa, const char *b, unsigned wb)
{
    char ca[32], cb[32];
    unsigned w = wa > wb ? wa : wb;
    if (w > sizeof(ca))
        return 0;
    memset(ca, ' ', w);
    memset(cb, ' ', w);
    canonical(ca, a, wa);
    canonical(cb, b, wb);
    unsigned diff = 0;
    for (unsigned i = 0; i < w; i++)
        diff |= (unsigned)(ca[i] ^ cb[i]);
    return diff == 0;
}

int wm_soup_decode_login(const struct wm_soup_packet *pkt, struct wm_soup_login *out)
{
    if (pkt->type != WM_SOUP_LOGIN_REQUEST ||
        (pkt->len != LEN_LOGIN - 1 && pkt->len != LEN_LOGIN_HB - 1))
        return WM_SOUP_CLOSE_BAD_LENGTH;
    const uint8_t *p = pkt->payload;
    const unsigned alpha = WM_SOUP_USERNAME_LEN + WM_SOUP_PASSWORD_LEN + WM_SOUP_SESSION_LEN;
    if (!printable(p, alpha))
        return WM_SOUP_CLOSE_BAD_LOGIN_FIELD;
    memset(out, 0, sizeof(*out));
    memcpy(out->username, p, WM_SOUP_USERNAME_LEN);
    memcpy(out->password, p + 6, WM_SOUP_PASSWORD_LEN);
    memcpy(out->session, p + 16, WM_SOUP_SESSION_LEN);
    if (wm_soup_parse_numeric(p + alpha, WM_SOUP_SEQ_LEN, &out->seq) != 0)
        return WM_SOUP_CLOSE_BAD_LOGIN_FIELD;
    if (pkt->len == LEN_LOGIN_HB - 1) {
        uint64_t ms;
        if (wm_soup_parse_numeric(p + alpha + WM_SOUP_SEQ_LEN, WM_SOUP_HB_TIMEOUT_LEN, &ms) != 0)
            return WM_SOUP_CLOSE_BAD_LOGIN_FIELD;
        out->hb_timeout_ms = (uint32_t)ms;      /* 5 digits: fits */
    }
    return 0;
}

int wm_soup_decode_login_accepted(const struct wm_soup_packet *pkt, char session[10], uint64_t *seq)
{
    if (pkt->type != WM_SOUP_LOGIN_ACCEPTED || pkt->len != LEN_ACCEPTED - 1)
        return WM_SOUP_CLOSE_BAD_LENGTH;
    if (!printable(pkt->payload, WM_SOUP_SESSION_LEN) ||
        wm_soup_parse_numeric(pkt->payload + WM_SOUP_SESSION_LEN, WM_SOUP_SEQ_LEN, seq) != 0)
        return WM_SOUP_CLOSE_BAD_LOGIN_FIELD;
    memcpy(session, pkt->payload, WM_SOUP_SESSION_LEN);
    return 0;
}

int wm_soup_decode_login_rejected(const struct wm_soup_packet *pkt, uint8_t *code)
{
    if (pkt->type != WM_SOUP_LOGIN_REJECTED || pkt->len != LEN_REJECTED - 1)
        return WM_SOUP_CLOSE_BAD_LENGTH;
    *code = pkt->payload[0];
    return 0;
}

/* ---- encoders ---- */

int wm_soup_write_header(uint8_t *buf, size_t cap, uint8_t type, size_t payload_len)
{
    if (payload_len > WM_SOUP_MAX_PAYLOAD)
        return -EINVAL;
    if (!buf || cap < WM_SOUP_HEADER_LEN)
        return -ENOBUFS;
    uint16_t lf = (uint16_t)(payload_len + 1);
    buf[0] = (uint8_t)(lf >> 8);
    buf[1] = (uint8_t)lf;
    buf[2] = type;
    return WM_SOUP_HEADER_LEN;
}

int wm_soup_write_packet(uint8_t *buf, size_t cap, uint8_t type, const void *payload, size_t len)
{
    switch (type) {
    case WM_SOUP_SEQUENCED:
    case WM_SOUP_UNSEQUENCED:
    case WM_SOUP_DEBUG:
        break;
    case WM_SOUP_SERVER_HEARTBEAT:
    case WM_SOUP_END_OF_SESSION:
    case WM_SOUP_CLIENT_HEARTBEAT:
    case WM_SOUP_LOGOUT_REQUEST:
        if (len)
            return -EINVAL;
        break;
    default:
        return -EINVAL;
    }
    if (len && !payload)
        return -EINVAL;
    if (len > WM_SOUP_MAX_PAYLOAD)
        return -EINVAL;
    if (cap < WM_SOUP_HEADER_LEN + len)
        return -ENOBUFS;
    wm_soup_write_header(buf, cap, type, len);
    if (len)
        memcpy(buf + WM_SOUP_HEADER_LEN, payload, len);
    return (int)(WM_SOUP_HEADER_LEN + len);
}

/* s (NUL-terminated, printable) left-justified in w bytes. */
static int put_alpha(uint8_t *dst, const char *s, unsigned w)
{
    if (!s)
        return -EINVAL;
    size_t n = strnlen(s, w + 1);
    if (n > w || !printable((const uint8_t *)s, (unsigned)n))
        return -EINVAL;
    memset(dst, ' ', w);
    memcpy(dst, s, n);
    return 0;
}

/* v right-justified in w bytes, space padded. */
static int put_numeric(uint8_t *dst, uint64_t v, unsigned w)
{
    char tmp[20];
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (n > w)
        return -EINVAL;
    memset(dst, ' ', w - n);
    for (unsigned i = 0; i < n; i++)
        dst[w - 1 - i] = (uint8_t)tmp[i];
    return 0;
}

int wm_soup_write_login_request(uint8_t *buf, size_t cap, const char *username,
                                const char *password, const char *session, uint64_t seq,
                                uint32_t hb_timeout_ms)
{
    uint32_t total = hb_timeout_ms ? WM_SOUP_LOGIN_REQUEST_HB_LEN : WM_SOUP_LOGIN_REQUEST_LEN;
    uint8_t tmp[WM_SOUP_LOGIN_REQUEST_HB_LEN];
    uint8_t *p = tmp + WM_SOUP_HEADER_LEN;
    if (put_alpha(p, username, WM_SOUP_USERNAME_LEN) || put_alpha(p + 6, password, WM_SOUP_PASSWORD_LEN) ||
        put_alpha(p + 16, session, WM_SOUP_SESSION_LEN) || put_numeric(p + 26, seq, WM_SOUP_SEQ_LEN) ||
        (hb_timeout_ms && put_numeric(p + 46, hb_timeout_ms, WM_SOUP_HB_TIMEOUT_LEN)))
        return -EINVAL;
    if (!buf || cap < total)
        return -ENOBUFS;
    wm_soup_write_header(tmp, sizeof(tmp), WM_SOUP_LOGIN_REQUEST, total - WM_SOUP_HEADER_LEN);
    memcpy(buf, tmp, total);
    return (int)total;
}

int wm_soup_write_login_accepted(uint8_t *buf, size_t cap, const char *session, uint64_t seq)
{
    uint8_t tmp[WM_SOUP_LOGIN_ACCEPTED_LEN];
    if (put_alpha(tmp + 3, session, WM_SOUP_SESSION_LEN) ||
        put_numeric(tmp + 3 + WM_SOUP_SESSION_LEN, seq, WM_SOUP_SEQ_LEN))
        return -EINVAL;
    if (!buf || cap < sizeof(tmp))
        return -ENOBUFS;
    wm_soup_write_header(tmp, sizeof(tmp), WM_SOUP_LOGIN_ACCEPTED, sizeof(tmp) - WM_SOUP_HEADER_LEN);
    memcpy(buf, tmp, sizeof(tmp));
    return (int)sizeof(tmp);
}

int wm_soup_write_login_rejected(uint8_t *buf, size_t cap, uint8_t code)
{
    if (code != WM_SOUP_REJECT_NOT_AUTHORIZED_CODE && code != WM_SOUP_REJECT_SESSION_UNAVAILABLE_CODE)
        return -EINVAL;
    if (!buf || cap < WM_SOUP_LOGIN_REJECTED_LEN)
        return -ENOBUFS;
    wm_soup_write_header(buf, cap, WM_SOUP_LOGIN_REJECTED, 1);
    buf[3] = code;
    return WM_SOUP_LOGIN_REJECTED_LEN;
}
