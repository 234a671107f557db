/* Histogram and counter blocks from C: indexing, percentiles, validation. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "wirematch/counters.h"
#include "wirematch/hist.h"

#define COUNTERS(X) X(C_IN, "in") X(C_DROP, "drop_short") X(C_OUT, "out")
enum { COUNTERS(WM_COUNTER_ENUM) C_N };
static const char *const names[] = { COUNTERS(WM_COUNTER_NAME) };

static void test_hist(void)
{
    struct wm_hist *h;
    CHECK_EQ(wm_hist_create(10, &h), -EINVAL);
    CHECK_EQ(wm_hist_create(10000000000ull, &h), 0);
    CHECK_EQ(wm_hist_percentile(h, 50), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        wm_hist_record(h, v);
    CHECK_EQ(h->total, 1000);
    CHECK_EQ(h->min, 1);
    CHECK_EQ(h->max, 1000);
    CHECK_EQ(h->sum, 500500);
    /* Exact below 256; above, within one bucket (<= 1/128 of the value). */
    CHECK_EQ(wm_hist_percentile(h, 10), 100);
    uint64_t p99 = wm_hist_percentile(h, 99);
    CHECK(p99 >= 990 && p99 <= 990 + 990 / 128 + 1);
    CHECK_EQ(wm_hist_percentile(h, 100), wm_hist_highest_at(wm_hist_index(1000)));
    /* Index round trip at bucket edges. */
    for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 1) {
        uint32_t i = wm_hist_index(v);
        CHECK(wm_hist_lowest_at(i) <= v && v <= wm_hist_highest_at(i));
    }
    /* Overflow is counted and clamped. */
    wm_hist_record(h, 20000000000ull);
    CHECK_EQ(h->overflows, 1);
    CHECK_EQ(wm_hist_check(h, wm_hist_memsize(10000000000ull)), 0);
    CHECK_EQ(wm_hist_check(h, 64), -EINVAL);
    wm_hist_reset(h);
    CHECK_EQ(h->total, 0);
    wm_hist_destroy(h);
}

static void test_counters(void)
{
    struct wm_counters *c;
    const char *dup[] = { "a", "a" };
    CHECK_EQ(wm_counters_create(dup, 2, &c), -EINVAL);
    CHECK_EQ(wm_counters_create(names, C_N, &c), 0);
    wm_counter_add(c, C_IN, 5);
    wm_counter_add(c, C_DROP, 1);
    CHECK_EQ(wm_counters_get(c, C_IN), 5);
    CHECK_EQ(wm_counters_get(c, C_OUT), 0);
    CHECK(strcmp(wm_counters_name(c, C_DROP), "drop_short") == 0);
    CHECK(wm_counters_name(c, 99) == NULL);
    CHECK_EQ(wm_counters_find(c, "out"), C_OUT);
    CHECK_EQ(wm_counters_find(c, "nope"), -ENOENT);
    CHECK_EQ(wm_counters_check(c, wm_counters_memsize(C_N)), 0);
    CHECK_EQ(wm_counters_check(c, 16), -EINVAL);
    wm_counters_destroy(c);
}

int main(void)
{
    test_hist();
    test_counters();
    return check_finish("test_hist_counters");
}
