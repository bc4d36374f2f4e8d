// The simulator's scheduler: CUDA threads as fibers, blocks run round-robin, barriers and warp
// collectives with CUDA's rules, and the bug reports (see scheduler.h for the model).
//
// A block runs on one OS thread ("worker"). The scheduler makes passes over the block's fibers in the
// order SIM_ORDER asks for; each ready fiber runs until it blocks or exits. When a pass ends with no
// fiber ready, either every live thread waits at a barrier (the barrier opens, after checking that all
// came from one call site) or the block is deadlocked (reported). A warp collective completes the
// moment the last lane of its mask arrives; that lane computes every lane's result.
#include "sim.h"

#include <boost/context/detail/fcontext.hpp>
#include <cxxabi.h>
#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// The linker's bounds of the section that holds every static __shared__ variable (see sim.h), as
// addresses in the TLS template; null when no kernel of the program has one.
extern "C" {
extern char __start_sim_shared[] __attribute__((weak));
extern char __stop_sim_shared[] __attribute__((weak));
}

namespace sim {
namespace ctx = boost::context::detail;

namespace {

enum class State : uint8_t { Ready, Barrier, Warp, Exited };

struct FiberState {
    ThreadView view;
    ctx::fcontext_t ctx = nullptr;
    State state = State::Ready;
    int lane = 0, warp = 0;
    // At a barrier.
    int bar_kind = 0, pred = 0, bar_result = 0;
    // In a warp collective.
    Op op = Op::SyncWarp;
    unsigned mask = 0;
    uint64_t value = 0, result = 0;
    int arg = 0, width = 32;
    std::source_location site;
};

struct Launch {
    std::string name;
    void (*body)(void*);
    void* closure;
    dim3 grid, block;
    size_t smem;
    uint64_t seed;
};

// Per warp, as bit masks of lanes: which wait in a collective, which have exited.
struct WarpState {
    unsigned waiting = 0, exited = 0;
};

struct BlockState {
    BlockView view;
    const Launch* launch = nullptr;
    std::vector<FiberState> fibers;
    std::vector<WarpState> warps;
    int n = 0;
    int cur = -1;
    int at_barrier = 0, exited = 0;
    bool failed = false;
    std::string error;
};

enum class Order { Fwd, Rev, Rand };

struct Config {
    Order order = Order::Fwd;
    uint64_t seed = 1;
    int threads = 1;
    size_t stack_bytes = 64 << 10;
};

[[noreturn]] void config_error(const char* what) {
    std::fprintf(stderr, "error: %s\n", what);
    std::exit(1);
}

const Config& config() {
    static const Config c = [] {
        Config c;
        if (const char* s = std::getenv("SIM_ORDER")) {
            std::string o = s;
            if (o == "fwd") c.order = Order::Fwd;
            else if (o == "rev") c.order = Order::Rev;
            else if (o == "rand") c.order = Order::Rand;
            else config_error("SIM_ORDER must be fwd, rev or rand");
        }
        if (const char* s = std::getenv("SIM_SEED")) c.seed = std::strtoull(s, nullptr, 10);
        if (const char* s = std::getenv("SIM_THREADS")) {
            c.threads = std::atoi(s);
            if (c.threads < 1 || c.threads > 256) config_error("SIM_THREADS must be between 1 and 256");
        }
        if (const char* s = std::getenv("SIM_STACK_KIB")) {
            long k = std::atol(s);
            if (k < 16 || k > 65536) config_error("SIM_STACK_KIB must be between 16 and 65536");
            c.stack_bytes = (size_t)k << 10;
        }
        return c;
    }();
    return c;
}

uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// One per OS thread that runs blocks: its fiber stacks (kept across blocks and launches), its dynamic
// shared memory, and the scheduler's own context while a fiber runs.
const size_t kPage = (size_t)sysconf(_SC_PAGESIZE);

struct Worker {
    std::vector<char*> stacks;  // each stack_bytes + a guard page below
    std::vector<unsigned char> smem;
    std::vector<int> order;
    ctx::fcontext_t sched = nullptr;
    BlockState block;
    ~Worker() {
        for (char* s : stacks) munmap(s, config().stack_bytes + kPage);
    }
    char* stack_top(int i) {
        size_t page = kPage;
        while ((int)stacks.size() <= i) {
            size_t bytes = config().stack_bytes + page;
            void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (p == MAP_FAILED) config_error("sim: cannot map a fiber stack");
            mprotect(p, page, PROT_NONE);  // a stack overflow faults instead of corrupting a neighbour
            stacks.push_back(static_cast<char*>(p));
        }
        return stacks[i] + config().stack_bytes + page;
    }
};

thread_local Worker* tl_worker = nullptr;

// This OS thread's copy of the static __shared__ section: found once per thread from the program's TLS
// segment (dl_iterate_phdr gives this thread's block of each module), and checked against a probe
// variable placed in the same section.
__attribute__((section("sim_shared"))) thread_local char tl_probe;
struct StaticShared {
    unsigned char* base = nullptr;
    size_t bytes = 0;
};
thread_local StaticShared tl_static_shared;
thread_local bool tl_static_shared_known = false;

StaticShared find_static_shared() {
    StaticShared r;
    if (!__start_sim_shared || (uintptr_t)__stop_sim_shared <= (uintptr_t)__start_sim_shared) return r;
    struct Query {
        uintptr_t start;
        unsigned char* found;
    } q{(uintptr_t)__start_sim_shared, nullptr};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) -> int {
            Query& q = *static_cast<Query*>(data);
            for (int i = 0; i < info->dlpi_phnum; i++) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_TLS || !info->dlpi_tls_data) continue;
                uintptr_t seg = info->dlpi_addr + ph.p_vaddr;
                if (q.start >= seg && q.start < seg + ph.p_memsz) {
                    q.found = static_cast<unsigned char*>(info->dlpi_tls_data) + (q.start - seg);
                    return 1;
                }
            }
            return 0;
        },
        &q);
    size_t bytes = (size_t)((uintptr_t)__stop_sim_shared - (uintptr_t)__start_sim_shared);
    unsigned char* probe = reinterpret_cast<unsigned char*>(&tl_probe);
    if (!q.found || probe < q.found || probe >= q.found + bytes) {
        static std::atomic<bool> warned{false};
        if (!warned.exchange(true))
            std::fprintf(stderr, "sim: warning: cannot locate static __shared__ memory; it is not poisoned\n");
        return r;
    }
    r.base = q.found;
    r.bytes = bytes;
    return r;
}
std::atomic<int> g_order{-1};  // set_order()'s choice; -1: SIM_ORDER's

Order current_order() {
    int o = g_order.load();
    return o < 0 ? config().order : (Order)o;
}
std::atomic<bool> g_throw{false};
std::mutex g_mutex;  // kernel-name cache and attributes
std::map<const void*, std::string> g_names;
std::map<const void*, int> g_max_smem;

std::string kernel_name(const void* kernel) {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_names.find(kernel);
    if (it != g_names.end()) return it->second;
    std::string name;
    Dl_info info;
    if (dladdr(kernel, &info) && info.dli_sname) {
        int status = 0;
        char* d = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
        name = status == 0 && d ? d : info.dli_sname;
        std::free(d);
    } else {
        char buf[64];
        std::snprintf(buf, sizeof buf, "kernel at %p (link with -rdynamic for its name)", kernel);
        name = buf;
    }
    g_names[kernel] = name;
    return name;
}

std::string where(const std::source_location& s) {
    const char* f = s.file_name();
    return std::string(f) + ":" + std::to_string(s.line());
}

std::string thread_name(const BlockState& b, int i) {
    const uint3& t = b.fibers[i].view.idx;
    char buf[160];
    std::snprintf(buf, sizeof buf, "block (%u,%u,%u), thread (%u,%u,%u)", b.view.idx.x, b.view.idx.y,
                  b.view.idx.z, t.x, t.y, t.z);
    return buf;
}

const char* op_name(Op op) {
    switch (op) {
        case Op::SyncWarp: return "__syncwarp";
        case Op::Ballot: return "__ballot_sync/__any_sync/__all_sync";
        case Op::ShflIdx: return "__shfl_sync";
        case Op::ShflUp: return "__shfl_up_sync";
        case Op::ShflDown: return "__shfl_down_sync";
        case Op::ShflXor: return "__shfl_xor_sync";
    }
    return "?";
}

bool same_site(const std::source_location& a, const std::source_location& b) {
    return a.line() == b.line() && a.column() == b.column() &&
           (a.file_name() == b.file_name() || std::strcmp(a.file_name(), b.file_name()) == 0);
}

// Records a fault of thread i and leaves the block: aborts, or (ThrowErrors) marks the block failed;
// the caller then returns to the scheduler, which throws.
void report(BlockState& b, int i, const std::string& msg) {
    std::string full = "sim: kernel " + b.launch->name + ", " + thread_name(b, i) + ": " + msg;
    if (!g_throw.load()) {
        std::fflush(stdout);
        std::fprintf(stderr, "%s\n", full.c_str());
        std::abort();
    }
    if (!b.failed) {
        b.failed = true;
        b.error = full;
    }
}

// From a fiber: back to the scheduler until resumed.
void yield_to_scheduler(Worker& w) {
    ctx::transfer_t t = ctx::jump_fcontext(w.sched, nullptr);
    w.sched = t.fctx;
}

// From a fiber that found a fault: leave for good.
[[noreturn]] void fail_here(Worker& w, const std::string& msg) {
    BlockState& b = w.block;
    report(b, b.cur, msg);
    b.fibers[b.cur].state = State::Exited;
    ctx::jump_fcontext(w.sched, nullptr);
    __builtin_unreachable();
}

void fiber_main(ctx::transfer_t t) {
    Worker& w = *tl_worker;
    w.sched = t.fctx;
    BlockState& b = w.block;
    b.launch->body(b.launch->closure);
    FiberState& f = b.fibers[b.cur];
    f.state = State::Exited;
    b.exited++;
    WarpState& ws = b.warps[f.warp];
    ws.exited |= 1u << f.lane;
    // A lane that exits while others wait for it in a collective that names it: that collective can
    // never complete on a GPU.
    int base = f.warp * 32;
    for (unsigned p = ws.waiting; p; p &= p - 1) {
        int l = __builtin_ctz(p);
        FiberState& g = b.fibers[base + l];
        if (g.mask >> f.lane & 1u) {
            char buf[200];
            std::snprintf(buf, sizeof buf, "%s(mask 0x%08x) at %s waits for lane %d, which has exited",
                          op_name(g.op), g.mask, where(g.site).c_str(), f.lane);
            report(b, base + l, buf);
            break;
        }
    }
    ctx::jump_fcontext(w.sched, nullptr);
    __builtin_unreachable();
}

// The lane from which lane `lane` reads, by PTX's shfl.sync rule (c = ((32-width)<<8) | 0x1f, except
// c = (32-width)<<8 for up). Returns the lane itself when the source falls outside its segment.
int shfl_source(Op op, int lane, int b, int width) {
    int segmask = (32 - width) & 0x1f;
    int cval = op == Op::ShflUp ? 0 : 0x1f;
    int max_lane = (lane & segmask) | (cval & ~segmask);
    int min_lane = lane & segmask;
    b &= 0x1f;
    int j = lane;
    bool ok = false;
    switch (op) {
        case Op::ShflIdx: j = min_lane | (b & ~segmask); ok = j <= max_lane; break;
        case Op::ShflUp: j = lane - b; ok = j >= max_lane; break;
        case Op::ShflDown: j = lane + b; ok = j <= max_lane; break;
        case Op::ShflXor: j = lane ^ b; ok = j <= max_lane; break;
        default: break;
    }
    return ok ? j : lane;
}

// Every lane of `mask` in warp `base` has arrived: compute the results, wake the waiting lanes.
// Returns false (after reporting) on a fault.
bool complete_collective(BlockState& b, int base, unsigned mask, int caller) {
    FiberState& first = b.fibers[caller];
    if (first.op == Op::Ballot) {
        unsigned ballot = 0;
        for (int l = 0; l < 32; l++)
            if ((mask >> l & 1u) && b.fibers[base + l].value) ballot |= 1u << l;
        for (int l = 0; l < 32; l++)
            if (mask >> l & 1u) b.fibers[base + l].result = ballot;
    } else if (first.op != Op::SyncWarp) {
        for (int l = 0; l < 32; l++) {
            if (!(mask >> l & 1u)) continue;
            FiberState& g = b.fibers[base + l];
            int j = shfl_source(g.op, l, g.arg, g.width);
            if (!(mask >> j & 1u)) {
                char buf[200];
                std::snprintf(buf, sizeof buf, "%s(mask 0x%08x) at %s reads lane %d, outside the mask",
                              op_name(g.op), mask, where(g.site).c_str(), j);
                report(b, base + l, buf);
                return false;
            }
            g.result = b.fibers[base + j].value;
        }
    }
    for (int l = 0; l < 32; l++)
        if (mask >> l & 1u) b.fibers[base + l].state = State::Ready;
    b.warps[base / 32].waiting &= ~mask;
    return true;
}

// The scheduler's check when no fiber can run: open the barrier (after checking that every waiting
// thread came from one call site) or report a deadlock.
void open_barrier_or_report(BlockState& b) {
    if (b.at_barrier + b.exited < b.n) {
        // Some live thread waits in a collective that can never complete.
        std::string msg = "deadlock: no thread can run;";
        int shown = 0, who = -1;
        for (int k = 0; k < b.n && shown < 4; k++) {
            const FiberState& g = b.fibers[k];
            if (g.state == State::Warp) {
                char buf[240];
                std::snprintf(buf, sizeof buf, " thread %d waits in %s(mask 0x%08x) at %s;", k, op_name(g.op),
                              g.mask, where(g.site).c_str());
                msg += buf, shown++;
                if (who < 0) who = k;
            }
        }
        for (int k = 0; k < b.n; k++)
            if (b.fibers[k].state == State::Barrier) {
                msg += " thread " + std::to_string(k) + " waits at __syncthreads at " + where(b.fibers[k].site) + ";";
                break;
            }
        char tail[64];
        std::snprintf(tail, sizeof tail, " %d threads have exited", b.exited);
        msg += tail;
        report(b, who < 0 ? 0 : who, msg);
        return;
    }
    int first = -1, count = 0, all = 1, any = 0;
    for (int i = 0; i < b.n; i++) {
        const FiberState& g = b.fibers[i];
        if (g.state != State::Barrier) continue;
        if (first < 0) first = i;
        if (!same_site(g.site, b.fibers[first].site)) {
            report(b, i,
                   "__syncthreads reached at different call sites: this thread at " + where(g.site) + ", thread " +
                       std::to_string(first) + " at " + where(b.fibers[first].site) +
                       " (every live thread of a block must reach the same barrier)");
            return;
        }
        count += g.pred != 0, all &= g.pred != 0, any |= g.pred != 0;
    }
    for (int i = 0; i < b.n; i++) {
        FiberState& g = b.fibers[i];
        if (g.state != State::Barrier) continue;
        g.bar_result = g.bar_kind == 1 ? count : g.bar_kind == 2 ? all : any;
        g.state = State::Ready;
    }
    b.at_barrier = 0;
}

void run_block(Worker& w, const Launch& L, uint3 bidx, uint64_t block_linear) {
    BlockState& b = w.block;
    b.launch = &L;
    b.failed = false;
    b.error.clear();
    b.n = (int)(L.block.x * L.block.y * L.block.z);
    b.view.idx = bidx;
    b.view.dim = L.block;
    b.view.grid = L.grid;
    if (w.smem.size() < L.smem + 16) w.smem.resize(L.smem + 16);
    // Shared memory starts as 0xFF bytes, NaN in every float type: uninitialised reads show.
    std::memset(w.smem.data(), 0xFF, L.smem);
    if (!tl_static_shared_known) tl_static_shared = find_static_shared(), tl_static_shared_known = true;
    if (tl_static_shared.base) std::memset(tl_static_shared.base, 0xFF, tl_static_shared.bytes);
    b.view.dyn_smem = w.smem.data();
    b.fibers.resize(b.n);
    b.warps.assign((b.n + 31) / 32, WarpState{});
    b.at_barrier = 0;
    b.exited = 0;
    for (int i = 0; i < b.n; i++) {
        FiberState& f = b.fibers[i];
        f.view.idx = uint3{(unsigned)i % L.block.x, ((unsigned)i / L.block.x) % L.block.y,
                           (unsigned)i / (L.block.x * L.block.y)};
        f.view.linear = i;
        f.lane = i % 32;
        f.warp = i / 32;
        f.state = State::Ready;
        f.ctx = ctx::make_fcontext(w.stack_top(i), config().stack_bytes, fiber_main);
    }
    Order order = current_order();
    w.order.resize(b.n);
    for (int i = 0; i < b.n; i++) w.order[i] = order == Order::Rev ? b.n - 1 - i : i;
    uint64_t rng = L.seed ^ (block_linear * 0x9e3779b97f4a7c15ull);
    tl_block = &b.view;
    for (;;) {
        if (order == Order::Rand)
            for (int i = b.n - 1; i > 0; i--) std::swap(w.order[i], w.order[((splitmix(rng) >> 32) * (uint64_t)(i + 1)) >> 32]);
        bool ran = false;
        for (int i : w.order) {
            FiberState& f = b.fibers[i];
            if (f.state != State::Ready) continue;
            ran = true;
            b.cur = i;
            tl_thread = &f.view;
            ctx::transfer_t t = ctx::jump_fcontext(f.ctx, nullptr);
            f.ctx = t.fctx;
            if (b.failed) break;
        }
        if (b.failed) break;
        if (ran) continue;
        if (b.exited == b.n) break;
        open_barrier_or_report(b);
        if (b.failed) break;
    }
    tl_thread = nullptr;
    tl_block = nullptr;
    if (b.failed) throw Error(b.error);
}

std::vector<std::unique_ptr<Worker>>& workers() {
    static std::vector<std::unique_ptr<Worker>> w;
    return w;
}

std::atomic<uint64_t> g_launches{0};

}  // namespace

ThrowErrors::ThrowErrors() : saved(g_throw.exchange(true)) {}
ThrowErrors::~ThrowErrors() { g_throw.store(saved); }

int block_barrier(int kind, int pred, std::source_location loc) {
    Worker& w = *tl_worker;
    FiberState& f = w.block.fibers[w.block.cur];
    f.state = State::Barrier;
    w.block.at_barrier++;
    f.bar_kind = kind;
    f.pred = pred;
    f.site = loc;
    yield_to_scheduler(w);
    return f.bar_result;
}

uint64_t warp_collective(Op op, unsigned mask, uint64_t value, int arg, int width, std::source_location loc) {
    Worker& w = *tl_worker;
    BlockState& b = w.block;
    int me = b.cur;
    FiberState& f = b.fibers[me];
    int base = f.warp * 32;
    int lanes = std::min(32, b.n - base);
    unsigned exist = lanes == 32 ? ~0u : (1u << lanes) - 1;
    char buf[320];
    if (!(mask >> f.lane & 1u)) {
        std::snprintf(buf, sizeof buf, "%s(mask 0x%08x) at %s: the mask excludes the calling lane %d", op_name(op),
                      mask, where(loc).c_str(), f.lane);
        fail_here(w, buf);
    }
    if (mask & ~exist) {
        std::snprintf(buf, sizeof buf, "%s(mask 0x%08x) at %s names lane %d, which does not exist (warp of %d threads)",
                      op_name(op), mask, where(loc).c_str(), __builtin_ctz(mask & ~exist), lanes);
        fail_here(w, buf);
    }
    if (op >= Op::ShflIdx && (width < 1 || width > 32 || (width & (width - 1)))) {
        std::snprintf(buf, sizeof buf, "%s at %s: width %d is not a power of two in [1, 32]", op_name(op),
                      where(loc).c_str(), width);
        fail_here(w, buf);
    }
    WarpState& ws = b.warps[f.warp];
    if (mask & ws.exited) {
        std::snprintf(buf, sizeof buf, "%s(mask 0x%08x) at %s names lane %d, which has exited", op_name(op), mask,
                      where(loc).c_str(), __builtin_ctz(mask & ws.exited));
        fail_here(w, buf);
    }
    // Lanes of the mask already waiting must wait in the same collective (same operation and mask).
    for (unsigned p = mask & ws.waiting; p; p &= p - 1) {
        int l = __builtin_ctz(p);
        FiberState& g = b.fibers[base + l];
        if (g.mask != mask || g.op != op) {
            std::snprintf(buf, sizeof buf, "%s(mask 0x%08x) at %s, while lane %d waits in %s(mask 0x%08x) at %s",
                          op_name(op), mask, where(loc).c_str(), l, op_name(g.op), g.mask, where(g.site).c_str());
            fail_here(w, buf);
        }
    }
    bool all_here = (mask & ~(1u << f.lane) & ~ws.waiting) == 0;
    f.op = op;
    f.mask = mask;
    f.value = value;
    f.arg = arg;
    f.width = width;
    f.site = loc;
    f.state = State::Warp;
    ws.waiting |= 1u << f.lane;
    if (all_here) {
        if (!complete_collective(b, base, mask, me)) {
            f.state = State::Exited;
            ctx::jump_fcontext(w.sched, nullptr);
        }
    } else {
        yield_to_scheduler(w);
    }
    return f.result;
}

unsigned active_mask() {
    Worker& w = *tl_worker;
    BlockState& b = w.block;
    int base = b.fibers[b.cur].warp * 32;
    unsigned m = 0;
    for (int l = 0; l < 32 && base + l < b.n; l++)
        if (b.fibers[base + l].state != State::Exited) m |= 1u << l;
    return m;
}

void fault(const std::string& message) {
    Worker* w = tl_worker;
    if (!w || w->block.cur < 0 || !tl_thread) {
        std::fprintf(stderr, "sim: %s (outside a kernel)\n", message.c_str());
        std::abort();
    }
    fail_here(*w, message);
}

std::string set_order(const std::string& order) {
    static const char* names[] = {"fwd", "rev", "rand"};
    std::string old = names[(int)current_order()];
    if (order == "fwd") g_order = (int)Order::Fwd;
    else if (order == "rev") g_order = (int)Order::Rev;
    else if (order == "rand") g_order = (int)Order::Rand;
    else fault("set_order: the order must be fwd, rev or rand, not '" + order + "'");
    return old;
}

void set_max_dynamic_smem(const void* kernel, int bytes) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_max_smem[kernel] = bytes;
}

void set_last_error(cudaError_t e);  // runtime.cpp

void launch_kernel(const void* kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   void (*body)(void*), void* closure) {
    (void)stream;  // every stream runs in order, at once
    if (tl_thread) fault("a kernel launched another kernel (dynamic parallelism is not simulated)");
    uint64_t nthreads = (uint64_t)block.x * block.y * block.z;
    if (nthreads == 0 || nthreads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 || grid.x == 0 ||
        grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
        set_last_error(cudaErrorInvalidConfiguration);
        return;
    }
    int max_smem = 48 << 10;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        auto it = g_max_smem.find(kernel);
        if (it != g_max_smem.end()) max_smem = it->second;
    }
    if (smem > (size_t)max_smem) {
        set_last_error(cudaErrorInvalidValue);
        return;
    }
    Launch L{kernel_name(kernel), body, closure, grid, block, smem, 0};
    L.seed = config().seed * 0x2545f4914f6cdd1dull + g_launches.fetch_add(1);
    uint64_t nblocks = (uint64_t)grid.x * grid.y * grid.z;
    auto block_index = [&](uint64_t i) {
        return uint3{(unsigned)(i % grid.x), (unsigned)((i / grid.x) % grid.y), (unsigned)(i / ((uint64_t)grid.x * grid.y))};
    };
    auto& pool = workers();
    int nw = (int)std::min<uint64_t>((uint64_t)config().threads, nblocks);
    while ((int)pool.size() < nw) pool.push_back(std::make_unique<Worker>());
    ThreadView* saved_thread = tl_thread;
    BlockView* saved_block = tl_block;
    if (nw == 1) {
        Worker* saved = tl_worker;
        tl_worker = pool[0].get();
        try {
            for (uint64_t i = 0; i < nblocks; i++) run_block(*pool[0], L, block_index(i), i);
        } catch (...) {
            tl_worker = saved;
            throw;
        }
        tl_worker = saved;
    } else {
        std::atomic<uint64_t> next{0};
        std::exception_ptr err;
        std::mutex err_mutex;
        std::vector<std::thread> threads;
        for (int k = 0; k < nw; k++)
            threads.emplace_back([&, k] {
                tl_worker = pool[k].get();
                for (uint64_t i; (i = next.fetch_add(1)) < nblocks;) {
                    try {
                        run_block(*pool[k], L, block_index(i), i);
                    } catch (...) {
                        std::lock_guard<std::mutex> lock(err_mutex);
                        if (!err) err = std::current_exception();
                        next.store(nblocks);
                    }
                }
            });
        for (auto& t : threads) t.join();
        if (err) std::rethrow_exception(err);
    }
    tl_thread = saved_thread;
    tl_block = saved_block;
}

}  // namespace sim
