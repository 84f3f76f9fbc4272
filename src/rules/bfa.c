/* Bidirectional feedback alignment (BFA). Forward phase: FA through the
 * trained V_{l+1}. Backward phase: the mirror network maps the label back
 * to the input,
 *   r_L = f(V_{L+1} y + c_L),  r_l = f(V_{l+1} r_{l+1} + c_l),
 *   xhat = sigma_x(V_1 r_1 + c_0),  loss = 1/2 ||xhat - x||^2,
 * and its errors travel through the (just updated) forward weights,
 *   eps_0 = xhat - x,  eps_l = (W_l eps_{l-1}) (.) f'(g_l),
 *   dV_1 = eps_0 r_1^T,  dV_l = eps_{l-1} r_l^T,  dV_{L+1} = eps_L y^T,
 *   dc_l = eps_l   (each averaged or summed over the batch). */
#include <math.h>
#include <stdio.h>

#include "biopp/ops.h"
#include "biopp/rule.h"

static void bfa_declare(bp_net *net)
{
    for (int l = 1; l <= net->L + 1; l++) {
        char name[16];
        snprintf(name, sizeof name, "V%d", l);
        net->V[l] = bp_arena_add(&net->fb, name, net->n[l - 1], net->n[l], BP_INIT_UNIFORM_BOUND,
                                 1.0f / sqrtf((float)net->n[l]));
        snprintf(name, sizeof name, "c%d", l - 1);
        net->c[l - 1] = bp_arena_add(&net->fb, name, 1, net->n[l - 1], BP_INIT_UNIFORM_BOUND,
                                     1.0f / sqrtf((float)net->n[l]));
    }
    for (int l = 1; l <= net->L; l++) net->fbm[l] = net->V[l + 1];
    net->fbm_arena = &net->fb;
    net->fbm_trans = 1;
    net->metric_slots = 3; /* + reconstruction loss */
}

/* r_L .. r_1 and g_0 of the mirror network, from the one-hot label T. */
bp_status bp_bfa_mirror_forward(bp_net *net, bp_backend *be, int rows)
{
    const bp_arena *fb = &net->fb;
    int R = net->R, L = net->L;
    const float *in = net->T;
    int in_width = net->C;
    for (int l = L; l >= 0; l--) {
        bp_act act = l == 0 ? BP_ACT_IDENTITY : net->cfg.activation;
        BP_TRY(gemm_nt(be, R, rows, net->n[l], in_width, 1.0f, in, bp_param(fb, net->V[l + 1]),
                       net->mirror[l]));
        BP_TRY(be->ops->bias_act(be, R, rows, net->n[l], act, net->mirror[l],
                                 bp_param(fb, net->c[l]), net->mirror[l]));
        in = net->mirror[l];
        in_width = net->n[l];
    }
    return BP_OK;
}

/* eps_l = (eps_{l-1} W_l^T) (.) f'(g_l), l = 1..L, through the forward weights. */
static bp_status mirror_errors(bp_net *net, bp_backend *be, int rows)
{
    for (int l = 1; l <= net->L; l++) {
        BP_TRY(gemm_nt(be, net->R, rows, net->n[l], net->n[l - 1], 1.0f, net->eps[l - 1],
                       bp_param(&net->fwd, net->W[l]), net->eps[l]));
        BP_TRY(be->ops->act_grad_mul(be, net->R, rows, net->n[l], net->cfg.activation,
                                     net->mirror[l], net->eps[l]));
    }
    return BP_OK;
}

/* dV_l = eps_{l-1}^T r_l (r_{L+1} = y), dc_l = sum_b eps_l, scaled. */
static bp_status mirror_grads(bp_net *net, bp_backend *be, int rows, float scale)
{
    const bp_arena *fb = &net->fb;
    for (int l = 1; l <= net->L + 1; l++) {
        const float *r = l == net->L + 1 ? net->T : net->mirror[l];
        BP_TRY(gemm_tn(be, net->R, net->n[l - 1], net->n[l], rows, scale, net->eps[l - 1], r,
                       bp_grad(fb, net->V[l])));
        BP_TRY(be->ops->col_sum(be, net->R, rows, net->n[l - 1], scale, net->eps[l - 1],
                                bp_grad(fb, net->c[l - 1])));
    }
    return BP_OK;
}

static bp_status bfa_backward_phase(bp_net *net, bp_backend *be, int rows, float *metrics,
                                    float scale)
{
    int R = net->R;
    BP_TRY(be->ops->make_target(be, R, rows, net->C, BP_TARGET_MIX, 0.0f, net->labels, NULL,
                                net->T));
    BP_TRY(bp_bfa_mirror_forward(net, be, rows));
    BP_TRY(be->ops->recon_error(be, R, rows, net->n[0], net->cfg.recon, net->mirror[0], net->H[0],
                                net->eps[0], metrics + 2 * R));
    BP_TRY(mirror_errors(net, be, rows));
    return mirror_grads(net, be, rows, scale);
}

const bp_rule bp_rule_bfa = {
    .id = BP_RULE_BFA,
    .name = "bfa",
    .direct = 0,
    .declare = bfa_declare,
    .backward_phase = bfa_backward_phase,
};
