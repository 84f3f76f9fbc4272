/* See include/biopp/evaluate.h. */
#include "biopp/evaluate.h"

#include <string.h>

#include "biopp/runner.h"
#include "biopp/train.h"

static const char *const SPLIT_NAMES[] = {"test", "valid", "train"};

const char *bp_split_name(bp_split s)
{
    return s >= BP_SPLIT_TEST && s <= BP_SPLIT_TRAIN ? SPLIT_NAMES[s] : "?";
}

int bp_split_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, SPLIT_NAMES[i])) return i;
    return -1;
}

/* The group evaluates the test set or the validation split; the training
 * split is evaluated as the test set of a view of the data set whose test
 * set is the first train_size training samples. */
static void train_split_view(const bp_config *cfg, const bp_dataset *ds, bp_dataset *view)
{
    *view = *ds;
    view->test = ds->train;
    view->test.n = cfg->train_size;
}

bp_status bp_evaluate_checkpoint(const bp_config *cfg, const bp_dataset *ds, const char *path,
                                 bp_split split, bp_eval_result *res, bp_error *err)
{
    memset(res, 0, sizeof *res);
    if (split == BP_SPLIT_VALID && bp_config_valid_count(cfg, ds->train.n) == 0)
        return bp_fail(err, BP_ERR_CONFIG,
                       "no validation split: train_size = %d is the whole training set of %s, "
                       "or valid_size = 0",
                       cfg->train_size, ds->name);
    bp_dataset view;
    if (split == BP_SPLIT_TRAIN) train_split_view(cfg, ds, &view);
    else view = *ds;
    bp_backend *be = NULL;
    bp_group *g = NULL;
    uint64_t seed = cfg->seed;
    double error = -1, loss = -1;
    bp_status rc = bp_backend_create(cfg, &be, err);
    if (!rc) rc = bp_group_create(cfg, &seed, 1, &view, be, &g, err);
    if (!rc) rc = bp_checkpoint_load(g, 0, path, err);
    if (!rc) rc = bp_group_evaluate(g, split == BP_SPLIT_VALID, &error, &loss, err);
    if (!rc) {
        res->epoch = bp_group_epoch(g);
        res->samples = split == BP_SPLIT_VALID ? bp_group_valid_size(g) : view.test.n;
        res->error = error;
        res->loss = loss;
    }
    bp_group_destroy(g);
    bp_backend_destroy(be);
    return rc;
}
