/* BFA reconstruction: eps = sigma_x(g) - x elementwise through
 * bp_recon_elem, and the per-run loss sum (per-block double partials in a
 * fixed order, then bp_cuda_reduce_runs). */
#include "kernels/cuda_common.cuh"
#include "kernels/loss.h"

/* grid (nblk, R): block b of run r covers elements b*BLOCK + t, + nblk*BLOCK, ... */
static __global__ void recon_error_kernel(size_t per_run, bp_recon kind, const float *g,
                                          const float *x, float *eps, double *partials)
{
    __shared__ double sh[BP_CUDA_BLOCK];
    size_t r = blockIdx.y, nblk = gridDim.x, base = r * per_run;
    double loss = 0.0;
    for (size_t i = (size_t)blockIdx.x * BP_CUDA_BLOCK + threadIdx.x; i < per_run;
         i += nblk * BP_CUDA_BLOCK)
        loss += bp_recon_elem(kind, g[base + i], x[base + i], &eps[base + i]);
    double total = bp_block_sum(loss, sh);
    if (threadIdx.x == 0) partials[r * nblk + blockIdx.x] = total;
}

extern "C" cudaError_t bp_cuda_recon_error(cudaStream_t stream, int R, int B, int n,
                                           bp_recon kind, const float *g, const float *x,
                                           float *eps, double *scratch, float *loss_out)
{
    if (R <= 0) return cudaSuccess;
    size_t per_run = (B > 0 && n > 0) ? (size_t)B * n : 0;
    int nblk = bp_cuda_partial_blocks(per_run, BP_CUDA_BLOCK);
    dim3 grid(nblk, R);
    BP_LAUNCH(recon_error_kernel, grid, BP_CUDA_BLOCK, 0, stream)(
        per_run, kind, g, x, eps, scratch);
    cudaError_t rc = cudaGetLastError();
    if (rc != cudaSuccess) return rc;
    return bp_cuda_reduce_runs(stream, scratch, R, nblk, 1, loss_out, NULL);
}
