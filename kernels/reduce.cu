/* Stage 2 of the deterministic per-run reductions: one block per run sums
 * that run's stage-1 partials (at most BP_CUDA_MAX_PARTIALS) in a fixed tree
 * order and writes out[r]. No atomics, so sums are reproducible bit for bit. */
#include "kernels/cuda_common.cuh"

static __global__ void reduce_runs_kernel(const double *partials, int R, int nblk, int nslots,
                                          float *out0, float *out1)
{
    __shared__ double sh[BP_CUDA_BLOCK];
    int r = blockIdx.x;
    for (int s = 0; s < nslots; s++) {
        const double *p = partials + ((size_t)s * R + r) * nblk;
        double v = 0.0;
        for (int b = threadIdx.x; b < nblk; b += BP_CUDA_BLOCK) v += p[b];
        double total = bp_block_sum(v, sh);
        if (threadIdx.x == 0) (s == 0 ? out0 : out1)[r] = (float)total;
        __syncthreads(); /* sh is reused by the next slot */
    }
}

extern "C" cudaError_t bp_cuda_reduce_runs(cudaStream_t stream, const double *partials, int R,
                                           int nblk, int nslots, float *out0, float *out1)
{
    if (R <= 0 || nslots <= 0) return cudaSuccess;
    BP_LAUNCH(reduce_runs_kernel, R, BP_CUDA_BLOCK, 0, stream)(
        partials, R, nblk, nslots, out0, out1);
    return cudaGetLastError();
}
