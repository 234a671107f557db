/* wirematch/app.h - the appliance's data plane: stages, their rings and the
 * worker threads that run them.
 *
 *   NIC queue q --rx stage q--> in.s<shard> --engine stage s--> tx.q<q> --tx stage q--> NIC queue q
 *                    |  (parse, flow, rate,       (gateway + matcher +      (frames, send)
 *                    |   Mold seq, OUCH check)      ITCH/OUCH publishing)
 *                    +--> slowpath (unknown flows, to Python's classifier; their
 *                         packets are held until the flow is decided, then taken)
 *   Python --ctl.s<shard>--> engine (halt, resume, cancel-all, book, status)
 *
 * A worker thread runs any set of stages in one loop (run to completion
 * when one thread has them all: the 2-core layout).  The rx and tx stages of
 * a queue always share a thread (a NIC queue has one owner).  Nothing on
 * the per-packet path allocates, locks or makes a system call other than
 * the backend's own receive/send.
 *
 * Every stage counts what it did and dropped, by reason, in counters blocks
 * of the shared region named rx.q<N>, codec.q<N>, slowpath.q<N>, tx.q<N>,
 * engine.s<N>, gateway.s<N>, matcher.s<N>; histograms rx.q<N>.batch,
 * engine.s<N>.batch, engine.s<N>.rx_to_match_ns, tx.q<N>.rx_to_reply_ns.
 * docs/appliance.md has the names and what they mean.
 *
 * Nothing accepted is lost: a full ring makes its producer stop receiving
 * (the backend's own buffers and drop counters take the overflow), and a
 * stop drains every ring from rx to tx before the threads exit.
 */
#ifndef WIREMATCH_APP_H
#define WIREMATCH_APP_H

#include "wirematch/common.h"
#include "wirematch/counters.h"
#include "wirematch/matcher.h"
#include "wirematch/worker.h"

enum {
    WM_APP_MAX_QUEUES = 16,
    WM_APP_MAX_SHARDS = 4,
    WM_APP_MAX_WORKERS = 16,
    WM_APP_MAX_SESSIONS = 256,         /* client sessions per shard (gateway table) */
    WM_APP_MSG_MAX = 160,              /* bytes of one OUCH message carried to the engine:
                                          every legal one (WM_OUCH_MAX_IN_MESSAGE) */
    WM_APP_BOOK_MAX = 256,             /* levels / orders per side in a book answer */
    WM_APP_HOLD_PKTS = 256,            /* packets an rx stage holds for undecided flows */
    WM_APP_HOLD_MS = 1000              /* longest a held packet waits for its flow's decision */
};

/* Control requests (wm_app_control op). */
enum wm_app_ctl_op {
    WM_APP_CTL_HALT = 1,               /* instrument */
    WM_APP_CTL_RESUME = 2,             /* instrument */
    WM_APP_CTL_CANCEL_ALL = 3,         /* session (every instrument) */
    WM_APP_CTL_BOOK = 4,               /* instrument: L2 and L3 into the answer */
    WM_APP_CTL_STATUS = 5              /* matcher hash, sequence, live orders */
};

/* What a control request did, written by the engine thread. */
struct wm_app_ctl_answer {
    uint64_t id;                       /* the request's id */
    int32_t  rc;                       /* 0 or -errno */
    uint32_t n_bids;                   /* BOOK: levels, then orders */
    uint32_t n_asks;
    uint32_t n_bid_orders;
    uint32_t n_ask_orders;
    uint32_t state;                    /* BOOK, HALT, RESUME: trading state afterwards */
    uint64_t value;                    /* HALT, RESUME, CANCEL_ALL: events emitted; STATUS:
                                          live orders; BOOK: the instrument's live orders */
    uint64_t hash;                     /* STATUS: matcher event hash */
    uint64_t seq;                      /* STATUS: last event sequence number */
    uint64_t cancelled;                /* CANCEL_ALL: orders cancelled */
    struct wm_level_info bids[WM_APP_BOOK_MAX];
    struct wm_level_info asks[WM_APP_BOOK_MAX];
    struct wm_order_info bid_orders[WM_APP_BOOK_MAX];
    struct wm_order_info ask_orders[WM_APP_BOOK_MAX];
};

struct wm_shm;
struct wm_clock;
struct wm_flow_table;
struct wm_rate_table;
struct wm_nic_queue;
struct wm_matcher;
struct wm_app;

struct wm_app_config {
    uint32_t size;                     /* sizeof(struct wm_app_config) */
    uint32_t n_queues;                 /* 1..WM_APP_MAX_QUEUES */
    uint32_t n_shards;                 /* 1..WM_APP_MAX_SHARDS */
    uint32_t burst;                    /* packets per rx burst, commands per engine burst (0 = 32) */
    uint32_t in_ring;                  /* slots of each in.s<N> ring (power of two; 0 = 16384) */
    uint32_t tx_buffers;               /* datagram buffers per shard (power of two; 0 = 4096) */
    uint32_t slowpath_ring;            /* slots of the slowpath ring (0 = 4096) */
    uint32_t max_new_flows_per_sec;    /* slow-path admission per rx queue (0 = no limit) */
    uint32_t local_addr;               /* our IPv4 (host order): frames' source, L2 check */
    uint16_t local_port;               /* our UDP port (host order) */
    uint16_t md_port;                  /* market-data destination port (host order) */
    uint32_t md_addr;                  /* market-data destination IPv4 (host order) */
    uint16_t md_queue;                 /* queue market data leaves by */
    uint8_t  local_mac[6];             /* L2 backends: our MAC */
    uint8_t  md_mac[6];                /* L2 backends: market data's destination MAC */
    uint8_t  ttl;                      /* L2 backends: IP TTL of what we send (0 = 64) */
    uint8_t  gap_accept;               /* 1: after a MoldUDP64 gap apply what arrives (the
                                          missing messages are given up); 0: drop until
                                          the client resends from the gap */
    uint8_t  reserved[2];
    int64_t  ts_offset_ns;             /* realtime ns since midnight = clock ns + this */
    uint32_t max_orders;               /* live orders per shard (the gateway's order table;
                                          0 = the gateway's default) */
    uint32_t rx_backlog;               /* an rx stage receives only while each shard's in
                                          ring holds fewer records than this, so its
                                          engine runs before more packets are parsed
                                          (0 = until the ring is full) */
    struct wm_shm *shm;                /* the region the stages' objects go in */
    struct wm_flow_table *flows;
    struct wm_rate_table *rates;       /* buckets named by flow decisions (may be NULL) */
    const struct wm_clock *clock;      /* NULL = the default clock */
};

/* Create the stages and their objects in cfg->shm.  0, -EINVAL (bad
 * config, with a sentence in wm_app_last_error), -ENOMEM / -ENOSPC (region
 * full) or -EEXIST (objects already in the region). */
int wm_app_create(const struct wm_app_config *cfg, struct wm_app **out);
/* Stop (if running) and free.  The queues, matchers, tables stay the caller's. */
void wm_app_destroy(struct wm_app *app);
const char *wm_app_last_error(void);

/* Before start: the NIC queue of rx/tx stage q, the matcher of shard s, and
 * the instruments (gateway table of the shard: symbol, matcher instrument id,
 * ITCH stock locate, tick in Price(4) units). */
int wm_app_set_queue(struct wm_app *app, uint32_t q, struct wm_nic_queue *nq);
int wm_app_set_matcher(struct wm_app *app, uint32_t shard, struct wm_matcher *m);
int wm_app_add_instrument(struct wm_app *app, uint32_t shard, const char *symbol,
                          uint16_t instrument, uint16_t stock_locate, int64_t tick);

/* Start a worker thread running rx+tx of the queues in queue_mask and the
 * engines of the shards in shard_mask; returns its index (>= 0) and its
 * Linux thread id in *tid, or -errno (-EINVAL: a stage given to two workers
 * or none, missing queue/matcher).  Every stage must belong to one worker
 * before wm_app_run says yes. */
int wm_app_start_worker(struct wm_app *app, uint32_t queue_mask, uint32_t shard_mask,
                        const struct wm_idle_policy *idle, int *tid);

/* Clean stop: rx stages read until their queue is quiet (at most
 * quiet_us), then engines drain their rings, then tx stages send what is
 * left; the threads exit.  Returns 0, or -ETIMEDOUT when timeout_ms passed
 * first (the threads are still stopped; what was left is counted). */
int wm_app_stop(struct wm_app *app, uint32_t quiet_us, uint32_t timeout_ms);
/* 1 while workers run. */
int wm_app_running(const struct wm_app *app);

/* Control path (any thread, serialised by the caller): send a request to
 * shard's engine and wait for its answer (timeout_ms).  arg: instrument
 * (HALT, RESUME, BOOK) or session (CANCEL_ALL).  0 and *answer filled, or
 * -ETIMEDOUT, -EAGAIN (control ring full), -EINVAL. */
int wm_app_control(struct wm_app *app, uint32_t shard, uint32_t op, uint32_t arg,
                   uint32_t timeout_ms, struct wm_app_ctl_answer *answer);

/* The counter blocks an appliance's region holds, from the tables the stages
 * count with: block i (0, 1, ... until -ENOENT) is stage *stage, one block
 * per NIC queue (*kind 'q': <stage>.q<N>), per engine shard ('s':
 * <stage>.s<N>) or per worker thread ('w': worker.w<N>).  The `nic` blocks
 * are the caller's (made with wm_nic_counter_names and given to the queues);
 * wm_app_start_worker makes the worker blocks, wm_app_create the others. */
int wm_app_counter_block(uint32_t i, const char **stage, char *kind);
/* Name of counter idx of a block of `stage`: NULL past the last one or for a
 * stage the appliance has no block of. */
const char *wm_app_counter_name(const char *stage, uint32_t idx);

/* Parse an Ethernet frame (optional 802.1Q tag) down to its UDP payload, in
 * place.  Returns 0 with the key fields (host order) and payload and length set,
 * or a reason > 0 (an index of the rx counters: a WM_RX_DROP_ value). */
int wm_app_parse_frame(const uint8_t *frame, uint32_t len, uint32_t *src_addr,
                       uint32_t *dst_addr, uint16_t *src_port, uint16_t *dst_port,
                       uint16_t *vlan, const uint8_t **payload, uint32_t *payload_len);

#define WM_RX_COUNTERS(X)                                                       \
    X(WM_RX_PACKETS, "packets")                                                 \
    X(WM_RX_BYTES, "bytes")                                                     \
    X(WM_RX_BURSTS, "bursts")                                                   \
    X(WM_RX_BUSY_CYCLES, "busy_cycles")                                         \
    X(WM_RX_MESSAGES, "messages")               /* OUCH messages to the engine */ \
    X(WM_RX_RING_FULL_WAITS, "ring_full_waits") /* receive paused: in ring full */ \
    X(WM_RX_BACKLOG_WAITS, "backlog_waits")     /* receive paused: engine behind (rx_backlog) */ \
    X(WM_RX_FLOW_MISSES, "flow_misses")         /* to the slow-path gate */     \
    X(WM_RX_HELD, "held")                       /* packets that waited in the hold */ \
    X(WM_RX_HELD_BEHIND, "held_behind")         /* of those, decided: kept in arrival order */ \
    X(WM_RX_HOLD_FULL_WAITS, "hold_full_waits") /* receive paused: no room for a burst in the hold */ \
    X(WM_RX_DROP_HOLD_FULL, "drop_hold_full")   /* undecided flow, no hold slot takes it */ \
    X(WM_RX_DROP_NOT_CLASSIFIED, "drop_not_classified") /* gate refused the miss (slowpath.q<N>) */ \
    X(WM_RX_DROP_HOLD_TIMEOUT, "drop_hold_timeout") /* no decision within WM_APP_HOLD_MS */ \
    X(WM_RX_DROP_SHORT_FRAME, "drop_short_frame")                               \
    X(WM_RX_DROP_NOT_IPV4, "drop_not_ipv4")                                     \
    X(WM_RX_DROP_BAD_IP_HEADER, "drop_bad_ip_header")                           \
    X(WM_RX_DROP_IP_FRAGMENT, "drop_ip_fragment")                               \
    X(WM_RX_DROP_NOT_UDP, "drop_not_udp")                                       \
    X(WM_RX_DROP_BAD_UDP_LENGTH, "drop_bad_udp_length")                         \
    X(WM_RX_DROP_OTHER_DESTINATION, "drop_other_destination")                   \
    X(WM_RX_DROP_FLOW_DENIED, "drop_flow_denied")                               \
    X(WM_RX_DROP_UNKNOWN_SHARD, "drop_unknown_shard")                           \
    X(WM_RX_DROP_RATE_LIMITED, "drop_rate_limited")   /* packets */            \
    X(WM_RX_DROP_BAD_MOLD, "drop_bad_mold")          /* packets: codec.q<N> says why */ \
    X(WM_RX_DROP_DUPLICATE, "drop_duplicate")         /* messages seen before */ \
    X(WM_RX_DROP_AFTER_GAP, "drop_after_gap")         /* messages after a gap */ \
    X(WM_RX_SEQ_GAPS, "seq_gaps")               /* packets numbered past the next expected */ \
    X(WM_RX_GAP_MESSAGES_MISSING, "gap_messages_missing") /* messages those gaps skipped */ \
    X(WM_RX_DROP_SEQ_TABLE_FULL, "drop_seq_table_full")                         \
    X(WM_RX_DROP_SESSION_ENDED, "drop_session_ended") /* messages after end of session */ \
    X(WM_RX_DROP_BAD_OUCH, "drop_bad_ouch")          /* messages: codec.q<N> says why */ \
    X(WM_RX_DROP_MESSAGE_TOO_LONG, "drop_message_too_long")                     \
    X(WM_RX_HEARTBEATS, "heartbeats")

enum wm_rx_counter { WM_RX_COUNTERS(WM_COUNTER_ENUM) WM_RX_N_COUNTERS };

#define WM_ENGINE_COUNTERS(X)                                                   \
    X(WM_EN_BATCHES, "batches")                                                 \
    X(WM_EN_MESSAGES, "messages")               /* OUCH messages taken */       \
    X(WM_EN_COMMANDS, "commands")               /* matcher commands applied */  \
    X(WM_EN_EVENTS, "events")                                                   \
    X(WM_EN_REPLIES, "replies")                 /* OUCH messages to clients */  \
    X(WM_EN_MD_MESSAGES, "md_messages")         /* ITCH messages */             \
    X(WM_EN_REPLY_PACKETS, "reply_packets")                                     \
    X(WM_EN_MD_PACKETS, "md_packets")                                           \
    X(WM_EN_BUSY_CYCLES, "busy_cycles")                                         \
    X(WM_EN_EMPTY_POLLS, "empty_polls")                                         \
    X(WM_EN_BUFFER_WAITS, "buffer_waits")       /* waited for a free tx buffer */ \
    X(WM_EN_CTL_REQUESTS, "ctl_requests")                                       \
    X(WM_EN_SESSIONS, "sessions")               /* client sessions seen */     \
    X(WM_EN_REFUSED, "refused")                 /* gateway refusals (gateway.s<N>) */ \
    X(WM_EN_DROP_BAD_OUCH, "drop_bad_ouch")                                     \
    X(WM_EN_DROP_SESSION_TABLE_FULL, "drop_session_table_full")                 \
    X(WM_EN_DROP_UNPUBLISHABLE, "drop_unpublishable") /* a message or packet not framed */

enum wm_engine_counter { WM_ENGINE_COUNTERS(WM_COUNTER_ENUM) WM_EN_N_COUNTERS };

#define WM_TX_COUNTERS(X)                                                       \
    X(WM_TX_PACKETS, "packets")                                                 \
    X(WM_TX_BYTES, "bytes")                                                     \
    X(WM_TX_BUSY_CYCLES, "busy_cycles")                                         \
    X(WM_TX_NIC_FULL_WAITS, "nic_full_waits")   /* backend took fewer: retried */ \
    X(WM_TX_DROP_NO_ROUTE, "drop_no_route")     /* no destination address */

enum wm_tx_counter { WM_TX_COUNTERS(WM_COUNTER_ENUM) WM_TX_N_COUNTERS };

/* A worker thread's own block, worker.w<N> (N: the index start_worker returned). */
#define WM_WORKER_COUNTERS(X)                                                   \
    X(WM_WK_EMPTY_POLLS, "empty_polls")         /* loops with no work in any stage */ \
    X(WM_WK_IDLE_YIELDS, "idle_yields")         /* empty polls that yielded */  \
    X(WM_WK_IDLE_SLEEPS, "idle_sleeps")         /* empty polls that slept */

enum wm_worker_counter { WM_WORKER_COUNTERS(WM_COUNTER_ENUM) WM_WK_N_COUNTERS };

#endif
