// Selective scan (Mamba-1, Gu & Dao 2023, Algorithm 2), with softplus(dt + bias), the D skip and the
// SiLU(z) gate fused, as mamba_ssm's selective_scan_fn(u, delta, A, B, C, D, z, delta_bias,
// delta_softplus=True). Per sequence s, channel e and state n, from h = 0 at the sequence's first token:
//
//   v_t       = dt[t, e] + dt_bias[e]
//   delta_t   = softplus(v_t)               (= v_t when v_t > 20, as torch.nn.functional.softplus)
//   A_n       = -exp(A_log[e, n])
//   a_t,n     = exp(delta_t A_n)
//   h_t,n     = a_t,n h_{t-1},n + delta_t B[t, n] u[t, e]
//   y_t       = sum_n C[t, n] h_t,n + Dskip[e] u[t, e]
//   out[t, e] = y_t * SiLU(z[t, e])
//
// Shapes: u, dt, z, out [T, E] (row strides ldu, lddt, ldz, ldo: u is the conv output, dt the dt_proj
// output, z the gate half of xz); B, C [T, N] with row stride ldbc (slices of the x_proj output
// [T, R + 2N]); A_log [E, N]; Dskip, dt_bias [E]. B and C are shared by all E channels of a token.
// The state h never crosses a sequence boundary, and lives only in registers / a small local array:
// nothing of it is cached for backward.
//
// Backward. Given g_t = dout[t, e], walking t from the last token back to the first:
//   sz = sigmoid(z),  dz[t, e]    = g_t y_t sz (1 + z (1 - sz))           (SiLU'(z))
//   dy_t = g_t z sz,  dDskip[e]  += dy_t u_t,   du_t = dy_t Dskip[e] + ...
//   dC[t, n]  += dy_t h_t,n                                      (summed over e)
//   dh_t,n     = dy_t C[t, n] + a_{t+1},n dh_{t+1},n             (the adjoint recurrence, reversed)
//   from h_t,n = a_t,n h_{t-1},n + delta_t B_t,n u_t:
//     da_t,n   = dh_t,n h_{t-1},n
//     dB[t, n] += dh_t,n delta_t u_t                             (summed over e)
//     du_t    += sum_n dh_t,n delta_t B_t,n
//     ddelta_t = sum_n (dh_t,n B_t,n u_t + da_t,n a_t,n A_n)     (a = exp(delta A): da/ddelta = a A)
//     dA_n    += sum_t da_t,n a_t,n delta_t,  dA_log[e, n] += dA_n * A_n   (dA/dA_log = -exp(A_log) = A)
//   dv_t = ddelta_t * sigmoid(v_t) (1 when v_t > 20);  ddt[t, e] = dv_t,  ddt_bias[e] += dv_t.
// The backward needs h_{t-1}: a forward pass over the sequence first recomputes every h_t,n into
// per-thread scratch [len, N] (no T*E*N tensor is ever stored). dB and dC are sums over channels, which
// run on different threads: each thread owns whole channels (all sequences of channel e, so dA_log,
// dDskip and ddt_bias are summed in a fixed order) and sums dB, dC into its own [T, N] partials, added
// in thread order at the end (deterministic for a given thread count). du, ddt, dz, dB, dC are WRITTEN; dA_log, dDskip and
// ddt_bias ACCUMULATED.
//
// Cost per element (t, e): N exponentials and ~6N FLOPs forward, 2N exponentials and ~18N FLOPs
// backward (forward recompute included); memory: forward reads 3 T*E + 2 T*N, writes T*E.
#include <omp.h>

#include <cmath>
#include <cstring>

#include "cpu/layers.h"

namespace cpu {

template <class T>
static inline T softplus(T v) { return v > T(20) ? v : std::log1p(std::exp(v)); }
template <class T>
static inline T sigmoid(T v) { return T(1) / (T(1) + std::exp(-v)); }

constexpr int MAX_N = 256;  // d_state bound for the on-stack state arrays

size_t scan_scratch_size(int Tn, int max_len, int N, int threads) {
    return (size_t)threads * ((size_t)2 * Tn * N + (size_t)max_len * N);
}

template <class T>
void scan_forward(T* out, int ldo, const T* u, int ldu, const T* dt, int lddt, const T* Bm, const T* Cm,
                  int ldbc, const T* z, int ldz, const T* A_log, const T* Dskip, const T* dt_bias,
                  const int32_t* offsets, int B, int E, int N) {
#pragma omp parallel for schedule(static)
    for (int e = 0; e < E; e++) {
        T A[MAX_N], h[MAX_N];
        for (int n = 0; n < N; n++) A[n] = -std::exp(A_log[e * N + n]);
        for (int s = 0; s < B; s++) {
            for (int n = 0; n < N; n++) h[n] = 0;
            for (int t = offsets[s]; t < offsets[s + 1]; t++) {
                T delta = softplus(dt[(int64_t)t * lddt + e] + dt_bias[e]);
                T ut = u[(int64_t)t * ldu + e];
                const T* Bt = Bm + (int64_t)t * ldbc;
                const T* Ct = Cm + (int64_t)t * ldbc;
                T y = 0;
                for (int n = 0; n < N; n++) {
                    h[n] = std::exp(delta * A[n]) * h[n] + delta * Bt[n] * ut;
                    y += Ct[n] * h[n];
                }
                y += Dskip[e] * ut;
                T zt = z[(int64_t)t * ldz + e];
                out[(int64_t)t * ldo + e] = y * zt * sigmoid(zt);
            }
        }
    }
}

template <class T>
void scan_backward(T* du, int lddu, T* ddt, int ldddt, T* dBm, T* dCm, int lddbc, T* dz, int lddz,
                   T* dA_log, T* dDskip, T* ddt_bias, T* scratch, const T* dout, int lddo, const T* u,
                   int ldu, const T* dt, int lddt, const T* Bm, const T* Cm, int ldbc, const T* z, int ldz,
                   const T* A_log, const T* Dskip, const T* dt_bias, const int32_t* offsets, int B, int E,
                   int N, int max_len) {
    const int Tn = offsets[B];
    int threads = 1;  // the team actually started (scratch is sized for omp_get_max_threads())
    const size_t per_thread = (size_t)2 * Tn * N + (size_t)max_len * N;
#pragma omp parallel
    {
        T* dB_part = scratch + (size_t)omp_get_thread_num() * per_thread;  // [T, N]
        T* dC_part = dB_part + (size_t)Tn * N;                              // [T, N]
        T* H = dC_part + (size_t)Tn * N;                                    // [max_len, N]
        std::memset((void*)dB_part, 0, sizeof(T) * 2 * Tn * N);
#pragma omp single
        threads = omp_get_num_threads();
#pragma omp for schedule(static)
        for (int e = 0; e < E; e++) {
            T A[MAX_N], h[MAX_N], dh[MAX_N], dA[MAX_N];
            for (int n = 0; n < N; n++) A[n] = -std::exp(A_log[e * N + n]), dA[n] = 0;
            T dD = 0, dbias = 0;
            for (int s = 0; s < B; s++) {
                const int t0 = offsets[s], t1 = offsets[s + 1];
                for (int n = 0; n < N; n++) h[n] = 0, dh[n] = 0;
                // Recompute the states h_t for the whole sequence.
                for (int t = t0; t < t1; t++) {
                    T delta = softplus(dt[(int64_t)t * lddt + e] + dt_bias[e]);
                    T ut = u[(int64_t)t * ldu + e];
                    const T* Bt = Bm + (int64_t)t * ldbc;
                    T* Ht = H + (size_t)(t - t0) * N;
                    for (int n = 0; n < N; n++) Ht[n] = h[n] = std::exp(delta * A[n]) * h[n] + delta * Bt[n] * ut;
                }
                for (int t = t1 - 1; t >= t0; t--) {
                    T v = dt[(int64_t)t * lddt + e] + dt_bias[e];
                    T delta = softplus(v);
                    T ut = u[(int64_t)t * ldu + e];
                    T zt = z[(int64_t)t * ldz + e];
                    const T* Bt = Bm + (int64_t)t * ldbc;
                    const T* Ct = Cm + (int64_t)t * ldbc;
                    const T* Ht = H + (size_t)(t - t0) * N;
                    const T* Hp = t > t0 ? Ht - N : nullptr;
                    T y = Dskip[e] * ut;
                    for (int n = 0; n < N; n++) y += Ct[n] * Ht[n];
                    T g = dout[(int64_t)t * lddo + e];
                    T sz = sigmoid(zt);
                    dz[(int64_t)t * lddz + e] = g * y * sz * (T(1) + zt * (T(1) - sz));
                    T dy = g * zt * sz;
                    dD += dy * ut;
                    T dut = dy * Dskip[e], ddelta = 0;
                    T* dBt = dB_part + (int64_t)t * N;
                    T* dCt = dC_part + (int64_t)t * N;
                    for (int n = 0; n < N; n++) {
                        T a = std::exp(delta * A[n]);
                        T hp = Hp ? Hp[n] : T(0);
                        dh[n] += dy * Ct[n];
                        dCt[n] += dy * Ht[n];
                        T da = dh[n] * hp;
                        ddelta += dh[n] * Bt[n] * ut + da * a * A[n];
                        dA[n] += da * a * delta;
                        dBt[n] += dh[n] * delta * ut;
                        dut += dh[n] * delta * Bt[n];
                        dh[n] *= a;
                    }
                    du[(int64_t)t * lddu + e] = dut;
                    T dv = v > T(20) ? ddelta : ddelta * sigmoid(v);
                    ddt[(int64_t)t * ldddt + e] = dv;
                    dbias += dv;
                }
            }
            // One thread owns channel e for all sequences: these sums are in a fixed order.
            for (int n = 0; n < N; n++) dA_log[e * N + n] += dA[n] * A[n];
            dDskip[e] += dD;
            ddt_bias[e] += dbias;
        }
    }
    // dB, dC: sum the per-thread partials in thread order.
#pragma omp parallel for schedule(static)
    for (int t = 0; t < Tn; t++) {
        for (int n = 0; n < N; n++) {
            T sb = 0, sc = 0;
            for (int p = 0; p < threads; p++) {
                sb += scratch[(size_t)p * per_thread + (size_t)t * N + n];
                sc += scratch[(size_t)p * per_thread + (size_t)Tn * N + (size_t)t * N + n];
            }
            dBm[(int64_t)t * lddbc + n] = sb;
            dCm[(int64_t)t * lddbc + n] = sc;
        }
    }
}

#define INSTANTIATE(T)                                                                                \
    template void scan_forward<T>(T*, int, const T*, int, const T*, int, const T*, const T*, int,     \
                                  const T*, int, const T*, const T*, const T*, const int32_t*, int,   \
                                  int, int);                                                          \
    template void scan_backward<T>(T*, int, T*, int, T*, T*, int, T*, int, T*, T*, T*, T*, const T*,  \
                                   int, const T*, int, const T*, int, const T*, const T*, int,        \
                                   const T*, int, const T*, const T*, const T*, const int32_t*, int,  \
                                   int, int, int);
INSTANTIATE(float)
INSTANTIATE(double)

}  // namespace cpu
