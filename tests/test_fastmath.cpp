// Tests of src/cpu/fastmath.h: the vector exp, exp2, log, softplus and sigmoid against the C library in
// double (relative error in units of FLT_EPSILON over a dense sweep of the ranges the layers use), and
// hsum16's sixteen horizontal sums against sums in double.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <functional>

#include "cpu/fastmath.h"
#include "core/rng.h"

using namespace cpu;

// Max relative error of f against ref over n points evenly spaced in [lo, hi], in units of FLT_EPSILON.
static double sweep(const std::function<vf(vf)>& f, const std::function<double(double)>& ref, double lo, double hi,
                    int n) {
    double worst = 0;
    for (int i = 0; i < n; i += W) {
        vf x;
        for (int k = 0; k < W; k++) x[k] = (float)(lo + (hi - lo) * (double)(i + k) / (n - 1));
        vf y = f(x);
        for (int k = 0; k < W; k++) {
            double r = ref((double)x[k]);  // the reference at the float input actually used
            worst = std::fmax(worst, std::fabs((double)y[k] - r) / std::fabs(r) / FLT_EPSILON);
        }
    }
    return worst;
}

TEST_CASE("fastmath: exp, exp2, log, softplus, sigmoid within a few ulp of the C library") {
    const int n = 1 << 20;
    auto ex = sweep([](vf x) { return vexp(x); }, [](double x) { return std::exp(x); }, -87, 88, n);
    auto e2 = sweep([](vf x) { return vexp2_nonpos(x); }, [](double x) { return std::exp2(x); }, -126, 0, n);
    auto lg = sweep([](vf x) { return vlog(x); }, [](double x) { return std::log(x); }, 1e-30, 1e30, n);
    auto lg1 = sweep([](vf x) { return vlog(x); }, [](double x) { return std::log(x); }, 0.5, 2, n);
    auto sp = sweep([](vf x) { return vsoftplus(x); }, [](double x) { return std::log1p(std::exp(x)); }, -80, 20, n);
    auto sg = sweep([](vf x) { return vsigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); }, -80, 80, n);
    std::printf("fastmath max rel err (ulp of 1): exp %.2f, exp2 %.2f, log %.2f (near 1: %.2f), softplus %.2f, "
                "sigmoid %.2f\n", ex, e2, lg, lg1, sp, sg);
    CHECK(ex < 4);
    CHECK(e2 < 4);
    CHECK(lg < 4);
    CHECK(lg1 < 4);
    CHECK(sp < 8);
    CHECK(sg < 8);
    // Below the clamp, exp2 returns 2^-126 (a stand-in for 0 in the scan's decays), never a denormal or NaN.
    vf tiny = vexp2_nonpos(splat<vf>(-1000.0f));
    CHECK(tiny[0] == std::ldexp(1.0f, -126));
}

TEST_CASE("fastmath: hsum16 puts the sum of v[i] in lane i") {
    Rng rng(7);
    for (int trial = 0; trial < 20; trial++) {
        vf v[W];
        double want[W];
        for (int i = 0; i < W; i++) {
            want[i] = 0;
            for (int k = 0; k < W; k++) v[i][k] = (float)rng.normal(), want[i] += v[i][k];
        }
        vf s = hsum16(v);
        for (int i = 0; i < W; i++) CHECK(std::fabs(s[i] - want[i]) <= 1e-5 * (1 + std::fabs(want[i])));
        vd vdbl[W];
        for (int i = 0; i < W; i++)
            for (int k = 0; k < W; k++) vdbl[i][k] = v[i][k];
        vd sd = hsum16(vdbl);
        for (int i = 0; i < W; i++) CHECK(std::fabs(sd[i] - want[i]) <= 1e-12 * (1 + std::fabs(want[i])));
    }
}
