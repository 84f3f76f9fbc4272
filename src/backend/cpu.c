/* The CPU backend: GEMMs through OpenBLAS (one sgemm per run), everything
 * else as plain loops over the formulas in kernels/ headers. This is the
 * reference the CUDA backend is tested against.
 *
 * Threads: a solo run (R = 1) gives OpenBLAS all `threads`. A group
 * (R > 1) runs its runs' GEMMs in parallel on a small pool, one OpenBLAS
 * thread each: independent runs parallelise perfectly, small GEMMs do not.
 * Our elementwise loops stay single-threaded, so BLAS threads and ours never
 * compete for cores (spinning BLAS threads next to OpenMP threads made
 * steps 2-4x slower on 2 cores). Each run's GEMM is the same call either
 * way, so grouped runs equal solo runs bit for bit at threads = 1. */
#include <cblas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "biopp/backend.h"
#include "cpu_pool.h"
#include "cpu_rules.h"
#include "kernels/activation.h"
#include "kernels/angle.h"
#include "kernels/loss.h"
#include "kernels/optim.h"

typedef struct {
    int threads;      /* the user's `threads` (0 resolved by bp_cpu_count) */
    int blas_threads; /* what OpenBLAS is set to now */
    bp_pool *pool;    /* NULL when threads == 1 */
} cpu_impl;

static void set_blas_threads(cpu_impl *im, int n)
{
    if (im->blas_threads == n) return;
    openblas_set_num_threads(n);
    im->blas_threads = n;
}

static void *cpu_alloc(bp_backend *be, size_t bytes)
{
    /* 64-byte alignment keeps OpenBLAS and the vectorised loops on full
     * cache lines; calloc-like zeroing so fresh buffers are defined. */
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    if (posix_memalign(&p, 64, rounded) != 0) {
        bp_fail(&be->err, BP_ERR_NOMEM, "cpu: cannot allocate %zu bytes of host memory", bytes);
        return NULL;
    }
    memset(p, 0, rounded);
    return p;
}

static void cpu_release(bp_backend *be, void *p) { free(p); }

static bp_status cpu_copy(bp_backend *be, void *dst, const void *src, size_t bytes)
{
    if (bytes) memmove(dst, src, bytes);
    return BP_OK;
}

static bp_status cpu_sync(bp_backend *be) { return BP_OK; }

static void cpu_destroy(bp_backend *be)
{
    cpu_impl *im = be->impl;
    if (im) bp_pool_destroy(im->pool);
    free(im);
    free(be);
}

typedef struct {
    bp_trans ta, tb;
    int m, n, k;
    float alpha, beta;
    const float *A, *B;
    float *C;
    size_t sa, sb, sc;
} gemm_args;

static void gemm_run(void *arg, int r)
{
    const gemm_args *g = arg;
    cblas_sgemm(CblasRowMajor, g->ta == BP_TRANS ? CblasTrans : CblasNoTrans,
                g->tb == BP_TRANS ? CblasTrans : CblasNoTrans, g->m, g->n, g->k, g->alpha,
                g->A + r * g->sa, g->ta == BP_TRANS ? g->m : g->k, g->B + r * g->sb,
                g->tb == BP_TRANS ? g->k : g->n, g->beta, g->C + r * g->sc, g->n);
}

static bp_status cpu_gemm(bp_backend *be, int R, bp_trans ta, bp_trans tb, int m, int n, int k,
                          float alpha, const float *A, int a_shared, const float *B, float beta,
                          float *C)
{
    cpu_impl *im = be->impl;
    gemm_args g = {ta, tb, m, n, k, alpha, beta, A, B, C,
                   a_shared ? 0 : (size_t)m * k, (size_t)k * n, (size_t)m * n};
    if (R > 1 && im->pool) {
        set_blas_threads(im, 1);
        bp_pool_for(im->pool, R, gemm_run, &g);
    } else {
        set_blas_threads(im, im->threads);
        for (int r = 0; r < R; r++) gemm_run(&g, r);
    }
    return BP_OK;
}

/* glibc's libmvec has vector versions of tanhf and expf; declaring them
 * SIMD lets GCC vectorise the activation loops (scalar tanhf was ~18% of
 * a 1x800 step). Same formulas, 4 lanes at a time. */
extern float tanhf(float) __attribute__((simd("notinbranch")));
extern float expf(float) __attribute__((simd("notinbranch")));

/* The hot loops are compiled twice, for AVX2 (8 lanes, and libmvec's
 * 8-lane tanhf) and for baseline x86-64, and the loader picks one for the
 * machine. Both compute the same IEEE operations (no FMA contraction in
 * ISO C mode), so results do not change, only their speed (bench/README.md). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BP_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BP_CLONES
#endif

/* Inlined once per activation so each loop body is branch-free. */
static inline __attribute__((always_inline)) void bias_act_run(int rows, int cols, bp_act act,
                                                               const float *restrict a,
                                                               const float *restrict b,
                                                               float *h)
{
    for (int i = 0; i < rows; i++) {
        const float *ai = a + (size_t)i * cols;
        float *hi = h + (size_t)i * cols;
        for (int j = 0; j < cols; j++) hi[j] = bp_act_apply(act, ai[j] + b[j]);
    }
}

BP_CLONES static void bias_act_all(int R, int rows, int cols, bp_act act, const float *a,
                                   const float *bias, float *h)
{
    for (int r = 0; r < R; r++) {
        const float *b = bias + (size_t)r * cols;
        size_t base = (size_t)r * rows * cols;
        switch (act) {
        case BP_ACT_TANH: bias_act_run(rows, cols, BP_ACT_TANH, a + base, b, h + base); break;
        case BP_ACT_RELU: bias_act_run(rows, cols, BP_ACT_RELU, a + base, b, h + base); break;
        case BP_ACT_SIGMOID:
            bias_act_run(rows, cols, BP_ACT_SIGMOID, a + base, b, h + base);
            break;
        case BP_ACT_IDENTITY:
            bias_act_run(rows, cols, BP_ACT_IDENTITY, a + base, b, h + base);
            break;
        }
    }
}

static bp_status cpu_bias_act(bp_backend *be, int R, int rows, int cols, bp_act act,
                              const float *a, const float *bias, float *h)
{
    bias_act_all(R, rows, cols, act, a, bias, h);
    return BP_OK;
}

static inline __attribute__((always_inline)) void act_grad_run(size_t n, bp_act act,
                                                               const float *restrict h,
                                                               float *restrict g)
{
    for (size_t i = 0; i < n; i++) g[i] *= bp_act_grad_from_out(act, h[i]);
}

/* One branch-free loop per activation (the switch per element kept GCC
 * from vectorising: 111 -> 24 us for 128 x 800). */
BP_CLONES static void act_grad_all(size_t n, bp_act act, const float *h, float *g)
{
    switch (act) {
    case BP_ACT_TANH: act_grad_run(n, BP_ACT_TANH, h, g); break;
    case BP_ACT_RELU: act_grad_run(n, BP_ACT_RELU, h, g); break;
    case BP_ACT_SIGMOID: act_grad_run(n, BP_ACT_SIGMOID, h, g); break;
    case BP_ACT_IDENTITY: break;
    }
}

static bp_status cpu_act_grad_mul(bp_backend *be, int R, int rows, int cols, bp_act act,
                                  const float *h, float *g)
{
    act_grad_all((size_t)R * rows * cols, act, h, g);
    return BP_OK;
}

static bp_status cpu_output_error(bp_backend *be, int R, int B, int C, bp_output kind,
                                  const float *logits, const int32_t *labels, float *yhat,
                                  float *e, float *loss_out, float *nerr_out)
{
    for (int r = 0; r < R; r++) {
        double loss = 0.0;
        int nerr = 0;
        for (int i = 0; i < B; i++) {
            size_t row = ((size_t)r * B + i) * C;
            int label = labels[(size_t)r * B + i];
            loss += bp_output_row(kind, C, logits + row, label, yhat ? yhat + row : NULL,
                                  e ? e + row : NULL);
            nerr += bp_row_is_error(C, logits + row, label);
        }
        loss_out[r] = (float)loss;
        nerr_out[r] = (float)nerr;
    }
    return BP_OK;
}

static bp_status cpu_col_sum(bp_backend *be, int R, int rows, int cols, float alpha,
                             const float *x, float *out)
{
    for (int r = 0; r < R; r++) {
        float *o = out + (size_t)r * cols;
        const float *xr = x + (size_t)r * rows * cols;
        memset(o, 0, sizeof(float) * cols);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) o[j] += xr[(size_t)i * cols + j];
        for (int j = 0; j < cols; j++) o[j] *= alpha;
    }
    return BP_OK;
}

static bp_status cpu_make_target(bp_backend *be, int R, int B, int C, bp_bdfa_target mode,
                                 float alpha, const int32_t *labels, const float *src, float *t)
{
    for (size_t i = 0; i < (size_t)R * B; i++)
        for (int k = 0; k < C; k++) {
            float s = src ? src[i * C + k] : 0.0f;
            t[i * C + k] = bp_target_elem(mode, alpha, k, labels[i], s);
        }
    return BP_OK;
}

static bp_status cpu_bdfa_align(bp_backend *be, int R, int B, int n, bp_bdfa_loss kind,
                                const float *p, const float *h, float *hs, float *loss_out)
{
    for (int r = 0; r < R; r++) {
        double loss = 0.0;
        for (int i = 0; i < B; i++) {
            size_t row = ((size_t)r * B + i) * n;
            float s = 0.0f, dlds;
            for (int j = 0; j < n; j++) s += p[row + j] * h[row + j];
            loss += bp_bdfa_align_loss(kind, s, &dlds);
            for (int j = 0; j < n; j++) hs[row + j] = dlds * h[row + j];
        }
        loss_out[r] = (float)loss;
    }
    return BP_OK;
}

/* Dot products of row i of X with row i of Y (or of Y^T), accumulated in double. */
static void cpu_row_dots(int rows, int cols, const float *X, const float *Y, int y_trans, int i,
                         double *xy, double *xx, double *yy)
{
    for (int j = 0; j < cols; j++) {
        double x = X[(size_t)i * cols + j], y = Y[bp_angle_y_index(y_trans, rows, cols, i, j)];
        *xy += x * y;
        *xx += x * x;
        *yy += y * y;
    }
}

static bp_status cpu_angle(bp_backend *be, int R, int rows, int cols, const float *X,
                           const float *Y, int y_trans, int per_row, float *angle_out,
                           float *count_out)
{
    size_t per_run = (size_t)rows * cols;
    for (int r = 0; r < R; r++) {
        const float *x = X + r * per_run, *y = Y + r * per_run;
        double sum = 0.0, count = 0.0, xy = 0.0, xx = 0.0, yy = 0.0;
        for (int i = 0; i < rows; i++) {
            if (per_row) xy = xx = yy = 0.0;
            cpu_row_dots(rows, cols, x, y, y_trans, i, &xy, &xx, &yy);
            if (per_row && bp_angle_valid(xx, yy)) {
                sum += bp_angle_deg(xy, xx, yy);
                count += 1.0;
            }
        }
        if (!per_row && bp_angle_valid(xx, yy)) {
            sum = bp_angle_deg(xy, xx, yy);
            count = 1.0;
        }
        angle_out[r] = (float)sum;
        count_out[r] = (float)count;
    }
    return BP_OK;
}

static bp_status cpu_recon_error(bp_backend *be, int R, int B, int n, bp_recon kind,
                                 const float *g, const float *x, float *eps, float *loss_out)
{
    size_t per_run = (size_t)B * n;
    for (int r = 0; r < R; r++) {
        double loss = 0.0;
        for (size_t i = r * per_run; i < (r + 1) * per_run; i++)
            loss += bp_recon_elem(kind, g[i], x[i], &eps[i]);
        loss_out[r] = (float)loss;
    }
    return BP_OK;
}

static bp_status cpu_gather(bp_backend *be, int R, int B, int dim, const uint8_t *pixels,
                            const uint8_t *labels_all, const int32_t *idx, size_t idx_stride,
                            float *x, int32_t *labels)
{
    const float scale = 1.0f / 255.0f;
    for (int r = 0; r < R; r++)
        for (int i = 0; i < B; i++) {
            size_t s = (size_t)idx[r * idx_stride + i];
            const uint8_t *src = pixels + s * dim;
            float *dst = x + ((size_t)r * B + i) * dim;
            for (int j = 0; j < dim; j++) dst[j] = (float)src[j] * scale;
            labels[(size_t)r * B + i] = labels_all[s];
        }
    return BP_OK;
}

BP_CLONES static void adam_all(size_t n, float *restrict param, const float *restrict grad,
                               float *restrict m, float *restrict v, bp_adam_hyper h)
{
    for (size_t i = 0; i < n; i++)
        bp_adam_elem(&param[i], grad[i], &m[i], &v[i], h.beta1, h.beta2, h.step_size,
                     h.sqrt_bias_corr2, h.eps);
}

static bp_status cpu_adam_step(bp_backend *be, size_t n, float *param, const float *grad,
                               float *m, float *v, const bp_adam_hyper *hp)
{
    adam_all(n, param, grad, m, v, *hp);
    return BP_OK;
}

static bp_status cpu_sgd_step(bp_backend *be, size_t n, float *param, const float *grad,
                              float *vel, float lr, float momentum)
{
    for (size_t i = 0; i < n; i++)
        bp_sgd_elem(&param[i], grad[i], vel ? &vel[i] : NULL, lr, momentum);
    return BP_OK;
}

static const bp_backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .gemm = cpu_gemm,
    .bias_act = cpu_bias_act,
    .act_grad_mul = cpu_act_grad_mul,
    .output_error = cpu_output_error,
    .col_sum = cpu_col_sum,
    .make_target = cpu_make_target,
    .bdfa_align = cpu_bdfa_align,
    .recon_error = cpu_recon_error,
    .angle = cpu_angle,
    .gather = cpu_gather,
    .adam_step = cpu_adam_step,
    .sgd_step = cpu_sgd_step,
    .tmap = bp_cpu_tmap,
    .fill_random = bp_cpu_fill_random,
};

bp_status bp_backend_cpu_create(int threads, bp_backend **out, bp_error *err)
{
    if (threads < 0)
        return bp_fail(err, BP_ERR_ARG, "cpu backend: threads = %d must be >= 0", threads);
    bp_backend *be = calloc(1, sizeof *be);
    cpu_impl *im = calloc(1, sizeof *im);
    if (!be || !im) {
        free(be);
        free(im);
        return bp_fail(err, BP_ERR_NOMEM, "cpu backend: out of memory");
    }
    if (threads == 0) threads = bp_cpu_count();
    im->threads = threads;
    im->pool = bp_pool_create(threads); /* NULL for 1 thread: runs go serially */
    im->blas_threads = -1;
    set_blas_threads(im, threads);
    be->impl = im;
    be->ops = &cpu_ops;
    be->device = BP_DEVICE_CPU;
    snprintf(be->label, sizeof be->label, "cpu (OpenBLAS, %d thread%s)", threads,
             threads == 1 ? "" : "s");
    bp_cpu_model_name(be->device_name, sizeof be->device_name);
    *out = be;
    return BP_OK;
}
