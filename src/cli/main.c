/* biopp: one binary, one subcommand per file in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

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
            "\n"
            "`biopp <command> --help` describes each command. Config keys: docs/CONFIG.md.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("biopp %s\n", BIOPP_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "sweep")) return cmd_sweep(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "plot")) return cmd_plot(argc - 1, argv + 1);
    if (!strcmp(cmd, "merge")) return cmd_merge(argc - 1, argv + 1);
    if (!strcmp(cmd, "slurm")) return cmd_slurm(argc - 1, argv + 1);
    fprintf(stderr, "biopp: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
