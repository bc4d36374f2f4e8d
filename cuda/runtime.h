// The CUDA backend's device runtime: checked calls, element types, and tensor tables on the device.
//
//   CUDA_CHECK(cudaMalloc(...));      // on failure: "error: <expr> failed at <file>:<line>: <reason>", exit 1
//   CUBLAS_CHECK(cublasGemmEx(...));  // the same for cuBLAS status codes
//
// Element types: activations and GEMM weights are a template type T, float (the fp32 mode, for tests)
// or __nv_bfloat16 (the default on the GPU); every kernel loads T through to_float() and stores through
// from_float<T>(), and accumulates in fp32. What is always fp32, whatever T is: the residual stream x
// [T, D], the per-token rstd, the scan state and its checkpoints, the master parameters, their
// gradients and the AdamW moments, the small per-channel parameters (norm weights, conv weight/bias,
// dt_bias, A_log, D, the head).
//
// Tensor tables: the same {name, shape} TensorTable as the CPU backend (src/core/tensor.h); a DeviceTable is
// ONE cudaMalloc of table.total elements, each tensor at table.offsets[k].
// Compiles under nvcc and the simulator (cuda/sim); kernel files include it, so it holds no kernels.
#pragma once
#include <cstdio>
#include <cstdlib>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "sim/launch.h"
#include "core/tensor.h"

#define CUDA_CHECK(expr)                                                                               \
    do {                                                                                               \
        cudaError_t cuda_check_e_ = (expr);                                                            \
        if (cuda_check_e_ != cudaSuccess) {                                                            \
            std::fprintf(stderr, "error: %s failed at %s:%d: %s\n", #expr, __FILE__, __LINE__,         \
                         cudaGetErrorString(cuda_check_e_));                                           \
            std::exit(1);                                                                              \
        }                                                                                              \
    } while (0)

#define CUBLAS_CHECK(expr)                                                                             \
    do {                                                                                               \
        cublasStatus_t cublas_check_s_ = (expr);                                                       \
        if (cublas_check_s_ != CUBLAS_STATUS_SUCCESS) {                                                \
            std::fprintf(stderr, "error: %s failed at %s:%d: %s\n", #expr, __FILE__, __LINE__,         \
                         cublasGetStatusString(cublas_check_s_));                                      \
            std::exit(1);                                                                              \
        }                                                                                              \
    } while (0)

// After a launch(): reports a bad launch configuration at the caller's line.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

// Unroll the next loop n times: `#pragma unroll n` for nvcc; g++ (the simulator) spells it its own way.
#define GPU_PRAGMA_(x) _Pragma(#x)
#ifdef CUDA_SIM
#define UNROLL(n) GPU_PRAGMA_(GCC unroll n)
#else
#define UNROLL(n) GPU_PRAGMA_(unroll n)
#endif

namespace gpu {

__host__ __device__ __forceinline__ float to_float(float v) { return v; }
__host__ __device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__host__ __device__ __forceinline__ T from_float(float v);
template <>
__host__ __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__host__ __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// VW elements of T, loaded or stored as one instruction: aligned to VW * sizeof(T) bytes (at most 16;
// a wider vector is split into 16-byte accesses). The pointer must be that aligned.
template <class T, int VW>
struct alignas(sizeof(T) * VW <= 16 ? sizeof(T) * VW : 16) Vec {
    T v[VW];
};
// out[k] = p[k] and p[k] = in[k], k < VW, as fp32.
template <int VW, class T>
__device__ __forceinline__ void load_vec(float (&out)[VW], const T* p) {
    const Vec<T, VW> r = *reinterpret_cast<const Vec<T, VW>*>(p);
    for (int k = 0; k < VW; k++) out[k] = to_float(r.v[k]);
}
template <int VW, class T>
__device__ __forceinline__ void store_vec(T* p, const float (&in)[VW]) {
    Vec<T, VW> r;
    for (int k = 0; k < VW; k++) r.v[k] = from_float<T>(in[k]);
    *reinterpret_cast<Vec<T, VW>*>(p) = r;
}

// cuBLAS's name for an element type.
template <class T>
constexpr cudaDataType_t cuda_dtype() { return CUDA_R_32F; }
template <>
constexpr cudaDataType_t cuda_dtype<__nv_bfloat16>() { return CUDA_R_16BF; }

inline unsigned ceil_div(long a, long b) { return (unsigned)((a + b - 1) / b); }

// One device allocation holding every tensor of `table` (NaN-poisoned under the simulator; zeroed here
// only when asked: parameters are copied in, gradients are zeroed per step by the caller).
template <class T>
struct DeviceTable {
    const TensorTable* table = nullptr;
    T* data = nullptr;
    DeviceTable() = default;
    explicit DeviceTable(const TensorTable& t, bool zero = false) : table(&t) {
        CUDA_CHECK(cudaMalloc(&data, (t.total ? t.total : 1) * sizeof(T)));
        if (zero) CUDA_CHECK(cudaMemset(data, 0, t.total * sizeof(T)));
    }
    ~DeviceTable() {
        if (data) cudaFree(data);
    }
    T* at(const std::string& name) const { return data + table->offset(name); }
    DeviceTable(DeviceTable&& o) noexcept : table(o.table), data(o.data) { o.data = nullptr; }
    DeviceTable(const DeviceTable&) = delete;
    DeviceTable& operator=(const DeviceTable&) = delete;
};

// Prints the device's name, SM count and memory (one line), for benchmarks and the GPU check.
void print_device();

}  // namespace gpu
