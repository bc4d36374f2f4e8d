// Fused residual add + RMSNorm forward/backward (cuda/rmsnorm.cu) against cpu::rmsnorm_* on the sum
// x_in + delta, fp32 and bf16: D not a multiple of 4 (scalar path) and a multiple of 4 but not of 128
// (16-byte path, lanes with unequal chunk counts), row counts past a block's 16 rows, and 132 partial
// rows for sum_partials. sum_partials itself against a double-precision sum, with P from 1 to past
// 8 rows per thread, n not a multiple of its 16-column block, and bit-identical repeats.
#include "cuda_test.h"

template <class T>
static void check_rmsnorm(int Tn, int D, bool with_delta) {
    const std::string tag = std::string(type_name<T>()) + " T" + std::to_string(Tn) + " D" + std::to_string(D) +
                            (with_delta ? " +delta" : "");
    const float eps = 1e-5f;
    std::vector<float> x_in = uniform((size_t)Tn * D, -2, 2, 11), delta = rounded<T>(uniform((size_t)Tn * D, -1, 1, 12));
    std::vector<float> w = uniform(D, 0.5f, 1.5f, 13), dout = rounded<T>(uniform((size_t)Tn * D, -1, 1, 14));
    std::vector<float> dx0 = uniform((size_t)Tn * D, -1, 1, 15), dw0 = uniform(D, -1, 1, 16);

    Dev<float> d_xin(x_in), d_xout((size_t)Tn * D), d_rstd(Tn), d_w(w), d_dx(dx0), d_dw(dw0);
    Dev<T> d_delta(to_type<T>(delta)), d_out((size_t)Tn * D), d_dout(to_type<T>(dout)), d_dxT((size_t)Tn * D);
    Dev<float> scratch(gpu::rmsnorm_backward_scratch(Tn, D));
    gpu::rmsnorm_forward<T>(d_out.p, d_rstd.p, d_xout.p, d_xin.p, with_delta ? d_delta.p : nullptr, d_w.p, Tn, D, eps,
                            nullptr);
    const float* x_used = with_delta ? d_xout.p : d_xin.p;
    gpu::rmsnorm_backward<T>(d_dx.p, d_dxT.p, d_dw.p, scratch.p, d_dout.p, x_used, d_rstd.p, d_w.p, Tn, D, nullptr);

    std::vector<float> x = x_in;
    if (with_delta)
        for (size_t i = 0; i < x.size(); i++) x[i] = x_in[i] + delta[i];
    std::vector<float> out((size_t)Tn * D), rstd(Tn), dx = dx0, dw = dw0;
    cpu::rmsnorm_forward(out.data(), rstd.data(), (float*)nullptr, x.data(), (const float*)nullptr, w.data(), Tn, D, eps);
    cpu::rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), rstd.data(), w.data(), Tn, D);
    if (with_delta) CHECK(check_close("rmsnorm fwd x_out " + tag, d_xout.back(), x, RTOL_FWD));
    CHECK(check_close("rmsnorm fwd out " + tag, to_f32(d_out.back()), out, rtol_of<T>(RTOL_FWD)));
    CHECK(check_close("rmsnorm fwd rstd " + tag, d_rstd.back(), rstd, RTOL_FWD));
    CHECK(check_close("rmsnorm bwd dx " + tag, d_dx.back(), dx, RTOL_GRAD));
    CHECK(check_close("rmsnorm bwd dx_T " + tag, to_f32(d_dxT.back()), dx, rtol_of<T>(RTOL_GRAD)));
    CHECK(check_close("rmsnorm bwd dw " + tag, d_dw.back(), dw, RTOL_GRAD));
}

TEST_CASE("cuda rmsnorm (+ residual add) forward/backward vs CPU, fp32 and bf16") {
    check_rmsnorm<float>(338, 45, true);
    check_rmsnorm<float>(70, 300, false);
    check_rmsnorm<float>(1, 37, true);
    check_rmsnorm<__nv_bfloat16>(338, 45, true);
    check_rmsnorm<__nv_bfloat16>(70, 300, true);
    check_rmsnorm<float>(2100, 64, true);
    check_rmsnorm<__nv_bfloat16>(2100, 36, false);
}

TEST_CASE("cuda sum_partials vs a double-precision sum, deterministic") {
    for (int P : {1, 5, 9, 64, 513, 1100}) {
        for (int n : {1, 45, 300}) {
            const std::string tag = std::string("P") + std::to_string(P) + " n" + std::to_string(n);
            const std::vector<float> part = uniform((size_t)P * n, -1, 1, 17), dst0 = uniform(n, -1, 1, 18);
            std::vector<float> want(n);
            for (int c = 0; c < n; c++) {
                double s = dst0[c];
                for (int p = 0; p < P; p++) s += part[(size_t)p * n + c];
                want[c] = (float)s;
            }
            Dev<float> d_part(part), d_dst(dst0), d_dst2(dst0);
            gpu::sum_partials(d_dst.p, d_part.p, P, n, nullptr);
            gpu::sum_partials(d_dst2.p, d_part.p, P, n, nullptr);
            CHECK(check_close("sum_partials " + tag, d_dst.back(), want, RTOL_FWD));
            const std::vector<float> a = d_dst.back(), b = d_dst2.back();
            CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
        }
    }
}
