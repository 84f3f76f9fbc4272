/* biopp export: a run's checkpoint as a safetensors file. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "biopp/checkpoint_file.h"
#include "biopp/export.h"
#include "biopp/run_dir.h"
#include "args.h"
#include "cli.h"

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp export --run DIR --out FILE.safetensors [--optimizer-state]\n"
            "\n"
            "Writes every tensor of the run's latest checkpoint in the safetensors format\n"
            "(float32, little-endian), named as in METHODS.md: forward W1, b1, ..., W{L+1},\n"
            "b{L+1}; feedback B2.. (FA), D1.. (DFA), V1.., c0.. (BFA), U1.. (BDFA).\n"
            "W_l is [n_l, n_(l-1)], B_l and V_l [n_(l-1), n_l], D_l and U_l [n_l, C],\n"
            "b_l and c_l [n]. Metadata: rule, hidden, dataset, activation, output, recon,\n"
            "seed, epoch, step, optimizer. Loads with numpy, PyTorch or JAX: docs/FORMATS.md.\n"
            "No data set is needed.\n"
            "\n"
            "  --run DIR           a run directory (with config.ini and checkpoint.bin)\n"
            "  --out FILE          the file to write (atomically)\n"
            "  --optimizer-state   also write the optimizer's arrays, to continue training\n"
            "                      elsewhere: <name>.adam_m, <name>.adam_v (Adam) or\n"
            "                      <name>.velocity (SGD with momentum)\n"
            "  -h, --help          this text\n"
            "\n"
            "Options also take the form --opt=VALUE.\n"
            "\n"
            "Exit status: 0 done, 1 error, 2 usage error.\n");
}

enum { X_RUN, X_OUT, X_STATE };
static const cli_option export_opts[] = {
    [X_RUN] = {"--run", 0, "DIR", 0},
    [X_OUT] = {"--out", 0, "FILE", 0},
    [X_STATE] = {"--optimizer-state", 0, NULL, 0},
};

int cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *v;
    int state = 0;
    cli_parser p;
    cli_parser_init(&p, "export", argc, argv, export_opts, CLI_N_OPTS(export_opts));
    for (int o; (o = cli_next(&p, &v)) != CLI_END;) {
        switch (o) {
        case CLI_HELP: export_usage(stdout); return 0;
        case CLI_USAGE: return 2;
        case CLI_POSITIONAL: return cli_unexpected("export", v, export_usage);
        case X_RUN: dir = v; break;
        case X_OUT: out = v; break;
        case X_STATE: state = 1; break;
        }
    }
    if (!dir || !out) {
        fprintf(stderr, "biopp export: --run DIR and --out FILE are required\n\n");
        export_usage(stderr);
        return 2;
    }
    bp_config cfg;
    bp_error err = {0};
    char path[4096];
    bp_checkpoint_file ck;
    if (bp_run_dir_config(dir, NULL, 0, &cfg, &err) ||
        bp_run_dir_checkpoint(dir, path, sizeof path, &err) ||
        bp_checkpoint_file_read(path, &ck, &err)) {
        fprintf(stderr, "biopp export: %s\n", err.msg);
        return 1;
    }
    bp_status rc = BP_OK;
    if (ck.seed != cfg.seed)
        rc = bp_fail(&err, BP_ERR_FORMAT, "%s: checkpoint of seed %" PRIu64 ", config.ini says %" PRIu64,
                     path, ck.seed, cfg.seed);
    if (!rc) rc = bp_export_safetensors(&ck, &cfg, out, state, &err);
    if (!rc)
        fprintf(stderr, "biopp export: %d tensors of %s (epoch %" PRId64 ") -> %s\n",
                ck.ntensors, path, ck.epoch, out);
    bp_checkpoint_file_free(&ck);
    if (rc) {
        fprintf(stderr, "biopp export: %s\n", err.msg);
        return 1;
    }
    return 0;
}
