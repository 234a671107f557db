/* nic_bench.h - what the NIC benchmark programs share: option parsing for a
 * backend queue, pinning, timing. */
#ifndef NIC_BENCH_H
#define NIC_BENCH_H

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wirematch.h"

static inline double nb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int nb_pin(int cpu)
{
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

/* "sqpoll,defer_taskrun" -> flags; -1 on an unknown name. */
static inline int nb_flags(const char *list, uint32_t *flags)
{
    static const struct { const char *name; uint32_t bit; } names[] = {
        { "sqpoll", WM_NIC_O_SQPOLL },       { "defer_taskrun", WM_NIC_O_DEFER_TASKRUN },
        { "coop_taskrun", WM_NIC_O_COOP_TASKRUN }, { "napi", WM_NIC_O_NAPI },
        { "send_zc", WM_NIC_O_SEND_ZC },     { "no_addr", WM_NIC_O_NO_ADDR },
        { "busy_poll", WM_NIC_O_BUSY_POLL }, { "xdp_skb", WM_NIC_O_XDP_SKB },
        { "xdp_native", WM_NIC_O_XDP_NATIVE }, { "zero_copy", WM_NIC_O_ZERO_COPY },
        { "copy", WM_NIC_O_COPY },           { "hugepages", WM_NIC_O_HUGEPAGES },
    };
    *flags = 0;
    if (list == NULL || *list == '\0' || strcmp(list, "none") == 0)
        return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(tok, names[i].name) == 0)
                break;
        if (i == sizeof names / sizeof names[0])
            return -1;
        *flags |= names[i].bit;
    }
    return 0;
}

/* "--no-huge -m 256 --vdev ..." -> argv (argv[0] "nic_bench"), split on spaces; the
 * strings live in `buf`.  Returns argc. */
static inline uint32_t nb_split_args(const char *line, char *buf, size_t len, const char **argv,
                                     uint32_t max)
{
    uint32_t argc = 0;
    argv[argc++] = "nic_bench";
    if (line == NULL)
        return 0;
    snprintf(buf, len, "%s", line);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && argc < max;
         tok = strtok_r(NULL, " ", &save))
        argv[argc++] = tok;
    return argc;
}

/* Echo an Ethernet/IPv4/UDP frame back to where it came from: MACs, addresses
 * and ports swapped into out (the checksums stay valid: the sums do not
 * change; the UDP one is cleared anyway, legal for IPv4).  Returns the
 * length, or 0 when it is not such a frame. */
static inline uint32_t nb_swap_frame(const uint8_t *in, uint32_t len, uint8_t *out)
{
    if (len < 42 || len > 2048 || in[12] != 0x08 || in[13] != 0x00 || in[23] != 17)
        return 0;
    uint32_t ihl = (uint32_t)(in[14] & 0x0f) * 4;
    if (ihl < 20 || len < 14 + ihl + 8)
        return 0;
    memcpy(out, in, len);
    memcpy(out, in + 6, 6);
    memcpy(out + 6, in, 6);
    memcpy(out + 26, in + 30, 4);
    memcpy(out + 30, in + 26, 4);
    uint8_t *udp = out + 14 + ihl;
    memcpy(udp, in + 14 + ihl + 2, 2);
    memcpy(udp + 2, in + 14 + ihl, 2);
    udp[6] = udp[7] = 0;
    return len;
}

#endif
