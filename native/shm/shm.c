/* The named shared-memory region: create, attach, allocate, enumerate.
 * Control path only (set-up and monitoring); nothing here is per packet. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "wirematch/counters.h"
#include "wirematch/hist.h"
#include "wirematch/ring.h"
#include "wirematch/shm.h"

#define SHM_DIR "/dev/shm"
#define FILE_PREFIX "wirematch-"
#define HUGETLBFS_MAGIC 0x958458f6
#define HUGE_PAGE (2u << 20)
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))

struct wm_shm {
    struct wm_shm_header *hdr;
    size_t map_size;
    int readonly;
    uint32_t file_uid;  /* an attached region: owner and mode of the file as opened
                           (fstat of its fd); a created one: the creator and 0600 */
    uint32_t file_mode;
    pthread_mutex_t alloc_lock; /* allocations from several control threads */
};

static __thread char last_error[256];

static int fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -err;
}

const char *wm_shm_last_error(void)
{
    return last_error;
}

/* Sizes of every structure another process interprets: a build whose
 * layout differs gets a different signature and cannot attach. */
uint64_t wm_shm_layout_signature(void)
{
    const uint64_t parts[] = {
        /* sizes of every shared structure */
        WM_SHM_VERSION,
        sizeof(struct wm_shm_header),
        sizeof(struct wm_shm_dirent),
        sizeof(struct wm_counters),
        WM_COUNTER_NAME_LEN,
        sizeof(struct wm_hist),
        WM_HIST_SUB_BITS,
        WM_RING_NAME_LEN,
        wm_ring_memsize(8, 2), /* the ring header's size shows in this */
    };
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the parts' bytes */
    const unsigned char *p = (const unsigned char *)parts;
    for (size_t i = 0; i < sizeof parts; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= WM_SHM_NAME_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return name[0] != '.';
}

/* The hugetlbfs directory to use, or NULL. */
static const char *huge_dir(char *buf, size_t len)
{
    const char *env = getenv("WIREMATCH_HUGE_DIR");
    if (env != NULL && env[0] != '\0') {
        struct statfs sfs;
        if (statfs(env, &sfs) == 0 && (unsigned long)sfs.f_type == HUGETLBFS_MAGIC) {
            snprintf(buf, len, "%s", env);
            return buf;
        }
        return NULL;
    }
    FILE *f = fopen("/proc/mounts", "r");
    if (f == NULL)
        return NULL;
    char dev[256], dir[PATH_MAX], type[64];
    const char *found = NULL;
    while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
        if (strcmp(type, "hugetlbfs") == 0 && access(dir, W_OK) == 0) {
            snprintf(buf, len, "%s", dir);
            found = buf;
            break;
        }
    }
    fclose(f);
    return found;
}

static void backing_path(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/" FILE_PREFIX "%s", dir, name);
}

/* Map a freshly created file of size bytes; 0 or -errno. */
static int map_new(const char *path, size_t size, int replace, void **base)
{
    if (replace)
        unlink(path);
    /* Owner-only: the region holds clients' orders.  The appliance widens it
     * to a group (0640) when its configuration names one. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (ftruncate(fd, (off_t)size) != 0) {
        rc = -errno;
        goto out_unlink;
    }
    /* MAP_POPULATE: on hugetlbfs the pages are reserved now (ENOMEM if there
     * are not enough), not at a later SIGBUS; on tmpfs nothing faults on the
     * hot path. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
        rc = -errno;
        goto out_unlink;
    }
    close(fd);
    *base = p;
    return 0;
out_unlink:
    close(fd);
    unlink(path);
    return rc;
}

static void header_init(struct wm_shm_header *h, const char *name, const char *path, size_t size,
                        uint32_t max_objects, int huge)
{
    h->version = WM_SHM_VERSION;
    h->header_size = sizeof(*h);
    h->layout_sig = wm_shm_layout_signature();
    h->size = size;
    h->max_objects = max_objects;
    h->hugepages = (uint32_t)huge;
    h->creator_pid = (int32_t)getpid();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    snprintf(h->name, sizeof h->name, "%s", name);
    snprintf(h->backing, sizeof h->backing, "%.*s", (int)sizeof h->backing - 1, path);
    h->used = ALIGN_UP(sizeof(*h) + (size_t)max_objects * sizeof(struct wm_shm_dirent),
                       WM_CACHE_LINE);
    /* Publish last: an attacher that sees the magic (acquire) sees the rest. */
    __atomic_store_n(&h->magic, WM_SHM_MAGIC, __ATOMIC_RELEASE);
}

int wm_shm_create(const char *name, size_t size, uint32_t max_objects, uint32_t flags,
                  struct wm_shm **out)
{
    if (!valid_name(name))
        return fail(EINVAL, "invalid region name '%s': use 1-%d of [A-Za-z0-9._-]",
                    name ? name : "(null)", WM_SHM_NAME_LEN - 1);
    if (max_objects == 0 || max_objects > 65536)
        return fail(EINVAL, "max_objects must be 1..65536, not %u", max_objects);
    size_t dir_bytes = sizeof(struct wm_shm_header) + (size_t)max_objects * sizeof(struct wm_shm_dirent);
    if (size < dir_bytes + WM_CACHE_LINE || size > (1ull << 40))
        return fail(EINVAL, "region size %zu is too small for %u objects or over 1 TiB", size,
                    max_objects);
    int replace = (flags & WM_SHM_REPLACE) != 0;
    char shm_path[PATH_MAX], huge_path[PATH_MAX], hbuf[PATH_MAX];
    backing_path(shm_path, sizeof shm_path, SHM_DIR, name);
    const char *hdir = (flags & WM_SHM_NO_HUGEPAGES) ? NULL : huge_dir(hbuf, sizeof hbuf);
    if (hdir) {
        backing_path(huge_path, sizeof huge_path, hdir, name);
        if (strlen(huge_path) >= sizeof(((struct wm_shm_header *)0)->backing))
            hdir = NULL; /* a path the header cannot record: use /dev/shm */
    }

    /* One name, one region: refuse if either backing already holds it. */
    if (!replace && (access(shm_path, F_OK) == 0 || (hdir && access(huge_path, F_OK) == 0)))
        return fail(EEXIST, "region '%s' already exists (remove it with wm_shm_unlink or "
                    "`wirematch shm rm %s`)", name, name);
    if (replace) {
        unlink(shm_path);
        if (hdir)
            unlink(huge_path);
    }

    struct wm_shm *shm = calloc(1, sizeof(*shm));
    if (shm == NULL)
        return fail(ENOMEM, "out of memory");
    void *base = NULL;
    int huge = 0, rc = -ENOENT;
    const char *path = shm_path;
    if (hdir) {
        size_t hsize = ALIGN_UP(size, HUGE_PAGE);
        rc = map_new(huge_path, hsize, 0, &base);
        if (rc == 0) {
            huge = 1;
            size = hsize;
            path = huge_path;
        }
    }
    if (!huge) {
        size = ALIGN_UP(size, (size_t)sysconf(_SC_PAGESIZE));
        rc = map_new(shm_path, size, 0, &base);
        if (rc < 0) {
            free(shm);
            return fail(-rc, "cannot create %s: %s", shm_path, strerror(-rc));
        }
    }
    shm->hdr = base;
    shm->map_size = size;
    shm->file_uid = (uint32_t)geteuid();
    shm->file_mode = 0600;
    pthread_mutex_init(&shm->alloc_lock, NULL);
    header_init(shm->hdr, name, path, size, max_objects, huge);
    *out = shm;
    return 0;
}

static int open_existing(const char *name, int readonly, char *path, size_t len)
{
    int mode = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    backing_path(path, len, SHM_DIR, name);
    int fd = open(path, mode);
    if (fd >= 0 || errno != ENOENT)
        return fd >= 0 ? fd : -errno;
    char hbuf[PATH_MAX];
    const char *hdir = huge_dir(hbuf, sizeof hbuf);
    if (hdir == NULL)
        return -ENOENT;
    backing_path(path, len, hdir, name);
    fd = open(path, mode);
    return fd >= 0 ? fd : -errno;
}

int wm_shm_attach(const char *name, int readonly, struct wm_shm **out)
{
    if (!valid_name(name))
        return fail(EINVAL, "invalid region name '%s'", name ? name : "(null)");
    char path[PATH_MAX];
    int fd = open_existing(name, readonly, path, sizeof path);
    if (fd < 0) {
        if (fd == -ENOENT)
            return fail(ENOENT, "no wirematch region named '%s' (is the appliance running? "
                        "`wirematch shm ls` lists regions)", name);
        return fail(-fd, "cannot open %s: %s", path, strerror(-fd));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(e, "cannot stat %s: %s", path, strerror(e));
    }
    if ((size_t)st.st_size < sizeof(struct wm_shm_header)) {
        close(fd);
        return fail(EPROTO, "%s is too small to be a wirematch region", path);
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ | (readonly ? 0 : PROT_WRITE),
                      MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (base == MAP_FAILED)
        return fail(e, "cannot map %s: %s", path, strerror(e));
    const struct wm_shm_header *h = base;
    int rc = 0;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != WM_SHM_MAGIC)
        rc = fail(EPROTO, "%s is not a wirematch region (or is still being created)", path);
    else if (h->version != WM_SHM_VERSION)
        rc = fail(EPROTO, "region '%s' has layout version %u; this build reads version %u",
                  name, h->version, WM_SHM_VERSION);
    else if (h->header_size != sizeof(struct wm_shm_header) ||
             h->layout_sig != wm_shm_layout_signature())
        rc = fail(EPROTO, "region '%s' was made by a wirematch build with a different memory "
                  "layout (signature %016llx, this build %016llx)", name,
                  (unsigned long long)h->layout_sig,
                  (unsigned long long)wm_shm_layout_signature());
    else if (h->size != (uint64_t)st.st_size)
        rc = fail(EPROTO, "region '%s' header says %llu bytes but its file has %lld", name,
                  (unsigned long long)h->size, (long long)st.st_size);
    if (rc < 0) {
        munmap(base, (size_t)st.st_size);
        return rc;
    }
    struct wm_shm *shm = calloc(1, sizeof(*shm));
    if (shm == NULL) {
        munmap(base, (size_t)st.st_size);
        return fail(ENOMEM, "out of memory");
    }
    shm->hdr = base;
    shm->map_size = (size_t)st.st_size;
    shm->readonly = readonly != 0;
    shm->file_uid = (uint32_t)st.st_uid;
    shm->file_mode = (uint32_t)st.st_mode & 07777;
    pthread_mutex_init(&shm->alloc_lock, NULL);
    *out = shm;
    return 0;
}

void wm_shm_file_owner(const struct wm_shm *shm, uint32_t *uid, uint32_t *mode)
{
    *uid = shm->file_uid;
    *mode = shm->file_mode;
}

void wm_shm_close(struct wm_shm *shm)
{
    if (shm == NULL)
        return;
    munmap(shm->hdr, shm->map_size);
    pthread_mutex_destroy(&shm->alloc_lock);
    free(shm);
}

int wm_shm_unlink(const char *name)
{
    if (!valid_name(name))
        return -EINVAL;
    char path[PATH_MAX], hbuf[PATH_MAX];
    int removed = 0;
    backing_path(path, sizeof path, SHM_DIR, name);
    removed |= unlink(path) == 0;
    const char *hdir = huge_dir(hbuf, sizeof hbuf);
    if (hdir) {
        backing_path(path, sizeof path, hdir, name);
        removed |= unlink(path) == 0;
    }
    return removed ? 0 : -ENOENT;
}

void *wm_shm_alloc(struct wm_shm *shm, uint32_t type, const char *name, size_t size,
                   size_t align)
{
    if (shm->readonly) {
        errno = EROFS;
        return NULL;
    }
    if (name == NULL || name[0] == '\0' || strlen(name) >= WM_SHM_NAME_LEN || size == 0 ||
        type < WM_OBJ_RING || type > WM_OBJ_BLOB || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    if (align < WM_CACHE_LINE)
        align = WM_CACHE_LINE;
    struct wm_shm_header *h = shm->hdr;
    void *mem = NULL;
    pthread_mutex_lock(&shm->alloc_lock);
    if (wm_shm_find(shm, name, 0) != NULL) {
        errno = EEXIST;
        goto out;
    }
    uint32_t n = h->n_objects;
    size_t off = ALIGN_UP(h->used, align);
    if (n >= h->max_objects || off > h->size || size > h->size - off) {
        errno = ENOSPC;
        goto out;
    }
    mem = (char *)h + off;
    memset(mem, 0, size);
    struct wm_shm_dirent *ent = &h->dir[n];
    snprintf(ent->name, sizeof ent->name, "%s", name);
    ent->type = type;
    ent->offset = off;
    ent->size = size;
    h->used = off + size;
    /* Release: the entry is complete before it is counted; pairs with the
     * acquire load of n_objects in wm_shm_find / readers' enumeration.  The
     * object's own contents are published by its init (magic stored last). */
    __atomic_store_n(&h->n_objects, n + 1, __ATOMIC_RELEASE);
out:
    pthread_mutex_unlock(&shm->alloc_lock);
    return mem;
}

const struct wm_shm_dirent *wm_shm_find(const struct wm_shm *shm, const char *name, uint32_t type)
{
    const struct wm_shm_header *h = shm->hdr;
    uint32_t n = __atomic_load_n(&h->n_objects, __ATOMIC_ACQUIRE);
    if (n > h->max_objects)
        n = h->max_objects;
    for (uint32_t i = 0; i < n; i++) {
        const struct wm_shm_dirent *e = &h->dir[i];
        if (strncmp(e->name, name, WM_SHM_NAME_LEN) == 0 && (type == 0 || e->type == type))
            return e;
    }
    errno = ENOENT;
    return NULL;
}

void *wm_shm_object(const struct wm_shm *shm, const struct wm_shm_dirent *ent)
{
    if (ent->offset > shm->map_size || ent->size > shm->map_size - ent->offset) {
        errno = EINVAL;
        return NULL;
    }
    return (char *)shm->hdr + ent->offset;
}

const struct wm_shm_header *wm_shm_header(const struct wm_shm *shm)
{
    return shm->hdr;
}

void *wm_shm_base(const struct wm_shm *shm)
{
    return shm->hdr;
}

struct wm_counters *wm_shm_counters_create(struct wm_shm *shm, const char *name,
                                           const char *const *names, uint32_t n)
{
    size_t size = wm_counters_memsize(n);
    if (size == 0) {
        errno = EINVAL;
        return NULL;
    }
    void *mem = wm_shm_alloc(shm, WM_OBJ_COUNTERS, name, size, 0);
    if (mem == NULL)
        return NULL;
    int rc = wm_counters_init(mem, size, names, n);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    return mem;
}

struct wm_hist *wm_shm_hist_create(struct wm_shm *shm, const char *name, uint64_t max_value)
{
    size_t size = wm_hist_memsize(max_value);
    if (size == 0) {
        errno = EINVAL;
        return NULL;
    }
    void *mem = wm_shm_alloc(shm, WM_OBJ_HIST, name, size, 0);
    if (mem == NULL)
        return NULL;
    wm_hist_init(mem, size, max_value);
    return mem;
}

struct wm_ring *wm_shm_ring_create(struct wm_shm *shm, const char *name, uint32_t elem_size,
                                   uint32_t capacity, uint32_t sync)
{
    if (sync != 0) {
        errno = EINVAL;
        return NULL;
    }
    size_t size = wm_ring_memsize(elem_size, capacity);
    if (size == 0) {
        errno = EINVAL;
        return NULL;
    }
    void *mem = wm_shm_alloc(shm, WM_OBJ_RING, name, size, WM_RING_ALIGN);
    if (mem == NULL)
        return NULL;
    int rc = wm_ring_init(mem, size, name, elem_size, capacity);
    if (rc < 0) {
        errno = -rc;
        return NULL;
    }
    return mem;
}
