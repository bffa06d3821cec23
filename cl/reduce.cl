// reduce.cl: sums and maxima over any set of axes.
//
// The host splits the input's axes into kept ones (the output's) and reduced
// ones, each with the input's element strides, merging neighbours where it
// can. Work-item i reduces part p of output o (i = o * parts + p): reduced
// indices [p * chunk, (p + 1) * chunk) with chunk = ceil(n_reduced / parts).
// With parts == 1 that is the whole output element; with more, the host
// reduces the parts in a second launch, so that a few outputs of many
// elements still occupy the whole device.

typedef struct kcl_reduce {
    int kept_rank;
    int reduced_rank;
    long kept_shape[8];
    long kept_stride[8];
    long reduced_shape[8];
    long reduced_stride[8];
} kcl_reduce;

inline long offset_of(long index, const int rank, const long *shape, const long *stride)
{
    long off = 0;
    for (int k = rank - 1; k >= 0; k--) {
        const long q = index / shape[k];   // not %: see elementwise.cl
        off += (index - q * shape[k]) * stride[k];
        index = q;
    }
    return off;
}

// Compensated (Kahan) summation: float sums of many terms stay accurate.
#define PART_PROLOGUE                                                                   \
    const ulong i = get_global_id(0);                                                   \
    if (i >= n_out * parts)                                                             \
        return;                                                                         \
    const ulong o = i / parts, p = i - o * parts;                                       \
    const ulong chunk = (n_reduced + parts - 1) / parts;                                \
    const ulong first = p * chunk, end = min(n_reduced, first + chunk);                 \
    const long base = ox + offset_of(o, d.kept_rank, d.kept_shape, d.kept_stride);

__kernel void reduce_sum(__global const float *px, const ulong ox, __global float *py,
                         const ulong oy, const kcl_reduce d, const ulong n_out,
                         const ulong n_reduced, const float scale, const ulong parts)
{
    PART_PROLOGUE
    float sum = 0.0f, carry = 0.0f;
    for (ulong r = first; r < end; r++) {
        const float term =
            px[base + offset_of(r, d.reduced_rank, d.reduced_shape, d.reduced_stride)] - carry;
        const float next = sum + term;
        carry = (next - sum) - term;
        sum = next;
    }
    py[oy + i] = sum * scale;
}

// The maximum propagates NaN; over zero elements it is -inf (NumPy's identity).
__kernel void reduce_max(__global const float *px, const ulong ox, __global float *py,
                         const ulong oy, const kcl_reduce d, const ulong n_out,
                         const ulong n_reduced, const float unused, const ulong parts)
{
    PART_PROLOGUE
    float best = -INFINITY;
    for (ulong r = first; r < end; r++) {
        const float v = px[base + offset_of(r, d.reduced_rank, d.reduced_shape, d.reduced_stride)];
        best = (v != v || best != best) ? NAN : fmax(best, v);
    }
    py[oy + i] = best;
}
