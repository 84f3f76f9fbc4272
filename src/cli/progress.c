#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_init(bp_progress *p, const char *label, int epochs)
{
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->epochs = epochs;
}

void progress_step(void *user, int epoch, int step, int steps)
{
    bp_progress *p = user;
    if (!p->tty) return;
    double now = cli_now();
    if (step <= 1 || p->epoch_start == 0.0) p->epoch_start = now;
    double elapsed = now - p->epoch_start;
    double eta = step > 1 ? elapsed / (step - 1) * (steps - step + 1) : 0.0;
    int width = 30, fill = (int)((double)step / steps * width);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%s epoch %d/%d [%s] %3d%%  %.1fs  ETA %.1fs   ", p->label, epoch,
            p->epochs, bar, 100 * step / steps, elapsed, eta);
    fflush(stderr);
}

void progress_clear(bp_progress *p)
{
    if (p->tty) fprintf(stderr, "\r%*s\r", 100, "");
    p->epoch_start = 0.0;
}

static void pct(char *buf, size_t n, double v)
{
    if (v < 0) snprintf(buf, n, "  -   ");
    else snprintf(buf, n, "%6.2f%%", 100.0 * v);
}

void print_epoch(const char *label, int epochs, const bp_epoch_metrics *m)
{
    char tr[16], va[16], te[16];
    pct(tr, sizeof tr, m->train_error);
    pct(va, sizeof va, m->valid_error);
    pct(te, sizeof te, m->test_error);
    fprintf(stderr, "%s epoch %3d/%d  loss %.4f  fb_loss %.4f  train %s  valid %s  test %s  %.1fs%s\n",
            label, m->epoch, epochs, m->train_loss, m->feedback_loss, tr, va, te, m->seconds,
            m->diverged ? "  DIVERGED" : "");
}
