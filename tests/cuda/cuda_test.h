// Helpers of the CUDA kernel tests (tests/cuda/test_*.cu): device buffers that can be re-poisoned,
// random inputs, bf16 rounding, and the tolerance rule with its evidence printed.
//
// Tolerance rule (README, Architecture): |got - want| <= atol + rtol |want| elementwise, with
//   rtol = 1e-5 (fp32 forward) or 1e-4 (fp32 gradients), and atol = rtol * rms(want): rounding errors
//   of a sum scale with its terms, so an element that cancels to ~0 is judged at the tensor's scale;
//   bf16 outputs: rtol + 2^-8. The bf16 tests give the kernel and the CPU reference the SAME
//   bf16-rounded inputs; the kernel computes in fp32 and rounds each bf16 output once (unit roundoff
//   of an 8-bit significand: 2^-8), so the only extra error is that one rounding. fp32 outputs of the
//   bf16 kernels (parameter gradients, the residual stream) keep the fp32 tolerance.
// Compiles under nvcc (the GPU check) and in the simulator.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "cpu/layers.h"
#include "kernels.h"

constexpr double RTOL_FWD = 1e-5;
constexpr double RTOL_GRAD = 1e-4;
constexpr double U_BF16 = 1.0 / 256;  // unit roundoff of bf16 (8 significant bits)

// The rtol of an output of type T computed in fp32 from identical inputs.
template <class T>
constexpr double rtol_of(double fp32_rtol) {
    return std::is_same_v<T, float> ? fp32_rtol : fp32_rtol + U_BF16;
}
template <class T>
constexpr const char* type_name() {
    return std::is_same_v<T, float> ? "fp32" : "bf16";
}

// A device array of n elements; poison() fills it with 0xFF bytes (NaN in fp32 and bf16).
template <class T>
struct Dev {
    T* p = nullptr;
    size_t n = 0;
    explicit Dev(size_t count) : n(count) {
        CUDA_CHECK(cudaMalloc(&p, (n ? n : 1) * sizeof(T)));
        poison();
    }
    explicit Dev(const std::vector<T>& h) : Dev(h.size()) { upload(h); }
    ~Dev() { cudaFree(p); }
    void upload(const std::vector<T>& h) {
        REQUIRE(h.size() == n);
        CUDA_CHECK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
    }
    void poison() { CUDA_CHECK(cudaMemset(p, 0xFF, (n ? n : 1) * sizeof(T))); }
    std::vector<T> back() const {
        std::vector<T> h(n);
        CUDA_CHECK(cudaDeviceSynchronize());
        CUDA_CHECK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
        return h;
    }
    Dev(const Dev&) = delete;
    Dev& operator=(const Dev&) = delete;
};

// Uniform values in [lo, hi), from a fixed seed.
inline std::vector<float> uniform(size_t n, float lo, float hi, unsigned seed) {
    std::mt19937 g(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}

template <class T>
std::vector<T> to_type(const std::vector<float>& x) {
    std::vector<T> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = gpu::from_float<T>(x[i]);
    return r;
}
template <class T>
std::vector<float> to_f32(const std::vector<T>& x) {
    std::vector<float> r(x.size());
    for (size_t i = 0; i < x.size(); i++) r[i] = gpu::to_float(x[i]);
    return r;
}
// x rounded to T and back: the values a T kernel sees.
template <class T>
std::vector<float> rounded(const std::vector<float>& x) {
    return to_f32(to_type<T>(x));
}

// Elements [r, c0 .. c0+cols) of each row r of a row-major [rows, ld] array.
inline std::vector<float> columns(const std::vector<float>& x, int rows, int ld, int c0, int cols) {
    std::vector<float> r((size_t)rows * cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) r[(size_t)i * cols + j] = x[(size_t)i * ld + c0 + j];
    return r;
}

// The rule above; prints "what: n, first got/want, max |err| (where), atol, rtol, bad count".
// `scale` (default: rms(want)) sets atol = rtol * scale; a sum that cancels to ~0 passes the scale of
// its terms.
inline bool check_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                        double rtol, double scale = -1) {
    REQUIRE(got.size() == want.size());
    double ss = 0;
    for (float w : want) ss += (double)w * w;
    const double atol = rtol * (scale >= 0 ? scale : std::sqrt(ss / (want.empty() ? 1 : want.size())));
    double worst = 0, used = 0;  // the largest error, and the largest err / (atol + rtol |want|)
    size_t worst_i = 0, bad = 0, nans = 0;
    for (size_t i = 0; i < got.size(); i++) {
        const double err = std::fabs((double)got[i] - want[i]), tol = atol + rtol * std::fabs((double)want[i]);
        if (!(err <= tol)) bad++;
        if (std::isnan(err)) nans++;
        else if (err > worst) worst = err, worst_i = i;
        if (tol > 0 && err / tol > used) used = err / tol;
    }
    std::printf("  %-44s n=%-6zu first", what.c_str(), got.size());
    for (size_t i = 0; i < got.size() && i < 2; i++) std::printf(" %+.6g/%+.6g", got[i], want[i]);
    std::printf("  max|err| %.2e at %zu (atol %.1e, rtol %.1e, %.0f%% of tol) %s", worst, worst_i, atol, rtol, 100 * used,
                bad ? (std::to_string(bad) + " BAD").c_str() : "ok");
    if (nans) std::printf(" (%zu NaN: unwritten?)", nans);
    std::printf("\n");
    return bad == 0;
}

// offsets of sequences of the given lengths: [0, l0, l0+l1, ...].
inline std::vector<int32_t> offsets_of(const std::vector<int>& lens) {
    std::vector<int32_t> o{0};
    for (int l : lens) o.push_back(o.back() + l);
    return o;
}
