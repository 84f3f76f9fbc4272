/* Reading a checkpoint file on the host, without a network or a backend:
 * the tensor table and every array, for tools that look at a trained run
 * (`biopp export`, `biopp generate`). The format is the one
 * src/checkpoint.c writes (docs/FORMATS.md). */
#ifndef BIOPP_CHECKPOINT_FILE_H
#define BIOPP_CHECKPOINT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "biopp/error.h"
#include "biopp/net.h"

#define BP_CK_ARENAS 3 /* forward, trained feedback, fixed feedback */

typedef struct {
    char name[17];        /* "W1", "V2", "c0" (NUL-terminated) */
    int arena;            /* 0 forward, 1 trained feedback, 2 fixed feedback */
    int rows, cols;
    const float *p;       /* parameters, rows x cols row-major (inside the file buffer) */
    const float *m, *v;   /* optimizer state or NULL: Adam's m and v, or SGD's velocity in m */
} bp_ck_tensor;

typedef struct {
    uint64_t seed;
    int64_t epoch, step;
    int arrays;           /* arrays per trained arena: 1 params, 2 + velocity, 3 + Adam m, v */
    int ntensors;
    bp_ck_tensor t[BP_CK_ARENAS * BP_MAX_TENSORS];
    unsigned char *buf;   /* the whole file (owned) */
    size_t len;
} bp_checkpoint_file;

/* Reads and checks PATH (magic, version, CRC, tensor table, array sizes). */
bp_status bp_checkpoint_file_read(const char *path, bp_checkpoint_file *ck, bp_error *err);
void bp_checkpoint_file_free(bp_checkpoint_file *ck);

/* The tensor named `name`, or NULL. */
const bp_ck_tensor *bp_checkpoint_file_find(const bp_checkpoint_file *ck, const char *name);

/* Copies the parameters of every tensor of `net`'s arenas (run r) from the
 * file, checking names and shapes; the optimizer state is not touched. */
bp_status bp_checkpoint_file_upload(const bp_checkpoint_file *ck, bp_net *net, int r,
                                    bp_backend *be, const char *path, bp_error *err);

#endif
