/* test_model: layers, Sequential and Functional models, compile / fit /
 * evaluate / predict, against references computed here in double precision. */
#include "common.h"

static kcl_context *ctx;

static void summary_contains(kcl_model *m, const char *text)
{
    char *s;
    CHECK_OK(ctx, kcl_model_summary(m, &s));
    if (!strstr(s, text))
        fail_msg("summary lacks '%s':\n%s", text, s);
    free(s);
}

/* ------------------------------------------------------------ structure -- */

static void test_sequential_shapes_and_names(void **state)
{
    (void)state;
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_flatten(.input_shape = {4, 7})));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(16, .activation = "relu")));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dropout(0.5f)));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(3, .no_bias = 1)));
    assert_int_equal(kcl_model_layer_count(m), 4);
    assert_string_equal(kcl_layer_class(kcl_model_layer(m, 1)), "Dense");
    const char *d0 = kcl_layer_name(kcl_model_layer(m, 1)), *d1 = kcl_layer_name(kcl_model_layer(m, 3));
    assert_true(strncmp(d0, "dense", 5) == 0 && strncmp(d1, "dense_", 6) == 0);
    assert_string_not_equal(d0, d1);
    int64_t total, trainable;
    CHECK_OK(ctx, kcl_model_count_params(m, &total, &trainable));
    assert_int_equal(total, 28 * 16 + 16 + 16 * 3);
    assert_int_equal(trainable, total);
    summary_contains(m, "(None, 28)");
    summary_contains(m, "(None, 3)");
    summary_contains(m, "Total params: 512");
    /* Keras' weights: kernel [in, units] then bias [units]. */
    kcl_layer *dense = kcl_model_layer(m, 1);
    assert_int_equal(kcl_layer_weight_count(dense), 2);
    assert_string_equal(kcl_layer_weight_name(dense, 0), "kernel");
    assert_int_equal(kcl_tensor_shape(kcl_layer_weight(dense, 0))[0], 28);
    assert_int_equal(kcl_tensor_shape(kcl_layer_weight(dense, 1))[0], 16);
    /* Non-trainable layers count apart. */
    CHECK_OK(ctx, kcl_layer_set_trainable(dense, 0));
    CHECK_OK(ctx, kcl_model_count_params(m, &total, &trainable));
    assert_int_equal(trainable, 16 * 3);
    summary_contains(m, "Non-trainable params: 464");
    CHECK_OK(ctx, kcl_model_pop(m));
    assert_int_equal(kcl_model_layer_count(m), 3);
    kcl_model_free(m);
}

static void test_incompatible_layer_refused(void **state)
{
    (void)state;
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(6, .input_dim = 5)));
    int64_t bad_target[KCL_MAX_RANK] = {4, 2};
    kcl_layer *reshape = kcl_layer_reshape(.target_shape = {4, 2});
    (void)bad_target;
    assert_int_equal(kcl_model_add(m, reshape), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "(None, 6)"));
    assert_non_null(strstr(kcl_errmsg(ctx), "(None, 4, 2)"));
    assert_int_equal(kcl_model_layer_count(m), 1);           /* left as it was */
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_reshape(.target_shape = {3, -1})));
    summary_contains(m, "(None, 3, 2)");
    assert_int_equal(kcl_model_add(m, kcl_layer_activation("no_such_activation")), KCL_ERR_NAME);
    assert_int_equal(kcl_model_add(m, kcl_layer_dense(0)), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_model_add(m, kcl_layer_dropout(1.5f)), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_model_layer_count(m), 2);
    kcl_model_free(m);
}

/* ---------------------------------------------------------- computations -- */

enum { N = 96, IN = 3, HID = 21 };   /* HID: a full and a partial block of 16 channels */

/* A fixed 3 -> 5 (tanh) -> 1 network with known weights. */
static float w1[IN * HID], b1[HID], w2[HID], b2[1];

static void fixed_weights(void)
{
    for (int i = 0; i < IN * HID; i++)
        w1[i] = 0.1f * (float)((i * 7) % 11) - 0.5f;
    for (int i = 0; i < HID; i++) {
        b1[i] = 0.05f * (float)i;
        w2[i] = 0.3f - 0.1f * (float)i;
    }
    b2[0] = 0.2f;
}

static double reference_forward(const float *x)
{
    double out = b2[0];
    for (int h = 0; h < HID; h++) {
        double z = b1[h];
        for (int i = 0; i < IN; i++)
            z += (double)x[i] * w1[i * HID + h];
        out += tanh(z) * w2[h];
    }
    return out;
}

static kcl_model *fixed_model(void)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(HID, .input_dim = IN, .activation = "tanh")));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1)));
    fixed_weights();
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 0), 0, w1, IN * HID));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 0), 1, b1, HID));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 1), 0, w2, HID));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 1), 1, b2, 1));
    return m;
}

static float xs[N * IN], ys[N];

static void make_data(void)
{
    float *r = test_random(N * IN, 9);
    memcpy(xs, r, sizeof xs);
    free(r);
    for (int i = 0; i < N; i++)
        ys[i] = (float)(xs[i * IN] - 2.0 * xs[i * IN + 1] + 0.5 * xs[i * IN + 2]);
}

static void test_predict_and_evaluate_match_reference(void **state)
{
    (void)state;
    make_data();
    kcl_model *m = fixed_model();
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}}, out;
    kcl_eval_options eo = {.batch_size = 20};   /* a partial last batch */
    CHECK_OK(ctx, kcl_predict(m, 1, &x, &eo, 1, &out));
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.shape[0], N);
    double mse = 0, mae = 0;
    for (int i = 0; i < N; i++) {
        double want = reference_forward(&xs[i * IN]);
        assert_float_equal(out.data[i], want, 1e-5);
        mse += (want - ys[i]) * (want - ys[i]) / N;
        mae += fabs(want - ys[i]) / N;
    }
    kcl_array_free(&out);
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(), "mse", "mae"));
    assert_int_equal(kcl_model_metric_count(m), 2);
    assert_string_equal(kcl_model_metric_name(m, 0), "loss");
    assert_string_equal(kcl_model_metric_name(m, 1), "mae");
    float r[2];
    CHECK_OK(ctx, kcl_evaluate(m, 1, &x, 1, &y, &eo, r, 2));
    assert_float_equal(r[0], mse, 1e-5 * (1 + mse));
    assert_float_equal(r[1], mae, 1e-5 * (1 + mae));
    kcl_model_free(m);
}

/* One SGD step through train_on_batch against the gradient computed here. */
static void test_train_on_batch_sgd_step(void **state)
{
    (void)state;
    make_data();
    kcl_model *m = fixed_model();
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(.learning_rate = 0.1f), "mse", NULL));
    int64_t sx[2] = {N, IN}, sy[2] = {N, 1};
    kcl_tensor *tx, *ty;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sx, xs, &tx));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sy, ys, &ty));
    /* d mse / d b2 = 2/N * sum(pred - y); through the fused bias + tanh:
     * d mse / d b1[h] = 2/N * sum((pred - y) * w2[h] * (1 - tanh²(z_h))). */
    double grad_b2 = 0, grad_b1[HID] = {0};
    for (int i = 0; i < N; i++) {
        double err = 2.0 / N * (reference_forward(&xs[i * IN]) - ys[i]);
        grad_b2 += err;
        for (int h = 0; h < HID; h++) {
            double z = b1[h];
            for (int k = 0; k < IN; k++)
                z += (double)xs[i * IN + k] * w1[k * HID + h];
            grad_b1[h] += err * w2[h] * (1.0 - tanh(z) * tanh(z));
        }
    }
    float loss;
    CHECK_OK(ctx, kcl_train_on_batch(m, &tx, &ty, &loss, 1));
    float b2_after;
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 1), 1), &b2_after, 1));
    assert_float_equal(b2_after, b2[0] - 0.1 * grad_b2, 1e-5);
    float b1_after[HID];
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 1), b1_after, HID));
    for (int h = 0; h < HID; h++)
        assert_float_equal(b1_after[h], b1[h] - 0.1 * grad_b1[h], 1e-5);
    kcl_tensor_free(tx);
    kcl_tensor_free(ty);
    kcl_model_free(m);
}

static void test_fit_learns_and_reports(void **state)
{
    (void)state;
    make_data();
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(16, .input_dim = IN, .activation = "relu",
                                                   .kernel_initializer = kcl_init_he_normal(.seed = 1))));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1, .kernel_initializer = kcl_init_glorot_uniform(.seed = 2))));
    CHECK_OK(ctx, kcl_compile(m, kcl_adam(.learning_rate = 0.02f), "mse", "mae"));
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}};
    kcl_fit_options fo = {.epochs = 30, .batch_size = 16, .validation_split = 0.25f,
                          .verbose = KCL_VERBOSE_SILENT, .seed = 5};
    kcl_history *h;
    CHECK_OK(ctx, kcl_fit_arrays(m, 1, &x, 1, &y, &fo, &h));
    assert_int_equal(kcl_history_epochs(h), 30);
    const float *loss = kcl_history_get(h, "loss"), *val = kcl_history_get(h, "val_loss");
    assert_non_null(loss);
    assert_non_null(val);
    assert_non_null(kcl_history_get(h, "val_mae"));
    assert_true(loss[29] < 0.2f * loss[0]);
    assert_true(val[29] < 0.3f * val[0]);
    kcl_history_free(h);
    kcl_model_free(m);
}

/* What fit's queue stats say one epoch costs with `rows` samples. */
static kcl_queue_stats epoch_cost(kcl_model *m, int64_t rows)
{
    kcl_array x = {xs, 2, {rows, IN}}, y = {ys, 2, {rows, 1}};
    kcl_fit_options fo = {.epochs = 1, .batch_size = 8, .verbose = KCL_VERBOSE_SILENT, .seed = 3};
    kcl_queue_stats before, after;
    CHECK_OK(ctx, kcl_queue_stats_get(ctx, &before));
    CHECK_OK(ctx, kcl_fit_arrays(m, 1, &x, 1, &y, &fo, NULL));
    CHECK_OK(ctx, kcl_queue_stats_get(ctx, &after));
    return (kcl_queue_stats){after.kernels - before.kernels, after.blas_calls - before.blas_calls,
                             after.transfers - before.transfers,
                             after.host_waits - before.host_waits,
                             after.throttle_waits - before.throttle_waits,
                             after.buffers_created - before.buffers_created};
}

/* A training step, in the steady state, makes the host wait for nothing and
 * allocates nothing; what an epoch adds per extra step is a fixed count of
 * launches. Measured as the difference between a 4-step and a 12-step epoch,
 * so epoch-level work (history, metric reads) cancels out. */
static void test_fit_step_never_waits(void **state)
{
    (void)state;
    make_data();
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(16, .input_dim = IN, .activation = "relu")));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1)));
    CHECK_OK(ctx, kcl_compile(m, kcl_adam(), "mse", "mae"));
    epoch_cost(m, 32);   /* warm-up: slots, pooled buffers */
    kcl_queue_stats short_epoch = epoch_cost(m, 32), long_epoch = epoch_cost(m, 96);
    uint64_t steps = 8;
    assert_int_equal(long_epoch.host_waits, short_epoch.host_waits);
    assert_int_equal(long_epoch.buffers_created, 0);
    /* Per step: the batch's two uploads; a fixed number of launches. */
    assert_int_equal(long_epoch.transfers - short_epoch.transfers, 2 * steps);
    uint64_t kernels = long_epoch.kernels - short_epoch.kernels;
    assert_int_equal(kernels % steps, 0);
    print_message("# per step: %llu kernels, %llu CLBlast calls\n",
                  (unsigned long long)(kernels / steps),
                  (unsigned long long)((long_epoch.blas_calls - short_epoch.blas_calls) / steps));
    /* Every step's launches are accounted for (no stray per-step host work). */
    assert_true(kernels / steps >= 4 && kernels / steps <= 30);
    kcl_model_free(m);
}

/* Issue 6's memory bound: training the 784-256-128-10 MLP (Adam, batch 128,
 * a partial last batch, a validation split) holds at most 1.5 times what it
 * cannot do without: parameters, their gradients and Adam's two slots, and
 * one batch's input, layer outputs and the gradients of those outputs. What
 * is held counts the pool's spare buffers too (kcl_memory_stats.peak_held),
 * on a context of its own so that no other test's buffers are pooled. */
static void test_fit_memory_within_budget(void **state)
{
    (void)state;
    enum { rows = 1000, batch = 128 };
    kcl_context *own = test_context();
    kcl_model *m;
    CHECK_OK(own, kcl_sequential(own, &m));
    CHECK_OK(own, kcl_model_add(m, kcl_layer_dense(256, .input_dim = 784, .activation = "relu")));
    CHECK_OK(own, kcl_model_add(m, kcl_layer_dense(128, .activation = "relu")));
    CHECK_OK(own, kcl_model_add(m, kcl_layer_dense(10, .activation = "softmax")));
    CHECK_OK(own, kcl_compile(m, kcl_adam(), "sparse_categorical_crossentropy", "accuracy"));
    float *pixels = test_random((size_t)rows * 784, 21), labels[rows];
    for (int i = 0; i < rows; i++)
        labels[i] = (float)(i % 10);
    kcl_array x = {pixels, 2, {rows, 784}}, y = {labels, 1, {rows}};
    kcl_fit_options fo = {.epochs = 2, .batch_size = batch, .verbose = KCL_VERBOSE_SILENT,
                          .validation_split = 0.1f, .seed = 1};
    CHECK_OK(own, kcl_fit_arrays(m, 1, &x, 1, &y, &fo, NULL));
    int64_t params, trainable;
    CHECK_OK(own, kcl_model_count_params(m, &params, &trainable));
    assert_int_equal(params, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    double budget = 4.0 * (4.0 * (double)params + batch * (784 + 2.0 * (256 + 128 + 10)));
    kcl_memory_stats mem;
    CHECK_OK(own, kcl_memory_stats_get(own, &mem));
    print_message("# peak in use %.2f MiB, held %.2f MiB, budget %.2f MiB: %.2fx\n",
                  mem.peak / 1048576.0, mem.peak_held / 1048576.0, budget / 1048576.0,
                  mem.peak_held / budget);
    assert_true(mem.peak <= mem.peak_held);
    assert_true(mem.in_use + mem.pooled <= mem.peak_held);
    if (!(mem.peak_held <= 1.5 * budget))
        fail_msg("training held %zu bytes of device memory, over 1.5 x %.0f", mem.peak_held,
                 budget);
    kcl_model_free(m);
    free(pixels);
    kcl_context_free(own);
}

/* Same seeds, same device: identical weights after training. */
static void test_determinism(void **state)
{
    (void)state;
    make_data();
    float weights[2][IN * 8];
    for (int run = 0; run < 2; run++) {
        kcl_model *m;
        CHECK_OK(ctx, kcl_sequential(ctx, &m));
        CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(8, .input_dim = IN, .activation = "relu",
                                                       .kernel_initializer = kcl_init_he_normal(.seed = 4))));
        CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dropout(0.25f, .seed = 8)));
        CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1, .kernel_initializer = kcl_init_glorot_uniform(.seed = 2))));
        CHECK_OK(ctx, kcl_compile(m, kcl_rmsprop(), "mae", NULL));
        kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}};
        kcl_fit_options fo = {.epochs = 3, .batch_size = 8, .verbose = KCL_VERBOSE_SILENT, .seed = 11};
        CHECK_OK(ctx, kcl_fit_arrays(m, 1, &x, 1, &y, &fo, NULL));
        CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 0), weights[run], IN * 8));
        kcl_model_free(m);
    }
    assert_memory_equal(weights[0], weights[1], sizeof weights[0]);
}

/* ------------------------------------------------------------ functional -- */

/* out = Dense(1)(Concatenate(shared(a), shared(b))): the shared layer's
 * weights get gradients from both calls. */
static void test_functional_shared_layer(void **state)
{
    (void)state;
    int64_t shape[1] = {2};
    kcl_sym *a, *b, *ha, *hb, *cat, *out;
    CHECK_OK(ctx, kcl_input(ctx, 1, shape, "a", &a));
    CHECK_OK(ctx, kcl_input(ctx, 1, shape, "b", &b));
    kcl_layer *shared = kcl_layer_dense(3, .name = "shared", .no_bias = 1);
    CHECK_OK(ctx, kcl_call(shared, a, &ha));
    CHECK_OK(ctx, kcl_call(shared, b, &hb));
    kcl_sym *pair[2] = {ha, hb};
    CHECK_OK(ctx, kcl_call_n(kcl_layer_concatenate(), 2, pair, &cat));
    assert_int_equal(kcl_sym_shape(cat)[1], 6);
    CHECK_OK(ctx, kcl_call(kcl_layer_dense(1, .no_bias = 1), cat, &out));
    kcl_sym *ins[2] = {a, b};
    kcl_model *m;
    CHECK_OK(ctx, kcl_functional(ctx, 2, ins, 1, &out, "two_inputs", &m));
    assert_int_equal(kcl_model_layer_count(m), 3);
    int64_t total, trainable;
    CHECK_OK(ctx, kcl_model_count_params(m, &total, &trainable));
    assert_int_equal(total, 2 * 3 + 6);
    /* Set weights, then check one SGD step on the shared kernel by hand. */
    float ws[6] = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f}, wo[6] = {1, 2, 3, -1, -2, -3};
    kcl_layer *head = kcl_model_layer_by_name(m, "dense") ? kcl_model_layer_by_name(m, "dense")
                                                           : kcl_model_layer(m, 2);
    CHECK_OK(ctx, kcl_layer_set_weight(shared, 0, ws, 6));
    CHECK_OK(ctx, kcl_layer_set_weight(head, 0, wo, 6));
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(.learning_rate = 1.0f), "mse", NULL));
    float av[2] = {1.0f, 2.0f}, bv[2] = {-1.0f, 0.5f}, yv[1] = {0.0f};
    int64_t s2[2] = {1, 2}, s1[2] = {1, 1};
    kcl_tensor *ta, *tb, *ty;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, s2, av, &ta));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, s2, bv, &tb));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, s1, yv, &ty));
    /* pred = sum_j wo[j] h_a[j] + wo[3+j] h_b[j], h = x · ws; loss = pred². */
    double ha_v[3], hb_v[3], pred = 0;
    for (int j = 0; j < 3; j++) {
        ha_v[j] = av[0] * ws[j] + av[1] * ws[3 + j];
        hb_v[j] = bv[0] * ws[j] + bv[1] * ws[3 + j];
        pred += wo[j] * ha_v[j] + wo[3 + j] * hb_v[j];
    }
    double want[6];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)   /* both calls contribute */
            want[i * 3 + j] = ws[i * 3 + j] - 2 * pred * (wo[j] * av[i] + wo[3 + j] * bv[i]);
    kcl_tensor *x2[2] = {ta, tb};
    CHECK_OK(ctx, kcl_train_on_batch(m, x2, &ty, NULL, 0));
    float got[6];
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(shared, 0), got, 6));
    for (int i = 0; i < 6; i++)
        assert_float_equal(got[i], want[i], 1e-4 * (1 + fabs(want[i])));
    kcl_tensor_free(ta);
    kcl_tensor_free(tb);
    kcl_tensor_free(ty);
    kcl_model_free(m);
}

static void test_nested_model_as_layer(void **state)
{
    (void)state;
    make_data();
    kcl_model *inner = fixed_model();
    kcl_model *outer;
    CHECK_OK(ctx, kcl_sequential(ctx, &outer));
    CHECK_OK(ctx, kcl_model_add(outer, kcl_layer_activation("linear", .input_dim = IN)));
    CHECK_OK(ctx, kcl_model_add(outer, kcl_model_as_layer(inner)));
    CHECK_OK(ctx, kcl_model_add(outer, kcl_layer_activation("sigmoid")));
    int64_t total, trainable;
    CHECK_OK(ctx, kcl_model_count_params(outer, &total, &trainable));
    assert_int_equal(total, IN * HID + HID + HID + 1);
    kcl_array x = {xs, 2, {N, IN}}, out;
    CHECK_OK(ctx, kcl_predict(outer, 1, &x, NULL, 1, &out));
    for (int i = 0; i < N; i++)
        assert_float_equal(out.data[i], 1.0 / (1.0 + exp(-reference_forward(&xs[i * IN]))), 1e-5);
    kcl_array_free(&out);
    kcl_model_free(outer);
    kcl_model_free(inner);
}

/* ------------------------------------------------ weights and regularizers -- */

/* loss = mse + l2 * sum(w²) + l1 * sum|w|, as Keras adds layer losses. */
static void test_regularizers_in_loss(void **state)
{
    (void)state;
    make_data();
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_input(.input_shape = {IN})));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1, .kernel_regularizer = {.l2 = 0.5f},
                                                   .bias_regularizer = {.l1 = 0.25f})));
    float w[IN] = {0.5f, -1.0f, 2.0f}, b[1] = {-0.75f};
    kcl_layer *dense = kcl_model_layer(m, 1);
    CHECK_OK(ctx, kcl_layer_set_weight(dense, 0, w, IN));
    CHECK_OK(ctx, kcl_layer_set_weight(dense, 1, b, 1));
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(), "mse", NULL));
    double mse = 0;
    for (int i = 0; i < N; i++) {
        double pred = b[0];
        for (int k = 0; k < IN; k++)
            pred += (double)xs[i * IN + k] * w[k];
        mse += (pred - ys[i]) * (pred - ys[i]) / N;
    }
    double want = mse + 0.5 * (0.25 + 1.0 + 4.0) + 0.25 * 0.75;
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}};
    float r[1];
    CHECK_OK(ctx, kcl_evaluate(m, 1, &x, 1, &y, &(kcl_eval_options){.batch_size = N}, r, 1));
    assert_float_equal(r[0], want, 1e-5 * want);
    kcl_model_free(m);
}

/* evaluate's sample_weight and fit's class_weight weigh each sample's loss. */
static void test_sample_and_class_weights(void **state)
{
    (void)state;
    make_data();
    kcl_model *m = fixed_model();
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(), "mae", NULL));
    float sw[N];
    double want = 0;
    for (int i = 0; i < N; i++) {
        sw[i] = (float)(i % 3);
        want += sw[i] * fabs(reference_forward(&xs[i * IN]) - ys[i]) / N;
    }
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}}, w = {sw, 1, {N}};
    float r[1];
    CHECK_OK(ctx, kcl_evaluate(m, 1, &x, 1, &y, &(kcl_eval_options){.batch_size = N,
                                                                     .sample_weight = &w}, r, 1));
    assert_float_equal(r[0], want, 1e-5 * want);
    /* class_weight 0 for every class: the loss and the gradients vanish, so
     * the weights stay exactly as they were. */
    float labels[N], zero[2] = {0.0f, 0.0f}, before[HID], after[HID];
    for (int i = 0; i < N; i++)
        labels[i] = (float)(i % 2);
    kcl_array yl = {labels, 2, {N, 1}};
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 1), before, HID));
    kcl_fit_options fo = {.epochs = 1, .batch_size = 32, .verbose = KCL_VERBOSE_SILENT,
                          .n_class_weight = 2, .class_weight = zero};
    kcl_history *h;
    CHECK_OK(ctx, kcl_fit_arrays(m, 1, &x, 1, &yl, &fo, &h));
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 1), after, HID));
    for (int i = 0; i < HID; i++)   /* == : a zero may come back as -0 */
        assert_true(after[i] == before[i]);
    assert_float_equal(kcl_history_get(h, "loss")[0], 0.0, 0.0);
    kcl_history_free(h);
    kcl_model_free(m);
}

/* Two outputs, a loss each, loss_weights: loss = 1 * mse(a) + 0.5 * mae(b). */
static void test_multi_output_losses(void **state)
{
    (void)state;
    make_data();
    int64_t shape[1] = {IN};
    kcl_sym *in, *a, *b;
    CHECK_OK(ctx, kcl_input(ctx, 1, shape, NULL, &in));
    CHECK_OK(ctx, kcl_call(kcl_layer_dense(1, .name = "head_a", .no_bias = 1), in, &a));
    CHECK_OK(ctx, kcl_call(kcl_layer_dense(1, .name = "head_b", .no_bias = 1), in, &b));
    kcl_model *m;
    CHECK_OK(ctx, kcl_functional(ctx, 1, &in, 2, (kcl_sym *[]){a, b}, NULL, &m));
    float wa[IN] = {1, 0, 0}, wb[IN] = {0, 1, -1};
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer_by_name(m, "head_a"), 0, wa, IN));
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer_by_name(m, "head_b"), 0, wb, IN));
    kcl_loss_config losses[2] = {kcl_loss(KCL_LOSS_MEAN_SQUARED_ERROR),
                                 kcl_loss(KCL_LOSS_MEAN_ABSOLUTE_ERROR)};
    float weights[2] = {1.0f, 0.5f};
    kcl_metric_config metric = {.kind = KCL_METRIC_MEAN_ABSOLUTE_ERROR};
    kcl_compile_options co = {.optimizer = kcl_sgd(), .n_losses = 2, .losses = losses,
                              .loss_weights = weights, .n_metrics = 1, .metrics = &metric};
    CHECK_OK(ctx, kcl_compile_ex(m, &co));
    assert_int_equal(kcl_model_metric_count(m), 3);
    assert_string_equal(kcl_model_metric_name(m, 1), "head_a_mean_absolute_error");
    assert_string_equal(kcl_model_metric_name(m, 2), "head_b_mean_absolute_error");
    double mse_a = 0, mae_a = 0, mae_b = 0;
    for (int i = 0; i < N; i++) {
        const float *x = &xs[i * IN];
        double pa = x[0], pb = x[1] - x[2];
        mse_a += (pa - ys[i]) * (pa - ys[i]) / N;
        mae_a += fabs(pa - ys[i]) / N;
        mae_b += fabs(pb - ys[i]) / N;
    }
    kcl_array x = {xs, 2, {N, IN}}, y[2] = {{ys, 2, {N, 1}}, {ys, 2, {N, 1}}};
    float r[3];
    CHECK_OK(ctx, kcl_evaluate(m, 1, &x, 2, y, &(kcl_eval_options){.batch_size = 40}, r, 3));
    assert_float_equal(r[0], mse_a + 0.5 * mae_b, 1e-5);
    assert_float_equal(r[1], mae_a, 1e-5);
    assert_float_equal(r[2], mae_b, 1e-5);
    kcl_model_free(m);
}

/* fit on a Dataset gives the same weights as fit on the same arrays unshuffled. */
static void test_fit_dataset_matches_arrays(void **state)
{
    (void)state;
    make_data();
    float result[2][HID];
    for (int run = 0; run < 2; run++) {
        kcl_model *m = fixed_model();
        CHECK_OK(ctx, kcl_compile(m, kcl_adam(.learning_rate = 0.01f), "mse", NULL));
        kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}};
        kcl_fit_options fo = {.epochs = 2, .batch_size = 16, .no_shuffle = 1,
                              .verbose = KCL_VERBOSE_SILENT};
        if (run == 0) {
            CHECK_OK(ctx, kcl_fit_arrays(m, 1, &x, 1, &y, &fo, NULL));
        } else {
            kcl_dataset *ds;
            kcl_array both[2] = {x, y};
            CHECK_OK(ctx, kcl_dataset_from_tensor_slices(ctx, 2, both, &ds));
            CHECK_OK(ctx, kcl_dataset_batch(ds, 16, 0));
            CHECK_OK(ctx, kcl_fit_dataset(m, ds, NULL, &fo, NULL));
            kcl_dataset_free(ds);
        }
        CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 1), result[run], HID));
        kcl_model_free(m);
    }
    assert_memory_equal(result[0], result[1], sizeof result[0]);
}

/* ---------------------------------------------------------------- errors -- */

static void test_errors_leave_model_usable(void **state)
{
    (void)state;
    make_data();
    kcl_model *m = fixed_model();
    kcl_array x = {xs, 2, {N, IN}}, y = {ys, 2, {N, 1}}, wrong = {xs, 2, {N / 3, 3 * IN}};
    kcl_fit_options fo = {.epochs = 1, .verbose = KCL_VERBOSE_SILENT};
    assert_int_equal(kcl_fit_arrays(m, 1, &x, 1, &y, &fo, NULL), KCL_ERR_STATE);
    assert_non_null(strstr(kcl_errmsg(ctx), "compile"));
    assert_int_equal(kcl_compile(m, kcl_adam(), "no_such_loss", NULL), KCL_ERR_NAME);
    assert_int_equal(kcl_compile(m, kcl_adam(), "mse", "accuracy,no_such_metric"), KCL_ERR_NAME);
    assert_int_equal(kcl_compile(m, (kcl_optimizer_config){.kind = 99}, "mse", NULL),
                     KCL_ERR_ARGUMENT);
    CHECK_OK(ctx, kcl_compile(m, kcl_adam(), "mse", NULL));
    kcl_fit_options bad = {.batch_size = -4, .verbose = KCL_VERBOSE_SILENT};
    assert_int_equal(kcl_fit_arrays(m, 1, &x, 1, &y, &bad, NULL), KCL_ERR_ARGUMENT);
    kcl_array ys_short = {ys, 2, {N - 1, 1}};
    assert_int_equal(kcl_fit_arrays(m, 1, &x, 1, &ys_short, &fo, NULL), KCL_ERR_SHAPE);
    assert_int_equal(kcl_fit_arrays(m, 1, &wrong, 1, &y, &fo, NULL), KCL_ERR_SHAPE);
    kcl_array y32 = {ys, 2, {N / 3, 3}};
    assert_int_equal(kcl_fit_arrays(m, 1, &wrong, 1, &y32, &fo, NULL), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "(None, 3)"));
    CHECK_OK(ctx, kcl_fit_arrays(m, 1, &x, 1, &y, &fo, NULL));   /* still usable */
    kcl_model_free(m);

    /* A label out of range for sparse cross-entropy names the label. */
    kcl_model *c;
    CHECK_OK(ctx, kcl_sequential(ctx, &c));
    CHECK_OK(ctx, kcl_model_add(c, kcl_layer_dense(4, .input_dim = IN, .activation = "softmax")));
    CHECK_OK(ctx, kcl_compile(c, kcl_adam(), "sparse_categorical_crossentropy", "accuracy"));
    float labels[N];
    for (int i = 0; i < N; i++)
        labels[i] = (float)(i % 4);
    labels[17] = 4.0f;
    kcl_array yl = {labels, 2, {N, 1}};
    assert_int_equal(kcl_fit_arrays(c, 1, &x, 1, &yl, &fo, NULL), KCL_ERR_ARGUMENT);
    assert_non_null(strstr(kcl_errmsg(ctx), "label 4"));
    assert_non_null(strstr(kcl_errmsg(ctx), "sample 17"));
    labels[17] = 1.0f;
    CHECK_OK(ctx, kcl_fit_arrays(c, 1, &x, 1, &yl, &fo, NULL));
    kcl_model_free(c);
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
        cmocka_unit_test(test_sequential_shapes_and_names),
        cmocka_unit_test(test_incompatible_layer_refused),
        cmocka_unit_test(test_predict_and_evaluate_match_reference),
        cmocka_unit_test(test_train_on_batch_sgd_step),
        cmocka_unit_test(test_fit_learns_and_reports),
        cmocka_unit_test(test_fit_step_never_waits),
        cmocka_unit_test(test_fit_memory_within_budget),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_functional_shared_layer),
        cmocka_unit_test(test_nested_model_as_layer),
        cmocka_unit_test(test_regularizers_in_loss),
        cmocka_unit_test(test_sample_and_class_weights),
        cmocka_unit_test(test_multi_output_losses),
        cmocka_unit_test(test_fit_dataset_matches_arrays),
        cmocka_unit_test(test_errors_leave_model_usable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
