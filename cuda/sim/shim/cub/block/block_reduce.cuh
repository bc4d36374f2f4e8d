// cub::BlockReduce under the simulator: Sum and Reduce (with an operator), of one item or an array of
// items per thread, over the whole block or its first num_valid threads. The result is defined in
// thread 0 only (NaN elsewhere for floating types). One __syncthreads inside, as CUB's default
// algorithm: TempStorage must not be reused before another barrier. Every thread of the block calls.
// Order of combination: items in order within a thread, then threads in order (an associative
// operator gives CUB's answer up to rounding).
#pragma once
#include "../detail/sim_shim.cuh"

namespace cub {

enum BlockReduceAlgorithm {
    BLOCK_REDUCE_RAKING_COMMUTATIVE_ONLY,
    BLOCK_REDUCE_RAKING,
    BLOCK_REDUCE_WARP_REDUCTIONS,
};

template <typename T, int BLOCK_DIM_X, BlockReduceAlgorithm ALGORITHM = BLOCK_REDUCE_WARP_REDUCTIONS,
          int BLOCK_DIM_Y = 1, int BLOCK_DIM_Z = 1>
class BlockReduce {
    static constexpr int BLOCK_THREADS = BLOCK_DIM_X * BLOCK_DIM_Y * BLOCK_DIM_Z;
    using Storage = sim_detail::Raw<T, BLOCK_THREADS>;

public:
    struct TempStorage : Storage {};

    __device__ BlockReduce() : temp(private_storage()) {}
    __device__ BlockReduce(TempStorage& storage) : temp(storage) {}

    template <typename ReductionOp>
    __device__ T Reduce(T input, ReductionOp op) {
        return Reduce(input, op, BLOCK_THREADS);
    }
    template <int ITEMS_PER_THREAD, typename ReductionOp>
    __device__ T Reduce(T (&inputs)[ITEMS_PER_THREAD], ReductionOp op) {
        T x = inputs[0];
        for (int i = 1; i < ITEMS_PER_THREAD; i++) x = op(x, inputs[i]);
        return Reduce(x, op, BLOCK_THREADS);
    }
    template <typename ReductionOp>
    __device__ T Reduce(T input, ReductionOp op, int num_valid) {
        sim_detail::check_block("cub::BlockReduce", BLOCK_DIM_X, BLOCK_DIM_Y, BLOCK_DIM_Z);
        int t = sim_detail::linear_tid();
        T* part = temp.get();
        part[t] = input;
        __syncthreads();
        if (t != 0) return sim_detail::undefined(input);
        T x = part[0];
        for (int i = 1; i < num_valid && i < BLOCK_THREADS; i++) x = op(x, part[i]);
        return x;
    }

    __device__ T Sum(T input) { return Reduce(input, Plus{}); }
    template <int ITEMS_PER_THREAD>
    __device__ T Sum(T (&inputs)[ITEMS_PER_THREAD]) {
        return Reduce(inputs, Plus{});
    }
    __device__ T Sum(T input, int num_valid) { return Reduce(input, Plus{}, num_valid); }

private:
    struct Plus {
        __device__ T operator()(const T& a, const T& b) const { return a + b; }
    };
    static TempStorage& private_storage() {
        __shared__ TempStorage storage;
        return storage;
    }
    TempStorage& temp;
};

}  // namespace cub
