/* biopp train: one run, optionally written to a run directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/data.h"
#include "biopp/eta.h"
#include "biopp/fsutil.h"
#include "biopp/progress_line.h"
#include "biopp/report.h"
#include "biopp/runner.h"
#include "cli.h"

static void train_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp train --config FILE [--set key=value]... [--out DIR] [--resume]\n"
            "\n"
            "Trains one network with the rule and settings of FILE (an INI file; every key\n"
            "is in docs/CONFIG.md). --set overrides any key (repeatable).\n"
            "\n"
            "  --config FILE     the config to train (required)\n"
            "  --set key=value   override one key, e.g. --set rule=bfa --set hidden=2x400\n"
            "  --out DIR         write DIR/config.ini, metrics.jsonl, final.json, checkpoint.bin\n"
            "  --resume          continue the run in DIR from its last checkpoint\n"
            "  -h, --help        this text\n"
            "\n"
            "Exit status: 0 done, 1 error, 3 diverged (NaN/Inf loss), 130 interrupted (SIGINT,\n"
            "SIGTERM), 75 stopped by SIGUSR1 (state saved at the step reached; --resume).\n");
}

int cli_load_dataset(const bp_config *cfg, bp_dataset *ds)
{
    char dir[1024];
    bp_error err = {0};
    bp_data_dir_resolve(cfg->data_dir, dir, sizeof dir);
    if (bp_dataset_load(cfg->dataset, dir, ds, &err)) {
        fprintf(stderr, "biopp: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* Refuses to mix two different runs in one directory. */
static int check_out_dir(const char *out, const bp_config *cfg, int resume)
{
    char path[4096];
    bp_run_path(path, sizeof path, out, "config.ini");
    if (!bp_file_exists(path)) return 0;
    if (!resume) {
        fprintf(stderr,
                "biopp: %s already holds a run (config.ini exists); use --resume to continue "
                "it, or choose another --out\n",
                out);
        return 1;
    }
    bp_config old;
    bp_error err = {0};
    bp_config_defaults(&old);
    if (bp_config_load(&old, path, &err)) {
        fprintf(stderr, "biopp: cannot resume: %s\n", err.msg);
        return 1;
    }
    old.epochs = cfg->epochs; /* extending a run is allowed */
    old.checkpoint_every = cfg->checkpoint_every;
    if (memcmp(&old, cfg, sizeof old) != 0) {
        fprintf(stderr, "biopp: cannot resume: the config differs from %s\n", path);
        return 1;
    }
    return 0;
}

typedef struct {
    bp_progress bar;
    int epochs;
    char nonfinite[320]; /* where the run diverged (bp_epoch_metrics.nonfinite) */
    bp_eta_cell run;     /* the run's ETA (include/biopp/eta.h): the run as one cell */
    int observed;        /* run.before is set: progress since t0 is measured */
    double t0;
} train_ui;

/* The run has reached `frac` of its epochs (the first call is the start of
 * the measurement: a resumed run's epochs before it took no time here). */
static double run_eta(train_ui *ui, double frac)
{
    if (!ui->observed) {
        ui->observed = 1;
        ui->run.before = frac;
        ui->t0 = cli_now();
    }
    ui->run.done = frac;
    return bp_eta_seconds(&ui->run, 1, cli_now() - ui->t0);
}

static void on_epoch(void *user, int r, const bp_epoch_metrics *m)
{
    train_ui *ui = user;
    print_epoch(&ui->bar, "train", ui->epochs, m);
    if (m->diverged && m->nonfinite[0])
        snprintf(ui->nonfinite, sizeof ui->nonfinite, "%s", m->nonfinite);
    double eta = run_eta(ui, bp_eta_fraction(m->epoch, ui->epochs, 1, 1));
    int left = ui->epochs - m->epoch;
    char d[32];
    bp_format_duration(eta, d, sizeof d);
    if (left > 0 && !m->diverged)
        fprintf(stderr, "train: %d epoch%s left, ETA %s\n", left, bp_plural_s(left), d);
}

static void progress(void *user, int epoch, int step, int steps)
{
    train_ui *ui = user;
    ui->bar.total_eta = run_eta(ui, bp_eta_fraction(epoch, ui->epochs, step, steps));
    progress_step(&ui->bar, epoch, step, steps);
}

static void on_evaluate(void *user, int epoch, int valid_n, int test_n)
{
    train_ui *ui = user;
    progress_evaluating(&ui->bar, epoch, valid_n, test_n);
}

/* "biopp train: mnist bp 1x400 tanh, 3 epochs, batch 128, adam lr 0.001, seed 1, cpu",
 * fitted to the terminal. */
static void print_header(const bp_config *cfg)
{
    char t[4][64], hidden[128], model[320], line[1024];
    bp_format_hidden(cfg->n_hidden, cfg->hidden, hidden, sizeof hidden);
    snprintf(model, sizeof model, "%s %s %s %s,", cfg->dataset, bp_rule_name(cfg->rule), hidden,
             bp_act_name(cfg->activation));
    snprintf(t[0], sizeof t[0], "%d epoch%s,", cfg->epochs, bp_plural_s(cfg->epochs));
    snprintf(t[1], sizeof t[1], "batch %d,", cfg->batch);
    snprintf(t[2], sizeof t[2], "%s lr %g,", bp_optimizer_name(cfg->optimizer), cfg->lr);
    snprintf(t[3], sizeof t[3], "seed %llu,", (unsigned long long)cfg->seed);
    bp_line_field f[] = {
        {{"biopp train:", NULL, "train:"}, 2, 0, 1}, {{model, NULL, NULL}, 9, 0, 1},
        {{t[0], NULL, NULL}, 8, 0, 1}, {{t[1], NULL, NULL}, 5, 0, 1},
        {{t[2], NULL, NULL}, 7, 0, 1}, {{t[3], NULL, NULL}, 6, 0, 1},
        {{bp_device_name(cfg->device), NULL, NULL}, 4, 0, 1},
    };
    bp_fit_line(line, sizeof line, cli_term_width(), f, (int)(sizeof f / sizeof f[0]));
    progress_line(NULL, line);
}

int cmd_train(int argc, char **argv)
{
    const char *config = NULL, *out = NULL, *sets[BP_MAX_SETS];
    int nsets = 0, resume = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            train_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--set") && i + 1 < argc && nsets < BP_MAX_SETS) {
            sets[nsets++] = argv[++i];
        } else if (!strcmp(a, "--resume")) {
            resume = 1;
        } else {
            fprintf(stderr, "biopp train: unexpected argument '%s'\n\n", a);
            train_usage(stderr);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "biopp train: --config FILE is required\n\n");
        train_usage(stderr);
        return 2;
    }
    bp_config cfg;
    bp_error err = {0};
    bp_config_defaults(&cfg);
    if (bp_config_load(&cfg, config, &err)) goto config_error;
    for (int i = 0; i < nsets; i++)
        if (bp_config_override(&cfg, sets[i], &err)) goto config_error;
    if (bp_config_validate(&cfg, &err)) goto config_error;
    if (out && check_out_dir(out, &cfg, resume)) return 1;
    if (out && bp_check_writable_dir(out, &err)) goto config_error; /* before loading data */

    bp_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (cli_load_dataset(&cfg, &ds)) return 1;

    print_header(&cfg);

    train_ui ui = {.epochs = cfg.epochs, .run = {.cost = 1.0}};
    progress_init(&ui.bar, "train", cfg.epochs);
    ui.bar.total = "run";
    const char *dirs[1] = {out};
    bp_install_stop_handlers();
    bp_runner_opts opts = {
        .dirs = out ? dirs : NULL,
        .resume = resume,
        .stop = &bp_stop_requested,
        .progress = progress,
        .on_evaluate = on_evaluate,
        .on_epoch = on_epoch,
        .user = &ui,
    };
    int diverged = 0;
    uint64_t seed = cfg.seed;
    bp_status rc = bp_run_group(&cfg, &seed, 1, &ds, &opts, &diverged, &err);
    progress_clear(&ui.bar);
    bp_dataset_free(&ds);
    if (rc == BP_ERR_INTERRUPTED) {
        fprintf(stderr, "biopp train: %s\n", err.msg);
        return bp_stop_signal == SIGUSR1 ? BP_EXIT_REQUEUE : 130;
    }
    if (rc) {
        fprintf(stderr, "biopp train: %s\n", err.msg);
        return 1;
    }
    if (diverged) {
        fprintf(stderr,
                "biopp train: the loss became NaN/Inf: the run diverged (try a smaller lr)%s%s\n",
                out ? "; recorded in " : "", out ? out : "");
        if (ui.nonfinite[0]) fprintf(stderr, "biopp train: first NaN/Inf: %s\n", ui.nonfinite);
        return 3;
    }
    if (out) fprintf(stderr, "biopp train: results in %s/final.json\n", out);
    return 0;

config_error:
    fprintf(stderr, "biopp train: %s\n", err.msg);
    return 1;
}
