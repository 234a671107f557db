/* xsk_echo_min - the floor for an AF_XDP UDP echo: libbpf and libxdp used
 * directly, nothing of the backend (native/nic/nic_xdp.c) in the way.
 *
 *   xsk_echo_min --ifname IF --port P [--addr IP] [--mode native|skb] [--cpu N]
 *                [--duration S] [--obj build/release/bpf/wm_xdp.o] [--stamp]
 *
 * The project's XDP program (the object file the library embeds, loaded
 * from the build directory) steers UDP to --port into one copy-mode socket
 * on queue 0.  The loop answers each frame in place: MACs, addresses and
 * ports swapped, UDP checksum cleared (legal for IPv4), the received UMEM
 * frame itself handed to the tx ring (no copy), one sendto kick per burst,
 * then the completion ring reaped straight into the fill ring.  Every
 * frame starts in the fill ring and every ring has a slot per frame, so no
 * reserve can fail.  Prints a ready line with the port and mode, then
 * {"echoed": N} at the end, like `nic_echo server`, so the same client and
 * the same driver (tools/bench/bench_nic.py) measure it.
 *
 * --stamp writes two TSC readings into each reply's UDP payload (bytes 16
 * and 24: when the loop saw the frame, just before the sendto kick), for
 * `nic_echo client --breakdown`, which splits the round trip at them (the
 * TSC is shared by the cores here).
 *
 * A reference, not a backend: no statistics, no stale-program handling
 * (bench_nic.py clears the interface before each case), queue 0 only. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "bpf/wm_xdp_maps.h"
#include "nic_bench.h"

#define N_FRAMES 1024u
#define FRAME 2048u
#define RING 1024u  /* every ring: as many slots as frames, so none ever fills */
#define BATCH 32u
/* --stamp: where the TSC readings go (frame offsets: Ethernet 14 + IPv4 20 + UDP 8
 * = payload at 42; the client's sequence number is at payload 0) */
#define STAMP_SEEN (42 + 16)
#define STAMP_KICK (42 + 24)
#define STAMP_END (42 + 32)

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

/* Swap an Ethernet/IPv4/UDP frame in place; 0 when it is not one. */
static int swap_in_place(uint8_t *f, uint32_t len)
{
    if (len < 42 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 17)
        return 0;
    uint32_t ihl = (uint32_t)(f[14] & 0x0f) * 4;
    if (ihl < 20 || len < 14 + ihl + 8)
        return 0;
    uint8_t t[6];
    memcpy(t, f, 6);
    memcpy(f, f + 6, 6);
    memcpy(f + 6, t, 6);
    memcpy(t, f + 26, 4);
    memcpy(f + 26, f + 30, 4);
    memcpy(f + 30, t, 4);
    uint8_t *udp = f + 14 + ihl;
    memcpy(t, udp, 2);
    memcpy(udp, udp + 2, 2);
    memcpy(udp + 2, t, 2);
    udp[6] = udp[7] = 0;
    return 1;
}

static int map_fd(struct bpf_object *obj, const char *name)
{
    struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
    return m ? bpf_map__fd(m) : -1;
}

/* A socket of the previous case is torn down asynchronously and keeps the
 * queue busy for a moment: retry for up to a second, as the backend does. */
static int create_socket(struct xsk_socket **xsk, const char *ifname, struct xsk_umem *umem,
                         struct xsk_ring_cons *rx, struct xsk_ring_prod *tx,
                         const struct xsk_socket_config *cfg)
{
    for (int tries = 0;; tries++) {
        int rc = xsk_socket__create(xsk, ifname, 0, umem, rx, tx, cfg);
        if (rc != -EBUSY || tries == 50)
            return rc;
        memset(rx, 0, sizeof *rx);
        memset(tx, 0, sizeof *tx);
        nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
    }
}

int main(int argc, char **argv)
{
    const char *ifname = NULL, *addr = NULL, *mode = "native", *obj_path = NULL;
    int port = 0, cpu = -1, stamp = 0;
    double duration = 10;
    static const struct option lo[] = {
        { "ifname", 1, 0, 'I' }, { "port", 1, 0, 'p' },     { "addr", 1, 0, 'a' },
        { "mode", 1, 0, 'm' },   { "cpu", 1, 0, 'c' },      { "duration", 1, 0, 'd' },
        { "obj", 1, 0, 'o' },    { "stamp", 0, 0, 's' },    { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'I': ifname = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'a': addr = optarg; break;
        case 'm': mode = optarg; break;
        case 'c': cpu = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'o': obj_path = optarg; break;
        case 's': stamp = 1; break;
        default: return 2;
        }
    }
    uint32_t local = 0;
    bool native = strcmp(mode, "native") == 0;
    if (ifname == NULL || port <= 0 || port > 65535 || (!native && strcmp(mode, "skb") != 0) ||
        (addr && inet_pton(AF_INET, addr, &local) != 1)) {
        fprintf(stderr, "usage: xsk_echo_min --ifname IF --port P [--addr IP] "
                        "[--mode native|skb] [--cpu N] [--duration S] [--obj FILE] [--stamp]\n");
        return 2;
    }
    /* The object next to the library: <build>/bench/xsk_echo_min -> <build>/bpf/wm_xdp.o */
    char path[PATH_MAX], self[PATH_MAX];
    if (obj_path == NULL) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return 1;
        self[n] = '\0';
        snprintf(path, sizeof path, "%s/../bpf/wm_xdp.o", dirname(self));
        obj_path = path;
    }
    int ifindex = (int)if_nametoindex(ifname);
    if (ifindex == 0 || nb_pin(cpu) < 0) {
        fprintf(stderr, "xsk_echo_min: no interface %s, or cannot pin\n", ifname);
        return 1;
    }

    struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
    if (obj == NULL || bpf_object__load(obj) < 0) {
        fprintf(stderr, "xsk_echo_min: cannot load %s: %s\n", obj_path, strerror(errno));
        return 1;
    }
    struct bpf_program *prog = bpf_object__find_program_by_name(obj, WM_XDP_PROG_NAME);
    int xsks = map_fd(obj, "wm_xsks"), ports = map_fd(obj, "wm_ports"), cfg = map_fd(obj, "wm_cfg");
    if (prog == NULL || xsks < 0 || ports < 0 || cfg < 0) {
        fprintf(stderr, "xsk_echo_min: %s is not wirematch's XDP program\n", obj_path);
        return 1;
    }
    uint32_t k = WM_XDP_CFG_ADDR, one = 1, key = (uint32_t)port, pid = (uint32_t)getpid();
    uint8_t on = 1;
    bpf_map_update_elem(cfg, &k, &local, BPF_ANY);
    k = WM_XDP_CFG_N_PORTS;
    bpf_map_update_elem(cfg, &k, &one, BPF_ANY);
    k = WM_XDP_CFG_OWNER_PID;
    bpf_map_update_elem(cfg, &k, &pid, BPF_ANY);
    bpf_map_update_elem(ports, &key, &on, BPF_ANY);
    uint32_t xflags = native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
    if (bpf_xdp_attach(ifindex, bpf_program__fd(prog), xflags | XDP_FLAGS_UPDATE_IF_NOEXIST,
                       NULL) < 0) {
        fprintf(stderr, "xsk_echo_min: cannot attach to %s: %s\n", ifname, strerror(errno));
        return 1;
    }

    int rc = 1;
    struct xsk_ring_prod fill, tx;
    struct xsk_ring_cons comp, rx;
    memset(&fill, 0, sizeof fill);  /* libxdp 1.3 leaves the cached indices alone */
    memset(&comp, 0, sizeof comp);
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);
    struct xsk_umem *umem = NULL;
    struct xsk_socket *xsk = NULL;
    size_t area_len = (size_t)N_FRAMES * FRAME;
    uint8_t *area = mmap(NULL, area_len, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    struct xsk_umem_config ucfg = { .fill_size = RING, .comp_size = RING, .frame_size = FRAME };
    struct xsk_socket_config scfg = {
        .rx_size = RING, .tx_size = RING,
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
        .xdp_flags = xflags, .bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY,
    };
    int err = -ENOMEM;
    if (area == MAP_FAILED ||
        (err = xsk_umem__create(&umem, area, area_len, &fill, &comp, &ucfg)) != 0 ||
        (err = create_socket(&xsk, ifname, umem, &rx, &tx, &scfg)) != 0 ||
        (err = xsk_socket__update_xskmap(xsk, xsks)) != 0) {
        fprintf(stderr, "xsk_echo_min: AF_XDP set-up failed: %s\n", strerror(-err));
        goto out;
    }
    int fd = xsk_socket__fd(xsk);
    uint32_t idx = 0;
    xsk_ring_prod__reserve(&fill, N_FRAMES, &idx);
    for (uint32_t i = 0; i < N_FRAMES; i++)
        *xsk_ring_prod__fill_addr(&fill, idx + i) = (uint64_t)i * FRAME;
    xsk_ring_prod__submit(&fill, N_FRAMES);

    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    printf("{\"ready\": true, \"port\": %d, \"mode\": \"xsk_echo_min %s mode, copy, "
           "need_wakeup, swap in place\"}\n", port, mode);
    fflush(stdout);

    double end = nb_now() + duration;
    uint64_t spins = 0, echoed = 0;
    while (!stop) {
        uint32_t ri = 0, ti = 0;
        uint32_t n = xsk_ring_cons__peek(&rx, BATCH, &ri);
        if (n == 0) {
            if ((++spins & 0xffff) == 0 && nb_now() > end)
                break;
            continue;
        }
        /* Frames in flight never exceed N_FRAMES = RING: the reserve succeeds. */
        xsk_ring_prod__reserve(&tx, n, &ti);
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++) {
            const struct xdp_desc *d = xsk_ring_cons__rx_desc(&rx, ri + i);
            uint8_t *f = xsk_umem__get_data(area, d->addr);
            if (!swap_in_place(f, d->len)) {
                /* not IPv4/UDP: straight back to the fill ring */
                uint32_t fi = 0;
                xsk_ring_prod__reserve(&fill, 1, &fi);
                *xsk_ring_prod__fill_addr(&fill, fi) = d->addr;
                xsk_ring_prod__submit(&fill, 1);
                continue;
            }
            if (stamp && d->len >= STAMP_END) {
                uint64_t seen = wm_tsc_start();
                memcpy(f + STAMP_SEEN, &seen, 8);
            }
            struct xdp_desc *t = xsk_ring_prod__tx_desc(&tx, ti + m++);
            t->addr = d->addr;
            t->len = d->len;
            t->options = 0;
        }
        tx.cached_prod -= n - m;
        xsk_ring_cons__release(&rx, n);
        if (m) {
            if (stamp)
                for (uint32_t i = 0; i < m; i++) {
                    const struct xdp_desc *t = xsk_ring_prod__tx_desc(&tx, ti + i);
                    uint64_t kick = wm_tsc_start();
                    if (t->len >= STAMP_END)
                        memcpy((uint8_t *)xsk_umem__get_data(area, t->addr) + STAMP_KICK, &kick, 8);
                }
            xsk_ring_prod__submit(&tx, m);
            if (xsk_ring_prod__needs_wakeup(&tx))
                sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
        }
        echoed += m;
        /* Copy mode completes inside the sendto: sent frames back to the fill ring. */
        uint32_t ci, done = xsk_ring_cons__peek(&comp, RING, &ci);
        if (done) {
            uint32_t fi = 0;
            xsk_ring_prod__reserve(&fill, done, &fi);
            for (uint32_t i = 0; i < done; i++)
                *xsk_ring_prod__fill_addr(&fill, fi + i) = *xsk_ring_cons__comp_addr(&comp, ci + i);
            xsk_ring_prod__submit(&fill, done);
            xsk_ring_cons__release(&comp, done);
        }
    }
    printf("{\"echoed\": %llu}\n", (unsigned long long)echoed);
    rc = 0;
out:
    if (xsk)
        xsk_socket__delete(xsk);
    if (umem)
        xsk_umem__delete(umem);
    if (area != MAP_FAILED)
        munmap(area, area_len);
    bpf_xdp_detach(ifindex, xflags, NULL);
    bpf_object__close(obj);
    return rc;
}
