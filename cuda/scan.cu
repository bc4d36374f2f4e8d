// Selective scan (Mamba-1, Gu & Dao 2023, Algorithm 2) with softplus(dt + bias), the D skip and the
// SiLU(z) gate fused, as mamba_ssm's selective_scan_fn(..., delta_softplus=True) (CPU reference and
// the backward derivation: src/cpu/scan.cpp). Per sequence s, channel e, state n, from h = 0:
//
//   delta_t = softplus(dt[t, e] + dt_bias[e]),   A_n = -exp(A_log[e, n]),   a_t = exp(delta_t A_n)
//   h_t     = a_t h_{t-1} + delta_t B[t, n] u[t, e]
//   y_t     = sum_n C[t, n] h_t + Dskip[e] u[t, e],   out[t, e] = y_t * SiLU(z[t, e])
//
// Shapes: u, dt, z, out [T, E] of type T (row strides ldu, lddt, ldz, ldo); B, C [T, N] of type T with
// row stride ldbc (slices of x_proj's output [T, R+2N]); A_log [E, N], Dskip [E], dt_bias [E] fp32;
// offsets [B+1] int32 on the device. The state is fp32, N <= 16 (SCAN_N_MAX).
//
// The layout is token-major ([T, E], as the GEMMs produce it), so a warp reads whole rows of channels,
// and time is walked sequentially by each thread with its states in registers: parallel over
// (sequence, channel, state group), which at the benchmark shape is B E SF_SPLIT = 98k threads.
// Packed sequences are cut into chunks of CH = SCAN_CHUNK = 256 steps for the backward's checkpoints:
// sequence s has ceil(len_s / CH) chunks; chunk k of s is global chunk base_s + k, base_s = sum_{s' < s}
// ceil(len_s' / CH) (each block computes it from offsets).
//
// Forward: grid (ceil(E / 32), B), blocks of 32 channels x SF_SPLIT = 4 threads; thread (c, g) keeps
// states n = g NS .. g NS + NS - 1 (NS = ceil(N / 4)) of channel c in registers. Per tile of SF_TILE =
// 32 steps: the block stages (delta, delta u), u, B and C in shared memory (coalesced row reads; softplus
// once per (t, e)); each thread runs the recurrence, h = 2^(delta A_n log2 e) h + (delta u) B_n and
// y_g += C_n h, and leaves y_g in shared memory; the block then writes out = (sum_g y_g + D u) SiLU(z).
// Cached for backward: the state at the end of every chunk, ckpt [chunks, E, N] fp32 (N floats per
// 256 steps per channel: 1/16 of u's size at N = 16 in fp32) instead of the T x E x N states.
// Instructions (cuobjdump -sass of the bf16 N 16 kernel, nvcc 13.0, sm_90): the recurrence is 24 per
// step per thread for 4 states (3 LDS, 8 FMUL, 8 FFMA, 4 MUFU.EX2, 1 STS: 6 per (t, n)); staging and
// the epilogue ~110 per (t, e) (softplus's log1pf ~25 of them) and 3 MUFU: at N = 16 ~12.8 issue slots
// and ~1.2 MUFU ops per (t, n), so the kernel should be issue-bound at ~1.3x the MUFU floor below, if
// latency is hidden (80 registers, 32 KB shared memory: 6 blocks = 24 warps per SM; 768 blocks fit in
// one wave on 132 SMs). The previous version (one block of 64 threads per channel, a cub::BlockScan
// per state and chunk, column reads of 2 bytes per row) issued ~60 per (t, n) plus three barriers.
//
// Backward (adjoint recurrence dh_t = dy_t C_t + a_{t+1} dh_{t+1}, walked last chunk first). With
// q_t = a_t dh_t the reversed recurrence is q_t = a_t q_{t+1} + a_t c_t (c_t = dy_t C_t), a scan of
// the pairs (a_t, a_t c_t) in reversed time whose EXCLUSIVE result is q_{t+1}, so dh_t = c_t + q_{t+1}
// needs no neighbour's a. Per chunk and n:
//   1. recompute a_t, b_t; the forward EXCLUSIVE scan from h at the end of the previous chunk (ckpt)
//      gives h_{t-1}; h_t = a_t h_{t-1} + b_t;
//   2. the reversed scan, from the carry q of the next chunk, gives dh_t; then, as in scan.cpp:
//      dC[t, n] += dy_t h_t, dB[t, n] += dh_t delta_t u_t          (sums over channels e)
//      du_t += dh_t delta_t B_t,   ddelta_t += dh_t (B_t u_t + h_{t-1} a_t A_n),
//      dA_n += dh_t h_{t-1} a_t delta_t;  at the end dA_log += dA_n A_n, dDskip += dy u, ddt_bias += dv.
// Thread mapping: one block per (sequence, group of SCAN_EG = 16 channels), grid (ceil(E/16), B), of
// SCAN_THREADS x SCAN_ROWS = 64 x 4 threads; row r scans channel el0 + r (el0 = 0, 4, 8, 12), so four
// channels are scanned at once: each row is a segment of one 256-thread BlockScan, cut from the rows
// before it by making its first pair (0, b'): a = 0 forgets everything before, and b' folds in the
// segment's starting state (a h0 + b forward; a (c + q) for the reversed scan, q the carry kept per
// (channel, n) in shared memory). The threads hold the chunk in reversed order (thread x: positions
// CH-1-4x .. CH-4-4x), so step 2 scans directly; step 1 reads the pairs through shared memory in
// forward order. dB and dC of a chunk: each row's terms go to shared memory, and thread p adds the four
// rows in order into its position's [N] sums ([256, N] each, dynamic shared memory), channel steps in
// order; each group writes its partial sums [groups, T, N], and a second kernel adds the groups in
// order (dB, dC WRITTEN). dA, dD, dbias: per warp by shuffles, then per row, per chunk in order, per
// sequence into [B, E, N+2] partials, then over sequences in order (ACCUMULATED into dA_log, dDskip,
// ddt_bias). du, ddt, dz are WRITTEN. Deterministic: no atomics anywhere.
//
// Cost and floor at B 16, L 512, E 1536, N 16 (T = 8192, T*E = 12.6M) in bf16 on an H200 (HBM3e
// 4.8 TB/s peak; 132 SMs x 16 MUFU ex2/clk x 1.98 GHz = 4.2e12 exponentials/s):
//   forward:  bytes = reads u, dt, z (3 x 25 MB) + B, C (0.5 MB) + writes out (25 MB) + ckpt (3 MB)
//             = 104 MB -> 26 us at 4.0 TB/s measured copy; exponentials = T*E*N (a_t) + 3 T*E
//             (softplus, sigmoid) = 239M -> 57 us.  Floor = 57 us (SFU bound); FLOPs ~8 T*E*N = 1.6 G.
//   backward: bytes = reads u, dt, z, dout, ckpt (103 MB) + writes du, ddt, dz (75 MB) = 178 MB ->
//             45 us; exponentials = T*E*N (recompute) + 3 T*E = 239M -> 57 us. Floor = 57 us (SFU).
//             This version also moves its dB/dC partials: 96 groups x T x N x 2 x 4 B = 100 MB written
//             and read (+50 us of bandwidth at this shape), the price of determinism without atomics.
// (The floor counts one MUFU op per exponential, softplus's exp and SiLU's exp and reciprocal.)
// Not yet measured on a GPU (the forward's estimate above counts instructions only). Occupancy of the
// backward: 55 KB of shared memory (23 KB static + 32 KB dB/dC sums at N 16) allow 4 blocks of 256
// threads per SM; each block takes 4 x chunks x N serial steps of two block scans and three barriers.
#include <cub/cub.cuh>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int SCAN_THREADS = 64;
constexpr int SCAN_ITEMS = 4;
constexpr int SCAN_CHUNK = SCAN_THREADS * SCAN_ITEMS;  // CH = 256 steps
constexpr int SCAN_N_MAX = 16;
constexpr int SCAN_EG = 16;   // channels per backward block
constexpr int SCAN_ROWS = 4;  // of which scanned at once (blockDim.y)
constexpr int SF_CHANNELS = 32;  // forward: channels per block
constexpr int SF_SPLIT = 4;      // forward: threads per channel, each holding ceil(N / SF_SPLIT) states
constexpr int SF_THREADS = SF_CHANNELS * SF_SPLIT;
constexpr int SF_TILE = 32;      // forward: steps staged in shared memory at a time (divides SCAN_CHUNK)
static_assert(SCAN_CHUNK % SF_TILE == 0, "checkpoints fall on tile ends");

struct ScanPair {
    float a, b;
};
// (p then q): h -> q.a (p.a h + p.b) + q.b.
struct ScanPairOp {
    __device__ __forceinline__ ScanPair operator()(const ScanPair& p, const ScanPair& q) const {
        return ScanPair{p.a * q.a, q.a * p.b + q.b};
    }
};
__device__ __forceinline__ float softplusf_(float v) { return v > 20.0f ? v : log1pf(expf(v)); }
__device__ __forceinline__ float sigmoidf_(float v) { return 1.0f / (1.0f + expf(-v)); }
// The first global chunk of sequence s.
__device__ int chunk_base(const int32_t* offsets, int s) {
    int base = 0;
    for (int i = 0; i < s; i++) base += (offsets[i + 1] - offsets[i] + SCAN_CHUNK - 1) / SCAN_CHUNK;
    return base;
}

constexpr float LOG2E = 1.4426950408889634f;

// 2^x in one MUFU.EX2 (ex2.approx.ftz: relative error ~2^-22, results below 2^-126 flushed to 0, where
// the decay has long forgotten the state); the simulator computes it with exp2f.
__device__ __forceinline__ float fast_exp2(float x) {
#ifdef CUDA_SIM
    return exp2f(x);
#else
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#endif
}

// softplus and v sigmoid(v) with the exponential and the division in one MUFU op each (fast_exp2's few
// ulp pass through log1p with a factor below 1; __fdividef(v, inf) is 0, silu's limit at -inf).
__device__ __forceinline__ float softplus_fast(float v) { return v > 20.0f ? v : log1pf(fast_exp2(v * LOG2E)); }
__device__ __forceinline__ float silu_fast(float v) { return __fdividef(v, 1.0f + fast_exp2(-v * LOG2E)); }

// out [T, E] (ldo), ckpt [chunks, E, N]. Block (channels e0 = blockIdx.x * SF_CHANNELS .., sequence s =
// blockIdx.y), SF_THREADS threads: thread (c = tid / SF_SPLIT, g = tid % SF_SPLIT) holds states
// g*NS .. g*NS+NS-1 of channel e0 + c in registers and walks the sequence one tile of SF_TILE steps at a
// time. Per tile: (1) the block stages (delta, delta u) and u for its channels, and B, C, in shared memory,
// reading whole rows of 32 channels (coalesced); (2) each thread runs the recurrence over the tile, NS
// exponentials per step, and leaves its share of y (sum over its states of C h) in shared memory;
// (3) the block adds the SF_SPLIT shares in order, the D skip and the gate, and writes out's rows.
// States n >= N (N not a multiple of SF_SPLIT) and steps past the sequence's end carry A = 0, B = C = 0
// and delta = 0: a = 1, b = 0, so h is unchanged and the loop has a fixed trip count.
template <class T, int NS>
__global__ void __launch_bounds__(SF_THREADS)
scan_forward_kernel(T* out, int ldo, float* ckpt, const T* u, int ldu, const T* dt, int lddt, const T* Bm,
                    const T* Cm, int ldbc, const T* z, int ldz, const float* A_log, const float* Dskip,
                    const float* dt_bias, const int32_t* offsets, int E, int N) {
    __shared__ float2 s_dd[SF_TILE][SF_CHANNELS];                       // (delta, delta u) per step, channel
    __shared__ float s_u[SF_TILE][SF_CHANNELS];                         // u, for the D skip
    __shared__ __align__(16) float s_B[SF_TILE][SF_SPLIT * NS];         // B, C per step; 0 past N
    __shared__ __align__(16) float s_C[SF_TILE][SF_SPLIT * NS];
    __shared__ __align__(16) float s_y[SF_TILE][SF_THREADS];            // y shares: [t][c * SF_SPLIT + g]
    const int tid = threadIdx.x, c = tid / SF_SPLIT, g = tid % SF_SPLIT;
    const int e0 = blockIdx.x * SF_CHANNELS, s = blockIdx.y, e = e0 + c;
    const int start = offsets[s], end = offsets[s + 1];
    const int base = chunk_base(offsets, s);
    float A2[NS], h[NS];  // A_n log2(e), so that a = 2^(delta A2); the state
    for (int j = 0; j < NS; j++) {
        const int n = g * NS + j;
        A2[j] = e < E && n < N ? -expf(A_log[e * N + n]) * LOG2E : 0.0f;
        h[j] = 0.0f;
    }
    // Staging and the epilogue: this thread's column cc of the block's channels, rows r0 + ROW_STEP k.
    constexpr int ROW_STEP = SF_THREADS / SF_CHANNELS, ROWS = SF_TILE / ROW_STEP;
    const int cc = tid % SF_CHANNELS, r0 = tid / SF_CHANNELS, ec = e0 + cc;
    const float bias_c = ec < E ? dt_bias[ec] : 0.0f, D_c = ec < E ? Dskip[ec] : 0.0f;
    for (int t0 = start; t0 < end; t0 += SF_TILE) {
        const int steps = min(SF_TILE, end - t0);
        const size_t row0 = (size_t)(t0 + r0);  // this thread's first row; the k-th is row0 + ROW_STEP k
        UNROLL(8)
        for (int k = 0; k < ROWS; k++) {
            const int tt = r0 + ROW_STEP * k;
            float dl = 0.0f, uu = 0.0f;
            if (tt < steps && ec < E) {
                uu = to_float(u[row0 * ldu + ec + ROW_STEP * k * ldu]);
                dl = softplus_fast(to_float(dt[row0 * lddt + ec + ROW_STEP * k * lddt]) + bias_c);
            }
            s_dd[tt][cc] = make_float2(dl, dl * uu);
            s_u[tt][cc] = uu;
        }
        for (int i = tid; i < SF_TILE * SF_SPLIT * NS; i += SF_THREADS) {
            const int tt = i / (SF_SPLIT * NS), n = i % (SF_SPLIT * NS);
            const bool ok = tt < steps && n < N;
            s_B[tt][n] = ok ? to_float(Bm[(size_t)(t0 + tt) * ldbc + n]) : 0.0f;
            s_C[tt][n] = ok ? to_float(Cm[(size_t)(t0 + tt) * ldbc + n]) : 0.0f;
        }
        __syncthreads();
        UNROLL(8)
        for (int tt = 0; tt < SF_TILE; tt++) {
            const float2 dd = s_dd[tt][c];
            float y = 0.0f;
            UNROLL(4)
            for (int j = 0; j < NS; j++) {
                h[j] = fast_exp2(dd.x * A2[j]) * h[j] + dd.y * s_B[tt][g * NS + j];
                y += s_C[tt][g * NS + j] * h[j];
            }
            s_y[tt][tid] = y;
        }
        const int done = t0 + steps - start;  // steps of the sequence done
        if ((done % SCAN_CHUNK == 0 || t0 + steps == end) && e < E)
            for (int j = 0; j < NS; j++)
                if (g * NS + j < N) ckpt[((size_t)(base + (done - 1) / SCAN_CHUNK) * E + e) * N + g * NS + j] = h[j];
        __syncthreads();
        UNROLL(8)
        for (int k = 0; k < ROWS; k++) {
            const int tt = r0 + ROW_STEP * k;
            if (tt >= steps || ec >= E) continue;
            float y = D_c * s_u[tt][cc];
            for (int q = 0; q < SF_SPLIT; q++) y += s_y[tt][cc * SF_SPLIT + q];
            const float zz = to_float(z[row0 * ldz + ec + ROW_STEP * k * ldz]);
            out[row0 * ldo + ec + ROW_STEP * k * ldo] = from_float<T>(y * silu_fast(zz));
        }
        // (The next tile's staging writes s_dd, s_u, s_B, s_C, which this loop does not read, and s_y is
        // written only after the next barrier.)
    }
}

// Block (group g = blockIdx.x of SCAN_EG channels, sequence s = blockIdx.y), SCAN_THREADS x SCAN_ROWS
// threads: row r scans channel e0 + el0 + r, for el0 = 0, SCAN_ROWS, ... Writes du, ddt, dz; part_B,
// part_C [groups, T, N] (this group's sums over its channels); part_p [B, E, N+2] (this sequence's dA
// (before the factor A), dD, dbias per channel).
template <class T>
__global__ void __launch_bounds__(SCAN_THREADS * SCAN_ROWS)
scan_backward_kernel(T* du, int lddu, T* ddt, int ldddt, T* dz, int lddz, float* part_B, float* part_C,
                     float* part_p, const T* dout, int lddo, const float* ckpt, const T* u, int ldu, const T* dt,
                     int lddt, const T* Bm, const T* Cm, int ldbc, const T* z, int ldz, const float* A_log,
                     const float* Dskip, const float* dt_bias, const int32_t* offsets, int Tn, int E, int N) {
    constexpr int NT = SCAN_THREADS * SCAN_ROWS, WARPS = NT / 32, ROW_WARPS = SCAN_THREADS / 32;
    using BlockScan = cub::BlockScan<ScanPair, SCAN_THREADS, cub::BLOCK_SCAN_WARP_SCANS, SCAN_ROWS>;
    __shared__ typename BlockScan::TempStorage temp;
    __shared__ ScanPair pair_x[SCAN_ROWS][SCAN_CHUNK];       // (a, b) by chunk position, for step 1
    __shared__ float h_x[SCAN_ROWS][SCAN_CHUNK];             // h_{t-1} by chunk position
    __shared__ float part_bc[2][SCAN_ROWS][SCAN_CHUNK];      // one state's dB, dC terms of each row
    __shared__ float carry[SCAN_EG][SCAN_N_MAX];             // reversed-scan carry q per (channel, state)
    __shared__ float warp_sum[WARPS][SCAN_N_MAX + 2];        // per warp: dA[n], dD, dbias of its row's channel
    __shared__ float acc[SCAN_EG][SCAN_N_MAX + 2];           // per channel, summed over chunks
    SIM_DYNAMIC_SMEM(float, bc_acc);                         // [2, CH, N]: dB, dC of the chunk, by position
    float* dB_acc = bc_acc;
    float* dC_acc = bc_acc + SCAN_CHUNK * N;
    const int g = blockIdx.x, s = blockIdx.y, x = threadIdx.x, row = threadIdx.y;
    const int tid = x + row * SCAN_THREADS, warp = tid / 32, lane = tid % 32;
    const int e0 = g * SCAN_EG, ecount = min(SCAN_EG, E - e0);
    const int start = offsets[s], end = offsets[s + 1];
    const int chunks = (end - start + SCAN_CHUNK - 1) / SCAN_CHUNK;
    const int base = chunk_base(offsets, s);
    auto warp_total = [](float v) {  // the same sum, in the same order, on every lane
        for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
        return v;
    };
    for (int i = tid; i < SCAN_EG * (SCAN_N_MAX + 2); i += NT) acc[i / (SCAN_N_MAX + 2)][i % (SCAN_N_MAX + 2)] = 0.0f;
    // (acc is read only after the barriers of the first state's scans.)
    int pos[SCAN_ITEMS];  // reversed layout: item i of this thread is chunk position pos[i]
    for (int i = 0; i < SCAN_ITEMS; i++) pos[i] = SCAN_CHUNK - 1 - (x * SCAN_ITEMS + i);
    for (int k = chunks - 1; k >= 0; k--) {
        const int c0 = start + k * SCAN_CHUNK;
        for (int p = tid; p < SCAN_CHUNK; p += NT)  // position p of dB_acc, dC_acc is thread p's alone
            for (int n = 0; n < N; n++) dB_acc[p * N + n] = 0.0f, dC_acc[p * N + n] = 0.0f;
        for (int el0 = 0; el0 < ecount; el0 += SCAN_ROWS) {
            const int el = el0 + row;
            const bool active = el < ecount;  // rows past the group's last channel scan identities
            const int e = active ? e0 + el : e0;
            const float Dv = Dskip[e], bias = dt_bias[e];
            float uu[SCAN_ITEMS], dl[SCAN_ITEMS], v[SCAN_ITEMS], zz[SCAN_ITEMS], sz[SCAN_ITEMS], gg[SCAN_ITEMS];
            float dy[SCAN_ITEMS], y[SCAN_ITEMS], dut[SCAN_ITEMS], ddl[SCAN_ITEMS];
            bool valid[SCAN_ITEMS];
            for (int i = 0; i < SCAN_ITEMS; i++) {
                const int t = c0 + pos[i];
                valid[i] = active && t < end;
                uu[i] = valid[i] ? to_float(u[(size_t)t * ldu + e]) : 0.0f;
                v[i] = valid[i] ? to_float(dt[(size_t)t * lddt + e]) + bias : 0.0f;
                dl[i] = valid[i] ? softplusf_(v[i]) : 0.0f;
                zz[i] = valid[i] ? to_float(z[(size_t)t * ldz + e]) : 0.0f;
                gg[i] = valid[i] ? to_float(dout[(size_t)t * lddo + e]) : 0.0f;
                sz[i] = sigmoidf_(zz[i]);
                dy[i] = gg[i] * zz[i] * sz[i];
                y[i] = Dv * uu[i];
                dut[i] = dy[i] * Dv;
                ddl[i] = 0.0f;
            }
            for (int n = 0; n < N; n++) {
                const float An = -expf(A_log[e * N + n]);
                float a[SCAN_ITEMS], bn[SCAN_ITEMS], cn[SCAN_ITEMS];
                for (int i = 0; i < SCAN_ITEMS; i++) {
                    const int t = c0 + pos[i];
                    bn[i] = valid[i] ? to_float(Bm[(size_t)t * ldbc + n]) : 0.0f;
                    cn[i] = valid[i] ? to_float(Cm[(size_t)t * ldbc + n]) : 0.0f;
                    a[i] = valid[i] ? __expf(dl[i] * An) : 1.0f;
                    pair_x[row][pos[i]] = ScanPair{a[i], dl[i] * bn[i] * uu[i]};
                }
                __syncthreads();
                // Step 1: h_{t-1} by the forward exclusive scan, in forward layout. Each row is a segment
                // of the block's scan: its first pair becomes (0, a h0 + b), which drops whatever the rows
                // before it carry and starts from h0, the state at the end of the previous chunk.
                ScanPair fw[SCAN_ITEMS];
                for (int i = 0; i < SCAN_ITEMS; i++) fw[i] = pair_x[row][x * SCAN_ITEMS + i];
                const float h0 = active && k > 0 ? ckpt[((size_t)(base + k - 1) * E + e) * N + n] : 0.0f;
                if (x == 0) fw[0] = ScanPair{0.0f, fw[0].a * h0 + fw[0].b};
                BlockScan(temp).ExclusiveScan(fw, fw, ScanPair{1.0f, 0.0f}, ScanPairOp{});
                for (int i = 0; i < SCAN_ITEMS; i++) h_x[row][x * SCAN_ITEMS + i] = x == 0 && i == 0 ? h0 : fw[i].b;
                __syncthreads();
                // Step 2: dh_t by the reversed exclusive scan of (a_t, a_t c_t), a segment per row again;
                // the first reversed pair (the chunk's last step) folds in the carry q from the next chunk.
                ScanPair rv[SCAN_ITEMS];
                float hp[SCAN_ITEMS], c[SCAN_ITEMS];
                for (int i = 0; i < SCAN_ITEMS; i++) {
                    hp[i] = h_x[row][pos[i]];
                    const float h = a[i] * hp[i] + dl[i] * bn[i] * uu[i];
                    y[i] += cn[i] * h;
                    part_bc[1][row][pos[i]] = dy[i] * h;
                    c[i] = dy[i] * cn[i];
                    rv[i] = valid[i] ? ScanPair{a[i], a[i] * c[i]} : ScanPair{1.0f, 0.0f};
                }
                const float q_in = x == 0 && active && k < chunks - 1 ? carry[el][n] : 0.0f;
                if (x == 0) rv[0] = ScanPair{0.0f, valid[0] ? a[0] * (c[0] + q_in) : q_in};
                const ScanPair last = rv[SCAN_ITEMS - 1];
                BlockScan(temp).ExclusiveScan(rv, rv, ScanPair{1.0f, 0.0f}, ScanPairOp{});
                if (x == SCAN_THREADS - 1 && active)  // q at the chunk's first step: the next chunk's carry
                    carry[el][n] = last.a * rv[SCAN_ITEMS - 1].b + last.b;
                float dA = 0.0f;
                for (int i = 0; i < SCAN_ITEMS; i++) {
                    const float q_next = x == 0 && i == 0 ? q_in : rv[i].b;
                    const float dh = valid[i] ? c[i] + q_next : 0.0f;
                    ddl[i] += dh * bn[i] * uu[i] + dh * hp[i] * a[i] * An;
                    dA += dh * hp[i] * a[i] * dl[i];
                    dut[i] += dh * dl[i] * bn[i];
                    part_bc[0][row][pos[i]] = dh * dl[i] * uu[i];
                }
                dA = warp_total(dA);
                if (lane == 0) warp_sum[warp][n] = dA;
                __syncthreads();  // part_bc complete; temp, pair_x and h_x free for the next state
                for (int p = tid; p < SCAN_CHUNK; p += NT) {  // the rows' terms, summed in row (channel) order
                    float sb = 0.0f, sc = 0.0f;
                    for (int r = 0; r < SCAN_ROWS; r++) sb += part_bc[0][r][p], sc += part_bc[1][r][p];
                    dB_acc[p * N + n] += sb;
                    dC_acc[p * N + n] += sc;
                }
            }
            float dD = 0.0f, dbias = 0.0f;
            for (int i = 0; i < SCAN_ITEMS; i++) {
                if (!valid[i]) continue;
                const int t = c0 + pos[i];
                const float dv = v[i] > 20.0f ? ddl[i] : ddl[i] * sigmoidf_(v[i]);
                dD += dy[i] * uu[i];
                dbias += dv;
                du[(size_t)t * lddu + e] = from_float<T>(dut[i]);
                ddt[(size_t)t * ldddt + e] = from_float<T>(dv);
                dz[(size_t)t * lddz + e] = from_float<T>(gg[i] * y[i] * sz[i] * (1.0f + zz[i] * (1.0f - sz[i])));
            }
            dD = warp_total(dD);
            dbias = warp_total(dbias);
            if (lane == 0) warp_sum[warp][N] = dD, warp_sum[warp][N + 1] = dbias;
            __syncthreads();
            for (int j = tid; j < SCAN_ROWS * (N + 2); j += NT) {
                const int r = j / (N + 2), col = j % (N + 2);
                if (el0 + r >= ecount) continue;
                float sum = 0.0f;
                for (int w = 0; w < ROW_WARPS; w++) sum += warp_sum[r * ROW_WARPS + w][col];
                acc[el0 + r][col] += sum;
            }
            __syncthreads();  // warp_sum is rewritten by the next rows of channels
        }
        for (int p = tid; p < SCAN_CHUNK; p += NT) {
            const int t = c0 + p;
            if (t >= end) continue;
            for (int n = 0; n < N; n++) {
                part_B[((size_t)g * Tn + t) * N + n] = dB_acc[p * N + n];
                part_C[((size_t)g * Tn + t) * N + n] = dC_acc[p * N + n];
            }
        }
    }
    __syncthreads();
    for (int i = tid; i < ecount * (N + 2); i += NT)
        part_p[((size_t)s * E + e0 + i / (N + 2)) * (N + 2) + i % (N + 2)] = acc[i / (N + 2)][i % (N + 2)];
}

// dB, dC [T, N] (ld lddbc) = sum over groups of part_B, part_C [groups, T, N], in group order.
template <class T>
__global__ void scan_sum_bc_kernel(T* dBm, T* dCm, int lddbc, const float* part_B, const float* part_C, int groups,
                                   int Tn, int N) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= Tn * N) return;
    float sb = 0.0f, sc = 0.0f;
    for (int gi = 0; gi < groups; gi++) sb += part_B[(size_t)gi * Tn * N + i], sc += part_C[(size_t)gi * Tn * N + i];
    const int t = i / N, n = i % N;
    dBm[(size_t)t * lddbc + n] = from_float<T>(sb);
    dCm[(size_t)t * lddbc + n] = from_float<T>(sc);
}

// dA_log [E, N] += A * sum_s dA; dDskip [E], ddt_bias [E] += sums over sequences s of part_p [B, E, N+2].
__global__ void scan_sum_params_kernel(float* dA_log, float* dDskip, float* ddt_bias, const float* part_p,
                                       const float* A_log, int B, int E, int N) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= E * (N + 2)) return;
    const int e = i / (N + 2), j = i % (N + 2);
    float sum = 0.0f;
    for (int s = 0; s < B; s++) sum += part_p[(size_t)s * E * (N + 2) + i];
    if (j < N) dA_log[e * N + j] += sum * -expf(A_log[e * N + j]);
    else if (j == N) dDskip[e] += sum;
    else ddt_bias[e] += sum;
}

}  // namespace

size_t scan_checkpoint_size(int B, int Tn, int E, int N) {
    return ((size_t)Tn / SCAN_CHUNK + B) * E * N;  // chunks <= sum_s (len_s / CH + 1)
}
size_t scan_backward_scratch(int B, int Tn, int E, int N) {
    return 2 * (size_t)ceil_div(E, SCAN_EG) * Tn * N + (size_t)B * E * (N + 2);
}

static void check_scan_n(int N) {
    if (N > SCAN_N_MAX) {
        std::fprintf(stderr, "error: selective scan: d_state %d is not supported on CUDA (at most %d)\n", N, SCAN_N_MAX);
        std::exit(1);
    }
}

template <class T>
void scan_forward(T* out, int ldo, float* ckpt, const T* u, int ldu, const T* dt, int lddt, const T* Bm, const T* Cm,
                  int ldbc, const T* z, int ldz, const float* A_log, const float* Dskip, const float* dt_bias,
                  const int32_t* offsets, int B, int Tn, int E, int N, cudaStream_t stream) {
    check_scan_n(N);
    if (Tn == 0) return;
    const dim3 grid(ceil_div(E, SF_CHANNELS), B);
    auto go = [&](auto kernel) {
        launch(kernel, grid, dim3(SF_THREADS), 0, stream, out, ldo, ckpt, u, ldu, dt, lddt, Bm, Cm, ldbc, z, ldz, A_log,
               Dskip, dt_bias, offsets, E, N);
    };
    switch ((N + SF_SPLIT - 1) / SF_SPLIT) {  // states per thread
        case 1: go(scan_forward_kernel<T, 1>); break;
        case 2: go(scan_forward_kernel<T, 2>); break;
        case 3: go(scan_forward_kernel<T, 3>); break;
        default: go(scan_forward_kernel<T, 4>); break;
    }
    CUDA_CHECK_LAUNCH();
}

template <class T>
void scan_backward(T* du, int lddu, T* ddt, int ldddt, T* dBm, T* dCm, int lddbc, T* dz, int lddz, float* dA_log,
                   float* dDskip, float* ddt_bias, float* scratch, const T* dout, int lddo, const float* ckpt,
                   const T* u, int ldu, const T* dt, int lddt, const T* Bm, const T* Cm, int ldbc, const T* z,
                   int ldz, const float* A_log, const float* Dskip, const float* dt_bias, const int32_t* offsets,
                   int B, int Tn, int E, int N, cudaStream_t stream) {
    check_scan_n(N);
    if (Tn == 0) return;
    const int groups = (int)ceil_div(E, SCAN_EG);
    float* part_B = scratch;                               // [groups, T, N]
    float* part_C = part_B + (size_t)groups * Tn * N;      // [groups, T, N]
    float* part_p = part_C + (size_t)groups * Tn * N;      // [B, E, N+2]
    const size_t smem = 2 * (size_t)SCAN_CHUNK * N * sizeof(float);  // + ~23 KB static: above 48 KB at N 16
    CUDA_CHECK(cudaFuncSetAttribute(scan_backward_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    launch(scan_backward_kernel<T>, dim3(groups, B), dim3(SCAN_THREADS, SCAN_ROWS), smem, stream, du, lddu, ddt, ldddt, dz,
           lddz, part_B, part_C, part_p, dout, lddo, ckpt, u, ldu, dt, lddt, Bm, Cm, ldbc, z, ldz, A_log, Dskip,
           dt_bias, offsets, Tn, E, N);
    CUDA_CHECK_LAUNCH();
    launch(scan_sum_bc_kernel<T>, dim3(ceil_div((long)Tn * N, 256)), dim3(256), 0, stream, dBm, dCm, lddbc, part_B,
           part_C, groups, Tn, N);
    CUDA_CHECK_LAUNCH();
    launch(scan_sum_params_kernel, dim3(ceil_div((long)E * (N + 2), 256)), dim3(256), 0, stream, dA_log, dDskip,
           ddt_bias, part_p, A_log, B, E, N);
    CUDA_CHECK_LAUNCH();
}

#define INSTANTIATE(T)                                                                                            \
    template void scan_forward<T>(T*, int, float*, const T*, int, const T*, int, const T*, const T*, int, const T*, \
                                  int, const float*, const float*, const float*, const int32_t*, int, int, int,    \
                                  int, cudaStream_t);                                                              \
    template void scan_backward<T>(T*, int, T*, int, T*, T*, int, T*, int, float*, float*, float*, float*,          \
                                   const T*, int, const float*, const T*, int, const T*, int, const T*, const T*,   \
                                   int, const T*, int, const float*, const float*, const float*, const int32_t*,   \
                                   int, int, int, int, cudaStream_t);
INSTANTIATE(float)
INSTANTIATE(__nv_bfloat16)

}  // namespace gpu
