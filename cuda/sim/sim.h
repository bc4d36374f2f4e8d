// The CUDA simulator: compiles a CUDA C++ kernel file with g++ and runs it on the CPU, thread by thread.
//
// Why: no machine of the project has a GPU, so every kernel is executed and checked on the CPU with
// CUDA's semantics (see cuda/sim/README.md for the rules kernel authors follow). Simulator builds
// compile each .cu with `g++ -x c++ -include cuda/sim/sim.h`, with cuda/sim/shim (CUB's subset) ahead
// of the CUDA include directory. The real cuda_runtime.h, cuda_bf16.h and cuda_fp16.h are used for
// types and host code (they compile under g++); this header adds what only nvcc gives:
//   - the keywords (__global__, __device__, __shared__ ...) and built-ins (threadIdx, blockIdx, ...),
//   - barriers, warp collectives, atomics, math intrinsics, bf16/fp16 helpers that are device-only,
//   - launch(), which the real build turns into <<<>>> (cuda/sim/launch.h).
// The runtime behind it (fibers, scheduler, bug reports) is cuda/sim/scheduler.cpp; cudaMalloc and
// friends are cuda/sim/runtime.cpp; cuBLAS on CBLAS is cuda/sim/cublas.cpp.
#pragma once
#if defined(__CUDACC__)
#error "cuda/sim/sim.h is for g++ simulator builds only; nvcc uses the real CUDA headers"
#endif

#define CUDA_SIM 1

// Keywords, defined before the CUDA headers so that their own definitions (attributes) stand aside.
#define __global__
#define __device__
#define __host__
#define __launch_bounds__(...)
#define __constant__
#define __managed__
#define __grid_constant__
// One copy per running block: a block runs all its fibers on one OS thread, one block at a time per
// OS thread, so a thread-local static is exactly "one copy per running block". The section gathers all
// of them, so that the scheduler can poison them (0xFF bytes) at the start of every block.
#define __shared__ __attribute__((section("sim_shared"))) static thread_local

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

#include "scheduler.h"
#include "intrinsics.h"

// The launch function, as cuda/sim/launch.h declares it for nvcc: every thread of every block calls
// `kernel(args...)` with its own copy of the arguments, converted to the kernel's parameter types.
template <typename... KArgs, typename... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
    static_assert(sizeof...(KArgs) == sizeof...(Args), "launch: argument count differs from the kernel's");
    std::tuple<std::decay_t<KArgs>...> params(std::forward<Args>(args)...);
    auto body = [&]() { std::apply(kernel, params); };
    sim::launch_kernel(reinterpret_cast<const void*>(kernel), grid, block, smem, stream,
                       [](void* p) { (*static_cast<decltype(body)*>(p))(); }, &body);
}

// Under nvcc this is `extern __shared__ T name[]`: the launch's dynamic shared memory, poisoned with
// 0xFF bytes (NaN) at the start of each block. Use it inside the kernel body.
#define SIM_DYNAMIC_SMEM(T, name) T* const name = reinterpret_cast<T*>(::sim::dynamic_smem())

// The template overloads cuda_runtime.h keeps for nvcc.
template <class T>
cudaError_t cudaFuncSetAttribute(T* func, cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute(reinterpret_cast<const void*>(func), attr, value);
}
template <class T>
cudaError_t cudaMemcpyToSymbol(const T& symbol, const void* src, size_t count, size_t offset = 0,
                               cudaMemcpyKind kind = cudaMemcpyHostToDevice) {
    return cudaMemcpy(reinterpret_cast<char*>(const_cast<T*>(&symbol)) + offset, src, count, kind);
}
template <class T>
cudaError_t cudaMemcpyFromSymbol(void* dst, const T& symbol, size_t count, size_t offset = 0,
                                 cudaMemcpyKind kind = cudaMemcpyDeviceToHost) {
    return cudaMemcpy(dst, reinterpret_cast<const char*>(&symbol) + offset, count, kind);
}
