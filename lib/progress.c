/* progress.c: fit's progress output, as Keras prints it:
 *   Epoch 1/10
 *   469/469 ━━━━━━━━━━━━━━━━━━━━ 3s 6ms/step - accuracy: 0.8146 - loss: 0.5276
 * On a terminal the bar is redrawn in place (\r); otherwise (KCL_VERBOSE_LINE,
 * or AUTO into a file, pipe or log callback) one line per epoch. Every line
 * goes through kcl__log (log.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train.h"

struct kcl_progress {
    kcl_context *ctx;            /* where the lines go (kcl__log) */
    kcl_verbose mode;            /* BAR, LINE or SILENT after resolving AUTO */
    int64_t steps;               /* -1: unknown */
    int64_t step;
    double start, last_draw;
};

/* A line being built; text past the end is cut (the bar and a few dozen
 * metrics fit easily). */
typedef struct line {
    char text[1024];
    size_t used;
} line;

static void add(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(line *l, const char *fmt, ...)
{
    if (l->used >= sizeof l->text - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->text + l->used, sizeof l->text - l->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->used += (size_t)n < sizeof l->text - l->used ? (size_t)n : sizeof l->text - 1 - l->used;
}

kcl_progress *kcl__progress_begin(kcl_context *ctx, kcl_verbose verbose, int epoch, int epochs,
                                  int64_t steps)
{
    kcl_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->ctx = ctx;
    p->mode = verbose;
    /* A redrawn bar suits a terminal only; a log callback is no terminal. */
    if (verbose == KCL_VERBOSE_AUTO)
        p->mode = !ctx->log_fn && isatty(fileno(stdout)) ? KCL_VERBOSE_BAR : KCL_VERBOSE_LINE;
    p->steps = steps;
    p->start = p->last_draw = kcl__now();
    if (p->mode != KCL_VERBOSE_SILENT && epochs > 0)
        kcl__log(ctx, KCL_LOG_INFO, "Epoch %d/%d", epoch + 1, epochs);
    return p;
}

bool kcl__progress_due(const kcl_progress *p)
{
    return p && p->mode == KCL_VERBOSE_BAR && kcl__now() - p->last_draw > 0.25;
}

static void add_values(line *l, size_t n, char *const *names, const float *values,
                       const char *prefix)
{
    for (size_t i = 0; i < n; i++)
        add(l, " - %s%s: %.4f", prefix, names[i], values[i]);
}

static void add_time(line *l, double seconds)
{
    if (seconds >= 60)
        add(l, "%dm %02ds", (int)(seconds / 60), (int)seconds % 60);
    else
        add(l, "%ds", (int)(seconds + 0.5));
}

/* "  12/469 ━━━━━━━━━━━━━━━━━━━━" */
static void add_bar(line *l, const kcl_progress *p)
{
    int width = 20, done = p->steps > 0 ? (int)(width * p->step / p->steps) : 0;
    if (p->steps > 0)
        add(l, "%*lld/%lld ", (int)snprintf(NULL, 0, "%lld", (long long)p->steps),
            (long long)p->step, (long long)p->steps);
    else
        add(l, "%lld ", (long long)p->step);
    for (int i = 0; i < width; i++)
        add(l, "%s", i < done ? "\xe2\x94\x81" : "\xe2\x94\x80");   /* ━ and ─ */
}

void kcl__progress_step(kcl_progress *p, int64_t step, size_t n, char *const *names,
                        const float *values)
{
    if (!p)
        return;
    p->step = step;
    if (p->mode != KCL_VERBOSE_BAR || !values)
        return;
    double now = kcl__now(), elapsed = now - p->start;
    p->last_draw = now;
    line l = {.used = 0};
    add_bar(&l, p);
    if (p->steps > 0 && step > 0) {
        add(&l, " ");
        add_time(&l, elapsed / (double)step * (double)(p->steps - step));
        add(&l, " %dms/step", (int)(1000 * elapsed / (double)step + 0.5));
    }
    add_values(&l, n, names, values, "");
    kcl__log(p->ctx, KCL_LOG_PROGRESS, "%s", l.text);
}

void kcl__progress_end(kcl_progress *p, size_t n, char *const *names, const float *values,
                       size_t n_val, char *const *val_names, const float *val_values)
{
    if (!p)
        return;
    if (p->mode != KCL_VERBOSE_SILENT) {
        double elapsed = kcl__now() - p->start;
        int64_t steps = p->step > 0 ? p->step : 1;
        line l = {.used = 0};
        if (p->mode == KCL_VERBOSE_BAR) {
            add_bar(&l, p);
            add(&l, " ");
        } else {
            add(&l, "%lld/%lld - ", (long long)p->step,
                (long long)(p->steps > 0 ? p->steps : p->step));
        }
        add_time(&l, elapsed);
        add(&l, " %dms/step", (int)(1000 * elapsed / (double)steps + 0.5));
        add_values(&l, n, names, values, "");
        add_values(&l, n_val, val_names, val_values, "val_");
        kcl__log(p->ctx, KCL_LOG_INFO, "%s", l.text);
    }
    free(p);
}
