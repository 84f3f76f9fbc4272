/* The lines of the progress display (src/cli/progress.c), fitted to a
 * terminal width. Pure functions (no I/O), so that tests can call them.
 * Widths count columns, one per UTF-8 character. */
#ifndef BIOPP_PROGRESS_LINE_H
#define BIOPP_PROGRESS_LINE_H

#include <stddef.h>

#include "biopp/plural.h"
#include "biopp/train.h"

/* Columns of a UTF-8 string: its bytes that do not continue a character. */
int bp_text_columns(const char *s);

/* "12.3s", "4m05s", "1h02m"; "?" when unknown (NaN, infinite, negative). */
void bp_format_duration(double seconds, char *buf, size_t n);

/* A piece of a line in up to three forms, longest first. NULL: the same as
 * the form before; "": left out at that length. */
typedef struct {
    const char *form[3];
    int keep;   /* when no form fits, pieces go in increasing keep, lowest first */
    int shrink; /* a name: may be shortened to a prefix and "..." */
    int tight;  /* one space before it in every layout */
} bp_line_field;

/* Joins the fields with spaces into buf (n bytes), in the longest forms that
 * fit `width` columns: first every field's form 0 with two spaces between,
 * then one space, then shorter forms and shortened names, then fewer
 * fields; the last resort cuts the line at width. Returns its columns. */
int bp_fit_line(char *buf, size_t n, int width, const bp_line_field *f, int nf);

/* The progress bar of an epoch. */
typedef struct {
    const char *tag;    /* the cell's place, "[3/12]", or NULL (kept longer than the label) */
    const char *label;  /* "train", "hidden=1x400,rule=bp" (shortened when long) */
    int epoch, epochs;  /* epoch being trained (1-based) of epochs */
    int step, steps;    /* steps done of the epoch */
    double elapsed;     /* seconds into the epoch */
    double eta;         /* seconds left of the epoch (NaN: unknown) */
    const char *total;  /* what total_eta covers ("run", "sweep"), or NULL: not shown */
    double total_eta;   /* seconds left of it (NaN: unknown) */
    int evaluating;     /* the steps are done; the valid and test sets are evaluated */
    int valid_n, test_n; /* their samples */
} bp_bar;

/* One redraw of the bar (no control characters), at most width columns. */
int bp_format_bar(char *buf, size_t n, int width, const bp_bar *b);

/* The line after each epoch of a run: epoch, losses, train / valid / test
 * error, seconds (the label, e.g. "train", only where it fits). */
int bp_format_epoch_line(char *buf, size_t n, int width, const char *label, int epochs,
                         const bp_epoch_metrics *m);

#endif
