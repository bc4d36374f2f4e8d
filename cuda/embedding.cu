// Token embedding, plus the optional exact-match flag embedding (CPU reference: src/cpu/embedding.cpp).
//
//   x[t, :] = wte[tokens[t], :] + (wme ? wme[match[t], :] : 0)        (fp32: x is the residual stream)
//
// Shapes: tokens [T] int32, match [T] uint8 in {0, 1} (nullptr: the model has no match feature),
// wte [V, D] and wme [2, D] of the working type T (bf16 or fp32), x [T, D] fp32.
//
// Forward: one thread per chunk of VW columns of one token (VW = 16 bytes of T: 8 bf16 or 4 fp32
// columns, when D is a multiple and the rows aligned; else 1), the chunks of all tokens numbered in
// row-major order, 256-thread blocks; a thread loads tokens[t] and match[t] first, then the row chunks
// (16-byte loads), and writes 16 or 32 bytes of x. Memory: T*D*(sizeof(T) [+ sizeof(T) for wme, from
// L2: wme is 2 rows] + 4) bytes, no FLOPs worth counting (one add per element with wme).
//
// Backward: dwte[tokens[t], :] += dx[t, :] and dwme[match[t], :] += dx[t, :] (ACCUMULATED, fp32).
// Rows repeat, and float addition is not associative, so the order of the sum over t must be fixed.
// The host sorts the positions by token id (a stable radix sort, so each bucket lists its positions in
// increasing t) before the launch. Buckets of up to EMB_LONG = 64 positions: one thread per (bucket,
// 4 columns) starts from dwte[id, c] and adds dx[t, c] for the bucket's positions in order (loads
// unrolled by 4): no atomics, the same sum in the same order as the CPU backend, bit for bit. Longer
// buckets (frequent tokens, and the match flag's two buckets of ~T/2 positions each) would make one
// thread walk hundreds or thousands of rows in a dependent chain; they take a second kernel: a block of
// 1024 threads per (bucket, 32 columns), 128 row lanes each summing every 128th position in order,
// then a fixed tree in shared memory: deterministic, in an order fixed by the bucket's length. Memory:
// reads T*D*4 bytes of dx (twice with wme), reads and writes U*D*4 bytes of dwte (U distinct tokens).
// Why not a device sort: the token ids are on the host anyway (the batch is built there), and the
// radix sort of T = 8192 ids costs ~45 us on the 2-core development machine (std::stable_sort: ~0.5 ms),
// overlapping the GPU's earlier backward work in a training step; the bucket table is one small copy.
//
// Static analysis at the benchmark shape (T 8192, D 768, V 50280 random ids, bf16; H200 132 SMs):
//   forward: 28 registers: 64 warps per SM; 3072 blocks of 8 warps (2.9 waves), each thread one 16-byte
//     wte load after its token id (two dependent round trips) and two 16-byte stores: ~32 KB of reads in
//     flight per SM for reads that are a third of the traffic. 37.7 MB: 8.8 us at 4.3 TB/s; expected
//     ~80%.
//   backward: 32 registers; U ~7600 blocks of 192 threads (one per bucket, 5.7 waves at 60 warps per
//     SM), three dependent round trips per thread (bucket bounds and id; positions and the dwte row; dx
//     rows), 16-byte accesses: ~30 KB in flight per SM per round trip. 25 MB of dx + 2 x 23 MB of dwte rows:
//     17 us at 4.3 TB/s; expected ~70% (latency-bound: each block moves only 2-3 KB). The match flags'
//     two buckets (~4096 positions each) take the long-bucket kernel: 48 blocks of 1024 threads, 4
//     round trips.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int EMB_THREADS = 256;        // forward block
constexpr int EMB_BWD_THREADS = 256;    // backward block, at most (a row's chunks rounded up to a warp)
constexpr int EMB_LONG = 64;            // buckets with more positions than this take the parallel kernel
constexpr int EMB_LONG_THREADS = 1024;  // its block: 32 columns x row lanes

// x: [T, D] fp32 = wte[tokens] (+ wme[match]). One thread per chunk of VW columns of one token, the
// chunks of all tokens numbered in row-major order (VW divides D).
template <class T, int VW>
__global__ void __launch_bounds__(EMB_THREADS)
    embedding_forward_kernel(float* __restrict__ x, const int32_t* __restrict__ tokens,
                             const uint8_t* __restrict__ match, const T* __restrict__ wte, const T* __restrict__ wme,
                             int Tn, int D) {
    const int chunks = D / VW;
    const size_t i = (size_t)blockIdx.x * EMB_THREADS + threadIdx.x;
    if (i >= (size_t)Tn * chunks) return;
    const int t = (int)(i / chunks), c = (int)(i % chunks) * VW;
    const int id = tokens[t], flag = wme ? match[t] : 0;  // both index loads before either row load
    float v[VW];
    load_vec(v, wte + (size_t)id * D + c);
    if (wme) {
        float m[VW];
        load_vec(m, wme + (size_t)flag * D + c);
        for (int k = 0; k < VW; k++) v[k] += m[k];
    }
    store_vec(x + (size_t)t * D + c, v);
}

// table[ids[k], c] += sum over positions[starts[k] .. starts[k+1]) of dx[p, c], in that order.
// table: [rows, D] fp32; positions: [T]; starts: [U+1]; ids: [U]; dx: [T, D]. Block k of grid.x: bucket
// k; a thread owns VW columns (VW divides D).
template <int VW>
__global__ void __launch_bounds__(EMB_BWD_THREADS)
    embedding_backward_kernel(float* __restrict__ table, const int32_t* __restrict__ positions,
                              const int32_t* __restrict__ starts, const int32_t* __restrict__ ids,
                              const float* __restrict__ dx, int D) {
    const int k = blockIdx.x;
    const int c = (blockIdx.y * blockDim.x + threadIdx.x) * VW;
    const int i0 = starts[k], i1 = starts[k + 1];
    if (c >= D || i1 - i0 > EMB_LONG) return;  // long buckets: embedding_backward_long_kernel
    float* dst = table + (size_t)ids[k] * D + c;
    float acc[VW];
    load_vec(acc, dst);
    UNROLL(4)
    for (int i = i0; i < i1; i++) {  // loads independent: several in flight; adds in position order
        float g[VW];
        load_vec(g, dx + (size_t)positions[i] * D + c);
        for (int j = 0; j < VW; j++) acc[j] += g[j];
    }
    store_vec(dst, acc);
}

// The same for the buckets longer than EMB_LONG (k = long_list[blockIdx.x]): a block covers 32 columns
// (32 / VW threads across) with R = 1024 / (32 / VW) row lanes; lane r sums the bucket's positions r,
// r + R, ... in order, the lanes' sums are added by a fixed tree in shared memory, and the total is
// added to table[ids[k], c]: deterministic (an order fixed by the bucket's length), not the CPU's.
template <int VW>
__global__ void __launch_bounds__(EMB_LONG_THREADS)
    embedding_backward_long_kernel(float* __restrict__ table, const int32_t* __restrict__ positions,
                                   const int32_t* __restrict__ starts, const int32_t* __restrict__ ids,
                                   const int32_t* __restrict__ long_list, const float* __restrict__ dx, int D) {
    constexpr int CX = 32 / VW, R = EMB_LONG_THREADS / CX;
    __shared__ float sums[R][32 + 1];  // [row lane][column in the block's 32]
    const int k = long_list[blockIdx.x];
    const int cx = threadIdx.x % CX, r = threadIdx.x / CX;
    const int c = blockIdx.y * 32 + cx * VW;
    const int i0 = starts[k], i1 = starts[k + 1];
    float s[VW];
    for (int j = 0; j < VW; j++) s[j] = 0.0f;
    if (c < D) {
        UNROLL(8)
        for (int i = i0 + r; i < i1; i += R) {
            float g[VW];
            load_vec(g, dx + (size_t)positions[i] * D + c);
            for (int j = 0; j < VW; j++) s[j] += g[j];
        }
    }
    for (int j = 0; j < VW; j++) sums[r][cx * VW + j] = s[j];
    for (int h = R / 2; h > 0; h /= 2) {
        __syncthreads();
        if (r < h)
            for (int j = 0; j < VW; j++) sums[r][cx * VW + j] += sums[r + h][cx * VW + j];
    }
    if (r == 0 && c < D) {  // sums[0] was last written by this thread
        float* dst = table + (size_t)ids[k] * D + c;
        float acc[VW];
        load_vec(acc, dst);
        for (int j = 0; j < VW; j++) acc[j] += sums[0][cx * VW + j];
        store_vec(dst, acc);
    }
}

// Stable sort of positions 0..T-1 by key into out: positions [T], starts [U+1], ids [U]; returns U (the
// number of distinct keys present). LSD radix sort, 11-bit digits, as many passes as the largest key
// needs (2 for a 50k vocabulary): stable, so each bucket lists its positions in increasing t.
// (8192 ids on the 2-core development machine: ~45 us; std::stable_sort: ~0.5 ms.)
int bucket_by_key(int32_t* positions, std::vector<int32_t>& starts, std::vector<int32_t>& ids,
                  const std::vector<int32_t>& keys) {
    constexpr int BITS = 11, RADIX = 1 << BITS;
    const int Tn = (int)keys.size();
    static thread_local std::vector<int32_t> tmp, count;
    tmp.resize(Tn);
    uint32_t max_key = 0;
    for (int t = 0; t < Tn; t++) max_key = std::max(max_key, (uint32_t)keys[t]);
    int32_t *src = positions, *dst = tmp.data();
    for (int t = 0; t < Tn; t++) src[t] = t;
    for (int shift = 0; shift == 0 || (shift < 32 && (max_key >> shift) != 0); shift += BITS) {
        count.assign(RADIX + 1, 0);
        for (int i = 0; i < Tn; i++) count[(((uint32_t)keys[src[i]] >> shift) & (RADIX - 1)) + 1]++;
        for (int d = 0; d < RADIX; d++) count[d + 1] += count[d];
        for (int i = 0; i < Tn; i++) dst[count[((uint32_t)keys[src[i]] >> shift) & (RADIX - 1)]++] = src[i];
        std::swap(src, dst);
    }
    if (src != positions) std::memcpy(positions, src, (size_t)Tn * sizeof(int32_t));
    starts.clear();
    ids.clear();
    for (int i = 0; i < Tn; i++) {
        if (i == 0 || keys[positions[i]] != keys[positions[i - 1]]) {
            starts.push_back(i);
            ids.push_back(keys[positions[i]]);
        }
    }
    starts.push_back(Tn);
    return (int)ids.size();
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

size_t embedding_backward_scratch(int Tn) { return 4 * (size_t)Tn + 8; }

template <class T>
void embedding_forward(float* x, const int32_t* tokens, const uint8_t* match, const T* wte, const T* wme, int Tn,
                       int D, cudaStream_t stream) {
    if (Tn == 0) return;
    // 16-byte chunks (8 bf16 or 4 fp32 columns) when D allows and the rows are aligned, else columns.
    constexpr int VW = 16 / sizeof(T);
    const bool vec = D % VW == 0 && aligned(x, 16) && aligned(wte, 16) && aligned(wme, 16);
    auto kernel = vec ? embedding_forward_kernel<T, VW> : embedding_forward_kernel<T, 1>;
    const long n = (long)Tn * (vec ? D / VW : D);
    launch(kernel, dim3(ceil_div(n, EMB_THREADS)), dim3(EMB_THREADS), 0, stream, x, tokens, match, wte, wme, Tn, D);
    CUDA_CHECK_LAUNCH();
}

void embedding_backward(float* dwte, float* dwme, int32_t* scratch, const float* dx, const int32_t* tokens_host,
                        const uint8_t* match_host, int Tn, int D, cudaStream_t stream) {
    if (Tn == 0) return;
    // Host: the bucket tables, laid out in one staging array and copied in one call:
    // [positions by token: T][starts: U+1][ids: U][long buckets: Ul] then, with wme, the same by flag.
    // A long bucket has more than EMB_LONG positions, so U + Ul <= T and everything fits in 4T + 8.
    // The host arrays are kept between calls (no allocation once they reach the largest batch). The copy
    // is from pageable memory, so it waits for the stream's earlier work to reach it: call this where
    // that is acceptable (at the end of a backward pass, it is).
    static thread_local std::vector<int32_t> stage, starts, ids, keys;
    stage.resize(embedding_backward_scratch(Tn));
    struct Table {
        size_t pos, starts, ids, longs;
        int U, Ul;
    };
    size_t at = 0;
    auto add_table = [&]() {  // bucket `keys` into the stage at `at`
        Table tb;
        tb.pos = at;
        tb.U = bucket_by_key(stage.data() + at, starts, ids, keys), at += Tn;
        tb.starts = at;
        std::memcpy(stage.data() + at, starts.data(), starts.size() * 4), at += starts.size();
        tb.ids = at;
        std::memcpy(stage.data() + at, ids.data(), ids.size() * 4), at += ids.size();
        tb.longs = at, tb.Ul = 0;
        for (int k = 0; k < tb.U; k++)
            if (starts[k + 1] - starts[k] > EMB_LONG) stage[at++] = k, tb.Ul++;
        return tb;
    };
    keys.assign(tokens_host, tokens_host + Tn);
    const Table tok = add_table();
    Table flag{};
    if (dwme) {
        for (int t = 0; t < Tn; t++) keys[t] = match_host[t];
        flag = add_table();
    }
    CUDA_CHECK(cudaMemcpyAsync(scratch, stage.data(), at * 4, cudaMemcpyHostToDevice, stream));
    // 16-byte chunks (4 columns) when D allows and the rows are aligned; a short-bucket block spans a
    // row's chunks (rounded up to a warp, at most 256 threads).
    const bool vec = D % 4 == 0 && aligned(dwte, 16) && aligned(dwme, 16) && aligned(dx, 16);
    auto kernel = vec ? embedding_backward_kernel<4> : embedding_backward_kernel<1>;
    auto long_kernel = vec ? embedding_backward_long_kernel<4> : embedding_backward_long_kernel<1>;
    const int chunks = vec ? D / 4 : D;
    const int threads = std::min(EMB_BWD_THREADS, 32 * (int)ceil_div(chunks, 32));
    auto run = [&](float* table, const Table& tb) {
        launch(kernel, dim3(tb.U, ceil_div(chunks, threads)), dim3(threads), 0, stream, table, scratch + tb.pos,
               scratch + tb.starts, scratch + tb.ids, dx, D);
        CUDA_CHECK_LAUNCH();
        if (tb.Ul == 0) return;
        launch(long_kernel, dim3(tb.Ul, ceil_div(D, 32)), dim3(EMB_LONG_THREADS), 0, stream, table, scratch + tb.pos,
               scratch + tb.starts, scratch + tb.ids, scratch + tb.longs, dx, D);
        CUDA_CHECK_LAUNCH();
    };
    run(dwte, tok);
    if (dwme) run(dwme, flag);
}

template void embedding_forward<float>(float*, const int32_t*, const uint8_t*, const float*, const float*, int, int,
                                       cudaStream_t);
template void embedding_forward<__nv_bfloat16>(float*, const int32_t*, const uint8_t*, const __nv_bfloat16*,
                                               const __nv_bfloat16*, int, int, cudaStream_t);

}  // namespace gpu
