/* Checkpoints of one run: every tensor of every arena with its optimizer
 * state, the epoch and step counts. Format (little-endian, version 2):
 *   "BIOPPCK1" | u32 version | u32 ntensors-total | u64 seed | i64 epoch | i64 step
 *   | i64 pos (steps done of epoch+1: a checkpoint taken mid-epoch; else 0)
 *   per arena: u32 ntensors, per tensor: name[16] i32 rows i32 cols
 *   per arena: params, [m], [v]   (floats, one run, declaration order)
 *   u32 n, then n floats: the per-step metrics of the pos steps done
 *   (pos x slots, step-major), which the epoch's sums need on resume
 *   u32 crc32 of everything before it
 * Version 1 (no pos, no metrics: always an epoch boundary) is still read.
 * Written to PATH.tmp, fsync'd and renamed, so a crash leaves either the
 * old file or the new one, never a torn one. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "biopp/fsutil.h"
#include "biopp/plural.h"
#include "biopp/runner.h"
#include "biopp/train.h"

#define CK_MAGIC "BIOPPCK1"
#define CK_VERSION 2u
#define CK_HEADER_V1 (8 + 4 + 4 + 8 + 8 + 8)

typedef struct {
    unsigned char *buf;
    size_t len, cap, pos;
    int oom;
} ck_buf;

static void put(ck_buf *b, const void *p, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        unsigned char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}

static int get(ck_buf *b, void *p, size_t n)
{
    if (b->pos + n > b->len) return -1;
    memcpy(p, b->buf + b->pos, n);
    b->pos += n;
    return 0;
}

static const bp_arena *arena_of(const bp_net *net, int i)
{
    return i == 0 ? &net->fwd : i == 1 ? &net->fb : &net->fixed;
}

/* The arrays of an arena that a checkpoint holds: p, and m, v if present. */
static int arena_arrays(const bp_arena *a, float *arrays[3])
{
    int k = 0;
    arrays[k++] = a->p;
    if (a->m) arrays[k++] = a->m;
    if (a->v) arrays[k++] = a->v;
    return k;
}

static bp_status put_arrays(ck_buf *b, bp_group *g, int r, bp_error *err)
{
    bp_net *net = bp_group_net(g);
    bp_backend *be = bp_group_backend(g);
    for (int ai = 0; ai < 3; ai++) {
        const bp_arena *a = arena_of(net, ai);
        size_t per_run = a->n / net->R;
        if (!per_run) continue;
        float *host = malloc(per_run * sizeof(float)), *arrays[3];
        if (!host) return bp_fail(err, BP_ERR_NOMEM, "checkpoint: out of host memory");
        int k = arena_arrays(a, arrays);
        for (int j = 0; j < k; j++) {
            bp_status rc = bp_arena_download_run(net, a, arrays[j], r, host, be, err);
            if (rc) {
                free(host);
                return rc;
            }
            put(b, host, per_run * sizeof(float));
        }
        free(host);
    }
    return BP_OK;
}

/* Run r's metrics of the first pos steps of the epoch (slots x R per step
 * in backend memory). */
static bp_status put_metrics(ck_buf *b, bp_group *g, int r, int pos, bp_error *err)
{
    bp_net *net = bp_group_net(g);
    bp_backend *be = bp_group_backend(g);
    int slots = net->metric_slots, R = net->R;
    uint32_t n = (uint32_t)pos * (uint32_t)slots;
    put(b, &n, 4);
    if (!pos) return BP_OK;
    if (be->ops->download(be, net->host_metrics, net->metrics,
                          (size_t)pos * slots * R * sizeof(float)))
        return bp_backend_fail(be, err, "checkpoint: downloading the epoch's metrics");
    for (int s = 0; s < pos; s++)
        for (int k = 0; k < slots; k++) put(b, &net->host_metrics[((size_t)s * slots + k) * R + r], 4);
    return BP_OK;
}

static bp_status load_metrics(ck_buf *b, bp_group *g, int r, int pos, const char *path,
                              bp_error *err)
{
    bp_net *net = bp_group_net(g);
    bp_backend *be = bp_group_backend(g);
    int slots = net->metric_slots, R = net->R;
    uint32_t n;
    if (get(b, &n, 4) || n != (uint32_t)pos * (uint32_t)slots || pos > net->metric_steps ||
        b->pos + (size_t)n * sizeof(float) > b->len)
        return bp_fail(err, BP_ERR_FORMAT, "%s: the metrics of the unfinished epoch are missing or "
                       "do not fit this model", path);
    if (!pos) return BP_OK;
    size_t bytes = (size_t)pos * slots * R * sizeof(float);
    if (be->ops->download(be, net->host_metrics, net->metrics, bytes))
        return bp_backend_fail(be, err, "resuming: downloading the epoch's metrics");
    for (int s = 0; s < pos; s++)
        for (int k = 0; k < slots; k++) get(b, &net->host_metrics[((size_t)s * slots + k) * R + r], 4);
    if (be->ops->upload(be, net->metrics, net->host_metrics, bytes))
        return bp_backend_fail(be, err, "resuming: uploading the epoch's metrics");
    return BP_OK;
}

bp_status bp_checkpoint_save(bp_group *g, int r, const char *path, bp_error *err)
{
    bp_net *net = bp_group_net(g);
    ck_buf b = {0};
    uint32_t version = CK_VERSION, total = 0;
    for (int ai = 0; ai < 3; ai++) total += (uint32_t)arena_of(net, ai)->ntensors;
    int64_t epoch = bp_group_epoch(g), step = net->step, pos = bp_group_step_in_epoch(g);
    put(&b, CK_MAGIC, 8);
    put(&b, &version, 4);
    put(&b, &total, 4);
    put(&b, &net->seeds[r], 8);
    put(&b, &epoch, 8);
    put(&b, &step, 8);
    put(&b, &pos, 8);
    for (int ai = 0; ai < 3; ai++) {
        const bp_arena *a = arena_of(net, ai);
        uint32_t nt = (uint32_t)a->ntensors;
        put(&b, &nt, 4);
        for (int i = 0; i < a->ntensors; i++) {
            int32_t dims[2] = {a->t[i].rows, a->t[i].cols};
            put(&b, a->t[i].name, sizeof a->t[i].name);
            put(&b, dims, sizeof dims);
        }
    }
    bp_status rc = put_arrays(&b, g, r, err);
    if (!rc) rc = put_metrics(&b, g, r, (int)pos, err);
    uint32_t crc = (uint32_t)crc32(0L, b.buf, (uInt)b.len);
    put(&b, &crc, 4);
    if (!rc && b.oom) rc = bp_fail(err, BP_ERR_NOMEM, "checkpoint %s: out of memory", path);
    if (!rc) rc = bp_write_file_atomic(path, b.buf, b.len, err);
    free(b.buf);
    return rc;
}

static bp_status check_header(ck_buf *b, const bp_net *net, int r, const char *path,
                              int64_t *epoch, int64_t *step, int64_t *pos, uint32_t *version_out,
                              bp_error *err)
{
    char magic[8];
    uint32_t version = 0, total = 0;
    uint64_t seed = 0;
    if (get(b, magic, 8) || memcmp(magic, CK_MAGIC, 8) != 0)
        return bp_fail(err, BP_ERR_FORMAT, "%s: not a biopp checkpoint (bad magic)", path);
    if (get(b, &version, 4) || version < 1 || version > CK_VERSION)
        return bp_fail(err, BP_ERR_FORMAT, "%s: checkpoint version %u, this biopp reads 1..%u",
                       path, version, CK_VERSION);
    *version_out = version;
    *pos = 0;
    if (get(b, &total, 4) || get(b, &seed, 8) || get(b, epoch, 8) || get(b, step, 8) ||
        (version >= 2 && get(b, pos, 8)))
        return bp_fail(err, BP_ERR_FORMAT, "%s: truncated header", path);
    if (*epoch < 0 || *epoch > INT_MAX || *step < 0)
        return bp_fail(err, BP_ERR_FORMAT, "%s: bad header (epoch %lld, step %lld)", path,
                       (long long)*epoch, (long long)*step);
    if (seed != net->seeds[r])
        return bp_fail(err, BP_ERR_FORMAT, "%s: checkpoint of seed %llu, expected seed %llu",
                       path, (unsigned long long)seed, (unsigned long long)net->seeds[r]);
    for (int ai = 0; ai < 3; ai++) {
        const bp_arena *a = arena_of(net, ai);
        uint32_t nt;
        if (get(b, &nt, 4) || nt != (uint32_t)a->ntensors)
            return bp_fail(err, BP_ERR_FORMAT,
                           "%s: checkpoint of a different model (tensor count differs)", path);
        for (int i = 0; i < a->ntensors; i++) {
            char name[16];
            int32_t dims[2];
            if (get(b, name, 16) || get(b, dims, sizeof dims))
                return bp_fail(err, BP_ERR_FORMAT, "%s: truncated tensor table", path);
            if (strncmp(name, a->t[i].name, 16) || dims[0] != a->t[i].rows ||
                dims[1] != a->t[i].cols)
                return bp_fail(err, BP_ERR_FORMAT,
                               "%s: tensor %.16s is %dx%d in the checkpoint, %s is %dx%d here",
                               path, name, dims[0], dims[1], a->t[i].name, a->t[i].rows,
                               a->t[i].cols);
        }
    }
    return BP_OK;
}

static bp_status read_all(const char *path, ck_buf *b, bp_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return bp_fail(err, BP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) put(b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return bp_fail(err, BP_ERR_IO, "%s: read error", path);
    if (b->oom) return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory", path);
    if (b->len < 12) return bp_fail(err, BP_ERR_FORMAT, "%s: truncated checkpoint", path);
    uint32_t crc;
    memcpy(&crc, b->buf + b->len - 4, 4);
    b->len -= 4;
    if ((uint32_t)crc32(0L, b->buf, (uInt)b->len) != crc)
        return bp_fail(err, BP_ERR_FORMAT, "%s: checksum mismatch (file corrupt or truncated)",
                       path);
    return BP_OK;
}

static bp_status load_arrays(ck_buf *b, bp_group *g, int r, const char *path, bp_error *err)
{
    bp_net *net = bp_group_net(g);
    bp_backend *be = bp_group_backend(g);
    for (int ai = 0; ai < 3; ai++) {
        const bp_arena *a = arena_of(net, ai);
        size_t per_run = a->n / net->R;
        float *arrays[3];
        int k = arena_arrays(a, arrays);
        for (int j = 0; j < k && per_run; j++) {
            if (b->pos + per_run * sizeof(float) > b->len)
                return bp_fail(err, BP_ERR_FORMAT,
                               "%s: checkpoint too short (optimizer differs?)", path);
            bp_status rc = bp_arena_upload_run(net, a, arrays[j], r,
                                               (const float *)(b->buf + b->pos), be, err);
            if (rc) return rc;
            b->pos += per_run * sizeof(float);
        }
    }
    return BP_OK;
}

static bp_status check_end(const ck_buf *b, const char *path, bp_error *err)
{
    if (b->pos != b->len)
        return bp_fail(err, BP_ERR_FORMAT, "%s: %zu unexpected trailing bytes (optimizer differs?)",
                       path, b->len - b->pos);
    return BP_OK;
}

bp_status bp_checkpoint_load(bp_group *g, int r, const char *path, bp_error *err)
{
    bp_net *net = bp_group_net(g);
    ck_buf b = {0};
    int64_t epoch = 0, step = 0, pos = 0;
    uint32_t version = 0;
    bp_status rc = read_all(path, &b, err);
    if (!rc) rc = check_header(&b, net, r, path, &epoch, &step, &pos, &version, err);
    if (!rc && (pos < 0 || pos >= bp_group_steps_per_epoch(g)))
        rc = bp_fail(err, BP_ERR_FORMAT, "%s: step %lld of an epoch of %d step%s", path,
                     (long long)pos, bp_group_steps_per_epoch(g),
                     bp_plural_s(bp_group_steps_per_epoch(g)));
    /* Every header field is a multiple of 4 bytes long, so the arrays start
     * float-aligned inside the malloc'd buffer and upload from it directly. */
    if (!rc) rc = load_arrays(&b, g, r, path, err);
    if (!rc && version >= 2) rc = load_metrics(&b, g, r, (int)pos, path, err);
    if (!rc) rc = check_end(&b, path, err);
    if (!rc) {
        net->step = step;
        bp_group_set_epoch(g, (int)epoch);
        bp_group_set_step_in_epoch(g, (int)pos);
    }
    free(b.buf);
    return rc;
}

bp_status bp_checkpoint_peek(const char *path, int *epoch, int *pos, bp_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return bp_fail(err, BP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char h[CK_HEADER_V1 + 8];
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    uint32_t version = 0;
    if (n >= 12) memcpy(&version, h + 8, 4);
    if (n < CK_HEADER_V1 || memcmp(h, CK_MAGIC, 8) != 0 || (version >= 2 && n < sizeof h))
        return bp_fail(err, BP_ERR_FORMAT, "%s: not a biopp checkpoint", path);
    int64_t e, p = 0;
    memcpy(&e, h + 24, 8);
    if (version >= 2) memcpy(&p, h + CK_HEADER_V1, 8);
    if (e < 0 || e > INT_MAX)
        return bp_fail(err, BP_ERR_FORMAT, "%s: bad epoch %lld in the header", path, (long long)e);
    if (p < 0 || p > INT_MAX)
        return bp_fail(err, BP_ERR_FORMAT, "%s: bad step within the epoch %lld in the header", path,
                       (long long)p);
    *epoch = (int)e;
    if (pos) *pos = (int)p;
    return BP_OK;
}

bp_status bp_checkpoint_peek_epoch(const char *path, int *epoch, bp_error *err)
{
    return bp_checkpoint_peek(path, epoch, NULL, err);
}
