/* BDFA alignment: per sample s = p . h (one warp per row: strided lane
 * sums, then a fixed shuffle tree), loss and dloss/ds through
 * bp_bdfa_align_loss, hs = dloss/ds * h. Per-run loss sums as in every
 * reduction here: per-block double partials, then bp_cuda_reduce_runs. */
#include "kernels/cuda_common.cuh"
#include "kernels/loss.h"

#define WARPS (BP_CUDA_BLOCK / 32)

/* grid (nblk, R); warp w of block b handles rows b*WARPS + w, + nblk*WARPS, ... */
static __global__ void bdfa_align_kernel(int B, int n, bp_bdfa_loss kind, const float *p,
                                         const float *h, float *hs, double *partials)
{
    __shared__ double warp_loss[WARPS];
    int r = blockIdx.y, nblk = gridDim.x;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    double loss = 0.0;
    for (int i = blockIdx.x * WARPS + warp; i < B; i += nblk * WARPS) {
        size_t row = ((size_t)r * B + i) * n;
        float s = 0.0f;
        for (int j = lane; j < n; j += 32) s += p[row + j] * h[row + j];
        for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
        s = __shfl_sync(0xffffffffu, s, 0);
        float dlds;
        float l = bp_bdfa_align_loss(kind, s, &dlds);
        if (lane == 0) loss += l;
        for (int j = lane; j < n; j += 32) hs[row + j] = dlds * h[row + j];
    }
    if (lane == 0) warp_loss[warp] = loss;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0.0;
        for (int w = 0; w < WARPS; w++) total += warp_loss[w];
        partials[(size_t)r * nblk + blockIdx.x] = total;
    }
}

extern "C" cudaError_t bp_cuda_bdfa_align(cudaStream_t stream, int R, int B, int n,
                                          bp_bdfa_loss kind, const float *p, const float *h,
                                          float *hs, double *scratch, float *loss_out)
{
    if (R <= 0) return cudaSuccess;
    int nblk = bp_cuda_partial_blocks((size_t)(B > 0 ? B : 0), WARPS);
    dim3 grid(nblk, R);
    BP_LAUNCH(bdfa_align_kernel, grid, BP_CUDA_BLOCK, 0, stream)(B, n, kind, p, h, hs, scratch);
    cudaError_t rc = cudaGetLastError();
    if (rc != cudaSuccess) return rc;
    return bp_cuda_reduce_runs(stream, scratch, R, nblk, 1, loss_out, NULL);
}
