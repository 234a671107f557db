/* fuzz_ouch_in.c - libFuzzer target: OUCH 5.0 inbound decode and re-encode
 * (oracles in ouch_roundtrip.h). */
#define MSG_T struct wm_ouch_in
#define DECODE wm_ouch_decode_in
#define ENCODE wm_ouch_encode_in
#include "ouch_roundtrip.h"
