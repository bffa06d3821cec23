/* test_optimizers: each optimizer and option against a plain-C double
 * reference of Keras 3's update formulas (keras/src/optimizers/<name>.py and
 * base_optimizer.py: clip, weight decay, update_step), 5 steps on two small
 * variables with fixed, different gradients per step; slots compared too.
 * Then the same against values real Keras computed (data/optimizers_golden.py
 * wrote data/optimizers_golden.h; schedules included). Schedules against
 * closed-form values; names, state and config errors. */
#include "common.h"

#include "data/optimizers_golden.h"

/* ------------------------------------------------------- double reference -- */

/* Keras' hyperparameters written out in full (no defaults here). */
typedef struct ref_opt {
    kcl_optimizer_kind kind;
    double lr, momentum, beta_1, beta_2, epsilon, weight_decay, rho, initial_accumulator;
    int nesterov, amsgrad, centered;
    double clipnorm, clipvalue, global_clipnorm;
} ref_opt;

#define NV 2                    /* variables per case */
#define NMAX 6                  /* elements per variable, at most */
#define STEPS 5

static const int var_rank[NV] = {2, 1};
static const int64_t var_shape[NV][2] = {{2, 3}, {4, 0}};
static const size_t var_n[NV] = {6, 4};

/* One variable's reference state, slots by Keras' names. */
typedef struct ref_var {
    double x[NMAX];
    double m[NMAX], v[NMAX], vhat[NMAX], momentum[NMAX], ms[NMAX], mg[NMAX], accumulator[NMAX];
} ref_var;

static double *ref_slot(ref_var *r, const char *name)
{
    static const char *names[] = {"m", "v", "vhat", "momentum", "ms", "mg", "accumulator"};
    double *slots[] = {r->m, r->v, r->vhat, r->momentum, r->ms, r->mg, r->accumulator};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            return slots[i];
    fail_msg("unknown slot name \"%s\"", name);
    return NULL;
}

/* base_optimizer._clip_gradients on all gradients of a step. */
static void ref_clip(const ref_opt *o, double g[NV][NMAX])
{
    double total = 0;
    for (int k = 0; k < NV; k++) {
        double l2sum = 0;
        for (size_t i = 0; i < var_n[k]; i++)
            l2sum += g[k][i] * g[k][i];
        total += l2sum;
        double norm = l2sum > 0 ? sqrt(l2sum) : l2sum;
        for (size_t i = 0; i < var_n[k]; i++) {
            if (o->clipnorm > 0)
                g[k][i] = g[k][i] * o->clipnorm / fmax(norm, o->clipnorm);
            else if (o->clipvalue > 0)
                g[k][i] = fmin(fmax(g[k][i], -o->clipvalue), o->clipvalue);
        }
    }
    if (o->global_clipnorm > 0) {
        double norm = sqrt(total), c = o->global_clipnorm;
        double scale = c * fmin(1.0 / norm, 1.0 / c);
        for (int k = 0; k < NV; k++)
            for (size_t i = 0; i < var_n[k]; i++)
                g[k][i] *= scale;
    }
}

/* One element of one variable: weight decay, then the kind's update_step. */
static void ref_update(const ref_opt *o, double lr, double t, ref_var *r, size_t i, double g)
{
    double *x = &r->x[i];
    if (o->weight_decay != 0)
        *x -= *x * o->weight_decay * lr;
    switch (o->kind) {
    case KCL_OPTIMIZER_SGD:
        if (o->momentum != 0) {
            r->momentum[i] = r->momentum[i] * o->momentum - g * lr;
            *x += o->nesterov ? r->momentum[i] * o->momentum - g * lr : r->momentum[i];
        } else {
            *x -= g * lr;
        }
        break;
    case KCL_OPTIMIZER_ADAM:
    case KCL_OPTIMIZER_ADAMW: {
        double alpha = lr * sqrt(1 - pow(o->beta_2, t)) / (1 - pow(o->beta_1, t));
        r->m[i] = o->beta_1 * r->m[i] + (1 - o->beta_1) * g;
        r->v[i] = o->beta_2 * r->v[i] + (1 - o->beta_2) * g * g;
        double v = r->v[i];
        if (o->amsgrad)
            v = r->vhat[i] = fmax(r->vhat[i], r->v[i]);
        *x -= alpha * r->m[i] / (sqrt(v) + o->epsilon);
        break;
    }
    case KCL_OPTIMIZER_RMSPROP: {
        r->ms[i] = o->rho * r->ms[i] + (1 - o->rho) * g * g;
        double denominator = r->ms[i] + o->epsilon;
        if (o->centered) {
            r->mg[i] = o->rho * r->mg[i] + (1 - o->rho) * g;
            denominator = r->ms[i] - r->mg[i] * r->mg[i] + o->epsilon;
        }
        double increment = lr * g / sqrt(denominator);
        if (o->momentum > 0) {
            r->momentum[i] = o->momentum * r->momentum[i] + increment;
            *x -= r->momentum[i];
        } else {
            *x -= increment;
        }
        break;
    }
    case KCL_OPTIMIZER_ADAGRAD:
        r->accumulator[i] += g * g;
        *x -= lr * g / sqrt(r->accumulator[i] + o->epsilon);
        break;
    default:
        fail_msg("reference: unknown kind %d", (int)o->kind);
    }
}

/* ------------------------------------------------------------ test inputs -- */

/* Step s's gradient of variable k: values in [-1, 1) growing with the step
 * (so norm clipping is inactive at first, then active), and all zeros for
 * variable 1 at step 2 (the zero-norm branch of clipping). */
static void gradient_values(int s, int k, double *g)
{
    float *u = test_random(var_n[k], 100 + 10 * (uint64_t)s + (uint64_t)k);
    for (size_t i = 0; i < var_n[k]; i++)
        g[i] = (s == 2 && k == 1) ? 0.0 : (double)u[i] * (0.5 + 0.5 * s);
    free(u);
}

static kcl_tensor *upload(kcl_context *ctx, int k, const double *v)
{
    float f[NMAX];
    for (size_t i = 0; i < var_n[k]; i++)
        f[i] = (float)v[i];
    kcl_tensor *t;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, var_rank[k], var_shape[k], f, &t));
    return t;
}

static void expect_close(const char *what, const char *name, int k, size_t i, double got,
                         double want, double rtol, double atol)
{
    if (!(fabs(got - want) <= rtol * fabs(want) + atol))
        fail_msg("%s: %s of variable %d [%zu]: got %.9g, want %.9g", name, what, k, i, got, want);
}

/* ------------------------------------------------------- optimizer cases -- */

typedef struct opt_case {
    const char *name;
    kcl_optimizer_config config;
    ref_opt ref;
    int64_t start;               /* iterations set before the first step */
} opt_case;

/* Reference configs: the fields a case sets; ref_resolve adds Keras' defaults. */
#define R_SGD(...) {.kind = KCL_OPTIMIZER_SGD, __VA_ARGS__}
#define R_ADAM(...) {.kind = KCL_OPTIMIZER_ADAM, __VA_ARGS__}
#define R_ADAMW(...) {.kind = KCL_OPTIMIZER_ADAMW, __VA_ARGS__}
#define R_RMSPROP(...) {.kind = KCL_OPTIMIZER_RMSPROP, __VA_ARGS__}
#define R_ADAGRAD(...) {.kind = KCL_OPTIMIZER_ADAGRAD, __VA_ARGS__}

static double or_keras(double v, double keras_default) { return v != 0 ? v : keras_default; }

/* The defaults of Keras 3's constructors (sgd.py, adam.py, adamw.py, ...). */
static ref_opt ref_resolve(ref_opt o)
{
    o.lr = or_keras(o.lr, o.kind == KCL_OPTIMIZER_SGD ? 0.01 : 0.001);
    o.beta_1 = or_keras(o.beta_1, 0.9);
    o.beta_2 = or_keras(o.beta_2, 0.999);
    o.epsilon = or_keras(o.epsilon, 1e-7);
    o.rho = or_keras(o.rho, 0.9);
    o.initial_accumulator = or_keras(o.initial_accumulator, 0.1);
    if (o.kind == KCL_OPTIMIZER_ADAMW)
        o.weight_decay = or_keras(o.weight_decay, 0.004);
    return o;
}

static const opt_case cases[] = {
    {"sgd_default", kcl_sgd(), R_SGD(), 0},
    {"sgd", kcl_sgd(.learning_rate = 0.1f), R_SGD(.lr = 0.1), 0},
    {"sgd_momentum", kcl_sgd(.learning_rate = 0.1f, .momentum = 0.9f),
     R_SGD(.lr = 0.1, .momentum = 0.9), 0},
    {"sgd_nesterov", kcl_sgd(.learning_rate = 0.1f, .momentum = 0.8f, .nesterov = 1),
     R_SGD(.lr = 0.1, .momentum = 0.8, .nesterov = 1), 0},
    {"sgd_nesterov_no_momentum", kcl_sgd(.learning_rate = 0.1f, .nesterov = 1),
     R_SGD(.lr = 0.1, .nesterov = 1), 0},
    {"sgd_weight_decay", kcl_sgd(.learning_rate = 0.1f, .weight_decay = 0.5f),
     R_SGD(.lr = 0.1, .weight_decay = 0.5), 0},
    {"adam_default", kcl_adam(), R_ADAM(), 0},
    {"adam", kcl_adam(.learning_rate = 0.1f), R_ADAM(.lr = 0.1), 0},
    {"adam_options", kcl_adam(.learning_rate = 0.05f, .beta_1 = 0.8f, .beta_2 = 0.99f,
                              .epsilon = 1e-3f),
     R_ADAM(.lr = 0.05, .beta_1 = 0.8, .beta_2 = 0.99, .epsilon = 1e-3), 0},
    {"adam_amsgrad", kcl_adam(.learning_rate = 0.1f, .beta_2 = 0.9f, .amsgrad = 1),
     R_ADAM(.lr = 0.1, .beta_2 = 0.9, .amsgrad = 1), 0},
    {"adam_from_iteration_7", kcl_adam(.learning_rate = 0.1f), R_ADAM(.lr = 0.1), 7},
    {"adam_weight_decay", kcl_adam(.learning_rate = 0.1f, .weight_decay = 0.2f),
     R_ADAM(.lr = 0.1, .weight_decay = 0.2), 0},
    {"adamw_default", kcl_adamw(), R_ADAMW(), 0},
    {"adamw", kcl_adamw(.learning_rate = 0.1f, .weight_decay = 0.3f, .amsgrad = 1),
     R_ADAMW(.lr = 0.1, .weight_decay = 0.3, .amsgrad = 1), 0},
    {"rmsprop_default", {0}, R_RMSPROP(), 0},
    {"rmsprop", kcl_rmsprop(.learning_rate = 0.1f, .rho = 0.8f),
     R_RMSPROP(.lr = 0.1, .rho = 0.8), 0},
    {"rmsprop_momentum", kcl_rmsprop(.learning_rate = 0.1f, .momentum = 0.5f),
     R_RMSPROP(.lr = 0.1, .momentum = 0.5), 0},
    {"rmsprop_centered", kcl_rmsprop(.learning_rate = 0.1f, .centered = 1, .epsilon = 1e-3f),
     R_RMSPROP(.lr = 0.1, .centered = 1, .epsilon = 1e-3), 0},
    {"rmsprop_centered_momentum",
     kcl_rmsprop(.learning_rate = 0.1f, .centered = 1, .momentum = 0.7f, .epsilon = 1e-3f),
     R_RMSPROP(.lr = 0.1, .centered = 1, .momentum = 0.7, .epsilon = 1e-3), 0},
    {"adagrad_default", kcl_adagrad(), R_ADAGRAD(), 0},
    {"adagrad", kcl_adagrad(.learning_rate = 0.1f, .initial_accumulator_value = 0.5f,
                            .epsilon = 1e-4f),
     R_ADAGRAD(.lr = 0.1, .initial_accumulator = 0.5, .epsilon = 1e-4), 0},
    {"clipvalue_adam", kcl_adam(.learning_rate = 0.1f, .clipvalue = 0.4f),
     R_ADAM(.lr = 0.1, .clipvalue = 0.4), 0},
    {"clipnorm_sgd", kcl_sgd(.learning_rate = 0.1f, .momentum = 0.5f, .clipnorm = 1.0f),
     R_SGD(.lr = 0.1, .momentum = 0.5, .clipnorm = 1.0), 0},
    {"clipnorm_adamw", kcl_adamw(.learning_rate = 0.1f, .clipnorm = 0.8f),
     R_ADAMW(.lr = 0.1, .clipnorm = 0.8), 0},
    {"global_clipnorm_rmsprop", kcl_rmsprop(.learning_rate = 0.1f, .global_clipnorm = 1.5f),
     R_RMSPROP(.lr = 0.1, .global_clipnorm = 1.5), 0},
    {"global_clipnorm_adagrad", kcl_adagrad(.learning_rate = 0.1f, .global_clipnorm = 2.0f),
     R_ADAGRAD(.lr = 0.1, .global_clipnorm = 2.0), 0},
};

/* Runs STEPS steps of kcl and of the reference; compares variables and slots. */
static void run_case(kcl_context *ctx, const opt_case *c)
{
    const ref_opt ro = ref_resolve(c->ref);
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &c->config, &opt));
    CHECK_OK(ctx, kcl_optimizer_set_iterations(opt, c->start));
    ref_var ref[NV];
    memset(ref, 0, sizeof ref);
    kcl_tensor *vars[NV];
    for (int k = 0; k < NV; k++) {
        float *x0 = test_random(var_n[k], 1 + (uint64_t)k);
        for (size_t i = 0; i < var_n[k]; i++) {
            ref[k].x[i] = x0[i];
            ref[k].accumulator[i] = ro.initial_accumulator;
        }
        free(x0);
        vars[k] = upload(ctx, k, ref[k].x);
    }
    for (int s = 0; s < STEPS; s++) {
        double g[NV][NMAX];
        kcl_tensor *grads[NV];
        for (int k = 0; k < NV; k++) {
            gradient_values(s, k, g[k]);
            grads[k] = upload(ctx, k, g[k]);
        }
        assert_true(fabs(kcl_optimizer_learning_rate(opt) - ro.lr) <= 1e-7 * ro.lr);
        kcl_queue_stats before, after;
        CHECK_OK(ctx, kcl_queue_stats_get(ctx, &before));
        CHECK_OK(ctx, kcl_optimizer_apply(opt, NV, vars, grads));
        CHECK_OK(ctx, kcl_queue_stats_get(ctx, &after));
        /* Once the slots exist, one launch updates every variable; the norm
         * clippings first reduce their sums of squares, clipnorm then updates
         * each variable by itself. */
        if (s > 0 && c->config.clipnorm == 0 && c->config.global_clipnorm == 0)
            assert_int_equal(after.kernels - before.kernels, 1);
        for (int k = 0; k < NV; k++)
            kcl_tensor_free(grads[k]);   /* the optimizer may still be using them: allowed */
        ref_clip(&ro, g);
        for (int k = 0; k < NV; k++)
            for (size_t i = 0; i < var_n[k]; i++)
                ref_update(&ro, ro.lr, (double)(c->start + s + 1), &ref[k], i, g[k][i]);
    }
    assert_int_equal(kcl_optimizer_iterations(opt), c->start + STEPS);
    for (int k = 0; k < NV; k++) {
        float got[NMAX];
        CHECK_OK(ctx, kcl_tensor_read(vars[k], got, var_n[k]));
        float *x0 = test_random(var_n[k], 1 + (uint64_t)k);
        /* the change, so that a small learning rate is still checked closely */
        for (size_t i = 0; i < var_n[k]; i++)
            expect_close("change", c->name, k, i, (double)got[i] - x0[i], ref[k].x[i] - x0[i],
                         1e-5, 5e-7);
        free(x0);
        size_t n;
        const char *const *names;
        kcl_tensor *const *slots;
        CHECK_OK(ctx, kcl_optimizer_slots(opt, vars[k], &n, &names, &slots));
        for (size_t j = 0; j < n; j++) {
            const double *want = ref_slot(&ref[k], names[j]);
            CHECK_OK(ctx, kcl_tensor_read(slots[j], got, var_n[k]));
            for (size_t i = 0; i < var_n[k]; i++)
                expect_close(names[j], c->name, k, i, got[i], want[i], 1e-5, 1e-7);
        }
    }
    kcl_optimizer_free(opt);
    for (int k = 0; k < NV; k++)
        kcl_tensor_free(vars[k]);
}

/* More variables than one launch takes (eight), of different sizes, one of
 * them empty: every element of every variable gets its own update. */
static void test_many_variables(void **state)
{
    kcl_context *ctx = *state;
    enum { MANY = 19 };
    const ref_opt ro = ref_resolve((ref_opt)R_ADAM(.lr = 0.1, .amsgrad = 1));
    kcl_optimizer_config config = kcl_adam(.learning_rate = 0.1f, .amsgrad = 1);
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &config, &opt));
    ref_var ref[MANY];
    memset(ref, 0, sizeof ref);
    kcl_tensor *vars[MANY], *grads[MANY];
    int64_t sizes[MANY];
    for (int k = 0; k < MANY; k++) {
        sizes[k] = k == 5 ? 0 : 1 + k % NMAX;
        float *x0 = test_random((size_t)sizes[k] + 1, 300 + (uint64_t)k);
        for (int64_t i = 0; i < sizes[k]; i++)
            ref[k].x[i] = x0[i];
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &sizes[k], x0, &vars[k]));
        free(x0);
    }
    for (int s = 0; s < 3; s++) {
        for (int k = 0; k < MANY; k++) {
            float *g = test_random((size_t)sizes[k] + 1, 400 + 20 * (uint64_t)s + (uint64_t)k);
            CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &sizes[k], g, &grads[k]));
            for (int64_t i = 0; i < sizes[k]; i++)
                ref_update(&ro, ro.lr, s + 1, &ref[k], (size_t)i, g[i]);
            free(g);
        }
        kcl_queue_stats before, after;
        CHECK_OK(ctx, kcl_queue_stats_get(ctx, &before));
        CHECK_OK(ctx, kcl_optimizer_apply(opt, MANY, vars, grads));
        CHECK_OK(ctx, kcl_queue_stats_get(ctx, &after));
        /* once the slots exist, a launch per eight non-empty variables: 8 + 8 + 2 */
        if (s > 0)
            assert_int_equal(after.kernels - before.kernels, 3);
        for (int k = 0; k < MANY; k++)
            kcl_tensor_free(grads[k]);
    }
    for (int k = 0; k < MANY; k++) {
        float got[NMAX];
        CHECK_OK(ctx, kcl_tensor_read(vars[k], got, (size_t)sizes[k]));
        for (int64_t i = 0; i < sizes[k]; i++)
            expect_close("variable", "many", k, (size_t)i, got[i], ref[k].x[i], 1e-5, 1e-6);
        kcl_tensor_free(vars[k]);
    }
    kcl_optimizer_free(opt);
}

static void test_optimizers_against_reference(void **state)
{
    kcl_context *ctx = *state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(ctx, &cases[i]);
}

/* ------------------------------------------------------- Keras' own values -- */

static void run_golden(kcl_context *ctx, const struct golden_case *c)
{
    const float *x0[NV] = {golden_x0_0, golden_x0_1};
    const float *want[NV] = {c->x_0, c->x_1};
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &c->config, &opt));
    kcl_tensor *vars[NV];
    for (int k = 0; k < NV; k++)
        CHECK_OK(ctx, kcl_tensor_from_host(ctx, var_rank[k], var_shape[k], x0[k], &vars[k]));
    for (int s = 0; s < GOLDEN_STEPS; s++) {
        const float *g[NV] = {golden_grads_0[s], golden_grads_1[s]};
        kcl_tensor *grads[NV];
        for (int k = 0; k < NV; k++)
            CHECK_OK(ctx, kcl_tensor_from_host(ctx, var_rank[k], var_shape[k], g[k], &grads[k]));
        CHECK_OK(ctx, kcl_optimizer_apply(opt, NV, vars, grads));
        for (int k = 0; k < NV; k++)
            kcl_tensor_free(grads[k]);
    }
    for (int k = 0; k < NV; k++) {
        float got[NMAX];
        CHECK_OK(ctx, kcl_tensor_read(vars[k], got, var_n[k]));
        /* Keras computes Adam's 1 - beta_2^t in float32 (kcl on the host in
         * double): about 1e-6 apart after 5 steps at learning rate 0.1. */
        for (size_t i = 0; i < var_n[k]; i++)
            expect_close("value (Keras)", c->name, k, i, got[i], want[k][i], 1e-5, 2e-6);
        kcl_tensor_free(vars[k]);
    }
    kcl_optimizer_free(opt);
}

static void test_optimizers_against_keras(void **state)
{
    kcl_context *ctx = *state;
    for (size_t i = 0; i < sizeof golden_cases / sizeof *golden_cases; i++)
        run_golden(ctx, &golden_cases[i]);
}

/* ------------------------------------------------------------- schedules -- */

/* The optimizer's learning rate at a step, through set_iterations. */
static double lr_at(kcl_context *ctx, kcl_optimizer *opt, int64_t step)
{
    CHECK_OK(ctx, kcl_optimizer_set_iterations(opt, step));
    return kcl_optimizer_learning_rate(opt);
}

typedef struct lr_point {
    int64_t step;
    double lr;
} lr_point;

static void check_schedule(kcl_context *ctx, const char *name, const kcl_optimizer_config *config,
                           size_t n, const lr_point *points)
{
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, config, &opt));
    for (size_t i = 0; i < n; i++) {
        double got = lr_at(ctx, opt, points[i].step), want = points[i].lr;
        if (!(fabs(got - want) <= 1e-6 * fabs(want) + 1e-9))
            fail_msg("%s at step %lld: got %.9g, want %.9g", name, (long long)points[i].step,
                     got, want);
    }
    kcl_optimizer_free(opt);
}

#define CHECK_SCHEDULE(ctx, name, config, ...)                                            \
    do {                                                                                  \
        const lr_point pts_[] = {__VA_ARGS__};                                            \
        kcl_optimizer_config cfg_ = config;                                               \
        check_schedule(ctx, name, &cfg_, sizeof pts_ / sizeof *pts_, pts_);               \
    } while (0)

static void test_schedules(void **state)
{
    kcl_context *ctx = *state;
    /* ExponentialDecay: 0.1 * 0.5 ^ (step / 10), floor()ed when staircase */
    kcl_schedule exp = {.kind = KCL_SCHEDULE_EXPONENTIAL_DECAY, .initial_learning_rate = 0.1f,
                        .decay_steps = 10, .decay_rate = 0.5f};
    CHECK_SCHEDULE(ctx, "exponential", kcl_sgd(.schedule = exp), {0, 0.1},
                   {5, 0.1 * sqrt(0.5)}, {10, 0.05}, {25, 0.1 * pow(0.5, 2.5)});
    exp.staircase = 1;
    CHECK_SCHEDULE(ctx, "exponential staircase", kcl_sgd(.schedule = exp), {0, 0.1}, {5, 0.1},
                   {9, 0.1}, {10, 0.05}, {19, 0.05}, {20, 0.025}, {35, 0.0125});
    /* no initial_learning_rate: the optimizer's rate */
    exp.initial_learning_rate = 0;
    CHECK_SCHEDULE(ctx, "exponential from adam's rate", kcl_adam(.schedule = exp),
                   {0, 0.001}, {10, 0.0005});

    /* PiecewiseConstantDecay: values[0] while step <= 10, values[1] while <= 20, ... */
    const int64_t boundaries[] = {10, 20};
    const float values[] = {1.0f, 0.5f, 0.1f};
    kcl_schedule pw = {.kind = KCL_SCHEDULE_PIECEWISE_CONSTANT, .n_boundaries = 2,
                       .boundaries = boundaries, .values = values};
    CHECK_SCHEDULE(ctx, "piecewise", kcl_sgd(.schedule = pw), {0, 1.0}, {10, 1.0}, {11, 0.5},
                   {20, 0.5}, {21, 0.1}, {1000, 0.1});

    /* CosineDecay: 0.1 * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, 100) / 100)) + alpha) */
    kcl_schedule cos_s = {.kind = KCL_SCHEDULE_COSINE_DECAY, .initial_learning_rate = 0.1f,
                          .decay_steps = 100, .alpha = 0.1f};
    CHECK_SCHEDULE(ctx, "cosine", kcl_sgd(.schedule = cos_s), {0, 0.1},
                   {50, 0.1 * (0.9 * 0.5 + 0.1)},
                   {25, 0.1 * (0.9 * 0.5 * (1 + sqrt(0.5)) + 0.1)}, {100, 0.01}, {500, 0.01});
    /* with warmup from 0 to 0.2 over 10 steps, then decay over 100 */
    kcl_schedule warm = {.kind = KCL_SCHEDULE_COSINE_DECAY, .decay_steps = 100,
                         .warmup_target = 0.2f, .warmup_steps = 10};
    CHECK_SCHEDULE(ctx, "cosine warmup", kcl_adam(.schedule = warm), {0, 0.0}, {5, 0.1},
                   {9, 0.18}, {10, 0.2}, {60, 0.1}, {110, 0.0}, {400, 0.0});
    warm.initial_learning_rate = 0.05f;
    CHECK_SCHEDULE(ctx, "cosine warmup from 0.05", kcl_adam(.schedule = warm), {0, 0.05},
                   {4, 0.05 + 0.15 * 0.4}, {35, 0.2 * 0.5 * (1 + sqrt(0.5))});
}

/* A schedule drives the steps: SGD's updates use the rate of each step. */
static void test_schedule_in_steps(void **state)
{
    kcl_context *ctx = *state;
    kcl_schedule exp = {.kind = KCL_SCHEDULE_EXPONENTIAL_DECAY, .initial_learning_rate = 0.4f,
                        .decay_steps = 2, .decay_rate = 0.5f, .staircase = 1};
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &kcl_sgd(.schedule = exp), &opt));
    const float x0[3] = {1, 2, 3}, g[3] = {1, -1, 0.5f};
    int64_t shape[1] = {3};
    kcl_tensor *x, *gt;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, x0, &x));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, g, &gt));
    for (int s = 0; s < STEPS; s++)
        CHECK_OK(ctx, kcl_optimizer_apply(opt, 1, &x, &gt));
    /* rates 0.4, 0.4, 0.2, 0.2, 0.1: 1.3 in all */
    float got[3];
    CHECK_OK(ctx, kcl_tensor_read(x, got, 3));
    for (int i = 0; i < 3; i++)
        assert_true(fabs(got[i] - (x0[i] - 1.3 * g[i])) < 1e-6);
    assert_true(fabs(kcl_optimizer_learning_rate(opt) - 0.1) < 1e-8);   /* 0.4 * 0.5^floor(5/2) */
    kcl_tensor_free(x);
    kcl_tensor_free(gt);
    kcl_optimizer_free(opt);
}

/* ----------------------------------------------------- names and settings -- */

static void test_by_name(void **state)
{
    kcl_context *ctx = *state;
    const struct {
        const char *name;
        kcl_optimizer_kind kind;
        float lr;
    } known[] = {
        {"sgd", KCL_OPTIMIZER_SGD, 0.01f},          {"SGD", KCL_OPTIMIZER_SGD, 0.01f},
        {"adam", KCL_OPTIMIZER_ADAM, 0.001f},       {"Adam", KCL_OPTIMIZER_ADAM, 0.001f},
        {"adamw", KCL_OPTIMIZER_ADAMW, 0.001f},     {"AdamW", KCL_OPTIMIZER_ADAMW, 0.001f},
        {"rmsprop", KCL_OPTIMIZER_RMSPROP, 0.001f}, {"RMSprop", KCL_OPTIMIZER_RMSPROP, 0.001f},
        {"adagrad", KCL_OPTIMIZER_ADAGRAD, 0.001f}, {"Adagrad", KCL_OPTIMIZER_ADAGRAD, 0.001f},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        kcl_optimizer_config c;
        CHECK_OK(ctx, kcl_optimizer_by_name(ctx, known[i].name, &c));
        assert_int_equal(c.kind, known[i].kind);
        assert_true(c.learning_rate == known[i].lr);
        assert_true(c.epsilon == 1e-7f);
        assert_true(c.weight_decay == (known[i].kind == KCL_OPTIMIZER_ADAMW ? 0.004f : 0.0f));
        assert_true(c.clipnorm == 0 && c.clipvalue == 0 && c.global_clipnorm == 0);
    }
    kcl_optimizer_config c;
    assert_int_equal(kcl_optimizer_by_name(ctx, "nadam", &c), KCL_ERR_NAME);
    assert_non_null(strstr(kcl_errmsg(ctx), "nadam"));
    assert_non_null(strstr(kcl_errmsg(ctx), "rmsprop"));   /* lists the valid names */
    assert_int_equal(kcl_optimizer_by_name(ctx, NULL, &c), KCL_ERR_ARGUMENT);
}

static void test_config_defaults(void **state)
{
    kcl_context *ctx = *state;
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, NULL, &opt));      /* NULL: RMSprop */
    const kcl_optimizer_config *c = kcl_optimizer_get_config(opt);
    assert_int_equal(c->kind, KCL_OPTIMIZER_RMSPROP);
    assert_true(c->learning_rate == 0.001f && c->rho == 0.9f && c->epsilon == 1e-7f);
    kcl_optimizer_free(opt);
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &kcl_adamw(), &opt));
    c = kcl_optimizer_get_config(opt);
    assert_true(c->beta_1 == 0.9f && c->beta_2 == 0.999f && c->weight_decay == 0.004f);
    kcl_optimizer_free(opt);
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &kcl_adagrad(), &opt));
    assert_true(kcl_optimizer_get_config(opt)->initial_accumulator_value == 0.1f);
    kcl_optimizer_free(opt);
    /* the piecewise arrays are copied: the caller's may go away */
    int64_t boundaries[1] = {3};
    float values[2] = {0.5f, 0.25f};
    kcl_schedule pw = {.kind = KCL_SCHEDULE_PIECEWISE_CONSTANT, .n_boundaries = 1,
                       .boundaries = boundaries, .values = values};
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &kcl_sgd(.schedule = pw), &opt));
    boundaries[0] = 100;
    values[1] = 9;
    assert_true(lr_at(ctx, opt, 4) == 0.25f);
    assert_true(kcl_optimizer_get_config(opt)->schedule.values[1] == 0.25f);
    kcl_optimizer_free(opt);
}

static void test_set_learning_rate(void **state)
{
    kcl_context *ctx = *state;
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &kcl_sgd(), &opt));
    assert_true(kcl_optimizer_learning_rate(opt) == 0.01f);
    CHECK_OK(ctx, kcl_optimizer_set_learning_rate(opt, 0.5f));
    assert_true(kcl_optimizer_learning_rate(opt) == 0.5f);
    assert_true(kcl_optimizer_get_config(opt)->learning_rate == 0.5f);
    /* the next step uses it */
    const float x0[2] = {1, -2}, g[2] = {0.25f, 1};
    int64_t shape[1] = {2};
    kcl_tensor *x, *gt;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, x0, &x));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, shape, g, &gt));
    CHECK_OK(ctx, kcl_optimizer_apply(opt, 1, &x, &gt));
    float got[2];
    CHECK_OK(ctx, kcl_tensor_read(x, got, 2));
    assert_true(got[0] == 0.875f && got[1] == -2.5f);
    assert_int_equal(kcl_optimizer_set_learning_rate(opt, -1.0f), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_optimizer_set_learning_rate(opt, NAN), KCL_ERR_ARGUMENT);
    CHECK_OK(ctx, kcl_optimizer_set_learning_rate(opt, 0.0f));   /* 0 is a rate here */
    assert_true(kcl_optimizer_learning_rate(opt) == 0.0f);
    kcl_optimizer_free(opt);
    kcl_schedule cos_s = {.kind = KCL_SCHEDULE_COSINE_DECAY, .decay_steps = 10};
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &kcl_sgd(.schedule = cos_s), &opt));
    assert_int_equal(kcl_optimizer_set_learning_rate(opt, 0.5f), KCL_ERR_STATE);
    assert_non_null(strstr(kcl_errmsg(ctx), "schedule"));
    kcl_optimizer_free(opt);
    kcl_tensor_free(x);
    kcl_tensor_free(gt);
}

/* The slots each kind lists, in order, created on first sight and kept. */
static void test_slots(void **state)
{
    kcl_context *ctx = *state;
    const struct {
        kcl_optimizer_config config;
        const char *names[3];
        float init;
    } kinds[] = {
        {kcl_sgd(), {NULL}, 0},
        {kcl_sgd(.momentum = 0.5f), {"momentum"}, 0},
        {kcl_adam(), {"m", "v"}, 0},
        {kcl_adam(.amsgrad = 1), {"m", "v", "vhat"}, 0},
        {kcl_adamw(.amsgrad = 1), {"m", "v", "vhat"}, 0},
        {kcl_rmsprop(), {"ms"}, 0},
        {kcl_rmsprop(.centered = 1), {"ms", "mg"}, 0},
        {kcl_rmsprop(.centered = 1, .momentum = 0.9f), {"ms", "momentum", "mg"}, 0},
        {kcl_adagrad(), {"accumulator"}, 0.1f},
        {kcl_adagrad(.initial_accumulator_value = 2), {"accumulator"}, 2},
    };
    int64_t shape[2] = {2, 2};
    kcl_tensor *x, *g;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, shape, &x));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, shape, &g));
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        kcl_optimizer *opt;
        CHECK_OK(ctx, kcl_optimizer_create(ctx, &kinds[k].config, &opt));
        size_t n, want = 0;
        const char *const *names;
        kcl_tensor *const *slots;
        CHECK_OK(ctx, kcl_optimizer_slots(opt, x, &n, &names, &slots));
        while (want < 3 && kinds[k].names[want])
            want++;
        assert_int_equal(n, want);
        for (size_t j = 0; j < n; j++) {
            assert_string_equal(names[j], kinds[k].names[j]);
            assert_int_equal(kcl_tensor_rank(slots[j]), 2);
            float v[4];
            CHECK_OK(ctx, kcl_tensor_read(slots[j], v, 4));
            for (int i = 0; i < 4; i++)
                assert_true(v[i] == (strcmp(names[j], "accumulator") ? 0.0f : kinds[k].init));
        }
        kcl_tensor *first = n ? slots[0] : NULL;
        CHECK_OK(ctx, kcl_optimizer_apply(opt, 1, &x, &g));   /* the same slots go on */
        CHECK_OK(ctx, kcl_optimizer_slots(opt, x, &n, &names, &slots));
        assert_int_equal(n, want);
        assert_ptr_equal(n ? slots[0] : NULL, first);
        kcl_optimizer_free(opt);
    }
    kcl_tensor_free(x);
    kcl_tensor_free(g);
}

/* The optimizer keeps its variables' state alive when the caller frees them first. */
static void test_variable_freed_first(void **state)
{
    kcl_context *ctx = *state;
    int64_t shape[1] = {3};
    kcl_tensor *x, *g;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, shape, &x));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, shape, &g));
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &kcl_adam(), &opt));
    CHECK_OK(ctx, kcl_optimizer_apply(opt, 1, &x, &g));
    kcl_tensor_free(x);
    kcl_tensor_free(g);
    kcl_optimizer_free(opt);
}

static void test_iterations(void **state)
{
    kcl_context *ctx = *state;
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &kcl_sgd(), &opt));
    assert_int_equal(kcl_optimizer_iterations(opt), 0);
    int64_t shape[1] = {2};
    kcl_tensor *x, *g;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, shape, &x));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, shape, &g));
    CHECK_OK(ctx, kcl_optimizer_apply(opt, 1, &x, &g));
    CHECK_OK(ctx, kcl_optimizer_apply(opt, 1, &x, &g));
    assert_int_equal(kcl_optimizer_iterations(opt), 2);
    CHECK_OK(ctx, kcl_optimizer_apply(opt, 0, NULL, NULL));   /* a no-op, as Keras' apply([]) */
    assert_int_equal(kcl_optimizer_iterations(opt), 2);
    CHECK_OK(ctx, kcl_optimizer_set_iterations(opt, 1000));
    assert_int_equal(kcl_optimizer_iterations(opt), 1000);
    assert_int_equal(kcl_optimizer_set_iterations(opt, -1), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_optimizer_iterations(opt), 1000);
    assert_int_equal(kcl_optimizer_iterations(NULL), -1);
    kcl_optimizer_free(opt);
    kcl_optimizer_free(NULL);
    kcl_tensor_free(x);
    kcl_tensor_free(g);
}

/* ----------------------------------------------------------------- errors -- */

static void test_apply_errors(void **state)
{
    kcl_context *ctx = *state;
    kcl_optimizer *opt;
    CHECK_OK(ctx, kcl_optimizer_create(ctx, &kcl_adam(), &opt));
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
    kcl_tensor *x, *g;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s23, &x));
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, s32, &g));
    assert_int_equal(kcl_optimizer_apply(opt, 1, &x, &g), KCL_ERR_SHAPE);
    assert_non_null(strstr(kcl_errmsg(ctx), "[2, 3]"));
    assert_non_null(strstr(kcl_errmsg(ctx), "[3, 2]"));
    kcl_tensor *none = NULL;
    assert_int_equal(kcl_optimizer_apply(opt, 1, &x, &none), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_optimizer_apply(opt, 1, NULL, &g), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_optimizer_apply(NULL, 1, &x, &g), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_optimizer_iterations(opt), 0);   /* failed steps do not count */
    kcl_optimizer_free(opt);
    kcl_tensor_free(x);
    kcl_tensor_free(g);
}

static void test_invalid_configs(void **state)
{
    kcl_context *ctx = *state;
    const int64_t b2[2] = {5, 5};
    const float v3[3] = {1, 2, 3}, vneg[2] = {1, -1};
    const int64_t b1[1] = {5};
    const struct {
        kcl_optimizer_config config;
        const char *mentions;
    } bad[] = {
        {kcl_sgd(.learning_rate = -0.1f), "learning_rate"},
        {kcl_sgd(.learning_rate = NAN), "learning_rate"},
        {kcl_adam(.beta_1 = 1.0f), "beta_1"},
        {kcl_adam(.beta_1 = -0.5f), "beta_1"},
        {kcl_adamw(.beta_2 = 1.5f), "beta_2"},
        {kcl_adam(.epsilon = -1e-7f), "epsilon"},
        {kcl_sgd(.momentum = 1.5f), "momentum"},
        {kcl_rmsprop(.momentum = -0.1f), "momentum"},
        {kcl_rmsprop(.rho = 1.0f), "rho"},
        {kcl_adamw(.weight_decay = -0.1f), "weight_decay"},
        {kcl_adagrad(.initial_accumulator_value = -1), "initial_accumulator_value"},
        {{.kind = (kcl_optimizer_kind)99}, "kind"},
        {{.kind = (kcl_optimizer_kind)-1}, "kind"},
        {kcl_sgd(.clipnorm = 1, .clipvalue = 1), "only one"},
        {kcl_sgd(.clipnorm = 1, .global_clipnorm = 1), "only one"},
        {kcl_sgd(.clipvalue = 1, .global_clipnorm = 1), "only one"},
        {kcl_sgd(.clipnorm = -1), "clipnorm"},
        {kcl_sgd(.clipvalue = -1), "clipvalue"},
        {kcl_sgd(.global_clipnorm = -1), "global_clipnorm"},
        {kcl_sgd(.schedule = {.kind = (kcl_schedule_kind)42}), "schedule kind"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_EXPONENTIAL_DECAY, .decay_rate = 0.5f}),
         "decay_steps"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_EXPONENTIAL_DECAY, .decay_steps = 10}),
         "decay_rate"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_COSINE_DECAY, .decay_steps = -3}),
         "decay_steps"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_COSINE_DECAY, .decay_steps = 3,
                              .alpha = 1.5f}), "alpha"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_COSINE_DECAY, .decay_steps = 3,
                              .warmup_target = 1, .warmup_steps = -1}), "warmup_steps"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_COSINE_DECAY, .decay_steps = 3,
                              .initial_learning_rate = -1}), "initial_learning_rate"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_PIECEWISE_CONSTANT, .n_boundaries = 1,
                              .boundaries = b1}), "values NULL"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_PIECEWISE_CONSTANT, .n_boundaries = 1,
                              .values = v3}), "boundaries NULL"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_PIECEWISE_CONSTANT, .n_boundaries = 0,
                              .boundaries = b1, .values = v3}), "n = 0"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_PIECEWISE_CONSTANT, .n_boundaries = 2,
                              .boundaries = b2, .values = v3}), "increase"},
        {kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_PIECEWISE_CONSTANT, .n_boundaries = 1,
                              .boundaries = b1, .values = vneg}), "values"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kcl_optimizer *opt = (kcl_optimizer *)&opt;
        kcl_status st = kcl_optimizer_create(ctx, &bad[i].config, &opt);
        if (st != KCL_ERR_ARGUMENT)
            fail_msg("case %zu: %s, want KCL_ERR_ARGUMENT (%s)", i, kcl_status_name(st),
                     bad[i].mentions);
        assert_null(opt);
        if (!strstr(kcl_errmsg(ctx), bad[i].mentions))
            fail_msg("case %zu: message \"%s\" does not mention \"%s\"", i, kcl_errmsg(ctx),
                     bad[i].mentions);
    }
    kcl_optimizer *opt;
    assert_int_equal(kcl_optimizer_create(ctx, &kcl_sgd(), NULL), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_optimizer_create(NULL, &kcl_sgd(), &opt), KCL_ERR_ARGUMENT);
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
        cmocka_unit_test(test_optimizers_against_reference),
        cmocka_unit_test(test_optimizers_against_keras),
        cmocka_unit_test(test_many_variables),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_schedule_in_steps),
        cmocka_unit_test(test_by_name),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_set_learning_rate),
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_variable_freed_first),
        cmocka_unit_test(test_iterations),
        cmocka_unit_test(test_apply_errors),
        cmocka_unit_test(test_invalid_configs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
