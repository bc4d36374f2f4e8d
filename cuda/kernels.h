// The CUDA backend's layers: host launchers of the kernels in cuda/<layer>.cu (one file per layer, its
// math, shapes, thread mapping, cache and traffic in the file's header comment).
//
// Conventions, the same as the CPU backend's (src/cpu/layers.h):
//   - arguments: outputs, cached values (and scratch), inputs, weights, then dimensions, then the stream;
//   - gradients carry a `d` prefix; parameter gradients ACCUMULATE (+=) and are fp32; activation
//     gradients are WRITTEN (=) unless the comment says otherwise (the residual stream's dx is +=);
//   - a packed batch is B sequences concatenated into T tokens; offsets [B+1] (a DEVICE array) gives
//     sequence b as tokens offsets[b] .. offsets[b+1]-1, and T = offsets[B] is passed as Tn;
//   - activations are row-major [T, C] with a row stride `ld` so that column slices (x and z in xz,
//     dt/B/C in x_proj's output) are passed without a copy;
//   - T is the working element type of activations and GEMM weights: float (fp32 mode, for tests) or
//     __nv_bfloat16; accumulation is fp32 everywhere; the residual stream, rstd, scan state, master
//     weights, their gradients, and the small per-channel parameters are fp32 (see runtime.h).
// Scratch sizes are in floats (ints for the embedding) and depend only on the dimensions, so that a
// training step allocates nothing. Every launcher checks its launch (CUDA_CHECK_LAUNCH).
// Glossary (README, Architecture): B sequences, T tokens, D d_model, E d_inner, N d_state, R dt_rank,
// K d_conv, V vocab, G group.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/optim.h"
#include "core/views.h"
#include "runtime.h"

namespace gpu {

// ---- runtime.cu --------------------------------------------------------------------------------------
template <class T>
void convert(T* out, const float* in, size_t n, cudaStream_t stream);  // out [n] = T(in [n])

// ---- embedding.cu ------------------------------------------------------------------------------------
// x [T, D] fp32 = wte[tokens] (+ wme[match]). tokens [T] int32, match [T] uint8 (or nullptr) on the
// device; wte [V, D], wme [2, D] (or nullptr) of type T.
template <class T>
void embedding_forward(float* x, const int32_t* tokens, const uint8_t* match, const T* wte, const T* wme, int Tn,
                       int D, cudaStream_t stream);
// dwte [V, D] fp32 (+ dwme [2, D] fp32, or nullptr) += dx [T, D] fp32 by rows; tokens_host [T],
// match_host [T] are the HOST copies (the buckets are built on the host). scratch: device ints,
// embedding_backward_scratch(T) of them.
size_t embedding_backward_scratch(int Tn);
void embedding_backward(float* dwte, float* dwme, int32_t* scratch, const float* dx, const int32_t* tokens_host,
                        const uint8_t* match_host, int Tn, int D, cudaStream_t stream);

// ---- rmsnorm.cu --------------------------------------------------------------------------------------
// With delta: x_out = x_in + delta, then out = rmsnorm(x_out) * w; without (nullptr): out = rmsnorm(x_in) * w.
// out [T, D] T; rstd [T] fp32 (cached); x_out, x_in [T, D] fp32; delta [T, D] T; w [D] fp32.
template <class T>
void rmsnorm_forward(T* out, float* rstd, float* x_out, const float* x_in, const T* delta, const float* w, int Tn,
                     int D, float eps, cudaStream_t stream);
// dx [T, D] fp32 += (the residual gradient), dx_T [T, D] = T(dx) (or nullptr), dw [D] fp32 +=;
// dout [T, D] T; x [T, D] fp32 and rstd [T] as cached by forward; w [D]. scratch: rmsnorm_backward_scratch floats.
size_t rmsnorm_backward_scratch(int Tn, int D);
template <class T>
void rmsnorm_backward(float* dx, T* dx_T, float* dw, float* scratch, const T* dout, const float* x,
                      const float* rstd, const float* w, int Tn, int D, cudaStream_t stream);
// dst [n] += sum_p partial [P, n], in a fixed order that depends only on P (the deterministic second
// pass of the layers' reductions).
void sum_partials(float* dst, const float* partial, int P, int n, cudaStream_t stream);

// ---- matmul.cu ---------------------------------------------------------------------------------------
// out [M, Nout] (ld ldo) (+)= a [M, Kin] (ld lda) @ w [Nout, Kin]^T, all T; backward: da [M, Kin] (ld ldda)
// (+)= dout [M, Nout] (ld lddo) @ w, dw [Nout, Kin] fp32 += dout^T @ a. The stream is the handle's.
template <class T>
void matmul_forward(cublasHandle_t h, T* out, int ldo, const T* a, int lda, const T* w, int M, int Nout, int Kin,
                    bool accumulate);
template <class T>
void matmul_backward(cublasHandle_t h, T* da, int ldda, float* dw, const T* dout, int lddo, const T* a, int lda,
                     const T* w, int M, int Nout, int Kin, bool accumulate_da);

// ---- conv1d.cu ---------------------------------------------------------------------------------------
// u [T, E] (ld ldu) = SiLU(causal conv of x [T, E] (ld ldx) with w [E, K] fp32 + b [E] fp32), per sequence.
// Backward: dx [T, E] (ld lddx) written; dw [E, K], db [E] fp32 +=; du [T, E] (ld lddu). K in 2..4.
template <class T>
void conv1d_forward(T* u, int ldu, const T* x, int ldx, const float* w, const float* b, const int32_t* offsets,
                    int B, int Tn, int E, int K, cudaStream_t stream);
size_t conv1d_backward_scratch(int Tn, int E, int K);
template <class T>
void conv1d_backward(T* dx, int lddx, float* dw, float* db, float* scratch, const T* du, int lddu, const T* x,
                     int ldx, const float* w, const float* b, const int32_t* offsets, int B, int Tn, int E, int K,
                     cudaStream_t stream);

// ---- scan.cu -----------------------------------------------------------------------------------------
// Forward: out [T, E] T; ckpt: the per-chunk states forward caches for backward, scan_checkpoint_size
// floats (nullptr when no backward follows: scoring); scratch: scan_forward_scratch floats, the segment
// summaries when long sequences in a small batch are cut over time (seg_len, forward and backward:
// 0 = chosen from the GPU's size; a multiple of 32, >= 64; >= Tn: no cut). The views (src/core/views.h):
// in.u, in.dt, in.z [T, E] and in.Bm, in.Cm [T, N], all T; weights A_log [E, N], Dskip [E], dt_bias [E]
// fp32; dims.offsets on the device. N <= 16. Bm and Cm share one row stride (slices of x_proj's output;
// checked), and so do dBm and dCm.
// Backward: grads du, ddt, dz [T, E] and dBm, dCm [T, N] written, T; dA_log [E, N], dDskip [E],
// ddt_bias [E] fp32 +=; scratch: scan_backward_scratch floats; dout [T, E] T.
size_t scan_checkpoint_size(int B, int Tn, int E, int N);
size_t scan_forward_scratch(int B, int Tn, int E, int N);
size_t scan_backward_scratch(int B, int Tn, int E, int N);
template <class T>
void scan_forward(Strided<T> out, float* ckpt, float* scratch, const ScanInputs<T>& in,
                  const ScanWeights<float>& weights, const ScanDims& dims, cudaStream_t stream, int seg_len = 0);
template <class T>
void scan_backward(const ScanGrads<T, float>& grads, float* scratch, Strided<const T> dout, const float* ckpt,
                   const ScanInputs<T>& in, const ScanWeights<float>& weights, const ScanDims& dims,
                   cudaStream_t stream, int seg_len = 0);

// ---- head.cu -----------------------------------------------------------------------------------------
// pooled [B, D] fp32 = x [T, D] fp32 at each sequence's last token (+ delta [T, D] T there, or nullptr).
template <class T>
void pool_last_forward(float* pooled, const float* x, const T* delta, const int32_t* offsets, int B, int D,
                       cudaStream_t stream);
// dx [T, D] += dpooled [B, D] at the last tokens.
void pool_last_backward(float* dx, const float* dpooled, const int32_t* offsets, int B, int D, cudaStream_t stream);
// scores [B] = h [B, D] . w [D] + bias [1]; backward: dh [B, D] written, dw [D], dbias [1] +=. All fp32.
void head_forward(float* scores, const float* h, const float* w, const float* bias, int B, int D, cudaStream_t stream);
void head_backward(float* dh, float* dw, float* dbias, const float* dscores, const float* h, const float* w, int B,
                   int D, cudaStream_t stream);
// loss [1] (device) = mean group loss; dscores [B] written (may be nullptr).
void group_softmax_ce(float* loss, float* dscores, const float* scores, int B, int G, cudaStream_t stream);

// ---- adamw.cu ----------------------------------------------------------------------------------------
struct AdamWPiece {
    uint64_t offset;  // into the parameter table's allocation
    int32_t length;
    int32_t decay;    // 1: weight decay applies
};
// The trained tensors of a table cut into pieces, on the device; built once per table.
struct AdamWPlan {
    int pieces = 0;
    AdamWPiece* piece_table = nullptr;  // [pieces]
    double* partial = nullptr;          // [pieces] sums of squares, then [2] norm and clip scale
    double* norm_scale = nullptr;
};
AdamWPlan adamw_plan(const TensorTable& table);
void adamw_plan_free(AdamWPlan& plan);
// One step at 0-based `step`: norm, clipping, update of params (+ the bf16 copy when params_bf16 is set).
void adamw_step(const AdamWConfig& c, const AdamWPlan& plan, float* params, __nv_bfloat16* params_bf16,
                const float* grads, float* m, float* v, int64_t step, cudaStream_t stream);
double adamw_last_norm(const AdamWPlan& plan);  // the last step's gradient norm (synchronises)

}  // namespace gpu
