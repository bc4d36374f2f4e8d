// Each CUB primitive the engine may use (the simulator's shim, or the real CUB under nvcc) against a
// plain loop, at awkward sizes: partial tiles (valid_items, num_valid), block sizes that are not powers
// of two or not multiples of a warp where CUB allows them, 2-D blocks, several items per thread, and a
// scan that carries (a, b) state across chunks through a block-prefix callback as mamba_ssm's selective
// scan does. Integer-valued inputs keep fp32 sums exact, so most checks are exact.
#include <algorithm>
#include <cmath>
#include <vector>

#include <cub/cub.cuh>

#include "test_util.h"

struct MaxOp {
    __device__ float operator()(float a, float b) const { return a > b ? a : b; }
};

// ---- WarpReduce ----------------------------------------------------------------------------------
// out: (blockDim.x / W, 4) per logical warp of W lanes: sum, max, sum of the first `valid` lanes, and
// max of the first `valid` lanes of x: (blockDim.x,).
template <int W>
__global__ void warp_reduce(float* out, const float* x, int valid) {
    using WR = cub::WarpReduce<float, W>;
    __shared__ typename WR::TempStorage temp[1024 / W];
    int t = threadIdx.x, w = t / W;
    float v = x[t];
    float sum = WR(temp[w]).Sum(v);
    float mx = WR(temp[w]).Reduce(v, MaxOp{});
    float vsum = WR(temp[w]).Sum(v, valid);
    float vmax = WR(temp[w]).Reduce(v, MaxOp{}, valid);
    if (t % W == 0) {
        out[w * 4 + 0] = sum;
        out[w * 4 + 1] = mx;
        out[w * 4 + 2] = vsum;
        out[w * 4 + 3] = vmax;
    }
}

template <int W>
void check_warp_reduce(int nthreads, int valid) {
    std::vector<float> x(nthreads);
    for (int i = 0; i < nthreads; i++) x[i] = (float)((i * 11) % 17 - 8);
    int groups = nthreads / W;
    std::vector<float> want(groups * 4);
    for (int g = 0; g < groups; g++) {
        float s = 0, m = -1e30f, vs = 0, vm = -1e30f;
        for (int l = 0; l < W; l++) {
            float v = x[g * W + l];
            s += v, m = std::max(m, v);
            if (l < valid) vs += v, vm = std::max(vm, v);
        }
        want[g * 4 + 0] = s, want[g * 4 + 1] = m, want[g * 4 + 2] = vs, want[g * 4 + 3] = vm;
    }
    DeviceArray<float> dx(x), dout(groups * 4);
    launch(warp_reduce<W>, dim3(1), dim3(nthreads), 0, nullptr, dout.ptr, dx.ptr, valid);
    CUDA_CHECK(cudaGetLastError());
    char what[96];
    std::snprintf(what, sizeof what, "WarpReduce<%d> over %d threads, valid %d: sum, max, valid sum, valid max", W,
                  nthreads, valid);
    CHECK(check_close(what, dout.back(), want, 0, 0));
}

TEST_CASE("cub::WarpReduce: Sum, Reduce with an operator, valid_items, logical warps of 32, 16 and 8") {
    check_warp_reduce<32>(96, 32);
    check_warp_reduce<32>(96, 13);
    check_warp_reduce<16>(64, 7);
    check_warp_reduce<8>(40, 5);  // 40 threads: five logical warps of 8, the last hardware warp partial
}

// ---- BlockReduce --------------------------------------------------------------------------------------
// out: (gridDim.x, 4) per block: sum, max, sum of the first `valid` threads, and the sum over 3 items per
// thread of x: (gridDim.x, BX*BY, 3) (items 0 of each thread for the one-item reductions).
template <int BX, int BY>
__global__ void block_reduce(float* out, const float* x, int valid) {
    using BR = cub::BlockReduce<float, BX, cub::BLOCK_REDUCE_WARP_REDUCTIONS, BY>;
    __shared__ typename BR::TempStorage temp;
    int t = threadIdx.x + threadIdx.y * BX;
    const float* xb = x + blockIdx.x * BX * BY * 3;
    float items[3] = {xb[t * 3], xb[t * 3 + 1], xb[t * 3 + 2]};
    float sum = BR(temp).Sum(items[0]);
    __syncthreads();
    float mx = BR(temp).Reduce(items[0], MaxOp{});
    __syncthreads();
    float vsum = BR(temp).Sum(items[0], valid);
    __syncthreads();
    float isum = BR(temp).Sum(items);
    if (t == 0) {
        out[blockIdx.x * 4 + 0] = sum;
        out[blockIdx.x * 4 + 1] = mx;
        out[blockIdx.x * 4 + 2] = vsum;
        out[blockIdx.x * 4 + 3] = isum;
    }
}

template <int BX, int BY>
void check_block_reduce(int valid) {
    const int nt = BX * BY, grid = 3;
    std::vector<float> x(grid * nt * 3);
    for (size_t i = 0; i < x.size(); i++) x[i] = (float)((int)(i * 13 % 23) - 11);
    std::vector<float> want(grid * 4);
    for (int b = 0; b < grid; b++) {
        float s = 0, m = -1e30f, vs = 0, is = 0;
        for (int t = 0; t < nt; t++) {
            const float* it = &x[(b * nt + t) * 3];
            s += it[0], m = std::max(m, it[0]), is += it[0] + it[1] + it[2];
            if (t < valid) vs += it[0];
        }
        want[b * 4 + 0] = s, want[b * 4 + 1] = m, want[b * 4 + 2] = vs, want[b * 4 + 3] = is;
    }
    DeviceArray<float> dx(x), dout(grid * 4);
    launch(block_reduce<BX, BY>, dim3(grid), dim3(BX, BY), 0, nullptr, dout.ptr, dx.ptr, valid);
    CUDA_CHECK(cudaGetLastError());
    char what[96];
    std::snprintf(what, sizeof what, "BlockReduce<%dx%d> valid %d: sum, max, valid sum, 3-item sum", BX, BY, valid);
    CHECK(check_close(what, dout.back(), want, 0, 0));
}

TEST_CASE("cub::BlockReduce: Sum, Reduce with an operator, num_valid, items per thread, odd and 2-D blocks") {
    check_block_reduce<128, 1>(128);
    check_block_reduce<100, 1>(37);
    check_block_reduce<33, 1>(1);
    check_block_reduce<12, 7>(50);
}

// ---- BlockScan ----------------------------------------------------------------------------------------
// out: (6, BLOCK*ITEMS): inclusive sum, exclusive sum, exclusive max-scan from -100, inclusive max-scan,
// and block aggregates (sum, max) of x: (BLOCK*ITEMS,) in each thread's slot 0 of rows 4, 5.
template <int BLOCK, int ITEMS>
__global__ void block_scan(float* out, const float* x) {
    using BS = cub::BlockScan<float, BLOCK>;
    __shared__ typename BS::TempStorage temp;
    int t = threadIdx.x, n = BLOCK * ITEMS;
    float in[ITEMS], r[ITEMS];
    for (int i = 0; i < ITEMS; i++) in[i] = x[t * ITEMS + i];
    float agg_sum, agg_max;
    BS(temp).InclusiveSum(in, r, agg_sum);
    for (int i = 0; i < ITEMS; i++) out[0 * n + t * ITEMS + i] = r[i];
    __syncthreads();
    BS(temp).ExclusiveSum(in, r);
    for (int i = 0; i < ITEMS; i++) out[1 * n + t * ITEMS + i] = r[i];
    __syncthreads();
    BS(temp).ExclusiveScan(in, r, -100.0f, MaxOp{});
    for (int i = 0; i < ITEMS; i++) out[2 * n + t * ITEMS + i] = r[i];
    __syncthreads();
    BS(temp).InclusiveScan(in, r, MaxOp{}, agg_max);
    for (int i = 0; i < ITEMS; i++) out[3 * n + t * ITEMS + i] = r[i];
    for (int i = 0; i < ITEMS; i++) out[4 * n + t * ITEMS + i] = i == 0 ? agg_sum : 0.0f;
    for (int i = 0; i < ITEMS; i++) out[5 * n + t * ITEMS + i] = i == 0 ? agg_max : 0.0f;
}

template <int BLOCK, int ITEMS>
void check_block_scan() {
    const int n = BLOCK * ITEMS;
    std::vector<float> x(n), want(6 * n, 0.0f);
    for (int i = 0; i < n; i++) x[i] = (float)((i * 7) % 19 - 9);
    float incl = 0, excl = 0, emax = -100, imax = -1e30f;
    for (int i = 0; i < n; i++) {
        want[1 * n + i] = excl, excl += x[i];
        incl += x[i], want[0 * n + i] = incl;
        want[2 * n + i] = emax, emax = std::max(emax, x[i]);
        imax = std::max(imax, x[i]), want[3 * n + i] = imax;
    }
    for (int t = 0; t < BLOCK; t++) want[4 * n + t * ITEMS] = incl, want[5 * n + t * ITEMS] = imax;
    DeviceArray<float> dx(x), dout(6 * n);
    launch(block_scan<BLOCK, ITEMS>, dim3(1), dim3(BLOCK), 0, nullptr, dout.ptr, dx.ptr);
    CUDA_CHECK(cudaGetLastError());
    char what[120];
    std::snprintf(what, sizeof what, "BlockScan<%d> x %d items: incl/excl sum, excl/incl max-scan, aggregates", BLOCK,
                  ITEMS);
    CHECK(check_close(what, dout.back(), want, 0, 0));
}

TEST_CASE("cub::BlockScan: sums and operator scans, with initial value and aggregates, odd block sizes") {
    check_block_scan<128, 1>();
    check_block_scan<96, 3>();
    check_block_scan<100, 2>();
    check_block_scan<37, 1>();
}

// The selective scan's recurrence h_t = a_t * h_{t-1} + b_t as a scan over pairs: (a1, b1) then (a2, b2)
// composes to (a1*a2, a2*b1 + b2); h_t is the b of the inclusive scan. Over chunks of BLOCK*ITEMS, the
// callback carries the running prefix (as mamba_ssm's SSMScanPrefixCallbackOp) and thread 0 saves it.
struct Pair {
    float a, b;
};
struct PairOp {
    __device__ Pair operator()(const Pair& p, const Pair& q) const { return Pair{p.a * q.a, q.a * p.b + q.b}; }
};
struct PairPrefix {
    Pair running;
    __device__ Pair operator()(Pair block_aggregate) {
        Pair old = running;
        running = PairOp{}(running, block_aggregate);
        return old;
    }
};

// h: (L,) = the recurrence over a, b: (L,), from h_{-1} = 0. One block of BLOCK threads, ITEMS each.
template <int BLOCK, int ITEMS>
__global__ void pair_scan(float* h, const float* a, const float* b, int L) {
    using BS = cub::BlockScan<Pair, BLOCK, cub::BLOCK_SCAN_WARP_SCANS>;
    __shared__ typename BS::TempStorage temp;
    __shared__ Pair carry;
    int t = threadIdx.x;
    PairPrefix prefix{Pair{1.0f, 0.0f}};
    for (int c0 = 0; c0 < L; c0 += BLOCK * ITEMS) {
        Pair items[ITEMS];
        for (int i = 0; i < ITEMS; i++) {
            int idx = c0 + t * ITEMS + i;
            items[i] = idx < L ? Pair{a[idx], b[idx]} : Pair{1.0f, 0.0f};  // identity pads the last chunk
        }
        BS(temp).InclusiveScan(items, items, PairOp{}, prefix);
        __syncthreads();
        for (int i = 0; i < ITEMS; i++) {
            int idx = c0 + t * ITEMS + i;
            if (idx < L) h[idx] = items[i].b;
        }
        if (t == 0) carry = prefix.running;
    }
    __syncthreads();
    if (t == 0) h[L] = carry.b;  // the final state, saved as mamba_ssm saves it for the next chunk
}

template <int BLOCK, int ITEMS>
void check_pair_scan(int L) {
    std::vector<float> a(L), b = test_values(L, 5), want(L + 1);
    std::vector<float> r = test_values(L, 6);
    for (int i = 0; i < L; i++) a[i] = 0.9f + 0.1f * r[i];  // decays in (0.8, 1), like exp(dt * A)
    double hs = 0;
    for (int i = 0; i < L; i++) hs = a[i] * hs + b[i], want[i] = (float)hs;
    want[L] = (float)hs;
    DeviceArray<float> da(a), db(b), dh(L + 1);
    launch(pair_scan<BLOCK, ITEMS>, dim3(1), dim3(BLOCK), 0, nullptr, dh.ptr, da.ptr, db.ptr, L);
    CUDA_CHECK(cudaGetLastError());
    char what[96];
    std::snprintf(what, sizeof what, "pair scan with prefix callback, block %d x %d items, L %d", BLOCK, ITEMS, L);
    // fp32 products and sums along L steps with |a| < 1: rtol 1e-5, atol 1e-5 per step of |b| <= 1 summed.
    CHECK(check_close(what, dh.back(), want, 1e-5 * 10, 1e-5));
}

TEST_CASE("cub::BlockScan with a block-prefix callback carries (a, b) state across chunks") {
    check_pair_scan<64, 4>(1000);
    check_pair_scan<96, 3>(289);
    check_pair_scan<32, 1>(31);
}

// ---- BlockLoad / BlockStore ---------------------------------------------------------------------------
// out: (L,) = 2 * in: (L,) + 1, tile by tile; the last tile partial (valid_items) with default -7 for
// the missing items, which the store must not write.
template <int BLOCK, int ITEMS, cub::BlockLoadAlgorithm LA, cub::BlockStoreAlgorithm SA>
__global__ void load_store(float* out, int* seen_default, const float* in, int L) {
    using BL = cub::BlockLoad<float, BLOCK, ITEMS, LA>;
    using BSt = cub::BlockStore<float, BLOCK, ITEMS, SA>;
    __shared__ union {
        typename BL::TempStorage load;
        typename BSt::TempStorage store;
    } temp;
    const int tile = BLOCK * ITEMS;
    for (int t0 = 0; t0 < L; t0 += tile) {
        float items[ITEMS];
        int valid = min(tile, L - t0);
        if (valid == tile) BL(temp.load).Load(in + t0, items);
        else BL(temp.load).Load(in + t0, items, valid, -7.0f);
        for (int i = 0; i < ITEMS; i++) {
            if (items[i] == -7.0f) atomicAdd(seen_default, 1);
            items[i] = 2.0f * items[i] + 1.0f;
        }
        __syncthreads();
        if (valid == tile) BSt(temp.store).Store(out + t0, items);
        else BSt(temp.store).Store(out + t0, items, valid);
        __syncthreads();
    }
}

template <int BLOCK, int ITEMS, cub::BlockLoadAlgorithm LA, cub::BlockStoreAlgorithm SA>
void check_load_store(const char* name, int L) {
    std::vector<float> in(L), want(L + 5, 123.0f);
    for (int i = 0; i < L; i++) in[i] = (float)(i % 50), want[i] = 2.0f * in[i] + 1.0f;
    std::vector<float> init(L + 5, 123.0f);
    DeviceArray<float> din(in), dout(init);
    DeviceArray<int> dseen(std::vector<int>{0});
    launch(load_store<BLOCK, ITEMS, LA, SA>, dim3(1), dim3(BLOCK), 0, nullptr, dout.ptr, dseen.ptr, din.ptr, L);
    CUDA_CHECK(cudaGetLastError());
    int tile = BLOCK * ITEMS, missing = (tile - L % tile) % tile;
    char what[120];
    std::snprintf(what, sizeof what, "BlockLoad/Store %s, block %d x %d, L %d (defaults seen %d of %d)", name, BLOCK,
                  ITEMS, L, dseen.back()[0], missing);
    CHECK(check_close(what, dout.back(), want, 0, 0));
    CHECK(dseen.back()[0] == missing);
}

TEST_CASE("cub::BlockLoad/BlockStore: direct, striped, vectorized, transposed, warp-transposed; partial tiles") {
    check_load_store<64, 4, cub::BLOCK_LOAD_DIRECT, cub::BLOCK_STORE_DIRECT>("direct", 1000);
    check_load_store<100, 3, cub::BLOCK_LOAD_STRIPED, cub::BLOCK_STORE_STRIPED>("striped", 731);
    check_load_store<64, 4, cub::BLOCK_LOAD_VECTORIZE, cub::BLOCK_STORE_VECTORIZE>("vectorize", 512);
    check_load_store<100, 3, cub::BLOCK_LOAD_TRANSPOSE, cub::BLOCK_STORE_TRANSPOSE>("transpose", 731);
    check_load_store<96, 5, cub::BLOCK_LOAD_WARP_TRANSPOSE, cub::BLOCK_STORE_WARP_TRANSPOSE>("warp transpose", 1001);
    check_load_store<64, 2, cub::BLOCK_LOAD_DIRECT, cub::BLOCK_STORE_WARP_TRANSPOSE>("direct -> warp", 100);
}

#ifdef CUDA_SIM
TEST_CASE("planted bug: a CUB block primitive launched with another block shape is reported") {
    DeviceArray<float> dx(std::vector<float>(128 * 3, 1.0f)), dout(4);
    std::string report;
    {
        sim::ThrowErrors mode;
        try {
            launch(block_reduce<128, 1>, dim3(1), dim3(96), 0, nullptr, dout.ptr, dx.ptr, 96);
        } catch (const sim::Error& e) {
            report = e.what();
        }
    }
    std::printf("caught: %s\n", report.c_str());
    CHECK(report.find("instantiated for a block of (128,1,1)") != std::string::npos);
}
#endif
