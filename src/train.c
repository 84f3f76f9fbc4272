/* The epoch loop of a group of R runs (see include/biopp/train.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "biopp/align.h"
#include "biopp/ops.h"
#include "biopp/rng.h"
#include "biopp/step.h"
#include "biopp/train.h"

struct bp_group {
    bp_net *net;
    bp_backend *be;
    const bp_dataset *ds;
    int n_train, n_valid, steps;
    uint8_t *train_x, *train_y, *test_x, *test_y; /* resident dataset */
    int32_t *idx, *host_idx;   /* R x n_train sample orders */
    int32_t *seq;              /* 0..N-1, the evaluation order */
    float *eval_metrics, *host_eval;
    int eval_chunks;
    int epoch;                 /* epochs completed */
    int pos;                   /* steps of epoch `epoch`+1 done (a stop mid-epoch), else 0 */
    volatile sig_atomic_t *stop; /* set asynchronously: stop at the next step */
    int diverged[BP_MAX_SEEDS];
};

bp_net *bp_group_net(bp_group *g) { return g->net; }
int bp_group_epoch(const bp_group *g) { return g->epoch; }
void bp_group_set_epoch(bp_group *g, int epoch) { g->epoch = epoch; }
int bp_group_steps_per_epoch(const bp_group *g) { return g->steps; }
int bp_group_step_in_epoch(const bp_group *g) { return g->pos; }
void bp_group_set_step_in_epoch(bp_group *g, int pos) { g->pos = pos; }
void bp_group_set_stop(bp_group *g, volatile sig_atomic_t *stop) { g->stop = stop; }
int bp_group_valid_size(const bp_group *g) { return g->n_valid; }
bp_backend *bp_group_backend(bp_group *g) { return g->be; }

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bp_status upload_new(bp_backend *be, void **dst, const void *src, size_t bytes,
                            const char *what, bp_error *err)
{
    *dst = be->ops->alloc(be, bytes ? bytes : 1);
    if (!*dst) return bp_fail(err, BP_ERR_NOMEM, "uploading %s (%zu bytes): %s", what, bytes,
                              be->err.msg);
    if (bytes && be->ops->upload(be, *dst, src, bytes))
        return bp_backend_fail(be, err, what);
    return BP_OK;
}

static bp_status check_split(const bp_config *cfg, const bp_dataset *ds, bp_error *err)
{
    if (cfg->train_size > ds->train.n)
        return bp_fail(err, BP_ERR_CONFIG,
                       "train_size = %d but %s has only %d training samples", cfg->train_size,
                       ds->name, ds->train.n);
    if (cfg->batch > cfg->train_size)
        return bp_fail(err, BP_ERR_CONFIG, "batch = %d is larger than train_size = %d",
                       cfg->batch, cfg->train_size);
    if (bp_config_valid_count(cfg, ds->train.n) > ds->train.n - cfg->train_size)
        return bp_fail(err, BP_ERR_CONFIG,
                       "valid_size = %d but %s has only %d training samples after train_size = "
                       "%d; lower valid_size or train_size (valid_size = -1 takes the rest)",
                       cfg->valid_size, ds->name, ds->train.n - cfg->train_size, cfg->train_size);
    if (ds->train.dim != ds->test.dim)
        return bp_fail(err, BP_ERR_FORMAT, "%s: train and test samples differ in size (%d, %d)",
                       ds->name, ds->train.dim, ds->test.dim);
    return BP_OK;
}

static bp_status upload_dataset(bp_group *g, bp_error *err)
{
    const bp_dataset *ds = g->ds;
    bp_backend *be = g->be;
    int nseq = ds->train.n > ds->test.n ? ds->train.n : ds->test.n;
    int32_t *seq = malloc((size_t)nseq * sizeof *seq);
    if (!seq) return bp_fail(err, BP_ERR_NOMEM, "out of host memory");
    for (int i = 0; i < nseq; i++) seq[i] = i;
    bp_status rc;
    if ((rc = upload_new(be, (void **)&g->train_x, ds->train.x, (size_t)ds->train.n * ds->train.dim,
                         "training images", err)) ||
        (rc = upload_new(be, (void **)&g->train_y, ds->train.y, (size_t)ds->train.n,
                         "training labels", err)) ||
        (rc = upload_new(be, (void **)&g->test_x, ds->test.x, (size_t)ds->test.n * ds->test.dim,
                         "test images", err)) ||
        (rc = upload_new(be, (void **)&g->test_y, ds->test.y, (size_t)ds->test.n, "test labels",
                         err)) ||
        (rc = upload_new(be, (void **)&g->seq, seq, (size_t)nseq * sizeof *seq, "sample indices",
                         err))) {
        free(seq);
        return rc;
    }
    free(seq);
    return BP_OK;
}

static bp_status alloc_epoch_buffers(bp_group *g, bp_error *err)
{
    bp_net *net = g->net;
    bp_backend *be = g->be;
    size_t idx_n = (size_t)net->R * g->n_train;
    g->host_idx = malloc(idx_n * sizeof *g->host_idx);
    g->idx = be->ops->alloc(be, idx_n * sizeof *g->idx);
    net->metric_steps = g->steps;
    bp_status rc = bp_net_reserve_steps(net, be, g->steps, err);
    if (rc) return rc;
    size_t nm = (size_t)g->steps * net->metric_slots * net->R;
    net->metrics = be->ops->alloc(be, nm * sizeof(float));
    net->host_metrics = malloc(nm * sizeof(float));
    int nmax = g->n_valid > g->ds->test.n ? g->n_valid : g->ds->test.n;
    g->eval_chunks = (nmax + net->cfg.eval_batch - 1) / net->cfg.eval_batch;
    size_t ne = (size_t)g->eval_chunks * 2 * net->R;
    g->eval_metrics = be->ops->alloc(be, (ne ? ne : 1) * sizeof(float));
    g->host_eval = malloc((ne ? ne : 1) * sizeof(float));
    if (!g->host_idx || !g->idx || !net->metrics || !net->host_metrics || !g->eval_metrics ||
        !g->host_eval)
        return bp_fail(err, BP_ERR_NOMEM, "allocating epoch buffers: %s", be->err.msg);
    int measurements = bp_align_count(net->cfg.align_every, g->steps);
    return measurements ? bp_align_reserve(net, be, measurements, err) : BP_OK;
}

bp_status bp_group_create(const bp_config *cfg, const uint64_t *seeds, int R,
                          const bp_dataset *ds, bp_backend *be, bp_group **out, bp_error *err)
{
    *out = NULL;
    bp_status rc = check_split(cfg, ds, err);
    if (rc) return rc;
    bp_group *g = calloc(1, sizeof *g);
    if (!g) return bp_fail(err, BP_ERR_NOMEM, "out of host memory");
    g->be = be;
    g->ds = ds;
    if (be->ops->graph_reset) be->ops->graph_reset(be); /* a new group records anew */
    g->n_train = cfg->train_size;
    g->n_valid = bp_config_valid_count(cfg, ds->train.n);
    g->steps = cfg->train_size / cfg->batch; /* the last partial batch is dropped */
    if ((rc = bp_net_create(cfg, seeds, R, ds->train.dim, ds->classes, be, &g->net, err)) ||
        (rc = upload_dataset(g, err)) || (rc = alloc_epoch_buffers(g, err))) {
        bp_group_destroy(g);
        return rc;
    }
    *out = g;
    return BP_OK;
}

void bp_group_destroy(bp_group *g)
{
    if (!g) return;
    bp_backend *be = g->be;
    /* A recorded epoch points into this group's buffers: drop it with them. */
    if (be->ops->graph_reset) be->ops->graph_reset(be);
    void *dev[] = {g->train_x, g->train_y, g->test_x, g->test_y, g->idx, g->seq, g->eval_metrics};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++)
        if (dev[i]) be->ops->release(be, dev[i]);
    bp_net_destroy(g->net, be);
    free(g->host_idx);
    free(g->host_eval);
    free(g);
}

/* Each run's order of the training split for this epoch: a pure function
 * of (its seed, epoch), so grouped and solo runs see the same batches. */
static bp_status shuffle_epoch(bp_group *g, bp_error *err)
{
    bp_net *net = g->net;
    for (int r = 0; r < net->R; r++)
        bp_permutation(net->seeds[r], BP_STREAM_SHUFFLE + (uint64_t)g->epoch,
                       g->host_idx + (size_t)r * g->n_train, (size_t)g->n_train);
    if (g->be->ops->upload(g->be, g->idx, g->host_idx,
                           (size_t)net->R * g->n_train * sizeof *g->idx))
        return bp_backend_fail(g->be, err, "uploading the sample order");
    return BP_OK;
}

/* Issues the steps first..steps-1 of the epoch. Nothing here waits for the
 * device, so the sequence can be recorded once and replayed (see
 * graph_begin). With `stoppable`, a stop request ends the epoch after the
 * current step: g->pos records where, and *stopped is set. */
static bp_status issue_steps(bp_group *g, int first, int stoppable, int *stopped,
                             bp_progress_fn progress, void *user)
{
    bp_net *net = g->net;
    bp_backend *be = g->be;
    int every = g->steps / 100 > 0 ? g->steps / 100 : 1;
    for (int s = first; s < g->steps; s++) {
        if (stoppable && s > first && g->stop && *g->stop) {
            g->pos = s;
            *stopped = 1;
            return BP_OK;
        }
        BP_TRY(be->ops->gather(be, net->R, net->B, net->n[0], g->train_x, g->train_y,
                               g->idx + (size_t)s * net->B, (size_t)g->n_train, net->H[0],
                               net->labels));
        int every_k = net->cfg.align_every;
        float *align = every_k && s % every_k == 0
                           ? net->align + (size_t)(s / every_k) * bp_align_floats(net)
                           : NULL;
        BP_TRY(bp_train_step_measured(
            net, be, net->metrics + (size_t)s * net->metric_slots * net->R, align));
        if (progress && s % every == 0 && s < g->steps - 1) /* the last: bp_group_train_epoch */
            progress(user, g->epoch + 1, s + 1, g->steps);
    }
    return BP_OK;
}

/* The epoch's steps, through the backend's recorder when it has one: the
 * CUDA backend warms up on the first epoch, records the second as a graph
 * and replays it from then on (one launch per epoch instead of ~30 per
 * step). A failed recording ran nothing: the steps are issued again.
 * Without a recorder (CPU), or for the rest of an epoch resumed mid-way,
 * the steps are issued one by one and a stop request takes effect at the
 * next step; a recorded epoch runs whole. */
static bp_status run_steps(bp_group *g, int *stopped, bp_progress_fn progress, void *user)
{
    bp_net *net = g->net;
    bp_backend *be = g->be;
    long long step0 = net->step;
    BP_TRY(bp_optim_prepare(net, be, g->steps));
    int first = g->pos;
    g->pos = 0;
    if (!be->ops->graph_begin || first > 0) {
        BP_TRY(issue_steps(g, first, 1, stopped, progress, user));
        return be->ops->sync(be);
    }
    int replay = 0;
    BP_TRY(be->ops->graph_begin(be, &replay));
    bp_status rc = BP_OK;
    if (replay) net->step += g->steps;
    else rc = issue_steps(g, 0, 0, stopped, progress, user);
    if (be->ops->graph_end) {
        bp_status end = be->ops->graph_end(be);
        if (end == BP_ERR_UNSUPPORTED) {
            net->step = step0;
            rc = issue_steps(g, 0, 0, stopped, progress, user);
        } else if (!rc) {
            rc = end;
        }
    }
    if (rc) return rc;
    return be->ops->sync(be);
}

/* Sums the per-step metrics of run r over the epoch (in double, on the host). */
static void epoch_sums(const bp_group *g, int r, double *loss, double *errors, double *fb)
{
    const bp_net *net = g->net;
    *loss = *errors = *fb = 0.0;
    for (int s = 0; s < g->steps; s++) {
        const float *m = net->host_metrics + (size_t)s * net->metric_slots * net->R;
        *loss += m[r];
        *errors += m[net->R + r];
        for (int k = 2; k < net->metric_slots; k++) *fb += m[(size_t)k * net->R + r];
    }
}

bp_status bp_group_evaluate(bp_group *g, int valid, double *error, double *loss, bp_error *err)
{
    bp_net *net = g->net;
    bp_backend *be = g->be;
    int R = net->R, n = valid ? g->n_valid : g->ds->test.n;
    const uint8_t *x = valid ? g->train_x : g->test_x, *y = valid ? g->train_y : g->test_y;
    int first = valid ? g->n_train : 0, chunk = net->cfg.eval_batch, k = 0;
    for (int start = 0; start < n; start += chunk, k++) {
        int rows = n - start < chunk ? n - start : chunk;
        float *m = g->eval_metrics + (size_t)k * 2 * R;
        if (be->ops->gather(be, R, rows, net->n[0], x, y, g->seq + first + start, 0, net->H[0],
                            net->labels) ||
            bp_forward(net, be, rows) ||
            be->ops->output_error(be, R, rows, net->C, net->cfg.output, net->logits, net->labels,
                                  NULL, NULL, m, m + R))
            return bp_backend_fail(be, err, valid ? "validation" : "test evaluation");
    }
    if (be->ops->download(be, g->host_eval, g->eval_metrics, (size_t)k * 2 * R * sizeof(float)))
        return bp_backend_fail(be, err, "downloading evaluation metrics");
    for (int r = 0; r < R; r++) {
        double l = 0.0, e = 0.0;
        for (int c = 0; c < k; c++) {
            l += g->host_eval[(size_t)c * 2 * R + r];
            e += g->host_eval[(size_t)c * 2 * R + R + r];
        }
        error[r] = n > 0 ? e / n : -1.0;
        loss[r] = n > 0 ? l / n : -1.0;
    }
    return BP_OK;
}

static bp_status evaluate_into(bp_group *g, bp_epoch_metrics *out, bp_error *err)
{
    int R = g->net->R;
    double e[BP_MAX_SEEDS], l[BP_MAX_SEEDS];
    bp_status rc = bp_group_evaluate(g, 0, e, l, err);
    if (rc) return rc;
    for (int r = 0; r < R; r++) {
        out[r].test_error = e[r];
        out[r].test_loss = l[r];
        out[r].valid_error = out[r].valid_loss = -1.0;
    }
    if (g->n_valid == 0) return BP_OK;
    if ((rc = bp_group_evaluate(g, 1, e, l, err))) return rc;
    for (int r = 0; r < R; r++) {
        out[r].valid_error = e[r];
        out[r].valid_loss = l[r];
    }
    return BP_OK;
}

bp_status bp_group_evaluate_untrained(bp_group *g, bp_epoch_metrics *out, bp_error *err)
{
    double t0 = now_seconds();
    bp_status rc = evaluate_into(g, out, err);
    if (rc) return rc;
    for (int r = 0; r < g->net->R; r++) {
        bp_epoch_metrics *m = &out[r];
        m->epoch = g->epoch;
        /* Training metrics are sums over an epoch's steps: there are none. */
        m->train_loss = m->train_error = m->feedback_loss = NAN;
        m->seconds = now_seconds() - t0;
        m->diverged = 0;
        m->has_align = 0;
        m->nonfinite[0] = '\0';
    }
    return BP_OK;
}

bp_status bp_group_train_epoch(bp_group *g, bp_progress_fn progress, void *user,
                               bp_epoch_metrics *out, bp_error *err)
{
    bp_net *net = g->net;
    bp_backend *be = g->be;
    double t0 = now_seconds();
    int stopped = 0;
    bp_status rc = shuffle_epoch(g, err);
    if (rc) return rc;
    if (run_steps(g, &stopped, progress, user))
        return bp_backend_fail(be, err, "training step");
    if (stopped)
        return bp_fail(err, BP_ERR_INTERRUPTED, "stopped after step %d of %d of epoch %d",
                       g->pos, g->steps, g->epoch + 1);
    /* The steps are done (run_steps waited for them; a replayed recording
     * reported none): the epoch's last report, before its evaluation. */
    if (progress) progress(user, g->epoch + 1, g->steps, g->steps);
    size_t nm = (size_t)g->steps * net->metric_slots * net->R;
    if (be->ops->download(be, net->host_metrics, net->metrics, nm * sizeof(float)))
        return bp_backend_fail(be, err, "downloading training metrics");
    if (net->align_steps &&
        be->ops->download(be, net->host_align, net->align,
                          (size_t)net->align_steps * bp_align_floats(net) * sizeof(float)))
        return bp_backend_fail(be, err, "downloading the alignment measurements");
    if ((rc = evaluate_into(g, out, err))) return rc;
    g->epoch++;
    double samples = (double)g->steps * net->B, secs = now_seconds() - t0;
    for (int r = 0; r < net->R; r++) {
        double loss, errors, fb;
        epoch_sums(g, r, &loss, &errors, &fb);
        bp_epoch_metrics *m = &out[r];
        m->epoch = g->epoch;
        m->train_loss = loss / samples;
        m->train_error = errors / samples;
        m->feedback_loss = fb / samples;
        m->seconds = secs;
        if (!isfinite(m->train_loss) || !isfinite(m->feedback_loss) || !isfinite(m->test_loss))
            g->diverged[r] = 1;
        m->diverged = g->diverged[r];
        m->has_align = net->align_steps > 0;
        if (m->has_align) bp_align_epoch_mean(net, net->host_align, net->align_steps, r, &m->align);
    }
    return BP_OK;
}

int bp_group_align_points(const bp_group *g, int r, bp_align_point *out, int max)
{
    const bp_net *net = g->net;
    int n = net->align_steps < max ? net->align_steps : max;
    long long first = (long long)(g->epoch - 1) * g->steps;
    for (int m = 0; m < n; m++)
        bp_align_point_of(net, net->host_align + (size_t)m * bp_align_floats(net), r,
                          first + (long long)m * net->cfg.align_every, &out[m]);
    return n;
}

int bp_group_first_nonfinite_step(const bp_group *g, int r)
{
    const bp_net *net = g->net;
    for (int s = 0; s < g->steps; s++) {
        const float *m = net->host_metrics + (size_t)s * net->metric_slots * net->R;
        for (int k = 0; k < net->metric_slots; k++)
            if (!isfinite(m[(size_t)k * net->R + r])) return s;
    }
    return -1;
}

bp_status bp_group_replay_epoch(bp_group *g, int from_step, int to_step, bp_step_check_fn check,
                                void *user, int *stopped, bp_error *err)
{
    bp_net *net = g->net;
    bp_backend *be = g->be;
    *stopped = -1;
    bp_status rc = shuffle_epoch(g, err);
    if (rc) return rc;
    if (bp_optim_prepare(net, be, g->steps)) return bp_backend_fail(be, err, "replay");
    for (int s = 0; s < g->steps && s <= to_step; s++) {
        float *metrics = net->metrics + (size_t)s * net->metric_slots * net->R;
        if (be->ops->gather(be, net->R, net->B, net->n[0], g->train_x, g->train_y,
                            g->idx + (size_t)s * net->B, (size_t)g->n_train, net->H[0],
                            net->labels))
            return bp_backend_fail(be, err, "replay");
        rc = bp_train_step_checked(net, be, metrics, s >= from_step ? check : NULL, user);
        if (rc == BP_ERR_DIVERGED) {
            *stopped = s;
            return BP_OK;
        }
        if (rc || be->ops->sync(be)) return bp_backend_fail(be, err, "replay");
    }
    return BP_OK;
}
