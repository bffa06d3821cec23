/* test_tuning.c: CLBlast parameters per device (lib/tuning.c): the text format,
 * the stored file (corrupt ones ignored), and GEMM results with the tuned
 * parameters applied, against a double reference.
 *
 * CLBlast keeps overrides per device for the whole process, so the test that
 * runs without tuning comes first. */
#define _XOPEN_SOURCE 700         /* nftw */
#include "common.h"

#include <dirent.h>
#include <float.h>
#include <ftw.h>
#include <unistd.h>

#include "../lib/tuning.h"
#include "../lib/tuning_defaults.h"

enum { n_shipped = sizeof kcl__tuning_defaults / sizeof *kcl__tuning_defaults };

/* Whether entry i repeats the parameters of an earlier entry (one set serves
 * several CPU names): each distinct set is checked once. */
static int repeated_set(size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(kcl__tuning_defaults[j].text, kcl__tuning_defaults[i].text) == 0)
            return 1;
    return 0;
}

/* ------------------------------------------------------------ GEMM check -- */

/* C = 1.5 op(A) op(B) + 0.5 C on the device, every element within 2(k+2) ulps
 * of the sum of magnitudes of the double result (the worst-case bound of a
 * float dot product; a wrong kernel is off by far more). */
static void check_gemm(kcl_context *ctx, int m, int n, int k, kcl_trans ta, kcl_trans tb)
{
    const float alpha = 1.5f, beta = 0.5f;
    size_t mk = (size_t)m * k, kn = (size_t)k * n, mn = (size_t)m * n;
    float *a = test_random(mk, 1 + m), *b = test_random(kn, 2 + n), *c = test_random(mn, 3);
    float *got = malloc(mn * sizeof *got);
    assert_non_null(got);
    int64_t sa[2] = {ta ? k : m, ta ? m : k}, sb[2] = {tb ? n : k, tb ? k : n};
    int64_t sc[2] = {m, n};
    kcl_tensor *ta_, *tb_, *tc;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sa, a, &ta_));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sb, b, &tb_));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sc, c, &tc));
    CHECK_OK(ctx, kcl_gemm(ctx, ta, tb, alpha, ta_, tb_, beta, tc));
    CHECK_OK(ctx, kcl_tensor_read(tc, got, mn));
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int l = 0; l < k; l++) {
                double x = ta ? a[(size_t)l * m + i] : a[(size_t)i * k + l];
                double y = tb ? b[(size_t)j * k + l] : b[(size_t)l * n + j];
                s += x * y;
                mag += fabs(x * y);
            }
            size_t at = (size_t)i * n + j;
            double want = alpha * s + beta * (double)c[at];
            double bound = 2.0 * (k + 2) * FLT_EPSILON * (alpha * mag + beta * fabs(c[at]));
            if (!(fabs(got[at] - want) <= bound + 1e-30))
                fail_msg("%dx%dx%d %s%s: C[%d,%d] = %.9g, want %.9g (bound %.3g)", m, n, k,
                         ta ? "T" : "N", tb ? "T" : "N", i, j, got[at], want, bound);
        }
    kcl_tensor_free(ta_);
    kcl_tensor_free(tb_);
    kcl_tensor_free(tc);
    free(a);
    free(b);
    free(c);
    free(got);
}

/* Shapes around the tile sizes (1, odd, just past a multiple of 32, the MLP's
 * 10-unit layer), fewer on the simulator. */
static const int (*shapes_of(kcl_context *ctx, size_t *count))[3]
{
    static const int full[][3] = {{1, 1, 1},      {7, 5, 3},    {33, 17, 65},
                                  {64, 64, 64},   {96, 72, 80}, {128, 10, 128},
                                  {130, 70, 257}};
    static const int small[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 20}};
    int sim = test_on_simulator(ctx);
    *count = sim ? sizeof small / sizeof *small : sizeof full / sizeof *full;
    return sim ? small : full;
}

/* Every shape of shapes_of in all four transpose combinations. */
static void check_all(kcl_context *ctx)
{
    size_t count;
    const int(*shapes)[3] = shapes_of(ctx, &count);
    for (size_t s = 0; s < count; s++)
        for (int t = 0; t < 4; t++)
            check_gemm(ctx, shapes[s][0], shapes[s][1], shapes[s][2], t & 1, (t >> 1) & 1);
}

/* ------------------------------------------------------ training curve -- */

/* An MLP (ReLU, then a softmax over 10 classes; Adam) trained some steps on
 * one batch. On a device, 80-72-10 at batch 96 for 25 steps: its forward
 * product, 96x72x80, lies above the shipped sets' switch (indirect kernel)
 * and below CLBlast's generic one (direct kernel), so tuning changes which
 * kernel multiplies. On the simulator, 24-16-10 at batch 32 for 12 steps:
 * every product on the direct kernel, tuned or not (the tuned indirect one
 * needs more local memory than Oclgrind has), in seconds. */
typedef struct curve_shape {
    int batch, in, hidden, steps;
} curve_shape;
enum { curve_classes = 10, max_steps = 25 };

static curve_shape curve_shape_of(const kcl_context *ctx)
{
    return test_on_simulator(ctx) ? (curve_shape){32, 24, 16, 12} : (curve_shape){96, 80, 72, 25};
}

/* The untuned curve, recorded by the first test (CLBlast's overrides last for
 * the process, so only the first can run untuned); has_untuned_curve: it was. */
static float untuned_curve[max_steps];
static int has_untuned_curve;

static void train_curve(kcl_context *ctx, float *losses)
{
    curve_shape c = curve_shape_of(ctx);
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(c.hidden, .input_dim = c.in,
                                                   .activation = "relu",
                                                   .kernel_initializer =
                                                       kcl_init_glorot_uniform(.seed = 5))));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(curve_classes, .activation = "softmax",
                                                   .kernel_initializer =
                                                       kcl_init_glorot_uniform(.seed = 6))));
    CHECK_OK(ctx, kcl_compile(m, kcl_adam(.learning_rate = 1e-2f),
                              "sparse_categorical_crossentropy", NULL));
    float *x = test_random((size_t)c.batch * c.in, 11), *y = malloc(c.batch * sizeof *y);
    assert_non_null(y);
    for (int i = 0; i < c.batch; i++)
        y[i] = (float)((i * 7 + (x[i * c.in] > 0)) % curve_classes);
    int64_t sx[2] = {c.batch, c.in}, sy[1] = {c.batch};
    kcl_tensor *tx, *ty;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sx, x, &tx));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, sy, y, &ty));
    for (int step = 0; step < c.steps; step++)
        CHECK_OK(ctx, kcl_train_on_batch(m, &tx, &ty, &losses[step], 1));
    /* it learns: Adam at 1e-2 brings this batch's loss well down */
    if (!(losses[c.steps - 1] < 0.75f * losses[0]))
        fail_msg("loss %g after %d steps, %g at the start", losses[c.steps - 1], c.steps,
                 losses[0]);
    kcl_tensor_free(tx);
    kcl_tensor_free(ty);
    kcl_model_free(m);
    free(x);
    free(y);
}

/* Two curves agree step by step within float tolerance: kernels may sum a
 * product's terms in different orders, a relative 1e-6 per step at most,
 * which 25 Adam steps could grow to about 1e-5. (On PoCL here the three
 * curves are identical: every kernel sums over k in order with fma.) */
static void check_same_curve(const char *what, int steps, const float *got, const float *want)
{
    for (int step = 0; step < steps; step++)
        if (!(fabsf(got[step] - want[step]) <= 1e-4f * fabsf(want[step]) + 1e-6f))
            fail_msg("%s: loss %.9g at step %d, untuned CLBlast %.9g", what, got[step], step,
                     want[step]);
}

/* ------------------------------------------------------------ the format -- */

static void test_parse_and_format(void **state)
{
    (void)state;
    kcl_tuning t;
    const char *text = "# comment\n\nXgemm KWG=32 MWG=64\n  GemmRoutine XGEMM_MIN_INDIRECT_SIZE=96 "
                       "\r\nXgemm KWG=16\n";
    assert_int_equal(kcl__tuning_parse(text, &t), 0);
    assert_int_equal(t.count, 2);
    /* a later line for the same kernel replaces the earlier one */
    assert_string_equal(t.sets[0].kernel, "Xgemm");
    assert_int_equal(t.sets[0].count, 1);
    assert_int_equal(t.sets[0].values[0], 16);
    assert_string_equal(t.sets[1].names[0], "XGEMM_MIN_INDIRECT_SIZE");
    assert_int_equal(t.sets[1].values[0], 96);

    char buf[1024];
    kcl__tuning_format(&t, buf, sizeof buf);
    assert_string_equal(buf, "Xgemm KWG=16\nGemmRoutine XGEMM_MIN_INDIRECT_SIZE=96\n");
    kcl_tuning again;
    assert_int_equal(kcl__tuning_parse(buf, &again), 0);
    assert_memory_equal(&t, &again, sizeof t);
}

static void test_parse_rejects_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Bogus KWG=32\n",                    /* not a CLBlast kernel */
        "Xgemm\n",                           /* no parameter */
        "Xgemm KWG\n",                       /* no value */
        "Xgemm KWG=\n",
        "Xgemm =32\n",
        "Xgemm KWG=-1\n",
        "Xgemm KWG=32x\n",
        "Xgemm KWG=99999999999999999999\n",
        "Xgemm K-G=32\n",
        "Xgemm AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=1\n",
        "Xgemm A=1 B=1 C=1 D=1 E=1 F=1 G=1 H=1 I=1 J=1 K=1 L=1 M=1 N=1 O=1 P=1 Q=1 R=1 S=1 "
        "T=1 U=1 V=1 W=1 X=1 Y=1\n",         /* more parameters than any kernel has */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kcl_tuning t;
        if (kcl__tuning_parse(bad[i], &t) != -1)
            fail_msg("accepted: %s", bad[i]);
    }
}

/* Every shipped set parses, and CLBlast accepts each of its kernels' sets
 * (a missing or misspelt parameter would make it refuse them silently). */
static void test_shipped_sets_accepted(void **state)
{
    (void)state;
    kcl_context *ctx = test_context();
    /* CLBlast keeps an override for the rest of the process: walk the list
     * backwards, so that the first set (the one this machine's PoCL uses,
     * which also fits Oclgrind's local memory) is the one left in force. */
    for (size_t i = n_shipped; i-- > 0;) {
        kcl_tuning t;
        assert_int_equal(kcl__tuning_parse(kcl__tuning_defaults[i].text, &t), 0);
        assert_true(t.count > 0);
        assert_int_equal(kcl__tuning_override(kcl__tuning_device(ctx), &t), t.count);
    }
    kcl_context_free(ctx);
}

/* ----------------------------------------------------- GEMM with tunings -- */

/* Untuned CLBlast: products, and the training curve later tests compare with. */
static void test_gemm_without_tuning(void **state)
{
    (void)state;
    setenv("KCL_NO_TUNING", "1", 1);
    kcl_context *ctx = test_context();
    kcl_tuning t;
    assert_int_equal(kcl__tuning_load(ctx, &t), KCL_TUNING_DISABLED);
    unsetenv("KCL_NO_TUNING");
    check_all(ctx);
    train_curve(ctx, untuned_curve);
    has_untuned_curve = 1;
    kcl_context_free(ctx);
}

/* The context applies what it finds (the shipped set on a matching device). */
static void test_gemm_as_created(void **state)
{
    (void)state;
    kcl_context *ctx = test_context();
    kcl_tuning t;
    kcl_tuning_source source = kcl__tuning_load(ctx, &t);
    assert_true(source == KCL_TUNING_SHIPPED || source == KCL_TUNING_NONE);
    check_all(ctx);
    kcl_context_free(ctx);
}

/* Tuning changes no result beyond float tolerance: the training curve with
 * the parameters a context applies (shipped, on this machine's PoCL) and with
 * kcl's own kernel is the untuned one's. */
static void test_training_unchanged_by_tuning(void **state)
{
    (void)state;
    if (!has_untuned_curve)
        fail_msg("the untuned curve comes from test_gemm_without_tuning: run both");
    float curve[max_steps];
    for (int engine = 0; engine < 2; engine++) {
        kcl_context_options opt = {.disable_disk_cache = 1,
                                   .gemm = engine ? KCL_GEMM_KCL : KCL_GEMM_CLBLAST};
        kcl_context *ctx;
        CHECK_OK(NULL, kcl_context_create(&ctx, &opt));
        kcl_tuning t;
        kcl_tuning_source source = kcl__tuning_load(ctx, &t);
        assert_true(source == KCL_TUNING_SHIPPED || source == KCL_TUNING_NONE);
        train_curve(ctx, curve);
        kcl_queue_stats q;
        CHECK_OK(ctx, kcl_queue_stats_get(ctx, &q));
        int steps = curve_shape_of(ctx).steps;
        assert_true(engine ? q.blas_calls == 0 : q.blas_calls >= 3 * (uint64_t)steps);
        check_same_curve(engine ? "kcl's kernel" : "tuned CLBlast", steps, curve, untuned_curve);
        kcl_context_free(ctx);
    }
}

/* Whether the device refuses the applied parameters for lack of local memory
 * (a set made for a CPU with plenty, tried on Oclgrind): a limit of the
 * device, not an error of kcl. */
static int local_memory_too_small(kcl_context *ctx)
{
    int64_t shape[2] = {2, 2};
    kcl_tensor *a;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, shape, &a));
    kcl_status st = kcl_gemm(ctx, KCL_NO_TRANS, KCL_NO_TRANS, 1.0f, a, a, 0.0f, a);
    int refused = st == KCL_ERR_BLAS && strstr(kcl_errmsg(ctx), "InvalidLocalMemUsage");
    if (st && !refused)
        fail_msg("kcl_gemm: %s", kcl_errmsg(ctx));
    kcl_tensor_free(a);
    return refused;
}

/* A set's switch between CLBlast's kernels (GemmRoutine's
 * XGEMM_MIN_INDIRECT_SIZE): products with m*n*k below its cube run on the
 * direct kernel, the others on the indirect one. */
static unsigned long long indirect_from(const kcl_tuning *t)
{
    for (size_t s = 0; s < t->count; s++)
        for (size_t i = 0; i < t->sets[s].count; i++)
            if (strcmp(t->sets[s].names[i], "XGEMM_MIN_INDIRECT_SIZE") == 0)
                return t->sets[s].values[i];
    fail_msg("no XGEMM_MIN_INDIRECT_SIZE in the set");
    return 0;
}

/* Each distinct shipped set on this device whatever its name, with its own
 * switch between CLBlast's kernels: on a device (not the simulator) check_all's
 * shapes fall on both sides of it (asserted), so both tuned kernels multiply,
 * edge tiles included. Under Oclgrind (out-of-bounds accesses, races) only its
 * small shapes run, all on the direct kernel, and a set needing more local
 * memory than Oclgrind has is skipped. One CLBlast program per set: each
 * program costs a minute of PoCL compilation with a cold cache. */
static void test_gemm_shipped_sets(void **state)
{
    (void)state;
    for (size_t i = n_shipped; i-- > 0;) {   /* backwards: see test_shipped_sets_accepted */
        if (repeated_set(i))
            continue;
        kcl_context *ctx = test_context();
        kcl_tuning t;
        assert_int_equal(kcl__tuning_parse(kcl__tuning_defaults[i].text, &t), 0);
        size_t count, sides[2] = {0, 0};
        const int(*shapes)[3] = shapes_of(ctx, &count);
        unsigned long long cube = indirect_from(&t) * indirect_from(&t) * indirect_from(&t);
        for (size_t s = 0; s < count; s++)
            sides[(unsigned long long)shapes[s][0] * shapes[s][1] * shapes[s][2] >= cube]++;
        if (!test_on_simulator(ctx) && (sides[0] < 2 || sides[1] < 2))
            fail_msg("set %zu: %zu shapes on the direct kernel, %zu on the indirect one", i,
                     sides[0], sides[1]);
        assert_int_equal(kcl__tuning_override(kcl__tuning_device(ctx), &t), t.count);
        if (local_memory_too_small(ctx))
            print_message("# set %zu: too little local memory here, skipped\n", i);
        else
            check_all(ctx);
        kcl_context_free(ctx);
    }
}

/* ---------------------------------------------------------- stored files -- */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static kcl_context *context_in(const char *dir)
{
    kcl_context_options opt = {.cache_dir = dir};
    kcl_context *ctx = NULL;
    kcl_status st = kcl_context_create(&ctx, &opt);
    if (st != KCL_OK)
        fail_msg("kcl_context_create: %s", kcl_errmsg(NULL));
    return ctx;
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

/* kcl__tuning_store's file is what the next context loads; nothing else is
 * left in the directory. */
static void test_store_and_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/kcl-test-tuning-XXXXXX";
    assert_non_null(mkdtemp(dir));
    kcl_context *ctx = context_in(dir);
    kcl_tuning t;
    assert_int_equal(kcl__tuning_parse("GemmRoutine XGEMM_MIN_INDIRECT_SIZE=77\n", &t), 0);
    CHECK_OK(ctx, kcl__tuning_store(ctx, &t));
    kcl_context_free(ctx);

    ctx = context_in(dir);
    kcl_tuning got;
    assert_int_equal(kcl__tuning_load(ctx, &got), KCL_TUNING_STORED);
    assert_memory_equal(&t, &got, sizeof t);
    char *path = kcl__tuning_path(ctx);
    assert_non_null(path);
    *strrchr(path, '/') = '\0';
    int files = 0;
    DIR *d = opendir(path);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 1);
    free(path);
    kcl_context_free(ctx);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* The "Engine" line kcl-tune stores decides the engine of a context that
 * neither its options nor $KCL_GEMM decide; CLBlast never sees the line. The
 * stored CLBlast parameters are the device's shipped ones (if any), so that
 * CLBlast's programs are those test_gemm_as_created compiled. */
static void test_stored_engine(void **state)
{
    (void)state;
    char dir[] = "/tmp/kcl-test-tuning-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *saved = strdup(getenv("KCL_GEMM"));
    unsetenv("KCL_GEMM");
    kcl_context *ctx = context_in(dir);
    kcl_tuning t;
    kcl_tuning_source source = kcl__tuning_load(ctx, &t);
    assert_true(source == KCL_TUNING_SHIPPED || source == KCL_TUNING_NONE);
    size_t clblast_sets = t.count;
    kcl_tuning_set engine = {.kernel = "Engine", .count = 1, .names = {"KCL"}, .values = {1}};
    assert_int_equal(kcl__tuning_put(&t, &engine), 0);
    assert_int_equal(kcl__tuning_engine(&t), KCL_GEMM_KCL);
    assert_int_equal(kcl__tuning_override(kcl__tuning_device(ctx), &t), clblast_sets);
    for (int kcl = 0; kcl < 2; kcl++) {
        t.sets[clblast_sets].values[0] = (size_t)kcl;
        assert_int_equal(kcl__tuning_engine(&t), kcl ? KCL_GEMM_KCL : KCL_GEMM_CLBLAST);
        CHECK_OK(ctx, kcl__tuning_store(ctx, &t));
        kcl_context *next = context_in(dir);
        assert_int_equal(kcl_context_gemm(next), kcl ? KCL_GEMM_KCL : KCL_GEMM_CLBLAST);
        check_gemm(next, 33, 17, 9, KCL_NO_TRANS, KCL_TRANS);
        kcl_context_free(next);
        /* the option and the environment still decide first */
        kcl_context_options opt = {.cache_dir = dir,
                                   .gemm = kcl ? KCL_GEMM_CLBLAST : KCL_GEMM_KCL};
        CHECK_OK(NULL, kcl_context_create(&next, &opt));
        assert_int_equal(kcl_context_gemm(next), kcl ? KCL_GEMM_CLBLAST : KCL_GEMM_KCL);
        kcl_context_free(next);
        setenv("KCL_GEMM", kcl ? "clblast" : "kcl", 1);
        next = context_in(dir);
        assert_int_equal(kcl_context_gemm(next), kcl ? KCL_GEMM_CLBLAST : KCL_GEMM_KCL);
        kcl_context_free(next);
        unsetenv("KCL_GEMM");
    }
    kcl_context_free(ctx);
    setenv("KCL_GEMM", saved, 1);
    free(saved);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Files that are not a valid tuning file for this device are ignored whole:
 * the context is created, loads the shipped set (or none), and GEMM is right.
 * A well-formed set CLBlast refuses (parameters missing) is loaded but skipped. */
static void test_corrupt_file_ignored(void **state)
{
    (void)state;
    char dir[] = "/tmp/kcl-test-tuning-XXXXXX";
    assert_non_null(mkdtemp(dir));
    kcl_context *ctx = context_in(dir);
    char *path = kcl__tuning_path(ctx);
    char device_line[256];
    snprintf(device_line, sizeof device_line, "kcl-tuning 1\ndevice %s\n",
             kcl_context_device(ctx)->name);
    kcl_tuning t;
    kcl__tuning_parse("GemmRoutine XGEMM_MIN_INDIRECT_SIZE=1\n", &t);
    CHECK_OK(ctx, kcl__tuning_store(ctx, &t));    /* creates the directory */
    kcl_context_free(ctx);

    char text[1024];
    static const unsigned char binary[] = {0x7f, 'E', 'L', 'F', 0, 1, 2, 3, 0xff, 0xfe};
    const char *bodies[] = {
        "",                                                   /* empty */
        "kcl-tuning 2\ndevice x\nXgemm KWG=32\n",             /* another version */
        "kcl-tuning 1\ndevice another device\nGemmRoutine XGEMM_MIN_INDIRECT_SIZE=1\n",
        NULL,                                                 /* right header, bad line */
        NULL,                                                 /* right header, no sets */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies + 1; i++) {
        if (i == sizeof bodies / sizeof *bodies) {
            write_file(path, binary, sizeof binary);
        } else {
            if (i == 3)
                snprintf(text, sizeof text, "%sXgemm KWG=32 MWG\n", device_line);
            else if (i == 4)
                snprintf(text, sizeof text, "%s# nothing\n", device_line);
            else
                snprintf(text, sizeof text, "%s", bodies[i]);
            write_file(path, text, strlen(text));
        }
        ctx = context_in(dir);
        kcl_tuning_source source = kcl__tuning_load(ctx, &t);
        if (source == KCL_TUNING_STORED)
            fail_msg("file %zu was not ignored", i);
        if (i == sizeof bodies / sizeof *bodies)
            check_gemm(ctx, 33, 17, 20, KCL_TRANS, KCL_NO_TRANS);
        kcl_context_free(ctx);
    }

    snprintf(text, sizeof text, "%sXgemm KWG=32\n", device_line);
    write_file(path, text, strlen(text));
    ctx = context_in(dir);
    assert_int_equal(kcl__tuning_load(ctx, &t), KCL_TUNING_STORED);
    assert_int_equal(kcl__tuning_override(kcl__tuning_device(ctx), &t), 0);
    check_gemm(ctx, 33, 17, 20, KCL_NO_TRANS, KCL_TRANS);
    kcl_context_free(ctx);
    free(path);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    /* The GEMM checks here are of CLBlast's parameters: CPU devices would
     * otherwise multiply with kcl's kernel. */
    setenv("KCL_GEMM", "clblast", 1);
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_without_tuning),
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_shipped_sets_accepted),
        cmocka_unit_test(test_gemm_as_created),
        cmocka_unit_test(test_training_unchanged_by_tuning),
        cmocka_unit_test(test_gemm_shipped_sets),
        cmocka_unit_test(test_store_and_load),
        cmocka_unit_test(test_stored_engine),
        cmocka_unit_test(test_corrupt_file_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
