/* biopp: one binary, one subcommand per file in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"train", cmd_train},   {"sweep", cmd_sweep}, {"eval", cmd_eval},
    {"export", cmd_export}, {"generate", cmd_generate}, {"plot", cmd_plot},
    {"merge", cmd_merge},   {"slurm", cmd_slurm}, {"keys", cmd_keys},
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void usage(FILE *f)
{
    fprintf(f,
            "biopp " BIOPP_VERSION " - biologically plausible learning rules (BP, FA, DFA, BFA, BDFA)\n"
            "\n"
            "usage: biopp <command> [options]\n"
            "\n"
            "commands:\n"
            "  train   train one run:      biopp train --config FILE [--set key=value]... [--out DIR]\n"
            "  sweep   train a grid:       biopp sweep --config FILE --out DIR [--set key=value]... [--dry-run]\n"
            "  eval    error of a run:     biopp eval --run DIR [--split test|valid|train] [--set key=value]...\n"
            "  export  weights to Python:  biopp export --run DIR --out FILE.safetensors\n"
            "  generate BFA's images:     biopp generate --run DIR --out FILE.png [--scale N]\n"
            "  plot    charts (gnuplot):   biopp plot RUN_OR_SWEEP_DIR --out FOLDER\n"
            "  merge   summarise shards:   biopp merge DIR [--allow-partial]\n"
            "  slurm   cluster job files:  biopp slurm --config FILE --out DIR --shards N [--submit]\n"
            "  keys    every config key:   biopp keys (section, default, meaning)\n"
            "\n"
            "  biopp help <command>, biopp <command> --help   what a command does, its options\n"
            "  biopp --version, -V                            the version\n"
            "  biopp --help, -h                               this text\n"
            "\n"
            "Options take a value as --opt VALUE or --opt=VALUE. Config keys: biopp keys,\n"
            "docs/CONFIG.md. Exit status 2 is a usage error (unknown command or option, a\n"
            "missing or bad value); `biopp <command> --help` lists each command's statuses.\n");
}

static const command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

static int unknown_command(const char *name)
{
    fprintf(stderr, "biopp: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}

/* `biopp help CMD` is `biopp CMD --help`. */
static int help(int argc, char **argv)
{
    if (argc < 3 || !strcmp(argv[2], "help")) {
        usage(stdout);
        return 0;
    }
    if (argc > 3) {
        fprintf(stderr, "biopp help: one command at a time (biopp help %s)\n", argv[2]);
        return 2;
    }
    const command *c = find_command(argv[2]);
    if (!c) return unknown_command(argv[2]);
    char *args[] = {argv[2], "--help", NULL};
    return c->run(2, args);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "help")) return help(argc, argv);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("biopp %s\n", BIOPP_VERSION);
        return 0;
    }
    const command *c = find_command(cmd);
    return c ? c->run(argc - 1, argv + 1) : unknown_command(cmd);
}
