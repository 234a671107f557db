/* Named 64-bit counter blocks: layout, lookup, validation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wirematch/counters.h"

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((size_t)(a) - 1))

static size_t values_offset(uint32_t n)
{
    return ALIGN_UP(sizeof(struct wm_counters) + (size_t)n * WM_COUNTER_NAME_LEN, WM_CACHE_LINE);
}

size_t wm_counters_memsize(uint32_t n)
{
    if (n == 0 || n > (1u << 20))
        return 0;
    return values_offset(n) + (size_t)n * sizeof(uint64_t);
}

int wm_counters_init(void *mem, size_t memsize, const char *const *names, uint32_t n)
{
    size_t need = wm_counters_memsize(n);
    if (mem == NULL || names == NULL || need == 0 || memsize < need || ((uintptr_t)mem & 7))
        return -EINVAL;
    for (uint32_t i = 0; i < n; i++) {
        if (names[i] == NULL || names[i][0] == '\0' || strlen(names[i]) >= WM_COUNTER_NAME_LEN)
            return -EINVAL;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return -EINVAL;
    }
    struct wm_counters *c = mem;
    memset(mem, 0, need);
    c->n = n;
    c->name_len = WM_COUNTER_NAME_LEN;
    c->names_offset = sizeof(struct wm_counters);
    c->values_offset = values_offset(n);
    char *nm = (char *)mem + c->names_offset;
    for (uint32_t i = 0; i < n; i++)
        strcpy(nm + (size_t)i * WM_COUNTER_NAME_LEN, names[i]);
    /* Publish last: pairs with the acquire in wm_counters_check. */
    __atomic_store_n(&c->magic, WM_COUNTERS_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int wm_counters_create(const char *const *names, uint32_t n, struct wm_counters **out)
{
    size_t need = wm_counters_memsize(n);
    if (need == 0 || out == NULL)
        return -EINVAL;
    void *mem = aligned_alloc(WM_CACHE_LINE, ALIGN_UP(need, WM_CACHE_LINE));
    if (mem == NULL)
        return -ENOMEM;
    int rc = wm_counters_init(mem, need, names, n);
    if (rc < 0) {
        free(mem);
        return rc;
    }
    *out = mem;
    return 0;
}

void wm_counters_destroy(struct wm_counters *c)
{
    free(c);
}

int wm_counters_check(const void *mem, size_t size)
{
    const struct wm_counters *c = mem;
    if (size < sizeof(*c) || __atomic_load_n(&c->magic, __ATOMIC_ACQUIRE) != WM_COUNTERS_MAGIC)
        return -EINVAL;
    if (c->name_len != WM_COUNTER_NAME_LEN || wm_counters_memsize(c->n) == 0 ||
        wm_counters_memsize(c->n) > size || c->values_offset != values_offset(c->n) ||
        c->names_offset != sizeof(*c))
        return -EINVAL;
    return 0;
}

const char *wm_counters_name(const struct wm_counters *c, uint32_t idx)
{
    if (idx >= c->n)
        return NULL;
    return (const char *)c + c->names_offset + (size_t)idx * c->name_len;
}

uint64_t wm_counters_get(const struct wm_counters *c, uint32_t idx)
{
    if (idx >= c->n)
        return 0;
    const uint64_t *v = (const uint64_t *)((const char *)c + c->values_offset) + idx;
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

void wm_counters_add_value(struct wm_counters *c, uint32_t idx, uint64_t delta)
{
    if (idx < c->n)
        wm_counter_add(c, idx, delta);
}

int wm_counters_find(const struct wm_counters *c, const char *name)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (strcmp(wm_counters_name(c, i), name) == 0)
            return (int)i;
    return -ENOENT;
}
