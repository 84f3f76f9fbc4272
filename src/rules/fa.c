/* Feedback alignment (Lillicrap et al. 2016):
 * delta_l = (B_{l+1} delta_{l+1}) (.) f'(a_l) with B_{l+1} (n_l x n_{l+1})
 * random and fixed, uniform in +-1/sqrt(n_{l+1}). With init = paper_code,
 * B_l is a copy of the initial W_l^T (and W_l starts at zero). */
#include <math.h>
#include <stdio.h>

#include "biopp/rule.h"

static void fa_declare(bp_net *net)
{
    int paper = net->cfg.init == BP_INIT_PAPER_CODE;
    for (int l = 2; l <= net->L + 1; l++) {
        char name[16];
        snprintf(name, sizeof name, "B%d", l);
        float bound = 1.0f / sqrtf((float)net->n[l]);
        int i = bp_arena_add(&net->fixed, name, net->n[l - 1], net->n[l],
                             paper ? BP_INIT_COPY_T : BP_INIT_UNIFORM_BOUND, bound);
        net->fixed.t[i].copy_of = net->W[l];
        net->Bfix[l] = i;
        net->fbm[l - 1] = i;
    }
    net->fbm_arena = &net->fixed;
    net->fbm_trans = 1;
}

const bp_rule bp_rule_fa = {
    .id = BP_RULE_FA,
    .name = "fa",
    .direct = 0,
    .declare = fa_declare,
    .backward_phase = NULL,
};
