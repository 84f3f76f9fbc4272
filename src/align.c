/* Alignment diagnostics: see include/biopp/align.h. */
#include "biopp/align.h"

#include <math.h>
#include <stdlib.h>

#include "biopp/ops.h"
#include "biopp/rule.h"

size_t bp_align_floats(const bp_net *net)
{
    return (size_t)(net->L + 1) * BP_ALIGN_SLOTS * net->R;
}

int bp_align_count(int align_every, int steps)
{
    return align_every > 0 && steps > 0 ? (steps + align_every - 1) / align_every : 0;
}

static float *slot(const bp_net *net, float *out, int j, int k)
{
    return out + ((size_t)j * BP_ALIGN_SLOTS + k) * net->R;
}

bp_status bp_align_reserve(bp_net *net, bp_backend *be, int count, bp_error *err)
{
    size_t R = (size_t)net->R, grad = 0;
    for (int l = 1; l <= net->L; l++) {
        net->delta_bp[l] = be->ops->alloc(be, R * net->B * net->n[l] * sizeof(float));
        if (!net->delta_bp[l]) goto nomem;
        size_t w = (size_t)net->n[l] * net->n[l - 1];
        grad = w > grad ? w : grad;
    }
    net->grad_bp = be->ops->alloc(be, R * (grad ? grad : 1) * sizeof(float));
    size_t n = bp_align_floats(net) * (size_t)(count > 0 ? count : 1);
    net->align = be->ops->alloc(be, n * sizeof(float));
    net->host_align = calloc(n, sizeof(float));
    net->align_steps = count;
    if (!net->grad_bp || !net->align || !net->host_align) goto nomem;
    return BP_OK;
nomem:
    return bp_fail(err, BP_ERR_NOMEM, "allocating the alignment diagnostics' buffers: %s",
                   be->err.msg);
}

/* BP's delta_l = (delta_{l+1} W_{l+1}) (.) f'(a_l), delta_{L+1} = e, with
 * the current W (the one the rule's delta used). */
static bp_status bp_delta(bp_net *net, bp_backend *be, int l, int rows)
{
    const float *s = l == net->L ? net->E : net->delta_bp[l + 1];
    BP_TRY(gemm_nn(be, net->R, rows, net->n[l], net->n[l + 1], 1.0f, s,
                   bp_param(&net->fwd, net->W[l + 1]), net->delta_bp[l]));
    return be->ops->act_grad_mul(be, net->R, rows, net->n[l], net->cfg.activation, net->H[l],
                                 net->delta_bp[l]);
}

/* The feedback matrix l (B_l or V_l, n_{l-1} x n_l) against W_l^T, for the
 * rules whose feedback has W^T's shape (FA, USF, BRSF, FRSF, KP, WM, BFA). */
static bp_status fb_angle(bp_net *net, bp_backend *be, int l, float *out)
{
    const bp_arena *a = NULL;
    int t = -1;
    if (bp_rule_has_b(net->rule->id) && l >= 2) {
        a = net->fbm_arena;
        t = net->Bfix[l];
    } else if (net->rule->id == BP_RULE_BFA) {
        a = &net->fb;
        t = net->V[l];
    }
    if (!a) return BP_OK;
    return be->ops->angle(be, net->R, net->n[l - 1], net->n[l], bp_param(a, t),
                          bp_param(&net->fwd, net->W[l]), 1, 0, slot(net, out, l - 1, BP_ALIGN_FB),
                          slot(net, out, l - 1, BP_ALIGN_FB_N));
}

bp_status bp_align_measure(bp_net *net, bp_backend *be, int rows, float *out)
{
    int R = net->R;
    for (int l = net->L; l >= 1; l--) {
        BP_TRY(bp_delta(net, be, l, rows));
        BP_TRY(be->ops->angle(be, R, rows, net->n[l], net->delta[l], net->delta_bp[l], 0, 1,
                              slot(net, out, l - 1, BP_ALIGN_DELTA),
                              slot(net, out, l - 1, BP_ALIGN_DELTA_N)));
        /* dW_l = delta_l^T h_{l-1}: the rule's is in the forward arena's
         * gradients (scaled by 1/B or 1: angles do not see the scale). */
        BP_TRY(gemm_tn(be, R, net->n[l], net->n[l - 1], rows, 1.0f, net->delta_bp[l],
                       net->H[l - 1], net->grad_bp));
        BP_TRY(be->ops->angle(be, R, net->n[l], net->n[l - 1], bp_grad(&net->fwd, net->W[l]),
                              net->grad_bp, 0, 0, slot(net, out, l - 1, BP_ALIGN_DW),
                              slot(net, out, l - 1, BP_ALIGN_DW_N)));
    }
    for (int l = 1; l <= net->L + 1; l++) BP_TRY(fb_angle(net, be, l, out));
    return BP_OK;
}

static double value_of(const bp_net *net, const float *meas, int j, int k, int r)
{
    return slot(net, (float *)meas, j, k)[r];
}

void bp_align_point_of(const bp_net *net, const float *meas, int r, long long step,
                       bp_align_point *p)
{
    p->step = step;
    p->L = net->L;
    for (int j = 0; j <= net->L; j++) {
        double n = value_of(net, meas, j, BP_ALIGN_DELTA_N, r);
        if (j < net->L) {
            p->delta[j] = n > 0 ? value_of(net, meas, j, BP_ALIGN_DELTA, r) / n : NAN;
            p->dW[j] = value_of(net, meas, j, BP_ALIGN_DW_N, r) > 0
                           ? value_of(net, meas, j, BP_ALIGN_DW, r)
                           : NAN;
        }
        p->fb[j] = value_of(net, meas, j, BP_ALIGN_FB_N, r) > 0
                       ? value_of(net, meas, j, BP_ALIGN_FB, r)
                       : NAN;
    }
}

void bp_align_epoch_mean(const bp_net *net, const float *meas, int count, int r,
                         bp_align_point *mean)
{
    size_t stride = bp_align_floats(net);
    mean->step = -1;
    mean->L = net->L;
    for (int j = 0; j <= net->L; j++) {
        double d = 0, dn = 0, w = 0, wn = 0, f = 0, fn = 0;
        for (int m = 0; m < count; m++) {
            const float *x = meas + (size_t)m * stride;
            d += value_of(net, x, j, BP_ALIGN_DELTA, r);
            dn += value_of(net, x, j, BP_ALIGN_DELTA_N, r);
            if (value_of(net, x, j, BP_ALIGN_DW_N, r) > 0) {
                w += value_of(net, x, j, BP_ALIGN_DW, r);
                wn += 1;
            }
            if (value_of(net, x, j, BP_ALIGN_FB_N, r) > 0) {
                f += value_of(net, x, j, BP_ALIGN_FB, r);
                fn += 1;
            }
        }
        if (j < net->L) {
            mean->delta[j] = dn > 0 ? d / dn : NAN;
            mean->dW[j] = wn > 0 ? w / wn : NAN;
        }
        mean->fb[j] = fn > 0 ? f / fn : NAN;
    }
}
