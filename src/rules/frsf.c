/* Fixed random-magnitude sign-concordant feedback (Moskovitz, Litwin-Kumar
 * & Abbott 2018): B_l = |R_l| (.) sign(W_l^T), R_l drawn once at init
 * (uniform in +-1/sqrt(n_l)), the signs following the current W_l every step. */
#include "biopp/rule.h"

static void frsf_declare(bp_net *net) { bp_sign_declare(net, 1, 1); }

static bp_status frsf_prepare(bp_net *net, bp_backend *be) { return bp_sign_feedback(net, be, 0); }

const bp_rule bp_rule_frsf = {
    .id = BP_RULE_FRSF,
    .name = "frsf",
    .direct = 0,
    .declare = frsf_declare,
    .prepare = frsf_prepare,
};
