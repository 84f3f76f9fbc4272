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
#include "biopp/eta.h"
#include "biopp/fsutil.h"
#include "biopp/progress_line.h"
#include "biopp/runner.h"
#include "biopp/sweep.h"
#include "args.h"
#include "cli.h"

#define LINE_EVERY_S 10.0 /* seconds between per-epoch lines of a long cell */

static void sweep_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp sweep --config FILE --out DIR [--set key=value]... [--shard K/N]\n"
            "                   [--jobs J] [--dry-run] [--solo] [--print-config]\n"
            "\n"
            "Trains every cell of a grid. FILE is a config file (docs/CONFIG.md) whose keys\n"
            "may hold comma-separated lists (rule = bp,fa,dfa; hidden = 1x400,2x400), plus\n"
            "`seeds = N` (seeds 1..N) or `seeds = 3,7,11` in a [sweep] section. The cells are\n"
            "the combinations of the lists; a cell's seeds train together as one group.\n"
            "`RULE.key = value` sets a key for one rule's cells only (bdfa.alpha = 0.25).\n"
            "Format, folder layout and summaries: docs/SWEEP.md; every key with its default\n"
            "and meaning: `biopp keys`.\n"
            "\n"
            "  -c, --config FILE the sweep file (required)\n"
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
            "  --print-config    print the effective sweep (FILE with every --set, every key,\n"
            "                    as DIR/sweep.ini would hold it) and exit; trains nothing\n"
            "  -h, --help        this text\n"
            "\n"
            "Options also take the form --opt=VALUE. A key that no cell's rule or optimizer\n"
            "reads (momentum when every cell uses adam) gets one warning.\n"
            "\n"
            "Running the same command again continues a stopped sweep: finished cells are\n"
            "kept, the others resume from their checkpoints. A different sweep in an existing\n"
            "DIR is refused. Several processes may share DIR (shards, two commands): a cell\n"
            "being trained is locked (DIR/<cell>/.lock); the others skip it, then wait for it.\n"
            "\n"
            "Exit status: 0 done (diverged runs are results, flagged in the summary),\n"
            "1 error, 2 usage error, 130 interrupted by SIGINT/SIGTERM, 75 stopped by SIGUSR1\n"
            "(a cluster's time-limit warning: requeue); both save the state at the next step:\n"
            "run the same command again.\n");
}

typedef struct {
    const char *config, *out;
    cli_list sets;
    int dry_run, solo, print;
    int shard, shards; /* --shard K/N; shards = 0: the whole sweep */
    int jobs;
} sweep_args;

/* "K/N" with 0 <= K < N. */
static int parse_shard(const char *text, int *k, int *n)
{
    const char *slash = strchr(text, '/');
    char head[32];
    if (!slash || (size_t)(slash - text) >= sizeof head) return 0;
    memcpy(head, text, (size_t)(slash - text));
    head[slash - text] = '\0';
    return cli_parse_int(head, 0, 1 << 20, k) && cli_parse_int(slash + 1, 1, 1 << 20, n) &&
           *k < *n;
}

enum { S_CONFIG, S_OUT, S_SET, S_SHARD, S_JOBS, S_DRY_RUN, S_SOLO, S_PRINT };
static const cli_option sweep_opts[] = {
    [S_CONFIG] = {"--config", 'c', "FILE", 0},
    [S_OUT] = {"--out", 0, "DIR", 0},
    [S_SET] = {"--set", 0, "key=value", 1},
    [S_SHARD] = {"--shard", 0, "K/N", 0},
    [S_JOBS] = {"--jobs", 0, "J", 0},
    [S_DRY_RUN] = {"--dry-run", 0, NULL, 0},
    [S_SOLO] = {"--solo", 0, NULL, 0},
    [S_PRINT] = {"--print-config", 0, NULL, 0},
};

/* -1: go on; otherwise the exit status. a->sets is allocated either way. */
static int parse_args(int argc, char **argv, sweep_args *a)
{
    memset(a, 0, sizeof *a);
    a->jobs = 1;
    if (cli_list_init(&a->sets, argc)) return 1;
    cli_parser p;
    cli_parser_init(&p, "sweep", argc, argv, sweep_opts, CLI_N_OPTS(sweep_opts));
    const char *v;
    for (int o; (o = cli_next(&p, &v)) != CLI_END;) {
        switch (o) {
        case CLI_HELP: sweep_usage(stdout); return 0;
        case CLI_USAGE: return 2;
        case CLI_POSITIONAL: return cli_unexpected("sweep", v, sweep_usage);
        case S_CONFIG: a->config = v; break;
        case S_OUT: a->out = v; break;
        case S_SET: a->sets.v[a->sets.n++] = v; break;
        case S_SHARD:
            if (!parse_shard(v, &a->shard, &a->shards))
                return cli_usage_error("sweep", "--shard '%s': expected K/N with 0 <= K < N, "
                                       "e.g. --shard 0/4", v);
            break;
        case S_JOBS:
            if (!cli_parse_int(v, 1, 1024, &a->jobs))
                return cli_usage_error("sweep", "--jobs '%s': expected a count 1..1024", v);
            break;
        case S_DRY_RUN: a->dry_run = 1; break;
        case S_SOLO: a->solo = 1; break;
        case S_PRINT: a->print = 1; break;
        }
    }
    if (!a->config || (!a->out && !a->dry_run && !a->print)) {
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
    for (int i = 0; !st && i < a->sets.n; i++) st = bp_sweep_override(s, a->sets.v[i], &err);
    if (!st) st = bp_sweep_expand(s, &err);
    if (st) fprintf(stderr, "biopp sweep: %s\n", err.msg);
    if (!st) cli_sweep_warnings("sweep", s);
    return st ? 1 : 0;
}

/* --print-config: the spec as DIR/sweep.ini would hold it. */
static int print_spec(const bp_sweep *s)
{
    char *text = NULL;
    bp_error err = {0};
    if (bp_sweep_spec_text(s, &text, &err)) {
        fprintf(stderr, "biopp sweep: %s\n", err.msg);
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return 0;
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
    printf("shard %d of %d: %d cell%s, estimated cost %.3g FLOP (%.1f%% of the sweep; "
           "shards:", a->shard, a->shards, l->n, bp_plural_s(l->n), l->load[a->shard],
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
    printf("%s: %d cell%s x %d seed%s = %d run%s\n", s->source, s->n_cells,
           bp_plural_s(s->n_cells), s->n_seeds, bp_plural_s(s->n_seeds), s->n_cells * s->n_seeds,
           bp_plural_s(s->n_cells * s->n_seeds));
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
        printf("%4d/%d  %-40s  %d run%s x %d epoch%s%s\n", i + 1, s->n_cells, c->name,
               s->n_seeds, bp_plural_s(s->n_seeds), c->cfg.epochs, bp_plural_s(c->cfg.epochs),
               cell_state(s, out, c));
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
    /* ETA (include/biopp/eta.h): the list's cells by their estimated cost */
    const cell_list *l;
    bp_eta_cell *eta;          /* per cell of the list */
    int cur, observed;         /* the cell being trained (index in l); its start seen */
    int solo_run;              /* --solo: the cell's runs train one after the other */
    double run_frac;           /* fraction of the current run (group) reached */
    double seconds;            /* wall time of earlier cells' training */
    double cell_start;
    int quiet;                 /* a --jobs child: no progress bar, no header */
    int jobs;                  /* processes sharing the list (--jobs) */
    const char *out;
    bp_sweep_cell *scratch;    /* for refresh_done */
} sweep_ui;

/* Seconds to finish the list: the time per unit of cost measured so far,
 * times the cost left (shared by the jobs). */
static double eta_seconds(const sweep_ui *ui)
{
    double spent = ui->seconds + (ui->cell_start > 0 ? cli_now() - ui->cell_start : 0.0);
    return bp_eta_seconds(ui->eta, ui->l->n, spent) / (ui->jobs > 1 ? ui->jobs : 1);
}

/* The current cell has reached `frac` of its epochs; the first report of a
 * cell marks where this process's measurement of it starts (a resumed cell). */
static void cell_reached(sweep_ui *ui, double frac)
{
    bp_eta_cell *e = &ui->eta[ui->cur];
    if (ui->s->solo && ui->s->n_seeds > 1) { /* the epochs start again with each run */
        if (frac < ui->run_frac && ui->solo_run < ui->s->n_seeds - 1) ui->solo_run++;
        ui->run_frac = frac;
        frac = (ui->solo_run + frac) / ui->s->n_seeds;
    }
    if (!ui->observed) e->before = frac;
    ui->observed = 1;
    e->done = frac;
}

/* "[3/12]", the cell's place in the sweep. */
static void cell_tag(char *buf, size_t n, const sweep_ui *ui, int cell)
{
    snprintf(buf, n, "[%d/%d]", cell, ui->s->n_cells);
}

/* One line per epoch of the group, at most every LINE_EVERY_S seconds (the
 * cell's own line reports its last epoch). */
static void epoch_line(sweep_ui *ui)
{
    double now = cli_now();
    if (ui->line_epoch >= ui->epochs || now - ui->last_line < LINE_EVERY_S) return;
    char t[8][64], line[1024];
    int ok = ui->line_runs - ui->line_diverged;
    cell_tag(t[0], sizeof t[0], ui, ui->cell);
    snprintf(t[1], sizeof t[1], "epoch %d/%d", ui->line_epoch, ui->epochs);
    snprintf(t[2], sizeof t[2], "%d/%d", ui->line_epoch, ui->epochs);
    snprintf(t[3], sizeof t[3], "test %.2f%%", ok ? 100.0 * ui->line_test / ok : NAN);
    snprintf(t[5], sizeof t[5], "(%d run%s)", ok, bp_plural_s(ok));
    if (ok == 1) snprintf(t[4], sizeof t[4], "%s", t[5]);
    else snprintf(t[4], sizeof t[4], "(mean of %d runs)", ok);
    char d[32];
    bp_format_duration(eta_seconds(ui), d, sizeof d);
    snprintf(t[7], sizeof t[7], "ETA %s", d);
    bp_line_field f[] = {
        {{"biopp sweep:", NULL, ""}, 1, 0, 0},
        {{t[0], NULL, NULL}, 9, 0, 0},
        {{ui->name, NULL, NULL}, 3, 1, 1},
        {{t[1], NULL, t[2]}, 8, 0, 0},
        {{t[3], NULL, NULL}, 7, 0, 0},
        {{t[4], t[5], ""}, 2, 0, 0},
        {{ui->line_diverged ? "some diverged" : "", NULL, NULL}, 5, 0, 0},
        {{t[7], NULL, NULL}, 6, 0, 0},
    };
    bp_fit_line(line, sizeof line, cli_term_width(), f, (int)(sizeof f / sizeof f[0]));
    progress_line(&ui->bar, line);
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
    ui->line_runs++;
    if (m->diverged) ui->line_diverged++;
    else ui->line_test += m->test_error;
    if (ui->line_runs == ui->live) {
        cell_reached(ui, bp_eta_fraction(m->epoch, ui->epochs, 1, 1));
        epoch_line(ui);
        ui->live -= ui->line_diverged;
    }
}

static void on_progress(void *user, int epoch, int step, int steps)
{
    sweep_ui *ui = user;
    cell_reached(ui, bp_eta_fraction(epoch, ui->epochs, step, steps));
    if (ui->quiet) return;
    ui->bar.total_eta = eta_seconds(ui);
    progress_step(&ui->bar, epoch, step, steps);
}

static void on_evaluate(void *user, int epoch, int valid_n, int test_n)
{
    sweep_ui *ui = user;
    if (!ui->quiet) progress_evaluating(&ui->bar, epoch, valid_n, test_n);
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
    ui->epochs = c->cfg.epochs;
    ui->cell = c->index + 1;
    snprintf(ui->name, sizeof ui->name, "%s", c->name);
    progress_init(&ui->bar, c->name, c->cfg.epochs); /* the bar shortens a long name */
    cell_tag(ui->bar.tag, sizeof ui->bar.tag, ui, ui->cell);
    ui->bar.total = "sweep";
    ui->observed = ui->solo_run = 0;
    ui->run_frac = 0.0;
    ui->live = live_runs(ui->s, out, c);
    ui->line_epoch = ui->line_runs = ui->line_diverged = 0;
    ui->last_line = ui->cell_start = cli_now();
}

static void end_cell(sweep_ui *ui, int finished)
{
    progress_clear(&ui->bar);
    ui->seconds += cli_now() - ui->cell_start;
    ui->cell_start = 0.0;
    if (finished) { /* every run: also those finished before (--solo) */
        bp_eta_cell *e = &ui->eta[ui->cur];
        if (!ui->observed) e->before = 1.0;
        e->done = 1.0;
    }
}

static void print_cell_result(sweep_ui *ui, const char *out, const bp_sweep_cell *c,
                              double seconds)
{
    bp_sweep_cell_result r;
    bp_error err = {0};
    char t[8][64], name[BP_SWEEP_NAME_MAX + 2], line[1024];
    cell_tag(t[0], sizeof t[0], ui, c->index + 1);
    if (bp_sweep_cell_result_read(ui->s, out, c, &r, &err)) {
        fprintf(stderr, "biopp sweep: %s %s: %s\n", t[0], c->name, err.msg);
        bp_sweep_cell_result_free(&r);
        return;
    }
    snprintf(name, sizeof name, "%s:", c->name);
    if (r.n_test >= 2) snprintf(t[1], sizeof t[1], "test %.2f ± %.2f%%", r.mean_test, r.std_test);
    else if (r.n_test == 1) snprintf(t[1], sizeof t[1], "test %.2f%%", r.mean_test);
    else snprintf(t[1], sizeof t[1], "test -");
    snprintf(t[2], sizeof t[2], "(%d run%s, %d diverged)", r.runs, bp_plural_s(r.runs),
             r.diverged);
    snprintf(t[3], sizeof t[3], "(%d run%s, %d div.)", r.runs, bp_plural_s(r.runs), r.diverged);
    snprintf(t[4], sizeof t[4], "%d diverged", r.diverged);
    char d[32];
    bp_format_duration(seconds, d, sizeof d);
    snprintf(t[6], sizeof t[6], "in %s;", d);
    bp_format_duration(eta_seconds(ui), d, sizeof d);
    snprintf(t[5], sizeof t[5], "sweep ETA %s", d);
    snprintf(t[7], sizeof t[7], "ETA %s", d);
    bp_line_field f[] = {
        {{"biopp sweep:", NULL, ""}, 1, 0, 0},
        {{t[0], NULL, NULL}, 9, 0, 0},
        {{name, NULL, NULL}, 3, 1, 1},
        {{t[1], NULL, NULL}, 8, 0, 0},
        {{t[2], t[3], r.diverged ? t[4] : ""}, 5, 0, 0},
        {{t[6], NULL, NULL}, 2, 0, 0},
        {{t[5], NULL, t[7]}, 6, 0, 0},
    };
    bp_fit_line(line, sizeof line, cli_term_width(), f, (int)(sizeof f / sizeof f[0]));
    progress_line(&ui->bar, line);
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

/* The cells of the list for the ETA, by their estimated cost (those done
 * before count zero); returns how many are done. */
static int count_pending(const bp_sweep *s, const char *out, const cell_list *l,
                         bp_sweep_cell *c, bp_eta_cell *eta)
{
    int done = 0;
    bp_error err;
    for (int j = 0; j < l->n; j++) {
        int was = !bp_sweep_cell_at(s, l->cell[j], c, &err) && bp_sweep_cell_done(s, out, c);
        eta[j] = (bp_eta_cell){.cost = l->cost[l->cell[j]], .before = was, .done = was};
        done += was;
    }
    return done;
}

/* A cell finished by another process counts zero. */
static void cell_done_elsewhere(sweep_ui *ui, int j) { ui->eta[j].before = ui->eta[j].done = 1; }

/* With --jobs, the cells the other jobs finished meanwhile. */
static void refresh_done(sweep_ui *ui)
{
    bp_error err;
    for (int j = 0; ui->jobs > 1 && j < ui->l->n; j++)
        if (ui->eta[j].done < 1 && j != ui->cur &&
            !bp_sweep_cell_at(ui->s, ui->l->cell[j], ui->scratch, &err) &&
            bp_sweep_cell_done(ui->s, ui->out, ui->scratch))
            cell_done_elsewhere(ui, j);
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
                           .progress = on_progress, /* the ETA's measure, also quiet */
                           .on_evaluate = on_evaluate,
                           .on_epoch = on_epoch,
                           .user = ui};
    int *diverged = calloc((size_t)ui->s->n_seeds, sizeof *diverged);
    bp_error err = {0};
    start_cell(ui, out, c);
    double t0 = cli_now();
    bp_status st = diverged ? bp_sweep_run_cell(ui->s, c, out, ds, &opts, diverged, &err)
                            : bp_fail(&err, BP_ERR_NOMEM, "out of memory");
    end_cell(ui, st == BP_OK);
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
    refresh_done(ui);
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
        cell_done_elsewhere(ui, ui->cur);
        if (!ui->quiet)
            fprintf(stderr, "biopp sweep: [%d/%d] %s: finished by another process\n",
                    c->index + 1, ui->s->n_cells, c->name);
    } else {
        rc = train_cell(ui, dc, out, c);
    }
    bp_unlock(fd);
    return rc;
}

/* jobs: the processes training the list together (> 1: this is one of
 * the --jobs children, quiet: no bar, no header). */
static int train_list(const bp_sweep *s, const char *out, const cell_list *l, int threads,
                      int jobs, dataset_cache *dc)
{
    bp_sweep_cell *c = malloc(sizeof *c);
    sweep_ui *ui = calloc(1, sizeof *ui);
    int *held = calloc((size_t)l->n + 1, sizeof *held);
    bp_eta_cell *eta = calloc((size_t)l->n + 1, sizeof *eta);
    bp_sweep_cell *scratch = malloc(sizeof *scratch);
    int rc = c && ui && held && eta && scratch ? 0 : 1;
    if (rc) fprintf(stderr, "biopp sweep: out of memory\n");
    if (!rc) {
        ui->s = s;
        ui->l = l;
        ui->eta = eta;
        ui->out = out;
        ui->scratch = scratch;
        ui->quiet = jobs > 1;
        ui->jobs = jobs;
        int done = count_pending(s, out, l, c, ui->eta);
        if (!ui->quiet)
            fprintf(stderr,
                    "biopp sweep: %d cell%s x %d seed%s = %d run%s (%d cell%s done before)\n",
                    l->n, bp_plural_s(l->n), s->n_seeds, bp_plural_s(s->n_seeds),
                    l->n * s->n_seeds, bp_plural_s(l->n * s->n_seeds), done, bp_plural_s(done));
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
                ui->cur = j;
                rc = locked_cell(ui, dc, out, c, pass, &held[j]);
            } else {
                cell_done_elsewhere(ui, j);
            }
        }
    }
    free(scratch);
    free(eta);
    free(held);
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
    int threads, jobs;
    dataset_cache *dc;
} jobs_ctx;

static int job_body(void *user, int job)
{
    const jobs_ctx *j = user;
    return train_list(j->s, j->out, j->l, j->threads, j->jobs, j->dc);
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
        fprintf(stderr, "biopp sweep: --jobs %d: this process may use %d CPU%s; running %d job%s\n",
                *jobs, cpus, bp_plural_s(cpus), cpus, bp_plural_s(cpus));
        *jobs = cpus;
    }
    int share = cpus / *jobs > 0 ? cpus / *jobs : 1;
    return threads > 0 && threads < share ? threads : share;
}

/* dc: the data set the preflight loaded, reused (the --jobs children
 * inherit it). */
static int train_cells(const bp_sweep *s, const char *out, const cell_list *l, int jobs,
                       dataset_cache *dc)
{
    if (jobs > l->n) jobs = l->n > 0 ? l->n : 1;
    if (jobs <= 1) return train_list(s, out, l, 0, 1, dc);
    jobs_ctx j = {s, out, l, 0, 0, dc};
    j.threads = split_threads(s, &jobs);
    j.jobs = jobs;
    if (jobs <= 1) return train_list(s, out, l, 0, 1, dc);
    fprintf(stderr, "biopp sweep: %d cell%s x %d seed%s in %s, %d jobs at once, %d thread%s each\n",
            l->n, bp_plural_s(l->n), s->n_seeds, bp_plural_s(s->n_seeds), out, jobs, j.threads,
            bp_plural_s(j.threads));
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

/* Every device and data set the pending cells of the list use is tried
 * before DIR is written, so that a sweep that cannot train leaves nothing
 * behind (docs/SWEEP.md). Each distinct one is tried once; the last data
 * set loaded stays in dc for the training. */
static int preflight(const bp_sweep *s, const char *out, const cell_list *l, dataset_cache *dc)
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
            rc = cell_dataset(dc, &c->cfg) ? 0 : 1;
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
    bp_sweep *s = rc < 0 ? malloc(sizeof *s) : NULL;
    if (rc >= 0 || !s) {
        cli_list_free(&a.sets);
        return rc >= 0 ? rc : 1;
    }
    bp_sweep_init(s);
    rc = load_sweep(&a, s);
    cli_list_free(&a.sets);
    s->solo = a.solo;
    if (!rc && a.print) {
        rc = print_spec(s);
        bp_sweep_free(s);
        free(s);
        return rc;
    }
    cell_list l = {0};
    if (!rc) rc = make_list(s, &a, &l);
    if (!rc && a.dry_run) rc = dry_run(s, &a, &l);
    else if (!rc) {
        dataset_cache dc = {0};
        rc = check_out(s, a.out) || check_out_writable(a.out) || preflight(s, a.out, &l, &dc) ||
             prepare_out(s, a.out);
        if (!rc) {
            bp_install_stop_handlers();
            rc = write_summary(s, &a, train_cells(s, a.out, &l, a.jobs, &dc));
        }
        if (dc.loaded) bp_dataset_free(&dc.ds);
    }
    free_list(&l);
    bp_sweep_free(s);
    free(s);
    return rc;
}
