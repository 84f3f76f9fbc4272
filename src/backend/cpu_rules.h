/* The CPU backend's ops for the sign-symmetry, Kolen-Pollack and weight
 * mirror rules (tmap, fill_random), kept apart from cpu.c. */
#ifndef BIOPP_CPU_RULES_H
#define BIOPP_CPU_RULES_H

#include "biopp/backend.h"

bp_status bp_cpu_tmap(bp_backend *be, int R, int rows, int cols, bp_tmap kind, float alpha,
                      const float *X, const float *M, float *Y);
bp_status bp_cpu_fill_random(bp_backend *be, int R, size_t n, bp_dist dist, float a, float b,
                             const uint64_t *seeds, uint64_t stream, const uint64_t *step,
                             float *dst);

#endif
