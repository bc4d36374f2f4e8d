// Fused residual add + RMSNorm on the fp32 residual stream (CPU reference: src/cpu/rmsnorm.cpp).
//
//   x_out = x_in + delta                      (when delta is given: the previous block's out_proj output)
//   r     = 1 / sqrt(mean_i x_i^2 + eps),     out_i = w_i * x_i * r          (x = x_out, or x_in)
//
// Shapes: x_in, x_out [T, D] fp32; delta [T, D] of type T (nullptr: no add, x_in is normalised);
// w [D] fp32; out [T, D] of type T (the input of in_proj); rstd [T] fp32, cached for backward with x.
// Forward: one warp per token (8 warps a block); lanes stride the columns, the sum of squares is a warp
// shuffle reduction; the row is re-read from L1 for the output. Memory: reads T*D*(4 [+ sizeof(T)]),
// writes T*D*(sizeof(T) [+ 4]) bytes; FLOPs ~4 T*D.
//
// Backward, with g_i = w_i * dout_i:
//   dx_i  += r * g_i - r^3 / D * x_i * sum_j g_j x_j              (ACCUMULATED: dx is the residual grad)
//   dw_i  += sum_t dout_i * x_i * r                                (ACCUMULATED)
//   dx_T   = the updated dx in type T (optional): the gradient of the previous block's out_proj output,
//            which that block's GEMM reads (cuBLAS wants both GEMM operands in one type).
// Thread mapping: one block of 256 threads per 32 consecutive tokens (RMS_ROWS); each thread owns the
// columns c = tid + 256 k and keeps their dw partial sums in shared memory (D floats); the row's dot
// product is a block reduction. Each block writes its dw partial [D] to scratch; a second kernel sums
// the ceil(T/32) partials of each column in block order and adds them to dw: deterministic, no atomics.
// Memory: reads T*D*(4 + sizeof(T) + 4), writes T*D*(4 [+ sizeof(T)]) bytes plus the partials.
#include <cub/cub.cuh>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int RMS_FWD_WARPS = 8;
constexpr int RMS_BWD_THREADS = 256;
constexpr int RMS_ROWS = 32;  // tokens per backward block

// out [T, D], rstd [T], x_out [T, D] (if delta) = rmsnorm(x_in (+ delta)) * w.
template <class T>
__global__ void rmsnorm_forward_kernel(T* out, float* rstd, float* x_out, const float* x_in, const T* delta,
                                       const float* w, int Tn, int D, float eps) {
    const int t = blockIdx.x * RMS_FWD_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (t >= Tn) return;  // whole warps leave: the shuffles below only involve live, full warps
    const float* xi = x_in + (size_t)t * D;  // [D]
    const float* xr = xi;                    // the row that is normalised
    float ss = 0.0f;
    if (delta) {
        const T* dr = delta + (size_t)t * D;  // [D]
        float* xo = x_out + (size_t)t * D;    // [D]
        for (int c = lane; c < D; c += 32) {
            float v = xi[c] + to_float(dr[c]);
            xo[c] = v;
            ss += v * v;
        }
        xr = xo;
        __syncwarp();  // xo written by this warp's lanes is re-read below by other lanes
    } else {
        for (int c = lane; c < D; c += 32) ss += xi[c] * xi[c];
    }
    for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
    const float r = 1.0f / sqrtf(ss / (float)D + eps);
    if (lane == 0) rstd[t] = r;
    T* o = out + (size_t)t * D;  // [D]
    for (int c = lane; c < D; c += 32) o[c] = from_float<T>(w[c] * (xr[c] * r));
}

// dx [T, D] += ..., dx_T [T, D] = dx (optional), partial [ceil(T/32), D] = this block's dw sums.
template <class T>
__global__ void rmsnorm_backward_kernel(float* dx, T* dx_T, float* partial, const T* dout, const float* x,
                                        const float* rstd, const float* w, int Tn, int D) {
    using BlockReduce = cub::BlockReduce<float, RMS_BWD_THREADS>;
    __shared__ typename BlockReduce::TempStorage temp;
    __shared__ float dot_shared;
    SIM_DYNAMIC_SMEM(float, dw_acc);  // [D]: this block's dw partial, column c owned by thread c % 256
    const int tid = threadIdx.x;
    for (int c = tid; c < D; c += RMS_BWD_THREADS) dw_acc[c] = 0.0f;
    const int t0 = blockIdx.x * RMS_ROWS, t1 = min(t0 + RMS_ROWS, Tn);
    for (int t = t0; t < t1; t++) {
        const float* xt = x + (size_t)t * D;  // [D]
        const T* gt = dout + (size_t)t * D;   // [D]
        const float r = rstd[t];
        float dot = 0.0f;
        for (int c = tid; c < D; c += RMS_BWD_THREADS) {
            const float g = to_float(gt[c]);
            dot += w[c] * g * xt[c];
            dw_acc[c] += g * xt[c] * r;
        }
        dot = BlockReduce(temp).Sum(dot);
        if (tid == 0) dot_shared = dot;
        __syncthreads();
        const float k = r * r * r * dot_shared / (float)D;
        float* dxt = dx + (size_t)t * D;  // [D]
        for (int c = tid; c < D; c += RMS_BWD_THREADS) {
            const float v = dxt[c] + (r * w[c] * to_float(gt[c]) - k * xt[c]);
            dxt[c] = v;
            if (dx_T) dx_T[(size_t)t * D + c] = from_float<T>(v);
        }
        __syncthreads();  // temp and dot_shared are reused by the next token
    }
    for (int c = tid; c < D; c += RMS_BWD_THREADS) partial[(size_t)blockIdx.x * D + c] = dw_acc[c];
}

// dw [n] += sum over the P partials [P, n] of each column, in partial order.
__global__ void sum_partials_kernel(float* dw, const float* partial, int P, int n) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n) return;
    float s = 0.0f;
    for (int p = 0; p < P; p++) s += partial[(size_t)p * n + c];
    dw[c] += s;
}

}  // namespace

void sum_partials(float* dst, const float* partial, int P, int n, cudaStream_t stream) {
    if (n == 0) return;
    launch(sum_partials_kernel, dim3(ceil_div(n, 256)), dim3(256), 0, stream, dst, partial, P, n);
    CUDA_CHECK_LAUNCH();
}

size_t rmsnorm_backward_scratch(int Tn, int D) { return (size_t)ceil_div(Tn, RMS_ROWS) * D; }

template <class T>
void rmsnorm_forward(T* out, float* rstd, float* x_out, const float* x_in, const T* delta, const float* w, int Tn,
                     int D, float eps, cudaStream_t stream) {
    if (Tn == 0) return;
    launch(rmsnorm_forward_kernel<T>, dim3(ceil_div(Tn, RMS_FWD_WARPS)), dim3(32 * RMS_FWD_WARPS), 0, stream, out,
           rstd, x_out, x_in, delta, w, Tn, D, eps);
    CUDA_CHECK_LAUNCH();
}

template <class T>
void rmsnorm_backward(float* dx, T* dx_T, float* dw, float* scratch, const T* dout, const float* x,
                      const float* rstd, const float* w, int Tn, int D, cudaStream_t stream) {
    if (Tn == 0) return;
    const int P = (int)ceil_div(Tn, RMS_ROWS);
    const size_t smem = (size_t)D * sizeof(float);
    if (smem > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(rmsnorm_backward_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        (int)smem));
    launch(rmsnorm_backward_kernel<T>, dim3(P), dim3(RMS_BWD_THREADS), smem, stream, dx, dx_T, scratch, dout, x,
           rstd, w, Tn, D);
    CUDA_CHECK_LAUNCH();
    sum_partials(dw, scratch, P, D, stream);
}

#define INSTANTIATE(T)                                                                                         \
    template void rmsnorm_forward<T>(T*, float*, float*, const float*, const T*, const float*, int, int, float, \
                                     cudaStream_t);                                                            \
    template void rmsnorm_backward<T>(float*, T*, float*, float*, const T*, const float*, const float*,         \
                                      const float*, int, int, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(__nv_bfloat16)

}  // namespace gpu
