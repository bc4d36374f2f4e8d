// Shared by the simulator's CUB shim (cuda/sim/shim/cub): the block's linear thread index, the check
// that the block has the shape a primitive was instantiated for, and the "undefined" value that
// results CUB leaves undefined take here (NaN for floating types, so a kernel that reads them shows it).
//
// The shim stands in for CUB only in simulator builds (cuda/sim/shim is ahead of the CUDA headers on
// the include path there); nvcc builds use the real CUB. It implements exactly the subset listed in
// cuda/sim/README.md, with CUB's API and semantics: TempStorage in shared memory, results only where
// CUB defines them, and the same barrier requirements (a __syncthreads before TempStorage is reused).
#pragma once
#include <limits>
#include <string>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace cub {
namespace sim_detail {

inline int linear_tid() { return (int)(threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y); }

// CUB's block primitives assume the launch's block has exactly the instantiated shape.
inline void check_block(const char* what, int x, int y, int z) {
    if ((int)blockDim.x != x || (int)blockDim.y != y || (int)blockDim.z != z)
        sim::fault(std::string(what) + " instantiated for a block of (" + std::to_string(x) + "," + std::to_string(y) +
                   "," + std::to_string(z) + ") threads, launched with (" + std::to_string(blockDim.x) + "," +
                   std::to_string(blockDim.y) + "," + std::to_string(blockDim.z) + ")");
}

template <class T>
T undefined(const T& fallback) {
    if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::quiet_NaN();
    else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16(std::numeric_limits<float>::quiet_NaN());
    else if constexpr (std::is_same_v<T, __half>) return __float2half(std::numeric_limits<float>::quiet_NaN());
    else return fallback;
}

// Raw, suitably aligned storage for N objects of T (CUB's Uninitialized): no constructors run, as for
// any __shared__ variable.
template <class T, int N>
struct alignas(alignof(T) > 16 ? alignof(T) : 16) Raw {
    unsigned char bytes[sizeof(T) * N];
    T* get() { return reinterpret_cast<T*>(bytes); }
};

}  // namespace sim_detail
}  // namespace cub
