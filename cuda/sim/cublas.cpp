// cuBLAS under the simulator, on CBLAS (OpenBLAS): the handle calls and the GEMMs the engine's matmul
// wrapper uses, so that the same host code runs on the GPU and in tests.
//
// Supported: cublasSgemm, cublasSgemmStridedBatched, cublasGemmEx and cublasGemmStridedBatchedEx with
// A, B, C each CUDA_R_32F, CUDA_R_16BF or CUDA_R_16F and a 32F compute type (32F, 32F_FAST_TF32,
// 32F_FAST_16BF, 32F_FAST_16F, 32F_PEDANTIC; all computed in full fp32 here). Column-major, as cuBLAS:
// C (m x n) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C. 16-bit operands are widened to fp32,
// multiplied with cblas_sgemm, and C is rounded back to its type once (round to nearest even). With
// beta == 0, C is not read (so a NaN-poisoned C is fine), as cuBLAS promises. Anything else returns
// CUBLAS_STATUS_NOT_SUPPORTED; bad sizes return CUBLAS_STATUS_INVALID_VALUE.
#include "sim.h"

#include <cblas.h>
#include <cublas_v2.h>

#include <vector>

struct cublasContext {
    cudaStream_t stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
    cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
};

namespace {

bool is_supported_type(cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16BF || t == CUDA_R_16F; }

bool is_32f_compute(cublasComputeType_t c) {
    return c == CUBLAS_COMPUTE_32F || c == CUBLAS_COMPUTE_32F_FAST_TF32 || c == CUBLAS_COMPUTE_32F_FAST_16BF ||
           c == CUBLAS_COMPUTE_32F_FAST_16F || c == CUBLAS_COMPUTE_32F_PEDANTIC;
}

float load(const void* p, cudaDataType t, size_t i) {
    switch (t) {
        case CUDA_R_16BF: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
        case CUDA_R_16F: return __half2float(static_cast<const __half*>(p)[i]);
        default: return static_cast<const float*>(p)[i];
    }
}

void store(void* p, cudaDataType t, size_t i, float v) {
    switch (t) {
        case CUDA_R_16BF: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
        case CUDA_R_16F: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
        default: static_cast<float*>(p)[i] = v; break;
    }
}

// A rows x cols column-major matrix with leading dimension ld, widened to a dense fp32 copy (ld = rows).
std::vector<float> widen(const void* p, cudaDataType t, int rows, int cols, int ld) {
    std::vector<float> out((size_t)rows * cols);
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) out[(size_t)c * rows + r] = load(p, t, (size_t)c * ld + r);
    return out;
}

CBLAS_TRANSPOSE trans(cublasOperation_t op) { return op == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; }

cublasStatus_t gemm(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const float* alpha, const void* A, cudaDataType at, int lda, const void* B, cudaDataType bt,
                    int ldb, const float* beta, void* C, cudaDataType ct, int ldc) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!is_supported_type(at) || !is_supported_type(bt) || !is_supported_type(ct)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (ta == CUBLAS_OP_CONJG || tb == CUBLAS_OP_CONJG) return CUBLAS_STATUS_NOT_SUPPORTED;
    int a_rows = ta == CUBLAS_OP_N ? m : k, a_cols = ta == CUBLAS_OP_N ? k : m;
    int b_rows = tb == CUBLAS_OP_N ? k : n, b_cols = tb == CUBLAS_OP_N ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    float a = *alpha, b = *beta;
    if (at == CUDA_R_32F && bt == CUDA_R_32F && ct == CUDA_R_32F && b != 0.0f) {
        cblas_sgemm(CblasColMajor, trans(ta), trans(tb), m, n, k, a, static_cast<const float*>(A), lda,
                    static_cast<const float*>(B), ldb, b, static_cast<float*>(C), ldc);
        return CUBLAS_STATUS_SUCCESS;
    }
    std::vector<float> Af = widen(A, at, a_rows, a_cols, lda), Bf = widen(B, bt, b_rows, b_cols, ldb);
    std::vector<float> Cf = b != 0.0f ? widen(C, ct, m, n, ldc) : std::vector<float>((size_t)m * n, 0.0f);
    if (k > 0)
        cblas_sgemm(CblasColMajor, trans(ta), trans(tb), m, n, k, a, Af.data(), std::max(1, a_rows), Bf.data(),
                    std::max(1, b_rows), b, Cf.data(), m);
    else
        for (float& x : Cf) x *= b;
    for (int c = 0; c < n; c++)
        for (int r = 0; r < m; r++) store(C, ct, (size_t)c * ldc + r, Cf[(size_t)c * m + r]);
    return CUBLAS_STATUS_SUCCESS;
}

size_t type_size(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

}  // namespace

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
    *handle = new cublasContext;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    *stream = handle->stream;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    *mode = handle->math;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->pointer_mode = mode;  // host and device pointers are the same memory here
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void*, size_t) {
    return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

const char* cublasGetStatusName(cublasStatus_t s) {
    switch (s) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        default: return "CUBLAS_STATUS_INTERNAL_ERROR";
    }
}
const char* cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
        case CUBLAS_STATUS_SUCCESS: return "success";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
        case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
        default: return "an internal operation failed";
    }
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                              float* C, int ldc) {
    return gemm(handle, ta, tb, m, n, k, alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, beta, C, CUDA_R_32F, ldc);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m,
                                         int n, int k, const float* alpha, const float* A, int lda,
                                         long long int strideA, const float* B, int ldb, long long int strideB,
                                         const float* beta, float* C, int ldc, long long int strideC, int batchCount) {
    if (batchCount < 0) return CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; i < batchCount; i++) {
        cublasStatus_t s = gemm(handle, ta, tb, m, n, k, alpha, A + i * strideA, CUDA_R_32F, lda, B + i * strideB,
                                CUDA_R_32F, ldb, beta, C + i * strideC, CUDA_R_32F, ldc);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void* alpha, const void* A, cudaDataType at, int lda, const void* B, cudaDataType bt,
                            int ldb, const void* beta, void* C, cudaDataType ct, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t) {
    if (!is_32f_compute(compute)) return CUBLAS_STATUS_NOT_SUPPORTED;
    return gemm(handle, ta, tb, m, n, k, static_cast<const float*>(alpha), A, at, lda, B, bt, ldb,
                static_cast<const float*>(beta), C, ct, ldc);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m,
                                          int n, int k, const void* alpha, const void* A, cudaDataType at, int lda,
                                          long long int strideA, const void* B, cudaDataType bt, int ldb,
                                          long long int strideB, const void* beta, void* C, cudaDataType ct, int ldc,
                                          long long int strideC, int batchCount, cublasComputeType_t compute,
                                          cublasGemmAlgo_t) {
    if (!is_32f_compute(compute)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (batchCount < 0) return CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; i < batchCount; i++) {
        cublasStatus_t s =
            gemm(handle, ta, tb, m, n, k, static_cast<const float*>(alpha),
                 static_cast<const char*>(A) + i * strideA * type_size(at), at, lda,
                 static_cast<const char*>(B) + i * strideB * type_size(bt), bt, ldb, static_cast<const float*>(beta),
                 static_cast<char*>(C) + i * strideC * type_size(ct), ct, ldc);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
    }
    return CUBLAS_STATUS_SUCCESS;
}
