/* app/app_internal.h - the appliance's stages (private to native/app). */
#ifndef WM_APP_INTERNAL_H
#define WM_APP_INTERNAL_H

#include <pthread.h>

#include "wirematch.h"

#define APP_MAX_BURST 256
#define APP_HEADROOM 64              /* bytes before a tx payload: Ethernet+IPv4+UDP */
#define APP_TX_BUF 2048              /* bytes per tx buffer */
#define APP_SEQ_SESSIONS 4096        /* Mold streams tracked per rx queue */
#define APP_FLUSH_BURSTS 4           /* engine bursts an open packet may wait under load */
#define APP_MIRROR_EVERY 64          /* engine bursts between counter mirrors */

/* One OUCH message on its way from an rx stage to an engine: 192 bytes
 * (three cache lines), room for the longest legal inbound message. */
struct app_msg {
    uint64_t ts;                     /*  0 rx ticks */
    uint32_t session;                /*  8 flow decision's session */
    uint32_t src_addr;               /* 12 client IPv4, host order */
    uint16_t src_port;               /* 16 client port, host order */
    uint8_t  queue;                  /* 18 rx queue */
    uint8_t  len;                    /* 19 bytes in msg */
    uint8_t  src_mac[6];             /* 20 L2 backends: the client's MAC (else 0) */
    uint8_t  pad[6];                 /* 26 */
    uint8_t  msg[WM_APP_MSG_MAX];    /* 32 the OUCH message as received */
};
_Static_assert(sizeof(struct app_msg) == 192, "app_msg is one 192-byte ring element");
_Static_assert((int)WM_APP_MSG_MAX >= (int)WM_OUCH_MAX_IN_MESSAGE,
               "a record holds every OUCH message the decoder accepts");
_Static_assert(WM_OUCH_MAX_IN_MESSAGE <= UINT8_MAX, "app_msg.len holds every length");

/* One datagram for a tx stage: 64 bytes; the payload is in the shard's
 * buffer arena, buffer `buf`, at APP_HEADROOM. */
struct app_tx {
    uint64_t ts;                     /*  0 rx ticks of the oldest message answered (0: none) */
    uint32_t buf;                    /*  8 buffer index in the shard's arena */
    uint16_t len;                    /* 12 payload bytes */
    uint8_t  shard;                  /* 14 */
    uint8_t  pad0;
    uint32_t dst_addr;               /* 16 host order */
    uint16_t dst_port;               /* 20 host order */
    uint8_t  dst_mac[6];             /* 22 */
    uint64_t pad[4];                 /* 32..63 */
};
_Static_assert(sizeof(struct app_tx) == 64, "app_tx is one 64-byte ring element");

/* A control request on ctl.s<N>: 64 bytes. */
struct app_ctl {
    uint64_t id;
    uint32_t op;
    uint32_t arg;
    uint64_t pad[6];
};
_Static_assert(sizeof(struct app_ctl) == 64, "app_ctl is one 64-byte ring element");

struct wm_app;

/* A packet held by its rx stage: of a flow the table does not know yet
 * (until the classifier installs the flow's decision or the hold time
 * passes), or one that arrived behind such a packet (packets leave the
 * hold from its head, in arrival order).  The payload is a copy in the
 * stage's hold arena, slot `buf`. */
struct app_held {
    struct wm_flow_key key;          /*  0 */
    uint64_t ts;                     /* 16 rx ticks (as the NIC stamped it) */
    uint64_t since;                  /* 24 wm_tsc() when held: the hold time runs from it */
    uint32_t len;                    /* 32 payload bytes */
    uint16_t buf;                    /* 36 hold arena slot */
    uint8_t  has_mac;                /* 38 */
    uint8_t  pad;
    uint8_t  mac[6];                 /* 40 L2 backends: the client's MAC */
    uint8_t  pad2[2];
};

struct app_rx {
    struct wm_app *app;
    uint32_t q;
    struct wm_nic_queue *nq;
    int l2;                          /* descriptors are Ethernet frames */
    int quiet;                       /* stop phase: queue found quiet, done receiving */
    uint32_t empty_polls;            /* stop phase: consecutive empty polls */
    struct wm_counters *ctr;
    struct wm_codec_stats *codec;    /* values of codec.q<N> */
    struct wm_hist *batch;
    struct wm_slowpath sp;
    struct wm_mold_seq_table *seq;
    /* messages waiting for room in the shards' in rings */
    struct app_msg *pend[WM_APP_MAX_SHARDS];
    uint32_t npend[WM_APP_MAX_SHARDS];
    uint32_t pend_off[WM_APP_MAX_SHARDS];
    struct wm_nic_pkt pkts[APP_MAX_BURST];
    struct wm_flow_miss misses[APP_MAX_BURST];
    uint32_t n_miss;
    /* held packets, in arrival order */
    struct app_held held[WM_APP_HOLD_PKTS];
    uint32_t n_held;
    uint64_t held_filter[4];         /* bit (hash of key) % 256 set: a held key may match */
    uint8_t *hold_arena;             /* WM_APP_HOLD_PKTS slots of hold_slot bytes */
    uint32_t hold_slot;
    uint16_t hold_free[WM_APP_HOLD_PKTS];    /* free arena slots (a stack) */
    uint32_t n_hold_free;
    uint64_t hold_ticks;             /* WM_APP_HOLD_MS in wm_tsc() ticks */
};

struct app_tx_stage {
    struct wm_app *app;
    uint32_t q;
    struct wm_ring *ring;            /* tx.q<N>: struct app_tx */
    struct wm_counters *ctr;
    struct wm_hist *rx_to_reply;
    struct app_tx held[APP_MAX_BURST];   /* dequeued, not yet taken by the NIC */
    uint32_t nheld, held_off;
    int unflushed;                   /* sent since the last wm_nic_flush */
    struct wm_nic_pkt out[APP_MAX_BURST];
};

struct app_session {
    uint32_t session;
    uint32_t addr;                   /* where replies go (the last flow seen) */
    uint16_t port;
    uint8_t  queue;
    uint8_t  dirty;                  /* builder holds an open packet */
    uint8_t  mac[6];
    uint16_t pad;
    uint64_t oldest_ts;              /* rx ticks of the first message answered in the open packet */
    struct wm_mold_builder b;
};

struct app_engine {
    struct wm_app *app;
    uint32_t s;
    struct wm_matcher *m;
    struct wm_gw gw;
    struct wm_ring *in;              /* in.s<N>: struct app_msg */
    struct wm_ring *ctl;             /* ctl.s<N>: struct app_ctl */
    struct wm_ring *free;            /* free tx buffer indexes (8 bytes) */
    struct wm_counters *ctr, *gw_ctr, *m_ctr;
    struct wm_hist *batch, *rx_to_match;
#ifdef APP_TRACE
    struct wm_hist *tr[8];
    uint64_t tr_deq, tr_m, tr_s;
#endif
    struct wm_app_ctl_answer *answer;    /* in the region: blob ctl.s<N> */
    uint8_t *arena;                  /* tx buffers, APP_TX_BUF bytes each */
    uint32_t n_bufs;
    uint32_t bursts;
    uint32_t bursts_open;            /* bursts since the open packets were flushed */
    int drained;                     /* stop phase: in ring empty after every rx quiet */
    /* Per-session streams in the order the sessions came; found through
     * the gateway's session table (its entries' ctx). */
    struct app_session sessions[WM_APP_MAX_SESSIONS];
    uint32_t n_sessions;
    struct app_session md;           /* the market-data stream */
    struct app_session *cur;         /* session of the message being applied */
    uint32_t dirty[WM_APP_MAX_SESSIONS + 1];
    uint32_t n_dirty;
    uint32_t worker;                 /* index of the worker running it */
    struct app_msg msgs[APP_MAX_BURST];
    struct wm_event events[1024];
};

struct app_worker {
    struct wm_app *app;
    pthread_t thread;
    int tid;
    int started;
    int done;
    uint32_t queue_mask, shard_mask;
    struct wm_idle_policy idle;
    struct wm_counters *ctr;         /* worker.w<N>: WM_WORKER_COUNTERS */
};

enum { APP_RUN = 0, APP_STOP_RX = 1, APP_ABORT = 2 };

struct wm_app {
    struct wm_app_config cfg;
    const struct wm_clock *clock;
    struct wm_ring *slowpath;
    struct app_rx *rx[WM_APP_MAX_QUEUES];
    struct app_tx_stage *tx[WM_APP_MAX_QUEUES];
    struct app_engine *en[WM_APP_MAX_SHARDS];
    struct app_worker workers[WM_APP_MAX_WORKERS];
    uint32_t n_workers;
    uint32_t queue_owned, shard_owned;
    int phase;                       /* APP_RUN / APP_STOP_RX (atomic) */
    uint32_t quiet_polls;            /* empty polls that make a queue quiet */
    uint64_t ctl_next_id;
};

/* Stages: each returns the work it did (0 = nothing). */
unsigned app_rx_poll(struct app_rx *rx);
int app_rx_pending(const struct app_rx *rx);
unsigned app_tx_poll(struct app_tx_stage *tx);
int app_tx_idle(const struct app_tx_stage *tx);
/* A burst's worth of datagrams waits to be sent. */
int app_tx_backlog(const struct app_tx_stage *tx);
unsigned app_engine_poll(struct app_engine *en);
/* Engine: the rx stages are all quiet and every in/ctl ring is empty. */
int app_engine_idle(struct app_engine *en);
void app_engine_mirror(struct app_engine *en);
/* Clean stop: System Event 'E' to every session, open packets flushed. */
void app_engine_end_of_day(struct app_engine *en);
/* Engine start-up: streams, counters; 0 or -errno. */
int app_engine_init(struct app_engine *en);
/* Run the tx stages of the worker that runs `en` (when it waits for buffers). */
void app_worker_assist(struct wm_app *app, uint32_t worker);

#endif
