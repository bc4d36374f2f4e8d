// The CUDA runtime API under the simulator: the functions cuda_runtime_api.h declares that the engine
// uses, so that its device runtime code (arena, checks, timing) runs unchanged on the CPU.
//
// "Device" memory is host memory. Every stream is the host thread: a launch or an async copy has
// finished when its call returns, so synchronisation is a no-op and events carry wall-clock times.
// Fresh allocations are filled with 0xFF bytes (NaN in fp32, bf16 and fp16) so that an output a kernel
// forgot to write, or a read before a write, shows up as NaN. The device looks like an H100/H200 (sm_90,
// 132 SMs, 48 KiB shared memory per block by default and 227 KiB opt-in).
#include "sim.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

struct CUstream_st {
    int id;
};
struct CUevent_st {
    std::chrono::steady_clock::time_point t;
    bool recorded = false;
};

namespace sim {
namespace {
thread_local cudaError_t tl_last_error = cudaSuccess;
std::mutex g_alloc_mutex;
std::unordered_map<void*, size_t> g_allocs;  // device allocations, to reject a bad cudaFree
size_t g_allocated = 0;
constexpr size_t kTotalMem = 141ull << 30;

cudaError_t fail(cudaError_t e) {
    tl_last_error = e;
    return e;
}
}  // namespace

void set_last_error(cudaError_t e) { tl_last_error = e; }
}  // namespace sim

using sim::fail;

cudaError_t cudaGetLastError(void) {
    cudaError_t e = sim::tl_last_error;
    sim::tl_last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) { return sim::tl_last_error; }

const char* cudaGetErrorName(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        default: return "cudaErrorUnknown";
    }
}
const char* cudaGetErrorString(cudaError_t e) {
    switch (e) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidDevicePointer: return "invalid device pointer";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        default: return "unknown error";
    }
}

// ---- Devices ----------------------------------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count) {
    *count = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
    *device = 0;
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaDeviceReset(void) { return cudaSuccess; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
    if (device != 0) return fail(cudaErrorInvalidDevice);
    std::memset(p, 0, sizeof *p);
    std::strcpy(p->name, "CUDA simulator (sm_90-like, on the CPU)");
    p->totalGlobalMem = sim::kTotalMem;
    p->sharedMemPerBlock = 48 << 10;
    p->sharedMemPerBlockOptin = 227 << 10;
    p->sharedMemPerMultiprocessor = 228 << 10;
    p->regsPerBlock = 65536;
    p->regsPerMultiprocessor = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
    p->totalConstMem = 64 << 10;
    p->major = 9, p->minor = 0;
    p->multiProcessorCount = 132;
    p->l2CacheSize = 50 << 20;
    p->maxThreadsPerMultiProcessor = 2048;
    p->maxBlocksPerMultiProcessor = 32;
    p->memoryBusWidth = 5120;
    p->concurrentKernels = 1;
    p->unifiedAddressing = 1;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    if (device != 0) return fail(cudaErrorInvalidDevice);
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
        case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
        case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)p.sharedMemPerBlockOptin; break;
        case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
        case cudaDevAttrWarpSize: *value = p.warpSize; break;
        case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
        case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
        case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
        case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
        default: return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || value > (227 << 10)) return fail(cudaErrorInvalidValue);
        sim::set_max_dynamic_smem(func, value);
    }
    return cudaSuccess;
}

// ---- Memory -----------------------------------------------------------------------------------------
cudaError_t cudaMalloc(void** ptr, size_t size) {
    std::lock_guard<std::mutex> lock(sim::g_alloc_mutex);
    if (sim::g_allocated + size > sim::kTotalMem) return fail(cudaErrorMemoryAllocation);
    void* p = std::aligned_alloc(256, (size + 255) / 256 * 256 + 256);
    if (!p) return fail(cudaErrorMemoryAllocation);
    std::memset(p, 0xFF, size);
    sim::g_allocs[p] = size;
    sim::g_allocated += size;
    *ptr = p;
    return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
    if (!ptr) return cudaSuccess;
    std::lock_guard<std::mutex> lock(sim::g_alloc_mutex);
    auto it = sim::g_allocs.find(ptr);
    if (it == sim::g_allocs.end()) return fail(cudaErrorInvalidDevicePointer);
    sim::g_allocated -= it->second;
    sim::g_allocs.erase(it);
    std::free(ptr);
    return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** ptr, size_t size, cudaStream_t) { return cudaMalloc(ptr, size); }
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t) { return cudaFree(ptr); }
cudaError_t cudaMallocHost(void** ptr, size_t size) {
    void* p = std::aligned_alloc(256, (size + 255) / 256 * 256 + 256);
    if (!p) return fail(cudaErrorMemoryAllocation);
    std::memset(p, 0xFF, size);
    *ptr = p;
    return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) { return cudaMallocHost(ptr, size); }
cudaError_t cudaFreeHost(void* ptr) {
    std::free(ptr);
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
    std::lock_guard<std::mutex> lock(sim::g_alloc_mutex);
    *free_bytes = sim::kTotalMem - sim::g_allocated;
    *total = sim::kTotalMem;
    return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind) {
    if (count && (!dst || !src)) return fail(cudaErrorInvalidValue);
    std::memmove(dst, src, count);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t) {
    return cudaMemcpy(dst, src, count, kind);
}
cudaError_t cudaMemset(void* ptr, int value, size_t count) {
    if (count && !ptr) return fail(cudaErrorInvalidValue);
    std::memset(ptr, value, count);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t count, cudaStream_t) { return cudaMemset(ptr, value, count); }

// ---- Streams and events -----------------------------------------------------------------------------
cudaError_t cudaStreamCreate(cudaStream_t* s) {
    *s = new CUstream_st{1};
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) { return cudaStreamCreate(s); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    delete s;
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamQuery(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t* e) {
    *e = new CUevent_st;
    return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
    if (!e) return fail(cudaErrorInvalidResourceHandle);
    e->t = std::chrono::steady_clock::now();
    e->recorded = true;
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    if (!start || !end || !start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
    *ms = std::chrono::duration<float, std::milli>(end->t - start->t).count();
    return cudaSuccess;
}
