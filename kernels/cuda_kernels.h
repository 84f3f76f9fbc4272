/* Launchers of the CUDA kernels in kernels/ (one .cu file each), callable from C
 * (src/backend/cuda.c). Each enqueues its kernel(s) on `stream` and returns
 * the result of cudaGetLastError() after the launch (launch-configuration
 * errors; errors while the kernel runs surface at the next synchronisation).
 * Shapes and layouts are those of include/biopp/backend.h: R runs packed,
 * row-major. Empty inputs launch nothing and return cudaSuccess.
 *
 * Reductions (per-run losses and error counts) never use atomics: stage 1
 * writes one double partial per block into `scratch` in a fixed layout, and
 * bp_cuda_reduce_runs sums them per run in a fixed order, so every result
 * is bitwise reproducible. `scratch` must hold bp_cuda_scratch_doubles(R)
 * doubles; the backend allocates it once and grows it when R grows. */
#ifndef BIOPP_KERNELS_CUDA_KERNELS_H
#define BIOPP_KERNELS_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "biopp/backend.h"
#include "biopp/config.h"

#define BP_CUDA_BLOCK 256       /* threads per block of every kernel */
#define BP_CUDA_MAX_PARTIALS 64 /* stage-1 blocks per run of a reduction */
#define BP_CUDA_MAX_SLOTS 3     /* per-run sums one reduction produces (angle: 3) */

static inline size_t bp_cuda_scratch_doubles(int R)
{
    return (size_t)(R > 0 ? R : 1) * BP_CUDA_MAX_PARTIALS * BP_CUDA_MAX_SLOTS;
}

#ifdef __cplusplus
extern "C" {
#endif

/* Stage 2 of every reduction: partials laid out [slot][run][block] with
 * nblk blocks per run; out_s[r] = (float) sum_b partials[s][r][b] for
 * s < nslots (out1 unused when nslots == 1). One block per run. */
cudaError_t bp_cuda_reduce_runs(cudaStream_t stream, const double *partials, int R, int nblk,
                                int nslots, float *out0, float *out1);

/* bias_act.cu */
cudaError_t bp_cuda_bias_act(cudaStream_t stream, int R, int rows, int cols, bp_act act,
                             const float *a, const float *bias, float *h);
cudaError_t bp_cuda_act_grad_mul(cudaStream_t stream, int R, int rows, int cols, bp_act act,
                                 const float *h, float *g);

/* output_error.cu */
cudaError_t bp_cuda_output_error(cudaStream_t stream, int R, int B, int C, bp_output kind,
                                 const float *logits, const int32_t *labels, float *yhat,
                                 float *e, double *scratch, float *loss_out, float *nerr_out);

/* col_sum.cu */
cudaError_t bp_cuda_col_sum(cudaStream_t stream, int R, int rows, int cols, float alpha,
                            const float *x, float *out);

/* make_target.cu */
cudaError_t bp_cuda_make_target(cudaStream_t stream, int R, int B, int C, bp_bdfa_target mode,
                                float alpha, const int32_t *labels, const float *src, float *t);

/* bdfa_align.cu */
cudaError_t bp_cuda_bdfa_align(cudaStream_t stream, int R, int B, int n, bp_bdfa_loss kind,
                               const float *p, const float *h, float *hs, double *scratch,
                               float *loss_out);

/* recon_error.cu */
cudaError_t bp_cuda_recon_error(cudaStream_t stream, int R, int B, int n, bp_recon kind,
                                const float *g, const float *x, float *eps, double *scratch,
                                float *loss_out);

/* angle.cu: the backend op `angle` (include/biopp/backend.h). */
cudaError_t bp_cuda_angle(cudaStream_t stream, int R, int rows, int cols, const float *X,
                          const float *Y, int y_trans, int per_row, double *scratch,
                          float *angle_out, float *count_out);

/* gather.cu */
cudaError_t bp_cuda_gather(cudaStream_t stream, int R, int B, int dim, const uint8_t *pixels,
                           const uint8_t *labels_all, const int32_t *idx, size_t idx_stride,
                           float *x, int32_t *labels);

/* optim.cu */
cudaError_t bp_cuda_adam_step(cudaStream_t stream, size_t n, float *param, const float *grad,
                              float *m, float *v, const bp_adam_hyper *hp);
cudaError_t bp_cuda_sgd_step(cudaStream_t stream, size_t n, float *param, const float *grad,
                             float *vel, float lr, float momentum);

/* tmap.cu: the backend op tmap. */
cudaError_t bp_cuda_tmap(cudaStream_t stream, int R, int rows, int cols, bp_tmap kind,
                         float alpha, const float *X, const float *M, float *Y);

/* rng_draw.cu: the backend op fill_random, from cuRAND's Philox-4x32-10
 * (the contract is in that file's header comment). */
cudaError_t bp_cuda_fill_random(cudaStream_t stream, int R, size_t n, bp_dist dist, float a,
                                float b, const uint64_t *seeds, uint64_t rng_stream,
                                const uint64_t *step, float *dst);

#ifdef __cplusplus
}
#endif

#endif
