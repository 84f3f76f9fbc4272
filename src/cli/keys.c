/* Config keys on the command line: `biopp keys`, --print-config, and the
 * warnings about keys that have no effect (the library returns them,
 * the command line prints them). Everything comes from the key table in
 * src/config.c. */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"

static void keys_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp keys\n"
            "\n"
            "Prints every config key by section with its default value and a one-line\n"
            "meaning: the allowed values in brackets, and for a key that only some rules or\n"
            "optimizers read, which ones (set elsewhere, it has no effect and gets a\n"
            "warning). The text is itself a config file of the defaults:\n"
            "`biopp keys > my.ini` starts a new config. Details: docs/CONFIG.md.\n"
            "\n"
            "  -h, --help   this text\n"
            "\n"
            "Exit status: 0 done, 1 error, 2 usage error.\n");
}

/* "key = default" padded, then "; meaning [allowed] (only ...)". */
static int print_key(const bp_config *d, int i)
{
    bp_config_key_info info;
    bp_error err = {0};
    char value[2048], left[2200];
    if (bp_config_key_describe(i, &info, &err) ||
        bp_config_get(d, info.name, value, sizeof value, &err)) {
        fprintf(stderr, "biopp keys: %s\n", err.msg);
        return 1;
    }
    snprintf(left, sizeof left, *value ? "%s = %s" : "%s =%s", info.name, value);
    printf("%-28s ; %s", left, info.help);
    if (*info.allowed) printf(" [%s]", info.allowed);
    if (*info.used_by) printf(" (only with %s)", info.used_by);
    printf("\n");
    return 0;
}

int cmd_keys(int argc, char **argv)
{
    cli_parser p;
    cli_parser_init(&p, "keys", argc, argv, NULL, 0);
    const char *v;
    for (int o; (o = cli_next(&p, &v)) != CLI_END;) {
        if (o == CLI_HELP) {
            keys_usage(stdout);
            return 0;
        }
        return o == CLI_USAGE ? 2 : cli_unexpected("keys", v, keys_usage);
    }
    bp_config d;
    bp_config_defaults(&d);
    printf("# biopp %s: every config key with its default; docs/CONFIG.md has the details.\n"
           "# This is a config file of the defaults (biopp keys > my.ini).\n",
           BIOPP_VERSION);
    const char *section = NULL;
    for (int i = 0; i < bp_config_key_count(); i++) {
        const char *sec = bp_config_key_section(bp_config_key_name(i));
        if (!section || strcmp(section, sec)) printf("\n[%s]\n", sec);
        section = sec;
        if (print_key(&d, i)) return 1;
    }
    return 0;
}

int cli_print_config(const bp_config *cfg)
{
    bp_error err = {0};
    if (bp_config_write(cfg, stdout, &err)) {
        fprintf(stderr, "biopp: --print-config: %s\n", err.msg);
        return 1;
    }
    return 0;
}

bp_status cli_load_config(const char *cmd, bp_config *cfg, const char *path, const char **sets,
                          int nsets, bp_error *err)
{
    bp_config_origin origin;
    memset(&origin, 0, sizeof origin);
    bp_status st = bp_config_load_traced(cfg, path, &origin, err);
    for (int i = 0; !st && i < nsets; i++)
        st = bp_config_override_traced(cfg, sets[i], &origin, err);
    if (!st) st = bp_config_validate(cfg, err);
    if (st) return st;
    bp_config_warnings *w = malloc(sizeof *w);
    if (!w) return bp_fail(err, BP_ERR_NOMEM, "out of memory");
    bp_config_unused_keys(cfg, &origin, w);
    for (int i = 0; i < w->n; i++) fprintf(stderr, "biopp %s: warning: %s\n", cmd, w->w[i].msg);
    free(w);
    return BP_OK;
}

/* ---- sweeps ------------------------------------------------------------- */

static int key_index(const char *name)
{
    for (int i = 0; i < bp_config_key_count(); i++)
        if (!strcmp(bp_config_key_name(i), name)) return i;
    return -1;
}

/* One warning per sweep entry of key i ("lr", "bdfa.lr"): where, and why. */
static void warn_entries(const char *cmd, const bp_sweep *s, int i, const char *why)
{
    const char *name = bp_config_key_name(i);
    for (int j = 0; j < s->n_entries; j++) {
        const bp_sweep_entry *e = &s->entries[j];
        if (strcmp(e->name, name)) continue;
        char where[1100];
        if (e->line) snprintf(where, sizeof where, "%s:%d", s->source, e->line);
        else snprintf(where, sizeof where, "--set");
        fprintf(stderr, "biopp %s: warning: %s: %s = ", cmd, where, e->key);
        for (int k = 0; k < e->n; k++) fprintf(stderr, "%s%s", k ? "," : "", e->values[k]);
        fprintf(stderr, " has no effect in any cell: only %s uses it; remove it or add such "
                        "cells\n", why);
    }
}

/* A key warned about in some cell (set away from its default, not read
 * there) and read in no cell: one warning for the whole sweep. A key that
 * some cell reads (momentum with optimizer = sgd,adam) is fine. */
int cli_sweep_warnings(const char *cmd, const bp_sweep *s)
{
    int n = bp_config_key_count(), warned = 0;
    char flagged[BP_CONFIG_MAX_KEYS] = {0}, used[BP_CONFIG_MAX_KEYS] = {0};
    char why[BP_CONFIG_MAX_KEYS][160];
    bp_sweep_cell *c = malloc(sizeof *c);
    bp_config_warnings *w = malloc(sizeof *w);
    for (int i = 0; c && w && i < s->n_cells; i++) {
        bp_error ignore;
        if (bp_sweep_cell_at(s, i, c, &ignore)) continue; /* bp_sweep_expand reported it */
        bp_config_unused_keys(&c->cfg, NULL, w);
        for (int k = 0; k < w->n; k++) {
            int x = key_index(w->w[k].key);
            if (x >= 0) flagged[x] = 1;
        }
        for (int x = 0; x < n; x++)
            if (!bp_config_key_unused(&c->cfg, bp_config_key_name(x), why[x], sizeof why[x]))
                used[x] = 1;
    }
    for (int x = 0; x < n; x++)
        if (flagged[x] && !used[x]) {
            warn_entries(cmd, s, x, why[x]);
            warned++;
        }
    free(w);
    free(c);
    return warned;
}
