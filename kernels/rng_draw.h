/* Per-step random numbers (backend op fill_random), one layout and one set
 * of transforms for the CPU and the CUDA backend.
 *
 * Layout: element i of run r of a draw at step t is word i % 4 of
 *   Philox-4x32-10(key = seeds[r], counter = (block lo, block hi, stream lo,
 *   stream hi)),  block = (t << 32) + i / 4.
 * That is cuRAND's Philox-4x32-10 sequence: curand_init(seed, subsequence =
 * stream, offset = 4 * block, &state) followed by curand4(&state) yields the
 * four words of that block (cuRAND's counter is (offset/4 lo, hi,
 * subsequence lo, hi), its key the seed's two halves), so the CUDA backend
 * gets the same 32-bit words from cuRAND that the CPU gets from
 * kernels/philox.h. The transforms below turn words into floats the same way
 * on both (uniform: exact; normal: up to the ulps of logf/sinf/cosf). */
#ifndef BIOPP_KERNELS_RNG_DRAW_H
#define BIOPP_KERNELS_RNG_DRAW_H

#include <stdint.h>

#include "biopp/backend.h"
#include "kernels/hd.h"
#include "kernels/philox.h"

/* The Philox block of element i at step t (t < 2^30 keeps cuRAND's 64-bit
 * offset, 4 * block, from wrapping). */
BP_HD uint64_t bp_draw_block(uint64_t t, uint64_t i)
{
    return (t << 32) + (i >> 2);
}

/* The four floats of one block of words w (elements 4k .. 4k+3):
 * uniform: a + (b - a) u with u = bp_u32_to_unit(w);
 * normal:  Box-Muller on the pairs (w0, w1) and (w2, w3), u1 in (0, 1]. */
BP_HD void bp_draw_transform(const uint32_t w[4], bp_dist dist, float a, float b, float out[4])
{
    if (dist == BP_DIST_UNIFORM) {
        for (int j = 0; j < 4; j++) out[j] = a + (b - a) * bp_u32_to_unit(w[j]);
        return;
    }
    for (int j = 0; j < 4; j += 2) {
        float u1 = (float)((w[j] >> 8) + 1u) * (1.0f / 16777216.0f);
        float u2 = bp_u32_to_unit(w[j + 1]);
        float rad = sqrtf(-2.0f * logf(u1));
        float ang = 6.2831853071795865f * u2;
        out[j] = a + b * rad * cosf(ang);
        out[j + 1] = a + b * rad * sinf(ang);
    }
}

#endif
