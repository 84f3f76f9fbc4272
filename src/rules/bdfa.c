/* Bidirectional direct feedback alignment (BDFA). Forward phase: DFA
 * through the trained U_l (n_l x C). Backward phase, per hidden layer, on
 * this batch's h_l (before the forward update):
 *   p_l = U_l t,  s_l = p_l . h_l,  loss_l = 1 - sigma(s_l)   (eq. 31)
 *   dloss_l/dU_l = -sigma(s_l)(1 - sigma(s_l)) h_l t^T        (exact gradient)
 * with t = y + alpha * yhat (or the paper code's target, see METHODS.md). */
#include <math.h>
#include <stdio.h>

#include "biopp/ops.h"
#include "biopp/rule.h"

static void bdfa_declare(bp_net *net)
{
    for (int l = 1; l <= net->L; l++) {
        char name[16];
        snprintf(name, sizeof name, "U%d", l);
        net->U[l] = bp_arena_add(&net->fb, name, net->n[l], net->C, BP_INIT_UNIFORM_BOUND,
                                 1.0f / sqrtf((float)net->n[l]));
        net->fbm[l] = net->U[l];
    }
    net->fbm_arena = &net->fb;
    net->fbm_trans = 1;
    net->metric_slots = 2 + net->L; /* + one alignment loss per layer */
}

/* t = y + alpha * yhat (mix) or alpha * logits with the true class at 1. */
static bp_status bdfa_target(bp_net *net, bp_backend *be, int rows)
{
    const bp_config *c = &net->cfg;
    const float *src = c->bdfa_target == BP_TARGET_PAPER_CODE ? net->logits : net->yhat;
    return be->ops->make_target(be, net->R, rows, net->C, c->bdfa_target, (float)c->alpha,
                                net->labels, src, net->T);
}

static bp_status bdfa_backward_phase(bp_net *net, bp_backend *be, int rows, float *metrics,
                                     float scale)
{
    int R = net->R;
    BP_TRY(bdfa_target(net, be, rows));
    for (int l = 1; l <= net->L; l++) {
        int n = net->n[l];
        BP_TRY(gemm_nt(be, R, rows, n, net->C, 1.0f, net->T, bp_param(&net->fb, net->U[l]),
                       net->P));
        BP_TRY(be->ops->bdfa_align(be, R, rows, n, net->cfg.bdfa_loss, net->P, net->H[l],
                                   net->HS, metrics + (size_t)(1 + l) * R));
        BP_TRY(gemm_tn(be, R, n, net->C, rows, scale, net->HS, net->T,
                       bp_grad(&net->fb, net->U[l])));
    }
    return BP_OK;
}

const bp_rule bp_rule_bdfa = {
    .id = BP_RULE_BDFA,
    .name = "bdfa",
    .direct = 1,
    .declare = bdfa_declare,
    .backward_phase = bdfa_backward_phase,
};
