/* Locating a divergence: when a run's loss becomes NaN/Inf, a solo copy of
 * the run is replayed from its last checkpoint (or its initialisation) and
 * the diverging epoch is re-run step by step, checking every per-layer
 * tensor after each phase of the steps around the first bad loss, so the
 * report names the step, the layer and the tensor where the first NaN/Inf
 * appeared. Nothing is checked while training normally. */
#ifndef BIOPP_NONFINITE_H
#define BIOPP_NONFINITE_H

#include <stddef.h>

#include "biopp/train.h"

/* Replays at most this many whole epochs before the diverging one. */
#define BP_NONFINITE_MAX_REPLAY_EPOCHS 3

/* epoch: the epoch (1-based) whose metrics went bad; bad_step: the first
 * bad step of it (bp_group_first_nonfinite_step), -1 when only the
 * evaluation loss was bad. checkpoint: the run's latest checkpoint file, or
 * NULL. Writes a one-line description into where. be: the backend of the
 * run's group (a second, solo group is made on it and freed). */
bp_status bp_locate_nonfinite(const bp_config *cfg, uint64_t seed, const bp_dataset *ds,
                              bp_backend *be, const char *checkpoint, int epoch, int bad_step,
                              char *where, size_t n, bp_error *err);

#endif
