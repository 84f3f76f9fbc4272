/* Sweep results: a cell's runs read back from their final.json files, the
 * statistics, and DIR/summary.csv, summary.json, summary.md (docs/SWEEP.md,
 * "Summary files"). Everything is recomputed from the run folders, so a
 * resumed sweep's summaries equal an uninterrupted one's. */
#include "biopp/sweep.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/fsutil.h"
#include "biopp/report.h"
#include "biopp/version.h"

#define VALUE_MAX 2048 /* longest single value (as config.c) */
#define PATH_MAX_ 4096

/* ------------------------------------------------------------------------ */
/* Results                                                                  */

static double json_number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *json_string(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Who trained the run and on what (final.json of a biopp that records it). */
static void read_provenance(const cJSON *o, bp_sweep_run_result *out)
{
    const char *version = json_string(o, "biopp_version"), *commit = json_string(o, "biopp_commit");
    const char *name = json_string(o, "device_name"), *device = json_string(o, "device");
    if (version)
        snprintf(out->biopp, sizeof out->biopp, "%.32s (commit %.48s)", version,
                 commit ? commit : "unknown");
    if (name)
        snprintf(out->device, sizeof out->device, "%.128s (%.16s)", name, device ? device : "?");
}

static bp_status read_run(const char *run_dir, bp_sweep_run_result *out, bp_error *err)
{
    char path[PATH_MAX_ + 16], *text = NULL;
    bp_run_path(path, sizeof path, run_dir, "final.json");
    if (!bp_file_exists(path)) return BP_OK;
    bp_status st = bp_read_text(path, &text, NULL, err);
    if (st) return st;
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return bp_fail(err, BP_ERR_FORMAT,
                       "%s: not a JSON object; delete it (and the run's checkpoints) to train "
                       "the run again",
                       path);
    }
    bool diverged = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "diverged"));
    out->state = diverged ? BP_SWEEP_DIVERGED : BP_SWEEP_DONE;
    double epochs = json_number(o, "epochs");
    /* Only values an int holds may be cast (1e308 would be undefined). */
    out->epochs = epochs >= 0 && epochs <= INT_MAX ? (int)epochs : 0;
    out->test_error = json_number(o, "test_error");
    out->valid_error = json_number(o, "valid_error");
    read_provenance(o, out);
    cJSON_Delete(o);
    return BP_OK;
}

typedef struct {
    int n;
    double sum, min, max;
} moments;

static void moments_add(moments *m, double x)
{
    if (!m->n || x < m->min) m->min = x;
    if (!m->n || x > m->max) m->max = x;
    m->n++;
    m->sum += x;
}

/* Sample standard deviation (n - 1) of the finished runs' test (valid = 0)
 * or validation (valid = 1) errors in percent; NAN for n < 2. */
static double sample_std(const bp_sweep_cell_result *res, int valid, double mean, int n)
{
    double ss = 0.0;
    for (int r = 0; r < res->runs; r++) {
        const bp_sweep_run_result *x = &res->run[r];
        double e = valid ? x->valid_error : x->test_error;
        if (x->state == BP_SWEEP_DONE && isfinite(e)) ss += (100.0 * e - mean) * (100.0 * e - mean);
    }
    return n > 1 ? sqrt(ss / (n - 1)) : NAN;
}

static void cell_statistics(bp_sweep_cell_result *res)
{
    moments t = {0}, v = {0};
    for (int r = 0; r < res->runs; r++) {
        const bp_sweep_run_result *x = &res->run[r];
        res->finished += x->state != BP_SWEEP_PENDING;
        res->diverged += x->state == BP_SWEEP_DIVERGED;
        if (x->state != BP_SWEEP_DONE) continue;
        if (isfinite(x->test_error)) moments_add(&t, 100.0 * x->test_error);
        if (isfinite(x->valid_error)) moments_add(&v, 100.0 * x->valid_error);
    }
    res->n_test = t.n;
    res->mean_test = t.n ? t.sum / t.n : NAN;
    res->min_test = t.n ? t.min : NAN;
    res->max_test = t.n ? t.max : NAN;
    res->n_valid = v.n;
    res->mean_valid = v.n ? v.sum / v.n : NAN;
    res->std_test = sample_std(res, 0, res->mean_test, t.n);
    res->std_valid = sample_std(res, 1, res->mean_valid, v.n);
}

bp_status bp_sweep_cell_result_read(const bp_sweep *s, const char *dir,
                                    const bp_sweep_cell *cell, bp_sweep_cell_result *res,
                                    bp_error *err)
{
    memset(res, 0, sizeof *res);
    res->run = calloc((size_t)s->n_seeds, sizeof *res->run);
    if (!res->run) return bp_fail(err, BP_ERR_NOMEM, "sweep summary: out of memory");
    res->runs = s->n_seeds;
    for (int r = 0; r < s->n_seeds; r++) {
        char run[PATH_MAX_];
        bp_sweep_run_result *x = &res->run[r];
        x->seed = s->seeds[r];
        x->state = BP_SWEEP_PENDING;
        x->test_error = x->valid_error = NAN;
        x->biopp[0] = x->device[0] = '\0';
        bp_sweep_run_dir(run, sizeof run, dir, cell, s->seeds[r]);
        bp_status st = read_run(run, x, err);
        if (st) return st;
    }
    cell_statistics(res);
    return BP_OK;
}

void bp_sweep_cell_result_free(bp_sweep_cell_result *res)
{
    if (!res) return;
    free(res->run);
    res->run = NULL;
}

/* ------------------------------------------------------------------------ */
/* Summaries                                                                */

/* The keys every row records (whether they vary or not), so that a table
 * says what it measured; the other keys that vary follow them. */
static const char *const record_keys[] = {"dataset", "hidden",     "rule", "epochs",
                                          "train_size", "optimizer", "lr"};
#define N_RECORD ((int)(sizeof record_keys / sizeof record_keys[0]))

typedef struct {
    const bp_sweep *s;
    int n;
    bp_sweep_cell *cells;
    bp_sweep_cell_result *res;
    int n_extra;                          /* axes that are not record keys (CSV, JSON) */
    int extra[BP_SWEEP_MAX_ENTRIES];      /* axis positions */
    int n_head;                           /* axes other than hidden, rule (summary.md) */
    int head[BP_SWEEP_MAX_ENTRIES];
} summary;

static bool is_record_key(const char *name)
{
    for (int k = 0; k < N_RECORD; k++)
        if (!strcmp(name, record_keys[k])) return true;
    return false;
}

static void summary_free(summary *y)
{
    for (int i = 0; y->res && i < y->n; i++) bp_sweep_cell_result_free(&y->res[i]);
    free(y->res);
    free(y->cells);
}

static bp_status summary_read(summary *y, const bp_sweep *s, const char *dir, bp_error *err)
{
    memset(y, 0, sizeof *y);
    y->s = s;
    y->n = s->n_cells;
    y->cells = calloc((size_t)y->n, sizeof *y->cells);
    y->res = calloc((size_t)y->n, sizeof *y->res);
    if (!y->cells || !y->res) return bp_fail(err, BP_ERR_NOMEM, "sweep summary: out of memory");
    for (int a = 0; a < s->n_axes; a++) {
        const char *key = s->entries[s->axis[a]].key;
        if (!is_record_key(key)) y->extra[y->n_extra++] = a;
        if (strcmp(key, "hidden") && strcmp(key, "rule")) y->head[y->n_head++] = a;
    }
    for (int i = 0; i < y->n; i++) {
        bp_status st = bp_sweep_cell_at(s, i, &y->cells[i], err);
        if (!st) st = bp_sweep_cell_result_read(s, dir, &y->cells[i], &y->res[i], err);
        if (st) return st;
    }
    return BP_OK;
}

static const char *cfg_value(const bp_config *cfg, const char *key, char *buf, size_t n)
{
    bp_error ignore;
    if (bp_config_get(cfg, key, buf, n, &ignore)) snprintf(buf, n, "?");
    return buf;
}

/* The distinct biopp versions (what = 0) or devices (1) that trained the
 * runs of cell i (i < 0: of every cell), joined by "; " into out. */
static void distinct_runs(const summary *y, int i, int what, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (int c = i < 0 ? 0 : i; c < (i < 0 ? y->n : i + 1); c++)
        for (int r = 0; r < y->res[c].runs; r++) {
            const bp_sweep_run_result *x = &y->res[c].run[r];
            const char *v = what ? x->device : x->biopp;
            char needle[200];
            snprintf(needle, sizeof needle, "; %s; ", v);
            char have[4200];
            snprintf(have, sizeof have, "; %s; ", out);
            if (!*v || strstr(have, needle) || len + strlen(v) + 3 >= size) continue;
            len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "; " : "", v);
        }
}

/* A CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *v, bool last)
{
    if (strpbrk(v, ",\"\n\r")) {
        fputc('"', f);
        for (const char *p = v; *p; p++) {
            if (*p == '"') fputc('"', f);
            fputc(*p, f);
        }
        fputc('"', f);
    } else {
        fputs(v, f);
    }
    fputc(last ? '\n' : ',', f);
}

static void csv_number(FILE *f, double v, bool last)
{
    if (isfinite(v)) fprintf(f, "%.4f", v);
    fputc(last ? '\n' : ',', f);
}

static void csv_header(FILE *f, const summary *y)
{
    for (int k = 0; k < N_RECORD; k++) csv_field(f, record_keys[k], false);
    for (int x = 0; x < y->n_extra; x++)
        csv_field(f, y->s->entries[y->s->axis[y->extra[x]]].key, false);
    fputs("runs,finished,diverged,mean_test_error_pct,std_test_error_pct,min_test_error_pct,"
          "max_test_error_pct,mean_valid_error_pct,std_valid_error_pct,biopp,device,cell\n",
          f);
}

static void csv_row(FILE *f, const summary *y, int i)
{
    const bp_sweep_cell *c = &y->cells[i];
    const bp_sweep_cell_result *r = &y->res[i];
    char buf[VALUE_MAX];
    for (int k = 0; k < N_RECORD; k++)
        csv_field(f, cfg_value(&c->cfg, record_keys[k], buf, sizeof buf), false);
    for (int x = 0; x < y->n_extra; x++) {
        const bp_sweep_entry *e = &y->s->entries[y->s->axis[y->extra[x]]];
        csv_field(f, e->values[c->value[y->extra[x]]], false);
    }
    fprintf(f, "%d,%d,%d,", r->runs, r->finished, r->diverged);
    csv_number(f, r->mean_test, false);
    csv_number(f, r->std_test, false);
    csv_number(f, r->min_test, false);
    csv_number(f, r->max_test, false);
    csv_number(f, r->mean_valid, false);
    csv_number(f, r->std_valid, false);
    distinct_runs(y, i, 0, buf, sizeof buf);
    csv_field(f, buf, false);
    distinct_runs(y, i, 1, buf, sizeof buf);
    csv_field(f, buf, false);
    csv_field(f, c->name, true);
}

static char *summary_csv(const summary *y)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    csv_header(f, y);
    for (int i = 0; i < y->n; i++) csv_row(f, y, i);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void json_number_or_null(cJSON *o, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static void json_string_or_null(cJSON *o, const char *key, const char *v)
{
    if (*v) cJSON_AddStringToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

/* A key's canonical text as a typed JSON value: a number when it is one
 * (lr, epochs, alpha), else a string (hidden widths such as "400", paths,
 * names, "same"). */
static void json_typed(cJSON *o, const char *key, const char *text)
{
    if (strcmp(key, "hidden") && strcmp(key, "data_dir") && strcmp(key, "dataset")) {
        char *end = NULL;
        double v = strtod(text, &end);
        if (*text && end && !*end && isfinite(v)) {
            cJSON_AddNumberToObject(o, key, v);
            return;
        }
    }
    cJSON_AddStringToObject(o, key, text);
}

/* "a; b" (distinct_runs) as a JSON array of strings. */
static void json_list(cJSON *o, const char *key, const char *joined)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (const char *p = joined; a && *p;) {
        const char *end = strstr(p, "; ");
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[200];
        snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
        cJSON_AddItemToArray(a, cJSON_CreateString(item));
        p += n + (end ? 2 : 0);
    }
}

static const char *state_name(bp_sweep_run_state st)
{
    return st == BP_SWEEP_DONE ? "done" : st == BP_SWEEP_DIVERGED ? "diverged" : "pending";
}

static cJSON *json_runs(const bp_sweep_cell_result *r)
{
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; a && k < r->runs; k++) {
        const bp_sweep_run_result *x = &r->run[k];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "seed", (double)x->seed);
        cJSON_AddStringToObject(o, "state", state_name(x->state));
        cJSON_AddNumberToObject(o, "epochs", x->epochs);
        json_number_or_null(o, "test_error_pct", 100.0 * x->test_error);
        json_number_or_null(o, "valid_error_pct", 100.0 * x->valid_error);
        json_string_or_null(o, "biopp", x->biopp);
        json_string_or_null(o, "device", x->device);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *json_cell(const summary *y, int i)
{
    const bp_sweep_cell *c = &y->cells[i];
    const bp_sweep_cell_result *r = &y->res[i];
    cJSON *o = cJSON_CreateObject();
    char buf[VALUE_MAX];
    cJSON_AddStringToObject(o, "cell", c->name);
    for (int k = 0; k < N_RECORD; k++)
        json_typed(o, record_keys[k], cfg_value(&c->cfg, record_keys[k], buf, sizeof buf));
    for (int x = 0; x < y->n_extra; x++) {
        const bp_sweep_entry *e = &y->s->entries[y->s->axis[y->extra[x]]];
        json_typed(o, e->key, e->values[c->value[y->extra[x]]]);
    }
    cJSON_AddNumberToObject(o, "runs", r->runs);
    cJSON_AddNumberToObject(o, "finished", r->finished);
    cJSON_AddNumberToObject(o, "diverged", r->diverged);
    json_number_or_null(o, "mean_test_error_pct", r->mean_test);
    json_number_or_null(o, "std_test_error_pct", r->std_test);
    json_number_or_null(o, "min_test_error_pct", r->min_test);
    json_number_or_null(o, "max_test_error_pct", r->max_test);
    json_number_or_null(o, "mean_valid_error_pct", r->mean_valid);
    json_number_or_null(o, "std_valid_error_pct", r->std_valid);
    distinct_runs(y, i, 0, buf, sizeof buf);
    json_list(o, "biopp", buf);
    distinct_runs(y, i, 1, buf, sizeof buf);
    json_list(o, "devices", buf);
    cJSON_AddItemToObject(o, "per_run", json_runs(r));
    return o;
}

static char *summary_json(const summary *y)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "biopp_version", BIOPP_VERSION);
    cJSON_AddStringToObject(root, "biopp_commit", bp_build_commit());
    char buf[VALUE_MAX];
    distinct_runs(y, -1, 1, buf, sizeof buf);
    json_list(root, "devices", buf);
    cJSON *keys = cJSON_AddArrayToObject(root, "lists");
    for (int a = 0; a < y->s->n_axes; a++)
        cJSON_AddItemToArray(keys, cJSON_CreateString(y->s->entries[y->s->axis[a]].key));
    cJSON *seeds = cJSON_AddArrayToObject(root, "seeds");
    for (int r = 0; r < y->s->n_seeds; r++)
        cJSON_AddItemToArray(seeds, cJSON_CreateNumber((double)y->s->seeds[r]));
    cJSON *cells = cJSON_AddArrayToObject(root, "cells");
    for (int i = 0; i < y->n; i++) cJSON_AddItemToArray(cells, json_cell(y, i));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return NULL;
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    if (!out) {
        free(text);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    return out;
}

/* ---- summary.md: the paper's layout, rows = hidden, columns = rule ---- */

/* Position of `key` among the axes, or -1. */
static int axis_of(const bp_sweep *s, const char *key)
{
    for (int a = 0; a < s->n_axes; a++)
        if (!strcmp(s->entries[s->axis[a]].key, key)) return a;
    return -1;
}

/* Cell index for per-axis value indices. */
static int cell_index(const bp_sweep *s, const int *value)
{
    int index = 0;
    for (int a = 0; a < s->n_axes; a++) index = index * s->entries[s->axis[a]].n + value[a];
    return index;
}

static void md_mean_sd(FILE *f, int n, double mean, double sd)
{
    if (n >= 2) fprintf(f, "%.2f ± %.2f", mean, sd);
    else fprintf(f, "%.2f", mean);
}

/* Test error, then the validation error in brackets (researchers select
 * on it), then what is missing. */
static void md_result(FILE *f, const bp_sweep_cell_result *r)
{
    if (r->n_test >= 1) md_mean_sd(f, r->n_test, r->mean_test, r->std_test);
    else fprintf(f, "—");
    if (r->n_valid >= 1) {
        fprintf(f, " [");
        md_mean_sd(f, r->n_valid, r->mean_valid, r->std_valid);
        fputc(']', f);
    }
    int pending = r->runs - r->finished;
    if (r->diverged && pending) fprintf(f, " (%d diverged, %d pending)", r->diverged, pending);
    else if (r->diverged) fprintf(f, " (%d diverged)", r->diverged);
    else if (pending) fprintf(f, " (%d of %d pending)", pending, r->runs);
}

static void upper(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) out[i] = (char)toupper((unsigned char)s[i]);
    out[i] = '\0';
}

/* One table: the cells whose other axes have the values in `value`. */
static void md_table(FILE *f, const summary *y, int *value)
{
    const bp_sweep *s = y->s;
    int ah = axis_of(s, "hidden"), ar = axis_of(s, "rule");
    int nh = ah >= 0 ? s->entries[s->axis[ah]].n : 1, nr = ar >= 0 ? s->entries[s->axis[ar]].n : 1;
    char buf[VALUE_MAX], up[64];
    fprintf(f, "| hidden |");
    for (int j = 0; j < nr; j++) {
        if (ar >= 0) value[ar] = j;
        const bp_config *cfg = &y->cells[cell_index(s, value)].cfg;
        upper(bp_rule_name(cfg->rule), up, sizeof up);
        fprintf(f, " %s |", up);
    }
    fprintf(f, "\n|---|");
    for (int j = 0; j < nr; j++) fprintf(f, "---|");
    fputc('\n', f);
    for (int i = 0; i < nh; i++) {
        if (ah >= 0) value[ah] = i;
        for (int j = 0; j < nr; j++) {
            if (ar >= 0) value[ar] = j;
            int k = cell_index(s, value);
            if (j == 0) fprintf(f, "| %s |", cfg_value(&y->cells[k].cfg, "hidden", buf, sizeof buf));
            fputc(' ', f);
            md_result(f, &y->res[k]);
            fprintf(f, " |");
        }
        fputc('\n', f);
    }
}

static void md_heading(FILE *f, const summary *y, const int *value)
{
    fprintf(f, "\n##");
    for (int x = 0; x < y->n_head; x++) {
        const bp_sweep_entry *e = &y->s->entries[y->s->axis[y->head[x]]];
        fprintf(f, "%s %s = %s", x ? "," : "", e->key, e->values[value[y->head[x]]]);
    }
    fprintf(f, "\n\n");
}

static void md_seeds(FILE *f, const bp_sweep *s)
{
    bool range = true;
    for (int r = 1; r < s->n_seeds; r++) range = range && s->seeds[r] == s->seeds[r - 1] + 1;
    if (s->n_seeds == 1) fprintf(f, "seed %" PRIu64, s->seeds[0]);
    else if (range) fprintf(f, "seeds %" PRIu64 "–%" PRIu64, s->seeds[0], s->seeds[s->n_seeds - 1]);
    else {
        fprintf(f, "seeds ");
        for (int r = 0; r < s->n_seeds; r++) fprintf(f, "%s%" PRIu64, r ? ", " : "", s->seeds[r]);
    }
}

/* The record keys that do not vary (those that do head the tables). */
static void md_settings(FILE *f, const summary *y)
{
    char buf[VALUE_MAX];
    int n = 0;
    for (int k = 0; k < N_RECORD && y->n > 0; k++) {
        const char *key = record_keys[k];
        if (axis_of(y->s, key) >= 0 || !strcmp(key, "hidden") || !strcmp(key, "rule")) continue;
        fprintf(f, "%s%s %s", n++ ? ", " : "\nSettings: ", key,
                cfg_value(&y->cells[0].cfg, key, buf, sizeof buf));
    }
    if (n) fprintf(f, ".\n");
}

static void md_provenance(FILE *f, const summary *y)
{
    char biopp[VALUE_MAX], devices[VALUE_MAX];
    distinct_runs(y, -1, 0, biopp, sizeof biopp);
    distinct_runs(y, -1, 1, devices, sizeof devices);
    fprintf(f, "\nSummary written by biopp %s (commit %s)", BIOPP_VERSION, bp_build_commit());
    if (*biopp) fprintf(f, "; runs trained by biopp %s on %s", biopp, *devices ? devices : "?");
    fprintf(f, ".\n");
}

static void md_intro(FILE *f, const summary *y)
{
    fprintf(f, "# Test error (%%)\n\nMean ± sample standard deviation (n−1) over each cell's "
               "runs (");
    md_seeds(f, y->s);
    fprintf(f, "); the validation error, likewise, in brackets. Runs that diverged (NaN/Inf "
               "loss) are left out of the mean and counted; — marks a cell without a result.\n");
    md_settings(f, y);
    md_provenance(f, y);
}

/* With one hidden layer FA and DFA are one rule; say so where both appear,
 * so that their equal columns are not taken for a bug. */
static void md_fa_dfa_note(FILE *f, const summary *y)
{
    bool fa = false, dfa = false;
    for (int i = 0; i < y->n; i++) {
        const bp_config *c = &y->cells[i].cfg;
        fa = fa || (c->n_hidden == 1 && c->rule == BP_RULE_FA);
        dfa = dfa || (c->n_hidden == 1 && c->rule == BP_RULE_DFA);
    }
    if (fa && dfa)
        fprintf(f, "\nWith one hidden layer FA and DFA coincide: DFA's D_1 and FA's B_2 both map "
                   "the output error straight to the only hidden layer, so the two rules are the "
                   "same algorithm there and agree within seed noise; equal results are "
                   "expected, not a bug (README.md).\n");
}

/* Advances the heading axes' values like an odometer; false after the last. */
static bool next_combination(const summary *y, int *value)
{
    for (int x = y->n_head - 1; x >= 0; x--) {
        int a = y->head[x];
        if (++value[a] < y->s->entries[y->s->axis[a]].n) return true;
        value[a] = 0;
    }
    return false;
}

static char *summary_md(const summary *y)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    md_intro(f, y);
    int value[BP_SWEEP_MAX_ENTRIES] = {0};
    do {
        if (y->n_head) md_heading(f, y, value);
        else fputc('\n', f);
        md_table(f, y, value);
    } while (next_combination(y, value));
    md_fa_dfa_note(f, y);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static bp_status write_text(const char *dir, const char *name, const char *text, bp_error *err)
{
    char path[PATH_MAX_];
    if (!text) return bp_fail(err, BP_ERR_NOMEM, "%s/%s: out of memory", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return bp_write_file_atomic(path, text, strlen(text), err);
}

bp_status bp_sweep_write_summary(const bp_sweep *s, const char *dir, char **markdown,
                                 bp_error *err)
{
    summary y;
    int lock = -1; /* read and written under the lock: the last writer read the latest runs */
    bp_status st = bp_sweep_lock_dir(dir, &lock, err);
    if (st) return st;
    st = summary_read(&y, s, dir, err);
    char *csv = NULL, *json = NULL, *md = NULL;
    if (!st) {
        csv = summary_csv(&y);
        json = summary_json(&y);
        md = summary_md(&y);
        st = write_text(dir, "summary.csv", csv, err);
    }
    if (!st) st = write_text(dir, "summary.json", json, err);
    if (!st) st = write_text(dir, "summary.md", md, err);
    summary_free(&y);
    bp_unlock(lock);
    free(csv);
    free(json);
    if (!st && markdown) *markdown = md;
    else free(md);
    return st;
}
