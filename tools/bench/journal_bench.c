/* journal_bench.c - the journal's append rate against fio on the same file
 * system, with the same block size and flush policy, interleaved.
 *
 * One round = a journal run then a fio run:
 *   journal  the main thread appends `records` records of `payload` bytes as
 *            fast as the journal takes them (sleeping 20 us on a full
 *            buffer); the clock runs from the first append until the last
 *            record is written (durability written) or durable (fsync).
 *            Files are the journal's own: preallocated, rotated every
 *            file_size bytes.
 *   fio      sequential writes of the same total bytes in one preallocated
 *            file (--fallocate=native), ioengine io_uring, block size = the
 *            journal's max_batch (the size of its writes when the producer is
 *            ahead: printed as avg_write), and the journal's flush policy:
 *            under fsync --fdatasync=1 (one flush per write, as its group
 *            commit does when the producer is ahead), under written one
 *            fdatasync per file_size bytes (the journal flushes a file before
 *            it creates the next).
 * Rates are in file bytes (records with their 24-byte headers and padding).
 * Output: one line per run and, per durability, the medians, their ratio
 * journal/fio and the median of the per-round ratios (each round's two runs
 * are adjacent in time, so on a shared machine this one drifts less).
 *
 *   journal_bench [--dir DIR] [--durability written|fsync|both] [--rounds N]
 *                 [--records N] [--payload BYTES] [--batch BYTES]
 *                 [--file-size BYTES] [--buffer BYTES (8 MiB)] [--no-fio]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wirematch/journal.h"

struct opts {
    const char *dir;
    int durability;   /* -1: both */
    int rounds;
    uint64_t records;
    uint32_t payload;
    uint32_t batch;
    uint64_t file_size;
    uint32_t buffer;
    int fio;
};

struct result {
    double seconds;
    double mb_s;
    double rec_s;
    double avg_write;
    uint64_t writes;
    uint64_t flushes;
    uint64_t bytes;
    uint64_t full;        /* appends refused: buffer full (writer behind) */
    uint64_t idle;        /* writer idle sleeps (producer behind) */
    double append_s;      /* the append loop alone */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static int run_cmd(const char *cmd)
{
    int r = system(cmd);
    return r == 0 ? 0 : -1;
}

static int journal_run(const struct opts *o, enum wm_journal_durability d, const char *dir,
                       struct result *res)
{
    char cmd[1000];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (run_cmd(cmd))
        return -1;
    struct wm_journal_config c;
    memset(&c, 0, sizeof(c));
    c.dir = dir;
    c.durability = d;
    c.file_size = o->file_size;
    c.max_batch = o->batch;
    c.buffer_size = o->buffer;
    c.max_record = o->payload > 4096 ? o->payload : 4096;
    c.idle_sleep_us = 20;
    struct wm_journal *j;
    struct wm_journal_recovery rep;
    int r = wm_journal_open(&c, &rep, &j);
    if (r) {
        fprintf(stderr, "journal_bench: %s\n", rep.message);
        return r;
    }
    uint8_t *payload = calloc(1, o->payload ? o->payload : 1);
    double t0 = now_s();
    for (uint64_t s = 1; s <= o->records; s++) {
        payload[0] = (uint8_t)s;
        int64_t a;
        while ((a = wm_journal_append(j, WM_JOURNAL_REC_COMMAND, payload, o->payload)) == -EAGAIN)
            sleep_us(20);
        if (a != (int64_t)s) {
            fprintf(stderr, "journal_bench: append %" PRIu64 " returned %" PRId64 "\n", s, a);
            free(payload);
            wm_journal_close(j);
            return -1;
        }
    }
    res->append_s = now_s() - t0;
    for (;;) {
        uint64_t done = d == WM_JOURNAL_FSYNC ? wm_journal_durable_seq(j) : wm_journal_written_seq(j);
        if (done >= o->records)
            break;
        if (wm_journal_fault(j)) {
            fprintf(stderr, "journal_bench: writer fault %d\n", wm_journal_fault(j));
            break;
        }
        sleep_us(20);
    }
    double t = now_s() - t0;
    uint64_t cnt[WM_JOURNAL_N_COUNTERS];
    wm_journal_get_counters(j, cnt);
    free(payload);
    r = wm_journal_close(j);
    res->seconds = t;
    res->bytes = cnt[WM_JOURNAL_WRITE_BYTES];
    res->writes = cnt[WM_JOURNAL_WRITES];
    res->flushes = cnt[WM_JOURNAL_FLUSHES];
    res->full = cnt[WM_JOURNAL_REFUSED_FULL];
    res->idle = cnt[WM_JOURNAL_IDLE_SLEEPS];
    res->mb_s = (double)cnt[WM_JOURNAL_APPENDED_BYTES] / t / 1e6;
    res->rec_s = (double)o->records / t;
    res->avg_write = res->writes ? (double)res->bytes / (double)res->writes : 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    run_cmd(cmd);
    return r;
}

/* fio's write bandwidth (bytes/s) from its JSON output. */
static int fio_run(const struct opts *o, enum wm_journal_durability d, const char *dir,
                   uint64_t bytes, struct result *res)
{
    char cmd[2400];
    /* The journal's flush policy: under fsync one fdatasync per write; under
     * written one per file (the rotation flush), i.e. every file_size/bs
     * writes. */
    uint64_t per_flush = d == WM_JOURNAL_FSYNC ? 1 : o->file_size / o->batch;
    if (!per_flush)
        per_flush = 1;
    snprintf(cmd, sizeof(cmd),
             "rm -rf '%s' && mkdir -p '%s' && fio --name=journal-peer --filename='%s/fio.dat' "
             "--rw=write --bs=%u --size=%" PRIu64 " --ioengine=io_uring --iodepth=1 "
             "--fallocate=native --fdatasync=%" PRIu64 " --output-format=json 2>/dev/null; "
             "rm -rf '%s'",
             dir, dir, dir, o->batch, bytes, per_flush, dir);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    static char out[1 << 20];
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = 0;
    pclose(f);
    const char *w = strstr(out, "\"write\" : {");
    const char *bw = w ? strstr(w, "\"bw_bytes\"") : NULL;
    const char *rt = w ? strstr(w, "\"runtime\"") : NULL;
    if (!bw) {
        fprintf(stderr, "journal_bench: no fio result (is fio installed?)\n");
        return -1;
    }
    bw = strchr(bw, ':');
    double bps = bw ? strtod(bw + 1, NULL) : 0;
    res->mb_s = bps / 1e6;
    res->bytes = bytes;
    res->writes = bytes / o->batch;
    res->flushes = res->writes / per_flush;
    res->avg_write = o->batch;
    res->seconds = bps > 0 ? (double)bytes / bps : 0;
    if (rt && (rt = strchr(rt, ':')))
        res->seconds = strtod(rt + 1, NULL) / 1000.0;
    res->rec_s = 0;
    return bps > 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void)
{
    fprintf(stderr, "usage: journal_bench [--dir DIR] [--durability written|fsync|both] "
                    "[--rounds N] [--records N] [--payload BYTES] [--batch BYTES] "
                    "[--file-size BYTES] [--buffer BYTES] [--no-fio]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct opts o = {"/tmp/wm-journal-bench", -1, 3, 0, 64, 256u << 10, 64ull << 20, 8u << 20, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-fio")) {
            o.fio = 0;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--dir"))
            o.dir = v;
        else if (!strcmp(a, "--durability"))
            o.durability = !strcmp(v, "written") ? WM_JOURNAL_WRITTEN
                           : !strcmp(v, "fsync") ? WM_JOURNAL_FSYNC
                           : !strcmp(v, "both")  ? -1
                                                 : (usage(), 0);
        else if (!strcmp(a, "--rounds"))
            o.rounds = atoi(v);
        else if (!strcmp(a, "--records"))
            o.records = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--payload"))
            o.payload = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--batch"))
            o.batch = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--buffer"))
            o.buffer = (uint32_t)strtoul(v, NULL, 0);
        else if (!strcmp(a, "--file-size"))
            o.file_size = strtoull(v, NULL, 0);
        else
            usage();
    }
    if (o.rounds < 1 || o.rounds > 50)
        usage();
    int levels[2], nl = 0;
    if (o.durability < 0) {
        levels[nl++] = WM_JOURNAL_WRITTEN;
        levels[nl++] = WM_JOURNAL_FSYNC;
    } else {
        levels[nl++] = o.durability;
    }
    char jdir[400], fdir[400];
    snprintf(jdir, sizeof(jdir), "%s/journal", o.dir);
    snprintf(fdir, sizeof(fdir), "%s/fio", o.dir);
    char cmd[500];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", o.dir);
    if (run_cmd(cmd))
        return 1;
    printf("journal_bench: dir %s payload %u (record %u bytes) batch %u file_size %" PRIu64 "\n",
           o.dir, o.payload, (unsigned)(24 + ((o.payload + 7) & ~7u)), o.batch, o.file_size);
    int failed = 0;
    for (int l = 0; l < nl; l++) {
        enum wm_journal_durability d = (enum wm_journal_durability)levels[l];
        uint64_t rec_bytes = 24 + ((o.payload + 7) & ~7u);
        struct opts lo = o;
        if (!lo.records)   /* ~256 MB written, ~64 MB under fsync */
            lo.records = (d == WM_JOURNAL_FSYNC ? 64ull << 20 : 256ull << 20) / rec_bytes;
        double jr[50], fr[50], jrec[50], pair[50];
        int nj = 0, nf = 0, np = 0;
        for (int r = 0; r < lo.rounds; r++) {
            struct result jres = {0}, fres = {0};
            int jok = journal_run(&lo, d, jdir, &jres) == 0;
            if (jok) {
                printf("%-7s journal round %d: %8.1f MB/s %10.0f records/s  %.2f s  writes %" PRIu64
                       " avg_write %.0f flushes %" PRIu64 " (appending %.2f s, buffer full %"
                       PRIu64 ", writer idle %" PRIu64 ")\n",
                       wm_journal_durability_name(d), r, jres.mb_s, jres.rec_s, jres.seconds,
                       jres.writes, jres.avg_write, jres.flushes, jres.append_s, jres.full,
                       jres.idle);
                jrec[nj] = jres.rec_s;
                jr[nj++] = jres.mb_s;
            } else {
                failed = 1;
            }
            if (!lo.fio)
                continue;
            if (fio_run(&lo, d, fdir, lo.records * rec_bytes, &fres) == 0) {
                printf("%-7s fio     round %d: %8.1f MB/s  %.2f s  bs %u fdatasync=%" PRIu64 "\n",
                       wm_journal_durability_name(d), r, fres.mb_s, fres.seconds, lo.batch,
                       d == WM_JOURNAL_FSYNC ? 1 : lo.file_size / lo.batch);
                fr[nf++] = fres.mb_s;
                if (jok)
                    pair[np++] = jres.mb_s / fres.mb_s;
            } else {
                failed = 1;
            }
            fflush(stdout);
        }
        if (nj) {
            double jm = median(jr, nj), rm = median(jrec, nj);
            printf("%-7s journal median: %.1f MB/s, %.0f records/s\n",
                   wm_journal_durability_name(d), jm, rm);
            if (nf) {
                double fm = median(fr, nf);
                printf("%-7s fio median:     %.1f MB/s\n", wm_journal_durability_name(d), fm);
                printf("%-7s ratio journal/fio: %.3f (of the medians); %.3f (median of the "
                       "%d paired rounds)\n",
                       wm_journal_durability_name(d), jm / fm, np ? median(pair, np) : 0.0, np);
            }
        }
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/journal' '%s/fio'", o.dir, o.dir);
    run_cmd(cmd);
    return failed;
}
