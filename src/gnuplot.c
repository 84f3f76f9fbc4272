/* See include/biopp/gnuplot.h. */
#include "biopp/gnuplot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define INSTALL_HINT "install the Debian package gnuplot-nox (apt-get install gnuplot-nox, or make deps)"

static int find_on_path(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(out, size, "%.*s/%s", (int)len, path, name);
        if (len && access(out, X_OK) == 0) return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}

/* gnuplot exits non-zero when a command fails; the quoting keeps the
 * program name one word for the shell. */
static int run_quiet(const char *prog, const char *script)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' >/dev/null 2>&1", prog);
    FILE *p = popen(cmd, "w");
    if (!p) return -1;
    fputs(script, p);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bp_status bp_gnuplot_open(bp_gnuplot *gp, bp_error *err)
{
    memset(gp, 0, sizeof *gp);
    const char *env = getenv("BIOPP_GNUPLOT");
    if (env && *env) {
        snprintf(gp->prog, sizeof gp->prog, "%s", env);
        if (access(gp->prog, X_OK) != 0)
            return bp_fail(err, BP_ERR_UNSUPPORTED,
                           "gnuplot not found: BIOPP_GNUPLOT=%s is not an executable; unset it "
                           "or " INSTALL_HINT, env);
    } else if (!find_on_path("gnuplot", gp->prog, sizeof gp->prog)) {
        return bp_fail(err, BP_ERR_UNSUPPORTED,
                       "gnuplot not found on PATH: biopp plot draws its charts with gnuplot; "
                       INSTALL_HINT);
    }
    if (strchr(gp->prog, '\''))
        return bp_fail(err, BP_ERR_ARG, "%s: a gnuplot path with a quote is not supported",
                       gp->prog);
    if (run_quiet(gp->prog, "set terminal pngcairo\n") == 0)
        snprintf(gp->terminal, sizeof gp->terminal, "pngcairo");
    else if (run_quiet(gp->prog, "set terminal png\n") == 0)
        snprintf(gp->terminal, sizeof gp->terminal, "png");
    else
        return bp_fail(err, BP_ERR_UNSUPPORTED,
                       "%s has neither the pngcairo nor the png terminal; " INSTALL_HINT,
                       gp->prog);
    return BP_OK;
}

bp_status bp_gnuplot_run(const bp_gnuplot *gp, const char *script, const char *what,
                         bp_error *err)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s'", gp->prog);
    fflush(stderr);
    FILE *p = popen(cmd, "w");
    if (!p) return bp_fail(err, BP_ERR_IO, "%s: cannot start %s", what, gp->prog);
    int ok = fputs(script, p) >= 0;
    int st = pclose(p);
    if (!ok || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return bp_fail(err, BP_ERR_IO, "%s: gnuplot failed (its message is above)", what);
    return BP_OK;
}
