/* The elementwise formulas of kernels/ (shared by the CPU loops and the CUDA
 * kernels) and the Philox generator behind every random number. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/rng.h"
#include "kernels/activation.h"
#include "kernels/loss.h"
#include "kernels/optim.h"
#include "kernels/philox.h"

/* Random123's known-answer vectors (tests/kat_vectors, philox4x32 10). */
Test(kernels, philox_known_answers)
{
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof *kat; i++) {
        bp_philox_ctr c;
        memcpy(c.v, kat[i].ctr, sizeof c.v);
        bp_philox_ctr o = bp_philox4x32_10(c, kat[i].key[0], kat[i].key[1]);
        for (int j = 0; j < 4; j++)
            cr_expect_eq(o.v[j], kat[i].out[j], "vector %zu word %d: %08x != %08x", i, j, o.v[j],
                         kat[i].out[j]);
    }
}

Test(kernels, uniform_fill_is_bounded_centred_and_stream_dependent)
{
    enum { N = 100000 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    bp_uniform_fill(42, 7, 0.5f, a, N);
    bp_uniform_fill(42, 8, 0.5f, b, N);
    double sum = 0.0, sq = 0.0;
    int same = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(a[i] >= -0.5f && a[i] < 0.5f);
        sum += a[i];
        sq += a[i] * a[i];
        same += a[i] == b[i];
    }
    cr_expect_lt(fabs(sum / N), 0.005);
    cr_expect_float_eq(sq / N, 0.25 / 3.0, 0.002); /* variance of U(-a,a) = a^2/3 */
    cr_expect_lt(same, 10);
    free(a), free(b);
}

Test(kernels, permutation_is_a_permutation_and_reproducible)
{
    enum { N = 1000 };
    int32_t p[N], q[N], seen[N] = {0};
    bp_permutation(3, BP_STREAM_SHUFFLE, p, N);
    bp_permutation(3, BP_STREAM_SHUFFLE, q, N);
    int fixed = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(p[i] >= 0 && p[i] < N);
        seen[p[i]]++;
        cr_expect_eq(p[i], q[i]);
        fixed += p[i] == i;
    }
    for (int i = 0; i < N; i++) cr_expect_eq(seen[i], 1);
    cr_expect_lt(fixed, 10); /* ~1 expected for a random permutation */
    bp_permutation(3, BP_STREAM_SHUFFLE + 1, q, N);
    cr_expect_neq(memcmp(p, q, sizeof p), 0, "another epoch must give another order");
}

Test(kernels, activation_derivatives_match_finite_differences)
{
    bp_act acts[] = {BP_ACT_TANH, BP_ACT_SIGMOID, BP_ACT_RELU, BP_ACT_IDENTITY};
    for (size_t k = 0; k < 4; k++)
        for (float a = -3.1f; a < 3.0f; a += 0.37f) {
            double h = 1e-3;
            double fd = (bp_act_apply(acts[k], a + h) - bp_act_apply(acts[k], a - h)) / (2 * h);
            float g = bp_act_grad_from_out(acts[k], bp_act_apply(acts[k], a));
            cr_expect(fabs(g - fd) < 2e-3, "act %d at %g: %g vs %g", (int)acts[k], a, g, fd);
        }
}

Test(kernels, output_row_losses_and_errors)
{
    float a[3] = {2.0f, -1.0f, 0.5f}, yhat[3], e[3];
    /* sigmoid + BCE: loss = sum_k -log(p_k) or -log(1 - p_k) */
    float loss = bp_output_row(BP_OUT_SIGMOID_BCE, 3, a, 0, yhat, e);
    double ref = 0.0;
    for (int k = 0; k < 3; k++) {
        double p = 1.0 / (1.0 + exp(-a[k]));
        ref += k == 0 ? -log(p) : -log(1 - p);
        cr_expect_float_eq(yhat[k], p, 1e-6);
        cr_expect_float_eq(e[k], p - (k == 0), 1e-6);
    }
    cr_expect_float_eq(loss, ref, 1e-5);
    /* softmax + CE */
    loss = bp_output_row(BP_OUT_SOFTMAX_CE, 3, a, 2, yhat, e);
    double z = exp(2.0) + exp(-1.0) + exp(0.5);
    cr_expect_float_eq(loss, -log(exp(0.5) / z), 1e-5);
    cr_expect_float_eq(e[2], exp(0.5) / z - 1.0, 1e-6);
    /* extreme logits stay finite */
    float big[2] = {1000.0f, -1000.0f};
    cr_expect(isfinite(bp_output_row(BP_OUT_SIGMOID_BCE, 2, big, 1, NULL, NULL)));
    cr_expect(isfinite(bp_output_row(BP_OUT_SOFTMAX_CE, 2, big, 1, NULL, NULL)));
    cr_expect_eq(bp_row_is_error(3, a, 0), 0);
    cr_expect_eq(bp_row_is_error(3, a, 1), 1);
}

Test(kernels, bdfa_alignment_loss_and_slope)
{
    for (float s = -4.0f; s < 4.0f; s += 0.5f) {
        float d1, d2;
        double h = 1e-3;
        float l1 = bp_bdfa_align_loss(BP_BDFA_ONE_MINUS_SIGMOID, s, &d1);
        float l2 = bp_bdfa_align_loss(BP_BDFA_NEG_LOG_SIGMOID, s, &d2);
        double sg = 1.0 / (1.0 + exp(-s));
        cr_expect_float_eq(l1, 1.0 - sg, 1e-6);
        cr_expect_float_eq(l2, -log(sg), 1e-5);
        float tmp;
        double fd1 = (bp_bdfa_align_loss(BP_BDFA_ONE_MINUS_SIGMOID, s + h, &tmp) -
                      bp_bdfa_align_loss(BP_BDFA_ONE_MINUS_SIGMOID, s - h, &tmp)) / (2 * h);
        double fd2 = (bp_bdfa_align_loss(BP_BDFA_NEG_LOG_SIGMOID, s + h, &tmp) -
                      bp_bdfa_align_loss(BP_BDFA_NEG_LOG_SIGMOID, s - h, &tmp)) / (2 * h);
        cr_expect_float_eq(d1, fd1, 1e-3);
        cr_expect_float_eq(d2, fd2, 1e-3);
    }
}

Test(kernels, reconstruction_and_targets)
{
    float eps;
    cr_expect_float_eq(bp_recon_elem(BP_RECON_IDENTITY, 0.7f, 0.2f, &eps), 0.125f, 1e-7);
    cr_expect_float_eq(eps, 0.5f, 1e-7);
    float l = bp_recon_elem(BP_RECON_SIGMOID_BCE, 0.0f, 1.0f, &eps);
    cr_expect_float_eq(l, log(2.0), 1e-6);
    cr_expect_float_eq(eps, -0.5f, 1e-7);
    cr_expect_float_eq(bp_target_elem(BP_TARGET_MIX, 0.25f, 1, 1, 0.8f), 1.2f, 1e-6);
    cr_expect_float_eq(bp_target_elem(BP_TARGET_MIX, 0.25f, 0, 1, 0.8f), 0.2f, 1e-6);
    cr_expect_float_eq(bp_target_elem(BP_TARGET_PAPER_CODE, 0.25f, 1, 1, 3.0f), 1.0f, 0);
    cr_expect_float_eq(bp_target_elem(BP_TARGET_PAPER_CODE, 0.25f, 0, 1, 3.0f), 0.75f, 1e-6);
}

/* Adam's first step moves every parameter by lr * sign(g) (bias-corrected). */
Test(kernels, adam_and_sgd_steps)
{
    /* t = 1: step_size = lr / (1 - beta1), sqrt_bias_corr2 = sqrt(1 - beta2) */
    float p = 1.0f, m = 0.0f, v = 0.0f;
    bp_adam_elem(&p, -3.0f, &m, &v, 0.9f, 0.999f, 0.01f / 0.1f, sqrtf(0.001f), 1e-8f);
    cr_expect_float_eq(p, 1.01f, 1e-6);
    float q = 1.0f, vel = 0.0f;
    bp_sgd_elem(&q, 2.0f, &vel, 0.1f, 0.9f);
    bp_sgd_elem(&q, 2.0f, &vel, 0.1f, 0.9f);
    cr_expect_float_eq(vel, 3.8f, 1e-6);
    cr_expect_float_eq(q, 1.0f - 0.2f - 0.38f, 1e-6);
    float r = 1.0f;
    bp_sgd_elem(&r, 2.0f, NULL, 0.1f, 0.0f);
    cr_expect_float_eq(r, 0.8f, 1e-7);
}
