// Causal depthwise conv1d + bias + SiLU over packed variable-length sequences (mamba_simple.py: the
// Conv1d with groups = E and padding K-1, truncated to the sequence length, then SiLU).
//
//   p[t, e] = b[e] + sum_{k=0}^{K-1} w[e, k] * x[t - (K-1) + k, e]     (x before its sequence's start = 0)
//   u[t, e] = SiLU(p[t, e]) = p * sigmoid(p)
//
// Shapes: x [T, E] (ld ldx: the x half of xz), w [E, K] (HF stores [E, 1, K]), b [E], u [T, E] (ld ldu).
// The window never reaches into the previous sequence of the packed batch: that is the whole point of
// passing offsets instead of padding.
//
// Backward (p is recomputed rather than cached: K multiply-adds per element):
//   dp[t, e] = du[t, e] * s (1 + p (1 - s)),  s = sigmoid(p)
//   dx[t - (K-1) + k, e] = sum_k w[e, k] dp[t, e]      (WRITTEN)
//   dw[e, k] += sum_t dp[t, e] x[t - (K-1) + k, e],  db[e] += sum_t dp[t, e]   (ACCUMULATED)
// Both directions run on W-wide channel blocks (fastmath.h vectors); each thread owns whole blocks and walks
// each sequence in order, so dw and db do not depend on the thread count. Memory traffic: forward reads T*E, writes T*E; backward reads 2 T*E, writes T*E.
#include <cmath>

#include "cpu/fastmath.h"
#include "cpu/layers.h"

namespace cpu {

constexpr int MAX_K = 16;

// The block's weights as K vectors of W channels, and its bias.
template <class V, class T>
static void load_weights(V* wk, V& bv, const T* w, const T* b, int e0, int nw, int K) {
    bv = V{};
    for (int k = 0; k < K; k++) wk[k] = V{};
    for (int i = 0; i < nw; i++) {
        bv[i] = b[e0 + i];
        for (int k = 0; k < K; k++) wk[k][i] = w[(e0 + i) * K + k];
    }
}

template <class T>
void conv1d_forward(T* u, int ldu, const T* x, int ldx, const T* w, const T* b, const int32_t* offsets,
                    int B, int E, int K) {
    using V = typename Vec<T>::type;
    const int blocks = (E + W - 1) / W;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < blocks; blk++) {
        const int e0 = blk * W, nw = E - e0 < W ? E - e0 : W;
        V wk[MAX_K], bv;
        load_weights(wk, bv, w, b, e0, nw, K);
        for (int s = 0; s < B; s++) {
            const int t0 = offsets[s], t1 = offsets[s + 1];
            V win[MAX_K];  // the last K inputs, oldest first; zeros before the sequence starts
            for (int k = 0; k < K; k++) win[k] = V{};
            for (int t = t0; t < t1; t++) {
                if (t + 8 < t1) __builtin_prefetch(x + (int64_t)(t + 8) * ldx + e0), __builtin_prefetch(u + (int64_t)(t + 8) * ldu + e0);
                for (int k = 0; k + 1 < K; k++) win[k] = win[k + 1];
                win[K - 1] = load_row<V>(x, ldx, t, e0, nw);
                V p = bv;
                for (int k = 0; k < K; k++) p += wk[k] * win[k];
                store_row(u, ldu, p * vsigmoid(p), t, e0, nw);
            }
        }
    }
}

template <class T>
void conv1d_backward(T* dx, int lddx, T* dw, T* db, const T* du, int lddu, const T* x, int ldx,
                     const T* w, const T* b, const int32_t* offsets, int B, int E, int K) {
    using V = typename Vec<T>::type;
    const int blocks = (E + W - 1) / W;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < blocks; blk++) {
        const int e0 = blk * W, nw = E - e0 < W ? E - e0 : W;
        V wk[MAX_K], dwk[MAX_K], bv, dbv{};
        load_weights(wk, bv, w, b, e0, nw, K);
        for (int k = 0; k < K; k++) dwk[k] = V{};
        for (int s = 0; s < B; s++) {
            const int t0 = offsets[s], t1 = offsets[s + 1];
            for (int t = t0; t < t1; t++) store_row(dx, lddx, V{}, t, e0, nw);
            for (int t = t0; t < t1; t++) {
                if (t + 8 < t1) __builtin_prefetch(x + (int64_t)(t + 8) * ldx + e0), __builtin_prefetch(du + (int64_t)(t + 8) * lddu + e0);
                V xs[MAX_K], p = bv;
                for (int k = 0; k < K; k++) {
                    int src = t - (K - 1) + k;
                    xs[k] = src >= t0 ? load_row<V>(x, ldx, src, e0, nw) : V{};
                    p += wk[k] * xs[k];
                }
                V sg = vsigmoid(p);
                V dp = load_row<V>(du, lddu, t, e0, nw) * sg * (splat<V>(1) + p * (splat<V>(1) - sg));
                dbv += dp;
                for (int k = 0; k < K; k++) {
                    int src = t - (K - 1) + k;
                    if (src < t0) continue;
                    dwk[k] += dp * xs[k];
                    store_row(dx, lddx, load_row<V>(dx, lddx, src, e0, nw) + wk[k] * dp, src, e0, nw);
                }
            }
        }
        for (int i = 0; i < nw; i++) {
            db[e0 + i] += dbv[i];
            for (int k = 0; k < K; k++) dw[(e0 + i) * K + k] += dwk[k][i];
        }
    }
}

#define INSTANTIATE(T)                                                                               \
    template void conv1d_forward<T>(T*, int, const T*, int, const T*, const T*, const int32_t*, int, \
                                    int, int);                                                       \
    template void conv1d_backward<T>(T*, int, T*, T*, const T*, int, const T*, int, const T*,        \
                                     const T*, const int32_t*, int, int, int);
INSTANTIATE(float)
INSTANTIATE(double)

}  // namespace cpu
