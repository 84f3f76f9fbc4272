/* The option parser every subcommand shares: `--opt VALUE` and
 * `--opt=VALUE`, short forms (`-c FILE`), -h/--help, and the same usage
 * errors (exit status 2) everywhere. */
#ifndef BIOPP_CLI_ARGS_H
#define BIOPP_CLI_ARGS_H

#include <stdio.h>

/* One option of a command. */
typedef struct {
    const char *name;  /* long form, "--config" */
    char short_name;   /* 'c' for -c; 0: none */
    const char *value; /* name of its value in messages ("FILE"); NULL: a flag */
    int key_value;     /* 1: the value must be key=value (--set) */
} cli_option;

typedef struct {
    const char *cmd; /* "train": messages say "biopp train: ..." */
    int argc;
    char **argv;     /* argv[0] is the command's name */
    const cli_option *opts;
    int n_opts;
    int i;           /* next argument */
} cli_parser;

/* What cli_next found besides an option (an index into opts). */
enum {
    CLI_END = -1,        /* no arguments left */
    CLI_HELP = -2,       /* -h or --help */
    CLI_POSITIONAL = -3, /* an argument that is not an option (*value) */
    CLI_USAGE = -4       /* a usage error, already reported on stderr: exit 2 */
};

/* The number of options of a static table. */
#define CLI_N_OPTS(opts) ((int)(sizeof(opts) / sizeof((opts)[0])))

void cli_parser_init(cli_parser *p, const char *cmd, int argc, char **argv,
                     const cli_option *opts, int n_opts);

/* The next option: its index in opts (and *value, NULL for a flag), or one
 * of CLI_END, CLI_HELP, CLI_POSITIONAL, CLI_USAGE. */
int cli_next(cli_parser *p, const char **value);

/* Reports a usage error "biopp CMD: ..." and the hint to --help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An unknown or misplaced argument: the message, then the command's usage on
 * stderr. Returns 2. */
int cli_unexpected(const char *cmd, const char *arg, void (*usage)(FILE *));

/* A whole decimal number in lo..hi (no sign, spaces or other text). */
int cli_parse_int(const char *text, long lo, long hi, int *out);

/* The values of a repeatable option (--set), without a fixed limit: room
 * for argc values, as each takes at least one argument. */
typedef struct {
    const char **v;
    int n;
} cli_list;

int cli_list_init(cli_list *l, int argc); /* 0, or 1 after "out of memory" */
void cli_list_free(cli_list *l);

#endif
