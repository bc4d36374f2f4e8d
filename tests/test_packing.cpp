// Packed variable-length batches: a sequence scored alone and scored inside a packed batch gets the
// same score, so neither the conv window nor the scan state crosses a sequence boundary.
#include <doctest/doctest.h>

#include "models/mamba/mamba.h"
#include "core/rng.h"
#include "test_util.h"

TEST_CASE("packing: each sequence scores the same alone and inside a packed batch") {
    MambaConfig c;
    c.D = 32, c.L = 2, c.N = 8, c.K = 4, c.E = 64, c.R = 4, c.V = 50;
    Mamba<float> m;
    mamba_setup(m, c, false);
    mamba_init_random(m, 11);
    Rng rng(12);
    const std::vector<int> lengths = {1, 37, 5, 3, 64, 2};  // shorter and longer than the conv window
    Batch packed;
    packed.offsets = {0};
    std::vector<Batch> alone;
    for (int len : lengths) {
        Batch b;
        b.offsets = {0, len};
        for (int i = 0; i < len; i++) b.tokens.push_back((int32_t)rng.below(c.V));
        packed.tokens.insert(packed.tokens.end(), b.tokens.begin(), b.tokens.end());
        packed.offsets.push_back(packed.offsets.back() + len);
        alone.push_back(b);
    }
    mamba_setup_acts(m, packed.T(), packed.B(), 64);
    std::vector<float> packed_scores(mamba_forward(m, packed), mamba_forward(m, packed) + packed.B());
    for (size_t i = 0; i < lengths.size(); i++) {
        float s = mamba_forward(m, alone[i])[0];
        std::printf("  sequence %zu (length %d): alone %+.7f, packed %+.7f\n", i, lengths[i], s, packed_scores[i]);
        // fp32 forward tolerance; the only difference is GEMM blocking over a different row count.
        CHECK(rel_err(&s, &packed_scores[i], 1) <= 1e-5);
    }
    // The reverse check: a different neighbour must not change a sequence's score at all.
    Batch swapped = packed;
    for (int t = packed.offsets[1]; t < packed.offsets[2]; t++) swapped.tokens[t] = (swapped.tokens[t] + 1) % c.V;
    const float* s2 = mamba_forward(m, swapped);
    CHECK(rel_err(s2 + 2, &packed_scores[2], 1) <= 1e-5);
    CHECK(s2[1] != packed_scores[1]);  // the changed sequence itself did change
}
