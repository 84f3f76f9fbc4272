/* Datasets: validated loaders for IDX (MNIST, Fashion-MNIST, KMNIST) and
 * the CIFAR-10 binary format, plain or gzip-compressed. Pixels stay uint8
 * in memory (scaled to [0,1] when a batch is gathered). */
#ifndef BIOPP_DATA_H
#define BIOPP_DATA_H

#include <stdint.h>

#include "biopp/error.h"

typedef struct {
    int n;          /* samples */
    int dim;        /* values per sample (channels * height * width) */
    int channels, height, width;
    uint8_t *x;     /* n * dim pixels, sample-major; CIFAR: planes R, G, B */
    uint8_t *y;     /* n labels in [0, classes) */
} bp_images;

typedef struct {
    char name[32];  /* "mnist", ... */
    int classes;
    bp_images train; /* the whole official training set */
    bp_images test;  /* the official test set */
} bp_dataset;

/* Reads a file, transparently gunzipping if it starts with the gzip magic.
 * On success *data is malloc'd (caller frees) and *size set. */
bp_status bp_read_file(const char *path, uint8_t **data, size_t *size, bp_error *err);

/* IDX files (big-endian header, magic 0x00000803 images, 0x00000801 labels). */
bp_status bp_idx_load_images(const char *path, bp_images *out, bp_error *err);
bp_status bp_idx_load_labels(const char *path, int classes, uint8_t **labels, int *n,
                             bp_error *err);
/* Images + labels of one split; counts must agree. */
bp_status bp_idx_load_split(const char *images_path, const char *labels_path, int classes,
                            bp_images *out, bp_error *err);

/* CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes.
 * Loads and concatenates `count` files in order. */
bp_status bp_cifar_load_files(const char *const *paths, int count, bp_images *out,
                              bp_error *err);

/* Resolves the data directory: cfg_dir if non-empty, else $BIOPP_DATA_DIR,
 * else "data". Writes into buf. */
void bp_data_dir_resolve(const char *cfg_dir, char *buf, size_t size);

/* Loads a named dataset from data_dir/<name>/ (mnist, fashion-mnist, kmnist,
 * cifar10). File names are the official ones, with or without ".gz".
 * A missing file gives an error naming the path and `make data`. */
bp_status bp_dataset_load(const char *name, const char *data_dir, bp_dataset *ds,
                          bp_error *err);

void bp_images_free(bp_images *im);
void bp_dataset_free(bp_dataset *ds);

#endif
