/* safetensors.c: reading and writing the safetensors format
 * (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON {"name": {"dtype", "shape",
 * "data_offsets": [begin, end]}, ..., "__metadata__": {string: string}}
 * padded with spaces, then the data, which the tensors cover exactly. Files
 * are treated as hostile: every number is checked before it is used. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include <json-c/json.h>
#include <zlib.h>

#include "serialize.h"

static char *dup_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static bool host_is_big_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 0;
}

static void swap_words(void *data, size_t count)
{
    uint8_t *p = data;
    for (size_t i = 0; i < count; i++, p += 4) {
        uint8_t t = p[0];
        p[0] = p[3];
        p[3] = t;
        t = p[1];
        p[1] = p[2];
        p[2] = t;
    }
}

/* zlib's crc32 takes at most UINT_MAX bytes a call. */
static uint32_t crc_of(const void *data, size_t size)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    const Bytef *p = data;
    while (size) {
        uInt chunk = size > 0x40000000u ? 0x40000000u : (uInt)size;
        crc = crc32(crc, p, chunk);
        p += chunk;
        size -= chunk;
    }
    return (uint32_t)crc;
}

/* ---------------------------------------------------------------- writing -- */

static json_object *tensor_entry(const kcl_st_out *t, uint64_t begin)
{
    json_object *e = json_object_new_object(), *shape = json_object_new_array(),
                *offsets = json_object_new_array();
    for (int i = 0; i < t->rank; i++)
        json_object_array_add(shape, json_object_new_int64(t->shape[i]));
    json_object_array_add(offsets, json_object_new_uint64(begin));
    json_object_array_add(offsets, json_object_new_uint64(begin + 4 * (uint64_t)t->count));
    json_object_object_add(e, "dtype", json_object_new_string("F32"));
    json_object_object_add(e, "shape", shape);
    json_object_object_add(e, "data_offsets", offsets);
    return e;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes (as the
 * reference writer does, so the data starts aligned). */
static char *header_text(size_t n, const kcl_st_out *tensors, size_t n_meta,
                         const kcl_st_meta *meta, uint32_t crc, size_t *len)
{
    json_object *root = json_object_new_object(), *md = json_object_new_object();
    char hex[32];
    /* The header's own CRC is a placeholder here; seal_header fills it in. */
    snprintf(hex, sizeof hex, "%08x-00000000", (unsigned)crc);
    for (size_t i = 0; i < n_meta; i++)
        json_object_object_add(md, meta[i].key, json_object_new_string(meta[i].value));
    json_object_object_add(md, KCL_ST_CHECKSUM_KEY, json_object_new_string(hex));
    json_object_object_add(root, "__metadata__", md);
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        json_object_object_add(root, tensors[i].name, tensor_entry(&tensors[i], offset));
        offset += 4 * (uint64_t)tensors[i].count;
    }
    const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t raw = s ? strlen(s) : 0, padded = (raw + 7) / 8 * 8;
    char *text = s ? malloc(padded + 1) : NULL;
    if (text) {
        memcpy(text, s, raw);
        memset(text + raw, ' ', padded - raw);
        text[padded] = '\0';
        *len = padded;
    }
    json_object_put(root);
    return text;
}

/* The checksum value: 8 hex digits, the CRC-32 of the data section, then for
 * files kcl writes since the header was covered too, "-" and 8 hex digits,
 * the CRC-32 of the whole header text with those last 8 digits read as
 * "00000000". A byte flipped anywhere in the header (names, shapes, offsets,
 * the architecture and training state in the metadata) is thus caught, not
 * only one in the data. The value sits in the header it covers, so it is
 * found by its exact text: json-c writes it as "checksum_crc32":"...", and
 * inside a JSON string every quote is escaped, so that text occurs nowhere
 * else. Returns the offset of the 8 header digits, or 0 when the text does
 * not occur exactly once. */
static size_t header_crc_offset(const char *text, const char *value)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"%s\"", KCL_ST_CHECKSUM_KEY, value);
    const char *hit = strstr(text, pattern);
    if (!hit || strstr(hit + 1, pattern))
        return 0;
    return (size_t)(hit - text) + strlen(pattern) - 9;
}

static uint32_t header_crc(const char *text, size_t len, size_t at)
{
    uLong crc = crc32(0L, (const Bytef *)text, (uInt)at);
    crc = crc32(crc, (const Bytef *)"00000000", 8);
    return (uint32_t)crc32(crc, (const Bytef *)text + at + 8, (uInt)(len - at - 8));
}

/* Fills in the header's own CRC (see header_crc_offset); false if the
 * placeholder is not where it should be. */
static bool seal_header(char *text, size_t len, uint32_t data_crc)
{
    char value[32], hex[16];
    snprintf(value, sizeof value, "%08x-00000000", (unsigned)data_crc);
    size_t at = header_crc_offset(text, value);
    if (!at)
        return false;
    snprintf(hex, sizeof hex, "%08x", (unsigned)header_crc(text, len, at));
    memcpy(text + at, hex, 8);
    return true;
}

static bool write_all(FILE *f, const void *data, size_t size)
{
    return size == 0 || fwrite(data, 1, size, f) == size;
}

/* Writes the values little-endian, converting through a small buffer on
 * big-endian hosts. */
static bool write_values(FILE *f, const float *values, size_t count)
{
    if (!host_is_big_endian())
        return write_all(f, values, count * sizeof *values);
    float buf[1024];
    for (size_t done = 0; done < count;) {
        size_t k = count - done < 1024 ? count - done : 1024;
        memcpy(buf, values + done, k * sizeof *buf);
        swap_words(buf, k);
        if (!write_all(f, buf, k * sizeof *buf))
            return false;
        done += k;
    }
    return true;
}

static uint32_t data_crc(size_t n, const kcl_st_out *tensors)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    float buf[1024];
    for (size_t i = 0; i < n; i++)
        for (size_t done = 0; done < tensors[i].count;) {
            size_t k = tensors[i].count - done < 1024 ? tensors[i].count - done : 1024;
            memcpy(buf, tensors[i].values + done, k * sizeof *buf);
            if (host_is_big_endian())
                swap_words(buf, k);
            crc = crc32(crc, (const Bytef *)buf, (uInt)(k * sizeof *buf));
            done += k;
        }
    return (uint32_t)crc;
}

/* Makes the rename itself durable; failure here is not fatal (some file
 * systems refuse to sync directories). */
static void sync_directory(const char *path)
{
    char *dir = dup_text(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

static bool write_file(FILE *f, size_t n, const kcl_st_out *tensors, const char *header,
                       size_t header_len)
{
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    bool ok = write_all(f, len, 8) && write_all(f, header, header_len);
    for (size_t i = 0; ok && i < n; i++)
        ok = write_values(f, tensors[i].values, tensors[i].count);
    return ok;
}

kcl_status kcl__st_write(kcl_context *ctx, const char *path, size_t n, const kcl_st_out *tensors,
                         size_t n_meta, const kcl_st_meta *meta)
{
    size_t header_len = 0;
    uint32_t crc = data_crc(n, tensors);
    char *header = header_text(n, tensors, n_meta, meta, crc, &header_len);
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (header && !seal_header(header, header_len, crc)) {
        /* Only a metadata value holding the placeholder's exact text could
         * do this; kcl's own metadata never does. */
        free(header);
        free(tmp);
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "saving '%s': the metadata holds the checksum's "
                         "text", path);
    }
    if (!header || !tmp) {
        free(header);
        free(tmp);
        return kcl__fail(ctx, KCL_ERR_MEMORY, "saving '%s': out of host memory", path);
    }
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    kcl_status st = KCL_OK;
    /* "x": never write through a file someone else put at the temporary name. */
    FILE *f = fopen(tmp, "wbx");
    if (!f) {
        st = kcl__fail(ctx, KCL_ERR_IO, "saving '%s': cannot create '%s': %s", path, tmp,
                       strerror(errno));
        goto done;
    }
    bool ok = write_file(f, n, tensors, header, header_len);
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        st = kcl__fail(ctx, KCL_ERR_IO, "saving '%s': %s", path, strerror(errno));
        remove(tmp);
    } else {
        sync_directory(path);
    }
done:
    free(header);
    free(tmp);
    return st;
}

/* ---------------------------------------------------------------- reading -- */

typedef struct reader {
    kcl_context *ctx;
    const char *path;
    uint64_t data_size;
} reader;

/* A non-negative JSON integer (json-c keeps integers apart from doubles). */
static bool get_count(json_object *v, uint64_t *out)
{
    if (!v || !json_object_is_type(v, json_type_int))
        return false;
    int64_t i = json_object_get_int64(v);
    if (i < 0)
        return false;
    if (i == INT64_MAX)
        return (*out = json_object_get_uint64(v)) != 0;   /* larger values come clamped */
    *out = (uint64_t)i;
    return true;
}

/* Entry `name` of the header; begin and end of its bytes in the data section. */
static kcl_status parse_entry(reader *r, const char *name, json_object *e, kcl_st_tensor *t,
                              uint64_t *begin, uint64_t *end)
{
    json_object *dtype, *shape, *offsets;
    if (!json_object_is_type(e, json_type_object) ||
        !json_object_object_get_ex(e, "dtype", &dtype) ||
        !json_object_object_get_ex(e, "shape", &shape) ||
        !json_object_object_get_ex(e, "data_offsets", &offsets))
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': tensor '%s' lacks dtype, shape or "
                         "data_offsets", r->path, name);
    if (!json_object_is_type(dtype, json_type_string))
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': tensor '%s' has no dtype string", r->path,
                         name);
    if (strcmp(json_object_get_string(dtype), "F32") != 0)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': tensor '%s' has dtype %.16s; kcl reads "
                         "F32 only", r->path, name, json_object_get_string(dtype));
    size_t rank = json_object_is_type(shape, json_type_array) ? json_object_array_length(shape) : 99;
    if (rank > KCL_MAX_RANK)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': tensor '%s' has no shape list of at most "
                         "%d dimensions", r->path, name, KCL_MAX_RANK);
    uint64_t count = 1;
    for (size_t i = 0; i < rank; i++) {
        uint64_t d;
        if (!get_count(json_object_array_get_idx(shape, i), &d) || d > INT64_MAX)
            return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': tensor '%s': dimension %zu is not a "
                             "non-negative integer", r->path, name, i);
        t->shape[i] = (int64_t)d;
        if (__builtin_mul_overflow(count, d, &count))
            count = UINT64_MAX;
    }
    t->rank = (int)rank;
    if (!json_object_is_type(offsets, json_type_array) || json_object_array_length(offsets) != 2 ||
        !get_count(json_object_array_get_idx(offsets, 0), begin) ||
        !get_count(json_object_array_get_idx(offsets, 1), end) || *begin > *end ||
        *end > r->data_size)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': tensor '%s': data_offsets are not "
                         "[begin, end] within the %llu data bytes", r->path, name,
                         (unsigned long long)r->data_size);
    if (count > UINT64_MAX / 4 || count * 4 != *end - *begin)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': tensor '%s': its shape needs %s bytes "
                         "but data_offsets give %llu", r->path, name,
                         count > UINT64_MAX / 4 ? "too many" : "a different number of",
                         (unsigned long long)(*end - *begin));
    t->count = (size_t)count;
    return (t->name = dup_text(name)) ? KCL_OK
                                      : kcl__fail(r->ctx, KCL_ERR_MEMORY, "out of host memory");
}

static kcl_status parse_metadata(reader *r, json_object *md, kcl_st_file *f)
{
    if (json_object_is_type(md, json_type_null))
        return KCL_OK;
    if (!json_object_is_type(md, json_type_object))
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': __metadata__ is not an object", r->path);
    size_t n = (size_t)json_object_object_length(md);
    f->keys = calloc(n + 1, sizeof *f->keys);
    f->values = calloc(n + 1, sizeof *f->values);
    if (!f->keys || !f->values)
        return kcl__fail(r->ctx, KCL_ERR_MEMORY, "out of host memory");
    json_object_object_foreach(md, key, value) {
        if (!json_object_is_type(value, json_type_string))
            return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': __metadata__ value of '%.64s' is not "
                             "a string", r->path, key);
        size_t i = f->n_meta++;
        f->keys[i] = dup_text(key);
        f->values[i] = dup_text(json_object_get_string(value));
        if (!f->keys[i] || !f->values[i])
            return kcl__fail(r->ctx, KCL_ERR_MEMORY, "out of host memory");
    }
    return KCL_OK;
}

typedef struct span {
    uint64_t begin, end;
    size_t index;
} span;

static int by_begin(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors must cover the data section exactly: sorted by offset, each
 * begins where the previous ended, the last ends at the end of the file. */
static kcl_status check_coverage(reader *r, kcl_st_file *f, span *spans)
{
    qsort(spans, f->n, sizeof *spans, by_begin);
    uint64_t at = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (spans[i].begin != at)
            return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': tensor '%s' starts at byte %llu of the "
                             "data, not %llu: the tensors %s", r->path,
                             f->tensors[spans[i].index].name, (unsigned long long)spans[i].begin,
                             (unsigned long long)at, spans[i].begin < at ? "overlap" : "leave a gap");
        at = spans[i].end;
    }
    if (at != r->data_size)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': the tensors cover %llu of the %llu data "
                         "bytes", r->path, (unsigned long long)at, (unsigned long long)r->data_size);
    /* Every tensor is F32 and they follow each other from 0: every begin is a
     * multiple of 4, so the values are aligned floats. */
    for (size_t i = 0; i < f->n; i++)
        f->tensors[spans[i].index].values = f->data + spans[i].begin / 4;
    return KCL_OK;
}

static kcl_status parse_header(reader *r, json_object *root, kcl_st_file *f)
{
    if (!json_object_is_type(root, json_type_object))
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': the header is not a JSON object", r->path);
    size_t n = (size_t)json_object_object_length(root);
    f->tensors = calloc(n + 1, sizeof *f->tensors);
    span *spans = calloc(n + 1, sizeof *spans);
    kcl_status st = f->tensors && spans ? KCL_OK
                                        : kcl__fail(r->ctx, KCL_ERR_MEMORY, "out of host memory");
    json_object_object_foreach(root, key, value) {
        if (st)
            break;
        if (strcmp(key, "__metadata__") == 0) {
            st = parse_metadata(r, value, f);
            continue;
        }
        kcl_st_tensor *t = &f->tensors[f->n];
        spans[f->n].index = f->n;
        st = parse_entry(r, key, value, t, &spans[f->n].begin, &spans[f->n].end);
        f->n++;
    }
    if (!st)
        st = check_coverage(r, f, spans);
    free(spans);
    return st;
}

/* The header as JSON: complete, valid UTF-8, followed by nothing but spaces. */
static kcl_status parse_json(reader *r, const char *text, size_t len, json_object **out)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return kcl__fail(r->ctx, KCL_ERR_MEMORY, "out of host memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* json-c takes an int length; the header is bounded far below INT_MAX. */
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    while (root && end < len && text[end] == ' ')
        end++;
    if (!root || err != json_tokener_success || end != len) {
        json_object_put(root);
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': the header is not valid JSON (%s)",
                         r->path, root ? "text after the object"
                                  : err == json_tokener_continue || err == json_tokener_success
                                        ? "it ends early" : json_tokener_error_desc(err));
    }
    if (len == 0 || text[0] != '{') {
        json_object_put(root);
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': the header does not start with '{'",
                         r->path);
    }
    *out = root;
    return KCL_OK;
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* The header part of the checksum (see header_crc_offset), when present. */
static kcl_status verify_header(reader *r, const char *want, const char *header, size_t len)
{
    size_t at = header_crc_offset(header, want);
    if (!at)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': the checksum is not written where the "
                         "header says: the file is corrupt", r->path);
    char have[16];
    snprintf(have, sizeof have, "%08x", (unsigned)header_crc(header, len, at));
    if (strncmp(want + 9, have, 8) != 0)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': header checksum mismatch (the file says "
                         "%.8s, the header gives %s): the file is corrupt", r->path, want + 9, have);
    return KCL_OK;
}

static kcl_status verify_checksum(reader *r, const kcl_st_file *f, bool required,
                                  const char *header, size_t header_len)
{
    const char *want = kcl__st_meta(f, KCL_ST_CHECKSUM_KEY);
    if (!want)
        return required ? kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': no %s in the metadata", r->path,
                                    KCL_ST_CHECKSUM_KEY)
                        : KCL_OK;
    size_t n = strlen(want);
    if (!((n == 8 || (n == 17 && want[8] == '-' && is_hex(want + 9, 8))) && is_hex(want, 8)))
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': the checksum '%.20s' is malformed: the "
                         "file is corrupt", r->path, want);
    char have[16];
    snprintf(have, sizeof have, "%08x", (unsigned)crc_of(f->data, (size_t)r->data_size));
    if (strncmp(want, have, 8) != 0)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': checksum mismatch (the file says %.8s, "
                         "the data gives %s): the file is corrupt", r->path, want, have);
    return n == 17 ? verify_header(r, want, header, header_len) : KCL_OK;
}

/* Reads the header length, the header text and the data section. */
static kcl_status read_parts(reader *r, FILE *fp, char **header, size_t *header_len,
                             kcl_st_file *f)
{
    struct stat sb;
    uint8_t len[8];
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode))
        return kcl__fail(r->ctx, KCL_ERR_IO, "'%s' is not a regular file", r->path);
    uint64_t size = (uint64_t)sb.st_size, n = 0;
    if (size < 8 || fread(len, 1, 8, fp) != 8)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': %llu bytes, too short for a safetensors "
                         "header", r->path, (unsigned long long)size);
    for (int i = 7; i >= 0; i--)
        n = n << 8 | len[i];
    if (n > KCL_ST_MAX_HEADER || n > size - 8)
        return kcl__fail(r->ctx, KCL_ERR_FORMAT, "'%s': header length %llu exceeds %s", r->path,
                         (unsigned long long)n, n > KCL_ST_MAX_HEADER ? "the 100 MB limit"
                                                                     : "the file");
    r->data_size = size - 8 - n;
    if (r->data_size > SIZE_MAX / 2)
        return kcl__fail(r->ctx, KCL_ERR_MEMORY, "'%s' is too large for host memory", r->path);
    *header = malloc((size_t)n + 1);
    f->data = malloc(r->data_size ? (size_t)r->data_size : 1);
    if (!*header || !f->data)
        return kcl__fail(r->ctx, KCL_ERR_MEMORY, "'%s': out of host memory", r->path);
    if (fread(*header, 1, (size_t)n, fp) != n ||
        fread(f->data, 1, (size_t)r->data_size, fp) != r->data_size)
        return kcl__fail(r->ctx, KCL_ERR_IO, "'%s': read failed", r->path);
    (*header)[n] = '\0';
    *header_len = (size_t)n;
    return KCL_OK;
}

kcl_status kcl__st_read(kcl_context *ctx, const char *path, bool require_checksum,
                        kcl_st_file *out)
{
    memset(out, 0, sizeof *out);
    reader r = {ctx, path, 0};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return kcl__fail(ctx, KCL_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char *header = NULL;
    size_t header_len = 0;
    json_object *root = NULL;
    kcl_status st = read_parts(&r, fp, &header, &header_len, out);
    fclose(fp);
    if (!st)
        st = parse_json(&r, header, header_len, &root);
    if (!st)
        st = parse_header(&r, root, out);
    if (!st)
        st = verify_checksum(&r, out, require_checksum, header, header_len);
    if (!st && host_is_big_endian())
        swap_words(out->data, (size_t)(r.data_size / 4));
    json_object_put(root);
    free(header);
    if (st)
        kcl__st_free(out);
    return st;
}

void kcl__st_free(kcl_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->tensors && i < f->n; i++)
        free(f->tensors[i].name);
    for (size_t i = 0; f->keys && i < f->n_meta; i++) {
        free(f->keys[i]);
        free(f->values[i]);
    }
    free(f->tensors);
    free(f->keys);
    free(f->values);
    free(f->data);
    memset(f, 0, sizeof *f);
}

kcl_st_tensor *kcl__st_find(const kcl_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *kcl__st_meta(const kcl_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->keys[i], key) == 0)
            return f->values[i];
    return NULL;
}
