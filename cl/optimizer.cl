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

// The gradient as Keras' _clip_gradients leaves it. sumsq is the gradient's
// (or, for the global norm, all gradients') sum of squares.
inline float clipped(const float g, const kcl_opt_params p, const float sumsq)
{
    if (p.clip_mode == CLIP_VALUE)          // ops.clip; a NaN stays NaN
        return g > p.clip ? p.clip : (g < -p.clip ? -p.clip : g);
    if (p.clip_mode == CLIP_NORM) {         // _clip_by_norm
        const float norm = sumsq > 0.0f ? sqrt(sumsq) : sumsq;
        return g * p.clip / fmax(norm, p.clip);
    }
    if (p.clip_mode == CLIP_GLOBAL_NORM) {  // clip_by_global_norm: NaN for an infinite norm
        const float norm = sqrt(sumsq);
        const float scale = p.clip * fmin(1.0f / norm, 1.0f / p.clip) + (norm - norm);
        return g * scale;
    }
    return g;
}

// Up to SEGMENTS variables are updated by one launch: work-item i belongs to
// the segment s with start[s] <= i < start[s + 1], whose buffers are the
// s-th of each argument group. The per-element update of each kind is a
// function of pointers already at the variable's first element.
#define SEGMENTS 8

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
__kernel void NAME##_update(SEG_ARGS(v, __global), SEG_ARGS(g, __global const),          \
                            SEG_ARGS(a, __global), SEG_ARGS(b, __global),                \
                            SEG_ARGS(c, __global), __global const float *pn,             \
                            const ulong on, const kcl_opt_segments d,                    \
                            const kcl_opt_params p)                                      \
{                                                                                         \
    const ulong i = get_global_id(0);                                                     \
    if (i >= d.start[d.count]) return;                                                    \
    int s = 0;                                                                            \
    while (s + 1 < d.count && i >= d.start[s + 1])                                        \
        s++;                                                                              \
    const ulong j = i - d.start[s];                                                       \
    const float sumsq = p.clip_mode >= CLIP_NORM ? pn[on] : 0.0f;                         \
    NAME##_at(PICK(s, v) + d.ov[s] + j, clipped(PICK(s, g)[d.og[s] + j], p, sumsq),      \
              PICK(s, a) + d.os0[s] + j, PICK(s, b) + d.os1[s] + j,                       \
              PICK(s, c) + d.os2[s] + j, p);                                              \
}

// The variable after weight decay.
inline float decayed(const float x, const kcl_opt_params p)
{
    return p.weight_decay != 0.0f ? x - x * p.weight_decay * p.lr : x;
}

// slot 0: momentum (only with F_MOMENTUM).
inline void sgd_at(__global float *v, const float g, __global float *s0, __global float *s1,
                   __global float *s2, const kcl_opt_params p)
{
    float x = decayed(*v, p);
    if (p.flags & F_MOMENTUM) {
        const float m = *s0 * p.momentum - g * p.lr;
        *s0 = m;
        x += (p.flags & F_NESTEROV) ? m * p.momentum - g * p.lr : m;
    } else {
        x -= g * p.lr;
    }
    *v = x;
}
OPT_KERNEL(sgd)

// slots: m, v, vhat (only with F_AMSGRAD).
inline void adam_at(__global float *pv, const float g, __global float *s0, __global float *s1,
                    __global float *s2, const kcl_opt_params p)
{
    const float x = decayed(*pv, p);
    float m = *s0, v = *s1;
    m += (g - m) * (1.0f - p.beta_1);
    v += (g * g - v) * (1.0f - p.beta_2);
    *s0 = m;
    *s1 = v;
    if (p.flags & F_AMSGRAD) {
        v = fmax(*s2, v);
        *s2 = v;
    }
    *pv = x - m * p.alpha / (sqrt(v) + p.epsilon);
}
OPT_KERNEL(adam)

// slots: ms (velocity), momentum (only with F_MOMENTUM), mg (only with F_CENTERED).
inline void rmsprop_at(__global float *v, const float g, __global float *s0, __global float *s1,
                       __global float *s2, const kcl_opt_params p)
{
    float x = decayed(*v, p);
    const float ms = p.rho * *s0 + (1.0f - p.rho) * (g * g);
    *s0 = ms;
    float denominator = ms + p.epsilon;
    if (p.flags & F_CENTERED) {
        const float mg = p.rho * *s2 + (1.0f - p.rho) * g;
        *s2 = mg;
        denominator = ms - mg * mg + p.epsilon;
    }
    const float increment = p.lr * g / sqrt(denominator);
    if (p.flags & F_MOMENTUM) {
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
                       __global float *s2, const kcl_opt_params p)
{
    const float x = decayed(*v, p);
    const float acc = *s0 + g * g;
    *s0 = acc;
    *v = x - p.lr * g / sqrt(acc + p.epsilon);
}
OPT_KERNEL(adagrad)
