/* Hidden nonlinearities f and their derivatives. f' is written as a
 * function of the output h = f(a): tanh' = 1 - h^2, sigmoid' = h (1 - h),
 * relu' = [h > 0], so the forward pass only keeps h. */
#ifndef BIOPP_KERNELS_ACTIVATION_H
#define BIOPP_KERNELS_ACTIVATION_H

#include "biopp/config.h"
#include "kernels/hd.h"

BP_HD float bp_sigmoidf(float x)
{
    /* Stable on both tails: never exp of a large positive number. */
    if (x >= 0.0f) {
        float z = expf(-x);
        return 1.0f / (1.0f + z);
    }
    float z = expf(x);
    return z / (1.0f + z);
}

BP_HD float bp_act_apply(bp_act act, float a)
{
    switch (act) {
    case BP_ACT_TANH: return tanhf(a);
    case BP_ACT_RELU: return a > 0.0f ? a : 0.0f;
    case BP_ACT_SIGMOID: return bp_sigmoidf(a);
    case BP_ACT_IDENTITY: break;
    }
    return a;
}

BP_HD float bp_act_grad_from_out(bp_act act, float h)
{
    switch (act) {
    case BP_ACT_TANH: return 1.0f - h * h;
    case BP_ACT_RELU: return h > 0.0f ? 1.0f : 0.0f;
    case BP_ACT_SIGMOID: return h * (1.0f - h);
    case BP_ACT_IDENTITY: break;
    }
    return 1.0f;
}

#endif
