// embed.cpp: kcl inside a C++17 application. The kcl handles live in
// std::unique_ptr with deleters calling kcl's free functions, failures become
// exceptions, options are C++17 structs (no designated initializers). The
// program trains a small regression model on synthetic data, predicts, and
// checks the predictions against a double-precision forward pass of the same
// weights computed here; it exits nonzero on a mismatch or any kcl failure.
//
// usage: embed [DEVICE]    (DEVICE as $KCL_DEVICE: "pocl", "0:0", "gpu", ...)
#include <kcl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Owning handles. A context owns everything created on it, so declare the
// context before the models and tensors: they must be freed first.
struct context_deleter {
    void operator()(kcl_context *ctx) const { kcl_context_free(ctx); }
};
struct model_deleter {
    void operator()(kcl_model *m) const { kcl_model_free(m); }
};
struct tensor_deleter {
    void operator()(kcl_tensor *t) const { kcl_tensor_free(t); }
};
using context_ptr = std::unique_ptr<kcl_context, context_deleter>;
using model_ptr = std::unique_ptr<kcl_model, model_deleter>;
using tensor_ptr = std::unique_ptr<kcl_tensor, tensor_deleter>;

// kcl returns statuses; this application prefers exceptions.
struct kcl_error : std::runtime_error {
    kcl_status status;
    kcl_error(kcl_status st, const std::string &what) : std::runtime_error(what), status(st) {}
};

void check(kcl_status st, const kcl_context *ctx, const char *call)
{
    if (st != KCL_OK)
        throw kcl_error(st, std::string(call) + ": " + kcl_status_name(st) + ": " +
                                kcl_errmsg(ctx));
}

context_ptr open_context(const char *device)
{
    kcl_context_options options{};
    options.device = device;       // nullptr: $KCL_DEVICE or the default device
    kcl_context *ctx = nullptr;
    check(kcl_context_create(&ctx, &options), nullptr, "kcl_context_create");
    return context_ptr(ctx);
}

tensor_ptr upload(kcl_context *ctx, const std::vector<float> &values, int64_t rows, int64_t cols)
{
    const int64_t shape[2] = {rows, cols};
    kcl_tensor *t = nullptr;
    check(kcl_tensor_from_host(ctx, 2, shape, values.data(), &t), ctx, "kcl_tensor_from_host");
    return tensor_ptr(t);
}

std::vector<float> download(kcl_tensor *t)
{
    std::vector<float> values(static_cast<size_t>(kcl_tensor_size(t)));
    check(kcl_tensor_read(t, values.data(), values.size()), kcl_tensor_context(t),
          "kcl_tensor_read");
    return values;
}

constexpr int64_t samples = 64, inputs = 2, hidden = 8;

// y = x0 * x1 + 0.3 x0 - 0.2, x uniform in [-1, 1) from a fixed LCG.
void synthetic(std::vector<float> &x, std::vector<float> &y)
{
    uint32_t state = 12345;
    auto next = [&state] {
        state = state * 1664525u + 1013904223u;
        return static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
    };
    x.resize(samples * inputs);
    y.resize(samples);
    for (int64_t s = 0; s < samples; s++) {
        x[s * inputs] = next();
        x[s * inputs + 1] = next();
        y[s] = x[s * inputs] * x[s * inputs + 1] + 0.3f * x[s * inputs] - 0.2f;
    }
}

model_ptr build(kcl_context *ctx)
{
    kcl_model *raw = nullptr;
    check(kcl_sequential(ctx, &raw), ctx, "kcl_sequential");
    model_ptr m(raw);
    kcl_dense_options first{};
    first.input_dim = inputs;
    first.activation = "tanh";
    first.kernel_initializer = kcl_init_glorot_uniform(7);
    check(kcl_model_add(m.get(), kcl_layer_dense(hidden, first)), ctx, "kcl_model_add");
    kcl_dense_options second{};
    second.kernel_initializer = kcl_init_glorot_uniform(8);   // seeded: same run everywhere
    check(kcl_model_add(m.get(), kcl_layer_dense(1, second)), ctx, "kcl_model_add");
    check(kcl_compile(m.get(), kcl_adam(0.02f), "mse", nullptr), ctx, "kcl_compile");
    return m;
}

// A few epochs through kcl_fit, then a few steps on device tensors.
float train(kcl_model *m, const std::vector<float> &x, const std::vector<float> &y)
{
    kcl_context *ctx = kcl_model_context(m);
    kcl_array xa{}, ya{};
    xa.data = const_cast<float *>(x.data());   // kcl only reads arrays passed in
    xa.rank = 2;
    xa.shape[0] = samples;
    xa.shape[1] = inputs;
    ya.data = const_cast<float *>(y.data());
    ya.rank = 2;
    ya.shape[0] = samples;
    ya.shape[1] = 1;
    kcl_fit_options fit{};
    fit.epochs = 20;
    fit.batch_size = 16;
    fit.verbose = KCL_VERBOSE_SILENT;
    fit.seed = 1;
    check(kcl_fit(m, &xa, &ya, fit), ctx, "kcl_fit");

    tensor_ptr xt = upload(ctx, x, samples, inputs), yt = upload(ctx, y, samples, 1);
    kcl_tensor *xs[] = {xt.get()}, *ys[] = {yt.get()};
    float loss = 0.0f;
    for (int step = 0; step < 5; step++)
        check(kcl_train_on_batch(m, xs, ys, &loss, 1), ctx, "kcl_train_on_batch");
    return loss;
}

// The model's forward pass in double precision from its weights read back.
std::vector<double> reference(kcl_model *m, const std::vector<float> &x)
{
    auto weight = [m](size_t layer, size_t i) {
        return download(kcl_layer_weight(kcl_model_layer(m, layer), i));
    };
    const std::vector<float> w1 = weight(0, 0), b1 = weight(0, 1), w2 = weight(1, 0),
                             b2 = weight(1, 1);
    std::vector<double> out(samples);
    for (int64_t s = 0; s < samples; s++) {
        double sum = b2[0];
        for (int64_t j = 0; j < hidden; j++) {
            double z = b1[j];
            for (int64_t i = 0; i < inputs; i++)
                z += static_cast<double>(x[s * inputs + i]) * w1[i * hidden + j];
            sum += std::tanh(z) * w2[j];
        }
        out[s] = sum;
    }
    return out;
}

int run(const char *device)
{
    context_ptr ctx = open_context(device);   // first declared: freed last
    std::printf("device: %s (%s)\n", kcl_context_device(ctx.get())->name,
                kcl_context_device(ctx.get())->platform_name);
    std::vector<float> x, y;
    synthetic(x, y);
    model_ptr m = build(ctx.get());
    float loss = train(m.get(), x, y);

    tensor_ptr xt = upload(ctx.get(), x, samples, inputs);
    kcl_tensor *xs[] = {xt.get()}, *out = nullptr;
    check(kcl_predict_on_batch(m.get(), xs, &out), ctx.get(), "kcl_predict_on_batch");
    tensor_ptr predictions(out);
    const std::vector<float> got = download(predictions.get());
    const std::vector<double> want = reference(m.get(), x);

    // float32 on the device against double here: 1e-5 of the value (of 0.1
    // near zero) leaves room for rounding only.
    double worst = 0.0;
    for (int64_t s = 0; s < samples; s++)
        worst = std::max(worst, std::fabs(got[s] - want[s]) / std::max(std::fabs(want[s]), 0.1));
    std::printf("loss after training: %.5f; predictions vs double reference: worst relative "
                "error %.2e\n", static_cast<double>(loss), worst);
    if (!(worst <= 1e-5)) {
        std::fprintf(stderr, "embed: predictions differ from the reference\n");
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char **argv)
{
    try {
        return run(argc > 1 ? argv[1] : nullptr);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "embed: %s\n", e.what());
        return 1;
    }
}
