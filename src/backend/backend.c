/* Backend selection and the small helpers shared by every backend. */
#include <stdlib.h>

#include "biopp/backend.h"

bp_status bp_backend_create(const bp_config *cfg, bp_backend **out, bp_error *err)
{
    *out = NULL;
    if (cfg->device == BP_DEVICE_CUDA)
        return bp_backend_cuda_create(cfg->precision, out, err);
    return bp_backend_cpu_create(cfg->threads, out, err);
}

void bp_backend_destroy(bp_backend *be)
{
    if (be) be->ops->destroy(be);
}

bp_status bp_backend_fail(bp_backend *be, bp_error *err, const char *context)
{
    bp_status code = be->err.code ? be->err.code : BP_ERR_DEVICE;
    return bp_fail(err, code, "%s: %s backend: %s", context, be->ops->name, be->err.msg);
}
