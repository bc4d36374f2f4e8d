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
// Each thread owns whole channels and walks each sequence in order, so dw and db do not depend on the
// thread count. Memory traffic: forward reads T*E, writes T*E; backward reads 2 T*E, writes T*E.
#include <cmath>

#include "cpu/layers.h"

namespace cpu {

template <class T>
static inline T sigmoid(T v) { return T(1) / (T(1) + std::exp(-v)); }

template <class T>
void conv1d_forward(T* u, int ldu, const T* x, int ldx, const T* w, const T* b, const int32_t* offsets,
                    int B, int E, int K) {
    for (int s = 0; s < B; s++) {
        int t0 = offsets[s], t1 = offsets[s + 1];
#pragma omp parallel for schedule(static)
        for (int t = t0; t < t1; t++) {
            T* ut = u + (int64_t)t * ldu;
            for (int e = 0; e < E; e++) ut[e] = b[e];
            for (int k = 0; k < K; k++) {
                int src = t - (K - 1) + k;
                if (src < t0) continue;
                const T* xs = x + (int64_t)src * ldx;
                for (int e = 0; e < E; e++) ut[e] += w[e * K + k] * xs[e];
            }
            for (int e = 0; e < E; e++) ut[e] = ut[e] * sigmoid(ut[e]);
        }
    }
}

template <class T>
void conv1d_backward(T* dx, int lddx, T* dw, T* db, const T* du, int lddu, const T* x, int ldx,
                     const T* w, const T* b, const int32_t* offsets, int B, int E, int K) {
    constexpr int CH = 16;  // channels per task
#pragma omp parallel for schedule(static)
    for (int e0 = 0; e0 < E; e0 += CH) {
        int e1 = e0 + CH < E ? e0 + CH : E;
        for (int s = 0; s < B; s++) {
            int t0 = offsets[s], t1 = offsets[s + 1];
            for (int t = t0; t < t1; t++)
                for (int e = e0; e < e1; e++) dx[(int64_t)t * lddx + e] = 0;
            for (int t = t0; t < t1; t++) {
                for (int e = e0; e < e1; e++) {
                    T p = b[e];
                    for (int k = 0; k < K; k++) {
                        int src = t - (K - 1) + k;
                        if (src >= t0) p += w[e * K + k] * x[(int64_t)src * ldx + e];
                    }
                    T sg = sigmoid(p);
                    T dp = du[(int64_t)t * lddu + e] * sg * (T(1) + p * (T(1) - sg));
                    db[e] += dp;
                    for (int k = 0; k < K; k++) {
                        int src = t - (K - 1) + k;
                        if (src < t0) continue;
                        dw[e * K + k] += dp * x[(int64_t)src * ldx + e];
                        dx[(int64_t)src * lddx + e] += w[e * K + k] * dp;
                    }
                }
            }
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
