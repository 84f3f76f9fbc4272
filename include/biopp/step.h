/* One training step of a group (forward pass, forward learning phase,
 * backward learning phase, optimizer steps) and the forward pass used for
 * evaluation. Errors leave their message in be->err. */
#ifndef BIOPP_STEP_H
#define BIOPP_STEP_H

#include "biopp/net.h"

/* H[0] (the batch) and labels must be filled. rows <= rows_cap. */
bp_status bp_forward(bp_net *net, bp_backend *be, int rows);

/* e = yhat - y, its loss and errors into metrics[0..R), metrics[R..2R);
 * then delta_l and the gradients of W_l, b_l into net->fwd.g. */
bp_status bp_forward_phase(bp_net *net, bp_backend *be, int rows, float *metrics,
                           float grad_scale);

/* Computes Adam's hyper-parameters of the next `steps` optimizer steps
 * (t = net->step + 1 ...) and uploads them; steps <= net->hyper_cap. */
bp_status bp_optim_prepare(bp_net *net, bp_backend *be, int steps);

/* One optimizer step (t = net->step) on the forward (feedback = 0) or
 * feedback arena. Adam needs the step prepared (bp_train_step does it when
 * the caller has not). */
bp_status bp_optim_step(bp_net *net, bp_backend *be, bp_arena *a, int feedback);

/* The full step of METHODS.md's order: forward, forward phase, update W/b,
 * backward phase, update feedback weights. metrics: this step's slots. */
bp_status bp_train_step(bp_net *net, bp_backend *be, float *metrics);

/* The same step, measuring the alignment diagnostics into align (backend
 * memory, bp_align_floats(net) floats) after the forward phase; align NULL
 * measures nothing. */
bp_status bp_train_step_measured(bp_net *net, bp_backend *be, float *metrics, float *align);

/* The phases of a step, for bp_train_step_checked. */
typedef enum {
    BP_PHASE_FORWARD,           /* H_l, logits, yhat */
    BP_PHASE_FORWARD_LEARNING,  /* e, delta_l, grads of W, b; loss metrics */
    BP_PHASE_FORWARD_UPDATE,    /* W, b and their optimizer state */
    BP_PHASE_BACKWARD_LEARNING, /* BFA/BDFA feedback grads; feedback-loss metrics */
    BP_PHASE_BACKWARD_UPDATE    /* feedback weights and their optimizer state */
} bp_step_phase;
/* metrics: this step's metric slots (backend memory). */
typedef int (*bp_step_check_fn)(void *user, bp_step_phase phase, const float *metrics);

/* bp_train_step with check(user, phase) called after each phase; a
 * non-zero return stops there with BP_ERR_DIVERGED. */
bp_status bp_train_step_checked(bp_net *net, bp_backend *be, float *metrics,
                                bp_step_check_fn check, void *user);

/* 1/B for grad_reduce = mean, 1 for sum. */
float bp_grad_scale(const bp_net *net, int rows);

#endif
