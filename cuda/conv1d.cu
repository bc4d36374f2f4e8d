// Causal depthwise conv1d + bias + SiLU over packed variable-length sequences (CPU reference:
// src/cpu/conv1d.cpp; mamba_simple.py's Conv1d with groups = E, padding K-1, then SiLU).
//
//   p[t, e] = b[e] + sum_{k=0}^{K-1} w[e, k] * x[t - (K-1) + k, e]     (x before its sequence's start = 0)
//   u[t, e] = SiLU(p[t, e]) = p * sigmoid(p)
//
// Shapes: x [T, E] of type T with row stride ldx (the x half of xz [T, 2E]); w [E, K] fp32 (HF's
// [E, 1, K]); b [E] fp32; u [T, E] of type T (row stride ldu); offsets [B+1] int32 on the device.
// K is a template parameter (2, 3 or 4, the launcher dispatches). Nothing is cached: backward
// recomputes p from x (K multiply-adds).
//
// Thread mapping (forward and backward): one thread per (channel e, tile of CONV_TILE = 64 consecutive
// tokens of the packed batch); blockDim 128 along e (coalesced rows), grid (ceil(E/128), ceil(T/64)).
// A thread finds the sequence of its first token by binary search in offsets, then walks its tile in
// order with the window x[t-K+1 .. t] in registers, zeroing it where a new sequence starts, so no
// window ever reaches into the previous sequence and each x element is loaded once per thread.
//
// Backward:
//   dp[t, e] = du[t, e] * s (1 + p (1 - s)),  s = sigmoid(p)
//   dx[t, e] = sum_{j=0}^{K-1} w[e, K-1-j] dp[t + j, e]   (t + j inside t's sequence)     (WRITTEN)
//   dw[e, k] += sum_t dp[t, e] x[t - (K-1) + k, e],   db[e] += sum_t dp[t, e]            (ACCUMULATED)
// Each thread keeps x[t-K+1 .. t+K-1] and dp[t .. t+K-1] in registers, sliding by one token per
// step (one new dp, one sigmoid per element), and sums dw, db over its tile in order; the tiles'
// partials [ceil(T/64), E*K] and [ceil(T/64), E] go to scratch and sum_partials adds them in tile
// order: deterministic.
// Memory: forward reads T*E*sizeof(T), writes T*E*sizeof(T) (+ the window's K-1 token overlap per
// tile); backward reads 2 T*E*sizeof(T), writes T*E*sizeof(T). FLOPs: forward (2K + 4) T*E and one exp
// per element; backward about twice that.
#include "kernels.h"

namespace gpu {

namespace {

constexpr int CONV_THREADS = 128;
constexpr int CONV_TILE = 64;

// The sequence s with offsets[s] <= t < offsets[s+1] (skipping empty sequences).
__device__ __forceinline__ int sequence_of(const int32_t* offsets, int B, int t) {
    int lo = 0, hi = B - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offsets[mid] <= t) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

__device__ __forceinline__ float sigmoidf_(float p) { return 1.0f / (1.0f + expf(-p)); }

// u [T, E] (ld ldu) = SiLU(conv(x) + b).
template <class T, int K>
__global__ void conv1d_forward_kernel(T* u, int ldu, const T* x, int ldx, const float* w, const float* b,
                                      const int32_t* offsets, int B, int Tn, int E) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= E) return;
    const int ta = blockIdx.y * CONV_TILE, tb = min(ta + CONV_TILE, Tn);
    int s = sequence_of(offsets, B, ta);
    int start = offsets[s], end = offsets[s + 1];
    float wk[K], win[K];  // win[k] = x[t - (K-1) + k, e]
    for (int k = 0; k < K; k++) wk[k] = w[e * K + k];
    const float bias = b[e];
    for (int k = 0; k < K - 1; k++) {
        int src = ta - (K - 1) + k;
        win[k] = src >= start ? to_float(x[(size_t)src * ldx + e]) : 0.0f;
    }
    for (int t = ta; t < tb; t++) {
        if (t == end) {  // a new sequence: its window starts from zeros
            while (offsets[s + 1] <= t) s++;
            start = offsets[s], end = offsets[s + 1];
            for (int k = 0; k < K - 1; k++) win[k] = 0.0f;
        }
        win[K - 1] = to_float(x[(size_t)t * ldx + e]);
        float p = bias;
        for (int k = 0; k < K; k++) p += wk[k] * win[k];
        u[(size_t)t * ldu + e] = from_float<T>(p * sigmoidf_(p));
        for (int k = 0; k < K - 1; k++) win[k] = win[k + 1];
    }
}

// dx [T, E] (ld lddx) written; part_w [tiles, E*K], part_b [tiles, E] = this tile's dw, db sums.
template <class T, int K>
__global__ void conv1d_backward_kernel(T* dx, int lddx, float* part_w, float* part_b, const T* du, int lddu,
                                       const T* x, int ldx, const float* w, const float* b,
                                       const int32_t* offsets, int B, int Tn, int E) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= E) return;
    const int ta = blockIdx.y * CONV_TILE, tb = min(ta + CONV_TILE, Tn);
    int s = sequence_of(offsets, B, ta);
    int start = offsets[s], end = offsets[s + 1];
    float wk[K];
    for (int k = 0; k < K; k++) wk[k] = w[e * K + k];
    const float bias = b[e];
    float xr[2 * K - 1];  // xr[i] = x[t - (K-1) + i, e] inside [start, end), else 0
    float dpr[K];         // dpr[j] = dp[t + j, e] for t + j < end, else 0
    float dw_acc[K], db_acc = 0.0f;
    for (int k = 0; k < K; k++) dw_acc[k] = 0.0f;
    auto load_x = [&](int src) { return src >= start && src < end ? to_float(x[(size_t)src * ldx + e]) : 0.0f; };
    auto dp_at = [&](int t, int j) {  // dp[t + j] from the window xr[j .. j+K-1]
        if (t + j >= end) return 0.0f;
        float p = bias;
        for (int k = 0; k < K; k++) p += wk[k] * xr[j + k];
        const float sg = sigmoidf_(p);
        return to_float(du[(size_t)(t + j) * lddu + e]) * sg * (1.0f + p * (1.0f - sg));
    };
    for (int t = ta; t < tb; t++) {
        if (t == ta || t == end) {  // the first token of the tile or of a sequence: fill both windows
            if (t == end) {
                while (offsets[s + 1] <= t) s++;
                start = offsets[s], end = offsets[s + 1];
            }
            for (int i = 0; i < 2 * K - 1; i++) xr[i] = load_x(t - (K - 1) + i);
            for (int j = 0; j < K; j++) dpr[j] = dp_at(t, j);
        } else {  // slide by one token
            for (int i = 0; i < 2 * K - 2; i++) xr[i] = xr[i + 1];
            xr[2 * K - 2] = load_x(t + K - 1);
            for (int j = 0; j < K - 1; j++) dpr[j] = dpr[j + 1];
            dpr[K - 1] = dp_at(t, K - 1);
        }
        float g = 0.0f;
        for (int j = 0; j < K; j++) g += wk[K - 1 - j] * dpr[j];
        dx[(size_t)t * lddx + e] = from_float<T>(g);
        for (int k = 0; k < K; k++) dw_acc[k] += dpr[0] * xr[k];
        db_acc += dpr[0];
    }
    for (int k = 0; k < K; k++) part_w[(size_t)blockIdx.y * E * K + e * K + k] = dw_acc[k];
    part_b[(size_t)blockIdx.y * E + e] = db_acc;
}

}  // namespace

size_t conv1d_backward_scratch(int Tn, int E, int K) { return (size_t)ceil_div(Tn, CONV_TILE) * E * (K + 1); }

template <class T>
void conv1d_forward(T* u, int ldu, const T* x, int ldx, const float* w, const float* b, const int32_t* offsets,
                    int B, int Tn, int E, int K, cudaStream_t stream) {
    if (Tn == 0) return;
    dim3 grid(ceil_div(E, CONV_THREADS), ceil_div(Tn, CONV_TILE)), block(CONV_THREADS);
    switch (K) {
        case 2: launch(conv1d_forward_kernel<T, 2>, grid, block, 0, stream, u, ldu, x, ldx, w, b, offsets, B, Tn, E); break;
        case 3: launch(conv1d_forward_kernel<T, 3>, grid, block, 0, stream, u, ldu, x, ldx, w, b, offsets, B, Tn, E); break;
        case 4: launch(conv1d_forward_kernel<T, 4>, grid, block, 0, stream, u, ldu, x, ldx, w, b, offsets, B, Tn, E); break;
        default: std::fprintf(stderr, "error: conv1d_forward: d_conv %d is not supported on CUDA (2..4)\n", K); std::exit(1);
    }
    CUDA_CHECK_LAUNCH();
}

template <class T>
void conv1d_backward(T* dx, int lddx, float* dw, float* db, float* scratch, const T* du, int lddu, const T* x,
                     int ldx, const float* w, const float* b, const int32_t* offsets, int B, int Tn, int E, int K,
                     cudaStream_t stream) {
    if (Tn == 0) return;
    const int tiles = (int)ceil_div(Tn, CONV_TILE);
    float* part_w = scratch;                          // [tiles, E*K]
    float* part_b = scratch + (size_t)tiles * E * K;  // [tiles, E]
    dim3 grid(ceil_div(E, CONV_THREADS), tiles), block(CONV_THREADS);
    switch (K) {
        case 2: launch(conv1d_backward_kernel<T, 2>, grid, block, 0, stream, dx, lddx, part_w, part_b, du, lddu, x, ldx, w, b, offsets, B, Tn, E); break;
        case 3: launch(conv1d_backward_kernel<T, 3>, grid, block, 0, stream, dx, lddx, part_w, part_b, du, lddu, x, ldx, w, b, offsets, B, Tn, E); break;
        case 4: launch(conv1d_backward_kernel<T, 4>, grid, block, 0, stream, dx, lddx, part_w, part_b, du, lddu, x, ldx, w, b, offsets, B, Tn, E); break;
        default: std::fprintf(stderr, "error: conv1d_backward: d_conv %d is not supported on CUDA (2..4)\n", K); std::exit(1);
    }
    CUDA_CHECK_LAUNCH();
    sum_partials(dw, part_w, tiles, E * K, stream);
    sum_partials(db, part_b, tiles, E, stream);
}

#define INSTANTIATE(T)                                                                                          \
    template void conv1d_forward<T>(T*, int, const T*, int, const float*, const float*, const int32_t*, int, int, \
                                    int, int, cudaStream_t);                                                    \
    template void conv1d_backward<T>(T*, int, float*, float*, float*, const T*, int, const T*, int, const float*, \
                                     const float*, const int32_t*, int, int, int, int, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(__nv_bfloat16)

}  // namespace gpu
