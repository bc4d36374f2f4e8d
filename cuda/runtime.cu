// The device runtime's few functions (runtime.h): the device line, and the fp32 -> T copy of a tensor.
#include "kernels.h"

namespace gpu {

namespace {

template <class T>
__global__ void convert_kernel(T* out, const float* in, size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = from_float<T>(in[i]);
}

}  // namespace

void print_device() {
    int dev = 0;
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    std::printf("device: %s, sm_%d%d, %d SMs, %.1f GiB\n", p.name, p.major, p.minor, p.multiProcessorCount,
                (double)p.totalGlobalMem / (1u << 30));
}

template <class T>
void convert(T* out, const float* in, size_t n, cudaStream_t stream) {
    if (n == 0) return;
    launch(convert_kernel<T>, dim3(ceil_div((long)n, 256)), dim3(256), 0, stream, out, in, n);
    CUDA_CHECK_LAUNCH();
}

template void convert<float>(float*, const float*, size_t, cudaStream_t);
template void convert<__nv_bfloat16>(__nv_bfloat16*, const float*, size_t, cudaStream_t);

}  // namespace gpu
