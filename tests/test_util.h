// Helpers shared by the tests: error measures that print their evidence.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

// Relative norm error ||a - b|| / ||b|| (README, Architecture: tolerance rule), accumulated in double.
template <class A, class B>
double rel_err(const A* a, const B* b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

template <class A, class B>
double max_abs_err(const A* a, const B* b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = std::fmax(m, std::fabs((double)a[i] - (double)b[i]));
    return m;
}

// Prints "<what>: rel err e (tol t), max |diff| d, first values a0 vs b0" and returns the rel err.
template <class A, class B>
double report(const std::string& what, const A* a, const B* b, int64_t n, double tol) {
    double e = rel_err(a, b, n);
    std::printf("  %-48s rel err %.2e (tol %.0e)  max|diff| %.2e  first %+.6f vs %+.6f  %s\n", what.c_str(), e,
                tol, max_abs_err(a, b, n), (double)a[0], (double)b[0], e <= tol ? "ok" : "(over)");
    return e;
}
