/* Device-side helpers shared by the CUDA sources in kernels/ (never by C):
 * launch geometry and the fixed-order block reduction the deterministic
 * per-run sums are built from. */
#ifndef BIOPP_KERNELS_CUDA_COMMON_CUH
#define BIOPP_KERNELS_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stddef.h>

#include "kernels/cuda_kernels.h"

/* Every launch is written BP_LAUNCH(kernel, grid, block, shmem, stream)(args)
 * so that the same source also builds for the emulated device of the tests
 * (tests/cuda_emu/include/cuda_runtime.h defines its own BP_LAUNCH). */
#ifndef BP_LAUNCH
#define BP_LAUNCH(kernel, grid, block, shmem, stream) kernel<<<(grid), (block), (shmem), (stream)>>>
#endif

/* Blocks for a grid-stride loop over n elements (n > 0): enough to fill an
 * H100/H200 several times over, capped so huge arenas loop instead. */
static inline unsigned bp_cuda_grid(size_t n)
{
    size_t blocks = (n + BP_CUDA_BLOCK - 1) / BP_CUDA_BLOCK;
    const size_t cap = 8192;
    return (unsigned)(blocks < cap ? (blocks ? blocks : 1) : cap);
}

/* Stage-1 blocks per run of a reduction over `items` work items per run
 * (`per_block` items handled by one block per pass). A pure function of the
 * sizes, so the summation order never depends on the device or timing. */
static inline int bp_cuda_partial_blocks(size_t items, int per_block)
{
    size_t blocks = (items + (size_t)per_block - 1) / (size_t)per_block;
    if (blocks < 1) blocks = 1;
    if (blocks > BP_CUDA_MAX_PARTIALS) blocks = BP_CUDA_MAX_PARTIALS;
    return (int)blocks;
}

/* Sum of one double per thread of a BP_CUDA_BLOCK-thread block, in a fixed
 * tree order; the result is valid in thread 0. `sh` has BP_CUDA_BLOCK
 * entries. Every thread of the block must call it. */
static __device__ __forceinline__ double bp_block_sum(double v, double *sh)
{
    unsigned t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (unsigned s = BP_CUDA_BLOCK / 2; s > 0; s >>= 1) {
        if (t < s) sh[t] += sh[t + s];
        __syncthreads();
    }
    return sh[0];
}

#endif
