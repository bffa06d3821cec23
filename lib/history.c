/* history.c: fit's History: one value per epoch for each key. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"

typedef struct series {
    char *key;
    float *values;
    int count;
} series;

struct kcl_history {
    series *keys;
    size_t n_keys;
    int epochs;
};

kcl_status kcl__history_new(kcl_history **h)
{
    *h = calloc(1, sizeof **h);
    return *h ? KCL_OK : KCL_ERR_MEMORY;
}

kcl_status kcl__history_append(kcl_history *h, const char *key, float value)
{
    series *s = NULL;
    for (size_t i = 0; i < h->n_keys && !s; i++)
        if (strcmp(h->keys[i].key, key) == 0)
            s = &h->keys[i];
    if (!s) {
        series *grown = realloc(h->keys, (h->n_keys + 1) * sizeof *grown);
        if (!grown)
            return KCL_ERR_MEMORY;
        h->keys = grown;
        s = &h->keys[h->n_keys];
        memset(s, 0, sizeof *s);
        size_t len = strlen(key) + 1;
        if (!(s->key = malloc(len)))
            return KCL_ERR_MEMORY;
        memcpy(s->key, key, len);
        h->n_keys++;
    }
    float *values = realloc(s->values, (size_t)(h->epochs + 1) * sizeof *values);
    if (!values)
        return KCL_ERR_MEMORY;
    s->values = values;
    /* A key that appears late (val_ metrics) is NaN for earlier epochs. */
    while (s->count < h->epochs)
        s->values[s->count++] = NAN;
    s->values[s->count++] = value;
    return KCL_OK;
}

kcl_status kcl__history_end_epoch(kcl_history *h)
{
    h->epochs++;
    return KCL_OK;
}

int kcl_history_epochs(const kcl_history *h) { return h ? h->epochs : 0; }
size_t kcl_history_key_count(const kcl_history *h) { return h ? h->n_keys : 0; }

const char *kcl_history_key(const kcl_history *h, size_t i)
{
    return h && i < h->n_keys ? h->keys[i].key : NULL;
}

const float *kcl_history_get(const kcl_history *h, const char *key)
{
    for (size_t i = 0; h && key && i < h->n_keys; i++)
        if (strcmp(h->keys[i].key, key) == 0)
            return h->keys[i].values;
    return NULL;
}

void kcl_history_free(kcl_history *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_keys; i++) {
        free(h->keys[i].key);
        free(h->keys[i].values);
    }
    free(h->keys);
    free(h);
}
