/* The CUDA backend against the CPU reference (src/backend/cpu.c).
 *
 * Without a usable GPU (or in a CUDA=0 build) every test skips with the
 * backend's own message ("no CUDA device: no CUDA device found
 * (cudaGetDeviceCount: ...)"), never fails or crashes.
 *
 * With a GPU:
 * - each backend op runs on random inputs (R = 3 runs, odd sizes such as
 *   37 x 53) on both backends and the results are compared with the
 *   tolerance stated at each test: elementwise ops to a few float32 ulps
 *   (rtol 1e-5), GEMMs relative to sum_k |a_ik b_kj| (the scale of float32
 *   summation error), gather and error counts exactly;
 * - each of the five rules trains 2 epochs (50 steps of 32 each) with two
 *   hidden layers and two runs on both devices, and the parameters and
 *   epoch metrics are compared (tolerances explained at train_compare);
 * - a TF32 run is compared to the fp32 CPU run with a looser tolerance.
 *
 * Self-contained (no tests/helpers.c), since the GPU test binary is linked
 * from tests/gpu/test_*.c only. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/backend.h"
#include "biopp/net.h"
#include "biopp/train.h"

#define NR 3    /* runs in the op tests */
#define ROWS 37
#define COLS 53

/* ---- backends -------------------------------------------------------------- */

/* Skips the calling test when no CUDA device is usable: the create call
 * failed with "no CUDA device found" (BP_ERR_DEVICE) or the build has no
 * CUDA (BP_ERR_UNSUPPORTED). Any other failure is a test failure. */
static void skip_unless_ok(bp_status rc, const bp_error *err)
{
    if (rc == BP_OK) return;
    if (rc == BP_ERR_UNSUPPORTED || (rc == BP_ERR_DEVICE && strstr(err->msg, "no CUDA device")))
        cr_skip_test("no CUDA device: %s", err->msg);
    cr_assert_fail("creating the CUDA backend failed: %s", err->msg);
}

/* Criterion prints skip messages only with --verbose: say it once at the
 * end so that a plain `make test-gpu` on a machine without a GPU does not
 * look like a pass. Runs in the runner process after every test. */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    if (stats->tests_skipped == 0) return;
    bp_backend *be = NULL;
    bp_error err = {0};
    if (bp_backend_cuda_create(BP_PREC_FP32, &be, &err) == BP_OK) {
        bp_backend_destroy(be);
        return;
    }
    fprintf(stderr, "test_gpu: %zu of %zu tests skipped: no CUDA device: %s\n",
            stats->tests_skipped, stats->nb_tests, err.msg);
}

static bp_backend *open_cuda(bp_precision prec)
{
    bp_backend *be = NULL;
    bp_error err = {0};
    skip_unless_ok(bp_backend_cuda_create(prec, &be, &err), &err);
    return be;
}

static bp_backend *open_cpu(void)
{
    bp_backend *be = NULL;
    bp_error err = {0};
    cr_assert_eq(bp_backend_cpu_create(1, &be, &err), BP_OK, "%s", err.msg);
    return be;
}

/* One buffer with the same content on both backends. */
typedef struct {
    void *c, *g;
    size_t bytes;
} twin;

typedef struct {
    bp_backend *cpu, *gpu;
} pair;

static pair open_pair(bp_precision prec)
{
    pair p;
    p.gpu = open_cuda(prec); /* first: skips before anything else happens */
    p.cpu = open_cpu();
    return p;
}

static void close_pair(pair *p)
{
    bp_backend_destroy(p->cpu);
    bp_backend_destroy(p->gpu);
}

static void *alloc_on(bp_backend *be, size_t bytes)
{
    void *d = be->ops->alloc(be, bytes);
    cr_assert_not_null(d, "%s: alloc(%zu): %s", be->ops->name, bytes, be->err.msg);
    return d;
}

/* host may be NULL: zeroed buffers. */
static twin twin_new(pair *p, const void *host, size_t bytes)
{
    twin t = {alloc_on(p->cpu, bytes), alloc_on(p->gpu, bytes), bytes};
    if (host) {
        cr_assert_eq(p->cpu->ops->upload(p->cpu, t.c, host, bytes), BP_OK, "%s", p->cpu->err.msg);
        cr_assert_eq(p->gpu->ops->upload(p->gpu, t.g, host, bytes), BP_OK, "%s", p->gpu->err.msg);
    }
    return t;
}

static void twin_free(pair *p, twin *t)
{
    p->cpu->ops->release(p->cpu, t->c);
    p->gpu->ops->release(p->gpu, t->g);
}

static void *download(bp_backend *be, const void *d, size_t bytes)
{
    void *h = malloc(bytes ? bytes : 1);
    cr_assert_not_null(h);
    cr_assert_eq(be->ops->download(be, h, d, bytes), BP_OK, "%s: download: %s", be->ops->name,
                 be->err.msg);
    return h;
}

/* Downloads a twin from both backends and checks
 * |gpu - cpu| <= atol + rtol |cpu| element by element (NaN fails). */
static void expect_close(pair *p, const twin *t, size_t n, double atol, double rtol,
                         const char *what)
{
    cr_assert(t->bytes >= n * sizeof(float));
    float *c = download(p->cpu, t->c, n * sizeof(float));
    float *g = download(p->gpu, t->g, n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)g[i] - c[i]);
        if (!(d <= atol + rtol * fabs(c[i])))
            cr_assert_fail("%s[%zu]: cuda %.9g, cpu %.9g (|diff| %.3g > atol %.1g + rtol %.1g "
                           "|cpu|)",
                           what, i, g[i], c[i], d, atol, rtol);
    }
    free(c);
    free(g);
}

static void expect_equal_bytes(pair *p, const twin *t, const char *what)
{
    uint8_t *c = download(p->cpu, t->c, t->bytes);
    uint8_t *g = download(p->gpu, t->g, t->bytes);
    for (size_t i = 0; i < t->bytes; i++)
        if (c[i] != g[i])
            cr_assert_fail("%s: byte %zu differs (cuda %u, cpu %u)", what, i, g[i], c[i]);
    free(c);
    free(g);
}

/* ---- random inputs ---------------------------------------------------------- */

static uint32_t rng_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Uniform in [lo, hi). */
static float *rand_floats(size_t n, float lo, float hi, uint32_t seed)
{
    float *x = malloc(n * sizeof *x);
    cr_assert_not_null(x);
    uint32_t s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)((rng_next(&s) >> 8) * (1.0 / 16777216.0));
    return x;
}

static int32_t *rand_ints(size_t n, int bound, uint32_t seed)
{
    int32_t *x = malloc(n * sizeof *x);
    cr_assert_not_null(x);
    uint32_t s = seed * 2654435761u + 7u;
    for (size_t i = 0; i < n; i++) x[i] = (int32_t)(rng_next(&s) % (uint32_t)bound);
    return x;
}

/* ---- memory ------------------------------------------------------------------- */

Test(cuda, memory)
{
    pair p = open_pair(BP_PREC_FP32);
    bp_backend *be = p.gpu;
    size_t n = 1001;
    float *z = alloc_on(be, n * sizeof(float));
    float *h = download(be, z, n * sizeof(float));
    for (size_t i = 0; i < n; i++) cr_assert_eq(h[i], 0.0f, "alloc is not zeroed at %zu", i);
    free(h);

    float *x = rand_floats(n, -1, 1, 1);
    float *a = alloc_on(be, n * sizeof(float));
    cr_assert_eq(be->ops->upload(be, a, x, n * sizeof(float)), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->copy(be, z, a, n * sizeof(float)), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->sync(be), BP_OK, "%s", be->err.msg);
    h = download(be, z, n * sizeof(float));
    cr_assert_eq(memcmp(h, x, n * sizeof(float)), 0, "upload + copy + download changed data");
    free(h);

    /* An impossible allocation fails cleanly and leaves the backend usable. */
    void *huge = be->ops->alloc(be, (size_t)1 << 50);
    cr_assert_null(huge);
    cr_assert_eq(be->err.code, BP_ERR_NOMEM);
    cr_assert(strstr(be->err.msg, "out of device memory allocating"), "message: %s", be->err.msg);
    cr_assert_eq(be->ops->sync(be), BP_OK, "backend unusable after a failed alloc: %s",
                 be->err.msg);
    be->ops->release(be, a);
    be->ops->release(be, z);
    free(x);
    close_pair(&p);
}

/* ---- GEMM ------------------------------------------------------------------ */

/* Element (i, p) of op(A) and (p, j) of op(B) of run r, row-major as in
 * backend.h. */
static float opa(const float *A, int r, int ta, int shared, int m, int k, int i, int q)
{
    const float *Ar = A + (shared ? 0 : (size_t)r * m * k);
    return ta ? Ar[(size_t)q * m + i] : Ar[(size_t)i * k + q];
}

static float opb(const float *B, int r, int tb, int k, int n, int q, int j)
{
    const float *Br = B + (size_t)r * k * n;
    return tb ? Br[(size_t)j * k + q] : Br[(size_t)q * n + j];
}

/* Compares C = alpha op(A) op(B) + beta C on both backends. The allowed
 * error of each element is rtol * (|alpha| sum_q |a_iq b_qj| + |beta c_ij|):
 * float32 summation error scales with that sum, not with the (possibly
 * cancelling) result. */
static void check_gemm(pair *p, int R, int ta, int tb, int a_shared, int m, int n, int k,
                       double rtol)
{
    const float alpha = 0.7f, beta = 0.3f;
    size_t na = (size_t)(a_shared ? 1 : R) * m * k, nb = (size_t)R * k * n, nc = (size_t)R * m * n;
    float *A = rand_floats(na, -1, 1, 11 + m), *B = rand_floats(nb, -1, 1, 12 + n),
          *C = rand_floats(nc, -1, 1, 13 + k);
    twin tA = twin_new(p, A, na * sizeof(float)), tB = twin_new(p, B, nb * sizeof(float)),
         tC = twin_new(p, C, nc * sizeof(float));
    bp_trans TA = ta ? BP_TRANS : BP_NO_TRANS, TB = tb ? BP_TRANS : BP_NO_TRANS;
    cr_assert_eq(p->cpu->ops->gemm(p->cpu, R, TA, TB, m, n, k, alpha, tA.c, a_shared, tB.c, beta,
                                   tC.c),
                 BP_OK);
    cr_assert_eq(p->gpu->ops->gemm(p->gpu, R, TA, TB, m, n, k, alpha, tA.g, a_shared, tB.g, beta,
                                   tC.g),
                 BP_OK, "%s", p->gpu->err.msg);
    float *c = download(p->cpu, tC.c, nc * sizeof(float));
    float *g = download(p->gpu, tC.g, nc * sizeof(float));
    for (int r = 0; r < R; r++)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double scale = fabs(beta * C[((size_t)r * m + i) * n + j]);
                for (int q = 0; q < k; q++)
                    scale += fabs(alpha * opa(A, r, ta, a_shared, m, k, i, q) *
                                  opb(B, r, tb, k, n, q, j));
                size_t at = ((size_t)r * m + i) * n + j;
                double d = fabs((double)g[at] - c[at]);
                if (!(d <= rtol * scale + 1e-30))
                    cr_assert_fail("gemm R=%d ta=%d tb=%d a_shared=%d m=%d n=%d k=%d: C[%d][%d][%d] "
                                   "cuda %.9g cpu %.9g, |diff| %.3g > %.1g * %.4g",
                                   R, ta, tb, a_shared, m, n, k, r, i, j, g[at], c[at], d, rtol,
                                   scale);
            }
    free(c);
    free(g);
    free(A);
    free(B);
    free(C);
    twin_free(p, &tA);
    twin_free(p, &tB);
    twin_free(p, &tC);
}

Test(cuda, gemm_all_transposes)
{
    pair p = open_pair(BP_PREC_FP32);
    for (int R = 1; R <= NR; R += NR - 1) /* R = 1 (cublasSgemm), R = 3 (strided batched) */
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int shared = 0; shared < 2; shared++)
                    check_gemm(&p, R, ta, tb, shared, ROWS, COLS, 41, 1e-5);
    close_pair(&p);
}

Test(cuda, gemm_long_k)
{
    /* k = 800 (the paper's widths): float32 error of a length-800 sum stays
     * far below 1e-4 of sum |terms| whatever order cuBLAS sums in. */
    pair p = open_pair(BP_PREC_FP32);
    check_gemm(&p, NR, 0, 1, 0, ROWS, COLS, 800, 1e-4);
    check_gemm(&p, NR, 1, 0, 0, ROWS, COLS, 800, 1e-4);
    close_pair(&p);
}

Test(cuda, gemm_tf32)
{
    /* TF32 rounds both inputs to a 10-bit mantissa (relative error 2^-11
     * each), so each product is off by up to ~1e-3 of its size: allow 4e-3
     * of sum |terms|. */
    pair p = open_pair(BP_PREC_TF32);
    check_gemm(&p, NR, 0, 1, 0, ROWS, COLS, 800, 4e-3);
    check_gemm(&p, NR, 0, 0, 1, ROWS, COLS, 784, 4e-3);
    close_pair(&p);
}

Test(cuda, gemm_error_is_reported)
{
    pair p = open_pair(BP_PREC_FP32);
    bp_backend *be = p.gpu;
    float *A = alloc_on(be, 64 * sizeof(float)), *B = alloc_on(be, 64 * sizeof(float)),
          *C = alloc_on(be, 64 * sizeof(float));
    bp_status rc = be->ops->gemm(be, NR, BP_NO_TRANS, BP_NO_TRANS, 4, -3, 4, 1.0f, A, 0, B, 0.0f, C);
    cr_assert_eq(rc, BP_ERR_DEVICE);
    cr_assert(strstr(be->err.msg, "cublasSgemmStridedBatched(R=3, m=4, n=-3, k=4"), "message: %s",
              be->err.msg);
    cr_assert(strstr(be->err.msg, "CUBLAS_STATUS_"), "message: %s", be->err.msg);
    be->ops->release(be, A);
    be->ops->release(be, B);
    be->ops->release(be, C);
    close_pair(&p);
}

/* ---- elementwise ---------------------------------------------------------- */

/* Elementwise formulas (tanhf, expf, ...) differ between the CUDA math
 * library and glibc by at most 1-2 ulp; nvcc may also fuse a*b+c. So a
 * few float32 ulps: rtol 1e-5, with atol 1e-6 for values near zero. */
#define EW_RTOL 1e-5
#define EW_ATOL 1e-6

static const bp_act ACTS[] = {BP_ACT_IDENTITY, BP_ACT_TANH, BP_ACT_RELU, BP_ACT_SIGMOID};

Test(cuda, bias_act)
{
    pair p = open_pair(BP_PREC_FP32);
    size_t n = (size_t)NR * ROWS * COLS;
    float *a = rand_floats(n, -3, 3, 21), *bias = rand_floats((size_t)NR * COLS, -1, 1, 22);
    for (size_t i = 0; i < sizeof ACTS / sizeof *ACTS; i++) {
        twin ta = twin_new(&p, a, n * sizeof(float)), tb = twin_new(&p, bias, NR * COLS * 4),
             th = twin_new(&p, NULL, n * sizeof(float));
        cr_assert_eq(p.cpu->ops->bias_act(p.cpu, NR, ROWS, COLS, ACTS[i], ta.c, tb.c, th.c), BP_OK);
        cr_assert_eq(p.gpu->ops->bias_act(p.gpu, NR, ROWS, COLS, ACTS[i], ta.g, tb.g, th.g), BP_OK,
                     "%s", p.gpu->err.msg);
        char what[64];
        snprintf(what, sizeof what, "bias_act(%s) h", bp_act_name(ACTS[i]));
        expect_close(&p, &th, n, EW_ATOL, EW_RTOL, what);
        /* in place: h == a */
        cr_assert_eq(p.cpu->ops->bias_act(p.cpu, NR, ROWS, COLS, ACTS[i], ta.c, tb.c, ta.c), BP_OK);
        cr_assert_eq(p.gpu->ops->bias_act(p.gpu, NR, ROWS, COLS, ACTS[i], ta.g, tb.g, ta.g), BP_OK,
                     "%s", p.gpu->err.msg);
        snprintf(what, sizeof what, "bias_act(%s) in place", bp_act_name(ACTS[i]));
        expect_close(&p, &ta, n, EW_ATOL, EW_RTOL, what);
        twin_free(&p, &ta);
        twin_free(&p, &tb);
        twin_free(&p, &th);
    }
    free(a);
    free(bias);
    close_pair(&p);
}

Test(cuda, act_grad_mul)
{
    pair p = open_pair(BP_PREC_FP32);
    size_t n = (size_t)NR * ROWS * COLS;
    float *h = rand_floats(n, -1, 1, 31), *g = rand_floats(n, -2, 2, 32);
    for (size_t i = 0; i < sizeof ACTS / sizeof *ACTS; i++) {
        twin th = twin_new(&p, h, n * sizeof(float)), tg = twin_new(&p, g, n * sizeof(float));
        cr_assert_eq(p.cpu->ops->act_grad_mul(p.cpu, NR, ROWS, COLS, ACTS[i], th.c, tg.c), BP_OK);
        cr_assert_eq(p.gpu->ops->act_grad_mul(p.gpu, NR, ROWS, COLS, ACTS[i], th.g, tg.g), BP_OK,
                     "%s", p.gpu->err.msg);
        expect_close(&p, &tg, n, EW_ATOL, EW_RTOL, bp_act_name(ACTS[i]));
        twin_free(&p, &th);
        twin_free(&p, &tg);
    }
    free(h);
    free(g);
    close_pair(&p);
}

Test(cuda, col_sum)
{
    /* Both backends add each column in row order: only the last ulp may
     * differ (fused multiply of alpha). */
    pair p = open_pair(BP_PREC_FP32);
    const int rows_list[] = {ROWS, 1000};
    for (int t = 0; t < 2; t++) {
        int rows = rows_list[t];
        size_t n = (size_t)NR * rows * COLS;
        float *x = rand_floats(n, -1, 1, 41 + t);
        twin tx = twin_new(&p, x, n * sizeof(float)), to = twin_new(&p, NULL, NR * COLS * 4);
        cr_assert_eq(p.cpu->ops->col_sum(p.cpu, NR, rows, COLS, 0.5f, tx.c, to.c), BP_OK);
        cr_assert_eq(p.gpu->ops->col_sum(p.gpu, NR, rows, COLS, 0.5f, tx.g, to.g), BP_OK, "%s",
                     p.gpu->err.msg);
        expect_close(&p, &to, (size_t)NR * COLS, EW_ATOL, EW_RTOL, "col_sum");
        twin_free(&p, &tx);
        twin_free(&p, &to);
        free(x);
    }
    close_pair(&p);
}

Test(cuda, make_target)
{
    pair p = open_pair(BP_PREC_FP32);
    const int C = 13;
    size_t n = (size_t)NR * ROWS * C;
    float *src = rand_floats(n, -3, 3, 51);
    int32_t *lab = rand_ints((size_t)NR * ROWS, C, 52);
    twin ts = twin_new(&p, src, n * 4), tl = twin_new(&p, lab, (size_t)NR * ROWS * 4),
         tt = twin_new(&p, NULL, n * 4);
    for (int mode = 0; mode < 2; mode++) {
        bp_bdfa_target m = mode ? BP_TARGET_PAPER_CODE : BP_TARGET_MIX;
        cr_assert_eq(p.cpu->ops->make_target(p.cpu, NR, ROWS, C, m, 0.25f, tl.c, ts.c, tt.c), BP_OK);
        cr_assert_eq(p.gpu->ops->make_target(p.gpu, NR, ROWS, C, m, 0.25f, tl.g, ts.g, tt.g), BP_OK,
                     "%s", p.gpu->err.msg);
        expect_close(&p, &tt, n, 1e-7, 1e-6, bp_bdfa_target_name(m));
    }
    /* src == NULL with alpha == 0: the one-hot target (BFA's mirror input). */
    cr_assert_eq(p.cpu->ops->make_target(p.cpu, NR, ROWS, C, BP_TARGET_MIX, 0.0f, tl.c, NULL, tt.c),
                 BP_OK);
    cr_assert_eq(p.gpu->ops->make_target(p.gpu, NR, ROWS, C, BP_TARGET_MIX, 0.0f, tl.g, NULL, tt.g),
                 BP_OK, "%s", p.gpu->err.msg);
    expect_equal_bytes(&p, &tt, "one-hot target");
    twin_free(&p, &ts);
    twin_free(&p, &tl);
    twin_free(&p, &tt);
    free(src);
    free(lab);
    close_pair(&p);
}

/* ---- ops with per-run sums ---------------------------------------------------- */

Test(cuda, output_error)
{
    pair p = open_pair(BP_PREC_FP32);
    const int Bs[] = {ROWS, 2000}, C = 13;
    for (int bi = 0; bi < 2; bi++)
        for (int kind = 0; kind < 2; kind++) {
            int B = Bs[bi];
            bp_output k = kind ? BP_OUT_SOFTMAX_CE : BP_OUT_SIGMOID_BCE;
            size_t n = (size_t)NR * B * C;
            float *lg = rand_floats(n, -4, 4, 61 + bi);
            int32_t *lab = rand_ints((size_t)NR * B, C, 62 + bi);
            twin tlg = twin_new(&p, lg, n * 4), tlab = twin_new(&p, lab, (size_t)NR * B * 4),
                 ty = twin_new(&p, NULL, n * 4), te = twin_new(&p, NULL, n * 4),
                 tloss = twin_new(&p, NULL, NR * 4), terr = twin_new(&p, NULL, NR * 4),
                 tloss2 = twin_new(&p, NULL, NR * 4), terr2 = twin_new(&p, NULL, NR * 4);
            cr_assert_eq(p.cpu->ops->output_error(p.cpu, NR, B, C, k, tlg.c, tlab.c, ty.c, te.c,
                                                  tloss.c, terr.c),
                         BP_OK);
            cr_assert_eq(p.gpu->ops->output_error(p.gpu, NR, B, C, k, tlg.g, tlab.g, ty.g, te.g,
                                                  tloss.g, terr.g),
                         BP_OK, "%s", p.gpu->err.msg);
            char what[96];
            snprintf(what, sizeof what, "output_error(%s, B=%d)", bp_output_name(k), B);
            expect_close(&p, &ty, n, EW_ATOL, EW_RTOL, what);
            expect_close(&p, &te, n, EW_ATOL, EW_RTOL, what);
            /* Per-run sums of row losses: each row within a few ulp. */
            expect_close(&p, &tloss, NR, 1e-6, EW_RTOL, what);
            expect_equal_bytes(&p, &terr, "error counts");
            /* Evaluation form (yhat = e = NULL): the same sums, bit for bit
             * on the GPU (the reduction order is fixed). */
            cr_assert_eq(p.gpu->ops->output_error(p.gpu, NR, B, C, k, tlg.g, tlab.g, NULL, NULL,
                                                  tloss2.g, terr2.g),
                         BP_OK, "%s", p.gpu->err.msg);
            float *l1 = download(p.gpu, tloss.g, NR * 4), *l2 = download(p.gpu, tloss2.g, NR * 4);
            float *e1 = download(p.gpu, terr.g, NR * 4), *e2 = download(p.gpu, terr2.g, NR * 4);
            cr_assert_eq(memcmp(l1, l2, NR * 4), 0, "%s: loss not reproducible", what);
            cr_assert_eq(memcmp(e1, e2, NR * 4), 0, "%s: errors not reproducible", what);
            free(l1), free(l2), free(e1), free(e2);
            twin *all[] = {&tlg, &tlab, &ty, &te, &tloss, &terr, &tloss2, &terr2};
            for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(&p, all[i]);
            free(lg);
            free(lab);
        }
    close_pair(&p);
}

Test(cuda, bdfa_align)
{
    /* s = p . h is summed in a different order (32 strided lanes, then a
     * tree) than the CPU's sequential loop: its error is ~n ulp of
     * sum |p_j h_j|, then scaled by |dl/ds| <= 1. Hence rtol 1e-4 on hs and
     * on the per-run loss sums, with atol 1e-5. */
    pair p = open_pair(BP_PREC_FP32);
    const int ns[] = {COLS, 800};
    for (int ni = 0; ni < 2; ni++)
        for (int kind = 0; kind < 2; kind++) {
            int n = ns[ni];
            bp_bdfa_loss k = kind ? BP_BDFA_NEG_LOG_SIGMOID : BP_BDFA_ONE_MINUS_SIGMOID;
            size_t total = (size_t)NR * ROWS * n;
            float scale = 3.0f / sqrtf((float)n);
            float *pv = rand_floats(total, -scale, scale, 71 + ni), *h = rand_floats(total, -1, 1, 72);
            twin tp = twin_new(&p, pv, total * 4), th = twin_new(&p, h, total * 4),
                 ths = twin_new(&p, NULL, total * 4), tl = twin_new(&p, NULL, NR * 4);
            cr_assert_eq(p.cpu->ops->bdfa_align(p.cpu, NR, ROWS, n, k, tp.c, th.c, ths.c, tl.c),
                         BP_OK);
            cr_assert_eq(p.gpu->ops->bdfa_align(p.gpu, NR, ROWS, n, k, tp.g, th.g, ths.g, tl.g),
                         BP_OK, "%s", p.gpu->err.msg);
            char what[64];
            snprintf(what, sizeof what, "bdfa_align(%s, n=%d)", bp_bdfa_loss_name(k), n);
            expect_close(&p, &ths, total, 1e-5, 1e-4, what);
            expect_close(&p, &tl, NR, 1e-5, 1e-4, what);
            twin_free(&p, &tp);
            twin_free(&p, &th);
            twin_free(&p, &ths);
            twin_free(&p, &tl);
            free(pv);
            free(h);
        }
    close_pair(&p);
}

Test(cuda, angle)
{
    /* Dot products in double on both sides, summed in other orders: the
     * angles agree to ~1e-6 degrees; a row of zeros has no angle on both. */
    pair p = open_pair(BP_PREC_FP32);
    const int shapes[][2] = {{ROWS, COLS}, {1, 800}, {784, 40}};
    for (int si = 0; si < 3; si++)
        for (int mode = 0; mode < 4; mode++) {
            int rows = shapes[si][0], cols = shapes[si][1], per_row = mode & 1, yt = mode >> 1;
            size_t total = (size_t)NR * rows * cols;
            float *x = rand_floats(total, -1, 1, 91 + si), *y = rand_floats(total, -1, 1, 92);
            for (size_t j = 0; j < (size_t)cols; j++) x[j] = 0.0f; /* run 0, row 0 */
            for (size_t j = 0; j < total; j++) y[j] += 0.5f * x[j]; /* angles below 90 */
            twin tx = twin_new(&p, x, total * 4), ty = twin_new(&p, y, total * 4),
                 ta = twin_new(&p, NULL, NR * 4), tn = twin_new(&p, NULL, NR * 4);
            cr_assert_eq(p.cpu->ops->angle(p.cpu, NR, rows, cols, tx.c, ty.c, yt, per_row, ta.c,
                                           tn.c),
                         BP_OK);
            cr_assert_eq(p.gpu->ops->angle(p.gpu, NR, rows, cols, tx.g, ty.g, yt, per_row, ta.g,
                                           tn.g),
                         BP_OK, "%s", p.gpu->err.msg);
            char what[80];
            snprintf(what, sizeof what, "angle(%dx%d, per_row=%d, y_trans=%d)", rows, cols,
                     per_row, yt);
            expect_close(&p, &ta, NR, 1e-4, 1e-5, what);
            expect_equal_bytes(&p, &tn, what);
            twin_free(&p, &tx);
            twin_free(&p, &ty);
            twin_free(&p, &ta);
            twin_free(&p, &tn);
            free(x);
            free(y);
        }
    close_pair(&p);
}

Test(cuda, recon_error)
{
    /* eps elementwise (a few ulp); the loss is a sum of B*n terms (up to
     * 64*784 = 50,176, over many blocks) accumulated in double on both
     * sides, so it agrees to float rounding: rtol 1e-5. */
    pair p = open_pair(BP_PREC_FP32);
    const int Bs[] = {ROWS, 64}, ns[] = {COLS, 784};
    for (int si = 0; si < 2; si++)
        for (int kind = 0; kind < 2; kind++) {
            int B = Bs[si], n = ns[si];
            bp_recon k = kind ? BP_RECON_SIGMOID_BCE : BP_RECON_IDENTITY;
            size_t total = (size_t)NR * B * n;
            float *g = rand_floats(total, -3, 3, 81 + si), *x = rand_floats(total, 0, 1, 82);
            twin tg = twin_new(&p, g, total * 4), tx = twin_new(&p, x, total * 4),
                 te = twin_new(&p, NULL, total * 4), tl = twin_new(&p, NULL, NR * 4);
            cr_assert_eq(p.cpu->ops->recon_error(p.cpu, NR, B, n, k, tg.c, tx.c, te.c, tl.c), BP_OK);
            cr_assert_eq(p.gpu->ops->recon_error(p.gpu, NR, B, n, k, tg.g, tx.g, te.g, tl.g), BP_OK,
                         "%s", p.gpu->err.msg);
            char what[64];
            snprintf(what, sizeof what, "recon_error(%s, B=%d, n=%d)", bp_recon_name(k), B, n);
            expect_close(&p, &te, total, EW_ATOL, EW_RTOL, what);
            expect_close(&p, &tl, NR, 1e-6, EW_RTOL, what);
            twin_free(&p, &tg);
            twin_free(&p, &tx);
            twin_free(&p, &te);
            twin_free(&p, &tl);
            free(g);
            free(x);
        }
    close_pair(&p);
}

/* ---- gather and optimizers -------------------------------------------------- */

Test(cuda, gather)
{
    /* Exact: the same multiply by 1/255f on both sides. */
    pair p = open_pair(BP_PREC_FP32);
    const int N = 100, dim = COLS;
    uint8_t *pix = malloc((size_t)N * dim), *lab = malloc(N);
    uint32_t s = 91;
    for (size_t i = 0; i < (size_t)N * dim; i++) pix[i] = (uint8_t)rng_next(&s);
    for (int i = 0; i < N; i++) lab[i] = (uint8_t)(rng_next(&s) % 10);
    int32_t *idx = rand_ints((size_t)NR * N, N, 92);
    twin tpix = twin_new(&p, pix, (size_t)N * dim), tlab = twin_new(&p, lab, N),
         tidx = twin_new(&p, idx, (size_t)NR * N * 4),
         tx = twin_new(&p, NULL, (size_t)NR * ROWS * dim * 4),
         ty = twin_new(&p, NULL, (size_t)NR * ROWS * 4);
    /* Per-run orders (stride N, starting at an offset as a training step
     * does), then one order shared by all runs (stride 0, evaluation). */
    const size_t strides[] = {(size_t)N, 0};
    for (int t = 0; t < 2; t++) {
        const int32_t *ic = (const int32_t *)tidx.c + 5, *ig = (const int32_t *)tidx.g + 5;
        cr_assert_eq(p.cpu->ops->gather(p.cpu, NR, ROWS, dim, tpix.c, tlab.c, ic, strides[t], tx.c,
                                        ty.c),
                     BP_OK);
        cr_assert_eq(p.gpu->ops->gather(p.gpu, NR, ROWS, dim, tpix.g, tlab.g, ig, strides[t], tx.g,
                                        ty.g),
                     BP_OK, "%s", p.gpu->err.msg);
        expect_equal_bytes(&p, &tx, "gathered pixels");
        expect_equal_bytes(&p, &ty, "gathered labels");
    }
    twin *all[] = {&tpix, &tlab, &tidx, &tx, &ty};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(&p, all[i]);
    free(pix);
    free(lab);
    free(idx);
    close_pair(&p);
}

Test(cuda, adam_step)
{
    pair p = open_pair(BP_PREC_FP32);
    size_t n = 5003;
    float *w = rand_floats(n, -1, 1, 101), *g = rand_floats(n, -1, 1, 102),
          *m = rand_floats(n, -0.1f, 0.1f, 103), *v = rand_floats(n, 0, 0.01f, 104);
    twin tw = twin_new(&p, w, n * 4), tg = twin_new(&p, g, n * 4), tm = twin_new(&p, m, n * 4),
         tv = twin_new(&p, v, n * 4);
    bp_adam_hyper hp = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    for (int t = 1; t <= 3; t++) {
        hp.step_size = (float)(1e-3 / (1.0 - pow(0.9, t)));
        hp.sqrt_bias_corr2 = (float)sqrt(1.0 - pow(0.999, t));
        /* The factors live in each backend's memory (a device pointer on CUDA). */
        twin th = twin_new(&p, &hp, sizeof hp);
        cr_assert_eq(p.cpu->ops->adam_step(p.cpu, n, tw.c, tg.c, tm.c, tv.c, th.c), BP_OK);
        cr_assert_eq(p.gpu->ops->adam_step(p.gpu, n, tw.g, tg.g, tm.g, tv.g, th.g), BP_OK, "%s",
                     p.gpu->err.msg);
        twin_free(&p, &th);
    }
    expect_close(&p, &tw, n, 1e-7, EW_RTOL, "adam param");
    expect_close(&p, &tm, n, 1e-8, EW_RTOL, "adam m");
    expect_close(&p, &tv, n, 1e-10, EW_RTOL, "adam v");
    twin *all[] = {&tw, &tg, &tm, &tv};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(&p, all[i]);
    free(w), free(g), free(m), free(v);
    close_pair(&p);
}

Test(cuda, sgd_step)
{
    pair p = open_pair(BP_PREC_FP32);
    size_t n = 5003;
    float *w = rand_floats(n, -1, 1, 111), *g = rand_floats(n, -1, 1, 112),
          *vel = rand_floats(n, -0.1f, 0.1f, 113);
    twin tw = twin_new(&p, w, n * 4), tg = twin_new(&p, g, n * 4), tv = twin_new(&p, vel, n * 4);
    /* plain SGD (velocity NULL), then with momentum */
    cr_assert_eq(p.cpu->ops->sgd_step(p.cpu, n, tw.c, tg.c, NULL, 0.1f, 0.0f), BP_OK);
    cr_assert_eq(p.gpu->ops->sgd_step(p.gpu, n, tw.g, tg.g, NULL, 0.1f, 0.0f), BP_OK, "%s",
                 p.gpu->err.msg);
    expect_close(&p, &tw, n, 1e-7, EW_RTOL, "sgd param");
    for (int t = 0; t < 3; t++) {
        cr_assert_eq(p.cpu->ops->sgd_step(p.cpu, n, tw.c, tg.c, tv.c, 0.1f, 0.9f), BP_OK);
        cr_assert_eq(p.gpu->ops->sgd_step(p.gpu, n, tw.g, tg.g, tv.g, 0.1f, 0.9f), BP_OK, "%s",
                     p.gpu->err.msg);
    }
    expect_close(&p, &tw, n, 1e-6, EW_RTOL, "sgd+momentum param");
    expect_close(&p, &tv, n, 1e-6, EW_RTOL, "sgd velocity");
    twin_free(&p, &tw);
    twin_free(&p, &tg);
    twin_free(&p, &tv);
    free(w), free(g), free(vel);
    close_pair(&p);
}

/* ---- training: the five rules on both devices ------------------------------- */

#define T_RUNS 2
#define T_EPOCHS 3 /* warm-up, graph recording, graph replay */
#define T_BATCH 32
#define T_STEPS 50
#define T_TRAIN (T_BATCH * T_STEPS)
#define T_VALID 160
#define T_TEST 160
#define T_DIM 64
#define T_CLASSES 10

static void fill_images(bp_images *im, int n, uint32_t *s)
{
    im->n = n;
    im->dim = T_DIM;
    im->channels = im->height = 1;
    im->width = T_DIM;
    im->x = malloc((size_t)n * T_DIM);
    im->y = malloc((size_t)n);
    cr_assert(im->x && im->y);
    /* Pixels carry a class-dependent pattern plus noise, so the nets learn
     * something and the losses move during the two epochs. */
    for (int i = 0; i < n; i++) {
        int y = (int)(rng_next(s) % T_CLASSES);
        im->y[i] = (uint8_t)y;
        for (int j = 0; j < T_DIM; j++) {
            int v = (int)(rng_next(s) % 128) + ((j % T_CLASSES) == y ? 127 : 0);
            im->x[(size_t)i * T_DIM + j] = (uint8_t)v;
        }
    }
}

static void make_dataset(bp_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    strcpy(ds->name, "synthetic");
    ds->classes = T_CLASSES;
    uint32_t s = 12345;
    fill_images(&ds->train, T_TRAIN + T_VALID, &s);
    fill_images(&ds->test, T_TEST, &s);
}

static void make_config(bp_config *cfg, bp_rule_id rule)
{
    bp_config_defaults(cfg);
    cfg->rule = rule;
    cfg->n_hidden = 2;
    cfg->hidden[0] = 37;
    cfg->hidden[1] = 29;
    cfg->batch = T_BATCH;
    cfg->train_size = T_TRAIN;
    cfg->eval_batch = 100; /* 160 evaluation samples: a full and a partial chunk */
    cfg->epochs = T_EPOCHS;
    cfg->threads = 1;
    cfg->optimizer = BP_OPT_SGD;
    cfg->lr = 0.05;
    cfg->momentum = 0.5;
    cfg->align_every = 7; /* the diagnostics run inside recorded epochs too */
}

typedef struct {
    bp_epoch_metrics m[T_EPOCHS][T_RUNS];
    float *params[3][T_RUNS]; /* fwd, fb, fixed: host copies of each run */
    size_t n[3];              /* floats per run */
} trained;

/* Trains a group of T_RUNS runs for T_EPOCHS on cfg->device. Skips the
 * test when cfg asks for CUDA and there is no device. */
static void train(const bp_config *cfg, const bp_dataset *ds, trained *out)
{
    static const uint64_t seeds[T_RUNS] = {7, 8};
    bp_backend *be = NULL;
    bp_error err = {0};
    bp_status rc = bp_backend_create(cfg, &be, &err);
    if (cfg->device == BP_DEVICE_CUDA) skip_unless_ok(rc, &err);
    cr_assert_eq(rc, BP_OK, "%s", err.msg);
    bp_group *g = NULL;
    cr_assert_eq(bp_group_create(cfg, seeds, T_RUNS, ds, be, &g, &err), BP_OK, "%s", err.msg);
    for (int e = 0; e < T_EPOCHS; e++)
        cr_assert_eq(bp_group_train_epoch(g, NULL, NULL, out->m[e], &err), BP_OK, "%s: %s",
                     bp_device_name(cfg->device), err.msg);
    bp_net *net = bp_group_net(g);
    const bp_arena *arenas[3] = {&net->fwd, &net->fb, &net->fixed};
    for (int a = 0; a < 3; a++) {
        out->n[a] = arenas[a]->n / T_RUNS;
        for (int r = 0; r < T_RUNS; r++) {
            out->params[a][r] = calloc(out->n[a] + 1, sizeof(float));
            if (out->n[a])
                cr_assert_eq(bp_arena_download_run(net, arenas[a], arenas[a]->p, r,
                                                   out->params[a][r], be, &err),
                             BP_OK, "%s", err.msg);
        }
    }
    bp_group_destroy(g);
    bp_backend_destroy(be);
}

static void trained_free(trained *t)
{
    for (int a = 0; a < 3; a++)
        for (int r = 0; r < T_RUNS; r++) free(t->params[a][r]);
}

static void expect_metric(double gpu, double cpu, double atol, double rtol, const char *what,
                          int e, int r)
{
    double d = fabs(gpu - cpu);
    if (!(d <= atol + rtol * fabs(cpu)))
        cr_assert_fail("%s (epoch %d, run %d): cuda %.9g, cpu %.9g (|diff| %.3g)", what, e + 1, r,
                       gpu, cpu, d);
}

/* The CUDA run (device and precision from the config) against the fp32
 * CPU run of the same config.
 *
 * Tolerances for fp32: both devices start from the same host-drawn
 * weights and see the same batches; they differ only by float32 rounding
 * (summation order inside GEMMs and reductions, 1-2 ulp in expf/tanhf,
 * fused multiply-adds), ~1e-7 relative per op. Over 100 SGD steps at
 * lr 0.05 these perturbations are carried forward and can grow by the
 * step map's expansion, for these small tanh nets at most a factor of a
 * few hundred, i.e. to ~1e-5 relative. We allow 1e-3 relative (atol 1e-4
 * for weights that pass near zero): two orders of margin, yet far below
 * any real bug (a wrong index or formula moves weights by >1e-2 of their
 * size within a few steps). Losses are means of many samples: 1e-3
 * relative. Error rates count argmax decisions, which can flip for a
 * sample whose top two logits nearly tie: we allow 3 samples (plus
 * err_frac of all samples, 0 in fp32). */
static void train_compare(bp_rule_id rule, bp_precision prec, double rtol_param,
                          double rtol_loss, double err_frac)
{
    bp_dataset ds;
    make_dataset(&ds);
    bp_config cfg;
    make_config(&cfg, rule);
    trained gpu, cpu;
    memset(&gpu, 0, sizeof gpu);
    memset(&cpu, 0, sizeof cpu);
    cfg.device = BP_DEVICE_CUDA;
    cfg.precision = prec;
    train(&cfg, &ds, &gpu); /* first: skips without a device */
    cfg.device = BP_DEVICE_CPU;
    cfg.precision = BP_PREC_FP32;
    train(&cfg, &ds, &cpu);

    const char *rn = bp_rule_name(rule);
    for (int e = 0; e < T_EPOCHS; e++)
        for (int r = 0; r < T_RUNS; r++) {
            const bp_epoch_metrics *g = &gpu.m[e][r], *c = &cpu.m[e][r];
            char what[64];
            snprintf(what, sizeof what, "%s train_loss", rn);
            expect_metric(g->train_loss, c->train_loss, 1e-6, rtol_loss, what, e, r);
            snprintf(what, sizeof what, "%s feedback_loss", rn);
            expect_metric(g->feedback_loss, c->feedback_loss, 1e-6, rtol_loss, what, e, r);
            snprintf(what, sizeof what, "%s test_loss", rn);
            expect_metric(g->test_loss, c->test_loss, 1e-6, rtol_loss, what, e, r);
            snprintf(what, sizeof what, "%s valid_loss", rn);
            expect_metric(g->valid_loss, c->valid_loss, 1e-6, rtol_loss, what, e, r);
            snprintf(what, sizeof what, "%s train_error", rn);
            expect_metric(g->train_error, c->train_error, 3.0 / T_TRAIN + err_frac, 0, what,
                          e, r);
            snprintf(what, sizeof what, "%s test_error", rn);
            expect_metric(g->test_error, c->test_error, 3.0 / T_TEST + err_frac, 0, what, e,
                          r);
            snprintf(what, sizeof what, "%s valid_error", rn);
            expect_metric(g->valid_error, c->valid_error, 3.0 / T_VALID + err_frac, 0, what,
                          e, r);
            cr_assert_eq(g->diverged, 0, "%s diverged on cuda", rn);
            /* Angles of weights that agree to 1e-3: a fraction of a degree. */
            cr_assert(g->has_align && c->has_align);
            for (int l = 0; l < cfg.n_hidden && prec == BP_PREC_FP32; l++) {
                snprintf(what, sizeof what, "%s align delta layer %d", rn, l + 1);
                expect_metric(g->align.delta[l], c->align.delta[l], 0.5, 0, what, e, r);
                snprintf(what, sizeof what, "%s align dW layer %d", rn, l + 1);
                expect_metric(g->align.dW[l], c->align.dW[l], 0.5, 0, what, e, r);
            }
            for (int l = 0; l <= cfg.n_hidden && prec == BP_PREC_FP32; l++) {
                snprintf(what, sizeof what, "%s align fb matrix %d", rn, l + 1);
                if (isnan(c->align.fb[l])) cr_assert(isnan(g->align.fb[l]), "%s", what);
                else expect_metric(g->align.fb[l], c->align.fb[l], 0.5, 0, what, e, r);
            }
        }
    if (rtol_param > 0) {
        static const char *arena_names[3] = {"forward", "feedback", "fixed"};
        for (int a = 0; a < 3; a++) {
            cr_assert_eq(gpu.n[a], cpu.n[a]);
            for (int r = 0; r < T_RUNS; r++)
                for (size_t i = 0; i < cpu.n[a]; i++) {
                    double c = cpu.params[a][r][i], g = gpu.params[a][r][i], d = fabs(g - c);
                    if (!(d <= 1e-4 + rtol_param * fabs(c)))
                        cr_assert_fail("%s: %s parameter %zu of run %d after %d epochs: cuda "
                                       "%.9g, cpu %.9g (|diff| %.3g)",
                                       rn, arena_names[a], i, r, T_EPOCHS, g, c, d);
                }
        }
    }
    trained_free(&gpu);
    trained_free(&cpu);
    bp_dataset_free(&ds);
}

Test(cuda_train, bp) { train_compare(BP_RULE_BP, BP_PREC_FP32, 1e-3, 1e-3, 0); }
Test(cuda_train, fa) { train_compare(BP_RULE_FA, BP_PREC_FP32, 1e-3, 1e-3, 0); }
Test(cuda_train, dfa) { train_compare(BP_RULE_DFA, BP_PREC_FP32, 1e-3, 1e-3, 0); }
Test(cuda_train, bfa) { train_compare(BP_RULE_BFA, BP_PREC_FP32, 1e-3, 1e-3, 0); }
Test(cuda_train, bdfa) { train_compare(BP_RULE_BDFA, BP_PREC_FP32, 1e-3, 1e-3, 0); }

/* TF32 GEMMs round their inputs to 10 mantissa bits (~5e-4 relative), so
 * weights drift apart at the 1e-3..1e-2 level; the epoch losses, means
 * over thousands of samples, stay within 2e-2 relative, and error rates
 * within 2% of the samples (a few dozen near-tie argmax flips). Weights
 * are not compared. */
Test(cuda_train, bp_tf32_loss)
{
    train_compare(BP_RULE_BP, BP_PREC_TF32, 0, 2e-2, 0.02);
}

/* Two CUDA trainings of the same config give bit-identical weights and
 * metrics: no atomics anywhere, fixed reduction orders, and cuBLAS is
 * deterministic on one GPU. BFA exercises every reduction kernel but
 * bdfa_align, which BDFA covers in its own comparison above. */
Test(cuda_train, deterministic)
{
    bp_dataset ds;
    make_dataset(&ds);
    bp_config cfg;
    make_config(&cfg, BP_RULE_BFA);
    cfg.device = BP_DEVICE_CUDA;
    trained a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    train(&cfg, &ds, &a);
    train(&cfg, &ds, &b);
    for (int e = 0; e < T_EPOCHS; e++)
        for (int r = 0; r < T_RUNS; r++) {
            cr_assert_eq(a.m[e][r].train_loss, b.m[e][r].train_loss, "epoch %d run %d", e + 1, r);
            cr_assert_eq(a.m[e][r].feedback_loss, b.m[e][r].feedback_loss);
            cr_assert_eq(a.m[e][r].test_loss, b.m[e][r].test_loss);
        }
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < T_RUNS; r++)
            cr_assert_eq(memcmp(a.params[k][r], b.params[k][r], a.n[k] * sizeof(float)), 0,
                         "arena %d run %d differs between two identical CUDA trainings", k, r);
    trained_free(&a);
    trained_free(&b);
    bp_dataset_free(&ds);
}

/* The CUDA backend records the second epoch's steps as a CUDA graph and
 * replays it from the third on (src/train.c run_steps). The same kernels
 * run either way, so a run with graphs must equal one without
 * (BIOPP_CUDA_GRAPHS=0) bit for bit. Adam covers the per-step factors read
 * from device memory; BDFA and BFA cover both backward phases. */
static void graphs_equal_direct(bp_rule_id rule)
{
    bp_dataset ds;
    make_dataset(&ds);
    bp_config cfg;
    make_config(&cfg, rule);
    cfg.device = BP_DEVICE_CUDA;
    cfg.optimizer = BP_OPT_ADAM;
    cfg.lr = 1e-3;
    trained a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    unsetenv("BIOPP_CUDA_GRAPHS");
    train(&cfg, &ds, &a);
    setenv("BIOPP_CUDA_GRAPHS", "0", 1);
    train(&cfg, &ds, &b);
    unsetenv("BIOPP_CUDA_GRAPHS");
    for (int e = 0; e < T_EPOCHS; e++)
        for (int r = 0; r < T_RUNS; r++) {
            cr_assert_eq(a.m[e][r].train_loss, b.m[e][r].train_loss,
                         "%s epoch %d run %d: graph %.9g, direct %.9g", bp_rule_name(rule), e + 1,
                         r, a.m[e][r].train_loss, b.m[e][r].train_loss);
            cr_assert_eq(a.m[e][r].feedback_loss, b.m[e][r].feedback_loss);
        }
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < T_RUNS; r++)
            cr_assert_eq(memcmp(a.params[k][r], b.params[k][r], a.n[k] * sizeof(float)), 0,
                         "%s: arena %d run %d differs with and without CUDA graphs",
                         bp_rule_name(rule), k, r);
    trained_free(&a);
    trained_free(&b);
    bp_dataset_free(&ds);
}

Test(cuda_train, graphs_equal_direct_bfa) { graphs_equal_direct(BP_RULE_BFA); }
Test(cuda_train, graphs_equal_direct_bdfa) { graphs_equal_direct(BP_RULE_BDFA); }

/* The rules of docs/RULES.md. The sign rules' B_l = s (.) sign(W_l^T) is
 * discontinuous at W = 0, but a weight within float32 rounding of zero is
 * rare enough in 150 steps that the fp32 tolerances above hold. brsf and wm
 * draw every step (fill_random, cuRAND on CUDA): equal parameters mean the
 * same draws on both devices, and graphs_equal_direct that a replayed epoch
 * draws afresh with the replayed step's number. */
Test(cuda_train, usf) { train_compare(BP_RULE_USF, BP_PREC_FP32, 1e-3, 1e-3, 0); }
Test(cuda_train, brsf) { train_compare(BP_RULE_BRSF, BP_PREC_FP32, 1e-3, 1e-3, 0); }
Test(cuda_train, frsf) { train_compare(BP_RULE_FRSF, BP_PREC_FP32, 1e-3, 1e-3, 0); }
Test(cuda_train, kp) { train_compare(BP_RULE_KP, BP_PREC_FP32, 1e-3, 1e-3, 0); }
Test(cuda_train, wm) { train_compare(BP_RULE_WM, BP_PREC_FP32, 1e-3, 1e-3, 0); }
Test(cuda_train, graphs_equal_direct_brsf) { graphs_equal_direct(BP_RULE_BRSF); }
Test(cuda_train, graphs_equal_direct_wm) { graphs_equal_direct(BP_RULE_WM); }
Test(cuda_train, graphs_equal_direct_kp) { graphs_equal_direct(BP_RULE_KP); }

/* ---- edge sizes of every op: B = 1, odd widths, R up to BP_MAX_SEEDS, k = 0 ---- */

#define R_MAX BP_MAX_SEEDS /* the largest group a sweep cell makes */

Test(cuda_edges, gemm)
{
    /* k = 0 (C = beta C), 1 x 1, one row or column, odd widths; R = 1
     * (cublasSgemm), 2 and R_MAX (strided batched), every transpose. */
    static const int sz[][3] = {{1, 1, 1}, {1, 33, 7}, {33, 1, 7}, {5, 3, 0}, {1, 1, 0}, {17, 29, 1}};
    pair p = open_pair(BP_PREC_FP32);
    for (size_t s = 0; s < sizeof sz / sizeof *sz; s++)
        for (int t = 0; t < 4; t++)
            for (int shared = 0; shared < 2; shared++)
                for (int R = 1; R <= 2; R++)
                    check_gemm(&p, R, t & 1, t >> 1, shared, sz[s][0], sz[s][1], sz[s][2], 1e-5);
    check_gemm(&p, R_MAX, 0, 1, 0, 3, 5, 7, 1e-5);
    check_gemm(&p, R_MAX, 1, 0, 1, 5, 3, 2, 1e-5);
    close_pair(&p);
}

/* bias_act, act_grad_mul, col_sum, make_target at one (R, rows, cols). */
static void check_elementwise(pair *p, int R, int rows, int cols)
{
    size_t n = (size_t)R * rows * cols, nb = (size_t)R * cols;
    float *a = rand_floats(n, -3, 3, 201), *bias = rand_floats(nb, -1, 1, 202);
    int32_t *lab = rand_ints((size_t)R * rows, cols, 203);
    twin ta = twin_new(p, a, n * 4), tb = twin_new(p, bias, nb * 4), th = twin_new(p, NULL, n * 4),
         to = twin_new(p, NULL, nb * 4), tl = twin_new(p, lab, (size_t)R * rows * 4),
         tt = twin_new(p, NULL, n * 4);
    char what[96];
    for (size_t i = 0; i < sizeof ACTS / sizeof *ACTS; i++) {
        cr_assert_eq(p->cpu->ops->bias_act(p->cpu, R, rows, cols, ACTS[i], ta.c, tb.c, th.c), BP_OK);
        cr_assert_eq(p->gpu->ops->bias_act(p->gpu, R, rows, cols, ACTS[i], ta.g, tb.g, th.g), BP_OK,
                     "%s", p->gpu->err.msg);
        snprintf(what, sizeof what, "bias_act(%s) R=%d %dx%d", bp_act_name(ACTS[i]), R, rows, cols);
        expect_close(p, &th, n, EW_ATOL, EW_RTOL, what);
        cr_assert_eq(p->cpu->ops->act_grad_mul(p->cpu, R, rows, cols, ACTS[i], th.c, ta.c), BP_OK);
        cr_assert_eq(p->gpu->ops->act_grad_mul(p->gpu, R, rows, cols, ACTS[i], th.g, ta.g), BP_OK,
                     "%s", p->gpu->err.msg);
        snprintf(what, sizeof what, "act_grad_mul(%s) R=%d %dx%d", bp_act_name(ACTS[i]), R, rows,
                 cols);
        expect_close(p, &ta, n, EW_ATOL, 4 * EW_RTOL, what);
    }
    cr_assert_eq(p->cpu->ops->col_sum(p->cpu, R, rows, cols, 0.5f, th.c, to.c), BP_OK);
    cr_assert_eq(p->gpu->ops->col_sum(p->gpu, R, rows, cols, 0.5f, th.g, to.g), BP_OK, "%s",
                 p->gpu->err.msg);
    snprintf(what, sizeof what, "col_sum R=%d %dx%d", R, rows, cols);
    expect_close(p, &to, nb, EW_ATOL, EW_RTOL, what);
    for (int mode = 0; mode < 2; mode++) {
        bp_bdfa_target m = mode ? BP_TARGET_PAPER_CODE : BP_TARGET_MIX;
        cr_assert_eq(p->cpu->ops->make_target(p->cpu, R, rows, cols, m, 0.25f, tl.c, th.c, tt.c),
                     BP_OK);
        cr_assert_eq(p->gpu->ops->make_target(p->gpu, R, rows, cols, m, 0.25f, tl.g, th.g, tt.g),
                     BP_OK, "%s", p->gpu->err.msg);
        snprintf(what, sizeof what, "make_target(%s) R=%d %dx%d", bp_bdfa_target_name(m), R, rows,
                 cols);
        expect_close(p, &tt, n, 1e-7, 1e-6, what);
    }
    twin *all[] = {&ta, &tb, &th, &to, &tl, &tt};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(p, all[i]);
    free(a), free(bias), free(lab);
}

Test(cuda_edges, elementwise)
{
    pair p = open_pair(BP_PREC_FP32);
    check_elementwise(&p, 1, 1, 1);
    check_elementwise(&p, 1, 1, 257);
    check_elementwise(&p, 2, 257, 3);
    check_elementwise(&p, R_MAX, 1, 1);
    check_elementwise(&p, R_MAX, 3, 11);
    close_pair(&p);
}

/* output_error, bdfa_align, recon_error (per-run sums) at one size. */
static void check_sums(pair *p, int R, int B, int n)
{
    size_t total = (size_t)R * B * n;
    float *x = rand_floats(total, -3, 3, 211), *h = rand_floats(total, 0, 1, 212);
    int32_t *lab = rand_ints((size_t)R * B, n, 213);
    twin tx = twin_new(p, x, total * 4), th = twin_new(p, h, total * 4),
         tl = twin_new(p, lab, (size_t)R * B * 4), ty = twin_new(p, NULL, total * 4),
         te = twin_new(p, NULL, total * 4), ts = twin_new(p, NULL, (size_t)R * 4),
         tn = twin_new(p, NULL, (size_t)R * 4);
    char what[96];
    for (int kind = 0; kind < 2; kind++) {
        bp_output k = kind ? BP_OUT_SOFTMAX_CE : BP_OUT_SIGMOID_BCE;
        cr_assert_eq(p->cpu->ops->output_error(p->cpu, R, B, n, k, tx.c, tl.c, ty.c, te.c, ts.c,
                                               tn.c),
                     BP_OK);
        cr_assert_eq(p->gpu->ops->output_error(p->gpu, R, B, n, k, tx.g, tl.g, ty.g, te.g, ts.g,
                                               tn.g),
                     BP_OK, "%s", p->gpu->err.msg);
        snprintf(what, sizeof what, "output_error(%s) R=%d B=%d C=%d", bp_output_name(k), R, B, n);
        expect_close(p, &te, total, EW_ATOL, EW_RTOL, what);
        expect_close(p, &ts, (size_t)R, 1e-6, EW_RTOL, what);
        expect_equal_bytes(p, &tn, what);
    }
    for (int kind = 0; kind < 2; kind++) {
        bp_bdfa_loss k = kind ? BP_BDFA_NEG_LOG_SIGMOID : BP_BDFA_ONE_MINUS_SIGMOID;
        cr_assert_eq(p->cpu->ops->bdfa_align(p->cpu, R, B, n, k, tx.c, th.c, te.c, ts.c), BP_OK);
        cr_assert_eq(p->gpu->ops->bdfa_align(p->gpu, R, B, n, k, tx.g, th.g, te.g, ts.g), BP_OK,
                     "%s", p->gpu->err.msg);
        snprintf(what, sizeof what, "bdfa_align(%s) R=%d B=%d n=%d", bp_bdfa_loss_name(k), R, B, n);
        expect_close(p, &te, total, 1e-5, 1e-4, what);
        expect_close(p, &ts, (size_t)R, 1e-5, 1e-4, what);
    }
    for (int kind = 0; kind < 2; kind++) {
        bp_recon k = kind ? BP_RECON_SIGMOID_BCE : BP_RECON_IDENTITY;
        cr_assert_eq(p->cpu->ops->recon_error(p->cpu, R, B, n, k, tx.c, th.c, te.c, ts.c), BP_OK);
        cr_assert_eq(p->gpu->ops->recon_error(p->gpu, R, B, n, k, tx.g, th.g, te.g, ts.g), BP_OK,
                     "%s", p->gpu->err.msg);
        snprintf(what, sizeof what, "recon_error(%s) R=%d B=%d n=%d", bp_recon_name(k), R, B, n);
        expect_close(p, &te, total, EW_ATOL, EW_RTOL, what);
        expect_close(p, &ts, (size_t)R, 1e-6, EW_RTOL, what);
    }
    twin *all[] = {&tx, &th, &tl, &ty, &te, &ts, &tn};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(p, all[i]);
    free(x), free(h), free(lab);
}

Test(cuda_edges, per_run_sums)
{
    /* B = 1; B = 9 and 257 (a second block of warps / threads); n = 1 and
     * odd widths; R = R_MAX (the scratch grows past its initial 16 runs). */
    pair p = open_pair(BP_PREC_FP32);
    check_sums(&p, 1, 1, 1);
    check_sums(&p, 1, 1, 33);
    check_sums(&p, 2, 9, 3);
    check_sums(&p, 1, 257, 2);
    check_sums(&p, R_MAX, 1, 2);
    check_sums(&p, R_MAX, 3, 7);
    close_pair(&p);
}

Test(cuda_edges, gather_and_optimizers)
{
    pair p = open_pair(BP_PREC_FP32);
    const int N = 7;
    static const int cases[][3] = {{1, 1, 1}, {1, 1, 33}, {R_MAX, 1, 1}, {R_MAX, 2, 5}}; /* R, B, dim */
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int R = cases[c][0], B = cases[c][1], dim = cases[c][2];
        uint8_t *pix = malloc((size_t)N * dim), lab[N];
        uint32_t s = 221;
        for (size_t i = 0; i < (size_t)N * dim; i++) pix[i] = (uint8_t)rng_next(&s);
        for (int i = 0; i < N; i++) lab[i] = (uint8_t)(rng_next(&s) % 10);
        int32_t *idx = rand_ints((size_t)R * N, N, 222);
        twin tpix = twin_new(&p, pix, (size_t)N * dim), tlab = twin_new(&p, lab, N),
             tidx = twin_new(&p, idx, (size_t)R * N * 4),
             tx = twin_new(&p, NULL, (size_t)R * B * dim * 4), ty = twin_new(&p, NULL, (size_t)R * B * 4);
        cr_assert_eq(p.cpu->ops->gather(p.cpu, R, B, dim, tpix.c, tlab.c, tidx.c, N, tx.c, ty.c), BP_OK);
        cr_assert_eq(p.gpu->ops->gather(p.gpu, R, B, dim, tpix.g, tlab.g, tidx.g, N, tx.g, ty.g), BP_OK,
                     "%s", p.gpu->err.msg);
        expect_equal_bytes(&p, &tx, "gather pixels (edge)");
        expect_equal_bytes(&p, &ty, "gather labels (edge)");
        twin *all[] = {&tpix, &tlab, &tidx, &tx, &ty};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(&p, all[i]);
        free(pix), free(idx);
    }
    static const size_t ns[] = {1, 255, 257};
    for (size_t c = 0; c < 3; c++) {
        size_t n = ns[c];
        float *w = rand_floats(n, -1, 1, 231), *g = rand_floats(n, -1, 1, 232);
        twin tw = twin_new(&p, w, n * 4), tg = twin_new(&p, g, n * 4), tm = twin_new(&p, NULL, n * 4),
             tv = twin_new(&p, NULL, n * 4);
        bp_adam_hyper hp = {.beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .step_size = 1e-2f,
                            .sqrt_bias_corr2 = 0.0316f};
        twin thp = twin_new(&p, &hp, sizeof hp);
        cr_assert_eq(p.cpu->ops->adam_step(p.cpu, n, tw.c, tg.c, tm.c, tv.c, thp.c), BP_OK);
        cr_assert_eq(p.gpu->ops->adam_step(p.gpu, n, tw.g, tg.g, tm.g, tv.g, thp.g), BP_OK, "%s",
                     p.gpu->err.msg);
        cr_assert_eq(p.cpu->ops->sgd_step(p.cpu, n, tw.c, tg.c, tv.c, 0.1f, 0.9f), BP_OK);
        cr_assert_eq(p.gpu->ops->sgd_step(p.gpu, n, tw.g, tg.g, tv.g, 0.1f, 0.9f), BP_OK, "%s",
                     p.gpu->err.msg);
        expect_close(&p, &tw, n, 1e-6, EW_RTOL, "adam + sgd param (edge)");
        expect_close(&p, &tm, n, 1e-8, EW_RTOL, "adam m (edge)");
        twin *all[] = {&tw, &tg, &tm, &tv, &thp};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) twin_free(&p, all[i]);
        free(w), free(g);
    }
    close_pair(&p);
}

/* ---- recordings and the reduction scratch ---------------------------------- */

/* Buffers for output_error of up to 40 runs (B = 4, C = 3), allocated up
 * front: nothing may allocate while an epoch is recorded. */
typedef struct {
    float *lg, *loss, *nerr;
    int32_t *lab;
} red_bufs;

static red_bufs red_alloc(bp_backend *be)
{
    red_bufs b = {alloc_on(be, 40 * 12 * 4), alloc_on(be, 40 * 4), alloc_on(be, 40 * 4),
                  alloc_on(be, 40 * 4 * 4)};
    return b;
}

static void red_free(bp_backend *be, red_bufs *b)
{
    be->ops->release(be, b->lg);
    be->ops->release(be, b->loss);
    be->ops->release(be, b->nerr);
    be->ops->release(be, b->lab);
}

static bp_status one_reduction(bp_backend *be, const red_bufs *b, int R)
{
    return be->ops->output_error(be, R, 4, 3, BP_OUT_SOFTMAX_CE, b->lg, b->lab, NULL, NULL,
                                 b->loss, b->nerr);
}

/* Records one "epoch" of one reduction (after the warm-up) and checks that
 * the next graph_begin would replay it. */
static void record_epoch(bp_backend *be, const red_bufs *b, int R)
{
    int replay = 1;
    for (int e = 0; e < 2; e++) { /* warm-up, recording */
        cr_assert_eq(be->ops->graph_begin(be, &replay), BP_OK, "%s", be->err.msg);
        cr_assert_eq(replay, 0);
        cr_assert_eq(one_reduction(be, b, R), BP_OK, "%s", be->err.msg);
        cr_assert_eq(be->ops->graph_end(be), BP_OK, "%s", be->err.msg);
    }
    cr_assert_eq(be->ops->sync(be), BP_OK, "%s", be->err.msg);
}

/* Growing the reduction scratch frees the buffer a recorded epoch points
 * at: the recording must be dropped, not replayed. */
Test(cuda_graphs, scratch_growth_drops_the_recording)
{
    bp_backend *be = open_cuda(BP_PREC_FP32);
    red_bufs b = red_alloc(be);
    record_epoch(be, &b, 2);
    cr_assert_eq(one_reduction(be, &b, 40), BP_OK, "%s", be->err.msg); /* grows past 16 runs */
    int replay = 1;
    cr_assert_eq(be->ops->graph_begin(be, &replay), BP_OK, "%s", be->err.msg);
    cr_assert_eq(replay, 0, "a recording that points at the freed scratch would be replayed");
    cr_assert_eq(one_reduction(be, &b, 2), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->graph_end(be), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->sync(be), BP_OK, "%s", be->err.msg);
    red_free(be, &b);
    bp_backend_destroy(be);
}

/* An op that fails while an epoch is recorded (here: it would have to grow
 * the scratch, which needs a wait and an allocation) ends and discards the
 * recording: graph_end returns that op's error, nothing is replayed, and
 * the backend works directly afterwards. */
Test(cuda_graphs, failed_op_discards_the_recording)
{
    bp_backend *be = open_cuda(BP_PREC_FP32);
    red_bufs b = red_alloc(be);
    int replay = 1;
    cr_assert_eq(be->ops->graph_begin(be, &replay), BP_OK, "%s", be->err.msg); /* warm-up */
    cr_assert_eq(one_reduction(be, &b, 2), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->graph_end(be), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->graph_begin(be, &replay), BP_OK, "%s", be->err.msg); /* records */
    cr_assert_eq(replay, 0);
    bp_status rc = one_reduction(be, &b, 40);
    cr_assert_neq(rc, BP_OK, "growing the scratch while recording must fail");
    cr_assert(strstr(be->err.msg, "reduction scratch"), "message: %s", be->err.msg);
    cr_assert_eq(be->ops->graph_end(be), rc, "graph_end must return the failed op's error");
    cr_assert(strstr(be->err.msg, "reduction scratch"), "message overwritten: %s", be->err.msg);
    cr_assert_eq(be->ops->graph_begin(be, &replay), BP_OK, "%s", be->err.msg);
    cr_assert_eq(replay, 0, "an incomplete recording would be replayed");
    cr_assert_eq(be->ops->graph_end(be), BP_OK, "%s", be->err.msg);
    cr_assert_eq(one_reduction(be, &b, 40), BP_OK, "%s", be->err.msg); /* directly: grows */
    cr_assert_eq(be->ops->sync(be), BP_OK, "%s", be->err.msg);
    red_free(be, &b);
    bp_backend_destroy(be);
}
