/* model_json.c: a model's architecture and compile settings as Keras-like
 * JSON (kcl_model_to_json), and a new model from it (kcl_model_from_json).
 *
 *   {"class_name": "Sequential" | "Functional",
 *    "config": {"name": ..., "layers": [{"class_name": "Dense", "config": {...}}, ...],
 *               Sequential: "build_input_shape": [null, 784]
 *               Functional: InputLayer entries, "inbound_nodes" per layer
 *                           ([[["layer", call, 0], ...], ...] as Keras 2), "input_layers",
 *                           "output_layers"},
 *    "compile_config": {"optimizer", "loss", "loss_weights", "metrics"}}   (when compiled)
 *
 * Layers are recreated through the public constructors and models through
 * kcl_sequential / kcl_functional, so every check they make applies to JSON
 * too. Whatever is malformed (unknown class, wrong type, bad reference) is
 * KCL_ERR_FORMAT naming the layer and field. Nested models are not supported:
 * kcl cannot yet hand an inner model's ownership to the outer one. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "serialize.h"
#include "train.h"

/* ------------------------------------------------------------------ names -- */

/* Activation names as static strings: layers keep the pointer they are given. */
static const char *const activation_names[] = {
    "relu", "leaky_relu", "relu6", "elu", "selu", "celu", "gelu", "sigmoid", "hard_sigmoid",
    "sparse_sigmoid", "log_sigmoid", "tanh", "hard_tanh", "tanh_shrink", "softmax",
    "log_softmax", "softplus", "softsign", "silu", "swish", "hard_silu", "hard_swish", "mish",
    "exponential", "linear", "glu", "soft_shrink", "hard_shrink", "sparse_plus", "squareplus",
    "threshold", "sparsemax",
};

/* The fields each initializer kind reads (kcl.h's kcl_init_kind). */
enum { I_VALUE = 1, I_MEAN_STDDEV = 2, I_MINMAX = 4, I_SCALING = 8, I_GAIN = 16, I_SEED = 32 };

static const struct {
    const char *class_name;      /* Keras' */
    unsigned fields;
} init_classes[KCL_INIT_KIND_COUNT_] = {
    [KCL_INIT_ZEROS] = {"Zeros", 0},
    [KCL_INIT_ONES] = {"Ones", 0},
    [KCL_INIT_CONSTANT] = {"Constant", I_VALUE},
    [KCL_INIT_RANDOM_NORMAL] = {"RandomNormal", I_MEAN_STDDEV | I_SEED},
    [KCL_INIT_RANDOM_UNIFORM] = {"RandomUniform", I_MINMAX | I_SEED},
    [KCL_INIT_TRUNCATED_NORMAL] = {"TruncatedNormal", I_MEAN_STDDEV | I_SEED},
    [KCL_INIT_VARIANCE_SCALING] = {"VarianceScaling", I_SCALING | I_SEED},
    [KCL_INIT_GLOROT_NORMAL] = {"GlorotNormal", I_SEED},
    [KCL_INIT_GLOROT_UNIFORM] = {"GlorotUniform", I_SEED},
    [KCL_INIT_HE_NORMAL] = {"HeNormal", I_SEED},
    [KCL_INIT_HE_UNIFORM] = {"HeUniform", I_SEED},
    [KCL_INIT_LECUN_NORMAL] = {"LecunNormal", I_SEED},
    [KCL_INIT_LECUN_UNIFORM] = {"LecunUniform", I_SEED},
    [KCL_INIT_IDENTITY] = {"Identity", I_GAIN},
    [KCL_INIT_ORTHOGONAL] = {"Orthogonal", I_GAIN | I_SEED},
    [KCL_INIT_CUSTOM] = {"Custom", 0},
};

static const char *const fan_modes[] = {"fan_in", "fan_out", "fan_avg"};
static const char *const distributions[] = {"truncated_normal", "untruncated_normal", "uniform"};

static const char *const optimizer_classes[KCL_OPTIMIZER_KIND_COUNT_] = {
    [KCL_OPTIMIZER_DEFAULT] = "RMSprop", [KCL_OPTIMIZER_SGD] = "SGD",
    [KCL_OPTIMIZER_ADAM] = "Adam", [KCL_OPTIMIZER_ADAMW] = "AdamW",
    [KCL_OPTIMIZER_RMSPROP] = "RMSprop", [KCL_OPTIMIZER_ADAGRAD] = "Adagrad",
};

static const char *const schedule_classes[] = {
    NULL, "ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay",
};

static int find_name(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

#define COUNT_OF(a) (sizeof (a) / sizeof *(a))

/* ================================================================ writing == */

typedef struct writer {
    kcl_context *ctx;
    kcl_status st;               /* the first failure */
} writer;

static void w_fail(writer *w, kcl_status st, const char *what, const char *name)
{
    if (!w->st)
        w->st = kcl__fail(w->ctx, st, "kcl_model_to_json: %s '%s'", what, name);
}

/* Floats as the shortest text that reads back (through a double, as the
 * reader does) to the same float: 0.1f as "0.1"; 9 digits always suffice. */
static json_object *j_float(writer *w, float v)
{
    if (!isfinite(v)) {
        w_fail(w, KCL_ERR_ARGUMENT, "a setting is not finite, in", "config");
        return NULL;
    }
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
        if ((float)strtod(buf, NULL) == v)
            break;
    }
    return json_object_new_double_s((double)v, buf);
}

/* A setting whose 0 means "none": null as Keras writes it. */
static json_object *j_optional(writer *w, float v)
{
    return v == 0.0f ? NULL : j_float(w, v);
}

static void put(json_object *o, const char *key, json_object *v)
{
    json_object_object_add(o, key, v);
}

static void put_float(writer *w, json_object *o, const char *key, float v)
{
    put(o, key, j_float(w, v));
}

static json_object *j_shape(const kcl_shape *s)
{
    json_object *a = json_object_new_array();
    for (int i = 0; i < s->rank; i++)
        json_object_array_add(a, s->dims[i] < 0 ? NULL : json_object_new_int64(s->dims[i]));
    return a;
}

/* {"class_name": c, "config": config} */
static json_object *j_class(const char *class_name, json_object *config)
{
    json_object *o = json_object_new_object();
    put(o, "class_name", json_object_new_string(class_name));
    put(o, "config", config);
    return o;
}

static json_object *j_seed(uint64_t seed)
{
    return seed ? json_object_new_uint64(seed) : NULL;
}

static json_object *j_initializer(writer *w, kcl_initializer init, bool kernel)
{
    if (init.kind == KCL_INIT_DEFAULT)
        init = kernel ? kcl_default_kernel_initializer() : kcl_default_bias_initializer();
    if ((int)init.kind <= 0 || init.kind >= KCL_INIT_KIND_COUNT_) {
        w_fail(w, KCL_ERR_ARGUMENT, "unknown initializer kind in", "layer");
        return NULL;
    }
    unsigned f = init_classes[init.kind].fields;
    json_object *c = json_object_new_object();
    if (f & I_VALUE)
        put_float(w, c, "value", init.value);
    if (f & I_MEAN_STDDEV) {
        put_float(w, c, "mean", init.mean);
        put_float(w, c, "stddev", init.stddev);
    }
    if (f & I_MINMAX) {
        put_float(w, c, "minval", init.minval);
        put_float(w, c, "maxval", init.maxval);
    }
    if (f & I_SCALING) {
        put_float(w, c, "scale", init.scale);
        put(c, "mode", json_object_new_string(fan_modes[init.mode % 3]));
        put(c, "distribution", json_object_new_string(distributions[init.distribution % 3]));
    }
    if (f & I_GAIN)
        put_float(w, c, "gain", init.gain);
    if (f & I_SEED)
        put(c, "seed", j_seed(init.seed));
    return j_class(init_classes[init.kind].class_name, c);
}

static json_object *j_regularizer(writer *w, kcl_regularizer r)
{
    if (r.l1 == 0.0f && r.l2 == 0.0f)
        return NULL;
    json_object *c = json_object_new_object();
    put_float(w, c, "l1", r.l1);
    put_float(w, c, "l2", r.l2);
    return j_class("L1L2", c);
}

/* The activation and, when any is set, its arguments (a kcl extension). */
static void put_activation(writer *w, json_object *c, const char *name,
                           const kcl_activation_args *a)
{
    put(c, "activation", json_object_new_string(name ? name : "linear"));
    static const kcl_activation_args zero;
    if (memcmp(a, &zero, sizeof zero) == 0)
        return;
    json_object *o = json_object_new_object();
    put_float(w, o, "negative_slope", a->negative_slope);
    put_float(w, o, "max_value", a->max_value);
    put_float(w, o, "threshold", a->threshold);
    put_float(w, o, "default_value", a->default_value);
    put_float(w, o, "alpha", a->alpha);
    put_float(w, o, "b", a->b);
    put(o, "approximate", json_object_new_boolean(a->approximate));
    put(o, "axis", json_object_new_int(a->axis));
    put(c, "activation_args", o);
}

static void dense_config(writer *w, const kcl_layer *l, json_object *c)
{
    const kcl_dense_options *o = l->options;
    put(c, "units", json_object_new_int64(o->units));
    put_activation(w, c, o->activation, &o->activation_args);
    put(c, "use_bias", json_object_new_boolean(!o->no_bias));
    put(c, "kernel_initializer", j_initializer(w, o->kernel_initializer, true));
    put(c, "bias_initializer", j_initializer(w, o->bias_initializer, false));
    put(c, "kernel_regularizer", j_regularizer(w, o->kernel_regularizer));
    put(c, "bias_regularizer", j_regularizer(w, o->bias_regularizer));
}

static void activation_config(writer *w, const kcl_layer *l, json_object *c)
{
    const kcl_activation_options *o = l->options;
    put_activation(w, c, o->activation, &o->activation_args);
}

static void reshape_config(writer *w, const kcl_layer *l, json_object *c)
{
    (void)w;
    const kcl_reshape_options *o = l->options;
    json_object *a = json_object_new_array();
    for (int i = 0; i < KCL_MAX_RANK && o->target_shape[i] != 0; i++)
        json_object_array_add(a, json_object_new_int64(o->target_shape[i]));
    put(c, "target_shape", a);
}

static void dropout_config(writer *w, const kcl_layer *l, json_object *c)
{
    const kcl_dropout_options *o = l->options;
    put_float(w, c, "rate", o->rate);
    put(c, "seed", j_seed(o->seed));
}

static void concatenate_config(writer *w, const kcl_layer *l, json_object *c)
{
    (void)w;
    const kcl_merge_options *o = l->options;
    put(c, "axis", json_object_new_int(o->axis ? o->axis : -1));
}

static void lambda_config(writer *w, const kcl_layer *l, json_object *c)
{
    (void)w;
    const kcl_lambda_options *o = l->options;
    int n = o->n_inputs > 0 ? o->n_inputs : 1;
    json_object *g = json_object_new_array();
    for (int i = 0; i < n && i < 4; i++)
        json_object_array_add(g, o->gradient[i] ? json_object_new_string(o->gradient[i]) : NULL);
    put(c, "expression", json_object_new_string(o->expression ? o->expression : ""));
    put(c, "gradient", g);
    put(c, "n_inputs", json_object_new_int(n));
}

/* Keras 3 names an InputLayer's shape batch_shape. */
static void input_config(writer *w, const kcl_layer *l, json_object *c)
{
    (void)w;
    put(c, "batch_shape", j_shape(&l->input_shape));
}

static void no_config(writer *w, const kcl_layer *l, json_object *c)
{
    (void)w; (void)l; (void)c;
}

/* ================================================================ reading == */

typedef struct reader {
    kcl_context *ctx;
    const char *where;           /* the layer or section, for messages */
} reader;

static kcl_status bad(reader *r, const char *field, const char *what)
{
    return kcl__fail(r->ctx, KCL_ERR_FORMAT, "model JSON, %s: '%s' %s", r->where, field, what);
}

/* The value of key (NULL when absent or null). */
static json_object *field(json_object *o, const char *key)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static kcl_status r_float(reader *r, json_object *o, const char *key, float *out)
{
    json_object *v = field(o, key);
    if (!v)
        return KCL_OK;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return bad(r, key, "must be a number");
    double d = json_object_get_double(v);
    if (!(fabs(d) <= FLT_MAX))
        return bad(r, key, "is not a finite float");
    *out = (float)d;
    return KCL_OK;
}

static kcl_status r_int64(reader *r, json_object *o, const char *key, int64_t lo, int64_t hi,
                          int64_t *out)
{
    json_object *v = field(o, key);
    if (!v)
        return KCL_OK;
    if (!json_object_is_type(v, json_type_int))
        return bad(r, key, "must be an integer");
    int64_t i = json_object_get_int64(v);
    if (i < lo || i > hi)
        return bad(r, key, "is out of range");
    *out = i;
    return KCL_OK;
}

static kcl_status r_int(reader *r, json_object *o, const char *key, int lo, int hi, int *out)
{
    int64_t v = *out;
    kcl_status st = r_int64(r, o, key, lo, hi, &v);
    *out = (int)v;
    return st;
}

static kcl_status r_bool(reader *r, json_object *o, const char *key, int *out)
{
    json_object *v = field(o, key);
    if (!v)
        return KCL_OK;
    if (!json_object_is_type(v, json_type_boolean))
        return bad(r, key, "must be true or false");
    *out = json_object_get_boolean(v);
    return KCL_OK;
}

static kcl_status r_string(reader *r, json_object *o, const char *key, bool required,
                           const char **out)
{
    json_object *v = field(o, key);
    if (!v)
        return required ? bad(r, key, "is missing") : KCL_OK;
    if (!json_object_is_type(v, json_type_string))
        return bad(r, key, "must be a string");
    *out = json_object_get_string(v);
    return KCL_OK;
}

static kcl_status r_seed(reader *r, json_object *o, const char *key, uint64_t *out)
{
    json_object *v = field(o, key);
    if (!v)
        return KCL_OK;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return bad(r, key, "must be null or a non-negative integer");
    *out = json_object_get_uint64(v);
    return KCL_OK;
}

static kcl_status r_object(reader *r, json_object *o, const char *key, json_object **out)
{
    json_object *v = field(o, key);
    *out = v;
    return !v || json_object_is_type(v, json_type_object) ? KCL_OK : bad(r, key, "must be an object");
}

static kcl_status r_array(reader *r, json_object *o, const char *key, bool required,
                          json_object **out)
{
    json_object *v = field(o, key);
    *out = v;
    if (!v)
        return required ? bad(r, key, "is missing") : KCL_OK;
    return json_object_is_type(v, json_type_array) ? KCL_OK : bad(r, key, "must be a list");
}

/* {"class_name": string, "config": object or absent}. */
static kcl_status r_class(reader *r, json_object *v, const char *key, const char **class_name,
                          json_object **config)
{
    if (!json_object_is_type(v, json_type_object))
        return bad(r, key, "must be an object with class_name and config");
    kcl_status st = r_string(r, v, "class_name", true, class_name);
    if (!st)
        st = r_object(r, v, "config", config);
    return st;
}

/* A shape [null, d1, ...] with the batch axis; nulls (unknown) as -1. */
static kcl_status r_shape(reader *r, json_object *o, const char *key, kcl_shape *s)
{
    json_object *a;
    kcl_status st = r_array(r, o, key, true, &a);
    if (st)
        return st;
    size_t n = json_object_array_length(a);
    if (n < 1 || n > KCL_MAX_RANK)
        return bad(r, key, "must list 1 to 8 dimensions");
    s->rank = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(a, i);
        if (!d) {
            s->dims[i] = -1;
            continue;
        }
        if (!json_object_is_type(d, json_type_int) || json_object_get_int64(d) < 0)
            return bad(r, key, "must hold non-negative integers or null");
        s->dims[i] = json_object_get_int64(d);
    }
    return KCL_OK;
}

static kcl_status r_initializer(reader *r, json_object *o, const char *key, kcl_initializer *out)
{
    json_object *v = field(o, key), *c = NULL;
    const char *class_name = NULL;
    if (!v)
        return KCL_OK;
    if (json_object_is_type(v, json_type_string))
        class_name = json_object_get_string(v);
    else if (r_class(r, v, key, &class_name, &c))
        return KCL_ERR_FORMAT;
    /* A custom initializer's function cannot be stored: the layer's default
     * stands in (kcl_model_load then overwrites the weights anyway). */
    if (strcmp(class_name, "Custom") == 0) {
        *out = (kcl_initializer){.kind = KCL_INIT_DEFAULT};
        return KCL_OK;
    }
    kcl_initializer init;
    if (kcl_initializer_by_name(r->ctx, class_name, &init))
        return bad(r, key, "names an unknown initializer");
    int mode = -1, dist = -1;
    const char *mode_name = NULL, *dist_name = NULL;
    kcl_status st = KCL_OK;
    if (!st) st = r_float(r, c, "value", &init.value);
    if (!st) st = r_float(r, c, "mean", &init.mean);
    if (!st) st = r_float(r, c, "stddev", &init.stddev);
    if (!st) st = r_float(r, c, "minval", &init.minval);
    if (!st) st = r_float(r, c, "maxval", &init.maxval);
    if (!st) st = r_float(r, c, "scale", &init.scale);
    if (!st) st = r_float(r, c, "gain", &init.gain);
    if (!st) st = r_seed(r, c, "seed", &init.seed);
    if (!st) st = r_string(r, c, "mode", false, &mode_name);
    if (!st) st = r_string(r, c, "distribution", false, &dist_name);
    if (!st && mode_name && (mode = find_name(fan_modes, COUNT_OF(fan_modes), mode_name)) < 0)
        st = bad(r, "mode", "must be fan_in, fan_out or fan_avg");
    if (!st && dist_name && (dist = find_name(distributions, COUNT_OF(distributions),
                                              dist_name)) < 0)
        st = bad(r, "distribution", "must be truncated_normal, untruncated_normal or uniform");
    init.mode = mode >= 0 ? (kcl_fan_mode)mode : init.mode;
    init.distribution = dist >= 0 ? (kcl_init_distribution)dist : init.distribution;
    if (!st && kcl_initializer_check(r->ctx, &init))
        st = bad(r, key, "has invalid arguments");
    if (!st)
        *out = init;
    return st;
}

static kcl_status r_regularizer(reader *r, json_object *o, const char *key, kcl_regularizer *out)
{
    json_object *v = field(o, key), *c = NULL;
    const char *class_name;
    if (!v)
        return KCL_OK;
    kcl_status st = r_class(r, v, key, &class_name, &c);
    if (!st && strcmp(class_name, "L1L2") && strcmp(class_name, "L1") && strcmp(class_name, "L2"))
        st = bad(r, key, "must be an L1L2, L1 or L2 regularizer");
    if (!st) st = r_float(r, c, "l1", &out->l1);
    if (!st) st = r_float(r, c, "l2", &out->l2);
    return st;
}

static kcl_status r_activation(reader *r, json_object *c, bool required, const char **name,
                               kcl_activation_args *args)
{
    const char *text = NULL;
    json_object *a;
    kcl_status st = r_string(r, c, "activation", required, &text);
    if (!st && text) {
        int i = find_name(activation_names, COUNT_OF(activation_names), text);
        if (i < 0)
            return bad(r, "activation", "names an unknown activation");
        *name = activation_names[i];
    }
    if (!st) st = r_object(r, c, "activation_args", &a);
    if (!st) st = r_float(r, a, "negative_slope", &args->negative_slope);
    if (!st) st = r_float(r, a, "max_value", &args->max_value);
    if (!st) st = r_float(r, a, "threshold", &args->threshold);
    if (!st) st = r_float(r, a, "default_value", &args->default_value);
    if (!st) st = r_float(r, a, "alpha", &args->alpha);
    if (!st) st = r_float(r, a, "b", &args->b);
    if (!st) st = r_bool(r, a, "approximate", &args->approximate);
    if (!st) st = r_int(r, a, "axis", -KCL_MAX_RANK, KCL_MAX_RANK, &args->axis);
    return st;
}

/* The options every layer has: name, trainable, batch_input_shape. */
typedef struct common {
    const char *name;
    int64_t input_shape[KCL_MAX_RANK];
    int not_trainable;
} common;

#define SET_COMMON(o, c)                                                          \
    do {                                                                          \
        (o).name = (c)->name;                                                     \
        memcpy((o).input_shape, (c)->input_shape, sizeof (o).input_shape);        \
        (o).not_trainable = (c)->not_trainable;                                   \
    } while (0)

static kcl_status dense_read(reader *r, json_object *c, const common *cm, kcl_layer **out)
{
    kcl_dense_options o = {0};
    SET_COMMON(o, cm);
    int use_bias = 1;
    kcl_status st = field(c, "units") ? KCL_OK : bad(r, "units", "is missing");
    if (!st) st = r_int64(r, c, "units", 1, INT32_MAX, &o.units);
    if (!st) st = r_activation(r, c, false, &o.activation, &o.activation_args);
    if (!st) st = r_bool(r, c, "use_bias", &use_bias);
    if (!st) st = r_initializer(r, c, "kernel_initializer", &o.kernel_initializer);
    if (!st) st = r_initializer(r, c, "bias_initializer", &o.bias_initializer);
    if (!st) st = r_regularizer(r, c, "kernel_regularizer", &o.kernel_regularizer);
    if (!st) st = r_regularizer(r, c, "bias_regularizer", &o.bias_regularizer);
    o.no_bias = !use_bias;
    if (!st)
        *out = kcl_layer_dense_(&o);
    return st;
}

static kcl_status activation_read(reader *r, json_object *c, const common *cm, kcl_layer **out)
{
    kcl_activation_options o = {0};
    SET_COMMON(o, cm);
    kcl_status st = r_activation(r, c, true, &o.activation, &o.activation_args);
    if (!st)
        *out = kcl_layer_activation_(&o);
    return st;
}

static kcl_status input_read(reader *r, json_object *c, const common *cm, kcl_layer **out)
{
    kcl_flatten_options o = {0};
    SET_COMMON(o, cm);
    if (field(c, "batch_shape")) {
        kcl_shape s;
        kcl_status st = r_shape(r, c, "batch_shape", &s);
        for (int i = 1; !st && i < s.rank; i++) {
            if (s.dims[i] <= 0)
                st = bad(r, "batch_shape", "must give every axis but the first");
            o.input_shape[i - 1] = s.dims[i];
        }
        if (st)
            return st;
    }
    *out = kcl_layer_input_(&o);
    return KCL_OK;
}

static kcl_status flatten_read(reader *r, json_object *c, const common *cm, kcl_layer **out)
{
    (void)r; (void)c;
    kcl_flatten_options o = {0};
    SET_COMMON(o, cm);
    *out = kcl_layer_flatten_(&o);
    return KCL_OK;
}

static kcl_status reshape_read(reader *r, json_object *c, const common *cm, kcl_layer **out)
{
    kcl_reshape_options o = {0};
    SET_COMMON(o, cm);
    json_object *a;
    kcl_status st = r_array(r, c, "target_shape", true, &a);
    size_t n = st ? 0 : json_object_array_length(a);
    if (!st && (n < 1 || n >= KCL_MAX_RANK))
        st = bad(r, "target_shape", "must list 1 to 7 dimensions");
    for (size_t i = 0; !st && i < n; i++) {
        json_object *d = json_object_array_get_idx(a, i);
        if (!json_object_is_type(d, json_type_int) || json_object_get_int64(d) < -1 ||
            json_object_get_int64(d) == 0)
            st = bad(r, "target_shape", "must hold positive integers or -1");
        else
            o.target_shape[i] = json_object_get_int64(d);
    }
    if (!st)
        *out = kcl_layer_reshape_(&o);
    return st;
}

static kcl_status dropout_read(reader *r, json_object *c, const common *cm, kcl_layer **out)
{
    kcl_dropout_options o = {0};
    SET_COMMON(o, cm);
    kcl_status st = field(c, "rate") ? KCL_OK : bad(r, "rate", "is missing");
    if (!st) st = r_float(r, c, "rate", &o.rate);
    if (!st) st = r_seed(r, c, "seed", &o.seed);
    if (!st)
        *out = kcl_layer_dropout_(&o);
    return st;
}

typedef kcl_layer *(*merge_ctor)(const kcl_merge_options *);

static kcl_status merge_read(reader *r, json_object *c, const common *cm, merge_ctor ctor,
                             kcl_layer **out)
{
    kcl_merge_options o = {0};
    SET_COMMON(o, cm);
    kcl_status st = r_int(r, c, "axis", -KCL_MAX_RANK, KCL_MAX_RANK, &o.axis);
    if (!st)
        *out = ctor(&o);
    return st;
}

#define MERGE_READ(NAME)                                                                  \
    static kcl_status NAME##_read(reader *r, json_object *c, const common *cm, kcl_layer **out) \
    {                                                                                     \
        return merge_read(r, c, cm, kcl_layer_##NAME##_, out);                            \
    }
MERGE_READ(add)
MERGE_READ(subtract)
MERGE_READ(multiply)
MERGE_READ(average)
MERGE_READ(concatenate)

/* The Lambda layer copies its strings, so they may point into the JSON. */
static kcl_status lambda_read(reader *r, json_object *c, const common *cm, kcl_layer **out)
{
    kcl_lambda_options o = {0};
    SET_COMMON(o, cm);
    json_object *g;
    kcl_status st = r_string(r, c, "expression", true, &o.expression);
    if (!st) st = r_int(r, c, "n_inputs", 0, 4, &o.n_inputs);
    if (!st) st = r_array(r, c, "gradient", false, &g);
    size_t n = !st && g ? json_object_array_length(g) : 0;
    if (n > 4)
        st = bad(r, "gradient", "lists more than 4 expressions");
    for (size_t i = 0; !st && i < n; i++) {
        json_object *e = json_object_array_get_idx(g, i);
        if (e && !json_object_is_type(e, json_type_string))
            st = bad(r, "gradient", "must hold strings or null");
        o.gradient[i] = e ? json_object_get_string(e) : NULL;
    }
    if (!st)
        *out = kcl_layer_lambda_(&o);
    return st;
}

/* ================================================================= layers == */

typedef struct layer_codec {
    const char *class_name;
    void (*write)(writer *w, const kcl_layer *l, json_object *config);
    kcl_status (*read)(reader *r, json_object *config, const common *c, kcl_layer **out);
} layer_codec;

static const layer_codec codecs[] = {
    {"InputLayer", input_config, input_read},
    {"Dense", dense_config, dense_read},
    {"Activation", activation_config, activation_read},
    {"Flatten", no_config, flatten_read},
    {"Reshape", reshape_config, reshape_read},
    {"Dropout", dropout_config, dropout_read},
    {"Add", no_config, add_read},
    {"Subtract", no_config, subtract_read},
    {"Multiply", no_config, multiply_read},
    {"Average", no_config, average_read},
    {"Concatenate", concatenate_config, concatenate_read},
    {"Lambda", lambda_config, lambda_read},
};

static const layer_codec *codec_of(const char *class_name)
{
    for (size_t i = 0; i < COUNT_OF(codecs); i++)
        if (strcmp(codecs[i].class_name, class_name) == 0)
            return &codecs[i];
    return NULL;
}

/* {"class_name": ..., "config": {"name", "trainable", ["batch_input_shape"], ...}} */
static json_object *j_layer(writer *w, const kcl_layer *l)
{
    const layer_codec *codec = codec_of(l->kind->class_name);
    if (l->inner) {
        w_fail(w, KCL_ERR_ARGUMENT, "nested models cannot be saved as JSON yet (save their "
               "weights with kcl_model_save_weights); layer", l->name);
        return NULL;
    }
    if (!codec) {
        w_fail(w, KCL_ERR_ARGUMENT, "no JSON form for the class of layer", l->name);
        return NULL;
    }
    json_object *c = json_object_new_object();
    put(c, "name", json_object_new_string(l->name));
    put(c, "trainable", json_object_new_boolean(l->trainable));
    if (l->input_shape.rank)
        put(c, "batch_input_shape", j_shape(&l->input_shape));
    codec->write(w, l, c);
    return j_class(l->kind->class_name, c);
}

/* A layer from {"class_name", "config"}; *out NULL on failure. */
static kcl_status r_layer(kcl_context *ctx, json_object *entry, size_t index, kcl_layer **out)
{
    char where[160];
    snprintf(where, sizeof where, "layer %zu", index);
    reader r = {ctx, where};
    const char *class_name, *name = NULL;
    json_object *c;
    *out = NULL;
    kcl_status st = r_class(&r, entry, "layers", &class_name, &c);
    if (!st) st = r_string(&r, c, "name", true, &name);
    if (st)
        return st;
    snprintf(where, sizeof where, "layer '%.100s' (%.32s)", name, class_name);
    const layer_codec *codec = codec_of(class_name);
    if (!codec)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "model JSON, %s: unknown layer class%s", where,
                         strcmp(class_name, "Sequential") && strcmp(class_name, "Functional")
                             ? "" : " (nested models are not supported)");
    common cm = {NULL, {0}, 0};   /* the name is set below: options must not point into JSON */
    int trainable = 1;
    st = r_bool(&r, c, "trainable", &trainable);
    cm.not_trainable = !trainable;
    if (!st && field(c, "batch_input_shape")) {
        kcl_shape s;
        if (!(st = r_shape(&r, c, "batch_input_shape", &s)))
            for (int i = 1; i < s.rank && !st; i++) {
                if (s.dims[i] <= 0)
                    st = bad(&r, "batch_input_shape", "must give every axis but the first");
                cm.input_shape[i - 1] = s.dims[i];
            }
    }
    if (!st && !(st = codec->read(&r, c, &cm, out)) &&
        (!*out || !((*out)->requested_name = malloc(strlen(name) + 1)))) {
        kcl_layer_free(*out);
        *out = NULL;
        st = kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory creating layer '%s'", name);
    }
    if (!st)
        strcpy((*out)->requested_name, name);
    return st;
}

/* ============================================================ Sequential == */

static json_object *j_sequential(writer *w, kcl_model *m)
{
    json_object *c = json_object_new_object(), *layers = json_object_new_array();
    put(c, "name", json_object_new_string(m->name));
    for (size_t i = 0; i < m->n_layers; i++)
        json_object_array_add(layers, j_layer(w, m->layers[i]));
    put(c, "layers", layers);
    if (m->built)
        put(c, "build_input_shape", j_shape(&m->values[0]));
    return c;
}

static kcl_status rename_model(kcl_model *m, const char *name)
{
    size_t n = strlen(name) + 1;
    char *copy = malloc(n);
    if (!copy)
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    memcpy(copy, name, n);
    free(m->name);
    m->name = copy;
    return KCL_OK;
}

static kcl_status r_sequential(kcl_context *ctx, json_object *c, kcl_model **out)
{
    reader r = {ctx, "Sequential"};
    const char *name = NULL;
    json_object *layers;
    kcl_model *m = NULL;
    kcl_shape input = {0, {0}};
    kcl_status st = r_string(&r, c, "name", false, &name);
    if (!st) st = r_array(&r, c, "layers", true, &layers);
    if (!st && field(c, "build_input_shape"))
        st = r_shape(&r, c, "build_input_shape", &input);
    if (!st) st = kcl_sequential(ctx, &m);
    if (!st && name) st = rename_model(m, name);
    size_t n = st ? 0 : json_object_array_length(layers);
    for (size_t i = 0; !st && i < n; i++) {
        json_object *e = json_object_array_get_idx(layers, i);
        kcl_layer *layer;
        if (!(st = r_layer(ctx, e, i, &layer)))
            st = kcl_model_add(m, layer);   /* takes the layer, also on failure */
    }
    if (!st && input.rank && !m->built && m->n_layers)
        st = kcl__model_build(m, &input);
    if (st) {
        kcl_model_free(m);
        return st;
    }
    *out = m;
    return KCL_OK;
}

/* ============================================================ Functional == */

/* [name, call index, 0]: the value v as a reference Keras understands. */
static json_object *j_ref(const kcl_model *m, int v)
{
    json_object *a = json_object_new_array();
    const char *name = "";
    int call = 0;
    if (v < (int)m->n_inputs) {
        name = m->input_names[v];
    } else {
        for (size_t p = 0; p < m->n_nodes; p++)
            if (m->nodes[p].out == v) {
                name = m->nodes[p].layer->name;
                for (size_t q = 0; q < p; q++)
                    call += m->nodes[q].layer == m->nodes[p].layer;
                break;
            }
    }
    json_object_array_add(a, json_object_new_string(name));
    json_object_array_add(a, json_object_new_int(call));
    json_object_array_add(a, json_object_new_int(0));
    return a;
}

static json_object *j_input_layer(const kcl_model *m, size_t i)
{
    json_object *c = json_object_new_object(), *e = json_object_new_object();
    put(c, "batch_shape", j_shape(&m->values[i]));
    put(c, "name", json_object_new_string(m->input_names[i]));
    put(e, "class_name", json_object_new_string("InputLayer"));
    put(e, "name", json_object_new_string(m->input_names[i]));
    put(e, "config", c);
    put(e, "inbound_nodes", json_object_new_array());
    return e;
}

/* Names must be unique for references to resolve. */
static void check_unique(writer *w, const kcl_model *m)
{
    for (size_t i = 0; i < m->n_inputs + m->n_layers; i++)
        for (size_t k = 0; k < i; k++) {
            const char *a = i < m->n_inputs ? m->input_names[i] : m->layers[i - m->n_inputs]->name;
            const char *b = k < m->n_inputs ? m->input_names[k] : m->layers[k - m->n_inputs]->name;
            if (strcmp(a, b) == 0)
                w_fail(w, KCL_ERR_STATE, "two inputs or layers share the name", a);
        }
}

static json_object *j_functional(writer *w, kcl_model *m)
{
    json_object *c = json_object_new_object(), *layers = json_object_new_array();
    check_unique(w, m);
    put(c, "name", json_object_new_string(m->name));
    for (size_t i = 0; i < m->n_inputs; i++)
        json_object_array_add(layers, j_input_layer(m, i));
    for (size_t i = 0; i < m->n_layers; i++) {
        json_object *e = j_layer(w, m->layers[i]), *nodes = json_object_new_array();
        for (size_t p = 0; e && p < m->n_nodes; p++) {
            if (m->nodes[p].layer != m->layers[i])
                continue;
            json_object *args = json_object_new_array();
            for (int k = 0; k < m->nodes[p].n_in; k++)
                json_object_array_add(args, j_ref(m, m->nodes[p].in[k]));
            json_object_array_add(nodes, args);
        }
        if (e) {
            put(e, "name", json_object_new_string(m->layers[i]->name));
            put(e, "inbound_nodes", nodes);
        } else {
            json_object_put(nodes);
        }
        json_object_array_add(layers, e);
    }
    json_object *ins = json_object_new_array(), *outs = json_object_new_array();
    for (size_t i = 0; i < m->n_inputs; i++)
        json_object_array_add(ins, j_ref(m, (int)i));
    for (size_t i = 0; i < m->n_outputs; i++)
        json_object_array_add(outs, j_ref(m, m->outputs[i]));
    put(c, "layers", layers);
    put(c, "input_layers", ins);
    put(c, "output_layers", outs);
    return c;
}

/* A layer of the graph being rebuilt. */
typedef struct graph_layer {
    const char *name;
    json_object *nodes;          /* inbound_nodes */
    kcl_layer *layer;            /* NULL for inputs (and once a failed first call freed it) */
    size_t n_nodes, done;
    kcl_sym **syms;              /* the output of each call so far */
} graph_layer;

typedef struct graph {
    kcl_context *ctx;
    graph_layer *layers;
    size_t n;
} graph;

static void graph_free(graph *g)
{
    for (size_t i = 0; g->layers && i < g->n; i++) {
        if (g->layers[i].layer && !g->layers[i].layer->adopted)
            kcl_layer_free(g->layers[i].layer);   /* never called: still ours */
        free(g->layers[i].syms);
    }
    free(g->layers);
}

static kcl_status graph_fail(graph *g, const char *what, const char *name)
{
    return kcl__fail(g->ctx, KCL_ERR_FORMAT, "model JSON, Functional: %s '%.100s'", what, name);
}

/* Resolves [name, call, 0(, kwargs)]: KCL_OK with *sym NULL when the call
 * has not been made yet. */
static kcl_status resolve(graph *g, json_object *ref, kcl_sym **sym)
{
    *sym = NULL;
    size_t len = json_object_is_type(ref, json_type_array) ? json_object_array_length(ref) : 0;
    json_object *name = len ? json_object_array_get_idx(ref, 0) : NULL;
    json_object *call = len > 1 ? json_object_array_get_idx(ref, 1) : NULL;
    json_object *tensor = len > 2 ? json_object_array_get_idx(ref, 2) : NULL;
    if (len < 3 || len > 4 || !json_object_is_type(name, json_type_string) ||
        !json_object_is_type(call, json_type_int) || !json_object_is_type(tensor, json_type_int) ||
        json_object_get_int64(tensor) != 0)
        return graph_fail(g, "a reference is not [layer, call, 0]; near", "reference");
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->layers[i].name, json_object_get_string(name)) == 0) {
            int64_t c = json_object_get_int64(call);
            if (c < 0 || (size_t)c >= g->layers[i].n_nodes)
                return graph_fail(g, "a reference names a call that does not exist, of",
                                  g->layers[i].name);
            *sym = (size_t)c < g->layers[i].done ? g->layers[i].syms[c] : NULL;
            return KCL_OK;
        }
    return graph_fail(g, "a reference names an unknown layer", json_object_get_string(name));
}

/* Makes layer l's next call if its inputs exist; *made tells whether. */
static kcl_status try_call(graph *g, graph_layer *l, bool *made)
{
    json_object *args = json_object_array_get_idx(l->nodes, l->done);
    size_t n = json_object_is_type(args, json_type_array) ? json_object_array_length(args) : 0;
    if (n < 1 || n > 8)
        return graph_fail(g, "a call must list 1 to 8 inputs, in layer", l->name);
    kcl_sym *xs[8];
    for (size_t k = 0; k < n; k++) {
        kcl_status st = resolve(g, json_object_array_get_idx(args, k), &xs[k]);
        if (st || !xs[k])
            return st;
    }
    bool adopted = l->layer->adopted;
    kcl_sym *y;
    kcl_status st = kcl_call_n(l->layer, n, xs, &y);
    if (st) {
        if (!adopted)
            l->layer = NULL;     /* a failed first call frees the layer */
        return st;
    }
    l->syms[l->done++] = y;
    *made = true;
    return KCL_OK;
}

/* Calls every layer as its inputs become available, in passes. */
static kcl_status graph_calls(graph *g)
{
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < g->n; i++) {
            graph_layer *l = &g->layers[i];
            while (l->layer && l->done < l->n_nodes) {
                bool made = false;
                kcl_status st = try_call(g, l, &made);
                if (st)
                    return st;
                if (!made)
                    break;
                progress = true;
            }
        }
    }
    for (size_t i = 0; i < g->n; i++)
        if (g->layers[i].done < g->layers[i].n_nodes)
            return graph_fail(g, "the inputs of a call are never computed (a cycle?), in layer",
                              g->layers[i].name);
    return KCL_OK;
}

static kcl_status graph_entry(graph *g, json_object *e, size_t i)
{
    reader r = {g->ctx, "Functional"};
    graph_layer *l = &g->layers[i];
    const char *class_name;
    json_object *c;
    kcl_status st = r_class(&r, e, "layers", &class_name, &c);
    if (!st) st = r_string(&r, c, "name", true, &l->name);
    if (!st) st = r_array(&r, e, "inbound_nodes", true, &l->nodes);
    for (size_t k = 0; !st && k < i; k++)
        if (strcmp(g->layers[k].name, l->name) == 0)
            st = graph_fail(g, "two layers are named", l->name);
    if (st)
        return st;
    /* An InputLayer without calls is a model input (kcl_input); one that is
     * called is an InputLayer layer. */
    bool input = strcmp(class_name, "InputLayer") == 0 && json_object_array_length(l->nodes) == 0;
    l->n_nodes = input ? 1 : json_object_array_length(l->nodes);
    if (!(l->syms = calloc(l->n_nodes ? l->n_nodes : 1, sizeof *l->syms)))
        return kcl__fail(g->ctx, KCL_ERR_MEMORY, "out of host memory");
    if (!input)
        return r_layer(g->ctx, e, i, &l->layer);
    kcl_shape s;
    if ((st = r_shape(&r, c, "batch_shape", &s)))
        return st;
    st = kcl_input(g->ctx, s.rank - 1, s.dims + 1, l->name, &l->syms[0]);
    l->done = st ? 0 : 1;
    return st;
}

/* The syms that a list of references ("input_layers", "output_layers") names. */
static kcl_status graph_list(graph *g, json_object *c, const char *key, kcl_sym ***out, size_t *n)
{
    reader r = {g->ctx, "Functional"};
    json_object *a;
    kcl_status st = r_array(&r, c, key, true, &a);
    *n = st ? 0 : json_object_array_length(a);
    if (!st && *n == 0)
        st = bad(&r, key, "is empty");
    if (!st && !(*out = calloc(*n, sizeof **out)))
        st = kcl__fail(g->ctx, KCL_ERR_MEMORY, "out of host memory");
    for (size_t i = 0; !st && i < *n; i++)
        if (!(st = resolve(g, json_object_array_get_idx(a, i), &(*out)[i])) && !(*out)[i])
            st = bad(&r, key, "names a value that is never computed");
    return st;
}

static kcl_status r_functional(kcl_context *ctx, json_object *c, kcl_model **out)
{
    reader r = {ctx, "Functional"};
    const char *name = NULL;
    json_object *layers;
    kcl_sym **ins = NULL, **outs = NULL;
    size_t n_in = 0, n_out = 0;
    graph g = {ctx, NULL, 0};
    kcl_status st = r_string(&r, c, "name", false, &name);
    if (!st) st = r_array(&r, c, "layers", true, &layers);
    size_t n = st ? 0 : json_object_array_length(layers);
    if (!st && !(g.layers = calloc(n ? n : 1, sizeof *g.layers)))
        st = kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    for (size_t i = 0; !st && i < n; i++) {
        g.n = i + 1;
        st = graph_entry(&g, json_object_array_get_idx(layers, i), i);
    }
    if (!st) st = graph_calls(&g);
    if (!st) st = graph_list(&g, c, "input_layers", &ins, &n_in);
    for (size_t i = 0; !st && i < n_in; i++)
        if (kcl_sym_rank(ins[i]) < 0 || ins[i]->layer)
            st = bad(&r, "input_layers", "must name InputLayer entries");
    if (!st) st = graph_list(&g, c, "output_layers", &outs, &n_out);
    if (!st) st = kcl_functional(ctx, n_in, ins, n_out, outs, name, out);
    free(ins);
    free(outs);
    graph_free(&g);
    return st;
}

/* ================================================================ compile == */

static json_object *j_schedule(writer *w, const kcl_schedule *s)
{
    json_object *c = json_object_new_object();
    if (s->kind == KCL_SCHEDULE_PIECEWISE_CONSTANT) {
        json_object *b = json_object_new_array(), *v = json_object_new_array();
        for (size_t i = 0; i < s->n_boundaries; i++)
            json_object_array_add(b, json_object_new_int64(s->boundaries[i]));
        for (size_t i = 0; i <= s->n_boundaries; i++)
            json_object_array_add(v, j_float(w, s->values[i]));
        put(c, "boundaries", b);
        put(c, "values", v);
    } else {
        put_float(w, c, "initial_learning_rate", s->initial_learning_rate);
        put(c, "decay_steps", json_object_new_int64(s->decay_steps));
    }
    if (s->kind == KCL_SCHEDULE_EXPONENTIAL_DECAY) {
        put_float(w, c, "decay_rate", s->decay_rate);
        put(c, "staircase", json_object_new_boolean(s->staircase));
    } else if (s->kind == KCL_SCHEDULE_COSINE_DECAY) {
        put_float(w, c, "alpha", s->alpha);
        put_float(w, c, "warmup_target", s->warmup_target);
        put(c, "warmup_steps", json_object_new_int64(s->warmup_steps));
    }
    return j_class(schedule_classes[s->kind % COUNT_OF(schedule_classes)], c);
}

static json_object *j_optimizer(writer *w, const kcl_optimizer_config *o)
{
    json_object *c = json_object_new_object();
    bool adam = o->kind == KCL_OPTIMIZER_ADAM || o->kind == KCL_OPTIMIZER_ADAMW;
    bool rmsprop = o->kind == KCL_OPTIMIZER_RMSPROP || o->kind == KCL_OPTIMIZER_DEFAULT;
    put(c, "learning_rate", o->schedule.kind ? j_schedule(w, &o->schedule)
                                             : j_float(w, o->learning_rate));
    put(c, "weight_decay", j_optional(w, o->weight_decay));
    put(c, "clipnorm", j_optional(w, o->clipnorm));
    put(c, "clipvalue", j_optional(w, o->clipvalue));
    put(c, "global_clipnorm", j_optional(w, o->global_clipnorm));
    /* Then the kind's own settings, as Keras' get_config lists them. */
    if (o->kind == KCL_OPTIMIZER_SGD || rmsprop)
        put_float(w, c, "momentum", o->momentum);
    if (o->kind == KCL_OPTIMIZER_SGD)
        put(c, "nesterov", json_object_new_boolean(o->nesterov));
    if (adam) {
        put_float(w, c, "beta_1", o->beta_1);
        put_float(w, c, "beta_2", o->beta_2);
    }
    if (rmsprop)
        put_float(w, c, "rho", o->rho);
    if (o->kind == KCL_OPTIMIZER_ADAGRAD)
        put_float(w, c, "initial_accumulator_value", o->initial_accumulator_value);
    if (o->kind != KCL_OPTIMIZER_SGD)
        put_float(w, c, "epsilon", o->epsilon);
    if (adam)
        put(c, "amsgrad", json_object_new_boolean(o->amsgrad));
    if (rmsprop)
        put(c, "centered", json_object_new_boolean(o->centered));
    return j_class(optimizer_classes[o->kind % KCL_OPTIMIZER_KIND_COUNT_], c);
}

static json_object *j_compile(writer *w, kcl_model *m)
{
    kcl_train_state *t = m->train;
    json_object *c = json_object_new_object(), *losses = json_object_new_array(),
                *weights = json_object_new_array(), *metrics = json_object_new_array();
    put(c, "optimizer", j_optimizer(w, kcl_optimizer_get_config(t->optimizer)));
    for (size_t i = 0; i < t->n_losses; i++) {
        json_object *lc = json_object_new_object();
        put(lc, "from_logits", json_object_new_boolean(t->losses[i].from_logits));
        put_float(w, lc, "label_smoothing", t->losses[i].label_smoothing);
        put_float(w, lc, "delta", t->losses[i].delta);
        json_object_array_add(losses, j_class(kcl_loss_name(t->losses[i].kind), lc));
        json_object_array_add(weights, j_float(w, t->loss_weights[i]));
    }
    /* The names from the metric objects (compile copied them there). */
    for (size_t j = 0; j < t->n_metric_configs; j++) {
        const kcl_metric_config *mc = &t->metric_configs[j];
        json_object *o = json_object_new_object();
        put(o, "name", json_object_new_string(kcl_metric_name(t->metrics[j])));
        put(o, "k", json_object_new_int(mc->k));
        put_float(w, o, "threshold", mc->threshold);
        put(o, "num_thresholds", json_object_new_int(mc->num_thresholds));
        const char *class_name = (unsigned)mc->kind < KCL_METRIC_KIND_COUNT_
                                     ? kcl__metric_kind_name(mc->kind) : NULL;
        json_object_array_add(metrics, j_class(class_name ? class_name : "unknown", o));
    }
    put(c, "loss", losses);
    put(c, "loss_weights", weights);
    put(c, "metrics", metrics);
    return c;
}

/* What compile needs, with the arrays it copies. */
typedef struct compile_in {
    kcl_compile_options o;
    kcl_loss_config losses[16];
    float loss_weights[16];
    kcl_metric_config metrics[16];
    int64_t boundaries[64];
    float values[65];
} compile_in;

static kcl_status r_schedule(reader *r, json_object *v, compile_in *in)
{
    kcl_schedule *s = &in->o.optimizer.schedule;
    const char *class_name;
    json_object *c, *b = NULL, *vals = NULL;
    kcl_status st = r_class(r, v, "learning_rate", &class_name, &c);
    int kind = st ? -1 : find_name(schedule_classes, COUNT_OF(schedule_classes), class_name);
    if (!st && kind < 0)
        st = bad(r, "learning_rate", "names an unknown schedule");
    if (st)
        return st;
    s->kind = (kcl_schedule_kind)kind;
    int staircase = 0;
    if (!st) st = r_float(r, c, "initial_learning_rate", &s->initial_learning_rate);
    if (!st) st = r_int64(r, c, "decay_steps", 0, INT64_MAX, &s->decay_steps);
    if (!st) st = r_float(r, c, "decay_rate", &s->decay_rate);
    if (!st) st = r_bool(r, c, "staircase", &staircase);
    if (!st) st = r_float(r, c, "alpha", &s->alpha);
    if (!st) st = r_float(r, c, "warmup_target", &s->warmup_target);
    if (!st) st = r_int64(r, c, "warmup_steps", 0, INT64_MAX, &s->warmup_steps);
    s->staircase = staircase;
    if (st || kind != KCL_SCHEDULE_PIECEWISE_CONSTANT)
        return st;
    if ((st = r_array(r, c, "boundaries", true, &b)) || (st = r_array(r, c, "values", true, &vals)))
        return st;
    size_t n = json_object_array_length(b);
    if (n > 64 || json_object_array_length(vals) != n + 1)
        return bad(r, "values", "must have one more entry than boundaries (at most 64)");
    for (size_t i = 0; i <= n; i++) {
        json_object *bi = i < n ? json_object_array_get_idx(b, i) : NULL;
        json_object *vi = json_object_array_get_idx(vals, i);
        if ((i < n && !json_object_is_type(bi, json_type_int)) ||
            !(json_object_is_type(vi, json_type_double) || json_object_is_type(vi, json_type_int)))
            return bad(r, "boundaries", "and values must be numbers");
        if (i < n)
            in->boundaries[i] = json_object_get_int64(bi);
        in->values[i] = (float)json_object_get_double(vi);
    }
    s->n_boundaries = n;
    s->boundaries = in->boundaries;
    s->values = in->values;
    return KCL_OK;
}

static kcl_status r_optimizer(reader *r, json_object *v, compile_in *in)
{
    const char *class_name;
    json_object *c;
    kcl_optimizer_config *o = &in->o.optimizer;
    kcl_status st = r_class(r, v, "optimizer", &class_name, &c);
    if (st)
        return st;
    if (kcl_optimizer_by_name(r->ctx, class_name, o))
        return bad(r, "optimizer", "names an unknown optimizer");
    json_object *lr = field(c, "learning_rate");
    if (lr && json_object_is_type(lr, json_type_object))
        st = r_schedule(r, lr, in);
    else
        st = r_float(r, c, "learning_rate", &o->learning_rate);
    int nesterov = 0, amsgrad = 0, centered = 0;
    if (!st) st = r_float(r, c, "momentum", &o->momentum);
    if (!st) st = r_bool(r, c, "nesterov", &nesterov);
    if (!st) st = r_float(r, c, "beta_1", &o->beta_1);
    if (!st) st = r_float(r, c, "beta_2", &o->beta_2);
    if (!st) st = r_float(r, c, "epsilon", &o->epsilon);
    if (!st) st = r_bool(r, c, "amsgrad", &amsgrad);
    if (!st) st = r_float(r, c, "weight_decay", &o->weight_decay);
    if (!st) st = r_float(r, c, "rho", &o->rho);
    if (!st) st = r_bool(r, c, "centered", &centered);
    if (!st) st = r_float(r, c, "initial_accumulator_value", &o->initial_accumulator_value);
    if (!st) st = r_float(r, c, "clipnorm", &o->clipnorm);
    if (!st) st = r_float(r, c, "clipvalue", &o->clipvalue);
    if (!st) st = r_float(r, c, "global_clipnorm", &o->global_clipnorm);
    o->nesterov = nesterov;
    o->amsgrad = amsgrad;
    o->centered = centered;
    return st;
}

/* A loss as "name" or {"class_name", "config"}. */
static kcl_status r_loss(reader *r, json_object *v, kcl_loss_config *out)
{
    const char *class_name = NULL;
    json_object *c = NULL;
    kcl_status st = KCL_OK;
    if (json_object_is_type(v, json_type_string))
        class_name = json_object_get_string(v);
    else
        st = r_class(r, v, "loss", &class_name, &c);
    if (!st && kcl_loss_by_name(r->ctx, class_name, out))
        st = bad(r, "loss", "names an unknown loss");
    if (!st) st = r_bool(r, c, "from_logits", &out->from_logits);
    if (!st) st = r_float(r, c, "label_smoothing", &out->label_smoothing);
    if (!st) st = r_float(r, c, "delta", &out->delta);
    return st;
}

static kcl_status r_metric(reader *r, json_object *v, kcl_metric_config *out)
{
    const char *class_name = NULL;
    json_object *c = NULL;
    kcl_status st = KCL_OK;
    if (json_object_is_type(v, json_type_string))
        class_name = json_object_get_string(v);
    else
        st = r_class(r, v, "metrics", &class_name, &c);
    if (!st && kcl_metric_by_name(r->ctx, class_name, out))
        st = bad(r, "metrics", "names an unknown metric");
    if (!st) st = r_int(r, c, "k", 0, INT32_MAX, &out->k);
    if (!st) st = r_float(r, c, "threshold", &out->threshold);
    if (!st) st = r_int(r, c, "num_thresholds", 0, INT32_MAX, &out->num_thresholds);
    if (!st) st = r_string(r, c, "name", false, &out->name);
    return st;
}

/* A single item or a list of at most 16, each read by fn into out[i]. */
static kcl_status r_list(reader *r, json_object *v, const char *key, size_t size, void *out,
                         kcl_status (*fn)(reader *, json_object *, void *), size_t *n)
{
    bool list = json_object_is_type(v, json_type_array);
    *n = list ? json_object_array_length(v) : 1;
    if (*n > 16)
        return bad(r, key, "lists more than 16 entries");
    for (size_t i = 0; i < *n; i++) {
        kcl_status st = fn(r, list ? json_object_array_get_idx(v, i) : v, (char *)out + i * size);
        if (st)
            return st;
    }
    return KCL_OK;
}

static kcl_status loss_item(reader *r, json_object *v, void *out) { return r_loss(r, v, out); }
static kcl_status metric_item(reader *r, json_object *v, void *out) { return r_metric(r, v, out); }

static kcl_status weight_item(reader *r, json_object *v, void *out)
{
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        return bad(r, "loss_weights", "must hold numbers");
    *(float *)out = (float)json_object_get_double(v);
    return KCL_OK;
}

static kcl_status r_compile(kcl_model *m, json_object *c)
{
    reader r = {m->ctx, "compile_config"};
    compile_in *in = calloc(1, sizeof *in);
    if (!in)
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    json_object *opt = field(c, "optimizer"), *loss = field(c, "loss");
    json_object *weights = field(c, "loss_weights"), *metrics = field(c, "metrics");
    size_t n_weights = 0;
    kcl_status st = opt ? r_optimizer(&r, opt, in) : KCL_OK;
    if (!st && !loss)
        st = bad(&r, "loss", "is missing");
    if (!st) st = r_list(&r, loss, "loss", sizeof *in->losses, in->losses, loss_item,
                         &in->o.n_losses);
    if (!st && weights)
        st = r_list(&r, weights, "loss_weights", sizeof(float), in->loss_weights, weight_item,
                    &n_weights);
    if (!st && weights && n_weights != (m->n_outputs ? m->n_outputs : 1))
        st = bad(&r, "loss_weights", "must have one weight per output");
    if (!st && metrics)
        st = r_list(&r, metrics, "metrics", sizeof *in->metrics, in->metrics, metric_item,
                    &in->o.n_metrics);
    /* train.c's compile reads m->outputs to name metrics, which an unbuilt
     * Sequential model does not have yet. */
    if (!st && in->o.n_metrics && !m->built)
        st = bad(&r, "metrics", "need a built model: give build_input_shape");
    in->o.losses = in->losses;
    in->o.loss_weights = weights ? in->loss_weights : NULL;
    in->o.metrics = in->metrics;
    if (!st && (st = kcl_compile_ex(m, &in->o)))
        st = kcl__fail(m->ctx, st, "model JSON, compile_config: %s", kcl_errmsg(m->ctx));
    free(in);
    return st;
}

/* ================================================================ public == */

kcl_status kcl_model_to_json(kcl_model *m, char **json)
{
    if (!m || !json)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_model_to_json: NULL argument");
    *json = NULL;
    if (!m->sequential && !m->built)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "kcl_model_to_json: model '%s' is not built",
                         m->name);
    writer w = {m->ctx, KCL_OK};
    json_object *root = json_object_new_object();
    put(root, "class_name", json_object_new_string(m->sequential ? "Sequential" : "Functional"));
    put(root, "config", m->sequential ? j_sequential(&w, m) : j_functional(&w, m));
    if (m->train)
        put(root, "compile_config", j_compile(&w, m));
    put(root, "backend", json_object_new_string("kcl"));
    const char *text = w.st ? NULL : json_object_to_json_string_ext(root, JSON_C_TO_STRING_SPACED |
                                                                      JSON_C_TO_STRING_NOSLASHESCAPE);
    if (text && !(*json = malloc(strlen(text) + 1)))
        text = NULL;
    if (text)
        strcpy(*json, text);
    else if (!w.st)
        w.st = kcl__fail(m->ctx, KCL_ERR_MEMORY, "kcl_model_to_json: out of host memory");
    json_object_put(root);
    return w.st;
}

static kcl_status from_root(kcl_context *ctx, json_object *root, kcl_model **out)
{
    reader r = {ctx, "top level"};
    const char *class_name;
    json_object *config, *compile;
    kcl_status st = r_class(&r, root, "model", &class_name, &config);
    if (!st && !config)
        st = bad(&r, "config", "is missing");
    if (!st) st = r_object(&r, root, "compile_config", &compile);
    if (st)
        return st;
    if (strcmp(class_name, "Sequential") == 0)
        st = r_sequential(ctx, config, out);
    else if (strcmp(class_name, "Functional") == 0 || strcmp(class_name, "Model") == 0)
        st = r_functional(ctx, config, out);
    else
        return kcl__fail(ctx, KCL_ERR_FORMAT, "model JSON: unknown model class '%.64s'",
                         class_name);
    if (!st && compile && (st = r_compile(*out, compile))) {
        kcl_model_free(*out);
        *out = NULL;
    }
    return st;
}

kcl_status kcl_model_from_json(kcl_context *ctx, const char *json, kcl_model **out)
{
    if (!ctx || !json || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_model_from_json: NULL argument");
    *out = NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    size_t len = strlen(json);
    json_object *root = len < INT32_MAX ? json_tokener_parse_ex(tok, json, (int)len) : NULL;
    size_t end = json_tokener_get_parse_end(tok);
    bool ok = root && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    while (ok && end < len && (json[end] == ' ' || json[end] == '\n' || json[end] == '\t' ||
                               json[end] == '\r'))
        end++;
    kcl_status st = ok && end == len ? from_root(ctx, root, out)
                                     : kcl__fail(ctx, KCL_ERR_FORMAT, "model JSON: not a valid "
                                                 "JSON document");
    json_object_put(root);
    /* What the constructors refuse (a bad rate, shapes that do not fit) is a
     * fault of the JSON here. */
    if (st == KCL_ERR_ARGUMENT || st == KCL_ERR_SHAPE || st == KCL_ERR_NAME || st == KCL_ERR_STATE)
        st = kcl__fail(ctx, KCL_ERR_FORMAT, "%s", kcl_errmsg(ctx));
    return st;
}
