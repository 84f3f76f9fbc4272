/* cuda_emu: the emulated CUDA runtime (memory, streams, events, errors,
 * graphs). One device; work queued on a stream runs, in order, when the
 * host waits for it (stream/event/device synchronisation, a copy to the
 * host, cudaFree), as a real stream is allowed to. Misuse that a real
 * device may or may not report is fatal here (cuda_emu::fatal: a message
 * on stderr and abort(), which fails the test). See docs/CUDA.md. */
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <vector>

#include "cuda_emu.h"
#include "internal.h"

struct cuda_emu_stream {
    unsigned flags;
    std::deque<cuda_emu::work> q;
    cuda_emu_graph *capture; /* non-NULL while capturing */
    bool invalidated;
};

struct cuda_emu_graph {
    std::vector<cuda_emu::work> nodes;
};

struct cuda_emu_graph_exec {
    std::vector<cuda_emu::work> nodes;
};

struct cuda_emu_event {
    bool recorded;
};

namespace cuda_emu {

static std::map<uintptr_t, size_t> allocs; /* base -> bytes */
static size_t in_use;
static cudaError_t last_error = cudaSuccess;
static std::set<cudaStream_t> streams;
static int captures;       /* streams capturing now */
static int fail_malloc_at; /* countdown, 0 = off */
static int fail_launch_at;
long long grids_run;

static const size_t total_mem = (size_t)141 << 30; /* an H200 */

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cuda_emu: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    abort();
}

cudaError_t fail(cudaError_t e)
{
    if (e != cudaSuccess) last_error = e;
    return e;
}

bool capture_active() { return captures > 0; }

static const char *live(cudaStream_t s) { return s == nullptr ? "the default stream" : "a stream"; }

/* The allocation holding p, or allocs.end(). */
static std::map<uintptr_t, size_t>::iterator find(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    auto it = allocs.upper_bound(a);
    if (it == allocs.begin()) return allocs.end();
    --it;
    return a < it->first + it->second ? it : allocs.end();
}

bool is_device_ptr(const void *p) { return p && find(p) != allocs.end(); }

void check_range(const void *p, size_t bytes, const char *what)
{
    if (!bytes) return;
    auto it = find(p);
    if (it == allocs.end())
        fatal("%s: %p is not device memory (a host pointer, or memory already freed)", what, p);
    size_t off = (uintptr_t)p - it->first;
    if (bytes > it->second - off)
        fatal("%s: %zu bytes at offset %zu overrun the %zu-byte allocation at %p", what, bytes, off,
              it->second, (void *)it->first);
}

static void run_queue(cudaStream_t s)
{
    while (!s->q.empty()) {
        work w = std::move(s->q.front());
        s->q.pop_front();
        w();
    }
}

static void run_all()
{
    for (cudaStream_t s : streams) run_queue(s);
}

static void check_stream(cudaStream_t s, const char *what)
{
    if (s && !streams.count(s)) fatal("%s: %p is not a live stream", what, (void *)s);
}

void enqueue(cudaStream_t s, work w, const char *what)
{
    check_stream(s, what);
    if (!s) {
        if (capture_active())
            fatal("%s on the default stream while a stream is being captured (the legacy "
                  "stream synchronises with the capturing stream)",
                  what);
        run_all(); /* the legacy default stream waits for blocking streams; we drain all */
        w();
        return;
    }
    if (s->capture)
        s->capture->nodes.push_back(std::move(w));
    else
        s->q.push_back(std::move(w));
}

bool stream_capturing(cudaStream_t s) { return s && s->capture; }

void invalidate_capture(cudaStream_t s)
{
    if (s && s->capture) s->invalidated = true;
}

static void no_capture(const char *what)
{
    if (capture_active())
        fatal("%s while a stream is being captured (not allowed during a CUDA graph capture)",
              what);
}

} // namespace cuda_emu

using namespace cuda_emu;

extern "C" {

void cuda_emu_fail_malloc(int nth) { fail_malloc_at = nth; }
void cuda_emu_fail_launch(int nth) { fail_launch_at = nth; }
size_t cuda_emu_bytes_in_use(void) { return in_use; }
long long cuda_emu_grids_run(void) { return grids_run; }

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorUnknown: return "cudaErrorUnknown";
    }
    return "unrecognized error code";
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorStreamCaptureInvalidated:
        return "operation failed due to a previous error during capture";
    default: return cudaGetErrorName(e);
    }
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return last_error; }

/* CUDA_EMU_DEVICES=0 emulates a machine without a GPU. */
cudaError_t cudaGetDeviceCount(int *count)
{
    const char *d = getenv("CUDA_EMU_DEVICES");
    *count = d && !strcmp(d, "0") ? 0 : 1;
    return *count ? cudaSuccess : fail(cudaErrorNoDevice);
}

cudaError_t cudaGetDevice(int *device)
{
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    return device == 0 ? cudaSuccess : fail(cudaErrorInvalidValue);
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (device != 0) return fail(cudaErrorInvalidValue);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "cuda_emu (H200 limits)");
    prop->totalGlobalMem = total_mem;
    prop->sharedMemPerBlock = BP_EMU_MAX_SHARED;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 2147483647;
    prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
    prop->multiProcessorCount = 132;
    prop->major = 9;
    prop->minor = 0;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    struct cudaDeviceProp p;
    cudaError_t rc = cudaGetDeviceProperties(&p, device);
    if (rc) return rc;
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    default: return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    no_capture("cudaDeviceSynchronize");
    run_all();
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    /* the context's own ~0.5 GiB, as nvidia-smi shows it */
    size_t used = in_use + ((size_t)1 << 29);
    *free_bytes = total_mem - used;
    *total_bytes = total_mem;
    return cudaSuccess;
}

/* New memory is filled with 0xff bytes (float/double NaN, int -1), since
 * cudaMalloc promises nothing about its contents. */
cudaError_t cudaMalloc(void **p, size_t bytes)
{
    no_capture("cudaMalloc");
    *p = nullptr;
    if (fail_malloc_at > 0 && --fail_malloc_at == 0) return fail(cudaErrorMemoryAllocation);
    if (bytes == 0) return cudaSuccess;
    if (bytes > total_mem - in_use) return fail(cudaErrorMemoryAllocation);
    void *m = nullptr;
    /* the exact size, so that ASan's redzone starts right after it */
    if (posix_memalign(&m, 256, bytes)) return fail(cudaErrorMemoryAllocation);
    memset(m, 0xff, bytes);
    allocs[(uintptr_t)m] = bytes;
    in_use += bytes;
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    no_capture("cudaFree");
    if (!p) return cudaSuccess;
    auto it = allocs.find((uintptr_t)p);
    if (it == allocs.end())
        fatal("cudaFree(%p): not the start of a device allocation (a host pointer, an inner "
              "pointer, or freed twice)",
              p);
    run_all(); /* cudaFree waits for the device */
    in_use -= it->second;
    allocs.erase(it);
    free(p);
    return cudaSuccess;
}

static cudaError_t memcpy_async(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                                cudaStream_t s, bool sync)
{
    const char *what = "cudaMemcpyAsync";
    if (!bytes) return cudaSuccess;
    if (kind == cudaMemcpyDefault)
        kind = is_device_ptr(src)
                   ? (is_device_ptr(dst) ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost)
                   : (is_device_ptr(dst) ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost);
    switch (kind) {
    case cudaMemcpyHostToDevice: {
        no_capture("cudaMemcpyAsync from host memory");
        if (is_device_ptr(src))
            fatal("%s(host to device): the source %p is device memory", what, src);
        check_range(dst, bytes, "cudaMemcpyAsync(host to device) destination");
        /* From pageable memory the runtime stages the source before it
         * returns: the caller may reuse it at once. */
        auto staged = std::make_shared<std::vector<unsigned char>>(
            (const unsigned char *)src, (const unsigned char *)src + bytes);
        enqueue(
            s,
            [dst, staged] {
                check_range(dst, staged->size(), "cudaMemcpyAsync(host to device) destination");
                memcpy(dst, staged->data(), staged->size());
            },
            what);
        if (sync) cudaStreamSynchronize(s);
        return cudaSuccess;
    }
    case cudaMemcpyDeviceToHost:
        no_capture("cudaMemcpyAsync to host memory");
        if (is_device_ptr(dst))
            fatal("%s(device to host): the destination %p is device memory", what, dst);
        check_range(src, bytes, "cudaMemcpyAsync(device to host) source");
        /* To pageable memory the copy is synchronous for the host. */
        enqueue(
            s,
            [dst, src, bytes] {
                check_range(src, bytes, "cudaMemcpyAsync(device to host) source");
                memcpy(dst, src, bytes);
            },
            what);
        if (s) run_queue(s);
        return cudaSuccess;
    case cudaMemcpyDeviceToDevice:
        check_range(src, bytes, "cudaMemcpyAsync(device to device) source");
        check_range(dst, bytes, "cudaMemcpyAsync(device to device) destination");
        enqueue(
            s,
            [dst, src, bytes] {
                check_range(src, bytes, "cudaMemcpyAsync(device to device) source");
                check_range(dst, bytes, "cudaMemcpyAsync(device to device) destination");
                memmove(dst, src, bytes);
            },
            what);
        if (sync) cudaStreamSynchronize(s);
        return cudaSuccess;
    default: fatal("%s: memcpy kind %d between host pointers %p and %p", what, (int)kind, dst, src);
    }
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    return memcpy_async(dst, src, bytes, kind, stream, false);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind)
{
    no_capture("cudaMemcpy (synchronous)");
    return memcpy_async(dst, src, bytes, kind, nullptr, true);
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream)
{
    if (!bytes) return cudaSuccess;
    check_range(p, bytes, "cudaMemsetAsync");
    enqueue(
        stream,
        [p, value, bytes] {
            check_range(p, bytes, "cudaMemsetAsync");
            memset(p, value, bytes);
        },
        "cudaMemsetAsync");
    return cudaSuccess;
}

cudaError_t cudaMemset(void *p, int value, size_t bytes)
{
    no_capture("cudaMemset (synchronous)");
    return cudaMemsetAsync(p, value, bytes, nullptr);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags)
{
    no_capture("cudaStreamCreate");
    *s = new cuda_emu_stream{flags, {}, nullptr, false};
    streams.insert(*s);
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    check_stream(s, "cudaStreamDestroy");
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (s->capture) fatal("cudaStreamDestroy of a stream that is being captured");
    run_queue(s);
    streams.erase(s);
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    check_stream(s, "cudaStreamSynchronize");
    if (stream_capturing(s) || (!s && capture_active()))
        fatal("cudaStreamSynchronize on %s while it is being captured", live(s));
    if (s)
        run_queue(s);
    else
        run_all();
    return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t s)
{
    check_stream(s, "cudaStreamQuery");
    /* Work runs only when the host waits, so queued work is "not ready". */
    if (s && !s->q.empty()) return cudaErrorNotReady;
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags)
{
    *e = new cuda_emu_event{false};
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    delete e;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
    e->recorded = false;
    enqueue(
        s, [e] { e->recorded = true; }, "cudaEventRecord");
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
    no_capture("cudaEventSynchronize");
    run_all();
    return e->recorded ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}

/* No timing: the emulator says nothing about speed. */
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    if (!start->recorded || !end->recorded) return fail(cudaErrorNotReady);
    *ms = 0.0f;
    return cudaSuccess;
}

/* One in-order device: every stream's earlier work has run by the time a
 * waiting stream's later work runs only if we drain; do so when it runs. */
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags)
{
    enqueue(
        s, [] { run_all(); }, "cudaStreamWaitEvent");
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode)
{
    check_stream(s, "cudaStreamBeginCapture");
    if (!s) return fail(cudaErrorStreamCaptureUnsupported);
    if (s->capture) return fail(cudaErrorIllegalState);
    s->capture = new cuda_emu_graph;
    s->invalidated = false;
    captures++;
    return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus *status)
{
    check_stream(s, "cudaStreamIsCapturing");
    *status = !stream_capturing(s) ? cudaStreamCaptureStatusNone
              : s->invalidated     ? cudaStreamCaptureStatusInvalidated
                                   : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph)
{
    check_stream(s, "cudaStreamEndCapture");
    *graph = nullptr;
    if (!stream_capturing(s)) return fail(cudaErrorIllegalState);
    cuda_emu_graph *g = s->capture;
    s->capture = nullptr;
    captures--;
    if (s->invalidated) {
        delete g;
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags)
{
    no_capture("cudaGraphInstantiate");
    if (!graph) return fail(cudaErrorInvalidValue);
    *exec = new cuda_emu_graph_exec{graph->nodes};
    return cudaSuccess;
}

/* Replays the recorded work against memory as it is when it runs. */
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s)
{
    if (!exec) return fail(cudaErrorInvalidValue);
    for (const work &w : exec->nodes) enqueue(s, w, "cudaGraphLaunch");
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    delete exec;
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    delete graph;
    return cudaSuccess;
}

} /* extern "C" */

namespace cuda_emu {
/* A launch that the test asked to fail (cuda_emu_fail_launch). */
bool launch_should_fail() { return fail_launch_at > 0 && --fail_launch_at == 0; }
} // namespace cuda_emu
