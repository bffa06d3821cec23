#!/usr/bin/env python3
"""Writes the seed files for future fuzzing of kcl's save / load code, with
Python's struct, json and zlib only (an implementation independent of kcl's):

  tests/data/fuzz/safetensors/*.safetensors   weights and whole-model files
  tests/data/fuzz/json/*.json                 model architectures (kcl_model_from_json)
  tests/data/fuzz/model/*.safetensors         whole models with optimizer state (kcl_model_load)

tests/test_save.c reads tiny_weights.safetensors (its values are given there)
and checks that every JSON seed loads. Run from anywhere:
    python3 tests/data/save/make_fuzz_seeds.py
"""
import json
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz")


def safetensors(tensors, metadata=None, checksum=False):
    """tensors: list of (name, shape, float values); returns the file bytes."""
    data = b"".join(struct.pack("<%df" % len(v), *v) for _, _, v in tensors)
    header = {}
    offset = 0
    for name, shape, values in tensors:
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [offset, offset + 4 * len(values)]}
        offset += 4 * len(values)
    meta = dict(metadata or {})
    if checksum:
        meta["checksum_crc32"] = "%08x" % (zlib.crc32(data) & 0xFFFFFFFF)
    if meta:
        header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write(path, data):
    with open(os.path.join(ROOT, path), "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


TINY_KERNEL = [i * 0.25 - 0.5 for i in range(6)]
TINY_BIAS = [0.125, -0.375]
TINY = [("d/kernel", [3, 2], TINY_KERNEL), ("d/bias", [2], TINY_BIAS)]


def dense(name, units, **extra):
    config = {"name": name, "trainable": True, "units": units, "activation": "linear",
              "use_bias": True,
              "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
              "bias_initializer": {"class_name": "Zeros", "config": {}},
              "kernel_regularizer": None, "bias_regularizer": None}
    config.update(extra)
    return {"class_name": "Dense", "config": config}


SEQUENTIAL = {
    "class_name": "Sequential",
    "config": {"name": "tiny", "layers": [
        {"class_name": "InputLayer", "config": {"name": "inp", "batch_shape": [None, 3]}},
        dense("d", 2)]},
    "backend": "kcl",
}

COMPILED = {
    "class_name": "Sequential",
    "config": {"name": "mlp", "layers": [
        dense("hidden", 8, activation="relu", batch_input_shape=[None, 4],
              kernel_initializer={"class_name": "HeNormal", "config": {"seed": 3}}),
        {"class_name": "Dropout", "config": {"name": "drop", "trainable": True, "rate": 0.25,
                                             "seed": 9}},
        dense("out", 3, activation="softmax"),
    ]},
    "compile_config": {
        "optimizer": {"class_name": "Adam", "config": {
            "learning_rate": {"class_name": "ExponentialDecay", "config": {
                "initial_learning_rate": 0.01, "decay_steps": 10, "decay_rate": 0.5,
                "staircase": False}},
            "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": True}},
        "loss": [{"class_name": "categorical_crossentropy",
                  "config": {"from_logits": False, "label_smoothing": 0.1}}],
        "loss_weights": [1.0],
        "metrics": [{"class_name": "accuracy", "config": {"name": "acc"}}],
    },
}


def node(*refs):
    return [[r, 0, 0] for r in refs]


FUNCTIONAL = {
    "class_name": "Functional",
    "config": {
        "name": "two_towers",
        "layers": [
            {"class_name": "InputLayer", "name": "a",
             "config": {"name": "a", "batch_shape": [None, 4]}, "inbound_nodes": []},
            {"class_name": "InputLayer", "name": "b",
             "config": {"name": "b", "batch_shape": [None, 4]}, "inbound_nodes": []},
            dict(dense("shared", 6, activation="tanh"), name="shared",
                 inbound_nodes=[node("a"), node("b")]),
            {"class_name": "Concatenate", "name": "cat",
             "config": {"name": "cat", "trainable": True, "axis": -1},
             "inbound_nodes": [[["shared", 0, 0], ["shared", 1, 0]]]},
            {"class_name": "Lambda", "name": "lam",
             "config": {"name": "lam", "trainable": True, "expression": "x * 0.5f",
                        "gradient": ["0.5f * dy"], "n_inputs": 1},
             "inbound_nodes": [node("cat")]},
            dict(dense("head", 1), name="head", inbound_nodes=[node("lam")]),
        ],
        "input_layers": [["a", 0, 0], ["b", 0, 0]],
        "output_layers": [["head", 0, 0]],
    },
}


# A compiled model whose file holds optimizer slots (SGD with momentum keeps
# one, "momentum", per trainable weight) and layer call counts.
TRAINED = {
    "class_name": "Sequential",
    "config": {"name": "trained", "layers": [
        {"class_name": "InputLayer", "config": {"name": "inp", "batch_shape": [None, 3]}},
        dense("d", 2),
        {"class_name": "Dropout", "config": {"name": "drop", "trainable": True, "rate": 0.5,
                                             "seed": 1}}]},
    "compile_config": {
        "optimizer": {"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.5}},
        "loss": "mean_squared_error"},
    "backend": "kcl",
}


def main():
    write("safetensors/tiny_weights.safetensors", safetensors(TINY, {"format": "pt"}))
    write("safetensors/tiny_weights_checksum.safetensors",
          safetensors(TINY, {"format": "kcl"}, checksum=True))
    write("safetensors/empty.safetensors", safetensors([]))
    write("safetensors/tiny_model.safetensors",
          safetensors(TINY, {"format": "kcl", "model_config": json.dumps(SEQUENTIAL),
                             "training_state": json.dumps({"optimizer_iterations": 0})},
                      checksum=True))
    write("safetensors/bad_overlap.safetensors",
          safetensors(TINY)[:8] + safetensors(TINY)[8:].replace(b"[24,32]", b"[20,28]"))
    os.makedirs(os.path.join(ROOT, "model"), exist_ok=True)
    write("model/trained_sgd.safetensors",
          safetensors(TINY + [("optimizer/d/kernel/momentum", [3, 2], [0.01 * i for i in range(6)]),
                              ("optimizer/d/bias/momentum", [2], [-0.5, 0.25])],
                      {"format": "kcl", "model_config": json.dumps(TRAINED),
                       "training_state": json.dumps({"optimizer_iterations": 4,
                                                     "layer_calls": {"drop": 4}})},
                      checksum=True))
    for name, model in [("sequential", SEQUENTIAL), ("compiled", COMPILED),
                        ("functional_shared_lambda", FUNCTIONAL)]:
        write("json/%s.json" % name, json.dumps(model, indent=2) + "\n")


if __name__ == "__main__":
    main()
