// Planted bugs that the simulator must catch, each a test that fails when it is not caught: a missing
// barrier (a wrong answer under every thread order), a barrier reached at different call sites, a
// shuffle after some lanes returned, a mask that excludes its caller, a shuffle reading outside its
// mask, a deadlock, a read of uninitialised shared memory and an output never written (NaN poison).
// Also: the default mode (report on stderr, abort) in a child process, and legal early exits.
// The kernels compile under nvcc too; the tests that need the simulator's reports are simulator-only.
#include <cmath>
#include <string>
#include <vector>

#ifdef CUDA_SIM
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "test_util.h"

// out: (blockDim.x,) = in reversed through shared memory. The bug: no barrier between the writes and
// the reads, so a thread reads a slot that its owner has not written yet (still poison under the
// simulator) under fwd, rev and rand alike.
template <bool kBarrier>
__global__ void reverse_smem(float* out, const float* in) {
    SIM_DYNAMIC_SMEM(float, s);
    int t = threadIdx.x, n = blockDim.x;
    s[t] = in[t];
    if (kBarrier) __syncthreads();
    out[t] = s[n - 1 - t];
}

// out: (1,) = sum of x: (blockDim.x,), blockDim.x a power of two. With kBarrier false, the tree has
// no barrier between its stages: thread 0 may add a partial sum before its owner finished it.
template <bool kBarrier>
__global__ void tree_sum(float* out, const float* x) {
    SIM_DYNAMIC_SMEM(float, s);
    int t = threadIdx.x;
    s[t] = x[t];
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (t < stride) s[t] += s[t + stride];
        if (kBarrier) __syncthreads();
    }
    if (t == 0) out[0] = s[0];
}

// Threads below 16 wait at one barrier, the others at another: divergent __syncthreads.
__global__ void divergent_barrier(float* out) {
    if (threadIdx.x < 16) {
        __syncthreads();
        out[threadIdx.x] = 1.0f;
    } else {
        __syncthreads();
        out[threadIdx.x] = 2.0f;
    }
}

// Lanes 16..31 return, then lanes 0..15 shuffle with the full mask.
__global__ void shuffle_after_return(float* out) {
    int lane = threadIdx.x % 32;
    if (lane >= 16) return;
    float v = (float)lane;
    v += __shfl_down_sync(0xffffffffu, v, 1);
    out[threadIdx.x] = v;
}

// Lane 5 calls a shuffle whose mask names only lane 0.
__global__ void mask_excludes_caller(float* out) {
    float v = __shfl_sync(threadIdx.x == 5 ? 0x1u : 0xffffffffu, 1.0f, 0);
    out[threadIdx.x] = v;
}

// Lanes 0..15 shuffle among themselves but read lane 20.
__global__ void shuffle_outside_mask(float* out) {
    if (threadIdx.x >= 16) return;
    out[threadIdx.x] = __shfl_sync(0x0000ffffu, (float)threadIdx.x, 20);
}

// Thread 0 waits for its warp in __syncwarp while the others wait at __syncthreads.
__global__ void warp_waits_on_block(float* out) {
    if (threadIdx.x == 0) __syncwarp();
    else __syncthreads();
    out[threadIdx.x] = 0.0f;
}

// out: (1,) = sum of the first blockDim.x shared slots; only even threads wrote theirs.
__global__ void read_uninitialised_smem(float* out) {
    SIM_DYNAMIC_SMEM(float, s);
    if (threadIdx.x % 2 == 0) s[threadIdx.x] = 1.0f;
    __syncthreads();
    if (threadIdx.x == 0) {
        float sum = 0.0f;
        for (unsigned i = 0; i < blockDim.x; i++) sum += s[i];
        out[0] = sum;
    }
}

// The same with static shared memory; run twice, so the second block on an OS thread would see the
// first one's values if the simulator did not poison static __shared__ memory at every block start.
__global__ void read_uninitialised_static_smem(float* out, int write_all) {
    __shared__ float s[32];
    if (write_all || threadIdx.x % 2 == 0) s[threadIdx.x] = 1.0f;
    __syncthreads();
    if (threadIdx.x == 0) {
        float sum = 0.0f;
        for (unsigned i = 0; i < blockDim.x; i++) sum += s[i];
        out[0] = sum;
    }
}

// Writes only the even elements of out: (n,).
__global__ void write_even_only(float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n && i % 2 == 0) out[i] = 1.0f;
}

// Threads from 40 on return; the rest meet at a barrier. out: (40,) = 39 - t.
__global__ void early_exit_barrier(float* out) {
    __shared__ float s[64];
    int t = threadIdx.x;
    if (t >= 40) return;
    s[t] = (float)t;
    __syncthreads();
    out[t] = s[39 - t];
}

#ifdef CUDA_SIM
namespace {
// Runs a launch that must fault; returns the simulator's report ("" when none came).
template <class F>
std::string fault_of(F&& run) {
    sim::ThrowErrors mode;
    try {
        run();
    } catch (const sim::Error& e) {
        std::printf("caught: %s\n", e.what());
        return e.what();
    }
    std::printf("NOT caught\n");
    return "";
}
bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }
}  // namespace

TEST_CASE("planted bug: missing barrier gives a wrong answer; with the barrier it is right") {
    const int n = 64;
    std::vector<float> in(n), want(n);
    for (int i = 0; i < n; i++) in[i] = (float)i, want[i] = (float)(n - 1 - i);
    DeviceArray<float> din(in), dout(n);
    launch(reverse_smem<true>, dim3(1), dim3(n), n * sizeof(float), nullptr, dout.ptr, din.ptr);
    CHECK(check_close("reverse with barrier", dout.back(), want, 0, 0));
    launch(reverse_smem<false>, dim3(1), dim3(n), n * sizeof(float), nullptr, dout.ptr, din.ptr);
    bool right = check_close("reverse without barrier (must differ)", dout.back(), want, 0, 0);
    CHECK_MESSAGE(!right, "the missing barrier went unnoticed");
}

TEST_CASE("planted bug: a tree reduction without barriers between stages is wrong under some order") {
    // Under rev every thread finishes before the lower ones read its slot, so the answer is right by
    // luck; under fwd thread 0 runs the whole tree first. This is why tests run under every order.
    const int n = 64;
    std::vector<float> x(n);
    for (int i = 0; i < n; i++) x[i] = (float)(i + 1);
    float want = n * (n + 1) / 2.0f;
    DeviceArray<float> dx(x), dout(1);
    int wrong = 0;
    for (const char* order : {"fwd", "rev", "rand"}) {
        std::string saved = sim::set_order(order);
        launch(tree_sum<true>, dim3(1), dim3(n), n * sizeof(float), nullptr, dout.ptr, dx.ptr);
        float good = dout.back()[0];
        launch(tree_sum<false>, dim3(1), dim3(n), n * sizeof(float), nullptr, dout.ptr, dx.ptr);
        float bad = dout.back()[0];
        sim::set_order(saved);
        std::printf("order %-4s: with barriers %g, without %g (want %g)\n", order, good, bad, want);
        CHECK(good == want);
        wrong += bad != want;
        if (std::string(order) == "fwd") CHECK_MESSAGE(bad != want, "fwd order hid the missing barrier");
    }
    CHECK(wrong >= 1);
}

TEST_CASE("planted bug: __syncthreads reached at different call sites") {
    DeviceArray<float> d(64);
    std::string r = fault_of([&] { launch(divergent_barrier, dim3(2), dim3(64), 0, nullptr, d.ptr); });
    CHECK(contains(r, "different call sites"));
    CHECK(contains(r, "divergent_barrier"));
    CHECK(contains(r, "test_sim_bugs.cu"));
}

TEST_CASE("by default a fault prints the report on stderr and aborts (the engine's mode)") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    std::fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        freopen("/dev/null", "w", stdout);  // the child's doctest must not report to the runner
        signal(SIGABRT, SIG_DFL);            // nor catch the abort
        DeviceArray<float> d(64);
        launch(divergent_barrier, dim3(1), dim3(64), 0, nullptr, d.ptr);
        _exit(0);  // not reached when the fault is caught
    }
    close(fds[1]);
    std::string err;
    char buf[512];
    for (ssize_t k; (k = read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, (size_t)k);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    std::printf("child: %s, stderr: %s", WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited", err.c_str());
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
    CHECK(contains(err, "sim: kernel divergent_barrier(float*), block (0,0,0), thread (16,0,0)"));
}

TEST_CASE("planted bug: shuffle after some lanes returned") {
    DeviceArray<float> d(32);
    std::string r = fault_of([&] { launch(shuffle_after_return, dim3(1), dim3(32), 0, nullptr, d.ptr); });
    CHECK(contains(r, "has exited"));
    CHECK(contains(r, "__shfl_down_sync"));
}

TEST_CASE("planted bug: a mask that excludes the calling lane") {
    DeviceArray<float> d(32);
    std::string r = fault_of([&] { launch(mask_excludes_caller, dim3(1), dim3(32), 0, nullptr, d.ptr); });
    CHECK(contains(r, "excludes the calling lane 5"));
}

TEST_CASE("planted bug: a shuffle that reads a lane outside its mask") {
    DeviceArray<float> d(32);
    std::string r = fault_of([&] { launch(shuffle_outside_mask, dim3(1), dim3(32), 0, nullptr, d.ptr); });
    CHECK(contains(r, "reads lane 20, outside the mask"));
}

TEST_CASE("planted bug: a warp collective waiting on threads held at a barrier deadlocks") {
    DeviceArray<float> d(64);
    std::string r = fault_of([&] { launch(warp_waits_on_block, dim3(1), dim3(64), 0, nullptr, d.ptr); });
    CHECK(contains(r, "deadlock"));
}

TEST_CASE("planted bug: read of uninitialised shared memory shows as NaN") {
    DeviceArray<float> d(1);
    launch(read_uninitialised_smem, dim3(1), dim3(32), 32 * sizeof(float), nullptr, d.ptr);
    float got = d.back()[0];
    std::printf("sum over half-written shared memory: %g (NaN expected)\n", got);
    CHECK(std::isnan(got));
}

TEST_CASE("planted bug: read of uninitialised static __shared__ memory shows as NaN, block after block") {
    DeviceArray<float> d(1);
    launch(read_uninitialised_static_smem, dim3(1), dim3(32), 0, nullptr, d.ptr, 1);
    float full = d.back()[0];
    launch(read_uninitialised_static_smem, dim3(1), dim3(32), 0, nullptr, d.ptr, 0);
    float half = d.back()[0];
    std::printf("static smem: all written %g (32 expected), half written %g (NaN expected)\n", full, half);
    CHECK(full == 32.0f);
    CHECK(std::isnan(half));
}

TEST_CASE("planted bug: an output element never written stays NaN from cudaMalloc's poison") {
    DeviceArray<float> d(8);
    launch(write_even_only, dim3(1), dim3(8), 0, nullptr, d.ptr, 8);
    std::vector<float> h = d.back();
    std::printf("out: %g %g %g %g ... (odd elements NaN expected)\n", h[0], h[1], h[2], h[3]);
    CHECK(h[0] == 1.0f);
    CHECK(std::isnan(h[1]));
    CHECK(std::isnan(h[7]));
}

TEST_CASE("planted bug: a full mask in a warp of 16 threads names lanes that do not exist") {
    DeviceArray<float> d(16);
    std::string r = fault_of([&] { launch(shuffle_after_return, dim3(1), dim3(16), 0, nullptr, d.ptr); });
    CHECK(contains(r, "does not exist"));
}

TEST_CASE("not a bug: threads that exited count as arrived at a barrier") {
    DeviceArray<float> d(64);
    launch(early_exit_barrier, dim3(1), dim3(64), 0, nullptr, d.ptr);
    std::vector<float> h = d.back();
    std::printf("40 of 64 threads at the barrier: out[0] %g out[39] %g\n", h[0], h[39]);
    CHECK(h[0] == 39.0f);
    CHECK(h[39] == 0.0f);
}
#endif
