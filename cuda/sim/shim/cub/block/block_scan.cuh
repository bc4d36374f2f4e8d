// cub::BlockScan under the simulator: InclusiveSum/ExclusiveSum and InclusiveScan/ExclusiveScan with a
// user operator, of one item or an array of items per thread, with an initial value, a block aggregate,
// or a block-prefix callback. The callback follows CUB: every lane of warp 0 calls it with the block
// aggregate, and lane 0's return value is the prefix of the whole block (this is how a scan carries
// state across chunks, e.g. mamba_ssm's (a, b) pairs). Where CUB leaves thread 0's exclusive output
// undefined (no initial value, no callback) it is NaN for floating types.
//
// Barriers: two __syncthreads (three with a callback) inside; TempStorage must not be reused before
// another barrier, as with CUB. Every thread of the block calls.
#pragma once
#include "../detail/sim_shim.cuh"

namespace cub {

enum BlockScanAlgorithm {
    BLOCK_SCAN_RAKING,
    BLOCK_SCAN_RAKING_MEMOIZE,
    BLOCK_SCAN_WARP_SCANS,
};

template <typename T, int BLOCK_DIM_X, BlockScanAlgorithm ALGORITHM = BLOCK_SCAN_RAKING, int BLOCK_DIM_Y = 1,
          int BLOCK_DIM_Z = 1>
class BlockScan {
    static constexpr int BLOCK_THREADS = BLOCK_DIM_X * BLOCK_DIM_Y * BLOCK_DIM_Z;
    // part[t]: thread t's aggregate, then the exclusive prefix of threads before t; then the block
    // aggregate and the callback's prefix.
    using Storage = sim_detail::Raw<T, BLOCK_THREADS + 2>;

public:
    struct TempStorage : Storage {};

    __device__ BlockScan() : temp(private_storage()) {}
    __device__ BlockScan(TempStorage& storage) : temp(storage) {}

    // ---- Sums ----
    __device__ void ExclusiveSum(T input, T& output) { ExclusiveScan(input, output, T{}, Plus{}); }
    __device__ void ExclusiveSum(T input, T& output, T& block_aggregate) {
        ExclusiveScan(input, output, T{}, Plus{}, block_aggregate);
    }
    template <typename BlockPrefixCallbackOp>
    __device__ void ExclusiveSum(T input, T& output, BlockPrefixCallbackOp& callback) {
        ExclusiveScan(input, output, Plus{}, callback);
    }
    template <int ITEMS>
    __device__ void ExclusiveSum(T (&input)[ITEMS], T (&output)[ITEMS]) {
        ExclusiveScan(input, output, T{}, Plus{});
    }
    template <int ITEMS>
    __device__ void ExclusiveSum(T (&input)[ITEMS], T (&output)[ITEMS], T& block_aggregate) {
        ExclusiveScan(input, output, T{}, Plus{}, block_aggregate);
    }
    template <int ITEMS, typename BlockPrefixCallbackOp>
    __device__ void ExclusiveSum(T (&input)[ITEMS], T (&output)[ITEMS], BlockPrefixCallbackOp& callback) {
        ExclusiveScan(input, output, Plus{}, callback);
    }
    __device__ void InclusiveSum(T input, T& output) { InclusiveScan(input, output, Plus{}); }
    __device__ void InclusiveSum(T input, T& output, T& block_aggregate) {
        InclusiveScan(input, output, Plus{}, block_aggregate);
    }
    template <typename BlockPrefixCallbackOp>
    __device__ void InclusiveSum(T input, T& output, BlockPrefixCallbackOp& callback) {
        InclusiveScan(input, output, Plus{}, callback);
    }
    template <int ITEMS>
    __device__ void InclusiveSum(T (&input)[ITEMS], T (&output)[ITEMS]) {
        InclusiveScan(input, output, Plus{});
    }
    template <int ITEMS>
    __device__ void InclusiveSum(T (&input)[ITEMS], T (&output)[ITEMS], T& block_aggregate) {
        InclusiveScan(input, output, Plus{}, block_aggregate);
    }
    template <int ITEMS, typename BlockPrefixCallbackOp>
    __device__ void InclusiveSum(T (&input)[ITEMS], T (&output)[ITEMS], BlockPrefixCallbackOp& callback) {
        InclusiveScan(input, output, Plus{}, callback);
    }

    // ---- Exclusive scans: one item ----
    template <typename ScanOp>
    __device__ void ExclusiveScan(T input, T& output, T initial_value, ScanOp op) {
        T agg;
        ExclusiveScan(input, output, initial_value, op, agg);
    }
    template <typename ScanOp>
    __device__ void ExclusiveScan(T input, T& output, T initial_value, ScanOp op, T& block_aggregate) {
        T in[1] = {input}, out[1];
        ExclusiveScan(in, out, initial_value, op, block_aggregate);
        output = out[0];
    }
    template <typename ScanOp, typename BlockPrefixCallbackOp>
    __device__ void ExclusiveScan(T input, T& output, ScanOp op, BlockPrefixCallbackOp& callback) {
        T in[1] = {input}, out[1];
        ExclusiveScan(in, out, op, callback);
        output = out[0];
    }
    template <typename ScanOp>
    __device__ void ExclusiveScan(T input, T& output, ScanOp op) {
        T agg;
        ExclusiveScan(input, output, op, agg);
    }
    template <typename ScanOp>
    __device__ void ExclusiveScan(T input, T& output, ScanOp op, T& block_aggregate) {
        T in[1] = {input}, out[1];
        ExclusiveScan(in, out, op, block_aggregate);
        output = out[0];
    }

    // ---- Exclusive scans: arrays ----
    template <int ITEMS, typename ScanOp>
    __device__ void ExclusiveScan(T (&input)[ITEMS], T (&output)[ITEMS], T initial_value, ScanOp op) {
        T agg;
        ExclusiveScan(input, output, initial_value, op, agg);
    }
    template <int ITEMS, typename ScanOp>
    __device__ void ExclusiveScan(T (&input)[ITEMS], T (&output)[ITEMS], T initial_value, ScanOp op,
                                  T& block_aggregate) {
        T excl;
        bool has = block_prefix(input, op, excl, block_aggregate);
        T pre = has ? op(initial_value, excl) : initial_value;
        scan_items<false>(input, output, op, pre, true);
    }
    template <int ITEMS, typename ScanOp, typename BlockPrefixCallbackOp>
    __device__ void ExclusiveScan(T (&input)[ITEMS], T (&output)[ITEMS], ScanOp op, BlockPrefixCallbackOp& callback) {
        T excl, agg;
        bool has = block_prefix(input, op, excl, agg);
        T p = callback_prefix(agg, callback);
        scan_items<false>(input, output, op, has ? op(p, excl) : p, true);
    }
    template <int ITEMS, typename ScanOp>
    __device__ void ExclusiveScan(T (&input)[ITEMS], T (&output)[ITEMS], ScanOp op) {
        T agg;
        ExclusiveScan(input, output, op, agg);
    }
    template <int ITEMS, typename ScanOp>
    __device__ void ExclusiveScan(T (&input)[ITEMS], T (&output)[ITEMS], ScanOp op, T& block_aggregate) {
        T excl;
        bool has = block_prefix(input, op, excl, block_aggregate);
        scan_items<false>(input, output, op, excl, has);
    }

    // ---- Inclusive scans ----
    template <typename ScanOp>
    __device__ void InclusiveScan(T input, T& output, ScanOp op) {
        T agg;
        InclusiveScan(input, output, op, agg);
    }
    template <typename ScanOp>
    __device__ void InclusiveScan(T input, T& output, ScanOp op, T& block_aggregate) {
        T in[1] = {input}, out[1];
        InclusiveScan(in, out, op, block_aggregate);
        output = out[0];
    }
    template <typename ScanOp, typename BlockPrefixCallbackOp>
    __device__ void InclusiveScan(T input, T& output, ScanOp op, BlockPrefixCallbackOp& callback) {
        T in[1] = {input}, out[1];
        InclusiveScan(in, out, op, callback);
        output = out[0];
    }
    template <int ITEMS, typename ScanOp>
    __device__ void InclusiveScan(T (&input)[ITEMS], T (&output)[ITEMS], ScanOp op) {
        T agg;
        InclusiveScan(input, output, op, agg);
    }
    template <int ITEMS, typename ScanOp>
    __device__ void InclusiveScan(T (&input)[ITEMS], T (&output)[ITEMS], ScanOp op, T& block_aggregate) {
        T excl;
        bool has = block_prefix(input, op, excl, block_aggregate);
        scan_items<true>(input, output, op, excl, has);
    }
    template <int ITEMS, typename ScanOp, typename BlockPrefixCallbackOp>
    __device__ void InclusiveScan(T (&input)[ITEMS], T (&output)[ITEMS], ScanOp op, BlockPrefixCallbackOp& callback) {
        T excl, agg;
        bool has = block_prefix(input, op, excl, agg);
        T p = callback_prefix(agg, callback);
        scan_items<true>(input, output, op, has ? op(p, excl) : p, true);
    }

private:
    struct Plus {
        __device__ T operator()(const T& a, const T& b) const { return a + b; }
    };
    static TempStorage& private_storage() {
        __shared__ TempStorage storage;
        return storage;
    }

    // Thread t's exclusive prefix over the aggregates of threads 0..t-1 (returns false for thread 0,
    // which has none) and the block's aggregate. Two barriers: after the aggregates are written, and
    // after thread 0 has turned them into prefixes.
    template <int ITEMS, typename ScanOp>
    __device__ bool block_prefix(T (&input)[ITEMS], ScanOp op, T& excl, T& aggregate) {
        sim_detail::check_block("cub::BlockScan", BLOCK_DIM_X, BLOCK_DIM_Y, BLOCK_DIM_Z);
        int t = sim_detail::linear_tid();
        T* part = temp.get();
        T mine = input[0];
        for (int i = 1; i < ITEMS; i++) mine = op(mine, input[i]);
        part[t] = mine;
        __syncthreads();
        if (t == 0) {
            T run = part[0];
            for (int i = 1; i < BLOCK_THREADS; i++) {
                T next = op(run, part[i]);
                part[i] = run;
                run = next;
            }
            part[BLOCK_THREADS] = run;
        }
        __syncthreads();
        aggregate = part[BLOCK_THREADS];
        if (t == 0) {
            excl = sim_detail::undefined(mine);
            return false;
        }
        excl = part[t];
        return true;
    }

    // Warp 0 calls the callback with the block aggregate; lane 0's answer is shared with the block.
    template <typename BlockPrefixCallbackOp>
    __device__ T callback_prefix(const T& aggregate, BlockPrefixCallbackOp& callback) {
        int t = sim_detail::linear_tid();
        T* part = temp.get();
        if (t < 32) {
            T p = callback(aggregate);
            if (t == 0) part[BLOCK_THREADS + 1] = p;
        }
        __syncthreads();
        return part[BLOCK_THREADS + 1];
    }

    // The scan of a thread's own items, seeded with its prefix (when it has one).
    template <bool kInclusive, int ITEMS, typename ScanOp>
    __device__ static void scan_items(T (&input)[ITEMS], T (&output)[ITEMS], ScanOp op, T prefix, bool has_prefix) {
        T run = prefix;
        bool have = has_prefix;
        for (int i = 0; i < ITEMS; i++) {
            T x = input[i];
            if (kInclusive) {
                run = have ? op(run, x) : x;
                output[i] = run;
            } else {
                output[i] = have ? run : sim_detail::undefined(x);
                run = have ? op(run, x) : x;
            }
            have = true;
        }
    }

    TempStorage& temp;
};

}  // namespace cub
