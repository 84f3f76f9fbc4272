/* Exporting a checkpoint's tensors as a safetensors file (docs/FORMATS.md). */
#ifndef BIOPP_EXPORT_H
#define BIOPP_EXPORT_H

#include "biopp/checkpoint_file.h"
#include "biopp/config.h"

/* Writes every tensor of ck under its METHODS.md name ("W1", "b1", "V2",
 * "c0", "B2", "D1", "U1"), float32, matrices as [rows, cols] and biases
 * (b_l, c_l) as [n]; metadata from cfg and ck. optimizer_state != 0 adds
 * the optimizer's arrays as "<name>.adam_m" / "<name>.adam_v" (Adam) or
 * "<name>.velocity" (SGD with momentum). */
bp_status bp_export_safetensors(const bp_checkpoint_file *ck, const bp_config *cfg,
                                const char *path, int optimizer_state, bp_error *err);

#endif
