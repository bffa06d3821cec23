/* test_cache: the on-disk kernel binary cache (hits, corrupt and truncated
 * entries, binaries the driver refuses, unwritable directories), offline mode
 * with precompiled binaries, and build errors carrying the compiler's log. */
#define _XOPEN_SOURCE 700
#include "common.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/kcl-test-cache-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return strdup(dir);
}

/* Paths of the .kclbin files in dir; returns their count. */
static size_t list_entries(const char *dir, char paths[][512], size_t max)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t len = strlen(e->d_name);
        if (len > 7 && strcmp(e->d_name + len - 7, ".kclbin") == 0)
            snprintf(paths[n++], 512, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    return n;
}

static kcl_build_stats build_with(const kcl_context_options *opt, kcl_status expect)
{
    kcl_context *ctx = NULL;
    kcl_status st = kcl_context_create(&ctx, opt);
    if (st)
        fail_msg("kcl_context_create: %s", kcl_errmsg(NULL));
    st = kcl_build_all(ctx);
    if (st != expect)
        fail_msg("kcl_build_all gave %s, expected %s: %s", kcl_status_name(st),
                 kcl_status_name(expect), kcl_errmsg(ctx));
    kcl_build_stats s;
    CHECK_OK(ctx, kcl_build_stats_get(ctx, &s));
    kcl_context_free(ctx);
    return s;
}

static unsigned program_count(void)
{
    kcl_context_options opt = {.disable_disk_cache = 1};
    return build_with(&opt, KCL_OK).programs;
}

static void test_second_context_hits(void **state)
{
    (void)state;
    char *dir = temp_dir();
    unsigned n = program_count();
    kcl_context_options opt = {.cache_dir = dir};
    kcl_build_stats cold = build_with(&opt, KCL_OK);
    assert_int_equal(cold.compiled, n);
    assert_int_equal(cold.from_disk, 0);
    char paths[64][512];
    assert_int_equal(list_entries(dir, paths, 64), n);
    kcl_build_stats warm = build_with(&opt, KCL_OK);
    assert_int_equal(warm.compiled, 0);
    assert_int_equal(warm.from_disk, n);
    assert_int_equal(warm.cache_rejected, 0);
    remove_tree(dir);
    free(dir);
}

/* Damages every entry in one of three ways; each must be caught and rebuilt. */
static void damage(const char *path, int how)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    if (how == 0) {            /* one flipped byte in the binary */
        fseek(f, len - 10, SEEK_SET);
        int c = fgetc(f);
        fseek(f, len - 10, SEEK_SET);
        fputc(c ^ 0x40, f);
        fclose(f);
    } else if (how == 1) {     /* truncated (an interrupted copy) */
        fclose(f);
        assert_int_equal(truncate(path, len / 2), 0);
    } else {                   /* garbage, not even a header */
        fseek(f, 0, SEEK_SET);
        fputs("garbage", f);
        fclose(f);
        assert_int_equal(truncate(path, 7), 0);
    }
}

static void test_corrupt_entries_rebuilt(void **state)
{
    (void)state;
    char *dir = temp_dir();
    unsigned n = program_count();
    kcl_context_options opt = {.cache_dir = dir};
    build_with(&opt, KCL_OK);
    char paths[64][512];
    size_t count = list_entries(dir, paths, 64);
    for (int how = 0; how < 3; how++) {
        for (size_t i = 0; i < count; i++)
            damage(paths[i], how);
        kcl_build_stats s = build_with(&opt, KCL_OK);
        assert_int_equal(s.cache_rejected, n);
        assert_int_equal(s.compiled, n);
        s = build_with(&opt, KCL_OK);             /* rewritten whole */
        assert_int_equal(s.from_disk, n);
    }
    remove_tree(dir);
    free(dir);
}

/* An intact entry (right checksum, right key) whose binary the driver cannot
 * load: the stale case. It is refused by the driver, dropped and rebuilt. */
static void test_refused_binary_rebuilt(void **state)
{
    (void)state;
    char *dir = temp_dir();
    unsigned n = program_count();
    kcl_context_options opt = {.cache_dir = dir};
    build_with(&opt, KCL_OK);
    char paths[64][512];
    size_t count = list_entries(dir, paths, 64);
    for (size_t i = 0; i < count; i++) {
        FILE *f = fopen(paths[i], "r+b");
        assert_non_null(f);
        unsigned char head[24];
        assert_int_equal(fread(head, 1, 24, f), 24);
        uint32_t key_len;
        uint64_t bin_len;
        memcpy(&key_len, head + 8, 4);
        memcpy(&bin_len, head + 12, 8);
        size_t body_len = key_len + (size_t)bin_len;
        unsigned char *body = malloc(body_len);
        assert_int_equal(fread(body, 1, body_len, f), body_len);
        memset(body + key_len, 0x5a, (size_t)bin_len);        /* not a binary */
        uint32_t crc = (uint32_t)crc32(0L, body, (uInt)body_len);
        fseek(f, 20, SEEK_SET);
        fwrite(&crc, 4, 1, f);
        fwrite(body, 1, body_len, f);
        fclose(f);
        free(body);
    }
    kcl_build_stats s = build_with(&opt, KCL_OK);
    assert_int_equal(s.cache_rejected, n);
    assert_int_equal(s.compiled, n);
    remove_tree(dir);
    free(dir);
}

static void test_unwritable_dir_only_disables(void **state)
{
    (void)state;
    char *dir = temp_dir();
    char file[600];
    snprintf(file, sizeof file, "%s/not-a-directory", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    unsigned n = program_count();
    kcl_context_options opt = {.cache_dir = file};
    kcl_build_stats s = build_with(&opt, KCL_OK);
    assert_int_equal(s.compiled, n);
    remove_tree(dir);
    free(dir);
}

static void test_offline_mode(void **state)
{
    (void)state;
    char *dir = temp_dir();
    unsigned n = program_count();
    kcl_context *ctx;
    kcl_context_options pre = {.disable_disk_cache = 1};
    CHECK_OK(NULL, kcl_context_create(&ctx, &pre));
    CHECK_OK(ctx, kcl_precompile(ctx, dir));
    kcl_context_free(ctx);

    kcl_context_options off = {.offline = 1, .binary_dir = dir, .disable_disk_cache = 1};
    kcl_build_stats s = build_with(&off, KCL_OK);
    assert_int_equal(s.compiled, 0);
    assert_int_equal(s.from_disk, n);

    /* Work runs on the precompiled kernels, GEMM included. */
    CHECK_OK(NULL, kcl_context_create(&ctx, &off));
    int64_t shape[2] = {2, 2};
    float a[4] = {1, 2, 3, 4}, c[4] = {1, 1, 1, 1}, out[4];
    kcl_tensor *ta, *tc;
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, a, &ta));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 2, shape, c, &tc));
    CHECK_OK(ctx, kcl_gemm(ctx, KCL_NO_TRANS, KCL_TRANS, 2.0f, ta, ta, 0.5f, tc));
    CHECK_OK(ctx, kcl_tensor_read(tc, out, 4));
    /* 2 * A·Aᵀ + 0.5 = 2 * [[5, 11], [11, 25]] + 0.5 */
    assert_true(out[0] == 10.5f && out[1] == 22.5f && out[2] == 22.5f && out[3] == 50.5f);
    kcl_context_free(ctx);

    /* A missing binary is an error naming the program, never a compile. */
    char paths[64][512];
    size_t count = list_entries(dir, paths, 64);
    assert_true(count > 0);
    remove(paths[0]);
    CHECK_OK(NULL, kcl_context_create(&ctx, &off));
    assert_int_equal(kcl_build_all(ctx), KCL_ERR_OFFLINE);
    assert_non_null(strstr(kcl_errmsg(ctx), "offline mode"));
    const char *slash = strrchr(paths[0], '/');
    char program[64] = {0};
    strncpy(program, slash + 1, strcspn(slash + 1, "-"));
    assert_non_null(strstr(kcl_errmsg(ctx), program));
    kcl_context_free(ctx);

    kcl_context_options no_dir = {.offline = 1};
    unsetenv("KCL_BINARY_DIR");
    assert_int_equal(kcl_context_create(&ctx, &no_dir), KCL_ERR_ARGUMENT);
    assert_non_null(strstr(kcl_errmsg(NULL), "binary_dir"));
    remove_tree(dir);
    free(dir);
}

/* Copies the kernel sources into dir, breaking gemm.cl. */
static void write_broken_sources(const char *dir)
{
    const char *src = getenv("KCL_TEST_CL_DIR");
    assert_non_null(src);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".cl") != 0)
            continue;
        char from[1024], to[1024];
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
        FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
        assert_true(in && out);
        int c;
        while ((c = fgetc(in)) != EOF)
            fputc(c, out);
        if (strcmp(e->d_name, "gemm.cl") == 0)
            fputs("\n__kernel void broken(__global float *x) { x[0] = kcl_undefined_thing; }\n",
                  out);
        fclose(in);
        fclose(out);
    }
    closedir(d);
}

static void test_build_error_has_compiler_log(void **state)
{
    (void)state;
    char *dir = temp_dir();
    write_broken_sources(dir);
    setenv("KCL_KERNEL_DIR", dir, 1);
    kcl_context *ctx;
    kcl_context_options opt = {.disable_disk_cache = 1};
    CHECK_OK(NULL, kcl_context_create(&ctx, &opt));
    unsetenv("KCL_KERNEL_DIR");
    assert_int_equal(kcl_build_all(ctx), KCL_ERR_BUILD);
    const char *msg = kcl_errmsg(ctx);
    assert_non_null(strstr(msg, "'gemm'"));
    assert_non_null(strstr(msg, "kcl_undefined_thing"));   /* from the compiler's log */
    /* The context stays usable for work that does not need the broken program. */
    int64_t shape[1] = {3};
    kcl_tensor *t;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 1, shape, &t));
    kcl_context_free(ctx);
    remove_tree(dir);
    free(dir);
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_context_hits),
        cmocka_unit_test(test_corrupt_entries_rebuilt),
        cmocka_unit_test(test_refused_binary_rebuilt),
        cmocka_unit_test(test_unwritable_dir_only_disables),
        cmocka_unit_test(test_offline_mode),
        cmocka_unit_test(test_build_error_has_compiler_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
