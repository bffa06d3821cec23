/* model.c: Sequential and Functional models as a topologically sorted array
 * of layer calls over numbered values, the forward pass, nested models, and
 * summary(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static char *dup_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static kcl_status new_model(kcl_context *ctx, const char *name, const char *base, kcl_model **out)
{
    kcl_model *m = calloc(1, sizeof *m);
    if (!m || !(m->name = name ? dup_text(name) : kcl__auto_name(ctx, base))) {
        free(m);
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory creating a model");
    }
    m->ctx = ctx;
    *out = m;
    return KCL_OK;
}

kcl_status kcl_sequential(kcl_context *ctx, kcl_model **out)
{
    if (!ctx || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_sequential: NULL argument");
    kcl_status st = new_model(ctx, NULL, "sequential", out);
    if (!st)
        (*out)->sequential = true;
    return st;
}

static kcl_status reserve(kcl_model *m, size_t nodes, size_t values, size_t layers)
{
    kcl_model_node *n = realloc(m->nodes, (nodes ? nodes : 1) * sizeof *n);
    if (n)
        m->nodes = n;
    kcl_shape *v = realloc(m->values, (values ? values : 1) * sizeof *v);
    if (v)
        m->values = v;
    kcl_layer **l = realloc(m->layers, (layers ? layers : 1) * sizeof *l);
    if (l)
        m->layers = l;
    return n && v && l ? KCL_OK : kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
}

/* ------------------------------------------------------------- Sequential -- */

/* Builds the chain input -> layer 0 -> layer 1 -> ... */
static kcl_status sequential_chain(kcl_model *m, const kcl_shape *input)
{
    kcl_status st = reserve(m, m->n_layers, m->n_layers + 1, m->n_layers);
    if (!st && !m->outputs && !(m->outputs = malloc(sizeof *m->outputs)))
        st = kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    if (st)
        return st;
    m->values[0] = *input;
    for (size_t i = 0; i < m->n_layers; i++) {
        kcl_shape out;
        if ((st = kcl__layer_build(m->layers[i], m->ctx, 1, &m->values[i], &out)))
            return st;
        m->nodes[i] = (kcl_model_node){m->layers[i], 1, {(int)i}, (int)i + 1};
        m->values[i + 1] = out;
    }
    m->n_nodes = m->n_layers;
    m->n_values = m->n_layers + 1;
    m->n_inputs = m->n_outputs = 1;
    m->outputs[0] = (int)m->n_layers;
    m->built = true;
    return KCL_OK;
}

kcl_status kcl__model_build(kcl_model *m, const kcl_shape *input)
{
    return m->built ? KCL_OK : sequential_chain(m, input);
}

static const kcl_shape *sequential_input(const kcl_model *m)
{
    if (m->built)
        return &m->values[0];
    if (m->n_layers && m->layers[0]->input_shape.rank)
        return &m->layers[0]->input_shape;
    return NULL;
}

kcl_status kcl_model_add(kcl_model *m, kcl_layer *layer)
{
    kcl_status st = KCL_OK;
    if (!m || !layer)
        st = kcl__fail(m ? m->ctx : NULL, layer ? KCL_ERR_ARGUMENT : KCL_ERR_MEMORY,
                       "kcl_model_add: %s", layer ? "NULL model" : "NULL layer (out of memory?)");
    else if (!m->sequential)
        st = kcl__fail(m->ctx, KCL_ERR_STATE, "kcl_model_add: '%s' is not a Sequential model",
                       m->name);
    if (st) {
        kcl_layer_free(layer);
        return st;
    }
    if ((st = reserve(m, m->n_layers + 1, m->n_layers + 2, m->n_layers + 1)) ||
        (st = kcl__layer_adopt(layer, m->ctx))) {
        kcl_layer_free(layer);
        return st;
    }
    m->layers[m->n_layers++] = layer;
    const kcl_shape *input = sequential_input(m);
    if (!input)
        return KCL_OK;   /* built from the first data it sees */
    kcl_shape in = *input;
    m->built = false;
    if ((st = sequential_chain(m, &in)) != KCL_OK) {
        /* Refused: the model goes back to what it was. */
        m->n_layers--;
        kcl__layer_release(layer);
        if (m->n_layers)
            sequential_chain(m, &in);
    }
    return st;
}

kcl_status kcl_model_pop(kcl_model *m)
{
    if (!m || !m->sequential || m->n_layers == 0)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_STATE, "kcl_model_pop: no layer to remove");
    kcl_shape in = m->built ? m->values[0] : (kcl_shape){0, {0}};
    kcl__layer_release(m->layers[--m->n_layers]);
    m->built = false;
    m->n_nodes = 0;
    return m->n_layers && in.rank ? sequential_chain(m, &in) : KCL_OK;
}

/* ------------------------------------------------------------- Functional -- */

static kcl_sym *new_sym(kcl_context *ctx)
{
    kcl_sym *s = calloc(1, sizeof *s);
    if (s) {
        s->ctx = ctx;
        s->next = ctx->syms;
        ctx->syms = s;
    }
    return s;
}

void kcl__syms_free(kcl_context *ctx)
{
    while (ctx->syms) {
        kcl_sym *next = ctx->syms->next;
        kcl__layer_release(ctx->syms->layer);
        free(ctx->syms->name);
        free(ctx->syms);
        ctx->syms = next;
    }
}

kcl_status kcl_input(kcl_context *ctx, int rank, const int64_t *shape, const char *name,
                     kcl_sym **out)
{
    if (!ctx || !out || (rank > 0 && !shape))
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_input: NULL argument");
    if (rank < 0 || rank >= KCL_MAX_RANK)
        return kcl__fail(ctx, KCL_ERR_SHAPE, "kcl_input: rank %d is outside 0..%d", rank,
                         KCL_MAX_RANK - 1);
    kcl_sym *s = new_sym(ctx);
    if (!s || !(s->name = name ? dup_text(name) : kcl__auto_name(ctx, "input_layer")))
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    s->shape.rank = rank + 1;
    s->shape.dims[0] = -1;
    for (int i = 0; i < rank; i++)
        s->shape.dims[i + 1] = shape[i];
    *out = s;
    return KCL_OK;
}

kcl_status kcl_call_n(kcl_layer *layer, size_t n, kcl_sym *const *xs, kcl_sym **out)
{
    if (!layer || !out || !xs || n == 0 || !xs[0])
        return kcl__fail(layer ? layer->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_call: NULL argument");
    kcl_context *ctx = xs[0]->ctx;
    if (n > 8)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_call: at most 8 inputs");
    kcl_shape in[8];
    for (size_t i = 0; i < n; i++) {
        if (!xs[i] || xs[i]->ctx != ctx)
            return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_call: input %zu is NULL or of another "
                             "context", i);
        in[i] = xs[i]->shape;
    }
    kcl_status st = kcl__layer_adopt(layer, ctx);
    if (st)
        return st;
    kcl_shape shape;
    kcl_sym *s = NULL;
    if (!(st = kcl__layer_build(layer, ctx, (int)n, in, &shape)) && !(s = new_sym(ctx)))
        st = kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    if (st) {
        kcl__layer_release(layer);
        return st;
    }
    s->shape = shape;
    s->layer = layer;   /* the sym holds the reference taken above */
    s->n_in = (int)n;
    memcpy(s->in, xs, n * sizeof *xs);
    *out = s;
    return KCL_OK;
}

kcl_status kcl_call(kcl_layer *layer, kcl_sym *x, kcl_sym **out)
{
    return kcl_call_n(layer, 1, &x, out);
}

int kcl_sym_rank(const kcl_sym *s) { return s ? s->shape.rank : -1; }
const int64_t *kcl_sym_shape(const kcl_sym *s) { return s ? s->shape.dims : NULL; }

/* Depth-first walk from the outputs: every layer call after its inputs. */
typedef struct walk {
    kcl_model *m;
    kcl_sym **seen;              /* sym of each value */
    size_t n_seen, cap;
    kcl_status st;
} walk;

static int value_of(walk *w, kcl_sym *s)
{
    for (size_t i = 0; i < w->n_seen; i++)
        if (w->seen[i] == s)
            return (int)i;
    return -1;
}

static int visit(walk *w, kcl_sym *s, int depth)
{
    int v = value_of(w, s);
    if (v >= 0 || w->st)
        return v;
    kcl_model *m = w->m;
    if (!s->layer) {
        w->st = kcl__fail(m->ctx, KCL_ERR_ARGUMENT,
                          "functional model '%s': an output depends on input '%s', which is not "
                          "among the model's inputs", m->name, s->name ? s->name : "?");
        return -1;
    }
    if (depth > 10000) {
        w->st = kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "functional model '%s' is too deep", m->name);
        return -1;
    }
    kcl_model_node node = {s->layer, s->n_in, {0}, 0};
    for (int i = 0; i < s->n_in; i++)
        if ((node.in[i] = visit(w, s->in[i], depth + 1)) < 0)
            return -1;
    if (w->n_seen == w->cap) {
        kcl_sym **seen = realloc(w->seen, 2 * w->cap * sizeof *seen);
        if (!seen) {
            w->st = kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
            return -1;
        }
        w->seen = seen;
        w->cap *= 2;
    }
    if ((w->st = reserve(m, m->n_nodes + 1, w->cap, m->n_layers + 1)))
        return -1;
    node.out = (int)w->n_seen;
    w->seen[w->n_seen] = s;
    m->values[w->n_seen++] = s->shape;
    m->n_values = w->n_seen;
    m->nodes[m->n_nodes++] = node;
    bool known = false;
    for (size_t i = 0; i < m->n_layers; i++)
        known |= m->layers[i] == s->layer;
    if (!known) {
        s->layer->refs++;
        m->layers[m->n_layers++] = s->layer;
    }
    return node.out;
}

static kcl_status functional_graph(kcl_model *m, size_t n_in, kcl_sym *const *in, size_t n_out,
                                   kcl_sym *const *out)
{
    walk w = {m, NULL, 0, n_in + 16, KCL_OK};
    kcl_status st = reserve(m, 1, w.cap, 1);
    if (st || !(w.seen = malloc(w.cap * sizeof *w.seen)) ||
        !(m->outputs = malloc(n_out * sizeof *m->outputs)) ||
        !(m->input_names = calloc(n_in, sizeof *m->input_names)))
        st = kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    for (size_t i = 0; i < n_in && !st; i++) {
        if (!in[i] || in[i]->layer || value_of(&w, in[i]) >= 0)
            st = kcl__fail(m->ctx, KCL_ERR_ARGUMENT,
                           "functional model '%s': input %zu is not a distinct kcl_input", m->name, i);
        else {
            w.seen[w.n_seen] = in[i];
            m->values[w.n_seen++] = in[i]->shape;
            m->input_names[i] = dup_text(in[i]->name);
        }
    }
    m->n_values = w.n_seen;
    m->n_inputs = n_in;
    for (size_t i = 0; i < n_out && !st; i++) {
        if (!out[i])
            st = kcl__fail(m->ctx, KCL_ERR_ARGUMENT, "functional model: output %zu is NULL", i);
        else if ((m->outputs[i] = visit(&w, out[i], 0)) < 0)
            st = w.st;
    }
    m->n_outputs = n_out;
    free(w.seen);
    return st;
}

kcl_status kcl_functional(kcl_context *ctx, size_t n_inputs, kcl_sym *const *inputs,
                          size_t n_outputs, kcl_sym *const *outputs, const char *name,
                          kcl_model **out)
{
    if (!ctx || !out || !inputs || !outputs || !n_inputs || !n_outputs)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_functional: NULL or empty argument");
    kcl_model *m;
    kcl_status st = new_model(ctx, name, "functional", &m);
    if (st)
        return st;
    if ((st = functional_graph(m, n_inputs, inputs, n_outputs, outputs))) {
        kcl_model_free(m);
        return st;
    }
    m->built = true;
    *out = m;
    return KCL_OK;
}

/* ------------------------------------------------------------------ free -- */

void kcl_model_free(kcl_model *m)
{
    if (!m)
        return;
    kcl__train_free(m);
    for (size_t i = 0; i < m->n_layers; i++)
        kcl__layer_release(m->layers[i]);
    if (m->as_layer) {
        m->as_layer->inner = NULL;
        kcl_layer_free(m->as_layer);   /* only if no outer model took it */
    }
    for (size_t i = 0; m->input_names && i < m->n_inputs; i++)
        free(m->input_names[i]);
    free(m->input_names);
    free(m->nodes);
    free(m->values);
    free(m->layers);
    free(m->outputs);
    free(m->name);
    free(m);
}

kcl_context *kcl_model_context(const kcl_model *m) { return m ? m->ctx : NULL; }
const char *kcl_model_name(const kcl_model *m) { return m ? m->name : NULL; }
size_t kcl_model_layer_count(const kcl_model *m) { return m ? m->n_layers : 0; }

kcl_layer *kcl_model_layer(const kcl_model *m, size_t i)
{
    return m && i < m->n_layers ? m->layers[i] : NULL;
}

kcl_layer *kcl_model_layer_by_name(const kcl_model *m, const char *name)
{
    for (size_t i = 0; m && name && i < m->n_layers; i++)
        if (m->layers[i]->name && strcmp(m->layers[i]->name, name) == 0)
            return m->layers[i];
    return NULL;
}

/* --------------------------------------------------------------- forward -- */

kcl_status kcl__model_forward(kcl_model *m, kcl_tensor *const *inputs, bool training,
                              kcl_tensor **outputs)
{
    kcl_tensor **vals = calloc(m->n_values, sizeof *vals);
    int *uses = calloc(m->n_values, sizeof *uses);
    kcl_status st = vals && uses ? KCL_OK : kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
    for (size_t i = 0; i < m->n_nodes; i++)
        for (int k = 0; uses && k < m->nodes[i].n_in; k++)
            uses[m->nodes[i].in[k]]++;
    for (size_t i = 0; !st && i < m->n_inputs; i++)
        vals[i] = kcl__tensor_retain(inputs[i]);
    for (size_t i = 0; !st && i < m->n_nodes; i++) {
        const kcl_model_node *node = &m->nodes[i];
        kcl_tensor *in[8];
        for (int k = 0; k < node->n_in; k++)
            in[k] = vals[node->in[k]];
        st = node->layer->kind->call(node->layer, node->n_in, in, training, &vals[node->out]);
        if (st)
            st = kcl__fail(m->ctx, st, "layer '%s' (%s): %s", node->layer->name,
                           node->layer->kind->class_name, kcl_errmsg(m->ctx));
        /* An intermediate value goes as soon as its last reader has run. */
        for (int k = 0; k < node->n_in; k++)
            if (--uses[node->in[k]] == 0 && node->in[k] >= (int)m->n_inputs) {
                bool is_output = false;
                for (size_t o = 0; o < m->n_outputs; o++)
                    is_output |= m->outputs[o] == node->in[k];
                if (!is_output) {
                    kcl_tensor_free(vals[node->in[k]]);
                    vals[node->in[k]] = NULL;
                }
            }
    }
    for (size_t o = 0; !st && o < m->n_outputs; o++)
        outputs[o] = kcl__tensor_retain(vals[m->outputs[o]]);
    for (size_t i = 0; vals && i < m->n_values; i++)
        kcl_tensor_free(vals[i]);
    free(vals);
    free(uses);
    return st;
}

/* --------------------------------------------------------- model as layer -- */

static kcl_status nested_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                               kcl_shape *out)
{
    kcl_model *m = layer->inner;
    char a[128], b[128];
    if (!m || !m->built || m->n_outputs != 1 || (size_t)n != m->n_inputs)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "model '%s' used as a layer must be built, have one output and get "
                         "its %zu inputs", layer->name, m ? m->n_inputs : 0);
    for (int i = 0; i < n; i++) {
        const kcl_shape *want = &m->values[i];
        if (!kcl__shape_accepts(want, &in[i]))
            return kcl__fail(ctx, KCL_ERR_SHAPE, "model '%s' expects input %s, got %s", layer->name,
                             kcl__shape_text(want, a, sizeof a), kcl__shape_text(&in[i], b, sizeof b));
    }
    *out = m->values[m->outputs[0]];
    out->dims[0] = in[0].dims[0];
    return KCL_OK;
}

static kcl_status nested_call(kcl_layer *layer, int n, kcl_tensor *const *in, bool training,
                              kcl_tensor **out)
{
    (void)n;
    return kcl__model_forward(layer->inner, in, training, out);
}

/* The wrapper goes first when the outer model is freed first: the inner
 * model must then forget it. */
static void nested_destroy(kcl_layer *layer)
{
    if (layer->inner)
        layer->inner->as_layer = NULL;
}

static const kcl_layer_kind sequential_layer_kind = {"Sequential", "sequential", 1, 1,
                                                     nested_build, nested_call, nested_destroy};
static const kcl_layer_kind functional_layer_kind = {"Functional", "functional", 1, 8,
                                                     nested_build, nested_call, nested_destroy};

kcl_layer *kcl_model_as_layer(kcl_model *m)
{
    if (!m)
        return NULL;
    if (!m->as_layer) {
        int dummy = 0;
        m->as_layer = kcl__layer_new(m->sequential ? &sequential_layer_kind : &functional_layer_kind,
                                     m->name, NULL, 0, 0, &dummy, sizeof dummy);
        if (m->as_layer)
            m->as_layer->inner = m;
    }
    return m->as_layer;
}

/* --------------------------------------------------------------- weights -- */

static kcl_status collect(kcl_model *m, bool trainable_only, kcl_tensor ***vars, size_t *n,
                          size_t *cap)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        kcl_layer *l = m->layers[i];
        if (l->inner) {
            kcl_status st = collect(l->inner, trainable_only, vars, n, cap);
            if (st)
                return st;
            continue;
        }
        for (size_t k = 0; k < l->n_weights; k++) {
            if (trainable_only && !l->trainable)
                continue;
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 16;
                kcl_tensor **grown = realloc(*vars, *cap * sizeof *grown);
                if (!grown)
                    return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
                *vars = grown;
            }
            (*vars)[(*n)++] = l->weights[k];
        }
    }
    return KCL_OK;
}

kcl_status kcl__model_weights(kcl_model *m, bool trainable_only, kcl_tensor ***vars, size_t *n)
{
    size_t cap = 0;
    *vars = NULL;
    *n = 0;
    kcl_status st = collect(m, trainable_only, vars, n, &cap);
    if (st) {
        free(*vars);
        *vars = NULL;
        *n = 0;
    }
    return st;
}

static void count_layer(const kcl_layer *l, int64_t *total, int64_t *trainable)
{
    if (l->inner) {
        for (size_t i = 0; i < l->inner->n_layers; i++)
            count_layer(l->inner->layers[i], total, trainable);
        return;
    }
    for (size_t k = 0; k < l->n_weights; k++) {
        int64_t size = kcl_tensor_size(l->weights[k]);
        *total += size;
        if (l->trainable)
            *trainable += size;
    }
}

kcl_status kcl_model_count_params(kcl_model *m, int64_t *total, int64_t *trainable)
{
    if (!m || !total || !trainable)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_model_count_params: NULL argument");
    *total = *trainable = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        count_layer(m->layers[i], total, trainable);
    return KCL_OK;
}
