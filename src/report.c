#include "biopp/report.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/fsutil.h"

void bp_run_path(char *buf, size_t size, const char *dir, const char *file)
{
    snprintf(buf, size, "%s/%s", dir, file);
}

/* NaN and Inf are not JSON: a diverged value is written as null. */
static void add_number(cJSON *o, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

char *bp_metrics_json(const bp_epoch_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "epoch", m->epoch);
    add_number(o, "train_loss", m->train_loss);
    add_number(o, "feedback_loss", m->feedback_loss);
    add_number(o, "train_error", m->train_error);
    if (m->valid_error >= 0) {
        add_number(o, "valid_error", m->valid_error);
        add_number(o, "valid_loss", m->valid_loss);
    } else {
        cJSON_AddNullToObject(o, "valid_error");
        cJSON_AddNullToObject(o, "valid_loss");
    }
    add_number(o, "test_error", m->test_error);
    add_number(o, "test_loss", m->test_loss);
    add_number(o, "seconds", m->seconds);
    cJSON_AddBoolToObject(o, "diverged", m->diverged);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static double get_number(const cJSON *o, const char *key, double missing)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : missing;
}

/* An integer field; missing, fractional or out of int range reads as
 * `missing` (a double outside int's range cannot be cast: undefined). */
static int get_int(const cJSON *o, const char *key, int missing)
{
    double v = get_number(o, key, NAN);
    return v >= INT_MIN && v <= INT_MAX && v == (int)v ? (int)v : missing;
}

static bp_status log_push(bp_run_log *log, const bp_epoch_metrics *m, bp_error *err)
{
    if (log->n == log->cap) {
        int cap = log->cap ? log->cap * 2 : 64;
        bp_epoch_metrics *h = realloc(log->hist, (size_t)cap * sizeof *h);
        if (!h) return bp_fail(err, BP_ERR_NOMEM, "metrics log: out of memory");
        log->hist = h;
        log->cap = cap;
    }
    log->hist[log->n++] = *m;
    return BP_OK;
}

/* Reads back the epochs 1..keep of an existing metrics.jsonl. */
static bp_status load_existing(bp_run_log *log, const char *path, int keep, bp_error *err)
{
    char *text;
    bp_status rc = bp_read_text(path, &text, NULL, err);
    if (rc) return rc;
    int line = 0;
    for (char *save = NULL, *s = strtok_r(text, "\n", &save); s && !rc;
         s = strtok_r(NULL, "\n", &save)) {
        line++;
        cJSON *o = cJSON_Parse(s);
        if (!o) {
            rc = bp_fail(err, BP_ERR_FORMAT, "%s:%d: not a JSON object", path, line);
            break;
        }
        bp_epoch_metrics m = {0};
        m.epoch = get_int(o, "epoch", 0);
        m.train_loss = get_number(o, "train_loss", NAN);
        m.feedback_loss = get_number(o, "feedback_loss", NAN);
        m.train_error = get_number(o, "train_error", NAN);
        m.valid_error = get_number(o, "valid_error", -1);
        m.valid_loss = get_number(o, "valid_loss", -1);
        m.test_error = get_number(o, "test_error", NAN);
        m.test_loss = get_number(o, "test_loss", NAN);
        m.seconds = get_number(o, "seconds", 0);
        m.diverged = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "diverged"));
        cJSON_Delete(o);
        if (m.epoch == log->n + 1 && m.epoch <= keep) rc = log_push(log, &m, err);
    }
    free(text);
    if (!rc && log->n != keep)
        rc = bp_fail(err, BP_ERR_FORMAT, "%s: holds %d epochs, the checkpoint is at epoch %d",
                     path, log->n, keep);
    return rc;
}

bp_status bp_run_log_open(bp_run_log *log, const char *dir, int keep_epochs, bp_error *err)
{
    memset(log, 0, sizeof *log);
    snprintf(log->dir, sizeof log->dir, "%s", dir);
    if (keep_epochs <= 0) return BP_OK;
    char path[4096];
    bp_run_path(path, sizeof path, dir, "metrics.jsonl");
    return load_existing(log, path, keep_epochs, err);
}

bp_status bp_run_log_append(bp_run_log *log, const bp_epoch_metrics *m, bp_error *err)
{
    bp_status rc = log_push(log, m, err);
    if (rc) return rc;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return bp_fail(err, BP_ERR_NOMEM, "metrics log: out of memory");
    int ok = 1;
    for (int i = 0; i < log->n && ok; i++) {
        char *line = bp_metrics_json(&log->hist[i]);
        ok = line && fprintf(f, "%s\n", line) > 0;
        free(line);
    }
    fclose(f);
    char path[4096];
    bp_run_path(path, sizeof path, log->dir, "metrics.jsonl");
    rc = ok ? bp_write_file_atomic(path, buf, len, err)
            : bp_fail(err, BP_ERR_NOMEM, "%s: formatting failed (out of memory)", path);
    free(buf);
    return rc;
}

void bp_run_log_close(bp_run_log *log)
{
    free(log->hist);
    log->hist = NULL;
    log->n = log->cap = 0;
}

double bp_run_log_seconds(const bp_run_log *log)
{
    double s = 0.0;
    for (int i = 0; i < log->n; i++) s += log->hist[i].seconds;
    return s;
}

bp_status bp_write_config_file(const char *path, const bp_config *cfg, bp_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", path);
    bp_status rc = bp_config_write(cfg, f, err);
    fclose(f);
    if (!rc) rc = bp_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

bp_status bp_write_final_json(const char *dir, const bp_config *cfg, uint64_t seed,
                              const bp_run_log *log, int diverged, bp_error *err)
{
    char hidden[128], path[4096];
    bp_format_hidden(cfg->n_hidden, cfg->hidden, hidden, sizeof hidden);
    cJSON *o = cJSON_CreateObject();
    if (!o) return bp_fail(err, BP_ERR_NOMEM, "final.json: out of memory");
    const bp_epoch_metrics *last = log->n ? &log->hist[log->n - 1] : NULL;
    cJSON_AddStringToObject(o, "dataset", cfg->dataset);
    cJSON_AddStringToObject(o, "rule", bp_rule_name(cfg->rule));
    cJSON_AddStringToObject(o, "hidden", hidden);
    cJSON_AddNumberToObject(o, "seed", (double)seed);
    cJSON_AddNumberToObject(o, "epochs", log->n);
    add_number(o, "test_error", last ? last->test_error : NAN);
    if (last && last->valid_error >= 0) add_number(o, "valid_error", last->valid_error);
    else cJSON_AddNullToObject(o, "valid_error");
    add_number(o, "train_error", last ? last->train_error : NAN);
    add_number(o, "train_loss", last ? last->train_loss : NAN);
    add_number(o, "feedback_loss", last ? last->feedback_loss : NAN);
    add_number(o, "seconds", bp_run_log_seconds(log));
    cJSON_AddBoolToObject(o, "diverged", diverged);
    if (diverged && last && last->nonfinite[0])
        cJSON_AddStringToObject(o, "nonfinite", last->nonfinite);
    cJSON_AddStringToObject(o, "device", bp_device_name(cfg->device));
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) return bp_fail(err, BP_ERR_NOMEM, "final.json: out of memory");
    bp_run_path(path, sizeof path, dir, "final.json");
    size_t n = strlen(s);
    s[n] = '\n'; /* replace the NUL: the buffer ends right after */
    bp_status rc = bp_write_file_atomic(path, s, n + 1, err);
    free(s);
    return rc;
}
