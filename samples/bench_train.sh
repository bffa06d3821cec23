#!/bin/bash
# Training benchmark: kcl (build/samples/bench_train, on $KCL_DEVICE or the
# default device) beside PyTorch on the CPU (Debian's python3-torch) and, when
# a virtual environment with Keras 3 + TensorFlow is given, Keras; same model,
# batch and optimizer, in one run; prints each and the ratios.
#     samples/bench_train.sh [BUILD_DIR] [KERAS_VENV]
build=${1:-build}
venv=$2
data=/usr/share/datasets/fashion-mnist
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
kcl=$("$build/samples/bench_train" "$data") || exit 1
echo "$kcl"
# Debian's OpenBLAS may misdetect a virtual CPU as an old core (Prescott) and
# run far below the hardware: give the peer the CPU's real family then.
core=$(/usr/bin/python3 -c "import ctypes; l = ctypes.CDLL('libopenblas.so.0'); \
l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())")
echo "openblas_get_corename: $core"
case "$core" in
    Prescott|Core2|Penryn|Dunnington|Nehalem|Sandybridge|Atom|Katmai|Northwood|Banias)
        if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
        elif grep -q avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
        echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} for the peers" ;;
esac
torch=$(/usr/bin/python3 "$(dirname "$0")/bench_train_torch.py" "$data") || exit 1
echo "$torch"
k=$(sed -n 's/.*samples\/s=\([0-9]*\).*/\1/p' <<<"$kcl")
t=$(sed -n 's/.*samples\/s=\([0-9]*\).*/\1/p' <<<"$torch")
awk -v k="$k" -v t="$t" 'BEGIN { printf "kcl / torch = %.2f\n", k / t }'
if [ -n "$venv" ]; then
    keras=$("$venv/bin/python" "$(dirname "$0")/bench_train_keras.py" "$data") || exit 1
    echo "$keras"
    r=$(sed -n 's/.*samples\/s=\([0-9]*\).*/\1/p' <<<"$keras")
    awk -v k="$k" -v r="$r" 'BEGIN { printf "kcl / keras = %.2f\n", k / r }'
fi
