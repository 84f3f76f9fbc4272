/* Bias gradients: out[r][j] = alpha * sum_i x[r][i][j]. One thread per
 * (run, column) sums its column in row order, like the CPU backend, so the
 * result is deterministic and rounds the same way. Consecutive threads read
 * consecutive columns (coalesced). */
#include "kernels/cuda_common.cuh"

static __global__ void col_sum_kernel(size_t total, int rows, int cols, float alpha,
                                      const float *x, float *out)
{
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        size_t r = t / (size_t)cols, j = t % (size_t)cols;
        const float *col = x + r * rows * (size_t)cols + j;
        float s = 0.0f;
        for (int i = 0; i < rows; i++) s += col[(size_t)i * cols];
        out[t] = s * alpha;
    }
}

extern "C" cudaError_t bp_cuda_col_sum(cudaStream_t stream, int R, int rows, int cols,
                                       float alpha, const float *x, float *out)
{
    if (R <= 0 || cols <= 0) return cudaSuccess;
    size_t total = (size_t)R * cols;
    BP_LAUNCH(col_sum_kernel, bp_cuda_grid(total), BP_CUDA_BLOCK, 0, stream)(
        total, rows, cols, alpha, x, out);
    return cudaGetLastError();
}
