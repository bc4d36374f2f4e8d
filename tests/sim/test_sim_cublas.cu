// cuBLAS as the engine's matmul wrapper calls it (under the simulator: cuda/sim/cublas.cpp on CBLAS),
// against a plain double-precision loop: cublasSgemm with transposes and padded leading dimensions,
// cublasGemmEx with bf16 inputs and bf16 or fp32 outputs, cublasGemmStridedBatchedEx, and beta == 0
// over a NaN-poisoned C. Column-major throughout, as cuBLAS.
#include <cmath>
#include <vector>

#include <cublas_v2.h>
#include <cuda_bf16.h>

#include "test_util.h"

#define CUBLAS_CHECK(expr)                                                                             \
    do {                                                                                               \
        cublasStatus_t s_ = (expr);                                                                    \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                             \
            std::fprintf(stderr, "error: %s failed at %s:%d: status %d\n", #expr, __FILE__, __LINE__, \
                         (int)s_);                                                                     \
            std::exit(1);                                                                              \
        }                                                                                              \
    } while (0)

namespace {
// C (m x n, ld ldc) = alpha * op(A) op(B) + beta * C, column-major, in double.
std::vector<float> gemm_ref(bool ta, bool tb, int m, int n, int k, float alpha, const std::vector<float>& A, int lda,
                            const std::vector<float>& B, int ldb, float beta, std::vector<float> C, int ldc) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                double a = ta ? A[(size_t)i * lda + p] : A[(size_t)p * lda + i];
                double b = tb ? B[(size_t)p * ldb + j] : B[(size_t)j * ldb + p];
                s += a * b;
            }
            float& c = C[(size_t)j * ldc + i];
            c = (float)(alpha * s + (beta != 0.0f ? beta * (double)c : 0.0));
        }
    return C;
}

std::vector<float> round_bf16(const std::vector<float>& x) {
    std::vector<float> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = __bfloat162float(__float2bfloat16(x[i]));
    return r;
}
std::vector<__nv_bfloat16> to_bf16(const std::vector<float>& x) {
    std::vector<__nv_bfloat16> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = __float2bfloat16(x[i]);
    return r;
}
std::vector<float> from_bf16(const std::vector<__nv_bfloat16>& x) {
    std::vector<float> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = __bfloat162float(x[i]);
    return r;
}
}  // namespace

TEST_CASE("cublasSgemm: transposes, padded leading dimensions, beta accumulates") {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    const int m = 13, n = 7, k = 21;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 1, ldc = m + 2;
            std::vector<float> A = test_values((size_t)lda * (ta ? m : k), 10 + ta), B = test_values((size_t)ldb * (tb ? k : n), 20 + tb);
            std::vector<float> C = test_values((size_t)ldc * n, 30);
            float alpha = 0.5f, beta = 2.0f;
            std::vector<float> want = gemm_ref(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
            DeviceArray<float> dA(A), dB(B), dC(C);
            CUBLAS_CHECK(cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                                     dA.ptr, lda, dB.ptr, ldb, &beta, dC.ptr, ldc));
            char what[64];
            std::snprintf(what, sizeof what, "sgemm %c%c 13x7x21", ta ? 'T' : 'N', tb ? 'T' : 'N');
            // fp32: rtol 1e-5, atol 1e-5 * sqrt(k) for k products of magnitude <= 1.
            CHECK(check_close(what, dC.back(), want, 1e-5 * std::sqrt((double)k), 1e-5));
        }
    CUBLAS_CHECK(cublasDestroy(h));
}

TEST_CASE("cublasGemmEx: bf16 inputs, bf16 and fp32 outputs, fp32 compute; beta 0 ignores a NaN C") {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    const int m = 24, n = 10, k = 33;
    // The engine's layout: out (m x n) = W^T (m x k) @ x (k x n) with W stored k x m.
    std::vector<float> W = round_bf16(test_values((size_t)k * m, 40)), X = round_bf16(test_values((size_t)k * n, 41));
    std::vector<float> want = gemm_ref(true, false, m, n, k, 1.0f, W, k, X, k, 0.0f, std::vector<float>(m * n), m);
    DeviceArray<__nv_bfloat16> dW(to_bf16(W)), dX(to_bf16(X)), dOut((size_t)m * n);  // dOut: NaN poison
    float alpha = 1.0f, beta = 0.0f;
    CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, dW.ptr, CUDA_R_16BF, k, dX.ptr, CUDA_R_16BF,
                              k, &beta, dOut.ptr, CUDA_R_16BF, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    // bf16 output: rtol 1e-2 (8 bits of mantissa), atol 1e-2 * sqrt(k).
    CHECK(check_close("gemmEx bf16 -> bf16", from_bf16(dOut.back()), want, 1e-2 * std::sqrt((double)k), 1e-2));
    DeviceArray<float> dOut32((size_t)m * n);
    CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, dW.ptr, CUDA_R_16BF, k, dX.ptr, CUDA_R_16BF,
                              k, &beta, dOut32.ptr, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    // Exact bf16 inputs, fp32 accumulation: the fp32 rule.
    CHECK(check_close("gemmEx bf16 -> fp32", dOut32.back(), want, 1e-5 * std::sqrt((double)k), 1e-5));
    CUBLAS_CHECK(cublasDestroy(h));
}

TEST_CASE("cublasGemmStridedBatchedEx: a batch of attention-like products, fp32 and bf16") {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    const int m = 9, n = 9, k = 16, batch = 3;  // scores (T x T) = K^T Q per head
    std::vector<float> K = round_bf16(test_values((size_t)k * m * batch, 50)),
                       Q = round_bf16(test_values((size_t)k * n * batch, 51));
    std::vector<float> want;
    for (int b = 0; b < batch; b++) {
        std::vector<float> Kb(K.begin() + b * k * m, K.begin() + (b + 1) * k * m);
        std::vector<float> Qb(Q.begin() + b * k * n, Q.begin() + (b + 1) * k * n);
        std::vector<float> Cb = gemm_ref(true, false, m, n, k, 0.25f, Kb, k, Qb, k, 0.0f, std::vector<float>(m * n), m);
        want.insert(want.end(), Cb.begin(), Cb.end());
    }
    float alpha = 0.25f, beta = 0.0f;
    DeviceArray<float> dK(K), dQ(Q), dS((size_t)m * n * batch);
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, dK.ptr, CUDA_R_32F, k,
                                            (long long)k * m, dQ.ptr, CUDA_R_32F, k, (long long)k * n, &beta, dS.ptr,
                                            CUDA_R_32F, m, (long long)m * n, batch, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
    CHECK(check_close("strided batched fp32", dS.back(), want, 1e-5 * std::sqrt((double)k), 1e-5));
    DeviceArray<__nv_bfloat16> dKb(to_bf16(K)), dQb(to_bf16(Q));
    DeviceArray<float> dS2((size_t)m * n * batch);
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, dKb.ptr, CUDA_R_16BF, k,
                                            (long long)k * m, dQb.ptr, CUDA_R_16BF, k, (long long)k * n, &beta,
                                            dS2.ptr, CUDA_R_32F, m, (long long)m * n, batch, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
    CHECK(check_close("strided batched bf16 -> fp32", dS2.back(), want, 1e-5 * std::sqrt((double)k), 1e-5));
    CUBLAS_CHECK(cublasDestroy(h));
}

TEST_CASE("cuBLAS status codes: a bad leading dimension is an invalid value") {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    DeviceArray<float> d(64);
    float one = 1.0f;
    cublasStatus_t s = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, d.ptr, 4, d.ptr, 8, &one, d.ptr, 8);
    std::printf("lda 4 < m 8: status %d (CUBLAS_STATUS_INVALID_VALUE is %d)\n", (int)s, (int)CUBLAS_STATUS_INVALID_VALUE);
    CHECK(s == CUBLAS_STATUS_INVALID_VALUE);
    CUBLAS_CHECK(cublasDestroy(h));
}
