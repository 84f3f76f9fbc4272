/* See include/biopp/plot.h. A run folder gives error, loss and (when
 * logged) alignment charts per epoch; a sweep folder one test-error chart
 * per architecture (a line per cell: mean over seeds, band min..max) and
 * the mean alignment angles. Every chart's data is a .dat file in OUT and
 * its gnuplot script a .gp file beside the PNG, so a chart can be redrawn
 * or restyled by hand (gnuplot OUT/x.gp, run inside OUT). */
#include "biopp/plot.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "biopp/config.h"
#include "biopp/fsutil.h"
#include "biopp/gnuplot.h"
#include "biopp/metrics_table.h"
#include "biopp/report.h"

#define MAX_CELLS 4096
#define MAX_SEEDS_PER_CELL 256

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                     "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NCOLORS (sizeof COLORS / sizeof *COLORS)

/* The alignment series metrics.jsonl may hold (issue 8): column prefix,
 * file stem, chart title, what one column is. */
static const struct {
    const char *prefix, *stem, *title, *item;
} ALIGN[] = {
    {"align_delta_deg.", "align-delta", "angle between the rule's delta_l and BP's delta_l",
     "layer"},
    {"align_dW_deg.", "align-dW", "angle between the rule's update dW_l and BP's", "layer"},
    {"align_fb_deg.", "align-fb", "angle between the feedback matrix of layer l and W_l^T",
     "matrix"},
};
#define NALIGN (sizeof ALIGN / sizeof *ALIGN)

typedef struct {
    const char *dir, *out;
    FILE *log;
    bp_gnuplot gp;
    int charts;
} plotter;

typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} text;

static bp_status text_open(text *t, bp_error *err)
{
    t->buf = NULL;
    t->len = 0;
    t->f = open_memstream(&t->buf, &t->len);
    return t->f ? BP_OK : bp_fail(err, BP_ERR_NOMEM, "plot: out of memory");
}

/* Closes t, writes it to OUT/name and frees its buffer. */
static bp_status text_save(plotter *p, text *t, const char *name, bp_error *err)
{
    char path[4096];
    fclose(t->f);
    bp_run_path(path, sizeof path, p->out, name);
    bp_status rc = bp_write_file_atomic(path, t->buf, t->len, err);
    if (!rc && p->log) fprintf(p->log, "  %s\n", path);
    free(t->buf);
    t->f = NULL;
    t->buf = NULL;
    return rc;
}

static void text_discard(text *t)
{
    if (t->f) fclose(t->f);
    free(t->buf);
    t->f = NULL;
    t->buf = NULL;
}

/* Letters, digits and . _ + - stay; anything else becomes '_'. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._+-", *s)))
            *s = '_';
}

static int has_finite(const bp_metrics_table *t, int col)
{
    for (int r = 0; col >= 0 && r < t->rows; r++)
        if (isfinite(bp_mt_get(t, r, col))) return 1;
    return 0;
}

static void put_value(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, " %.10g", v);
    else fputs(" NaN", f);
}

/* The range of the values a chart's y axis shows. */
typedef struct {
    double lo, hi;
    int n;
} span;

static void span_add(span *y, double v)
{
    if (!isfinite(v)) return;
    if (!y->n || v < y->lo) y->lo = v;
    if (!y->n || v > y->hi) y->hi = v;
    y->n++;
}

static void span_add_column(span *y, const bp_metrics_table *t, int col, double scale)
{
    for (int r = 0; col >= 0 && r < t->rows; r++) span_add(y, scale * bp_mt_get(t, r, col));
}

/* Errors and losses fall over decades: a log axis with 1-2-5 tics when the
 * values span more than a factor 3, else a linear one. */
static void y_axis(FILE *f, const span *y)
{
    if (!y || !y->n || y->lo <= 0 || y->hi / y->lo <= 3) return;
    fprintf(f, "set logscale y\nset autoscale yfix\nset offsets 0, 0, graph 0.03, graph 0.03\n"
               "set ytics (");
    int first = 1;
    for (double dec = 1e-4; dec < 1e5; dec *= 10)
        for (int k = 0; k < 3; k++) {
            double v = dec * (k == 0 ? 1 : k == 1 ? 2 : 5);
            fprintf(f, "%s'%g' %g", first ? "" : ", ", v, v);
            first = 0;
        }
    fprintf(f, ")\n");
}

/* Terminal, output, labels; the caller adds `plot ...`. */
static void preamble(const plotter *p, FILE *f, const char *png, const char *title,
                     const char *ylabel, const span *y, int epochs)
{
    if (!strcmp(p->gp.terminal, "pngcairo"))
        fprintf(f, "set terminal pngcairo noenhanced size 960,600 font 'Sans,11'\n");
    else
        fprintf(f, "set terminal %s size 960,600\n", p->gp.terminal);
    fprintf(f, "set output '%s'\nset datafile missing 'NaN'\n", png);
    fprintf(f, "set title \"%s\"\nset xlabel 'epoch'\nset ylabel \"%s\"\n", title, ylabel);
    fprintf(f, "set grid\nset key below\nset xrange [1:*]\nset autoscale xfix\n");
    if (epochs <= 20) fprintf(f, "set xtics 1\n"); /* whole epochs only */
    y_axis(f, y);
}

/* Saves the script as OUT/stem.gp and runs it inside OUT. */
static bp_status draw(plotter *p, text *script, const char *stem, bp_error *err)
{
    char name[512];
    fprintf(script->f, "\n");
    fflush(script->f);
    size_t len = strlen(p->out) + script->len + 16;
    char *run = malloc(len);
    if (!run) {
        text_discard(script);
        return bp_fail(err, BP_ERR_NOMEM, "plot: out of memory");
    }
    snprintf(run, len, "cd '%s'\n%s", p->out, script->buf);
    snprintf(name, sizeof name, "%s.gp", stem);
    bp_status rc = text_save(p, script, name, err);
    if (!rc) rc = bp_gnuplot_run(&p->gp, run, name, err);
    free(run);
    free(script->buf);
    script->buf = NULL;
    script->f = NULL;
    if (!rc) {
        p->charts++;
        if (p->log) fprintf(p->log, "  %s/%s.png\n", p->out, stem);
    }
    return rc;
}

/* ---- one run ---------------------------------------------------------- */

static void run_title(const char *dir, char *title, size_t size)
{
    char path[4096];
    bp_config cfg;
    bp_error ignore;
    bp_run_path(path, sizeof path, dir, "config.ini");
    bp_config_defaults(&cfg);
    if (!bp_file_exists(path) || bp_config_load(&cfg, path, &ignore)) {
        snprintf(title, size, "%s", dir);
        return;
    }
    char hidden[128];
    bp_format_hidden(cfg.n_hidden, cfg.hidden, hidden, sizeof hidden);
    snprintf(title, size, "%s %s %s, seed %llu", cfg.dataset, bp_rule_name(cfg.rule), hidden,
             (unsigned long long)cfg.seed);
}

static bp_status write_run_dat(plotter *p, const bp_metrics_table *t, bp_error *err)
{
    text d;
    bp_status rc = text_open(&d, err);
    if (rc) return rc;
    fprintf(d.f, "# %s/metrics.jsonl (errors as fractions; NaN = missing). Columns:\n#",
            p->dir);
    for (int c = 0; c < t->cols; c++) fprintf(d.f, " %d:%s", c + 1, t->name[c]);
    fprintf(d.f, "\n");
    for (int r = 0; r < t->rows; r++) {
        for (int c = 0; c < t->cols; c++) put_value(d.f, bp_mt_get(t, r, c));
        fprintf(d.f, "\n");
    }
    return text_save(p, &d, "run.dat", err);
}

static int table_last_epoch(const bp_metrics_table *t)
{
    int ep = bp_metrics_table_col(t, "epoch"), e = 0;
    for (int r = 0; r < t->rows; r++)
        if (bp_mt_get(t, r, ep) > e) e = (int)bp_mt_get(t, r, ep);
    return e;
}

static const char *style(const bp_metrics_table *t)
{
    return t->rows > 40 ? "lines lw 2" : "linespoints lw 2 pt 7 ps 0.6";
}

static bp_status run_errors(plotter *p, const bp_metrics_table *t, const char *title,
                            bp_error *err)
{
    static const char *const cols[] = {"train_error", "valid_error", "test_error"};
    static const char *const names[] = {"train (running, during the epoch)", "validation",
                                        "test"};
    int ep = bp_metrics_table_col(t, "epoch"), n = 0;
    text s;
    bp_status rc = text_open(&s, err);
    if (rc) return rc;
    char full[600];
    span y = {0};
    for (int i = 0; i < 3; i++) span_add_column(&y, t, bp_metrics_table_col(t, cols[i]), 100);
    snprintf(full, sizeof full, "%s: error per epoch", title);
    preamble(p, s.f, "error.png", full, "error (%)", &y, table_last_epoch(t));
    for (int i = 0; i < 3; i++) {
        int c = bp_metrics_table_col(t, cols[i]);
        if (!has_finite(t, c)) continue;
        fprintf(s.f, "%s 'run.dat' using %d:($%d*100) with %s lc rgb '%s' title '%s'",
                n++ ? ", \\\n    " : "plot ", ep + 1, c + 1, style(t), COLORS[i], names[i]);
    }
    if (!n) {
        text_discard(&s);
        return BP_OK;
    }
    return draw(p, &s, "error", err);
}

static bp_status run_losses(plotter *p, const bp_metrics_table *t, const char *title,
                            bp_error *err)
{
    int ep = bp_metrics_table_col(t, "epoch"), tr = bp_metrics_table_col(t, "train_loss"),
        te = bp_metrics_table_col(t, "test_loss"), fb = bp_metrics_table_col(t, "feedback_loss");
    int with_fb = 0;
    for (int r = 0; fb >= 0 && r < t->rows; r++)
        if (isfinite(bp_mt_get(t, r, fb)) && bp_mt_get(t, r, fb) != 0.0) with_fb = 1;
    if (!has_finite(t, tr) && !has_finite(t, te) && !with_fb) return BP_OK;
    text s;
    bp_status rc = text_open(&s, err);
    if (rc) return rc;
    char full[600];
    snprintf(full, sizeof full, "%s: losses per epoch (mean per sample)", title);
    span y = {0};
    span_add_column(&y, t, tr, 1);
    span_add_column(&y, t, te, 1);
    preamble(p, s.f, "loss.png", full, "output loss", &y, table_last_epoch(t));
    if (with_fb)
        /* The feedback loss (BFA's reconstruction, BDFA's alignment) lives
         * on another scale: the right-hand axis. */
        fprintf(s.f, "set y2label 'feedback loss'\nset y2tics\n"
                     "set ytics nomirror\n");
    int n = 0;
    if (has_finite(t, tr))
        fprintf(s.f, "%s 'run.dat' using %d:%d with %s lc rgb '%s' title 'train (forward) loss'",
                n++ ? ", \\\n    " : "plot ", ep + 1, tr + 1, style(t), COLORS[0]);
    if (has_finite(t, te))
        fprintf(s.f, "%s 'run.dat' using %d:%d with %s lc rgb '%s' title 'test loss'",
                n++ ? ", \\\n    " : "plot ", ep + 1, te + 1, style(t), COLORS[2]);
    if (with_fb)
        fprintf(s.f,
                "%s 'run.dat' using %d:%d axes x1y2 with %s lc rgb '%s' "
                "title 'feedback loss (right axis)'",
                n++ ? ", \\\n    " : "plot ", ep + 1, fb + 1, style(t), COLORS[3]);
    return draw(p, &s, "loss", err);
}

/* Columns "prefix1", "prefix2", ... that hold a value somewhere. */
static int align_columns(const bp_metrics_table *t, const char *prefix, int *cols, int *index)
{
    int n = 0;
    for (int c = 0; c < t->cols; c++) {
        size_t len = strlen(prefix);
        if (strncmp(t->name[c], prefix, len) || !has_finite(t, c)) continue;
        index[n] = atoi(t->name[c] + len);
        cols[n++] = c;
    }
    return n;
}

static bp_status run_alignment(plotter *p, const bp_metrics_table *t, const char *title,
                               bp_error *err)
{
    int ep = bp_metrics_table_col(t, "epoch");
    for (size_t a = 0; a < NALIGN; a++) {
        int cols[BP_MT_MAX_COLS], index[BP_MT_MAX_COLS];
        int n = align_columns(t, ALIGN[a].prefix, cols, index);
        if (!n) continue;
        text s;
        bp_status rc = text_open(&s, err);
        if (rc) return rc;
        char full[700], png[64];
        snprintf(full, sizeof full, "%s: %s (epoch mean)", title, ALIGN[a].title);
        snprintf(png, sizeof png, "%s.png", ALIGN[a].stem);
        preamble(p, s.f, png, full, "angle (degrees)", NULL, table_last_epoch(t));
        fprintf(s.f, "set yrange [0:*]\n");
        for (int i = 0; i < n; i++)
            fprintf(s.f, "%s 'run.dat' using %d:%d with %s lc rgb '%s' title '%s %d'",
                    i ? ", \\\n    " : "plot ", ep + 1, cols[i] + 1, style(t),
                    COLORS[i % NCOLORS], ALIGN[a].item, index[i]);
        if ((rc = draw(p, &s, ALIGN[a].stem, err))) return rc;
    }
    return BP_OK;
}

static bp_status plot_run(plotter *p, bp_error *err)
{
    char path[4096], title[512];
    bp_metrics_table t;
    bp_run_path(path, sizeof path, p->dir, "metrics.jsonl");
    bp_status rc = bp_metrics_table_read(path, &t, err);
    if (rc) return rc;
    run_title(p->dir, title, sizeof title);
    rc = write_run_dat(p, &t, err);
    if (!rc) rc = run_errors(p, &t, title, err);
    if (!rc) rc = run_losses(p, &t, title, err);
    if (!rc) rc = run_alignment(p, &t, title, err);
    bp_metrics_table_free(&t);
    return rc;
}

/* ---- a sweep ---------------------------------------------------------- */

typedef struct {
    char name[256];          /* the cell folder */
    char label[256];         /* the cell without its hidden=: the line's title */
    char hidden[128], dataset[32];
    bp_rule_id rule;
    int nseeds;
    bp_metrics_table *t;     /* one per seed with a metrics.jsonl */
} cell_data;

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "hidden=1x400,rule=bp,lr=0.001" -> "bp,lr=0.001": the parts other than
 * hidden, with "rule=" dropped. */
static void cell_label(const char *cell, const char *rule, char *out, size_t size)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", cell);
    out[0] = '\0';
    for (char *save = NULL, *part = strtok_r(buf, ",", &save); part;
         part = strtok_r(NULL, ",", &save)) {
        if (!strncmp(part, "hidden=", 7)) continue;
        if (!strncmp(part, "rule=", 5)) part += 5;
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", len ? "," : "", part);
    }
    if (!out[0]) snprintf(out, size, "%s", rule);
}

static int seed_number(const char *name)
{
    return strncmp(name, "seed-", 5) ? -1 : atoi(name + 5);
}

static int cmp_seed_names(const void *a, const void *b)
{
    return seed_number(*(char *const *)a) - seed_number(*(char *const *)b);
}

/* Reads the metrics of every seed-N run of one cell; its config from the
 * first run's config.ini. Returns BP_OK with nseeds = 0 when none has
 * metrics yet. */
static bp_status read_cell(const char *dir, const char *name, cell_data *c, bp_error *err)
{
    char cdir[4096], path[4096 + 300];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    bp_run_path(cdir, sizeof cdir, dir, name);
    DIR *d = opendir(cdir);
    if (!d) return BP_OK;
    char *seeds[MAX_SEEDS_PER_CELL];
    int ns = 0;
    for (struct dirent *e; (e = readdir(d)) && ns < MAX_SEEDS_PER_CELL;)
        if (seed_number(e->d_name) >= 0) seeds[ns++] = strdup(e->d_name);
    closedir(d);
    qsort(seeds, (size_t)ns, sizeof *seeds, cmp_seed_names);
    c->t = calloc((size_t)(ns ? ns : 1), sizeof *c->t);
    bp_status rc = c->t ? BP_OK : bp_fail(err, BP_ERR_NOMEM, "plot: out of memory");
    for (int i = 0; i < ns && !rc; i++) {
        snprintf(path, sizeof path, "%s/%s/metrics.jsonl", cdir, seeds[i]);
        if (!bp_file_exists(path)) continue;
        rc = bp_metrics_table_read(path, &c->t[c->nseeds], err);
        if (rc) break;
        if (c->nseeds++ == 0) {
            bp_config cfg;
            bp_config_defaults(&cfg);
            snprintf(path, sizeof path, "%s/%s/config.ini", cdir, seeds[i]);
            rc = bp_config_load(&cfg, path, err);
            bp_format_hidden(cfg.n_hidden, cfg.hidden, c->hidden, sizeof c->hidden);
            snprintf(c->dataset, sizeof c->dataset, "%s", cfg.dataset);
            c->rule = cfg.rule;
            cell_label(name, bp_rule_name(cfg.rule), c->label, sizeof c->label);
        }
    }
    for (int i = 0; i < ns; i++) free(seeds[i]);
    return rc;
}

static void free_cell(cell_data *c)
{
    for (int i = 0; i < c->nseeds; i++) bp_metrics_table_free(&c->t[i]);
    free(c->t);
    c->t = NULL;
    c->nseeds = 0;
}

static int cmp_cells(const void *pa, const void *pb)
{
    const cell_data *a = pa, *b = pb;
    int d = strcmp(a->dataset, b->dataset);
    if (!d) d = strcmp(a->hidden, b->hidden);
    if (!d) d = (int)a->rule - (int)b->rule;
    return d ? d : strcmp(a->name, b->name);
}

static int last_epoch(const cell_data *c)
{
    int e = 0;
    for (int s = 0; s < c->nseeds; s++) {
        int l = table_last_epoch(&c->t[s]);
        if (l > e) e = l;
    }
    return e;
}

static int cells_last_epoch(const cell_data *cells, int n)
{
    int e = 0;
    for (int i = 0; i < n; i++)
        if (last_epoch(&cells[i]) > e) e = last_epoch(&cells[i]);
    return e;
}

/* Mean, min, max and count over the seeds of column `name` at `epoch`. */
static int seed_stats(const cell_data *c, const char *name, int epoch, double *mean, double *lo,
                      double *hi)
{
    int n = 0;
    double sum = 0;
    *mean = *lo = *hi = NAN;
    for (int s = 0; s < c->nseeds; s++) {
        const bp_metrics_table *t = &c->t[s];
        int ep = bp_metrics_table_col(t, "epoch"), col = bp_metrics_table_col(t, name);
        if (col < 0) continue;
        for (int r = 0; r < t->rows; r++) {
            double v = bp_mt_get(t, r, col);
            if ((int)bp_mt_get(t, r, ep) != epoch || !isfinite(v)) continue;
            sum += v;
            if (!n || v < *lo) *lo = v;
            if (!n || v > *hi) *hi = v;
            n++;
            break;
        }
    }
    if (n) *mean = sum / n;
    return n;
}

/* Alignment column names present in any seed of the cell, in table order. */
static int cell_align_names(const cell_data *c, char names[][48], int max)
{
    int n = 0;
    for (int s = 0; s < c->nseeds; s++)
        for (int k = 0; k < c->t[s].cols; k++) {
            const char *nm = c->t[s].name[k];
            if (strncmp(nm, "align_", 6) || !has_finite(&c->t[s], k)) continue;
            int seen = 0;
            for (int i = 0; i < n && !seen; i++) seen = !strcmp(names[i], nm);
            if (!seen && n < max) snprintf(names[n++], 48, "%s", nm);
        }
    return n;
}

static void cell_dat_name(const char *group, const cell_data *c, char *out, size_t size)
{
    char label[256];
    snprintf(label, sizeof label, "%s", c->label);
    sanitize(label);
    snprintf(out, size, "sweep-%s-%s.dat", group, label);
}

/* OUT/sweep-<group>-<label>.dat: epoch, test error mean/min/max (%), the
 * number of seeds, then the mean of every alignment column. */
static bp_status write_cell_dat(plotter *p, const char *group, const cell_data *c,
                                char names[][48], int nnames, bp_error *err)
{
    text d;
    char dat[600];
    bp_status rc = text_open(&d, err);
    if (rc) return rc;
    fprintf(d.f, "# %s/%s: %d seed%s; test error in %%, mean/min/max over the seeds; "
                 "alignment angles: mean over the seeds. NaN = missing. Columns:\n"
                 "# 1:epoch 2:test_error_mean 3:test_error_min 4:test_error_max 5:seeds",
            p->dir, c->name, c->nseeds, c->nseeds == 1 ? "" : "s");
    for (int i = 0; i < nnames; i++) fprintf(d.f, " %d:%s_mean", 6 + i, names[i]);
    fprintf(d.f, "\n");
    int last = last_epoch(c);
    for (int e = 1; e <= last; e++) {
        double m, lo, hi;
        int n = seed_stats(c, "test_error", e, &m, &lo, &hi);
        fprintf(d.f, "%d", e);
        put_value(d.f, 100 * m);
        put_value(d.f, 100 * lo);
        put_value(d.f, 100 * hi);
        fprintf(d.f, " %d", n);
        for (int i = 0; i < nnames; i++) {
            seed_stats(c, names[i], e, &m, &lo, &hi);
            put_value(d.f, m);
        }
        fprintf(d.f, "\n");
    }
    cell_dat_name(group, c, dat, sizeof dat);
    return text_save(p, &d, dat, err);
}

static bp_status sweep_test_chart(plotter *p, const char *group, const char *title,
                                  const cell_data *cells, int n, bp_error *err)
{
    text s;
    char png[320], stem[300], full[600], dat[600];
    bp_status rc = text_open(&s, err);
    if (rc) return rc;
    snprintf(stem, sizeof stem, "test-error-%s", group);
    snprintf(png, sizeof png, "%s.png", stem);
    snprintf(full, sizeof full, "%s: test error per epoch (line: mean over seeds, band: min..max)",
             title);
    int last = cells_last_epoch(cells, n), long_run = last > 40;
    span y = {0};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < cells[i].nseeds; k++)
            span_add_column(&y, &cells[i].t[k],
                            bp_metrics_table_col(&cells[i].t[k], "test_error"), 100);
    preamble(p, s.f, png, full, "test error (%)", &y, last);
    const char *lines = long_run ? "lines lw 2" : "linespoints lw 2 pt 7 ps 0.6";
    for (int i = 0; i < n; i++) {
        cell_dat_name(group, &cells[i], dat, sizeof dat);
        const char *color = COLORS[i % NCOLORS];
        fprintf(s.f,
                "%s '%s' using 1:3:4 with filledcurves fs transparent solid 0.2 noborder "
                "lc rgb '%s' notitle, \\\n"
                "    '%s' using 1:2 with %s lc rgb '%s' title '%s (%d seed%s)'",
                i ? ", \\\n    " : "plot ", dat, color, dat, lines, color, cells[i].label,
                cells[i].nseeds, cells[i].nseeds == 1 ? "" : "s");
    }
    return draw(p, &s, stem, err);
}

static bp_status sweep_align_charts(plotter *p, const char *group, const char *title,
                                    const cell_data *cells, int n, bp_error *err)
{
    for (size_t a = 0; a < NALIGN; a++) {
        text s;
        char png[320], stem[300], full[700], dat[600];
        int lines = 0;
        bp_status rc = text_open(&s, err);
        if (rc) return rc;
        snprintf(stem, sizeof stem, "%s-%s", ALIGN[a].stem, group);
        snprintf(png, sizeof png, "%s.png", stem);
        snprintf(full, sizeof full, "%s: %s (mean over seeds)", title, ALIGN[a].title);
        preamble(p, s.f, png, full, "angle (degrees)", NULL, cells_last_epoch(cells, n));
        fprintf(s.f, "set yrange [0:*]\n");
        for (int i = 0; i < n; i++) {
            char names[BP_MT_MAX_COLS][48];
            int nn = cell_align_names(&cells[i], names, BP_MT_MAX_COLS);
            size_t plen = strlen(ALIGN[a].prefix);
            cell_dat_name(group, &cells[i], dat, sizeof dat);
            for (int k = 0; k < nn; k++) {
                if (strncmp(names[k], ALIGN[a].prefix, plen)) continue;
                int idx = atoi(names[k] + plen);
                fprintf(s.f, "%s '%s' using 1:%d with lines lw 2 dt %d lc rgb '%s' title '%s, %s %d'",
                        lines++ ? ", \\\n    " : "plot ", dat, 6 + k, idx > 0 ? idx : 1,
                        COLORS[i % NCOLORS], cells[i].label, ALIGN[a].item, idx);
            }
        }
        if (!lines) {
            text_discard(&s);
            continue;
        }
        if ((rc = draw(p, &s, stem, err))) return rc;
    }
    return BP_OK;
}

/* The charts of cells [0, n): one architecture of one data set. */
static bp_status plot_group(plotter *p, cell_data *cells, int n, int several_datasets,
                            bp_error *err)
{
    char group[200], title[300];
    if (several_datasets) snprintf(group, sizeof group, "%s-%s", cells[0].dataset, cells[0].hidden);
    else snprintf(group, sizeof group, "%s", cells[0].hidden);
    sanitize(group);
    snprintf(title, sizeof title, "%s %s", cells[0].dataset, cells[0].hidden);
    bp_status rc = BP_OK;
    for (int i = 0; i < n && !rc; i++) {
        char names[BP_MT_MAX_COLS][48];
        int nn = cell_align_names(&cells[i], names, BP_MT_MAX_COLS);
        rc = write_cell_dat(p, group, &cells[i], names, nn, err);
    }
    if (!rc) rc = sweep_test_chart(p, group, title, cells, n, err);
    if (!rc) rc = sweep_align_charts(p, group, title, cells, n, err);
    return rc;
}

static bp_status plot_sweep(plotter *p, bp_error *err)
{
    DIR *d = opendir(p->dir);
    if (!d) return bp_fail(err, BP_ERR_IO, "%s: cannot open the sweep folder", p->dir);
    cell_data *cells = calloc(MAX_CELLS, sizeof *cells);
    if (!cells) {
        closedir(d);
        return bp_fail(err, BP_ERR_NOMEM, "plot: out of memory");
    }
    int n = 0;
    bp_status rc = BP_OK;
    for (struct dirent *e; !rc && (e = readdir(d)) && n < MAX_CELLS;) {
        char path[4096];
        bp_run_path(path, sizeof path, p->dir, e->d_name);
        if (e->d_name[0] == '.' || !is_dir(path)) continue;
        rc = read_cell(p->dir, e->d_name, &cells[n], err);
        if (!rc && cells[n].nseeds > 0) n++;
        else free_cell(&cells[n]);
    }
    closedir(d);
    if (!rc && n == 0)
        rc = bp_fail(err, BP_ERR_FORMAT,
                     "%s: no cell has a run with metrics.jsonl yet (DIR/<cell>/seed-N/)", p->dir);
    if (!rc) qsort(cells, (size_t)n, sizeof *cells, cmp_cells);
    int several = 0;
    for (int i = 1; i < n; i++) several |= strcmp(cells[i].dataset, cells[0].dataset) != 0;
    for (int i = 0, j; i < n && !rc; i = j) {
        for (j = i + 1; j < n && !strcmp(cells[j].hidden, cells[i].hidden) &&
                        !strcmp(cells[j].dataset, cells[i].dataset);
             j++) {
        }
        rc = plot_group(p, cells + i, j - i, several, err);
    }
    for (int i = 0; i < n; i++) free_cell(&cells[i]);
    free(cells);
    return rc;
}

bp_status bp_plot_dir(const char *dir, const char *out, FILE *log, int *charts, bp_error *err)
{
    plotter p = {.dir = dir, .out = out, .log = log};
    char path[4096];
    *charts = 0;
    if (strchr(out, '\''))
        return bp_fail(err, BP_ERR_ARG, "--out %s: a folder name with a quote is not supported",
                       out);
    bp_run_path(path, sizeof path, dir, "sweep.ini");
    int sweep = bp_file_exists(path);
    bp_run_path(path, sizeof path, dir, "metrics.jsonl");
    if (!sweep && !bp_file_exists(path))
        return bp_fail(err, BP_ERR_IO,
                       "%s: neither a run folder (no metrics.jsonl) nor a sweep folder (no "
                       "sweep.ini)",
                       dir);
    bp_status rc = bp_gnuplot_open(&p.gp, err);
    if (!rc) rc = bp_mkdir_p(out, err);
    if (!rc) rc = sweep ? plot_sweep(&p, err) : plot_run(&p, err);
    *charts = p.charts;
    return rc;
}
