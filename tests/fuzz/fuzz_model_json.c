/* fuzz_model_json.c: kcl_model_from_json (the architecture and compile
 * settings of a model) on arbitrary text. A model it accepts must also write
 * itself back as JSON. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kcl_context *ctx = fuzz_context();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';           /* an embedded NUL just ends the text early */
    kcl_model *m = NULL;
    if (kcl_model_from_json(ctx, text, &m) == KCL_OK) {
        char *back = NULL;
        if (kcl_model_to_json(m, &back) == KCL_OK)
            free(back);
        kcl_model_free(m);
    } else if (m) {
        abort();                 /* a refused text leaves no model */
    }
    free(text);
    return 0;
}
