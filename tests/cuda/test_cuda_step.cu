// One whole training step of the Mamba-1 reranker chained from the CUDA kernels (forward, loss,
// backward, AdamW), in fp32, against the CPU backend's train_step (src/trainer.cpp) on a tiny model:
// the loss, every parameter gradient and every parameter after the step.
//
// The chain follows src/mamba.cpp's order layer for layer (that file is the one orchestration; this
// test restates it over the CUDA launchers until the lead wires the cuda backend behind it). What
// differs on the GPU: the residual add of block l is fused into block l+1's RMSNorm (and, for the last
// block, into the pooling), so out_proj writes `delta` instead of accumulating into x; the scan caches
// per-chunk states (ckpt) instead of nothing; the embedding backward takes the host's token ids.
#include <algorithm>
#include <cstring>

#include "cuda_test.h"
#include "mamba.h"
#include "trainer.h"

namespace {

// Device copies of the CPU model's tables, and the activations of one batch, in the working type T.
// With T = bf16, the GEMM weights and the embedding come from a bf16 copy of the parameters (wT);
// everything else reads the fp32 master parameters, as the kernels' conventions say (runtime.h).
template <class T>
struct GpuStep {
    const MambaConfig& c;
    int B, Tn;
    gpu::DeviceTable<float> params, grads, m, v;
    gpu::DeviceTable<T> wT;  // the working copy (unused for T = float)
    Dev<int32_t> tokens, offsets;
    Dev<uint8_t> match;
    // Per layer: x [T, D] (fp32 residual), rstd [T], hn [T, D], xz [T, 2E], u [T, E], dbc [T, P],
    // dt [T, E], y [T, E], ckpt (scan states per chunk).
    std::vector<Dev<float>*> x, rstd, ckpt;
    std::vector<Dev<T>*> hn, xz, u, dbc, dt, y;
    Dev<T> delta;
    Dev<float> pooled, rstd_f, h, scores, loss, dscores, dx;
    Dev<T> dx_T, dhn, dxz, du, ddbc, ddt, dy;
    Dev<float> dpooled, dh;
    Dev<float> scratch;  // the largest of the layers' backward scratch needs
    Dev<int32_t> emb_scratch;

    GpuStep(const Mamba<float>& cm, const Batch& b)
        : c(cm.cfg), B(b.B()), Tn(b.T()), params(cm.ptable), grads(cm.ptable, true), m(cm.ptable, true),
          v(cm.ptable, true), wT(cm.ptable), tokens(b.tokens), offsets(b.offsets), match(b.match.empty() ? std::vector<uint8_t>(b.T(), 0) : b.match),
          delta((size_t)Tn * c.D), pooled((size_t)B * c.D), rstd_f(B), h((size_t)B * c.D), scores(B), loss(1),
          dscores(B), dx((size_t)Tn * c.D), dx_T((size_t)Tn * c.D), dhn((size_t)Tn * c.D), dxz((size_t)Tn * 2 * c.E),
          du((size_t)Tn * c.E), ddbc((size_t)Tn * (c.R + 2 * c.N)), ddt((size_t)Tn * c.E), dy((size_t)Tn * c.E),
          dpooled((size_t)B * c.D), dh((size_t)B * c.D),
          scratch(std::max({gpu::rmsnorm_backward_scratch(Tn, c.D), gpu::conv1d_backward_scratch(Tn, c.E, c.K),
                            gpu::scan_backward_scratch(B, Tn, c.E, c.N)})),
          emb_scratch(gpu::embedding_backward_scratch(Tn)) {
        CUDA_CHECK(cudaMemcpy(params.data, cm.params.data, cm.ptable.total * 4, cudaMemcpyHostToDevice));
        gpu::convert<T>(wT.data, params.data, cm.ptable.total, nullptr);
        const size_t D = c.D, E = c.E, P = c.R + 2 * c.N;
        for (int l = 0; l < c.L; l++) {
            x.push_back(new Dev<float>(Tn * D)), rstd.push_back(new Dev<float>(Tn)), hn.push_back(new Dev<T>(Tn * D));
            xz.push_back(new Dev<T>(Tn * 2 * E)), u.push_back(new Dev<T>(Tn * E)), dbc.push_back(new Dev<T>(Tn * P));
            dt.push_back(new Dev<T>(Tn * E)), y.push_back(new Dev<T>(Tn * E));
            ckpt.push_back(new Dev<float>(gpu::scan_checkpoint_size(B, Tn, c.E, c.N)));
        }
    }
    ~GpuStep() {
        for (auto* vec : {&x, &rstd, &ckpt})
            for (Dev<float>* d : *vec) delete d;
        for (auto* vec : {&hn, &xz, &u, &dbc, &dt, &y})
            for (Dev<T>* d : *vec) delete d;
    }
    MambaWeights<float> view(float* base) const { return mamba_weights_view(c, *params.table, base); }
    // The same layout over the working copy (mamba_weights_view exists for float and double only).
    MambaWeights<T> view_T() const {
        if constexpr (std::is_same_v<T, float>) return view(params.data);
        const MambaWeights<float> w = view(params.data);
        auto at = [&](const float* p) { return p ? wT.data + (p - params.data) : nullptr; };
        MambaWeights<T> r;
        r.wte = at(w.wte), r.wme = at(w.wme), r.norm_f = at(w.norm_f), r.head_w = at(w.head_w), r.head_b = at(w.head_b);
        for (const MambaLayerWeights<float>& l : w.layers)
            r.layers.push_back({at(l.norm), at(l.in_proj), at(l.conv_w), at(l.conv_b), at(l.x_proj), at(l.dt_w), at(l.dt_b),
                                at(l.A_log), at(l.Dskip), at(l.out_proj)});
        return r;
    }

    // Forward, loss and backward; returns the loss. Parameter gradients accumulate into grads.
    float forward_backward(cublasHandle_t hb, const Batch& batch, int G) {
        const int D = c.D, E = c.E, N = c.N, R = c.R, P = R + 2 * N, K = c.K;
        const MambaWeights<float> w = view(params.data), g = view(grads.data);
        // The GEMM weights and the embedding in T: the master weights themselves in fp32.
        const MambaWeights<T> wt = view_T();
        const int32_t* off = offsets.p;
        gpu::embedding_forward<T>(x[0]->p, tokens.p, c.match ? match.p : nullptr, wt.wte, wt.wme, Tn, D, nullptr);
        for (int l = 0; l < c.L; l++) {
            const MambaLayerWeights<float>& lw = w.layers[l];
            const MambaLayerWeights<T>& lt = wt.layers[l];
            if (l == 0) gpu::rmsnorm_forward<T>(hn[0]->p, rstd[0]->p, nullptr, x[0]->p, nullptr, lw.norm, Tn, D, c.eps, nullptr);
            else gpu::rmsnorm_forward<T>(hn[l]->p, rstd[l]->p, x[l]->p, x[l - 1]->p, delta.p, lw.norm, Tn, D, c.eps, nullptr);
            gpu::matmul_forward<T>(hb, xz[l]->p, 2 * E, hn[l]->p, D, lt.in_proj, Tn, 2 * E, D, false);
            gpu::conv1d_forward<T>(u[l]->p, E, xz[l]->p, 2 * E, lw.conv_w, lw.conv_b, off, B, Tn, E, K, nullptr);
            gpu::matmul_forward<T>(hb, dbc[l]->p, P, u[l]->p, E, lt.x_proj, Tn, P, E, false);
            gpu::matmul_forward<T>(hb, dt[l]->p, E, dbc[l]->p, P, lt.dt_w, Tn, E, R, false);
            gpu::scan_forward<T>(y[l]->p, E, ckpt[l]->p, u[l]->p, E, dt[l]->p, E, dbc[l]->p + R, dbc[l]->p + R + N, P,
                                     xz[l]->p + E, 2 * E, lw.A_log, lw.Dskip, lw.dt_b, off, B, Tn, E, N, nullptr);
            gpu::matmul_forward<T>(hb, delta.p, D, y[l]->p, E, lt.out_proj, Tn, D, E, false);
        }
        gpu::pool_last_forward<T>(pooled.p, x[c.L - 1]->p, delta.p, off, B, D, nullptr);
        gpu::rmsnorm_forward<float>(h.p, rstd_f.p, nullptr, pooled.p, nullptr, w.norm_f, B, D, c.eps, nullptr);
        gpu::head_forward(scores.p, h.p, w.head_w, w.head_b, B, D, nullptr);
        gpu::group_softmax_ce(loss.p, dscores.p, scores.p, B, G, nullptr);

        gpu::head_backward(dh.p, g.head_w, g.head_b, dscores.p, h.p, w.head_w, B, D, nullptr);
        CUDA_CHECK(cudaMemset(dpooled.p, 0, (size_t)B * D * 4));
        gpu::rmsnorm_backward<float>(dpooled.p, nullptr, g.norm_f, scratch.p, dh.p, pooled.p, rstd_f.p, w.norm_f, B, D, nullptr);
        CUDA_CHECK(cudaMemset(dx.p, 0, (size_t)Tn * D * 4));
        gpu::pool_last_backward(dx.p, dpooled.p, off, B, D, nullptr);
        gpu::convert<T>(dx_T.p, dx.p, (size_t)Tn * D, nullptr);  // the last block's delta gradient
        for (int l = c.L - 1; l >= 0; l--) {
            const MambaLayerWeights<float>& lw = w.layers[l];
            const MambaLayerWeights<float>& gw = g.layers[l];
            const MambaLayerWeights<T>& lt = wt.layers[l];
            gpu::matmul_backward<T>(hb, dy.p, E, gw.out_proj, dx_T.p, D, y[l]->p, E, lt.out_proj, Tn, D, E, false);
            gpu::scan_backward<T>(du.p, E, ddt.p, E, ddbc.p + R, ddbc.p + R + N, P, dxz.p + E, 2 * E, gw.A_log, gw.Dskip,
                                      gw.dt_b, scratch.p, dy.p, E, ckpt[l]->p, u[l]->p, E, dt[l]->p, E, dbc[l]->p + R,
                                      dbc[l]->p + R + N, P, xz[l]->p + E, 2 * E, lw.A_log, lw.Dskip, lw.dt_b, off, B, Tn, E,
                                      N, nullptr);
            gpu::matmul_backward<T>(hb, ddbc.p, P, gw.dt_w, ddt.p, E, dbc[l]->p, P, lt.dt_w, Tn, E, R, false);
            gpu::matmul_backward<T>(hb, du.p, E, gw.x_proj, ddbc.p, P, u[l]->p, E, lt.x_proj, Tn, P, E, true);
            gpu::conv1d_backward<T>(dxz.p, 2 * E, gw.conv_w, gw.conv_b, scratch.p, du.p, E, xz[l]->p, 2 * E, lw.conv_w,
                                        lw.conv_b, off, B, Tn, E, K, nullptr);
            gpu::matmul_backward<T>(hb, dhn.p, D, gw.in_proj, dxz.p, 2 * E, hn[l]->p, D, lt.in_proj, Tn, 2 * E, D, false);
            gpu::rmsnorm_backward<T>(dx.p, dx_T.p, gw.norm, scratch.p, dhn.p, x[l]->p, rstd[l]->p, lw.norm, Tn, D, nullptr);
        }
        gpu::embedding_backward(g.wte, g.wme, emb_scratch.p, dx.p, batch.tokens.data(), c.match ? batch.match.data() : nullptr,
                                Tn, D, nullptr);
        return loss.back()[0];
    }
};

std::vector<float> slice(const std::vector<float>& all, const TensorTable& t, size_t k) {
    return std::vector<float>(all.begin() + t.offsets[k], all.begin() + t.offsets[k] + t.specs[k].numel());
}
std::vector<float> download(const float* p, size_t n) {
    std::vector<float> h(n);
    CUDA_CHECK(cudaMemcpy(h.data(), p, n * 4, cudaMemcpyDeviceToHost));
    return h;
}

}  // namespace

// The tiny model and batch both steps use: two layers, the match embedding, six sequences (groups of
// 3) of lengths 1 .. 300 (past one scan chunk).
struct StepSetup {
    MambaConfig c;
    Batch batch;
    Mamba<float> cm;
    AdamWConfig oc;  // defaults: lr 1e-3, wd 0.1, clip 1
    static constexpr int G = 3;
    StepSetup() {
        c.D = 20, c.L = 2, c.N = 8, c.K = 4, c.E = 40, c.R = 2, c.V = 60, c.match = 1;
        batch.offsets = offsets_of({1, 37, 300, 5, 20, 9});
        std::mt19937 rng(5);
        for (int t = 0; t < batch.T(); t++) batch.tokens.push_back((int)(rng() % c.V)), batch.match.push_back(rng() % 2);
        mamba_setup(cm, c, true);
        mamba_setup_acts(cm, batch.T(), batch.B(), 300);
        mamba_init_random(cm, 11);
        oc.total_steps = 10;
    }
};

// Runs the GPU step on a copy of the CPU model's parameters: loss, gradients, parameters after AdamW
// (with the bf16 working copy refreshed when T is bf16), and the gradient norm.
template <class T>
void gpu_step(StepSetup& s, float& loss, std::vector<float>& grads, std::vector<float>& params, double& norm) {
    GpuStep<T> gs(s.cm, s.batch);
    cublasHandle_t hb;
    CUBLAS_CHECK(cublasCreate(&hb));
    gpu::AdamWPlan plan = gpu::adamw_plan(s.cm.ptable);
    loss = gs.forward_backward(hb, s.batch, StepSetup::G);
    grads = download(gs.grads.data, s.cm.ptable.total);
    __nv_bfloat16* pb = std::is_same_v<T, float> ? nullptr : (__nv_bfloat16*)gs.wT.data;
    gpu::adamw_step(s.oc, plan, gs.params.data, pb, gs.grads.data, gs.m.data, gs.v.data, 0, nullptr);
    params = download(gs.params.data, s.cm.ptable.total);
    norm = gpu::adamw_last_norm(plan);
    gpu::adamw_plan_free(plan);
    CUBLAS_CHECK(cublasDestroy(hb));
}

TEST_CASE("cuda one training step (fp32) matches the CPU train_step: loss, gradients, parameters") {
    StepSetup s;
    float loss_gpu;
    std::vector<float> grads_gpu, params_gpu;
    double norm_gpu;
    gpu_step<float>(s, loss_gpu, grads_gpu, params_gpu, norm_gpu);  // before the CPU step changes the parameters

    TrainState st;
    double norm_cpu = 0;
    const double loss_cpu = train_step(s.cm, s.oc, st, s.batch, StepSetup::G, &norm_cpu);
    const TensorTable& t = s.cm.ptable;
    const std::vector<float> grads_cpu(s.cm.grads.data, s.cm.grads.data + t.total);
    const std::vector<float> params_cpu(s.cm.params.data, s.cm.params.data + t.total);

    CHECK(check_close("step loss", {loss_gpu}, {(float)loss_cpu}, RTOL_FWD));
    CHECK(check_close("step grad norm", {(float)norm_gpu}, {(float)norm_cpu}, RTOL_GRAD));
    for (size_t k = 0; k < t.specs.size(); k++) {
        if (!t.specs[k].trained) continue;  // score.bias: its gradient is 0 up to rounding
        CHECK(check_close("step grad " + t.specs[k].name, slice(grads_gpu, t, k), slice(grads_cpu, t, k), RTOL_GRAD));
    }
    for (size_t k = 0; k < t.specs.size(); k++)
        CHECK(check_close("step param " + t.specs[k].name, slice(params_gpu, t, k), slice(params_cpu, t, k), RTOL_FWD));
}

// The same step with bf16 activations and GEMM weights. There is no dtype-derived bound for a whole
// network's gradient (rounding errors compound through layers), so this case checks that the bf16
// chain runs, writes every gradient (no NaN: every buffer starts poisoned) and reports its distance
// from the fp32 CPU step as evidence (relative norm error per tensor), without judging it.
TEST_CASE("cuda one training step in bf16: runs, finite, distance from the fp32 CPU step reported") {
    StepSetup s;
    float loss_gpu;
    std::vector<float> grads_gpu, params_gpu;
    double norm_gpu;
    gpu_step<__nv_bfloat16>(s, loss_gpu, grads_gpu, params_gpu, norm_gpu);
    TrainState st;
    double norm_cpu = 0;
    const double loss_cpu = train_step(s.cm, s.oc, st, s.batch, StepSetup::G, &norm_cpu);
    const TensorTable& t = s.cm.ptable;
    std::printf("  bf16 step: loss %.6f vs fp32 CPU %.6f (rel %.2e); grad norm %.6f vs %.6f\n", loss_gpu, loss_cpu,
                std::fabs(loss_gpu - loss_cpu) / std::fabs(loss_cpu), norm_gpu, norm_cpu);
    CHECK(std::isfinite(loss_gpu));
    for (size_t k = 0; k < t.specs.size(); k++) {
        if (!t.specs[k].trained) continue;
        const std::vector<float> g = slice(grads_gpu, t, k), w = slice(std::vector<float>(s.cm.grads.data, s.cm.grads.data + t.total), t, k);
        double num = 0, den = 0;
        bool finite = true;
        for (size_t i = 0; i < g.size(); i++) num += (double)(g[i] - w[i]) * (g[i] - w[i]), den += (double)w[i] * w[i], finite &= std::isfinite(g[i]);
        std::printf("  bf16 step grad %-44s rel norm err %.2e\n", t.specs[k].name.c_str(), std::sqrt(num / (den > 0 ? den : 1)));
        CHECK(finite);
    }
}
