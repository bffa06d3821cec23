"""Keras 3 (TensorFlow CPU) peer of bench_train.c: the same MLP 784-256-128-10,
Adam(1e-3), batch 128, one epoch of Fashion-MNIST, after a warm-up. Run by
samples/bench_train.sh from a virtual environment outside the repository
(pip install tensorflow-cpu keras); not needed by CI."""
import gzip
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    x = idx(folder + "/train-images-idx3-ubyte.gz").astype("float32") / 255.0
    y = idx(folder + "/train-labels-idx1-ubyte.gz").astype("int64")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[:1024], y[:1024], batch_size=128, epochs=1, verbose=0)  # warm-up
    start = time.perf_counter()
    h = model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    steps = (x.shape[0] + 127) // 128
    print(f"keras {keras.__version__} ({keras.backend.backend()})  "
          f"samples/s={x.shape[0] / seconds:.0f}  ms/step={1000 * seconds / steps:.2f}  "
          f"epoch_s={seconds:.2f}  accuracy={h.history['accuracy'][0]:.4f}")


if __name__ == "__main__":
    main()
