/* Flow table, token buckets and the slow-path gate, single-threaded, with
 * injected time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wirematch/counters.h"
#include "wirematch/flow.h"
#include "wirematch/ratelimit.h"
#include "wirematch/ring.h"

static struct wm_flow_key key_of(uint32_t i)
{
    struct wm_flow_key k = { 0 };
    k.src_addr = 0x0a000000u | i;
    k.dst_addr = 0x0a630001u;
    k.src_port = (uint16_t)(40000 + (i & 0xfff));
    k.dst_port = 15000;
    k.proto = 17;
    k.vlan = (uint16_t)(i % 3 == 0 ? 100 : 0);
    return k;
}

static struct wm_flow_decision allow_as(uint32_t session)
{
    struct wm_flow_decision d = { 0 };
    d.session = session;
    d.shard = (uint16_t)(session & 3);
    d.action = WM_FLOW_ALLOW;
    d.bucket = session;
    d.rule = 7;
    return d;
}

static void test_basic(void)
{
    struct wm_flow_table *t;
    CHECK_EQ(wm_flow_table_create(0, &t), -EINVAL);
    CHECK_EQ(wm_flow_table_create(100, &t), 0);
    CHECK_EQ(t->capacity, 128);
    CHECK_EQ(wm_flow_table_check(t, wm_flow_table_memsize(100)), 0);
    CHECK_EQ(wm_flow_table_check(t, 64), -EINVAL);

    struct wm_flow_key k = key_of(1);
    struct wm_flow_decision d = allow_as(3), got;
    CHECK_EQ(wm_flow_table_lookup(t, &k, &got), -ENOENT);
    int slot = wm_flow_table_install(t, &k, &d, 1000);
    CHECK(slot >= 0);
    CHECK_EQ(wm_flow_table_lookup(t, &k, &got), slot);
    CHECK_EQ(got.session, 3);
    CHECK_EQ(got.action, WM_FLOW_ALLOW);
    CHECK_EQ(got.bucket, 3);
    CHECK_EQ(wm_flow_table_live(t), 1);

    /* The vlan is part of the key; so is every field. */
    struct wm_flow_key other = k;
    other.vlan = 5;
    CHECK_EQ(wm_flow_table_lookup(t, &other, &got), -ENOENT);
    other = k;
    other.proto = 6;
    CHECK_EQ(wm_flow_table_lookup(t, &other, &got), -ENOENT);
    other = k;
    other.zero = 1;
    CHECK_EQ(wm_flow_table_install(t, &other, &d, 0), -EINVAL);
    struct wm_flow_decision bad = d;
    bad.action = 2;
    CHECK_EQ(wm_flow_table_install(t, &k, &bad, 0), -EINVAL);

    /* Same decision again: nothing touched (version unchanged). */
    uint64_t v = wm_flow_table_entries(t)[slot].version;
    CHECK_EQ(wm_flow_table_install(t, &k, &d, 2000), slot);
    CHECK_EQ(wm_flow_table_entries(t)[slot].version, v);
    CHECK_EQ(t->updates, 0);
    /* A new decision: updated in place, counters kept. */
    wm_flow_table_record(t, (uint32_t)slot, 3, 300, 1, 1500);
    struct wm_flow_decision deny = { 0 };
    deny.action = WM_FLOW_DENY;
    deny.bucket = WM_FLOW_NO_BUCKET;
    deny.rule = 9;
    CHECK_EQ(wm_flow_table_install(t, &k, &deny, 2000), slot);
    CHECK_EQ(t->updates, 1);
    CHECK_EQ(wm_flow_table_lookup(t, &k, &got), slot);
    CHECK_EQ(got.action, WM_FLOW_DENY);
    CHECK_EQ(got.rule, 9);
    struct wm_flow_entry e;
    CHECK_EQ(wm_flow_table_read(t, (uint32_t)slot, &e), 0);
    CHECK_EQ(e.packets, 3);
    CHECK_EQ(e.bytes, 300);
    CHECK_EQ(e.drops, 1);
    CHECK_EQ(e.last_seen, 1500);
    CHECK_EQ(e.installed, 1000);

    /* Remove: a tombstone; the slot's next flow starts its counts at 0. */
    CHECK_EQ(wm_flow_table_remove(t, &k, 3000), 0);
    CHECK_EQ(wm_flow_table_remove(t, &k, 3000), -ENOENT);
    CHECK_EQ(wm_flow_table_lookup(t, &k, &got), -ENOENT);
    CHECK_EQ(wm_flow_table_live(t), 0);
    /* Reclaim turned it back into an empty slot (its successor was empty). */
    CHECK_EQ(wm_flow_table_reclaim(t), 1);
    CHECK_EQ(t->n_tombstones, 0);
    int again = wm_flow_table_install(t, &k, &d, 4000);
    CHECK_EQ(again, slot);
    CHECK_EQ(wm_flow_table_read(t, (uint32_t)again, &e), 0);
    CHECK_EQ(e.packets, 0);
    CHECK_EQ(e.bytes, 0);
    CHECK_EQ(e.drops, 0);
    wm_flow_table_destroy(t);
}

/* Fill to max_flows, remove every other, lookups of the rest still hit
 * through the tombstones; capacity refused with -ENOSPC and counted. */
static void test_capacity_and_tombstones(void)
{
    const uint32_t max = 1000;
    struct wm_flow_table *t;
    CHECK_EQ(wm_flow_table_create(max, &t), 0);
    struct wm_flow_decision d = allow_as(1), got;
    for (uint32_t i = 0; i < max; i++) {
        struct wm_flow_key k = key_of(i);
        CHECK(wm_flow_table_install(t, &k, &d, i) >= 0);
    }
    struct wm_flow_key extra = key_of(max);
    CHECK_EQ(wm_flow_table_install(t, &extra, &d, 0), -ENOSPC);
    CHECK_EQ(t->insert_full, 1);
    for (uint32_t i = 0; i < max; i += 2) {
        struct wm_flow_key k = key_of(i);
        CHECK_EQ(wm_flow_table_remove(t, &k, 5), 0);
    }
    uint32_t hits = 0, misses = 0;
    for (uint32_t i = 0; i < max; i++) {
        struct wm_flow_key k = key_of(i);
        int rc = wm_flow_table_lookup(t, &k, &got);
        if (i % 2)
            hits += rc >= 0;
        else
            misses += rc == -ENOENT;
    }
    CHECK_EQ(hits, max / 2);
    CHECK_EQ(misses, max / 2);
    for (uint32_t i = 1; i < max; i += 2) {
        struct wm_flow_key k = key_of(i);
        int slot = wm_flow_table_lookup(t, &k, &got);
        wm_flow_table_record(t, (uint32_t)slot, 1, i, 0, 7);
    }
    /* Churn far more flows than the capacity through the table: tombstones
     * are reused or reclaimed, and inserts keep working. */
    for (uint32_t round = 0; round < 20; round++) {
        for (uint32_t i = 0; i < max / 2; i++) {
            struct wm_flow_key k = key_of(100000 + round * 1000 + i);
            CHECK(wm_flow_table_install(t, &k, &d, 10) >= 0);
        }
        for (uint32_t i = 0; i < max / 2; i++) {
            struct wm_flow_key k = key_of(100000 + round * 1000 + i);
            CHECK_EQ(wm_flow_table_remove(t, &k, 11), 0);
        }
        CHECK(t->n_live + t->n_tombstones <= t->capacity - t->capacity / 16);
    }
    /* The survivors still hit, and kept their counts wherever reclaim moved them. */
    uint32_t counted = 0;
    for (uint32_t i = 1; i < max; i += 2) {
        struct wm_flow_key k = key_of(i);
        int slot = wm_flow_table_lookup(t, &k, &got);
        struct wm_flow_entry e;
        CHECK(slot >= 0 && wm_flow_table_read(t, (uint32_t)slot, &e) == 0);
        counted += e.packets == 1 && e.bytes == i &&
                   (e.last_seen > e.installed ? e.last_seen : e.installed) >= 7;
    }
    CHECK_EQ(counted, max / 2);
    CHECK(t->reclaimed > 0);
    CHECK_EQ(wm_flow_table_live(t), max / 2);
    wm_flow_table_destroy(t);
}

static void test_expire(void)
{
    struct wm_flow_table *t;
    CHECK_EQ(wm_flow_table_create(64, &t), 0);
    struct wm_flow_decision d = allow_as(2), got;
    struct wm_flow_key a = key_of(1), b = key_of(2), c = key_of(3);
    int sa = wm_flow_table_install(t, &a, &d, 100);
    int sb = wm_flow_table_install(t, &b, &d, 100);
    CHECK(sa >= 0 && sb >= 0);
    CHECK(wm_flow_table_install(t, &c, &d, 900) >= 0);
    wm_flow_table_record(t, (uint32_t)sa, 5, 500, 0, 1100); /* a active at 1100 */
    /* Idle limit 500 at now 1200: b (installed 100, never seen) goes; a (seen
     * 1100) and c (installed 900) stay. */
    struct wm_flow_entry out[4];
    CHECK_EQ(wm_flow_table_expire(t, 1200, 500, out, 4), 1);
    CHECK_EQ(out[0].key.src_addr, b.src_addr);
    CHECK_EQ(out[0].packets, 0);
    CHECK_EQ(wm_flow_table_lookup(t, &b, &got), -ENOENT);
    CHECK(wm_flow_table_lookup(t, &a, &got) >= 0);
    /* At 1500: a (400 idle) stays, c (600 idle) goes; at 2000 a goes, with its
     * final stats. */
    CHECK_EQ(wm_flow_table_expire(t, 1500, 500, NULL, 0), 1);
    CHECK_EQ(wm_flow_table_lookup(t, &c, &got), -ENOENT);
    CHECK_EQ(wm_flow_table_expire(t, 2000, 500, out, 4), 1);
    CHECK_EQ(out[0].packets, 5);
    CHECK_EQ(out[0].bytes, 500);
    CHECK_EQ(t->expired, 3);
    CHECK_EQ(wm_flow_table_live(t), 0);
    CHECK_EQ(t->n_tombstones, 0); /* reclaimed: every chain ends in empty slots */
    wm_flow_table_destroy(t);
}

/* In caller memory (as in the shared region): no pointers inside, so a copy
 * of the bytes elsewhere is the same table. */
static void test_placeable(void)
{
    size_t sz = wm_flow_table_memsize(32);
    size_t asz = (sz + 63) & ~(size_t)63; /* C11: a multiple of the alignment */
    void *m1 = aligned_alloc(64, asz), *m2 = aligned_alloc(64, asz);
    CHECK_EQ(wm_flow_table_init(m1, sz - 1, 32), -EINVAL);
    CHECK_EQ(wm_flow_table_init((char *)m1 + 8, sz, 32), -EINVAL);
    CHECK_EQ(wm_flow_table_init(m1, sz, 32), 0);
    struct wm_flow_key k = key_of(9);
    struct wm_flow_decision d = allow_as(4), got;
    CHECK(wm_flow_table_install(m1, &k, &d, 1) >= 0);
    memcpy(m2, m1, sz);
    CHECK_EQ(wm_flow_table_check(m2, sz), 0);
    CHECK(wm_flow_table_lookup(m2, &k, &got) >= 0);
    CHECK_EQ(got.session, 4);
    free(m1);
    free(m2);
}

static void test_rate(void)
{
    const uint64_t hz = 1000000000ull; /* ticks are ns */
    struct wm_rate_table *r;
    CHECK_EQ(wm_rate_table_create(4, hz, &r), 0);
    CHECK_EQ(wm_rate_bucket_set(r, 4, 1, 1), -EINVAL);
    CHECK_EQ(wm_rate_bucket_set(r, 0, 0, 5), -EINVAL);
    CHECK_EQ(wm_rate_bucket_set(r, 0, 5, WM_RATE_MAX_BURST + 1), -EINVAL);
    /* Unlimited by default. */
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(wm_rate_table_take(r, 1, 5, 1), 1);
    CHECK_EQ(r->buckets[1].allowed, 1000);

    /* 1000/s, burst 10: starts full, 10 go, the 11th is dropped. */
    CHECK_EQ(wm_rate_bucket_set(r, 0, 1000, 10), 0);
    uint64_t t0 = 5 * hz;
    int ok = 0;
    for (int i = 0; i < 11; i++)
        ok += wm_rate_table_take(r, 0, t0, 1);
    CHECK_EQ(ok, 10);
    CHECK_EQ(r->buckets[0].dropped, 1);
    /* 1 ms later one token is back; 0.999 ms later not yet. */
    CHECK_EQ(wm_rate_table_take(r, 0, t0 + 999000, 1), 0);
    CHECK_EQ(wm_rate_table_take(r, 0, t0 + 1000000, 1), 1);
    CHECK_EQ(wm_rate_table_take(r, 0, t0 + 1000000, 1), 0);
    /* A long idle refills to the burst, not beyond. */
    CHECK_EQ(wm_rate_table_take_burst(r, 0, t0 + 10 * hz, 50), 10);
    /* Over a simulated second of back-to-back attempts every 100 us, the
     * bucket grants rate * 1 s (+/- 1) after it is drained. */
    uint64_t start = t0 + 20 * hz;
    wm_rate_table_take_burst(r, 0, start, 1000); /* drain */
    uint32_t granted = 0;
    for (uint64_t t = start + 100000; t <= start + hz; t += 100000)
        granted += wm_rate_table_take_burst(r, 0, t, 5);
    CHECK(granted >= 999 && granted <= 1001);
    /* Time going backwards (another core's TSC) adds nothing. */
    uint64_t before = wm_rate_table_tokens(r, 0);
    CHECK_EQ(wm_rate_table_take_burst(r, 0, start, 0), 0);
    CHECK_EQ(wm_rate_table_tokens(r, 0), before);

    /* A low rate keeps its fractions: 3/s over 10 s grants 30, plus the
     * two the bucket started with (burst 2: the bucket never fills up, so no
     * refill is clamped away). */
    CHECK_EQ(wm_rate_bucket_set(r, 2, 3, 2), 0);
    uint64_t s2 = 100 * hz;
    granted = wm_rate_table_take_burst(r, 2, s2, 1); /* the initial token */
    for (uint64_t t = s2 + hz / 1000; t <= s2 + 10 * hz; t += hz / 1000)
        granted += wm_rate_table_take_burst(r, 2, t, 1);
    CHECK_EQ(granted, 32);
    /* A high rate: 10 M/s, burst 1000 over 1 ms gives 10000 (+1 rounding). */
    CHECK_EQ(wm_rate_bucket_set(r, 3, 10000000, 1000), 0);
    uint64_t s3 = 200 * hz;
    wm_rate_table_take_burst(r, 3, s3, 1000);
    granted = 0;
    for (uint64_t t = s3 + 1000; t <= s3 + 1000000; t += 1000)
        granted += wm_rate_table_take_burst(r, 3, t, 100);
    CHECK(granted >= 9999 && granted <= 10001);
    /* Lowering the burst clamps what is there at the next take. */
    wm_rate_table_take_burst(r, 3, s3 + 2 * hz, 0); /* refill to 1000 */
    CHECK_EQ(wm_rate_table_tokens(r, 3), 1000);
    CHECK_EQ(wm_rate_bucket_set(r, 3, 10000000, 5), 0);
    CHECK_EQ(wm_rate_table_take_burst(r, 3, s3 + 2 * hz, 100), 5);
    /* Back to unlimited. */
    CHECK_EQ(wm_rate_bucket_set(r, 3, 0, 0), 0);
    CHECK_EQ(wm_rate_table_take_burst(r, 3, s3 + 2 * hz, 100), 100);
    wm_rate_table_destroy(r);
}

static void test_slowpath(void)
{
    const uint64_t hz = 1000000000ull;
    struct wm_flow_table *t;
    struct wm_ring *ring;
    struct wm_counters *c;
    CHECK_EQ(wm_flow_table_create(4, &t), 0);
    CHECK_EQ(wm_ring_create("misses", sizeof(struct wm_flow_miss), 8, &ring), 0);
    CHECK_EQ(wm_counters_create(wm_slowpath_counter_names(), WM_SP_N_COUNTERS, &c), 0);
    struct wm_slowpath sp;
    struct wm_slowpath_config cfg = { .size = sizeof(cfg), .max_new_per_sec = 100, .burst = 5,
                                      .tick_hz = hz, .ring = ring, .table = t, .counters = c };
    CHECK_EQ(wm_slowpath_init(&sp, &cfg), 0);
    struct wm_flow_miss m[16];
    memset(m, 0, sizeof(m));
    for (int i = 0; i < 16; i++) {
        m[i].key = key_of((uint32_t)i);
        m[i].first_seen = hz;
    }
    /* 16 offered, 5 admitted (burst), 11 rate limited. */
    CHECK_EQ(wm_slowpath_push_burst(&sp, m, 16, hz), 5);
    CHECK_EQ(wm_counters_get(c, WM_SP_MISSES), 16);
    CHECK_EQ(wm_counters_get(c, WM_SP_PUSHED), 5);
    CHECK_EQ(wm_counters_get(c, WM_SP_RATE_LIMITED), 11);
    /* 100 ms later 10 more tokens (5 after the clamp to burst); the ring has
     * room for 3. */
    CHECK_EQ(wm_slowpath_push_burst(&sp, m, 5, hz + hz / 10), 3);
    CHECK_EQ(wm_counters_get(c, WM_SP_RING_FULL), 2);
    struct wm_flow_miss got[8];
    CHECK_EQ(wm_ring_sc_dequeue_burst(ring, got, 8), 8);
    CHECK_EQ(got[0].key.src_addr, m[0].key.src_addr);
    CHECK_EQ(got[0].first_seen, hz);
    /* A full table sheds misses before they cost a token. */
    struct wm_flow_decision d = allow_as(1);
    for (uint32_t i = 0; i < 4; i++) {
        struct wm_flow_key k = key_of(1000 + i);
        CHECK(wm_flow_table_install(t, &k, &d, 0) >= 0);
    }
    CHECK_EQ(wm_slowpath_push_burst(&sp, m, 4, 2 * hz), 0);
    CHECK_EQ(wm_counters_get(c, WM_SP_TABLE_FULL), 4);
    uint64_t sum = 0;
    for (uint32_t i = WM_SP_PUSHED; i < WM_SP_N_COUNTERS; i++)
        sum += wm_counters_get(c, i);
    CHECK_EQ(sum, wm_counters_get(c, WM_SP_MISSES)); /* each miss in exactly one outcome */
    /* Wrong ring element size refused. */
    struct wm_ring *r64;
    CHECK_EQ(wm_ring_create("x", 64, 8, &r64), 0);
    cfg.ring = r64;
    CHECK_EQ(wm_slowpath_init(&sp, &cfg), -EINVAL);
    wm_ring_destroy(r64);
    wm_ring_destroy(ring);
    wm_counters_destroy(c);
    wm_flow_table_destroy(t);
}

int main(void)
{
    test_basic();
    test_capacity_and_tombstones();
    test_expire();
    test_placeable();
    test_rate();
    test_slowpath();
    return check_finish("test_flow");
}
