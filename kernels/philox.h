/* Philox-4x32-10 (Salmon et al. 2011, as in cuRAND and Random123): a
 * counter-based generator, so every random number is a pure function of
 * (key, counter). biopp derives key = seed, counter = (index, stream), which
 * makes initial weights and sample orders identical on every backend, for
 * any group size, and after a resume. */
#ifndef BIOPP_KERNELS_PHILOX_H
#define BIOPP_KERNELS_PHILOX_H

#include <stdint.h>

#include "kernels/hd.h"

typedef struct { uint32_t v[4]; } bp_philox_ctr;

BP_HD uint32_t bp_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

BP_HD bp_philox_ctr bp_philox4x32_10(bp_philox_ctr c, uint32_t k0, uint32_t k1)
{
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = bp_mulhilo32(0xD2511F53u, c.v[0], &hi0);
        uint32_t lo1 = bp_mulhilo32(0xCD9E8D57u, c.v[2], &hi1);
        bp_philox_ctr n = {{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
        c = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

/* Four 32-bit random words for (seed, stream, block index). */
BP_HD bp_philox_ctr bp_philox_block(uint64_t seed, uint64_t stream, uint64_t block)
{
    bp_philox_ctr c = {{(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                        (uint32_t)(stream >> 32)}};
    return bp_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* The i-th 32-bit word of a (seed, stream) sequence. */
BP_HD uint32_t bp_philox_u32(uint64_t seed, uint64_t stream, uint64_t i)
{
    return bp_philox_block(seed, stream, i >> 2).v[i & 3];
}

/* Uniform in [0, 1) with 24 random bits (exactly representable floats). */
BP_HD float bp_u32_to_unit(uint32_t u)
{
    return (float)(u >> 8) * (1.0f / 16777216.0f);
}

#endif
