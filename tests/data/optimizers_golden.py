"""Writes optimizers_golden.h: the values real Keras 3 optimizers give after 5
steps on two small variables, for tests/test_optimizers.c to compare against.

Run once by hand (CI needs no Python):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install keras jax jaxlib
    KERAS_BACKEND=jax /tmp/venv/bin/python tests/data/optimizers_golden.py

Each case pairs a Keras constructor with the kcl config that means the same,
written as C, so the two cannot drift apart.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.optimizers import schedules as S  # noqa: E402

STEPS = 5
SHAPES = [(2, 3), (4,)]

O = keras.optimizers
CASES = [
    ("sgd", lambda: O.SGD(0.1), "kcl_sgd(.learning_rate = 0.1f)"),
    ("sgd_momentum", lambda: O.SGD(0.1, momentum=0.9),
     "kcl_sgd(.learning_rate = 0.1f, .momentum = 0.9f)"),
    ("sgd_nesterov", lambda: O.SGD(0.1, momentum=0.8, nesterov=True),
     "kcl_sgd(.learning_rate = 0.1f, .momentum = 0.8f, .nesterov = 1)"),
    ("sgd_weight_decay", lambda: O.SGD(0.1, weight_decay=0.5),
     "kcl_sgd(.learning_rate = 0.1f, .weight_decay = 0.5f)"),
    ("adam_default", lambda: O.Adam(), "kcl_adam()"),
    ("adam", lambda: O.Adam(0.1), "kcl_adam(.learning_rate = 0.1f)"),
    ("adam_options", lambda: O.Adam(0.05, beta_1=0.8, beta_2=0.99, epsilon=1e-3),
     "kcl_adam(.learning_rate = 0.05f, .beta_1 = 0.8f, .beta_2 = 0.99f, .epsilon = 1e-3f)"),
    ("adam_amsgrad", lambda: O.Adam(0.1, beta_2=0.9, amsgrad=True),
     "kcl_adam(.learning_rate = 0.1f, .beta_2 = 0.9f, .amsgrad = 1)"),
    ("adamw_default", lambda: O.AdamW(), "kcl_adamw()"),
    ("adamw", lambda: O.AdamW(0.1, weight_decay=0.3, amsgrad=True),
     "kcl_adamw(.learning_rate = 0.1f, .weight_decay = 0.3f, .amsgrad = 1)"),
    ("rmsprop_default", lambda: O.RMSprop(), "kcl_rmsprop()"),
    ("rmsprop", lambda: O.RMSprop(0.1, rho=0.8), "kcl_rmsprop(.learning_rate = 0.1f, .rho = 0.8f)"),
    ("rmsprop_momentum", lambda: O.RMSprop(0.1, momentum=0.5),
     "kcl_rmsprop(.learning_rate = 0.1f, .momentum = 0.5f)"),
    ("rmsprop_centered", lambda: O.RMSprop(0.1, centered=True, momentum=0.7, epsilon=1e-3),
     "kcl_rmsprop(.learning_rate = 0.1f, .centered = 1, .momentum = 0.7f, .epsilon = 1e-3f)"),
    ("adagrad_default", lambda: O.Adagrad(), "kcl_adagrad()"),
    ("adagrad", lambda: O.Adagrad(0.1, initial_accumulator_value=0.5, epsilon=1e-4),
     "kcl_adagrad(.learning_rate = 0.1f, .initial_accumulator_value = 0.5f, .epsilon = 1e-4f)"),
    ("clipvalue_adam", lambda: O.Adam(0.1, clipvalue=0.4),
     "kcl_adam(.learning_rate = 0.1f, .clipvalue = 0.4f)"),
    ("clipnorm_sgd", lambda: O.SGD(0.1, momentum=0.5, clipnorm=1.0),
     "kcl_sgd(.learning_rate = 0.1f, .momentum = 0.5f, .clipnorm = 1.0f)"),
    ("clipnorm_adamw", lambda: O.AdamW(0.1, clipnorm=0.8),
     "kcl_adamw(.learning_rate = 0.1f, .clipnorm = 0.8f)"),
    ("global_clipnorm_rmsprop", lambda: O.RMSprop(0.1, global_clipnorm=1.5),
     "kcl_rmsprop(.learning_rate = 0.1f, .global_clipnorm = 1.5f)"),
    ("exponential_decay_sgd",
     lambda: O.SGD(S.ExponentialDecay(0.4, 2, 0.5, staircase=True), momentum=0.5),
     "kcl_sgd(.momentum = 0.5f, .schedule = {.kind = KCL_SCHEDULE_EXPONENTIAL_DECAY, "
     ".initial_learning_rate = 0.4f, .decay_steps = 2, .decay_rate = 0.5f, .staircase = 1})"),
    ("exponential_decay_adam", lambda: O.Adam(S.ExponentialDecay(0.1, 3, 0.7)),
     "kcl_adam(.schedule = {.kind = KCL_SCHEDULE_EXPONENTIAL_DECAY, "
     ".initial_learning_rate = 0.1f, .decay_steps = 3, .decay_rate = 0.7f})"),
    ("piecewise_sgd", lambda: O.SGD(S.PiecewiseConstantDecay([1, 3], [0.3, 0.2, 0.1])),
     "kcl_sgd(.schedule = {.kind = KCL_SCHEDULE_PIECEWISE_CONSTANT, .n_boundaries = 2, "
     ".boundaries = (const int64_t[]){1, 3}, .values = (const float[]){0.3f, 0.2f, 0.1f}})"),
    ("cosine_warmup_adamw",
     lambda: O.AdamW(S.CosineDecay(0.0, 3, alpha=0.1, warmup_target=0.1, warmup_steps=2)),
     "kcl_adamw(.schedule = {.kind = KCL_SCHEDULE_COSINE_DECAY, .decay_steps = 3, "
     ".alpha = 0.1f, .warmup_target = 0.1f, .warmup_steps = 2})"),
    ("cosine_rmsprop", lambda: O.RMSprop(S.CosineDecay(0.1, 4, alpha=0.2)),
     "kcl_rmsprop(.schedule = {.kind = KCL_SCHEDULE_COSINE_DECAY, "
     ".initial_learning_rate = 0.1f, .decay_steps = 4, .alpha = 0.2f})"),
]


def inputs():
    """Initial values and per-step gradients, float32; variable 1's gradient
    is zero at step 2 (the zero-norm branch of clipping)."""
    rng = np.random.default_rng(2024)
    x0 = [rng.uniform(-1, 1, s).astype(np.float32) for s in SHAPES]
    grads = []
    for step in range(STEPS):
        g = [(rng.uniform(-1, 1, s) * (0.5 + 0.5 * step)).astype(np.float32) for s in SHAPES]
        if step == 2:
            g[1][:] = 0
        grads.append(g)
    return x0, grads


def run(make, x0, grads):
    variables = [keras.Variable(x) for x in x0]
    opt = make()
    for g in grads:
        opt.apply([keras.ops.convert_to_tensor(a) for a in g], variables)
    return [np.asarray(v.numpy(), dtype=np.float32) for v in variables]


def c_float(v):
    text = "%.9g" % float(v)
    return text + ("f" if any(c in text for c in ".e") else ".0f")


def c_floats(a):
    return "{" + ", ".join(c_float(v) for v in np.ravel(a)) + "}"


def main():
    x0, grads = inputs()
    out = [
        "/* optimizers_golden.h: generated by optimizers_golden.py with Keras %s "
        "(backend %s); do not edit. */" % (keras.__version__, keras.backend.backend()),
        "#define GOLDEN_STEPS %d" % STEPS,
        "static const float golden_x0_0[6] = %s;" % c_floats(x0[0]),
        "static const float golden_x0_1[4] = %s;" % c_floats(x0[1]),
        "static const float golden_grads_0[GOLDEN_STEPS][6] = {%s};"
        % ", ".join(c_floats(g[0]) for g in grads),
        "static const float golden_grads_1[GOLDEN_STEPS][4] = {%s};"
        % ", ".join(c_floats(g[1]) for g in grads),
        "static const struct golden_case {",
        "    const char *name;",
        "    kcl_optimizer_config config;",
        "    float x_0[6], x_1[4];        /* the variables after GOLDEN_STEPS steps */",
        "} golden_cases[] = {",
    ]
    for name, make, c_config in CASES:
        x = run(make, x0, grads)
        out.append('    {"%s", %s,\n     %s,\n     %s},' % (name, c_config, c_floats(x[0]),
                                                          c_floats(x[1])))
    out.append("};")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "optimizers_golden.h")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
