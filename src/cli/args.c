/* The option parser every subcommand shares (args.h). */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_parser_init(cli_parser *p, const char *cmd, int argc, char **argv,
                     const cli_option *opts, int n_opts)
{
    p->cmd = cmd;
    p->argc = argc;
    p->argv = argv;
    p->opts = opts;
    p->n_opts = n_opts;
    p->i = 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "biopp %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see `biopp %s --help`\n", cmd);
    return 2;
}

int cli_unexpected(const char *cmd, const char *arg, void (*usage)(FILE *))
{
    fprintf(stderr, "biopp %s: unexpected argument '%s'\n\n", cmd, arg);
    if (usage) usage(stderr);
    return 2;
}

/* The option arg names ("--out", "--out=DIR" or "-c"); *inline_value
 * receives the text after '=' of the long form, else NULL. -1: none. */
static int find_option(const cli_parser *p, const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    for (int k = 0; k < p->n_opts; k++) {
        const cli_option *o = &p->opts[k];
        size_t n = strlen(o->name);
        if (!strncmp(arg, o->name, n) && (arg[n] == '\0' || arg[n] == '=')) {
            if (arg[n] == '=') *inline_value = arg + n + 1;
            return k;
        }
        if (o->short_name && arg[0] == '-' && arg[1] == o->short_name && arg[2] == '\0')
            return k;
    }
    return -1;
}

/* Whether arg is an option of this command (then it is not taken as the
 * value of the option before it: `--config --out D` lacks the FILE). */
static int is_option(const cli_parser *p, const char *arg)
{
    const char *ignore;
    return !strcmp(arg, "-h") || !strcmp(arg, "--help") || find_option(p, arg, &ignore) >= 0;
}

/* key=value with a key before the '=' (the library checks the key itself). */
static int is_assignment(const char *v)
{
    const char *eq = strchr(v, '=');
    if (!eq) return 0;
    for (const char *s = v; s < eq; s++)
        if (!isspace((unsigned char)*s)) return 1;
    return 0;
}

int cli_next(cli_parser *p, const char **value)
{
    *value = NULL;
    if (p->i >= p->argc) return CLI_END;
    const char *arg = p->argv[p->i++];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) return CLI_HELP;
    const char *inline_value;
    int k = arg[0] == '-' && arg[1] ? find_option(p, arg, &inline_value) : -1;
    if (k < 0) {
        *value = arg;
        return CLI_POSITIONAL;
    }
    const cli_option *o = &p->opts[k];
    const char *shown = arg[1] == '-' ? o->name : arg; /* as typed: -c or --config */
    if (!o->value && inline_value) {
        cli_usage_error(p->cmd, "%s takes no value", o->name);
        return CLI_USAGE;
    }
    if (!o->value) return k;
    const char *v = inline_value;
    if (!v && p->i < p->argc && !is_option(p, p->argv[p->i])) v = p->argv[p->i++];
    if (!v || !*v) {
        cli_usage_error(p->cmd, "%s needs a value (%s)", shown, o->value);
        return CLI_USAGE;
    }
    if (o->key_value && !is_assignment(v)) {
        cli_usage_error(p->cmd, "%s '%s': expected key=value (for example %s lr=1e-3)", shown, v,
                        o->name);
        return CLI_USAGE;
    }
    *value = v;
    return k;
}

int cli_parse_int(const char *text, long lo, long hi, int *out)
{
    if (!isdigit((unsigned char)text[0])) return 0; /* no sign, no spaces */
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*end || errno == ERANGE || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int cli_list_init(cli_list *l, int argc)
{
    l->n = 0;
    l->v = calloc(argc > 0 ? (size_t)argc : 1, sizeof *l->v);
    if (!l->v) fprintf(stderr, "biopp: out of memory\n");
    return l->v ? 0 : 1;
}

void cli_list_free(cli_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
