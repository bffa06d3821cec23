/* test_log: all of kcl's text output goes to the context's log callback, and
 * nothing reaches stdout or stderr then; verbose=0 produces nothing at all;
 * without a callback the lines still go to stdout. The epoch line's loss is
 * checked against a double-precision computation of the first epoch's MSE. */
#include <fcntl.h>
#include <unistd.h>

#include "common.h"

static kcl_context *ctx;

/* ------------------------------------------------------------ the capture -- */

typedef struct captured {
    int calls;
    int levels[3];               /* calls per level */
    char text[8192];             /* every message, one per line, "<level>:<text>" */
    size_t used;
    int bad_level;
} captured;

static void collect(void *user, int level, const char *text)
{
    captured *c = user;
    c->calls++;
    if (level < 0 || level > 2) {
        c->bad_level = 1;
        return;
    }
    c->levels[level]++;
    int n = snprintf(c->text + c->used, sizeof c->text - c->used, "%d:%s\n", level, text);
    if (n > 0 && (size_t)n < sizeof c->text - c->used)
        c->used += (size_t)n;
}

/* Points fds 1 and 2 at a temporary file while f runs; returns what they got. */
typedef struct redirect {
    int saved[2];
    FILE *file;
} redirect;

static void redirect_begin(redirect *r)
{
    fflush(stdout);
    fflush(stderr);
    r->file = tmpfile();
    assert_non_null(r->file);
    for (int fd = 1; fd <= 2; fd++) {
        r->saved[fd - 1] = dup(fd);
        assert_true(r->saved[fd - 1] >= 0);
        assert_true(dup2(fileno(r->file), fd) >= 0);
    }
}

/* Restores fds 1 and 2; *text (malloc'ed) holds what was written to them. */
static size_t redirect_end(redirect *r, char **text)
{
    fflush(stdout);
    fflush(stderr);
    for (int fd = 1; fd <= 2; fd++) {
        assert_true(dup2(r->saved[fd - 1], fd) >= 0);
        close(r->saved[fd - 1]);
    }
    long size = ftell(r->file);   /* shared offset: where the writes ended */
    assert_true(size >= 0);
    *text = calloc((size_t)size + 1, 1);
    assert_non_null(*text);
    rewind(r->file);
    size_t got = fread(*text, 1, (size_t)size, r->file);
    fclose(r->file);
    return got;
}

/* ---------------------------------------------------------------- model -- */

enum { SAMPLES = 8, FEATURES = 3 };
static const float kernel[FEATURES] = {0.5f, -0.25f, 1.0f};
static const float bias = 0.125f;

static void data(float *x, float *y)
{
    for (int i = 0; i < SAMPLES; i++) {
        for (int j = 0; j < FEATURES; j++)
            x[i * FEATURES + j] = (float)((i + 1) * (j + 2) % 7) / 7.0f - 0.4f;
        y[i] = (float)(i % 3) - 1.0f;
    }
}

/* The first epoch's loss with one batch of all samples: the MSE at the
 * initial weights, in double precision. */
static double reference_loss(void)
{
    float x[SAMPLES * FEATURES], y[SAMPLES];
    data(x, y);
    double sum = 0;
    for (int i = 0; i < SAMPLES; i++) {
        double p = bias;
        for (int j = 0; j < FEATURES; j++)
            p += (double)x[i * FEATURES + j] * kernel[j];
        sum += (p - y[i]) * (p - y[i]);
    }
    return sum / SAMPLES;
}

static kcl_model *make_model(void)
{
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(1, .input_dim = FEATURES)));
    kcl_layer *dense = kcl_model_layer(m, 0);
    CHECK_OK(ctx, kcl_layer_set_weight(dense, 0, kernel, FEATURES));
    CHECK_OK(ctx, kcl_layer_set_weight(dense, 1, &bias, 1));
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(.learning_rate = 0.1f), "mse", NULL));
    return m;
}

/* Fits 2 epochs, one batch each, with fds 1 and 2 captured; returns what
 * they received (malloc'ed). */
static char *fit_captured(kcl_verbose verbose, size_t n_callbacks, kcl_callback *const *callbacks)
{
    float x[SAMPLES * FEATURES], y[SAMPLES];
    data(x, y);
    kcl_array xa = {.data = x, .rank = 2, .shape = {SAMPLES, FEATURES}};
    kcl_array ya = {.data = y, .rank = 2, .shape = {SAMPLES, 1}};
    kcl_model *m = make_model();
    redirect r;
    redirect_begin(&r);
    kcl_status st = kcl_fit(m, &xa, &ya, .epochs = 2, .batch_size = SAMPLES, .verbose = verbose,
                            .n_callbacks = n_callbacks, .callbacks = callbacks);
    char *out;
    redirect_end(&r, &out);
    if (st)
        fail_msg("kcl_fit: %s: %s", kcl_status_name(st), kcl_errmsg(ctx));
    kcl_model_free(m);
    return out;
}

/* The loss value on the line after "1:1/1 - " or the bar: " - loss: X". */
static double epoch_loss(const captured *c, int epoch)
{
    char header[32];
    snprintf(header, sizeof header, "1:Epoch %d/2\n", epoch);
    const char *at = strstr(c->text, header);
    assert_non_null(at);
    at = strstr(at + strlen(header), " - loss: ");
    assert_non_null(at);
    return strtod(at + strlen(" - loss: "), NULL);
}

/* ---------------------------------------------------------------- tests -- */

static void check_callback_run(kcl_verbose verbose)
{
    captured c = {0};
    kcl_set_log_callback(ctx, collect, &c);
    /* EarlyStopping on a metric that does not exist warns through the log. */
    kcl_callback *es;
    CHECK_OK(ctx, kcl_early_stopping(&(kcl_early_stopping_options){.monitor = "no_such_metric"},
                                     &es));
    char *out = fit_captured(verbose, 1, &es);
    kcl_callback_free(es);
    kcl_set_log_callback(ctx, NULL, NULL);
    if (*out)
        fail_msg("written to stdout/stderr despite the callback: \"%s\"", out);
    free(out);
    assert_false(c.bad_level);
    assert_non_null(strstr(c.text, "1:Epoch 1/2\n"));
    assert_non_null(strstr(c.text, "1:Epoch 2/2\n"));
    assert_true(strstr(c.text, "1:Epoch 1/2\n") < strstr(c.text, "1:Epoch 2/2\n"));
    /* The warning is shown once, as Keras does, naming what is there. */
    assert_int_equal(c.levels[KCL_LOG_WARNING], 1);
    assert_non_null(strstr(c.text, "2:kcl: EarlyStopping conditioned on metric "
                                   "'no_such_metric' which is not available. "
                                   "Available metrics are: loss"));
    /* No message carries its own line break or terminal control codes. */
    for (const char *p = c.text; *p; p++)
        assert_false(*p == '\r' || *p == '\x1b');
    double want = reference_loss(), got = epoch_loss(&c, 1);
    if (fabs(got - want) > 1e-4 + 1e-4 * fabs(want))
        fail_msg("epoch 1 loss %.6f in the log, reference %.6f\n%s", got, want, c.text);
    /* The second epoch's loss is after one SGD step: lower. */
    assert_true(epoch_loss(&c, 2) < got);
}

static void test_callback_gets_line_output(void **state)
{
    (void)state;
    check_callback_run(KCL_VERBOSE_LINE);
}

static void test_callback_gets_bar_output(void **state)
{
    (void)state;
    check_callback_run(KCL_VERBOSE_BAR);
}

/* verbose AUTO with a callback: line mode (no terminal codes), still logged. */
static void test_callback_auto_is_line_mode(void **state)
{
    (void)state;
    captured c = {0};
    kcl_set_log_callback(ctx, collect, &c);
    char *out = fit_captured(KCL_VERBOSE_AUTO, 0, NULL);
    kcl_set_log_callback(ctx, NULL, NULL);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(c.levels[KCL_LOG_PROGRESS], 0);
    assert_non_null(strstr(c.text, "1:1/1 - "));
}

static void test_silent_writes_nothing(void **state)
{
    (void)state;
    captured c = {0};
    kcl_set_log_callback(ctx, collect, &c);
    char *out = fit_captured(KCL_VERBOSE_SILENT, 0, NULL);
    kcl_set_log_callback(ctx, NULL, NULL);
    assert_string_equal(out, "");
    free(out);
    assert_int_equal(c.calls, 0);
    /* And without a callback: nothing on stdout or stderr either. */
    out = fit_captured(KCL_VERBOSE_SILENT, 0, NULL);
    assert_string_equal(out, "");
    free(out);
}

static void test_default_is_stdout(void **state)
{
    (void)state;
    char *out = fit_captured(KCL_VERBOSE_LINE, 0, NULL);
    const char *epoch2 = strstr(out, "Epoch 2/2\n");
    if (strncmp(out, "Epoch 1/2\n1/1 - ", 16) != 0 || !epoch2 || !strstr(epoch2, " - loss: "))
        fail_msg("unexpected default output: \"%s\"", out);
    free(out);
}

static int setup(void **state)
{
    (void)state;
    ctx = test_context();
    return 0;
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
        cmocka_unit_test(test_callback_gets_line_output),
        cmocka_unit_test(test_callback_gets_bar_output),
        cmocka_unit_test(test_callback_auto_is_line_mode),
        cmocka_unit_test(test_silent_writes_nothing),
        cmocka_unit_test(test_default_is_stdout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
