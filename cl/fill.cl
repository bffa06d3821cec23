// fill.cl: whole-buffer writes that need no input but the buffer itself.

// x[offset + i] *= alpha for i < n. (beta * C for a product with k = 0.)
__kernel void scale(__global float *x, const ulong offset, const float alpha, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i < n)
        x[offset + i] *= alpha;
}

// x[offset + i] = value for i < n. A kernel rather than clEnqueueFillBuffer:
// Oclgrind does not mark memory written by clEnqueueFillBuffer as initialised.
__kernel void fill(__global float *x, const ulong offset, const float value, const ulong n)
{
    const size_t i = get_global_id(0);
    if (i < n)
        x[offset + i] = value;
}
