"""PyTorch peer of bench_train.c: the same MLP 784-256-128-10, Adam(1e-3),
batch 128, one epoch of Fashion-MNIST on the CPU, both threads. Run by
samples/bench_train.sh with Debian's python3-torch (not needed by CI)."""
import gzip
import sys
import time

import numpy as np
import torch


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    torch.set_num_threads(2)
    torch.manual_seed(1)
    x = torch.tensor(idx(folder + "/train-images-idx3-ubyte.gz"), dtype=torch.float32) / 255.0
    y = torch.tensor(idx(folder + "/train-labels-idx1-ubyte.gz"), dtype=torch.int64)
    x = x.reshape(-1, 784)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(n):
        perm = torch.randperm(n)
        correct = 0
        for i in range(0, n, 128):
            idx_b = perm[i:i + 128]
            xb, yb = x[idx_b], y[idx_b]
            opt.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            correct += (out.argmax(1) == yb).sum().item()
        return correct / n

    epoch(8 * 128)  # warm-up
    start = time.perf_counter()
    acc = epoch(x.shape[0])
    seconds = time.perf_counter() - start
    steps = (x.shape[0] + 127) // 128
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}  "
          f"samples/s={x.shape[0] / seconds:.0f}  ms/step={1000 * seconds / steps:.2f}  "
          f"epoch_s={seconds:.2f}  accuracy={acc:.4f}")


if __name__ == "__main__":
    main()
