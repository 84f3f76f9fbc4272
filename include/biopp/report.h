/* The files of a run directory (what `biopp train --out DIR` and each run of
 * a sweep write): config.ini, metrics.jsonl, final.json, checkpoint.bin.
 * Every file is rewritten atomically, so an interrupted run never leaves a
 * half-written one. */
#ifndef BIOPP_REPORT_H
#define BIOPP_REPORT_H

#include "biopp/backend.h"
#include "biopp/config.h"
#include "biopp/train.h"

typedef struct {
    char dir[4000];
    bp_epoch_metrics *hist; /* epochs 1..n */
    int n, cap;
} bp_run_log;

/* Opens DIR's metrics log. keep_epochs > 0 (resume): keeps the existing
 * metrics.jsonl entries of epochs 1..keep_epochs and drops later ones. */
bp_status bp_run_log_open(bp_run_log *log, const char *dir, int keep_epochs, bp_error *err);
/* Appends one epoch and rewrites DIR/metrics.jsonl. */
bp_status bp_run_log_append(bp_run_log *log, const bp_epoch_metrics *m, bp_error *err);
void bp_run_log_close(bp_run_log *log);
/* Total training seconds over the logged epochs. */
double bp_run_log_seconds(const bp_run_log *log);

/* Both record the biopp version and commit and the backend `be` (NULL: not
 * known) that trained the run: config.ini in a comment at the top, final.json
 * as biopp_version, biopp_commit, backend and device_name. */
bp_status bp_write_config_file(const char *path, const bp_config *cfg, const bp_backend *be,
                               bp_error *err);
/* DIR/final.json's "diverged": 1 or 0; -1 (err set) when the file cannot
 * be read or has no such field (writes are atomic, so that is damage). */
int bp_final_json_diverged(const char *path, bp_error *err);

bp_status bp_write_final_json(const char *dir, const bp_config *cfg, uint64_t seed,
                              const bp_run_log *log, int diverged, const bp_backend *be,
                              bp_error *err);

/* DIR/align.jsonl (align_log = 1): appends the measurements of one epoch;
 * on resume, truncate keeps only those of epochs 1..keep. */
bp_status bp_align_log_append(const char *dir, int epoch, const bp_align_point *p, int n,
                              bp_error *err);
bp_status bp_align_log_truncate(const char *dir, int keep, bp_error *err);

/* One metrics object as a JSON line (no newline); caller frees. */
char *bp_metrics_json(const bp_epoch_metrics *m);

/* Paths inside a run directory. */
void bp_run_path(char *buf, size_t size, const char *dir, const char *file);

#endif
