/* callbacks.c: user callbacks and running them at fit's hooks. */
#include <stdlib.h>

#include "train.h"

struct kcl_callback {
    kcl_callback_hooks hooks;
};

kcl_status kcl_callback_create(const kcl_callback_hooks *hooks, kcl_callback **out)
{
    if (!hooks || !out)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_callback_create: NULL argument");
    *out = malloc(sizeof **out);
    if (!*out)
        return kcl__fail(NULL, KCL_ERR_MEMORY, "kcl_callback_create: out of host memory");
    (*out)->hooks = *hooks;
    return KCL_OK;
}

void kcl_callback_free(kcl_callback *cb)
{
    if (!cb)
        return;
    if (cb->hooks.destroy)
        cb->hooks.destroy(cb->hooks.user);
    free(cb);
}

bool kcl__callbacks_want_batch_logs(size_t n, kcl_callback *const *cbs)
{
    for (size_t i = 0; i < n; i++)
        if (cbs[i] && cbs[i]->hooks.on_batch_end)
            return true;
    return false;
}

static kcl_status run_one(kcl_model *m, const kcl_callback_hooks *h, kcl_hook hook,
                          int64_t index, const kcl_logs *logs)
{
    switch (hook) {
    case KCL_HOOK_TRAIN_BEGIN: return h->on_train_begin ? h->on_train_begin(m, h->user) : KCL_OK;
    case KCL_HOOK_TRAIN_END: return h->on_train_end ? h->on_train_end(m, logs, h->user) : KCL_OK;
    case KCL_HOOK_EPOCH_BEGIN:
        return h->on_epoch_begin ? h->on_epoch_begin(m, (int)index, h->user) : KCL_OK;
    case KCL_HOOK_EPOCH_END:
        return h->on_epoch_end ? h->on_epoch_end(m, (int)index, logs, h->user) : KCL_OK;
    case KCL_HOOK_BATCH_BEGIN:
        return h->on_batch_begin ? h->on_batch_begin(m, index, h->user) : KCL_OK;
    case KCL_HOOK_BATCH_END:
        return h->on_batch_end ? h->on_batch_end(m, index, logs, h->user) : KCL_OK;
    }
    return KCL_OK;
}

kcl_status kcl__callbacks_run(kcl_model *m, size_t n, kcl_callback *const *cbs, kcl_hook hook,
                              int64_t index, const kcl_logs *logs)
{
    for (size_t i = 0; i < n; i++) {
        if (!cbs[i])
            continue;
        kcl_status st = run_one(m, &cbs[i]->hooks, hook, index, logs);
        if (st)
            return st;
    }
    return KCL_OK;
}

const kcl_callback_hooks *kcl__callback_hooks(const kcl_callback *cb)
{
    return cb ? &cb->hooks : NULL;
}
