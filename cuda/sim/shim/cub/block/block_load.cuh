// cub::BlockLoad under the simulator: a tile of BLOCK_THREADS * ITEMS_PER_THREAD consecutive items into
// each thread's items[], in CUB's blocked arrangement (thread t gets items t*ITEMS .. t*ITEMS+ITEMS-1),
// or striped for BLOCK_LOAD_STRIPED (thread t gets t, t+BLOCK_THREADS, ...). With valid_items, only that
// many items are read; the rest are oob_default when given, else left as they were (direct and striped
// loads) or undefined (NaN for floating types: the transposing loads, whose leftovers come from shared
// memory).
//
// Barriers, as CUB's: none for DIRECT, STRIPED and VECTORIZE; BLOCK_LOAD_TRANSPOSE stages the tile in
// TempStorage with one __syncthreads; the WARP_TRANSPOSE variants stage each warp's part with one
// __syncwarp (BLOCK_THREADS must be a multiple of 32). Reuse of TempStorage needs a barrier first.
#pragma once
#include "../detail/sim_shim.cuh"

namespace cub {

enum BlockLoadAlgorithm {
    BLOCK_LOAD_DIRECT,
    BLOCK_LOAD_STRIPED,
    BLOCK_LOAD_VECTORIZE,
    BLOCK_LOAD_TRANSPOSE,
    BLOCK_LOAD_WARP_TRANSPOSE,
    BLOCK_LOAD_WARP_TRANSPOSE_TIMESLICED,
};

template <typename T, int BLOCK_DIM_X, int ITEMS_PER_THREAD, BlockLoadAlgorithm ALGORITHM = BLOCK_LOAD_DIRECT,
          int BLOCK_DIM_Y = 1, int BLOCK_DIM_Z = 1>
class BlockLoad {
    static constexpr int BLOCK_THREADS = BLOCK_DIM_X * BLOCK_DIM_Y * BLOCK_DIM_Z;
    static constexpr int TILE = BLOCK_THREADS * ITEMS_PER_THREAD;
    static constexpr bool WARP = ALGORITHM == BLOCK_LOAD_WARP_TRANSPOSE || ALGORITHM == BLOCK_LOAD_WARP_TRANSPOSE_TIMESLICED;
    static_assert(!WARP || BLOCK_THREADS % 32 == 0, "BLOCK_LOAD_WARP_TRANSPOSE needs a multiple of 32 threads");
    using Storage = sim_detail::Raw<T, TILE>;

public:
    struct TempStorage : Storage {};

    __device__ BlockLoad() : temp(private_storage()) {}
    __device__ BlockLoad(TempStorage& storage) : temp(storage) {}

    template <typename InputIt>
    __device__ void Load(InputIt block_itr, T (&items)[ITEMS_PER_THREAD]) {
        load(block_itr, items, TILE, false, T{});
    }
    template <typename InputIt>
    __device__ void Load(InputIt block_itr, T (&items)[ITEMS_PER_THREAD], int valid_items) {
        load(block_itr, items, valid_items, false, T{});
    }
    template <typename InputIt, typename DefaultT>
    __device__ void Load(InputIt block_itr, T (&items)[ITEMS_PER_THREAD], int valid_items, DefaultT oob_default) {
        load(block_itr, items, valid_items, true, T(oob_default));
    }

private:
    static TempStorage& private_storage() {
        __shared__ TempStorage storage;
        return storage;
    }

    template <typename InputIt>
    __device__ void load(InputIt in, T (&items)[ITEMS_PER_THREAD], int valid, bool has_default, T dflt) {
        sim_detail::check_block("cub::BlockLoad", BLOCK_DIM_X, BLOCK_DIM_Y, BLOCK_DIM_Z);
        int t = sim_detail::linear_tid();
        if (t >= BLOCK_THREADS) __builtin_unreachable();  // check_block holds; tells g++ the bounds
        constexpr int I = ITEMS_PER_THREAD;
        if (ALGORITHM == BLOCK_LOAD_DIRECT || ALGORITHM == BLOCK_LOAD_VECTORIZE || ALGORITHM == BLOCK_LOAD_STRIPED) {
            for (int i = 0; i < I; i++) {
                int idx = ALGORITHM == BLOCK_LOAD_STRIPED ? i * BLOCK_THREADS + t : t * I + i;
                if (idx < valid) items[i] = in[idx];
                else if (has_default) items[i] = dflt;
            }
            return;
        }
        // Transposing loads: a coalesced (striped) read into shared memory, then each thread takes its
        // consecutive items. The whole block (TRANSPOSE) or each warp (WARP_TRANSPOSE) is one unit.
        T* s = temp.get();
        int unit = WARP ? 32 : BLOCK_THREADS, base = WARP ? t / 32 * 32 * I : 0, u = WARP ? t % 32 : t;
        for (int i = 0; i < I; i++) {
            int idx = base + i * unit + u;
            s[idx] = idx < valid ? T(in[idx]) : has_default ? dflt : sim_detail::undefined(dflt);
        }
        if (WARP) __syncwarp();
        else __syncthreads();
        for (int i = 0; i < I; i++) items[i] = s[base + u * I + i];
    }

    TempStorage& temp;
};

}  // namespace cub
