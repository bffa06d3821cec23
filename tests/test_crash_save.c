/* test_crash_save: a checkpoint survives its writer being killed at any moment.
 *
 * A child process (this program run again with "--saver") saves a whole model
 * to one path over and over, with weights that change between saves, and
 * reports each generation number on a pipe once kcl_model_save has returned
 * (so after the rename). The parent SIGKILLs it after a random delay, many
 * times (seeded, so a failure repeats), and after every kill checks: the file
 * is absent only while no save has completed; otherwise it loads, and its
 * predictions equal bit for bit those of the weights of the last reported
 * generation or of the one in flight (whose rename may have landed before the
 * report could be written). The weights of generation g are a fixed function
 * of g, so the parent rebuilds them independently of the file. Then damaged
 * copies of the checkpoint (a byte flipped anywhere, truncated) must be
 * refused with KCL_ERR_FORMAT.
 *
 * The child is started with fork + exec, not fork alone: an OpenCL driver's
 * threads do not survive fork, so the child must initialise its own. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

enum { IN = 16, HIDDEN = 48, OUT = 4, ROWS = 8, KILLS = 40 };

static const char *self_path;       /* this program, for the child */
static char dir[256], ckpt[300], cache[300];

/* ---------------------------------------------------------- the model -- */

static kcl_model *build_model(kcl_context *c)
{
    kcl_model *m;
    if (kcl_sequential(c, &m) ||
        kcl_model_add(m, kcl_layer_dense(HIDDEN, .name = "h", .input_dim = IN,
                                         .activation = "tanh")) ||
        kcl_model_add(m, kcl_layer_dense(OUT, .name = "o")) ||
        kcl_compile(m, kcl_adam(.learning_rate = 1e-3f), "mse", NULL))
        return NULL;
    return m;
}

/* Generation g's weights: a fixed function of g (and of the weight). */
static kcl_status set_generation(kcl_model *m, uint64_t g)
{
    static const char *const layers[] = {"h", "o"};
    for (size_t l = 0; l < 2; l++) {
        kcl_layer *layer = kcl_model_layer_by_name(m, layers[l]);
        for (size_t i = 0; i < kcl_layer_weight_count(layer); i++) {
            size_t n = (size_t)kcl_tensor_size(kcl_layer_weight(layer, i));
            float *v = malloc(n * sizeof *v);
            if (!v)
                return KCL_ERR_MEMORY;
            uint64_t s = g * 0x9E3779B97F4A7C15ULL + 4 * l + i + 1;
            for (size_t k = 0; k < n; k++)
                v[k] = test_uniform(&s);
            kcl_status st = kcl_layer_set_weight(layer, i, v, n);
            free(v);
            if (st)
                return st;
        }
    }
    return KCL_OK;
}

/* ---------------------------------------------------------- the child -- */

static void report(int fd, const char *line)
{
    size_t n = strlen(line);
    while (n) {   /* a line is far below PIPE_BUF: one write, but be sure */
        ssize_t w = write(fd, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        line += w;
        n -= (size_t)w;
    }
}

/* Saves generations first, first + 1, ... until killed. Exit status 1 (and a
 * message on stderr) on any failure, which the parent treats as a failed test. */
static int saver(int fd, const char *path, const char *cache_dir, uint64_t first)
{
    kcl_context_options opt = {.cache_dir = cache_dir};
    kcl_context *c;
    if (kcl_context_create(&c, &opt)) {
        fprintf(stderr, "saver: %s\n", kcl_errmsg(NULL));
        return 1;
    }
    kcl_model *m = build_model(c);
    report(fd, "ready\n");
    for (uint64_t g = first; m; g++) {
        char line[32];
        if (set_generation(m, g) || kcl_model_save(m, path))
            break;
        snprintf(line, sizeof line, "%llu\n", (unsigned long long)g);
        report(fd, line);
    }
    fprintf(stderr, "saver: %s\n", kcl_errmsg(c));
    kcl_context_free(c);
    return 1;
}

/* ------------------------------------------------------------- parent -- */

static kcl_context *ctx;
static kcl_model *ref_model;        /* the parent's copy, for reference predictions */
static kcl_tensor *x;               /* the fixed input */

/* The model's prediction on x, malloc'ed (ROWS * OUT floats). */
static float *predict(kcl_model *m)
{
    kcl_tensor *y;
    CHECK_OK(ctx, kcl_predict_on_batch(m, &x, &y));
    float *v = malloc(ROWS * OUT * sizeof *v);
    assert_non_null(v);
    CHECK_OK(ctx, kcl_tensor_read(y, v, ROWS * OUT));
    kcl_tensor_free(y);
    return v;
}

static float *predict_generation(uint64_t g)
{
    CHECK_OK(ctx, set_generation(ref_model, g));
    return predict(ref_model);
}

typedef struct child {
    pid_t pid;
    int fd;                  /* read end of its pipe */
    char buf[256];
    size_t used;
    bool ready;
    uint64_t last_done;      /* last generation reported complete; 0: none */
} child;

static void start_child(child *ch, uint64_t first)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        char fd_text[16], first_text[32];
        snprintf(fd_text, sizeof fd_text, "%d", p[1]);
        snprintf(first_text, sizeof first_text, "%llu", (unsigned long long)first);
        execl(self_path, self_path, "--saver", fd_text, ckpt, cache, first_text, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    ch->pid = pid;
    ch->fd = p[0];
    ch->used = 0;
    ch->ready = false;
}

/* Reads whatever the child wrote within timeout_ms; false at end of file. */
static bool drain(child *ch, int timeout_ms)
{
    struct pollfd pf = {ch->fd, POLLIN, 0};
    if (poll(&pf, 1, timeout_ms) <= 0)
        return true;
    ssize_t n = read(ch->fd, ch->buf + ch->used, sizeof ch->buf - 1 - ch->used);
    if (n <= 0)
        return false;
    ch->used += (size_t)n;
    ch->buf[ch->used] = '\0';
    char *line = ch->buf, *nl;
    while ((nl = strchr(line, '\n'))) {
        *nl = '\0';
        if (strcmp(line, "ready") == 0)
            ch->ready = true;
        else
            ch->last_done = strtoull(line, NULL, 10);
        line = nl + 1;
    }
    ch->used = strlen(line);
    memmove(ch->buf, line, ch->used + 1);
    return true;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Lets the child run for delay_ms (after it is ready when wait_ready), then
 * kills it and collects what it reported. Fails the test if it died first. */
static void run_and_kill(child *ch, bool wait_ready, double delay_ms)
{
    double start = now_ms();
    while (wait_ready && !ch->ready && now_ms() - start < 60e3)
        if (!drain(ch, 50))
            break;
    assert_true(!wait_ready || ch->ready);
    double until = now_ms() + delay_ms;
    while (now_ms() < until) {
        int left = (int)(until - now_ms());
        if (!drain(ch, left > 0 ? left : 0))
            fail_msg("the saver exited by itself (see its message above)");
    }
    kill(ch->pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(ch->pid, &status, 0), ch->pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (drain(ch, 0) && ch->used < sizeof ch->buf - 1) {
        struct pollfd pf = {ch->fd, POLLIN, 0};
        if (poll(&pf, 1, 0) <= 0)
            break;
    }
    close(ch->fd);
}

/* The checkpoint after a kill: absent only before any completed save, else
 * generation last_done or last_done + 1 exactly. Returns the generation. */
static uint64_t check_checkpoint(uint64_t last_done)
{
    struct stat sb;
    if (stat(ckpt, &sb) != 0) {
        assert_int_equal(errno, ENOENT);
        assert_true(last_done == 0);
        return 0;
    }
    kcl_model *m = NULL;
    CHECK_OK(ctx, kcl_model_load(ctx, ckpt, &m));
    float *got = predict(m);
    kcl_model_free(m);
    uint64_t match = 0;
    for (uint64_t g = last_done ? last_done : 1; g <= last_done + 1 && !match; g++) {
        float *want = predict_generation(g);
        if (memcmp(got, want, ROWS * OUT * sizeof *got) == 0)
            match = g;
        free(want);
    }
    free(got);
    if (!match)
        fail_msg("the checkpoint matches neither generation %llu nor the next",
                 (unsigned long long)last_done);
    return match;
}

static void test_kill_during_saves(void **state)
{
    (void)state;
    uint64_t rng = 20261125, last_done = 0, first = 1;
    int during_startup = 0, mid_run = 0, in_flight_landed = 0;
    double start = now_ms();
    for (int k = 0; k < KILLS; k++) {
        child ch = {.last_done = 0};
        start_child(&ch, first);
        /* One kill in eight during start-up (context, kernels, model), the
         * rest after a few milliseconds of saving: a save takes about one. */
        bool startup = test_uniform(&rng) > 0.75f;
        double delay = startup ? (test_uniform(&rng) + 1) * 100 : (test_uniform(&rng) + 1) * 6;
        run_and_kill(&ch, !startup, delay);
        if (ch.last_done)
            last_done = ch.last_done;
        uint64_t found = check_checkpoint(last_done);
        during_startup += startup;
        mid_run += !startup;
        in_flight_landed += found && found == last_done + 1;
        if (found > last_done)
            last_done = found;   /* the child wrote it; it is the newest */
        /* Generation numbers may repeat across children (one in flight when
         * killed is saved again): a number always means the same weights. */
        first = last_done + 1;
    }
    printf("# %d kills (%d in start-up), %llu generations, %d kills after the rename before the "
           "report, %.1f s\n", KILLS, during_startup, (unsigned long long)last_done,
           in_flight_landed, (now_ms() - start) / 1e3);
    /* Saves did complete between kills, so the kills landed among them. */
    assert_true(last_done >= (uint64_t)mid_run / 2);
}

/* -------------------------------------------------- damaged checkpoints -- */

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)n);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return data;
}

static void spill(const char *path, const unsigned char *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

static void expect_refused(const char *path, const char *what, size_t where)
{
    kcl_model *m = (kcl_model *)1;
    kcl_status st = kcl_model_load(ctx, path, &m);
    if (st != KCL_ERR_FORMAT)
        fail_msg("%s at byte %zu: %s, want KCL_ERR_FORMAT (%s)", what, where,
                 kcl_status_name(st), kcl_errmsg(ctx));
    assert_null(m);
}

static void test_damaged_checkpoint_refused(void **state)
{
    (void)state;
    char good[320], bad[320];
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    CHECK_OK(ctx, set_generation(ref_model, 7));
    CHECK_OK(ctx, kcl_model_save(ref_model, good));
    size_t size;
    unsigned char *file = slurp(good, &size);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--)
        header = header << 8 | file[i];
    assert_true(header + 8 < size);
    /* Bytes of the length, the header (every kind: names, shapes, offsets,
     * the architecture in the metadata, padding) and the data. */
    uint64_t rng = 7;
    for (int k = 0; k < 200; k++) {
        size_t at = k < 8 ? (size_t)k
                  : k < 150 ? 8 + (size_t)((test_uniform(&rng) + 1) / 2 * (double)header)
                            : 8 + header + (size_t)((test_uniform(&rng) + 1) / 2 * (double)(size - 8 - header));
        if (at >= size)
            at = size - 1;
        unsigned char flip = (unsigned char)(1u << (k % 8));
        file[at] ^= flip;
        spill(bad, file, size);
        file[at] ^= flip;
        expect_refused(bad, "a flipped bit", at);
    }
    for (int k = 0; k < 40; k++) {
        size_t cut = (size_t)((test_uniform(&rng) + 1) / 2 * (double)size);
        spill(bad, file, cut < size ? cut : size - 1);
        expect_refused(bad, "truncated", cut);
    }
    /* The intact copy still loads: the refusals were the damage's doing. */
    spill(bad, file, size);
    kcl_model *m;
    CHECK_OK(ctx, kcl_model_load(ctx, bad, &m));
    kcl_model_free(m);
    free(file);
}

/* ---------------------------------------------------------------- main -- */

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/kcl_test_crash_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    ctx = test_context();
    ref_model = build_model(ctx);
    float xv[ROWS * IN];
    uint64_t s = 99;
    for (size_t i = 0; i < ROWS * IN; i++)
        xv[i] = test_uniform(&s);
    int64_t shape[2] = {ROWS, IN};
    return ref_model && kcl_tensor_from_host(ctx, 2, shape, xv, &x) == KCL_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    kcl_model_free(ref_model);
    kcl_context_free(ctx);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--saver") == 0)
        return saver(atoi(argv[2]), argv[3], argv[4], strtoull(argv[5], NULL, 10));
    self_path = argv[0];
    test_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_saves),
        cmocka_unit_test(test_damaged_checkpoint_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
