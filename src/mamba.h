// The Mamba-1 reranker: configuration, its tensor tables, and the model orchestration (which layers run
// in which order and what is kept for backward), written once over the CPU layers of src/cpu/.
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
//
// Memory: parameters, gradients, AdamW m and v are four allocations of one table (mamba_param_table);
// activations one allocation of another (sized for a maximum batch at setup). A training step
// allocates nothing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor.h"

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

// The parameter table, with Hugging Face names (MambaForCausalLM, minus lm_head, plus score.*).
TensorTable mamba_param_table(const MambaConfig& c);

// A packed batch: B sequences of tokens, concatenated. offsets has B+1 entries.
struct Batch {
    std::vector<int32_t> tokens;
    std::vector<uint8_t> match;    // per token, 0/1; empty when the model has no match feature
    std::vector<int32_t> offsets;  // offsets[0] = 0, offsets[B] = T
    int B() const { return (int)offsets.size() - 1; }
    int T() const { return offsets.empty() ? 0 : offsets.back(); }
};

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

template <class T>
MambaWeights<T> mamba_weights_view(const MambaConfig& c, const TensorTable& table, T* base);

// Activations kept for backward, and the gradient buffers of backward, for one layer.
template <class T>
struct MambaLayerActs {
    T *x, *rstd, *hn, *xz, *u, *dbc, *dt, *y;
};

template <class T>
struct MambaActs {
    std::vector<MambaLayerActs<T>> layers;
    T *x_out, *pooled, *rstd_f, *h, *scores;                  // forward, after the last layer
    T *dx, *dhn, *dxz, *du, *ddbc, *ddt, *dy, *dpooled, *dh, *dscores;  // backward work buffers
    T* scan_scratch;
};

template <class T>
struct Mamba {
    MambaConfig cfg;
    TensorTable ptable;
    Buffer<T> params, grads, opt_m, opt_v;
    MambaWeights<T> w, g;
    // Activations, sized for at most max_tokens tokens, max_seqs sequences, max_len tokens per sequence.
    int max_tokens = 0, max_seqs = 0, max_len = 0;
    TensorTable atable;
    Buffer<T> acts;
    MambaActs<T> a;
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
// Runs the model on a batch; returns scores [B] (inside m.acts). fatal() if the batch exceeds the setup.
template <class T>
const T* mamba_forward(Mamba<T>& m, const Batch& batch);
// Accumulates parameter gradients for dscores [B] of the last forward.
template <class T>
void mamba_backward(Mamba<T>& m, const T* dscores);
