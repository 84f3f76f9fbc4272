/* Named datasets: where their files live under the data directory and which
 * loader reads them.
 *
 * Layout (what `make data` / scripts/fetch-data.sh produces):
 *   <data_dir>/mnist/          train-images-idx3-ubyte[.gz] ... (official IDX names)
 *   <data_dir>/fashion-mnist/  same four names (Debian's dataset-fashion-mnist
 *                              installs exactly these .gz names under
 *                              /usr/share/datasets/fashion-mnist/)
 *   <data_dir>/kmnist/         same four names
 *   <data_dir>/cifar-10/       data_batch_1..5.bin[.gz], test_batch.bin[.gz]
 * Each file is looked up as <name>.gz first, then <name>. */
#include "biopp/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_BYTES 4096
#define DATASET_CLASSES 10
#define CIFAR_TRAIN_FILES 5

typedef enum { FORMAT_IDX, FORMAT_CIFAR } dataset_format;

typedef struct {
    const char *name;   /* as given in configs */
    const char *subdir; /* under the data directory */
    dataset_format format;
    const char *hint;   /* how to obtain it, appended to "not found" errors */
} dataset_info;

static const dataset_info DATASETS[] = {
    {"mnist", "mnist", FORMAT_IDX, "run `make data` or set data_dir / BIOPP_DATA_DIR"},
    {"fashion-mnist", "fashion-mnist", FORMAT_IDX,
     "run `make data` (it copies /usr/share/datasets/fashion-mnist, from "
     "`apt-get install dataset-fashion-mnist`) or set data_dir / BIOPP_DATA_DIR"},
    {"kmnist", "kmnist", FORMAT_IDX,
     "run `make data` (KMNIST needs internet, else place the four files from "
     "http://codh.rois.ac.jp/kmnist/dataset/kmnist/ there) or set data_dir / BIOPP_DATA_DIR"},
    {"cifar10", "cifar-10", FORMAT_CIFAR, "run `make data` or set data_dir / BIOPP_DATA_DIR"},
};
#define DATASET_COUNT (sizeof DATASETS / sizeof DATASETS[0])

void bp_data_dir_resolve(const char *cfg_dir, char *buf, size_t size)
{
    if (!buf || size == 0)
        return;
    const char *env = getenv("BIOPP_DATA_DIR");
    const char *dir = cfg_dir && *cfg_dir ? cfg_dir : env && *env ? env : "data";
    snprintf(buf, size, "%s", dir);
}

static const dataset_info *find_dataset(const char *name)
{
    for (size_t i = 0; i < DATASET_COUNT; i++)
        if (strcmp(DATASETS[i].name, name) == 0)
            return &DATASETS[i];
    return NULL;
}

static bp_status unknown_dataset(const char *name, bp_error *err)
{
    char names[256] = "";
    for (size_t i = 0; i < DATASET_COUNT; i++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", DATASETS[i].name);
    }
    return bp_fail(err, BP_ERR_CONFIG, "unknown dataset \"%s\"; valid names: %s", name, names);
}

static int is_regular_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode); /* stat follows symlinks */
}

/* Sets `out` to dir/sub/file.gz if it exists, else dir/sub/file if that
 * exists, else fails with a message naming both and how to get the data. */
static bp_status locate_file(const char *dir, const dataset_info *info, const char *file,
                             char *out, bp_error *err)
{
    char plain[PATH_BYTES - 3]; /* room for ".gz" in out */
    int len = snprintf(plain, sizeof plain, "%s/%s/%s", dir, info->subdir, file);
    if (len < 0 || (size_t)len >= sizeof plain)
        return bp_fail(err, BP_ERR_ARG, "data path too long: %s/%s/%s", dir, info->subdir, file);
    snprintf(out, PATH_BYTES, "%s.gz", plain);
    if (is_regular_file(out))
        return BP_OK;
    snprintf(out, PATH_BYTES, "%s", plain);
    if (is_regular_file(out))
        return BP_OK;
    return bp_fail(err, BP_ERR_IO, "%s: not found (tried %s.gz too); %s", plain, plain,
                   info->hint);
}

static bp_status load_idx_split(const char *dir, const dataset_info *info, const char *prefix,
                                bp_images *out, bp_error *err)
{
    char images[PATH_BYTES], labels[PATH_BYTES], file[64];
    snprintf(file, sizeof file, "%s-images-idx3-ubyte", prefix);
    bp_status st = locate_file(dir, info, file, images, err);
    if (st != BP_OK)
        return st;
    snprintf(file, sizeof file, "%s-labels-idx1-ubyte", prefix);
    if ((st = locate_file(dir, info, file, labels, err)) != BP_OK)
        return st;
    return bp_idx_load_split(images, labels, DATASET_CLASSES, out, err);
}

static bp_status load_idx_dataset(const char *dir, const dataset_info *info, bp_dataset *ds,
                                  bp_error *err)
{
    bp_status st = load_idx_split(dir, info, "train", &ds->train, err);
    if (st != BP_OK)
        return st;
    return load_idx_split(dir, info, "t10k", &ds->test, err);
}

/* Locates `count` CIFAR batch files (all before loading any, so a missing
 * last batch fails fast instead of after reading 150 MB). */
static bp_status load_cifar_split(const char *dir, const dataset_info *info,
                                  const char *const *files, int count, bp_images *out,
                                  bp_error *err)
{
    char paths[CIFAR_TRAIN_FILES][PATH_BYTES];
    const char *ptrs[CIFAR_TRAIN_FILES];
    for (int i = 0; i < count; i++) {
        bp_status st = locate_file(dir, info, files[i], paths[i], err);
        if (st != BP_OK)
            return st;
        ptrs[i] = paths[i];
    }
    return bp_cifar_load_files(ptrs, count, out, err);
}

static bp_status load_cifar_dataset(const char *dir, const dataset_info *info, bp_dataset *ds,
                                    bp_error *err)
{
    static const char *const train[CIFAR_TRAIN_FILES] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
        "data_batch_5.bin"};
    static const char *const test[1] = {"test_batch.bin"};
    bp_status st = load_cifar_split(dir, info, train, CIFAR_TRAIN_FILES, &ds->train, err);
    if (st != BP_OK)
        return st;
    return load_cifar_split(dir, info, test, 1, &ds->test, err);
}

bp_status bp_dataset_load(const char *name, const char *data_dir, bp_dataset *ds,
                          bp_error *err)
{
    if (!name || !ds)
        return bp_fail(err, BP_ERR_ARG, "bp_dataset_load: NULL argument");
    memset(ds, 0, sizeof *ds);
    const dataset_info *info = find_dataset(name);
    if (!info)
        return unknown_dataset(name, err);

    char dir[PATH_BYTES];
    bp_data_dir_resolve(data_dir, dir, sizeof dir);
    bp_status st = info->format == FORMAT_IDX ? load_idx_dataset(dir, info, ds, err)
                                              : load_cifar_dataset(dir, info, ds, err);
    if (st != BP_OK) {
        bp_dataset_free(ds);
        return st;
    }
    snprintf(ds->name, sizeof ds->name, "%s", info->name);
    ds->classes = DATASET_CLASSES;
    return BP_OK;
}

void bp_images_free(bp_images *im)
{
    if (!im)
        return;
    free(im->x);
    free(im->y);
    memset(im, 0, sizeof *im);
}

void bp_dataset_free(bp_dataset *ds)
{
    if (!ds)
        return;
    bp_images_free(&ds->train);
    bp_images_free(&ds->test);
    memset(ds, 0, sizeof *ds);
}
