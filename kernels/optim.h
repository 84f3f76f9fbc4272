/* One optimizer step for one parameter element. The formulas follow
 * PyTorch's torch.optim.SGD and Adam (non-AMSGrad) so the reference in
 * bench/torch_ref.py computes the same updates. */
#ifndef BIOPP_KERNELS_OPTIM_H
#define BIOPP_KERNELS_OPTIM_H

#include "biopp/backend.h"
#include "kernels/hd.h"

BP_HD void bp_adam_elem(float *p, float g, float *m, float *v, const bp_adam_hyper *hp)
{
    *m = hp->beta1 * (*m) + (1.0f - hp->beta1) * g;
    *v = hp->beta2 * (*v) + (1.0f - hp->beta2) * g * g;
    float denom = sqrtf(*v) / sqrtf(hp->bias_corr2) + hp->eps;
    *p -= (hp->lr / hp->bias_corr1) * (*m) / denom;
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
