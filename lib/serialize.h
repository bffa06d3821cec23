/* serialize.h: what the save / load files share (safetensors.c, save.c,
 * load.c, model_json.c); included by those files only. */
#ifndef KCL_SERIALIZE_H
#define KCL_SERIALIZE_H

#include "model.h"

/* ------------------------------------------------------------ safetensors -- */

/* The metadata key of the checksum: the CRC-32 (zlib) of the data section as
 * 8 hex digits; in files kcl writes followed by "-" and the CRC-32 of the
 * header itself (safetensors.c says how), so that a damaged header is caught
 * too. A value of 8 digits alone (older or foreign files) checks the data. */
#define KCL_ST_CHECKSUM_KEY "checksum_crc32"
/* The largest header read (the reference implementation's limit). */
#define KCL_ST_MAX_HEADER 100000000ULL

/* A tensor to write: count float32 values in host memory. */
typedef struct kcl_st_out {
    const char *name;
    int rank;
    const int64_t *shape;
    const float *values;
    size_t count;
} kcl_st_out;

/* A __metadata__ entry (string to string, as the format requires). */
typedef struct kcl_st_meta {
    const char *key;
    const char *value;
} kcl_st_meta;

/* Writes a safetensors file: the tensors in the order given, the metadata plus
 * the checksum. The file is written under a temporary name in the same
 * directory, synced and renamed over path; on failure the temporary file is
 * removed and an old file at path stays as it was. */
kcl_status kcl__st_write(kcl_context *ctx, const char *path, size_t n, const kcl_st_out *tensors,
                         size_t n_meta, const kcl_st_meta *meta);

/* A tensor read from a file; values (host byte order) point into the file's
 * data. used is for the caller's bookkeeping. */
typedef struct kcl_st_tensor {
    char *name;
    int rank;
    int64_t shape[KCL_MAX_RANK];
    const float *values;
    size_t count;
    bool used;
} kcl_st_tensor;

typedef struct kcl_st_file {
    size_t n;
    kcl_st_tensor *tensors;
    size_t n_meta;
    char **keys, **values;
    float *data;                 /* the data section */
} kcl_st_file;

/* Reads and checks a whole safetensors file into host memory: header length,
 * JSON, dtypes (F32 only), shapes, offsets (covering the data section without
 * gap or overlap), metadata strings and, when present (or required), the
 * checksum. Missing or unreadable file: KCL_ERR_IO; anything malformed:
 * KCL_ERR_FORMAT naming the problem and path. On failure *out holds nothing. */
kcl_status kcl__st_read(kcl_context *ctx, const char *path, bool require_checksum,
                        kcl_st_file *out);
void kcl__st_free(kcl_st_file *f);
kcl_st_tensor *kcl__st_find(const kcl_st_file *f, const char *name);
const char *kcl__st_meta(const kcl_st_file *f, const char *key);

/* ---------------------------------------------------------- model weights -- */

/* A weight of a model under its file name "<layer>/<weight>" (a nested
 * model's layers: "<model>/<layer>/<weight>"). */
typedef struct kcl_weight_ref {
    char *name;
    kcl_tensor *tensor;
    bool trainable;              /* the optimizer updates it (and holds slots for it) */
} kcl_weight_ref;

/* The model's weights in kcl__model_weights' order; two weights of one name
 * are KCL_ERR_STATE. */
kcl_status kcl__weight_list(kcl_model *m, kcl_weight_ref **out, size_t *n);
void kcl__weight_list_free(kcl_weight_ref *w, size_t n);

/* The prefix of optimizer slot tensors in whole-model files. */
#define KCL_OPTIMIZER_PREFIX "optimizer/"

/* Checks that the file holds every weight of w under its name and shape, and
 * no other tensor outside "optimizer/"; marks the matched tensors used. Errors
 * (KCL_ERR_FORMAT) name the missing, extra or mismatched tensors. */
kcl_status kcl__match_weights(kcl_context *ctx, const char *path, kcl_st_file *f,
                              const kcl_weight_ref *w, size_t n);
/* Whether tensor t of the file has exactly the shape of tensor x. */
bool kcl__same_shape(const kcl_st_tensor *t, const kcl_tensor *x);

#endif
