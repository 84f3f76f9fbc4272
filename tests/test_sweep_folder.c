/* Sweep folders (issue 11): a sweep that cannot train leaves nothing
 * behind, a folder that started no run takes a new spec, a rule-scoped key
 * must match a cell, and the summaries, final.json and config.ini record
 * what was trained, how, and by which biopp on which device. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "biopp/backend.h"
#include "biopp/fsutil.h"
#include "biopp/sweep.h"
#include "biopp/version.h"
#include "helpers.h"

/* Two 1-hidden-layer cells (FA, DFA), two seeds, seconds per run. */
static const char SWEEP[] = "[sweep]\nseeds = 2\n"
                            "[data]\ndataset = mnist\ntrain_size = 256\n"
                            "[model]\nhidden = 1x32\n"
                            "[rule]\nrule = fa,dfa\n"
                            "[optimizer]\nlr = 0.001\n"
                            "[train]\nepochs = 1\nbatch = 32,64\nthreads = 1\n";

static int exists_in(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return bp_file_exists(path);
}

static void remove_tree(char *dir)
{
    th_sh(NULL, "rm -rf '%s'", dir);
    free(dir);
}

static const char *need_mnist(void)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    if (access(th_bin(), X_OK) != 0) cr_skip_test("%s not built", th_bin());
    return data;
}

/* `biopp sweep --config CFG --out DIR EXTRA` with the shared data; *out
 * receives stdout and stderr. */
static int sweep(char **out, const char *cfg, const char *dir, const char *extra)
{
    const char *data = th_mnist_dir();
    return th_sh(out, "BIOPP_DATA_DIR=%s %s sweep --config %s --out %s %s",
                 data ? data : "data", th_bin(), cfg, dir, extra);
}

Test(sweep_folder, cuda_without_a_gpu_writes_nothing_and_the_cpu_sweep_then_runs,
     .timeout = 120)
{
    need_mnist();
    bp_config cfg;
    bp_backend *be = NULL;
    bp_error err = {0};
    bp_config_defaults(&cfg);
    cfg.device = BP_DEVICE_CUDA;
    if (bp_backend_create(&cfg, &be, &err) == BP_OK) {
        bp_backend_destroy(be);
        cr_skip_test("a CUDA device is present: device = cuda would train");
    }
    char *tmp = th_tmpdir(), *out = NULL, *dir = NULL;
    char *ini = th_write_in(tmp, "s.ini", SWEEP);
    cr_assert(asprintf(&dir, "%s/out", tmp) > 0);
    int rc = sweep(&out, ini, dir, "--set device=cuda");
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "device = cuda");
    struct stat st;
    cr_expect_neq(stat(dir, &st), 0, "a sweep that cannot train created %s: %s", dir, out);
    free(out);
    rc = sweep(&out, ini, dir, "");
    cr_expect_eq(rc, 0, "the same sweep on the CPU: %s", out);
    cr_expect(exists_in(dir, "rule=fa,batch=32/seed-2/final.json"), "%s", out);
    free(out);
    free(ini);
    free(dir);
    remove_tree(tmp);
}

Test(sweep_folder, a_missing_data_set_writes_nothing, .timeout = 60)
{
    need_mnist();
    char *tmp = th_tmpdir(), *out = NULL, *dir = NULL;
    char *ini = th_write_in(tmp, "s.ini", SWEEP);
    cr_assert(asprintf(&dir, "%s/out", tmp) > 0);
    int rc = sweep(&out, ini, dir, "--set data_dir=/nonexistent/biopp-data");
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "/nonexistent/biopp-data/mnist/");
    struct stat st;
    cr_expect_neq(stat(dir, &st), 0, "a sweep without its data created %s: %s", dir, out);
    free(out);
    free(ini);
    free(dir);
    remove_tree(tmp);
}

/* What a sweep that failed before training leaves: its spec, empty
 * summaries and a cell folder with the cell's lock. */
static void leave_failed_sweep(const char *text, const char *tmp, const char *dir)
{
    char *ini = th_write_in(tmp, "old.ini", text);
    bp_sweep *s = malloc(sizeof *s);
    bp_sweep_cell *c = malloc(sizeof *c);
    bp_error err = {0};
    int fd = -1;
    cr_assert(s && c);
    bp_sweep_init(s);
    cr_assert_eq(bp_sweep_load(s, ini, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_expand(s, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_prepare_dir(s, dir, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_cell_at(s, 0, c, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_lock_cell(dir, c, 0, &fd, &err), BP_OK, "%s", err.msg);
    bp_unlock(fd);
    cr_assert_eq(bp_sweep_write_summary(s, dir, NULL, &err), BP_OK, "%s", err.msg);
    bp_sweep_free(s);
    free(s);
    free(c);
    free(ini);
}

Test(sweep_folder, a_new_spec_replaces_a_folder_that_started_no_run, .timeout = 120)
{
    need_mnist();
    char *tmp = th_tmpdir(), *out = NULL, *dir = NULL;
    cr_assert(asprintf(&dir, "%s/out", tmp) > 0);
    char old[sizeof SWEEP];
    snprintf(old, sizeof old, "%s", SWEEP);
    memcpy(strstr(old, "0.001\n"), "0.5  ", 5); /* the old sweep: lr = 0.5 */
    leave_failed_sweep(old, tmp, dir);
    char *ini = th_write_in(tmp, "s.ini", SWEEP);
    int rc = sweep(&out, ini, dir, "");
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "sweep.ini held a different sweep that had started no run; replaced it");
    free(out);
    char *spec = th_slurp_in(dir, "sweep.ini");
    th_assert_has(spec, "lr = 0.001\n");
    free(spec);
    /* Now it holds runs: a different spec is refused as before. */
    rc = sweep(&out, ini, dir, "--set lr=0.5");
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "holds a different sweep: lr = 0.001 there, 0.5 now");
    free(out);
    free(ini);
    free(dir);
    remove_tree(tmp);
}

/* A held cell lock (a process about to train) or files that are not the
 * sweep's (Slurm's logs) keep the folder's sweep. */
Test(sweep_folder, a_held_lock_or_other_files_keep_the_folder_s_sweep)
{
    char *tmp = th_tmpdir(), *dir = NULL;
    cr_assert(asprintf(&dir, "%s/out", tmp) > 0);
    leave_failed_sweep("rule = bp,fa\nlr = 0.01\n", tmp, dir);
    bp_sweep s;
    bp_sweep_cell c;
    bp_error err = {0};
    int fd = -1, replaced = -1;
    char *ini = th_write_in(tmp, "new.ini", "rule = bp,fa\nlr = 0.02\n");
    bp_sweep_init(&s);
    cr_assert_eq(bp_sweep_load(&s, ini, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_expand(&s, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_cell_at(&s, 0, &c, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_lock_cell(dir, &c, 0, &fd, &err), BP_OK, "%s", err.msg);
    cr_assert_geq(fd, 0);
    /* The lock is held by this process through another descriptor, which
     * flock treats as another holder. */
    cr_expect_eq(bp_sweep_prepare_dir_replacing(&s, dir, &replaced, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "holds a different sweep: lr = 0.01 there, 0.02 now");
    bp_unlock(fd);
    char logs[1100];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    cr_assert_eq(bp_mkdir_p(logs, &err), BP_OK, "%s", err.msg);
    cr_expect_eq(bp_sweep_prepare_dir_replacing(&s, dir, &replaced, &err), BP_ERR_CONFIG);
    rmdir(logs);
    cr_expect_eq(bp_sweep_prepare_dir_replacing(&s, dir, &replaced, &err), BP_OK, "%s",
                 err.msg);
    cr_expect_eq(replaced, 1);
    cr_expect_eq(bp_sweep_prepare_dir_replacing(&s, dir, &replaced, &err), BP_OK, "%s",
                 err.msg);
    cr_expect_eq(replaced, 0, "the same spec again is not a replacement");
    bp_sweep_free(&s);
    free(ini);
    free(dir);
    remove_tree(tmp);
}

Test(sweep_folder, a_rule_scoped_key_without_a_cell_is_an_error)
{
    char *tmp = th_tmpdir(), *out = NULL;
    char *ini = th_write_in(tmp, "s.ini", "[rule]\nrule = bdfa\nbfa.alpha = 0.25\n");
    int rc = th_sh(&out, "%s sweep --config %s --dry-run", th_bin(), ini);
    cr_expect_eq(rc, 1, "%s", out);
    char where[1100];
    snprintf(where, sizeof where, "%s:3: bfa.alpha = 0.25: no cell of this sweep has rule = bfa "
                                  "(its rules: bdfa)", ini);
    th_assert_has(out, where);
    free(out);
    rc = th_sh(&out, "%s sweep --config %s --dry-run --set rule=bp,fa --set kp.kp_decay=0.1",
               th_bin(), ini);
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "(its rules: bp, fa)");
    th_assert_has(out, "bfa.alpha");
    free(out);
    free(ini);
    remove_tree(tmp);
}

Test(sweep_folder, summaries_record_settings_validation_and_provenance, .timeout = 180)
{
    need_mnist();
    char *tmp = th_tmpdir(), *out = NULL, *dir = NULL;
    char *ini = th_write_in(tmp, "s.ini", SWEEP);
    cr_assert(asprintf(&dir, "%s/out", tmp) > 0);
    int rc = sweep(&out, ini, dir, "");
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char *csv = th_slurp_in(dir, "summary.csv"), *json = th_slurp_in(dir, "summary.json");
    char *md = th_slurp_in(dir, "summary.md");
    char *fin = th_slurp_in(dir, "rule=fa,batch=32/seed-1/final.json");
    char *cfg = th_slurp_in(dir, "rule=fa,batch=32/seed-1/config.ini");
    /* the binary's commit (not this test's: either may be the newer build) */
    const char *commit = "\"biopp_commit\":\t\"";
    const char *c = strstr(fin, commit);
    cr_assert(c && c[strlen(commit)] != '"', "no commit in final.json: %s", fin);
    /* every row says what it trained; the varying batch too */
    th_assert_has(csv, "dataset,hidden,rule,epochs,train_size,optimizer,lr,batch,runs,");
    th_assert_has(csv, ",mean_valid_error_pct,std_valid_error_pct,biopp,device,cell\n");
    th_assert_has(csv, "\nmnist,1x32,fa,1,256,adam,0.001,32,2,2,0,");
    /* typed values */
    th_assert_has(json, "\"lr\":\t0.001,");
    th_assert_has(json, "\"epochs\":\t1,");
    th_assert_has(json, "\"train_size\":\t256,");
    th_assert_has(json, "\"batch\":\t64,");
    th_assert_has(json, "\"hidden\":\t\"1x32\"");
    th_assert_has(json, "\"std_valid_error_pct\":\t");
    th_assert_has(json, "\"biopp_version\":\t\"" BIOPP_VERSION "\"");
    th_assert_has(json, commit);
    /* summary.md: settings, validation beside test, provenance, FA = DFA */
    th_assert_has(md, "Settings: dataset mnist, epochs 1, train_size 256, optimizer adam, "
                      "lr 0.001.");
    th_assert_has(md, "## batch = 32");
    th_assert_has(md, " ± ");
    th_assert_has(md, "] |");
    th_assert_has(md, "the validation error, likewise, in brackets");
    th_assert_has(md, "Summary written by biopp " BIOPP_VERSION " (commit ");
    th_assert_has(md, "With one hidden layer FA and DFA coincide");
    th_assert_has(md, "expected, not a bug");
    /* the run's own records */
    th_assert_has(fin, "\"biopp_version\":\t\"" BIOPP_VERSION "\"");
    th_assert_has(fin, commit);
    th_assert_has(fin, "\"backend\":\t\"cpu (OpenBLAS, 1 thread)\"");
    th_assert_has(fin, "\"device_name\":\t\"");
    const char *first = "# written by biopp " BIOPP_VERSION " (commit ";
    cr_expect_eq(strncmp(cfg, first, strlen(first)), 0, "%s", cfg);
    th_assert_has(cfg, "backend cpu (OpenBLAS, 1 thread)\n");
    free(csv), free(json), free(md), free(fin), free(cfg);
    free(ini);
    free(dir);
    remove_tree(tmp);
}

/* The last "key": value of a pretty-printed JSON object removed, with the
 * comma before it (so remove the last keys last first). */
static void drop_json_key(char *text, const char *key)
{
    char needle[64];
    snprintf(needle, sizeof needle, ",\n\t\"%s\":", key);
    char *p = strstr(text, needle);
    if (!p) return;
    char *end = strchr(p + 2, '\n');
    if (end) memmove(p, end, strlen(end) + 1);
}

/* A run folder from before these records (no version fields, no comment
 * in config.ini, a run stopped before its end) resumes and is summarised. */
Test(sweep_folder, a_run_folder_without_the_new_records_resumes_and_is_summarised,
     .timeout = 180)
{
    need_mnist();
    char *tmp = th_tmpdir(), *out = NULL, *dir = NULL;
    char *ini = th_write_in(tmp, "s.ini", SWEEP);
    cr_assert(asprintf(&dir, "%s/out", tmp) > 0);
    int rc = sweep(&out, ini, dir, "--set epochs=2");
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    static const char *keys[] = {"biopp_commit", "biopp_version", "device_name", "backend"};
    char *fin = th_slurp_in(dir, "rule=fa,batch=32/seed-1/final.json");
    for (int i = 0; i < 4; i++) drop_json_key(fin, keys[i]);
    cr_assert_null(strstr(fin, "biopp_"), "%s", fin);
    free(th_write_in(dir, "rule=fa,batch=32/seed-1/final.json", fin));
    free(fin);
    /* seed 2 of the dfa cell: stopped after epoch 1 by an older biopp */
    char *cfg = th_slurp_in(dir, "rule=dfa,batch=32/seed-2/config.ini");
    free(th_write_in(dir, "rule=dfa,batch=32/seed-2/config.ini", strchr(cfg, '\n') + 1));
    free(cfg);
    char path[1100];
    snprintf(path, sizeof path, "%s/rule=dfa,batch=32/seed-2/final.json", dir);
    cr_assert_eq(unlink(path), 0);
    rc = sweep(&out, ini, dir, "--set epochs=2");
    cr_expect_eq(rc, 0, "%s", out);
    free(out);
    cr_expect(bp_file_exists(path), "the stopped run was not finished");
    char *json = th_slurp_in(dir, "summary.json"), *csv = th_slurp_in(dir, "summary.csv");
    th_assert_has(json, "\"biopp\":\tnull");
    th_assert_has(csv, "\nmnist,1x32,fa,2,256,adam,0.001,32,2,2,0,");
    th_assert_has(csv, "\nmnist,1x32,dfa,2,256,adam,0.001,32,2,2,0,");
    free(json), free(csv);
    free(ini);
    free(dir);
    remove_tree(tmp);
}

/* A stopped run whose only checkpoint has a damaged header: the rerun
 * refuses, naming the file, instead of training it again from epoch 0
 * without a word (runner.c, for train and sweep alike). */
Test(sweep_folder, a_damaged_checkpoint_is_named_not_silently_restarted, .timeout = 120)
{
    need_mnist();
    char *tmp = th_tmpdir(), *out = NULL, *dir = NULL;
    char *ini = th_write_in(tmp, "s.ini", SWEEP);
    cr_assert(asprintf(&dir, "%s/out", tmp) > 0);
    int rc = sweep(&out, ini, dir, "--set rule=fa --set batch=32");
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char path[1100];
    snprintf(path, sizeof path, "%s/single/seed-1/final.json", dir);
    cr_assert_eq(unlink(path), 0, "%s", path); /* one cell: its folder is "single" */
    free(th_write_in(dir, "single/seed-1/checkpoint.bin", "garbage\n"));
    rc = sweep(&out, ini, dir, "--set rule=fa --set batch=32");
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "seed-1/checkpoint.bin: not a readable biopp checkpoint");
    free(out);
    free(ini);
    free(dir);
    remove_tree(tmp);
}
