/* biopp train: one run, optionally written to a run directory. */
#include <errno.h> /* program_invocation_name */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/data.h"
#include "biopp/eta.h"
#include "biopp/fsutil.h"
#include "biopp/progress_line.h"
#include "biopp/report.h"
#include "biopp/run_state.h"
#include "biopp/runner.h"
#include "args.h"
#include "cli.h"

static void train_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp train --config FILE [--set key=value]... [--out DIR] [--resume]\n"
            "                   [--print-config]\n"
            "\n"
            "Trains one network with the rule and settings of FILE (an INI file). --set\n"
            "overrides any key (repeatable). `biopp keys` lists every key with its default\n"
            "and meaning; docs/CONFIG.md describes them.\n"
            "\n"
            "  -c, --config FILE  the config to train (required)\n"
            "  --set key=value    override one key, e.g. --set rule=bfa --set hidden=2x400\n"
            "  --out DIR          write DIR/config.ini, metrics.jsonl, final.json, checkpoint.bin\n"
            "  --resume           continue the run in DIR from its last checkpoint\n"
            "  --print-config     print the effective config (FILE with every --set, every\n"
            "                     key, as config.ini) and exit; loads no data\n"
            "  -h, --help         this text\n"
            "\n"
            "Options also take the form --opt=VALUE. A key that has no effect with the\n"
            "chosen rule or optimizer (momentum with adam) gets a warning.\n"
            "\n"
            "Exit status: 0 done, 1 error, 2 usage error (bad option or argument),\n"
            "3 diverged (NaN/Inf loss), 130 interrupted (SIGINT, SIGTERM), 75 stopped by\n"
            "SIGUSR1 (state saved at the step reached; --resume).\n");
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

/* snprintf at offset n of buf[size]; returns the new offset (past size
 * when the text did not fit, like snprintf's count). */
static size_t put(char *buf, size_t n, size_t size, const char *fmt, const char *s)
{
    size_t at = n < size ? n : size;
    return n + (size_t)snprintf(buf + at, size - at, fmt, s);
}

/* Appends a as one shell word: as is when it is plain, else in single
 * quotes (a ' inside written as '\''). */
static size_t append_shell_word(char *buf, size_t n, size_t size, const char *a)
{
    static const char plain_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789_./=,:+-@%";
    if (*a && strspn(a, plain_chars) == strlen(a)) return put(buf, n, size, " %s", a);
    n = put(buf, n, size, "%s", " '");
    for (; *a; a++) {
        char c[2] = {*a, '\0'};
        n = put(buf, n, size, "%s", *a == '\'' ? "'\\''" : c);
    }
    return put(buf, n, size, "%s", "'");
}

/* The command line as typed, shell-quoted, with --resume added: what to
 * run to continue a stopped run. */
static void continue_command(int argc, char **argv, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "%s", program_invocation_name);
    int has_resume = 0;
    for (int i = 0; i < argc; i++) {
        has_resume |= !strcmp(argv[i], "--resume");
        n = append_shell_word(buf, n, size, argv[i]);
    }
    if (!has_resume) append_shell_word(buf, n, size, "--resume");
}

/* Keeps one run per directory, and a resumed run's files consistent.
 * Returns 0 to train, 1 on refusal (message printed), -1 when the run is
 * already complete (nothing to do). */
static int check_out_dir(const char *out, const bp_config *cfg, int resume, const char *again)
{
    bp_run_state st;
    bp_error err = {0};
    if (bp_run_state_read(out, &st, &err)) {
        fprintf(stderr, "biopp train: %s\n", err.msg);
        return 1;
    }
    char what[160];
    bp_run_state_describe(&st, what, sizeof what);
    if (st.kind == BP_RUN_NONE) {
        if (bp_dir_has_entries(out, NULL)) {
            fprintf(stderr,
                    "biopp train: %s is not empty and holds no run (no config.ini); choose a "
                    "new or empty --out, so that the run's files are not mixed with others\n",
                    out);
            return 1;
        }
        if (resume) fprintf(stderr, "biopp train: %s holds no run yet: starting it\n", out);
        return 0;
    }
    if (!resume && st.kind == BP_RUN_COMPLETE) {
        fprintf(stderr,
                "biopp train: %s already holds %s. To train it further, run:\n  %s --set "
                "epochs=N\nwith N > %d, or choose another --out\n",
                out, what, again, st.epochs_done);
        return 1;
    }
    if (!resume) {
        fprintf(stderr,
                "biopp train: %s already holds %s. To continue it, run:\n  %s\nor choose "
                "another --out\n",
                out, what, again);
        return 1;
    }
    int complete;
    if (bp_run_check_resume(out, &st, cfg, &complete, &err)) {
        fprintf(stderr, "biopp train: %s\n", err.msg);
        return 1;
    }
    if (complete) {
        fprintf(stderr,
                "biopp train: %s is complete (%d of %d epochs); nothing to do. To train it "
                "further: --resume --set epochs=N with N > %d\n",
                out, st.epochs_done, cfg->epochs, st.epochs_done);
        return -1;
    }
    if (st.bad_checkpoint[0])
        fprintf(stderr, "biopp train: warning: %s; continuing from the other generation\n",
                st.bad_checkpoint);
    fprintf(stderr, "biopp train: continuing %s: %s\n", out, what);
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

enum { T_CONFIG, T_OUT, T_SET, T_RESUME, T_PRINT };
static const cli_option train_opts[] = {
    [T_CONFIG] = {"--config", 'c', "FILE", 0},
    [T_OUT] = {"--out", 0, "DIR", 0},
    [T_SET] = {"--set", 0, "key=value", 1},
    [T_RESUME] = {"--resume", 0, NULL, 0},
    [T_PRINT] = {"--print-config", 0, NULL, 0},
};

/* -1: go on; otherwise the exit status. */
static int parse_train_args(int argc, char **argv, const char **config, const char **out,
                            cli_list *sets, int *resume, int *print)
{
    cli_parser p;
    cli_parser_init(&p, "train", argc, argv, train_opts, CLI_N_OPTS(train_opts));
    const char *v;
    for (int o; (o = cli_next(&p, &v)) != CLI_END;) {
        switch (o) {
        case CLI_HELP: train_usage(stdout); return 0;
        case CLI_USAGE: return 2;
        case CLI_POSITIONAL: return cli_unexpected("train", v, train_usage);
        case T_CONFIG: *config = v; break;
        case T_OUT: *out = v; break;
        case T_SET: sets->v[sets->n++] = v; break;
        case T_RESUME: *resume = 1; break;
        case T_PRINT: *print = 1; break;
        }
    }
    if (*resume && !*out) {
        fprintf(stderr, "biopp train: --resume needs --out DIR, the folder of the run to "
                        "continue (without --out nothing is saved)\n\n");
        train_usage(stderr);
        return 2;
    }
    if (!*config) {
        fprintf(stderr, "biopp train: --config FILE is required\n\n");
        train_usage(stderr);
        return 2;
    }
    return -1;
}

int cmd_train(int argc, char **argv)
{
    const char *config = NULL, *out = NULL;
    cli_list sets;
    int resume = 0, print = 0;
    if (cli_list_init(&sets, argc)) return 1;
    int usage = parse_train_args(argc, argv, &config, &out, &sets, &resume, &print);
    if (usage >= 0) {
        cli_list_free(&sets);
        return usage;
    }
    bp_config cfg;
    bp_error err = {0};
    bp_config_defaults(&cfg);
    bp_status st = cli_load_config("train", &cfg, config, sets.v, sets.n, &err);
    cli_list_free(&sets);
    if (st) goto config_error;
    if (print) return cli_print_config(&cfg);
    char again[8192];
    continue_command(argc, argv, again, sizeof again);
    int dir_state = out ? check_out_dir(out, &cfg, resume, again) : 0;
    if (dir_state) return dir_state < 0 ? 0 : 1;
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
        if (out) fprintf(stderr, "biopp train: to continue, run:\n  %s\n", again);
        else fprintf(stderr, "biopp train: (train with --out DIR to be able to continue)\n");
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
