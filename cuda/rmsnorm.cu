// Fused residual add + RMSNorm on the fp32 residual stream (CPU reference: src/cpu/rmsnorm.cpp).
//
//   x_out = x_in + delta                      (when delta is given: the previous block's out_proj output)
//   r     = 1 / sqrt(mean_i x_i^2 + eps),     out_i = w_i * x_i * r          (x = x_out, or x_in)
//
// Shapes: x_in, x_out [T, D] fp32; delta [T, D] of type T (nullptr: no add, x_in is normalised);
// w [D] fp32; out [T, D] of type T (the input of in_proj); rstd [T] fp32, cached for backward with x.
// No argument may alias another (the kernels are compiled with __restrict__).
//
// Backward, with g_i = w_i * dout_i:
//   dx_i  += r * g_i - r^3 / D * x_i * sum_j g_j x_j              (ACCUMULATED: dx is the residual grad)
//   dw_i  += sum_t dout_i * x_i * r                                (ACCUMULATED)
//   dx_T   = the updated dx in type T (optional): the gradient of the previous block's out_proj output,
//            which that block's GEMM reads (cuBLAS wants both GEMM operands in one type).
//
// Thread mapping (forward and backward): one warp per token, 8 warps a block, RMS_ROWS = 16 tokens a
// block (each warp takes 2, tokens warp and warp + 8). A lane owns the chunks of VW columns
// c = VW (lane + 32 i): VW = 4 (16-byte fp32 accesses, 8-byte bf16 ones) when D % 4 == 0 and every row
// is aligned, else VW = 1 (any D). A lane issues the loads of 4 columns (U = 4 / VW chunks) before
// using any, 8 in backward's second pass. The row is read twice: the sum of squares (forward) or the
// dot product (backward) is a warp shuffle reduction between the passes, and the second pass re-reads
// the row this warp just loaded (from L1, else L2: not DRAM traffic). Forward pass 2 re-reads x_in
// (+ delta) rather than x_out: loaded lines are in L1, stored ones are not.
// Backward dw, deterministic without atomics: each warp accumulates dout * x * r for its own tokens in
// its own row of shared memory ([8, D] floats, each lane touching only its own columns, 16-byte
// accesses); at the end of the block the 8 rows are added in warp order into the block's partial row
// [ceil(T/16), D] in scratch; sum_partials then adds the partial rows in a fixed order (below).
//
// Memory (DRAM), per element: forward reads 4 [+ sizeof(T)], writes sizeof(T) [+ 4]; backward reads
// sizeof(T) + 4 + 4 (dout, x, dx) and writes 4 [+ sizeof(T)], plus 8 bytes per D columns per 16 tokens
// for the partials (0.5 byte per element: 3% of backward at bf16). FLOPs ~4 T*D forward, ~10 backward.
//
// Static analysis at the benchmark shape (T 8192, D 768, bf16; H200: 132 SMs; cuda/bench/bench_cuda.cu),
// from `nvcc -arch=sm_90 -Xptxas -v` and the SASS:
//   forward: 58 registers, no shared memory: 4 blocks (32 warps) per SM; 512 blocks = 3.9 per SM, one
//     wave, ~31 warps per SM. The compiler unrolls the row loop by 4 and issues 2 to 4 chunks' loads
//     (LDG.E.128 x, LDG.E.64 delta: 48-96 bytes per lane) before the first store: ~50-95 KB in flight
//     per SM, above the ~30 KB that 4.3 TB/s x ~1 us of loaded latency asks for. 75.5 MB of DRAM traffic:
//     17.6 us at 4.3 TB/s; expected ~85% of copy bandwidth (each warp's row is 2 x 2 round trips, ~8 us
//     in all, under the bandwidth time).
//   backward: 64 registers (__launch_bounds__(256, 4): 79 unbounded, no spills at 64), 24.6 KB of shared
//     memory: 4 blocks per SM; 512 blocks, one wave, ~31 warps per SM. Pass 1 has 2 chunks' loads in
//     flight per lane (2 x 40 bytes), pass 2 two chunks' dx plus the re-reads (the SASS shows all 8
//     loads before the first store): ~50-80 KB per SM. 100.7 MB + 3 MB of partials: 24 us at 4.3 TB/s;
//     expected ~80% (the re-reads partly from L2).
//
// sum_partials (also the second pass of conv1d's dw/db): dst[c] += sum_p partial[p, c]. A block covers
// 16 columns (64-byte row segments) with R row lanes (R a power of two <= 64, ~P/8: every thread sums
// at most 8 rows when P <= 512); row lane r sums rows r, r + R, r + 2R, ... in order (loads unrolled by
// 8: all in flight at once), then the R lane sums are added by a fixed tree in shared memory. The
// order depends only on P, never on timing: bit-identical across runs. 32 registers. At P 512, n 768
// (rmsnorm): 48 blocks of 1024 threads, 8 loads per thread, one round trip for 1.5 MB (~2-3 us with the
// launch); conv1d's P 32, n 6144 and 1536: 384 and 96 blocks of 64 threads, 8 loads each.
#include <cstdint>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int RMS_WARPS = 8;
constexpr int RMS_THREADS = 32 * RMS_WARPS;
constexpr int RMS_ROWS = 2 * RMS_WARPS;  // tokens per block: 2 per warp

constexpr int SUM_COLS = 16;       // columns per sum_partials block
constexpr int SUM_MAX_LANES = 64;  // row lanes per block (1024 threads)
constexpr int SUM_ROWS = 8;        // rows a thread sums (at most, when P <= SUM_ROWS * SUM_MAX_LANES)

__device__ __forceinline__ float warp_sum(float v) {
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// out [T, D], rstd [T], x_out [T, D] (if delta) = rmsnorm(x_in (+ delta)) * w.
template <class T, int VW>
__global__ void __launch_bounds__(RMS_THREADS)
    rmsnorm_forward_kernel(T* __restrict__ out, float* __restrict__ rstd, float* __restrict__ x_out,
                           const float* __restrict__ x_in, const T* __restrict__ delta, const float* __restrict__ w,
                           int Tn, int D, float eps) {
    constexpr int U = 4 / VW;  // chunks per lane whose loads are issued together: 4 columns
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int t_end = min((int)(blockIdx.x + 1) * RMS_ROWS, Tn);
    for (int t = blockIdx.x * RMS_ROWS + warp; t < t_end; t += RMS_WARPS) {  // warp-uniform
        const float* xi = x_in + (size_t)t * D;                // [D]
        const T* dr = delta ? delta + (size_t)t * D : nullptr;  // [D]
        float ss = 0.0f;
        for (int c0 = lane * VW; c0 < D; c0 += 32 * VW * U) {
            float xv[U][VW] = {}, dv[U][VW] = {};  // (zeros: g++ cannot see that only loaded chunks are read)
            for (int u = 0; u < U; u++) {
                const int c = c0 + u * 32 * VW;
                if (c < D) {
                    load_vec(xv[u], xi + c);
                    if (dr) load_vec(dv[u], dr + c);
                }
            }
            for (int u = 0; u < U; u++) {
                const int c = c0 + u * 32 * VW;
                if (c >= D) break;
                if (dr) {
                    for (int k = 0; k < VW; k++) xv[u][k] += dv[u][k];
                    store_vec(x_out + (size_t)t * D + c, xv[u]);
                }
                for (int k = 0; k < VW; k++) ss += xv[u][k] * xv[u][k];
            }
        }
        ss = warp_sum(ss);
        const float r = 1.0f / sqrtf(ss / (float)D + eps);
        if (lane == 0) rstd[t] = r;
        T* o = out + (size_t)t * D;  // [D]
        for (int c0 = lane * VW; c0 < D; c0 += 32 * VW * U) {
            float xv[U][VW] = {}, dv[U][VW] = {}, wv[U][VW] = {};
            for (int u = 0; u < U; u++) {
                const int c = c0 + u * 32 * VW;
                if (c < D) {
                    load_vec(xv[u], xi + c);
                    if (dr) load_vec(dv[u], dr + c);
                    load_vec(wv[u], w + c);
                }
            }
            for (int u = 0; u < U; u++) {
                const int c = c0 + u * 32 * VW;
                if (c >= D) break;
                float ov[VW];
                for (int k = 0; k < VW; k++) {
                    const float v = dr ? xv[u][k] + dv[u][k] : xv[u][k];  // the same sum as pass 1
                    ov[k] = wv[u][k] * (v * r);
                }
                store_vec(o + c, ov);
            }
        }
    }
}

// dx [T, D] += ..., dx_T [T, D] = dx (optional), partial [ceil(T/16), D] = this block's dw sums.
template <class T, int VW>
__global__ void __launch_bounds__(RMS_THREADS, 4)
    rmsnorm_backward_kernel(float* __restrict__ dx, T* __restrict__ dx_T, float* __restrict__ partial,
                            const T* __restrict__ dout, const float* __restrict__ x, const float* __restrict__ rstd,
                            const float* __restrict__ w, int Tn, int D) {
    SIM_DYNAMIC_SMEM(float, dw_acc);  // [RMS_WARPS, D]: row w is warp w's dw sums; lanes own their columns
    constexpr int U = 4 / VW;  // chunks per lane whose loads are issued together: 4 columns
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float* acc = dw_acc + (size_t)warp * D;  // [D]
    for (int c = lane * VW; c < D; c += 32 * VW) {
        const float zero[VW] = {};
        store_vec(acc + c, zero);
    }
    const int t_end = min((int)(blockIdx.x + 1) * RMS_ROWS, Tn);
    for (int t = blockIdx.x * RMS_ROWS + warp; t < t_end; t += RMS_WARPS) {  // warp-uniform
        const float* xt = x + (size_t)t * D;  // [D]
        const T* gt = dout + (size_t)t * D;   // [D]
        const float r = rstd[t];
        float dot = 0.0f;
        for (int c0 = lane * VW; c0 < D; c0 += 32 * VW * U) {
            float xv[U][VW] = {}, gv[U][VW] = {}, wv[U][VW] = {};
            for (int u = 0; u < U; u++) {
                const int c = c0 + u * 32 * VW;
                if (c < D) load_vec(xv[u], xt + c), load_vec(gv[u], gt + c), load_vec(wv[u], w + c);
            }
            for (int u = 0; u < U; u++) {
                const int c = c0 + u * 32 * VW;
                if (c >= D) break;
                float a[VW];
                load_vec(a, acc + c);  // one 16-byte shared access when VW = 4 (no bank conflicts)
                for (int k = 0; k < VW; k++) {
                    dot += wv[u][k] * gv[u][k] * xv[u][k];
                    a[k] += gv[u][k] * xv[u][k] * r;
                }
                store_vec(acc + c, a);
            }
        }
        dot = warp_sum(dot);
        const float kk = r * r * r * dot / (float)D;
        float* dxt = dx + (size_t)t * D;  // [D]
        // Twice the chunks of pass 1: here only dx comes from DRAM, and the compiler does not move a
        // chunk's dx load above the previous chunk's dx store by itself.
        for (int c0 = lane * VW; c0 < D; c0 += 32 * VW * 2 * U) {
            float xv[2 * U][VW] = {}, gv[2 * U][VW] = {}, wv[2 * U][VW] = {}, dv[2 * U][VW] = {};
            for (int u = 0; u < 2 * U; u++) {
                const int c = c0 + u * 32 * VW;
                if (c < D)
                    load_vec(xv[u], xt + c), load_vec(gv[u], gt + c), load_vec(wv[u], w + c), load_vec(dv[u], dxt + c);
            }
            for (int u = 0; u < 2 * U; u++) {
                const int c = c0 + u * 32 * VW;
                if (c >= D) break;
                for (int k = 0; k < VW; k++) dv[u][k] += r * wv[u][k] * gv[u][k] - kk * xv[u][k];
                store_vec(dxt + c, dv[u]);
                if (dx_T) store_vec(dx_T + (size_t)t * D + c, dv[u]);
            }
        }
    }
    __syncthreads();  // every warp's row of dw_acc is complete
    for (int c = threadIdx.x; c < D; c += RMS_THREADS) {
        float s = dw_acc[c];
        for (int wp = 1; wp < RMS_WARPS; wp++) s += dw_acc[(size_t)wp * D + c];
        partial[(size_t)blockIdx.x * D + c] = s;
    }
}

// dst [n] += sum over the P rows of partial [P, n], per column: row lane r (threadIdx.y, R = blockDim.y
// lanes, a power of two) sums rows r, r + R, ... in order; the lanes' sums are added by a fixed tree.
__global__ void __launch_bounds__(SUM_COLS * SUM_MAX_LANES)
    sum_partials_kernel(float* __restrict__ dst, const float* __restrict__ partial, int P, int n) {
    __shared__ float sums[SUM_MAX_LANES][SUM_COLS + 1];
    const int cx = threadIdx.x, r = threadIdx.y, R = blockDim.y;
    const int c = blockIdx.x * SUM_COLS + cx;
    float s = 0.0f;
    if (c < n) {
        UNROLL(8)
        for (int p = r; p < P; p += R) s += partial[(size_t)p * n + c];
    }
    sums[r][cx] = s;
    for (int h = R / 2; h > 0; h /= 2) {
        __syncthreads();
        if (r < h) sums[r][cx] += sums[r + h][cx];
    }
    if (r == 0 && c < n) dst[c] += sums[0][cx];  // written by this thread in the last step
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

void sum_partials(float* dst, const float* partial, int P, int n, cudaStream_t stream) {
    if (n == 0) return;
    int R = 1;
    while (R < SUM_MAX_LANES && R * SUM_ROWS < P) R *= 2;
    launch(sum_partials_kernel, dim3(ceil_div(n, SUM_COLS)), dim3(SUM_COLS, R), 0, stream, dst, partial, P, n);
    CUDA_CHECK_LAUNCH();
}

size_t rmsnorm_backward_scratch(int Tn, int D) { return (size_t)ceil_div(Tn, RMS_ROWS) * D; }

template <class T>
void rmsnorm_forward(T* out, float* rstd, float* x_out, const float* x_in, const T* delta, const float* w, int Tn,
                     int D, float eps, cudaStream_t stream) {
    if (Tn == 0) return;
    // 16-byte rows: D % 4 == 0 and 16-byte (fp32) / 8-byte (bf16) aligned bases.
    const bool vec = D % 4 == 0 && aligned(out, 4 * sizeof(T)) && aligned(x_out, 16) && aligned(x_in, 16) &&
                     aligned(delta, 4 * sizeof(T)) && aligned(w, 16);
    auto kernel = vec ? rmsnorm_forward_kernel<T, 4> : rmsnorm_forward_kernel<T, 1>;
    launch(kernel, dim3(ceil_div(Tn, RMS_ROWS)), dim3(RMS_THREADS), 0, stream, out, rstd, x_out, x_in, delta, w, Tn,
           D, eps);
    CUDA_CHECK_LAUNCH();
}

template <class T>
void rmsnorm_backward(float* dx, T* dx_T, float* dw, float* scratch, const T* dout, const float* x,
                      const float* rstd, const float* w, int Tn, int D, cudaStream_t stream) {
    if (Tn == 0) return;
    const int P = (int)ceil_div(Tn, RMS_ROWS);
    const bool vec = D % 4 == 0 && aligned(dx, 16) && aligned(dx_T, 4 * sizeof(T)) && aligned(dout, 4 * sizeof(T)) &&
                     aligned(x, 16) && aligned(w, 16);
    auto kernel = vec ? rmsnorm_backward_kernel<T, 4> : rmsnorm_backward_kernel<T, 1>;
    const size_t smem = (size_t)RMS_WARPS * D * sizeof(float);
    if (smem > 48 * 1024)
        CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    launch(kernel, dim3(P), dim3(RMS_THREADS), smem, stream, dx, dx_T, scratch, dout, x, rstd, w, Tn, D);
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
