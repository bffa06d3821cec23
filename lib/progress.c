/* progress.c: fit's progress output, as Keras prints it:
 *   Epoch 1/10
 *   469/469 ━━━━━━━━━━━━━━━━━━━━ 3s 6ms/step - accuracy: 0.8146 - loss: 0.5276
 * On a terminal the bar is redrawn in place (\r); otherwise (KCL_VERBOSE_LINE,
 * or AUTO into a file or pipe) one line per epoch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train.h"

struct kcl_progress {
    kcl_verbose mode;            /* BAR, LINE or SILENT after resolving AUTO */
    int64_t steps;               /* -1: unknown */
    int64_t step;
    double start, last_draw;
};

kcl_progress *kcl__progress_begin(kcl_verbose verbose, int epoch, int epochs, int64_t steps)
{
    kcl_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->mode = verbose;
    if (verbose == KCL_VERBOSE_AUTO)
        p->mode = isatty(fileno(stdout)) ? KCL_VERBOSE_BAR : KCL_VERBOSE_LINE;
    p->steps = steps;
    p->start = p->last_draw = kcl__now();
    if (p->mode != KCL_VERBOSE_SILENT && epochs > 0) {
        printf("Epoch %d/%d\n", epoch + 1, epochs);
        fflush(stdout);
    }
    return p;
}

bool kcl__progress_due(const kcl_progress *p)
{
    return p && p->mode == KCL_VERBOSE_BAR && kcl__now() - p->last_draw > 0.25;
}

static void print_values(size_t n, char *const *names, const float *values, const char *prefix)
{
    for (size_t i = 0; i < n; i++)
        printf(" - %s%s: %.4f", prefix, names[i], values[i]);
}

static void print_time(double seconds)
{
    if (seconds >= 60)
        printf("%dm %02ds", (int)(seconds / 60), (int)seconds % 60);
    else
        printf("%ds", (int)(seconds + 0.5));
}

/* "  12/469 ━━━━━━━━━━━━━━━━━━━━" */
static void print_bar(const kcl_progress *p)
{
    int width = 20, done = p->steps > 0 ? (int)(width * p->step / p->steps) : 0;
    if (p->steps > 0)
        printf("%*lld/%lld ", (int)snprintf(NULL, 0, "%lld", (long long)p->steps),
               (long long)p->step, (long long)p->steps);
    else
        printf("%lld ", (long long)p->step);
    for (int i = 0; i < width; i++)
        fputs(i < done ? "\xe2\x94\x81" : "\xe2\x94\x80", stdout);   /* ━ and ─ */
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
    printf("\r");
    print_bar(p);
    if (p->steps > 0 && step > 0) {
        printf(" ");
        print_time(elapsed / (double)step * (double)(p->steps - step));
        printf(" %dms/step", (int)(1000 * elapsed / (double)step + 0.5));
    }
    print_values(n, names, values, "");
    printf("\x1b[K");   /* clear what a longer previous line left */
    fflush(stdout);
}

void kcl__progress_end(kcl_progress *p, size_t n, char *const *names, const float *values,
                       size_t n_val, char *const *val_names, const float *val_values)
{
    if (!p)
        return;
    if (p->mode != KCL_VERBOSE_SILENT) {
        double elapsed = kcl__now() - p->start;
        int64_t steps = p->step > 0 ? p->step : 1;
        if (p->mode == KCL_VERBOSE_BAR) {
            printf("\r");
            print_bar(p);
            printf(" ");
        } else {
            printf("%lld/%lld - ", (long long)p->step, (long long)(p->steps > 0 ? p->steps : p->step));
        }
        print_time(elapsed);
        printf(" %dms/step", (int)(1000 * elapsed / (double)steps + 0.5));
        print_values(n, names, values, "");
        print_values(n_val, val_names, val_values, "val_");
        if (p->mode == KCL_VERBOSE_BAR)
            printf("\x1b[K");
        printf("\n");
        fflush(stdout);
    }
    free(p);
}
