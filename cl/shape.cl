// shape.cl: copies between layouts (transpose, slice, concatenate and the
// slice gradient), argmax, one_hot, and gather with its scatter-add gradient.
//
// Buffers are addressed as (buffer, element offset). Index decoding writes
// the remainder as rest - q * size rather than with %: LLVM would otherwise
// pair the two into a `freeze`, which Oclgrind cannot interpret.

// One strided copy serves every layout change: work-item i decodes its index
// over `shape` and reads src at sum(c * src_stride), writes dst at
// sum(c * dst_stride). Mirrors copy_desc in lib/ops_index.c.
typedef struct kcl_copy {
    int rank;
    int unused;
    long shape[8];               // iteration shape, collapsed
    long src_stride[8];          // element strides of the source per iteration axis
    long dst_stride[8];          // element strides of the destination per iteration axis
} kcl_copy;

__kernel void strided_copy(__global const float *px, const ulong ox, __global float *py,
                           const ulong oy, const kcl_copy d, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i >= n)
        return;
    long rest = (long)i, is = 0, id = 0;
    for (int k = d.rank - 1; k >= 0; k--) {
        const long q = rest / d.shape[k], c = rest - q * d.shape[k];
        rest = q;
        is += c * d.src_stride[k];
        id += c * d.dst_stride[k];
    }
    py[oy + id] = px[ox + is];
}

// x seen as [n / inner, len, inner]; one work-item per output element. Ties
// give the first index; a NaN counts as the maximum (NumPy), the first one wins.
__kernel void argmax(__global const float *px, const ulong ox, __global float *py,
                     const ulong oy, const ulong len, const ulong inner, const ulong n)
{
    const size_t o = get_global_id(0);
    if (o >= n)
        return;
    const ulong a = o / inner, b = o - a * inner;
    const ulong base = ox + a * len * inner + b;
    float best = px[base];
    ulong at = 0;
    for (ulong k = 1; k < len && best == best; k++) {
        const float v = px[base + k * inner];
        if (v > best || v != v) {
            best = v;
            at = k;
        }
    }
    py[oy + o] = (float)at;
}

// The row an index value names, or -1 when it names none of count rows.
// Values are truncated toward zero, as a cast to an integer type would;
// NaN and infinities name no row.
inline long row_of(const float v, const ulong count)
{
    const float t = trunc(v);
    if (!(t >= 0.0f && t < (float)count))
        return -1;
    const ulong r = (ulong)t;
    return r < count ? (long)r : -1;
}

// y[..., c] = 1 where c is the row indices[...] names, else 0 (a row of zeros
// for an index outside [0, depth), as tf.one_hot).
__kernel void one_hot(__global const float *pi, const ulong oi, __global float *py,
                      const ulong oy, const ulong depth, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i >= n)
        return;
    const ulong r = i / depth, c = i - r * depth;
    py[oy + i] = row_of(pi[oi + r], depth) == (long)c ? 1.0f : 0.0f;
}

// y[j, c] = params[indices[j], c] for params of `rows` rows of row_len values.
// An index naming no row gives `fill` (NaN for kcl_gather) and nothing is
// read: no clamping, no out-of-bounds access.
__kernel void gather_rows(__global const float *pp, const ulong op, __global const float *pi,
                          const ulong oi, __global float *py, const ulong oy, const ulong rows,
                          const ulong row_len, const float fill, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i >= n)
        return;
    const ulong j = i / row_len, c = i - j * row_len;
    const long r = row_of(pi[oi + j], rows);
    py[oy + i] = r < 0 ? fill : pp[op + (ulong)r * row_len + c];
}

// The gradient of gather: y[r, c] = sum over j with indices[j] naming r of
// g[j, c]. One work-item per element of y loops over every index, so repeated
// indices accumulate without atomics or races, in a fixed order (the same
// bits on every run). That costs O(rows * n_idx * row_len) work: fine for the
// embedding sizes kcl meets now; a sort-based segment sum would scale better.
__kernel void scatter_add_rows(__global const float *pg, const ulong og,
                               __global const float *pi, const ulong oi, __global float *py,
                               const ulong oy, const ulong n_idx, const ulong rows,
                               const ulong row_len, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i >= n)
        return;
    const ulong r = i / row_len, c = i - r * row_len;
    float sum = 0.0f;
    for (ulong j = 0; j < n_idx; j++)
        if (row_of(pi[oi + j], rows) == (long)r)
            sum += pg[og + j * row_len + c];
    py[oy + i] = sum;
}
