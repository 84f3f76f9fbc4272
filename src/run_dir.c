#include "biopp/run_dir.h"

#include "biopp/fsutil.h"
#include "biopp/report.h"

bp_status bp_run_dir_config(const char *dir, const char *const *sets, int nsets, bp_config *cfg,
                            bp_error *err)
{
    char path[4096];
    bp_run_path(path, sizeof path, dir, "config.ini");
    if (!bp_file_exists(path))
        return bp_fail(err, BP_ERR_IO,
                       "%s: not found: %s is not a run directory (biopp train --out DIR, or a "
                       "sweep's DIR/<cell>/seed-N)",
                       path, dir);
    bp_config_defaults(cfg);
    bp_status rc = bp_config_load(cfg, path, err);
    for (int i = 0; i < nsets && !rc; i++) rc = bp_config_override(cfg, sets[i], err);
    if (!rc) rc = bp_config_validate(cfg, err);
    return rc;
}

bp_status bp_run_dir_checkpoint(const char *dir, char *path, size_t size, bp_error *err)
{
    bp_run_path(path, size, dir, "checkpoint.bin");
    if (bp_file_exists(path)) return BP_OK;
    bp_run_path(path, size, dir, "checkpoint.prev.bin");
    if (bp_file_exists(path)) return BP_OK;
    return bp_fail(err, BP_ERR_IO,
                   "%s/checkpoint.bin: not found: the run has not saved a checkpoint yet "
                   "(checkpoints are written every checkpoint_every epochs and at the end)",
                   dir);
}
