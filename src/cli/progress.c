#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "biopp/progress_line.h"
#include "cli.h"

#define MAX_COLUMNS 1000

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cli_term_width(void)
{
    struct winsize ws;
    int cols = 0;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) cols = ws.ws_col;
    const char *env = getenv("COLUMNS");
    char *end;
    if (!cols && env && *env) {
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0) cols = v > MAX_COLUMNS ? MAX_COLUMNS : (int)v;
    }
    if (cols > MAX_COLUMNS) cols = MAX_COLUMNS;
    return cols > 0 ? cols : 80;
}

void progress_init(bp_progress *p, const char *label, int epochs)
{
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->epochs = epochs;
    p->total_eta = NAN;
}

/* Redraws the bar over the previous one: carriage return, the line, and
 * erase-to-end-of-line. One column stays free: writing the last one leaves
 * some terminals waiting to wrap, where the erase would eat a character. */
static void draw(bp_progress *p, const bp_bar *b)
{
    char line[4 * MAX_COLUMNS];
    bp_format_bar(line, sizeof line, cli_term_width() - 1, b);
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->drawn = 1;
}

void progress_step(void *user, int epoch, int step, int steps)
{
    bp_progress *p = user;
    if (!p->tty) return;
    double now = cli_now();
    if (step <= 1 || p->epoch_start == 0.0) p->epoch_start = now;
    double elapsed = now - p->epoch_start;
    bp_bar b = {
        .tag = p->tag[0] ? p->tag : NULL, .label = p->label,
        .epoch = epoch, .epochs = p->epochs, .step = step, .steps = steps,
        .elapsed = elapsed, .eta = step > 1 ? elapsed / (step - 1) * (steps - step + 1) : NAN,
        .total = p->total, .total_eta = p->total_eta,
    };
    draw(p, &b);
}

void progress_evaluating(bp_progress *p, int epoch, int valid_n, int test_n)
{
    if (!p->tty) return;
    bp_bar b = {
        .tag = p->tag[0] ? p->tag : NULL, .label = p->label,
        .epoch = epoch, .epochs = p->epochs, .step = 1, .steps = 1,
        .total = p->total, .total_eta = p->total_eta,
        .evaluating = 1, .valid_n = valid_n, .test_n = test_n,
    };
    draw(p, &b);
}

void progress_clear(bp_progress *p)
{
    if (p->tty && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
    p->epoch_start = 0.0;
}

void progress_line(bp_progress *p, const char *line)
{
    if (p) progress_clear(p);
    fprintf(stderr, "%s\n", line);
}

void print_epoch(bp_progress *p, const char *label, int epochs, const bp_epoch_metrics *m)
{
    char line[4 * MAX_COLUMNS];
    bp_format_epoch_line(line, sizeof line, cli_term_width(), label, epochs, m);
    progress_line(p, line);
}
