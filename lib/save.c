/* save.c: kcl_model_save_weights and kcl_model_save: the model's weights (and
 * for the whole model its JSON, training state and optimizer slots) copied to
 * host memory and written as one safetensors file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "serialize.h"
#include "train.h"

/* ---------------------------------------------------------- weight names -- */

typedef struct weight_list {
    kcl_weight_ref *items;
    size_t n, cap;
} weight_list;

static kcl_status push_weight(kcl_context *ctx, weight_list *w, const char *prefix,
                              const kcl_layer *l, size_t k)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        kcl_weight_ref *grown = realloc(w->items, cap * sizeof *grown);
        if (!grown)
            return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
        w->items = grown;
        w->cap = cap;
    }
    size_t size = strlen(prefix) + strlen(l->name) + strlen(l->weight_names[k]) + 2;
    char *name = malloc(size);
    if (!name)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    snprintf(name, size, "%s%s/%s", prefix, l->name, l->weight_names[k]);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->items[i].name, name) == 0) {
            kcl_status st = kcl__fail(ctx, KCL_ERR_STATE, "two weights are named '%s': give the "
                                      "layers distinct names to save them", name);
            free(name);
            return st;
        }
    w->items[w->n++] = (kcl_weight_ref){name, l->weights[k], l->trainable};
    return KCL_OK;
}

/* The same walk as kcl__model_weights (model.c): nested models in place. */
static kcl_status collect(kcl_model *m, const char *prefix, weight_list *w)
{
    kcl_status st = KCL_OK;
    for (size_t i = 0; !st && i < m->n_layers; i++) {
        kcl_layer *l = m->layers[i];
        if (l->inner) {
            size_t size = strlen(prefix) + strlen(l->name) + 2;
            char *inner = malloc(size);
            if (!inner)
                return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
            snprintf(inner, size, "%s%s/", prefix, l->name);
            st = collect(l->inner, inner, w);
            free(inner);
            continue;
        }
        for (size_t k = 0; !st && k < l->n_weights; k++)
            st = push_weight(m->ctx, w, prefix, l, k);
    }
    return st;
}

kcl_status kcl__weight_list(kcl_model *m, kcl_weight_ref **out, size_t *n)
{
    weight_list w = {NULL, 0, 0};
    kcl_status st = collect(m, "", &w);
    if (st) {
        kcl__weight_list_free(w.items, w.n);
        return st;
    }
    *out = w.items;
    *n = w.n;
    return KCL_OK;
}

void kcl__weight_list_free(kcl_weight_ref *w, size_t n)
{
    for (size_t i = 0; w && i < n; i++)
        free(w[i].name);
    free(w);
}

/* -------------------------------------------------------------- tensors -- */

/* The tensors to write, each with a host copy of its values. */
typedef struct out_list {
    kcl_st_out *items;
    char **names;                /* owned names (optimizer slots), NULL where borrowed */
    float **values;
    size_t n, cap;
} out_list;

static void out_list_free(out_list *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->names[i]);
        free(o->values[i]);
    }
    free(o->items);
    free(o->names);
    free(o->values);
}

/* Appends t under name (taken when owned) with its values read back (waits). */
static kcl_status push_tensor(kcl_context *ctx, out_list *o, const char *name, char *owned,
                              kcl_tensor *t)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 32;
        kcl_st_out *items = realloc(o->items, cap * sizeof *items);
        if (items)
            o->items = items;
        char **names = realloc(o->names, cap * sizeof *names);
        if (names)
            o->names = names;
        float **values = realloc(o->values, cap * sizeof *values);
        if (values)
            o->values = values;
        if (!items || !names || !values) {
            free(owned);
            return kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
        }
        o->cap = cap;
    }
    size_t count = (size_t)kcl_tensor_size(t);
    float *v = malloc((count ? count : 1) * sizeof *v);
    kcl_status st = v ? kcl_tensor_read(t, v, count)
                      : kcl__fail(ctx, KCL_ERR_MEMORY, "out of host memory");
    if (st) {
        free(v);
        free(owned);
        return st;
    }
    o->names[o->n] = owned;
    o->values[o->n] = v;
    o->items[o->n++] = (kcl_st_out){name, kcl_tensor_rank(t), kcl_tensor_shape(t), v, count};
    return KCL_OK;
}

/* "optimizer/<weight>/<slot>" for each slot of each trainable weight. Asking
 * for the slots creates them (as the first step would), so a model saved
 * before any training still loads with its optimizer state. */
static kcl_status push_slots(kcl_model *m, out_list *o, const kcl_weight_ref *w, size_t n)
{
    kcl_optimizer *opt = kcl_model_optimizer(m);
    for (size_t i = 0; opt && i < n; i++) {
        if (!w[i].trainable)
            continue;
        size_t n_slots;
        const char *const *names;
        kcl_tensor *const *slots;
        kcl_status st = kcl_optimizer_slots(opt, w[i].tensor, &n_slots, &names, &slots);
        for (size_t k = 0; !st && k < n_slots; k++) {
            size_t size = strlen(KCL_OPTIMIZER_PREFIX) + strlen(w[i].name) + strlen(names[k]) + 2;
            char *name = malloc(size);
            if (!name)
                return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
            snprintf(name, size, "%s%s/%s", KCL_OPTIMIZER_PREFIX, w[i].name, names[k]);
            st = push_tensor(m->ctx, o, name, name, slots[k]);
        }
        if (st)
            return st;
    }
    return KCL_OK;
}

static kcl_status check_model(kcl_model *m, const char *path, const char *fn)
{
    if (!m || !path)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "%s: NULL argument", fn);
    if (!m->built)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "%s: model '%s' is not built yet (it has no "
                         "weights)", fn, m->name);
    return KCL_OK;
}

/* Writes the model's weights, then (whole) its slots, with the metadata. */
static kcl_status save(kcl_model *m, const char *path, bool whole, size_t n_meta,
                       const kcl_st_meta *meta)
{
    kcl_weight_ref *w = NULL;
    size_t n = 0;
    out_list o = {0};
    kcl_status st = kcl__weight_list(m, &w, &n);
    for (size_t i = 0; !st && i < n; i++)
        st = push_tensor(m->ctx, &o, w[i].name, NULL, w[i].tensor);
    if (!st && whole)
        st = push_slots(m, &o, w, n);
    if (!st)
        st = kcl__st_write(m->ctx, path, o.n, o.items, n_meta, meta);
    out_list_free(&o);
    kcl__weight_list_free(w, n);
    return st;
}

kcl_status kcl_model_save_weights(kcl_model *m, const char *path)
{
    kcl_status st = check_model(m, path, "kcl_model_save_weights");
    if (st)
        return st;
    const kcl_st_meta meta[] = {{"format", "kcl"}};
    return save(m, path, false, 1, meta);
}

/* The training state: the optimizer's step count and, per layer that has
 * been called in training, the call count (seeded Dropout layers draw their
 * masks from it, so a resumed run draws the masks the uninterrupted one would). */
static char *training_state(kcl_model *m)
{
    kcl_optimizer *opt = kcl_model_optimizer(m);
    json_object *root = json_object_new_object(), *calls = json_object_new_object();
    json_object_object_add(root, "optimizer_iterations",
                           json_object_new_int64(opt ? kcl_optimizer_iterations(opt) : 0));
    for (size_t i = 0; i < m->n_layers; i++)
        if (m->layers[i]->calls)
            json_object_object_add(calls, m->layers[i]->name,
                                   json_object_new_uint64(m->layers[i]->calls));
    json_object_object_add(root, "layer_calls", calls);
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = text ? malloc(strlen(text) + 1) : NULL;
    if (copy)
        strcpy(copy, text);
    json_object_put(root);
    return copy;
}

kcl_status kcl_model_save(kcl_model *m, const char *path)
{
    kcl_status st = check_model(m, path, "kcl_model_save");
    if (st)
        return st;
    char *config = NULL, *state = NULL;
    if ((st = kcl_model_to_json(m, &config)))
        return st;
    if (!(state = training_state(m)))
        st = kcl__fail(m->ctx, KCL_ERR_MEMORY, "kcl_model_save: out of host memory");
    const kcl_st_meta meta[] = {{"format", "kcl"}, {"model_config", config},
                                {"training_state", state}};
    if (!st)
        st = save(m, path, true, 3, meta);
    free(config);
    free(state);
    return st;
}
