/* See include/biopp/generate.h: x-hat on the backend. */
#include "biopp/generate.h"

#include <math.h>
#include <stdlib.h>

#include "biopp/rule.h"

bp_status bp_bfa_generate(bp_net *net, bp_backend *be, int r, float *xhat, bp_error *err)
{
    int C = net->C, R = net->R, n0 = net->n[0];
    if (net->cfg.rule != BP_RULE_BFA)
        return bp_fail(err, BP_ERR_ARG, "only BFA has a generator, this network is %s",
                       bp_rule_name(net->cfg.rule));
    if (C > net->rows_cap)
        return bp_fail(err, BP_ERR_ARG, "%d classes but room for %d rows (raise eval_batch)", C,
                       net->rows_cap);
    /* Labels 0..C-1 for every run: R x C int32, run-major like a batch. */
    int32_t *labels = malloc((size_t)R * C * sizeof *labels);
    if (!labels) return bp_fail(err, BP_ERR_NOMEM, "generate: out of host memory");
    for (int q = 0; q < R; q++)
        for (int k = 0; k < C; k++) labels[(size_t)q * C + k] = k;
    bp_status rc = be->ops->upload(be, net->labels, labels, (size_t)R * C * sizeof *labels);
    free(labels);
    if (!rc) rc = be->ops->make_target(be, R, C, C, BP_TARGET_MIX, 0.0f, net->labels, NULL, net->T);
    if (!rc) rc = bp_bfa_mirror_forward(net, be, C);
    if (!rc)
        rc = be->ops->download(be, xhat, net->mirror[0] + (size_t)r * C * n0,
                               (size_t)C * n0 * sizeof(float));
    if (!rc) rc = be->ops->sync(be);
    if (rc) return bp_backend_fail(be, err, "generating BFA's x-hat");
    /* mirror[0] holds g_0; sigma_x is applied where the loss is computed
     * (recon_error), so apply it here too. */
    if (net->cfg.recon == BP_RECON_SIGMOID_BCE)
        for (size_t i = 0; i < (size_t)C * n0; i++) xhat[i] = 1.0f / (1.0f + expf(-xhat[i]));
    return BP_OK;
}
