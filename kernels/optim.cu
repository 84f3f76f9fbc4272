/* Optimizer steps over a whole parameter arena (every layer, every run):
 * grid-stride loops calling bp_adam_elem / bp_sgd_elem of kernels/optim.h. */
#include "kernels/cuda_common.cuh"
#include "kernels/optim.h"

/* hp is read from device memory: in a recorded epoch each step's node
 * points at that step's factors, which the host rewrites every epoch. */
static __global__ void adam_kernel(size_t n, float *param, const float *grad, float *m, float *v,
                                   const bp_adam_hyper *hyper)
{
    const bp_adam_hyper hp = *hyper;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        bp_adam_elem(&param[i], grad[i], &m[i], &v[i], hp.beta1, hp.beta2, hp.step_size,
                     hp.sqrt_bias_corr2, hp.eps);
}

static __global__ void sgd_kernel(size_t n, float *param, const float *grad, float *vel, float lr,
                                  float momentum)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        bp_sgd_elem(&param[i], grad[i], vel ? &vel[i] : NULL, lr, momentum);
}

extern "C" cudaError_t bp_cuda_adam_step(cudaStream_t stream, size_t n, float *param,
                                         const float *grad, float *m, float *v,
                                         const bp_adam_hyper *hp)
{
    if (n == 0) return cudaSuccess;
    BP_LAUNCH(adam_kernel, bp_cuda_grid(n), BP_CUDA_BLOCK, 0, stream)(n, param, grad, m, v, hp);
    return cudaGetLastError();
}

extern "C" cudaError_t bp_cuda_sgd_step(cudaStream_t stream, size_t n, float *param,
                                        const float *grad, float *vel, float lr, float momentum)
{
    if (n == 0) return cudaSuccess;
    BP_LAUNCH(sgd_kernel, bp_cuda_grid(n), BP_CUDA_BLOCK, 0, stream)(
        n, param, grad, vel, lr, momentum);
    return cudaGetLastError();
}
