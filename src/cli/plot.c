/* biopp plot: charts of a run or a sweep folder (library: src/plot.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "biopp/plot.h"
#include "args.h"
#include "biopp/plural.h"
#include "cli.h"

static void plot_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp plot RUN_OR_SWEEP_DIR --out FOLDER\n"
            "\n"
            "Draws PNG charts with gnuplot (Debian package gnuplot-nox; $BIOPP_GNUPLOT names\n"
            "another gnuplot) and writes each chart's data (.dat) and gnuplot script (.gp)\n"
            "beside it in FOLDER.\n"
            "\n"
            "A run folder (biopp train --out DIR):\n"
            "  error.png        train (running, during the epoch), validation and test error\n"
            "                   per epoch, log scale\n"
            "  loss.png         train (forward) and test loss; the feedback loss (BFA, BDFA)\n"
            "                   on the right axis\n"
            "  align-delta.png  when metrics.jsonl has alignment angles: per hidden layer,\n"
            "  align-dW.png     the angle of delta_l and of dW_l to BP's, and of the feedback\n"
            "  align-fb.png     matrix to W_l^T, per epoch\n"
            "  run.dat          the metrics.jsonl as columns\n"
            "A sweep folder (biopp sweep --out DIR):\n"
            "  test-error-<hidden>.png   per architecture, a line per cell (rule): the mean\n"
            "                            test error over its seeds, the band min..max\n"
            "  align-*-<hidden>.png      the alignment angles, mean over seeds, when logged\n"
            "  sweep-<hidden>-<rule>.dat the numbers of each line\n"
            "\n"
            "  --out FOLDER   where the charts go (created)\n"
            "  -h, --help     this text\n"
            "\n"
            "Options also take the form --opt=VALUE.\n"
            "\n"
            "Exit status: 0 done, 1 error (also: gnuplot missing), 2 usage error.\n");
}

static const cli_option plot_opts[] = {{"--out", 0, "FOLDER", 0}};

int cmd_plot(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *v;
    cli_parser p;
    cli_parser_init(&p, "plot", argc, argv, plot_opts, CLI_N_OPTS(plot_opts));
    for (int o; (o = cli_next(&p, &v)) != CLI_END;) {
        if (o == CLI_HELP) {
            plot_usage(stdout);
            return 0;
        }
        if (o == CLI_USAGE) return 2;
        if (o == 0) out = v;
        else if (v[0] != '-' && !dir) dir = v;
        else return cli_unexpected("plot", v, plot_usage);
    }
    if (!dir || !out) {
        fprintf(stderr, "biopp plot: a run or sweep folder and --out FOLDER are required\n\n");
        plot_usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a gnuplot that dies early is an error, not a crash */
    bp_error err = {0};
    int charts = 0;
    fprintf(stderr, "biopp plot: %s ->\n", dir);
    if (bp_plot_dir(dir, out, stderr, &charts, &err)) {
        fprintf(stderr, "biopp plot: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "biopp plot: %d chart%s in %s\n", charts, bp_plural_s(charts), out);
    return 0;
}
