// The linear layers' three GEMMs (matmul.cpp) in bf16 on Intel AMX: inputs are fp32 in memory, rounded to
// bf16 (round to nearest even, the VCVTNE2PS2BF16 instruction) while they are packed into tiles, multiplied
// by TDPBF16PS, accumulated in fp32 and written in fp32. The same precision contract as the GPU's bf16
// mode: bf16 GEMM inputs, fp32 accumulation, fp32 master weights.
//
//   out[M, Nout] (+)= a[M, Kin] @ w[Nout, Kin]^T     (WRITTEN, or += if accumulate)
//   da[M, Kin]   (+)= dout[M, Nout] @ w              (WRITTEN, or += if accumulate_da; skipped if da is null)
//   dw[Nout, Kin] += dout^T @ a                      (ACCUMULATED; skipped if dw is null)
//
// Arguments and leading dimensions as in matmul.cpp (a, out, da, dout may be column slices). All three are
// one GEMM C[Mc, Nc] (+)= A[Mc, Kc] @ B[Kc, Nc] whose operands are read from memory either "x-major"
// (element (x, k) at p[x*ld + k]) or "k-major" (at p[k*ld + x]):
//
//   GEMM      Mc    Nc    Kc    A                      B
//   forward   M     Nout  Kin   a      x-major          w      x-major (w[n][k])
//   da        M     Kin   Nout  dout   x-major          w      k-major (w[k][n])
//   dw        Nout  Kin   M     dout   k-major (dout^T) a      k-major (a[t][n])
//
// The tile instruction. TDPBF16PS C, A, B with C a 16 x 16 fp32 tile, A a 16 x 32 bf16 tile (16 rows of
// 64 bytes) and B a 16 x 32 bf16 tile in the "VNNI" pair-interleaved layout:
//   C[m][n] += sum_{p<16} A[m][2p] * B[p][2n] + A[m][2p+1] * B[p][2n+1]
// i.e. row p of the B tile holds, for n = 0..15, the pair (B[2p][n], B[2p+1][n]) of the logical 32 x 16
// matrix as one 32-bit word. Each product of two bf16 is exact in fp32; the sums are fp32.
//
// Packing (every tile 1 KiB, 64-byte aligned; K padded with zeros to a multiple of 32, M and N to 16):
//   A tile (i, kk) = rows 16i..16i+15, k 32kk..32kk+31, row-major 16 x 32 bf16. From an x-major source
//     each tile row is 32 consecutive floats (two masked loads, one convert). From a k-major source (dw's
//     dout^T) two source rows k, k+1 give, per m, the 32-bit pair (A[m][k], A[m][k+1]): sixteen such
//     vectors are the tile's columns, and a 16 x 16 transpose of 32-bit words makes its rows.
//   B tile (j, kk) = k 32kk..32kk+31, columns 16j..16j+15, VNNI. From a k-major source row p of the tile is
//     source rows 2p and 2p+1 interleaved (one convert of both, one word permute). From an x-major source
//     (forward's w[n][k]) 32 consecutive floats of row n are column n of the tile: convert, then transpose.
//   A chunk of packed A is Mt x S tiles ordered [i][kk], of B Nt x S tiles ordered [j][kk] (Mt =
//   ceil(Mc/16), Nt = ceil(Nc/16), S <= 32 K steps of the chunk), so the K loop walks consecutive KiBs.
//   Edges: masked loads (lanes past the slice are never read, so a slice's neighbours may hold NaN) and
//   zero rows; padded K is zero in both A and B.
//   dw is computed as dout^T a (transposing dout while packing) or, when Kin < Nout, as dw^T = a^T dout
//   (transposing the narrower a) with C stored transposed; the other two GEMMs transpose nothing but
//   forward's w, the small operand.
//
// Blocking and threads. K is cut into chunks of at most 32 steps (1024 deep); per chunk the team packs
// that chunk's A and B tiles (a static split of the tile list) into one of two alternating buffers, meets
// at a barrier, and computes; the alternation makes that the only barrier per chunk (a thread reaches the
// packing of chunk c+2 into chunk c's buffers only after every thread passed the barrier of chunk c+1,
// i.e. finished computing chunk c). The micro-kernel owns a block of 2 x 2 C tiles (32 x 32 fp32) in
// tiles 0-3, loads two A tiles (4, 5) and two B tiles (6, 7) per 32-deep K step and issues four
// TDPBF16PS: one 1 KiB tile load per 16 x 16 x 32 product. It runs the chunk's K steps with C in tiles;
// interior blocks load C from memory first (when accumulating, or for every chunk after the first) and
// store straight to C, edge blocks go through a 32 x 32 buffer on the stack and add or write only the
// valid part. The blocks of C are split among the threads in contiguous ranges along the dimension with
// more blocks; within a thread the loop is m-group (as many 32-row blocks as keep ~768 KiB of packed A in
// L2) > n-block > m-block, so a 32-column panel of B is reused across the group and the group of A
// across every panel. Each C element is computed by one thread in a fixed order (chunks in order, the K
// steps in order within a chunk): results are bit-identical run to run, for any thread count.
//
// Memory: the packed chunks live in per-calling-thread buffers (thread_local, two for A and two for B,
// each (Mt or Nt) x min(Kt, 32) KiB), grown when a larger shape first appears and never shrunk: no
// allocation in steady state. Each thread that computes loads its tile configuration on entering the
// parallel region and releases the tiles on leaving it.
//
// Cost per call: FLOPs 2 Mc Nc Kc useful (the tiles compute 2 (16 Mt)(16 Nt)(32 Kt), padding included).
// Bytes from memory: read the fp32 operands once, Mc Kc + Kc Nc floats (the conversion pass writes them
// as bf16 into the chunk buffers, which stay in cache when a chunk fits: (Mt + Nt) S KiB), and read (when
// accumulating or Kt > 32: once per chunk) and write Mc Nc floats of C. From cache: the packed group of A
// once per 32-column panel of B, each panel once per group.
//
// Availability: the AMX code is compiled for AMX whatever -march says (a target pragma), and runs only
// after amx_available() found the CPU features (cpuid), the OS's tile state enabled (XCR0) and the
// kernel's permission granted (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), Linux >= 5.16); the
// check is done once per process (a function-local static: thread-safe).
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/common.h"
#include "cpu/layers.h"

namespace cpu {

// ---- detection -----------------------------------------------------------------------------------
static const char* detect_amx() {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return "cpuid leaf 7 missing";
    const bool avx512 = (b >> 16 & 1) && (b >> 30 & 1), tile = d >> 24 & 1, amx_bf16 = d >> 22 & 1;
    if (!avx512 || !tile || !amx_bf16) return "the CPU lacks AMX (amx_tile, amx_bf16) or AVX-512";
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a >> 5 & 1)) return "the CPU lacks avx512_bf16";
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c >> 27 & 1)) return "the OS does not enable XSAVE";
    unsigned lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    const unsigned need = 0x6 | 0xe0 | 0x60000;  // SSE/AVX, opmask/ZMM state, XTILECFG/XTILEDATA
    if ((lo & need) != need) return "the OS does not enable the AVX-512 or AMX register state (XCR0)";
    const long ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
        return "the kernel refused AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM; needs Linux >= 5.16)";
    return nullptr;
}

bool amx_available(const char** why) {
    static const char* const fault = detect_amx();
    if (why) *why = fault;
    return fault == nullptr;
}

// ---- packing buffers -----------------------------------------------------------------------------
struct TileBuffer {
    uint16_t* p = nullptr;
    size_t cap = 0;  // in bf16 elements
    uint16_t* reserve(size_t n) {
        if (n > cap) {
            std::free(p);
            cap = std::max(n, cap * 3 / 2);
            p = (uint16_t*)std::aligned_alloc(64, (cap * 2 + 63) / 64 * 64);
            if (!p) fatal("out of memory for %zu bytes of bf16 GEMM tiles", cap * 2);
        }
        return p;
    }
    ~TileBuffer() { std::free(p); }
};

// ---- the AMX code ----------------------------------------------------------------------------------
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")

struct Src {
    const float* p;
    int ld;
    bool k_major;  // element (x, k) at p[k*ld + x], else at p[x*ld + k]
};

constexpr int TILE = 512;  // bf16 elements per tile

static inline __mmask16 lanes(int n) { return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// 32 consecutive floats (the first n valid, the rest zero) -> 32 bf16, round to nearest even.
static inline __m512i cvt32(const float* p, int n) {
    __m512 lo = _mm512_maskz_loadu_ps(lanes(n), p), hi = _mm512_maskz_loadu_ps(lanes(n - 16), p + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

// Rows x and y, 16 floats each (the first n valid; a null row reads as zeros) -> 16 words of 32 bits,
// word i = (bf16(x[i]) low, bf16(y[i]) high).
static inline __m512i pair16(const float* x, const float* y, int n) {
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23,
                                                7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __m512 vx = x ? _mm512_maskz_loadu_ps(lanes(n), x) : _mm512_setzero_ps();
    __m512 vy = y ? _mm512_maskz_loadu_ps(lanes(n), y) : _mm512_setzero_ps();
    return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(vy, vx));
}

// In-place transpose of a 16 x 16 matrix of 32-bit words held as 16 rows: for b = 8, 4, 2, 1 swap the
// off-diagonal b x b blocks of every 2b x 2b block (rows i and i + b exchange their columns with bit b
// set and clear), each output row one two-source permute; 64 permutes in all. (Written with permutes
// rather than unpack/shuffle: GCC 12 warns about those intrinsics' undefined pass-through operand.)
static inline void transpose16(__m512i r[16]) {
    for (int b = 8; b >= 1; b /= 2) {
        alignas(64) int32_t lo[16], hi[16];  // indices: 0-15 pick from row i, 16-31 from row i + b
        for (int c = 0; c < 16; c++) {
            lo[c] = c & b ? 16 + c - b : c;
            hi[c] = c & b ? 16 + c : c + b;
        }
        const __m512i ilo = _mm512_load_si512(lo), ihi = _mm512_load_si512(hi);
        for (int i = 0; i < 16; i++) {
            if (i & b) continue;
            const __m512i x = r[i], y = r[i + b];
            r[i] = _mm512_permutex2var_epi32(x, ilo, y);
            r[i + b] = _mm512_permutex2var_epi32(x, ihi, y);
        }
    }
}

// Packs one tile of operand s. `x0` and `k0` are its first row/column (x: the 16-wide dimension, m for A
// and n for B), `nx` and `nk` how many of its 16 x and 32 k are inside the matrix.
static void pack_a(uint16_t* dst, Src s, int x0, int k0, int nx, int nk) {
    __m512i v[16];
    if (!s.k_major) {  // row r = 32 consecutive k of source row x0 + r
        for (int r = 0; r < 16; r++)
            v[r] = r < nx ? cvt32(s.p + (size_t)(x0 + r) * s.ld + k0, nk) : _mm512_setzero_si512();
    } else {  // column p (pair k0+2p, k0+2p+1) = source rows k0+2p, k0+2p+1 interleaved; transpose
        for (int p = 0; p < 16; p++) {
            const float* x = 2 * p < nk ? s.p + (size_t)(k0 + 2 * p) * s.ld + x0 : nullptr;
            const float* y = 2 * p + 1 < nk ? s.p + (size_t)(k0 + 2 * p + 1) * s.ld + x0 : nullptr;
            v[p] = pair16(x, y, nx);
        }
        transpose16(v);
    }
    for (int r = 0; r < 16; r++) _mm512_store_si512(dst + 32 * r, v[r]);
}

static void pack_b(uint16_t* dst, Src s, int x0, int k0, int nx, int nk) {
    __m512i v[16];
    if (s.k_major) {  // row p = source rows k0+2p, k0+2p+1 interleaved
        for (int p = 0; p < 16; p++) {
            const float* x = 2 * p < nk ? s.p + (size_t)(k0 + 2 * p) * s.ld + x0 : nullptr;
            const float* y = 2 * p + 1 < nk ? s.p + (size_t)(k0 + 2 * p + 1) * s.ld + x0 : nullptr;
            v[p] = pair16(x, y, nx);
        }
    } else {  // column n = 32 consecutive k of source row x0 + n; transpose
        for (int n = 0; n < 16; n++)
            v[n] = n < nx ? cvt32(s.p + (size_t)(x0 + n) * s.ld + k0, nk) : _mm512_setzero_si512();
        transpose16(v);
    }
    for (int r = 0; r < 16; r++) _mm512_store_si512(dst + 32 * r, v[r]);
}

struct alignas(64) TileConfig {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

static void load_tile_config() {
    TileConfig cfg;
    std::memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    _tile_loadconfig(&cfg);
}

// C block of MT x NT tiles (C tile 2*mi + ni) over `steps` K steps. A: the block's first A tile of the
// chunk, the second row of tiles Kt tiles further; B likewise. C at c with row stride ldc bytes; load_c:
// start from C (accumulating, or a later K chunk), else from zero.
template <int MT, int NT>
static void tile_block(float* c, long ldc, bool load_c, const uint16_t* A, const uint16_t* B, int Kt, int steps) {
    if (load_c) {
        _tile_loadd(0, c, ldc);
        if constexpr (NT == 2) _tile_loadd(1, c + 16, ldc);
        if constexpr (MT == 2) _tile_loadd(2, (char*)c + 16 * ldc, ldc);
        if constexpr (MT == 2 && NT == 2) _tile_loadd(3, (char*)(c + 16) + 16 * ldc, ldc);
    } else {
        _tile_zero(0);
        if constexpr (NT == 2) _tile_zero(1);
        if constexpr (MT == 2) _tile_zero(2);
        if constexpr (MT == 2 && NT == 2) _tile_zero(3);
    }
    for (int kk = 0; kk < steps; kk++) {
        _tile_loadd(4, A + (size_t)kk * TILE, 64);
        _tile_loadd(6, B + (size_t)kk * TILE, 64);
        _tile_dpbf16ps(0, 4, 6);
        if constexpr (NT == 2) {
            _tile_loadd(7, B + (size_t)(Kt + kk) * TILE, 64);
            _tile_dpbf16ps(1, 4, 7);
        }
        if constexpr (MT == 2) {
            _tile_loadd(5, A + (size_t)(Kt + kk) * TILE, 64);
            _tile_dpbf16ps(2, 5, 6);
        }
        if constexpr (MT == 2 && NT == 2) _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, ldc);
    if constexpr (NT == 2) _tile_stored(1, c + 16, ldc);
    if constexpr (MT == 2) _tile_stored(2, (char*)c + 16 * ldc, ldc);
    if constexpr (MT == 2 && NT == 2) _tile_stored(3, (char*)(c + 16) + 16 * ldc, ldc);
}

// Adds (add) or writes the valid rows x cols of a 32 x 32 block held in `edge` into C at block origin
// (m0, n0); c_trans: C is stored transposed (element (m, n) at C[n*ldc + m]), done by 16 x 16 quadrants.
static void write_block(float* C, int ldc, bool c_trans, bool add, const float* edge, int m0, int n0, int rows,
                        int cols) {
    if (!c_trans) {
        for (int r = 0; r < rows; r++) {
            float* out = C + (size_t)(m0 + r) * ldc + n0;
            for (int h = 0; h < cols; h += 16) {
                const __mmask16 m = lanes(cols - h);
                __m512 v = _mm512_load_ps(edge + 32 * r + h);
                if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, out + h));
                _mm512_mask_storeu_ps(out + h, m, v);
            }
        }
        return;
    }
    for (int qi = 0; 16 * qi < rows; qi++)
        for (int qj = 0; 16 * qj < cols; qj++) {
            __m512i v[16];
            for (int r = 0; r < 16; r++) v[r] = _mm512_load_si512(edge + 32 * (16 * qi + r) + 16 * qj);
            transpose16(v);  // v[n] = column n of the quadrant = part of row n0 + 16 qj + n of C^T
            const __mmask16 m = lanes(rows - 16 * qi);
            for (int n = 0; n < std::min(16, cols - 16 * qj); n++) {
                float* out = C + (size_t)(n0 + 16 * qj + n) * ldc + m0 + 16 * qi;
                __m512 x = (__m512)v[n];
                if (add) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, out));
                _mm512_mask_storeu_ps(out, m, x);
            }
        }
}

// C[Mc, Nc] (+)= A[Mc, Kc] @ B[Kc, Nc] with C row stride ldc (floats); c_trans: C is stored transposed
// (element (m, n) at C[n*ldc + m]), every block then goes through the stack buffer and a transpose.
static void gemm_amx(float* C, int ldc, bool accumulate, int Mc, int Nc, int Kc, Src a, Src b, bool c_trans = false) {
    if (Mc <= 0 || Nc <= 0) return;
    const int Mt = (Mc + 15) / 16, Nt = (Nc + 15) / 16, Kt = std::max(1, (Kc + 31) / 32);
    const int Mb = (Mt + 1) / 2, Nb = (Nt + 1) / 2;
    const int KC = std::min(Kt, 32);           // K steps per chunk (at most 1024 deep)
    const int group = std::max(1, 384 / KC);  // m-blocks per group: 2 KC KiB of packed A each, ~768 KiB
    // Two sets of chunk buffers, alternating: chunk c+2 reuses chunk c's, and every thread has finished
    // computing chunk c before it passes the barrier after packing chunk c+1: one barrier per chunk.
    thread_local TileBuffer bufA[2], bufB[2];
    const int nbuf = Kt > KC ? 2 : 1;
    uint16_t *pas[2] = {}, *pbs[2] = {};
    for (int q = 0; q < nbuf; q++)
        pas[q] = bufA[q].reserve((size_t)Mt * KC * TILE), pbs[q] = bufB[q].reserve((size_t)Nt * KC * TILE);

#pragma omp parallel
    {
        const int T = omp_get_num_threads(), id = omp_get_thread_num();
        int mb0 = 0, mb1 = Mb, nb0 = 0, nb1 = Nb;  // this thread's blocks of C
        if (Mb >= Nb) mb0 = (int)((long)Mb * id / T), mb1 = (int)((long)Mb * (id + 1) / T);
        else nb0 = (int)((long)Nb * id / T), nb1 = (int)((long)Nb * (id + 1) / T);
        const bool busy = mb0 < mb1 && nb0 < nb1;
        if (busy) load_tile_config();
        alignas(64) float edge[32 * 32];
        for (int k0 = 0; k0 < Kt; k0 += KC) {
            // Pack this chunk's tiles: A tile (i, kk) at pa[(i*steps + kk) * TILE], B likewise.
            const int steps = std::min(KC, Kt - k0);
            uint16_t *pa = pas[k0 / KC % nbuf], *pb = pbs[k0 / KC % nbuf];
            const long na = (long)Mt * steps, nall = na + (long)Nt * steps;
#pragma omp for schedule(static)
            for (long t = 0; t < nall; t++) {
                const long u = t < na ? t : t - na;
                const int x = (int)(u / steps), k = 32 * (k0 + (int)(u % steps));
                if (t < na) pack_a(pa + u * TILE, a, 16 * x, k, Mc - 16 * x, Kc - k);
                else pack_b(pb + u * TILE, b, 16 * x, k, Nc - 16 * x, Kc - k);
            }
            // (implicit barrier: the chunk is packed)
            const bool add = accumulate || k0 > 0;
            for (int mg = mb0; busy && mg < mb1; mg += group)
                for (int nb = nb0; nb < nb1; nb++)
                    for (int mb = mg; mb < std::min(mg + group, mb1); mb++) {
                        const int i = 2 * mb, j = 2 * nb, mt = std::min(2, Mt - i), nt = std::min(2, Nt - j);
                        const int rows = std::min(32, Mc - 16 * i), cols = std::min(32, Nc - 16 * j);
                        const uint16_t* A = pa + (size_t)i * steps * TILE;
                        const uint16_t* B = pb + (size_t)j * steps * TILE;
                        const bool interior = rows == 16 * mt && cols == 16 * nt && !c_trans;
                        float* c = interior ? C + (size_t)16 * i * ldc + 16 * j : edge;
                        const long ldb = interior ? (long)ldc * 4 : 32 * 4;
                        const bool load_c = interior && add;
                        if (mt == 2 && nt == 2) tile_block<2, 2>(c, ldb, load_c, A, B, steps, steps);
                        else if (mt == 2) tile_block<2, 1>(c, ldb, load_c, A, B, steps, steps);
                        else if (nt == 2) tile_block<1, 2>(c, ldb, load_c, A, B, steps, steps);
                        else tile_block<1, 1>(c, ldb, load_c, A, B, steps, steps);
                        if (!interior) write_block(C, ldc, c_trans, add, edge, 16 * i, 16 * j, rows, cols);
                    }
        }
        if (busy) _tile_release();
    }
}

#pragma GCC pop_options

static void require_amx() {
    const char* why;
    if (!amx_available(&why)) fatal("bf16 GEMM called without AMX: %s", why);
}

// ---- the three GEMMs -----------------------------------------------------------------------------
void matmul_forward_bf16(float* out, int ldo, const float* a, int lda, const float* w, int M, int Nout, int Kin,
                         bool accumulate) {
    require_amx();
    if (M == 0) return;
    gemm_amx(out, ldo, accumulate, M, Nout, Kin, Src{a, lda, false}, Src{w, Kin, false});
}

void matmul_backward_bf16(float* da, int ldda, float* dw, const float* dout, int lddo, const float* a, int lda,
                          const float* w, int M, int Nout, int Kin, bool accumulate_da) {
    require_amx();
    if (M == 0) return;
    if (da) gemm_amx(da, ldda, accumulate_da, M, Kin, Nout, Src{dout, lddo, false}, Src{w, Kin, true});
    // dw = dout^T a transposes dout while packing; when a is the narrower operand, dw^T = a^T dout
    // transposes a instead (fewer words through the 16 x 16 transposes) and stores C transposed.
    if (dw && Kin >= Nout) gemm_amx(dw, Kin, true, Nout, Kin, M, Src{dout, lddo, true}, Src{a, lda, true});
    if (dw && Kin < Nout) gemm_amx(dw, Kin, true, Kin, Nout, M, Src{a, lda, true}, Src{dout, lddo, true}, true);
}

}  // namespace cpu
