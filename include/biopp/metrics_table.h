/* A run's metrics.jsonl as a table: one row per line, one column per
 * numeric field (null -> NaN); an array field "key": [a, b, ...] gives the
 * columns "key.1", "key.2", ... (1-based: layer or matrix index). Fields
 * absent from a line are NaN in its row. For `biopp plot`. */
#ifndef BIOPP_METRICS_TABLE_H
#define BIOPP_METRICS_TABLE_H

#include "biopp/error.h"

#define BP_MT_MAX_COLS 128

typedef struct {
    int rows, cols, cap;
    char name[BP_MT_MAX_COLS][48];
    double *v;               /* rows x BP_MT_MAX_COLS */
} bp_metrics_table;

bp_status bp_metrics_table_read(const char *path, bp_metrics_table *t, bp_error *err);
void bp_metrics_table_free(bp_metrics_table *t);

/* Column index of `name`, or -1. */
int bp_metrics_table_col(const bp_metrics_table *t, const char *name);

static inline double bp_mt_get(const bp_metrics_table *t, int row, int col)
{
    return t->v[(size_t)row * BP_MT_MAX_COLS + col];
}

#endif
