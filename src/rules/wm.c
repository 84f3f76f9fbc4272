/* Weight mirrors (Akrout et al. 2019): FA whose B_l (n_{l-1} x n_l, random
 * at init like FA's) learns in a mirror phase after each forward update,
 * from noise alone. Per layer l = 2..L+1, on a batch of `rows` noise
 * vectors xi ~ N(0, wm_noise^2) of width n_{l-1}:
 *   y  = W_l xi                       (the layer's linear response)
 *   B_l <- (1 - wm_decay) B_l + wm_lr * mean_b( xi y^T )
 * E[xi y^T] = wm_noise^2 W_l^T, so B_l settles at
 * (wm_lr wm_noise^2 / wm_decay) W_l^T (W_l^T itself with the defaults).
 * The noise is drawn every step from the run's seed and the step number
 * (fill_random, stream bp_draw_stream(2, l)). */
#include <math.h>
#include <stdio.h>

#include "biopp/ops.h"
#include "biopp/rule.h"

static void wm_declare(bp_net *net)
{
    for (int l = 2; l <= net->L + 1; l++) {
        char name[16];
        snprintf(name, sizeof name, "B%d", l);
        net->Bfix[l] = bp_arena_add(&net->fixed, name, net->n[l - 1], net->n[l],
                                    BP_INIT_UNIFORM_BOUND, 1.0f / sqrtf((float)net->n[l]));
        net->fbm[l - 1] = net->Bfix[l];
    }
    net->fbm_arena = &net->fixed;
    net->fbm_trans = 1;
}

static bp_status wm_backward_phase(bp_net *net, bp_backend *be, int rows, float *metrics,
                                   float scale)
{
    const bp_config *c = &net->cfg;
    int R = net->R;
    for (int l = 2; l <= net->L + 1; l++) {
        int in = net->n[l - 1], out = net->n[l];
        BP_TRY(be->ops->fill_random(be, R, (size_t)rows * in, BP_DIST_NORMAL, 0.0f,
                                    (float)c->wm_noise, net->seeds_dev, bp_draw_stream(2, l),
                                    net->step_t, net->noise));
        /* y = xi W_l^T, rows x n_l; then B_l = (1 - decay) B_l + lr/rows xi^T y. */
        BP_TRY(be->ops->gemm(be, R, BP_NO_TRANS, BP_TRANS, rows, out, in, 1.0f, net->noise, 0,
                             bp_param(&net->fwd, net->W[l]), 0.0f, net->noise_out));
        BP_TRY(be->ops->gemm(be, R, BP_TRANS, BP_NO_TRANS, in, out, rows,
                             (float)(c->wm_lr / rows), net->noise, 0, net->noise_out,
                             (float)(1.0 - c->wm_decay), bp_param(&net->fixed, net->Bfix[l])));
    }
    return BP_OK;
}

const bp_rule bp_rule_wm = {
    .id = BP_RULE_WM,
    .name = "wm",
    .direct = 0,
    .declare = wm_declare,
    .backward_phase = wm_backward_phase,
};
