/* summary.c: Keras' model.summary() table. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

typedef struct text {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char line[512];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || t->failed)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (t->len + len + 1 > t->cap) {
        size_t cap = (t->cap + len + 1) * 2;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, line, len + 1);
    t->len += len;
}

/* "235,146" */
static const char *grouped(int64_t v, char *buf, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", (long long)v), used = 0;
    for (int i = 0; i < n && used + 2 < (int)size; i++) {
        if (i && (n - i) % 3 == 0)
            buf[used++] = ',';
        buf[used++] = digits[i];
    }
    buf[used] = '\0';
    return buf;
}

static const char *bytes_text(int64_t params, char *buf, size_t size)
{
    double b = (double)params * 4.0;
    if (b < 1024)
        snprintf(buf, size, "%.2f B", b);
    else if (b < 1024.0 * 1024)
        snprintf(buf, size, "%.2f KB", b / 1024);
    else
        snprintf(buf, size, "%.2f MB", b / (1024.0 * 1024));
    return buf;
}

static int64_t layer_params(const kcl_layer *l)
{
    int64_t total = 0, trainable = 0;
    if (l->inner) {
        kcl_model_count_params(l->inner, &total, &trainable);
        return total;
    }
    for (size_t k = 0; k < l->n_weights; k++)
        total += kcl_tensor_size(l->weights[k]);
    return total;
}

static const char rule[] =
    "─────────────────────────────────────────────────────────────────────────────";

kcl_status kcl_model_summary(kcl_model *m, char **out)
{
    if (!m || !out)
        return kcl__fail(m ? m->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_model_summary: NULL argument");
    text t = {0};
    char name[160], shape[128], count[32], size[32];
    put(&t, "Model: \"%s\"\n%s\n", m->name, rule);
    put(&t, "%-36s %-26s %13s\n", "Layer (type)", "Output Shape", "Param #");
    put(&t, "%s\n", rule);
    if (!m->built) {
        for (size_t i = 0; i < m->n_layers; i++) {
            snprintf(name, sizeof name, "%s (%s)", m->layers[i]->name, m->layers[i]->kind->class_name);
            put(&t, "%-36s %-26s %13s\n", name, "?", "0 (unbuilt)");
        }
    }
    for (size_t i = 0; m->built && i < m->n_nodes; i++) {
        const kcl_model_node *node = &m->nodes[i];
        snprintf(name, sizeof name, "%s (%s)", node->layer->name, node->layer->kind->class_name);
        put(&t, "%-36s %-26s %13s\n", name,
            kcl__shape_text(&m->values[node->out], shape, sizeof shape),
            grouped(layer_params(node->layer), count, sizeof count));
    }
    int64_t total, trainable;
    kcl_model_count_params(m, &total, &trainable);
    put(&t, "%s\n", rule);
    put(&t, " Total params: %s (%s)\n", grouped(total, count, sizeof count),
        bytes_text(total, size, sizeof size));
    put(&t, " Trainable params: %s (%s)\n", grouped(trainable, count, sizeof count),
        bytes_text(trainable, size, sizeof size));
    put(&t, " Non-trainable params: %s (%s)\n", grouped(total - trainable, count, sizeof count),
        bytes_text(total - trainable, size, sizeof size));
    if (t.failed) {
        free(t.buf);
        return kcl__fail(m->ctx, KCL_ERR_MEMORY, "out of host memory writing the summary");
    }
    *out = t.buf;
    return KCL_OK;
}
