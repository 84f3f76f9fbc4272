/* What a run directory holds (nothing, a started, finished or diverged
 * run) and whether `biopp train --out DIR [--resume]` may train into it:
 * the checks that keep a folder's files telling one story. */
#ifndef BIOPP_RUN_STATE_H
#define BIOPP_RUN_STATE_H

#include <stddef.h>

#include "biopp/config.h"

typedef enum {
    BP_RUN_NONE,     /* no config.ini: no run (the folder may be missing) */
    BP_RUN_STARTED,  /* config.ini, maybe checkpoints, no final.json */
    BP_RUN_COMPLETE, /* final.json of a run that finished its epochs */
    BP_RUN_DIVERGED  /* final.json of a run whose loss became NaN/Inf */
} bp_run_kind;

typedef struct {
    bp_run_kind kind;
    int epochs_done; /* epoch of the latest checkpoint (0 without one) */
    int step;        /* steps done within the next epoch (a stop mid-epoch) */
    int steps;       /* steps per epoch, when config.ini could be read */
    int readable;    /* checkpoint generations whose header reads */
    char bad_checkpoint[4200]; /* one whose header does not ("" if none), and why */
    bp_config cfg;   /* DIR/config.ini, when kind != BP_RUN_NONE */
} bp_run_state;

/* Reads DIR's state. A config.ini or final.json that cannot be read is an
 * error naming the file; a checkpoint whose header cannot be read is left
 * out (the resume then reports it, saying which generation to delete). */
bp_status bp_run_state_read(const char *dir, bp_run_state *st, bp_error *err);

/* One line for messages: "a finished run (3 epochs)", "a run stopped at
 * step 12 of 390 of epoch 2 of 3", ... */
void bp_run_state_describe(const bp_run_state *st, char *buf, size_t size);

/* The first key, in bp_config_write's order, whose value differs between
 * a and b, skipping the keys in skip (NULL-terminated); 0 when none, else
 * 1 with the key and both values as bp_config_get writes them. */
int bp_config_first_difference(const bp_config *a, const bp_config *b, const char *const *skip,
                               char *key, size_t key_size, char *va, char *vb, size_t v_size);

/* May `--resume` continue DIR's run (st, read from DIR) with config cfg?
 * BP_OK: train. *complete = 1 (BP_OK): the run already has cfg->epochs
 * epochs, nothing to do. BP_ERR_CONFIG: refused (a different config,
 * fewer epochs than done, a diverged run), the message says what to do. */
bp_status bp_run_check_resume(const char *dir, const bp_run_state *st, const bp_config *cfg,
                              int *complete, bp_error *err);

#endif
