/* bench/bench.c: throughput harness for one biopp configuration.
 *
 * One process measures one configuration (rule, hidden widths, group size R,
 * threads, device) so that its peak RSS belongs to that configuration alone.
 * It links the library and drives it the way src/train.c drives an epoch,
 * with no evaluation: a repetition of N steps uploads its sample order
 * (untimed), prepares Adam's factors for the N steps, then gathers a batch
 * and calls bp_train_step N times, through the backend's recorder when it
 * has one (CUDA graphs: the timed repetitions are replays, as in training
 * from the third epoch on).
 *
 * What it reports (one JSON object on stdout):
 *   - samples/s over K repetitions of N training steps (median, min, max;
 *     samples = N * batch * R), after W warm-up steps;
 *   - the exact GEMMs one training step issues (recorded by wrapping the
 *     backend's gemm op during a warm-up step), their FLOP count
 *     (sum of 2*m*n*k*R), and the rate of those GEMMs replayed alone through
 *     the same gemm op on scratch buffers ("gemm_rate": the machine's GEMM
 *     rate for exactly these shapes);
 *   - step efficiency = (FLOPs per step / step time) / gemm_rate;
 *   - a per-op profile of the timed steps: seconds per step in each backend
 *     op (every GEMM by its place in the step, the elementwise ops) and the
 *     rest ("other": loop and call overhead). CPU ops are synchronous, so
 *     this is exact there; on CUDA the op times are launch times unless
 *     --sync-ops is given;
 *   - peak RSS (getrusage ru_maxrss) of the process.
 *
 * --dump-init and --dump-perm write the initial parameters of run 0 and a
 * sample order, so bench/torch_ref.py can check its Philox against biopp's.
 *
 * Build (the Makefile's bench rule does the same):
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -I. -o build/bench_biopp bench/bench.c \
 *       build/libbiopp.a -lopenblas -linih -lcjson -lz -lm -lpthread */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "biopp/align.h"
#include "biopp/backend.h"
#include "biopp/config.h"
#include "biopp/data.h"
#include "biopp/net.h"
#include "biopp/ops.h"
#include "biopp/rng.h"
#include "biopp/step.h"
#include "kernels/philox.h"

/* OpenBLAS introspection (declared in OpenBLAS's cblas.h; declared here so
 * the harness does not depend on which cblas.h is first on the path). */
char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

typedef struct {
    const char *rule, *hidden, *device, *precision, *data_dir, *dump_init, *dump_perm;
    int R, threads, batch, warmup, steps, reps, gemm_reps, train_size, synthetic;
    int sync_ops, peak, perm_n, perm_epoch, no_graph, align_every;
    uint64_t seed;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_biopp [options]\n"
            "\n"
            "Times biopp training steps for one configuration and prints one JSON object.\n"
            "\n"
            "  --rule NAME        bp | fa | dfa | bfa | bdfa             (default bp)\n"
            "  --hidden SPEC      hidden widths, e.g. 3x800 or 800-400   (default 3x800)\n"
            "  --R N              runs in the group (seeds seed..seed+N-1) (default 1)\n"
            "  --threads N        CPU threads for OpenBLAS, 0 = all cores (default 0)\n"
            "  --device D         cpu | cuda                             (default cpu)\n"
            "  --precision P      fp32 | tf32 (tf32: cuda only)          (default fp32)\n"
            "  --batch N          training batch                         (default 128)\n"
            "  --warmup N         untimed steps first, rounded up to whole repetitions\n"
            "                     (+2 repetitions when CUDA graphs record) (default 3)\n"
            "  --steps N          training steps per timed repetition    (default 10)\n"
            "  --reps K           timed repetitions (median, min, max)   (default 5)\n"
            "  --gemm-reps K      repetitions of the GEMM-only replay    (default: --reps)\n"
            "  --align-every K    measure the alignment diagnostics every K steps of a\n"
            "                     repetition (0 = off, the default; as align_every)\n"
            "  --train-size N     training samples kept resident; sample orders are\n"
            "                     Philox permutations of them, as in training (default 10000)\n"
            "  --seed S           seed of run 0                          (default 1)\n"
            "  --data-dir DIR     MNIST under DIR/mnist (default $BIOPP_DATA_DIR, else data)\n"
            "  --synthetic        random data of MNIST's shape (784 inputs, 10 classes);\n"
            "                     also used when MNIST cannot be loaded\n"
            "  --sync-ops         sync after every op (exact per-op times on CUDA; use\n"
            "                     with --no-graph)\n"
            "  --no-graph         issue every step from the host even when the backend\n"
            "                     can record and replay them (CUDA graphs)\n"
            "  --no-peak          skip the square SGEMM reference rate (n = 1024 on\n"
            "                     CPU, 4096 on CUDA)\n"
            "  --dump-init FILE   write run 0's initial parameters (float32, arenas\n"
            "                     forward, feedback, fixed; tensors in declaration order)\n"
            "                     and print their manifest; no timing\n"
            "  --dump-perm FILE   write bp_permutation(seed, BP_STREAM_SHUFFLE + E, N)\n"
            "                     as int32 (N = --perm-n, E = --perm-epoch); no timing\n"
            "  -h, --help         this text\n"
            "\n"
            "Exit status: 0 measured, 1 error, 2 usage, 3 device unavailable (a JSON\n"
            "object with \"skipped\" is printed).\n");
}

static int parse_int(const char *s, int lo, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > 1000000000) return 1;
    *out = (int)v;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.rule = "bp", .hidden = "3x800", .device = "cpu", .precision = "fp32",
                   .R = 1, .threads = 0,
                   .batch = 128, .warmup = 3, .steps = 10, .reps = 5, .gemm_reps = -1,
                   .train_size = 10000, .seed = 1, .peak = 1, .perm_n = 10000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--synthetic")) {
            o->synthetic = 1;
            continue;
        } else if (!strcmp(a, "--sync-ops")) {
            o->sync_ops = 1;
            continue;
        } else if (!strcmp(a, "--no-peak")) {
            o->peak = 0;
            continue;
        } else if (!strcmp(a, "--no-graph")) {
            o->no_graph = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench_biopp: '%s' needs a value (or is unknown)\n\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--rule")) o->rule = v;
        else if (!strcmp(a, "--hidden")) o->hidden = v;
        else if (!strcmp(a, "--device")) o->device = v;
        else if (!strcmp(a, "--precision")) o->precision = v;
        else if (!strcmp(a, "--data-dir")) o->data_dir = v;
        else if (!strcmp(a, "--dump-init")) o->dump_init = v;
        else if (!strcmp(a, "--dump-perm")) o->dump_perm = v;
        else if (!strcmp(a, "--R")) bad = parse_int(v, 1, &o->R);
        else if (!strcmp(a, "--threads")) bad = parse_int(v, 0, &o->threads);
        else if (!strcmp(a, "--batch")) bad = parse_int(v, 1, &o->batch);
        else if (!strcmp(a, "--warmup")) bad = parse_int(v, 1, &o->warmup);
        else if (!strcmp(a, "--steps")) bad = parse_int(v, 1, &o->steps);
        else if (!strcmp(a, "--align-every")) bad = parse_int(v, 0, &o->align_every);
        else if (!strcmp(a, "--reps")) bad = parse_int(v, 1, &o->reps);
        else if (!strcmp(a, "--gemm-reps")) bad = parse_int(v, 1, &o->gemm_reps);
        else if (!strcmp(a, "--train-size")) bad = parse_int(v, 1, &o->train_size);
        else if (!strcmp(a, "--perm-n")) bad = parse_int(v, 1, &o->perm_n);
        else if (!strcmp(a, "--perm-epoch")) bad = parse_int(v, 0, &o->perm_epoch);
        else if (!strcmp(a, "--seed")) {
            char *end;
            o->seed = strtoull(v, &end, 10);
            bad = *v == '\0' || *end != '\0';
        } else {
            fprintf(stderr, "bench_biopp: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "bench_biopp: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    if (o->gemm_reps < 0) o->gemm_reps = o->reps;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Timing and the op-timing shim                                            */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

enum {
    OP_GEMM, OP_BIAS_ACT, OP_ACT_GRAD_MUL, OP_OUTPUT_ERROR, OP_COL_SUM, OP_MAKE_TARGET,
    OP_BDFA_ALIGN, OP_RECON_ERROR, OP_GATHER, OP_ADAM, OP_SGD, OP_COUNT
};
static const char *op_names[OP_COUNT] = {"gemm",        "bias_act",    "act_grad_mul",
                                         "output_error", "col_sum",     "make_target",
                                         "bdfa_align",  "recon_error", "gather",
                                         "adam_step",   "sgd_step"};

#define MAX_GEMMS 128

typedef struct {
    int R, ta, tb, m, n, k, a_shared;
    double seconds; /* accumulated inside timed steps */
} gemm_rec;

static struct {
    const bp_backend_ops *real;
    int sync_ops;
    int timing;     /* accumulate op times (only inside timed steps) */
    int recording;  /* record GEMM shapes (one warm-up step) */
    int gemm_index; /* GEMM number within the current step */
    double op_s[OP_COUNT];
    long op_calls[OP_COUNT];
    gemm_rec gemms[MAX_GEMMS];
    int ngemms;
    int overflow;
} shim;

static double op_begin(void) { return shim.timing ? now_s() : 0.0; }

static void op_end(bp_backend *be, int op, double t0)
{
    if (!shim.timing) return;
    if (shim.sync_ops) shim.real->sync(be);
    shim.op_s[op] += now_s() - t0;
    shim.op_calls[op]++;
}

static bp_status w_gemm(bp_backend *be, int R, bp_trans ta, bp_trans tb, int m, int n, int k,
                        float alpha, const float *A, int a_shared, const float *B, float beta,
                        float *C)
{
    if (shim.recording) {
        if (shim.ngemms < MAX_GEMMS)
            shim.gemms[shim.ngemms++] = (gemm_rec){R, ta, tb, m, n, k, a_shared, 0.0};
        else
            shim.overflow = 1;
    }
    double t0 = op_begin();
    bp_status rc = shim.real->gemm(be, R, ta, tb, m, n, k, alpha, A, a_shared, B, beta, C);
    if (shim.timing) {
        if (shim.sync_ops) shim.real->sync(be);
        double dt = now_s() - t0;
        shim.op_s[OP_GEMM] += dt;
        shim.op_calls[OP_GEMM]++;
        if (shim.gemm_index < shim.ngemms) shim.gemms[shim.gemm_index].seconds += dt;
    }
    shim.gemm_index++;
    return rc;
}

#define WRAP(op, name, params, args)                                                      \
    static bp_status w_##name params                                                      \
    {                                                                                     \
        double t0 = op_begin();                                                           \
        bp_status rc = shim.real->name args;                                              \
        op_end(be, op, t0);                                                               \
        return rc;                                                                        \
    }

WRAP(OP_BIAS_ACT, bias_act,
     (bp_backend * be, int R, int rows, int cols, bp_act act, const float *a, const float *bias,
      float *h),
     (be, R, rows, cols, act, a, bias, h))
WRAP(OP_ACT_GRAD_MUL, act_grad_mul,
     (bp_backend * be, int R, int rows, int cols, bp_act act, const float *h, float *g),
     (be, R, rows, cols, act, h, g))
WRAP(OP_OUTPUT_ERROR, output_error,
     (bp_backend * be, int R, int B, int C, bp_output kind, const float *logits,
      const int32_t *labels, float *yhat, float *e, float *loss_out, float *nerr_out),
     (be, R, B, C, kind, logits, labels, yhat, e, loss_out, nerr_out))
WRAP(OP_COL_SUM, col_sum,
     (bp_backend * be, int R, int rows, int cols, float alpha, const float *x, float *out),
     (be, R, rows, cols, alpha, x, out))
WRAP(OP_MAKE_TARGET, make_target,
     (bp_backend * be, int R, int B, int C, bp_bdfa_target mode, float alpha,
      const int32_t *labels, const float *src, float *t),
     (be, R, B, C, mode, alpha, labels, src, t))
WRAP(OP_BDFA_ALIGN, bdfa_align,
     (bp_backend * be, int R, int B, int n, bp_bdfa_loss kind, const float *p, const float *h,
      float *hs, float *loss_out),
     (be, R, B, n, kind, p, h, hs, loss_out))
WRAP(OP_RECON_ERROR, recon_error,
     (bp_backend * be, int R, int B, int n, bp_recon kind, const float *g, const float *x,
      float *eps, float *loss_out),
     (be, R, B, n, kind, g, x, eps, loss_out))
WRAP(OP_GATHER, gather,
     (bp_backend * be, int R, int B, int dim, const uint8_t *pixels, const uint8_t *labels_all,
      const int32_t *idx, size_t idx_stride, float *x, int32_t *labels),
     (be, R, B, dim, pixels, labels_all, idx, idx_stride, x, labels))
WRAP(OP_ADAM, adam_step,
     (bp_backend * be, size_t n, float *param, const float *grad, float *m, float *v,
      const bp_adam_hyper *hp),
     (be, n, param, grad, m, v, hp))
WRAP(OP_SGD, sgd_step,
     (bp_backend * be, size_t n, float *param, const float *grad, float *vel, float lr,
      float momentum),
     (be, n, param, grad, vel, lr, momentum))

static bp_backend_ops shim_ops;

static void install_shim(bp_backend *be, int sync_ops, int no_graph)
{
    shim.real = be->ops;
    shim.sync_ops = sync_ops;
    shim_ops = *be->ops;
    shim_ops.gemm = w_gemm;
    shim_ops.bias_act = w_bias_act;
    shim_ops.act_grad_mul = w_act_grad_mul;
    shim_ops.output_error = w_output_error;
    shim_ops.col_sum = w_col_sum;
    shim_ops.make_target = w_make_target;
    shim_ops.bdfa_align = w_bdfa_align;
    shim_ops.recon_error = w_recon_error;
    shim_ops.gather = w_gather;
    shim_ops.adam_step = w_adam_step;
    shim_ops.sgd_step = w_sgd_step;
    if (no_graph) {
        shim_ops.graph_begin = NULL;
        shim_ops.graph_end = NULL;
        shim_ops.graph_reset = NULL;
    }
    be->ops = &shim_ops;
}

static void uninstall_shim(bp_backend *be)
{
    if (shim.real) be->ops = shim.real;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

static int die(const char *what, const bp_error *err)
{
    fprintf(stderr, "bench_biopp: %s: %s\n", what, err ? err->msg : "");
    return 1;
}

static void print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (s) {
        printf("%s\n", s);
        fflush(stdout);
    }
    free(s);
    cJSON_Delete(o);
}

static int skipped(const options *o, const char *why)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "engine", "biopp");
    cJSON_AddStringToObject(j, "rule", o->rule);
    cJSON_AddStringToObject(j, "hidden", o->hidden);
    cJSON_AddStringToObject(j, "device", o->device);
    cJSON_AddStringToObject(j, "precision", o->precision);
    cJSON_AddNumberToObject(j, "R", o->R);
    cJSON_AddStringToObject(j, "skipped", why);
    print_json(j);
    return 3;
}

/* Uploads n floats uniform in [-1, 1) (Philox) to a fresh backend buffer. */
static float *random_buffer(bp_backend *be, size_t n, uint64_t stream)
{
    float *dev = be->ops->alloc(be, (n ? n : 1) * sizeof(float));
    float *host = malloc((n ? n : 1) * sizeof(float));
    if (!dev || !host) {
        free(host);
        if (dev) be->ops->release(be, dev);
        return NULL;
    }
    bp_uniform_fill(12345, stream, 1.0f, host, n);
    be->ops->upload(be, dev, host, n * sizeof(float));
    free(host);
    return dev;
}

static double gemm_flops(const gemm_rec *g)
{
    return 2.0 * g->m * (double)g->n * g->k * g->R;
}

/* ------------------------------------------------------------------------ */
/* Dumps for bench/torch_ref.py                                             */

static int dump_init(const options *o, bp_net *net, bp_backend *be)
{
    FILE *f = fopen(o->dump_init, "wb");
    if (!f) {
        fprintf(stderr, "bench_biopp: cannot write %s\n", o->dump_init);
        return 1;
    }
    cJSON *j = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "dump_init", o->dump_init);
    cJSON_AddStringToObject(j, "rule", o->rule);
    cJSON_AddStringToObject(j, "hidden", o->hidden);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    const bp_arena *arenas[3] = {&net->fwd, &net->fb, &net->fixed};
    size_t file_off = 0;
    for (int a = 0; a < 3; a++) {
        const bp_arena *ar = arenas[a];
        if (ar->ntensors == 0) continue;
        size_t per_run = ar->n / net->R;
        float *host = malloc(per_run * sizeof(float));
        bp_error err = {0};
        if (!host || bp_arena_download_run(net, ar, ar->p, 0, host, be, &err)) {
            free(host);
            fclose(f);
            cJSON_Delete(j);
            cJSON_Delete(list);
            return die("downloading parameters", &err);
        }
        fwrite(host, sizeof(float), per_run, f);
        for (int i = 0; i < ar->ntensors; i++) {
            const bp_tensor *t = &ar->t[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "arena", ar->id);
            cJSON_AddNumberToObject(e, "index", i);
            cJSON_AddStringToObject(e, "name", t->name);
            cJSON_AddNumberToObject(e, "rows", t->rows);
            cJSON_AddNumberToObject(e, "cols", t->cols);
            cJSON_AddNumberToObject(e, "offset", (double)(file_off + t->off / net->R));
            cJSON_AddItemToArray(list, e);
        }
        file_off += per_run;
        free(host);
    }
    fclose(f);
    cJSON_AddNumberToObject(j, "floats", (double)file_off);
    cJSON_AddItemToObject(j, "tensors", list);
    print_json(j);
    return 0;
}

static int dump_perm(const options *o)
{
    int32_t *idx = malloc((size_t)o->perm_n * sizeof *idx);
    FILE *f = fopen(o->dump_perm, "wb");
    if (!idx || !f) {
        free(idx);
        if (f) fclose(f);
        fprintf(stderr, "bench_biopp: cannot write %s\n", o->dump_perm);
        return 1;
    }
    bp_permutation(o->seed, BP_STREAM_SHUFFLE + (uint64_t)o->perm_epoch, idx, (size_t)o->perm_n);
    fwrite(idx, sizeof *idx, (size_t)o->perm_n, f);
    fclose(f);
    free(idx);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "dump_perm", o->dump_perm);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "epoch", o->perm_epoch);
    cJSON_AddNumberToObject(j, "n", o->perm_n);
    print_json(j);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Data                                                                     */

/* The first n training samples of MNIST, or synthetic data of its shape. */
static int load_data(const options *o, bp_images *im, int *classes, const char **source)
{
    int n = o->train_size;
    if (!o->synthetic) {
        bp_dataset ds;
        bp_error err = {0};
        char dir[1024];
        bp_data_dir_resolve(o->data_dir, dir, sizeof dir);
        if (!bp_dataset_load("mnist", dir, &ds, &err)) {
            if (n > ds.train.n) n = ds.train.n;
            im->n = n;
            im->dim = ds.train.dim;
            im->x = malloc((size_t)n * im->dim);
            im->y = malloc((size_t)n);
            if (!im->x || !im->y) return 1;
            memcpy(im->x, ds.train.x, (size_t)n * im->dim);
            memcpy(im->y, ds.train.y, (size_t)n);
            *classes = ds.classes;
            *source = "mnist";
            bp_dataset_free(&ds);
            return 0;
        }
        fprintf(stderr, "bench_biopp: %s; using synthetic data of MNIST's shape\n", err.msg);
    }
    im->n = n;
    im->dim = 784;
    im->x = malloc((size_t)n * im->dim);
    im->y = malloc((size_t)n);
    if (!im->x || !im->y) return 1;
    for (size_t i = 0; i < (size_t)n * im->dim; i++)
        im->x[i] = (uint8_t)(bp_philox_u32(o->seed, 99, i) >> 24);
    for (int i = 0; i < n; i++) im->y[i] = (uint8_t)(bp_philox_u32(o->seed, 98, i) % 10);
    *classes = 10;
    *source = "synthetic";
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Measurement                                                              */

/* A repetition of N steps is issued like an epoch of src/train.c: one
 * index buffer (this repetition's sample order, uploaded before it), Adam's
 * factors prepared for the N steps, and, when the backend records
 * sequences (CUDA graphs), the same recorded sequence replayed. */
typedef struct {
    bp_net *net;
    bp_backend *be;
    uint8_t *x, *y;   /* resident training samples */
    int32_t *idx;     /* R x N*B sample indices of the current repetition */
    int32_t *host_idx;/* R x reps_total*N*B, all repetitions */
    size_t idx_stride;/* N*B */
    float *metrics;   /* N x slots x R, reused by every repetition */
    int N, rep;       /* steps per repetition, repetitions issued */
    int replays;      /* repetitions that were graph replays */
    int align_every;  /* --align-every */
} harness;

static bp_status issue_steps(harness *h)
{
    bp_net *net = h->net;
    bp_backend *be = h->be;
    for (int s = 0; s < h->N; s++) {
        shim.gemm_index = 0;
        BP_TRY(be->ops->gather(be, net->R, net->B, net->n[0], h->x, h->y,
                               h->idx + (size_t)s * net->B, h->idx_stride, net->H[0],
                               net->labels));
        float *align = h->align_every && s % h->align_every == 0
                           ? net->align + (size_t)(s / h->align_every) * bp_align_floats(net)
                           : NULL;
        BP_TRY(bp_train_step_measured(
            net, be, h->metrics + (size_t)s * net->metric_slots * net->R, align));
        shim.recording = 0; /* only the very first step is recorded */
    }
    return BP_OK;
}

/* One repetition: upload its sample order (untimed, like training's
 * per-epoch shuffle upload, which an epoch of hundreds of steps amortises),
 * then prepare Adam's factors, issue or replay the N steps and wait for
 * them (timed). Returns the seconds of the timed part in *secs. */
static bp_status run_rep(harness *h, double *secs)
{
    bp_net *net = h->net;
    bp_backend *be = h->be;
    size_t n = (size_t)net->R * h->idx_stride;
    BP_TRY(be->ops->upload(be, h->idx, h->host_idx + (size_t)h->rep * n, n * sizeof *h->idx));
    BP_TRY(be->ops->sync(be));
    double t0 = now_s();
    long long step0 = net->step;
    BP_TRY(bp_optim_prepare(net, be, h->N));
    int replay = 0;
    if (be->ops->graph_begin) BP_TRY(be->ops->graph_begin(be, &replay));
    bp_status rc = BP_OK;
    if (replay) {
        net->step += h->N;
        h->replays++;
    } else {
        rc = issue_steps(h);
    }
    if (be->ops->graph_end) {
        bp_status end = be->ops->graph_end(be);
        if (end == BP_ERR_UNSUPPORTED) { /* the recording failed; nothing ran */
            net->step = step0;
            rc = issue_steps(h);
        } else if (!rc) {
            rc = end;
        }
    }
    if (!rc) rc = be->ops->sync(be);
    *secs = now_s() - t0;
    h->rep++;
    return rc;
}

/* 1 when every metric of the last repetition is finite. */
static int metrics_finite(harness *h)
{
    size_t nm = (size_t)h->N * h->net->metric_slots * h->net->R;
    float *m = malloc(nm * sizeof *m);
    int ok = 1;
    if (m && !h->be->ops->download(h->be, m, h->metrics, nm * sizeof *m))
        for (size_t i = 0; i < nm; i++) ok &= isfinite(m[i]) != 0;
    free(m);
    return ok;
}

static cJSON *stats_json(double *v, int n, double scale)
{
    cJSON *o = cJSON_CreateObject();
    double *c = malloc((size_t)n * sizeof *c);
    for (int i = 0; i < n; i++) c[i] = v[i] * scale;
    double med = median(c, n); /* sorts c */
    cJSON_AddNumberToObject(o, "median", med);
    cJSON_AddNumberToObject(o, "min", c[0]);
    cJSON_AddNumberToObject(o, "max", c[n - 1]);
    cJSON *all = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(all, cJSON_CreateNumber(v[i] * scale));
    cJSON_AddItemToObject(o, "all", all);
    free(c);
    return o;
}

int main(int argc, char **argv)
{
    options o;
    int urc = parse_options(argc, argv, &o);
    if (urc) return urc;
    if (o.dump_perm) return dump_perm(&o);

    bp_config cfg;
    bp_error err = {0};
    char buf[32];
    bp_config_defaults(&cfg);
    snprintf(buf, sizeof buf, "%d", o.batch);
    if (bp_config_set(&cfg, "rule", o.rule, "--rule", &err) ||
        bp_config_set(&cfg, "hidden", o.hidden, "--hidden", &err) ||
        bp_config_set(&cfg, "device", o.device, "--device", &err) ||
        bp_config_set(&cfg, "precision", o.precision, "--precision", &err) ||
        bp_config_set(&cfg, "batch", buf, "--batch", &err) ||
        bp_config_set(&cfg, "lr", "1e-3", "bench", &err))
        return die("config", &err);
    cfg.threads = o.threads;
    cfg.seed = o.seed;
    cfg.train_size = o.train_size;
    if (o.dump_init) cfg.train_size = cfg.batch; /* no data needed */
    if (bp_config_validate(&cfg, &err)) return die("config", &err);

    uint64_t seeds[BP_MAX_SEEDS];
    if (o.R > BP_MAX_SEEDS) {
        fprintf(stderr, "bench_biopp: --R %d: at most %d\n", o.R, BP_MAX_SEEDS);
        return 2;
    }
    for (int r = 0; r < o.R; r++) seeds[r] = o.seed + (uint64_t)r;

    bp_backend *be = NULL;
    if (bp_backend_create(&cfg, &be, &err)) {
        if (cfg.device == BP_DEVICE_CUDA) return skipped(&o, err.msg);
        return die("backend", &err);
    }

    if (o.dump_init) {
        bp_net *net = NULL;
        if (bp_net_create(&cfg, seeds, o.R, 784, 10, be, &net, &err)) return die("net", &err);
        int rc = dump_init(&o, net, be);
        bp_net_destroy(net, be);
        bp_backend_destroy(be);
        return rc;
    }

    /* Data: the first train_size samples, resident in backend memory. */
    bp_images im = {0};
    int classes = 10;
    const char *source = NULL;
    if (load_data(&o, &im, &classes, &source)) return die("out of host memory", NULL);
    if (im.n < cfg.batch) {
        fprintf(stderr, "bench_biopp: %d samples, fewer than one batch\n", im.n);
        return 1;
    }

    harness h = {.be = be, .N = o.steps};
    if (bp_net_create(&cfg, seeds, o.R, im.dim, classes, be, &h.net, &err))
        return die("net", &err);
    bp_net *net = h.net;
    /* Untimed repetitions first: enough for --warmup steps, plus two when
     * the backend records sequences (it runs the first directly and records
     * the second), so that the timed ones are what training's later epochs
     * are. */
    int warm_reps = (o.warmup + o.steps - 1) / o.steps;
    if (be->ops->graph_begin && !o.no_graph) warm_reps += 2;
    int reps_total = warm_reps + o.reps;
    h.idx_stride = (size_t)o.steps * cfg.batch;
    size_t nm = (size_t)o.steps * net->metric_slots * o.R;
    h.x = be->ops->alloc(be, (size_t)im.n * im.dim);
    h.y = be->ops->alloc(be, (size_t)im.n);
    h.metrics = be->ops->alloc(be, nm * sizeof(float));
    net->metrics = h.metrics; /* released with the net */
    net->metric_steps = o.steps;
    h.idx = be->ops->alloc(be, (size_t)o.R * h.idx_stride * sizeof *h.idx);
    /* Sample orders as in training: each epoch a Philox permutation of the
     * resident samples per run, last partial batch dropped; enough epochs
     * for every step. Layout: repetition, run, N*B indices. */
    int per_epoch = im.n / cfg.batch;
    size_t rep_n = (size_t)o.R * h.idx_stride;
    h.host_idx = malloc((size_t)reps_total * rep_n * sizeof *h.host_idx);
    int32_t *perm = malloc((size_t)im.n * sizeof *perm);
    if (!h.x || !h.y || !h.metrics || !h.host_idx || !perm || !h.idx ||
        bp_net_reserve_steps(net, be, o.steps, &err))
        return die("allocating the data buffers", NULL);
    h.align_every = o.align_every;
    if (o.align_every &&
        bp_align_reserve(net, be, bp_align_count(o.align_every, o.steps), &err))
        return die("allocating the alignment buffers", &err);
    int total = reps_total * o.steps;
    for (int r = 0; r < o.R; r++) {
        for (int s = 0, epoch = 0; s < total; epoch++) {
            bp_permutation(seeds[r], BP_STREAM_SHUFFLE + (uint64_t)epoch, perm, (size_t)im.n);
            for (int k = 0; k < per_epoch && s < total; k++, s++) {
                int rep = s / o.steps, j = s % o.steps;
                memcpy(h.host_idx + rep * rep_n + r * h.idx_stride + (size_t)j * cfg.batch,
                       perm + (size_t)k * cfg.batch, (size_t)cfg.batch * sizeof *perm);
            }
        }
    }
    if (be->ops->upload(be, h.x, im.x, (size_t)im.n * im.dim) ||
        be->ops->upload(be, h.y, im.y, (size_t)im.n))
        return die("uploading the data", &be->err);
    free(perm);
    free(im.x);
    free(im.y);

    install_shim(be, o.sync_ops, o.no_graph);

    /* Warm-up; the very first step records the GEMM shapes of one step. */
    int finite = 1;
    for (int k = 0; k < warm_reps; k++) {
        double ignore;
        shim.recording = k == 0;
        if (run_rep(&h, &ignore)) return die("training step", &be->err);
        finite &= metrics_finite(&h);
    }
    shim.recording = 0;
    if (shim.overflow) fprintf(stderr, "bench_biopp: more than %d GEMMs per step\n", MAX_GEMMS);

    /* Timed repetitions. Finite losses are checked too: a diverged run
     * would time different arithmetic. */
    double *rep_s = calloc((size_t)o.reps, sizeof *rep_s);
    for (int k = 0; k < o.reps; k++) {
        shim.timing = 1;
        if (run_rep(&h, &rep_s[k])) return die("training step", &be->err);
        shim.timing = 0;
        finite &= metrics_finite(&h);
    }
    int timed_replays = h.replays;
    free(h.host_idx);

    /* The same GEMMs alone, on scratch buffers, through the same gemm op. */
    double flops = 0.0;
    for (int i = 0; i < shim.ngemms; i++) flops += gemm_flops(&shim.gemms[i]);
    float *ga[MAX_GEMMS], *gb[MAX_GEMMS], *gc[MAX_GEMMS];
    for (int i = 0; i < shim.ngemms; i++) {
        const gemm_rec *g = &shim.gemms[i];
        ga[i] = random_buffer(be, (size_t)(g->a_shared ? 1 : g->R) * g->m * g->k, 3 * i);
        gb[i] = random_buffer(be, (size_t)g->R * g->k * g->n, 3 * i + 1);
        gc[i] = random_buffer(be, (size_t)g->R * g->m * g->n, 3 * i + 2);
        if (!ga[i] || !gb[i] || !gc[i]) return die("allocating GEMM scratch", &be->err);
    }
    const bp_backend_ops *real = shim.real;
    double *gemm_s = calloc((size_t)o.gemm_reps, sizeof *gemm_s);
    for (int k = -1; k < o.gemm_reps; k++) { /* k = -1: warm-up */
        double t0 = now_s();
        for (int s = 0; s < o.steps; s++)
            for (int i = 0; i < shim.ngemms; i++) {
                const gemm_rec *g = &shim.gemms[i];
                if (real->gemm(be, g->R, g->ta, g->tb, g->m, g->n, g->k, 1.0f, ga[i],
                               g->a_shared, gb[i], 0.0f, gc[i]))
                    return die("gemm", &be->err);
            }
        if (real->sync(be)) return die("sync", &be->err);
        if (k >= 0) gemm_s[k] = now_s() - t0;
    }
    for (int i = 0; i < shim.ngemms; i++) {
        be->ops->release(be, ga[i]);
        be->ops->release(be, gb[i]);
        be->ops->release(be, gc[i]);
    }

    /* A large square SGEMM: the machine's reference SGEMM rate. */
    double peak_gflops = -1.0;
    int peak_n = cfg.device == BP_DEVICE_CUDA ? 4096 : 1024;
    if (o.peak) {
        int n = peak_n;
        float *A = random_buffer(be, (size_t)n * n, 901), *B = random_buffer(be, (size_t)n * n, 902),
              *C = random_buffer(be, (size_t)n * n, 903);
        if (A && B && C) {
            double best = 1e30;
            for (int k = 0; k < 4; k++) {
                double t0 = now_s();
                real->gemm(be, 1, BP_NO_TRANS, BP_TRANS, n, n, n, 1.0f, A, 0, B, 0.0f, C);
                real->sync(be);
                double dt = now_s() - t0;
                if (k > 0 && dt < best) best = dt; /* the first call warms up */
            }
            peak_gflops = 2.0 * n * (double)n * n / best * 1e-9;
        }
        if (A) be->ops->release(be, A);
        if (B) be->ops->release(be, B);
        if (C) be->ops->release(be, C);
    }

    /* Report. */
    double samples_per_rep = (double)o.steps * cfg.batch * o.R;
    double *sps = malloc((size_t)o.reps * sizeof *sps);
    for (int k = 0; k < o.reps; k++) sps[k] = samples_per_rep / rep_s[k];
    double *tmp = malloc((size_t)(o.reps > o.gemm_reps ? o.reps : o.gemm_reps) * sizeof *tmp);
    memcpy(tmp, rep_s, (size_t)o.reps * sizeof *tmp);
    double step_s = median(tmp, o.reps) / o.steps;
    memcpy(tmp, gemm_s, (size_t)o.gemm_reps * sizeof *tmp);
    double gemm_step_s = median(tmp, o.gemm_reps) / o.steps;
    free(tmp);
    double gemm_rate = flops / gemm_step_s, step_rate = flops / step_s;

    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "engine", "biopp");
    cJSON_AddStringToObject(j, "rule", o.rule);
    cJSON_AddStringToObject(j, "hidden", o.hidden);
    cJSON_AddStringToObject(j, "device", o.device);
    cJSON_AddNumberToObject(j, "R", o.R);
    cJSON_AddNumberToObject(j, "threads", o.threads);
    if (cfg.device == BP_DEVICE_CPU) {
        cJSON_AddNumberToObject(j, "threads_effective", openblas_get_num_threads());
        cJSON_AddStringToObject(j, "openblas_config", openblas_get_config());
        cJSON_AddStringToObject(j, "openblas_core", openblas_get_corename());
    }
    cJSON_AddNumberToObject(j, "batch", cfg.batch);
    cJSON_AddStringToObject(j, "data", source);
    cJSON_AddNumberToObject(j, "train_size", im.n);
    cJSON_AddNumberToObject(j, "warmup", warm_reps * o.steps);
    cJSON_AddNumberToObject(j, "graph_replays", timed_replays);
    cJSON_AddNumberToObject(j, "steps", o.steps);
    cJSON_AddNumberToObject(j, "align_every", o.align_every);
    cJSON_AddNumberToObject(j, "reps", o.reps);
    cJSON_AddBoolToObject(j, "finite", finite);
    cJSON_AddItemToObject(j, "samples_per_s", stats_json(sps, o.reps, 1.0));
    cJSON_AddItemToObject(j, "step_ms", stats_json(rep_s, o.reps, 1e3 / o.steps));
    cJSON_AddNumberToObject(j, "gemms_per_step", shim.ngemms);
    cJSON_AddNumberToObject(j, "gflop_per_step", flops * 1e-9);
    cJSON_AddItemToObject(j, "gemm_only_step_ms", stats_json(gemm_s, o.gemm_reps, 1e3 / o.steps));
    cJSON_AddNumberToObject(j, "gemm_rate_gflops", gemm_rate * 1e-9);
    cJSON_AddNumberToObject(j, "step_gflops", step_rate * 1e-9);
    cJSON_AddNumberToObject(j, "efficiency", step_rate / gemm_rate);
    if (peak_gflops > 0) {
        cJSON_AddNumberToObject(j, "sgemm_peak_n", peak_n);
        cJSON_AddNumberToObject(j, "sgemm_peak_gflops", peak_gflops);
        cJSON_AddNumberToObject(j, "efficiency_vs_sgemm_peak", step_rate * 1e-9 / peak_gflops);
    }

    /* Profile of the timed steps, per step. */
    int nsteps = o.steps * o.reps;
    double total_s = 0.0, ops_s = 0.0;
    for (int k = 0; k < o.reps; k++) total_s += rep_s[k];
    cJSON *prof = cJSON_CreateObject();
    cJSON_AddStringToObject(
        prof, "note",
        timed_replays ? "timed repetitions were graph replays: no per-op times (ops ran on "
                        "the device without the host)"
        : cfg.device == BP_DEVICE_CPU || o.sync_ops
            ? "ms per step inside the timed steps (mean)"
            : "ms per step; CUDA without --sync-ops: launch times only");
    cJSON_AddNumberToObject(prof, "step_ms", total_s / nsteps * 1e3);
    cJSON *ops = cJSON_CreateObject();
    for (int i = 0; i < OP_COUNT; i++) {
        if (!shim.op_calls[i]) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "ms", shim.op_s[i] / nsteps * 1e3);
        cJSON_AddNumberToObject(e, "calls", (double)shim.op_calls[i] / nsteps);
        cJSON_AddNumberToObject(e, "share", shim.op_s[i] / total_s);
        cJSON_AddItemToObject(ops, op_names[i], e);
        ops_s += shim.op_s[i];
    }
    cJSON_AddItemToObject(prof, "ops", ops);
    cJSON_AddNumberToObject(prof, "other_ms", (total_s - ops_s) / nsteps * 1e3);
    cJSON_AddNumberToObject(prof, "other_share", (total_s - ops_s) / total_s);
    cJSON *gl = cJSON_CreateArray();
    for (int i = 0; i < shim.ngemms; i++) {
        const gemm_rec *g = &shim.gemms[i];
        cJSON *e = cJSON_CreateObject();
        char op[3] = {g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', 0};
        cJSON_AddStringToObject(e, "op", op);
        cJSON_AddNumberToObject(e, "m", g->m);
        cJSON_AddNumberToObject(e, "n", g->n);
        cJSON_AddNumberToObject(e, "k", g->k);
        cJSON_AddNumberToObject(e, "R", g->R);
        cJSON_AddNumberToObject(e, "mflop", gemm_flops(g) * 1e-6);
        cJSON_AddNumberToObject(e, "ms", g->seconds / nsteps * 1e3);
        cJSON_AddNumberToObject(e, "gflops", g->seconds > 0 ? gemm_flops(g) * nsteps / g->seconds * 1e-9 : 0);
        cJSON_AddItemToArray(gl, e);
    }
    cJSON_AddItemToObject(prof, "gemms", gl);
    cJSON_AddItemToObject(j, "profile", prof);
    cJSON_AddNumberToObject(j, "peak_rss_mb", peak_rss_mb());
    /* Every buffer is allocated before the first step, so the device
     * memory in use after the timed steps is the run's peak. */
    size_t dev_used, dev_total;
    if (be->ops->memory && be->ops->memory(be, &dev_used, &dev_total) == BP_OK)
        cJSON_AddNumberToObject(j, "device_mem_mb", dev_used / 1048576.0);
    double load[1];
    if (getloadavg(load, 1) == 1) cJSON_AddNumberToObject(j, "loadavg_1m", load[0]);
    print_json(j);

    free(rep_s);
    free(gemm_s);
    free(sps);
    uninstall_shim(be);
    be->ops->release(be, h.x);
    be->ops->release(be, h.y);
    be->ops->release(be, h.idx);
    bp_net_destroy(net, be);
    bp_backend_destroy(be);
    return finite ? 0 : 1;
}
