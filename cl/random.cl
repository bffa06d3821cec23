// kcl-options: -cl-fp32-correctly-rounded-divide-sqrt
// random.cl: the random number generator of the initializers (Philox-4x32-10)
// and the distributions drawn from it.
//
// The same seed gives the same bits on every OpenCL device. Two things make it so:
//  - Element i depends only on (seed, i): work-item b computes the Philox block
//    of counter (b mod 2^32, b / 2^32, round, stream) under key (seed mod 2^32,
//    seed / 2^32) and writes elements 4b .. 4b+3, whatever the work-group size.
//  - Every float operation is one OpenCL requires to be correctly rounded
//    (+ - * and, with the option on the first line, / and sqrt) or exact
//    (integer and bit operations, conversions of integers below 2^24). The
//    exp/log/sin/cos builtins are allowed a few ulps of error that differ
//    between implementations, so the log and sin/cos here are our own
//    polynomials; and FP_CONTRACT OFF forbids fusing a * b + c into an FMA,
//    whose single rounding would differ from a device that does not fuse.
// tests/test_initializers.c mirrors this file in host C and compares the bytes.
#pragma OPENCL FP_CONTRACT OFF

// Philox-4x32 constants (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// A truncated normal redraws a value beyond two standard deviations with the
// next round's counter. P(|z| > 2) = 0.0455, so an element still out after 16
// rounds has probability 0.0455^16 < 4e-22; it then takes the mean (z = 0).
#define TRUNCATED_ROUNDS 16u

uint4 philox4x32_10(uint4 ctr, uint2 key)
{
    for (int round = 0; round < 10; round++) {
        if (round > 0)
            key += (uint2)(PHILOX_W0, PHILOX_W1);
        const uint hi0 = mul_hi(PHILOX_M0, ctr.x), lo0 = PHILOX_M0 * ctr.x;
        const uint hi1 = mul_hi(PHILOX_M1, ctr.z), lo1 = PHILOX_M1 * ctr.z;
        ctr = (uint4)(hi1 ^ ctr.y ^ key.x, lo1, hi0 ^ ctr.w ^ key.y, lo0);
    }
    return ctr;
}

// The four words of block b for a redraw round and a stream.
uint4 block_bits(ulong b, uint round, uint stream, uint seed_lo, uint seed_hi)
{
    const uint4 ctr = (uint4)((uint)b, (uint)(b >> 32), round, stream);
    return philox4x32_10(ctr, (uint2)(seed_lo, seed_hi));
}

// [0, 1) from the top 24 bits: every value exact, multiples of 2^-24.
float uniform24(uint x)
{
    return (float)(x >> 8) * 0x1p-24f;
}

// (0, 1) from the top 23 bits, midpoints (k + 0.5) 2^-23: exact in a float,
// never 0 (so never log(0)) and never 1, symmetric about 1/2.
float open_uniform(uint x)
{
    return ((float)(x >> 9) + 0.5f) * 0x1p-23f;
}

// ln(u) for a normal float u in (0, 1). u = 2^e m with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s) with s = (m - 1) / (m + 1), |s| < 0.172: the series to s^11
// leaves a relative error below 1e-10, far under float rounding.
float log_unit(float u)
{
    const uint bits = as_uint(u);
    int e = (int)(bits >> 23) - 127;
    float m = as_float((bits & 0x007FFFFFu) | 0x3F800000u);
    if (m > 1.41421356f) {
        m = m * 0.5f;
        e = e + 1;
    }
    const float f = m - 1.0f;              // exact: m is within a factor 2 of 1
    const float s = f / (2.0f + f);
    const float s2 = s * s;
    const float series = 2.0f + s2 * (0.666666667f + s2 * (0.4f + s2 * (0.285714286f +
                         s2 * (0.222222222f + s2 * 0.181818182f))));
    return (float)e * 0.693147181f + s * series;
}

// sin and cos of 2 pi t / 2^24 for a 24-bit t. The quadrant comes from the
// integer, exactly; the rest is an angle |phi| <= pi/4 where the Taylor series
// (to phi^9 and phi^10) err by under 2e-9.
float2 turn_sincos(uint t)
{
    const uint quadrants = (t + 0x200000u) >> 22;            // nearest quarter turn, 0..4
    const int rest = (int)t - (int)(quadrants << 22);        // -2^21 .. 2^21
    const float phi = (float)rest * (1.57079633f * 0x1p-22f);
    const float p2 = phi * phi;
    const float s = phi + phi * p2 * (-0.166666667f + p2 * (8.33333333e-3f +
                    p2 * (-1.98412698e-4f + p2 * 2.75573192e-6f)));
    const float c = 1.0f + p2 * (-0.5f + p2 * (4.16666667e-2f + p2 * (-1.38888889e-3f +
                    p2 * (2.48015873e-5f + p2 * -2.75573192e-7f))));
    // Quarter turns q: (sin, cos) is (s, c), (c, -s), (-s, -c), (-c, s). Written as
    // selects rather than a switch, which Oclgrind was seen to run wrongly.
    const uint q = quadrants & 3u;
    const float sin_abs = (q & 1u) ? c : s, cos_abs = (q & 1u) ? s : c;
    return (float2)((q & 2u) ? -sin_abs : sin_abs, ((q + 1u) & 2u) ? -cos_abs : cos_abs);
}

// Box-Muller: two independent standard normals from two words,
// (r cos theta, r sin theta) with r = sqrt(-2 ln u), theta = 2 pi v.
float2 box_muller(uint a, uint b)
{
    const float r = sqrt(-2.0f * log_unit(open_uniform(a)));
    const float2 sc = turn_sincos(b >> 8);
    return (float2)(r * sc.y, r * sc.x);
}

float4 normals(uint4 w)
{
    return (float4)(box_muller(w.x, w.y), box_muller(w.z, w.w));
}

// x[offset + i] = v[i - 4b] for the elements of block b that exist.
void store_block(__global float *x, ulong offset, ulong n, ulong b, float4 v)
{
    const ulong first = 4 * b;
    const float values[4] = {v.x, v.y, v.z, v.w};
    for (uint j = 0; j < 4 && first + j < n; j++)
        x[offset + first + j] = values[j];
}

// The raw generator, for known-answer tests: out[0..3] = Philox(counter, key).
__kernel void philox_raw(__global uint *out, const uint c0, const uint c1, const uint c2,
                         const uint c3, const uint k0, const uint k1)
{
    if (get_global_id(0) == 0)
        vstore4(philox4x32_10((uint4)(c0, c1, c2, c3), (uint2)(k0, k1)), 0, out);
}

// low + span * u with u uniform in [0, 1), capped at below_high (the float
// just under the upper bound) so that the bound stays exclusive after rounding.
__kernel void random_uniform(__global float *x, const ulong offset, const ulong n,
                             const uint seed_lo, const uint seed_hi, const uint stream,
                             const float low, const float span, const float below_high)
{
    const ulong b = get_global_id(0);
    const uint4 w = block_bits(b, 0, stream, seed_lo, seed_hi);
    float4 v = low + span * (float4)(uniform24(w.x), uniform24(w.y), uniform24(w.z),
                                     uniform24(w.w));
    v = select(v, (float4)(below_high), v > below_high);
    store_block(x, offset, n, b, v);
}

// mean + stddev * z with z standard normal.
__kernel void random_normal(__global float *x, const ulong offset, const ulong n,
                            const uint seed_lo, const uint seed_hi, const uint stream,
                            const float mean, const float stddev)
{
    const ulong b = get_global_id(0);
    const float4 z = normals(block_bits(b, 0, stream, seed_lo, seed_hi));
    store_block(x, offset, n, b, mean + stddev * z);
}

// Same, z redrawn (round 1, 2, ...) while |z| > 2. Round 0 is random_normal's draw.
__kernel void truncated_normal(__global float *x, const ulong offset, const ulong n,
                               const uint seed_lo, const uint seed_hi, const uint stream,
                               const float mean, const float stddev)
{
    const ulong b = get_global_id(0);
    float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    uint pending = 0xFu;
    for (uint round = 0; round < TRUNCATED_ROUNDS && pending; round++) {
        const float4 d = normals(block_bits(b, round, stream, seed_lo, seed_hi));
        const float draw[4] = {d.x, d.y, d.z, d.w};
        for (uint j = 0; j < 4; j++)
            if ((pending >> j & 1u) && draw[j] >= -2.0f && draw[j] <= 2.0f) {
                z[j] = draw[j];
                pending &= ~(1u << j);
            }
    }
    store_block(x, offset, n, b, mean + stddev * (float4)(z[0], z[1], z[2], z[3]));
}
