/* Dataset loader tests: IDX and CIFAR-10 round trips (plain and gzip), every
 * validation error, dataset directory lookup, and the real MNIST / CIFAR-10
 * / Fashion-MNIST files when this machine has them.
 *
 * Each test gets a fresh mkdtemp directory under /tmp (removed afterwards)
 * and writes the small files it needs there. */
#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "biopp/data.h"

#define TMP_PATH_BYTES 512

static char tmp_dir[TMP_PATH_BYTES];

/* ---- fixture: a private temporary directory per test ---- */

static void make_tmp_dir(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/biopp-test-data-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir), "mkdtemp failed");
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tmp_dir(void)
{
    if (tmp_dir[0])
        nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(data_loaders, .init = make_tmp_dir, .fini = remove_tmp_dir);

/* cr_skip_test leaves without running .fini, so clean up first. */
#define SKIP_TEST(...)            \
    do {                          \
        remove_tmp_dir();         \
        cr_skip_test(__VA_ARGS__); \
    } while (0)

/* ---- helpers that build files ---- */

/* buf = tmp_dir/name */
static void tmp_path(char *buf, const char *name)
{
    int len = snprintf(buf, TMP_PATH_BYTES, "%s/%s", tmp_dir, name);
    cr_assert(len > 0 && len < TMP_PATH_BYTES, "path too long: %s/%s", tmp_dir, name);
}

static void make_subdir(const char *name)
{
    char path[TMP_PATH_BYTES];
    tmp_path(path, name);
    cr_assert_eq(mkdir(path, 0700), 0, "mkdir %s", path);
}

static void write_plain(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void write_gz(const char *path, const uint8_t *data, size_t n)
{
    gzFile g = gzopen(path, "wb9");
    cr_assert_not_null(g, "gzopen %s", path);
    cr_assert_eq(gzwrite(g, data, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(g), Z_OK);
}

static void write_file(const char *path, const uint8_t *data, size_t n, int gz)
{
    if (gz)
        write_gz(path, data, n);
    else
        write_plain(path, data, n);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A deterministic, position-dependent pixel value so misplaced bytes show. */
static uint8_t pixel(int sample, int j)
{
    return (uint8_t)(sample * 31 + j * 7 + 3);
}

/* Builds an IDX images file image (header + n*h*w pixels); caller frees. */
static uint8_t *idx_images(int n, int h, int w, size_t *size)
{
    *size = 16 + (size_t)n * h * w;
    uint8_t *buf = malloc(*size);
    cr_assert_not_null(buf);
    put_be32(buf, 0x00000803);
    put_be32(buf + 4, (uint32_t)n);
    put_be32(buf + 8, (uint32_t)h);
    put_be32(buf + 12, (uint32_t)w);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < h * w; j++)
            buf[16 + (size_t)i * h * w + j] = pixel(i, j);
    return buf;
}

/* Builds an IDX labels file image with labels[i] = i % modulo. */
static uint8_t *idx_labels(int n, int modulo, size_t *size)
{
    *size = 8 + (size_t)n;
    uint8_t *buf = malloc(*size);
    cr_assert_not_null(buf);
    put_be32(buf, 0x00000801);
    put_be32(buf + 4, (uint32_t)n);
    for (int i = 0; i < n; i++)
        buf[8 + i] = (uint8_t)(i % modulo);
    return buf;
}

static void write_idx_images(const char *path, int n, int h, int w, int gz)
{
    size_t size;
    uint8_t *buf = idx_images(n, h, w, &size);
    write_file(path, buf, size, gz);
    free(buf);
}

static void write_idx_labels(const char *path, int n, int modulo, int gz)
{
    size_t size;
    uint8_t *buf = idx_labels(n, modulo, &size);
    write_file(path, buf, size, gz);
    free(buf);
}

#define CIFAR_REC 3073

/* Writes `records` CIFAR records; record r of this file has label
 * (first_label + r) % 10 and pixels pixel(first_label + r, j). */
static void write_cifar(const char *path, int records, int first_label, int gz)
{
    size_t size = (size_t)records * CIFAR_REC;
    uint8_t *buf = malloc(size);
    cr_assert_not_null(buf);
    for (int r = 0; r < records; r++) {
        buf[(size_t)r * CIFAR_REC] = (uint8_t)((first_label + r) % 10);
        for (int j = 0; j < 3072; j++)
            buf[(size_t)r * CIFAR_REC + 1 + j] = pixel(first_label + r, j);
    }
    write_file(path, buf, size, gz);
    free(buf);
}

static void assert_pixels(const bp_images *im, int first_sample_id)
{
    for (int i = 0; i < im->n; i++)
        for (int j = 0; j < im->dim; j++)
            cr_assert_eq(im->x[(size_t)i * im->dim + j], pixel(first_sample_id + i, j),
                         "sample %d pixel %d", i, j);
}

static void assert_msg_has(const bp_error *err, const char *needle)
{
    cr_assert(strstr(err->msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err->msg, needle);
}

static void assert_images_empty(const bp_images *im)
{
    cr_assert_eq(im->n, 0);
    cr_assert_null(im->x);
    cr_assert_null(im->y);
}

/* Loads images + labels named relative to tmp_dir, with a cleared err. */
static bp_status load_split(const char *images, const char *labels, int classes, bp_images *im,
                            bp_error *err)
{
    char ip[TMP_PATH_BYTES], lp[TMP_PATH_BYTES];
    tmp_path(ip, images);
    tmp_path(lp, labels);
    memset(err, 0, sizeof *err);
    return bp_idx_load_split(ip, lp, classes, im, err);
}

/* ---- IDX round trips ---- */

static void check_idx_roundtrip(int gz)
{
    char ip[TMP_PATH_BYTES], lp[TMP_PATH_BYTES];
    /* The images file has no .gz suffix even when compressed: detection is by
     * magic bytes, not by name. */
    tmp_path(ip, "images");
    tmp_path(lp, gz ? "labels.gz" : "labels");
    write_idx_images(ip, 5, 4, 3, gz);
    write_idx_labels(lp, 5, 3, gz);

    bp_images im;
    bp_error err = {0};
    cr_assert_eq(bp_idx_load_split(ip, lp, 3, &im, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(im.n, 5);
    cr_assert_eq(im.channels, 1);
    cr_assert_eq(im.height, 4);
    cr_assert_eq(im.width, 3);
    cr_assert_eq(im.dim, 12);
    assert_pixels(&im, 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(im.y[i], i % 3);
    bp_images_free(&im);
    assert_images_empty(&im);
}

Test(data_loaders, idx_roundtrip_plain) { check_idx_roundtrip(0); }

Test(data_loaders, idx_roundtrip_gzip) { check_idx_roundtrip(1); }

Test(data_loaders, idx_labels_alone)
{
    char lp[TMP_PATH_BYTES];
    tmp_path(lp, "labels");
    write_idx_labels(lp, 7, 10, 0);
    uint8_t *labels = NULL;
    int n = -1;
    bp_error err = {0};
    cr_assert_eq(bp_idx_load_labels(lp, 10, &labels, &n, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(n, 7);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(labels[i], i);
    free(labels);
}

/* ---- IDX validation ---- */

/* Writes a 5x4x3 images file resized to `size` bytes (zero padded). */
static void write_resized_images(const char *name, size_t size)
{
    char path[TMP_PATH_BYTES];
    size_t full;
    uint8_t *buf = idx_images(5, 4, 3, &full);
    uint8_t *resized = calloc(1, size);
    cr_assert_not_null(resized);
    memcpy(resized, buf, size < full ? size : full);
    tmp_path(path, name);
    write_plain(path, resized, size);
    free(buf);
    free(resized);
}

static bp_status load_images(const char *name, bp_images *im, bp_error *err)
{
    char path[TMP_PATH_BYTES];
    tmp_path(path, name);
    memset(err, 0, sizeof *err);
    return bp_idx_load_images(path, im, err);
}

Test(data_loaders, idx_truncated)
{
    write_resized_images("short-images", 75); /* 16 + 60 = 76 expected */
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("short-images", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "short-images");
    assert_msg_has(&err, "expected 76 bytes");
    assert_msg_has(&err, "has 75");
    assert_msg_has(&err, "truncated");
    assert_images_empty(&im);
}

Test(data_loaders, idx_trailing_bytes)
{
    write_resized_images("long-images", 77);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("long-images", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "long-images");
    assert_msg_has(&err, "expected 76 bytes");
    assert_msg_has(&err, "has 77");
    assert_msg_has(&err, "trailing");
}

Test(data_loaders, idx_truncated_header)
{
    write_resized_images("short", 10);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("short", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "truncated IDX header");
}

/* Writes a 5x4x3 images file whose first 4 bytes are `magic`. */
static void write_images_with_magic(const char *name, uint32_t magic)
{
    char path[TMP_PATH_BYTES];
    size_t size;
    uint8_t *buf = idx_images(5, 4, 3, &size);
    put_be32(buf, magic);
    tmp_path(path, name);
    write_plain(path, buf, size);
    free(buf);
}

Test(data_loaders, idx_wrong_magic)
{
    write_images_with_magic("bad-magic", 0x00000D03); /* type 0x0D = float */
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("bad-magic", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "bad-magic");
    assert_msg_has(&err, "bad magic 0x00000d03");
    assert_msg_has(&err, "expected 0x00000803");
}

Test(data_loaders, idx_wrong_number_of_dims)
{
    write_images_with_magic("two-dims", 0x00000802);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("two-dims", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "two-dims");
    assert_msg_has(&err, "has 2 dimensions");
    assert_msg_has(&err, "expected 3");
}

Test(data_loaders, idx_labels_file_given_as_images)
{
    char path[TMP_PATH_BYTES];
    tmp_path(path, "labels");
    write_idx_labels(path, 5, 3, 0);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("labels", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "has 1 dimension");
}

Test(data_loaders, idx_zero_dimension)
{
    char path[TMP_PATH_BYTES];
    size_t size;
    uint8_t *buf = idx_images(5, 4, 3, &size);
    put_be32(buf + 8, 0); /* height 0 */
    tmp_path(path, "zero-height");
    write_plain(path, buf, size);
    free(buf);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("zero-height", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "dimension 1 is 0");
}

Test(data_loaders, idx_label_out_of_range)
{
    char ip[TMP_PATH_BYTES], lp[TMP_PATH_BYTES];
    tmp_path(ip, "images");
    tmp_path(lp, "bad-labels");
    write_idx_images(ip, 4, 2, 2, 0);
    size_t size;
    uint8_t *buf = idx_labels(4, 3, &size);
    buf[8 + 2] = 7; /* sample 2 gets label 7 with 3 classes */
    write_plain(lp, buf, size);
    free(buf);

    bp_images im;
    bp_error err;
    cr_assert_eq(load_split("images", "bad-labels", 3, &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "bad-labels");
    assert_msg_has(&err, "label 7");
    assert_msg_has(&err, "index 2");
    assert_images_empty(&im);
}

Test(data_loaders, idx_count_mismatch)
{
    char ip[TMP_PATH_BYTES], lp[TMP_PATH_BYTES];
    tmp_path(ip, "five-images");
    tmp_path(lp, "four-labels");
    write_idx_images(ip, 5, 2, 2, 0);
    write_idx_labels(lp, 4, 3, 0);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_split("five-images", "four-labels", 3, &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "five-images has 5 images");
    assert_msg_has(&err, "four-labels has 4 labels");
    assert_images_empty(&im);
}

/* ---- gzip handling ---- */

/* Writes a gzip'd images file, then lets `damage` edit its bytes. */
static void write_damaged_gz(const char *name, size_t (*damage)(uint8_t *, size_t))
{
    char path[TMP_PATH_BYTES];
    tmp_path(path, name);
    write_idx_images(path, 50, 8, 8, 1);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    uint8_t buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 64, f);
    fclose(f);
    cr_assert(n > 40 && n < sizeof buf - 64, "unexpected gzip size %zu", n);
    write_plain(path, buf, damage(buf, n));
}

static size_t flip_middle(uint8_t *buf, size_t n)
{
    /* Past the 10-byte header, before the 8-byte trailer: deflate data. */
    for (size_t i = n / 2; i < n / 2 + 4; i++)
        buf[i] ^= 0x5a;
    return n;
}

static size_t cut_half(uint8_t *buf, size_t n)
{
    (void)buf;
    return n / 2;
}

static size_t append_junk(uint8_t *buf, size_t n)
{
    memcpy(buf + n, "junk", 4);
    return n + 4;
}

Test(data_loaders, gzip_corrupt)
{
    write_damaged_gz("corrupt.gz", flip_middle);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("corrupt.gz", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "corrupt.gz");
    assert_msg_has(&err, "gzip");
    assert_images_empty(&im);
}

Test(data_loaders, gzip_truncated)
{
    write_damaged_gz("cut.gz", cut_half);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("cut.gz", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "cut.gz");
    assert_msg_has(&err, "truncated gzip");
}

Test(data_loaders, gzip_trailing_garbage)
{
    write_damaged_gz("junk.gz", append_junk);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_images("junk.gz", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "junk.gz");
    assert_msg_has(&err, "4 bytes of trailing data");
}

Test(data_loaders, gzip_concatenated_members)
{
    /* `cat a.gz b.gz` is a valid gzip file holding both payloads. */
    char a[TMP_PATH_BYTES], b[TMP_PATH_BYTES];
    tmp_path(a, "a.gz");
    tmp_path(b, "b.gz");
    write_gz(a, (const uint8_t *)"hello ", 6);
    write_gz(b, (const uint8_t *)"world", 5);
    uint8_t *d1, *d2;
    size_t n1, n2;
    bp_error err = {0};
    cr_assert_eq(bp_read_file(a, &d1, &n1, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(bp_read_file(b, &d2, &n2, &err), BP_OK, "%s", err.msg);
    free(d1);
    free(d2);
    /* Raw bytes of both members, concatenated. */
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    uint8_t raw[256];
    size_t la = fread(raw, 1, 128, fa), lb = fread(raw + la, 1, 128, fb);
    fclose(fa);
    fclose(fb);
    char both[TMP_PATH_BYTES];
    tmp_path(both, "both.gz");
    write_plain(both, raw, la + lb);
    uint8_t *data;
    size_t size;
    cr_assert_eq(bp_read_file(both, &data, &size, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(size, 11);
    cr_assert_arr_eq(data, "hello world", 11);
    free(data);
}

Test(data_loaders, read_missing_file)
{
    char path[TMP_PATH_BYTES];
    tmp_path(path, "nope");
    uint8_t *data = (uint8_t *)1;
    size_t size = 1;
    bp_error err = {0};
    cr_assert_eq(bp_read_file(path, &data, &size, &err), BP_ERR_IO);
    cr_assert_eq(err.code, BP_ERR_IO);
    assert_msg_has(&err, path);
    assert_msg_has(&err, "cannot open");
    cr_assert_null(data);
    cr_assert_eq(size, 0);
}

/* ---- CIFAR-10 ---- */

Test(data_loaders, cifar_roundtrip)
{
    char p1[TMP_PATH_BYTES], p2[TMP_PATH_BYTES];
    tmp_path(p1, "batch1.bin");
    tmp_path(p2, "batch2.bin.gz");
    write_cifar(p1, 2, 0, 0);
    write_cifar(p2, 3, 2, 1);
    const char *paths[] = {p1, p2};
    bp_images im;
    bp_error err = {0};
    cr_assert_eq(bp_cifar_load_files(paths, 2, &im, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(im.n, 5);
    cr_assert_eq(im.channels, 3);
    cr_assert_eq(im.height, 32);
    cr_assert_eq(im.width, 32);
    cr_assert_eq(im.dim, 3072);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(im.y[i], i, "label %d", i);
    assert_pixels(&im, 0); /* files concatenated in order, planes as stored */
    bp_images_free(&im);
}

static bp_status load_one_cifar(const char *name, bp_images *im, bp_error *err)
{
    char path[TMP_PATH_BYTES];
    tmp_path(path, name);
    const char *paths[] = {path};
    memset(err, 0, sizeof *err);
    return bp_cifar_load_files(paths, 1, im, err);
}

Test(data_loaders, cifar_bad_size)
{
    char path[TMP_PATH_BYTES];
    tmp_path(path, "odd.bin");
    write_cifar(path, 2, 0, 0);
    FILE *f = fopen(path, "ab");
    fputc(0, f);
    fclose(f);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_one_cifar("odd.bin", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "odd.bin");
    assert_msg_has(&err, "size 6147 bytes");
    assert_msg_has(&err, "3073");
    assert_images_empty(&im);
}

Test(data_loaders, cifar_empty_file)
{
    char path[TMP_PATH_BYTES];
    tmp_path(path, "empty.bin");
    write_plain(path, (const uint8_t *)"", 0);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_one_cifar("empty.bin", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "size 0 bytes");
}

Test(data_loaders, cifar_label_out_of_range)
{
    char path[TMP_PATH_BYTES];
    tmp_path(path, "bad-label.bin");
    write_cifar(path, 3, 0, 0);
    FILE *f = fopen(path, "r+b");
    fseek(f, CIFAR_REC, SEEK_SET); /* label byte of record 1 */
    fputc(10, f);
    fclose(f);
    bp_images im;
    bp_error err;
    cr_assert_eq(load_one_cifar("bad-label.bin", &im, &err), BP_ERR_FORMAT);
    assert_msg_has(&err, "bad-label.bin");
    assert_msg_has(&err, "record 1");
    assert_msg_has(&err, "label 10");
    assert_images_empty(&im);
}

/* ---- named datasets ---- */

/* Builds tmp_dir/mnist with 6 train and 4 test samples of 5x5, mixing
 * plain and .gz files; the plain train labels copy beside the .gz is
 * corrupt, showing .gz is preferred. */
static void build_fake_mnist(void)
{
    char path[TMP_PATH_BYTES];
    make_subdir("mnist");
    tmp_path(path, "mnist/train-images-idx3-ubyte.gz");
    write_idx_images(path, 6, 5, 5, 1);
    tmp_path(path, "mnist/train-labels-idx1-ubyte.gz");
    write_idx_labels(path, 6, 10, 1);
    tmp_path(path, "mnist/train-labels-idx1-ubyte");
    write_plain(path, (const uint8_t *)"garbage", 7);
    tmp_path(path, "mnist/t10k-images-idx3-ubyte");
    write_idx_images(path, 4, 5, 5, 0);
    tmp_path(path, "mnist/t10k-labels-idx1-ubyte");
    write_idx_labels(path, 4, 10, 0);
}

Test(data_loaders, dataset_fake_mnist)
{
    build_fake_mnist();
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("mnist", tmp_dir, &ds, &err), BP_OK, "%s", err.msg);
    cr_assert_str_eq(ds.name, "mnist");
    cr_assert_eq(ds.classes, 10);
    cr_assert_eq(ds.train.n, 6);
    cr_assert_eq(ds.test.n, 4);
    cr_assert_eq(ds.train.height, 5);
    cr_assert_eq(ds.test.width, 5);
    cr_assert_eq(ds.train.dim, 25);
    assert_pixels(&ds.train, 0);
    assert_pixels(&ds.test, 0);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(ds.train.y[i], i);
    bp_dataset_free(&ds);
    cr_assert_null(ds.train.x);
    cr_assert_eq(ds.classes, 0);
}

Test(data_loaders, dataset_fake_cifar10)
{
    char path[TMP_PATH_BYTES], name[64];
    make_subdir("cifar-10");
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "cifar-10/data_batch_%d.bin%s", b, b % 2 ? ".gz" : "");
        tmp_path(path, name);
        write_cifar(path, 1, b - 1, b % 2);
    }
    tmp_path(path, "cifar-10/test_batch.bin");
    write_cifar(path, 2, 7, 0);
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("cifar10", tmp_dir, &ds, &err), BP_OK, "%s", err.msg);
    cr_assert_str_eq(ds.name, "cifar10");
    cr_assert_eq(ds.train.n, 5);
    cr_assert_eq(ds.test.n, 2);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ds.train.y[i], i, "batches loaded in order 1..5");
    assert_pixels(&ds.train, 0);
    cr_assert_eq(ds.test.y[0], 7);
    cr_assert_eq(ds.test.y[1], 8);
    bp_dataset_free(&ds);
}

Test(data_loaders, dataset_missing_file)
{
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("mnist", tmp_dir, &ds, &err), BP_ERR_IO);
    char expect[TMP_PATH_BYTES];
    tmp_path(expect, "mnist/train-images-idx3-ubyte: not found");
    assert_msg_has(&err, expect);
    assert_msg_has(&err, "train-images-idx3-ubyte.gz too");
    assert_msg_has(&err, "make data");
    assert_msg_has(&err, "BIOPP_DATA_DIR");
    assert_images_empty(&ds.train);
    assert_images_empty(&ds.test);
}

Test(data_loaders, dataset_missing_test_split_frees_train)
{
    build_fake_mnist();
    char path[TMP_PATH_BYTES];
    tmp_path(path, "mnist/t10k-labels-idx1-ubyte");
    cr_assert_eq(remove(path), 0);
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("mnist", tmp_dir, &ds, &err), BP_ERR_IO);
    assert_msg_has(&err, "t10k-labels-idx1-ubyte: not found");
    assert_images_empty(&ds.train);
}

Test(data_loaders, dataset_unknown_name)
{
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("svhn", tmp_dir, &ds, &err), BP_ERR_CONFIG);
    assert_msg_has(&err, "\"svhn\"");
    assert_msg_has(&err, "mnist, fashion-mnist, kmnist, cifar10");
}

Test(data_loaders, data_dir_resolve_precedence)
{
    char buf[256];
    unsetenv("BIOPP_DATA_DIR");
    bp_data_dir_resolve(NULL, buf, sizeof buf);
    cr_assert_str_eq(buf, "data");
    bp_data_dir_resolve("", buf, sizeof buf);
    cr_assert_str_eq(buf, "data");

    setenv("BIOPP_DATA_DIR", "", 1);
    bp_data_dir_resolve("", buf, sizeof buf);
    cr_assert_str_eq(buf, "data", "an empty variable counts as unset");

    setenv("BIOPP_DATA_DIR", "/env/dir", 1);
    bp_data_dir_resolve(NULL, buf, sizeof buf);
    cr_assert_str_eq(buf, "/env/dir");
    bp_data_dir_resolve("", buf, sizeof buf);
    cr_assert_str_eq(buf, "/env/dir");
    bp_data_dir_resolve("/cfg/dir", buf, sizeof buf);
    cr_assert_str_eq(buf, "/cfg/dir", "the config beats the environment");
    unsetenv("BIOPP_DATA_DIR");
}

Test(data_loaders, dataset_load_uses_env_dir)
{
    build_fake_mnist();
    setenv("BIOPP_DATA_DIR", tmp_dir, 1);
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("mnist", "", &ds, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(ds.train.n, 6);
    bp_dataset_free(&ds);
    unsetenv("BIOPP_DATA_DIR");
}

Test(data_loaders, free_is_safe_on_zeroed_and_twice)
{
    bp_images im = {0};
    bp_images_free(&im);
    bp_images_free(NULL);
    bp_dataset ds = {0};
    bp_dataset_free(&ds);
    bp_dataset_free(&ds);
    bp_dataset_free(NULL);

    build_fake_mnist();
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("mnist", tmp_dir, &ds, &err), BP_OK, "%s", err.msg);
    bp_dataset_free(&ds);
    bp_dataset_free(&ds);
}

/* ---- real datasets, when present ---- */

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void assert_first_labels(const bp_images *im, const int *want, int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(im->y[i], want[i], "label %d is %d, want %d", i, im->y[i], want[i]);
}

#define SHARED_DATA "../shared/data"

/* Where a real dataset folder `sub` is: ../shared/data (our machines, tests
 * run from the repo root), else the usual data dir (BIOPP_DATA_DIR or
 * "data", what `make data` fills). NULL if neither has it. */
static const char *real_data_dir(const char *sub, char *buf, size_t size)
{
    char path[TMP_PATH_BYTES];
    snprintf(path, sizeof path, "%s/%s", SHARED_DATA, sub);
    if (is_dir(path))
        return SHARED_DATA;
    bp_data_dir_resolve(NULL, buf, size);
    if (snprintf(path, sizeof path, "%s/%s", buf, sub) < (int)sizeof path && is_dir(path))
        return buf;
    return NULL;
}

Test(data_loaders, real_mnist)
{
    char buf[TMP_PATH_BYTES];
    const char *dir = real_data_dir("mnist", buf, sizeof buf);
    if (!dir)
        SKIP_TEST("no MNIST in " SHARED_DATA " or the data dir (make data)");
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("mnist", dir, &ds, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(ds.train.n, 60000);
    cr_assert_eq(ds.test.n, 10000);
    cr_assert_eq(ds.train.height, 28);
    cr_assert_eq(ds.train.width, 28);
    cr_assert_eq(ds.test.dim, 784);
    static const int train[] = {5, 0, 4, 1, 9, 2, 1, 3, 1, 4};
    static const int test[] = {7, 2, 1, 0, 4, 1, 4, 9, 5, 9};
    assert_first_labels(&ds.train, train, 10);
    assert_first_labels(&ds.test, test, 10);
    /* Class counts from shared/data/README.md catch a reordered or lossy copy. */
    static const int counts[] = {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949};
    int seen[10] = {0};
    for (int i = 0; i < ds.train.n; i++)
        seen[ds.train.y[i]]++;
    for (int c = 0; c < 10; c++)
        cr_assert_eq(seen[c], counts[c], "class %d", c);
    bp_dataset_free(&ds);
}

Test(data_loaders, real_cifar10)
{
    char buf[TMP_PATH_BYTES];
    const char *dir = real_data_dir("cifar-10", buf, sizeof buf);
    if (!dir)
        SKIP_TEST("no CIFAR-10 in " SHARED_DATA " or the data dir (make data)");
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("cifar10", dir, &ds, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(ds.train.n, 50000);
    cr_assert_eq(ds.test.n, 10000);
    cr_assert_eq(ds.train.dim, 3072);
    static const int train[] = {6, 9, 9, 4, 1, 1, 2, 7, 8, 3};
    static const int test[] = {3, 8, 8, 0, 6, 6, 1, 6, 3, 1};
    assert_first_labels(&ds.train, train, 10);
    assert_first_labels(&ds.test, test, 10);
    bp_dataset_free(&ds);
}

#define DEBIAN_FASHION "/usr/share/datasets/fashion-mnist"

/* Debian's dataset-fashion-mnist package uses the official file names, so a
 * data dir whose fashion-mnist entry links to it loads as is. */
Test(data_loaders, real_fashion_mnist_debian_layout)
{
    if (!is_dir(DEBIAN_FASHION))
        SKIP_TEST("no " DEBIAN_FASHION " (apt-get install dataset-fashion-mnist)");
    char link[TMP_PATH_BYTES];
    tmp_path(link, "fashion-mnist");
    cr_assert_eq(symlink(DEBIAN_FASHION, link), 0);
    bp_dataset ds;
    bp_error err = {0};
    cr_assert_eq(bp_dataset_load("fashion-mnist", tmp_dir, &ds, &err), BP_OK, "%s", err.msg);
    cr_assert_eq(ds.train.n, 60000);
    cr_assert_eq(ds.test.n, 10000);
    cr_assert_eq(ds.train.height, 28);
    static const int train[] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    static const int test[] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    assert_first_labels(&ds.train, train, 10);
    assert_first_labels(&ds.test, test, 10);
    bp_dataset_free(&ds);
}
