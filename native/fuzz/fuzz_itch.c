/* fuzz_itch.c - libFuzzer target: ITCH 5.0 decode.  Oracles: no crash or
 * sanitizer report; a reason is counted exactly once; what decodes
 * re-encodes to exactly the input bytes. */
#include <stdlib.h>
#include <string.h>

#include "wirematch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wm_codec_stats st;
    struct wm_itch_msg m;
    uint8_t out[64];
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    memset(&st, 0, sizeof(st));
    int r = wm_itch_decode(buf, size, &m, &st);
    if (r == 0) {
        int n = wm_itch_encode(out, sizeof(out), &m);
        if (n < 0 || (size_t)n != size || memcmp(out, buf, size) != 0)
            abort();
    } else if (r >= WM_CODEC_N_COUNTERS || st.counts[r] != 1) {
        abort();
    }
    free(buf);
    return 0;
}
