/* wm_xdp.bpf.c - wirematch's XDP program: steer the appliance's UDP traffic
 * into AF_XDP sockets, pass everything else to the kernel.
 *
 * A frame is steered when it is IPv4/UDP (after up to two VLAN tags), not a
 * later fragment, addressed to the configured local address (or any, when it
 * is 0), and its destination port is marked in wm_ports.  It goes to the
 * AF_XDP socket of the queue it arrived on (wm_xsks[rx_queue_index]); when
 * that queue has no socket it is dropped and counted, since the port belongs
 * to the appliance and the kernel has no listener for it.  Everything else
 * (ARP, ICMP, TCP, management UDP) is passed on untouched, so neighbour
 * resolution and ssh keep working.
 *
 * Counters (per-CPU, summed by the reader): WM_XDP_STEERED, WM_XDP_PASSED,
 * WM_XDP_DROPPED.  wm_cfg holds the local address and the pid of the process
 * that attached the program (to tell a live owner from a crashed one).
 *
 * The control plane owns the maps: nic_xdp.c fills wm_ports from the queue's
 * port and wm_nic_xdp_steer_port(); later the classifier's flow set can
 * replace the port array with a 5-tuple hash.
 *
 * Built with clang -O2 -g -target bpf (Debian also needs
 * -I/usr/include/x86_64-linux-gnu); the object is embedded in libwirematch.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "wm_xdp_maps.h"

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, WM_XDP_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} wm_xsks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 65536);
    __type(key, __u32);
    __type(value, __u8);          /* 1: UDP destination port steered */
} wm_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, WM_XDP_N_CFG);
    __type(key, __u32);
    __type(value, __u32);
} wm_cfg SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, WM_XDP_N_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} wm_stats SEC(".maps");

struct vlan_hdr {
    __be16 tci;
    __be16 proto;
};

static __always_inline int count(__u32 idx, int action)
{
    __u64 *v = bpf_map_lookup_elem(&wm_stats, &idx);
    if (v)
        *v += 1;                  /* per-CPU slot: no other writer */
    return action;
}

SEC("xdp")
int wm_xdp_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    void *cur = eth + 1;
    if (cur > end)
        return count(WM_XDP_PASSED, XDP_PASS);
    __be16 proto = eth->h_proto;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
            break;
        struct vlan_hdr *vh = cur;
        if ((void *)(vh + 1) > end)
            return count(WM_XDP_PASSED, XDP_PASS);
        proto = vh->proto;
        cur = vh + 1;
    }
    if (proto != bpf_htons(ETH_P_IP))
        return count(WM_XDP_PASSED, XDP_PASS);
    struct iphdr *ip = cur;
    if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl < 5)
        return count(WM_XDP_PASSED, XDP_PASS);
    /* A later fragment has no UDP header: the kernel reassembles it. */
    if (ip->frag_off & bpf_htons(0x1fff))
        return count(WM_XDP_PASSED, XDP_PASS);
    __u32 key = WM_XDP_CFG_ADDR;
    __u32 *local = bpf_map_lookup_elem(&wm_cfg, &key);
    if (local && *local && *local != ip->daddr)
        return count(WM_XDP_PASSED, XDP_PASS);
    struct udphdr *udp = (void *)ip + ip->ihl * 4;
    if ((void *)(udp + 1) > end)
        return count(WM_XDP_PASSED, XDP_PASS);
    __u32 port = bpf_ntohs(udp->dest);
    __u8 *steer = bpf_map_lookup_elem(&wm_ports, &port);
    if (!steer || !*steer)
        return count(WM_XDP_PASSED, XDP_PASS);
    /* The fallback action applies when the queue has no socket. */
    int act = bpf_redirect_map(&wm_xsks, ctx->rx_queue_index, XDP_DROP);
    return count(act == XDP_REDIRECT ? WM_XDP_STEERED : WM_XDP_DROPPED, act);
}

char _license[] SEC("license") = "Dual BSD/GPL";
