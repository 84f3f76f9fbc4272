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
    /* Backward learning phase: fills net->fb.g and the feedback-loss metric
     * slots (2..) of this step; NULL for rules without one. */
    bp_status (*backward_phase)(bp_net *net, bp_backend *be, int rows, float *metrics,
                                float grad_scale);
} bp_rule;

extern const bp_rule bp_rule_bp, bp_rule_fa, bp_rule_dfa, bp_rule_bfa, bp_rule_bdfa;

const bp_rule *bp_rule_get(bp_rule_id id);

/* BFA's mirror network (METHODS.md) on `rows` targets in net->T:
 * r_L .. r_1 into net->mirror[L..1] and g_0 into net->mirror[0]
 * (x-hat = sigma_x(g_0)). Used by the backward phase and `biopp generate`. */
bp_status bp_bfa_mirror_forward(bp_net *net, bp_backend *be, int rows);

#endif
