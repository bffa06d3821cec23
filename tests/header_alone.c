/* header_alone: include/kcl.h on its own must compile as strict C11 (built
 * with -std=c11 -Wpedantic -Wstrict-prototypes -Werror by tests/meson.build),
 * and its option macros must expand warning-free. */
#include <kcl.h>

int kcl_header_alone_compiles(void);

int kcl_header_alone_compiles(void)
{
    kcl_initializer init = kcl_init_he_normal(.seed = 1);
    kcl_optimizer_config adam = kcl_adam(.learning_rate = 1e-3f);
    kcl_loss_config loss = kcl_loss(KCL_LOSS_HUBER, .delta = 2.0f);
    return (int)init.kind + (int)adam.kind + (int)loss.kind;
}
