/* Time left of a sweep (or of one run: a list of one cell), from the time
 * measured so far and a cost model of the cells (bp_sweep_cell_cost). Pure
 * functions, so that tests can call them. */
#ifndef BIOPP_ETA_H
#define BIOPP_ETA_H

typedef struct {
    double cost;   /* the cell's estimated cost, in any unit common to the cells */
    double before; /* fraction of it done before this process measured it */
    double done;   /* fraction done now: before <= done <= 1 */
} bp_eta_cell;

/* Seconds left: `seconds` (the time this process spent on the work it did,
 * sum of cost x (done - before)) per unit of cost, times the cost left (sum
 * of cost x (1 - done)). Cells done before, or not this process's, count
 * zero (before = done = 1, or cost = 0). NaN while nothing was measured. */
double bp_eta_seconds(const bp_eta_cell *cells, int n, double seconds);

/* The fraction of a cell of `epochs` epochs done at step `step` of `steps`
 * of epoch `epoch` (1-based), clamped to 0..1. */
double bp_eta_fraction(int epoch, int epochs, int step, int steps);

#endif
