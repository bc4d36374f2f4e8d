// Embedding forward/backward (cuda/embedding.cu) against cpu::embedding_* (src/cpu/embedding.cpp), fp32
// and bf16, with and without the exact-match embedding; tokens repeat so the backward's buckets sum.
// D odd (one column a thread) and a multiple of 4 and 8 (16-byte chunks); a vocabulary past 2^11 ids
// (two passes of the host's radix sort); buckets past 64 positions (the parallel kernel: the match
// flags' two buckets whenever T > 128, and frequent tokens at T 2000).
#include "cuda_test.h"

template <class T>
static void check_embedding(int Tn, int V, int D, bool with_match) {
    const std::string tag = std::string(type_name<T>()) + " T" + std::to_string(Tn) + " V" + std::to_string(V) +
                            " D" + std::to_string(D) + (with_match ? " +wme" : "");
    std::vector<int32_t> tokens(Tn);
    std::vector<uint8_t> match(Tn);
    std::mt19937 g(7);
    for (int t = 0; t < Tn; t++) tokens[t] = (int)(g() % (unsigned)(t % 3 ? V : 4)), match[t] = g() % 2;
    std::vector<float> wte = rounded<T>(uniform((size_t)V * D, -1, 1, 1)), wme = rounded<T>(uniform(2 * D, -1, 1, 2));
    std::vector<float> dx = uniform((size_t)Tn * D, -1, 1, 3);
    std::vector<float> dwte0 = uniform((size_t)V * D, -1, 1, 4), dwme0 = uniform(2 * D, -1, 1, 5);

    Dev<int32_t> d_tok(tokens);
    Dev<uint8_t> d_match(match);
    Dev<T> d_wte(to_type<T>(wte)), d_wme(to_type<T>(wme));
    Dev<float> d_x((size_t)Tn * D), d_dx(dx), d_dwte(dwte0), d_dwme(dwme0);
    Dev<int32_t> scratch(gpu::embedding_backward_scratch(Tn));

    gpu::embedding_forward<T>(d_x.p, d_tok.p, with_match ? d_match.p : nullptr, d_wte.p, with_match ? d_wme.p : nullptr,
                              Tn, D, nullptr);
    gpu::embedding_backward(d_dwte.p, with_match ? d_dwme.p : nullptr, scratch.p, d_dx.p, tokens.data(), match.data(), Tn,
                            D, nullptr);

    std::vector<float> x((size_t)Tn * D), dwte = dwte0, dwme = dwme0;
    cpu::embedding_forward(x.data(), tokens.data(), with_match ? match.data() : nullptr, wte.data(),
                           with_match ? wme.data() : nullptr, Tn, D);
    cpu::embedding_backward(dwte.data(), with_match ? dwme.data() : nullptr, dx.data(), tokens.data(),
                            with_match ? match.data() : nullptr, Tn, D);
    CHECK(check_close("embedding fwd x " + tag, d_x.back(), x, RTOL_FWD));
    CHECK(check_close("embedding bwd dwte " + tag, d_dwte.back(), dwte, RTOL_GRAD));
    if (with_match) CHECK(check_close("embedding bwd dwme " + tag, d_dwme.back(), dwme, RTOL_GRAD));
    // Buckets of up to 64 positions add in the CPU's order: those rows bit-identical, not just close
    // (longer buckets are summed in parallel, in another fixed order).
    std::vector<int> count(V, 0);
    for (int t = 0; t < Tn; t++) count[tokens[t]]++;
    std::vector<float> got = d_dwte.back();
    size_t differ = 0;
    for (int v = 0; v < V; v++)
        if (count[v] <= 64) differ += std::memcmp(got.data() + (size_t)v * D, dwte.data() + (size_t)v * D, (size_t)D * 4) != 0;
    CHECK(differ == 0);
}

TEST_CASE("cuda embedding forward/backward vs CPU, fp32 and bf16") {
    check_embedding<float>(338, 50, 45, true);
    check_embedding<float>(338, 50, 45, false);
    check_embedding<float>(1, 7, 600, true);
    check_embedding<__nv_bfloat16>(338, 50, 45, true);
    check_embedding<__nv_bfloat16>(338, 50, 64, true);
    check_embedding<float>(700, 5000, 16, true);
    check_embedding<float>(2000, 50, 64, true);
    check_embedding<__nv_bfloat16>(2000, 50, 37, true);
}
