"""Writes tests/data/losses_golden.h and tests/data/metrics_golden.h: loss and
metric values computed by Keras 3 itself (TensorFlow backend), which
tests/test_losses.c and tests/test_metrics.c compare kcl against.

CI does not run this; the generated headers are committed. To regenerate, in a
virtual environment outside the repository:

    python3 -m venv /tmp/kvenv
    /tmp/kvenv/bin/pip install tensorflow-cpu keras
    KERAS_BACKEND=tensorflow /tmp/kvenv/bin/python tests/data/losses_golden.py

Inputs are float32 from a fixed seed, written with 9 significant digits so the
C side reads back the very same values.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240607)
B, C = 4, 3


def f32(*shape, lo=0.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def probs(*shape):
    p = f32(*shape, lo=0.05, hi=1.0)
    return (p / p.sum(axis=-1, keepdims=True)).astype(np.float32)


def onehot(b, c):
    return np.eye(c, dtype=np.float32)[rng.integers(0, c, size=b)]


def labels(b, c):
    return rng.integers(0, c, size=b).astype(np.float32)


def weights(b):
    return f32(b, lo=0.0, hi=2.0)


def c_floats(a):
    return "{" + ", ".join("%.9g" % float(v) for v in np.asarray(a).ravel()) + "}"


def c_shape(a):
    s = list(np.asarray(a).shape)
    return len(s), "{" + ", ".join(str(d) for d in (s or [0])) + "}"


# (kcl name, Keras loss object, options as kcl fields, y_true, y_pred)
LOSS_CASES = [
    ("mse", keras.losses.MeanSquaredError(), {}, f32(B, C, lo=-2, hi=2), f32(B, C, lo=-2, hi=2)),
    ("mae", keras.losses.MeanAbsoluteError(), {}, f32(B, C, lo=-2, hi=2), f32(B, C, lo=-2, hi=2)),
    ("msle", keras.losses.MeanSquaredLogarithmicError(), {}, f32(B, C, lo=-0.5, hi=3),
     f32(B, C, lo=-0.5, hi=3)),
    ("huber", keras.losses.Huber(), {}, f32(B, C, lo=-2, hi=2), f32(B, C, lo=-2, hi=2)),
    ("huber", keras.losses.Huber(delta=0.3), {"delta": 0.3}, f32(B, C, lo=-2, hi=2),
     f32(B, C, lo=-2, hi=2)),
    ("log_cosh", keras.losses.LogCosh(), {}, f32(B, C, lo=-3, hi=3), f32(B, C, lo=-3, hi=3)),
    ("binary_crossentropy", keras.losses.BinaryCrossentropy(), {}, f32(B, C), f32(B, C)),
    ("binary_crossentropy", keras.losses.BinaryCrossentropy(label_smoothing=0.2),
     {"label_smoothing": 0.2}, onehot(B, C), f32(B, C)),
    ("binary_crossentropy", keras.losses.BinaryCrossentropy(from_logits=True),
     {"from_logits": 1}, f32(B, C), f32(B, C, lo=-4, hi=4)),
    ("binary_crossentropy",
     keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
     {"from_logits": 1, "label_smoothing": 0.1}, onehot(B, C), f32(B, C, lo=-4, hi=4)),
    # probabilities 0 and 1: Keras' clipping
    ("binary_crossentropy", keras.losses.BinaryCrossentropy(), {},
     np.array([[1, 0, 1], [0, 1, 0]], np.float32), np.array([[0, 1, 1], [0, 0.5, 1]], np.float32)),
    # [batch] labels with [batch, 1] predictions
    ("binary_crossentropy", keras.losses.BinaryCrossentropy(), {},
     np.array([1, 0, 1, 0], np.float32), f32(4, 1)),
    ("categorical_crossentropy", keras.losses.CategoricalCrossentropy(), {}, onehot(B, C),
     probs(B, C)),
    ("categorical_crossentropy", keras.losses.CategoricalCrossentropy(), {}, onehot(B, C),
     f32(B, C, lo=0.0, hi=2.0)),  # not normalised: Keras renormalises
    ("categorical_crossentropy", keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
     {"label_smoothing": 0.1}, onehot(B, C), probs(B, C)),
    ("categorical_crossentropy", keras.losses.CategoricalCrossentropy(from_logits=True),
     {"from_logits": 1}, onehot(B, C), f32(B, C, lo=-3, hi=3)),
    ("categorical_crossentropy",
     keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
     {"from_logits": 1, "label_smoothing": 0.2}, probs(B, C), f32(B, C, lo=-3, hi=3)),
    ("sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy(), {},
     labels(B, C), probs(B, C)),
    ("sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy(), {},
     labels(B, C).reshape(B, 1), f32(B, C, lo=0.0, hi=1.0)),
    ("sparse_categorical_crossentropy",
     keras.losses.SparseCategoricalCrossentropy(from_logits=True), {"from_logits": 1},
     labels(B, C), f32(B, C, lo=-3, hi=3)),
    ("kl_divergence", keras.losses.KLDivergence(), {}, probs(B, C), probs(B, C)),
    ("poisson", keras.losses.Poisson(), {}, f32(B, C, lo=0, hi=3), f32(B, C, lo=0.01, hi=3)),
    ("hinge", keras.losses.Hinge(), {}, onehot(B, C), f32(B, C, lo=-2, hi=2)),
    ("hinge", keras.losses.Hinge(), {}, 2 * onehot(B, C) - 1, f32(B, C, lo=-2, hi=2)),
    ("hinge", keras.losses.Hinge(), {}, np.array([[0, 0.5, 1], [1, -1, 0]], np.float32),
     f32(2, C, lo=-2, hi=2)),
    ("squared_hinge", keras.losses.SquaredHinge(), {}, onehot(B, C), f32(B, C, lo=-2, hi=2)),
    ("categorical_hinge", keras.losses.CategoricalHinge(), {}, onehot(B, C),
     f32(B, C, lo=-2, hi=2)),
]


def write_losses():
    arrays, rows = [], []
    for i, (name, loss, opts, t, p) in enumerate(LOSS_CASES):
        for weighted in (0, 1):
            k = len(rows)
            w = weights(len(p)) if weighted else None
            value = float(loss(t, p, sample_weight=w))
            arrays.append("static const float g%d_t[] = %s;" % (k, c_floats(t)))
            arrays.append("static const float g%d_p[] = %s;" % (k, c_floats(p)))
            if weighted:
                arrays.append("static const float g%d_w[] = %s;" % (k, c_floats(w)))
            tr, ts = c_shape(t)
            pr, ps = c_shape(p)
            rows.append(
                '    {"%s", %d, %.9g, %.9g, %d, %s, g%d_t, %d, %s, g%d_p, %d, %s, %.17g},'
                % (name, opts.get("from_logits", 0), opts.get("label_smoothing", 0.0),
                   opts.get("delta", 0.0), tr, ts, k, pr, ps, k, weighted,
                   "g%d_w" % k if weighted else "NULL", value))
    with open(os.path.join(HERE, "losses_golden.h"), "w") as f:
        f.write("/* Generated by tests/data/losses_golden.py with Keras %s (%s backend); "
                "do not edit. */\n" % (keras.__version__, keras.backend.backend()))
        f.write("typedef struct golden_case {\n"
                "    const char *name;\n    int from_logits;\n"
                "    float label_smoothing, delta;\n"
                "    int true_rank;\n    int64_t true_shape[3];\n    const float *y_true;\n"
                "    int pred_rank;\n    int64_t pred_shape[3];\n    const float *y_pred;\n"
                "    int weighted;\n    const float *sample_weight;\n"
                "    double expected;             /* Keras' loss(y_true, y_pred, sample_weight) */\n"
                "} golden_case;\n\n")
        f.write("\n".join(arrays) + "\n\nstatic const golden_case golden[] = {\n")
        f.write("\n".join(rows) + "\n};\n")


# (kcl name, Keras metric factory, kcl config fields, y_true batches, y_pred batches)
def binary_batches(n):
    return [rng.integers(0, 2, size=(B, 1)).astype(np.float32) for _ in range(n)], \
           [f32(B, 1) for _ in range(n)]


def metric_cases():
    cases = []
    t, p = binary_batches(3)
    cases.append(("binary_accuracy", lambda: keras.metrics.BinaryAccuracy(), {}, t, p))
    cases.append(("binary_accuracy", lambda: keras.metrics.BinaryAccuracy(threshold=0.3),
                  {"threshold": 0.3}, t, p))
    cases.append(("precision", lambda: keras.metrics.Precision(), {}, t, p))
    cases.append(("recall", lambda: keras.metrics.Recall(thresholds=0.4), {"threshold": 0.4},
                  t, p))
    t8 = [rng.integers(0, 2, size=(8, 1)).astype(np.float32) for _ in range(3)]
    p8 = [np.clip(f32(8, 1) * 0.7 + 0.3 * t8[i], 0, 1).astype(np.float32) for i in range(3)]
    cases.append(("auc", lambda: keras.metrics.AUC(), {}, t8, p8))
    cases.append(("auc", lambda: keras.metrics.AUC(num_thresholds=7), {"num_thresholds": 7},
                  t8, p8))
    t = [onehot(B, 5) for _ in range(3)]
    p = [f32(B, 5) for _ in range(3)]
    cases.append(("categorical_accuracy", lambda: keras.metrics.CategoricalAccuracy(), {}, t, p))
    cases.append(("top_k_categorical_accuracy",
                  lambda: keras.metrics.TopKCategoricalAccuracy(k=2), {"k": 2}, t, p))
    t = [labels(B, 5) for _ in range(3)]
    cases.append(("sparse_categorical_accuracy",
                  lambda: keras.metrics.SparseCategoricalAccuracy(), {}, t, p))
    t = [f32(B, C, lo=-1, hi=1) for _ in range(3)]
    p = [f32(B, C, lo=-1, hi=1) for _ in range(3)]
    cases.append(("mse", lambda: keras.metrics.MeanSquaredError(), {}, t, p))
    cases.append(("mae", lambda: keras.metrics.MeanAbsoluteError(), {}, t, p))
    return cases


def write_metrics():
    arrays, rows = [], []
    for name, make, opts, ts, ps in metric_cases():
        for weighted in (0, 1):
            k = len(rows)
            m = make()
            ws = [weights(len(p)) for p in ps]
            for t, p, w in zip(ts, ps, ws):
                m.update_state(t, p, sample_weight=w if weighted else None)
            value = float(m.result())
            arrays.append("static const float m%d_t[] = %s;" % (k, c_floats(np.stack(ts))))
            arrays.append("static const float m%d_p[] = %s;" % (k, c_floats(np.stack(ps))))
            if weighted:
                arrays.append("static const float m%d_w[] = %s;" % (k, c_floats(np.stack(ws))))
            tr, tsh = c_shape(ts[0])
            pr, psh = c_shape(ps[0])
            rows.append('    {"%s", %d, %.9g, %d, %d, %s, m%d_t, %d, %s, m%d_p, %d, %s, %.17g},'
                        % (name, opts.get("k", 0), opts.get("threshold", 0.0),
                           opts.get("num_thresholds", 0), tr, tsh, k, pr, psh, k, len(ts),
                           "m%d_w" % k if weighted else "NULL", value))
    with open(os.path.join(HERE, "metrics_golden.h"), "w") as f:
        f.write("/* Generated by tests/data/losses_golden.py with Keras %s (%s backend); "
                "do not edit. */\n" % (keras.__version__, keras.backend.backend()))
        f.write("typedef struct metric_golden {\n"
                "    const char *name;\n    int k;\n    float threshold;\n    int num_thresholds;\n"
                "    int true_rank;\n    int64_t true_shape[2];\n    const float *y_true;\n"
                "    int pred_rank;\n    int64_t pred_shape[2];\n    const float *y_pred;\n"
                "    int batches;                 /* the arrays hold this many batches */\n"
                "    const float *sample_weight;  /* NULL: unweighted */\n"
                "    double expected;             /* Keras' result() after the batches */\n"
                "} metric_golden;\n\n")
        f.write("\n".join(arrays) + "\n\nstatic const metric_golden golden[] = {\n")
        f.write("\n".join(rows) + "\n};\n")


if __name__ == "__main__":
    write_losses()
    write_metrics()
