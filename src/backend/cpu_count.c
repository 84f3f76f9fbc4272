/* The CPUs this process may run on: its affinity mask, which is what
 * taskset, cgroups (cpuset) and Slurm's task binding restrict, rather than
 * every CPU of the machine (sysconf), which oversubscribes a job that was
 * given two cores of a 64-core node. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "biopp/backend.h"

int bp_cpu_count(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN); /* no mask (unusual): all online CPUs */
    return n > 0 ? (int)n : 1;
}

void bp_cpu_model_name(char *buf, size_t size)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, size, "cpu");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon += 1 + strspn(colon + 1, " \t");
        colon[strcspn(colon, "\n")] = '\0';
        if (*colon) snprintf(buf, size, "%s", colon);
        break;
    }
    if (f) fclose(f);
}
