/* Writing float32 tensors in the safetensors format
 * (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON {"name": {"dtype": "F32", "shape": [...],
 * "data_offsets": [begin, end]}, ..., "__metadata__": {string: string}},
 * padded with spaces to a multiple of 8, then the tensors' bytes, contiguous,
 * little-endian, in the order given. docs/FORMATS.md. */
#ifndef BIOPP_SAFETENSORS_H
#define BIOPP_SAFETENSORS_H

#include <stddef.h>

#include "biopp/error.h"

typedef struct {
    const char *name;
    int ndim;          /* 1 or 2 */
    int shape[2];
    const float *data; /* shape[0] (x shape[1]) floats, row-major */
} bp_st_tensor;

/* Writes the tensors and metadata (nmeta key/value string pairs) to PATH,
 * atomically. Names must be unique and not "__metadata__". */
bp_status bp_safetensors_write(const char *path, const bp_st_tensor *t, int n,
                               const char *const (*meta)[2], int nmeta, bp_error *err);

#endif
