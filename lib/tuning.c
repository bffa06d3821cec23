/* tuning.c: CLBlast GEMM parameters per device: read, parsed, applied, stored.
 * The format and the reasons are in tuning.h. */
#include <clblast_c.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "tuning.h"
#include "tuning_defaults.h"

static const char header[] = "kcl-tuning 1";
/* A tuning file is a few hundred bytes; anything far larger is not one. */
enum { max_file = 64 * 1024 };

/* The kernels CLBlast 1.5 accepts overrides for (CLBlastInvalidOverrideKernel
 * otherwise), and kcl's own "Engine" line: a file naming another is malformed. */
static const char engine_set[] = "Engine";
static const char *const known_kernels[] = {"Xgemm",     "XgemmDirect",  "GemmRoutine", "Copy",
                                            "Pad",       "Transpose",    "Padtranspose",
                                            engine_set};

static int known_kernel(const char *name)
{
    for (size_t i = 0; i < sizeof known_kernels / sizeof *known_kernels; i++)
        if (strcmp(name, known_kernels[i]) == 0)
            return 1;
    return 0;
}

/* Copies the next whitespace-delimited word of *p into buf; 0 at line end. */
static int next_word(const char **p, char *buf, size_t size)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = 0;
    while (*s && !isspace((unsigned char)*s)) {
        if (n + 1 >= size)
            return -1;
        buf[n++] = *s++;
    }
    buf[n] = '\0';
    *p = s;
    return n > 0;
}

/* "NAME=123" into the set; -1 when malformed. */
static int parse_param(const char *word, kcl_tuning_set *set)
{
    const char *eq = strchr(word, '=');
    size_t len = eq ? (size_t)(eq - word) : 0;
    if (len == 0 || len >= KCL_TUNING_NAME_LEN || !isdigit((unsigned char)eq[1]) ||
        set->count >= KCL_TUNING_MAX_PARAMS)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)word[i]) && word[i] != '_')
            return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(eq + 1, &end, 10);
    if (*end || errno || v > 1000000)
        return -1;
    memcpy(set->names[set->count], word, len);
    set->names[set->count][len] = '\0';
    set->values[set->count++] = (size_t)v;
    return 0;
}

/* One "Kernel NAME=v ..." line (from *p up to its newline) into set. */
static int parse_line(const char **p, kcl_tuning_set *set)
{
    memset(set, 0, sizeof *set);
    if (next_word(p, set->kernel, sizeof set->kernel) != 1 || !known_kernel(set->kernel))
        return -1;
    char word[2 * KCL_TUNING_NAME_LEN];
    int got;
    while ((got = next_word(p, word, sizeof word)) == 1)
        if (parse_param(word, set) != 0)
            return -1;
    return got < 0 || set->count == 0 ? -1 : 0;
}

static const char *skip_line(const char *p)
{
    while (*p && *p != '\n')
        p++;
    return *p ? p + 1 : p;
}

static int blank_or_comment(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    return *p == '\n' || *p == '\0' || *p == '#';
}

int kcl__tuning_parse(const char *text, kcl_tuning *out)
{
    memset(out, 0, sizeof *out);
    for (const char *p = text; *p; p = skip_line(p)) {
        if (blank_or_comment(p))
            continue;
        kcl_tuning_set set;
        if (parse_line(&p, &set) != 0 || kcl__tuning_put(out, &set) != 0)
            return -1;
    }
    return 0;
}

int kcl__tuning_put(kcl_tuning *t, const kcl_tuning_set *set)
{
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->sets[i].kernel, set->kernel) == 0) {
            t->sets[i] = *set;
            return 0;
        }
    if (t->count >= KCL_TUNING_MAX_SETS)
        return -1;
    t->sets[t->count++] = *set;
    return 0;
}

void kcl__tuning_format(const kcl_tuning *t, char *buf, size_t size)
{
    size_t used = 0;
    if (size)
        buf[0] = '\0';
    for (size_t i = 0; i < t->count && used < size; i++) {
        const kcl_tuning_set *s = &t->sets[i];
        used += (size_t)snprintf(buf + used, size - used, "%s", s->kernel);
        for (size_t j = 0; j < s->count && used < size; j++)
            used += (size_t)snprintf(buf + used, size - used, " %s=%zu", s->names[j],
                                     s->values[j]);
        if (used < size)
            used += (size_t)snprintf(buf + used, size - used, "\n");
    }
}

size_t kcl__tuning_override(cl_device_id device, const kcl_tuning *t)
{
    size_t accepted = 0;
    for (size_t i = 0; i < t->count; i++) {
        const kcl_tuning_set *s = &t->sets[i];
        if (strcmp(s->kernel, engine_set) == 0)
            continue;   /* kcl's, not CLBlast's */
        const char *names[KCL_TUNING_MAX_PARAMS];
        for (size_t j = 0; j < s->count; j++)
            names[j] = s->names[j];
        /* A refused set (missing or unknown parameter) leaves CLBlast's own. */
        if (CLBlastOverrideParameters(device, s->kernel, CLBlastPrecisionSingle, s->count, names,
                                      s->values) == CLBlastSuccess)
            accepted++;
    }
    return accepted;
}

/* -------------------------------------------------------------- the file -- */

char *kcl__tuning_path(const kcl_context *ctx)
{
    if (!ctx->cache_dir)
        return NULL;
    char key[512];
    snprintf(key, sizeof key, "%s\n%s\n%s\n", ctx->info.platform_name, ctx->info.name,
             ctx->info.driver_version);
    uint64_t h = kcl__fnv1a(0xcbf29ce484222325ULL, key, strlen(key));
    size_t n = strlen(ctx->cache_dir) + 64;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/tuning/%016llx.txt", ctx->cache_dir, (unsigned long long)h);
    return path;
}

/* The whole file as a string; NULL when missing, unreadable or too large. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = malloc(max_file + 1);
    size_t n = text ? fread(text, 1, max_file + 1, f) : 0;
    int bad = ferror(f) || n > max_file;
    fclose(f);
    if (!text || bad) {
        free(text);
        return NULL;
    }
    text[n] = '\0';
    if (strlen(text) != n) {     /* a NUL inside: not text */
        free(text);
        return NULL;
    }
    return text;
}

/* Checks "kcl-tuning 1" and "device <name>" and parses the rest; -1 if any
 * of it is wrong (another device's file under a colliding hash included). */
static int parse_file(const char *text, const char *device, kcl_tuning *out)
{
    const char *p = text;
    while (*p && blank_or_comment(p))
        p = skip_line(p);
    size_t hl = strlen(header);
    if (strncmp(p, header, hl) != 0 || !blank_or_comment(p + hl))
        return -1;
    p = skip_line(p);
    while (*p && blank_or_comment(p))
        p = skip_line(p);
    size_t dl = strlen(device);
    if (strncmp(p, "device ", 7) != 0 || strncmp(p + 7, device, dl) != 0 ||
        !blank_or_comment(p + 7 + dl))
        return -1;
    return kcl__tuning_parse(skip_line(p), out) == 0 && out->count > 0 ? 0 : -1;
}

static int read_stored(const kcl_context *ctx, kcl_tuning *out)
{
    char *path = kcl__tuning_path(ctx);
    char *text = path ? read_text(path) : NULL;
    int ok = text && parse_file(text, ctx->info.name, out) == 0;
    free(text);
    free(path);
    return ok;
}

static int read_shipped(const char *device, kcl_tuning *out)
{
    for (size_t i = 0; i < sizeof kcl__tuning_defaults / sizeof *kcl__tuning_defaults; i++)
        if (strstr(device, kcl__tuning_defaults[i].device_substring))
            return kcl__tuning_parse(kcl__tuning_defaults[i].text, out) == 0 && out->count;
    return 0;
}

kcl_tuning_source kcl__tuning_load(const kcl_context *ctx, kcl_tuning *out)
{
    memset(out, 0, sizeof *out);
    const char *off = getenv("KCL_NO_TUNING");
    if (off && strcmp(off, "1") == 0)
        return KCL_TUNING_DISABLED;
    if (read_stored(ctx, out))
        return KCL_TUNING_STORED;
    if (read_shipped(ctx->info.name, out))
        return KCL_TUNING_SHIPPED;
    memset(out, 0, sizeof *out);
    return KCL_TUNING_NONE;
}

kcl_gemm_engine kcl__tuning_engine(const kcl_tuning *t)
{
    for (size_t i = 0; i < t->count; i++) {
        const kcl_tuning_set *s = &t->sets[i];
        if (strcmp(s->kernel, engine_set) == 0 && s->count == 1 && strcmp(s->names[0], "KCL") == 0)
            return s->values[0] ? KCL_GEMM_KCL : KCL_GEMM_CLBLAST;
    }
    return KCL_GEMM_AUTO;
}

kcl_tuning_source kcl__tuning_apply(kcl_context *ctx, kcl_gemm_engine *engine)
{
    *engine = KCL_GEMM_AUTO;
    /* Offline mode never calls CLBlast (kcl_gemm uses cl/gemm.cl there). */
    if (ctx->offline)
        return KCL_TUNING_NONE;
    kcl_tuning t;
    kcl_tuning_source source = kcl__tuning_load(ctx, &t);
    if (t.count)
        kcl__tuning_override(ctx->device, &t);
    *engine = kcl__tuning_engine(&t);
    return source;
}

kcl_status kcl__tuning_store(kcl_context *ctx, const kcl_tuning *t)
{
    char *path = kcl__tuning_path(ctx);
    if (!path)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT,
                         "tuning: the context has no cache directory to store parameters in");
    kcl_status st = KCL_OK;
    size_t n = strlen(path) + 64;
    char *dir = malloc(n), *tmp = malloc(n);
    char *body = malloc(max_file);
    if (!dir || !tmp || !body) {
        st = kcl__fail(ctx, KCL_ERR_MEMORY, "tuning: out of host memory");
        goto done;
    }
    snprintf(dir, n, "%s/tuning", ctx->cache_dir);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    kcl__tuning_format(t, body, max_file);
    FILE *f = kcl__mkdirs(dir) == 0 ? fopen(tmp, "wb") : NULL;
    if (!f) {
        st = kcl__fail(ctx, KCL_ERR_IO, "tuning: cannot write '%s': %s", tmp, strerror(errno));
        goto done;
    }
    int ok = fprintf(f, "# CLBlast parameters for this device, written by kcl-tune\n%s\n"
                        "device %s\n%s", header, ctx->info.name, body) > 0;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        st = kcl__fail(ctx, KCL_ERR_IO, "tuning: cannot write '%s': %s", path, strerror(errno));
        remove(tmp);
    }
done:
    free(body);
    free(tmp);
    free(dir);
    free(path);
    return st;
}

cl_device_id kcl__tuning_device(const kcl_context *ctx)
{
    return ctx->device;
}
