/* See include/biopp/run_state.h. */
#include "biopp/run_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/fsutil.h"
#include "biopp/plural.h"
#include "biopp/report.h"
#include "biopp/runner.h"

/* The later of the two checkpoint generations (epoch, then step). */
static void latest_checkpoint(const char *dir, bp_run_state *st)
{
    static const char *names[] = {"checkpoint.bin", "checkpoint.prev.bin"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        int e, pos;
        bp_run_path(path, sizeof path, dir, names[i]);
        if (!bp_file_exists(path)) continue;
        /* With another generation readable, the resume takes that one. */
        bp_error why;
        if (bp_checkpoint_peek(path, &e, &pos, &why)) {
            snprintf(st->bad_checkpoint, sizeof st->bad_checkpoint, "%s", why.msg);
            continue;
        }
        st->readable++;
        if (e > st->epochs_done || (e == st->epochs_done && pos > st->step)) {
            st->epochs_done = e;
            st->step = pos;
        }
    }
}

bp_status bp_run_state_read(const char *dir, bp_run_state *st, bp_error *err)
{
    char path[4096];
    memset(st, 0, sizeof *st);
    bp_run_path(path, sizeof path, dir, "config.ini");
    if (!bp_file_exists(path)) return BP_OK;
    bp_config_defaults(&st->cfg);
    bp_status rc = bp_config_load(&st->cfg, path, err);
    if (rc) return bp_fail_context(err, "reading the run in %s", dir);
    st->kind = BP_RUN_STARTED;
    if (st->cfg.batch > 0 && st->cfg.train_size > 0)
        st->steps = st->cfg.train_size / st->cfg.batch; /* full batches only (train.c) */
    latest_checkpoint(dir, st);
    bp_run_path(path, sizeof path, dir, "final.json");
    if (!bp_file_exists(path)) return BP_OK;
    int diverged = bp_final_json_diverged(path, err);
    if (diverged < 0) return BP_ERR_FORMAT;
    st->kind = diverged ? BP_RUN_DIVERGED : BP_RUN_COMPLETE;
    return BP_OK;
}

void bp_run_state_describe(const bp_run_state *st, char *buf, size_t size)
{
    int e = st->epochs_done, total = st->cfg.epochs;
    switch (st->kind) {
    case BP_RUN_NONE:
        snprintf(buf, size, "no run");
        break;
    case BP_RUN_COMPLETE:
        snprintf(buf, size, "a finished run (%d epoch%s)", e, bp_plural_s(e));
        break;
    case BP_RUN_DIVERGED:
        snprintf(buf, size, "a run that diverged (NaN/Inf loss; final.json)");
        break;
    case BP_RUN_STARTED:
        if (st->step > 0)
            snprintf(buf, size, "a run stopped at step %d of %d of epoch %d of %d", st->step,
                     st->steps, e + 1, total);
        else if (e > 0)
            snprintf(buf, size, "a run stopped after epoch %d of %d", e, total);
        else
            snprintf(buf, size, "a run stopped before its first checkpoint");
        break;
    }
}

int bp_config_first_difference(const bp_config *a, const bp_config *b, const char *const *skip,
                               char *key, size_t key_size, char *va, char *vb, size_t v_size)
{
    for (int i = 0; i < bp_config_key_count(); i++) {
        const char *k = bp_config_key_name(i);
        int skipped = 0;
        for (const char *const *s = skip; s && *s && !skipped; s++) skipped = !strcmp(*s, k);
        if (skipped) continue;
        bp_error ignore;
        if (bp_config_get(a, k, va, v_size, &ignore) || bp_config_get(b, k, vb, v_size, &ignore))
            continue; /* a value too long for the buffers: compare the rest */
        if (strcmp(va, vb)) {
            snprintf(key, key_size, "%s", k);
            return 1;
        }
    }
    return 0;
}

bp_status bp_run_check_resume(const char *dir, const bp_run_state *st, const bp_config *cfg,
                              int *complete, bp_error *err)
{
    /* A resume may train longer and checkpoint at another interval; any
     * other key would make the files describe two different runs. */
    static const char *const may_change[] = {"epochs", "checkpoint_every", NULL};
    char key[64], old_v[1100], new_v[1100];
    *complete = 0;
    if (bp_config_first_difference(&st->cfg, cfg, may_change, key, sizeof key, old_v, new_v,
                                   sizeof old_v))
        return bp_fail(err, BP_ERR_CONFIG,
                       "cannot resume %s: %s = %s in its config.ini, %s now (the first key that "
                       "differs; only epochs and checkpoint_every may change). Resume with the "
                       "run's config (--config %s/config.ini), or choose another --out",
                       dir, key, old_v, new_v, dir);
    if (st->bad_checkpoint[0] && st->readable == 0)
        return bp_fail(err, BP_ERR_FORMAT,
                       "cannot resume %s: %s, and there is no other checkpoint generation; "
                       "restore the file, or delete it to train the run again from epoch 0",
                       dir, st->bad_checkpoint);
    if (st->kind == BP_RUN_DIVERGED)
        return bp_fail(err, BP_ERR_CONFIG,
                       "cannot resume %s: its run diverged (NaN/Inf loss, see final.json), so "
                       "there is nothing to continue; start again in another --out (try a "
                       "smaller lr)",
                       dir);
    int done = st->epochs_done + (st->step > 0); /* an epoch part-way counts as begun */
    if (cfg->epochs < done) {
        char what[64];
        if (st->step > 0) snprintf(what, sizeof what, "is part-way into epoch %d", done);
        else snprintf(what, sizeof what, "has trained %d epoch%s", done, bp_plural_s(done));
        return bp_fail(err, BP_ERR_CONFIG,
                       "cannot resume %s with epochs = %d: the run %s, and trained epochs "
                       "cannot be undone; use epochs >= %d (or evaluate the run as it is: "
                       "biopp eval --run %s)",
                       dir, cfg->epochs, what, done, dir);
    }
    *complete = st->kind == BP_RUN_COMPLETE && cfg->epochs == st->epochs_done;
    return BP_OK;
}
