/* Locks of a sweep folder, so that several processes (two `biopp sweep`
 * commands, the shards of a Slurm array, `--jobs` children) can share one
 * DIR: DIR/<cell>/.lock is held while a process trains the cell, and
 * DIR/.sweep.lock while one writes the folder's shared files (sweep.ini,
 * the summaries). flock locks vanish with their process, however it ends,
 * so a killed sweep leaves nothing to clean up. */
#include <stdio.h>

#include "biopp/fsutil.h"
#include "biopp/sweep.h"

#define PATH_MAX_ 4096

bp_status bp_sweep_lock_cell(const char *dir, const bp_sweep_cell *cell, int wait, int *fd,
                             bp_error *err)
{
    char cell_dir[PATH_MAX_], path[PATH_MAX_ + 8];
    *fd = -1;
    if (snprintf(cell_dir, sizeof cell_dir, "%s/%s", dir, cell->name) >= (int)sizeof cell_dir)
        return bp_fail(err, BP_ERR_IO, "%s/%s: path too long", dir, cell->name);
    bp_status st = bp_mkdir_p(cell_dir, err);
    if (st) return st;
    snprintf(path, sizeof path, "%s/.lock", cell_dir);
    return bp_lock(path, wait, fd, err);
}

bp_status bp_sweep_lock_dir(const char *dir, int *fd, bp_error *err)
{
    char path[PATH_MAX_];
    *fd = -1;
    if (snprintf(path, sizeof path, "%s/" BP_SWEEP_DIR_LOCK, dir) >= (int)sizeof path)
        return bp_fail(err, BP_ERR_IO, "%s: path too long", dir);
    return bp_lock(path, 1, fd, err);
}
