// Finite-difference checks, in double precision, of every hand-written backward of the CPU backend,
// and of the whole model on a micro config. For each layer the scalar loss is sum(r * out) with a fixed
// random r, so backward gets dout = r; every input and parameter element is perturbed by +-h and the
// central difference (f(x+h) - f(x-h)) / 2h compared with the analytic gradient.
// Tolerance, per element: |analytic - fd| <= atol + rtol * |fd| with rtol = 1e-6 and atol the
// differences' own rounding, 10 * eps_double * max(1, |f|) / h. With h = 1e-5 the truncation error is
// O(h^2) ~ 1e-10 relative, so rtol leaves four orders of margin; a wrong term is an O(1) error.
#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "cpu/layers.h"
#include "models/mamba/mamba.h"
#include "core/rng.h"
#include "test_util.h"

using Vec = std::vector<double>;
constexpr double H = 1e-5, TOL = 1e-6;

static Vec randv(Rng& rng, size_t n, double lo = -1, double hi = 1) {
    Vec v(n);
    for (auto& x : v) x = rng.uniform(lo, hi);
    return v;
}

static double dot(const Vec& a, const Vec& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
}

// Central differences of loss() with respect to every element of x, compared with `analytic`.
static void fd_check(const std::string& what, Vec& x, const Vec& analytic, const std::function<double()>& loss) {
    Vec fd(x.size());
    double fmax = 1;
    for (size_t i = 0; i < x.size(); i++) {
        double keep = x[i];
        x[i] = keep + H;
        double lp = loss();
        x[i] = keep - H;
        double lm = loss();
        x[i] = keep;
        fd[i] = (lp - lm) / (2 * H);
        fmax = std::fmax(fmax, std::fmax(std::fabs(lp), std::fabs(lm)));
    }
    const double atol = 10 * 2.220446049250313e-16 * fmax / H;
    double worst = 0;  // the largest |a - b| / (atol + rtol |b|): <= 1 passes
    for (size_t i = 0; i < x.size(); i++)
        worst = std::fmax(worst, std::fabs(analytic[i] - fd[i]) / (atol + TOL * std::fabs(fd[i])));
    report("d" + what + " vs finite differences", analytic.data(), fd.data(), (int64_t)x.size(), TOL);
    std::printf("    elementwise |a-b| <= %.1e + %.0e |b|: worst ratio %.3f\n", atol, TOL, worst);
    CHECK_MESSAGE(worst <= 1.0, what);
}

TEST_CASE("gradcheck: embedding with the exact-match flags") {
    Rng rng(1);
    const int Tn = 7, D = 5, V = 4;
    std::vector<int32_t> tok = {0, 3, 3, 1, 0, 2, 3};
    std::vector<uint8_t> match = {0, 1, 1, 0, 1, 0, 0};
    Vec wte = randv(rng, V * D), wme = randv(rng, 2 * D), r = randv(rng, Tn * D), x(Tn * D);
    auto loss = [&] {
        cpu::embedding_forward(x.data(), tok.data(), match.data(), wte.data(), wme.data(), Tn, D);
        return dot(x, r);
    };
    Vec dwte(V * D, 0), dwme(2 * D, 0);
    cpu::embedding_backward(dwte.data(), dwme.data(), r.data(), tok.data(), match.data(), Tn, D);
    fd_check("wte", wte, dwte, loss);
    fd_check("wme", wme, dwme, loss);
}

TEST_CASE("gradcheck: rmsnorm") {
    Rng rng(2);
    const int Tn = 4, D = 9;
    Vec x = randv(rng, Tn * D), w = randv(rng, D, 0.5, 1.5), r = randv(rng, Tn * D), out(Tn * D), rstd(Tn);
    auto loss = [&] {
        cpu::rmsnorm_forward(out.data(), rstd.data(), (double*)nullptr, x.data(), (const double*)nullptr, w.data(), Tn, D, 1e-5f);
        return dot(out, r);
    };
    loss();
    Vec dx(Tn * D, 0), dw(D, 0);
    cpu::rmsnorm_backward(dx.data(), dw.data(), r.data(), x.data(), rstd.data(), w.data(), Tn, D);
    fd_check("x", x, dx, loss);
    fd_check("w", w, dw, loss);
}

TEST_CASE("gradcheck: rmsnorm with the residual add fused (x_out = x_in + delta)") {
    Rng rng(12);
    const int Tn = 4, D = 9;
    Vec x_in = randv(rng, Tn * D), delta = randv(rng, Tn * D), w = randv(rng, D, 0.5, 1.5), r = randv(rng, Tn * D),
        r2 = randv(rng, Tn * D), out(Tn * D), x_out(Tn * D), rstd(Tn);
    // The loss reads both outputs: the normalised row and the new residual stream.
    auto loss = [&] {
        cpu::rmsnorm_forward(out.data(), rstd.data(), x_out.data(), x_in.data(), delta.data(), w.data(), Tn, D, 1e-5f);
        return dot(out, r) + dot(x_out, r2);
    };
    loss();
    Vec dx = r2, dw(D, 0);  // the residual stream's gradient, before the norm adds its part
    cpu::rmsnorm_backward(dx.data(), dw.data(), r.data(), x_out.data(), rstd.data(), w.data(), Tn, D);
    fd_check("x_in", x_in, dx, loss);
    fd_check("delta", delta, dx, loss);
    fd_check("w", w, dw, loss);
}

TEST_CASE("gradcheck: matmul on column slices") {
    Rng rng(3);
    const int M = 5, Nout = 3, Kin = 4, lda = 6, ldo = 7;  // a and out are slices of wider rows
    Vec a = randv(rng, M * lda), w = randv(rng, Nout * Kin), r(M * ldo, 0), out(M * ldo, 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < Nout; j++) r[i * ldo + j] = rng.uniform(-1, 1);
    auto loss = [&] {
        cpu::matmul_forward(out.data(), ldo, a.data(), lda, w.data(), M, Nout, Kin, false);
        return dot(out, r);
    };
    Vec da(M * lda, 0), dw(Nout * Kin, 0);
    cpu::matmul_backward(da.data(), lda, dw.data(), r.data(), ldo, a.data(), lda, w.data(), M, Nout, Kin, false);
    fd_check("a", a, da, loss);
    fd_check("w", w, dw, loss);
}

TEST_CASE("gradcheck: causal conv1d + SiLU over a packed batch") {
    Rng rng(4);
    const int E = 3, K = 4, ld = 2 * E;  // x lives in the first half of [T, 2E], like xz
    std::vector<int32_t> off = {0, 1, 6, 9};  // lengths 1, 5, 3: shorter and longer than K
    const int B = 3, Tn = off[B];
    Vec x = randv(rng, Tn * ld), w = randv(rng, E * K), b = randv(rng, E), r = randv(rng, Tn * E), u(Tn * E);
    auto loss = [&] {
        cpu::conv1d_forward(u.data(), E, x.data(), ld, w.data(), b.data(), off.data(), B, E, K);
        return dot(u, r);
    };
    Vec dx(Tn * ld, 0), dw(E * K, 0), db(E, 0);
    cpu::conv1d_backward(dx.data(), ld, dw.data(), db.data(), r.data(), E, x.data(), ld, w.data(), b.data(), off.data(),
                         B, E, K);
    fd_check("x", x, dx, loss);
    fd_check("w", w, dw, loss);
    fd_check("b", b, db, loss);
}

TEST_CASE("gradcheck: selective scan with softplus, D skip and SiLU gate over a packed batch") {
    Rng rng(5);
    const int E = 3, N = 4, P = 2 + 2 * N;  // B and C are slices of a [T, R + 2N] tensor, R = 2
    std::vector<int32_t> off = {0, 1, 7, 11};  // lengths 1, 6, 4
    const int B = 3, Tn = off[B], max_len = 6;
    Vec u = randv(rng, Tn * E), dt = randv(rng, Tn * E, -2, 1), bc = randv(rng, Tn * P), z = randv(rng, Tn * E, -2, 2);
    Vec A_log = randv(rng, E * N, -1, 1), Dk = randv(rng, E), bias = randv(rng, E, -1, 0.5);
    Vec r = randv(rng, Tn * E), out(Tn * E);
    const ScanInputs<double> in = {.u = {u.data(), E}, .dt = {dt.data(), E}, .Bm = {bc.data() + 2, P},
                                   .Cm = {bc.data() + 2 + N, P}, .z = {z.data(), E}};
    const ScanWeights<double> weights = {.A_log = A_log.data(), .Dskip = Dk.data(), .dt_bias = bias.data()};
    const ScanDims dims = {.offsets = off.data(), .B = B, .Tn = Tn, .E = E, .N = N};
    auto loss = [&] {
        cpu::scan_forward<double>({out.data(), E}, in, weights, dims);
        return dot(out, r);
    };
    Vec du(Tn * E), ddt(Tn * E), dbc(Tn * P, 0), dz(Tn * E), dA(E * N, 0), dD(E, 0), dbias(E, 0);
    Vec scratch(cpu::scan_scratch_size(Tn, max_len, N, omp_get_max_threads()));
    cpu::scan_backward<double>({.du = {du.data(), E}, .ddt = {ddt.data(), E}, .dBm = {dbc.data() + 2, P},
                                .dCm = {dbc.data() + 2 + N, P}, .dz = {dz.data(), E}, .dA_log = dA.data(),
                                .dDskip = dD.data(), .ddt_bias = dbias.data()},
                               scratch.data(), {r.data(), E}, in, weights, dims, max_len);
    fd_check("u", u, du, loss);
    fd_check("dt", dt, ddt, loss);
    fd_check("[dt_in|B|C] (B and C columns; dt_in columns are untouched: 0)", bc, dbc, loss);
    fd_check("z", z, dz, loss);
    fd_check("A_log", A_log, dA, loss);
    fd_check("D", Dk, dD, loss);
    fd_check("dt_bias", bias, dbias, loss);
}

TEST_CASE("gradcheck: pooling, head and the group softmax cross-entropy") {
    Rng rng(6);
    const int B = 6, G = 3, D = 4;
    std::vector<int32_t> off = {0, 2, 3, 7, 8, 10, 13};
    Vec x = randv(rng, off[B] * D), delta = randv(rng, off[B] * D), w = randv(rng, D), bias = {0.3}, pooled(B * D),
        scores(B), ds(B);
    auto loss = [&] {
        cpu::pool_last(pooled.data(), x.data(), delta.data(), off.data(), B, D);  // x + delta at the last tokens
        cpu::head_forward(scores.data(), pooled.data(), w.data(), bias.data(), B, D);
        return cpu::group_softmax_ce<double>(nullptr, scores.data(), B, G);
    };
    loss();
    cpu::group_softmax_ce(ds.data(), scores.data(), B, G);
    Vec dpooled(B * D), dw(D, 0), dbias(1, 0), dx(off[B] * D, 0);
    cpu::head_backward(dpooled.data(), dw.data(), dbias.data(), ds.data(), pooled.data(), w.data(), B, D);
    cpu::pool_last_backward(dx.data(), dpooled.data(), off.data(), B, D);
    fd_check("x", x, dx, loss);
    fd_check("delta", delta, dx, loss);
    fd_check("w", w, dw, loss);
    std::printf("  dbias %.3e (analytically 0: the group softmax is shift-invariant)\n", dbias[0]);
    CHECK(std::fabs(dbias[0]) < 1e-15);
}

TEST_CASE("gradcheck: the whole model on a micro config (every parameter, double precision)") {
    MambaConfig c;
    c.D = 6, c.L = 2, c.N = 3, c.K = 3, c.E = 8, c.R = 2, c.V = 11, c.match = 1;
    Mamba<double> m;
    mamba_setup(m, c, true);
    mamba_init_random(m, 7);
    Rng rng(8);
    for (size_t i = 0; i < m.ptable.total; i++) m.params.data[i] += 0.1 * rng.uniform(-1, 1);  // no special values
    // The init's dt in [1e-3, 0.1] leaves the dt_proj and A_log gradients near 1e-6, where the finite
    // differences' own rounding (~1e-11 absolute) would dominate: use dt around softplus(0) instead.
    for (auto& lw : m.w.layers)
        for (int e = 0; e < c.E; e++) lw.dt_b[e] = rng.uniform(-1, 1);
    for (int i = 0; i < c.D; i++) m.w.head_w[i] = rng.uniform(-1, 1);  // scores of O(1), not O(0.02)
    Batch batch;
    batch.offsets = {0, 3, 4, 9, 11};  // 2 groups of 2
    for (int t = 0; t < 11; t++) batch.tokens.push_back((int32_t)rng.below(c.V)), batch.match.push_back(rng.below(2));
    mamba_setup_acts(m, 11, 4, 5);
    auto loss = [&] { return cpu::group_softmax_ce<double>(nullptr, mamba_forward(m, batch), 4, 2); };
    const double* s = mamba_forward(m, batch);
    cpu::group_softmax_ce(m.a.dscores, s, 4, 2);
    mamba_backward(m, m.a.dscores);
    for (size_t k = 0; k < m.ptable.specs.size(); k++) {
        const TensorSpec& sp = m.ptable.specs[k];
        if (sp.name == "score.bias") continue;  // analytically zero, checked above
        Vec p(m.params.data + m.ptable.offsets[k], m.params.data + m.ptable.offsets[k] + sp.numel());
        Vec g(m.grads.data + m.ptable.offsets[k], m.grads.data + m.ptable.offsets[k] + sp.numel());
        double* live = m.params.data + m.ptable.offsets[k];
        fd_check(sp.name, p, g, [&] {
            std::memcpy(live, p.data(), sizeof(double) * p.size());
            return loss();
        });
        std::memcpy(live, p.data(), sizeof(double) * p.size());
    }
}
