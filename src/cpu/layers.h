// The CPU backend: every layer of the Mamba-1 reranker, forward and backward, in plain C++ with OpenMP.
//
// One file per layer (src/cpu/<layer>.cpp) holds the math, the shapes and the backward derivation.
// Everything is templated on the element type: float is the engine's CPU backend, double is used by the
// finite-difference tests. Conventions, the same in every layer:
//   - arguments: outputs, cached values, inputs, weights, then dimensions;
//   - gradients carry a `d` prefix; parameter gradients ACCUMULATE (+=), activation gradients are
//     WRITTEN (=) unless the comment says otherwise;
//   - a packed batch is B sequences concatenated into T tokens; offsets[b]..offsets[b+1] is sequence b
//     (offsets has B+1 entries, offsets[0] = 0, offsets[B] = T). Nothing ever reads across a boundary;
//   - activations are row-major [T, C] with a leading dimension `ld` (row stride, in elements) so that a
//     column slice of a wider tensor (x and z inside xz) is passed without a copy.
// Glossary (README, Architecture): B sequences, T tokens, D d_model, E d_inner, N d_state, R dt_rank,
// K d_conv, V vocab, G group.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/views.h"

namespace cpu {

// ---- embedding.cpp -------------------------------------------------------------------------------
template <class T>
void embedding_forward(T* x, const int32_t* tokens, const uint8_t* match, const T* wte, const T* wme,
                       int Tn, int D);
template <class T>
void embedding_backward(T* dwte, T* dwme, const T* dx, const int32_t* tokens, const uint8_t* match,
                        int Tn, int D);

// ---- rmsnorm.cpp ---------------------------------------------------------------------------------
// With delta: x_out = x_in + delta, then out = rmsnorm(x_out) * w; without (nullptr): out = rmsnorm(x_in) * w.
template <class T>
void rmsnorm_forward(T* out, T* rstd, T* x_out, const T* x_in, const T* delta, const T* w, int Tn, int D,
                     float eps);
template <class T>
void rmsnorm_backward(T* dx, T* dw, const T* dout, const T* x, const T* rstd, const T* w, int Tn, int D);

// ---- matmul.cpp ----------------------------------------------------------------------------------
template <class T>
void matmul_forward(T* out, int ldo, const T* a, int lda, const T* w, int M, int Nout, int Kin,
                    bool accumulate);
template <class T>
void matmul_backward(T* da, int ldda, T* dw, const T* dout, int lddo, const T* a, int lda, const T* w,
                     int M, int Nout, int Kin, bool accumulate_da);
// The precision of the float instantiation's GEMMs, process-wide: fp32 (OpenBLAS sgemm, the default) or
// bf16 (inputs rounded to bf16, fp32 accumulation, on AMX; see matmul_amx.cpp). double always uses fp64
// CBLAS. set_gemm_precision(bf16) returns false and leaves the precision unchanged when AMX is not
// available (amx_available() says why); it must not be called while a GEMM runs.
enum class GemmPrecision { fp32, bf16 };
bool set_gemm_precision(GemmPrecision p);
GemmPrecision gemm_precision();
// The shape rule under bf16: whether C[m, n] (+)= A[m, k] B[k, n] goes to AMX (true) or stays on sgemm.
bool gemm_bf16_shape(int m, int n, int k);

// ---- matmul_amx.cpp ------------------------------------------------------------------------------
// Whether this process can use AMX bf16 tiles (CPU features, OS state and kernel permission, checked
// once); when not, *why (if given) is set to a one-line reason, else to null.
bool amx_available(const char** why = nullptr);
// matmul_forward / matmul_backward for float with bf16 inputs and fp32 accumulation on AMX, at every shape
// (no fp32 fallback: matmul.cpp decides which shapes go here). Precondition: amx_available().
void matmul_forward_bf16(float* out, int ldo, const float* a, int lda, const float* w, int M, int Nout, int Kin,
                         bool accumulate);
void matmul_backward_bf16(float* da, int ldda, float* dw, const float* dout, int lddo, const float* a, int lda,
                          const float* w, int M, int Nout, int Kin, bool accumulate_da);

// ---- conv1d.cpp ----------------------------------------------------------------------------------
template <class T>
void conv1d_forward(T* u, int ldu, const T* x, int ldx, const T* w, const T* b, const int32_t* offsets,
                    int B, int E, int K);
template <class T>
void conv1d_backward(T* dx, int lddx, T* dw, T* db, const T* du, int lddu, const T* x, int ldx,
                     const T* w, const T* b, const int32_t* offsets, int B, int E, int K);

// ---- scan.cpp ------------------------------------------------------------------------------------
// Scratch the scan needs, in elements of T, for the longest sequence `max_len` of a batch of Tn tokens
// run on `threads` OpenMP threads.
size_t scan_scratch_size(int Tn, int max_len, int N, int threads);
// out [T, E] = the scan of `in` (views: src/core/views.h); backward: grads from dout [T, E].
template <class T>
void scan_forward(Strided<T> out, const ScanInputs<T>& in, const ScanWeights<T>& weights, const ScanDims& dims);
template <class T>
void scan_backward(const ScanGrads<T>& grads, T* scratch, Strided<const T> dout, const ScanInputs<T>& in,
                   const ScanWeights<T>& weights, const ScanDims& dims, int max_len);

// ---- head.cpp ------------------------------------------------------------------------------------
template <class T>
void pool_last(T* pooled, const T* x, const T* delta, const int32_t* offsets, int B, int D);  // delta may be null
template <class T>
void pool_last_backward(T* dx, const T* dpooled, const int32_t* offsets, int B, int D);
template <class T>
void head_forward(T* scores, const T* h, const T* w, const T* bias, int B, int D);
template <class T>
void head_backward(T* dh, T* dw, T* dbias, const T* dscores, const T* h, const T* w, int B, int D);
template <class T>
double group_softmax_ce(T* dscores, const T* scores, int B, int G);

}  // namespace cpu
