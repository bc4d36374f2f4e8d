// The Mamba-1 reranker's layer order, forward and backward, written once for every backend (math and
// shapes in mamba.h; each layer's math and backward derivation in src/cpu/<layer>.cpp and cuda/<layer>.cu).
//
// mamba_forward_pass and mamba_backward_pass are templates over a backend policy `Ops` (static
// polymorphism: each backend instantiates them with its own struct; src/models/mamba/mamba.cpp for the CPU, in float
// and double, cuda/mamba_model.cu for CUDA, in bf16 and fp32). The policy names three element types:
//   Ops::Act  activations and GEMM operands: hn, xz, u, dbc, dt, y, delta, their gradients, the weights
//             that GEMMs and the embedding read (CPU: T; CUDA: bf16, or fp32 for tests)
//   Ops::Res  the residual stream x and its gradient dx, rstd, the scan's checkpoints, the head's
//             pooled/h/scores and their gradients (CPU: T; CUDA: fp32)
//   Ops::Par  master parameters and their gradients (CPU: T; CUDA: fp32)
// and provides the layers below, with the argument order of the layer APIs (src/cpu/layers.h,
// cuda/kernels.h) minus what the policy holds itself: the batch's tokens, match flags and offsets (on
// the host or the device), the longest sequence, scratch, the stream and the cuBLAS handle.
//
//   embedding_forward(Res* x, const Act* wte, const Act* wme, Tn, D)
//   rmsnorm_forward(O* out, Res* rstd, Res* x_out, const Res* x_in, const O* delta, const Par* w, rows, D, eps)
//                                         O = Act in the blocks, Res for the final norm; delta may be null
//   matmul_forward(Act* out, ldo, const Act* a, lda, const Act* w, M, Nout, Kin, accumulate)
//   conv1d_forward(Act* u, ldu, const Act* x, ldx, const Par* w, const Par* b, B, Tn, E, K)
//   scan_forward(Strided<Act> out, Res* ckpt, const ScanInputs<Act>& in, const ScanWeights<Par>& weights, B, Tn, E, N)
//   scan_backward(const ScanGrads<Act, Par>& grads, Strided<const Act> dout, const Res* ckpt, in, weights, B, Tn, E, N)
//                                         (the views of src/core/views.h, built with designated initialisers)
//   pool_last(Res* pooled, const Res* x, const Act* delta, B, D)
//   head_forward(Res* scores, const Res* h, const Par* w, const Par* bias, B, D)
//   head_backward, rmsnorm_backward(Res* dx, O* dx_act, Par* dw, const O* dout, x, rstd, w, rows, D),
//   pool_last_backward, matmul_backward, conv1d_backward, embedding_backward(dwte, dwme, dx, Tn, D)
//   zero(Res* p, n);  to_act(Act* dst, const Res* src, n)   (a no-op where dst == src, as on the CPU)
//
// The residual add is fused, in the form the GPU wants (one pass over the fp32 stream instead of two):
// block l's out_proj writes delta [T, D] (not accumulated into x), and the next block's RMSNorm adds it,
// x_{l+1} = x_l + delta, writing x_{l+1} and normalising it in one pass; the last block's delta is added
// by the pooling, on the B last tokens only. Backward: dx [T, D] (Res) is the residual stream's
// gradient; every RMSNorm backward adds to it and leaves a copy in Act (dx_act) for the previous
// block's out_proj backward (on the CPU the copy is dx itself).
#pragma once
#include "models/mamba/mamba.h"

template <class Ops>
using MambaActsOf = MambaActs<typename Ops::Act, typename Ops::Res>;

// Forward over a batch of B sequences, Tn tokens (the policy holds its tokens and offsets): fills every
// activation of `a` that backward reads, and a.scores [B]. w: the parameters; wa: the weights that the
// embedding and the GEMMs read, in Act (CPU: the same pointers as w).
template <class Ops>
void mamba_forward_pass(Ops& ops, const MambaConfig& c, const MambaWeights<typename Ops::Par>& w,
                        const MambaWeights<typename Ops::Act>& wa, MambaActsOf<Ops>& a, int B, int Tn) {
    const int D = c.D, E = c.E, N = c.N, R = c.R, P = R + 2 * N;
    ops.embedding_forward(a.layers[0].x, wa.wte, wa.wme, Tn, D);
    for (int l = 0; l < c.L; l++) {
        const MambaLayerWeights<typename Ops::Par>& lw = w.layers[l];
        const MambaLayerWeights<typename Ops::Act>& la = wa.layers[l];
        auto& s = a.layers[l];
        if (l == 0) ops.rmsnorm_forward(s.hn, s.rstd, nullptr, s.x, nullptr, lw.norm, Tn, D, c.eps);
        else ops.rmsnorm_forward(s.hn, s.rstd, s.x, a.layers[l - 1].x, a.delta, lw.norm, Tn, D, c.eps);  // x_l = x_{l-1} + delta
        ops.matmul_forward(s.xz, 2 * E, s.hn, D, la.in_proj, Tn, 2 * E, D, false);
        ops.conv1d_forward(s.u, E, s.xz, 2 * E, lw.conv_w, lw.conv_b, B, Tn, E, c.K);
        ops.matmul_forward(s.dbc, P, s.u, E, la.x_proj, Tn, P, E, false);
        ops.matmul_forward(s.dt, E, s.dbc, P, la.dt_w, Tn, E, R, false);
        ops.scan_forward({s.y, E}, s.ckpt,
                         {.u = {s.u, E}, .dt = {s.dt, E}, .Bm = {s.dbc + R, P}, .Cm = {s.dbc + R + N, P},
                          .z = {s.xz + E, 2 * E}},
                         {.A_log = lw.A_log, .Dskip = lw.Dskip, .dt_bias = lw.dt_b}, B, Tn, E, N);
        ops.matmul_forward(a.delta, D, s.y, E, la.out_proj, Tn, D, E, false);
    }
    ops.pool_last(a.pooled, a.layers[c.L - 1].x, a.delta, B, D);  // x_L = x_{L-1} + delta, at the last tokens
    ops.rmsnorm_forward(a.h, a.rstd_f, nullptr, a.pooled, nullptr, w.norm_f, B, D, c.eps);
    ops.head_forward(a.scores, a.h, w.head_w, w.head_b, B, D);
}

// Backward of the last forward, from a.dscores [B]: accumulates every parameter gradient into g.
template <class Ops>
void mamba_backward_pass(Ops& ops, const MambaConfig& c, const MambaWeights<typename Ops::Par>& w,
                         const MambaWeights<typename Ops::Act>& wa, const MambaWeights<typename Ops::Par>& g,
                         MambaActsOf<Ops>& a, int B, int Tn) {
    const int D = c.D, E = c.E, N = c.N, R = c.R, P = R + 2 * N;
    ops.head_backward(a.dh, g.head_w, g.head_b, a.dscores, a.h, w.head_w, B, D);
    ops.zero(a.dpooled, (size_t)B * D);
    ops.rmsnorm_backward(a.dpooled, nullptr, g.norm_f, a.dh, a.pooled, a.rstd_f, w.norm_f, B, D);
    ops.zero(a.dx, (size_t)Tn * D);
    ops.pool_last_backward(a.dx, a.dpooled, B, D);
    ops.to_act(a.dx_act, a.dx, (size_t)Tn * D);  // the last block's delta gradient
    for (int l = c.L - 1; l >= 0; l--) {
        const MambaLayerWeights<typename Ops::Par>& lw = w.layers[l];
        const MambaLayerWeights<typename Ops::Par>& gw = g.layers[l];
        const MambaLayerWeights<typename Ops::Act>& la = wa.layers[l];
        auto& s = a.layers[l];
        // x_{l+1} = x_l + delta: the gradient of delta is dx, which also passes on to x_l unchanged.
        ops.matmul_backward(a.dy, E, gw.out_proj, a.dx_act, D, s.y, E, la.out_proj, Tn, D, E, false);
        ops.scan_backward({.du = {a.du, E}, .ddt = {a.ddt, E}, .dBm = {a.ddbc + R, P}, .dCm = {a.ddbc + R + N, P},
                           .dz = {a.dxz + E, 2 * E}, .dA_log = gw.A_log, .dDskip = gw.Dskip, .ddt_bias = gw.dt_b},
                          {a.dy, E}, s.ckpt,
                          {.u = {s.u, E}, .dt = {s.dt, E}, .Bm = {s.dbc + R, P}, .Cm = {s.dbc + R + N, P},
                           .z = {s.xz + E, 2 * E}},
                          {.A_log = lw.A_log, .Dskip = lw.Dskip, .dt_bias = lw.dt_b}, B, Tn, E, N);
        ops.matmul_backward(a.ddbc, P, gw.dt_w, a.ddt, E, s.dbc, P, la.dt_w, Tn, E, R, false);
        ops.matmul_backward(a.du, E, gw.x_proj, a.ddbc, P, s.u, E, la.x_proj, Tn, P, E, true);
        ops.conv1d_backward(a.dxz, 2 * E, gw.conv_w, gw.conv_b, a.du, E, s.xz, 2 * E, lw.conv_w, lw.conv_b, B, Tn, E,
                            c.K);
        ops.matmul_backward(a.dhn, D, gw.in_proj, a.dxz, 2 * E, s.hn, D, la.in_proj, Tn, 2 * E, D, false);
        ops.rmsnorm_backward(a.dx, a.dx_act, gw.norm, a.dhn, s.x, s.rstd, lw.norm, Tn, D);
    }
    ops.embedding_backward(g.wte, g.wme, a.dx, Tn, D);
}
