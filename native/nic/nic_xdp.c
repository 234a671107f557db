/* The AF_XDP backend: one XDP socket per queue, its own UMEM, and the
 * project's XDP program (native/bpf/wm_xdp.bpf.c, embedded in the library)
 * steering the appliance's UDP ports into the sockets.
 *
 * Open (cold path, kernel style: validate, allocate, unwind in reverse):
 *   1. the interface's program: reused when this process attached it for an
 *      earlier queue; otherwise whatever is attached is inspected.  A
 *      wirematch program whose owner process is gone (a crashed run) is
 *      replaced; one whose owner still runs, or anybody else's program, is
 *      an error naming it.  Ours is attached with libbpf in native (driver)
 *      mode where the driver has it, SKB mode otherwise, or as forced by
 *      the xdp_native / xdp_skb options; the mode is read back with
 *      bpf_xdp_query, never assumed.
 *   2. the UMEM: n_buffers receive frames then tx_slots transmit frames of
 *      buf_size bytes (2048 or 4096), in 2 MB hugepages when free ones
 *      exist (or required by the hugepages option), else normal pages.
 *   3. the socket, through libxdp with XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD
 *      (libxdp's own program and dispatcher stay out), bound with
 *      XDP_USE_NEED_WAKEUP and zero-copy where the driver has it (copy when
 *      asked, or when the driver refuses); XDP_OPTIONS reports which.  Its
 *      entry in the program's XSK map is the queue id.
 *
 * Receive: descriptors point into the UMEM (L2 frames, no copy); the frame
 * goes back to the fill ring on release (or, with the batched policy, on the
 * next burst once a burst's worth is free).  The fill ring holds every
 * receive frame, so it only runs empty while the caller holds frames.
 * Transmit copies each L2 frame into a free transmit frame and kicks the
 * kernel (sendto) when the ring asks for a wakeup; completions give the
 * frames back.  Busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL and its
 * budget) drives the driver from rx_burst with a recvfrom when the ring is
 * empty.
 *
 * The kernel's socket statistics (XDP_STATISTICS) are folded into the
 * queue's counters by wm_nic_flush (once per ms), wm_nic_sync_stats and at
 * close; wm_nic_xstats reads them
 * and the program's counters on demand.
 *
 * Close detaches the program when the process's last queue on that
 * interface goes; a crashed process leaves it attached, and the next open
 * (or `wirematch nic detach IFACE`) replaces it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "bpf/wm_xdp_maps.h"
#include "nic/nic_backend.h"

#ifndef SO_PREFER_BUSY_POLL
#  define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#  define SO_BUSY_POLL_BUDGET 70
#endif
#ifndef XDP_ATTACHED_MULTI
#  define XDP_ATTACHED_MULTI 4
#endif

#define HUGE_PAGE (2u << 20)

/* ---- the embedded BPF object (build/<variant>/bpf/wm_xdp.o) ---- */

#ifndef WM_XDP_OBJ_PATH
#  error "WM_XDP_OBJ_PATH (the compiled XDP program) must be given by the Makefile"
#endif
__asm__(".pushsection .rodata\n"
        ".balign 8\n"
        ".local wm_xdp_obj_start\n"
        "wm_xdp_obj_start:\n"
        ".incbin \"" WM_XDP_OBJ_PATH "\"\n"
        ".local wm_xdp_obj_end\n"
        "wm_xdp_obj_end:\n"
        ".popsection\n");
extern const unsigned char wm_xdp_obj_start[], wm_xdp_obj_end[];

/* ---- libbpf's messages: kept for our error sentences, not printed ---- */

static char bpf_msg[192];

static int bpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    char line[sizeof bpf_msg];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n > 0 && line[0] != '\n') {
        size_t len = strlen(line);
        while (len && line[len - 1] == '\n')
            line[--len] = '\0';
        memcpy(bpf_msg, line, len + 1);
    }
    return 0;
}

/* ---- per-interface attachment, shared by this process's queues ---- */

struct xdp_attach {
    int ifindex;                 /* 0 = slot free */
    char ifname[IF_NAMESIZE];
    uint32_t refs;               /* open queues using it */
    uint64_t queues;             /* bit per queue id holding a socket */
    struct bpf_object *obj;
    int prog_fd, xsks_fd, ports_fd, cfg_fd, stats_fd;
    uint32_t prog_id;
    uint32_t mode;               /* enum wm_nic_xdp_mode, read back */
    uint32_t attach_flags;       /* XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE */
    uint32_t stale_prog_id;      /* replaced at attach, or 0 */
    uint32_t local_addr;
    uint32_t n_ports;
};

#define MAX_ATTACH 16
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xdp_attach attaches[MAX_ATTACH];

static const char *mode_name(uint32_t mode)
{
    switch (mode) {
    case WM_NIC_XDP_NATIVE: return "native";
    case WM_NIC_XDP_SKB: return "skb";
    case WM_NIC_XDP_HW: return "hw";
    default: return "none";
    }
}

static bool pid_alive(int32_t pid)
{
    if (pid <= 0)
        return false;
    return kill(pid, 0) == 0 || errno == EPERM;
}

static int perm_error(int rc, const char *what)
{
    return wm_nic_error(rc, "%s needs CAP_NET_ADMIN and CAP_BPF (or CAP_SYS_ADMIN): run as root",
                        what);
}

/* A program's name and, when it is ours, its maps' contents. */
struct prog_look {
    char name[16];
    bool ours;
    int32_t owner_pid;
    uint32_t local_addr, n_ports;
    uint64_t ctr[WM_XDP_N_COUNTERS];
};

static int read_counters(int stats_fd, uint64_t out[WM_XDP_N_COUNTERS])
{
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0 || ncpu > 4096)
        return -EINVAL;
    uint64_t vals[ncpu];
    for (uint32_t k = 0; k < WM_XDP_N_COUNTERS; k++) {
        out[k] = 0;
        if (bpf_map_lookup_elem(stats_fd, &k, vals) < 0)
            return -errno;
        for (int c = 0; c < ncpu; c++)
            out[k] += vals[c];
    }
    return 0;
}

static int look_at_prog(uint32_t id, struct prog_look *pl)
{
    memset(pl, 0, sizeof *pl);
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0)
        return -errno;
    uint32_t map_ids[16];
    struct bpf_prog_info info;
    memset(&info, 0, sizeof info);
    info.nr_map_ids = 16;
    info.map_ids = (uint64_t)(uintptr_t)map_ids;
    uint32_t len = sizeof info;
    int rc = bpf_obj_get_info_by_fd(fd, &info, &len);
    close(fd);
    if (rc < 0)
        return -errno;
    memcpy(pl->name, info.name, sizeof pl->name);
    pl->name[sizeof pl->name - 1] = '\0';
    pl->ours = strcmp(pl->name, WM_XDP_PROG_NAME) == 0;
    if (!pl->ours)
        return 0;
    uint32_t n = info.nr_map_ids < 16 ? info.nr_map_ids : 16;
    for (uint32_t i = 0; i < n; i++) {
        int mfd = bpf_map_get_fd_by_id(map_ids[i]);
        if (mfd < 0)
            continue;
        struct bpf_map_info mi;
        memset(&mi, 0, sizeof mi);
        uint32_t mlen = sizeof mi;
        if (bpf_obj_get_info_by_fd(mfd, &mi, &mlen) == 0) {
            if (strcmp(mi.name, "wm_cfg") == 0) {
                uint32_t k, v = 0;
                k = WM_XDP_CFG_OWNER_PID;
                if (bpf_map_lookup_elem(mfd, &k, &v) == 0)
                    pl->owner_pid = (int32_t)v;
                k = WM_XDP_CFG_ADDR;
                if (bpf_map_lookup_elem(mfd, &k, &v) == 0)
                    pl->local_addr = v;
                k = WM_XDP_CFG_N_PORTS;
                if (bpf_map_lookup_elem(mfd, &k, &v) == 0)
                    pl->n_ports = v;
            } else if (strcmp(mi.name, "wm_stats") == 0) {
                read_counters(mfd, pl->ctr);
            }
        }
        close(mfd);
    }
    return 0;
}

static int query_ids(int ifindex, struct bpf_xdp_query_opts *qo)
{
    memset(qo, 0, sizeof *qo);
    qo->sz = sizeof *qo;
    if (bpf_xdp_query(ifindex, 0, qo) < 0)
        return -errno;
    return 0;
}

/* Detach program `id` attached in mode flag `mflag`, only if it is still the one there. */
static int detach_id(int ifindex, uint32_t id, uint32_t mflag)
{
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0)
        return -errno;
    LIBBPF_OPTS(bpf_xdp_attach_opts, ao, .old_prog_fd = fd);
    int rc = bpf_xdp_detach(ifindex, mflag | XDP_FLAGS_REPLACE, &ao);
    close(fd);
    return rc < 0 ? -errno : 0;
}

/* Look at what is attached; replace a stale wirematch program, refuse the rest. */
static int clear_stale(int ifindex, const char *ifname, uint32_t *stale_id)
{
    struct bpf_xdp_query_opts qo;
    int rc = query_ids(ifindex, &qo);
    if (rc < 0)
        return rc == -EPERM ? perm_error(rc, "querying XDP programs")
                            : wm_nic_error(rc, "cannot query the XDP programs of %s: %s", ifname,
                                           strerror(-rc));
    const struct { uint32_t id, flag; const char *mode; } slots[] = {
        { qo.drv_prog_id, XDP_FLAGS_DRV_MODE, "native" },
        { qo.skb_prog_id, XDP_FLAGS_SKB_MODE, "skb" },
        { qo.hw_prog_id, XDP_FLAGS_HW_MODE, "hw" },
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        if (slots[i].id == 0)
            continue;
        struct prog_look pl;
        rc = look_at_prog(slots[i].id, &pl);
        if (rc < 0)
            return wm_nic_error(rc, "cannot inspect XDP program %u on %s: %s", slots[i].id, ifname,
                                strerror(-rc));
        if (!pl.ours)
            return wm_nic_error(-EBUSY, "interface %s already has XDP program %u ('%s', %s mode): "
                                "detach it (ip link set dev %s xdp off) or use another interface",
                                ifname, slots[i].id, pl.name, slots[i].mode, ifname);
        if (pid_alive(pl.owner_pid) && pl.owner_pid != getpid())
            return wm_nic_error(-EBUSY, "interface %s has wirematch's XDP program %u attached by "
                                "process %d, which still runs: stop it first (one process per "
                                "interface)", ifname, slots[i].id, pl.owner_pid);
        rc = detach_id(ifindex, slots[i].id, slots[i].flag);
        if (rc < 0 && rc != -ENOENT)
            return wm_nic_error(rc, "cannot detach the stale XDP program %u from %s: %s",
                                slots[i].id, ifname, strerror(-rc));
        *stale_id = slots[i].id;
    }
    return 0;
}

static void attach_release(struct xdp_attach *a)
{
    if (a->prog_id) {
        detach_id(a->ifindex, a->prog_id, a->attach_flags);
        a->prog_id = 0;
    }
    if (a->obj)
        bpf_object__close(a->obj);
    memset(a, 0, sizeof *a);
}

static int map_fd(struct bpf_object *obj, const char *name)
{
    struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
    return m ? bpf_map__fd(m) : -1;
}

/* Attach our program to ifname (caller holds attach_lock). */
static int attach_new(struct xdp_attach *a, int ifindex, const char *ifname, uint32_t flags,
                      uint32_t local_addr)
{
    int rc;
    memset(a, 0, sizeof *a);
    a->ifindex = ifindex;
    snprintf(a->ifname, sizeof a->ifname, "%s", ifname);
    a->prog_fd = a->xsks_fd = a->ports_fd = a->cfg_fd = a->stats_fd = -1;

    rc = clear_stale(ifindex, ifname, &a->stale_prog_id);
    if (rc < 0)
        goto err;

    LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "wm_xdp");
    a->obj = bpf_object__open_mem(wm_xdp_obj_start, (size_t)(wm_xdp_obj_end - wm_xdp_obj_start),
                                  &oo);
    if (a->obj == NULL) {
        rc = wm_nic_error(-errno, "cannot open the embedded XDP program: %s (%s)",
                          strerror(errno), bpf_msg);
        goto err;
    }
    if (bpf_object__load(a->obj) < 0) {
        rc = -errno;
        if (rc == -EPERM)
            perm_error(rc, "loading an XDP program");
        else
            wm_nic_error(rc, "the kernel refused wirematch's XDP program: %s (%s)",
                         strerror(-rc), bpf_msg);
        goto err;
    }
    struct bpf_program *prog = bpf_object__find_program_by_name(a->obj, WM_XDP_PROG_NAME);
    a->prog_fd = prog ? bpf_program__fd(prog) : -1;
    a->xsks_fd = map_fd(a->obj, "wm_xsks");
    a->ports_fd = map_fd(a->obj, "wm_ports");
    a->cfg_fd = map_fd(a->obj, "wm_cfg");
    a->stats_fd = map_fd(a->obj, "wm_stats");
    if (a->prog_fd < 0 || a->xsks_fd < 0 || a->ports_fd < 0 || a->cfg_fd < 0 || a->stats_fd < 0) {
        rc = wm_nic_error(-EINVAL, "the embedded XDP program lacks a program or map");
        goto err;
    }
    uint32_t k = WM_XDP_CFG_OWNER_PID, v = (uint32_t)getpid();
    bpf_map_update_elem(a->cfg_fd, &k, &v, BPF_ANY);
    k = WM_XDP_CFG_ADDR;
    bpf_map_update_elem(a->cfg_fd, &k, &local_addr, BPF_ANY);
    a->local_addr = local_addr;

    struct bpf_prog_info pi;
    memset(&pi, 0, sizeof pi);
    uint32_t pilen = sizeof pi;
    if (bpf_obj_get_info_by_fd(a->prog_fd, &pi, &pilen) < 0) {
        rc = wm_nic_error(-errno, "cannot read the loaded XDP program's id: %s", strerror(errno));
        goto err;
    }

    /* Native where the driver has it, else SKB, unless forced. */
    bool try_native = !(flags & WM_NIC_O_XDP_SKB);
    bool try_skb = !(flags & WM_NIC_O_XDP_NATIVE);
    int native_rc = 0;
    rc = -EOPNOTSUPP;
    if (try_native) {
        rc = bpf_xdp_attach(ifindex, a->prog_fd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
                            NULL);
        rc = native_rc = rc < 0 ? -errno : 0;
        if (rc == 0)
            a->attach_flags = XDP_FLAGS_DRV_MODE;
    }
    if (rc < 0 && try_skb && rc != -EPERM) {
        rc = bpf_xdp_attach(ifindex, a->prog_fd, XDP_FLAGS_SKB_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
                            NULL);
        rc = rc < 0 ? -errno : 0;
        if (rc == 0)
            a->attach_flags = XDP_FLAGS_SKB_MODE;
    }
    if (rc < 0) {
        if (rc == -EPERM)
            perm_error(rc, "attaching an XDP program");
        else if (!try_skb)
            wm_nic_error(rc, "native (driver) XDP refused on %s: %s%s%s: drop the xdp_native "
                         "option for SKB mode", ifname, strerror(-rc), bpf_msg[0] ? " - " : "",
                         bpf_msg);
        else
            wm_nic_error(rc, "cannot attach the XDP program to %s: %s (native mode: %s)", ifname,
                         strerror(-rc), strerror(native_rc ? -native_rc : EOPNOTSUPP));
        goto err;
    }
    a->prog_id = pi.id;

    /* What did we get?  Read it back. */
    struct bpf_xdp_query_opts qo;
    rc = query_ids(ifindex, &qo);
    if (rc < 0) {
        wm_nic_error(rc, "cannot read back the XDP attachment of %s: %s", ifname, strerror(-rc));
        goto err;
    }
    if (qo.drv_prog_id == pi.id)
        a->mode = WM_NIC_XDP_NATIVE;
    else if (qo.skb_prog_id == pi.id)
        a->mode = WM_NIC_XDP_SKB;
    else if (qo.hw_prog_id == pi.id)
        a->mode = WM_NIC_XDP_HW;
    else {
        rc = wm_nic_error(-EIO, "the XDP program attached to %s is not ours after attaching it",
                          ifname);
        goto err;
    }
    return 0;

err:
    attach_release(a);
    return rc;
}

static int steer_port_locked(struct xdp_attach *a, uint16_t port, bool on)
{
    uint32_t key = port;
    uint8_t old = 0, val = on ? 1 : 0;
    if (bpf_map_lookup_elem(a->ports_fd, &key, &old) < 0)
        return -errno;
    if (old == val)
        return 0;
    if (bpf_map_update_elem(a->ports_fd, &key, &val, BPF_ANY) < 0)
        return -errno;
    a->n_ports = on ? a->n_ports + 1 : a->n_ports - 1;
    uint32_t k = WM_XDP_CFG_N_PORTS;
    bpf_map_update_elem(a->cfg_fd, &k, &a->n_ports, BPF_ANY);
    return 0;
}

/* ---- the queue ---- */

struct xdp_q {
    struct xsk_ring_cons rx;
    struct xsk_ring_prod fill;
    struct xsk_ring_prod tx;
    struct xsk_ring_cons comp;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xdp_attach *att;
    int fd;
    uint8_t *area;
    size_t area_len;
    uint32_t frame, frame_mask;  /* frame size and ~(frame - 1) as u64 mask below */
    uint64_t rx_end;             /* receive frames are [0, rx_end) */
    uint32_t n_rx;
    uint32_t burst;
    bool batched, busy_poll;
    /* released receive frames waiting for the fill ring (batched policy) */
    uint64_t *fill_stack;
    uint32_t n_fill_stack;
    /* transmit frames */
    uint64_t *tx_free;
    uint32_t n_tx_free, n_tx;
    uint32_t tx_outstanding;     /* submitted, not completed */
    struct xdp_statistics last;  /* kernel statistics already counted */
};

static void fold_kernel_stats(struct wm_nic_queue *q)
{
    struct xdp_q *x = q->priv;
    struct xdp_statistics st;
    socklen_t len = sizeof st;
    if (x->fd < 0 || getsockopt(x->fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0)
        return;
    nic_count(q, WM_NIC_DROP_KERNEL_RX, st.rx_dropped - x->last.rx_dropped);
    nic_count(q, WM_NIC_RX_INVALID_DESCS, st.rx_invalid_descs - x->last.rx_invalid_descs);
    nic_count(q, WM_NIC_TX_INVALID_DESCS, st.tx_invalid_descs - x->last.tx_invalid_descs);
    nic_count(q, WM_NIC_DROP_RX_RING_FULL, st.rx_ring_full - x->last.rx_ring_full);
    nic_count(q, WM_NIC_RX_FILL_RING_EMPTY,
              st.rx_fill_ring_empty_descs - x->last.rx_fill_ring_empty_descs);
    nic_count(q, WM_NIC_TX_RING_EMPTY, st.tx_ring_empty_descs - x->last.tx_ring_empty_descs);
    x->last = st;
}

static void xdp_close(struct wm_nic_queue *q)
{
    struct xdp_q *x = q->priv;
    if (x == NULL)
        return;
    fold_kernel_stats(q);
    pthread_mutex_lock(&attach_lock);
    if (x->att) {
        uint32_t key = q->opts.queue;
        if (x->att->queues & (1ull << key)) {
            bpf_map_delete_elem(x->att->xsks_fd, &key);
            x->att->queues &= ~(1ull << key);
        }
        if (--x->att->refs == 0)
            attach_release(x->att);
    }
    pthread_mutex_unlock(&attach_lock);
    if (x->xsk)
        xsk_socket__delete(x->xsk);
    if (x->umem)
        xsk_umem__delete(x->umem);
    if (x->area)
        munmap(x->area, x->area_len);
    free(x->fill_stack);
    free(x->tx_free);
    free(x);
    q->priv = NULL;
}

static long free_hugepages(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (f == NULL)
        return 0;
    char line[128];
    long n = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
            break;
    fclose(f);
    return n;
}

static int map_umem(struct wm_nic_queue *q, struct xdp_q *x, size_t bytes)
{
    bool want_huge = q->opts.flags & WM_NIC_O_HUGEPAGES;
    size_t huge_len = (bytes + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    void *p = mmap(NULL, huge_len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    if (p != MAP_FAILED) {
        x->area = p;
        x->area_len = huge_len;
        q->info.umem_hugepages = 1;
        return 0;
    }
    if (want_huge) {
        long have = free_hugepages();
        return wm_nic_error(-ENOMEM, "the UMEM needs %zu free 2 MB hugepages and %ld are free: "
                            "reserve them (echo N > /proc/sys/vm/nr_hugepages) or drop the "
                            "hugepages option", huge_len / HUGE_PAGE, have);
    }
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
             0);
    if (p == MAP_FAILED)
        return wm_nic_error(-ENOMEM, "cannot map a %zu-byte UMEM: %s", bytes, strerror(errno));
    x->area = p;
    x->area_len = bytes;
    return 0;
}

static int xdp_open(struct wm_nic_queue *q)
{
    const struct wm_nic_opts *o = &q->opts;
    int rc;

    if (o->ifname == NULL)
        return wm_nic_error(-EINVAL, "the af_xdp backend needs an interface (ifname)");
    int ifindex = (int)if_nametoindex(o->ifname);
    if (ifindex == 0)
        return wm_nic_error(-ENODEV, "no network interface named '%s'", o->ifname);
    if (o->buf_size != 2048 && o->buf_size != 4096)
        return wm_nic_error(-EINVAL, "buf_size %u: AF_XDP frames are 2048 or 4096 bytes",
                            o->buf_size);
    if (o->queue >= WM_XDP_MAX_QUEUES)
        return wm_nic_error(-EINVAL, "queue %u: the XDP program serves queues 0 to %d", o->queue,
                            WM_XDP_MAX_QUEUES - 1);
    if ((o->flags & WM_NIC_O_XDP_SKB) && (o->flags & WM_NIC_O_XDP_NATIVE))
        return wm_nic_error(-EINVAL, "xdp_skb and xdp_native exclude each other");
    if ((o->flags & WM_NIC_O_ZERO_COPY) && (o->flags & WM_NIC_O_COPY))
        return wm_nic_error(-EINVAL, "zero_copy and copy exclude each other");
    if (o->fill_policy > WM_NIC_FILL_BATCHED)
        return wm_nic_error(-EINVAL, "fill_policy %u: 0 (on release) or 1 (batched)",
                            o->fill_policy);
    uint32_t local_addr = 0;
    if (o->addr != NULL && inet_pton(AF_INET, o->addr, &local_addr) != 1)
        return wm_nic_error(-EINVAL, "'%s' is not an IPv4 address", o->addr);
    uint32_t ring = o->ring_size ? o->ring_size : o->n_buffers;
    if (ring & (ring - 1))
        return wm_nic_error(-EINVAL, "ring_size %u: a power of two", ring);

    struct xdp_q *x = calloc(1, sizeof *x);
    if (x == NULL)
        return wm_nic_error(-ENOMEM, "out of memory");
    x->fd = -1;
    q->priv = x;
    x->frame = o->buf_size;
    x->n_rx = o->n_buffers;
    x->n_tx = o->tx_slots;
    x->rx_end = (uint64_t)x->n_rx * x->frame;
    x->burst = o->burst;
    x->batched = o->fill_policy == WM_NIC_FILL_BATCHED;
    x->busy_poll = o->flags & WM_NIC_O_BUSY_POLL;
    x->fill_stack = calloc(x->n_rx, sizeof *x->fill_stack);
    x->tx_free = calloc(x->n_tx, sizeof *x->tx_free);
    if (!x->fill_stack || !x->tx_free) {
        xdp_close(q);
        return wm_nic_error(-ENOMEM, "out of memory");
    }

    /* 1. the interface's program */
    libbpf_print_fn_t old_print = libbpf_set_print(bpf_print);
    bpf_msg[0] = '\0';
    pthread_mutex_lock(&attach_lock);
    struct xdp_attach *a = NULL, *slot = NULL;
    for (int i = 0; i < MAX_ATTACH; i++) {
        if (attaches[i].ifindex == ifindex)
            a = &attaches[i];
        else if (attaches[i].ifindex == 0 && slot == NULL)
            slot = &attaches[i];
    }
    rc = 0;
    if (a != NULL) {
        if (a->queues & (1ull << o->queue))
            rc = wm_nic_error(-EBUSY, "queue %u of %s is already open in this process", o->queue,
                              o->ifname);
        else if (((o->flags & WM_NIC_O_XDP_SKB) && a->mode != WM_NIC_XDP_SKB) ||
                 ((o->flags & WM_NIC_O_XDP_NATIVE) && a->mode != WM_NIC_XDP_NATIVE))
            rc = wm_nic_error(-EBUSY, "%s already runs wirematch's program in %s mode for "
                              "another queue", o->ifname, mode_name(a->mode));
        else if (local_addr && a->local_addr != local_addr)
            rc = wm_nic_error(-EINVAL, "%s already steers address %s for another queue",
                              o->ifname, inet_ntoa((struct in_addr){ a->local_addr }));
    } else if (slot == NULL) {
        rc = wm_nic_error(-ENOSPC, "too many interfaces with XDP programs in this process (%d)",
                          MAX_ATTACH);
    } else {
        rc = attach_new(slot, ifindex, o->ifname, o->flags, local_addr);
        if (rc == 0)
            a = slot;
    }
    if (rc == 0) {
        a->refs++;
        x->att = a;
        if (o->port) {
            rc = steer_port_locked(a, o->port, true);
            if (rc < 0)
                wm_nic_error(rc, "cannot steer UDP port %u: %s", o->port, strerror(-rc));
        }
    }
    pthread_mutex_unlock(&attach_lock);
    libbpf_set_print(old_print);
    if (rc < 0) {
        xdp_close(q);
        return rc;
    }

    /* 2. the UMEM */
    size_t bytes = (size_t)(x->n_rx + x->n_tx) * x->frame;
    rc = map_umem(q, x, bytes);
    if (rc < 0) {
        xdp_close(q);
        return rc;
    }
    struct xsk_umem_config ucfg = {
        .fill_size = wm_pow2_at_least(x->n_rx),
        .comp_size = wm_pow2_at_least(x->n_tx),
        .frame_size = x->frame,
        .frame_headroom = 0,
    };
    rc = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fill, &x->comp, &ucfg);
    if (rc) {
        x->umem = NULL;
        xdp_close(q);
        if (rc == -EPERM)
            return perm_error(rc, "an AF_XDP UMEM");
        if (rc == -EAFNOSUPPORT)
            return wm_nic_error(rc, "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS)");
        return wm_nic_error(rc, "cannot register the AF_XDP UMEM: %s", strerror(-rc));
    }

    /* 3. the socket */
    uint16_t bind = XDP_USE_NEED_WAKEUP;
    if (o->flags & WM_NIC_O_ZERO_COPY)
        bind |= XDP_ZEROCOPY;
    if (o->flags & WM_NIC_O_COPY)
        bind |= XDP_COPY;
    struct xsk_socket_config scfg = {
        .rx_size = ring,
        .tx_size = wm_pow2_at_least(x->n_tx),
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
        .xdp_flags = x->att->attach_flags,
        .bind_flags = bind,
    };
    /* A socket of a process that just died is torn down asynchronously and
     * keeps the queue busy for a moment: retry for up to a second. */
    for (int tries = 0;; tries++) {
        rc = xsk_socket__create(&x->xsk, o->ifname, o->queue, x->umem, &x->rx, &x->tx, &scfg);
        if (rc != -EBUSY || tries == 50)
            break;
        memset(&x->rx, 0, sizeof x->rx);
        memset(&x->tx, 0, sizeof x->tx);
        nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
    }
    if (rc) {
        x->xsk = NULL;
        xdp_close(q);
        if (rc == -EOPNOTSUPP && (bind & XDP_ZEROCOPY))
            return wm_nic_error(rc, "zero-copy AF_XDP refused on %s (the driver has no zero-copy "
                                "support): drop the zero_copy option for copy mode", o->ifname);
        if (rc == -EINVAL && o->queue > 0)
            return wm_nic_error(rc, "cannot bind an AF_XDP socket to queue %u of %s: %s (see "
                                "`wirematch nic list` for its queues)", o->queue, o->ifname,
                                strerror(-rc));
        if (rc == -EPERM)
            return perm_error(rc, "an AF_XDP socket");
        if (rc == -EBUSY)
            return wm_nic_error(rc, "queue %u of %s already has an AF_XDP socket (another "
                                "process?)", o->queue, o->ifname);
        return wm_nic_error(rc, "cannot create the AF_XDP socket on %s queue %u: %s", o->ifname,
                            o->queue, strerror(-rc));
    }
    x->fd = xsk_socket__fd(x->xsk);

    pthread_mutex_lock(&attach_lock);
    rc = xsk_socket__update_xskmap(x->xsk, x->att->xsks_fd);
    if (rc == 0)
        x->att->queues |= 1ull << o->queue;
    pthread_mutex_unlock(&attach_lock);
    if (rc) {
        xdp_close(q);
        return wm_nic_error(rc, "cannot enter the socket in the XDP program's map: %s",
                            strerror(-rc));
    }

    struct xdp_options xo;
    socklen_t xolen = sizeof xo;
    if (getsockopt(x->fd, SOL_XDP, XDP_OPTIONS, &xo, &xolen) < 0) {
        rc = -errno;
        xdp_close(q);
        return wm_nic_error(rc, "cannot read the socket's XDP options: %s", strerror(-rc));
    }
    bool zc = xo.flags & XDP_OPTIONS_ZEROCOPY;

    if (x->busy_poll) {
        int one = 1, us = (int)o->napi_busy_poll_us;
        int budget = (int)(o->busy_poll_budget ? o->busy_poll_budget : o->burst);
        if (setsockopt(x->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof one) < 0 ||
            setsockopt(x->fd, SOL_SOCKET, SO_BUSY_POLL, &us, sizeof us) < 0 ||
            setsockopt(x->fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof budget) < 0) {
            rc = -errno;
            xdp_close(q);
            return wm_nic_error(rc, "busy polling refused on the AF_XDP socket (%s): it needs "
                                "Linux 5.11 and CAP_NET_ADMIN", strerror(-rc));
        }
    }

    /* Every receive frame into the fill ring; transmit frames on the free stack. */
    uint32_t idx;
    if (xsk_ring_prod__reserve(&x->fill, x->n_rx, &idx) != x->n_rx) {
        xdp_close(q);
        return wm_nic_error(-EIO, "the fill ring did not take %u frames", x->n_rx);
    }
    for (uint32_t i = 0; i < x->n_rx; i++)
        *xsk_ring_prod__fill_addr(&x->fill, idx + i) = (uint64_t)i * x->frame;
    xsk_ring_prod__submit(&x->fill, x->n_rx);
    for (uint32_t i = 0; i < x->n_tx; i++)
        x->tx_free[i] = x->rx_end + (uint64_t)(x->n_tx - 1 - i) * x->frame;
    x->n_tx_free = x->n_tx;

    q->info.xdp_mode = x->att->mode;
    q->info.xdp_prog_id = x->att->prog_id;
    q->info.stale_prog_id = x->att->stale_prog_id;
    q->info.bind_flags = XDP_USE_NEED_WAKEUP | (zc ? XDP_ZEROCOPY : XDP_COPY);
    q->info.zero_copy_rx = zc;
    q->info.zero_copy_tx = zc;
    q->info.local_addr = local_addr;
    q->info.local_port = o->port;
    q->info.fd = x->fd;
    q->info.flags = o->flags;
    char stale[48] = "";
    if (x->att->stale_prog_id)
        snprintf(stale, sizeof stale, ", replaced stale prog %u", x->att->stale_prog_id);
    snprintf(q->info.mode, sizeof q->info.mode,
             "af_xdp %s mode, %s, need_wakeup, prog %u, umem %s, fill %s, rx ring %u%s%s",
             mode_name(x->att->mode), zc ? "zero-copy" : "copy", x->att->prog_id,
             q->info.umem_hugepages ? "2M hugepages" : "4K pages",
             x->batched ? "batched" : "on release", ring, x->busy_poll ? ", busy_poll" : "",
             stale);
    return 0;
}

static inline void fill_frames(struct xdp_q *x, const uint64_t *addrs, uint32_t n)
{
    uint32_t idx;
    /* The fill ring holds every receive frame: reserving n free slots cannot fail. */
    uint32_t got = xsk_ring_prod__reserve(&x->fill, n, &idx);
    for (uint32_t i = 0; i < got; i++)
        *xsk_ring_prod__fill_addr(&x->fill, idx + i) = addrs[i];
    xsk_ring_prod__submit(&x->fill, got);
}

static int xdp_rx_burst(struct wm_nic_queue *q, struct wm_nic_pkt *pkts, uint32_t n)
{
    struct xdp_q *x = q->priv;
    if (x->batched && x->n_fill_stack && x->n_fill_stack >= (x->burst < x->n_rx ? x->burst : 1)) {
        fill_frames(x, x->fill_stack, x->n_fill_stack);
        x->n_fill_stack = 0;
    }
    uint32_t idx;
    uint32_t got = xsk_ring_cons__peek(&x->rx, n, &idx);
    if (got == 0) {
        if (x->n_fill_stack) {   /* idle: no reason to keep frames back */
            fill_frames(x, x->fill_stack, x->n_fill_stack);
            x->n_fill_stack = 0;
        }
        if (x->busy_poll || xsk_ring_prod__needs_wakeup(&x->fill)) {
            /* Drive the driver (busy poll), or wake it to use the fill ring. */
            recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
            nic_count(q, WM_NIC_RX_WAKEUPS, 1);
        }
        return 0;
    }
    uint64_t now = wm_clock_ticks(q->clk), bytes = 0;
    uint64_t mask = ~(uint64_t)(x->frame - 1);
    for (uint32_t i = 0; i < got; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
        struct wm_nic_pkt *p = &pkts[i];
        p->data = x->area + d->addr;
        p->len = d->len;
        p->kind = WM_NIC_PKT_L2;
        p->queue = q->info.queue;
        p->src_addr = p->dst_addr = 0;
        p->src_port = p->dst_port = 0;
        p->reserved = 0;
        p->rx_ticks = now;
        p->handle = d->addr & mask;
        bytes += d->len;
    }
    xsk_ring_cons__release(&x->rx, got);
    nic_count(q, WM_NIC_RX_PACKETS, got);
    nic_count(q, WM_NIC_RX_BYTES, bytes);
    nic_count(q, WM_NIC_RX_BURSTS, 1);
    return (int)got;
}

static void xdp_rx_release(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    struct xdp_q *x = q->priv;
    uint64_t mask = ~(uint64_t)(x->frame - 1);
    uint64_t addrs[64];
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t a = pkts[i].handle & mask;
        if (WM_UNLIKELY(a >= x->rx_end || pkts[i].kind != WM_NIC_PKT_L2)) {
            nic_count(q, WM_NIC_RX_ERRORS, 1);   /* not one of our receive frames */
            continue;
        }
        if (x->batched) {
            if (WM_LIKELY(x->n_fill_stack < x->n_rx))
                x->fill_stack[x->n_fill_stack++] = a;
            continue;
        }
        addrs[m++] = a;
        if (m == 64) {
            fill_frames(x, addrs, m);
            m = 0;
        }
    }
    if (m)
        fill_frames(x, addrs, m);
}

static void reap_completions(struct wm_nic_queue *q, struct xdp_q *x)
{
    uint32_t idx;
    uint32_t done = xsk_ring_cons__peek(&x->comp, x->n_tx, &idx);
    if (done == 0)
        return;
    for (uint32_t i = 0; i < done; i++)
        x->tx_free[x->n_tx_free++] = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
    xsk_ring_cons__release(&x->comp, done);
    x->tx_outstanding -= done;
    nic_count(q, WM_NIC_TX_COMPLETIONS, done);
}

static void kick_tx(struct wm_nic_queue *q, struct xdp_q *x)
{
    if (!xsk_ring_prod__needs_wakeup(&x->tx))
        return;
    if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
        errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN)
        nic_count(q, WM_NIC_TX_ERRORS, 1);
    nic_count(q, WM_NIC_TX_WAKEUPS, 1);
}

static int xdp_tx_burst(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    struct xdp_q *x = q->priv;
    reap_completions(q, x);
    uint32_t idx = 0, done = 0, queued = 0;
    uint64_t bytes = 0;
    uint32_t room = n < x->n_tx_free ? n : x->n_tx_free;
    uint32_t slots = room ? xsk_ring_prod__reserve(&x->tx, room, &idx) : 0;
    while (done < n) {
        const struct wm_nic_pkt *p = &pkts[done];
        if (WM_UNLIKELY(p->kind != WM_NIC_PKT_L2)) {
            nic_count(q, WM_NIC_TX_DROP_BAD_KIND, 1);
            done++;
            continue;
        }
        if (WM_UNLIKELY(p->len > x->frame || p->len < 14)) {
            nic_count(q, WM_NIC_TX_DROP_OVERSIZED, 1);
            done++;
            continue;
        }
        if (queued == slots) {
            nic_count(q, WM_NIC_TX_RING_FULL, 1);
            break;
        }
        uint64_t addr = x->tx_free[--x->n_tx_free];
        memcpy(x->area + addr, p->data, p->len);
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + queued);
        d->addr = addr;
        d->len = p->len;
        d->options = 0;
        queued++;
        bytes += p->len;
        done++;
    }
    if (queued < slots) {
        /* Give back reserved slots we did not fill (libxdp has no cancel for producers). */
        x->tx.cached_prod -= slots - queued;
    }
    if (queued) {
        xsk_ring_prod__submit(&x->tx, queued);
        x->tx_outstanding += queued;
        nic_count(q, WM_NIC_TX_PACKETS, queued);
        nic_count(q, WM_NIC_TX_BYTES, bytes);
        kick_tx(q, x);
    }
    return (int)done;
}

static int xdp_flush(struct wm_nic_queue *q)
{
    struct xdp_q *x = q->priv;
    /* Copy mode sends at most a budget per kick: kick until the ring is drained. */
    for (int i = 0; i < 64 && x->tx_outstanding; i++) {
        uint32_t before = x->tx_outstanding;
        kick_tx(q, x);
        reap_completions(q, x);
        if (x->tx_outstanding == before && !xsk_ring_prod__needs_wakeup(&x->tx))
            break;
    }
    return 0;
}

static int xdp_wait(struct wm_nic_queue *q, uint32_t timeout_us)
{
    struct xdp_q *x = q->priv;
    if (xsk_cons_nb_avail(&x->rx, 1))
        return 1;
    struct pollfd pfd = { .fd = x->fd, .events = POLLIN };
    struct timespec ts = { .tv_sec = timeout_us / 1000000,
                           .tv_nsec = (timeout_us % 1000000) * 1000L };
    int r = ppoll(&pfd, 1, &ts, NULL);
    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    return r > 0;
}

#define XSTAT(name, field) { name, offsetof(struct xdp_statistics, field) }

static int xdp_xstats(struct wm_nic_queue *q, struct wm_nic_xstat *out, uint32_t n)
{
    struct xdp_q *x = q->priv;
    static const struct { const char *name; size_t off; } ks[] = {
        XSTAT("xsk_rx_dropped", rx_dropped),
        XSTAT("xsk_rx_invalid_descs", rx_invalid_descs),
        XSTAT("xsk_tx_invalid_descs", tx_invalid_descs),
        XSTAT("xsk_rx_ring_full", rx_ring_full),
        XSTAT("xsk_rx_fill_ring_empty_descs", rx_fill_ring_empty_descs),
        XSTAT("xsk_tx_ring_empty_descs", tx_ring_empty_descs),
    };
    static const char *const prog_names[WM_XDP_N_COUNTERS] = { "prog_steered", "prog_passed",
                                                               "prog_dropped_no_socket" };
    struct xdp_statistics st;
    socklen_t len = sizeof st;
    if (getsockopt(x->fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0)
        return -errno;
    uint64_t pc[WM_XDP_N_COUNTERS];
    int rc = read_counters(x->att->stats_fd, pc);
    if (rc < 0)
        return rc;
    uint32_t total = 0;
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++, total++)
        if (total < n) {
            snprintf(out[total].name, sizeof out[total].name, "%s", ks[i].name);
            memcpy(&out[total].value, (const char *)&st + ks[i].off, sizeof(uint64_t));
        }
    for (uint32_t i = 0; i < WM_XDP_N_COUNTERS; i++, total++)
        if (total < n) {
            snprintf(out[total].name, sizeof out[total].name, "%s", prog_names[i]);
            out[total].value = pc[i];
        }
    return (int)total;
}

const struct wm_nic_ops wm_nic_af_xdp_ops = {
    .name = "af_xdp",
    .flags = WM_NIC_O_BUSY_POLL | WM_NIC_O_XDP_SKB | WM_NIC_O_XDP_NATIVE | WM_NIC_O_ZERO_COPY |
             WM_NIC_O_COPY | WM_NIC_O_HUGEPAGES,
    .open = xdp_open,
    .close = xdp_close,
    .rx_burst = xdp_rx_burst,
    .rx_release = xdp_rx_release,
    .tx_burst = xdp_tx_burst,
    .flush = xdp_flush,
    .fold_stats = fold_kernel_stats,
    .wait = xdp_wait,
    .xstats = xdp_xstats,
};

/* ---- control path: the interface's program from outside a queue ---- */

int wm_nic_xdp_steer_port(struct wm_nic_queue *q, uint16_t port, uint32_t on)
{
    if (q == NULL || q->ops != &wm_nic_af_xdp_ops)
        return wm_nic_error(-EOPNOTSUPP, "port steering is an af_xdp queue's");
    struct xdp_q *x = q->priv;
    pthread_mutex_lock(&attach_lock);
    int rc = steer_port_locked(x->att, port, on != 0);
    pthread_mutex_unlock(&attach_lock);
    if (rc < 0)
        return wm_nic_error(rc, "cannot update the steered ports: %s", strerror(-rc));
    return 0;
}

int wm_nic_xdp_query(const char *ifname, struct wm_nic_xdp_state *st)
{
    if (ifname == NULL || st == NULL)
        return -EINVAL;
    memset(st, 0, sizeof *st);
    int ifindex = (int)if_nametoindex(ifname);
    if (ifindex == 0)
        return wm_nic_error(-ENODEV, "no network interface named '%s'", ifname);
    struct bpf_xdp_query_opts qo;
    int rc = query_ids(ifindex, &qo);
    if (rc < 0)
        return wm_nic_error(rc, "cannot query the XDP programs of %s: %s", ifname, strerror(-rc));
    st->native_prog_id = qo.drv_prog_id;
    st->skb_prog_id = qo.skb_prog_id;
    st->hw_prog_id = qo.hw_prog_id;
    const struct { uint32_t id, mode; } slots[] = {
        { qo.drv_prog_id, WM_NIC_XDP_NATIVE },
        { qo.skb_prog_id, WM_NIC_XDP_SKB },
        { qo.hw_prog_id, WM_NIC_XDP_HW },
    };
    for (size_t i = 0; i < 3; i++) {
        if (slots[i].id == 0)
            continue;
        struct prog_look pl;
        rc = look_at_prog(slots[i].id, &pl);
        if (rc < 0) {
            if (rc == -EPERM)
                return perm_error(rc, "inspecting an XDP program");
            continue;            /* detached meanwhile */
        }
        if (st->prog_id != 0 && (st->ours || !pl.ours))
            continue;            /* describe wirematch's first, else the first */
        st->prog_id = slots[i].id;
        st->mode = slots[i].mode;
        st->ours = pl.ours;
        memcpy(st->prog_name, pl.name, sizeof st->prog_name);
        if (pl.ours) {
            st->owner_pid = pl.owner_pid;
            st->owner_alive = pid_alive(pl.owner_pid);
            st->local_addr = pl.local_addr;
            st->n_ports = pl.n_ports;
            st->steered = pl.ctr[WM_XDP_STEERED];
            st->passed = pl.ctr[WM_XDP_PASSED];
            st->dropped = pl.ctr[WM_XDP_DROPPED];
        }
    }
    return 0;
}

int wm_nic_xdp_detach(const char *ifname, uint32_t force)
{
    if (ifname == NULL)
        return -EINVAL;
    int ifindex = (int)if_nametoindex(ifname);
    if (ifindex == 0)
        return wm_nic_error(-ENODEV, "no network interface named '%s'", ifname);
    pthread_mutex_lock(&attach_lock);
    for (int i = 0; i < MAX_ATTACH; i++)
        if (attaches[i].ifindex == ifindex && attaches[i].refs) {
            pthread_mutex_unlock(&attach_lock);
            return wm_nic_error(-EBUSY, "queues of this process still use %s: close them first",
                                ifname);
        }
    pthread_mutex_unlock(&attach_lock);
    struct bpf_xdp_query_opts qo;
    int rc = query_ids(ifindex, &qo);
    if (rc < 0)
        return rc == -EPERM ? perm_error(rc, "querying XDP programs")
                            : wm_nic_error(rc, "cannot query %s: %s", ifname, strerror(-rc));
    const struct { uint32_t id, flag; } slots[] = {
        { qo.drv_prog_id, XDP_FLAGS_DRV_MODE },
        { qo.skb_prog_id, XDP_FLAGS_SKB_MODE },
        { qo.hw_prog_id, XDP_FLAGS_HW_MODE },
    };
    int detached = 0;
    for (size_t i = 0; i < 3; i++) {
        if (slots[i].id == 0)
            continue;
        struct prog_look pl;
        rc = look_at_prog(slots[i].id, &pl);
        if (rc < 0)
            return rc == -EPERM ? perm_error(rc, "inspecting an XDP program")
                                : wm_nic_error(rc, "cannot inspect program %u: %s", slots[i].id,
                                               strerror(-rc));
        if (!pl.ours)
            return wm_nic_error(-EPERM, "the XDP program on %s (%u, '%s') is not wirematch's: "
                                "leaving it (ip link set dev %s xdp off removes it)", ifname,
                                slots[i].id, pl.name, ifname);
        if (!force && pid_alive(pl.owner_pid) && pl.owner_pid != getpid())
            return wm_nic_error(-EBUSY, "wirematch's XDP program on %s belongs to process %d, "
                                "which still runs: stop it, or force", ifname, pl.owner_pid);
        rc = detach_id(ifindex, slots[i].id, slots[i].flag);
        if (rc < 0 && rc != -ENOENT)
            return wm_nic_error(rc, "cannot detach XDP program %u from %s: %s", slots[i].id,
                                ifname, strerror(-rc));
        detached++;
    }
    return detached;
}
