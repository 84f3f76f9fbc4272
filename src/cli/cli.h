/* Shared pieces of the command-line front end. */
#ifndef BIOPP_CLI_H
#define BIOPP_CLI_H

#include "biopp/config.h"
#include "biopp/train.h"
#include "biopp/version.h" /* BIOPP_VERSION */

#define BP_MAX_SETS 64

int cmd_train(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_slurm(int argc, char **argv);

/* Progress display on stderr: a bar with ETA when stderr is a terminal,
 * otherwise nothing per step (one line per epoch comes from print_epoch). */
typedef struct {
    int tty;
    double epoch_start;
    char label[96];
    int epochs;
} bp_progress;

void progress_init(bp_progress *p, const char *label, int epochs);
void progress_step(void *user, int epoch, int step, int steps);
void progress_clear(bp_progress *p);
void print_epoch(const char *label, int epochs, const bp_epoch_metrics *m);

double cli_now(void);

/* Runs body(user, j) for j = 0..jobs-1 in child processes and waits for
 * them, forwarding SIGINT/SIGTERM/SIGUSR1 (src/cli/jobs.c). Returns the
 * worst of their statuses: 1, then 75, then 130, then 0. */
int cli_run_jobs(int jobs, int (*body)(void *user, int job), void *user);

/* Loads the data set a config names (data_dir or $BIOPP_DATA_DIR). */
int cli_load_dataset(const bp_config *cfg, bp_dataset *ds);

#endif
