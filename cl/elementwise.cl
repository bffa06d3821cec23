// elementwise.cl: unary and binary elementwise operations.
//
// Index decoding writes the remainder as rest - q * size rather than with %:
// LLVM would otherwise pair the two into a `freeze`, which Oclgrind's
// uninitialised-value checker cannot interpret.
//
// Binary kernels come in two forms: NAME_same when both inputs have the
// output's shape (flat indexing), NAME_bcast otherwise, where a kcl_bcast
// descriptor maps each output index to the two input offsets (stride 0 on a
// broadcast axis). Buffers are addressed as (buffer, element offset).

typedef struct kcl_bcast {
    int rank;
    int unused;
    long shape[8];               // output shape, collapsed
    long stride_a[8];            // element strides of a per output axis, 0 where broadcast
    long stride_b[8];
} kcl_bcast;

// NaN-propagating max and min (fmax/fmin would drop the NaN).
inline float nan_max(float a, float b) { return a != a ? a : (b != b ? b : fmax(a, b)); }
inline float nan_min(float a, float b) { return a != a ? a : (b != b ? b : fmin(a, b)); }

#define BINARY(NAME, EXPR)                                                              \
__kernel void NAME##_same(__global const float *pa, const ulong oa,                    \
                          __global const float *pb, const ulong ob,                    \
                          __global float *py, const ulong oy, const ulong n)           \
{                                                                                       \
    const size_t i = get_global_id(0);                                                  \
    if (i >= n) return;                                                                 \
    const float a = pa[oa + i], b = pb[ob + i];                                         \
    py[oy + i] = (EXPR);                                                                \
}                                                                                       \
__kernel void NAME##_bcast(__global const float *pa, const ulong oa,                   \
                           __global const float *pb, const ulong ob,                   \
                           __global float *py, const ulong oy, const kcl_bcast d,      \
                           const ulong n)                                               \
{                                                                                       \
    const size_t i = get_global_id(0);                                                  \
    if (i >= n) return;                                                                 \
    long rest = (long)i, ia = 0, ib = 0;                                                \
    for (int k = d.rank - 1; k >= 0; k--) {                                             \
        const long q = rest / d.shape[k], c = rest - q * d.shape[k];                    \
        rest = q;                                                                       \
        ia += c * d.stride_a[k];                                                        \
        ib += c * d.stride_b[k];                                                        \
    }                                                                                   \
    const float a = pa[oa + ia], b = pb[ob + ib];                                       \
    py[oy + i] = (EXPR);                                                                \
}

BINARY(add, a + b)
BINARY(subtract, a - b)
BINARY(multiply, a * b)
BINARY(divide, a / b)
BINARY(maximum, nan_max(a, b))
BINARY(minimum, nan_min(a, b))
BINARY(equal, a == b ? 1.0f : 0.0f)
BINARY(not_equal, a != b ? 1.0f : 0.0f)
BINARY(greater, a > b ? 1.0f : 0.0f)
BINARY(greater_equal, a >= b ? 1.0f : 0.0f)
BINARY(less, a < b ? 1.0f : 0.0f)
BINARY(less_equal, a <= b ? 1.0f : 0.0f)

// Unary kernels take two scalar parameters p and q (unused by most).
#define UNARY(NAME, EXPR)                                                               \
__kernel void NAME(__global const float *px, const ulong ox, __global float *py,       \
                   const ulong oy, const float p, const float q, const ulong n)        \
{                                                                                       \
    const size_t i = get_global_id(0);                                                  \
    if (i >= n) return;                                                                 \
    const float x = px[ox + i];                                                         \
    py[oy + i] = (EXPR);                                                                \
}

UNARY(negative, -x)
UNARY(square, x * x)
UNARY(sqrt_op, sqrt(x))
UNARY(exp_op, exp(x))
UNARY(log_op, log(x))
UNARY(abs_op, fabs(x))
UNARY(power, pow(x, p))
UNARY(scale_shift, x * p + q)
UNARY(clip, x != x ? x : fmin(fmax(x, p), q))
// Masks for gradients: sign (0 at 0, as TensorFlow's abs gradient) and
// 1 inside [p, q] (clip's gradient passes there).
UNARY(sign_op, x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f))
UNARY(inside, (x >= p && x <= q) ? 1.0f : 0.0f)

// var += alpha * g over n elements, in place (SGD).
__kernel void axpy_inplace(__global float *pv, const ulong ov, __global const float *pg,
                           const ulong og, const float alpha, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i < n)
        pv[ov + i] += alpha * pg[og + i];
}

// y = x broadcast to y's shape (the descriptor's stride_a; stride_b unused).
__kernel void broadcast_copy(__global const float *px, const ulong ox, __global float *py,
                             const ulong oy, const kcl_bcast d, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i >= n) return;
    long rest = (long)i, ix = 0;
    for (int k = d.rank - 1; k >= 0; k--) {
        const long q = rest / d.shape[k];
        ix += (rest - q * d.shape[k]) * d.stride_a[k];
        rest = q;
    }
    py[oy + i] = px[ox + ix];
}
