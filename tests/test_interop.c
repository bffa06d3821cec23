/* test_interop: kcl inside an application that uses OpenCL itself
 * (kcl_opencl.h). The "application" here makes its own context, queues,
 * buffers and kernels with plain OpenCL calls; kcl predicts with a small Dense
 * model on its buffers, in between the application's kernels, without the
 * host waiting (calls that could wait are counted by interposing them, as
 * test_tape does). Results are checked against a double-precision model on
 * the host. Also: reference counts are left as found, wrapped buffers are
 * never pooled, and bad arguments are refused with a message and no
 * reference taken. */
#define _GNU_SOURCE
#include "common.h"

#include <ctype.h>
#include <stdbool.h>
#include <dlfcn.h>

#define CL_TARGET_OPENCL_VERSION 120
#include <kcl_opencl.h>

/* ---------------------------------------------------- host-wait counting -- */
/* The executable's definitions interpose the OpenCL loader's for libkcl (and
 * for this file's own calls), so every call that could block the host on the
 * device is counted. */

static long host_waits;

#define FORWARD(ret, name, params, args)                                       \
    ret name params                                                            \
    {                                                                          \
        static ret(*real) params;                                              \
        if (!real)                                                             \
            *(void **)&real = dlsym(RTLD_NEXT, #name);                         \
        host_waits++;                                                          \
        return real args;                                                      \
    }

FORWARD(cl_int, clFinish, (cl_command_queue q), (q))
FORWARD(cl_int, clWaitForEvents, (cl_uint n, const cl_event *e), (n, e))

cl_int clEnqueueReadBuffer(cl_command_queue q, cl_mem m, cl_bool blocking, size_t off, size_t n,
                           void *p, cl_uint nw, const cl_event *w, cl_event *e)
{
    static cl_int (*real)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint,
                          const cl_event *, cl_event *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "clEnqueueReadBuffer");
    host_waits += blocking != 0;
    return real(q, m, blocking, off, n, p, nw, w, e);
}

cl_int clEnqueueWriteBuffer(cl_command_queue q, cl_mem m, cl_bool blocking, size_t off,
                            size_t n, const void *p, cl_uint nw, const cl_event *w, cl_event *e)
{
    static cl_int (*real)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *,
                          cl_uint, const cl_event *, cl_event *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "clEnqueueWriteBuffer");
    host_waits += blocking != 0;
    return real(q, m, blocking, off, n, p, nw, w, e);
}

/* ------------------------------------------------------- the application -- */

typedef struct app {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue, queue2;
    cl_program program;
    cl_kernel fill, twice;
} app;

/* The application's kernels: fill writes exact small values (multiples of
 * 1/4), twice doubles a range of another buffer. */
static const char *app_source =
    "__kernel void fill(__global float *x, float scale) {\n"
    "    size_t i = get_global_id(0);\n"
    "    x[i] = scale * (float)((int)((i * 7) % 11) - 5) * 0.25f;\n"
    "}\n"
    "__kernel void twice(__global const float *p, ulong offset, __global float *out) {\n"
    "    size_t i = get_global_id(0);\n"
    "    out[i] = 2.0f * p[offset + i];\n"
    "}\n";

static float fill_value(size_t i, float scale)
{
    return scale * (float)((int)((i * 7) % 11) - 5) * 0.25f;
}

static bool contains_nocase(const char *text, const char *word)
{
    for (; *text; text++) {
        size_t i = 0;
        while (word[i] && tolower((unsigned char)text[i]) == tolower((unsigned char)word[i]))
            i++;
        if (!word[i])
            return true;
    }
    return false;
}

/* The first device whose platform or device name contains $KCL_DEVICE
 * ("pocl" when unset; "Portable Computing Language" is PoCL's platform). */
static bool app_find_device(app *a)
{
    const char *want = getenv("KCL_DEVICE");
    if (!want || !*want || strcmp(want, "pocl") == 0)
        want = "Portable Computing Language";
    cl_platform_id platforms[8];
    cl_uint np = 0;
    if (clGetPlatformIDs(8, platforms, &np) != CL_SUCCESS)
        return false;
    for (cl_uint p = 0; p < np && p < 8; p++) {
        char pname[256] = "", dname[256] = "";
        cl_device_id dev;
        clGetPlatformInfo(platforms[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 1, &dev, NULL) != CL_SUCCESS)
            continue;
        clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof dname, dname, NULL);
        if (contains_nocase(pname, want) || contains_nocase(dname, want)) {
            a->platform = platforms[p];
            a->device = dev;
            return true;
        }
    }
    return false;
}

static void app_open(app *a)
{
    memset(a, 0, sizeof *a);
    if (!app_find_device(a))
        fail_msg("no OpenCL device for the application");
    cl_int err;
    a->context = clCreateContext(NULL, 1, &a->device, NULL, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    a->queue = clCreateCommandQueue(a->context, a->device, 0, &err);
    assert_int_equal(err, CL_SUCCESS);
    a->queue2 = clCreateCommandQueue(a->context, a->device, 0, &err);
    assert_int_equal(err, CL_SUCCESS);
    a->program = clCreateProgramWithSource(a->context, 1, &app_source, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    assert_int_equal(clBuildProgram(a->program, 1, &a->device, "", NULL, NULL), CL_SUCCESS);
    a->fill = clCreateKernel(a->program, "fill", &err);
    assert_int_equal(err, CL_SUCCESS);
    a->twice = clCreateKernel(a->program, "twice", &err);
    assert_int_equal(err, CL_SUCCESS);
}

static void app_close(app *a)
{
    clReleaseKernel(a->fill);
    clReleaseKernel(a->twice);
    clReleaseProgram(a->program);
    clReleaseCommandQueue(a->queue);
    clReleaseCommandQueue(a->queue2);
    clReleaseContext(a->context);
}

static cl_mem app_buffer(app *a, size_t floats, cl_mem_flags flags)
{
    cl_int err;
    cl_mem m = clCreateBuffer(a->context, flags, floats * sizeof(float), NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    return m;
}

static cl_event app_fill(app *a, cl_command_queue q, cl_mem x, size_t n, float scale,
                         cl_uint n_wait, const cl_event *wait)
{
    cl_event done;
    assert_int_equal(clSetKernelArg(a->fill, 0, sizeof x, &x), CL_SUCCESS);
    assert_int_equal(clSetKernelArg(a->fill, 1, sizeof scale, &scale), CL_SUCCESS);
    assert_int_equal(clEnqueueNDRangeKernel(q, a->fill, 1, NULL, &n, NULL, n_wait, wait, &done),
                     CL_SUCCESS);
    return done;
}

static cl_event app_twice(app *a, cl_command_queue q, cl_mem p, size_t offset_bytes, cl_mem out,
                          size_t n, cl_uint n_wait, const cl_event *wait)
{
    cl_event done;
    cl_ulong offset = offset_bytes / sizeof(float);
    assert_int_equal(clSetKernelArg(a->twice, 0, sizeof p, &p), CL_SUCCESS);
    assert_int_equal(clSetKernelArg(a->twice, 1, sizeof offset, &offset), CL_SUCCESS);
    assert_int_equal(clSetKernelArg(a->twice, 2, sizeof out, &out), CL_SUCCESS);
    assert_int_equal(clEnqueueNDRangeKernel(q, a->twice, 1, NULL, &n, NULL, n_wait, wait, &done),
                     CL_SUCCESS);
    return done;
}

static cl_uint context_refs(cl_context c)
{
    cl_uint n = 0;
    clGetContextInfo(c, CL_CONTEXT_REFERENCE_COUNT, sizeof n, &n, NULL);
    return n;
}

static cl_uint queue_refs(cl_command_queue q)
{
    cl_uint n = 0;
    clGetCommandQueueInfo(q, CL_QUEUE_REFERENCE_COUNT, sizeof n, &n, NULL);
    return n;
}

static cl_uint mem_refs(cl_mem m)
{
    cl_uint n = 0;
    clGetMemObjectInfo(m, CL_MEM_REFERENCE_COUNT, sizeof n, &n, NULL);
    return n;
}

static kcl_context *kcl_on(app *a, cl_command_queue q)
{
    kcl_context *ctx;
    kcl_context_options opt = {.disable_disk_cache = 1};
    kcl_status st = kcl_context_from_cl(&ctx, a->context, a->device, q, &opt);
    if (st)
        fail_msg("kcl_context_from_cl: %s: %s", kcl_status_name(st), kcl_errmsg(NULL));
    return ctx;
}

/* ----------------------------------------------------------------- model -- */

enum { BATCH = 5, IN = 3, HIDDEN = 4, OUT = 2 };

static float w1[IN * HIDDEN], b1[HIDDEN], w2[HIDDEN * OUT], b2[OUT];

static void weights_init(void)
{
    for (int i = 0; i < IN * HIDDEN; i++)
        w1[i] = (float)((i * 5) % 9 - 4) * 0.125f;
    for (int i = 0; i < HIDDEN; i++)
        b1[i] = (float)(i - 1) * 0.0625f;
    for (int i = 0; i < HIDDEN * OUT; i++)
        w2[i] = (float)((i * 3) % 7 - 3) * 0.25f;
    for (int i = 0; i < OUT; i++)
        b2[i] = 0.5f - (float)i;
}

/* Dense(4, relu) -> Dense(2) in double precision (kernels row-major [in, out]). */
static void reference_predict(const float *x, double *y)
{
    for (int b = 0; b < BATCH; b++) {
        double h[HIDDEN];
        for (int j = 0; j < HIDDEN; j++) {
            double s = b1[j];
            for (int i = 0; i < IN; i++)
                s += (double)x[b * IN + i] * w1[i * HIDDEN + j];
            h[j] = s > 0 ? s : 0;
        }
        for (int k = 0; k < OUT; k++) {
            double s = b2[k];
            for (int j = 0; j < HIDDEN; j++)
                s += h[j] * w2[j * OUT + k];
            y[b * OUT + k] = s;
        }
    }
}

static kcl_model *make_model(kcl_context *ctx)
{
    weights_init();
    kcl_model *m;
    CHECK_OK(ctx, kcl_sequential(ctx, &m));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(HIDDEN, .input_dim = IN,
                                                   .activation = "relu")));
    CHECK_OK(ctx, kcl_model_add(m, kcl_layer_dense(OUT)));
    kcl_layer *d1 = kcl_model_layer(m, 0), *d2 = kcl_model_layer(m, 1);
    CHECK_OK(ctx, kcl_layer_set_weight(d1, 0, w1, IN * HIDDEN));
    CHECK_OK(ctx, kcl_layer_set_weight(d1, 1, b1, HIDDEN));
    CHECK_OK(ctx, kcl_layer_set_weight(d2, 0, w2, HIDDEN * OUT));
    CHECK_OK(ctx, kcl_layer_set_weight(d2, 1, b2, OUT));
    return m;
}

/* out[i] should be 2 * the model's prediction for the fill kernel's input. */
static void check_twice_prediction(const float *out, float scale)
{
    float x[BATCH * IN];
    for (size_t i = 0; i < BATCH * IN; i++)
        x[i] = fill_value(i, scale);
    double y[BATCH * OUT];
    reference_predict(x, y);
    for (int i = 0; i < BATCH * OUT; i++)
        if (fabs(out[i] - 2 * y[i]) > 1e-5 + 1e-5 * fabs(2 * y[i]))
            fail_msg("element %d: %.7f, reference 2 * %.7f", i, out[i], y[i]);
}

/* True when this executable's definitions do interpose the loader's (not in
 * every sanitizer build). */
static bool counting_works(app *a)
{
    long before = host_waits;
    clFinish(a->queue);
    return host_waits > before;
}

/* ----------------------------------------------------------------- tests -- */

/* (a) One queue: app kernel writes the input, kcl predicts from it, app
 * kernel doubles the prediction; the host waits only for the final read. */
static void test_shared_queue(void **state)
{
    (void)state;
    app a;
    app_open(&a);
    if (!counting_works(&a)) {
        app_close(&a);
        skip();
    }
    kcl_context *ctx = kcl_on(&a, a.queue);
    kcl_model *m = make_model(ctx);
    cl_mem in = app_buffer(&a, BATCH * IN, CL_MEM_READ_WRITE);
    cl_mem out = app_buffer(&a, BATCH * OUT, CL_MEM_READ_WRITE);
    int64_t shape[2] = {BATCH, IN};
    kcl_tensor *x, *y;
    CHECK_OK(ctx, kcl_tensor_from_cl(ctx, in, 0, 2, shape, &x));

    long waits = host_waits;
    clReleaseEvent(app_fill(&a, a.queue, in, BATCH * IN, 1.0f, 0, NULL));
    CHECK_OK(ctx, kcl_predict_on_batch(m, &x, &y));
    cl_mem pred;
    size_t offset;
    CHECK_OK(ctx, kcl_tensor_cl(y, &pred, &offset));
    assert_int_equal(kcl_tensor_rank(y), 2);
    assert_int_equal(kcl_tensor_shape(y)[1], OUT);
    clReleaseEvent(app_twice(&a, a.queue, pred, offset, out, BATCH * OUT, 0, NULL));
    assert_int_equal(host_waits - waits, 0);

    float result[BATCH * OUT];
    assert_int_equal(clEnqueueReadBuffer(a.queue, out, CL_TRUE, 0, sizeof result, result, 0,
                                         NULL, NULL), CL_SUCCESS);
    check_twice_prediction(result, 1.0f);
    kcl_tensor_free(y);
    kcl_tensor_free(x);
    kcl_model_free(m);
    kcl_context_free(ctx);
    clReleaseMemObject(in);
    clReleaseMemObject(out);
    app_close(&a);
}

/* (b) kcl on one queue, the application on another: events order them. The
 * application's first kernel is held back by a user event until everything
 * is enqueued, so kcl's work would read the input too early (and the
 * application's last kernel the prediction) if the events were not honoured. */
static void test_separate_queues(void **state)
{
    (void)state;
    app a;
    app_open(&a);
    if (!counting_works(&a)) {
        app_close(&a);
        skip();
    }
    kcl_context *ctx = kcl_on(&a, a.queue);
    kcl_model *m = make_model(ctx);
    cl_mem in = app_buffer(&a, BATCH * IN, CL_MEM_READ_WRITE);
    cl_mem out = app_buffer(&a, BATCH * OUT, CL_MEM_READ_WRITE);
    int64_t shape[2] = {BATCH, IN};
    kcl_tensor *x, *y;
    CHECK_OK(ctx, kcl_tensor_from_cl(ctx, in, 0, 2, shape, &x));
    /* Stale input that a missed wait would predict from. */
    float stale[BATCH * IN];
    for (int i = 0; i < BATCH * IN; i++)
        stale[i] = 100.0f;
    CHECK_OK(ctx, kcl_tensor_write(x, stale, BATCH * IN));

    long waits = host_waits;
    cl_int err;
    cl_event gate = clCreateUserEvent(a.context, &err);
    assert_int_equal(err, CL_SUCCESS);
    cl_event filled = app_fill(&a, a.queue2, in, BATCH * IN, -1.5f, 1, &gate);
    CHECK_OK(ctx, kcl_enqueue_wait(ctx, 1, &filled));
    CHECK_OK(ctx, kcl_predict_on_batch(m, &x, &y));
    cl_event predicted;
    CHECK_OK(ctx, kcl_enqueue_marker(ctx, &predicted));
    cl_mem pred;
    size_t offset;
    CHECK_OK(ctx, kcl_tensor_cl(y, &pred, &offset));
    cl_event doubled = app_twice(&a, a.queue2, pred, offset, out, BATCH * OUT, 1, &predicted);
    assert_int_equal(clSetUserEventStatus(gate, CL_COMPLETE), CL_SUCCESS);
    assert_int_equal(host_waits - waits, 0);

    float result[BATCH * OUT];
    assert_int_equal(clEnqueueReadBuffer(a.queue2, out, CL_TRUE, 0, sizeof result, result, 1,
                                         &doubled, NULL), CL_SUCCESS);
    check_twice_prediction(result, -1.5f);
    /* kcl may reuse y's buffer once freed: a.queue2's reader is done (the
     * read above waited for it), so no kcl_enqueue_wait is needed here. */
    kcl_tensor_free(y);
    kcl_tensor_free(x);
    clReleaseEvent(gate);
    clReleaseEvent(filled);
    clReleaseEvent(predicted);
    clReleaseEvent(doubled);
    kcl_model_free(m);
    kcl_context_free(ctx);
    clReleaseMemObject(in);
    clReleaseMemObject(out);
    app_close(&a);
}

/* Reference counts of the application's objects are as before after
 * kcl_context_free, with work (GEMM through CLBlast included) done in
 * between, and the objects still work afterwards. */
static void test_reference_counts(void **state)
{
    (void)state;
    app a;
    app_open(&a);
    cl_mem in = app_buffer(&a, BATCH * IN, CL_MEM_READ_WRITE);
    /* Implementations keep internal references (PoCL: on the queue, through
     * the last command's event), so counts are compared in the same state:
     * right after an application kernel has finished. */
    clReleaseEvent(app_fill(&a, a.queue, in, BATCH * IN, 2.0f, 0, NULL));
    clFinish(a.queue);
    cl_uint c0 = context_refs(a.context), q0 = queue_refs(a.queue), m0 = mem_refs(in);

    kcl_context *ctx = kcl_on(&a, a.queue);
    assert_true(context_refs(a.context) > c0);
    assert_int_equal(queue_refs(a.queue), q0 + 1);
    cl_context c;
    cl_device_id d;
    cl_command_queue q;
    CHECK_OK(ctx, kcl_context_cl(ctx, &c, &d, &q));
    assert_ptr_equal(c, a.context);
    assert_ptr_equal(d, a.device);
    assert_ptr_equal(q, a.queue);
    assert_int_equal(kcl_context_cl(ctx, NULL, NULL, NULL), KCL_OK);
    assert_true(strlen(kcl_context_device(ctx)->name) > 0);

    kcl_model *m = make_model(ctx);
    int64_t shape[2] = {BATCH, IN};
    kcl_tensor *x, *y;
    CHECK_OK(ctx, kcl_tensor_from_cl(ctx, in, 0, 2, shape, &x));
    assert_int_equal(mem_refs(in), m0 + 1);
    clReleaseEvent(app_fill(&a, a.queue, in, BATCH * IN, 0.5f, 0, NULL));
    CHECK_OK(ctx, kcl_predict_on_batch(m, &x, &y));
    float got[BATCH * OUT], x_host[BATCH * IN];
    CHECK_OK(ctx, kcl_tensor_read(y, got, BATCH * OUT));
    for (int i = 0; i < BATCH * IN; i++)
        x_host[i] = fill_value((size_t)i, 0.5f);
    double want[BATCH * OUT];
    reference_predict(x_host, want);
    for (int i = 0; i < BATCH * OUT; i++)
        assert_float_equal(got[i], want[i], 1e-5);
    /* The context frees what is left on it: x (and with it kcl's reference
     * on the buffer), y, the model's weights. */
    kcl_model_free(m);
    kcl_context_free(ctx);

    /* CLBlast (kcl's GEMM) kept its compiled programs, and with them a
     * reference on the context, in a process-wide cache: kcl empties it
     * with its last context, so nothing is left for the application to do. */
    /* Still the application's, and still working. */
    clReleaseEvent(app_fill(&a, a.queue, in, BATCH * IN, 2.0f, 0, NULL));
    clFinish(a.queue);
    assert_int_equal(context_refs(a.context), c0);
    assert_int_equal(queue_refs(a.queue), q0);
    assert_int_equal(mem_refs(in), m0);
    float back[BATCH * IN];
    assert_int_equal(clEnqueueReadBuffer(a.queue, in, CL_TRUE, 0, sizeof back, back, 0, NULL,
                                         NULL), CL_SUCCESS);
    for (int i = 0; i < BATCH * IN; i++)
        assert_float_equal(back[i], fill_value((size_t)i, 2.0f), 0.0);
    clReleaseMemObject(in);
    app_close(&a);
}

/* A wrapped buffer as a target, at an offset, and as a variable that an
 * optimizer updates in place; kcl_tensor_cl of a layer weight; a wrapped
 * buffer never lands in kcl's pool. */
static void test_wrapped_roles(void **state)
{
    (void)state;
    app a;
    app_open(&a);
    kcl_context *ctx = kcl_on(&a, a.queue);

    /* The layer weight's buffer holds what was set. */
    kcl_model *m = make_model(ctx);
    cl_mem wmem;
    size_t woff;
    CHECK_OK(ctx, kcl_tensor_cl(kcl_layer_weight(kcl_model_layer(m, 0), 0), &wmem, &woff));
    float wback[IN * HIDDEN];
    assert_int_equal(clEnqueueReadBuffer(a.queue, wmem, CL_TRUE, woff, sizeof wback, wback, 0,
                                         NULL, NULL), CL_SUCCESS);
    assert_memory_equal(wback, w1, sizeof w1);

    /* Input and target (at a 16-byte offset) in application buffers: the MSE
     * of test_on_batch against the host model. */
    CHECK_OK(ctx, kcl_compile(m, kcl_sgd(), "mse", NULL));
    cl_mem in = app_buffer(&a, BATCH * IN, CL_MEM_READ_WRITE);
    cl_mem target = app_buffer(&a, 4 + BATCH * OUT, CL_MEM_READ_WRITE);
    clReleaseEvent(app_fill(&a, a.queue, in, BATCH * IN, 1.0f, 0, NULL));
    clReleaseEvent(app_fill(&a, a.queue, target, 4 + BATCH * OUT, 0.75f, 0, NULL));
    int64_t xs[2] = {BATCH, IN}, ys[2] = {BATCH, OUT};
    kcl_tensor *x, *y;
    CHECK_OK(ctx, kcl_tensor_from_cl(ctx, in, 0, 2, xs, &x));
    CHECK_OK(ctx, kcl_tensor_from_cl(ctx, target, 4 * sizeof(float), 2, ys, &y));
    cl_mem got_mem;
    size_t got_off;
    CHECK_OK(ctx, kcl_tensor_cl(y, &got_mem, &got_off));
    assert_ptr_equal(got_mem, target);
    assert_int_equal(got_off, 4 * sizeof(float));
    float loss;
    CHECK_OK(ctx, kcl_test_on_batch(m, &x, &y, &loss, 1));
    float xh[BATCH * IN];
    double pred[BATCH * OUT], want = 0;
    for (int i = 0; i < BATCH * IN; i++)
        xh[i] = fill_value((size_t)i, 1.0f);
    reference_predict(xh, pred);
    for (int i = 0; i < BATCH * OUT; i++) {
        double d = pred[i] - fill_value((size_t)(4 + i), 0.75f);
        want += d * d / (BATCH * OUT);
    }
    assert_float_equal(loss, want, 1e-5 * (1 + want));

    /* A variable in an application buffer: w -= 0.5 * d(sum(w * v))/dw = v. */
    cl_mem wbuf = app_buffer(&a, 3, CL_MEM_READ_WRITE);
    clReleaseEvent(app_fill(&a, a.queue, wbuf, 3, 1.0f, 0, NULL));
    int64_t three = 3;
    float vv[3] = {1.0f, -2.0f, 0.5f};
    kcl_tensor *w, *v, *prod, *sum, *grad;
    CHECK_OK(ctx, kcl_tensor_from_cl(ctx, wbuf, 0, 1, &three, &w));
    CHECK_OK(ctx, kcl_tensor_set_trainable(w, 1));
    CHECK_OK(ctx, kcl_tensor_from_host(ctx, 1, &three, vv, &v));
    kcl_tape *tape;
    CHECK_OK(ctx, kcl_tape_begin(ctx, NULL, &tape));
    CHECK_OK(ctx, kcl_multiply(w, v, &prod));
    CHECK_OK(ctx, kcl_reduce_sum(prod, 0, NULL, 0, &sum));
    CHECK_OK(ctx, kcl_tape_gradient(tape, sum, 1, &w, &grad));
    CHECK_OK(ctx, kcl_sgd_update(w, grad, 0.5f));
    float wnew[3];
    assert_int_equal(clEnqueueReadBuffer(a.queue, wbuf, CL_TRUE, 0, sizeof wnew, wnew, 0, NULL,
                                         NULL), CL_SUCCESS);
    for (int i = 0; i < 3; i++)
        assert_float_equal(wnew[i], fill_value((size_t)i, 1.0f) - 0.5f * vv[i], 1e-6);
    kcl_tape_free(tape);
    kcl_tensor_free(prod);
    kcl_tensor_free(sum);
    kcl_tensor_free(grad);
    kcl_tensor_free(v);

    /* Freeing a wrapped tensor (and a view of it) gives the buffer back to
     * the application, not to kcl's pool. */
    kcl_tensor *view;
    int64_t flat = BATCH * IN;
    CHECK_OK(ctx, kcl_tensor_reshape(x, 1, &flat, &view));
    kcl_memory_stats before, after;
    CHECK_OK(ctx, kcl_memory_stats_get(ctx, &before));
    cl_uint refs = mem_refs(in);
    kcl_tensor_free(x);
    assert_int_equal(mem_refs(in), refs);          /* the view holds it */
    kcl_tensor_free(view);
    assert_int_equal(mem_refs(in), refs - 1);
    CHECK_OK(ctx, kcl_memory_stats_get(ctx, &after));
    assert_int_equal(after.pooled, before.pooled);
    assert_int_equal(after.in_use, before.in_use);
    kcl_tensor *fresh;
    CHECK_OK(ctx, kcl_tensor_create(ctx, 2, xs, &fresh));
    CHECK_OK(ctx, kcl_tensor_cl(fresh, &got_mem, &got_off));
    assert_ptr_not_equal(got_mem, in);
    kcl_tensor_free(fresh);

    kcl_tensor_free(y);
    kcl_tensor_free(w);
    kcl_model_free(m);
    kcl_context_free(ctx);
    clReleaseMemObject(in);
    clReleaseMemObject(target);
    clReleaseMemObject(wbuf);
    app_close(&a);
}

/* A refused kcl_context_from_cl: the status, a message naming the problem,
 * *ctx NULL, and no reference taken. */
static void expect_refused(cl_context c, cl_device_id d, cl_command_queue q, const char *words,
                           cl_context counted_c, cl_command_queue counted_q)
{
    cl_uint c0 = counted_c ? context_refs(counted_c) : 0;
    cl_uint q0 = counted_q ? queue_refs(counted_q) : 0;
    kcl_context *ctx = (kcl_context *)&ctx;   /* not NULL: must be cleared */
    assert_int_equal(kcl_context_from_cl(&ctx, c, d, q, NULL), KCL_ERR_ARGUMENT);
    assert_null(ctx);
    if (!strstr(kcl_errmsg(NULL), words) || !strstr(kcl_errmsg(NULL), "kcl_context_from_cl"))
        fail_msg("message \"%s\" lacks \"%s\"", kcl_errmsg(NULL), words);
    if (counted_c)
        assert_int_equal(context_refs(counted_c), c0);
    if (counted_q)
        assert_int_equal(queue_refs(counted_q), q0);
}

/* The first device of a platform other than the given one, or NULL. */
static cl_device_id other_platform_device(cl_platform_id mine)
{
    cl_platform_id platforms[8];
    cl_uint np = 0;
    clGetPlatformIDs(8, platforms, &np);
    for (cl_uint p = 0; p < np && p < 8; p++) {
        cl_device_id dev;
        if (platforms[p] != mine &&
            clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 1, &dev, NULL) == CL_SUCCESS)
            return dev;
    }
    return NULL;
}

/* Asked first: Oclgrind reports an API error for a partition it lacks. */
static bool can_partition_equally(cl_device_id device)
{
    cl_device_partition_property kinds[8] = {0};
    cl_uint units = 0;
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    if (clGetDeviceInfo(device, CL_DEVICE_PARTITION_PROPERTIES, sizeof kinds, kinds, NULL))
        return false;
    for (int i = 0; i < 8 && kinds[i]; i++)
        if (kinds[i] == CL_DEVICE_PARTITION_EQUALLY)
            return units >= 2;
    return false;
}

static void test_bad_context_arguments(void **state)
{
    (void)state;
    app a, b;
    app_open(&a);
    app_open(&b);
    expect_refused(NULL, a.device, a.queue, "NULL cl_context", NULL, a.queue);
    expect_refused(a.context, NULL, a.queue, "NULL cl_device_id", a.context, a.queue);
    expect_refused(a.context, a.device, NULL, "NULL cl_command_queue", a.context, NULL);
    expect_refused(a.context, a.device, b.queue, "another cl_context", a.context, b.queue);
    assert_int_equal(kcl_context_from_cl(NULL, a.context, a.device, a.queue, NULL),
                     KCL_ERR_ARGUMENT);

    cl_int err;
    cl_command_queue ooo = clCreateCommandQueue(
        a.context, a.device, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    if (err == CL_SUCCESS) {
        expect_refused(a.context, a.device, ooo, "out-of-order", a.context, ooo);
        clReleaseCommandQueue(ooo);
    }

    /* A device of another platform (Oclgrind beside PoCL), where there is one. */
    cl_device_id foreign = other_platform_device(a.platform);
    if (foreign)
        expect_refused(a.context, foreign, a.queue, "not one of the context's devices",
                       a.context, a.queue);
    else
        print_message("# no second platform: the foreign-device case is not run\n");

    /* Two sub-devices: a queue of another device than the one named. */
    cl_device_partition_property props[] = {CL_DEVICE_PARTITION_EQUALLY, 1, 0};
    cl_device_id sub[2];
    cl_uint nsub = 0;
    if (can_partition_equally(a.device) &&
        clCreateSubDevices(a.device, props, 2, sub, &nsub) == CL_SUCCESS && nsub == 2) {
        cl_context two = clCreateContext(NULL, 2, sub, NULL, NULL, &err);
        assert_int_equal(err, CL_SUCCESS);
        cl_command_queue on_second = clCreateCommandQueue(two, sub[1], 0, &err);
        assert_int_equal(err, CL_SUCCESS);
        expect_refused(two, sub[0], on_second, "another device", two, on_second);
        /* A sub-device is accepted, retained and released like the rest. */
        cl_uint d0 = 0;
        clGetDeviceInfo(sub[1], CL_DEVICE_REFERENCE_COUNT, sizeof d0, &d0, NULL);
        kcl_context *ctx;
        CHECK_OK(NULL, kcl_context_from_cl(&ctx, two, sub[1], on_second, NULL));
        kcl_context_free(ctx);
        cl_uint d1 = 0;
        clGetDeviceInfo(sub[1], CL_DEVICE_REFERENCE_COUNT, sizeof d1, &d1, NULL);
        assert_int_equal(d1, d0);
        clReleaseCommandQueue(on_second);
        clReleaseContext(two);
        clReleaseDevice(sub[0]);
        clReleaseDevice(sub[1]);
    } else {
        print_message("# device cannot be partitioned: the queue-device case is not run\n");
    }
    app_close(&b);
    app_close(&a);
}

static void expect_tensor_refused(kcl_context *ctx, cl_mem buffer, size_t offset, int64_t n,
                                  const char *words)
{
    cl_uint r0 = buffer ? mem_refs(buffer) : 0;
    kcl_tensor *t = (kcl_tensor *)&t;
    assert_int_equal(kcl_tensor_from_cl(ctx, buffer, offset, 1, &n, &t), KCL_ERR_ARGUMENT);
    assert_null(t);
    if (!strstr(kcl_errmsg(ctx), words) || !strstr(kcl_errmsg(ctx), "kcl_tensor_from_cl"))
        fail_msg("message \"%s\" lacks \"%s\"", kcl_errmsg(ctx), words);
    if (buffer)
        assert_int_equal(mem_refs(buffer), r0);
}

static void test_bad_tensor_and_event_arguments(void **state)
{
    (void)state;
    app a, b;
    app_open(&a);
    app_open(&b);
    kcl_context *ctx = kcl_on(&a, a.queue);
    cl_mem ok = app_buffer(&a, 8, CL_MEM_READ_WRITE);
    cl_mem other = app_buffer(&b, 8, CL_MEM_READ_WRITE);
    cl_mem read_only = app_buffer(&a, 8, CL_MEM_READ_ONLY);
    cl_mem write_only = app_buffer(&a, 8, CL_MEM_WRITE_ONLY);

    expect_tensor_refused(ctx, NULL, 0, 8, "NULL buffer");
    expect_tensor_refused(ctx, other, 0, 8, "another cl_context");
    expect_tensor_refused(ctx, ok, 0, 9, "holds 32 bytes");
    expect_tensor_refused(ctx, ok, 8, 7, "needs 36");
    expect_tensor_refused(ctx, ok, 64, 0, "holds 32 bytes");
    expect_tensor_refused(ctx, ok, 2, 1, "not a multiple of 4");
    expect_tensor_refused(ctx, read_only, 0, 8, "CL_MEM_READ_ONLY");
    expect_tensor_refused(ctx, write_only, 0, 8, "CL_MEM_WRITE_ONLY");
    int64_t n = 8;
    kcl_tensor *t;
    assert_int_equal(kcl_tensor_from_cl(ctx, ok, 0, 1, &n, NULL), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_tensor_from_cl(NULL, ok, 0, 1, &n, &t), KCL_ERR_ARGUMENT);
    n = -1;
    assert_int_equal(kcl_tensor_from_cl(ctx, ok, 0, 1, &n, &t), KCL_ERR_SHAPE);
    assert_int_equal(mem_refs(ok), 1);
    /* Exactly fitting, at an offset: accepted, reads the right values. */
    n = 6;
    float host[8] = {0, 1, 2, 3, 4, 5, 6, 7}, back[6];
    assert_int_equal(clEnqueueWriteBuffer(a.queue, ok, CL_TRUE, 0, sizeof host, host, 0, NULL,
                                          NULL), CL_SUCCESS);
    CHECK_OK(ctx, kcl_tensor_from_cl(ctx, ok, 8, 1, &n, &t));
    CHECK_OK(ctx, kcl_tensor_read(t, back, 6));
    assert_memory_equal(back, host + 2, sizeof back);
    kcl_tensor_free(t);

    cl_mem buffer;
    size_t offset;
    assert_int_equal(kcl_tensor_cl(NULL, &buffer, &offset), KCL_ERR_ARGUMENT);

    /* Events: of another context, NULL, none. */
    cl_int err;
    cl_event foreign = clCreateUserEvent(b.context, &err);
    assert_int_equal(err, CL_SUCCESS);
    assert_int_equal(kcl_enqueue_wait(ctx, 1, &foreign), KCL_ERR_ARGUMENT);
    assert_non_null(strstr(kcl_errmsg(ctx), "another cl_context"));
    assert_int_equal(kcl_enqueue_wait(ctx, 1, NULL), KCL_ERR_ARGUMENT);
    cl_event null_event = NULL;
    assert_int_equal(kcl_enqueue_wait(ctx, 1, &null_event), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_enqueue_wait(ctx, 0, NULL), KCL_OK);
    assert_int_equal(kcl_enqueue_wait(NULL, 0, NULL), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_enqueue_marker(ctx, NULL), KCL_ERR_ARGUMENT);
    assert_int_equal(kcl_enqueue_marker(NULL, &null_event), KCL_ERR_ARGUMENT);
    clSetUserEventStatus(foreign, CL_COMPLETE);
    clReleaseEvent(foreign);

    kcl_context_free(ctx);
    clReleaseMemObject(ok);
    clReleaseMemObject(other);
    clReleaseMemObject(read_only);
    clReleaseMemObject(write_only);
    app_close(&b);
    app_close(&a);
}

int main(void)
{
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_queue),
        cmocka_unit_test(test_separate_queues),
        cmocka_unit_test(test_reference_counts),
        cmocka_unit_test(test_wrapped_roles),
        cmocka_unit_test(test_bad_context_arguments),
        cmocka_unit_test(test_bad_tensor_and_event_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
