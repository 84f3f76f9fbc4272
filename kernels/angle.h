/* The angle between two vectors from their three dot products, in degrees:
 * the alignment diagnostics (METHODS.md, "Diagnostics"). Both backends sum
 * x.y, x.x and y.y (in double) and call this, so they agree up to the order
 * of the sums. A vector of norm 0 has no direction: no angle (valid = 0). */
#ifndef BIOPP_KERNELS_ANGLE_H
#define BIOPP_KERNELS_ANGLE_H

#include "kernels/hd.h"

BP_HD int bp_angle_valid(double xx, double yy)
{
    return xx > 0.0 && yy > 0.0;
}

/* Degrees in [0, 180]; the cosine is clamped against rounding past +-1. */
BP_HD double bp_angle_deg(double xy, double xx, double yy)
{
    double c = xy / (sqrt(xx) * sqrt(yy));
    c = c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
    return acos(c) * (180.0 / 3.14159265358979323846);
}

/* Element (i, j) of the second operand: Y[i][j], or Y^T[i][j] = Y[j][i] when
 * Y is stored cols x rows (y_trans). */
BP_HD size_t bp_angle_y_index(int y_trans, int rows, int cols, int i, int j)
{
    return y_trans ? (size_t)j * rows + i : (size_t)i * cols + j;
}

#endif
