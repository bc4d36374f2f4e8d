// cub::BlockStore under the simulator: each thread's items[] (blocked arrangement, or striped for
// BLOCK_STORE_STRIPED) to a tile of BLOCK_THREADS * ITEMS_PER_THREAD consecutive items; with
// valid_items, only that many are written.
//
// Barriers, as CUB's: none for DIRECT, STRIPED and VECTORIZE; BLOCK_STORE_TRANSPOSE stages the tile in
// TempStorage with one __syncthreads; the WARP_TRANSPOSE variants stage each warp's part with one
// __syncwarp (BLOCK_THREADS must be a multiple of 32). Reuse of TempStorage needs a barrier first.
#pragma once
#include "../detail/sim_shim.cuh"

namespace cub {

enum BlockStoreAlgorithm {
    BLOCK_STORE_DIRECT,
    BLOCK_STORE_STRIPED,
    BLOCK_STORE_VECTORIZE,
    BLOCK_STORE_TRANSPOSE,
    BLOCK_STORE_WARP_TRANSPOSE,
    BLOCK_STORE_WARP_TRANSPOSE_TIMESLICED,
};

template <typename T, int BLOCK_DIM_X, int ITEMS_PER_THREAD, BlockStoreAlgorithm ALGORITHM = BLOCK_STORE_DIRECT,
          int BLOCK_DIM_Y = 1, int BLOCK_DIM_Z = 1>
class BlockStore {
    static constexpr int BLOCK_THREADS = BLOCK_DIM_X * BLOCK_DIM_Y * BLOCK_DIM_Z;
    static constexpr int TILE = BLOCK_THREADS * ITEMS_PER_THREAD;
    static constexpr bool WARP =
        ALGORITHM == BLOCK_STORE_WARP_TRANSPOSE || ALGORITHM == BLOCK_STORE_WARP_TRANSPOSE_TIMESLICED;
    static_assert(!WARP || BLOCK_THREADS % 32 == 0, "BLOCK_STORE_WARP_TRANSPOSE needs a multiple of 32 threads");
    using Storage = sim_detail::Raw<T, TILE>;

public:
    struct TempStorage : Storage {};

    __device__ BlockStore() : temp(private_storage()) {}
    __device__ BlockStore(TempStorage& storage) : temp(storage) {}

    template <typename OutputIt>
    __device__ void Store(OutputIt block_itr, T (&items)[ITEMS_PER_THREAD]) {
        store(block_itr, items, TILE);
    }
    template <typename OutputIt>
    __device__ void Store(OutputIt block_itr, T (&items)[ITEMS_PER_THREAD], int valid_items) {
        store(block_itr, items, valid_items);
    }

private:
    static TempStorage& private_storage() {
        __shared__ TempStorage storage;
        return storage;
    }

    template <typename OutputIt>
    __device__ void store(OutputIt out, T (&items)[ITEMS_PER_THREAD], int valid) {
        sim_detail::check_block("cub::BlockStore", BLOCK_DIM_X, BLOCK_DIM_Y, BLOCK_DIM_Z);
        int t = sim_detail::linear_tid();
        if (t >= BLOCK_THREADS) __builtin_unreachable();  // check_block holds; tells g++ the bounds
        constexpr int I = ITEMS_PER_THREAD;
        if (ALGORITHM == BLOCK_STORE_DIRECT || ALGORITHM == BLOCK_STORE_VECTORIZE || ALGORITHM == BLOCK_STORE_STRIPED) {
            for (int i = 0; i < I; i++) {
                int idx = ALGORITHM == BLOCK_STORE_STRIPED ? i * BLOCK_THREADS + t : t * I + i;
                if (idx < valid) out[idx] = items[i];
            }
            return;
        }
        // Transposing stores: each thread puts its consecutive items in shared memory, then the block
        // (TRANSPOSE) or each warp (WARP_TRANSPOSE) writes them out striped (coalesced).
        T* s = temp.get();
        int unit = WARP ? 32 : BLOCK_THREADS, base = WARP ? t / 32 * 32 * I : 0, u = WARP ? t % 32 : t;
        for (int i = 0; i < I; i++) s[base + u * I + i] = items[i];
        if (WARP) __syncwarp();
        else __syncthreads();
        for (int i = 0; i < I; i++) {
            int idx = base + i * unit + u;
            if (idx < valid) out[idx] = s[idx];
        }
    }

    TempStorage& temp;
};

}  // namespace cub
