/* wirematch/mold.h - MoldUDP64 framing, the codecs' drop reasons, the
 * per-client-session sequence tracker and the outbound packet builder.
 *
 * MoldUDP64 (Nasdaq) downstream packet, all integers big-endian:
 *   Session (10, ASCII)  Sequence Number (8, of the first message)
 *   Message Count (2)    then Count message blocks: Length (2) + Length bytes
 * Count 0 is a heartbeat, 0xFFFF the end of session (no blocks follow).
 *
 * Decoding never copies the payload: a decoded packet is a view of the
 * caller's buffer.  Every malformed input is a drop with a reason: the
 * decoders return 0 for valid input or a reason (> 0, an index of the codec
 * counters below) which they have also counted in the caller's stats block.
 *
 * The codec counters (WM_CODEC_COUNTERS) are shared by mold, ouch and itch:
 * one block per thread (struct wm_codec_stats, a plain array: one writer),
 * names from wm_codec_counter_name(), so a stage can mirror them into a
 * shared-memory counters block.
 */
#ifndef WIREMATCH_MOLD_H
#define WIREMATCH_MOLD_H

#include "wirematch/common.h"

#ifndef WM_COUNTER_ENUM
#define WM_COUNTER_ENUM(id, name) id,
#define WM_COUNTER_NAME(id, name) name,
#endif

/* Index 0 is "ok": a reason is never 0.  Counters after WM_CODEC_OK are
 * drop reasons unless their name says otherwise (no drop_ prefix). */
#define WM_CODEC_COUNTERS(X)                                                   \
    X(WM_CODEC_OK, "ok")                                                       \
    /* MoldUDP64 framing */                                                    \
    X(WM_MOLD_PACKETS, "mold_packets")                                         \
    X(WM_MOLD_HEARTBEATS, "mold_heartbeats")                                   \
    X(WM_MOLD_END_OF_SESSION, "mold_end_of_session")                           \
    X(WM_MOLD_DROP_SHORT_HEADER, "mold_drop_short_header")                     \
    X(WM_MOLD_DROP_BAD_SESSION, "mold_drop_bad_session")                       \
    X(WM_MOLD_DROP_TRUNCATED_LENGTH, "mold_drop_truncated_length")             \
    X(WM_MOLD_DROP_TRUNCATED_BLOCK, "mold_drop_truncated_block")               \
    X(WM_MOLD_DROP_EMPTY_BLOCK, "mold_drop_empty_block")                       \
    X(WM_MOLD_DROP_TRAILING_BYTES, "mold_drop_count_below_blocks")             \
    X(WM_MOLD_DROP_EOS_WITH_BLOCKS, "mold_drop_end_of_session_with_blocks")    \
    X(WM_MOLD_DROP_SEQ_OVERFLOW, "mold_drop_sequence_overflow")                \
    X(WM_MOLD_REQUESTS_ANSWERED, "mold_requests_answered")                     \
    X(WM_MOLD_DROP_BAD_REQUEST, "mold_drop_bad_request")                       \
    X(WM_MOLD_DROP_REQUEST_OTHER_SESSION, "mold_drop_request_other_session")   \
    X(WM_MOLD_DROP_REQUEST_TOO_OLD, "mold_drop_request_too_old")               \
    X(WM_MOLD_DROP_REQUEST_FUTURE, "mold_drop_request_not_yet_sent")           \
    /* OUCH 5.0 */                                                             \
    X(WM_OUCH_MESSAGES, "ouch_messages")                                       \
    X(WM_OUCH_DROP_UNKNOWN_TYPE, "ouch_drop_unknown_type")                     \
    X(WM_OUCH_DROP_TRUNCATED, "ouch_drop_truncated")                           \
    X(WM_OUCH_DROP_LENGTH_MISMATCH, "ouch_drop_length_mismatch")               \
    X(WM_OUCH_DROP_APPENDAGE_TRUNCATED, "ouch_drop_appendage_truncated")       \
    X(WM_OUCH_DROP_APPENDAGE_UNKNOWN_TAG, "ouch_drop_appendage_unknown_tag")   \
    X(WM_OUCH_DROP_APPENDAGE_BAD_LENGTH, "ouch_drop_appendage_bad_length")     \
    X(WM_OUCH_DROP_APPENDAGE_DUPLICATE_TAG, "ouch_drop_appendage_duplicate_tag") \
    X(WM_OUCH_DROP_APPENDAGE_TAG_NOT_ALLOWED, "ouch_drop_appendage_tag_not_allowed") \
    X(WM_OUCH_DROP_BAD_SIDE, "ouch_drop_bad_side")                             \
    X(WM_OUCH_DROP_BAD_TIF, "ouch_drop_bad_time_in_force")                     \
    X(WM_OUCH_DROP_BAD_DISPLAY, "ouch_drop_bad_display")                       \
    X(WM_OUCH_DROP_BAD_CAPACITY, "ouch_drop_bad_capacity")                     \
    X(WM_OUCH_DROP_BAD_ISO, "ouch_drop_bad_intermarket_sweep")                 \
    X(WM_OUCH_DROP_BAD_CROSS_TYPE, "ouch_drop_bad_cross_type")                 \
    X(WM_OUCH_DROP_BAD_SYMBOL, "ouch_drop_bad_symbol")                         \
    X(WM_OUCH_DROP_BAD_TEXT, "ouch_drop_bad_alpha_field")                      \
    X(WM_OUCH_DROP_BAD_PRICE, "ouch_drop_bad_price")                           \
    X(WM_OUCH_DROP_BAD_QUANTITY, "ouch_drop_bad_quantity")                     \
    X(WM_OUCH_DROP_BAD_USER_REF, "ouch_drop_bad_user_ref_num")                 \
    X(WM_OUCH_DROP_BAD_PRICE_TYPE, "ouch_drop_bad_price_type")                 \
    X(WM_OUCH_DROP_BAD_YES_NO, "ouch_drop_bad_flag")                           \
    X(WM_OUCH_DROP_BAD_MIN_QTY, "ouch_drop_bad_min_qty")                       \
    X(WM_OUCH_DROP_BAD_MAX_FLOOR, "ouch_drop_bad_max_floor")                   \
    X(WM_OUCH_DROP_BAD_TIMESTAMP, "ouch_drop_bad_timestamp")                   \
    X(WM_OUCH_DROP_BAD_CODE, "ouch_drop_bad_code")                             \
    /* TotalView-ITCH 5.0 */                                                   \
    X(WM_ITCH_MESSAGES, "itch_messages")                                       \
    X(WM_ITCH_DROP_UNKNOWN_TYPE, "itch_drop_unknown_type")                     \
    X(WM_ITCH_DROP_LENGTH_MISMATCH, "itch_drop_length_mismatch")               \
    X(WM_ITCH_DROP_BAD_TIMESTAMP, "itch_drop_bad_timestamp")                   \
    X(WM_ITCH_DROP_BAD_SIDE, "itch_drop_bad_side")                             \
    X(WM_ITCH_DROP_BAD_SYMBOL, "itch_drop_bad_symbol")                         \
    X(WM_ITCH_DROP_BAD_PRICE, "itch_drop_bad_price")                           \
    X(WM_ITCH_DROP_BAD_QUANTITY, "itch_drop_bad_quantity")                     \
    X(WM_ITCH_DROP_BAD_ORDER_REF, "itch_drop_bad_order_ref")                   \
    X(WM_ITCH_DROP_BAD_CODE, "itch_drop_bad_code")                             \
    X(WM_ITCH_DROP_BAD_TEXT, "itch_drop_bad_alpha_field")

enum wm_codec_counter { WM_CODEC_COUNTERS(WM_COUNTER_ENUM) WM_CODEC_N_COUNTERS };

struct wm_codec_stats {
    uint64_t counts[WM_CODEC_N_COUNTERS];  /* indexed by enum wm_codec_counter */
};

uint32_t wm_codec_counter_count(void);
/* Name of counter idx, or NULL past the end. */
const char *wm_codec_counter_name(uint32_t idx);
/* All names, in index order (for wm_counters_create). */
const char *const *wm_codec_counter_names(void);

/* ---- MoldUDP64 packets ---------------------------------------------- */

enum {
    WM_MOLD_HEADER_LEN = 20,
    WM_MOLD_SESSION_LEN = 10,
    WM_MOLD_HEARTBEAT = 0,
    WM_MOLD_END_OF_SESSION_COUNT = 0xffff,
    WM_MOLD_MAX_COUNT = 0xfffe,         /* most message blocks in a packet */
    WM_MOLD_MTU_PAYLOAD = 1472          /* UDP payload in a 1500-byte Ethernet MTU */
};

/* A decoded packet: a view of the caller's buffer (valid while it is). */
struct wm_mold_packet {
    const uint8_t *session;     /* WM_MOLD_SESSION_LEN bytes */
    uint64_t seq;               /* sequence number of the first message */
    uint16_t count;             /* message count (0 heartbeat, 0xffff end) */
    uint16_t next_index;        /* iteration: index of the next block */
    uint32_t next_off;          /* iteration: offset of the next block's length */
    const uint8_t *data;        /* the whole packet */
    uint32_t len;               /* bytes in the packet */
};

/* Validate the header and every block (lengths, count agreement).
 * Returns 0 (the packet is usable, wm_mold_next_block cannot fail on it) or
 * a drop reason, counted in st (st may be NULL). */
int wm_mold_decode(const uint8_t *buf, size_t len, struct wm_mold_packet *pkt,
                   struct wm_codec_stats *st);

/* Next message of a decoded packet: returns its first byte and sets *len,
 * or NULL after the last one. */
const uint8_t *wm_mold_next_block(struct wm_mold_packet *pkt, uint16_t *len);

/* Write a header (session padded with spaces, or truncated, to 10 bytes).
 * Returns WM_MOLD_HEADER_LEN or -ENOBUFS. */
int wm_mold_write_header(uint8_t *buf, size_t cap, const char *session, uint64_t seq,
                         uint16_t count);

/* ---- Outbound packet builder ----------------------------------------
 * Appends length-prefixed messages to one packet until the next would not
 * fit in cap bytes (the MTU payload), numbering them from the stream's next
 * sequence number.  wm_mold_builder_flush finalises the packet (count), and
 * advances the stream sequence; the caller sends data[0..len). */
struct wm_mold_builder {
    uint8_t *buf;               /* caller memory, cap bytes */
    uint32_t cap;
    uint32_t len;               /* bytes in the open packet (0 = none open) */
    uint16_t count;             /* messages in the open packet */
    uint16_t reserved_len;      /* length of the last reserved message */
    uint64_t next_seq;          /* sequence number of the next message */
    char session[WM_MOLD_SESSION_LEN];
    uint64_t packets;           /* packets flushed */
    uint64_t messages;          /* messages flushed */
    uint64_t full;              /* appends refused because the packet was full */
};

/* session: up to 10 ASCII characters; first_seq >= 1; cap in
 * [WM_MOLD_HEADER_LEN + 3, 65535].  Returns 0 or -EINVAL. */
int wm_mold_builder_init(struct wm_mold_builder *b, const char *session, uint64_t first_seq,
                         uint8_t *buf, uint32_t cap);
/* Room for a message of msg_len bytes in the open packet (opening one if
 * needed): returns where to write it, or NULL with *err = -ENOBUFS (packet
 * full: flush and retry) or -EMSGSIZE (can never fit) / -EINVAL (0 bytes). */
uint8_t *wm_mold_builder_reserve(struct wm_mold_builder *b, uint32_t msg_len, int *err);
/* Shrink the last reservation to the bytes actually written (<= reserved). */
void wm_mold_builder_commit(struct wm_mold_builder *b, uint32_t written);
/* Finish the open packet: returns its length (0 if no packet is open). */
uint32_t wm_mold_builder_flush(struct wm_mold_builder *b);
/* A heartbeat packet (count 0, next sequence) into buf: returns 20 or -ENOBUFS. */
int wm_mold_builder_heartbeat(const struct wm_mold_builder *b, uint8_t *buf, size_t cap);

/* ---- Retransmission: a bounded history of sent messages --------------
 * A stream (the market-data feed, or one client session's replies) records
 * every message it sends; a MoldUDP64 request packet (the 20-byte header
 * alone: session, first sequence number wanted, how many) is answered with
 * a packet carrying as many of those messages as fit, from the history.
 * The history keeps at most max_msgs messages and `bytes` bytes of them,
 * forgetting the oldest first; memory is laid out once, up front. */
struct wm_mold_history_entry {
    uint64_t seq;               /* 0 = empty */
    uint32_t off;               /* in the byte ring */
    uint16_t len;
    uint16_t pad;
};

struct wm_mold_history {
    uint64_t magic;
    uint32_t max_msgs;          /* entries (a power of two) */
    uint32_t bytes;             /* size of the byte ring */
    uint64_t first_seq;         /* oldest message still held (0 = none) */
    uint64_t next_seq;          /* the next message to record */
    uint32_t head;              /* where the next message's bytes go */
    uint32_t pad;
    uint64_t recorded;          /* messages recorded */
    uint64_t evicted;           /* messages forgotten to make room */
    uint64_t entries_offset;    /* from the struct: max_msgs entries */
    uint64_t data_offset;       /* from the struct: the byte ring */
};

/* Bytes for a history of max_msgs (rounded up to a power of two, 2..2^24)
 * messages and `bytes` bytes (>= 65535 + 2, so any one message fits); 0 if
 * invalid. */
size_t wm_mold_history_memsize(uint32_t max_msgs, uint32_t bytes);
/* first_seq: the number of the first message that will be recorded. */
int wm_mold_history_init(void *mem, size_t memsize, uint32_t max_msgs, uint32_t bytes,
                         uint64_t first_seq);
int wm_mold_history_create(uint32_t max_msgs, uint32_t bytes, uint64_t first_seq,
                           struct wm_mold_history **out);
void wm_mold_history_destroy(struct wm_mold_history *h);
/* Record message seq (must be the next one): 0, or -EINVAL (out of order,
 * empty or over 65535 bytes). */
int wm_mold_history_record(struct wm_mold_history *h, uint64_t seq, const uint8_t *msg,
                           uint16_t len);
/* Message seq if the history holds it (*len set), else NULL. */
const uint8_t *wm_mold_history_get(const struct wm_mold_history *h, uint64_t seq, uint16_t *len);
/* Record every message of a packet the stream has just sent (as flushed by
 * a wm_mold_builder).  Returns the number recorded or -EINVAL. */
int wm_mold_history_record_packet(struct wm_mold_history *h, const uint8_t *pkt, size_t len);
/* Answer a request packet for stream `session` into out (cap bytes, at
 * least 20 + 2 + the largest message): returns the response length, or
 * -EBADMSG (not a 20-byte request with a count of 1..0xfffe), -EACCES
 * (another session), -ENOENT (the first message asked for is no longer
 * held), -ERANGE (not sent yet), -ENOBUFS (cap too small); every outcome
 * is counted in st. */
int wm_mold_history_answer(const struct wm_mold_history *h, const char *session,
                           const uint8_t *req, size_t req_len, uint8_t *out, size_t cap,
                           struct wm_codec_stats *st);

/* ---- Inbound sequence tracking (per client session) ------------------
 * One entry per (flow key, session name): the next expected sequence
 * number.  A fixed-capacity open-addressed table laid out up front; the
 * data-plane thread that owns it is its only writer.
 *
 * On each valid packet wm_mold_seq_check says which of its messages to
 * apply: a packet wholly below the expected number is a duplicate (counted,
 * nothing applied); one straddling it has its already-seen head skipped; one
 * above it is a gap: reported (first missing number and how many), and by
 * default (WM_MOLD_SEQ_GAP_DROP) not applied, so the client must resend from
 * the gap and no message is ever applied twice or out of order.  With
 * WM_MOLD_SEQ_GAP_ACCEPT the packet is applied and the missing numbers are
 * given up (they will count as duplicates if they arrive later). */

enum wm_mold_seq_flags {
    WM_MOLD_SEQ_GAP_DROP = 0,
    WM_MOLD_SEQ_GAP_ACCEPT = 1
};

enum wm_mold_seq_status {
    WM_MOLD_SEQ_IN_ORDER = 0,   /* all messages new: apply them */
    WM_MOLD_SEQ_DUPLICATE = 1,  /* all seen before: apply none */
    WM_MOLD_SEQ_OVERLAP = 2,    /* the first `skip` seen before: apply the rest */
    WM_MOLD_SEQ_GAP = 3,        /* messages missing before this packet */
    WM_MOLD_SEQ_TABLE_FULL = 4, /* new session but no room: apply none */
    WM_MOLD_SEQ_ENDED = 5       /* the session has ended: apply none */
};

#define WM_MOLD_SEQ_COUNTERS(X)                                                \
    X(WM_SEQ_PACKETS, "seq_packets")                                           \
    X(WM_SEQ_MESSAGES_APPLIED, "seq_messages_applied")                         \
    X(WM_SEQ_NEW_SESSIONS, "seq_new_sessions")                                 \
    X(WM_SEQ_DUPLICATE_PACKETS, "seq_duplicate_packets")                       \
    X(WM_SEQ_DUPLICATE_MESSAGES, "seq_duplicate_messages")                     \
    X(WM_SEQ_OVERLAP_PACKETS, "seq_overlap_packets")                           \
    X(WM_SEQ_GAPS, "seq_gaps")                                                 \
    X(WM_SEQ_GAP_MESSAGES, "seq_gap_messages_missing")                         \
    X(WM_SEQ_GAP_DROPPED_MESSAGES, "seq_drop_after_gap_messages")              \
    X(WM_SEQ_TABLE_FULL, "seq_drop_table_full")                                \
    X(WM_SEQ_AFTER_END, "seq_drop_after_end_of_session")                       \
    X(WM_SEQ_ENDED_SESSIONS, "seq_ended_sessions")

enum wm_mold_seq_counter { WM_MOLD_SEQ_COUNTERS(WM_COUNTER_ENUM) WM_MOLD_SEQ_N_COUNTERS };

struct wm_mold_seq_result {
    uint32_t status;            /* enum wm_mold_seq_status */
    uint16_t skip;              /* leading messages to skip */
    uint16_t apply;             /* messages to apply after the skipped ones */
    uint64_t expected;          /* the expected sequence number before this packet */
    uint64_t gap_first;         /* WM_MOLD_SEQ_GAP: first missing sequence number */
    uint64_t gap_count;         /* WM_MOLD_SEQ_GAP: how many are missing */
    int32_t  entry;             /* index of the session's entry, or -1 */
};

struct wm_mold_seq_entry {
    uint64_t flow_key;
    uint64_t next_seq;          /* 0 = free slot */
    uint64_t packets;
    uint64_t duplicates;        /* duplicate messages */
    uint64_t gaps;
    uint8_t  session[WM_MOLD_SESSION_LEN];
    uint8_t  ended;
    uint8_t  pad[5];
};

struct wm_mold_seq_table {
    uint64_t magic;
    uint32_t capacity;          /* slots, a power of two (twice the sessions asked for) */
    uint32_t max_sessions;
    uint32_t used;
    uint32_t flags;             /* enum wm_mold_seq_flags */
    uint64_t counts[WM_MOLD_SEQ_N_COUNTERS];
    struct wm_mold_seq_entry entries[];
};

/* Bytes for a table of max_sessions sessions (1 .. 2^24), or 0. */
size_t wm_mold_seq_memsize(uint32_t max_sessions);
int wm_mold_seq_init(void *mem, size_t memsize, uint32_t max_sessions, uint32_t flags);
int wm_mold_seq_create(uint32_t max_sessions, uint32_t flags, struct wm_mold_seq_table **out);
void wm_mold_seq_destroy(struct wm_mold_seq_table *t);
/* Classify a decoded packet from flow_key (e.g. the client's address/port).
 * Returns the number of messages to apply (res->apply) and fills res. */
int wm_mold_seq_check(struct wm_mold_seq_table *t, uint64_t flow_key,
                      const struct wm_mold_packet *pkt, struct wm_mold_seq_result *res);
/* Next expected sequence number of a session, or 0 if unknown. */
uint64_t wm_mold_seq_expected(const struct wm_mold_seq_table *t, uint64_t flow_key,
                              const uint8_t *session);
const char *wm_mold_seq_counter_name(uint32_t idx);
uint32_t wm_mold_seq_counter_count(void);

#endif
