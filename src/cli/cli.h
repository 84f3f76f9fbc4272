/* Shared pieces of the command-line front end. */
#ifndef BIOPP_CLI_H
#define BIOPP_CLI_H

#include "biopp/config.h"
#include "biopp/sweep.h"
#include "biopp/train.h"
#include "biopp/version.h" /* BIOPP_VERSION */

int cmd_train(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_slurm(int argc, char **argv);
int cmd_keys(int argc, char **argv);

/* Config keys on the command line (src/cli/keys.c). */
/* Loads path, applies the --set values in order and validates; prints a
 * warning "biopp CMD: warning: ..." for each key that has no effect. */
bp_status cli_load_config(const char *cmd, bp_config *cfg, const char *path, const char **sets,
                          int nsets, bp_error *err);
/* --print-config: cfg as config.ini text on stdout; the exit status. */
int cli_print_config(const bp_config *cfg);
/* The warnings of an expanded sweep, once per key: a key set away from its
 * default that no cell reads. Returns how many were printed. */
int cli_sweep_warnings(const char *cmd, const bp_sweep *s);

/* Progress display on stderr: a bar with ETA, redrawn in place, when
 * stderr is a terminal, otherwise nothing per step; the per-epoch lines
 * (print_epoch, progress_line) come either way. Every line is fitted to
 * cli_term_width() (include/biopp/progress_line.h). */
typedef struct {
    int tty;
    int drawn;          /* a bar is on the screen */
    double epoch_start;
    char tag[24];       /* "[3/12]": a sweep cell's place, or "" */
    char label[256];
    int epochs;
    const char *total;  /* what total_eta covers ("run", "sweep") or NULL */
    double total_eta;   /* set by the caller before each progress_step */
} bp_progress;

void progress_init(bp_progress *p, const char *label, int epochs);
void progress_step(void *user, int epoch, int step, int steps);
/* The epoch's steps are done; its valid and test sets are evaluated. */
void progress_evaluating(bp_progress *p, int epoch, int valid_n, int test_n);
void progress_clear(bp_progress *p);
/* Writes line and a newline to stderr, clearing the bar first. */
void progress_line(bp_progress *p, const char *line);
void print_epoch(bp_progress *p, const char *label, int epochs, const bp_epoch_metrics *m);

/* Columns of the terminal on stderr (TIOCGWINSZ), else $COLUMNS, else 80. */
int cli_term_width(void);

double cli_now(void);

/* Runs body(user, j) for j = 0..jobs-1 in child processes and waits for
 * them, forwarding SIGINT/SIGTERM/SIGUSR1 (src/cli/jobs.c). Returns the
 * worst of their statuses: 1, then 75, then 130, then 0. */
int cli_run_jobs(int jobs, int (*body)(void *user, int job), void *user);

/* Loads the data set a config names (data_dir or $BIOPP_DATA_DIR). */
int cli_load_dataset(const bp_config *cfg, bp_dataset *ds);

#endif
