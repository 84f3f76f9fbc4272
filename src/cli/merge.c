/* biopp merge DIR: the summaries of a sweep folder that several processes
 * (the shards of a Slurm array) wrote into, from the finished runs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/plural.h"
#include "biopp/sweep.h"
#include "args.h"
#include "cli.h"

static void merge_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp merge DIR [--allow-partial]\n"
            "\n"
            "Builds DIR/summary.csv, summary.json and summary.md from the finished runs of the\n"
            "sweep in DIR (DIR/sweep.ini), e.g. after the shards of `biopp slurm` ran, and\n"
            "lists the runs that are missing (not finished) and those that diverged.\n"
            "\n"
            "  --allow-partial   summarise even while runs are missing (they show as pending)\n"
            "  -h, --help        this text\n"
            "\n"
            "Exit status: 0 summarised (every run finished, or --allow-partial), 1 error,\n"
            "2 usage error, 3 runs missing (nothing written; the list says which).\n");
}

/* Prints the missing and diverged runs; returns the number missing. */
static int list_runs(const bp_sweep *s, const char *dir, int *runs, bp_error *err, int *failed)
{
    bp_sweep_cell *c = malloc(sizeof *c);
    int missing = 0, diverged = 0;
    *runs = 0;
    *failed = !c;
    for (int i = 0; c && i < s->n_cells && !*failed; i++) {
        bp_sweep_cell_result r;
        if (bp_sweep_cell_at(s, i, c, err) || bp_sweep_cell_result_read(s, dir, c, &r, err)) {
            *failed = 1;
            break;
        }
        for (int k = 0; k < r.runs; k++) {
            const bp_sweep_run_result *x = &r.run[k];
            if (x->state == BP_SWEEP_PENDING) {
                printf("missing:  %s/seed-%" PRIu64 "\n", c->name, x->seed);
                missing++;
            } else if (x->state == BP_SWEEP_DIVERGED) {
                printf("diverged: %s/seed-%" PRIu64 " (after %d epoch%s)\n", c->name, x->seed,
                       x->epochs, bp_plural_s(x->epochs));
                diverged++;
            }
        }
        *runs += r.runs;
        bp_sweep_cell_result_free(&r);
    }
    free(c);
    if (!*failed)
        fprintf(stderr, "biopp merge: %s: %d cell%s, %d run%s: %d finished (%d diverged), "
                        "%d missing\n", dir, s->n_cells, bp_plural_s(s->n_cells), *runs,
                bp_plural_s(*runs), *runs - missing, diverged, missing);
    return missing;
}

static const cli_option merge_opts[] = {{"--allow-partial", 0, NULL, 0}};

int cmd_merge(int argc, char **argv)
{
    const char *dir = NULL, *v;
    int partial = 0;
    cli_parser p;
    cli_parser_init(&p, "merge", argc, argv, merge_opts, CLI_N_OPTS(merge_opts));
    for (int o; (o = cli_next(&p, &v)) != CLI_END;) {
        if (o == CLI_HELP) {
            merge_usage(stdout);
            return 0;
        }
        if (o == CLI_USAGE) return 2;
        if (o == 0) partial = 1;
        else if (v[0] != '-' && !dir) dir = v;
        else return cli_unexpected("merge", v, merge_usage);
    }
    if (!dir) {
        fprintf(stderr, "biopp merge: the sweep folder DIR is required\n\n");
        merge_usage(stderr);
        return 2;
    }
    char spec[4200];
    snprintf(spec, sizeof spec, "%s/sweep.ini", dir);
    bp_sweep *s = malloc(sizeof *s);
    if (!s) return 1;
    bp_sweep_init(s);
    bp_error err = {0};
    int rc = 0, runs = 0, failed = 0;
    char *md = NULL;
    if (bp_sweep_load(s, spec, &err) || bp_sweep_expand(s, &err)) {
        fprintf(stderr, "biopp merge: %s (is %s a sweep folder?)\n", err.msg, dir);
        rc = 1;
    }
    int missing = rc ? 0 : list_runs(s, dir, &runs, &err, &failed);
    if (!rc && failed) {
        fprintf(stderr, "biopp merge: %s\n", err.msg);
        rc = 1;
    } else if (!rc && missing && !partial) {
        fprintf(stderr, "biopp merge: %d of %d run%s missing: not summarised (run the missing "
                        "shards again, or --allow-partial to summarise anyway)\n",
                missing, runs, bp_plural_s(runs));
        rc = 3;
    } else if (!rc && bp_sweep_write_summary(s, dir, &md, &err)) {
        fprintf(stderr, "biopp merge: writing the summary: %s\n", err.msg);
        rc = 1;
    } else if (!rc) {
        fputs(md, stdout);
        fprintf(stderr, "biopp merge: %s/summary.md, summary.csv, summary.json written%s\n", dir,
                missing ? " (partial)" : "");
    }
    free(md);
    bp_sweep_free(s);
    free(s);
    return rc;
}
