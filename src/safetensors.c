/* See include/biopp/safetensors.h. The file is built in memory and written
 * with bp_write_file_atomic: a crash never leaves a torn export. */
#include "biopp/safetensors.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "biopp/fsutil.h"

static size_t tensor_floats(const bp_st_tensor *t)
{
    return t->ndim == 1 ? (size_t)t->shape[0] : (size_t)t->shape[0] * t->shape[1];
}

static bp_status check_tensors(const bp_st_tensor *t, int n, const char *path, bp_error *err)
{
    for (int i = 0; i < n; i++) {
        if (t[i].ndim < 1 || t[i].ndim > 2 || t[i].shape[0] < 0 ||
            (t[i].ndim == 2 && t[i].shape[1] < 0))
            return bp_fail(err, BP_ERR_ARG, "%s: tensor %s: bad shape", path, t[i].name);
        if (!strcmp(t[i].name, "__metadata__"))
            return bp_fail(err, BP_ERR_ARG, "%s: a tensor cannot be named __metadata__", path);
        for (int j = 0; j < i; j++)
            if (!strcmp(t[i].name, t[j].name))
                return bp_fail(err, BP_ERR_ARG, "%s: tensor name %s twice", path, t[i].name);
    }
    return BP_OK;
}

/* The JSON header (NULL when out of memory). */
static char *header_json(const bp_st_tensor *t, int n, const char *const (*meta)[2], int nmeta)
{
    cJSON *o = cJSON_CreateObject();
    size_t off = 0;
    int ok = o != NULL;
    for (int i = 0; i < n && ok; i++) {
        cJSON *e = cJSON_AddObjectToObject(o, t[i].name);
        size_t bytes = tensor_floats(&t[i]) * sizeof(float);
        double shape[2] = {t[i].shape[0], t[i].shape[1]};
        double offsets[2] = {(double)off, (double)(off + bytes)};
        ok = e && cJSON_AddStringToObject(e, "dtype", "F32") &&
             cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(shape, t[i].ndim)) &&
             cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offsets, 2));
        off += bytes;
    }
    if (ok && nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(o, "__metadata__");
        for (int i = 0; i < nmeta && ok; i++)
            ok = m && cJSON_AddStringToObject(m, meta[i][0], meta[i][1]);
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

static void put_u64_le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Little-endian float32 bytes, whatever the host's byte order. */
static void put_floats_le(unsigned char *p, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int b = 0; b < 4; b++) p[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
}

bp_status bp_safetensors_write(const char *path, const bp_st_tensor *t, int n,
                               const char *const (*meta)[2], int nmeta, bp_error *err)
{
    bp_status rc = check_tensors(t, n, path, err);
    if (rc) return rc;
    char *json = header_json(t, n, meta, nmeta);
    if (!json) return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory for the header", path);
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8, data = 0;
    for (int i = 0; i < n; i++) data += tensor_floats(&t[i]) * sizeof(float);
    size_t total = 8 + padded + data;
    unsigned char *buf = malloc(total);
    if (!buf) {
        free(json);
        return bp_fail(err, BP_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, total);
    }
    /* The padding keeps the tensors 8-byte aligned; the format allows
     * trailing spaces in the header for this. */
    put_u64_le(buf, padded);
    memcpy(buf + 8, json, hlen);
    memset(buf + 8 + hlen, ' ', padded - hlen);
    free(json);
    unsigned char *p = buf + 8 + padded;
    for (int i = 0; i < n; i++) {
        size_t k = tensor_floats(&t[i]);
        put_floats_le(p, t[i].data, k);
        p += k * sizeof(float);
    }
    rc = bp_write_file_atomic(path, buf, total, err);
    free(buf);
    return rc;
}
