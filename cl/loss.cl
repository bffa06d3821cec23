// loss.cl: numerically stable fused primitives for the losses: logsumexp,
// softmax cross-entropy (dense and sparse targets), sigmoid cross-entropy,
// and the gradients of the cross-entropies, each in one pass.
//
// The softmax kernels run one work-item per row; a row is the last axis of
// the logits (`classes` contiguous values). Exponentials are taken of
// x - max(row), which is <= 0, so they never overflow, and log-probabilities
// are written (max - x) + log(sum): logits of ±1e4 give finite, accurate
// results. Index decoding avoids % (see elementwise.cl).

// The largest of len values at x[base + j * step]; NaN if any is NaN;
// -inf for len 0.
inline float row_max(__global const float *x, const ulong base, const ulong len,
                     const ulong step)
{
    float best = -INFINITY;
    for (ulong j = 0; j < len; j++) {
        const float v = x[base + j * step];
        best = (v != v || best != best) ? NAN : fmax(best, v);
    }
    return best;
}

// sum(exp(x - shift)) over the row.
inline float row_sum_exp(__global const float *x, const ulong base, const ulong len,
                         const ulong step, const float shift)
{
    float sum = 0.0f;
    for (ulong j = 0; j < len; j++)
        sum += exp(x[base + j * step] - shift);
    return sum;
}

// log(sum(exp(x))) over the row: -inf when every value is -inf (or none
// exists), +inf when one is +inf, NaN when one is NaN.
inline float row_logsumexp(__global const float *x, const ulong base, const ulong len,
                           const ulong step)
{
    const float m = row_max(x, base, len, step);
    if (isinf(m) || isnan(m))
        return m;
    return m + log(row_sum_exp(x, base, len, step, m));
}

// Over axis of length len: the input is [outer, len, inner], the output
// [outer, inner] (keepdims only changes the output's shape).
__kernel void logsumexp(__global const float *px, const ulong ox, __global float *py,
                        const ulong oy, const ulong len, const ulong inner, const ulong n_out)
{
    const size_t o = get_global_id(0);
    if (o >= n_out)
        return;
    const ulong q = o / inner, r = o - q * inner;
    py[oy + o] = row_logsumexp(px, ox + q * len * inner + r, len, inner);
}

// -sum(t * log_softmax(x)) = sum(t * ((m - x) + log(s))) per row.
__kernel void softmax_xent(__global const float *pl, const ulong ol, __global const float *pt,
                           const ulong ot, __global float *py, const ulong oy,
                           const ulong classes, const ulong rows)
{
    const size_t row = get_global_id(0);
    if (row >= rows)
        return;
    const ulong bl = ol + row * classes, bt = ot + row * classes;
    const float m = row_max(pl, bl, classes, 1);
    const float ls = log(row_sum_exp(pl, bl, classes, 1, m));
    float loss = 0.0f;
    for (ulong j = 0; j < classes; j++)
        loss += pt[bt + j] * ((m - pl[bl + j]) + ls);
    py[oy + row] = loss;
}

// d/d logits = (softmax(x) * sum(t) - t) * gy, gy one value per row.
__kernel void softmax_xent_grad(__global const float *pl, const ulong ol,
                                __global const float *pt, const ulong ot,
                                __global const float *pg, const ulong og,
                                __global float *py, const ulong oy,
                                const ulong classes, const ulong rows)
{
    const size_t row = get_global_id(0);
    if (row >= rows)
        return;
    const ulong bl = ol + row * classes, bt = ot + row * classes;
    const float m = row_max(pl, bl, classes, 1);
    const float inv = 1.0f / row_sum_exp(pl, bl, classes, 1, m);
    float total = 0.0f;
    for (ulong j = 0; j < classes; j++)
        total += pt[bt + j];
    const float g = pg[og + row];
    for (ulong j = 0; j < classes; j++)
        py[oy + row * classes + j] = (exp(pl[bl + j] - m) * inv * total - pt[bt + j]) * g;
}

// d/d target = -log_softmax(x) * gy = ((m - x) + log(s)) * gy.
__kernel void softmax_xent_target_grad(__global const float *pl, const ulong ol,
                                       __global const float *pg, const ulong og,
                                       __global float *py, const ulong oy,
                                       const ulong classes, const ulong rows)
{
    const size_t row = get_global_id(0);
    if (row >= rows)
        return;
    const ulong bl = ol + row * classes;
    const float m = row_max(pl, bl, classes, 1);
    const float ls = log(row_sum_exp(pl, bl, classes, 1, m));
    const float g = pg[og + row];
    for (ulong j = 0; j < classes; j++)
        py[oy + row * classes + j] = ((m - pl[bl + j]) + ls) * g;
}

// A label is a float holding a class index in [0, classes), its fraction
// dropped as a cast to an integer does; anything else (NaN too) is invalid.
inline bool label_valid(const float label, const ulong classes)
{
    return label >= 0.0f && label < (float)classes;
}

// -log_softmax(x)[label] per row; NaN for an invalid label.
__kernel void sparse_softmax_xent(__global const float *pl, const ulong ol,
                                  __global const float *pk, const ulong ok,
                                  __global float *py, const ulong oy,
                                  const ulong classes, const ulong rows)
{
    const size_t row = get_global_id(0);
    if (row >= rows)
        return;
    const float label = pk[ok + row];
    if (!label_valid(label, classes)) {
        py[oy + row] = NAN;
        return;
    }
    const ulong bl = ol + row * classes;
    const float m = row_max(pl, bl, classes, 1);
    const float ls = log(row_sum_exp(pl, bl, classes, 1, m));
    py[oy + row] = (m - pl[bl + (ulong)label]) + ls;
}

// d/d logits = (softmax(x) - onehot(label)) * gy; a row of NaN for an invalid label.
__kernel void sparse_softmax_xent_grad(__global const float *pl, const ulong ol,
                                       __global const float *pk, const ulong ok,
                                       __global const float *pg, const ulong og,
                                       __global float *py, const ulong oy,
                                       const ulong classes, const ulong rows)
{
    const size_t row = get_global_id(0);
    if (row >= rows)
        return;
    const float label = pk[ok + row];
    const ulong bl = ol + row * classes, by = oy + row * classes;
    if (!label_valid(label, classes)) {
        for (ulong j = 0; j < classes; j++)
            py[by + j] = NAN;
        return;
    }
    const ulong hot = (ulong)label;
    const float m = row_max(pl, bl, classes, 1);
    const float inv = 1.0f / row_sum_exp(pl, bl, classes, 1, m);
    const float g = pg[og + row];
    for (ulong j = 0; j < classes; j++)
        py[by + j] = (exp(pl[bl + j] - m) * inv - (j == hot ? 1.0f : 0.0f)) * g;
}

// TensorFlow's stable form of -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)):
// max(x, 0) - x z + log(1 + exp(-|x|)).
__kernel void sigmoid_xent(__global const float *pl, const ulong ol, __global const float *pt,
                           const ulong ot, __global float *py, const ulong oy, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i >= n)
        return;
    const float x = pl[ol + i], z = pt[ot + i];
    py[oy + i] = fmax(x, 0.0f) - x * z + log1p(exp(-fabs(x)));
}

// d/d logits = (sigmoid(x) - z) * gy, sigmoid evaluated without overflow.
__kernel void sigmoid_xent_grad(__global const float *pl, const ulong ol,
                                __global const float *pt, const ulong ot,
                                __global const float *pg, const ulong og,
                                __global float *py, const ulong oy, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i >= n)
        return;
    const float x = pl[ol + i];
    const float e = exp(-fabs(x));
    const float s = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    py[oy + i] = (s - pt[ot + i]) * pg[og + i];
}
