/* bench_infer: inference of the Fashion-MNIST MLP 784-256-128-10: time from
 * process start to the first prediction (run it with an empty
 * $KCL_CACHE_DIR and $POCL_CACHE_DIR for the cold figure), then batch-1
 * latency and batch-1024 throughput of predict_on_batch. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <kcl.h>

#define TRY(ctx, call)                                                         \
    do {                                                                       \
        if ((call) != KCL_OK) {                                                \
            fprintf(stderr, "bench_infer: %s\n", kcl_errmsg(ctx));             \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Seconds since the process started (field 22 of /proc/self/stat, in ticks
 * since boot), so loader and library start-up count too. */
static double since_process_start(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    unsigned long long start = 0;
    if (f) {
        if (fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                      "%*d %*d %*d %*d %llu", &start) != 1)
            start = 0;
        fclose(f);
    }
    struct timespec up;
    clock_gettime(CLOCK_BOOTTIME, &up);
    double uptime = (double)up.tv_sec + (double)up.tv_nsec * 1e-9;
    return start ? uptime - (double)start / (double)sysconf(_SC_CLK_TCK) : -1.0;
}

static double time_predictions(kcl_context *ctx, kcl_model *m, kcl_tensor *x, int repeats)
{
    double start = now();
    for (int i = 0; i < repeats; i++) {
        kcl_tensor *y;
        TRY(ctx, kcl_predict_on_batch(m, &x, &y));
        /* Batch 1: a latency includes reading the answer back. */
        if (kcl_tensor_size(y) == 10) {
            float out[10];
            TRY(ctx, kcl_tensor_read(y, out, 10));
        }
        kcl_tensor_free(y);
    }
    TRY(ctx, kcl_context_finish(ctx));
    return (now() - start) / repeats;
}

int main(void)
{
    kcl_context *ctx;
    if (kcl_context_create(&ctx, NULL) != KCL_OK) {
        fprintf(stderr, "bench_infer: %s\n", kcl_errmsg(NULL));
        return 1;
    }
    kcl_model *m;
    TRY(ctx, kcl_sequential(ctx, &m));
    TRY(ctx, kcl_model_add(m, kcl_layer_flatten(.input_shape = {28, 28})));
    TRY(ctx, kcl_model_add(m, kcl_layer_dense(256, .activation = "relu")));
    TRY(ctx, kcl_model_add(m, kcl_layer_dense(128, .activation = "relu")));
    TRY(ctx, kcl_model_add(m, kcl_layer_dense(10, .activation = "softmax")));
    static float pixels[1024 * 784];
    for (int i = 0; i < 1024 * 784; i++)
        pixels[i] = (float)(i % 255) / 255.0f;
    int64_t one[3] = {1, 28, 28}, many[3] = {1024, 28, 28};
    kcl_tensor *x1, *x1024, *y;
    TRY(ctx, kcl_tensor_from_host(ctx, 3, one, pixels, &x1));
    TRY(ctx, kcl_predict_on_batch(m, &x1, &y));
    float probs[10];
    TRY(ctx, kcl_tensor_read(y, probs, 10));
    double first = since_process_start();
    kcl_tensor_free(y);
    TRY(ctx, kcl_tensor_from_host(ctx, 3, many, pixels, &x1024));
    time_predictions(ctx, m, x1024, 2);   /* builds what batch 1024 needs */
    double latency = time_predictions(ctx, m, x1, 200);
    double batch = time_predictions(ctx, m, x1024, 20);
    printf("kcl  device=%s  start_to_first_prediction_s=%.3f  batch1_latency_ms=%.3f  "
           "batch1024_samples/s=%.0f\n", kcl_context_device(ctx)->name, first, 1000 * latency,
           1024.0 / batch);
    kcl_model_free(m);
    kcl_context_free(ctx);
    return 0;
}
