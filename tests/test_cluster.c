/* Running on a cluster (docs/CLUSTER.md): the CPUs of the affinity mask,
 * cell locks, shards, merge, SIGUSR1 checkpoints, --jobs. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "biopp/backend.h"
#include "biopp/fsutil.h"
#include "biopp/runner.h"
#include "biopp/sweep.h"
#include "helpers.h"

/* ---- a temp directory per test, removed afterwards ---- */

static char tmpdir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/biopp_test_cluster_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}

static void teardown(void) { nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

TestSuite(cluster, .init = setup, .fini = teardown);

/* tmpdir/name (tests/helpers.h: 8 buffers in rotation). */
#define tmp_path(...) th_path(tmpdir, __VA_ARGS__)

static const char *write_file(const char *name, const char *text)
{
    const char *path = tmp_path("%s", name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static int same_file(const char *a, const char *b)
{
    char *x = th_slurp(a), *y = th_slurp(b);
    int same = !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

static void expect_same_summaries(const char *a, const char *b)
{
    static const char *files[] = {"summary.csv", "summary.json", "summary.md"};
    for (int i = 0; i < 3; i++)
        cr_expect(same_file(tmp_path("%s/%s", a, files[i]), tmp_path("%s/%s", b, files[i])),
                  "%s/%s differs from %s's", b, files[i], a);
}

static void skip_without_mnist_or_binary(void)
{
    if (!th_mnist_dir()) cr_skip_test("MNIST not found");
    if (access(th_bin(), X_OK) != 0) cr_skip_test("%s not built", th_bin());
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* "Threads:" of /proc/PID/status, or -1 once the process is gone. */
static int thread_count(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    return n;
}

/* ---------------------------------------------------------------------- */
/* threads = 0: the affinity mask                                         */

Test(cluster, cpu_count_follows_the_affinity_mask)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) _exit(3);
        _exit(bp_cpu_count() == 1 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bp_cpu_count() under a 1-CPU mask != 1");
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    cr_expect_eq(bp_cpu_count(), CPU_COUNT(&set));
}

/* Runs `[taskset -c 0] biopp train` (threads = 0) and returns the largest
 * thread count seen in /proc while it trained. */
static int max_threads_of_train(int pinned)
{
    char dir[] = "/tmp/biopp-aff-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        setenv("BIOPP_DATA_DIR", th_mnist_dir(), 1);
        const char *args[] = {"train", "--config", "configs/mnist.ini", "--set", "threads=0",
                              "--set", "epochs=2", "--set", "train_size=6400", "--set",
                              "hidden=2x64", NULL};
        const char *argv[20];
        int k = 0;
        if (pinned) argv[k++] = "taskset", argv[k++] = "-c", argv[k++] = "0";
        argv[k++] = th_bin();
        for (int i = 0; args[i]; i++) argv[k++] = args[i];
        argv[k] = NULL;
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int most = 0, st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        int n = thread_count(pid);
        if (n > most) most = n;
        sleep_ms(2);
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "biopp train failed (status %d)", st);
    rmdir(dir);
    return most;
}

Test(cluster, threads_zero_under_taskset_runs_one_thread, .timeout = 120)
{
    skip_without_mnist_or_binary();
    if (system("taskset -c 0 true >/dev/null 2>&1") != 0) cr_skip_test("taskset not available");
    int pinned = max_threads_of_train(1);
    cr_expect_eq(pinned, 1, "threads = 0 under taskset -c 0 ran %d threads", pinned);
    if (bp_cpu_count() >= 2) {
        int free_ = max_threads_of_train(0);
        cr_expect_gt(free_, 1, "threads = 0 on %d CPUs ran only %d thread", bp_cpu_count(),
                     free_);
    }
}

/* ---------------------------------------------------------------------- */
/* Shards                                                                 */

static void load_sweep(const char *text, bp_sweep *s)
{
    bp_error err = {0};
    const char *path = write_file("s.ini", text);
    bp_sweep_init(s);
    cr_assert_eq(bp_sweep_load(s, path, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_expand(s, &err), BP_OK, "%s", err.msg);
}

/* Every cell in exactly one shard, loads adding up, every shard within
 * total / N + the largest cell, the N largest cells apart, the same split
 * every time. */
static void check_split(const bp_sweep *s, int N)
{
    int n = s->n_cells > 0 ? s->n_cells : 1, *of = calloc((size_t)n, sizeof *of), *again = calloc((size_t)n, sizeof *of);
    double *cost = calloc((size_t)n, sizeof *cost), *load = calloc((size_t)N, sizeof *load);
    double *load2 = calloc((size_t)N, sizeof *load2), *sum = calloc((size_t)N, sizeof *sum);
    bp_error err = {0};
    cr_assert_eq(bp_sweep_shards(s, N, of, cost, load, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_sweep_shards(s, N, again, NULL, load2, &err), BP_OK, "%s", err.msg);
    double total = 0, biggest = 0;
    for (int i = 0; i < n; i++) {
        cr_assert(of[i] >= 0 && of[i] < N, "cell %d in shard %d of %d", i, of[i], N);
        cr_expect_eq(of[i], again[i], "cell %d: shard %d, then %d", i, of[i], again[i]);
        cr_assert_gt(cost[i], 0.0);
        sum[of[i]] += cost[i];
        total += cost[i];
        if (cost[i] > biggest) biggest = cost[i];
    }
    for (int k = 0; k < N; k++) {
        cr_expect(fabs(sum[k] - load[k]) <= 1e-9 * total, "shard %d: load %g, cells %g", k,
                  load[k], sum[k]);
        cr_expect(load[k] <= total / N + biggest * (1 + 1e-12),
                  "N = %d: shard %d has %g, over total/N %g + largest cell %g", N, k, load[k],
                  total / N, biggest);
    }
    /* The min(N, n) costliest cells (distinct costs) lie in different shards. */
    int m = N < n ? N : n;
    int *top = calloc((size_t)m, sizeof *top);
    for (int t = 0; t < m; t++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int u = 0; u < t; u++) taken |= top[u] == i;
            if (!taken && (best < 0 || cost[i] > cost[best])) best = i;
        }
        top[t] = best;
        for (int u = 0; u < t; u++)
            if (cost[top[u]] != cost[best])
                cr_expect_neq(of[top[u]], of[best], "N = %d: big cells %d and %d share shard %d",
                              N, top[u], best, of[best]);
    }
    free(top);
    free(of), free(again), free(cost), free(load), free(load2), free(sum);
}

Test(cluster, shards_cover_the_sweep_once_within_the_bound)
{
    static const char *grids[] = {
        "[sweep]\nseeds = 5\n[model]\nhidden = 1x100,1x800,3x800,2x400,3x400\n"
        "[rule]\nrule = bp,fa,dfa,bfa,bdfa\nbdfa.alpha = 0.25\n",
        "[sweep]\nseeds = 2\n[data]\ndataset = mnist,cifar10\n[model]\nhidden = 1x100,2x400\n"
        "[train]\nepochs = 1,10,100\n",
        "[rule]\nrule = bfa\n",
    };
    static const int Ns[] = {1, 2, 3, 4, 7, 40};
    for (size_t g = 0; g < sizeof grids / sizeof *grids; g++) {
        bp_sweep s;
        load_sweep(grids[g], &s);
        for (size_t k = 0; k < sizeof Ns / sizeof *Ns; k++) check_split(&s, Ns[k]);
        bp_sweep_free(&s);
    }
}

Test(cluster, cell_cost_grows_with_width_depth_rule_epochs_and_seeds)
{
    bp_config a, b;
    bp_config_defaults(&a);
    b = a;
    double base = bp_sweep_cell_cost(&a, 1);
    cr_expect_float_eq(bp_sweep_cell_cost(&a, 5), 5 * base, 1e-6 * base);
    b.epochs = 2 * a.epochs;
    cr_expect_float_eq(bp_sweep_cell_cost(&b, 1), 2 * base, 1e-6 * base);
    b = a;
    b.n_hidden = 3;
    b.hidden[0] = b.hidden[1] = b.hidden[2] = 800;
    double deep = bp_sweep_cell_cost(&b, 1);
    cr_expect_gt(deep, base);
    b.rule = BP_RULE_BFA;
    cr_expect_gt(bp_sweep_cell_cost(&b, 1), deep, "BFA trains its feedback weights too");
}

/* ---------------------------------------------------------------------- */
/* `biopp sweep` processes sharing a folder                               */

static const char *const SMALL =
    "[sweep]\nseeds = 2\n"
    "[data]\ndataset = mnist\ntrain_size = 2560\n"
    "[model]\nhidden = 1x32\n"
    "[rule]\nrule = bp,fa,dfa\n"
    "[optimizer]\nlr = 1e-3\n"
    "[train]\nepochs = 3\nthreads = 1\ncheckpoint_every = 1\n";

/* Starts `biopp ARGS...` (NULL-terminated) with output to tmpdir/LOG. */
static pid_t start(const char *log, ...)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = th_bin();
    va_list ap;
    va_start(ap, log);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 31) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    const char *path = tmp_path("%s", log), *data = th_mnist_dir();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        if (data) setenv("BIOPP_DATA_DIR", data, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static char *log_text(const char *log) { return th_slurp(tmp_path("%s", log)); }

#define RUN(log, ...) wait_exit(start(log, __VA_ARGS__, (const char *)NULL))

/* A reference: the sweep in tmpdir/ref by one process. */
static void reference(const char *cfg, const char *extra_set)
{
    int rc = extra_set ? RUN("ref.log", "sweep", "--config", cfg, "--out", tmp_path("ref"),
                             "--set", extra_set)
                       : RUN("ref.log", "sweep", "--config", cfg, "--out", tmp_path("ref"));
    char *log = log_text("ref.log");
    cr_assert_eq(rc, 0, "%s", log);
    free(log);
}

Test(cluster, two_concurrent_sweeps_train_each_cell_once, .timeout = 180)
{
    skip_without_mnist_or_binary();
    const char *cfg = strdup(write_file("small.ini", SMALL));
    reference(cfg, NULL);
    pid_t a = start("a.log", "sweep", "--config", cfg, "--out", tmp_path("two"), (char *)0);
    pid_t b = start("b.log", "sweep", "--config", cfg, "--out", tmp_path("two"), (char *)0);
    int ra = wait_exit(a), rb = wait_exit(b);
    char *la = log_text("a.log"), *lb = log_text("b.log");
    cr_assert(ra == 0 && rb == 0, "exit %d, %d\n%s\n---\n%s", ra, rb, la, lb);
    static const char *cells[] = {"rule=bp: test", "rule=fa: test", "rule=dfa: test"};
    for (int i = 0; i < 3; i++)
        cr_expect_eq(count_of(la, cells[i]) + count_of(lb, cells[i]), 1,
                     "%s trained %d times\n%s\n---\n%s", cells[i],
                     count_of(la, cells[i]) + count_of(lb, cells[i]), la, lb);
    cr_expect(strstr(la, "another process is training it") || strstr(lb, "another process is training it"),
              "no lock was ever held by the other process:\n%s\n---\n%s", la, lb);
    free(la);
    free(lb);
    expect_same_summaries("ref", "two");
    for (int i = 0; i < 3; i++) {
        static const char *names[] = {"rule=bp", "rule=fa", "rule=dfa"};
        char *m = th_slurp(tmp_path("two/%s/seed-1/metrics.jsonl", names[i]));
        cr_expect_eq(count_of(m, "\n"), 3, "%s: %s", names[i], m);
        free(m);
    }
}

Test(cluster, shards_then_merge_equal_one_process, .timeout = 180)
{
    skip_without_mnist_or_binary();
    const char *cfg = strdup(write_file("small.ini", SMALL));
    reference(cfg, NULL);
    const char *dir = strdup(tmp_path("sh"));
    int rc = RUN("s0.log", "sweep", "--config", cfg, "--out", dir, "--shard", "0/2");
    char *log = log_text("s0.log");
    cr_assert_eq(rc, 0, "%s", log);
    th_assert_has(log, "shard 0/2 done");
    int trained0 = count_of(log, ": test ");
    free(log);
    rc = RUN("m1.log", "merge", dir);
    log = log_text("m1.log");
    cr_expect_eq(rc, 3, "merge with missing runs: %s", log);
    th_assert_has(log, "missing:  rule=");
    th_assert_has(log, "runs missing");
    free(log);
    rc = RUN("m2.log", "merge", dir, "--allow-partial");
    log = log_text("m2.log");
    cr_expect_eq(rc, 0, "%s", log);
    th_assert_has(log, "pending");
    free(log);
    rc = RUN("s1.log", "sweep", "--config", tmp_path("sh/sweep.ini"), "--out", dir, "--shard",
             "1/2");
    log = log_text("s1.log");
    cr_assert_eq(rc, 0, "%s", log);
    int trained1 = count_of(log, ": test ");
    free(log);
    cr_expect(trained0 >= 1 && trained1 >= 1 && trained0 + trained1 == 3,
              "shards trained %d and %d of 3 cells", trained0, trained1);
    rc = RUN("m3.log", "merge", dir);
    log = log_text("m3.log");
    cr_expect_eq(rc, 0, "%s", log);
    th_assert_has(log, "0 missing");
    free(log);
    expect_same_summaries("ref", "sh");
    rc = RUN("bad.log", "sweep", "--config", cfg, "--out", dir, "--shard", "2/2");
    cr_expect_eq(rc, 2, "--shard 2/2 accepted");
}

Test(cluster, jobs_train_cells_at_once_with_the_threads_divided, .timeout = 180)
{
    skip_without_mnist_or_binary();
    if (bp_cpu_count() < 2) cr_skip_test("one CPU: --jobs 2 runs one job");
    const char *cfg = strdup(write_file("small.ini", SMALL));
    reference(cfg, "threads=0");
    int rc = RUN("j.log", "sweep", "--config", cfg, "--out", tmp_path("jobs"), "--set",
                 "threads=0", "--jobs", "2");
    char *log = log_text("j.log");
    cr_assert_eq(rc, 0, "%s", log);
    char want[64];
    int share = bp_cpu_count() / 2;
    snprintf(want, sizeof want, "2 jobs at once, %d thread%s each", share, share == 1 ? "" : "s");
    th_assert_has(log, want);
    for (int i = 0; i < 3; i++) {
        static const char *cells[] = {"rule=bp: test", "rule=fa: test", "rule=dfa: test"};
        cr_expect_eq(count_of(log, cells[i]), 1, "%s: %s", cells[i], log);
    }
    free(log);
    expect_same_summaries("ref", "jobs");
    /* More jobs than CPUs: capped, never oversubscribed. */
    char many[16];
    snprintf(many, sizeof many, "%d", 4 * bp_cpu_count());
    rc = RUN("j2.log", "sweep", "--config", cfg, "--out", tmp_path("jobs2"), "--jobs", many,
             "--dry-run");
    cr_expect_eq(rc, 0);
}

/* ---------------------------------------------------------------------- */
/* SIGUSR1: a checkpoint at the next step, exit 75, an identical rerun     */

static const char *const LONG_EPOCHS =
    "[sweep]\nseeds = 2\n"
    "[data]\ndataset = mnist\ntrain_size = 49920\n"
    "[model]\nhidden = 1x64\n"
    "[rule]\nrule = fa\n"
    "[optimizer]\nlr = 1e-3\n"
    "[train]\nbatch = 64\nepochs = 2\nthreads = 1\ncheckpoint_every = 1\n";

/* For --jobs: two jobs run at different speeds on a loaded machine (one
 * was seen a whole epoch ahead), so both are still training only when the
 * runs are several epochs long. */
static const char *const LONGER_EPOCHS =
    "[sweep]\nseeds = 2\n"
    "[data]\ndataset = mnist\ntrain_size = 49920\n"
    "[model]\nhidden = 1x64\n"
    "[rule]\nrule = fa\n"
    "[optimizer]\nlr = 1e-3\n"
    "[train]\nbatch = 64\nepochs = 5\nthreads = 1\ncheckpoint_every = 1\n";

/* metrics.jsonl without the "seconds" values (the only timing field). */
static void strip_seconds(char *s)
{
    char *p;
    while ((p = strstr(s, "\"seconds\":"))) {
        char *end = p + 10;
        while (*end && *end != ',' && *end != '}') end++;
        memmove(p, end, strlen(end) + 1);
    }
}

static void expect_same_bytes(const char *a, const char *b)
{
    uint8_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bp_error err = {0};
    cr_assert_eq(bp_read_file(a, &x, &nx, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_read_file(b, &y, &ny, &err), BP_OK, "%s", err.msg);
    cr_expect(nx == ny && !memcmp(x, y, nx), "%s and %s differ", a, b);
    free(x);
    free(y);
}

Test(cluster, sigusr1_checkpoints_mid_epoch_and_resumes_identically, .timeout = 240)
{
    skip_without_mnist_or_binary();
    const char *cfg = strdup(write_file("long.ini", LONG_EPOCHS));
    reference(cfg, NULL);
    const char *dir = strdup(tmp_path("cut"));
    pid_t pid = start("cut.log", "sweep", "--config", cfg, "--out", dir, (char *)0);
    /* Into the second epoch: the first epoch's checkpoint exists. */
    const char *ck = strdup(tmp_path("cut/single/seed-2/checkpoint.bin"));
    int seen = 0;
    for (int i = 0; i < 24000 && !seen; i++) {
        seen = bp_file_exists(ck);
        if (waitpid(pid, NULL, WNOHANG) == pid) cr_assert_fail("the sweep ended too early");
        sleep_ms(5);
    }
    cr_assert(seen, "no checkpoint after the first epoch");
    sleep_ms(20); /* into the next epoch, which lasts ~0.2 s or more */
    kill(pid, SIGUSR1);
    int rc = wait_exit(pid);
    char *log = log_text("cut.log");
    cr_assert_eq(rc, BP_EXIT_REQUEUE, "exit %d after SIGUSR1:\n%s", rc, log);
    th_assert_has(log, "stopped at step ");
    th_assert_has(log, "of epoch 2 of 2");
    free(log);
    for (int seed = 1; seed <= 2; seed++) {
        int epoch = -1, pos = -1;
        bp_error err = {0};
        const char *p = tmp_path("cut/single/seed-%d/checkpoint.bin", seed);
        cr_assert_eq(bp_checkpoint_peek(p, &epoch, &pos, &err), BP_OK, "%s", err.msg);
        cr_expect(epoch == 1 && pos > 0 && pos < 780,
                  "seed %d: checkpoint at epoch %d step %d, not inside epoch 2 (780 steps)", seed,
                  epoch, pos);
    }
    rc = RUN("again.log", "sweep", "--config", cfg, "--out", dir);
    log = log_text("again.log");
    cr_assert_eq(rc, 0, "%s", log);
    free(log);
    expect_same_summaries("ref", "cut");
    for (int seed = 1; seed <= 2; seed++) {
        expect_same_bytes(tmp_path("ref/single/seed-%d/checkpoint.bin", seed),
                          tmp_path("cut/single/seed-%d/checkpoint.bin", seed));
        char *a = th_slurp(tmp_path("ref/single/seed-%d/metrics.jsonl", seed));
        char *b = th_slurp(tmp_path("cut/single/seed-%d/metrics.jsonl", seed));
        strip_seconds(a);
        strip_seconds(b);
        cr_expect_str_eq(a, b, "seed %d: metrics differ after the resume", seed);
        free(a);
        free(b);
    }
}

/* ---------------------------------------------------------------------- */
/* biopp slurm: the job files (a real Slurm: make test-slurm)             */

Test(cluster, slurm_writes_array_and_merge_scripts, .timeout = 60)
{
    if (access(th_bin(), X_OK) != 0) cr_skip_test("%s not built", th_bin());
    const char *cfg = strdup(write_file("small.ini", SMALL));
    const char *dir = strdup(tmp_path("job"));
    int rc = RUN("slurm.log", "slurm", "--config", cfg, "--out", dir, "--shards", "3", "--time",
                 "10", "--max-running", "2", "--signal-before", "120", "--partition", "gpu",
                 "--cpus-per-task", "4", "--extra", "--qos=long  --constraint=v100", "--set",
                 "epochs=1");
    char *log = log_text("slurm.log");
    cr_assert_eq(rc, 0, "%s", log);
    th_assert_has(log, "sbatch --dependency=afterok:$A");
    free(log);
    char *job = th_slurp(tmp_path("job/job.sbatch")), *merge = th_slurp(tmp_path("job/merge.sbatch"));
    static const char *want[] = {"#SBATCH --array=0-2%2\n", "#SBATCH --signal=B:USR1@120\n",
                                 "#SBATCH --time=10\n", "#SBATCH --partition=gpu\n",
                                 "#SBATCH --cpus-per-task=4\n", "#SBATCH --qos=long\n",
                                 "#SBATCH --constraint=v100\n", "#SBATCH --requeue\n",
                                 "/logs/%A_%a.out\n", "--shard \"$K/$SHARDS\"", "SHARDS=3\n",
                                 "kill -USR1 $child", "scontrol requeue",
                                 "BIOPP_VERSION=0.1.0\n", "export BIOPP_DATA_DIR="};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) th_assert_has(job, want[i]);
    th_assert_has(merge, "merge \"$SWEEP_DIR\"");
    th_assert_has(merge, "#SBATCH --partition=gpu\n");
    free(job);
    free(merge);
    char *spec = th_slurp(tmp_path("job/sweep.ini"));
    th_assert_has(spec, "epochs = 1");
    free(spec);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "bash -n %s/job.sbatch && bash -n %s/merge.sbatch", dir, dir);
    cr_expect_eq(system(cmd), 0, "the scripts do not parse");
}

/* --jobs: a SIGUSR1 to the parent (all a batch script signals) reaches
 * every job; exit 75; the rerun ends as one uninterrupted process. */
Test(cluster, jobs_forward_sigusr1_and_resume_identically, .timeout = 240)
{
    skip_without_mnist_or_binary();
    if (bp_cpu_count() < 2) cr_skip_test("one CPU: --jobs 2 runs one job");
    const char *cfg = strdup(write_file("longer.ini", LONGER_EPOCHS));
    reference(cfg, "rule=fa,dfa");
    const char *dir = strdup(tmp_path("cut"));
    pid_t pid = start("cut.log", "sweep", "--config", cfg, "--out", dir, "--set", "rule=fa,dfa",
                      "--jobs", "2", (char *)0);
    const char *ck = strdup(tmp_path("cut/rule=fa/seed-1/checkpoint.bin"));
    const char *ck2 = strdup(tmp_path("cut/rule=dfa/seed-1/checkpoint.bin"));
    int seen = 0;
    for (int i = 0; i < 24000 && !seen; i++) {
        seen = bp_file_exists(ck) && bp_file_exists(ck2);
        if (waitpid(pid, NULL, WNOHANG) == pid) cr_assert_fail("the sweep ended too early");
        sleep_ms(5);
    }
    cr_assert(seen, "no checkpoints after the first epochs");
    sleep_ms(20); /* into the next epoch, which lasts ~0.2 s or more */
    kill(pid, SIGUSR1);
    int rc = wait_exit(pid);
    char *log = log_text("cut.log");
    cr_assert_eq(rc, BP_EXIT_REQUEUE, "exit %d after SIGUSR1:\n%s", rc, log);
    cr_expect_eq(count_of(log, "stopped at step "), 2, "both jobs should stop mid-epoch:\n%s", log);
    free(log);
    rc = RUN("again.log", "sweep", "--config", cfg, "--out", dir, "--set", "rule=fa,dfa", "--jobs",
             "2");
    log = log_text("again.log");
    cr_assert_eq(rc, 0, "%s", log);
    free(log);
    expect_same_summaries("ref", "cut");
    static const char *cells[] = {"rule=fa", "rule=dfa"};
    for (int c = 0; c < 2; c++)
        for (int seed = 1; seed <= 2; seed++)
            expect_same_bytes(tmp_path("ref/%s/seed-%d/checkpoint.bin", cells[c], seed),
                              tmp_path("cut/%s/seed-%d/checkpoint.bin", cells[c], seed));
}

/* biopp train: SIGUSR1 inside an epoch exits 75 with the step saved;
 * --resume ends as the uninterrupted run. */
Test(cluster, train_sigusr1_then_resume_equals_uninterrupted, .timeout = 240)
{
    skip_without_mnist_or_binary();
#define TRAIN_ARGS                                                                             \
    "train", "--config", "configs/mnist.ini", "--set", "train_size=49920", "--set", "batch=64", \
        "--set", "hidden=1x64", "--set", "epochs=2", "--set", "threads=1", "--set",           \
        "checkpoint_every=1", "--set", "rule=fa", "--set", "lr=1e-3"
    const char *ref = strdup(tmp_path("ref")), *cut = strdup(tmp_path("cut"));
    int rc = RUN("ref.log", TRAIN_ARGS, "--out", ref);
    cr_assert_eq(rc, 0, "reference training failed");
    pid_t pid = start("cut.log", TRAIN_ARGS, "--out", cut, (char *)0);
    const char *ck = strdup(tmp_path("cut/checkpoint.bin"));
    int seen = 0;
    for (int i = 0; i < 24000 && !seen; i++) {
        seen = bp_file_exists(ck);
        if (waitpid(pid, NULL, WNOHANG) == pid) cr_assert_fail("the run ended too early");
        sleep_ms(5);
    }
    cr_assert(seen, "no checkpoint after the first epoch");
    sleep_ms(20); /* into the next epoch, which lasts ~0.2 s or more */
    kill(pid, SIGUSR1);
    rc = wait_exit(pid);
    char *log = log_text("cut.log");
    cr_assert_eq(rc, BP_EXIT_REQUEUE, "exit %d after SIGUSR1:\n%s", rc, log);
    free(log);
    int epoch = -1, pos = -1;
    bp_error err = {0};
    cr_assert_eq(bp_checkpoint_peek(ck, &epoch, &pos, &err), BP_OK, "%s", err.msg);
    cr_expect(epoch == 1 && pos > 0 && pos < 780, "checkpoint at epoch %d step %d", epoch, pos);
    rc = RUN("again.log", TRAIN_ARGS, "--out", cut, "--resume");
    log = log_text("again.log");
    cr_assert_eq(rc, 0, "%s", log);
    free(log);
    expect_same_bytes(tmp_path("ref/checkpoint.bin"), tmp_path("cut/checkpoint.bin"));
    char *a = th_slurp(tmp_path("ref/metrics.jsonl")), *b = th_slurp(tmp_path("cut/metrics.jsonl"));
    strip_seconds(a);
    strip_seconds(b);
    cr_expect_str_eq(a, b);
    free(a);
    free(b);
#undef TRAIN_ARGS
}
