/* Evaluating a trained network (a checkpoint) on one split of its data set:
 * the error and mean loss that training reports for the test and
 * validation splits, computed the same way (bp_group_evaluate). */
#ifndef BIOPP_EVALUATE_H
#define BIOPP_EVALUATE_H

#include "biopp/data.h"
#include "biopp/config.h"

typedef enum { BP_SPLIT_TEST, BP_SPLIT_VALID, BP_SPLIT_TRAIN } bp_split;

typedef struct {
    int epoch;       /* the checkpoint's epoch */
    int samples;     /* size of the split */
    double error;    /* fraction misclassified */
    double loss;     /* mean output loss per sample */
} bp_eval_result;

/* "test" / "valid" / "train" <-> bp_split; parse returns -1 when unknown. */
const char *bp_split_name(bp_split s);
int bp_split_parse(const char *name);

/* Loads the checkpoint into a network of cfg (seed cfg->seed) on cfg's
 * device and evaluates it on the split: test = the official test set,
 * valid = training samples past train_size, train = the first train_size
 * training samples (with the final weights, not the running figure of
 * metrics.jsonl's train_error). */
bp_status bp_evaluate_checkpoint(const bp_config *cfg, const bp_dataset *ds, const char *path,
                                 bp_split split, bp_eval_result *res, bp_error *err);

#endif
