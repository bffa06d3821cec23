// gemm.cl: kcl's own matrix product, for offline mode: CLBlast compiles its
// kernels from source at run time, which an FPGA toolchain cannot do, so a
// context that loads only precompiled binaries multiplies with this one.
//
// C = alpha * op(A) * op(B) + beta * C, all row-major. Element (i, p) of op(A)
// is a[a_offset + i * a_row + p * a_col]: (k, 1) for A, (1, m) for Aᵀ; the same
// for B. One work-item per element of C; beta == 0 never reads C (BLAS rule).
__kernel void gemm_direct(const uint m, const uint n, const uint k, const float alpha,
                          __global const float *a, const ulong a_offset,
                          const ulong a_row, const ulong a_col,
                          __global const float *b, const ulong b_offset,
                          const ulong b_row, const ulong b_col,
                          const float beta, __global float *c, const ulong c_offset)
{
    const uint j = get_global_id(0);
    const uint i = get_global_id(1);
    if (i >= m || j >= n)
        return;
    float sum = 0.0f;
    for (uint p = 0; p < k; p++)
        sum += a[a_offset + i * a_row + p * a_col] * b[b_offset + p * b_row + j * b_col];
    const ulong at = c_offset + (ulong)i * n + j;
    c[at] = beta == 0.0f ? alpha * sum : alpha * sum + beta * c[at];
}
