// Linear layers without bias, through CBLAS (OpenBLAS). Weights keep PyTorch's nn.Linear layout
// [out, in], so a checkpoint's matrices are used as they are.
//
//   out[M, Nout] (+)= a[M, Kin] @ w[Nout, Kin]^T     (WRITTEN, or += if accumulate: the residual add)
//   da[M, Kin]   = dout[M, Nout] @ w                               (WRITTEN, or += if accumulate_da)
//   dw[Nout, Kin] += dout^T @ a                                    (ACCUMULATED)
//
// a, out, da and dout may be column slices of wider row-major tensors (leading dimensions lda, ldo...).
// FLOPs: forward 2*M*Nout*Kin, backward twice that. These three GEMMs per linear layer carry almost all
// of the model's FLOPs (see the README's speed section).
#include <cblas.h>

#include "cpu/layers.h"

namespace cpu {

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
    gemm(CblasNoTrans, CblasTrans, M, Nout, Kin, a, lda, w, Kin, accumulate ? T(1) : T(0), out, ldo);
}

template <class T>
void matmul_backward(T* da, int ldda, T* dw, const T* dout, int lddo, const T* a, int lda, const T* w,
                     int M, int Nout, int Kin, bool accumulate_da) {
    if (M == 0) return;
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
