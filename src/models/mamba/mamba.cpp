// The Mamba-1 reranker on the CPU backend: tables, setup, initialisation, and the CPU policy that runs
// the one layer order of mamba_orchestration.h over the layers of src/cpu/ (math and shapes in mamba.h).
#include "models/mamba/mamba.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/common.h"
#include "cpu/layers.h"
#include "models/mamba/orchestration.h"
#include "core/rng.h"

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

template <class T>
void mamba_setup_acts(Mamba<T>& m, int max_tokens, int max_seqs, int max_len) {
    const MambaConfig& c = m.cfg;
    const int64_t Tn = max_tokens, Bn = max_seqs, D = c.D, E = c.E, P = c.R + 2 * c.N;
    m.max_tokens = max_tokens, m.max_seqs = max_seqs, m.max_len = max_len;
    TensorTable& t = m.atable;
    t = TensorTable();
    for (int l = 0; l < c.L; l++) {
        std::string p = "layers." + std::to_string(l) + ".";
        t.add(p + "x", {Tn, D});
        t.add(p + "rstd", {Tn});
        t.add(p + "hn", {Tn, D});
        t.add(p + "xz", {Tn, 2 * E});
        t.add(p + "u", {Tn, E});
        t.add(p + "dbc", {Tn, P});
        t.add(p + "dt", {Tn, E});
        t.add(p + "y", {Tn, E});
    }
    t.add("delta", {Tn, D});
    t.add("pooled", {Bn, D});
    t.add("rstd_f", {Bn});
    t.add("h", {Bn, D});
    t.add("scores", {Bn});
    if (m.grads.data) {
        t.add("dx", {Tn, D});
        t.add("dhn", {Tn, D});
        t.add("dxz", {Tn, 2 * E});
        t.add("du", {Tn, E});
        t.add("ddbc", {Tn, P});
        t.add("ddt", {Tn, E});
        t.add("dy", {Tn, E});
        t.add("dpooled", {Bn, D});
        t.add("dh", {Bn, D});
        t.add("dscores", {Bn});
        t.add("scan_scratch", {(int64_t)cpu::scan_scratch_size(max_tokens, max_len, c.N, omp_get_max_threads())});
    }
    m.acts = Buffer<T>(t.total);
    auto at = [&](const std::string& name) { return t.find(name) < 0 ? nullptr : m.acts.data + t.offset(name); };
    MambaActs<T>& a = m.a;
    a.layers.clear();
    for (int l = 0; l < c.L; l++) {
        std::string p = "layers." + std::to_string(l) + ".";
        a.layers.push_back({at(p + "x"), at(p + "rstd"), at(p + "hn"), at(p + "xz"), at(p + "u"), at(p + "dbc"),
                            at(p + "dt"), at(p + "y"), nullptr});
    }
    a.delta = at("delta"), a.pooled = at("pooled"), a.rstd_f = at("rstd_f"), a.h = at("h"), a.scores = at("scores");
    a.dx = at("dx"), a.dx_act = a.dx;  // one element type: dx is its own copy in Act
    a.dhn = at("dhn"), a.dxz = at("dxz"), a.du = at("du"), a.ddbc = at("ddbc"), a.ddt = at("ddt"), a.dy = at("dy");
    a.dpooled = at("dpooled"), a.dh = at("dh"), a.dscores = at("dscores");
    m.scan_scratch = at("scan_scratch");
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

int check_batch(const Batch& batch, const MambaConfig& c, int max_tokens, int max_seqs, int max_len) {
    const int B = batch.B(), Tn = batch.T();
    int longest = 0;
    for (int b = 0; b < B; b++) {
        int len = batch.offsets[b + 1] - batch.offsets[b];
        if (len < 1) fatal("batch: sequence %d is empty", b);
        longest = std::max(longest, len);
    }
    if (B < 1 || Tn > max_tokens || B > max_seqs || longest > max_len)
        fatal("batch of %d sequences, %d tokens, longest %d exceeds the setup (%d, %d, %d)", B, Tn, longest, max_seqs,
              max_tokens, max_len);
    for (int t = 0; t < Tn; t++)
        if (batch.tokens[t] < 0 || batch.tokens[t] >= c.V)
            fatal("batch: token id %d at position %d is outside the vocabulary (%d)", batch.tokens[t], t, c.V);
    if (c.match && (int)batch.match.size() != Tn) fatal("batch: the model needs exact-match flags");
    return longest;
}

namespace {

// The CPU policy of mamba_orchestration.h: one element type T for everything; the batch (host arrays)
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
    const int max_len = check_batch(batch, c, m.max_tokens, m.max_seqs, m.max_len);
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
