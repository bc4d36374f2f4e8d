// The simulator's thread model, as kernels see it: built-in indices, barriers, warp collectives, and
// the launch entry point. Implemented in scheduler.cpp.
//
// Model: each CUDA thread is a fiber (Boost.Context fcontext, 64 KiB stack, stacks reused across
// blocks). A block's fibers run on one OS thread, round-robin: each runs until it blocks (a barrier, a
// warp collective) or exits. Between two barriers the order in which threads run is SIM_ORDER:
// `fwd` (0, 1, ...), `rev` (..., 1, 0) or `rand` (a new permutation per pass, from SIM_SEED), so code
// that lacks a barrier gives a different answer under some order. SIM_THREADS (default 1) runs blocks
// on that many OS threads.
//
// Bug reports name the kernel, the block and the thread: a barrier reached at different call sites, a
// deadlock, a collective whose mask excludes the caller or names a lane that has exited, does not exist
// or waits elsewhere, a shuffle that reads a lane outside its mask, a bad launch configuration. By
// default a report is printed and the program aborts; tests use sim::ThrowErrors to get a sim::Error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <source_location>
#include <stdexcept>
#include <string>

#include <cuda_runtime.h>

namespace sim {

// A kernel fault found by the simulator; thrown only under ThrowErrors.
struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// While alive, faults throw sim::Error out of launch() instead of aborting (for tests of the simulator
// and of kernels' planted bugs). Not nestable across OS threads: set it on the launching thread.
struct ThrowErrors {
    bool saved;
    ThrowErrors();
    ~ThrowErrors();
};

// The running CUDA thread and block, as seen by the OS thread that runs them.
struct Fiber;
struct Block;
struct ThreadView {
    uint3 idx;     // threadIdx
    int linear;    // x + y*bx + z*bx*by
};
struct BlockView {
    uint3 idx;     // blockIdx
    dim3 dim;      // blockDim
    dim3 grid;     // gridDim
    unsigned char* dyn_smem;
};
inline thread_local ThreadView* tl_thread = nullptr;
inline thread_local BlockView* tl_block = nullptr;

inline unsigned char* dynamic_smem() { return tl_block->dyn_smem; }

// Blocks until every live thread of the block arrives at a barrier from the same call site; returns
// the number of threads (kind 1), all (2) or any (3) of the predicates that are non-zero.
int block_barrier(int kind, int pred, std::source_location loc);

// Warp collectives. `value` carries up to 8 bytes; `arg` is the shuffle's lane, delta or lane mask.
enum class Op : int { SyncWarp, Ballot, ShflIdx, ShflUp, ShflDown, ShflXor };
uint64_t warp_collective(Op op, unsigned mask, uint64_t value, int arg, int width, std::source_location loc);
unsigned active_mask();

// Reports a fault of the running thread (trap, bad use of a shimmed primitive). Never returns.
[[noreturn]] void fault(const std::string& message);

// Runs grid x block threads of `body` (which calls the kernel); `kernel` names it in reports.
void launch_kernel(const void* kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   void (*body)(void*), void* closure);

// Overrides SIM_ORDER ("fwd", "rev" or "rand") for the launches that follow; returns the previous
// order. For tests that show a bug appearing under one order and not another.
std::string set_order(const std::string& order);

// Per-kernel dynamic shared memory limit set by cudaFuncSetAttribute (default 48 KiB).
void set_max_dynamic_smem(const void* kernel, int bytes);

}  // namespace sim

// The built-in variables. Read-only views of the running fiber's and block's indices.
#define threadIdx (static_cast<const uint3&>(::sim::tl_thread->idx))
#define blockIdx (static_cast<const uint3&>(::sim::tl_block->idx))
#define blockDim (static_cast<const dim3&>(::sim::tl_block->dim))
#define gridDim (static_cast<const dim3&>(::sim::tl_block->grid))
inline constexpr int warpSize = 32;

inline void __syncthreads(std::source_location loc = std::source_location::current()) {
    sim::block_barrier(0, 0, loc);
}
inline int __syncthreads_count(int pred, std::source_location loc = std::source_location::current()) {
    return sim::block_barrier(1, pred, loc);
}
inline int __syncthreads_and(int pred, std::source_location loc = std::source_location::current()) {
    return sim::block_barrier(2, pred, loc);
}
inline int __syncthreads_or(int pred, std::source_location loc = std::source_location::current()) {
    return sim::block_barrier(3, pred, loc);
}

inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location loc = std::source_location::current()) {
    sim::warp_collective(sim::Op::SyncWarp, mask, 0, 0, 32, loc);
}
inline unsigned __ballot_sync(unsigned mask, int pred, std::source_location loc = std::source_location::current()) {
    return (unsigned)sim::warp_collective(sim::Op::Ballot, mask, pred != 0, 0, 32, loc);
}
inline int __any_sync(unsigned mask, int pred, std::source_location loc = std::source_location::current()) {
    return sim::warp_collective(sim::Op::Ballot, mask, pred != 0, 0, 32, loc) != 0;
}
inline int __all_sync(unsigned mask, int pred, std::source_location loc = std::source_location::current()) {
    return (unsigned)sim::warp_collective(sim::Op::Ballot, mask, pred != 0, 0, 32, loc) == mask;
}
// The lanes of the warp that have not exited (the simulator has no notion of convergence: never build
// a mask for divergent code from this).
inline unsigned __activemask() { return sim::active_mask(); }

namespace sim {
template <class T>
T shuffle(Op op, unsigned mask, T var, int arg, int width, std::source_location loc) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of a type wider than 8 bytes");
    uint64_t bits = 0;
    __builtin_memcpy(&bits, static_cast<const void*>(&var), sizeof(T));
    bits = warp_collective(op, mask, bits, arg, width, loc);
    T out;
    __builtin_memcpy(static_cast<void*>(&out), &bits, sizeof(T));
    return out;
}
}  // namespace sim

template <class T>
T __shfl_sync(unsigned mask, T var, int srcLane, int width = 32,
              std::source_location loc = std::source_location::current()) {
    return sim::shuffle(sim::Op::ShflIdx, mask, var, srcLane, width, loc);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                 std::source_location loc = std::source_location::current()) {
    return sim::shuffle(sim::Op::ShflUp, mask, var, (int)delta, width, loc);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                   std::source_location loc = std::source_location::current()) {
    return sim::shuffle(sim::Op::ShflDown, mask, var, (int)delta, width, loc);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = 32,
                  std::source_location loc = std::source_location::current()) {
    return sim::shuffle(sim::Op::ShflXor, mask, var, laneMask, width, loc);
}

inline void __trap() { sim::fault("__trap() called"); }
