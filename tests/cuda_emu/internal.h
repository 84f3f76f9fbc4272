/* cuda_emu: what the emulator's parts share (not for kernels or tests). */
#ifndef CUDA_EMU_INTERNAL_H
#define CUDA_EMU_INTERNAL_H

#include <functional>

#include "cuda_runtime.h"

#define BP_EMU_MAX_SHARED ((size_t)48 << 10) /* static + dynamic per block */

namespace cuda_emu {
typedef std::function<void()> work;

cudaError_t fail(cudaError_t e); /* records e as the last error */
void enqueue(cudaStream_t s, work w, const char *what);
bool capture_active();
bool stream_capturing(cudaStream_t s);
void invalidate_capture(cudaStream_t s);
bool launch_should_fail();
/* fatal unless [p, p + bytes) lies inside one device allocation */
void check_range(const void *p, size_t bytes, const char *what);
extern long long grids_run;
} // namespace cuda_emu

#endif
