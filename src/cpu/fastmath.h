// W-wide vectors of float or double (GCC / Clang vector extensions: AVX-512 registers where the CPU has
// them, pairs of AVX2 registers otherwise), and exp, log, softplus and sigmoid on them without calls or
// branches. The float versions are Cephes' single-precision polynomials (S. Moshier) with Cody-Waite
// range reduction, accurate to about 2 ulp over the ranges used here. The double versions apply the C
// library per lane: they exist for the finite-difference tests, which need every digit.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace cpu {

constexpr int W = 16;  // lanes: 16 fp32 = one 512-bit register

template <class T>
struct Vec {
    typedef T type __attribute__((vector_size(W * sizeof(T))));
};
typedef typename Vec<float>::type vf;
typedef typename Vec<double>::type vd;
typedef int32_t vi __attribute__((vector_size(W * sizeof(int32_t))));

template <class V>
inline V splat(decltype(V{}[0]) x) {
    return V{} + x;
}

// exp, with inputs below -87 treated as -87 (exp(-87) ~ 1.6e-38 stands in for 0).
inline vf vexp(vf x) {
    x = x < -87.0f ? splat<vf>(-87.0f) : x;
    x = x > 88.0f ? splat<vf>(88.0f) : x;
    vf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest (1.5 * 2^23 trick)
    vf r = x - n * 0.693359375f + n * 2.12194440e-4f;                // x - n ln2, ln2 split in two
    vf p = splat<vf>(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;  // 2^n as float bits
    return p * (vf)e;
}
inline vd vexp(vd x) {
    for (int i = 0; i < W; i++) x[i] = std::exp(x[i]);
    return x;
}

// 2^x for x <= 0 (the scan's decays exp(delta A) = 2^(delta A log2 e) with A < 0 < delta): inputs below
// -126 are treated as -126. x = n + f with n an integer and |f| <= 1/2; 2^f is Cephes' exp2f
// polynomial (about 2 ulp); 2^n is built in the exponent bits. Four operations fewer than vexp.
inline vf vexp2_nonpos(vf x) {
    x = x < -126.0f ? splat<vf>(-126.0f) : x;
    vf big = x + 12582912.0f;  // 1.5 * 2^23: the low mantissa bits of big hold round(x)
    vf n = big - 12582912.0f, f = x - n;
    vf p = splat<vf>(1.535336188319500e-4f);
    p = p * f + 1.339887440266574e-3f;
    p = p * f + 9.618437357674640e-3f;
    p = p * f + 5.550332471162809e-2f;
    p = p * f + 2.402264791363012e-1f;
    p = p * f + 6.931472028550421e-1f;
    p = p * f + 1.0f;
    vi e = ((vi)big << 23) + (127 << 23);  // round(x) + 127 in the exponent field
    return p * (vf)e;
}
inline vd vexp2_nonpos(vd x) {
    for (int i = 0; i < W; i++) x[i] = std::exp2(x[i]);
    return x;
}

// log, for normal positive inputs.
inline vf vlog(vf x) {
    vi bits = (vi)x;
    vf e = __builtin_convertvector(((bits >> 23) & 0xff) - 127, vf);
    vf m = (vf)((bits & 0x007fffff) | 0x3f800000);  // mantissa in [1, 2)
    auto big = m > 1.41421356237f;                   // keep m in [sqrt(1/2), sqrt(2))
    m = big ? m * 0.5f : m;
    e = big ? e + 1.0f : e;
    vf f = m - 1.0f, z = f * f;
    vf y = splat<vf>(7.0376836292e-2f);
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y += e * -2.12194440e-4f;
    y += z * -0.5f;
    return f + y + e * 0.693359375f;
}

// softplus(v) = log(1 + e^v) = max(v, 0) + log1p(e^-|v|); for v > 20 this is v to float precision, as
// torch.nn.functional.softplus's threshold gives. log1p(y) = log(1 + y) * y / ((1 + y) - 1) (Goldberg)
// keeps the small-y digits that log(1 + y) alone loses.
inline vf vsoftplus(vf v) {
    vf y = vexp(v < 0.0f ? v : -v), u = y + 1.0f, d = u - 1.0f;
    vf l = d == 0.0f ? y : vlog(u) * (y / (d == 0.0f ? splat<vf>(1.0f) : d));
    return (v > 0.0f ? v : splat<vf>(0.0f)) + l;
}
inline vd vsoftplus(vd v) {
    for (int i = 0; i < W; i++) v[i] = v[i] > 20 ? v[i] : std::log1p(std::exp(v[i]));
    return v;
}

template <class V>
inline V vsigmoid(V v) {
    return splat<V>(1) / (vexp(-v) + splat<V>(1));
}

// Sixteen horizontal sums at once: lane i of the result is the sum of the lanes of v[i]. A tree of
// W - 1 = 15 two-source shuffles pairs and adds halves, then quarters, ... (4 stages, 30 shuffles and
// 15 adds for 16 sums, where summing each vector alone costs 15 dependent scalar adds). The tree
// leaves the sums in bit-reversed lane order; one last permute restores it.
template <class V>
inline V hsum16(const V* v) {
    static_assert(W == 16);
    V a[8], b[4], c[2];
    for (int k = 0; k < 8; k++)
        a[k] = __builtin_shufflevector(v[2 * k], v[2 * k + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
               __builtin_shufflevector(v[2 * k], v[2 * k + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int k = 0; k < 4; k++)
        b[k] = __builtin_shufflevector(a[2 * k], a[2 * k + 1], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
               __builtin_shufflevector(a[2 * k], a[2 * k + 1], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int k = 0; k < 2; k++)
        c[k] = __builtin_shufflevector(b[2 * k], b[2 * k + 1], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) +
               __builtin_shufflevector(b[2 * k], b[2 * k + 1], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    V s = __builtin_shufflevector(c[0], c[1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) +
          __builtin_shufflevector(c[0], c[1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    return __builtin_shufflevector(s, s, 0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15);
}

// Loads a W-wide row x[t, e0 .. e0+w) into a vector, zero-filling lanes past the last channel.
template <class V, class T>
static inline V load_row(const T* x, int64_t ld, int t, int e0, int w) {
    const T* p = x + (int64_t)t * ld + e0;
    V v{};
    if (w == W) std::memcpy(&v, p, sizeof(V));
    else for (int i = 0; i < w; i++) v[i] = p[i];
    return v;
}
template <class V, class T>
static inline void store_row(T* x, int64_t ld, V v, int t, int e0, int w) {
    T* p = x + (int64_t)t * ld + e0;
    if (w == W) std::memcpy(p, &v, sizeof(V));
    else for (int i = 0; i < w; i++) p[i] = v[i];
}

}  // namespace cpu
