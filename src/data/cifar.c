/* CIFAR-10 binary batches.
 *
 * A batch file is a bare sequence of 3073-byte records: one label byte
 * (0..9) then 1024 R, 1024 G and 1024 B bytes, each plane row-major 32x32.
 * There is no header, so the only structural check is that the size is a
 * whole number of records; labels are checked one by one. Pixels are kept
 * in the stored plane order (channel-major), as bp_images documents. */
#include "biopp/data.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CIFAR_SIDE 32
#define CIFAR_CHANNELS 3
#define CIFAR_DIM (CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_DIM)
#define CIFAR_CLASSES 10

static bp_status check_record_count(const char *path, size_t size, bp_error *err)
{
    if (size == 0 || size % CIFAR_RECORD != 0)
        return bp_fail(err, BP_ERR_FORMAT,
                       "%s: size %zu bytes is not a positive multiple of the %d-byte CIFAR-10 "
                       "record (%zu whole records + %zu bytes); truncated or not a CIFAR-10 "
                       "binary batch",
                       path, size, CIFAR_RECORD, size / CIFAR_RECORD, size % CIFAR_RECORD);
    return BP_OK;
}

static bp_status check_labels(const char *path, const uint8_t *buf, size_t records,
                              bp_error *err)
{
    for (size_t r = 0; r < records; r++) {
        uint8_t label = buf[r * CIFAR_RECORD];
        if (label >= CIFAR_CLASSES)
            return bp_fail(err, BP_ERR_FORMAT,
                           "%s: record %zu has label %u, expected 0..%d", path, r, (unsigned)label,
                           CIFAR_CLASSES - 1);
    }
    return BP_OK;
}

/* Grows out->x / out->y to hold `more` further samples. */
static bp_status reserve_samples(bp_images *out, size_t more, const char *path, bp_error *err)
{
    size_t total = (size_t)out->n + more;
    if (total > INT_MAX / CIFAR_DIM)
        return bp_fail(err, BP_ERR_FORMAT, "%s: too many CIFAR-10 records in total (%zu)", path,
                       total);
    uint8_t *x = realloc(out->x, total * CIFAR_DIM);
    if (x)
        out->x = x;
    uint8_t *y = x ? realloc(out->y, total) : NULL;
    if (y)
        out->y = y;
    if (!x || !y)
        return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory for %zu CIFAR-10 images", path,
                       total);
    return BP_OK;
}

/* Validates one batch file and appends its records to out. */
static bp_status append_batch(const char *path, bp_images *out, bp_error *err)
{
    uint8_t *buf = NULL;
    size_t size = 0;
    bp_status st = bp_read_file(path, &buf, &size, err);
    if (st != BP_OK)
        return st;
    size_t records = size / CIFAR_RECORD;
    if ((st = check_record_count(path, size, err)) == BP_OK &&
        (st = check_labels(path, buf, records, err)) == BP_OK &&
        (st = reserve_samples(out, records, path, err)) == BP_OK) {
        for (size_t r = 0; r < records; r++) {
            const uint8_t *rec = buf + r * CIFAR_RECORD;
            size_t i = (size_t)out->n + r;
            out->y[i] = rec[0];
            memcpy(out->x + i * CIFAR_DIM, rec + 1, CIFAR_DIM);
        }
        out->n += (int)records;
    }
    free(buf);
    return st;
}

bp_status bp_cifar_load_files(const char *const *paths, int count, bp_images *out,
                              bp_error *err)
{
    if (!paths || !out || count < 1)
        return bp_fail(err, BP_ERR_ARG, "bp_cifar_load_files: need at least one path");
    memset(out, 0, sizeof *out);
    out->channels = CIFAR_CHANNELS;
    out->height = CIFAR_SIDE;
    out->width = CIFAR_SIDE;
    out->dim = CIFAR_DIM;
    for (int i = 0; i < count; i++) {
        bp_status st = paths[i] ? append_batch(paths[i], out, err)
                                : bp_fail(err, BP_ERR_ARG, "bp_cifar_load_files: path %d is NULL", i);
        if (st != BP_OK) {
            bp_images_free(out);
            return st;
        }
    }
    return BP_OK;
}
