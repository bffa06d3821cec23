// activation.cl: Keras 3's activations (keras.activations) and their derivatives.
//
// Elementwise activations: each defines NAME_f(x, p, q, r, s), the value, and
// NAME_d(x, p, q, r, s), the derivative, from Keras' formula; p..s are the
// activation's arguments, already resolved to Keras' defaults on the host.
// ACTIVATION(NAME) turns the pair into four kernels:
//     act_NAME            y = f(x)
//     act_NAME_grad       dx = dy * f'(x)
//     bias_act_NAME       y = f(x + b), b along the last axis (c channels):
//                         Dense's bias and activation in one pass, a work-item
//                         per BIAS_BLOCK channels of a row (no index division
//                         per element; a loop the compiler can vectorize)
//     bias_act_NAME_grad_db  dz = dy * f'(x + b), the gradient of x, and db,
//                         dz summed over rows: one work-item per BIAS_BLOCK
//                         channels walks their columns, writing dz and summing
//                         it (Kahan per channel, as reduce_sum) into db
// At points where f is not differentiable, f'(x) follows TensorFlow's
// gradient kernels (ReluGrad, LeakyReluGrad, EluGrad, SeluGrad, Relu6Grad,
// clip_by_value's and where's gradients).
//
// NaN propagates through every activation except where Keras' formula is a
// comparison that picks a constant (soft_shrink, hard_shrink, threshold):
// max/min/clamp-based formulas test for NaN first, since fmax/fmin drop it.
//
// Activations along an axis (softmax, log_softmax, sparsemax) and glu view
// the tensor as [outer, len, inner] around the axis; index decoding writes
// the remainder as rest - q * size rather than with % (see elementwise.cl).

// Channels per work-item of the fused bias kernels: a run a CPU compiler
// vectorizes, or one where neighbouring work-items must touch neighbouring
// elements (GPUs; KCL_VECTOR_LOOPS, see lib/program.c).
#if KCL_VECTOR_LOOPS
#define BIAS_BLOCK 16
#else
#define BIAS_BLOCK 1
#endif

#define SELU_ALPHA 1.6732632423543772f
#define SELU_SCALE 1.0507009873554805f
#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f
#define GELU_CUBIC 0.044715f

// Overflow-free logistic function: exp of a non-positive argument only.
inline float sigmoid_of(const float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + exp(-x));
    const float e = exp(x);
    return e / (1.0f + e);
}

// log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), finite for any finite x.
inline float softplus_of(const float x)
{
    return (x > 0.0f ? x : 0.0f) + log1p(exp(-fabs(x)));
}

// clamp that keeps NaN (clamp's result for NaN is undefined).
inline float nan_clamp(const float x, const float lo, const float hi)
{
    return x != x ? x : fmin(fmax(x, lo), hi);
}

#define ACTIVATION(NAME)                                                                \
__kernel void act_##NAME(__global const float *px, const ulong ox, __global float *py, \
                         const ulong oy, const float p, const float q, const float r,  \
                         const float s, const ulong n)                                  \
{                                                                                       \
    const size_t i = get_global_id(0);                                                  \
    if (i >= n) return;                                                                 \
    py[oy + i] = NAME##_f(px[ox + i], p, q, r, s);                                      \
}                                                                                       \
__kernel void act_##NAME##_grad(__global const float *px, const ulong ox,              \
                                __global const float *pdy, const ulong ody,            \
                                __global float *pdx, const ulong odx, const float p,   \
                                const float q, const float r, const float s,           \
                                const ulong n)                                          \
{                                                                                       \
    const size_t i = get_global_id(0);                                                  \
    if (i >= n) return;                                                                 \
    pdx[odx + i] = pdy[ody + i] * NAME##_d(px[ox + i], p, q, r, s);                     \
}                                                                                       \
__kernel void bias_act_##NAME(__global const float *px, const ulong ox,                \
                              __global const float *pb, const ulong ob,                \
                              __global float *py, const ulong oy, const ulong c,       \
                              const float p, const float q, const float r,             \
                              const float s, const ulong n)                             \
{                                                                                       \
    const ulong blocks = (c + BIAS_BLOCK - 1) / BIAS_BLOCK, w = get_global_id(0);       \
    const ulong row = w / blocks, first = (w - row * blocks) * BIAS_BLOCK;              \
    if (row >= n / c) return;                                                           \
    const ulong end = min(first + BIAS_BLOCK, c), at = row * c;                         \
    for (ulong k = first; k < end; k++)                                                 \
        py[oy + at + k] = NAME##_f(px[ox + at + k] + pb[ob + k], p, q, r, s);           \
}                                                                                       \
__kernel void bias_act_##NAME##_grad_db(__global const float *px, const ulong ox,      \
                                        __global const float *pb, const ulong ob,      \
                                        __global const float *pdy, const ulong ody,    \
                                        __global float *pdz, const ulong odz,          \
                                        __global float *pdb, const ulong odb,          \
                                        const ulong c, const float p, const float q,   \
                                        const float r, const float s, const ulong n)   \
{                                                                                       \
    const ulong first = get_global_id(0) * BIAS_BLOCK;                                  \
    if (first >= c) return;                                                             \
    const ulong width = min((ulong)BIAS_BLOCK, c - first), rows = n / c;                \
    float bias[BIAS_BLOCK], sum[BIAS_BLOCK], carry[BIAS_BLOCK];                         \
    for (ulong t = 0; t < width; t++) {                                                 \
        bias[t] = pb[ob + first + t];                                                   \
        sum[t] = carry[t] = 0.0f;                                                       \
    }                                                                                   \
    for (ulong row = 0; row < rows; row++) {                                            \
        const ulong at = row * c + first;                                               \
        for (ulong t = 0; t < width; t++) {                                             \
            const float dz =                                                            \
                pdy[ody + at + t] * NAME##_d(px[ox + at + t] + bias[t], p, q, r, s);    \
            pdz[odz + at + t] = dz;                                                     \
            const float term = dz - carry[t], next = sum[t] + term;                     \
            carry[t] = (next - sum[t]) - term;                                          \
            sum[t] = next;                                                              \
        }                                                                               \
    }                                                                                   \
    for (ulong t = 0; t < width; t++)                                                   \
        pdb[odb + first + t] = sum[t];                                                  \
}

// relu: p negative_slope, q max_value (+inf: none), r threshold, s the
// derivative at a tie (x == max_value when there is one, else x == threshold),
// which depends on the TensorFlow op Keras picks (see lib/activations.c).
// Keras: max_value if x >= max_value; x if x > threshold; else
// negative_slope * (x - threshold). (x == threshold gives 0, as Keras computes
// x * (x > threshold), not x.)
inline float relu_f(float x, float p, float q, float r, float s)
{
    return x >= q ? q : (x > r ? x : p * (x - r));
}
inline float relu_d(float x, float p, float q, float r, float s)
{
    if (x == q)
        return s;
    if (x > q)
        return 0.0f;
    if (x == r)
        return isinf(q) ? s : 0.0f;
    return x > r ? 1.0f : p;
}
ACTIVATION(relu)

// TensorFlow's LeakyRelu: x > 0 ? x : alpha * x; its gradient takes alpha at 0.
inline float leaky_relu_f(float x, float p, float q, float r, float s) { return x > 0.0f ? x : p * x; }
inline float leaky_relu_d(float x, float p, float q, float r, float s) { return x > 0.0f ? 1.0f : p; }
ACTIVATION(leaky_relu)

inline float relu6_f(float x, float p, float q, float r, float s) { return nan_clamp(x, 0.0f, 6.0f); }
inline float relu6_d(float x, float p, float q, float r, float s)
{
    return (x > 0.0f && x < 6.0f) ? 1.0f : 0.0f;
}
ACTIVATION(relu6)

// elu, p alpha: Keras' where(x > 0, elu(x), alpha * elu(x)); EluGrad gives
// alpha * 1 at 0.
inline float elu_f(float x, float p, float q, float r, float s) { return x > 0.0f ? x : p * expm1(x); }
inline float elu_d(float x, float p, float q, float r, float s) { return x > 0.0f ? 1.0f : p * exp(x); }
ACTIVATION(elu)

// SeluGrad: scale * alpha * exp(x) for x < 0, scale from 0 on.
inline float selu_f(float x, float p, float q, float r, float s)
{
    return SELU_SCALE * (x > 0.0f ? x : SELU_ALPHA * expm1(x));
}
inline float selu_d(float x, float p, float q, float r, float s)
{
    return x < 0.0f ? SELU_SCALE * SELU_ALPHA * exp(x) : SELU_SCALE;
}
ACTIVATION(selu)

// celu, p alpha: max(x, 0) + alpha * expm1(min(x, 0) / alpha), written so NaN
// propagates. Continuously differentiable: the derivative is 1 at 0.
inline float celu_f(float x, float p, float q, float r, float s) { return x > 0.0f ? x : p * expm1(x / p); }
inline float celu_d(float x, float p, float q, float r, float s) { return x > 0.0f ? 1.0f : exp(x / p); }
ACTIVATION(celu)

// gelu (approximate=False): 0.5 x (1 + erf(x / sqrt 2)).
inline float gelu_f(float x, float p, float q, float r, float s)
{
    return 0.5f * x * (1.0f + erf(x * INV_SQRT_2));
}
inline float gelu_d(float x, float p, float q, float r, float s)
{
    return 0.5f * (1.0f + erf(x * INV_SQRT_2)) + x * INV_SQRT_2PI * exp(-0.5f * x * x);
}
ACTIVATION(gelu)

// gelu (approximate=True): 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
// computed as x * sigmoid(2 u) (the same value): 1 + tanh(u) cancels for
// large negative x, where tanh is a few ulp off -1.
inline float gelu_tanh_f(float x, float p, float q, float r, float s)
{
    return x * sigmoid_of(2.0f * SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
}
inline float gelu_tanh_d(float x, float p, float q, float r, float s)
{
    const float y = sigmoid_of(2.0f * SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
    const float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * x * x);
    return y + 2.0f * x * y * (1.0f - y) * du;
}
ACTIVATION(gelu_tanh)

inline float sigmoid_f(float x, float p, float q, float r, float s) { return sigmoid_of(x); }
inline float sigmoid_d(float x, float p, float q, float r, float s)
{
    const float y = sigmoid_of(x);
    return y * (1.0f - y);
}
ACTIVATION(sigmoid)

// Keras 3: relu6(x + 3) / 6.
inline float hard_sigmoid_f(float x, float p, float q, float r, float s)
{
    return nan_clamp(x + 3.0f, 0.0f, 6.0f) / 6.0f;
}
inline float hard_sigmoid_d(float x, float p, float q, float r, float s)
{
    return (x > -3.0f && x < 3.0f) ? 1.0f / 6.0f : 0.0f;
}
ACTIVATION(hard_sigmoid)

// 0 for x <= -1, 1 for x >= 1, (x + 1) / 2 between.
inline float sparse_sigmoid_f(float x, float p, float q, float r, float s)
{
    return x <= -1.0f ? 0.0f : (x >= 1.0f ? 1.0f : 0.5f * (x + 1.0f));
}
inline float sparse_sigmoid_d(float x, float p, float q, float r, float s)
{
    return (x > -1.0f && x < 1.0f) ? 0.5f : 0.0f;
}
ACTIVATION(sparse_sigmoid)

// -softplus(-x); its derivative is sigmoid(-x).
inline float log_sigmoid_f(float x, float p, float q, float r, float s) { return -softplus_of(-x); }
inline float log_sigmoid_d(float x, float p, float q, float r, float s) { return sigmoid_of(-x); }
ACTIVATION(log_sigmoid)

inline float tanh_f(float x, float p, float q, float r, float s) { return tanh(x); }
inline float tanh_d(float x, float p, float q, float r, float s)
{
    const float t = tanh(x);
    return 1.0f - t * t;
}
ACTIVATION(tanh)

// clip_by_value(x, -1, 1); its gradient passes on the closed interval.
inline float hard_tanh_f(float x, float p, float q, float r, float s) { return nan_clamp(x, -1.0f, 1.0f); }
inline float hard_tanh_d(float x, float p, float q, float r, float s)
{
    return (x >= -1.0f && x <= 1.0f) ? 1.0f : 0.0f;
}
ACTIVATION(hard_tanh)

inline float tanh_shrink_f(float x, float p, float q, float r, float s) { return x - tanh(x); }
inline float tanh_shrink_d(float x, float p, float q, float r, float s)
{
    const float t = tanh(x);
    return t * t;
}
ACTIVATION(tanh_shrink)

inline float softplus_f(float x, float p, float q, float r, float s) { return softplus_of(x); }
inline float softplus_d(float x, float p, float q, float r, float s) { return sigmoid_of(x); }
ACTIVATION(softplus)

inline float softsign_f(float x, float p, float q, float r, float s) { return x / (1.0f + fabs(x)); }
inline float softsign_d(float x, float p, float q, float r, float s)
{
    const float d = 1.0f + fabs(x);
    return 1.0f / (d * d);
}
ACTIVATION(softsign)

inline float silu_f(float x, float p, float q, float r, float s) { return x * sigmoid_of(x); }
inline float silu_d(float x, float p, float q, float r, float s)
{
    const float y = sigmoid_of(x);
    return y * (1.0f + x * (1.0f - y));
}
ACTIVATION(silu)

// x * hard_sigmoid(x); the derivative hard_sigmoid(x) + x * hard_sigmoid'(x)
// is 0 at -3 and 1 at 3 (Relu6Grad is 0 at the ends).
inline float hard_silu_f(float x, float p, float q, float r, float s) { return x * hard_sigmoid_f(x, p, q, r, s); }
inline float hard_silu_d(float x, float p, float q, float r, float s)
{
    return x <= -3.0f ? 0.0f : (x >= 3.0f ? 1.0f : (2.0f * x + 3.0f) / 6.0f);
}
ACTIVATION(hard_silu)

// x * tanh(softplus(x)).
inline float mish_f(float x, float p, float q, float r, float s) { return x * tanh(softplus_of(x)); }
inline float mish_d(float x, float p, float q, float r, float s)
{
    const float t = tanh(softplus_of(x));
    return t + x * (1.0f - t * t) * sigmoid_of(x);
}
ACTIVATION(mish)

// p threshold: x - t above t, x + t below -t, 0 between (NaN gives 0, as Keras).
inline float soft_shrink_f(float x, float p, float q, float r, float s)
{
    return x > p ? x - p : (x < -p ? x + p : 0.0f);
}
inline float soft_shrink_d(float x, float p, float q, float r, float s)
{
    return (x > p || x < -p) ? 1.0f : 0.0f;
}
ACTIVATION(soft_shrink)

// p threshold: x where |x| > t, else 0.
inline float hard_shrink_f(float x, float p, float q, float r, float s) { return fabs(x) > p ? x : 0.0f; }
inline float hard_shrink_d(float x, float p, float q, float r, float s) { return fabs(x) > p ? 1.0f : 0.0f; }
ACTIVATION(hard_shrink)

// 0 for x <= -1, (x + 1)^2 / 4 for -1 < x < 1, x from 1 on.
inline float sparse_plus_f(float x, float p, float q, float r, float s)
{
    return x <= -1.0f ? 0.0f : (x < 1.0f ? 0.25f * (x + 1.0f) * (x + 1.0f) : x);
}
inline float sparse_plus_d(float x, float p, float q, float r, float s)
{
    return x <= -1.0f ? 0.0f : (x < 1.0f ? 0.5f * (x + 1.0f) : 1.0f);
}
ACTIVATION(sparse_plus)

// p b: (x + sqrt(x^2 + b)) / 2. For x < 0 the same value is computed as
// b / (2 (sqrt(x^2 + b) - x)), which does not cancel (Keras' float formula
// gives 0 at -1e4 instead of 1e-4).
inline float squareplus_f(float x, float p, float q, float r, float s)
{
    const float root = sqrt(x * x + p);
    return x >= 0.0f ? 0.5f * (x + root) : p / (2.0f * (root - x));
}
inline float squareplus_d(float x, float p, float q, float r, float s)
{
    return 0.5f * (1.0f + x / sqrt(x * x + p));
}
ACTIVATION(squareplus)

// p threshold, q default_value: x > threshold ? x : default_value.
inline float threshold_f(float x, float p, float q, float r, float s) { return x > p ? x : q; }
inline float threshold_d(float x, float p, float q, float r, float s) { return x > p ? 1.0f : 0.0f; }
ACTIVATION(threshold)

// --------------------------------------------------------- along an axis --

// Row r of a tensor viewed as [outer, len, inner] starts at the returned
// offset; its elements are inner apart.
inline ulong row_start(const ulong r, const ulong len, const ulong inner)
{
    const ulong o = r / inner;
    return o * len * inner + (r - o * inner);
}

// The row's maximum, NaN if the row holds one (fmax would drop it).
inline float row_max(__global const float *px, const ulong base, const ulong len,
                     const ulong inner)
{
    float m = -INFINITY;
    for (ulong k = 0; k < len; k++) {
        const float v = px[base + k * inner];
        m = (v != v || m != m) ? NAN : fmax(m, v);
    }
    return m;
}

// exp(x - max) / sum(exp(x - max)): the shift keeps exp from overflowing.
__kernel void act_softmax(__global const float *px, const ulong ox, __global float *py,
                          const ulong oy, const ulong rows, const ulong len, const ulong inner)
{
    const size_t r = get_global_id(0);
    if (r >= rows) return;
    const ulong start = row_start(r, len, inner), bx = ox + start, by = oy + start;
    const float m = row_max(px, bx, len, inner);
    float sum = 0.0f;
    for (ulong k = 0; k < len; k++) {
        const float e = exp(px[bx + k * inner] - m);
        py[by + k * inner] = e;
        sum += e;
    }
    for (ulong k = 0; k < len; k++)
        py[by + k * inner] /= sum;
}

// x - max - log(sum(exp(x - max))).
__kernel void act_log_softmax(__global const float *px, const ulong ox, __global float *py,
                              const ulong oy, const ulong rows, const ulong len,
                              const ulong inner)
{
    const size_t r = get_global_id(0);
    if (r >= rows) return;
    const ulong start = row_start(r, len, inner), bx = ox + start, by = oy + start;
    const float m = row_max(px, bx, len, inner);
    float sum = 0.0f;
    for (ulong k = 0; k < len; k++)
        sum += exp(px[bx + k * inner] - m);
    // (x - max) - log(sum), not x - (max + log(sum)): that sum would round
    // to max's precision (1e-3 at 1e4).
    const float lse = log(sum);
    for (ulong k = 0; k < len; k++)
        py[by + k * inner] = (px[bx + k * inner] - m) - lse;
}

// max(x - tau, 0), tau making the row sum to 1 (Martins & Astudillo 2016).
// Instead of sorting, tau comes from Michelot's fixed point: start from the
// whole row, tau = (sum of the chosen - 1) / their count, keep those above
// tau, repeat until the set stops shrinking. The set shrinks every round, so
// at most len rounds; the result is the sorted algorithm's tau.
__kernel void act_sparsemax(__global const float *px, const ulong ox, __global float *py,
                            const ulong oy, const ulong rows, const ulong len,
                            const ulong inner)
{
    const size_t r = get_global_id(0);
    if (r >= rows) return;
    const ulong start = row_start(r, len, inner), bx = ox + start, by = oy + start;
    const float m = row_max(px, bx, len, inner);
    if (m != m) {
        for (ulong k = 0; k < len; k++)
            py[by + k * inner] = NAN;
        return;
    }
    float tau = -INFINITY;
    ulong chosen = len + 1;
    for (ulong round = 0; round <= len; round++) {
        float sum = 0.0f;
        ulong count = 0;
        for (ulong k = 0; k < len; k++) {
            const float v = px[bx + k * inner];
            if (v > tau) {
                sum += v;
                count++;
            }
        }
        if (count == chosen || count == 0)
            break;
        chosen = count;
        tau = (sum - 1.0f) / (float)count;
    }
    for (ulong k = 0; k < len; k++)
        py[by + k * inner] = fmax(px[bx + k * inner] - tau, 0.0f);
}

// ------------------------------------------------------------------ glu --

// x viewed as [outer, 2 half_len, inner] is split into halves a and b;
// y = a * sigmoid(b) has shape [outer, half_len, inner], one work-item each.
__kernel void act_glu(__global const float *px, const ulong ox, __global float *py,
                      const ulong oy, const ulong half_len, const ulong inner, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const ulong t = i / inner, c = i - t * inner;
    const ulong o = t / half_len, j = t - o * half_len;
    const ulong at = ox + (o * 2 * half_len + j) * inner + c;
    py[oy + i] = px[at] * sigmoid_of(px[at + half_len * inner]);
}

// dx over x's shape: da = dy * sigmoid(b), db = dy * a * sigmoid'(b).
__kernel void act_glu_grad(__global const float *px, const ulong ox,
                           __global const float *pdy, const ulong ody,
                           __global float *pdx, const ulong odx,
                           const ulong half_len, const ulong inner, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const ulong t = i / inner, c = i - t * inner;
    const ulong o = t / (2 * half_len), j = t - o * 2 * half_len;
    const bool first = j < half_len;
    const ulong pair = first ? j : j - half_len;
    const ulong at = ox + (o * 2 * half_len + pair) * inner + c;
    const float dy = pdy[ody + (o * half_len + pair) * inner + c];
    const float sb = sigmoid_of(px[at + half_len * inner]);
    pdx[odx + i] = first ? dy * sb : dy * px[at] * sb * (1.0f - sb);
}
