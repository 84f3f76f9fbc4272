/* Batchwise random-magnitude sign-concordant feedback (Moskovitz,
 * Litwin-Kumar & Abbott 2018): B_l = |R_l| (.) sign(W_l^T) with R_l redrawn
 * every batch, uniform in [0, 1/sqrt(n_l)), from the run's seed and the
 * step number (backend op fill_random), so grouped, solo, resumed and
 * CUDA-graph runs draw the same magnitudes. */
#include "biopp/rule.h"

static void brsf_declare(bp_net *net) { bp_sign_declare(net, 1, 0); }

static bp_status brsf_prepare(bp_net *net, bp_backend *be) { return bp_sign_feedback(net, be, 1); }

const bp_rule bp_rule_brsf = {
    .id = BP_RULE_BRSF,
    .name = "brsf",
    .direct = 0,
    .declare = brsf_declare,
    .prepare = brsf_prepare,
};
