/* Kolen-Pollack (Kolen & Pollack 1994, as in Akrout et al. 2019): FA whose
 * B_l (n_{l-1} x n_l, random at init like FA's) is trained with the
 * transpose of W_l's own update, and both decay by the same factor:
 *   W_l(t+1) = (1 - lambda) W_l(t) + dW_l(t),
 *   B_l(t+1) = (1 - lambda) B_l(t) + dW_l(t)^T,      lambda = kp_decay,
 * so B_l - W_l^T shrinks by (1 - lambda) every step. dW_l^T is produced by
 * giving B_l the gradient dW_l^T and the same optimizer (separate state,
 * same factors when feedback_lr = same), which makes the update exactly
 * the transpose of W_l's under SGD, momentum and Adam. The decay is applied
 * to W_l(t), B_l(t) before the updates (Akrout et al.'s eqs. 16-17). */
#include <math.h>
#include <stdio.h>

#include "biopp/ops.h"
#include "biopp/rule.h"

static void kp_declare(bp_net *net)
{
    for (int l = 2; l <= net->L + 1; l++) {
        char name[16];
        snprintf(name, sizeof name, "B%d", l);
        net->Bfix[l] = bp_arena_add(&net->fb, name, net->n[l - 1], net->n[l],
                                    BP_INIT_UNIFORM_BOUND, 1.0f / sqrtf((float)net->n[l]));
        net->fbm[l - 1] = net->Bfix[l];
    }
    net->fbm_arena = &net->fb;
    net->fbm_trans = 1;
}

/* p <- p - lambda p: an SGD step of rate lambda on 1/2 ||p||^2 (the
 * parameter is its own gradient), identical for W_l and B_l. */
static bp_status decay(bp_backend *be, size_t n, float *p, float lambda)
{
    return be->ops->sgd_step(be, n, p, p, NULL, lambda, 0.0f);
}

static bp_status kp_before_update(bp_net *net, bp_backend *be)
{
    float lambda = (float)net->cfg.kp_decay;
    if (lambda == 0.0f) return BP_OK;
    for (int l = 2; l <= net->L + 1; l++) {
        size_t n = (size_t)net->R * net->n[l] * net->n[l - 1];
        BP_TRY(decay(be, n, bp_param(&net->fwd, net->W[l]), lambda));
        BP_TRY(decay(be, n, bp_param(&net->fb, net->Bfix[l]), lambda));
    }
    return BP_OK;
}

/* The gradient of B_l is W_l's, transposed (the forward phase left it in
 * net->fwd.g). */
static bp_status kp_backward_phase(bp_net *net, bp_backend *be, int rows, float *metrics,
                                   float scale)
{
    for (int l = 2; l <= net->L + 1; l++)
        BP_TRY(be->ops->tmap(be, net->R, net->n[l], net->n[l - 1], BP_TMAP_COPY, 1.0f,
                             bp_grad(&net->fwd, net->W[l]), NULL,
                             bp_grad(&net->fb, net->Bfix[l])));
    return BP_OK;
}

const bp_rule bp_rule_kp = {
    .id = BP_RULE_KP,
    .name = "kp",
    .direct = 0,
    .declare = kp_declare,
    .before_update = kp_before_update,
    .backward_phase = kp_backward_phase,
};
