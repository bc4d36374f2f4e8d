// The Mamba-1 reranker on the GPU: the model on the device, the CUDA policy that runs the one layer
// order of src/models/mamba/orchestration.h over the kernels of cuda/ (launchers in kernels.h), and the
// family's GpuFamily (device_model.h) behind the entry points of src/backend/backend.h that ./train and
// ./rerank call. Compiled by nvcc for the GPU and by g++ for the simulator (tests/cuda/test_cuda_step.cu
// runs it there against the CPU backend).
//
// Device memory, all of it allocated at creation (a step allocates nothing), each group one allocation
// carved from a {name, shape} table:
//   params, grads, opt_m, opt_v  fp32, laid out by the parameter table (mamba_param_table), as on the host
//   params_act                   bf16 copy of params, same layout, refreshed by every AdamW step (bf16 only)
//   res                          fp32 activations: per layer x [T, D], rstd [T]; the scan forward's scratch;
//                                pooled, h [B, D], rstd_f, scores [B], loss [1]; when training, per layer
//                                ckpt (the scan's state every 8 steps), dx [T, D], dpooled, dh [B, D],
//                                dscores [B], the backward scratch
//   act                          activations of type T: per layer hn [T, D], xz [T, 2E], u [T, E],
//                                dbc [T, R+2N], dt, y [T, E]; delta [T, D]; when training, dx_act,
//                                dhn [T, D], dxz, du, ddbc, ddt, dy
//   idx                          int32: tokens [T], offsets [B+1], the embedding backward's buckets
//   match                        uint8 [T]
// with T, B and the sequence length at most the maxima given at creation.
//
// Precision: T = __nv_bfloat16 (the default) or float (--precision fp32, and the tests). The GEMMs and
// the embedding read the weights in T (params_act, or params itself in fp32); everything else reads the
// fp32 masters (runtime.h).
// Streams: everything runs in order on the default stream; a training step synchronises when it reads
// the loss and the gradient norm, a forward when it reads the scores.
#include <algorithm>
#include <memory>
#include <type_traits>

#include "core/common.h"
#include "device_model.h"
#include "kernels.h"
#include "models/mamba/orchestration.h"

namespace {

// The CUDA policy of orchestration.h: activations in T, the residual stream and everything else in
// fp32; the batch on the device (plus the host's token ids, from which the embedding backward builds
// its buckets), the scratch of the backward kernels, the cuBLAS handle and the stream.
template <class T>
struct GpuOps {
    using Act = T;
    using Res = float;
    using Par = float;
    cublasHandle_t cublas;
    cudaStream_t stream;
    const int32_t* tokens;         // [T] device
    const uint8_t* match;          // [T] device, nullptr: no match feature
    const int32_t* offsets;        // [B+1] device
    const int32_t* tokens_host;    // [T]
    const uint8_t* match_host;     // [T] or nullptr
    float* scratch;                // the largest backward scratch of any layer
    int32_t* emb_scratch;          // the embedding backward's buckets
    float* scan_scratch;           // the scan forward's segment summaries (long sequences, small batches)

    void embedding_forward(float* x, const T* wte, const T* wme, int Tn, int D) {
        gpu::embedding_forward<T>(x, tokens, match, wte, wme, Tn, D, stream);
    }
    // O: T in the blocks, float for the final norm (the head is fp32).
    template <class O>
    void rmsnorm_forward(O* out, float* rstd, float* x_out, const float* x_in, const std::type_identity_t<O>* delta,
                         const float* w, int rows, int D, float eps) {
        gpu::rmsnorm_forward<O>(out, rstd, x_out, x_in, delta, w, rows, D, eps, stream);
    }
    void matmul_forward(T* out, int ldo, const T* a, int lda, const T* w, int M, int Nout, int Kin, bool accumulate) {
        gpu::matmul_forward<T>(cublas, out, ldo, a, lda, w, M, Nout, Kin, accumulate);
    }
    void conv1d_forward(T* u, int ldu, const T* x, int ldx, const float* w, const float* b, int B, int Tn, int E, int K) {
        gpu::conv1d_forward<T>(u, ldu, x, ldx, w, b, offsets, B, Tn, E, K, stream);
    }
    void scan_forward(Strided<T> out, float* ckpt, const ScanInputs<T>& in, const ScanWeights<float>& weights, int B,
                      int Tn, int E, int N) {
        gpu::scan_forward<T>(out, ckpt, scan_scratch, in, weights,
                             {.offsets = offsets, .B = B, .Tn = Tn, .E = E, .N = N}, stream);
    }
    void pool_last(float* pooled, const float* x, const T* delta, int B, int D) {
        gpu::pool_last_forward<T>(pooled, x, delta, offsets, B, D, stream);
    }
    void head_forward(float* scores, const float* h, const float* w, const float* bias, int B, int D) {
        gpu::head_forward(scores, h, w, bias, B, D, stream);
    }

    void head_backward(float* dh, float* dw, float* dbias, const float* dscores, const float* h, const float* w, int B,
                       int D) {
        gpu::head_backward(dh, dw, dbias, dscores, h, w, B, D, stream);
    }
    void zero(float* p, size_t n) { CUDA_CHECK(cudaMemsetAsync(p, 0, n * sizeof(float), stream)); }
    void to_act(T* dst, const float* src, size_t n) { gpu::convert<T>(dst, src, n, stream); }
    template <class O>
    void rmsnorm_backward(float* dx, std::type_identity_t<O>* dx_act, float* dw, const O* dout, const float* x,
                          const float* rstd, const float* w, int rows, int D) {
        gpu::rmsnorm_backward<O>(dx, dx_act, dw, scratch, dout, x, rstd, w, rows, D, stream);
    }
    void pool_last_backward(float* dx, const float* dpooled, int B, int D) {
        gpu::pool_last_backward(dx, dpooled, offsets, B, D, stream);
    }
    void matmul_backward(T* da, int ldda, float* dw, const T* dout, int lddo, const T* a, int lda, const T* w, int M,
                         int Nout, int Kin, bool accumulate_da) {
        gpu::matmul_backward<T>(cublas, da, ldda, dw, dout, lddo, a, lda, w, M, Nout, Kin, accumulate_da);
    }
    void scan_backward(const ScanGrads<T, float>& grads, Strided<const T> dout, const float* ckpt,
                       const ScanInputs<T>& in, const ScanWeights<float>& weights, int B, int Tn, int E, int N) {
        gpu::scan_backward<T>(grads, scratch, dout, ckpt, in, weights,
                              {.offsets = offsets, .B = B, .Tn = Tn, .E = E, .N = N}, stream);
    }
    void conv1d_backward(T* dx, int lddx, float* dw, float* db, const T* du, int lddu, const T* x, int ldx,
                         const float* w, const float* b, int B, int Tn, int E, int K) {
        gpu::conv1d_backward<T>(dx, lddx, dw, db, scratch, du, lddu, x, ldx, w, b, offsets, B, Tn, E, K, stream);
    }
    void embedding_backward(float* dwte, float* dwme, const float* dx, int Tn, int D) {
        gpu::embedding_backward(dwte, dwme, emb_scratch, dx, tokens_host, match_host, Tn, D, stream);
    }
};

// The activation tables for batches of at most Tn tokens, Bn sequences: mamba.h's, plus what the
// CUDA kernels keep or need beyond them.
MambaActTables act_tables(const MambaConfig& c, int64_t Tn, int64_t Bn, bool training) {
    MambaActTables t = mamba_act_tables(c, Tn, Bn, training);
    t.res.add("scan_scratch", {(int64_t)gpu::scan_forward_scratch((int)Bn, (int)Tn, c.E, c.N)});
    t.res.add("loss", {1});
    if (training) {
        for (int l = 0; l < c.L; l++)
            t.res.add("layers." + std::to_string(l) + ".ckpt", {(int64_t)gpu::scan_checkpoint_size((int)Bn, (int)Tn, c.E, c.N)});
        const size_t scratch = std::max({gpu::rmsnorm_backward_scratch((int)Tn, c.D), gpu::conv1d_backward_scratch((int)Tn, c.E, c.K),
                                         gpu::scan_backward_scratch((int)Bn, (int)Tn, c.E, c.N)});
        t.res.add("scratch", {(int64_t)scratch});
        t.act.add("dx_act", {Tn, (int64_t)c.D});
    }
    return t;
}

TensorTable idx_table(int64_t Tn, int64_t Bn, bool training) {
    TensorTable t;
    t.add("tokens", {Tn});
    t.add("offsets", {Bn + 1});
    if (training) t.add("emb_scratch", {(int64_t)gpu::embedding_backward_scratch((int)Tn)});
    return t;
}

TensorTable match_table(int64_t Tn) {
    TensorTable t;
    t.add("match", {Tn});
    return t;
}

// The model on the device (see the header comment). Created once, never moved (the device tables point
// at the tensor tables beside them).
template <class T>
struct GpuMamba {
    MambaConfig c;
    bool training;
    int max_tokens, max_seqs, max_len;
    TensorTable ptable;
    MambaActTables atables;
    TensorTable itable, mtable;
    gpu::DeviceTable<float> params, grads, opt_m, opt_v;
    gpu::DeviceTable<T> params_act;  // bf16 only
    gpu::DeviceTable<float> res;
    gpu::DeviceTable<T> act;
    gpu::DeviceTable<int32_t> idx;
    gpu::DeviceTable<uint8_t> match;
    MambaWeights<float> w, g;
    MambaWeights<T> wa;
    MambaActs<T, float> a;
    float* loss;
    gpu::AdamWPlan plan;
    cublasHandle_t cublas;
    int B = 0, Tn = 0;  // the batch of the last forward

    GpuMamba(const Model& m, int max_tokens_, int max_seqs_, int max_len_)
        : c(mamba_config(m.cfg)), training(m.training()), max_tokens(max_tokens_), max_seqs(max_seqs_), max_len(max_len_),
          ptable(*m.ptable), atables(act_tables(c, max_tokens, max_seqs, training)),
          itable(idx_table(max_tokens, max_seqs, training)),
          mtable(match_table(max_tokens)), params(ptable), grads(optional(training)), opt_m(optional(training)),
          opt_v(optional(training)), params_act(std::is_same_v<T, float> ? gpu::DeviceTable<T>() : gpu::DeviceTable<T>(ptable)),
          res(atables.res), act(atables.act), idx(itable), match(mtable) {
        CUDA_CHECK(cudaMemcpy(params.data, m.params, ptable.total * sizeof(float), cudaMemcpyHostToDevice));
        if (training) {
            CUDA_CHECK(cudaMemcpy(opt_m.data, m.opt_m, ptable.total * sizeof(float), cudaMemcpyHostToDevice));
            CUDA_CHECK(cudaMemcpy(opt_v.data, m.opt_v, ptable.total * sizeof(float), cudaMemcpyHostToDevice));
        }
        w = mamba_weights_view(c, ptable, params.data);
        if (training) g = mamba_weights_view(c, ptable, grads.data);
        if constexpr (std::is_same_v<T, float>) {
            wa = w;
        } else {
            gpu::convert<T>(params_act.data, params.data, ptable.total, nullptr);
            wa = mamba_weights_view(c, ptable, params_act.data);
        }
        a = mamba_acts_view<T, float>(c, atables, res.data, act.data);
        loss = res.at("loss");
        plan = training ? gpu::adamw_plan(ptable) : gpu::AdamWPlan{};
        CUBLAS_CHECK(cublasCreate(&cublas));
    }
    // A table laid out as the parameters', allocated only when `needed` (no allocation otherwise).
    gpu::DeviceTable<float> optional(bool needed) const {
        return needed ? gpu::DeviceTable<float>(ptable) : gpu::DeviceTable<float>();
    }
    ~GpuMamba() {
        gpu::adamw_plan_free(plan);
        cublasDestroy(cublas);
    }
    GpuMamba(const GpuMamba&) = delete;
    GpuMamba& operator=(const GpuMamba&) = delete;

    // Copies the batch to the device and binds the policy to it.
    GpuOps<T> bind(const Batch& batch) {
        check_batch(batch, c.V, c.match, max_tokens, max_seqs, max_len);
        B = batch.B(), Tn = batch.T();
        int32_t* tokens = idx.at("tokens");
        int32_t* offsets = idx.at("offsets");
        uint8_t* flags = c.match ? match.at("match") : nullptr;
        CUDA_CHECK(cudaMemcpyAsync(tokens, batch.tokens.data(), Tn * sizeof(int32_t), cudaMemcpyHostToDevice, nullptr));
        CUDA_CHECK(cudaMemcpyAsync(offsets, batch.offsets.data(), (B + 1) * sizeof(int32_t), cudaMemcpyHostToDevice, nullptr));
        if (flags) CUDA_CHECK(cudaMemcpyAsync(flags, batch.match.data(), Tn, cudaMemcpyHostToDevice, nullptr));
        return GpuOps<T>{cublas,
                         nullptr,
                         tokens,
                         flags,
                         offsets,
                         batch.tokens.data(),
                         flags ? batch.match.data() : nullptr,
                         training ? res.at("scratch") : nullptr,
                         training ? idx.at("emb_scratch") : nullptr,
                         res.at("scan_scratch")};
    }

    void forward(const Batch& batch, float* scores_host) {
        GpuOps<T> ops = bind(batch);
        mamba_forward_pass(ops, c, w, wa, a, B, Tn);
        CUDA_CHECK(cudaMemcpy(scores_host, a.scores, B * sizeof(float), cudaMemcpyDeviceToHost));
    }

    double train_step(const AdamWConfig& oc, int64_t step, const Batch& batch, int G, double* grad_norm) {
        ENGINE_ASSERT(training);
        GpuOps<T> ops = bind(batch);
        CUDA_CHECK(cudaMemsetAsync(grads.data, 0, ptable.total * sizeof(float), nullptr));
        mamba_forward_pass(ops, c, w, wa, a, B, Tn);
        gpu::group_softmax_ce(loss, a.dscores, a.scores, B, G, nullptr);
        mamba_backward_pass(ops, c, w, wa, g, a, B, Tn);
        __nv_bfloat16* refresh = nullptr;
        if constexpr (!std::is_same_v<T, float>) refresh = params_act.data;
        gpu::adamw_step(oc, plan, params.data, refresh, grads.data, opt_m.data, opt_v.data, step, nullptr);
        float l = 0;
        CUDA_CHECK(cudaMemcpy(&l, loss, sizeof(float), cudaMemcpyDeviceToHost));
        if (grad_norm) *grad_norm = gpu::adamw_last_norm(plan);
        return l;
    }
};

// The model in either precision.
struct CudaMamba {
    std::unique_ptr<GpuMamba<float>> fp32;
    std::unique_ptr<GpuMamba<__nv_bfloat16>> bf16;
};

// Calls f with the model's GpuMamba, whichever its precision.
template <class F>
auto with_model(const void* g, F&& f) {
    const CudaMamba* cm = static_cast<const CudaMamba*>(g);
    return cm->fp32 ? f(*cm->fp32) : f(*cm->bf16);
}

std::string unsupported(const Model& m) {
    const MambaConfig c = mamba_config(m.cfg);
    if (c.K < 2 || c.K > 4) return strfmt("d_conv %d is not supported by the CUDA kernels (2..4)", c.K);
    if (c.N > 16) return strfmt("d_state %d is not supported by the CUDA kernels (at most 16)", c.N);
    return "";
}

void* create(const Model& m, bool bf16, int max_tokens, int max_seqs, int max_len) {
    CudaMamba* g = new CudaMamba;
    if (bf16) g->bf16 = std::make_unique<GpuMamba<__nv_bfloat16>>(m, max_tokens, max_seqs, max_len);
    else g->fp32 = std::make_unique<GpuMamba<float>>(m, max_tokens, max_seqs, max_len);
    return g;
}

void destroy(void* g) { delete static_cast<CudaMamba*>(g); }

void to_host(const void* g, Model& m) {
    with_model(g, [&](auto& gm) {
        ENGINE_ASSERT(m.ptable->total == gm.ptable.total);
        const size_t bytes = gm.ptable.total * sizeof(float);
        CUDA_CHECK(cudaMemcpy(m.params, gm.params.data, bytes, cudaMemcpyDeviceToHost));
        if (gm.training && m.opt_m) {
            CUDA_CHECK(cudaMemcpy(m.opt_m, gm.opt_m.data, bytes, cudaMemcpyDeviceToHost));
            CUDA_CHECK(cudaMemcpy(m.opt_v, gm.opt_v.data, bytes, cudaMemcpyDeviceToHost));
        }
    });
}

void grads(const void* g, float* out) {
    with_model(g, [&](auto& gm) {
        ENGINE_ASSERT(gm.training);
        CUDA_CHECK(cudaMemcpy(out, gm.grads.data, gm.ptable.total * sizeof(float), cudaMemcpyDeviceToHost));
    });
}

void forward(void* g, const Batch& batch, float* scores) {
    with_model(g, [&](auto& gm) { gm.forward(batch, scores); });
}

double train_step(void* g, const AdamWConfig& oc, int64_t step, const Batch& batch, int G, double* grad_norm) {
    return with_model(g, [&](auto& gm) { return gm.train_step(oc, step, batch, G, grad_norm); });
}

}  // namespace

const GpuFamily mamba_gpu = {Family::mamba, unsupported, create, destroy, to_host, grads, forward, train_step};
