// Selective scan (Mamba-1, Gu & Dao 2023, Algorithm 2) with softplus(dt + bias), the D skip and the
// SiLU(z) gate fused, as mamba_ssm's selective_scan_fn(..., delta_softplus=True) (CPU reference and
// the backward derivation: src/cpu/scan.cpp). Per sequence s, channel e, state n, from h = 0:
//
//   delta_t = softplus(dt[t, e] + dt_bias[e]),   A_n = -exp(A_log[e, n]),   a_t = exp(delta_t A_n)
//   h_t     = a_t h_{t-1} + delta_t B[t, n] u[t, e]
//   y_t     = sum_n C[t, n] h_t + Dskip[e] u[t, e],   out[t, e] = y_t * SiLU(z[t, e])
//
// Shapes: u, dt, z, out [T, E] of type T (row strides ldu, lddt, ldz, ldo); B, C [T, N] of type T with
// one row stride ldbc (slices of x_proj's output [T, R+2N]); A_log [E, N], Dskip [E], dt_bias [E] fp32;
// offsets [B+1] int32 on the device. The state is fp32, N <= 16 (SCAN_N_MAX). The launchers take them as
// the views of src/core/views.h and pass the kernels their pointers and strides.
//
// The layout is token-major ([T, E], as the GEMMs produce it), so a warp reads whole rows of channels,
// and each thread walks time sequentially with its states in registers: parallel over (sequence,
// channel, group of 4 states), B E 4 = 98k threads at the benchmark shape, with no block-wide scans.
// The state is checkpointed every SCAN_CK = 8 steps: sequence s has ceil(len_s / 8) chunks, chunk k of
// s is global chunk base_s + k, base_s = sum_{s' < s} ceil(len_s' / 8) (computed from offsets).
//
// Forward: grid (ceil(E / 32), B), blocks of 32 channels x 4 threads; thread (c, g) keeps states
// n = g NS .. g NS + NS - 1 (NS = ceil(N / 4)) of channel c in registers. Per tile of SF_TILE = 32
// steps the block stages (delta, delta u), u, B and C in shared memory (coalesced row reads; softplus
// once per (t, e)); each thread runs h = 2^(delta A_n log2 e) h + (delta u) B_n, y_g += C_n h, and
// leaves y_g in shared memory; the block writes out = (sum_g y_g + D u) SiLU(z). Cached for backward:
// h at the end of every full 8-step chunk, ckpt [chunks, E, N] fp32 (8 bytes per (t, e) at N 16).
// Long sequences in small batches (fewer than 2 blocks per SM: at E 1536, fewer than 6 sequences on
// 132 SMs) are chunked over time: each sequence is cut into segments of seg_len steps, grid z. Pass 1
// runs every segment but the last from h = 0 and keeps its summary, the pair (prod_t a_t, h_end) per
// (channel, state) = (2^(A_n log2 e sum_t delta_t), h_end); pass 2 runs every segment again from its
// true start state, the fold of the summaries before it under (a0, b0) o (a1, b1) = (a1 a0, a1 b0 +
// b1), and writes out and ckpt. The price is one more exponential per (t, n): taken only where the
// parallelism is short (scan_segment_length). The backward cuts the same way: its pass 1 runs every
// segment but the first backwards from a carry of 0 and keeps (prod_t a_t, q at its first step), which
// the main pass folds, last segment first, into the carry entering its own last step (the adjoint is
// linear in the carry); the parameter-gradient partials get one row per (sequence, segment).
//
// Backward: the adjoint dh_t = dy_t C_t + q_{t+1}, q_t = a_t dh_t (dy = dout SiLU(z)), and, as in
// scan.cpp: dB[t, n] = sum_e dh delta u, dC[t, n] = sum_e dy h_t, du = delta sum_n dh B + dy D,
// ddelta = u sum_n dh B + sum_n dh a_t h_{t-1} A_n, dA_n += dh a_t h_{t-1} delta (dA_log = dA_n A_n at
// the end), dD += dy u, ddt_bias += dv = ddelta sigmoid(v), dz = dout y SiLU'(z). Same grid and
// mapping as forward; tiles of SB_TILE = 16 steps, last first, each as two 8-step sub-tiles, last
// first. Per sub-tile a thread recomputes its 4 states from the checkpoint (one exponential per
// (t, n), as forward), keeping a_t and h_{t-1} for the 8 steps in registers (64 of them), then walks
// the 8 steps backwards with the carry q in registers. Per-(t, e) sums over the thread's states (y,
// sum dh B, sum dh a h A) go through shared memory to the block's epilogue, which writes du, ddt, dz.
// dB, dC are sums over all E channels: per step a warp's 8 channels are added by reduce_scatter8
// (7 shuffles for 8 values), the block's 4 warps in order, and each block writes its partial sums
// part_B, part_C [groups, T, N]; scan_sum_bc_kernel adds the groups in order (dB, dC WRITTEN). dA per
// (channel, state) stays in registers for the whole sequence; dD, dbias per channel are summed by the
// epilogue threads; both go to [rows, E, N+2] partials (a row per sequence, or per segment when cut)
// that scan_sum_params_kernel adds in row order (ACCUMULATED into dA_log, dDskip, ddt_bias). du, ddt,
// dz are WRITTEN. Deterministic: no atomics anywhere.
//
// Cost at B 16, L 512, E 1536, N 16 (T = 8192, T*E = 12.6M) in bf16 on an H200 (~4.3 TB/s device-to-device
// copy as seen on this workplace's H200s; 132 SMs x 16 MUFU ops/clk x 1.98 GHz = 4.2e12 exponentials/s;
// 4 x 32 = 128 instructions issued per clk per SM). The floor (what any implementation moves and
// computes): forward reads u, dt, z, B, C and writes out: 101 MB -> 23 us; exponentials T*E*N (a_t) +
// 3 T*E (softplus's exp, SiLU's exp and reciprocal) = 239M -> 57 us; floor 57 us (MUFU). Backward
// reads u, dt, z, dout, B, C and writes du, ddt, dz, dB, dC: 177 MB -> 41 us; the same 239M
// exponentials -> 57 us; floor 57 us (MUFU).
// This implementation also moves the checkpoints (100 MB written forward, read backward) and the
// backward's dB, dC partials (48 groups x T x N x 2 x 4 B = 50 MB written and read again): 201 MB
// forward (47 us), 377 MB backward (88 us, above its MUFU floor: the price of determinism without
// atomics and of recomputing a_t only once).
// Instructions issued (cuobjdump -sass of the bf16 N 16 kernels, nvcc 13.0, sm_90), per (t, n):
//   forward ~12.8: the recurrence 24 per step per thread for 4 states (3 LDS, 8 FMUL, 8 FFMA,
//     4 MUFU.EX2, 1 STS), staging and epilogue ~110 per (t, e) (log1pf ~25 of them) -> issue-bound
//     at ~12.8 / 128 clk vs 1.19 / 16 for the MUFU: ~1.35x its floor if latency is hidden (80
//     registers, 32 KB shared memory: 6 blocks = 24 warps per SM, 768 blocks in one wave);
//   backward ~41: the sub-tile 27 (FFMA 7, FMUL 6, FSEL 3.5 and SHFL 1.75 for the channel sums, LDS/STS
//     2.6, MUFU 1), staging 9 and the epilogue with the partial sums 4.6 -> ~4.3x its floor (128
//     registers by __launch_bounds__, 24 bytes spilled, read a few times per tile, outside the step
//     loops; 47 KB shared memory: 4 blocks = 16 warps per SM). The arithmetic alone, at its
//     minimum, is 3 FP instructions per (t, n) to recompute h, 9 for the adjoint and its gradient terms
//     and 2 to add the dB, dC terms over channels, plus the MUFU op: >= 15 issue slots, 15/128 clk
//     per SM against 1.19/16 for the MUFU, so no backward that recomputes a_t can come within 1.5x of
//     the exponentials-only floor (>= 1.58x); counted in issue slots this one is ~2.7x that bound.
// None of these figures has been measured on a GPU yet: they count instructions, not time.
#include <algorithm>

#include "kernels.h"

namespace gpu {

namespace {

constexpr int SCAN_N_MAX = 16;
constexpr int SCAN_CK = 8;         // steps between the state checkpoints forward writes for backward
constexpr int SCAN_CHANNELS = 32;  // channels per block, forward and backward
constexpr int SCAN_SPLIT = 4;      // threads per channel, each holding ceil(N / SCAN_SPLIT) states
constexpr int SCAN_THREADS = SCAN_CHANNELS * SCAN_SPLIT;
constexpr int SF_TILE = 32;        // forward: steps staged in shared memory at a time
constexpr int SB_TILE = 16;        // backward: steps staged at a time (SB_TILE / SCAN_CK sub-tiles)
constexpr int SB_NS = SCAN_N_MAX / SCAN_SPLIT;  // backward: states per thread (4; those >= N are idle)
constexpr int SF_CUT_BLOCKS_PER_SM = 2;   // below this many blocks per SM, long sequences are cut over time
constexpr int SF_CUT_TARGET_PER_SM = 4;   // into segments that make about this many
constexpr int SF_SEG_MIN = 64;           // into segments of at least this many steps (a multiple of SF_TILE)
static_assert(SF_TILE % SCAN_CK == 0 && SB_TILE % SCAN_CK == 0, "checkpoints fall on sub-tile ends");
static_assert(SB_NS == 4 && SCAN_CHANNELS % 8 == 0, "reduce_scatter8: 8 channels x 4 groups per warp");
constexpr float LOG2E = 1.4426950408889634f, LN2 = 0.6931471805599453f;

// The first checkpoint chunk (of SCAN_CK steps) of sequence s, counting ceil(len / SCAN_CK) per sequence.
__device__ int chunk_base(const int32_t* offsets, int s) {
    int base = 0;
    for (int i = 0; i < s; i++) base += (offsets[i + 1] - offsets[i] + SCAN_CK - 1) / SCAN_CK;
    return base;
}

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

// Rows t0 .. t0 + TILE - 1 of B and C into shared memory as fp32, 0 past `steps` and past N: thread tid
// takes state tid % SCAN_N_MAX of rows tid / SCAN_N_MAX + BC_STEP k.
template <int TILE, class T>
__device__ __forceinline__ void stage_bc(float (*s_B)[SCAN_N_MAX], float (*s_C)[SCAN_N_MAX], const T* Bm, const T* Cm,
                                         int ldbc, int t0, int steps, int N, int tid) {
    constexpr int BC_STEP = SCAN_THREADS / SCAN_N_MAX;
    const int n = tid % SCAN_N_MAX, rb = tid / SCAN_N_MAX;
    const size_t row = (size_t)(t0 + rb) * ldbc + n;
    UNROLL(4)
    for (int k = 0; k < TILE / BC_STEP; k++) {
        const int tt = rb + BC_STEP * k;
        const bool ok = tt < steps && n < N;
        s_B[tt][n] = ok ? to_float(Bm[row + BC_STEP * k * ldbc]) : 0.0f;
        s_C[tt][n] = ok ? to_float(Cm[row + BC_STEP * k * ldbc]) : 0.0f;
    }
}

// softplus and v sigmoid(v) with the exponential and the division in one MUFU op each (fast_exp2's few
// ulp pass through log1p with a factor below 1; __fdividef(v, inf) is 0, silu's limit at -inf).
__device__ __forceinline__ float softplus_fast(float v) { return v > 20.0f ? v : log1pf(fast_exp2(v * LOG2E)); }
__device__ __forceinline__ float silu_fast(float v) { return __fdividef(v, 1.0f + fast_exp2(-v * LOG2E)); }

// The first segment (of seg_len steps) of sequence s in the forward's summaries, as chunk_base.
__device__ int segment_base(const int32_t* offsets, int s, int seg_len) {
    int base = 0;
    for (int i = 0; i < s; i++) base += (offsets[i + 1] - offsets[i] + seg_len - 1) / seg_len;
    return base;
}

// Backward: the segments of a sequence of `len` steps (at least one, empty sequences too: every
// sequence has a row of parameter-gradient partials), and the first row of sequence s.
__device__ __forceinline__ int bwd_segments(int len, int seg_len) {
    return seg_len > 0 && len > 0 ? (len + seg_len - 1) / seg_len : 1;
}
__device__ int bwd_segment_base(const int32_t* offsets, int s, int seg_len) {
    int base = 0;
    for (int i = 0; i < s; i++) base += bwd_segments(offsets[i + 1] - offsets[i], seg_len);
    return base;
}

// out [T, E] (ldo), ckpt [chunks, E, N]. Block (channels e0 = blockIdx.x * SCAN_CHANNELS .., sequence s =
// blockIdx.y, segment q = blockIdx.z), SCAN_THREADS threads: thread (c = tid / SCAN_SPLIT, g = tid %
// SCAN_SPLIT) holds states g*NS .. g*NS+NS-1 of channel e0 + c in registers and walks the block's steps
// one tile of SF_TILE at a time. Per tile: (1) the block stages (delta, delta u) and u for its channels,
// and B, C, in shared memory, reading whole rows of 32 channels (coalesced); (2) each thread runs the
// recurrence over the tile, NS exponentials per step, and leaves its share of y (sum over its states
// of C h) in shared memory; (3) the block adds the SCAN_SPLIT shares in order, the D skip and the gate,
// and writes out's rows. States n >= N (N not a multiple of SCAN_SPLIT) and steps past the end carry
// A = 0, B = C = 0 and delta = 0: a = 1, b = 0, so h is unchanged and the loop has a fixed trip count.
// The block's steps: the whole sequence (seg_len 0), or segment q of seg_len steps. SUMMARY: only the
// segment's summary (its decay prod_t a_t = 2^(A_n log2 e sum_t delta_t) and its end state from h = 0)
// goes to seg_state [segments, E, N] (the last segment of a sequence has none to give); otherwise the
// block starts from h = the summaries of the segments before it folded by (a0, b0) o (a1, b1) =
// (a1 a0, a1 b0 + b1), and writes out and ckpt.
template <class T, int NS, bool SUMMARY>
__global__ void __launch_bounds__(SCAN_THREADS)
scan_forward_kernel(T* out, int ldo, float* ckpt, float2* seg_state, const T* u, int ldu, const T* dt, int lddt,
                    const T* Bm, const T* Cm, int ldbc, const T* z, int ldz, const float* A_log, const float* Dskip,
                    const float* dt_bias, const int32_t* offsets, int E, int N, int seg_len) {
    __shared__ float2 s_dd[SF_TILE][SCAN_CHANNELS];                       // (delta, delta u) per step, channel
    __shared__ float s_u[SF_TILE][SCAN_CHANNELS];                         // u, for the D skip
    __shared__ __align__(16) float s_B[SF_TILE][SCAN_N_MAX];            // B, C per step; 0 past N
    __shared__ __align__(16) float s_C[SF_TILE][SCAN_N_MAX];
    __shared__ __align__(16) float s_y[SF_TILE][SCAN_THREADS];            // y shares: [t][c * SCAN_SPLIT + g]
    const int tid = threadIdx.x, c = tid / SCAN_SPLIT, g = tid % SCAN_SPLIT;
    const int e0 = blockIdx.x * SCAN_CHANNELS, s = blockIdx.y, q = blockIdx.z, e = e0 + c;
    const int start = offsets[s], end = offsets[s + 1];
    const int seg = seg_len > 0 ? seg_len : end - start;  // this block's steps: [first, last)
    const int first = start + q * seg, last = min(end, first + seg);
    if (first >= end || (SUMMARY && last == end)) return;  // (the whole block: before any barrier)
    const int base = chunk_base(offsets, s), sbase = seg_len > 0 ? segment_base(offsets, s, seg_len) : 0;
    float A2[NS], h[NS];  // A_n log2(e), so that a = 2^(delta A2); the state
    for (int j = 0; j < NS; j++) {
        const int n = g * NS + j;
        A2[j] = e < E && n < N ? -expf(A_log[e * N + n]) * LOG2E : 0.0f;
        h[j] = 0.0f;
        if (!SUMMARY && e < E && n < N)
            for (int p = 0; p < q; p++) {  // the state at `first`, from the segments before
                const float2 pb = seg_state[((size_t)(sbase + p) * E + e) * N + n];
                h[j] = pb.x * h[j] + pb.y;
            }
    }
    float dl_sum = 0.0f;  // SUMMARY: sum of delta over the segment, this thread's channel
    // Staging and the epilogue: this thread's column cc of the block's channels, rows r0 + ROW_STEP k.
    constexpr int ROW_STEP = SCAN_THREADS / SCAN_CHANNELS, ROWS = SF_TILE / ROW_STEP;
    const int cc = tid % SCAN_CHANNELS, r0 = tid / SCAN_CHANNELS, ec = e0 + cc;
    const float bias_c = ec < E ? dt_bias[ec] : 0.0f, D_c = ec < E ? Dskip[ec] : 0.0f;
    for (int t0 = first; t0 < last; t0 += SF_TILE) {
        const int steps = min(SF_TILE, last - t0);
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
        stage_bc<SF_TILE>(s_B, s_C, Bm, Cm, ldbc, t0, steps, N, tid);
        __syncthreads();
        if constexpr (SUMMARY) {
            UNROLL(8)
            for (int tt = 0; tt < SF_TILE; tt++) {
                const float2 dd = s_dd[tt][c];
                dl_sum += dd.x;
                UNROLL(4)
                for (int j = 0; j < NS; j++) h[j] = fast_exp2(dd.x * A2[j]) * h[j] + dd.y * s_B[tt][g * NS + j];
            }
            __syncthreads();  // the next tile's staging rewrites s_dd and s_B
        } else {
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
                if (ckpt != nullptr && (tt + 1) % SCAN_CK == 0 && tt < steps && e < E) {  // the end of chunk k
                    const size_t k = base + (t0 - start + tt) / SCAN_CK;
                    for (int j = 0; j < NS; j++)
                        if (g * NS + j < N) ckpt[(k * E + e) * N + g * NS + j] = h[j];
                }
            }
            __syncthreads();
            UNROLL(8)
            for (int k = 0; k < ROWS; k++) {
                const int tt = r0 + ROW_STEP * k;
                if (tt >= steps || ec >= E) continue;
                float y = D_c * s_u[tt][cc];
                for (int q = 0; q < SCAN_SPLIT; q++) y += s_y[tt][cc * SCAN_SPLIT + q];
                const float zz = to_float(z[row0 * ldz + ec + ROW_STEP * k * ldz]);
                out[row0 * ldo + ec + ROW_STEP * k * ldo] = from_float<T>(y * silu_fast(zz));
            }
            // No barrier here: of what the next tile's staging writes, this loop reads only s_u, and only the
            // entries this same thread wrote (staging and epilogue share the thread's column and rows); s_y
            // is written again only after the next barrier.
        }
    }
    if (SUMMARY && e < E)
        for (int j = 0; j < NS; j++)
            if (g * NS + j < N)
                seg_state[((size_t)(sbase + q) * E + e) * N + g * NS + j] =
                    make_float2(fast_exp2(A2[j] * dl_sum), h[j]);
}

// The sums over a warp's 8 channels (lanes cl * 4 + g, cl = lane / 4) of eight values per lane, spread
// out so that lane (cl, g) returns the sum of value cl over the lanes with its g: three halving
// exchanges with the lanes 16, 8 and 4 apart, 7 shuffles instead of 24 for eight whole sums. The
// additions happen in a fixed order, so the result does not depend on timing.
__device__ __forceinline__ float reduce_scatter8(const float (&v)[8], int cl) {
    const bool hi4 = cl & 4, hi2 = cl & 2, hi1 = cl & 1;
    float w[4], x[2];
    for (int i = 0; i < 4; i++) {  // keep values 0..3 (or 4..7), send the other half to lane ^ 16
        const float keep = hi4 ? v[i + 4] : v[i], send = hi4 ? v[i] : v[i + 4];
        w[i] = keep + __shfl_xor_sync(0xffffffffu, send, 16);
    }
    for (int i = 0; i < 2; i++) {
        const float keep = hi2 ? w[i + 2] : w[i], send = hi2 ? w[i] : w[i + 2];
        x[i] = keep + __shfl_xor_sync(0xffffffffu, send, 8);
    }
    const float keep = hi1 ? x[1] : x[0], send = hi1 ? x[0] : x[1];
    return keep + __shfl_xor_sync(0xffffffffu, send, 4);
}

// Block (channels e0 = blockIdx.x * SCAN_CHANNELS .., sequence s = blockIdx.y), SCAN_THREADS threads:
// thread (c = tid / SCAN_SPLIT, g = tid % SCAN_SPLIT) owns states g*4 .. g*4+3 of channel e0 + c and walks
// the sequence backwards, one tile of SB_TILE steps at a time, each tile as SB_TILE / SCAN_CK sub-tiles
// of SCAN_CK steps, last first. Per tile: (1) the block stages per (t, e) delta, delta u, dy = dout
// SiLU(z), u, d delta / dv and d out / dy... (kz), and B, C, in shared memory; (2) per sub-tile each
// thread recomputes its states from the forward's checkpoint, keeping a_t and h_{t-1} in registers, and
// leaves its y share, then walks the sub-tile backwards: dh, the shares sum_n dh B_n and sum_n dh a h
// A_n log2 e, dA_n in registers, and the dB, dC terms, which reduce_scatter8 sums over the warp's
// channels into shared memory; (3) the block writes du, ddt, dz per (t, e), and this block's dB, dC
// partial sums over its 32 channels (the 4 warps added in order) to part_B, part_C [groups, T, N].
// At the end: dA (before the factor A) per (channel, state) and dD, dbias per channel into part_p
// [B, E, N+2]. Channels past E, states past N and steps past the sequence's end carry zeros.
template <class T>
__global__ void __launch_bounds__(SCAN_THREADS, 4)  // 4 blocks (16 warps) per SM: at most 128 registers
scan_backward_kernel(T* du, int lddu, T* ddt, int ldddt, T* dz, int lddz, float* part_B, float* part_C,
                     float* part_p, const float2* seg_state, const T* dout, int lddo, const float* ckpt, const T* u,
                     int ldu, const T* dt, int lddt, const T* Bm, const T* Cm, int ldbc, const T* z, int ldz,
                     const float* A_log, const float* Dskip, const float* dt_bias, const int32_t* offsets, int Tn,
                     int E, int N, int seg_len) {
    constexpr int WARPS = SCAN_THREADS / 32, ROW_STEP = SCAN_THREADS / SCAN_CHANNELS, ROWS = SB_TILE / ROW_STEP;
    __shared__ float2 s_dd[SB_TILE][SCAN_CHANNELS];  // (delta, delta u)
    __shared__ float s_dy[SB_TILE][SCAN_CHANNELS];   // dy = dout SiLU(z)
    __shared__ float s_u[SB_TILE][SCAN_CHANNELS];
    __shared__ float s_sv[SB_TILE][SCAN_CHANNELS];   // d delta / dv = sigmoid(v) (1 past softplus's threshold)
    __shared__ float s_kz[SB_TILE][SCAN_CHANNELS];   // dout SiLU'(z), so that dz = y kz
    __shared__ __align__(16) float s_B[SB_TILE][SCAN_N_MAX];  // B, C per step; 0 past N
    __shared__ __align__(16) float s_C[SB_TILE][SCAN_N_MAX];
    __shared__ float s_y[SB_TILE][SCAN_THREADS];     // per thread: sum over its states of C h
    __shared__ float s_s1[SB_TILE][SCAN_THREADS];    //   sum of dh B
    __shared__ float s_s2[SB_TILE][SCAN_THREADS];    //   sum of dh a h_{t-1} A log2 e
    __shared__ float s_red[SB_TILE][WARPS][32];      // lane (cl, g): dB (cl < 4) or dC of state g*4 + cl%4
    __shared__ float s_acc[2][SCAN_THREADS];         // dD, dbias of each staging thread
    const int tid = threadIdx.x, c = tid / SCAN_SPLIT, g = tid % SCAN_SPLIT;
    const int warp = tid / 32, lane = tid % 32, cl = lane / SCAN_SPLIT;
    const int e0 = blockIdx.x * SCAN_CHANNELS, s = blockIdx.y, sq = blockIdx.z, e = e0 + c;
    const int start = offsets[s], end = offsets[s + 1];
    const int nseg = bwd_segments(end - start, seg_len);
    if (sq >= nseg) return;  // (the whole block: before any barrier)
    const int seg = seg_len > 0 ? seg_len : end - start;  // this block's steps: [first, last)
    const int first = start + sq * seg, last = min(end, first + seg);
    const int base = chunk_base(offsets, s), row = bwd_segment_base(offsets, s, seg_len) + sq;
    float A2[SB_NS], q[SB_NS], dA[SB_NS];  // A_n log2 e; the adjoint carry q_t = a_t dh_t; dA_n / A_n
    for (int j = 0; j < SB_NS; j++) {
        const int n = g * SB_NS + j;
        A2[j] = e < E && n < N ? -expf(A_log[e * N + n]) * LOG2E : 0.0f;
        q[j] = 0.0f, dA[j] = 0.0f;
        if (e < E && n < N)
            for (int p = nseg - 1; p > sq; p--) {  // the carry from the segments after this one, last first
                const float2 pq = seg_state[((size_t)(row - sq + p) * E + e) * N + n];
                q[j] = pq.x * q[j] + pq.y;
            }
    }
    // Staging and the epilogue: this thread's column cc of the block's channels, rows r0 + ROW_STEP k.
    const int cc = tid % SCAN_CHANNELS, r0 = tid / SCAN_CHANNELS, ec = e0 + cc;
    const float bias_c = ec < E ? dt_bias[ec] : 0.0f, D_c = ec < E ? Dskip[ec] : 0.0f;
    float dD = 0.0f, dbias = 0.0f;
    for (int t0 = first + (last - first - 1) / SB_TILE * SB_TILE; t0 >= first; t0 -= SB_TILE) {
        const int steps = min(SB_TILE, last - t0);
        const size_t row0 = (size_t)(t0 + r0);
        UNROLL(4)
        for (int k = 0; k < ROWS; k++) {
            const int tt = r0 + ROW_STEP * k;
            float dl = 0.0f, uu = 0.0f, dy = 0.0f, sv = 0.0f, kz = 0.0f;
            if (tt < steps && ec < E) {
                uu = to_float(u[row0 * ldu + ec + ROW_STEP * k * ldu]);
                const float v = to_float(dt[row0 * lddt + ec + ROW_STEP * k * lddt]) + bias_c;
                const float zz = to_float(z[row0 * ldz + ec + ROW_STEP * k * ldz]);
                const float go = to_float(dout[row0 * lddo + ec + ROW_STEP * k * lddo]);
                if (v > 20.0f) {
                    dl = v, sv = 1.0f;
                } else {
                    const float x = fast_exp2(v * LOG2E);
                    dl = log1pf(x), sv = __fdividef(x, 1.0f + x);
                }
                const float sz = __fdividef(1.0f, 1.0f + fast_exp2(-zz * LOG2E));  // sigmoid(z)
                dy = go * zz * sz;
                kz = go * sz * (1.0f + zz * (1.0f - sz));
            }
            s_dd[tt][cc] = make_float2(dl, dl * uu);
            s_dy[tt][cc] = dy, s_u[tt][cc] = uu, s_sv[tt][cc] = sv, s_kz[tt][cc] = kz;
        }
        stage_bc<SB_TILE>(s_B, s_C, Bm, Cm, ldbc, t0, steps, N, tid);
        __syncthreads();
        for (int tb = SB_TILE - SCAN_CK; tb >= 0; tb -= SCAN_CK) {
            if (tb >= steps) continue;  // past the sequence's end (the same for the whole block)
            const int kc = (t0 - start + tb) / SCAN_CK;  // the sub-tile's checkpoint chunk
            float h[SB_NS], a[SCAN_CK][SB_NS], hp[SCAN_CK][SB_NS];
            for (int j = 0; j < SB_NS; j++)
                h[j] = kc > 0 && e < E && g * SB_NS + j < N
                           ? ckpt[((size_t)(base + kc - 1) * E + e) * N + g * SB_NS + j]
                           : 0.0f;
            UNROLL(8)
            for (int i = 0; i < SCAN_CK; i++) {  // the states again, keeping a_t and h_{t-1}
                const int tt = tb + i;
                const float2 dd = s_dd[tt][c];
                float y = 0.0f;
                UNROLL(4)
                for (int j = 0; j < SB_NS; j++) {
                    a[i][j] = fast_exp2(dd.x * A2[j]);
                    hp[i][j] = h[j];
                    h[j] = a[i][j] * h[j] + dd.y * s_B[tt][g * SB_NS + j];
                    y += s_C[tt][g * SB_NS + j] * h[j];
                }
                s_y[tt][tid] = y;
            }
            UNROLL(8)
            for (int i = SCAN_CK - 1; i >= 0; i--) {  // the adjoint: dh_t = dy_t C_t + a_{t+1} dh_{t+1}
                const int tt = tb + i;
                const float2 dd = s_dd[tt][c];
                const float dy = s_dy[tt][c];
                float s1 = 0.0f, s2 = 0.0f, terms[2 * SB_NS];
                UNROLL(4)
                for (int j = 0; j < SB_NS; j++) {
                    const float Bn = s_B[tt][g * SB_NS + j], Cn = s_C[tt][g * SB_NS + j];
                    const float dh = dy * Cn + q[j];
                    const float ah = a[i][j] * hp[i][j];  // a_t h_{t-1}
                    const float w = dh * ah;
                    s2 += w * A2[j];
                    dA[j] += w * dd.x;
                    s1 += dh * Bn;
                    terms[j] = dh * dd.y;                    // dB[t, n] term: dh delta u
                    terms[SB_NS + j] = dy * (ah + dd.y * Bn);  // dC[t, n] term: dy h_t
                    q[j] = a[i][j] * dh;
                }
                s_s1[tt][tid] = s1, s_s2[tt][tid] = s2;
                s_red[tt][warp][lane] = reduce_scatter8(terms, cl);
            }
        }
        __syncthreads();
        UNROLL(4)
        for (int k = 0; k < ROWS; k++) {
            const int tt = r0 + ROW_STEP * k;
            if (tt >= steps || ec >= E) continue;
            const float uu = s_u[tt][cc], dy = s_dy[tt][cc], dl = s_dd[tt][cc].x;
            float y = D_c * uu, s1 = 0.0f, s2 = 0.0f;
            for (int q4 = 0; q4 < SCAN_SPLIT; q4++) {
                y += s_y[tt][cc * SCAN_SPLIT + q4];
                s1 += s_s1[tt][cc * SCAN_SPLIT + q4];
                s2 += s_s2[tt][cc * SCAN_SPLIT + q4];
            }
            // ddelta = sum_n dh (B u + a h_{t-1} A); dv = ddelta d delta / dv
            const float dv = (uu * s1 + LN2 * s2) * s_sv[tt][cc];
            du[row0 * lddu + ec + ROW_STEP * k * lddu] = from_float<T>(dl * s1 + dy * D_c);
            ddt[row0 * ldddt + ec + ROW_STEP * k * ldddt] = from_float<T>(dv);
            dz[row0 * lddz + ec + ROW_STEP * k * lddz] = from_float<T>(y * s_kz[tt][cc]);
            dD += dy * uu;
            dbias += dv;
        }
        {  // this block's dB, dC: warp r0 sums lane `lane` of every warp's s_red rows r0 + ROW_STEP k, in order
            const int n = g * SB_NS + cl % SB_NS;
            float* dst = (cl < SB_NS ? part_B : part_C) + ((size_t)blockIdx.x * Tn + t0 + r0) * N + n;
            UNROLL(4)
            for (int k = 0; k < ROWS; k++) {
                const int tt = r0 + ROW_STEP * k;
                if (tt >= steps || n >= N) continue;
                float sum = 0.0f;
                for (int w = 0; w < WARPS; w++) sum += s_red[tt][w][lane];
                dst[ROW_STEP * k * N] = sum;
            }
        }
        __syncthreads();  // the next tile's staging overwrites what this epilogue reads
    }
    for (int j = 0; j < SB_NS; j++)
        if (e < E && g * SB_NS + j < N) part_p[((size_t)row * E + e) * (N + 2) + g * SB_NS + j] = dA[j];
    s_acc[0][tid] = dD, s_acc[1][tid] = dbias;
    __syncthreads();
    if (tid < SCAN_CHANNELS && e0 + tid < E) {
        float sD = 0.0f, sb = 0.0f;
        for (int r = 0; r < ROW_STEP; r++)
            sD += s_acc[0][tid + r * SCAN_CHANNELS], sb += s_acc[1][tid + r * SCAN_CHANNELS];
        part_p[((size_t)row * E + e0 + tid) * (N + 2) + N] = sD;
        part_p[((size_t)row * E + e0 + tid) * (N + 2) + N + 1] = sb;
    }
}

// Backward pass 1 for long sequences cut into segments (seg_len > 0): per segment sq >= 1 of sequence s,
// channel e, state n, the pair (prod_t a_t, q_first) that carries the adjoint across it: q at its first
// step is prod_t a_t times the carry entering its last step, plus q_first, the q it reaches from a carry
// of 0 (q_t = a_t (dy_t C_t + q_{t+1}) is linear in the carry). Into seg_state [rows, E, N] at the
// segment's row. Same grid and mapping as the main kernel; staging of delta, dy and C only.
template <class T>
__global__ void __launch_bounds__(SCAN_THREADS)
scan_backward_summary_kernel(float2* seg_state, const T* dout, int lddo, const T* dt, int lddt, const T* Cm, int ldbc,
                             const T* z, int ldz, const float* A_log, const float* dt_bias, const int32_t* offsets,
                             int E, int N, int seg_len) {
    constexpr int ROW_STEP = SCAN_THREADS / SCAN_CHANNELS, ROWS = SB_TILE / ROW_STEP;
    __shared__ float2 s_dy[SB_TILE][SCAN_CHANNELS];  // (delta, dy)
    __shared__ __align__(16) float s_C[SB_TILE][SCAN_N_MAX];
    const int tid = threadIdx.x, c = tid / SCAN_SPLIT, g = tid % SCAN_SPLIT;
    const int e0 = blockIdx.x * SCAN_CHANNELS, s = blockIdx.y, sq = blockIdx.z, e = e0 + c;
    const int start = offsets[s], end = offsets[s + 1];
    const int nseg = bwd_segments(end - start, seg_len);
    if (sq == 0 || sq >= nseg) return;  // the first segment passes nothing on (the whole block)
    const int first = start + sq * seg_len, last = min(end, first + seg_len);
    const int row = bwd_segment_base(offsets, s, seg_len) + sq;
    float A2[SB_NS], q[SB_NS];
    for (int j = 0; j < SB_NS; j++) {
        const int n = g * SB_NS + j;
        A2[j] = e < E && n < N ? -expf(A_log[e * N + n]) * LOG2E : 0.0f;
        q[j] = 0.0f;
    }
    const int cc = tid % SCAN_CHANNELS, r0 = tid / SCAN_CHANNELS, ec = e0 + cc;
    const float bias_c = ec < E ? dt_bias[ec] : 0.0f;
    float dl_sum = 0.0f;
    for (int t0 = first + (last - first - 1) / SB_TILE * SB_TILE; t0 >= first; t0 -= SB_TILE) {
        const int steps = min(SB_TILE, last - t0);
        const size_t row0 = (size_t)(t0 + r0);
        for (int k = 0; k < ROWS; k++) {
            const int tt = r0 + ROW_STEP * k;
            float dl = 0.0f, dy = 0.0f;
            if (tt < steps && ec < E) {
                dl = softplus_fast(to_float(dt[row0 * lddt + ec + ROW_STEP * k * lddt]) + bias_c);
                const float zz = to_float(z[row0 * ldz + ec + ROW_STEP * k * ldz]);
                dy = to_float(dout[row0 * lddo + ec + ROW_STEP * k * lddo]) * silu_fast(zz);
            }
            s_dy[tt][cc] = make_float2(dl, dy);
        }
        stage_bc<SB_TILE>(s_C, s_C, Cm, Cm, ldbc, t0, steps, N, tid);  // (C only: both destinations s_C)
        __syncthreads();
        UNROLL(4)
        for (int tt = SB_TILE - 1; tt >= 0; tt--) {
            const float2 dd = s_dy[tt][c];
            dl_sum += dd.x;
            UNROLL(4)
            for (int j = 0; j < SB_NS; j++) q[j] = fast_exp2(dd.x * A2[j]) * (dd.y * s_C[tt][g * SB_NS + j] + q[j]);
        }
        __syncthreads();  // the next tile's staging rewrites s_dy and s_C
    }
    if (e < E)
        for (int j = 0; j < SB_NS; j++)
            if (g * SB_NS + j < N)
                seg_state[((size_t)row * E + e) * N + g * SB_NS + j] = make_float2(fast_exp2(A2[j] * dl_sum), q[j]);
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

// dA_log [E, N] += A * sum dA; dDskip [E], ddt_bias [E] += the sums of the rows of part_p [rows, E, N+2]
// (one per sequence and segment), in row order.
__global__ void scan_sum_params_kernel(float* dA_log, float* dDskip, float* ddt_bias, const float* part_p,
                                       const float* A_log, const int32_t* offsets, int B, int E, int N,
                                       int seg_len) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= E * (N + 2)) return;
    const int e = i / (N + 2), j = i % (N + 2);
    int rows = 0;
    for (int s = 0; s < B; s++) rows += bwd_segments(offsets[s + 1] - offsets[s], seg_len);
    float sum = 0.0f;
    for (int r = 0; r < rows; r++) sum += part_p[(size_t)r * E * (N + 2) + i];
    if (j < N) dA_log[e * N + j] += sum * -expf(A_log[e * N + j]);
    else if (j == N) dDskip[e] += sum;
    else ddt_bias[e] += sum;
}

}  // namespace

size_t scan_checkpoint_size(int B, int Tn, int E, int N) {
    return ((size_t)Tn / SCAN_CK + B) * E * N;  // chunks <= sum_s (len_s / SCAN_CK + 1)
}
size_t scan_backward_scratch(int B, int Tn, int E, int N) {  // part_B, part_C; part_p and the summaries per row
    return 2 * (size_t)ceil_div(E, SCAN_CHANNELS) * Tn * N + ((size_t)Tn / SF_SEG_MIN + B) * E * (N + 2 + 2 * N);
}

static void check_scan_n(int N) {
    if (N > SCAN_N_MAX) {
        std::fprintf(stderr, "error: selective scan: d_state %d is not supported on CUDA (at most %d)\n", N, SCAN_N_MAX);
        std::exit(1);
    }
}

// Long sequences in small batches: below SF_CUT_BLOCKS_PER_SM blocks per SM (8 warps), each sequence is
// cut into segments of seg_len steps (a multiple of SF_TILE, at least SF_SEG_MIN) so that about
// SF_CUT_TARGET_PER_SM blocks per SM run, forward and backward; 0: no cut. The cut costs a first pass
// over the data (one more exponential per (t, n) forward, per (t, n) of all segments but the first
// backward), so it is taken only where parallelism is short.
static int scan_segment_length(int B, int Tn, int E) {
    static int sms = 0;
    if (sms == 0) {
        int dev = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    }
    const long groups = ceil_div(E, SCAN_CHANNELS), want = (long)SF_CUT_TARGET_PER_SM * sms;
    if (groups * B >= (long)SF_CUT_BLOCKS_PER_SM * sms) return 0;
    const long seg = std::max<long>(SF_SEG_MIN, groups * Tn / want / SF_TILE * SF_TILE);
    return seg >= Tn ? 0 : (int)seg;
}

// The kernels read B and C (and write dB and dC) with one row stride.
static void check_bc_stride(int ldb, int ldc) {
    if (ldb != ldc) {
        std::fprintf(stderr, "error: selective scan: B and C have row strides %d and %d; CUDA needs one\n", ldb,
                     ldc);
        std::exit(1);
    }
}

static void check_segment_length(int seg_len) {
    if (seg_len != 0 && (seg_len % SF_TILE != 0 || seg_len < SF_SEG_MIN)) {
        std::fprintf(stderr, "error: selective scan: segment length %d is not a multiple of %d of at least %d\n",
                     seg_len, SF_TILE, SF_SEG_MIN);
        std::exit(1);
    }
}

size_t scan_forward_scratch(int B, int Tn, int E, int N) {
    return 2 * ((size_t)Tn / SF_SEG_MIN + B) * E * N;  // float2 per (segment, channel, state)
}

template <class T>
void scan_forward(Strided<T> out, float* ckpt, float* scratch, const ScanInputs<T>& in,
                  const ScanWeights<float>& weights, const ScanDims& dims, cudaStream_t stream, int seg_len) {
    const int B = dims.B, Tn = dims.Tn, E = dims.E, N = dims.N;
    check_scan_n(N);
    check_bc_stride(in.Bm.ld, in.Cm.ld);
    if (Tn == 0) return;
    if (seg_len == 0) seg_len = scan_segment_length(B, Tn, E);
    if (seg_len >= Tn) seg_len = 0;
    check_segment_length(seg_len);
    // Segments of any one sequence: at most ceil(Tn / seg_len) (the launch's z; blocks past their
    // sequence's end return at once).
    const dim3 grid(ceil_div(E, SCAN_CHANNELS), B, seg_len ? ceil_div(Tn, seg_len) : 1);
    float2* seg_state = reinterpret_cast<float2*>(scratch);
    auto go = [&](auto summary_kernel, auto kernel) {
        if (seg_len)  // pass 1: every segment's decay and end state from h = 0, all at once
            launch(summary_kernel, grid, dim3(SCAN_THREADS), 0, stream, out.p, out.ld, ckpt, seg_state, in.u.p,
                   in.u.ld, in.dt.p, in.dt.ld, in.Bm.p, in.Cm.p, in.Bm.ld, in.z.p, in.z.ld, weights.A_log,
                   weights.Dskip, weights.dt_bias, dims.offsets, E, N, seg_len);
        CUDA_CHECK_LAUNCH();
        launch(kernel, grid, dim3(SCAN_THREADS), 0, stream, out.p, out.ld, ckpt, seg_state, in.u.p, in.u.ld, in.dt.p,
               in.dt.ld, in.Bm.p, in.Cm.p, in.Bm.ld, in.z.p, in.z.ld, weights.A_log, weights.Dskip, weights.dt_bias,
               dims.offsets, E, N, seg_len);
    };
    switch ((N + SCAN_SPLIT - 1) / SCAN_SPLIT) {  // states per thread
        case 1: go(scan_forward_kernel<T, 1, true>, scan_forward_kernel<T, 1, false>); break;
        case 2: go(scan_forward_kernel<T, 2, true>, scan_forward_kernel<T, 2, false>); break;
        case 3: go(scan_forward_kernel<T, 3, true>, scan_forward_kernel<T, 3, false>); break;
        default: go(scan_forward_kernel<T, 4, true>, scan_forward_kernel<T, 4, false>); break;
    }
    CUDA_CHECK_LAUNCH();
}

template <class T>
void scan_backward(const ScanGrads<T, float>& grads, float* scratch, Strided<const T> dout, const float* ckpt,
                   const ScanInputs<T>& in, const ScanWeights<float>& weights, const ScanDims& dims,
                   cudaStream_t stream, int seg_len) {
    const int B = dims.B, Tn = dims.Tn, E = dims.E, N = dims.N;
    check_scan_n(N);
    check_bc_stride(in.Bm.ld, in.Cm.ld);
    check_bc_stride(grads.dBm.ld, grads.dCm.ld);
    if (Tn == 0) return;
    if (seg_len == 0) seg_len = scan_segment_length(B, Tn, E);
    if (seg_len >= Tn) seg_len = 0;
    check_segment_length(seg_len);
    const int groups = (int)ceil_div(E, SCAN_CHANNELS);
    const size_t rows = (size_t)Tn / SF_SEG_MIN + B;        // rows of (sequence, segment): a bound
    float* part_B = scratch;                                // [groups, T, N]
    float* part_C = part_B + (size_t)groups * Tn * N;       // [groups, T, N]
    float* part_p = part_C + (size_t)groups * Tn * N;       // [rows, E, N+2]
    float2* seg_state = reinterpret_cast<float2*>(part_p + rows * E * (N + 2));  // [rows, E, N]
    const dim3 grid(groups, B, seg_len ? ceil_div(Tn, seg_len) : 1);
    if (seg_len) {
        launch(scan_backward_summary_kernel<T>, grid, dim3(SCAN_THREADS), 0, stream, seg_state, dout.p, dout.ld,
               in.dt.p, in.dt.ld, in.Cm.p, in.Cm.ld, in.z.p, in.z.ld, weights.A_log, weights.dt_bias, dims.offsets, E,
               N, seg_len);
        CUDA_CHECK_LAUNCH();
    }
    launch(scan_backward_kernel<T>, grid, dim3(SCAN_THREADS), 0, stream, grads.du.p, grads.du.ld, grads.ddt.p,
           grads.ddt.ld, grads.dz.p, grads.dz.ld, part_B, part_C, part_p, seg_state, dout.p, dout.ld, ckpt, in.u.p,
           in.u.ld, in.dt.p, in.dt.ld, in.Bm.p, in.Cm.p, in.Bm.ld, in.z.p, in.z.ld, weights.A_log, weights.Dskip,
           weights.dt_bias, dims.offsets, Tn, E, N, seg_len);
    CUDA_CHECK_LAUNCH();
    launch(scan_sum_bc_kernel<T>, dim3(ceil_div((long)Tn * N, 256)), dim3(256), 0, stream, grads.dBm.p, grads.dCm.p,
           grads.dBm.ld, part_B, part_C, groups, Tn, N);
    CUDA_CHECK_LAUNCH();
    launch(scan_sum_params_kernel, dim3(ceil_div((long)E * (N + 2), 256)), dim3(256), 0, stream, grads.dA_log,
           grads.dDskip, grads.ddt_bias, part_p, weights.A_log, dims.offsets, B, E, N, seg_len);
    CUDA_CHECK_LAUNCH();
}

#define INSTANTIATE(T)                                                                                             \
    template void scan_forward<T>(Strided<T>, float*, float*, const ScanInputs<T>&, const ScanWeights<float>&,    \
                                  const ScanDims&, cudaStream_t, int);                                             \
    template void scan_backward<T>(const ScanGrads<T, float>&, float*, Strided<const T>, const float*,            \
                                   const ScanInputs<T>&, const ScanWeights<float>&, const ScanDims&, cudaStream_t, \
                                   int);
INSTANTIATE(float)
INSTANTIATE(__nv_bfloat16)

}  // namespace gpu
