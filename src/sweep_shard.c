/* Cutting a sweep into N shards (docs/CLUSTER.md): whole cells (a cell's
 * seeds train as one group, so they stay together), balanced by estimated
 * cost, the same way every time so that the N tasks of an array job, each
 * computing the split on its own, agree on it.
 *
 * Cost of a cell: seeds x epochs x (training FLOPs of an epoch + evaluation
 * FLOPs of an epoch), from the layer widths and the rule (the estimate only
 * has to order and add up cells, not predict seconds). Split: longest
 * processing time first — cells by decreasing cost (ties: cell order), each
 * to the shard with the smallest load so far (ties: lowest shard). A greedy
 * list split like this keeps every shard within one cell of the mean:
 * load(k) <= total / N + max cell cost (the bound the tests check). */
#include <stdlib.h>
#include <string.h>

#include "biopp/sweep.h"

/* Sample dimension, training and test set sizes of a data set by name. */
static void dataset_shape(const char *name, double *dim, double *n_train, double *n_test)
{
    *n_test = 10000;
    if (!strcmp(name, "cifar10")) {
        *dim = 3072;
        *n_train = 50000;
    } else { /* mnist, fashion-mnist, kmnist */
        *dim = 784;
        *n_train = 60000;
    }
}

double bp_sweep_cell_cost(const bp_config *cfg, int runs)
{
    double dim, n_train, n_test, classes = 10;
    dataset_shape(cfg->dataset, &dim, &n_train, &n_test);
    double fwd = 0, prev = dim, to_out = 0; /* forward multiply-adds; hidden x classes */
    for (int l = 0; l < cfg->n_hidden; l++) {
        fwd += prev * cfg->hidden[l];
        to_out += cfg->hidden[l] * classes;
        prev = cfg->hidden[l];
    }
    fwd += prev * classes;
    /* Per training sample: forward + the rule's learning phases (METHODS.md):
     * BP, FA: errors back through every layer and the gradients, ~3x the
     * forward; DFA: gradients plus one projection of the output error per
     * layer; BFA: FA plus training the mirror feedback weights (~2x FA);
     * BDFA: DFA plus training each layer's direct feedback matrix. */
    double train;
    switch (cfg->rule) {
    case BP_RULE_DFA: train = 2 * fwd + to_out; break;
    case BP_RULE_BFA: train = 6 * fwd; break;
    case BP_RULE_BDFA: train = 2 * fwd + 3 * to_out; break;
    default: train = 3 * fwd; break;
    }
    double samples = (double)(cfg->train_size / cfg->batch) * cfg->batch;
    double evaluated = bp_config_valid_count(cfg, n_train) + n_test;
    return 2.0 * runs * cfg->epochs * (samples * train + evaluated * fwd);
}

typedef struct {
    double cost;
    int cell;
} costed;

static int by_cost_desc(const void *a, const void *b)
{
    const costed *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return x->cell - y->cell;
}

bp_status bp_sweep_shards(const bp_sweep *s, int N, int *shard_of, double *cost, double *load,
                          bp_error *err)
{
    if (N < 1) return bp_fail(err, BP_ERR_ARG, "--shard K/N: N = %d, expected N >= 1", N);
    costed *c = calloc((size_t)s->n_cells, sizeof *c);
    bp_sweep_cell *cell = malloc(sizeof *cell);
    if (!c || !cell) {
        free(c);
        free(cell);
        return bp_fail(err, BP_ERR_NOMEM, "sweep shards: out of memory");
    }
    bp_status st = BP_OK;
    for (int i = 0; i < s->n_cells && !st; i++) {
        st = bp_sweep_cell_at(s, i, cell, err);
        c[i].cell = i;
        if (!st) c[i].cost = bp_sweep_cell_cost(&cell->cfg, s->n_seeds);
        if (!st && cost) cost[i] = c[i].cost;
    }
    if (!st) {
        qsort(c, (size_t)s->n_cells, sizeof *c, by_cost_desc);
        for (int k = 0; k < N; k++) load[k] = 0;
        for (int i = 0; i < s->n_cells; i++) {
            int best = 0;
            for (int k = 1; k < N; k++)
                if (load[k] < load[best]) best = k;
            shard_of[c[i].cell] = best;
            load[best] += c[i].cost;
        }
    }
    free(c);
    free(cell);
    return st;
}
