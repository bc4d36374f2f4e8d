// Selective scan (Mamba-1, Gu & Dao 2023, Algorithm 2), with softplus(dt + bias), the D skip and the
// SiLU(z) gate fused, as mamba_ssm's selective_scan_fn(u, delta, A, B, C, D, z, delta_bias,
// delta_softplus=True). Per sequence s, channel e and state n, from h = 0 at the sequence's first token:
//
//   v_t       = dt[t, e] + dt_bias[e]
//   delta_t   = softplus(v_t)               (= v_t when v_t > 20, as torch.nn.functional.softplus)
//   A_n       = -exp(A_log[e, n])
//   a_t,n     = exp(delta_t A_n)          (computed as 2^(delta_t A_n log2 e), fastmath.h's vexp2_nonpos)
//   h_t,n     = a_t,n h_{t-1},n + delta_t B[t, n] u[t, e]
//   y_t       = sum_n C[t, n] h_t,n + Dskip[e] u[t, e]
//   out[t, e] = y_t * SiLU(z[t, e])
//
// Shapes: u, dt, z, out [T, E] (u is the conv output, dt the dt_proj output, z the gate half of xz);
// B, C [T, N] (slices of the x_proj output [T, R + 2N]); each a Strided view with its own row stride
// (src/core/views.h). A_log [E, N]; Dskip, dt_bias [E]. B and C are shared by all E channels of a token.
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
// The backward needs h_{t-1} and a_t: a forward pass over the sequence first recomputes them into
// per-thread scratch (for one block of channels: [len, N, W] each; no T*E*N tensor is ever stored).
// dB and dC are sums over channels, which run on different threads: each thread owns whole channels
// (all sequences of channel e, so dA_log, dDskip and ddt_bias are summed in a fixed order) and sums
// dB, dC into its own [T, N] partials, added in thread order at the end (deterministic for a given
// thread count). Within a block the W channels' terms are summed sixteen states at a time by a
// shuffle tree (hsum16). The sums through B are taken once per token: sum_n dh_n B_n gives both du's
// and ddelta's terms. du, ddt, dz, dB, dC are WRITTEN; dA_log, dDskip and ddt_bias ACCUMULATED.
//
// Vectorisation: a thread takes a block of W = 16 adjacent channels (one AVX-512 register of fp32, two of
// AVX2) and walks time; every per-(t, e) quantity is a W-wide row of the [T, E] tensors, and B[t, n],
// C[t, n] are broadcast. The state of a block is N x W values, kept in registers / L1. exp, softplus and
// sigmoid are the branch-free polynomials of fastmath.h, so the compiler vectorises the inner loops.
//
// Cost per element (t, e): N exponentials and ~6N FLOPs forward; backward N exponentials (the
// recompute; a_t is kept for the reverse walk) and ~16N FLOPs. Memory: forward reads 3 T*E + 2 T*N,
// writes T*E; backward reads 4 T*E + 2 T*N, writes 3 T*E + 2 T*N. At mamba-130m's E 1536, N 16 the
// forward is ~25k exponentials and ~150k FLOPs per token per layer: compute bound on a CPU.
#include <omp.h>

#include <cstring>

#include "core/common.h"
#include "cpu/fastmath.h"
#include "cpu/layers.h"

namespace cpu {

constexpr int MAX_N = 64;  // d_state bound for the on-stack state arrays

// Per thread: dB and dC partials [T, N] each (rounded up to whole vectors), then delta [max_len] and
// a, h [max_len, N] as W-wide vectors. Plus W elements of slack to align the start to a vector.
static size_t per_thread_size(int Tn, int max_len, int N) {
    return ((size_t)2 * Tn * N + W - 1) / W * W + (size_t)max_len * (W + 2 * (size_t)N * W);
}

size_t scan_scratch_size(int Tn, int max_len, int N, int threads) {
    return (size_t)threads * per_thread_size(Tn, max_len, N) + W;
}

// Rows of one time step lie a whole row of [T, E] apart, so the hardware prefetcher (which stops at
// page boundaries) does not run ahead of the walk through time: fetch the rows PF steps ahead by hand.
constexpr int PF = 8;
template <class T>
static inline void prefetch_row(Strided<T> x, int t, int e0) {
    __builtin_prefetch(x.p + (int64_t)t * x.ld + e0);
}

// A block's per-channel constants: A = -exp(A_log) [N][W], A2 = A log2(e) (so that exp(delta A) =
// 2^(delta A2)), dt_bias and D.
template <class V, class T>
static void load_block(V* A, V* A2, V& bias, V& Dv, const ScanWeights<T>& weights, int e0, int w, int N) {
    bias = V{}, Dv = V{};
    for (int n = 0; n < N; n++) A[n] = V{};
    for (int i = 0; i < w; i++) {
        bias[i] = weights.dt_bias[e0 + i], Dv[i] = weights.Dskip[e0 + i];
        for (int n = 0; n < N; n++) A[n][i] = -std::exp(weights.A_log[(int64_t)(e0 + i) * N + n]);
    }
    for (int n = 0; n < N; n++) A2[n] = A[n] * (T)1.44269504088896340736;
}

template <class T>
void scan_forward(Strided<T> out, const ScanInputs<T>& in, const ScanWeights<T>& weights, const ScanDims& dims) {
    using V = typename Vec<T>::type;
    const Strided<const T> u = in.u, dt = in.dt, Bm = in.Bm, Cm = in.Cm, z = in.z;
    const int32_t* offsets = dims.offsets;
    const int B = dims.B, E = dims.E, N = dims.N;
    ENGINE_ASSERT(N <= MAX_N);
    const int blocks = (E + W - 1) / W;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < blocks; blk++) {
        const int e0 = blk * W, w = E - e0 < W ? E - e0 : W;
        V A[MAX_N], A2[MAX_N], h[MAX_N], bias, Dv;
        load_block(A, A2, bias, Dv, weights, e0, w, N);
        for (int s = 0; s < B; s++) {
            for (int n = 0; n < N; n++) h[n] = V{};
            for (int t = offsets[s]; t < offsets[s + 1]; t++) {
                if (t + PF < offsets[s + 1]) {
                    prefetch_row(dt, t + PF, e0), prefetch_row(u, t + PF, e0), prefetch_row(z, t + PF, e0);
                    prefetch_row(out, t + PF, e0), prefetch_row(Bm, t + PF, 0);
                }
                V dl = vsoftplus(load_row<V>(dt.p, dt.ld, t, e0, w) + bias);
                V uu = load_row<V>(u.p, u.ld, t, e0, w), zz = load_row<V>(z.p, z.ld, t, e0, w);
                V du_ = dl * uu, y = Dv * uu;
                const T* Bt = Bm.p + (int64_t)t * Bm.ld;
                const T* Ct = Cm.p + (int64_t)t * Cm.ld;
                for (int n = 0; n < N; n++) {
                    h[n] = vexp2_nonpos(dl * A2[n]) * h[n] + du_ * Bt[n];
                    y += h[n] * Ct[n];
                }
                store_row(out.p, out.ld, y * zz * vsigmoid(zz), t, e0, w);
            }
        }
    }
}

template <class T>
void scan_backward(const ScanGrads<T>& grads, T* scratch, Strided<const T> dout, const ScanInputs<T>& in,
                   const ScanWeights<T>& weights, const ScanDims& dims, int max_len) {
    using V = typename Vec<T>::type;
    const Strided<T> du = grads.du, ddt = grads.ddt, dBm = grads.dBm, dCm = grads.dCm, dz = grads.dz;
    const Strided<const T> u = in.u, dt = in.dt, Bm = in.Bm, Cm = in.Cm, z = in.z;
    const int32_t* offsets = dims.offsets;
    const int B = dims.B, Tn = dims.Tn, E = dims.E, N = dims.N;
    ENGINE_ASSERT(N <= MAX_N && Tn == offsets[B]);
    const int blocks = (E + W - 1) / W;
    const size_t per_thread = per_thread_size(Tn, max_len, N);
    scratch += (sizeof(V) - (uintptr_t)scratch % sizeof(V)) % sizeof(V) / sizeof(T);  // align to a vector
    int threads = 1;  // the team actually started (scratch is sized for omp_get_max_threads())
#pragma omp parallel
    {
        T* dB_part = scratch + (size_t)omp_get_thread_num() * per_thread;  // [T, N]
        T* dC_part = dB_part + (size_t)Tn * N;                              // [T, N]
        V* Dl = (V*)(dB_part + ((size_t)2 * Tn * N + W - 1) / W * W);       // [max_len]       delta
        V* Aa = Dl + max_len;                                               // [max_len, N]    a = exp(delta A)
        V* H = Aa + (size_t)max_len * N;                                    // [max_len, N]    h
        std::memset((void*)dB_part, 0, sizeof(T) * 2 * Tn * N);
#pragma omp single
        threads = omp_get_num_threads();
#pragma omp for schedule(static)
        for (int blk = 0; blk < blocks; blk++) {
            const int e0 = blk * W, w = E - e0 < W ? E - e0 : W;
            V A[MAX_N], A2[MAX_N], dh[MAX_N], dA[MAX_N], bias, Dv, dD{}, dbias{};
            V dBv[MAX_N], dCv[MAX_N], Zero[MAX_N];  // [N] rounded up to whole groups of W, zero past N
            load_block(A, A2, bias, Dv, weights, e0, w, N);
            for (int n = 0; n < MAX_N; n++) dA[n] = dBv[n] = dCv[n] = Zero[n] = V{};
            for (int s = 0; s < B; s++) {
                const int t0 = offsets[s], t1 = offsets[s + 1];
                // Recompute delta_t, a_t and h_t for the whole sequence.
                for (int t = t0; t < t1; t++) {
                    const int j = t - t0;
                    if (t + PF < t1) prefetch_row(dt, t + PF, e0), prefetch_row(u, t + PF, e0);
                    V dl = vsoftplus(load_row<V>(dt.p, dt.ld, t, e0, w) + bias);
                    V du_ = dl * load_row<V>(u.p, u.ld, t, e0, w);
                    Dl[j] = dl;
                    const T* Bt = Bm.p + (int64_t)t * Bm.ld;
                    for (int n = 0; n < N; n++) {
                        V a = vexp2_nonpos(dl * A2[n]);
                        Aa[(size_t)j * N + n] = a;
                        H[(size_t)j * N + n] = (j ? a * H[(size_t)(j - 1) * N + n] : V{}) + du_ * Bt[n];
                    }
                }
                for (int n = 0; n < N; n++) dh[n] = V{};
                for (int t = t1 - 1; t >= t0; t--) {
                    const int j = t - t0;
                    if (t - PF >= t0) {
                        const int tp = t - PF;
                        prefetch_row(u, tp, e0), prefetch_row(z, tp, e0), prefetch_row(dout, tp, e0);
                        prefetch_row(dt, tp, e0), prefetch_row(du, tp, e0), prefetch_row(ddt, tp, e0);
                        prefetch_row(dz, tp, e0);
                    }
                    const V dl = Dl[j];
                    const V* at = Aa + (size_t)j * N;
                    const V* ht = H + (size_t)j * N;
                    const V* hp = j ? ht - N : Zero;  // h_{t-1}: zero before the first token
                    const T* Bt = Bm.p + (int64_t)t * Bm.ld;
                    const T* Ct = Cm.p + (int64_t)t * Cm.ld;
                    V uu = load_row<V>(u.p, u.ld, t, e0, w), zz = load_row<V>(z.p, z.ld, t, e0, w);
                    V g = load_row<V>(dout.p, dout.ld, t, e0, w), v = load_row<V>(dt.p, dt.ld, t, e0, w) + bias;
                    V y = Dv * uu;
                    for (int n = 0; n < N; n++) y += ht[n] * Ct[n];
                    V sz = vsigmoid(zz);
                    V dzz = g * y * sz * (splat<V>(1) + zz * (splat<V>(1) - sz));
                    V dy = g * zz * sz;
                    dD += dy * uu;
                    V dlu = dl * uu, ddl{}, dhB{};
                    for (int n = 0; n < N; n++) {
                        V d = dh[n] + dy * Ct[n];  // dh_t = dy_t C_t + a_{t+1} dh_{t+1}
                        V ada = d * hp[n] * at[n];
                        dCv[n] = dy * ht[n];      // this block's terms of dC[t, n] and dB[t, n],
                        dBv[n] = d * dlu;         // summed over its channels below
                        dhB += d * Bt[n];
                        ddl += ada * A[n];
                        dA[n] += ada * dl;
                        dh[n] = d * at[n];
                    }
                    // sum_n dh_n delta B_n u and sum_n dh_n delta B_n: the du and ddelta terms through B.
                    ddl += dhB * uu;
                    V dut = dy * Dv + dhB * dl;
                    T* dBt = dB_part + (int64_t)t * N;
                    T* dCt = dC_part + (int64_t)t * N;
                    for (int n0 = 0; n0 < N; n0 += W) {
                        V sb = hsum16(dBv + n0), sc = hsum16(dCv + n0);
                        const int m = N - n0 < W ? N - n0 : W;
                        store_row(dBt, 0, load_row<V>(dBt, 0, 0, n0, m) + sb, 0, n0, m);
                        store_row(dCt, 0, load_row<V>(dCt, 0, 0, n0, m) + sc, 0, n0, m);
                    }
                    ddl = v > 20 ? ddl : ddl * vsigmoid(v);
                    dbias += ddl;
                    store_row(du.p, du.ld, dut, t, e0, w);
                    store_row(ddt.p, ddt.ld, ddl, t, e0, w);
                    store_row(dz.p, dz.ld, dzz, t, e0, w);
                }
            }
            // One thread owns these channels for all sequences: the sums are in a fixed order.
            for (int i = 0; i < w; i++) {
                for (int n = 0; n < N; n++) grads.dA_log[(int64_t)(e0 + i) * N + n] += dA[n][i] * A[n][i];
                grads.dDskip[e0 + i] += dD[i];
                grads.ddt_bias[e0 + i] += dbias[i];
            }
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
            dBm.p[(int64_t)t * dBm.ld + n] = sb;
            dCm.p[(int64_t)t * dCm.ld + n] = sc;
        }
    }
}

#define INSTANTIATE(T)                                                                                   \
    template void scan_forward<T>(Strided<T>, const ScanInputs<T>&, const ScanWeights<T>&, const ScanDims&); \
    template void scan_backward<T>(const ScanGrads<T>&, T*, Strided<const T>, const ScanInputs<T>&,         \
                                   const ScanWeights<T>&, const ScanDims&, int);
INSTANTIATE(float)
INSTANTIATE(double)

}  // namespace cpu
