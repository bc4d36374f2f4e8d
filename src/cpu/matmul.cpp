// Linear layers without bias, through CBLAS (OpenBLAS). Weights keep PyTorch's nn.Linear layout
// [out, in], so a checkpoint's matrices are used as they are.
//
//   out[M, Nout] (+)= a[M, Kin] @ w[Nout, Kin]^T     (WRITTEN, or += if accumulate: the residual add)
//   da[M, Kin]   = dout[M, Nout] @ w                               (WRITTEN, or += if accumulate_da)
//   dw[Nout, Kin] += dout^T @ a                                    (ACCUMULATED)
//
// a, out, da and dout may be column slices of wider row-major tensors (leading dimensions lda, ldo...).
// FLOPs: forward 2*M*Nout*Kin, backward twice that. These three GEMMs per linear layer carry almost all
// of the model's FLOPs (see the README's Benchmarks).
//
// Precision of the float path (set_gemm_precision): fp32 runs OpenBLAS sgemm; bf16 runs matmul_amx.cpp's
// AMX kernel (bf16 inputs, fp32 accumulation) for every GEMM that use_bf16() accepts, and sgemm for the
// rest (more precise, and faster there; the rule and its measurements are at use_bf16).
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <type_traits>

#include "cpu/layers.h"

namespace cpu {

static std::atomic<GemmPrecision> precision{GemmPrecision::fp32};

bool set_gemm_precision(GemmPrecision p) {
    if (p == GemmPrecision::bf16 && !amx_available()) return false;
    precision.store(p, std::memory_order_relaxed);
    return true;
}

GemmPrecision gemm_precision() { return precision.load(std::memory_order_relaxed); }

// The rule: AMX unless a dimension is under 16 (one tile side). Such a GEMM computes on padded tiles (the
// demo's dt_proj, R = 8: K = 8 padded to 32 in forward, N = 8 padded to 16 in da and dw) and is bound by
// memory, where the AMX path's extra conversion pass costs more than its faster arithmetic saves (da
// comes out about even). One run of `build/bin/bench --gemm --threads 1` (min of 7, on the 2-core
// development machine with other work running), bf16 / fp32 speed at M = 8192: dt_proj forward 0.64,
// da 1.09, dw 0.75; every other demo and 130m GEMM (all dimensions >= 40) 1.30-5.75x faster on AMX.
bool gemm_bf16_shape(int m, int n, int k) { return std::min(m, std::min(n, k)) >= 16; }

static bool use_bf16(int m, int n, int k) { return gemm_precision() == GemmPrecision::bf16 && gemm_bf16_shape(m, n, k); }

static void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
static void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda,
                 const double* b, int ldb, double beta, double* c, int ldc) {
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void matmul_forward(T* out, int ldo, const T* a, int lda, const T* w, int M, int Nout, int Kin,
                    bool accumulate) {
    if (M == 0) return;
    if constexpr (std::is_same_v<T, float>)
        if (use_bf16(M, Nout, Kin)) return matmul_forward_bf16(out, ldo, a, lda, w, M, Nout, Kin, accumulate);
    gemm(CblasNoTrans, CblasTrans, M, Nout, Kin, a, lda, w, Kin, accumulate ? T(1) : T(0), out, ldo);
}

template <class T>
void matmul_backward(T* da, int ldda, T* dw, const T* dout, int lddo, const T* a, int lda, const T* w,
                     int M, int Nout, int Kin, bool accumulate_da) {
    if (M == 0) return;
    if constexpr (std::is_same_v<T, float>) {
        if (da && use_bf16(M, Kin, Nout)) {
            matmul_backward_bf16(da, ldda, nullptr, dout, lddo, a, lda, w, M, Nout, Kin, accumulate_da);
            da = nullptr;
        }
        if (dw && use_bf16(Nout, Kin, M)) {
            matmul_backward_bf16(nullptr, 0, dw, dout, lddo, a, lda, w, M, Nout, Kin, false);
            dw = nullptr;
        }
    }
    if (da) gemm(CblasNoTrans, CblasNoTrans, M, Kin, Nout, dout, lddo, w, Kin, accumulate_da ? T(1) : T(0), da, ldda);
    if (dw) gemm(CblasTrans, CblasNoTrans, Nout, Kin, M, dout, lddo, a, lda, T(1), dw, Kin);
}

#define INSTANTIATE(T)                                                                              \
    template void matmul_forward<T>(T*, int, const T*, int, const T*, int, int, int, bool);             \
    template void matmul_backward<T>(T*, int, T*, const T*, int, const T*, int, const T*, int, int, \
                                     int, bool);
INSTANTIATE(float)
INSTANTIATE(double)

}  // namespace cpu
