/* `biopp train` as a user runs it: the files of --out, reproducible
 * metrics, refusing to overwrite a run, --resume, divergence, bad input. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "biopp/fsutil.h"
#include "helpers.h"

/* metrics.jsonl without the "seconds" values (the only timing field). */
static void strip_seconds(char *s)
{
    char *p;
    while ((p = strstr(s, "\"seconds\":"))) {
        char *end = p + 10;
        while (*end && *end != ',' && *end != '}') end++;
        memmove(p, end, strlen(end) + 1);
    }
}

#define SMALL "--set train_size=1280 --set hidden=1x32 --set lr=1e-3 --set threads=1"

Test(cli, train_writes_run_files_and_is_reproducible, .timeout = 120)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    char *a = th_tmpdir(), *b = th_tmpdir(), *out;
    int rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                         " --set rule=bfa --set epochs=2 --out %s/run",
                   data, th_bin(), a);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = th_sh(NULL, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                     " --set rule=bfa --set epochs=2 --out %s/run",
               data, th_bin(), b);
    cr_assert_eq(rc, 0);
    char da[256], db[256];
    snprintf(da, sizeof da, "%s/run", a);
    snprintf(db, sizeof db, "%s/run", b);
    char *ma = th_slurp_in(da, "metrics.jsonl"), *mb = th_slurp_in(db, "metrics.jsonl");
    cr_expect(strstr(ma, "\"epoch\":2") && strstr(ma, "\"valid_error\":") &&
                  strstr(ma, "\"feedback_loss\":") && strstr(ma, "\"test_error\":"),
              "%s", ma);
    strip_seconds(ma);
    strip_seconds(mb);
    cr_expect_str_eq(ma, mb, "same seed, same config: metrics must be identical");
    char *fin = th_slurp_in(da, "final.json"), *cfg = th_slurp_in(da, "config.ini");
    cr_expect(strstr(fin, "\"rule\":\t\"bfa\"") && strstr(fin, "\"diverged\":\tfalse") &&
                  strstr(fin, "\"epochs\":\t2"),
              "%s", fin);
    cr_expect(strstr(cfg, "rule = bfa") && strstr(cfg, "train_size = 1280"), "%s", cfg);
    char ck[300];
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", da);
    cr_expect(bp_file_exists(ck));
    free(ma), free(mb), free(fin), free(cfg);

    /* A second run into the same directory is refused; --resume extends it. */
    rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                     " --set rule=bfa --set epochs=2 --out %s",
               data, th_bin(), da);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "already holds a finished run (2 epochs)"), "%s", out);
    free(out);
    rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                     " --set rule=bfa --set epochs=3 --out %s --resume",
               data, th_bin(), da);
    cr_expect_eq(rc, 0, "%s", out);
    free(out);
    ma = th_slurp_in(da, "metrics.jsonl");
    cr_expect(strstr(ma, "\"epoch\":3") && !strstr(ma, "\"epoch\":4"), "%s", ma);
    free(ma);
    th_sh(NULL, "rm -rf %s %s", a, b);
    free(a), free(b);
}

Test(cli, divergence_is_recorded_and_exits_3, .timeout = 60)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    char *a = th_tmpdir(), *out;
    int rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                         " --set optimizer=sgd --set activation=relu --set lr=1e30 --set epochs=3 --out %s/run",
                   data, th_bin(), a);
    cr_expect_eq(rc, 3, "%s", out);
    cr_expect(strstr(out, "diverged"), "%s", out);
    free(out);
    char d[256];
    snprintf(d, sizeof d, "%s/run", a);
    char *fin = th_slurp_in(d, "final.json");
    cr_expect(strstr(fin, "\"diverged\":\ttrue"), "%s", fin);
    free(fin);
    th_sh(NULL, "rm -rf %s", a);
    free(a);
}

Test(cli, bad_input_gives_clear_errors)
{
    char *out;
    int rc = th_sh(&out, "%s train --config /nonexistent.ini", th_bin());
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "/nonexistent.ini"), "%s", out);
    free(out);
    rc = th_sh(&out, "%s train --config configs/mnist.ini --set hidden=2x", th_bin());
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "hidden"), "%s", out);
    free(out);
    rc = th_sh(&out, "BIOPP_DATA_DIR=/nonexistent %s train --config configs/mnist.ini", th_bin());
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "make data"), "%s", out);
    free(out);
    rc = th_sh(&out, "%s train --bogus", th_bin());
    cr_expect_eq(rc, 2);
    free(out);
    rc = th_sh(&out, "%s train --help", th_bin());
    cr_expect_eq(rc, 0);
    cr_expect(strstr(out, "--config FILE"), "%s", out);
    free(out);
    rc = th_sh(&out, "%s --help", th_bin());
    cr_expect_eq(rc, 0);
    free(out);
}

/* ---------------------------------------------------------------------- */
/* Run state: what train says and does about the run in --out             */

#define TINY "--config configs/mnist.ini --set train_size=1280 --set hidden=1x32 --set threads=1"

/* Trains a tiny run of `epochs` (and extra --set options) into dir/run;
 * returns the run's path. */
static char *tiny_run(const char *data, const char *dir, int epochs, const char *extra)
{
    char *out, *run = malloc(strlen(dir) + 8);
    sprintf(run, "%s/run", dir);
    int rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s train " TINY " %s --set epochs=%d --out %s", data,
                   th_bin(), extra, epochs, run);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    return run;
}

/* The line after "to continue, run:" (the command, indented), malloc'd. */
static char *continue_line(const char *out)
{
    const char *p = strstr(out, "to continue, run:\n  ");
    cr_assert_not_null(p, "no \"to continue, run:\" in:\n%s", out);
    p += strlen("to continue, run:\n  ");
    return strndup(p, strcspn(p, "\n"));
}

/* Ctrl-C: acknowledged at once; then the exact command that continues
 * (with --resume), which finishes the run. A finished run trained further
 * has no final.json until it finishes again (it would contradict
 * config.ini). */
Test(cli_run, interrupt_is_acknowledged_and_says_what_to_run, .timeout = 120)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    char *a = th_tmpdir(), *out;
#define LONG " --set train_size=49920 --set batch=64 --set checkpoint_every=1"
    char *run = tiny_run(data, a, 1, LONG);
    /* A background job of a script ignores SIGINT unless it sets a handler:
     * biopp's own handler is what is tested. The wait gives up after 60 s. */
    int rc = th_sh(&out,
                   "(BIOPP_DATA_DIR=%s %s train " TINY LONG " --set epochs=4 --out %s --resume & "
                   "pid=$!; i=0; while [ $i -lt 6000 ] && kill -0 $pid 2>/dev/null && "
                   "{ [ ! -f %s/metrics.jsonl ] || [ $(wc -l < %s/metrics.jsonl) -lt 2 ]; }; do "
                   "sleep 0.01; i=$((i+1)); done; kill -INT $pid; wait $pid; echo \"exit=$?\")",
                   data, th_bin(), run, run, run);
#undef LONG
    cr_assert_eq(rc, 0, "%s", out);
    th_assert_has(out, "stopping after this step (Ctrl-C again to stop now)");
    th_assert_has(out, "exit=130");
    th_assert_has(out, "state saved");
    char *again = continue_line(out);
    cr_expect(strstr(again, " --resume"), "%s", again);
    cr_expect(strstr(again, "epochs=4"), "%s", again);
    free(out);
    char path[512];
    snprintf(path, sizeof path, "%s/final.json", run);
    cr_expect(!bp_file_exists(path), "a stale final.json survived the extension");
    char *cfg = th_slurp_in(run, "config.ini");
    th_assert_has(cfg, "epochs = 4");
    free(cfg);
    rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s", data, again);
    cr_assert_eq(rc, 0, "%s\n%s", again, out);
    free(out);
    char *fin = th_slurp_in(run, "final.json");
    th_assert_has(fin, "\"epochs\":\t4");
    free(fin);
    free(again);
    th_sh(NULL, "rm -rf %s", a);
    free(run), free(a);
}

/* Without --out there is nothing to continue, and the message says so. */
Test(cli_run, interrupt_without_out_says_nothing_was_saved, .timeout = 120)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    char *out;
    int rc = th_sh(&out,
                   "(BIOPP_DATA_DIR=%s %s train " TINY " --set train_size=49920 --set batch=64 "
                   "--set epochs=50 & pid=$!; sleep 1; kill -INT $pid; wait $pid; "
                   "echo \"exit=$?\")",
                   data, th_bin());
    cr_assert_eq(rc, 0, "%s", out);
    th_assert_has(out, "exit=130");
    th_assert_has(out, "nothing was saved");
    cr_expect(!strstr(out, "state saved"), "%s", out);
    cr_expect(!strstr(out, "to continue, run"), "%s", out);
    free(out);
}

Test(cli_run, resume_needs_out)
{
    char *out;
    int rc = th_sh(&out, "%s train --config configs/mnist.ini --resume", th_bin());
    cr_expect_eq(rc, 2, "%s", out);
    th_assert_has(out, "--resume needs --out DIR");
    free(out);
}

/* Refusals leave every file as it was: config.ini never disagrees with
 * metrics.jsonl and final.json. */
Test(cli_run, resume_refuses_fewer_epochs_and_a_different_config, .timeout = 120)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    char *a = th_tmpdir(), *out;
    char *run = tiny_run(data, a, 3, "");
    char *cfg0 = th_slurp_in(run, "config.ini"), *fin0 = th_slurp_in(run, "final.json");
    int rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s train " TINY " --set epochs=1 --out %s --resume",
                   data, th_bin(), run);
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "the run has trained 3 epochs");
    th_assert_has(out, "use epochs >= 3");
    free(out);
    rc = th_sh(&out,
               "BIOPP_DATA_DIR=%s %s train " TINY " --set epochs=3 --set lr=0.01 --out %s --resume",
               data, th_bin(), run);
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "lr = 0.0001 in its config.ini, 0.01 now (the first key that differs");
    free(out);
    /* The same epochs: complete, nothing to do, exit 0. */
    rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s train " TINY " --set epochs=3 --out %s --resume",
               data, th_bin(), run);
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "is complete (3 of 3 epochs); nothing to do");
    free(out);
    char *cfg1 = th_slurp_in(run, "config.ini"), *fin1 = th_slurp_in(run, "final.json");
    cr_expect_str_eq(cfg1, cfg0);
    cr_expect_str_eq(fin1, fin0);
    free(cfg0), free(cfg1), free(fin0), free(fin1);
    th_sh(NULL, "rm -rf %s", a);
    free(run), free(a);
}

Test(cli_run, out_folder_with_other_files_is_refused)
{
    char *a = th_tmpdir(), *out;
    int rc = th_sh(&out, "touch %s/notes.txt && BIOPP_DATA_DIR=/nonexistent %s train " TINY
                         " --out %s",
                   a, th_bin(), a);
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "is not empty and holds no run");
    free(out);
    th_sh(NULL, "rm -rf %s", a);
    free(a);
}

/* epochs = 0: the untrained network is evaluated and recorded (a baseline),
 * with a checkpoint that eval reads back to the same error. */
Test(cli_run, zero_epochs_records_the_untrained_network, .timeout = 60)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    char *a = th_tmpdir(), *out;
    char *run = tiny_run(data, a, 0, "");
    char *fin = th_slurp_in(run, "final.json"), *met = th_slurp_in(run, "metrics.jsonl");
    th_assert_has(fin, "\"epochs\":\t0");
    cr_expect(!strstr(fin, "\"test_error\":\tnull"), "%s", fin);
    th_assert_has(met, "{\"epoch\":0,\"train_loss\":null");
    cr_expect(!strstr(met, "\"test_error\":null"), "%s", met);
    int rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s eval --run %s", data, th_bin(), run);
    cr_expect_eq(rc, 0, "%s", out);
    const char *e = strstr(fin, "\"test_error\":\t");
    cr_assert_not_null(e);
    double err = strtod(e + strlen("\"test_error\":\t"), NULL);
    char want[64];
    snprintf(want, sizeof want, "error %.4f%%", 100 * err);
    th_assert_has(out, want);
    free(out), free(fin), free(met);
    th_sh(NULL, "rm -rf %s", a);
    free(run), free(a);
}

/* A checkpoint whose header does not read: without another generation the
 * resume is refused (it used to start over from epoch 0 silently); with
 * one, it continues from that one and says so. */
Test(cli_run, unreadable_checkpoint_is_refused_or_named, .timeout = 60)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    char *a = th_tmpdir(), *out;
    char *run = tiny_run(data, a, 2, "--set checkpoint_every=10");
    int rc = th_sh(&out, "echo garbage > %s/checkpoint.bin && BIOPP_DATA_DIR=%s %s train " TINY
                         " --set checkpoint_every=10 --set epochs=3 --out %s --resume",
                   run, data, th_bin(), run);
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "checkpoint.bin: not a biopp checkpoint, and there is no other");
    free(out);
    th_sh(NULL, "rm -rf %s", run);
    free(run);
    run = tiny_run(data, a, 2, "--set checkpoint_every=1");
    rc = th_sh(&out, "echo garbage > %s/checkpoint.bin && BIOPP_DATA_DIR=%s %s train " TINY
                     " --set checkpoint_every=1 --set epochs=3 --out %s --resume",
               run, data, th_bin(), run);
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "warning: ");
    th_assert_has(out, "continuing from the other generation");
    free(out);
    th_sh(NULL, "rm -rf %s", a);
    free(run), free(a);
}
