/* BDFA / BFA targets t (R x B x C), elementwise through bp_target_elem. */
#include "kernels/cuda_common.cuh"
#include "kernels/loss.h"

static __global__ void make_target_kernel(size_t total, int C, bp_bdfa_target mode, float alpha,
                                          const int32_t *labels, const float *src, float *t)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        size_t row = i / (size_t)C;
        int k = (int)(i % (size_t)C);
        float s = src ? src[i] : 0.0f;
        t[i] = bp_target_elem(mode, alpha, k, labels[row], s);
    }
}

extern "C" cudaError_t bp_cuda_make_target(cudaStream_t stream, int R, int B, int C,
                                           bp_bdfa_target mode, float alpha,
                                           const int32_t *labels, const float *src, float *t)
{
    if (R <= 0 || B <= 0 || C <= 0) return cudaSuccess;
    size_t total = (size_t)R * B * C;
    BP_LAUNCH(make_target_kernel, bp_cuda_grid(total), BP_CUDA_BLOCK, 0, stream)(
        total, C, mode, alpha, labels, src, t);
    return cudaGetLastError();
}
