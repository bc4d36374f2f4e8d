// What a kernel file writes differently from plain CUDA, in one header that both compilers read:
//
//   launch(kernel, grid, block, smem_bytes, stream, args...);   // never kernel<<<...>>>(...)
//   SIM_DYNAMIC_SMEM(float, smem);   // inside the kernel: the launch's dynamic shared memory
//
// Under nvcc, launch() is `kernel<<<grid, block, smem_bytes, stream>>>(args...)` and SIM_DYNAMIC_SMEM
// is `extern __shared__ T name[]`; under the simulator (g++, cuda/sim/sim.h force-included) both come
// from sim.h, and launch() runs every thread on the CPU. Arguments convert to the kernel's parameter
// types as in a <<<>>> launch. Errors of the launch configuration are reported as CUDA reports them:
// through cudaGetLastError().
#pragma once
#if defined(__CUDACC__)
#include <cuda_runtime.h>
#include <utility>

template <typename... KArgs, typename... Args>
void launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, Args&&... args) {
    static_assert(sizeof...(KArgs) == sizeof...(Args), "launch: argument count differs from the kernel's");
    kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
}

#define SIM_DYNAMIC_SMEM(T, name) extern __shared__ __align__(16) T name[]
#elif !defined(CUDA_SIM)
#error "a simulator build compiles .cu files with -include cuda/sim/sim.h (see cuda/sim/sim.mk)"
#endif
