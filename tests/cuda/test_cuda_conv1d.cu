// Causal depthwise conv1d + SiLU forward/backward (cuda/conv1d.cu) against cpu::conv1d_* on packed
// batches of sequences of lengths 0 to 600 (threads' 64-token tiles straddle the sequence boundaries,
// sequences shorter than the window, several 256-token partial rows), x and dx as the x half of
// xz [T, 2E], K 2, 3, 4; E odd (one channel a thread) and even (channel pairs), below and above a
// block's 32 or 64 channels.
#include "cuda_test.h"

template <class T>
static void check_conv1d(const std::vector<int>& lens, int E, int K) {
    const std::string tag = std::string(type_name<T>()) + " E" + std::to_string(E) + " K" + std::to_string(K);
    const std::vector<int32_t> off = offsets_of(lens);
    const int B = (int)lens.size(), Tn = off.back(), ld = 2 * E;
    std::vector<float> xz = rounded<T>(uniform((size_t)Tn * ld, -2, 2, 31)), w = uniform((size_t)E * K, -1, 1, 32);
    std::vector<float> b = uniform(E, -1, 1, 33), du = rounded<T>(uniform((size_t)Tn * E, -1, 1, 34));
    std::vector<float> dw0 = uniform((size_t)E * K, -1, 1, 35), db0 = uniform(E, -1, 1, 36);

    Dev<int32_t> d_off(off);
    Dev<T> d_xz(to_type<T>(xz)), d_u((size_t)Tn * E), d_du(to_type<T>(du)), d_dxz((size_t)Tn * ld);
    Dev<float> d_w(w), d_b(b), d_dw(dw0), d_db(db0), scratch(gpu::conv1d_backward_scratch(Tn, E, K));
    gpu::conv1d_forward<T>(d_u.p, E, d_xz.p, ld, d_w.p, d_b.p, d_off.p, B, Tn, E, K, nullptr);
    gpu::conv1d_backward<T>(d_dxz.p, ld, d_dw.p, d_db.p, scratch.p, d_du.p, E, d_xz.p, ld, d_w.p, d_b.p, d_off.p, B, Tn,
                            E, K, nullptr);

    std::vector<float> u((size_t)Tn * E), dxz((size_t)Tn * ld, 0.0f), dw = dw0, db = db0;
    cpu::conv1d_forward(u.data(), E, xz.data(), ld, w.data(), b.data(), off.data(), B, E, K);
    cpu::conv1d_backward(dxz.data(), ld, dw.data(), db.data(), du.data(), E, xz.data(), ld, w.data(), b.data(),
                         off.data(), B, E, K);
    CHECK(check_close("conv1d fwd u " + tag, to_f32(d_u.back()), u, rtol_of<T>(RTOL_FWD)));
    CHECK(check_close("conv1d bwd dx " + tag, columns(to_f32(d_dxz.back()), Tn, ld, 0, E), columns(dxz, Tn, ld, 0, E),
                      rtol_of<T>(RTOL_GRAD)));
    CHECK(check_close("conv1d bwd dw " + tag, d_dw.back(), dw, RTOL_GRAD));
    CHECK(check_close("conv1d bwd db " + tag, d_db.back(), db, RTOL_GRAD));
    // The z half of dxz is not the conv's: it must still hold the poison (nothing written past E).
    std::vector<float> dz = columns(to_f32(d_dxz.back()), Tn, ld, E, E);
    size_t nan = 0;
    for (float v : dz) nan += std::isnan(v);
    CHECK(nan == dz.size());
}

TEST_CASE("cuda conv1d forward/backward vs CPU on packed sequences, fp32 and bf16") {
    for (int K : {2, 3, 4}) check_conv1d<float>({1, 37, 300}, 37, K);
    check_conv1d<float>({300, 1, 37}, 130, 4);
    check_conv1d<__nv_bfloat16>({1, 37, 300}, 37, 4);
    check_conv1d<__nv_bfloat16>({300, 1, 37, 600, 2}, 130, 4);
    check_conv1d<__nv_bfloat16>({2, 0, 1, 600, 37}, 66, 3);
    check_conv1d<float>({2, 0, 1, 600, 37}, 66, 2);
}
