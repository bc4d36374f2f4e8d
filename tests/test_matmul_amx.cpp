// Tests of src/cpu/matmul_amx.cpp, the bf16 AMX GEMMs of the linear layers, at odd shapes (M in {0, 1, 17,
// 300, 1000}, Nout and Kin in {8, 40, 128, 257, 512}, and three with K > 1024), every GEMM (forward, da, dw) with and without
// accumulation, operands and results as column slices of wider rows (leading dimension > row length).
// On a machine without AMX each test prints why and passes without checking anything.
//
// (a) Against OpenBLAS fp32 (the fp32 path of matmul.cpp) on the SAME bf16-rounded inputs: every product
//     of two bf16 is exact in fp32, so only the order of the fp32 sums differs. Relative norm error
//     <= 1e-5 (fp32's ~1e-5 forward tolerance, README, Architecture; the expected value is ~2^-24 sqrt(K)).
// (b) Against OpenBLAS fp32 on the original inputs, elementwise, by the worst-case bound for bf16 inputs:
//     rounding to bf16 (8 significant bits, round to nearest even) gives a(1 + da), |da| <= u = 2^-8, so
//     each product a_k b_k is off by at most (2u + u^2)|a_k b_k|, and the K of them add up to at most
//     (2u + u^2) S with S = sum_k |a_k| |b_k|. Both results also carry their fp32 summation error, at
//     most gamma_{K+1} (S + |c0|) each (gamma_n = n 2^-24 / (1 - n 2^-24); c0 the value accumulated into).
//     So |bf16 - fp32| <= (2u + u^2) S + 2 gamma_{K+1} (S + |c0|); S is itself computed by sgemm on |a|,
//     |b| (relative error <= gamma_K < 1e-3), hence the factor 1.001; the bf16 side's own sum is over
//     products up to (1 + 2u + u^2) larger, hence 1.01 S in the fp32 term; and (K + 1) FLT_MIN covers
//     results flushed to zero (the engine runs with FTZ/DAZ, and so does TDPBF16PS). The bound is linear in S, which
//     grows like K while the result grows like sqrt(K) for random signs: relative to the result it is a
//     sqrt(K)-growing bound, as it must be for a worst case. The typical (rms) relative error is about
//     sqrt(2/3) u ~ 3e-3 whatever K; it is printed, not checked.
// (c) Outside the output slice nothing is written: the output buffer (its padding columns and one row
//     below) is filled with a NaN pattern first and compared bit for bit afterwards. Input padding holds
//     NaN too, so a read of it would poison the result and fail (a).
#include <doctest/doctest.h>

#include <omp.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "cpu/layers.h"
#include "core/rng.h"
#include "test_util.h"

// Round to bf16, nearest even, as VCVTNE2PS2BF16 does (denormal inputs read as zero; NaN stays NaN).
static float bf16_round(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7f800000) == 0) u &= 0x80000000;
    else if ((u & 0x7fffffff) > 0x7f800000) u |= 0x00400000;
    else u += 0x7fff + ((u >> 16) & 1);
    u &= 0xffff0000;
    std::memcpy(&x, &u, 4);
    return x;
}

static bool skip_without_amx() {
    const char* why = nullptr;
    if (cpu::amx_available(&why)) return false;
    std::printf("  skipped: AMX not available (%s)\n", why);
    return true;
}

static const uint32_t POISON = 0x7fa5a5a5;  // a NaN

// A rows x cols slice at column `off` of a row-major buffer with row stride ld, plus one guard row.
struct Slice {
    int rows, cols, ld, off;
    std::vector<float> buf;
    Slice(int r, int c, int pad, int o) : rows(r), cols(c), ld(c + pad), off(o), buf((size_t)(r + 1) * ld) {
        poison();
    }
    void poison() {
        for (auto& x : buf) std::memcpy(&x, &POISON, 4);
    }
    float* p() { return buf.data() + off; }
    float& at(int r, int c) { return buf[(size_t)r * ld + off + c]; }
    std::vector<float> slice() {
        std::vector<float> v;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) v.push_back(at(r, c));
        return v;
    }
    // Elements outside the slice whose bits are no longer the poison.
    int written_outside() {
        int n = 0;
        for (size_t i = 0; i < buf.size(); i++) {
            const int r = (int)(i / ld), c = (int)(i % ld) - off;
            if (r < rows && c >= 0 && c < cols) continue;
            n += std::memcmp(&buf[i], &POISON, 4) != 0;
        }
        return n;
    }
};

enum Gemm { FWD, DA, DW };
static const char* gemm_name[] = {"forward out = a w^T", "backward da = dout w", "backward dw += dout^T a"};

struct Operands {
    Slice a, dout;
    std::vector<float> w;
};

// Runs one GEMM into `c` (fp32 through matmul.cpp's default path, or the bf16 AMX kernel).
static void run(Gemm g, bool bf16, Operands& in, Slice& c, bool acc, int M, int Nout, int Kin) {
    const float *a = in.a.p(), *w = in.w.data(), *dout = in.dout.p();
    if (g == FWD) {
        if (bf16) cpu::matmul_forward_bf16(c.p(), c.ld, a, in.a.ld, w, M, Nout, Kin, acc);
        else cpu::matmul_forward<float>(c.p(), c.ld, a, in.a.ld, w, M, Nout, Kin, acc);
    } else if (g == DA) {
        if (bf16) cpu::matmul_backward_bf16(c.p(), c.ld, nullptr, dout, in.dout.ld, a, in.a.ld, w, M, Nout, Kin, acc);
        else cpu::matmul_backward<float>(c.p(), c.ld, nullptr, dout, in.dout.ld, a, in.a.ld, w, M, Nout, Kin, acc);
    } else {
        if (bf16) cpu::matmul_backward_bf16(nullptr, 0, c.p(), dout, in.dout.ld, a, in.a.ld, w, M, Nout, Kin, false);
        else cpu::matmul_backward<float>(nullptr, 0, c.p(), dout, in.dout.ld, a, in.a.ld, w, M, Nout, Kin, false);
    }
}

// Applies f to every element of the operands' slices (padding untouched).
template <class F>
static Operands map(const Operands& x, F f) {
    Operands y = x;
    for (Slice* s : {&y.a, &y.dout})
        for (int r = 0; r < s->rows; r++)
            for (int c = 0; c < s->cols; c++) s->at(r, c) = f(s->at(r, c));
    for (auto& v : y.w) v = f(v);
    return y;
}

struct Worst {  // per GEMM and accumulate flag, over all shapes
    double same = 0, ratio = 0, rms_lo = 1e9, rms_hi = 0;
    int shape_same[3] = {}, shape_ratio[3] = {}, outside = 0, cases = 0;
};

TEST_CASE("matmul_amx: bf16 GEMMs at odd shapes against fp32 OpenBLAS (same inputs, original inputs, bound)") {
    if (skip_without_amx()) return;
    const int Ms[] = {0, 1, 17, 300, 1000}, dims[] = {8, 40, 128, 257, 512};
    const double u = 1.0 / 256, u32 = 1.0 / (1 << 24);
    Worst worst[3][2];
    Rng rng(11);
    struct Shape { int M, Nout, Kin; };
    std::vector<Shape> shapes;
    for (int M : Ms)
        for (int Nout : dims)
            for (int Kin : dims) shapes.push_back({M, Nout, Kin});
    // Reductions longer than the kernel's 1024-deep K chunk (dw over 2100 tokens, da over Nout 1100,
    // forward over Kin 1100), with edges.
    shapes.push_back({2100, 40, 257}), shapes.push_back({300, 1100, 40}), shapes.push_back({300, 40, 1100});
    for (auto [M, Nout, Kin] : shapes) {
        Operands x{Slice(M, Kin, 5, 2), Slice(M, Nout, 7, 3), std::vector<float>((size_t)Nout * Kin)};
        for (Slice* s : {&x.a, &x.dout})
            for (int r = 0; r < M; r++)
                for (int c = 0; c < s->cols; c++) s->at(r, c) = (float)rng.uniform(-1, 1);
        for (auto& v : x.w) v = (float)rng.uniform(-1, 1);
        Operands xr = map(x, bf16_round), xabs = map(x, [](float v) { return std::fabs(v); });
        for (int g = FWD; g <= DW; g++)
            for (int acc = 0; acc < 2; acc++) {
                const int rows = g == DW ? Nout : M, cols = g == FWD ? Nout : Kin, K = g == FWD ? Kin : g == DA ? Nout : M;
                Slice c(rows, cols, g == DW ? 0 : 6, g == DW ? 0 : 3);
                auto init = [&](Slice& s, bool with_c0) {  // poison, then c0 in the slice if accumulating
                    s.poison();
                    Rng r0(rows * 7919 + cols);
                    for (int r = 0; r < rows; r++)
                        for (int q = 0; q < cols; q++)
                            if (with_c0) s.at(r, q) = (float)r0.uniform(-1, 1);
                            else if (g == DW) s.at(r, q) = 0;  // dw always accumulates: start at 0
                };
                Slice got = c, same = c, ref = c, S = c, c0 = c;
                init(got, acc), init(same, acc), init(ref, acc), init(S, false), init(c0, acc);
                run((Gemm)g, true, x, got, acc, M, Nout, Kin);
                run((Gemm)g, false, xr, same, acc, M, Nout, Kin);
                run((Gemm)g, false, x, ref, acc, M, Nout, Kin);
                run((Gemm)g, false, xabs, S, false, M, Nout, Kin);
                std::vector<float> vg = got.slice(), vs = same.slice(), vr = ref.slice(), vS = S.slice(),
                                   vc0 = c0.slice();
                const int64_t n = (int64_t)vg.size();
                const double e_same = rel_err(vg.data(), vs.data(), n), e_rms = rel_err(vg.data(), vr.data(), n);
                const double gam = (K + 1) * u32 / (1 - (K + 1) * u32);
                double ratio = 0;
                for (int64_t i = 0; i < n; i++) {
                    const double Sx = 1.001 * vS[i], ac0 = acc || g == DW ? std::fabs((double)vc0[i]) : 0;
                    const double bound = (2 * u + u * u) * Sx + 2 * gam * (1.01 * Sx + ac0) + (K + 1) * FLT_MIN;
                    const double d = std::fabs((double)vg[i] - (double)vr[i]);
                    ratio = std::fmax(ratio, bound > 0 ? d / bound : (d > 0 ? INFINITY : 0));
                    if (std::isnan(d)) ratio = INFINITY;
                }
                Worst& w = worst[g][acc];
                w.cases++;
                if (!(e_same <= w.same)) w.same = e_same, w.shape_same[0] = M, w.shape_same[1] = Nout, w.shape_same[2] = Kin;
                if (!(ratio <= w.ratio)) w.ratio = ratio, w.shape_ratio[0] = M, w.shape_ratio[1] = Nout, w.shape_ratio[2] = Kin;
                if (n) w.rms_lo = std::fmin(w.rms_lo, e_rms), w.rms_hi = std::fmax(w.rms_hi, e_rms);
                const int outside = got.written_outside();
                w.outside += outside;
                if (!(e_same <= 1e-5) || !(ratio <= 1) || outside)
                    std::printf("  FAIL %s acc %d M %d Nout %d Kin %d: rel err vs same inputs %.2e, bound ratio "
                                "%.3f, %d written outside\n", gemm_name[g], acc, M, Nout, Kin, e_same, ratio, outside);
                CHECK(e_same <= 1e-5);
                CHECK(ratio <= 1);
                CHECK(outside == 0);
            }
    }
    for (int g = FWD; g <= DW; g++)
        for (int acc = 0; acc < 2; acc++) {
            const Worst& w = worst[g][acc];
            std::printf("  %-24s %s %3d shapes: vs fp32 on the same bf16 inputs: worst rel err %.2e (tol 1e-5) at "
                        "M %d Nout %d Kin %d\n", gemm_name[g], g == DW ? (acc ? "from c0" : "from 0 ") : (acc ? "+=" : "= "),
                        w.cases, w.same, w.shape_same[0], w.shape_same[1], w.shape_same[2]);
            std::printf("  %-32s vs fp32 on the original inputs: |diff| / bound worst %.3f (tol 1) at M %d Nout %d Kin "
                        "%d; rel norm err %.2e .. %.2e (typical sqrt(2/3) 2^-8 = %.1e); %d written outside\n", "",
                        w.ratio, w.shape_ratio[0], w.shape_ratio[1], w.shape_ratio[2], w.rms_lo, w.rms_hi,
                        std::sqrt(2.0 / 3) * u, w.outside);
        }
}

TEST_CASE("matmul_amx: bit-identical run to run and across thread counts; the precision switch routes float only") {
    if (skip_without_amx()) {
        CHECK(!cpu::set_gemm_precision(cpu::GemmPrecision::bf16));
        CHECK(cpu::gemm_precision() == cpu::GemmPrecision::fp32);
        return;
    }
    const int M = 1000, Nout = 257, Kin = 512;
    Rng rng(5);
    std::vector<float> a((size_t)M * Kin), w((size_t)Nout * Kin), dout((size_t)M * Nout);
    for (auto* v : {&a, &w, &dout})
        for (auto& x : *v) x = (float)rng.uniform(-1, 1);
    auto all3 = [&](bool direct) {
        std::vector<float> out((size_t)M * Nout), da((size_t)M * Kin), dw((size_t)Nout * Kin, 0.5f);
        if (direct) {
            cpu::matmul_forward_bf16(out.data(), Nout, a.data(), Kin, w.data(), M, Nout, Kin, false);
            cpu::matmul_backward_bf16(da.data(), Kin, dw.data(), dout.data(), Nout, a.data(), Kin, w.data(), M, Nout, Kin, false);
        } else {
            cpu::matmul_forward<float>(out.data(), Nout, a.data(), Kin, w.data(), M, Nout, Kin, false);
            cpu::matmul_backward<float>(da.data(), Kin, dw.data(), dout.data(), Nout, a.data(), Kin, w.data(), M, Nout, Kin, false);
        }
        out.insert(out.end(), da.begin(), da.end());
        out.insert(out.end(), dw.begin(), dw.end());
        return out;
    };
    auto r1 = all3(true), r2 = all3(true);
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    auto r3 = all3(true);
    omp_set_num_threads(threads);
    std::printf("  run to run: %zu floats, first %+.6f vs %+.6f; 1 thread vs %d: %+.6f\n", r1.size(), r1[0], r2[0],
                threads, r3[0]);
    CHECK(std::memcmp(r1.data(), r2.data(), r1.size() * 4) == 0);
    CHECK(std::memcmp(r1.data(), r3.data(), r1.size() * 4) == 0);  // each element summed by one thread

    auto fp32 = all3(false);
    REQUIRE(cpu::set_gemm_precision(cpu::GemmPrecision::bf16));
    CHECK(cpu::gemm_precision() == cpu::GemmPrecision::bf16);
    auto switched = all3(false);
    std::vector<double> ad(a.begin(), a.end()), wd(w.begin(), w.end()), outd((size_t)M * Nout), outd2((size_t)M * Nout);
    cpu::matmul_forward<double>(outd.data(), Nout, ad.data(), Kin, wd.data(), M, Nout, Kin, false);
    REQUIRE(cpu::set_gemm_precision(cpu::GemmPrecision::fp32));
    cpu::matmul_forward<double>(outd2.data(), Nout, ad.data(), Kin, wd.data(), M, Nout, Kin, false);
    std::printf("  precision bf16 through matmul_forward/backward<float>: first %+.6f (AMX %+.6f, fp32 %+.6f)\n",
                switched[0], r1[0], fp32[0]);
    CHECK(std::memcmp(switched.data(), r1.data(), r1.size() * 4) == 0);  // this shape is AMX's under the rule
    CHECK(std::memcmp(switched.data(), fp32.data(), r1.size() * 4) != 0);
    CHECK(std::memcmp(outd.data(), outd2.data(), outd.size() * 8) == 0);  // double ignores the switch
}
