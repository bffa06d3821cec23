/* test_threads: what kcl.h promises about threads.
 *
 * Two contexts, on two different devices where there are two (PoCL and
 * Oclgrind), else two on PoCL, each used from its own thread at the same
 * time: each creates its context, trains a small seeded model and predicts.
 * Every loss and prediction must equal bit for bit those of the same run done
 * single-threaded on the same device first (the runs are deterministic: seeded
 * initializers, fixed data, in-order queues). Also: kcl_errmsg(NULL) is per
 * thread, kcl_device_list may run on several threads at once, and two
 * contexts may fill one disk cache directory at the same time.
 *
 * CI runs it under ThreadSanitizer too (.ci/run, build-tsan): clean with no
 * suppressions, the drivers' own threads included. */
#include <pthread.h>

#include "common.h"

enum { IN = 8, HIDDEN = 16, OUT = 3, BATCH = 8, STEPS = 6, ROUNDS = 2 };

typedef struct run {
    const char *device;          /* KCL_DEVICE-style choice */
    pthread_barrier_t *start;    /* NULL when run alone */
    kcl_status status;
    char error[512];
    float losses[ROUNDS][STEPS];
    float pred[ROUNDS][BATCH * OUT];
} run;

static void sync_start(run *r)
{
    if (r->start)
        pthread_barrier_wait(r->start);
}

static kcl_model *small_model(kcl_context *ctx)
{
    kcl_model *m;
    if (kcl_sequential(ctx, &m) ||
        kcl_model_add(m, kcl_layer_dense(HIDDEN, .input_dim = IN, .activation = "relu",
                                         .kernel_initializer = kcl_init_glorot_uniform(.seed = 3),
                                         .bias_initializer = kcl_init_random_uniform(.seed = 4))) ||
        kcl_model_add(m, kcl_layer_dense(OUT, .activation = "softmax",
                                         .kernel_initializer = kcl_init_glorot_uniform(.seed = 5))) ||
        kcl_compile(m, kcl_adam(.learning_rate = 1e-2f), "sparse_categorical_crossentropy", NULL))
        return NULL;
    return m;
}

/* Trains ROUNDS fresh models for STEPS steps each, predicting after each. */
static kcl_status train_and_predict(kcl_context *ctx, run *r)
{
    float xv[BATCH * IN], yv[BATCH];
    uint64_t s = 42;
    for (int i = 0; i < BATCH * IN; i++)
        xv[i] = test_uniform(&s);
    for (int i = 0; i < BATCH; i++)
        yv[i] = (float)(i % OUT);
    int64_t xs[2] = {BATCH, IN}, ys[1] = {BATCH};
    kcl_tensor *x = NULL, *y = NULL, *p = NULL;
    kcl_model *m = NULL;
    kcl_status st = kcl_tensor_from_host(ctx, 2, xs, xv, &x);
    if (!st)
        st = kcl_tensor_from_host(ctx, 1, ys, yv, &y);
    for (int k = 0; !st && k < ROUNDS; k++) {
        st = (m = small_model(ctx)) ? KCL_OK : KCL_ERR_STATE;
        for (int i = 0; !st && i < STEPS; i++)
            st = kcl_train_on_batch(m, &x, &y, &r->losses[k][i], 1);
        if (!st)
            st = kcl_predict_on_batch(m, &x, &p);
        if (!st)
            st = kcl_tensor_read(p, r->pred[k], BATCH * OUT);
        kcl_tensor_free(p);
        p = NULL;
        kcl_model_free(m);
        m = NULL;
    }
    kcl_tensor_free(x);
    kcl_tensor_free(y);
    return st;
}

static void *run_main(void *arg)
{
    run *r = arg;
    sync_start(r);   /* contexts created at the same time too */
    kcl_context_options opt = {.device = r->device, .disable_disk_cache = 1};
    kcl_context *ctx = NULL;
    r->status = kcl_context_create(&ctx, &opt);
    if (r->status) {
        snprintf(r->error, sizeof r->error, "%s", kcl_errmsg(NULL));
        sync_start(r);
        return NULL;
    }
    /* Build every program first, so that the timed part overlaps the two
     * devices' training rather than one device's compiler. */
    r->status = kcl_build_all(ctx);
    sync_start(r);
    if (!r->status)
        r->status = train_and_predict(ctx, r);
    if (r->status)
        snprintf(r->error, sizeof r->error, "%s", kcl_errmsg(ctx));
    kcl_context_free(ctx);
    return NULL;
}

/* PoCL and Oclgrind when both are installed, else PoCL twice. */
static void choose_devices(const char **a, const char **b)
{
    kcl_device_info *list;
    size_t n;
    *a = *b = "pocl";
    if (kcl_device_list(&list, &n) != KCL_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (list[i].simulator)
            *b = "oclgrind";
    kcl_device_list_free(list);
}

static void check_ok(const run *r)
{
    if (r->status)
        fail_msg("%s: %s: %s", r->device, kcl_status_name(r->status), r->error);
}

static void test_two_contexts_two_threads(void **state)
{
    (void)state;
    const char *dev[2];
    choose_devices(&dev[0], &dev[1]);
    /* The reference: each device's run alone, one after the other. */
    run alone[2] = {{.device = dev[0]}, {.device = dev[1]}};
    for (int i = 0; i < 2; i++) {
        run_main(&alone[i]);
        check_ok(&alone[i]);
        /* Training did something: the loss went down. */
        for (int k = 0; k < ROUNDS; k++)
            assert_true(alone[i].losses[k][STEPS - 1] < alone[i].losses[k][0]);
    }
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    run both[2] = {{.device = dev[0], .start = &start}, {.device = dev[1], .start = &start}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, run_main, &both[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
        check_ok(&both[i]);
        assert_memory_equal(both[i].losses, alone[i].losses, sizeof alone[i].losses);
        assert_memory_equal(both[i].pred, alone[i].pred, sizeof alone[i].pred);
    }
    printf("# devices: %s and %s; final losses %.6f and %.6f\n", dev[0], dev[1],
           (double)both[0].losses[ROUNDS - 1][STEPS - 1],
           (double)both[1].losses[ROUNDS - 1][STEPS - 1]);
}

/* ------------------------------------------------ context-less messages -- */

typedef struct errmsg_run {
    pthread_barrier_t *start;
    char choice[64];
    int own_message;             /* the thread saw its own choice in its message */
    size_t devices;
} errmsg_run;

static void *errmsg_main(void *arg)
{
    errmsg_run *r = arg;
    int ok = 1;
    pthread_barrier_wait(r->start);
    /* Every wait happens whatever failed, so the other thread never hangs. */
    for (int k = 0; k < 20; k++) {
        kcl_context *ctx = (kcl_context *)1;
        kcl_context_options opt = {.device = r->choice, .disable_disk_cache = 1};
        ok &= kcl_context_create(&ctx, &opt) == KCL_ERR_NO_DEVICE && !ctx;
        /* The other thread fails the same way now; this thread's slot keeps
         * this thread's message. */
        pthread_barrier_wait(r->start);
        ok &= strstr(kcl_errmsg(NULL), r->choice) != NULL;
        kcl_device_info *list = NULL;
        ok &= kcl_device_list(&list, &r->devices) == KCL_OK;
        kcl_device_list_free(list);
        pthread_barrier_wait(r->start);
    }
    r->own_message = ok;
    return NULL;
}

static void test_errmsg_per_thread(void **state)
{
    (void)state;
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    errmsg_run r[2] = {{.start = &start, .choice = "no-such-device-alpha"},
                       {.start = &start, .choice = "no-such-device-beta"}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, errmsg_main, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start);
    assert_true(r[0].own_message && r[1].own_message);
    assert_int_equal(r[0].devices, r[1].devices);
    assert_true(r[0].devices > 0);
}

/* ------------------------------------------------- one disk cache, two threads -- */

typedef struct cache_run {
    pthread_barrier_t *start;
    const char *dir;
    kcl_status status;
    char error[512];
} cache_run;

static void *cache_main(void *arg)
{
    cache_run *r = arg;
    kcl_context_options opt = {.device = "pocl", .cache_dir = r->dir};
    kcl_context *ctx = NULL;
    r->status = kcl_context_create(&ctx, &opt);
    pthread_barrier_wait(r->start);
    if (!r->status)
        r->status = kcl_build_all(ctx);   /* both compile and store every program */
    snprintf(r->error, sizeof r->error, "%s", ctx ? kcl_errmsg(ctx) : kcl_errmsg(NULL));
    kcl_context_free(ctx);
    return NULL;
}

/* Two contexts filling one empty cache directory at the same time: every
 * entry must come out whole, so a third context loads every program from
 * disk and rejects none. */
static void test_shared_disk_cache(void **state)
{
    (void)state;
    char dir[256];
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/kcl_test_threads_XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(dir));
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    cache_run r[2] = {{.start = &start, .dir = dir}, {.start = &start, .dir = dir}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, cache_main, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++)
        if (r[i].status)
            fail_msg("%s: %s", kcl_status_name(r[i].status), r[i].error);
    kcl_context_options opt = {.device = "pocl", .cache_dir = dir};
    kcl_context *ctx;
    CHECK_OK(NULL, kcl_context_create(&ctx, &opt));
    CHECK_OK(ctx, kcl_build_all(ctx));
    kcl_build_stats stats;
    CHECK_OK(ctx, kcl_build_stats_get(ctx, &stats));
    kcl_context_free(ctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    printf("# third context: %u programs, %u from disk, %u compiled, %u rejected\n",
           stats.programs, stats.from_disk, stats.compiled, stats.cache_rejected);
    assert_int_equal(stats.cache_rejected, 0);
    assert_int_equal(stats.compiled, 0);
    assert_int_equal(stats.from_disk, stats.programs);
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_contexts_two_threads),
        cmocka_unit_test(test_errmsg_per_thread),
        cmocka_unit_test(test_shared_disk_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
