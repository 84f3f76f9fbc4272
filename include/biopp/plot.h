/* `biopp plot`: PNG charts of a run folder or a sweep folder, drawn by
 * gnuplot, with the data of every chart written beside it as .dat. */
#ifndef BIOPP_PLOT_H
#define BIOPP_PLOT_H

#include <stdio.h>

#include "biopp/error.h"

/* DIR is a run folder (has metrics.jsonl) or a sweep folder (has
 * sweep.ini); charts and data go to OUT (created). Each file written is
 * named on `log` (may be NULL). *charts = PNGs written. */
bp_status bp_plot_dir(const char *dir, const char *out, FILE *log, int *charts, bp_error *err);

#endif
