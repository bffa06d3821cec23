/* model.h: layers and models inside kcl (layers.c, model.c, train.c and the
 * save/load and callback code share these). */
#ifndef KCL_MODEL_H
#define KCL_MODEL_H

#include "internal.h"

/* A shape with the batch axis first, -1 where unknown (Keras' None). */
typedef struct kcl_shape {
    int rank;
    int64_t dims[KCL_MAX_RANK];
} kcl_shape;

const char *kcl__shape_text(const kcl_shape *s, char *buf, size_t size);  /* "(None, 28, 28)" */
/* Whether got can stand where want is expected: same rank, and every axis
 * but the batch equal where both are known (-1 matches anything). */
bool kcl__shape_accepts(const kcl_shape *want, const kcl_shape *got);
/* A tensor's shape as a kcl_shape. */
kcl_shape kcl__shape_of_tensor(const kcl_tensor *t);

/* What a layer class does: one entry per class (layers.c). */
typedef struct kcl_layer_kind {
    const char *class_name;      /* "Dense" */
    const char *base_name;       /* "dense": automatic names dense, dense_1, ... */
    int min_inputs, max_inputs;
    /* Checks the input shapes, creates the weights on first use (ctx), and
     * gives the output shape. Errors name the layer and the shapes. */
    kcl_status (*build)(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                        kcl_shape *out);
    /* The forward pass on real tensors with the public ops (so tapes record it). */
    kcl_status (*call)(kcl_layer *layer, int n, kcl_tensor *const *in, bool training,
                       kcl_tensor **out);
    void (*destroy)(kcl_layer *layer);
} kcl_layer_kind;

#define KCL_LAYER_MAX_WEIGHTS 4

struct kcl_layer {
    const kcl_layer_kind *kind;
    char *name;                  /* set when first used (automatic names need a context) */
    char *requested_name;        /* options.name */
    bool trainable;
    bool adopted;                /* a model or a call owns it */
    bool built;
    int refs;                    /* models and syms holding it */
    kcl_context *ctx;
    kcl_shape input_shape;       /* from input_shape / input_dim; rank 0: none */
    size_t n_weights;
    kcl_tensor *weights[KCL_LAYER_MAX_WEIGHTS];
    const char *weight_names[KCL_LAYER_MAX_WEIGHTS];
    kcl_regularizer regularizers[KCL_LAYER_MAX_WEIGHTS];
    char *error;                 /* a bad constructor argument, reported when used */
    kcl_model *inner;            /* a model used as a layer */
    uint64_t calls;              /* training calls so far (Dropout's seed stream) */
    void *options;               /* the kind's copy of its options */
    void *state;                 /* the kind's private data */
};

/* Takes a reference for a model or call; names the layer on first use. */
kcl_status kcl__layer_adopt(kcl_layer *layer, kcl_context *ctx);
void kcl__layer_release(kcl_layer *layer);
/* Builds (once) and infers the output shape for these inputs. */
kcl_status kcl__layer_build(kcl_layer *layer, kcl_context *ctx, int n, const kcl_shape *in,
                            kcl_shape *out);
kcl_layer *kcl__layer_new(const kcl_layer_kind *kind, const char *name, const int64_t *input_shape,
                          int64_t input_dim, int not_trainable, const void *options,
                          size_t options_size);
/* Creates weight i of the layer: zero-filled, initialised, trainable as the layer. */
kcl_status kcl__layer_add_weight(kcl_layer *layer, kcl_context *ctx, const char *name, int rank,
                                 const int64_t *shape, const kcl_initializer *init,
                                 kcl_regularizer reg);
/* A layer wrapping a model (model.c). */
kcl_layer *kcl__model_layer_new(kcl_model *m);

/* ------------------------------------------------------------------ model -- */

typedef struct kcl_model_node {
    kcl_layer *layer;
    int n_in;
    int in[8];                   /* value indices */
    int out;                     /* value index */
} kcl_model_node;

struct kcl_sym {
    kcl_context *ctx;
    kcl_shape shape;
    kcl_layer *layer;            /* NULL for an Input */
    int n_in;
    kcl_sym *in[8];
    char *name;                  /* Inputs */
    kcl_sym *next;               /* in the context's list */
};

typedef struct kcl_train_state kcl_train_state;   /* train.c */

struct kcl_model {
    kcl_context *ctx;
    char *name;
    bool sequential;
    bool built;
    kcl_model_node *nodes;       /* topological order */
    size_t n_nodes;
    kcl_shape *values;           /* shape of each value; inputs first */
    size_t n_values;
    size_t n_inputs, n_outputs;
    int *outputs;                /* value index of each output */
    char **input_names;
    kcl_layer **layers;          /* unique layers in order */
    size_t n_layers;
    kcl_layer *as_layer;
    kcl_train_state *train;      /* compile settings and training state */
};

/* Runs the model on real tensors: outputs are new tensors (caller frees). */
kcl_status kcl__model_forward(kcl_model *m, kcl_tensor *const *inputs, bool training,
                              kcl_tensor **outputs);
/* Builds a Sequential model whose first layer had no input shape. */
kcl_status kcl__model_build(kcl_model *m, const kcl_shape *input);
/* Every weight of the model (recursing into nested models), trainable ones
 * first when trainable_only. *vars is malloc'ed. */
kcl_status kcl__model_weights(kcl_model *m, bool trainable_only, kcl_tensor ***vars, size_t *n);
void kcl__train_free(kcl_model *m);
void kcl__syms_free(kcl_context *ctx);
void kcl__names_free(kcl_context *ctx);
/* Keras' automatic names: "dense", "dense_1", ... per context; malloc'ed. */
char *kcl__auto_name(kcl_context *ctx, const char *base);

#endif
