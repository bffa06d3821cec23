/* model_copy.c: kcl_model_copy, a model moved to another context (another
 * device or platform, or the same one). The architecture and compile settings
 * go through the JSON that kcl_model_save stores, the weights, optimizer slots
 * and counters through host memory: the same state a save and load carry,
 * without a file in between. */
#include <stdlib.h>
#include <string.h>

#include "serialize.h"
#include "train.h"

/* Copies src's values into dst (same element count) through buf. */
static kcl_status copy_values(kcl_tensor *src, kcl_tensor *dst, float *buf)
{
    size_t count = (size_t)kcl_tensor_size(src);
    kcl_status st = kcl_tensor_read(src, buf, count);
    return st ? st : kcl_tensor_write(dst, buf, count);
}

/* A host buffer large enough for every weight, and so for every slot (a slot
 * has its weight's shape). */
static float *buffer_for(const kcl_weight_ref *w, size_t n)
{
    int64_t most = 1;
    for (size_t i = 0; i < n; i++)
        if (kcl_tensor_size(w[i].tensor) > most)
            most = kcl_tensor_size(w[i].tensor);
    return malloc((size_t)most * sizeof(float));
}

/* The slots of one trainable weight; asking creates them on either side. */
static kcl_status copy_slots(kcl_context *ctx, kcl_optimizer *from, kcl_optimizer *to,
                             const kcl_weight_ref *a, const kcl_weight_ref *b, float *buf)
{
    size_t n_a, n_b;
    const char *const *names_a, *const *names_b;
    kcl_tensor *const *slots_a, *const *slots_b;
    kcl_status st = kcl_optimizer_slots(from, a->tensor, &n_a, &names_a, &slots_a);
    if (!st)
        st = kcl_optimizer_slots(to, b->tensor, &n_b, &names_b, &slots_b);
    if (!st && n_a != n_b)
        return kcl__fail(ctx, KCL_ERR_STATE, "the copy's optimizer keeps %zu slots for '%s', "
                         "the model's %zu", n_b, a->name, n_a);
    for (size_t k = 0; !st && k < n_a; k++)
        st = copy_values(slots_a[k], slots_b[k], buf);
    return st;
}

/* Weights (paired by name: both lists come from the same architecture, so a
 * difference is kcl's own fault), then the optimizer state, then the layers'
 * call counts. */
static kcl_status copy_state(kcl_model *src, kcl_model *dst, const kcl_weight_ref *a,
                             const kcl_weight_ref *b, size_t n, float *buf)
{
    kcl_status st = KCL_OK;
    for (size_t i = 0; !st && i < n; i++) {
        if (strcmp(a[i].name, b[i].name) != 0 || kcl_tensor_size(a[i].tensor) !=
                                                     kcl_tensor_size(b[i].tensor))
            return kcl__fail(src->ctx, KCL_ERR_STATE, "the copy's weight '%s' does not match the "
                             "model's '%s'", b[i].name, a[i].name);
        st = copy_values(a[i].tensor, b[i].tensor, buf);
    }
    kcl_optimizer *from = kcl_model_optimizer(src), *to = kcl_model_optimizer(dst);
    if (!st && from && to) {
        for (size_t i = 0; !st && i < n; i++)
            if (a[i].trainable)
                st = copy_slots(src->ctx, from, to, &a[i], &b[i], buf);
        if (!st)
            st = kcl_optimizer_set_iterations(to, kcl_optimizer_iterations(from));
    }
    for (size_t i = 0; !st && i < src->n_layers; i++) {
        kcl_layer *l = kcl_model_layer_by_name(dst, src->layers[i]->name);
        if (l)
            l->calls = src->layers[i]->calls;
    }
    return st;
}

/* Creates the copy on dst from src's JSON and fills in its state. */
static kcl_status copy_model(kcl_model *src, kcl_context *dst, kcl_model **out)
{
    char *json = NULL;
    kcl_model *m = NULL;
    kcl_weight_ref *a = NULL, *b = NULL;
    size_t n_a = 0, n_b = 0;
    float *buf = NULL;
    kcl_status st = kcl_model_to_json(src, &json);
    if (!st)
        st = kcl_model_from_json(dst, json, &m);
    if (!st)
        st = kcl__weight_list(src, &a, &n_a);
    if (!st)
        st = kcl__weight_list(m, &b, &n_b);
    if (!st && n_a != n_b)
        st = kcl__fail(src->ctx, KCL_ERR_STATE, "the copy has %zu weights, the model %zu", n_b, n_a);
    if (!st && !(buf = buffer_for(a, n_a)))
        st = kcl__fail(src->ctx, KCL_ERR_MEMORY, "out of host memory");
    if (!st)
        st = copy_state(src, m, a, b, n_a, buf);
    free(buf);
    kcl__weight_list_free(a, n_a);
    kcl__weight_list_free(b, n_b);
    free(json);
    if (st)
        kcl_model_free(m);
    else
        *out = m;
    return st;
}

kcl_status kcl_model_copy(kcl_model *src, kcl_context *dst, kcl_model **out)
{
    if (!src || !dst || !out)
        return kcl__fail(src ? src->ctx : dst, KCL_ERR_ARGUMENT, "kcl_model_copy: NULL argument");
    *out = NULL;
    if (!src->built)
        return kcl__fail(src->ctx, KCL_ERR_STATE, "kcl_model_copy: model '%s' is not built yet "
                         "(it has no weights to copy)", src->name);
    /* A step fails on src's context or on dst's: clear both first, so that
     * the one holding a message afterwards names the cause. */
    kcl__fail(src->ctx, KCL_OK, "%s", "");
    kcl__fail(dst, KCL_OK, "%s", "");
    kcl_status st = copy_model(src, dst, out);
    if (!st)
        return KCL_OK;
    const char *cause = dst != src->ctx && *kcl_errmsg(dst) ? kcl_errmsg(dst) : kcl_errmsg(src->ctx);
    return kcl__fail(src->ctx, st, "kcl_model_copy: model '%s' to device '%s': %s", src->name,
                     kcl_context_device(dst)->name, cause);
}
