/* Memory estimates (include/biopp/memory.h). The counts follow what
 * bp_net_create and bp_group_create allocate (src/net.c, src/train.c); the
 * tensor shapes come from bp_net_plan, so every rule's arenas are exact.
 * tests/test_reliability.c checks the estimate against the allocations. */
#include "biopp/memory.h"

#include "biopp/align.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "biopp/net.h"

#define MIB (1024.0 * 1024.0)
/* Allocations not modelled (OpenBLAS and thread pool buffers, stacks). */
#define OVERHEAD_BYTES ((size_t)32 << 20)

static size_t arena_bytes(const bp_arena *a, bp_optimizer opt, double momentum, size_t *state)
{
    size_t p = a->n * sizeof(float);
    *state = 0;
    if (a->trained) {
        *state += p; /* gradients */
        if (opt == BP_OPT_ADAM || momentum != 0.0) *state += p;
        if (opt == BP_OPT_ADAM) *state += p;
    }
    return p;
}

static size_t activation_floats(const bp_net *net)
{
    size_t per_row = 0;
    int wmax = 0;
    for (int l = 0; l <= net->L; l++) per_row += (size_t)net->n[l];            /* H */
    for (int l = 1; l <= net->L; l++) per_row += (size_t)net->n[l];            /* delta */
    per_row += 4 * (size_t)net->C + 1;                                         /* logits.. + labels */
    if (net->cfg.rule == BP_RULE_BFA)
        for (int l = 0; l <= net->L; l++) per_row += 2 * (size_t)net->n[l];    /* mirror, eps */
    for (int l = 1; l <= net->L; l++) wmax = net->n[l] > wmax ? net->n[l] : wmax;
    if (net->cfg.rule == BP_RULE_BDFA) per_row += 2 * (size_t)wmax;            /* P, HS */
    return per_row * (size_t)net->R * net->rows_cap;
}

/* The alignment diagnostics' buffers (src/align.c bp_align_reserve): BP's
 * deltas, its largest dW and the epoch's measurements. */
static size_t align_bytes(const bp_net *net, int steps)
{
    int count = bp_align_count(net->cfg.align_every, steps);
    if (!count) return 0;
    size_t floats = 0, grad = 0;
    for (int l = 1; l <= net->L; l++) {
        floats += (size_t)net->R * net->B * net->n[l];
        size_t w = (size_t)net->n[l] * net->n[l - 1];
        grad = w > grad ? w : grad;
    }
    floats += (size_t)net->R * (grad ? grad : 1) + bp_align_floats(net) * (size_t)count;
    return floats * sizeof(float);
}

bp_status bp_memory_estimate(const bp_config *cfg, int R, const bp_dataset *ds,
                             bp_mem_estimate *e, bp_error *err)
{
    memset(e, 0, sizeof *e);
    bp_net *net = bp_net_plan(cfg, R, ds->train.dim, ds->classes);
    if (!net) return bp_fail(err, BP_ERR_NOMEM, "memory estimate: out of host memory");
    const bp_arena *arenas[3] = {&net->fwd, &net->fb, &net->fixed};
    size_t per_run_ck = 0;
    for (int i = 0; i < 3; i++) {
        size_t state;
        double momentum = i == 2 ? 0.0 : cfg->momentum;
        size_t p = arena_bytes(arenas[i], cfg->optimizer, momentum, &state);
        e->weights += p;
        e->optimizer += state;
        per_run_ck += (p + (state > p ? state - p : 0)) / (size_t)R; /* p, m, v */
    }
    e->activations = activation_floats(net) * sizeof(float);
    size_t n_train = (size_t)cfg->train_size, steps = n_train / (size_t)cfg->batch;
    size_t nseq = (size_t)(ds->train.n > ds->test.n ? ds->train.n : ds->test.n);
    e->dataset = (size_t)ds->train.n * (ds->train.dim + 1) + (size_t)ds->test.n * (ds->test.dim + 1) +
                 nseq * sizeof(int32_t);
    size_t idx = (size_t)R * n_train * sizeof(int32_t);
    size_t metrics = steps * (size_t)net->metric_slots * R * sizeof(float);
    /* Adam's factors and the step numbers of the epoch's steps (per-step
     * draws read them), and the runs' seeds in backend memory. */
    size_t per_step = 2 * sizeof(bp_adam_hyper) + sizeof(uint64_t);
    /* + the one-step room the net is created with, live until the epoch's
     * room replaces it (bp_net_reserve_steps allocates before it frees). */
    size_t hyper = ((steps > 1 ? steps : 1) + 1) * per_step + (size_t)R * sizeof(uint64_t);
    size_t n_valid = (size_t)bp_config_valid_count(cfg, ds->train.n);
    size_t nmax = n_valid > (size_t)ds->test.n ? n_valid : (size_t)ds->test.n;
    size_t chunks = (nmax + (size_t)cfg->eval_batch - 1) / (size_t)cfg->eval_batch;
    size_t eval = (chunks ? chunks : 1) * 2 * R * sizeof(float);
    e->buffers = idx + metrics + hyper + eval + align_bytes(net, (int)steps);
    e->backend = e->weights + e->optimizer + e->activations + e->dataset + e->buffers;
    e->checkpoint = per_run_ck + 4096; /* + header and tensor table */
    /* Host: sample orders, metrics, Adam factors, and the larger of the
     * transient buffers (initialisation scratch; a checkpoint and its
     * download copy), both under 2 checkpoints. */
    e->host = idx + metrics + hyper + eval + 2 * e->checkpoint;
    free(net);
    return BP_OK;
}

static size_t read_size_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    int ok = fscanf(f, "%llu", &v) == 1; /* "max" reads as no number */
    fclose(f);
    return ok ? (size_t)v : 0;
}

/* Bytes of the "Name: N kB" line of a /proc file matching fmt; 0 if none. */
static size_t read_kb_field(const char *path, const char *fmt)
{
    size_t bytes = 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, fmt, &kb) == 1) bytes = (size_t)kb * 1024;
    fclose(f);
    return bytes;
}

size_t bp_host_memory_available(void)
{
    size_t avail = read_kb_field("/proc/meminfo", "MemAvailable: %llu kB");
    size_t max = read_size_file("/sys/fs/cgroup/memory.max");
    size_t cur = read_size_file("/sys/fs/cgroup/memory.current");
    if (max && max > cur && (!avail || max - cur < avail)) avail = max - cur;
    /* ulimit -v: what is left of the address space. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        size_t vm = read_kb_field("/proc/self/status", "VmSize: %llu kB");
        size_t left = (size_t)rl.rlim_cur > vm ? (size_t)rl.rlim_cur - vm : 1;
        if (!avail || left < avail) avail = left;
    }
    const char *cap = getenv("BIOPP_HOST_MEMORY_MB");
    if (cap && *cap) {
        size_t c = (size_t)strtoull(cap, NULL, 10) << 20;
        if (!avail || c < avail) avail = c;
    }
    return avail;
}

static void describe(char *buf, size_t n, const bp_mem_estimate *e, size_t total, int host)
{
    int k = snprintf(buf, n,
                     "about %.0f MiB (weights %.1f, gradients and optimizer state %.1f, "
                     "activations %.1f, data set %.1f, buffers %.1f",
                     total / MIB, e->weights / MIB, e->optimizer / MIB, e->activations / MIB,
                     e->dataset / MIB, e->buffers / MIB);
    if (k > 0 && (size_t)k < n)
        snprintf(buf + k, n - k, host ? ", host copies %.1f, other %.0f MiB)" : " MiB)",
                 e->host / MIB, OVERHEAD_BYTES / MIB);
}

bp_status bp_memory_check(const bp_config *cfg, int R, const bp_dataset *ds, bp_backend *be,
                          bp_error *err)
{
    bp_mem_estimate e;
    bp_status rc = bp_memory_estimate(cfg, R, ds, &e, err);
    if (rc) return rc;
    const char *advice =
        "use fewer seeds per group (a sweep trains each cell's seeds together), a smaller "
        "batch or eval_batch, smaller hidden layers, or a smaller train_size";
    char what[512];
    int on_host = be->device == BP_DEVICE_CPU;
    size_t host_need = e.host + OVERHEAD_BYTES + (on_host ? e.backend : 0);
    size_t host_avail = bp_host_memory_available();
    if (host_avail && host_need > host_avail) {
        describe(what, sizeof what, &e, host_need, 1);
        return bp_fail(err, BP_ERR_NOMEM,
                       "memory: %d run%s of this config need%s %s of host memory, but only "
                       "%.0f MiB are available (MemAvailable, cgroup limit, ulimit -v or "
                       "$BIOPP_HOST_MEMORY_MB); %s",
                       R, R == 1 ? "" : "s", R == 1 ? "s" : "", what, host_avail / MIB, advice);
    }
    size_t used = 0, total = 0;
    if (!on_host && be->ops->memory && be->ops->memory(be, &used, &total) == BP_OK &&
        total > used && e.backend > total - used) {
        describe(what, sizeof what, &e, e.backend, 0);
        return bp_fail(err, BP_ERR_NOMEM,
                       "memory: %d run%s of this config need%s %s of %s memory, but only %.0f "
                       "MiB of %.0f MiB are free; %s",
                       R, R == 1 ? "" : "s", R == 1 ? "s" : "", what, be->ops->name, (total - used) / MIB,
                       total / MIB, advice);
    }
    return BP_OK;
}

/* Free bytes for an unprivileged writer on the file system holding path,
 * or of its nearest existing parent (run folders may not exist yet). */
static int free_bytes(const char *path, size_t *out)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (;;) {
        struct statvfs st;
        if (statvfs(p[0] ? p : ".", &st) == 0) {
            *out = (size_t)st.f_bavail * st.f_frsize;
            return 0;
        }
        char *slash = strrchr(p, '/');
        if (!p[0] || slash == p) return -1;
        if (slash) *slash = '\0';
        else p[0] = '\0';
    }
}

static size_t file_size(const char *dir, const char *name)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

bp_status bp_disk_check(const bp_config *cfg, int R, const bp_dataset *ds,
                        const char *const *dirs, bp_error *err)
{
    bp_mem_estimate e;
    bp_status rc = bp_memory_estimate(cfg, R, ds, &e, err);
    if (rc) return rc;
    size_t logs = (size_t)64 << 10; /* config.ini, metrics.jsonl, final.json */
    size_t need = e.checkpoint, have = 0;
    for (int r = 0; r < R; r++) {
        size_t old = file_size(dirs[r], "checkpoint.bin") + file_size(dirs[r], "checkpoint.prev.bin");
        size_t want = 2 * e.checkpoint + logs;
        need += want > old ? want - old : 0;
    }
    if (free_bytes(dirs[0], &have) != 0) return BP_OK; /* unknown: the writes will tell */
    if (need > have)
        return bp_fail(err, BP_ERR_IO,
                       "%s: not enough disk space: %d run%s need%s about %.1f MiB for checkpoints "
                       "(two of %.1f MiB per run) and logs, %.1f MiB are free; free some space "
                       "or choose another --out",
                       dirs[0], R, R == 1 ? "" : "s", R == 1 ? "s" : "", need / MIB, e.checkpoint / MIB, have / MIB);
    return BP_OK;
}
