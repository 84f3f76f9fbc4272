/* See include/biopp/export.h. */
#include "biopp/export.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/safetensors.h"

#define MAX_OUT (3 * BP_CK_ARENAS * BP_MAX_TENSORS)

/* Biases are vectors (net.h: b_l and c_l have n entries); the checkpoint
 * stores them as 1 x n. */
static int is_bias(const bp_ck_tensor *t) { return t->name[0] == 'b' || t->name[0] == 'c'; }

static void add(bp_st_tensor *out, int *n, char *name, const bp_ck_tensor *t, const float *data)
{
    bp_st_tensor *s = &out[(*n)++];
    s->name = name;
    s->data = data;
    if (is_bias(t) && t->rows == 1) {
        s->ndim = 1;
        s->shape[0] = t->cols;
    } else {
        s->ndim = 2;
        s->shape[0] = t->rows;
        s->shape[1] = t->cols;
    }
}

bp_status bp_export_safetensors(const bp_checkpoint_file *ck, const bp_config *cfg,
                                const char *path, int optimizer_state, bp_error *err)
{
    static char names[MAX_OUT][40];
    bp_st_tensor *out = calloc(MAX_OUT, sizeof *out);
    if (!out) return bp_fail(err, BP_ERR_NOMEM, "export: out of memory");
    int n = 0;
    for (int i = 0; i < ck->ntensors; i++) {
        const bp_ck_tensor *t = &ck->t[i];
        snprintf(names[n], sizeof names[n], "%s", t->name);
        add(out, &n, names[n], t, t->p);
    }
    if (optimizer_state) {
        int adam = ck->arrays == 3;
        for (int i = 0; i < ck->ntensors; i++) {
            const bp_ck_tensor *t = &ck->t[i];
            if (t->m) {
                snprintf(names[n], sizeof names[n], "%s.%s", t->name, adam ? "adam_m" : "velocity");
                add(out, &n, names[n], t, t->m);
            }
            if (t->v) {
                snprintf(names[n], sizeof names[n], "%s.adam_v", t->name);
                add(out, &n, names[n], t, t->v);
            }
        }
    }
    char hidden[128], seed[32], epoch[32], step[32];
    bp_format_hidden(cfg->n_hidden, cfg->hidden, hidden, sizeof hidden);
    snprintf(seed, sizeof seed, "%" PRIu64, ck->seed);
    snprintf(epoch, sizeof epoch, "%" PRId64, ck->epoch);
    snprintf(step, sizeof step, "%" PRId64, ck->step);
    const char *const meta[][2] = {
        {"format", "biopp"},
        {"rule", bp_rule_name(cfg->rule)},
        {"hidden", hidden},
        {"dataset", cfg->dataset},
        {"activation", bp_act_name(cfg->activation)},
        {"output", bp_output_name(cfg->output)},
        {"recon", bp_recon_name(cfg->recon)},
        {"seed", seed},
        {"epoch", epoch},
        {"step", step},
        {"optimizer", bp_optimizer_name(cfg->optimizer)},
    };
    bp_status rc = bp_safetensors_write(path, out, n, meta, (int)(sizeof meta / sizeof *meta), err);
    free(out);
    return rc;
}
