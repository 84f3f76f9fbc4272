/* Memory estimates: what a group of R runs will allocate, checked against
 * what the machine (and the device) has free before anything is allocated,
 * so a too-large configuration is refused with numbers instead of dying in
 * the middle of a sweep. */
#ifndef BIOPP_MEMORY_H
#define BIOPP_MEMORY_H

#include <stddef.h>

#include "biopp/backend.h"
#include "biopp/config.h"
#include "biopp/data.h"

typedef struct {
    /* Backend memory (device memory on CUDA, host memory on the CPU). */
    size_t weights;     /* parameters of every arena */
    size_t optimizer;   /* gradients and optimizer state */
    size_t activations; /* activation and error buffers of batch / eval_batch rows */
    size_t dataset;     /* the resident data set (uint8) and its index lists */
    size_t buffers;     /* per-epoch sample orders, per-step metrics, Adam factors */
    size_t backend;     /* sum of the above */
    /* Host memory besides the loaded data set (host copies, checkpoint buffers). */
    size_t host;
    size_t checkpoint;  /* bytes of one run's checkpoint file */
} bp_mem_estimate;

/* Fills e for cfg with R runs on data set ds. BP_ERR_NOMEM when even the
 * plan cannot be made. */
bp_status bp_memory_estimate(const bp_config *cfg, int R, const bp_dataset *ds,
                             bp_mem_estimate *e, bp_error *err);

/* Host memory available to this process: MemAvailable, lowered by a cgroup
 * memory limit, by what ulimit -v leaves of the address space, and by
 * $BIOPP_HOST_MEMORY_MB when set (a cap for shared
 * machines). 0 when unknown. */
size_t bp_host_memory_available(void);

/* Refuses (BP_ERR_NOMEM) a group whose estimate exceeds the host memory
 * available or, on a device with a memory op, its free memory; the message
 * gives the estimate by part, the limit, and what to change. */
bp_status bp_memory_check(const bp_config *cfg, int R, const bp_dataset *ds, bp_backend *be,
                          bp_error *err);

/* Refuses (BP_ERR_IO) to start when the file system of the run folders
 * cannot hold their checkpoints: two generations per run plus one being
 * written, less the checkpoint files already there (resume). The message
 * names the folder, the space needed and the space free. */
bp_status bp_disk_check(const bp_config *cfg, int R, const bp_dataset *ds,
                        const char *const *dirs, bp_error *err);

#endif
