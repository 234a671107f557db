/* payload.h - what the load generator puts in each UDP datagram.
 *
 * One place for packet contents, so that it can switch to the shared codec
 * (native/codec) later:
 *
 *  - the built-in generator: MoldUDP64 downstream packets carrying OUCH 5.0
 *    Enter Order messages, with a sequence number per session;
 *  - a capture (--pcap): the UDP payloads (or whole frames) of any pcap or
 *    pcapng file, read through the library's pcap backend, sent in order
 *    and repeated.
 *
 * MoldUDP64 packet (big-endian numbers):
 *    0  Session         10  ASCII, space padded
 *   10  SequenceNumber   8  of the first message in the packet
 *   18  MessageCount     2
 *   20  blocks: Length 2, then Length bytes of message
 *
 * OUCH 5.0 Enter Order ('O'), 47 bytes (Nasdaq OUCH 5.0 specification):
 *    0  Type                         1  'O'
 *    1  UserRefNum                   4  u32, day-unique, increasing per account
 *    5  Side                         1  'B' buy, 'S' sell, 'T' short, 'E' short exempt
 *    6  Quantity                     4  u32 shares
 *   10  Symbol                       8  ASCII, space padded
 *   18  Price                        8  u64, 4 implied decimals
 *   26  TimeInForce                  1  '0' day, '3' IOC, '5' GTX, '6' GTT, 'E' after hours
 *   27  Display                      1  'Y' visible, 'N' hidden, 'A' attributable
 *   28  Capacity                     1  'A' agency, 'P' principal, 'R' riskless, 'O' other
 *   29  InterMarketSweepEligibility  1  'Y' / 'N'
 *   30  CrossType                    1  'N' continuous market, 'O', 'C', 'H', ...
 *   31  ClOrdID                     14  ASCII, space padded
 *   45  AppendageLength              2  u16, 0: no optional appendage
 */
#ifndef LOADGEN_PAYLOAD_H
#define LOADGEN_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#define LG_MOLD_HEADER 20
#define LG_OUCH_ENTER_LEN 47
#define LG_MAX_SESSIONS 256
#define LG_MAX_PAYLOAD 9000
#define LG_MIX_LIVE 64

struct lg_record {
    uint32_t offset;             /* into the arena */
    uint32_t len;
};

struct lg_source {
    int from_pcap;
    int frames;                  /* pcap: whole Ethernet frames, not payloads */
    /* built-in generator */
    uint32_t sessions;
    uint32_t msgs_per_packet;
    uint64_t next_seq[LG_MAX_SESSIONS];
    uint32_t next_ref[LG_MAX_SESSIONS];
    char session_name[LG_MAX_SESSIONS][10];
    /* realistic mix (lg_source_mix): per session, its live order refs */
    int mix;
    uint32_t n_symbols;
    char symbols[16][8];
    uint64_t mid, tick;
    uint64_t rng[LG_MAX_SESSIONS];
    uint32_t live[LG_MAX_SESSIONS][LG_MIX_LIVE];
    uint32_t n_live[LG_MAX_SESSIONS];
    uint64_t mix_counts[4];      /* passive, aggressive, cancel, replace */
    /* capture */
    uint8_t *arena;
    struct lg_record *records;
    uint64_t n_records;
    uint64_t next_record;
};

/* The built-in generator: `sessions` MoldUDP64 sessions, `msgs` Enter Order
 * messages per packet.  Returns 0 or -EINVAL. */
int lg_source_ouch(struct lg_source *s, uint32_t sessions, uint32_t msgs);
/* The realistic mix: like lg_source_ouch, but each message is drawn (seeded
 * per session) from passive Enter Orders a few ticks off `mid` (55%),
 * aggressive ones crossing it (15%), Cancels (20%) and Replaces (10%) of the
 * session's own recent orders; symbols: comma-separated (at most 16).
 * Prices in Price(4) units, multiples of tick.  Returns 0 or -EINVAL. */
int lg_source_mix(struct lg_source *s, uint32_t sessions, uint32_t msgs, const char *symbols,
                  uint64_t mid, uint64_t tick, uint64_t seed);
/* A MoldUDP64 heartbeat of `session` (count 0, its next sequence number):
 * a client opens with one so that the appliance learns its flow. */
uint32_t lg_heartbeat(const struct lg_source *s, uint32_t session, uint8_t *buf);

/* A capture: payloads (frames = 0) or frames (frames = 1).  Returns 0 or
 * -errno, with a message on stderr. */
int lg_source_pcap(struct lg_source *s, const char *path, int frames);
void lg_source_free(struct lg_source *s);

/* Write the next packet of `session` into buf (cap bytes); returns its
 * length, or 0 when it does not fit. */
uint32_t lg_next_payload(struct lg_source *s, uint32_t session, uint8_t *buf, uint32_t cap);

/* Bytes the generator's packets take (for sizing). */
uint32_t lg_max_payload(const struct lg_source *s);

#endif
