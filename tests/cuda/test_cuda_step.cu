// The cuda backend end to end (cuda/mamba_model.cu, through the entry points ./train and ./rerank call,
// src/backend/backend.h) against the CPU backend, on a tiny model: both run the one layer order of
// src/models/mamba/orchestration.h, so this checks the CUDA policy and the device model, not a second copy
// of the layers.
//   - one whole training step (forward, loss, backward, AdamW) in fp32 against the CPU's train_step
//     (src/train/trainer.cpp): the loss, the gradient norm, every parameter gradient and every parameter after
//     the step; then the same step in bf16, reported;
//   - forward-only scoring (a model created without training state, as ./rerank does), fp32 and bf16;
//   - the parameters and AdamW moments copied back to the host (what checkpoints save).
#include <algorithm>
#include <cstring>

#include "backend/backend.h"
#include "cuda_test.h"
#include "models/mamba/mamba.h"
#include "train/trainer.h"

namespace {

std::vector<float> slice(const std::vector<float>& all, const TensorTable& t, size_t k) {
    return std::vector<float>(all.begin() + t.offsets[k], all.begin() + t.offsets[k] + t.specs[k].numel());
}

// The tiny model and batch every case uses: two layers, the match embedding, six sequences (groups of
// 3) of lengths 1 .. 300 (past one scan chunk).
struct StepSetup {
    MambaConfig c;
    Batch batch;
    Model cm;
    AdamWConfig oc;  // defaults: lr 1e-3, wd 0.1, clip 1
    static constexpr int G = 3;
    StepSetup(bool training = true) {
        c.D = 20, c.L = 2, c.N = 8, c.K = 4, c.E = 40, c.R = 2, c.V = 60, c.match = 1;
        batch.offsets = offsets_of({1, 37, 300, 5, 20, 9});
        std::mt19937 rng(5);
        for (int t = 0; t < batch.T(); t++) batch.tokens.push_back((int)(rng() % c.V)), batch.match.push_back(rng() % 2);
        cm = model_create(mamba_family, model_config(c), training);
        model_setup_acts(cm, batch.T(), batch.B(), 300);
        model_init_random(cm, 11);
        oc.total_steps = 10;
    }
};

// One cuda training step on a copy of the CPU model (before the CPU's own step changes it): loss,
// gradient norm, gradients, and the parameters after AdamW, read back as train_main reads them.
struct GpuStepResult {
    double loss, norm;
    std::vector<float> grads, params;
};
GpuStepResult gpu_step(StepSetup& s, bool bf16) {
    DeviceModel* g = cuda_model_create(s.cm, bf16, s.batch.T(), s.batch.B(), 300);
    GpuStepResult r;
    TrainState st;
    r.loss = cuda_train_step(g, s.oc, st, s.batch, StepSetup::G, &r.norm);
    CHECK(st.step == 1);
    r.grads.resize(s.cm.ptable->total);
    cuda_model_grads(g, r.grads.data());
    Model host = model_create(mamba_family, s.cm.cfg, true);  // cuda_model_to_host writes a model of the same config
    cuda_model_to_host(g, host);
    r.params.assign(host.params, host.params + s.cm.ptable->total);
    cuda_model_free(g);
    return r;
}

}  // namespace

TEST_CASE("cuda backend: one training step (fp32) matches the CPU train_step: loss, gradients, parameters") {
    StepSetup s;
    const GpuStepResult gpu = gpu_step(s, false);
    TrainState st;
    double norm_cpu = 0;
    const double loss_cpu = train_step(s.cm, s.oc, st, s.batch, StepSetup::G, &norm_cpu);
    const TensorTable& t = *s.cm.ptable;
    const std::vector<float> grads_cpu(s.cm.grads, s.cm.grads + t.total);
    const std::vector<float> params_cpu(s.cm.params, s.cm.params + t.total);

    CHECK(check_close("step loss", {(float)gpu.loss}, {(float)loss_cpu}, RTOL_FWD));
    CHECK(check_close("step grad norm", {(float)gpu.norm}, {(float)norm_cpu}, RTOL_GRAD));
    for (size_t k = 0; k < t.specs.size(); k++) {
        if (!t.specs[k].trained) continue;  // score.bias: its gradient is 0 up to rounding
        CHECK(check_close("step grad " + t.specs[k].name, slice(gpu.grads, t, k), slice(grads_cpu, t, k), RTOL_GRAD));
    }
    for (size_t k = 0; k < t.specs.size(); k++)
        CHECK(check_close("step param " + t.specs[k].name, slice(gpu.params, t, k), slice(params_cpu, t, k), RTOL_FWD));
}

// The same step with bf16 activations and GEMM weights. There is no dtype-derived bound for a whole
// network's gradient (rounding errors compound through layers), so this case checks that the bf16
// step runs, writes every gradient (no NaN: every device buffer starts poisoned) and reports its
// distance from the fp32 CPU step as evidence (relative norm error per tensor), without judging it.
TEST_CASE("cuda backend: one training step in bf16: runs, finite, distance from the fp32 CPU step reported") {
    StepSetup s;
    const GpuStepResult gpu = gpu_step(s, true);
    TrainState st;
    double norm_cpu = 0;
    const double loss_cpu = train_step(s.cm, s.oc, st, s.batch, StepSetup::G, &norm_cpu);
    const TensorTable& t = *s.cm.ptable;
    std::printf("  bf16 step: loss %.6f vs fp32 CPU %.6f (rel %.2e); grad norm %.6f vs %.6f\n", gpu.loss, loss_cpu,
                std::fabs(gpu.loss - loss_cpu) / std::fabs(loss_cpu), gpu.norm, norm_cpu);
    CHECK(std::isfinite(gpu.loss));
    const std::vector<float> grads_cpu(s.cm.grads, s.cm.grads + t.total);
    for (size_t k = 0; k < t.specs.size(); k++) {
        if (!t.specs[k].trained) continue;
        const std::vector<float> g = slice(gpu.grads, t, k), w = slice(grads_cpu, t, k);
        double num = 0, den = 0;
        bool finite = true;
        for (size_t i = 0; i < g.size(); i++) num += (double)(g[i] - w[i]) * (g[i] - w[i]), den += (double)w[i] * w[i], finite &= std::isfinite(g[i]);
        std::printf("  bf16 step grad %-44s rel norm err %.2e\n", t.specs[k].name.c_str(), std::sqrt(num / (den > 0 ? den : 1)));
        CHECK(finite);
    }
    for (float p : gpu.params) REQUIRE(std::isfinite(p));
}

// Scoring as ./rerank does it: a model without gradients or moments, scores back on the host. fp32
// matches the CPU's mamba_forward to the forward tolerance; bf16 is reported and must be finite (the
// same reasoning as the bf16 step: no dtype-derived bound for a whole network).
TEST_CASE("cuda backend: forward-only scoring matches the CPU forward (fp32), bf16 reported") {
    StepSetup s(false);
    const int B = s.batch.B();
    const float* cpu_scores = model_forward(s.cm, s.batch);
    const std::vector<float> want(cpu_scores, cpu_scores + B);
    for (bool bf16 : {false, true}) {
        DeviceModel* g = cuda_model_create(s.cm, bf16, s.batch.T(), B, 300);
        std::vector<float> got(B);
        cuda_forward(g, s.batch, got.data());
        cuda_forward(g, s.batch, got.data());  // twice: nothing of the first pass may leak into the second
        if (!bf16) {
            CHECK(check_close("scores fp32", got, want, RTOL_FWD));
        } else {
            double worst = 0;
            for (int b = 0; b < B; b++) {
                worst = std::max(worst, (double)std::fabs(got[b] - want[b]));
                CHECK(std::isfinite(got[b]));
            }
            std::printf("  scores bf16: first %+.6f/%+.6f, max|err| %.2e (reported, not judged)\n", got[0], want[0], worst);
        }
        cuda_model_free(g);
    }
}

// What a checkpoint saves after cuda steps: the parameters and the AdamW moments copied back to the
// host equal those of the same steps on the CPU (fp32), so a run can be resumed on either backend.
TEST_CASE("cuda backend: two fp32 steps, parameters and AdamW moments back on the host match the CPU's") {
    StepSetup s;
    DeviceModel* g = cuda_model_create(s.cm, false, s.batch.T(), s.batch.B(), 300);
    TrainState st_gpu, st_cpu;
    for (int i = 0; i < 2; i++) {
        cuda_train_step(g, s.oc, st_gpu, s.batch, StepSetup::G);
        train_step(s.cm, s.oc, st_cpu, s.batch, StepSetup::G);
    }
    CHECK(st_gpu.step == st_cpu.step);
    Model host = model_create(mamba_family, s.cm.cfg, true);
    cuda_model_to_host(g, host);
    cuda_model_free(g);
    // The trained tensors' values, in table order (padding between tensors is never written).
    const TensorTable& t = *s.cm.ptable;
    auto trained = [&](const float* p) {
        std::vector<float> v;
        for (size_t k = 0; k < t.specs.size(); k++)
            if (t.specs[k].trained) v.insert(v.end(), p + t.offsets[k], p + t.offsets[k] + t.specs[k].numel());
        return v;
    };
    CHECK(check_close("2 steps: params", trained(host.params), trained(s.cm.params), RTOL_FWD));
    CHECK(check_close("2 steps: adamw m", trained(host.opt_m), trained(s.cm.opt_m), RTOL_GRAD));
    // v sums squared gradients: a square doubles the relative error of its gradient.
    CHECK(check_close("2 steps: adamw v", trained(host.opt_v), trained(s.cm.opt_v), 2 * RTOL_GRAD));
}
