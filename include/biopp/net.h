/* The network of one group of R runs: parameter arenas, activation buffers
 * and the dataset, all in backend memory. Shapes follow METHODS.md:
 * W_l is n_l x n_{l-1}, b_l is n_l, l = 1..L+1 (layer L+1 is the output);
 * feedback B_l, V_l are n_{l-1} x n_l, D_l, U_l are n_l x C, c_l is n_l. */
#ifndef BIOPP_NET_H
#define BIOPP_NET_H

#include <stdint.h>

#include "biopp/backend.h"
#include "biopp/config.h"
#include "biopp/data.h"

#define BP_MAX_LAYERS (BP_MAX_HIDDEN + 2) /* index 0..L+1 */
#define BP_MAX_TENSORS (4 * BP_MAX_LAYERS)

typedef enum { BP_INIT_ZERO, BP_INIT_UNIFORM_BOUND, BP_INIT_COPY_T } bp_init_kind;

/* One parameter tensor of an arena: R packed copies at arena + off. */
typedef struct {
    char name[16];       /* "W2", "V1", "c0": names in checkpoints and messages */
    int rows, cols;
    size_t off;          /* offset in floats inside the arena (run 0) */
    bp_init_kind init;
    float bound;         /* BP_INIT_UNIFORM_BOUND: uniform in +-bound */
    int copy_of;         /* BP_INIT_COPY_T: index in the forward arena to copy transposed */
} bp_tensor;

/* A group of parameters updated by one optimizer with one state. */
typedef struct {
    int id;              /* 0 forward, 1 feedback, 2 fixed: part of the RNG stream */
    int ntensors;
    bp_tensor t[BP_MAX_TENSORS];
    size_t n;            /* floats for all runs */
    float *p, *g, *m, *v;/* params, grads, optimizer state (m = momentum velocity) */
    int trained;         /* has grads and optimizer state */
} bp_arena;

typedef struct bp_net {
    bp_config cfg;
    int R;               /* runs in the group */
    uint64_t seeds[BP_MAX_SEEDS];
    int L;               /* hidden layers */
    int n[BP_MAX_LAYERS];/* n[0] input, n[1..L] hidden, n[L+1] = C */
    int C;
    int B;               /* training batch */
    int rows_cap;        /* rows of the activation buffers: max(batch, eval_batch) */

    bp_arena fwd;        /* W_l, b_l */
    bp_arena fb;         /* trained feedback: V_l, c_l (BFA) or U_l (BDFA) */
    bp_arena fixed;      /* fixed feedback: B_l (FA) or D_l (DFA) */
    int W[BP_MAX_LAYERS], b[BP_MAX_LAYERS];            /* tensor indices in fwd */
    int V[BP_MAX_LAYERS], c[BP_MAX_LAYERS];            /* BFA: V_1..V_{L+1}, c_0..c_L in fb */
    int U[BP_MAX_LAYERS];                              /* BDFA: U_1..U_L in fb */
    int Bfix[BP_MAX_LAYERS], D[BP_MAX_LAYERS];         /* FA: B_2..B_{L+1}; DFA: D_1..D_L */
    /* Rules with a B_l of W_l^T's shape (FA, USF, BRSF, FRSF, KP, WM): B_2..B_{L+1}
     * are tensors Bfix[l] of fbm_arena; BRSF/FRSF magnitudes R_l: Mag[l] in fixed. */
    int Mag[BP_MAX_LAYERS];
    /* The matrix that carries the error into hidden layer l (forward phase):
     * tensor fbm[l] of fbm_arena; transposed (n_l x width) unless fbm_trans = 0
     * (BP: W_{l+1} itself). */
    int fbm[BP_MAX_LAYERS];
    const bp_arena *fbm_arena;
    int fbm_trans;

    /* Activations, R x rows_cap x width each. */
    float *H[BP_MAX_LAYERS];    /* H[0] = input batch X, H[l] = f(a_l), l <= L */
    float *logits, *yhat, *E;   /* output layer */
    float *delta[BP_MAX_LAYERS];/* delta_l, l = 1..L */
    float *T;                   /* target t (BFA mirror input, BDFA target) */
    int32_t *labels;            /* R x rows_cap */
    float *mirror[BP_MAX_LAYERS];/* BFA: r_l (l >= 1) and g_0 (l = 0) */
    float *eps[BP_MAX_LAYERS];  /* BFA: eps_0..eps_L */
    float *P, *HS;              /* BDFA: p_l and dloss/ds * h_l */
    float *noise, *noise_out;   /* WM: the mirror phase's xi and W_l xi */

    /* Alignment diagnostics (align_every > 0; src/align.c): BP's delta_l on
     * the same batch, BP's dW_l, and the per-epoch measurements,
     * align_steps x bp_align_floats(net) floats. */
    float *delta_bp[BP_MAX_LAYERS];
    float *grad_bp;
    float *align, *host_align;
    int align_steps;

    /* Per-step metrics, steps x slots x R; slot 0 loss, 1 errors, 2.. feedback. */
    float *metrics;
    int metric_slots, metric_steps;
    float *host_metrics;

    const struct bp_rule *rule;
    long long step;      /* optimizer steps taken (Adam's t) */

    /* Adam's per-step hyper-parameters in backend memory, for the steps
     * hyper_base+1 .. hyper_base+hyper_count: entry 2k forward, 2k+1 feedback. */
    bp_adam_hyper *hyper, *host_hyper;
    int hyper_cap, hyper_count;
    long long hyper_base;
    /* Per-step random draws (fill_random): the runs' seeds and, for the same
     * prepared steps as hyper, each step's number t (entry k: hyper_base+1+k),
     * in backend memory; step_t points at the entry of the step in progress. */
    uint64_t *seeds_dev;
    uint64_t *step_ts, *host_step_ts;
    const uint64_t *step_t;
} bp_net;

/* Builds the net of a group: declares tensors for cfg's rule, allocates all
 * backend buffers once, and initialises the parameters of run r from
 * seeds[r] (host Philox, then upload). */
bp_status bp_net_create(const bp_config *cfg, const uint64_t *seeds, int R, int n_input,
                        int classes, bp_backend *be, bp_net **out, bp_error *err);
void bp_net_destroy(bp_net *net, bp_backend *be);
/* The same net's shapes without any buffer (arena sizes n for R runs, the
 * rule's tensors and metric slots), for memory estimates; free() it.
 * NULL when out of memory or R is out of range. */
bp_net *bp_net_plan(const bp_config *cfg, int R, int n_input, int classes);

/* Makes room for Adam's factors of `steps` steps (see bp_optim_prepare). */
bp_status bp_net_reserve_steps(bp_net *net, bp_backend *be, int steps, bp_error *err);

/* Declares a tensor; returns its index. */
int bp_arena_add(bp_arena *a, const char *name, int rows, int cols, bp_init_kind init,
                 float bound);

/* Pointers to run 0 of tensor i (runs follow at stride rows*cols). */
static inline float *bp_param(const bp_arena *a, int i) { return a->p + a->t[i].off; }
static inline float *bp_grad(const bp_arena *a, int i) { return a->g + a->t[i].off; }

/* Host copies of one run's parameters of an arena (size: arena->n / R). */
bp_status bp_arena_download_run(const bp_net *net, const bp_arena *a, const float *src, int r,
                                float *host, bp_backend *be, bp_error *err);
bp_status bp_arena_upload_run(const bp_net *net, const bp_arena *a, float *dst, int r,
                              const float *host, bp_backend *be, bp_error *err);

#endif
