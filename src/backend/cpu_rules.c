/* CPU ops tmap and fill_random (include/biopp/backend.h): loops over the
 * formulas of kernels/tmap.h and kernels/rng_draw.h, the words from the
 * host Philox-4x32-10 of kernels/philox.h. */
#include "cpu_rules.h"

#include "kernels/rng_draw.h"
#include "kernels/tmap.h"

bp_status bp_cpu_tmap(bp_backend *be, int R, int rows, int cols, bp_tmap kind, float alpha,
                      const float *X, const float *M, float *Y)
{
    size_t per_run = (size_t)rows * cols;
    for (int r = 0; r < R; r++) {
        const float *x = X + r * per_run, *m = M ? M + r * per_run : NULL;
        float *y = Y + r * per_run;
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < rows; i++) {
                size_t o = (size_t)j * rows + i;
                y[o] = bp_tmap_elem(kind, alpha, x[(size_t)i * cols + j], m ? m[o] : 0.0f,
                                    m != NULL);
            }
    }
    return BP_OK;
}

bp_status bp_cpu_fill_random(bp_backend *be, int R, size_t n, bp_dist dist, float a, float b,
                             const uint64_t *seeds, uint64_t stream, const uint64_t *step,
                             float *dst)
{
    for (int r = 0; r < R; r++) {
        float *d = dst + (size_t)r * n;
        for (size_t i = 0; i < n; i += 4) {
            bp_philox_ctr c = bp_philox_block(seeds[r], stream, bp_draw_block(*step, i));
            float out[4];
            bp_draw_transform(c.v, dist, a, b, out);
            for (size_t j = 0; j < 4 && i + j < n; j++) d[i + j] = out[j];
        }
    }
    return BP_OK;
}
