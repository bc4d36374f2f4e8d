// The simulator's CUB: the subset of CUB the engine's kernels may use (see cuda/sim/README.md).
#pragma once
#include "block/block_load.cuh"
#include "block/block_reduce.cuh"
#include "block/block_scan.cuh"
#include "block/block_store.cuh"
#include "warp/warp_reduce.cuh"
