/* Backpropagation: delta_l = (W_{l+1}^T delta_{l+1}) (.) f'(a_l).
 * The error travels back through the forward weights themselves. */
#include "biopp/rule.h"

static void bp_declare(bp_net *net)
{
    for (int l = 1; l <= net->L; l++) net->fbm[l] = net->W[l + 1];
    net->fbm_arena = &net->fwd;
    net->fbm_trans = 0; /* delta_{l+1} W_{l+1} in row (batch-major) form */
}

const bp_rule bp_rule_bp = {
    .id = BP_RULE_BP,
    .name = "bp",
    .direct = 0,
    .declare = bp_declare,
    .backward_phase = NULL,
};
