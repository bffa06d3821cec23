/* test_save: weights and whole models to safetensors files and JSON, and
 * back. Checks: round trips give bit-identical weights and predictions; the
 * files parse as safetensors with an independent reader here (and its values
 * drive a double-precision reference forward pass); training resumed from a
 * saved model matches uninterrupted training bit for bit; hostile files are
 * refused and leave the model untouched; an interrupted save keeps the old
 * file.
 *
 * The files were also checked once with the Python `safetensors` package
 * (safetensors.numpy.load_file in a venv outside the repository): it reads
 * kcl's weights and whole-model files, names, shapes and values. CI needs no
 * Python. */
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "common.h"

static kcl_context *ctx;
static char dir[256];

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

/* ---------------------------------------------------------------- files -- */

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(n ? (size_t)n : 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return data;
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

static uint64_t header_len(const unsigned char *file)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | file[i];
    return n;
}

/* A safetensors file made here: header padded with spaces, then data. */
static void write_raw(const char *path, const char *header, const void *data, size_t size)
{
    size_t len = strlen(header), padded = (len + 7) / 8 * 8;
    unsigned char *file = calloc(8 + padded + size + 1, 1);
    assert_non_null(file);
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(file + 8, header, len);
    memset(file + 8 + len, ' ', padded - len);
    if (size)
        memcpy(file + 8 + padded, data, size);
    write_file(path, file, 8 + padded + size);
    free(file);
}

/* The independent reader: finds tensor `name` in the header by text search and
 * returns its shape and a copy of its values (little-endian host assumed). */
static float *file_tensor(const unsigned char *file, size_t size, const char *name, int *rank,
                          int64_t *shape)
{
    uint64_t n = header_len(file);
    assert_true(n % 8 == 0 && 8 + n <= size);
    assert_int_equal(file[8], '{');
    char *header = malloc(n + 1);
    memcpy(header, file + 8, n);
    header[n] = '\0';
    char key[256];
    snprintf(key, sizeof key, "\"%s\":", name);
    char *entry = strstr(header, key);
    if (!entry)
        fail_msg("tensor '%s' not in header %s", name, header);
    char *end = strchr(entry, '}');
    assert_non_null(end);
    *end = '\0';
    assert_non_null(strstr(entry, "\"dtype\":\"F32\""));
    char *s = strstr(entry, "\"shape\":[");
    char *o = strstr(entry, "\"data_offsets\":[");
    assert_true(s && o);
    s += strlen("\"shape\":[");
    *rank = 0;
    int64_t count = 1;
    while (*s != ']') {
        shape[*rank] = strtoll(s, &s, 10);
        count *= shape[(*rank)++];
        if (*s == ',')
            s++;
    }
    unsigned long long begin, stop;
    assert_int_equal(sscanf(o, "\"data_offsets\":[%llu,%llu]", &begin, &stop), 2);
    assert_int_equal(stop - begin, (unsigned long long)count * 4);
    assert_true(8 + n + stop <= size);
    float *v = malloc((size_t)(count ? count : 1) * sizeof *v);
    memcpy(v, file + 8 + n + begin, (size_t)count * 4);
    free(header);
    return v;
}

/* The value of a metadata string, by text search (no escapes expected). */
static void file_meta(const unsigned char *file, const char *key, char *out, size_t size)
{
    uint64_t n = header_len(file);
    char *header = malloc(n + 1);
    memcpy(header, file + 8, n);
    header[n] = '\0';
    char k[128];
    snprintf(k, sizeof k, "\"%s\":\"", key);
    char *p = strstr(header, k);
    if (!p)
        fail_msg("metadata '%s' not in header", key);
    p += strlen(k);
    size_t len = strcspn(p, "\"");
    snprintf(out, size, "%.*s", (int)len, p);
    free(header);
}

/* --------------------------------------------------------------- models -- */

static float *snapshot(kcl_model *m, size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < kcl_model_layer_count(m); i++)
        for (size_t k = 0; k < kcl_layer_weight_count(kcl_model_layer(m, i)); k++)
            n += (size_t)kcl_tensor_size(kcl_layer_weight(kcl_model_layer(m, i), k));
    float *v = malloc((n ? n : 1) * sizeof *v);
    size_t at = 0;
    for (size_t i = 0; i < kcl_model_layer_count(m); i++)
        for (size_t k = 0; k < kcl_layer_weight_count(kcl_model_layer(m, i)); k++) {
            kcl_tensor *t = kcl_layer_weight(kcl_model_layer(m, i), k);
            CHECK_OK(ctx, kcl_tensor_read(t, v + at, (size_t)kcl_tensor_size(t)));
            at += (size_t)kcl_tensor_size(t);
        }
    *count = n;
    return v;
}

static void assert_same_weights(kcl_model *a, kcl_model *b)
{
    size_t na, nb;
    float *wa = snapshot(a, &na), *wb = snapshot(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(wa, wb, na * sizeof *wa);
    free(wa);
    free(wb);
}

/* Output 0 for the given inputs, read to the host. */
static float *predict(kcl_model *m, kcl_tensor **x, size_t *count)
{
    kcl_tensor *y[4] = {0};
    CHECK_OK(ctx, kcl_predict_on_batch(m, x, y));
    *count = (size_t)kcl_tensor_size(y[0]);
    float *v = malloc(*count * sizeof *v);
    CHECK_OK(ctx, kcl_tensor_read(y[0], v, *count));
    kcl_tensor_free(y[0]);
    return v;
}

static void assert_same_predictions(kcl_model *a, kcl_model *b, kcl_tensor **x)
{
    size_t na, nb;
    float *pa = predict(a, x, &na), *pb = predict(b, x, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na * sizeof *pa);
    free(pa);
    free(pb);
}

static kcl_tensor *random_tensor(int64_t rows, int64_t cols, uint64_t seed)
{
    int64_t shape[2] = {rows, cols};
    float *v = test_random((size_t)(rows * cols), seed);
    kcl_tensor *t;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, v, &t));
    free(v);
    return t;
}

static char *to_json(kcl_model *m)
{
    char *s;
    CHECK_OK(ctx, kcl_model_to_json(m, &s));
    return s;
}

/* Input(5) -> Dense(8, relu) -> Dropout -> Dense(3, softmax), seeded, compiled. */
static kcl_model *sequential_model(void)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_input(.name = "inp", .input_shape = {5})));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(8, .name = "hidden",
                                                   .activation = "relu",
                                                   .kernel_initializer = kcl_init_he_normal(.seed = 3),
                                                   .bias_initializer = kcl_init_random_normal(.stddev = 0.1f, .seed = 4),
                                                   .kernel_regularizer = {.l2 = 0.001f})));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dropout(0.25f, .name = "drop", .seed = 9)));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(3, .name = "out", .activation = "softmax",
                                                   .bias_initializer = kcl_init_constant(.value = 0.5f))));
    kcl_metric_config acc = {.kind = KCL_METRIC_ACCURACY, .name = "acc"};
    kcl_loss_config loss = {.kind = KCL_LOSS_CATEGORICAL_CROSSENTROPY, .label_smoothing = 0.1f};
    kcl_compile_options co = {.optimizer = kcl_adam(.learning_rate = 0.01f, .amsgrad = 1),
                              .n_losses = 1, .losses = &loss, .n_metrics = 1, .metrics = &acc};
    CHECK_OK(ctx, kcl_compile_ex(m, &co));
    return m;
}

/* The Sequential model's forward pass in double from the file's tensors. */
static void reference_sequential(const unsigned char *file, size_t size, const float *x,
                                 int rows, double *out)
{
    int rank;
    int64_t shape[8];
    float *k1 = file_tensor(file, size, "hidden/kernel", &rank, shape);
    assert_true(rank == 2 && shape[0] == 5 && shape[1] == 8);
    float *b1 = file_tensor(file, size, "hidden/bias", &rank, shape);
    float *k2 = file_tensor(file, size, "out/kernel", &rank, shape);
    assert_true(rank == 2 && shape[0] == 8 && shape[1] == 3);
    float *b2 = file_tensor(file, size, "out/bias", &rank, shape);
    for (int r = 0; r < rows; r++) {
        double h[8], z[3], max = -1e300, sum = 0;
        for (int j = 0; j < 8; j++) {
            h[j] = b1[j];
            for (int i = 0; i < 5; i++)
                h[j] += (double)x[r * 5 + i] * k1[i * 8 + j];
            h[j] = h[j] > 0 ? h[j] : 0;
        }
        for (int j = 0; j < 3; j++) {
            z[j] = b2[j];
            for (int i = 0; i < 8; i++)
                z[j] += h[i] * k2[i * 3 + j];
            max = z[j] > max ? z[j] : max;
        }
        for (int j = 0; j < 3; j++)
            sum += exp(z[j] - max);
        for (int j = 0; j < 3; j++)
            out[r * 3 + j] = exp(z[j] - max) / sum;
    }
    free(k1);
    free(b1);
    free(k2);
    free(b2);
}

/* -------------------------------------------------------------- round trips -- */

static void test_sequential_round_trip(void **state)
{
    (void)state;
    kcl_model *m = sequential_model();
    float *xv = test_random(7 * 5, 21);
    int64_t xs[2] = {7, 5};
    kcl_tensor *x;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, xs, xv, &x));
    char path[300];
    path_of(path, sizeof path, "seq.safetensors");
    CHECK_OK(ctx, kcl_model_save(m, path));
    kcl_model *loaded;
    CHECK_OK(ctx, kcl_model_load(ctx, path, &loaded));
    assert_string_equal(kcl_model_name(loaded), kcl_model_name(m));
    assert_int_equal(kcl_model_layer_count(loaded), 4);
    assert_string_equal(kcl_layer_class(kcl_model_layer(loaded, 0)), "InputLayer");
    assert_same_weights(m, loaded);
    assert_same_predictions(m, loaded, &x);
    /* Architecture and compile settings survive: the JSON reads back to itself. */
    char *j1 = to_json(m), *j2 = to_json(loaded);
    assert_string_equal(j1, j2);
    assert_non_null(strstr(j1, "\"amsgrad\": true"));
    assert_int_equal(kcl_model_metric_count(loaded), 2);
    assert_string_equal(kcl_model_metric_name(loaded, 1), "acc");
    /* The file against a double reference computed from its own tensors. */
    size_t size, n;
    unsigned char *file = read_file(path, &size);
    double want[7 * 3];
    reference_sequential(file, size, xv, 7, want);
    float *got = predict(loaded, &x, &n);
    for (size_t i = 0; i < n; i++)
        assert_float_equal(got[i], want[i], 1e-5);
    /* The checksum starts with the CRC-32 of the data section. */
    char hex[32], have[16];
    file_meta(file, "checksum_crc32", hex, sizeof hex);
    uint64_t h = header_len(file);
    snprintf(have, sizeof have, "%08lx", crc32(0L, file + 8 + h, (uInt)(size - 8 - h)));
    assert_int_equal(strlen(hex), 17);
    assert_memory_equal(hex, have, 8);
    free(got);
    free(file);
    free(j1);
    free(j2);
    free(xv);
    kcl_tensor_free(x);
    kcl_model_free(loaded);
    kcl_model_free(m);
}

/* Two inputs, one Dense layer shared by both, two outputs. */
static kcl_model *functional_model(const char *shared_name)
{
    int64_t shape[1] = {4};
    kcl_sym *a, *b, *ha, *hb, *cat, *o1, *o2;
    CHECK_OK(ctx, kcl_input(ctx, 1, shape, "in_a", &a));
    CHECK_OK(ctx, kcl_input(ctx, 1, shape, "in_b", &b));
    kcl_layer *shared = kcl_layer_dense(6, .name = shared_name, .activation = "tanh",
                                        .kernel_initializer = kcl_init_glorot_normal(.seed = 5));
    CHECK_OK(ctx, kcl_call(shared, a, &ha));
    CHECK_OK(ctx, kcl_call(shared, b, &hb));
    kcl_sym *pair[2] = {ha, hb};
    CHECK_OK(ctx, kcl_call_n(kcl_layer_concatenate(.name = "cat"), 2, pair, &cat));
    CHECK_OK(ctx, kcl_call(kcl_layer_dense(2, .name = "head",
                                           .kernel_initializer = kcl_init_lecun_uniform(.seed = 6)),
                           cat, &o1));
    kcl_sym *diff[2] = {hb, ha};
    CHECK_OK(ctx, kcl_call_n(kcl_layer_subtract(.name = "diff"), 2, diff, &o2));
    kcl_sym *ins[2] = {a, b}, *outs[2] = {o1, o2};
    kcl_model *m;
    CHECK_OK(ctx, kcl_functional(ctx, 2, ins, 2, outs, "two_towers", &m));
    return m;
}

static void test_functional_round_trip(void **state)
{
    (void)state;
    kcl_model *m = functional_model("shared");
    kcl_loss_config losses[2] = {{.kind = KCL_LOSS_MEAN_SQUARED_ERROR},
                                 {.kind = KCL_LOSS_HUBER, .delta = 0.5f}};
    float lw[2] = {1.0f, 0.25f};
    kcl_schedule sched = {.kind = KCL_SCHEDULE_PIECEWISE_CONSTANT, .n_boundaries = 2,
                          .boundaries = (int64_t[]){3, 7}, .values = (float[]){0.1f, 0.05f, 0.01f}};
    kcl_compile_options co = {.optimizer = kcl_sgd(.schedule = sched, .momentum = 0.9f),
                              .n_losses = 2, .losses = losses, .loss_weights = lw};
    CHECK_OK(ctx, kcl_compile_ex(m, &co));
    kcl_tensor *x[2] = {random_tensor(5, 4, 31), random_tensor(5, 4, 32)};
    char path[300];
    path_of(path, sizeof path, "functional.safetensors");
    CHECK_OK(ctx, kcl_model_save(m, path));
    kcl_model *loaded;
    CHECK_OK(ctx, kcl_model_load(ctx, path, &loaded));
    /* The shared layer is one layer (one set of weights) in the loaded model. */
    int64_t t1, t2, tr;
    CHECK_OK(ctx, kcl_model_count_params(m, &t1, &tr));
    CHECK_OK(ctx, kcl_model_count_params(loaded, &t2, &tr));
    assert_int_equal(t1, t2);
    assert_int_equal(t1, 4 * 6 + 6 + 12 * 2 + 2);
    assert_same_weights(m, loaded);
    kcl_tensor *ya[2] = {0}, *yb[2] = {0};
    CHECK_OK(ctx, kcl_predict_on_batch(m, x, ya));
    CHECK_OK(ctx, kcl_predict_on_batch(loaded, x, yb));
    for (int o = 0; o < 2; o++) {
        size_t n = (size_t)kcl_tensor_size(ya[o]);
        assert_int_equal(n, (size_t)kcl_tensor_size(yb[o]));
        float *pa = malloc(n * sizeof *pa), *pb = malloc(n * sizeof *pb);
        CHECK_OK(ctx, kcl_tensor_read(ya[o], pa, n));
        CHECK_OK(ctx, kcl_tensor_read(yb[o], pb, n));
        assert_memory_equal(pa, pb, n * sizeof *pa);
        free(pa);
        free(pb);
        kcl_tensor_free(ya[o]);
        kcl_tensor_free(yb[o]);
    }
    char *j1 = to_json(m), *j2 = to_json(loaded);
    assert_string_equal(j1, j2);
    free(j1);
    free(j2);
    kcl_tensor_free(x[0]);
    kcl_tensor_free(x[1]);
    kcl_model_free(loaded);
    kcl_model_free(m);
}

/* Every layer class (Lambda included) through to_json / from_json. */
static void test_every_layer_class_json(void **state)
{
    (void)state;
    int64_t shape[1] = {6};
    kcl_sym *a, *b, *ha, *hb, *s[4], *cat, *r, *act, *flat, *drop, *lam, *out;
    CHECK_OK(ctx, kcl_input(ctx, 1, shape, "xa", &a));
    CHECK_OK(ctx, kcl_input(ctx, 1, shape, "xb", &b));
    kcl_layer *shared = kcl_layer_dense(6, .name = "enc", .activation = "leaky_relu",
                                        .activation_args = {.negative_slope = 0.1f},
                                        .kernel_initializer = kcl_init_variance_scaling(
                                            .scale = 2.0f, .mode = KCL_FAN_AVG,
                                            .distribution = KCL_DIST_UNIFORM, .seed = 8));
    CHECK_OK(ctx, kcl_call(shared, a, &ha));
    CHECK_OK(ctx, kcl_call(shared, b, &hb));
    kcl_sym *pair[2] = {ha, hb};
    CHECK_OK(ctx, kcl_call_n(kcl_layer_add(.name = "add"), 2, pair, &s[0]));
    CHECK_OK(ctx, kcl_call_n(kcl_layer_subtract(.name = "sub"), 2, pair, &s[1]));
    CHECK_OK(ctx, kcl_call_n(kcl_layer_multiply(.name = "mul"), 2, pair, &s[2]));
    CHECK_OK(ctx, kcl_call_n(kcl_layer_average(.name = "avg"), 2, pair, &s[3]));
    CHECK_OK(ctx, kcl_call_n(kcl_layer_concatenate(.name = "cat", .axis = 1), 4, s, &cat));
    CHECK_OK(ctx, kcl_call(kcl_layer_reshape(.name = "rs", .target_shape = {4, -1}), cat, &r));
    CHECK_OK(ctx, kcl_call(kcl_layer_activation("relu6", .name = "act"), r, &act));
    CHECK_OK(ctx, kcl_call(kcl_layer_flatten(.name = "flat"), act, &flat));
    CHECK_OK(ctx, kcl_call(kcl_layer_dropout(0.5f, .name = "drop", .seed = 2), flat, &drop));
    CHECK_OK(ctx, kcl_call(kcl_layer_lambda("x * 0.5f + 1.0f", .name = "lam",
                                            .gradient = {"0.5f * dy"}), drop, &lam));
    CHECK_OK(ctx, kcl_call(kcl_layer_dense(3, .name = "head", .no_bias = 1,
                                           .kernel_initializer = kcl_init_orthogonal(.gain = 1.5f, .seed = 1)),
                           lam, &out));
    kcl_sym *ins[2] = {a, b};
    kcl_model *m;
    CHECK_OK(ctx, kcl_functional(ctx, 2, ins, 1, &out, "zoo", &m));
    CHECK_OK(ctx, kcl_layer_set_trainable(kcl_model_layer_by_name(m, "head"), 0));
    kcl_metric_config metrics[2] = {{.kind = KCL_METRIC_MEAN_ABSOLUTE_ERROR},
                                    {.kind = KCL_METRIC_TOP_K_CATEGORICAL_ACCURACY, .k = 2}};
    kcl_loss_config loss = {.kind = KCL_LOSS_MEAN_SQUARED_ERROR};
    kcl_schedule sched = {.kind = KCL_SCHEDULE_COSINE_DECAY, .initial_learning_rate = 0.01f,
                          .decay_steps = 100, .alpha = 0.1f};
    kcl_compile_options co = {.optimizer = kcl_rmsprop(.schedule = sched, .centered = 1,
                                                       .clipnorm = 1.0f),
                              .n_losses = 1, .losses = &loss, .n_metrics = 2, .metrics = metrics};
    CHECK_OK(ctx, kcl_compile_ex(m, &co));
    char *j1 = to_json(m);
    kcl_model *copy;
    CHECK_OK(ctx, kcl_model_from_json(ctx, j1, &copy));
    char *j2 = to_json(copy);
    assert_string_equal(j1, j2);
    assert_int_equal(kcl_model_layer_count(copy), kcl_model_layer_count(m));
    assert_false(kcl_layer_trainable(kcl_model_layer_by_name(copy, "head")));
    assert_string_equal(kcl_model_metric_name(copy, 2), "top_k_categorical_accuracy");
    /* Fresh weights, then the original's through a weights file. */
    char path[300];
    path_of(path, sizeof path, "zoo.safetensors");
    CHECK_OK(ctx, kcl_model_save_weights(m, path));
    CHECK_OK(ctx, kcl_model_load_weights(copy, path));
    kcl_tensor *x[2] = {random_tensor(3, 6, 41), random_tensor(3, 6, 42)};
    assert_same_predictions(m, copy, x);
    kcl_tensor_free(x[0]);
    kcl_tensor_free(x[1]);
    free(j1);
    free(j2);
    kcl_model_free(copy);
    kcl_model_free(m);
}

static void test_load_weights_into_fresh_model(void **state)
{
    (void)state;
    kcl_model *a = functional_model("enc2"), *b = functional_model("enc2");
    /* Different values first, so that the load is what makes them equal. */
    float seven[24];
    for (int i = 0; i < 24; i++)
        seven[i] = 7.0f;
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer_by_name(b, "enc2"), 0, seven, 24));
    char path[300];
    path_of(path, sizeof path, "weights.safetensors");
    CHECK_OK(ctx, kcl_model_save_weights(a, path));
    CHECK_OK(ctx, kcl_model_load_weights(b, path));
    assert_same_weights(a, b);
    kcl_tensor *x[2] = {random_tensor(4, 4, 51), random_tensor(4, 4, 52)};
    assert_same_predictions(a, b, x);
    /* The file holds the weights under "<layer>/<weight>" with their values. */
    size_t size;
    unsigned char *file = read_file(path, &size);
    int rank;
    int64_t shape[8];
    float *k = file_tensor(file, size, "enc2/kernel", &rank, shape);
    float want[24];
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer_by_name(a, "enc2"), 0), want, 24));
    assert_true(rank == 2 && shape[0] == 4 && shape[1] == 6);
    assert_memory_equal(k, want, sizeof want);
    free(k);
    free(file);
    kcl_tensor_free(x[0]);
    kcl_tensor_free(x[1]);
    kcl_model_free(a);
    kcl_model_free(b);
}

/* A file written by another program (tests/data/save/make_fuzz_seeds.py,
 * with Python's struct and json): kcl reads its values exactly. */
static void test_reads_foreign_file(void **state)
{
    (void)state;
    const char *cl_dir = getenv("KCL_TEST_CL_DIR");
    if (!cl_dir)
        skip();
    char path[512];
    snprintf(path, sizeof path, "%s/../tests/data/fuzz/safetensors/tiny_weights.safetensors",
             cl_dir);
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(2, .name = "d", .input_dim = 3)));
    CHECK_OK(ctx, kcl_model_load_weights(m, path));
    /* The generator's values: kernel[i][j] = (i * 2 + j) * 0.25 - 0.5, bias = {0.125, -0.375}. */
    float k[6], bias[2];
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 0), k, 6));
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(m, 0), 1), bias, 2));
    for (int i = 0; i < 6; i++)
        assert_true(k[i] == (float)(i * 0.25 - 0.5));
    assert_true(bias[0] == 0.125f && bias[1] == -0.375f);
    kcl_model_free(m);
}

/* The fuzzing seeds (tests/data/fuzz/json, .../safetensors) are valid input. */
static void test_fuzz_seeds_load(void **state)
{
    (void)state;
    const char *cl_dir = getenv("KCL_TEST_CL_DIR");
    if (!cl_dir)
        skip();
    static const char *const jsons[] = {"sequential", "compiled", "functional_shared_lambda"};
    char path[512];
    for (size_t i = 0; i < sizeof jsons / sizeof *jsons; i++) {
        snprintf(path, sizeof path, "%s/../tests/data/fuzz/json/%s.json", cl_dir, jsons[i]);
        size_t size;
        unsigned char *text = read_file(path, &size);
        char *json = realloc(text, size + 1);
        json[size] = '\0';
        kcl_model *m;
        CHECK_OK(ctx, kcl_model_from_json(ctx, json, &m));
        free(json);
        kcl_model_free(m);
    }
    snprintf(path, sizeof path, "%s/../tests/data/fuzz/safetensors/tiny_model.safetensors", cl_dir);
    kcl_model *m;
    CHECK_OK(ctx, kcl_model_load(ctx, path, &m));
    float bias[2];
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer_by_name(m, "d"), 1), bias, 2));
    assert_true(bias[0] == 0.125f && bias[1] == -0.375f);
    kcl_model_free(m);
}

/* -------------------------------------------------------- resumed training -- */

enum { ROWS = 16 };

static kcl_model *resume_model(kcl_optimizer_config opt)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(6, .name = "h", .input_dim = 4,
                                                   .activation = "tanh",
                                                   .kernel_initializer = kcl_init_glorot_uniform(.seed = 11),
                                                   .bias_initializer = kcl_init_random_uniform(.seed = 13))));
    /* Seeded: its masks follow its call count, which the saved state carries. */
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dropout(0.3f, .name = "drop", .seed = 17)));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(2, .name = "o",
                                                   .kernel_initializer = kcl_init_glorot_uniform(.seed = 12))));
    CHECK_OK(ctx, kcl_compile(m, opt, "mse", "mae"));
    return m;
}

static void steps(kcl_model *m, kcl_tensor *x, kcl_tensor *y, int n)
{
    for (int i = 0; i < n; i++)
        CHECK_OK(ctx, kcl_train_on_batch(m, &x, &y, NULL, 0));
}

static bool same_weights(kcl_model *a, kcl_model *b)
{
    size_t na, nb;
    float *wa = snapshot(a, &na), *wb = snapshot(b, &nb);
    bool same = na == nb && memcmp(wa, wb, na * sizeof *wa) == 0;
    free(wa);
    free(wb);
    return same;
}

/* 3 steps, save, load, 3 steps == 6 steps straight, for each optimizer (its
 * slots and iteration count restored, and the Dropout layer's call count);
 * loading the weights alone is not. */
static void test_resume_training_matches(void **state)
{
    (void)state;
    kcl_schedule decay = {.kind = KCL_SCHEDULE_EXPONENTIAL_DECAY, .initial_learning_rate = 0.05f,
                          .decay_steps = 2, .decay_rate = 0.5f};
    kcl_optimizer_config opts[] = {
        kcl_adam(.learning_rate = 0.05f, .amsgrad = 1, .schedule = decay),
        kcl_adamw(.learning_rate = 0.05f),
        kcl_rmsprop(.learning_rate = 0.01f, .momentum = 0.9f, .centered = 1),
        kcl_sgd(.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = 1),
        kcl_adagrad(.learning_rate = 0.1f),
    };
    kcl_tensor *x = random_tensor(ROWS, 4, 61), *y = random_tensor(ROWS, 2, 62);
    char path[300];
    path_of(path, sizeof path, "resume.safetensors");
    for (size_t k = 0; k < sizeof opts / sizeof *opts; k++) {
        kcl_model *straight = resume_model(opts[k]), *first = resume_model(opts[k]);
        assert_true(same_weights(straight, first));
        steps(straight, x, y, 6);
        steps(first, x, y, 3);
        CHECK_OK(ctx, kcl_model_save(first, path));
        kcl_model *resumed;
        CHECK_OK(ctx, kcl_model_load(ctx, path, &resumed));
        assert_int_equal(kcl_optimizer_iterations(kcl_model_optimizer(resumed)), 3);
        steps(resumed, x, y, 3);
        if (!same_weights(straight, resumed))
            fail_msg("optimizer %zu: resumed training differs from straight training", k);
        /* Control: weights without optimizer state give different weights. */
        kcl_model *weights_only = resume_model(opts[k]);
        CHECK_OK(ctx, kcl_model_load_weights(weights_only, path));
        steps(weights_only, x, y, 3);
        if (same_weights(straight, weights_only))
            fail_msg("optimizer %zu: the control run should differ", k);
        kcl_model_free(weights_only);
        kcl_model_free(resumed);
        kcl_model_free(first);
        kcl_model_free(straight);
    }
    kcl_tensor_free(x);
    kcl_tensor_free(y);
}

/* The same through fit: 2 epochs, save, load, 2 epochs == 4 epochs. */
static void test_resume_fit_matches(void **state)
{
    (void)state;
    float *xv = test_random(ROWS * 4, 71), *yv = test_random(ROWS * 2, 72);
    kcl_array x = {xv, 2, {ROWS, 4}}, y = {yv, 2, {ROWS, 2}};
    kcl_fit_options fo = {.epochs = 4, .batch_size = 4, .no_shuffle = 1,
                          .verbose = KCL_VERBOSE_SILENT};
    kcl_model *straight = resume_model(kcl_adam(.learning_rate = 0.02f));
    kcl_model *first = resume_model(kcl_adam(.learning_rate = 0.02f));
    CHECK_OK(ctx, kcl_fit_arrays(straight, 1, &x, 1, &y, &fo, NULL));
    fo.epochs = 2;
    CHECK_OK(ctx, kcl_fit_arrays(first, 1, &x, 1, &y, &fo, NULL));
    char path[300];
    path_of(path, sizeof path, "resume_fit.safetensors");
    CHECK_OK(ctx, kcl_model_save(first, path));
    kcl_model *resumed;
    CHECK_OK(ctx, kcl_model_load(ctx, path, &resumed));
    CHECK_OK(ctx, kcl_fit_arrays(resumed, 1, &x, 1, &y, &fo, NULL));
    assert_int_equal(kcl_optimizer_iterations(kcl_model_optimizer(resumed)), 16);
    assert_true(same_weights(straight, resumed));
    free(xv);
    free(yv);
    kcl_model_free(resumed);
    kcl_model_free(first);
    kcl_model_free(straight);
}

/* A model saved before any step loads, and trains like the original. */
static void test_save_before_training(void **state)
{
    (void)state;
    kcl_model *m = resume_model(kcl_adam());
    char path[300];
    path_of(path, sizeof path, "untrained.safetensors");
    CHECK_OK(ctx, kcl_model_save(m, path));
    kcl_model *loaded;
    CHECK_OK(ctx, kcl_model_load(ctx, path, &loaded));
    kcl_tensor *x = random_tensor(ROWS, 4, 81), *y = random_tensor(ROWS, 2, 82);
    steps(m, x, y, 2);
    steps(loaded, x, y, 2);
    assert_true(same_weights(m, loaded));
    kcl_tensor_free(x);
    kcl_tensor_free(y);
    kcl_model_free(loaded);
    kcl_model_free(m);
}

/* ----------------------------------------------------------- hostile files -- */

static kcl_model *tiny_model(void)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(2, .name = "d", .input_dim = 3,
                                                   .kernel_initializer = kcl_init_random_normal(.seed = 1),
                                                   .bias_initializer = kcl_init_ones())));
    return m;
}

/* The load fails with want and leaves the weights as they were. */
static void expect_refused(kcl_model *m, const float *before, size_t n, const char *path,
                           kcl_status want, const char *in_message)
{
    kcl_status st = kcl_model_load_weights(m, path);
    if (st != want)
        fail_msg("%s: got %s (%s), want %s", path, kcl_status_name(st), kcl_errmsg(ctx),
                 kcl_status_name(want));
    if (in_message && !strstr(kcl_errmsg(ctx), in_message))
        fail_msg("message '%s' lacks '%s'", kcl_errmsg(ctx), in_message);
    size_t n2;
    float *after = snapshot(m, &n2);
    assert_int_equal(n, n2);
    assert_memory_equal(before, after, n * sizeof *after);
    free(after);
}

static const float tiny_data[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static void craft(const char *path, const char *header)
{
    write_raw(path, header, tiny_data, sizeof tiny_data);
}

static void test_hostile_weight_files(void **state)
{
    (void)state;
    kcl_model *m = tiny_model();
    kcl_tensor *x = random_tensor(2, 3, 91);
    size_t n, np;
    float *before = snapshot(m, &n), *pred = predict(m, &x, &np);
    char good[300], bad[300];
    path_of(good, sizeof good, "tiny.safetensors");
    path_of(bad, sizeof bad, "bad.safetensors");
    CHECK_OK(ctx, kcl_model_save_weights(m, good));
    size_t size;
    unsigned char *file = read_file(good, &size);
    /* Truncated anywhere. */
    for (size_t cut = 0; cut < size; cut += 7) {
        write_file(bad, file, cut);
        expect_refused(m, before, n, bad, KCL_ERR_FORMAT, NULL);
    }
    /* Header length beyond every limit, beyond the file. */
    unsigned char *copy = malloc(size);
    memcpy(copy, file, size);
    copy[5] = 1;   /* 2^40 */
    write_file(bad, copy, size);
    expect_refused(m, before, n, bad, KCL_ERR_FORMAT, "header length");
    memcpy(copy, file, size);
    uint64_t too_long = size - 7;
    for (int i = 0; i < 8; i++)
        copy[i] = (unsigned char)(too_long >> (8 * i));
    write_file(bad, copy, size);
    expect_refused(m, before, n, bad, KCL_ERR_FORMAT, "header length");
    /* Not JSON. */
    memcpy(copy, file, size);
    copy[8] = 'x';
    write_file(bad, copy, size);
    expect_refused(m, before, n, bad, KCL_ERR_FORMAT, "JSON");
    /* One bit of the data flipped: the checksum catches it. */
    memcpy(copy, file, size);
    copy[size - 1] ^= 1;
    write_file(bad, copy, size);
    expect_refused(m, before, n, bad, KCL_ERR_FORMAT, "checksum");
    free(copy);
    /* Crafted headers: the valid one loads (so the refusals below mean something). */
    const char *k = "\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}";
    const char *b = "\"d/bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}";
    char h[1024];
    snprintf(h, sizeof h, "{%s,%s}", k, b);
    craft(bad, h);
    kcl_model *other = tiny_model();
    CHECK_OK(ctx, kcl_model_load_weights(other, bad));
    float k_read[6];
    CHECK_OK(ctx, kcl_tensor_read(kcl_layer_weight(kcl_model_layer(other, 0), 0), k_read, 6));
    assert_memory_equal(k_read, tiny_data, sizeof k_read);
    kcl_model_free(other);
    static const struct {
        const char *header;
        const char *message;
    } cases[] = {
        {"{\"d/kernel\":{\"dtype\":\"F16\",\"shape\":[3,2],\"data_offsets\":[0,24]},%s}", "F16"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
         "\"d/bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[32,40]}}", "data_offsets"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
         "\"d/bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", "overlap"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[8,32]},"
         "\"d/bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "gap"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,3],\"data_offsets\":[0,24]},%s}", "shape"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[-3,2],\"data_offsets\":[0,24]},%s}", "dimension"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[24,0]},%s}", "data_offsets"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},%s}", "shape [2, 3]"},
        {"{\"d/kernal\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},%s}", "'d/kernel'"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
         "\"d/bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
         "\"extra\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[32,32]}}", "'extra'"},
        {"{\"__metadata__\":{\"a\":1},%s,"
         "\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}}", "__metadata__"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},%s} xx", "JSON"},
        {"[1,2,3]", "'{'"},
        {"{\"d/kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},%s,"
         "\"__metadata__\":{\"checksum_crc32\":\"00000000\"}}", "checksum"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(h, sizeof h, cases[i].header, b);
        craft(bad, h);
        expect_refused(m, before, n, bad, KCL_ERR_FORMAT, cases[i].message);
    }
    path_of(bad, sizeof bad, "no_such_file.safetensors");
    expect_refused(m, before, n, bad, KCL_ERR_IO, NULL);
    /* Predictions unchanged after all that. */
    float *after = predict(m, &x, &np);
    assert_memory_equal(pred, after, np * sizeof *after);
    free(after);
    free(pred);
    free(before);
    free(file);
    kcl_tensor_free(x);
    kcl_model_free(m);
}

/* Whole-model files: truncations, a flipped bit, a bad architecture. */
static void test_hostile_model_files(void **state)
{
    (void)state;
    kcl_model *m = resume_model(kcl_adam());
    char good[300], bad[300];
    path_of(good, sizeof good, "model.safetensors");
    path_of(bad, sizeof bad, "bad_model.safetensors");
    CHECK_OK(ctx, kcl_model_save(m, good));
    size_t size;
    unsigned char *file = read_file(good, &size);
    kcl_model *out = (kcl_model *)1;
    for (size_t cut = 0; cut < size; cut += 7) {
        write_file(bad, file, cut);
        assert_int_equal(kcl_model_load(ctx, bad, &out), KCL_ERR_FORMAT);
        assert_null(out);
    }
    file[size - 3] ^= 0x10;
    write_file(bad, file, size);
    assert_int_equal(kcl_model_load(ctx, bad, &out), KCL_ERR_FORMAT);
    assert_non_null(strstr(kcl_errmsg(ctx), "checksum"));
    /* A weights file is not a whole model. */
    CHECK_OK(ctx, kcl_model_save_weights(m, bad));
    assert_int_equal(kcl_model_load(ctx, bad, &out), KCL_ERR_FORMAT);
    assert_non_null(strstr(kcl_errmsg(ctx), "model_config"));
    /* Consistent file, unknown layer class. */
    char h[1024];
    unsigned long crc = crc32(0L, (const Bytef *)tiny_data, sizeof tiny_data);
    snprintf(h, sizeof h, "{\"__metadata__\":{\"model_config\":\"{\\\"class_name\\\":\\\"Sequential\\\","
             "\\\"config\\\":{\\\"layers\\\":[{\\\"class_name\\\":\\\"Conv9D\\\",\\\"config\\\":"
             "{\\\"name\\\":\\\"c\\\"}}]}}\",\"training_state\":\"{\\\"optimizer_iterations\\\":0}\","
             "\"checksum_crc32\":\"%08lx\"},"
             "\"c/kernel\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}", crc);
    write_raw(bad, h, tiny_data, sizeof tiny_data);
    assert_int_equal(kcl_model_load(ctx, bad, &out), KCL_ERR_FORMAT);
    assert_non_null(strstr(kcl_errmsg(ctx), "Conv9D"));
    assert_null(out);
    path_of(bad, sizeof bad, "missing.safetensors");
    assert_int_equal(kcl_model_load(ctx, bad, &out), KCL_ERR_IO);
    free(file);
    kcl_model_free(m);
}

static void test_bad_json_refused(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *message;
    } cases[] = {
        {"not json", "JSON"},
        {"{\"class_name\": \"Sequential\"}", "config"},
        {"{\"class_name\": \"Graph\", \"config\": {}}", "Graph"},
        {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Conv9D\", "
         "\"config\": {\"name\": \"c\"}}]}}", "Conv9D"},
        {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Dense\", "
         "\"config\": {\"name\": \"d\", \"units\": \"many\"}}]}}", "units"},
        {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Dense\", "
         "\"config\": {\"name\": \"d\", \"units\": 2, \"activation\": \"frobnicate\"}}]}}",
         "activation"},
        {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Dropout\", "
         "\"config\": {\"name\": \"d\", \"rate\": 1.5, \"batch_input_shape\": [null, 3]}}]}}",
         "rate"},
        {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Sequential\", "
         "\"config\": {\"name\": \"inner\"}}]}}", "nested"},
        {"{\"class_name\": \"Functional\", \"config\": {\"name\": \"f\", \"layers\": ["
         "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"i\", \"batch_shape\": [null, 2]}, "
         "\"inbound_nodes\": []},"
         "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 1}, "
         "\"inbound_nodes\": [[[\"ghost\", 0, 0]]]}], "
         "\"input_layers\": [[\"i\", 0, 0]], \"output_layers\": [[\"d\", 0, 0]]}}", "ghost"},
        {"{\"class_name\": \"Functional\", \"config\": {\"name\": \"f\", \"layers\": ["
         "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"i\", \"batch_shape\": [null, 2]}, "
         "\"inbound_nodes\": []},"
         "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2}, "
         "\"inbound_nodes\": [[[\"e\", 0, 0]]]},"
         "{\"class_name\": \"Dense\", \"config\": {\"name\": \"e\", \"units\": 2}, "
         "\"inbound_nodes\": [[[\"d\", 0, 0]]]}], "
         "\"input_layers\": [[\"i\", 0, 0]], \"output_layers\": [[\"e\", 0, 0]]}}", "cycle"},
        {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": [{\"class_name\": \"Dense\", "
         "\"config\": {\"name\": \"d\", \"units\": 2, \"batch_input_shape\": [null, 3]}}]}, "
         "\"compile_config\": {\"optimizer\": {\"class_name\": \"Adam\", \"config\": "
         "{\"learning_rate\": -1}}, \"loss\": \"mse\"}}", "learning_rate"},
        {"{\"class_name\": \"Sequential\", \"config\": {\"layers\": []}, "
         "\"compile_config\": {\"loss\": \"no_such_loss\"}}", "loss"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kcl_model *m = (kcl_model *)1;
        kcl_status st = kcl_model_from_json(ctx, cases[i].json, &m);
        if (st != KCL_ERR_FORMAT)
            fail_msg("case %zu: got %s (%s)", i, kcl_status_name(st), kcl_errmsg(ctx));
        if (!strstr(kcl_errmsg(ctx), cases[i].message))
            fail_msg("case %zu: message '%s' lacks '%s'", i, kcl_errmsg(ctx), cases[i].message);
        assert_null(m);
    }
}

/* A nested model: its weights save and load; its JSON is refused clearly. */
static void test_nested_model(void **state)
{
    (void)state;
    kcl_model *inner[2], *outer[2];
    for (int k = 0; k < 2; k++) {
        int64_t shape[1] = {2};
        kcl_sym *in, *h;
        CHECK_OK(ctx, kcl_input(ctx, 1, shape, "x", &in));
        CHECK_OK(ctx, kcl_call(kcl_layer_dense(3, .name = "d",
                                               .kernel_initializer = kcl_init_random_normal(.seed = 5u + (unsigned)k)),
                               in, &h));
        CHECK_OK(ctx, kcl_functional(ctx, 1, &in, 1, &h, "inner", &inner[k]));
        CHECK_OK(ctx, kcl_sequential(ctx, &outer[k]));
        CHECK_OK(ctx, kcl_model_add(outer[k], kcl_layer_dense(2, .name = "d", .input_dim = 4)));
        CHECK_OK(ctx, kcl_model_add(outer[k], kcl_model_as_layer(inner[k])));
    }
    char *json;
    assert_int_equal(kcl_model_to_json(outer[0], &json), KCL_ERR_ARGUMENT);
    assert_non_null(strstr(kcl_errmsg(ctx), "nested"));
    char path[300];
    path_of(path, sizeof path, "nested.safetensors");
    CHECK_OK(ctx, kcl_model_save_weights(outer[0], path));
    /* The inner model's names are prefixed: the two "d" layers do not clash. */
    size_t size;
    unsigned char *file = read_file(path, &size);
    int rank;
    int64_t shape[8];
    float *v = file_tensor(file, size, "inner/d/kernel", &rank, shape);
    assert_true(rank == 2 && shape[0] == 2 && shape[1] == 3);
    free(v);
    free(file);
    CHECK_OK(ctx, kcl_model_load_weights(outer[1], path));
    kcl_tensor *x = random_tensor(3, 4, 99);
    assert_same_predictions(outer[0], outer[1], &x);
    kcl_tensor_free(x);
    /* Inner first: freeing the outer model first frees the inner one's layer
     * object, which kcl_model_free(inner) then writes to (model.c). */
    for (int k = 0; k < 2; k++) {
        kcl_model_free(inner[k]);
        kcl_model_free(outer[k]);
    }
}

/* ---------------------------------------------------------- interrupted save -- */

static void test_interrupted_save_keeps_old_file(void **state)
{
    (void)state;
    kcl_model *m = tiny_model();
    char path[300], tmp[340];
    path_of(path, sizeof path, "kept.safetensors");
    CHECK_OK(ctx, kcl_model_save_weights(m, path));
    size_t size1;
    unsigned char *v1 = read_file(path, &size1);
    float twos[6] = {2, 2, 2, 2, 2, 2};
    CHECK_OK(ctx, kcl_layer_set_weight(kcl_model_layer(m, 0), 0, twos, 6));
    /* The temporary file cannot be created: a directory sits at its name. */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(kcl_model_save_weights(m, path), KCL_ERR_IO);
    assert_int_equal(kcl_model_save(m, path), KCL_ERR_IO);
    rmdir(tmp);
    size_t size2;
    unsigned char *v2 = read_file(path, &size2);
    assert_int_equal(size1, size2);
    assert_memory_equal(v1, v2, size1);
    free(v2);
    /* A read-only directory (not for root, who may write anyway). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(dir, 0500), 0);
        kcl_status st = kcl_model_save_weights(m, path);
        chmod(dir, 0700);
        assert_int_equal(st, KCL_ERR_IO);
        v2 = read_file(path, &size2);
        assert_memory_equal(v1, v2, size1);
        free(v2);
    }
    struct stat sb;
    assert_int_equal(stat(tmp, &sb), -1);   /* no temporary file left */
    /* And a save that can proceed replaces the file. */
    CHECK_OK(ctx, kcl_model_save_weights(m, path));
    v2 = read_file(path, &size2);
    assert_true(size1 != size2 || memcmp(v1, v2, size1) != 0);
    free(v2);
    free(v1);
    kcl_model_free(m);
}

/* ------------------------------------------------------------------ main -- */

static void remove_dir(const char *d)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", d);
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/kcl_test_save_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    ctx = test_context();
    return ctx ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kcl_context_free(ctx);
    if (!getenv("KCL_TEST_KEEP"))
        remove_dir(dir);
    return 0;
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_round_trip),
        cmocka_unit_test(test_functional_round_trip),
        cmocka_unit_test(test_every_layer_class_json),
        cmocka_unit_test(test_load_weights_into_fresh_model),
        cmocka_unit_test(test_reads_foreign_file),
        cmocka_unit_test(test_fuzz_seeds_load),
        cmocka_unit_test(test_resume_training_matches),
        cmocka_unit_test(test_resume_fit_matches),
        cmocka_unit_test(test_save_before_training),
        cmocka_unit_test(test_hostile_weight_files),
        cmocka_unit_test(test_hostile_model_files),
        cmocka_unit_test(test_bad_json_refused),
        cmocka_unit_test(test_nested_model),
        cmocka_unit_test(test_interrupted_save_keeps_old_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
