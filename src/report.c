#include "biopp/report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/fsutil.h"
#include "biopp/plural.h"
#include "biopp/version.h"

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

static void add_angles(cJSON *o, const char *key, const double *v, int n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
}

/* The three angle lists of a measurement or an epoch mean (align.h):
 * delta and dW per hidden layer, fb per feedback matrix 1..L+1. */
static void add_align(cJSON *o, const bp_align_point *p)
{
    add_angles(o, "align_delta_deg", p->delta, p->L);
    add_angles(o, "align_dW_deg", p->dW, p->L);
    add_angles(o, "align_fb_deg", p->fb, p->L + 1);
}

static int get_angles(const cJSON *o, const char *key, double *v, int max)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    int n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) {
        if (n == max) break;
        v[n++] = cJSON_IsNumber(x) ? x->valuedouble : NAN;
    }
    return n;
}

static void get_align(const cJSON *o, bp_epoch_metrics *m)
{
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "align_delta_deg"))) return;
    m->has_align = 1;
    m->align.step = -1;
    m->align.L = get_angles(o, "align_delta_deg", m->align.delta, BP_MAX_HIDDEN);
    get_angles(o, "align_dW_deg", m->align.dW, BP_MAX_HIDDEN);
    get_angles(o, "align_fb_deg", m->align.fb, BP_MAX_HIDDEN + 1);
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
    if (m->has_align) add_align(o, &m->align);
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
        get_align(o, &m);
        cJSON_Delete(o);
        if (m.epoch == log->n + 1 && m.epoch <= keep) rc = log_push(log, &m, err);
    }
    free(text);
    if (!rc && log->n != keep)
        rc = bp_fail(err, BP_ERR_FORMAT, "%s: holds %d epoch%s, the checkpoint is at epoch %d",
                     path, log->n, bp_plural_s(log->n), keep);
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

bp_status bp_write_config_file(const char *path, const bp_config *cfg, const bp_backend *be,
                               bp_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", path);
    fprintf(f, "# written by biopp %s (commit %s), backend %s\n", BIOPP_VERSION,
            bp_build_commit(), be && be->label[0] ? be->label : "unknown");
    bp_status rc = bp_config_write(cfg, f, err);
    fclose(f);
    if (!rc) rc = bp_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

int bp_final_json_diverged(const char *path, bp_error *err)
{
    char *text = NULL;
    if (bp_read_text(path, &text, NULL, err)) return -1;
    cJSON *o = cJSON_Parse(text);
    free(text);
    const cJSON *d = o ? cJSON_GetObjectItemCaseSensitive(o, "diverged") : NULL;
    int r = cJSON_IsBool(d) ? cJSON_IsTrue(d) : -1;
    cJSON_Delete(o);
    if (r < 0)
        bp_fail(err, BP_ERR_FORMAT, "%s: not a biopp final.json (no \"diverged\" field)", path);
    return r;
}

bp_status bp_write_final_json(const char *dir, const bp_config *cfg, uint64_t seed,
                              const bp_run_log *log, int diverged, const bp_backend *be,
                              bp_error *err)
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
    cJSON_AddNumberToObject(o, "epochs", last ? last->epoch : 0); /* 0: untrained baseline */
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
    cJSON_AddStringToObject(o, "backend", be && be->label[0] ? be->label : "unknown");
    cJSON_AddStringToObject(o, "device_name", be && be->device_name[0] ? be->device_name
                                                                       : "unknown");
    cJSON_AddStringToObject(o, "biopp_version", BIOPP_VERSION);
    cJSON_AddStringToObject(o, "biopp_commit", bp_build_commit());
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

/* align.jsonl: one line per measurement, {"epoch", "step", angles...}. */
bp_status bp_align_log_append(const char *dir, int epoch, const bp_align_point *p, int n,
                              bp_error *err)
{
    char path[4096];
    bp_run_path(path, sizeof path, dir, "align.jsonl");
    FILE *f = fopen(path, "a");
    if (!f) return bp_fail(err, BP_ERR_IO, "%s: cannot open for appending: %s", path,
                           strerror(errno));
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        cJSON *o = cJSON_CreateObject();
        char *line = NULL;
        if (o) {
            cJSON_AddNumberToObject(o, "epoch", epoch);
            cJSON_AddNumberToObject(o, "step", (double)p[i].step);
            add_align(o, &p[i]);
            line = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
        }
        ok = line && fprintf(f, "%s\n", line) > 0;
        free(line);
    }
    if (fclose(f) != 0) ok = 0;
    return ok ? BP_OK : bp_fail(err, BP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
}

/* On resume: keeps the measurements of epochs 1..keep (a line cut short by a
 * crash, or from epochs past the checkpoint, is dropped) and rewrites the
 * file atomically; no file is fine. */
bp_status bp_align_log_truncate(const char *dir, int keep, bp_error *err)
{
    char path[4096], *text;
    bp_run_path(path, sizeof path, dir, "align.jsonl");
    if (!bp_file_exists(path)) return BP_OK;
    bp_status rc = bp_read_text(path, &text, NULL, err);
    if (rc) return rc;
    char *out = malloc(strlen(text) + 1);
    if (!out) {
        free(text);
        return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t len = 0;
    for (char *save = NULL, *s = strtok_r(text, "\n", &save); s; s = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(s);
        int e = o ? (int)get_number(o, "epoch", 0) : 0;
        cJSON_Delete(o);
        if (e < 1 || e > keep) continue;
        size_t k = strlen(s);
        memcpy(out + len, s, k);
        out[len + k] = '\n';
        len += k + 1;
    }
    rc = bp_write_file_atomic(path, out, len, err);
    free(out);
    free(text);
    return rc;
}
