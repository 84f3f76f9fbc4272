/* Child processes for `biopp sweep --jobs J`: J children run the same body
 * (they share the work through the sweep's cell locks); the parent forwards
 * stop signals to them and combines their exit statuses.
 *
 * Signals: a child only notes a signal (it then stops at its next step and
 * saves its state), however often it comes, because a terminal's Ctrl-C
 * reaches the children directly and again through the parent. The parent
 * forwards each SIGINT, SIGTERM or SIGUSR1 it gets (a batch script signals
 * only the parent); a second one to the parent kills the children and
 * exits at once, as for a single process. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "biopp/runner.h"
#include "cli.h"

static volatile sig_atomic_t parent_signal = 0, parent_count = 0;

static void on_parent_signal(int sig)
{
    parent_signal = sig;
    if (parent_count++ == 0) bp_stop_acknowledge(sig); /* the children stay silent */
}

static void on_child_signal(int sig)
{
    bp_stop_signal = sig;
    bp_stop_requested = 1;
}

static void set_handlers(void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* The worst status wins: error, then requeue, then interrupted, then done. */
static int combine(int a, int b)
{
    static const int order[] = {1, BP_EXIT_REQUEUE, 130, 0};
    for (int i = 0; i < 4; i++)
        if (a == order[i] || b == order[i]) return order[i];
    return a ? a : b;
}

static void signal_all(const pid_t *pid, int n, int sig)
{
    for (int i = 0; i < n; i++)
        if (pid[i] > 0) kill(pid[i], sig);
}

int cli_run_jobs(int jobs, int (*body)(void *user, int job), void *user)
{
    pid_t *pid = calloc((size_t)jobs, sizeof *pid);
    if (!pid) {
        fprintf(stderr, "biopp: out of memory\n");
        return 1;
    }
    set_handlers(on_parent_signal);
    fflush(NULL);
    int rc = 0, live = 0;
    for (int j = 0; j < jobs; j++) {
        pid[j] = fork();
        if (pid[j] == 0) {
            set_handlers(on_child_signal);
            if (parent_count) on_child_signal(parent_signal);
            int st = body(user, j);
            fflush(NULL);
            _exit(st);
        }
        if (pid[j] < 0) {
            fprintf(stderr, "biopp: cannot start job %d of %d: %s\n", j + 1, jobs,
                    strerror(errno));
            rc = 1;
            break;
        }
        live++;
    }
    int forwarded = 0;
    while (live > 0) {
        if (parent_count > forwarded) {
            forwarded = parent_count;
            if (forwarded >= 2) { /* a second signal: leave now */
                signal_all(pid, jobs, SIGKILL);
                signal(parent_signal, SIG_DFL);
                raise(parent_signal);
            }
            signal_all(pid, jobs, parent_signal);
        }
        int st;
        pid_t done = waitpid(-1, &st, WNOHANG);
        if (done > 0) {
            for (int j = 0; j < jobs; j++)
                if (pid[j] == done) pid[j] = 0;
            live--;
            rc = combine(rc, WIFEXITED(st) ? WEXITSTATUS(st) : 1);
        } else if (done < 0 && errno != EINTR) {
            break;
        } else {
            struct timespec ts = {0, 20000000}; /* 20 ms: a signal is forwarded within it */
            nanosleep(&ts, NULL);
        }
    }
    if (parent_count) {
        bp_stop_signal = parent_signal;
        bp_stop_requested = 1;
    }
    free(pid);
    return rc;
}
