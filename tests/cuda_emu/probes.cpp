/* cuda_emu: the probe kernels of probes.h. */
#include "probes.h"

#include "cuda_runtime.h"

static __global__ void shuffle_kernel(int *out)
{
    int t = (int)threadIdx.x;
    int d = __shfl_down_sync(0xffffffffu, t, 3);
    int u = __shfl_up_sync(0xffffffffu, t, 5);
    int x = __shfl_xor_sync(0xffffffffu, t, 7);
    int i = __shfl_sync(0xffffffffu, t, 9);
    out[4 * t] = d;
    out[4 * t + 1] = u;
    out[4 * t + 2] = x;
    out[4 * t + 3] = i;
}

static __global__ void barrier_kernel(int *out)
{
    __shared__ int sh[128];
    int t = (int)threadIdx.x, n = (int)blockDim.x, b = (int)blockIdx.x;
    sh[t] = t * t + 1000 * b;
    __syncthreads();
    int nb = (t + 1) % n;
    out[b * n + t] = sh[nb];
    __syncthreads();
    sh[t] = -1;
}

static __global__ void noop_kernel(int *out)
{
    if (out && threadIdx.x == 0 && blockIdx.x == 0 && blockIdx.y == 0) out[0] = 7;
}

static __global__ void oob_kernel(float *p, int n) { p[n + (int)threadIdx.x] = 1.0f; }

static __global__ void divergent_kernel(int *out)
{
    if (threadIdx.x < 16) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

static __global__ void exited_lane_kernel(int *out)
{
    if (threadIdx.x == 3) return;
    out[threadIdx.x] = __shfl_sync(0xffffffffu, (int)threadIdx.x, 0);
}

extern "C" void probe_shuffles(cudaStream_t s, int *out)
{
    BP_LAUNCH(shuffle_kernel, 1, 64, 0, s)(out);
}

extern "C" void probe_barrier(cudaStream_t s, int *out)
{
    BP_LAUNCH(barrier_kernel, 2, 128, 0, s)(out);
}

extern "C" void probe_noop(cudaStream_t s, unsigned gx, unsigned gy, unsigned bx, size_t shmem,
                           int *out)
{
    BP_LAUNCH(noop_kernel, dim3(gx, gy), bx, shmem, s)(out);
}

extern "C" void probe_oob(cudaStream_t s, float *p, int n)
{
    BP_LAUNCH(oob_kernel, 1, 32, 0, s)(p, n);
}

extern "C" void probe_divergent_barrier(cudaStream_t s, int *out)
{
    BP_LAUNCH(divergent_kernel, 1, 64, 0, s)(out);
}

extern "C" void probe_shuffle_exited_lane(cudaStream_t s, int *out)
{
    BP_LAUNCH(exited_lane_kernel, 1, 32, 0, s)(out);
}
