/* Exactness of the five rules (METHODS.md):
 * - BP's weight gradients equal central finite differences of the loss,
 *   computed by an independent float64 implementation in this file;
 * - FA with B_l = W_l^T gives BP's updates; DFA (one hidden layer) with
 *   D_1 = B_2 gives FA's;
 * - BFA with V_l = W_l^T: forward phase = BP, backward-phase gradients =
 *   finite differences of the reconstruction loss;
 * - BDFA: U_l gradients = finite differences of the alignment loss. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/rule.h"
#include "helpers.h"

#define NS 6    /* samples = batch */
#define NIN 5   /* input pixels */
#define NC 3    /* classes */

/* ---- float64 reference ------------------------------------------------ */

typedef struct {
    const bp_net *net;
    const bp_dataset *ds;
} ref_ctx;

static double act(bp_act a, double x)
{
    switch (a) {
    case BP_ACT_TANH: return tanh(x);
    case BP_ACT_RELU: return x > 0 ? x : 0;
    case BP_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    default: return x;
    }
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

static const double *tensor_d(const ref_ctx *c, const bp_arena *a, const double *P, int i)
{
    return P + a->t[i].off / c->net->R;
}

/* h_l of sample s for all layers; returns pointer to logits in h[L+1]. */
static void ref_forward(const ref_ctx *c, const double *P, int s, double h[][64])
{
    const bp_net *net = c->net;
    for (int j = 0; j < net->n[0]; j++) h[0][j] = c->ds->train.x[s * NIN + j] / 255.0;
    for (int l = 1; l <= net->L + 1; l++) {
        const double *W = tensor_d(c, &net->fwd, P, net->W[l]);
        const double *b = tensor_d(c, &net->fwd, P, net->b[l]);
        for (int i = 0; i < net->n[l]; i++) {
            double a = b[i];
            for (int j = 0; j < net->n[l - 1]; j++) a += W[i * net->n[l - 1] + j] * h[l - 1][j];
            h[l][i] = l <= net->L ? act(net->cfg.activation, a) : a;
        }
    }
}

static double ref_output_loss(const ref_ctx *c, const double *P)
{
    const bp_net *net = c->net;
    double total = 0.0, h[BP_MAX_LAYERS][64];
    for (int s = 0; s < NS; s++) {
        ref_forward(c, P, s, h);
        const double *a = h[net->L + 1];
        int y = c->ds->train.y[s];
        if (net->cfg.output == BP_OUT_SIGMOID_BCE) {
            for (int k = 0; k < NC; k++)
                total += -(k == y ? log(sigm(a[k])) : log(1.0 - sigm(a[k])));
        } else {
            double mx = a[0], sum = 0.0;
            for (int k = 1; k < NC; k++) mx = fmax(mx, a[k]);
            for (int k = 0; k < NC; k++) sum += exp(a[k] - mx);
            total += -(a[y] - mx - log(sum));
        }
    }
    return total / NS;
}

/* BFA: mean 1/2 ||xhat - x||^2 of the mirror network (V, c in Pfb). */
static double ref_recon_loss(const ref_ctx *c, const double *Pfb)
{
    const bp_net *net = c->net;
    double total = 0.0, r[BP_MAX_LAYERS][64];
    for (int s = 0; s < NS; s++) {
        int y = c->ds->train.y[s];
        for (int k = 0; k < NC; k++) r[net->L + 1][k] = k == y;
        for (int l = net->L; l >= 0; l--) {
            const double *V = tensor_d(c, &net->fb, Pfb, net->V[l + 1]);
            const double *cb = tensor_d(c, &net->fb, Pfb, net->c[l]);
            for (int i = 0; i < net->n[l]; i++) {
                double g = cb[i];
                for (int j = 0; j < net->n[l + 1]; j++) g += V[i * net->n[l + 1] + j] * r[l + 1][j];
                r[l][i] = l > 0 ? act(net->cfg.activation, g) : g;
            }
        }
        for (int j = 0; j < NIN; j++) {
            double d = r[0][j] - c->ds->train.x[s * NIN + j] / 255.0;
            total += 0.5 * d * d;
        }
    }
    return total / NS;
}

/* BDFA: sum over layers of mean_b loss(U_l t . h_l), with W from Pfwd. */
static double ref_align_loss(const ref_ctx *c, const double *Pfwd, const double *Pfb)
{
    const bp_net *net = c->net;
    double total = 0.0, h[BP_MAX_LAYERS][64];
    for (int s = 0; s < NS; s++) {
        ref_forward(c, Pfwd, s, h);
        int y = c->ds->train.y[s];
        double t[NC];
        for (int k = 0; k < NC; k++) t[k] = (k == y) + net->cfg.alpha * sigm(h[net->L + 1][k]);
        for (int l = 1; l <= net->L; l++) {
            const double *U = tensor_d(c, &net->fb, Pfb, net->U[l]);
            double dot = 0.0;
            for (int i = 0; i < net->n[l]; i++) {
                double p = 0.0;
                for (int k = 0; k < NC; k++) p += U[i * NC + k] * t[k];
                dot += p * h[l][i];
            }
            total += net->cfg.bdfa_loss == BP_BDFA_NEG_LOG_SIGMOID ? -log(sigm(dot))
                                                                   : 1.0 - sigm(dot);
        }
    }
    return total / NS;
}

static double *to_double(const float *p, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = p[i];
    return d;
}

typedef double (*loss_fn)(const ref_ctx *c, const double *Pfwd, const double *Pfb);

static double wrap_output(const ref_ctx *c, const double *Pfwd, const double *Pfb)
{
    return ref_output_loss(c, Pfwd);
}
static double wrap_recon(const ref_ctx *c, const double *Pfwd, const double *Pfb)
{
    return ref_recon_loss(c, Pfb);
}

/* Central differences of f with respect to every element of X (Pfwd or Pfb). */
static double *finite_diff(const ref_ctx *c, loss_fn f, double *Pfwd, double *Pfb, double *X,
                           size_t n)
{
    double *g = malloc(n * sizeof *g), h = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double keep = X[i];
        X[i] = keep + h;
        double up = f(c, Pfwd, Pfb);
        X[i] = keep - h;
        double down = f(c, Pfwd, Pfb);
        X[i] = keep;
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

/* ---- fixtures ---------------------------------------------------------- */

typedef struct {
    bp_dataset ds;
    bp_config cfg;
    bp_backend *be;
    bp_group *g;
} fixture;

static void setup(fixture *f, bp_rule_id rule, int L, const int *hidden)
{
    th_make_dataset(&f->ds, NS, NIN, NC, 7);
    th_config(&f->cfg, rule, L, hidden, NS);
}

static void build(fixture *f)
{
    bp_error err = {0};
    uint64_t seed = f->cfg.seed;
    cr_assert_eq(bp_backend_cpu_create(1, &f->be, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_group_create(&f->cfg, &seed, 1, &f->ds, f->be, &f->g, &err), BP_OK, "%s",
                 err.msg);
}

static void teardown(fixture *f)
{
    bp_group_destroy(f->g);
    bp_backend_destroy(f->be);
    bp_dataset_free(&f->ds);
}

static size_t per_run(const bp_net *net, const bp_arena *a) { return a->n / net->R; }

/* Engine forward-phase gradients vs finite differences of the output loss. */
static void check_output_grads(fixture *f, double rtol)
{
    bp_net *net = bp_group_net(f->g);
    size_t n = per_run(net, &net->fwd);
    float *p0 = th_download(f->g, &net->fwd, net->fwd.p, 0);
    bp_epoch_metrics m;
    th_epoch(f->g, &m);
    float *g = th_download(f->g, &net->fwd, net->fwd.g, 0);
    ref_ctx c = {net, &f->ds};
    double *P = to_double(p0, n);
    double *fd = finite_diff(&c, wrap_output, P, NULL, P, n);
    double worst = th_max_rel(g, fd, n, 1e-6, rtol);
    cr_expect_leq(worst, 1.0, "gradient differs from finite differences (worst ratio %g)", worst);
    /* The engine's reported loss is the same loss. */
    cr_expect_float_eq(m.train_loss, ref_output_loss(&c, P), 1e-5);
    free(p0), free(g), free(P), free(fd);
}

static const int two_layers[] = {4, 3};

Test(rules, bp_gradient_equals_finite_differences_tanh_bce)
{
    fixture f;
    setup(&f, BP_RULE_BP, 2, two_layers);
    build(&f);
    check_output_grads(&f, 1e-3);
    teardown(&f);
}

Test(rules, bp_gradient_equals_finite_differences_softmax_relu_sigmoid)
{
    bp_act acts[] = {BP_ACT_RELU, BP_ACT_SIGMOID, BP_ACT_TANH};
    for (int i = 0; i < 3; i++) {
        fixture f;
        setup(&f, BP_RULE_BP, 2, two_layers);
        f.cfg.output = BP_OUT_SOFTMAX_CE;
        f.cfg.activation = acts[i];
        build(&f);
        check_output_grads(&f, 1e-3);
        teardown(&f);
    }
}

Test(rules, bp_gradient_three_hidden_layers_sum_reduction)
{
    static const int three[] = {4, 5, 3};
    fixture f;
    setup(&f, BP_RULE_BP, 3, three);
    build(&f);
    check_output_grads(&f, 1e-3);
    teardown(&f);
    /* grad_reduce = sum multiplies every gradient by the batch size. */
    setup(&f, BP_RULE_BP, 3, three);
    f.cfg.grad_reduce = BP_REDUCE_SUM;
    build(&f);
    bp_net *net = bp_group_net(f.g);
    bp_epoch_metrics m;
    th_epoch(f.g, &m);
    float *gsum = th_download(f.g, &net->fwd, net->fwd.g, 0);
    teardown(&f);
    setup(&f, BP_RULE_BP, 3, three);
    build(&f);
    net = bp_group_net(f.g);
    th_epoch(f.g, &m);
    float *gmean = th_download(f.g, &net->fwd, net->fwd.g, 0);
    for (size_t i = 0; i < per_run(net, &net->fwd); i++)
        cr_expect_float_eq(gsum[i], NS * gmean[i], 1e-5 + 1e-5 * fabsf(gsum[i]));
    free(gsum), free(gmean);
    teardown(&f);
}

static float *one_step_grads(fixture *f)
{
    bp_net *net = bp_group_net(f->g);
    bp_epoch_metrics m;
    th_epoch(f->g, &m);
    return th_download(f->g, &net->fwd, net->fwd.g, 0);
}

static float *bp_reference_grads(int L, const int *hidden)
{
    fixture f;
    setup(&f, BP_RULE_BP, L, hidden);
    build(&f);
    float *g = one_step_grads(&f);
    teardown(&f);
    return g;
}

static void expect_same(const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_expect(fabsf(a[i] - b[i]) <= 1e-6f + 1e-5f * fabsf(b[i]), "%s: element %zu: %g vs %g",
                  what, i, a[i], b[i]);
}

Test(rules, fa_with_tied_feedback_equals_bp)
{
    fixture f;
    setup(&f, BP_RULE_FA, 2, two_layers);
    build(&f);
    bp_net *net = bp_group_net(f.g);
    int tensors[] = {net->Bfix[2], net->Bfix[3]}, layers[] = {2, 3};
    th_tie_to_wt(f.g, &net->fixed, net->fixed.p, tensors, layers, 2);
    float *fa = one_step_grads(&f);
    float *bp = bp_reference_grads(2, two_layers);
    expect_same(fa, bp, per_run(net, &net->fwd), "FA(B=W^T) vs BP");
    free(fa), free(bp);
    teardown(&f);
}

Test(rules, dfa_one_layer_with_d_equal_b_equals_fa)
{
    static const int one[] = {4};
    fixture f;
    setup(&f, BP_RULE_FA, 1, one);
    build(&f);
    bp_net *net = bp_group_net(f.g);
    float *fixed = th_download(f.g, &net->fixed, net->fixed.p, 0);
    float *B2 = th_tensor(net, &net->fixed, fixed, net->Bfix[2]);
    float *fa = one_step_grads(&f);
    size_t n = per_run(net, &net->fwd);
    teardown(&f);

    setup(&f, BP_RULE_DFA, 1, one);
    build(&f);
    net = bp_group_net(f.g);
    th_set_tensor(f.g, &net->fixed, net->fixed.p, net->D[1], 0, B2);
    float *dfa = one_step_grads(&f);
    expect_same(dfa, fa, n, "DFA(D=B) vs FA");
    free(fixed), free(fa), free(dfa);
    teardown(&f);
}

Test(rules, bfa_tied_forward_phase_is_bp_and_backward_phase_is_exact)
{
    fixture f;
    setup(&f, BP_RULE_BFA, 2, two_layers);
    f.cfg.lr = 0.0; /* keep W fixed so V = W^T still holds in the backward phase */
    build(&f);
    bp_net *net = bp_group_net(f.g);
    int tensors[] = {net->V[1], net->V[2], net->V[3]}, layers[] = {1, 2, 3};
    th_tie_to_wt(f.g, &net->fb, net->fb.p, tensors, layers, 3);
    float *fb0 = th_download(f.g, &net->fb, net->fb.p, 0);
    bp_epoch_metrics m;
    th_epoch(f.g, &m);
    float *gfwd = th_download(f.g, &net->fwd, net->fwd.g, 0);
    float *gfb = th_download(f.g, &net->fb, net->fb.g, 0);

    float *bp = bp_reference_grads(2, two_layers);
    expect_same(gfwd, bp, per_run(net, &net->fwd), "BFA forward phase vs BP");

    ref_ctx c = {net, &f.ds};
    size_t n = per_run(net, &net->fb);
    double *Pfb = to_double(fb0, n);
    double *fd = finite_diff(&c, wrap_recon, NULL, Pfb, Pfb, n);
    double worst = th_max_rel(gfb, fd, n, 1e-6, 1e-3);
    cr_expect_leq(worst, 1.0, "BFA V/c gradients vs finite differences: worst ratio %g", worst);
    cr_expect_float_eq(m.feedback_loss, ref_recon_loss(&c, Pfb), 1e-4);
    free(fb0), free(gfwd), free(gfb), free(bp), free(Pfb), free(fd);
    teardown(&f);
}

static double wrap_align(const ref_ctx *c, const double *Pfwd, const double *Pfb)
{
    return ref_align_loss(c, Pfwd, Pfb);
}

static void check_bdfa(bp_bdfa_loss kind, double alpha)
{
    fixture f;
    setup(&f, BP_RULE_BDFA, 2, two_layers);
    f.cfg.bdfa_loss = kind;
    f.cfg.alpha = alpha;
    build(&f);
    bp_net *net = bp_group_net(f.g);
    float *p0 = th_download(f.g, &net->fwd, net->fwd.p, 0);
    float *fb0 = th_download(f.g, &net->fb, net->fb.p, 0);
    bp_epoch_metrics m;
    th_epoch(f.g, &m);
    float *gfb = th_download(f.g, &net->fb, net->fb.g, 0);
    ref_ctx c = {net, &f.ds};
    size_t n = per_run(net, &net->fb);
    double *P = to_double(p0, per_run(net, &net->fwd)), *Pfb = to_double(fb0, n);
    double *fd = finite_diff(&c, wrap_align, P, Pfb, Pfb, n);
    double worst = th_max_rel(gfb, fd, n, 1e-6, 1e-3);
    cr_expect_leq(worst, 1.0, "BDFA U gradients vs finite differences: worst ratio %g", worst);
    cr_expect_float_eq(m.feedback_loss, ref_align_loss(&c, P, Pfb), 1e-4);
    free(p0), free(fb0), free(gfb), free(P), free(Pfb), free(fd);
    teardown(&f);
}

Test(rules, bdfa_u_gradient_equals_finite_differences)
{
    check_bdfa(BP_BDFA_ONE_MINUS_SIGMOID, 0.0);
}

Test(rules, bdfa_u_gradient_with_alpha_target_and_log_loss)
{
    check_bdfa(BP_BDFA_ONE_MINUS_SIGMOID, 0.25);
    check_bdfa(BP_BDFA_NEG_LOG_SIGMOID, 0.25);
}

/* The update itself: W_new = W - lr * grad for plain SGD. */
Test(rules, sgd_step_applies_lr_times_gradient)
{
    fixture f;
    setup(&f, BP_RULE_BP, 2, two_layers);
    build(&f);
    bp_net *net = bp_group_net(f.g);
    float *p0 = th_download(f.g, &net->fwd, net->fwd.p, 0);
    float *g = one_step_grads(&f);
    float *p1 = th_download(f.g, &net->fwd, net->fwd.p, 0);
    for (size_t i = 0; i < per_run(net, &net->fwd); i++)
        cr_expect_float_eq(p1[i], p0[i] - (float)f.cfg.lr * g[i], 1e-7);
    free(p0), free(g), free(p1);
    teardown(&f);
}
