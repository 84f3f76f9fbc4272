/* Running a group of R runs to completion with their run directories:
 * resume from checkpoints, per-epoch logs, periodic checkpoints, final.json,
 * divergence isolation and clean stops on SIGINT/SIGTERM. `biopp train` is
 * a group of one; `biopp sweep` runs one group per cell. */
#ifndef BIOPP_RUNNER_H
#define BIOPP_RUNNER_H

#include <signal.h>

#include "biopp/train.h"

typedef struct {
    const char *const *dirs;   /* R run directories (created), or NULL: no files */
    int resume;                /* continue from checkpoints found in dirs */
    volatile sig_atomic_t *stop; /* set asynchronously: stop at the next step (CPU) */
    bp_progress_fn progress;   /* per-step progress (may be NULL) */
    /* After an epoch's last step, before its validation and test sets are
     * evaluated (valid_n, test_n samples), so that a progress bar can say
     * so (may be NULL). Training resumes with the next epoch's progress. */
    void (*on_evaluate)(void *user, int epoch, int valid_n, int test_n);
    /* After each epoch, for each run still training (may be NULL). */
    void (*on_epoch)(void *user, int r, const bp_epoch_metrics *m);
    void *user;
} bp_runner_opts;

/* Trains the group for cfg->epochs epochs. diverged[r] is set for runs
 * that diverged (their final.json says so; the others continue). Returns
 * BP_ERR_INTERRUPTED (state saved) when *stop was set. */
bp_status bp_run_group(const bp_config *cfg, const uint64_t *seeds, int R,
                       const bp_dataset *ds, const bp_runner_opts *opts, int *diverged,
                       bp_error *err);

/* Epoch recorded in a checkpoint file's header (without loading it), and
 * with bp_checkpoint_peek the step reached within the next epoch (0 at an
 * epoch boundary; pos may be NULL). */
bp_status bp_checkpoint_peek_epoch(const char *path, int *epoch, bp_error *err);
bp_status bp_checkpoint_peek(const char *path, int *epoch, int *pos, bp_error *err);

/* Set by the handlers of bp_install_stop_handlers on SIGINT, SIGTERM and
 * SIGUSR1 (bp_stop_signal: which one; SIGUSR1 is the cluster's "time is
 * nearly up" warning, docs/CLUSTER.md). A second signal ends the process. */
extern volatile sig_atomic_t bp_stop_requested;
extern volatile sig_atomic_t bp_stop_signal;
void bp_install_stop_handlers(void);
/* Writes at once, from the handler, that the process will stop after the
 * current step: the first Ctrl-C is acknowledged, so nobody presses again
 * and loses the step. Async-signal-safe. */
void bp_stop_acknowledge(int sig);

/* Exit status of a command stopped by SIGUSR1 with its state saved:
 * "requeue me" (EX_TEMPFAIL); SIGINT/SIGTERM give 130. */
#define BP_EXIT_REQUEUE 75

#endif
