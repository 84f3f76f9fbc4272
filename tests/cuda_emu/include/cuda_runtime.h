/* cuda_emu: the CUDA kernel model on the host, for the kernels in kernels/ compiled as
 * C++ in the emulated test build (see docs/CUDA.md "The emulated device").
 *
 * A kernel is an ordinary function; BP_LAUNCH(kernel, grid, block, shmem,
 * stream)(args...) is the emulated `kernel<<<grid, block, shmem, stream>>>`.
 * The arguments are converted to the kernel's parameter types and copied
 * (as the real launch does), every pointer argument must be NULL or device
 * memory, and the grid runs block by block when the stream reaches it.
 * A block's threads are cooperative fibers: each runs until it reaches a
 * barrier (__syncthreads, a warp shuffle, __syncwarp) or ends; a barrier
 * releases only when every thread it names has reached it. threadIdx and
 * friends are those of the thread now running. __shared__ variables are
 * function statics: one copy, used by one block at a time. */
#ifndef CUDA_EMU_RUNTIME_H
#define CUDA_EMU_RUNTIME_H

#include "cuda_runtime_api.h"

#ifdef __cplusplus
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

struct uint3 {
    unsigned x, y, z;
};

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict

namespace cuda_emu {

extern uint3 cur_thread, cur_block;
extern dim3 cur_block_dim, cur_grid_dim;

void syncthreads();
void syncwarp(unsigned mask);
/* mode 0: from lane arg; 1: lane + arg (down); 2: lane - arg (up); 3: lane ^ arg */
uint64_t shuffle(unsigned mask, uint64_t bits, int mode, int arg, int width);

[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool is_device_ptr(const void *p);

/* Queues one grid: check() validates the arguments (at launch and again
 * when the grid runs, e.g. on a graph replay), body() runs one thread. */
void launch(const char *name, dim3 grid, dim3 block, size_t shmem, cudaStream_t stream,
            std::function<void()> check, std::function<void()> body);

template <class T> void check_arg(const char *kernel, int i, const T &v)
{
    if constexpr (std::is_pointer_v<T>) {
        if (v && !is_device_ptr((const void *)v))
            fatal("kernel %s: pointer argument %d (%p) is not device memory (a host pointer, "
                  "or memory already freed)",
                  kernel, i, (const void *)v);
    }
}

template <class... P> struct launcher {
    const char *name;
    void (*kernel)(P...);
    dim3 grid, block;
    size_t shmem;
    cudaStream_t stream;

    template <class... A> void operator()(A &&...a) const
    {
        static_assert(sizeof...(A) == sizeof...(P), "kernel launched with a wrong argument count");
        auto args = std::make_shared<std::tuple<std::decay_t<P>...>>(std::forward<A>(a)...);
        const char *nm = name;
        auto k = kernel;
        launch(
            name, grid, block, shmem, stream,
            [args, nm] {
                std::apply(
                    [nm](const auto &...v) {
                        int i = 0;
                        (check_arg(nm, i++, v), ...);
                    },
                    *args);
            },
            [args, k] { std::apply(k, *args); });
    }
};

template <class... P>
launcher<P...> make_launcher(const char *name, void (*kernel)(P...), dim3 grid, dim3 block,
                             size_t shmem, cudaStream_t stream)
{
    return launcher<P...>{name, kernel, grid, block, shmem, stream};
}

template <class T> uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 64 bits");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof v);
    return b;
}

template <class T> T from_bits(uint64_t b)
{
    T v;
    std::memcpy(&v, &b, sizeof v);
    return v;
}

} // namespace cuda_emu

#define BP_LAUNCH(kernel, grid, block, shmem, stream)                                              \
    ::cuda_emu::make_launcher(#kernel, kernel, (grid), (block), (shmem), (stream))

#define threadIdx (::cuda_emu::cur_thread)
#define blockIdx (::cuda_emu::cur_block)
#define blockDim (::cuda_emu::cur_block_dim)
#define gridDim (::cuda_emu::cur_grid_dim)
static constexpr int warpSize = 32;

inline void __syncthreads() { ::cuda_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::cuda_emu::syncwarp(mask); }

template <class T> T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    return ::cuda_emu::from_bits<T>(
        ::cuda_emu::shuffle(mask, ::cuda_emu::to_bits(v), 0, src, width));
}
template <class T> T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32)
{
    return ::cuda_emu::from_bits<T>(
        ::cuda_emu::shuffle(mask, ::cuda_emu::to_bits(v), 1, (int)d, width));
}
template <class T> T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32)
{
    return ::cuda_emu::from_bits<T>(
        ::cuda_emu::shuffle(mask, ::cuda_emu::to_bits(v), 2, (int)d, width));
}
template <class T> T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32)
{
    return ::cuda_emu::from_bits<T>(::cuda_emu::shuffle(mask, ::cuda_emu::to_bits(v), 3, m, width));
}

/* Threads switch only at barriers, so a read-modify-write is atomic here. */
template <class T> T atomicAdd(T *p, T v)
{
    T old = *p;
    *p = old + v;
    return old;
}
template <class T> T __ldg(const T *p) { return *p; }

#endif /* __cplusplus */

#endif
