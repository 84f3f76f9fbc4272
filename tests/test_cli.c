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

static const char *bin(void)
{
    const char *b = getenv("BIOPP_BIN");
    return b && *b ? b : "build/biopp";
}

/* Runs a shell command line; returns the exit status, output in *out. */
static int run(char **out, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = calloc(cap, 1);
    n = fread(buf, 1, cap - 1, p);
    buf[n] = '\0';
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *tmpdir(void)
{
    char *t = strdup("/tmp/biopp-cli-XXXXXX");
    cr_assert_not_null(mkdtemp(t));
    return t;
}

static char *slurp(const char *dir, const char *file)
{
    char path[512], *text = NULL;
    bp_error err;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    cr_assert_eq(bp_read_text(path, &text, NULL, &err), BP_OK, "%s", err.msg);
    return text;
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
    char *a = tmpdir(), *b = tmpdir(), *out;
    int rc = run(&out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                       " --set rule=bfa --set epochs=2 --out %s/run",
                 data, bin(), a);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = run(NULL, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                   " --set rule=bfa --set epochs=2 --out %s/run",
             data, bin(), b);
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
    rc = run(&out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                   " --set rule=bfa --set epochs=2 --out %s",
             data, bin(), da);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "already holds a run"), "%s", out);
    free(out);
    rc = run(&out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                   " --set rule=bfa --set epochs=3 --out %s --resume",
             data, bin(), da);
    cr_expect_eq(rc, 0, "%s", out);
    free(out);
    ma = slurp(da, "metrics.jsonl");
    cr_expect(strstr(ma, "\"epoch\":3") && !strstr(ma, "\"epoch\":4"), "%s", ma);
    free(ma);
    run(NULL, "rm -rf %s %s", a, b);
    free(a), free(b);
}

Test(cli, divergence_is_recorded_and_exits_3, .timeout = 60)
{
    const char *data = th_mnist_dir();
    if (!data) cr_skip_test("MNIST not found");
    char *a = tmpdir(), *out;
    int rc = run(&out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini " SMALL
                       " --set optimizer=sgd --set activation=relu --set lr=1e30 --set epochs=3 --out %s/run",
                 data, bin(), a);
    cr_expect_eq(rc, 3, "%s", out);
    cr_expect(strstr(out, "diverged"), "%s", out);
    free(out);
    char d[256];
    snprintf(d, sizeof d, "%s/run", a);
    char *fin = slurp(d, "final.json");
    cr_expect(strstr(fin, "\"diverged\":\ttrue"), "%s", fin);
    free(fin);
    run(NULL, "rm -rf %s", a);
    free(a);
}

Test(cli, bad_input_gives_clear_errors)
{
    char *out;
    int rc = run(&out, "%s train --config /nonexistent.ini", bin());
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "/nonexistent.ini"), "%s", out);
    free(out);
    rc = run(&out, "%s train --config configs/mnist.ini --set hidden=2x", bin());
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "hidden"), "%s", out);
    free(out);
    rc = run(&out, "BIOPP_DATA_DIR=/nonexistent %s train --config configs/mnist.ini", bin());
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "make data"), "%s", out);
    free(out);
    rc = run(&out, "%s train --bogus", bin());
    cr_expect_eq(rc, 2);
    free(out);
    rc = run(&out, "%s train --help", bin());
    cr_expect_eq(rc, 0);
    cr_expect(strstr(out, "--config FILE"), "%s", out);
    free(out);
    rc = run(&out, "%s --help", bin());
    cr_expect_eq(rc, 0);
    free(out);
}
