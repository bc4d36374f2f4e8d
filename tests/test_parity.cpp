// The CPU backend against PyTorch / Hugging Face (tools/make_reference.py made the fixture): scores,
// hidden states, the loss, every parameter gradient, and 3 AdamW steps with clipping active.
// Tolerances (fp32): forward 1e-5, gradients 1e-4 relative norm error per tensor.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "cpu/layers.h"
#include "models/mamba/mamba.h"
#include "models/mamba/mamba.h"
#include "models/registry.h"
#include "core/optim.h"
#include "train/trainer.h"
#include "test_util.h"

static const char* FIXTURE = "tests/fixtures/mamba_reference.bin";

static Batch fixture_batch(const WeightsFile& f) {
    Batch b;
    auto ints = [&](const char* name) {
        const WTensor* t = f.find(name);
        REQUIRE(t);
        const int64_t* p = (const int64_t*)t->data;
        return std::vector<int64_t>(p, p + t->numel());
    };
    for (int64_t v : ints("ref.tokens")) b.tokens.push_back((int32_t)v);
    for (int64_t v : ints("ref.match")) b.match.push_back((uint8_t)v);
    for (int64_t v : ints("ref.offsets")) b.offsets.push_back((int32_t)v);
    return b;
}

static const float* ref(const WeightsFile& f, const std::string& name) {
    const WTensor* t = f.find(name);
    REQUIRE_MESSAGE(t, "fixture lacks " << name);
    return (const float*)t->data;
}

static int max_len_of(const Batch& b) {
    int m = 0;
    for (int i = 0; i < b.B(); i++) m = std::max(m, b.offsets[i + 1] - b.offsets[i]);
    return m;
}

TEST_CASE("parity with PyTorch: forward, loss and every gradient") {
    WeightsFile f = weights_load(FIXTURE);
    MambaConfig c = mamba_config_from(f);
    const int G = (int)f.config_value("group_size");
    Mamba<float> m;
    mamba_setup(m, c, true);
    load_params(m.ptable, m.params.data, f);
    Batch batch = fixture_batch(f);
    mamba_setup_acts(m, batch.T(), batch.B(), max_len_of(batch));
    std::printf("parity: D %d L %d N %d K %d E %d R %d V %d, %d sequences, %d tokens\n", c.D, c.L, c.N, c.K, c.E, c.R,
                c.V, batch.B(), batch.T());

    const float* scores = mamba_forward(m, batch);
    CHECK(report("scores", scores, ref(f, "ref.scores"), batch.B(), 1e-5) <= 1e-5);
    // x_L = x_{L-1} + delta_{L-1}: the engine adds the last block's output only at the pooled tokens.
    std::vector<float> x_L((size_t)batch.T() * c.D);
    for (size_t i = 0; i < x_L.size(); i++) x_L[i] = m.a.layers[c.L - 1].x[i] + m.a.delta[i];
    CHECK(report("final residual stream x_L [T, D]", x_L.data(), ref(f, "ref.x_out"), (int64_t)batch.T() * c.D, 1e-5) <= 1e-5);
    CHECK(report("final hidden state h [B, D]", m.a.h, ref(f, "ref.h"), (int64_t)batch.B() * c.D, 1e-5) <= 1e-5);

    double loss = cpu::group_softmax_ce(m.a.dscores, scores, batch.B(), G);
    float loss_f = (float)loss;
    CHECK(report("loss", &loss_f, ref(f, "ref.losses"), 1, 1e-5) <= 1e-5);

    mamba_backward(m, m.a.dscores);
    int n_checked = 0;
    for (size_t k = 0; k < m.ptable.specs.size(); k++) {
        const TensorSpec& s = m.ptable.specs[k];
        if (s.name == "score.bias") {
            // Analytically zero (the softmax over a group is shift-invariant): both sides hold only the
            // rounding of a sum of B terms of size <= 1/groups, bounded by B * FLT_EPSILON.
            float ours = m.grads.data[m.ptable.offsets[k]], theirs = ref(f, "ref.grad." + s.name)[0];
            double bound = batch.B() * 1.1920929e-7;
            std::printf("  grad score.bias: %.3e (torch %.3e), analytically 0, rounding bound %.2e\n", ours, theirs, bound);
            CHECK(std::fabs(ours) <= bound);
            CHECK(std::fabs(theirs) <= bound);
            n_checked++;
            continue;
        }
        double e = report("grad " + s.name, m.grads.data + m.ptable.offsets[k], ref(f, "ref.grad." + s.name), s.numel(), 1e-4);
        CHECK_MESSAGE(e <= 1e-4, s.name);
        n_checked++;
    }
    CHECK(n_checked == (int)m.ptable.specs.size());
}

// Through the trainer's own step (src/train/trainer.cpp: zero, forward, loss, backward, AdamW), on the
// family-neutral model, as ./train runs it.
TEST_CASE("parity with PyTorch: 3 AdamW steps with clipping and the warmup/decay schedule") {
    WeightsFile f = weights_load(FIXTURE);
    const int G = (int)f.config_value("group_size");
    AdamWConfig oc;
    oc.lr = (float)f.config_value("lr"), oc.beta1 = (float)f.config_value("beta1");
    oc.beta2 = (float)f.config_value("beta2"), oc.eps = (float)f.config_value("adam_eps");
    oc.weight_decay = (float)f.config_value("weight_decay"), oc.clip = (float)f.config_value("clip");
    oc.warmup = (int64_t)f.config_value("warmup"), oc.total_steps = (int64_t)f.config_value("steps");
    Model m = model_from_file(f, true);
    Batch batch = fixture_batch(f);
    model_setup_acts(m, batch.T(), batch.B(), max_len_of(batch));
    const float* ref_losses = ref(f, "ref.losses");
    const float* ref_norms = ref(f, "ref.grad_norms");
    TrainState st;
    for (int step = 0; step < oc.total_steps; step++) {
        double norm_d = 0;
        float loss = (float)train_step(m, oc, st, batch, G, &norm_d), norm = (float)norm_d;
        std::printf("  step %d: loss %.7f (torch %.7f), grad norm %.6f (torch %.6f, clip %.2f)\n", step, loss,
                    ref_losses[step], norm, ref_norms[step], oc.clip);
        CHECK(rel_err(&loss, ref_losses + step, 1) <= 1e-5);
        CHECK(rel_err(&norm, ref_norms + step, 1) <= 1e-4);
        CHECK(norm > oc.clip);  // clipping was active
    }
    CHECK(st.step == oc.total_steps);
    for (size_t k = 0; k < m.ptable->specs.size(); k++) {
        const TensorSpec& s = m.ptable->specs[k];
        double e = report("param after 3 steps " + s.name, m.params + m.ptable->offsets[k],
                          ref(f, "ref.final." + s.name), s.numel(), 1e-5);
        CHECK_MESSAGE(e <= 1e-5, s.name);
    }
}
