/* journal_format.h - private to native/journal: the on-disk layout and the
 * CRC32C the writer and the reader share (wirematch/journal.h describes the
 * format in words). */
#ifndef WM_JOURNAL_FORMAT_H
#define WM_JOURNAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "wirematch/journal.h"

#define WM_JOURNAL_MAGIC        0x314e524a4d4d5757ull  /* "WWMMJRN1" */
#define WM_JOURNAL_VERSION      1u
#define WM_JOURNAL_ALIGN        8u
#define WM_JOURNAL_NAME_PREFIX  "journal-"
#define WM_JOURNAL_NAME_SUFFIX  ".wmj"
#define WM_JOURNAL_NAME_DIGITS  20
/* "journal-" + 20 digits + ".wmj" */
#define WM_JOURNAL_NAME_LEN     (8 + WM_JOURNAL_NAME_DIGITS + 4)
#define WM_JOURNAL_MIN_FILE     (64u * 1024)

/* File header: 64 bytes at offset 0. */
struct wm_journal_file_header {
    uint64_t magic;        /*  0 */
    uint32_t version;      /*  8 */
    uint32_t header_len;   /* 12 WM_JOURNAL_FILE_HEADER */
    uint64_t first_seq;    /* 16 */
    uint64_t created_ns;   /* 24 CLOCK_REALTIME */
    uint64_t file_size;    /* 32 preallocated bytes */
    uint32_t record_align; /* 40 WM_JOURNAL_ALIGN */
    uint32_t reserved[4];  /* 44 zero */
    uint32_t crc;          /* 60 CRC32C of bytes 0..59 */
};

/* Record header: 24 bytes, then the payload padded to 8 bytes. */
struct wm_journal_record_header {
    uint32_t crc;          /*  0 CRC32C of bytes 4.. end of padding */
    uint32_t len;          /*  4 payload bytes */
    uint64_t seq;          /*  8 */
    uint16_t type;         /* 16 enum wm_journal_record_type */
    uint16_t flags;        /* 18 zero */
    uint32_t reserved;     /* 20 zero */
};

_Static_assert(sizeof(struct wm_journal_file_header) == WM_JOURNAL_FILE_HEADER, "file header");
_Static_assert(sizeof(struct wm_journal_record_header) == WM_JOURNAL_RECORD_HEADER,
               "record header");

/* Bytes a record of len payload bytes takes in a file. */
static inline uint64_t wm_journal_record_size(uint32_t len)
{
    return WM_JOURNAL_RECORD_HEADER + (((uint64_t)len + WM_JOURNAL_ALIGN - 1) & ~(uint64_t)(WM_JOURNAL_ALIGN - 1));
}

/* CRC32C (Castagnoli, reflected 0x82F63B78), initial and final inversion
 * included: wm_crc32c(0, "123456789", 9) == 0xE3069283.  crc continues a
 * previous result.  The SSE4.2 crc32 instruction when the CPU has it, a
 * table otherwise; both are exported for the tests. */
uint32_t wm_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t wm_crc32c_table(uint32_t crc, const void *buf, size_t len);
uint32_t wm_crc32c_sse42(uint32_t crc, const void *buf, size_t len);
int wm_crc32c_have_sse42(void);

/* A record's CRC: bytes 4..size of the record at rec (size from its len). */
static inline uint32_t wm_journal_record_crc(const uint8_t *rec, uint64_t size)
{
    return wm_crc32c(0, rec + 4, (size_t)size - 4);
}

uint32_t wm_journal_file_header_crc(const struct wm_journal_file_header *h);
/* "journal-<seq>.wmj" into buf (WM_JOURNAL_NAME_LEN + 1 bytes). */
void wm_journal_file_name(char *buf, uint64_t first_seq);
/* 1 with *seq when name is a journal file name, else 0. */
int wm_journal_parse_name(const char *name, uint64_t *seq);

#endif
