// RMSNorm (Zhang & Sennrich 2019), as MambaRMSNorm / mamba_ssm's RMSNorm, with the residual add of
// the block before fused in (as cuda/rmsnorm.cu): per token,
//
//   x = x_in + delta          (when delta is given; x is written to x_out, the next residual stream)
//   r = 1 / sqrt(mean_i x_i^2 + eps),   out_i = w_i * x_i * r.
//
// Shapes: x_in, x_out, delta, out [T, D]; w [D]; rstd [T] caches r for backward (with x: x_out, or x_in
// when delta is null, in which case x_out is not touched).
//
// Backward, with g_i = w_i * dout_i:
//   dx_i += r * g_i - r^3 / D * x_i * sum_j g_j x_j
//   dw_i += sum_t dout_i * x_i * r
// dx is ACCUMULATED: the input of every norm in the model is the residual stream, whose gradient
// already holds the skip path. dw is reduced over t by column slices, each walking t in order, so the
// result does not depend on the thread count.
// Memory traffic: forward reads T*D (2 T*D with delta), writes T*D (2 T*D with delta); backward reads 3 T*D (twice x and dout), writes T*D.
#include <omp.h>

#include <cmath>

#include "cpu/layers.h"

namespace cpu {

template <class T>
void rmsnorm_forward(T* out, T* rstd, T* x_out, const T* x_in, const T* delta, const T* w, int Tn, int D,
                     float eps) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < Tn; t++) {
        const T* xt = x_in + (int64_t)t * D;
        T* ot = out + (int64_t)t * D;
        T ss = 0;
        if (delta) {
            const T* dt = delta + (int64_t)t * D;
            T* xo = x_out + (int64_t)t * D;
            for (int i = 0; i < D; i++) {
                T v = xt[i] + dt[i];
                xo[i] = v;
                ss += v * v;
            }
            xt = xo;
        } else {
            for (int i = 0; i < D; i++) ss += xt[i] * xt[i];
        }
        T r = T(1) / std::sqrt(ss / T(D) + T(eps));
        rstd[t] = r;
        for (int i = 0; i < D; i++) ot[i] = w[i] * (xt[i] * r);
    }
}

template <class T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* rstd, const T* w, int Tn, int D) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < Tn; t++) {
        const T* xt = x + (int64_t)t * D;
        const T* gt = dout + (int64_t)t * D;
        T* dxt = dx + (int64_t)t * D;
        T r = rstd[t];
        T dot = 0;
        for (int i = 0; i < D; i++) dot += w[i] * gt[i] * xt[i];
        T c = r * r * r * dot / T(D);
        for (int i = 0; i < D; i++) dxt[i] += r * w[i] * gt[i] - c * xt[i];
    }
    constexpr int COLS = 64;
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < D; c0 += COLS) {
        int c1 = c0 + COLS < D ? c0 + COLS : D;
        for (int t = 0; t < Tn; t++) {
            const T* xt = x + (int64_t)t * D;
            const T* gt = dout + (int64_t)t * D;
            for (int i = c0; i < c1; i++) dw[i] += gt[i] * xt[i] * rstd[t];
        }
    }
}

#define INSTANTIATE(T)                                                                           \
    template void rmsnorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, float); \
    template void rmsnorm_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int, int);
INSTANTIATE(float)
INSTANTIATE(double)

}  // namespace cpu
