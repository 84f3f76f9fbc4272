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

static char *slurp(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return th_slurp(path);
}

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
    char *ma = slurp(da, "metrics.jsonl"), *mb = slurp(db, "metrics.jsonl");
    cr_expect(strstr(ma, "\"epoch\":2") && strstr(ma, "\"valid_error\":") &&
                  strstr(ma, "\"feedback_loss\":") && strstr(ma, "\"test_error\":"),
              "%s", ma);
    strip_seconds(ma);
    strip_seconds(mb);
    cr_expect_str_eq(ma, mb, "same seed, same config: metrics must be identical");
    char *fin = slurp(da, "final.json"), *cfg = slurp(da, "config.ini");
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
    cr_expect(strstr(out, "already holds a run"), "%s", out);
    free(out);
    rc = th_sh(&out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                     " --set rule=bfa --set epochs=3 --out %s --resume",
               data, th_bin(), da);
    cr_expect_eq(rc, 0, "%s", out);
    free(out);
    ma = slurp(da, "metrics.jsonl");
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
    char *fin = slurp(d, "final.json");
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
