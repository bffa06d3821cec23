/* gradcheck.h: checks an op's forward values against a host reference in
 * double precision, and its gradients (through kcl's tape) against central
 * finite differences of that reference.
 *
 * The scalar checked is L = sum(w * f(x...)) with fixed random weights w, so
 * every output element sends a different gradient back. With step h, central
 * differences of a smooth double function are accurate to O(h²) ~ 1e-6; the
 * device works in float, so gradients are compared with
 *     |g - fd| <= atol + rtol * |fd|
 * (the caller's tolerances; 1e-3 and 1e-3 suit most ops). Points where f is
 * not differentiable (relu at 0, ...) must be avoided by the caller's inputs. */
#ifndef KCL_TEST_GRADCHECK_H
#define KCL_TEST_GRADCHECK_H

#include "common.h"

#define GC_MAX_INPUTS 4

typedef struct gc_input {
    int rank;
    int64_t shape[KCL_MAX_RANK];
    const float *values;         /* shape's element count of values */
    int no_grad;                 /* nonzero: not differentiable in this input (labels) */
} gc_input;

/* The op on the device: out = f(in[0..n-1]). */
typedef kcl_status (*gc_device_fn)(kcl_tensor *const *in, kcl_tensor **out, void *user);
/* The same op on the host in double: fills out (out_size values). */
typedef void (*gc_host_fn)(const double *const *in, double *out, void *user);

typedef struct gc_case {
    const char *name;
    int n_in;
    gc_input in[GC_MAX_INPUTS];
    gc_device_fn device;
    gc_host_fn host;
    void *user;
    double fwd_atol, fwd_rtol;   /* forward tolerance; 0: 1e-5 and 1e-5 */
    double atol, rtol;           /* gradient tolerance; 0: 1e-3 and 1e-3 */
    double step;                 /* finite-difference step; 0: 1e-3 */
    int forward_only;            /* nonzero: skip the gradient check */
} gc_case;

static inline size_t gc_count(const gc_input *in)
{
    size_t n = 1;
    for (int i = 0; i < in->rank; i++)
        n *= (size_t)in->shape[i];
    return n;
}

static inline double gc_loss(const gc_case *c, double *const *x, const double *w, size_t out_n,
                             double *scratch)
{
    c->host((const double *const *)x, scratch, c->user);
    double sum = 0;
    for (size_t i = 0; i < out_n; i++)
        sum += w[i] * scratch[i];
    return sum;
}

static inline int gc_close(double got, double want, double atol, double rtol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

/* Runs the case on ctx; fails the test with the first element out of tolerance. */
static inline void gradcheck(kcl_context *ctx, const gc_case *c)
{
    kcl_tensor *in[GC_MAX_INPUTS] = {0}, *out = NULL;
    double *x[GC_MAX_INPUTS] = {0};
    for (int i = 0; i < c->n_in; i++) {
        size_t n = gc_count(&c->in[i]);
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, c->in[i].rank, c->in[i].shape, c->in[i].values,
                                           &in[i]));
        x[i] = malloc((n ? n : 1) * sizeof **x);
        for (size_t j = 0; j < n; j++)
            x[i][j] = c->in[i].values[j];
    }
    kcl_tape *tape = NULL;
    if (!c->forward_only) {
        CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
        for (int i = 0; i < c->n_in; i++)
            if (!c->in[i].no_grad)
                CHECK_OK(ctx, kcl_tape_watch(tape, in[i]));
    }
    kcl_status st = c->device(in, &out, c->user);
    if (st != KCL_OK)
        fail_msg("%s: %s: %s", c->name, kcl_status_name(st), kcl_errmsg(ctx));
    size_t out_n = (size_t)kcl_tensor_size(out);
    float *y = malloc((out_n ? out_n : 1) * sizeof *y);
    double *want = malloc((out_n ? out_n : 1) * sizeof *want);
    CHECK_OK(ctx, kcl_tensor_read(out, y, out_n));
    c->host((const double *const *)x, want, c->user);
    double fa = c->fwd_atol ? c->fwd_atol : 1e-5, fr = c->fwd_rtol ? c->fwd_rtol : 1e-5;
    for (size_t j = 0; j < out_n; j++)
        if (!gc_close(y[j], want[j], fa, fr))
            fail_msg("%s: forward value %zu is %.9g, reference %.9g", c->name, j, y[j], want[j]);

    if (!c->forward_only) {
        float *wf = test_random(out_n, 77);
        double *w = malloc((out_n ? out_n : 1) * sizeof *w), *scratch = malloc((out_n ? out_n : 1) * sizeof *scratch);
        for (size_t j = 0; j < out_n; j++)
            w[j] = wf[j];
        kcl_tensor *wt, *prod, *loss;
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, kcl_tensor_rank(out), kcl_tensor_shape(out), wf, &wt));
        CHECK_OK(ctx, kcl_multiply(out, wt, &prod));
        CHECK_OK(ctx, kcl_reduce_sum(prod, 0, NULL, 0, &loss));
        double h = c->step ? c->step : 1e-3;
        double ga = c->atol ? c->atol : 1e-3, gr = c->rtol ? c->rtol : 1e-3;
        for (int i = 0; i < c->n_in; i++) {
            if (c->in[i].no_grad)
                continue;
            kcl_tensor *g;
            CHECK_OK(ctx, kcl_tape_gradient(tape, loss, 1, &in[i], &g));
            size_t n = gc_count(&c->in[i]);
            float *gv = malloc((n ? n : 1) * sizeof *gv);
            CHECK_OK(ctx, kcl_tensor_read(g, gv, n));
            for (size_t j = 0; j < n; j++) {
                double keep = x[i][j];
                x[i][j] = keep + h;
                double up = gc_loss(c, x, w, out_n, scratch);
                x[i][j] = keep - h;
                double down = gc_loss(c, x, w, out_n, scratch);
                x[i][j] = keep;
                double fd = (up - down) / (2 * h);
                if (!gc_close(gv[j], fd, ga, gr))
                    fail_msg("%s: d/d input %d [%zu] is %.7g, finite difference %.7g", c->name, i,
                             j, gv[j], fd);
            }
            free(gv);
            kcl_tensor_free(g);
            /* A tape gives gradients once unless persistent: record again. */
            if (i + 1 < c->n_in) {
                kcl_tape_free(tape);
                kcl_tensor_free(out);
                kcl_tensor_free(prod);
                kcl_tensor_free(loss);
                CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
                for (int k = 0; k < c->n_in; k++)
                    if (!c->in[k].no_grad)
                        CHECK_OK(ctx, kcl_tape_watch(tape, in[k]));
                CHECK_OK(ctx, c->device(in, &out, c->user));
                CHECK_OK(ctx, kcl_multiply(out, wt, &prod));
                CHECK_OK(ctx, kcl_reduce_sum(prod, 0, NULL, 0, &loss));
            }
        }
        kcl_tensor_free(wt);
        kcl_tensor_free(prod);
        kcl_tensor_free(loss);
        free(wf);
        free(w);
        free(scratch);
    }
    kcl_tape_free(tape);
    kcl_tensor_free(out);
    for (int i = 0; i < c->n_in; i++) {
        kcl_tensor_free(in[i]);
        free(x[i]);
    }
    free(y);
    free(want);
}

#endif
