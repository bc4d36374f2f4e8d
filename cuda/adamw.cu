// AdamW with global gradient-norm clipping on fp32 master weights, with the semantics of src/core/optim.cpp
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
// No argument may alias another (__restrict__).
// Thread mapping: the trained tensors are cut into pieces of ADAMW_PIECE = 16384 elements (a plan built
// once per table: device array of {offset, length, decay}); pass 1, one block of 256 threads per piece,
// writes the piece's sum of squares (double, block reduction); pass 2, one block of 1024 threads, sums
// the pieces in a fixed order into the norm and the clip scale, both kept on the device (no host
// synchronisation in a step); pass 3, one block of 256 per piece, updates p, m, v. Passes 1 and 3 move
// 4 elements per thread and step with 16-byte accesses (8-byte for the bf16 copy): every piece starts
// at a multiple of 16 elements (TensorTable's alignment, checked by adamw_plan), so 16-byte aligned
// bases suffice (else the launcher takes the one-element kernels); a piece's last length % 4 elements
// go one by one. Deterministic for a given table.
// Memory: pass 1 reads 4 bytes, pass 3 reads 16 and writes 12 (+2 for bf16) bytes per parameter;
// ~12 FLOPs per parameter.
//
// Static analysis at the benchmark's 130M parameters (7935 pieces; H200 132 SMs), from
// `nvcc -arch=sm_90 -Xptxas -v` and the SASS: pass 1: 32 registers, 64 warps per SM, the loop unrolled
// by 4 (four LDG.E.128 in flight per thread: 64 bytes, ~128 KB per SM); 520 MB: 121 us at 4.3 TB/s,
// expected ~85%. Pass 2: 8 loads per thread, one round trip (~2 us). Pass 3: 46 registers, 5 blocks (40
// warps) per SM, each thread's 4 LDG.E.128 (64 bytes) issued together: ~80 KB per SM; 3.9 GB: 0.9 ms,
// expected ~85% (the IEEE division and square root, ~30 instructions per parameter, are ~15% of the
// issue time, hidden).
#include <cmath>
#include <cstdint>
#include <vector>

#include <cub/cub.cuh>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int ADAMW_THREADS = 256;
constexpr int ADAMW_CLIP_THREADS = 1024;  // the one block summing the pieces' partials
constexpr int ADAMW_PIECE = 16384;

// Pass 1: partial[piece] = sum of g^2 over the piece, in double. VW = 4: 16-byte loads (every piece
// starts at a multiple of 16 elements of a 16-byte aligned allocation), the piece's last length % 4
// elements one by one.
template <int VW>
__global__ void __launch_bounds__(ADAMW_THREADS)
    grad_sq_kernel(double* __restrict__ partial, const float* __restrict__ grads, const AdamWPiece* __restrict__ pieces) {
    using BlockReduce = cub::BlockReduce<double, ADAMW_THREADS>;
    __shared__ typename BlockReduce::TempStorage temp;
    const AdamWPiece pc = pieces[blockIdx.x];
    const float* g = grads + pc.offset;  // [length]
    const int nv = pc.length / VW;
    double s = 0.0;
    for (int i = threadIdx.x; i < nv; i += ADAMW_THREADS) {
        float v[VW];
        load_vec(v, g + (size_t)i * VW);
        for (int k = 0; k < VW; k++) s += (double)v[k] * v[k];
    }
    for (int i = nv * VW + threadIdx.x; i < pc.length; i += ADAMW_THREADS) s += (double)g[i] * g[i];
    s = BlockReduce(temp).Sum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// Pass 2: norm_scale[0] = the gradient norm, norm_scale[1] = the clip scale (as a double; used as float).
__global__ void __launch_bounds__(ADAMW_CLIP_THREADS)
    clip_scale_kernel(double* __restrict__ norm_scale, const double* __restrict__ partial, int pieces, float clip) {
    using BlockReduce = cub::BlockReduce<double, ADAMW_CLIP_THREADS>;
    __shared__ typename BlockReduce::TempStorage temp;
    double s = 0.0;
    for (int p = threadIdx.x; p < pieces; p += ADAMW_CLIP_THREADS) s += partial[p];
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

// One parameter's update (the header's formulas).
struct AdamWScalars {
    float scale, d, b1, b2, eps, step_size, bc2_sqrt;
};
__device__ __forceinline__ void adamw_one(float& p, float& m, float& v, float g, const AdamWScalars& c) {
    g *= c.scale;
    p *= c.d;
    m = c.b1 * m + (1.0f - c.b1) * g;
    v = c.b2 * v + (1.0f - c.b2) * g * g;
    const float denom = sqrtf(v) / c.bc2_sqrt + c.eps;
    p -= c.step_size * m / denom;
}

// Pass 3: params, m, v (and params_bf16) updated over each piece, VW elements per thread and step
// (16-byte loads and stores when VW = 4, as in pass 1).
template <int VW>
__global__ void __launch_bounds__(ADAMW_THREADS)
    adamw_update_kernel(float* __restrict__ params, __nv_bfloat16* __restrict__ params_bf16,
                        const float* __restrict__ grads, float* __restrict__ m, float* __restrict__ v,
                        const AdamWPiece* __restrict__ pieces, const double* __restrict__ norm_scale, float decay,
                        float b1, float b2, float eps, float step_size, float bc2_sqrt) {
    const AdamWPiece pc = pieces[blockIdx.x];
    const AdamWScalars c{(float)norm_scale[1], pc.decay ? decay : 1.0f, b1, b2, eps, step_size, bc2_sqrt};
    const int nv = pc.length / VW;
    for (int i = threadIdx.x; i < nv; i += ADAMW_THREADS) {
        const size_t k = pc.offset + (size_t)i * VW;
        float g[VW], p[VW], mm[VW], vv[VW];
        load_vec(g, grads + k), load_vec(p, params + k), load_vec(mm, m + k), load_vec(vv, v + k);
        for (int j = 0; j < VW; j++) adamw_one(p[j], mm[j], vv[j], g[j], c);
        store_vec(params + k, p), store_vec(m + k, mm), store_vec(v + k, vv);
        if (params_bf16) store_vec(params_bf16 + k, p);
    }
    for (int i = nv * VW + threadIdx.x; i < pc.length; i += ADAMW_THREADS) {
        const size_t k = pc.offset + i;
        float p = params[k], mm = m[k], vv = v[k];
        adamw_one(p, mm, vv, grads[k], c);
        params[k] = p, m[k] = mm, v[k] = vv;
        if (params_bf16) params_bf16[k] = __float2bfloat16_rn(p);
    }
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

AdamWPlan adamw_plan(const TensorTable& table) {
    std::vector<AdamWPiece> pieces;
    for (size_t k = 0; k < table.specs.size(); k++) {
        if (!table.specs[k].trained) continue;
        const int64_t n = table.specs[k].numel();
        if (table.offsets[k] % 4 != 0) {  // TensorTable aligns every tensor to 16 elements
            std::fprintf(stderr, "error: adamw_plan: tensor %s is not 16-byte aligned\n", table.specs[k].name.c_str());
            std::exit(1);
        }
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
    // 16-byte accesses: the plan's pieces start at multiples of 16 elements (TensorTable offsets, and
    // multiples of ADAMW_PIECE inside a tensor), so aligned bases are enough.
    const bool vec = aligned(params, 16) && aligned(params_bf16, 8) && aligned(grads, 16) && aligned(m, 16) &&
                     aligned(v, 16);
    launch(vec ? grad_sq_kernel<4> : grad_sq_kernel<1>, dim3(plan.pieces), dim3(ADAMW_THREADS), 0, stream,
           plan.partial, grads, plan.piece_table);
    CUDA_CHECK_LAUNCH();
    launch(clip_scale_kernel, dim3(1), dim3(ADAMW_CLIP_THREADS), 0, stream, plan.norm_scale, plan.partial,
           plan.pieces, c.clip);
    CUDA_CHECK_LAUNCH();
    // The scalars, computed on the host exactly as src/core/optim.cpp does.
    const double lr = c.lr * lr_multiplier(c, step);
    const int t = (int)(step + 1);
    const float bc1 = 1.0f - (float)std::pow((double)c.beta1, t);
    const float bc2_sqrt = (float)std::sqrt(1.0 - std::pow((double)c.beta2, t));
    const float step_size = (float)(lr / bc1);
    const float decay = 1.0f - (float)(lr * c.weight_decay);
    launch(vec ? adamw_update_kernel<4> : adamw_update_kernel<1>, dim3(plan.pieces), dim3(ADAMW_THREADS), 0, stream,
           params, params_bf16, grads, m, v, plan.piece_table, plan.norm_scale, decay, c.beta1, c.beta2, c.eps,
           step_size, bc2_sqrt);
    CUDA_CHECK_LAUNCH();
}

double adamw_last_norm(const AdamWPlan& plan) {
    double norm = 0;
    if (plan.pieces) CUDA_CHECK(cudaMemcpy(&norm, plan.norm_scale, sizeof(double), cudaMemcpyDeviceToHost));
    return norm;
}

}  // namespace gpu
