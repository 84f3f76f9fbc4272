/* The sign-symmetry family (usf, brsf, frsf), Kolen-Pollack (kp) and weight
 * mirrors (wm), docs/RULES.md:
 * - the backend ops they use: fill_random against Random123's known answer
 *   and its documented layout, tmap's transpose and sign;
 * - usf gives sign(W^T)/sqrt(n_l) exactly; frsf's magnitudes stay, brsf's
 *   change every step, both follow sign(W^T);
 * - kp aligns B_l with W_l^T below 10 degrees in a fixed number of steps,
 *   and with B = W^T and no decay it is BP (and stays tied bit for bit);
 *   wm reduces the angle on average;
 * - each rule's first update differs from BP's; grouped runs equal solo
 *   runs and resumed runs equal uninterrupted ones bit for bit; each learns
 *   real MNIST in 300 steps. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "biopp/rule.h"
#include "biopp/train.h"
#include "helpers.h"
#include "kernels/philox.h"
#include "kernels/rng_draw.h"

static const bp_rule_id new_rules[] = {BP_RULE_USF, BP_RULE_BRSF, BP_RULE_FRSF, BP_RULE_KP,
                                       BP_RULE_WM};
#define N_NEW ((int)(sizeof new_rules / sizeof new_rules[0]))

static bp_backend *cpu(void)
{
    bp_backend *be;
    bp_error err = {0};
    cr_assert_eq(bp_backend_cpu_create(1, &be, &err), BP_OK, "%s", err.msg);
    return be;
}

/* ---- backend ops ------------------------------------------------------ */

/* Random123's philox4x32_10 vector for counter 0, key 0 (also in
 * test_kernels.c): fill_random at seed 0, stream 0, step 0 reads exactly
 * that block, so its uniforms are the words' top 24 bits. */
Test(rules_more, fill_random_known_answer_and_layout)
{
    bp_backend *be = cpu();
    static const uint32_t kat[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    uint64_t seed0 = 0, step0 = 0;
    float u[4];
    cr_assert_eq(be->ops->fill_random(be, 1, 4, BP_DIST_UNIFORM, 0.0f, 1.0f, &seed0, 0, &step0,
                                      u),
                 BP_OK);
    for (int j = 0; j < 4; j++)
        cr_expect_eq(u[j], (float)(kat[j] >> 8) / 16777216.0f, "word %d", j);

    /* The layout: run r, element i at step t is word i%4 of block
     * (t << 32) + i/4 of (seeds[r], stream); n not a multiple of 4. */
    enum { N = 10 };
    uint64_t seeds[2] = {0x0123456789abcdefULL, 7}, t = 12345, stream = BP_STREAM_DRAW | 3;
    float d[2 * N];
    cr_assert_eq(be->ops->fill_random(be, 2, N, BP_DIST_UNIFORM, -1.0f, 3.0f, seeds, stream, &t,
                                      d),
                 BP_OK);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < N; i++) {
            uint32_t w = bp_philox_block(seeds[r], stream, (t << 32) + i / 4).v[i % 4];
            cr_expect_eq(d[r * N + i], -1.0f + 4.0f * bp_u32_to_unit(w), "r %d i %d", r, i);
        }
    /* Another step draws other numbers. */
    uint64_t t2 = t + 1;
    float d2[N];
    cr_assert_eq(be->ops->fill_random(be, 1, N, BP_DIST_UNIFORM, -1.0f, 3.0f, seeds, stream, &t2,
                                      d2),
                 BP_OK);
    cr_expect_neq(memcmp(d, d2, sizeof d2), 0);
    bp_backend_destroy(be);
}

Test(rules_more, fill_random_normal_moments)
{
    bp_backend *be = cpu();
    enum { N = 200000 };
    float *z = malloc(N * sizeof *z);
    uint64_t seed = 42, t = 3;
    cr_assert_eq(be->ops->fill_random(be, 1, N, BP_DIST_NORMAL, 0.5f, 2.0f, &seed, 9, &t, z),
                 BP_OK);
    double m = 0, v = 0;
    for (int i = 0; i < N; i++) m += z[i];
    m /= N;
    for (int i = 0; i < N; i++) v += (z[i] - m) * (z[i] - m);
    v /= N - 1;
    cr_expect_lt(fabs(m - 0.5), 0.02, "mean %g", m);
    cr_expect_lt(fabs(sqrt(v) - 2.0), 0.02, "std %g", sqrt(v));
    for (int i = 0; i < N; i++) cr_assert(isfinite(z[i]));
    free(z);
    bp_backend_destroy(be);
}

Test(rules_more, tmap_transposes_and_takes_signs)
{
    bp_backend *be = cpu();
    /* X (2 x 3) per run, two runs. */
    float X[] = {1, -2, 0, 4, 5, -6, /* run 1 */ -1, 2, 3, 0, -5, 6};
    float M[] = {2, -3, 4, 5, 6, 7, /* run 1 */ 1, 1, 1, 1, 1, -1};
    float Y[12];
    cr_assert_eq(be->ops->tmap(be, 2, 2, 3, BP_TMAP_COPY, 0.5f, X, NULL, Y), BP_OK);
    const float yc[] = {0.5f, 2, -1, 2.5f, 0, -3, -0.5f, 0, 1, -2.5f, 1.5f, 3};
    for (int i = 0; i < 12; i++) cr_expect_eq(Y[i], yc[i], "copy %d", i);
    cr_assert_eq(be->ops->tmap(be, 2, 2, 3, BP_TMAP_SIGN, 0.25f, X, NULL, Y), BP_OK);
    const float ys[] = {0.25f, 0.25f, -0.25f, 0.25f, 0, -0.25f,
                        -0.25f, 0, 0.25f, -0.25f, 0.25f, 0.25f};
    for (int i = 0; i < 12; i++) cr_expect_eq(Y[i], ys[i], "sign %d", i);
    cr_assert_eq(be->ops->tmap(be, 2, 2, 3, BP_TMAP_SIGN, 1.0f, X, M, Y), BP_OK);
    const float ym[] = {2, 3, -4, 5, 0, -7, -1, 0, 1, -1, 1, 1};
    for (int i = 0; i < 12; i++) cr_expect_eq(Y[i], ym[i], "magnitude %d", i);
    bp_backend_destroy(be);
}

/* ---- fixtures ------------------------------------------------------------ */

typedef struct {
    bp_dataset ds;
    bp_config cfg;
    bp_backend *be;
    bp_group *g;
} fixture;

static const int two[] = {12, 9};

/* A small problem: 64 samples of 15 pixels, 10 classes, batch 8 (8 steps
 * an epoch), Adam lr 1e-2. */
static void build(fixture *f, bp_rule_id rule, int n_hidden, const int *hidden, int batch,
                  uint64_t seed)
{
    th_make_dataset(&f->ds, 64, 15, 10, 5);
    th_config(&f->cfg, rule, n_hidden, hidden, 64);
    f->cfg.batch = batch;
    f->cfg.optimizer = BP_OPT_ADAM;
    f->cfg.lr = 1e-2;
    f->be = cpu();
    bp_error err = {0};
    cr_assert_eq(bp_config_validate(&f->cfg, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_group_create(&f->cfg, &seed, 1, &f->ds, f->be, &f->g, &err), BP_OK, "%s",
                 err.msg);
}

static void teardown(fixture *f)
{
    bp_group_destroy(f->g);
    bp_backend_destroy(f->be);
    bp_dataset_free(&f->ds);
}

/* Angle in degrees between B (n_{l-1} x n_l) and W^T, W n_l x n_{l-1}. */
static double angle_bwt(const float *B, const float *W, int rows, int cols)
{
    double xy = 0, xx = 0, yy = 0;
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double w = W[i * cols + j], b = B[j * rows + i];
            xy += w * b, xx += b * b, yy += w * w;
        }
    double c = xy / sqrt(xx * yy);
    return acos(fmax(-1.0, fmin(1.0, c))) * 180.0 / M_PI;
}

/* The angle of B_l to W_l^T now. */
static double fb_angle_now(fixture *f, int l)
{
    bp_net *net = bp_group_net(f->g);
    const bp_arena *fa = net->fbm_arena;
    float *b = th_download(f->g, fa, fa->p, 0), *w = th_download(f->g, &net->fwd, net->fwd.p, 0);
    const bp_tensor *wt = &net->fwd.t[net->W[l]];
    double a = angle_bwt(th_tensor(net, fa, b, net->Bfix[l]), th_tensor(net, &net->fwd, w, net->W[l]),
                         wt->rows, wt->cols);
    free(b), free(w);
    return a;
}

/* ---- the sign-symmetry family ---------------------------------------------- */

/* usf: B_l = sign(W_l^T) / sqrt(n_l), from this step's W_l; with W_l all
 * positive, every entry is exactly 1/sqrt(n_l). */
Test(rules_more, usf_gives_the_sign_pattern)
{
    fixture f;
    build(&f, BP_RULE_USF, 2, two, 64, 3);
    bp_net *net = bp_group_net(f.g);
    float *w = th_download(f.g, &net->fwd, net->fwd.p, 0);
    for (int l = 2; l <= net->L + 1; l++) {
        const bp_tensor *t = &net->fwd.t[net->W[l]];
        float *W = th_tensor(net, &net->fwd, w, net->W[l]);
        for (int k = 0; k < t->rows * t->cols; k++) W[k] = fabsf(W[k]) + 1e-3f;
        th_set_tensor(f.g, &net->fwd, net->fwd.p, net->W[l], 0, W);
    }
    cr_assert_eq(net->rule->prepare(net, f.be), BP_OK);
    float *b = th_download(f.g, &net->fixed, net->fixed.p, 0);
    for (int l = 2; l <= net->L + 1; l++) {
        const bp_tensor *t = &net->fixed.t[net->Bfix[l]];
        const float *B = th_tensor(net, &net->fixed, b, net->Bfix[l]);
        float want = 1.0f / sqrtf((float)net->n[l]);
        for (int k = 0; k < t->rows * t->cols; k++)
            cr_assert_eq(B[k], want, "B_%d[%d] = %g, want %g", l, k, B[k], want);
    }
    free(b);
    /* A trained (mixed-sign) W: B_l = sign(W_l^T) / sqrt(n_l) entry by entry. */
    bp_epoch_metrics m;
    th_epoch(f.g, &m);
    th_epoch(f.g, &m);
    free(w);
    w = th_download(f.g, &net->fwd, net->fwd.p, 0);
    cr_assert_eq(net->rule->prepare(net, f.be), BP_OK);
    b = th_download(f.g, &net->fixed, net->fixed.p, 0);
    int neg = 0;
    for (int l = 2; l <= net->L + 1; l++) {
        const bp_tensor *t = &net->fwd.t[net->W[l]];
        const float *W = th_tensor(net, &net->fwd, w, net->W[l]);
        const float *B = th_tensor(net, &net->fixed, b, net->Bfix[l]);
        float s = 1.0f / sqrtf((float)net->n[l]);
        for (int i = 0; i < t->rows; i++)
            for (int j = 0; j < t->cols; j++) {
                float x = W[i * t->cols + j];
                cr_assert_eq(B[j * t->rows + i], x > 0 ? s : x < 0 ? -s : 0.0f);
                neg += x < 0;
            }
    }
    cr_expect_gt(neg, 0, "the trained W has negative entries");
    free(b), free(w);
    teardown(&f);
}

/* Over 6 steps (one step an epoch): sign(B_l) = sign(W_l^T) of the W the
 * step used; |B_l| is the same every step for frsf and new every step for
 * brsf. */
static void sign_family_over_steps(bp_rule_id rule)
{
    fixture f;
    build(&f, rule, 2, two, 64, 4);
    bp_net *net = bp_group_net(f.g);
    size_t nfix = net->fixed.n;
    float *prev_abs = NULL;
    for (int s = 0; s < 6; s++) {
        float *w = th_download(f.g, &net->fwd, net->fwd.p, 0);
        bp_epoch_metrics m;
        th_epoch(f.g, &m);
        float *b = th_download(f.g, &net->fixed, net->fixed.p, 0);
        float *abs_b = calloc(nfix, sizeof *abs_b);
        size_t k = 0, changed = 0, total = 0;
        for (int l = 2; l <= net->L + 1; l++) {
            const bp_tensor *t = &net->fwd.t[net->W[l]];
            const float *W = th_tensor(net, &net->fwd, w, net->W[l]);
            const float *B = th_tensor(net, &net->fixed, b, net->Bfix[l]);
            for (int i = 0; i < t->rows; i++)
                for (int j = 0; j < t->cols; j++, k++) {
                    float x = W[i * t->cols + j], y = B[j * t->rows + i];
                    cr_assert((x > 0) == (y > 0) && (x < 0) == (y < 0),
                              "%s step %d: B_%d[%d][%d] = %g but W = %g", bp_rule_name(rule), s,
                              l, j, i, y, x);
                    abs_b[k] = fabsf(y);
                    if (prev_abs) {
                        total++;
                        changed += abs_b[k] != prev_abs[k];
                    }
                }
        }
        if (prev_abs && rule == BP_RULE_FRSF)
            cr_expect_eq(changed, 0, "frsf step %d: %zu of %zu magnitudes changed", s, changed,
                         total);
        if (prev_abs && rule == BP_RULE_BRSF)
            cr_expect_gt(changed, 0.99 * total, "brsf step %d: only %zu of %zu magnitudes changed",
                         s, changed, total);
        free(prev_abs);
        prev_abs = abs_b;
        free(w), free(b);
    }
    free(prev_abs);
    teardown(&f);
}

Test(rules_more, frsf_magnitudes_stay_and_follow_the_signs)
{
    sign_family_over_steps(BP_RULE_FRSF);
}

Test(rules_more, brsf_magnitudes_change_every_step_and_follow_the_signs)
{
    sign_family_over_steps(BP_RULE_BRSF);
}

/* ---- Kolen-Pollack and weight mirrors ------------------------------------- */

/* B_l - W_l^T shrinks by (1 - kp_decay) a step: with kp_decay = 0.05 the
 * angle starts near 90 degrees and is below 10 after 104 steps. */
Test(rules_more, kp_aligns_feedback_below_10_degrees)
{
    static const int wide[] = {40, 30};
    fixture f;
    build(&f, BP_RULE_KP, 2, wide, 8, 6);
    bp_group_destroy(f.g);
    f.cfg.kp_decay = 0.05;
    uint64_t seed = 6;
    bp_error err = {0};
    cr_assert_eq(bp_config_validate(&f.cfg, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_group_create(&f.cfg, &seed, 1, &f.ds, f.be, &f.g, &err), BP_OK, "%s",
                 err.msg);
    bp_net *net = bp_group_net(f.g);
    for (int l = 2; l <= net->L + 1; l++)
        cr_expect_gt(fb_angle_now(&f, l), 60.0, "B_%d starts unaligned", l);
    bp_epoch_metrics m;
    for (int e = 0; e < 13; e++) th_epoch(f.g, &m);
    for (int l = 2; l <= net->L + 1; l++) {
        double a = fb_angle_now(&f, l);
        cr_log_info("kp: B_%d vs W_%d^T after 104 steps: %.2f degrees", l, l, a);
        cr_expect_lt(a, 10.0, "B_%d vs W_%d^T after 104 steps: %g degrees", l, l, a);
    }
    teardown(&f);
}

/* kp with B_l = W_l^T and kp_decay = 0 is BP: the first update equals BP's
 * on the same batch; and a tied B stays tied, bit for bit, through Adam
 * steps with decay (the updates are exact transposes). */
Test(rules_more, kp_with_tied_feedback_is_bp_and_stays_tied)
{
    fixture b, f;
    build(&b, BP_RULE_BP, 2, two, 64, 7);
    bp_epoch_metrics m;
    th_epoch(b.g, &m);
    bp_net *bnet = bp_group_net(b.g);
    float *bp_g = th_download(b.g, &bnet->fwd, bnet->fwd.g, 0);

    build(&f, BP_RULE_KP, 2, two, 64, 7);
    bp_group_destroy(f.g);
    f.cfg.kp_decay = 0.0;
    uint64_t seed = 7;
    bp_error err = {0};
    cr_assert_eq(bp_group_create(&f.cfg, &seed, 1, &f.ds, f.be, &f.g, &err), BP_OK, "%s",
                 err.msg);
    bp_net *net = bp_group_net(f.g);
    int tensors[BP_MAX_LAYERS], layers[BP_MAX_LAYERS], k = 0;
    for (int l = 2; l <= net->L + 1; l++) tensors[k] = net->Bfix[l], layers[k++] = l;
    th_tie_to_wt(f.g, &net->fb, net->fb.p, tensors, layers, k);
    th_epoch(f.g, &m);
    float *g = th_download(f.g, &net->fwd, net->fwd.g, 0);
    size_t n = net->fwd.n;
    double *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n; i++) ref[i] = bp_g[i];
    double worst = th_max_rel(g, ref, n, 1e-7, 1e-5);
    cr_expect_leq(worst, 1.0, "kp with B = W^T, no decay: dW differs from BP's (%g)", worst);
    free(g), free(ref), free(bp_g);
    teardown(&b);

    /* Tied, with decay 0.1, over 8 Adam steps: B_l == W_l^T exactly. */
    bp_group_destroy(f.g);
    f.cfg.kp_decay = 0.1;
    f.cfg.batch = 8;
    cr_assert_eq(bp_group_create(&f.cfg, &seed, 1, &f.ds, f.be, &f.g, &err), BP_OK, "%s",
                 err.msg);
    net = bp_group_net(f.g);
    th_tie_to_wt(f.g, &net->fb, net->fb.p, tensors, layers, k);
    th_epoch(f.g, &m);
    float *w = th_download(f.g, &net->fwd, net->fwd.p, 0);
    float *bb = th_download(f.g, &net->fb, net->fb.p, 0);
    for (int l = 2; l <= net->L + 1; l++) {
        const bp_tensor *t = &net->fwd.t[net->W[l]];
        const float *W = th_tensor(net, &net->fwd, w, net->W[l]);
        const float *B = th_tensor(net, &net->fb, bb, net->Bfix[l]);
        for (int i = 0; i < t->rows; i++)
            for (int j = 0; j < t->cols; j++)
                cr_assert_eq(B[j * t->rows + i], W[i * t->cols + j], "B_%d untied at %d,%d", l,
                             j, i);
    }
    free(w), free(bb);
    teardown(&f);
}

/* wm: the mirror phase pulls B_l towards W_l^T; with the defaults the
 * angle, ~90 degrees at init, averages far lower over steps 40..104. */
Test(rules_more, wm_reduces_the_feedback_angle_on_average)
{
    static const int wide[] = {40, 30};
    fixture f;
    build(&f, BP_RULE_WM, 2, wide, 8, 8);
    bp_net *net = bp_group_net(f.g);
    double start[BP_MAX_LAYERS], later[BP_MAX_LAYERS] = {0};
    for (int l = 2; l <= net->L + 1; l++) start[l] = fb_angle_now(&f, l);
    bp_epoch_metrics m;
    int count = 0;
    for (int e = 0; e < 13; e++) {
        th_epoch(f.g, &m);
        if (e < 4) continue;
        for (int l = 2; l <= net->L + 1; l++) later[l] += fb_angle_now(&f, l);
        count++;
    }
    for (int l = 2; l <= net->L + 1; l++) {
        later[l] /= count;
        cr_log_info("wm: B_%d vs W_%d^T: %.1f degrees at init, %.1f on average later", l, l,
                    start[l], later[l]);
        cr_expect_gt(start[l], 60.0);
        cr_expect_lt(later[l], start[l] - 30.0, "B_%d: %g at init, %g later", l, start[l],
                     later[l]);
    }
    teardown(&f);
}

/* ---- not silently BP; grouped = solo; resume = uninterrupted ---------------- */

Test(rules_more, first_update_differs_from_bp)
{
    fixture b;
    build(&b, BP_RULE_BP, 2, two, 32, 20);
    bp_epoch_metrics m;
    th_epoch(b.g, &m);
    bp_net *bnet = bp_group_net(b.g);
    float *bp_g = th_download(b.g, &bnet->fwd, bnet->fwd.g, 0);
    for (int i = 0; i < N_NEW; i++) {
        fixture f;
        build(&f, new_rules[i], 2, two, 32, 20);
        th_epoch(f.g, &m);
        bp_net *net = bp_group_net(f.g);
        float *g = th_download(f.g, &net->fwd, net->fwd.g, 0);
        const bp_tensor *w1 = &net->fwd.t[net->W[1]];
        double diff = 0.0, scale = 0.0;
        for (size_t k = 0; k < (size_t)w1->rows * w1->cols; k++) {
            diff = fmax(diff, fabs(g[w1->off + k] - bp_g[w1->off + k]));
            scale = fmax(scale, fabs(bp_g[w1->off + k]));
        }
        cr_expect_gt(diff, 0.1 * scale, "%s: dW_1 equals BP's (max diff %g, max |BP| %g)",
                     bp_rule_name(new_rules[i]), diff, scale);
        free(g);
        teardown(&f);
    }
    free(bp_g);
    teardown(&b);
}

/* Every parameter of run r, all three arenas (wm's B and brsf's draws live
 * in the fixed one). */
static float *all_params(bp_group *g, int r, size_t *n)
{
    bp_net *net = bp_group_net(g);
    const bp_arena *as[3] = {&net->fwd, &net->fb, &net->fixed};
    size_t total = 0;
    for (int a = 0; a < 3; a++) total += as[a]->n / net->R;
    float *out = malloc((total + 1) * sizeof *out);
    size_t off = 0;
    for (int a = 0; a < 3; a++) {
        size_t k = as[a]->n / net->R;
        if (!k) continue;
        float *p = th_download(g, as[a], as[a]->p, r);
        memcpy(out + off, p, k * sizeof *out);
        off += k;
        free(p);
    }
    *n = total;
    return out;
}

static bp_group *group(const bp_config *cfg, const uint64_t *seeds, int R, const bp_dataset *ds,
                       bp_backend **be)
{
    bp_error err = {0};
    bp_group *g = NULL;
    cr_assert_eq(bp_backend_cpu_create(cfg->threads, be, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_group_create(cfg, seeds, R, ds, *be, &g, &err), BP_OK, "%s", err.msg);
    return g;
}

static void small_config(bp_config *cfg, bp_rule_id rule)
{
    static const int hidden2[] = {7, 5};
    th_config(cfg, rule, 2, hidden2, 40);
    cfg->batch = 8;
    cfg->eval_batch = 16;
    cfg->optimizer = BP_OPT_ADAM;
    cfg->lr = 1e-2;
}

Test(rules_more, grouped_runs_equal_solo_runs_bit_for_bit)
{
    bp_dataset ds;
    th_make_dataset(&ds, 40, 9, 4, 11);
    for (int k = 0; k < N_NEW; k++)
        for (int threads = 1; threads <= 2; threads++) {
            bp_config cfg;
            small_config(&cfg, new_rules[k]);
            uint64_t seeds[3] = {5, 1, 9};
            bp_backend *be;
            cfg.threads = threads;
            bp_group *g = group(&cfg, seeds, 3, &ds, &be);
            cfg.threads = 1;
            bp_epoch_metrics m[3];
            th_epoch(g, m);
            th_epoch(g, m);
            for (int r = 0; r < 3; r++) {
                bp_backend *be1;
                bp_group *solo = group(&cfg, &seeds[r], 1, &ds, &be1);
                bp_epoch_metrics m1;
                th_epoch(solo, &m1);
                th_epoch(solo, &m1);
                size_t n, n1;
                float *a = all_params(g, r, &n), *b = all_params(solo, 0, &n1);
                cr_assert_eq(n, n1);
                cr_expect_eq(memcmp(a, b, n * sizeof *a), 0,
                             "rule %s, threads %d, run %d: group != solo",
                             bp_rule_name(new_rules[k]), threads, r);
                cr_expect_eq(m[r].train_loss, m1.train_loss);
                free(a), free(b);
                bp_group_destroy(solo);
                bp_backend_destroy(be1);
            }
            bp_group_destroy(g);
            bp_backend_destroy(be);
        }
    bp_dataset_free(&ds);
}

/* The per-step draws are keyed by the step number, so a resumed run draws
 * what the uninterrupted one did. */
Test(rules_more, checkpoint_resume_is_exact)
{
    bp_dataset ds;
    th_make_dataset(&ds, 40, 9, 4, 3);
    char dir[] = "/tmp/biopp-rules-more-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/ck.bin", dir);
    for (int k = 0; k < N_NEW; k++) {
        bp_config cfg;
        small_config(&cfg, new_rules[k]);
        uint64_t seed = 4;
        bp_error err = {0};
        bp_epoch_metrics m, m2;
        bp_backend *be, *be2;
        bp_group *g = group(&cfg, &seed, 1, &ds, &be);
        th_epoch(g, &m);
        cr_assert_eq(bp_checkpoint_save(g, 0, path, &err), BP_OK, "%s", err.msg);
        th_epoch(g, &m);
        bp_group *h = group(&cfg, &seed, 1, &ds, &be2);
        cr_assert_eq(bp_checkpoint_load(h, 0, path, &err), BP_OK, "%s", err.msg);
        th_epoch(h, &m2);
        size_t n;
        float *a = all_params(g, 0, &n), *b = all_params(h, 0, &n);
        cr_expect_eq(memcmp(a, b, n * sizeof *a), 0, "%s: resumed run differs",
                     bp_rule_name(new_rules[k]));
        cr_expect_eq(m.train_loss, m2.train_loss);
        free(a), free(b);
        bp_group_destroy(g), bp_group_destroy(h);
        bp_backend_destroy(be), bp_backend_destroy(be2);
    }
    unlink(path);
    rmdir(dir);
    bp_dataset_free(&ds);
}

/* ---- real data ------------------------------------------------------------- */

/* 300 steps of each new rule on real MNIST (the setup of
 * engine/every_rule_learns_mnist) must beat chance (90% error) by a wide
 * margin. Measured: usf 9.2%, brsf 9.7%, frsf 9.4%, kp 10.1%, wm 10.5%
 * test error (BP 8.4%, FA 9.9% in that test). */
Test(rules_more, every_new_rule_learns_mnist, .timeout = 300)
{
    const char *dir = th_mnist_dir();
    if (!dir) cr_skip_test("MNIST not found in ../shared/data or data/");
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("mnist", dir, &ds, &err), BP_OK, "%s", err.msg);
    static const int widths[] = {256};
    for (int k = 0; k < N_NEW; k++) {
        bp_config cfg;
        th_config(&cfg, new_rules[k], 1, widths, 128);
        cfg.train_size = 38400; /* 300 steps of 128 */
        cfg.eval_batch = 1000;
        cfg.optimizer = BP_OPT_ADAM;
        cfg.lr = 1e-3;
        uint64_t seed = 1;
        bp_backend *be;
        bp_group *g = group(&cfg, &seed, 1, &ds, &be);
        bp_epoch_metrics m;
        th_epoch(g, &m);
        cr_log_info("%s: test error %.2f%%, valid %.2f%%, train loss %.4f",
                    bp_rule_name(new_rules[k]), 100 * m.test_error, 100 * m.valid_error,
                    m.train_loss);
        cr_expect_lt(m.test_error, 0.20, "%s: test error %.3f after 300 steps",
                     bp_rule_name(new_rules[k]), m.test_error);
        cr_expect_lt(m.valid_error, 0.20);
        cr_expect(!m.diverged);
        bp_group_destroy(g);
        bp_backend_destroy(be);
    }
    bp_dataset_free(&ds);
}
