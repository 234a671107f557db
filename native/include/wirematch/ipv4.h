/* wirematch/ipv4.h - the IPv4 header checksum (RFC 791; the ones'-complement
 * sum of RFC 1071), for every C program that writes an IPv4 header: the
 * appliance's tx stage, the pcap backend's L4 transmit, the load generator
 * and the NIC benchmark's request builder.  Inline only (not in the cffi
 * interface: wirematch.h does not include it). */
#ifndef WIREMATCH_IPV4_H
#define WIREMATCH_IPV4_H

#include <stdint.h>

/* The checksum of the IPv4 header at h, len bytes (IHL * 4), computed with
 * its checksum field (bytes 10..11) zero; store it there big-endian.  Over
 * a header that holds its correct checksum the result is 0. */
static inline uint16_t wm_ipv4_checksum(const uint8_t *h, uint32_t len)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

#endif
