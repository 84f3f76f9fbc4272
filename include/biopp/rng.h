/* Host-side randomness, a pure function of (seed, stream, counter) through
 * Philox-4x32-10 (kernels/philox.h). Streams in use:
 *   parameters:  (arena id << 32) | tensor index
 *   sample order: BP_STREAM_SHUFFLE + epoch */
#ifndef BIOPP_RNG_H
#define BIOPP_RNG_H

#include <stddef.h>
#include <stdint.h>

#define BP_STREAM_SHUFFLE (UINT64_C(1) << 40)

static inline uint64_t bp_param_stream(int arena_id, int tensor)
{
    return ((uint64_t)arena_id << 32) | (uint64_t)tensor;
}

/* dst[i] = uniform in [-bound, bound), from (seed, stream, i). */
void bp_uniform_fill(uint64_t seed, uint64_t stream, float bound, float *dst, size_t n);

/* A uniformly random permutation of 0..n-1 (Fisher-Yates), from (seed, stream). */
void bp_permutation(uint64_t seed, uint64_t stream, int32_t *idx, size_t n);

/* dst (cols x rows) = src (rows x cols) transposed. */
void bp_transpose(const float *src, int rows, int cols, float *dst);

#endif
