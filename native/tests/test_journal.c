/* Journal tests: CRC32C, round trip across rotation, restart, group-commit
 * positions, refusals, torn tails (a file cut mid-record, a record zeroed,
 * trailing bytes), corruption before the last file's tail, a real disk full
 * (a 1 MiB tmpfs, mounted here: the tests run as root) and a real failed
 * write (RLIMIT_FSIZE: a short write, then EFBIG), each with the journal
 * checked for corruption and the writer resumed, and the start-up errors
 * (missing directory, not a directory, read-only mount, a file system
 * without fdatasync: mqueue). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "journal/journal_format.h"
#include "wirematch/journal.h"

/* ---- helpers ----------------------------------------------------------- */

static uint32_t len_of(uint64_t seq)
{
    return (uint32_t)((seq * 7919u) % 300u);
}

static enum wm_journal_record_type type_of(uint64_t seq)
{
    return (enum wm_journal_record_type)(1 + seq % WM_JOURNAL_REC_TYPE_MAX);
}

static void fill(uint8_t *buf, uint64_t seq, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seq * 31u + i);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Append the record for `seq` (payload from the generator), waiting while
 * the buffer is full.  Returns what append returned last. */
static int64_t append_seq(struct wm_journal *j, uint64_t seq, uint32_t len)
{
    uint8_t buf[4096];
    fill(buf, seq, len);
    uint64_t t0 = now_ms();
    for (;;) {
        int64_t r = wm_journal_append(j, type_of(seq), buf, len);
        if (r != -EAGAIN || now_ms() - t0 > 10000)
            return r;
        sleep_ms(1);
    }
}

/* Append seq first..last with the generator's lengths; all must be taken. */
static void append_range(struct wm_journal *j, uint64_t first, uint64_t last)
{
    for (uint64_t s = first; s <= last; s++) {
        int64_t r = append_seq(j, s, len_of(s));
        if (r != (int64_t)s) {
            CHECK_EQ(r, s);
            return;
        }
    }
}

/* Read dir back: records first..last in order with the generator's content
 * (len given, or the generator's when fixed_len < 0), no torn tail. */
static void verify_dir(const char *dir, uint64_t first, uint64_t last, int fixed_len)
{
    struct wm_journal_reader *r;
    CHECK_EQ(wm_journal_reader_open(dir, &r), 0);
    struct wm_journal_record rec;
    uint64_t want = first, bad = 0;
    int rc;
    uint8_t buf[4096];
    while ((rc = wm_journal_reader_next(r, &rec)) == 1) {
        uint32_t len = fixed_len < 0 ? len_of(want) : (uint32_t)fixed_len;
        fill(buf, want, len);
        if (rec.seq != want || rec.type != (uint32_t)type_of(want) || rec.len != len ||
            memcmp(rec.payload, buf, len) != 0)
            bad++;
        want = rec.seq + 1;
    }
    const struct wm_journal_recovery *rep = wm_journal_reader_report(r);
    CHECK_EQ(rc, 0);
    CHECK_EQ(bad, 0);
    CHECK_EQ(want, last + 1);
    CHECK_EQ(rep->torn, 0);
    CHECK_EQ(rep->error, 0);
    CHECK_EQ(rep->last_seq, last);
    CHECK_EQ(rep->next_seq, last + 1);
    if (rc != 0 || rep->torn)
        fprintf(stderr, "verify_dir: %s\n", rep->message);
    wm_journal_reader_close(r);
}

static void make_dir(char *tmpl)
{
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        exit(2);
    }
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Paths of the journal files in dir, ascending; returns the count. */
static int list_files(const char *dir, char files[][512], int max)
{
    struct wm_journal_recovery rep;
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t seqs[256];
    struct dirent *de;
    while ((de = readdir(d)) && n < max && n < 256) {
        uint64_t s;
        if (wm_journal_parse_name(de->d_name, &s))
            seqs[n++] = s;
    }
    closedir(d);
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (seqs[b] < seqs[a]) {
                uint64_t t = seqs[a];
                seqs[a] = seqs[b];
                seqs[b] = t;
            }
    for (int i = 0; i < n; i++) {
        char name[WM_JOURNAL_NAME_LEN + 1];
        wm_journal_file_name(name, seqs[i]);
        snprintf(files[i], 512, "%s/%s", dir, name);
    }
    (void)rep;
    return n;
}

static struct wm_journal_config config(const char *dir, enum wm_journal_durability d)
{
    struct wm_journal_config c;
    memset(&c, 0, sizeof(c));
    c.dir = dir;
    c.durability = d;
    c.file_size = 64 * 1024;
    c.buffer_size = 64 * 1024;
    c.max_batch = 16 * 1024;
    c.max_record = 4096;
    c.retry_ms = 10;
    return c;
}

static struct wm_journal *open_ok(const struct wm_journal_config *c)
{
    struct wm_journal *j = NULL;
    struct wm_journal_recovery rep;
    int r = wm_journal_open(c, &rep, &j);
    CHECK_EQ(r, 0);
    if (r) {
        fprintf(stderr, "open %s: %s\n", c->dir, rep.message);
        exit(1);
    }
    return j;
}

static int wait_fault(struct wm_journal *j, int want, unsigned timeout_ms)
{
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < timeout_ms) {
        if (wm_journal_fault(j) == want)
            return 1;
        sleep_ms(1);
    }
    return 0;
}

static void patch(const char *path, uint64_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    CHECK_EQ(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static uint64_t file_size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Offsets of every record in a journal file (reads it directly). */
static int record_offsets(const char *path, uint64_t *offs, int max)
{
    static uint8_t img[1 << 20];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? pread(fd, img, sizeof(img), 0) : -1;
    if (fd >= 0)
        close(fd);
    int k = 0;
    uint64_t off = WM_JOURNAL_FILE_HEADER;
    while (n > 0 && off + WM_JOURNAL_RECORD_HEADER <= (uint64_t)n && k < max) {
        struct wm_journal_record_header h;
        memcpy(&h, img + off, sizeof(h));
        if (h.type == 0)
            break;
        offs[k++] = off;
        off += wm_journal_record_size(h.len);
    }
    return k;
}

/* ---- tests ------------------------------------------------------------- */

static void test_crc32c(void)
{
    CHECK_EQ(wm_crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ(wm_crc32c_table(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ(wm_crc32c(0, "", 0), 0);
    /* Continuation: crc(a+b) == crc(crc(a), b). */
    CHECK_EQ(wm_crc32c(wm_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    if (!wm_crc32c_have_sse42()) {
        printf("no SSE4.2: the instruction path is not compared\n");
        return;
    }
    uint8_t buf[300];
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    unsigned diff = 0;
    for (unsigned off = 0; off < 9; off++)
        for (unsigned len = 0; len + off <= sizeof(buf); len += 7)
            diff += wm_crc32c_sse42(0x1234, buf + off, len) !=
                    wm_crc32c_table(0x1234, buf + off, len);
    CHECK_EQ(diff, 0);
}

static void test_names(void)
{
    char name[WM_JOURNAL_NAME_LEN + 1];
    uint64_t s = 0;
    wm_journal_file_name(name, 42);
    CHECK(strcmp(name, "journal-00000000000000000042.wmj") == 0);
    CHECK(wm_journal_parse_name(name, &s) && s == 42);
    CHECK(!wm_journal_parse_name("journal-0000000000000000004x.wmj", &s));
    CHECK(!wm_journal_parse_name("journal-00000000000000000000.wmj", &s));
    CHECK(!wm_journal_parse_name("journal-00000000000000000042.wmj.tmp", &s));
    CHECK(!wm_journal_parse_name("journal-99999999999999999999.wmj", &s)); /* > 2^64 */
}

static void test_round_trip_rotation_restart(void)
{
    char dir[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir);
    struct wm_journal_config c = config(dir, WM_JOURNAL_WRITTEN);
    struct wm_journal *j = open_ok(&c);
    const uint64_t n = 3000;
    append_range(j, 1, n);
    CHECK_EQ(wm_journal_flush(j, n, 10000), 0);
    struct wm_journal_status st;
    wm_journal_get_status(j, &st);
    CHECK_EQ(st.appended, n);
    CHECK_EQ(st.written, n);
    CHECK_EQ(st.durable, n);
    CHECK_EQ(st.release, n);
    CHECK_EQ(st.fault, 0);
    uint64_t cnt[WM_JOURNAL_N_COUNTERS];
    wm_journal_get_counters(j, cnt);
    CHECK_EQ(cnt[WM_JOURNAL_APPENDED], n);
    CHECK_EQ(cnt[WM_JOURNAL_FAULTS], 0);
    CHECK(cnt[WM_JOURNAL_WRITE_BYTES] == cnt[WM_JOURNAL_APPENDED_BYTES]);
    CHECK(strcmp(wm_journal_counter_name(WM_JOURNAL_REFUSED_FULL), "refused_buffer_full") == 0);
    CHECK_EQ(wm_journal_close(j), 0);

    char files[64][512];
    int nf = list_files(dir, files, 64);
    CHECK(nf >= 6);                       /* ~520 KB of records in 64 KiB files */
    CHECK_EQ(cnt[WM_JOURNAL_ROTATIONS], nf - 1);
    for (int i = 0; i < nf; i++)
        CHECK_EQ(file_size_of(files[i]), c.file_size);   /* preallocated, zero tail */
    verify_dir(dir, 1, n, -1);

    /* Restart: appends continue after the last record, in the last file. */
    j = open_ok(&c);
    append_range(j, n + 1, n + 500);
    CHECK_EQ(wm_journal_close(j), 0);
    verify_dir(dir, 1, n + 500, -1);
    CHECK(list_files(dir, files, 64) >= nf);
    remove_dir(dir);
}

static void test_group_commit(void)
{
    char dir[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir);
    struct wm_journal_config c = config(dir, WM_JOURNAL_FSYNC);
    c.file_size = 1 << 20;
    struct wm_journal *j = open_ok(&c);
    const uint64_t n = 4000;
    uint64_t order_bad = 0, prev_d = 0, prev_w = 0;
    for (uint64_t s = 1; s <= n; s++) {
        CHECK_EQ(append_seq(j, s, 40), s);
        uint64_t d = wm_journal_durable_seq(j);
        uint64_t w = wm_journal_written_seq(j);
        uint64_t rel = wm_journal_release_seq(j);
        /* durable <= written <= appended, monotone; release is durable */
        if (d > w || w > s || d < prev_d || w < prev_w || rel < d || rel > w)
            order_bad++;
        prev_d = d;
        prev_w = w;
    }
    CHECK_EQ(order_bad, 0);
    CHECK_EQ(wm_journal_flush(j, n, 10000), 0);
    CHECK_EQ(wm_journal_durable_seq(j), n);
    uint64_t cnt[WM_JOURNAL_N_COUNTERS];
    wm_journal_get_counters(j, cnt);
    /* One fdatasync covers many records. */
    CHECK(cnt[WM_JOURNAL_FLUSHES] > 0);
    CHECK(cnt[WM_JOURNAL_FLUSHES] < n / 4);
    printf("group commit: %" PRIu64 " records, %" PRIu64 " fdatasync, %" PRIu64 " writes\n", n,
           cnt[WM_JOURNAL_FLUSHES], cnt[WM_JOURNAL_WRITES]);
    CHECK_EQ(wm_journal_close(j), 0);
    verify_dir(dir, 1, n, 40);
    remove_dir(dir);

    /* NONE: nothing is held. */
    char dir2[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir2);
    c = config(dir2, WM_JOURNAL_NONE);
    j = open_ok(&c);
    uint64_t held = 0;
    for (uint64_t s = 1; s <= 200; s++) {
        CHECK_EQ(append_seq(j, s, 10), s);
        held += wm_journal_release_seq(j) != s;
    }
    CHECK_EQ(held, 0);
    CHECK_EQ(wm_journal_close(j), 0);   /* close flushes at every level */
    verify_dir(dir2, 1, 200, 10);
    remove_dir(dir2);
}

static void test_refusals(void)
{
    char dir[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir);
    struct wm_journal_config c = config(dir, WM_JOURNAL_FSYNC);
    c.file_size = 1 << 20;
    struct wm_journal *j = open_ok(&c);
    uint8_t big[4097];
    memset(big, 1, sizeof(big));
    CHECK_EQ(wm_journal_append(j, WM_JOURNAL_REC_COMMAND, big, 4097), -EMSGSIZE);
    CHECK_EQ(wm_journal_append(j, (enum wm_journal_record_type)0, big, 1), -EINVAL);
    CHECK_EQ(wm_journal_append(j, (enum wm_journal_record_type)5, big, 1), -EINVAL);
    /* Fill the 64 KiB buffer faster than write + fdatasync drain it. */
    uint64_t next = 1, full = 0;
    for (int i = 0; i < 200000 && full < 10; i++) {
        uint8_t buf[4096];
        fill(buf, next, 2000);
        int64_t r = wm_journal_append(j, type_of(next), buf, 2000);
        if (r == -EAGAIN)
            full++;
        else if (r == (int64_t)next)
            next++;
        else
            CHECK_EQ(r, next);
    }
    CHECK(full > 0);
    uint64_t cnt[WM_JOURNAL_N_COUNTERS];
    wm_journal_get_counters(j, cnt);
    CHECK_EQ(cnt[WM_JOURNAL_REFUSED_FULL], full);
    CHECK_EQ(cnt[WM_JOURNAL_REFUSED_TOO_LONG], 1);
    CHECK_EQ(cnt[WM_JOURNAL_REFUSED_BAD_TYPE], 2);
    CHECK_EQ(cnt[WM_JOURNAL_APPENDED], next - 1);
    CHECK_EQ(wm_journal_close(j), 0);
    verify_dir(dir, 1, next - 1, 2000);   /* refusals took no sequence */
    remove_dir(dir);
}

/* A journal of n generator records in 64 KiB files; returns the files. */
static int write_journal(const char *dir, uint64_t n, char files[][512])
{
    struct wm_journal_config c = config(dir, WM_JOURNAL_WRITTEN);
    struct wm_journal *j = open_ok(&c);
    append_range(j, 1, n);
    CHECK_EQ(wm_journal_close(j), 0);
    return list_files(dir, files, 64);
}

static void test_torn_tail_cut_file(void)
{
    char dir[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir);
    char files[64][512];
    const uint64_t n = 1000;
    int nf = write_journal(dir, n, files);
    CHECK(nf >= 2);
    const char *last = files[nf - 1];
    uint64_t offs[2048];
    int k = record_offsets(last, offs, 2048);
    CHECK(k >= 2);
    /* Cut the file in the middle of its last record (n). */
    CHECK_EQ(len_of(n) > 20, 1);
    CHECK_EQ(truncate(last, (off_t)(offs[k - 1] + WM_JOURNAL_RECORD_HEADER + 10)), 0);

    struct wm_journal_recovery rep;
    CHECK_EQ(wm_journal_recover(dir, 0, &rep), 0);
    CHECK_EQ(rep.torn, 1);
    CHECK_EQ(rep.truncated, 0);
    CHECK_EQ(rep.bad, WM_JOURNAL_BAD_RECORD_LENGTH);
    CHECK_EQ(rep.last_seq, n - 1);
    CHECK_EQ(rep.bad_offset, offs[k - 1]);
    CHECK_EQ(rep.cut_bytes, WM_JOURNAL_RECORD_HEADER + 10);
    CHECK_EQ(rep.cut_records, 0);
    CHECK(strstr(rep.message, "torn tail") != NULL);
    printf("cut file: %s\n", rep.message);

    /* The writer refuses a torn journal. */
    struct wm_journal_config c = config(dir, WM_JOURNAL_FSYNC);
    struct wm_journal *j = NULL;
    CHECK_EQ(wm_journal_open(&c, &rep, &j), -EBADMSG);
    CHECK(j == NULL);

    CHECK_EQ(wm_journal_recover(dir, 1, &rep), 0);
    CHECK_EQ(rep.truncated, 1);
    CHECK_EQ(file_size_of(last), c.file_size);   /* preallocation restored */
    CHECK_EQ(wm_journal_recover(dir, 0, &rep), 0);
    CHECK_EQ(rep.torn, 0);
    CHECK_EQ(rep.last_seq, n - 1);

    /* Appends continue after the last good record. */
    j = open_ok(&c);
    append_range(j, n, n + 300);
    CHECK_EQ(wm_journal_close(j), 0);
    verify_dir(dir, 1, n + 300, -1);
    remove_dir(dir);
}

static void test_torn_tail_zeroed(void)
{
    char dir[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir);
    char files[64][512];
    const uint64_t n = 1000;
    int nf = write_journal(dir, n, files);
    const char *last = files[nf - 1];
    uint64_t offs[2048];
    int k = record_offsets(last, offs, 2048);
    CHECK(k >= 10);
    static const uint8_t zeros[4096];

    /* Power loss: the last record's payload never reached the disk. */
    patch(last, offs[k - 1] + WM_JOURNAL_RECORD_HEADER, zeros, 8);
    struct wm_journal_recovery rep;
    CHECK_EQ(wm_journal_recover(dir, 0, &rep), 0);
    CHECK_EQ(rep.torn, 1);
    CHECK(rep.bad == WM_JOURNAL_BAD_RECORD_CRC);
    CHECK_EQ(rep.last_seq, n - 1);
    CHECK_EQ(rep.cut_records, 0);

    /* A hole of zeros before the last 4 records (writeback out of order):
     * cut at the hole, the 4 intact records beyond are counted. */
    uint64_t hole = offs[k - 5];
    patch(last, hole, zeros, WM_JOURNAL_RECORD_HEADER);
    CHECK_EQ(wm_journal_recover(dir, 0, &rep), 0);
    CHECK_EQ(rep.torn, 1);
    CHECK_EQ(rep.bad, WM_JOURNAL_BAD_TRAILING_DATA);
    CHECK_EQ(rep.bad_offset, hole);
    CHECK_EQ(rep.last_seq, n - 5);
    CHECK_EQ(rep.cut_records, 3);   /* n-3, n-2, n-1; record n has a bad CRC */
    printf("hole: %s\n", rep.message);
    CHECK_EQ(wm_journal_recover(dir, 1, &rep), 0);
    CHECK_EQ(rep.truncated, 1);
    verify_dir(dir, 1, n - 5, -1);

    /* Clean journal with one stray byte far past the last record. */
    uint8_t one = 0x5a;
    patch(last, file_size_of(last) - 100, &one, 1);
    CHECK_EQ(wm_journal_recover(dir, 0, &rep), 0);
    CHECK_EQ(rep.torn, 1);
    CHECK_EQ(rep.bad, WM_JOURNAL_BAD_TRAILING_DATA);
    CHECK_EQ(rep.bad_offset + rep.cut_bytes, file_size_of(last) - 99);
    CHECK_EQ(wm_journal_recover(dir, 1, &rep), 0);
    verify_dir(dir, 1, n - 5, -1);
    remove_dir(dir);
}

static void test_corruption_before_tail(void)
{
    char dir[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir);
    char files[64][512];
    const uint64_t n = 1500;
    int nf = write_journal(dir, n, files);
    CHECK(nf >= 3);
    uint64_t offs[2048];
    int k = record_offsets(files[0], offs, 2048);
    CHECK(k >= 10);
    /* One flipped payload byte in the middle of the first file. */
    uint64_t at = offs[k / 2] + WM_JOURNAL_RECORD_HEADER;
    uint8_t b;
    int fd = open(files[0], O_RDWR);
    CHECK(pread(fd, &b, 1, (off_t)at) == 1);
    b ^= 0x10;
    CHECK(pwrite(fd, &b, 1, (off_t)at) == 1);
    close(fd);
    CHECK(len_of((uint64_t)k / 2 + 1) > 0);

    struct wm_journal_reader *r;
    CHECK_EQ(wm_journal_reader_open(dir, &r), 0);
    struct wm_journal_record rec;
    int rc;
    uint64_t got = 0;
    while ((rc = wm_journal_reader_next(r, &rec)) == 1)
        got++;
    CHECK_EQ(rc, -EBADMSG);
    CHECK_EQ(got, (uint64_t)k / 2);   /* the good prefix, then the error */
    const struct wm_journal_recovery *rep = wm_journal_reader_report(r);
    CHECK_EQ(rep->bad, WM_JOURNAL_BAD_RECORD_CRC);
    CHECK_EQ(rep->bad_offset, offs[k / 2]);
    CHECK(strcmp(rep->file, files[0]) == 0);
    CHECK_EQ(wm_journal_reader_truncate(r), -EINVAL);   /* not a tail to cut */
    printf("corrupt: %s\n", rep->message);
    wm_journal_reader_close(r);

    struct wm_journal_recovery rp;
    CHECK_EQ(wm_journal_recover(dir, 1, &rp), -EBADMSG);
    CHECK_EQ(rp.truncated, 0);
    struct wm_journal_config c = config(dir, WM_JOURNAL_FSYNC);
    struct wm_journal *j = NULL;
    CHECK_EQ(wm_journal_open(&c, &rp, &j), -EBADMSG);

    /* Repair the byte; then a missing middle file is a gap, not a cut. */
    fd = open(files[0], O_RDWR);
    b ^= 0x10;
    CHECK(pwrite(fd, &b, 1, (off_t)at) == 1);
    close(fd);
    CHECK_EQ(wm_journal_recover(dir, 0, &rp), 0);
    CHECK_EQ(unlink(files[1]), 0);
    CHECK_EQ(wm_journal_recover(dir, 0, &rp), -EBADMSG);
    CHECK_EQ(rp.bad, WM_JOURNAL_BAD_GAP);

    /* A file whose header does not match its name. */
    CHECK_EQ(rename(files[2], files[1]), 0);
    CHECK_EQ(wm_journal_recover(dir, 0, &rp), -EBADMSG);
    CHECK_EQ(rp.bad, WM_JOURNAL_BAD_FILE_NAME);
    /* A broken file header. */
    uint8_t junk = 0xee;
    patch(files[1], 20, &junk, 1);
    CHECK_EQ(wm_journal_recover(dir, 0, &rp), -EBADMSG);
    CHECK_EQ(rp.bad, WM_JOURNAL_BAD_FILE_HEADER);
    remove_dir(dir);
}

static int mount_tmpfs(const char *dir, const char *opts, unsigned long flags)
{
    if (mount("tmpfs", dir, "tmpfs", flags, opts) != 0) {
        fprintf(stderr, "mount -t tmpfs -o %s %s failed: %s (the journal tests need root)\n",
                opts, dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void test_disk_full(void)
{
    char dir[] = "/tmp/wm-test-journal-full-XXXXXX";
    make_dir(dir);
    int mounted = mount_tmpfs(dir, "size=1m", 0) == 0;
    CHECK(mounted);
    if (!mounted) {
        rmdir(dir);
        return;
    }
    struct wm_journal_config c = config(dir, WM_JOURNAL_FSYNC);
    c.file_size = 128 * 1024;
    struct wm_journal *j = open_ok(&c);

    /* Take every free byte. */
    char filler[512];
    snprintf(filler, sizeof(filler), "%s/filler", dir);
    int fd = open(filler, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    static uint8_t block[4096];
    memset(block, 0xab, sizeof(block));
    while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
        ;
    close(fd);

    /* Appends fill the first file; the next file cannot be created. */
    uint64_t s = 1;
    int64_t r = 0;
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < 10000) {
        r = append_seq(j, s, 1000);
        if (r != (int64_t)s)
            break;
        s++;
    }
    uint64_t accepted = s - 1;
    CHECK_EQ(r, -ENOSPC);
    CHECK(wait_fault(j, ENOSPC, 5000));
    struct wm_journal_status st;
    wm_journal_get_status(j, &st);
    CHECK_EQ(st.fault, ENOSPC);
    CHECK_EQ(st.fault_op, WM_JOURNAL_OP_CREATE);
    CHECK_EQ(st.durable, st.fault_seq - 1);
    CHECK(st.durable < accepted);   /* held back, not acknowledged */
    CHECK(st.durable > 50);
    CHECK_EQ(st.release, st.durable);
    CHECK(strstr(st.fault_text, "No space") != NULL);
    printf("disk full: %s\n", st.fault_text);
    CHECK_EQ(wm_journal_append(j, WM_JOURNAL_REC_COMMAND, block, 10), -ENOSPC);

    /* The journal on disk is intact: every durable record, nothing torn, no
     * half-made file. */
    struct wm_journal_recovery rep;
    CHECK_EQ(wm_journal_recover(dir, 0, &rep), 0);
    CHECK_EQ(rep.torn, 0);
    CHECK_EQ(rep.files, 1);
    CHECK_EQ(rep.last_seq, st.durable);
    char files[8][512];
    CHECK_EQ(list_files(dir, files, 8), 1);
    DIR *d = opendir(dir);
    struct dirent *de;
    int tmp_files = 0;
    while (d && (de = readdir(d)))
        tmp_files += strstr(de->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    CHECK_EQ(tmp_files, 0);

    /* The operator frees space: the writer resumes by itself. */
    CHECK_EQ(unlink(filler), 0);
    CHECK(wait_fault(j, 0, 5000));
    CHECK_EQ(wm_journal_flush(j, accepted, 5000), 0);
    for (uint64_t k = accepted + 1; k <= accepted + 50; k++)
        CHECK_EQ(append_seq(j, k, 1000), k);
    uint64_t cnt[WM_JOURNAL_N_COUNTERS];
    wm_journal_get_counters(j, cnt);
    CHECK(cnt[WM_JOURNAL_FAULTS] >= 1);
    CHECK_EQ(cnt[WM_JOURNAL_RESUMED], 1);
    CHECK(cnt[WM_JOURNAL_REFUSED_FAULT] >= 2);
    CHECK_EQ(wm_journal_close(j), 0);
    verify_dir(dir, 1, accepted + 50, 1000);
    CHECK(list_files(dir, files, 8) >= 2);
    CHECK_EQ(umount2(dir, MNT_DETACH), 0);
    rmdir(dir);
}

static void test_write_error(void)
{
    char dir[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir);
    struct wm_journal_config c = config(dir, WM_JOURNAL_FSYNC);
    c.file_size = 1 << 20;
    struct wm_journal *j = open_ok(&c);
    append_range(j, 1, 10);
    CHECK_EQ(wm_journal_flush(j, 10, 5000), 0);
    struct wm_journal_status st;
    wm_journal_get_status(j, &st);

    /* Files may not grow past 1000 bytes beyond the current end: the kernel
     * takes part of the next write, then refuses with EFBIG. */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    lim.rlim_cur = st.file_offset + 1000;
    lim.rlim_max = old.rlim_max;
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint64_t s;
    for (s = 11; s <= 30; s++)
        CHECK_EQ(append_seq(j, s, 200), s);
    CHECK(wait_fault(j, EFBIG, 5000));
    wm_journal_get_status(j, &st);
    CHECK_EQ(st.fault_op, WM_JOURNAL_OP_WRITE);
    CHECK(st.durable >= 10 && st.durable < 30);
    CHECK_EQ(st.release, st.durable);
    CHECK_EQ(wm_journal_append(j, WM_JOURNAL_REC_COMMAND, "x", 1), -EFBIG);
    printf("write error: %s\n", st.fault_text);

    /* On disk: the records before, then a partial record that does not read
     * as valid. */
    struct wm_journal_recovery rep;
    CHECK_EQ(wm_journal_recover(dir, 0, &rep), 0);
    CHECK_EQ(rep.torn, 1);
    CHECK(rep.last_seq >= st.durable && rep.last_seq < 30);
    CHECK(rep.bad_offset + rep.cut_bytes <= lim.rlim_cur);

    /* Lift the limit: the writer completes the partial record and goes on. */
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
    CHECK(wait_fault(j, 0, 5000));
    CHECK_EQ(wm_journal_flush(j, 30, 5000), 0);
    uint64_t cnt[WM_JOURNAL_N_COUNTERS];
    wm_journal_get_counters(j, cnt);
    CHECK(cnt[WM_JOURNAL_SHORT_WRITES] >= 1);
    CHECK_EQ(wm_journal_close(j), 0);
    struct wm_journal_reader *r;
    CHECK_EQ(wm_journal_reader_open(dir, &r), 0);
    struct wm_journal_record rec;
    uint64_t want = 1, bad = 0;
    uint8_t buf[512];
    while (wm_journal_reader_next(r, &rec) == 1) {
        uint32_t len = want <= 10 ? len_of(want) : 200;
        fill(buf, want, len);
        bad += rec.seq != want || rec.len != len || memcmp(rec.payload, buf, len) != 0;
        want++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(want, 31);
    CHECK_EQ(wm_journal_reader_report(r)->torn, 0);
    wm_journal_reader_close(r);
    remove_dir(dir);
}

static void test_startup_errors(void)
{
    struct wm_journal_recovery rep;
    struct wm_journal *j = NULL;
    struct wm_journal_config c = config("/tmp/wm-test-journal-does-not-exist", WM_JOURNAL_FSYNC);
    CHECK_EQ(wm_journal_open(&c, &rep, &j), -ENOENT);
    CHECK(strstr(rep.message, "does not exist") != NULL);
    CHECK(j == NULL);

    char dir[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir);
    char file[512];
    snprintf(file, sizeof(file), "%s/plain", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    close(fd);
    c.dir = file;
    CHECK_EQ(wm_journal_open(&c, &rep, &j), -ENOTDIR);
    CHECK(strstr(rep.message, "not a directory") != NULL);

    c.dir = dir;
    c.buffer_size = 100000;   /* not a power of two */
    CHECK_EQ(wm_journal_open(&c, &rep, &j), -EINVAL);
    c = config(dir, (enum wm_journal_durability)7);
    CHECK_EQ(wm_journal_open(&c, &rep, &j), -EINVAL);
    c = config(dir, WM_JOURNAL_FSYNC);
    c.max_record = 65480;   /* 24 + 65480 > 64 KiB - the 64-byte file header */
    c.buffer_size = 1 << 20;
    CHECK_EQ(wm_journal_open(&c, &rep, &j), -EINVAL);

    /* Read-only mount: root is not stopped by modes, a read-only mount is. */
    char ro[] = "/tmp/wm-test-journal-ro-XXXXXX";
    make_dir(ro);
    int mounted = mount_tmpfs(ro, "size=1m", MS_RDONLY) == 0;
    CHECK(mounted);
    if (mounted) {
        c = config(ro, WM_JOURNAL_FSYNC);
        CHECK_EQ(wm_journal_open(&c, &rep, &j), -EROFS);
        CHECK(strstr(rep.message, "not writable") != NULL);
        printf("read-only: %s\n", rep.message);
        umount2(ro, MNT_DETACH);
    }
    rmdir(ro);

    /* A file system that takes files but cannot fdatasync them (mqueue). */
    char mq[] = "/tmp/wm-test-journal-mq-XXXXXX";
    make_dir(mq);
    if (mount("mqueue", mq, "mqueue", 0, NULL) != 0) {
        fprintf(stderr, "mount -t mqueue %s failed: %s\n", mq, strerror(errno));
        CHECK(0);
    } else {
        c = config(mq, WM_JOURNAL_FSYNC);
        CHECK_EQ(wm_journal_open(&c, &rep, &j), -EINVAL);
        CHECK(strstr(rep.message, "cannot fdatasync") != NULL);
        printf("mqueue: %s\n", rep.message);
        umount2(mq, MNT_DETACH);
    }
    rmdir(mq);

    /* An empty journal directory starts at first_seq; a leftover .tmp goes. */
    char tmpname[600];
    snprintf(tmpname, sizeof(tmpname), "%s/journal-00000000000000000007.wmj.tmp", dir);
    fd = open(tmpname, O_CREAT | O_WRONLY, 0644);
    close(fd);
    unlink(file);
    c = config(dir, WM_JOURNAL_WRITTEN);
    c.first_seq = 7;
    j = open_ok(&c);
    CHECK(access(tmpname, F_OK) != 0);
    CHECK_EQ(append_seq(j, 7, len_of(7)), 7);
    CHECK_EQ(append_seq(j, 8, len_of(8)), 8);
    CHECK_EQ(wm_journal_close(j), 0);
    verify_dir(dir, 7, 8, -1);
    remove_dir(dir);
}

/* The in-memory scan agrees with the directory reader. */
static void test_scan_image(void)
{
    char dir[] = "/tmp/wm-test-journal-XXXXXX";
    make_dir(dir);
    char files[64][512];
    int nf = write_journal(dir, 600, files);
    CHECK(nf >= 2);
    static uint8_t img[64 * 1024];
    int fd = open(files[0], O_RDONLY);
    CHECK_EQ(pread(fd, img, sizeof(img), 0), (ssize_t)sizeof(img));
    close(fd);
    struct wm_journal_recovery rep;
    CHECK_EQ(wm_journal_scan_image(img, sizeof(img), 0, &rep), 0);
    CHECK_EQ(rep.first_seq, 1);
    uint64_t in_first = rep.records;
    CHECK(in_first > 100);
    img[rep.append_offset - 3] ^= 1;   /* the last record's padding or payload */
    CHECK_EQ(wm_journal_scan_image(img, sizeof(img), 0, &rep), -EBADMSG);
    CHECK_EQ(wm_journal_scan_image(img, sizeof(img), 1, &rep), 0);
    CHECK_EQ(rep.torn, 1);
    CHECK_EQ(rep.last_seq, in_first - 1);
    CHECK_EQ(wm_journal_scan_image(img, 10, 1, &rep), -EBADMSG);
    remove_dir(dir);
}

int main(void)
{
    test_crc32c();
    test_names();
    test_round_trip_rotation_restart();
    test_group_commit();
    test_refusals();
    test_torn_tail_cut_file();
    test_torn_tail_zeroed();
    test_corruption_before_tail();
    test_scan_image();
    test_startup_errors();
    test_write_error();
    test_disk_full();
    return check_finish("test_journal");
}
