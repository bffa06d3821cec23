/* optimizers.c: Keras 3's optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) and
 * learning-rate schedules, updating variables in place on the device
 * (cl/optimizer.cl).
 *
 * The host knows the iteration count, so it evaluates the schedule and Adam's
 * bias correction itself and passes them to the kernel: a step never reads
 * from the device. Norm clipping needs the gradients' norms; they are reduced
 * on the device and their buffers handed to the update kernel, which derives
 * the scale there. Updates are in-place kernels, not ops: tapes never record
 * them (only those norm reductions are ordinary ops).
 *
 * The optimizer holds a reference on each variable it has seen, released by
 * kcl_optimizer_free, which must therefore come before kcl_context_free. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Mirrors kcl_opt_params in cl/optimizer.cl. */
typedef struct opt_params {
    cl_float lr;
    cl_float weight_decay;
    cl_float beta_1, beta_2;
    cl_float alpha;
    cl_float epsilon;
    cl_float momentum;
    cl_float rho;
    cl_float clip;
    cl_int clip_mode;
    cl_int flags;
    cl_int unused;
} opt_params;

enum { CLIP_NONE, CLIP_VALUE, CLIP_NORM, CLIP_GLOBAL_NORM };
enum { F_MOMENTUM = 1, F_NESTEROV = 2, F_AMSGRAD = 4, F_CENTERED = 8 };

#define SLOTS_MAX 3

/* What each kind is: Keras' names, its kernel, its default learning rate and
 * its slots by kernel position (NULL: no such slot). */
typedef struct kind_info {
    const char *name;            /* keras.optimizers.get is case-insensitive */
    const char *kernel;
    float learning_rate;
    const char *slots[SLOTS_MAX];
} kind_info;

static const kind_info kinds[KCL_OPTIMIZER_KIND_COUNT_] = {
    [KCL_OPTIMIZER_SGD] = {"sgd", "sgd_update", 0.01f, {"momentum", NULL, NULL}},
    [KCL_OPTIMIZER_ADAM] = {"adam", "adam_update", 0.001f, {"m", "v", "vhat"}},
    [KCL_OPTIMIZER_ADAMW] = {"adamw", "adam_update", 0.001f, {"m", "v", "vhat"}},
    [KCL_OPTIMIZER_RMSPROP] = {"rmsprop", "rmsprop_update", 0.001f, {"ms", "momentum", "mg"}},
    [KCL_OPTIMIZER_ADAGRAD] = {"adagrad", "adagrad_update", 0.001f, {"accumulator", NULL, NULL}},
};

/* One variable's state, found by the variable tensor it holds a reference on
 * (so the key stays valid). Allocated one by one: kcl_optimizer_slots hands out
 * pointers into it. */
typedef struct var_state {
    kcl_tensor *var;
    kcl_tensor *slot[SLOTS_MAX];         /* by kernel position; NULL where unused */
    size_t n_listed;                     /* the slots in use, in order, for listing */
    const char *listed_names[SLOTS_MAX];
    kcl_tensor *listed[SLOTS_MAX];
} var_state;

struct kcl_optimizer {
    kcl_context *ctx;
    kcl_optimizer_config config;         /* resolved: defaults filled in */
    int64_t *boundaries;                 /* the piecewise schedule's copies */
    float *values;
    int64_t iterations;
    var_state **vars;
    size_t n_vars, cap_vars;
};

/* -------------------------------------------------------------- the config -- */

/* Fails unless lo <= v <= hi (or v < hi when hi_open); NaN fails too. */
static kcl_status check_range(kcl_context *ctx, const char *what, float v, double lo, double hi,
                              bool hi_open)
{
    if (v >= lo && (hi_open ? v < hi : v <= hi))
        return KCL_OK;
    return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_optimizer_create: %s = %g is outside [%g, %g%s",
                     what, (double)v, lo, hi, hi_open ? ")" : "]");
}

static kcl_status check_nonnegative(kcl_context *ctx, const char *what, float v)
{
    return check_range(ctx, what, v, 0.0, INFINITY, true);
}

static float or_default(float v, float def) { return v != 0.0f ? v : def; }

static kcl_status check_piecewise(kcl_context *ctx, const kcl_schedule *s)
{
    if (s->n_boundaries == 0 || !s->boundaries || !s->values)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "kcl_optimizer_create: piecewise constant schedule needs n_boundaries "
                         ">= 1, boundaries[n] and values[n + 1] (got n = %zu, boundaries %s, "
                         "values %s)", s->n_boundaries, s->boundaries ? "set" : "NULL",
                         s->values ? "set" : "NULL");
    for (size_t i = 1; i < s->n_boundaries; i++)
        if (s->boundaries[i] <= s->boundaries[i - 1])
            return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                             "kcl_optimizer_create: piecewise boundaries must increase strictly: "
                             "boundaries[%zu] = %lld after %lld", i, (long long)s->boundaries[i],
                             (long long)s->boundaries[i - 1]);
    for (size_t i = 0; i <= s->n_boundaries; i++) {
        kcl_status st = check_nonnegative(ctx, "piecewise values[i]", s->values[i]);
        if (st)
            return st;
    }
    return KCL_OK;
}

static kcl_status check_exponential(kcl_context *ctx, const kcl_schedule *s)
{
    if (s->decay_rate > 0.0f && isfinite(s->decay_rate))
        return KCL_OK;
    return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                     "kcl_optimizer_create: exponential decay needs decay_rate > 0, got %g",
                     (double)s->decay_rate);
}

static kcl_status check_cosine(kcl_context *ctx, const kcl_schedule *s)
{
    kcl_status st = check_range(ctx, "cosine alpha", s->alpha, 0.0, 1.0, false);
    if (!st)
        st = check_nonnegative(ctx, "cosine warmup_target", s->warmup_target);
    if (!st && s->warmup_steps < 0)
        st = kcl__fail(ctx, KCL_ERR_ARGUMENT,
                       "kcl_optimizer_create: cosine warmup_steps must be >= 0, got %lld",
                       (long long)s->warmup_steps);
    return st;
}

/* Checks the schedule and fills its defaults: an initial_learning_rate of 0
 * means the optimizer's learning rate, except for a cosine decay with warmup,
 * where 0 is where the warmup starts (as in Keras' own example). */
static kcl_status resolve_schedule(kcl_context *ctx, kcl_schedule *s, float lr)
{
    if ((unsigned)s->kind > KCL_SCHEDULE_COSINE_DECAY)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_optimizer_create: unknown schedule kind %d",
                         (int)s->kind);
    if (s->kind == KCL_SCHEDULE_NONE)
        return KCL_OK;
    if (s->kind == KCL_SCHEDULE_PIECEWISE_CONSTANT)
        return check_piecewise(ctx, s);
    if (s->decay_steps <= 0)   /* Keras: "Argument `decay_steps` must be > 0" */
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "kcl_optimizer_create: schedule decay_steps must be > 0, got %lld",
                         (long long)s->decay_steps);
    kcl_status st = check_nonnegative(ctx, "schedule initial_learning_rate",
                                      s->initial_learning_rate);
    if (st)
        return st;
    bool warmup = s->kind == KCL_SCHEDULE_COSINE_DECAY && s->warmup_target != 0.0f;
    if (!warmup && s->initial_learning_rate == 0.0f)
        s->initial_learning_rate = lr;
    return s->kind == KCL_SCHEDULE_EXPONENTIAL_DECAY ? check_exponential(ctx, s)
                                                     : check_cosine(ctx, s);
}

/* Keras raises when more than one of the three is set. */
static kcl_status check_clipping(kcl_context *ctx, const kcl_optimizer_config *c)
{
    kcl_status st = check_nonnegative(ctx, "clipnorm", c->clipnorm);
    if (!st)
        st = check_nonnegative(ctx, "clipvalue", c->clipvalue);
    if (!st)
        st = check_nonnegative(ctx, "global_clipnorm", c->global_clipnorm);
    if (!st && (c->clipnorm > 0) + (c->clipvalue > 0) + (c->global_clipnorm > 0) > 1)
        st = kcl__fail(ctx, KCL_ERR_ARGUMENT,
                       "kcl_optimizer_create: only one of clipnorm, clipvalue and "
                       "global_clipnorm can be set (got %g, %g, %g)", (double)c->clipnorm,
                       (double)c->clipvalue, (double)c->global_clipnorm);
    return st;
}

/* The hyperparameters of the kind, defaults filled in, then checked. */
static kcl_status resolve_hyper(kcl_context *ctx, kcl_optimizer_config *c)
{
    c->beta_1 = or_default(c->beta_1, 0.9f);
    c->beta_2 = or_default(c->beta_2, 0.999f);
    c->epsilon = or_default(c->epsilon, 1e-7f);
    c->rho = or_default(c->rho, 0.9f);
    c->initial_accumulator_value = or_default(c->initial_accumulator_value, 0.1f);
    if (c->kind == KCL_OPTIMIZER_ADAMW)
        c->weight_decay = or_default(c->weight_decay, 0.004f);
    kcl_status st = check_range(ctx, "beta_1", c->beta_1, 0.0, 1.0, true);
    if (!st)
        st = check_range(ctx, "beta_2", c->beta_2, 0.0, 1.0, true);
    if (!st)
        st = check_nonnegative(ctx, "epsilon", c->epsilon);
    if (!st)   /* Keras' SGD: "`momentum` must be a float between [0, 1]" */
        st = check_range(ctx, "momentum", c->momentum, 0.0, 1.0, false);
    if (!st)
        st = check_range(ctx, "rho", c->rho, 0.0, 1.0, true);
    if (!st)
        st = check_nonnegative(ctx, "weight_decay", c->weight_decay);
    if (!st)
        st = check_nonnegative(ctx, "initial_accumulator_value", c->initial_accumulator_value);
    return st ? st : check_clipping(ctx, c);
}

/* The config with every default filled in, or KCL_ERR_ARGUMENT saying what is wrong. */
static kcl_status resolve(kcl_context *ctx, const kcl_optimizer_config *in,
                          kcl_optimizer_config *out)
{
    *out = in ? *in : (kcl_optimizer_config){0};
    if ((unsigned)out->kind >= KCL_OPTIMIZER_KIND_COUNT_)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_optimizer_create: unknown optimizer kind %d",
                         (int)out->kind);
    if (out->kind == KCL_OPTIMIZER_DEFAULT)
        out->kind = KCL_OPTIMIZER_RMSPROP;
    kcl_status st = check_nonnegative(ctx, "learning_rate", out->learning_rate);
    if (st)
        return st;
    out->learning_rate = or_default(out->learning_rate, kinds[out->kind].learning_rate);
    if ((st = resolve_schedule(ctx, &out->schedule, out->learning_rate)))
        return st;
    return resolve_hyper(ctx, out);
}

static bool same_name_any_case(const char *a, const char *b)
{
    while (*a && tolower((unsigned char)*a) == tolower((unsigned char)*b))
        a++, b++;
    return *a == *b;
}

kcl_status kcl_optimizer_by_name(kcl_context *ctx, const char *name, kcl_optimizer_config *out)
{
    if (!name || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_optimizer_by_name: NULL argument");
    for (int k = KCL_OPTIMIZER_SGD; k < KCL_OPTIMIZER_KIND_COUNT_; k++)
        if (same_name_any_case(name, kinds[k].name))
            return resolve(ctx, &(kcl_optimizer_config){.kind = (kcl_optimizer_kind)k}, out);
    return kcl__fail(ctx, KCL_ERR_NAME,
                     "kcl_optimizer_by_name: unknown optimizer \"%s\"; valid names: sgd, adam, "
                     "adamw, rmsprop, adagrad (any case)", name);
}

/* -------------------------------------------------------------- schedules -- */

static const double pi = 3.14159265358979323846;

static double cosine_decay(double step, double decay_steps, double from, double alpha)
{
    double cosine = 0.5 * (1.0 + cos(pi * (step / decay_steps)));
    return from * ((1.0 - alpha) * cosine + alpha);
}

/* keras.optimizers.schedules.CosineDecay.__call__. */
static double cosine_schedule(const kcl_schedule *s, double step)
{
    double decay_steps = (double)s->decay_steps, lr0 = s->initial_learning_rate;
    if (s->warmup_target == 0.0f)
        return cosine_decay(fmin(step, decay_steps), decay_steps, lr0, s->alpha);
    double warmup_steps = (double)s->warmup_steps, target = s->warmup_target;
    step = fmin(step, decay_steps + warmup_steps);
    if (step < warmup_steps)
        return (target - lr0) * (step / warmup_steps) + lr0;
    return cosine_decay(step - warmup_steps, decay_steps, target, s->alpha);
}

/* PiecewiseConstantDecay: values[0] while step <= boundaries[0], values[i]
 * while boundaries[i-1] < step <= boundaries[i], values[n] after the last. */
static double piecewise_schedule(const kcl_schedule *s, int64_t step)
{
    size_t i = 0;
    while (i < s->n_boundaries && step > s->boundaries[i])
        i++;
    return s->values[i];
}

static double schedule_value(const kcl_optimizer_config *c, int64_t step)
{
    const kcl_schedule *s = &c->schedule;
    switch (s->kind) {
    case KCL_SCHEDULE_EXPONENTIAL_DECAY: {
        double p = (double)step / (double)s->decay_steps;
        return s->initial_learning_rate * pow(s->decay_rate, s->staircase ? floor(p) : p);
    }
    case KCL_SCHEDULE_PIECEWISE_CONSTANT:
        return piecewise_schedule(s, step);
    case KCL_SCHEDULE_COSINE_DECAY:
        return cosine_schedule(s, (double)step);
    default:
        return c->learning_rate;
    }
}

/* -------------------------------------------------------------- lifecycle -- */

/* Keeps the optimizer's own copies of the piecewise arrays. */
static kcl_status copy_piecewise(kcl_optimizer *opt)
{
    kcl_schedule *s = &opt->config.schedule;
    if (s->kind != KCL_SCHEDULE_PIECEWISE_CONSTANT)
        return KCL_OK;
    opt->boundaries = malloc(s->n_boundaries * sizeof *opt->boundaries);
    opt->values = malloc((s->n_boundaries + 1) * sizeof *opt->values);
    if (!opt->boundaries || !opt->values)
        return kcl__fail(opt->ctx, KCL_ERR_MEMORY, "kcl_optimizer_create: out of host memory");
    memcpy(opt->boundaries, s->boundaries, s->n_boundaries * sizeof *opt->boundaries);
    memcpy(opt->values, s->values, (s->n_boundaries + 1) * sizeof *opt->values);
    s->boundaries = opt->boundaries;
    s->values = opt->values;
    return KCL_OK;
}

kcl_status kcl_optimizer_create(kcl_context *ctx, const kcl_optimizer_config *config,
                                kcl_optimizer **out)
{
    if (!ctx || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_optimizer_create: NULL argument");
    *out = NULL;
    kcl_optimizer_config resolved;
    kcl_status st = resolve(ctx, config, &resolved);
    if (st)
        return st;
    kcl_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_optimizer_create: out of host memory");
    opt->ctx = ctx;
    opt->config = resolved;
    if ((st = copy_piecewise(opt))) {
        kcl_optimizer_free(opt);
        return st;
    }
    *out = opt;
    return KCL_OK;
}

static void var_state_free(var_state *s)
{
    if (!s)
        return;
    for (int k = 0; k < SLOTS_MAX; k++)
        kcl_tensor_free(s->slot[k]);
    kcl_tensor_free(s->var);
    free(s);
}

void kcl_optimizer_free(kcl_optimizer *opt)
{
    if (!opt)
        return;
    for (size_t i = 0; i < opt->n_vars; i++)
        var_state_free(opt->vars[i]);
    free(opt->vars);
    free(opt->boundaries);
    free(opt->values);
    free(opt);
}

int64_t kcl_optimizer_iterations(const kcl_optimizer *opt) { return opt ? opt->iterations : -1; }

float kcl_optimizer_learning_rate(const kcl_optimizer *opt)
{
    return opt ? (float)schedule_value(&opt->config, opt->iterations) : 0.0f;
}

kcl_status kcl_optimizer_set_learning_rate(kcl_optimizer *opt, float learning_rate)
{
    if (!opt)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_optimizer_set_learning_rate: NULL optimizer");
    if (opt->config.schedule.kind != KCL_SCHEDULE_NONE)
        return kcl__fail(opt->ctx, KCL_ERR_STATE,
                         "kcl_optimizer_set_learning_rate: the learning rate follows a schedule "
                         "and cannot be set (create the optimizer with a constant rate)");
    if (!(learning_rate >= 0.0f && isfinite(learning_rate)))
        return kcl__fail(opt->ctx, KCL_ERR_ARGUMENT,
                         "kcl_optimizer_set_learning_rate: learning_rate = %g must be >= 0",
                         (double)learning_rate);
    opt->config.learning_rate = learning_rate;
    return KCL_OK;
}

const kcl_optimizer_config *kcl_optimizer_get_config(const kcl_optimizer *opt)
{
    return opt ? &opt->config : NULL;
}

kcl_status kcl_optimizer_set_iterations(kcl_optimizer *opt, int64_t iterations)
{
    if (!opt)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_optimizer_set_iterations: NULL optimizer");
    if (iterations < 0)
        return kcl__fail(opt->ctx, KCL_ERR_ARGUMENT,
                         "kcl_optimizer_set_iterations: iterations = %lld must be >= 0",
                         (long long)iterations);
    opt->iterations = iterations;
    return KCL_OK;
}

/* ------------------------------------------------------------------ slots -- */

/* Whether the kind uses its slot at kernel position k, as Keras' build() decides. */
static bool slot_used(const kcl_optimizer_config *c, int k)
{
    switch (c->kind) {
    case KCL_OPTIMIZER_SGD:
        return k == 0 && c->momentum != 0.0f;
    case KCL_OPTIMIZER_ADAM:
    case KCL_OPTIMIZER_ADAMW:
        return k < 2 || c->amsgrad;
    case KCL_OPTIMIZER_RMSPROP:
        return k == 0 || (k == 1 && c->momentum > 0.0f) || (k == 2 && c->centered);
    default:
        return k == 0;
    }
}

static kcl_status new_slot(kcl_optimizer *opt, const kcl_tensor *var, kcl_tensor **out)
{
    float init = opt->config.kind == KCL_OPTIMIZER_ADAGRAD
                     ? opt->config.initial_accumulator_value : 0.0f;
    kcl_status st = kcl__tensor_new(opt->ctx, var->rank, var->shape, out);
    if (!st && (st = kcl__fill(*out, init))) {
        kcl_tensor_free(*out);
        *out = NULL;
    }
    return st;
}

static kcl_status state_create(kcl_optimizer *opt, kcl_tensor *var, var_state **out)
{
    if (opt->n_vars == opt->cap_vars) {
        size_t cap = opt->cap_vars ? 2 * opt->cap_vars : 16;
        var_state **grown = realloc(opt->vars, cap * sizeof *grown);
        if (!grown)
            return kcl__fail(opt->ctx, KCL_ERR_MEMORY, "kcl_optimizer_apply: out of host memory");
        opt->vars = grown;
        opt->cap_vars = cap;
    }
    var_state *s = calloc(1, sizeof *s);
    if (!s)
        return kcl__fail(opt->ctx, KCL_ERR_MEMORY, "kcl_optimizer_apply: out of host memory");
    for (int k = 0; k < SLOTS_MAX; k++) {
        if (!slot_used(&opt->config, k))
            continue;
        kcl_status st = new_slot(opt, var, &s->slot[k]);
        if (st) {
            var_state_free(s);
            return st;
        }
        s->listed_names[s->n_listed] = kinds[opt->config.kind].slots[k];
        s->listed[s->n_listed++] = s->slot[k];
    }
    s->var = kcl__tensor_retain(var);
    opt->vars[opt->n_vars++] = s;
    *out = s;
    return KCL_OK;
}

/* The variable's state, created (slots initialised on the device) on first sight. */
static kcl_status state_of(kcl_optimizer *opt, kcl_tensor *var, var_state **out)
{
    for (size_t i = 0; i < opt->n_vars; i++)
        if (opt->vars[i]->var == var) {
            *out = opt->vars[i];
            return KCL_OK;
        }
    return state_create(opt, var, out);
}

kcl_status kcl_optimizer_slots(kcl_optimizer *opt, kcl_tensor *var, size_t *n,
                               const char *const **names, kcl_tensor *const **slots)
{
    if (!opt || !var || !n || !names || !slots)
        return kcl__fail(opt ? opt->ctx : NULL, KCL_ERR_ARGUMENT,
                         "kcl_optimizer_slots: NULL argument");
    if (var->ctx != opt->ctx)
        return kcl__fail(opt->ctx, KCL_ERR_ARGUMENT,
                         "kcl_optimizer_slots: variable %s is on another context",
                         kcl__shape_of(var));
    var_state *s;
    kcl_status st = state_of(opt, var, &s);
    if (st)
        return st;
    *n = s->n_listed;
    *names = s->listed_names;
    *slots = s->listed;
    return KCL_OK;
}

/* ------------------------------------------------------------------- step -- */

static kcl_status check_pair(kcl_optimizer *opt, size_t i, const kcl_tensor *var,
                             const kcl_tensor *grad)
{
    if (!var || !grad)
        return kcl__fail(opt->ctx, KCL_ERR_ARGUMENT,
                         "kcl_optimizer_apply: vars[%zu] or grads[%zu] is NULL", i, i);
    if (var->ctx != opt->ctx || grad->ctx != opt->ctx)
        return kcl__fail(opt->ctx, KCL_ERR_ARGUMENT,
                         "kcl_optimizer_apply: vars[%zu] or grads[%zu] is on another context",
                         i, i);
    if (var->rank != grad->rank ||
        memcmp(var->shape, grad->shape, (size_t)var->rank * sizeof *var->shape) != 0)
        return kcl__fail(opt->ctx, KCL_ERR_SHAPE,
                         "kcl_optimizer_apply: vars[%zu] has shape %s but grads[%zu] has %s", i,
                         kcl__shape_of(var), i, kcl__shape_of(grad));
    return KCL_OK;
}

/* This step's kernel parameters: the schedule's rate and Adam's bias
 * correction with t = iterations + 1, computed on the host. */
static opt_params step_params(const kcl_optimizer *opt)
{
    const kcl_optimizer_config *c = &opt->config;
    double lr = schedule_value(c, opt->iterations), t = (double)(opt->iterations + 1);
    opt_params p = {.lr = (cl_float)lr, .weight_decay = c->weight_decay, .beta_1 = c->beta_1,
                    .beta_2 = c->beta_2, .epsilon = c->epsilon, .momentum = c->momentum,
                    .rho = c->rho};
    p.alpha = (cl_float)(lr * sqrt(1.0 - pow(c->beta_2, t)) / (1.0 - pow(c->beta_1, t)));
    if (c->clipnorm > 0)
        p.clip_mode = CLIP_NORM, p.clip = c->clipnorm;
    else if (c->global_clipnorm > 0)
        p.clip_mode = CLIP_GLOBAL_NORM, p.clip = c->global_clipnorm;
    else if (c->clipvalue > 0)
        p.clip_mode = CLIP_VALUE, p.clip = c->clipvalue;
    if ((c->kind == KCL_OPTIMIZER_SGD && slot_used(c, 0)) ||
        (c->kind == KCL_OPTIMIZER_RMSPROP && slot_used(c, 1)))
        p.flags |= F_MOMENTUM;
    p.flags |= (c->nesterov ? F_NESTEROV : 0) | (c->amsgrad ? F_AMSGRAD : 0) |
               (c->centered ? F_CENTERED : 0);
    return p;
}

/* sum(g²) as a new scalar tensor, reduced on the device. */
static kcl_status sum_of_squares(kcl_tensor *g, kcl_tensor **out)
{
    kcl_tensor *sq;
    kcl_status st = kcl_square(g, &sq);
    if (st)
        return st;
    st = kcl_reduce_sum(sq, 0, NULL, 0, out);
    kcl_tensor_free(sq);
    return st;
}

/* The sum of squares of every non-empty gradient (NULL when all are empty). */
static kcl_status global_sum_of_squares(size_t n, kcl_tensor *const *grads, kcl_tensor **out)
{
    kcl_tensor *total = NULL;
    kcl_status st = KCL_OK;
    for (size_t i = 0; i < n && !st; i++) {
        kcl_tensor *s, *sum = NULL;
        if (grads[i]->size == 0)
            continue;
        if ((st = sum_of_squares(grads[i], &s)))
            break;
        if (!total) {
            total = s;
            continue;
        }
        st = kcl_add(total, s, &sum);
        kcl_tensor_free(s);
        kcl_tensor_free(total);
        total = st ? NULL : sum;
    }
    if (st) {
        kcl_tensor_free(total);
        total = NULL;
    }
    *out = total;
    return st;
}

/* Mirrors kcl_opt_segments in cl/optimizer.cl: the variables of one launch,
 * updated OPT_CHUNK elements per work-item (64 on CPUs, 1 elsewhere). */
#define SEGMENTS 8
#define OPT_CHUNK(ctx) ((ctx)->vector_loops ? 64 : 1)
typedef struct opt_segments {
    cl_ulong start[SEGMENTS + 1];
    cl_ulong ov[SEGMENTS], og[SEGMENTS];
    cl_ulong os[SLOTS_MAX][SEGMENTS];
    cl_int count;
    cl_int unused;
} opt_segments;

/* A launch being filled: its variables, their gradients and the norm the
 * clipping reads (NULL: none). */
typedef struct opt_batch {
    const var_state *state[SEGMENTS];
    const kcl_tensor *grad[SEGMENTS];
    const kcl_tensor *norm;
    int count;
} opt_batch;

/* One launch updates every variable of the batch. Unused buffer arguments
 * alias the first variable (never read). */
static kcl_status enqueue_batch(kcl_optimizer *opt, const opt_batch *b, const opt_params *p)
{
    opt_segments d = {.count = b->count};
    const kcl_tensor *first = b->state[0]->var;
    size_t chunks = 0;
    kcl_arg args[5 * SEGMENTS + 4];
    for (int s = 0; s < SEGMENTS; s++) {
        const var_state *vs = s < b->count ? b->state[s] : b->state[0];
        const kcl_tensor *g = s < b->count ? b->grad[s] : first;
        d.start[s + 1] = d.start[s] + (s < b->count ? (cl_ulong)vs->var->size : 0);
        chunks += (size_t)(d.start[s + 1] - d.start[s] + OPT_CHUNK(opt->ctx) - 1) /
                  OPT_CHUNK(opt->ctx);
        d.ov[s] = vs->var->offset;
        d.og[s] = g->offset;
        args[s] = KCL_MEM(vs->var);
        args[SEGMENTS + s] = KCL_MEM(g);
        for (int k = 0; k < SLOTS_MAX; k++) {
            const kcl_tensor *t = vs->slot[k] ? vs->slot[k] : vs->var;
            d.os[k][s] = t->offset;
            args[(2 + k) * SEGMENTS + s] = KCL_MEM(t);
        }
    }
    const kcl_tensor *norm = b->norm ? b->norm : first;
    cl_ulong on = norm->offset;
    args[5 * SEGMENTS] = KCL_MEM(norm);
    args[5 * SEGMENTS + 1] = KCL_ARG(on);
    args[5 * SEGMENTS + 2] = KCL_ARG(d);
    args[5 * SEGMENTS + 3] = KCL_ARG(*p);
    return kcl__enqueue(opt->ctx, "optimizer", kinds[opt->config.kind].kernel,
                        chunks, sizeof args / sizeof *args, args);
}

/* Everything a step needs before it changes a variable: each variable's
 * state (slots created on first sight) and the norms clipping reads. A
 * failure here (out of memory) leaves every variable as it was. */
static kcl_status prepare_step(kcl_optimizer *opt, size_t n, kcl_tensor *const *vars,
                               kcl_tensor *const *grads, const opt_params *p,
                               var_state **states, kcl_tensor **norms)
{
    kcl_status st = KCL_OK;
    if (p->clip_mode == CLIP_GLOBAL_NORM)
        st = global_sum_of_squares(n, grads, &norms[n]);
    for (size_t i = 0; i < n && !st; i++) {
        st = state_of(opt, vars[i], &states[i]);
        if (!st && p->clip_mode == CLIP_NORM && vars[i]->size)
            st = sum_of_squares(grads[i], &norms[i]);
    }
    return st;
}

/* Enqueues the updates: eight variables per launch, or one per launch when
 * each is clipped by its own norm. *applied counts the variables (in order)
 * whose update was enqueued. */
static kcl_status enqueue_step(kcl_optimizer *opt, size_t n, kcl_tensor *const *vars,
                               kcl_tensor *const *grads, const opt_params *p,
                               var_state *const *states, kcl_tensor *const *norms,
                               size_t *applied)
{
    opt_batch b = {.norm = norms[n]};
    kcl_status st = KCL_OK;
    *applied = 0;
    for (size_t i = 0; i < n && !st; i++) {
        if (vars[i]->size == 0)
            continue;
        if (norms[i]) {
            opt_batch one = {.state = {states[i]}, .grad = {grads[i]}, .norm = norms[i],
                             .count = 1};
            if (!(st = enqueue_batch(opt, &one, p)))
                *applied = i + 1;
            continue;
        }
        if (b.count == SEGMENTS) {
            if ((st = enqueue_batch(opt, &b, p)))
                break;
            b.count = 0;
            *applied = i;
        }
        b.state[b.count] = states[i];
        b.grad[b.count++] = grads[i];
    }
    if (!st && b.count > 0)
        st = enqueue_batch(opt, &b, p);
    if (!st)
        *applied = n;
    return st;
}

/* Prepares the step, then enqueues its updates. */
static kcl_status apply_step(kcl_optimizer *opt, size_t n, kcl_tensor *const *vars,
                             kcl_tensor *const *grads, const opt_params *p)
{
    var_state **states = calloc(n, sizeof *states);
    kcl_tensor **norms = calloc(n + 1, sizeof *norms);   /* per variable, then the global one */
    kcl_status st = states && norms ? KCL_OK
                                    : kcl__fail(opt->ctx, KCL_ERR_MEMORY,
                                                "kcl_optimizer_apply: out of host memory");
    if (!st)
        st = prepare_step(opt, n, vars, grads, p, states, norms);
    size_t applied = 0;
    if (!st)
        st = enqueue_step(opt, n, vars, grads, p, states, norms, &applied);
    /* Kernels already enqueued run regardless (OpenCL cannot withdraw them):
     * say which variables took the step, which the iteration count omits. */
    if (st && applied > 0)
        kcl__fail(opt->ctx, st, "kcl_optimizer_apply: step partly applied (variables 0..%zu of "
                  "%zu updated, the iteration not counted): %s", applied - 1, n,
                  kcl_errmsg(opt->ctx));
    /* the in-order queue runs the kernels before any reuse of the norms' buffers */
    for (size_t i = 0; norms && i <= n; i++)
        kcl_tensor_free(norms[i]);
    free(norms);
    free(states);
    return st;
}

kcl_status kcl_optimizer_apply(kcl_optimizer *opt, size_t n, kcl_tensor *const *vars,
                               kcl_tensor *const *grads)
{
    if (!opt)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_optimizer_apply: NULL optimizer");
    if (n == 0)
        return KCL_OK;   /* as Keras' apply([]): a no-op, not counted */
    if (!vars || !grads)
        return kcl__fail(opt->ctx, KCL_ERR_ARGUMENT, "kcl_optimizer_apply: NULL vars or grads");
    kcl_status st = KCL_OK;
    for (size_t i = 0; i < n && !st; i++)
        st = check_pair(opt, i, vars[i], grads[i]);
    opt_params p = step_params(opt);
    if (!st)
        st = apply_step(opt, n, vars, grads, &p);
    if (!st)
        opt->iterations++;
    return st;
}
