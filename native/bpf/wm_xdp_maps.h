/* wm_xdp_maps.h - the layout shared by the XDP program (wm_xdp.bpf.c) and
 * its loader (native/nic/nic_xdp.c): map sizes, indices, names. */
#ifndef WM_XDP_MAPS_H
#define WM_XDP_MAPS_H

#define WM_XDP_PROG_NAME "wm_xdp_steer"  /* how a wirematch program is recognised */
#define WM_XDP_MAX_QUEUES 64

/* wm_stats indices (per-CPU __u64) */
#define WM_XDP_STEERED 0                 /* redirected to an AF_XDP socket */
#define WM_XDP_PASSED 1                  /* not the appliance's: to the kernel */
#define WM_XDP_DROPPED 2                 /* the appliance's, but no socket on that queue */
#define WM_XDP_N_COUNTERS 3

/* wm_cfg indices (__u32) */
#define WM_XDP_CFG_ADDR 0                /* local IPv4 (network order); 0 = any */
#define WM_XDP_CFG_OWNER_PID 1           /* pid of the attaching process */
#define WM_XDP_CFG_N_PORTS 2             /* ports marked in wm_ports (kept by the loader) */
#define WM_XDP_N_CFG 3

#endif
