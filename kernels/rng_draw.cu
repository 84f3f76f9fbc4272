/* The backend op fill_random on CUDA: the ONLY file of biopp that uses
 * cuRAND (an emulated device substitutes this file alone).
 *
 * Contract (bp_cuda_fill_random, declared in kernels/cuda_kernels.h):
 *   for r < R, i < n:  dst[r*n + i] = bp_draw_transform(w, dist, a, b)[i % 4]
 *   where w = the four 32-bit words of Philox-4x32-10 with key seeds[r] and
 *   counter (block lo, block hi, stream lo, stream hi),
 *   block = bp_draw_block(*step, i)  (kernels/rng_draw.h).
 *   seeds (R uint64) and step (one uint64) are device memory, read when the
 *   kernel runs, so a CUDA graph recorded once replays with the step number
 *   the host wrote for that step (fresh draws every replay). Enqueued on
 *   `stream`; returns the launch's cudaGetLastError().
 * Words come from cuRAND's device API: curand_init(seed, subsequence =
 * stream, offset = 4 * block) puts a Philox state on exactly that counter
 * (curand_kernel.h: skipahead_sequence adds to counter words 2-3, skipahead
 * adds offset/4 to words 0-1), and curand4 returns that block's words. The
 * CPU backend computes the same words with kernels/philox.h; an emulator may
 * do the same. One thread per block of four elements. */
#include <curand_kernel.h>

#include "kernels/cuda_common.cuh"
#include "kernels/rng_draw.h"

static __global__ void fill_random_kernel(int R, size_t n, bp_dist dist, float a, float b,
                                          const uint64_t *seeds, uint64_t stream,
                                          const uint64_t *step, float *dst)
{
    size_t blocks = (n + 3) / 4, total = (size_t)R * blocks;
    size_t grid_stride = (size_t)gridDim.x * blockDim.x;
    const uint64_t t = *step;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += grid_stride) {
        size_t r = k / blocks, i = (k % blocks) * 4;
        curandStatePhilox4_32_10_t st;
        curand_init(seeds[r], stream, 4 * bp_draw_block(t, i), &st);
        uint4 w4 = curand4(&st);
        uint32_t w[4] = {w4.x, w4.y, w4.z, w4.w};
        float out[4];
        bp_draw_transform(w, dist, a, b, out);
        float *d = dst + r * n + i;
        for (size_t j = 0; j < 4 && i + j < n; j++) d[j] = out[j];
    }
}

extern "C" cudaError_t bp_cuda_fill_random(cudaStream_t stream, int R, size_t n, bp_dist dist,
                                           float a, float b, const uint64_t *seeds,
                                           uint64_t rng_stream, const uint64_t *step, float *dst)
{
    if (R <= 0 || n == 0) return cudaSuccess;
    size_t total = (size_t)R * ((n + 3) / 4);
    BP_LAUNCH(fill_random_kernel, bp_cuda_grid(total), BP_CUDA_BLOCK, 0, stream)(
        R, n, dist, a, b, seeds, rng_stream, step, dst);
    return cudaGetLastError();
}
