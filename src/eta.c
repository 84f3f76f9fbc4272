/* See include/biopp/eta.h. */
#include "biopp/eta.h"

#include <math.h>

double bp_eta_seconds(const bp_eta_cell *cells, int n, double seconds)
{
    double measured = 0.0, left = 0.0;
    for (int i = 0; i < n; i++) {
        const bp_eta_cell *c = &cells[i];
        if (!(c->cost > 0)) continue;
        double done = c->done < 0 ? 0 : c->done > 1 ? 1 : c->done;
        double before = c->before < 0 ? 0 : c->before > done ? done : c->before;
        measured += c->cost * (done - before);
        left += c->cost * (1.0 - done);
    }
    if (left <= 0) return 0.0;
    if (!(measured > 0) || !(seconds > 0)) return NAN;
    return seconds / measured * left;
}

double bp_eta_fraction(int epoch, int epochs, int step, int steps)
{
    if (epochs <= 0) return 1.0;
    double f = (epoch - 1 + (steps > 0 ? (double)step / steps : 1.0)) / epochs;
    return f < 0 ? 0.0 : f > 1 ? 1.0 : f;
}
