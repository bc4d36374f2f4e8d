// The Mamba-1 reranker on the CPU backend: tables, setup, initialisation, and the CPU policy that runs
// the one layer order of orchestration.h over the layers of src/cpu/ (math and shapes in mamba.h).
#include "models/mamba/mamba.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/common.h"
#include "core/rng.h"
#include "cpu/layers.h"
#include "models/mamba/orchestration.h"

std::string mamba_config_error(const MambaConfig& c) {
    auto bad = [](const char* f, long v, const char* want) { return strfmt("%s = %ld (%s)", f, v, want); };
    if (c.D < 1 || c.D > 65536) return bad("d_model", c.D, "must be 1..65536");
    if (c.L < 1 || c.L > 1024) return bad("n_layer", c.L, "must be 1..1024");
    if (c.N < 1 || c.N > 64) return bad("d_state", c.N, "must be 1..64");
    if (c.K < 1 || c.K > 16) return bad("d_conv", c.K, "must be 1..16");
    if (c.E < 1 || c.E > 262144) return bad("d_inner", c.E, "must be 1..262144");
    if (c.R < 1 || c.R > c.E) return bad("dt_rank", c.R, "must be 1..d_inner");
    if (c.V < 1 || c.V > (1 << 24)) return bad("vocab_size", c.V, "must be 1..16777216");
    if (!(c.eps > 0 && c.eps < 1)) return strfmt("norm_eps = %g (must be in (0, 1))", c.eps);
    if (c.match != 0 && c.match != 1) return bad("match_feature", c.match, "must be 0 or 1");
    return "";
}

TensorTable mamba_param_table(const MambaConfig& c) {
    TensorTable t;
    const int64_t D = c.D, E = c.E, N = c.N, R = c.R, K = c.K;
    t.add("backbone.embeddings.weight", {c.V, D}, true);
    if (c.match) t.add("backbone.match_embeddings.weight", {2, D}, true);
    for (int l = 0; l < c.L; l++) {
        std::string p = "backbone.layers." + std::to_string(l) + ".";
        t.add(p + "norm.weight", {D});
        t.add(p + "mixer.in_proj.weight", {2 * E, D}, true);
        t.add(p + "mixer.conv1d.weight", {E, 1, K}, true);
        t.add(p + "mixer.conv1d.bias", {E});
        t.add(p + "mixer.x_proj.weight", {R + 2 * N, E}, true);
        t.add(p + "mixer.dt_proj.weight", {E, R}, true);
        t.add(p + "mixer.dt_proj.bias", {E});
        t.add(p + "mixer.A_log", {E, N});
        t.add(p + "mixer.D", {E});
        t.add(p + "mixer.out_proj.weight", {D, E}, true);
    }
    t.add("backbone.norm_f.weight", {D});
    t.add("score.weight", {1, D}, true);
    // The head's bias is kept for the file format and for pointwise use, but not trained: under the
    // group softmax (shift-invariant) its gradient is identically zero, and AdamW would turn the
    // rounding noise of that zero into lr-sized random steps.
    t.add("score.bias", {1}, false, false);
    return t;
}

template <class T>
void mamba_setup(Mamba<T>& m, const MambaConfig& c, bool training) {
    std::string err = mamba_config_error(c);
    if (!err.empty()) fatal("model config: %s", err.c_str());
    m.cfg = c;
    m.ptable = mamba_param_table(c);
    m.params = Buffer<T>(m.ptable.total);
    m.w = mamba_weights_view(c, m.ptable, m.params.data);
    if (training) {
        m.grads = Buffer<T>(m.ptable.total);
        m.opt_m = Buffer<T>(m.ptable.total);
        m.opt_v = Buffer<T>(m.ptable.total);
        m.g = mamba_weights_view(c, m.ptable, m.grads.data);
    }
}

MambaActTables mamba_act_tables(const MambaConfig& c, int64_t Tn, int64_t Bn, bool training) {
    const int64_t D = c.D, E = c.E, P = c.R + 2 * c.N;
    MambaActTables t;
    for (int l = 0; l < c.L; l++) {
        const std::string p = "layers." + std::to_string(l) + ".";
        t.res.add(p + "x", {Tn, D});
        t.res.add(p + "rstd", {Tn});
        t.act.add(p + "hn", {Tn, D});
        t.act.add(p + "xz", {Tn, 2 * E});
        t.act.add(p + "u", {Tn, E});
        t.act.add(p + "dbc", {Tn, P});
        t.act.add(p + "dt", {Tn, E});
        t.act.add(p + "y", {Tn, E});
    }
    t.act.add("delta", {Tn, D});
    t.res.add("pooled", {Bn, D});
    t.res.add("rstd_f", {Bn});
    t.res.add("h", {Bn, D});
    t.res.add("scores", {Bn});
    if (training) {
        t.res.add("dx", {Tn, D});
        t.res.add("dpooled", {Bn, D});
        t.res.add("dh", {Bn, D});
        t.res.add("dscores", {Bn});
        t.act.add("dhn", {Tn, D});
        t.act.add("dxz", {Tn, 2 * E});
        t.act.add("du", {Tn, E});
        t.act.add("ddbc", {Tn, P});
        t.act.add("ddt", {Tn, E});
        t.act.add("dy", {Tn, E});
    }
    return t;
}

template <class T>
void mamba_setup_acts(Mamba<T>& m, int max_tokens, int max_seqs, int max_len) {
    const MambaConfig& c = m.cfg;
    const bool training = m.grads.data != nullptr;
    m.max_tokens = max_tokens, m.max_seqs = max_seqs, m.max_len = max_len;
    m.atables = mamba_act_tables(c, max_tokens, max_seqs, training);
    if (training)
        m.atables.res.add("scan_scratch",
                          {(int64_t)cpu::scan_scratch_size(max_tokens, max_len, c.N, omp_get_max_threads())});
    m.res = Buffer<T>(m.atables.res.total);
    m.act = Buffer<T>(m.atables.act.total);
    m.a = mamba_acts_view<T, T>(c, m.atables, m.res.data, m.act.data);
    m.a.dx_act = m.a.dx;  // one element type: dx is its own copy in Act
    m.scan_scratch = training ? m.res.data + m.atables.res.offset("scan_scratch") : nullptr;
    m.tokens = Buffer<int32_t>(max_tokens);
    m.offsets = Buffer<int32_t>(max_seqs + 1);
    m.match = Buffer<uint8_t>(max_tokens);
}

template <class T>
void mamba_init_random(Mamba<T>& m, uint64_t seed) {
    const MambaConfig& c = m.cfg;
    Rng rng(seed);
    auto uniform = [&](T* p, int64_t n, double bound) {
        for (int64_t i = 0; i < n; i++) p[i] = (T)rng.uniform(-bound, bound);
    };
    auto normal = [&](T* p, int64_t n, double std) {
        for (int64_t i = 0; i < n; i++) p[i] = (T)(std * rng.normal());
    };
    MambaWeights<T>& w = m.w;
    normal(w.wte, (int64_t)c.V * c.D, 0.02);
    if (w.wme) normal(w.wme, 2 * (int64_t)c.D, 0.02);
    for (auto& lw : w.layers) {
        for (int i = 0; i < c.D; i++) lw.norm[i] = 1;
        uniform(lw.in_proj, 2 * (int64_t)c.E * c.D, 1 / std::sqrt((double)c.D));  // nn.Linear default
        uniform(lw.conv_w, (int64_t)c.E * c.K, 1 / std::sqrt((double)c.K));     // nn.Conv1d, fan_in = K
        uniform(lw.conv_b, c.E, 1 / std::sqrt((double)c.K));
        uniform(lw.x_proj, (int64_t)(c.R + 2 * c.N) * c.E, 1 / std::sqrt((double)c.E));
        uniform(lw.dt_w, (int64_t)c.E * c.R, 1 / std::sqrt((double)c.R));         // dt_init "random", dt_scale 1
        for (int e = 0; e < c.E; e++) {  // dt ~ exp(U(log 1e-3, log 1e-1)), bias = softplus^-1(dt)
            double dt = std::exp(rng.uniform(std::log(1e-3), std::log(1e-1)));
            dt = std::max(dt, 1e-4);
            lw.dt_b[e] = (T)(dt + std::log(-std::expm1(-dt)));
            lw.Dskip[e] = 1;
            for (int n = 0; n < c.N; n++) lw.A_log[e * c.N + n] = (T)std::log((double)(n + 1));
        }
        // nn.Linear default, then mamba's _init_weights rescale of out_proj by 1/sqrt(n_layer).
        uniform(lw.out_proj, (int64_t)c.D * c.E, 1 / std::sqrt((double)c.E) / std::sqrt((double)c.L));
    }
    for (int i = 0; i < c.D; i++) w.norm_f[i] = 1;
    normal(w.head_w, c.D, 0.02);
    w.head_b[0] = 0;
}

namespace {

// The CPU policy of orchestration.h: one element type T for everything; the batch (host arrays)
// and the scan's scratch are the model's.
template <class T>
struct CpuOps {
    using Act = T;
    using Res = T;
    using Par = T;
    const int32_t* tokens;
    const uint8_t* match;  // nullptr: no match feature
    const int32_t* offsets;
    int max_len;           // the batch's longest sequence
    T* scan_scratch;

    void embedding_forward(T* x, const T* wte, const T* wme, int Tn, int D) {
        cpu::embedding_forward(x, tokens, match, wte, wme, Tn, D);
    }
    void rmsnorm_forward(T* out, T* rstd, T* x_out, const T* x_in, const T* delta, const T* w, int Tn, int D,
                         float eps) {
        cpu::rmsnorm_forward(out, rstd, x_out, x_in, delta, w, Tn, D, eps);
    }
    void matmul_forward(T* out, int ldo, const T* a, int lda, const T* w, int M, int Nout, int Kin, bool accumulate) {
        cpu::matmul_forward(out, ldo, a, lda, w, M, Nout, Kin, accumulate);
    }
    void conv1d_forward(T* u, int ldu, const T* x, int ldx, const T* w, const T* b, int B, int Tn, int E, int K) {
        cpu::conv1d_forward(u, ldu, x, ldx, w, b, offsets, B, E, K);
    }
    void scan_forward(Strided<T> out, T* ckpt, const ScanInputs<T>& in, const ScanWeights<T>& weights, int B, int Tn,
                      int E, int N) {
        cpu::scan_forward<T>(out, in, weights, {.offsets = offsets, .B = B, .Tn = Tn, .E = E, .N = N});
    }
    void pool_last(T* pooled, const T* x, const T* delta, int B, int D) { cpu::pool_last(pooled, x, delta, offsets, B, D); }
    void head_forward(T* scores, const T* h, const T* w, const T* bias, int B, int D) {
        cpu::head_forward(scores, h, w, bias, B, D);
    }

    void head_backward(T* dh, T* dw, T* dbias, const T* dscores, const T* h, const T* w, int B, int D) {
        cpu::head_backward(dh, dw, dbias, dscores, h, w, B, D);
    }
    void zero(T* p, size_t n) { std::memset((void*)p, 0, sizeof(T) * n); }
    void to_act(T* dst, const T* src, size_t n) { ENGINE_ASSERT(dst == src); }
    // dx_act is dx itself here (or null): nothing to copy.
    void rmsnorm_backward(T* dx, T* dx_act, T* dw, const T* dout, const T* x, const T* rstd, const T* w, int Tn,
                          int D) {
        cpu::rmsnorm_backward(dx, dw, dout, x, rstd, w, Tn, D);
    }
    void pool_last_backward(T* dx, const T* dpooled, int B, int D) { cpu::pool_last_backward(dx, dpooled, offsets, B, D); }
    void matmul_backward(T* da, int ldda, T* dw, const T* dout, int lddo, const T* a, int lda, const T* w, int M,
                         int Nout, int Kin, bool accumulate_da) {
        cpu::matmul_backward(da, ldda, dw, dout, lddo, a, lda, w, M, Nout, Kin, accumulate_da);
    }
    void scan_backward(const ScanGrads<T>& grads, Strided<const T> dout, const T* ckpt, const ScanInputs<T>& in,
                       const ScanWeights<T>& weights, int B, int Tn, int E, int N) {
        cpu::scan_backward<T>(grads, scan_scratch, dout, in, weights,
                              {.offsets = offsets, .B = B, .Tn = Tn, .E = E, .N = N}, max_len);
    }
    void conv1d_backward(T* dx, int lddx, T* dw, T* db, const T* du, int lddu, const T* x, int ldx, const T* w,
                         const T* b, int B, int Tn, int E, int K) {
        cpu::conv1d_backward(dx, lddx, dw, db, du, lddu, x, ldx, w, b, offsets, B, E, K);
    }
    void embedding_backward(T* dwte, T* dwme, const T* dx, int Tn, int D) {
        cpu::embedding_backward(dwte, dwme, dx, tokens, match, Tn, D);
    }
};

template <class T>
CpuOps<T> cpu_ops(Mamba<T>& m) {
    return {m.tokens.data, m.cfg.match ? m.match.data : nullptr, m.offsets.data, m.batch_max_len, m.scan_scratch};
}

}  // namespace

template <class T>
const T* mamba_forward(Mamba<T>& m, const Batch& batch) {
    const MambaConfig& c = m.cfg;
    const int max_len = check_batch(batch, c.V, c.match, m.max_tokens, m.max_seqs, m.max_len);
    std::copy(batch.tokens.begin(), batch.tokens.end(), m.tokens.data);
    std::copy(batch.offsets.begin(), batch.offsets.end(), m.offsets.data);
    if (c.match) std::copy(batch.match.begin(), batch.match.end(), m.match.data);
    m.B = batch.B(), m.Tn = batch.T(), m.batch_max_len = max_len;
    CpuOps<T> ops = cpu_ops(m);
    mamba_forward_pass(ops, c, m.w, m.w, m.a, m.B, m.Tn);
    return m.a.scores;
}

template <class T>
void mamba_backward(Mamba<T>& m, const T* dscores) {
    ENGINE_ASSERT(m.grads.data && m.B > 0);
    if (dscores != m.a.dscores) std::copy(dscores, dscores + m.B, m.a.dscores);
    CpuOps<T> ops = cpu_ops(m);
    mamba_backward_pass(ops, m.cfg, m.w, m.w, m.g, m.a, m.B, m.Tn);
}

#define INSTANTIATE(T)                                                                         \
    template struct Mamba<T>;                                                                  \
    template void mamba_setup<T>(Mamba<T>&, const MambaConfig&, bool);                         \
    template void mamba_setup_acts<T>(Mamba<T>&, int, int, int);                               \
    template void mamba_init_random<T>(Mamba<T>&, uint64_t);                                   \
    template const T* mamba_forward<T>(Mamba<T>&, const Batch&);                               \
    template void mamba_backward<T>(Mamba<T>&, const T*);
INSTANTIATE(float)
INSTANTIATE(double)
