/* See include/biopp/nonfinite.h. */
#include "biopp/nonfinite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/rule.h"
#include "biopp/runner.h"

typedef struct {
    bp_net *net;
    bp_backend *be;
    float *host;
    size_t cap;
    int found;
    char what[200]; /* "forward pass: H2 (hidden activations, layer 2) holds Inf at index 17" */
} checker;

static const char *phase_name(bp_step_phase p)
{
    static const char *names[] = {"forward pass", "forward learning phase",
                                  "update of W and b", "backward learning phase",
                                  "update of the feedback weights"};
    return names[p];
}

/* Checks n floats of backend memory; on the first non-finite one records
 * what it is and returns 1. */
static int scan(checker *c, bp_step_phase phase, const float *dev, size_t n, const char *name,
                const char *kind, int layer)
{
    if (c->found || !dev || !n) return c->found;
    if (n > c->cap) {
        float *h = realloc(c->host, n * sizeof *h);
        if (!h) return 0; /* cannot check: let the replay go on */
        c->host = h;
        c->cap = n;
    }
    if (c->be->ops->download(c->be, c->host, dev, n * sizeof(float))) return 0;
    for (size_t i = 0; i < n; i++) {
        float v = c->host[i];
        if (isfinite(v)) continue;
        char lay[24] = "";
        if (layer >= 0) snprintf(lay, sizeof lay, ", layer %d", layer);
        snprintf(c->what, sizeof c->what, "%s: %s (%s%s) holds %s at index %zu",
                 phase_name(phase), name, kind, lay, isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf",
                 i);
        c->found = 1;
        return 1;
    }
    return 0;
}

/* Every tensor of an arena's array (p, g, m or v); layer from the name's digits. */
static int scan_arena(checker *c, bp_step_phase phase, const bp_arena *a, const float *base,
                      const char *kind, const char *prefix)
{
    for (int i = 0; base && i < a->ntensors && !c->found; i++) {
        const bp_tensor *t = &a->t[i];
        char name[40];
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        scan(c, phase, base + t->off, (size_t)t->rows * t->cols, name, kind,
             atoi(t->name + strcspn(t->name, "0123456789")));
    }
    return c->found;
}

static int check_phase(void *user, bp_step_phase phase, const float *metrics)
{
    checker *c = user;
    bp_net *net = c->net;
    size_t rows = (size_t)net->B;
    int L = net->L;
    char name[16];
    switch (phase) {
    case BP_PHASE_FORWARD:
        for (int l = 1; l <= L; l++) {
            snprintf(name, sizeof name, "H%d", l);
            scan(c, phase, net->H[l], rows * net->n[l], name, "hidden activations", l);
        }
        scan(c, phase, net->logits, rows * net->C, "logits", "output pre-activations", L + 1);
        scan(c, phase, net->yhat, rows * net->C, "yhat", "outputs", L + 1);
        break;
    case BP_PHASE_FORWARD_LEARNING:
        scan(c, phase, metrics, 1, "loss", "output loss of the batch", L + 1); /* slot 0, R = 1 */
        scan(c, phase, net->E, rows * net->C, "e", "output error", L + 1);
        for (int l = L; l >= 1; l--) {
            snprintf(name, sizeof name, "delta%d", l);
            scan(c, phase, net->delta[l], rows * net->n[l], name, "hidden error signal", l);
        }
        scan_arena(c, phase, &net->fwd, net->fwd.g, "gradient", "grad ");
        break;
    case BP_PHASE_FORWARD_UPDATE:
        scan_arena(c, phase, &net->fwd, net->fwd.p, "forward weights", "");
        scan_arena(c, phase, &net->fwd, net->fwd.m, "optimizer state m", "m of ");
        scan_arena(c, phase, &net->fwd, net->fwd.v, "optimizer state v", "v of ");
        break;
    case BP_PHASE_BACKWARD_LEARNING:
        for (int l = 0; l <= L; l++) {
            snprintf(name, sizeof name, "r%d", l);
            scan(c, phase, net->mirror[l], rows * net->n[l], name, "mirror activations", l);
            snprintf(name, sizeof name, "eps%d", l);
            scan(c, phase, net->eps[l], rows * net->n[l], name, "mirror error", l);
        }
        if (net->metric_slots > 2)
            scan(c, phase, metrics + 2, (size_t)net->metric_slots - 2, "feedback loss",
                 "feedback loss of the batch", -1);
        scan_arena(c, phase, &net->fb, net->fb.g, "feedback gradient", "grad ");
        break;
    case BP_PHASE_BACKWARD_UPDATE:
        scan_arena(c, phase, &net->fb, net->fb.p, "feedback weights", "");
        scan_arena(c, phase, &net->fb, net->fb.m, "optimizer state m", "m of ");
        scan_arena(c, phase, &net->fb, net->fb.v, "optimizer state v", "v of ");
        break;
    }
    return c->found;
}

/* The parameters before the replayed epoch: normally all finite. */
static int check_start(checker *c)
{
    const bp_arena *arenas[3] = {&c->net->fwd, &c->net->fb, &c->net->fixed};
    for (int i = 0; i < 3 && !c->found; i++)
        scan_arena(c, BP_PHASE_FORWARD_UPDATE, arenas[i], arenas[i]->p, "weights", "");
    return c->found;
}

/* The run's checkpoint to replay from: the latest of an epoch before the
 * diverging one; 0 when none (replay from the initialisation). */
static int replay_start(const char *checkpoint, int epoch)
{
    int e = 0;
    bp_error ignore;
    if (!checkpoint || bp_checkpoint_peek_epoch(checkpoint, &e, &ignore) || e >= epoch) return 0;
    return e;
}

bp_status bp_locate_nonfinite(const bp_config *cfg, uint64_t seed, const bp_dataset *ds,
                              bp_backend *be, const char *checkpoint, int epoch, int bad_step,
                              char *where, size_t n, bp_error *err)
{
    bp_config one = *cfg;
    one.seed = seed;
    bp_group *g = NULL;
    bp_status rc = bp_group_create(&one, &seed, 1, ds, be, &g, err);
    if (rc) return rc;
    int steps = bp_group_steps_per_epoch(g);
    long long global = bad_step >= 0 ? (long long)(epoch - 1) * steps + bad_step + 1 : -1;
    char at[96];
    if (bad_step >= 0)
        snprintf(at, sizeof at, "step %lld (epoch %d, batch %d of %d)", global, epoch,
                 bad_step + 1, steps);
    else
        snprintf(at, sizeof at, "epoch %d", epoch);
    int start = replay_start(checkpoint, epoch);
    checker c = {.net = bp_group_net(g), .be = be};
    if (bad_step < 0) {
        snprintf(where, n, "%s: the training losses stayed finite; the evaluation loss is NaN/Inf",
                 at);
    } else if (epoch - 1 - start > BP_NONFINITE_MAX_REPLAY_EPOCHS) {
        snprintf(where, n,
                 "%s: the loss is NaN/Inf (not traced to a tensor: the last checkpoint is at "
                 "epoch %d; checkpoint_every = 1 lets biopp trace it)",
                 at, start);
    } else {
        if (start) rc = bp_checkpoint_load(g, 0, checkpoint, err);
        bp_epoch_metrics m;
        for (int e = start; !rc && e < epoch - 1; e++) rc = bp_group_train_epoch(g, NULL, NULL, &m, err);
        int stopped = -1;
        if (!rc && check_start(&c)) {
            snprintf(where, n, "%s: before the epoch, %s", at, c.what + strlen("update of W and b: "));
        } else if (!rc) {
            rc = bp_group_replay_epoch(g, bad_step > 0 ? bad_step - 1 : 0, bad_step, check_phase, &c,
                                       &stopped, err);
            if (!rc && stopped >= 0)
                snprintf(where, n, "step %lld (epoch %d, batch %d of %d), %s",
                         (long long)(epoch - 1) * steps + stopped + 1, epoch, stopped + 1, steps,
                         c.what);
            else if (!rc)
                snprintf(where, n, "%s: the loss is NaN/Inf, but every tensor stayed finite in a "
                         "replay", at);
        }
    }
    free(c.host);
    bp_group_destroy(g);
    return rc;
}
