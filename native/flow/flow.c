/* The flow table's control plane: layout, install, remove, expire, reclaim;
 * and the out-of-line readers for cffi and tools.  The data-plane lookup is
 * in wirematch/flow_inline.h; the design is in docs/flows.md.
 *
 * Every function here that changes the table is called by ONE thread at a
 * time (the control plane; the caller serialises).  That writer reads the
 * slot fields it alone writes with plain loads, and stores every field a
 * reader may load concurrently with an atomic store. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wirematch/flow.h"

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))

static size_t entries_offset(void)
{
    return ALIGN_UP(sizeof(struct wm_flow_table), WM_CACHE_LINE);
}

uint32_t wm_flow_table_capacity_for(uint32_t max_flows)
{
    if (max_flows == 0 || max_flows > WM_FLOW_MAX_FLOWS)
        return 0;
    uint64_t want = (uint64_t)max_flows + max_flows / 4 + 1;
    uint32_t cap = 16;
    while (cap < want)
        cap <<= 1;
    return cap;
}

size_t wm_flow_table_memsize(uint32_t max_flows)
{
    uint32_t cap = wm_flow_table_capacity_for(max_flows);
    if (cap == 0)
        return 0;
    return entries_offset() + (size_t)cap * sizeof(struct wm_flow_entry);
}

int wm_flow_table_init(void *mem, size_t memsize, uint32_t max_flows)
{
    size_t need = wm_flow_table_memsize(max_flows);
    if (mem == NULL || need == 0 || memsize < need || ((uintptr_t)mem & (WM_CACHE_LINE - 1)))
        return -EINVAL;
    memset(mem, 0, need);
    struct wm_flow_table *t = mem;
    t->capacity = wm_flow_table_capacity_for(max_flows);
    t->max_flows = max_flows;
    t->entries_offset = entries_offset();
    /* Publish last: pairs with the acquire in wm_flow_table_check. */
    __atomic_store_n(&t->magic, WM_FLOW_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int wm_flow_table_create(uint32_t max_flows, struct wm_flow_table **out)
{
    size_t need = wm_flow_table_memsize(max_flows);
    if (need == 0 || out == NULL)
        return -EINVAL;
    void *mem = aligned_alloc(WM_CACHE_LINE, ALIGN_UP(need, WM_CACHE_LINE));
    if (mem == NULL)
        return -ENOMEM;
    int rc = wm_flow_table_init(mem, need, max_flows);
    if (rc < 0) {
        free(mem);
        return rc;
    }
    *out = mem;
    return 0;
}

void wm_flow_table_destroy(struct wm_flow_table *t)
{
    free(t);
}

int wm_flow_table_check(const void *mem, size_t size)
{
    const struct wm_flow_table *t = mem;
    if (mem == NULL || size < sizeof(*t) ||
        __atomic_load_n(&t->magic, __ATOMIC_ACQUIRE) != WM_FLOW_MAGIC)
        return -EINVAL;
    size_t need = wm_flow_table_memsize(t->max_flows);
    if (need == 0 || need > size || t->capacity != wm_flow_table_capacity_for(t->max_flows) ||
        t->entries_offset != entries_offset())
        return -EINVAL;
    return 0;
}

/* The most slots that may be non-empty (live or tombstone): keeps an empty
 * slot in every probe chain's reach. */
static uint32_t occupancy_limit(const struct wm_flow_table *t)
{
    return t->capacity - t->capacity / 16;
}

static void store32(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void bump(uint64_t *p)
{
    __atomic_store_n(p, *p + 1, __ATOMIC_RELAXED);
}

/* Writer side of a slot's sequence word.  The odd version is stored first;
 * each covered word is then stored with release, so a reader that acquires
 * any new word also sees the odd (or a later) version at its re-check (pairs
 * with the acquire loads in wm_flow_slot_copy and wm_flow_table_read); the
 * even version is stored last with release (pairs with the reader's first
 * acquire of version: seeing it, the reader sees every word below).
 * base != NULL: new baselines for the slot's counters (a new flow starts
 * counting from the counters as they are now), stored under the same
 * version. */
static void slot_write(struct wm_flow_entry *e, uint32_t state, const uint64_t kw[2],
                       const uint64_t dw[2], uint64_t installed, const uint64_t *base)
{
    uint64_t v = e->version;
    __atomic_store_n(&e->version, v + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&e->state, state, __ATOMIC_RELEASE);
    __atomic_store_n(&e->key_words[0], kw[0], __ATOMIC_RELEASE);
    __atomic_store_n(&e->key_words[1], kw[1], __ATOMIC_RELEASE);
    __atomic_store_n(&e->decision_words[0], dw[0], __ATOMIC_RELEASE);
    __atomic_store_n(&e->decision_words[1], dw[1], __ATOMIC_RELEASE);
    __atomic_store_n(&e->installed, installed, __ATOMIC_RELEASE);
    if (base != NULL) {
        __atomic_store_n(&e->base_packets, base[0], __ATOMIC_RELEASE);
        __atomic_store_n(&e->base_bytes, base[1], __ATOMIC_RELEASE);
        __atomic_store_n(&e->base_drops, base[2], __ATOMIC_RELEASE);
    }
    __atomic_store_n(&e->version, v + 2, __ATOMIC_RELEASE);
}

/* The slot's counters now (their writer is a data-plane thread: atomic loads). */
static void counters_now(const struct wm_flow_entry *e, uint64_t c[3])
{
    c[0] = __atomic_load_n(&e->packets, __ATOMIC_RELAXED);
    c[1] = __atomic_load_n(&e->bytes, __ATOMIC_RELAXED);
    c[2] = __atomic_load_n(&e->drops, __ATOMIC_RELAXED);
}

static int valid_key(const struct wm_flow_key *k)
{
    return k != NULL && k->zero == 0 && k->vlan < 4096;
}

/* The live slot holding key, or -ENOENT.  Writer side: plain loads. */
static int find_live(const struct wm_flow_table *t, uint64_t k0, uint64_t k1)
{
    const struct wm_flow_entry *slots = wm_flow_slots(t);
    uint32_t mask = t->capacity - 1;
    uint32_t i = wm_flow_hash(k0, k1) & mask;
    for (uint32_t d = 0; d <= t->max_probe; d++, i = (i + 1) & mask) {
        const struct wm_flow_entry *e = &slots[i];
        if (e->state == WM_FLOW_EMPTY)
            return -ENOENT;
        if (e->state == WM_FLOW_LIVE && e->key_words[0] == k0 && e->key_words[1] == k1)
            return (int)i;
    }
    return -ENOENT;
}

static int install_once(struct wm_flow_table *t, uint64_t k0, uint64_t k1, const uint64_t dw[2],
                        uint64_t now)
{
    struct wm_flow_entry *slots = wm_flow_slots(t);
    uint32_t mask = t->capacity - 1;
    uint32_t i = wm_flow_hash(k0, k1) & mask;
    int64_t free_slot = -1;
    uint32_t free_dist = 0;
    int free_is_empty = 0;
    for (uint32_t d = 0; d < t->capacity; d++, i = (i + 1) & mask) {
        struct wm_flow_entry *e = &slots[i];
        if (e->state == WM_FLOW_LIVE && e->key_words[0] == k0 && e->key_words[1] == k1) {
            if (e->decision_words[0] == dw[0] && e->decision_words[1] == dw[1])
                return (int)i; /* unchanged: the slot is not touched */
            const uint64_t kw[2] = { k0, k1 };
            slot_write(e, WM_FLOW_LIVE, kw, dw, e->installed, NULL);
            bump(&t->updates);
            return (int)i;
        }
        if (e->state == WM_FLOW_TOMBSTONE && free_slot < 0) {
            free_slot = i;
            free_dist = d;
        }
        if (e->state == WM_FLOW_EMPTY) {
            if (free_slot < 0) {
                free_slot = i;
                free_dist = d;
                free_is_empty = 1;
            }
            break;
        }
        /* The key cannot sit farther than max_probe from its home slot. */
        if (free_slot >= 0 && d >= t->max_probe)
            break;
    }
    if (free_slot < 0 || t->n_live >= t->max_flows)
        return -ENOSPC;
    if (free_is_empty && t->n_live + t->n_tombstones + 1 > occupancy_limit(t))
        return -EAGAIN; /* reclaim, then try again */
    if (free_dist > t->max_probe)
        /* Raised before the entry is published (see wm_flow_lookup). */
        __atomic_store_n(&t->max_probe, free_dist, __ATOMIC_RELEASE);
    struct wm_flow_entry *e = &slots[free_slot];
    const uint64_t kw[2] = { k0, k1 };
    uint64_t base[3];
    counters_now(e, base);
    slot_write(e, WM_FLOW_LIVE, kw, dw, now, base);
    store32(&t->n_live, t->n_live + 1);
    if (!free_is_empty)
        store32(&t->n_tombstones, t->n_tombstones - 1);
    bump(&t->inserts);
    return (int)free_slot;
}

int wm_flow_table_install(struct wm_flow_table *t, const struct wm_flow_key *key,
                          const struct wm_flow_decision *d, uint64_t now)
{
    if (t == NULL || !valid_key(key) || d == NULL || d->action > WM_FLOW_ALLOW)
        return -EINVAL;
    uint64_t k0, k1, dw[2];
    wm_flow_key_words(key, &k0, &k1);
    memcpy(dw, d, sizeof(dw));
    int rc = install_once(t, k0, k1, dw, now);
    if (rc == -EAGAIN && wm_flow_table_reclaim(t) > 0)
        rc = install_once(t, k0, k1, dw, now);
    if (rc == -EAGAIN)
        rc = -ENOSPC;
    if (rc == -ENOSPC)
        bump(&t->insert_full);
    return rc;
}

static void remove_slot(struct wm_flow_table *t, struct wm_flow_entry *e, uint64_t now)
{
    slot_write(e, WM_FLOW_TOMBSTONE, e->key_words, e->decision_words, now, NULL);
    store32(&t->n_live, t->n_live - 1);
    store32(&t->n_tombstones, t->n_tombstones + 1);
    bump(&t->removes);
}

int wm_flow_table_remove(struct wm_flow_table *t, const struct wm_flow_key *key, uint64_t now)
{
    if (t == NULL || !valid_key(key))
        return -ENOENT;
    uint64_t k0, k1;
    wm_flow_key_words(key, &k0, &k1);
    int i = find_live(t, k0, k1);
    if (i < 0)
        return i;
    remove_slot(t, wm_flow_slots(t) + i, now);
    return 0;
}

/* Tombstones clean-up, in two steps, both safe under concurrent lookups.
 *
 * 1. Move each live entry back to the first tombstone between its home slot
 *    and its slot: write it there (for an instant the key is in two slots
 *    with the same decision; a reader finds either), then make the old slot
 *    a tombstone.  Its counts move with it: the new slot's baselines are set
 *    so that counters - baseline continues from the old slot's.  (A packet
 *    that a reader counts on the old slot during the move is lost from the
 *    flow's counts; a reader probing during the move may miss the key once,
 *    which the slow path sees as an already-installed flow.)
 * 2. A tombstone that no live entry's probe chain crosses (no live entry
 *    lies beyond it with its home at or before it) ends every probe that
 *    reaches it, so it can become empty: a reader that reaches it looks for
 *    a key that is not in the table.
 * Lookups stop at the first empty slot, so the invariant kept throughout is
 * "no live entry's chain crosses an empty slot". */
static void move_back(struct wm_flow_table *t, uint32_t from)
{
    struct wm_flow_entry *slots = wm_flow_slots(t);
    uint32_t mask = t->capacity - 1;
    struct wm_flow_entry *e = &slots[from];
    uint32_t home = wm_flow_hash(e->key_words[0], e->key_words[1]) & mask;
    for (uint32_t q = home; q != from; q = (q + 1) & mask) {
        struct wm_flow_entry *dst = &slots[q];
        if (dst->state != WM_FLOW_TOMBSTONE)
            continue;
        uint64_t src_now[3], dst_now[3], base[3];
        counters_now(e, src_now);
        counters_now(dst, dst_now);
        base[0] = dst_now[0] - (src_now[0] - e->base_packets);
        base[1] = dst_now[1] - (src_now[1] - e->base_bytes);
        base[2] = dst_now[2] - (src_now[2] - e->base_drops);
        /* The activity moves too: the new slot's last_seen belongs to its
         * previous flow, so the entry's own last activity goes into
         * installed (ageing uses the later of the two; a moved entry may
         * live at most one idle period longer than it should). */
        uint64_t seen = __atomic_load_n(&e->last_seen, __ATOMIC_RELAXED);
        uint64_t active = seen > e->installed ? seen : e->installed;
        slot_write(dst, WM_FLOW_LIVE, e->key_words, e->decision_words, active, base);
        slot_write(e, WM_FLOW_TOMBSTONE, e->key_words, e->decision_words, e->installed, NULL);
        return;
    }
}

static uint32_t clear_uncrossed(struct wm_flow_table *t)
{
    struct wm_flow_entry *slots = wm_flow_slots(t);
    uint32_t mask = t->capacity - 1, n = 0;
    uint64_t *crossed = calloc((t->capacity + 63) / 64, sizeof(uint64_t));
    if (crossed != NULL) {
        for (uint32_t p = 0; p < t->capacity; p++) {
            const struct wm_flow_entry *e = &slots[p];
            if (e->state != WM_FLOW_LIVE)
                continue;
            for (uint32_t q = wm_flow_hash(e->key_words[0], e->key_words[1]) & mask; q != p;
                 q = (q + 1) & mask)
                crossed[q / 64] |= 1ull << (q % 64);
        }
        for (uint32_t q = 0; q < t->capacity; q++) {
            struct wm_flow_entry *e = &slots[q];
            if (e->state == WM_FLOW_TOMBSTONE && !(crossed[q / 64] >> (q % 64) & 1)) {
                slot_write(e, WM_FLOW_EMPTY, e->key_words, e->decision_words, e->installed,
                           NULL);
                n++;
            }
        }
        free(crossed);
        return n;
    }
    /* No memory for the map: clear only tombstones followed by an empty
     * slot (walking backwards from an empty slot clears whole runs). */
    uint32_t start = 0;
    while (start < t->capacity && slots[start].state != WM_FLOW_EMPTY)
        start++;
    if (start == t->capacity)
        return 0;
    int next_empty = 1;
    for (uint32_t k = 1; k < t->capacity; k++) {
        struct wm_flow_entry *e = &slots[(start - k) & mask];
        if (e->state == WM_FLOW_TOMBSTONE && next_empty) {
            slot_write(e, WM_FLOW_EMPTY, e->key_words, e->decision_words, e->installed, NULL);
            n++;
        }
        next_empty = e->state == WM_FLOW_EMPTY;
    }
    return n;
}

uint32_t wm_flow_table_reclaim(struct wm_flow_table *t)
{
    if (t->n_tombstones == 0)
        return 0;
    struct wm_flow_entry *slots = wm_flow_slots(t);
    for (uint32_t p = 0; p < t->capacity; p++)
        if (slots[p].state == WM_FLOW_LIVE)
            move_back(t, p);
    uint32_t n = clear_uncrossed(t);
    if (n) {
        store32(&t->n_tombstones, t->n_tombstones - n);
        __atomic_store_n(&t->reclaimed, t->reclaimed + n, __ATOMIC_RELAXED);
    }
    return n;
}

/* Counters relative to the baselines, for a copy taken under the version. */
static void relative_counts(struct wm_flow_entry *c)
{
    c->packets -= c->base_packets;
    c->bytes -= c->base_bytes;
    c->drops -= c->base_drops;
}

int wm_flow_table_expire(struct wm_flow_table *t, uint64_t now, uint64_t idle_ticks,
                         struct wm_flow_entry *removed_out, uint32_t max_out)
{
    struct wm_flow_entry *slots = wm_flow_slots(t);
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->capacity; i++) {
        if (removed_out != NULL && n >= max_out)
            break;
        struct wm_flow_entry *e = &slots[i];
        if (e->state != WM_FLOW_LIVE)
            continue;
        uint64_t seen = __atomic_load_n(&e->last_seen, __ATOMIC_RELAXED);
        uint64_t ref = seen > e->installed ? seen : e->installed;
        if (now <= ref || now - ref <= idle_ticks)
            continue;
        if (removed_out != NULL) {
            struct wm_flow_entry *c = &removed_out[n];
            memcpy(c, e, 64); /* line 0: ours, stable while we are the writer */
            c->packets = __atomic_load_n(&e->packets, __ATOMIC_RELAXED);
            c->bytes = __atomic_load_n(&e->bytes, __ATOMIC_RELAXED);
            c->drops = __atomic_load_n(&e->drops, __ATOMIC_RELAXED);
            c->last_seen = seen;
            c->base_packets = e->base_packets;
            c->base_bytes = e->base_bytes;
            c->base_drops = e->base_drops;
            c->reserved2 = 0;
            relative_counts(c);
        }
        remove_slot(t, e, now);
        n++;
    }
    if (n) {
        __atomic_store_n(&t->expired, t->expired + n, __ATOMIC_RELAXED);
        wm_flow_table_reclaim(t);
    }
    return (int)n;
}

int wm_flow_table_lookup(const struct wm_flow_table *t, const struct wm_flow_key *key,
                         struct wm_flow_decision *out)
{
    if (t == NULL || key == NULL || out == NULL)
        return -EINVAL;
    return wm_flow_lookup(t, key, out);
}

void wm_flow_table_record(struct wm_flow_table *t, uint32_t slot, uint32_t packets,
                          uint64_t bytes, uint32_t drops, uint64_t now)
{
    if (t != NULL && slot < t->capacity)
        wm_flow_count(t, slot, packets, bytes, drops, now);
}

int wm_flow_table_read(const struct wm_flow_table *t, uint32_t slot, struct wm_flow_entry *out)
{
    if (t == NULL || out == NULL || slot >= t->capacity)
        return -EINVAL;
    const struct wm_flow_entry *e = wm_flow_slots(t) + slot;
    for (int i = 0; i < WM_FLOW_READ_TRIES; i++) {
        /* Same pairing as wm_flow_slot_copy (flow_inline.h). */
        uint64_t v = __atomic_load_n(&e->version, __ATOMIC_ACQUIRE);
        memset(out, 0, sizeof(*out));
        out->version = v;
        out->state = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
        out->key_words[0] = __atomic_load_n(&e->key_words[0], __ATOMIC_ACQUIRE);
        out->key_words[1] = __atomic_load_n(&e->key_words[1], __ATOMIC_ACQUIRE);
        out->decision_words[0] = __atomic_load_n(&e->decision_words[0], __ATOMIC_ACQUIRE);
        out->decision_words[1] = __atomic_load_n(&e->decision_words[1], __ATOMIC_ACQUIRE);
        out->installed = __atomic_load_n(&e->installed, __ATOMIC_ACQUIRE);
        out->base_packets = __atomic_load_n(&e->base_packets, __ATOMIC_ACQUIRE);
        out->base_bytes = __atomic_load_n(&e->base_bytes, __ATOMIC_ACQUIRE);
        out->base_drops = __atomic_load_n(&e->base_drops, __ATOMIC_ACQUIRE);
        /* Counters: one data-plane writer, relaxed (whole values). */
        out->packets = __atomic_load_n(&e->packets, __ATOMIC_RELAXED);
        out->bytes = __atomic_load_n(&e->bytes, __ATOMIC_RELAXED);
        out->drops = __atomic_load_n(&e->drops, __ATOMIC_RELAXED);
        out->last_seen = __atomic_load_n(&e->last_seen, __ATOMIC_RELAXED);
        if (!(v & 1) && v == __atomic_load_n(&e->version, __ATOMIC_RELAXED)) {
            relative_counts(out);
            return 0;
        }
        __builtin_ia32_pause();
    }
    return -EBUSY;
}

struct wm_flow_entry *wm_flow_table_entries(struct wm_flow_table *t)
{
    return wm_flow_slots(t);
}

uint32_t wm_flow_table_live(const struct wm_flow_table *t)
{
    return __atomic_load_n(&t->n_live, __ATOMIC_RELAXED);
}
