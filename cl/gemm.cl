// gemm.cl: kcl's own matrix product, C = alpha * op(A) * op(B) + beta * C,
// row-major, for a batch of products at element strides.
//
// lib/gemm.c runs it where CLBlast cannot or should not: offline mode (an
// FPGA toolchain cannot compile CLBlast's kernels at run time) and on CPU
// devices, where it beats CLBlast at every size kcl's benchmark measures:
// CLBlast's host work per call (kernel objects, temporary buffers, separate
// pad and transpose kernels) costs 20 us and more on PoCL, and its kernels
// are written for GPUs' local memory.
//
// Each work-item computes TILE_M (8 or 4) rows x 16 columns of C for `tiles`
// tiles stacked down the rows, the block held in 16-wide vectors: per step p
// of the inner dimension, row p of op(B) (16 columns) is one vector and each
// of the TILE_M elements of op(A) is broadcast into it, the scheme of CPU
// BLAS kernels, which CPU compilers turn into broadcast vector FMAs. An
// item's tiles share its 16 columns of B, which stay in cache. Edge tiles
// read clamped (valid) elements and store only what lies inside C.
//
// op(B) must have its 16 columns side by side in memory, which B transposed
// has not: the host transposes B first (gemm_transpose), except when the
// inner dimension is at most NARROW_K, where each work-item copies its
// 16-column strip of op(B) into private memory instead (no extra launch).
//
// The sum over p runs in order with fma, so a result does not depend on the
// tiling or the device's thread count.

// Rows of a tile: 8, or 4 where 8 rows of 16 lanes would not fit in the
// vector registers (lib/gemm_kcl.c picks it per device and passes it).
#ifndef KCL_GEMM_ROWS
#define KCL_GEMM_ROWS 8
#endif
#define TILE_M KCL_GEMM_ROWS
#define TILE_N 16
#define NARROW_K 32

// Mirrors kcl_gemm_args in lib/gemm.c. Operand i of product z (the third
// global id) starts at element off[i] + z * stride[i]; rows lda, ldb, ldc apart.
typedef struct kcl_gemm_args {
    uint m, n, k, lda, ldb, ldc, tiles, unused;
    float alpha, beta;
    ulong off[3], stride[3];
} kcl_gemm_args;

// Element (i, p) of op(A).
#define A_AT(i, p) (ta ? a[(size_t)(p) * g->lda + (i)] : a[(size_t)(i) * g->lda + (p)])

// Elements from .. from + 15 of a run of `count` (a row of B, or of a
// transposed A), those past its end repeating the last.
inline float16 clamped_run(__global const float *run, const uint from, const uint count)
{
    float v[TILE_N];
    for (uint l = 0; l < TILE_N; l++)
        v[l] = run[min(from + l, count - 1)];
    return vload16(0, v);
}

inline void store_row(const kcl_gemm_args *g, __global float *c, const uint j0,
                      const float16 acc)
{
    const float alpha = g->alpha, beta = g->beta;
    if (j0 + TILE_N <= g->n) {
        const float16 r = beta == 0.0f ? alpha * acc : alpha * acc + beta * vload16(0, c + j0);
        vstore16(r, 0, c + j0);
        return;
    }
    float v[TILE_N];
    vstore16(acc, 0, v);
    for (uint l = 0; j0 + l < g->n; l++)
        c[j0 + l] = beta == 0.0f ? alpha * v[l] : alpha * v[l] + beta * c[j0 + l];
}

// The tile's rows, written out: accumulators in an array indexed by a loop
// stay in memory with some compilers (PoCL's among them).
#if TILE_M == 8
#define FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#elif TILE_M == 4
#define FOR_ROWS(X) X(0) X(1) X(2) X(3)
#else
#error "KCL_GEMM_ROWS must be 4 or 8"
#endif
#define ROW_INDEX(r) const uint row##r = min(i0 + r, g->m - 1);
#define ACC_ZERO(r) float16 acc##r = 0.0f;
#define ACC_STEP(r) acc##r = fma((float16)A_AT(row##r, p), bv, acc##r);
#define ACC_STORE(r)                                                                        \
    if (i0 + r < g->m)                                                                      \
        store_row(g, c + (size_t)(i0 + r) * g->ldc, j0, acc##r);
// Steps p0 .. p1 - 1 of the tile, with row p of op(B) given by ROW.
#define ACCUMULATE(p0, p1, ROW)                                                             \
    for (uint p = (p0); p < (p1); p++) {                                                    \
        const float16 bv = (ROW);                                                           \
        FOR_ROWS(ACC_STEP)                                                                  \
    }

// The tile at (i0, j0) with B in global memory: rows of B are vector loads
// where their 16 elements lie inside B (the first `fast` rows), else built
// element by element.
inline void tile_global(const bool ta, const kcl_gemm_args *g, __global const float *a,
                        __global const float *b, __global float *c, const uint i0,
                        const uint j0, const uint fast)
{
    FOR_ROWS(ROW_INDEX)
    FOR_ROWS(ACC_ZERO)
    ACCUMULATE(0, fast, vload16(0, b + (size_t)p * g->ldb + j0))
    ACCUMULATE(fast, g->k, clamped_run(b + (size_t)p * g->ldb, j0, g->n))
    FOR_ROWS(ACC_STORE)
}

// The tile at (i0, j0) with op(B)'s 16 columns in a private strip, k x 16.
inline void tile_strip(const bool ta, const kcl_gemm_args *g, __global const float *a,
                       const float *strip, __global float *c, const uint i0, const uint j0)
{
    FOR_ROWS(ROW_INDEX)
    FOR_ROWS(ACC_ZERO)
    ACCUMULATE(0, g->k, vload16(p, strip))
    FOR_ROWS(ACC_STORE)
}

// Rows p of B (k rows of n, ldb apart) whose 16 elements from column j0 lie
// inside B: all k when the tile is inside C's columns, else those that end
// before B's last element (the columns past n then hold the next row's
// values, which the tile never stores).
inline uint fast_rows(const kcl_gemm_args *g, const uint j0)
{
    if (j0 + TILE_N <= g->n)
        return g->k;
    const ulong end = (ulong)(g->k - 1) * g->ldb + g->n, need = j0 + TILE_N;
    return need > end ? 0 : (uint)((end - need) / g->ldb + 1);
}

// Work-item (x, y, z): columns 16x, rows 8 * tiles * y onwards, product z.
#define ITEM_START                                                                          \
    const uint j0 = (uint)get_global_id(0) * TILE_N;                                        \
    const uint first = (uint)get_global_id(1) * TILE_M * g->tiles;                          \
    if (j0 >= g->n || first >= g->m)                                                        \
        return;                                                                             \
    const ulong z = get_global_id(2);                                                       \
    a += g->off[0] + z * g->stride[0];                                                      \
    b += g->off[1] + z * g->stride[1];                                                      \
    c += g->off[2] + z * g->stride[2];
#define FOR_TILES for (uint i0 = first; i0 < g->m && i0 < first + TILE_M * g->tiles; i0 += TILE_M)

// B not transposed.
inline void items_b(const bool ta, const kcl_gemm_args *g, __global const float *a,
                    __global const float *b, __global float *c)
{
    ITEM_START
    const uint fast = fast_rows(g, j0);
    FOR_TILES tile_global(ta, g, a, b, c, i0, j0, fast);
}

// B transposed (n x k, ldb apart) with k <= NARROW_K.
inline void items_bt(const bool ta, const kcl_gemm_args *g, __global const float *a,
                     __global const float *b, __global float *c)
{
    ITEM_START
    float strip[NARROW_K * TILE_N];
    for (uint l = 0; l < TILE_N; l++) {
        __global const float *col = b + (size_t)min(j0 + l, g->n - 1) * g->ldb;
        for (uint p = 0; p < g->k; p++)
            strip[p * TILE_N + l] = col[p];
    }
    FOR_TILES tile_strip(ta, g, a, strip, c, i0, j0);
}

#define GEMM_KERNEL(NAME, ITEMS, TA)                                                        \
    __kernel void NAME(const kcl_gemm_args args, __global const float *a,                   \
                       __global const float *b, __global float *c)                          \
    {                                                                                       \
        ITEMS(TA, &args, a, b, c);                                                          \
    }

GEMM_KERNEL(gemm_nn, items_b, false)
GEMM_KERNEL(gemm_tn, items_b, true)
GEMM_KERNEL(gemm_nt_narrow, items_bt, false)
GEMM_KERNEL(gemm_tt_narrow, items_bt, true)

// ---------------------------------------------------------- narrow op(B) --
// A transposed times a B of fewer than 16 columns (a layer of few units: its
// weight gradient, X^T times dY): 16-wide rows of op(B) would leave lanes
// idle, so here the lanes run down C's rows instead. op(A)'s column p is row p
// of A, 16 rows of C side by side; each work-item keeps 16 rows x W columns of
// C, one vector per column, and per step p broadcasts B[p, j] into each
// column's FMA. W is a kernel's constant (gemm_tn_columns_1 .. _8, the host
// picks the width that splits n evenly, at most TILE_M so that the
// accumulators fit the registers as the tiles above do): a column test inside
// the loop would cost more than its FMA. Columns past n read clamped (valid)
// elements and are not stored, and so are rows past m.

#define FOR_COLS_1(X) X(0)
#define FOR_COLS_2(X) FOR_COLS_1(X) X(1)
#define FOR_COLS_3(X) FOR_COLS_2(X) X(2)
#define FOR_COLS_4(X) FOR_COLS_3(X) X(3)
#define FOR_COLS_5(X) FOR_COLS_4(X) X(4)
#define FOR_COLS_6(X) FOR_COLS_5(X) X(5)
#define FOR_COLS_7(X) FOR_COLS_6(X) X(6)
#define FOR_COLS_8(X) FOR_COLS_7(X) X(7)
#define COL_INDEX(q) const uint col##q = min(j0 + q, g->n - 1);
#define COL_STEP(q) acc##q = fma(av, (float16)b[(size_t)p * g->ldb + col##q], acc##q);
#define COL_STORE(q)                                                                        \
    if (j0 + q < g->n)                                                                      \
        store_column(g, c + (size_t)i0 * g->ldc + j0 + q, rows, acc##q);

// Column j of C's 16 rows from i0 (`rows` of them inside C), ldc apart.
inline void store_column(const kcl_gemm_args *g, __global float *c, const uint rows,
                         const float16 acc)
{
    float v[16];
    vstore16(acc, 0, v);
    const float alpha = g->alpha, beta = g->beta;
    for (uint l = 0; l < rows; l++) {
        __global float *out = c + (size_t)l * g->ldc;
        *out = beta == 0.0f ? alpha * v[l] : alpha * v[l] + beta * *out;
    }
}

// Every step p with op(A)'s 16 elements given by COLUMN (two loops rather
// than a choice inside one, which costs a third of the time).
#define COLUMN_STEPS(W, COLUMN)                                                             \
    for (uint p = 0; p < g->k; p++) {                                                       \
        const float16 av = (COLUMN);                                                        \
        FOR_COLS_##W(COL_STEP)                                                              \
    }

// Work-item (x, y, z): columns W * x onwards, rows 16 * tiles * y onwards,
// product z; A is k x m (lda apart), B k x n (ldb apart).
#define GEMM_TN_COLUMNS(W)                                                                  \
    __kernel void gemm_tn_columns_##W(const kcl_gemm_args args, __global const float *a,    \
                                      __global const float *b, __global float *c)           \
    {                                                                                       \
        const kcl_gemm_args *g = &args;                                                     \
        const uint j0 = (uint)get_global_id(0) * W;                                         \
        const uint first = (uint)get_global_id(1) * 16 * g->tiles;                          \
        if (j0 >= g->n || first >= g->m)                                                    \
            return;                                                                         \
        const ulong z = get_global_id(2);                                                   \
        a += g->off[0] + z * g->stride[0];                                                  \
        b += g->off[1] + z * g->stride[1];                                                  \
        c += g->off[2] + z * g->stride[2];                                                  \
        FOR_COLS_##W(COL_INDEX)                                                             \
        for (uint i0 = first; i0 < g->m && i0 < first + 16 * g->tiles; i0 += 16) {          \
            const uint rows = min(16u, g->m - i0);                                          \
            FOR_COLS_##W(ACC_ZERO)                                                          \
            if (rows == 16)                                                                 \
                COLUMN_STEPS(W, vload16(0, a + (size_t)p * g->lda + i0))                    \
            else                                                                            \
                COLUMN_STEPS(W, clamped_run(a + (size_t)p * g->lda, i0, g->m))              \
            FOR_COLS_##W(COL_STORE)                                                         \
        }                                                                                   \
    }

GEMM_TN_COLUMNS(1)
GEMM_TN_COLUMNS(2)
GEMM_TN_COLUMNS(3)
GEMM_TN_COLUMNS(4)
GEMM_TN_COLUMNS(5)
GEMM_TN_COLUMNS(6)
GEMM_TN_COLUMNS(7)
GEMM_TN_COLUMNS(8)

// ------------------------------------------------------------------ packed --
// Large products: at inner dimensions of 1024 and more, consecutive steps p
// of the kernels above read op(B) (and op(A) when transposed) a whole row
// apart, one page per step, which defeats the caches' prefetchers and the
// TLB. There the host first packs both operands the way CPU BLAS libraries
// do: op(B) as 16-column strips, each k x 16 contiguous, and op(A) as TILE_M-row
// tiles, each k x TILE_M contiguous, both zero-padded to whole strips and tiles;
// the product then reads two sequential streams without any edge case.

// Work-item (x, y, z): step p = y of block x of matrix z, `width` elements
// (16 for op(B)'s strips, TILE_M for op(A)'s tiles) along the outer
// dimension (op(B)'s columns, op(A)'s rows; `outer` of them). Element (o, p)
// of the operand is src[o * ld + p] when outer_major (B transposed, A not),
// else src[p * ld + o].
__kernel void gemm_pack(const uint outer, const uint k, const uint width, const uint outer_major,
                        __global const float *src, const ulong src_off, const ulong src_stride,
                        const uint ld, __global float *dst)
{
    const uint block = get_global_id(0), p = get_global_id(1);
    if (p >= k)
        return;
    const ulong z = get_global_id(2), blocks = (outer + width - 1) / width;
    __global const float *m = src + src_off + z * src_stride;
    __global float *out = dst + ((z * blocks + block) * k + p) * width;
    for (uint l = 0; l < width; l++) {
        const uint o = block * width + l;
        out[l] = o >= outer       ? 0.0f
                 : outer_major ? m[(size_t)o * ld + p]
                               : m[(size_t)p * ld + o];
    }
}

#define PACKED_STEP(r) acc##r = fma((float16)ap[r], bv, acc##r);

// Work-item (x, y, z): strip x of C's columns, row tiles y * tiles onwards,
// product z; a and b packed (a_stride, b_stride: the packed matrices' sizes,
// 0 when shared by the batch); C as in kcl_gemm_args.
__kernel void gemm_packed(const kcl_gemm_args args, __global const float *a,
                          const ulong a_stride, __global const float *b, const ulong b_stride,
                          __global float *c)
{
    const kcl_gemm_args *g = &args;
    const uint strip = get_global_id(0), first_tile = get_global_id(1) * g->tiles;
    const uint j0 = strip * TILE_N, row_tiles = (g->m + TILE_M - 1) / TILE_M;
    if (j0 >= g->n || first_tile >= row_tiles)
        return;
    const ulong z = get_global_id(2);
    __global const float *bs = b + z * b_stride + (size_t)strip * g->k * TILE_N;
    c += g->off[2] + z * g->stride[2];
    for (uint t = first_tile; t < first_tile + g->tiles && t < row_tiles; t++) {
        __global const float *at = a + z * a_stride + (size_t)t * g->k * TILE_M;
        const uint i0 = t * TILE_M;
        FOR_ROWS(ACC_ZERO)
        for (uint p = 0; p < g->k; p++) {
            const float16 bv = vload16(p, bs);
            __global const float *ap = at + (size_t)p * TILE_M;
            FOR_ROWS(PACKED_STEP)
        }
        FOR_ROWS(ACC_STORE)
    }
}

// dst (k x n per matrix, contiguous) = op(B) for B transposed (n x k, ld
// apart, matrix z at src_off + z * src_stride). Work-item (x, y, z): row y of
// matrix z's dst, its 16 columns from 16x, one vector store; work-groups run
// along y, so that neighbouring work-items read neighbouring elements of B's
// rows (a CPU compiler turns the group's reads into vector loads). Measured on
// PoCL (AVX-512 EPYC) against an element per work-item: 256x128 17-20 us
// against 38-44, 512x256 67-72 against 174-187, 1024x1024 0.8-0.9 ms against
// 2.1-2.5.
__kernel void gemm_transpose(const uint k, const uint n, __global const float *src,
                             const ulong src_off, const ulong src_stride, const uint ld,
                             __global float *dst)
{
    const uint x0 = get_global_id(0) * TILE_N, y = get_global_id(1);
    if (x0 >= n || y >= k)
        return;
    const ulong z = get_global_id(2);
    __global const float *column = src + src_off + z * src_stride + y;
    __global float *row = dst + (z * k + y) * n + x0;
    if (x0 + TILE_N <= n) {
        float v[TILE_N];
        for (uint l = 0; l < TILE_N; l++)
            v[l] = column[(size_t)(x0 + l) * ld];
        vstore16(vload16(0, v), 0, row);
    } else {
        for (uint l = 0; x0 + l < n; l++)
            row[l] = column[(size_t)(x0 + l) * ld];
    }
}
