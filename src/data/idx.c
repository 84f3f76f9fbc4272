/* IDX loaders (the MNIST family's format).
 *
 * An IDX file is: 2 zero bytes, a type byte (0x08 = unsigned byte), a byte
 * with the number of dimensions, that many big-endian uint32 sizes, then the
 * data. Every field is checked and the file size must match the header
 * exactly, because a truncated or padded download otherwise shows up much
 * later as a silently wrong accuracy. */
#include "biopp/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/plural.h"

#define IDX_TYPE_UBYTE 0x08
#define IDX_MAX_DIMS 3
/* Sanity bounds: far above any real IDX set, low enough that products of
 * dimensions cannot overflow int or size_t on the way to the size check. */
#define IDX_MAX_SAMPLES 100000000u
#define IDX_MAX_SIDE 65536u
#define IDX_MAX_SAMPLE_DIM (1u << 24)

typedef struct {
    int ndims;
    uint32_t dims[IDX_MAX_DIMS];
    size_t header_bytes;
    size_t payload_bytes; /* product of dims */
} idx_header;

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Checks the magic against the expected ubyte magic with `ndims` dims. */
static bp_status check_magic(const char *path, const uint8_t *buf, size_t size, int ndims,
                             bp_error *err)
{
    uint32_t want = (uint32_t)IDX_TYPE_UBYTE << 8 | (uint32_t)ndims;
    if (size < 4)
        return bp_fail(err, BP_ERR_FORMAT, "%s: only %zu bytes, too short for an IDX header",
                       path, size);
    uint32_t magic = read_be32(buf);
    if (buf[0] != 0 || buf[1] != 0 || buf[2] != IDX_TYPE_UBYTE)
        return bp_fail(err, BP_ERR_FORMAT,
                       "%s: bad magic 0x%08x, expected 0x%08x (IDX unsigned-byte file with %d "
                       "dimension%s); is this the right file?",
                       path, (unsigned)magic, (unsigned)want, ndims, ndims == 1 ? "" : "s");
    if (buf[3] != ndims)
        return bp_fail(err, BP_ERR_FORMAT,
                       "%s: IDX file has %d dimension%s (magic 0x%08x), expected %d (magic 0x%08x)",
                       path, buf[3], buf[3] == 1 ? "" : "s", (unsigned)magic, ndims,
                       (unsigned)want);
    return BP_OK;
}

/* Parses and bounds-checks the header; the caller has checked the magic. */
static bp_status parse_header(const char *path, const uint8_t *buf, size_t size, int ndims,
                              idx_header *h, bp_error *err)
{
    h->ndims = ndims;
    h->header_bytes = 4 + 4 * (size_t)ndims;
    if (size < h->header_bytes)
        return bp_fail(err, BP_ERR_FORMAT,
                       "%s: truncated IDX header: expected %zu bytes, file has %zu", path,
                       h->header_bytes, size);
    h->payload_bytes = 1;
    for (int i = 0; i < ndims; i++) {
        uint32_t d = read_be32(buf + 4 + 4 * i);
        uint32_t limit = i == 0 ? IDX_MAX_SAMPLES : IDX_MAX_SIDE;
        if (d == 0 || d > limit)
            return bp_fail(err, BP_ERR_FORMAT,
                           "%s: dimension %d is %u, expected 1..%u", path, i, (unsigned)d,
                           (unsigned)limit);
        h->dims[i] = d;
        h->payload_bytes *= d;
    }
    if (ndims == 3 && (size_t)h->dims[1] * h->dims[2] > IDX_MAX_SAMPLE_DIM)
        return bp_fail(err, BP_ERR_FORMAT, "%s: images of %ux%u are larger than the %u-pixel limit",
                       path, (unsigned)h->dims[1], (unsigned)h->dims[2], IDX_MAX_SAMPLE_DIM);
    return BP_OK;
}

/* The payload must fill the rest of the file exactly. */
static bp_status check_file_size(const char *path, size_t size, const idx_header *h,
                                 bp_error *err)
{
    size_t expected = h->header_bytes + h->payload_bytes;
    if (size == expected)
        return BP_OK;
    char shape[64];
    if (h->ndims == 3)
        snprintf(shape, sizeof shape, "%u x %u x %u", (unsigned)h->dims[0],
                 (unsigned)h->dims[1], (unsigned)h->dims[2]);
    else
        snprintf(shape, sizeof shape, "%u", (unsigned)h->dims[0]);
    return bp_fail(err, BP_ERR_FORMAT,
                   "%s: expected %zu bytes (%zu header + %s data) but the file has %zu: %s",
                   path, expected, h->header_bytes, shape, size,
                   size < expected ? "truncated, re-fetch it" : "trailing bytes after the data");
}

/* Reads a file and validates it as an IDX ubyte file with `ndims` dims. On
 * success *buf holds the whole file (header included). */
static bp_status load_idx(const char *path, int ndims, uint8_t **buf, idx_header *h,
                          bp_error *err)
{
    size_t size = 0;
    bp_status st = bp_read_file(path, buf, &size, err);
    if (st != BP_OK)
        return st;
    if ((st = check_magic(path, *buf, size, ndims, err)) != BP_OK ||
        (st = parse_header(path, *buf, size, ndims, h, err)) != BP_OK ||
        (st = check_file_size(path, size, h, err)) != BP_OK) {
        free(*buf);
        *buf = NULL;
    }
    return st;
}

/* Moves the payload to the front of the buffer and trims it, so the loaded
 * data costs one allocation and no second copy of a 47 MB file. */
static uint8_t *strip_header(uint8_t *buf, const idx_header *h)
{
    memmove(buf, buf + h->header_bytes, h->payload_bytes);
    uint8_t *trimmed = realloc(buf, h->payload_bytes);
    return trimmed ? trimmed : buf;
}

bp_status bp_idx_load_images(const char *path, bp_images *out, bp_error *err)
{
    if (!path || !out)
        return bp_fail(err, BP_ERR_ARG, "bp_idx_load_images: NULL argument");
    memset(out, 0, sizeof *out);
    uint8_t *buf = NULL;
    idx_header h;
    bp_status st = load_idx(path, 3, &buf, &h, err);
    if (st != BP_OK)
        return st;
    out->n = (int)h.dims[0];
    out->channels = 1;
    out->height = (int)h.dims[1];
    out->width = (int)h.dims[2];
    out->dim = out->height * out->width;
    out->x = strip_header(buf, &h);
    return BP_OK;
}

/* The first label >= classes, or -1. */
static long find_bad_label(const uint8_t *labels, size_t n, int classes)
{
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= classes)
            return (long)i;
    return -1;
}

bp_status bp_idx_load_labels(const char *path, int classes, uint8_t **labels, int *n,
                             bp_error *err)
{
    if (!path || !labels || !n)
        return bp_fail(err, BP_ERR_ARG, "bp_idx_load_labels: NULL argument");
    *labels = NULL;
    *n = 0;
    if (classes < 1 || classes > 256)
        return bp_fail(err, BP_ERR_ARG, "%s: classes is %d, expected 1..256 for byte labels",
                       path, classes);
    uint8_t *buf = NULL;
    idx_header h;
    bp_status st = load_idx(path, 1, &buf, &h, err);
    if (st != BP_OK)
        return st;
    const uint8_t *data = buf + h.header_bytes;
    long bad = find_bad_label(data, h.payload_bytes, classes);
    if (bad >= 0) {
        st = bp_fail(err, BP_ERR_FORMAT, "%s: label %u at index %ld is out of range 0..%d",
                     path, (unsigned)data[bad], bad, classes - 1);
        free(buf);
        return st;
    }
    *n = (int)h.dims[0];
    *labels = strip_header(buf, &h);
    return BP_OK;
}

bp_status bp_idx_load_split(const char *images_path, const char *labels_path, int classes,
                            bp_images *out, bp_error *err)
{
    if (!images_path || !labels_path || !out)
        return bp_fail(err, BP_ERR_ARG, "bp_idx_load_split: NULL argument");
    bp_status st = bp_idx_load_images(images_path, out, err);
    if (st != BP_OK)
        return st;
    uint8_t *labels = NULL;
    int n_labels = 0;
    st = bp_idx_load_labels(labels_path, classes, &labels, &n_labels, err);
    if (st == BP_OK && n_labels != out->n) {
        st = bp_fail(err, BP_ERR_FORMAT, "%s has %d image%s but %s has %d label%s",
                     images_path, out->n, bp_plural_s(out->n), labels_path, n_labels,
                     bp_plural_s(n_labels));
        free(labels);
    }
    if (st != BP_OK) {
        bp_images_free(out);
        return st;
    }
    out->y = labels;
    return BP_OK;
}
