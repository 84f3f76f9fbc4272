/* The backend op tmap (include/biopp/backend.h): Y (cols x rows per run)
 * from X (rows x cols), one thread per output element, the formula of
 * kernels/tmap.h. Reads of X are strided; the matrices it maps are the
 * size of one weight matrix, once per step. */
#include "kernels/cuda_common.cuh"
#include "kernels/tmap.h"

static __global__ void tmap_kernel(size_t total, int rows, int cols, bp_tmap kind, float alpha,
                                   const float *X, const float *M, float *Y)
{
    size_t per_run = (size_t)rows * cols;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += stride) {
        size_t r = o / per_run, rem = o % per_run;
        size_t j = rem / rows, i = rem % rows;
        float x = X[r * per_run + i * cols + j];
        Y[o] = bp_tmap_elem(kind, alpha, x, M ? M[o] : 0.0f, M != NULL);
    }
}

extern "C" cudaError_t bp_cuda_tmap(cudaStream_t stream, int R, int rows, int cols, bp_tmap kind,
                                    float alpha, const float *X, const float *M, float *Y)
{
    size_t total = (size_t)R * rows * cols;
    if (total == 0) return cudaSuccess;
    BP_LAUNCH(tmap_kernel, bp_cuda_grid(total), BP_CUDA_BLOCK, 0, stream)(total, rows, cols, kind,
                                                                   alpha, X, M, Y);
    return cudaGetLastError();
}
