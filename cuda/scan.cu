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
// The recurrence as a scan: h_t is the b of the inclusive scan of the pairs (a_t, b_t = delta_t B u)
// under (a0, b0) o (a1, b1) = (a1 a0, a1 b0 + b1), which is associative, so a chunk of CH = 256
// steps (SCAN_THREADS = 64 threads x SCAN_ITEMS = 4 consecutive steps each) is one cub::BlockScan, and
// the state crosses chunks through the block-prefix callback (mamba_ssm's SSMScanPrefixCallbackOp).
// Packed sequences: sequence s has ceil(len_s / CH) chunks; chunk k of s is global chunk
// base_s + k, base_s = sum_{s' < s} ceil(len_s' / CH) (each block computes it from offsets).
//
// Forward: one block per (channel e, sequence s), grid (E, B); the block walks its sequence's chunks
// in order; per chunk, per state n: N exponentials per step, a BlockScan of (a, b) pairs, y += C h.
// Cached for backward: the state at the end of every chunk, ckpt [chunks, E, N] fp32 (N floats per
// 256 steps per channel: 1/16 of u's size at N = 16 in fp32) instead of the T x E x N states.
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
// (Exponentials are __expf: one MUFU ex2 and one multiply; the floor counts one MUFU op each.)
// Not yet measured on a GPU. Occupancy of the backward: 55 KB of shared memory (23 KB static + 32 KB
// dB/dC sums at N 16) allow 4 blocks of 256 threads per SM; each block takes 4 x chunks x N serial
// steps of two block scans and three barriers.
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

struct ScanPair {
    float a, b;
};
// (p then q): h -> q.a (p.a h + p.b) + q.b.
struct ScanPairOp {
    __device__ __forceinline__ ScanPair operator()(const ScanPair& p, const ScanPair& q) const {
        return ScanPair{p.a * q.a, q.a * p.b + q.b};
    }
};
// Carries the running prefix across chunks (mamba_ssm's SSMScanPrefixCallbackOp). Only warp 0 calls
// it, and only lane 0's state matters.
struct ScanPrefix {
    ScanPair running;
    __device__ ScanPair operator()(ScanPair block_aggregate) {
        ScanPair old = running;
        running = ScanPairOp{}(running, block_aggregate);
        return old;
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

// out [T, E] (ldo), ckpt [chunks, E, N]. Block (e = blockIdx.x, s = blockIdx.y), SCAN_THREADS threads.
template <class T>
__global__ void __launch_bounds__(SCAN_THREADS)
scan_forward_kernel(T* out, int ldo, float* ckpt, const T* u, int ldu, const T* dt, int lddt, const T* Bm,
                    const T* Cm, int ldbc, const T* z, int ldz, const float* A_log, const float* Dskip,
                    const float* dt_bias, const int32_t* offsets, int E, int N) {
    using BlockScan = cub::BlockScan<ScanPair, SCAN_THREADS, cub::BLOCK_SCAN_WARP_SCANS>;
    __shared__ typename BlockScan::TempStorage temp;
    __shared__ ScanPair carry[SCAN_N_MAX];  // the running prefix per state, kept by thread 0
    const int e = blockIdx.x, s = blockIdx.y, tid = threadIdx.x;
    const int start = offsets[s], end = offsets[s + 1];
    const int chunks = (end - start + SCAN_CHUNK - 1) / SCAN_CHUNK;
    const int base = chunk_base(offsets, s);
    const float Dv = Dskip[e], bias = dt_bias[e];
    for (int k = 0; k < chunks; k++) {
        const int t0 = start + k * SCAN_CHUNK + tid * SCAN_ITEMS;  // this thread's first step
        float dl[SCAN_ITEMS], uu[SCAN_ITEMS], y[SCAN_ITEMS];       // delta, u, y per step
        for (int i = 0; i < SCAN_ITEMS; i++) {
            const int t = t0 + i;
            const bool valid = t < end;
            uu[i] = valid ? to_float(u[(size_t)t * ldu + e]) : 0.0f;
            dl[i] = valid ? softplusf_(to_float(dt[(size_t)t * lddt + e]) + bias) : 0.0f;
            y[i] = Dv * uu[i];
        }
        for (int n = 0; n < N; n++) {
            const float An = -expf(A_log[e * N + n]);
            ScanPair items[SCAN_ITEMS];
            for (int i = 0; i < SCAN_ITEMS; i++) {
                const int t = t0 + i;
                items[i] = t < end ? ScanPair{__expf(dl[i] * An), dl[i] * to_float(Bm[(size_t)t * ldbc + n]) * uu[i]}
                                   : ScanPair{1.0f, 0.0f};  // identity pads the sequence's last chunk
            }
            ScanPrefix prefix{k > 0 && tid == 0 ? carry[n] : ScanPair{1.0f, 0.0f}};
            BlockScan(temp).InclusiveScan(items, items, ScanPairOp{}, prefix);
            for (int i = 0; i < SCAN_ITEMS; i++) {
                const int t = t0 + i;
                if (t < end) y[i] += to_float(Cm[(size_t)t * ldbc + n]) * items[i].b;
            }
            if (tid == 0) {
                carry[n] = prefix.running;
                ckpt[((size_t)(base + k) * E + e) * N + n] = prefix.running.b;  // h at the chunk's end
            }
            __syncthreads();  // temp is reused by the next scan
        }
        for (int i = 0; i < SCAN_ITEMS; i++) {
            const int t = t0 + i;
            if (t >= end) continue;
            const float zz = to_float(z[(size_t)t * ldz + e]);
            out[(size_t)t * ldo + e] = from_float<T>(y[i] * (zz * sigmoidf_(zz)));
        }
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
    launch(scan_forward_kernel<T>, dim3(E, B), dim3(SCAN_THREADS), 0, stream, out, ldo, ckpt, u, ldu, dt, lddt, Bm,
           Cm, ldbc, z, ldz, A_log, Dskip, dt_bias, offsets, E, N);
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
