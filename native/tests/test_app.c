/* test_app.c - the appliance's data plane: the frame parser's verdicts, and
 * wm_app_create's checks and the objects it places in the region. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "wirematch.h"
#include "wirematch/ipv4.h"

/* Ethernet (+ optional VLAN) + IPv4 + UDP around `plen` payload bytes. */
static uint32_t build(uint8_t *f, int vlan, uint32_t plen, uint16_t frag, uint8_t proto)
{
    uint32_t off = 12;
    memset(f, 0, 128);
    if (vlan) {
        f[12] = 0x81, f[13] = 0x00, f[14] = 0x00, f[15] = 100;
        off = 16;
    }
    f[off] = 0x08, f[off + 1] = 0x00;
    uint8_t *ip = f + off + 2;
    uint32_t total = 20 + 8 + plen;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(total >> 8), ip[3] = (uint8_t)total;
    ip[6] = (uint8_t)(frag >> 8), ip[7] = (uint8_t)frag;
    ip[9] = proto;
    ip[12] = 10, ip[15] = 2;           /* 10.0.0.2 -> 10.0.0.1 */
    ip[16] = 10, ip[19] = 1;
    uint8_t *udp = ip + 20;
    udp[0] = 0x52, udp[1] = 0x09;      /* 21001 */
    udp[2] = 0x3a, udp[3] = 0x98;      /* 15000 */
    udp[4] = (uint8_t)((8 + plen) >> 8), udp[5] = (uint8_t)(8 + plen);
    memset(udp + 8, 'x', plen);
    return off + 2 + total;
}

static void test_parse(void)
{
    uint8_t f[128];
    uint32_t src, dst, plen;
    uint16_t sport, dport, vlan;
    const uint8_t *p;
    uint32_t n = build(f, 0, 10, 0, 17);
    CHECK_EQ(wm_app_parse_frame(f, n, &src, &dst, &sport, &dport, &vlan, &p, &plen), 0);
    CHECK_EQ(src, 0x0a000002u);
    CHECK_EQ(dst, 0x0a000001u);
    CHECK_EQ(sport, 21001);
    CHECK_EQ(dport, 15000);
    CHECK_EQ(vlan, 0);
    CHECK_EQ(plen, 10);
    CHECK(p == f + 42);
    n = build(f, 1, 10, 0, 17);
    CHECK_EQ(wm_app_parse_frame(f, n, &src, &dst, &sport, &dport, &vlan, &p, &plen), 0);
    CHECK_EQ(vlan, 100);
    CHECK(p == f + 46);
    /* Trailing Ethernet padding is not payload. */
    n = build(f, 0, 2, 0, 17);
    CHECK_EQ(wm_app_parse_frame(f, 60, &src, &dst, &sport, &dport, &vlan, &p, &plen), 0);
    CHECK_EQ(plen, 2);
    CHECK_EQ(wm_app_parse_frame(f, 13, &src, &dst, &sport, &dport, &vlan, &p, &plen),
             WM_RX_DROP_SHORT_FRAME);
    CHECK_EQ(wm_app_parse_frame(f, 30, &src, &dst, &sport, &dport, &vlan, &p, &plen),
             WM_RX_DROP_SHORT_FRAME);
    n = build(f, 0, 10, 0x2000, 17);   /* more fragments */
    CHECK_EQ(wm_app_parse_frame(f, n, &src, &dst, &sport, &dport, &vlan, &p, &plen),
             WM_RX_DROP_IP_FRAGMENT);
    n = build(f, 0, 10, 0, 6);
    CHECK_EQ(wm_app_parse_frame(f, n, &src, &dst, &sport, &dport, &vlan, &p, &plen),
             WM_RX_DROP_NOT_UDP);
    n = build(f, 0, 10, 0, 17);
    f[12] = 0x86, f[13] = 0xdd;        /* IPv6 */
    CHECK_EQ(wm_app_parse_frame(f, n, &src, &dst, &sport, &dport, &vlan, &p, &plen),
             WM_RX_DROP_NOT_IPV4);
    n = build(f, 0, 10, 0, 17);
    CHECK_EQ(wm_app_parse_frame(f, n - 1, &src, &dst, &sport, &dport, &vlan, &p, &plen),
             WM_RX_DROP_BAD_IP_HEADER);    /* IP total length beyond the frame */
    n = build(f, 0, 10, 0, 17);
    f[14 + 20 + 5] = 40;               /* UDP length beyond the IP payload */
    CHECK_EQ(wm_app_parse_frame(f, n, &src, &dst, &sport, &dport, &vlan, &p, &plen),
             WM_RX_DROP_BAD_UDP_LENGTH);
    n = build(f, 0, 10, 0, 17);
    f[14] = 0x44;                      /* IHL 16 bytes */
    CHECK_EQ(wm_app_parse_frame(f, n, &src, &dst, &sport, &dport, &vlan, &p, &plen),
             WM_RX_DROP_BAD_IP_HEADER);
}

static void test_create(void)
{
    char name[64];
    snprintf(name, sizeof(name), "wmtestapp%d", (int)getpid());
    struct wm_shm *shm;
    CHECK_EQ(wm_shm_create(name, 64 << 20, 256, WM_SHM_NO_HUGEPAGES | WM_SHM_REPLACE, &shm), 0);
    struct wm_flow_table *flows;
    CHECK_EQ(wm_flow_table_create(1024, &flows), 0);
    struct wm_app_config c;
    memset(&c, 0, sizeof(c));
    c.size = sizeof(c);
    c.n_queues = 1;
    c.n_shards = 1;
    c.shm = shm;
    c.flows = flows;
    struct wm_app *app = NULL;
    c.n_queues = 0;
    CHECK_EQ(wm_app_create(&c, &app), -EINVAL);
    CHECK(strstr(wm_app_last_error(), "queues") != NULL);
    c.n_queues = 1;
    c.in_ring = 1000;                  /* not a power of two */
    CHECK_EQ(wm_app_create(&c, &app), -EINVAL);
    c.in_ring = 0;
    c.md_queue = 3;
    CHECK_EQ(wm_app_create(&c, &app), -EINVAL);
    c.md_queue = 0;
    CHECK_EQ(wm_app_create(&c, &app), 0);
    for (const char *o = "rx.q0\0codec.q0\0slowpath.q0\0tx.q0\0engine.s0\0gateway.s0\0matcher.s0"
                         "\0in.s0\0out.q0\0ctl.s0\0free.s0\0slowpath\0answer.s0\0";
         *o; o += strlen(o) + 1)
        CHECK(wm_shm_find(shm, o, 0) != NULL);
    /* Every block wm_app_counter_block names (but the caller's nic blocks and
     * the worker blocks wm_app_start_worker makes) is in the region with
     * exactly wm_app_counter_name's counters, in order. */
    const char *stage;
    char kind;
    uint32_t nblocks = 0;
    for (uint32_t b = 0; wm_app_counter_block(b, &stage, &kind) == 0; b++, nblocks++) {
        CHECK(kind == 'q' || kind == 's' || kind == 'w');
        if (strcmp(stage, "nic") == 0 || kind == 'w')
            continue;
        char block[64];
        snprintf(block, sizeof(block), "%s.%c0", stage, kind);
        const struct wm_shm_dirent *ent = wm_shm_find(shm, block, WM_OBJ_COUNTERS);
        CHECK(ent != NULL);
        if (!ent)
            continue;
        const struct wm_counters *ctr = wm_shm_object(shm, ent);
        uint32_t i = 0;
        for (; wm_app_counter_name(stage, i); i++)
            CHECK(strcmp(wm_counters_name(ctr, i), wm_app_counter_name(stage, i)) == 0);
        CHECK_EQ(i, ctr->n);
    }
    CHECK_EQ(nblocks, 9);
    CHECK(wm_shm_find(shm, "worker.w0", WM_OBJ_COUNTERS) == NULL);
    CHECK_EQ(wm_app_counter_block(nblocks, &stage, &kind), -ENOENT);
    CHECK(strcmp(wm_app_counter_name("rx", WM_RX_DROP_FLOW_DENIED), "drop_flow_denied") == 0);
    CHECK(strcmp(wm_app_counter_name("nic", 0), wm_nic_counter_names()[0]) == 0);
    CHECK(wm_app_counter_name("rx", WM_RX_N_COUNTERS) == NULL);
    CHECK(wm_app_counter_name("engine", WM_EN_N_COUNTERS) == NULL);
    CHECK(strcmp(wm_app_counter_name("worker", WM_WK_IDLE_SLEEPS), "idle_sleeps") == 0);
    CHECK(wm_app_counter_name("worker", WM_WK_N_COUNTERS) == NULL);
    CHECK(wm_app_counter_name("nowhere", 0) == NULL);
    CHECK(wm_app_counter_name(NULL, 0) == NULL);
    /* No worker without its queue / matcher; a control request to a stopped engine. */
    struct wm_idle_policy idle = { .strategy = WM_IDLE_SLEEP };
    int tid;
    CHECK_EQ(wm_app_start_worker(app, 1, 1, &idle, &tid), -EINVAL);
    struct wm_app_ctl_answer ans;
    CHECK_EQ(wm_app_control(app, 0, WM_APP_CTL_STATUS, 0, 10, &ans), -ESRCH);
    CHECK_EQ(wm_app_add_instrument(app, 0, "WMTA", 1, 1, 100), 0);
    CHECK_EQ(wm_app_add_instrument(app, 0, "WMTA", 2, 2, 100), -EEXIST);
    CHECK_EQ(wm_app_stop(app, 10, 100), 0);
    wm_app_destroy(app);
    /* The same names again in the same region: refused, not corrupted. */
    CHECK_EQ(wm_app_create(&c, &app), -EEXIST);
    wm_flow_table_destroy(flows);
    wm_shm_close(shm);
    wm_shm_unlink(name);
}

/* The IPv4 header checksum: a known header (the example header
 * 192.168.0.1 -> 192.168.0.199 checksums to 0xb861), a header with
 * options, and zero over a header that holds its own checksum. */
static void test_ipv4_checksum(void)
{
    uint8_t h[24] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                      0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
    CHECK_EQ(wm_ipv4_checksum(h, 20), 0xb861);
    h[10] = 0xb8, h[11] = 0x61;
    CHECK_EQ(wm_ipv4_checksum(h, 20), 0);
    /* Carries folded more than once: every word 0xffff but the checksum. */
    memset(h, 0xff, sizeof(h));
    h[10] = h[11] = 0;
    CHECK_EQ(wm_ipv4_checksum(h, 24), 0x0000);
    h[0] = 0x46;                        /* IHL 6: one option word */
    h[20] = 0x01, h[21] = 0x01, h[22] = 0x01, h[23] = 0x01;
    uint16_t c = wm_ipv4_checksum(h, 24);
    h[10] = (uint8_t)(c >> 8), h[11] = (uint8_t)c;
    CHECK_EQ(wm_ipv4_checksum(h, 24), 0);
}

int main(void)
{
    test_ipv4_checksum();
    test_parse();
    test_create();
    return check_finish("test_app");
}
