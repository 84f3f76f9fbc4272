/* Training a group of R runs in lockstep (a solo run is R = 1): the
 * dataset is uploaded once, each epoch shuffles every run's sample order on
 * the host (Philox), uploads the index list, runs every step on the
 * backend, then downloads the per-step metrics once and evaluates. */
#ifndef BIOPP_TRAIN_H
#define BIOPP_TRAIN_H

#include <signal.h>

#include "biopp/align.h"
#include "biopp/data.h"
#include "biopp/net.h"
#include "biopp/step.h"

typedef struct {
    int epoch;            /* 1-based */
    double train_loss;    /* mean output loss per training sample (during the epoch) */
    double feedback_loss; /* BFA: mean 1/2||xhat-x||^2; BDFA: sum over layers of mean loss_l; else 0 */
    double train_error;   /* fraction of training samples misclassified (during the epoch) */
    double valid_error;   /* held-out training samples past train_size; -1 if none */
    double valid_loss;
    double test_error;
    double test_loss;
    double seconds;       /* wall time of this epoch (training + evaluation) */
    int diverged;         /* a loss became NaN/Inf (this epoch or earlier) */
    int has_align;        /* align_every > 0: align holds the epoch's mean angles */
    bp_align_point align;
    char nonfinite[320];  /* the epoch it diverged: where the first NaN/Inf appeared, or "" */
} bp_epoch_metrics;

typedef struct bp_group bp_group;

/* Called every few steps during an epoch (may be NULL); the last call
 * (step == steps) comes once the steps are done, before the evaluation. */
typedef void (*bp_progress_fn)(void *user, int epoch, int step, int steps);

bp_status bp_group_create(const bp_config *cfg, const uint64_t *seeds, int R,
                          const bp_dataset *ds, bp_backend *be, bp_group **out, bp_error *err);
void bp_group_destroy(bp_group *g);

/* Trains one epoch and evaluates; fills out[r] for r < R. When the stop
 * flag (bp_group_set_stop) is set during the epoch, returns
 * BP_ERR_INTERRUPTED after the current step, with the epoch's progress in
 * bp_group_step_in_epoch (a checkpoint saves it; the next call continues the
 * epoch from there, with the same sample order). A backend that records
 * epochs (CUDA graphs) finishes a recorded epoch before stopping. */
bp_status bp_group_train_epoch(bp_group *g, bp_progress_fn progress, void *user,
                               bp_epoch_metrics *out, bp_error *err);

/* The network as it stands, evaluated without training (epochs = 0: the
 * baseline of an untrained network): out[r] has the valid/test errors and
 * losses, epoch = the group's epoch, and NaN for the training metrics. */
bp_status bp_group_evaluate_untrained(bp_group *g, bp_epoch_metrics *out, bp_error *err);

/* Error and mean loss of every run on the test set (or on the validation
 * split when valid != 0). */
bp_status bp_group_evaluate(bp_group *g, int valid, double *error, double *loss, bp_error *err);

/* Run r's alignment measurements of the last epoch (align_every > 0), at
 * most max; returns how many. */
int bp_group_align_points(const bp_group *g, int r, bp_align_point *out, int max);

bp_net *bp_group_net(bp_group *g);
int bp_group_epoch(const bp_group *g);     /* epochs completed */
void bp_group_set_epoch(bp_group *g, int epoch);
int bp_group_steps_per_epoch(const bp_group *g);
int bp_group_valid_size(const bp_group *g);
bp_backend *bp_group_backend(bp_group *g);
int bp_group_step_in_epoch(const bp_group *g); /* steps done of the epoch in progress */
void bp_group_set_step_in_epoch(bp_group *g, int pos);
void bp_group_set_stop(bp_group *g, volatile sig_atomic_t *stop);

/* The first step of the last epoch whose metrics (loss, feedback loss) are
 * NaN/Inf for run r, or -1. */
int bp_group_first_nonfinite_step(const bp_group *g, int r);

/* Trains the next epoch's steps 0..to_step one at a time (not recorded),
 * calling check after every phase of steps >= from_step; stops at the first
 * step where check returns non-zero (*stopped, else -1). For locating a
 * divergence (src/nonfinite.c); the group's epoch count is not advanced. */
bp_status bp_group_replay_epoch(bp_group *g, int from_step, int to_step, bp_step_check_fn check,
                                void *user, int *stopped, bp_error *err);

/* Checkpoints of one run r: every weight, the optimizer state, the epoch
 * and step counts, and within an unfinished epoch the step reached and the
 * metrics of the steps done; versioned, CRC-checked, written atomically (temp file +
 * rename). Loading checks that the model's tensors match by name and shape. */
bp_status bp_checkpoint_save(bp_group *g, int r, const char *path, bp_error *err);
bp_status bp_checkpoint_load(bp_group *g, int r, const char *path, bp_error *err);

#endif
