/* The files of a run folder that biopp reads back: final.json (sweep
 * results and summaries) and metrics.jsonl (resuming). Each input is both,
 * for a one-cell sweep whose summary files are then written. */
#include "biopp/fsutil.h"
#include "biopp/report.h"
#include "biopp/sweep.h"
#include "fuzz.h"

static bp_sweep sweep;
static bp_sweep_cell cell;
static char dir[256], run[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    bp_error err;
    bp_sweep_init(&sweep);
    if (bp_sweep_override(&sweep, "seeds=1", &err) || bp_sweep_expand(&sweep, &err) ||
        bp_sweep_cell_at(&sweep, 0, &cell, &err)) {
        fprintf(stderr, "fuzz_final_json: %s\n", err.msg);
        abort();
    }
    snprintf(dir, sizeof dir, "%s/sweep", fuzz_dir());
    bp_sweep_run_dir(run, sizeof run, dir, &cell, sweep.seeds[0]);
    if (bp_mkdir_p(run, &err)) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4200];
    bp_error err;
    snprintf(path, sizeof path, "%s/final.json", run);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();

    bp_sweep_cell_result res;
    if (bp_sweep_cell_result_read(&sweep, dir, &cell, &res, &err) == BP_OK) {
        if (res.runs != 1 || res.finished > 1 || res.n_test > 1) abort();
    }
    bp_sweep_cell_result_free(&res);
    char *md = NULL;
    if (bp_sweep_write_summary(&sweep, dir, &md, &err) == BP_OK && !md) abort();
    free(md);
    for (int keep = 1; keep <= 3; keep++) {
        bp_run_log log;
        if (bp_run_log_open(&log, run, keep, &err) == BP_OK && log.n != keep) abort();
        bp_run_log_close(&log);
    }
    return 0;
}
