// metric.cl: the running totals of Keras' metrics, updated in place on the
// device batch after batch (the in-order queue keeps updates in sequence).
//
// Buffers are (buffer, element offset) pairs. A weight belongs to a sample:
// element e of a batch of n elements over `samples` samples has the weight
// w[e / (n / samples)]. `weighted` 0 means every weight is 1.

// Compensated (Kahan) running sum: batches of many terms stay accurate in float.
typedef struct kahan {
    float sum, carry;
} kahan;

inline void kahan_add(kahan *k, const float v)
{
    const float term = v - k->carry;
    const float next = k->sum + term;
    k->carry = (next - k->sum) - term;
    k->sum = next;
}

inline float weight_of(__global const float *pw, const ulong ow, const int weighted,
                       const ulong sample)
{
    return weighted ? pw[ow + sample] : 1.0f;
}

// Keras' Mean over per-sample values v ([samples, per_sample] elements): each
// sample's values are averaged, then state[0] += sum(w * mean), state[1] +=
// sum(w). One work-item: a batch is small and the result must not depend on
// a reduction order.
__kernel void mean_update(__global const float *pv, const ulong ov,
                          __global const float *pw, const ulong ow, const int weighted,
                          __global float *ps, const ulong os,
                          const ulong samples, const ulong per_sample)
{
    if (get_global_id(0) != 0)
        return;
    kahan total = {0.0f, 0.0f}, count = {0.0f, 0.0f};
    for (ulong r = 0; r < samples; r++) {
        kahan row = {0.0f, 0.0f};
        for (ulong j = 0; j < per_sample; j++)
            kahan_add(&row, pv[ov + r * per_sample + j]);
        const float w = weight_of(pw, ow, weighted, r);
        kahan_add(&total, w * (row.sum / (float)per_sample));
        kahan_add(&count, w);
    }
    ps[os] += total.sum;
    ps[os + 1] += count.sum;
}

// Per-row accuracy values over rows of `classes` predictions:
//   mode 0 binary:      mean over the row of (t == (p > threshold))
//   mode 1 categorical: argmax(t row) == argmax(p row)
//   mode 2 sparse:      label t[row] == argmax(p row)
//   mode 3 top-k:       the class argmax(t row) is among the k largest of the
//                       p row, ties counting in its favour (tf.math.in_top_k:
//                       fewer than k values strictly above it; a row with a
//                       non-finite prediction never matches)
// Argmax takes the first of equal maxima, as Keras' ops.argmax.
inline ulong argmax_row(__global const float *p, const ulong base, const ulong classes)
{
    ulong best = 0;
    for (ulong j = 1; j < classes; j++)
        if (p[base + j] > p[base + best])
            best = j;
    return best;
}

__kernel void accuracy_rows(__global const float *pt, const ulong ot,
                            __global const float *pp, const ulong op,
                            __global float *py, const ulong oy,
                            const ulong rows, const ulong classes, const int mode,
                            const float threshold, const int k)
{
    const size_t r = get_global_id(0);
    if (r >= rows)
        return;
    const ulong base = op + r * classes;
    float v = 0.0f;
    if (mode == 0) {
        for (ulong j = 0; j < classes; j++) {
            const float decided = pp[base + j] > threshold ? 1.0f : 0.0f;
            v += pt[ot + r * classes + j] == decided ? 1.0f : 0.0f;
        }
        v /= (float)classes;
    } else if (mode == 1) {
        v = argmax_row(pt, ot + r * classes, classes) == argmax_row(pp, base, classes);
    } else if (mode == 2) {
        v = pt[ot + r] == (float)argmax_row(pp, base, classes) ? 1.0f : 0.0f;
    } else {
        const float target = pp[base + argmax_row(pt, ot + r * classes, classes)];
        int above = 0, finite = 1;
        for (ulong j = 0; j < classes; j++) {
            above += pp[base + j] > target;
            finite &= isfinite(pp[base + j]);
        }
        v = (finite && above < k) ? 1.0f : 0.0f;
    }
    py[oy + r] = v;
}

// Precision and recall at one threshold: state[0..3] += weighted counts of
// (true positives, false positives, false negatives, true negatives), a label
// being positive when nonzero and a prediction when above the threshold.
__kernel void confusion_update(__global const float *pt, const ulong ot,
                               __global const float *pp, const ulong op,
                               __global const float *pw, const ulong ow, const int weighted,
                               __global float *ps, const ulong os,
                               const ulong n, const ulong per_sample, const float threshold)
{
    if (get_global_id(0) != 0)
        return;
    kahan c[4] = {{0.0f, 0.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}, {0.0f, 0.0f}};
    for (ulong e = 0; e < n; e++) {
        const float w = weight_of(pw, ow, weighted, e / per_sample);
        const bool label = pt[ot + e] != 0.0f, pred = pp[op + e] > threshold;
        kahan_add(&c[label ? (pred ? 0 : 2) : (pred ? 1 : 3)], w);
    }
    for (int i = 0; i < 4; i++)
        ps[os + i] += c[i].sum;
}

// AUC's confusion counts at its T evenly spaced thresholds, as Keras' optimised
// update: a prediction p (clipped to [0, 1]) falls in bucket
// max(ceil(p (T - 1)) - 1, 0) and is positive at threshold i when its bucket
// is >= i. One work-item per threshold; state holds tp[T], fp[T], tn[T], fn[T].
__kernel void auc_update(__global const float *pt, const ulong ot,
                         __global const float *pp, const ulong op,
                         __global const float *pw, const ulong ow, const int weighted,
                         __global float *ps, const ulong os,
                         const ulong n, const ulong per_sample, const ulong thresholds)
{
    const size_t i = get_global_id(0);
    if (i >= thresholds)
        return;
    const float scale = (float)(thresholds - 1);
    kahan tp = {0.0f, 0.0f}, fp = {0.0f, 0.0f}, tn = {0.0f, 0.0f}, fn = {0.0f, 0.0f};
    for (ulong e = 0; e < n; e++) {
        const float p = fmin(fmax(pp[op + e], 0.0f), 1.0f);   // NaN becomes 0
        const float bucket = fmax(ceil(p * scale) - 1.0f, 0.0f);
        const bool label = pt[ot + e] != 0.0f, pred = bucket >= (float)i;
        const float w = weight_of(pw, ow, weighted, e / per_sample);
        kahan_add(label ? (pred ? &tp : &fn) : (pred ? &fp : &tn), w);
    }
    ps[os + i] += tp.sum;
    ps[os + thresholds + i] += fp.sum;
    ps[os + 2 * thresholds + i] += tn.sum;
    ps[os + 3 * thresholds + i] += fn.sum;
}
