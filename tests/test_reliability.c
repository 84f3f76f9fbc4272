/* Hardening (docs/RELIABILITY.md): regression tests for what the
 * sanitizers and fuzzers found, and the guards against bad files, full
 * disks, unwritable folders, memory limits and NaN/Inf. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "biopp/fsutil.h"
#include "biopp/memory.h"
#include "biopp/report.h"
#include "biopp/runner.h"
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

static char mounted[2][600];

static void teardown(void)
{
    for (int i = 0; i < 2; i++)
        if (mounted[i][0]) umount2(mounted[i], MNT_DETACH);
    chmod(tmpdir, 0700);
    nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(reliability, .init = setup, .fini = teardown);

/* tmpdir/name (tests/helpers.h: 8 buffers in rotation). */
#define tmp_path(...) th_path(tmpdir, __VA_ARGS__)

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
    cr_expect(strstr(err.msg, "holds 1 epoch, the checkpoint is at epoch 2"), "%s", err.msg);
    bp_run_log_close(&log);
    cr_expect_eq(bp_run_log_open(&log, dir, 1, &err), BP_OK, "%s", err.msg);
    cr_expect_eq(log.n, 1);
    bp_run_log_close(&log);
}

/* ---- writes: read-only folders, full disks, unwritable logs ---- */

/* Makes tmpdir/name a tmpfs of `kib` KiB (read-only when ro); 0 when this
 * machine does not allow mounts (not root). */
static int mount_tmpfs(const char *name, int kib, int ro)
{
    static int slot;
    const char *dir = tmp_path("%s", name);
    cr_assert_eq(mkdir(dir, 0755), 0);
    char opts[64];
    snprintf(opts, sizeof opts, "size=%dk", kib);
    if (mount("tmpfs", dir, "tmpfs", ro ? MS_RDONLY : 0, opts) != 0) return 0;
    snprintf(mounted[slot++ % 2], sizeof mounted[0], "%s", dir);
    return 1;
}

/* A folder nobody may write: a read-only tmpfs as root, else mode 0555. */
static const char *read_only_dir(void)
{
    if (geteuid() == 0) {
        if (!mount_tmpfs("ro", 64, 1)) cr_skip_test("root, but mount is not allowed here");
    } else {
        cr_assert_eq(mkdir(tmp_path("ro"), 0555), 0);
    }
    return tmp_path("ro");
}

Test(reliability, writable_dir_check_names_the_folder)
{
    const char *ro = read_only_dir();
    char out[600];
    snprintf(out, sizeof out, "%s/run", ro);
    bp_error err = {0};
    cr_expect_eq(bp_check_writable_dir(ro, &err), BP_ERR_IO);
    cr_expect(strstr(err.msg, ro) && strstr(err.msg, "not writable"), "%s", err.msg);
    cr_expect_eq(bp_check_writable_dir(out, &err), BP_ERR_IO);
    cr_expect(strstr(err.msg, "cannot create directory"), "%s", err.msg);
    /* A path through a file, and a good folder (made, left empty). */
    put_file(tmp_path("file"), "x");
    cr_expect_eq(bp_check_writable_dir(tmp_path("file/run"), &err), BP_ERR_IO);
    cr_expect(strstr(err.msg, "Not a directory"), "%s", err.msg);
    cr_expect_eq(bp_check_writable_dir(tmp_path("new/deep"), &err), BP_OK, "%s", err.msg);
    cr_expect_eq(rmdir(tmp_path("new/deep")), 0, "the probe file must be gone");
}

static const char *bin(void)
{
    const char *b = getenv("BIOPP_BIN");
    return b && *b ? b : "build/biopp";
}

/* Runs a shell command; exit status, output (stdout + stderr) in out. */
static int sh(char *out, size_t n, const char *fmt, ...)
{
    char cmd[4096], full[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The output folder is checked before the data set is read: with no data
 * at all the error is still about the folder. */
Test(reliability, cli_refuses_unwritable_out_before_loading_data, .timeout = 60)
{
    const char *ro = read_only_dir();
    char out[8192];
    int rc = sh(out, sizeof out, "BIOPP_DATA_DIR=%s %s train --config configs/mnist.ini --out %s/run",
                tmp_path("no-data"), bin(), ro);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, ro) && strstr(out, "output folder"), "%s", out);
    cr_expect(!strstr(out, "make data"), "data was loaded first: %s", out);
    rc = sh(out, sizeof out, "BIOPP_DATA_DIR=%s %s sweep --config configs/quick/sweep.ini --out %s/sw",
            tmp_path("no-data"), bin(), ro);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, ro) && strstr(out, "output folder"), "%s", out);
}

/* ---- a full disk during a checkpoint write ---- */

static bp_dataset synth;
static int epochs_seen;

static void count_epoch(void *user, int r, const bp_epoch_metrics *m)
{
    (void)r, (void)m;
    epochs_seen++;
    const char *fill = user;
    /* After epoch 2's metrics, before its checkpoint: fill the disk to
     * within a few pages, room for metrics.jsonl but not a checkpoint. */
    if (fill && m->epoch == 2) {
        int fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert(fd >= 0);
        static char page[4096];
        while (write(fd, page, sizeof page) == (ssize_t)sizeof page) {}
        cr_assert_eq(errno, ENOSPC);
        close(fd);
        struct stat st;
        cr_assert_eq(stat(fill, &st), 0);
        cr_assert_eq(truncate(fill, st.st_size - 3 * 4096), 0);
    }
}

/* metrics.jsonl without its timing values. */
static void strip_seconds(char *s)
{
    for (char *p; (p = strstr(s, "\"seconds\":"));) {
        char *end = p + strcspn(p, ",}");
        memmove(p, end, strlen(end) + 1);
    }
}

static bp_status train_run(const char *dir, int epochs, int resume, const char *fill,
                           bp_error *err)
{
    static const int hidden[] = {128};
    bp_config cfg;
    th_config(&cfg, BP_RULE_BFA, 1, hidden, 64);
    cfg.optimizer = BP_OPT_ADAM;
    cfg.lr = 1e-3;
    cfg.epochs = epochs;
    cfg.checkpoint_every = 1;
    const char *dirs[1] = {dir};
    bp_runner_opts opts = {.dirs = dirs, .resume = resume, .on_epoch = count_epoch,
                           .user = (void *)fill};
    int diverged = 0;
    epochs_seen = 0;
    return bp_run_group(&cfg, &cfg.seed, 1, &synth, &opts, &diverged, err);
}

/* The write of epoch 2's checkpoint hits a full disk: the run stops with an
 * error naming the file, epoch 1's checkpoint survives, and once space is
 * free again the run resumes from epoch 1 (not from scratch) to the same
 * results as a run that never failed. */
Test(reliability, full_disk_during_checkpoint_keeps_previous_and_resumes, .timeout = 120)
{
    if (!mount_tmpfs("disk", 4096, 0)) cr_skip_test("mount not allowed (not root)");
    th_make_dataset(&synth, 256, 196, 10, 7);
    const char *run = tmp_path("disk/run"), *fill = tmp_path("disk/filler");
    char run_c[600], fill_c[600];
    snprintf(run_c, sizeof run_c, "%s", run);
    snprintf(fill_c, sizeof fill_c, "%s", fill);
    bp_error err = {0};
    cr_assert_eq(train_run(run_c, 3, 0, fill_c, &err), BP_ERR_IO, "%s", err.msg);
    cr_expect(strstr(err.msg, "checkpoint.bin") && strstr(err.msg, "No space left"), "%s",
              err.msg);
    char path[700];
    snprintf(path, sizeof path, "%s/checkpoint.prev.bin", run_c);
    int epoch = -1;
    cr_assert_eq(bp_checkpoint_peek_epoch(path, &epoch, &err), BP_OK, "%s", err.msg);
    cr_expect_eq(epoch, 1);
    snprintf(path, sizeof path, "%s/checkpoint.bin.tmp", run_c);
    cr_expect(!bp_file_exists(path), "the torn temp file must be removed");

    cr_assert_eq(unlink(fill_c), 0);
    cr_assert_eq(train_run(run_c, 3, 1, NULL, &err), BP_OK, "%s", err.msg);
    cr_expect_eq(epochs_seen, 2, "resumed from epoch %d, expected 1", 3 - epochs_seen);
    cr_assert_eq(train_run(tmp_path("clean"), 3, 0, NULL, &err), BP_OK, "%s", err.msg);
    char a[700], b[700], *ta, *tb;
    snprintf(a, sizeof a, "%s/metrics.jsonl", run_c);
    snprintf(b, sizeof b, "%s/metrics.jsonl", tmp_path("clean"));
    cr_assert_eq(bp_read_text(a, &ta, NULL, &err), BP_OK);
    cr_assert_eq(bp_read_text(b, &tb, NULL, &err), BP_OK);
    strip_seconds(ta);
    strip_seconds(tb);
    cr_expect_str_eq(ta, tb);
    free(ta), free(tb);
    bp_dataset_free(&synth);
}

/* A corrupt latest checkpoint is refused with the file named and the way
 * out; once it is deleted the run resumes from checkpoint.prev.bin. */
Test(reliability, corrupt_checkpoint_is_refused_then_prev_resumes, .timeout = 120)
{
    th_make_dataset(&synth, 256, 196, 10, 7);
    char run[600], ck[700];
    snprintf(run, sizeof run, "%s", tmp_path("run"));
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", run);
    bp_error err = {0};
    cr_assert_eq(train_run(run, 2, 0, NULL, &err), BP_OK, "%s", err.msg);
    FILE *f = fopen(ck, "r+b");
    cr_assert_not_null(f);
    fseek(f, 300, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 300, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
    cr_expect_eq(train_run(run, 3, 1, NULL, &err), BP_ERR_FORMAT);
    cr_expect(strstr(err.msg, ck) && strstr(err.msg, "checksum mismatch") &&
                  strstr(err.msg, "delete the file to resume from checkpoint.prev.bin"),
              "%s", err.msg);
    cr_assert_eq(unlink(ck), 0);
    cr_assert_eq(train_run(run, 3, 1, NULL, &err), BP_OK, "%s", err.msg);
    cr_expect_eq(epochs_seen, 2, "resumed from epoch %d, expected 1", 3 - epochs_seen);
    bp_dataset_free(&synth);
}

/* The run's log (metrics.jsonl) cannot be replaced: the error names it. */
Test(reliability, unwritable_metrics_log_names_the_file, .timeout = 60)
{
    th_make_dataset(&synth, 256, 196, 10, 7);
    const char *run = tmp_path("run");
    char run_c[600];
    snprintf(run_c, sizeof run_c, "%s", run);
    bp_error err = {0};
    cr_assert_eq(bp_mkdir_p(tmp_path("run/metrics.jsonl"), &err), BP_OK);
    cr_expect_eq(train_run(run_c, 1, 0, NULL, &err), BP_ERR_IO);
    cr_expect(strstr(err.msg, "metrics.jsonl") && strstr(err.msg, "cannot write"), "%s",
              err.msg);
    bp_dataset_free(&synth);
}

/* ---- memory estimates ---- */

/* Counts what the CPU backend is asked to allocate. */
static size_t allocated;
static void *(*real_alloc)(bp_backend *, size_t);
static void *counting_alloc(bp_backend *be, size_t bytes)
{
    allocated += bytes;
    return real_alloc(be, bytes);
}

/* The estimate of backend memory matches what a group really allocates,
 * for every rule, SGD with momentum and Adam, groups of 1 and 3. */
Test(reliability, memory_estimate_matches_allocations, .timeout = 60)
{
    th_make_dataset(&synth, 300, 50, 10, 3);
    static const int hidden[] = {40, 24};
    for (int rule = BP_RULE_BP; rule <= BP_RULE_BDFA; rule++) {
        for (int opt = 0; opt < 2; opt++) {
            for (int R = 1; R <= 3; R += 2) {
                bp_config cfg;
                th_config(&cfg, rule, 2, hidden, 200);
                cfg.batch = 32;
                cfg.eval_batch = 50;
                cfg.optimizer = opt ? BP_OPT_ADAM : BP_OPT_SGD;
                cfg.momentum = opt ? 0.0 : 0.9;
                cfg.align_every = R == 3 ? 2 : 0; /* the diagnostics' buffers too */
                uint64_t seeds[3] = {1, 2, 3};
                bp_error err = {0};
                bp_backend *be;
                cr_assert_eq(bp_backend_cpu_create(1, &be, &err), BP_OK, "%s", err.msg);
                bp_backend_ops ops = *be->ops;
                real_alloc = ops.alloc;
                ops.alloc = counting_alloc;
                const bp_backend_ops *saved = be->ops;
                be->ops = &ops;
                allocated = 0;
                bp_group *g;
                cr_assert_eq(bp_group_create(&cfg, seeds, R, &synth, be, &g, &err), BP_OK, "%s",
                             err.msg);
                bp_mem_estimate e;
                cr_assert_eq(bp_memory_estimate(&cfg, R, &synth, &e, &err), BP_OK, "%s", err.msg);
                /* Zero-size buffers are allocated as 1 float: a few bytes of slack. */
                cr_expect(e.backend <= allocated + 64 && allocated <= e.backend + 64,
                          "%s opt %d R %d: estimate %zu bytes, allocated %zu", bp_rule_name(rule),
                          opt, R, e.backend, allocated);
                bp_group_destroy(g);
                be->ops = saved;
                bp_backend_destroy(be);
            }
        }
    }
    bp_dataset_free(&synth);
}

/* The checkpoint size in the estimate is the file's size (within the
 * header allowance). */
Test(reliability, memory_estimate_checkpoint_size, .timeout = 60)
{
    th_make_dataset(&synth, 256, 196, 10, 7);
    bp_error err = {0};
    cr_assert_eq(train_run(tmp_path("run"), 1, 0, NULL, &err), BP_OK, "%s", err.msg);
    struct stat st;
    cr_assert_eq(stat(tmp_path("run/checkpoint.bin"), &st), 0);
    static const int hidden[] = {128};
    bp_config cfg;
    th_config(&cfg, BP_RULE_BFA, 1, hidden, 64);
    cfg.optimizer = BP_OPT_ADAM;
    bp_mem_estimate e;
    cr_assert_eq(bp_memory_estimate(&cfg, 1, &synth, &e, &err), BP_OK);
    cr_expect((size_t)st.st_size <= e.checkpoint && e.checkpoint <= (size_t)st.st_size + 4096,
              "file %lld bytes, estimate %zu", (long long)st.st_size, e.checkpoint);
    bp_dataset_free(&synth);
}

/* A group larger than the memory available is refused before anything is
 * allocated, with the estimate, the limit and what to change. */
Test(reliability, group_over_memory_limit_is_refused, .timeout = 60)
{
    th_make_dataset(&synth, 256, 196, 10, 7);
    setenv("BIOPP_HOST_MEMORY_MB", "40", 1);
    cr_expect_eq(bp_host_memory_available(), (size_t)40 << 20);
    static const int hidden[] = {4096, 4096};
    bp_config cfg;
    th_config(&cfg, BP_RULE_BP, 2, hidden, 64);
    cfg.optimizer = BP_OPT_ADAM;
    bp_runner_opts opts = {0};
    int diverged[2];
    uint64_t seeds[2] = {1, 2};
    bp_error err = {0};
    cr_expect_eq(bp_run_group(&cfg, seeds, 2, &synth, &opts, diverged, &err), BP_ERR_NOMEM);
    cr_expect(strstr(err.msg, "2 runs of this config need about") &&
                  strstr(err.msg, "only 40 MiB are available") && strstr(err.msg, "weights 134.") &&
                  strstr(err.msg, "fewer seeds"),
              "%s", err.msg);
    /* A small one passes the same limit. */
    static const int small[] = {32};
    th_config(&cfg, BP_RULE_BP, 1, small, 64);
    cr_expect_eq(bp_run_group(&cfg, seeds, 1, &synth, &opts, diverged, &err), BP_OK, "%s", err.msg);
    unsetenv("BIOPP_HOST_MEMORY_MB");
    bp_dataset_free(&synth);
}

/* A file system too small for the checkpoints refuses the run before the
 * first epoch, naming the folder and both sizes. */
Test(reliability, too_little_disk_is_refused_before_training, .timeout = 60)
{
    if (!mount_tmpfs("small", 1024, 0)) cr_skip_test("mount not allowed (not root)");
    th_make_dataset(&synth, 256, 196, 10, 7);
    char run[600];
    snprintf(run, sizeof run, "%s", tmp_path("small/run"));
    bp_error err = {0};
    cr_expect_eq(train_run(run, 2, 0, NULL, &err), BP_ERR_IO);
    cr_expect(strstr(err.msg, run) && strstr(err.msg, "not enough disk space") &&
                  strstr(err.msg, "MiB are free"),
              "%s", err.msg);
    cr_expect_eq(epochs_seen, 0, "trained %d epochs first", epochs_seen);
    bp_dataset_free(&synth);
}

/* ---- NaN / Inf ---- */

static char last_nonfinite[320];
static void keep_nonfinite(void *user, int r, const bp_epoch_metrics *m)
{
    (void)user, (void)r;
    epochs_seen++;
    if (m->diverged) snprintf(last_nonfinite, sizeof last_nonfinite, "%s", m->nonfinite);
}

static bp_status run_lr(const bp_config *cfg, const char *dir, int resume, bp_error *err)
{
    const char *dirs[1] = {dir};
    bp_runner_opts opts = {.dirs = dir ? dirs : NULL, .resume = resume, .on_epoch = keep_nonfinite};
    int diverged = 0;
    last_nonfinite[0] = '\0';
    epochs_seen = 0;
    bp_status rc = bp_run_group(cfg, &cfg->seed, 1, &synth, &opts, &diverged, err);
    cr_expect_eq(diverged, last_nonfinite[0] != '\0');
    return rc;
}

/* A huge forward lr: W explodes in step 1's update, so step 2's forward
 * pass is the first to overflow; the report names that step and tensor. */
Test(reliability, nonfinite_loss_names_step_layer_tensor, .timeout = 60)
{
    th_make_dataset(&synth, 256, 64, 10, 11);
    static const int hidden[] = {32};
    bp_config cfg;
    th_config(&cfg, BP_RULE_BP, 1, hidden, 256);
    cfg.batch = 32;
    cfg.activation = BP_ACT_RELU;
    cfg.lr = 1e30;
    cfg.epochs = 2;
    bp_error err = {0};
    cr_assert_eq(run_lr(&cfg, NULL, 0, &err), BP_OK, "%s", err.msg);
    cr_expect(strstr(last_nonfinite, "step 2 (epoch 1, batch 2 of 8), forward pass: ") &&
                  strstr(last_nonfinite, "layer "),
              "%s", last_nonfinite);
}

/* BFA with a huge feedback lr only: the forward pass stays finite and the
 * first NaN/Inf is in the backward learning phase (feedback weights). */
Test(reliability, nonfinite_in_feedback_weights_is_traced_there, .timeout = 60)
{
    th_make_dataset(&synth, 256, 64, 10, 11);
    static const int hidden[] = {32};
    bp_config cfg;
    th_config(&cfg, BP_RULE_BFA, 1, hidden, 256);
    cfg.batch = 32;
    cfg.lr = 1e-3;
    cfg.feedback_lr = 1e35;
    cfg.epochs = 2;
    bp_error err = {0};
    cr_assert_eq(run_lr(&cfg, NULL, 0, &err), BP_OK, "%s", err.msg);
    cr_expect(strstr(last_nonfinite, "(epoch 1, batch ") &&
                  (strstr(last_nonfinite, "backward learning phase") ||
                   strstr(last_nonfinite, "update of the feedback weights")),
              "%s", last_nonfinite);
}

/* Diverging in epoch 3 of a run with checkpoints: the replay starts from
 * epoch 2's checkpoint, and final.json records where. */
Test(reliability, nonfinite_replays_from_the_checkpoint, .timeout = 60)
{
    th_make_dataset(&synth, 256, 64, 10, 11);
    static const int hidden[] = {32};
    bp_config cfg;
    th_config(&cfg, BP_RULE_BP, 1, hidden, 256);
    cfg.batch = 32;
    cfg.activation = BP_ACT_RELU;
    cfg.lr = 1e-3;
    cfg.epochs = 2;
    cfg.checkpoint_every = 1;
    const char *dir = tmp_path("run");
    char d[600];
    snprintf(d, sizeof d, "%s", dir);
    bp_error err = {0};
    cr_assert_eq(run_lr(&cfg, d, 0, &err), BP_OK, "%s", err.msg);
    cfg.epochs = 3;
    cfg.lr = 1e30; /* the library does not refuse a changed config (the CLI does) */
    cr_assert_eq(run_lr(&cfg, d, 1, &err), BP_OK, "%s", err.msg);
    cr_expect_eq(epochs_seen, 1);
    cr_expect(strstr(last_nonfinite, "step 18 (epoch 3, batch 2 of 8), forward pass: "), "%s",
              last_nonfinite);
    char *fin;
    cr_assert_eq(bp_read_text(tmp_path("run/final.json"), &fin, NULL, &err), BP_OK);
    cr_expect(strstr(fin, "\"nonfinite\":\t\"step 18 (epoch 3"), "%s", fin);
    free(fin);
}
