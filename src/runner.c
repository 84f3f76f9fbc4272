/* See include/biopp/runner.h. Files of run directory DIR:
 *   config.ini, metrics.jsonl, final.json,
 *   checkpoint.bin (latest) and checkpoint.prev.bin (the one before): two
 *   generations, because a kill while a group writes its R checkpoints can
 *   leave runs one checkpoint apart; resume picks the epoch all runs have. */
#include "biopp/runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "biopp/fsutil.h"
#include "biopp/memory.h"
#include "biopp/nonfinite.h"
#include "biopp/report.h"

volatile sig_atomic_t bp_stop_requested = 0;
volatile sig_atomic_t bp_stop_signal = 0;

void bp_stop_acknowledge(int sig)
{
    /* write(2): the only output that is safe inside a signal handler. The
     * leading newline leaves a progress bar drawn in place intact. */
    static const char sigint[] =
        "\nbiopp: stopping after this step (Ctrl-C again to stop now)\n";
    static const char other[] =
        "\nbiopp: signal received: stopping after this step (again to stop now)\n";
    const char *msg = sig == SIGINT ? sigint : other;
    size_t n = sig == SIGINT ? sizeof sigint - 1 : sizeof other - 1;
    ssize_t ignored = write(STDERR_FILENO, msg, n);
    (void)ignored;
}

static void on_stop_signal(int sig)
{
    if (bp_stop_requested) {
        /* Second signal: leave now; the last checkpoint stays valid. */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    bp_stop_signal = sig;
    bp_stop_requested = 1;
    bp_stop_acknowledge(sig);
}

void bp_install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

typedef struct {
    const bp_config *cfg;
    const bp_runner_opts *o;
    const bp_dataset *ds;
    bp_group *g;
    int R;
    bp_run_log logs[BP_MAX_SEEDS];
    int done[BP_MAX_SEEDS]; /* diverged (final.json written) */
} runner;

static void path_in(char *buf, size_t n, const runner *x, int r, const char *file)
{
    bp_run_path(buf, n, x->o->dirs[r], file);
}

static bp_status save_checkpoint(runner *x, int r, bp_error *err)
{
    char cur[4096], prev[4096];
    path_in(cur, sizeof cur, x, r, "checkpoint.bin");
    path_in(prev, sizeof prev, x, r, "checkpoint.prev.bin");
    if (bp_file_exists(cur) && rename(cur, prev) != 0)
        return bp_fail(err, BP_ERR_IO, "%s: cannot rotate to %s", cur, prev);
    return bp_checkpoint_save(x->g, r, cur, err);
}

/* Where a checkpoint stands, in steps from the start (epochs x steps per
 * epoch + the step reached within the next epoch); -1 when unreadable. */
static long long checkpoint_point(const runner *x, const char *path)
{
    int e = 0, pos = 0;
    bp_error ignore;
    if (!bp_file_exists(path) || bp_checkpoint_peek(path, &e, &pos, &ignore)) return -1;
    return (long long)e * bp_group_steps_per_epoch(x->g) + pos;
}

/* The checkpoint of run r at exactly `point`, latest generation first. */
static int find_checkpoint(const runner *x, int r, long long point, char *path, size_t n)
{
    const char *names[] = {"checkpoint.bin", "checkpoint.prev.bin"};
    for (int i = 0; i < 2; i++) {
        path_in(path, n, x, r, names[i]);
        if (checkpoint_point(x, path) == point) return 1;
    }
    return 0;
}

static int diverged_before(const runner *x, int r)
{
    char path[4096];
    path_in(path, sizeof path, x, r, "final.json");
    bp_error ignore;
    return bp_file_exists(path) && bp_final_json_diverged(path, &ignore) == 1;
}

/* The point every live run has a checkpoint for: the minimum of the latest
 * ones (0 when some run has none). */
static long long resume_point(runner *x)
{
    long long target = -1;
    for (int r = 0; r < x->R; r++) {
        if (x->done[r]) continue;
        char path[4096];
        /* checkpoint.bin is missing when its write failed (disk full) after
         * the rotation: checkpoint.prev.bin then holds the latest point. */
        const char *names[] = {"checkpoint.bin", "checkpoint.prev.bin"};
        long long p = -1;
        for (int i = 0; i < 2 && p < 0; i++) {
            path_in(path, sizeof path, x, r, names[i]);
            p = checkpoint_point(x, path);
        }
        if (p < 0) p = 0;
        if (target < 0 || p < target) target = p;
    }
    return target < 0 ? 0 : target;
}

/* A run whose checkpoint files all have unreadable headers would start over
 * from epoch 0 without a word: refuse instead (writes are atomic, so this
 * is damage, not a crash mid-write). */
static bp_status check_some_checkpoint_reads(const runner *x, bp_error *err)
{
    const char *names[] = {"checkpoint.bin", "checkpoint.prev.bin"};
    for (int r = 0; r < x->R; r++) {
        if (x->done[r]) continue;
        char path[4096], bad[4096] = "";
        int readable = 0;
        for (int i = 0; i < 2; i++) {
            path_in(path, sizeof path, x, r, names[i]);
            if (!bp_file_exists(path)) continue;
            if (checkpoint_point(x, path) >= 0) readable = 1;
            else snprintf(bad, sizeof bad, "%s", path);
        }
        if (bad[0] && !readable)
            return bp_fail(err, BP_ERR_FORMAT,
                           "%s: not a readable biopp checkpoint, and there is no other "
                           "generation; restore it, or delete it to train run %d again from "
                           "epoch 0",
                           bad, r);
    }
    return BP_OK;
}

/* *start: the epochs completed (the group may also be part-way into the
 * next one: bp_group_step_in_epoch). */
static bp_status try_resume(runner *x, int *start, bp_error *err)
{
    static char paths[BP_MAX_SEEDS][4096];
    *start = 0;
    for (int r = 0; r < x->R; r++) x->done[r] = diverged_before(x, r);
    bp_status rc = check_some_checkpoint_reads(x, err);
    if (rc) return rc;
    long long point = resume_point(x);
    if (point == 0) return BP_OK;
    for (int r = 0; r < x->R; r++)
        if (!x->done[r] && !find_checkpoint(x, r, point, paths[r], sizeof paths[r]))
            return BP_OK; /* no common point: start over */
    for (int r = 0; r < x->R; r++) {
        if (x->done[r]) continue;
        rc = bp_checkpoint_load(x->g, r, paths[r], err);
        if (rc == BP_ERR_FORMAT && strstr(paths[r], "checkpoint.bin"))
            return bp_fail_context(err, "resuming run %d (delete the file to resume from "
                                        "checkpoint.prev.bin)", r);
        if (rc) return bp_fail_context(err, "resuming run %d", r);
    }
    *start = bp_group_epoch(x->g);
    return BP_OK;
}

/* A stop inside an epoch: every live run's checkpoint at the step reached. */
static bp_status save_mid_epoch(runner *x, bp_error *err)
{
    for (int r = 0; r < x->R; r++) {
        if (x->done[r] || !x->o->dirs) continue;
        bp_status rc = save_checkpoint(x, r, err);
        if (rc) return rc;
    }
    return BP_OK;
}

/* A finished run trained further (--resume --set epochs=N) is no longer
 * finished: its old final.json goes, so that no file contradicts config.ini
 * while it trains; the new one is written at the end. */
static bp_status remove_stale_final(runner *x, int r, bp_error *err)
{
    char path[4096];
    path_in(path, sizeof path, x, r, "final.json");
    if (unlink(path) != 0 && errno != ENOENT)
        return bp_fail(err, BP_ERR_IO, "%s: cannot remove the old final.json: %s", path,
                       strerror(errno));
    return BP_OK;
}

static bp_status open_run_files(runner *x, int start, bp_error *err)
{
    for (int r = 0; r < x->R; r++) {
        char path[4096];
        bp_config one = *x->cfg;
        one.seed = bp_group_net(x->g)->seeds[r];
        bp_status rc;
        if ((rc = bp_mkdir_p(x->o->dirs[r], err))) return rc;
        path_in(path, sizeof path, x, r, "config.ini");
        if ((rc = bp_write_config_file(path, &one, bp_group_backend(x->g), err))) return rc;
        if (x->done[r]) continue;
        if (start < x->cfg->epochs && (rc = remove_stale_final(x, r, err))) return rc;
        if ((rc = bp_run_log_open(&x->logs[r], x->o->dirs[r], start, err))) return rc;
        if (x->cfg->align_log && (rc = bp_align_log_truncate(x->o->dirs[r], start, err)))
            return rc;
    }
    return BP_OK;
}

static bp_status finish_run(runner *x, int r, int diverged, bp_error *err)
{
    bp_config one = *x->cfg;
    one.seed = bp_group_net(x->g)->seeds[r];
    x->done[r] = diverged;
    return bp_write_final_json(x->o->dirs[r], &one, one.seed, &x->logs[r], diverged,
                               bp_group_backend(x->g), err);
}

/* Run r's alignment measurements of this epoch into its align.jsonl. */
static bp_status log_align_points(runner *x, int r, int epoch, bp_error *err)
{
    int max = bp_group_net(x->g)->align_steps;
    bp_align_point *p = malloc((size_t)(max > 0 ? max : 1) * sizeof *p);
    if (!p) return bp_fail(err, BP_ERR_NOMEM, "alignment log: out of host memory");
    int n = bp_group_align_points(x->g, r, p, max);
    bp_status rc = bp_align_log_append(x->o->dirs[r], epoch, p, n, err);
    free(p);
    return rc;
}

/* A run diverged this epoch: trace where its first NaN/Inf appeared
 * (include/biopp/nonfinite.h) into m->nonfinite. A failure to trace is
 * reported there too; it does not stop the group. */
static void locate_nonfinite(runner *x, int r, bp_epoch_metrics *m)
{
    char ck[4096];
    const char *path = NULL;
    if (x->o->dirs) {
        path_in(ck, sizeof ck, x, r, "checkpoint.bin");
        if (!bp_file_exists(ck)) path_in(ck, sizeof ck, x, r, "checkpoint.prev.bin");
        path = bp_file_exists(ck) ? ck : NULL;
    }
    bp_error err = {0};
    if (bp_locate_nonfinite(x->cfg, bp_group_net(x->g)->seeds[r], x->ds, bp_group_backend(x->g),
                            path, m->epoch, bp_group_first_nonfinite_step(x->g, r), m->nonfinite,
                            sizeof m->nonfinite, &err))
        snprintf(m->nonfinite, sizeof m->nonfinite, "epoch %d: not traced (%.240s)", m->epoch,
                 err.msg);
}

/* After an epoch: log each live run, checkpoint when due, retire runs that
 * diverged. */
static bp_status record_epoch(runner *x, bp_epoch_metrics *m, int checkpoint,
                              int *live, bp_error *err)
{
    *live = 0;
    for (int r = 0; r < x->R; r++) {
        if (x->done[r]) continue;
        if (m[r].diverged) locate_nonfinite(x, r, &m[r]);
        if (x->o->on_epoch) x->o->on_epoch(x->o->user, r, &m[r]);
        if (!x->o->dirs) {
            x->done[r] = m[r].diverged;
            *live += !x->done[r];
            continue;
        }
        bp_status rc = bp_run_log_append(&x->logs[r], &m[r], err);
        if (!rc && x->cfg->align_log) rc = log_align_points(x, r, m[r].epoch, err);
        if (!rc && m[r].diverged) rc = finish_run(x, r, 1, err);
        else if (!rc && checkpoint) rc = save_checkpoint(x, r, err);
        if (rc) return rc;
        *live += !x->done[r];
    }
    return BP_OK;
}

/* epochs = 0: the untrained network's errors become the run's only record
 * (metrics.jsonl line "epoch": 0, final.json, a checkpoint to eval/export),
 * a baseline for the trained runs. */
static bp_status record_untrained(runner *x, bp_epoch_metrics *m, bp_error *err)
{
    int live;
    if (x->o->on_evaluate)
        x->o->on_evaluate(x->o->user, 0, bp_group_valid_size(x->g), x->ds->test.n);
    bp_status rc = bp_group_evaluate_untrained(x->g, m, err);
    return rc ? rc : record_epoch(x, m, 1, &live, err);
}

/* How to continue depends on the command (train needs --resume, a sweep
 * resumes by itself): the caller says it. */
static const char *saved_or_not(const runner *x)
{
    return x->o->dirs ? "state saved" : "nothing was saved (no run directory)";
}

/* Forwards per-step progress; after the last step of the epoch, reports
 * the evaluation that follows (the bar would sit at 100% meanwhile). */
static void step_progress(void *user, int epoch, int step, int steps)
{
    runner *x = user;
    if (x->o->progress) x->o->progress(x->o->user, epoch, step, steps);
    if (step == steps && x->o->on_evaluate)
        x->o->on_evaluate(x->o->user, epoch, bp_group_valid_size(x->g), x->ds->test.n);
}

static bp_status train_epochs(runner *x, int start, int *diverged, bp_error *err)
{
    const bp_config *cfg = x->cfg;
    bp_epoch_metrics *m = calloc((size_t)x->R, sizeof *m);
    if (!m) return bp_fail(err, BP_ERR_NOMEM, "out of host memory");
    bp_status rc = BP_OK;
    int live = 1;
    bp_progress_fn progress = x->o->progress || x->o->on_evaluate ? step_progress : NULL;
    if (cfg->epochs == 0 && start == 0) rc = record_untrained(x, m, err);
    for (int e = start; e < cfg->epochs && live && !rc; e++) {
        rc = bp_group_train_epoch(x->g, progress, x, m, err);
        if (rc == BP_ERR_INTERRUPTED) {
            int pos = bp_group_step_in_epoch(x->g), steps = bp_group_steps_per_epoch(x->g);
            rc = save_mid_epoch(x, err);
            if (!rc)
                rc = bp_fail(err, BP_ERR_INTERRUPTED,
                             "stopped at step %d of %d of epoch %d of %d; %s", pos, steps, e + 1,
                             cfg->epochs, saved_or_not(x));
            free(m);
            return rc;
        }
        if (rc) break;
        int last = e + 1 == cfg->epochs;
        int stopping = x->o->stop && *x->o->stop;
        int due = cfg->checkpoint_every > 0 && (e + 1) % cfg->checkpoint_every == 0;
        rc = record_epoch(x, m, due || last || stopping, &live, err);
        if (!rc && stopping && !last)
            rc = bp_fail(err, BP_ERR_INTERRUPTED, "stopped after epoch %d of %d; %s", e + 1,
                         cfg->epochs, saved_or_not(x));
    }
    for (int r = 0; r < x->R && !rc; r++) {
        if (x->o->dirs && !x->done[r]) rc = finish_run(x, r, 0, err);
    }
    for (int r = 0; r < x->R; r++) diverged[r] = x->done[r];
    free(m);
    return rc;
}

bp_status bp_run_group(const bp_config *cfg, const uint64_t *seeds, int R,
                       const bp_dataset *ds, const bp_runner_opts *opts, int *diverged,
                       bp_error *err)
{
    runner *x = calloc(1, sizeof *x);
    if (!x) return bp_fail(err, BP_ERR_NOMEM, "out of host memory");
    x->cfg = cfg;
    x->o = opts;
    x->ds = ds;
    x->R = R;
    bp_backend *be = NULL;
    int start = 0;
    bp_status rc = bp_backend_create(cfg, &be, err);
    if (!rc) rc = bp_memory_check(cfg, R, ds, be, err); /* refuse before allocating */
    if (!rc && opts->dirs) rc = bp_disk_check(cfg, R, ds, opts->dirs, err);
    if (!rc) rc = bp_group_create(cfg, seeds, R, ds, be, &x->g, err);
    if (!rc) bp_group_set_stop(x->g, opts->stop);
    if (!rc && opts->dirs && opts->resume) rc = try_resume(x, &start, err);
    if (!rc && opts->dirs) rc = open_run_files(x, start, err);
    if (!rc) rc = train_epochs(x, start, diverged, err);
    for (int r = 0; r < R; r++) bp_run_log_close(&x->logs[r]);
    bp_group_destroy(x->g);
    bp_backend_destroy(be);
    free(x);
    return rc;
}
