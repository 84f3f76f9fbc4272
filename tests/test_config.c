/* Config: defaults, INI loading, --set, hidden widths, errors, validation,
 * writing and the write -> load round trip. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "biopp/config.h"
#include "helpers.h"

/* ---- temp files: one directory per test, removed afterwards ---- */

static char tmpdir[64];
static char written[16][128];
static int n_written;

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/biopp_test_config_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
    n_written = 0;
}

static void teardown(void)
{
    for (int i = 0; i < n_written; i++)
        unlink(written[i]);
    rmdir(tmpdir);
}

TestSuite(config, .init = setup, .fini = teardown);

/* Writes text to a new file in the test's directory; returns its path. */
static const char *tmp_file(const char *name, const char *text)
{
    cr_assert_lt(n_written, 16);
    char *path = written[n_written++];
    snprintf(path, sizeof written[0], "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text as an INI file over the defaults. */
static bp_status load_text(const char *text, bp_config *cfg, bp_error *err, const char **path)
{
    const char *p = tmp_file("t.ini", text);
    if (path)
        *path = p;
    bp_config_defaults(cfg);
    memset(err, 0, sizeof *err);
    return bp_config_load(cfg, p, err);
}

/* Field-by-field equality. */
static void assert_cfg_eq(const bp_config *a, const bp_config *b)
{
    cr_assert_str_eq(a->dataset, b->dataset);
    cr_assert_str_eq(a->data_dir, b->data_dir);
    cr_assert_eq(a->train_size, b->train_size);
    cr_assert_eq(a->n_hidden, b->n_hidden);
    for (int i = 0; i < BP_MAX_HIDDEN; i++)
        cr_assert_eq(a->hidden[i], b->hidden[i], "hidden[%d]: %d vs %d", i, a->hidden[i],
                     b->hidden[i]);
    cr_assert_eq(a->activation, b->activation);
    cr_assert_eq(a->output, b->output);
    cr_assert_eq(a->init, b->init);
    cr_assert_eq(a->rule, b->rule);
    cr_assert(a->alpha == b->alpha, "alpha %.17g vs %.17g", a->alpha, b->alpha);
    cr_assert_eq(a->bdfa_loss, b->bdfa_loss);
    cr_assert_eq(a->bdfa_target, b->bdfa_target);
    cr_assert_eq(a->recon, b->recon);
    cr_assert(a->kp_decay == b->kp_decay, "kp_decay %.17g vs %.17g", a->kp_decay, b->kp_decay);
    cr_assert(a->wm_lr == b->wm_lr, "wm_lr %.17g vs %.17g", a->wm_lr, b->wm_lr);
    cr_assert(a->wm_decay == b->wm_decay, "wm_decay %.17g vs %.17g", a->wm_decay, b->wm_decay);
    cr_assert(a->wm_noise == b->wm_noise, "wm_noise %.17g vs %.17g", a->wm_noise, b->wm_noise);
    cr_assert_eq(a->optimizer, b->optimizer);
    cr_assert(a->lr == b->lr, "lr %.17g vs %.17g", a->lr, b->lr);
    cr_assert(a->feedback_lr == b->feedback_lr, "feedback_lr %.17g vs %.17g", a->feedback_lr,
              b->feedback_lr);
    cr_assert(a->momentum == b->momentum, "momentum %.17g vs %.17g", a->momentum, b->momentum);
    cr_assert(a->beta1 == b->beta1, "beta1 %.17g vs %.17g", a->beta1, b->beta1);
    cr_assert(a->beta2 == b->beta2, "beta2 %.17g vs %.17g", a->beta2, b->beta2);
    cr_assert(a->adam_eps == b->adam_eps, "adam_eps %.17g vs %.17g", a->adam_eps, b->adam_eps);
    cr_assert_eq(a->grad_reduce, b->grad_reduce);
    cr_assert_eq(a->batch, b->batch);
    cr_assert_eq(a->epochs, b->epochs);
    cr_assert_eq(a->seed, b->seed);
    cr_assert_eq(a->threads, b->threads);
    cr_assert_eq(a->device, b->device);
    cr_assert_eq(a->precision, b->precision);
    cr_assert_eq(a->eval_batch, b->eval_batch);
    cr_assert_eq(a->checkpoint_every, b->checkpoint_every);
}

/* bp_config_write to a file in the test directory, then bp_config_load of it
 * over fresh defaults. */
static void round_trip(const bp_config *in, bp_config *out)
{
    char path[128];
    snprintf(path, sizeof path, "%s/rt%d.ini", tmpdir, n_written);
    cr_assert_lt(n_written, 16);
    snprintf(written[n_written++], sizeof written[0], "%s", path);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    bp_error err = {0};
    cr_assert_eq(bp_config_write(in, f, &err), BP_OK, "%s", err.msg);
    fclose(f);
    bp_config_defaults(out);
    cr_assert_eq(bp_config_load(out, path, &err), BP_OK, "%s", err.msg);
}

/* ---------------------------------------------------------------------- */

Test(config, defaults)
{
    bp_config c;
    bp_config_defaults(&c);
    cr_assert_str_eq(c.dataset, "mnist");
    cr_assert_str_eq(c.data_dir, "");
    cr_assert_eq(c.train_size, 50000);
    cr_assert_eq(c.n_hidden, 1);
    cr_assert_eq(c.hidden[0], 800);
    cr_assert_eq(c.hidden[1], 0);
    cr_assert_eq(c.activation, BP_ACT_TANH);
    cr_assert_eq(c.output, BP_OUT_SIGMOID_BCE);
    cr_assert_eq(c.init, BP_INIT_UNIFORM);
    cr_assert_eq(c.rule, BP_RULE_BP);
    cr_assert_eq(c.alpha, 0.0);
    cr_assert_eq(c.bdfa_loss, BP_BDFA_ONE_MINUS_SIGMOID);
    cr_assert_eq(c.bdfa_target, BP_TARGET_MIX);
    cr_assert_eq(c.recon, BP_RECON_IDENTITY);
    cr_assert_eq(c.optimizer, BP_OPT_ADAM);
    cr_assert_eq(c.lr, 1e-4);
    cr_assert_lt(c.feedback_lr, 0.0);
    cr_assert_eq(bp_config_feedback_lr(&c), 1e-4);
    cr_assert_eq(c.momentum, 0.0);
    cr_assert_eq(c.beta1, 0.9);
    cr_assert_eq(c.beta2, 0.999);
    cr_assert_eq(c.adam_eps, 1e-8);
    cr_assert_eq(c.grad_reduce, BP_REDUCE_MEAN);
    cr_assert_eq(c.batch, 128);
    cr_assert_eq(c.epochs, 300);
    cr_assert_eq(c.seed, 1);
    cr_assert_eq(c.threads, 0);
    cr_assert_eq(c.device, BP_DEVICE_CPU);
    cr_assert_eq(c.precision, BP_PREC_FP32);
    cr_assert_eq(c.eval_batch, 1000);
    cr_assert_eq(c.checkpoint_every, 10);
    bp_error err = {0};
    cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s", err.msg);
}

Test(config, load_file)
{
    bp_config c;
    bp_error err;
    const char *text = "; a comment\n"
                       "# another comment\n"
                       "[data]\n"
                       "dataset = cifar10\n"
                       "train_size=40000   ; inline comment\n"
                       "\n"
                       "  [model]\n"
                       "  hidden = 800-400  # hash comment\n"
                       "activation: relu\n"
                       "[rule]\n"
                       "rule = bdfa\n"
                       "alpha = 0.25\n"
                       "[optimizer]\n"
                       "optimizer = sgd\n"
                       "lr = 1e-3\n"
                       "feedback_lr = 5e-5\n"
                       "momentum = 0.9\n"
                       "grad_reduce = sum\n"
                       "[train]\n"
                       "batch = 64\n"
                       "epochs = 0\n"
                       "seed = 18446744073709551615\n"
                       "device = cuda\n"
                       "precision = tf32\r\n";
    cr_assert_eq(load_text(text, &c, &err, NULL), BP_OK, "%s", err.msg);
    cr_assert_str_eq(c.dataset, "cifar10");
    cr_assert_eq(c.train_size, 40000);
    cr_assert_eq(c.n_hidden, 2);
    cr_assert_eq(c.hidden[0], 800);
    cr_assert_eq(c.hidden[1], 400);
    cr_assert_eq(c.activation, BP_ACT_RELU);
    cr_assert_eq(c.rule, BP_RULE_BDFA);
    cr_assert_eq(c.alpha, 0.25);
    cr_assert_eq(c.optimizer, BP_OPT_SGD);
    cr_assert_eq(c.lr, 1e-3);
    cr_assert_eq(c.feedback_lr, 5e-5);
    cr_assert_eq(bp_config_feedback_lr(&c), 5e-5);
    cr_assert_eq(c.momentum, 0.9);
    cr_assert_eq(c.grad_reduce, BP_REDUCE_SUM);
    cr_assert_eq(c.batch, 64);
    cr_assert_eq(c.epochs, 0);
    cr_assert_eq(c.seed, UINT64_MAX);
    cr_assert_eq(c.device, BP_DEVICE_CUDA);
    cr_assert_eq(c.precision, BP_PREC_TF32);
    /* untouched keys keep their defaults */
    cr_assert_eq(c.eval_batch, 1000);
    cr_assert_eq(c.output, BP_OUT_SIGMOID_BCE);
    cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s", err.msg);
}

Test(config, load_over_existing_values)
{
    bp_config c;
    bp_config_defaults(&c);
    c.batch = 7;
    const char *p = tmp_file("a.ini", "[train]\nepochs = 5\n");
    bp_error err = {0};
    cr_assert_eq(bp_config_load(&c, p, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(c.batch, 7);
    cr_assert_eq(c.epochs, 5);
}

Test(config, keys_before_any_section)
{
    bp_config c;
    bp_error err;
    cr_assert_eq(load_text("rule = fa\nlr = 0.5\n[train]\nbatch = 10\n", &c, &err, NULL), BP_OK,
                 "%s", err.msg);
    cr_assert_eq(c.rule, BP_RULE_FA);
    cr_assert_eq(c.lr, 0.5);
    cr_assert_eq(c.batch, 10);
}

Test(config, utf8_bom)
{
    bp_config c;
    bp_error err;
    cr_assert_eq(load_text("\xEF\xBB\xBF[train]\nbatch = 10\n", &c, &err, NULL), BP_OK, "%s",
                 err.msg);
    cr_assert_eq(c.batch, 10);
}

/* Non-default value for every key; the test fails when a key is added to the
 * table without an entry here. */
static const char *const every_key[][2] = {
    {"dataset", "fashion-mnist"}, {"data_dir", "/srv/data sets/mnist"},
    {"train_size", "45000"},      {"valid_size", "2500"},
    {"hidden", "1000-500-20"},
    {"activation", "sigmoid"},    {"output", "softmax_ce"},
    {"init", "paper_code"},       {"rule", "bdfa"},
    {"alpha", "0.30000000000000004"}, {"bdfa_loss", "neg_log_sigmoid"},
    {"bdfa_target", "paper_code"}, {"recon", "sigmoid_bce"},
    {"kp_decay", "0.0025"},       {"wm_lr", "0.5"},
    {"wm_decay", "0.125"},        {"wm_noise", "0.2"},
    {"optimizer", "sgd"},         {"lr", "0.1"},
    {"feedback_lr", "3.3333333333333335e-05"}, {"momentum", "0.95"},
    {"beta1", "0.85"},            {"beta2", "0.9999"},
    {"adam_eps", "1e-7"},         {"grad_reduce", "sum"},
    {"batch", "100"},             {"epochs", "2"},
    {"seed", "12345678901234567890"}, {"threads", "3"},
    {"device", "cuda"},           {"precision", "tf32"},
    {"eval_batch", "500"},        {"checkpoint_every", "0"},
    {"align_every", "100"},       {"align_log", "1"},
};
#define N_EVERY ((int)(sizeof every_key / sizeof every_key[0]))

Test(config, every_key_round_trips)
{
    cr_assert_eq(bp_config_key_count(), N_EVERY, "key table has %d keys, test lists %d",
                 bp_config_key_count(), N_EVERY);
    bp_config in, out, def;
    bp_config_defaults(&in);
    bp_config_defaults(&def);
    bp_error err = {0};
    for (int i = 0; i < N_EVERY; i++)
        cr_assert_eq(bp_config_set(&in, every_key[i][0], every_key[i][1], "test", &err), BP_OK,
                     "%s", err.msg);
    for (int i = 0; i < bp_config_key_count(); i++) {
        const char *key = bp_config_key_name(i);
        bool listed = false;
        for (int j = 0; j < N_EVERY; j++)
            listed = listed || strcmp(every_key[j][0], key) == 0;
        cr_assert(listed, "key %s not covered by the round-trip test", key);
        /* every value differs from its default */
        char a[256], b[256];
        cr_assert_eq(bp_config_get(&in, key, a, sizeof a, &err), BP_OK, "%s", err.msg);
        cr_assert_eq(bp_config_get(&def, key, b, sizeof b, &err), BP_OK, "%s", err.msg);
        cr_assert_str_neq(a, b, "%s: test value equals the default", key);
    }
    /* Valid, though rule = bdfa does not read the keys of kp and wm (they
     * only get warnings). The file round trip keeps them all. */
    cr_assert_eq(bp_config_validate(&in, &err), BP_OK, "%s", err.msg);
    round_trip(&in, &out);
    assert_cfg_eq(&in, &out);
    cr_assert_eq(memcmp(&in, &out, sizeof in), 0);
    cr_assert_eq(in.alpha, 0.1 + 0.2);
    cr_assert_eq(in.feedback_lr, 1e-4 / 3);
}

Test(config, defaults_round_trip)
{
    bp_config in, out;
    bp_config_defaults(&in);
    round_trip(&in, &out);
    assert_cfg_eq(&in, &out);
    cr_assert_eq(memcmp(&in, &out, sizeof in), 0);
}

Test(config, awkward_doubles_round_trip)
{
    const double vals[] = {1.0 / 3, 0.1, 1e-300, 123456789.123456789, 2.5e-17, 0.9999999999999999};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        bp_config in, out;
        bp_config_defaults(&in);
        in.lr = vals[i];
        in.adam_eps = vals[i];
        round_trip(&in, &out);
        cr_assert(out.lr == vals[i], "lr %.17g read back as %.17g", vals[i], out.lr);
        cr_assert(out.adam_eps == vals[i]);
    }
}

Test(config, long_data_dir_round_trips)
{
    /* longer than inih's line buffer */
    bp_config in, out;
    bp_config_defaults(&in);
    memset(in.data_dir, 0, sizeof in.data_dir);
    for (int i = 0; i < 700; i++)
        in.data_dir[i] = (char)('a' + i % 26);
    in.data_dir[0] = '/';
    round_trip(&in, &out);
    cr_assert_str_eq(out.data_dir, in.data_dir);
    assert_cfg_eq(&in, &out);
}

Test(config, odd_data_dir_round_trips)
{
    bp_config in, out;
    bp_config_defaults(&in);
    snprintf(in.data_dir, sizeof in.data_dir, "/data sets/a;b#c=d:e[f]");
    round_trip(&in, &out);
    cr_assert_str_eq(out.data_dir, in.data_dir);
}

Test(config, write_has_sections_and_every_key)
{
    bp_config c;
    bp_config_defaults(&c);
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    bp_error err = {0};
    cr_assert_eq(bp_config_write(&c, f, &err), BP_OK, "%s", err.msg);
    fclose(f);
    cr_assert_eq(buf[0], '#', "header comment first");
    th_assert_has(buf, "[data]\n");
    th_assert_has(buf, "[model]\nhidden = 1x800\n");
    th_assert_has(buf, "[optimizer]\n");
    th_assert_has(buf, "feedback_lr = same\n");
    for (int i = 0; i < bp_config_key_count(); i++) {
        char line[64];
        snprintf(line, sizeof line, "\n%s =", bp_config_key_name(i));
        th_assert_has(buf, line);
    }
    free(buf);
}

Test(config, write_refuses_unrepresentable_string)
{
    bp_config c;
    bp_config_defaults(&c);
    snprintf(c.data_dir, sizeof c.data_dir, "/data #1");
    FILE *f = fopen("/dev/null", "w");
    bp_error err = {0};
    cr_assert_eq(bp_config_write(&c, f, &err), BP_ERR_CONFIG);
    fclose(f);
    th_assert_has(err.msg, "data_dir");
    th_assert_has(err.msg, "comment");
}

Test(config, override)
{
    bp_config c;
    bp_config_defaults(&c);
    bp_error err = {0};
    cr_assert_eq(bp_config_override(&c, "lr=1e-3", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(c.lr, 1e-3);
    cr_assert_eq(bp_config_override(&c, " batch = 64 ", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(c.batch, 64);
    cr_assert_eq(bp_config_override(&c, "hidden=3x400", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(c.n_hidden, 3);
    cr_assert_eq(c.hidden[2], 400);
    cr_assert_eq(bp_config_override(&c, "feedback_lr=5e-5", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(c.feedback_lr, 5e-5);
    cr_assert_eq(bp_config_override(&c, "feedback_lr=same", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(c.feedback_lr, -1.0);
    cr_assert_eq(bp_config_feedback_lr(&c), 1e-3);
    cr_assert_eq(bp_config_override(&c, "data_dir=/x=y", &err), BP_OK, "%s", err.msg);
    cr_assert_str_eq(c.data_dir, "/x=y");
    cr_assert_eq(bp_config_override(&c, "data_dir=", &err), BP_OK, "%s", err.msg);
    cr_assert_str_eq(c.data_dir, "");
}

Test(config, override_errors)
{
    bp_config c, before;
    bp_config_defaults(&c);
    before = c;
    bp_error err = {0};
    cr_assert_eq(bp_config_override(&c, "lr", &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "key=value");
    cr_assert_eq(bp_config_override(&c, "=3", &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "missing key");
    cr_assert_eq(bp_config_override(&c, "lrr=3", &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "--set");
    th_assert_has(err.msg, "'lrr'");
    th_assert_has(err.msg, "feedback_lr"); /* lists the valid keys */
    cr_assert_eq(bp_config_override(&c, "rule=bp,fa", &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "biopp sweep");
    cr_assert_eq(bp_config_override(&c, "lr=abc", &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "--set: lr = 'abc': not a number");
    cr_assert_eq(bp_config_override(&c, "batch=-1", &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "batch");
    th_assert_has(err.msg, "out of range");
    /* failures leave the config as it was */
    assert_cfg_eq(&c, &before);
}

/* ---- hidden widths ---- */

typedef struct {
    const char *text;
    int n;
    int w[4];
    const char *canonical;
} hidden_case;

Test(config, hidden_good)
{
    static const hidden_case cases[] = {
        {"800", 1, {800}, "1x800"},
        {"1x800", 1, {800}, "1x800"},
        {"2x800", 2, {800, 800}, "2x800"},
        {"3x400", 3, {400, 400, 400}, "3x400"},
        {"800-400", 2, {800, 400}, "800-400"},
        {"400-400", 2, {400, 400}, "2x400"},
        {"5-4-3-2", 4, {5, 4, 3, 2}, "5-4-3-2"},
        {"1x1", 1, {1}, "1x1"},
        {"1000000", 1, {1000000}, "1x1000000"},
        {"007", 1, {7}, "1x7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = -1, w[BP_MAX_HIDDEN];
        memset(w, 0x55, sizeof w);
        bp_error err = {0};
        cr_assert_eq(bp_parse_hidden(cases[i].text, &n, w, &err), BP_OK, "'%s': %s",
                     cases[i].text, err.msg);
        cr_assert_eq(n, cases[i].n, "'%s': %d layers", cases[i].text, n);
        for (int j = 0; j < n; j++)
            cr_assert_eq(w[j], cases[i].w[j], "'%s'[%d] = %d", cases[i].text, j, w[j]);
        for (int j = n; j < BP_MAX_HIDDEN; j++)
            cr_assert_eq(w[j], 0, "'%s': unused entry %d not zeroed", cases[i].text, j);
        char buf[64];
        bp_format_hidden(n, w, buf, sizeof buf);
        cr_assert_str_eq(buf, cases[i].canonical);
    }
    int n, w[BP_MAX_HIDDEN];
    cr_assert_eq(bp_parse_hidden("16x10", &n, w, NULL), BP_OK);
    cr_assert_eq(n, BP_MAX_HIDDEN);
    cr_assert_eq(bp_parse_hidden("1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", &n, w, NULL), BP_OK);
    cr_assert_eq(w[15], 16);
}

Test(config, hidden_bad)
{
    static const char *const bad[] = {
        "",          "0x800",   "2x",       "x800",      "800-",     "2x800-400", "2 x800",
        " 800",      "800 ",    "2x 800",   "17x10",     "1x0",      "0",         "1x1000001",
        "1000001",   "-800",    "800--400", "800-0",     "8a",       "2X800",     "1e3",
        "800,400",   "abc",     "2x3x4",    "99999999999999999999x1", "1x99999999999999999999",
        "1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16-17", "+800",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = 77, w[BP_MAX_HIDDEN] = {0};
        bp_error err = {0};
        cr_assert_eq(bp_parse_hidden(bad[i], &n, w, &err), BP_ERR_CONFIG, "'%s' accepted",
                     bad[i]);
        cr_assert_eq(n, 77, "'%s': output written on failure", bad[i]);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", bad[i]);
        th_assert_has(err.msg, quoted);
    }
}

Test(config, format_hidden)
{
    char buf[64];
    int w[] = {800, 400, 400};
    bp_format_hidden(1, w, buf, sizeof buf);
    cr_assert_str_eq(buf, "1x800");
    bp_format_hidden(2, w, buf, sizeof buf);
    cr_assert_str_eq(buf, "800-400");
    bp_format_hidden(2, w + 1, buf, sizeof buf);
    cr_assert_str_eq(buf, "2x400");
    bp_format_hidden(3, w, buf, sizeof buf);
    cr_assert_str_eq(buf, "800-400-400");
}

/* ---- file errors name file and line ---- */

Test(config, unknown_key_names_file_line_and_key)
{
    bp_config c;
    bp_error err;
    const char *path;
    cr_assert_eq(load_text("[data]\ndataset = mnist\nfoo = 1\n", &c, &err, &path), BP_ERR_CONFIG);
    th_assert_has(err.msg, path);
    th_assert_has(err.msg, ":3:");
    th_assert_has(err.msg, "'foo'");
    th_assert_has(err.msg, "train_size"); /* the valid keys of [data] */
    cr_assert_null(strstr(err.msg, "epochs"), "lists keys of other sections: %s", err.msg);
}

Test(config, bad_number_names_line)
{
    bp_config c;
    bp_error err;
    const char *path;
    cr_assert_eq(load_text("[optimizer]\n\nlr = abc\n", &c, &err, &path), BP_ERR_CONFIG);
    th_assert_has(err.msg, path);
    th_assert_has(err.msg, ":3: lr = 'abc': not a number (expected a positive number");
    cr_assert_eq(load_text("[train]\nbatch = 12.5\n", &c, &err, NULL), BP_ERR_CONFIG);
    th_assert_has(err.msg, ":2: batch = '12.5': not an integer");
}

Test(config, strict_numbers)
{
    static const char *const bad[][2] = {
        {"lr", "abc"},     {"lr", "1e-4x"}, {"lr", ""},      {"lr", "nan"},
        {"lr", "inf"},     {"lr", "-inf"},  {"lr", "0"},     {"lr", "-1e-4"},
        {"lr", "1e-400"},  {"lr", "1e400"}, {"lr", "1 e-4"}, {"alpha", "-0.1"},
        {"momentum", "1"}, {"beta1", "-0.1"}, {"beta2", "1.0"}, {"adam_eps", "0"},
        {"feedback_lr", "0"}, {"feedback_lr", "Same"}, {"batch", "0"}, {"batch", "1e3"},
        {"batch", "0x10"}, {"batch", ""},    {"batch", "3000000000"}, {"epochs", "-1"},
        {"seed", "-1"},    {"seed", "18446744073709551616"}, {"seed", "1.0"},
        {"threads", "-2"}, {"eval_batch", "0"}, {"train_size", "0"},
        {"checkpoint_every", "-1"}, {"rule", "BP"}, {"dataset", "mnist2"},
        {"device", "gpu"}, {"activation", "identity"},
        /* strict forms (issue 11): no '+', hex, hex floats or words */
        {"batch", "+5"},   {"seed", "+5"},   {"lr", "+1e-3"},  {"lr", "0x10"},
        {"lr", "0x1p-4"},  {"seed", "0x10"}, {"lr", "infinity"}, {"lr", "NaN"},
        {"lr", "1e"},      {"lr", "."},      {"lr", "1e-3 "  "x"}, {"epochs", "3 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bp_config c, before;
        bp_config_defaults(&c);
        before = c;
        bp_error err = {0};
        cr_assert_eq(bp_config_set(&c, bad[i][0], bad[i][1], "x.ini:9", &err), BP_ERR_CONFIG,
                     "%s = '%s' accepted", bad[i][0], bad[i][1]);
        char expect[128];
        snprintf(expect, sizeof expect, "x.ini:9: %s = '%s': ", bad[i][0], bad[i][1]);
        th_assert_has(err.msg, expect);
        assert_cfg_eq(&c, &before);
    }
    static const char *const good[][2] = {
        {"lr", "1e-4"}, {"lr", " 0.5 "}, {"lr", ".5"}, {"lr", "5."}, {"alpha", "0"},
        {"momentum", "0.999"}, {"batch", "5"}, {"epochs", "0"}, {"seed", "0"},
        {"threads", "0"}, {"checkpoint_every", "0"}, {"feedback_lr", "same"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        bp_config c;
        bp_config_defaults(&c);
        bp_error err = {0};
        cr_assert_eq(bp_config_set(&c, good[i][0], good[i][1], "x", &err), BP_OK, "%s",
                     err.msg);
    }
}

Test(config, bad_hidden_names_line)
{
    bp_config c;
    bp_error err;
    cr_assert_eq(load_text("[model]\nactivation = tanh\nhidden = 2x\n", &c, &err, NULL),
                 BP_ERR_CONFIG);
    th_assert_has(err.msg, ":3:");
    th_assert_has(err.msg, "hidden = '2x'");
}

Test(config, wrong_section)
{
    bp_config c;
    bp_error err;
    cr_assert_eq(load_text("[train]\nlr = 1e-3\n", &c, &err, NULL), BP_ERR_CONFIG);
    th_assert_has(err.msg, ":2:");
    th_assert_has(err.msg, "'lr' belongs in [optimizer], not [train]");
    bp_config_defaults(&c);
    cr_assert_eq(bp_config_set_at(&c, "train", "lr", "1", "w", &err), BP_ERR_CONFIG);
    cr_assert_eq(bp_config_set_at(&c, "optimizer", "lr", "1", "w", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_config_set_at(&c, NULL, "lr", "2", "w", &err), BP_OK, "%s", err.msg);
    cr_assert_eq(c.lr, 2.0);
}

Test(config, unknown_section)
{
    bp_config c;
    bp_error err;
    cr_assert_eq(load_text("[data]\n[trainer]\nbatch = 1\n", &c, &err, NULL), BP_ERR_CONFIG);
    th_assert_has(err.msg, ":2: unknown section [trainer]");
    th_assert_has(err.msg, "[optimizer]");
    /* an empty unknown section is still an error */
    cr_assert_eq(load_text("[extra]\n", &c, &err, NULL), BP_ERR_CONFIG);
    th_assert_has(err.msg, ":1:");
}

Test(config, list_value_rejected)
{
    bp_config c;
    bp_error err;
    cr_assert_eq(load_text("[rule]\nrule = bp, fa\n", &c, &err, NULL), BP_ERR_CONFIG);
    th_assert_has(err.msg, ":2:");
    th_assert_has(err.msg, "lists are for `biopp sweep`");
}

Test(config, syntax_errors_name_line)
{
    bp_config c;
    bp_error err;
    cr_assert_eq(load_text("[train]\nbatch = 1\nepochs\n", &c, &err, NULL), BP_ERR_CONFIG);
    th_assert_has(err.msg, ":3:");
    th_assert_has(err.msg, "key = value");
    cr_assert_eq(load_text("[train\n", &c, &err, NULL), BP_ERR_CONFIG);
    th_assert_has(err.msg, ":1:");
    th_assert_has(err.msg, "']'");
    cr_assert_eq(load_text("[train]\n= 5\n", &c, &err, NULL), BP_ERR_CONFIG);
    th_assert_has(err.msg, ":2:");
}

Test(config, duplicate_key)
{
    bp_config c;
    bp_error err;
    cr_assert_eq(load_text("[train]\nbatch = 1\n\nbatch = 2\n", &c, &err, NULL), BP_ERR_CONFIG);
    th_assert_has(err.msg, ":4:");
    th_assert_has(err.msg, "line 2");
}

Test(config, failed_load_leaves_config_unchanged)
{
    bp_config c, before;
    bp_error err;
    const char *p = tmp_file("b.ini", "[train]\nbatch = 3\nepochs = x\n");
    bp_config_defaults(&c);
    before = c;
    cr_assert_eq(bp_config_load(&c, p, &err), BP_ERR_CONFIG);
    assert_cfg_eq(&c, &before);
    cr_assert_eq(bp_config_load(&c, p, NULL), BP_ERR_CONFIG); /* NULL err is fine */
}

Test(config, missing_file)
{
    bp_config c;
    bp_config_defaults(&c);
    bp_error err = {0};
    char path[128];
    snprintf(path, sizeof path, "%s/no_such_file.ini", tmpdir);
    cr_assert_eq(bp_config_load(&c, path, &err), BP_ERR_IO);
    th_assert_has(err.msg, path);
    cr_assert_eq(bp_config_load(&c, tmpdir, &err), BP_ERR_IO, "a directory: %s", err.msg);
    th_assert_has(err.msg, tmpdir);
}

/* ---- validation ---- */

/* The warning of one unused key, or NULL. */
static const char *unused_warning(const bp_config *c, const bp_config_origin *o,
                                  bp_config_warnings *w, const char *key)
{
    bp_config_unused_keys(c, o, w);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->w[i].key, key)) return w->w[i].msg;
    return NULL;
}

/* A key that the rule or optimizer does not read is valid but warned about
 * (issue 11; alpha, kp_decay and wm_* under another rule used to be errors):
 * the warning names the key, its value, what reads it and where it was set. */
Test(config, validate_cross_key)
{
    bp_config c;
    bp_error err = {0};
    bp_config_warnings w;
    bp_config_defaults(&c);
    cr_assert_eq(bp_config_unused_keys(&c, NULL, &w), 0, "defaults: %s", w.w[0].msg);
    c.alpha = 0.25;
    cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s", err.msg);
    const char *msg = unused_warning(&c, NULL, &w, "alpha");
    cr_assert(msg, "no warning for alpha with rule = bp");
    th_assert_has(msg, "alpha = 0.25 has no effect: only rule = bdfa uses it (rule is bp)");
    c.rule = BP_RULE_BDFA;
    cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s", err.msg);
    cr_assert_null(unused_warning(&c, NULL, &w, "alpha"));

    /* The keys of kp and wm: warned about under any other rule, away from
     * the default; at the default they are silent. */
    static const struct {
        size_t off;
        const char *name;
        bp_rule_id rule;
    } scoped[] = {
        {offsetof(bp_config, kp_decay), "kp_decay", BP_RULE_KP},
        {offsetof(bp_config, wm_lr), "wm_lr", BP_RULE_WM},
        {offsetof(bp_config, wm_decay), "wm_decay", BP_RULE_WM},
        {offsetof(bp_config, wm_noise), "wm_noise", BP_RULE_WM},
    };
    for (size_t i = 0; i < sizeof scoped / sizeof scoped[0]; i++) {
        bp_config_defaults(&c);
        c.rule = BP_RULE_FA;
        cr_assert_null(unused_warning(&c, NULL, &w, scoped[i].name));
        *(double *)((char *)&c + scoped[i].off) = 0.0625;
        cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s", err.msg);
        msg = unused_warning(&c, NULL, &w, scoped[i].name);
        cr_assert(msg, "no warning for %s", scoped[i].name);
        th_assert_has(msg, "= 0.0625 has no effect: only rule = ");
        th_assert_has(msg, bp_rule_name(scoped[i].rule));
        c.rule = scoped[i].rule;
        cr_assert_null(unused_warning(&c, NULL, &w, scoped[i].name));
    }

    /* Optimizer keys, and where the key was set. */
    bp_config_origin o;
    memset(&o, 0, sizeof o);
    bp_config_defaults(&c);
    cr_assert_eq(bp_config_override_traced(&c, "momentum=0.9", &o, &err), BP_OK, "%s", err.msg);
    msg = unused_warning(&c, &o, &w, "momentum");
    cr_assert(msg);
    th_assert_has(msg, "--set: momentum = 0.9 has no effect: only optimizer = sgd uses it "
                       "(optimizer is adam)");
    c.optimizer = BP_OPT_SGD;
    cr_assert_null(unused_warning(&c, &o, &w, "momentum"));
    c.beta2 = 0.5;
    cr_assert(unused_warning(&c, &o, &w, "beta2"));
    cr_assert_eq(w.n, 1, "only beta2: %s", w.w[0].msg);
    bp_config_defaults(&c);
    c.feedback_lr = 1e-3;
    cr_assert(unused_warning(&c, NULL, &w, "feedback_lr"));
    c.rule = BP_RULE_KP;
    cr_assert_null(unused_warning(&c, NULL, &w, "feedback_lr"));

    bp_config_defaults(&c);
    c.train_size = 100;
    c.batch = 101;
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "batch = 101");
    th_assert_has(err.msg, "train_size = 100");
    c.batch = 100;
    cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s", err.msg);

    bp_config_defaults(&c);
    c.precision = BP_PREC_TF32;
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "tf32");
    c.device = BP_DEVICE_CUDA;
    cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s", err.msg);

    bp_config_defaults(&c);
    c.optimizer = BP_OPT_ADAM;
    c.momentum = 0.9; /* ignored by Adam: allowed, with a warning */
    cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s", err.msg);
}

Test(config, validate_single_keys)
{
    bp_config c;
    bp_error err = {0};
    bp_config_defaults(&c);
    c.lr = 0;
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "lr = '0'");
    bp_config_defaults(&c);
    c.lr = NAN;
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    bp_config_defaults(&c);
    c.n_hidden = 0;
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "hidden");
    bp_config_defaults(&c);
    c.n_hidden = BP_MAX_HIDDEN + 1;
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    bp_config_defaults(&c);
    c.hidden[0] = 0;
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    bp_config_defaults(&c);
    c.activation = BP_ACT_IDENTITY; /* not a hidden-layer choice */
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "activation");
    bp_config_defaults(&c);
    c.rule = (bp_rule_id)42;
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "rule");
    bp_config_defaults(&c);
    snprintf(c.dataset, sizeof c.dataset, "svhn");
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "svhn");
    bp_config_defaults(&c);
    c.batch = 0;
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    bp_config_defaults(&c);
    snprintf(c.data_dir, sizeof c.data_dir, "/a,b");
    cr_assert_eq(bp_config_validate(&c, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "data_dir");
    snprintf(c.data_dir, sizeof c.data_dir, "/data sets/a;b#c");
    cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s", err.msg);
}

/* ---- key table and names ---- */

Test(config, key_table)
{
    int n = bp_config_key_count();
    cr_assert_eq(n, 35);
    cr_assert_null(bp_config_key_name(-1));
    cr_assert_null(bp_config_key_name(n));
    for (int i = 0; i < n; i++) {
        const char *k = bp_config_key_name(i);
        cr_assert_not_null(k);
        cr_assert_not_null(bp_config_key_section(k), "%s has no section", k);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(k, bp_config_key_name(j), "duplicate key %s", k);
    }
    cr_assert_str_eq(bp_config_key_section("lr"), "optimizer");
    cr_assert_str_eq(bp_config_key_section("hidden"), "model");
    cr_assert_str_eq(bp_config_key_section("alpha"), "rule");
    cr_assert_str_eq(bp_config_key_section("seed"), "train");
    cr_assert_str_eq(bp_config_key_section("dataset"), "data");
    cr_assert_null(bp_config_key_section("lrr"));
    cr_assert_null(bp_config_key_section(NULL));
}

Test(config, get)
{
    bp_config c;
    bp_config_defaults(&c);
    bp_error err = {0};
    char buf[64];
    cr_assert_eq(bp_config_get(&c, "lr", buf, sizeof buf, &err), BP_OK);
    cr_assert_str_eq(buf, "0.0001");
    cr_assert_eq(bp_config_get(&c, "hidden", buf, sizeof buf, &err), BP_OK);
    cr_assert_str_eq(buf, "1x800");
    cr_assert_eq(bp_config_get(&c, "feedback_lr", buf, sizeof buf, &err), BP_OK);
    cr_assert_str_eq(buf, "same");
    cr_assert_eq(bp_config_get(&c, "rule", buf, sizeof buf, &err), BP_OK);
    cr_assert_str_eq(buf, "bp");
    cr_assert_eq(bp_config_get(&c, "seed", buf, sizeof buf, &err), BP_OK);
    cr_assert_str_eq(buf, "1");
    cr_assert_eq(bp_config_get(&c, "data_dir", buf, sizeof buf, &err), BP_OK);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(bp_config_get(&c, "nope", buf, sizeof buf, &err), BP_ERR_CONFIG);
    th_assert_has(err.msg, "nope");
    cr_assert_eq(bp_config_get(&c, "optimizer", buf, 3, &err), BP_ERR_ARG);
    /* get -> set is the identity for every key */
    for (int i = 0; i < bp_config_key_count(); i++) {
        const char *k = bp_config_key_name(i);
        bp_config d;
        bp_config_defaults(&d);
        cr_assert_eq(bp_config_get(&c, k, buf, sizeof buf, &err), BP_OK, "%s", err.msg);
        cr_assert_eq(bp_config_set(&d, k, buf, "get", &err), BP_OK, "%s", err.msg);
    }
}

Test(config, names)
{
    cr_assert_str_eq(bp_rule_name(BP_RULE_BDFA), "bdfa");
    cr_assert_str_eq(bp_rule_name(BP_RULE_USF), "usf");
    cr_assert_str_eq(bp_rule_name(BP_RULE_BRSF), "brsf");
    cr_assert_str_eq(bp_rule_name(BP_RULE_FRSF), "frsf");
    cr_assert_str_eq(bp_rule_name(BP_RULE_KP), "kp");
    cr_assert_str_eq(bp_rule_name(BP_RULE_WM), "wm");
    cr_assert_str_eq(bp_rule_name(BP_RULE_FA), "fa");
    cr_assert_str_eq(bp_act_name(BP_ACT_IDENTITY), "identity");
    cr_assert_str_eq(bp_act_name(BP_ACT_RELU), "relu");
    cr_assert_str_eq(bp_output_name(BP_OUT_SOFTMAX_CE), "softmax_ce");
    cr_assert_str_eq(bp_optimizer_name(BP_OPT_SGD), "sgd");
    cr_assert_str_eq(bp_reduce_name(BP_REDUCE_SUM), "sum");
    cr_assert_str_eq(bp_init_name(BP_INIT_PAPER_CODE), "paper_code");
    cr_assert_str_eq(bp_bdfa_loss_name(BP_BDFA_NEG_LOG_SIGMOID), "neg_log_sigmoid");
    cr_assert_str_eq(bp_bdfa_target_name(BP_TARGET_MIX), "mix");
    cr_assert_str_eq(bp_recon_name(BP_RECON_SIGMOID_BCE), "sigmoid_bce");
    cr_assert_str_eq(bp_device_name(BP_DEVICE_CUDA), "cuda");
    cr_assert_str_eq(bp_precision_name(BP_PREC_TF32), "tf32");
    cr_assert_str_eq(bp_rule_name((bp_rule_id)99), "unknown");
}

/* The shipped configs load and validate (run from the repository root). */
Test(config, shipped_configs_load)
{
    static const char *const files[] = {
        "configs/mnist.ini",
        "configs/paper/mnist_bp.ini",       "configs/paper/mnist_fa.ini",
        "configs/paper/mnist_dfa.ini",      "configs/paper/mnist_bfa.ini",
        "configs/paper/mnist_bdfa.ini",     "configs/paper/cifar10_bp.ini",
        "configs/paper/cifar10_fa.ini",     "configs/paper/cifar10_dfa.ini",
        "configs/paper/cifar10_bfa.ini",    "configs/paper/cifar10_bdfa.ini",
        "configs/paper/code/mnist_bdfa.ini", "configs/paper/code/cifar10_bdfa.ini",
        "configs/quick/mnist_bp.ini",       "configs/quick/mnist_fa.ini",
        "configs/quick/mnist_dfa.ini",      "configs/quick/mnist_bfa.ini",
        "configs/quick/mnist_bdfa.ini",
    };
    if (access("configs/mnist.ini", R_OK) != 0)
        cr_skip_test("not run from the repository root");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        bp_config c;
        bp_config_defaults(&c);
        bp_error err = {0};
        cr_assert_eq(bp_config_load(&c, files[i], &err), BP_OK, "%s", err.msg);
        cr_assert_eq(bp_config_validate(&c, &err), BP_OK, "%s: %s", files[i], err.msg);
        cr_assert_str_eq(c.data_dir, "", "%s sets data_dir", files[i]);
    }
    bp_config c;
    bp_config_defaults(&c);
    cr_assert_eq(bp_config_load(&c, "configs/paper/code/cifar10_bdfa.ini", NULL), BP_OK);
    cr_assert_eq(c.optimizer, BP_OPT_SGD);
    cr_assert_eq(c.grad_reduce, BP_REDUCE_SUM);
    cr_assert_eq(c.init, BP_INIT_PAPER_CODE);
    cr_assert_eq(c.bdfa_loss, BP_BDFA_NEG_LOG_SIGMOID);
    cr_assert_eq(c.bdfa_target, BP_TARGET_PAPER_CODE);
    cr_assert_eq(c.feedback_lr, 5e-5);
    cr_assert_eq(c.alpha, 0.25);
    bp_config d;
    bp_config_defaults(&d);
    cr_assert_eq(bp_config_load(&d, "configs/mnist.ini", NULL), BP_OK);
    bp_config_defaults(&c);
    assert_cfg_eq(&c, &d); /* configs/mnist.ini is the defaults */
}
