/* The table of learning rules. */
#include "biopp/rule.h"

const bp_rule *bp_rule_get(bp_rule_id id)
{
    switch (id) {
    case BP_RULE_BP: return &bp_rule_bp;
    case BP_RULE_FA: return &bp_rule_fa;
    case BP_RULE_DFA: return &bp_rule_dfa;
    case BP_RULE_BFA: return &bp_rule_bfa;
    case BP_RULE_BDFA: return &bp_rule_bdfa;
    case BP_RULE_USF: return &bp_rule_usf;
    case BP_RULE_BRSF: return &bp_rule_brsf;
    case BP_RULE_FRSF: return &bp_rule_frsf;
    case BP_RULE_KP: return &bp_rule_kp;
    case BP_RULE_WM: return &bp_rule_wm;
    }
    return &bp_rule_bp;
}

int bp_rule_has_b(bp_rule_id id)
{
    switch (id) {
    case BP_RULE_FA:
    case BP_RULE_USF:
    case BP_RULE_BRSF:
    case BP_RULE_FRSF:
    case BP_RULE_KP:
    case BP_RULE_WM: return 1;
    default: return 0;
    }
}
