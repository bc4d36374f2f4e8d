// Linear layers without bias through cuBLAS (cublasGemmEx), in the CPU backend's layout (src/cpu/matmul.cpp):
// weights keep PyTorch's nn.Linear layout [out, in], activations are row-major with leading dimensions.
//
//   out[M, Nout] (+)= a[M, Kin] @ w[Nout, Kin]^T        (WRITTEN, or += if accumulate)
//   da[M, Kin]    (+)= dout[M, Nout] @ w                 (WRITTEN, or += if accumulate_da)
//   dw[Nout, Kin]  += dout^T @ a                         (ACCUMULATED, fp32 master gradient)
//
// Types: a, w, out, dout, da of the working type T (bf16 or fp32), dw fp32; every product accumulates
// in fp32 (CUBLAS_COMPUTE_32F: no TF32 in the fp32 mode, which must match the CPU to 1e-5).
// cuBLAS is column-major: a row-major X[r, c] with leading dimension ld is the column-major X^T
// [c, r] with the same ld, so out^T = w a^T is gemm(op_A = T on w [Kin, Nout] col-major, op_B = N on
// a^T), da^T = w^T dout^T is gemm(N, N), and dw^T = a^T dout is gemm(N, T).
// Under the simulator the same calls run on CBLAS (cuda/sim/cublas.cpp).
// FLOPs: forward 2 M Nout Kin, backward twice that; these GEMMs carry almost all of the model's FLOPs.
// Bytes (at least): forward (M Kin + Nout Kin + M Nout) sizeof(T); backward about twice that, + 8 Nout Kin
// for the fp32 dw read and written.
#include "kernels.h"

namespace gpu {

namespace {

void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void* A,
          cudaDataType_t at, int lda, const void* B, cudaDataType_t bt, int ldb, float beta, void* C,
          cudaDataType_t ct, int ldc) {
    const float alpha = 1.0f;
    CUBLAS_CHECK(cublasGemmEx(h, ta, tb, m, n, k, &alpha, A, at, lda, B, bt, ldb, &beta, C, ct, ldc,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

template <class T>
void matmul_forward(cublasHandle_t h, T* out, int ldo, const T* a, int lda, const T* w, int M, int Nout, int Kin,
                    bool accumulate) {
    if (M == 0) return;
    const cudaDataType_t dt = cuda_dtype<T>();
    gemm(h, CUBLAS_OP_T, CUBLAS_OP_N, Nout, M, Kin, w, dt, Kin, a, dt, lda, accumulate ? 1.0f : 0.0f, out, dt, ldo);
}

template <class T>
void matmul_backward(cublasHandle_t h, T* da, int ldda, float* dw, const T* dout, int lddo, const T* a, int lda,
                     const T* w, int M, int Nout, int Kin, bool accumulate_da) {
    if (M == 0) return;
    const cudaDataType_t dt = cuda_dtype<T>();
    if (da) gemm(h, CUBLAS_OP_N, CUBLAS_OP_N, Kin, M, Nout, w, dt, Kin, dout, dt, lddo, accumulate_da ? 1.0f : 0.0f, da, dt, ldda);
    if (dw) gemm(h, CUBLAS_OP_N, CUBLAS_OP_T, Kin, Nout, M, a, dt, lda, dout, dt, lddo, 1.0f, dw, CUDA_R_32F, Kin);
}

#define INSTANTIATE(T)                                                                                        \
    template void matmul_forward<T>(cublasHandle_t, T*, int, const T*, int, const T*, int, int, int, bool);     \
    template void matmul_backward<T>(cublasHandle_t, T*, int, float*, const T*, int, const T*, int, const T*,   \
                                     int, int, int, bool);
INSTANTIATE(float)
INSTANTIATE(__nv_bfloat16)

}  // namespace gpu
