/* wirematch/shm.h - the named shared-memory region of an appliance instance.
 *
 * One region per instance, named NAME: backed by a file on a hugetlbfs mount
 * (2 MiB pages) when one is mounted and has room, else /dev/shm/wirematch-NAME.
 * It starts with a versioned header and a directory of the objects placed in
 * it (rings, counter blocks, histograms, opaque blobs), so another process
 * can attach read-only by name and enumerate what is inside, like a DPDK
 * secondary process or Snabb's shm counters.
 *
 * Objects are allocated once, at set-up, by the process that created the
 * region (wm_shm_alloc is not for the hot path).  Objects never move and are
 * never freed: the region goes away as a whole with wm_shm_unlink.
 *
 * Attaching checks magic, version and a layout signature computed from the
 * sizes of every shared structure; a mismatch is -EPROTO with a message
 * (wm_shm_last_error) naming what differs.
 */
#ifndef WIREMATCH_SHM_H
#define WIREMATCH_SHM_H

#include "wirematch/common.h"

#define WM_SHM_MAGIC    0x314d4853484d5755ull   /* "UWMHSHM1" */
enum { WM_SHM_VERSION = 1, WM_SHM_NAME_LEN = 48 };

enum wm_obj_type {
    WM_OBJ_RING = 1,
    WM_OBJ_COUNTERS = 2,
    WM_OBJ_HIST = 3,
    WM_OBJ_BLOB = 4
};

/* Where regions live.  A hugetlbfs mount is used when WIREMATCH_HUGE_DIR
 * names one, or else the first hugetlbfs mount in /proc/mounts, provided it
 * has enough free huge pages; otherwise /dev/shm. */

/* Flags for wm_shm_create. */
enum {
    WM_SHM_NO_HUGEPAGES = 1,  /* use /dev/shm even if hugetlbfs is available */
    WM_SHM_REPLACE = 2        /* replace an existing region of that name */
};

struct wm_shm_dirent {
    char     name[WM_SHM_NAME_LEN];
    uint32_t type;          /* enum wm_obj_type */
    uint32_t flags;
    uint64_t offset;        /* from the start of the region */
    uint64_t size;          /* bytes */
};

struct wm_shm_header {
    uint64_t magic;         /* WM_SHM_MAGIC */
    uint32_t version;       /* WM_SHM_VERSION */
    uint32_t header_size;   /* sizeof(struct wm_shm_header) */
    uint64_t layout_sig;    /* wm_shm_layout_signature() of the creator */
    uint64_t size;          /* bytes in the region */
    uint64_t used;          /* bytes allocated so far (bump pointer) */
    uint32_t max_objects;   /* directory capacity */
    uint32_t n_objects;     /* published entries (release-stored after the entry) */
    uint32_t hugepages;     /* 1 when backed by hugetlbfs */
    int32_t  creator_pid;
    uint64_t created_ns;    /* CLOCK_REALTIME at creation */
    char     name[WM_SHM_NAME_LEN];
    char     backing[128];  /* path of the backing file */
    uint64_t reserved[8];
    struct wm_shm_dirent dir[];
};

struct wm_shm;              /* a process's handle on a region */

/* Create a region of at least size bytes (rounded up to the page size) with
 * room for max_objects directory entries.  Returns 0, -EEXIST (the name is
 * taken and WM_SHM_REPLACE not given), -EINVAL (bad name or size) or another
 * -errno from the system. */
int wm_shm_create(const char *name, size_t size, uint32_t max_objects, uint32_t flags,
                  struct wm_shm **out);

/* Attach to an existing region; read-only when readonly != 0.  Returns 0,
 * -ENOENT (no such region), -EPROTO (version or layout mismatch, or not a
 * wirematch region), or another -errno. */
int wm_shm_attach(const char *name, int readonly, struct wm_shm **out);

/* Owner uid and permission bits of an attached region's file, as it was
 * opened (not as its header says): a reader checks them before trusting what
 * the region publishes.  A created region reports the creator's uid, 0600. */
void wm_shm_file_owner(const struct wm_shm *shm, uint32_t *uid, uint32_t *mode);

/* Unmap and free the handle (the region stays). */
void wm_shm_close(struct wm_shm *shm);

/* Remove a region by name.  Returns 0 or -ENOENT. */
int wm_shm_unlink(const char *name);

/* Reserve size bytes (aligned to a cache line, or to align if larger) and
 * publish a directory entry.  Returns the memory (zeroed) or NULL with errno
 * EEXIST (name taken), ENOSPC (region or directory full), EROFS (attached
 * read-only) or EINVAL. */
void *wm_shm_alloc(struct wm_shm *shm, uint32_t type, const char *name, size_t size,
                   size_t align);

/* Find an object by name (and type, or 0 for any).  Returns its directory
 * entry or NULL with errno ENOENT. */
const struct wm_shm_dirent *wm_shm_find(const struct wm_shm *shm, const char *name,
                                        uint32_t type);
void *wm_shm_object(const struct wm_shm *shm, const struct wm_shm_dirent *ent);

const struct wm_shm_header *wm_shm_header(const struct wm_shm *shm);
void *wm_shm_base(const struct wm_shm *shm);
uint64_t wm_shm_layout_signature(void);
/* The last error message of a failed create/attach in this thread. */
const char *wm_shm_last_error(void);

/* Convenience: allocate and lay out each object type in one call (NULL with
 * errno on failure). */
struct wm_counters;
struct wm_hist;
struct wm_ring;
/* sync: enum wm_ring_sync of wirematch/ring.h (0 = head/tail). */
struct wm_ring *wm_shm_ring_create(struct wm_shm *shm, const char *name, uint32_t elem_size,
                                   uint32_t capacity, uint32_t sync);
struct wm_counters *wm_shm_counters_create(struct wm_shm *shm, const char *name,
                                           const char *const *names, uint32_t n);
struct wm_hist *wm_shm_hist_create(struct wm_shm *shm, const char *name, uint64_t max_value);

#endif
