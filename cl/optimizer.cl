// optimizer.cl: Keras' optimizer update steps, in place, one launch for up
// to eight variables (all of a small model's) per step.
//
// Each kernel fuses what Keras' base optimizer does in three passes: clip the
// gradient (by value, by its own norm, or by the global norm), apply the
// decoupled weight decay (var -= var * weight_decay * lr), then the
// optimizer's update_step. All kernels share one signature: per segment the
// variable, its gradient and three slot buffers (unused ones alias the
// variable and are never read), the sum of squares the norm clipping needs
// (computed on the device beforehand, so the host never waits for it), the
// segments' offsets and the step's parameters.
// The arithmetic follows Keras' expressions in their order.

typedef struct kcl_opt_params {
    float lr;                    // this step's learning rate
    float weight_decay;          // 0: none
    float beta_1, beta_2;        // Adam
    float alpha;                 // Adam: lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    float epsilon;
    float momentum;              // SGD, RMSprop
    float rho;                   // RMSprop
    float clip;                  // the clip value or norm of clip_mode
    int clip_mode;               // CLIP_*
    int flags;                   // F_*
    int unused;
} kcl_opt_params;

#define CLIP_NONE 0
#define CLIP_VALUE 1
#define CLIP_NORM 2
#define CLIP_GLOBAL_NORM 3

#define F_MOMENTUM 1             // SGD, RMSprop: a momentum slot is in use
#define F_NESTEROV 2             // SGD
#define F_AMSGRAD 4              // Adam
#define F_CENTERED 8             // RMSprop

// The gradient as Keras' _clip_gradients leaves it, as one rule for the
// whole launch: g' = min/max(g) * mul / div, which is
//   by value (ops.clip; a NaN stays NaN): lo = -clip, hi = clip, mul = div = 1;
//   by the gradient's norm (_clip_by_norm): g * clip / max(norm, clip);
//   by the global norm (clip_by_global_norm; NaN for an infinite norm):
//     g * (clip * min(1 / norm, 1 / clip) + (norm - norm));
//   none: g (the multiplication and division by 1 are exact).
// sumsq is the gradient's (or, for the global norm, all gradients') sum of
// squares. Without branches per element, the loop vectorizes.
typedef struct clip_rule {
    float lo, hi, mul, div;
} clip_rule;

inline clip_rule clip_rule_of(const kcl_opt_params p, const float sumsq)
{
    clip_rule r = {-INFINITY, INFINITY, 1.0f, 1.0f};
    if (p.clip_mode == CLIP_VALUE) {
        r.lo = -p.clip;
        r.hi = p.clip;
    } else if (p.clip_mode == CLIP_NORM) {
        const float norm = sumsq > 0.0f ? sqrt(sumsq) : sumsq;
        r.mul = p.clip;
        r.div = fmax(norm, p.clip);
    } else if (p.clip_mode == CLIP_GLOBAL_NORM) {
        const float norm = sqrt(sumsq);
        r.mul = p.clip * fmin(1.0f / norm, 1.0f / p.clip) + (norm - norm);
    }
    return r;
}

inline float clipped(const float g, const clip_rule r)
{
    return (g > r.hi ? r.hi : (g < r.lo ? r.lo : g)) * r.mul / r.div;
}

// Up to SEGMENTS variables are updated by one launch. Work-item i updates
// chunk i of OPT_CHUNK consecutive elements, the variables' chunks counted
// one variable after another (a variable's last chunk may be short), so
// that it resolves its variable once and then runs a plain loop, which a CPU
// compiler vectorizes. Elsewhere (KCL_VECTOR_LOOPS 0, see lib/program.c) a
// chunk is one element, so that neighbouring work-items touch neighbouring
// elements, as GPUs' memory wants. The per-element update of each kind is a
// function of pointers already at the element.
#define SEGMENTS 8
#if KCL_VECTOR_LOOPS
#define OPT_CHUNK 64
#else
#define OPT_CHUNK 1
#endif

typedef struct kcl_opt_segments {
    ulong start[SEGMENTS + 1];   // prefix sums of the variables' sizes
    ulong ov[SEGMENTS], og[SEGMENTS];
    ulong os0[SEGMENTS], os1[SEGMENTS], os2[SEGMENTS];
    int count;
    int unused;
} kcl_opt_segments;

#define PICK(s, b) ((s) == 0 ? b##0 : (s) == 1 ? b##1 : (s) == 2 ? b##2 : (s) == 3 ? b##3 : \
                    (s) == 4 ? b##4 : (s) == 5 ? b##5 : (s) == 6 ? b##6 : b##7)
#define SEG_ARGS(b, q) q float *b##0, q float *b##1, q float *b##2, q float *b##3,          \
                       q float *b##4, q float *b##5, q float *b##6, q float *b##7

#define OPT_KERNEL(NAME)                                                                  \
inline void NAME##_chunk(__global float *restrict v, __global const float *restrict g,   \
                         __global float *restrict s0, __global float *restrict s1,       \
                         __global float *restrict s2, const ulong first, const ulong end, \
                         const kcl_opt_params p, const float sumsq)                      \
{                                                                                         \
    const clip_rule r = clip_rule_of(p, sumsq);                                           \
    /* The common flag sets as constants: their branches fold away. */                  \
    if (p.flags == 0)                                                                     \
        for (ulong j = first; j < end; j++)                                               \
            NAME##_at(v + j, clipped(g[j], r), s0 + j, s1 + j, s2 + j, p, 0);             \
    else if (p.flags == F_MOMENTUM)                                                       \
        for (ulong j = first; j < end; j++)                                               \
            NAME##_at(v + j, clipped(g[j], r), s0 + j, s1 + j, s2 + j, p, F_MOMENTUM);    \
    else                                                                                  \
        for (ulong j = first; j < end; j++)                                               \
            NAME##_at(v + j, clipped(g[j], r), s0 + j, s1 + j, s2 + j, p, p.flags);       \
}                                                                                         \
__kernel void NAME##_update(SEG_ARGS(v, __global), SEG_ARGS(g, __global const),          \
                            SEG_ARGS(a, __global), SEG_ARGS(b, __global),                \
                            SEG_ARGS(c, __global), __global const float *pn,             \
                            const ulong on, const kcl_opt_segments d,                    \
                            const kcl_opt_params p)                                      \
{                                                                                         \
    ulong chunk = get_global_id(0);                                                       \
    int s = 0;                                                                            \
    for (;; s++) {                                                                        \
        if (s == d.count)                                                                 \
            return;                                                                       \
        const ulong chunks = (d.start[s + 1] - d.start[s] + OPT_CHUNK - 1) / OPT_CHUNK;   \
        if (chunk < chunks)                                                               \
            break;                                                                        \
        chunk -= chunks;                                                                  \
    }                                                                                     \
    const ulong first = chunk * OPT_CHUNK;                                                \
    const ulong end = min(first + OPT_CHUNK, d.start[s + 1] - d.start[s]);                \
    const float sumsq = p.clip_mode >= CLIP_NORM ? pn[on] : 0.0f;                         \
    NAME##_chunk(PICK(s, v) + d.ov[s], PICK(s, g) + d.og[s], PICK(s, a) + d.os0[s],       \
                 PICK(s, b) + d.os1[s], PICK(s, c) + d.os2[s], first, end, p, sumsq);     \
}

// The variable after weight decay.
inline float decayed(const float x, const kcl_opt_params p)
{
    return p.weight_decay != 0.0f ? x - x * p.weight_decay * p.lr : x;
}

// slot 0: momentum (only with F_MOMENTUM).
inline void sgd_at(__global float *v, const float g, __global float *s0, __global float *s1,
                   __global float *s2, const kcl_opt_params p,
                   const int flags)
{
    float x = decayed(*v, p);
    if (flags & F_MOMENTUM) {
        const float m = *s0 * p.momentum - g * p.lr;
        *s0 = m;
        x += (flags & F_NESTEROV) ? m * p.momentum - g * p.lr : m;
    } else {
        x -= g * p.lr;
    }
    *v = x;
}
OPT_KERNEL(sgd)

// slots: m, v, vhat (only with F_AMSGRAD).
inline void adam_at(__global float *pv, const float g, __global float *s0, __global float *s1,
                    __global float *s2, const kcl_opt_params p,
                   const int flags)
{
    const float x = decayed(*pv, p);
    float m = *s0, v = *s1;
    m += (g - m) * (1.0f - p.beta_1);
    v += (g * g - v) * (1.0f - p.beta_2);
    *s0 = m;
    *s1 = v;
    if (flags & F_AMSGRAD) {
        v = fmax(*s2, v);
        *s2 = v;
    }
    *pv = x - m * p.alpha / (sqrt(v) + p.epsilon);
}
OPT_KERNEL(adam)

// slots: ms (velocity), momentum (only with F_MOMENTUM), mg (only with F_CENTERED).
inline void rmsprop_at(__global float *v, const float g, __global float *s0, __global float *s1,
                       __global float *s2, const kcl_opt_params p,
                   const int flags)
{
    float x = decayed(*v, p);
    const float ms = p.rho * *s0 + (1.0f - p.rho) * (g * g);
    *s0 = ms;
    float denominator = ms + p.epsilon;
    if (flags & F_CENTERED) {
        const float mg = p.rho * *s2 + (1.0f - p.rho) * g;
        *s2 = mg;
        denominator = ms - mg * mg + p.epsilon;
    }
    const float increment = p.lr * g / sqrt(denominator);
    if (flags & F_MOMENTUM) {
        const float m = p.momentum * *s1 + increment;
        *s1 = m;
        x -= m;
    } else {
        x -= increment;
    }
    *v = x;
}
OPT_KERNEL(rmsprop)

// slot 0: accumulator (starts at initial_accumulator_value).
inline void adagrad_at(__global float *v, const float g, __global float *s0, __global float *s1,
                       __global float *s2, const kcl_opt_params p,
                   const int flags)
{
    const float x = decayed(*v, p);
    const float acc = *s0 + g * g;
    *s0 = acc;
    *v = x - p.lr * g / sqrt(acc + p.epsilon);
}
OPT_KERNEL(adagrad)
