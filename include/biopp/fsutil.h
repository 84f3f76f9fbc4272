/* Small file-system helpers: atomic writes (temp file + fsync + rename),
 * mkdir -p, whole-file reads. */
#ifndef BIOPP_FSUTIL_H
#define BIOPP_FSUTIL_H

#include <stddef.h>

#include "biopp/error.h"

bp_status bp_write_file_atomic(const char *path, const void *data, size_t len, bp_error *err);
bp_status bp_mkdir_p(const char *path, bp_error *err);
/* Reads a whole file as a NUL-terminated string (caller frees). */
bp_status bp_read_text(const char *path, char **text, size_t *len, bp_error *err);
int bp_file_exists(const char *path);
/* Creates dir (mkdir -p) and proves it writable by writing, syncing and
 * removing a probe file, so an unwritable --out fails before any data is
 * loaded; BP_ERR_IO naming dir and the reason. */
bp_status bp_check_writable_dir(const char *dir, bp_error *err);
/* The probe file bp_check_writable_dir creates (and removes) in dir: a
 * folder holding only such a file still counts as empty (another process
 * may be probing it at that moment). */
#define BP_WRITE_PROBE_PREFIX ".biopp-write-check-"

/* 1 when dir exists and holds anything but a write probe and (when not
 * NULL) the entry named ignore; 0 otherwise. */
int bp_dir_has_entries(const char *dir, const char *ignore);

/* Advisory lock (flock, exclusive) on PATH, created if missing. wait = 0:
 * returns at once with *fd = -1 when another process holds it; wait = 1:
 * blocks until it is free (a signal interrupts the wait: BP_ERR_INTERRUPTED).
 * The lock lasts until bp_unlock (or the process ends, however it ends). */
bp_status bp_lock(const char *path, int wait, int *fd, bp_error *err);
void bp_unlock(int fd);

#endif
