/* h = f(a + bias) row-wise, and g = g (.) f'(a) through h: elementwise over
 * all R runs, calling the formulas of kernels/activation.h. */
#include "kernels/activation.h"
#include "kernels/cuda_common.cuh"

static __global__ void bias_act_kernel(size_t total, size_t per_run, int cols, bp_act act,
                                       const float *a, const float *bias, float *h)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        size_t r = i / per_run, j = i % (size_t)cols;
        h[i] = bp_act_apply(act, a[i] + bias[r * cols + j]);
    }
}

static __global__ void act_grad_mul_kernel(size_t total, bp_act act, const float *h, float *g)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
        g[i] *= bp_act_grad_from_out(act, h[i]);
}

extern "C" cudaError_t bp_cuda_bias_act(cudaStream_t stream, int R, int rows, int cols,
                                        bp_act act, const float *a, const float *bias, float *h)
{
    size_t per_run = (size_t)rows * cols, total = (size_t)R * per_run;
    if (R <= 0 || rows <= 0 || cols <= 0) return cudaSuccess;
    BP_LAUNCH(bias_act_kernel, bp_cuda_grid(total), BP_CUDA_BLOCK, 0, stream)(
        total, per_run, cols, act, a, bias, h);
    return cudaGetLastError();
}

extern "C" cudaError_t bp_cuda_act_grad_mul(cudaStream_t stream, int R, int rows, int cols,
                                            bp_act act, const float *h, float *g)
{
    if (R <= 0 || rows <= 0 || cols <= 0) return cudaSuccess;
    size_t total = (size_t)R * rows * cols;
    BP_LAUNCH(act_grad_mul_kernel, bp_cuda_grid(total), BP_CUDA_BLOCK, 0, stream)(total, act, h, g);
    return cudaGetLastError();
}
