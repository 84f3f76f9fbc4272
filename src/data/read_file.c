/* Whole-file reading with transparent gzip decompression.
 *
 * Datasets are stored either plain or gzip-compressed (the official MNIST
 * downloads are .gz, CIFAR-10 may be either), so every loader goes through
 * bp_read_file and never cares which. Gzip is recognised by its magic bytes,
 * not by the file name, so a renamed file still loads. Decompression uses
 * inflate directly rather than gzread because gzread hides truncation and
 * trailing garbage in some zlib versions; here both are format errors. */
#include "biopp/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Largest file (after decompression) we accept. The largest real input is
 * Fashion-MNIST train images at 47 MB; 1 GiB leaves room for bigger IDX sets
 * while stopping a gzip bomb or a wrong path (/dev/zero) from eating memory. */
#define READ_MAX_BYTES ((size_t)1 << 30)
#define CHUNK_BYTES ((size_t)1 << 16)

static int starts_with_gzip_magic(const uint8_t *p, size_t n)
{
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Reads the raw bytes of an open stream into a malloc'd buffer. */
static bp_status slurp_stream(FILE *f, const char *path, uint8_t **data, size_t *size,
                              bp_error *err)
{
    size_t cap = CHUNK_BYTES, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory reading the file", path);
    for (;;) {
        if (len == cap) {
            /* The compressed input may not exceed the uncompressed cap either. */
            if (cap >= READ_MAX_BYTES) {
                free(buf);
                return bp_fail(err, BP_ERR_FORMAT, "%s: file is larger than the %zu-byte limit",
                               path, READ_MAX_BYTES);
            }
            uint8_t *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory reading the file", path);
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        return bp_fail(err, BP_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
    *data = buf;
    *size = len;
    return BP_OK;
}

/* Doubles the output buffer of the inflater, refusing to pass the cap. */
static bp_status grow_output(uint8_t **out, size_t *cap, const char *path, bp_error *err)
{
    if (*cap >= READ_MAX_BYTES)
        return bp_fail(err, BP_ERR_FORMAT,
                       "%s: decompresses to more than the %zu-byte limit (corrupt or not a dataset)",
                       path, READ_MAX_BYTES);
    size_t next = *cap * 2 > READ_MAX_BYTES ? READ_MAX_BYTES : *cap * 2;
    uint8_t *grown = realloc(*out, next);
    if (!grown)
        return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory decompressing", path);
    *out = grown;
    *cap = next;
    return BP_OK;
}

/* Inflates one or more concatenated gzip members held in memory. Anything
 * after the last member that is not another member is rejected: a dataset
 * file with junk appended has been damaged somewhere. */
static bp_status gunzip_buffer(const uint8_t *in, size_t in_len, const char *path,
                               uint8_t **data, size_t *size, bp_error *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK) /* 15: max window, +16: gzip only */
        return bp_fail(err, BP_ERR_NOMEM, "%s: cannot initialise zlib", path);

    size_t cap = in_len * 4 > CHUNK_BYTES ? in_len * 4 : CHUNK_BYTES;
    if (cap > READ_MAX_BYTES)
        cap = READ_MAX_BYTES;
    uint8_t *out = malloc(cap);
    bp_status st = out ? BP_OK : bp_fail(err, BP_ERR_NOMEM, "%s: out of memory decompressing", path);
    size_t len = 0, pos = 0;

    while (st == BP_OK) {
        if (len == cap && (st = grow_output(&out, &cap, path, err)) != BP_OK)
            break;
        /* avail_in/out are uInt; feed at most 1 GiB per call, which fits. */
        zs.next_in = (Bytef *)(in + pos);
        zs.avail_in = (uInt)(in_len - pos);
        zs.next_out = out + len;
        zs.avail_out = (uInt)(cap - len);
        int rc = inflate(&zs, Z_NO_FLUSH);
        pos = in_len - zs.avail_in;
        len = cap - zs.avail_out;
        if (rc == Z_STREAM_END) {
            if (pos == in_len)
                break;
            if (!starts_with_gzip_magic(in + pos, in_len - pos)) {
                st = bp_fail(err, BP_ERR_FORMAT,
                             "%s: %zu bytes of trailing data after the gzip stream", path,
                             in_len - pos);
                break;
            }
            inflateReset(&zs); /* next concatenated member */
        } else if (rc == Z_BUF_ERROR && zs.avail_in == 0 && zs.avail_out > 0) {
            st = bp_fail(err, BP_ERR_FORMAT,
                         "%s: truncated gzip stream (input ends after %zu bytes, %zu decompressed); "
                         "re-fetch the file",
                         path, in_len, len);
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            st = bp_fail(err, rc == Z_MEM_ERROR ? BP_ERR_NOMEM : BP_ERR_FORMAT,
                         "%s: corrupt gzip data at compressed byte %zu: %s; re-fetch the file",
                         path, pos, zs.msg ? zs.msg : zError(rc));
        }
    }
    inflateEnd(&zs);
    if (st != BP_OK) {
        free(out);
        return st;
    }
    *data = out;
    *size = len;
    return BP_OK;
}

bp_status bp_read_file(const char *path, uint8_t **data, size_t *size, bp_error *err)
{
    if (!path || !data || !size)
        return bp_fail(err, BP_ERR_ARG, "bp_read_file: NULL argument");
    *data = NULL;
    *size = 0;

    FILE *f = fopen(path, "rb");
    if (!f)
        return bp_fail(err, BP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    bp_status st = slurp_stream(f, path, &raw, &raw_len, err);
    fclose(f);
    if (st != BP_OK)
        return st;

    if (!starts_with_gzip_magic(raw, raw_len)) {
        *data = raw;
        *size = raw_len;
        return BP_OK;
    }
    st = gunzip_buffer(raw, raw_len, path, data, size, err);
    free(raw);
    return st;
}
