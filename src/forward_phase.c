/* The forward learning phase, written once for all five rules:
 *   delta_{L+1} = e = yhat - y
 *   delta_l = (M_l s_l) (.) f'(a_l), with s_l = e (direct rules, or l = L)
 *             or delta_{l+1}, and M_l the rule's feedback matrix
 *   dW_l = scale * delta_l^T h_{l-1},  db_l = scale * sum_b delta_l
 * The rule only chooses M_l (net->fbm) and whether it is direct. */
#include "biopp/ops.h"
#include "biopp/rule.h"
#include "biopp/step.h"

float bp_grad_scale(const bp_net *net, int rows)
{
    return net->cfg.grad_reduce == BP_REDUCE_SUM ? 1.0f : 1.0f / (float)rows;
}

static bp_status layer_grads(bp_net *net, bp_backend *be, int l, int rows, const float *delta,
                             float scale)
{
    const bp_arena *a = &net->fwd;
    BP_TRY(gemm_tn(be, net->R, net->n[l], net->n[l - 1], rows, scale, delta, net->H[l - 1],
                   bp_grad(a, net->W[l])));
    return be->ops->col_sum(be, net->R, rows, net->n[l], scale, delta, bp_grad(a, net->b[l]));
}

/* delta_l = (s M_l^T or s M_l) (.) f'(a_l), rows x n_l. */
static bp_status hidden_delta(bp_net *net, bp_backend *be, int l, int rows)
{
    int from_e = net->rule->direct || l == net->L;
    const float *s = from_e ? net->E : net->delta[l + 1];
    int width = from_e ? net->C : net->n[l + 1];
    const float *M = bp_param(net->fbm_arena, net->fbm[l]);
    if (net->fbm_trans)
        BP_TRY(gemm_nt(be, net->R, rows, net->n[l], width, 1.0f, s, M, net->delta[l]));
    else
        BP_TRY(gemm_nn(be, net->R, rows, net->n[l], width, 1.0f, s, M, net->delta[l]));
    return be->ops->act_grad_mul(be, net->R, rows, net->n[l], net->cfg.activation, net->H[l],
                                 net->delta[l]);
}

bp_status bp_forward_phase(bp_net *net, bp_backend *be, int rows, float *metrics,
                           float grad_scale)
{
    int R = net->R;
    BP_TRY(be->ops->output_error(be, R, rows, net->C, net->cfg.output, net->logits, net->labels,
                                 net->yhat, net->E, metrics, metrics + R));
    BP_TRY(layer_grads(net, be, net->L + 1, rows, net->E, grad_scale));
    for (int l = net->L; l >= 1; l--) {
        BP_TRY(hidden_delta(net, be, l, rows));
        BP_TRY(layer_grads(net, be, l, rows, net->delta[l], grad_scale));
    }
    return BP_OK;
}
