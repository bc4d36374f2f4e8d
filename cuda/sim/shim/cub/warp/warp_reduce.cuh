// cub::WarpReduce under the simulator: Sum and Reduce (with an operator), over the full logical warp or
// its first valid_items lanes. LOGICAL_WARP_THREADS is a power of two up to 32; every lane of the
// logical warp calls (the shuffles name them all, as CUB's do, so a partial or divergent warp is
// reported). The result is defined in lane 0 of each logical warp only; elsewhere it is NaN for
// floating types. Order of combination: a tree that keeps lane order (op(lower, higher)), as CUB's.
#pragma once
#include "../detail/sim_shim.cuh"

namespace cub {

template <typename T, int LOGICAL_WARP_THREADS = 32>
class WarpReduce {
    static_assert(LOGICAL_WARP_THREADS >= 1 && LOGICAL_WARP_THREADS <= 32 &&
                      (LOGICAL_WARP_THREADS & (LOGICAL_WARP_THREADS - 1)) == 0,
                  "the simulator's cub::WarpReduce supports power-of-two logical warps up to 32");

public:
    struct TempStorage {
        unsigned char unused;
    };

    __device__ WarpReduce(TempStorage&) {}

    __device__ T Sum(T input) { return Reduce(input, Plus{}, LOGICAL_WARP_THREADS); }
    __device__ T Sum(T input, int valid_items) { return Reduce(input, Plus{}, valid_items); }
    template <typename ReductionOp>
    __device__ T Reduce(T input, ReductionOp op) {
        return Reduce(input, op, LOGICAL_WARP_THREADS);
    }
    template <typename ReductionOp>
    __device__ T Reduce(T input, ReductionOp op, int valid_items) {
        int lane = sim_detail::linear_tid() % 32;
        int sub = lane % LOGICAL_WARP_THREADS;
        unsigned mask = LOGICAL_WARP_THREADS == 32
                            ? 0xffffffffu
                            : ((1u << LOGICAL_WARP_THREADS) - 1) << (lane / LOGICAL_WARP_THREADS * LOGICAL_WARP_THREADS);
        T x = input;
        for (int offset = 1; offset < LOGICAL_WARP_THREADS; offset *= 2) {
            T other = __shfl_down_sync(mask, x, offset, LOGICAL_WARP_THREADS);
            if (sub % (2 * offset) == 0 && sub + offset < valid_items) x = op(x, other);
        }
        return sub == 0 ? x : sim_detail::undefined(x);
    }

private:
    struct Plus {
        __device__ T operator()(const T& a, const T& b) const { return a + b; }
    };
};

}  // namespace cub
