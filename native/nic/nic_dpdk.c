/* The DPDK backend's entry in libwirematch.
 *
 * DPDK itself lives in a plugin, build/<variant>/libwirematch_dpdk.so
 * (native/nic/dpdk/), built only when pkg-config finds libdpdk.  The first
 * "dpdk" open loads it from the directory libwirematch was loaded from and
 * hands the queue to the plugin's operations; every later call goes there
 * directly.  Why a plugin: linking DPDK into libwirematch would make every
 * user of the library (the Python extension, every test, every tool) load
 * some 20 DPDK libraries and run their constructors, for a backend most
 * processes never open.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "nic/nic_backend.h"

#define PLUGIN_NAME "libwirematch_dpdk.so"
#define PLUGIN_OPS "wm_nic_dpdk_plugin_ops"

static int dpdk_shim_open(struct wm_nic_queue *q)
{
#ifndef WM_HAVE_DPDK
    (void)q;
    return wm_nic_error(-EOPNOTSUPP, "this build of wirematch has no DPDK backend: pkg-config "
                        "found no libdpdk when it was built (install libdpdk-dev, then make build)");
#else
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static const struct wm_nic_ops *plugin;
    static char load_error[PATH_MAX + 256];

    pthread_mutex_lock(&lock);
    if (plugin == NULL && load_error[0] == '\0') {
        Dl_info self;
        char path[PATH_MAX];
        if (dladdr((const void *)&wm_nic_dpdk_ops, &self) == 0 || self.dli_fname == NULL) {
            snprintf(load_error, sizeof load_error, "cannot tell where libwirematch was loaded from");
        } else {
            const char *slash = strrchr(self.dli_fname, '/');
            int dir = slash ? (int)(slash - self.dli_fname) : 1;
            snprintf(path, sizeof path, "%.*s/%s", dir, slash ? self.dli_fname : ".", PLUGIN_NAME);
            void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
            if (h == NULL)
                snprintf(load_error, sizeof load_error, "cannot load the DPDK backend (%s): %s",
                         path, dlerror());
            else if ((plugin = dlsym(h, PLUGIN_OPS)) == NULL)
                snprintf(load_error, sizeof load_error, "%s has no %s", path, PLUGIN_OPS);
        }
    }
    const struct wm_nic_ops *ops = plugin;
    pthread_mutex_unlock(&lock);
    if (ops == NULL)
        return wm_nic_error(-ENOENT, "%s", load_error);
    q->ops = ops;
    return ops->open(q);
#endif
}

/* Reached only through a queue whose open failed before the plugin took it over. */
static void dpdk_shim_close(struct wm_nic_queue *q)
{
    (void)q;
}

static int dpdk_shim_rx(struct wm_nic_queue *q, struct wm_nic_pkt *pkts, uint32_t n)
{
    (void)q, (void)pkts, (void)n;
    return -ENODEV;
}

static void dpdk_shim_release(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    (void)q, (void)pkts, (void)n;
}

static int dpdk_shim_tx(struct wm_nic_queue *q, const struct wm_nic_pkt *pkts, uint32_t n)
{
    (void)q, (void)pkts, (void)n;
    return -ENODEV;
}

static int dpdk_shim_flush(struct wm_nic_queue *q)
{
    (void)q;
    return -ENODEV;
}

static int dpdk_shim_wait(struct wm_nic_queue *q, uint32_t timeout_us)
{
    (void)q, (void)timeout_us;
    return -ENODEV;
}

const struct wm_nic_ops wm_nic_dpdk_ops = {
    .name = "dpdk",
    .flags = WM_NIC_DPDK_FLAGS,
    .open = dpdk_shim_open,
    .close = dpdk_shim_close,
    .rx_burst = dpdk_shim_rx,
    .rx_release = dpdk_shim_release,
    .tx_burst = dpdk_shim_tx,
    .flush = dpdk_shim_flush,
    .wait = dpdk_shim_wait,
};
