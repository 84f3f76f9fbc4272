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
    }
    return &bp_rule_bp;
}
