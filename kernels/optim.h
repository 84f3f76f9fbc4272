/* One optimizer step for one parameter element. The formulas follow
 * PyTorch's torch.optim.SGD and Adam (non-AMSGrad) so the reference in
 * bench/torch_ref.py computes the same updates. */
#ifndef BIOPP_KERNELS_OPTIM_H
#define BIOPP_KERNELS_OPTIM_H

#include "biopp/backend.h"
#include "kernels/hd.h"

/* The hyper-parameters are passed by value so that a loop over elements
 * keeps them in registers (a pointer could alias the parameters and block
 * vectorisation; an unvectorised Adam was a third of a 1x800 CPU step). */
BP_HD void bp_adam_elem(float *p, float g, float *m, float *v, float beta1, float beta2,
                        float step_size, float sqrt_bias_corr2, float eps)
{
    float mi = beta1 * (*m) + (1.0f - beta1) * g;
    float vi = beta2 * (*v) + (1.0f - beta2) * g * g;
    *m = mi;
    *v = vi;
    *p -= step_size * mi / (sqrtf(vi) / sqrt_bias_corr2 + eps);
}

/* SGD with (PyTorch-style) momentum: vel = mu vel + g; p -= lr vel.
 * With momentum 0 the velocity is not touched (it may be NULL). */
BP_HD void bp_sgd_elem(float *p, float g, float *vel, float lr, float momentum)
{
    if (momentum != 0.0f) {
        *vel = momentum * (*vel) + g;
        g = *vel;
    }
    *p -= lr * g;
}

#endif
