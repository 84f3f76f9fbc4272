/* Direct feedback alignment (Nokland 2016): every hidden layer receives the
 * output error directly, delta_l = (D_l e) (.) f'(a_l), with D_l (n_l x C)
 * random and fixed, uniform in +-1/sqrt(n_l). */
#include <math.h>
#include <stdio.h>

#include "biopp/rule.h"

static void dfa_declare(bp_net *net)
{
    for (int l = 1; l <= net->L; l++) {
        char name[16];
        snprintf(name, sizeof name, "D%d", l);
        net->D[l] = bp_arena_add(&net->fixed, name, net->n[l], net->C, BP_INIT_UNIFORM_BOUND,
                                 1.0f / sqrtf((float)net->n[l]));
        net->fbm[l] = net->D[l];
    }
    net->fbm_arena = &net->fixed;
    net->fbm_trans = 1;
}

const bp_rule bp_rule_dfa = {
    .id = BP_RULE_DFA,
    .name = "dfa",
    .direct = 1,
    .declare = dfa_declare,
    .backward_phase = NULL,
};
