/* biopp eval: the error and loss of a run's latest checkpoint on one split. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/data.h"
#include "biopp/evaluate.h"
#include "biopp/fsutil.h"
#include "biopp/report.h"
#include "biopp/run_dir.h"
#include "args.h"
#include "cli.h"

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp eval --run DIR [--split test|valid|train] [--set key=value]...\n"
            "\n"
            "Loads the run's config.ini and latest checkpoint (checkpoint.bin) and prints\n"
            "the error and mean loss of that network on one split; also writes them to\n"
            "DIR/eval-<split>.json. On the test split of a finished run the error is\n"
            "final.json's test_error.\n"
            "\n"
            "  --run DIR         a run directory (biopp train --out DIR, or DIR/<cell>/seed-N\n"
            "                    of a sweep)\n"
            "  --split S         test (default: the official test set), valid (training\n"
            "                    samples past train_size) or train (the first train_size\n"
            "                    training samples, with the final weights)\n"
            "  --set key=value   override a key of the run's config, e.g. data_dir=/data,\n"
            "                    device=cuda, threads=2, eval_batch=5000 (model keys must\n"
            "                    match the checkpoint)\n"
            "  -h, --help        this text\n"
            "\n"
            "Options also take the form --opt=VALUE.\n"
            "\n"
            "Exit status: 0 done, 1 error, 2 usage error.\n");
}

static bp_status write_result(const char *dir, const bp_config *cfg, bp_split split,
                              const char *ck_path, const bp_eval_result *res, bp_error *err)
{
    char hidden[128], name[64], path[4096];
    bp_format_hidden(cfg->n_hidden, cfg->hidden, hidden, sizeof hidden);
    cJSON *o = cJSON_CreateObject();
    if (!o) return bp_fail(err, BP_ERR_NOMEM, "eval: out of memory");
    cJSON_AddStringToObject(o, "split", bp_split_name(split));
    cJSON_AddNumberToObject(o, "epoch", res->epoch);
    cJSON_AddNumberToObject(o, "samples", res->samples);
    cJSON_AddNumberToObject(o, "error", res->error);
    cJSON_AddNumberToObject(o, "loss", res->loss);
    cJSON_AddStringToObject(o, "dataset", cfg->dataset);
    cJSON_AddStringToObject(o, "rule", bp_rule_name(cfg->rule));
    cJSON_AddStringToObject(o, "hidden", hidden);
    cJSON_AddNumberToObject(o, "seed", (double)cfg->seed);
    cJSON_AddStringToObject(o, "checkpoint", strrchr(ck_path, '/') + 1);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) return bp_fail(err, BP_ERR_NOMEM, "eval: out of memory");
    snprintf(name, sizeof name, "eval-%s.json", bp_split_name(split));
    bp_run_path(path, sizeof path, dir, name);
    size_t n = strlen(s);
    char *text = malloc(n + 2);
    bp_status rc = text ? BP_OK : bp_fail(err, BP_ERR_NOMEM, "eval: out of memory");
    if (text) {
        memcpy(text, s, n);
        text[n] = '\n';
        rc = bp_write_file_atomic(path, text, n + 1, err);
    }
    free(text);
    free(s);
    if (!rc) fprintf(stderr, "biopp eval: wrote %s\n", path);
    return rc;
}

enum { E_RUN, E_SPLIT, E_SET };
static const cli_option eval_opts[] = {
    [E_RUN] = {"--run", 0, "DIR", 0},
    [E_SPLIT] = {"--split", 0, "test|valid|train", 0},
    [E_SET] = {"--set", 0, "key=value", 1},
};

/* -1: go on; otherwise the exit status. */
static int parse_eval_args(int argc, char **argv, const char **dir, int *split, cli_list *sets)
{
    cli_parser p;
    cli_parser_init(&p, "eval", argc, argv, eval_opts, CLI_N_OPTS(eval_opts));
    const char *v;
    for (int o; (o = cli_next(&p, &v)) != CLI_END;) {
        switch (o) {
        case CLI_HELP: eval_usage(stdout); return 0;
        case CLI_USAGE: return 2;
        case CLI_POSITIONAL: return cli_unexpected("eval", v, eval_usage);
        case E_RUN: *dir = v; break;
        case E_SET: sets->v[sets->n++] = v; break;
        case E_SPLIT:
            *split = bp_split_parse(v);
            if (*split < 0)
                return cli_usage_error("eval", "--split %s: expected test, valid or train", v);
            break;
        }
    }
    if (!*dir) {
        fprintf(stderr, "biopp eval: --run DIR is required\n\n");
        eval_usage(stderr);
        return 2;
    }
    return -1;
}

int cmd_eval(int argc, char **argv)
{
    const char *dir = NULL;
    cli_list sets;
    int split = BP_SPLIT_TEST;
    if (cli_list_init(&sets, argc)) return 1;
    int usage = parse_eval_args(argc, argv, &dir, &split, &sets);
    if (usage >= 0) {
        cli_list_free(&sets);
        return usage;
    }
    bp_config cfg;
    bp_error err = {0};
    char ck[4096];
    bp_status st = bp_run_dir_config(dir, sets.v, sets.n, &cfg, &err);
    cli_list_free(&sets);
    if (st || bp_run_dir_checkpoint(dir, ck, sizeof ck, &err)) {
        fprintf(stderr, "biopp eval: %s\n", err.msg);
        return 1;
    }
    bp_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (cli_load_dataset(&cfg, &ds)) return 1;
    bp_eval_result res;
    bp_status rc = bp_evaluate_checkpoint(&cfg, &ds, ck, (bp_split)split, &res, &err);
    bp_dataset_free(&ds);
    if (!rc) {
        printf("%s: error %.4f%% (%.0f of %d), mean loss %.6g; epoch %d, %s\n",
               bp_split_name((bp_split)split), 100.0 * res.error, res.error * res.samples,
               res.samples, res.loss, res.epoch, ck);
        rc = write_result(dir, &cfg, (bp_split)split, ck, &res, &err);
    }
    if (rc) {
        fprintf(stderr, "biopp eval: %s\n", err.msg);
        return 1;
    }
    return 0;
}
