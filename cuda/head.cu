// The scoring end: last-token pooling (with the last block's residual add), the linear head, and the
// group softmax cross-entropy (CPU reference: src/cpu/head.cpp; localized contrastive estimation).
//
//   pooled[b, :] = x[last_b, :] (+ delta[last_b, :])     last_b = offsets[b+1] - 1, the sequence's EOS
//   score[b]     = h[b, :] . w + bias                     h = final RMSNorm of pooled (rmsnorm.cu)
//   loss         = 1/(B/G) sum_groups ( logsumexp(score[g*G .. g*G+G-1]) - score[g*G] )
//
// Shapes: x [T, D] fp32 (the residual stream before the last block's add), delta [T, D] of type T
// (the last block's out_proj output; nullptr: none), pooled, h [B, D] fp32; w [D] (score.weight
// [1, D]), bias [1], scores [B], dscores [B], loss [1] fp32. Only B rows: everything here is tiny.
//
// Backward:
//   dscore[b] = (softmax_g(score)[b] - [b is its group's first]) / (B/G)              (WRITTEN)
//   dh[b, :]  = dscore[b] * w (WRITTEN);  dw += sum_b dscore[b] h[b, :];  dbias += sum_b dscore[b]
//   dx[last_b, :] += dpooled[b, :]  (ACCUMULATED into the residual gradient)
// Thread mapping: pooling, head backward: one thread per (b, column) or per column walking b in order
// (deterministic dw); head forward: one block per b with a block reduction; the loss: one block, one
// thread per group, then a block reduction of the group losses (fixed order for a fixed block size).
// Memory: O(B*D) bytes; nothing here is worth a benchmark. Static analysis (B 16..64, D 768): every
// kernel is a few blocks and one or two dependent round trips, ~2-3 us each, launch-bound. Head
// backward (a thread per column, walking b in order: deterministic dw) unrolls the sum's loads by 8 and
// stores dh after the sum (__restrict__: no aliasing): B/8 dependent round trips.
#include <cub/cub.cuh>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int HEAD_THREADS = 256;

template <class T>
__global__ void pool_last_kernel(float* pooled, const float* x, const T* delta, const int32_t* offsets, int D) {
    const int b = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= D) return;
    const size_t src = (size_t)(offsets[b + 1] - 1) * D + c;
    pooled[(size_t)b * D + c] = x[src] + (delta ? to_float(delta[src]) : 0.0f);
}

__global__ void pool_last_backward_kernel(float* dx, const float* dpooled, const int32_t* offsets, int D) {
    const int b = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= D) return;
    dx[(size_t)(offsets[b + 1] - 1) * D + c] += dpooled[(size_t)b * D + c];
}

// scores [B]: block b reduces h[b, :] . w.
__global__ void head_forward_kernel(float* scores, const float* h, const float* w, const float* bias, int D) {
    using BlockReduce = cub::BlockReduce<float, HEAD_THREADS>;
    __shared__ typename BlockReduce::TempStorage temp;
    const int b = blockIdx.x;
    float s = 0.0f;
    for (int c = threadIdx.x; c < D; c += HEAD_THREADS) s += h[(size_t)b * D + c] * w[c];
    s = BlockReduce(temp).Sum(s);
    if (threadIdx.x == 0) scores[b] = s + bias[0];
}

// dh [B, D] = dscores x w; dw [D] += column sums over b in order; dbias += sum_b dscores (thread 0 of block 0).
// The sum's loads come first (independent: unrolled, several in flight), the dh stores after.
__global__ void head_backward_kernel(float* __restrict__ dh, float* __restrict__ dw, float* __restrict__ dbias,
                                     const float* __restrict__ dscores, const float* __restrict__ h,
                                     const float* __restrict__ w, int B, int D) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c == 0 && dbias) {
        float s = 0.0f;
        UNROLL(8)
        for (int b = 0; b < B; b++) s += dscores[b];
        dbias[0] += s;
    }
    if (c >= D) return;
    float s = 0.0f;
    UNROLL(8)
    for (int b = 0; b < B; b++) s += dscores[b] * h[(size_t)b * D + c];
    dw[c] += s;
    const float wc = w[c];
    for (int b = 0; b < B; b++) dh[(size_t)b * D + c] = dscores[b] * wc;
}

// loss [1] = mean over groups; dscores [B] written. One block; thread j handles groups j, j + 256, ...
__global__ void group_softmax_ce_kernel(float* loss, float* dscores, const float* scores, int B, int G) {
    using BlockReduce = cub::BlockReduce<float, HEAD_THREADS>;
    __shared__ typename BlockReduce::TempStorage temp;
    const int groups = B / G;
    float total = 0.0f;
    for (int g = threadIdx.x; g < groups; g += HEAD_THREADS) {
        const float* s = scores + (size_t)g * G;  // [G]
        float mx = s[0];
        for (int j = 1; j < G; j++) mx = fmaxf(mx, s[j]);
        float sum = 0.0f;
        for (int j = 0; j < G; j++) sum += expf(s[j] - mx);
        total += logf(sum) + mx - s[0];
        if (dscores)
            for (int j = 0; j < G; j++)
                dscores[(size_t)g * G + j] = (expf(s[j] - mx) / sum - (j == 0 ? 1.0f : 0.0f)) / (float)groups;
    }
    total = BlockReduce(temp).Sum(total);
    if (threadIdx.x == 0) loss[0] = total / (float)groups;
}

}  // namespace

template <class T>
void pool_last_forward(float* pooled, const float* x, const T* delta, const int32_t* offsets, int B, int D,
                       cudaStream_t stream) {
    launch(pool_last_kernel<T>, dim3(B, ceil_div(D, HEAD_THREADS)), dim3(HEAD_THREADS), 0, stream, pooled, x, delta,
           offsets, D);
    CUDA_CHECK_LAUNCH();
}

void pool_last_backward(float* dx, const float* dpooled, const int32_t* offsets, int B, int D, cudaStream_t stream) {
    launch(pool_last_backward_kernel, dim3(B, ceil_div(D, HEAD_THREADS)), dim3(HEAD_THREADS), 0, stream, dx,
           dpooled, offsets, D);
    CUDA_CHECK_LAUNCH();
}

void head_forward(float* scores, const float* h, const float* w, const float* bias, int B, int D,
                  cudaStream_t stream) {
    launch(head_forward_kernel, dim3(B), dim3(HEAD_THREADS), 0, stream, scores, h, w, bias, D);
    CUDA_CHECK_LAUNCH();
}

void head_backward(float* dh, float* dw, float* dbias, const float* dscores, const float* h, const float* w, int B,
                   int D, cudaStream_t stream) {
    launch(head_backward_kernel, dim3(ceil_div(D, HEAD_THREADS)), dim3(HEAD_THREADS), 0, stream, dh, dw, dbias,
           dscores, h, w, B, D);
    CUDA_CHECK_LAUNCH();
}

void group_softmax_ce(float* loss, float* dscores, const float* scores, int B, int G, cudaStream_t stream) {
    launch(group_softmax_ce_kernel, dim3(1), dim3(HEAD_THREADS), 0, stream, loss, dscores, scores, B, G);
    CUDA_CHECK_LAUNCH();
}

template void pool_last_forward<float>(float*, const float*, const float*, const int32_t*, int, int, cudaStream_t);
template void pool_last_forward<__nv_bfloat16>(float*, const float*, const __nv_bfloat16*, const int32_t*, int, int,
                                               cudaStream_t);

}  // namespace gpu
