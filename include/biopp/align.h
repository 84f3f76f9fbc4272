/* Alignment diagnostics (METHODS.md, "Diagnostics"): how far a rule's
 * learning signal is from backprop's, measured on the training batch itself
 * every `align_every` steps of an epoch (in-epoch steps 0, k, 2k, ...; the
 * same steps every epoch, so a recorded epoch replays them):
 *   delta: angle between the rule's delta_l and BP's delta_l, computed with
 *          the current W_{l+1}^T on the same batch, per sample, averaged;
 *   dW:    angle between the rule's batch-summed dW_l and BP's;
 *   fb:    angle between vec(B_l) (FA) or vec(V_l) (BFA) and vec(W_l^T).
 * Written once against the backend interface; measured between the forward
 * phase and the forward update, so W is the one both deltas used. */
#ifndef BIOPP_ALIGN_H
#define BIOPP_ALIGN_H

#include "biopp/net.h"

/* Six floats per layer row j = 0..L and run: delta (angle sum, rows),
 * dW (angle, valid), fb (angle, valid). Row j holds hidden layer j+1's delta
 * and dW (j < L) and feedback matrix j+1's angle. */
enum { BP_ALIGN_DELTA, BP_ALIGN_DELTA_N, BP_ALIGN_DW, BP_ALIGN_DW_N, BP_ALIGN_FB, BP_ALIGN_FB_N,
       BP_ALIGN_SLOTS };

/* One measurement (or an epoch's mean) of one run, degrees; NaN = none. */
typedef struct {
    long long step;                 /* optimizer steps before this one (0-based) */
    int L;                          /* hidden layers */
    double delta[BP_MAX_HIDDEN];    /* hidden layer l at [l-1] */
    double dW[BP_MAX_HIDDEN];
    double fb[BP_MAX_HIDDEN + 1];   /* feedback matrix l (B_l, V_l) at [l-1] */
} bp_align_point;

/* Floats of one measurement of all R runs. */
size_t bp_align_floats(const bp_net *net);

/* Measurements per epoch of `steps` steps (0 when align_every = 0). */
int bp_align_count(int align_every, int steps);

/* Allocates BP's deltas, its gradient and `count` measurements' room. */
bp_status bp_align_reserve(bp_net *net, bp_backend *be, int count, bp_error *err);

/* After bp_forward_phase on `rows` samples: BP's delta_l and dW_l and the
 * angles into out (bp_align_floats(net) floats of backend memory). Issues
 * backend operations only (no sync), so it can be recorded. */
bp_status bp_align_measure(bp_net *net, bp_backend *be, int rows, float *out);

/* Run r's values of one downloaded measurement. */
void bp_align_point_of(const bp_net *net, const float *meas, int r, long long step,
                       bp_align_point *p);

/* Run r's epoch mean over `count` downloaded measurements: delta over every
 * sample measured, dW and fb over the measurements that have them. */
void bp_align_epoch_mean(const bp_net *net, const float *meas, int count, int r,
                         bp_align_point *mean);

#endif
