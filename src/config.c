/* Run configuration: defaults, the key table, loading INI files, --set
 * overrides, validation and writing. docs/CONFIG.md documents every key.
 *
 * Everything key-specific lives in one table (`keys` below): section, name,
 * kind, where the value lives in bp_config, its range and the hint shown in
 * error messages. Parsing (set), formatting (get / write) and validation are
 * generic over that table.
 *
 * INI dialect (what bp_config_load accepts):
 *   - `[section]` headers; `key = value` (or `key: value`) lines;
 *   - comments: a line whose first non-blank character is `;` or `#`, and
 *     inline comments that start with `;` or `#` preceded by whitespace;
 *   - leading whitespace on any line is ignored (there are no continuation
 *     lines), as is surrounding whitespace of keys and values;
 *   - keys before the first section header are accepted and matched by name
 *     alone (key names are unique across sections), like --set;
 *   - a key set twice in one file is an error;
 *   - a value containing ',' is an error (lists belong to `biopp sweep`).
 * src/ini_reader.c reads the lines (with libinih), so every error names
 * file:line; lines longer than inih's buffer (a long data_dir) work too. */
#include "biopp/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "biopp/ini_reader.h"

#define VALUE_MAX 2048   /* longest value accepted (data_dir holds 1023) */
#define WIDTH_MAX 1000000

/* ------------------------------------------------------------------------ */
/* Enum names                                                               */

typedef struct {
    const char *name;
    int value;
} enum_val;

static const enum_val dataset_vals[] = {
    {"mnist", 0}, {"fashion-mnist", 0}, {"kmnist", 0}, {"cifar10", 0}, {NULL, 0}};
static const enum_val act_vals[] = {
    {"tanh", BP_ACT_TANH}, {"relu", BP_ACT_RELU}, {"sigmoid", BP_ACT_SIGMOID}, {NULL, 0}};
static const enum_val output_vals[] = {
    {"sigmoid_bce", BP_OUT_SIGMOID_BCE}, {"softmax_ce", BP_OUT_SOFTMAX_CE}, {NULL, 0}};
static const enum_val init_vals[] = {
    {"uniform", BP_INIT_UNIFORM}, {"paper_code", BP_INIT_PAPER_CODE}, {NULL, 0}};
static const enum_val rule_vals[] = {
    {"bp", BP_RULE_BP},   {"fa", BP_RULE_FA},     {"dfa", BP_RULE_DFA},
    {"bfa", BP_RULE_BFA}, {"bdfa", BP_RULE_BDFA}, {"usf", BP_RULE_USF},
    {"brsf", BP_RULE_BRSF}, {"frsf", BP_RULE_FRSF}, {"kp", BP_RULE_KP},
    {"wm", BP_RULE_WM},   {NULL, 0}};
static const enum_val bdfa_loss_vals[] = {
    {"one_minus_sigmoid", BP_BDFA_ONE_MINUS_SIGMOID},
    {"neg_log_sigmoid", BP_BDFA_NEG_LOG_SIGMOID},
    {NULL, 0}};
static const enum_val bdfa_target_vals[] = {
    {"mix", BP_TARGET_MIX}, {"paper_code", BP_TARGET_PAPER_CODE}, {NULL, 0}};
static const enum_val recon_vals[] = {
    {"identity", BP_RECON_IDENTITY}, {"sigmoid_bce", BP_RECON_SIGMOID_BCE}, {NULL, 0}};
static const enum_val optimizer_vals[] = {
    {"sgd", BP_OPT_SGD}, {"adam", BP_OPT_ADAM}, {NULL, 0}};
static const enum_val reduce_vals[] = {
    {"mean", BP_REDUCE_MEAN}, {"sum", BP_REDUCE_SUM}, {NULL, 0}};
static const enum_val device_vals[] = {
    {"cpu", BP_DEVICE_CPU}, {"cuda", BP_DEVICE_CUDA}, {NULL, 0}};
static const enum_val precision_vals[] = {
    {"fp32", BP_PREC_FP32}, {"tf32", BP_PREC_TF32}, {NULL, 0}};

static const char *enum_name(const enum_val *v, int x)
{
    for (; v->name; v++)
        if (v->value == x)
            return v->name;
    return NULL;
}

static const char *known(const char *s) { return s ? s : "unknown"; }

const char *bp_act_name(bp_act a)
{
    return a == BP_ACT_IDENTITY ? "identity" : known(enum_name(act_vals, (int)a));
}
const char *bp_output_name(bp_output o) { return known(enum_name(output_vals, (int)o)); }
const char *bp_rule_name(bp_rule_id r) { return known(enum_name(rule_vals, (int)r)); }
const char *bp_optimizer_name(bp_optimizer o) { return known(enum_name(optimizer_vals, (int)o)); }
const char *bp_reduce_name(bp_reduce r) { return known(enum_name(reduce_vals, (int)r)); }
const char *bp_init_name(bp_init i) { return known(enum_name(init_vals, (int)i)); }
const char *bp_bdfa_loss_name(bp_bdfa_loss l) { return known(enum_name(bdfa_loss_vals, (int)l)); }
const char *bp_bdfa_target_name(bp_bdfa_target t)
{
    return known(enum_name(bdfa_target_vals, (int)t));
}
const char *bp_recon_name(bp_recon r) { return known(enum_name(recon_vals, (int)r)); }
const char *bp_device_name(bp_device d) { return known(enum_name(device_vals, (int)d)); }
const char *bp_precision_name(bp_precision p) { return known(enum_name(precision_vals, (int)p)); }

/* ------------------------------------------------------------------------ */
/* The key table                                                            */

typedef enum {
    K_INT,         /* int, range imin..imax */
    K_U64,         /* uint64_t */
    K_DOUBLE,      /* double, finite, range dmin..dmax (open or closed ends) */
    K_FEEDBACK_LR, /* double > 0, or "same" stored as -1 */
    K_ENUM,        /* C enum (compatible with unsigned int), names in vals */
    K_CHOICE,      /* char[size] holding one of the names in vals */
    K_STRING,      /* char[size], any text */
    K_HIDDEN       /* n_hidden + hidden[] */
} key_kind;

typedef struct {
    const char *section;
    const char *name;
    key_kind kind;
    size_t off;              /* offset of the field in bp_config */
    size_t size;             /* K_CHOICE, K_STRING: buffer size */
    long long imin, imax;    /* K_INT */
    double dmin, dmax;       /* K_DOUBLE */
    bool min_open, max_open; /* K_DOUBLE: exclusive ends */
    const enum_val *vals;    /* K_ENUM, K_CHOICE */
    const char *expect;      /* hint for error messages (numbers) */
    const char *help;        /* one line for `biopp keys` */
    /* Which rules / optimizers read the key (bit per bp_rule_id, per
     * bp_optimizer); 0 = all. Anything else set away from its default gets
     * a warning (bp_config_unused_keys). */
    unsigned rules, optimizers;
} key_def;

#define RULE_BIT(r) (1u << (r))
#define OPT_BIT(o) (1u << (o))

/* The _Generic in each macro makes a field of the wrong C type a compile
 * error rather than a silent misread. Enums are compatible with unsigned int
 * (GCC, Clang: no negative enumerators). The optional last arguments are
 * more designated initializers (.rules = ..., .optimizers = ...). */
#define OFF(type, f) _Generic(((bp_config *)0)->f, type: offsetof(bp_config, f))
#define K_INT_(sec, f, lo, hi, hint, text) \
    {.section = sec, .name = #f, .kind = K_INT, .off = OFF(int, f), .imin = lo, .imax = hi, \
     .expect = hint, .help = text}
#define K_DBL_(sec, f, lo, lo_open, hi, hi_open, hint, text, ...)                          \
    {.section = sec, .name = #f, .kind = K_DOUBLE, .off = OFF(double, f), .dmin = lo,      \
     .dmax = hi, .min_open = lo_open, .max_open = hi_open, .expect = hint, .help = text,   \
     __VA_ARGS__}
#define K_ENUM_(sec, f, values, text, ...)                                                 \
    {.section = sec, .name = #f, .kind = K_ENUM, .off = OFF(unsigned int, f), .vals = values, \
     .help = text, __VA_ARGS__}

#define TRAINED_FEEDBACK (RULE_BIT(BP_RULE_BFA) | RULE_BIT(BP_RULE_BDFA) | RULE_BIT(BP_RULE_KP))

static const key_def keys[] = {
    /* [data] */
    {.section = "data", .name = "dataset", .kind = K_CHOICE, .off = OFF(char *, dataset),
     .size = sizeof(((bp_config *)0)->dataset), .vals = dataset_vals,
     .help = "dataset to train and test on"},
    {.section = "data", .name = "data_dir", .kind = K_STRING, .off = OFF(char *, data_dir),
     .size = sizeof(((bp_config *)0)->data_dir), .expect = "a directory path, or empty",
     .help = "where the dataset files are; empty: $BIOPP_DATA_DIR, else ./data"},
    K_INT_("data", train_size, 1, INT_MAX, "a positive integer such as 50000",
           "the first N training images train, the next valid_size validate"),
    K_INT_("data", valid_size, -1, INT_MAX, "an integer >= -1; -1 = the rest, at most 10000",
           "images after train_size that validate; -1: the rest, at most 10000"),
    /* [model] */
    {.section = "model", .name = "hidden", .kind = K_HIDDEN, .off = OFF(int, n_hidden),
     .help = "hidden layer widths: 800, 2x800 (2 layers), 800-400 (per layer)"},
    K_ENUM_("model", activation, act_vals, "hidden nonlinearity"),
    K_ENUM_("model", output, output_vals, "output nonlinearity and loss"),
    K_ENUM_("model", init, init_vals,
            "forward-weight initialisation (paper_code: as the paper's code)",
            .rules = RULE_BIT(BP_RULE_FA) | RULE_BIT(BP_RULE_DFA) | RULE_BIT(BP_RULE_BDFA)),
    /* [rule] */
    K_ENUM_("rule", rule, rule_vals, "learning rule (docs/RULES.md for the last five)"),
    K_DBL_("rule", alpha, 0.0, false, HUGE_VAL, false, "a number >= 0 such as 0.25",
           "BDFA backward target t = y + alpha * yhat", .rules = RULE_BIT(BP_RULE_BDFA)),
    K_ENUM_("rule", bdfa_loss, bdfa_loss_vals, "BDFA feedback loss",
            .rules = RULE_BIT(BP_RULE_BDFA)),
    K_ENUM_("rule", bdfa_target, bdfa_target_vals,
            "BDFA target: mix (y + alpha * yhat) or paper_code", .rules = RULE_BIT(BP_RULE_BDFA)),
    K_ENUM_("rule", recon, recon_vals, "BFA reconstruction output and loss",
            .rules = RULE_BIT(BP_RULE_BFA)),
    K_DBL_("rule", kp_decay, 0.0, false, 1.0, true, "a number in [0, 1) such as 1e-3",
           "KP weight decay per step on W_l and B_l", .rules = RULE_BIT(BP_RULE_KP)),
    K_DBL_("rule", wm_lr, 0.0, false, HUGE_VAL, false, "a number >= 0 such as 1",
           "WM mirror learning rate", .rules = RULE_BIT(BP_RULE_WM)),
    K_DBL_("rule", wm_decay, 0.0, false, 1.0, true, "a number in [0, 1) such as 0.01",
           "WM mirror weight decay per step", .rules = RULE_BIT(BP_RULE_WM)),
    K_DBL_("rule", wm_noise, 0.0, true, HUGE_VAL, false, "a positive number such as 0.1",
           "WM mirror noise standard deviation", .rules = RULE_BIT(BP_RULE_WM)),
    /* [optimizer] */
    K_ENUM_("optimizer", optimizer, optimizer_vals, "update rule of all trained weights"),
    K_DBL_("optimizer", lr, 0.0, true, HUGE_VAL, false, "a positive number such as 1e-4",
           "learning rate of the forward weights"),
    {.section = "optimizer", .name = "feedback_lr", .kind = K_FEEDBACK_LR,
     .off = OFF(double, feedback_lr), .dmin = 0.0, .dmax = HUGE_VAL, .min_open = true,
     .expect = "a positive number such as 5e-5, or 'same' to use lr",
     .help = "learning rate of the trained feedback weights; same: lr",
     .rules = TRAINED_FEEDBACK},
    K_DBL_("optimizer", momentum, 0.0, false, 1.0, true, "a number in [0, 1) such as 0.9",
           "SGD momentum", .optimizers = OPT_BIT(BP_OPT_SGD)),
    K_DBL_("optimizer", beta1, 0.0, false, 1.0, true, "a number in [0, 1) such as 0.9",
           "Adam beta1", .optimizers = OPT_BIT(BP_OPT_ADAM)),
    K_DBL_("optimizer", beta2, 0.0, false, 1.0, true, "a number in [0, 1) such as 0.999",
           "Adam beta2", .optimizers = OPT_BIT(BP_OPT_ADAM)),
    K_DBL_("optimizer", adam_eps, 0.0, true, HUGE_VAL, false, "a positive number such as 1e-8",
           "Adam epsilon", .optimizers = OPT_BIT(BP_OPT_ADAM)),
    K_ENUM_("optimizer", grad_reduce, reduce_vals, "weight gradients: batch mean or sum"),
    /* [train] */
    K_INT_("train", batch, 1, INT_MAX, "a positive integer such as 128", "mini-batch size"),
    K_INT_("train", epochs, 0, INT_MAX, "an integer >= 0 such as 300",
           "passes over the training split (0: none)"),
    {.section = "train", .name = "seed", .kind = K_U64, .off = OFF(uint64_t, seed),
     .expect = "an integer in 0..18446744073709551615",
     .help = "seed of all random draws (weights, feedback, batch order)"},
    K_INT_("train", threads, 0, INT_MAX, "an integer >= 0; 0 = the CPUs this process may use",
           "CPU threads; 0: the CPUs this process may use"),
    K_ENUM_("train", device, device_vals, "where to compute"),
    K_ENUM_("train", precision, precision_vals, "matrix-multiply precision (tf32: cuda only)"),
    K_INT_("train", eval_batch, 1, INT_MAX, "a positive integer such as 1000",
           "samples per evaluation chunk (memory and speed only)"),
    K_INT_("train", checkpoint_every, 0, INT_MAX, "an integer >= 0; 0 = only at the end",
           "epochs between checkpoints; 0: only at the end"),
    K_INT_("train", align_every, 0, INT_MAX, "an integer >= 0 such as 100; 0 = off",
           "alignment diagnostics every N steps; 0: off"),
    K_INT_("train", align_log, 0, 1, "0 or 1", "1: every alignment measurement to align.jsonl"),
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

static const char *const sections[] = {"data", "model", "rule", "optimizer", "train"};
#define N_SECTIONS ((int)(sizeof sections / sizeof sections[0]))

int bp_config_key_count(void) { return N_KEYS; }

const char *bp_config_key_name(int i) { return i >= 0 && i < N_KEYS ? keys[i].name : NULL; }

static const key_def *find_key(const char *name)
{
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

const char *bp_config_key_section(const char *key)
{
    const key_def *k = key ? find_key(key) : NULL;
    return k ? k->section : NULL;
}

_Static_assert(N_KEYS <= BP_CONFIG_MAX_KEYS, "raise BP_CONFIG_MAX_KEYS");

static bool is_section(const char *s)
{
    for (int i = 0; i < N_SECTIONS; i++)
        if (strcmp(sections[i], s) == 0)
            return true;
    return false;
}

/* Field access through the table's offsets. */
#define FIELD(cfg, k, type) ((type *)((char *)(cfg) + (k)->off))
#define CFIELD(cfg, k, type) ((const type *)((const char *)(cfg) + (k)->off))

/* ------------------------------------------------------------------------ */
/* Small text helpers                                                       */

/* Appends printf output to buf (always NUL-terminated, truncates). */
static void append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strnlen(buf, size);
    if (len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

static void list_enum(const enum_val *v, char *buf, size_t size)
{
    buf[0] = '\0';
    append(buf, size, "one of: ");
    for (const enum_val *p = v; p->name; p++)
        append(buf, size, "%s%s", p == v ? "" : ", ", p->name);
}

static void list_keys(const char *section, char *buf, size_t size)
{
    buf[0] = '\0';
    bool first = true;
    for (int i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        append(buf, size, "%s%s", first ? "" : ", ", keys[i].name);
        first = false;
    }
}

static void list_all_keys(char *buf, size_t size)
{
    buf[0] = '\0';
    for (int s = 0; s < N_SECTIONS; s++) {
        char one[512];
        list_keys(sections[s], one, sizeof one);
        append(buf, size, "%s[%s] %s", s ? "; " : "", sections[s], one);
    }
}

static void list_sections(char *buf, size_t size)
{
    buf[0] = '\0';
    for (int s = 0; s < N_SECTIONS; s++)
        append(buf, size, "%s[%s]", s ? ", " : "", sections[s]);
}

/* Copies s without surrounding whitespace into out; false if it does not fit. */
static bool trim_copy(const char *s, size_t n, char *out, size_t size)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= size)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

/* ------------------------------------------------------------------------ */
/* Number parsing: the whole string must be consumed                         */

typedef enum { NUM_OK, NUM_BAD, NUM_NONFINITE, NUM_RANGE, NUM_PLUS, NUM_HEX } num_result;

/* Skips decimal digits; returns how many. */
static int skip_digits(const char **p)
{
    int n = 0;
    for (; isdigit((unsigned char)**p); (*p)++) n++;
    return n;
}

/* The only number forms a config accepts, checked before strtod/strtoll
 * (which would also take '+5', '0x10', ' 5', 'inf', 'nan' and hex floats):
 * integers [-]digits; reals [-]digits[.digits] or [-].digits, each with an
 * optional exponent e[+-]digits. */
static num_result check_form(const char *s, bool integer)
{
    const char *p = s;
    if (*p == '+')
        return NUM_PLUS;
    if (*p == '-')
        p++;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        return NUM_HEX;
    if (!strncasecmp(p, "inf", 3) || !strncasecmp(p, "nan", 3))
        return integer ? NUM_BAD : NUM_NONFINITE;
    int digits = skip_digits(&p);
    if (!integer && *p == '.') {
        p++;
        digits += skip_digits(&p);
    }
    if (!digits)
        return NUM_BAD;
    if (!integer && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!skip_digits(&p))
            return NUM_BAD;
    }
    return *p ? NUM_BAD : NUM_OK;
}

static num_result parse_ll(const char *s, long long *out)
{
    num_result r = check_form(s, true);
    if (r != NUM_OK)
        return r;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return NUM_RANGE;
    *out = v;
    return NUM_OK;
}

static num_result parse_u64(const char *s, uint64_t *out)
{
    num_result r = *s == '-' ? NUM_BAD : check_form(s, true); /* strtoull would wrap '-' */
    if (r != NUM_OK)
        return r;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v > UINT64_MAX)
        return NUM_RANGE;
    *out = (uint64_t)v;
    return NUM_OK;
}

static num_result parse_double(const char *s, double *out)
{
    num_result r = check_form(s, false);
    if (r != NUM_OK)
        return r;
    errno = 0;
    double v = strtod(s, NULL);
    if (!isfinite(v))
        return NUM_NONFINITE;
    if (errno == ERANGE) /* underflow to (near) zero: refuse rather than round */
        return NUM_RANGE;
    *out = v;
    return NUM_OK;
}

/* Shortest of %.15g / %.16g / %.17g that reads back to exactly x. */
static void format_double(double x, char *buf, size_t size)
{
    char tmp[64];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, x);
        if (prec == 17 || strtod(tmp, NULL) == x)
            break;
    }
    snprintf(buf, size, "%s", tmp);
}

/* ------------------------------------------------------------------------ */
/* Hidden layer widths                                                      */

static const char hidden_forms[] = "forms: 800, 2x800 (2 layers of 800), 800-400 (per layer)";

/* Reads decimal digits at *p (no sign); returns the count of digits. The
 * value saturates above WIDTH_MAX so it cannot overflow. */
static int read_digits(const char **p, long *out)
{
    long v = 0;
    int n = 0;
    while (isdigit((unsigned char)**p)) {
        if (v <= WIDTH_MAX)
            v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *out = v;
    return n;
}

bp_status bp_parse_hidden(const char *text, int *n_hidden, int hidden[BP_MAX_HIDDEN],
                          bp_error *err)
{
    if (!text || !n_hidden || !hidden)
        return bp_fail(err, BP_ERR_ARG, "bp_parse_hidden: NULL argument");
    if (!*text)
        return bp_fail(err, BP_ERR_CONFIG, "hidden = '': empty (%s)", hidden_forms);
    int w[BP_MAX_HIDDEN] = {0};
    int n = 0;
    const char *p = text;
    long a;
    if (!read_digits(&p, &a))
        return bp_fail(err, BP_ERR_CONFIG, "hidden = '%s': expected a number at the start (%s)",
                       text, hidden_forms);
    if (*p == 'x') {
        long width;
        p++;
        if (!read_digits(&p, &width))
            return bp_fail(err, BP_ERR_CONFIG, "hidden = '%s': expected a width after 'x' (%s)",
                           text, hidden_forms);
        if (*p)
            return bp_fail(err, BP_ERR_CONFIG,
                           "hidden = '%s': unexpected '%c' after '%.*s' (%s)", text, *p,
                           (int)(p - text), text, hidden_forms);
        if (a < 1 || a > BP_MAX_HIDDEN)
            return bp_fail(err, BP_ERR_CONFIG,
                           "hidden = '%s': number of layers must be 1..%d (%s)", text,
                           BP_MAX_HIDDEN, hidden_forms);
        if (width < 1 || width > WIDTH_MAX)
            return bp_fail(err, BP_ERR_CONFIG, "hidden = '%s': widths must be 1..%d", text,
                           WIDTH_MAX);
        n = (int)a;
        for (int i = 0; i < n; i++)
            w[i] = (int)width;
    } else {
        for (;;) {
            if (a < 1 || a > WIDTH_MAX)
                return bp_fail(err, BP_ERR_CONFIG, "hidden = '%s': widths must be 1..%d", text,
                               WIDTH_MAX);
            if (n == BP_MAX_HIDDEN)
                return bp_fail(err, BP_ERR_CONFIG, "hidden = '%s': more than %d hidden layers",
                               text, BP_MAX_HIDDEN);
            w[n++] = (int)a;
            if (!*p)
                break;
            if (*p != '-')
                return bp_fail(err, BP_ERR_CONFIG,
                               "hidden = '%s': unexpected '%c' after '%.*s' (%s)", text, *p,
                               (int)(p - text), text, hidden_forms);
            p++;
            if (!read_digits(&p, &a))
                return bp_fail(err, BP_ERR_CONFIG,
                               "hidden = '%s': expected a width after '-' (%s)", text,
                               hidden_forms);
        }
    }
    *n_hidden = n;
    memcpy(hidden, w, sizeof w); /* unused entries zero: the struct stays canonical */
    return BP_OK;
}

void bp_format_hidden(int n_hidden, const int *hidden, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    buf[0] = '\0';
    if (!hidden || n_hidden <= 0)
        return;
    if (n_hidden > BP_MAX_HIDDEN)
        n_hidden = BP_MAX_HIDDEN;
    bool equal = true;
    for (int i = 1; i < n_hidden; i++)
        equal = equal && hidden[i] == hidden[0];
    if (equal) {
        snprintf(buf, size, "%dx%d", n_hidden, hidden[0]);
        return;
    }
    for (int i = 0; i < n_hidden; i++)
        append(buf, size, "%s%d", i ? "-" : "", hidden[i]);
}

/* ------------------------------------------------------------------------ */
/* Defaults                                                                 */

void bp_config_defaults(bp_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->dataset, sizeof cfg->dataset, "mnist");
    cfg->data_dir[0] = '\0';
    cfg->train_size = 50000;
    cfg->valid_size = -1;
    cfg->n_hidden = 1;
    cfg->hidden[0] = 800;
    cfg->activation = BP_ACT_TANH;
    cfg->output = BP_OUT_SIGMOID_BCE;
    cfg->init = BP_INIT_UNIFORM;
    cfg->rule = BP_RULE_BP;
    cfg->alpha = 0.0;
    cfg->bdfa_loss = BP_BDFA_ONE_MINUS_SIGMOID;
    cfg->bdfa_target = BP_TARGET_MIX;
    cfg->recon = BP_RECON_IDENTITY;
    cfg->kp_decay = BP_KP_DECAY_DEFAULT;
    cfg->wm_lr = BP_WM_LR_DEFAULT;
    cfg->wm_decay = BP_WM_DECAY_DEFAULT;
    cfg->wm_noise = BP_WM_NOISE_DEFAULT;
    cfg->optimizer = BP_OPT_ADAM;
    cfg->lr = 1e-4;
    cfg->feedback_lr = -1.0;
    cfg->momentum = 0.0;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->adam_eps = 1e-8;
    cfg->grad_reduce = BP_REDUCE_MEAN;
    cfg->batch = 128;
    cfg->epochs = 300;
    cfg->seed = 1;
    cfg->threads = 0;
    cfg->device = BP_DEVICE_CPU;
    cfg->precision = BP_PREC_FP32;
    cfg->eval_batch = 1000;
    cfg->checkpoint_every = 10;
    cfg->align_every = 0;
    cfg->align_log = 0;
}

int bp_config_valid_count(const bp_config *cfg, int n_train)
{
    int rest = n_train > cfg->train_size ? n_train - cfg->train_size : 0;
    if (cfg->valid_size >= 0) return cfg->valid_size;
    return rest < BP_VALID_AUTO_MAX ? rest : BP_VALID_AUTO_MAX;
}

double bp_config_feedback_lr(const bp_config *cfg)
{
    return cfg->feedback_lr < 0 ? cfg->lr : cfg->feedback_lr;
}

/* ------------------------------------------------------------------------ */
/* Set / get one key                                                        */

static bp_status bad_value(bp_error *err, const char *where, const key_def *k, const char *v,
                           const char *what)
{
    return bp_fail(err, BP_ERR_CONFIG, "%s: %s = '%s': %s (expected %s)", where, k->name, v, what,
                   k->expect);
}

static const char *num_problem(num_result r, bool integer)
{
    switch (r) {
    case NUM_OK: break;
    case NUM_BAD: return integer ? "not an integer" : "not a number";
    case NUM_NONFINITE: return "not a finite number";
    case NUM_RANGE: return "out of range";
    case NUM_PLUS: return "a leading '+' is not accepted";
    case NUM_HEX: return "hexadecimal is not accepted";
    }
    return "out of range";
}

static bool in_range(const key_def *k, double v)
{
    bool lo = k->min_open ? v > k->dmin : v >= k->dmin;
    bool hi = k->max_open ? v < k->dmax : v <= k->dmax;
    return lo && hi;
}

/* Parses v (trimmed, not a list) into a local and stores it only when valid,
 * so cfg is unchanged on failure. */
static bp_status parse_value(bp_config *cfg, const key_def *k, const char *v, const char *where,
                             bp_error *err)
{
    switch (k->kind) {
    case K_INT: {
        long long x = 0;
        num_result r = parse_ll(v, &x);
        if (r == NUM_OK && (x < k->imin || x > k->imax))
            r = NUM_RANGE;
        if (r != NUM_OK)
            return bad_value(err, where, k, v, num_problem(r, true));
        *FIELD(cfg, k, int) = (int)x;
        return BP_OK;
    }
    case K_U64: {
        uint64_t x = 0;
        num_result r = parse_u64(v, &x);
        if (r != NUM_OK)
            return bad_value(err, where, k, v, num_problem(r, true));
        *FIELD(cfg, k, uint64_t) = x;
        return BP_OK;
    }
    case K_FEEDBACK_LR:
        if (strcmp(v, "same") == 0) {
            *FIELD(cfg, k, double) = -1.0;
            return BP_OK;
        }
        /* fall through */
    case K_DOUBLE: {
        double x = 0;
        num_result r = parse_double(v, &x);
        if (r == NUM_OK && !in_range(k, x))
            r = NUM_RANGE;
        if (r != NUM_OK)
            return bad_value(err, where, k, v, num_problem(r, false));
        *FIELD(cfg, k, double) = x;
        return BP_OK;
    }
    case K_ENUM:
    case K_CHOICE: {
        const enum_val *e = k->vals;
        while (e->name && strcmp(e->name, v) != 0)
            e++;
        if (!e->name) {
            char allowed[256];
            list_enum(k->vals, allowed, sizeof allowed);
            return bp_fail(err, BP_ERR_CONFIG, "%s: %s = '%s': unknown value (expected %s)", where,
                           k->name, v, allowed);
        }
        if (k->kind == K_ENUM) {
            *FIELD(cfg, k, unsigned int) = (unsigned int)e->value;
        } else {
            char *dst = FIELD(cfg, k, char);
            memset(dst, 0, k->size);
            memcpy(dst, e->name, strlen(e->name));
        }
        return BP_OK;
    }
    case K_STRING: {
        size_t len = strlen(v);
        if (len >= k->size)
            return bp_fail(err, BP_ERR_CONFIG, "%s: %s: value too long (%zu characters, at most %zu)",
                           where, k->name, len, k->size - 1);
        char *dst = FIELD(cfg, k, char);
        memset(dst, 0, k->size);
        memcpy(dst, v, len);
        return BP_OK;
    }
    case K_HIDDEN: {
        int n = 0, w[BP_MAX_HIDDEN];
        bp_status st = bp_parse_hidden(v, &n, w, err);
        if (st != BP_OK) {
            if (err)
                bp_fail_context(err, "%s", where);
            return st;
        }
        cfg->n_hidden = n;
        memcpy(cfg->hidden, w, sizeof cfg->hidden);
        return BP_OK;
    }
    }
    return bp_fail(err, BP_ERR_ARG, "%s: %s: internal error: bad key kind", where, k->name);
}

/* Finds the key, checking it belongs to section ("" = any). */
static bp_status lookup(const char *section, const char *key, const char *where,
                        const key_def **out, bp_error *err)
{
    char list[800];
    if (*section && !is_section(section)) {
        list_sections(list, sizeof list);
        return bp_fail(err, BP_ERR_CONFIG, "%s: unknown section [%s] (valid sections: %s)", where,
                       section, list);
    }
    const key_def *k = find_key(key);
    if (!k) {
        if (*section) {
            list_keys(section, list, sizeof list);
            return bp_fail(err, BP_ERR_CONFIG,
                           "%s: unknown key '%s' in [%s] (valid keys in [%s]: %s)", where, key,
                           section, section, list);
        }
        list_all_keys(list, sizeof list);
        return bp_fail(err, BP_ERR_CONFIG, "%s: unknown key '%s' (valid keys: %s)", where, key,
                       list);
    }
    if (*section && strcmp(section, k->section) != 0)
        return bp_fail(err, BP_ERR_CONFIG, "%s: key '%s' belongs in [%s], not [%s]", where, key,
                       k->section, section);
    *out = k;
    return BP_OK;
}

bp_status bp_config_set_at(bp_config *cfg, const char *section, const char *key,
                           const char *value, const char *where, bp_error *err)
{
    if (!where)
        where = "config";
    if (!cfg || !key || !value)
        return bp_fail(err, BP_ERR_ARG, "%s: bp_config_set: NULL argument", where);
    const key_def *k = NULL;
    bp_status st = lookup(section ? section : "", key, where, &k, err);
    if (st != BP_OK)
        return st;
    char v[VALUE_MAX];
    if (!trim_copy(value, strlen(value), v, sizeof v))
        return bp_fail(err, BP_ERR_CONFIG, "%s: %s: value too long (%zu characters)", where, key,
                       strlen(value));
    if (strchr(v, ','))
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s: %s = '%s': a list of values; lists are for `biopp sweep` "
                       "(a config file or --set takes one value)",
                       where, key, v);
    return parse_value(cfg, k, v, where, err);
}

bp_status bp_config_set(bp_config *cfg, const char *key, const char *value, const char *where,
                        bp_error *err)
{
    return bp_config_set_at(cfg, "", key, value, where, err);
}

bp_status bp_config_override_traced(bp_config *cfg, const char *assignment,
                                    bp_config_origin *origin, bp_error *err)
{
    if (!cfg || !assignment)
        return bp_fail(err, BP_ERR_ARG, "--set: NULL argument");
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return bp_fail(err, BP_ERR_CONFIG, "--set '%s': expected key=value (for example --set lr=1e-3)",
                       assignment);
    char key[64];
    if (!trim_copy(assignment, (size_t)(eq - assignment), key, sizeof key))
        return bp_fail(err, BP_ERR_CONFIG, "--set '%s': unknown key", assignment);
    if (!*key)
        return bp_fail(err, BP_ERR_CONFIG,
                       "--set '%s': missing key before '=' (for example --set lr=1e-3)", assignment);
    bp_status st = bp_config_set_at(cfg, "", key, eq + 1, "--set", err);
    if (st == BP_OK && origin)
        origin->line[find_key(key) - keys] = BP_ORIGIN_SET;
    return st;
}

bp_status bp_config_override(bp_config *cfg, const char *assignment, bp_error *err)
{
    return bp_config_override_traced(cfg, assignment, NULL, err);
}

static bp_status format_value(const bp_config *cfg, const key_def *k, char *buf, size_t size,
                              bp_error *err)
{
    char tmp[VALUE_MAX];
    switch (k->kind) {
    case K_INT:
        snprintf(tmp, sizeof tmp, "%d", *CFIELD(cfg, k, int));
        break;
    case K_U64:
        snprintf(tmp, sizeof tmp, "%" PRIu64, *CFIELD(cfg, k, uint64_t));
        break;
    case K_FEEDBACK_LR:
        if (*CFIELD(cfg, k, double) < 0) {
            snprintf(tmp, sizeof tmp, "same");
            break;
        }
        /* fall through */
    case K_DOUBLE:
        format_double(*CFIELD(cfg, k, double), tmp, sizeof tmp);
        break;
    case K_ENUM: {
        unsigned int x = *CFIELD(cfg, k, unsigned int);
        const char *name = enum_name(k->vals, (int)x);
        if (name)
            snprintf(tmp, sizeof tmp, "%s", name);
        else /* invalid in the struct: a number, which set rejects */
            snprintf(tmp, sizeof tmp, "%u", x);
        break;
    }
    case K_CHOICE:
    case K_STRING: {
        const char *s = CFIELD(cfg, k, char);
        size_t len = strnlen(s, k->size);
        if (len == k->size)
            return bp_fail(err, BP_ERR_CONFIG, "%s: not NUL-terminated", k->name);
        memcpy(tmp, s, len + 1);
        break;
    }
    case K_HIDDEN:
        if (cfg->n_hidden < 1 || cfg->n_hidden > BP_MAX_HIDDEN)
            return bp_fail(err, BP_ERR_CONFIG, "hidden: %d layers (expected 1..%d)", cfg->n_hidden,
                           BP_MAX_HIDDEN);
        bp_format_hidden(cfg->n_hidden, cfg->hidden, tmp, sizeof tmp);
        break;
    }
    size_t len = strlen(tmp);
    if (!buf || len >= size)
        return bp_fail(err, BP_ERR_ARG, "%s: value needs a buffer of %zu bytes, got %zu", k->name,
                       len + 1, buf ? size : 0);
    memcpy(buf, tmp, len + 1);
    return BP_OK;
}

bp_status bp_config_get(const bp_config *cfg, const char *key, char *buf, size_t size,
                        bp_error *err)
{
    if (!cfg || !key)
        return bp_fail(err, BP_ERR_ARG, "bp_config_get: NULL argument");
    const key_def *k = NULL;
    bp_status st = lookup("", key, "bp_config_get", &k, err);
    if (st != BP_OK)
        return st;
    return format_value(cfg, k, buf, size, err);
}

/* ------------------------------------------------------------------------ */
/* Loading INI files                                                        */

typedef struct {
    bp_config cfg;        /* loaded into a copy; committed on success */
    int key_line[N_KEYS]; /* line each key was set on, 0 = not set */
} load_ctx;

/* Sets one key from the file (bp_ini_pair_fn). */
static bp_status load_pair(void *user, const char *section, const char *key, const char *value,
                           const char *where, int line, bp_error *err)
{
    load_ctx *c = user;
    bp_status st = bp_config_set_at(&c->cfg, section, key, value, where, err);
    if (st != BP_OK)
        return st;
    int i = (int)(find_key(key) - keys);
    if (c->key_line[i])
        return bp_fail(err, BP_ERR_CONFIG, "%s: %s is set twice (first on line %d); keep one",
                       where, key, c->key_line[i]);
    c->key_line[i] = line;
    return BP_OK;
}

bp_status bp_config_load(bp_config *cfg, const char *path, bp_error *err)
{
    return bp_config_load_traced(cfg, path, NULL, err);
}

bp_status bp_config_load_traced(bp_config *cfg, const char *path, bp_config_origin *origin,
                                bp_error *err)
{
    if (!cfg || !path || !*path)
        return bp_fail(err, BP_ERR_ARG, "bp_config_load: no config file path given");
    FILE *f = fopen(path, "r");
    if (!f)
        return bp_fail(err, BP_ERR_IO, "%s: cannot open config file: %s", path, strerror(errno));
    load_ctx *c = calloc(1, sizeof *c); /* a bp_config is large for the stack */
    if (!c) {
        fclose(f);
        return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", path);
    }
    c->cfg = *cfg;
    char list[256];
    list_sections(list, sizeof list);
    bp_ini_handler h = {
        .known_section = is_section, .sections = list, .on_pair = load_pair, .user = c};
    bp_status st = bp_ini_read(f, path, &h, err);
    if (st == BP_OK)
        *cfg = c->cfg;
    for (int i = 0; st == BP_OK && origin && i < N_KEYS; i++) {
        if (c->key_line[i])
            origin->line[i] = c->key_line[i];
        origin->file = path;
    }
    free(c);
    fclose(f);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Validation and writing                                                   */

/* Whether a string value survives the trip through an INI line unchanged. */
static const char *unwritable(const char *v)
{
    size_t n = strlen(v);
    if (n && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1])))
        return "leading or trailing whitespace";
    for (const char *p = v; *p; p++) {
        if (*p == '\n' || *p == '\r')
            return "a line break";
        if (*p == ',')
            return "a ',' (read as a list)";
        if ((*p == ';' || *p == '#') && (p == v || isspace((unsigned char)p[-1])))
            return "a ';' or '#' that would start a comment";
    }
    return NULL;
}

/* "bfa, bdfa or kp": the names of the set bits of mask. */
static void list_bits(unsigned mask, const char *(*name)(int), char *buf, size_t size)
{
    int total = 0, done = 0;
    for (unsigned m = mask; m; m &= m - 1)
        total++;
    buf[0] = '\0';
    for (int i = 0; i < 32; i++) {
        if (!(mask & (1u << i)))
            continue;
        done++;
        append(buf, size, "%s%s", done == 1 ? "" : done == total ? " or " : ", ", name(i));
    }
}

static const char *rule_name_of(int i) { return bp_rule_name((bp_rule_id)i); }
static const char *optimizer_name_of(int i) { return bp_optimizer_name((bp_optimizer)i); }

/* NULL when k is read under cfg's rule and optimizer, else "rule = bdfa". */
static void used_by(const key_def *k, char *buf, size_t size);

static const char *unused_why(const bp_config *cfg, const key_def *k, char *buf, size_t size)
{
    bool read = (!k->rules || (k->rules & RULE_BIT(cfg->rule))) &&
                (!k->optimizers || (k->optimizers & OPT_BIT(cfg->optimizer)));
    if (read)
        return NULL;
    used_by(k, buf, size);
    return buf;
}

const char *bp_config_key_unused(const bp_config *cfg, const char *key, char *buf, size_t size)
{
    const key_def *k = cfg && key ? find_key(key) : NULL;
    return k && buf && size ? unused_why(cfg, k, buf, size) : NULL;
}

/* "rule = bfa, bdfa or kp" / "optimizer = sgd" / "" from k's masks. */
static void used_by(const key_def *k, char *buf, size_t size)
{
    char names[160];
    buf[0] = '\0';
    if (k->rules) {
        list_bits(k->rules, rule_name_of, names, sizeof names);
        snprintf(buf, size, "rule = %s", names);
    } else if (k->optimizers) {
        list_bits(k->optimizers, optimizer_name_of, names, sizeof names);
        snprintf(buf, size, "optimizer = %s", names);
    }
}

bp_status bp_config_key_describe(int i, bp_config_key_info *info, bp_error *err)
{
    if (i < 0 || i >= N_KEYS || !info)
        return bp_fail(err, BP_ERR_ARG, "bp_config_key_describe: no key %d (%d keys)", i, N_KEYS);
    const key_def *k = &keys[i];
    info->name = k->name;
    info->section = k->section;
    info->help = k->help;
    info->allowed[0] = '\0';
    for (const enum_val *v = k->vals; v && v->name; v++)
        append(info->allowed, sizeof info->allowed, "%s%s", v == k->vals ? "" : ", ", v->name);
    used_by(k, info->used_by, sizeof info->used_by);
    return BP_OK;
}

/* Whether cfg's value of k is its default (as bp_config_write writes them). */
static bool is_default(const bp_config *cfg, const key_def *k)
{
    bp_config d;
    char a[VALUE_MAX], b[VALUE_MAX];
    bp_config_defaults(&d);
    if (format_value(cfg, k, a, sizeof a, NULL) || format_value(&d, k, b, sizeof b, NULL))
        return false;
    return strcmp(a, b) == 0;
}

static void origin_text(const bp_config_origin *o, int i, char *buf, size_t size)
{
    int line = o ? o->line[i] : 0;
    if (line == BP_ORIGIN_SET)
        snprintf(buf, size, "--set");
    else if (line > 0 && o->file)
        snprintf(buf, size, "%s:%d", o->file, line);
    else
        snprintf(buf, size, "config");
}

int bp_config_unused_keys(const bp_config *cfg, const bp_config_origin *origin,
                          bp_config_warnings *w)
{
    if (!w)
        return 0;
    w->n = 0;
    for (int i = 0; cfg && i < N_KEYS; i++) {
        const key_def *k = &keys[i];
        char why[200], where[1100], value[64], now[64];
        if (!unused_why(cfg, k, why, sizeof why) || is_default(cfg, k))
            continue;
        if (format_value(cfg, k, value, sizeof value, NULL))
            snprintf(value, sizeof value, "...");
        bool by_rule = k->rules && !(k->rules & RULE_BIT(cfg->rule));
        snprintf(now, sizeof now, "%s is %s", by_rule ? "rule" : "optimizer",
                 by_rule ? bp_rule_name(cfg->rule) : bp_optimizer_name(cfg->optimizer));
        origin_text(origin, i, where, sizeof where);
        w->w[w->n].key = k->name;
        snprintf(w->w[w->n].msg, sizeof w->w[w->n].msg,
                 "%.500s: %s = %s has no effect: only %s uses it (%s); remove it or change %s",
                 where, k->name, value, why, now, by_rule ? "rule" : "optimizer");
        w->n++;
    }
    return w->n;
}

bp_status bp_config_validate(const bp_config *cfg, bp_error *err)
{
    if (!cfg)
        return bp_fail(err, BP_ERR_ARG, "bp_config_validate: NULL config");
    /* Every key on its own: format it and parse it back with the same rules
     * as a config file (range, enum names, hidden widths). */
    bp_config scratch = *cfg;
    for (int i = 0; i < N_KEYS; i++) {
        const key_def *k = &keys[i];
        char buf[VALUE_MAX];
        bp_status st = format_value(cfg, k, buf, sizeof buf, err);
        if (st != BP_OK)
            return st;
        if (k->kind == K_STRING) { /* free text: it only has to fit in a config file */
            const char *why = unwritable(buf);
            if (why)
                return bp_fail(err, BP_ERR_CONFIG,
                               "config: %s = '%s': the value has %s, which a config file "
                               "cannot hold",
                               k->name, buf, why);
            continue;
        }
        st = bp_config_set_at(&scratch, k->section, k->name, buf, "config", err);
        if (st != BP_OK)
            return st;
    }
    /* Across keys. */
    if (cfg->batch > cfg->train_size)
        return bp_fail(err, BP_ERR_CONFIG,
                       "config: batch = %d is larger than train_size = %d; lower batch or raise "
                       "train_size",
                       cfg->batch, cfg->train_size);
    if (cfg->align_log && !cfg->align_every)
        return bp_fail(err, BP_ERR_CONFIG,
                       "config: align_log = 1 logs the alignment measurements, but align_every "
                       "= 0 takes none; set align_every (such as 100) or align_log = 0");
    if (cfg->precision == BP_PREC_TF32 && cfg->device != BP_DEVICE_CUDA)
        return bp_fail(err, BP_ERR_CONFIG,
                       "config: precision = tf32 needs device = cuda (device is %s); use "
                       "precision = fp32 on the CPU",
                       bp_device_name(cfg->device));
    return BP_OK;
}

bp_status bp_config_write(const bp_config *cfg, FILE *f, bp_error *err)
{
    if (!cfg || !f)
        return bp_fail(err, BP_ERR_ARG, "bp_config_write: NULL argument");
    fprintf(f, "# biopp run configuration: every key with the value in effect.\n"
               "# Keys and values: docs/CONFIG.md. Reload with --config <this file>.\n");
    const char *section = NULL;
    for (int i = 0; i < N_KEYS; i++) {
        const key_def *k = &keys[i];
        char buf[VALUE_MAX];
        bp_status st = format_value(cfg, k, buf, sizeof buf, err);
        if (st != BP_OK) {
            if (err)
                bp_fail_context(err, "writing config");
            return st;
        }
        const char *why = unwritable(buf);
        if (why)
            return bp_fail(err, BP_ERR_CONFIG,
                           "writing config: %s = '%s': the value has %s, which a config file "
                           "cannot hold",
                           k->name, buf, why);
        if (!section || strcmp(section, k->section) != 0) {
            fprintf(f, "\n[%s]\n", k->section);
            section = k->section;
        }
        fprintf(f, *buf ? "%s = %s\n" : "%s =%s\n", k->name, buf);
    }
    if (fflush(f) != 0 || ferror(f))
        return bp_fail(err, BP_ERR_IO, "writing config: %s", strerror(errno));
    return BP_OK;
}
