// exp, log1p-based softplus and sigmoid for float that GCC vectorizes (no calls, no branches):
// Cephes' single-precision polynomials (S. Moshier) with Cody-Waite range reduction, accurate to about
// 2 ulp over the ranges used here. The double versions call the C library: they exist for the
// finite-difference tests, which need every digit.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace cpu {

inline float exp_fast(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // exp(-87) ~ 1.6e-38 stands in for 0
    float n = std::floor(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // x - n ln2, ln2 split in two
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;  // 2^n
    float scale;
    std::memcpy(&scale, &bits, 4);
    return p * scale;
}
inline double exp_fast(double x) { return std::exp(x); }

// log(x) for normal x > 0.
inline float log_fast(float x) {
    int32_t bits;
    std::memcpy(&bits, &x, 4);
    float e = (float)(((bits >> 23) & 0xff) - 127);
    bits = (bits & 0x007fffff) | 0x3f800000;  // mantissa in [1, 2)
    float m;
    std::memcpy(&m, &bits, 4);
    bool big = m > 1.41421356237f;  // keep m in [sqrt(1/2), sqrt(2))
    m = big ? 0.5f * m : m;
    e = big ? e + 1.0f : e;
    float f = m - 1.0f, z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    return f + y + 0.693359375f * e;
}

// softplus(v) = log(1 + e^v) = max(v, 0) + log1p(e^-|v|). For v > 20 this is v to float precision, as
// torch.nn.functional.softplus's threshold gives. log1p(y) = log(1 + y) * y / ((1 + y) - 1) (Goldberg)
// keeps the small-y digits that log(1 + y) alone loses.
inline float softplus_fast(float v) {
    float y = exp_fast(-std::fabs(v)), u = 1.0f + y, d = u - 1.0f;
    float l = d == 0.0f ? y : log_fast(u) * (y / d);
    return (v > 0.0f ? v : 0.0f) + l;
}
inline double softplus_fast(double v) { return v > 20 ? v : std::log1p(std::exp(v)); }

template <class T>
inline T sigmoid_fast(T v) { return T(1) / (T(1) + exp_fast(-v)); }

}  // namespace cpu
