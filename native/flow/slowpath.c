/* The slow-path gate: which misses of an rx burst go to the classifier.
 * Called once per rx burst by the worker (not per packet). */
#include <errno.h>
#include <string.h>

#include "wirematch/counters.h"
#include "wirematch/flow.h"
#include "wirematch/ring.h"

static const char *const counter_names[] = { WM_SLOWPATH_COUNTERS(WM_COUNTER_NAME) };

const char *const *wm_slowpath_counter_names(void)
{
    return counter_names;
}

static int counters_match(const struct wm_counters *c)
{
    if (c->n != WM_SP_N_COUNTERS)
        return 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (strcmp(wm_counters_name(c, i), counter_names[i]) != 0)
            return 0;
    return 1;
}

int wm_slowpath_set_limit(struct wm_slowpath *sp, uint32_t max_new_per_sec, uint32_t burst)
{
    if (sp == NULL)
        return -EINVAL;
    if (max_new_per_sec == 0)
        return wm_rate_bucket_configure(&sp->limit, sp->tick_hz, 0, 0);
    if (burst == 0)
        burst = max_new_per_sec / 10 ? max_new_per_sec / 10 : 1;
    return wm_rate_bucket_configure(&sp->limit, sp->tick_hz, max_new_per_sec, burst);
}

int wm_slowpath_init(struct wm_slowpath *sp, const struct wm_slowpath_config *cfg)
{
    if (sp == NULL || cfg == NULL || cfg->size < sizeof(*cfg) || cfg->ring == NULL ||
        cfg->table == NULL || cfg->counters == NULL || cfg->tick_hz == 0)
        return -EINVAL;
    if (wm_ring_elem_size(cfg->ring) != sizeof(struct wm_flow_miss) ||
        !counters_match(cfg->counters))
        return -EINVAL;
    memset(sp, 0, sizeof(*sp));
    wm_rate_bucket_init(&sp->limit);
    sp->ring = cfg->ring;
    sp->table = cfg->table;
    sp->counters = cfg->counters;
    sp->tick_hz = cfg->tick_hz;
    return wm_slowpath_set_limit(sp, cfg->max_new_per_sec, cfg->burst);
}

unsigned wm_slowpath_push_burst(struct wm_slowpath *sp, const struct wm_flow_miss *misses,
                                unsigned n, uint64_t now)
{
    if (n == 0)
        return 0;
    wm_counter_add(sp->counters, WM_SP_MISSES, n);
    /* Relaxed: a snapshot of the control plane's count is enough to shed
     * load while the table is full. */
    if (__atomic_load_n(&sp->table->n_live, __ATOMIC_RELAXED) >= sp->table->max_flows) {
        wm_counter_add(sp->counters, WM_SP_TABLE_FULL, n);
        return 0;
    }
    unsigned admitted = wm_rate_take_burst(&sp->limit, now, n);
    if (admitted < n)
        wm_counter_add(sp->counters, WM_SP_RATE_LIMITED, n - admitted);
    unsigned pushed = admitted ? wm_ring_mp_enqueue_burst(sp->ring, misses, admitted) : 0;
    if (pushed < admitted)
        wm_counter_add(sp->counters, WM_SP_RING_FULL, admitted - pushed);
    if (pushed)
        wm_counter_add(sp->counters, WM_SP_PUSHED, pushed);
    return pushed;
}
