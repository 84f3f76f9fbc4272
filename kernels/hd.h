/* Marks the elementwise formulas in kernels/ headers as callable from host C
 * and from CUDA device code, so each formula is written exactly once. */
#ifndef BIOPP_KERNELS_HD_H
#define BIOPP_KERNELS_HD_H

#ifdef __CUDACC__
#define BP_HD static inline __host__ __device__
#else
#define BP_HD static inline
#endif

#include <math.h>

#endif
