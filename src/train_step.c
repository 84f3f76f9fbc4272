/* One training step in METHODS.md's order: 1. forward pass; 2. forward
 * learning phase and update of W, b; 3. backward learning phase (BFA, BDFA)
 * with the W just updated, and update of the feedback weights. */
#include "biopp/align.h"
#include "biopp/ops.h"
#include "biopp/rule.h"
#include "biopp/step.h"

/* check(user, phase) after each phase; a non-zero return stops the step
 * there (BP_ERR_DIVERGED). Only the divergence replay passes a check. */
#define CHECK(phase)                                                          \
    do {                                                                      \
        if (check && check(user, phase, metrics)) return BP_ERR_DIVERGED;     \
    } while (0)

static bp_status train_step(bp_net *net, bp_backend *be, float *metrics, float *align,
                            bp_step_check_fn check, void *user)
{
    int rows = net->B;
    float scale = bp_grad_scale(net, rows);
    const bp_rule *rule = net->rule;
    /* Callers that did not prepare the step's factors and number (bench,
     * tests) get one step's worth here; the epoch loop prepares a whole
     * epoch up front. */
    if (net->step - net->hyper_base >= net->hyper_count) BP_TRY(bp_optim_prepare(net, be, 1));
    net->step_t = net->step_ts + (net->step - net->hyper_base);
    BP_TRY(bp_forward(net, be, rows));
    CHECK(BP_PHASE_FORWARD);
    if (rule->prepare) BP_TRY(rule->prepare(net, be));
    BP_TRY(bp_forward_phase(net, be, rows, metrics, scale));
    CHECK(BP_PHASE_FORWARD_LEARNING);
    /* Before the update: BP's deltas must use the W the rule's deltas used. */
    if (align) BP_TRY(bp_align_measure(net, be, rows, align));
    if (rule->before_update) BP_TRY(rule->before_update(net, be));
    net->step++;
    BP_TRY(bp_optim_step(net, be, &net->fwd, 0));
    CHECK(BP_PHASE_FORWARD_UPDATE);
    if (!rule->backward_phase) return BP_OK;
    BP_TRY(rule->backward_phase(net, be, rows, metrics, scale));
    CHECK(BP_PHASE_BACKWARD_LEARNING);
    BP_TRY(bp_optim_step(net, be, &net->fb, 1));
    CHECK(BP_PHASE_BACKWARD_UPDATE);
    return BP_OK;
}

bp_status bp_train_step(bp_net *net, bp_backend *be, float *metrics)
{
    return train_step(net, be, metrics, NULL, NULL, NULL);
}

bp_status bp_train_step_measured(bp_net *net, bp_backend *be, float *metrics, float *align)
{
    return train_step(net, be, metrics, align, NULL, NULL);
}

bp_status bp_train_step_checked(bp_net *net, bp_backend *be, float *metrics,
                                bp_step_check_fn check, void *user)
{
    return train_step(net, be, metrics, NULL, check, user);
}
