/* Pool: layout validation, get/put order, exhaustion counted, checked put. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "wirematch/pool.h"

int main(void)
{
    struct wm_pool *pool = NULL;
    CHECK_EQ(wm_pool_create(0, 4, &pool), -EINVAL);
    CHECK_EQ(wm_pool_create(24, 0, &pool), -EINVAL);
    CHECK_EQ(wm_pool_memsize(8, (1u << 31) + 1), 0);
    CHECK_EQ(wm_pool_create(20, 3, &pool), 0);
    CHECK_EQ(pool->obj_size, 24);   /* rounded up to 8 */

    void *a = wm_pool_get(pool), *b = wm_pool_get(pool), *c = wm_pool_get(pool);
    CHECK(a && b && c && a != b && b != c);
    CHECK_EQ(wm_pool_index(pool, a), 0);
    CHECK_EQ(wm_pool_index(pool, c), 2);
    CHECK(wm_pool_at(pool, 1) == b);
    memset(a, 0xab, 20);
    memset(c, 0xcd, 20);
    CHECK(wm_pool_get(pool) == NULL);
    CHECK_EQ(pool->get_failures, 1);
    CHECK_EQ(wm_pool_in_use(pool), 3);
    CHECK_EQ(pool->high_water, 3);

    CHECK_EQ(wm_pool_put_obj(pool, b), 0);
    CHECK(wm_pool_get(pool) == b);             /* LIFO: hot object reused */
    CHECK_EQ(wm_pool_put_obj(pool, (char *)a + 4), -EINVAL);   /* misaligned */
    char outside[32];
    CHECK_EQ(wm_pool_put_obj(pool, outside), -EINVAL);         /* foreign */
    CHECK_EQ(wm_pool_put_obj(pool, a), 0);
    CHECK_EQ(wm_pool_put_obj(pool, b), 0);
    CHECK_EQ(wm_pool_put_obj(pool, c), 0);
    CHECK_EQ(wm_pool_put_obj(pool, c), -EINVAL);               /* overfill: double free */
    CHECK_EQ(wm_pool_in_use(pool), 0);
    wm_pool_destroy(pool);

    /* Caller memory: too small is refused. */
    unsigned char buf[4096] __attribute__((aligned(64)));
    CHECK_EQ(wm_pool_init(buf, 64, 8, 100), -EINVAL);
    CHECK_EQ(wm_pool_init(buf, sizeof buf, 8, 100), 0);
    return check_finish("test_pool");
}
