/* The emulated device's own checks (tests/cuda_emu, docs/CUDA.md): that its
 * kernel model has real barrier and shuffle semantics, that its cuBLAS
 * follows the column-major definition, that misuse is fatal (these tests
 * expect SIGABRT: cuda_emu::fatal, or ASan with abort_on_error=1, as
 * `make test-gpu-emu` sets), and the backend fixes that need a fault the
 * emulator can inject. Linked only into build/emu/test_gpu_emu. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "biopp/backend.h"
#include "tests/cuda_emu/cuda_emu.h"
#include "tests/cuda_emu/probes.h"

static cudaStream_t new_stream(void)
{
    cudaStream_t s;
    cr_assert_eq(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    return s;
}

static void *dev(size_t bytes)
{
    void *p = NULL;
    cr_assert_eq(cudaMalloc(&p, bytes), cudaSuccess);
    return p;
}

static void get(cudaStream_t s, void *host, const void *d, size_t bytes)
{
    cr_assert_eq(cudaMemcpyAsync(host, d, bytes, cudaMemcpyDeviceToHost, s), cudaSuccess);
    cr_assert_eq(cudaStreamSynchronize(s), cudaSuccess);
}

/* ---- the kernel model ------------------------------------------------------- */

Test(emu_model, warp_shuffles)
{
    cudaStream_t s = new_stream();
    int *d = dev(64 * 4 * sizeof(int)), h[256];
    probe_shuffles(s, d);
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    get(s, h, d, sizeof h);
    for (int t = 0; t < 64; t++) {
        int lane = t % 32, base = t - lane;
        cr_assert_eq(h[4 * t], lane + 3 < 32 ? t + 3 : t, "shfl_down at %d", t);
        cr_assert_eq(h[4 * t + 1], lane >= 5 ? t - 5 : t, "shfl_up at %d", t);
        cr_assert_eq(h[4 * t + 2], base + (lane ^ 7), "shfl_xor at %d", t);
        cr_assert_eq(h[4 * t + 3], base + 9, "shfl at %d", t);
    }
    cudaFree(d);
    cudaStreamDestroy(s);
}

Test(emu_model, syncthreads_is_a_barrier)
{
    /* Without a real barrier thread t would read sh[t+1] before thread t+1
     * wrote it (the previous block's value, or garbage). */
    cudaStream_t s = new_stream();
    int *d = dev(256 * sizeof(int)), h[256];
    probe_barrier(s, d);
    get(s, h, d, sizeof h);
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 128; t++) {
            int nb = (t + 1) % 128;
            cr_assert_eq(h[b * 128 + t], nb * nb + 1000 * b, "block %d thread %d", b, t);
        }
    cudaFree(d);
    cudaStreamDestroy(s);
}

Test(emu_model, streams_run_when_waited_for)
{
    cudaStream_t s = new_stream();
    unsigned char *d = dev(100), h[100];
    cr_assert_eq(cudaMemsetAsync(d, 3, 100, s), cudaSuccess);
    cr_assert_eq(cudaStreamQuery(s), cudaErrorNotReady, "queued work ran before a wait");
    get(s, h, d, 100);
    for (int i = 0; i < 100; i++) cr_assert_eq(h[i], 3);
    cudaFree(d);
    cudaStreamDestroy(s);
}

Test(emu_model, new_memory_is_garbage)
{
    cudaStream_t s = new_stream();
    float *d = dev(8 * sizeof(float)), h[8];
    get(s, h, d, sizeof h);
    for (int i = 0; i < 8; i++)
        cr_assert(h[i] != h[i], "fresh cudaMalloc memory is not NaN at %d", i);
    cudaFree(d);
    cudaStreamDestroy(s);
}

Test(emu_model, graph_replay_reads_memory_at_replay)
{
    cudaStream_t s = new_stream();
    int *src = dev(16), *dst = dev(16), a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, h[4];
    cr_assert_eq(cudaMemcpyAsync(src, a, 16, cudaMemcpyHostToDevice, s), cudaSuccess);
    cr_assert_eq(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    cr_assert_eq(cudaMemcpyAsync(dst, src, 16, cudaMemcpyDeviceToDevice, s), cudaSuccess);
    cudaGraph_t g;
    cudaGraphExec_t x;
    cr_assert_eq(cudaStreamEndCapture(s, &g), cudaSuccess);
    cr_assert_eq(cudaGraphInstantiate(&x, g, 0), cudaSuccess);
    cr_assert_eq(cudaMemcpyAsync(src, b, 16, cudaMemcpyHostToDevice, s), cudaSuccess);
    cr_assert_eq(cudaGraphLaunch(x, s), cudaSuccess);
    get(s, h, dst, 16);
    cr_assert_eq(memcmp(h, b, 16), 0, "the replay copied the values of capture time");
    cudaGraphExecDestroy(x);
    cudaGraphDestroy(g);
    cudaFree(src);
    cudaFree(dst);
    cudaStreamDestroy(s);
}

Test(emu_model, last_error_is_read_once)
{
    void *p;
    cr_assert_eq(cudaMalloc(&p, (size_t)1 << 60), cudaErrorMemoryAllocation);
    cr_assert_eq(cudaPeekAtLastError(), cudaErrorMemoryAllocation);
    cr_assert_eq(cudaGetLastError(), cudaErrorMemoryAllocation);
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
}

/* ---- cuBLAS ------------------------------------------------------------------- */

Test(emu_blas, column_major_definition)
{
    /* A is 2 x 3 column-major (ld 2): [[1 3 5] [2 4 6]]; B is 3 x 2 (ld 3):
     * [[1 4] [2 5] [3 6]]. A B = [[22 49] [28 64]]; with A^T (3 x 2 read as
     * OP_T of the same memory, ld 2) times a 2 x 2 identity... kept simple:
     * C = 2 A B + 1 C0 with C0 = 1. */
    cudaStream_t s = new_stream();
    cublasHandle_t h;
    cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasSetStream(h, s), CUBLAS_STATUS_SUCCESS);
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 2, 3, 4, 5, 6}, C[4] = {1, 1, 1, 1}, out[4];
    float *dA = dev(24), *dB = dev(24), *dC = dev(16);
    cudaMemcpyAsync(dA, A, 24, cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(dB, B, 24, cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(dC, C, 16, cudaMemcpyHostToDevice, s);
    float alpha = 2, beta = 1;
    cr_assert_eq(
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &alpha, dA, 2, dB, 3, &beta, dC, 2),
        CUBLAS_STATUS_SUCCESS);
    get(s, out, dC, 16);
    float want[4] = {45, 57, 99, 129}; /* column-major [[22 49] [28 64]] * 2 + 1 */
    cr_assert_eq(memcmp(out, want, 16), 0, "got %g %g %g %g", out[0], out[1], out[2], out[3]);
    /* OP_T of B's memory read as 2 x 3 (ld 2): B^T is 3 x 2 [[1 2] [3 4] [5 6]];
     * A (2 x 3) B^T: [[1*1+3*3+5*5, 1*2+3*4+5*6] [2*1+4*3+6*5, 2*2+4*4+6*6]] */
    beta = 0;
    cudaMemsetAsync(dC, 0xff, 16, s); /* NaN: beta = 0 must not read C */
    cr_assert_eq(
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, 2, 2, 3, &alpha, dA, 2, dB, 2, &beta, dC, 2),
        CUBLAS_STATUS_SUCCESS);
    get(s, out, dC, 16);
    float want2[4] = {70, 88, 88, 112};
    cr_assert_eq(memcmp(out, want2, 16), 0, "got %g %g %g %g", out[0], out[1], out[2], out[3]);
    /* leading dimensions below the rows are rejected */
    cr_assert_eq(
        cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &alpha, dA, 1, dB, 3, &beta, dC, 2),
        CUBLAS_STATUS_INVALID_VALUE);
    cr_assert_eq(
        cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 2, 2, 3, &alpha, dA, 2, dB, 3, &beta, dC, 2),
        CUBLAS_STATUS_INVALID_VALUE);
    cublasDestroy(h);
    cudaFree(dA), cudaFree(dB), cudaFree(dC);
    cudaStreamDestroy(s);
}

Test(emu_blas, tf32_rounds_inputs)
{
    cudaStream_t s = new_stream();
    cublasHandle_t h;
    cublasCreate(&h);
    cublasSetStream(h, s);
    float a = 1.0f + 1.0f / 4096, one = 1.0f, zero = 0.0f, out;
    float *dA = dev(4), *dB = dev(4), *dC = dev(4);
    cudaMemcpyAsync(dA, &a, 4, cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(dB, &one, 4, cudaMemcpyHostToDevice, s);
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, dA, 1, dB, 1, &zero, dC, 1);
    get(s, &out, dC, 4);
    cr_assert_eq(out, a);
    cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH);
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, dA, 1, dB, 1, &zero, dC, 1);
    get(s, &out, dC, 4);
    cr_assert_eq(out, 1.0f, "TF32 keeps 10 mantissa bits: 1 + 2^-12 rounds to 1, got %.9g", out);
    cublasDestroy(h);
    cudaFree(dA), cudaFree(dB), cudaFree(dC);
    cudaStreamDestroy(s);
}

Test(emu_blas, operand_past_its_allocation, .signal = SIGABRT)
{
    cudaStream_t s = new_stream();
    cublasHandle_t h;
    cublasCreate(&h);
    cublasSetStream(h, s);
    float one = 1, *dA = dev(5 * 4), *dB = dev(6 * 4), *dC = dev(4 * 4);
    /* A is 2 x 3 with ld 2: 6 floats, but only 5 allocated */
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, dA, 2, dB, 3, &one, dC, 2);
}

Test(emu_blas, batches_past_the_allocation, .signal = SIGABRT)
{
    cudaStream_t s = new_stream();
    cublasHandle_t h;
    cublasCreate(&h);
    cublasSetStream(h, s);
    float one = 1, *dA = dev(4 * 4), *dB = dev(4 * 4), *dC = dev(4 * 4 * 2);
    /* 3 batches of 2 x 2, stride 4, but room for 1 (A, B) */
    cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, dA, 2, 4, dB, 2, 4, &one,
                              dC, 2, 4, 3);
}

/* ---- misuse is fatal -------------------------------------------------------- */

Test(emu_checks, block_over_1024_threads, .signal = SIGABRT)
{
    probe_noop(new_stream(), 1, 1, 2048, 0, NULL);
}

Test(emu_checks, grid_y_over_65535, .signal = SIGABRT)
{
    probe_noop(new_stream(), 1, 70000, 32, 0, NULL);
}

Test(emu_checks, dynamic_shared_memory, .signal = SIGABRT)
{
    probe_noop(new_stream(), 1, 1, 32, (size_t)64 << 10, NULL);
}

Test(emu_checks, host_pointer_argument, .signal = SIGABRT)
{
    int host[1];
    probe_noop(new_stream(), 1, 1, 32, 0, host);
}

Test(emu_checks, freed_pointer_in_a_replay, .signal = SIGABRT)
{
    cudaStream_t s = new_stream();
    int *d = dev(4);
    cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    probe_noop(s, 1, 1, 32, 0, d);
    cudaGraph_t g;
    cudaGraphExec_t x;
    cudaStreamEndCapture(s, &g);
    cudaGraphInstantiate(&x, g, 0);
    cudaFree(d);
    cudaGraphLaunch(x, s);
    cudaStreamSynchronize(s);
}

Test(emu_checks, out_of_bounds_write, .signal = SIGABRT)
{
    cudaStream_t s = new_stream();
    float *d = dev(10 * sizeof(float));
    probe_oob(s, d, 10);
    cudaStreamSynchronize(s);
}

Test(emu_checks, syncthreads_after_an_exit, .signal = SIGABRT)
{
    cudaStream_t s = new_stream();
    probe_divergent_barrier(s, dev(64 * sizeof(int)));
    cudaStreamSynchronize(s);
}

Test(emu_checks, shuffle_with_an_exited_lane, .signal = SIGABRT)
{
    cudaStream_t s = new_stream();
    probe_shuffle_exited_lane(s, dev(32 * sizeof(int)));
    cudaStreamSynchronize(s);
}

static cudaStream_t capturing(void)
{
    cudaStream_t s = new_stream();
    cr_assert_eq(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    return s;
}

Test(emu_checks, sync_during_capture, .signal = SIGABRT) { cudaStreamSynchronize(capturing()); }

Test(emu_checks, malloc_during_capture, .signal = SIGABRT)
{
    capturing();
    void *p;
    cudaMalloc(&p, 16);
}

Test(emu_checks, host_copy_during_capture, .signal = SIGABRT)
{
    int *d = dev(4), x = 1;
    cudaMemcpyAsync(d, &x, 4, cudaMemcpyHostToDevice, capturing());
}

Test(emu_checks, default_stream_during_capture, .signal = SIGABRT)
{
    capturing();
    probe_noop(NULL, 1, 1, 32, 0, NULL);
}

/* ---- backend behaviour that needs an injected fault -------------------------- */

static bp_backend *cuda_backend(void)
{
    bp_backend *be = NULL;
    bp_error err = {0};
    cr_assert_eq(bp_backend_cuda_create(BP_PREC_FP32, &be, &err), BP_OK, "%s", err.msg);
    return be;
}

/* A failed cudaMalloc sets the runtime's last error; left there, the next
 * kernel launch's cudaGetLastError check reports it as that kernel's. */
Test(emu_backend, failed_workspace_allocation_leaves_no_error)
{
    bp_backend *be = NULL;
    bp_error err = {0};
    cuda_emu_fail_malloc(1); /* the first cudaMalloc of create: the cuBLAS workspace */
    cr_assert_eq(bp_backend_cuda_create(BP_PREC_FP32, &be, &err), BP_ERR_NOMEM, "%s", err.msg);
    cr_assert(strstr(err.msg, "cuBLAS workspace"), "message: %s", err.msg);
    be = cuda_backend();
    float *x = be->ops->alloc(be, 64 * sizeof(float));
    cr_assert_eq(be->ops->bias_act(be, 1, 4, 16, BP_ACT_TANH, x, x, x), BP_OK, "%s", be->err.msg);
    be->ops->release(be, x);
    bp_backend_destroy(be);
}

/* A kernel launch that fails while an epoch is recorded: the op reports
 * it, graph_end returns that error without replaying anything, the next
 * epoch does not replay a partial recording, and work runs directly. */
Test(emu_backend, launch_failure_while_recording)
{
    bp_backend *be = cuda_backend();
    float *x = be->ops->alloc(be, 64 * sizeof(float));
    int replay;
    cr_assert_eq(be->ops->graph_begin(be, &replay), BP_OK); /* warm-up */
    cr_assert_eq(be->ops->bias_act(be, 1, 4, 16, BP_ACT_TANH, x, x, x), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->graph_end(be), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->sync(be), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->graph_begin(be, &replay), BP_OK); /* records */
    cr_assert_eq(be->ops->bias_act(be, 1, 4, 16, BP_ACT_TANH, x, x, x), BP_OK, "%s", be->err.msg);
    cuda_emu_fail_launch(1);
    cr_assert_eq(be->ops->act_grad_mul(be, 1, 4, 16, BP_ACT_TANH, x, x), BP_ERR_DEVICE);
    cr_assert(strstr(be->err.msg, "act_grad_mul"), "message: %s", be->err.msg);
    long long before = cuda_emu_grids_run();
    cr_assert_eq(be->ops->graph_end(be), BP_ERR_DEVICE, "graph_end: %s", be->err.msg);
    cr_assert(strstr(be->err.msg, "act_grad_mul"), "message overwritten: %s", be->err.msg);
    cr_assert_eq(be->ops->sync(be), BP_OK, "%s", be->err.msg);
    cr_assert_eq(cuda_emu_grids_run(), before, "a partial recording was replayed");
    cr_assert_eq(be->ops->graph_begin(be, &replay), BP_OK);
    cr_assert_eq(replay, 0, "the partial recording would be replayed");
    cr_assert_eq(be->ops->bias_act(be, 1, 4, 16, BP_ACT_TANH, x, x, x), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->graph_end(be), BP_OK, "%s", be->err.msg);
    cr_assert_eq(be->ops->sync(be), BP_OK, "%s", be->err.msg);
    be->ops->release(be, x);
    bp_backend_destroy(be);
}

Test(emu_backend, no_device)
{
    setenv("CUDA_EMU_DEVICES", "0", 1);
    bp_backend *be = NULL;
    bp_error err = {0};
    cr_assert_eq(bp_backend_cuda_create(BP_PREC_FP32, &be, &err), BP_ERR_DEVICE);
    cr_assert(strstr(err.msg, "no CUDA device found"), "message: %s", err.msg);
    unsetenv("CUDA_EMU_DEVICES");
}
