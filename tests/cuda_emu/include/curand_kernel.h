/* The emulated device's stand-in for cuRAND's Philox-4x32-10 device API: the
 * part kernels/rng_draw.cu uses (curand_init + curand4), built on the
 * project's Philox (kernels/philox.h) with the counter layout cuRAND
 * documents in curand_kernel.h: counter = (offset/4 lo, hi, subsequence lo,
 * hi), key = the seed's two halves, and offset % 4 words already consumed.
 * So under emulation the GPU tests compare the CPU backend's draws with this
 * file's, which checks rng_draw.cu's indexing, not cuRAND itself (only the
 * real GPU suite does that: tests/gpu/test_rules_cuda.c). */
#ifndef BIOPP_CUDA_EMU_CURAND_KERNEL_H
#define BIOPP_CUDA_EMU_CURAND_KERNEL_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "cuda_runtime.h"
#include "kernels/philox.h"

struct uint4 {
    unsigned x, y, z, w;
};

struct curandStatePhilox4_32_10_t {
    bp_philox_ctr ctr;
    uint32_t k0, k1;
    unsigned used; /* words of the current block already returned (offset % 4) */
};

static inline void emu_curand_add_block(bp_philox_ctr *c, uint64_t n)
{
    uint64_t lo = ((uint64_t)c->v[1] << 32 | c->v[0]) + n;
    if (lo < n) { /* carry into the subsequence words, as cuRAND's 128-bit counter */
        uint64_t hi = ((uint64_t)c->v[3] << 32 | c->v[2]) + 1;
        c->v[2] = (uint32_t)hi;
        c->v[3] = (uint32_t)(hi >> 32);
    }
    c->v[0] = (uint32_t)lo;
    c->v[1] = (uint32_t)(lo >> 32);
}

__device__ static inline void curand_init(unsigned long long seed, unsigned long long subsequence,
                                          unsigned long long offset,
                                          curandStatePhilox4_32_10_t *st)
{
    st->ctr.v[0] = st->ctr.v[1] = 0;
    st->ctr.v[2] = (uint32_t)subsequence;
    st->ctr.v[3] = (uint32_t)(subsequence >> 32);
    st->k0 = (uint32_t)seed;
    st->k1 = (uint32_t)(seed >> 32);
    emu_curand_add_block(&st->ctr, offset / 4);
    st->used = (unsigned)(offset % 4);
}

/* Four words from the current position; the emulator supports only aligned
 * positions (offset % 4 == 0), which is all rng_draw.cu asks for. */
__device__ static inline uint4 curand4(curandStatePhilox4_32_10_t *st)
{
    if (st->used != 0) {
        std::fprintf(stderr, "cuda_emu: error: curand4 at an offset that is not a multiple of 4 "
                             "(not emulated)\n");
        std::abort();
    }
    bp_philox_ctr w = bp_philox4x32_10(st->ctr, st->k0, st->k1);
    emu_curand_add_block(&st->ctr, 1);
    uint4 r = {w.v[0], w.v[1], w.v[2], w.v[3]};
    return r;
}

#endif
