/* Optimizer steps over whole arenas: one fused call updates every
 * parameter of a group (all layers, all runs), instead of one call per
 * tensor. Adam's t is the group's step count (runs move in lockstep). */
#include <math.h>

#include "biopp/step.h"

bp_status bp_optim_step(bp_net *net, bp_backend *be, bp_arena *a, double lr)
{
    if (a->n == 0) return BP_OK;
    const bp_config *c = &net->cfg;
    if (c->optimizer == BP_OPT_SGD)
        return be->ops->sgd_step(be, a->n, a->p, a->g, a->m, (float)lr, (float)c->momentum);
    double t = (double)net->step;
    bp_adam_hyper hp = {
        .beta1 = (float)c->beta1,
        .beta2 = (float)c->beta2,
        .eps = (float)c->adam_eps,
        .step_size = (float)(lr / (1.0 - pow(c->beta1, t))),
        .sqrt_bias_corr2 = (float)sqrt(1.0 - pow(c->beta2, t)),
    };
    return be->ops->adam_step(be, a->n, a->p, a->g, a->m, a->v, &hp);
}
