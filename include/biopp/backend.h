/* The backend interface: everything the training loop and the learning rules
 * ask of a compute device. Two implementations: CPU (OpenBLAS) and CUDA
 * (cuBLAS + kernels/). The rules and the loop are written once against it.
 *
 * Conventions
 * - Every tensor has a run dimension: R runs that differ only in seed are
 *   trained in lockstep. A tensor of shape rows x cols is stored as R packed
 *   row-major matrices, run r at offset r*rows*cols. A solo run is R = 1.
 * - Pointers are backend memory (host memory for CPU, device memory for
 *   CUDA). Callers never dereference them; they use upload/download.
 * - Every operation returns BP_OK or an error code; the message is in
 *   bp_backend_error(be). Operations may be asynchronous: errors of a
 *   launched kernel can surface at the next sync.
 * - Activations are batch-major: H is B x n (one sample per row).
 * - Per-run scalar outputs (losses, error counts) are written to out[r],
 *   r < R, never accumulated, so results do not depend on timing. */
#ifndef BIOPP_BACKEND_H
#define BIOPP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "biopp/config.h"
#include "biopp/error.h"

typedef struct bp_backend bp_backend;

typedef enum { BP_NO_TRANS = 0, BP_TRANS = 1 } bp_trans;

/* Adam at step t, as torch.optim.Adam computes it:
 * p -= step_size * m / (sqrt(v) / sqrt_bias_corr2 + eps),
 * step_size = lr / (1 - beta1^t), sqrt_bias_corr2 = sqrt(1 - beta2^t). */
typedef struct {
    float beta1, beta2, eps;
    float step_size, sqrt_bias_corr2;
} bp_adam_hyper;

/* Transposing maps (op tmap): Y (cols x rows) from X (rows x cols). */
typedef enum {
    BP_TMAP_COPY, /* Y = alpha X^T                                    (KP: dB_l = dW_l^T) */
    BP_TMAP_SIGN  /* Y = alpha |M| (.) sign(X^T), |M| = 1 when M is NULL (sign-symmetry B_l) */
} bp_tmap;

/* Distributions of fill_random. */
typedef enum {
    BP_DIST_UNIFORM, /* a + (b - a) u, u uniform in [0, 1) on a 2^-24 grid */
    BP_DIST_NORMAL   /* a + b z, z standard normal (Box-Muller) */
} bp_dist;

typedef struct bp_backend_ops {
    const char *name;
    void (*destroy)(bp_backend *be);

    /* Memory. alloc returns zeroed memory or NULL (error set). upload has
     * finished reading host_src when it returns (the caller may reuse or
     * free it at once), even though the copy itself may still be queued. */
    void *(*alloc)(bp_backend *be, size_t bytes);
    void (*release)(bp_backend *be, void *p);
    bp_status (*upload)(bp_backend *be, void *dst, const void *host_src, size_t bytes);
    bp_status (*download)(bp_backend *be, void *host_dst, const void *src, size_t bytes);
    bp_status (*copy)(bp_backend *be, void *dst, const void *src, size_t bytes);
    bp_status (*sync)(bp_backend *be);

    /* C = alpha * op(A) op(B) + beta * C, per run; C is m x n, op(A) m x k,
     * op(B) k x n, all packed row-major with run strides m*k, k*n, m*n.
     * A run stride of 0 for A (a_shared) lets all runs share one A. */
    bp_status (*gemm)(bp_backend *be, int R, bp_trans ta, bp_trans tb, int m, int n, int k,
                      float alpha, const float *A, int a_shared, const float *B, float beta,
                      float *C);

    /* h = f(a + bias) row-wise; bias is R x cols. h may equal a. */
    bp_status (*bias_act)(bp_backend *be, int R, int rows, int cols, bp_act act, const float *a,
                          const float *bias, float *h);
    /* g = g (.) f'(a), with f' expressed through the output h = f(a). */
    bp_status (*act_grad_mul)(bp_backend *be, int R, int rows, int cols, bp_act act,
                              const float *h, float *g);
    /* Output layer: yhat = sigma_y(logits), e = yhat - y (y one-hot from
     * labels, R x B int32), loss_out[r] = sum of sample losses,
     * nerr_out[r] = number of argmax errors (as float). e and yhat may be
     * NULL (evaluation). */
    bp_status (*output_error)(bp_backend *be, int R, int B, int C, bp_output kind,
                              const float *logits, const int32_t *labels, float *yhat, float *e,
                              float *loss_out, float *nerr_out);
    /* out[r][j] = alpha * sum_i x[r][i][j]  (bias gradients). */
    bp_status (*col_sum)(bp_backend *be, int R, int rows, int cols, float alpha, const float *x,
                         float *out);
    /* BDFA / BFA targets: mix: t = onehot(label) + alpha * src;
     * paper_code: t = alpha * src with the true-class entry set to 1.
     * src may be NULL when alpha == 0. */
    bp_status (*make_target)(bp_backend *be, int R, int B, int C, bp_bdfa_target mode,
                             float alpha, const int32_t *labels, const float *src, float *t);
    /* BDFA alignment: s_b = p_b . h_b; loss_out[r] = sum_b loss(s_b);
     * hs_b = dloss/ds_b * h_b  (so dloss/dU = hs^T t). */
    bp_status (*bdfa_align)(bp_backend *be, int R, int B, int n, bp_bdfa_loss kind,
                            const float *p, const float *h, float *hs, float *loss_out);
    /* BFA reconstruction: xhat = sigma_x(g) (g includes the bias), eps = xhat - x,
     * loss_out[r] = sum over batch of 1/2 ||eps||^2 (identity) or BCE (sigmoid_bce). */
    bp_status (*recon_error)(bp_backend *be, int R, int B, int n, bp_recon kind, const float *g,
                             const float *x, float *eps, float *loss_out);
    /* Alignment angles (degrees) between X and Y, per run; X is rows x cols,
     * Y the same, or stored cols x rows and read transposed (y_trans: the
     * angle of B_l against W_l^T without forming W_l^T).
     * per_row: angle_out[r] = sum over the rows i whose norms are both > 0
     *   of angle(X_i, Y_i), count_out[r] = the number of such rows;
     * otherwise: angle_out[r] = angle(vec X, vec Y), count_out[r] = 1, or
     *   0 (and angle 0) when either is zero. Dot products in double. */
    bp_status (*angle)(bp_backend *be, int R, int rows, int cols, const float *X,
                       const float *Y, int y_trans, int per_row, float *angle_out,
                       float *count_out);
    /* Minibatch gather from the resident dataset (uint8 pixels, uint8 labels):
     * x[r][i] = pixels[idx[r*idx_stride + i]] / 255, labels likewise. */
    bp_status (*gather)(bp_backend *be, int R, int B, int dim, const uint8_t *pixels,
                        const uint8_t *labels_all, const int32_t *idx, size_t idx_stride,
                        float *x, int32_t *labels);

    /* Y = tmap(X) per run (bp_tmap above); M is cols x rows like Y, or NULL;
     * sign(0) = 0. Y must not overlap X. */
    bp_status (*tmap)(bp_backend *be, int R, int rows, int cols, bp_tmap kind, float alpha,
                      const float *X, const float *M, float *Y);
    /* Per-step random numbers, a pure function of (seeds[r], stream, *step,
     * i), the same on every backend (kernels/rng_draw.h has the layout and
     * the transforms): dst[r*n + i] for r < R, i < n from Philox-4x32-10
     * with key seeds[r], 64-bit stream, block counter (*step << 32) + i/4,
     * word i % 4. seeds (R entries) and step are backend memory, so a
     * recorded step reads the step number of the step being replayed.
     * n < 2^34. */
    bp_status (*fill_random)(bp_backend *be, int R, size_t n, bp_dist dist, float a, float b,
                             const uint64_t *seeds, uint64_t stream, const uint64_t *step,
                             float *dst);

    /* Optimizer steps over n contiguous elements (a whole parameter arena).
     * Adam's hp lives in backend memory (a device pointer on CUDA): its
     * bias corrections change every step, and a recorded step must read the
     * current values, not the ones of the step it was recorded in. */
    bp_status (*adam_step)(bp_backend *be, size_t n, float *param, const float *grad, float *m,
                           float *v, const bp_adam_hyper *hp);
    bp_status (*sgd_step)(bp_backend *be, size_t n, float *param, const float *grad, float *vel,
                          float lr, float momentum);

    /* Optional (NULL: not supported): record a repeated sequence of
     * operations once and replay it, so the host stays out of the inner
     * loop (CUDA graphs). graph_begin sets *replay = 1 when a recording
     * exists: the caller then issues nothing and graph_end replays it.
     * Otherwise the caller issues the operations (recorded, or run directly
     * while warming up) and graph_end runs them. Between the two, no
     * operation may wait for the device (no download, sync or alloc).
     * graph_end returns BP_ERR_UNSUPPORTED when the recording failed and
     * nothing ran: the caller issues the operations again (graphs are then
     * off for this backend). graph_reset drops a recording. */
    /* Optional: bytes of device memory in use now (the whole device, as
     * nvidia-smi counts it) and in total. NULL for the CPU (use RSS). */
    bp_status (*memory)(bp_backend *be, size_t *used, size_t *total);

    bp_status (*graph_begin)(bp_backend *be, int *replay);
    bp_status (*graph_end)(bp_backend *be);
    void (*graph_reset)(bp_backend *be);
} bp_backend_ops;

struct bp_backend {
    const bp_backend_ops *ops;
    bp_error err;          /* message of the last failure */
    bp_device device;
    void *impl;            /* backend-private state */
    /* For the records (final.json, config.ini, summaries), set by create:
     * the backend as it runs, "cpu (OpenBLAS, 4 threads)" or "cuda (NVIDIA
     * H200, sm_90, 140 GiB)", and the device alone (the CPU's or GPU's model). */
    char label[160];
    char device_name[128];
};

/* Creates the backend named by cfg->device (threads, precision taken from
 * cfg). CUDA without a GPU, or a build without CUDA, fails with a clear
 * message. */
bp_status bp_backend_create(const bp_config *cfg, bp_backend **out, bp_error *err);
void bp_backend_destroy(bp_backend *be);

bp_status bp_backend_cpu_create(int threads, bp_backend **out, bp_error *err);
/* CPUs this process may run on (its sched_getaffinity mask: taskset, cgroups,
 * Slurm); what `threads = 0` means. At least 1. */
int bp_cpu_count(void);
/* The CPU's model name (/proc/cpuinfo), or "cpu" when unknown. */
void bp_cpu_model_name(char *buf, size_t size);
bp_status bp_backend_cuda_create(bp_precision precision, bp_backend **out, bp_error *err);

/* Copies the backend's last error into err (with a context prefix) and
 * returns its code. */
bp_status bp_backend_fail(bp_backend *be, bp_error *err, const char *context);

#endif
