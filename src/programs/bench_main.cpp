// CPU benchmark of a reranker of any family: reranking forward throughput (sequences/s) and
// training-step throughput (tokens/s) at a given shape. Used by `make bench` (tools/bench_torch.py
// runs it beside PyTorch on the same weights and prints the ratios).
//
//   build/bin/bench [--weights FILE | --shape 130m|tiny] [--len 512] [--batch 4] [--group 4]
//                   [--iters 3] [--threads N] [--precision fp32|bf16] [--no-train] [--json]
//
// --weights takes any family's file; --shape builds a randomly initialised Mamba-1 of mamba-130m's shape
// (D 768, 24 layers, E 1536, R 48, V 50280) or the demo's (D 128, 3 layers, V 4096).
//   build/bin/bench --gemm [--threads N]
//   build/bin/bench --scan [--len 128] [--batch 64] [--threads N]
//
// --precision bf16 runs the linear layers' GEMMs in bf16 on AMX (cpu::set_gemm_precision).
//
// --gemm times the linear layers' three GEMMs (src/cpu/matmul.cpp) at the demo shapes (M = 8192 tokens)
// and the mamba-130m shapes (M = 1024): fp32 OpenBLAS sgemm beside the bf16 AMX kernel
// (src/cpu/matmul_amx.cpp) on the same operands, GFLOP/s (useful FLOPs), their ratio, the AMX kernel's
// share of the tile peak (1.2 TFLOP/s per core, measured with back-to-back TDPBF16PS) and the memory
// traffic it cannot avoid (read the fp32 operands, read/write the fp32 result) as GB/s against the
// machine's copy bandwidth measured in the same process. Each time is the minimum over 7 repetitions.
//
// --scan times one layer's selective scan (src/cpu/scan.cpp), forward and backward, at the demo shape
// (E 256, N 16) on --batch sequences of --len tokens of random inputs (A_log = log(1..N) as at
// initialisation), as ms per call and ns per (token, channel, state) element per thread.
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/common.h"
#include "cpu/layers.h"
#include "core/model.h"
#include "models/mamba/mamba.h"
#include "models/registry.h"
#include "core/rng.h"
#include "train/trainer.h"

// Forward FLOPs per token of the GEMMs: 2 per element of every weight matrix that multiplies each
// token (the 2-D tensors other than embedding tables and the head); the scan, conv and norms are
// O(E*N) and O(D) per token, and not counted.
static double gemm_flops_per_token(const Model& m) {
    double n = 0;
    for (const TensorSpec& s : m.ptable->specs)
        if (s.shape.size() == 2 && s.name.find("embeddings") == std::string::npos && s.name.rfind("score.", 0) != 0)
            n += (double)s.numel();
    return 2 * n;
}

// Seconds per call of f: the minimum over 7 repetitions of a loop of about 30 ms.
template <class F>
static double time_min(F&& f) {
    f();
    double t0 = now_seconds();
    f();
    const int n = std::max(1, (int)(0.03 / std::max(now_seconds() - t0, 1e-7)));
    double best = 1e30;
    for (int rep = 0; rep < 7; rep++) {
        t0 = now_seconds();
        for (int i = 0; i < n; i++) f();
        best = std::min(best, (now_seconds() - t0) / n);
    }
    return best;
}

static int scan_bench(int B, int len) {
    const int E = 256, N = 16, R = 8, P = R + 2 * N, Tn = B * len;
    Rng rng(3);
    auto rnd = [&](size_t n, double s) {
        std::vector<float> v(n);
        for (float& x : v) x = (float)(s * rng.normal());
        return v;
    };
    std::vector<float> u = rnd((size_t)Tn * E, 1), dt = rnd((size_t)Tn * E, 0.5), dbc = rnd((size_t)Tn * P, 1);
    std::vector<float> z = rnd((size_t)Tn * E, 1), dout = rnd((size_t)Tn * E, 1);
    std::vector<float> A_log((size_t)E * N), Dskip(E, 1), bias(E, -3), dA(E * N), dD(E), db(E);
    for (int e = 0; e < E; e++)
        for (int n = 0; n < N; n++) A_log[(size_t)e * N + n] = std::log(n + 1.0f);
    std::vector<float> out((size_t)Tn * E), du(out.size()), ddt(out.size()), dz(out.size()), ddbc((size_t)Tn * P);
    std::vector<float> scratch(cpu::scan_scratch_size(Tn, len, N, omp_get_max_threads()));
    std::vector<int32_t> off(B + 1);
    for (int b = 0; b <= B; b++) off[b] = b * len;
    const ScanInputs<float> in = {.u = {u.data(), E}, .dt = {dt.data(), E}, .Bm = {dbc.data() + R, P},
                                  .Cm = {dbc.data() + R + N, P}, .z = {z.data(), E}};
    const ScanWeights<float> weights = {.A_log = A_log.data(), .Dskip = Dskip.data(), .dt_bias = bias.data()};
    const ScanGrads<float> grads = {.du = {du.data(), E}, .ddt = {ddt.data(), E}, .dBm = {ddbc.data() + R, P},
                                    .dCm = {ddbc.data() + R + N, P}, .dz = {dz.data(), E}, .dA_log = dA.data(),
                                    .dDskip = dD.data(), .ddt_bias = db.data()};
    const ScanDims dims = {.offsets = off.data(), .B = B, .Tn = Tn, .E = E, .N = N};
    double fwd = time_min([&] { cpu::scan_forward<float>({out.data(), E}, in, weights, dims); });
    double bwd = time_min([&] {
        cpu::scan_backward<float>(grads, scratch.data(), {dout.data(), E}, in, weights, dims, len);
    });
    const double el = (double)Tn * E * N, th = omp_get_max_threads();
    std::printf("selective scan, %d threads: %d sequences x %d tokens, E %d, N %d\n", (int)th, B, len, E, N);
    std::printf("  forward:  %.2f ms, %.3f ns per element per thread\n", fwd * 1e3, fwd * th / el * 1e9);
    std::printf("  backward: %.2f ms, %.3f ns per element per thread\n", bwd * 1e3, bwd * th / el * 1e9);
    return 0;
}

static int gemm_bench() {
    const double amx_peak = 1.2e12 * omp_get_max_threads();
    // Copy bandwidth ceiling: 256 MiB read + 256 MiB written per pass.
    std::vector<float> src((size_t)64 << 20, 1.0f), dst(src.size());
    const double copy_s = time_min([&] {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < src.size(); i++) dst[i] = src[i];
    });
    const double copy_gbs = 2.0 * src.size() * 4 / copy_s / 1e9;
    const char* why = nullptr;
    const bool amx = cpu::amx_available(&why);
    std::printf("GEMMs of the linear layers, %d threads; fp32 = OpenBLAS sgemm, bf16 = AMX kernel (%s)\n",
                omp_get_max_threads(), amx ? "available" : why);
    std::printf("AMX tile peak %.0f GFLOP/s (1.2 TFLOP/s per core), copy bandwidth %.1f GB/s; times: min of 7\n",
                amx_peak / 1e9, copy_gbs);
    std::printf("%-14s %-5s %5s %5s %5s | %8s %7s | %8s %7s %6s %6s | %5s %7s\n", "layer", "gemm", "M", "N", "K",
                "fp32 ms", "GFLOP/s", "bf16 ms", "GFLOP/s", "%peak", "GB/s", "ratio", "rule");
    struct Shape { const char* name; int M, Nout, Kin, lda; };
    const Shape shapes[] = {{"demo in_proj", 8192, 512, 128, 128},   {"demo x_proj", 8192, 40, 256, 256},
                            {"demo dt_proj", 8192, 256, 8, 40},      {"demo out_proj", 8192, 128, 256, 256},
                            {"130m in_proj", 1024, 3072, 768, 768},  {"130m x_proj", 1024, 80, 1536, 1536},
                            {"130m dt_proj", 1024, 1536, 48, 80},    {"130m out_proj", 1024, 768, 1536, 1536}};
    Rng rng(3);
    for (const Shape& s : shapes) {
        std::vector<float> a((size_t)s.M * s.lda), w((size_t)s.Nout * s.Kin), dout((size_t)s.M * s.Nout);
        std::vector<float> out(dout.size()), da((size_t)s.M * s.Kin), dw(w.size());
        for (auto* v : {&a, &w, &dout})
            for (auto& x : *v) x = (float)rng.uniform(-1, 1);
        for (int g = 0; g < 3; g++) {
            // The GEMM C[Mc, Nc] (+)= A[Mc, Kc] B[Kc, Nc] that each of the three is.
            const int Mc = g == 2 ? s.Nout : s.M, Nc = g == 0 ? s.Nout : s.Kin, Kc = g == 0 ? s.Kin : g == 1 ? s.Nout : s.M;
            auto call = [&](bool bf16) {
                if (g == 0 && bf16) cpu::matmul_forward_bf16(out.data(), s.Nout, a.data(), s.lda, w.data(), s.M, s.Nout, s.Kin, false);
                if (g == 0 && !bf16) cpu::matmul_forward<float>(out.data(), s.Nout, a.data(), s.lda, w.data(), s.M, s.Nout, s.Kin, false);
                float* pda = g == 1 ? da.data() : nullptr;
                float* pdw = g == 2 ? dw.data() : nullptr;
                if (g > 0 && bf16) cpu::matmul_backward_bf16(pda, s.Kin, pdw, dout.data(), s.Nout, a.data(), s.lda, w.data(), s.M, s.Nout, s.Kin, false);
                if (g > 0 && !bf16) cpu::matmul_backward<float>(pda, s.Kin, pdw, dout.data(), s.Nout, a.data(), s.lda, w.data(), s.M, s.Nout, s.Kin, false);
            };
            const double flops = 2.0 * Mc * Nc * Kc;
            const double bytes = 4.0 * ((double)Mc * Kc + (double)Kc * Nc + (g == 2 ? 2.0 : 1.0) * Mc * Nc);
            const double t32 = time_min([&] { call(false); });
            std::printf("%-14s %-5s %5d %5d %5d | %8.3f %7.1f |", s.name, g == 0 ? "fwd" : g == 1 ? "da" : "dw", Mc, Nc,
                        Kc, t32 * 1e3, flops / t32 / 1e9);
            if (!amx) {
                std::printf(" (no AMX)\n");
                continue;
            }
            const double t16 = time_min([&] { call(true); });
            std::printf(" %8.3f %7.1f %5.1f%% %6.1f | %5.2f %7s\n", t16 * 1e3, flops / t16 / 1e9, 100 * flops / t16 / amx_peak,
                        bytes / t16 / 1e9, t32 / t16, cpu::gemm_bf16_shape(Mc, Nc, Kc) ? "bf16" : "fp32");
        }
    }
    return 0;
}

// The benchmarked model: from a weights file (any family), or a random Mamba-1 of a named shape.
static Model bench_model(const std::string& weights, const std::string& shape) {
    try {
        if (!weights.empty()) return model_from_file(weights_load(weights), true);
        MambaConfig c;
        if (shape == "130m") c.D = 768, c.L = 24, c.N = 16, c.K = 4, c.E = 1536, c.R = 48, c.V = 50280;
        else if (shape == "tiny") c.D = 128, c.L = 3, c.N = 16, c.K = 4, c.E = 256, c.R = 8, c.V = 4096;
        else fatal("unknown --shape %s (130m or tiny)", shape.c_str());
        Model m = model_create(mamba_family, model_config(c), true);
        model_init_random(m, 1);
        return m;
    } catch (const std::exception& e) {
        fatal("%s", e.what());
    }
}

// B sequences of len random tokens (and match flags when the model reads them).
static Batch random_batch(const Model& m, int B, int len) {
    Rng rng(2);
    Batch b;
    b.offsets = {0};
    for (int s = 0; s < B; s++) {
        for (int t = 0; t < len; t++) b.tokens.push_back((int32_t)rng.below(m.vocab())), b.match.push_back(rng.below(2));
        b.offsets.push_back(b.offsets.back() + len);
    }
    if (!m.match()) b.match.clear();
    return b;
}

struct BenchArgs {
    std::string weights, shape = "130m", precision = "fp32";
    int len = 512, batch = 4, group = 4, iters = 3, threads = 0;
    bool json = false, gemm = false, scan = false, train = true;
};

static BenchArgs parse_args(int argc, char** argv) {
    BenchArgs a;
    for (int i = 1; i < argc; i++) {
        const std::string k = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) fatal("%s needs a value", k.c_str());
            return argv[++i];
        };
        if (k == "--weights") a.weights = next();
        else if (k == "--shape") a.shape = next();
        else if (k == "--len") a.len = flag_int(k, next(), 1, 1 << 20);
        else if (k == "--batch") a.batch = flag_int(k, next(), 1, 1 << 16);
        else if (k == "--group") a.group = flag_int(k, next(), 1, 1024);
        else if (k == "--iters") a.iters = flag_int(k, next(), 1, 1e6);
        else if (k == "--threads") a.threads = flag_int(k, next(), 1, 4096);
        else if (k == "--json") a.json = true;
        else if (k == "--gemm") a.gemm = true;
        else if (k == "--scan") a.scan = true;
        else if (k == "--no-train") a.train = false;
        else if (k == "--precision") a.precision = next();
        else fatal("unknown argument %s", k.c_str());
    }
    return a;
}

int main(int argc, char** argv) {
    const BenchArgs a = parse_args(argc, argv);
    if (a.threads > 0) omp_set_num_threads(a.threads);
    enable_flush_to_zero();
    if (a.gemm) return gemm_bench();
    if (a.scan) return scan_bench(a.batch, a.len);
    if (a.precision == "bf16") {
        const char* why = nullptr;
        if (!cpu::amx_available(&why)) fatal("--precision bf16 needs AMX: %s", why);
        cpu::set_gemm_precision(cpu::GemmPrecision::bf16);
    } else if (a.precision != "fp32") {
        fatal("unknown --precision %s (fp32 or bf16)", a.precision.c_str());
    }
    Model m = bench_model(a.weights, a.shape);
    const int B = std::max(a.batch, a.group) / a.group * a.group, len = a.len, iters = a.iters;
    model_setup_acts(m, B * len, B, len);
    const Batch b = random_batch(m, B, len);

    model_forward(m, b);  // warm up
    double t0 = now_seconds();
    for (int i = 0; i < iters; i++) model_forward(m, b);
    const double fwd = (now_seconds() - t0) / iters;

    double step = NAN;  // not measured under --no-train (JSON: null)
    if (a.train) {
        AdamWConfig oc;
        oc.total_steps = iters + 1;
        TrainState st;
        train_step(m, oc, st, b, a.group);  // warm up
        t0 = now_seconds();
        for (int i = 0; i < iters; i++) train_step(m, oc, st, b, a.group);
        step = (now_seconds() - t0) / iters;
    }

    const double tokens = (double)B * len, gf = gemm_flops_per_token(m) * tokens;
    if (a.json) {
        auto num = [&](double v, const char* f) { return a.train ? strfmt(f, v) : std::string("null"); };
        std::printf("{\"threads\": %d, \"seqs\": %d, \"len\": %d, \"forward_s\": %.6f, \"train_step_s\": %s, "
                    "\"seqs_per_s\": %.4f, \"train_tokens_per_s\": %s, \"gemm_gflop_fwd\": %.3f}\n",
                    omp_get_max_threads(), B, len, fwd, num(step, "%.6f").c_str(), B / fwd,
                    num(tokens / step, "%.2f").c_str(), gf / 1e9);
    } else {
        std::printf("engine CPU, %d threads, GEMMs %s: %s (%s), %d sequences x %d tokens\n", omp_get_max_threads(),
                    a.precision.c_str(), m.family->name, m.cfg.describe().c_str(), B, len);
        std::printf("  rerank forward: %.3f s per batch, %.2f sequences/s, GEMM %.1f GFLOP/s\n", fwd, B / fwd,
                    gf / fwd / 1e9);
        if (a.train) std::printf("  train step:     %.3f s per batch, %.1f tokens/s, GEMM %.1f GFLOP/s (3x forward FLOPs)\n", step,
                    tokens / step, 3 * gf / step / 1e9);
    }
    return 0;
}
