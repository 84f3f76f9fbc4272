/* Built instead of the CUDA backend when the build has no CUDA (CUDA=0). */
#include "biopp/backend.h"

bp_status bp_backend_cuda_create(bp_precision precision, bp_backend **out, bp_error *err)
{
    *out = NULL;
    return bp_fail(err, BP_ERR_UNSUPPORTED,
                   "device = cuda: this biopp was built without CUDA (CUDA=0); "
                   "rebuild with `make CUDA=1` on a machine with nvcc, or use device = cpu");
}
