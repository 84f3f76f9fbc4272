/* Minibatch gather from the resident uint8 dataset: x[r][i][j] =
 * pixels[idx[r*idx_stride + i]*dim + j] / 255 and the labels as int32.
 * The scaling is the CPU backend's (multiply by 1/255f), so results match
 * it exactly. */
#include "kernels/cuda_common.cuh"

static __global__ void gather_kernel(size_t total, int B, int dim, const uint8_t *pixels,
                                     const uint8_t *labels_all, const int32_t *idx,
                                     size_t idx_stride, float *x, int32_t *labels)
{
    const float scale = 1.0f / 255.0f;
    size_t rows = total / (size_t)dim;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
        size_t row = t / (size_t)dim, j = t % (size_t)dim;
        size_t r = row / (size_t)B, i = row % (size_t)B;
        size_t s = (size_t)idx[r * idx_stride + i];
        x[t] = (float)pixels[s * dim + j] * scale;
        if (t < rows) { /* labels: the first R*B threads, one row each */
            size_t lr = t / (size_t)B, li = t % (size_t)B;
            labels[t] = labels_all[(size_t)idx[lr * idx_stride + li]];
        }
    }
}

extern "C" cudaError_t bp_cuda_gather(cudaStream_t stream, int R, int B, int dim,
                                      const uint8_t *pixels, const uint8_t *labels_all,
                                      const int32_t *idx, size_t idx_stride, float *x,
                                      int32_t *labels)
{
    if (R <= 0 || B <= 0 || dim <= 0) return cudaSuccess;
    size_t total = (size_t)R * B * dim;
    BP_LAUNCH(gather_kernel, bp_cuda_grid(total), BP_CUDA_BLOCK, 0, stream)(
        total, B, dim, pixels, labels_all, idx, idx_stride, x, labels);
    return cudaGetLastError();
}
