/* test_device: listing devices and choosing one by index, type or name. */
#include "common.h"

static kcl_device_info *devices;
static size_t device_count;

static kcl_context *open_choice(const char *choice, kcl_status *status)
{
    kcl_context_options opt = {.device = choice, .disable_disk_cache = 1};
    kcl_context *ctx = NULL;
    *status = kcl_context_create(&ctx, &opt);
    return ctx;
}

static void test_list(void **state)
{
    (void)state;
    assert_true(device_count > 0);
    for (size_t i = 0; i < device_count; i++) {
        assert_true(devices[i].name[0] != '\0');
        assert_true(devices[i].compute_units > 0);
        assert_true(devices[i].global_memory > 0);
        assert_non_null(strstr(devices[i].opencl_c_version, "OpenCL C"));
        assert_true(devices[i].type != 0);
    }
}

static void test_by_index(void **state)
{
    (void)state;
    for (size_t i = 0; i < device_count; i++) {
        char choice[32];
        snprintf(choice, sizeof choice, "%d:%d", devices[i].platform_index,
                 devices[i].device_index);
        kcl_status st;
        kcl_context *ctx = open_choice(choice, &st);
        assert_int_equal(st, KCL_OK);
        assert_string_equal(kcl_context_device(ctx)->name, devices[i].name);
        assert_string_equal(kcl_context_device(ctx)->platform_name, devices[i].platform_name);
        kcl_context_free(ctx);
    }
}

static void test_by_type(void **state)
{
    (void)state;
    static const struct { const char *name; unsigned bit; } types[] = {
        {"cpu", KCL_DEVICE_CPU}, {"GPU", KCL_DEVICE_GPU}, {"accelerator", KCL_DEVICE_ACCELERATOR}};
    for (size_t t = 0; t < 3; t++) {
        int expected = -1;   /* the first non-simulator of the type, else the first simulator */
        for (int pass = 0; pass < 2 && expected < 0; pass++)
            for (size_t i = 0; i < device_count && expected < 0; i++)
                if ((devices[i].type & types[t].bit) && devices[i].simulator == pass)
                    expected = (int)i;
        kcl_status st;
        kcl_context *ctx = open_choice(types[t].name, &st);
        if (expected < 0) {
            assert_int_equal(st, KCL_ERR_NO_DEVICE);
            assert_null(ctx);
            continue;
        }
        assert_int_equal(st, KCL_OK);
        assert_string_equal(kcl_context_device(ctx)->name, devices[expected].name);
        kcl_context_free(ctx);
    }
}

static void test_by_name_any_case(void **state)
{
    (void)state;
    /* A middle part of the first device's name, upper-cased. */
    char part[8] = {0};
    size_t len = strlen(devices[0].name);
    size_t take = len < 6 ? len : 6;
    for (size_t i = 0; i < take; i++) {
        char c = devices[0].name[len - take + i];
        part[i] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    kcl_status st;
    kcl_context *ctx = open_choice(part, &st);
    assert_int_equal(st, KCL_OK);
    /* Some device with that text in a name matched (the first one in list order). */
    assert_non_null(ctx);
    kcl_context_free(ctx);
}

static void test_default_skips_simulator(void **state)
{
    (void)state;
    int has_real = 0;
    for (size_t i = 0; i < device_count; i++)
        has_real |= !devices[i].simulator;
    kcl_status st;
    kcl_context *ctx = open_choice("", &st);
    assert_int_equal(st, KCL_OK);
    if (has_real)
        assert_false(kcl_context_device(ctx)->simulator);
    kcl_context_free(ctx);
}

static void test_unknown_lists_devices(void **state)
{
    (void)state;
    kcl_status st;
    kcl_context *ctx = open_choice("no-such-device-anywhere", &st);
    assert_int_equal(st, KCL_ERR_NO_DEVICE);
    assert_null(ctx);
    const char *msg = kcl_errmsg(NULL);
    assert_non_null(strstr(msg, "no-such-device-anywhere"));
    for (size_t i = 0; i < device_count; i++)
        assert_non_null(strstr(msg, devices[i].name));
    ctx = open_choice("7:99", &st);
    assert_int_equal(st, KCL_ERR_NO_DEVICE);
}

static void test_status_strings(void **state)
{
    (void)state;
    assert_string_equal(kcl_status_name(KCL_OK), "KCL_OK");
    assert_string_equal(kcl_status_name(KCL_ERR_SHAPE), "KCL_ERR_SHAPE");
    assert_string_equal(kcl_status_string(KCL_ERR_SHAPE), "incompatible shape");
    assert_string_equal(kcl_status_name((kcl_status)999), "KCL_UNKNOWN_STATUS");
    for (int s = 0; s < KCL_STATUS_COUNT_; s++)
        assert_true(strlen(kcl_status_string((kcl_status)s)) > 0);
}

static void test_null_arguments(void **state)
{
    (void)state;
    assert_int_equal(kcl_context_create(NULL, NULL), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_device_list(NULL, NULL), KCL_ERR_ARGUMENT);
    kcl_context_free(NULL);
    kcl_tensor_free(NULL);
    kcl_device_list_free(NULL);
}

static int setup(void **state)
{
    (void)state;
    return kcl_device_list(&devices, &device_count) == KCL_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kcl_device_list_free(devices);
    return 0;
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_by_index),
        cmocka_unit_test(test_by_type),
        cmocka_unit_test(test_by_name_any_case),
        cmocka_unit_test(test_default_skips_simulator),
        cmocka_unit_test(test_unknown_lists_devices),
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_null_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
