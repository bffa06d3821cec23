/* load.c: kcl_model_load_weights and kcl_model_load. Everything is read and
 * checked in host memory first (file, names, shapes, optimizer state); only
 * then are tensors written, so a refused file leaves the model as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "serialize.h"
#include "train.h"

bool kcl__same_shape(const kcl_st_tensor *t, const kcl_tensor *x)
{
    if (t->rank != kcl_tensor_rank(x))
        return false;
    for (int i = 0; i < t->rank; i++)
        if (t->shape[i] != kcl_tensor_shape(x)[i])
            return false;
    return true;
}

/* Appends name to a message list "a, b, c" (", ..." once full). */
static void list_name(char *buf, size_t size, size_t *count, const char *name)
{
    size_t used = strlen(buf);
    if (*count < 6 && used + strlen(name) + 8 < size)
        snprintf(buf + used, size - used, "%s'%s'", *count ? ", " : "", name);
    else if (*count == 6 && used + 8 < size)
        snprintf(buf + used, size - used, ", ...");
    (*count)++;
}

static bool is_optimizer_tensor(const char *name)
{
    return strncmp(name, KCL_OPTIMIZER_PREFIX, strlen(KCL_OPTIMIZER_PREFIX)) == 0;
}

static kcl_status shape_mismatch(kcl_context *ctx, const char *path, const kcl_st_tensor *t,
                                 const kcl_tensor *x)
{
    char a[128];
    return kcl__fail(ctx, KCL_ERR_FORMAT, "'%s': tensor '%s' has shape %s, the model's %s",
                     path, t->name, kcl__shape_str(t->rank, t->shape, a, sizeof a),
                     kcl__shape_of(x));
}

kcl_status kcl__match_weights(kcl_context *ctx, const char *path, kcl_st_file *f,
                              const kcl_weight_ref *w, size_t n)
{
    char missing[400] = "", extra[400] = "";
    size_t n_missing = 0, n_extra = 0;
    for (size_t i = 0; i < n; i++) {
        kcl_st_tensor *t = kcl__st_find(f, w[i].name);
        if (!t) {
            list_name(missing, sizeof missing, &n_missing, w[i].name);
            continue;
        }
        if (!kcl__same_shape(t, w[i].tensor))
            return shape_mismatch(ctx, path, t, w[i].tensor);
        t->used = true;
    }
    for (size_t i = 0; i < f->n; i++)
        if (!f->tensors[i].used && !is_optimizer_tensor(f->tensors[i].name))
            list_name(extra, sizeof extra, &n_extra, f->tensors[i].name);
    if (n_missing || n_extra)
        return kcl__fail(ctx, KCL_ERR_FORMAT, "'%s' does not match the model: %zu weight%s "
                         "missing%s%s%s, %zu tensor%s unknown to the model%s%s", path, n_missing,
                         n_missing == 1 ? "" : "s", n_missing ? " (" : "", missing,
                         n_missing ? ")" : "", n_extra, n_extra == 1 ? "" : "s",
                         n_extra ? ": " : "", extra);
    return KCL_OK;
}

/* Writes the file's values into the weights (after every check passed). */
static kcl_status write_weights(kcl_st_file *f, const kcl_weight_ref *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const kcl_st_tensor *t = kcl__st_find(f, w[i].name);
        kcl_status st = kcl_tensor_write(w[i].tensor, t->values, t->count);
        if (st)
            return st;
    }
    return KCL_OK;
}

/* Tensors under "optimizer/" are ignored: a whole-model file loads as weights too. */
kcl_status kcl_model_load_weights(kcl_model *m, const char *path)
{
    if (!m || !path)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_model_load_weights: NULL "
                         "argument");
    if (!m->built)
        return kcl__fail(m->ctx, KCL_ERR_STATE, "kcl_model_load_weights: build model '%s' first",
                         m->name);
    kcl_st_file f;
    kcl_weight_ref *w = NULL;
    size_t n = 0;
    kcl_status st = kcl__st_read(m->ctx, path, false, &f);
    if (st)
        return st;
    if (!(st = kcl__weight_list(m, &w, &n)) && !(st = kcl__match_weights(m->ctx, path, &f, w, n)))
        st = write_weights(&f, w, n);
    kcl__weight_list_free(w, n);
    kcl__st_free(&f);
    return st;
}

/* ------------------------------------------------------------ whole model -- */

/* One optimizer slot: the file's tensor and the optimizer's. */
typedef struct slot_pair {
    const kcl_st_tensor *from;
    kcl_tensor *to;
} slot_pair;

/* Finds every slot of every trainable weight in the file (creating the
 * slots), checking names and shapes; pairs[] receives them. */
static kcl_status match_slots(kcl_model *m, const char *path, kcl_st_file *f,
                              const kcl_weight_ref *w, size_t n, slot_pair **pairs, size_t *n_pairs)
{
    kcl_optimizer *opt = kcl_model_optimizer(m);
    size_t cap = 0;
    for (size_t i = 0; opt && i < n; i++) {
        size_t n_slots;
        const char *const *names;
        kcl_tensor *const *slots;
        kcl_status st = w[i].trainable ? kcl_optimizer_slots(opt, w[i].tensor, &n_slots, &names,
                                                             &slots) : KCL_OK;
        if (st)
            return st;
        for (size_t k = 0; w[i].trainable && k < n_slots; k++) {
            char name[512];
            snprintf(name, sizeof name, "%s%s/%s", KCL_OPTIMIZER_PREFIX, w[i].name, names[k]);
            kcl_st_tensor *t = kcl__st_find(f, name);
            if (!t)
                return kcl__fail(m->ctx, KCL_ERR_FORMAT, "'%s': optimizer slot '%s' is missing",
                                 path, name);
            if (!kcl__same_shape(t, slots[k]))
                return shape_mismatch(m->ctx, path, t, slots[k]);
            if (*n_pairs == cap) {
                cap = cap ? 2 * cap : 32;
                slot_pair *grown = realloc(*pairs, cap * sizeof *grown);
                if (!grown)
                    return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory");
                *pairs = grown;
            }
            t->used = true;
            (*pairs)[(*n_pairs)++] = (slot_pair){t, slots[k]};
        }
    }
    for (size_t i = 0; i < f->n; i++)
        if (!f->tensors[i].used)
            return kcl__fail(m->ctx, KCL_ERR_FORMAT, "'%s': tensor '%s' belongs to no weight or "
                             "optimizer slot of the model", path, f->tensors[i].name);
    return KCL_OK;
}

/* Each entry names a layer of the model and gives a count. */
static bool calls_valid(kcl_model *m, json_object *calls)
{
    if (!json_object_is_type(calls, json_type_object))
        return false;
    json_object_object_foreach(calls, name, count) {
        if (!kcl_model_layer_by_name(m, name) || !json_object_is_type(count, json_type_int) ||
            json_object_get_int64(count) < 0)
            return false;
    }
    return true;
}

/* The training state: {"optimizer_iterations": n, "layer_calls": {"layer": n, ...}}.
 * The layer call counts are checked here and set by set_calls. */
static kcl_status parse_state(kcl_model *m, const char *path, const char *text,
                              int64_t *iterations, json_object **calls)
{
    json_object *root = text ? json_tokener_parse(text) : NULL, *it;
    bool ok = root && json_object_is_type(root, json_type_object) &&
              json_object_object_get_ex(root, "optimizer_iterations", &it) &&
              json_object_is_type(it, json_type_int) && json_object_get_int64(it) >= 0;
    *iterations = ok ? json_object_get_int64(it) : 0;
    *calls = NULL;
    if (ok && json_object_object_get_ex(root, "layer_calls", calls) && *calls)
        ok = calls_valid(m, *calls);
    if (ok) {
        *calls = *calls ? json_object_get(*calls) : NULL;   /* outlives root */
        json_object_put(root);
        return KCL_OK;
    }
    *calls = NULL;
    json_object_put(root);
    return kcl__fail(m->ctx, KCL_ERR_FORMAT, "'%s': the training_state metadata is missing or "
                     "malformed", path);
}

static void set_calls(kcl_model *m, json_object *calls)
{
    if (!calls)
        return;
    json_object_object_foreach(calls, name, count)
        kcl_model_layer_by_name(m, name)->calls = json_object_get_uint64(count);
}

static kcl_status restore(kcl_model *m, const char *path, kcl_st_file *f)
{
    kcl_weight_ref *w = NULL;
    slot_pair *pairs = NULL;
    size_t n = 0, n_pairs = 0;
    int64_t iterations;
    json_object *calls = NULL;
    kcl_status st = parse_state(m, path, kcl__st_meta(f, "training_state"), &iterations, &calls);
    if (!st)
        st = kcl__weight_list(m, &w, &n);
    if (!st)
        st = kcl__match_weights(m->ctx, path, f, w, n);
    if (!st)
        st = match_slots(m, path, f, w, n, &pairs, &n_pairs);
    if (!st)
        st = write_weights(f, w, n);
    for (size_t i = 0; !st && i < n_pairs; i++)
        st = kcl_tensor_write(pairs[i].to, pairs[i].from->values, pairs[i].from->count);
    if (!st && kcl_model_optimizer(m))
        st = kcl_optimizer_set_iterations(kcl_model_optimizer(m), iterations);
    if (!st)
        set_calls(m, calls);
    json_object_put(calls);
    free(pairs);
    kcl__weight_list_free(w, n);
    return st;
}

kcl_status kcl_model_load(kcl_context *ctx, const char *path, kcl_model **out)
{
    if (!ctx || !path || !out)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_model_load: NULL argument");
    *out = NULL;
    kcl_st_file f;
    kcl_status st = kcl__st_read(ctx, path, true, &f);
    if (st)
        return st;
    const char *config = kcl__st_meta(&f, "model_config");
    kcl_model *m = NULL;
    if (!config)
        st = kcl__fail(ctx, KCL_ERR_FORMAT, "'%s' holds no model_config metadata: a weights file? "
                       "(use kcl_model_load_weights)", path);
    else if ((st = kcl_model_from_json(ctx, config, &m)))
        st = kcl__fail(ctx, st, "'%s': %s", path, kcl_errmsg(ctx));
    else if ((st = restore(m, path, &f))) {
        kcl_model_free(m);
        m = NULL;
    }
    kcl__st_free(&f);
    *out = m;
    return st;
}
