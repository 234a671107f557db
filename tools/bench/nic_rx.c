/* nic_rx - receive throughput of one NIC backend queue.
 *
 *   nic_rx --backend io_uring --addr 10.199.1.1 --port 9000 --options sqpoll \
 *          --cpu 0 --expect 2000000 --timeout 20
 *   nic_rx --backend af_xdp --ifname veth0 --port 9000 --options xdp_skb ...
 *   nic_rx --backend dpdk --eal "--no-huge -m 256 --no-pci --vdev net_af_xdp0,iface=veth0" ...
 *
 * Prints {"ready": true, "port": P} once the queue is open, then spins on
 * rx_burst/rx_release until `expect` packets arrived, the traffic stopped
 * for --idle seconds, or --timeout passed, and prints one JSON line: packets
 * and the rate between the first and the last packet (the queue's capacity
 * when the sender outruns it), with the kernel's drop count. */
#include <getopt.h>
#include <unistd.h>

#include "nic_bench.h"

int main(int argc, char **argv)
{
    const char *backend = "socket", *addr = NULL, *opts = NULL, *ifname = NULL, *eal = NULL;
    const char *device = NULL;
    int port = 0, cpu = -1, sqcpu = -1;
    uint64_t expect = 1000000;
    double timeout = 20, idle = 0.5;
    uint32_t burst = 64, bufs = 4096, rcvbuf = 32 << 20;
    static const struct option lo[] = {
        { "backend", 1, 0, 'b' }, { "addr", 1, 0, 'a' },    { "port", 1, 0, 'p' },
        { "options", 1, 0, 'o' }, { "cpu", 1, 0, 'c' },     { "sqpoll-cpu", 1, 0, 's' },
        { "expect", 1, 0, 'e' },  { "timeout", 1, 0, 't' }, { "idle", 1, 0, 'i' },
        { "burst", 1, 0, 'B' },   { "buffers", 1, 0, 'n' }, { "ifname", 1, 0, 'I' },
        { "eal", 1, 0, 'E' },     { "device", 1, 0, 'D' },  { "rcvbuf", 1, 0, 'R' }, { 0, 0, 0, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'b': backend = optarg; break;
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'o': opts = optarg; break;
        case 'c': cpu = atoi(optarg); break;
        case 's': sqcpu = atoi(optarg); break;
        case 'e': expect = strtoull(optarg, NULL, 10); break;
        case 't': timeout = atof(optarg); break;
        case 'i': idle = atof(optarg); break;
        case 'B': burst = (uint32_t)atoi(optarg); break;
        case 'n': bufs = (uint32_t)atoi(optarg); break;
        case 'I': ifname = optarg; break;
        case 'E': eal = optarg; break;
        case 'D': device = optarg; break;
        case 'R': rcvbuf = (uint32_t)strtoul(optarg, NULL, 10); break;
        default: return 2;
        }
    }
    struct wm_nic_opts o = { .size = sizeof o, .addr = addr, .port = (uint16_t)port,
                             .burst = (uint16_t)burst, .n_buffers = bufs, .rcvbuf = rcvbuf,
                             .sqpoll_cpu = sqcpu, .ifname = ifname, .device = device };
    char eal_buf[1024];
    const char *eal_argv[64];
    o.eal_argc = nb_split_args(eal, eal_buf, sizeof eal_buf, eal_argv, 64);
    o.eal_argv = eal_argv;
    if (nb_flags(opts, &o.flags) < 0) {
        fprintf(stderr, "nic_rx: unknown option in '%s'\n", opts);
        return 2;
    }
    if (nb_pin(cpu) < 0) {
        perror("nic_rx: pin");
        return 1;
    }
    struct wm_nic_queue *q;
    int rc = wm_nic_open(backend, &o, &q);
    if (rc < 0) {
        fprintf(stderr, "nic_rx: %s\n", wm_nic_last_error());
        return 1;
    }
    struct wm_nic_info info;
    wm_nic_info(q, &info);
    printf("{\"ready\": true, \"port\": %u}\n", info.local_port);
    fflush(stdout);

    struct wm_nic_pkt pk[256];
    uint64_t got = 0, spins = 0;
    double t_start = nb_now(), t_first = 0, t_last = 0, t = t_start;
    while (got < expect) {
        int n = wm_nic_rx_burst(q, pk, burst);
        if (n > 0) {
            if (got == 0)
                t_first = t_last = nb_now();
            got += (uint32_t)n;
            wm_nic_rx_release(q, pk, (uint32_t)n);
            if ((got & 0x3ff) < (uint64_t)n || got >= expect)
                t_last = t = nb_now();
            continue;
        }
        if (n < 0 && n != -EAGAIN) {
            fprintf(stderr, "nic_rx: rx_burst: %s\n", strerror(-n));
            break;
        }
        if ((++spins & 0xff) == 0) {
            t = nb_now();
            if (got && t - t_last > idle)
                break;
            if (t - t_start > timeout)
                break;
        }
    }
    wm_nic_flush(q);
    wm_nic_sync_stats(q);        /* fold the kernel's drop counts in */
    struct wm_counters *ctr = wm_nic_counters(q);
    double secs = t_last > t_first ? t_last - t_first : 1e-9;
    printf("{\"backend\": \"%s\", \"mode\": \"%s\", \"packets\": %llu, \"seconds\": %.6f, "
           "\"pps\": %.1f, \"drop_socket_full\": %llu, \"rx_no_buffers\": %llu, "
           "\"rx_rearms\": %llu, \"drop_rx_ring_full\": %llu, \"drop_kernel_rx\": %llu, "
           "\"drop_no_mbuf\": %llu}\n",
           info.backend, info.mode, (unsigned long long)got, secs, got > 1 ? (double)got / secs : 0.0,
           (unsigned long long)wm_counters_get(ctr, WM_NIC_DROP_SOCKET_FULL),
           (unsigned long long)wm_counters_get(ctr, WM_NIC_RX_NO_BUFFERS),
           (unsigned long long)wm_counters_get(ctr, WM_NIC_RX_REARMS),
           (unsigned long long)wm_counters_get(ctr, WM_NIC_DROP_RX_RING_FULL),
           (unsigned long long)wm_counters_get(ctr, WM_NIC_DROP_KERNEL_RX),
           (unsigned long long)wm_counters_get(ctr, WM_NIC_DROP_NO_MBUF));
    wm_nic_close(q);
    return 0;
}
