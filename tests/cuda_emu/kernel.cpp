/* cuda_emu: running a grid. Blocks run one after another; a block's
 * threads are cooperative fibers (ucontext). A fiber runs threads in index
 * order until one reaches a barrier; that thread keeps the fiber and a new
 * fiber takes the next thread, so a kernel without barriers costs one
 * fiber per block. When every thread has ended or waits, the scheduler
 * releases the barriers whose participants have all arrived: a warp
 * operation (shuffle, __syncwarp) when every lane of its mask waits in one,
 * __syncthreads when every thread of the block waits there. Anything else
 * (a lane of the mask exited, or waits at another barrier) is the
 * divergence that deadlocks or is undefined on a GPU, and is fatal here. */
#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

namespace cuda_emu {

uint3 cur_thread, cur_block;
dim3 cur_block_dim, cur_grid_dim;

enum tstate { T_UNSTARTED, T_RUNNING, T_BLOCK_BAR, T_WARP_BAR, T_DONE };

/* Switching: on x86-64 a minimal switch of the callee-saved registers
 * (glibc's swapcontext also saves the signal mask, a system call each time,
 * which made the suite several times slower); ucontext elsewhere. */
#if defined(__x86_64__)
#define EMU_FAST_SWITCH 1
extern "C" void cuda_emu_switch(void **save_sp, void *new_sp);
asm(".text\n"
    ".globl cuda_emu_switch\n"
    ".type cuda_emu_switch,@function\n"
    "cuda_emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size cuda_emu_switch,.-cuda_emu_switch\n");
#else
#define EMU_FAST_SWITCH 0
#endif

struct fiber {
    ucontext_t ctx;
    void *sp;
    char *stack;
    size_t size;
    bool idle;
};

static const size_t stack_size = 256 << 10; /* ASan frames are large */

struct block_run {
    const char *kernel;
    const work *body;
    int n;    /* threads */
    int next; /* first unstarted thread */
    int cur;  /* thread running now */
    fiber *cur_fiber;
    std::vector<tstate> st;
    std::vector<fiber *> owner;
    std::vector<unsigned> mask; /* of the warp operation a thread waits in */
    std::vector<int> parity;    /* shuffle buffer a thread uses next */
    uint64_t xchg[2][1024];
};

static block_run B;
/* never freed: reachable from here, so not a leak */
static std::vector<fiber *> &pool = *new std::vector<fiber *>;
#if EMU_FAST_SWITCH
static void *sched_sp;
#else
static ucontext_t sched_ctx;
#endif
#if EMU_ASAN
static const void *main_bottom;
static size_t main_size;
#endif

static void set_thread(int t)
{
    B.cur = t;
    unsigned bx = cur_block_dim.x, by = cur_block_dim.y;
    cur_thread.x = (unsigned)t % bx;
    cur_thread.y = ((unsigned)t / bx) % by;
    cur_thread.z = (unsigned)t / (bx * by);
}

/* From the fiber back to the scheduler. */
static void to_scheduler(fiber *f)
{
#if EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, main_bottom, main_size);
#endif
#if EMU_FAST_SWITCH
    cuda_emu_switch(&f->sp, sched_sp);
#else
    swapcontext(&f->ctx, &sched_ctx);
#endif
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

/* From the scheduler into a fiber, until it blocks or idles. */
static void resume(fiber *f)
{
    B.cur_fiber = f;
#if EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f->stack, f->size);
#endif
#if EMU_FAST_SWITCH
    cuda_emu_switch(&sched_sp, f->sp);
#else
    swapcontext(&sched_ctx, &f->ctx);
#endif
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr); /* back on the main stack */
#endif
}

static void fiber_main()
{
#if EMU_ASAN
    /* first entry: the stack we came from is the scheduler's (main) stack */
    __sanitizer_finish_switch_fiber(nullptr, &main_bottom, &main_size);
#endif
    for (;;) {
        fiber *self = B.cur_fiber;
        while (B.next < B.n) {
            int t = B.next++;
            B.owner[t] = self;
            B.st[t] = T_RUNNING;
            set_thread(t);
            (*B.body)();
            B.st[t] = T_DONE;
        }
        self->idle = true;
        to_scheduler(self);
    }
}

static fiber *idle_fiber()
{
    for (fiber *f : pool)
        if (f->idle) return f;
    fiber *f = new fiber;
    f->size = stack_size;
    f->stack = (char *)malloc(f->size);
    if (!f->stack) fatal("out of host memory for a fiber stack");
#if EMU_FAST_SWITCH
    /* A frame for cuda_emu_switch to "return" from into fiber_main: the
     * saved control words, six zeroed registers, the entry address, and a
     * null return address for fiber_main (which never returns). */
    uintptr_t top = ((uintptr_t)f->stack + f->size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = 0;
    *--sp = (uint64_t)(uintptr_t)fiber_main;
    for (int i = 0; i < 6; i++) *--sp = 0;
    uint32_t mxcsr;
    uint16_t fpcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpcw));
    *--sp = (uint64_t)mxcsr | (uint64_t)fpcw << 32;
    f->sp = sp;
#else
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = f->size;
    f->ctx.uc_link = nullptr;
    makecontext(&f->ctx, fiber_main, 0);
#endif
    f->idle = true;
    pool.push_back(f);
    return f;
}

/* Called by the running thread: wait at a barrier until released. */
static void wait_at(tstate kind, unsigned mask)
{
    if (!B.body) fatal("a barrier or warp operation outside a kernel");
    int t = B.cur;
    fiber *f = B.cur_fiber;
    B.st[t] = kind;
    B.mask[t] = mask;
    to_scheduler(f);
    set_thread(t); /* the scheduler may have run other threads */
}

static const char *state_name(tstate s)
{
    switch (s) {
    case T_UNSTARTED: return "not started";
    case T_RUNNING: return "running";
    case T_BLOCK_BAR: return "waiting in __syncthreads";
    case T_WARP_BAR: return "waiting in a warp operation";
    case T_DONE: return "exited";
    }
    return "?";
}

/* Marks the barriers that may open as running; false when none may. */
static bool release()
{
    bool any = false;
    int warps = (B.n + 31) / 32;
    for (int w = 0; w < warps; w++) {
        int first = -1;
        for (int l = 0; l < 32 && w * 32 + l < B.n; l++)
            if (B.st[w * 32 + l] == T_WARP_BAR) {
                first = w * 32 + l;
                break;
            }
        if (first < 0) continue;
        unsigned mask = B.mask[first];
        for (int l = 0; l < 32; l++) {
            if (!(mask >> l & 1u)) continue;
            int t = w * 32 + l;
            if (t >= B.n)
                fatal("kernel %s, block (%u,%u,%u): a warp operation names lane %d (mask "
                      "0x%08x) of warp %d, which the block of %d threads does not have",
                      B.kernel, cur_block.x, cur_block.y, cur_block.z, l, mask, w, B.n);
            if (B.st[t] != T_WARP_BAR || B.mask[t] != mask)
                fatal("kernel %s, block (%u,%u,%u): thread %d waits in a warp operation with "
                      "mask 0x%08x while lane %d of its warp (thread %d) is %s%s",
                      B.kernel, cur_block.x, cur_block.y, cur_block.z, first, mask, l, t,
                      state_name(B.st[t]), B.st[t] == T_WARP_BAR ? " with another mask" : "");
        }
        for (int l = 0; l < 32; l++)
            if (mask >> l & 1u) B.st[w * 32 + l] = T_RUNNING;
        any = true;
    }
    if (any) return true;
    int waiting = 0, done = 0;
    for (int t = 0; t < B.n; t++) {
        if (B.st[t] == T_BLOCK_BAR) waiting++;
        if (B.st[t] == T_DONE) done++;
    }
    if (!waiting) return false;
    if (done)
        fatal("kernel %s, block (%u,%u,%u): __syncthreads reached by %d threads while %d "
              "threads of the block have exited",
              B.kernel, cur_block.x, cur_block.y, cur_block.z, waiting, done);
    for (int t = 0; t < B.n; t++) B.st[t] = T_RUNNING;
    return true;
}

static void run_block()
{
    B.next = 0;
    for (int t = 0; t < B.n; t++) {
        B.st[t] = T_UNSTARTED;
        B.parity[t] = 0;
    }
    while (B.next < B.n) {
        fiber *f = idle_fiber();
        f->idle = false;
        resume(f);
    }
    while (release()) {
        for (int t = 0; t < B.n; t++)
            if (B.st[t] == T_RUNNING) {
                set_thread(t);
                resume(B.owner[t]);
            }
    }
    for (int t = 0; t < B.n; t++)
        if (B.st[t] != T_DONE)
            fatal("kernel %s, block (%u,%u,%u): deadlock: thread %d is %s and no barrier can "
                  "open",
                  B.kernel, cur_block.x, cur_block.y, cur_block.z, t, state_name(B.st[t]));
}

static void run_grid(const char *name, dim3 grid, dim3 block, const work &body)
{
    B.kernel = name;
    B.body = &body;
    B.n = (int)(block.x * block.y * block.z);
    B.st.assign(B.n, T_UNSTARTED);
    B.owner.assign(B.n, nullptr);
    B.mask.assign(B.n, 0);
    B.parity.assign(B.n, 0);
    cur_grid_dim = grid;
    cur_block_dim = block;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                cur_block.x = x;
                cur_block.y = y;
                cur_block.z = z;
                run_block();
            }
    B.body = nullptr;
    grids_run++;
}

void syncthreads() { wait_at(T_BLOCK_BAR, 0); }

void syncwarp(unsigned mask) { wait_at(T_WARP_BAR, mask); }

/* Every lane writes its value, the warp meets, every lane reads its
 * source. Two buffers used alternately: a lane can only come back to a
 * buffer after the next meeting, by which time every lane has read it. */
uint64_t shuffle(unsigned mask, uint64_t bits, int mode, int arg, int width)
{
    if (width <= 0 || width > 32 || (width & (width - 1)))
        fatal("kernel %s: shuffle width %d is not a power of two <= 32", B.kernel, width);
    int t = B.cur;
    int lane = t % 32, base = t - lane;
    if (!(mask >> lane & 1u))
        fatal("kernel %s: thread %d calls a shuffle whose mask 0x%08x leaves out its own lane",
              B.kernel, t, mask);
    int p = B.parity[t];
    B.parity[t] ^= 1;
    B.xchg[p][t] = bits;
    wait_at(T_WARP_BAR, mask);
    int seg = lane / width * width, src = lane;
    switch (mode) {
    case 0: src = seg + ((arg % width) + width) % width; break;
    case 1: src = lane + arg < seg + width ? lane + arg : lane; break;
    case 2: src = lane - arg >= seg ? lane - arg : lane; break;
    case 3: src = (lane ^ arg) < seg + width ? lane ^ arg : lane; break;
    }
    return (mask >> src & 1u) ? B.xchg[p][base + src] : bits;
}

void launch(const char *name, dim3 grid, dim3 block, size_t shmem, cudaStream_t stream,
            std::function<void()> check, std::function<void()> body)
{
    if (launch_should_fail()) {
        invalidate_capture(stream);
        fail(cudaErrorLaunchOutOfResources);
        return;
    }
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
        fatal("kernel %s: block (%u,%u,%u) breaks the limits (1..1024 threads, z <= 64)", name,
              block.x, block.y, block.z);
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
        grid.z > 65535)
        fatal("kernel %s: grid (%u,%u,%u) breaks the limits (x 1..2^31-1, y and z 1..65535)", name,
              grid.x, grid.y, grid.z);
    if (shmem > 0)
        fatal("kernel %s: %zu bytes of dynamic shared memory: the emulator supports static "
              "__shared__ only (limit %zu bytes per block)",
              name, shmem, BP_EMU_MAX_SHARED);
    check();
    enqueue(
        stream,
        [name, grid, block, check, body] {
            check();
            run_grid(name, grid, block, body);
        },
        name);
}

} // namespace cuda_emu
