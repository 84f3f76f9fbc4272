/* Output layer: per row (one thread per sample) yhat = sigma_y(logits),
 * e = yhat - onehot(label), the row's loss and whether its argmax is wrong,
 * all through kernels/loss.h. Per-run sums: each block adds its rows in
 * double (fixed order) into scratch, bp_cuda_reduce_runs finishes. */
#include "kernels/cuda_common.cuh"
#include "kernels/loss.h"

/* grid (nblk, R); partials [slot 0 loss | slot 1 errors][run][block]. */
static __global__ void output_rows_kernel(int B, int C, bp_output kind, const float *logits,
                                          const int32_t *labels, float *yhat, float *e,
                                          double *partials)
{
    __shared__ double sh[BP_CUDA_BLOCK];
    int r = blockIdx.y, nblk = gridDim.x;
    double loss = 0.0, nerr = 0.0;
    for (int i = blockIdx.x * BP_CUDA_BLOCK + threadIdx.x; i < B; i += nblk * BP_CUDA_BLOCK) {
        size_t row = ((size_t)r * B + i) * C;
        int label = labels[(size_t)r * B + i];
        loss += bp_output_row(kind, C, logits + row, label, yhat ? yhat + row : NULL,
                              e ? e + row : NULL);
        nerr += bp_row_is_error(C, logits + row, label);
    }
    double total = bp_block_sum(loss, sh);
    if (threadIdx.x == 0) partials[(size_t)r * nblk + blockIdx.x] = total;
    __syncthreads();
    total = bp_block_sum(nerr, sh);
    if (threadIdx.x == 0) partials[((size_t)gridDim.y + r) * nblk + blockIdx.x] = total;
}

extern "C" cudaError_t bp_cuda_output_error(cudaStream_t stream, int R, int B, int C,
                                            bp_output kind, const float *logits,
                                            const int32_t *labels, float *yhat, float *e,
                                            double *scratch, float *loss_out, float *nerr_out)
{
    if (R <= 0) return cudaSuccess;
    int nblk = bp_cuda_partial_blocks((size_t)(B > 0 ? B : 0), BP_CUDA_BLOCK);
    dim3 grid(nblk, R);
    BP_LAUNCH(output_rows_kernel, grid, BP_CUDA_BLOCK, 0, stream)(
        B, C, kind, logits, labels, yhat, e, scratch);
    cudaError_t rc = cudaGetLastError();
    if (rc != cudaSuccess) return rc;
    return bp_cuda_reduce_runs(stream, scratch, R, nblk, 2, loss_out, nerr_out);
}
