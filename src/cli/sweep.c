/* biopp sweep: every cell of a grid of configurations, each cell's seeds
 * trained together as one group; resumable; summaries at the end.
 * The library part (parsing, cells, spec file, summaries) is src/sweep.c. */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "biopp/backend.h"
#include "biopp/data.h"
#include "biopp/fsutil.h"
#include "biopp/runner.h"
#include "biopp/sweep.h"
#include "cli.h"

#define LINE_EVERY_S 10.0 /* seconds between per-epoch lines of a long cell */

static void sweep_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp sweep --config FILE --out DIR [--set key=value]... [--shard K/N]\n"
            "                   [--jobs J] [--dry-run] [--solo]\n"
            "\n"
            "Trains every cell of a grid. FILE is a config file (docs/CONFIG.md) whose keys\n"
            "may hold comma-separated lists (rule = bp,fa,dfa; hidden = 1x400,2x400), plus\n"
            "`seeds = N` (seeds 1..N) or `seeds = 3,7,11` in a [sweep] section. The cells are\n"
            "the combinations of the lists; a cell's seeds train together as one group.\n"
            "`RULE.key = value` sets a key for one rule's cells only (bdfa.alpha = 0.25).\n"
            "Format, folder layout and summaries: docs/SWEEP.md.\n"
            "\n"
            "  --config FILE     the sweep file (required)\n"
            "  --out DIR         the sweep folder: DIR/sweep.ini, DIR/<cell>/seed-<s>/,\n"
            "                    DIR/summary.md, .csv, .json (required unless --dry-run)\n"
            "  --set key=value   override one key, also with a list: --set hidden=1x400,2x400\n"
            "  --shard K/N       train only shard K (0..N-1) of N: whole cells, split the same\n"
            "                    way every time, balanced by estimated cost (docs/CLUSTER.md)\n"
            "  --jobs J          train J cells at once (child processes), the CPU threads\n"
            "                    divided between them (threads = 0: the affinity mask)\n"
            "  --dry-run         list the cells and their runs; train nothing\n"
            "  --solo            train each seed alone, not as one group (same results,\n"
            "                    slower: for timing the grouping)\n"
            "  -h, --help        this text\n"
            "\n"
            "Running the same command again continues a stopped sweep: finished cells are\n"
            "kept, the others resume from their checkpoints. A different sweep in an existing\n"
            "DIR is refused. Several processes may share DIR (shards, two commands): a cell\n"
            "being trained is locked (DIR/<cell>/.lock); the others skip it, then wait for it.\n"
            "\n"
            "Exit status: 0 done (diverged runs are results, flagged in the summary),\n"
            "1 error, 2 bad usage, 130 interrupted by SIGINT/SIGTERM, 75 stopped by SIGUSR1\n"
            "(a cluster's time-limit warning: requeue); both save the state at the next step:\n"
            "run the same command again.\n");
}

typedef struct {
    const char *config, *out;
    const char *sets[BP_MAX_SETS];
    int nsets, dry_run, solo;
    int shard, shards; /* --shard K/N; shards = 0: the whole sweep */
    int jobs;
} sweep_args;

/* "K/N" with 0 <= K < N. */
static int parse_shard(const char *text, int *k, int *n)
{
    char tail;
    return sscanf(text, "%d/%d%c", k, n, &tail) == 2 && *n >= 1 && *k >= 0 && *k < *n;
}

static int parse_jobs(const char *text, int *jobs)
{
    char tail;
    return sscanf(text, "%d%c", jobs, &tail) == 1 && *jobs >= 1 && *jobs <= 1024;
}

/* -1: go on; otherwise the exit status. */
static int parse_args(int argc, char **argv, sweep_args *a)
{
    memset(a, 0, sizeof *a);
    a->jobs = 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            sweep_usage(stdout);
            return 0;
        } else if (!strcmp(s, "--config") && i + 1 < argc) {
            a->config = argv[++i];
        } else if (!strcmp(s, "--out") && i + 1 < argc) {
            a->out = argv[++i];
        } else if (!strcmp(s, "--set") && i + 1 < argc && a->nsets < BP_MAX_SETS) {
            a->sets[a->nsets++] = argv[++i];
        } else if (!strcmp(s, "--shard") && i + 1 < argc) {
            if (!parse_shard(argv[++i], &a->shard, &a->shards)) {
                fprintf(stderr, "biopp sweep: --shard '%s': expected K/N with 0 <= K < N, e.g. "
                                "--shard 0/4\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(s, "--jobs") && i + 1 < argc) {
            if (!parse_jobs(argv[++i], &a->jobs)) {
                fprintf(stderr, "biopp sweep: --jobs '%s': expected a count 1..1024\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(s, "--dry-run")) {
            a->dry_run = 1;
        } else if (!strcmp(s, "--solo")) {
            a->solo = 1;
        } else {
            fprintf(stderr, "biopp sweep: unexpected argument '%s'\n\n", s);
            sweep_usage(stderr);
            return 2;
        }
    }
    if (!a->config || (!a->out && !a->dry_run)) {
        fprintf(stderr, "biopp sweep: %s is required\n\n",
                a->config ? "--out DIR" : "--config FILE");
        sweep_usage(stderr);
        return 2;
    }
    return -1;
}

static int load_sweep(const sweep_args *a, bp_sweep *s)
{
    bp_error err = {0};
    bp_status st = bp_sweep_load(s, a->config, &err);
    for (int i = 0; !st && i < a->nsets; i++) st = bp_sweep_override(s, a->sets[i], &err);
    if (!st) st = bp_sweep_expand(s, &err);
    if (st) fprintf(stderr, "biopp sweep: %s\n", err.msg);
    return st ? 1 : 0;
}

static void format_duration(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, n, "%.1fs", s);
}

/* ---- the cells of this process ------------------------------------------ */

/* The cells this command trains: the shard's (--shard K/N) or all, in cell
 * order; with --jobs, largest first, so that the jobs end close together. */
typedef struct {
    int n, *cell;
    double *cost, *load; /* per cell, per shard (shards >= 1) */
    int shards;
} cell_list;

static int cmp_cost_desc(const void *a, const void *b, void *costs)
{
    const double *c = costs;
    int x = *(const int *)a, y = *(const int *)b;
    if (c[x] != c[y]) return c[x] > c[y] ? -1 : 1;
    return x - y;
}

static int make_list(const bp_sweep *s, const sweep_args *a, cell_list *l)
{
    bp_error err = {0};
    memset(l, 0, sizeof *l);
    l->shards = a->shards ? a->shards : 1;
    int *shard_of = calloc((size_t)s->n_cells, sizeof *shard_of);
    l->cell = calloc((size_t)s->n_cells, sizeof *l->cell);
    l->cost = calloc((size_t)s->n_cells, sizeof *l->cost);
    l->load = calloc((size_t)l->shards, sizeof *l->load);
    if (!shard_of || !l->cell || !l->cost || !l->load) {
        free(shard_of);
        fprintf(stderr, "biopp sweep: out of memory\n");
        return 1;
    }
    if (bp_sweep_shards(s, l->shards, shard_of, l->cost, l->load, &err)) {
        free(shard_of);
        fprintf(stderr, "biopp sweep: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < s->n_cells; i++)
        if (shard_of[i] == a->shard) l->cell[l->n++] = i;
    if (a->jobs > 1) qsort_r(l->cell, (size_t)l->n, sizeof *l->cell, cmp_cost_desc, l->cost);
    free(shard_of);
    return 0;
}

static void free_list(cell_list *l)
{
    free(l->cell);
    free(l->cost);
    free(l->load);
}

/* ---- --dry-run ---------------------------------------------------------- */

static const char *cell_state(const bp_sweep *s, const char *out, const bp_sweep_cell *c)
{
    if (!out) return "";
    if (bp_sweep_cell_done(s, out, c)) return "  done";
    bp_sweep_cell_result r;
    bp_error ignore;
    int finished = 0;
    if (!bp_sweep_cell_result_read(s, out, c, &r, &ignore)) finished = r.finished;
    bp_sweep_cell_result_free(&r);
    return finished ? "  partly done" : "";
}

static void print_shards(const sweep_args *a, const cell_list *l)
{
    double total = 0;
    for (int k = 0; k < l->shards; k++) total += l->load[k];
    printf("shard %d of %d: %d cells, estimated cost %.3g FLOP (%.1f%% of the sweep; "
           "shards:", a->shard, a->shards, l->n, l->load[a->shard],
           total > 0 ? 100.0 * l->load[a->shard] / total : 0.0);
    for (int k = 0; k < l->shards; k++)
        printf(" %.1f%%", total > 0 ? 100.0 * l->load[k] / total : 0.0);
    printf(")\n");
}

static int dry_run(const bp_sweep *s, const sweep_args *a, const cell_list *l)
{
    bp_error err = {0};
    const char *out = a->out;
    if (out && bp_sweep_check_dir(s, out, &err)) {
        fprintf(stderr, "biopp sweep: %s\n", err.msg);
        return 1;
    }
    bp_sweep_cell *c = malloc(sizeof *c);
    if (!c) return 1;
    printf("%s: %d cells x %d seeds = %d runs\n", s->source, s->n_cells, s->n_seeds,
           s->n_cells * s->n_seeds);
    printf("seeds:");
    for (int r = 0; r < s->n_seeds; r++) printf(" %" PRIu64, s->seeds[r]);
    printf("\n");
    if (a->shards) print_shards(a, l);
    for (int j = 0; j < l->n; j++) {
        int i = l->cell[j];
        if (bp_sweep_cell_at(s, i, c, &err)) {
            fprintf(stderr, "biopp sweep: %s\n", err.msg);
            free(c);
            return 1;
        }
        printf("%4d/%d  %-40s  %d runs x %d epochs%s\n", i + 1, s->n_cells, c->name,
               s->n_seeds, c->cfg.epochs, cell_state(s, out, c));
    }
    printf("(dry run: nothing trained)\n");
    free(c);
    return 0;
}


/* ---- progress ----------------------------------------------------------- */

typedef struct {
    bp_progress bar;
    const bp_sweep *s;
    int cell, epochs;          /* current cell (1-based) and its epochs */
    char name[BP_SWEEP_NAME_MAX + 1];
    /* the per-epoch line: runs reported for line_epoch so far, of `live` */
    int live, line_epoch, line_runs, line_diverged;
    double line_test, last_line;
    /* ETA: work in epoch-runs (one run trained one epoch) */
    long long left_after;      /* in the pending cells after this one */
    long long cell_work;       /* R * epochs of this cell */
    int run_epoch[BP_MAX_SEEDS];
    long long trained;         /* epoch-runs trained by this process */
    double seconds;            /* wall time of earlier cells' training */
    double cell_start;
    int quiet;                 /* a --jobs child: no progress bar, no header */
} sweep_ui;

static long long cell_left(const sweep_ui *ui)
{
    long long done = 0;
    for (int r = 0; r < ui->s->n_seeds; r++) done += ui->run_epoch[r];
    return ui->cell_work - done;
}

/* Seconds to finish the sweep, from the time per epoch-run measured so far. */
static double eta_seconds(const sweep_ui *ui, int with_cell)
{
    double spent = ui->seconds + (ui->cell_start > 0 ? cli_now() - ui->cell_start : 0.0);
    if (ui->trained <= 0) return NAN;
    long long left = ui->left_after + (with_cell ? cell_left(ui) : 0);
    return spent / (double)ui->trained * (double)left;
}

/* One line per epoch of the group, at most every LINE_EVERY_S seconds (the
 * cell's own line reports its last epoch). */
static void epoch_line(sweep_ui *ui)
{
    double now = cli_now();
    if (ui->line_epoch >= ui->epochs || now - ui->last_line < LINE_EVERY_S) return;
    char eta[32];
    int ok = ui->line_runs - ui->line_diverged;
    format_duration(eta_seconds(ui, 1), eta, sizeof eta);
    progress_clear(&ui->bar);
    fprintf(stderr, "biopp sweep: [%d/%d] %s epoch %d/%d  test %.2f%% (mean of %d runs)%s  ETA %s\n",
            ui->cell, ui->s->n_cells, ui->name, ui->line_epoch, ui->epochs,
            ok ? 100.0 * ui->line_test / ok : NAN, ok,
            ui->line_diverged ? "  some diverged" : "", eta);
    ui->last_line = now;
}

/* After each epoch of each live run (runs in order; diverged runs retire). */
static void on_epoch(void *user, int r, const bp_epoch_metrics *m)
{
    sweep_ui *ui = user;
    if (m->epoch != ui->line_epoch) {
        ui->line_epoch = m->epoch;
        ui->line_runs = ui->line_diverged = 0;
        ui->line_test = 0.0;
    }
    ui->trained++;
    ui->run_epoch[r] = m->diverged ? ui->epochs : m->epoch;
    ui->line_runs++;
    if (m->diverged) ui->line_diverged++;
    else ui->line_test += m->test_error;
    if (ui->line_runs == ui->live) {
        epoch_line(ui);
        ui->live -= ui->line_diverged;
    }
}

static void on_progress(void *user, int epoch, int step, int steps)
{
    sweep_ui *ui = user;
    progress_step(&ui->bar, epoch, step, steps);
}

/* Runs of the cell that will train: those not recorded as diverged. */
static int live_runs(const bp_sweep *s, const char *out, const bp_sweep_cell *c)
{
    bp_sweep_cell_result r;
    bp_error ignore;
    int live = s->n_seeds;
    if (!bp_sweep_cell_result_read(s, out, c, &r, &ignore)) live -= r.diverged;
    bp_sweep_cell_result_free(&r);
    return live;
}

static void start_cell(sweep_ui *ui, const char *out, const bp_sweep_cell *c)
{
    char label[sizeof ui->bar.label];
    ui->epochs = c->cfg.epochs;
    ui->cell = c->index + 1;
    snprintf(ui->name, sizeof ui->name, "%s", c->name);
    if (snprintf(label, sizeof label, "[%d/%d] %s", ui->cell, ui->s->n_cells, c->name) >=
        (int)sizeof label)
        memcpy(label + sizeof label - 4, "...", 4); /* a long name, shortened for the bar */
    progress_init(&ui->bar, label, c->cfg.epochs);
    ui->cell_work = (long long)ui->s->n_seeds * c->cfg.epochs;
    ui->left_after -= ui->cell_work;
    memset(ui->run_epoch, 0, sizeof ui->run_epoch);
    ui->live = live_runs(ui->s, out, c);
    ui->line_epoch = ui->line_runs = ui->line_diverged = 0;
    ui->last_line = ui->cell_start = cli_now();
}

static void end_cell(sweep_ui *ui)
{
    progress_clear(&ui->bar);
    ui->seconds += cli_now() - ui->cell_start;
    ui->cell_start = 0.0;
    ui->cell_work = 0;
    memset(ui->run_epoch, 0, sizeof ui->run_epoch);
}

static void print_cell_result(const sweep_ui *ui, const char *out, const bp_sweep_cell *c,
                              double seconds)
{
    bp_sweep_cell_result r;
    bp_error err = {0};
    char took[32], eta[32], test[64];
    if (bp_sweep_cell_result_read(ui->s, out, c, &r, &err)) {
        fprintf(stderr, "biopp sweep: [%d/%d] %s: %s\n", c->index + 1, ui->s->n_cells, c->name,
                err.msg);
        bp_sweep_cell_result_free(&r);
        return;
    }
    if (r.n_test >= 2) snprintf(test, sizeof test, "%.2f ± %.2f%%", r.mean_test, r.std_test);
    else if (r.n_test == 1) snprintf(test, sizeof test, "%.2f%%", r.mean_test);
    else snprintf(test, sizeof test, "-");
    format_duration(seconds, took, sizeof took);
    format_duration(eta_seconds(ui, 0), eta, sizeof eta);
    fprintf(stderr, "biopp sweep: [%d/%d] %s: test %s (%d runs, %d diverged) in %s; sweep ETA %s\n",
            c->index + 1, ui->s->n_cells, c->name, test, r.runs, r.diverged, took,
            ui->left_after > 0 ? eta : "0s");
    bp_sweep_cell_result_free(&r);
}

/* ---- the sweep ---------------------------------------------------------- */

typedef struct {
    bp_dataset ds;
    int loaded;
    char name[32], dir[1024];
} dataset_cache;

/* The cell's data set, loaded unless the previous cell used the same. */
static const bp_dataset *cell_dataset(dataset_cache *dc, const bp_config *cfg)
{
    if (dc->loaded && !strcmp(dc->name, cfg->dataset) && !strcmp(dc->dir, cfg->data_dir))
        return &dc->ds;
    if (dc->loaded) bp_dataset_free(&dc->ds);
    dc->loaded = 0;
    memset(&dc->ds, 0, sizeof dc->ds);
    if (cli_load_dataset(cfg, &dc->ds)) return NULL;
    dc->loaded = 1;
    snprintf(dc->name, sizeof dc->name, "%s", cfg->dataset);
    snprintf(dc->dir, sizeof dc->dir, "%s", cfg->data_dir);
    return &dc->ds;
}

/* Work left (epoch-runs) and cells already done. */
/* Work left (epoch-runs) and cells already done, of the list. */
static int count_pending(const bp_sweep *s, const char *out, const cell_list *l,
                         bp_sweep_cell *c, long long *work)
{
    int done = 0;
    bp_error err;
    *work = 0;
    for (int j = 0; j < l->n; j++) {
        if (bp_sweep_cell_at(s, l->cell[j], c, &err)) continue;
        if (bp_sweep_cell_done(s, out, c)) done++;
        else *work += (long long)s->n_seeds * c->cfg.epochs;
    }
    return done;
}

/* 130 or 75 for a stop, by the signal that asked for it. */
static int stop_status(void) { return bp_stop_signal == SIGUSR1 ? BP_EXIT_REQUEUE : 130; }

/* Trains one pending cell: 0 done, 1 error, 130/75 interrupted. */
static int train_cell(sweep_ui *ui, dataset_cache *dc, const char *out, const bp_sweep_cell *c)
{
    if (bp_stop_requested) return stop_status();
    const bp_dataset *ds = cell_dataset(dc, &c->cfg);
    if (!ds) return 1;
    bp_runner_opts opts = {.stop = &bp_stop_requested,
                           .progress = ui->quiet ? NULL : on_progress,
                           .on_epoch = on_epoch,
                           .user = ui};
    int *diverged = calloc((size_t)ui->s->n_seeds, sizeof *diverged);
    bp_error err = {0};
    start_cell(ui, out, c);
    double t0 = cli_now();
    bp_status st = diverged ? bp_sweep_run_cell(ui->s, c, out, ds, &opts, diverged, &err)
                            : bp_fail(&err, BP_ERR_NOMEM, "out of memory");
    end_cell(ui);
    free(diverged);
    if (st == BP_ERR_INTERRUPTED) {
        fprintf(stderr, "biopp sweep: [%d/%d] %s: %s\n", c->index + 1, ui->s->n_cells, c->name,
                err.msg);
        return stop_status();
    }
    if (st) {
        fprintf(stderr, "biopp sweep: %s\n", err.msg);
        return 1;
    }
    print_cell_result(ui, out, c, cli_now() - t0);
    return 0;
}

/* Trains the cell under its lock. wait = 0: a cell another process holds
 * is left (*held = 1) for later; wait = 1: waits for it, then trains it
 * unless that process finished it. */
static int locked_cell(sweep_ui *ui, dataset_cache *dc, const char *out, bp_sweep_cell *c,
                       int wait, int *held)
{
    bp_error err = {0};
    int fd = -1;
    *held = 0;
    if (wait && !ui->quiet) /* quiet (a --jobs child): the holder is a sibling */
        fprintf(stderr, "biopp sweep: [%d/%d] %s: waiting for the process that holds %s/%s/.lock\n",
                c->index + 1, ui->s->n_cells, c->name, out, c->name);
    bp_status st = bp_sweep_lock_cell(out, c, wait, &fd, &err);
    if (st == BP_ERR_INTERRUPTED) return stop_status();
    if (st) {
        fprintf(stderr, "biopp sweep: %s\n", err.msg);
        return 1;
    }
    if (fd < 0) {
        if (!ui->quiet)
            fprintf(stderr,
                    "biopp sweep: [%d/%d] %s: another process is training it (%s/%s/.lock is "
                    "held); coming back to it later\n",
                    c->index + 1, ui->s->n_cells, c->name, out, c->name);
        *held = 1;
        return 0;
    }
    int rc = 0;
    if (bp_sweep_cell_done(ui->s, out, c)) { /* finished while we were not looking */
        ui->left_after -= (long long)ui->s->n_seeds * c->cfg.epochs;
        if (!ui->quiet)
            fprintf(stderr, "biopp sweep: [%d/%d] %s: finished by another process\n",
                    c->index + 1, ui->s->n_cells, c->name);
    } else {
        rc = train_cell(ui, dc, out, c);
    }
    bp_unlock(fd);
    return rc;
}

static int train_list(const bp_sweep *s, const char *out, const cell_list *l, int threads,
                      int quiet)
{
    bp_sweep_cell *c = malloc(sizeof *c);
    sweep_ui *ui = calloc(1, sizeof *ui);
    dataset_cache *dc = calloc(1, sizeof *dc);
    int *held = calloc((size_t)l->n + 1, sizeof *held);
    int rc = c && ui && dc && held ? 0 : 1;
    if (rc) fprintf(stderr, "biopp sweep: out of memory\n");
    if (!rc) {
        ui->s = s;
        ui->quiet = quiet;
        int done = count_pending(s, out, l, c, &ui->left_after);
        if (!quiet)
            fprintf(stderr, "biopp sweep: %d cells x %d seeds = %d runs in %s (%d cells done before)\n",
                    l->n, s->n_seeds, l->n * s->n_seeds, out, done);
    }
    /* First pass: the free cells; second: those that were locked. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (int j = 0; !rc && j < l->n; j++) {
            bp_error err = {0};
            if (pass && !held[j]) continue;
            if (bp_sweep_cell_at(s, l->cell[j], c, &err)) {
                fprintf(stderr, "biopp sweep: %s\n", err.msg);
                rc = 1;
            } else if (!bp_sweep_cell_done(s, out, c)) {
                if (threads > 0) c->cfg.threads = threads;
                rc = locked_cell(ui, dc, out, c, pass, &held[j]);
            }
        }
    }
    if (dc && dc->loaded) bp_dataset_free(&dc->ds);
    free(held);
    free(dc);
    free(ui);
    free(c);
    return rc;
}

/* --jobs J: J processes share the list through the cell locks, each with
 * its share of the CPU threads. */
typedef struct {
    const bp_sweep *s;
    const char *out;
    const cell_list *l;
    int threads;
} jobs_ctx;

static int job_body(void *user, int job)
{
    const jobs_ctx *j = user;
    return train_list(j->s, j->out, j->l, j->threads, 1);
}

/* Threads per job: the CPUs this process may use (its affinity mask)
 * divided by J, or the sweep's `threads` when that is smaller; J itself is
 * capped at the CPU count, so that jobs x threads never exceeds it. */
static int split_threads(const bp_sweep *s, int *jobs)
{
    bp_sweep_cell c;
    bp_error err;
    int cpus = bp_cpu_count(), threads = 0, cpu = 1;
    if (s->n_cells && !bp_sweep_cell_at(s, 0, &c, &err)) {
        threads = c.cfg.threads;
        cpu = c.cfg.device == BP_DEVICE_CPU;
    }
    if (cpu && *jobs > cpus) {
        fprintf(stderr, "biopp sweep: --jobs %d: this process may use %d CPU%s; running %d jobs\n",
                *jobs, cpus, cpus == 1 ? "" : "s", cpus);
        *jobs = cpus;
    }
    int share = cpus / *jobs > 0 ? cpus / *jobs : 1;
    return threads > 0 && threads < share ? threads : share;
}

static int train_cells(const bp_sweep *s, const char *out, const cell_list *l, int jobs)
{
    if (jobs > l->n) jobs = l->n > 0 ? l->n : 1;
    if (jobs <= 1) return train_list(s, out, l, 0, 0);
    jobs_ctx j = {s, out, l, 0};
    j.threads = split_threads(s, &jobs);
    if (jobs <= 1) return train_list(s, out, l, 0, 0);
    fprintf(stderr, "biopp sweep: %d cells x %d seeds in %s, %d jobs at once, %d thread%s each\n",
            l->n, s->n_seeds, out, jobs, j.threads, j.threads == 1 ? "" : "s");
    return cli_run_jobs(jobs, job_body, &j);
}

static int write_summary(const bp_sweep *s, const sweep_args *a, int rc)
{
    char *md = NULL;
    bp_error err = {0};
    const char *out = a->out;
    if (bp_sweep_write_summary(s, out, &md, &err)) {
        fprintf(stderr, "biopp sweep: writing the summary: %s\n", err.msg);
        return rc ? rc : 1;
    }
    if (rc == 0 && a->shards) {
        fprintf(stderr, "biopp sweep: shard %d/%d done; %s/summary.* has the cells finished so "
                        "far; `biopp merge %s` once every shard has finished\n",
                a->shard, a->shards, out, out);
    } else if (rc == 0) {
        fputs(md, stdout);
        fflush(stdout);
        fprintf(stderr, "biopp sweep: done; results in %s/summary.md, summary.csv, summary.json\n",
                out);
    } else if (rc == 130 || rc == BP_EXIT_REQUEUE) {
        fprintf(stderr,
                "biopp sweep: %s; finished cells and checkpoints are kept, the partial "
                "summary is in %s/summary.md. Run the same command again to continue.\n",
                rc == 130 ? "interrupted" : "stopped by SIGUSR1 (exit 75: requeue)", out);
    }
    free(md);
    return rc;
}

/* ---- before the folder is written ---------------------------------------- */

/* A device the cells use, tried once (CUDA without a GPU fails here). */
static int check_device(const bp_config *cfg)
{
    bp_backend *be = NULL;
    bp_error err = {0};
    bp_status st = bp_backend_create(cfg, &be, &err);
    bp_backend_destroy(be);
    if (st) fprintf(stderr, "biopp sweep: cell with device = %s: %s\n",
                    bp_device_name(cfg->device), err.msg);
    return st ? 1 : 0;
}

static int check_dataset(const bp_config *cfg)
{
    bp_dataset ds;
    memset(&ds, 0, sizeof ds);
    int rc = cli_load_dataset(cfg, &ds);
    bp_dataset_free(&ds);
    return rc;
}

/* Every device and data set the pending cells of the list use is tried
 * before DIR is written, so that a sweep that cannot train leaves nothing
 * behind (docs/SWEEP.md). Each distinct one is tried once. */
static int preflight(const bp_sweep *s, const char *out, const cell_list *l)
{
    bp_sweep_cell *c = malloc(sizeof *c);
    int rc = c ? 0 : 1, cuda_done = 0, n_data = 0;
    char (*data)[1100] = calloc((size_t)l->n + 1, sizeof *data);
    if (!data) rc = 1;
    for (int j = 0; !rc && j < l->n; j++) {
        bp_error err = {0};
        if (bp_sweep_cell_at(s, l->cell[j], c, &err)) {
            fprintf(stderr, "biopp sweep: %s\n", err.msg);
            rc = 1;
            break;
        }
        if (bp_sweep_cell_done(s, out, c)) continue;
        if (c->cfg.device == BP_DEVICE_CUDA && !cuda_done) {
            cuda_done = 1;
            rc = check_device(&c->cfg);
        }
        char key[1100];
        snprintf(key, sizeof key, "%s/%s", c->cfg.dataset, c->cfg.data_dir);
        int known = 0;
        for (int k = 0; k < n_data && !known; k++) known = !strcmp(data[k], key);
        if (!rc && !known) {
            snprintf(data[n_data++], sizeof data[0], "%s", key);
            rc = check_dataset(&c->cfg);
        }
    }
    free(data);
    free(c);
    return rc;
}

/* DIR refused (a different sweep, a folder that is not a sweep), writing
 * nothing: before the data are loaded for the preflight. */
static int check_out(const bp_sweep *s, const char *out)
{
    bp_error err = {0};
    if (!bp_sweep_check_dir(s, out, &err)) return 0;
    fprintf(stderr, "biopp sweep: %s\n", err.msg);
    return 1;
}

/* DIR writable, creating nothing (a sweep that cannot train must leave no
 * folder): DIR itself is probed when it exists, else the nearest folder
 * above it must be writable. Before the data are loaded. */
static int check_out_writable(const char *out)
{
    bp_error err = {0};
    struct stat st;
    if (stat(out, &st) == 0) {
        if (!bp_check_writable_dir(out, &err)) return 0;
        fprintf(stderr, "biopp sweep: %s\n", err.msg);
        return 1;
    }
    char up[4096];
    snprintf(up, sizeof up, "%s", out);
    for (;;) {
        char *slash = strrchr(up, '/');
        if (!slash) snprintf(up, sizeof up, ".");
        else slash[slash == up ? 1 : 0] = '\0';
        if (stat(up, &st) == 0 || !slash || !strcmp(up, "/")) break;
    }
    if (stat(up, &st) == 0 && S_ISDIR(st.st_mode) && access(up, W_OK | X_OK) == 0) return 0;
    fprintf(stderr, "biopp sweep: output folder: cannot create %s: %s is %s\n", out, up,
            stat(up, &st) != 0 || S_ISDIR(st.st_mode) ? "not writable" : "not a directory");
    return 1;
}

static int prepare_out(const bp_sweep *s, const char *out)
{
    bp_error err = {0};
    int replaced = 0;
    if (bp_check_writable_dir(out, &err) ||
        bp_sweep_prepare_dir_replacing(s, out, &replaced, &err)) {
        fprintf(stderr, "biopp sweep: %s\n", err.msg);
        return 1;
    }
    if (replaced)
        fprintf(stderr, "biopp sweep: %s/sweep.ini held a different sweep that had started no "
                        "run; replaced it with this one\n", out);
    return 0;
}

int cmd_sweep(int argc, char **argv)
{
    sweep_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    bp_sweep *s = malloc(sizeof *s);
    if (!s) return 1;
    bp_sweep_init(s);
    rc = load_sweep(&a, s);
    s->solo = a.solo;
    cell_list l = {0};
    if (!rc) rc = make_list(s, &a, &l);
    if (!rc && a.dry_run) rc = dry_run(s, &a, &l);
    else if (!rc) {
        rc = check_out(s, a.out) || check_out_writable(a.out) || preflight(s, a.out, &l) ||
             prepare_out(s, a.out);
        if (!rc) {
            bp_install_stop_handlers();
            rc = write_summary(s, &a, train_cells(s, a.out, &l, a.jobs));
        }
    }
    free_list(&l);
    bp_sweep_free(s);
    free(s);
    return rc;
}
