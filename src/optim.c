/* Optimizer steps over whole arenas: one fused call updates every
 * parameter of a group (all layers, all runs), instead of one call per
 * tensor. Adam's t is the group's step count (runs move in lockstep); its
 * per-step factors are computed on the host ahead of time and read by the
 * backend from its own memory, so a recorded epoch (CUDA graph) stays
 * correct when replayed. */
#include <math.h>

#include "biopp/ops.h"
#include "biopp/step.h"

static bp_adam_hyper adam_hyper(const bp_config *c, double lr, long long t)
{
    bp_adam_hyper hp = {
        .beta1 = (float)c->beta1,
        .beta2 = (float)c->beta2,
        .eps = (float)c->adam_eps,
        .step_size = (float)(lr / (1.0 - pow(c->beta1, (double)t))),
        .sqrt_bias_corr2 = (float)sqrt(1.0 - pow(c->beta2, (double)t)),
    };
    return hp;
}

bp_status bp_optim_prepare(bp_net *net, bp_backend *be, int steps)
{
    const bp_config *c = &net->cfg;
    if (steps > net->hyper_cap)
        return bp_fail(&be->err, BP_ERR_ARG, "optimizer: %d steps prepared, room for %d", steps,
                       net->hyper_cap);
    for (int k = 0; k < steps; k++) net->host_step_ts[k] = (uint64_t)(net->step + 1 + k);
    net->hyper_base = net->step;
    net->hyper_count = steps;
    /* The step numbers the per-step draws read (fill_random). */
    BP_TRY(be->ops->upload(be, net->step_ts, net->host_step_ts, (size_t)steps * sizeof(uint64_t)));
    if (c->optimizer != BP_OPT_ADAM) return BP_OK;
    for (int k = 0; k < steps; k++) {
        long long t = net->step + 1 + k;
        net->host_hyper[2 * k] = adam_hyper(c, c->lr, t);
        net->host_hyper[2 * k + 1] = adam_hyper(c, bp_config_feedback_lr(c), t);
    }
    return be->ops->upload(be, net->hyper, net->host_hyper,
                           (size_t)steps * 2 * sizeof(bp_adam_hyper));
}

bp_status bp_optim_step(bp_net *net, bp_backend *be, bp_arena *a, int feedback)
{
    if (a->n == 0) return BP_OK;
    const bp_config *c = &net->cfg;
    if (c->optimizer == BP_OPT_SGD) {
        double lr = feedback ? bp_config_feedback_lr(c) : c->lr;
        return be->ops->sgd_step(be, a->n, a->p, a->g, a->m, (float)lr, (float)c->momentum);
    }
    long long k = net->step - 1 - net->hyper_base;
    if (k < 0 || k >= net->hyper_count)
        return bp_fail(&be->err, BP_ERR_ARG, "optimizer: step %lld was not prepared", net->step);
    return be->ops->adam_step(be, a->n, a->p, a->g, a->m, a->v, net->hyper + 2 * k + feedback);
}
