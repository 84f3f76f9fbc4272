/* Running on a cluster (docs/CLUSTER.md): the CPUs of the affinity mask,
 * cell locks, shards, merge, SIGUSR1 checkpoints, --jobs. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
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
#include "helpers.h"

static const char *bin(void)
{
    const char *b = getenv("BIOPP_BIN");
    return b && *b ? b : "build/biopp";
}

static void skip_without_mnist_or_binary(void)
{
    if (!th_mnist_dir()) cr_skip_test("MNIST not found");
    if (access(bin(), X_OK) != 0) cr_skip_test("%s not built", bin());
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
        argv[k++] = bin();
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
