/* Readable shorthands over the backend's GEMM: the name says which operand
 * is transposed, so a rule reads like its equation, e.g.
 * `H_l = H_{l-1} W_l^T` is gemm_nt(be, R, B, n_l, n_{l-1}, 1, H_prev, W_l, H_l). */
#ifndef BIOPP_OPS_H
#define BIOPP_OPS_H

#include "biopp/backend.h"

/* C = alpha * A B^T (C m x n, A m x k, B n x k) */
static inline bp_status gemm_nt(bp_backend *be, int R, int m, int n, int k, float alpha,
                                const float *A, const float *B, float *C)
{
    return be->ops->gemm(be, R, BP_NO_TRANS, BP_TRANS, m, n, k, alpha, A, 0, B, 0.0f, C);
}

/* C = alpha * A^T B (C m x n, A k x m, B k x n) */
static inline bp_status gemm_tn(bp_backend *be, int R, int m, int n, int k, float alpha,
                                const float *A, const float *B, float *C)
{
    return be->ops->gemm(be, R, BP_TRANS, BP_NO_TRANS, m, n, k, alpha, A, 0, B, 0.0f, C);
}

/* C = alpha * A B (C m x n, A m x k, B k x n) */
static inline bp_status gemm_nn(bp_backend *be, int R, int m, int n, int k, float alpha,
                                const float *A, const float *B, float *C)
{
    return be->ops->gemm(be, R, BP_NO_TRANS, BP_NO_TRANS, m, n, k, alpha, A, 0, B, 0.0f, C);
}

#define BP_TRY(expr)                                                                   \
    do {                                                                               \
        bp_status bp_try_rc_ = (expr);                                                 \
        if (bp_try_rc_) return bp_try_rc_;                                             \
    } while (0)

#endif
