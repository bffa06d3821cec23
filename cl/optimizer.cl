// optimizer.cl: Keras' optimizer update steps, in place, one kernel per
// variable and step.
//
// Each kernel fuses what Keras' base optimizer does in three passes: clip the
// gradient (by value, by its own norm, or by the global norm), apply the
// decoupled weight decay (var -= var * weight_decay * lr), then the
// optimizer's update_step. All kernels share one signature: the variable, its
// gradient, three slot buffers (unused ones alias the variable and are never
// read), the sum of squares the norm clipping needs (computed on the device
// beforehand, so the host never waits for it), the step's parameters and n.
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

#define OPT_KERNEL(NAME)                                                                  \
__kernel void NAME(__global float *pv, const ulong ov, __global const float *pg,         \
                   const ulong og, __global float *ps0, const ulong os0,                 \
                   __global float *ps1, const ulong os1, __global float *ps2,            \
                   const ulong os2, __global const float *pn, const ulong on,            \
                   const kcl_opt_params p, const ulong n)

// The variable after weight decay and the clipped gradient, for element i.
#define OPT_PROLOGUE                                                                      \
    const size_t i = get_global_id(0);                                                    \
    if (i >= n) return;                                                                   \
    const float sumsq = p.clip_mode >= CLIP_NORM ? pn[on] : 0.0f;                         \
    const float g = clipped(pg[og + i], p, sumsq);                                        \
    float x = pv[ov + i];                                                                 \
    if (p.weight_decay != 0.0f)                                                           \
        x = x - x * p.weight_decay * p.lr;

// slot 0: momentum (only with F_MOMENTUM).
OPT_KERNEL(sgd_update)
{
    OPT_PROLOGUE
    if (p.flags & F_MOMENTUM) {
        const float m = ps0[os0 + i] * p.momentum - g * p.lr;
        ps0[os0 + i] = m;
        x += (p.flags & F_NESTEROV) ? m * p.momentum - g * p.lr : m;
    } else {
        x -= g * p.lr;
    }
    pv[ov + i] = x;
}

// slots: m, v, vhat (only with F_AMSGRAD).
OPT_KERNEL(adam_update)
{
    OPT_PROLOGUE
    float m = ps0[os0 + i], v = ps1[os1 + i];
    m += (g - m) * (1.0f - p.beta_1);
    v += (g * g - v) * (1.0f - p.beta_2);
    ps0[os0 + i] = m;
    ps1[os1 + i] = v;
    if (p.flags & F_AMSGRAD) {
        v = fmax(ps2[os2 + i], v);
        ps2[os2 + i] = v;
    }
    pv[ov + i] = x - m * p.alpha / (sqrt(v) + p.epsilon);
}

// slots: ms (velocity), momentum (only with F_MOMENTUM), mg (only with F_CENTERED).
OPT_KERNEL(rmsprop_update)
{
    OPT_PROLOGUE
    const float ms = p.rho * ps0[os0 + i] + (1.0f - p.rho) * (g * g);
    ps0[os0 + i] = ms;
    float denominator = ms + p.epsilon;
    if (p.flags & F_CENTERED) {
        const float mg = p.rho * ps2[os2 + i] + (1.0f - p.rho) * g;
        ps2[os2 + i] = mg;
        denominator = ms - mg * mg + p.epsilon;
    }
    const float increment = p.lr * g / sqrt(denominator);
    if (p.flags & F_MOMENTUM) {
        const float m = p.momentum * ps1[os1 + i] + increment;
        ps1[os1 + i] = m;
        x -= m;
    } else {
        x -= increment;
    }
    pv[ov + i] = x;
}

// slot 0: accumulator (starts at initial_accumulator_value).
OPT_KERNEL(adagrad_update)
{
    OPT_PROLOGUE
    const float acc = ps0[os0 + i] + g * g;
    ps0[os0 + i] = acc;
    pv[ov + i] = x - p.lr * g / sqrt(acc + p.epsilon);
}
