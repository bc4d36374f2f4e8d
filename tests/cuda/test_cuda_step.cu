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

// Device copies of the CPU model's tables, and the activations of one batch.
struct GpuStep {
    const MambaConfig& c;
    int B, Tn;
    gpu::DeviceTable<float> params, grads, m, v;
    Dev<int32_t> tokens, offsets;
    Dev<uint8_t> match;
    // Per layer: x [T, D] (fp32 residual), rstd [T], hn [T, D], xz [T, 2E], u [T, E], dbc [T, P],
    // dt [T, E], y [T, E], ckpt (scan states per chunk).
    std::vector<Dev<float>*> x, rstd, hn, xz, u, dbc, dt, y, ckpt;
    Dev<float> delta, pooled, rstd_f, h, scores, loss, dscores;
    Dev<float> dx, dx_T, dhn, dxz, du, ddbc, ddt, dy, dpooled, dh;
    Dev<float> scratch;  // the largest of the layers' backward scratch needs
    Dev<int32_t> emb_scratch;

    GpuStep(const Mamba<float>& cm, const Batch& b)
        : c(cm.cfg), B(b.B()), Tn(b.T()), params(cm.ptable), grads(cm.ptable, true), m(cm.ptable, true),
          v(cm.ptable, true), tokens(b.tokens), offsets(b.offsets), match(b.match.empty() ? std::vector<uint8_t>(b.T(), 0) : b.match),
          delta((size_t)Tn * c.D), pooled((size_t)B * c.D), rstd_f(B), h((size_t)B * c.D), scores(B), loss(1),
          dscores(B), dx((size_t)Tn * c.D), dx_T((size_t)Tn * c.D), dhn((size_t)Tn * c.D), dxz((size_t)Tn * 2 * c.E),
          du((size_t)Tn * c.E), ddbc((size_t)Tn * (c.R + 2 * c.N)), ddt((size_t)Tn * c.E), dy((size_t)Tn * c.E),
          dpooled((size_t)B * c.D), dh((size_t)B * c.D),
          scratch(std::max({gpu::rmsnorm_backward_scratch(Tn, c.D), gpu::conv1d_backward_scratch(Tn, c.E, c.K),
                            gpu::scan_backward_scratch(B, Tn, c.E, c.N)})),
          emb_scratch(gpu::embedding_backward_scratch(Tn)) {
        CUDA_CHECK(cudaMemcpy(params.data, cm.params.data, cm.ptable.total * 4, cudaMemcpyHostToDevice));
        const size_t D = c.D, E = c.E, P = c.R + 2 * c.N;
        for (int l = 0; l < c.L; l++) {
            x.push_back(new Dev<float>(Tn * D)), rstd.push_back(new Dev<float>(Tn)), hn.push_back(new Dev<float>(Tn * D));
            xz.push_back(new Dev<float>(Tn * 2 * E)), u.push_back(new Dev<float>(Tn * E)), dbc.push_back(new Dev<float>(Tn * P));
            dt.push_back(new Dev<float>(Tn * E)), y.push_back(new Dev<float>(Tn * E));
            ckpt.push_back(new Dev<float>(gpu::scan_checkpoint_size(B, Tn, c.E, c.N)));
        }
    }
    ~GpuStep() {
        for (auto* vec : {&x, &rstd, &hn, &xz, &u, &dbc, &dt, &y, &ckpt})
            for (Dev<float>* d : *vec) delete d;
    }
    MambaWeights<float> view(float* base) const { return mamba_weights_view(c, *params.table, base); }

    // Forward, loss and backward; returns the loss. Parameter gradients accumulate into grads.
    float forward_backward(cublasHandle_t hb, const Batch& batch, int G) {
        const int D = c.D, E = c.E, N = c.N, R = c.R, P = R + 2 * N, K = c.K;
        const MambaWeights<float> w = view(params.data), g = view(grads.data);
        const int32_t* off = offsets.p;
        gpu::embedding_forward<float>(x[0]->p, tokens.p, c.match ? match.p : nullptr, w.wte, w.wme, Tn, D, nullptr);
        for (int l = 0; l < c.L; l++) {
            const MambaLayerWeights<float>& lw = w.layers[l];
            if (l == 0) gpu::rmsnorm_forward<float>(hn[0]->p, rstd[0]->p, nullptr, x[0]->p, nullptr, lw.norm, Tn, D, c.eps, nullptr);
            else gpu::rmsnorm_forward<float>(hn[l]->p, rstd[l]->p, x[l]->p, x[l - 1]->p, delta.p, lw.norm, Tn, D, c.eps, nullptr);
            gpu::matmul_forward<float>(hb, xz[l]->p, 2 * E, hn[l]->p, D, lw.in_proj, Tn, 2 * E, D, false);
            gpu::conv1d_forward<float>(u[l]->p, E, xz[l]->p, 2 * E, lw.conv_w, lw.conv_b, off, B, Tn, E, K, nullptr);
            gpu::matmul_forward<float>(hb, dbc[l]->p, P, u[l]->p, E, lw.x_proj, Tn, P, E, false);
            gpu::matmul_forward<float>(hb, dt[l]->p, E, dbc[l]->p, P, lw.dt_w, Tn, E, R, false);
            gpu::scan_forward<float>(y[l]->p, E, ckpt[l]->p, u[l]->p, E, dt[l]->p, E, dbc[l]->p + R, dbc[l]->p + R + N, P,
                                     xz[l]->p + E, 2 * E, lw.A_log, lw.Dskip, lw.dt_b, off, B, Tn, E, N, nullptr);
            gpu::matmul_forward<float>(hb, delta.p, D, y[l]->p, E, lw.out_proj, Tn, D, E, false);
        }
        gpu::pool_last_forward<float>(pooled.p, x[c.L - 1]->p, delta.p, off, B, D, nullptr);
        gpu::rmsnorm_forward<float>(h.p, rstd_f.p, nullptr, pooled.p, nullptr, w.norm_f, B, D, c.eps, nullptr);
        gpu::head_forward(scores.p, h.p, w.head_w, w.head_b, B, D, nullptr);
        gpu::group_softmax_ce(loss.p, dscores.p, scores.p, B, G, nullptr);

        gpu::head_backward(dh.p, g.head_w, g.head_b, dscores.p, h.p, w.head_w, B, D, nullptr);
        CUDA_CHECK(cudaMemset(dpooled.p, 0, (size_t)B * D * 4));
        gpu::rmsnorm_backward<float>(dpooled.p, nullptr, g.norm_f, scratch.p, dh.p, pooled.p, rstd_f.p, w.norm_f, B, D, nullptr);
        CUDA_CHECK(cudaMemset(dx.p, 0, (size_t)Tn * D * 4));
        gpu::pool_last_backward(dx.p, dpooled.p, off, B, D, nullptr);
        gpu::convert<float>(dx_T.p, dx.p, (size_t)Tn * D, nullptr);  // the last block's delta gradient
        for (int l = c.L - 1; l >= 0; l--) {
            const MambaLayerWeights<float>& lw = w.layers[l];
            const MambaLayerWeights<float>& gw = g.layers[l];
            gpu::matmul_backward<float>(hb, dy.p, E, gw.out_proj, dx_T.p, D, y[l]->p, E, lw.out_proj, Tn, D, E, false);
            gpu::scan_backward<float>(du.p, E, ddt.p, E, ddbc.p + R, ddbc.p + R + N, P, dxz.p + E, 2 * E, gw.A_log, gw.Dskip,
                                      gw.dt_b, scratch.p, dy.p, E, ckpt[l]->p, u[l]->p, E, dt[l]->p, E, dbc[l]->p + R,
                                      dbc[l]->p + R + N, P, xz[l]->p + E, 2 * E, lw.A_log, lw.Dskip, lw.dt_b, off, B, Tn, E,
                                      N, nullptr);
            gpu::matmul_backward<float>(hb, ddbc.p, P, gw.dt_w, ddt.p, E, dbc[l]->p, P, lw.dt_w, Tn, E, R, false);
            gpu::matmul_backward<float>(hb, du.p, E, gw.x_proj, ddbc.p, P, u[l]->p, E, lw.x_proj, Tn, P, E, true);
            gpu::conv1d_backward<float>(dxz.p, 2 * E, gw.conv_w, gw.conv_b, scratch.p, du.p, E, xz[l]->p, 2 * E, lw.conv_w,
                                        lw.conv_b, off, B, Tn, E, K, nullptr);
            gpu::matmul_backward<float>(hb, dhn.p, D, gw.in_proj, dxz.p, 2 * E, hn[l]->p, D, lw.in_proj, Tn, 2 * E, D, false);
            gpu::rmsnorm_backward<float>(dx.p, dx_T.p, gw.norm, scratch.p, dhn.p, x[l]->p, rstd[l]->p, lw.norm, Tn, D, nullptr);
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

TEST_CASE("cuda one training step (fp32) matches the CPU train_step: loss, gradients, parameters") {
    MambaConfig c;
    c.D = 20, c.L = 2, c.N = 8, c.K = 4, c.E = 40, c.R = 2, c.V = 60, c.match = 1;
    const int G = 3;
    Batch batch;
    batch.offsets = offsets_of({1, 37, 300, 5, 20, 9});
    std::mt19937 rng(5);
    for (int t = 0; t < batch.T(); t++) batch.tokens.push_back((int)(rng() % c.V)), batch.match.push_back(rng() % 2);
    Mamba<float> cm;
    mamba_setup(cm, c, true);
    mamba_setup_acts(cm, batch.T(), batch.B(), 300);
    mamba_init_random(cm, 11);
    AdamWConfig oc;  // defaults: lr 1e-3, wd 0.1, clip 1
    oc.total_steps = 10;

    GpuStep gs(cm, batch);  // copies the parameters before the CPU step changes them
    cublasHandle_t hb;
    CUBLAS_CHECK(cublasCreate(&hb));
    gpu::AdamWPlan plan = gpu::adamw_plan(cm.ptable);
    const float loss_gpu = gs.forward_backward(hb, batch, G);
    const std::vector<float> grads_gpu = download(gs.grads.data, cm.ptable.total);
    gpu::adamw_step(oc, plan, gs.params.data, nullptr, gs.grads.data, gs.m.data, gs.v.data, 0, nullptr);
    const std::vector<float> params_gpu = download(gs.params.data, cm.ptable.total);

    TrainState st;
    double norm_cpu = 0;
    const double loss_cpu = train_step(cm, oc, st, batch, G, &norm_cpu);
    const std::vector<float> grads_cpu(cm.grads.data, cm.grads.data + cm.ptable.total);
    const std::vector<float> params_cpu(cm.params.data, cm.params.data + cm.ptable.total);

    CHECK(check_close("step loss", {loss_gpu}, {(float)loss_cpu}, RTOL_FWD));
    CHECK(check_close("step grad norm", {(float)gpu::adamw_last_norm(plan)}, {(float)norm_cpu}, RTOL_GRAD));
    for (size_t k = 0; k < cm.ptable.specs.size(); k++) {
        const std::string& name = cm.ptable.specs[k].name;
        if (!cm.ptable.specs[k].trained) continue;  // score.bias: its gradient is 0 up to rounding
        CHECK(check_close("step grad " + name, slice(grads_gpu, cm.ptable, k), slice(grads_cpu, cm.ptable, k), RTOL_GRAD));
    }
    for (size_t k = 0; k < cm.ptable.specs.size(); k++)
        CHECK(check_close("step param " + cm.ptable.specs[k].name, slice(params_gpu, cm.ptable, k),
                          slice(params_cpu, cm.ptable, k), RTOL_FWD));
    gpu::adamw_plan_free(plan);
    CUBLAS_CHECK(cublasDestroy(hb));
}
