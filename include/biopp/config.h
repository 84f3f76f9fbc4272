/* Run configuration: every key of an INI config file, its default, parsing
 * and validation. One bp_config describes one run (or one group of runs that
 * differ only in seed). */
#ifndef BIOPP_CONFIG_H
#define BIOPP_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "biopp/error.h"

#define BP_MAX_HIDDEN 16 /* hidden layers */
#define BP_MAX_SEEDS 256 /* seeds in one sweep cell */

typedef enum { BP_ACT_IDENTITY, BP_ACT_TANH, BP_ACT_RELU, BP_ACT_SIGMOID } bp_act;
typedef enum { BP_OUT_SIGMOID_BCE, BP_OUT_SOFTMAX_CE } bp_output;
typedef enum {
    BP_RULE_BP, BP_RULE_FA, BP_RULE_DFA, BP_RULE_BFA, BP_RULE_BDFA,
    BP_RULE_USF, BP_RULE_BRSF, BP_RULE_FRSF, BP_RULE_KP, BP_RULE_WM,
    BP_RULE_LAST = BP_RULE_WM /* rules are 0..BP_RULE_LAST */
} bp_rule_id;
typedef enum { BP_OPT_SGD, BP_OPT_ADAM } bp_optimizer;
typedef enum { BP_REDUCE_MEAN, BP_REDUCE_SUM } bp_reduce;
typedef enum { BP_INIT_UNIFORM, BP_INIT_PAPER_CODE } bp_init;
typedef enum { BP_BDFA_ONE_MINUS_SIGMOID, BP_BDFA_NEG_LOG_SIGMOID } bp_bdfa_loss;
typedef enum { BP_TARGET_MIX, BP_TARGET_PAPER_CODE } bp_bdfa_target;
typedef enum { BP_RECON_IDENTITY, BP_RECON_SIGMOID_BCE } bp_recon;
typedef enum { BP_DEVICE_CPU, BP_DEVICE_CUDA } bp_device;
typedef enum { BP_PREC_FP32, BP_PREC_TF32 } bp_precision;

/* Defaults of the rule-specific keys (docs/RULES.md says where they come from). */
#define BP_KP_DECAY_DEFAULT 1e-3
#define BP_WM_LR_DEFAULT 1.0
#define BP_WM_DECAY_DEFAULT 0.01
#define BP_WM_NOISE_DEFAULT 0.1

typedef struct {
    /* [data] */
    char dataset[32];      /* mnist | fashion-mnist | kmnist | cifar10 */
    char data_dir[1024];   /* "" = $BIOPP_DATA_DIR, else ./data */
    int train_size;        /* first N training samples train, the next valid_size validate */
    int valid_size;        /* -1: the rest of the training set, at most BP_VALID_AUTO_MAX */
    /* [model] */
    int n_hidden;          /* number of hidden layers L */
    int hidden[BP_MAX_HIDDEN];
    bp_act activation;
    bp_output output;
    bp_init init;
    /* [rule] */
    bp_rule_id rule;
    double alpha;          /* BDFA target mixing, t = y + alpha * yhat */
    bp_bdfa_loss bdfa_loss;
    bp_bdfa_target bdfa_target;
    bp_recon recon;        /* BFA reconstruction output sigma_x */
    double kp_decay;       /* KP: weight decay per step on W_l and B_l (docs/RULES.md) */
    double wm_lr;          /* WM: mirror learning rate eta_B */
    double wm_decay;       /* WM: mirror weight decay lambda_B per step */
    double wm_noise;       /* WM: std of the mirror phase's Gaussian noise */
    /* [optimizer] */
    bp_optimizer optimizer;
    double lr;
    double feedback_lr;    /* < 0: same as lr */
    double momentum;       /* sgd only */
    double beta1, beta2, adam_eps;
    bp_reduce grad_reduce;
    /* [train] */
    int batch;
    int epochs;
    uint64_t seed;
    int threads;           /* CPU threads (OpenBLAS); 0 = bp_cpu_count() (affinity mask) */
    bp_device device;
    bp_precision precision;
    int eval_batch;        /* samples per evaluation chunk */
    int checkpoint_every;  /* epochs between checkpoints; 0 = only at the end */
    int align_every;       /* alignment diagnostics every N steps of an epoch; 0 = off */
    int align_log;         /* 1: also every measurement in align.jsonl */
} bp_config;

/* The paper's defaults, as documented in README.md. */
void bp_config_defaults(bp_config *cfg);

/* Sets one key from its string value. `where` names the origin for error
 * messages ("configs/x.ini:12" or "--set"). A list value (containing ',')
 * is rejected: lists belong to `biopp sweep`. */
bp_status bp_config_set(bp_config *cfg, const char *key, const char *value,
                        const char *where, bp_error *err);

/* Reads an INI file over the current values of cfg. Unknown sections or
 * keys, bad values, and unreadable files are errors naming file and line. */
bp_status bp_config_load(bp_config *cfg, const char *path, bp_error *err);

/* Applies one "key=value" override (the --set argument). */
bp_status bp_config_override(bp_config *cfg, const char *assignment, bp_error *err);

/* Where each key got its value, for messages (bp_config_unused_keys). */
#define BP_CONFIG_MAX_KEYS 64 /* room for every key of the table */
#define BP_ORIGIN_SET (-1)    /* a line[] value: given with --set */
typedef struct {
    const char *file;             /* the config file read (the caller's string); NULL: none */
    int line[BP_CONFIG_MAX_KEYS]; /* per key, in bp_config_key_name order: its line in file,
                                     BP_ORIGIN_SET, or 0 (not set: the default) */
} bp_config_origin;

/* bp_config_load and bp_config_override that also record in origin (zeroed
 * by the caller; may be NULL) where each key they set came from. */
bp_status bp_config_load_traced(bp_config *cfg, const char *path, bp_config_origin *origin,
                                bp_error *err);
bp_status bp_config_override_traced(bp_config *cfg, const char *assignment,
                                    bp_config_origin *origin, bp_error *err);

/* Warnings about a valid config, for the caller to show (the library
 * prints nothing). */
typedef struct {
    int n;
    struct {
        const char *key; /* the key's name */
        char msg[1024];  /* "configs/x.ini:7: momentum = 0.9 has no effect: ..." */
    } w[BP_CONFIG_MAX_KEYS];
} bp_config_warnings;

/* The keys set away from their default that cfg's rule or optimizer does
 * not read (momentum with Adam, alpha with a rule other than bdfa, ...):
 * one warning each, naming where the key was set (origin may be NULL) and
 * why it has no effect. Such a config is valid. Returns w->n. */
int bp_config_unused_keys(const bp_config *cfg, const bp_config_origin *origin,
                          bp_config_warnings *w);

/* NULL when key has an effect under cfg's rule and optimizer (or is
 * unknown); otherwise what would read it, such as "rule = bdfa" or
 * "optimizer = sgd", written into buf. */
const char *bp_config_key_unused(const bp_config *cfg, const char *key, char *buf, size_t size);

/* What `biopp keys` prints about key i (bp_config_key_name order). */
typedef struct {
    const char *name, *section;
    const char *help;  /* one line: what the key does */
    char allowed[256]; /* the names a named key takes: "tanh, relu, sigmoid"; "" for others */
    char used_by[160]; /* "rule = bdfa", "optimizer = sgd"; "": every rule and optimizer */
} bp_config_key_info;

/* BP_ERR_ARG when i is out of range. */
bp_status bp_config_key_describe(int i, bp_config_key_info *info, bp_error *err);

/* Cross-key checks (batch <= train_size, tf32 needs cuda, ...). Keys that
 * have no effect are not errors: see bp_config_unused_keys. */
bp_status bp_config_validate(const bp_config *cfg, bp_error *err);

/* Writes the complete effective config as INI (every key, by section). */
bp_status bp_config_write(const bp_config *cfg, FILE *f, bp_error *err);

/* "2x800" / "800-400" <-> widths. Returns BP_ERR_CONFIG with a message. */
bp_status bp_parse_hidden(const char *text, int *n_hidden, int hidden[BP_MAX_HIDDEN],
                          bp_error *err);
/* Canonical form: "2x800" when all widths equal, else "800-400". */
void bp_format_hidden(int n_hidden, const int *hidden, char *buf, size_t size);

/* Names of enum values, as written in config files. */
const char *bp_act_name(bp_act a);
const char *bp_output_name(bp_output o);
const char *bp_rule_name(bp_rule_id r);
const char *bp_optimizer_name(bp_optimizer o);
const char *bp_reduce_name(bp_reduce r);
const char *bp_init_name(bp_init i);
const char *bp_bdfa_loss_name(bp_bdfa_loss l);
const char *bp_bdfa_target_name(bp_bdfa_target t);
const char *bp_recon_name(bp_recon r);
const char *bp_device_name(bp_device d);
const char *bp_precision_name(bp_precision p);

/* valid_size = -1 takes the training samples after train_size, but at
 * most this many: evaluating 58,000 images every epoch of a 2,000-sample
 * run would cost more than training it. */
#define BP_VALID_AUTO_MAX 10000

/* The size of the validation split for a training set of n_train images:
 * the valid_size samples after the first train_size. May exceed what is
 * there (n_train - train_size) for an explicit valid_size: the caller
 * checks that (bp_group_create refuses it). */
int bp_config_valid_count(const bp_config *cfg, int n_train);

/* The feedback learning rate in effect (feedback_lr, or lr when unset). */
double bp_config_feedback_lr(const bp_config *cfg);

/* Sets one key, checking that it belongs to `section` ("" or NULL = any
 * section: keys are unique across sections). This is what the INI reader
 * calls for each line; bp_config_set(cfg, k, v, w, e) is
 * bp_config_set_at(cfg, "", k, v, w, e). Surrounding whitespace of value is
 * ignored. On failure cfg is unchanged. */
bp_status bp_config_set_at(bp_config *cfg, const char *section, const char *key,
                           const char *value, const char *where, bp_error *err);

/* The key table, in the order bp_config_write writes the keys (grouped by
 * section). For `biopp sweep` and tools that enumerate keys. */
int bp_config_key_count(void);
const char *bp_config_key_name(int i);            /* NULL when i is out of range */
const char *bp_config_key_section(const char *key); /* "optimizer"; NULL if unknown */

/* Formats one key's value exactly as bp_config_write writes it (a string
 * bp_config_set reads back to the same value). BP_ERR_CONFIG for an unknown
 * key, BP_ERR_ARG when buf is too small. */
bp_status bp_config_get(const bp_config *cfg, const char *key, char *buf, size_t size,
                        bp_error *err);

#endif
