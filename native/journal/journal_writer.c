/* journal_writer.c - the journal's producer side (append into a byte ring)
 * and its writer thread (io_uring writes, group-commit fdatasync, file
 * rotation, fault and retry).  Rules in wirematch/journal.h.
 *
 * The ring is mapped twice back to back (one memfd), so every record and
 * every batch of records is contiguous in memory: the producer copies a
 * record with one memcpy and the writer hands a batch to one write.
 *
 * Positions in the ring are byte counts since open (never wrap):
 *   producer head   bytes appended (release-stored after the record)
 *   writer parsed   records up to here have their CRC filled in (the
 *                   writer fills in the next batch's while a write is in
 *                   flight)
 *   writer pos      bytes the kernel has taken (may end inside a record
 *                   after a short write)
 *   writer durable  bytes covered by a completed fdatasync
 *   published tail  bytes the producer may reuse: pos under NONE/WRITTEN,
 *                   durable under FSYNC (so that a failed flush can write
 *                   everything since the last good flush again)
 * Batches end on record boundaries; `written` and `durable` (sequences)
 * advance when a whole batch is written / flushed.  Under WM_JOURNAL_FSYNC
 * a batch's write and its fdatasync go to the kernel together (linked).
 * Before a new file is created, the current one is flushed at every level,
 * so the undurable bytes are always in the current file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal/journal_format.h"

enum {
    N_PRODUCER_COUNTERS = WM_JOURNAL_WRITES,
    N_WRITER_COUNTERS = WM_JOURNAL_N_COUNTERS - WM_JOURNAL_WRITES,
};

static const char *const counter_names[] = {WM_JOURNAL_COUNTERS(WM_COUNTER_NAME)};

/* Written by the engine thread only. */
struct producer {
    uint64_t head;
    uint64_t cached_tail;
    uint64_t next_seq;
    uint64_t last_seq;
    uint64_t counters[N_PRODUCER_COUNTERS];
} WM_CACHE_ALIGNED;

/* Written by the writer thread, read by everyone. */
struct published {
    uint64_t tail;
    uint64_t written_seq;
    uint64_t durable_seq;
    int fault;                 /* errno, 0 when none */
    int fault_op;
    uint64_t fault_seq;
    uint64_t file_first_seq;
    uint64_t file_offset;
} WM_CACHE_ALIGNED;

/* The writer thread's own state. */
struct writer {
    uint64_t parsed;           /* ring position: records before have CRCs */
    uint64_t pos;
    uint64_t durable;
    uint64_t batch_end;        /* the batch in progress: [.., batch_end) */
    uint64_t batch_seq;        /* its last record */
    uint64_t pos_seq;          /* last sequence wholly written */
    int fd;                    /* the current file */
    uint64_t file_seq;
    uint64_t file_size;
    uint64_t file_off0;        /* file offset of ring position file_pos0 */
    uint64_t file_pos0;
    uint64_t counters[N_WRITER_COUNTERS];
    struct io_uring uring;
} WM_CACHE_ALIGNED;

struct wm_journal {
    struct producer p;
    struct published pub;
    struct writer w;
    /* Set at open, read-only after. */
    uint8_t *ring;
    uint64_t cap;
    uint64_t mask;
    uint32_t max_record;
    uint32_t max_batch;
    uint32_t idle_sleep_us;
    uint32_t retry_ms;
    uint64_t file_size;
    enum wm_journal_durability durability;
    int dirfd;
    char dir[WM_JOURNAL_DIR_MAX + 1];
    /* Control. */
    int stop;
    uint64_t flush_req;        /* flush up to this sequence at any level */
    pthread_t thread;
    int thread_started;
    int uring_ready;
    pthread_mutex_t fault_lock; /* fault_text: cold path only */
    char fault_text[WM_JOURNAL_TEXT_LEN];
};

#define LOAD(x)        __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define LOAD_ACQ(x)    __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v)    __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define STORE_REL(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

static inline void pbump(struct wm_journal *j, enum wm_journal_counter c, uint64_t n)
{
    STORE(j->p.counters[c], j->p.counters[c] + n);
}

static inline void wbump(struct wm_journal *j, enum wm_journal_counter c, uint64_t n)
{
    uint32_t i = c - WM_JOURNAL_WRITES;
    STORE(j->w.counters[i], j->w.counters[i] + n);
}

const char *wm_journal_counter_name(uint32_t idx)
{
    return idx < WM_JOURNAL_N_COUNTERS ? counter_names[idx] : NULL;
}

const char *wm_journal_durability_name(enum wm_journal_durability d)
{
    switch (d) {
    case WM_JOURNAL_NONE:
        return "none";
    case WM_JOURNAL_WRITTEN:
        return "written";
    case WM_JOURNAL_FSYNC:
        return "fsync";
    }
    return "unknown";
}

/* ---- producer ---------------------------------------------------------- */

int64_t wm_journal_append(struct wm_journal *j, enum wm_journal_record_type type,
                          const void *payload, uint32_t len)
{
    struct producer *p = &j->p;
    if (WM_UNLIKELY((uint32_t)type - 1u >= (uint32_t)WM_JOURNAL_REC_TYPE_MAX)) {
        pbump(j, WM_JOURNAL_REFUSED_BAD_TYPE, 1);
        return -EINVAL;
    }
    if (WM_UNLIKELY(len > j->max_record)) {
        pbump(j, WM_JOURNAL_REFUSED_TOO_LONG, 1);
        return -EMSGSIZE;
    }
    int fault = LOAD(j->pub.fault);
    if (WM_UNLIKELY(fault)) {
        pbump(j, WM_JOURNAL_REFUSED_FAULT, 1);
        return -fault;
    }
    uint64_t rs = wm_journal_record_size(len);
    uint64_t head = p->head;
    if (WM_UNLIKELY(head + rs - p->cached_tail > j->cap)) {
        p->cached_tail = LOAD_ACQ(j->pub.tail);
        if (head + rs - p->cached_tail > j->cap) {
            pbump(j, WM_JOURNAL_REFUSED_FULL, 1);
            return -EAGAIN;
        }
    }
    uint8_t *dst = j->ring + (head & j->mask);
    uint64_t seq = p->next_seq;
    struct wm_journal_record_header h = {
        .crc = 0, .len = len, .seq = seq, .type = (uint16_t)type, .flags = 0, .reserved = 0};
    memcpy(dst, &h, sizeof(h));
    if (len)
        memcpy(dst + WM_JOURNAL_RECORD_HEADER, payload, len);
    memset(dst + WM_JOURNAL_RECORD_HEADER + len, 0, rs - WM_JOURNAL_RECORD_HEADER - len);
    STORE_REL(p->head, head + rs);
    p->next_seq = seq + 1;
    STORE(p->last_seq, seq);
    pbump(j, WM_JOURNAL_APPENDED, 1);
    pbump(j, WM_JOURNAL_APPENDED_BYTES, rs);
    return (int64_t)seq;
}

/* ---- readers of the published state ------------------------------------ */

uint64_t wm_journal_written_seq(const struct wm_journal *j)
{
    return LOAD_ACQ(j->pub.written_seq);
}

uint64_t wm_journal_durable_seq(const struct wm_journal *j)
{
    return LOAD_ACQ(j->pub.durable_seq);
}

uint64_t wm_journal_release_seq(const struct wm_journal *j)
{
    switch (j->durability) {
    case WM_JOURNAL_NONE:
        return LOAD(j->p.last_seq);
    case WM_JOURNAL_WRITTEN:
        return LOAD_ACQ(j->pub.written_seq);
    case WM_JOURNAL_FSYNC:
        break;
    }
    return LOAD_ACQ(j->pub.durable_seq);
}

int wm_journal_fault(const struct wm_journal *j)
{
    return LOAD_ACQ(j->pub.fault);
}

void wm_journal_get_status(const struct wm_journal *j, struct wm_journal_status *out)
{
    memset(out, 0, sizeof(*out));
    out->appended = LOAD(j->p.last_seq);
    out->written = wm_journal_written_seq(j);
    out->durable = wm_journal_durable_seq(j);
    out->release = wm_journal_release_seq(j);
    out->fault = LOAD_ACQ(j->pub.fault);
    out->fault_op = (enum wm_journal_op)LOAD(j->pub.fault_op);
    out->fault_seq = LOAD(j->pub.fault_seq);
    out->file_first_seq = LOAD(j->pub.file_first_seq);
    out->file_offset = LOAD(j->pub.file_offset);
    struct wm_journal *mj = (struct wm_journal *)j;
    pthread_mutex_lock(&mj->fault_lock);
    memcpy(out->fault_text, j->fault_text, sizeof(out->fault_text));
    pthread_mutex_unlock(&mj->fault_lock);
}

void wm_journal_get_counters(const struct wm_journal *j, uint64_t *out)
{
    for (uint32_t i = 0; i < N_PRODUCER_COUNTERS; i++)
        out[i] = LOAD(j->p.counters[i]);
    for (uint32_t i = 0; i < N_WRITER_COUNTERS; i++)
        out[N_PRODUCER_COUNTERS + i] = LOAD(j->w.counters[i]);
}

/* ---- writer thread ----------------------------------------------------- */

static void sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *op_name(enum wm_journal_op op)
{
    switch (op) {
    case WM_JOURNAL_OP_WRITE:
        return "write";
    case WM_JOURNAL_OP_FLUSH:
        return "fdatasync";
    case WM_JOURNAL_OP_CREATE:
        return "file creation";
    case WM_JOURNAL_OP_NONE:
        break;
    }
    return "none";
}

static void set_fault(struct wm_journal *j, enum wm_journal_op op, int err, uint64_t seq)
{
    wbump(j, WM_JOURNAL_FAULTS, 1);
    pthread_mutex_lock(&j->fault_lock);
    snprintf(j->fault_text, sizeof(j->fault_text),
             "journal %s failed in %s (file %020" PRIu64 ", offset %" PRIu64
             "): %s; sequences from %" PRIu64 " held back, new input refused",
             op_name(op), j->dir, j->w.file_seq, j->w.file_off0 + (j->w.pos - j->w.file_pos0),
             strerror(err), seq);
    pthread_mutex_unlock(&j->fault_lock);
    STORE(j->pub.fault_op, (int)op);
    STORE(j->pub.fault_seq, seq);
    STORE_REL(j->pub.fault, err);
}

static void clear_fault(struct wm_journal *j)
{
    if (!LOAD(j->pub.fault))
        return;
    wbump(j, WM_JOURNAL_RESUMED, 1);
    pthread_mutex_lock(&j->fault_lock);
    j->fault_text[0] = 0;
    pthread_mutex_unlock(&j->fault_lock);
    STORE(j->pub.fault_op, WM_JOURNAL_OP_NONE);
    STORE(j->pub.fault_seq, 0);
    STORE_REL(j->pub.fault, 0);
}

static uint64_t file_offset_of(const struct writer *w, uint64_t pos)
{
    return w->file_off0 + (pos - w->file_pos0);
}

static void publish_file(struct wm_journal *j)
{
    STORE(j->pub.file_first_seq, j->w.file_seq);
    STORE(j->pub.file_offset, file_offset_of(&j->w, j->w.pos));
}

static int uring_submit(struct writer *w)
{
    int r;
    do   /* after an interruption, what was submitted stays submitted */
        r = io_uring_submit(&w->uring);
    while (r == -EINTR);
    return r < 0 ? r : 0;
}

/* Reap `n` completions into res[] by user_data (0: write, 1: flush). */
static int uring_reap(struct writer *w, unsigned n, int res[2])
{
    for (unsigned got = 0; got < n;) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&w->uring, &cqe);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return r;
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        if (ud < 2)
            res[ud] = cqe->res;
        io_uring_cqe_seen(&w->uring, cqe);
        got++;
    }
    return 0;
}

/* Submit what is prepared and reap `n` completions. */
static int uring_complete(struct writer *w, unsigned n, int res[2])
{
    int r = uring_submit(w);
    return r ? r : uring_reap(w, n, res);
}

/* Before preparing an operation: requests left queued by a submission that
 * failed (a fault) go first, and their results are dropped; they are
 * writes of the same bytes at the same offsets, or flushes, so running them
 * late changes nothing. */
static int uring_drain_stale(struct writer *w)
{
    unsigned n = io_uring_sq_ready(&w->uring);
    int res[2];
    return n ? uring_complete(w, n, res) : 0;
}

/* Fill in the CRCs of up to `bytes` of records after those already done
 * (while a write is in flight: the CRC work overlaps the kernel's copy). */
static void crc_ahead(struct wm_journal *j, uint64_t bytes)
{
    struct writer *w = &j->w;
    uint64_t head = LOAD_ACQ(j->p.head);
    uint64_t stop = w->parsed + bytes;
    while (w->parsed < head && w->parsed < stop) {
        uint8_t *rec = j->ring + (w->parsed & j->mask);
        struct wm_journal_record_header h;
        memcpy(&h, rec, sizeof(h));
        uint64_t rs = wm_journal_record_size(h.len);
        h.crc = wm_journal_record_crc(rec, rs);
        memcpy(rec, &h.crc, sizeof(h.crc));
        w->parsed += rs;
    }
}

/* fdatasync the current file; on success everything written is durable. */
static int flush_file(struct wm_journal *j)
{
    struct writer *w = &j->w;
    int res[2] = {0, 0};
    int r = uring_drain_stale(w);
    if (r < 0) {
        set_fault(j, WM_JOURNAL_OP_FLUSH, -r, LOAD(j->pub.durable_seq) + 1);
        return r;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->uring);
    io_uring_prep_fsync(sqe, w->fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, 1);
    r = uring_complete(w, 1, res);
    if (r == 0)
        r = res[1];
    wbump(j, WM_JOURNAL_FLUSHES, 1);
    if (r < 0) {
        set_fault(j, WM_JOURNAL_OP_FLUSH, -r, LOAD(j->pub.durable_seq) + 1);
        if (j->durability == WM_JOURNAL_FSYNC) {
            w->pos = w->durable;   /* written again before the next flush */
            w->batch_end = w->durable;
        }
        return r;
    }
    w->durable = w->pos;
    STORE_REL(j->pub.durable_seq, w->pos_seq);
    if (j->durability == WM_JOURNAL_FSYNC)
        STORE_REL(j->pub.tail, w->durable);
    return 0;
}

/* Create, preallocate and name the file that starts at seq; flush the
 * directory.  Returns the open fd or -errno (nothing left behind). */
static int create_file(struct wm_journal *j, uint64_t seq)
{
    char name[WM_JOURNAL_NAME_LEN + 1], tmp[WM_JOURNAL_NAME_LEN + 8];
    wm_journal_file_name(name, seq);
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    int fd = openat(j->dirfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int err = 0, renamed = 0;
    struct wm_journal_file_header h;
    struct timespec now;
    memset(&h, 0, sizeof(h));
    clock_gettime(CLOCK_REALTIME, &now);
    h.magic = WM_JOURNAL_MAGIC;
    h.version = WM_JOURNAL_VERSION;
    h.header_len = WM_JOURNAL_FILE_HEADER;
    h.first_seq = seq;
    h.created_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
    h.file_size = j->file_size;
    h.record_align = WM_JOURNAL_ALIGN;
    h.crc = wm_journal_file_header_crc(&h);
    if (fallocate(fd, 0, 0, (off_t)j->file_size) != 0)
        err = -errno;
    else if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
        err = errno ? -errno : -EIO;
    else if (fdatasync(fd) != 0)
        err = -errno;
    else if (renameat(j->dirfd, tmp, j->dirfd, name) != 0)
        err = -errno;
    else if ((renamed = 1, fsync(j->dirfd) != 0))
        err = -errno;
    if (err) {
        close(fd);
        unlinkat(j->dirfd, renamed ? name : tmp, 0);
        return err;
    }
    return fd;
}

/* The record at ring position pos does not fit in the current file: flush
 * it and start the file for seq. */
static int rotate(struct wm_journal *j, uint64_t seq)
{
    struct writer *w = &j->w;
    if (w->fd >= 0 && w->durable != w->pos) {
        int r = flush_file(j);
        if (r)
            return r;
    }
    int fd = create_file(j, seq);
    if (fd < 0) {
        set_fault(j, WM_JOURNAL_OP_CREATE, -fd, seq);
        return fd;
    }
    if (w->fd >= 0)
        close(w->fd);
    w->fd = fd;
    w->file_seq = seq;
    w->file_size = j->file_size;
    w->file_off0 = WM_JOURNAL_FILE_HEADER;
    w->file_pos0 = w->pos;
    wbump(j, WM_JOURNAL_ROTATIONS, 1);
    publish_file(j);
    return 0;
}

/* Pick the next batch at w->pos (a record boundary) up to head: CRCs filled
 * in, at most max_batch bytes (at least one record), within the file.
 * Returns 0, or 1 when the first record needs a new file (*seq). */
static int pick_batch(struct wm_journal *j, uint64_t head, uint64_t *seq)
{
    struct writer *w = &j->w;
    uint64_t end = w->pos, last = w->pos_seq;
    uint64_t room = w->file_size - file_offset_of(w, w->pos);
    while (end < head) {
        uint8_t *rec = j->ring + (end & j->mask);
        struct wm_journal_record_header h;
        memcpy(&h, rec, sizeof(h));
        uint64_t rs = wm_journal_record_size(h.len);
        if (end - w->pos + rs > room) {
            if (end == w->pos) {
                *seq = h.seq;
                return 1;
            }
            break;
        }
        if (end > w->pos && end - w->pos + rs > j->max_batch)
            break;
        if (end >= w->parsed) {
            h.crc = wm_journal_record_crc(rec, rs);
            memcpy(rec, &h.crc, sizeof(h.crc));
            w->parsed = end + rs;
        }
        last = h.seq;
        end += rs;
    }
    w->batch_end = end;
    w->batch_seq = last;
    return 0;
}

/* Write (the rest of) the batch in progress, with a linked flush under
 * FSYNC.  Returns 0 or -errno (fault set). */
static int write_batch(struct wm_journal *j)
{
    struct writer *w = &j->w;
    uint64_t len = w->batch_end - w->pos;
    int flush = j->durability == WM_JOURNAL_FSYNC;
    int r = uring_drain_stale(w);
    if (r < 0) {
        set_fault(j, WM_JOURNAL_OP_WRITE, -r, w->pos_seq + 1);
        return r;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->uring);
    io_uring_prep_write(sqe, w->fd, j->ring + (w->pos & j->mask), (unsigned)len,
                        file_offset_of(w, w->pos));
    io_uring_sqe_set_data64(sqe, 0);
    if (flush) {
        sqe->flags |= IOSQE_IO_LINK;
        sqe = io_uring_get_sqe(&w->uring);
        io_uring_prep_fsync(sqe, w->fd, IORING_FSYNC_DATASYNC);
        io_uring_sqe_set_data64(sqe, 1);
    }
    int res[2] = {0, 0};
    r = uring_submit(w);
    if (r == 0) {
        crc_ahead(j, j->max_batch);
        r = uring_reap(w, flush ? 2 : 1, res);
    }
    if (r < 0) {
        set_fault(j, WM_JOURNAL_OP_WRITE, -r, w->pos_seq + 1);
        return r;
    }
    wbump(j, WM_JOURNAL_WRITES, 1);
    if (res[0] < 0) {
        set_fault(j, WM_JOURNAL_OP_WRITE, -res[0], w->pos_seq + 1);
        return res[0];
    }
    wbump(j, WM_JOURNAL_WRITE_BYTES, (uint64_t)res[0]);
    w->pos += (uint64_t)res[0];
    publish_file(j);
    if ((uint64_t)res[0] < len) {
        /* The linked flush was cancelled; the rest goes in the next write. */
        wbump(j, WM_JOURNAL_SHORT_WRITES, 1);
        if (res[0] == 0) {
            set_fault(j, WM_JOURNAL_OP_WRITE, EIO, w->pos_seq + 1);
            return -EIO;
        }
        return 0;
    }
    w->pos_seq = w->batch_seq;
    STORE_REL(j->pub.written_seq, w->pos_seq);
    if (!flush) {
        STORE_REL(j->pub.tail, w->pos);
        return 0;
    }
    wbump(j, WM_JOURNAL_FLUSHES, 1);
    if (res[1] < 0) {
        set_fault(j, WM_JOURNAL_OP_FLUSH, -res[1], LOAD(j->pub.durable_seq) + 1);
        w->pos = w->durable;
        w->batch_end = w->durable;
        return res[1];
    }
    w->durable = w->pos;
    STORE_REL(j->pub.durable_seq, w->pos_seq);
    STORE_REL(j->pub.tail, w->durable);
    return 0;
}

/* One step of work: 1 when something was done, 0 when idle, -errno on a
 * fault. */
static int writer_step(struct wm_journal *j)
{
    struct writer *w = &j->w;
    if (w->pos < w->batch_end)
        return write_batch(j) < 0 ? -1 : 1;
    uint64_t want = LOAD(j->flush_req);
    if (w->durable != w->pos && (want > LOAD(j->pub.durable_seq) || LOAD_ACQ(j->stop)))
        return flush_file(j) < 0 ? -1 : 1;
    uint64_t head = LOAD_ACQ(j->p.head);
    if (head == w->pos)
        return 0;
    uint64_t seq;
    if (pick_batch(j, head, &seq))
        return rotate(j, seq) < 0 ? -1 : 1;
    return write_batch(j) < 0 ? -1 : 1;
}

static void *writer_main(void *arg)
{
    struct wm_journal *j = arg;
    for (;;) {
        if (LOAD(j->pub.fault)) {
            if (LOAD_ACQ(j->stop))
                break;
            sleep_us((uint64_t)j->retry_ms * 1000);
        }
        int fault_before = LOAD(j->pub.fault);
        int r = writer_step(j);
        if (r > 0 && fault_before)
            clear_fault(j);
        if (r != 0)
            continue;
        if (LOAD_ACQ(j->stop))
            break;
        wbump(j, WM_JOURNAL_IDLE_SLEEPS, 1);
        sleep_us(j->idle_sleep_us);
    }
    return NULL;
}

/* ---- open / close ------------------------------------------------------ */

static void say(struct wm_journal_recovery *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(struct wm_journal_recovery *rep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
    va_end(ap);
}

/* The directory exists, takes a file, and its file system can fdatasync and
 * preallocate. */
static int check_dir(const char *dir, int *dirfd, struct wm_journal_recovery *rep)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            say(rep, "journal directory %s does not exist", dir);
        else
            say(rep, "journal directory %s: %s", dir, strerror(e));
        return -e;
    }
    if (!S_ISDIR(st.st_mode)) {
        say(rep, "journal directory %s is not a directory", dir);
        return -ENOTDIR;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        say(rep, "cannot open journal directory %s: %s", dir, strerror(e));
        return -e;
    }
    static const char probe[] = ".wm-journal-probe";
    int fd = openat(dfd, probe, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        say(rep, "journal directory %s is not writable: %s", dir, strerror(e));
        close(dfd);
        return -e;
    }
    int err = 0;
    uint64_t word = WM_JOURNAL_MAGIC;
    if (fdatasync(fd) != 0) {
        err = -errno;
        say(rep, "the file system of journal directory %s cannot fdatasync: %s", dir,
            strerror(-err));
        if (err == -EOPNOTSUPP)
            err = -EINVAL;
    } else if (fallocate(fd, 0, 0, 4096) != 0) {
        err = -errno;
        say(rep, "the file system of journal directory %s cannot preallocate: %s", dir,
            strerror(-err));
        if (err == -EOPNOTSUPP)
            err = -EINVAL;
    } else if (pwrite(fd, &word, sizeof(word), 0) != (ssize_t)sizeof(word)) {
        err = errno ? -errno : -EIO;
        say(rep, "journal directory %s: cannot write a file: %s", dir, strerror(-err));
    }
    close(fd);
    unlinkat(dfd, probe, 0);
    if (err) {
        close(dfd);
        return err;
    }
    *dirfd = dfd;
    return 0;
}

/* A crash while a file was being created leaves journal-<seq>.wmj.tmp:
 * never a journal file (those are renamed whole), so removed. */
static void remove_stale_tmp(int dirfd)
{
    int fd = dup(dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        char base[WM_JOURNAL_NAME_LEN + 1];
        uint64_t seq;
        if (strlen(de->d_name) != WM_JOURNAL_NAME_LEN + 4 ||
            strcmp(de->d_name + WM_JOURNAL_NAME_LEN, ".tmp") != 0)
            continue;
        memcpy(base, de->d_name, WM_JOURNAL_NAME_LEN);
        base[WM_JOURNAL_NAME_LEN] = 0;
        if (wm_journal_parse_name(base, &seq))
            unlinkat(dirfd, de->d_name, 0);
    }
    closedir(d);
}

static int map_ring(struct wm_journal *j)
{
    int fd = memfd_create("wm-journal", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)j->cap) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    uint8_t *base = mmap(NULL, 2 * j->cap, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (mmap(base, j->cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
        mmap(base + j->cap, j->cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
            MAP_FAILED) {
        int e = errno;
        munmap(base, 2 * j->cap);
        close(fd);
        return -e;
    }
    close(fd);
    memset(base, 0, j->cap);   /* fault the pages in now, not on append */
    j->ring = base;
    return 0;
}

static void free_journal(struct wm_journal *j)
{
    if (j->uring_ready)
        io_uring_queue_exit(&j->w.uring);
    if (j->ring)
        munmap(j->ring, 2 * j->cap);
    if (j->w.fd >= 0)
        close(j->w.fd);
    if (j->dirfd >= 0)
        close(j->dirfd);
    pthread_mutex_destroy(&j->fault_lock);
    free(j);
}

static int config_ok(const struct wm_journal_config *c, struct wm_journal *j,
                     struct wm_journal_recovery *rep)
{
    uint64_t fsz = c->file_size ? c->file_size : 64ull << 20;
    uint32_t buf = c->buffer_size ? c->buffer_size : 4u << 20;
    uint32_t batch = c->max_batch ? c->max_batch : 256u << 10;
    uint32_t rec = c->max_record ? c->max_record : 4096;
    if (!c->dir || !c->dir[0]) {
        say(rep, "journal: no directory configured");
        return -EINVAL;
    }
    if (strlen(c->dir) > WM_JOURNAL_DIR_MAX) {
        say(rep, "journal directory path longer than %d bytes", WM_JOURNAL_DIR_MAX);
        return -ENAMETOOLONG;
    }
    if ((unsigned)c->durability > WM_JOURNAL_FSYNC) {
        say(rep, "journal: durability %d is not none, written or fsync", (int)c->durability);
        return -EINVAL;
    }
    if (buf < 65536 || (buf & (buf - 1)) || batch > buf / 2 || rec > buf / 4 ||
        fsz < WM_JOURNAL_MIN_FILE ||
        wm_journal_record_size(rec) > fsz - WM_JOURNAL_FILE_HEADER) {
        say(rep, "journal: bad sizes (buffer %u: power of two >= 65536; max_batch %u <= buffer/2; "
            "max_record %u <= buffer/4 and fits a file of %" PRIu64 " >= 65536 bytes)",
            buf, batch, rec, fsz);
        return -EINVAL;
    }
    if (batch < wm_journal_record_size(rec))
        batch = (uint32_t)wm_journal_record_size(rec);
    j->file_size = fsz;
    j->cap = buf;
    j->mask = buf - 1;
    j->max_batch = batch;
    j->max_record = rec;
    j->idle_sleep_us = c->idle_sleep_us ? c->idle_sleep_us : 50;
    j->retry_ms = c->retry_ms ? c->retry_ms : 100;
    j->durability = c->durability;
    snprintf(j->dir, sizeof(j->dir), "%s", c->dir);
    return 0;
}

int wm_journal_open(const struct wm_journal_config *cfg, struct wm_journal_recovery *found,
                    struct wm_journal **out)
{
    struct wm_journal_recovery local;
    struct wm_journal_recovery *rep = found ? found : &local;
    memset(rep, 0, sizeof(*rep));
    *out = NULL;
    struct wm_journal *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    j->w.fd = -1;
    j->dirfd = -1;
    pthread_mutex_init(&j->fault_lock, NULL);
    int err = config_ok(cfg, j, rep);
    if (!err)
        err = check_dir(cfg->dir, &j->dirfd, rep);
    if (err) {
        rep->error = err;
        free_journal(j);
        return err;
    }
    remove_stale_tmp(j->dirfd);
    err = wm_journal_recover(cfg->dir, 0, rep);
    if (!err && rep->torn) {
        char m[WM_JOURNAL_TEXT_LEN];
        snprintf(m, sizeof(m), "%s", rep->message);
        say(rep, "journal not opened: %s (recover with truncate first)", m);
        err = -EBADMSG;
    }
    if (err) {
        rep->error = err;
        free_journal(j);
        return err;
    }
    err = map_ring(j);
    if (err) {
        say(rep, "journal: cannot map a %" PRIu64 "-byte buffer: %s", j->cap, strerror(-err));
        goto fail;
    }
    err = io_uring_queue_init(8, &j->w.uring, 0);
    if (err) {
        say(rep, "journal: io_uring unavailable: %s", strerror(-err));
        goto fail;
    }
    j->uring_ready = 1;
    uint64_t next = rep->files ? rep->next_seq : (cfg->first_seq ? cfg->first_seq : 1);
    struct writer *w = &j->w;
    if (rep->files) {
        char name[WM_JOURNAL_NAME_LEN + 1];
        wm_journal_file_name(name, rep->last_file_seq);
        w->fd = openat(j->dirfd, name, O_WRONLY | O_CLOEXEC);
        struct stat st;
        if (w->fd < 0 || fstat(w->fd, &st) != 0) {
            err = -errno;
            say(rep, "journal: cannot open %s/%s for appending: %s", cfg->dir, name,
                strerror(-err));
            goto fail;
        }
        /* What is there is readable: make it durable too. */
        if (fdatasync(w->fd) != 0) {
            err = -errno;
            say(rep, "journal: fdatasync of %s/%s failed: %s", cfg->dir, name, strerror(-err));
            goto fail;
        }
        w->file_seq = rep->last_file_seq;
        w->file_size = (uint64_t)st.st_size;
        w->file_off0 = rep->append_offset;
    } else {
        int fd = create_file(j, next);
        if (fd < 0) {
            err = fd;
            say(rep, "journal: cannot create the first file in %s: %s", cfg->dir,
                strerror(-err));
            goto fail;
        }
        w->fd = fd;
        w->file_seq = next;
        w->file_size = j->file_size;
        w->file_off0 = WM_JOURNAL_FILE_HEADER;
        rep->files = 1;
        rep->last_file_seq = next;
        rep->append_offset = WM_JOURNAL_FILE_HEADER;
    }
    rep->next_seq = next;
    j->p.next_seq = next;
    j->p.last_seq = next - 1;
    w->pos_seq = next - 1;
    j->pub.written_seq = next - 1;
    j->pub.durable_seq = next - 1;
    publish_file(j);
    err = pthread_create(&j->thread, NULL, writer_main, j);
    if (err) {
        err = -err;
        say(rep, "journal: cannot start the writer thread: %s", strerror(-err));
        goto fail;
    }
    j->thread_started = 1;
    pthread_setname_np(j->thread, "wm-journal");
    *out = j;
    return 0;
fail:
    rep->error = err;
    free_journal(j);
    return err;
}

int wm_journal_flush(struct wm_journal *j, uint64_t seq, uint32_t timeout_ms)
{
    uint64_t cur = LOAD(j->flush_req);
    while (cur < seq &&
           !__atomic_compare_exchange_n(&j->flush_req, &cur, seq, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
        ;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (wm_journal_durable_seq(j) >= seq)
            return 0;
        int f = wm_journal_fault(j);
        if (f)
            return -f;
        clock_gettime(CLOCK_MONOTONIC, &t);
        uint64_t ms = (uint64_t)(t.tv_sec - t0.tv_sec) * 1000 +
                      (uint64_t)((t.tv_nsec - t0.tv_nsec) / 1000000);
        if (ms >= timeout_ms)
            return -ETIMEDOUT;
        sleep_us(100);
    }
}

int wm_journal_close(struct wm_journal *j)
{
    if (!j)
        return 0;
    STORE_REL(j->stop, 1);
    if (j->thread_started)
        pthread_join(j->thread, NULL);
    int err = 0;
    if (LOAD(j->pub.fault))
        err = -LOAD(j->pub.fault);
    else if (LOAD(j->pub.durable_seq) != LOAD(j->p.last_seq))
        err = -EIO;
    free_journal(j);
    return err;
}
