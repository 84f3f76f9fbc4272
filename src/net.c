/* Network construction: tensor declaration, one-time allocation of every
 * buffer a group needs (never per step), and parameter initialisation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/net.h"
#include "biopp/rule.h"
#include "biopp/rng.h"

int bp_arena_add(bp_arena *a, const char *name, int rows, int cols, bp_init_kind init,
                 float bound)
{
    int i = a->ntensors++;
    bp_tensor *t = &a->t[i];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows;
    t->cols = cols;
    t->init = init;
    t->bound = bound;
    t->copy_of = -1;
    t->off = i == 0 ? 0 : a->t[i - 1].off + (size_t)a->t[i - 1].rows * a->t[i - 1].cols;
    return i;
}

/* Offsets were assigned for R = 1; scale them by R so each tensor holds its
 * R copies contiguously. */
static void arena_finalize(bp_arena *a, int R)
{
    size_t off = 0;
    for (int i = 0; i < a->ntensors; i++) {
        a->t[i].off = off;
        off += (size_t)R * a->t[i].rows * a->t[i].cols;
    }
    a->n = off;
}

static bp_status alloc_floats(bp_backend *be, float **p, size_t n, const char *what,
                              bp_error *err)
{
    *p = be->ops->alloc(be, (n ? n : 1) * sizeof(float));
    if (!*p)
        return bp_fail(err, BP_ERR_NOMEM, "allocating %s (%zu floats): %s", what, n,
                       be->err.msg);
    return BP_OK;
}

static bp_status arena_alloc(bp_arena *a, int R, bp_optimizer opt, double momentum,
                             bp_backend *be, bp_error *err)
{
    bp_status rc;
    arena_finalize(a, R);
    if ((rc = alloc_floats(be, &a->p, a->n, "parameters", err))) return rc;
    if (!a->trained) return BP_OK;
    if ((rc = alloc_floats(be, &a->g, a->n, "gradients", err))) return rc;
    if (opt == BP_OPT_ADAM || momentum != 0.0)
        if ((rc = alloc_floats(be, &a->m, a->n, "optimizer state", err))) return rc;
    if (opt == BP_OPT_ADAM)
        if ((rc = alloc_floats(be, &a->v, a->n, "optimizer state", err))) return rc;
    return BP_OK;
}

static void arena_release(bp_arena *a, bp_backend *be)
{
    float *bufs[] = {a->p, a->g, a->m, a->v};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) be->ops->release(be, bufs[i]);
    a->p = a->g = a->m = a->v = NULL;
}

/* Forward weights: W_l, b_l uniform in +-1/sqrt(n_{l-1}); the paper's code
 * starts DFA/BDFA (and FA, after copying W into B) from zero. */
static void declare_forward(bp_net *net)
{
    const bp_config *c = &net->cfg;
    int zero = c->init == BP_INIT_PAPER_CODE &&
               (c->rule == BP_RULE_DFA || c->rule == BP_RULE_BDFA || c->rule == BP_RULE_FA);
    for (int l = 1; l <= net->L + 1; l++) {
        char name[16];
        float bound = 1.0f / sqrtf((float)net->n[l - 1]);
        bp_init_kind k = zero ? BP_INIT_ZERO : BP_INIT_UNIFORM_BOUND;
        snprintf(name, sizeof name, "W%d", l);
        net->W[l] = bp_arena_add(&net->fwd, name, net->n[l], net->n[l - 1], k, bound);
        snprintf(name, sizeof name, "b%d", l);
        net->b[l] = bp_arena_add(&net->fwd, name, 1, net->n[l], k, bound);
    }
}

static bp_status alloc_activations(bp_net *net, bp_backend *be, bp_error *err)
{
    bp_status rc;
    size_t rows = (size_t)net->R * net->rows_cap;
    for (int l = 0; l <= net->L; l++)
        if ((rc = alloc_floats(be, &net->H[l], rows * net->n[l], "activations", err))) return rc;
    for (int l = 1; l <= net->L; l++)
        if ((rc = alloc_floats(be, &net->delta[l], rows * net->n[l], "deltas", err))) return rc;
    if ((rc = alloc_floats(be, &net->logits, rows * net->C, "logits", err)) ||
        (rc = alloc_floats(be, &net->yhat, rows * net->C, "outputs", err)) ||
        (rc = alloc_floats(be, &net->E, rows * net->C, "output errors", err)) ||
        (rc = alloc_floats(be, &net->T, rows * net->C, "targets", err)))
        return rc;
    net->labels = be->ops->alloc(be, rows * sizeof(int32_t));
    if (!net->labels) return bp_fail(err, BP_ERR_NOMEM, "allocating labels: %s", be->err.msg);
    net->seeds_dev = be->ops->alloc(be, (size_t)net->R * sizeof(uint64_t));
    if (!net->seeds_dev ||
        be->ops->upload(be, net->seeds_dev, net->seeds, (size_t)net->R * sizeof(uint64_t)))
        return bp_fail(err, BP_ERR_NOMEM, "allocating the runs' seeds: %s", be->err.msg);
    if ((rc = bp_net_reserve_steps(net, be, 1, err))) return rc;
    if (net->cfg.rule == BP_RULE_BFA)
        for (int l = 0; l <= net->L; l++)
            if ((rc = alloc_floats(be, &net->mirror[l], rows * net->n[l], "mirror activations",
                                   err)) ||
                (rc = alloc_floats(be, &net->eps[l], rows * net->n[l], "mirror errors", err)))
                return rc;
    if (net->cfg.rule == BP_RULE_WM) {
        int wmax = 0;
        for (int l = 1; l <= net->L + 1; l++) wmax = net->n[l] > wmax ? net->n[l] : wmax;
        if ((rc = alloc_floats(be, &net->noise, (size_t)net->R * net->B * wmax, "WM noise",
                               err)) ||
            (rc = alloc_floats(be, &net->noise_out, (size_t)net->R * net->B * wmax,
                               "WM noise responses", err)))
            return rc;
    }
    if (net->cfg.rule == BP_RULE_BDFA) {
        int wmax = 0;
        for (int l = 1; l <= net->L; l++) wmax = net->n[l] > wmax ? net->n[l] : wmax;
        if ((rc = alloc_floats(be, &net->P, rows * wmax, "BDFA predictions", err)) ||
            (rc = alloc_floats(be, &net->HS, rows * wmax, "BDFA scaled features", err)))
            return rc;
    }
    return BP_OK;
}

/* Fills one run's copy of every tensor of an arena on the host. The RNG
 * stream is (arena id, tensor index), so a tensor's values depend only on
 * the seed and its place in the model, not on R or the backend. A copy of
 * W_l^T (FA with the paper's init) regenerates W_l's stream into scratch. */
static void init_arena_run(const bp_arena *a, const bp_arena *fwd, uint64_t seed, int R,
                           float *host, float *scratch)
{
    for (int i = 0; i < a->ntensors; i++) {
        const bp_tensor *t = &a->t[i];
        size_t n = (size_t)t->rows * t->cols;
        float *dst = host + t->off / R; /* the host copy holds one run */
        if (t->init == BP_INIT_UNIFORM_BOUND) {
            bp_uniform_fill(seed, bp_param_stream(a->id, i), t->bound, dst, n);
        } else if (t->init == BP_INIT_COPY_T) {
            const bp_tensor *s = &fwd->t[t->copy_of];
            bp_uniform_fill(seed, bp_param_stream(fwd->id, t->copy_of), s->bound, scratch, n);
            bp_transpose(scratch, s->rows, s->cols, dst);
        } else {
            memset(dst, 0, n * sizeof(float));
        }
    }
}

static bp_status init_arena(bp_net *net, bp_arena *a, bp_backend *be, bp_error *err)
{
    if (a->ntensors == 0) return BP_OK;
    size_t per_run = a->n / net->R;
    float *host = malloc(2 * per_run * sizeof(float));
    if (!host) return bp_fail(err, BP_ERR_NOMEM, "init: %zu floats of host memory", 2 * per_run);
    bp_status rc = BP_OK;
    for (int r = 0; r < net->R && !rc; r++) {
        init_arena_run(a, &net->fwd, net->seeds[r], net->R, host, host + per_run);
        rc = bp_arena_upload_run(net, a, a->p, r, host, be, err);
    }
    free(host);
    return rc;
}

static void release_if(bp_backend *be, void *p)
{
    if (p) be->ops->release(be, p);
}

void bp_net_destroy(bp_net *net, bp_backend *be)
{
    if (!net) return;
    arena_release(&net->fwd, be);
    arena_release(&net->fb, be);
    arena_release(&net->fixed, be);
    for (int l = 0; l < BP_MAX_LAYERS; l++) {
        release_if(be, net->H[l]);
        release_if(be, net->delta[l]);
        release_if(be, net->mirror[l]);
        release_if(be, net->eps[l]);
        release_if(be, net->delta_bp[l]);
    }
    float *bufs[] = {net->logits,  net->yhat,  net->E,          net->T,
                     net->P,       net->HS,    net->metrics,    net->grad_bp,
                     net->align,   net->noise, net->noise_out,  (float *)net->hyper,
                     (float *)net->seeds_dev,  (float *)net->step_ts};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) release_if(be, bufs[i]);
    release_if(be, net->labels);
    free(net->host_metrics);
    free(net->host_align);
    free(net->host_hyper);
    free(net->host_step_ts);
    free(net);
}

bp_status bp_net_reserve_steps(bp_net *net, bp_backend *be, int steps, bp_error *err)
{
    if (steps <= net->hyper_cap) return BP_OK;
    bp_adam_hyper *dev = be->ops->alloc(be, (size_t)steps * 2 * sizeof *dev);
    bp_adam_hyper *host = calloc((size_t)steps * 2, sizeof *host);
    uint64_t *ts = be->ops->alloc(be, (size_t)steps * sizeof *ts);
    uint64_t *host_ts = calloc((size_t)steps, sizeof *host_ts);
    if (!dev || !host || !ts || !host_ts) {
        if (dev) be->ops->release(be, dev);
        if (ts) be->ops->release(be, ts);
        free(host);
        free(host_ts);
        return bp_fail(err, BP_ERR_NOMEM, "allocating optimizer factors for %d steps", steps);
    }
    if (net->hyper) be->ops->release(be, net->hyper);
    if (net->step_ts) be->ops->release(be, net->step_ts);
    free(net->host_hyper);
    free(net->host_step_ts);
    net->hyper = dev;
    net->host_hyper = host;
    net->step_ts = ts;
    net->host_step_ts = host_ts;
    net->hyper_cap = steps;
    net->hyper_count = 0;
    return BP_OK;
}

/* Everything of a net but its buffers: sizes, the rule, every tensor. */
static void declare_all(bp_net *net, const bp_config *cfg, const uint64_t *seeds, int R,
                        int n_input, int classes)
{
    net->cfg = *cfg;
    net->R = R;
    memcpy(net->seeds, seeds, (size_t)R * sizeof *seeds);
    net->L = cfg->n_hidden;
    net->n[0] = n_input;
    for (int l = 1; l <= net->L; l++) net->n[l] = cfg->hidden[l - 1];
    net->C = net->n[net->L + 1] = classes;
    net->B = cfg->batch;
    net->rows_cap = cfg->batch > cfg->eval_batch ? cfg->batch : cfg->eval_batch;
    net->rule = bp_rule_get(cfg->rule);
    net->fwd.id = 0;
    net->fwd.trained = 1;
    net->fb.id = 1;
    net->fb.trained = 1;
    net->fixed.id = 2;
    net->metric_slots = 2;

    declare_forward(net);
    net->rule->declare(net);
}

bp_net *bp_net_plan(const bp_config *cfg, int R, int n_input, int classes)
{
    if (R < 1 || R > BP_MAX_SEEDS) return NULL;
    bp_net *net = calloc(1, sizeof *net);
    uint64_t seeds[BP_MAX_SEEDS] = {0};
    if (!net) return NULL;
    declare_all(net, cfg, seeds, R, n_input, classes);
    arena_finalize(&net->fwd, R);
    arena_finalize(&net->fb, R);
    arena_finalize(&net->fixed, R);
    return net;
}

bp_status bp_net_create(const bp_config *cfg, const uint64_t *seeds, int R, int n_input,
                        int classes, bp_backend *be, bp_net **out, bp_error *err)
{
    *out = NULL;
    if (R < 1 || R > BP_MAX_SEEDS)
        return bp_fail(err, BP_ERR_ARG, "group of %d runs: must be 1..%d", R, BP_MAX_SEEDS);
    bp_net *net = calloc(1, sizeof *net);
    if (!net) return bp_fail(err, BP_ERR_NOMEM, "out of host memory creating the network");
    declare_all(net, cfg, seeds, R, n_input, classes);

    bp_status rc;
    if ((rc = arena_alloc(&net->fwd, R, cfg->optimizer, cfg->momentum, be, err)) ||
        (rc = arena_alloc(&net->fb, R, cfg->optimizer, cfg->momentum, be, err)) ||
        (rc = arena_alloc(&net->fixed, R, cfg->optimizer, 0.0, be, err)) ||
        (rc = alloc_activations(net, be, err)) ||
        (rc = init_arena(net, &net->fwd, be, err)) ||
        (rc = init_arena(net, &net->fb, be, err)) ||
        (rc = init_arena(net, &net->fixed, be, err))) {
        bp_net_destroy(net, be);
        return rc;
    }
    *out = net;
    return BP_OK;
}

/* Moves one run's copy of each tensor between a packed host array (one
 * run) and the R-run arena layout. */
static bp_status arena_move_run(const bp_net *net, const bp_arena *a, float *dev, const float *cdev,
                                int r, float *host_dst, const float *host_src, bp_backend *be,
                                bp_error *err)
{
    for (int i = 0; i < a->ntensors; i++) {
        const bp_tensor *t = &a->t[i];
        size_t n = (size_t)t->rows * t->cols;
        size_t dev_off = t->off + (size_t)r * n, host_off = t->off / net->R;
        bp_status rc = host_dst ? be->ops->download(be, host_dst + host_off, cdev + dev_off,
                                                    n * sizeof(float))
                                : be->ops->upload(be, dev + dev_off, host_src + host_off,
                                                  n * sizeof(float));
        if (rc) return bp_backend_fail(be, err, t->name);
    }
    return BP_OK;
}

bp_status bp_arena_download_run(const bp_net *net, const bp_arena *a, const float *src, int r,
                                float *host, bp_backend *be, bp_error *err)
{
    return arena_move_run(net, a, NULL, src, r, host, NULL, be, err);
}

bp_status bp_arena_upload_run(const bp_net *net, const bp_arena *a, float *dst, int r,
                              const float *host, bp_backend *be, bp_error *err)
{
    return arena_move_run(net, a, dst, NULL, r, NULL, host, be, err);
}
