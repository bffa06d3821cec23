/* common.h: helpers shared by kcl's tests (cmocka). */
#ifndef KCL_TEST_COMMON_H
#define KCL_TEST_COMMON_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kcl.h>

/* A context on $KCL_DEVICE (or the default device), with the disk cache off
 * unless the test turns it on: tests must not depend on a user's cache. */
static inline kcl_context *test_context(void)
{
    kcl_context_options opt = {.disable_disk_cache = 1};
    kcl_context *ctx = NULL;
    kcl_status st = kcl_context_create(&ctx, &opt);
    if (st != KCL_OK)
        fail_msg("kcl_context_create: %s: %s", kcl_status_name(st), kcl_errmsg(NULL));
    return ctx;
}

/* Fails the test with the context's message when a kcl call fails. */
#define CHECK_OK(ctx, call)                                                        \
    do {                                                                           \
        kcl_status st_ = (call);                                                   \
        if (st_ != KCL_OK)                                                         \
            fail_msg("%s -> %s: %s", #call, kcl_status_name(st_), kcl_errmsg(ctx)); \
    } while (0)

/* Deterministic uniform values in [-1, 1) (xorshift64*), so failures repeat. */
static inline float test_uniform(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (float)((double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline float *test_random(size_t n, uint64_t seed)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++)
        v[i] = test_uniform(&s);
    return v;
}

/* True when the context runs on a simulator (Oclgrind): tests keep sizes small there. */
static inline int test_on_simulator(const kcl_context *ctx)
{
    return kcl_context_device(ctx)->simulator;
}

/* KCL_TEST_ONLY=pattern runs only the matching tests of a program. */
static inline void test_filter_from_env(void)
{
    const char *only = getenv("KCL_TEST_ONLY");
    if (only && *only)
        cmocka_set_test_filter(only);
}

#endif
