/* kcl-tune: finds CLBlast GEMM parameters for one device and stores them where
 * every later kcl context on that device picks them up, with the engine that
 * multiplies the same products faster there: CLBlast so tuned, or kcl's own
 * kernel (kcl_gemm_engine; the "Engine" line of the file).
 *
 *     KCL_DEVICE=pocl kcl-tune [--time SECONDS] [--seed N] [--no-store]
 *
 * The search is bounded by --time (default 300 s). It times kcl_gemm on the
 * products of small MLPs (784-256-128-10 and 784-512-256-10 at batch 128,
 * forward A*B and backward A^T*B, A*B^T), 512^3 and 1024^3, scoring a
 * candidate by its seconds per GFLOP summed over them, in three stages:
 *   1. the indirect kernel (Xgemm) alone: random candidates, then mutations of
 *      the best;
 *   2. the direct kernel (XgemmDirect) alone, the same way, on the small
 *      products only (m*n*k up to 128^3: the only ones it can win);
 *   3. the finalists re-measured, then the direct/indirect switch
 *      (GemmRoutine XGEMM_MIN_INDIRECT_SIZE: products with m*n*k below its cube
 *      run the direct kernel) placed where the score is least.
 * Every candidate's result on every product is checked against a double
 * reference before it may be chosen: some configurations compile and run but
 * compute garbage on some drivers. The result is written to the device's file
 * in kcl's cache directory (lib/tuning.h). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kcl.h>

#include "../lib/tuning.h"

/* ------------------------------------------------------------- products -- */

typedef struct product {
    int m, n, k;
    kcl_trans ta, tb;
    kcl_tensor *a, *b, *c;
    float *c0;                   /* C before the call (beta is not 0) */
    double *ref, *bound;         /* expected C and its allowed error */
    float *got;
} product;

static const float alpha = 1.5f, beta = 0.5f;

/* m, n, k, A transposed, B transposed */
static const int product_list[][5] = {
    {128, 256, 784, 0, 0}, {784, 256, 128, 1, 0}, {128, 784, 256, 0, 1},
    {128, 128, 256, 0, 0}, {256, 128, 128, 1, 0}, {128, 256, 128, 0, 1},
    {128, 10, 128, 0, 0},  {128, 10, 128, 1, 0},  {128, 128, 10, 0, 1},
    {128, 512, 784, 0, 0}, {784, 512, 128, 1, 0}, {128, 784, 512, 0, 1},
    {128, 256, 512, 0, 0}, {512, 256, 128, 1, 0}, {128, 512, 256, 0, 1},
    {128, 10, 256, 0, 0},  {256, 10, 128, 1, 0},  {128, 256, 10, 0, 1},
    {512, 512, 512, 0, 0},  {1024, 1024, 1024, 0, 0}, {1024, 1024, 1024, 1, 0},
};
enum { n_products = sizeof product_list / sizeof *product_list };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static float *random_floats(size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = (float)((double)(rng() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    return v;
}

/* ref = alpha * op(A) op(B) + beta * C0 in double, and a bound on a float
 * result's error: 2k ulps of the sum of magnitudes (a loose worst case; wrong
 * configurations are off by far more). */
static void reference(product *p, const float *a, const float *b)
{
    size_t lda = p->ta ? (size_t)p->m : (size_t)p->k, ldb = p->tb ? (size_t)p->k : (size_t)p->n;
    for (int i = 0; i < p->m; i++)
        for (int j = 0; j < p->n; j++) {
            double s = 0, mag = 0;
            for (int l = 0; l < p->k; l++) {
                double x = p->ta ? a[(size_t)l * lda + i] : a[(size_t)i * lda + l];
                double y = p->tb ? b[(size_t)j * ldb + l] : b[(size_t)l * ldb + j];
                s += x * y;
                mag += fabs(x * y);
            }
            size_t at = (size_t)i * p->n + j;
            p->ref[at] = alpha * s + beta * (double)p->c0[at];
            p->bound[at] = 2.0 * (p->k + 2) * FLT_EPSILON * (fabs(alpha) * mag +
                                                             fabs(beta * p->c0[at])) + 1e-30;
        }
}

static int product_init(kcl_context *ctx, product *p, const int *spec)
{
    *p = (product){.m = spec[0], .n = spec[1], .k = spec[2], .ta = spec[3], .tb = spec[4]};
    size_t mk = (size_t)p->m * p->k, kn = (size_t)p->k * p->n, mn = (size_t)p->m * p->n;
    float *a = random_floats(mk), *b = random_floats(kn);
    p->c0 = random_floats(mn);
    p->ref = malloc(mn * sizeof *p->ref);
    p->bound = malloc(mn * sizeof *p->bound);
    p->got = malloc(mn * sizeof *p->got);
    int ok = a && b && p->c0 && p->ref && p->bound && p->got;
    if (ok) {
        reference(p, a, b);
        int64_t sa[2] = {p->ta ? p->k : p->m, p->ta ? p->m : p->k};
        int64_t sb[2] = {p->tb ? p->n : p->k, p->tb ? p->k : p->n};
        int64_t sc[2] = {p->m, p->n};
        ok = kcl_tensor_from_host(ctx, 2, sa, a, &p->a) == KCL_OK &&
             kcl_tensor_from_host(ctx, 2, sb, b, &p->b) == KCL_OK &&
             kcl_tensor_from_host(ctx, 2, sc, p->c0, &p->c) == KCL_OK;
    }
    free(a);
    free(b);
    return ok ? 0 : -1;
}

static void product_free(product *p)
{
    kcl_tensor_free(p->a);
    kcl_tensor_free(p->b);
    kcl_tensor_free(p->c);
    free(p->c0);
    free(p->ref);
    free(p->bound);
    free(p->got);
}

static kcl_status run(kcl_context *ctx, product *p)
{
    return kcl_gemm(ctx, p->ta, p->tb, alpha, p->a, p->b, beta, p->c);
}

/* One call from C0, compared with the reference: 0 when right. The first
 * call after an override also compiles the candidate's kernels. */
static int check(kcl_context *ctx, product *p)
{
    size_t mn = (size_t)p->m * p->n;
    if (kcl_tensor_write(p->c, p->c0, mn) || run(ctx, p) || kcl_tensor_read(p->c, p->got, mn))
        return -1;
    for (size_t i = 0; i < mn; i++)
        if (!(fabs(p->got[i] - p->ref[i]) <= p->bound[i]))
            return -1;
    return 0;
}

/* Seconds per call, from calls enqueued back to back (as a training step does). */
static double timed(kcl_context *ctx, product *p, int reps)
{
    if (run(ctx, p) || kcl_context_finish(ctx))
        return INFINITY;
    double t0 = now();
    for (int r = 0; r < reps; r++)
        if (run(ctx, p))
            return INFINITY;
    if (kcl_context_finish(ctx))
        return INFINITY;
    return (now() - t0) / reps;
}

static double flops(const product *p)
{
    return 2.0 * p->m * p->n * p->k;
}

static double mnk(const product *p)
{
    return (double)p->m * p->n * p->k;
}

/* A product's share of a candidate's score: seconds per GFLOP, so that each
 * product counts by its speed, not its size (the score is then a harmonic
 * mean of GFLOP/s, and 1024^3 does not drown the MLP's small products). */
static double weighted(const product *p, double seconds)
{
    return seconds * 1e9 / flops(p);
}

/* Checks every product up to max_mnk (m*n*k), then times each; the total of
 * the per-call times, or INFINITY when a result is wrong, a call fails, or the
 * total passes `give_up` (a candidate far behind the best is not worth
 * finishing). Larger products get INFINITY in per[]. */
static double evaluate(kcl_context *ctx, product *ps, double *per, double work, double give_up,
                       double max_mnk)
{
    for (int i = 0; i < n_products; i++)
        if (mnk(&ps[i]) <= max_mnk && check(ctx, &ps[i]) != 0)
            return INFINITY;
    double total = 0;
    for (int i = 0; i < n_products && total < give_up; i++) {
        per[i] = INFINITY;
        if (mnk(&ps[i]) > max_mnk)
            continue;
        /* about `work` seconds per product at 100 GFLOP/s, 2..20 calls */
        int reps = (int)fmin(20, fmax(2, work * 100e9 / flops(&ps[i])));
        per[i] = timed(ctx, &ps[i], reps);
        total += weighted(&ps[i], per[i]);
    }
    return total < give_up ? total : INFINITY;
}

/* ----------------------------------------------------- parameter spaces -- */

typedef struct space {
    const char *kernel;
    int count;
    const char *names[16];
    int choices[16][8];          /* values, ascending */
    int (*valid)(const int *v, size_t max_wg, size_t local_bytes);
} space;

static int divides(int a, int b)
{
    return a > 0 && b % a == 0;
}

/* CLBlast's constraints on Xgemm (src/tuning/kernels/xgemm.hpp), in the
 * order of names below: integral work per thread and per loading thread. */
static int xgemm_valid(const int *v, size_t max_wg, size_t local_bytes)
{
    int kwg = v[2], kwi = v[3], mdima = v[4], mdimc = v[5], mwg = v[6], ndimb = v[7];
    int ndimc = v[8], nwg = v[9], sa = v[10], sb = v[11], vwm = v[14], vwn = v[15];
    return divides(mdimc * vwm, mwg) && divides(ndimc * vwn, nwg) &&
           divides(mdima * vwm, mwg) && divides(ndimb * vwn, nwg) &&
           (mdimc * ndimc) % mdima == 0 && (mdimc * ndimc) % ndimb == 0 &&
           divides(mdimc * ndimc / mdima, kwg) && divides(mdimc * ndimc / ndimb, kwg) &&
           divides(kwi, kwg) && (size_t)(mdimc * ndimc) <= max_wg &&
           (size_t)(sa * kwg * mwg + sb * kwg * nwg) * 4 <= local_bytes;
}

/* GEMMK=1 is left out: it gives wrong results inside CLBlast on PoCL. */
static const space xgemm_space = {
    "Xgemm", 16,
    {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA",
     "SB", "STRM", "STRN", "VWM", "VWN"},
    {{0}, {1}, {8, 16, 32}, {1, 2, 4, 8}, {4, 8, 16, 32}, {4, 8, 16, 32}, {16, 32, 64, 128},
     {4, 8, 16, 32}, {4, 8, 16, 32}, {16, 32, 64, 128}, {0, 1}, {0, 1}, {0, 1}, {0, 1},
     {1, 2, 4, 8}, {1, 2, 4, 8}},
    xgemm_valid,
};

static int direct_valid(const int *v, size_t max_wg, size_t local_bytes)
{
    int kwid = v[0], mdimad = v[1], mdimcd = v[2], ndimbd = v[3], ndimcd = v[4];
    int pada = v[5], padb = v[6], vwmd = v[7], vwnd = v[8], wgd = v[9];
    return divides(mdimcd * vwmd, wgd) && divides(ndimcd * vwnd, wgd) &&
           divides(mdimad * vwmd, wgd) && divides(ndimbd * vwnd, wgd) &&
           (mdimcd * ndimcd) % mdimad == 0 && (mdimcd * ndimcd) % ndimbd == 0 &&
           divides(mdimcd * ndimcd / mdimad, wgd) && divides(mdimcd * ndimcd / ndimbd, wgd) &&
           divides(kwid, wgd) && (size_t)(mdimcd * ndimcd) <= max_wg &&
           (size_t)(wgd * (wgd + pada) + wgd * (wgd + padb)) * 4 <= local_bytes;
}

static const space direct_space = {
    "XgemmDirect", 10,
    {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
    {{1, 2, 8, 16}, {4, 8, 16, 32}, {4, 8, 16, 32}, {4, 8, 16, 32}, {4, 8, 16, 32}, {0, 1},
     {0, 1}, {1, 2, 4, 8}, {1, 2, 4, 8}, {8, 16, 32, 64}},
    direct_valid,
};

/* Tried first: CLBlast's generic values (for XgemmDirect, its database's
 * fallback entry), then shapes that suit CPUs (no local
 * memory, wide vectors, few work-items each doing much). */
enum { n_seeds = 4 };
static const int xgemm_seeds[n_seeds][16] = {
    {0, 1, 32, 2, 16, 16, 64, 16, 16, 64, 1, 1, 1, 1, 2, 2},
    {0, 1, 32, 2, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4},
    {0, 1, 16, 2, 8, 8, 64, 8, 8, 64, 0, 0, 0, 0, 8, 8},
    {0, 1, 32, 2, 16, 8, 128, 16, 8, 64, 0, 0, 0, 0, 8, 8},
};
static const int direct_seeds[n_seeds][16] = {
    {2, 8, 8, 8, 8, 1, 1, 1, 2, 16},
    {2, 8, 8, 8, 8, 0, 0, 4, 4, 32},
    {8, 8, 8, 8, 8, 0, 0, 2, 2, 16},
    {2, 16, 16, 16, 16, 1, 1, 2, 2, 32},
};

/* Each list is ascending; the zero fill after it ends it. */
static int n_choices(const space *s, int i)
{
    int n = 1;
    while (n < 8 && s->choices[i][n] > s->choices[i][n - 1])
        n++;
    return n;
}

static void random_candidate(const space *s, int *v)
{
    for (int i = 0; i < s->count; i++)
        v[i] = s->choices[i][rng() % (uint64_t)n_choices(s, i)];
}

/* The candidate with one parameter moved to another of its values. */
static void mutate(const space *s, const int *from, int *v)
{
    memcpy(v, from, sizeof(int) * (size_t)s->count);
    int i = (int)(rng() % (uint64_t)s->count), n = n_choices(s, i);
    if (n > 1)
        v[i] = s->choices[i][rng() % (uint64_t)n];
}

static kcl_tuning_set to_set(const char *kernel, int count, const char *const *names,
                             const int *v)
{
    kcl_tuning_set set = {.count = (size_t)count};
    snprintf(set.kernel, sizeof set.kernel, "%s", kernel);
    for (int i = 0; i < count; i++) {
        snprintf(set.names[i], sizeof set.names[i], "%s", names[i]);
        set.values[i] = (size_t)v[i];
    }
    return set;
}

static kcl_tuning_set routine_set(int min_indirect)
{
    const char *names[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    return to_set("GemmRoutine", 1, names, &min_indirect);
}

/* ---------------------------------------------------------------- search -- */

enum { max_tried = 4096, n_best = 4 };
static const double small_product = 1 << 21;    /* m*n*k of 128^3 */

typedef struct candidate {
    int v[16];
    double total;
    double per[n_products];
} candidate;

typedef struct search {
    kcl_context *ctx;
    cl_device_id device;
    product *ps;
    const space *s;
    int min_indirect;            /* forces this stage's kernel for every product */
    double max_mnk;              /* the products this stage times */
    candidate best[n_best];      /* sorted, fastest first */
    int tried[max_tried][16];
    int n_tried, n_wrong, n_failed;
    size_t max_wg, local_bytes;
} search;

static int seen(search *S, const int *v)
{
    for (int i = 0; i < S->n_tried; i++)
        if (memcmp(S->tried[i], v, sizeof(int) * (size_t)S->s->count) == 0)
            return 1;
    if (S->n_tried < max_tried)
        memcpy(S->tried[S->n_tried++], v, sizeof(int) * (size_t)S->s->count);
    return 0;
}

/* Applies the candidate (and the stage's routine switch) to the device. */
static int apply(search *S, const int *v)
{
    kcl_tuning t = {0};
    kcl_tuning_set set = to_set(S->s->kernel, S->s->count, S->s->names, v);
    kcl_tuning_set routine = routine_set(S->min_indirect);
    kcl__tuning_put(&t, &set);
    kcl__tuning_put(&t, &routine);
    return kcl__tuning_override(S->device, &t) == 2 ? 0 : -1;
}

static void keep(search *S, const candidate *c)
{
    int at = n_best;
    while (at > 0 && c->total < S->best[at - 1].total)
        at--;
    if (at == n_best)
        return;
    memmove(&S->best[at + 1], &S->best[at], sizeof *c * (size_t)(n_best - 1 - at));
    S->best[at] = *c;
}

static void print_candidate(const space *s, const candidate *c, const char *what)
{
    printf("  %-9s score %7.4f ", what, c->total);
    for (int i = 0; i < s->count; i++)
        printf(" %s=%d", s->names[i], c->v[i]);
    printf("\n");
    fflush(stdout);
}

static void try_candidate(search *S, const int *v)
{
    if (!S->s->valid(v, S->max_wg, S->local_bytes) || seen(S, v))
        return;
    candidate c = {.total = INFINITY};
    memcpy(c.v, v, sizeof c.v);
    if (apply(S, v) != 0) {
        S->n_failed++;
        return;
    }
    double give_up = isfinite(S->best[0].total) ? 2.5 * S->best[0].total : INFINITY;
    c.total = evaluate(S->ctx, S->ps, c.per, 0.002, give_up, S->max_mnk);
    if (!isfinite(c.total)) {
        /* slow, wrong or refused: tell which for the record */
        int wrong = 0;
        for (int i = 0; i < n_products && !wrong; i++)
            wrong = check(S->ctx, &S->ps[i]) != 0;
        S->n_wrong += wrong;
        return;
    }
    if (c.total < S->best[0].total)
        print_candidate(S->s, &c, "better");
    keep(S, &c);
}

static void run_stage(search *S, const int (*seeds)[16], double seconds)
{
    for (int i = 0; i < n_best; i++)
        S->best[i].total = INFINITY;
    double end = now() + seconds;
    for (int i = 0; i < n_seeds; i++)
        try_candidate(S, seeds[i]);
    int v[16];
    /* half the time exploring at random, half refining the best few */
    double explore_end = now() + seconds / 2;
    while (now() < explore_end) {
        random_candidate(S->s, v);
        try_candidate(S, v);
    }
    while (now() < end) {
        int from = (int)(rng() % n_best);
        if (!isfinite(S->best[from].total))
            from = 0;
        mutate(S->s, S->best[from].v, v);
        try_candidate(S, v);
    }
}

/* Re-measures the finalists with more calls; the best goes first. */
static void remeasure(search *S)
{
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < n_best; i++) {
            candidate *c = &S->best[i];
            if (!isfinite(c->total) || apply(S, c->v) != 0)
                continue;
            double per[n_products];
            double t = evaluate(S->ctx, S->ps, per, 0.01, INFINITY, S->max_mnk);
            /* the faster of the two rounds, per product: noise only slows */
            c->total = 0;
            for (int p = 0; p < n_products; p++) {
                if (round == 0 || per[p] < c->per[p])
                    c->per[p] = per[p];
                if (isfinite(c->per[p]))
                    c->total += weighted(&S->ps[p], c->per[p]);
            }
            if (!isfinite(t))
                c->total = INFINITY;
        }
    for (int i = 1; i < n_best; i++)
        if (S->best[i].total < S->best[0].total) {
            candidate t = S->best[0];
            S->best[0] = S->best[i];
            S->best[i] = t;
        }
}

/* ---------------------------------------------------- the routine switch -- */

/* The XGEMM_MIN_INDIRECT_SIZE giving the least total: products with m*n*k
 * below its cube run direct. Each cut between the sorted products is tried
 * where an integer cube root separates them. */
static int best_switch(const product *ps, const double *direct, const double *indirect,
                       double *total_out)
{
    int best = 1;
    double best_total = INFINITY;
    for (int s = 1; s <= 2048; s++) {
        double cube = (double)s * s * s, total = 0;
        for (int i = 0; i < n_products; i++)
            total += weighted(&ps[i], mnk(&ps[i]) < cube ? direct[i] : indirect[i]);
        if (total < best_total * 0.999) {
            best_total = total;
            best = s;
        }
    }
    *total_out = best_total;
    return best;
}

/* ------------------------------------------------------------------ main -- */

/* GFLOP/s of p at `seconds` a call; "-" where it was not timed (the direct
 * kernel is tuned on the small products only) or failed. */
static void print_rate(const product *p, double seconds)
{
    if (isfinite(seconds))
        printf(" %10.1f", flops(p) * 1e-9 / seconds);
    else
        printf(" %10s", "-");
}

static void print_table(const product *ps, const double *base, const double *direct,
                        const double *indirect, int s)
{
    printf("\n%-22s %10s %10s %10s %10s\n", "product m x n x k", "default", "direct",
           "indirect", "chosen");
    for (int i = 0; i < n_products; i++) {
        const product *p = &ps[i];
        char label[64];
        snprintf(label, sizeof label, "%dx%dx%d %s%s", p->m, p->n, p->k, p->ta ? "T" : "N",
                 p->tb ? "T" : "N");
        double chosen = mnk(p) < (double)s * s * s ? direct[i] : indirect[i];
        printf("%-22s", label);
        print_rate(p, base[i]);
        print_rate(p, direct[i]);
        print_rate(p, indirect[i]);
        print_rate(p, chosen);
        printf("   GFLOP/s\n");
    }
}

static int parse_args(int argc, char **argv, double *seconds, int *store)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--time") == 0 && i + 1 < argc)
            *seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng_state += strtoull(argv[++i], NULL, 10) * 0x9E3779B97F4A7C15ULL;
        else if (strcmp(argv[i], "--no-store") == 0)
            *store = 0;
        else {
            fprintf(stderr, "usage: %s [--time SECONDS] [--seed N] [--no-store]\n"
                            "  the device is $KCL_DEVICE's (see kcl_context_options)\n",
                    argv[0]);
            return -1;
        }
    }
    return *seconds > 0 ? 0 : -1;
}

/* The score of kcl's own kernel on the same products, on a context of its
 * own (INFINITY when it fails or is wrong). */
static double kcl_engine_score(void)
{
    kcl_context_options opt = {.gemm = KCL_GEMM_KCL};
    kcl_context *ctx;
    if (kcl_context_create(&ctx, &opt) != KCL_OK)
        return INFINITY;
    static product ps[n_products];
    double per[n_products], score = INFINITY;
    int ok = 1;
    for (int i = 0; i < n_products; i++)
        ok = product_init(ctx, &ps[i], product_list[i]) == 0 && ok;
    if (ok)
        score = evaluate(ctx, ps, per, 0.01, INFINITY, INFINITY);
    for (int i = 0; i < n_products; i++)
        product_free(&ps[i]);
    kcl_context_free(ctx);
    return score;
}

static int tune(kcl_context *ctx, product *ps, double seconds, int store)
{
    static search S;             /* large (the list of tried candidates) */
    S = (search){.ctx = ctx, .device = kcl__tuning_device(ctx), .ps = ps};
    clGetDeviceInfo(S.device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof S.max_wg, &S.max_wg, NULL);
    cl_ulong local = 0;
    clGetDeviceInfo(S.device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL);
    S.local_bytes = (size_t)local;

    /* CLBlast's own parameters first: overrides cannot be undone in-process. */
    double base[n_products];
    double t0 = now();
    if (!isfinite(evaluate(ctx, ps, base, 0.01, INFINITY, INFINITY))) {
        fprintf(stderr, "kcl-tune: CLBlast's default parameters fail the check here\n");
        for (int i = 0; i < n_products; i++)
            base[i] = INFINITY;
    }
    /* 15% of the time is kept for re-measuring finalists and compiles that
     * overrun a stage */
    double left = 0.85 * seconds - (now() - t0);
    printf("indirect kernel (Xgemm), %.0f s:\n", left * 0.6);
    S.s = &xgemm_space;
    S.min_indirect = 1;
    S.max_mnk = INFINITY;
    run_stage(&S, xgemm_seeds, left * 0.6);
    printf("  %d tried, %d wrong, %d refused\n", S.n_tried, S.n_wrong, S.n_failed);
    remeasure(&S);
    candidate indirect = S.best[0];

    left = 0.85 * seconds - (now() - t0);
    printf("direct kernel (XgemmDirect), %.0f s:\n", left);
    S.s = &direct_space;
    S.min_indirect = 1 << 20;    /* cube beyond any product: direct always */
    /* Direct only ever wins on small products, where the indirect kernel's
     * extra copy and pad kernels cost more than the arithmetic: tune it there. */
    S.max_mnk = small_product;
    S.n_tried = S.n_wrong = S.n_failed = 0;
    run_stage(&S, direct_seeds, left);
    printf("  %d tried, %d wrong, %d refused\n", S.n_tried, S.n_wrong, S.n_failed);
    remeasure(&S);
    candidate direct = S.best[0];
    if (!isfinite(indirect.total) || !isfinite(direct.total)) {
        fprintf(stderr, "kcl-tune: no candidate passed the check\n");
        return 1;
    }
    print_candidate(&xgemm_space, &indirect, "indirect");
    print_candidate(&direct_space, &direct, "direct");

    double total;
    int s = best_switch(ps, direct.per, indirect.per, &total);
    kcl_tuning t = {0};
    kcl_tuning_set sets[3] = {
        to_set("Xgemm", xgemm_space.count, xgemm_space.names, indirect.v),
        to_set("XgemmDirect", direct_space.count, direct_space.names, direct.v),
        routine_set(s)};
    for (int i = 0; i < 3; i++)
        kcl__tuning_put(&t, &sets[i]);

    /* the combination as contexts will use it, checked once more */
    if (kcl__tuning_override(S.device, &t) != 3) {
        fprintf(stderr, "kcl-tune: CLBlast refuses the chosen parameters\n");
        return 1;
    }
    for (int i = 0; i < n_products; i++)
        if (check(ctx, &ps[i]) != 0) {
            fprintf(stderr, "kcl-tune: the chosen combination fails the check\n");
            return 1;
        }
    print_table(ps, base, direct.per, indirect.per, s);
    double base_total = 0;
    for (int i = 0; i < n_products; i++)
        base_total += weighted(&ps[i], base[i]);
    double own = kcl_engine_score();
    kcl_tuning_set engine = {.kernel = "Engine", .count = 1, .names = {"KCL"},
                             .values = {own < total}};
    kcl__tuning_put(&t, &engine);
    char text[4096];
    kcl__tuning_format(&t, text, sizeof text);
    printf("\nscore (seconds per GFLOP, summed over the products): %.4f with CLBlast's "
           "defaults, %.4f tuned, %.4f with kcl's own kernel: contexts on this device "
           "will multiply with %s; search took %.0f s\n\n%s",
           base_total, total, own, own < total ? "kcl's kernel" : "CLBlast", now() - t0, text);
    if (!store)
        return 0;
    if (kcl__tuning_store(ctx, &t) != KCL_OK) {
        fprintf(stderr, "kcl-tune: %s\n", kcl_errmsg(ctx));
        return 1;
    }
    printf("stored for '%s'\n", kcl_context_device(ctx)->name);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 300;
    int store = 1;
    if (parse_args(argc, argv, &seconds, &store) != 0)
        return 2;
    /* The context must not apply stored parameters: the baseline is CLBlast's. */
    setenv("KCL_NO_TUNING", "1", 1);
    /* Timed through CLBlast, whichever engine contexts on this device
     * multiply with by default (kcl's own kernel on CPUs). */
    kcl_context_options opt = {.gemm = KCL_GEMM_CLBLAST};
    kcl_context *ctx;
    if (kcl_context_create(&ctx, &opt) != KCL_OK) {
        fprintf(stderr, "kcl-tune: %s\n", kcl_errmsg(NULL));
        return 1;
    }
    const kcl_device_info *info = kcl_context_device(ctx);
    printf("tuning GEMM for %s (%s, driver %s), %.0f s\n", info->name, info->platform_name,
           info->driver_version, seconds);
    static product ps[n_products];
    int rc = 0;
    for (int i = 0; i < n_products && rc == 0; i++)
        if (product_init(ctx, &ps[i], product_list[i]) != 0) {
            fprintf(stderr, "kcl-tune: %s\n", kcl_errmsg(ctx));
            rc = 1;
        }
    if (rc == 0)
        rc = tune(ctx, ps, seconds, store);
    for (int i = 0; i < n_products; i++)
        product_free(&ps[i]);
    kcl_context_free(ctx);
    return rc;
}
