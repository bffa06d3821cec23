/* log.c: the one place kcl writes text for people. Everything (fit's progress,
 * callbacks' warnings) comes through kcl__log, so an application can take it
 * all with kcl_set_log_callback and kcl touches no stream it did not ask for. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

void kcl_set_log_callback(kcl_context *ctx, kcl_log_fn fn, void *user)
{
    if (!ctx)
        return;
    ctx->log_fn = fn;
    ctx->log_user = fn ? user : NULL;
}

/* stdout and stderr as Keras writes them: progress redrawn in place with '\r'
 * and an erase-to-end-of-line, so a shorter redraw leaves no tail behind. */
static void default_sink(kcl_context *ctx, int level, const char *text)
{
    bool *open = ctx ? &ctx->log_line_open : NULL;
    if (level == KCL_LOG_WARNING) {
        fprintf(stderr, "%s\n", text);
        return;
    }
    if (level == KCL_LOG_PROGRESS) {
        printf("\r%s\x1b[K", text);
        if (open)
            *open = true;
    } else if (open && *open) {
        printf("\r%s\x1b[K\n", text);   /* the epoch's last line replaces the bar */
        *open = false;
    } else {
        printf("%s\n", text);
    }
    fflush(stdout);
}

void kcl__log(kcl_context *ctx, int level, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *text = small;
    if ((size_t)n >= sizeof small) {   /* a long line (many metrics): format again */
        text = malloc((size_t)n + 1);
        if (!text)
            return;
        va_start(ap, fmt);
        vsnprintf(text, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    if (ctx && ctx->log_fn)
        ctx->log_fn(ctx->log_user, level, text);
    else
        default_sink(ctx, level, text);
    if (text != small)
        free(text);
}
