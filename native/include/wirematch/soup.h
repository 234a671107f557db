/* wirematch/soup.h - SoupBinTCP 3.0 packets: the stream parser, the field
 * decoders, the encoders, and the counters of the SoupBinTCP server.
 *
 * A packet on the TCP stream: Length (2, big-endian: the bytes after it, so
 * the type byte plus the payload), Type (1), payload.  Alpha fields are
 * left-justified and padded with spaces on the right; Numeric fields are
 * ASCII decimal, right-justified and padded with spaces on the left.
 *
 *   From the server                      From the client
 *   'A' Login Accepted   Session(10) Seq(20)    'L' Login Request  Username(6)
 *   'J' Login Rejected   Reject Code(1)             Password(10) Session(10) Seq(20)
 *   'S' Sequenced Data   message                    [Heartbeat Timeout ms(5)]
 *   'H' Server Heartbeat                        'U' Unsequenced Data  message
 *   'Z' End of Session                          'R' Client Heartbeat
 *   '+' Debug            text                   'O' Logout Request
 *                                               '+' Debug  text
 *
 * The Login Request's trailing Heartbeat Timeout (5, Numeric, ms) is the
 * SoupBinTCP 4.x form of the packet (length 52); the 3.0 form (length 47)
 * has none.  The decoder accepts both (the ouch_connect 5.0.1 client sends
 * the 3.0 form; the soupbintcp_model 4.x Rust crates the 4.x one).  Fields
 * are read leniently where peers differ: Alpha fields compare without their
 * padding on either side (ouch_connect right-justifies them), Numeric
 * fields may carry spaces on either side.
 *
 * The parser never copies a packet that lies whole in the chunk it is given
 * (the packet is a view of that chunk); only a packet split across chunks is
 * assembled in the caller's hold buffer.  A malformed stream is a reason
 * (an index of the counters below): the connection must be closed, and the
 * parser keeps returning that reason.  The parser counts nothing itself;
 * closing the connection with the reason counts it (soup_session.h).
 */
#ifndef WIREMATCH_SOUP_H
#define WIREMATCH_SOUP_H

#include "wirematch/common.h"

#ifndef WM_COUNTER_ENUM
#define WM_COUNTER_ENUM(id, name) id,
#define WM_COUNTER_NAME(id, name) name,
#endif

/* Index 0 is "ok": a reason is never 0.  soup_close_* count connections
 * closed for that reason; soup_login_reject_* count Login Rejected sent. */
#define WM_SOUP_COUNTERS(X)                                                    \
    X(WM_SOUP_OK, "ok")                                                        \
    X(WM_SOUP_CONNECTIONS, "soup_connections")                                 \
    X(WM_SOUP_REFUSED_TABLE_FULL, "soup_connections_refused_table_full")       \
    X(WM_SOUP_RX_NO_BUFFERS, "soup_rx_no_buffers")                             \
    X(WM_SOUP_PACKETS_IN, "soup_packets_in")                                   \
    X(WM_SOUP_UNSEQUENCED_IN, "soup_unsequenced_in")                           \
    X(WM_SOUP_CLIENT_HEARTBEATS_IN, "soup_client_heartbeats_in")               \
    X(WM_SOUP_DEBUG_IN, "soup_debug_in")                                       \
    X(WM_SOUP_SEQUENCED_OUT, "soup_sequenced_out")                             \
    X(WM_SOUP_REPLAYED_OUT, "soup_replayed_out")                               \
    X(WM_SOUP_SERVER_HEARTBEATS_OUT, "soup_server_heartbeats_out")             \
    X(WM_SOUP_LOGINS_ACCEPTED, "soup_logins_accepted")                         \
    X(WM_SOUP_LOGINS_SEQ_BEYOND_END, "soup_logins_seq_beyond_end")             \
    X(WM_SOUP_REJECT_NOT_AUTHORIZED, "soup_login_reject_not_authorized")       \
    X(WM_SOUP_REJECT_UNKNOWN_SESSION, "soup_login_reject_unknown_session")     \
    X(WM_SOUP_REJECT_ALREADY_LOGGED_IN, "soup_login_reject_already_logged_in") \
    X(WM_SOUP_REJECT_SEQ_NOT_RETAINED, "soup_login_reject_seq_not_retained")   \
    X(WM_SOUP_REJECT_SESSION_ENDED, "soup_login_reject_session_ended")         \
    /* why a connection was closed */                                          \
    X(WM_SOUP_CLOSE_LOGOUT, "soup_close_logout")                               \
    X(WM_SOUP_CLOSE_PEER_CLOSED, "soup_close_peer_closed")                     \
    X(WM_SOUP_CLOSE_LOGIN_REJECTED, "soup_close_login_rejected")               \
    X(WM_SOUP_CLOSE_LOGIN_TIMEOUT, "soup_close_login_timeout")                 \
    X(WM_SOUP_CLOSE_CLIENT_TIMEOUT, "soup_close_client_timeout")               \
    X(WM_SOUP_CLOSE_END_OF_SESSION, "soup_close_end_of_session")               \
    X(WM_SOUP_CLOSE_OUTPUT_BOUND, "soup_close_output_bound")                   \
    X(WM_SOUP_CLOSE_BAD_LENGTH, "soup_close_bad_length")                       \
    X(WM_SOUP_CLOSE_UNKNOWN_TYPE, "soup_close_unknown_type")                   \
    X(WM_SOUP_CLOSE_OVERSIZED, "soup_close_oversized")                         \
    X(WM_SOUP_CLOSE_BAD_LOGIN_FIELD, "soup_close_bad_login_field")             \
    X(WM_SOUP_CLOSE_DATA_BEFORE_LOGIN, "soup_close_data_before_login")         \
    X(WM_SOUP_CLOSE_LOGIN_WHILE_LOGGED_IN, "soup_close_login_while_logged_in") \
    /* a graceful close whose output the client did not take within the   \
     * client timeout: dropped (the close's reason is counted above) */    \
    X(WM_SOUP_FLUSH_ABANDONED, "soup_close_flush_abandoned")

enum wm_soup_counter { WM_SOUP_COUNTERS(WM_COUNTER_ENUM) WM_SOUP_N_COUNTERS };

/* One block per owner thread (a plain array: one writer). */
struct wm_soup_stats {
    uint64_t counts[WM_SOUP_N_COUNTERS];  /* indexed by enum wm_soup_counter */
};

uint32_t wm_soup_counter_count(void);
/* Name of counter idx, or NULL past the end. */
const char *wm_soup_counter_name(uint32_t idx);
/* All names, in index order (for wm_counters_create). */
const char *const *wm_soup_counter_names(void);

/* Packet types (ASCII). */
enum wm_soup_type {
    WM_SOUP_DEBUG = 0x2b,               /* '+' either side */
    WM_SOUP_LOGIN_ACCEPTED = 0x41,      /* 'A' */
    WM_SOUP_LOGIN_REJECTED = 0x4a,      /* 'J' */
    WM_SOUP_SEQUENCED = 0x53,           /* 'S' */
    WM_SOUP_SERVER_HEARTBEAT = 0x48,    /* 'H' */
    WM_SOUP_END_OF_SESSION = 0x5a,      /* 'Z' */
    WM_SOUP_LOGIN_REQUEST = 0x4c,       /* 'L' */
    WM_SOUP_UNSEQUENCED = 0x55,         /* 'U' */
    WM_SOUP_CLIENT_HEARTBEAT = 0x52,    /* 'R' */
    WM_SOUP_LOGOUT_REQUEST = 0x4f       /* 'O' */
};

/* Login Rejected reason codes. */
enum wm_soup_reject {
    WM_SOUP_REJECT_NOT_AUTHORIZED_CODE = 0x41,      /* 'A' bad username/password */
    WM_SOUP_REJECT_SESSION_UNAVAILABLE_CODE = 0x53  /* 'S' session not available */
};

enum {
    WM_SOUP_HEADER_LEN = 3,             /* length (2) + type (1) */
    WM_SOUP_USERNAME_LEN = 6,
    WM_SOUP_PASSWORD_LEN = 10,
    WM_SOUP_SESSION_LEN = 10,
    WM_SOUP_SEQ_LEN = 20,
    WM_SOUP_HB_TIMEOUT_LEN = 5,
    WM_SOUP_LOGIN_REQUEST_LEN = 49,     /* whole packet, 3.0 form (length field 47) */
    WM_SOUP_LOGIN_REQUEST_HB_LEN = 54,  /* whole packet, 4.x form (length field 52) */
    WM_SOUP_LOGIN_ACCEPTED_LEN = 33,    /* whole packet (length field 31) */
    WM_SOUP_LOGIN_REJECTED_LEN = 4,     /* whole packet (length field 2) */
    WM_SOUP_MAX_PAYLOAD = 65534,        /* the length field counts the type byte */
    WM_SOUP_MIN_HOLD = 64               /* smallest parser hold buffer */
};

/* Which side's packets a parser accepts. */
enum wm_soup_side {
    WM_SOUP_FROM_CLIENT = 1,            /* a server's parser: L U R O + */
    WM_SOUP_FROM_SERVER = 2             /* a client's parser: A J S H Z + */
};

/* A packet: its type and payload (the bytes after the type).  A view of the
 * chunk given to wm_soup_parser_feed, or of the parser's hold buffer; valid
 * until the next wm_soup_parser_next or wm_soup_parser_feed call. */
struct wm_soup_packet {
    uint8_t type;
    uint8_t reserved;
    uint16_t len;                       /* payload bytes */
    const uint8_t *payload;
};

/* ---- Stream parser ----------------------------------------------------
 * Feed each received chunk, then call wm_soup_parser_next until it returns
 * -EAGAIN (the chunk is used up; a trailing partial packet is kept in the
 * hold buffer, so the chunk's memory may be reused).  The largest packet
 * accepted is hold_cap bytes including the length field: a longer length is
 * soup_close_oversized, known as soon as its 3-byte header has arrived. */
struct wm_soup_parser {
    const uint8_t *buf;                 /* current chunk */
    size_t len;
    size_t off;                         /* next unread byte of the chunk */
    uint8_t *hold;                      /* caller memory, hold_cap bytes */
    uint32_t hold_cap;
    uint32_t held;                      /* bytes of a split packet in hold */
    uint8_t side;                       /* enum wm_soup_side */
    uint8_t failed;                     /* the reason, once the stream is broken */
    uint16_t reserved;
};

/* 0, or -EINVAL (NULL, bad side, hold_cap below WM_SOUP_MIN_HOLD). */
int wm_soup_parser_init(struct wm_soup_parser *p, int side, uint8_t *hold, uint32_t hold_cap);
/* Make buf[0..len) the current chunk (the previous one must be used up). */
void wm_soup_parser_feed(struct wm_soup_parser *p, const uint8_t *buf, size_t len);
/* 0: a packet in *pkt.  -EAGAIN: no whole packet left in the chunk.
 * > 0: the stream is broken for that reason (soup_close_bad_length,
 * soup_close_unknown_type, soup_close_oversized), every call after too. */
int wm_soup_parser_next(struct wm_soup_parser *p, struct wm_soup_packet *pkt);

/* Reason for a packet header (length field, type) from `side`, or 0.
 * Exposed for the parser's tests and fuzzer. */
int wm_soup_header_check(int side, uint16_t length_field, uint8_t type, uint32_t max_packet);

/* ---- Field decoders -------------------------------------------------- */

/* A Login Request: the Alpha fields as on the wire. */
struct wm_soup_login {
    char username[WM_SOUP_USERNAME_LEN];
    char password[WM_SOUP_PASSWORD_LEN];
    char session[WM_SOUP_SESSION_LEN];  /* all spaces: the current session */
    uint16_t reserved;
    uint64_t seq;                       /* requested next sequence number, 0: from now */
    uint32_t hb_timeout_ms;             /* 4.x form; 0 in the 3.0 form */
    uint32_t reserved2;
};

/* 0, or soup_close_bad_login_field (a field not printable ASCII, a Numeric
 * field without digits, with other characters, or above UINT64_MAX), or
 * soup_close_bad_length (not a Login Request of either length). */
int wm_soup_decode_login(const struct wm_soup_packet *pkt, struct wm_soup_login *out);
/* Login Accepted: session (10 bytes as on the wire) and next sequence
 * number.  0 or a reason, as above. */
int wm_soup_decode_login_accepted(const struct wm_soup_packet *pkt, char session[10], uint64_t *seq);
/* Login Rejected: its code ('A', 'S', or another byte as sent).  0 or
 * soup_close_bad_length. */
int wm_soup_decode_login_rejected(const struct wm_soup_packet *pkt, uint8_t *code);

/* A Numeric field: spaces, at least one digit, spaces.  0 or -EINVAL. */
int wm_soup_parse_numeric(const uint8_t *field, unsigned width, uint64_t *out);
/* Alpha fields equal once the padding spaces on both sides are dropped
 * (the comparison looks at every byte of both fields). */
int wm_soup_alpha_equal(const char *a, unsigned wa, const char *b, unsigned wb);

/* ---- Encoders ---------------------------------------------------------
 * Each writes one whole packet at buf and returns its length in bytes, or
 * -ENOBUFS (cap too small; nothing promised about buf) or -EINVAL (a field
 * that does not fit: a string longer than its width, a number wider than
 * its field, a payload above WM_SOUP_MAX_PAYLOAD, a type with a fixed
 * layout given to wm_soup_write_packet).  String arguments are NUL-
 * terminated and written left-justified, space padded. */

/* Length + type for a packet whose payload_len bytes the caller writes at
 * buf + WM_SOUP_HEADER_LEN.  Returns WM_SOUP_HEADER_LEN. */
int wm_soup_write_header(uint8_t *buf, size_t cap, uint8_t type, size_t payload_len);
/* 'S' 'U' '+' with a payload, 'H' 'Z' 'R' 'O' with none (len 0). */
int wm_soup_write_packet(uint8_t *buf, size_t cap, uint8_t type, const void *payload, size_t len);
/* hb_timeout_ms 0: the 3.0 form; 1..99999: the 4.x form with the field. */
int wm_soup_write_login_request(uint8_t *buf, size_t cap, const char *username,
                                const char *password, const char *session, uint64_t seq,
                                uint32_t hb_timeout_ms);
int wm_soup_write_login_accepted(uint8_t *buf, size_t cap, const char *session, uint64_t seq);
/* code 'A' or 'S'. */
int wm_soup_write_login_rejected(uint8_t *buf, size_t cap, uint8_t code);

#endif
