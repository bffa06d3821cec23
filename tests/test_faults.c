/* test_faults: injected failures (lib/fault.c) at every allocation, enqueue
 * and program build of a training step, predict, evaluate, save and load: each
 * must fail with a message, release what it held (the device memory in use
 * returns to its value before the model existed) and leave the same model
 * usable: its predictions match a double-precision host forward pass of its
 * weights, and it trains on. Then the limits: shapes that overflow, absurd
 * batch sizes, more memory than the device has. Run under valgrind too:
 *   valgrind --leak-check=full --suppressions=tests/valgrind.supp test_faults */
#include <stdbool.h>
#include <unistd.h>

#include "common.h"

/* The test hooks (internal, lib/internal.h). */
typedef enum { FAULT_ALLOC, FAULT_BUILD, FAULT_ENQUEUE } fault_kind;
void kcl__fault_arm(kcl_context *ctx, fault_kind kind, int64_t n);
int64_t kcl__fault_count(const kcl_context *ctx, fault_kind kind);
void kcl__fault_memory_limit(kcl_context *ctx, uint64_t bytes);

static const char *const kind_name[] = {"alloc", "build", "enqueue"};

static kcl_context *ctx;

enum { N = 32, IN = 3, HID = 4, BATCH = 16, N_WEIGHTS = IN * HID + HID + HID + 1 };

static float xs[N * IN], ys[N];

static void make_data(void)
{
    float *r = test_random(N * IN, 5);
    memcpy(xs, r, sizeof xs);
    free(r);
    for (int i = 0; i < N; i++)
        ys[i] = (float)(xs[i * IN] - 2.0 * xs[i * IN + 1] + 0.5 * xs[i * IN + 2] + 0.3);
}

/* 3 -> 4 (tanh) -> 1 with fixed weights, Adam (slots to create) and a metric. */
static kcl_model *tiny_model(void)
{
    float w1[IN * HID], b1[HID] = {0.1f, 0, -0.1f, 0.2f}, w2[HID], b2[1] = {0.05f};
    for (int i = 0; i < IN * HID; i++)
        w1[i] = 0.1f * (float)((i * 7) % 11) - 0.5f;
    for (int i = 0; i < HID; i++)
        w2[i] = 0.3f - 0.2f * (float)i;
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(HID, .input_dim = IN, .activation = "tanh")));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1)));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 0), 0, w1, IN * HID));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 0), 1, b1, HID));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 1), 0, w2, HID));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 1), 1, b2, 1));
    CHECK_OK(ctx, kcl_compile(m, kcl_adam(.learning_rate = 0.02f), "mse", "mae"));
    return m;
}

/* w1 [3, 4], b1 [4], w2 [4, 1], b2 [1], concatenated; every one finite. */
static void read_weights(kcl_model *m, float *w)
{
    size_t at = 0;
    for (size_t l = 0; l < 2; l++)
        for (size_t k = 0; k < 2; k++) {
            kcl_tensor *t = kcl_layer_weight(kcl_model_layer(m, l), k);
            CHECK_OK(ctx, kcl_tensor_read(t, w + at, (size_t)kcl_tensor_size(t)));
            at += (size_t)kcl_tensor_size(t);
        }
    assert_int_equal(at, N_WEIGHTS);
    for (size_t i = 0; i < at; i++)
        if (!isfinite(w[i]))
            fail_msg("weight %zu is %g", i, w[i]);
}

/* The model's function in double precision on the host. */
static double host_forward(const float *w, const float *x)
{
    const float *w1 = w, *b1 = w + IN * HID, *w2 = b1 + HID, *b2 = w2 + HID;
    double y = b2[0];
    for (int j = 0; j < HID; j++) {
        double h = b1[j];
        for (int i = 0; i < IN; i++)
            h += (double)x[i] * w1[i * HID + j];
        y += tanh(h) * w2[j];
    }
    return y;
}

/* kcl_predict on xs agrees with the host forward pass of the current weights. */
static void check_predictions(kcl_model *m)
{
    float w[N_WEIGHTS];
    read_weights(m, w);
    kcl_array x = {xs, 2, {N, IN}}, out;
    CHECK_OK(ctx, kcl_predict(m, 1, &x, &(kcl_eval_options){.batch_size = BATCH}, 1, &out));
    assert_int_equal(kcl_array_size(&out), N);
    for (int i = 0; i < N; i++) {
        double want = host_forward(w, xs + i * IN);
        if (fabs(out.data[i] - want) > 1e-5 * (1 + fabs(want)))
            fail_msg("sample %d: predicted %.9g, host %.9g", i, out.data[i], want);
    }
    kcl_array_free(&out);
}

static kcl_status fit(kcl_model *m, int epochs, kcl_history **h)
{
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}};
    kcl_fit_options o = {.epochs = epochs, .batch_size = BATCH, .no_shuffle = 1,
                         .verbose = KCL_VERBOSE_SILENT};
    return kcl_fit_arrays(m, 1, &x, 1, &y, &o, h);
}

/* The model still trains: three epochs, each loss below the one before. */
static void check_trains(kcl_model *m)
{
    kcl_history *h;
    CHECK_OK(ctx, fit(m, 3, &h));
    const float *loss = kcl_history_get(h, "loss");
    assert_non_null(loss);
    for (int e = 1; e < 3; e++)
        if (!(loss[e] < loss[e - 1]))
            fail_msg("loss did not fall after a fault: %g then %g", loss[e - 1], loss[e]);
    kcl_history_free(h);
}

static void expect_injected(kcl_status st, const char *what, fault_kind kind, int64_t n)
{
    const char *msg = kcl_errmsg(ctx);
    if (st == KCL_OK)
        fail_msg("%s with %s fault %lld: KCL_OK", what, kind_name[kind], (long long)n);
    if (!*msg || !strstr(msg, "injected fault"))
        fail_msg("%s with %s fault %lld: %s, message '%s'", what, kind_name[kind], (long long)n,
                 kcl_status_name(st), msg);
}

static size_t in_use(void)
{
    kcl_memory_stats s;
    CHECK_OK(ctx, kcl_memory_stats_get(ctx, &s));
    return s.in_use;
}

/* Runs call with fault kind armed at n; true when the fault fired. */
#define ARMED(kind, n, st, call)                                        \
    (kcl__fault_arm(ctx, (kind), (n)), (st) = (call),                   \
     disarm_after(kcl__fault_count(ctx, (kind)) >= (n), (kind)))
static bool disarm_after(bool fired, fault_kind kind)
{
    kcl__fault_arm(ctx, kind, 0);
    return fired;
}

/* ------------------------------------------------------------- fit sweep -- */

/* The weights after each step of an unfaulted first epoch (snapshot 0: before it). */
typedef struct snapshots {
    int n;
    float w[3][N_WEIGHTS];
} snapshots;

static kcl_status snapshot_batch_end(kcl_model *m, int64_t batch, const kcl_logs *logs,
                                     void *user)
{
    (void)batch, (void)logs;
    snapshots *s = user;
    assert_true(s->n < 3);
    read_weights(m, s->w[s->n++]);
    return KCL_OK;
}

static void reference_steps(snapshots *s)
{
    kcl_model *m = tiny_model();
    s->n = 0;
    read_weights(m, s->w[s->n++]);
    kcl_callback *cb;
    CHECK_OK(ctx, kcl_callback_create(&(kcl_callback_hooks){.user = s,
                                                            .on_batch_end = snapshot_batch_end},
                                      &cb));
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}};
    kcl_fit_options o = {.batch_size = BATCH, .no_shuffle = 1, .verbose = KCL_VERBOSE_SILENT,
                         .n_callbacks = 1, .callbacks = &cb};
    CHECK_OK(ctx, kcl_fit_arrays(m, 1, &x, 1, &y, &o, NULL));
    assert_int_equal(s->n, 3);
    kcl_callback_free(cb);
    kcl_model_free(m);
}

/* A step is all or nothing: the weights are those of a whole number of steps,
 * and the optimizer counted exactly those steps. */
static void check_consistent(kcl_model *m, const snapshots *s, fault_kind kind, int64_t n)
{
    float w[N_WEIGHTS];
    read_weights(m, w);
    int64_t iterations = kcl_optimizer_iterations(kcl_model_optimizer(m));
    for (int k = 0; k < s->n; k++)
        if (memcmp(w, s->w[k], sizeof w) == 0) {
            if (iterations != k)
                fail_msg("%s fault %lld: the weights of step %d, the optimizer counted %lld",
                         kind_name[kind], (long long)n, k, (long long)iterations);
            return;
        }
    /* An enqueue that fails among the update kernels, after some were
     * enqueued: those variables took step k + 1, the rest did not, the count
     * says k, and the message says so (OpenCL cannot withdraw enqueued work). */
    static const size_t var_end[4] = {IN * HID, IN * HID + HID, IN * HID + 2 * HID, N_WEIGHTS};
    int k = (int)iterations;
    if (kind == FAULT_ENQUEUE && k >= 0 && k + 1 < s->n)
        for (int split = 1; split < 4; split++) {
            size_t at = var_end[split - 1];
            if (memcmp(w, s->w[k + 1], at * sizeof *w) == 0 &&
                memcmp(w + at, s->w[k] + at, (N_WEIGHTS - at) * sizeof *w) == 0) {
                char want[64];
                snprintf(want, sizeof want, "variables 0..%d of 4 updated", split - 1);
                if (!strstr(kcl_errmsg(ctx), "step partly applied") ||
                    !strstr(kcl_errmsg(ctx), want))
                    fail_msg("enqueue fault %lld: %s updated, message '%s'", (long long)n, want,
                             kcl_errmsg(ctx));
                return;
            }
        }
    fail_msg("%s fault %lld: the weights are those of no whole step (%lld iterations)",
             kind_name[kind], (long long)n, (long long)iterations);
}

/* Fault n of kind in the first epoch (two steps, metrics, loss read) of a new
 * model, for n = 1, 2, ... until one epoch runs without reaching n. */
static void fit_sweep(fault_kind kind)
{
    make_data();
    kcl_model *warm = tiny_model();   /* kernels built once, outside the sweep */
    CHECK_OK(ctx, fit(warm, 1, NULL));
    kcl_model_free(warm);
    snapshots ref;
    reference_steps(&ref);
    int64_t n = 1;
    for (;; n++) {
        size_t before = in_use();
        kcl_model *m = tiny_model();
        kcl_status st;
        bool fired = ARMED(kind, n, st, fit(m, 1, NULL));
        if (!fired) {
            CHECK_OK(ctx, st);
            kcl_model_free(m);
            break;
        }
        expect_injected(st, "fit", kind, n);
        check_consistent(m, &ref, kind, n);
        check_predictions(m);
        check_trains(m);
        check_predictions(m);
        kcl_model_free(m);
        if (in_use() != before)
            fail_msg("%s fault %lld: %zu bytes in use after freeing the model, %zu before",
                     kind_name[kind], (long long)n, in_use(), before);
    }
    /* every step's allocations or enqueues were reached (dozens of each) */
    print_message("# %s faults: %lld points in one epoch\n", kind_name[kind], (long long)n - 1);
    assert_true(n > 20);
}

static void test_fit_alloc_sweep(void **state)
{
    (void)state;
    fit_sweep(FAULT_ALLOC);
}

static void test_fit_enqueue_sweep(void **state)
{
    (void)state;
    fit_sweep(FAULT_ENQUEUE);
}

/* ------------------------------------------- predict and evaluate sweeps -- */

static void test_predict_evaluate_sweep(void **state)
{
    (void)state;
    make_data();
    kcl_model *m = tiny_model();
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}}, before, after;
    kcl_eval_options o = {.batch_size = BATCH};
    CHECK_OK(ctx, kcl_predict(m, 1, &x, &o, 1, &before));
    float ev[2], ev_after[2];
    CHECK_OK(ctx, kcl_evaluate(m, 1, &x, 1, &y, &o, ev, 2));
    for (fault_kind kind = FAULT_ALLOC; kind <= FAULT_ENQUEUE; kind += 2) {
        int64_t n = 1;
        for (;; n++) {
            size_t used = in_use();
            kcl_array out = {0};
            kcl_status st;
            if (!ARMED(kind, n, st, kcl_predict(m, 1, &x, &o, 1, &out))) {
                CHECK_OK(ctx, st);
                kcl_array_free(&out);
                break;
            }
            expect_injected(st, "predict", kind, n);
            assert_null(out.data);
            assert_int_equal(in_use(), used);
            /* the same predictions as before the fault, to the bit */
            CHECK_OK(ctx, kcl_predict(m, 1, &x, &o, 1, &after));
            assert_memory_equal(after.data, before.data, N * sizeof(float));
            kcl_array_free(&after);
        }
        assert_true(n > 3);
        for (n = 1;; n++) {
            kcl_status st;
            if (!ARMED(kind, n, st, kcl_evaluate(m, 1, &x, 1, &y, &o, ev_after, 2))) {
                CHECK_OK(ctx, st);
                break;
            }
            expect_injected(st, "evaluate", kind, n);
            CHECK_OK(ctx, kcl_evaluate(m, 1, &x, 1, &y, &o, ev_after, 2));
            assert_memory_equal(ev_after, ev, sizeof ev);
        }
        assert_true(n > 3);
    }
    /* the host reference agrees with what the sweeps compared against */
    float w[N_WEIGHTS];
    read_weights(m, w);
    for (int i = 0; i < N; i++)
        assert_float_equal(before.data[i], host_forward(w, xs + i * IN), 1e-5);
    kcl_array_free(&before);
    kcl_model_free(m);
}

/* ------------------------------------------------------- tensors and ops -- */

static void test_tensor_and_op_faults(void **state)
{
    (void)state;
    int64_t shape[2] = {2, 3};
    float a[6] = {1, 2, 3, 4, 5, 6}, back[6];
    size_t used = in_use();
    kcl_tensor *t = NULL, *u = NULL, *p = NULL;
    kcl_status st;
    assert_true(ARMED(FAULT_ALLOC, 1, st, kcl_tensor_create(ctx, 2, shape, &t)));
    expect_injected(st, "kcl_tensor_create", FAULT_ALLOC, 1);
    assert_int_equal(st, KCL_ERR_MEMORY);
    assert_null(t);
    assert_non_null(strstr(kcl_errmsg(ctx), "CL_MEM_OBJECT_ALLOCATION_FAILURE"));
    assert_true(ARMED(FAULT_ENQUEUE, 1, st, kcl_tensor_create(ctx, 2, shape, &t)));
    expect_injected(st, "kcl_tensor_create (zero fill)", FAULT_ENQUEUE, 1);
    assert_null(t);
    assert_true(ARMED(FAULT_ENQUEUE, 1, st, kcl_tensor_from_host(ctx, 2, shape, a, &t)));
    expect_injected(st, "kcl_tensor_from_host", FAULT_ENQUEUE, 1);
    assert_null(t);
    assert_int_equal(in_use(), used);
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, a, &t));
    assert_true(ARMED(FAULT_ENQUEUE, 1, st, kcl_tensor_read(t, back, 6)));
    expect_injected(st, "kcl_tensor_read", FAULT_ENQUEUE, 1);
    assert_true(ARMED(FAULT_ENQUEUE, 1, st, kcl_tensor_write(t, back, 6)));
    expect_injected(st, "kcl_tensor_write", FAULT_ENQUEUE, 1);
    /* t keeps its values; a product of t and its transpose, each call's
     * allocations and enqueues failing in turn */
    int64_t tshape[2] = {3, 2};
    float at[6] = {1, 4, 2, 5, 3, 6};
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, tshape, at, &u));
    for (fault_kind kind = FAULT_ALLOC; kind <= FAULT_ENQUEUE; kind += 2) {
        size_t before = in_use();
        assert_true(ARMED(kind, 1, st, kcl_matmul(t, u, &p)));
        expect_injected(st, "kcl_matmul", kind, 1);
        assert_null(p);
        assert_int_equal(in_use(), before);
    }
    CHECK_OK(ctx, kcl_matmul(t, u, &p));
    float prod[4];
    CHECK_OK(ctx, kcl_tensor_read(p, prod, 4));
    const float want[4] = {14, 32, 32, 77};   /* [[1,2,3],[4,5,6]] times its transpose */
    assert_memory_equal(prod, want, sizeof want);
    kcl_tensor_free(p);
    kcl_tensor_free(t);
    kcl_tensor_free(u);
    assert_int_equal(in_use(), used);
}

/* ------------------------------------------------------------- save, load -- */

static void test_save_load_sweep(void **state)
{
    (void)state;
    make_data();
    char path[64];
    snprintf(path, sizeof path, "/tmp/kcl_test_faults_%d.safetensors", (int)getpid());
    kcl_model *m = tiny_model();
    CHECK_OK(ctx, fit(m, 1, NULL));
    CHECK_OK(ctx, kcl_model_save(m, path));
    float saved[N_WEIGHTS], w[N_WEIGHTS];
    read_weights(m, saved);
    CHECK_OK(ctx, fit(m, 1, NULL));   /* the model moves on from the file */
    for (fault_kind kind = FAULT_ALLOC; kind <= FAULT_ENQUEUE; kind += 2) {
        int64_t n = 1;
        for (;; n++) {
            size_t used = in_use();
            kcl_model *loaded = NULL;
            kcl_status st;
            if (!ARMED(kind, n, st, kcl_model_load(ctx, path, &loaded))) {
                CHECK_OK(ctx, st);
                kcl_model_free(loaded);
                break;
            }
            expect_injected(st, "kcl_model_load", kind, n);
            assert_null(loaded);
            assert_int_equal(in_use(), used);
        }
        assert_true(n > 3);
        /* a save that fails leaves the earlier file whole */
        for (n = 1;; n++) {
            kcl_status st;
            if (!ARMED(kind, n, st, kcl_model_save(m, path)))
                break;
            expect_injected(st, "kcl_model_save", kind, n);
            kcl_model *loaded;
            CHECK_OK(ctx, kcl_model_load(ctx, path, &loaded));
            read_weights(loaded, w);
            assert_memory_equal(w, saved, sizeof w);
            kcl_model_free(loaded);
        }
        CHECK_OK(ctx, kcl_model_save(m, path));   /* the file now holds the second epoch */
        read_weights(m, saved);
    }
    kcl_model *loaded;
    CHECK_OK(ctx, kcl_model_load(ctx, path, &loaded));
    read_weights(loaded, w);
    assert_memory_equal(w, saved, sizeof w);
    check_predictions(loaded);
    check_trains(loaded);
    kcl_model_free(loaded);
    kcl_model_free(m);
    unlink(path);
}

/* ---------------------------------------------------------------- builds -- */

/* A context of its own, so that every program is built inside the test. */
static void test_build_faults(void **state)
{
    (void)state;
    make_data();
    kcl_context *saved = ctx;
    /* $KCL_FAULT at context creation: the first build (the zero fill) fails */
    setenv("KCL_FAULT", "build:1", 1);
    ctx = test_context();
    unsetenv("KCL_FAULT");
    int64_t shape[1] = {5};
    kcl_tensor *t;
    expect_injected(kcl_tensor_create(ctx, 1, shape, &t), "kcl_tensor_create", FAULT_BUILD, 1);
    assert_int_equal(kcl_tensor_create(ctx, 1, shape, &t), KCL_OK);   /* fires once */
    kcl_tensor_free(t);
    /* then each program a model and its training need, failing in turn: a
     * failed program is not kept, so the next round builds it (build 1) and
     * fails the one after (build 2) */
    kcl_model *m = tiny_model();
    int built = 0;
    for (;;) {
        kcl_status st;
        if (!ARMED(FAULT_BUILD, built ? 2 : 1, st, fit(m, 1, NULL))) {
            CHECK_OK(ctx, st);
            break;
        }
        expect_injected(st, "fit", FAULT_BUILD, 1);
        assert_int_equal(st, KCL_ERR_BUILD);
        assert_non_null(strstr(kcl_errmsg(ctx), "CL_BUILD_PROGRAM_FAILURE"));
        built++;
    }
    assert_true(built >= 3);
    check_predictions(m);
    check_trains(m);
    kcl_model_free(m);
    kcl_context_free(ctx);
    /* a malformed $KCL_FAULT is refused with the reason */
    kcl_context *bad = NULL;
    setenv("KCL_FAULT", "alloc:0", 1);
    assert_int_equal(kcl_context_create(&bad, NULL), KCL_ERR_ARGUMENT);
    unsetenv("KCL_FAULT");
    assert_null(bad);
    assert_non_null(strstr(kcl_errmsg(NULL), "KCL_FAULT"));
    ctx = saved;
}

static int setup(void **state)
{
    (void)state;
    ctx = test_context();
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kcl_context_free(ctx);
    return 0;
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_and_op_faults),
        cmocka_unit_test(test_fit_alloc_sweep),
        cmocka_unit_test(test_fit_enqueue_sweep),
        cmocka_unit_test(test_predict_evaluate_sweep),
        cmocka_unit_test(test_save_load_sweep),
        cmocka_unit_test(test_build_faults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
