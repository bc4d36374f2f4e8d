// Helpers for the simulator's tests: device buffers, a CUDA check, and the tolerance rule (README,
// Architecture: |a-b| <= atol + rtol*|b|) with the evidence printed. Compiles under nvcc and the simulator.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include "sim/launch.h"

#define CUDA_CHECK(expr)                                                                             \
    do {                                                                                             \
        cudaError_t e_ = (expr);                                                                     \
        if (e_ != cudaSuccess) {                                                                     \
            std::fprintf(stderr, "error: %s failed at %s:%d: %s\n", #expr, __FILE__, __LINE__,       \
                         cudaGetErrorString(e_));                                                    \
            std::exit(1);                                                                            \
        }                                                                                            \
    } while (0)

// A device array holding a copy of a host vector; back() copies it out.
template <class T>
struct DeviceArray {
    T* ptr = nullptr;
    size_t n = 0;
    explicit DeviceArray(size_t count) : n(count) { CUDA_CHECK(cudaMalloc(&ptr, (count ? count : 1) * sizeof(T))); }
    explicit DeviceArray(const std::vector<T>& h) : DeviceArray(h.size()) {
        CUDA_CHECK(cudaMemcpy(ptr, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
    }
    ~DeviceArray() { cudaFree(ptr); }
    std::vector<T> back() const {
        std::vector<T> h(n);
        CUDA_CHECK(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
        return h;
    }
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;
};

// Deterministic inputs in [-1, 1).
inline std::vector<float> test_values(size_t n, unsigned seed) {
    std::vector<float> v(n);
    unsigned s = seed * 2654435761u + 1;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return v;
}

// Checks got against want elementwise with |a-b| <= atol + rtol*|b|; prints the first values and the
// worst error. Returns true when all match.
inline bool check_close(const char* what, const std::vector<float>& got, const std::vector<float>& want,
                        double atol, double rtol) {
    REQUIRE(got.size() == want.size());
    double worst = 0;
    size_t worst_i = 0, bad = 0;
    for (size_t i = 0; i < got.size(); i++) {
        double err = std::fabs((double)got[i] - want[i]);
        double tol = atol + rtol * std::fabs((double)want[i]);
        if (!(err <= tol)) bad++;
        if (std::isnan(err) ? !std::isnan(worst) : err > worst) worst = err, worst_i = i;
    }
    std::printf("%s: n=%zu first got/want", what, got.size());
    for (size_t i = 0; i < got.size() && i < 3; i++) std::printf(" %.6g/%.6g", got[i], want[i]);
    std::printf("; max |err| %.3g at %zu (atol %.1g, rtol %.1g); %zu bad\n", worst, worst_i, atol, rtol, bad);
    return bad == 0;
}
