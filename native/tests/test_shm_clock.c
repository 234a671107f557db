/* The shared region and the clock from plain C: create, allocate, attach
 * read-only, find, mismatch; calibrate, convert, fall back. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "wirematch.h"

static void test_shm(void)
{
    char name[64];
    snprintf(name, sizeof name, "ctest-%d", (int)getpid());
    struct wm_shm *shm, *ro;
    CHECK_EQ(wm_shm_create("bad/name", 1 << 20, 16, 0, &shm), -EINVAL);
    CHECK_EQ(wm_shm_attach(name, 1, &ro), -ENOENT);
    CHECK(strstr(wm_shm_last_error(), "no wirematch region") != NULL);
    CHECK_EQ(wm_shm_create(name, 1 << 20, 16, WM_SHM_NO_HUGEPAGES, &shm), 0);
    CHECK_EQ(wm_shm_create(name, 1 << 20, 16, WM_SHM_NO_HUGEPAGES, &ro), -EEXIST);

    const char *cn[] = { "rx", "tx" };
    struct wm_counters *c = wm_shm_counters_create(shm, "stage", cn, 2);
    CHECK(c != NULL);
    struct wm_hist *h = wm_shm_hist_create(shm, "lat", 1000000);
    CHECK(h != NULL);
    CHECK(wm_shm_counters_create(shm, "stage", cn, 2) == NULL && errno == EEXIST);
    wm_counter_add(c, 1, 9);
    wm_hist_record(h, 500);

    CHECK_EQ(wm_shm_attach(name, 1, &ro), 0);
    const struct wm_shm_header *hdr = wm_shm_header(ro);
    CHECK_EQ(hdr->n_objects, 2);
    const struct wm_shm_dirent *e = wm_shm_find(ro, "stage", WM_OBJ_COUNTERS);
    CHECK(e != NULL);
    if (e) {
        const struct wm_counters *rc = wm_shm_object(ro, e);
        CHECK_EQ(wm_counters_check(rc, e->size), 0);
        CHECK_EQ(wm_counters_get(rc, 1), 9);
    }
    CHECK(wm_shm_find(ro, "stage", WM_OBJ_HIST) == NULL);
    CHECK(wm_shm_alloc(ro, WM_OBJ_BLOB, "x", 64, 0) == NULL && errno == EROFS);
    wm_shm_close(ro);

    /* A region from a build with another layout cannot be attached. */
    ((struct wm_shm_header *)wm_shm_base(shm))->layout_sig ^= 1;
    CHECK_EQ(wm_shm_attach(name, 1, &ro), -EPROTO);
    CHECK(strstr(wm_shm_last_error(), "different memory layout") != NULL);
    wm_shm_close(shm);
    CHECK_EQ(wm_shm_unlink(name), 0);
    CHECK_EQ(wm_shm_unlink(name), -ENOENT);
}

static uint64_t raw_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_clock(void)
{
    struct wm_clock clk;
    CHECK_EQ(wm_clock_init(&clk, 10000, 0), 0);
    uint64_t a = wm_clock_now_ns(&clk), ra = raw_ns();
    usleep(100000);
    uint64_t b = wm_clock_now_ns(&clk), rb = raw_ns();
    long long err = (long long)(b - a) - (long long)(rb - ra);
    CHECK(err > -300000 && err < 300000);
    CHECK(wm_clock_recalibrate(&clk) > -2000000);
    CHECK_EQ(clk.recalibrations, clk.source == WM_CLOCK_TSC ? 1 : 0);

    struct wm_clock fb;
    CHECK_EQ(wm_clock_init(&fb, 0, WM_CLOCK_FORCE_FALLBACK), 0);
    CHECK_EQ(fb.source, WM_CLOCK_MONOTONIC_RAW);
    CHECK(strstr(wm_clock_source_name(&fb), "clock_gettime") != NULL);
    uint64_t t = wm_clock_ticks(&fb);
    CHECK_EQ(wm_tsc_to_ns(&fb, t), t);
    CHECK(wm_clock_default() == wm_clock_default());
}

int main(void)
{
    test_shm();
    test_clock();
    return check_finish("test_shm_clock");
}
