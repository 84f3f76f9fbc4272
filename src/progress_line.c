/* See include/biopp/progress_line.h. */
#include "biopp/progress_line.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_FIELDS 24

int bp_text_columns(const char *s)
{
    int cols = 0;
    for (; *s; s++) cols += ((unsigned char)*s & 0xC0) != 0x80;
    return cols;
}

/* Bytes of s's first `cols` characters. */
static size_t prefix_bytes(const char *s, int cols)
{
    size_t i = 0;
    for (int c = 0; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80) continue;
        if (c++ == cols) break;
    }
    return i;
}

void bp_format_duration(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, n, "%.1fs", s);
}

/* ---- fitting a line ----------------------------------------------------- */

/* One way to lay the fields out. */
typedef struct {
    int form[MAX_FIELDS]; /* each field's form, 0..2 */
    int sep;              /* spaces between fields */
    int name_min;         /* shortest a shrinkable field may become (columns) */
    int drop_keep;        /* fields with keep < drop_keep are left out */
} layout;

static const char *form_of(const bp_line_field *f, int form)
{
    const char *t = "";
    for (int k = 0; k <= form; k++)
        if (f->form[k]) t = f->form[k];
    return t;
}

static void append(char *buf, size_t n, size_t *len, const char *s, size_t bytes)
{
    if (*len + 1 >= n) return;
    if (bytes > n - 1 - *len) bytes = n - 1 - *len;
    memcpy(buf + *len, s, bytes);
    *len += bytes;
    buf[*len] = '\0';
}

/* Lays the fields out; shrinkable fields give up columns (down to name_min)
 * until the line fits width, if it can. Returns the line's columns. */
static int render(char *buf, size_t n, int width, const bp_line_field *f, int nf,
                  const layout *l)
{
    const char *text[MAX_FIELDS];
    int cols[MAX_FIELDS], total = 0, shown = 0, names = 0;
    for (int i = 0; i < nf; i++) {
        text[i] = f[i].keep < l->drop_keep ? "" : form_of(&f[i], l->form[i]);
        cols[i] = bp_text_columns(text[i]);
        if (!cols[i]) continue;
        total += cols[i] + (shown++ ? (f[i].tight ? 1 : l->sep) : 0);
        names += f[i].shrink;
    }
    int excess = total - width;
    for (int i = 0; i < nf && excess > 0 && names > 0; i++) {
        if (!f[i].shrink || !cols[i]) continue;
        int give = (excess + names - 1) / names, room = cols[i] - l->name_min;
        names--;
        if (give > room) give = room > 0 ? room : 0;
        cols[i] -= give;
        excess -= give;
    }
    size_t len = 0;
    buf[0] = '\0';
    shown = 0;
    for (int i = 0; i < nf; i++) {
        if (!cols[i]) continue;
        if (shown++) append(buf, n, &len, "  ", (size_t)(f[i].tight ? 1 : l->sep));
        int full = bp_text_columns(text[i]);
        if (cols[i] >= full) {
            append(buf, n, &len, text[i], strlen(text[i]));
        } else { /* a shortened name: its start and "..." */
            int head = cols[i] > 3 ? cols[i] - 3 : 0;
            append(buf, n, &len, text[i], prefix_bytes(text[i], head));
            append(buf, n, &len, "...", (size_t)(cols[i] - head));
        }
    }
    return bp_text_columns(buf);
}

/* The distinct keep values of the fields, ascending; returns how many. */
static int keep_classes(const bp_line_field *f, int nf, int *keeps)
{
    int nk = 0;
    for (int i = 0; i < nf; i++) {
        int k = nk;
        for (int j = 0; j < nk; j++)
            if (keeps[j] == f[i].keep) k = -1;
        if (k < 0) continue;
        while (k > 0 && keeps[k - 1] > f[i].keep) { /* insertion */
            keeps[k] = keeps[k - 1];
            k--;
        }
        keeps[k] = f[i].keep;
        nk++;
    }
    return nk;
}

/* Takes the fields of keep class `keep` to form `form` (never longer). */
static void shorten_class(layout *l, const bp_line_field *f, int nf, int keep, int form)
{
    for (int i = 0; i < nf; i++)
        if (f[i].keep == keep && l->form[i] < form) l->form[i] = form;
}

/* Shortens the least kept classes first, one class at a time, to `form`;
 * 1 when a layout fits. */
static int shorten_until_fit(char *buf, size_t n, int width, const bp_line_field *f, int nf,
                             layout *l, int form, const int *keeps, int nk)
{
    if (render(buf, n, width, f, nf, l) <= width) return 1;
    for (int k = 0; k < nk; k++) {
        shorten_class(l, f, nf, keeps[k], form);
        if (render(buf, n, width, f, nf, l) <= width) return 1;
    }
    return 0;
}

int bp_fit_line(char *buf, size_t n, int width, const bp_line_field *f, int nf)
{
    if (n == 0) return 0;
    if (nf > MAX_FIELDS) nf = MAX_FIELDS;
    if (width < 1) width = 1;
    int keeps[MAX_FIELDS], nk = keep_classes(f, nf, keeps);
    layout l = {.sep = 2, .name_min = 1 << 20};
    /* The long forms with two spaces, then one; shorter forms, least kept first. */
    for (l.sep = 2; l.sep >= 1; l.sep--) {
        memset(l.form, 0, sizeof l.form);
        if (shorten_until_fit(buf, n, width, f, nf, &l, 1, keeps, nk)) return bp_text_columns(buf);
    }
    l.sep = 1;
    l.name_min = 24;
    if (render(buf, n, width, f, nf, &l) <= width) return bp_text_columns(buf);
    if (shorten_until_fit(buf, n, width, f, nf, &l, 2, keeps, nk)) return bp_text_columns(buf);
    l.name_min = 12;
    if (render(buf, n, width, f, nf, &l) <= width) return bp_text_columns(buf);
    /* Fewer fields: the least kept first, names as short as 8 columns. */
    l.name_min = 8;
    for (int k = 0; k < nk; k++) {
        l.drop_keep = keeps[k] + 1;
        if (k == nk - 1) l.drop_keep = keeps[k]; /* never drop the most kept */
        if (render(buf, n, width, f, nf, &l) <= width) return bp_text_columns(buf);
    }
    /* Nothing fits: the most kept fields, cut at width. */
    buf[prefix_bytes(buf, width)] = '\0';
    return bp_text_columns(buf);
}

/* ---- the bar ------------------------------------------------------------ */

static void pct_text(char *buf, size_t n, int step, int steps)
{
    snprintf(buf, n, "%3d%%", steps > 0 ? (int)(100LL * step / steps) : 0);
}

static void bar_graphic(char *buf, size_t n, int inner, int step, int steps, int full)
{
    if ((size_t)inner + 3 > n) inner = (int)n - 3;
    int fill = full ? inner : steps > 0 ? (int)((long long)step * inner / steps) : 0;
    buf[0] = '[';
    for (int i = 0; i < inner; i++) buf[1 + i] = i < fill ? '#' : '.';
    buf[inner + 1] = ']';
    buf[inner + 2] = '\0';
}

static int bar_fields(const bp_bar *b, const char *graphic, char txt[][48], bp_line_field *f)
{
    char d[24];
    int nf = 0;
    if (b->tag) f[nf++] = (bp_line_field){{b->tag, NULL, NULL}, 8, 0, 0};
    f[nf++] = (bp_line_field){{b->label, NULL, NULL}, 5, 1, 1};
    snprintf(txt[0], 48, "epoch %d/%d", b->epoch, b->epochs);
    snprintf(txt[1], 48, "ep %d/%d", b->epoch, b->epochs);
    snprintf(txt[2], 48, "%d/%d", b->epoch, b->epochs);
    f[nf++] = (bp_line_field){{txt[0], txt[1], txt[2]}, 9, 0, 0};
    f[nf++] = (bp_line_field){{graphic, NULL, NULL}, 1, 0, 0};
    if (b->evaluating) {
        if (b->valid_n > 0)
            snprintf(txt[3], 48, "evaluating (%d valid, %d test)", b->valid_n, b->test_n);
        else snprintf(txt[3], 48, "evaluating (%d test)", b->test_n);
        snprintf(txt[4], 48, "evaluating %d", b->valid_n + b->test_n);
        f[nf++] = (bp_line_field){{txt[3], txt[4], "evaluating"}, 8, 0, 0};
    } else {
        pct_text(txt[3], 48, b->step, b->steps);
        f[nf++] = (bp_line_field){{txt[3], NULL, txt[3] + strspn(txt[3], " ")}, 8, 0, 0};
        bp_format_duration(b->elapsed, txt[4], 48);
        f[nf++] = (bp_line_field){{txt[4], "", NULL}, 2, 0, 0};
        bp_format_duration(b->eta, d, sizeof d);
        snprintf(txt[5], 48, "ETA %s", d);
        f[nf++] = (bp_line_field){{txt[5], NULL, NULL}, 7, 0, 0};
    }
    if (b->total) {
        bp_format_duration(b->total_eta, d, sizeof d);
        snprintf(txt[6], 48, "%.12s ETA %s", b->total, d);
        snprintf(txt[7], 48, "%.12s %s", b->total, d);
        f[nf++] = (bp_line_field){{txt[6], NULL, txt[7]}, 6, 0, 0};
    }
    return nf;
}

int bp_format_bar(char *buf, size_t n, int width, const bp_bar *b)
{
    enum { MIN_INNER = 10, MAX_INNER = 30 };
    char graphic[MAX_INNER + 3], txt[8][48];
    bp_line_field f[9];
    bar_graphic(graphic, sizeof graphic, MIN_INNER, b->step, b->steps, b->evaluating);
    int nf = bar_fields(b, graphic, txt, f);
    int cols = bp_fit_line(buf, n, width, f, nf);
    if (!strstr(buf, graphic) || cols >= width) return cols;
    /* The bar takes the columns left, up to MAX_INNER. */
    int inner = MIN_INNER + (width - cols);
    bar_graphic(graphic, sizeof graphic, inner < MAX_INNER ? inner : MAX_INNER, b->step,
                b->steps, b->evaluating);
    return bp_fit_line(buf, n, width, f, nf);
}

/* ---- the per-epoch line ------------------------------------------------- */

static void error_text(char *buf, size_t n, const char *name, double v, int pad)
{
    if (v < 0) snprintf(buf, n, "%s %s", name, pad ? "  -   " : "-");
    else snprintf(buf, n, pad ? "%s %6.2f%%" : "%s %.2f%%", name, 100.0 * v);
}

int bp_format_epoch_line(char *buf, size_t n, int width, const char *label, int epochs,
                         const bp_epoch_metrics *m)
{
    char t[16][40];
    bp_line_field f[10];
    int nf = 0;
    if (label) f[nf++] = (bp_line_field){{label, "", NULL}, 0, 0, 0};
    snprintf(t[0], 40, "epoch %3d/%d", m->epoch, epochs);
    snprintf(t[1], 40, "epoch %d/%d", m->epoch, epochs);
    snprintf(t[2], 40, "%d/%d", m->epoch, epochs);
    f[nf++] = (bp_line_field){{t[0], t[1], t[2]}, 9, 0, 0};
    if (m->epoch == 0 && !m->diverged) {
        /* epochs = 0: no step was trained, so there are no training metrics */
        f[nf++] = (bp_line_field){{"untrained network:", "untrained:", NULL}, 5, 0, 0};
    } else {
        snprintf(t[3], 40, "loss %.4f", m->train_loss);
        f[nf++] = (bp_line_field){{t[3], NULL, NULL}, 5, 0, 0};
        snprintf(t[4], 40, "fb_loss %.4f", m->feedback_loss);
        snprintf(t[5], 40, "fb %.4f", m->feedback_loss);
        f[nf++] = (bp_line_field){{t[4], t[5], NULL}, 3, 0, 0};
        error_text(t[6], 40, "train", m->train_error, 1);
        error_text(t[7], 40, "train", m->train_error, 0);
        error_text(t[8], 40, "tr", m->train_error, 0);
        f[nf++] = (bp_line_field){{t[6], t[7], t[8]}, 6, 0, 0};
    }
    error_text(t[9], 40, "valid", m->valid_error, 1);
    error_text(t[10], 40, "valid", m->valid_error, 0);
    error_text(t[11], 40, "va", m->valid_error, 0);
    f[nf++] = (bp_line_field){{t[9], t[10], t[11]}, 6, 0, 0};
    error_text(t[12], 40, "test", m->test_error, 1);
    error_text(t[13], 40, "test", m->test_error, 0);
    error_text(t[14], 40, "te", m->test_error, 0);
    f[nf++] = (bp_line_field){{t[12], t[13], t[14]}, 6, 0, 0};
    bp_format_duration(m->seconds, t[15], 40);
    f[nf++] = (bp_line_field){{t[15], NULL, NULL}, 2, 0, 0};
    if (m->diverged) f[nf++] = (bp_line_field){{"DIVERGED", NULL, NULL}, 10, 0, 0};
    return bp_fit_line(buf, n, width, f, nf);
}
