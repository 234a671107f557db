/* check.h - the C unit tests' only helper: CHECK(cond) reports file:line and
 * the failed expression, counts it, and the test exits non-zero at the end.
 * Each test program runs from pytest (tests/test_native_units.py). */
#ifndef WM_TEST_CHECK_H
#define WM_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                              \
    do {                                                                         \
        check_count++;                                                           \
        if (!(cond)) {                                                           \
            check_failures++;                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECK_EQ(a, b)                                                           \
    do {                                                                         \
        long long _a = (long long)(a), _b = (long long)(b);                      \
        check_count++;                                                           \
        if (_a != _b) {                                                          \
            check_failures++;                                                    \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld vs %lld)\n",  \
                    __FILE__, __LINE__, #a, #b, _a, _b);                         \
        }                                                                        \
    } while (0)

static inline int check_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
