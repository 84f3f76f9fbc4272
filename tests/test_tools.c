/* The tools for trained networks, as a user runs them: biopp eval, export,
 * generate and plot on small runs trained here on tiny data sets written
 * by the test (MNIST-like IDX files and CIFAR-10-like binaries), so the
 * suite needs no downloaded data and takes a few seconds. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "biopp/checkpoint_file.h"
#include "biopp/config.h"
#include "biopp/data.h"
#include "biopp/fsutil.h"
#include "biopp/train.h"
#include "helpers.h"

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

/* One IDX split of n random 28x28 images; `copy_of` (may be NULL) gives
 * the images and labels to use instead. */
static void write_idx_split(const char *dir, const char *prefix, int n, unsigned *seed,
                            const uint8_t *copy_x, const uint8_t *copy_y)
{
    char path[512];
    size_t dim = 28 * 28;
    uint8_t *img = malloc(16 + (size_t)n * dim), *lab = malloc(8 + (size_t)n);
    put_be32(img, 0x803), put_be32(img + 4, (uint32_t)n), put_be32(img + 8, 28),
        put_be32(img + 12, 28);
    put_be32(lab, 0x801), put_be32(lab + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        lab[8 + i] = copy_y ? copy_y[i] : (uint8_t)(rand_r(seed) % 10);
        for (size_t j = 0; j < dim; j++)
            img[16 + i * dim + j] =
                copy_x ? copy_x[i * dim + j] : (uint8_t)(rand_r(seed) % 256);
    }
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    write_bytes(path, img, 16 + (size_t)n * dim);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    write_bytes(path, lab, 8 + (size_t)n);
    free(img);
    free(lab);
}

/* ROOT/mnist/: 200 training and 100 test images. */
static void make_mnist(const char *root)
{
    char dir[600];
    unsigned seed = 11;
    snprintf(dir, sizeof dir, "%s/mnist", root);
    cr_assert_eq(mkdir(dir, 0777), 0);
    write_idx_split(dir, "train", 200, &seed, NULL, NULL);
    write_idx_split(dir, "t10k", 100, &seed, NULL, NULL);
}

/* ROOT/cifar-10/: five training batches of 40 records and a test batch. */
static void make_cifar(const char *root)
{
    char dir[600], path[700];
    unsigned seed = 5;
    snprintf(dir, sizeof dir, "%s/cifar-10", root);
    cr_assert_eq(mkdir(dir, 0777), 0);
    size_t rec = 1 + 3072, n = 40;
    uint8_t *buf = malloc(rec * n);
    for (int b = 0; b <= 5; b++) {
        for (size_t i = 0; i < rec * n; i++)
            buf[i] = (uint8_t)(i % rec == 0 ? rand_r(&seed) % 10 : rand_r(&seed) % 256);
        if (b < 5) snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b + 1);
        else snprintf(path, sizeof path, "%s/test_batch.bin", dir);
        write_bytes(path, buf, rec * n);
    }
    free(buf);
}

/* A config for the tiny data sets: 150 training samples train, the rest
 * validate; three epochs of three batches. */
static void write_config(const char *path, const char *data_dir, const char *dataset,
                         const char *rule, int train_size)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "[data]\ndataset = %s\ndata_dir = %s\ntrain_size = %d\n"
            "[model]\nhidden = 1x16\n[rule]\nrule = %s\n"
            "[optimizer]\noptimizer = adam\nlr = 1e-2\n"
            "[train]\nbatch = 50\nepochs = 3\nseed = 7\nthreads = 1\neval_batch = 64\n",
            dataset, data_dir, train_size, rule);
    fclose(f);
}

/* Trains ROOT/<name> with the rule on ROOT/data's data set; asserts success. */
static void train(const char *root, const char *name, const char *dataset, const char *rule,
                  const char *extra)
{
    char cfg[512], data[512], *out;
    snprintf(cfg, sizeof cfg, "%s/%s.ini", root, name);
    snprintf(data, sizeof data, "%s/data", root);
    write_config(cfg, data, dataset, rule, 150);
    int rc = th_sh(&out, "%s train --config %s --out %s/%s %s", th_bin(), cfg, root, name,
                   extra ? extra : "");
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
}

static char *setup_data(int cifar)
{
    char *root = th_tmpdir(), data[512];
    snprintf(data, sizeof data, "%s/data", root);
    cr_assert_eq(mkdir(data, 0777), 0);
    make_mnist(data);
    if (cifar) make_cifar(data);
    return root;
}

static cJSON *read_json(const char *dir, const char *file)
{
    char path[600], *text;
    bp_error err;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    cr_assert_eq(bp_read_text(path, &text, NULL, &err), BP_OK, "%s", err.msg);
    cJSON *o = cJSON_Parse(text);
    cr_assert_not_null(o, "%s: %s", path, text);
    free(text);
    return o;
}

static double json_number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(cJSON_IsNumber(v), "no number %s", key);
    return v->valuedouble;
}

/* ---- eval ------------------------------------------------------------- */

Test(eval, gives_final_json_errors_exactly, .timeout = 120)
{
    char *root = setup_data(0), run[512], *out;
    train(root, "run", "mnist", "bfa", NULL);
    snprintf(run, sizeof run, "%s/run", root);
    cJSON *fin = read_json(run, "final.json");

    int rc = th_sh(&out, "%s eval --run %s", th_bin(), run);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "test: error"), "%s", out);
    free(out);
    cJSON *ev = read_json(run, "eval-test.json");
    cr_expect_eq(json_number(ev, "error"), json_number(fin, "test_error"),
                 "eval %.17g, final.json %.17g", json_number(ev, "error"),
                 json_number(fin, "test_error"));
    cr_expect_eq(json_number(ev, "samples"), 100);
    cr_expect_eq(json_number(ev, "epoch"), 3);
    cJSON_Delete(ev);

    rc = th_sh(&out, "%s eval --run %s --split valid", th_bin(), run);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    ev = read_json(run, "eval-valid.json");
    cr_expect_eq(json_number(ev, "error"), json_number(fin, "valid_error"));
    cr_expect_eq(json_number(ev, "samples"), 50);
    cJSON_Delete(ev);
    cJSON_Delete(fin);

    /* The train split is the first train_size training samples: the same
     * as the test split of a data set whose test files are those samples. */
    rc = th_sh(&out, "%s eval --run %s --split train", th_bin(), run);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char copy[512], path[600];
    snprintf(copy, sizeof copy, "%s/copy", root);
    cr_assert_eq(mkdir(copy, 0777), 0);
    bp_dataset ds;
    bp_error err;
    snprintf(path, sizeof path, "%s/data", root);
    cr_assert_eq(bp_dataset_load("mnist", path, &ds, &err), BP_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/copy/mnist", root);
    cr_assert_eq(mkdir(path, 0777), 0);
    unsigned seed = 1;
    write_idx_split(path, "train", 200, &seed, ds.train.x, ds.train.y);
    write_idx_split(path, "t10k", 150, &seed, ds.train.x, ds.train.y);
    bp_dataset_free(&ds);
    rc = th_sh(&out, "%s eval --run %s --set data_dir=%s", th_bin(), run, copy);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cJSON *tr = read_json(run, "eval-train.json"), *te = read_json(run, "eval-test.json");
    cr_expect_eq(json_number(tr, "samples"), 150);
    cr_expect_eq(json_number(te, "samples"), 150);
    cr_expect_eq(json_number(tr, "error"), json_number(te, "error"));
    cr_expect_eq(json_number(tr, "loss"), json_number(te, "loss"));
    cJSON_Delete(tr);
    cJSON_Delete(te);
    th_sh(NULL, "rm -rf %s", root);
    free(root);
}

Test(eval, refuses_bad_input_clearly, .timeout = 60)
{
    char *root = setup_data(0), *out;
    int rc = th_sh(&out, "%s eval --run %s/nothing", th_bin(), root);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "config.ini") && strstr(out, "not a run directory"), "%s", out);
    free(out);
    rc = th_sh(&out, "%s eval --run %s --split bogus", th_bin(), root);
    cr_expect_eq(rc, 2);
    cr_expect(strstr(out, "test, valid or train"), "%s", out);
    free(out);
    rc = th_sh(&out, "%s eval --help", th_bin());
    cr_expect_eq(rc, 0);
    cr_expect(strstr(out, "--split"), "%s", out);
    free(out);
    /* No validation split when train_size is the whole training set. */
    char cfg[512], data[512];
    snprintf(cfg, sizeof cfg, "%s/full.ini", root);
    snprintf(data, sizeof data, "%s/data", root);
    write_config(cfg, data, "mnist", "bp", 200);
    rc = th_sh(&out, "%s train --config %s --out %s/full --set epochs=1", th_bin(), cfg, root);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = th_sh(&out, "%s eval --run %s/full --split valid", th_bin(), root);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "no validation split"), "%s", out);
    free(out);
    th_sh(NULL, "rm -rf %s", root);
    free(root);
}

/* ---- export ----------------------------------------------------------- */

/* A minimal safetensors reader: the header's tensors, checked to lie
 * contiguously, in order, over exactly the data that follows. */
typedef struct {
    uint8_t *file;
    size_t size, data_start;
    cJSON *header;
} st_file;

static void st_read(const char *path, st_file *st)
{
    char *text;
    bp_error err;
    cr_assert_eq(bp_read_text(path, &text, &st->size, &err), BP_OK, "%s", err.msg);
    st->file = (uint8_t *)text;
    cr_assert(st->size >= 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | st->file[i];
    cr_assert(8 + n <= st->size);
    cr_assert_eq(n % 8, 0, "header padded to 8 bytes");
    st->data_start = 8 + n;
    char *json = strndup((char *)st->file + 8, n);
    st->header = cJSON_Parse(json);
    free(json);
    cr_assert_not_null(st->header);
    size_t expect = 0;
    for (cJSON *e = st->header->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        cJSON *off = cJSON_GetObjectItem(e, "data_offsets");
        cr_assert_str_eq(cJSON_GetObjectItem(e, "dtype")->valuestring, "F32");
        cr_assert_eq((size_t)cJSON_GetArrayItem(off, 0)->valuedouble, expect, "%s", e->string);
        size_t elems = 1;
        for (cJSON *d = cJSON_GetObjectItem(e, "shape")->child; d; d = d->next)
            elems *= (size_t)d->valuedouble;
        expect += elems * 4;
        cr_assert_eq((size_t)cJSON_GetArrayItem(off, 1)->valuedouble, expect, "%s", e->string);
    }
    cr_assert_eq(st->data_start + expect, st->size, "the data ends the file");
}

/* Tensor `name`: its shape and a pointer to its little-endian floats. */
static const uint8_t *st_tensor(const st_file *st, const char *name, int *ndim, int shape[2])
{
    cJSON *e = cJSON_GetObjectItemCaseSensitive(st->header, name);
    if (!e) return NULL;
    *ndim = 0;
    for (cJSON *d = cJSON_GetObjectItem(e, "shape")->child; d && *ndim < 2; d = d->next)
        shape[(*ndim)++] = (int)d->valuedouble;
    return st->file + st->data_start +
           (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(e, "data_offsets"), 0)->valuedouble;
}

static void st_free(st_file *st)
{
    cJSON_Delete(st->header);
    free(st->file);
}

/* Bit-for-bit: every tensor of arena a (params, or the state array src)
 * equals the exported tensor `<name><suffix>`; returns how many. */
static int compare_arena(const st_file *st, bp_group *g, const bp_arena *a, const float *src,
                         const char *suffix)
{
    bp_net *net = bp_group_net(g);
    float *host = th_download(g, a, src, 0);
    for (int i = 0; i < a->ntensors; i++) {
        const bp_tensor *t = &a->t[i];
        char name[64];
        int ndim, shape[2];
        snprintf(name, sizeof name, "%s%s", t->name, suffix);
        const uint8_t *p = st_tensor(st, name, &ndim, shape);
        cr_assert_not_null(p, "tensor %s missing", name);
        int bias = t->name[0] == 'b' || t->name[0] == 'c';
        if (bias) cr_expect(ndim == 1 && shape[0] == t->cols, "%s: shape", name);
        else cr_expect(ndim == 2 && shape[0] == t->rows && shape[1] == t->cols, "%s: shape", name);
        const float *want = th_tensor(net, a, host, i);
        for (int k = 0; k < t->rows * t->cols; k++) {
            uint32_t u = (uint32_t)p[4 * k] | (uint32_t)p[4 * k + 1] << 8 |
                         (uint32_t)p[4 * k + 2] << 16 | (uint32_t)p[4 * k + 3] << 24;
            uint32_t w;
            memcpy(&w, &want[k], 4);
            cr_assert_eq(u, w, "%s[%d] differs", name, k);
        }
    }
    free(host);
    return a->ntensors;
}

/* Trains `rule`, exports it with the optimizer state, and compares every
 * tensor with what bp_checkpoint_load puts into a network. */
static void export_round_trip(const char *root, const char *rule, int expect_tensors)
{
    char run[512], file[600], *out;
    train(root, rule, "mnist", rule, NULL);
    snprintf(run, sizeof run, "%s/%s", root, rule);
    snprintf(file, sizeof file, "%s/%s.safetensors", root, rule);
    int rc = th_sh(&out, "%s export --run %s --out %s --optimizer-state", th_bin(), run, file);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);

    bp_config cfg;
    bp_error err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/config.ini", run);
    bp_config_defaults(&cfg);
    cr_assert_eq(bp_config_load(&cfg, path, &err), BP_OK, "%s", err.msg);
    bp_dataset ds;
    cr_assert_eq(bp_dataset_load("mnist", cfg.data_dir, &ds, &err), BP_OK, "%s", err.msg);
    bp_backend *be;
    bp_group *g;
    cr_assert_eq(bp_backend_create(&cfg, &be, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_group_create(&cfg, &cfg.seed, 1, &ds, be, &g, &err), BP_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/checkpoint.bin", run);
    cr_assert_eq(bp_checkpoint_load(g, 0, path, &err), BP_OK, "%s", err.msg);

    st_file st;
    st_read(file, &st);
    bp_net *net = bp_group_net(g);
    int n = compare_arena(&st, g, &net->fwd, net->fwd.p, "") +
            compare_arena(&st, g, &net->fb, net->fb.p, "") +
            compare_arena(&st, g, &net->fixed, net->fixed.p, "");
    cr_expect_eq(n, expect_tensors, "%s: %d tensors", rule, n);
    compare_arena(&st, g, &net->fwd, net->fwd.m, ".adam_m");
    compare_arena(&st, g, &net->fwd, net->fwd.v, ".adam_v");
    if (net->fb.ntensors) {
        compare_arena(&st, g, &net->fb, net->fb.m, ".adam_m");
        compare_arena(&st, g, &net->fb, net->fb.v, ".adam_v");
    }
    int entries = 0;
    for (cJSON *e = st.header->child; e; e = e->next) entries++;
    /* params + m + v of the trained arenas, the fixed arena's params, metadata */
    cr_expect_eq(entries, 3 * (net->fwd.ntensors + net->fb.ntensors) + net->fixed.ntensors + 1);
    cJSON *meta = cJSON_GetObjectItem(st.header, "__metadata__");
    cr_expect_str_eq(cJSON_GetObjectItem(meta, "rule")->valuestring, rule);
    cr_expect_str_eq(cJSON_GetObjectItem(meta, "hidden")->valuestring, "1x16");
    cr_expect_str_eq(cJSON_GetObjectItem(meta, "epoch")->valuestring, "3");
    cr_expect_str_eq(cJSON_GetObjectItem(meta, "seed")->valuestring, "7");
    st_free(&st);
    bp_group_destroy(g);
    bp_backend_destroy(be);
    bp_dataset_free(&ds);
}

Test(export, round_trip_is_bit_exact_for_every_rule, .timeout = 120)
{
    char *root = setup_data(0);
    /* 1 hidden layer: W1 b1 W2 b2, plus FA's B2, DFA's D1, BFA's V1 c0 V2 c1,
     * BDFA's U1. */
    export_round_trip(root, "bp", 4);
    export_round_trip(root, "fa", 5);
    export_round_trip(root, "dfa", 5);
    export_round_trip(root, "bfa", 8);
    export_round_trip(root, "bdfa", 5);
    th_sh(NULL, "rm -rf %s", root);
    free(root);
}

Test(export, without_optimizer_state_and_bad_input, .timeout = 60)
{
    char *root = setup_data(0), *out, file[600];
    train(root, "run", "mnist", "bfa", "--set optimizer=sgd --set momentum=0.9 --set lr=0.1");
    snprintf(file, sizeof file, "%s/w.safetensors", root);
    int rc = th_sh(&out, "%s export --run %s/run --out %s", th_bin(), root, file);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    st_file st;
    st_read(file, &st);
    int entries = 0;
    for (cJSON *e = st.header->child; e; e = e->next) entries++;
    cr_expect_eq(entries, 8 + 1, "weights and metadata only");
    st_free(&st);
    rc = th_sh(&out, "%s export --run %s/run --out %s --optimizer-state", th_bin(), root, file);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    st_read(file, &st);
    int ndim, shape[2];
    cr_expect_not_null(st_tensor(&st, "V1.velocity", &ndim, shape), "SGD momentum: velocity");
    cr_expect_null(st_tensor(&st, "V1.adam_m", &ndim, shape));
    st_free(&st);
    rc = th_sh(&out, "%s export --run %s/run", th_bin(), root);
    cr_expect_eq(rc, 2, "%s", out);
    free(out);
    rc = th_sh(&out, "%s export --run %s/none --out %s", th_bin(), root, file);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "not a run directory"), "%s", out);
    free(out);
    th_sh(NULL, "rm -rf %s", root);
    free(root);
}

/* ---- generate --------------------------------------------------------- */

typedef struct {
    png_uint_32 w, h;
    int color, depth;
    uint8_t *px; /* rows of w * channels bytes */
} png_image_rows;

static void png_read(const char *path, png_image_rows *im)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    uint8_t sig[8];
    cr_assert_eq(fread(sig, 1, 8, f), 8);
    cr_assert(!png_sig_cmp(sig, 0, 8), "%s: not a PNG", path);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    cr_assert(png && info);
    if (setjmp(png_jmpbuf(png))) cr_assert_fail("%s: libpng cannot read it", path);
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    im->w = png_get_image_width(png, info);
    im->h = png_get_image_height(png, info);
    im->color = png_get_color_type(png, info);
    im->depth = png_get_bit_depth(png, info);
    size_t stride = png_get_rowbytes(png, info);
    im->px = malloc(stride * im->h);
    for (png_uint_32 y = 0; y < im->h; y++) png_read_row(png, im->px + y * stride, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
}

/* x-hat of class k on the host from the checkpoint's V, c (one hidden
 * tanh layer, sigma_x = identity): g_1 = V_2 e_k + c_1, xhat = V_1 tanh(g_1) + c_0. */
static void reference_xhat(const bp_checkpoint_file *ck, int k, float *xhat)
{
    const bp_ck_tensor *V1 = bp_checkpoint_file_find(ck, "V1"),
                       *V2 = bp_checkpoint_file_find(ck, "V2"),
                       *c0 = bp_checkpoint_file_find(ck, "c0"),
                       *c1 = bp_checkpoint_file_find(ck, "c1");
    cr_assert(V1 && V2 && c0 && c1);
    int n1 = V2->rows, C = V2->cols, n0 = V1->rows;
    double r1[64];
    cr_assert(n1 <= 64);
    for (int i = 0; i < n1; i++) r1[i] = tanh((double)V2->p[i * C + k] + c1->p[i]);
    for (int j = 0; j < n0; j++) {
        double g = c0->p[j];
        for (int i = 0; i < n1; i++) g += (double)V1->p[j * n1 + i] * r1[i];
        xhat[j] = (float)g;
    }
}

/* Every pixel of tile k (at x0, y0, `scale`) matches the min-max scaled
 * reference within one grey level (float rounding). */
static void check_tile(const png_image_rows *im, int channels, int side, int scale, int x0,
                       int y0, const float *xhat)
{
    int n = channels * side * side;
    float lo = xhat[0], hi = xhat[0];
    for (int i = 1; i < n; i++) lo = fminf(lo, xhat[i]), hi = fmaxf(hi, xhat[i]);
    size_t stride = (size_t)im->w * channels;
    for (int y = 0; y < side * scale; y++)
        for (int x = 0; x < side * scale; x++)
            for (int c = 0; c < channels; c++) {
                float v = xhat[c * side * side + (y / scale) * side + x / scale];
                double want = (v - lo) / (hi - lo) * 255.0;
                int got = im->px[(size_t)(y0 + y) * stride + (size_t)(x0 + x) * channels + c];
                cr_assert(fabs(got - want) <= 1.0, "pixel (%d,%d) channel %d: %d, want %.2f",
                          x, y, c, got, want);
            }
}

static void generate_and_check(const char *root, const char *name, const char *dataset,
                               int channels, int side)
{
    char run[512], png[600], path[600], *out;
    train(root, name, dataset, "bfa", NULL);
    snprintf(run, sizeof run, "%s/%s", root, name);
    snprintf(png, sizeof png, "%s/%s.png", root, name);
    int scale = 2;
    int rc = th_sh(&out, "%s generate --run %s --out %s --scale %d", th_bin(), run, png, scale);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    png_image_rows im;
    png_read(png, &im);
    /* 2 rows of 5 tiles, `scale` pixels apart. */
    cr_expect_eq(im.w, (png_uint_32)(5 * side * scale + 4 * scale));
    cr_expect_eq(im.h, (png_uint_32)(2 * side * scale + scale));
    cr_expect_eq(im.depth, 8);
    cr_expect_eq(im.color, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB);
    bp_checkpoint_file ck;
    bp_error err;
    snprintf(path, sizeof path, "%s/checkpoint.bin", run);
    cr_assert_eq(bp_checkpoint_file_read(path, &ck, &err), BP_OK, "%s", err.msg);
    float *xhat = malloc((size_t)channels * side * side * sizeof *xhat);
    for (int k = 0; k < 10; k += 3) {
        reference_xhat(&ck, k, xhat);
        check_tile(&im, channels, side, scale, (k % 5) * (side + 1) * scale,
                   (k / 5) * (side + 1) * scale, xhat);
    }
    free(xhat);
    bp_checkpoint_file_free(&ck);
    free(im.px);
}

Test(generate, mnist_grey_and_cifar_colour_grids_match_the_mirror_network, .timeout = 120)
{
    char *root = setup_data(1);
    generate_and_check(root, "grey", "mnist", 1, 28);
    generate_and_check(root, "colour", "cifar10", 3, 32);
    th_sh(NULL, "rm -rf %s", root);
    free(root);
}

Test(generate, refuses_other_rules_clearly, .timeout = 60)
{
    char *root = setup_data(0), *out;
    train(root, "fa", "mnist", "fa", NULL);
    int rc = th_sh(&out, "%s generate --run %s/fa --out %s/x.png", th_bin(), root, root);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "only BFA has a generator") && strstr(out, "fa run"), "%s", out);
    free(out);
    char png[600];
    snprintf(png, sizeof png, "%s/x.png", root);
    cr_expect(!bp_file_exists(png));
    rc = th_sh(&out, "%s generate --run %s/fa --out %s --scale 0", th_bin(), root, png);
    cr_expect_eq(rc, 2);
    free(out);
    rc = th_sh(&out, "%s generate --help", th_bin());
    cr_expect_eq(rc, 0);
    cr_expect(strstr(out, "min-max"), "%s", out);
    free(out);
    th_sh(NULL, "rm -rf %s", root);
    free(root);
}

/* ---- plot ------------------------------------------------------------- */

static void expect_png(const char *dir, const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    uint8_t sig[8];
    size_t n = fread(sig, 1, 8, f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_expect(n == 8 && !png_sig_cmp(sig, 0, 8), "%s: not a PNG", path);
    cr_expect(size > 2000, "%s: only %ld bytes", path, size);
}

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

Test(plot, run_folder_charts, .timeout = 60)
{
    char *root = setup_data(0), *out, dir[600], pdir[600];
    train(root, "bfa", "mnist", "bfa", NULL);
    snprintf(dir, sizeof dir, "%s/bfa", root);
    snprintf(pdir, sizeof pdir, "%s/plots", root);
    int rc = th_sh(&out, "%s plot %s --out %s", th_bin(), dir, pdir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    expect_png(pdir, "error.png");
    expect_png(pdir, "loss.png");
    char path[700];
    snprintf(path, sizeof path, "%s/run.dat", pdir);
    cr_expect(bp_file_exists(path));
    snprintf(path, sizeof path, "%s/align-delta.png", pdir);
    cr_expect(!bp_file_exists(path), "no alignment logged, no alignment chart");

    /* Alignment angles as the engine logs them; null where a rule has no
     * feedback matrix (FA: none for layer 1). */
    snprintf(dir, sizeof dir, "%s/synthetic", root);
    cr_assert_eq(mkdir(dir, 0777), 0);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    write_text(path,
               "{\"epoch\":1,\"train_loss\":0.5,\"feedback_loss\":0,\"train_error\":0.2,"
               "\"valid_error\":null,\"valid_loss\":null,\"test_error\":0.1,\"test_loss\":0.4,"
               "\"align_delta_deg\":[80,85],\"align_dW_deg\":[82,null],"
               "\"align_fb_deg\":[null,70,60],\"seconds\":1,\"diverged\":false}\n"
               "{\"epoch\":2,\"train_loss\":0.3,\"feedback_loss\":0,\"train_error\":0.1,"
               "\"valid_error\":null,\"valid_loss\":null,\"test_error\":0.05,\"test_loss\":0.3,"
               "\"align_delta_deg\":[60,75],\"align_dW_deg\":[62,null],"
               "\"align_fb_deg\":[null,50,40],\"seconds\":1,\"diverged\":false}\n");
    snprintf(pdir, sizeof pdir, "%s/plots2", root);
    rc = th_sh(&out, "%s plot %s --out %s", th_bin(), dir, pdir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    expect_png(pdir, "error.png");
    expect_png(pdir, "align-delta.png");
    expect_png(pdir, "align-dW.png");
    expect_png(pdir, "align-fb.png");
    char *gp = NULL;
    bp_error err;
    snprintf(path, sizeof path, "%s/align-fb.gp", pdir);
    cr_assert_eq(bp_read_text(path, &gp, NULL, &err), BP_OK, "%s", err.msg);
    cr_expect(strstr(gp, "matrix 2") && strstr(gp, "matrix 3") && !strstr(gp, "matrix 1"),
              "only the matrices with values: %s", gp);
    free(gp);
    th_sh(NULL, "rm -rf %s", root);
    free(root);
}

/* A sweep folder with two architectures, two rules and two seeds whose
 * test errors are known, so the .dat's mean/min/max can be checked. */
static void write_sweep_run(const char *sweep, const char *hidden, const char *rule, int seed,
                            double e1, double e2)
{
    char dir[700], path[800], text[1024];
    snprintf(dir, sizeof dir, "%s/hidden=%s,rule=%s/seed-%d", sweep, hidden, rule, seed);
    bp_error err;
    cr_assert_eq(bp_mkdir_p(dir, &err), BP_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/config.ini", dir);
    snprintf(text, sizeof text, "[model]\nhidden = %s\n[rule]\nrule = %s\n[train]\nseed = %d\n",
             hidden, rule, seed);
    write_text(path, text);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    snprintf(text, sizeof text,
             "{\"epoch\":1,\"train_loss\":1,\"feedback_loss\":0,\"train_error\":0.5,"
             "\"valid_error\":0.4,\"valid_loss\":1,\"test_error\":%g,\"test_loss\":1,"
             "\"align_delta_deg\":[%g],\"seconds\":1,\"diverged\":false}\n"
             "{\"epoch\":2,\"train_loss\":0.5,\"feedback_loss\":0,\"train_error\":0.3,"
             "\"valid_error\":0.2,\"valid_loss\":0.5,\"test_error\":%g,\"test_loss\":0.5,"
             "\"align_delta_deg\":[%g],\"seconds\":1,\"diverged\":false}\n",
             e1, 100 * e1, e2, 100 * e2);
    write_text(path, text);
}

Test(plot, sweep_folder_charts_and_seed_statistics, .timeout = 60)
{
    char *root = th_tmpdir(), sweep[600], pdir[600], path[800], *out;
    snprintf(sweep, sizeof sweep, "%s/sweep", root);
    bp_error err;
    cr_assert_eq(bp_mkdir_p(sweep, &err), BP_OK);
    snprintf(path, sizeof path, "%s/sweep.ini", sweep);
    write_text(path, "[model]\nhidden = 1x16,2x16\n[rule]\nrule = bp,fa\n");
    write_sweep_run(sweep, "1x16", "bp", 1, 0.10, 0.04);
    write_sweep_run(sweep, "1x16", "bp", 2, 0.30, 0.06);
    write_sweep_run(sweep, "1x16", "fa", 1, 0.50, 0.20);
    write_sweep_run(sweep, "2x16", "bp", 1, 0.20, 0.10);
    write_sweep_run(sweep, "2x16", "fa", 1, 0.40, 0.30);
    snprintf(pdir, sizeof pdir, "%s/plots", root);
    int rc = th_sh(&out, "%s plot %s --out %s", th_bin(), sweep, pdir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    expect_png(pdir, "test-error-1x16.png");
    expect_png(pdir, "test-error-2x16.png");
    expect_png(pdir, "align-delta-1x16.png");
    char *dat;
    snprintf(path, sizeof path, "%s/sweep-1x16-bp.dat", pdir);
    cr_assert_eq(bp_read_text(path, &dat, NULL, &err), BP_OK, "%s", err.msg);
    /* epoch, mean, min, max (%), seeds, mean alignment */
    cr_expect(strstr(dat, "\n1 20 10 30 2 20\n") && strstr(dat, "\n2 5 4 6 2 5\n"), "%s", dat);
    free(dat);

    /* No gnuplot: a clear error naming the Debian package. */
    rc = th_sh(&out, "BIOPP_GNUPLOT=/nonexistent/gnuplot %s plot %s --out %s", th_bin(), sweep, pdir);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "gnuplot-nox"), "%s", out);
    free(out);
    rc = th_sh(&out, "PATH=/nonexistent %s plot %s --out %s", th_bin(), sweep, pdir);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "gnuplot not found on PATH") && strstr(out, "gnuplot-nox"), "%s", out);
    free(out);
    rc = th_sh(&out, "%s plot %s --out %s", th_bin(), root, pdir);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(out, "neither a run folder"), "%s", out);
    free(out);
    th_sh(NULL, "rm -rf %s", root);
    free(root);
}
