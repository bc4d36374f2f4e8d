// Token embedding, plus the optional exact-match flag embedding (CPU reference: src/cpu/embedding.cpp).
//
//   x[t, :] = wte[tokens[t], :] + (wme ? wme[match[t], :] : 0)        (fp32: x is the residual stream)
//
// Shapes: tokens [T] int32, match [T] uint8 in {0, 1} (nullptr: the model has no match feature),
// wte [V, D] and wme [2, D] of the working type T (bf16 or fp32), x [T, D] fp32.
//
// Forward: one thread per 4 consecutive columns of one token (grid (T, ceil(D/4 / 128)), block 128);
// the row of wte is read once and x written once. Memory: T*D*(sizeof(T) [+ sizeof(T) for wme] + 4)
// bytes, no FLOPs worth counting (one add per element with wme).
//
// Backward: dwte[tokens[t], :] += dx[t, :] and dwme[match[t], :] += dx[t, :] (ACCUMULATED, fp32).
// Rows repeat, and float addition is not associative, so the order of the sum over t must be fixed.
// The host sorts the positions by token id (stable, so each bucket lists its positions in increasing
// t) before the launch; then one thread per (bucket, column) starts from dwte[id, c] and adds dx[t, c]
// for the bucket's positions in order: no atomics, the same sum in the same order as the CPU backend,
// whatever the grid. The match flag has two buckets (0 and 1) of up to T positions each. Memory: reads
// T*D*4 bytes of dx (twice with wme), reads and writes U*D*4 bytes of dwte (U distinct tokens).
// Why not a device sort: the token ids are on the host anyway (the batch is built there), and the
// counting sort of T <= 8192 ids costs microseconds; the bucket table is one small copy.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int EMB_THREADS = 128;

// x: [T, D] fp32 = wte[tokens] (+ wme[match]). Block (t = blockIdx.x, column block blockIdx.y).
template <class T>
__global__ void embedding_forward_kernel(float* x, const int32_t* tokens, const uint8_t* match, const T* wte,
                                         const T* wme, int D) {
    const int t = blockIdx.x;
    const int c0 = (blockIdx.y * blockDim.x + threadIdx.x) * 4;
    if (c0 >= D) return;
    const T* row = wte + (size_t)tokens[t] * D;         // [D]
    const T* mrow = wme ? wme + (size_t)match[t] * D : nullptr;  // [D]
    float* out = x + (size_t)t * D;                     // [D]
    const int c1 = min(c0 + 4, D);
    for (int c = c0; c < c1; c++) out[c] = to_float(row[c]) + (mrow ? to_float(mrow[c]) : 0.0f);
}

// table[ids[k], c] += sum over positions[starts[k] .. starts[k+1]) of dx[p, c], in that order.
// table: [rows, D] fp32; positions: [T]; starts: [U+1]; ids: [U]; dx: [T, D]. Grid (U, ceil(D/128)).
__global__ void embedding_backward_kernel(float* table, const int32_t* positions, const int32_t* starts,
                                          const int32_t* ids, const float* dx, int D) {
    const int k = blockIdx.x;
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= D) return;
    float* dst = table + (size_t)ids[k] * D + c;
    float acc = *dst;
    for (int i = starts[k]; i < starts[k + 1]; i++) acc += dx[(size_t)positions[i] * D + c];
    *dst = acc;
}

// Stable counting sort of positions 0..T-1 by key into out: positions [T], starts [U+1], ids [U];
// returns U (the number of distinct keys present).
int bucket_by_key(int32_t* positions, std::vector<int32_t>& starts, std::vector<int32_t>& ids,
                  const std::vector<int32_t>& keys) {
    const int Tn = (int)keys.size();
    static thread_local std::vector<int32_t> order;
    order.resize(Tn);
    for (int t = 0; t < Tn; t++) order[t] = t;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return keys[a] < keys[b]; });
    starts.clear();
    ids.clear();
    for (int i = 0; i < Tn; i++) {
        positions[i] = order[i];
        if (i == 0 || keys[order[i]] != keys[order[i - 1]]) {
            starts.push_back(i);
            ids.push_back(keys[order[i]]);
        }
    }
    starts.push_back(Tn);
    return (int)ids.size();
}

}  // namespace

size_t embedding_backward_scratch(int Tn) { return 4 * (size_t)Tn + 8; }

template <class T>
void embedding_forward(float* x, const int32_t* tokens, const uint8_t* match, const T* wte, const T* wme, int Tn,
                       int D, cudaStream_t stream) {
    if (Tn == 0) return;
    dim3 grid(Tn, ceil_div(ceil_div(D, 4), EMB_THREADS));
    launch(embedding_forward_kernel<T>, grid, dim3(EMB_THREADS), 0, stream, x, tokens, match, wte, wme, D);
    CUDA_CHECK_LAUNCH();
}

void embedding_backward(float* dwte, float* dwme, int32_t* scratch, const float* dx, const int32_t* tokens_host,
                        const uint8_t* match_host, int Tn, int D, cudaStream_t stream) {
    if (Tn == 0) return;
    // Host: the bucket tables, laid out in one staging array and copied in one call:
    // [positions by token: T][starts: U+1][ids: U] then, with wme, [positions by flag: T][starts][ids].
    // The host arrays are kept between calls (no allocation once they reach the largest batch). The copy
    // is from pageable memory, so it waits for the stream's earlier work to reach it: call this where
    // that is acceptable (at the end of a backward pass, it is).
    static thread_local std::vector<int32_t> stage, starts, ids, keys;
    stage.resize(embedding_backward_scratch(Tn));
    keys.assign(tokens_host, tokens_host + Tn);
    const int U = bucket_by_key(stage.data(), starts, ids, keys);
    size_t at = Tn;
    const size_t starts_at = at;
    std::memcpy(stage.data() + at, starts.data(), starts.size() * 4), at += starts.size();
    const size_t ids_at = at;
    std::memcpy(stage.data() + at, ids.data(), ids.size() * 4), at += ids.size();
    int Um = 0;
    size_t mpos_at = 0, mstarts_at = 0, mids_at = 0;
    if (dwme) {
        for (int t = 0; t < Tn; t++) keys[t] = match_host[t];
        mpos_at = at;
        Um = bucket_by_key(stage.data() + at, starts, ids, keys), at += Tn;
        mstarts_at = at;
        std::memcpy(stage.data() + at, starts.data(), starts.size() * 4), at += starts.size();
        mids_at = at;
        std::memcpy(stage.data() + at, ids.data(), ids.size() * 4), at += ids.size();
    }
    CUDA_CHECK(cudaMemcpyAsync(scratch, stage.data(), at * 4, cudaMemcpyHostToDevice, stream));
    dim3 grid(U, ceil_div(D, EMB_THREADS));
    launch(embedding_backward_kernel, grid, dim3(EMB_THREADS), 0, stream, dwte, scratch, scratch + starts_at,
           scratch + ids_at, dx, D);
    CUDA_CHECK_LAUNCH();
    if (dwme) {
        launch(embedding_backward_kernel, dim3(Um, ceil_div(D, EMB_THREADS)), dim3(EMB_THREADS), 0, stream, dwme,
               scratch + mpos_at, scratch + mstarts_at, scratch + mids_at, dx, D);
        CUDA_CHECK_LAUNCH();
    }
}

template void embedding_forward<float>(float*, const int32_t*, const uint8_t*, const float*, const float*, int, int,
                                       cudaStream_t);
template void embedding_forward<__nv_bfloat16>(float*, const int32_t*, const uint8_t*, const __nv_bfloat16*,
                                               const __nv_bfloat16*, int, int, cudaStream_t);

}  // namespace gpu
