/* fuzz_ouch_out.c - libFuzzer target: OUCH 5.0 outbound decode.
 * Oracles: no crash or sanitizer report; a reason is counted exactly once;
 * what decodes re-encodes to a message that decodes again and re-encodes
 * to the same bytes (appendage tags are written in ascending order, so the
 * first re-encoding may reorder them, the second must be stable). */
#include <stdlib.h>
#include <string.h>

#include "wirematch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wm_codec_stats st;
    struct wm_ouch_out m, m2;
    uint8_t *buf = malloc(size ? size : 1);
    uint8_t out[1024], out2[1024];
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    memset(&st, 0, sizeof(st));
    int r = wm_ouch_decode_out(buf, size, &m, &st);
    if (r == 0) {
        int n = wm_ouch_encode_out(out, sizeof(out), &m);
        if (n <= 0 || (size_t)n != size)
            abort();
        if (wm_ouch_decode_out(out, (size_t)n, &m2, &st) != 0)
            abort();
        int n2 = wm_ouch_encode_out(out2, sizeof(out2), &m2);
        if (n2 != n || memcmp(out, out2, (size_t)n) != 0)
            abort();
        if (memcmp(out, buf, 1) != 0)
            abort();
    } else if (r >= WM_CODEC_N_COUNTERS || st.counts[r] != 1) {
        abort();
    }
    free(buf);
    return 0;
}
