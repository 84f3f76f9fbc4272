/* Sweeps: a grid of configurations, each trained with several seeds.
 *
 * A sweep file is a config file (same sections and keys, docs/CONFIG.md)
 * in which any key may hold a comma-separated list, plus `seeds` (a count N
 * for seeds 1..N, or a list) in a [sweep] section or before the first
 * section, and rule-scoped keys `RULE.key = value` that apply only to the
 * cells of that rule (`bdfa.alpha = 0.25`). The cartesian product of the
 * lists, in the order the keys appear, gives the cells; every cell's seeds
 * are trained as one group (bp_run_group) in DIR/<cell>/seed-<s>/.
 * docs/SWEEP.md describes the format, the folder layout, resuming and the
 * summary files. */
#ifndef BIOPP_SWEEP_H
#define BIOPP_SWEEP_H

#include <stdint.h>

#include "biopp/config.h"
#include "biopp/data.h"
#include "biopp/error.h"
#include "biopp/runner.h"

#define BP_SWEEP_MAX_ENTRIES 64  /* keys given in one sweep (file and --set) */
#define BP_SWEEP_MAX_VALUES 256  /* values in one list */
#define BP_SWEEP_MAX_CELLS 10000 /* cells in one sweep */
#define BP_SWEEP_NAME_MAX 255    /* length of a cell's folder name */

typedef struct {
    char key[80];      /* as written: "lr", or "bdfa.alpha" for a rule-scoped key */
    char name[48];     /* the config key: "lr", "alpha" */
    int rule;          /* rule-scoped: the bp_rule_id it applies to; -1: every cell */
    int line;          /* line in the sweep file; 0: given with --set */
    int n;             /* number of values; n > 1 makes the key an axis of the grid */
    char **values;     /* canonical text of each value (as bp_config_get writes it) */
} bp_sweep_entry;

typedef struct {
    char source[1024]; /* the sweep file (for messages) */
    int n_entries;
    bp_sweep_entry entries[BP_SWEEP_MAX_ENTRIES]; /* file order; new --set keys after */
    int n_seeds;
    uint64_t seeds[BP_MAX_SEEDS];
    int seeds_line;    /* line of `seeds` / `seed` in the file; 0: default or --set */
    /* Set by bp_sweep_expand: */
    int n_axes;
    int axis[BP_SWEEP_MAX_ENTRIES]; /* entry index of each axis, in expansion order */
    int n_cells;
    /* Train each seed alone instead of as one group (same results, for
     * timing comparisons); not part of the spec. */
    int solo;
} bp_sweep;

typedef struct {
    int index;                           /* 0 .. n_cells-1, expansion order */
    int value[BP_SWEEP_MAX_ENTRIES];     /* per axis: which of its values */
    char name[BP_SWEEP_NAME_MAX + 1];    /* folder name, e.g. "hidden=1x400,rule=bp" */
    bp_config cfg;                       /* validated; seed = the first seed */
} bp_sweep_cell;

typedef enum { BP_SWEEP_PENDING, BP_SWEEP_DONE, BP_SWEEP_DIVERGED } bp_sweep_run_state;

typedef struct {
    uint64_t seed;
    bp_sweep_run_state state; /* from final.json: absent = pending */
    int epochs;               /* epochs trained (final.json) */
    double test_error;        /* fraction; NAN when pending or not recorded */
    double valid_error;       /* fraction; NAN when there is no validation split */
    /* From final.json, "" when it predates these fields: the biopp that
     * trained it ("0.1.0 (commit f622898)") and the device ("NVIDIA H200
     * (cuda)"). */
    char biopp[96];
    char device[160];
} bp_sweep_run_result;

typedef struct {
    int runs, finished, diverged; /* finished counts diverged runs too */
    int n_test;                   /* runs in the statistics: finished, not diverged, finite */
    double mean_test, std_test;   /* percent; NAN when n_test < 1 (std: n_test < 2) */
    double min_test, max_test;    /* percent; NAN when n_test < 1 */
    int n_valid;
    double mean_valid, std_valid; /* percent; NAN when n_valid < 1 (std: n_valid < 2) */
    bp_sweep_run_result *run;     /* runs entries, seed order */
} bp_sweep_cell_result;

void bp_sweep_init(bp_sweep *s);
void bp_sweep_free(bp_sweep *s);

/* Reads a sweep file into s (after bp_sweep_init). Errors name file:line,
 * the key and the bad list element. */
bp_status bp_sweep_load(bp_sweep *s, const char *path, bp_error *err);

/* Applies one --set override "key=value" or "key=v1,v2": replaces the
 * key's values (keeping its place in the expansion order), or adds it. */
bp_status bp_sweep_override(bp_sweep *s, const char *assignment, bp_error *err);

/* Fixes the axes, counts the cells and validates every cell's config
 * (bp_config_validate); call after load and overrides. */
bp_status bp_sweep_expand(bp_sweep *s, bp_error *err);

/* Cell i (0 <= i < n_cells) of an expanded sweep. */
bp_status bp_sweep_cell_at(const bp_sweep *s, int i, bp_sweep_cell *cell, bp_error *err);

/* The effective spec as the text of DIR/sweep.ini: a sweep file that
 * loads back to the same sweep, with every key written out. Caller frees. */
bp_status bp_sweep_spec_text(const bp_sweep *s, char **text, bp_error *err);

/* Makes DIR ready: writes DIR/sweep.ini when DIR is new (or empty); when
 * DIR/sweep.ini exists it must hold the same spec, else BP_ERR_CONFIG
 * naming the file and the first key that differs -- unless DIR holds no
 * started run (only sweep.ini, summaries, locks and cell folders with an
 * unheld .lock: the sweep failed before training), when the new spec
 * replaces it and *replaced = 1. A non-empty DIR without sweep.ini is
 * refused. */
bp_status bp_sweep_prepare_dir_replacing(const bp_sweep *s, const char *dir, int *replaced,
                                         bp_error *err);
/* The same, for callers that need not say that a spec was replaced. */
bp_status bp_sweep_prepare_dir(const bp_sweep *s, const char *dir, bp_error *err);
/* The same checks, writing nothing (BP_OK for a new or empty DIR, or one
 * whose spec would be replaced). */
bp_status bp_sweep_check_dir(const bp_sweep *s, const char *dir, bp_error *err);

/* DIR/<cell>/seed-<seed> */
void bp_sweep_run_dir(char *buf, size_t size, const char *dir, const bp_sweep_cell *cell,
                      uint64_t seed);

/* 1 when every run of the cell has its final.json. */
int bp_sweep_cell_done(const bp_sweep *s, const char *dir, const bp_sweep_cell *cell);

/* Trains (or resumes) the cell's runs as one group: bp_run_group with the
 * sweep's seeds, the run directories and resume = 1. opts supplies stop,
 * progress, on_epoch and user (its dirs and resume are ignored). */
bp_status bp_sweep_run_cell(const bp_sweep *s, const bp_sweep_cell *cell, const char *dir,
                            const bp_dataset *ds, const bp_runner_opts *opts, int *diverged,
                            bp_error *err);

/* Shards (docs/CLUSTER.md). The estimated cost of a cell (FLOPs of its
 * `runs` runs over all epochs, training and evaluation). */
double bp_sweep_cell_cost(const bp_config *cfg, int runs);
/* Splits the cells into N shards, deterministically, balanced by cost
 * (longest first, each to the least loaded shard): shard_of[i] (n_cells
 * entries) receives cell i's shard, load[k] (N entries) shard k's total
 * cost, cost[i] (may be NULL) cell i's cost. Every shard's load is at most
 * total / N + the largest cell's cost. */
bp_status bp_sweep_shards(const bp_sweep *s, int N, int *shard_of, double *cost, double *load,
                          bp_error *err);

/* Locks (docs/SWEEP.md, "Sharing a folder"). The lock of a cell,
 * DIR/<cell>/.lock (the cell's folder is created): wait = 0 returns at once
 * with *fd = -1 when another process holds it. Release with bp_unlock. */
bp_status bp_sweep_lock_cell(const char *dir, const bp_sweep_cell *cell, int wait, int *fd,
                             bp_error *err);
/* The lock of DIR's shared files (sweep.ini, summaries); waits for it. */
#define BP_SWEEP_DIR_LOCK ".sweep.lock"
bp_status bp_sweep_lock_dir(const char *dir, int *fd, bp_error *err);

/* Reads the cell's final.json files and computes its statistics.
 * Free with bp_sweep_cell_result_free. */
bp_status bp_sweep_cell_result_read(const bp_sweep *s, const char *dir,
                                    const bp_sweep_cell *cell, bp_sweep_cell_result *res,
                                    bp_error *err);
void bp_sweep_cell_result_free(bp_sweep_cell_result *res);

/* Recomputes DIR/summary.csv, summary.json and summary.md from the run
 * folders and writes them atomically, holding DIR's lock; *markdown (if not NULL) receives the
 * text of summary.md (caller frees). */
bp_status bp_sweep_write_summary(const bp_sweep *s, const char *dir, char **markdown,
                                 bp_error *err);

#endif
