/* The forward pass, shared by all rules:
 *   h_0 = x,  h_l = f(W_l h_{l-1} + b_l),  logits = W_{L+1} h_L + b_{L+1}. */
#include "biopp/ops.h"
#include "biopp/step.h"

bp_status bp_forward(bp_net *net, bp_backend *be, int rows)
{
    const bp_arena *a = &net->fwd;
    int R = net->R;
    for (int l = 1; l <= net->L; l++) {
        BP_TRY(gemm_nt(be, R, rows, net->n[l], net->n[l - 1], 1.0f, net->H[l - 1],
                       bp_param(a, net->W[l]), net->H[l]));
        BP_TRY(be->ops->bias_act(be, R, rows, net->n[l], net->cfg.activation, net->H[l],
                                 bp_param(a, net->b[l]), net->H[l]));
    }
    int out = net->L + 1;
    BP_TRY(gemm_nt(be, R, rows, net->C, net->n[net->L], 1.0f, net->H[net->L],
                   bp_param(a, net->W[out]), net->logits));
    return be->ops->bias_act(be, R, rows, net->C, BP_ACT_IDENTITY, net->logits,
                             bp_param(a, net->b[out]), net->logits);
}
