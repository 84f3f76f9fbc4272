/* Sweeps: parsing sweep files, expanding the grid into cells, the spec
 * file DIR/sweep.ini, and running a cell as one group (the summaries are in
 * src/sweep_summary.c).
 * include/biopp/sweep.h has the interface, docs/SWEEP.md the user's view.
 *
 * Values are never parsed here: every list element is applied to a scratch
 * bp_config with bp_config_set_at (so errors read exactly like a config
 * file's, with file:line, key and the element) and stored in its canonical
 * text from bp_config_get. A cell's config is the defaults with each key's
 * value (or the cell's element of a list) applied, then the rule-scoped keys
 * of the cell's rule; bp_config_validate checks it. */
#include "biopp/sweep.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/fsutil.h"
#include "biopp/ini_reader.h"
#include "biopp/report.h"

#define VALUE_MAX 2048  /* longest single value (as config.c) */
#define WHERE_MAX 1100  /* "file:line" */
#define PATH_MAX_ 4096
#define SPEC_LINES_MAX 512

/* ------------------------------------------------------------------------ */
/* Setup                                                                    */

static void free_list(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

void bp_sweep_init(bp_sweep *s)
{
    memset(s, 0, sizeof *s);
    bp_config d;
    bp_config_defaults(&d);
    s->n_seeds = 1;
    s->seeds[0] = d.seed;
}

void bp_sweep_free(bp_sweep *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_entries; i++) free_list(s->entries[i].values, s->entries[i].n);
    s->n_entries = 0;
}

/* ------------------------------------------------------------------------ */
/* Lists of values                                                          */

static char *dup_trimmed(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* Splits "a, b,c" into trimmed elements; an empty element of a list is an
 * error (a single empty value is passed on: data_dir may be empty). */
static bp_status split_list(const char *value, const char *key, const char *where,
                            char ***items, int *count, bp_error *err)
{
    int n = 1;
    for (const char *p = value; *p; p++) n += *p == ',';
    if (n > BP_SWEEP_MAX_VALUES)
        return bp_fail(err, BP_ERR_CONFIG, "%s: %s: %d values in one list (at most %d)", where,
                       key, n, BP_SWEEP_MAX_VALUES);
    char **v = calloc((size_t)n, sizeof *v);
    if (!v) return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", where);
    const char *p = value;
    for (int i = 0; i < n; i++) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        v[i] = dup_trimmed(p, (size_t)(end - p));
        if (!v[i]) {
            free_list(v, n);
            return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", where);
        }
        if (n > 1 && !*v[i]) {
            free_list(v, n);
            return bp_fail(err, BP_ERR_CONFIG,
                           "%s: %s = '%s': element %d of the list is empty; remove the extra ','",
                           where, key, value, i + 1);
        }
        p = *end ? end + 1 : end;
    }
    *items = v;
    *count = n;
    return BP_OK;
}

/* One element checked by the config parser; out receives its canonical text. */
static bp_status canonical_value(const char *section, const char *name, const char *elem,
                                 const char *where, char *out, size_t size, bp_error *err)
{
    bp_config c;
    bp_config_defaults(&c);
    bp_status st = bp_config_set_at(&c, section, name, elem, where, err);
    if (st) return st;
    return bp_config_get(&c, name, out, size, err);
}

static bp_status find_duplicate(char **canon, char **given, int n, const char *key,
                                const char *where, bp_error *err)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (!strcmp(canon[i], canon[j]))
                return bp_fail(err, BP_ERR_CONFIG,
                               "%s: %s: '%s' and '%s' are the same value (%s), listed twice; "
                               "list each value once",
                               where, key, given[i], given[j], canon[i]);
    return BP_OK;
}

/* The list in `value`, each element validated and made canonical. */
static bp_status canonical_list(const char *section, const char *name, const char *key,
                                const char *value, const char *where, char ***out, int *count,
                                bp_error *err)
{
    char **given = NULL;
    int n = 0;
    bp_status st = split_list(value, key, where, &given, &n, err);
    if (st) return st;
    char **canon = calloc((size_t)n, sizeof *canon);
    if (!canon) st = bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", where);
    for (int i = 0; !st && i < n; i++) {
        char buf[VALUE_MAX];
        st = canonical_value(section, name, given[i], where, buf, sizeof buf, err);
        if (!st && !(canon[i] = strdup(buf)))
            st = bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", where);
    }
    if (!st) st = find_duplicate(canon, given, n, key, where, err);
    free_list(given, n);
    if (st) {
        free_list(canon, n);
        return st;
    }
    *out = canon;
    *count = n;
    return BP_OK;
}

/* ------------------------------------------------------------------------ */
/* Seeds                                                                    */

static bp_status parse_seed(const char *key, const char *elem, const char *where,
                            uint64_t *seed, bp_error *err)
{
    bp_config c;
    bp_error ignore;
    bp_config_defaults(&c);
    if (bp_config_set_at(&c, "", "seed", elem, where, &ignore))
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s: %s: '%s' is not a seed (expected an integer in "
                       "0..18446744073709551615)",
                       where, key, elem);
    *seed = c.seed;
    return BP_OK;
}

/* `seeds = N` (one element): seeds 1..N. */
static bp_status seeds_from_count(const char *text, const char *where, uint64_t *seeds,
                                  int *n, bp_error *err)
{
    uint64_t count = 0;
    bp_error ignore;
    if (parse_seed("seeds", text, where, &count, &ignore) || count < 1 || count > BP_MAX_SEEDS)
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s: seeds = '%s': expected a count 1..%d (seeds 1..N) or a list of "
                       "seeds such as 3,7,11",
                       where, text, BP_MAX_SEEDS);
    for (uint64_t i = 0; i < count; i++) seeds[i] = i + 1;
    *n = (int)count;
    return BP_OK;
}

static bp_status seeds_from_list(const char *key, char **items, int count, const char *where,
                                 uint64_t *seeds, bp_error *err)
{
    if (count > BP_MAX_SEEDS)
        return bp_fail(err, BP_ERR_CONFIG, "%s: %s: %d seeds (at most %d per cell)", where, key,
                       count, BP_MAX_SEEDS);
    for (int i = 0; i < count; i++) {
        bp_status st = parse_seed(key, items[i], where, &seeds[i], err);
        if (st) return st;
        for (int j = 0; j < i; j++)
            if (seeds[j] == seeds[i])
                return bp_fail(err, BP_ERR_CONFIG,
                               "%s: %s: seed %" PRIu64 " is listed twice; list each seed once",
                               where, key, seeds[i]);
    }
    return BP_OK;
}

/* `seeds = N | list` or `seed = s | list`; a later --set replaces them. */
static bp_status set_seeds(bp_sweep *s, const char *key, const char *value, const char *where,
                           int line, bp_error *err)
{
    if (line && s->seeds_line)
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s: %s: the seeds are already given on line %d (by seed or seeds); "
                       "keep one",
                       where, key, s->seeds_line);
    char **items = NULL;
    int count = 0, n = 0;
    uint64_t seeds[BP_MAX_SEEDS];
    bp_status st = split_list(value, key, where, &items, &count, err);
    if (st) return st;
    if (!strcmp(key, "seeds") && count == 1)
        st = seeds_from_count(items[0], where, seeds, &n, err);
    else {
        st = seeds_from_list(key, items, count, where, seeds, err);
        n = count;
    }
    free_list(items, count);
    if (st) return st;
    memcpy(s->seeds, seeds, (size_t)n * sizeof seeds[0]);
    s->n_seeds = n;
    s->seeds_line = line;
    return BP_OK;
}

/* ------------------------------------------------------------------------ */
/* Entries                                                                  */

static int rule_by_name(const char *name, size_t len)
{
    for (int r = BP_RULE_BP; r <= BP_RULE_LAST; r++) {
        const char *n = bp_rule_name((bp_rule_id)r);
        if (strlen(n) == len && !strncmp(n, name, len)) return r;
    }
    return -1;
}

/* "bdfa.alpha" -> name "alpha", rule bdfa; "lr" -> "lr", -1. */
static bp_status split_scope(const char *key, const char *where, char *name, size_t size,
                             int *rule, bp_error *err)
{
    const char *dot = strchr(key, '.'), *base = dot ? dot + 1 : key;
    int prefix = dot ? (int)(dot - key) : 0;
    *rule = dot ? rule_by_name(key, (size_t)prefix) : -1;
    if (dot && *rule < 0)
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s: '%s': '%.*s' is not a rule (a rule-scoped key is RULE.key, RULE "
                       "one of bp, fa, dfa, bfa, bdfa; e.g. bdfa.alpha = 0.25)",
                       where, key, prefix, key);
    if (dot && (!strcmp(base, "rule") || !strcmp(base, "seed") || !strcmp(base, "seeds")))
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s: '%s': %s cannot be scoped to a rule; give it without the '%.*s.' "
                       "prefix",
                       where, key, base, prefix, key);
    if (strlen(base) >= size)
        return bp_fail(err, BP_ERR_CONFIG, "%s: unknown key '%s'", where, key);
    strcpy(name, base);
    return BP_OK;
}

static const bp_sweep_entry *find_entry(const bp_sweep *s, const char *key)
{
    for (int i = 0; i < s->n_entries; i++)
        if (!strcmp(s->entries[i].key, key)) return &s->entries[i];
    return NULL;
}

static bp_status set_entry(bp_sweep *s, const char *section, const char *key, const char *value,
                           const char *where, int line, bp_error *err)
{
    char name[48];
    int rule;
    bp_status st = split_scope(key, where, name, sizeof name, &rule, err);
    if (st) return st;
    if (strlen(key) >= sizeof s->entries[0].key)
        return bp_fail(err, BP_ERR_CONFIG, "%s: unknown key '%s'", where, key);
    bp_sweep_entry *e = (bp_sweep_entry *)find_entry(s, key);
    if (e && line && e->line)
        return bp_fail(err, BP_ERR_CONFIG, "%s: %s is set twice (first on line %d); keep one",
                       where, key, e->line);
    if (!e && s->n_entries == BP_SWEEP_MAX_ENTRIES)
        return bp_fail(err, BP_ERR_CONFIG, "%s: %s: more than %d keys in one sweep", where, key,
                       BP_SWEEP_MAX_ENTRIES);
    char **values = NULL;
    int n = 0;
    st = canonical_list(section, name, key, value, where, &values, &n, err);
    if (st) return st;
    if (rule >= 0 && n > 1) {
        free_list(values, n);
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s: %s = '%s': a rule-scoped key takes one value, not a list (list "
                       "the key without the rule prefix to vary it in every cell)",
                       where, key, value);
    }
    if (!e) {
        e = &s->entries[s->n_entries++];
        memset(e, 0, sizeof *e);
        strcpy(e->key, key);
        strcpy(e->name, name);
        e->rule = rule;
    }
    free_list(e->values, e->n);
    e->values = values;
    e->n = n;
    e->line = line;
    return BP_OK;
}

static bool known_section(const char *section)
{
    if (!strcmp(section, "sweep")) return true;
    for (int i = 0; i < bp_config_key_count(); i++)
        if (!strcmp(bp_config_key_section(bp_config_key_name(i)), section)) return true;
    return false;
}

/* One `key = value` of a sweep file (section "" before any header) or of
 * --set (where = "--set", line 0). */
static bp_status add_pair(bp_sweep *s, const char *section, const char *key, const char *value,
                          const char *where, int line, bp_error *err)
{
    if (!strcmp(key, "seeds")) {
        if (*section && strcmp(section, "sweep"))
            return bp_fail(err, BP_ERR_CONFIG,
                           "%s: key 'seeds' belongs in [sweep] (or before the first section), "
                           "not [%s]",
                           where, section);
        return set_seeds(s, key, value, where, line, err);
    }
    if (!strcmp(section, "sweep"))
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s: unknown key '%s' in [sweep] (the only key of [sweep] is seeds; "
                       "config keys go in their own sections, docs/CONFIG.md)",
                       where, key);
    if (!strcmp(key, "seed")) {
        const char *home = bp_config_key_section("seed");
        if (*section && strcmp(section, home))
            return bp_fail(err, BP_ERR_CONFIG, "%s: key 'seed' belongs in [%s], not [%s]",
                           where, home, section);
        return set_seeds(s, key, value, where, line, err);
    }
    return set_entry(s, section, key, value, where, line, err);
}

/* ------------------------------------------------------------------------ */
/* Reading a sweep file (src/ini_reader.c, as config files)                 */

/* bp_ini_pair_fn: one `key = value` line of the file. */
static bp_status load_pair(void *user, const char *section, const char *key, const char *value,
                           const char *where, int line, bp_error *err)
{
    return add_pair(user, section, key, value, where, line, err);
}

bp_status bp_sweep_load(bp_sweep *s, const char *path, bp_error *err)
{
    if (!s || !path || !*path)
        return bp_fail(err, BP_ERR_ARG, "bp_sweep_load: no sweep file path given");
    FILE *f = fopen(path, "r");
    if (!f) return bp_fail(err, BP_ERR_IO, "%s: cannot open sweep file: %s", path, strerror(errno));
    snprintf(s->source, sizeof s->source, "%s", path);
    bp_ini_handler h = {.known_section = known_section,
                        .sections = "[sweep], [data], [model], [rule], [optimizer], [train]",
                        .on_pair = load_pair,
                        .user = s};
    bp_status st = bp_ini_read(f, path, &h, err);
    fclose(f);
    return st;
}

bp_status bp_sweep_override(bp_sweep *s, const char *assignment, bp_error *err)
{
    if (!s || !assignment) return bp_fail(err, BP_ERR_ARG, "--set: NULL argument");
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return bp_fail(err, BP_ERR_CONFIG,
                       "--set '%s': expected key=value (for example --set lr=1e-3 or "
                       "--set rule=bp,fa)",
                       assignment);
    char *key = dup_trimmed(assignment, (size_t)(eq - assignment));
    char *value = dup_trimmed(eq + 1, strlen(eq + 1));
    bp_status st;
    if (!key || !value)
        st = bp_fail(err, BP_ERR_NOMEM, "--set: out of memory");
    else if (!*key)
        st = bp_fail(err, BP_ERR_CONFIG,
                     "--set '%s': missing key before '=' (for example --set lr=1e-3)", assignment);
    else
        st = add_pair(s, "", key, value, "--set", 0, err);
    free(key);
    free(value);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Cells                                                                    */

static const char *entry_where(const bp_sweep *s, const bp_sweep_entry *e, char *buf, size_t n)
{
    if (e->line) snprintf(buf, n, "%s:%d", s->source, e->line);
    else snprintf(buf, n, "--set");
    return buf;
}

static bp_status apply_value(const bp_sweep *s, const bp_sweep_entry *e, const char *value,
                             bp_config *cfg, bp_error *err)
{
    char where[WHERE_MAX];
    return bp_config_set_at(cfg, "", e->name, value, entry_where(s, e, where, sizeof where), err);
}

/* Defaults, then every key's value (a list: the cell's element), then the
 * rule-scoped keys of the cell's rule. */
static bp_status cell_config(const bp_sweep *s, const int *value, bp_config *cfg, bp_error *err)
{
    bp_config_defaults(cfg);
    bp_status st = BP_OK;
    for (int i = 0; i < s->n_entries && !st; i++)
        if (s->entries[i].rule < 0 && s->entries[i].n == 1)
            st = apply_value(s, &s->entries[i], s->entries[i].values[0], cfg, err);
    for (int a = 0; a < s->n_axes && !st; a++) {
        const bp_sweep_entry *e = &s->entries[s->axis[a]];
        st = apply_value(s, e, e->values[value[a]], cfg, err);
    }
    for (int i = 0; i < s->n_entries && !st; i++)
        if (s->entries[i].rule == (int)cfg->rule)
            st = apply_value(s, &s->entries[i], s->entries[i].values[0], cfg, err);
    cfg->seed = s->seeds[0];
    return st;
}

/* A value as a folder-name part: [A-Za-z0-9._+-] kept, anything else '_'. */
static void sanitize(const char *v, char *out, size_t size)
{
    size_t i = 0;
    for (; v[i] && i + 1 < size; i++) {
        unsigned char ch = (unsigned char)v[i];
        out[i] = isalnum(ch) || strchr("._+-", ch) ? (char)ch : '_';
    }
    out[i] = '\0';
}

static bp_status cell_name(const bp_sweep *s, const int *value, char *buf, size_t size,
                           bp_error *err)
{
    if (s->n_axes == 0) {
        snprintf(buf, size, "single");
        return BP_OK;
    }
    size_t len = 0;
    buf[0] = '\0';
    for (int a = 0; a < s->n_axes; a++) {
        const bp_sweep_entry *e = &s->entries[s->axis[a]];
        char part[VALUE_MAX];
        sanitize(e->values[value[a]], part, sizeof part);
        int w = snprintf(buf + len, size - len, "%s%s=%s", a ? "," : "", e->key, part);
        if (w < 0 || (size_t)w >= size - len)
            return bp_fail(err, BP_ERR_CONFIG,
                           "%s: the folder name of a cell would be longer than %zu characters "
                           "(%s=%s, ...); list fewer keys or shorter values",
                           s->source, size - 1, s->entries[s->axis[0]].key,
                           s->entries[s->axis[0]].values[value[0]]);
        len += (size_t)w;
    }
    return BP_OK;
}

static bp_status validate_cell(const bp_sweep *s, const bp_sweep_cell *c, bp_error *err)
{
    bp_status st = bp_config_validate(&c->cfg, err);
    if (!st) return BP_OK;
    if (err) bp_fail_context(err, "%s: cell %s", s->source, c->name);
    return st;
}

bp_status bp_sweep_cell_at(const bp_sweep *s, int i, bp_sweep_cell *cell, bp_error *err)
{
    if (!s || !cell || i < 0 || i >= s->n_cells)
        return bp_fail(err, BP_ERR_ARG, "bp_sweep_cell_at: cell %d of %d", i, s ? s->n_cells : 0);
    memset(cell, 0, sizeof *cell);
    cell->index = i;
    int rest = i;
    for (int a = s->n_axes - 1; a >= 0; a--) { /* the last axis varies fastest */
        int n = s->entries[s->axis[a]].n;
        cell->value[a] = rest % n;
        rest /= n;
    }
    bp_status st = cell_name(s, cell->value, cell->name, sizeof cell->name, err);
    if (st) return st;
    st = cell_config(s, cell->value, &cell->cfg, err);
    if (st && err) bp_fail_context(err, "%s: cell %s", s->source, cell->name);
    return st ? st : validate_cell(s, cell, err);
}

/* Two values of one list must not give the same folder name. */
static bp_status check_name_clashes(const bp_sweep *s, bp_error *err)
{
    for (int a = 0; a < s->n_axes; a++) {
        const bp_sweep_entry *e = &s->entries[s->axis[a]];
        for (int i = 0; i < e->n; i++)
            for (int j = i + 1; j < e->n; j++) {
                char x[VALUE_MAX], y[VALUE_MAX];
                sanitize(e->values[i], x, sizeof x);
                sanitize(e->values[j], y, sizeof y);
                if (!strcmp(x, y))
                    return bp_fail(err, BP_ERR_CONFIG,
                                   "%s: %s: the values '%s' and '%s' give the same folder name "
                                   "'%s=%s'; make them differ in letters or digits",
                                   s->source, e->key, e->values[i], e->values[j], e->key, x);
            }
    }
    return BP_OK;
}

/* A rule-scoped key whose rule has no cell would be ignored silently (a
 * typo, or a rule dropped from the list): refuse it, naming the rules. */
static bp_status check_scoped_keys_used(const bp_sweep *s, const bool *used, bp_error *err)
{
    for (int i = 0; i < s->n_entries; i++) {
        const bp_sweep_entry *e = &s->entries[i];
        if (e->rule < 0 || used[e->rule]) continue;
        char where[WHERE_MAX], rules[256] = "";
        size_t len = 0;
        for (int r = 0; r <= BP_RULE_LAST; r++)
            if (used[r] && len < sizeof rules)
                len += (size_t)snprintf(rules + len, sizeof rules - len, "%s%s", len ? ", " : "",
                                        bp_rule_name((bp_rule_id)r));
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s: %s = %s: no cell of this sweep has rule = %s (its rules: %s), so "
                       "the key would do nothing; add %s to `rule` or remove the line",
                       entry_where(s, e, where, sizeof where), e->key, e->values[0],
                       bp_rule_name((bp_rule_id)e->rule), rules, bp_rule_name((bp_rule_id)e->rule));
    }
    return BP_OK;
}

bp_status bp_sweep_expand(bp_sweep *s, bp_error *err)
{
    if (!s) return bp_fail(err, BP_ERR_ARG, "bp_sweep_expand: NULL sweep");
    long long cells = 1;
    s->n_axes = 0;
    for (int i = 0; i < s->n_entries; i++) {
        if (s->entries[i].rule >= 0 || s->entries[i].n < 2) continue;
        s->axis[s->n_axes++] = i;
        cells *= s->entries[i].n;
        if (cells > BP_SWEEP_MAX_CELLS)
            return bp_fail(err, BP_ERR_CONFIG,
                           "%s: the lists make more than %d cells (at %s); split the sweep",
                           s->source, BP_SWEEP_MAX_CELLS, s->entries[i].key);
    }
    s->n_cells = (int)cells;
    bp_status st = check_name_clashes(s, err);
    bp_sweep_cell *cell = malloc(sizeof *cell);
    if (!cell) return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", s->source);
    bool used[BP_RULE_LAST + 1] = {false};
    for (int i = 0; i < s->n_cells && !st; i++) {
        st = bp_sweep_cell_at(s, i, cell, err);
        if (!st) used[cell->cfg.rule] = true;
    }
    free(cell);
    return st ? st : check_scoped_keys_used(s, used, err);
}

/* ------------------------------------------------------------------------ */
/* The spec file DIR/sweep.ini                                              */

static void write_list(FILE *f, const char *key, char *const *values, int n)
{
    fprintf(f, "%s =", key);
    for (int i = 0; i < n; i++) fprintf(f, "%s%s", i ? "," : *values[i] ? " " : "", values[i]);
    fputc('\n', f);
}

static void write_seeds(FILE *f, const bp_sweep *s)
{
    fprintf(f, "seed = ");
    for (int i = 0; i < s->n_seeds; i++) fprintf(f, "%s%" PRIu64, i ? "," : "", s->seeds[i]);
    fprintf(f, "                 ; one run per seed in every cell\n");
}

/* A key that is not a list: its value, or the default. */
static bp_status write_single(FILE *f, const bp_sweep *s, const char *key, bp_error *err)
{
    const bp_sweep_entry *e = find_entry(s, key);
    if (e && e->n > 1) return BP_OK; /* an axis: written at the top */
    if (!strcmp(key, "seed")) {
        write_seeds(f, s);
        return BP_OK;
    }
    char buf[VALUE_MAX];
    if (e) {
        write_list(f, key, e->values, 1);
        return BP_OK;
    }
    bp_config d;
    bp_config_defaults(&d);
    bp_status st = bp_config_get(&d, key, buf, sizeof buf, err);
    if (!st) fprintf(f, *buf ? "%s = %s\n" : "%s =%s\n", key, buf);
    return st;
}

static void write_scoped(FILE *f, const bp_sweep *s, const char *section)
{
    for (int i = 0; i < s->n_entries; i++) {
        const bp_sweep_entry *e = &s->entries[i];
        if (e->rule >= 0 && !strcmp(bp_config_key_section(e->name), section))
            write_list(f, e->key, e->values, 1);
    }
}

static bp_status write_sections(FILE *f, const bp_sweep *s, bp_error *err)
{
    const char *section = NULL;
    for (int i = 0; i < bp_config_key_count(); i++) {
        const char *key = bp_config_key_name(i);
        const char *sec = bp_config_key_section(key);
        if (!section || strcmp(section, sec)) {
            if (section) write_scoped(f, s, section);
            fprintf(f, "\n[%s]\n", sec);
            section = sec;
        }
        bp_status st = write_single(f, s, key, err);
        if (st) return st;
    }
    if (section) write_scoped(f, s, section);
    return BP_OK;
}

bp_status bp_sweep_spec_text(const bp_sweep *s, char **text, bp_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return bp_fail(err, BP_ERR_NOMEM, "sweep spec: out of memory");
    fprintf(f, "# biopp sweep: the effective sweep (the sweep file with every --set applied,\n"
               "# every key written out). Running `biopp sweep --out DIR` again checks that\n"
               "# the sweep is the same; `--config DIR/sweep.ini` reruns exactly this sweep.\n"
               "# Format: docs/SWEEP.md.\n\n");
    if (s->n_axes)
        fprintf(f, "# The lists, in expansion order (the first key varies slowest):\n");
    else
        fprintf(f, "# No lists: one cell.\n");
    for (int a = 0; a < s->n_axes; a++) {
        const bp_sweep_entry *e = &s->entries[s->axis[a]];
        write_list(f, e->key, e->values, e->n);
    }
    bp_status st = write_sections(f, s, err);
    if (fclose(f) != 0 && !st) st = bp_fail(err, BP_ERR_NOMEM, "sweep spec: out of memory");
    if (st) {
        free(buf);
        return st;
    }
    *text = buf;
    return BP_OK;
}

/* "key = value" lines of a spec text, in order (comments, blank lines and
 * section headers skipped); splits text in place. */
typedef struct {
    const char *key, *value;
} spec_line;

static int spec_lines(char *text, spec_line *out, int max)
{
    int n = 0;
    for (char *save = NULL, *s = strtok_r(text, "\n", &save); s && n < max;
         s = strtok_r(NULL, "\n", &save)) {
        s = bp_ini_strip_line(s);
        char *eq = strchr(s, '=');
        if (!*s || *s == '[' || !eq) continue;
        *eq = '\0';
        char *k = bp_ini_strip_line(s), *v = bp_ini_strip_line(eq + 1);
        out[n].key = k;
        out[n].value = v;
        n++;
    }
    return n;
}

static const spec_line *find_line(const spec_line *lines, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(lines[i].key, key)) return &lines[i];
    return NULL;
}

static bp_status spec_differs(const char *path, const char *key, const char *old_v,
                              const char *new_v, bp_error *err)
{
    return bp_fail(err, BP_ERR_CONFIG,
                   "%s holds a different sweep: %s = %s there, %s now (the first key that "
                   "differs). A folder holds one sweep: choose another --out for this one, or "
                   "continue the stored one with --config %s",
                   path, key, old_v, new_v, path);
}

/* A key that a stored spec lacks but whose value now is its default: a key
 * added by a later biopp (align_every, say), which changes nothing about the
 * stored sweep's runs. */
static bool is_new_default(const char *key, const char *value)
{
    bp_config d;
    bp_config_defaults(&d);
    char buf[1100];
    bp_error ignore;
    return bp_config_get(&d, key, buf, sizeof buf, &ignore) == BP_OK && !strcmp(buf, value);
}

static bp_status compare_specs(const char *path, char *old_text, char *new_text, bp_error *err)
{
    spec_line o[SPEC_LINES_MAX], n[SPEC_LINES_MAX];
    int no = spec_lines(old_text, o, SPEC_LINES_MAX), nn = spec_lines(new_text, n, SPEC_LINES_MAX);
    int kept = 0;
    for (int i = 0; i < nn; i++) {
        const spec_line *x = find_line(o, no, n[i].key);
        if (!x && is_new_default(n[i].key, n[i].value)) continue;
        if (!x) return spec_differs(path, n[i].key, "(not set)", n[i].value, err);
        n[kept++] = n[i];
        if (strcmp(x->value, n[i].value))
            return spec_differs(path, n[i].key, x->value, n[i].value, err);
    }
    for (int i = 0; i < no; i++)
        if (!find_line(n, kept, o[i].key)) return spec_differs(path, o[i].key, o[i].value, "(not set)", err);
    for (int i = 0; i < kept && i < no; i++)
        if (strcmp(o[i].key, n[i].key))
            return bp_fail(err, BP_ERR_CONFIG,
                           "%s holds a different sweep: the same keys, but the lists are in "
                           "another order (%s before %s there), which changes the cell order "
                           "and folder names; keep the order, or choose another --out",
                           path, o[i].key, n[i].key);
    return BP_OK;
}

static bp_status check_existing_spec(const char *path, const char *spec, bp_error *err)
{
    char *old = NULL, *now = strdup(spec); /* compare_specs splits its texts in place */
    bp_status st = now ? bp_read_text(path, &old, NULL, err)
                       : bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", path);
    if (!st) st = compare_specs(path, old, now, err);
    free(old);
    free(now);
    return st;
}

static bp_status spec_path(const char *dir, char *path, size_t size, bp_error *err)
{
    if (snprintf(path, size, "%s/sweep.ini", dir) >= (int)size)
        return bp_fail(err, BP_ERR_IO, "%s: path too long", dir);
    return BP_OK;
}

/* A cell folder that holds only its .lock, which no process holds: the
 * lock was taken, but no run of the cell was started (its folders and
 * config.ini come later). */
static bool is_unstarted_cell(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return false;
    struct dirent *e;
    bool lock = false, other = false;
    while (!other && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!strcmp(e->d_name, ".lock")) lock = true;
        else other = true;
    }
    closedir(d);
    char lock_path[PATH_MAX_ + 8];
    int fd = -1;
    bp_error ignore;
    snprintf(lock_path, sizeof lock_path, "%s/.lock", path);
    if (other || !lock || bp_lock(lock_path, 0, &fd, &ignore) || fd < 0) return false;
    bp_unlock(fd);
    return true;
}

static bool is_sweep_file(const char *name)
{
    static const char *const files[] = {"sweep.ini",    "summary.csv", "summary.json",
                                        "summary.md",   BP_SWEEP_DIR_LOCK};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (!strcmp(name, files[i])) return true;
    return !strncmp(name, BP_WRITE_PROBE_PREFIX, strlen(BP_WRITE_PROBE_PREFIX));
}

/* A folder whose sweep never started a run (it failed before training:
 * no GPU, no data, not enough memory): only its spec, summaries, locks and
 * cell folders holding an unheld .lock. Anything else (a run's files, a
 * held lock, the Slurm job files and logs) keeps the folder's sweep. */
static bool holds_no_started_run(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool started = false;
    while (!started && (e = readdir(d))) {
        char path[PATH_MAX_];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || is_sweep_file(e->d_name))
            continue;
        started = snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
                  !is_unstarted_cell(path);
    }
    closedir(d);
    return !started;
}

/* Checks DIR against the spec text; *fresh = 1 when DIR has no sweep yet,
 * 2 when it holds a different sweep that started no run (to be replaced). */
static bp_status check_dir(const char *dir, char *spec, int *fresh, bp_error *err)
{
    char path[PATH_MAX_];
    bp_status st = spec_path(dir, path, sizeof path, err);
    *fresh = 0;
    if (st) return st;
    if (bp_file_exists(path)) {
        st = check_existing_spec(path, spec, err);
        if (st == BP_ERR_CONFIG && holds_no_started_run(dir)) {
            *fresh = 2;
            return BP_OK;
        }
        return st;
    }
    if (bp_dir_has_entries(dir, BP_SWEEP_DIR_LOCK))
        return bp_fail(err, BP_ERR_CONFIG,
                       "%s is not empty but has no sweep.ini, so it does not hold a sweep; "
                       "choose a new or empty --out directory",
                       dir);
    *fresh = 1;
    return BP_OK;
}

bp_status bp_sweep_check_dir(const bp_sweep *s, const char *dir, bp_error *err)
{
    char *spec = NULL;
    int fresh;
    bp_status st = bp_sweep_spec_text(s, &spec, err);
    if (!st) st = check_dir(dir, spec, &fresh, err);
    free(spec);
    return st;
}

static bool has_lock_file(const char *dir)
{
    char path[PATH_MAX_];
    snprintf(path, sizeof path, "%s/" BP_SWEEP_DIR_LOCK, dir);
    return bp_file_exists(path);
}

/* Checked once without the lock (so a refused DIR is left untouched), then
 * again under DIR's lock: of two processes starting on a new DIR, one
 * writes sweep.ini and the other finds it. */
bp_status bp_sweep_prepare_dir(const bp_sweep *s, const char *dir, bp_error *err)
{
    int replaced;
    return bp_sweep_prepare_dir_replacing(s, dir, &replaced, err);
}

bp_status bp_sweep_prepare_dir_replacing(const bp_sweep *s, const char *dir, int *replaced,
                                         bp_error *err)
{
    char path[PATH_MAX_], *spec = NULL;
    int fresh = 0, lock = -1;
    *replaced = 0;
    bp_status st = bp_sweep_spec_text(s, &spec, err);
    if (!st) st = check_dir(dir, spec, &fresh, err);
    if (st && st != BP_ERR_NOMEM && has_lock_file(dir)) st = BP_OK; /* being written: see below */
    if (!st) st = bp_mkdir_p(dir, err);
    if (!st) st = bp_sweep_lock_dir(dir, &lock, err);
    if (!st) st = check_dir(dir, spec, &fresh, err);
    if (!st && fresh && !(st = spec_path(dir, path, sizeof path, err)))
        st = bp_write_file_atomic(path, spec, strlen(spec), err);
    if (!st) *replaced = fresh == 2;
    bp_unlock(lock);
    free(spec);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Running                                                                  */

void bp_sweep_run_dir(char *buf, size_t size, const char *dir, const bp_sweep_cell *cell,
                      uint64_t seed)
{
    snprintf(buf, size, "%s/%s/seed-%" PRIu64, dir, cell->name, seed);
}

static bool run_finished(const char *dir, const bp_sweep_cell *cell, uint64_t seed)
{
    char run[PATH_MAX_], path[PATH_MAX_ + 16];
    bp_sweep_run_dir(run, sizeof run, dir, cell, seed);
    bp_run_path(path, sizeof path, run, "final.json");
    return bp_file_exists(path);
}

int bp_sweep_cell_done(const bp_sweep *s, const char *dir, const bp_sweep_cell *cell)
{
    for (int r = 0; r < s->n_seeds; r++)
        if (!run_finished(dir, cell, s->seeds[r])) return 0;
    return 1;
}

bp_status bp_sweep_run_cell(const bp_sweep *s, const bp_sweep_cell *cell, const char *dir,
                            const bp_dataset *ds, const bp_runner_opts *opts, int *diverged,
                            bp_error *err)
{
    int R = s->n_seeds;
    char(*paths)[PATH_MAX_] = malloc((size_t)R * sizeof *paths);
    const char **dirs = malloc((size_t)R * sizeof *dirs);
    bp_status st = BP_OK;
    if (!paths || !dirs) st = bp_fail(err, BP_ERR_NOMEM, "sweep: out of memory");
    for (int r = 0; r < R && !st; r++) {
        bp_sweep_run_dir(paths[r], sizeof paths[r], dir, cell, s->seeds[r]);
        dirs[r] = paths[r];
    }
    if (!st) {
        bp_runner_opts o = *opts;
        o.dirs = dirs;
        o.resume = 1;
        if (!s->solo) {
            st = bp_run_group(&cell->cfg, s->seeds, R, ds, &o, diverged, err);
        } else {
            for (int r = 0; r < R && !st; r++) {
                o.dirs = dirs + r;
                st = bp_run_group(&cell->cfg, s->seeds + r, 1, ds, &o, diverged + r, err);
            }
        }
        if (st && st != BP_ERR_INTERRUPTED) bp_fail_context(err, "cell %s", cell->name);
    }
    free(paths);
    free(dirs);
    return st;
}
