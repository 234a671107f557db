/* The adaptive idle schedule (a pure function of the time since the last
 * work), driven by a fake clock; and wm_idle_poll's counting of actions. */
#include <string.h>

#include "check.h"
#include "wirematch/worker.h"

static void test_schedule(void)
{
    struct wm_idle_policy p = { .strategy = WM_IDLE_ADAPTIVE, .spin_us = 50, .yield_us = 200,
                                .sleep_us = 50, .max_sleep_us = 1000 };
    uint32_t nap = 0;
    CHECK_EQ(wm_idle_adaptive_step(&p, 0, &nap), WM_IDLE_PAUSE);
    CHECK_EQ(wm_idle_adaptive_step(&p, 49999, &nap), WM_IDLE_PAUSE);
    CHECK_EQ(wm_idle_adaptive_step(&p, 50000, &nap), WM_IDLE_YIELD);
    CHECK_EQ(wm_idle_adaptive_step(&p, 249999, &nap), WM_IDLE_YIELD);
    CHECK_EQ(nap, 0);
    /* Sleeps double from sleep_us up to the cap and stay there. */
    const uint32_t want[] = { 50, 100, 200, 400, 800, 1000, 1000, 1000 };
    uint64_t t = 250000;
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        CHECK_EQ(wm_idle_adaptive_step(&p, t, &nap), WM_IDLE_NAP);
        CHECK_EQ(nap, want[i]);
        t += (uint64_t)nap * 1000;
    }
    /* Zero fields take the defaults: 50 us spin, 200 us yield, 50..200 us. */
    struct wm_idle_policy d = { .strategy = WM_IDLE_ADAPTIVE };
    nap = 0;
    CHECK_EQ(wm_idle_adaptive_step(&d, 49999, &nap), WM_IDLE_PAUSE);
    CHECK_EQ(wm_idle_adaptive_step(&d, 50000, &nap), WM_IDLE_YIELD);
    CHECK_EQ(wm_idle_adaptive_step(&d, 250000, &nap), WM_IDLE_NAP);
    CHECK_EQ(nap, 50);
    for (int i = 0; i < 40; i++)
        wm_idle_adaptive_step(&d, 10000000, &nap);
    CHECK_EQ(nap, 200);
    /* A cap below the first sleep wins; odd caps are reached exactly. */
    struct wm_idle_policy c = { .strategy = WM_IDLE_ADAPTIVE, .sleep_us = 80, .max_sleep_us = 30 };
    nap = 0;
    CHECK_EQ(wm_idle_adaptive_step(&c, 1000000, &nap), WM_IDLE_NAP);
    CHECK_EQ(nap, 30);
    c.max_sleep_us = 300;
    nap = 0;
    const uint32_t want_c[] = { 80, 160, 300, 300 };
    for (unsigned i = 0; i < 4; i++) {
        wm_idle_adaptive_step(&c, 1000000, &nap);
        CHECK_EQ(nap, want_c[i]);
    }
    /* No spin, no yield: straight to sleeping. */
    struct wm_idle_policy z = { .strategy = WM_IDLE_ADAPTIVE, .spin_us = 1, .yield_us = 1 };
    nap = 0;
    CHECK_EQ(wm_idle_adaptive_step(&z, 2000, &nap), WM_IDLE_NAP);
}

/* wm_idle_poll on the real clock: a short spin budget runs out, the worker
 * sleeps, and zeroing `empty` (work arrived) starts over at spinning. */
static void test_poll(void)
{
    struct wm_idle_policy p = { .strategy = WM_IDLE_ADAPTIVE, .spin_us = 20, .yield_us = 20,
                                .sleep_us = 10, .max_sleep_us = 40 };
    struct wm_idle_state s;
    memset(&s, 0, sizeof(s));
    CHECK_EQ(wm_idle_poll(&p, &s), WM_IDLE_PAUSE);
    unsigned naps = 0, polls = 0;
    while (naps < 5 && polls < 10000000) {
        polls++;
        if (wm_idle_poll(&p, &s) == WM_IDLE_NAP)
            naps++;
    }
    CHECK_EQ(naps, 5);
    CHECK_EQ(s.nap_us, 40);
    s.empty = 0;
    CHECK_EQ(wm_idle_poll(&p, &s), WM_IDLE_PAUSE);
    CHECK_EQ(s.nap_us, 0);

    /* The older strategies report what they did. */
    struct wm_idle_policy y = { .strategy = WM_IDLE_SPIN_YIELD, .spin_polls = 2 };
    memset(&s, 0, sizeof(s));
    CHECK_EQ(wm_idle_poll(&y, &s), WM_IDLE_PAUSE);
    CHECK_EQ(wm_idle_poll(&y, &s), WM_IDLE_PAUSE);
    CHECK_EQ(wm_idle_poll(&y, &s), WM_IDLE_YIELD);
    struct wm_idle_policy sl = { .strategy = WM_IDLE_SLEEP, .spin_polls = 1, .sleep_us = 1 };
    memset(&s, 0, sizeof(s));
    CHECK_EQ(wm_idle_poll(&sl, &s), WM_IDLE_PAUSE);
    CHECK_EQ(wm_idle_poll(&sl, &s), WM_IDLE_NAP);
    struct wm_idle_policy sp = { .strategy = WM_IDLE_SPIN };
    memset(&s, 0, sizeof(s));
    for (int i = 0; i < 5000; i++)
        CHECK_EQ(wm_idle_poll(&sp, &s), WM_IDLE_PAUSE);
    CHECK(strcmp(wm_idle_name(WM_IDLE_ADAPTIVE), "adaptive") == 0);
    CHECK(wm_idle_name(4) == NULL);
}

int main(void)
{
    test_schedule();
    test_poll();
    return check_finish("test_idle");
}
