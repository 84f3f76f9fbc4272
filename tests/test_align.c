/* The alignment diagnostics (include/biopp/align.h):
 * - the backend's angle op on vectors whose angles are known;
 * - angles are 0 for BP and for FA/BFA whose feedback is W^T, and near 90
 *   degrees for random feedback at initialisation on wide layers;
 * - the "not silently BP" guard: every other rule's first update differs
 *   from BP's on the same batch;
 * - measuring changes nothing about training, and the logs survive a resume. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/align.h"
#include "biopp/fsutil.h"
#include "biopp/report.h"
#include "biopp/runner.h"
#include "helpers.h"

/* ---- the backend op ------------------------------------------------------ */

static bp_backend *cpu(void)
{
    bp_backend *be;
    bp_error err = {0};
    cr_assert_eq(bp_backend_cpu_create(1, &be, &err), BP_OK, "%s", err.msg);
    return be;
}

Test(align, angle_op_rows_whole_and_transposed)
{
    bp_backend *be = cpu();
    /* Run 0: rows (1,0)|(1,1) -> 45; (0,2)|(0,-1) -> 180; (0,0)|(1,0): no angle.
     * Run 1: rows (1,0)|(0,3) -> 90, the others as run 0. */
    float X[] = {1, 0, 0, 2, 0, 0, 1, 0, 0, 2, 0, 0};
    float Y[] = {1, 1, 0, -1, 1, 0, 0, 3, 0, -1, 1, 0};
    float a[2], n[2];
    cr_assert_eq(be->ops->angle(be, 2, 3, 2, X, Y, 0, 1, a, n), BP_OK);
    cr_expect_float_eq(a[0], 45.0f + 180.0f, 1e-4f);
    cr_expect_eq(n[0], 2.0f);
    cr_expect_float_eq(a[1], 90.0f + 180.0f, 1e-4f);
    cr_expect_eq(n[1], 2.0f);
    /* Whole tensor: x = (1,2) vs y = (2,4) is 0 degrees; y stored transposed. */
    float x2[] = {1, 0, 0, 2}, y2[] = {2, 0, 0, 4}, yt[] = {2, 0, 0, 4};
    cr_assert_eq(be->ops->angle(be, 1, 2, 2, x2, y2, 0, 0, a, n), BP_OK);
    cr_expect_float_eq(a[0], 0.0f, 1e-3f);
    cr_expect_eq(n[0], 1.0f);
    /* x = [[1,2,3]] (1x3) against y^T with y = [[1],[0],[0]] (3x1): cos = 1/sqrt(14). */
    float x3[] = {1, 2, 3}, y3[] = {1, 0, 0};
    cr_assert_eq(be->ops->angle(be, 1, 1, 3, x3, y3, 1, 0, a, n), BP_OK);
    cr_expect_float_eq(a[0], (float)(acos(1.0 / sqrt(14.0)) * 180.0 / M_PI), 1e-4f);
    /* A zero tensor has no angle. */
    float z[] = {0, 0, 0, 0};
    cr_assert_eq(be->ops->angle(be, 1, 2, 2, z, yt, 0, 0, a, n), BP_OK);
    cr_expect_eq(n[0], 0.0f);
    bp_backend_destroy(be);
}

/* ---- one measured step ---------------------------------------------------- */

typedef struct {
    bp_dataset ds;
    bp_config cfg;
    bp_backend *be;
    bp_group *g;
} fixture;

static void build(fixture *f, bp_rule_id rule, int L, const int *hidden, int n, int dim)
{
    bp_error err = {0};
    th_make_dataset(&f->ds, n, dim, 10, 11);
    th_config(&f->cfg, rule, L, hidden, n);
    f->cfg.align_every = 1;
    uint64_t seed = f->cfg.seed;
    f->be = cpu();
    cr_assert_eq(bp_group_create(&f->cfg, &seed, 1, &f->ds, f->be, &f->g, &err), BP_OK, "%s",
                 err.msg);
}

static void teardown(fixture *f)
{
    bp_group_destroy(f->g);
    bp_backend_destroy(f->be);
    bp_dataset_free(&f->ds);
}

/* One epoch of one step (batch = train_size); its measurement of step 0. */
static bp_align_point measure_first_step(fixture *f)
{
    bp_epoch_metrics m;
    th_epoch(f->g, &m);
    bp_align_point p;
    cr_assert_eq(bp_group_align_points(f->g, 0, &p, 1), 1);
    cr_assert(m.has_align);
    return p;
}

static const int two[] = {40, 30};

Test(align, bp_angles_are_zero)
{
    fixture f;
    build(&f, BP_RULE_BP, 2, two, 32, 20);
    bp_align_point p = measure_first_step(&f);
    for (int l = 0; l < 2; l++) {
        cr_expect_lt(p.delta[l], 0.01, "layer %d: delta angle %g", l + 1, p.delta[l]);
        cr_expect_lt(p.dW[l], 0.01, "layer %d: dW angle %g", l + 1, p.dW[l]);
    }
    for (int l = 0; l < 3; l++) cr_expect(isnan(p.fb[l]), "BP has no feedback matrix %d", l + 1);
    teardown(&f);
}

Test(align, fa_with_tied_feedback_has_zero_angles)
{
    fixture f;
    build(&f, BP_RULE_FA, 2, two, 32, 20);
    bp_net *net = bp_group_net(f.g);
    int tensors[] = {net->Bfix[2], net->Bfix[3]}, layers[] = {2, 3};
    th_tie_to_wt(f.g, &net->fixed, net->fixed.p, tensors, layers, 2);
    bp_align_point p = measure_first_step(&f);
    for (int l = 0; l < 2; l++) {
        cr_expect_lt(p.delta[l], 0.01, "layer %d: delta angle %g", l + 1, p.delta[l]);
        cr_expect_lt(p.dW[l], 0.01, "layer %d: dW angle %g", l + 1, p.dW[l]);
    }
    cr_expect(isnan(p.fb[0]), "FA has no B_1");
    cr_expect_lt(p.fb[1], 0.01, "B_2 vs W_2^T: %g", p.fb[1]);
    cr_expect_lt(p.fb[2], 0.01, "B_3 vs W_3^T: %g", p.fb[2]);
    teardown(&f);
}

Test(align, bfa_with_tied_feedback_has_zero_weight_angles)
{
    fixture f;
    build(&f, BP_RULE_BFA, 2, two, 32, 20);
    bp_net *net = bp_group_net(f.g);
    int tensors[] = {net->V[1], net->V[2], net->V[3]}, layers[] = {1, 2, 3};
    th_tie_to_wt(f.g, &net->fb, net->fb.p, tensors, layers, 3);
    bp_align_point p = measure_first_step(&f);
    for (int l = 0; l < 2; l++) cr_expect_lt(p.delta[l], 0.01, "layer %d", l + 1);
    for (int l = 0; l < 3; l++) cr_expect_lt(p.fb[l], 0.01, "V_%d vs W_%d^T: %g", l + 1, l + 1, p.fb[l]);
    teardown(&f);
}

/* Random, fixed feedback is unrelated to W at initialisation: on a wide
 * layer the angles concentrate at 90 degrees (cosines ~ 1/sqrt(width)). */
Test(align, random_feedback_is_near_90_degrees_at_initialisation)
{
    static const int wide[] = {800};
    bp_rule_id rules[] = {BP_RULE_FA, BP_RULE_DFA, BP_RULE_BFA, BP_RULE_BDFA};
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        fixture f;
        build(&f, rules[i], 1, wide, 128, 50);
        bp_align_point p = measure_first_step(&f);
        const char *name = bp_rule_name(rules[i]);
        cr_expect_lt(fabs(p.delta[0] - 90.0), 5.0, "%s: delta angle %g", name, p.delta[0]);
        cr_expect_lt(fabs(p.dW[0] - 90.0), 10.0, "%s: dW angle %g", name, p.dW[0]);
        if (rules[i] == BP_RULE_FA || rules[i] == BP_RULE_BFA)
            cr_expect_lt(fabs(p.fb[1] - 90.0), 3.0, "%s: feedback angle %g", name, p.fb[1]);
        teardown(&f);
    }
}

/* The guard against a rule that silently falls back to backprop: the first
 * step's hidden-layer update of every other rule differs from BP's on the
 * same batch, from the same initial W (both the angle and the numbers). */
Test(align, first_update_of_every_other_rule_differs_from_bp)
{
    fixture b;
    build(&b, BP_RULE_BP, 2, two, 32, 20);
    bp_epoch_metrics m;
    th_epoch(b.g, &m);
    bp_net *bnet = bp_group_net(b.g);
    float *bp_g = th_download(b.g, &bnet->fwd, bnet->fwd.g, 0);
    bp_rule_id rules[] = {BP_RULE_FA, BP_RULE_DFA, BP_RULE_BFA, BP_RULE_BDFA};
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        fixture f;
        build(&f, rules[i], 2, two, 32, 20);
        bp_align_point p = measure_first_step(&f);
        bp_net *net = bp_group_net(f.g);
        float *g = th_download(f.g, &net->fwd, net->fwd.g, 0);
        const bp_tensor *w1 = &net->fwd.t[net->W[1]];
        double diff = 0.0, scale = 0.0;
        for (size_t k = 0; k < (size_t)w1->rows * w1->cols; k++) {
            diff = fmax(diff, fabs(g[w1->off + k] - bp_g[w1->off + k]));
            scale = fmax(scale, fabs(bp_g[w1->off + k]));
        }
        const char *name = bp_rule_name(rules[i]);
        cr_expect_gt(diff, 0.1 * scale, "%s: dW_1 equals BP's (max diff %g, max |BP| %g)", name,
                     diff, scale);
        cr_expect_gt(p.dW[0], 20.0, "%s: dW_1 angle to BP's is only %g degrees", name, p.dW[0]);
        cr_expect_gt(p.delta[0], 20.0, "%s: delta_1 angle to BP's is only %g degrees", name,
                     p.delta[0]);
        free(g);
        teardown(&f);
    }
    free(bp_g);
    teardown(&b);
}

/* ---- measuring is free of side effects; logs ----------------------------- */

static float *train_params(bp_rule_id rule, int align_every, int epochs, size_t *count)
{
    fixture f;
    static const int hid[] = {12, 9};
    th_make_dataset(&f.ds, 64, 15, 10, 5);
    th_config(&f.cfg, rule, 2, hid, 64);
    f.cfg.batch = 8;
    f.cfg.optimizer = BP_OPT_ADAM;
    f.cfg.lr = 1e-2;
    f.cfg.align_every = align_every;
    uint64_t seed = 3;
    bp_error err = {0};
    f.be = cpu();
    cr_assert_eq(bp_group_create(&f.cfg, &seed, 1, &f.ds, f.be, &f.g, &err), BP_OK, "%s",
                 err.msg);
    bp_epoch_metrics m;
    for (int e = 0; e < epochs; e++) th_epoch(f.g, &m);
    bp_net *net = bp_group_net(f.g);
    size_t nf = net->fwd.n, nb = net->fb.n;
    float *out = calloc(nf + nb, sizeof(float));
    float *p = th_download(f.g, &net->fwd, net->fwd.p, 0);
    memcpy(out, p, nf * sizeof(float));
    free(p);
    if (nb) {
        p = th_download(f.g, &net->fb, net->fb.p, 0);
        memcpy(out + nf, p, nb * sizeof(float));
        free(p);
    }
    *count = nf + nb;
    teardown(&f);
    return out;
}

Test(align, measuring_does_not_change_training)
{
    bp_rule_id rules[] = {BP_RULE_BP, BP_RULE_FA, BP_RULE_DFA, BP_RULE_BFA, BP_RULE_BDFA};
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        size_t n, n_on;
        float *off = train_params(rules[i], 0, 2, &n), *on = train_params(rules[i], 3, 2, &n_on);
        cr_assert_eq(n, n_on);
        cr_expect_eq(memcmp(off, on, n * sizeof(float)), 0, "%s: align_every changed training",
                     bp_rule_name(rules[i]));
        free(off), free(on);
    }
}

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += !needle || strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void run_to(const char *dir, const bp_dataset *ds, int epochs, int resume)
{
    bp_config cfg;
    static const int hid[] = {10};
    th_config(&cfg, BP_RULE_FA, 1, hid, 64);
    cfg.batch = 8; /* 8 steps an epoch: measured at steps 0, 3, 6 */
    cfg.epochs = epochs;
    cfg.align_every = 3;
    cfg.align_log = 1;
    cfg.checkpoint_every = 1;
    uint64_t seed = 1;
    const char *dirs[] = {dir};
    bp_runner_opts o = {.dirs = dirs, .resume = resume};
    int diverged = 0;
    bp_error err = {0};
    cr_assert_eq(bp_run_group(&cfg, &seed, 1, ds, &o, &diverged, &err), BP_OK, "%s", err.msg);
}

Test(align, logs_are_written_and_survive_a_resume)
{
    char dir[] = "/tmp/biopp-align-XXXXXX";
    cr_assert(mkdtemp(dir));
    bp_dataset ds;
    th_make_dataset(&ds, 64, 15, 10, 9);
    run_to(dir, &ds, 2, 0);
    char metrics[4200], align[4200];
    bp_run_path(metrics, sizeof metrics, dir, "metrics.jsonl");
    bp_run_path(align, sizeof align, dir, "align.jsonl");
    cr_expect_eq(count_lines(metrics, "\"align_fb_deg\":[null,"), 2);
    cr_expect_eq(count_lines(align, NULL), 2 * 3);
    /* A line cut short by a crash and a measurement past the checkpoint. */
    FILE *f = fopen(align, "a");
    fputs("{\"epoch\":3,\"step\":16,\"align_delta_deg\":[1]}\n{\"epoch\":3,\"st", f);
    fclose(f);
    run_to(dir, &ds, 3, 1);
    cr_expect_eq(count_lines(metrics, "\"align_delta_deg\":["), 3,
                 "resume must keep the earlier epochs' angles");
    cr_expect_eq(count_lines(align, NULL), 3 * 3);
    cr_expect_eq(count_lines(align, "\"step\":16,"), 1);
    cr_expect_eq(count_lines(align, "\"step\":22,"), 1);
    bp_dataset_free(&ds);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(align, config_refuses_a_log_without_measurements)
{
    bp_config cfg;
    bp_config_defaults(&cfg);
    cfg.align_log = 1;
    bp_error err = {0};
    cr_expect_eq(bp_config_validate(&cfg, &err), BP_ERR_CONFIG);
    cr_expect(strstr(err.msg, "align_every"), "%s", err.msg);
    cfg.align_every = 100;
    cr_expect_eq(bp_config_validate(&cfg, &err), BP_OK, "%s", err.msg);
}
