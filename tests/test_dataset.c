/* test_dataset: tf.data-style pipelines. Every chain of batch, repeat, take
 * and skip is checked element by element against a plain-C model of the
 * pipeline (lists of source rows); shuffle against its defining properties
 * (a permutation drawn from a buffer of buffer_size elements, reproducible
 * for a seed, different across passes and seeds, uniform). The values of
 * every element are read back from the device and decoded into source rows. */
#include "common.h"

#define N_ROWS 10
#define MAX_ELEMS 4096
#define MAX_BATCH 64

/* x[r] is a [2, 3] slice holding r * 100 + j; y[r] = -r - 0.5. */
static kcl_array x_array, y_array;

static void make_arrays(int64_t n)
{
    x_array = (kcl_array){.data = malloc((size_t)n * 6 * sizeof(float)), .rank = 3,
                          .shape = {n, 2, 3}};
    y_array = (kcl_array){.data = malloc((size_t)n * sizeof(float)), .rank = 1, .shape = {n}};
    assert_non_null(x_array.data);
    assert_non_null(y_array.data);
    for (int64_t r = 0; r < n; r++) {
        for (int j = 0; j < 6; j++)
            x_array.data[r * 6 + j] = (float)(r * 100 + j);
        y_array.data[r] = (float)(-r - 0.5);
    }
}

static void free_arrays(void)
{
    free(x_array.data);
    free(y_array.data);
    x_array.data = y_array.data = NULL;
}

static kcl_dataset *new_dataset(kcl_context *ctx, int64_t n)
{
    make_arrays(n);
    kcl_array arrays[2] = {x_array, y_array};
    kcl_dataset *ds;
    CHECK_OK(ctx, kcl_dataset_from_tensor_slices(ctx, 2, arrays, &ds));
    free_arrays();                 /* the dataset holds copies */
    assert_int_equal(kcl_dataset_arrays(ds), 2);
    return ds;
}

/* ----------------------------------------------------------------- model -- */

typedef struct melem {
    int n;
    int64_t rows[MAX_BATCH];
} melem;

typedef struct model {
    int64_t count;
    melem *e;
} model;

static model m_source(int64_t n)
{
    model m = {n, calloc(MAX_ELEMS, sizeof(melem))};
    assert_non_null(m.e);
    for (int64_t i = 0; i < n; i++)
        m.e[i] = (melem){1, {i}};
    return m;
}

static void m_batch(model *m, int64_t size, int drop)
{
    model out = {0, calloc(MAX_ELEMS, sizeof(melem))};
    assert_non_null(out.e);
    for (int64_t i = 0; i < m->count; i += size) {
        int64_t k = m->count - i < size ? m->count - i : size;
        if (k < size && drop)
            break;
        melem *b = &out.e[out.count++];
        for (int64_t j = 0; j < k; j++)
            b->rows[b->n++] = m->e[i + j].rows[0];
    }
    free(m->e);
    *m = out;
}

static void m_repeat(model *m, int64_t count)
{
    int64_t n = m->count;
    assert_true(n * count <= MAX_ELEMS);
    for (int64_t c = 1; c < count; c++)
        memcpy(m->e + c * n, m->e, (size_t)n * sizeof *m->e);
    m->count = n * count;
}

static void m_take(model *m, int64_t count)
{
    if (count >= 0 && count < m->count)
        m->count = count;
}

static void m_skip(model *m, int64_t count)
{
    if (count < 0 || count >= m->count) {
        m->count = 0;
        return;
    }
    memmove(m->e, m->e + count, (size_t)(m->count - count) * sizeof *m->e);
    m->count -= count;
}

/* ------------------------------------------------------------- pipelines -- */

typedef struct op {
    char kind;                   /* 'b' batch, 'B' batch dropping, 'r' repeat, 't' take, 's' skip */
    int64_t n;
} op;

/* repeat(-1) in the model: enough passes for any take() that follows. */
#define MODEL_FOREVER 40

static void apply(kcl_context *ctx, kcl_dataset *ds, model *m, const op *o)
{
    switch (o->kind) {
    case 'b':
    case 'B':
        CHECK_OK(ctx, kcl_dataset_batch(ds, (size_t)o->n, o->kind == 'B'));
        m_batch(m, o->n, o->kind == 'B');
        break;
    case 'r':
        CHECK_OK(ctx, kcl_dataset_repeat(ds, o->n));
        m_repeat(m, o->n < 0 ? MODEL_FOREVER : o->n);
        break;
    case 't':
        CHECK_OK(ctx, kcl_dataset_take(ds, o->n));
        m_take(m, o->n);
        break;
    default:
        CHECK_OK(ctx, kcl_dataset_skip(ds, o->n));
        m_skip(m, o->n);
    }
}

/* Reads the next element back and decodes its source rows, checking every
 * value and the shapes. Returns 0 at the end of the pass. */
static int read_element(kcl_context *ctx, kcl_dataset *ds, int batched, melem *out)
{
    kcl_tensor *t[2];
    int done;
    CHECK_OK(ctx, kcl_dataset_next(ds, t, &done));
    if (done) {
        assert_null(t[0]);
        assert_null(t[1]);
        return 0;
    }
    int64_t k = batched ? kcl_tensor_shape(t[1])[0] : 1;
    assert_true(k >= 1 && k <= MAX_BATCH);
    assert_int_equal(kcl_tensor_rank(t[0]), batched ? 3 : 2);
    assert_int_equal(kcl_tensor_rank(t[1]), batched ? 1 : 0);
    assert_int_equal(kcl_tensor_size(t[0]), 6 * k);
    float x[6 * MAX_BATCH], y[MAX_BATCH];
    CHECK_OK(ctx, kcl_tensor_read(t[0], x, (size_t)(6 * k)));
    CHECK_OK(ctx, kcl_tensor_read(t[1], y, (size_t)k));
    out->n = (int)k;
    for (int64_t i = 0; i < k; i++) {
        int64_t r = (int64_t)(-y[i] - 0.5);
        assert_true(y[i] == (float)(-r - 0.5));
        for (int j = 0; j < 6; j++)
            if (x[i * 6 + j] != (float)(r * 100 + j))
                fail_msg("row %lld value %d: x %g does not match y %g", (long long)i, j,
                         x[i * 6 + j], y[i]);
        out->rows[i] = r;
    }
    kcl_tensor_free(t[0]);
    kcl_tensor_free(t[1]);
    return 1;
}

static void describe_ops(char *buf, size_t size, const op *ops, int n_ops)
{
    buf[0] = 0;
    for (int i = 0; i < n_ops; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%c%lld ", ops[i].kind, (long long)ops[i].n);
    }
}

/* Compares one pass (or the first `limit` elements of an infinite one). */
static void check_pass(kcl_context *ctx, kcl_dataset *ds, const model *m, int batched,
                       int64_t limit, const char *name)
{
    melem e;
    for (int64_t i = 0; i < limit; i++) {
        if (!read_element(ctx, ds, batched, &e))
            fail_msg("%s: ended after %lld elements, want %lld", name, (long long)i,
                     (long long)limit);
        const melem *w = &m->e[i];
        if (e.n != w->n || memcmp(e.rows, w->rows, (size_t)e.n * sizeof *e.rows) != 0)
            fail_msg("%s: element %lld has %d rows from %lld, want %d from %lld", name,
                     (long long)i, e.n, (long long)e.rows[0], w->n, (long long)w->rows[0]);
    }
}

static void run_pipeline(kcl_context *ctx, const op *ops, int n_ops, int64_t want_card)
{
    char name[128];
    describe_ops(name, sizeof name, ops, n_ops);
    kcl_dataset *ds = new_dataset(ctx, N_ROWS);
    model m = m_source(N_ROWS);
    int batched = 0;
    for (int i = 0; i < n_ops; i++) {
        apply(ctx, ds, &m, &ops[i]);
        batched |= ops[i].kind == 'b' || ops[i].kind == 'B';
    }
    int64_t card = kcl_dataset_cardinality(ds);
    if (card != want_card)
        fail_msg("%s: cardinality %lld, want %lld", name, (long long)card, (long long)want_card);
    /* Two passes: rewind gives the same sequence again. */
    for (int pass = 0; pass < 2; pass++) {
        if (want_card >= 0) {
            assert_int_equal(m.count, want_card);
            check_pass(ctx, ds, &m, batched, m.count, name);
            melem e;
            assert_int_equal(read_element(ctx, ds, batched, &e), 0);
            assert_int_equal(read_element(ctx, ds, batched, &e), 0);   /* stays done */
        } else {
            check_pass(ctx, ds, &m, batched, 3 * N_ROWS + 5, name);
        }
        CHECK_OK(ctx, kcl_dataset_rewind(ds));
    }
    free(m.e);
    kcl_dataset_free(ds);
}

static void test_transforms(void **state)
{
    kcl_context *ctx = *state;
    static const struct {
        op ops[4];
        int n_ops;
        int64_t card;
    } cases[] = {
        {{{0}}, 0, 10},
        {{{'b', 4}}, 1, 3},                               /* 4, 4, 2 */
        {{{'B', 4}}, 1, 2},                               /* 4, 4 */
        {{{'b', 5}}, 1, 2},
        {{{'b', 20}}, 1, 1},
        {{{'B', 20}}, 1, 0},
        {{{'t', 3}}, 1, 3},
        {{{'t', 0}}, 1, 0},
        {{{'t', 30}}, 1, 10},
        {{{'t', -1}}, 1, 10},
        {{{'s', 3}}, 1, 7},
        {{{'s', 0}}, 1, 10},
        {{{'s', 20}}, 1, 0},
        {{{'s', -1}}, 1, 0},
        {{{'r', 2}}, 1, 20},
        {{{'r', 0}}, 1, 0},
        {{{'r', 2}, {'b', 4}}, 2, 5},                     /* batches straddle passes */
        {{{'r', 3}, {'B', 7}}, 2, 4},
        {{{'b', 4}, {'r', 2}}, 2, 6},                     /* 4, 4, 2, 4, 4, 2 */
        {{{'s', 2}, {'t', 5}, {'b', 2}}, 3, 3},
        {{{'b', 3}, {'s', 1}, {'t', 2}}, 3, 2},
        {{{'r', 3}, {'t', 7}, {'s', 2}}, 3, 5},
        {{{'t', 4}, {'r', 3}, {'s', 5}, {'b', 3}}, 4, 3},
        {{{'r', -1}, {'t', 25}, {'b', 4}}, 3, 7},
        {{{'r', -1}, {'s', 3}, {'t', 12}}, 3, 12},
        {{{'r', -1}}, 1, -1},
        {{{'r', -1}, {'b', 4}}, 2, -1},
        {{{'b', 4}, {'r', -1}, {'t', -1}}, 3, -1},
        {{{'r', -1}, {'s', 5}}, 2, -1},
        {{{'t', 0}, {'r', -1}}, 2, 0},                    /* forever of nothing: empty */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        run_pipeline(ctx, cases[k].ops, cases[k].n_ops, cases[k].card);
}

/* ---------------------------------------------------------------- shuffle -- */

/* One pass of an unbatched dataset as source rows; returns the count. */
static int64_t read_pass(kcl_context *ctx, kcl_dataset *ds, int batched, int64_t *rows,
                         int64_t cap)
{
    int64_t n = 0;
    melem e;
    CHECK_OK(ctx, kcl_dataset_rewind(ds));
    while (read_element(ctx, ds, batched, &e)) {
        assert_true(n + e.n <= cap);
        memcpy(rows + n, e.rows, (size_t)e.n * sizeof *rows);
        n += e.n;
    }
    return n;
}

static void expect_permutation(const int64_t *rows, int64_t n, int copies)
{
    int counts[256] = {0};
    assert_true(n / copies <= 256);
    for (int64_t i = 0; i < n; i++) {
        assert_true(rows[i] >= 0 && rows[i] < n / copies);
        counts[rows[i]]++;
    }
    for (int64_t r = 0; r < n / copies; r++)
        if (counts[r] != copies)
            fail_msg("row %lld appears %d times, want %d", (long long)r, counts[r], copies);
}

static kcl_dataset *shuffled(kcl_context *ctx, int64_t n, size_t buffer, uint64_t seed)
{
    kcl_dataset *ds = new_dataset(ctx, n);
    CHECK_OK(ctx, kcl_dataset_shuffle(ds, buffer, seed));
    assert_int_equal(kcl_dataset_cardinality(ds), n);
    return ds;
}

static int same(const int64_t *a, const int64_t *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

static void test_shuffle_passes_and_seeds(void **state)
{
    kcl_context *ctx = *state;
    enum { N = 20 };
    int64_t p[3][N], q[3][N], r[N];
    kcl_dataset *a = shuffled(ctx, N, N, 7), *b = shuffled(ctx, N, 100, 7);
    kcl_dataset *c = shuffled(ctx, N, N, 8);
    for (int pass = 0; pass < 3; pass++) {
        assert_int_equal(read_pass(ctx, a, 0, p[pass], N), N);
        assert_int_equal(read_pass(ctx, b, 0, q[pass], N), N);
        expect_permutation(p[pass], N, 1);
        /* Same seed, a buffer as large or larger than the data: the same order. */
        assert_true(same(p[pass], q[pass], N));
    }
    assert_false(same(p[0], p[1], N));             /* reshuffled each pass */
    assert_false(same(p[1], p[2], N));
    assert_int_equal(read_pass(ctx, c, 0, r, N), N);
    assert_false(same(p[0], r, N));                /* another seed */
    int64_t sorted[N];
    for (int i = 0; i < N; i++)
        sorted[i] = i;
    assert_false(same(p[0], sorted, N));
    /* A fresh dataset with the seed repeats the passes exactly. */
    kcl_dataset *d = shuffled(ctx, N, N, 7);
    for (int pass = 0; pass < 3; pass++) {
        assert_int_equal(read_pass(ctx, d, 0, r, N), N);
        assert_true(same(p[pass], r, N));
    }
    /* A transformation added later starts the passes over. */
    CHECK_OK(ctx, kcl_dataset_take(d, -1));
    assert_int_equal(read_pass(ctx, d, 0, r, N), N);
    assert_true(same(p[0], r, N));
    kcl_dataset_free(a);
    kcl_dataset_free(b);
    kcl_dataset_free(c);
    kcl_dataset_free(d);
}

/* tf.data's buffer: output i is drawn from the first i + buffer_size inputs,
 * and buffer_size 1 keeps the order. */
static void test_shuffle_buffer(void **state)
{
    kcl_context *ctx = *state;
    enum { N = 100 };
    int64_t rows[N];
    const size_t buffers[] = {1, 2, 5, 30};
    for (size_t k = 0; k < sizeof buffers / sizeof *buffers; k++) {
        kcl_dataset *ds = shuffled(ctx, N, buffers[k], 3);
        assert_int_equal(read_pass(ctx, ds, 0, rows, N), N);
        expect_permutation(rows, N, 1);
        int64_t displaced = 0, reach = 0;
        for (int64_t i = 0; i < N; i++) {
            if (rows[i] >= i + (int64_t)buffers[k])
                fail_msg("buffer %zu: output %lld is row %lld, not yet read", buffers[k],
                         (long long)i, (long long)rows[i]);
            displaced += rows[i] != i;
            reach = rows[i] - i > reach ? rows[i] - i : reach;
        }
        if (buffers[k] == 1)
            assert_int_equal(displaced, 0);
        else
            assert_true(displaced > N / 4 && reach >= (int64_t)buffers[k] / 2);
        kcl_dataset_free(ds);
    }
}

/* With a full buffer every permutation of 4 elements is equally likely. */
static void test_shuffle_uniform(void **state)
{
    kcl_context *ctx = *state;
    const int passes = 960;
    int first[4] = {0}, perms[256] = {0};
    kcl_dataset *ds = shuffled(ctx, 4, 4, 11);
    for (int pass = 0; pass < passes; pass++) {
        int64_t r[4];
        assert_int_equal(read_pass(ctx, ds, 0, r, 4), 4);
        first[r[0]]++;
        perms[r[0] * 64 + r[1] * 16 + r[2] * 4 + r[3]]++;
    }
    double chi2 = 0, expect = passes / 4.0;
    for (int i = 0; i < 4; i++)
        chi2 += (first[i] - expect) * (first[i] - expect) / expect;
    assert_true(chi2 < 16.27);                    /* p = 0.001 with 3 degrees of freedom */
    int seen = 0;
    for (int i = 0; i < 256; i++)
        seen += perms[i] > 0;
    assert_int_equal(seen, 24);
    kcl_dataset_free(ds);
}

static void test_shuffle_with_batch_and_repeat(void **state)
{
    kcl_context *ctx = *state;
    int64_t rows[64];
    /* shuffle, then batch: shuffles elements, batches of 4, 4, 2. */
    kcl_dataset *ds = shuffled(ctx, N_ROWS, N_ROWS, 5);
    CHECK_OK(ctx, kcl_dataset_batch(ds, 4, 0));
    assert_int_equal(kcl_dataset_cardinality(ds), 3);
    assert_int_equal(read_pass(ctx, ds, 1, rows, 64), N_ROWS);
    expect_permutation(rows, N_ROWS, 1);
    kcl_dataset_free(ds);

    /* batch, then shuffle: whole batches move, each intact. */
    ds = new_dataset(ctx, N_ROWS);
    CHECK_OK(ctx, kcl_dataset_batch(ds, 4, 0));
    CHECK_OK(ctx, kcl_dataset_shuffle(ds, 3, 9));
    int seen[3] = {0}, in_order = 1;
    for (int pass = 0; pass < 4; pass++) {
        CHECK_OK(ctx, kcl_dataset_rewind(ds));
        melem e;
        for (int i = 0; read_element(ctx, ds, 1, &e); i++) {
            int b = (int)(e.rows[0] / 4);
            assert_int_equal(e.n, b == 2 ? 2 : 4);
            for (int j = 0; j < e.n; j++)
                assert_int_equal(e.rows[j], b * 4 + j);
            seen[b]++;
            in_order &= b == i;
        }
    }
    for (int b = 0; b < 3; b++)
        assert_int_equal(seen[b], 4);
    assert_false(in_order);
    kcl_dataset_free(ds);

    /* shuffle, then repeat: each repetition is a permutation, reshuffled. */
    ds = shuffled(ctx, N_ROWS, N_ROWS, 13);
    CHECK_OK(ctx, kcl_dataset_repeat(ds, 3));
    assert_int_equal(read_pass(ctx, ds, 0, rows, 64), 3 * N_ROWS);
    for (int r = 0; r < 3; r++)
        expect_permutation(rows + r * N_ROWS, N_ROWS, 1);
    assert_false(same(rows, rows + N_ROWS, N_ROWS));
    assert_false(same(rows + N_ROWS, rows + 2 * N_ROWS, N_ROWS));
    kcl_dataset_free(ds);

    /* repeat, then shuffle: passes mix, every row twice. */
    ds = new_dataset(ctx, N_ROWS);
    CHECK_OK(ctx, kcl_dataset_repeat(ds, 2));
    CHECK_OK(ctx, kcl_dataset_shuffle(ds, 2 * N_ROWS, 1));
    assert_int_equal(read_pass(ctx, ds, 0, rows, 64), 2 * N_ROWS);
    expect_permutation(rows, 2 * N_ROWS, 2);
    kcl_dataset_free(ds);

    /* An infinite shuffled stream: each run of N_ROWS is a permutation. */
    ds = shuffled(ctx, N_ROWS, N_ROWS, 21);
    CHECK_OK(ctx, kcl_dataset_repeat(ds, -1));
    CHECK_OK(ctx, kcl_dataset_batch(ds, N_ROWS, 1));
    assert_int_equal(kcl_dataset_cardinality(ds), -1);
    for (int b = 0; b < 5; b++) {
        melem e;
        assert_int_equal(read_element(ctx, ds, 1, &e), 1);
        expect_permutation(e.rows, N_ROWS, 1);
    }
    kcl_dataset_free(ds);
}

/* ------------------------------------------------------- prefetch, errors -- */

/* Elements held unread while later ones upload keep their values; the source
 * arrays are copied. */
static void test_prefetch_and_ownership(void **state)
{
    kcl_context *ctx = *state;
    make_arrays(12);
    kcl_array arrays[2] = {x_array, y_array};
    kcl_dataset *ds;
    CHECK_OK(ctx, kcl_dataset_from_tensor_slices(ctx, 2, arrays, &ds));
    for (int i = 0; i < 12 * 6; i++)
        x_array.data[i] = -1;      /* the dataset must not see this */
    CHECK_OK(ctx, kcl_dataset_batch(ds, 2, 0));
    kcl_tensor *held[6][2];
    int done;
    for (int i = 0; i < 6; i++) {
        CHECK_OK(ctx, kcl_dataset_next(ds, held[i], &done));
        assert_false(done);
    }
    kcl_tensor *end[2];
    CHECK_OK(ctx, kcl_dataset_next(ds, end, &done));
    assert_true(done);
    for (int i = 5; i >= 0; i--) {
        float x[12], y[2];
        CHECK_OK(ctx, kcl_tensor_read(held[i][0], x, 12));
        CHECK_OK(ctx, kcl_tensor_read(held[i][1], y, 2));
        for (int j = 0; j < 12; j++)
            assert_true(x[j] == (float)((2 * i + j / 6) * 100 + j % 6));
        assert_true(y[0] == (float)(-2 * i - 0.5) && y[1] == (float)(-2 * i - 1.5));
        kcl_tensor_free(held[i][0]);
        kcl_tensor_free(held[i][1]);
    }
    free_arrays();
    /* Freed mid-pass with an upload in flight, and the caller keeping a tensor. */
    CHECK_OK(ctx, kcl_dataset_rewind(ds));
    CHECK_OK(ctx, kcl_dataset_next(ds, held[0], &done));
    kcl_dataset_free(ds);
    float y[2];
    CHECK_OK(ctx, kcl_tensor_read(held[0][1], y, 2));
    assert_true(y[0] == -0.5f && y[1] == -1.5f);
    kcl_tensor_free(held[0][0]);
    kcl_tensor_free(held[0][1]);
}

/* Elements of size 0 (a [n, 0] array) and an empty dataset. */
static void test_empty(void **state)
{
    kcl_context *ctx = *state;
    float y[3] = {1, 2, 3};
    kcl_array arrays[2] = {{.data = NULL, .rank = 2, .shape = {3, 0}},
                           {.data = y, .rank = 1, .shape = {3}}};
    kcl_dataset *ds;
    CHECK_OK(ctx, kcl_dataset_from_tensor_slices(ctx, 2, arrays, &ds));
    CHECK_OK(ctx, kcl_dataset_batch(ds, 2, 0));
    kcl_tensor *t[2];
    int done;
    for (int i = 0; i < 2; i++) {
        CHECK_OK(ctx, kcl_dataset_next(ds, t, &done));
        assert_false(done);
        assert_int_equal(kcl_tensor_size(t[0]), 0);
        assert_int_equal(kcl_tensor_shape(t[0])[0], i ? 1 : 2);
        float v[2];
        CHECK_OK(ctx, kcl_tensor_read(t[1], v, i ? 1 : 2));
        assert_true(v[0] == y[2 * i]);
        kcl_tensor_free(t[0]);
        kcl_tensor_free(t[1]);
    }
    CHECK_OK(ctx, kcl_dataset_next(ds, t, &done));
    assert_true(done);
    kcl_dataset_free(ds);

    kcl_array none = {.data = NULL, .rank = 2, .shape = {0, 4}};
    CHECK_OK(ctx, kcl_dataset_from_tensor_slices(ctx, 1, &none, &ds));
    CHECK_OK(ctx, kcl_dataset_shuffle(ds, 10, 1));
    CHECK_OK(ctx, kcl_dataset_repeat(ds, -1));
    CHECK_OK(ctx, kcl_dataset_batch(ds, 3, 0));
    assert_int_equal(kcl_dataset_cardinality(ds), 0);
    CHECK_OK(ctx, kcl_dataset_next(ds, t, &done));
    assert_true(done);
    kcl_dataset_free(ds);
}

static void expect_status(kcl_context *ctx, kcl_status got, kcl_status want, const char *what)
{
    if (got != want || !strstr(kcl_errmsg(ctx), what))
        fail_msg("got %s '%s', want %s mentioning '%s'", kcl_status_name(got), kcl_errmsg(ctx),
                 kcl_status_name(want), what);
}

static void test_errors(void **state)
{
    kcl_context *ctx = *state;
    float x[12] = {0}, y[4] = {0};
    kcl_array good[2] = {{.data = x, .rank = 2, .shape = {4, 3}},
                         {.data = y, .rank = 1, .shape = {4}}};
    kcl_array bad[2] = {{.data = x, .rank = 2, .shape = {4, 3}},
                        {.data = y, .rank = 1, .shape = {3}}};
    kcl_dataset *ds = NULL;
    expect_status(ctx, kcl_dataset_from_tensor_slices(ctx, 2, bad, &ds), KCL_ERR_SHAPE,
                  "array 0 [4, 3] and array 1 [3] differ in their first dimension");
    assert_null(ds);
    kcl_array scalar = {.data = x, .rank = 0};
    expect_status(ctx, kcl_dataset_from_tensor_slices(ctx, 1, &scalar, &ds), KCL_ERR_SHAPE,
                  "rank 0");
    kcl_array negative = {.data = x, .rank = 2, .shape = {4, -3}};
    expect_status(ctx, kcl_dataset_from_tensor_slices(ctx, 1, &negative, &ds), KCL_ERR_SHAPE,
                  "invalid shape [4, -3]");
    kcl_array no_data = {.data = NULL, .rank = 1, .shape = {4}};
    expect_status(ctx, kcl_dataset_from_tensor_slices(ctx, 1, &no_data, &ds),
                  KCL_ERR_ARGUMENT, "NULL data");
    expect_status(ctx, kcl_dataset_from_tensor_slices(ctx, 0, good, &ds), KCL_ERR_ARGUMENT,
                  "no arrays");

    CHECK_OK(ctx, kcl_dataset_from_tensor_slices(ctx, 2, good, &ds));
    expect_status(ctx, kcl_dataset_batch(ds, 0, 0), KCL_ERR_ARGUMENT, "batch_size 0");
    expect_status(ctx, kcl_dataset_shuffle(ds, 0, 1), KCL_ERR_ARGUMENT, "buffer_size");
    expect_status(ctx, kcl_dataset_repeat(ds, -2), KCL_ERR_ARGUMENT, "count -2");
    expect_status(ctx, kcl_dataset_take(ds, -2), KCL_ERR_ARGUMENT, "count -2");
    expect_status(ctx, kcl_dataset_skip(ds, -2), KCL_ERR_ARGUMENT, "count -2");
    CHECK_OK(ctx, kcl_dataset_repeat(ds, -1));
    expect_status(ctx, kcl_dataset_skip(ds, -1), KCL_ERR_ARGUMENT, "never end");
    CHECK_OK(ctx, kcl_dataset_batch(ds, 2, 0));
    expect_status(ctx, kcl_dataset_batch(ds, 2, 0), KCL_ERR_STATE, "already batched");
    /* The failed calls left the pipeline as it was. */
    assert_int_equal(kcl_dataset_cardinality(ds), -1);
    kcl_tensor *t[2];
    int done;
    assert_int_equal(kcl_dataset_next(ds, NULL, &done), KCL_ERR_ARGUMENT);
    CHECK_OK(ctx, kcl_dataset_next(ds, t, &done));
    assert_int_equal(kcl_tensor_shape(t[0])[0], 2);
    kcl_tensor_free(t[0]);
    kcl_tensor_free(t[1]);
    kcl_dataset_free(ds);
    kcl_dataset_free(NULL);
    kcl_array_free(NULL);
    assert_int_equal(kcl_dataset_batch(NULL, 1, 0), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_dataset_rewind(NULL), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_array_size(&good[0]), 12);
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
        cmocka_unit_test(test_transforms),
        cmocka_unit_test(test_shuffle_passes_and_seeds),
        cmocka_unit_test(test_shuffle_buffer),
        cmocka_unit_test(test_shuffle_uniform),
        cmocka_unit_test(test_shuffle_with_batch_and_repeat),
        cmocka_unit_test(test_prefetch_and_ownership),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
