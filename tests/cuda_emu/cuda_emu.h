/* cuda_emu: hooks for the emulator's own tests (tests/cuda_emu/test_*.c).
 * Not part of the CUDA API; exists only in the emulated test build. */
#ifndef CUDA_EMU_H
#define CUDA_EMU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The nth cudaMalloc from now (1 = the next) fails with
 * cudaErrorMemoryAllocation; 0 cancels. */
void cuda_emu_fail_malloc(int nth);
/* The nth kernel launch from now fails with cudaErrorLaunchOutOfResources
 * (the grid is not queued); 0 cancels. */
void cuda_emu_fail_launch(int nth);
/* Bytes of device memory allocated now. */
size_t cuda_emu_bytes_in_use(void);
/* Kernel grids and GEMMs run so far (queued work counts once it ran). */
long long cuda_emu_grids_run(void);

#ifdef __cplusplus
}
#endif

#endif
