/* wirematch/flow.h - the fast-path flow table and the slow-path gate.
 *
 * Exact match on (src addr, dst addr, src port, dst port, proto, vlan) to a
 * flow entry: the decision (session, instrument shard, allow/deny, rate
 * bucket, deciding rule) and per-flow counters (packets, bytes, drops, last
 * seen).  Fixed capacity, all memory laid out at init in caller memory with
 * no pointers inside (the shared region: `wirematch flows` can dump it from
 * another process).
 *
 * Keys are in HOST byte order (the numbers an operator reads: 10.0.0.1 is
 * 0x0a000001); the rx worker converts from the wire.  vlan is the 12-bit VID,
 * 0 when untagged.  `zero` must be 0.
 *
 * Concurrency contract:
 *   - ONE control-plane writer (install, remove, expire, reclaim): the
 *     caller serialises these calls (the Python wrapper holds a lock).
 *   - any number of data-plane readers (wm_flow_lookup), lock-free: a lookup
 *     never waits for the writer.  Each slot carries a sequence word (odd
 *     while the writer rewrites the slot); a reader copies the slot and
 *     retries when the word moved, and after WM_FLOW_READ_TRIES it gives up
 *     and reports -EBUSY, which the caller treats as a miss.  A reader never
 *     sees a torn entry.
 *   - per-flow counters (packets, bytes, drops, last_seen) have one writer:
 *     the data-plane thread whose queue receives the flow (RSS and
 *     SO_REUSEPORT hash a 5-tuple to one queue).  Plain relaxed load+store,
 *     no locked instruction.  The control plane never writes them: when it
 *     reuses a slot it records the counts at that moment as a baseline, and a
 *     flow's counts are counters - baseline.
 *   - deletion leaves a tombstone, reused by later inserts.
 *     wm_flow_table_reclaim (run by install when the table runs out of empty
 *     slots, and by expire) moves live entries back into earlier tombstones
 *     of their probe chain and turns tombstones no chain crosses back into
 *     empty slots; both are safe under concurrent lookups (see docs).
 *
 * The algorithm, its memory-ordering argument and the choices made are in
 * docs/flows.md.
 */
#ifndef WIREMATCH_FLOW_H
#define WIREMATCH_FLOW_H

#include "wirematch/common.h"
#include "wirematch/counters.h"
#include "wirematch/ratelimit.h"

#define WM_FLOW_MAGIC 0x31574f4c46484d57ull /* "WMHFLOW1" */

enum wm_flow_action {
    WM_FLOW_DENY = 0,             /* drop (counted per flow) */
    WM_FLOW_ALLOW = 1             /* on to the matcher as `session` */
};

enum wm_flow_slot_state {
    WM_FLOW_EMPTY = 0,            /* never used since the last reclaim: ends a probe */
    WM_FLOW_LIVE = 1,
    WM_FLOW_TOMBSTONE = 2         /* removed: probes go on past it; reusable */
};

enum {
    WM_FLOW_NO_BUCKET = 0xffffffff,   /* decision.bucket: no rate limit */
    WM_FLOW_NO_RULE = 0xffffffff,     /* decision.rule: installed without a rule */
    WM_FLOW_MAX_FLOWS = 1 << 24,
    WM_FLOW_READ_TRIES = 64,          /* slot re-reads before a lookup gives up (-EBUSY) */
    WM_FLOW_MISS_SIZE = 32            /* bytes per struct wm_flow_miss (ring element) */
};

struct wm_flow_key {               /* 16 bytes, host byte order */
    uint32_t src_addr;
    uint32_t dst_addr;
    uint16_t src_port;
    uint16_t dst_port;
    uint16_t vlan;                 /* VID, 0 = untagged */
    uint8_t  proto;                /* IP protocol: 17 UDP, 6 TCP */
    uint8_t  zero;                 /* must be 0 */
};

struct wm_flow_decision {          /* 16 bytes */
    uint32_t session;              /* client session id */
    uint16_t shard;                /* instrument shard (which matcher) */
    uint8_t  action;               /* enum wm_flow_action */
    uint8_t  queue;                /* rx queue that first saw the flow (picks its
                                      per-queue rate bucket; informational here) */
    uint32_t bucket;               /* rate bucket index, or WM_FLOW_NO_BUCKET */
    uint32_t rule;                 /* id of the deciding rule, or WM_FLOW_NO_RULE */
};

struct wm_flow_entry {             /* 128 bytes: two cache lines */
    /* Line 0: the decision, written by the control plane under `version`. */
    uint64_t version;              /*   0 odd while the slot is being rewritten */
    union {
        struct wm_flow_key key;    /*   8 */
        uint64_t key_words[2];
    };
    union {
        struct wm_flow_decision decision; /* 24 */
        uint64_t decision_words[2];
    };
    uint64_t installed;            /*  40 ticks at install or at the last activity carried
                                           over by a reclaim move (LIVE), at removal (TOMBSTONE) */
    uint32_t state;                /*  48 enum wm_flow_slot_state */
    uint32_t reserved0;
    uint64_t reserved1;
    /* Line 1: counters, written by the flow's data-plane thread. */
    uint64_t packets;              /*  64 */
    uint64_t bytes;                /*  72 */
    uint64_t drops;                /*  80 packets dropped on this flow (deny, rate) */
    uint64_t last_seen;            /*  88 ticks of the last packet */
    /* Baselines, written by the control plane when the slot is (re)used. */
    uint64_t base_packets;         /*  96 */
    uint64_t base_bytes;           /* 104 */
    uint64_t base_drops;           /* 112 */
    uint64_t reserved2;
};

/* A flow the table did not know: what an rx worker pushes to the slow-path
 * ring (32-byte elements). */
struct wm_flow_miss {
    struct wm_flow_key key;        /*  0 */
    uint64_t first_seen;           /* 16 ticks when the packet was received */
    uint16_t queue;                /* 24 rx queue that saw it */
    uint16_t len;                  /* 26 bytes of the packet */
    uint32_t reserved;             /* 28 */
};

struct wm_flow_table {             /* header; entries follow at entries_offset */
    uint64_t magic;                /* WM_FLOW_MAGIC, stored last (release) */
    uint32_t capacity;             /* slots: a power of two */
    uint32_t max_flows;            /* live entries at most */
    uint64_t entries_offset;       /* from the header to slot 0 (cache-line aligned) */
    /* Written by the control plane (relaxed), read by anyone. */
    uint32_t n_live;
    uint32_t n_tombstones;
    uint32_t max_probe;            /* longest distance from home slot of any insert */
    uint32_t reserved;
    uint64_t inserts;              /* new entries */
    uint64_t updates;              /* decisions changed in place */
    uint64_t removes;
    uint64_t expired;              /* removed by wm_flow_table_expire */
    uint64_t insert_full;          /* inserts refused: table full */
    uint64_t reclaimed;            /* tombstones turned back into empty slots */
    uint64_t pad[4];
};

/* Slots for max_flows live entries: the power of two >= max_flows * 5/4
 * (load <= 80%); at most 15/16 of the slots are ever non-empty (live or
 * tombstone), so a probe always ends. */
uint32_t wm_flow_table_capacity_for(uint32_t max_flows);
/* Bytes for a table of max_flows (1..WM_FLOW_MAX_FLOWS); 0 when invalid. */
size_t wm_flow_table_memsize(uint32_t max_flows);
/* Lay out an empty table in caller memory (64-byte aligned).  0 or -EINVAL. */
int wm_flow_table_init(void *mem, size_t memsize, uint32_t max_flows);
int wm_flow_table_create(uint32_t max_flows, struct wm_flow_table **out);
void wm_flow_table_destroy(struct wm_flow_table *t);
/* Validate a table found in shared memory of size bytes: 0 or -EINVAL. */
int wm_flow_table_check(const void *mem, size_t size);

/* --- control plane (one writer) --------------------------------------- */

/* Install key -> decision.  A live entry with the key gets the new decision
 * in place (counters kept); otherwise a new entry takes the first tombstone
 * or empty slot of the key's probe chain, installed = now.  Returns the slot
 * index, or -EINVAL (bad key or action), -ENOSPC (max_flows live entries, or
 * no room without filling more than 15/16 of the slots: counted in
 * insert_full). */
int wm_flow_table_install(struct wm_flow_table *t, const struct wm_flow_key *key,
                          const struct wm_flow_decision *d, uint64_t now);
/* Remove a key: its slot becomes a tombstone.  0 or -ENOENT. */
int wm_flow_table_remove(struct wm_flow_table *t, const struct wm_flow_key *key, uint64_t now);
/* Remove live entries idle for more than idle_ticks: now - max(installed,
 * last_seen) > idle_ticks.  At most max_out entries per call when keys_out is
 * given (their keys and final stats are written there); all of them when
 * keys_out is NULL.  Then reclaims.  Returns the number removed. */
int wm_flow_table_expire(struct wm_flow_table *t, uint64_t now, uint64_t idle_ticks,
                         struct wm_flow_entry *removed_out, uint32_t max_out);
/* Move live entries back to the first tombstone of their probe chain, then
 * turn every tombstone that no live entry's chain crosses into an empty slot.
 * Returns how many tombstones were cleared.  O(capacity); control path. */
uint32_t wm_flow_table_reclaim(struct wm_flow_table *t);

/* --- readers ------------------------------------------------------------ */

/* Lock-free lookup (the out-of-line twin of the inline wm_flow_lookup).
 * Returns the slot index and copies the decision, or -ENOENT (miss), or
 * -EBUSY (the writer held the slot for every retry: treat as a miss). */
int wm_flow_table_lookup(const struct wm_flow_table *t, const struct wm_flow_key *key,
                         struct wm_flow_decision *out);
/* Count on a slot as its data-plane thread would (for tests and tools). */
void wm_flow_table_record(struct wm_flow_table *t, uint32_t slot, uint32_t packets,
                          uint64_t bytes, uint32_t drops, uint64_t now);
/* A consistent copy of one slot with its counters made relative to the
 * baselines.  0, -EINVAL (bad slot) or -EBUSY. */
int wm_flow_table_read(const struct wm_flow_table *t, uint32_t slot, struct wm_flow_entry *out);
struct wm_flow_entry *wm_flow_table_entries(struct wm_flow_table *t);
uint32_t wm_flow_table_live(const struct wm_flow_table *t);

/* --- slow-path gate (data plane side) ------------------------------------
 *
 * An rx worker gathers the misses of one rx burst and offers them with
 * wm_slowpath_push_burst: while the table is full they are dropped (a new
 * flow could not be installed anyway); otherwise a token bucket of new flows
 * per second admits some, and the admitted ones go to the slow-path ring
 * (mp: every rx worker pushes to the same ring).  Each miss ends in exactly
 * one counter below. */
#define WM_SLOWPATH_COUNTERS(X)                                                   \
    X(WM_SP_MISSES, "flow_misses")                 /* misses offered */          \
    X(WM_SP_PUSHED, "slow_path_pushed")            /* pushed to the ring */      \
    X(WM_SP_RATE_LIMITED, "slow_path_rate_limited") /* over new flows/s */      \
    X(WM_SP_RING_FULL, "slow_path_ring_full")      /* ring had no room */        \
    X(WM_SP_TABLE_FULL, "flow_table_full")         /* table at max_flows */

enum wm_slowpath_counter { WM_SLOWPATH_COUNTERS(WM_COUNTER_ENUM) WM_SP_N_COUNTERS };

struct wm_ring;

struct wm_slowpath_config {
    uint32_t size;                 /* sizeof(struct wm_slowpath_config) */
    uint32_t max_new_per_sec;      /* admitted misses per second (0 = no limit) */
    uint32_t burst;                /* bucket depth (0 = max_new_per_sec / 10, at least 1) */
    uint32_t reserved;
    uint64_t tick_hz;              /* ticks per second of `now` */
    struct wm_ring *ring;          /* WM_FLOW_MISS_SIZE-byte elements */
    const struct wm_flow_table *table;
    struct wm_counters *counters;  /* WM_SP_N_COUNTERS named as above; one writer */
};

/* One per rx worker (process-local: it holds pointers); the worker is the
 * only writer of its bucket and counters. */
struct wm_slowpath {
    struct wm_rate_bucket limit;   /* new flows per second, this worker's share */
    struct wm_ring *ring;
    const struct wm_flow_table *table;
    struct wm_counters *counters;
    uint64_t tick_hz;
};

const char *const *wm_slowpath_counter_names(void);
/* 0, or -EINVAL (missing ring/table/counters, wrong element size, counter
 * block of the wrong shape). */
int wm_slowpath_init(struct wm_slowpath *sp, const struct wm_slowpath_config *cfg);
/* Control plane: change the admitted rate (same rules as the config). */
int wm_slowpath_set_limit(struct wm_slowpath *sp, uint32_t max_new_per_sec, uint32_t burst);
/* Data plane: offer n misses; returns how many were pushed.  The worker
 * thread only. */
unsigned wm_slowpath_push_burst(struct wm_slowpath *sp, const struct wm_flow_miss *misses,
                                unsigned n, uint64_t now);

#ifndef WM_CDEF
#include "wirematch/flow_inline.h"
#endif

#endif
