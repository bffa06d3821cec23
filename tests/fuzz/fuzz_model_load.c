/* fuzz_model_load.c: whole-model files (kcl_model_load: safetensors with the
 * architecture, compile settings and training state in its metadata) and,
 * on the same bytes, kcl_model_load_weights into one fixed built model. */
#include "fuzz_common.h"

/* The model of the seed tiny_model.safetensors: Dense(2) on 3 inputs. */
static const char tiny_json[] =
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"tiny\", \"layers\": ["
    "{\"class_name\": \"InputLayer\", \"config\": {\"name\": \"inp\", \"batch_shape\": [null, 3]}},"
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2}}]},"
    "\"compile_config\": {\"optimizer\": {\"class_name\": \"SGD\", \"config\": {\"momentum\": 0.5}},"
    "\"loss\": \"mse\"}}";

static kcl_model *fixed_model(kcl_context *ctx)
{
    static kcl_model *m;
    if (!m && kcl_model_from_json(ctx, tiny_json, &m) != KCL_OK) {
        fprintf(stderr, "fixed_model: %s\n", kcl_errmsg(ctx));
        abort();
    }
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kcl_context *ctx = fuzz_context();
    const char *path = fuzz_file(data, size);
    kcl_model *m = NULL;
    if (kcl_model_load(ctx, path, &m) == KCL_OK) {
        char *json = NULL;
        if (kcl_model_to_json(m, &json) == KCL_OK)
            free(json);
        kcl_model_free(m);
    } else if (m) {
        abort();                 /* a refused file leaves no model */
    }
    kcl_model_load_weights(fixed_model(ctx), path);
    return 0;
}
