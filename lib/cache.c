/* cache.c: the on-disk cache of kernel program binaries.
 *
 * An entry is one file, named after a hash of its key:
 *     magic "KCLBIN01" | u32 key length | u64 binary length | u32 CRC-32 | key | binary
 * The CRC covers key and binary, so a flipped or missing byte is caught before
 * a driver ever sees the binary; the full key text is stored and compared, so a
 * hash collision or an entry of another driver version is stale, not loaded.
 * Entries are written to a temporary file and renamed into place: a reader sees
 * the old entry or the new one, never half of one. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

static const char magic[8] = {'K', 'C', 'L', 'B', 'I', 'N', '0', '1'};
enum { header_size = 8 + 4 + 8 + 4 };
/* No driver binary is this large; a length field beyond it is corruption. */
static const uint64_t max_binary = (uint64_t)1 << 30;

uint64_t kcl__fnv1a(uint64_t hash, const void *data, size_t size)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < size; i++) {
        hash ^= p[i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

double kcl__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void kcl__cache_key(const kcl_context *ctx, const char *program, const char *source,
                    const char *options, kcl_cache_key *key)
{
    uint64_t src = kcl__fnv1a(0xcbf29ce484222325ULL, source, strlen(source));
    snprintf(key->text, sizeof key->text,
             "kcl-cache 1\nplatform %s\ndevice %s\ndriver %s\nprogram %s\n"
             "source %016llx\noptions %s\n",
             ctx->info.platform_name, ctx->info.name, ctx->info.driver_version, program,
             (unsigned long long)src, options);
    uint64_t h = kcl__fnv1a(0xcbf29ce484222325ULL, key->text, strlen(key->text));
    snprintf(key->file, sizeof key->file, "%.30s-%016llx.kclbin", program,
             (unsigned long long)h);
}

static char *entry_path(const char *dir, const char *file, const char *suffix)
{
    size_t n = strlen(dir) + 1 + strlen(file) + strlen(suffix) + 1;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s%s", dir, file, suffix);
    return path;
}

static uint32_t read_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t read_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Reads the whole file; NULL when it cannot be opened. */
static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *data = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    if (len >= 0 && (uint64_t)len <= max_binary + 4096 && fseek(f, 0, SEEK_SET) == 0) {
        data = malloc(len ? (size_t)len : 1);
        if (data && fread(data, 1, (size_t)len, f) != (size_t)len) {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    *size = data ? (size_t)len : 0;
    return data;
}

int kcl__cache_read(const char *dir, const kcl_cache_key *key, unsigned char **binary,
                    size_t *size)
{
    *binary = NULL;
    *size = 0;
    char *path = entry_path(dir, key->file, "");
    if (!path)
        return 0;
    size_t len;
    unsigned char *data = slurp(path, &len);
    free(path);
    if (!data)
        return 0;
    int result = -1;
    size_t key_len = strlen(key->text);
    if (len >= header_size && memcmp(data, magic, sizeof magic) == 0) {
        uint64_t stored_key = read_u32(data + 8);
        uint64_t bin_len = read_u64(data + 12);
        uint32_t crc = read_u32(data + 20);
        bool sizes_ok = stored_key == key_len && bin_len > 0 && bin_len <= max_binary &&
                        len == header_size + stored_key + bin_len;
        if (sizes_ok &&
            crc32(0L, data + header_size, (uInt)(len - header_size)) == crc &&
            memcmp(data + header_size, key->text, key_len) == 0) {
            *binary = malloc((size_t)bin_len);
            if (*binary) {
                memcpy(*binary, data + header_size + key_len, (size_t)bin_len);
                *size = (size_t)bin_len;
                result = 1;
            } else {
                result = 0;
            }
        }
    }
    free(data);
    return result;
}

int kcl__mkdirs(const char *dir)
{
    char *path = entry_path(dir, "", "");
    if (!path)
        return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            free(path);
            return -1;
        }
        *p = '/';
    }
    free(path);
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static bool write_all(FILE *f, const void *data, size_t size)
{
    return fwrite(data, 1, size, f) == size;
}

kcl_status kcl__cache_write(kcl_context *ctx, const char *dir, const kcl_cache_key *key,
                            const unsigned char *binary, size_t size)
{
    if (kcl__mkdirs(dir) != 0)
        return kcl__fail(ctx, KCL_ERR_IO, "cannot create directory '%s': %s", dir,
                         strerror(errno));
    char suffix[64];
    /* One counter for the whole process: two threads whose contexts build the
     * same program at once must not share a temporary file (a per-thread
     * counter gave both ".0": one truncated the other's half-written file).
     * "x" refuses a name that exists anyway. */
    static atomic_uint counter;
    snprintf(suffix, sizeof suffix, ".tmp.%ld.%u", (long)getpid(),
             atomic_fetch_add(&counter, 1u));
    char *tmp = entry_path(dir, key->file, suffix);
    char *path = entry_path(dir, key->file, "");
    kcl_status st = KCL_OK;
    FILE *f = tmp && path ? fopen(tmp, "wbx") : NULL;
    if (!f) {
        st = kcl__fail(ctx, KCL_ERR_IO, "cannot write the cache entry in '%s': %s", dir,
                       strerror(errno));
        goto done;
    }
    uint32_t key_len = (uint32_t)strlen(key->text);
    uint64_t bin_len = size;
    uLong crc = crc32(0L, (const Bytef *)key->text, key_len);
    crc = crc32(crc, binary, (uInt)size);
    uint32_t crc32v = (uint32_t)crc;
    bool ok = write_all(f, magic, sizeof magic) && write_all(f, &key_len, sizeof key_len) &&
              write_all(f, &bin_len, sizeof bin_len) && write_all(f, &crc32v, sizeof crc32v) &&
              write_all(f, key->text, key_len) && write_all(f, binary, size);
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        st = kcl__fail(ctx, KCL_ERR_IO, "cannot write the cache entry '%s': %s", path,
                       strerror(errno));
        remove(tmp);
    }
done:
    free(tmp);
    free(path);
    return st;
}

void kcl__cache_remove(const char *dir, const kcl_cache_key *key)
{
    char *path = entry_path(dir, key->file, "");
    if (path)
        remove(path);
    free(path);
}
