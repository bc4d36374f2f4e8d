// AdamW with global gradient-norm clipping on fp32 master weights, with the semantics of src/optim.cpp
// (torch.optim.AdamW + clip_grad_norm_ + the LambdaLR schedule). Per element, at 1-based step t:
//
//   norm  = sqrt(sum over TRAINED tensors of g^2)                  (double accumulation, as the CPU)
//   scale = min(1, clip / (norm + 1e-6))      (clip <= 0: 1)
//   g     = g * scale;   p *= 1 - lr wd      (only tensors whose TensorSpec::decay is set)
//   m     = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p    -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   p_T   = bf16(p)                          (optional: the working copy the bf16 kernels read)
//
// Shapes: params, grads, m, v: the parameter table's one allocation each (table.total fp32 elements,
// laid out by the TensorTable); params_bf16 the same layout in bf16 (or nullptr). Tensors with
// trained = false are neither counted in the norm nor updated.
// Thread mapping: the trained tensors are cut into pieces of ADAMW_PIECE elements (a plan built once
// per table: device array of {offset, length, decay}); pass 1, one block per piece, writes the piece's
// sum of squares (double, block reduction); pass 2, one block, sums the pieces in a fixed order into
// the norm and the clip scale, both kept on the device (no host synchronisation in a step); pass 3,
// one block per piece, updates p, m, v. Deterministic for a given table.
// Memory: pass 1 reads 4 bytes, pass 3 reads 16 and writes 12 (+2 for bf16) bytes per parameter;
// ~12 FLOPs per parameter.
#include <cmath>
#include <vector>

#include <cub/cub.cuh>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int ADAMW_THREADS = 256;
constexpr int ADAMW_PIECE = 16384;

__global__ void grad_sq_kernel(double* partial, const float* grads, const AdamWPiece* pieces) {
    using BlockReduce = cub::BlockReduce<double, ADAMW_THREADS>;
    __shared__ typename BlockReduce::TempStorage temp;
    const AdamWPiece pc = pieces[blockIdx.x];
    double s = 0.0;
    for (int i = threadIdx.x; i < pc.length; i += ADAMW_THREADS) {
        const double g = grads[pc.offset + i];
        s += g * g;
    }
    s = BlockReduce(temp).Sum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// norm_scale[0] = the gradient norm, norm_scale[1] = the clip scale (as a double; used as float).
__global__ void clip_scale_kernel(double* norm_scale, const double* partial, int pieces, float clip) {
    using BlockReduce = cub::BlockReduce<double, ADAMW_THREADS>;
    __shared__ typename BlockReduce::TempStorage temp;
    double s = 0.0;
    for (int p = threadIdx.x; p < pieces; p += ADAMW_THREADS) s += partial[p];
    s = BlockReduce(temp).Sum(s);
    if (threadIdx.x == 0) {
        const double norm = sqrt(s);
        double scale = 1.0;
        if (clip > 0.0f) {
            const double coef = (double)clip / (norm + 1e-6);
            if (coef < 1.0) scale = coef;
        }
        norm_scale[0] = norm;
        norm_scale[1] = scale;
    }
}

__global__ void adamw_update_kernel(float* params, __nv_bfloat16* params_bf16, const float* grads, float* m,
                                    float* v, const AdamWPiece* pieces, const double* norm_scale, float decay,
                                    float b1, float b2, float eps, float step_size, float bc2_sqrt) {
    const AdamWPiece pc = pieces[blockIdx.x];
    const float scale = (float)norm_scale[1];
    const float d = pc.decay ? decay : 1.0f;
    for (int i = threadIdx.x; i < pc.length; i += ADAMW_THREADS) {
        const size_t k = pc.offset + i;
        const float g = grads[k] * scale;
        float p = params[k] * d;
        const float mm = b1 * m[k] + (1.0f - b1) * g;
        const float vv = b2 * v[k] + (1.0f - b2) * g * g;
        m[k] = mm;
        v[k] = vv;
        const float denom = sqrtf(vv) / bc2_sqrt + eps;
        p -= step_size * mm / denom;
        params[k] = p;
        if (params_bf16) params_bf16[k] = __float2bfloat16_rn(p);
    }
}

}  // namespace

AdamWPlan adamw_plan(const TensorTable& table) {
    std::vector<AdamWPiece> pieces;
    for (size_t k = 0; k < table.specs.size(); k++) {
        if (!table.specs[k].trained) continue;
        const int64_t n = table.specs[k].numel();
        for (int64_t i = 0; i < n; i += ADAMW_PIECE)
            pieces.push_back(AdamWPiece{(uint64_t)(table.offsets[k] + i), (int32_t)std::min<int64_t>(ADAMW_PIECE, n - i),
                                        table.specs[k].decay ? 1 : 0});
    }
    AdamWPlan plan;
    plan.pieces = (int)pieces.size();
    CUDA_CHECK(cudaMalloc(&plan.piece_table, std::max<size_t>(1, pieces.size()) * sizeof(AdamWPiece)));
    CUDA_CHECK(cudaMemcpy(plan.piece_table, pieces.data(), pieces.size() * sizeof(AdamWPiece), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMalloc(&plan.partial, (pieces.size() + 2) * sizeof(double)));
    plan.norm_scale = plan.partial + pieces.size();
    return plan;
}

void adamw_plan_free(AdamWPlan& plan) {
    if (plan.piece_table) CUDA_CHECK(cudaFree(plan.piece_table));
    if (plan.partial) CUDA_CHECK(cudaFree(plan.partial));
    plan = AdamWPlan{};
}

void adamw_step(const AdamWConfig& c, const AdamWPlan& plan, float* params, __nv_bfloat16* params_bf16,
                const float* grads, float* m, float* v, int64_t step, cudaStream_t stream) {
    if (plan.pieces == 0) return;
    launch(grad_sq_kernel, dim3(plan.pieces), dim3(ADAMW_THREADS), 0, stream, plan.partial, grads, plan.piece_table);
    CUDA_CHECK_LAUNCH();
    launch(clip_scale_kernel, dim3(1), dim3(ADAMW_THREADS), 0, stream, plan.norm_scale, plan.partial, plan.pieces,
           c.clip);
    CUDA_CHECK_LAUNCH();
    // The scalars, computed on the host exactly as src/optim.cpp does.
    const double lr = c.lr * lr_multiplier(c, step);
    const int t = (int)(step + 1);
    const float bc1 = 1.0f - (float)std::pow((double)c.beta1, t);
    const float bc2_sqrt = (float)std::sqrt(1.0 - std::pow((double)c.beta2, t));
    const float step_size = (float)(lr / bc1);
    const float decay = 1.0f - (float)(lr * c.weight_decay);
    launch(adamw_update_kernel, dim3(plan.pieces), dim3(ADAMW_THREADS), 0, stream, params, params_bf16, grads, m, v,
           plan.piece_table, plan.norm_scale, decay, c.beta1, c.beta2, c.eps, step_size, bc2_sqrt);
    CUDA_CHECK_LAUNCH();
}

double adamw_last_norm(const AdamWPlan& plan) {
    double norm = 0;
    if (plan.pieces) CUDA_CHECK(cudaMemcpy(&norm, plan.norm_scale, sizeof(double), cudaMemcpyDeviceToHost));
    return norm;
}

}  // namespace gpu
