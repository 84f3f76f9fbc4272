/* biopp generate: BFA's mirror network run backwards from every class
 * label, as one PNG grid (the paper's Figure 6). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/checkpoint_file.h"
#include "biopp/generate.h"
#include "biopp/run_dir.h"
#include "args.h"
#include "cli.h"

static void generate_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp generate --run DIR --out FILE.png [--scale N] [--set key=value]...\n"
            "\n"
            "For a BFA run: feeds the one-hot label y of every class through the trained\n"
            "mirror network of the latest checkpoint (METHODS.md: g_L = V_{L+1} y + c_L,\n"
            "..., x-hat = sigma_x(V_1 r_1 + c_0)) and writes the x-hats as one PNG grid in\n"
            "the input's shape: 28x28 grey (MNIST, Fashion-MNIST, KMNIST) or 32x32 colour\n"
            "(CIFAR-10); classes 0..4 on the first row, 5..9 on the second. Each tile is\n"
            "min-max scaled to 0..255 on its own (its darkest value black, its brightest\n"
            "white), so tiles show shapes, not absolute intensities. Tiles are N pixels\n"
            "apart on grey. Only BFA has a generator; other runs are refused. No data set\n"
            "is needed.\n"
            "\n"
            "  --run DIR         a BFA run directory (config.ini and checkpoint.bin)\n"
            "  --out FILE        the PNG to write (atomically)\n"
            "  --scale N         draw every pixel as N x N pixels (default 4, 1..64)\n"
            "  --set key=value   override a key of the run's config: device=cuda, threads\n"
            "  -h, --help        this text\n"
            "\n"
            "Options also take the form --opt=VALUE.\n"
            "\n"
            "Exit status: 0 done, 1 error (also: not a BFA run), 2 usage error.\n");
}

/* The input's image shape: CIFAR-10 colour planes, or 28x28 grey IDX sets. */
static int input_shape(const bp_config *cfg, int n0, int *c, int *h, int *w)
{
    if (!strcmp(cfg->dataset, "cifar10")) *c = 3, *h = 32, *w = 32;
    else *c = 1, *h = 28, *w = 28;
    return *c * *h * *w == n0;
}

static bp_status make_image(const bp_config *cfg, const bp_checkpoint_file *ck,
                            const char *ck_path, const char *out, int scale, bp_error *err)
{
    const bp_ck_tensor *w1 = bp_checkpoint_file_find(ck, "W1");
    char last[16];
    snprintf(last, sizeof last, "W%d", cfg->n_hidden + 1);
    const bp_ck_tensor *wout = bp_checkpoint_file_find(ck, last);
    if (!w1 || !wout)
        return bp_fail(err, BP_ERR_FORMAT, "%s: no %s: not a checkpoint of this config's %d "
                       "hidden layers", ck_path, w1 ? last : "W1", cfg->n_hidden);
    int n0 = w1->cols, C = wout->rows, ch, h, w;
    if (!input_shape(cfg, n0, &ch, &h, &w))
        return bp_fail(err, BP_ERR_FORMAT, "%s: %d inputs are not %dx%dx%d images of %s",
                       ck_path, n0, ch, h, w, cfg->dataset);
    bp_config one = *cfg;
    if (one.eval_batch < C) one.eval_batch = C; /* room for the C labels */
    bp_backend *be = NULL;
    bp_net *net = NULL;
    float *xhat = malloc((size_t)C * n0 * sizeof *xhat);
    bp_status rc = xhat ? BP_OK : bp_fail(err, BP_ERR_NOMEM, "generate: out of host memory");
    if (!rc) rc = bp_backend_create(&one, &be, err);
    if (!rc) rc = bp_net_create(&one, &one.seed, 1, n0, C, be, &net, err);
    if (!rc) rc = bp_checkpoint_file_upload(ck, net, 0, be, ck_path, err);
    if (!rc) rc = bp_bfa_generate(net, be, 0, xhat, err);
    if (!rc) rc = bp_png_write_tiles(out, xhat, C, ch, h, w, C > 5 ? (C + 1) / 2 : C, scale, err);
    if (net) bp_net_destroy(net, be);
    bp_backend_destroy(be);
    free(xhat);
    return rc;
}

enum { G_RUN, G_OUT, G_SCALE, G_SET };
static const cli_option generate_opts[] = {
    [G_RUN] = {"--run", 0, "DIR", 0},
    [G_OUT] = {"--out", 0, "FILE.png", 0},
    [G_SCALE] = {"--scale", 0, "N", 0},
    [G_SET] = {"--set", 0, "key=value", 1},
};

/* -1: go on; otherwise the exit status. */
static int parse_generate_args(int argc, char **argv, const char **dir, const char **out,
                               int *scale, cli_list *sets)
{
    cli_parser p;
    cli_parser_init(&p, "generate", argc, argv, generate_opts, CLI_N_OPTS(generate_opts));
    const char *v;
    for (int o; (o = cli_next(&p, &v)) != CLI_END;) {
        switch (o) {
        case CLI_HELP: generate_usage(stdout); return 0;
        case CLI_USAGE: return 2;
        case CLI_POSITIONAL: return cli_unexpected("generate", v, generate_usage);
        case G_RUN: *dir = v; break;
        case G_OUT: *out = v; break;
        case G_SET: sets->v[sets->n++] = v; break;
        case G_SCALE:
            if (!cli_parse_int(v, 1, 64, scale))
                return cli_usage_error("generate", "--scale %s: expected a whole number 1..64", v);
            break;
        }
    }
    if (!*dir || !*out) {
        fprintf(stderr, "biopp generate: --run DIR and --out FILE.png are required\n\n");
        generate_usage(stderr);
        return 2;
    }
    return -1;
}

int cmd_generate(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    cli_list sets;
    int scale = 4;
    if (cli_list_init(&sets, argc)) return 1;
    int usage = parse_generate_args(argc, argv, &dir, &out, &scale, &sets);
    if (usage >= 0) {
        cli_list_free(&sets);
        return usage;
    }
    bp_config cfg;
    bp_error err = {0};
    bp_status st = bp_run_dir_config(dir, sets.v, sets.n, &cfg, &err);
    cli_list_free(&sets);
    if (st) {
        fprintf(stderr, "biopp generate: %s\n", err.msg);
        return 1;
    }
    if (cfg.rule != BP_RULE_BFA) {
        fprintf(stderr,
                "biopp generate: %s is a %s run: only BFA has a generator (its trained mirror "
                "network V_1..V_{L+1} maps a label back to an image); train with rule = bfa\n",
                dir, bp_rule_name(cfg.rule));
        return 1;
    }
    char path[4096];
    bp_checkpoint_file ck;
    if (bp_run_dir_checkpoint(dir, path, sizeof path, &err) ||
        bp_checkpoint_file_read(path, &ck, &err)) {
        fprintf(stderr, "biopp generate: %s\n", err.msg);
        return 1;
    }
    bp_status rc = BP_OK;
    if (ck.seed != cfg.seed)
        rc = bp_fail(&err, BP_ERR_FORMAT, "%s: checkpoint of seed %" PRIu64 ", config.ini says %" PRIu64,
                     path, ck.seed, cfg.seed);
    if (!rc) rc = make_image(&cfg, &ck, path, out, scale, &err);
    if (!rc)
        fprintf(stderr, "biopp generate: x-hat of every class (epoch %" PRId64 ") -> %s\n",
                ck.epoch, out);
    bp_checkpoint_file_free(&ck);
    if (rc) {
        fprintf(stderr, "biopp generate: %s\n", err.msg);
        return 1;
    }
    return 0;
}
