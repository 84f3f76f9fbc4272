/* Uniform sign-concordant feedback (Liao, Leibo & Poggio 2016):
 * delta_l = (B_{l+1} delta_{l+1}) (.) f'(a_l) with B_l = sign(W_l^T) / sqrt(n_l),
 * recomputed from the current W_l every step (src/rules/sign_feedback.c). */
#include "biopp/rule.h"

static void usf_declare(bp_net *net) { bp_sign_declare(net, 0, 0); }

static bp_status usf_prepare(bp_net *net, bp_backend *be) { return bp_sign_feedback(net, be, 0); }

const bp_rule bp_rule_usf = {
    .id = BP_RULE_USF,
    .name = "usf",
    .direct = 0,
    .declare = usf_declare,
    .prepare = usf_prepare,
};
