/* The command line (issue 11): one option parser for every command, help
 * and exit statuses, `biopp keys`, --print-config, strict numbers, and
 * warnings for keys that have no effect. Through the binary; nothing here
 * trains or needs data. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "biopp/config.h"
#include "helpers.h"

static const char *const commands[] = {"train", "sweep", "eval",  "export", "generate",
                                       "plot",  "merge", "slurm", "keys"};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void remove_dir(char *dir)
{
    th_sh(NULL, "rm -rf '%s'", dir);
    free(dir);
}

/* ---- the option parser ------------------------------------------------ */

Test(cli_args, options_take_equals_and_short_forms)
{
    char *out;
    int rc = th_sh(&out, "%s train --config=configs/quick/mnist_bp.ini --set=lr=0.5 "
                         "--print-config", th_bin());
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "lr = 0.5\n");
    free(out);
    rc = th_sh(&out, "%s train -c configs/quick/mnist_bp.ini --print-config", th_bin());
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "[optimizer]");
    free(out);
    rc = th_sh(&out, "%s sweep -c configs/quick/sweep.ini --dry-run", th_bin());
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "(dry run: nothing trained)");
    free(out);
    rc = th_sh(&out, "%s eval --run=/nonexistent/run", th_bin());
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "/nonexistent/run");
    free(out);
    /* a flag takes no value */
    rc = th_sh(&out, "%s train -c configs/quick/mnist_bp.ini --resume=yes", th_bin());
    cr_expect_eq(rc, 2, "%s", out);
    th_assert_has(out, "--resume takes no value");
    free(out);
}

Test(cli_args, missing_value_is_a_usage_error)
{
    static const char *const cases[][3] = {
        {"train", "--config", "biopp train: --config needs a value (FILE)"},
        {"train", "-c", "biopp train: -c needs a value (FILE)"},
        {"train", "--config --out /tmp/x", "biopp train: --config needs a value (FILE)"},
        {"train", "--config=", "biopp train: --config needs a value (FILE)"},
        {"train", "-c configs/mnist.ini --set", "biopp train: --set needs a value (key=value)"},
        {"sweep", "-c configs/quick/sweep.ini --out", "biopp sweep: --out needs a value (DIR)"},
        {"sweep", "-c configs/quick/sweep.ini --jobs", "biopp sweep: --jobs needs a value (J)"},
        {"eval", "--run", "biopp eval: --run needs a value (DIR)"},
        {"export", "--run d --out", "biopp export: --out needs a value (FILE)"},
        {"generate", "--run d --out x.png --scale", "biopp generate: --scale needs a value (N)"},
        {"plot", "d --out", "biopp plot: --out needs a value (FOLDER)"},
        {"slurm", "-c configs/quick/sweep.ini --out d --shards",
         "biopp slurm: --shards needs a value (N)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        int rc = th_sh(&out, "%s %s %s", th_bin(), cases[i][0], cases[i][1]);
        cr_expect_eq(rc, 2, "%s %s: exit %d\n%s", cases[i][0], cases[i][1], rc, out);
        th_assert_has(out, cases[i][2]);
        free(out);
    }
}

Test(cli_args, any_number_of_sets)
{
    /* 200 --set: the last one wins (there used to be a limit of 64) */
    size_t cap = 200 * 24 + 256;
    char *args = malloc(cap);
    cr_assert_not_null(args);
    args[0] = '\0';
    for (int i = 1; i <= 200; i++)
        snprintf(args + strlen(args), cap - strlen(args), " --set seed=%d", i);
    char *out;
    int rc = th_sh(&out, "%s train -c configs/quick/mnist_bp.ini%s --print-config", th_bin(),
                   args);
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "seed = 200\n");
    free(out);
    rc = th_sh(&out, "%s sweep -c configs/quick/sweep.ini%s --print-config", th_bin(), args);
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "seed = 200 ");
    free(out);
    free(args);
}

Test(cli_args, set_without_equals_is_a_usage_error)
{
    static const char *const cases[][2] = {
        {"train", "-c configs/mnist.ini --set rule"},
        {"sweep", "-c configs/quick/sweep.ini --dry-run --set rule"},
        {"eval", "--run d --set rule"},
        {"generate", "--run d --out x.png --set rule"},
        {"slurm", "-c configs/quick/sweep.ini --out d --shards 2 --set rule"},
        {"train", "-c configs/mnist.ini --set =3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out;
        int rc = th_sh(&out, "%s %s %s", th_bin(), cases[i][0], cases[i][1]);
        cr_expect_eq(rc, 2, "%s %s: exit %d\n%s", cases[i][0], cases[i][1], rc, out);
        th_assert_has(out, "expected key=value");
        th_assert_has(out, strstr(cases[i][1], "=3") ? "'=3'" : "--set 'rule'");
        free(out);
    }
}

/* ---- help, version, exit statuses ---------------------------------------- */

Test(cli_args, help_command_prints_each_commands_help)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char *a, *b;
        int rc = th_sh(&a, "%s help %s", th_bin(), commands[i]);
        cr_expect_eq(rc, 0, "help %s: %s", commands[i], a);
        rc = th_sh(&b, "%s %s --help", th_bin(), commands[i]);
        cr_expect_eq(rc, 0, "%s --help: %s", commands[i], b);
        cr_expect_str_eq(a, b, "biopp help %s differs from biopp %s --help", commands[i],
                         commands[i]);
        char usage[64];
        snprintf(usage, sizeof usage, "usage: biopp %s", commands[i]);
        th_assert_has(a, usage);
        free(a);
        free(b);
    }
    char *out;
    int rc = th_sh(&out, "%s help nosuch", th_bin());
    cr_expect_eq(rc, 2, "%s", out);
    th_assert_has(out, "unknown command 'nosuch'");
    free(out);
}

Test(cli_args, every_help_lists_exit_statuses)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char *out;
        int rc = th_sh(&out, "%s %s --help", th_bin(), commands[i]);
        cr_expect_eq(rc, 0);
        th_assert_has(out, "Exit status: 0 ");
        th_assert_has(out, "2 usage error");
        free(out);
    }
}

Test(cli_args, version_is_documented)
{
    char *out;
    int rc = th_sh(&out, "%s --help", th_bin());
    cr_expect_eq(rc, 0);
    th_assert_has(out, "--version");
    th_assert_has(out, "biopp help <command>");
    th_assert_has(out, "keys");
    free(out);
    rc = th_sh(&out, "%s -V", th_bin());
    cr_expect_eq(rc, 0);
    cr_expect(!strncmp(out, "biopp ", 6), "%s", out);
    free(out);
    char *readme = th_slurp("README.md");
    th_assert_has(readme, "biopp --version");
    th_assert_has(readme, "biopp keys");
    free(readme);
}

Test(cli_args, train_and_sweep_help_point_to_keys)
{
    char *out;
    th_sh(&out, "%s train --help", th_bin());
    th_assert_has(out, "`biopp keys`");
    th_assert_has(out, "--print-config");
    free(out);
    th_sh(&out, "%s sweep --help", th_bin());
    th_assert_has(out, "`biopp keys`");
    th_assert_has(out, "--print-config");
    free(out);
}

/* ---- biopp keys ----------------------------------------------------------- */

/* The default column of key's row in docs/CONFIG.md ("`1e-4`", "empty"),
 * without the backticks; NULL when the key has no row. */
static char *doc_default(const char *doc, const char *key)
{
    char row[64];
    snprintf(row, sizeof row, "\n| `%s` |", key);
    const char *p = strstr(doc, row);
    if (!p) return NULL;
    p += strlen(row);
    p = strchr(p, '|'); /* past the type column */
    if (!p) return NULL;
    const char *end = strchr(++p, '|');
    if (!end) return NULL;
    char *v = calloc(1, (size_t)(end - p) + 1);
    size_t n = 0;
    for (; p < end; p++)
        if (*p != '`' && !(n == 0 && *p == ' ')) v[n++] = *p;
    while (n && v[n - 1] == ' ') v[--n] = '\0';
    if (!strcmp(v, "empty")) v[0] = '\0';
    return v;
}

Test(cli_args, keys_prints_every_key_as_documented)
{
    char *dir = th_tmpdir(), *out;
    int rc = th_sh(&out, "%s keys > %s/keys.ini", th_bin(), dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/keys.ini", dir);
    char *keys = th_slurp(path);
    char *doc = th_slurp("docs/CONFIG.md");
    bp_config d;
    bp_config_defaults(&d);
    for (int i = 0; i < bp_config_key_count(); i++) {
        const char *key = bp_config_key_name(i);
        char line[80], section[64], value[2048];
        snprintf(line, sizeof line, "\n%s =", key);
        cr_expect(strstr(keys, line), "biopp keys does not print %s", key);
        snprintf(section, sizeof section, "[%s]", bp_config_key_section(key));
        cr_expect(strstr(keys, section) && strstr(keys, section) < strstr(keys, line),
                  "%s not under %s", key, section);
        /* the key has a row in docs/CONFIG.md whose default is the default */
        char *dd = doc_default(doc, key);
        cr_expect(dd, "docs/CONFIG.md has no row for %s", key);
        if (!dd) continue;
        bp_config c;
        bp_error err = {0};
        bp_config_defaults(&c);
        c.n_hidden = 3; /* so that a documented hidden default must set it */
        char got[2048];
        cr_expect_eq(bp_config_set(&c, key, dd, "docs/CONFIG.md", &err), BP_OK, "%s", err.msg);
        bp_config_get(&c, key, got, sizeof got, &err);
        bp_config_get(&d, key, value, sizeof value, &err);
        cr_expect_str_eq(got, value, "docs/CONFIG.md: default of %s is '%s', biopp has '%s'",
                         key, dd, value);
        free(dd);
    }
    /* every key line of biopp keys is a key, and the text loads back to the
     * defaults: it is a config file of them */
    for (const char *p = strchr(keys, '\n'); p; p = strchr(p + 1, '\n')) {
        char name[64];
        if (sscanf(p + 1, "%63[a-z0-9_] =", name) == 1)
            cr_expect(bp_config_key_section(name), "biopp keys prints an unknown key %s", name);
    }
    bp_config loaded;
    bp_error err = {0};
    bp_config_defaults(&loaded);
    loaded.lr = 0.5;
    loaded.n_hidden = 3;
    cr_assert_eq(bp_config_load(&loaded, path, &err), BP_OK, "%s", err.msg);
    cr_expect_eq(memcmp(&loaded, &d, sizeof d), 0, "biopp keys' values are not the defaults");
    th_assert_has(keys, "momentum = 0");
    th_assert_has(keys, "(only with optimizer = sgd)");
    th_assert_has(keys, "[tanh, relu, sigmoid]");
    free(keys);
    free(doc);
    remove_dir(dir);
}

/* ---- --print-config --------------------------------------------------------- */

Test(cli_args, train_print_config_loads_no_data)
{
    char *dir = th_tmpdir(), *out;
    /* { } so that only stdout goes to the file (th_sh collects stderr) */
    int rc = th_sh(&out, "{ BIOPP_DATA_DIR=/nonexistent %s train -c configs/quick/mnist_bp.ini "
                         "--set lr=0.25 --set hidden=2x10 --out %s/run --print-config > "
                         "%s/eff.ini; }", th_bin(), dir, dir);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_eq(out[0], '\0', "stderr: %s", out);
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/eff.ini", dir);
    bp_config c, ref;
    bp_error err = {0};
    bp_config_defaults(&c);
    cr_assert_eq(bp_config_load(&c, path, &err), BP_OK, "%s", err.msg);
    bp_config_defaults(&ref);
    cr_assert_eq(bp_config_load(&ref, "configs/quick/mnist_bp.ini", &err), BP_OK, "%s", err.msg);
    ref.lr = 0.25;
    ref.n_hidden = 2;
    ref.hidden[0] = ref.hidden[1] = 10;
    cr_expect_eq(memcmp(&c, &ref, sizeof c), 0, "the printed config is not the effective one");
    snprintf(path, sizeof path, "%s/run", dir);
    cr_expect_neq(access(path, F_OK), 0, "--print-config wrote %s", path);
    /* an invalid config is still an error */
    rc = th_sh(&out, "%s train -c configs/quick/mnist_bp.ini --set batch=0 --print-config",
               th_bin());
    cr_expect_eq(rc, 1, "%s", out);
    free(out);
    remove_dir(dir);
}

Test(cli_args, sweep_print_config_is_the_spec)
{
    char *dir = th_tmpdir(), *out;
    char *spec = th_write_in(dir, "s.ini", "[rule]\nrule = bp,fa\n[train]\nepochs = 1\n");
    int rc = th_sh(&out, "%s sweep -c %s --set lr=1e-3,1e-2 --print-config", th_bin(), spec);
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "rule = bp,fa\n");
    th_assert_has(out, "lr = 0.001,0.01\n");
    th_assert_has(out, "epochs = 1\n");
    th_assert_has(out, "[optimizer]");
    free(out);
    rc = th_sh(&out, "ls %s", dir);
    cr_expect_str_eq(out, "s.ini\n", "--print-config wrote files: %s", out);
    free(out);
    free(spec);
    remove_dir(dir);
}

/* ---- strict numbers ------------------------------------------------------- */

Test(cli_args, numbers_are_read_strictly)
{
    static const char *const sets[][2] = {
        {"lr=0x10", "--set: lr = '0x10': hexadecimal is not accepted"},
        {"seed=+5", "--set: seed = '+5': a leading '+' is not accepted"},
        {"batch=+64", "--set: batch = '+64': a leading '+' is not accepted"},
        {"momentum=0x1p-1", "--set: momentum = '0x1p-1': hexadecimal"},
        {"lr=infinity", "--set: lr = 'infinity': not a finite number"},
        {"epochs=3x", "--set: epochs = '3x': not an integer"},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        char *out;
        int rc = th_sh(&out, "%s train -c configs/quick/mnist_bp.ini --set %s --print-config",
                       th_bin(), sets[i][0]);
        cr_expect_eq(rc, 1, "%s accepted: %s", sets[i][0], out);
        th_assert_has(out, sets[i][1]);
        free(out);
    }
    char *dir = th_tmpdir(), *out;
    char *cfg = th_write_in(dir, "c.ini", "[optimizer]\n\nlr = nan\n");
    int rc = th_sh(&out, "%s train -c %s --print-config", th_bin(), cfg);
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "c.ini:3: lr = 'nan': not a finite number");
    free(out);
    /* the elements of a sweep's lists, and its seeds, go through the same parser */
    char *spec = th_write_in(dir, "s.ini", "[optimizer]\nlr = 1e-3,+1e-2\n");
    rc = th_sh(&out, "%s sweep -c %s --dry-run", th_bin(), spec);
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "s.ini:2: lr = '+1e-2': a leading '+' is not accepted");
    free(out);
    char *ok = th_write_in(dir, "t.ini", "[train]\nepochs = 1\n");
    rc = th_sh(&out, "%s sweep -c %s --dry-run --set seed=1,0x2", th_bin(), ok);
    cr_expect_eq(rc, 1, "%s", out);
    th_assert_has(out, "'0x2' is not a seed");
    free(out);
    free(cfg);
    free(spec);
    free(ok);
    remove_dir(dir);
}

/* ---- keys without effect ---------------------------------------------------- */

Test(cli_args, keys_without_effect_are_warnings)
{
    char *dir = th_tmpdir(), *out;
    char *cfg = th_write_in(dir, "c.ini",
                           "[rule]\nrule = fa\nalpha = 0.25\nbdfa_loss = neg_log_sigmoid\n"
                           "[optimizer]\noptimizer = adam\nmomentum = 0.9\n");
    int rc = th_sh(&out, "{ %s train -c %s --set wm_noise=0.5 --print-config > %s/eff.ini; }",
                   th_bin(), cfg, dir);
    cr_expect_eq(rc, 0, "%s", out); /* alpha with rule = fa used to be an error */
    th_assert_has(out, "biopp train: warning: ");
    th_assert_has(out, "c.ini:3: alpha = 0.25 has no effect: only rule = bdfa uses it "
                       "(rule is fa)");
    th_assert_has(out, "c.ini:4: bdfa_loss = neg_log_sigmoid has no effect: only rule = bdfa");
    th_assert_has(out, "c.ini:7: momentum = 0.9 has no effect: only optimizer = sgd uses it "
                       "(optimizer is adam)");
    th_assert_has(out, "--set: wm_noise = 0.5 has no effect: only rule = wm");
    cr_expect_eq(count(out, "warning:"), 4, "%s", out);
    free(out);
    /* a key at its default, or one the rule reads, says nothing */
    rc = th_sh(&out, "{ %s train -c %s --set rule=bdfa --set optimizer=sgd --print-config "
                     "> /dev/null; }", th_bin(), cfg);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_eq(out[0], '\0', "%s", out);
    free(out);
    free(cfg);
    remove_dir(dir);
}

Test(cli_args, a_sweep_warns_once_and_only_when_no_cell_reads_the_key)
{
    char *dir = th_tmpdir(), *out;
    char *spec = th_write_in(dir, "s.ini",
                            "[rule]\nrule = bp,fa\n[optimizer]\nlr = 1e-3,1e-2\n"
                            "momentum = 0.9\n[train]\nepochs = 1\n");
    int rc = th_sh(&out, "%s sweep -c %s --dry-run", th_bin(), spec);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_eq(count(out, "warning:"), 1, "4 cells, one warning:\n%s", out);
    th_assert_has(out, "biopp sweep: warning: ");
    th_assert_has(out, "s.ini:5: momentum = 0.9 has no effect in any cell: only optimizer = sgd");
    free(out);
    /* read by some cell: no warning (sgd cells read momentum, bdfa cells alpha) */
    rc = th_sh(&out, "%s sweep -c %s --dry-run --set optimizer=sgd,adam --set rule=bp,bdfa "
                     "--set alpha=0.25", th_bin(), spec);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_eq(count(out, "warning:"), 0, "%s", out);
    free(out);
    /* alpha for every cell and no bdfa cell: one warning naming the --set */
    rc = th_sh(&out, "%s sweep -c %s --dry-run --set alpha=0.25", th_bin(), spec);
    cr_expect_eq(rc, 0, "%s", out);
    th_assert_has(out, "--set: alpha = 0.25 has no effect in any cell: only rule = bdfa");
    cr_expect_eq(count(out, "warning:"), 2, "alpha and momentum:\n%s", out);
    free(out);
    free(spec);
    remove_dir(dir);
}

/* ---- make help ---------------------------------------------------------------- */

Test(cli_args, make_help_lists_the_targets)
{
    char *out;
    int rc = th_sh(&out, "make -s --no-print-directory help");
    cr_expect_eq(rc, 0, "%s", out);
    static const char *const targets[] = {"all", "train", "check", "test", "test-gpu",
                                          "test-gpu-emu", "test-slurm", "deps", "data",
                                          "bench", "clean", "fuzz", "check-valgrind", "help"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  %s ", targets[i]);
        th_assert_has(out, line);
    }
    cr_expect(!strstr(out, "$(") && !strstr(out, "CC ") && !strstr(out, "?="),
              "make help prints Makefile code:\n%s", out);
    free(out);
}
