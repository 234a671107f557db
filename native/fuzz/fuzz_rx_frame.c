/* fuzz_rx_frame.c - libFuzzer target: the rx stage's receive path for frame
 * backends, as far as it reads wire bytes: Ethernet/VLAN/IPv4/UDP parsing
 * (wm_app_parse_frame), then MoldUDP64 decode and OUCH inbound decode of
 * every block.  Oracles: no crash or sanitizer report; an accepted frame's
 * payload lies inside the frame and its length is the UDP length minus 8. */
#include <stdlib.h>
#include <string.h>

#include "wirematch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65535)
        return 0;
    uint8_t *buf = malloc(size ? size : 1);   /* exact size: ASan sees overreads */
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    uint32_t src, dst, plen;
    uint16_t sport, dport, vlan;
    const uint8_t *payload;
    int r = wm_app_parse_frame(buf, (uint32_t)size, &src, &dst, &sport, &dport, &vlan, &payload,
                               &plen);
    if (r == 0) {
        if (payload < buf || payload + plen > buf + size || vlan > 0x0fff)
            abort();
        uint32_t ulen = (uint32_t)payload[-4] << 8 | payload[-3];
        if (ulen != plen + 8)
            abort();
        struct wm_codec_stats st;
        struct wm_mold_packet pkt;
        memset(&st, 0, sizeof(st));
        if (wm_mold_decode(payload, plen, &pkt, &st) == 0 && pkt.count != 0xffff) {
            uint16_t len;
            const uint8_t *m;
            uint32_t n = 0;
            while ((m = wm_mold_next_block(&pkt, &len)) != NULL) {
                struct wm_ouch_in in;
                wm_ouch_decode_in(m, len, &in, &st);
                n++;
            }
            if (n != pkt.count)
                abort();
        }
    } else if (r <= 0 || r >= WM_RX_N_COUNTERS) {
        abort();
    }
    free(buf);
    return 0;
}
