// Device functions that nvcc provides and g++ does not: atomics (real atomics, so blocks on several OS
// threads are safe), math and fast-math intrinsics, cache-hinted loads and stores, bit tricks, and the
// bf16/fp16 helpers that cuda_bf16.h and cuda_fp16.h declare only for the device.
//
// Precision: the fast-math intrinsics (__expf, __logf, __fdividef ...) are computed at full fp32
// precision here, which is at least as accurate as the GPU's; tolerances in tests come from the dtype.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

// ---- Atomics: return the old value, like CUDA's ------------------------------------------------------
namespace sim {
template <class T>
T atomic_update(T* addr, T (*f)(T, T), T v) {
    std::atomic_ref<T> a(*addr);
    T old = a.load(std::memory_order_relaxed);
    while (!a.compare_exchange_weak(old, f(old, v), std::memory_order_relaxed)) {
    }
    return old;
}
// 16-bit floating types through their bits (atomic_ref needs a trivially copyable type of native size).
template <class H>
H atomic_add16(H* addr, H v) {
    std::atomic_ref<unsigned short> a(*reinterpret_cast<unsigned short*>(addr));
    unsigned short old = a.load(std::memory_order_relaxed), next;
    do {
        H o;
        std::memcpy(static_cast<void*>(&o), &old, 2);
        H n = H(float(o) + float(v));
        std::memcpy(&next, &n, 2);
    } while (!a.compare_exchange_weak(old, next, std::memory_order_relaxed));
    H o;
    std::memcpy(static_cast<void*>(&o), &old, 2);
    return o;
}
}  // namespace sim

#define SIM_ATOMIC_INT(T)                                                                                     \
    inline T atomicAdd(T* p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }                      \
    inline T atomicSub(T* p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }                      \
    inline T atomicAnd(T* p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_RELAXED); }                      \
    inline T atomicOr(T* p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }                        \
    inline T atomicXor(T* p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_RELAXED); }                      \
    inline T atomicExch(T* p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }                    \
    inline T atomicMax(T* p, T v) {                                                                           \
        return sim::atomic_update<T>(p, [](T a, T b) { return a > b ? a : b; }, v);                           \
    }                                                                                                         \
    inline T atomicMin(T* p, T v) {                                                                           \
        return sim::atomic_update<T>(p, [](T a, T b) { return a < b ? a : b; }, v);                           \
    }                                                                                                         \
    inline T atomicCAS(T* p, T compare, T v) {                                                                \
        __atomic_compare_exchange_n(p, &compare, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);               \
        return compare;                                                                                       \
    }
SIM_ATOMIC_INT(int)
SIM_ATOMIC_INT(unsigned int)
SIM_ATOMIC_INT(unsigned long long)
SIM_ATOMIC_INT(long long)
#undef SIM_ATOMIC_INT

inline float atomicAdd(float* p, float v) { return sim::atomic_update<float>(p, [](float a, float b) { return a + b; }, v); }
inline double atomicAdd(double* p, double v) {
    return sim::atomic_update<double>(p, [](double a, double b) { return a + b; }, v);
}
inline float atomicExch(float* p, float v) { return std::atomic_ref<float>(*p).exchange(v, std::memory_order_relaxed); }
inline unsigned int atomicInc(unsigned int* p, unsigned int v) {
    return sim::atomic_update<unsigned int>(p, [](unsigned a, unsigned b) { return a >= b ? 0u : a + 1; }, v);
}
inline __nv_bfloat16 atomicAdd(__nv_bfloat16* p, __nv_bfloat16 v) { return sim::atomic_add16(p, v); }
inline __half atomicAdd(__half* p, __half v) { return sim::atomic_add16(p, v); }
inline __nv_bfloat162 atomicAdd(__nv_bfloat162* p, __nv_bfloat162 v) {
    // Each half is atomic on its own, as on the GPU.
    __nv_bfloat16* h = reinterpret_cast<__nv_bfloat16*>(p);
    __nv_bfloat162 old;
    old.x = sim::atomic_add16(h, v.x);
    old.y = sim::atomic_add16(h + 1, v.y);
    return old;
}

inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- Loads and stores with cache hints: plain accesses here -------------------------------------------
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldca(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldlu(const T* p) { return *p; }
template <class T> inline T __ldcv(const T* p) { return *p; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stwb(T* p, T v) { *p = v; }
template <class T> inline void __stwt(T* p, T v) { *p = v; }

// ---- min/max overloads that CUDA has in device code ----------------------------------------------------
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline unsigned min(int a, unsigned b) { return min((unsigned)a, b); }
inline unsigned max(int a, unsigned b) { return max((unsigned)a, b); }
inline unsigned min(unsigned a, int b) { return min(a, (unsigned)b); }
inline unsigned max(unsigned a, int b) { return max(a, (unsigned)b); }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// ---- fp32 math intrinsics --------------------------------------------------------------------------
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return exp10f(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __tanhf(float x) { return tanhf(x); }
inline void __sincosf(float x, float* s, float* c) { *s = sinf(x), *c = cosf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline float __saturatef(float x) { return x >= 1.0f ? 1.0f : x > 0.0f ? x : 0.0f; }  // NaN -> 0, as on the GPU
inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline int __float2int_rd(float x) { return (int)floorf(x); }
inline int __float2int_ru(float x) { return (int)ceilf(x); }
inline unsigned __float2uint_rn(float x) { return (unsigned)nearbyintf(x); }
inline long long __float2ll_rn(float x) { return (long long)nearbyintf(x); }
inline float __int2float_rn(int x) { return (float)x; }
inline float __uint2float_rn(unsigned x) { return (float)x; }
inline float __ll2float_rn(long long x) { return (float)x; }
inline float __double2float_rn(double x) { return (float)x; }
inline int __double2int_rn(double x) { return (int)nearbyint(x); }

// ---- Bits -------------------------------------------------------------------------------------------
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
    return (x >> 16) | (x << 16);
}
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline int __mul24(int a, int b) { return (int)((long long)(a << 8 >> 8) * (b << 8 >> 8)); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
inline unsigned __funnelshift_l(unsigned lo, unsigned hi, unsigned s) {
    unsigned long long v = ((unsigned long long)hi << 32) | lo;
    return (unsigned)((v << (s & 31)) >> 32);
}
inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned s) {
    unsigned long long v = ((unsigned long long)hi << 32) | lo;
    return (unsigned)(v >> (s & 31));
}
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    unsigned long long v = ((unsigned long long)y << 32) | x;
    unsigned r = 0;
    for (int i = 0; i < 4; i++) r |= (unsigned)((v >> (((s >> (4 * i)) & 7) * 8)) & 0xff) << (8 * i);
    return r;
}

// ---- bf16 / fp16 helpers the CUDA headers keep for the device ---------------------------------------
// Computed in fp32 and rounded once, as the GPU's fused instructions do.
#define SIM_HALF_HELPERS(H, H2, TO_H)                                                                   \
    inline H __hfma(H a, H b, H c) { return TO_H(fmaf(float(a), float(b), float(c))); }                  \
    inline H __hfma_relu(H a, H b, H c) {                                                                 \
        float r = fmaf(float(a), float(b), float(c));                                                      \
        return TO_H(r > 0.0f ? r : 0.0f);                                                                  \
    }                                                                                                      \
    inline H2 __hfma2(H2 a, H2 b, H2 c) {                                                                 \
        H2 r;                                                                                              \
        r.x = __hfma(a.x, b.x, c.x), r.y = __hfma(a.y, b.y, c.y);                                          \
        return r;                                                                                          \
    }                                                                                                      \
    inline H hexp(H a) { return TO_H(expf(float(a))); }                                                   \
    inline H hexp2(H a) { return TO_H(exp2f(float(a))); }                                                 \
    inline H hlog(H a) { return TO_H(logf(float(a))); }                                                   \
    inline H hlog2(H a) { return TO_H(log2f(float(a))); }                                                 \
    inline H hsqrt(H a) { return TO_H(sqrtf(float(a))); }                                                 \
    inline H hrsqrt(H a) { return TO_H(1.0f / sqrtf(float(a))); }                                         \
    inline H hrcp(H a) { return TO_H(1.0f / float(a)); }                                                  \
    inline H hsin(H a) { return TO_H(sinf(float(a))); }                                                   \
    inline H hcos(H a) { return TO_H(cosf(float(a))); }                                                   \
    inline H htanh(H a) { return TO_H(tanhf(float(a))); }                                                 \
    inline H2 h2exp(H2 a) {                                                                               \
        H2 r;                                                                                              \
        r.x = hexp(a.x), r.y = hexp(a.y);                                                                  \
        return r;                                                                                          \
    }                                                                                                      \
    inline H2 h2sqrt(H2 a) {                                                                              \
        H2 r;                                                                                              \
        r.x = hsqrt(a.x), r.y = hsqrt(a.y);                                                                \
        return r;                                                                                          \
    }
SIM_HALF_HELPERS(__nv_bfloat16, __nv_bfloat162, __float2bfloat16_rn)
SIM_HALF_HELPERS(__half, __half2, __float2half_rn)
#undef SIM_HALF_HELPERS
inline int __bfloat162int_rn(__nv_bfloat16 a) { return (int)nearbyintf(__bfloat162float(a)); }
