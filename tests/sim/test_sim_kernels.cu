// The simulator's semantics on small kernels, each checked against a plain loop on the host:
// barriers (+ _count/_and/_or), shuffles of every kind and width, votes, a shared-memory reduction with
// atomics across blocks, a tiled matmul at ragged sizes with 2-D blocks, dynamic shared memory above the
// 48 KiB default, and the runtime (poisoned allocations, launch errors, events, properties).
// Compiles under nvcc too; integer-valued inputs make the sums exact, so those checks are exact.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "test_util.h"

// ---- Block reduction: shared-memory tree, then shuffles, then one atomicAdd per block ----------------
// x: (n,) -> total: (1,) += sum(x); partial: (gridDim.x,) = each block's sum. blockDim.x = 256.
__global__ void block_sum(float* total, float* partial, const float* x, int n) {
    __shared__ float s[256];
    int t = threadIdx.x;
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + t; i < n; i += gridDim.x * blockDim.x) v += x[i];
    s[t] = v;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride >= 32; stride /= 2) {
        if (t < stride) s[t] += s[t + stride];
        __syncthreads();
    }
    if (t < 32) {
        v = s[t];
        for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
        if (t == 0) {
            partial[blockIdx.x] = v;
            atomicAdd(total, v);
        }
    }
}

TEST_CASE("block reduction with shared memory, shuffles and atomicAdd across blocks") {
    for (int n : {1, 255, 256, 10007}) {
        std::vector<float> x(n);
        for (int i = 0; i < n; i++) x[i] = (float)((i * 7) % 13 - 6);
        int grid = 5;
        DeviceArray<float> dx(x), dtotal(std::vector<float>{0.0f}), dpartial(grid);
        launch(block_sum, dim3(grid), dim3(256), 0, nullptr, dtotal.ptr, dpartial.ptr, dx.ptr, n);
        CUDA_CHECK(cudaGetLastError());
        std::vector<float> want_partial(grid, 0.0f);
        float want = 0;
        for (int i = 0; i < n; i++) want_partial[(i / 256) % grid] += x[i], want += x[i];
        CHECK(check_close("block_sum partials", dpartial.back(), want_partial, 0, 0));
        CHECK(check_close("block_sum total", dtotal.back(), {want}, 0, 0));
    }
}

// ---- Shuffles: every kind at every width, against the CUDA guide's rules written out plainly ----------
// (xor may read from an earlier group of `width` lanes, never from a later one).
// out: (4, 6, blockDim.x) = for each kind and width in {1,2,4,8,16,32}, what lane l receives of
// value 100*l (arguments: idx 5, up 3, down 3, xor 5).
__global__ void shuffles(int* out) {
    int t = threadIdx.x;
    int v = 100 * t;
    int k = 0;
    for (int width = 1; width <= 32; width *= 2, k++) {
        out[(0 * 6 + k) * blockDim.x + t] = __shfl_sync(0xffffffffu, v, 5, width);
        out[(1 * 6 + k) * blockDim.x + t] = __shfl_up_sync(0xffffffffu, v, 3, width);
        out[(2 * 6 + k) * blockDim.x + t] = __shfl_down_sync(0xffffffffu, v, 3, width);
        out[(3 * 6 + k) * blockDim.x + t] = __shfl_xor_sync(0xffffffffu, v, 5, width);
    }
}

TEST_CASE("shuffles: idx, up, down, xor at widths 1..32") {
    const int nt = 64;
    DeviceArray<int> dout(4 * 6 * nt);
    launch(shuffles, dim3(1), dim3(nt), 0, nullptr, dout.ptr);
    CUDA_CHECK(cudaGetLastError());
    std::vector<int> got = dout.back();
    int bad = 0, k = 0;
    for (int width = 1; width <= 32; width *= 2, k++) {
        for (int t = 0; t < nt; t++) {
            int lane = t % 32, seg = lane / width * width, warp = t / 32 * 32;
            int want[4] = {
                warp + seg + 5 % width,
                lane - seg >= 3 ? t - 3 : t,
                lane - seg + 3 < width ? t + 3 : t,
                (lane ^ 5) / width <= lane / width ? warp + (lane ^ 5) : t,  // earlier groups are readable
            };
            for (int kind = 0; kind < 4; kind++)
                if (got[(kind * 6 + k) * nt + t] != 100 * want[kind]) bad++;
        }
    }
    std::printf("shuffles: lane 7 at width 8: idx %d up %d down %d xor %d; %d mismatches of %d\n",
                got[(0 * 6 + 3) * nt + 7], got[(1 * 6 + 3) * nt + 7], got[(2 * 6 + 3) * nt + 7],
                got[(3 * 6 + 3) * nt + 7], bad, 4 * 6 * nt);
    CHECK(bad == 0);
}

// ---- Votes and counting barriers ----------------------------------------------------------------------
// out: (blockDim.x, 6) = ballot, any, all (of t % 3 == 0 in the warp), then syncthreads count/and/or of
// t < 40 over the block. A partial warp (blockDim 72) uses the mask of its existing lanes.
__global__ void votes(unsigned* out) {
    int t = threadIdx.x;
    int warp_base = t / 32 * 32;
    int lanes = min(32, (int)blockDim.x - warp_base);
    unsigned mask = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
    int p = t % 3 == 0;
    out[t * 6 + 0] = __ballot_sync(mask, p);
    out[t * 6 + 1] = __any_sync(mask, p);
    out[t * 6 + 2] = __all_sync(mask, p);
    out[t * 6 + 3] = __syncthreads_count(t < 40);
    out[t * 6 + 4] = __syncthreads_and(t < 40);
    out[t * 6 + 5] = __syncthreads_or(t < 40);
}

TEST_CASE("votes and __syncthreads_count/_and/_or, with a partial last warp") {
    const int nt = 72;
    DeviceArray<unsigned> dout(nt * 6);
    launch(votes, dim3(1), dim3(nt), 0, nullptr, dout.ptr);
    CUDA_CHECK(cudaGetLastError());
    std::vector<unsigned> got = dout.back();
    int bad = 0;
    for (int t = 0; t < nt; t++) {
        int base = t / 32 * 32;
        unsigned ballot = 0;
        for (int l = 0; l < 32 && base + l < nt; l++)
            if ((base + l) % 3 == 0) ballot |= 1u << l;
        unsigned want[6] = {ballot, 1, 0, 40, 0, 1};
        for (int k = 0; k < 6; k++) bad += got[t * 6 + k] != want[k];
    }
    std::printf("votes: warp 2 ballot 0x%08x, count %u and %u or %u; %d mismatches\n", got[64 * 6], got[3], got[4],
                got[5], bad);
    CHECK(bad == 0);
}

// ---- Tiled matmul at ragged sizes ------------------------------------------------------------------
// C: (M, N) = A: (M, K) @ B: (K, N), row-major fp32; 16x16 tiles in static shared memory, 2-D blocks.
constexpr int kTile = 16;
__global__ void matmul_tiled(float* C, const float* A, const float* B, int M, int N, int K) {
    __shared__ float As[kTile][kTile];
    __shared__ float Bs[kTile][kTile];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * kTile + ty, col = blockIdx.x * kTile + tx;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += kTile) {
        As[ty][tx] = row < M && k0 + tx < K ? A[row * K + k0 + tx] : 0.0f;
        Bs[ty][tx] = k0 + ty < K && col < N ? B[(k0 + ty) * N + col] : 0.0f;
        __syncthreads();
        for (int k = 0; k < kTile; k++) acc = fmaf(As[ty][k], Bs[k][tx], acc);
        __syncthreads();
    }
    if (row < M && col < N) C[row * N + col] = acc;
}

TEST_CASE("tiled matmul with ragged sizes and 2-D blocks") {
    const int M = 37, N = 29, K = 45;
    std::vector<float> a = test_values(M * K, 1), b = test_values(K * N, 2), want(M * N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)a[i * K + k] * b[k * N + j];
            want[i * N + j] = (float)s;
        }
    DeviceArray<float> dA(a), dB(b), dC(M * N);
    launch(matmul_tiled, dim3((N + kTile - 1) / kTile, (M + kTile - 1) / kTile), dim3(kTile, kTile), 0, nullptr,
           dC.ptr, dA.ptr, dB.ptr, M, N, K);
    CUDA_CHECK(cudaGetLastError());
    // fp32 accumulation of K products of magnitude <= 1: rtol 1e-5 and atol 1e-5 * sqrt(K).
    CHECK(check_close("matmul 37x29x45", dC.back(), want, 1e-5 * std::sqrt((double)K), 1e-5));
}

// ---- Atomics across blocks --------------------------------------------------------------------------
// hist: (16,) += counts of x % 16; mx: (1,) = max(x) by atomicMax; cas_sum: (1,) += x by an atomicCAS
// loop; last: (1,) = some x by atomicExch (any is right; checked to be one of them).
__global__ void atomics(int* hist, int* mx, unsigned long long* cas_sum, int* last, const int* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    atomicAdd(&hist[x[i] % 16], 1);
    atomicMax(mx, x[i]);
    unsigned long long old = *cas_sum, seen;
    do {
        seen = old;
        old = atomicCAS(cas_sum, seen, seen + (unsigned long long)x[i]);
    } while (old != seen);
    atomicExch(last, x[i]);
}

TEST_CASE("atomics across blocks: add, max, CAS loop, exch") {
    const int n = 1000;
    std::vector<int> x(n);
    for (int i = 0; i < n; i++) x[i] = (i * 37 + 11) % 997;
    DeviceArray<int> dx(x), dhist(std::vector<int>(16, 0)), dmax(std::vector<int>{-1}), dlast(1);
    DeviceArray<unsigned long long> dsum(std::vector<unsigned long long>{0});
    launch(atomics, dim3((n + 127) / 128), dim3(128), 0, nullptr, dhist.ptr, dmax.ptr, dsum.ptr, dlast.ptr, dx.ptr,
           n);
    CUDA_CHECK(cudaGetLastError());
    std::vector<int> hist(16, 0);
    unsigned long long sum = 0;
    int mx = -1;
    for (int v : x) hist[v % 16]++, sum += v, mx = std::max(mx, v);
    std::printf("atomics: hist[0..3] %d %d %d %d (want %d %d %d %d), max %d (%d), sum %llu (%llu)\n",
                dhist.back()[0], dhist.back()[1], dhist.back()[2], dhist.back()[3], hist[0], hist[1], hist[2],
                hist[3], dmax.back()[0], mx, dsum.back()[0], sum);
    CHECK(dhist.back() == hist);
    CHECK(dmax.back()[0] == mx);
    CHECK(dsum.back()[0] == sum);
    int last = dlast.back()[0];
    CHECK(std::find(x.begin(), x.end(), last) != x.end());
}

// ---- Dynamic shared memory above the default limit ----------------------------------------------------
// out: (blockDim.x,) = in reversed, through 64 KiB of dynamic shared memory (the kernel also checks the
// first 16 Ki floats are writable).
__global__ void reverse_big_smem(float* out, const float* in) {
    SIM_DYNAMIC_SMEM(float, smem);
    int t = threadIdx.x, n = blockDim.x;
    for (int i = t; i < 16384; i += n) smem[i] = (float)i;
    __syncthreads();
    smem[16384 - n + t] = in[t];
    __syncthreads();
    out[t] = smem[16384 - 1 - t] + smem[t] - (float)t;
}

TEST_CASE("dynamic shared memory: 64 KiB needs cudaFuncSetAttribute, as on the GPU") {
    const int n = 100;
    std::vector<float> in(n), want(n);
    for (int i = 0; i < n; i++) in[i] = (float)i * 0.5f, want[n - 1 - i] = in[i];
    DeviceArray<float> din(in), dout(n);
    size_t smem = 16384 * sizeof(float);
    launch(reverse_big_smem, dim3(1), dim3(n), smem, nullptr, dout.ptr, din.ptr);
    cudaError_t e = cudaGetLastError();
    std::printf("launch with 64 KiB dynamic smem before the attribute: %s\n", cudaGetErrorString(e));
    CHECK(e != cudaSuccess);
    CUDA_CHECK(cudaFuncSetAttribute(reverse_big_smem, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    launch(reverse_big_smem, dim3(1), dim3(n), smem, nullptr, dout.ptr, din.ptr);
    CUDA_CHECK(cudaGetLastError());
    CHECK(check_close("reverse through 64 KiB smem", dout.back(), want, 0, 0));
}

// ---- Runtime ------------------------------------------------------------------------------------------
__global__ void write_even(float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n && i % 2 == 0) out[i] = 1.0f;
}

TEST_CASE("runtime: bad launch configurations set the last error; events time; device properties") {
    DeviceArray<float> d(8);
    launch(write_even, dim3(1), dim3(2048), 0, nullptr, d.ptr, 8);
    cudaError_t e = cudaGetLastError();
    std::printf("block of 2048 threads: %s\n", cudaGetErrorString(e));
    CHECK(e == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaSuccess);

    cudaEvent_t start, stop;
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
    CUDA_CHECK(cudaEventRecord(start, nullptr));
    launch(write_even, dim3(1), dim3(8), 0, nullptr, d.ptr, 8);
    CUDA_CHECK(cudaEventRecord(stop, nullptr));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = -1;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    std::printf("event elapsed %.3f ms\n", ms);
    CHECK(ms >= 0);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);

    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
    std::printf("device: %s, sm_%d%d, %d SMs, warp %d, smem/block %zu (opt-in %zu)\n", p.name, p.major, p.minor,
                p.multiProcessorCount, p.warpSize, p.sharedMemPerBlock, p.sharedMemPerBlockOptin);
    CHECK(p.warpSize == 32);
    CHECK(p.maxThreadsPerBlock == 1024);
}

// ---- Keywords: __constant__ with cudaMemcpyToSymbol, __launch_bounds__, __forceinline__, __restrict__ -
__constant__ float c_scale[4];

__device__ __forceinline__ float scaled(float x, int k) { return x * c_scale[k % 4]; }

// out: (n,) = x * c_scale[i % 4].
__global__ void __launch_bounds__(128) scale_by_constant(float* __restrict__ out, const float* __restrict__ x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = scaled(x[i], i);
}

TEST_CASE("keywords: __constant__ memory set by cudaMemcpyToSymbol, __launch_bounds__, __forceinline__") {
    const int n = 10;
    float scale[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    CUDA_CHECK(cudaMemcpyToSymbol(c_scale, scale, sizeof scale));
    std::vector<float> x(n, 1.5f), want(n);
    for (int i = 0; i < n; i++) want[i] = 1.5f * scale[i % 4];
    DeviceArray<float> dx(x), dout(n);
    launch(scale_by_constant, dim3(1), dim3(128), 0, nullptr, dout.ptr, dx.ptr, n);
    CUDA_CHECK(cudaGetLastError());
    CHECK(check_close("scale by __constant__", dout.back(), want, 0, 0));
}
