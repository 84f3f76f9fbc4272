/* Sweeps: list parsing and grid expansion (good and bad files), grouped
 * training equal to solo training, resuming a killed `biopp sweep`, a
 * SIGINT stop, divergence isolation, and refusing a changed sweep. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "biopp/fsutil.h"
#include "biopp/runner.h"
#include "biopp/sweep.h"
#include "helpers.h"

/* ---- a temp directory per test, removed afterwards ---- */

static char tmpdir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/biopp_test_sweep_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}

static void teardown(void) { nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

TestSuite(sweep, .init = setup, .fini = teardown);

/* tmpdir/name (tests/helpers.h: 8 buffers in rotation). */
#define tmp_path(...) th_path(tmpdir, __VA_ARGS__)

static const char *write_file(const char *name, const char *text)
{
    const char *path = tmp_path("%s", name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads and expands a sweep from text; the status, *s filled. */
static bp_status load_text(const char *text, bp_sweep *s, bp_error *err, const char **path)
{
    const char *p = write_file("s.ini", text);
    if (path) *path = p;
    bp_sweep_init(s);
    memset(err, 0, sizeof *err);
    bp_status st = bp_sweep_load(s, p, err);
    if (!st) st = bp_sweep_expand(s, err);
    return st;
}

static void load_ok(const char *text, bp_sweep *s)
{
    bp_error err;
    cr_assert_eq(load_text(text, s, &err, NULL), BP_OK, "%s", err.msg);
}

/* The error message of a bad sweep file; checks it names file:line. */
static void load_fails(const char *text, int line, const char *needle1, const char *needle2)
{
    bp_sweep s;
    bp_error err;
    const char *path;
    cr_assert_neq(load_text(text, &s, &err, &path), BP_OK, "accepted:\n%s", text);
    if (line > 0) {
        char where[600];
        snprintf(where, sizeof where, "%s:%d:", path, line);
        th_assert_has(err.msg, where);
    }
    if (needle1) th_assert_has(err.msg, needle1);
    if (needle2) th_assert_has(err.msg, needle2);
    bp_sweep_free(&s);
}

static void cell(const bp_sweep *s, int i, bp_sweep_cell *c)
{
    bp_error err = {0};
    cr_assert_eq(bp_sweep_cell_at(s, i, c, &err), BP_OK, "%s", err.msg);
}

/* ---------------------------------------------------------------------- */
/* 1. Lists and the grid                                                  */

Test(sweep, grid_expands_lists_in_file_order)
{
    bp_sweep s;
    load_ok("[sweep]\nseeds = 3\n"
            "[model]\nhidden = 400, 1x800 ,2x400\n"
            "[rule]\nrule = bp,bdfa\nbdfa.alpha = 0.25\n"
            "[optimizer]\nlr = 1e-3\n",
            &s);
    cr_assert_eq(s.n_cells, 6);
    cr_assert_eq(s.n_axes, 2);
    cr_assert_eq(s.n_seeds, 3);
    for (int r = 0; r < 3; r++) cr_assert_eq(s.seeds[r], (uint64_t)r + 1);
    static const char *names[] = {"hidden=1x400,rule=bp",   "hidden=1x400,rule=bdfa",
                                  "hidden=1x800,rule=bp",   "hidden=1x800,rule=bdfa",
                                  "hidden=2x400,rule=bp",   "hidden=2x400,rule=bdfa"};
    for (int i = 0; i < 6; i++) {
        bp_sweep_cell c;
        cell(&s, i, &c);
        cr_expect_str_eq(c.name, names[i]);
        cr_expect_eq(c.cfg.rule, i % 2 ? BP_RULE_BDFA : BP_RULE_BP);
        cr_expect_eq(c.cfg.alpha, i % 2 ? 0.25 : 0.0, "bdfa.alpha only in bdfa cells");
        cr_expect_eq(c.cfg.lr, 1e-3);
        cr_expect_eq(c.cfg.n_hidden, i < 4 ? 1 : 2);
        cr_expect_eq(c.cfg.hidden[0], i / 2 == 1 ? 800 : 400);
        cr_expect_eq(c.cfg.seed, 1u);
    }
    bp_sweep_free(&s);
}

Test(sweep, seeds_forms)
{
    bp_sweep s;
    load_ok("seeds = 3,7,11\nrule = fa\n", &s);
    cr_assert_eq(s.n_seeds, 3);
    cr_expect(s.seeds[0] == 3 && s.seeds[1] == 7 && s.seeds[2] == 11);
    cr_expect_eq(s.n_cells, 1);
    bp_sweep_cell c;
    cell(&s, 0, &c);
    cr_expect_str_eq(c.name, "single");
    bp_sweep_free(&s);

    load_ok("[train]\nseed = 5,6\n", &s); /* seed as a list = seeds */
    cr_expect(s.n_seeds == 2 && s.seeds[0] == 5 && s.seeds[1] == 6);
    bp_sweep_free(&s);

    load_ok("[train]\nseed = 9\n", &s); /* one seed */
    cr_expect(s.n_seeds == 1 && s.seeds[0] == 9);
    bp_sweep_free(&s);

    load_ok("lr = 1e-3\n", &s); /* default: seed 1 */
    cr_expect(s.n_seeds == 1 && s.seeds[0] == 1);
    bp_sweep_free(&s);

    /* a long list, longer than inih's line buffer */
    char text[1200] = "[sweep]\nseeds = 1000";
    for (int i = 1001; i < 1200; i++) snprintf(text + strlen(text), 20, ",%d", i);
    strcat(text, "\n");
    load_ok(text, &s);
    cr_expect(s.n_seeds == 200 && s.seeds[199] == 1199);
    bp_sweep_free(&s);
}

Test(sweep, bad_files_name_file_line_key_and_element)
{
    load_fails("[optimizer]\nlr = 1e-3, abc\n", 2, "lr", "'abc'");
    load_fails("[model]\nhidden = 1x400,3y2\n", 2, "hidden", "3y2");
    load_fails("\n[model]\nhidden = 1x400,,2x400\n", 3, "hidden", "empty");
    load_fails("[model]\nhidden = 400,1x400\n", 2, "hidden", "listed twice");
    load_fails("[rule]\nrule = bp,xyz\n", 2, "rule", "'xyz'");
    load_fails("[train]\nlr = 1e-3,1e-4\n", 2, "lr", "belongs in [optimizer]");
    load_fails("[model]\nwidth = 3\n", 2, "width", NULL);
    load_fails("[sweeps]\nseeds = 3\n", 1, "[sweeps]", NULL);
    load_fails("[sweep]\nepochs = 3\n", 2, "epochs", "[sweep]");
    load_fails("[train]\nseeds = 3\n", 2, "seeds", "[sweep]");
    load_fails("[sweep]\nseeds = 0\n", 2, "seeds", "count");
    load_fails("[sweep]\nseeds = 3,x\n", 2, "seeds", "'x'");
    load_fails("[sweep]\nseeds = 3,4,3\n", 2, "seed 3", "twice");
    load_fails("[sweep]\nseeds = 3\n[train]\nseed = 1\n", 4, "seed", "line 2");
    load_fails("rule = bp\nrule = fa\n", 2, "rule", "twice");
    load_fails("[rule]\nbfda.alpha = 0.25\n", 2, "bfda", "not a rule");
    load_fails("[rule]\nbdfa.alpha = 0.25,0.5\n", 2, "bdfa.alpha", "one value");
    load_fails("[rule]\nbdfa.alpha = -1\n", 2, "alpha", "'-1'");
    load_fails("[rule]\nbdfa.rule = fa\n", 2, "bdfa.rule", "cannot be scoped");
    load_fails("lr 1e-3\n", 1, "expected 'key = value'", NULL);
}

Test(sweep, cells_are_validated)
{
    /* alpha for every rule: valid since issue 11 (bp does not read it; the
     * bdfa cells do, so `biopp sweep` does not even warn: test_cli_args.c) */
    bp_sweep ok;
    load_ok("rule = bp,bdfa\nalpha = 0.25\n", &ok);
    bp_sweep_free(&ok);
    load_fails("train_size = 100,1000\nbatch = 128\n", 0, "cell train_size=100", "batch");
}

Test(sweep, set_overrides_lists_and_keeps_order)
{
    bp_sweep s;
    bp_error err = {0};
    const char *path;
    bp_sweep_init(&s);
    path = write_file("s.ini", "hidden = 1x400,1x800\nrule = bp,fa\nlr = 1e-3\n");
    cr_assert_eq(bp_sweep_load(&s, path, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_override(&s, "hidden=2x400", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_override(&s, "lr = 1e-4,1e-2", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_override(&s, "epochs=1,2", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_override(&s, "seeds=2", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_expand(&s, &err), BP_OK, "%s", err.msg);
    cr_expect_eq(s.n_cells, 8);
    cr_expect_eq(s.n_seeds, 2);
    bp_sweep_cell c;
    cell(&s, 0, &c);
    cr_expect_str_eq(c.name, "rule=bp,lr=0.0001,epochs=1");
    cr_expect_eq(c.cfg.n_hidden, 2);
    cell(&s, 7, &c);
    cr_expect_str_eq(c.name, "rule=fa,lr=0.01,epochs=2");
    cr_expect_neq(bp_sweep_override(&s, "lr", &err), BP_OK);
    th_assert_has(err.msg, "--set");
    cr_expect_neq(bp_sweep_override(&s, "lr=1e-3,zz", &err), BP_OK);
    th_assert_has(err.msg, "--set: lr = 'zz'");
    bp_sweep_free(&s);
}

/* DIR/sweep.ini loads back to the same sweep. */
Test(sweep, spec_text_round_trips)
{
    bp_sweep s, t;
    bp_error err = {0};
    load_ok("[sweep]\nseeds = 3,7\n[model]\nhidden = 400,2x800\n[rule]\nrule = fa,bdfa\n"
            "bdfa.alpha = 0.25\n[optimizer]\nlr = 1e-3\n",
            &s);
    char *a = NULL, *b = NULL;
    cr_assert_eq(bp_sweep_spec_text(&s, &a, &err), BP_OK, "%s", err.msg);
    th_assert_has(a, "hidden = 1x400,2x800\nrule = fa,bdfa\n");
    th_assert_has(a, "seed = 3,7");
    th_assert_has(a, "bdfa.alpha = 0.25");
    const char *p = write_file("spec.ini", a);
    bp_sweep_init(&t);
    cr_assert_eq(bp_sweep_load(&t, p, &err), BP_OK, "%s\n%s", err.msg, a);
    cr_assert_eq(bp_sweep_expand(&t, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_spec_text(&t, &b, &err), BP_OK, "%s", err.msg);
    cr_expect_str_eq(a, b);
    free(a), free(b);
    bp_sweep_free(&s), bp_sweep_free(&t);
}

/* ---------------------------------------------------------------------- */
/* Library-driven runs on a small synthetic data set                      */

static bp_dataset synth;

static const char *const SMALL_SWEEP = "[data]\ntrain_size = 192\n"
                                       "[model]\nhidden = 1x16\n"
                                       "[optimizer]\noptimizer = sgd\n"
                                       "[train]\nbatch = 32\nepochs = 2\nthreads = 1\n"
                                       "eval_batch = 64\ncheckpoint_every = 1\n";

static void run_all_cells(const bp_sweep *s, const char *dir)
{
    bp_error err = {0};
    cr_assert_eq(bp_sweep_prepare_dir(s, dir, &err), BP_OK, "%s", err.msg);
    for (int i = 0; i < s->n_cells; i++) {
        bp_sweep_cell c;
        int diverged[BP_MAX_SEEDS];
        bp_runner_opts opts = {0};
        cell(s, i, &c);
        cr_assert_eq(bp_sweep_run_cell(s, &c, dir, &synth, &opts, diverged, &err), BP_OK, "%s",
                     err.msg);
        cr_assert(bp_sweep_cell_done(s, dir, &c));
    }
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = NULL, *y = NULL;
    bp_error err;
    if (bp_read_text(a, &x, &na, &err) || bp_read_text(b, &y, &nb, &err)) {
        free(x), free(y);
        return 0;
    }
    int same = na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

/* 2. A group of 3 seeds trains each run exactly as a run of its own. */
Test(sweep, grouped_training_equals_solo_training)
{
    char text[1024];
    snprintf(text, sizeof text, "%s[sweep]\nseeds = 3\n[rule]\nrule = bp,fa,dfa,bfa,bdfa\n"
                                "bdfa.alpha = 0.25\n[optimizer]\nlr = 0.05\n",
             SMALL_SWEEP);
    th_make_dataset(&synth, 256, 64, 10, 7);
    bp_sweep s;
    load_ok(text, &s);
    const char *group = tmp_path("group"), *solo = tmp_path("solo");
    run_all_cells(&s, group);
    for (int i = 0; i < s.n_cells; i++) {
        bp_sweep_cell c;
        cell(&s, i, &c);
        for (int r = 0; r < s.n_seeds; r++) {
            char dir[600], a[700], b[700];
            bp_sweep_run_dir(dir, sizeof dir, solo, &c, s.seeds[r]);
            const char *dirs[1] = {dir};
            bp_runner_opts opts = {.dirs = dirs};
            bp_config one = c.cfg;
            int diverged = 0;
            bp_error err = {0};
            one.seed = s.seeds[r];
            cr_assert_eq(bp_run_group(&one, &one.seed, 1, &synth, &opts, &diverged, &err), BP_OK,
                         "%s", err.msg);
            snprintf(b, sizeof b, "%s/checkpoint.bin", dir);
            bp_sweep_run_dir(dir, sizeof dir, group, &c, s.seeds[r]);
            snprintf(a, sizeof a, "%s/checkpoint.bin", dir);
            cr_expect(same_file(a, b), "%s seed %d: group and solo checkpoints differ", c.name,
                      (int)s.seeds[r]);
        }
    }
    bp_sweep_free(&s);
    bp_dataset_free(&synth);
}

/* 4. Diverged runs are recorded and flagged; the other cell trains normally. */
Test(sweep, divergence_is_isolated_and_flagged)
{
    char text[1024];
    snprintf(text, sizeof text, "%s[sweep]\nseeds = 2\n[optimizer]\nlr = 1e-3,1e40\n",
             SMALL_SWEEP);
    th_make_dataset(&synth, 256, 64, 10, 3);
    bp_sweep s;
    load_ok(text, &s);
    const char *dir = tmp_path("out");
    run_all_cells(&s, dir);
    bp_error err = {0};
    char *md = NULL;
    cr_assert_eq(bp_sweep_write_summary(&s, dir, &md, &err), BP_OK, "%s", err.msg);
    char *csv = th_slurp(tmp_path("out/summary.csv"));
    char *json = th_slurp(tmp_path("out/summary.json"));
    char *good = th_slurp(tmp_path("out/lr=0.001/seed-1/final.json"));
    char *bad = th_slurp(tmp_path("out/lr=1e+40/seed-2/final.json"));
    th_assert_has(good, "\"diverged\":\tfalse");
    th_assert_has(good, "\"epochs\":\t2");
    th_assert_has(bad, "\"diverged\":\ttrue");
    th_assert_has(csv, "dataset,hidden,rule,epochs,train_size,optimizer,lr,runs,finished,diverged,"
                        "mean_test_error_pct,");
    th_assert_has(csv, "\nmnist,1x16,bp,2,192,sgd,0.001,2,2,0,");
    th_assert_has(csv, "\nmnist,1x16,bp,2,192,sgd,1e+40,2,2,2,,,,,,,");
    th_assert_has(csv, ",lr=1e+40\n");
    th_assert_has(json, "\"state\":\t\"diverged\"");
    th_assert_has(md, "## lr = 1e+40");
    th_assert_has(md, "— (2 diverged)");
    th_assert_has(md, " ± ");
    bp_sweep_cell_result r;
    bp_sweep_cell c;
    cell(&s, 0, &c);
    cr_assert_eq(bp_sweep_cell_result_read(&s, dir, &c, &r, &err), BP_OK, "%s", err.msg);
    cr_expect(r.n_test == 2 && r.diverged == 0 && r.std_test >= 0);
    double m = 50.0 * (r.run[0].test_error + r.run[1].test_error);
    cr_expect(r.mean_test > m - 1e-9 && r.mean_test < m + 1e-9);
    bp_sweep_cell_result_free(&r);
    free(md), free(csv), free(json), free(good), free(bad);
    bp_sweep_free(&s);
    bp_dataset_free(&synth);
}

/* A partial summary: unfinished cells have no statistics. */
Test(sweep, partial_summary_marks_pending_cells)
{
    char text[1024];
    snprintf(text, sizeof text, "%s[sweep]\nseeds = 2\n[rule]\nrule = bp,fa\n[optimizer]\nlr = 0.05\n",
             SMALL_SWEEP);
    th_make_dataset(&synth, 256, 64, 10, 5);
    bp_sweep s;
    load_ok(text, &s);
    const char *dir = tmp_path("out");
    bp_error err = {0};
    cr_assert_eq(bp_sweep_prepare_dir(&s, dir, &err), BP_OK, "%s", err.msg);
    bp_sweep_cell c;
    int diverged[2];
    bp_runner_opts opts = {0};
    cell(&s, 0, &c);
    cr_assert_eq(bp_sweep_run_cell(&s, &c, dir, &synth, &opts, diverged, &err), BP_OK, "%s",
                 err.msg);
    char *md = NULL;
    cr_assert_eq(bp_sweep_write_summary(&s, dir, &md, &err), BP_OK, "%s", err.msg);
    char *csv = th_slurp(tmp_path("out/summary.csv"));
    th_assert_has(csv, "\nmnist,1x16,fa,2,192,sgd,0.05,2,0,0,,,,,,,,,rule=fa\n");
    th_assert_has(md, "| BP | FA |");
    th_assert_has(md, "— (2 of 2 pending)");
    free(md), free(csv);
    bp_sweep_free(&s);
    bp_dataset_free(&synth);
}

/* 5. A folder holds one sweep: a changed spec is refused, naming the key. */
Test(sweep, changed_sweep_in_existing_dir_is_refused)
{
    bp_sweep s;
    bp_error err = {0};
    load_ok("rule = bp,fa\nlr = 1e-3\nhidden = 400\n", &s);
    char dir[512]; /* tmp_path's buffers rotate */
    snprintf(dir, sizeof dir, "%s", tmp_path("out"));
    cr_assert_eq(bp_sweep_prepare_dir(&s, dir, &err), BP_OK, "%s", err.msg);
    cr_assert(bp_file_exists(tmp_path("out/sweep.ini")));
    bp_sweep_free(&s);
    /* A started run: the folder's sweep is kept (one without is replaced,
     * tests/test_sweep_folder.c). */
    cr_assert_eq(bp_mkdir_p(tmp_path("out/rule=bp/seed-1"), &err), BP_OK, "%s", err.msg);
    write_file("out/rule=bp/seed-1/config.ini", "[rule]\nrule = bp\n");

    load_ok("rule = bp,fa\nhidden = 1x400\nlr = 0.001\n", &s); /* the same, written otherwise */
    cr_expect_eq(bp_sweep_prepare_dir(&s, dir, &err), BP_OK, "%s", err.msg);
    bp_sweep_free(&s);

    load_ok("rule = bp,fa\nlr = 1e-2\nhidden = 400\n", &s);
    cr_assert_neq(bp_sweep_prepare_dir(&s, dir, &err), BP_OK);
    th_assert_has(err.msg, tmp_path("out/sweep.ini"));
    th_assert_has(err.msg, "lr = 0.001 there, 0.01 now");
    cr_expect_neq(bp_sweep_check_dir(&s, dir, &err), BP_OK);
    bp_sweep_free(&s);

    load_ok("rule = bp,fa,dfa\nlr = 1e-3\nhidden = 400\n", &s);
    cr_assert_neq(bp_sweep_prepare_dir(&s, dir, &err), BP_OK);
    th_assert_has(err.msg, "rule = bp,fa there, bp,fa,dfa now");
    bp_sweep_free(&s);

    load_ok("lr = 1e-3\nhidden = 400\nrule = bp,fa\nseeds = 2\n", &s);
    cr_assert_neq(bp_sweep_prepare_dir(&s, dir, &err), BP_OK);
    th_assert_has(err.msg, "seed = 1 there, 1,2");
    bp_sweep_free(&s);

    load_ok("hidden = 1x400,1x800\nrule = bp,fa\nlr = 1e-3\n", &s);
    cr_assert_neq(bp_sweep_prepare_dir(&s, dir, &err), BP_OK);
    th_assert_has(err.msg, "hidden");
    bp_sweep_free(&s);

    /* A sweep stored by an older biopp lacks the keys added since: a key it
     * lacks is the same sweep while the new value is the default... */
    char *stored = th_slurp(tmp_path("out/sweep.ini"));
    char *line = strstr(stored, "align_every = 0\n");
    cr_assert(line, "sweep.ini writes every key, align_every too");
    memmove(line, line + strlen("align_every = 0\n"), strlen(line + strlen("align_every = 0\n")) + 1);
    write_file("out/sweep.ini", stored);
    free(stored);
    load_ok("rule = bp,fa\nlr = 1e-3\nhidden = 400\n", &s);
    cr_expect_eq(bp_sweep_prepare_dir(&s, tmp_path("out"), &err), BP_OK, "%s", err.msg);
    bp_sweep_free(&s);
    /* ...and a different sweep when it is not. */
    load_ok("rule = bp,fa\nlr = 1e-3\nhidden = 400\nalign_every = 50\n", &s);
    cr_assert_neq(bp_sweep_prepare_dir(&s, tmp_path("out"), &err), BP_OK);
    th_assert_has(err.msg, "align_every = (not set) there, 50 now");
    bp_sweep_free(&s);

    /* a non-empty folder that is not a sweep */
    load_ok("rule = bp,fa\n", &s);
    cr_assert_eq(mkdir(tmp_path("other"), 0777), 0);
    write_file("other/notes.txt", "x");
    cr_assert_neq(bp_sweep_prepare_dir(&s, tmp_path("other"), &err), BP_OK);
    th_assert_has(err.msg, "no sweep.ini");
    bp_sweep_free(&s);
}

/* ---------------------------------------------------------------------- */
/* `biopp sweep` as a user runs it (real MNIST, small)                    */

static const char *const CLI_SWEEP =
    "[sweep]\nseeds = 2\n"
    "[data]\ndataset = mnist\ntrain_size = 2560\n"
    "[model]\nhidden = 1x32\n"
    "[rule]\nrule = bp,fa,dfa\n"
    "[optimizer]\nlr = 1e-3\n"
    "[train]\nepochs = 3\nthreads = 1\ncheckpoint_every = 1\n";

/* Starts `biopp sweep --config cfg --out out [extra]`, output to out.log. */
static pid_t start_sweep(const char *cfg, const char *out, const char *extra)
{
    const char *data = th_mnist_dir();
    char log[700];
    snprintf(log, sizeof log, "%s.log", out);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        setenv("BIOPP_DATA_DIR", data, 1);
        if (extra)
            execl(th_bin(), th_bin(), "sweep", "--config", cfg, "--out", out, "--set", extra, (char *)0);
        else
            execl(th_bin(), th_bin(), "sweep", "--config", cfg, "--out", out, (char *)0);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

static int run_sweep(const char *cfg, const char *out, const char *extra)
{
    return wait_exit(start_sweep(cfg, out, extra));
}

static char *log_of(const char *out)
{
    char log[700];
    snprintf(log, sizeof log, "%s.log", out);
    return th_slurp(log);
}

/* Waits (up to 60 s) until path exists or the child exits; 1 if it exists. */
static int wait_for(const char *path, pid_t pid)
{
    for (int i = 0; i < 12000; i++) {
        if (bp_file_exists(path)) return 1;
        if (waitpid(pid, NULL, WNOHANG) == pid) return -1;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void skip_without_mnist_or_binary(void)
{
    if (!th_mnist_dir()) cr_skip_test("MNIST not found");
    if (access(th_bin(), X_OK) != 0) cr_skip_test("%s not built", th_bin());
}

static void expect_same_file(const char *a, const char *b)
{
    cr_expect(same_file(a, b), "%s and %s differ", a, b);
}

/* 3. Killed mid-sweep (SIGKILL, no chance to clean up), then rerun: the
 * summary and every run's weights equal an uninterrupted sweep's. */
Test(sweep, killed_sweep_resumes_to_the_same_result, .timeout = 120)
{
    skip_without_mnist_or_binary();
    const char *cfg = write_file("cli.ini", CLI_SWEEP);
    char ref[600], cut[600];
    snprintf(ref, sizeof ref, "%s", tmp_path("ref"));
    snprintf(cut, sizeof cut, "%s", tmp_path("cut"));
    int rc = run_sweep(cfg, ref, NULL);
    char *log = log_of(ref);
    cr_assert_eq(rc, 0, "%s", log);
    th_assert_has(log, "[3/3] rule=dfa: test");
    free(log);

    pid_t pid = start_sweep(cfg, cut, NULL);
    int seen = wait_for(tmp_path("cut/rule=fa/seed-2/checkpoint.bin"), pid);
    if (seen >= 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    cr_expect_eq(seen, 1, "the sweep finished before it could be killed");
    rc = run_sweep(cfg, cut, NULL);
    log = log_of(cut);
    cr_assert_eq(rc, 0, "%s", log);
    th_assert_has(log, "(1 cell done before)");
    free(log);
    static const char *files[] = {"summary.csv", "summary.md", "summary.json", "sweep.ini"};
    for (int i = 0; i < 4; i++)
        expect_same_file(tmp_path("ref/%s", files[i]), tmp_path("cut/%s", files[i]));
    static const char *cells[] = {"rule=bp", "rule=fa", "rule=dfa"};
    for (int i = 0; i < 3; i++)
        for (int seed = 1; seed <= 2; seed++)
            expect_same_file(tmp_path("ref/%s/seed-%d/checkpoint.bin", cells[i], seed),
                             tmp_path("cut/%s/seed-%d/checkpoint.bin", cells[i], seed));
}

/* SIGINT: the sweep saves its state, writes a partial summary and exits
 * 130; the same command then finishes it. */
Test(sweep, sigint_stops_with_130_and_a_partial_summary, .timeout = 120)
{
    skip_without_mnist_or_binary();
    const char *cfg = write_file("cli.ini", CLI_SWEEP);
    char out[600];
    snprintf(out, sizeof out, "%s", tmp_path("out"));
    pid_t pid = start_sweep(cfg, out, NULL);
    int seen = wait_for(tmp_path("out/rule=bp/seed-1/final.json"), pid);
    cr_assert_eq(seen, 1, "the sweep ended before the first cell finished");
    kill(pid, SIGINT);
    int rc = wait_exit(pid);
    char *log = log_of(out);
    cr_assert_eq(rc, 130, "%s", log);
    th_assert_has(log, "Run the same command again");
    free(log);
    char *csv = th_slurp(tmp_path("out/summary.csv"));
    th_assert_has(csv, "\nmnist,1x32,dfa,3,2560,adam,0.001,2,0,0,");
    free(csv);
    rc = run_sweep(cfg, out, NULL);
    log = log_of(out);
    cr_assert_eq(rc, 0, "%s", log);
    free(log);
    csv = th_slurp(tmp_path("out/summary.csv"));
    cr_expect(strstr(csv, "\nmnist,1x32,bp,3,2560,adam,0.001,2,2,0,") &&
                  strstr(csv, "\nmnist,1x32,fa,3,2560,adam,0.001,2,2,0,") &&
                  strstr(csv, "\nmnist,1x32,dfa,3,2560,adam,0.001,2,2,0,"),
              "%s", csv);
    free(csv);
}

/* 5 (command line): a changed sweep in an existing DIR exits 1 naming
 * DIR/sweep.ini and the key; --dry-run trains nothing. */
Test(sweep, cli_refuses_a_changed_sweep, .timeout = 60)
{
    skip_without_mnist_or_binary();
    const char *cfg = write_file("cli.ini", CLI_SWEEP);
    char out[600];
    snprintf(out, sizeof out, "%s", tmp_path("out"));
    int rc = run_sweep(cfg, out, "epochs=0");
    char *log = log_of(out);
    cr_assert_eq(rc, 0, "%s", log);
    free(log);
    rc = run_sweep(cfg, out, "epochs=1");
    log = log_of(out);
    cr_expect_eq(rc, 1, "%s", log);
    th_assert_has(log, tmp_path("out/sweep.ini"));
    th_assert_has(log, "epochs = 0 there, 1 now");
    free(log);
    rc = run_sweep(cfg, out, "epochs=0"); /* the same sweep again: all done */
    log = log_of(out);
    cr_expect_eq(rc, 0, "%s", log);
    th_assert_has(log, "(3 cells done before)");
    free(log);
}
