// Model orchestration of the Mamba-1 reranker over the CPU layers (math and shapes in mamba.h; each
// layer's math and backward derivation in src/cpu/<layer>.cpp).
#include "mamba.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "cpu/layers.h"
#include "rng.h"

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
MambaWeights<T> mamba_weights_view(const MambaConfig& c, const TensorTable& table, T* base) {
    auto at = [&](const std::string& name) { return base + table.offset(name); };
    MambaWeights<T> w;
    w.wte = at("backbone.embeddings.weight");
    w.wme = c.match ? at("backbone.match_embeddings.weight") : nullptr;
    for (int l = 0; l < c.L; l++) {
        std::string p = "backbone.layers." + std::to_string(l) + ".";
        w.layers.push_back({at(p + "norm.weight"), at(p + "mixer.in_proj.weight"), at(p + "mixer.conv1d.weight"),
                            at(p + "mixer.conv1d.bias"), at(p + "mixer.x_proj.weight"),
                            at(p + "mixer.dt_proj.weight"), at(p + "mixer.dt_proj.bias"), at(p + "mixer.A_log"),
                            at(p + "mixer.D"), at(p + "mixer.out_proj.weight")});
    }
    w.norm_f = at("backbone.norm_f.weight");
    w.head_w = at("score.weight");
    w.head_b = at("score.bias");
    return w;
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
    t.add("x_out", {Tn, D});
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
                            at(p + "dt"), at(p + "y")});
    }
    a.x_out = at("x_out"), a.pooled = at("pooled"), a.rstd_f = at("rstd_f"), a.h = at("h"), a.scores = at("scores");
    a.dx = at("dx"), a.dhn = at("dhn"), a.dxz = at("dxz"), a.du = at("du"), a.ddbc = at("ddbc"), a.ddt = at("ddt");
    a.dy = at("dy"), a.dpooled = at("dpooled"), a.dh = at("dh"), a.dscores = at("dscores");
    a.scan_scratch = at("scan_scratch");
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

template <class T>
const T* mamba_forward(Mamba<T>& m, const Batch& batch) {
    const MambaConfig& c = m.cfg;
    const int B = batch.B(), Tn = batch.T(), D = c.D, E = c.E, N = c.N, R = c.R, P = R + 2 * N;
    int max_len = 0;
    for (int b = 0; b < B; b++) {
        int len = batch.offsets[b + 1] - batch.offsets[b];
        if (len < 1) fatal("batch: sequence %d is empty", b);
        max_len = std::max(max_len, len);
    }
    if (B < 1 || Tn > m.max_tokens || B > m.max_seqs || max_len > m.max_len)
        fatal("batch of %d sequences, %d tokens, longest %d exceeds the setup (%d, %d, %d)", B, Tn, max_len,
              m.max_seqs, m.max_tokens, m.max_len);
    for (int t = 0; t < Tn; t++)
        if (batch.tokens[t] < 0 || batch.tokens[t] >= c.V)
            fatal("batch: token id %d at position %d is outside the vocabulary (%d)", batch.tokens[t], t, c.V);
    if (c.match && (int)batch.match.size() != Tn) fatal("batch: the model needs exact-match flags");
    std::copy(batch.tokens.begin(), batch.tokens.end(), m.tokens.data);
    std::copy(batch.offsets.begin(), batch.offsets.end(), m.offsets.data);
    if (c.match) std::copy(batch.match.begin(), batch.match.end(), m.match.data);
    m.B = B, m.Tn = Tn, m.batch_max_len = max_len;
    const int32_t* off = m.offsets.data;
    MambaActs<T>& a = m.a;

    cpu::embedding_forward(a.layers[0].x, m.tokens.data, c.match ? m.match.data : nullptr, m.w.wte, m.w.wme, Tn, D);
    for (int l = 0; l < c.L; l++) {
        const MambaLayerWeights<T>& w = m.w.layers[l];
        MambaLayerActs<T>& s = a.layers[l];
        T* x_next = l + 1 < c.L ? a.layers[l + 1].x : a.x_out;
        cpu::rmsnorm_forward(s.hn, s.rstd, s.x, w.norm, Tn, D, c.eps);
        cpu::matmul_forward(s.xz, 2 * E, s.hn, D, w.in_proj, Tn, 2 * E, D, false);
        cpu::conv1d_forward(s.u, E, s.xz, 2 * E, w.conv_w, w.conv_b, off, B, E, c.K);
        cpu::matmul_forward(s.dbc, P, s.u, E, w.x_proj, Tn, P, E, false);
        cpu::matmul_forward(s.dt, E, s.dbc, P, w.dt_w, Tn, E, R, false);
        cpu::scan_forward(s.y, E, s.u, E, s.dt, E, s.dbc + R, s.dbc + R + N, P, s.xz + E, 2 * E, w.A_log,
                          w.Dskip, w.dt_b, off, B, E, N);
        std::memcpy(x_next, s.x, sizeof(T) * Tn * D);  // the residual: x_{l+1} = x_l + out_proj(y)
        cpu::matmul_forward(x_next, D, s.y, E, w.out_proj, Tn, D, E, true);
    }
    cpu::pool_last(a.pooled, a.x_out, off, B, D);
    cpu::rmsnorm_forward(a.h, a.rstd_f, a.pooled, m.w.norm_f, B, D, c.eps);
    cpu::head_forward(a.scores, a.h, m.w.head_w, m.w.head_b, B, D);
    return a.scores;
}

template <class T>
void mamba_backward(Mamba<T>& m, const T* dscores) {
    const MambaConfig& c = m.cfg;
    ENGINE_ASSERT(m.grads.data && m.B > 0);
    const int B = m.B, Tn = m.Tn, D = c.D, E = c.E, N = c.N, R = c.R, P = R + 2 * N;
    const int32_t* off = m.offsets.data;
    MambaActs<T>& a = m.a;
    MambaWeights<T>& g = m.g;

    cpu::head_backward(a.dh, g.head_w, g.head_b, dscores, a.h, m.w.head_w, B, D);
    std::memset((void*)a.dpooled, 0, sizeof(T) * B * D);
    cpu::rmsnorm_backward(a.dpooled, g.norm_f, a.dh, a.pooled, a.rstd_f, m.w.norm_f, B, D);
    std::memset((void*)a.dx, 0, sizeof(T) * Tn * D);  // dx: the gradient of the residual stream
    cpu::pool_last_backward(a.dx, a.dpooled, off, B, D);
    for (int l = c.L - 1; l >= 0; l--) {
        const MambaLayerWeights<T>& w = m.w.layers[l];
        const MambaLayerWeights<T>& gw = g.layers[l];
        MambaLayerActs<T>& s = a.layers[l];
        // x_{l+1} = x_l + y @ out_proj^T: dx passes through unchanged and feeds the mixer.
        cpu::matmul_backward(a.dy, E, gw.out_proj, a.dx, D, s.y, E, w.out_proj, Tn, D, E, false);
        cpu::scan_backward(a.du, E, a.ddt, E, a.ddbc + R, a.ddbc + R + N, P, a.dxz + E, 2 * E, gw.A_log, gw.Dskip,
                           gw.dt_b, a.scan_scratch, a.dy, E, s.u, E, s.dt, E, s.dbc + R, s.dbc + R + N, P,
                           s.xz + E, 2 * E, w.A_log, w.Dskip, w.dt_b, off, B, E, N, m.batch_max_len);
        cpu::matmul_backward(a.ddbc, P, gw.dt_w, a.ddt, E, s.dbc, P, w.dt_w, Tn, E, R, false);
        cpu::matmul_backward(a.du, E, gw.x_proj, a.ddbc, P, s.u, E, w.x_proj, Tn, P, E, true);
        cpu::conv1d_backward(a.dxz, 2 * E, gw.conv_w, gw.conv_b, a.du, E, s.xz, 2 * E, w.conv_w, w.conv_b, off, B,
                             E, c.K);
        cpu::matmul_backward(a.dhn, D, gw.in_proj, a.dxz, 2 * E, s.hn, D, w.in_proj, Tn, 2 * E, D, false);
        cpu::rmsnorm_backward(a.dx, gw.norm, a.dhn, s.x, s.rstd, w.norm, Tn, D);
    }
    cpu::embedding_backward(g.wte, g.wme, a.dx, m.tokens.data, c.match ? m.match.data : nullptr, Tn, D);
}

#define INSTANTIATE(T)                                                                         \
    template struct Mamba<T>;                                                                  \
    template MambaWeights<T> mamba_weights_view<T>(const MambaConfig&, const TensorTable&, T*); \
    template void mamba_setup<T>(Mamba<T>&, const MambaConfig&, bool);                         \
    template void mamba_setup_acts<T>(Mamba<T>&, int, int, int);                               \
    template void mamba_init_random<T>(Mamba<T>&, uint64_t);                                   \
    template const T* mamba_forward<T>(Mamba<T>&, const Batch&);                               \
    template void mamba_backward<T>(Mamba<T>&, const T*);
INSTANTIATE(float)
INSTANTIATE(double)
