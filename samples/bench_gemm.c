/* bench_gemm: GFLOP/s of kcl_gemm through CLBlast with its own parameters,
 * through CLBlast with kcl's tuned ones, through kcl's own kernel
 * (cl/gemm.cl), and of OpenBLAS' cblas_sgemm, in one process.
 *
 *     KCL_DEVICE=pocl bench_gemm [--max-square N]
 *
 * Products: squares 128..2048 (N), and those of the 784-256-128-10 and
 * 784-512-256-10 MLPs at batch 128: forward A*B, weight gradient A^T*B, input
 * gradient A*B^T. Every result is checked against a double reference (all of
 * C when small, 4096 sampled entries otherwise), so that a fast but wrong
 * configuration shows as WRONG and the exit status is 1. Each figure is the
 * best of several timings (seconds_per_call), and kcl's kernel and OpenBLAS
 * are measured in alternating rounds, keeping each one's best.
 *
 * CLBlast's overrides cannot be undone within a process, so the untuned
 * column ($KCL_NO_TUNING=1) is measured first, on its own context. When
 * OpenBLAS picked a kernel older than the CPU supports (as with "Prescott" on
 * an AVX-512 machine), the program runs itself again with OPENBLAS_CORETYPE
 * set to the CPU's family, so that the OpenBLAS column is a fair one. */
#include <cblas.h>
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kcl.h>

#include "../lib/tuning.h"

typedef struct product {
    int m, n, k;
    kcl_trans ta, tb;
    float *a, *b;
    double gflops[4];            /* per column; < 0: wrong or failed */
} product;

enum { col_untuned, col_tuned, col_kcl, col_openblas, n_cols };

/* m, n, k, A transposed, B transposed */
static const int mlp_products[][5] = {
    {128, 256, 784, 0, 0}, {784, 256, 128, 1, 0}, {128, 784, 256, 0, 1},
    {128, 128, 256, 0, 0}, {256, 128, 128, 1, 0}, {128, 256, 128, 0, 1},
    {128, 10, 128, 0, 0},  {128, 10, 128, 1, 0},  {128, 128, 10, 0, 1},
    {128, 512, 784, 0, 0}, {784, 512, 128, 1, 0}, {128, 784, 512, 0, 1},
    {128, 256, 512, 0, 0}, {512, 256, 128, 1, 0}, {128, 512, 256, 0, 1},
    {128, 10, 256, 0, 0},  {256, 10, 128, 1, 0},  {128, 256, 10, 0, 1},
};
enum { n_mlp = sizeof mlp_products / sizeof *mlp_products, max_products = n_mlp + 5 * 3 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x243F6A8885A308D3ULL;

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

static size_t lda(const product *p) { return p->ta ? (size_t)p->m : (size_t)p->k; }
static size_t ldb(const product *p) { return p->tb ? (size_t)p->k : (size_t)p->n; }
static double flop(const product *p) { return 2.0 * p->m * p->n * p->k; }

/* C = A*B with alpha 1 and beta 0 throughout: c[i,j] is checked against the
 * double sum, within 2(k+2) ulps of the sum of magnitudes (wrong kernels are
 * off by far more). */
static int entry_ok(const product *p, const float *c, size_t i, size_t j)
{
    double s = 0, mag = 0;
    for (size_t l = 0; l < (size_t)p->k; l++) {
        double x = p->ta ? p->a[l * lda(p) + i] : p->a[i * lda(p) + l];
        double y = p->tb ? p->b[j * ldb(p) + l] : p->b[l * ldb(p) + j];
        s += x * y;
        mag += fabs(x * y);
    }
    double err = fabs((double)c[i * (size_t)p->n + j] - s);
    return err <= 2.0 * (p->k + 2) * FLT_EPSILON * mag + 1e-30;
}

static int result_ok(const product *p, const float *c)
{
    size_t mn = (size_t)p->m * p->n;
    if (mn <= 65536) {
        for (size_t i = 0; i < (size_t)p->m; i++)
            for (size_t j = 0; j < (size_t)p->n; j++)
                if (!entry_ok(p, c, i, j))
                    return 0;
        return 1;
    }
    for (int s = 0; s < 4096; s++)
        if (!entry_ok(p, c, rng() % (uint64_t)p->m, rng() % (uint64_t)p->n))
            return 0;
    return 1;
}

/* One product run repeatedly: call() does (or enqueues) one product, wait()
 * waits for all of them; both return nonzero on failure. */
typedef struct timed {
    int (*call)(void *state);
    int (*wait)(void *state);
    void *state;
} timed;

enum { trials = 5, rounds = 3 };

/* Seconds per call, the best of `trials` timings of back-to-back calls, each
 * timing about 20 ms long (at least one call): the best, because this
 * machine's slow phases and other processes only ever add time; the same rule
 * for kcl and OpenBLAS. Negative on failure. */
static double seconds_per_call(const timed *t)
{
    double t0 = now();
    if (t->call(t->state) || t->wait(t->state))
        return -1;
    double one = now() - t0;
    int reps = (int)fmin(20000, fmax(1, 0.02 / fmax(one, 1e-7)));
    double best = one;
    for (int trial = 0; trial < trials; trial++) {
        t0 = now();
        for (int r = 0; r < reps; r++)
            if (t->call(t->state))
                return -1;
        if (t->wait(t->state))
            return -1;
        best = fmin(best, (now() - t0) / reps);
    }
    return best;
}

/* ------------------------------------------------------------------ kcl -- */

typedef struct kcl_gemm_state {
    kcl_context *ctx;
    const product *p;
    kcl_tensor *a, *b, *c;
} kcl_gemm_state;

static int kcl_gemm_call(void *state)
{
    kcl_gemm_state *s = state;
    return kcl_gemm(s->ctx, s->p->ta, s->p->tb, 1.0f, s->a, s->b, 0.0f, s->c) != KCL_OK;
}

static int kcl_gemm_wait(void *state)
{
    return kcl_context_finish(((kcl_gemm_state *)state)->ctx) != KCL_OK;
}

/* GFLOP/s of one product on ctx, -1 when it fails or is wrong. */
static double kcl_measure(kcl_context *ctx, const product *p)
{
    int64_t sa[2] = {p->ta ? p->k : p->m, p->ta ? p->m : p->k};
    int64_t sb[2] = {p->tb ? p->n : p->k, p->tb ? p->k : p->n};
    int64_t sc[2] = {p->m, p->n};
    size_t mn = (size_t)p->m * p->n;
    kcl_gemm_state s = {.ctx = ctx, .p = p};
    float *host = malloc(mn * sizeof *host);
    double result = -1;
    if (!host || kcl_tensor_from_host(ctx, 2, sa, p->a, &s.a) ||
        kcl_tensor_from_host(ctx, 2, sb, p->b, &s.b) || kcl_tensor_create(ctx, 2, sc, &s.c))
        goto done;
    /* the first call compiles, and its result is checked */
    if (kcl_gemm_call(&s) || kcl_tensor_read(s.c, host, mn) || !result_ok(p, host))
        goto done;
    double seconds = seconds_per_call(&(timed){kcl_gemm_call, kcl_gemm_wait, &s});
    if (seconds > 0)
        result = flop(p) / seconds * 1e-9;
done:
    if (result < 0 && kcl_errmsg(ctx)[0])
        fprintf(stderr, "bench_gemm: %s\n", kcl_errmsg(ctx));
    kcl_tensor_free(s.a);
    kcl_tensor_free(s.b);
    kcl_tensor_free(s.c);
    free(host);
    return result;
}

static const char *source_name(kcl_tuning_source s)
{
    switch (s) {
    case KCL_TUNING_DISABLED: return "disabled ($KCL_NO_TUNING=1)";
    case KCL_TUNING_STORED: return "stored by kcl-tune";
    case KCL_TUNING_SHIPPED: return "shipped defaults";
    default: return "none known: CLBlast's own";
    }
}

/* A cell measured again keeps its best figure; a failure (< 0) stays. */
static void record(double *cell, double gflops, int round)
{
    if (round == 0 || gflops < 0)
        *cell = gflops;
    else if (*cell >= 0)
        *cell = fmax(*cell, gflops);
}

/* One column: a fresh context (CLBlast untuned or tuned, or kcl's kernel),
 * every product; round > 0 measures it again. */
static int kcl_column(product *ps, int count, int col, int round)
{
    if (col == col_untuned)
        setenv("KCL_NO_TUNING", "1", 1);
    else
        unsetenv("KCL_NO_TUNING");
    kcl_context_options opt = {.gemm = col == col_kcl ? KCL_GEMM_KCL : KCL_GEMM_CLBLAST};
    kcl_context *ctx;
    if (kcl_context_create(&ctx, &opt) != KCL_OK) {
        fprintf(stderr, "bench_gemm: %s\n", kcl_errmsg(NULL));
        return -1;
    }
    kcl_tuning t;
    if (col == col_kcl)
        printf("kcl column on %s: kcl's kernel\n", kcl_context_device(ctx)->name);
    else
        printf("CLBlast %s column on %s: parameters %s\n", col == col_untuned ? "untuned" : "tuned",
               kcl_context_device(ctx)->name, source_name(kcl__tuning_load(ctx, &t)));
    fflush(stdout);
    for (int i = 0; i < count; i++)
        record(&ps[i].gflops[col], kcl_measure(ctx, &ps[i]), round);
    kcl_context_free(ctx);
    return 0;
}

/* ------------------------------------------------------------- OpenBLAS -- */

typedef struct openblas_state {
    const product *p;
    float *c;
} openblas_state;

static int openblas_call(void *state)
{
    const openblas_state *s = state;
    const product *p = s->p;
    cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans,
                p->tb ? CblasTrans : CblasNoTrans, p->m, p->n, p->k, 1.0f, p->a, (int)lda(p),
                p->b, (int)ldb(p), 0.0f, s->c, p->n);
    return 0;
}

static int openblas_wait(void *state)
{
    (void)state;
    return 0;
}

static double openblas_measure(const product *p)
{
    openblas_state s = {.p = p, .c = calloc((size_t)p->m * p->n, sizeof(float))};
    double result = -1;
    if (s.c && !openblas_call(&s) && result_ok(p, s.c)) {
        double seconds = seconds_per_call(&(timed){openblas_call, openblas_wait, &s});
        result = flop(p) / seconds * 1e-9;
    }
    free(s.c);
    return result;
}

/* "SkylakeX" when the CPU has AVX-512F, "Haswell" with AVX2, else NULL. */
static const char *cpu_family(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return NULL;
    char line[8192];
    const char *family = NULL;
    while (!family && fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0)
            family = strstr(line, " avx512f") ? "SkylakeX" : strstr(line, " avx2") ? "Haswell"
                                                                                     : "";
    fclose(f);
    return family && *family ? family : NULL;
}

/* Whether OpenBLAS' core (lower case) has the family's instructions. */
static int core_covers(const char *core, const char *family)
{
    static const char *const avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *const avx2_only[] = {"haswell", "zen", "excavator"};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(core, avx512[i]) == 0)
            return 1;
    if (strcmp(family, "SkylakeX") == 0)
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (strcmp(core, avx2_only[i]) == 0)
            return 1;
    return 0;
}

/* Re-executes the program with OPENBLAS_CORETYPE when OpenBLAS chose a core
 * below the CPU's; returns only when it does not (or cannot). */
static void fix_openblas_core(char **argv)
{
    char core[64];
    snprintf(core, sizeof core, "%s", openblas_get_corename());
    for (char *s = core; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    const char *family = cpu_family();
    printf("OpenBLAS %s, core %s; CPU family %s\n", OPENBLAS_VERSION, openblas_get_corename(),
           family ? family : "(neither AVX2 nor AVX-512)");
    if (!family || core_covers(core, family) || getenv("OPENBLAS_CORETYPE"))
        return;
    printf("OpenBLAS' core is older than the CPU: running again with OPENBLAS_CORETYPE=%s\n",
           family);
    fflush(stdout);
    setenv("OPENBLAS_CORETYPE", family, 1);
    execv("/proc/self/exe", argv);
    perror("bench_gemm: execv");
}

/* ------------------------------------------------------------------ main -- */

static int add_product(product *ps, int count, int m, int n, int k, int ta, int tb)
{
    product *p = &ps[count];
    *p = (product){.m = m, .n = n, .k = k, .ta = ta, .tb = tb};
    p->a = random_floats((size_t)m * k);
    p->b = random_floats((size_t)k * n);
    return p->a && p->b ? count + 1 : -1;
}

static void print_gflops(double g)
{
    if (g < 0)
        printf(" %10s", "WRONG");
    else
        printf(" %10.1f", g);
}

static int print_table(const product *ps, int count)
{
    int wrong = 0;
    printf("\n%-20s %10s %10s %10s %10s %7s   (GFLOP/s; op(A) m x k, op(B) k x n)\n",
           "m x n x k op", "CLBlast", "CLB tuned", "kcl", "OpenBLAS", "kcl/OB");
    for (int i = 0; i < count; i++) {
        const product *p = &ps[i];
        char label[64];
        snprintf(label, sizeof label, "%dx%dx%d %s", p->m, p->n, p->k,
                 p->ta ? "AT*B" : p->tb ? "A*BT" : "A*B");
        printf("%-20s", label);
        for (int c = 0; c < n_cols; c++) {
            print_gflops(p->gflops[c]);
            wrong += p->gflops[c] < 0;
        }
        if (p->gflops[col_kcl] > 0 && p->gflops[col_openblas] > 0)
            printf(" %6.0f%%", 100.0 * p->gflops[col_kcl] / p->gflops[col_openblas]);
        printf("\n");
        if (i + 1 < count && p->m == p->n && p->n == p->k && ps[i + 1].m != ps[i + 1].n)
            printf("\n");
    }
    return wrong;
}

int main(int argc, char **argv)
{
    int max_square = 2048;
    if (argc == 3 && strcmp(argv[1], "--max-square") == 0)
        max_square = atoi(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [--max-square N]   (device: $KCL_DEVICE)\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    fix_openblas_core(argv);
    static product ps[max_products];
    int count = 0;
    for (int s = 128; s <= max_square && count >= 0; s *= 2)
        for (int t = 0; t < 3 && count >= 0; t++)
            count = add_product(ps, count, s, s, s, t == 1, t == 2);
    for (int i = 0; i < n_mlp && count >= 0; i++) {
        const int *q = mlp_products[i];
        count = add_product(ps, count, q[0], q[1], q[2], q[3], q[4]);
    }
    int rc = count < 0 ? 1 : 0;
    if (rc == 0 && (kcl_column(ps, count, col_untuned, 0) || kcl_column(ps, count, col_tuned, 0)))
        rc = 1;
    /* kcl's kernel and OpenBLAS, the two compared, take turns, so that a slow
     * phase of the machine cannot fall on one of them only. */
    for (int round = 0; rc == 0 && round < rounds; round++) {
        if (kcl_column(ps, count, col_kcl, round))
            rc = 1;
        printf("OpenBLAS column\n");
        for (int i = 0; rc == 0 && i < count; i++)
            record(&ps[i].gflops[col_openblas], openblas_measure(&ps[i]), round);
    }
    kcl_context *ctx;
    if (rc == 0 && kcl_context_create(&ctx, NULL) == KCL_OK) {
        printf("kcl's choice on this device: %s\n",
               kcl_context_gemm(ctx) == KCL_GEMM_KCL ? "kcl's kernel" : "CLBlast");
        kcl_context_free(ctx);
    }
    if (rc == 0 && print_table(ps, count) > 0) {
        printf("\nsome results were WRONG (or failed): see above\n");
        rc = 1;
    }
    for (int i = 0; i < max_products; i++) {
        free(ps[i].a);
        free(ps[i].b);
    }
    return rc;
}
