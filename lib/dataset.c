/* dataset.c: tf.data-style pipelines over host arrays.
 *
 * A pipeline is a chain of stages, the source at the bottom and the last
 * transformation called on top. Stages pass around elements that are lists of
 * source rows (one row before batch(), up to batch_size after), so shuffling
 * and repeating move indices, never data. kcl_dataset_next gathers the rows of
 * an element into a host staging buffer and uploads it without blocking; it
 * always keeps the following element uploading while the caller computes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------ host arrays -- */

void kcl_array_free(kcl_array *a)
{
    if (!a)
        return;
    free(a->data);
    a->data = NULL;
}

int64_t kcl_array_size(const kcl_array *a)
{
    if (!a || a->rank < 0 || a->rank > KCL_MAX_RANK)
        return -1;
    return kcl__shape_size(a->rank, a->shape);
}

/* ----------------------------------------------------------------- stages -- */

typedef enum stage_kind {
    STAGE_SOURCE,
    STAGE_SHUFFLE,
    STAGE_BATCH,
    STAGE_REPEAT,
    STAGE_TAKE,
    STAGE_SKIP,
} stage_kind;

/* Rows of the source arrays that make one element. */
typedef struct element {
    int64_t count;
    int64_t *rows;               /* capacity: the producing stage's width */
} element;

typedef struct stage stage;
struct stage {
    stage_kind kind;
    stage *input;                /* NULL for the source */
    int64_t width;               /* most rows in one element this stage yields */
    int64_t cardinality;         /* elements per pass; -1 infinite */
    int64_t count;               /* rows, batch size, buffer size, repeat/take/skip count */
    bool drop_remainder;
    uint64_t seed;

    /* Iteration state, set by stage_reset. */
    int64_t pos;                 /* source: next row; take: taken; repeat: passes done */
    bool finished;               /* repeat: all passes done; skip: skipping done */
    bool input_done;             /* shuffle: the input is exhausted */
    uint64_t passes;             /* shuffle: passes started, for the seed */
    uint64_t rng;
    int64_t filled, cap;         /* shuffle buffer: elements held, allocated */
    int64_t *counts, *rows;      /* shuffle buffer: cap elements of width rows */
};

/* splitmix64: seeds per (seed, pass) and the shuffle's random stream. */
static uint64_t mix(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Back to the start of a pass; a shuffle draws a new order each time, so a
 * shuffle below repeat() reshuffles every repetition, as in tf.data. */
static void stage_reset(stage *s)
{
    if (s->input)
        stage_reset(s->input);
    s->pos = 0;
    s->finished = s->input_done = false;
    s->filled = 0;
    if (s->kind == STAGE_SHUFFLE) {
        uint64_t state = s->seed;
        uint64_t pass_key = mix(&state) ^ ++s->passes;
        s->rng = mix(&pass_key);
    }
}

static kcl_status stage_next(kcl_context *ctx, stage *s, element *out, bool *got);

static kcl_status source_next(stage *s, element *out, bool *got)
{
    *got = s->pos < s->count;
    if (*got) {
        out->count = 1;
        out->rows[0] = s->pos++;
    }
    return KCL_OK;
}

static kcl_status shuffle_grow(kcl_context *ctx, stage *s)
{
    int64_t cap = s->cap ? s->cap * 2 : 64;
    cap = cap < s->count ? cap : s->count;
    int64_t *counts = realloc(s->counts, (size_t)cap * sizeof *counts);
    if (counts)
        s->counts = counts;
    int64_t *rows = counts ? realloc(s->rows, (size_t)(cap * s->width) * sizeof *rows) : NULL;
    if (!rows)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_dataset_shuffle: out of host memory for "
                         "a buffer of %lld elements", (long long)cap);
    s->rows = rows;
    s->cap = cap;
    return KCL_OK;
}

/* Pulls the next input element into buffer slot i; false at the input's end. */
static kcl_status shuffle_pull(kcl_context *ctx, stage *s, int64_t i, bool *got)
{
    *got = false;
    if (s->input_done)
        return KCL_OK;
    element e = {0, s->rows + i * s->width};
    kcl_status st = stage_next(ctx, s->input, &e, got);
    s->counts[i] = e.count;
    s->input_done = !st && !*got;
    return st;
}

/* tf.data's ShuffleDataset: fill a buffer of buffer_size elements; each output
 * is a uniformly random element of the buffer, whose slot the next input
 * element takes (or, once the input is exhausted, the buffer's last one). */
static kcl_status shuffle_next(kcl_context *ctx, stage *s, element *out, bool *got)
{
    kcl_status st;
    bool pulled;
    while (s->filled < s->count && !s->input_done) {
        if (s->filled == s->cap && (st = shuffle_grow(ctx, s)) != KCL_OK)
            return st;
        if ((st = shuffle_pull(ctx, s, s->filled, &pulled)) != KCL_OK)
            return st;
        s->filled += pulled;
    }
    *got = s->filled > 0;
    if (!*got)
        return KCL_OK;
    int64_t i = (int64_t)(mix(&s->rng) % (uint64_t)s->filled);
    out->count = s->counts[i];
    memcpy(out->rows, s->rows + i * s->width, (size_t)out->count * sizeof *out->rows);
    if ((st = shuffle_pull(ctx, s, i, &pulled)) != KCL_OK || pulled)
        return st;
    int64_t last = --s->filled;
    if (i == last)
        return KCL_OK;
    s->counts[i] = s->counts[last];
    memcpy(s->rows + i * s->width, s->rows + last * s->width,
           (size_t)s->counts[i] * sizeof *s->rows);
    return KCL_OK;
}

static kcl_status batch_next(kcl_context *ctx, stage *s, element *out, bool *got)
{
    out->count = 0;
    bool more = true;
    while (more && out->count < s->count) {
        element one = {0, out->rows + out->count};
        kcl_status st = stage_next(ctx, s->input, &one, &more);
        if (st)
            return st;
        out->count += more;
    }
    *got = out->count > 0 && (out->count == s->count || !s->drop_remainder);
    return KCL_OK;
}

static kcl_status repeat_next(kcl_context *ctx, stage *s, element *out, bool *got)
{
    *got = false;
    if (s->count >= 0 && s->pos >= s->count)
        s->finished = true;        /* repeat(0) */
    for (int tries = 0; !s->finished && tries < 2; tries++) {
        kcl_status st = stage_next(ctx, s->input, out, got);
        if (st || *got)
            return st;
        /* One pass is over: start the next unless the count is reached. A
         * fresh pass that yields nothing means the input is empty: stop. */
        s->pos++;
        s->finished = tries == 1 || (s->count >= 0 && s->pos >= s->count);
        if (!s->finished)
            stage_reset(s->input);
    }
    s->finished = true;
    return KCL_OK;
}

static kcl_status take_next(kcl_context *ctx, stage *s, element *out, bool *got)
{
    *got = false;
    if (s->count >= 0 && s->pos >= s->count)
        return KCL_OK;
    kcl_status st = stage_next(ctx, s->input, out, got);
    s->pos += *got;
    return st;
}

static kcl_status skip_next(kcl_context *ctx, stage *s, element *out, bool *got)
{
    for (; !s->finished; s->pos++) {
        if (s->count >= 0 && s->pos >= s->count)
            break;
        kcl_status st = stage_next(ctx, s->input, out, got);
        if (st || !*got)
            return st;
    }
    s->finished = true;
    return stage_next(ctx, s->input, out, got);
}

static kcl_status stage_next(kcl_context *ctx, stage *s, element *out, bool *got)
{
    switch (s->kind) {
    case STAGE_SOURCE: return source_next(s, out, got);
    case STAGE_SHUFFLE: return shuffle_next(ctx, s, out, got);
    case STAGE_BATCH: return batch_next(ctx, s, out, got);
    case STAGE_REPEAT: return repeat_next(ctx, s, out, got);
    case STAGE_TAKE: return take_next(ctx, s, out, got);
    case STAGE_SKIP: return skip_next(ctx, s, out, got);
    }
    return KCL_OK;
}

static void stages_free(stage *s)
{
    while (s) {
        stage *input = s->input;
        free(s->counts);
        free(s->rows);
        free(s);
        s = input;
    }
}

/* ---------------------------------------------------------------- dataset -- */

typedef struct ds_array {
    float *data;
    int rank;
    int64_t shape[KCL_MAX_RANK];
    int64_t row_size;            /* values per row (first-axis slice) */
} ds_array;

/* Host memory a non-blocking upload reads from: it must stay untouched until
 * the upload's event completes. */
typedef struct staging {
    float **host;                /* per array: width * row_size values */
    cl_event *events;            /* per array: the upload still reading host, or NULL */
} staging;

struct kcl_dataset {
    kcl_context *ctx;
    size_t n_arrays;
    ds_array *arrays;
    stage *top;
    bool batched;

    bool started;                /* the pass has begun (the first next() after a rewind) */
    element fetch;               /* scratch: top->width rows */
    kcl_tensor **pending;        /* the next element, uploading; NULL entries: none */
    bool pending_done;           /* the pass ended: no next element */
    staging slots[2];
    int next_slot;
    int64_t staged_width;        /* width the staging buffers were allocated for */
};

static kcl_status wait_slot(kcl_dataset *ds, staging *slot)
{
    cl_int err = CL_SUCCESS;
    for (size_t a = 0; a < ds->n_arrays && slot->events; a++) {
        if (!slot->events[a])
            continue;
        /* Usually done long ago (two batches back): only a real wait counts. */
        cl_int done = CL_QUEUED;
        clGetEventInfo(slot->events[a], CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof done, &done,
                       NULL);
        ds->ctx->queue_stats.throttle_waits += done != CL_COMPLETE;
        cl_int e = done == CL_COMPLETE ? CL_SUCCESS : clWaitForEvents(1, &slot->events[a]);
        err = err ? err : e;
        clReleaseEvent(slot->events[a]);
        slot->events[a] = NULL;
    }
    return err ? kcl__fail_cl(ds->ctx, err, "clWaitForEvents") : KCL_OK;
}

static void drop_pending(kcl_dataset *ds)
{
    for (size_t a = 0; a < ds->n_arrays; a++) {
        kcl_tensor_free(ds->pending[a]);
        ds->pending[a] = NULL;
    }
}

/* Waits for every upload, then frees the staging memory (the element width
 * may have changed). */
static kcl_status free_staging(kcl_dataset *ds)
{
    kcl_status st = KCL_OK;
    for (int k = 0; k < 2; k++) {
        staging *slot = &ds->slots[k];
        kcl_status w = wait_slot(ds, slot);
        st = st ? st : w;
        for (size_t a = 0; a < ds->n_arrays && slot->host; a++)
            free(slot->host[a]);
        free(slot->host);
        free(slot->events);
        slot->host = NULL;
        slot->events = NULL;
    }
    ds->staged_width = 0;
    return st;
}

static kcl_status alloc_staging(kcl_dataset *ds)
{
    int64_t width = ds->top->width;
    for (int k = 0; k < 2; k++) {
        staging *slot = &ds->slots[k];
        slot->host = calloc(ds->n_arrays, sizeof *slot->host);
        slot->events = calloc(ds->n_arrays, sizeof *slot->events);
        for (size_t a = 0; slot->host && slot->events && a < ds->n_arrays; a++) {
            size_t n = (size_t)(width * ds->arrays[a].row_size);
            if (!(slot->host[a] = malloc((n ? n : 1) * sizeof(float))))
                break;
        }
        if (!slot->host || !slot->events || !slot->host[ds->n_arrays - 1]) {
            free_staging(ds);
            return kcl__fail(ds->ctx, KCL_ERR_MEMORY, "kcl_dataset_next: out of host memory "
                             "for staging %lld rows", (long long)width);
        }
    }
    ds->staged_width = width;
    return KCL_OK;
}

/* Gathers the element's rows into a staging slot and uploads them into new
 * tensors without blocking. */
static kcl_status upload(kcl_dataset *ds, const element *e, kcl_tensor **out)
{
    staging *slot = &ds->slots[ds->next_slot];
    ds->next_slot ^= 1;
    kcl_status st = wait_slot(ds, slot);
    for (size_t a = 0; !st && a < ds->n_arrays; a++) {
        const ds_array *arr = &ds->arrays[a];
        size_t row_bytes = (size_t)arr->row_size * sizeof(float);
        for (int64_t r = 0; r < e->count; r++)
            memcpy(slot->host[a] + r * arr->row_size, arr->data + e->rows[r] * arr->row_size,
                   row_bytes);
        int64_t shape[KCL_MAX_RANK];
        int rank = ds->batched ? arr->rank : arr->rank - 1;
        memcpy(shape, ds->batched ? arr->shape : arr->shape + 1, (size_t)rank * sizeof *shape);
        if (ds->batched)
            shape[0] = e->count;
        if ((st = kcl__tensor_new(ds->ctx, rank, shape, &out[a])) != KCL_OK || !out[a]->size)
            continue;
        ds->ctx->queue_stats.transfers++;
        cl_int err = kcl__fault(ds->ctx, KCL_FAULT_ENQUEUE);
        if (!err)
            err = clEnqueueWriteBuffer(ds->ctx->queue, out[a]->storage->mem, CL_FALSE,
                                          out[a]->offset * sizeof(float),
                                          (size_t)out[a]->size * sizeof(float), slot->host[a],
                                          0, NULL, &slot->events[a]);
        if (err)
            st = kcl__fail_cl(ds->ctx, err, "kcl_dataset_next: clEnqueueWriteBuffer");
    }
    return st;
}

/* Fetches the pass's next element into ds->pending (or notes the end). */
static kcl_status prefetch(kcl_dataset *ds)
{
    bool got;
    kcl_status st = stage_next(ds->ctx, ds->top, &ds->fetch, &got);
    if (st)
        return st;
    ds->pending_done = !got;
    if (!got)
        return KCL_OK;
    if ((st = upload(ds, &ds->fetch, ds->pending)) != KCL_OK)
        drop_pending(ds);
    return st;
}

static kcl_status start_pass(kcl_dataset *ds)
{
    kcl_status st;
    if (ds->staged_width != ds->top->width) {
        if ((st = free_staging(ds)) != KCL_OK || (st = alloc_staging(ds)) != KCL_OK)
            return st;
        int64_t *rows = realloc(ds->fetch.rows, (size_t)ds->top->width * sizeof *rows);
        if (!rows)
            return kcl__fail(ds->ctx, KCL_ERR_MEMORY, "kcl_dataset_next: out of host memory");
        ds->fetch.rows = rows;
    }
    stage_reset(ds->top);
    ds->started = true;
    return prefetch(ds);
}

kcl_status kcl_dataset_next(kcl_dataset *ds, kcl_tensor **tensors, int *done)
{
    if (!ds || !tensors || !done)
        return kcl__fail(ds ? ds->ctx : NULL, KCL_ERR_ARGUMENT, "kcl_dataset_next: NULL argument");
    memset(tensors, 0, ds->n_arrays * sizeof *tensors);
    *done = 0;
    kcl_status st;
    if (!ds->started && (st = start_pass(ds)) != KCL_OK) {
        ds->started = false;
        return st;
    }
    if (ds->pending_done) {
        *done = 1;
        return KCL_OK;
    }
    memcpy(tensors, ds->pending, ds->n_arrays * sizeof *tensors);
    memset(ds->pending, 0, ds->n_arrays * sizeof *ds->pending);
    if ((st = prefetch(ds)) != KCL_OK) {
        for (size_t a = 0; a < ds->n_arrays; a++) {
            kcl_tensor_free(tensors[a]);
            tensors[a] = NULL;
        }
        ds->started = false;       /* the caller may rewind and try again */
    }
    return st;
}

kcl_status kcl_dataset_rewind(kcl_dataset *ds)
{
    if (!ds)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_dataset_rewind: NULL dataset");
    drop_pending(ds);
    ds->started = false;
    return KCL_OK;
}

/* ------------------------------------------------------------ construction -- */

void kcl_dataset_free(kcl_dataset *ds)
{
    if (!ds)
        return;
    if (ds->pending)
        drop_pending(ds);
    free_staging(ds);
    for (size_t a = 0; ds->arrays && a < ds->n_arrays; a++)
        free(ds->arrays[a].data);
    free(ds->arrays);
    free(ds->pending);
    free(ds->fetch.rows);
    stages_free(ds->top);
    free(ds);
}

static kcl_status check_array(kcl_context *ctx, size_t i, const kcl_array *a, int64_t *size)
{
    char buf[256];
    if (a->rank < 1 || a->rank > KCL_MAX_RANK)
        return kcl__fail(ctx, KCL_ERR_SHAPE, "kcl_dataset_from_tensor_slices: array %zu has "
                         "rank %d; slicing needs 1..%d", i, a->rank, KCL_MAX_RANK);
    *size = kcl__shape_size(a->rank, a->shape);
    if (*size < 0)
        return kcl__fail(ctx, KCL_ERR_SHAPE, "kcl_dataset_from_tensor_slices: array %zu has "
                         "an invalid shape %s", i, kcl__shape_str(a->rank, a->shape, buf,
                                                                 sizeof buf));
    if (*size && !a->data)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_dataset_from_tensor_slices: array %zu "
                         "has NULL data", i);
    return KCL_OK;
}

static kcl_status check_arrays(kcl_context *ctx, size_t n, const kcl_array *arrays)
{
    for (size_t i = 0; i < n; i++) {
        int64_t size;
        kcl_status st = check_array(ctx, i, &arrays[i], &size);
        if (st)
            return st;
        if (arrays[i].shape[0] != arrays[0].shape[0]) {
            char a[256], b[256];
            return kcl__fail(ctx, KCL_ERR_SHAPE, "kcl_dataset_from_tensor_slices: array 0 %s "
                             "and array %zu %s differ in their first dimension",
                             kcl__shape_str(arrays[0].rank, arrays[0].shape, a, sizeof a), i,
                             kcl__shape_str(arrays[i].rank, arrays[i].shape, b, sizeof b));
        }
    }
    return KCL_OK;
}

static kcl_status copy_arrays(kcl_dataset *ds, const kcl_array *arrays)
{
    for (size_t i = 0; i < ds->n_arrays; i++) {
        const kcl_array *a = &arrays[i];
        ds_array *d = &ds->arrays[i];
        int64_t size = kcl__shape_size(a->rank, a->shape);
        d->rank = a->rank;
        memcpy(d->shape, a->shape, sizeof d->shape);
        d->row_size = kcl__shape_size(a->rank - 1, a->shape + 1);
        d->data = malloc(size ? (size_t)size * sizeof(float) : 1);
        if (!d->data)
            return kcl__fail(ds->ctx, KCL_ERR_MEMORY, "kcl_dataset_from_tensor_slices: out "
                             "of host memory copying array %zu", i);
        if (size)
            memcpy(d->data, a->data, (size_t)size * sizeof(float));
    }
    return KCL_OK;
}

kcl_status kcl_dataset_from_tensor_slices(kcl_context *ctx, size_t n_arrays,
                                          const kcl_array *arrays, kcl_dataset **out)
{
    if (!ctx || !arrays || !out || !n_arrays)
        return kcl__fail(ctx, KCL_ERR_ARGUMENT, "kcl_dataset_from_tensor_slices: NULL "
                         "argument or no arrays");
    *out = NULL;
    kcl_status st = check_arrays(ctx, n_arrays, arrays);
    if (st)
        return st;
    kcl_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_dataset_from_tensor_slices: out of memory");
    ds->ctx = ctx;
    ds->n_arrays = n_arrays;
    ds->arrays = calloc(n_arrays, sizeof *ds->arrays);
    ds->pending = calloc(n_arrays, sizeof *ds->pending);
    ds->top = calloc(1, sizeof *ds->top);
    if (!ds->arrays || !ds->pending || !ds->top)
        st = kcl__fail(ctx, KCL_ERR_MEMORY, "kcl_dataset_from_tensor_slices: out of memory");
    else
        st = copy_arrays(ds, arrays);
    if (st) {
        kcl_dataset_free(ds);
        return st;
    }
    ds->top->kind = STAGE_SOURCE;
    ds->top->width = 1;
    ds->top->cardinality = ds->top->count = arrays[0].shape[0];
    *out = ds;
    return KCL_OK;
}

/* Puts a new stage on top; the pipeline starts over at its next pass, with
 * every shuffle back to its first order. */
static kcl_status push_stage(kcl_dataset *ds, const char *fn, stage *proto)
{
    stage *s = malloc(sizeof *s);
    if (!s)
        return kcl__fail(ds->ctx, KCL_ERR_MEMORY, "%s: out of host memory", fn);
    kcl_status st = free_staging(ds);
    *s = *proto;
    s->input = ds->top;
    if (!s->width)
        s->width = s->input->width;
    ds->top = s;
    drop_pending(ds);
    ds->started = false;
    for (stage *t = ds->top; t; t = t->input)
        t->passes = 0;
    return st;
}

/* ---------------------------------------------------------- transformations -- */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

kcl_status kcl_dataset_shuffle(kcl_dataset *ds, size_t buffer_size, uint64_t seed)
{
    if (!ds)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_dataset_shuffle: NULL dataset");
    if (buffer_size == 0)
        return kcl__fail(ds->ctx, KCL_ERR_ARGUMENT, "kcl_dataset_shuffle: buffer_size must be "
                         "at least 1");
    int64_t card = ds->top->cardinality;
    /* A buffer larger than the input never fills: cap it (memory grows lazily anyway). */
    int64_t size = buffer_size > (size_t)INT64_MAX ? INT64_MAX : (int64_t)buffer_size;
    if (card >= 0)
        size = min64(size, card > 0 ? card : 1);
    stage s = {.kind = STAGE_SHUFFLE, .count = size, .seed = seed, .cardinality = card};
    return push_stage(ds, "kcl_dataset_shuffle", &s);
}

kcl_status kcl_dataset_batch(kcl_dataset *ds, size_t batch_size, int drop_remainder)
{
    if (!ds)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_dataset_batch: NULL dataset");
    if (batch_size == 0 || batch_size > (size_t)INT64_MAX)
        return kcl__fail(ds->ctx, KCL_ERR_ARGUMENT, "kcl_dataset_batch: batch_size %zu must "
                         "be at least 1", batch_size);
    if (ds->batched)
        return kcl__fail(ds->ctx, KCL_ERR_STATE, "kcl_dataset_batch: the dataset is already "
                         "batched (batches of batches are not supported)");
    int64_t size = (int64_t)batch_size, card = ds->top->cardinality;
    /* Rows an element can really hold: a huge batch of a small dataset stays small. */
    int64_t width = card >= 0 ? min64(size, card > 0 ? card : 1) : size;
    for (size_t a = 0; a < ds->n_arrays; a++)
        if (width > INT64_MAX / 8 / (ds->arrays[a].row_size ? ds->arrays[a].row_size : 1))
            return kcl__fail(ds->ctx, KCL_ERR_ARGUMENT, "kcl_dataset_batch: batch_size %zu "
                             "is too large", batch_size);
    stage s = {.kind = STAGE_BATCH, .count = size, .drop_remainder = drop_remainder != 0,
               .width = width,
               .cardinality = card < 0 ? -1 : drop_remainder ? card / size
                                                             : card / size + (card % size != 0)};
    kcl_status st = push_stage(ds, "kcl_dataset_batch", &s);
    ds->batched = st == KCL_OK;
    return st;
}

kcl_status kcl_dataset_repeat(kcl_dataset *ds, int64_t count)
{
    if (!ds)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_dataset_repeat: NULL dataset");
    int64_t card = ds->top->cardinality;
    if (count < -1)
        return kcl__fail(ds->ctx, KCL_ERR_ARGUMENT, "kcl_dataset_repeat: count %lld must be "
                         ">= 0 or -1 (forever)", (long long)count);
    if (card > 0 && count > 0 && card > INT64_MAX / count)
        return kcl__fail(ds->ctx, KCL_ERR_ARGUMENT, "kcl_dataset_repeat: %lld passes of %lld "
                         "elements overflow", (long long)count, (long long)card);
    int64_t result = card == 0 || count == 0 ? 0 : card < 0 || count < 0 ? -1 : card * count;
    stage s = {.kind = STAGE_REPEAT, .count = count, .cardinality = result};
    return push_stage(ds, "kcl_dataset_repeat", &s);
}

kcl_status kcl_dataset_take(kcl_dataset *ds, int64_t count)
{
    if (!ds)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_dataset_take: NULL dataset");
    if (count < -1)
        return kcl__fail(ds->ctx, KCL_ERR_ARGUMENT, "kcl_dataset_take: count %lld must be "
                         ">= 0 or -1 (all)", (long long)count);
    int64_t card = ds->top->cardinality;
    int64_t result = count < 0 ? card : card < 0 ? count : min64(card, count);
    stage s = {.kind = STAGE_TAKE, .count = count, .cardinality = result};
    return push_stage(ds, "kcl_dataset_take", &s);
}

kcl_status kcl_dataset_skip(kcl_dataset *ds, int64_t count)
{
    if (!ds)
        return kcl__fail(NULL, KCL_ERR_ARGUMENT, "kcl_dataset_skip: NULL dataset");
    int64_t card = ds->top->cardinality;
    if (count < -1)
        return kcl__fail(ds->ctx, KCL_ERR_ARGUMENT, "kcl_dataset_skip: count %lld must be "
                         ">= 0 or -1 (all)", (long long)count);
    if (count == -1 && card < 0)
        return kcl__fail(ds->ctx, KCL_ERR_ARGUMENT, "kcl_dataset_skip: skipping all of an "
                         "infinite dataset would never end");
    int64_t result = card < 0 ? -1 : count < 0 ? 0 : card > count ? card - count : 0;
    stage s = {.kind = STAGE_SKIP, .count = count, .cardinality = result};
    return push_stage(ds, "kcl_dataset_skip", &s);
}

/* --------------------------------------------------------------- queries -- */

int64_t kcl_dataset_cardinality(const kcl_dataset *ds)
{
    return ds ? ds->top->cardinality : 0;
}

size_t kcl_dataset_arrays(const kcl_dataset *ds)
{
    return ds ? ds->n_arrays : 0;
}
