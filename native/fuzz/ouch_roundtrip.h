/* ouch_roundtrip.h - the body both OUCH libFuzzer targets share.
 * Oracles: no crash or sanitizer report; a reason is counted exactly once;
 * what decodes re-encodes to a message that decodes again and re-encodes
 * to the same bytes (appendage tags are written in ascending order, so the
 * first re-encoding may reorder them, the second must be stable).
 *
 * Define MSG_T, DECODE and ENCODE, then include this file. */
#include <stdlib.h>
#include <string.h>

#include "wirematch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wm_codec_stats st;
    MSG_T m, m2;
    uint8_t *buf = malloc(size ? size : 1); /* exact-size copy: ASan sees overreads */
    uint8_t out[1024], out2[1024];
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    memset(&st, 0, sizeof(st));
    int r = DECODE(buf, size, &m, &st);
    if (r == 0) {
        int n = ENCODE(out, sizeof(out), &m);
        if (n <= 0 || (size_t)n != size)
            abort();
        if (DECODE(out, (size_t)n, &m2, &st) != 0)
            abort();
        int n2 = ENCODE(out2, sizeof(out2), &m2);
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
