#include "helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "biopp/fsutil.h"

static void fill_images(bp_images *im, int n, int dim, int classes, unsigned *state)
{
    im->n = n;
    im->dim = dim;
    im->channels = 1;
    im->height = 1;
    im->width = dim;
    im->x = malloc((size_t)n * dim);
    im->y = malloc((size_t)n);
    for (size_t i = 0; i < (size_t)n * dim; i++) im->x[i] = (uint8_t)(rand_r(state) % 256);
    for (int i = 0; i < n; i++) im->y[i] = (uint8_t)(rand_r(state) % classes);
}

void th_make_dataset(bp_dataset *ds, int n, int dim, int classes, unsigned seed)
{
    memset(ds, 0, sizeof *ds);
    strcpy(ds->name, "synthetic");
    ds->classes = classes;
    fill_images(&ds->train, n, dim, classes, &seed);
    fill_images(&ds->test, n, dim, classes, &seed);
}

void th_config(bp_config *cfg, bp_rule_id rule, int n_hidden, const int *hidden, int n)
{
    bp_config_defaults(cfg);
    cfg->rule = rule;
    cfg->n_hidden = n_hidden;
    memcpy(cfg->hidden, hidden, sizeof(int) * n_hidden);
    cfg->batch = cfg->train_size = cfg->eval_batch = n;
    cfg->epochs = 1;
    cfg->threads = 1;
    cfg->optimizer = BP_OPT_SGD;
    cfg->lr = 0.1;
}

float *th_download(bp_group *g, const bp_arena *a, const float *src, int r)
{
    bp_net *net = bp_group_net(g);
    float *host = calloc(a->n / net->R + 1, sizeof(float));
    bp_error err = {0};
    cr_assert_eq(bp_arena_download_run(net, a, src, r, host, bp_group_backend(g), &err), BP_OK,
                 "%s", err.msg);
    return host;
}

float *th_tensor(const bp_net *net, const bp_arena *a, float *host, int i)
{
    return host + a->t[i].off / net->R;
}

void th_set_tensor(bp_group *g, const bp_arena *a, float *dst_arena, int i, int r,
                   const float *values)
{
    bp_net *net = bp_group_net(g);
    bp_backend *be = bp_group_backend(g);
    size_t n = (size_t)a->t[i].rows * a->t[i].cols;
    cr_assert_eq(be->ops->upload(be, dst_arena + a->t[i].off + (size_t)r * n, values,
                                 n * sizeof(float)),
                 BP_OK);
    (void)net;
}

void th_tie_to_wt(bp_group *g, const bp_arena *a, float *dst, const int *tensor,
                  const int *layer, int count)
{
    bp_net *net = bp_group_net(g);
    float *p = th_download(g, &net->fwd, net->fwd.p, 0);
    for (int i = 0; i < count; i++) {
        const bp_tensor *w = &net->fwd.t[net->W[layer[i]]];
        float *wt = malloc(sizeof(float) * w->rows * w->cols);
        const float *W = th_tensor(net, &net->fwd, p, net->W[layer[i]]);
        for (int r = 0; r < w->rows; r++)
            for (int c = 0; c < w->cols; c++) wt[c * w->rows + r] = W[r * w->cols + c];
        th_set_tensor(g, a, dst, tensor[i], 0, wt);
        free(wt);
    }
    free(p);
}

void th_epoch(bp_group *g, bp_epoch_metrics *m)
{
    bp_error err = {0};
    cr_assert_eq(bp_group_train_epoch(g, NULL, NULL, m, &err), BP_OK, "%s", err.msg);
}

double th_max_rel(const float *a, const double *b, size_t n, double atol, double rtol)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - b[i]) / (atol + rtol * fabs(b[i]));
        if (!(r <= worst)) worst = r; /* NaN propagates as failure */
    }
    return worst;
}

const char *th_mnist_dir(void)
{
    static const char *candidates[] = {"../shared/data", "data"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "%s/mnist/train-images-idx3-ubyte.gz", candidates[i]);
        if (stat(path, &st) == 0) return candidates[i];
    }
    return NULL;
}

const char *th_bin(void)
{
    const char *b = getenv("BIOPP_BIN");
    return b && *b ? b : "build/biopp";
}

int th_sh(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert_geq(len, 0);
    char *cmd = malloc((size_t)len + 8);
    cr_assert_not_null(cmd);
    va_start(ap, fmt);
    vsnprintf(cmd, (size_t)len + 1, fmt, ap);
    va_end(ap);
    memcpy(cmd + len, " 2>&1", 6);
    FILE *p = popen(cmd, "r");
    free(cmd);
    cr_assert_not_null(p);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (cap - n < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    buf[n] = '\0';
    int st = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

char *th_tmpdir(void)
{
    char *t = strdup("/tmp/biopp-test-XXXXXX");
    cr_assert_not_null(t);
    cr_assert_not_null(mkdtemp(t), "mkdtemp under /tmp failed");
    return t;
}

char *th_slurp(const char *path)
{
    char *text = NULL;
    bp_error err = {0};
    cr_assert_eq(bp_read_text(path, &text, NULL, &err), BP_OK, "%s", err.msg);
    return text;
}

void th_assert_has(const char *text, const char *needle)
{
    cr_assert_not_null(strstr(text, needle), "lacks \"%s\": %s", needle, text);
}

char *th_write_in(const char *dir, const char *name, const char *text)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    cr_assert_not_null(path);
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

char *th_slurp_in(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return th_slurp(path);
}

const char *th_path(const char *dir, const char *fmt, ...)
{
    static char bufs[8][512];
    static int next;
    char *p = bufs[next++ % 8];
    char name[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}
