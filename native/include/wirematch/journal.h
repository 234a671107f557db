/* wirematch/journal.h - the durable journal of the engine's sequenced input.
 *
 * The engine appends every input it applies (decoded commands, control
 * commands, session logins, snapshot marks) as a record; the journal numbers
 * them 1, 2, 3, ... (the journal sequence) and a writer thread puts them in
 * files.  Everything the engine produces is a function of these records.
 *
 * Append (engine thread, the single producer): copies the record into an
 * in-memory ring (no system call, allocation or lock) and returns its
 * sequence number, or refuses with a counted reason:
 *   -EAGAIN    the ring is full (the writer is behind): transient
 *   -EMSGSIZE  payload longer than the journal's max_record
 *   -EINVAL    not a record type
 *   -<errno>   the writer holds a fault (ENOSPC, EIO, EFBIG, ...): no new
 *              input until it clears (wm_journal_fault).
 * The writer thread drains the ring with io_uring writes of up to max_batch
 * bytes at the file's end and, under WM_JOURNAL_FSYNC, an fdatasync covering
 * everything written so far (group commit: one flush for every record
 * waiting); it then publishes two positions, `written` (the kernel has the
 * bytes: they survive a process crash) and `durable` (on disk: they survive a
 * power loss).  The engine holds a reply or market-data message that reveals
 * record s until wm_journal_release_seq() >= s:
 *   WM_JOURNAL_NONE     release = appended (nothing held; files written anyway)
 *   WM_JOURNAL_WRITTEN  release = written
 *   WM_JOURNAL_FSYNC    release = durable
 *
 * Files: <dir>/journal-<first sequence, 20 digits>.wmj, preallocated
 * (fallocate) to file_size and rotated when the next record does not fit.
 * A file starts with a 64-byte header (magic, version, first sequence,
 * creation time, CRC32C); records follow back to back, each a 24-byte header
 * (CRC32C, payload length, sequence, type) and the payload padded with zeros
 * to 8 bytes; the CRC covers the header after the CRC field, the payload and
 * the padding.  Integers are little-endian.  The unused rest of a file is
 * zeros.  A file is created under a .tmp name, preallocated, given its
 * header, flushed and then renamed, so a journal file always has a whole
 * header; before a new file is created the previous one is flushed, so only
 * the last file can have a torn tail.
 *
 * Faults: a failed write, flush or file creation stops the writer where it
 * is: positions stop advancing, wm_journal_fault() returns the errno, appends
 * are refused, and the writer retries every retry_ms until it succeeds
 * (e.g. after the operator frees space), then clears the fault.  A write is
 * retried from the first byte the kernel did not take, with the same bytes
 * at the same offset, so a partial record left by a failed write is
 * completed before anything follows it; after a failed flush under
 * WM_JOURNAL_FSYNC everything since the durable position is written again
 * before the next flush.  A partial record on disk fails its CRC and is cut
 * by recovery.
 *
 * Recovery (before the writer opens): wm_journal_reader_* iterate the records
 * of a directory in sequence order across files, checking every CRC and the
 * sequence continuity.  A bad record, or non-zero bytes after the last
 * record, in the LAST file is a torn tail: iteration ends before it and the
 * report says where, how many bytes and how many intact-looking records lie
 * beyond; wm_journal_reader_truncate zeroes it so appends continue after the
 * last good record.  Any fault in an earlier file, or a sequence gap between
 * files, is an error (-EBADMSG), never a silent cut.  wm_journal_open
 * refuses (-EBADMSG) a directory with a torn tail that was not truncated.
 */
#ifndef WIREMATCH_JOURNAL_H
#define WIREMATCH_JOURNAL_H

#include "wirematch/common.h"
#include "wirematch/counters.h"

#define WM_JOURNAL_FILE_HEADER   64
#define WM_JOURNAL_RECORD_HEADER 24
#define WM_JOURNAL_DIR_MAX       200   /* bytes of the directory path */
#define WM_JOURNAL_TEXT_LEN      512

enum wm_journal_durability {
    WM_JOURNAL_NONE = 0,
    WM_JOURNAL_WRITTEN = 1,
    WM_JOURNAL_FSYNC = 2,
};

/* Record types: what the engine put in the payload. */
enum wm_journal_record_type {
    WM_JOURNAL_REC_COMMAND = 1,        /* a decoded client command */
    WM_JOURNAL_REC_CONTROL = 2,        /* halt, resume, cancel-all, ... */
    WM_JOURNAL_REC_SESSION_LOGIN = 3,  /* a login that changes session state */
    WM_JOURNAL_REC_SNAPSHOT_MARK = 4,  /* a snapshot covers everything before */
    WM_JOURNAL_REC_TYPE_MAX = 4,
};

/* What the writer was doing when it faulted. */
enum wm_journal_op {
    WM_JOURNAL_OP_NONE = 0,
    WM_JOURNAL_OP_WRITE = 1,
    WM_JOURNAL_OP_FLUSH = 2,    /* fdatasync */
    WM_JOURNAL_OP_CREATE = 3,   /* a new file: create, preallocate, header */
};

#define WM_JOURNAL_COUNTERS(X)                                                   \
    /* producer (engine thread) */                                               \
    X(WM_JOURNAL_APPENDED, "appended")                                           \
    X(WM_JOURNAL_APPENDED_BYTES, "appended_bytes")  /* headers and padding too */ \
    X(WM_JOURNAL_REFUSED_FULL, "refused_buffer_full")                            \
    X(WM_JOURNAL_REFUSED_FAULT, "refused_fault")    /* the writer holds a fault */ \
    X(WM_JOURNAL_REFUSED_TOO_LONG, "refused_too_long")                           \
    X(WM_JOURNAL_REFUSED_BAD_TYPE, "refused_bad_type")                           \
    /* writer thread */                                                          \
    X(WM_JOURNAL_WRITES, "writes")                                               \
    X(WM_JOURNAL_WRITE_BYTES, "write_bytes")                                     \
    X(WM_JOURNAL_SHORT_WRITES, "short_writes")     /* the kernel took fewer bytes */ \
    X(WM_JOURNAL_FLUSHES, "flushes")               /* fdatasync calls */         \
    X(WM_JOURNAL_ROTATIONS, "rotations")           /* files created after the first */ \
    X(WM_JOURNAL_FAULTS, "faults")                 /* failed operations */       \
    X(WM_JOURNAL_RESUMED, "resumed")               /* faults cleared by a retry */ \
    X(WM_JOURNAL_IDLE_SLEEPS, "idle_sleeps")

enum wm_journal_counter { WM_JOURNAL_COUNTERS(WM_COUNTER_ENUM) WM_JOURNAL_N_COUNTERS };

/* Why a record or file is bad (recovery). */
#define WM_JOURNAL_BAD_REASONS(X)                                                \
    X(WM_JOURNAL_BAD_NONE, "none")                                               \
    X(WM_JOURNAL_BAD_FILE_HEADER, "bad_file_header")   /* magic, version, size or CRC */ \
    X(WM_JOURNAL_BAD_FILE_NAME, "file_name_mismatch")  /* header's first sequence != name */ \
    X(WM_JOURNAL_BAD_RECORD_HEADER, "bad_record_header") /* type or reserved fields */ \
    X(WM_JOURNAL_BAD_RECORD_LENGTH, "bad_record_length") /* past the end of the file */ \
    X(WM_JOURNAL_BAD_RECORD_CRC, "bad_record_crc")                               \
    X(WM_JOURNAL_BAD_SEQUENCE, "bad_record_sequence")  /* not the next sequence */ \
    X(WM_JOURNAL_BAD_TRAILING_DATA, "trailing_data")   /* non-zero bytes after the last record */ \
    X(WM_JOURNAL_BAD_GAP, "sequence_gap")              /* next file does not continue */

enum wm_journal_bad { WM_JOURNAL_BAD_REASONS(WM_COUNTER_ENUM) WM_JOURNAL_N_BAD };

struct wm_journal_config {
    const char *dir;                  /* must exist, be writable and support fdatasync;
                                         at most WM_JOURNAL_DIR_MAX bytes */
    enum wm_journal_durability durability;
    uint64_t file_size;               /* bytes per file, preallocated (0: 64 MiB; >= 64 KiB) */
    uint32_t buffer_size;             /* ring bytes, power of two >= 64 KiB (0: 4 MiB) */
    uint32_t max_batch;               /* bytes per write (0: 256 KiB; <= buffer_size / 2) */
    uint32_t max_record;              /* payload bytes (0: 4096; <= buffer_size / 4) */
    uint32_t idle_sleep_us;           /* writer's poll interval when idle (0: 50) */
    uint32_t retry_ms;                /* interval of retries under a fault (0: 100) */
    uint64_t first_seq;               /* sequence of the first record of an empty journal (0: 1) */
};

struct wm_journal_status {
    uint64_t appended;                /* last sequence appended (0: none) */
    uint64_t written;                 /* last sequence the kernel has */
    uint64_t durable;                 /* last sequence on disk */
    uint64_t release;                 /* what the durability level releases */
    int fault;                        /* 0, or the errno of the writer's standing fault */
    enum wm_journal_op fault_op;
    uint64_t fault_seq;               /* first sequence the fault holds back */
    uint64_t file_first_seq;          /* the file being written */
    uint64_t file_offset;             /* where its next byte goes */
    char fault_text[WM_JOURNAL_TEXT_LEN];
};

/* What a recovery scan found. */
struct wm_journal_recovery {
    uint32_t files;                   /* journal files found */
    uint64_t records;                 /* good records */
    uint64_t first_seq;               /* first good record (0: none) */
    uint64_t last_seq;                /* last good record (0: none) */
    uint64_t next_seq;                /* the sequence appends continue with */
    uint64_t last_file_seq;           /* first sequence of the last file (0: no file) */
    uint64_t append_offset;           /* where appends continue in it */
    int error;                        /* 0, or the -errno the scan stopped with */
    int torn;                         /* 1: the last file has a torn tail */
    int truncated;                    /* 1: ... and it was cut */
    enum wm_journal_bad bad;          /* why the tail is torn / the journal corrupt */
    uint64_t bad_offset;              /* in `file`: the first bad byte */
    uint64_t cut_bytes;               /* torn tail: bad_offset .. last non-zero byte */
    uint64_t cut_records;             /* torn tail: intact-looking records beyond */
    char file[WM_JOURNAL_TEXT_LEN];   /* the file `bad` is in */
    char message[WM_JOURNAL_TEXT_LEN];/* one line for the operator */
};

struct wm_journal_record {
    uint64_t seq;
    uint32_t type;
    uint32_t len;
    const uint8_t *payload;           /* valid until the next call on the reader */
};

struct wm_journal;
struct wm_journal_reader;

/* Open (or create) the journal in cfg->dir, continue after its last record
 * and start the writer thread.  Start-up checks, each with its own error and
 * a line in found->message (found may be NULL):
 *   -ENOENT / -ENOTDIR   dir missing / not a directory
 *   -EACCES / -EROFS ... dir not writable (a probe file cannot be created)
 *   -EINVAL              the file system cannot fdatasync or fallocate
 *   -EBADMSG             corrupt journal, or a torn tail not truncated
 *   -ENOSPC              no space for the first file
 * and -EINVAL for a bad configuration. */
int wm_journal_open(const struct wm_journal_config *cfg, struct wm_journal_recovery *found,
                    struct wm_journal **out);
/* Stop the writer after it has written and flushed everything appended
 * (unless it holds a fault), close the files, free.  Returns 0, or the
 * -errno of the fault that kept records from disk. */
int wm_journal_close(struct wm_journal *j);

/* Producer (one thread): returns the record's sequence (>= 1) or a refusal
 * (see the top of this file). */
int64_t wm_journal_append(struct wm_journal *j, enum wm_journal_record_type type,
                          const void *payload, uint32_t len);

/* Any thread. */
uint64_t wm_journal_release_seq(const struct wm_journal *j);
uint64_t wm_journal_written_seq(const struct wm_journal *j);
uint64_t wm_journal_durable_seq(const struct wm_journal *j);
int wm_journal_fault(const struct wm_journal *j);    /* 0 or a positive errno */
void wm_journal_get_status(const struct wm_journal *j, struct wm_journal_status *out);
/* out: WM_JOURNAL_N_COUNTERS values, in the order of WM_JOURNAL_COUNTERS. */
void wm_journal_get_counters(const struct wm_journal *j, uint64_t *out);
const char *wm_journal_counter_name(uint32_t idx);
const char *wm_journal_bad_name(enum wm_journal_bad bad);
const char *wm_journal_durability_name(enum wm_journal_durability d);
/* Ask the writer to flush up to seq at any durability level, and wait (sleeping)
 * until durable >= seq: 0, -ETIMEDOUT, or -errno of a fault. */
int wm_journal_flush(struct wm_journal *j, uint64_t seq, uint32_t timeout_ms);

/* Recovery.  reader_open lists the files and checks their headers and
 * names (errors as above, with the report filled); reader_next returns 1
 * with a record, 0 at the end (torn tail or not: see the report), or
 * -EBADMSG (corruption before the last file's tail) / -errno. */
int wm_journal_reader_open(const char *dir, struct wm_journal_reader **out);
int wm_journal_reader_next(struct wm_journal_reader *r, struct wm_journal_record *rec);
const struct wm_journal_recovery *wm_journal_reader_report(const struct wm_journal_reader *r);
/* After reader_next returned 0 with a torn tail: zero it (and restore the
 * file's preallocated size) and flush.  0 (also when there is nothing to
 * cut), -EINVAL before the end was reached, or -errno. */
int wm_journal_reader_truncate(struct wm_journal_reader *r);
void wm_journal_reader_close(struct wm_journal_reader *r);
/* Scan dir to the end (and cut a torn tail when truncate is set) into *out.
 * Returns out->error. */
int wm_journal_recover(const char *dir, int truncate, struct wm_journal_recovery *out);

/* One file image in memory (the reader's core, for tools and the fuzzer):
 * check it as a whole, as the last file (torn tail allowed) or not.  Fills
 * out like a one-file scan; records are counted, not returned.  Returns 0 or
 * -EBADMSG. */
int wm_journal_scan_image(const void *image, size_t size, int last_file,
                          struct wm_journal_recovery *out);

#endif
