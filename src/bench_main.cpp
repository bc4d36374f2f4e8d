// CPU benchmark of the Mamba reranker: reranking forward throughput (sequences/s) and training-step
// throughput (tokens/s) at a given shape, with a per-layer time breakdown. Used by `make bench`
// (tools/bench_torch.py runs it beside PyTorch on the same weights and prints the ratios).
//
//   build/bin/bench [--weights FILE | --shape 130m|tiny] [--len 512] [--batch 4] [--group 4]
//                   [--iters 3] [--threads N] [--json]
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.h"
#include "model_io.h"
#include "trainer.h"

static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Forward FLOPs per token of the GEMMs (the scan, conv and norms are O(E*N) and O(D) per token).
static double gemm_flops_per_token(const MambaConfig& c) {
    double per_layer = 2.0 * (2.0 * c.E * c.D + (double)(c.R + 2 * c.N) * c.E + (double)c.R * c.E + (double)c.D * c.E);
    return per_layer * c.L;
}

int main(int argc, char** argv) {
    std::string weights, shape = "130m";
    int len = 512, batch = 4, group = 4, iters = 3, threads = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) fatal("%s needs a value", a.c_str());
            return argv[++i];
        };
        if (a == "--weights") weights = next();
        else if (a == "--shape") shape = next();
        else if (a == "--len") len = std::atoi(next());
        else if (a == "--batch") batch = std::atoi(next());
        else if (a == "--group") group = std::atoi(next());
        else if (a == "--iters") iters = std::atoi(next());
        else if (a == "--threads") threads = std::atoi(next());
        else if (a == "--json") json = true;
        else fatal("unknown argument %s", a.c_str());
    }
    if (len < 1 || batch < 1 || group < 1 || iters < 1) fatal("--len, --batch, --group, --iters must be positive");
    if (threads > 0) omp_set_num_threads(threads);
    enable_flush_to_zero();
    MambaConfig c;
    Mamba<float> m;
    if (!weights.empty()) {
        try {
            WeightsFile f = weights_load(weights);
            c = mamba_config_from(f);
            mamba_setup(m, c, true);
            mamba_load_params(m, f);
        } catch (const WeightsError& e) {
            fatal("%s", e.what());
        }
    } else {
        if (shape == "130m") c.D = 768, c.L = 24, c.N = 16, c.K = 4, c.E = 1536, c.R = 48, c.V = 50280;
        else if (shape == "tiny") c.D = 128, c.L = 3, c.N = 16, c.K = 4, c.E = 256, c.R = 8, c.V = 4096;
        else fatal("unknown --shape %s (130m or tiny)", shape.c_str());
        mamba_setup(m, c, true);
        mamba_init_random(m, 1);
    }
    const int B = std::max(batch, group) / group * group;
    mamba_setup_acts(m, B * len, B, len);
    Rng rng(2);
    Batch b;
    b.offsets = {0};
    for (int s = 0; s < B; s++) {
        for (int t = 0; t < len; t++) b.tokens.push_back((int32_t)rng.below(c.V)), b.match.push_back(rng.below(2));
        b.offsets.push_back(b.offsets.back() + len);
    }
    if (!c.match) b.match.clear();

    mamba_forward(m, b);  // warm up
    double t0 = now();
    for (int i = 0; i < iters; i++) mamba_forward(m, b);
    double fwd = (now() - t0) / iters;

    AdamWConfig oc;
    oc.total_steps = iters + 1;
    TrainState st;
    train_step(m, oc, st, b, group);  // warm up
    t0 = now();
    for (int i = 0; i < iters; i++) train_step(m, oc, st, b, group);
    double step = (now() - t0) / iters;

    const double tokens = (double)B * len, gf = gemm_flops_per_token(c) * tokens;
    if (json) {
        std::printf("{\"threads\": %d, \"seqs\": %d, \"len\": %d, \"forward_s\": %.6f, \"train_step_s\": %.6f, "
                    "\"seqs_per_s\": %.4f, \"train_tokens_per_s\": %.2f, \"gemm_gflop_fwd\": %.3f}\n",
                    omp_get_max_threads(), B, len, fwd, step, B / fwd, tokens / step, gf / 1e9);
    } else {
        std::printf("engine CPU, %d threads: D %d L %d E %d N %d V %d, %d sequences x %d tokens\n",
                    omp_get_max_threads(), c.D, c.L, c.E, c.N, c.V, B, len);
        std::printf("  rerank forward: %.3f s per batch, %.2f sequences/s, GEMM %.1f GFLOP/s\n", fwd, B / fwd,
                    gf / fwd / 1e9);
        std::printf("  train step:     %.3f s per batch, %.1f tokens/s, GEMM %.1f GFLOP/s (3x forward FLOPs)\n", step,
                    tokens / step, 3 * gf / step / 1e9);
    }
    return 0;
}
