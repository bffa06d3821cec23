/* test_metrics: each Keras metric accumulated over several batches, with and
 * without sample weights, against a plain-C reference of Keras' formulas
 * (keras/src/metrics: accuracy_metrics.py, regression_metrics.py,
 * confusion_metrics.py, metrics_utils.py, reduction_metrics.py); reset; names;
 * errors. */
#include <stdbool.h>

#include "common.h"

#define TOL 1e-5

/* ------------------------------------------------------------- helpers -- */

/* Uploads one batch, updates m with it and frees the batch at once (the
 * update must not need the caller's tensors to outlive the call). */
static void update(kcl_context *ctx, kcl_metric *m, int trank, const int64_t *tshape,
                   const float *t, int prank, const int64_t *pshape, const float *p,
                   const float *w)
{
    kcl_tensor *tt = NULL, *tp, *tw = NULL;
    if (t)
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, trank, tshape, t, &tt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, prank, pshape, p, &tp));
    if (w)
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, pshape, w, &tw));
    CHECK_OK(ctx, kcl_metric_update(m, tt, tp, tw));
    kcl_tensor_free(tt);
    kcl_tensor_free(tp);
    kcl_tensor_free(tw);
}

static void expect(kcl_metric *m, double want, const char *what)
{
    float got = NAN;
    kcl_status st = kcl_metric_result(m, &got);
    if (st != KCL_OK)
        fail_msg("%s: kcl_metric_result -> %s", what, kcl_status_name(st));
    if (!(fabs(got - want) <= TOL))
        fail_msg("%s: %s is %.9g, reference %.9g", what, kcl_metric_name(m), got, want);
}

static kcl_metric *make(kcl_context *ctx, kcl_metric_config c)
{
    kcl_metric *m = NULL;
    CHECK_OK(ctx, kcl_metric_create(ctx, &c, &m));
    return m;
}

/* Keras' Mean: total += sum(w v), count += sum(w) (w = 1 when unweighted). */
typedef struct mean_ref {
    double total, count;
} mean_ref;

static void mean_add(mean_ref *r, double v, const float *w, int i)
{
    double wi = w ? w[i] : 1.0;
    r->total += wi * v;
    r->count += wi;
}

static double mean_value(const mean_ref *r)
{
    return r->count ? r->total / r->count : 0.0;
}

static float uni(uint64_t *rng, float lo, float hi)
{
    return lo + (test_uniform(rng) + 1) * 0.5f * (hi - lo);
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int j = 1; j < n; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}

#define MAXB 64
#define MAXN 512

/* One batch of classification data: B rows of C predictions, one-hot or
 * integer labels, weights in [0, 2). */
typedef struct batch {
    int b, c;
    float onehot[MAXN], labels[MAXB], pred[MAXN], w[MAXB];
} batch;

static void make_batch(batch *x, int b, int c, uint64_t *rng)
{
    x->b = b;
    x->c = c;
    for (int i = 0; i < b; i++) {
        int label = (int)(uni(rng, 0, (float)c - 0.001f));
        x->labels[i] = (float)label;
        for (int j = 0; j < c; j++) {
            x->onehot[i * c + j] = j == label;
            x->pred[i * c + j] = uni(rng, 0, 1);
        }
        x->w[i] = uni(rng, 0, 2);
    }
}

static int batch_size(kcl_context *ctx, int batch_index)
{
    return (test_on_simulator(ctx) ? 5 : 16) + batch_index * 3;
}

/* ----------------------------------------------------------- accuracies -- */

typedef enum acc_kind { ACC_BINARY, ACC_CATEGORICAL, ACC_SPARSE, ACC_SPARSE_COL, ACC_TOP_K } acc_kind;

/* The per-sample value of one row, as Keras' accuracy functions. */
static double acc_row(acc_kind kind, const batch *x, int i, float threshold, int k)
{
    const float *p = x->pred + i * x->c;
    switch (kind) {
    case ACC_BINARY: {
        double s = 0;
        for (int j = 0; j < x->c; j++)
            s += x->onehot[i * x->c + j] == (p[j] > threshold ? 1.0f : 0.0f);
        return s / x->c;
    }
    case ACC_CATEGORICAL:
        return argmax(x->onehot + i * x->c, x->c) == argmax(p, x->c);
    case ACC_SPARSE:
    case ACC_SPARSE_COL:
        return x->labels[i] == (float)argmax(p, x->c);
    default: {
        float target = p[(int)x->labels[i]];
        int above = 0;
        for (int j = 0; j < x->c; j++)
            above += p[j] > target;
        return above < k;
    }
    }
}

static void run_accuracy(kcl_context *ctx, kcl_metric_config cfg, acc_kind kind, int c,
                         const char *what)
{
    float threshold = cfg.threshold ? cfg.threshold : 0.5f;
    int k = cfg.k ? cfg.k : 5;
    for (int weighted = 0; weighted < 2; weighted++) {
        kcl_metric *m = make(ctx, cfg);
        mean_ref ref = {0};
        uint64_t rng = 99 + (uint64_t)kind * 7 + (uint64_t)c;
        for (int bi = 0; bi < 3; bi++) {
            batch x;
            make_batch(&x, batch_size(ctx, bi), c, &rng);
            if (kind == ACC_TOP_K && bi == 1) {
                /* ties at the top-k boundary count in the label's favour */
                for (int j = 0; j < c; j++)
                    x.pred[j] = 0.5f;
                x.pred[1] = 0.9f;
            }
            int64_t ps[2] = {x.b, c}, ts[2] = {x.b, 1};
            const float *t = kind == ACC_SPARSE || kind == ACC_SPARSE_COL ? x.labels : x.onehot;
            int trank = kind == ACC_SPARSE ? 1 : 2;
            if (kind == ACC_SPARSE_COL)
                ts[1] = 1;
            else if (kind != ACC_SPARSE)
                ts[1] = c;
            update(ctx, m, trank, ts, t, 2, ps, x.pred, weighted ? x.w : NULL);
            for (int i = 0; i < x.b; i++)
                mean_add(&ref, acc_row(kind, &x, i, threshold, k), weighted ? x.w : NULL, i);
        }
        char name[128];
        snprintf(name, sizeof name, "%s%s", what, weighted ? " (weighted)" : "");
        expect(m, mean_value(&ref), name);
        kcl_metric_free(m);
    }
}

static void test_accuracies(void **state)
{
    kcl_context *ctx = *state;
    kcl_metric_config c;
    c = (kcl_metric_config){.kind = KCL_METRIC_BINARY_ACCURACY};
    run_accuracy(ctx, c, ACC_BINARY, 1, "binary [b, 1]");
    run_accuracy(ctx, c, ACC_BINARY, 3, "binary multi-label [b, 3]");
    c.threshold = 0.7f;
    run_accuracy(ctx, c, ACC_BINARY, 1, "binary threshold 0.7");
    c = (kcl_metric_config){.kind = KCL_METRIC_CATEGORICAL_ACCURACY};
    run_accuracy(ctx, c, ACC_CATEGORICAL, 4, "categorical");
    c = (kcl_metric_config){.kind = KCL_METRIC_SPARSE_CATEGORICAL_ACCURACY};
    run_accuracy(ctx, c, ACC_SPARSE, 4, "sparse [b]");
    run_accuracy(ctx, c, ACC_SPARSE_COL, 4, "sparse [b, 1]");
    c = (kcl_metric_config){.kind = KCL_METRIC_TOP_K_CATEGORICAL_ACCURACY, .k = 2};
    run_accuracy(ctx, c, ACC_TOP_K, 6, "top 2");
    c.k = 0;   /* Keras' default k = 5 */
    run_accuracy(ctx, c, ACC_TOP_K, 7, "top 5");
    /* "accuracy" resolved from the shapes, as Keras' compile() does */
    c = (kcl_metric_config){.kind = KCL_METRIC_ACCURACY};
    run_accuracy(ctx, c, ACC_BINARY, 1, "accuracy as binary");
    run_accuracy(ctx, c, ACC_CATEGORICAL, 4, "accuracy as categorical");
    run_accuracy(ctx, c, ACC_SPARSE, 4, "accuracy as sparse");
    run_accuracy(ctx, c, ACC_SPARSE_COL, 4, "accuracy as sparse [b, 1]");
}

/* Binary labels [b] with predictions [b, 1]: Keras expands the labels. */
static void test_binary_rank_matching(void **state)
{
    kcl_context *ctx = *state;
    kcl_metric *m = make(ctx, (kcl_metric_config){.kind = KCL_METRIC_BINARY_ACCURACY});
    float t[4] = {1, 0, 1, 0}, p[4] = {0.9f, 0.7f, 0.2f, 0.1f};
    int64_t b = 4, col[2] = {4, 1};
    update(ctx, m, 1, &b, t, 2, col, p, NULL);
    expect(m, 0.5, "binary [b] against [b, 1]");
    kcl_metric_free(m);
}

/* ------------------------------------------------------------ mse, mae -- */

static void test_regression(void **state)
{
    kcl_context *ctx = *state;
    for (int kind = 0; kind < 2; kind++)
        for (int weighted = 0; weighted < 2; weighted++) {
            kcl_metric *m = make(ctx, (kcl_metric_config){
                .kind = kind ? KCL_METRIC_MEAN_ABSOLUTE_ERROR : KCL_METRIC_MEAN_SQUARED_ERROR});
            mean_ref ref = {0};
            uint64_t rng = 5;
            for (int bi = 0; bi < 3; bi++) {
                int b = batch_size(ctx, bi), c = 3;
                float t[MAXN], p[MAXN], w[MAXB];
                for (int i = 0; i < b; i++) {
                    double s = 0;
                    for (int j = 0; j < c; j++) {
                        t[i * c + j] = uni(&rng, -2, 2);
                        p[i * c + j] = uni(&rng, -2, 2);
                        double d = (double)t[i * c + j] - p[i * c + j];
                        s += kind ? fabs(d) : d * d;
                    }
                    w[i] = uni(&rng, 0, 2);
                    mean_add(&ref, s / c, weighted ? w : NULL, i);
                }
                int64_t shape[2] = {b, c};
                update(ctx, m, 2, shape, t, 2, shape, p, weighted ? w : NULL);
            }
            expect(m, mean_value(&ref), weighted ? "regression (weighted)" : "regression");
            kcl_metric_free(m);
        }
}

/* ---------------------------------------------------------------- mean -- */

static void test_mean(void **state)
{
    kcl_context *ctx = *state;
    kcl_metric *m;
    CHECK_OK(ctx, kcl_metric_create(ctx, &(kcl_metric_config){.kind = KCL_METRIC_MEAN}, &m));
    assert_string_equal(kcl_metric_name(m), "mean");
    float v1[4] = {1, 3, 5, 7}, w1[4] = {1, 1, 0, 0}, v2 = 10.0f;
    int64_t four = 4;
    update(ctx, m, 0, NULL, NULL, 1, &four, v1, NULL);
    expect(m, 4.0, "mean of [1, 3, 5, 7]");
    update(ctx, m, 0, NULL, NULL, 1, &four, v1, w1);   /* total 16 + 4, count 4 + 2 */
    expect(m, 20.0 / 6.0, "mean, then weighted");
    update(ctx, m, 0, NULL, NULL, 0, NULL, &v2, NULL); /* a scalar counts once */
    expect(m, 30.0 / 7.0, "mean, then a scalar");
    CHECK_OK(ctx, kcl_metric_reset(m));
    expect(m, 0.0, "mean after reset");
    update(ctx, m, 0, NULL, NULL, 0, NULL, &v2, NULL);
    expect(m, 10.0, "mean after reset and one scalar");
    kcl_metric_free(m);
}

/* --------------------------------------------------- precision, recall -- */

static void test_precision_recall(void **state)
{
    kcl_context *ctx = *state;
    static const float thresholds[2] = {0.0f, 0.3f};
    for (int which = 0; which < 2; which++)
        for (int ti = 0; ti < 2; ti++)
            for (int weighted = 0; weighted < 2; weighted++) {
                kcl_metric_config cfg = {
                    .kind = which ? KCL_METRIC_RECALL : KCL_METRIC_PRECISION,
                    .threshold = thresholds[ti]};
                float thr = cfg.threshold ? cfg.threshold : 0.5f;
                kcl_metric *m = make(ctx, cfg);
                double tp = 0, fp = 0, fn = 0;
                uint64_t rng = 17 + (uint64_t)ti;
                for (int bi = 0; bi < 3; bi++) {
                    int b = batch_size(ctx, bi), c = 2;
                    float t[MAXN], p[MAXN], w[MAXB];
                    for (int i = 0; i < b; i++) {
                        w[i] = uni(&rng, 0, 2);
                        for (int j = 0; j < c; j++) {
                            int e = i * c + j;
                            t[e] = test_uniform(&rng) > 0;
                            p[e] = uni(&rng, 0, 1);
                            double wi = weighted ? w[i] : 1;
                            bool pos = p[e] > thr;
                            tp += wi * (t[e] && pos);
                            fp += wi * (!t[e] && pos);
                            fn += wi * (t[e] && !pos);
                        }
                    }
                    int64_t shape[2] = {b, c};
                    update(ctx, m, 2, shape, t, 2, shape, p, weighted ? w : NULL);
                }
                double want = which ? tp / (tp + fn) : tp / (tp + fp);
                expect(m, want, which ? "recall" : "precision");
                kcl_metric_free(m);
            }
}

/* ----------------------------------------------------------------- AUC -- *
 * The reference follows the definition Keras' optimised update implements:
 * thresholds [-eps, 1/(T-1), ..., (T-2)/(T-1), 1 + eps], a prediction positive
 * above a threshold; ROC AUC by the trapezoid ('interpolation') rule. */

typedef struct auc_ref {
    int n;
    double tp[256], fp[256], tn[256], fn[256];
} auc_ref;

static double threshold_at(int i, int n)
{
    if (i == 0)
        return -1e-7;
    if (i == n - 1)
        return 1 + 1e-7;
    return (float)((double)i / (n - 1));
}

static void auc_add(auc_ref *r, float label, float pred, double w)
{
    for (int i = 0; i < r->n; i++) {
        bool pos = pred > threshold_at(i, r->n);
        if (label != 0)
            *(pos ? &r->tp[i] : &r->fn[i]) += w;
        else
            *(pos ? &r->fp[i] : &r->tn[i]) += w;
    }
}

static double ratio(double a, double b) { return b ? a / b : 0; }

static double auc_value(const auc_ref *r)
{
    double area = 0;
    for (int i = 0; i + 1 < r->n; i++) {
        double x0 = ratio(r->fp[i], r->fp[i] + r->tn[i]);
        double x1 = ratio(r->fp[i + 1], r->fp[i + 1] + r->tn[i + 1]);
        double y0 = ratio(r->tp[i], r->tp[i] + r->fn[i]);
        double y1 = ratio(r->tp[i + 1], r->tp[i + 1] + r->fn[i + 1]);
        area += (x0 - x1) * (y0 + y1) / 2;
    }
    return area;
}

/* Moves a value off a threshold it would straddle in float rounding. */
static float off_grid(float p, int n)
{
    double s = p * (n - 1);
    return fabs(s - floor(s + 0.5)) < 1e-3 ? p + 0.25f / (float)(n - 1) : p;
}

static void test_auc(void **state)
{
    kcl_context *ctx = *state;
    static const int counts[2] = {0, 10};
    for (int ci = 0; ci < 2; ci++)
        for (int weighted = 0; weighted < 2; weighted++) {
            kcl_metric *m = make(ctx, (kcl_metric_config){.kind = KCL_METRIC_AUC,
                                                          .num_thresholds = counts[ci]});
            auc_ref ref = {.n = counts[ci] ? counts[ci] : 200};
            uint64_t rng = 31;
            for (int bi = 0; bi < 3; bi++) {
                int b = batch_size(ctx, bi);
                float t[MAXB], p[MAXB], w[MAXB];
                for (int i = 0; i < b; i++) {
                    t[i] = test_uniform(&rng) > 0;
                    /* informative but imperfect predictions, some outside [0, 1] */
                    p[i] = off_grid(t[i] ? uni(&rng, 0.0f, 1.1f) : uni(&rng, -0.1f, 0.9f), ref.n);
                    w[i] = uni(&rng, 0, 2);
                    auc_add(&ref, t[i], p[i] < 0 ? 0 : p[i] > 1 ? 1 : p[i], weighted ? w[i] : 1);
                }
                /* y_true [b] against y_pred [b, 1], as a binary classifier gives */
                int64_t ts = b, ps[2] = {b, 1};
                update(ctx, m, 1, &ts, t, 2, ps, p, weighted ? w : NULL);
            }
            expect(m, auc_value(&ref), weighted ? "auc (weighted)" : "auc");
            kcl_metric_free(m);
        }
    /* Perfectly separated scores: an area of 1. */
    kcl_metric *m = make(ctx, (kcl_metric_config){.kind = KCL_METRIC_AUC});
    float t[4] = {0, 0, 1, 1}, p[4] = {0.1f, 0.3f, 0.6f, 0.95f};
    int64_t four = 4;
    update(ctx, m, 1, &four, t, 1, &four, p, NULL);
    expect(m, 1.0, "auc of separated scores");
    kcl_metric_free(m);
}

/* ------------------------------------------------------- names, errors -- */

static void test_names(void **state)
{
    kcl_context *ctx = *state;
    kcl_metric_config c;
    kcl_metric *m;
    CHECK_OK(ctx, kcl_metric_by_name(ctx, "acc", &c));
    assert_int_equal(c.kind, KCL_METRIC_ACCURACY);
    m = make(ctx, c);
    assert_string_equal(kcl_metric_name(m), "acc");   /* Keras keeps the string given */
    kcl_metric_free(m);
    CHECK_OK(ctx, kcl_metric_by_name(ctx, "mse", &c));
    assert_int_equal(c.kind, KCL_METRIC_MEAN_SQUARED_ERROR);
    CHECK_OK(ctx, kcl_metric_by_name(ctx, "AUC", &c));
    m = make(ctx, c);
    assert_string_equal(kcl_metric_name(m), "auc");
    kcl_metric_free(m);
    static const struct { kcl_metric_kind kind; const char *name; } defaults[] = {
        {KCL_METRIC_ACCURACY, "accuracy"}, {KCL_METRIC_BINARY_ACCURACY, "binary_accuracy"},
        {KCL_METRIC_CATEGORICAL_ACCURACY, "categorical_accuracy"},
        {KCL_METRIC_SPARSE_CATEGORICAL_ACCURACY, "sparse_categorical_accuracy"},
        {KCL_METRIC_TOP_K_CATEGORICAL_ACCURACY, "top_k_categorical_accuracy"},
        {KCL_METRIC_MEAN_SQUARED_ERROR, "mean_squared_error"},
        {KCL_METRIC_MEAN_ABSOLUTE_ERROR, "mean_absolute_error"},
        {KCL_METRIC_PRECISION, "precision"}, {KCL_METRIC_RECALL, "recall"},
        {KCL_METRIC_AUC, "auc"}, {KCL_METRIC_MEAN, "mean"}};
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) {
        m = make(ctx, (kcl_metric_config){.kind = defaults[i].kind});
        assert_string_equal(kcl_metric_name(m), defaults[i].name);
        kcl_metric_free(m);
        CHECK_OK(ctx, kcl_metric_by_name(ctx, defaults[i].name, &c));
        assert_int_equal(c.kind, defaults[i].kind);
    }
    char custom[16] = "my_acc";
    m = make(ctx, (kcl_metric_config){.kind = KCL_METRIC_ACCURACY, .name = custom});
    custom[0] = 'X';   /* the metric keeps its own copy */
    assert_string_equal(kcl_metric_name(m), "my_acc");
    kcl_metric_free(m);
    assert_int_equal(kcl_metric_by_name(ctx, "accuracyy", &c), KCL_ERR_NAME);
    assert_non_null(strstr(kcl_errmsg(ctx), "accuracyy"));
    assert_non_null(strstr(kcl_errmsg(ctx), "sparse_categorical_accuracy"));
}

static void test_errors(void **state)
{
    kcl_context *ctx = *state;
    kcl_metric *m = NULL;
    assert_int_equal(kcl_metric_create(ctx, &(kcl_metric_config){.kind = KCL_METRIC_PRECISION,
                                                                 .threshold = 1.5f}, &m),
                     KCL_ERR_ARGUMENT);
    assert_null(m);
    assert_int_equal(kcl_metric_create(ctx, &(kcl_metric_config){.kind = KCL_METRIC_AUC,
                                                                 .num_thresholds = 1}, &m),
                     KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_metric_create(ctx, &(kcl_metric_config){.kind = KCL_METRIC_NONE}, &m),
                     KCL_ERR_ARGUMENT);
    int64_t s43[2] = {4, 3}, s42[2] = {4, 2}, s3 = 3;
    kcl_tensor *a, *b, *w;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s43, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s42, &b));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, &s3, &w));
    m = make(ctx, (kcl_metric_config){.kind = KCL_METRIC_CATEGORICAL_ACCURACY});
    assert_int_equal(kcl_metric_update(m, a, b, NULL), KCL_ERR_SHAPE);
    const char *msg = kcl_errmsg(ctx);
    assert_non_null(strstr(msg, "categorical_accuracy"));
    assert_non_null(strstr(msg, "[4, 3]") && strstr(msg, "[4, 2]"));
    assert_int_equal(kcl_metric_update(m, a, a, w), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "sample_weight"));
    assert_int_equal(kcl_metric_update(m, NULL, a, NULL), KCL_ERR_ARGUMENT);
    kcl_metric_free(m);
    m = make(ctx, (kcl_metric_config){.kind = KCL_METRIC_AUC});
    assert_int_equal(kcl_metric_update(m, a, b, NULL), KCL_ERR_SHAPE);
    kcl_metric_free(m);
    m = make(ctx, (kcl_metric_config){.kind = KCL_METRIC_MEAN_SQUARED_ERROR});
    assert_int_equal(kcl_metric_update(m, a, b, NULL), KCL_ERR_SHAPE);
    kcl_metric_free(m);
    kcl_tensor_free(a);
    kcl_tensor_free(b);
    kcl_tensor_free(w);
}

/* Reset zeroes every total; results before any update are 0 (divide_no_nan). */
static void test_reset(void **state)
{
    kcl_context *ctx = *state;
    kcl_metric_kind kinds[3] = {KCL_METRIC_PRECISION, KCL_METRIC_AUC,
                                KCL_METRIC_SPARSE_CATEGORICAL_ACCURACY};
    float t[4] = {1, 0, 1, 1}, p[4] = {0.9f, 0.8f, 0.4f, 0.7f};
    float labels[2] = {1, 0}, probs[4] = {0.2f, 0.8f, 0.3f, 0.7f};
    int64_t four = 4, two = 2, s22[2] = {2, 2};
    double after[3] = {1.0, 1.0, 0.5};   /* precision of one tp; AUC 1; one of two right */
    for (int k = 0; k < 3; k++) {
        kcl_metric *m = make(ctx, (kcl_metric_config){.kind = kinds[k]});
        expect(m, 0.0, "before any update");
        if (k < 2)
            update(ctx, m, 1, &four, t, 1, &four, p, NULL);
        else
            update(ctx, m, 1, &two, labels, 2, s22, probs, NULL);
        CHECK_OK(ctx, kcl_metric_reset(m));
        expect(m, 0.0, "after reset");
        float t2[2] = {1, 0}, p2[2] = {0.9f, 0.1f};
        if (k < 2)
            update(ctx, m, 1, &two, t2, 1, &two, p2, NULL);
        else
            update(ctx, m, 1, &two, (float[]){0, 1}, 2, s22, probs, NULL);
        expect(m, after[k], "one batch after reset");
        kcl_metric_free(m);
    }
}

#if __has_include("data/metrics_golden.h")
#include "data/metrics_golden.h"
/* Results Keras itself computed over the same batches (tests/data/losses_golden.py). */
static void test_keras_golden(void **state)
{
    kcl_context *ctx = *state;
    for (size_t i = 0; i < sizeof golden / sizeof *golden; i++) {
        const metric_golden *g = &golden[i];
        kcl_metric_config cfg;
        CHECK_OK(ctx, kcl_metric_by_name(ctx, g->name, &cfg));
        cfg.k = g->k;
        cfg.threshold = g->threshold;
        cfg.num_thresholds = g->num_thresholds;
        kcl_metric *m = make(ctx, cfg);
        size_t nt = 1, np = 1, b = (size_t)g->pred_shape[0];
        for (int d = 0; d < g->true_rank; d++)
            nt *= (size_t)g->true_shape[d];
        for (int d = 0; d < g->pred_rank; d++)
            np *= (size_t)g->pred_shape[d];
        for (int k = 0; k < g->batches; k++)
            update(ctx, m, g->true_rank, g->true_shape, g->y_true + k * nt, g->pred_rank,
                   g->pred_shape, g->y_pred + k * np,
                   g->sample_weight ? g->sample_weight + k * b : NULL);
        char what[96];
        snprintf(what, sizeof what, "golden %zu (%s%s)", i, g->name,
                 g->sample_weight ? ", weighted" : "");
        expect(m, g->expected, what);
        kcl_metric_free(m);
    }
}
#endif

static int setup(void **state)
{
    *state = test_context();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    kcl_context_free(*state);
    return 0;
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracies),
        cmocka_unit_test(test_binary_rank_matching),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_mean),
        cmocka_unit_test(test_precision_recall),
        cmocka_unit_test(test_auc),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_reset),
#if __has_include("data/metrics_golden.h")
        cmocka_unit_test(test_keras_golden),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
