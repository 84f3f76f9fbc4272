/* Hardening (docs/RELIABILITY.md): regression tests for what the
 * sanitizers and fuzzers found, and the guards against bad files, full
 * disks, unwritable folders, memory limits and NaN/Inf. */
#include <criterion/criterion.h>

#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "biopp/fsutil.h"
#include "biopp/report.h"
#include "biopp/sweep.h"
#include "helpers.h"

static char tmpdir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/biopp_test_rel_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}

static void teardown(void)
{
    chmod(tmpdir, 0700);
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(reliability, .init = setup, .fini = teardown);

/* tmpdir/name (static buffers, 8 in rotation). */
static const char *tmp_path(const char *fmt, ...)
{
    static char bufs[8][512];
    static int next;
    char *p = bufs[next++ % 8];
    char name[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void put_file(const char *path, const char *text)
{
    bp_error err = {0};
    cr_assert_eq(bp_write_file_atomic(path, text, strlen(text), &err), BP_OK, "%s", err.msg);
}

/* ---- fuzz findings ---- */

/* fuzz_final_json: "epochs": 1e308 was cast to int (undefined behaviour;
 * INT_MIN on x86). Out-of-range counts now read as 0. */
Test(reliability, final_json_huge_epochs_is_not_cast)
{
    bp_sweep s;
    bp_sweep_cell c;
    bp_error err = {0};
    bp_sweep_init(&s);
    cr_assert_eq(bp_sweep_override(&s, "seeds=1", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_expand(&s, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_cell_at(&s, 0, &c, &err), BP_OK, "%s", err.msg);
    char run[4096];
    bp_sweep_run_dir(run, sizeof run, tmp_path("sw"), &c, s.seeds[0]);
    cr_assert_eq(bp_mkdir_p(run, &err), BP_OK, "%s", err.msg);
    const char *cases[] = {"1e308", "-1e308", "2147483648", "-3"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[4200], text[128];
        snprintf(path, sizeof path, "%s/final.json", run);
        snprintf(text, sizeof text, "{\"diverged\": false, \"epochs\": %s, \"test_error\": 0.1}",
                 cases[i]);
        put_file(path, text);
        bp_sweep_cell_result r;
        cr_assert_eq(bp_sweep_cell_result_read(&s, tmp_path("sw"), &c, &r, &err), BP_OK, "%s",
                     err.msg);
        cr_expect_eq(r.run[0].epochs, 0, "epochs %s read as %d", cases[i], r.run[0].epochs);
        cr_expect_eq(r.n_test, 1);
        bp_sweep_cell_result_free(&r);
    }
    bp_sweep_free(&s);
}

/* The same cast in metrics.jsonl (read when resuming): an epoch of 1e308
 * is not epoch 1..keep, so the log is refused as too short. */
Test(reliability, metrics_jsonl_huge_epoch_is_not_cast)
{
    const char *dir = tmp_path("run");
    bp_error err = {0};
    cr_assert_eq(bp_mkdir_p(dir, &err), BP_OK, "%s", err.msg);
    put_file(tmp_path("run/metrics.jsonl"), "{\"epoch\":1,\"test_error\":0.1}\n"
                                            "{\"epoch\":1e308,\"test_error\":0.1}\n");
    bp_run_log log;
    cr_expect_eq(bp_run_log_open(&log, dir, 2, &err), BP_ERR_FORMAT);
    cr_expect(strstr(err.msg, "holds 1 epochs, the checkpoint is at epoch 2"), "%s", err.msg);
    bp_run_log_close(&log);
    cr_expect_eq(bp_run_log_open(&log, dir, 1, &err), BP_OK, "%s", err.msg);
    cr_expect_eq(log.n, 1);
    bp_run_log_close(&log);
}
