// The scoring end (cuda/head.cu): last-token pooling with the last block's residual add, the final
// RMSNorm on B rows (rmsnorm.cu), the head and the group softmax cross-entropy, forward and backward,
// against the CPU's pool_last, rmsnorm, head and group_softmax_ce.
#include "cuda_test.h"

template <class T>
static void check_head(const std::vector<int>& lens, int D, int G) {
    const std::string tag = std::string(type_name<T>()) + " B" + std::to_string(lens.size()) + " D" + std::to_string(D) +
                            " G" + std::to_string(G);
    const std::vector<int32_t> off = offsets_of(lens);
    const int B = (int)lens.size(), Tn = off.back();
    std::vector<float> x = uniform((size_t)Tn * D, -2, 2, 41), delta = rounded<T>(uniform((size_t)Tn * D, -1, 1, 42));
    std::vector<float> norm_w = uniform(D, 0.5f, 1.5f, 43), hw = uniform(D, -1, 1, 44), hb = {0.25f};
    std::vector<float> dhw0 = uniform(D, -1, 1, 45), dnorm0 = uniform(D, -1, 1, 46), dx0 = uniform((size_t)Tn * D, -1, 1, 47);

    Dev<int32_t> d_off(off);
    Dev<float> d_x(x), d_pooled((size_t)B * D), d_h((size_t)B * D), d_rstd(B), d_scores(B), d_loss(1), d_dscores(B);
    Dev<T> d_delta(to_type<T>(delta));
    Dev<float> d_norm_w(norm_w), d_hw(hw), d_hb(hb), d_dhw(dhw0), d_dhb(std::vector<float>{0.0f}), d_dnorm(dnorm0);
    Dev<float> d_dh((size_t)B * D), d_dpooled((size_t)B * D), d_dx(dx0), scratch(gpu::rmsnorm_backward_scratch(B, D));
    gpu::pool_last_forward<T>(d_pooled.p, d_x.p, d_delta.p, d_off.p, B, D, nullptr);
    gpu::rmsnorm_forward<float>(d_h.p, d_rstd.p, nullptr, d_pooled.p, nullptr, d_norm_w.p, B, D, 1e-5f, nullptr);
    gpu::head_forward(d_scores.p, d_h.p, d_hw.p, d_hb.p, B, D, nullptr);
    gpu::group_softmax_ce(d_loss.p, d_dscores.p, d_scores.p, B, G, nullptr);
    gpu::head_backward(d_dh.p, d_dhw.p, d_dhb.p, d_dscores.p, d_h.p, d_hw.p, B, D, nullptr);
    CUDA_CHECK(cudaMemset(d_dpooled.p, 0, (size_t)B * D * 4));
    gpu::rmsnorm_backward<float>(d_dpooled.p, nullptr, d_dnorm.p, scratch.p, d_dh.p, d_pooled.p, d_rstd.p, d_norm_w.p, B,
                                 D, nullptr);
    gpu::pool_last_backward(d_dx.p, d_dpooled.p, d_off.p, B, D, nullptr);

    std::vector<float> xs = x;
    for (size_t i = 0; i < xs.size(); i++) xs[i] = x[i] + delta[i];
    std::vector<float> pooled((size_t)B * D), h((size_t)B * D), rstd(B), scores(B), dscores(B), dh((size_t)B * D);
    std::vector<float> dpooled((size_t)B * D, 0.0f), dhw = dhw0, dhb = {0.0f}, dnorm = dnorm0, dx = dx0;
    cpu::pool_last(pooled.data(), xs.data(), (const float*)nullptr, off.data(), B, D);
    cpu::rmsnorm_forward(h.data(), rstd.data(), (float*)nullptr, pooled.data(), (const float*)nullptr, norm_w.data(), B, D, 1e-5f);
    cpu::head_forward(scores.data(), h.data(), hw.data(), hb.data(), B, D);
    const double loss = cpu::group_softmax_ce(dscores.data(), scores.data(), B, G);
    cpu::head_backward(dh.data(), dhw.data(), dhb.data(), dscores.data(), h.data(), hw.data(), B, D);
    cpu::rmsnorm_backward(dpooled.data(), dnorm.data(), dh.data(), pooled.data(), rstd.data(), norm_w.data(), B, D);
    cpu::pool_last_backward(dx.data(), dpooled.data(), off.data(), B, D);
    CHECK(check_close("head pooled " + tag, d_pooled.back(), pooled, RTOL_FWD));
    CHECK(check_close("head h (final norm) " + tag, d_h.back(), h, RTOL_FWD));
    CHECK(check_close("head scores " + tag, d_scores.back(), scores, RTOL_FWD));
    CHECK(check_close("head loss " + tag, d_loss.back(), {(float)loss}, RTOL_FWD));
    CHECK(check_close("head dscores " + tag, d_dscores.back(), dscores, RTOL_GRAD));
    CHECK(check_close("head dh " + tag, d_dh.back(), dh, RTOL_GRAD));
    CHECK(check_close("head dw " + tag, d_dhw.back(), dhw, RTOL_GRAD));
    double sum_abs = 0;  // dbias = sum of dscores = 0 up to rounding: judged at the scale of its terms
    for (float v : dscores) sum_abs += std::fabs(v);
    CHECK(check_close("head dbias " + tag, d_dhb.back(), dhb, RTOL_GRAD, sum_abs));
    CHECK(check_close("head dnorm_f " + tag, d_dnorm.back(), dnorm, RTOL_GRAD));
    CHECK(check_close("head dx (pool backward) " + tag, d_dx.back(), dx, RTOL_GRAD));
}

TEST_CASE("cuda pooling, head and group softmax CE forward/backward vs CPU") {
    check_head<float>({1, 37, 300, 5, 2, 9}, 45, 3);
    check_head<float>({3, 1, 4, 1, 5, 9, 2, 6}, 300, 4);
    check_head<__nv_bfloat16>({1, 37, 300, 5, 2, 9}, 45, 2);
}
