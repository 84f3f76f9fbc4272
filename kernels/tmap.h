/* The element formula of the backend op tmap (include/biopp/backend.h),
 * shared by the CPU loop and kernels/tmap.cu. */
#ifndef BIOPP_KERNELS_TMAP_H
#define BIOPP_KERNELS_TMAP_H

#include "biopp/backend.h"
#include "kernels/hd.h"

/* Y[j][i] from x = X[i][j] and m = M[j][i] (has_m = 0: no M). */
BP_HD float bp_tmap_elem(bp_tmap kind, float alpha, float x, float m, int has_m)
{
    if (kind == BP_TMAP_COPY) return alpha * x;
    float s = x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : 0.0f;
    return alpha * (has_m ? fabsf(m) : 1.0f) * s;
}

#endif
