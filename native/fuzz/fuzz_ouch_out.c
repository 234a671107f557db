/* fuzz_ouch_out.c - libFuzzer target: OUCH 5.0 outbound decode and re-encode
 * (oracles in ouch_roundtrip.h). */
#define MSG_T struct wm_ouch_out
#define DECODE wm_ouch_decode_out
#define ENCODE wm_ouch_encode_out
#include "ouch_roundtrip.h"
