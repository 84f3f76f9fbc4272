/* Per-element and per-row loss formulas: the output layer (sigmoid + BCE,
 * softmax + CE), the BDFA sigmoid-alignment loss and the BFA reconstruction
 * loss. Each returns the loss and writes the error signal the rule needs. */
#ifndef BIOPP_KERNELS_LOSS_H
#define BIOPP_KERNELS_LOSS_H

#include "biopp/config.h"
#include "kernels/activation.h"
#include "kernels/hd.h"

/* log(1 + exp(x)) without overflow. */
BP_HD float bp_softplusf(float x)
{
    return (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}

/* BCE of sigmoid(a) against target y in [0,1], from the logit a. */
BP_HD float bp_bce_with_logit(float a, float y)
{
    return bp_softplusf(a) - a * y;
}

/* One output row of C logits: writes yhat and e = yhat - onehot(label)
 * (either may be NULL) and returns the row's loss. */
BP_HD float bp_output_row(bp_output kind, int C, const float *a, int label, float *yhat,
                          float *e)
{
    float loss = 0.0f;
    if (kind == BP_OUT_SIGMOID_BCE) {
        for (int k = 0; k < C; k++) {
            float y = k == label ? 1.0f : 0.0f;
            float p = bp_sigmoidf(a[k]);
            loss += bp_bce_with_logit(a[k], y);
            if (yhat) yhat[k] = p;
            if (e) e[k] = p - y;
        }
        return loss;
    }
    float mx = a[0];
    for (int k = 1; k < C; k++) mx = a[k] > mx ? a[k] : mx;
    float sum = 0.0f;
    for (int k = 0; k < C; k++) sum += expf(a[k] - mx);
    float log_sum = logf(sum);
    for (int k = 0; k < C; k++) {
        float p = expf(a[k] - mx - log_sum);
        if (yhat) yhat[k] = p;
        if (e) e[k] = p - (k == label ? 1.0f : 0.0f);
    }
    return -(a[label] - mx - log_sum);
}

/* 1 if argmax(a) (first maximum) differs from label. */
BP_HD int bp_row_is_error(int C, const float *a, int label)
{
    int best = 0;
    for (int k = 1; k < C; k++)
        if (a[k] > a[best]) best = k;
    return best != label;
}

/* BDFA alignment loss of one sample's score s = p . h, and dloss/ds. */
BP_HD float bp_bdfa_align_loss(bp_bdfa_loss kind, float s, float *dloss_ds)
{
    float sig = bp_sigmoidf(s);
    if (kind == BP_BDFA_NEG_LOG_SIGMOID) {
        *dloss_ds = -(1.0f - sig);
        return bp_softplusf(-s);
    }
    *dloss_ds = -sig * (1.0f - sig);
    return 1.0f - sig;
}

/* BFA reconstruction of one pixel from the mirror's pre-activation g:
 * writes eps = xhat - x, returns the loss term. */
BP_HD float bp_recon_elem(bp_recon kind, float g, float x, float *eps)
{
    if (kind == BP_RECON_SIGMOID_BCE) {
        *eps = bp_sigmoidf(g) - x;
        return bp_bce_with_logit(g, x);
    }
    *eps = g - x;
    return 0.5f * (*eps) * (*eps);
}

/* BDFA / BFA target entry k of a sample with the given label. */
BP_HD float bp_target_elem(bp_bdfa_target mode, float alpha, int k, int label, float src)
{
    if (mode == BP_TARGET_PAPER_CODE)
        return k == label ? 1.0f : alpha * src;
    return (k == label ? 1.0f : 0.0f) + alpha * src;
}

#endif
