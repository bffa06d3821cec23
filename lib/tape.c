/* tape.c: GradientTape. While recording, every op whose inputs the tape
 * tracks is kept (node copy plus references to its tensors); gradient() walks
 * those nodes backwards, calling each op's backward entry and summing the
 * gradients of tensors used more than once. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tape.h"

/* ---------------------------------------------------------------- id map -- */

/* Open addressing from tensor ids (never 0) to pointers. */
typedef struct idmap {
    uint64_t *keys;
    void **values;
    size_t cap, count;
} idmap;

static size_t slot_of(const idmap *m, uint64_t key)
{
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void *idmap_get(const idmap *m, uint64_t key)
{
    return m->cap ? m->values[slot_of(m, key)] : NULL;
}

static bool idmap_grow(idmap *m)
{
    idmap bigger = {0};
    bigger.cap = m->cap ? 2 * m->cap : 64;
    bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
    bigger.values = calloc(bigger.cap, sizeof *bigger.values);
    if (!bigger.keys || !bigger.values) {
        free(bigger.keys);
        free(bigger.values);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = slot_of(&bigger, m->keys[i]);
            bigger.keys[j] = m->keys[i];
            bigger.values[j] = m->values[i];
        }
    bigger.count = m->count;
    free(m->keys);
    free(m->values);
    *m = bigger;
    return true;
}

static bool idmap_put(idmap *m, uint64_t key, void *value)
{
    if (2 * (m->count + 1) > m->cap && !idmap_grow(m))
        return false;
    size_t i = slot_of(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->count++;
    }
    m->values[i] = value;
    return true;
}

static void idmap_free(idmap *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ tape -- */

struct kcl_tape {
    kcl_context *ctx;
    kcl_tape_options options;
    bool recording;
    bool spent;                  /* a non-persistent tape after its gradient */
    kcl_node **nodes;
    size_t n, cap;
    idmap tracked;               /* ids of tensors gradients can flow to */
    kcl_tape *next;              /* every tape of the context */
};

static bool tracks(kcl_tape *tape, const kcl_tensor *t)
{
    return idmap_get(&tape->tracked, t->id) ||
           (t->trainable && !tape->options.ignore_variables);
}

static void release_node(kcl_node *node)
{
    for (int i = 0; i < node->n_in; i++)
        kcl_tensor_free(node->in[i]);
    if (node->in != node->inline_in)
        free(node->in);
    kcl_tensor_free(node->out);
    kcl_tensor_free(node->saved);
    free(node);
}

static kcl_node *copy_node(const kcl_node *src)
{
    kcl_node *node = malloc(sizeof *node);
    if (!node)
        return NULL;
    *node = *src;
    node->in = node->inline_in;
    if (src->n_in > KCL_NODE_INLINE_INPUTS) {
        node->in = malloc((size_t)src->n_in * sizeof *node->in);
        if (!node->in) {
            free(node);
            return NULL;
        }
    }
    for (int i = 0; i < src->n_in; i++)
        node->in[i] = kcl__tensor_retain(src->in[i]);
    kcl__tensor_retain(node->out);
    kcl__tensor_retain(node->saved);
    return node;
}

static kcl_status record_on(kcl_tape *tape, const kcl_node *src)
{
    kcl_context *ctx = tape->ctx;
    if (tape->n == tape->cap) {
        size_t cap = tape->cap ? 2 * tape->cap : 64;
        kcl_node **grown = realloc(tape->nodes, cap * sizeof *grown);
        if (!grown)
            return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory recording %s",
                             src->def->name);
        tape->nodes = grown;
        tape->cap = cap;
    }
    kcl_node *node = copy_node(src);
    if (!node || !idmap_put(&tape->tracked, node->out->id, (void *)1)) {
        if (node)
            release_node(node);
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory recording %s", src->def->name);
    }
    tape->nodes[tape->n++] = node;
    return KCL_OK;
}

kcl_status kcl__tape_record(kcl_context *ctx, const kcl_node *node)
{
    for (kcl_tape *tape = ctx->tapes; tape; tape = tape->next) {
        if (!tape->recording || !node->def->backward)
            continue;
        bool tracked = false;
        for (int i = 0; i < node->n_in && !tracked; i++)
            tracked = tracks(tape, node->in[i]);
        if (!tracked)
            continue;
        kcl_status st = record_on(tape, node);
        if (st)
            return st;
    }
    return KCL_OK;
}

kcl_status kcl_tape_begin(kcl_context *ctx, const kcl_tape_options *options, kcl_tape **out)
{
    if (!ctx || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_tape_begin: NULL argument");
    kcl_tape *tape = calloc(1, sizeof *tape);
    if (!tape)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_tape_begin: out of host memory");
    tape->ctx = ctx;
    if (options)
        tape->options = *options;
    tape->recording = true;
    tape->next = ctx->tapes;
    ctx->tapes = tape;
    *out = tape;
    return KCL_OK;
}

kcl_status kcl_tape_watch(kcl_tape *tape, kcl_tensor *t)
{
    if (!tape || !t)
        return kcl__fail(tape ? tape->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_tape_watch: NULL argument");
    if (t->ctx != tape->ctx)
        return kcl__fail(tape->ctx, KCL_ERR_ARGUMENT,
                         "kcl_tape_watch: the tensor belongs to another context");
    if (!idmap_put(&tape->tracked, t->id, (void *)1))
        return kcl__fail(tape->ctx, KCL_ERR_MEMORY, "kcl_tape_watch: out of host memory");
    return KCL_OK;
}

kcl_status kcl_tape_stop(kcl_tape *tape)
{
    if (!tape)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_tape_stop: NULL tape");
    tape->recording = false;
    return KCL_OK;
}

static void forget_nodes(kcl_tape *tape)
{
    for (size_t i = 0; i < tape->n; i++)
        release_node(tape->nodes[i]);
    free(tape->nodes);
    tape->nodes = NULL;
    tape->n = tape->cap = 0;
}

void kcl_tape_free(kcl_tape *tape)
{
    if (!tape)
        return;
    kcl_tape **link = &tape->ctx->tapes;
    while (*link && *link != tape)
        link = &(*link)->next;
    if (*link)
        *link = tape->next;
    forget_nodes(tape);
    idmap_free(&tape->tracked);
    free(tape);
}

void kcl__tapes_free(kcl_context *ctx)
{
    while (ctx->tapes)
        kcl_tape_free(ctx->tapes);
}

/* ------------------------------------------------------------- gradient -- */

/* grads maps tensor ids to the gradient summed so far (a reference each). */
static kcl_status accumulate(kcl_context *ctx, idmap *grads, const kcl_tensor *t, kcl_tensor *g)
{
    kcl_tensor *old = idmap_get(grads, t->id);
    kcl_tensor *sum = g;
    if (old) {
        kcl_status st = kcl_add(old, g, &sum);
        kcl_tensor_free(g);
        if (st)
            return st;
        kcl_tensor_free(old);
    }
    if (!idmap_put(grads, t->id, sum)) {
        kcl_tensor_free(sum);
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory in kcl_tape_gradient");
    }
    return KCL_OK;
}

static kcl_status backward_node(kcl_tape *tape, kcl_node *node, idmap *grads)
{
    kcl_tensor *gy = idmap_get(grads, node->out->id);
    if (!gy)
        return KCL_OK;   /* the target does not depend on this node */
    kcl_tensor *inline_g[KCL_NODE_INLINE_INPUTS] = {0};
    kcl_tensor **g = inline_g;
    if (node->n_in > KCL_NODE_INLINE_INPUTS && !(g = calloc((size_t)node->n_in, sizeof *g)))
        return kcl__fail(tape->ctx, KCL_ERR_MEMORY, "out of host memory in kcl_tape_gradient");
    node->skip_grad = 0;
    for (int i = 0; i < node->n_in && i < 32; i++)
        if (!tracks(tape, node->in[i]))
            node->skip_grad |= 1u << i;
    kcl_status st = node->def->backward(tape->ctx, node, gy, g);
    for (int i = 0; i < node->n_in; i++) {
        if (!st && g[i] && tracks(tape, node->in[i]))
            st = accumulate(tape->ctx, grads, node->in[i], g[i]);
        else
            kcl_tensor_free(g[i]);
    }
    if (g != inline_g)
        free(g);
    return st;
}

static void release_grads(idmap *grads)
{
    for (size_t i = 0; i < grads->cap; i++)
        if (grads->keys[i])
            kcl_tensor_free(grads->values[i]);
    idmap_free(grads);
}

static kcl_status check_sources(kcl_tape *tape, size_t n, kcl_tensor *const *sources)
{
    for (size_t i = 0; i < n; i++) {
        if (!sources[i])
            return kcl__fail(tape->ctx, KCL_ERR_ARGUMENT, "kcl_tape_gradient: source %zu is NULL", i);
        if (!tracks(tape, sources[i]))
            return kcl__fail(tape->ctx, KCL_ERR_ARGUMENT,
                             "kcl_tape_gradient: source %zu (shape %s) is not on the tape: watch "
                             "it or make it a variable before using it",
                             i, kcl__shape_of(sources[i]));
    }
    return KCL_OK;
}

static kcl_status gradients(kcl_tape *tape, kcl_tensor *target, size_t n,
                            kcl_tensor *const *sources, kcl_tensor **grads_out)
{
    kcl_context *ctx = tape->ctx;
    idmap grads = {0};
    kcl_tensor *seed;
    kcl_status st = kcl__full(ctx, target->rank, target->shape, 1.0f, &seed);
    if (st)
        return st;
    if (!idmap_put(&grads, target->id, seed)) {
        kcl_tensor_free(seed);
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory in kcl_tape_gradient");
    }
    for (size_t i = tape->n; i-- > 0 && !st;)
        st = backward_node(tape, tape->nodes[i], &grads);
    for (size_t i = 0; i < n && !st; i++) {
        kcl_tensor *g = idmap_get(&grads, sources[i]->id);
        if (g)
            grads_out[i] = kcl__tensor_retain(g);
        else
            st = kcl__full(ctx, sources[i]->rank, sources[i]->shape, 0.0f, &grads_out[i]);
    }
    release_grads(&grads);
    return st;
}

kcl_status kcl_tape_gradient(kcl_tape *tape, kcl_tensor *target, size_t n,
                             kcl_tensor *const *sources, kcl_tensor **grads)
{
    if (!tape || !target || (n && (!sources || !grads)))
        return kcl__fail(tape ? tape->ctx : NULL, KCL_ERR_ARGUMENT,
                         "kcl_tape_gradient: NULL argument");
    kcl_context *ctx = tape->ctx;
    if (tape->spent)
        return kcl__fail(ctx, KCL_ERR_STATE,
                         "kcl_tape_gradient: a non-persistent tape gives gradients once; "
                         "begin it with .persistent = 1 for more");
    if (target->ctx != ctx)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_tape_gradient: target of another context");
    for (size_t i = 0; i < n; i++)
        grads[i] = NULL;
    kcl_status st = check_sources(tape, n, sources);
    if (st)
        return st;
    /* The tape does not record its own backward pass; outer tapes do. */
    bool was_recording = tape->recording;
    tape->recording = false;
    st = gradients(tape, target, n, sources, grads);
    tape->recording = was_recording;
    if (st)
        for (size_t i = 0; i < n; i++) {
            kcl_tensor_free(grads[i]);
            grads[i] = NULL;
        }
    if (!tape->options.persistent) {
        tape->spent = true;
        tape->recording = false;
        forget_nodes(tape);
    }
    return st;
}

/* -------------------------------------------------------------- variables -- */

kcl_status kcl_tensor_set_trainable(kcl_tensor *t, int trainable)
{
    if (!t)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_tensor_set_trainable: NULL tensor");
    t->trainable = trainable != 0;
    return KCL_OK;
}

int kcl_tensor_trainable(const kcl_tensor *t)
{
    return t && t->trainable;
}
