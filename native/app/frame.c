/* app/frame.c - an Ethernet frame down to its UDP payload, in place (the rx
 * stage's parser for frame backends; on its own so that it can be fuzzed
 * without the rest of the appliance). */
#include "wirematch/app.h"

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int wm_app_parse_frame(const uint8_t *f, uint32_t len, uint32_t *src_addr, uint32_t *dst_addr,
                       uint16_t *src_port, uint16_t *dst_port, uint16_t *vlan,
                       const uint8_t **payload, uint32_t *payload_len)
{
    if (len < 14)
        return WM_RX_DROP_SHORT_FRAME;
    uint32_t off = 12;
    uint16_t type = rd16(f + off);
    *vlan = 0;
    if (type == 0x8100) {
        if (len < 18)
            return WM_RX_DROP_SHORT_FRAME;
        *vlan = rd16(f + 14) & 0x0fff;
        off += 4;
        type = rd16(f + off);
    }
    off += 2;
    if (type != 0x0800)
        return WM_RX_DROP_NOT_IPV4;
    if (len < off + 20)
        return WM_RX_DROP_SHORT_FRAME;
    const uint8_t *ip = f + off;
    uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
    uint32_t total = rd16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || off + total > len)
        return WM_RX_DROP_BAD_IP_HEADER;
    if (rd16(ip + 6) & 0x3fff)                 /* MF set or a fragment offset */
        return WM_RX_DROP_IP_FRAGMENT;
    if (ip[9] != 17)
        return WM_RX_DROP_NOT_UDP;
    if (total < ihl + 8)
        return WM_RX_DROP_BAD_UDP_LENGTH;
    const uint8_t *udp = ip + ihl;
    uint32_t ulen = rd16(udp + 4);
    if (ulen < 8 || ulen > total - ihl)
        return WM_RX_DROP_BAD_UDP_LENGTH;
    *src_addr = rd32(ip + 12);
    *dst_addr = rd32(ip + 16);
    *src_port = rd16(udp);
    *dst_port = rd16(udp + 2);
    *payload = udp + 8;
    *payload_len = ulen - 8;
    return 0;
}

