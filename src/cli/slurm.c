/* biopp slurm: the job files that run a sweep on a Slurm cluster as an
 * array job, one shard per task (docs/CLUSTER.md). Nothing is installed on
 * the cluster: the scripts call this binary by its absolute path and record
 * its version and the data directory. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "biopp/data.h"
#include "biopp/fsutil.h"
#include "biopp/plural.h"
#include "biopp/runner.h"
#include "biopp/sweep.h"
#include "args.h"
#include "cli.h"

#define SIGNAL_BEFORE_S 300 /* default warning before the time limit */

static void slurm_usage(FILE *f)
{
    fprintf(f,
            "usage: biopp slurm --config FILE --out DIR --shards N [--set key=value]...\n"
            "                   [--partition P] [--time T] [--gpus-per-task G] [--cpus-per-task C]\n"
            "                   [--mem M] [--account A] [--max-running M] [--extra 'sbatch flags']\n"
            "                   [--signal-before S] [--jobs J] [--submit]\n"
            "\n"
            "Writes DIR/job.sbatch, an array job of N tasks in which task K runs\n"
            "`biopp sweep --shard K/N` on the sweep (written to DIR/sweep.ini now), and\n"
            "DIR/merge.sbatch, which runs `biopp merge DIR` after the array succeeded; prints\n"
            "the sbatch commands, or with --submit runs them and prints the job ids.\n"
            "Logs: DIR/logs/<array id>_<task>.out. Details: docs/CLUSTER.md.\n"
            "\n"
            "  -c, --config FILE, --out DIR, --set key=value   the sweep, as for `biopp sweep`\n"
            "  --shards N          tasks in the array (each a shard of whole cells)\n"
            "  --partition, --time, --gpus-per-task, --cpus-per-task, --mem, --account\n"
            "                      passed to sbatch as #SBATCH lines (time: Slurm's format)\n"
            "  --max-running M     at most M tasks at once (--array=0-(N-1)%%M)\n"
            "  --extra 'FLAGS'     more sbatch flags, e.g. --extra '--qos=long --constraint=v100'\n"
            "  --signal-before S   ask Slurm for SIGUSR1 S seconds before the time limit\n"
            "                      (default %d): biopp saves a checkpoint at the next step,\n"
            "                      exits 75 and the task requeues itself, then resumes\n"
            "  --jobs J            each task trains J cells at once (biopp sweep --jobs)\n"
            "  --submit            submit both scripts with sbatch\n"
            "  -h, --help          this text\n"
            "\n"
            "Running the same command again (the same sweep) writes the same scripts; a\n"
            "resubmitted array resumes: finished cells are kept, the rest continue from\n"
            "their checkpoints.\n"
            "\n"
            "Options also take the form --opt=VALUE.\n"
            "\n"
            "Exit status: 0 written (and submitted), 1 error, 2 usage error.\n",
            SIGNAL_BEFORE_S);
}

typedef struct {
    const char *config, *out;
    cli_list sets;
    int shards, submit, signal_before, jobs;
    const char *partition, *time, *gpus, *cpus, *mem, *account, *max_running, *extra;
} slurm_args;

enum {
    O_CONFIG, O_OUT, O_PARTITION, O_TIME, O_GPUS, O_CPUS, O_MEM, O_ACCOUNT, O_MAX_RUNNING,
    O_EXTRA, O_SET, O_SHARDS, O_SIGNAL_BEFORE, O_JOBS, O_SUBMIT, N_OPTS
};
static const cli_option slurm_opts[N_OPTS] = {
    [O_CONFIG] = {"--config", 'c', "FILE", 0},
    [O_OUT] = {"--out", 0, "DIR", 0},
    [O_PARTITION] = {"--partition", 0, "P", 0},
    [O_TIME] = {"--time", 0, "T", 0},
    [O_GPUS] = {"--gpus-per-task", 0, "G", 0},
    [O_CPUS] = {"--cpus-per-task", 0, "C", 0},
    [O_MEM] = {"--mem", 0, "M", 0},
    [O_ACCOUNT] = {"--account", 0, "A", 0},
    [O_MAX_RUNNING] = {"--max-running", 0, "M", 0},
    [O_EXTRA] = {"--extra", 0, "'sbatch flags'", 0},
    [O_SET] = {"--set", 0, "key=value", 1},
    [O_SHARDS] = {"--shards", 0, "N", 0},
    [O_SIGNAL_BEFORE] = {"--signal-before", 0, "S", 0},
    [O_JOBS] = {"--jobs", 0, "J", 0},
    [O_SUBMIT] = {"--submit", 0, NULL, 0},
};

/* A count >= 1 for option opt, or a usage error (2). */
static int positive(const char *opt, const char *text, const char *what, int *v)
{
    if (cli_parse_int(text, 1, 1 << 30, v)) return 0;
    return cli_usage_error("slurm", "%s '%s': expected %s >= 1", opt, text, what);
}

/* -1: go on; otherwise the exit status. a->sets is allocated either way. */
static int parse_args(int argc, char **argv, slurm_args *a)
{
    memset(a, 0, sizeof *a);
    a->signal_before = SIGNAL_BEFORE_S;
    a->jobs = 1;
    if (cli_list_init(&a->sets, argc)) return 1;
    const char **str[N_OPTS] = {
        [O_CONFIG] = &a->config,     [O_OUT] = &a->out,         [O_PARTITION] = &a->partition,
        [O_TIME] = &a->time,         [O_GPUS] = &a->gpus,       [O_CPUS] = &a->cpus,
        [O_MEM] = &a->mem,           [O_ACCOUNT] = &a->account, [O_MAX_RUNNING] = &a->max_running,
        [O_EXTRA] = &a->extra};
    cli_parser p;
    cli_parser_init(&p, "slurm", argc, argv, slurm_opts, CLI_N_OPTS(slurm_opts));
    const char *v;
    for (int o, rc = 0; (o = cli_next(&p, &v)) != CLI_END;) {
        if (o == CLI_HELP) {
            slurm_usage(stdout);
            return 0;
        }
        if (o == CLI_USAGE) return 2;
        if (o == CLI_POSITIONAL) return cli_unexpected("slurm", v, slurm_usage);
        if (str[o]) *str[o] = v;
        else if (o == O_SET) a->sets.v[a->sets.n++] = v;
        else if (o == O_SHARDS) rc = positive("--shards", v, "a count", &a->shards);
        else if (o == O_SIGNAL_BEFORE) rc = positive("--signal-before", v, "seconds",
                                                     &a->signal_before);
        else if (o == O_JOBS) rc = positive("--jobs", v, "a count", &a->jobs);
        else if (o == O_SUBMIT) a->submit = 1;
        if (rc) return rc;
    }
    int mr;
    if (a->max_running && positive("--max-running", a->max_running, "a count", &mr)) return 2;
    if (!a->config || !a->out || !a->shards) {
        fprintf(stderr, "biopp slurm: %s is required\n\n",
                !a->config ? "--config FILE" : !a->out ? "--out DIR" : "--shards N");
        slurm_usage(stderr);
        return 2;
    }
    return -1;
}

/* s in single quotes for a shell (a ' becomes '\''). */
static void shell_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

typedef struct {
    char bin[PATH_MAX], dir[PATH_MAX], data[PATH_MAX], name[128];
} job_paths;

static int resolve_paths(const bp_sweep *s, const char *out, job_paths *p)
{
    ssize_t n = readlink("/proc/self/exe", p->bin, sizeof p->bin - 1);
    if (n <= 0) {
        fprintf(stderr, "biopp slurm: cannot find this binary (/proc/self/exe): %s\n",
                strerror(errno));
        return 1;
    }
    p->bin[n] = '\0';
    if (!realpath(out, p->dir)) {
        fprintf(stderr, "biopp slurm: %s: %s\n", out, strerror(errno));
        return 1;
    }
    bp_sweep_cell c;
    bp_error err;
    char data[PATH_MAX];
    if (bp_sweep_cell_at(s, 0, &c, &err)) {
        fprintf(stderr, "biopp slurm: %s\n", err.msg);
        return 1;
    }
    bp_data_dir_resolve(c.cfg.data_dir, data, sizeof data);
    if (!realpath(data, p->data)) snprintf(p->data, sizeof p->data, "%s", data);
    const char *base = strrchr(p->dir, '/');
    snprintf(p->name, sizeof p->name, "%s", base && base[1] ? base + 1 : "sweep");
    for (char *q = p->name; *q; q++)
        if (*q == ' ' || *q == '\'' || *q == '"') *q = '_';
    return 0;
}

static void sbatch_line(FILE *f, const char *flag, const char *value)
{
    if (value) fprintf(f, "#SBATCH %s=%s\n", flag, value);
}

/* One "#SBATCH FLAG" line per whitespace-separated flag of --extra. */
static void extra_lines(FILE *f, const char *extra)
{
    if (!extra) return;
    char *copy = strdup(extra), *save = NULL;
    for (char *t = copy ? strtok_r(copy, " \t", &save) : NULL; t; t = strtok_r(NULL, " \t", &save))
        fprintf(f, "#SBATCH %s\n", t);
    free(copy);
}

static void common_lines(FILE *f, const slurm_args *a)
{
    sbatch_line(f, "--partition", a->partition);
    sbatch_line(f, "--account", a->account);
    extra_lines(f, a->extra);
}

static void recorded(FILE *f, const job_paths *p)
{
    fprintf(f, "\n# Recorded by `biopp slurm`: the binary, its version and the data it used.\n");
    fprintf(f, "BIOPP=");
    shell_quote(f, p->bin);
    fprintf(f, "\nBIOPP_VERSION=%s\nSWEEP_DIR=", BIOPP_VERSION);
    shell_quote(f, p->dir);
    fprintf(f, "\nexport BIOPP_DATA_DIR=");
    shell_quote(f, p->data);
    fprintf(f, "\nif [ \"$(\"$BIOPP\" --version 2>&1)\" != \"biopp $BIOPP_VERSION\" ]; then\n"
               "    echo \"biopp slurm: warning: $BIOPP is not biopp $BIOPP_VERSION any more "
               "($(\"$BIOPP\" --version 2>&1))\" >&2\nfi\n");
}

static char *job_script(const slurm_args *a, const job_paths *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fprintf(f, "#!/bin/bash\n"
               "# The sweep in %s as a Slurm array job, written by `biopp slurm`\n"
               "# (docs/CLUSTER.md). Task K trains shard K of %d. Submit with\n"
               "#   sbatch %s/job.sbatch\n",
            p->dir, a->shards, p->dir);
    fprintf(f, "#SBATCH --job-name=biopp-%s\n", p->name);
    fprintf(f, "#SBATCH --array=0-%d", a->shards - 1);
    if (a->max_running) fprintf(f, "%%%s", a->max_running);
    fprintf(f, "\n#SBATCH --output=%s/logs/%%A_%%a.out\n", p->dir);
    fprintf(f, "#SBATCH --open-mode=append\n#SBATCH --requeue\n");
    fprintf(f, "#SBATCH --signal=B:USR1@%d\n", a->signal_before);
    sbatch_line(f, "--time", a->time);
    sbatch_line(f, "--cpus-per-task", a->cpus);
    sbatch_line(f, "--gpus-per-task", a->gpus);
    sbatch_line(f, "--mem", a->mem);
    common_lines(f, a);
    recorded(f, p);
    fprintf(f, "SHARDS=%d\n"
               "K=${SLURM_ARRAY_TASK_ID:?run this script with sbatch: it is an array job}\n"
               "echo \"biopp slurm: shard $K/$SHARDS, job ${SLURM_JOB_ID:-?} "
               "(${SLURM_ARRAY_JOB_ID:-?}_$K), restart ${SLURM_RESTART_COUNT:-0}, on $(hostname), "
               "$(\"$BIOPP\" --version), data $BIOPP_DATA_DIR\"\n\n",
            a->shards);
    fprintf(f, "# biopp runs in the background so that this shell can pass Slurm's\n"
               "# time-limit warning (SIGUSR1, sent to this shell only: --signal=B:...) on.\n"
               "\"$BIOPP\" sweep --config \"$SWEEP_DIR/sweep.ini\" --out \"$SWEEP_DIR\" "
               "--shard \"$K/$SHARDS\"");
    if (a->jobs > 1) fprintf(f, " --jobs %d", a->jobs);
    fprintf(f, " &\nchild=$!\n"
               "trap 'echo \"biopp slurm: SIGUSR1 (time limit near): checkpoint at the next "
               "step\"; kill -USR1 $child 2>/dev/null' USR1\n"
               "# SIGTERM (scancel, preemption, the time limit itself) reaches every process\n"
               "# of the job, biopp too: the shell only waits for biopp to save its state.\n"
               "trap 'echo \"biopp slurm: SIGTERM: biopp stops at the next step\"' TERM\n"
               "while :; do\n"
               "    wait $child\n"
               "    rc=$?\n"
               "    kill -0 $child 2>/dev/null || break  # a trap ended the wait, not biopp\n"
               "done\n"
               "if [ $rc -eq %d ]; then\n"
               "    echo \"biopp slurm: state saved; requeueing task ${SLURM_ARRAY_JOB_ID}_$K to "
               "continue\"\n"
               "    scontrol requeue \"${SLURM_ARRAY_JOB_ID}_$K\" && exit 0\n"
               "fi\n"
               "exit $rc\n",
            BP_EXIT_REQUEUE);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static char *merge_script(const slurm_args *a, const job_paths *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fprintf(f, "#!/bin/bash\n"
               "# Merges the shards of %s once the array job has succeeded, written by\n"
               "# `biopp slurm`. Submit with\n"
               "#   sbatch --dependency=afterok:<array job id> %s/merge.sbatch\n",
            p->dir, p->dir);
    fprintf(f, "#SBATCH --job-name=biopp-merge-%s\n", p->name);
    fprintf(f, "#SBATCH --output=%s/logs/merge_%%j.out\n#SBATCH --cpus-per-task=1\n", p->dir);
    fprintf(f, "#SBATCH --time=10\n");
    common_lines(f, a);
    recorded(f, p);
    fprintf(f, "exec \"$BIOPP\" merge \"$SWEEP_DIR\"\n");
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int write_script(const char *dir, const char *name, char *text)
{
    char path[PATH_MAX + 32];
    bp_error err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = 0;
    if (!text) {
        fprintf(stderr, "biopp slurm: out of memory\n");
        rc = 1;
    } else if (bp_write_file_atomic(path, text, strlen(text), &err)) {
        fprintf(stderr, "biopp slurm: %s\n", err.msg);
        rc = 1;
    }
    free(text);
    return rc;
}

/* Runs `sbatch --parsable ARGS...` and reads the job id it prints. */
static int sbatch(const char *dependency, const char *script, char *id, size_t n)
{
    char cmd[2 * PATH_MAX];
    char *buf = NULL;
    size_t len = 0;
    FILE *q = open_memstream(&buf, &len);
    if (!q) return 1;
    fprintf(q, "sbatch --parsable");
    if (dependency) fprintf(q, " --dependency=afterok:%s", dependency);
    fputc(' ', q);
    shell_quote(q, script);
    fclose(q);
    snprintf(cmd, sizeof cmd, "%s", buf);
    free(buf);
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, "biopp slurm: cannot run sbatch: %s\n", strerror(errno));
        return 1;
    }
    char line[256] = "";
    if (!fgets(line, sizeof line, p)) line[0] = '\0';
    int st = pclose(p);
    line[strcspn(line, ";\r\n")] = '\0'; /* "id" or "id;cluster" */
    if (st != 0 || !*line) {
        fprintf(stderr, "biopp slurm: `%s` failed (status %d); is Slurm's sbatch on PATH and "
                        "the cluster reachable?\n", cmd, st);
        return 1;
    }
    snprintf(id, n, "%s", line);
    return 0;
}

static int submit(const job_paths *p, int shards)
{
    char job[PATH_MAX + 16], merge[PATH_MAX + 16], array_id[128], merge_id[128];
    snprintf(job, sizeof job, "%s/job.sbatch", p->dir);
    snprintf(merge, sizeof merge, "%s/merge.sbatch", p->dir);
    if (sbatch(NULL, job, array_id, sizeof array_id)) return 1;
    printf("submitted array job %s (%d task%s): logs in %s/logs/%s_<task>.out\n", array_id, shards,
           bp_plural_s(shards), p->dir, array_id);
    if (sbatch(array_id, merge, merge_id, sizeof merge_id)) return 1;
    printf("submitted merge job %s (after array job %s succeeds): %s/logs/merge_%s.out\n",
           merge_id, array_id, p->dir, merge_id);
    printf("array_job=%s merge_job=%s\n", array_id, merge_id);
    return 0;
}

int cmd_slurm(int argc, char **argv)
{
    slurm_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        cli_list_free(&a.sets);
        return rc;
    }
    rc = 0;
    bp_sweep *s = malloc(sizeof *s);
    job_paths *p = calloc(1, sizeof *p);
    if (!s || !p) {
        cli_list_free(&a.sets);
        free(s);
        free(p);
        return 1;
    }
    bp_sweep_init(s);
    bp_error err = {0};
    bp_status st = bp_sweep_load(s, a.config, &err);
    for (int i = 0; !st && i < a.sets.n; i++) st = bp_sweep_override(s, a.sets.v[i], &err);
    cli_list_free(&a.sets);
    if (!st) st = bp_sweep_expand(s, &err);
    if (!st) cli_sweep_warnings("slurm", s);
    int replaced = 0;
    if (!st) st = bp_sweep_prepare_dir_replacing(s, a.out, &replaced, &err);
    if (!st && replaced)
        fprintf(stderr, "biopp slurm: %s/sweep.ini held a different sweep that had started no "
                        "run; replaced it with this one\n", a.out);
    char logs[PATH_MAX + 8];
    snprintf(logs, sizeof logs, "%s/logs", a.out);
    if (!st) st = bp_mkdir_p(logs, &err);
    if (st) {
        fprintf(stderr, "biopp slurm: %s\n", err.msg);
        rc = 1;
    }
    if (!rc) rc = resolve_paths(s, a.out, p);
    if (!rc) rc = write_script(p->dir, "job.sbatch", job_script(&a, p));
    if (!rc) rc = write_script(p->dir, "merge.sbatch", merge_script(&a, p));
    if (!rc && a.shards > s->n_cells)
        fprintf(stderr, "biopp slurm: note: %d shards for %d cell%s; %d task%s will have nothing "
                        "to do\n", a.shards, s->n_cells, bp_plural_s(s->n_cells),
                a.shards - s->n_cells, bp_plural_s(a.shards - s->n_cells));
    if (!rc) {
        fprintf(stderr, "biopp slurm: %d cell%s x %d seed%s in %d shard%s: %s/job.sbatch, "
                        "%s/merge.sbatch\n", s->n_cells, bp_plural_s(s->n_cells), s->n_seeds,
                bp_plural_s(s->n_seeds), a.shards, bp_plural_s(a.shards), p->dir, p->dir);
        if (a.submit) {
            rc = submit(p, a.shards);
        } else {
            printf("A=$(sbatch --parsable %s/job.sbatch) && "
                   "sbatch --dependency=afterok:$A %s/merge.sbatch\n", p->dir, p->dir);
        }
    }
    bp_sweep_free(s);
    free(s);
    free(p);
    return rc;
}
