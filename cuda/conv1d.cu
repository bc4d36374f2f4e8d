// Causal depthwise conv1d + bias + SiLU over packed variable-length sequences (CPU reference:
// src/cpu/conv1d.cpp; mamba_simple.py's Conv1d with groups = E, padding K-1, then SiLU).
//
//   p[t, e] = b[e] + sum_{k=0}^{K-1} w[e, k] * x[t - (K-1) + k, e]     (x before its sequence's start = 0)
//   u[t, e] = SiLU(p[t, e]) = p * sigmoid(p)
//
// Shapes: x [T, E] of type T with row stride ldx (the x half of xz [T, 2E]); w [E, K] fp32 (HF's
// [E, 1, K]); b [E] fp32; u [T, E] of type T (row stride ldu); offsets [B+1] int32 on the device.
// K is a template parameter (2, 3 or 4, the launcher dispatches). Nothing is cached: backward
// recomputes p from x (K multiply-adds). No argument may alias another (__restrict__).
//
// Backward:
//   dp[t, e] = du[t, e] * s (1 + p (1 - s)),  s = sigmoid(p)
//   dx[t, e] = sum_{j=0}^{K-1} w[e, K-1-j] dp[t + j, e]   (t + j inside t's sequence)     (WRITTEN)
//   dw[e, k] += sum_t dp[t, e] x[t - (K-1) + k, e],   db[e] += sum_t dp[t, e]            (ACCUMULATED)
//
// Thread mapping (forward and backward): a thread owns VEC adjacent channels (VEC = 2 when E and every
// row stride are even and the bases aligned: one 4-byte bf16 pair or 8-byte fp32 pair per row, so a
// warp's 32 lanes read 128 contiguous bytes of a bf16 row; else VEC = 1) and a tile of CONV_TOKENS = 64
// consecutive tokens of the packed batch, which it walks in order with its windows in registers, so
// each x and du element is loaded once per thread and each dp computed once (plus a K-1 token overlap
// per tile). Block: 32 lanes along channels x CONV_WARPS = 4 warps on consecutive tiles (256 tokens).
// The loads of CONV_FWD_CHUNK = 8 (backward: CONV_BWD_CHUNK = 4, x and du) tokens are issued together
// before any is used. Sequence boundaries: the thread tracks pos(t) = t - (start of t's sequence),
// found by a binary search in offsets at the tile's first token (after the first chunk's loads are
// issued, so that its round trips overlap them) and advanced along the walk (offsets are read again
// only where a sequence ends); a window element k tokens before t counts only if k <= pos(t). Tiles
// straddle sequence boundaries freely.
// Forward window: x[t-K+1 .. t]. Backward walks t = ta .. tb + K-2 (dx[t] needs dp up to t + K-1):
// with x[t-K+1 .. t] in registers it computes dp[t], adds dp[t] x[t-K+1+k] to dw (t inside the tile),
// and scatters w[e, i] dp[t] into K running sums, the partial dx of tokens t-K+1+i in t's sequence
// (pos(t) >= K-1-i); the oldest is then complete and stored. Each dx gets its terms in the order
// j = 0 .. K-1 of the formula.
// dw, db (deterministic, no atomics): each thread sums its tile in token order; the block's 4 warps are
// added in warp order through shared memory into one partial row per 256 tokens (part_w
// [ceil(T/256), E*K], part_b [ceil(T/256), E] in scratch); sum_partials (rmsnorm.cu) adds the rows in
// a fixed order.
//
// Memory (DRAM): forward reads T*E*sizeof(T), writes T*E*sizeof(T); backward reads 2 T*E*sizeof(T),
// writes T*E*sizeof(T), plus (K+1)*E*4 bytes written and read per 256 tokens (0.16 byte per element,
// 3% of backward at bf16, K 4). The K-1 overlap rows per tile are re-read from L2. FLOPs: forward
// (2K + 4) T*E and one exp per element; backward about twice that (3/64 of the exps recomputed).
//
// Static analysis at the benchmark shape (T 8192, E 1536, K 4, bf16, x and dx the halves of xz, ld
// 2E: channel pairs; H200 132 SMs), from `nvcc -arch=sm_90 -Xptxas -v` and the SASS (32-bit LDG/STG of
// bf16 pairs, a chunk's loads back to back; no local memory):
//   forward: 56 registers: 9 blocks (36 warps) per SM; grid (24, 32) = 768 blocks, 5.8 per SM, one
//     wave, ~23 warps per SM, each lane with 8 x 4 bytes of loads in flight: ~24 KB per SM, for reads
//     that are half of the traffic (~15 KB needed at 4.3 TB/s x ~1 us). 50 MB: 11.7 us at 4.3 TB/s;
//     expected ~80% of copy bandwidth.
//   backward: 80 registers (VEC 2, K 4; 48 at VEC 1): 6 blocks per SM; 768 blocks (792 slots), one
//     wave, ~23 warps per SM, 4 x 8 bytes in flight per lane: ~24 KB per SM for reads that are 2/3 of
//     the traffic (~20 KB needed). 75.5 MB + 2 MB of partials: 18 us at 4.3 TB/s; expected ~75-80%.
//     The partials' sums (P 32) are one round trip each.
#include <cstdint>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int CONV_WARPS = 4;          // warps per block, each on its own tile of tokens
constexpr int CONV_THREADS = 32 * CONV_WARPS;
constexpr int CONV_TOKENS = 64;        // tokens per thread
constexpr int CONV_ROWS = CONV_WARPS * CONV_TOKENS;  // tokens per block (a partial row, backward)
constexpr int CONV_FWD_CHUNK = 8;      // tokens whose loads are issued together, forward
constexpr int CONV_BWD_CHUNK = 4;      // and backward, x and du (80 registers at VEC 2, K 4; 8: 96 and spills)

// VEC elements of T in one load (Vec: runtime.h), kept in T.
template <class T, int VEC>
__device__ __forceinline__ Vec<T, VEC> load_packed(const T* p) {
    return *reinterpret_cast<const Vec<T, VEC>*>(p);
}
template <class T, int VEC>
__device__ __forceinline__ Vec<T, VEC> zero_vec() {
    Vec<T, VEC> r;
    for (int v = 0; v < VEC; v++) r.v[v] = from_float<T>(0.0f);
    return r;
}

// The taps and biases of channels e0 .. e0 + VEC - 1, into registers.
template <int VEC, int K>
__device__ __forceinline__ void load_weights(float (&wk)[VEC][K], float (&bias)[VEC], const float* w, const float* b,
                                             int e0) {
    for (int v = 0; v < VEC; v++) {
        for (int k = 0; k < K; k++) wk[v][k] = w[(e0 + v) * K + k];
        bias[v] = b[e0 + v];
    }
}

// Position of token t in its sequence, for tokens visited in increasing order (t < T = offsets[B]).
struct SeqPos {
    const int32_t* offsets;
    int s, start, end;  // t's sequence s = [start, end)
    __device__ SeqPos(const int32_t* off, int B, int t) : offsets(off) {
        int lo = 0, hi = B - 1;  // the s with offsets[s] <= t < offsets[s+1] (skipping empty sequences)
        while (lo < hi) {
            const int mid = (lo + hi + 1) / 2;
            if (off[mid] <= t) lo = mid;
            else hi = mid - 1;
        }
        s = lo, start = off[s], end = off[s + 1];
    }
    __device__ int pos(int t) {
        while (t >= end) s++, start = end, end = offsets[s + 1];
        return t - start;
    }
};

__device__ __forceinline__ float sigmoidf_(float p) { return 1.0f / (1.0f + expf(-p)); }

// u [T, E] (ld ldu) = SiLU(conv(x) + b).
template <class T, int K, int VEC>
__global__ void __launch_bounds__(CONV_THREADS)
    conv1d_forward_kernel(T* __restrict__ u, int ldu, const T* __restrict__ x, int ldx, const float* __restrict__ w,
                          const float* __restrict__ b, const int32_t* __restrict__ offsets, int B, int Tn, int E) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int e0 = (blockIdx.x * 32 + lane) * VEC;
    const int ta = (blockIdx.y * CONV_WARPS + warp) * CONV_TOKENS;
    if (e0 >= E || ta >= Tn) return;
    const int tb = min(ta + CONV_TOKENS, Tn);
    Vec<T, VEC> win[K];  // win[k] = x[t - (K-1) + k] (raw: masked by pos(t) where used); win[K-1] is t
    for (int k = 0; k < K - 1; k++) {
        const int src = ta - (K - 1) + k;
        win[k] = src >= 0 ? load_packed<T, VEC>(x + (size_t)src * ldx + e0) : zero_vec<T, VEC>();
    }
    Vec<T, VEC> xn[CONV_FWD_CHUNK];  // x of tokens t0 .. t0 + CHUNK-1
    auto load_chunk = [&](int t0) {
        for (int i = 0; i < CONV_FWD_CHUNK; i++)
            if (t0 + i < tb) xn[i] = load_packed<T, VEC>(x + (size_t)(t0 + i) * ldx + e0);
    };
    load_chunk(ta);
    SeqPos seq(offsets, B, ta);  // its binary search overlaps the loads above
    float wk[VEC][K], bias[VEC];
    load_weights(wk, bias, w, b, e0);
    for (int t0 = ta; t0 < tb; t0 += CONV_FWD_CHUNK) {
        if (t0 != ta) load_chunk(t0);
        for (int i = 0; i < CONV_FWD_CHUNK; i++) {
            const int t = t0 + i;
            if (t >= tb) break;
            win[K - 1] = xn[i];
            const int pos = seq.pos(t);
            Vec<T, VEC> out;
            for (int v = 0; v < VEC; v++) {
                float p = bias[v];
                for (int k = 0; k < K; k++) p += wk[v][k] * (K - 1 - k <= pos ? to_float(win[k].v[v]) : 0.0f);
                out.v[v] = from_float<T>(p * sigmoidf_(p));
            }
            *reinterpret_cast<Vec<T, VEC>*>(u + (size_t)t * ldu + e0) = out;
            for (int k = 0; k < K - 1; k++) win[k] = win[k + 1];
        }
    }
}

// dx [T, E] (ld lddx) written; part_w [ceil(T/256), E*K], part_b [ceil(T/256), E] = this block row's
// dw, db sums.
template <class T, int K, int VEC>
__global__ void __launch_bounds__(CONV_THREADS)
    conv1d_backward_kernel(T* __restrict__ dx, int lddx, float* __restrict__ part_w, float* __restrict__ part_b,
                           const T* __restrict__ du, int lddu, const T* __restrict__ x, int ldx,
                           const float* __restrict__ w, const float* __restrict__ b,
                           const int32_t* __restrict__ offsets, int B, int Tn, int E) {
    __shared__ float red_w[CONV_WARPS][32 * VEC * K];  // [warp][lane's channels x K]: each warp's dw sums
    __shared__ float red_b[CONV_WARPS][32 * VEC];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int e0 = (blockIdx.x * 32 + lane) * VEC;
    const int ta = (blockIdx.y * CONV_WARPS + warp) * CONV_TOKENS;
    float dw_acc[VEC][K], db_acc[VEC];
    for (int v = 0; v < VEC; v++) {
        db_acc[v] = 0.0f;
        for (int k = 0; k < K; k++) dw_acc[v][k] = 0.0f;
    }
    if (e0 < E && ta < Tn) {  // no early return: every thread reaches the barrier below
        const int tb = min(ta + CONV_TOKENS, Tn);
        // The walk visits t = ta .. tb + K-2 (dx[t'] needs dp up to t' + K-1). At step t:
        //   xw[k] = x[t - (K-1) + k] (raw, masked by pos(t) where used), k < K;
        //   acc[i] = the partial dx of token t - (K-1) + i: dp[t] adds w[i] dp[t] to it when t - (K-1) + i
        //   is in t's sequence (pos(t) >= K-1-i), which gives each dx the order j = 0, 1, .. of the sum;
        //   acc[0] is then complete and stored. dp = 0 past T.
        Vec<T, VEC> xw[K];
        float acc[K][VEC];
        for (int k = 0; k < K - 1; k++) {
            const int src = ta - (K - 1) + k;
            xw[k] = src >= 0 ? load_packed<T, VEC>(x + (size_t)src * ldx + e0) : zero_vec<T, VEC>();
            for (int v = 0; v < VEC; v++) acc[k][v] = 0.0f;  // tokens before ta: never stored
        }
        xw[K - 1] = zero_vec<T, VEC>();  // (set per token below; zeros, so that g++ sees it written)
        const int t_last = tb + K - 2;
        Vec<T, VEC> xn[CONV_BWD_CHUNK], gn[CONV_BWD_CHUNK];  // x and du of tokens t0 + i
        auto load_chunk = [&](int t0) {
            for (int i = 0; i < CONV_BWD_CHUNK; i++) {
                const int t = t0 + i;
                if (t <= t_last && t < Tn) {
                    xn[i] = load_packed<T, VEC>(x + (size_t)t * ldx + e0);
                    gn[i] = load_packed<T, VEC>(du + (size_t)t * lddu + e0);
                }
            }
        };
        load_chunk(ta);
        SeqPos seq(offsets, B, ta);  // its binary search overlaps the loads above
        float wk[VEC][K], bias[VEC];
        load_weights(wk, bias, w, b, e0);
        for (int t0 = ta; t0 <= t_last; t0 += CONV_BWD_CHUNK) {
            if (t0 != ta) load_chunk(t0);
            for (int i = 0; i < CONV_BWD_CHUNK; i++) {
                const int t = t0 + i;
                if (t > t_last) break;
                float dp[VEC];
                int pos = 0;
                for (int v = 0; v < VEC; v++) dp[v] = 0.0f;
                if (t < Tn) {
                    xw[K - 1] = xn[i];
                    pos = seq.pos(t);
                    for (int v = 0; v < VEC; v++) {
                        float p = bias[v];
                        for (int k = 0; k < K; k++) p += wk[v][k] * (K - 1 - k <= pos ? to_float(xw[k].v[v]) : 0.0f);
                        const float s = sigmoidf_(p);
                        dp[v] = to_float(gn[i].v[v]) * s * (1.0f + p * (1.0f - s));
                    }
                }
                for (int v = 0; v < VEC; v++) {
                    acc[K - 1][v] = 0.0f;
                    for (int k = 0; k < K; k++) acc[k][v] += wk[v][k] * (K - 1 - k <= pos ? dp[v] : 0.0f);
                }
                if (t < tb) {
                    for (int v = 0; v < VEC; v++) {
                        for (int k = 0; k < K; k++)
                            dw_acc[v][k] += dp[v] * (K - 1 - k <= pos ? to_float(xw[k].v[v]) : 0.0f);
                        db_acc[v] += dp[v];
                    }
                }
                const int done = t - (K - 1);  // acc[0] is this token's dx
                if (done >= ta) {
                    Vec<T, VEC> g;
                    for (int v = 0; v < VEC; v++) g.v[v] = from_float<T>(acc[0][v]);
                    *reinterpret_cast<Vec<T, VEC>*>(dx + (size_t)done * lddx + e0) = g;
                }
                for (int k = 0; k < K - 1; k++) {
                    xw[k] = xw[k + 1];
                    for (int v = 0; v < VEC; v++) acc[k][v] = acc[k + 1][v];
                }
            }
        }
    }
    for (int v = 0; v < VEC; v++) {
        red_b[warp][lane * VEC + v] = db_acc[v];
        for (int k = 0; k < K; k++) red_w[warp][(lane * VEC + v) * K + k] = dw_acc[v][k];
    }
    __syncthreads();
    const int eb = blockIdx.x * 32 * VEC;  // the block's first channel
    for (int i = threadIdx.x; i < 32 * VEC * K; i += CONV_THREADS) {
        if (eb * K + i >= E * K) break;
        float s = red_w[0][i];
        for (int wp = 1; wp < CONV_WARPS; wp++) s += red_w[wp][i];
        part_w[(size_t)blockIdx.y * E * K + eb * K + i] = s;
    }
    for (int i = threadIdx.x; i < 32 * VEC; i += CONV_THREADS) {
        if (eb + i >= E) break;
        float s = red_b[0][i];
        for (int wp = 1; wp < CONV_WARPS; wp++) s += red_b[wp][i];
        part_b[(size_t)blockIdx.y * E + eb + i] = s;
    }
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <class T, int VEC>
void conv1d_forward_vec(T* u, int ldu, const T* x, int ldx, const float* w, const float* b, const int32_t* offsets,
                        int B, int Tn, int E, int K, cudaStream_t stream) {
    const dim3 grid(ceil_div(E, 32 * VEC), ceil_div(Tn, CONV_ROWS)), block(CONV_THREADS);
    switch (K) {
        case 2: launch(conv1d_forward_kernel<T, 2, VEC>, grid, block, 0, stream, u, ldu, x, ldx, w, b, offsets, B, Tn, E); break;
        case 3: launch(conv1d_forward_kernel<T, 3, VEC>, grid, block, 0, stream, u, ldu, x, ldx, w, b, offsets, B, Tn, E); break;
        case 4: launch(conv1d_forward_kernel<T, 4, VEC>, grid, block, 0, stream, u, ldu, x, ldx, w, b, offsets, B, Tn, E); break;
        default: std::fprintf(stderr, "error: conv1d_forward: d_conv %d is not supported on CUDA (2..4)\n", K); std::exit(1);
    }
    CUDA_CHECK_LAUNCH();
}

template <class T, int VEC>
void conv1d_backward_vec(T* dx, int lddx, float* part_w, float* part_b, const T* du, int lddu, const T* x, int ldx,
                         const float* w, const float* b, const int32_t* offsets, int B, int Tn, int E, int K,
                         int rows, cudaStream_t stream) {
    const dim3 grid(ceil_div(E, 32 * VEC), rows), block(CONV_THREADS);
    switch (K) {
        case 2: launch(conv1d_backward_kernel<T, 2, VEC>, grid, block, 0, stream, dx, lddx, part_w, part_b, du, lddu, x, ldx, w, b, offsets, B, Tn, E); break;
        case 3: launch(conv1d_backward_kernel<T, 3, VEC>, grid, block, 0, stream, dx, lddx, part_w, part_b, du, lddu, x, ldx, w, b, offsets, B, Tn, E); break;
        case 4: launch(conv1d_backward_kernel<T, 4, VEC>, grid, block, 0, stream, dx, lddx, part_w, part_b, du, lddu, x, ldx, w, b, offsets, B, Tn, E); break;
        default: std::fprintf(stderr, "error: conv1d_backward: d_conv %d is not supported on CUDA (2..4)\n", K); std::exit(1);
    }
    CUDA_CHECK_LAUNCH();
}

}  // namespace

size_t conv1d_backward_scratch(int Tn, int E, int K) { return (size_t)ceil_div(Tn, CONV_ROWS) * E * (K + 1); }

template <class T>
void conv1d_forward(T* u, int ldu, const T* x, int ldx, const float* w, const float* b, const int32_t* offsets,
                    int B, int Tn, int E, int K, cudaStream_t stream) {
    if (Tn == 0) return;
    // Channel pairs: E and the row strides even, the bases aligned to a pair.
    if (E % 2 == 0 && ldu % 2 == 0 && ldx % 2 == 0 && aligned(u, 2 * sizeof(T)) && aligned(x, 2 * sizeof(T)))
        conv1d_forward_vec<T, 2>(u, ldu, x, ldx, w, b, offsets, B, Tn, E, K, stream);
    else
        conv1d_forward_vec<T, 1>(u, ldu, x, ldx, w, b, offsets, B, Tn, E, K, stream);
}

template <class T>
void conv1d_backward(T* dx, int lddx, float* dw, float* db, float* scratch, const T* du, int lddu, const T* x,
                     int ldx, const float* w, const float* b, const int32_t* offsets, int B, int Tn, int E, int K,
                     cudaStream_t stream) {
    if (Tn == 0) return;
    const int rows = (int)ceil_div(Tn, CONV_ROWS);
    float* part_w = scratch;                         // [rows, E*K]
    float* part_b = scratch + (size_t)rows * E * K;  // [rows, E]
    if (E % 2 == 0 && lddx % 2 == 0 && lddu % 2 == 0 && ldx % 2 == 0 && aligned(dx, 2 * sizeof(T)) &&
        aligned(du, 2 * sizeof(T)) && aligned(x, 2 * sizeof(T)))
        conv1d_backward_vec<T, 2>(dx, lddx, part_w, part_b, du, lddu, x, ldx, w, b, offsets, B, Tn, E, K, rows, stream);
    else
        conv1d_backward_vec<T, 1>(dx, lddx, part_w, part_b, du, lddu, x, ldx, w, b, offsets, B, Tn, E, K, rows, stream);
    sum_partials(dw, part_w, rows, E * K, stream);
    sum_partials(db, part_b, rows, E, stream);
}

#define INSTANTIATE(T)                                                                                          \
    template void conv1d_forward<T>(T*, int, const T*, int, const float*, const float*, const int32_t*, int, int, \
                                    int, int, cudaStream_t);                                                    \
    template void conv1d_backward<T>(T*, int, float*, float*, float*, const T*, int, const T*, int, const float*, \
                                     const float*, const int32_t*, int, int, int, int, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(__nv_bfloat16)

}  // namespace gpu
