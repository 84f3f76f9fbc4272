/* The backend ops of the newer rules on CUDA against the CPU backend
 * (skip without a GPU): fill_random's numbers from cuRAND's Philox-4x32-10
 * must be the CPU's host-Philox numbers (uniform: bit for bit; normal: to a
 * few ulps of logf/sinf/cosf), with the step number read from device
 * memory; tmap exactly. Self-contained like test_cuda.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/backend.h"

static bp_backend *open_cuda_or_skip(void)
{
    bp_backend *be = NULL;
    bp_error err = {0};
    bp_status rc = bp_backend_cuda_create(BP_PREC_FP32, &be, &err);
    if (rc == BP_ERR_UNSUPPORTED || (rc == BP_ERR_DEVICE && strstr(err.msg, "no CUDA device")))
        cr_skip_test("no CUDA device: %s", err.msg);
    cr_assert_eq(rc, BP_OK, "creating the CUDA backend failed: %s", err.msg);
    return be;
}

static bp_backend *open_cpu(void)
{
    bp_backend *be = NULL;
    bp_error err = {0};
    cr_assert_eq(bp_backend_cpu_create(1, &be, &err), BP_OK, "%s", err.msg);
    return be;
}

static void *put(bp_backend *be, const void *host, size_t bytes)
{
    void *d = be->ops->alloc(be, bytes);
    cr_assert_not_null(d, "%s: %s", be->ops->name, be->err.msg);
    if (host) cr_assert_eq(be->ops->upload(be, d, host, bytes), BP_OK, "%s", be->err.msg);
    return d;
}

static void *get(bp_backend *be, const void *d, size_t bytes)
{
    void *h = malloc(bytes);
    cr_assert_eq(be->ops->download(be, h, d, bytes), BP_OK, "%s", be->err.msg);
    return h;
}

/* R = 3 runs, n = 1001 (not a multiple of 4), a step number large enough
 * to fill the block's high word, a stream above 32 bits: every word of the
 * counter and key is exercised. */
static void compare_draws(bp_dist dist, double rtol)
{
    bp_backend *g = open_cuda_or_skip(), *c = open_cpu();
    enum { R = 3, N = 1001 };
    const uint64_t seeds[R] = {1, 0xfedcba9876543210ULL, 77};
    const uint64_t stream = (UINT64_C(1) << 41) | 0x205, steps[2] = {1, 123456789};
    for (int k = 0; k < 2; k++) {
        void *gs = put(g, seeds, sizeof seeds), *gt = put(g, &steps[k], 8);
        float *gd = put(g, NULL, R * N * sizeof(float)), cd[R * N];
        cr_assert_eq(g->ops->fill_random(g, R, N, dist, -0.5f, 2.0f, gs, stream, gt, gd), BP_OK,
                     "%s", g->err.msg);
        cr_assert_eq(c->ops->fill_random(c, R, N, dist, -0.5f, 2.0f, seeds, stream, &steps[k],
                                         cd),
                     BP_OK);
        float *h = get(g, gd, sizeof cd);
        for (int i = 0; i < R * N; i++) {
            double d = fabs((double)h[i] - cd[i]);
            if (!(d <= rtol * (1.0 + fabs(cd[i]))))
                cr_assert_fail("dist %d step %llu element %d: cuda %.9g, cpu %.9g", (int)dist,
                               (unsigned long long)steps[k], i, h[i], cd[i]);
        }
        free(h);
        g->ops->release(g, gs), g->ops->release(g, gt), g->ops->release(g, gd);
    }
    bp_backend_destroy(g);
    bp_backend_destroy(c);
}

Test(cuda_rng, uniform_draws_equal_the_cpu_bit_for_bit) { compare_draws(BP_DIST_UNIFORM, 0.0); }

Test(cuda_rng, normal_draws_equal_the_cpu_to_a_few_ulps) { compare_draws(BP_DIST_NORMAL, 1e-5); }

Test(cuda_rng, tmap_equals_the_cpu)
{
    bp_backend *g = open_cuda_or_skip(), *c = open_cpu();
    enum { R = 2, ROWS = 37, COLS = 53, N = R * ROWS * COLS };
    static float X[N], M[N], yc[N];
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        X[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        M[i] = -X[(i * 7) % N];
    }
    X[5] = 0.0f; /* sign(0) = 0 */
    float *gx = put(g, X, sizeof X), *gm = put(g, M, sizeof M), *gy = put(g, NULL, sizeof X);
    struct { bp_tmap kind; float alpha; int with_m; } cases[] = {
        {BP_TMAP_COPY, 0.5f, 0}, {BP_TMAP_SIGN, 0.25f, 0}, {BP_TMAP_SIGN, 1.0f, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        cr_assert_eq(g->ops->tmap(g, R, ROWS, COLS, cases[k].kind, cases[k].alpha, gx,
                                  cases[k].with_m ? gm : NULL, gy),
                     BP_OK, "%s", g->err.msg);
        cr_assert_eq(c->ops->tmap(c, R, ROWS, COLS, cases[k].kind, cases[k].alpha, X,
                                  cases[k].with_m ? M : NULL, yc),
                     BP_OK);
        float *h = get(g, gy, sizeof yc);
        cr_expect_eq(memcmp(h, yc, sizeof yc), 0, "tmap case %zu differs", k);
        free(h);
    }
    g->ops->release(g, gx), g->ops->release(g, gm), g->ops->release(g, gy);
    bp_backend_destroy(g);
    bp_backend_destroy(c);
}
