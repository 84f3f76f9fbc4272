/* See include/biopp/checkpoint_file.h. The layout (src/checkpoint.c):
 *   "BIOPPCK1" | u32 version | u32 ntensors | u64 seed | i64 epoch | i64 step
 *   | i64 pos (version 2: steps done of an unfinished epoch)
 *   per arena (3): u32 ntensors, per tensor: name[16] i32 rows i32 cols
 *   per arena: params, [m], [v]   (float32, one run, declaration order)
 *   version 2: u32 n, n floats (the unfinished epoch's per-step metrics)
 *   u32 crc32 of everything before it
 * The header does not say which optimizer arrays follow; the file size does:
 * both trained arenas hold k arrays (k = 1, 2 or 3), the fixed one only its
 * parameters. */
#include "biopp/checkpoint_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "biopp/fsutil.h"

#define CK_MAGIC "BIOPPCK1"
#define CK_VERSION 2u /* reads 1 and 2 */

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} reader;

static int take(reader *r, void *dst, size_t n)
{
    if (r->pos + n > r->len) return -1;
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

static bp_status read_table(reader *rd, bp_checkpoint_file *ck, size_t per_arena[BP_CK_ARENAS],
                            const char *path, bp_error *err)
{
    for (int a = 0; a < BP_CK_ARENAS; a++) {
        uint32_t nt;
        per_arena[a] = 0;
        if (take(rd, &nt, 4) || nt > BP_MAX_TENSORS ||
            ck->ntensors + (int)nt > BP_CK_ARENAS * BP_MAX_TENSORS)
            return bp_fail(err, BP_ERR_FORMAT, "%s: bad tensor table (arena %d)", path, a);
        for (uint32_t i = 0; i < nt; i++) {
            bp_ck_tensor *t = &ck->t[ck->ntensors++];
            int32_t dims[2];
            memset(t->name, 0, sizeof t->name);
            if (take(rd, t->name, 16) || take(rd, dims, sizeof dims))
                return bp_fail(err, BP_ERR_FORMAT, "%s: truncated tensor table", path);
            if (dims[0] < 1 || dims[1] < 1 || !t->name[0])
                return bp_fail(err, BP_ERR_FORMAT, "%s: tensor %u of arena %d is %dx%d", path,
                               i, a, dims[0], dims[1]);
            t->arena = a;
            t->rows = dims[0];
            t->cols = dims[1];
            per_arena[a] += (size_t)dims[0] * dims[1];
        }
    }
    return BP_OK;
}

/* Points every tensor at its arrays: arena by arena, params then m, v. */
static void place_arrays(bp_checkpoint_file *ck, const float *data,
                         const size_t per_arena[BP_CK_ARENAS])
{
    size_t base = 0;
    for (int a = 0; a < BP_CK_ARENAS; a++) {
        int k = a == 2 ? 1 : ck->arrays;
        size_t off = 0;
        for (int i = 0; i < ck->ntensors; i++) {
            bp_ck_tensor *t = &ck->t[i];
            if (t->arena != a) continue;
            t->p = data + base + off;
            t->m = k >= 2 ? data + base + per_arena[a] + off : NULL;
            t->v = k >= 3 ? data + base + 2 * per_arena[a] + off : NULL;
            off += (size_t)t->rows * t->cols;
        }
        base += (size_t)k * per_arena[a];
    }
}

static bp_status parse(bp_checkpoint_file *ck, const char *path, bp_error *err)
{
    reader rd = {ck->buf, ck->len - 4, 0};
    char magic[8];
    uint32_t version = 0, total = 0;
    if (take(&rd, magic, 8) || memcmp(magic, CK_MAGIC, 8) != 0)
        return bp_fail(err, BP_ERR_FORMAT, "%s: not a biopp checkpoint (bad magic)", path);
    if (take(&rd, &version, 4) || version < 1 || version > CK_VERSION)
        return bp_fail(err, BP_ERR_FORMAT, "%s: checkpoint version %u, this biopp reads 1..%u",
                       path, version, CK_VERSION);
    int64_t pos = 0;
    if (take(&rd, &total, 4) || take(&rd, &ck->seed, 8) || take(&rd, &ck->epoch, 8) ||
        take(&rd, &ck->step, 8) || (version >= 2 && take(&rd, &pos, 8)))
        return bp_fail(err, BP_ERR_FORMAT, "%s: truncated header", path);
    size_t per_arena[BP_CK_ARENAS];
    bp_status rc = read_table(&rd, ck, per_arena, path, err);
    if (rc) return rc;
    if ((uint32_t)ck->ntensors != total)
        return bp_fail(err, BP_ERR_FORMAT, "%s: header says %u tensors, the table holds %d", path,
                       total, ck->ntensors);
    size_t floats = (rd.len - rd.pos) / sizeof(float), trained = per_arena[0] + per_arena[1];
    ck->arrays = 0;
    for (int k = 1; k <= 3 && !ck->arrays; k++) {
        size_t n = k * trained + per_arena[2];
        if ((rd.len - rd.pos) % sizeof(float) != 0) break;
        if (version < 2) {
            if (floats == n) ck->arrays = k;
            continue;
        }
        /* Version 2: the arrays, then u32 m and m floats of metrics. */
        uint32_t m;
        if (floats < n + 1) continue;
        memcpy(&m, rd.p + rd.pos + n * sizeof(float), 4);
        if (floats == n + 1 + (size_t)m) ck->arrays = k;
    }
    if (!ck->arrays)
        return bp_fail(err, BP_ERR_FORMAT,
                       "%s: %zu bytes of arrays do not match the tensor table (%zu + %zu floats)",
                       path, rd.len - rd.pos, trained, per_arena[2]);
    /* Every header field is a multiple of 4 bytes: the floats are aligned. */
    place_arrays(ck, (const float *)(ck->buf + rd.pos), per_arena);
    return BP_OK;
}

bp_status bp_checkpoint_file_read(const char *path, bp_checkpoint_file *ck, bp_error *err)
{
    memset(ck, 0, sizeof *ck);
    char *data;
    size_t size;
    /* bp_read_text reads any file whole (and adds a NUL we ignore). */
    bp_status rc = bp_read_text(path, &data, &size, err);
    if (rc) return rc;
    ck->buf = (unsigned char *)data;
    ck->len = size;
    if (size < 40) {
        bp_checkpoint_file_free(ck);
        return bp_fail(err, BP_ERR_FORMAT, "%s: truncated checkpoint (%zu bytes)", path, size);
    }
    uint32_t crc;
    memcpy(&crc, ck->buf + size - 4, 4);
    if ((uint32_t)crc32(0L, ck->buf, (uInt)(size - 4)) != crc) {
        bp_checkpoint_file_free(ck);
        return bp_fail(err, BP_ERR_FORMAT, "%s: checksum mismatch (file corrupt or truncated)",
                       path);
    }
    if ((rc = parse(ck, path, err))) bp_checkpoint_file_free(ck);
    return rc;
}

void bp_checkpoint_file_free(bp_checkpoint_file *ck)
{
    free(ck->buf);
    memset(ck, 0, sizeof *ck);
}

const bp_ck_tensor *bp_checkpoint_file_find(const bp_checkpoint_file *ck, const char *name)
{
    for (int i = 0; i < ck->ntensors; i++)
        if (!strcmp(ck->t[i].name, name)) return &ck->t[i];
    return NULL;
}

bp_status bp_checkpoint_file_upload(const bp_checkpoint_file *ck, bp_net *net, int r,
                                    bp_backend *be, const char *path, bp_error *err)
{
    const bp_arena *arenas[BP_CK_ARENAS] = {&net->fwd, &net->fb, &net->fixed};
    int expected = 0;
    for (int a = 0; a < BP_CK_ARENAS; a++) {
        const bp_arena *ar = arenas[a];
        expected += ar->ntensors;
        for (int i = 0; i < ar->ntensors; i++) {
            const bp_tensor *t = &ar->t[i];
            const bp_ck_tensor *c = bp_checkpoint_file_find(ck, t->name);
            if (!c || c->arena != a)
                return bp_fail(err, BP_ERR_FORMAT,
                               "%s: has no tensor %s: a checkpoint of a different model", path,
                               t->name);
            if (c->rows != t->rows || c->cols != t->cols)
                return bp_fail(err, BP_ERR_FORMAT,
                               "%s: tensor %s is %dx%d in the checkpoint, %dx%d here", path,
                               t->name, c->rows, c->cols, t->rows, t->cols);
            size_t n = (size_t)t->rows * t->cols;
            if (be->ops->upload(be, ar->p + t->off + (size_t)r * n, c->p, n * sizeof(float)))
                return bp_backend_fail(be, err, t->name);
        }
    }
    if (expected != ck->ntensors)
        return bp_fail(err, BP_ERR_FORMAT,
                       "%s: holds %d tensors, the model has %d: a checkpoint of a different model",
                       path, ck->ntensors, expected);
    return BP_OK;
}
