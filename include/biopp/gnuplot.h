/* Driving gnuplot (Debian package gnuplot-nox) through a pipe. */
#ifndef BIOPP_GNUPLOT_H
#define BIOPP_GNUPLOT_H

#include <stddef.h>

#include "biopp/error.h"

typedef struct {
    char prog[1024];      /* $BIOPP_GNUPLOT, else gnuplot found on $PATH */
    char terminal[64];    /* "pngcairo", or "png" where cairo is missing */
} bp_gnuplot;

/* Finds gnuplot and its PNG terminal; a clear error naming the package
 * when it is not installed. */
bp_status bp_gnuplot_open(bp_gnuplot *gp, bp_error *err);

/* Feeds a script to gnuplot on a pipe; fails when gnuplot reports an error
 * (its message goes to stderr). */
bp_status bp_gnuplot_run(const bp_gnuplot *gp, const char *script, const char *what,
                         bp_error *err);

#endif
