/* journal_reader.c - recovery: iterate a journal directory's records in
 * sequence order, check CRCs and continuity, find and cut a torn tail
 * (rules in wirematch/journal.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/journal_format.h"

static const char *const bad_names[] = {WM_JOURNAL_BAD_REASONS(WM_COUNTER_NAME)};

const char *wm_journal_bad_name(enum wm_journal_bad bad)
{
    return (unsigned)bad < WM_JOURNAL_N_BAD ? bad_names[bad] : "unknown";
}

uint32_t wm_journal_file_header_crc(const struct wm_journal_file_header *h)
{
    return wm_crc32c(0, h, offsetof(struct wm_journal_file_header, crc));
}

void wm_journal_file_name(char *buf, uint64_t first_seq)
{
    snprintf(buf, WM_JOURNAL_NAME_LEN + 1, WM_JOURNAL_NAME_PREFIX "%020" PRIu64
             WM_JOURNAL_NAME_SUFFIX, first_seq);
}

int wm_journal_parse_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != WM_JOURNAL_NAME_LEN || memcmp(name, WM_JOURNAL_NAME_PREFIX, 8) != 0 ||
        strcmp(name + 8 + WM_JOURNAL_NAME_DIGITS, WM_JOURNAL_NAME_SUFFIX) != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < WM_JOURNAL_NAME_DIGITS; i++) {
        char c = name[8 + i];
        if (c < '0' || c > '9')
            return 0;
        if (v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
            return 0;
        v = v * 10 + (uint64_t)(c - '0');
    }
    if (v == 0)
        return 0;
    *seq = v;
    return 1;
}

/* ---- one file image ---------------------------------------------------- */

static enum wm_journal_bad check_file_header(const uint8_t *base, uint64_t size,
                                             struct wm_journal_file_header *h)
{
    if (size < WM_JOURNAL_FILE_HEADER)
        return WM_JOURNAL_BAD_FILE_HEADER;
    memcpy(h, base, sizeof(*h));
    if (h->magic != WM_JOURNAL_MAGIC || h->version != WM_JOURNAL_VERSION ||
        h->header_len != WM_JOURNAL_FILE_HEADER || h->record_align != WM_JOURNAL_ALIGN ||
        h->first_seq == 0 || h->reserved[0] || h->reserved[1] || h->reserved[2] ||
        h->reserved[3] || h->crc != wm_journal_file_header_crc(h))
        return WM_JOURNAL_BAD_FILE_HEADER;
    return WM_JOURNAL_BAD_NONE;
}

static int all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Offset just past the last non-zero byte in [from, size), or from. */
static uint64_t nonzero_end(const uint8_t *base, uint64_t from, uint64_t size)
{
    uint64_t end = size;
    while (end > from && base[end - 1] == 0)
        end--;
    return end;
}

/* The record header at off, checked against everything but the sequence.
 * Returns 1 (a record of *rsize bytes), 0 (zero header: the end of the
 * records) or -1 with *bad. */
static int check_record(const uint8_t *base, uint64_t size, uint64_t off,
                        struct wm_journal_record_header *h, uint64_t *rsize,
                        enum wm_journal_bad *bad)
{
    uint64_t room = size - off;
    if (room < WM_JOURNAL_RECORD_HEADER) {
        if (all_zero(base + off, room))
            return 0;
        *bad = WM_JOURNAL_BAD_RECORD_LENGTH;
        return -1;
    }
    if (all_zero(base + off, WM_JOURNAL_RECORD_HEADER))
        return 0;
    memcpy(h, base + off, sizeof(*h));
    if (h->type == 0 || h->type > WM_JOURNAL_REC_TYPE_MAX || h->flags || h->reserved) {
        *bad = WM_JOURNAL_BAD_RECORD_HEADER;
        return -1;
    }
    uint64_t rs = wm_journal_record_size(h->len);
    if (rs > room) {
        *bad = WM_JOURNAL_BAD_RECORD_LENGTH;
        return -1;
    }
    if (wm_journal_record_crc(base + off, rs) != h->crc) {
        *bad = WM_JOURNAL_BAD_RECORD_CRC;
        return -1;
    }
    *rsize = rs;
    return 1;
}

/* Records with a good CRC and a sequence above after_seq, looked for at
 * every 8-byte offset in [from, end). */
static uint64_t count_intact_beyond(const uint8_t *base, uint64_t size, uint64_t from,
                                    uint64_t end, uint64_t after_seq)
{
    uint64_t n = 0;
    uint64_t off = from;
    while (off < end && size - off >= WM_JOURNAL_RECORD_HEADER) {
        struct wm_journal_record_header h;
        uint64_t rs;
        enum wm_journal_bad bad;
        if (check_record(base, size, off, &h, &rs, &bad) == 1 && h.seq > after_seq) {
            n++;
            off += rs;
        } else {
            off += WM_JOURNAL_ALIGN;
        }
    }
    return n;
}

/* Iteration over one image. */
struct image_cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t off;
    uint64_t next_seq;
};

enum step { STEP_RECORD, STEP_END, STEP_BAD };

static enum step image_step(struct image_cursor *c, struct wm_journal_record *rec,
                            enum wm_journal_bad *bad)
{
    struct wm_journal_record_header h;
    uint64_t rs = 0;
    int r = check_record(c->base, c->size, c->off, &h, &rs, bad);
    if (r == 0) {
        if (nonzero_end(c->base, c->off, c->size) > c->off) {
            *bad = WM_JOURNAL_BAD_TRAILING_DATA;
            return STEP_BAD;
        }
        return STEP_END;
    }
    if (r < 0)
        return STEP_BAD;
    if (h.seq != c->next_seq) {
        *bad = WM_JOURNAL_BAD_SEQUENCE;
        return STEP_BAD;
    }
    rec->seq = h.seq;
    rec->type = h.type;
    rec->len = h.len;
    rec->payload = c->base + c->off + WM_JOURNAL_RECORD_HEADER;
    c->off += rs;
    c->next_seq++;
    return STEP_RECORD;
}

static void set_message(struct wm_journal_recovery *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_message(struct wm_journal_recovery *rep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
    va_end(ap);
}

/* A torn tail at c->off of the last image. */
static void note_torn(struct wm_journal_recovery *rep, const struct image_cursor *c,
                      enum wm_journal_bad bad)
{
    uint64_t end = nonzero_end(c->base, c->off, c->size);
    rep->torn = 1;
    rep->bad = bad;
    rep->bad_offset = c->off;
    rep->cut_bytes = end - c->off;
    uint64_t from = bad == WM_JOURNAL_BAD_TRAILING_DATA ? c->off : c->off + WM_JOURNAL_ALIGN;
    rep->cut_records = count_intact_beyond(c->base, c->size, from, end, c->next_seq - 1);
    rep->append_offset = c->off;
}

static void note_record(struct wm_journal_recovery *rep, const struct wm_journal_record *rec)
{
    if (!rep->records)
        rep->first_seq = rec->seq;
    rep->records++;
    rep->last_seq = rec->seq;
}

int wm_journal_scan_image(const void *image, size_t size, int last_file,
                          struct wm_journal_recovery *out)
{
    struct wm_journal_file_header h;
    memset(out, 0, sizeof(*out));
    out->files = 1;
    enum wm_journal_bad bad = check_file_header(image, size, &h);
    if (bad) {
        out->bad = bad;
        out->error = -EBADMSG;
        set_message(out, "bad file header");
        return out->error;
    }
    struct image_cursor c = {image, size, WM_JOURNAL_FILE_HEADER, h.first_seq};
    struct wm_journal_record rec;
    enum step s;
    while ((s = image_step(&c, &rec, &bad)) == STEP_RECORD)
        note_record(out, &rec);
    out->last_file_seq = h.first_seq;
    out->next_seq = c.next_seq;
    out->append_offset = c.off;
    if (s == STEP_BAD) {
        if (last_file) {
            note_torn(out, &c, bad);
        } else {
            out->bad = bad;
            out->bad_offset = c.off;
            out->error = -EBADMSG;
        }
    }
    set_message(out, "%" PRIu64 " records, %s at offset %" PRIu64, out->records,
                wm_journal_bad_name(out->bad), c.off);
    return out->error;
}

/* ---- a directory ------------------------------------------------------- */

struct wm_journal_reader {
    char dir[WM_JOURNAL_DIR_MAX + 1];
    uint64_t *seqs;          /* first sequences, ascending */
    uint32_t nfiles;
    uint32_t cur;            /* the file mapped (or next to map) */
    int mapped;
    uint8_t *map;
    uint64_t map_size;
    struct image_cursor c;
    int done;
    struct wm_journal_recovery rep;
};

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void file_path(const struct wm_journal_reader *r, uint32_t idx, char *buf, size_t len)
{
    char name[WM_JOURNAL_NAME_LEN + 1];
    wm_journal_file_name(name, r->seqs[idx]);
    snprintf(buf, len, "%s/%s", r->dir, name);
}

static int fail(struct wm_journal_reader *r, int err, enum wm_journal_bad bad, uint64_t off)
{
    r->rep.error = err;
    r->rep.bad = bad;
    r->rep.bad_offset = off;
    r->done = 1;
    return err;
}

/* Map file cur and check its header. */
static int map_file(struct wm_journal_reader *r)
{
    char path[WM_JOURNAL_DIR_MAX + WM_JOURNAL_NAME_LEN + 2];
    file_path(r, r->cur, path, sizeof(path));
    snprintf(r->rep.file, sizeof(r->rep.file), "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        set_message(&r->rep, "cannot open %s: %s", path, strerror(e));
        return fail(r, -e, WM_JOURNAL_BAD_NONE, 0);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        set_message(&r->rep, "cannot stat %s: %s", path, strerror(e));
        return fail(r, -e, WM_JOURNAL_BAD_NONE, 0);
    }
    uint64_t size = (uint64_t)st.st_size;
    void *m = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    int e = errno;
    close(fd);
    struct wm_journal_file_header h;
    if (!size || m == MAP_FAILED) {
        if (!size) {
            set_message(&r->rep, "%s: empty file, no journal header", path);
            return fail(r, -EBADMSG, WM_JOURNAL_BAD_FILE_HEADER, 0);
        }
        set_message(&r->rep, "cannot map %s: %s", path, strerror(e));
        return fail(r, -e, WM_JOURNAL_BAD_NONE, 0);
    }
    r->map = m;
    r->map_size = size;
    r->mapped = 1;
    enum wm_journal_bad bad = check_file_header(m, size, &h);
    if (bad) {
        set_message(&r->rep, "%s: bad file header (magic, version or CRC)", path);
        return fail(r, -EBADMSG, bad, 0);
    }
    if (h.first_seq != r->seqs[r->cur]) {
        set_message(&r->rep, "%s: header says first sequence %" PRIu64, path, h.first_seq);
        return fail(r, -EBADMSG, WM_JOURNAL_BAD_FILE_NAME, 0);
    }
    uint64_t expect = r->cur == 0 ? h.first_seq : r->c.next_seq;
    if (h.first_seq != expect) {
        set_message(&r->rep, "%s starts at sequence %" PRIu64 " but the previous file ends "
                    "before %" PRIu64 ": sequence gap", path, h.first_seq, expect);
        return fail(r, -EBADMSG, WM_JOURNAL_BAD_GAP, 0);
    }
    r->c = (struct image_cursor){r->map, size, WM_JOURNAL_FILE_HEADER, h.first_seq};
    r->rep.last_file_seq = h.first_seq;
    r->rep.append_offset = WM_JOURNAL_FILE_HEADER;
    return 0;
}

static void unmap_file(struct wm_journal_reader *r)
{
    if (r->mapped)
        munmap(r->map, r->map_size);
    r->mapped = 0;
    r->map = NULL;
}

int wm_journal_reader_open(const char *dir, struct wm_journal_reader **out)
{
    struct wm_journal_reader *r = calloc(1, sizeof(*r));
    *out = r;
    if (!r)
        return -ENOMEM;
    if (strlen(dir) > WM_JOURNAL_DIR_MAX) {
        set_message(&r->rep, "journal directory path longer than %d bytes", WM_JOURNAL_DIR_MAX);
        return fail(r, -ENAMETOOLONG, WM_JOURNAL_BAD_NONE, 0);
    }
    snprintf(r->dir, sizeof(r->dir), "%s", dir);
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        if (e == ENOENT)
            set_message(&r->rep, "journal directory %s does not exist", dir);
        else if (e == ENOTDIR)
            set_message(&r->rep, "journal directory %s is not a directory", dir);
        else
            set_message(&r->rep, "cannot open journal directory %s: %s", dir, strerror(e));
        return fail(r, -e, WM_JOURNAL_BAD_NONE, 0);
    }
    uint32_t cap = 0;
    struct dirent *de;
    int err = 0;
    while ((de = readdir(d))) {
        uint64_t seq;
        if (!wm_journal_parse_name(de->d_name, &seq))
            continue;
        if (r->nfiles == cap) {
            uint32_t ncap = cap ? cap * 2 : 16;
            uint64_t *n = realloc(r->seqs, ncap * sizeof(*n));
            if (!n) {
                err = -ENOMEM;
                break;
            }
            r->seqs = n;
            cap = ncap;
        }
        r->seqs[r->nfiles++] = seq;
    }
    closedir(d);
    if (err) {
        set_message(&r->rep, "out of memory listing %s", dir);
        return fail(r, err, WM_JOURNAL_BAD_NONE, 0);
    }
    if (r->nfiles)
        qsort(r->seqs, r->nfiles, sizeof(*r->seqs), cmp_seq);
    r->rep.files = r->nfiles;
    return 0;
}

static void finish_message(struct wm_journal_reader *r)
{
    struct wm_journal_recovery *rep = &r->rep;
    if (rep->torn)
        set_message(rep, "torn tail in %s at offset %" PRIu64 " (%s): %s %" PRIu64
                    " bytes, %" PRIu64 " intact-looking records beyond; last good sequence %"
                    PRIu64, rep->file, rep->bad_offset, wm_journal_bad_name(rep->bad),
                    rep->truncated ? "cut" : "to cut", rep->cut_bytes, rep->cut_records,
                    rep->next_seq - 1);
    else
        set_message(rep, "%" PRIu64 " records in %u files, sequences %" PRIu64 "..%" PRIu64,
                    rep->records, rep->files, rep->first_seq, rep->last_seq);
}

int wm_journal_reader_next(struct wm_journal_reader *r, struct wm_journal_record *rec)
{
    if (r->done)
        return r->rep.error;
    for (;;) {
        if (!r->mapped) {
            if (r->cur == r->nfiles) {
                r->done = 1;
                finish_message(r);
                return 0;
            }
            int e = map_file(r);
            if (e)
                return e;
        }
        enum wm_journal_bad bad = WM_JOURNAL_BAD_NONE;
        enum step s = image_step(&r->c, rec, &bad);
        if (s == STEP_RECORD) {
            note_record(&r->rep, rec);
            r->rep.next_seq = r->c.next_seq;
            r->rep.append_offset = r->c.off;
            return 1;
        }
        r->rep.next_seq = r->c.next_seq;
        if (s == STEP_END) {
            /* The next file must continue the sequence (map_file checks). */
            r->rep.append_offset = r->c.off;
            unmap_file(r);
            r->cur++;
            continue;
        }
        if (r->cur + 1 == r->nfiles) {
            note_torn(&r->rep, &r->c, bad);
            unmap_file(r);
            r->done = 1;
            finish_message(r);
            return 0;
        }
        set_message(&r->rep, "corrupt journal: %s at offset %" PRIu64 ": %s (expected sequence %"
                    PRIu64 "); later files follow, so this is not a torn tail",
                    r->rep.file, r->c.off, wm_journal_bad_name(bad), r->c.next_seq);
        uint64_t off = r->c.off;
        unmap_file(r);
        return fail(r, -EBADMSG, bad, off);
    }
}

const struct wm_journal_recovery *wm_journal_reader_report(const struct wm_journal_reader *r)
{
    return &r->rep;
}

int wm_journal_reader_truncate(struct wm_journal_reader *r)
{
    if (!r->done || r->rep.error)
        return -EINVAL;
    if (!r->rep.torn || r->rep.truncated)
        return 0;
    int fd = open(r->rep.file, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = 0;
    static const uint8_t zeros[65536];
    uint64_t off = r->rep.bad_offset, end = r->rep.bad_offset + r->rep.cut_bytes;
    while (off < end) {
        size_t n = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w <= 0) {
            err = w < 0 ? -errno : -EIO;
            break;
        }
        off += (uint64_t)w;
    }
    struct wm_journal_file_header h;
    struct stat st;
    if (!err && pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && fstat(fd, &st) == 0 &&
        (uint64_t)st.st_size < h.file_size && fallocate(fd, 0, 0, (off_t)h.file_size) != 0)
        err = -errno;
    if (!err && fdatasync(fd) != 0)
        err = -errno;
    close(fd);
    if (err)
        return err;
    r->rep.truncated = 1;
    finish_message(r);
    return 0;
}

void wm_journal_reader_close(struct wm_journal_reader *r)
{
    if (!r)
        return;
    unmap_file(r);
    free(r->seqs);
    free(r);
}

int wm_journal_recover(const char *dir, int truncate, struct wm_journal_recovery *out)
{
    struct wm_journal_reader *r = NULL;
    int err = wm_journal_reader_open(dir, &r);
    if (!r) {
        memset(out, 0, sizeof(*out));
        out->error = err;
        return err;
    }
    struct wm_journal_record rec;
    while (!err && (err = wm_journal_reader_next(r, &rec)) == 1)
        err = 0;
    if (!err && truncate && r->rep.torn) {
        int e = wm_journal_reader_truncate(r);
        if (e) {
            r->rep.error = e;
            set_message(&r->rep, "cannot cut the torn tail of %s: %s", r->rep.file,
                        strerror(-e));
        }
    }
    *out = r->rep;
    wm_journal_reader_close(r);
    return out->error;
}
