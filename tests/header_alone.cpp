/* header_alone.cpp: include/kcl.h on its own must compile as C++17 (built
 * with -std=c++17 -Wall -Wextra -Wpedantic -Werror by tests/meson.build), and
 * the C++ forms of its option macros must be usable without designated
 * initializers or compound literals. Every convenience is called once, so a
 * signature that no longer fits fails the build. */
#include <kcl.h>

int kcl_header_alone_cpp_compiles(kcl_model *m, const kcl_array *x, const kcl_array *y);

int kcl_header_alone_cpp_compiles(kcl_model *m, const kcl_array *x, const kcl_array *y)
{
    const kcl_initializer inits[] = {
        kcl_init_zeros(), kcl_init_ones(), kcl_init_constant(2.0f),
        kcl_init_random_normal(0.0f, 0.1f, 7), kcl_init_truncated_normal(1.0f),
        kcl_init_random_uniform(-1.0f, 1.0f, 3),
        kcl_init_variance_scaling(2.0f, KCL_FAN_AVG, KCL_DIST_UNIFORM, 5),
        kcl_init_glorot_normal(1), kcl_init_glorot_uniform(), kcl_init_he_normal(42),
        kcl_init_he_uniform(), kcl_init_lecun_normal(), kcl_init_lecun_uniform(9),
        kcl_init_identity(0.5f), kcl_init_orthogonal(1.0f, 2), kcl_init_custom(nullptr, nullptr),
    };
    kcl_optimizer_config amsgrad = kcl_optimizer_config();
    amsgrad.amsgrad = 1;
    const kcl_optimizer_config optimizers[] = {
        kcl_sgd(), kcl_sgd(0.1f), kcl_adam(1e-3f), kcl_adam(amsgrad), kcl_adamw(),
        kcl_rmsprop(1e-2f), kcl_adagrad(kcl_optimizer_config()),
    };
    kcl_loss_config huber = kcl_loss_config();
    huber.delta = 2.0f;
    const kcl_loss_config losses[] = {kcl_loss(KCL_LOSS_MEAN_SQUARED_ERROR),
                                      kcl_loss(KCL_LOSS_HUBER, huber)};

    kcl_dense_options dense = kcl_dense_options();
    dense.activation = "relu";
    dense.input_dim = 4;
    kcl_flatten_options input = kcl_flatten_options();
    input.input_shape[0] = 4;
    kcl_reshape_options reshape = kcl_reshape_options();
    reshape.target_shape[0] = 2;
    reshape.target_shape[1] = 2;
    kcl_layer *layers[] = {
        kcl_layer_input(input), kcl_layer_dense(8, dense), kcl_layer_dense(4),
        kcl_layer_activation("tanh"), kcl_layer_flatten(), kcl_layer_reshape(reshape),
        kcl_layer_dropout(0.5f), kcl_layer_lambda("x * x"), kcl_layer_add(),
        kcl_layer_subtract(), kcl_layer_multiply(), kcl_layer_average(),
        kcl_layer_concatenate(),
    };
    for (kcl_layer *l : layers)
        kcl_layer_free(l);

    // Keras' callbacks' keyword arguments, verbose included.
    kcl_early_stopping_options stopping = kcl_early_stopping_options();
    stopping.verbose = 1;
    kcl_model_checkpoint_options checkpoint = kcl_model_checkpoint_options();
    checkpoint.path = "best.safetensors";
    checkpoint.verbose = 1;
    kcl_reduce_lr_options reduce = kcl_reduce_lr_options();
    reduce.verbose = 1;
    kcl_callback *callbacks[3] = {nullptr, nullptr, nullptr};
    kcl_early_stopping(&stopping, &callbacks[0]);
    kcl_model_checkpoint(&checkpoint, &callbacks[1]);
    kcl_reduce_lr_on_plateau(&reduce, &callbacks[2]);

    kcl_fit_options fit = kcl_fit_options();
    fit.epochs = 2;
    fit.n_callbacks = 3;
    fit.callbacks = callbacks;
    kcl_status st = kcl_fit(m, x, y, fit);
    st = st ? st : kcl_fit(m, x, y);
    for (kcl_callback *cb : callbacks)
        kcl_callback_free(cb);
    return (int)inits[3].kind + (int)optimizers[3].kind + (int)losses[1].kind + (int)st;
}
