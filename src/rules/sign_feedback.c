/* The sign-symmetry family's shared parts (usf, brsf, frsf; docs/RULES.md):
 * the feedback of layer l is B_l = s_l (.) sign(W_l^T), recomputed from the
 * current W_l every step before the forward learning phase, with
 *   usf:  s_l = 1/sqrt(n_l)  (the scale of the project's random B_l),
 *   frsf: s_l = |R_l|, R_l uniform in +-1/sqrt(n_l), drawn once at init,
 *   brsf: s_l = |R_l|, R_l uniform in [0, 1/sqrt(n_l)), redrawn every step
 *         from the run's seed (fill_random, stream bp_draw_stream(1, l)). */
#include <math.h>
#include <stdio.h>

#include "biopp/ops.h"
#include "biopp/rule.h"

void bp_sign_declare(bp_net *net, int with_mag, int fixed_mag)
{
    for (int l = 2; l <= net->L + 1; l++) {
        char name[16];
        snprintf(name, sizeof name, "B%d", l);
        /* B_l is a function of W_l (and R_l): recomputed, never initialised. */
        net->Bfix[l] = bp_arena_add(&net->fixed, name, net->n[l - 1], net->n[l], BP_INIT_ZERO,
                                    0.0f);
        net->fbm[l - 1] = net->Bfix[l];
        if (with_mag) {
            snprintf(name, sizeof name, "R%d", l);
            net->Mag[l] = bp_arena_add(&net->fixed, name, net->n[l - 1], net->n[l],
                                       fixed_mag ? BP_INIT_UNIFORM_BOUND : BP_INIT_ZERO,
                                       1.0f / sqrtf((float)net->n[l]));
        }
    }
    net->fbm_arena = &net->fixed;
    net->fbm_trans = 1;
}

bp_status bp_sign_feedback(bp_net *net, bp_backend *be, int draw_mag)
{
    const bp_arena *fx = &net->fixed;
    int with_mag = net->rule->id != BP_RULE_USF;
    for (int l = 2; l <= net->L + 1; l++) {
        size_t n = (size_t)net->n[l - 1] * net->n[l];
        float bound = 1.0f / sqrtf((float)net->n[l]);
        float *mag = with_mag ? bp_param(fx, net->Mag[l]) : NULL;
        if (draw_mag)
            BP_TRY(be->ops->fill_random(be, net->R, n, BP_DIST_UNIFORM, 0.0f, bound,
                                        net->seeds_dev, bp_draw_stream(1, l), net->step_t,
                                        mag));
        BP_TRY(be->ops->tmap(be, net->R, net->n[l], net->n[l - 1], BP_TMAP_SIGN,
                             with_mag ? 1.0f : bound, bp_param(&net->fwd, net->W[l]), mag,
                             bp_param(fx, net->Bfix[l])));
    }
    return BP_OK;
}
