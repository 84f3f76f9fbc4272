/* Opening a finished (or interrupted) run directory for the tools that use
 * a trained network: its config and its latest checkpoint. */
#ifndef BIOPP_RUN_DIR_H
#define BIOPP_RUN_DIR_H

#include <stddef.h>

#include "biopp/config.h"

/* DIR/config.ini, then the "key=value" overrides, validated. */
bp_status bp_run_dir_config(const char *dir, const char *const *sets, int nsets, bp_config *cfg,
                            bp_error *err);

/* The latest checkpoint of DIR: checkpoint.bin, or checkpoint.prev.bin when
 * only that one exists (a crash between the two renames of a save). */
bp_status bp_run_dir_checkpoint(const char *dir, char *path, size_t size, bp_error *err);

#endif
