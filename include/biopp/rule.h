/* A learning rule: where the hidden error signals delta_l come from
 * (forward learning phase) and, for BFA and BDFA, how the feedback weights
 * learn (backward learning phase). One file per rule in src/rules/. */
#ifndef BIOPP_RULE_H
#define BIOPP_RULE_H

#include "biopp/net.h"

typedef struct bp_rule {
    bp_rule_id id;
    const char *name;
    /* delta_l = (feedback_l applied to e) rather than to delta_{l+1} (DFA, BDFA). */
    int direct;
    /* Declares the rule's feedback tensors and sets net->fbm / fbm_arena. */
    void (*declare)(bp_net *net);
    /* Optional hooks (NULL: none), in bp_train_step's order: prepare runs
     * after the forward pass and before the forward learning phase (sign
     * rules: B_l from this step's W_l); before_update after the forward
     * phase, before W's optimizer step (KP's weight decay). */
    bp_status (*prepare)(bp_net *net, bp_backend *be);
    bp_status (*before_update)(bp_net *net, bp_backend *be);
    /* Backward learning phase: fills net->fb.g and the feedback-loss metric
     * slots (2..) of this step; NULL for rules without one. */
    bp_status (*backward_phase)(bp_net *net, bp_backend *be, int rows, float *metrics,
                                float grad_scale);
} bp_rule;

extern const bp_rule bp_rule_bp, bp_rule_fa, bp_rule_dfa, bp_rule_bfa, bp_rule_bdfa;
extern const bp_rule bp_rule_usf, bp_rule_brsf, bp_rule_frsf, bp_rule_kp, bp_rule_wm;

/* Whether the rule's feedback B_l (l = 2..L+1, tensor net->Bfix[l] of
 * net->fbm_arena) has W_l^T's shape (FA and the rules built on it). */
int bp_rule_has_b(bp_rule_id id);

/* Streams of the per-step draws (fill_random): kind 1 BRSF magnitudes,
 * 2 WM noise, for layer l. Disjoint from the parameter and shuffle streams
 * of include/biopp/rng.h. */
#define BP_STREAM_DRAW (UINT64_C(1) << 41)
static inline uint64_t bp_draw_stream(int kind, int l)
{
    return BP_STREAM_DRAW | ((uint64_t)kind << 8) | (uint64_t)l;
}

/* The sign-symmetry family's shared parts (src/rules/sign_feedback.c):
 * declare B_l (and magnitudes R_l when with_mag, fixed uniform +-1/sqrt(n_l)
 * when fixed_mag) in the fixed arena; compute B_l from W_l. */
void bp_sign_declare(bp_net *net, int with_mag, int fixed_mag);
bp_status bp_sign_feedback(bp_net *net, bp_backend *be, int draw_mag);

const bp_rule *bp_rule_get(bp_rule_id id);

/* BFA's mirror network (METHODS.md) on `rows` targets in net->T:
 * r_L .. r_1 into net->mirror[L..1] and g_0 into net->mirror[0]
 * (x-hat = sigma_x(g_0)). Used by the backward phase and `biopp generate`. */
bp_status bp_bfa_mirror_forward(bp_net *net, bp_backend *be, int rows);

#endif
