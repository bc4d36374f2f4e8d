// A checkpoint converted by tools/convert_hf.py (from a tiny random transformers MambaForCausalLM,
// tools/make_converter_fixture.py) loads in the engine and reproduces Hugging Face's final hidden state.
#include <doctest/doctest.h>

#include "models/mamba/mamba.h"
#include "test_util.h"

TEST_CASE("converter: a converted Hugging Face checkpoint matches its last_hidden_state") {
    WeightsFile f = weights_load("tests/fixtures/converted_tiny.bin");
    MambaConfig c = mamba_config_from(f);
    Mamba<float> m;
    mamba_setup(m, c, false);
    load_params(m.ptable, m.params.data, f);
    const WTensor* tok = f.find("ref.tokens");
    REQUIRE(tok);
    Batch b;
    for (int64_t i = 0; i < tok->numel(); i++) b.tokens.push_back((int32_t)((const int64_t*)tok->data)[i]);
    b.offsets = {0, (int32_t)b.tokens.size()};
    mamba_setup_acts(m, b.T(), 1, b.T());
    mamba_forward(m, b);
    std::printf("  converted: D %d, L %d, V %d, R %d (dt_rank auto), %d tokens\n", c.D, c.L, c.V, c.R, b.T());
    CHECK(f.bytes("template") == "Document: {doc}\n\nQuery: {query}");
    CHECK(report("h (normed last token) vs HF", m.a.h, (const float*)f.find("ref.h")->data, c.D, 1e-5) <= 1e-5);
}
