/* cuda_emu: small kernels that probe the emulator's kernel model and its
 * checks (probes.cpp), launched from test_emu.c. */
#ifndef CUDA_EMU_PROBES_H
#define CUDA_EMU_PROBES_H

#include <stddef.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 64 threads (2 warps); out[4t..4t+3] = shfl_down(t, 3), shfl_up(t, 5),
 * shfl_xor(t, 7), shfl(t, 9) of thread t. */
void probe_shuffles(cudaStream_t s, int *out);
/* 2 blocks of 128: out[b*128 + t] = what thread t+1 (mod 128) of block b
 * wrote before a __syncthreads (t+1)^2 + 1000 b. */
void probe_barrier(cudaStream_t s, int *out);
/* A kernel that writes out[0] = 7 when out is not NULL, launched with the
 * given geometry and dynamic shared memory. */
void probe_noop(cudaStream_t s, unsigned gx, unsigned gy, unsigned bx, size_t shmem, int *out);
/* Thread t writes p[n + t]: out of bounds for an n-float allocation. */
void probe_oob(cudaStream_t s, float *p, int n);
/* Half the block returns before a __syncthreads. */
void probe_divergent_barrier(cudaStream_t s, int *out);
/* Lane 3 returns before a full-warp shuffle. */
void probe_shuffle_exited_lane(cudaStream_t s, int *out);

#ifdef __cplusplus
}
#endif

#endif
