#include "biopp/rng.h"

#include "kernels/philox.h"

void bp_uniform_fill(uint64_t seed, uint64_t stream, float bound, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i += 4) {
        bp_philox_ctr c = bp_philox_block(seed, stream, i / 4);
        for (size_t j = 0; j < 4 && i + j < n; j++)
            dst[i + j] = bound * (2.0f * bp_u32_to_unit(c.v[j]) - 1.0f);
    }
}

void bp_permutation(uint64_t seed, uint64_t stream, int32_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    for (size_t i = n; i > 1; i--) {
        /* j uniform in [0, i): multiply-shift avoids modulo's bias pattern. */
        uint32_t u = bp_philox_u32(seed, stream, n - i);
        size_t j = (size_t)(((uint64_t)u * i) >> 32);
        int32_t tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
}

void bp_transpose(const float *src, int rows, int cols, float *dst)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) dst[(size_t)j * rows + i] = src[(size_t)i * cols + j];
}
