// embed.cpp: kcl inside a C++17 application that uses OpenCL itself.
//
// The application owns its OpenCL objects: it picks a device, creates its own
// context and in-order queue, and has kernels of its own. Its first kernel
// makes training data in its buffers; kcl wraps those buffers as tensors (no
// copy), trains a small model on them and predicts; its second kernel reads
// kcl's prediction where it lies (kcl_tensor_cl) and writes the residuals,
// target minus prediction, into another of its buffers. All of it goes on the
// one queue, so it runs in order with no events, and the host waits once: for
// the read of the residuals at the end.
//
// Then the program checks its result against a double-precision forward pass
// of the same model (the weights read back from kcl), that kcl took one
// reference on the application's queue, and that once kcl is gone the
// reference counts of the application's context and buffers are as kcl found
// them (for the queue's, see same_owned). It exits nonzero on a mismatch or
// any failure.
//
// usage: embed [DEVICE]
//   DEVICE (else $KCL_DEVICE, else "pocl"): a case-insensitive part of an
//   OpenCL platform's name or vendor ("pocl", "oclgrind", "nvidia"); the
//   first CPU device of the first such platform, else its first device. With
//   no choice and no PoCL, the first platform that has a device.
//
// Build: c++ -std=c++17 embed.cpp $(pkg-config --cflags --libs kcl OpenCL)
#define CL_TARGET_OPENCL_VERSION 120   // before any OpenCL header: the 1.2 API
#include <kcl_opencl.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

// ------------------------------------------------------------ error handling

// Both libraries return status codes; this application prefers exceptions.
struct error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void check_cl(cl_int err, const char *call)
{
    if (err != CL_SUCCESS)
        throw error(std::string(call) + " failed: OpenCL error " + std::to_string(err));
}

void check(kcl_status st, const kcl_context *ctx, const char *call)
{
    if (st != KCL_OK)
        throw error(std::string(call) + ": " + kcl_status_name(st) + ": " + kcl_errmsg(ctx));
}

// ------------------------------------------------------------ owning handles

// An OpenCL handle released by its clRelease... function.
template <typename Handle, cl_int(CL_API_CALL *release)(Handle)>
struct cl_releaser {
    void operator()(Handle h) const { release(h); }
};
template <typename Handle, cl_int(CL_API_CALL *release)(Handle)>
using cl_owner = std::unique_ptr<std::remove_pointer_t<Handle>, cl_releaser<Handle, release>>;

using context_owner = cl_owner<cl_context, clReleaseContext>;
using queue_owner = cl_owner<cl_command_queue, clReleaseCommandQueue>;
using program_owner = cl_owner<cl_program, clReleaseProgram>;
using kernel_owner = cl_owner<cl_kernel, clReleaseKernel>;
using buffer_owner = cl_owner<cl_mem, clReleaseMemObject>;

// kcl handles. A kcl context frees everything made on it, so declare it
// before the models and tensors: they are freed first, it last.
struct kcl_deleter {
    void operator()(kcl_context *ctx) const { kcl_context_free(ctx); }
    void operator()(kcl_model *m) const { kcl_model_free(m); }
    void operator()(kcl_tensor *t) const { kcl_tensor_free(t); }
};
using kcl_context_owner = std::unique_ptr<kcl_context, kcl_deleter>;
using kcl_model_owner = std::unique_ptr<kcl_model, kcl_deleter>;
using kcl_tensor_owner = std::unique_ptr<kcl_tensor, kcl_deleter>;

// ----------------------------------------------------- the application's side

constexpr size_t samples = 64, inputs = 2, hidden = 8;
constexpr int training_steps = 100;

// Sample s has inputs x[2s], x[2s+1] from an integer hash (exact in float, so
// the check below can recompute them on the host) and the target
// y = x0 x1 + 0.3 x0 - 0.2. residuals: y minus kcl's prediction, which starts
// `offset` floats into kcl's buffer.
constexpr const char *app_kernels = R"CLC(
float input_value(uint i)
{
    uint h = i * 2654435761u;
    h ^= h >> 15;
    return (float)(h & 0xffffu) / 32768.0f - 1.0f;
}

kernel void make_data(global float *x, global float *y)
{
    uint s = get_global_id(0);
    float x0 = input_value(2 * s), x1 = input_value(2 * s + 1);
    x[2 * s] = x0;
    x[2 * s + 1] = x1;
    y[s] = x0 * x1 + 0.3f * x0 - 0.2f;
}

kernel void residuals(global const float *y, global const float *prediction, ulong offset,
                      global float *out)
{
    size_t s = get_global_id(0);
    out[s] = y[s] - prediction[offset + s];
}
)CLC";

// The kernel's input_value on the host, bit for bit.
float input_value(uint32_t i)
{
    uint32_t h = i * 2654435761u;
    h ^= h >> 15;
    return static_cast<float>(h & 0xffffu) / 32768.0f - 1.0f;
}

std::string lower(std::string s)
{
    for (char &c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string platform_text(cl_platform_id platform, cl_platform_info what)
{
    char text[256] = "";
    clGetPlatformInfo(platform, what, sizeof text - 1, text, nullptr);
    return text;
}

// The platform's first CPU device, else its first device; nullptr if none.
cl_device_id first_device(cl_platform_id platform)
{
    const cl_device_type types[] = {CL_DEVICE_TYPE_CPU, CL_DEVICE_TYPE_ALL};
    for (cl_device_type type : types) {
        cl_device_id device = nullptr;
        cl_uint n = 0;
        if (clGetDeviceIDs(platform, type, 1, &device, &n) == CL_SUCCESS && n > 0)
            return device;
    }
    return nullptr;
}

cl_device_id pick_device(const char *choice)
{
    cl_uint n = 0;
    check_cl(clGetPlatformIDs(0, nullptr, &n), "clGetPlatformIDs");
    std::vector<cl_platform_id> platforms(n);
    check_cl(clGetPlatformIDs(n, platforms.data(), nullptr), "clGetPlatformIDs");
    const std::string wanted = lower(choice ? choice : "pocl");
    for (cl_platform_id p : platforms) {
        const std::string names = lower(platform_text(p, CL_PLATFORM_NAME) + " " +
                                        platform_text(p, CL_PLATFORM_VENDOR));
        cl_device_id device = names.find(wanted) != std::string::npos ? first_device(p) : nullptr;
        if (device)
            return device;
    }
    for (cl_platform_id p : platforms)   // no PoCL: any device will do
        if (cl_device_id device = choice ? nullptr : first_device(p))
            return device;
    throw error("no OpenCL platform matching '" + wanted + "' has a device");
}

// The application's OpenCL objects.
struct application {
    cl_device_id device = nullptr;
    context_owner context;
    queue_owner queue;          // in order: kcl requires it, and it orders everything here
    program_owner program;
    kernel_owner make_data, residuals;
    buffer_owner x, y, out;     // inputs [samples, 2], targets and residuals [samples, 1]
};

buffer_owner new_buffer(cl_context context, size_t floats)
{
    cl_int err;
    // Read-write: kcl refuses a buffer it could not both read and write.
    cl_mem buffer = clCreateBuffer(context, CL_MEM_READ_WRITE, floats * sizeof(float), nullptr,
                                   &err);
    check_cl(err, "clCreateBuffer");
    return buffer_owner(buffer);
}

kernel_owner new_kernel(cl_program program, const char *name)
{
    cl_int err;
    cl_kernel kernel = clCreateKernel(program, name, &err);
    check_cl(err, "clCreateKernel");
    return kernel_owner(kernel);
}

application open_application(const char *choice)
{
    application app;
    app.device = pick_device(choice);
    cl_int err;
    app.context.reset(clCreateContext(nullptr, 1, &app.device, nullptr, nullptr, &err));
    check_cl(err, "clCreateContext");
    app.queue.reset(clCreateCommandQueue(app.context.get(), app.device, 0, &err));
    check_cl(err, "clCreateCommandQueue");
    const char *source = app_kernels;
    app.program.reset(clCreateProgramWithSource(app.context.get(), 1, &source, nullptr, &err));
    check_cl(err, "clCreateProgramWithSource");
    check_cl(clBuildProgram(app.program.get(), 1, &app.device, "", nullptr, nullptr),
             "clBuildProgram");
    app.make_data = new_kernel(app.program.get(), "make_data");
    app.residuals = new_kernel(app.program.get(), "residuals");
    app.x = new_buffer(app.context.get(), samples * inputs);
    app.y = new_buffer(app.context.get(), samples);
    app.out = new_buffer(app.context.get(), samples);
    return app;
}

template <typename T>
void set_arg(cl_kernel kernel, cl_uint index, const T &value)
{
    check_cl(clSetKernelArg(kernel, index, sizeof value, &value), "clSetKernelArg");
}

void enqueue(const application &app, cl_kernel kernel)
{
    const size_t global = samples;
    check_cl(clEnqueueNDRangeKernel(app.queue.get(), kernel, 1, nullptr, &global, nullptr, 0,
                                    nullptr, nullptr),
             "clEnqueueNDRangeKernel");
}

// ------------------------------------------------------------------ kcl's side

kcl_tensor_owner wrap(kcl_context *ctx, cl_mem buffer, size_t rows, size_t cols)
{
    const int64_t shape[2] = {int64_t(rows), int64_t(cols)};
    kcl_tensor *t = nullptr;
    check(kcl_tensor_from_cl(ctx, buffer, 0, 2, shape, &t), ctx, "kcl_tensor_from_cl");
    return kcl_tensor_owner(t);
}

kcl_model_owner build_model(kcl_context *ctx)
{
    kcl_model *raw = nullptr;
    check(kcl_sequential(ctx, &raw), ctx, "kcl_sequential");
    kcl_model_owner m(raw);
    kcl_dense_options first{};
    first.input_dim = inputs;
    first.activation = "tanh";
    first.kernel_initializer = kcl_init_glorot_uniform(7);   // seeded: the same run everywhere
    check(kcl_model_add(m.get(), kcl_layer_dense(hidden, first)), ctx, "kcl_model_add");
    kcl_dense_options second{};
    second.kernel_initializer = kcl_init_glorot_uniform(8);
    check(kcl_model_add(m.get(), kcl_layer_dense(1, second)), ctx, "kcl_model_add");
    check(kcl_compile(m.get(), kcl_adam(0.02f), "mse", nullptr), ctx, "kcl_compile");
    return m;
}

std::vector<float> read_weight(kcl_model *m, size_t layer, size_t i)
{
    kcl_tensor *w = kcl_layer_weight(kcl_model_layer(m, layer), i);
    std::vector<float> values(static_cast<size_t>(kcl_tensor_size(w)));
    check(kcl_tensor_read(w, values.data(), values.size()), kcl_model_context(m),
          "kcl_tensor_read");
    return values;
}

// What the run leaves for the check: the residuals and the trained weights.
struct outcome {
    std::vector<float> residuals;
    std::vector<float> w1, b1, w2, b2;
};

// The pipeline on kcl context ctx (on the application's queue): data kernel,
// training and prediction by kcl, residual kernel, one blocking read; then the
// weights, for the check. The kcl model and tensors live in this function only.
outcome run_pipeline(const application &app, kcl_context *ctx)
{
    set_arg(app.make_data.get(), 0, app.x.get());
    set_arg(app.make_data.get(), 1, app.y.get());
    enqueue(app, app.make_data.get());

    // kcl reads the application's buffers in place; its work goes on the same
    // queue after make_data. (With queues of its own, the application would
    // pass make_data's event to kcl_enqueue_wait.)
    kcl_tensor_owner x = wrap(ctx, app.x.get(), samples, inputs);
    kcl_tensor_owner y = wrap(ctx, app.y.get(), samples, 1);
    kcl_model_owner model = build_model(ctx);
    kcl_tensor *xs[] = {x.get()}, *ys[] = {y.get()};
    for (int step = 0; step < training_steps; step++)   // no loss asked for: no host wait
        check(kcl_train_on_batch(model.get(), xs, ys, nullptr, 0), ctx, "kcl_train_on_batch");
    kcl_tensor *out = nullptr;
    check(kcl_predict_on_batch(model.get(), xs, &out), ctx, "kcl_predict_on_batch");
    kcl_tensor_owner prediction(out);

    // The prediction where kcl keeps it, read by the application's kernel.
    cl_mem prediction_buffer = nullptr;
    size_t offset_bytes = 0;
    check(kcl_tensor_cl(prediction.get(), &prediction_buffer, &offset_bytes), ctx,
          "kcl_tensor_cl");
    set_arg(app.residuals.get(), 0, app.y.get());
    set_arg(app.residuals.get(), 1, prediction_buffer);
    set_arg(app.residuals.get(), 2, cl_ulong(offset_bytes / sizeof(float)));
    set_arg(app.residuals.get(), 3, app.out.get());
    enqueue(app, app.residuals.get());

    outcome result;
    result.residuals.resize(samples);
    check_cl(clEnqueueReadBuffer(app.queue.get(), app.out.get(), CL_TRUE, 0,
                                 samples * sizeof(float), result.residuals.data(), 0, nullptr,
                                 nullptr),
             "clEnqueueReadBuffer");   // the host's one wait in the pipeline

    result.w1 = read_weight(model.get(), 0, 0);
    result.b1 = read_weight(model.get(), 0, 1);
    result.w2 = read_weight(model.get(), 1, 0);
    result.b2 = read_weight(model.get(), 1, 1);
    return result;
}

// ------------------------------------------------------------------ the checks

// The targets and y - model(x) in double precision, x recomputed by the
// kernel's rule.
void reference(const outcome &r, std::vector<double> &targets, std::vector<double> &residuals)
{
    targets.resize(samples);
    residuals.resize(samples);
    for (size_t s = 0; s < samples; s++) {
        const double x0 = input_value(uint32_t(2 * s)), x1 = input_value(uint32_t(2 * s + 1));
        double prediction = r.b2[0];
        for (size_t j = 0; j < hidden; j++)
            prediction += std::tanh(r.b1[j] + x0 * r.w1[j] + x1 * r.w1[hidden + j]) * r.w2[j];
        targets[s] = x0 * x1 + 0.3 * x0 - 0.2;
        residuals[s] = targets[s] - prediction;
    }
}

struct reference_counts {
    cl_uint context, queue, x, y, out;
};

reference_counts count_references(const application &app)
{
    reference_counts n{};
    clGetContextInfo(app.context.get(), CL_CONTEXT_REFERENCE_COUNT, sizeof n.context, &n.context,
                     nullptr);
    clGetCommandQueueInfo(app.queue.get(), CL_QUEUE_REFERENCE_COUNT, sizeof n.queue, &n.queue,
                          nullptr);
    clGetMemObjectInfo(app.x.get(), CL_MEM_REFERENCE_COUNT, sizeof n.x, &n.x, nullptr);
    clGetMemObjectInfo(app.y.get(), CL_MEM_REFERENCE_COUNT, sizeof n.y, &n.y, nullptr);
    clGetMemObjectInfo(app.out.get(), CL_MEM_REFERENCE_COUNT, sizeof n.out, &n.out, nullptr);
    return n;
}

// The queue is left out: a driver may keep references of its own on it that
// depend on what ran, not on who retained it. PoCL keeps each buffer's last
// command's event, and an event holds its queue, so the queue gains one per
// buffer used even in a program without kcl.
bool same_owned(const reference_counts &a, const reference_counts &b)
{
    return a.context == b.context && a.x == b.x && a.y == b.y && a.out == b.out;
}

// Reference counts are snapshots, and a driver may drop the references that
// finished commands held, from its own threads, a moment after the host's
// wait has returned (PoCL does): give them up to two seconds to settle.
reference_counts settled_references(const application &app, const reference_counts &want)
{
    reference_counts now = count_references(app);
    for (int i = 0; i < 200 && !same_owned(now, want); i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        now = count_references(app);
    }
    return now;
}

int run(const char *choice)
{
    const application app = open_application(choice);
    const reference_counts before = count_references(app);
    outcome result;
    {
        kcl_context *raw = nullptr;
        check(kcl_context_from_cl(&raw, app.context.get(), app.device, app.queue.get(), nullptr),
              nullptr, "kcl_context_from_cl");
        kcl_context_owner ctx(raw);
        std::printf("device: %s (%s)\n", kcl_context_device(raw)->name,
                    kcl_context_device(raw)->platform_name);
        // kcl holds one reference on the queue, taken here (kcl_opencl.h).
        if (count_references(app).queue != before.queue + 1)
            throw error("kcl_context_from_cl did not retain the queue exactly once");
        result = run_pipeline(app, raw);
    }   // kcl_context_free: kcl releases all it retained
    // With its last context, kcl also emptied CLBlast's cache of compiled
    // programs, which held references on our context (kcl_opencl.h).
    const reference_counts after = settled_references(app, before);

    std::vector<double> targets, want;
    reference(result, targets, want);
    // float32 on the device against double here: 1e-5 leaves room for
    // rounding only (values are of order 1).
    double worst = 0.0, mean = 0.0, variance = 0.0, squares = 0.0;
    for (size_t s = 0; s < samples; s++) {
        worst = std::max(worst, std::fabs(result.residuals[s] - want[s]));
        squares += want[s] * want[s] / samples;
        mean += targets[s] / samples;
    }
    for (size_t s = 0; s < samples; s++)
        variance += (targets[s] - mean) * (targets[s] - mean) / samples;
    std::printf("after %d steps: mean squared residual %.5f (targets' variance %.5f); "
                "residuals vs double reference: worst error %.2e\n", training_steps, squares,
                variance, worst);
    std::printf("reference counts before kcl/after: context %u/%u, buffers %u %u %u/%u %u %u\n",
                before.context, after.context, before.x, before.y, before.out, after.x, after.y,
                after.out);
    if (!(worst <= 1e-5))
        throw error("residuals differ from the reference");
    // Learnt from the application's data: far better than predicting the mean.
    if (!(squares < 0.1 * variance))
        throw error("training did not fit the data");
    if (!same_owned(before, after))
        throw error("kcl changed the reference counts of the application's OpenCL objects");
    return 0;
}

}  // namespace

int main(int argc, char **argv)
{
    try {
        return run(argc > 1 ? argv[1] : std::getenv("KCL_DEVICE"));
    } catch (const std::exception &e) {
        std::fprintf(stderr, "embed: %s\n", e.what());
        return 1;
    }
}
