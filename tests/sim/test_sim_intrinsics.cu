// Device helpers under the simulator: bf16/fp16 arithmetic and conversions (including the ones the
// CUDA headers keep for the device), shuffles of 16- and 64-bit types, atomics on bf16/float/double,
// fast-math intrinsics against libm; and the simulator's speed per thread per barrier and per shuffle,
// printed as evidence. Compiles under nvcc too.
#include <chrono>
#include <cmath>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "test_util.h"

// out: (32, 8) per lane: bf16 fma, bf16 exp, half fma, bf162 fma (x and y), a bf16 shuffled from
// lane+1, a double shuffled from lane^1, and bf16 <-> int round trip.
__global__ void half_helpers(float* out) {
    int l = threadIdx.x;
    float x = 0.25f * (float)(l - 16);
    __nv_bfloat16 b = __float2bfloat16(x), one = __float2bfloat16(1.0f);
    __half h = __float2half(x);
    __nv_bfloat162 b2 = __floats2bfloat162_rn(x, -x);
    __nv_bfloat162 r2 = __hfma2(b2, b2, __floats2bfloat162_rn(1.0f, 1.0f));
    __nv_bfloat16 sh = __shfl_down_sync(0xffffffffu, b, 1);
    double d = __shfl_xor_sync(0xffffffffu, (double)l * 1.5, 1);
    out[l * 8 + 0] = __bfloat162float(__hfma(b, b, one));
    out[l * 8 + 1] = __bfloat162float(hexp(b));
    out[l * 8 + 2] = __half2float(__hfma(h, h, __float2half(1.0f)));
    out[l * 8 + 3] = __low2float(r2);
    out[l * 8 + 4] = __high2float(r2);
    out[l * 8 + 5] = __bfloat162float(sh);
    out[l * 8 + 6] = (float)d;
    out[l * 8 + 7] = (float)__bfloat162int_rn(__float2bfloat16(x * 3.0f));
}

TEST_CASE("bf16/fp16 helpers and shuffles of 16- and 64-bit types") {
    DeviceArray<float> dout(32 * 8);
    launch(half_helpers, dim3(1), dim3(32), 0, nullptr, dout.ptr);
    CUDA_CHECK(cudaGetLastError());
    std::vector<float> want(32 * 8);
    auto bf = [](float v) { return __bfloat162float(__float2bfloat16(v)); };
    for (int l = 0; l < 32; l++) {
        float x = 0.25f * (float)(l - 16), b = bf(x);
        float* w = &want[l * 8];
        w[0] = bf(b * b + 1.0f), w[1] = bf(std::exp(b)), w[2] = __half2float(__float2half(x * x + 1.0f));
        w[3] = bf(b * b + 1.0f), w[4] = bf(b * b + 1.0f), w[5] = l < 31 ? bf(0.25f * (float)(l + 1 - 16)) : b;
        w[6] = (float)((l ^ 1) * 1.5), w[7] = std::nearbyint(bf(3.0f * x));
    }
    // Each value is one bf16 rounding of the exact result on both sides: rtol 1e-2 (bf16), atol 0.
    CHECK(check_close("half helpers", dout.back(), want, 0, 1e-2));
}

// acc: (3,) += 1 from every thread, in bf16, float and double; grid of 8 blocks of 64.
__global__ void atomic_types(__nv_bfloat16* acc_bf16, float* acc_f, double* acc_d) {
    atomicAdd(acc_bf16, __float2bfloat16(1.0f));
    atomicAdd(acc_f, 1.0f);
    atomicAdd(acc_d, 1.0);
}

TEST_CASE("atomicAdd on bf16, float and double across blocks") {
    DeviceArray<__nv_bfloat16> db(std::vector<__nv_bfloat16>{__float2bfloat16(0.0f)});
    DeviceArray<float> df(std::vector<float>{0.0f});
    DeviceArray<double> dd(std::vector<double>{0.0});
    launch(atomic_types, dim3(8), dim3(64), 0, nullptr, db.ptr, df.ptr, dd.ptr);
    CUDA_CHECK(cudaGetLastError());
    float b = __bfloat162float(db.back()[0]);
    std::printf("512 atomic adds of 1: bf16 %g (bf16 stops at 256: 256 + 1 rounds to 256), float %g, double %g\n", b,
                df.back()[0], dd.back()[0]);
    CHECK(b == 256.0f);
    CHECK(df.back()[0] == 512.0f);
    CHECK(dd.back()[0] == 512.0);
}

// out: (n, 6) = __expf, __logf, rsqrtf, __fdividef, __saturatef, __frcp_rn of x: (n,) in (0, 4).
__global__ void fast_math(float* out, const float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = x[i];
    out[i * 6 + 0] = __expf(v);
    out[i * 6 + 1] = __logf(v);
    out[i * 6 + 2] = rsqrtf(v);
    out[i * 6 + 3] = __fdividef(1.0f, v);
    out[i * 6 + 4] = __saturatef(v - 1.5f);
    out[i * 6 + 5] = __frcp_rn(v);
}

TEST_CASE("fast-math intrinsics against libm") {
    const int n = 100;
    std::vector<float> x(n), want(n * 6);
    for (int i = 0; i < n; i++) {
        x[i] = 0.04f * (float)(i + 1);
        float v = x[i], s = v - 1.5f;
        float* w = &want[i * 6];
        w[0] = std::exp(v), w[1] = std::log(v), w[2] = 1.0f / std::sqrt(v), w[3] = 1.0f / v;
        w[4] = s < 0 ? 0.0f : s > 1 ? 1.0f : s, w[5] = 1.0f / v;
    }
    DeviceArray<float> dx(x), dout(n * 6);
    launch(fast_math, dim3(2), dim3(64), 0, nullptr, dout.ptr, dx.ptr, n);
    CUDA_CHECK(cudaGetLastError());
    // The GPU's __expf/__logf are approximations good to ~2 ulp + a small absolute error: rtol 1e-5
    // (fp32 rule), atol 1e-6 for __logf near 1.
    CHECK(check_close("fast math", dout.back(), want, 1e-6, 1e-5));
}

// out: (blockDim.x,) after `rounds` rounds of a barrier and a warp shuffle each.
__global__ void barrier_loop(float* out, int rounds) {
    float v = (float)threadIdx.x;
    for (int r = 0; r < rounds; r++) {
        __syncthreads();
        v = __shfl_xor_sync(0xffffffffu, v, 1);
    }
    out[threadIdx.x] = v;
}

TEST_CASE("speed: cost per thread per barrier+shuffle round (evidence, loose bound)") {
    const int threads = 1024, rounds = 200;
    DeviceArray<float> d(threads);
    auto t0 = std::chrono::steady_clock::now();
    launch(barrier_loop, dim3(1), dim3(threads), 0, nullptr, d.ptr, rounds);
    CUDA_CHECK(cudaDeviceSynchronize());
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double ns = s * 1e9 / ((double)threads * rounds);
    std::printf("%d threads x %d rounds of __syncthreads + __shfl_xor_sync: %.3f s, %.1f ns per thread per round\n",
                threads, rounds, s, ns);
    CHECK(d.back()[3] == 3.0f);  // an even number of swaps
#ifdef CUDA_SIM
    CHECK(ns < 2000);  // an order of magnitude above what this 2-core machine measures
#endif
}
