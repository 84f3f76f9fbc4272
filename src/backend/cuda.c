/* The CUDA backend: cuBLAS for the GEMMs (one strided-batched call covers
 * all R runs), the kernels of kernels/ (one .cu file per operation) for the
 * rest. Everything is enqueued on one non-blocking stream; only download and
 * sync wait for it. See docs/CUDA.md.
 *
 * Errors: every CUDA and cuBLAS call is checked. A failure is recorded in
 * be->err with the operation and its sizes and the op returns BP_ERR_DEVICE
 * (BP_ERR_NOMEM when memory runs out). Errors of a kernel that fails while
 * running surface at the next download or sync. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "biopp/backend.h"
#include "kernels/cuda_kernels.h"

typedef struct {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    double *scratch; /* stage-1 partials of the per-run reductions */
    size_t scratch_n; /* doubles */
    void *blas_ws;   /* cuBLAS workspace, set once so a recording never allocates */
    /* Recording of one epoch's steps (see graph_begin in backend.h). */
    cudaGraphExec_t graph;
    int graph_calls; /* graph_begin calls so far: the first one warms up */
    int capturing;
    bp_status capture_rc; /* first failure of an op while recording, else BP_OK */
    int graphs_off;  /* BIOPP_CUDA_GRAPHS=0, or a recording failed */
} cuda_impl;

static cuda_impl *impl_of(bp_backend *be) { return (cuda_impl *)be->impl; }

/* An operation failed: if an epoch is being recorded, the recording is
 * incomplete and graph_end must discard it. Returns code. */
static bp_status op_failed(bp_backend *be, bp_status code)
{
    cuda_impl *im = impl_of(be);
    if (im && im->capturing && !im->capture_rc) im->capture_rc = code;
    return code;
}

/* 32 MiB, NVIDIA's recommendation for Hopper; a user-owned workspace keeps
 * cuBLAS from allocating inside a graph recording. */
#define BP_CUBLAS_WORKSPACE ((size_t)32 << 20)

#define BP_CUDA_TRY(expr)                                                              \
    do {                                                                               \
        bp_status bp_cuda_try_rc_ = (expr);                                            \
        if (bp_cuda_try_rc_) return bp_cuda_try_rc_;                                   \
    } while (0)

static const char *cublas_status_string(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "unknown cuBLAS status";
}

/* Records "<what> failed: <cuda error>" (what formatted from fmt) and
 * returns code; BP_OK when rc is cudaSuccess. */
static bp_status check_cuda(bp_backend *be, cudaError_t rc, bp_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bp_status check_cuda(bp_backend *be, cudaError_t rc, bp_status code, const char *fmt, ...)
{
    if (rc == cudaSuccess) return BP_OK;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return op_failed(be, bp_fail(&be->err, code, "%s failed: %s (%s)", what,
                                 cudaGetErrorString(rc), cudaGetErrorName(rc)));
}

static bp_status check_blas(bp_backend *be, cublasStatus_t rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bp_status check_blas(bp_backend *be, cublasStatus_t rc, const char *fmt, ...)
{
    if (rc == CUBLAS_STATUS_SUCCESS) return BP_OK;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return op_failed(be, bp_fail(&be->err,
                                 rc == CUBLAS_STATUS_ALLOC_FAILED ? BP_ERR_NOMEM : BP_ERR_DEVICE,
                                 "%s failed: %s", what, cublas_status_string(rc)));
}

/* ---- memory ------------------------------------------------------------ */

static void *cuda_alloc(bp_backend *be, size_t bytes)
{
    cuda_impl *im = impl_of(be);
    void *p = NULL;
    /* cudaMalloc(0) may return NULL, which callers read as failure. */
    size_t n = bytes ? bytes : 256;
    cudaError_t rc = cudaMalloc(&p, n);
    if (rc != cudaSuccess) {
        cudaGetLastError(); /* clear the (non-sticky) allocation error */
        bp_fail(&be->err, BP_ERR_NOMEM,
                "cuda: out of device memory allocating %zu bytes (cudaMalloc: %s)", bytes,
                cudaGetErrorString(rc));
        return NULL;
    }
    rc = cudaMemsetAsync(p, 0, n, im->stream);
    if (rc != cudaSuccess) {
        check_cuda(be, rc, BP_ERR_DEVICE, "cudaMemsetAsync(%zu bytes) of a new buffer", n);
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cuda_release(bp_backend *be, void *p)
{
    if (!p) return;
    /* cudaFree waits for work that may still use p. A failure here can only
     * be an earlier asynchronous error, which the next sync reports. */
    cudaError_t rc = cudaFree(p);
    if (rc != cudaSuccess) check_cuda(be, rc, BP_ERR_DEVICE, "cudaFree");
}

static bp_status cuda_upload(bp_backend *be, void *dst, const void *host_src, size_t bytes)
{
    if (!bytes) return BP_OK;
    return check_cuda(be,
                      cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice,
                                      impl_of(be)->stream),
                      BP_ERR_DEVICE, "upload: cudaMemcpyAsync(host to device, %zu bytes)", bytes);
}

static bp_status cuda_download(bp_backend *be, void *host_dst, const void *src, size_t bytes)
{
    if (!bytes) return BP_OK;
    cuda_impl *im = impl_of(be);
    bp_status rc = check_cuda(
        be, cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, im->stream),
        BP_ERR_DEVICE, "download: cudaMemcpyAsync(device to host, %zu bytes)", bytes);
    if (rc) return rc;
    return check_cuda(be, cudaStreamSynchronize(im->stream), BP_ERR_DEVICE,
                      "download: cudaStreamSynchronize after copying %zu bytes", bytes);
}

static bp_status cuda_copy(bp_backend *be, void *dst, const void *src, size_t bytes)
{
    if (!bytes) return BP_OK;
    return check_cuda(be,
                      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice,
                                      impl_of(be)->stream),
                      BP_ERR_DEVICE, "copy: cudaMemcpyAsync(device to device, %zu bytes)", bytes);
}

static bp_status cuda_sync(bp_backend *be)
{
    bp_status rc = check_cuda(be, cudaStreamSynchronize(impl_of(be)->stream), BP_ERR_DEVICE,
                              "sync: cudaStreamSynchronize");
    if (rc) return rc;
    return check_cuda(be, cudaGetLastError(), BP_ERR_DEVICE, "sync: cudaGetLastError");
}

static void cuda_graph_reset(bp_backend *be);

/* Makes the reduction scratch hold the partials of R runs. Grows rarely
 * (the first op of a larger R); the old buffer is freed only after the
 * stream has drained, since queued kernels may still read it. A recorded
 * epoch points at the old buffer, so growing drops it; while recording,
 * growing (a wait and an allocation) is not allowed and the op fails. */
static bp_status ensure_scratch(bp_backend *be, int R)
{
    cuda_impl *im = impl_of(be);
    size_t need = bp_cuda_scratch_doubles(R);
    if (need <= im->scratch_n) return BP_OK;
    if (im->capturing)
        return op_failed(be, bp_fail(&be->err, BP_ERR_UNSUPPORTED,
                                     "cuda: the reduction scratch must grow for R = %d while an "
                                     "epoch is being recorded as a CUDA graph (R changed "
                                     "between the warm-up and the recording)",
                                     R));
    bp_status rc = check_cuda(be, cudaStreamSynchronize(im->stream), BP_ERR_DEVICE,
                              "growing the reduction scratch: cudaStreamSynchronize");
    if (rc) return rc;
    double *p = NULL;
    cudaError_t crc = cudaMalloc((void **)&p, need * sizeof(double));
    if (crc != cudaSuccess) {
        cudaGetLastError();
        return bp_fail(&be->err, BP_ERR_NOMEM,
                       "cuda: out of device memory allocating %zu bytes (reduction scratch for "
                       "R = %d; cudaMalloc: %s)",
                       need * sizeof(double), R, cudaGetErrorString(crc));
    }
    if (im->scratch) {
        cuda_graph_reset(be);
        cudaFree(im->scratch);
    }
    im->scratch = p;
    im->scratch_n = need;
    return BP_OK;
}

/* ---- GEMM ---------------------------------------------------------------- */

/* Row-major C = alpha op(A) op(B) + beta C is column-major
 * C^T = alpha op(B)^T op(A)^T + beta C^T: the row-major arrays read as
 * column-major are the transposes, so cuBLAS gets (B, A) with the same
 * transpose flags, dimensions (n, m, k) and leading dimensions unchanged. */
static bp_status cuda_gemm(bp_backend *be, int R, bp_trans ta, bp_trans tb, int m, int n, int k,
                           float alpha, const float *A, int a_shared, const float *B, float beta,
                           float *C)
{
    cuda_impl *im = impl_of(be);
    if (R <= 0 || m == 0 || n == 0) return BP_OK;
    int lda = ta == BP_TRANS ? m : k;
    int ldb = tb == BP_TRANS ? k : n;
    cublasOperation_t opA = ta == BP_TRANS ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opB = tb == BP_TRANS ? CUBLAS_OP_T : CUBLAS_OP_N;
    /* cuBLAS rejects a leading dimension of 0 even when the matrix is empty. */
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (R == 1)
        return check_blas(be,
                          cublasSgemm(im->blas, opB, opA, n, m, k, &alpha, B, ldb, A, lda, &beta,
                                      C, n),
                          "cublasSgemm(m=%d, n=%d, k=%d, ta=%d, tb=%d)", m, n, k, (int)ta,
                          (int)tb);
    long long sa = a_shared ? 0 : (long long)m * k, sb = (long long)k * n,
              sc = (long long)m * n;
    return check_blas(be,
                      cublasSgemmStridedBatched(im->blas, opB, opA, n, m, k, &alpha, B, ldb, sb,
                                                A, lda, sa, &beta, C, n, sc, R),
                      "cublasSgemmStridedBatched(R=%d, m=%d, n=%d, k=%d, ta=%d, tb=%d, "
                      "a_shared=%d)",
                      R, m, n, k, (int)ta, (int)tb, a_shared);
}

/* ---- kernels --------------------------------------------------------------- */

static bp_status cuda_bias_act(bp_backend *be, int R, int rows, int cols, bp_act act,
                               const float *a, const float *bias, float *h)
{
    return check_cuda(be, bp_cuda_bias_act(impl_of(be)->stream, R, rows, cols, act, a, bias, h),
                      BP_ERR_DEVICE, "kernel bias_act(R=%d, rows=%d, cols=%d, act=%d)", R, rows,
                      cols, (int)act);
}

static bp_status cuda_act_grad_mul(bp_backend *be, int R, int rows, int cols, bp_act act,
                                   const float *h, float *g)
{
    return check_cuda(be, bp_cuda_act_grad_mul(impl_of(be)->stream, R, rows, cols, act, h, g),
                      BP_ERR_DEVICE, "kernel act_grad_mul(R=%d, rows=%d, cols=%d, act=%d)", R,
                      rows, cols, (int)act);
}

static bp_status cuda_output_error(bp_backend *be, int R, int B, int C, bp_output kind,
                                   const float *logits, const int32_t *labels, float *yhat,
                                   float *e, float *loss_out, float *nerr_out)
{
    bp_status rc = ensure_scratch(be, R);
    if (rc) return rc;
    cuda_impl *im = impl_of(be);
    return check_cuda(be,
                      bp_cuda_output_error(im->stream, R, B, C, kind, logits, labels, yhat, e,
                                           im->scratch, loss_out, nerr_out),
                      BP_ERR_DEVICE, "kernel output_error(R=%d, B=%d, C=%d, kind=%d)", R, B, C,
                      (int)kind);
}

static bp_status cuda_col_sum(bp_backend *be, int R, int rows, int cols, float alpha,
                              const float *x, float *out)
{
    return check_cuda(be, bp_cuda_col_sum(impl_of(be)->stream, R, rows, cols, alpha, x, out),
                      BP_ERR_DEVICE, "kernel col_sum(R=%d, rows=%d, cols=%d)", R, rows, cols);
}

static bp_status cuda_make_target(bp_backend *be, int R, int B, int C, bp_bdfa_target mode,
                                  float alpha, const int32_t *labels, const float *src, float *t)
{
    return check_cuda(be,
                      bp_cuda_make_target(impl_of(be)->stream, R, B, C, mode, alpha, labels, src,
                                          t),
                      BP_ERR_DEVICE, "kernel make_target(R=%d, B=%d, C=%d, mode=%d)", R, B, C,
                      (int)mode);
}

static bp_status cuda_bdfa_align(bp_backend *be, int R, int B, int n, bp_bdfa_loss kind,
                                 const float *p, const float *h, float *hs, float *loss_out)
{
    bp_status rc = ensure_scratch(be, R);
    if (rc) return rc;
    cuda_impl *im = impl_of(be);
    return check_cuda(be,
                      bp_cuda_bdfa_align(im->stream, R, B, n, kind, p, h, hs, im->scratch,
                                         loss_out),
                      BP_ERR_DEVICE, "kernel bdfa_align(R=%d, B=%d, n=%d, kind=%d)", R, B, n,
                      (int)kind);
}

static bp_status cuda_angle(bp_backend *be, int R, int rows, int cols, const float *X,
                            const float *Y, int y_trans, int per_row, float *angle_out,
                            float *count_out)
{
    bp_status rc = ensure_scratch(be, R);
    if (rc) return rc;
    cuda_impl *im = impl_of(be);
    return check_cuda(be,
                      bp_cuda_angle(im->stream, R, rows, cols, X, Y, y_trans, per_row,
                                    im->scratch, angle_out, count_out),
                      BP_ERR_DEVICE, "kernel angle(R=%d, rows=%d, cols=%d, y_trans=%d, per_row=%d)",
                      R, rows, cols, y_trans, per_row);
}

static bp_status cuda_recon_error(bp_backend *be, int R, int B, int n, bp_recon kind,
                                  const float *g, const float *x, float *eps, float *loss_out)
{
    bp_status rc = ensure_scratch(be, R);
    if (rc) return rc;
    cuda_impl *im = impl_of(be);
    return check_cuda(be,
                      bp_cuda_recon_error(im->stream, R, B, n, kind, g, x, eps, im->scratch,
                                          loss_out),
                      BP_ERR_DEVICE, "kernel recon_error(R=%d, B=%d, n=%d, kind=%d)", R, B, n,
                      (int)kind);
}

static bp_status cuda_gather(bp_backend *be, int R, int B, int dim, const uint8_t *pixels,
                             const uint8_t *labels_all, const int32_t *idx, size_t idx_stride,
                             float *x, int32_t *labels)
{
    return check_cuda(be,
                      bp_cuda_gather(impl_of(be)->stream, R, B, dim, pixels, labels_all, idx,
                                     idx_stride, x, labels),
                      BP_ERR_DEVICE, "kernel gather(R=%d, B=%d, dim=%d, idx_stride=%zu)", R, B,
                      dim, idx_stride);
}

static bp_status cuda_adam_step(bp_backend *be, size_t n, float *param, const float *grad,
                                float *m, float *v, const bp_adam_hyper *hp)
{
    return check_cuda(be, bp_cuda_adam_step(impl_of(be)->stream, n, param, grad, m, v, hp),
                      BP_ERR_DEVICE, "kernel adam_step(n=%zu)", n);
}

static bp_status cuda_sgd_step(bp_backend *be, size_t n, float *param, const float *grad,
                               float *vel, float lr, float momentum)
{
    return check_cuda(be,
                      bp_cuda_sgd_step(impl_of(be)->stream, n, param, grad, vel, lr, momentum),
                      BP_ERR_DEVICE, "kernel sgd_step(n=%zu)", n);
}

static bp_status cuda_tmap(bp_backend *be, int R, int rows, int cols, bp_tmap kind, float alpha,
                           const float *X, const float *M, float *Y)
{
    return check_cuda(be, bp_cuda_tmap(impl_of(be)->stream, R, rows, cols, kind, alpha, X, M, Y),
                      BP_ERR_DEVICE, "kernel tmap(R=%d, rows=%d, cols=%d, kind=%d)", R, rows,
                      cols, (int)kind);
}

static bp_status cuda_fill_random(bp_backend *be, int R, size_t n, bp_dist dist, float a,
                                  float b, const uint64_t *seeds, uint64_t stream,
                                  const uint64_t *step, float *dst)
{
    return check_cuda(be,
                      bp_cuda_fill_random(impl_of(be)->stream, R, n, dist, a, b, seeds, stream,
                                          step, dst),
                      BP_ERR_DEVICE, "kernel fill_random(R=%d, n=%zu, dist=%d)", R, n,
                      (int)dist);
}

static bp_status cuda_memory(bp_backend *be, size_t *used, size_t *total)
{
    size_t free_b = 0, total_b = 0;
    BP_CUDA_TRY(check_cuda(be, cudaMemGetInfo(&free_b, &total_b), BP_ERR_DEVICE,
                           "cudaMemGetInfo"));
    *used = total_b - free_b;
    *total = total_b;
    return BP_OK;
}

/* ---- graphs: record an epoch once, replay it -------------------------------- */

static void cuda_graph_reset(bp_backend *be)
{
    cuda_impl *im = impl_of(be);
    if (im->graph) cudaGraphExecDestroy(im->graph);
    im->graph = NULL;
    im->graph_calls = 0;
}

static bp_status cuda_graph_begin(bp_backend *be, int *replay)
{
    cuda_impl *im = impl_of(be);
    *replay = 0;
    if (im->graphs_off) return BP_OK;
    if (im->graph) {
        *replay = 1;
        return BP_OK;
    }
    /* The first sequence runs directly: it grows the reduction scratch and
     * lets cuBLAS pick its kernels, neither of which may happen while
     * recording. */
    if (im->graph_calls++ == 0) return BP_OK;
    cudaError_t rc = cudaStreamBeginCapture(im->stream, cudaStreamCaptureModeThreadLocal);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        im->graphs_off = 1; /* run directly from now on */
        return BP_OK;
    }
    im->capturing = 1;
    im->capture_rc = BP_OK;
    return BP_OK;
}

/* Ends a recording. If an operation failed while recording, the graph is
 * incomplete: it is discarded, nothing runs, and the op's error (already
 * in be->err and returned to the caller by that op) is returned again.
 * If recording or instantiating failed, nothing has run: graphs go off and
 * the caller issues the operations again (BP_ERR_UNSUPPORTED). */
static bp_status end_capture(bp_backend *be)
{
    cuda_impl *im = impl_of(be);
    cudaGraph_t g = NULL;
    im->capturing = 0;
    cudaError_t rc = cudaStreamEndCapture(im->stream, &g);
    if (im->capture_rc) {
        if (g) cudaGraphDestroy(g);
        cudaGetLastError(); /* an invalidated capture's error belongs to the failed op */
        im->graph_calls = 1; /* the next epoch records again */
        bp_status op_rc = im->capture_rc;
        im->capture_rc = BP_OK;
        return op_rc;
    }
    if (rc == cudaSuccess) rc = cudaGraphInstantiate(&im->graph, g, 0);
    if (g) cudaGraphDestroy(g);
    if (rc != cudaSuccess) {
        cudaGetLastError();
        im->graph = NULL;
        im->graphs_off = 1;
        return bp_fail(&be->err, BP_ERR_UNSUPPORTED,
                       "recording the epoch as a CUDA graph failed (%s); running it directly",
                       cudaGetErrorString(rc));
    }
    return BP_OK;
}

static bp_status cuda_graph_end(bp_backend *be)
{
    cuda_impl *im = impl_of(be);
    if (im->capturing) BP_CUDA_TRY(end_capture(be));
    if (!im->graph) return BP_OK; /* ran directly */
    return check_cuda(be, cudaGraphLaunch(im->graph, im->stream), BP_ERR_DEVICE,
                      "cudaGraphLaunch (one epoch of training steps)");
}

/* ---- lifetime -------------------------------------------------------------- */

static void impl_free(cuda_impl *im)
{
    if (!im) return;
    if (im->stream) cudaStreamSynchronize(im->stream);
    if (im->graph) cudaGraphExecDestroy(im->graph);
    if (im->scratch) cudaFree(im->scratch);
    if (im->blas) cublasDestroy(im->blas);
    if (im->blas_ws) cudaFree(im->blas_ws);
    if (im->stream) cudaStreamDestroy(im->stream);
    free(im);
}

static void cuda_destroy(bp_backend *be)
{
    if (!be) return;
    impl_free(impl_of(be));
    free(be);
}

static const bp_backend_ops cuda_ops = {
    .name = "cuda",
    .destroy = cuda_destroy,
    .alloc = cuda_alloc,
    .release = cuda_release,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .sync = cuda_sync,
    .gemm = cuda_gemm,
    .bias_act = cuda_bias_act,
    .act_grad_mul = cuda_act_grad_mul,
    .output_error = cuda_output_error,
    .col_sum = cuda_col_sum,
    .make_target = cuda_make_target,
    .bdfa_align = cuda_bdfa_align,
    .angle = cuda_angle,
    .recon_error = cuda_recon_error,
    .gather = cuda_gather,
    .adam_step = cuda_adam_step,
    .sgd_step = cuda_sgd_step,
    .tmap = cuda_tmap,
    .fill_random = cuda_fill_random,
    .memory = cuda_memory,
    .graph_begin = cuda_graph_begin,
    .graph_end = cuda_graph_end,
    .graph_reset = cuda_graph_reset,
};

bp_status bp_backend_cuda_create(bp_precision precision, bp_backend **out, bp_error *err)
{
    *out = NULL;
    int count = 0;
    cudaError_t crc = cudaGetDeviceCount(&count);
    if (crc != cudaSuccess) {
        cudaGetLastError();
        return bp_fail(err, BP_ERR_DEVICE,
                       "no CUDA device found (cudaGetDeviceCount: %s); use device = cpu",
                       cudaGetErrorString(crc));
    }
    if (count <= 0)
        return bp_fail(err, BP_ERR_DEVICE,
                       "no CUDA device found (cudaGetDeviceCount: 0 devices); use device = cpu");

    bp_backend *be = calloc(1, sizeof *be);
    cuda_impl *im = calloc(1, sizeof *im);
    if (!be || !im) {
        free(be);
        free(im);
        return bp_fail(err, BP_ERR_NOMEM, "cuda backend: out of host memory");
    }
    be->ops = &cuda_ops;
    be->device = BP_DEVICE_CUDA;
    be->impl = im;

    const char *step = NULL;
    cublasStatus_t brc = CUBLAS_STATUS_SUCCESS;
    if ((crc = cudaGetDevice(&im->device)) != cudaSuccess)
        step = "cudaGetDevice";
    else if ((crc = cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking)) != cudaSuccess)
        step = "cudaStreamCreateWithFlags(cudaStreamNonBlocking)";
    if (step) {
        cudaGetLastError();
        impl_free(im);
        free(be);
        return bp_fail(err, crc == cudaErrorMemoryAllocation ? BP_ERR_NOMEM : BP_ERR_DEVICE,
                       "cuda backend: %s failed: %s", step, cudaGetErrorString(crc));
    }
    cublasMath_t math = precision == BP_PREC_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH;
    if ((brc = cublasCreate(&im->blas)) != CUBLAS_STATUS_SUCCESS)
        step = "cublasCreate";
    else if ((brc = cublasSetStream(im->blas, im->stream)) != CUBLAS_STATUS_SUCCESS)
        step = "cublasSetStream";
    else if ((brc = cublasSetMathMode(im->blas, math)) != CUBLAS_STATUS_SUCCESS)
        step = "cublasSetMathMode";
    else if (cudaMalloc(&im->blas_ws, BP_CUBLAS_WORKSPACE) != cudaSuccess) {
        cudaGetLastError(); /* else the next launch check would report it */
        step = "cudaMalloc (cuBLAS workspace)", brc = CUBLAS_STATUS_ALLOC_FAILED;
    }
    else if ((brc = cublasSetWorkspace(im->blas, im->blas_ws, BP_CUBLAS_WORKSPACE)) !=
             CUBLAS_STATUS_SUCCESS)
        step = "cublasSetWorkspace";
    if (step) {
        impl_free(im);
        free(be);
        return bp_fail(err, brc == CUBLAS_STATUS_ALLOC_FAILED ? BP_ERR_NOMEM : BP_ERR_DEVICE,
                       "cuda backend: %s failed: %s", step, cublas_status_string(brc));
    }
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, im->device) == cudaSuccess) {
        snprintf(be->device_name, sizeof be->device_name, "%.127s", prop.name);
        snprintf(be->label, sizeof be->label, "cuda (%.100s, sm_%d%d, %.0f GiB)", prop.name,
                 prop.major, prop.minor, (double)prop.totalGlobalMem / (1 << 30));
    } else {
        cudaGetLastError(); /* only the records lose the name */
        snprintf(be->device_name, sizeof be->device_name, "CUDA device %d", im->device);
        snprintf(be->label, sizeof be->label, "cuda (device %d)", im->device);
    }
    const char *graphs = getenv("BIOPP_CUDA_GRAPHS");
    im->graphs_off = graphs && !strcmp(graphs, "0");
    /* Room for the reductions of up to 16 runs; grown on demand. */
    if (ensure_scratch(be, 16) != BP_OK) {
        bp_status code = be->err.code;
        bp_fail(err, code, "cuda backend: %s", be->err.msg);
        impl_free(im);
        free(be);
        return code;
    }
    *out = be;
    return BP_OK;
}
