/* cuda_emu: cuBLAS GEMMs from their documented column-major definition,
 * written without reference to biopp's row-major mapping so that it checks
 * that mapping:
 *
 *   C[i + j*ldc] = alpha * sum_l op(A)(i,l) * op(B)(l,j) + beta * C[i + j*ldc]
 *   op(X)(r,c) = X[r + c*ldX] (OP_N) or X[c + r*ldX] (OP_T),
 *   0 <= i < m, 0 <= j < n, 0 <= l < k, batch b offsets A, B, C by
 *   b*strideA, b*strideB, b*strideC; C is not read when beta == 0.
 *
 * Arguments are checked as cuBLAS does (INVALID_VALUE), and every operand's
 * extent, over all batches, must lie inside one device allocation (fatal
 * otherwise), as must the output batches not overlap. Products are summed
 * in double, so there is no float32 rounding here; with TF32 math the
 * inputs are rounded to TF32 (10 mantissa bits, nearest even) first. */
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>

#include <cublas_v2.h>

#include "internal.h"

struct cuda_emu_blas {
    cudaStream_t stream;
    cublasMath_t math;
    void *workspace;
    size_t workspace_bytes;
};

using namespace cuda_emu;

static float tf32(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) { /* finite: round the low 13 bits away */
        u += 0xfffu + ((u >> 13) & 1u);
        u &= ~0x1fffu;
    }
    memcpy(&x, &u, 4);
    return x;
}

/* Bytes the operand spans: rows x cols column-major with leading dimension
 * ld, batch copies stride apart. */
static void check_operand(const char *fn, const char *name, const void *p, int rows, int cols,
                          int ld, long long stride, int batch, size_t elem)
{
    if (rows == 0 || cols == 0 || batch == 0) return;
    if (stride < 0) fatal("%s: negative stride%s %lld", fn, name, stride);
    size_t one = ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * elem;
    size_t all = (size_t)(batch - 1) * (size_t)stride * elem + one;
    char what[128];
    snprintf(what, sizeof what, "%s operand %s (%d x %d, ld %d, stride %lld, batch %d)", fn, name,
             rows, cols, ld, stride, batch);
    check_range(p, all, what);
}

struct gemm_args {
    cublasOperation_t ta, tb;
    int m, n, k;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
    long long sa, sb, sc;
    int batch;
    bool tf32;
};

static void check_all(const char *fn, const gemm_args &g)
{
    int ar = g.ta == CUBLAS_OP_N ? g.m : g.k, ac = g.ta == CUBLAS_OP_N ? g.k : g.m;
    int br = g.tb == CUBLAS_OP_N ? g.k : g.n, bc = g.tb == CUBLAS_OP_N ? g.n : g.k;
    if (g.k > 0 && g.alpha != 0.0f) {
        check_operand(fn, "A", g.A, ar, ac, g.lda, g.sa, g.batch, 4);
        check_operand(fn, "B", g.B, br, bc, g.ldb, g.sb, g.batch, 4);
    }
    check_operand(fn, "C", g.C, g.m, g.n, g.ldc, g.sc, g.batch, 4);
    if (g.batch > 1 && g.m > 0 && g.n > 0 &&
        (unsigned long long)g.sc < (unsigned long long)(g.n - 1) * g.ldc + g.m)
        fatal("%s: the batches of C overlap (stride %lld < extent of one %d x %d block, ld %d)", fn,
              g.sc, g.m, g.n, g.ldc);
}

static void run(const gemm_args &g)
{
    for (int b = 0; b < g.batch; b++) {
        const float *A = g.A + (size_t)b * g.sa, *B = g.B + (size_t)b * g.sb;
        float *C = g.C + (size_t)b * g.sc;
        for (int j = 0; j < g.n; j++)
            for (int i = 0; i < g.m; i++) {
                double s = 0.0;
                if (g.alpha != 0.0f)
                    for (int l = 0; l < g.k; l++) {
                        float a = g.ta == CUBLAS_OP_N ? A[i + (size_t)l * g.lda]
                                                      : A[l + (size_t)i * g.lda];
                        float x = g.tb == CUBLAS_OP_N ? B[l + (size_t)j * g.ldb]
                                                      : B[j + (size_t)l * g.ldb];
                        if (g.tf32) a = tf32(a), x = tf32(x);
                        s += (double)a * x;
                    }
                float *c = &C[i + (size_t)j * g.ldc];
                double out = (double)g.alpha * s;
                if (g.beta != 0.0f) out += (double)g.beta * *c;
                *c = (float)out;
            }
    }
}

static cublasStatus_t gemm(const char *fn, cublasHandle_t h, gemm_args g)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((g.ta != CUBLAS_OP_N && g.ta != CUBLAS_OP_T) ||
        (g.tb != CUBLAS_OP_N && g.tb != CUBLAS_OP_T))
        return CUBLAS_STATUS_INVALID_VALUE;
    int ar = g.ta == CUBLAS_OP_N ? g.m : g.k, br = g.tb == CUBLAS_OP_N ? g.k : g.n;
    if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0 || g.lda < (ar > 1 ? ar : 1) ||
        g.ldb < (br > 1 ? br : 1) || g.ldc < (g.m > 1 ? g.m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (g.m == 0 || g.n == 0 || g.batch == 0) return CUBLAS_STATUS_SUCCESS;
    if (stream_capturing(h->stream) && !h->workspace)
        fatal("%s while capturing, without a workspace set by cublasSetWorkspace (cuBLAS may "
              "allocate one during the capture)",
              fn);
    check_all(fn, g);
    enqueue(
        h->stream,
        [fn, g] {
            check_all(fn, g);
            run(g);
            grids_run++;
        },
        fn);
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" {

cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    if (capture_active()) fatal("cublasCreate while a stream is being captured");
    *h = new cuda_emu_blas{nullptr, CUBLAS_DEFAULT_MATH, nullptr, 0};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream(cublasHandle_t h, cudaStream_t *s)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    *s = h->stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_TENSOR_OP_MATH &&
        mode != CUBLAS_PEDANTIC_MATH && mode != CUBLAS_TF32_TENSOR_OP_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *mode)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    *mode = h->math;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *workspace, size_t bytes)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (bytes && !workspace) return CUBLAS_STATUS_INVALID_VALUE;
    if (bytes) check_range(workspace, bytes, "cublasSetWorkspace");
    if ((uintptr_t)workspace % 256) return CUBLAS_STATUS_INVALID_VALUE;
    h->workspace = workspace;
    h->workspace_bytes = bytes;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float *alpha, const float *A, int lda,
                                         long long strideA, const float *B, int ldb,
                                         long long strideB, const float *beta, float *C, int ldc,
                                         long long strideC, int batchCount)
{
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    /* host pointer mode: the scalars are read now */
    gemm_args g = {
        ta,    tb,      m,       n,       k,          *alpha,
        *beta, A,       B,       C,       lda,        ldb,
        ldc,   strideA, strideB, strideC, batchCount, h && h->math == CUBLAS_TF32_TENSOR_OP_MATH};
    return gemm("cublasSgemmStridedBatched", h, g);
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *A, int lda,
                           const float *B, int ldb, const float *beta, float *C, int ldc)
{
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    gemm_args g = {ta,    tb, m, n, k,   *alpha,
                   *beta, A,  B, C, lda, ldb,
                   ldc,   0,  0, 0, 1,   h && h->math == CUBLAS_TF32_TENSOR_OP_MATH};
    return gemm("cublasSgemm", h, g);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta,
                                          cublasOperation_t tb, int m, int n, int k,
                                          const void *alpha, const void *A, cudaDataType Atype,
                                          int lda, long long strideA, const void *B,
                                          cudaDataType Btype, int ldb, long long strideB,
                                          const void *beta, void *C, cudaDataType Ctype, int ldc,
                                          long long strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    if (Atype != CUDA_R_32F || Btype != CUDA_R_32F || Ctype != CUDA_R_32F)
        return CUBLAS_STATUS_NOT_SUPPORTED; /* the emulator has fp32 only */
    bool t = computeType == CUBLAS_COMPUTE_32F_FAST_TF32 ||
             (computeType == CUBLAS_COMPUTE_32F && h && h->math == CUBLAS_TF32_TENSOR_OP_MATH);
    if (computeType != CUBLAS_COMPUTE_32F && computeType != CUBLAS_COMPUTE_32F_FAST_TF32 &&
        computeType != CUBLAS_COMPUTE_32F_PEDANTIC)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    gemm_args g = {ta,
                   tb,
                   m,
                   n,
                   k,
                   *(const float *)alpha,
                   *(const float *)beta,
                   (const float *)A,
                   (const float *)B,
                   (float *)C,
                   lda,
                   ldb,
                   ldc,
                   strideA,
                   strideB,
                   strideC,
                   batchCount,
                   t};
    return gemm("cublasGemmStridedBatchedEx", h, g);
}

} /* extern "C" */
