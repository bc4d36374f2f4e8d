// The Mamba-1 reranker: configuration, its tensor tables, and the CPU model (parameters, gradients,
// AdamW moments, activations). The layer order, forward and backward, is written once, over any
// backend, in orchestration.h; mamba.cpp runs it over the CPU layers of src/cpu/, cuda/mamba_model.cu
// over the CUDA kernels.
//
// Forward (state-spaces/mamba mamba_simple.py, MambaForCausalLM's backbone, plus a scoring head):
//   x_0 = embed(tokens) [+ match_embed(match flags)]                         [T, D]
//   for l in 0..L-1:
//     hn   = RMSNorm(x_l) * norm.weight                                       [T, D]
//     xz   = hn @ in_proj^T;  x = xz[:, :E], z = xz[:, E:]                    [T, 2E]
//     u    = SiLU(causal_conv1d(x) + conv.bias)       per sequence            [T, E]
//     dbc  = u @ x_proj^T;  dt_in = dbc[:, :R], B = dbc[:, R:R+N], C = dbc[:, R+N:]   [T, R+2N]
//     dt   = dt_in @ dt_proj^T  (its bias is applied inside the scan)         [T, E]
//     y    = scan(u, dt + dt_proj.bias, A_log, B, C, D) * SiLU(z)             [T, E]
//     x_{l+1} = x_l + y @ out_proj^T                                          [T, D]
//   pooled = x_L[last token of each sequence];  h = RMSNorm(pooled) * norm_f  [B, D]
//   score  = h @ score.weight^T + score.bias                                  [B]
// The residual add x_{l+1} = x_l + delta_l (delta_l = y @ out_proj^T) is done by the next block's
// RMSNorm, and the last one by the pooling, on the last tokens only: x_L is never stored whole.
//
// Memory: parameters, gradients, AdamW m and v are four allocations of one table (mamba_param_table);
// activations one allocation of another (sized for a maximum batch at setup). A training step
// allocates nothing.
//
// The family (mamba_family, src/models/mamba/family.cpp) wraps Mamba<float> for the trainer and the
// programs (core/model.h); the tests also use Mamba<double> directly (finite differences).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/batch.h"
#include "core/model.h"
#include "core/tensor.h"

struct MambaConfig {
    int D = 0;         // d_model
    int L = 0;         // n_layer
    int N = 16;        // d_state
    int K = 4;         // d_conv
    int E = 0;         // d_inner = expand * D
    int R = 0;         // dt_rank
    int V = 0;         // vocabulary size (rows of the embedding; may be padded past the tokenizer's)
    float eps = 1e-5f; // RMSNorm epsilon
    int match = 0;     // 1: the exact-match flag embedding is added to the token embedding
};

// Checks the ranges of every field; returns "" or a description of the first bad field.
std::string mamba_config_error(const MambaConfig& c);

// The family's config entries (weights-file keys d_model, n_layer, d_state, d_conv, d_inner, dt_rank,
// vocab_size, norm_eps, match_feature) and back. mamba_config throws std::runtime_error for an entry
// that is missing or not an integer; mamba_config_error checks the ranges.
MambaConfig mamba_config(const ModelConfig& c);
ModelConfig model_config(const MambaConfig& c);
// The config of a Mamba weights file; throws "<path>: ..." (not a Mamba file, bad entry).
MambaConfig mamba_config_from(const WeightsFile& f);

extern const ModelFamily mamba_family;

// The parameter table, with Hugging Face names (MambaForCausalLM, minus lm_head, plus score.*).
TensorTable mamba_param_table(const MambaConfig& c);

template <class T>
struct MambaLayerWeights {
    T *norm, *in_proj, *conv_w, *conv_b, *x_proj, *dt_w, *dt_b, *A_log, *Dskip, *out_proj;
};

// Pointers into one buffer laid out by mamba_param_table (the parameters, or their gradients, ...).
template <class T>
struct MambaWeights {
    T *wte = nullptr, *wme = nullptr;
    std::vector<MambaLayerWeights<T>> layers;
    T *norm_f = nullptr, *head_w = nullptr, *head_b = nullptr;
};

// Any element type: the CUDA backend lays a bf16 copy of the parameters out by the same table.
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

// Activations kept for backward, for one layer. A: the activations' element type, Res: the residual
// stream's (and rstd's); on the CPU both are T, on the GPU A is bf16 or fp32 and Res fp32. x is the
// block's input x_l (for l >= 1 written by the fused residual add); ckpt is what the scan keeps for
// its backward beyond its inputs (the GPU's per-chunk states; nullptr on the CPU).
template <class A, class Res = A>
struct MambaLayerActs {
    Res *x, *rstd;
    A *hn, *xz, *u, *dbc, *dt, *y;
    Res* ckpt;
};

template <class A, class Res = A>
struct MambaActs {
    std::vector<MambaLayerActs<A, Res>> layers;
    A* delta;                                  // [T, D] a block's out_proj output, added by the next step
    Res *pooled, *rstd_f, *h, *scores;         // [B, D], [B], [B, D], [B]: after the last layer
    Res* dx;                                   // [T, D] the residual stream's gradient
    A* dx_act;                                 // [T, D] dx in type A, read by out_proj's backward (CPU: dx)
    A *dhn, *dxz, *du, *ddbc, *ddt, *dy;       // backward work buffers, shaped as hn, xz, u, dbc, dt, y
    Res *dpooled, *dh, *dscores;               // [B, D], [B, D], [B]
};

// The activation tables for batches of at most Tn tokens and Bn sequences, laid out once for every
// backend: `res` holds what has the residual stream's type (per layer x [T, D], rstd [T]; pooled,
// rstd_f, h, scores; when training dx [T, D], dpooled, dh [B, D], dscores [B]), `act` what has the
// activations' type (per layer hn [T, D], xz [T, 2E], u [T, E], dbc [T, R+2N], dt, y [T, E]; delta
// [T, D]; when training dhn, dxz, du, ddbc, ddt, dy). A backend adds its own entries (the CPU scan's
// scratch; the GPU's scan checkpoints "layers.<l>.ckpt", dx_act, scratch) before allocating.
struct MambaActTables {
    TensorTable res, act;
};
MambaActTables mamba_act_tables(const MambaConfig& c, int64_t Tn, int64_t Bn, bool training);

// Pointers into the two allocations laid out by those tables (an entry a backend did not add: nullptr).
template <class A, class Res>
MambaActs<A, Res> mamba_acts_view(const MambaConfig& c, const MambaActTables& t, Res* res, A* act) {
    auto r = [&](const std::string& name) { return t.res.find(name) < 0 ? nullptr : res + t.res.offset(name); };
    auto x = [&](const std::string& name) { return t.act.find(name) < 0 ? nullptr : act + t.act.offset(name); };
    MambaActs<A, Res> a;
    for (int l = 0; l < c.L; l++) {
        const std::string p = "layers." + std::to_string(l) + ".";
        a.layers.push_back({r(p + "x"), r(p + "rstd"), x(p + "hn"), x(p + "xz"), x(p + "u"), x(p + "dbc"), x(p + "dt"),
                            x(p + "y"), r(p + "ckpt")});
    }
    a.delta = x("delta"), a.pooled = r("pooled"), a.rstd_f = r("rstd_f"), a.h = r("h"), a.scores = r("scores");
    a.dx = r("dx"), a.dx_act = x("dx_act");
    a.dhn = x("dhn"), a.dxz = x("dxz"), a.du = x("du"), a.ddbc = x("ddbc"), a.ddt = x("ddt"), a.dy = x("dy");
    a.dpooled = r("dpooled"), a.dh = r("dh"), a.dscores = r("dscores");
    return a;
}

template <class T>
struct Mamba {
    MambaConfig cfg;
    TensorTable ptable;
    Buffer<T> params, grads, opt_m, opt_v;
    MambaWeights<T> w, g;
    // Activations, sized for at most max_tokens tokens, max_seqs sequences, max_len tokens per sequence.
    int max_tokens = 0, max_seqs = 0, max_len = 0;
    MambaActTables atables;
    Buffer<T> res, act;  // the activations, laid out by atables
    MambaActs<T> a;
    T* scan_scratch = nullptr;  // the CPU scan backward's scratch (inside res)
    Buffer<int32_t> tokens, offsets;
    Buffer<uint8_t> match;
    int B = 0, Tn = 0, batch_max_len = 0;  // the batch of the last forward
};

template <class T>
void mamba_setup(Mamba<T>& m, const MambaConfig& c, bool training);   // allocates parameters (+ grads, m, v)
template <class T>
void mamba_setup_acts(Mamba<T>& m, int max_tokens, int max_seqs, int max_len);
// mamba_simple.py's initialisation (dt bias from a log-uniform dt in [1e-3, 1e-1], A_log = log(1..N),
// D = 1, out_proj scaled by 1/sqrt(L), embeddings N(0, 0.02)), from `seed`.
template <class T>
void mamba_init_random(Mamba<T>& m, uint64_t seed);
// Runs the model on a batch; returns scores [B] (inside m.res). fatal() if the batch exceeds the setup.
template <class T>
const T* mamba_forward(Mamba<T>& m, const Batch& batch);
// Accumulates parameter gradients for dscores [B] of the last forward.
template <class T>
void mamba_backward(Mamba<T>& m, const T* dscores);
