/* test_shape_ops: transpose, slice, concatenate, argmax, one_hot and gather,
 * forward against plain-C references (exact: these ops only move values) and
 * gradients against finite differences (gradcheck.h, default tolerances). */
#include "gradcheck.h"

/* Forward tolerance for copies: the device must give the very same floats. */
#define EXACT 1e-300

/* ------------------------------------------------------------- helpers -- */

static size_t count_of(int rank, const int64_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)shape[i];
    return n;
}

/* Row-major coordinates of flat index i over shape. */
static void coords_of(size_t i, int rank, const int64_t *shape, int64_t *c)
{
    for (int k = rank - 1; k >= 0; k--) {
        c[k] = (int64_t)(i % (size_t)shape[k]);
        i /= (size_t)shape[k];
    }
}

static size_t flat_of(int rank, const int64_t *shape, const int64_t *c)
{
    size_t i = 0;
    for (int k = 0; k < rank; k++)
        i = i * (size_t)shape[k] + (size_t)c[k];
    return i;
}

static void expect_shape(const kcl_tensor *t, int rank, const int64_t *shape)
{
    assert_int_equal(kcl_tensor_rank(t), rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(kcl_tensor_shape(t)[i], shape[i]);
}

/* Reads t and compares it bit for bit with want (NaN matches NaN). */
static void expect_values(kcl_context *ctx, kcl_tensor *t, const float *want, size_t n)
{
    assert_int_equal(kcl_tensor_size(t), (int64_t)n);
    float *got = malloc((n ? n : 1) * sizeof *got);
    CHECK_OK(ctx, kcl_tensor_read(t, got, n));
    for (size_t i = 0; i < n; i++)
        if (!(got[i] == want[i] || (isnan(got[i]) && isnan(want[i]))))
            fail_msg("value %zu is %.9g, reference %.9g", i, got[i], want[i]);
    free(got);
}

static void assert_msg_has(kcl_context *ctx, const char *a, const char *b)
{
    const char *msg = kcl_errmsg(ctx);
    if (!strstr(msg, a) || (b && !strstr(msg, b)))
        fail_msg("message \"%s\" lacks \"%s\"%s%s", msg, a, b ? " or " : "", b ? b : "");
}

/* ------------------------------------------------------------ transpose -- */

typedef struct transpose_case {
    int rank;
    int64_t shape[4];
    int perm[4];
    int reversed;                /* pass perm NULL */
} transpose_case;

/* The normalised permutation (negative axes from the end; NULL: reversed). */
static void resolve_perm(const transpose_case *t, int *perm)
{
    for (int i = 0; i < t->rank; i++)
        perm[i] = t->reversed ? t->rank - 1 - i : (t->perm[i] < 0 ? t->perm[i] + t->rank : t->perm[i]);
}

static kcl_status transpose_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    const transpose_case *t = user;
    return kcl_transpose(in[0], t->reversed ? NULL : t->perm, out);
}

static void transpose_host(const double *const *in, double *out, void *user)
{
    const transpose_case *t = user;
    int perm[4];
    int64_t yshape[4], c[4], xc[4];
    resolve_perm(t, perm);
    for (int i = 0; i < t->rank; i++)
        yshape[i] = t->shape[perm[i]];
    size_t n = count_of(t->rank, yshape);
    for (size_t i = 0; i < n; i++) {
        coords_of(i, t->rank, yshape, c);
        for (int k = 0; k < t->rank; k++)
            xc[perm[k]] = c[k];
        out[i] = in[0][flat_of(t->rank, t->shape, xc)];
    }
}

static void test_transpose(void **state)
{
    kcl_context *ctx = *state;
    static const transpose_case cases[] = {
        {0, {0}, {0}, 1},
        {1, {5}, {0}, 0},
        {1, {5}, {0}, 1},
        {2, {3, 4}, {1, 0}, 0},
        {2, {3, 4}, {0, 1}, 0},
        {2, {3, 4}, {-1, 0}, 0},
        {2, {1, 6}, {1, 0}, 0},
        {3, {2, 3, 4}, {1, 2, 0}, 0},
        {3, {2, 3, 4}, {2, 0, 1}, 0},
        {3, {2, 3, 4}, {0, 2, 1}, 0},
        {3, {2, 3, 4}, {0}, 1},
        {3, {2, 0, 3}, {2, 0, 1}, 0},
        {4, {2, 3, 1, 4}, {3, 1, 0, 2}, 0},
        {4, {2, 3, 1, 4}, {0, 1, 3, 2}, 0},
        {4, {2, 3, 2, 4}, {0}, 1},
        {4, {3, 2, 4, 2}, {1, -1, 0, 2}, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char name[64];
        snprintf(name, sizeof name, "transpose case %zu", k);
        gc_case c = {.name = name, .n_in = 1, .device = transpose_device, .host = transpose_host,
                     .user = (void *)&cases[k], .fwd_atol = EXACT, .fwd_rtol = EXACT};
        c.in[0].rank = cases[k].rank;
        memcpy(c.in[0].shape, cases[k].shape, sizeof cases[k].shape);
        float *v = test_random(gc_count(&c.in[0]), 200 + k);
        c.in[0].values = v;
        gradcheck(ctx, &c);
        free(v);
    }
}

/* A larger transpose, forward only: many work-items and collapsed axes. */
static void test_transpose_large(void **state)
{
    kcl_context *ctx = *state;
    transpose_case t = {3, {16, 24, 40}, {2, 0, 1}, 0};
    if (test_on_simulator(ctx))
        t.shape[2] = 5;
    size_t n = count_of(3, t.shape);
    float *v = test_random(n, 9), *want = malloc(n * sizeof *want);
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++)
        x[i] = v[i];
    transpose_host((const double *const *)&x, y, &t);
    for (size_t i = 0; i < n; i++)
        want[i] = (float)y[i];
    kcl_tensor *a, *b;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 3, t.shape, v, &a));
    CHECK_OK(ctx, kcl_transpose(a, t.perm, &b));
    int64_t yshape[3] = {t.shape[2], t.shape[0], t.shape[1]};
    expect_shape(b, 3, yshape);
    expect_values(ctx, b, want, n);
    kcl_tensor_free(a);
    kcl_tensor_free(b);
    free(v); free(want); free(x); free(y);
}

/* ---------------------------------------------------------------- slice -- */

typedef struct slice_case {
    int rank;
    int64_t shape[4], begin[4], size[4];
} slice_case;

static void slice_resolved(const slice_case *s, int64_t *size)
{
    for (int i = 0; i < s->rank; i++)
        size[i] = s->size[i] == -1 ? s->shape[i] - s->begin[i] : s->size[i];
}

static kcl_status slice_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    const slice_case *s = user;
    return kcl_slice(in[0], s->begin, s->size, out);
}

static void slice_host(const double *const *in, double *out, void *user)
{
    const slice_case *s = user;
    int64_t size[4], c[4];
    slice_resolved(s, size);
    size_t n = count_of(s->rank, size);
    for (size_t i = 0; i < n; i++) {
        coords_of(i, s->rank, size, c);
        for (int k = 0; k < s->rank; k++)
            c[k] += s->begin[k];
        out[i] = in[0][flat_of(s->rank, s->shape, c)];
    }
}

static void test_slice(void **state)
{
    kcl_context *ctx = *state;
    static const slice_case cases[] = {
        {0, {0}, {0}, {0}},
        {1, {7}, {2}, {3}},
        {1, {7}, {2}, {-1}},
        {1, {7}, {7}, {-1}},                        /* empty: begin at the end */
        {2, {4, 5}, {1, 0}, {2, -1}},
        {2, {4, 5}, {0, 2}, {-1, -1}},
        {2, {4, 5}, {0, 0}, {4, 5}},                /* everything */
        {3, {3, 4, 5}, {1, 1, 2}, {2, 2, 3}},
        {3, {3, 4, 5}, {2, 0, 4}, {1, -1, 1}},
        {3, {3, 4, 5}, {0, 2, 0}, {-1, 0, -1}},     /* a zero-size axis */
        {4, {2, 3, 4, 3}, {1, 1, 1, 0}, {1, 2, -1, 2}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char name[64];
        snprintf(name, sizeof name, "slice case %zu", k);
        gc_case c = {.name = name, .n_in = 1, .device = slice_device, .host = slice_host,
                     .user = (void *)&cases[k], .fwd_atol = EXACT, .fwd_rtol = EXACT};
        c.in[0].rank = cases[k].rank;
        memcpy(c.in[0].shape, cases[k].shape, sizeof cases[k].shape);
        float *v = test_random(gc_count(&c.in[0]), 300 + k);
        c.in[0].values = v;
        gradcheck(ctx, &c);
        free(v);
    }
}

/* ---------------------------------------------------------- concatenate -- */

typedef struct concat_case {
    int n;                       /* tensors concatenated */
    int use[5];                  /* which gradcheck input each one is */
    int n_in;                    /* distinct inputs (gradcheck allows 4) */
    int rank;
    int64_t shape[4][4];         /* per distinct input */
    int axis;
} concat_case;

static kcl_status concat_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    const concat_case *cc = user;
    kcl_tensor *xs[5];
    for (int k = 0; k < cc->n; k++)
        xs[k] = in[cc->use[k]];
    return kcl_concatenate((size_t)cc->n, xs, cc->axis, out);
}

static void concat_host(const double *const *in, double *out, void *user)
{
    const concat_case *cc = user;
    int axis = cc->axis < 0 ? cc->axis + cc->rank : cc->axis;
    int64_t yshape[4], c[4];
    memcpy(yshape, cc->shape[cc->use[0]], sizeof yshape);
    yshape[axis] = 0;
    for (int k = 0; k < cc->n; k++)
        yshape[axis] += cc->shape[cc->use[k]][axis];
    int64_t at = 0;
    for (int k = 0; k < cc->n; k++) {
        const int64_t *xshape = cc->shape[cc->use[k]];
        size_t n = count_of(cc->rank, xshape);
        for (size_t i = 0; i < n; i++) {
            coords_of(i, cc->rank, xshape, c);
            c[axis] += at;
            out[flat_of(cc->rank, yshape, c)] = in[cc->use[k]][i];
        }
        at += xshape[axis];
    }
}

static void test_concatenate(void **state)
{
    kcl_context *ctx = *state;
    static const concat_case cases[] = {
        /* one tensor: a copy */
        {1, {0}, 1, 2, {{3, 4}}, 0},
        {1, {0}, 1, 1, {{5}}, -1},
        /* two, on the first, middle and last axis */
        {2, {0, 1}, 2, 3, {{2, 3, 4}, {1, 3, 4}}, 0},
        {2, {0, 1}, 2, 3, {{2, 3, 4}, {2, 2, 4}}, 1},
        {2, {0, 1}, 2, 3, {{2, 3, 4}, {2, 3, 1}}, 2},
        {2, {0, 1}, 2, 3, {{2, 3, 4}, {2, 3, 2}}, -1},
        /* the same tensor twice: its gradient sums both windows */
        {2, {0, 0}, 1, 2, {{2, 3}}, 1},
        /* five (more than a node holds inline), on first, middle, last axis */
        {5, {0, 1, 2, 3, 0}, 4, 3, {{1, 2, 3}, {2, 2, 3}, {3, 2, 3}, {1, 2, 3}}, 0},
        {5, {0, 1, 2, 3, 0}, 4, 3, {{2, 1, 3}, {2, 3, 3}, {2, 2, 3}, {2, 1, 3}}, 1},
        {5, {0, 1, 2, 3, 0}, 4, 3, {{2, 2, 1}, {2, 2, 2}, {2, 2, 3}, {2, 2, 4}}, -1},
        /* an empty input among others */
        {3, {0, 1, 2}, 3, 2, {{2, 3}, {2, 0}, {2, 2}}, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char name[64];
        snprintf(name, sizeof name, "concatenate case %zu", k);
        gc_case c = {.name = name, .n_in = cases[k].n_in, .device = concat_device,
                     .host = concat_host, .user = (void *)&cases[k], .fwd_atol = EXACT,
                     .fwd_rtol = EXACT};
        float *v[4] = {0};
        for (int i = 0; i < cases[k].n_in; i++) {
            c.in[i].rank = cases[k].rank;
            memcpy(c.in[i].shape, cases[k].shape[i], sizeof cases[k].shape[i]);
            v[i] = test_random(gc_count(&c.in[i]), 400 + 10 * k + (size_t)i);
            c.in[i].values = v[i];
        }
        gradcheck(ctx, &c);
        for (int i = 0; i < 4; i++)
            free(v[i]);
    }
}

/* Five distinct tensors: a node with a heap input list, forward values. */
static void test_concatenate_five(void **state)
{
    kcl_context *ctx = *state;
    kcl_tensor *xs[5], *y;
    float want[2 * 15];
    int64_t width[5] = {1, 2, 3, 4, 5}, shape[2] = {2, 0};
    for (int k = 0; k < 5; k++) {
        float v[10];
        shape[1] = width[k];
        for (int i = 0; i < 2 * width[k]; i++)
            v[i] = (float)(100 * k + i);
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, v, &xs[k]));
    }
    for (int r = 0, col = 0; r < 2; r++, col = 0)
        for (int k = 0; k < 5; k++)
            for (int j = 0; j < width[k]; j++)
                want[r * 15 + col++] = (float)(100 * k + r * width[k] + j);
    CHECK_OK(ctx, kcl_concatenate(5, xs, 1, &y));
    int64_t yshape[2] = {2, 15};
    expect_shape(y, 2, yshape);
    expect_values(ctx, y, want, 30);
    kcl_tensor_free(y);
    for (int k = 0; k < 5; k++)
        kcl_tensor_free(xs[k]);
}

/* --------------------------------------------------------------- argmax -- */

typedef struct argmax_case {
    int rank;
    int64_t shape[3];
    int axis;
} argmax_case;

/* NumPy's rule: the first maximum; a NaN is the maximum, the first NaN wins. */
static void argmax_host(const float *x, const argmax_case *a, float *out)
{
    int axis = a->axis < 0 ? a->axis + a->rank : a->axis;
    size_t outer = 1, inner = 1, len = (size_t)a->shape[axis];
    for (int i = 0; i < axis; i++)
        outer *= (size_t)a->shape[i];
    for (int i = axis + 1; i < a->rank; i++)
        inner *= (size_t)a->shape[i];
    for (size_t o = 0; o < outer; o++)
        for (size_t b = 0; b < inner; b++) {
            size_t best = 0;
            for (size_t k = 0; k < len; k++) {
                float v = x[(o * len + k) * inner + b], m = x[(o * len + best) * inner + b];
                if (isnan(v)) {
                    best = isnan(m) ? best : k;
                    break;
                }
                if (v > m)
                    best = k;
            }
            out[o * inner + b] = (float)best;
        }
}

static void test_argmax(void **state)
{
    kcl_context *ctx = *state;
    static const argmax_case cases[] = {
        {1, {7}, 0}, {1, {1}, 0}, {2, {4, 6}, 0}, {2, {4, 6}, 1}, {2, {4, 6}, -1},
        {3, {3, 5, 4}, 0}, {3, {3, 5, 4}, 1}, {3, {3, 5, 4}, 2}, {3, {0, 5, 4}, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const argmax_case *a = &cases[k];
        size_t n = count_of(a->rank, a->shape);
        float *v = test_random(n, 500 + k), *want = malloc((n ? n : 1) * sizeof *want);
        /* Coarse values make ties common; a few NaNs and infinities join in. */
        for (size_t i = 0; i < n; i++) {
            v[i] = floorf(v[i] * 2.0f);
            if (i % 7 == 3)
                v[i] = INFINITY;
            if (i % 11 == 5 || i % 13 == 8)
                v[i] = NAN;
            if (i % 17 == 1)
                v[i] = -INFINITY;
        }
        argmax_host(v, a, want);
        kcl_tensor *x, *y;
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, a->rank, a->shape, v, &x));
        CHECK_OK(ctx, kcl_argmax(x, a->axis, &y));
        int axis = a->axis < 0 ? a->axis + a->rank : a->axis, r = 0;
        int64_t yshape[3];
        for (int i = 0; i < a->rank; i++)
            if (i != axis)
                yshape[r++] = a->shape[i];
        expect_shape(y, r, yshape);
        expect_values(ctx, y, want, (size_t)kcl_tensor_size(y));
        kcl_tensor_free(x);
        kcl_tensor_free(y);
        free(v);
        free(want);
    }
}

/* Hand-written rows, so the rule itself is checked, not only the reference. */
static void test_argmax_rules(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[2] = {5, 4};
    float v[20] = {1, 3, 3, 2,                      /* tie: the first */
                   NAN, 5, NAN, 1,                  /* NaN first: 0 */
                   1, 2, NAN, NAN,                  /* the first NaN: 2 */
                   -INFINITY, -INFINITY, -INFINITY, -INFINITY,   /* all equal: 0 */
                   -1, INFINITY, 7, INFINITY};
    float want[5] = {1, 0, 2, 0, 1}, got[5];
    kcl_tensor *x, *y, *g, *s;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, v, &x));
    kcl_tape *tape;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
    CHECK_OK(ctx, kcl_tape_watch(tape, x));
    CHECK_OK(ctx, kcl_argmax(x, 1, &y));
    CHECK_OK(ctx, kcl_reduce_sum(y, 0, NULL, 0, &s));
    CHECK_OK(ctx, kcl_tensor_read(y, got, 5));
    for (int i = 0; i < 5; i++)
        assert_true(got[i] == want[i]);
    /* Not differentiable: the tape gives x a zero gradient. */
    CHECK_OK(ctx, kcl_tape_gradient(tape, s, 1, &x, &g));
    float gv[20];
    CHECK_OK(ctx, kcl_tensor_read(g, gv, 20));
    for (int i = 0; i < 20; i++)
        assert_true(gv[i] == 0.0f);
    kcl_tape_free(tape);
    kcl_tensor_free(x); kcl_tensor_free(y); kcl_tensor_free(g); kcl_tensor_free(s);
}

/* -------------------------------------------------------------- one_hot -- */

static void test_one_hot(void **state)
{
    kcl_context *ctx = *state;
    /* Out of range (depth, far beyond, negative, NaN) give rows of zeros. */
    float idx[8] = {0, 2, 3, -1, 1, 100, NAN, 2};
    int64_t ishape[2] = {2, 4};
    const int depth = 3;
    float want[24];
    for (int i = 0; i < 8; i++)
        for (int c = 0; c < depth; c++)
            want[i * depth + c] = (idx[i] >= 0 && idx[i] < depth && (int)idx[i] == c) ? 1.0f : 0.0f;
    kcl_tensor *x, *y;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, ishape, idx, &x));
    CHECK_OK(ctx, kcl_one_hot(x, depth, &y));
    int64_t yshape[3] = {2, 4, 3};
    expect_shape(y, 3, yshape);
    expect_values(ctx, y, want, 24);
    kcl_tensor_free(y);
    /* A scalar index gives one row of depth values. */
    kcl_tensor *s, *z;
    float one = 4;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 0, NULL, &one, &s));
    CHECK_OK(ctx, kcl_one_hot(s, 6, &z));
    int64_t zshape[1] = {6};
    expect_shape(z, 1, zshape);
    float zwant[6] = {0, 0, 0, 0, 1, 0};
    expect_values(ctx, z, zwant, 6);
    assert_int_equal(kcl_one_hot(x, 0, &y), KCL_ERR_ARGUMENT);
    assert_msg_has(ctx, "one_hot", "depth");
    assert_int_equal(kcl_one_hot(x, -2, &y), KCL_ERR_ARGUMENT);
    kcl_tensor_free(x); kcl_tensor_free(s); kcl_tensor_free(z);
}

/* --------------------------------------------------------------- gather -- */

typedef struct gather_case {
    int prank, irank;
    int64_t pshape[3], ishape[2];
    float idx[6];
} gather_case;

static kcl_tensor *gather_indices;   /* the current case's indices on the device */

static kcl_status gather_device(kcl_tensor *const *in, kcl_tensor **out, void *user)
{
    (void)user;
    return kcl_gather(in[0], gather_indices, out);
}

/* Rows of params; an index out of range gives a NaN row. */
static void gather_host(const double *const *in, double *out, void *user)
{
    const gather_case *g = user;
    size_t rows = (size_t)g->pshape[0], len = count_of(g->prank - 1, g->pshape + 1);
    size_t n = count_of(g->irank, g->ishape);
    for (size_t j = 0; j < n; j++) {
        int r = (int)g->idx[j];
        for (size_t c = 0; c < len; c++)
            out[j * len + c] = r >= 0 && (size_t)r < rows ? in[0][(size_t)r * len + c] : NAN;
    }
}

static void test_gather(void **state)
{
    kcl_context *ctx = *state;
    static const gather_case cases[] = {
        {2, 1, {5, 3}, {4}, {1, 3, 1, 1}},           /* repeated: gradients accumulate */
        {1, 1, {6}, {3}, {5, 0, 5}},
        {3, 2, {4, 2, 3}, {2, 3}, {3, 0, 0, 2, 3, 3}},
        {2, 0, {3, 4}, {0}, {2}},                    /* a scalar index */
        {2, 1, {3, 4}, {0}, {0}},                    /* no indices */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const gather_case *g = &cases[k];
        char name[64];
        snprintf(name, sizeof name, "gather case %zu", k);
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, g->irank, g->ishape, g->idx, &gather_indices));
        gc_case c = {.name = name, .n_in = 1, .device = gather_device, .host = gather_host,
                     .user = (void *)g, .fwd_atol = EXACT, .fwd_rtol = EXACT};
        c.in[0].rank = g->prank;
        memcpy(c.in[0].shape, g->pshape, sizeof g->pshape);
        float *v = test_random(gc_count(&c.in[0]), 600 + k);
        c.in[0].values = v;
        gradcheck(ctx, &c);
        free(v);
        kcl_tensor_free(gather_indices);
    }
}

/* Out-of-range indices (negative, too large, NaN) give NaN rows; the
 * gradient of params drops them and sums the repeated in-range rows. */
static void test_gather_out_of_range(void **state)
{
    kcl_context *ctx = *state;
    int64_t pshape[2] = {3, 2}, ishape[1] = {6};
    float p[6] = {1, 2, 3, 4, 5, 6}, idx[6] = {2, -1, 3, 2, NAN, 0};
    float want[12] = {5, 6, NAN, NAN, NAN, NAN, 5, 6, NAN, NAN, 1, 2};
    float w[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    /* d sum(w * gather) / d params: row 0 <- w row 5, row 2 <- w rows 0 and 3. */
    float gwant[6] = {11, 12, 0, 0, 1 + 7, 2 + 8};
    kcl_tensor *pt, *it, *wt, *y, *yw, *loss, *g;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, pshape, p, &pt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, ishape, idx, &it));
    int64_t yshape[2] = {6, 2};
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, yshape, w, &wt));
    kcl_tape *tape;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
    CHECK_OK(ctx, kcl_tape_watch(tape, pt));
    CHECK_OK(ctx, kcl_gather(pt, it, &y));
    CHECK_OK(ctx, kcl_multiply(y, wt, &yw));
    CHECK_OK(ctx, kcl_reduce_sum(yw, 0, NULL, 0, &loss));
    expect_shape(y, 2, yshape);
    expect_values(ctx, y, want, 12);
    CHECK_OK(ctx, kcl_tape_gradient(tape, loss, 1, &pt, &g));
    expect_values(ctx, g, gwant, 6);
    kcl_tape_free(tape);
    kcl_tensor_free(pt); kcl_tensor_free(it); kcl_tensor_free(wt); kcl_tensor_free(y);
    kcl_tensor_free(yw); kcl_tensor_free(loss); kcl_tensor_free(g);
}

/* Gradients of gradients: the scatter-add (gather's gradient) and the pad
 * (slice's gradient) are recorded ops too. With an outer tape watching w,
 * d/dw sum(v * d/dp sum(w * gather(p))) = gather(v) with zeros (not NaN) for
 * out-of-range indices; likewise for slice it is slice(v). */
static void test_second_order(void **state)
{
    kcl_context *ctx = *state;
    int64_t pshape[2] = {3, 2}, ishape[1] = {4}, yshape[2] = {4, 2};
    float p[6] = {1, 2, 3, 4, 5, 6}, idx[4] = {1, 7, 1, 0};
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8}, v[6] = {10, 20, 30, 40, 50, 60};
    float want[8] = {30, 40, 0, 0, 30, 40, 10, 20};
    kcl_tensor *pt, *it, *wt, *vt, *y, *yw, *loss, *gp, *gv, *loss2, *gw;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, pshape, p, &pt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, ishape, idx, &it));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, yshape, w, &wt));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, pshape, v, &vt));
    kcl_tape *outer, *inner;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &outer));
    CHECK_OK(ctx, kcl_tape_watch(outer, wt));
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &inner));
    CHECK_OK(ctx, kcl_tape_watch(inner, pt));
    CHECK_OK(ctx, kcl_gather(pt, it, &y));
    CHECK_OK(ctx, kcl_multiply(y, wt, &yw));
    CHECK_OK(ctx, kcl_reduce_sum(yw, 0, NULL, 0, &loss));
    CHECK_OK(ctx, kcl_tape_gradient(inner, loss, 1, &pt, &gp));
    CHECK_OK(ctx, kcl_multiply(gp, vt, &gv));
    CHECK_OK(ctx, kcl_reduce_sum(gv, 0, NULL, 0, &loss2));
    CHECK_OK(ctx, kcl_tape_gradient(outer, loss2, 1, &wt, &gw));
    expect_values(ctx, gw, want, 8);
    kcl_tape_free(inner);
    kcl_tape_free(outer);
    kcl_tensor *tofree[] = {y, yw, loss, gp, gv, loss2, gw};
    for (size_t i = 0; i < sizeof tofree / sizeof *tofree; i++)
        kcl_tensor_free(tofree[i]);

    /* slice: d/dw sum(v * d/dp sum(w * slice(p))) = slice(v). */
    int64_t begin[2] = {1, 0}, size[2] = {2, -1}, sshape[2] = {2, 2};
    float swant[4] = {30, 40, 50, 60};
    kcl_tensor *ws, *s, *sw;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, sshape, w, &ws));
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &outer));
    CHECK_OK(ctx, kcl_tape_watch(outer, ws));
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &inner));
    CHECK_OK(ctx, kcl_tape_watch(inner, pt));
    CHECK_OK(ctx, kcl_slice(pt, begin, size, &s));
    CHECK_OK(ctx, kcl_multiply(s, ws, &sw));
    CHECK_OK(ctx, kcl_reduce_sum(sw, 0, NULL, 0, &loss));
    CHECK_OK(ctx, kcl_tape_gradient(inner, loss, 1, &pt, &gp));
    CHECK_OK(ctx, kcl_multiply(gp, vt, &gv));
    CHECK_OK(ctx, kcl_reduce_sum(gv, 0, NULL, 0, &loss2));
    CHECK_OK(ctx, kcl_tape_gradient(outer, loss2, 1, &ws, &gw));
    expect_values(ctx, gw, swant, 4);
    kcl_tape_free(inner);
    kcl_tape_free(outer);
    kcl_tensor *more[] = {ws, s, sw, loss, gp, gv, loss2, gw, pt, it, wt, vt};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++)
        kcl_tensor_free(more[i]);
}

/* --------------------------------------------------------------- errors -- */

static void test_errors(void **state)
{
    kcl_context *ctx = *state;
    int64_t s34[2] = {3, 4}, s35[2] = {3, 5}, s24[2] = {2, 4}, s4[1] = {4};
    kcl_tensor *a, *b, *c, *d, *out = NULL;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s34, &a));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s35, &b));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s24, &c));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, s4, &d));

    /* transpose: repeated and out-of-range axes */
    assert_int_equal(kcl_transpose(a, (int[]){0, 0}, &out), KCL_ERR_ARGUMENT);
    assert_msg_has(ctx, "transpose", "(0, 0)");
    assert_int_equal(kcl_transpose(a, (int[]){0, 2}, &out), KCL_ERR_ARGUMENT);
    assert_msg_has(ctx, "[3, 4]", NULL);
    assert_int_equal(kcl_transpose(a, (int[]){-3, 0}, &out), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_transpose(a, (int[]){-1, 1}, &out), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_transpose(NULL, NULL, &out), KCL_ERR_ARGUMENT);

    /* concatenate: mismatched shapes name both; rank; axis; empty list */
    assert_int_equal(kcl_concatenate(2, (kcl_tensor *[]){a, b}, 0, &out), KCL_ERR_SHAPE);
    assert_msg_has(ctx, "[3, 4]", "[3, 5]");
    assert_msg_has(ctx, "concatenate", NULL);
    CHECK_OK(ctx, kcl_concatenate(2, (kcl_tensor *[]){a, b}, 1, &out));   /* fine on axis 1 */
    kcl_tensor_free(out);
    out = NULL;
    assert_int_equal(kcl_concatenate(3, (kcl_tensor *[]){a, c, b}, 1, &out), KCL_ERR_SHAPE);
    assert_msg_has(ctx, "[2, 4]", "[3, 4]");
    assert_int_equal(kcl_concatenate(2, (kcl_tensor *[]){a, d}, 0, &out), KCL_ERR_SHAPE);
    assert_msg_has(ctx, "[4]", "[3, 4]");
    assert_int_equal(kcl_concatenate(2, (kcl_tensor *[]){a, c}, 2, &out), KCL_ERR_SHAPE);
    assert_msg_has(ctx, "axis 2", NULL);
    assert_int_equal(kcl_concatenate(2, (kcl_tensor *[]){a, c}, -3, &out), KCL_ERR_SHAPE);
    assert_int_equal(kcl_concatenate(0, (kcl_tensor *[]){a}, 0, &out), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_concatenate(2, (kcl_tensor *[]){a, NULL}, 0, &out), KCL_ERR_ARGUMENT);

    /* slice: begin and size out of bounds, a negative size other than -1 */
    assert_int_equal(kcl_slice(a, (int64_t[]){0, 5}, (int64_t[]){1, -1}, &out), KCL_ERR_SHAPE);
    assert_msg_has(ctx, "slice", "[3, 4]");
    assert_int_equal(kcl_slice(a, (int64_t[]){-1, 0}, (int64_t[]){1, 1}, &out), KCL_ERR_SHAPE);
    assert_int_equal(kcl_slice(a, (int64_t[]){1, 2}, (int64_t[]){1, 3}, &out), KCL_ERR_SHAPE);
    assert_msg_has(ctx, "axis 1", NULL);
    assert_int_equal(kcl_slice(a, (int64_t[]){1, 0}, (int64_t[]){3, 1}, &out), KCL_ERR_SHAPE);
    assert_int_equal(kcl_slice(a, (int64_t[]){0, 0}, (int64_t[]){-2, 1}, &out), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_slice(a, NULL, NULL, &out), KCL_ERR_ARGUMENT);

    /* argmax: axis out of range, empty axis */
    assert_int_equal(kcl_argmax(a, 2, &out), KCL_ERR_SHAPE);
    assert_msg_has(ctx, "argmax", "axis 2");
    assert_int_equal(kcl_argmax(a, -3, &out), KCL_ERR_SHAPE);
    kcl_tensor *e;
    int64_t s30[2] = {3, 0};
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s30, &e));
    assert_int_equal(kcl_argmax(e, 1, &out), KCL_ERR_SHAPE);
    assert_msg_has(ctx, "empty", NULL);

    /* gather: scalar params */
    kcl_tensor *scalar;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 0, NULL, &scalar));
    assert_int_equal(kcl_gather(scalar, d, &out), KCL_ERR_SHAPE);
    assert_msg_has(ctx, "gather", NULL);
    assert_int_equal(kcl_gather(a, NULL, &out), KCL_ERR_ARGUMENT);
    assert_null(out);

    kcl_tensor_free(a); kcl_tensor_free(b); kcl_tensor_free(c); kcl_tensor_free(d);
    kcl_tensor_free(e); kcl_tensor_free(scalar);
}

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
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_transpose_large),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_concatenate),
        cmocka_unit_test(test_concatenate_five),
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_argmax_rules),
        cmocka_unit_test(test_one_hot),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_gather_out_of_range),
        cmocka_unit_test(test_second_order),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
