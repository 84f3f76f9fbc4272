/* See include/biopp/metrics_table.h. */
#include "biopp/metrics_table.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/fsutil.h"

int bp_metrics_table_col(const bp_metrics_table *t, const char *name)
{
    for (int c = 0; c < t->cols; c++)
        if (!strcmp(t->name[c], name)) return c;
    return -1;
}

/* The column of `name`, created (NaN in the rows so far) when new. */
static int column(bp_metrics_table *t, const char *name)
{
    int c = bp_metrics_table_col(t, name);
    if (c >= 0 || t->cols == BP_MT_MAX_COLS) return c;
    c = t->cols++;
    snprintf(t->name[c], sizeof t->name[c], "%s", name);
    for (int r = 0; r < t->rows; r++) t->v[(size_t)r * BP_MT_MAX_COLS + c] = NAN;
    return c;
}

static double number_or_nan(const cJSON *v)
{
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void set(bp_metrics_table *t, double *row, const char *name, double v)
{
    int c = column(t, name);
    if (c >= 0) row[c] = v;
}

static bp_status add_row(bp_metrics_table *t, const cJSON *o, bp_error *err)
{
    if (t->rows == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        double *v = realloc(t->v, (size_t)cap * BP_MT_MAX_COLS * sizeof *v);
        if (!v) return bp_fail(err, BP_ERR_NOMEM, "metrics table: out of memory");
        t->v = v;
        t->cap = cap;
    }
    double *row = t->v + (size_t)t->rows * BP_MT_MAX_COLS;
    for (int c = 0; c < BP_MT_MAX_COLS; c++) row[c] = NAN;
    t->rows++;
    for (const cJSON *f = o->child; f; f = f->next) {
        if (cJSON_IsNumber(f) || cJSON_IsNull(f)) {
            set(t, row, f->string, number_or_nan(f));
        } else if (cJSON_IsArray(f)) {
            int k = 1;
            for (const cJSON *e = f->child; e; e = e->next, k++) {
                char name[48];
                snprintf(name, sizeof name, "%s.%d", f->string, k);
                set(t, row, name, number_or_nan(e));
            }
        }
    }
    return BP_OK;
}

bp_status bp_metrics_table_read(const char *path, bp_metrics_table *t, bp_error *err)
{
    memset(t, 0, sizeof *t);
    char *text;
    bp_status rc = bp_read_text(path, &text, NULL, err);
    if (rc) return rc;
    int line = 0;
    for (char *save = NULL, *s = strtok_r(text, "\n", &save); s && !rc;
         s = strtok_r(NULL, "\n", &save)) {
        line++;
        cJSON *o = cJSON_Parse(s);
        if (!cJSON_IsObject(o))
            rc = bp_fail(err, BP_ERR_FORMAT, "%s:%d: not a JSON object", path, line);
        else
            rc = add_row(t, o, err);
        cJSON_Delete(o);
    }
    free(text);
    if (!rc && bp_metrics_table_col(t, "epoch") < 0)
        rc = bp_fail(err, BP_ERR_FORMAT, "%s: no \"epoch\" field (empty or not a metrics.jsonl)",
                     path);
    if (rc) bp_metrics_table_free(t);
    return rc;
}

void bp_metrics_table_free(bp_metrics_table *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}
