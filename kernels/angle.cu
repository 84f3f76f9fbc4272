/* Alignment angles between two tensors per run (backend op `angle`).
 * Stage 1, grid (nblk, R): per_row: one warp per row sums x.y, x.x, y.y in
 * double (lane strides, then a fixed shuffle tree) and lane 0 adds the row's
 * angle and a count of 1 when both norms are > 0; whole tensor: each thread
 * strides over elements, then fixed-order block sums. The partials go to
 * scratch as [slot][run][block]. Stage 2: one thread per run sums its
 * partials in block order (deterministic) and, for whole tensors, takes the
 * angle of the summed dot products (kernels/angle.h). */
#include "kernels/angle.h"
#include "kernels/cuda_common.cuh"

#define WARPS (BP_CUDA_BLOCK / 32)

static __device__ __forceinline__ double warp_sum(double v)
{
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;
}

static __global__ void angle_rows_kernel(int rows, int cols, const float *X, const float *Y,
                                         int y_trans, double *partials)
{
    __shared__ double warp_angle[WARPS], warp_count[WARPS];
    int r = blockIdx.y, nblk = gridDim.x, R = gridDim.y;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    size_t per_run = (size_t)rows * cols;
    const float *x = X + r * per_run, *y = Y + r * per_run;
    double angle = 0.0, count = 0.0;
    for (int i = blockIdx.x * WARPS + warp; i < rows; i += nblk * WARPS) {
        double xy = 0.0, xx = 0.0, yy = 0.0;
        for (int j = lane; j < cols; j += 32) {
            double a = x[(size_t)i * cols + j], b = y[bp_angle_y_index(y_trans, rows, cols, i, j)];
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
        xy = warp_sum(xy);
        xx = warp_sum(xx);
        yy = warp_sum(yy);
        if (lane == 0 && bp_angle_valid(xx, yy)) {
            angle += bp_angle_deg(xy, xx, yy);
            count += 1.0;
        }
    }
    if (lane == 0) {
        warp_angle[warp] = angle;
        warp_count[warp] = count;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double a = 0.0, c = 0.0;
        for (int w = 0; w < WARPS; w++) {
            a += warp_angle[w];
            c += warp_count[w];
        }
        partials[((size_t)0 * R + r) * nblk + blockIdx.x] = a;
        partials[((size_t)1 * R + r) * nblk + blockIdx.x] = c;
    }
}

static __global__ void angle_whole_kernel(int rows, int cols, const float *X, const float *Y,
                                          int y_trans, double *partials)
{
    __shared__ double sh[BP_CUDA_BLOCK];
    int r = blockIdx.y, nblk = gridDim.x, R = gridDim.y;
    size_t per_run = (size_t)rows * cols;
    const float *x = X + r * per_run, *y = Y + r * per_run;
    double xy = 0.0, xx = 0.0, yy = 0.0;
    for (size_t e = (size_t)blockIdx.x * BP_CUDA_BLOCK + threadIdx.x; e < per_run;
         e += (size_t)nblk * BP_CUDA_BLOCK) {
        int i = (int)(e / cols), j = (int)(e % cols);
        double a = x[e], b = y[bp_angle_y_index(y_trans, rows, cols, i, j)];
        xy += a * b;
        xx += a * a;
        yy += b * b;
    }
    double sums[3] = {xy, xx, yy};
    for (int s = 0; s < 3; s++) {
        double total = bp_block_sum(sums[s], sh);
        if (threadIdx.x == 0) partials[((size_t)s * R + r) * nblk + blockIdx.x] = total;
        __syncthreads(); /* sh is reused by the next slot */
    }
}

static __global__ void angle_finish_kernel(const double *partials, int R, int nblk, int per_row,
                                           float *angle_out, float *count_out)
{
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= R) return;
    double s[3] = {0.0, 0.0, 0.0};
    for (int k = 0; k < (per_row ? 2 : 3); k++)
        for (int b = 0; b < nblk; b++) s[k] += partials[((size_t)k * R + r) * nblk + b];
    if (per_row) {
        angle_out[r] = (float)s[0];
        count_out[r] = (float)s[1];
    } else {
        int ok = bp_angle_valid(s[1], s[2]);
        angle_out[r] = ok ? (float)bp_angle_deg(s[0], s[1], s[2]) : 0.0f;
        count_out[r] = ok ? 1.0f : 0.0f;
    }
}

extern "C" cudaError_t bp_cuda_angle(cudaStream_t stream, int R, int rows, int cols,
                                     const float *X, const float *Y, int y_trans, int per_row,
                                     double *scratch, float *angle_out, float *count_out)
{
    if (R <= 0) return cudaSuccess;
    size_t items = per_row ? (size_t)(rows > 0 ? rows : 0)
                           : (size_t)(rows > 0 ? rows : 0) * (size_t)(cols > 0 ? cols : 0);
    int nblk = bp_cuda_partial_blocks(items, per_row ? WARPS : BP_CUDA_BLOCK);
    dim3 grid(nblk, R);
    if (per_row)
        BP_LAUNCH(angle_rows_kernel, grid, BP_CUDA_BLOCK, 0, stream)(rows, cols, X, Y, y_trans,
                                                                     scratch);
    else
        BP_LAUNCH(angle_whole_kernel, grid, BP_CUDA_BLOCK, 0, stream)(rows, cols, X, Y, y_trans,
                                                                      scratch);
    cudaError_t rc = cudaGetLastError();
    if (rc != cudaSuccess) return rc;
    BP_LAUNCH(angle_finish_kernel, (R + BP_CUDA_BLOCK - 1) / BP_CUDA_BLOCK, BP_CUDA_BLOCK, 0,
              stream)(scratch, R, nblk, per_row, angle_out, count_out);
    return cudaGetLastError();
}
