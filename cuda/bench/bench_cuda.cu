// Kernel microbenchmarks of the CUDA backend, on a real GPU only (tests/gpu_check.sh runs them).
//
// Calls the real launchers of cuda/*.cu (linked from the same objects the tests use: no copies) at
// the benchmark shape: B 16 sequences of L 512 tokens (T 8192), mamba-130m's D 768,
// E 1536, N 16, R 48, K 4, V 50280, in bf16 (fp32 residual stream, state, master weights).
// First it measures the device's ceilings: copy bandwidth (cudaMemcpy device to device, bytes read +
// written), the bf16 GEMM rate (cublasGemmEx 8192^3, fp32 accumulation), and states the special-
// function rate it assumes (SMs x 16 MUFU ops/clock x the SM clock). Then one line per kernel: time,
// GB/s and % of the copy bandwidth (the bytes each kernel's header counts), TFLOP/s for GEMMs, and for
// the scan its floor (the larger of bytes / copy bandwidth and exponentials / MUFU rate) and the ratio.
// Output: a table on stdout, one line per row, `|`-separated, for the GPU check to collect.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels.h"

namespace {

using bf16 = __nv_bfloat16;

struct Events {
    cudaEvent_t a, b;
    Events() {
        CUDA_CHECK(cudaEventCreate(&a));
        CUDA_CHECK(cudaEventCreate(&b));
    }
    ~Events() { cudaEventDestroy(a), cudaEventDestroy(b); }
};

// Milliseconds per call of f, averaged over `reps` after two warm-up calls.
template <class F>
double time_ms(F&& f, int reps = 20) {
    Events ev;
    f(), f();
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaEventRecord(ev.a));
    for (int i = 0; i < reps; i++) f();
    CUDA_CHECK(cudaEventRecord(ev.b));
    CUDA_CHECK(cudaEventSynchronize(ev.b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, ev.a, ev.b));
    return ms / reps;
}

template <class T>
T* device(size_t n) {
    T* p = nullptr;
    CUDA_CHECK(cudaMalloc(&p, (n ? n : 1) * sizeof(T)));
    CUDA_CHECK(cudaMemset(p, 0, n * sizeof(T)));
    return p;
}

double copy_bw, gemm_rate, mufu_rate;  // bytes/s, FLOP/s, exponentials/s

// bytes: what the kernel moves (for GB/s); floor_bytes: what any implementation must move (the floor's
// bytes; the kernel's own when < 0).
void row(const char* name, double ms, double bytes, double flops = 0, double exps = 0, double floor_bytes = -1) {
    const double s = ms * 1e-3;
    if (floor_bytes < 0) floor_bytes = bytes;
    std::printf("| %-28s | %9.1f us | %7.0f GB/s | %5.1f%% of copy |", name, ms * 1e3, bytes / s * 1e-9,
                100 * bytes / s / copy_bw);
    if (flops > 0) std::printf(" %6.1f TFLOP/s | %5.1f%% of GEMM |", flops / s * 1e-12, 100 * flops / s / gemm_rate);
    if (exps > 0) {
        const double floor_s = std::max(floor_bytes / copy_bw, exps / mufu_rate);
        std::printf(" floor %.1f us (%s) | %.2fx floor |", floor_s * 1e6, floor_bytes / copy_bw > exps / mufu_rate ? "bytes" : "MUFU",
                    s / floor_s);
    }
    std::printf("\n");
}

}  // namespace

int main() {
    gpu::print_device();
    int dev = 0, sms = 0, clock_khz = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev));
    mufu_rate = (double)sms * 16 * clock_khz * 1e3;
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));

    {  // copy bandwidth: 1 GiB device to device
        const size_t n = (size_t)1 << 30;
        char *a = device<char>(n), *b = device<char>(n);
        const double ms = time_ms([&] { CUDA_CHECK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice)); }, 10);
        copy_bw = 2.0 * n / (ms * 1e-3);
        cudaFree(a), cudaFree(b);
    }
    {  // GEMM rate: bf16 8192^3, fp32 accumulation
        const int n = 8192;
        bf16 *a = device<bf16>((size_t)n * n), *b = device<bf16>((size_t)n * n), *c = device<bf16>((size_t)n * n);
        const double ms = time_ms([&] { gpu::matmul_forward<bf16>(h, c, n, a, n, b, n, n, n, false); }, 10);
        gemm_rate = 2.0 * n * n * n / (ms * 1e-3);
        cudaFree(a), cudaFree(b), cudaFree(c);
    }
    std::printf("ceilings: copy %.0f GB/s (measured), bf16 GEMM %.1f TFLOP/s (measured), MUFU %.2e exp/s (%d SMs x 16 x %.2f GHz, assumed)\n",
                copy_bw * 1e-9, gemm_rate * 1e-12, mufu_rate, sms, clock_khz * 1e-6);

    const int B = 16, L = 512, Tn = B * L, D = 768, E = 1536, N = 16, R = 48, K = 4, V = 50280, P = R + 2 * N;
    std::printf("shape: B %d, L %d, T %d, D %d, E %d, N %d, R %d, K %d, V %d, bf16 activations\n", B, L, Tn, D, E, N, R, K, V);
    std::vector<int32_t> off(B + 1), tokens(Tn);
    for (int b = 0; b <= B; b++) off[b] = b * L;
    std::mt19937 rng(1);
    for (auto& t : tokens) t = (int)(rng() % V);
    int32_t *d_off = device<int32_t>(B + 1), *d_tok = device<int32_t>(Tn);
    CUDA_CHECK(cudaMemcpy(d_off, off.data(), off.size() * 4, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_tok, tokens.data(), tokens.size() * 4, cudaMemcpyHostToDevice));
    const double TD = (double)Tn * D, TE = (double)Tn * E;

    std::printf("| kernel | time | bandwidth | of copy | rate / floor |\n");
    {  // embedding
        bf16* wte = device<bf16>((size_t)V * D);
        float *x = device<float>((size_t)Tn * D), *dwte = device<float>((size_t)V * D);
        int32_t* scratch = device<int32_t>(gpu::embedding_backward_scratch(Tn));
        row("embedding fwd", time_ms([&] { gpu::embedding_forward<bf16>(x, d_tok, nullptr, wte, nullptr, Tn, D, nullptr); }),
            TD * (2 + 4));
        int U = 0;
        {
            std::vector<int32_t> s = tokens;
            std::sort(s.begin(), s.end());
            U = (int)(std::unique(s.begin(), s.end()) - s.begin());
        }
        row("embedding bwd (incl. host sort)",
            time_ms([&] { gpu::embedding_backward(dwte, nullptr, scratch, x, tokens.data(), nullptr, Tn, D, nullptr); }),
            TD * 4 + 2.0 * U * D * 4);
        cudaFree(wte), cudaFree(x), cudaFree(dwte), cudaFree(scratch);
    }
    {  // residual add + RMSNorm
        float *x_in = device<float>((size_t)Tn * D), *x_out = device<float>((size_t)Tn * D), *rstd = device<float>(Tn);
        float *w = device<float>(D), *dx = device<float>((size_t)Tn * D), *dw = device<float>(D);
        float* scratch = device<float>(gpu::rmsnorm_backward_scratch(Tn, D));
        bf16 *delta = device<bf16>((size_t)Tn * D), *out = device<bf16>((size_t)Tn * D), *dxT = device<bf16>((size_t)Tn * D);
        row("residual+rmsnorm fwd", time_ms([&] { gpu::rmsnorm_forward<bf16>(out, rstd, x_out, x_in, delta, w, Tn, D, 1e-5f, nullptr); }),
            TD * (4 + 2 + 4 + 2));
        row("rmsnorm bwd", time_ms([&] { gpu::rmsnorm_backward<bf16>(dx, dxT, dw, scratch, out, x_out, rstd, w, Tn, D, nullptr); }),
            TD * (2 + 4 + 4 + 4 + 2));
        for (void* p : {(void*)x_in, (void*)x_out, (void*)rstd, (void*)w, (void*)dx, (void*)dw, (void*)scratch, (void*)delta,
                        (void*)out, (void*)dxT})
            cudaFree(p);
    }
    {  // in_proj GEMM (the largest of the block)
        bf16 *hn = device<bf16>((size_t)Tn * D), *w = device<bf16>((size_t)2 * E * D), *xz = device<bf16>((size_t)Tn * 2 * E);
        float* dw = device<float>((size_t)2 * E * D);
        const double flops = 2.0 * Tn * 2 * E * D;
        row("in_proj fwd GEMM", time_ms([&] { gpu::matmul_forward<bf16>(h, xz, 2 * E, hn, D, w, Tn, 2 * E, D, false); }),
            (TD + 2.0 * E * D + 2 * TE) * 2, flops);
        row("in_proj bwd GEMMs (da, dw)",
            time_ms([&] { gpu::matmul_backward<bf16>(h, hn, D, dw, xz, 2 * E, hn, D, w, Tn, 2 * E, D, false); }),
            (2 * TE * 2 + TD * 2) * 2 + 2.0 * E * D * 8, 2 * flops);
        cudaFree(hn), cudaFree(w), cudaFree(xz), cudaFree(dw);
    }
    {  // conv1d
        bf16 *xz = device<bf16>((size_t)Tn * 2 * E), *u = device<bf16>((size_t)Tn * E), *dxz = device<bf16>((size_t)Tn * 2 * E);
        float *w = device<float>((size_t)E * K), *b = device<float>(E), *dw = device<float>((size_t)E * K), *db = device<float>(E);
        float* scratch = device<float>(gpu::conv1d_backward_scratch(Tn, E, K));
        row("conv1d+SiLU fwd", time_ms([&] { gpu::conv1d_forward<bf16>(u, E, xz, 2 * E, w, b, d_off, B, Tn, E, K, nullptr); }),
            TE * 4);
        row("conv1d+SiLU bwd",
            time_ms([&] { gpu::conv1d_backward<bf16>(dxz, 2 * E, dw, db, scratch, u, E, xz, 2 * E, w, b, d_off, B, Tn, E, K, nullptr); }),
            TE * 6);
        for (void* p : {(void*)xz, (void*)u, (void*)dxz, (void*)w, (void*)b, (void*)dw, (void*)db, (void*)scratch}) cudaFree(p);
    }
    {  // selective scan
        bf16 *u = device<bf16>((size_t)Tn * E), *dt = device<bf16>((size_t)Tn * E), *dbc = device<bf16>((size_t)Tn * P);
        bf16 *xz = device<bf16>((size_t)Tn * 2 * E), *y = device<bf16>((size_t)Tn * E), *du = device<bf16>((size_t)Tn * E);
        bf16 *ddt = device<bf16>((size_t)Tn * E), *ddbc = device<bf16>((size_t)Tn * P), *dxz = device<bf16>((size_t)Tn * 2 * E);
        float *A_log = device<float>((size_t)E * N), *Dv = device<float>(E), *bias = device<float>(E);
        float *dA = device<float>((size_t)E * N), *dD = device<float>(E), *dbias = device<float>(E);
        float* ckpt = device<float>(gpu::scan_checkpoint_size(B, Tn, E, N));
        float* scratch = device<float>(gpu::scan_backward_scratch(B, Tn, E, N));
        float* fwd_scratch = device<float>(gpu::scan_forward_scratch(B, Tn, E, N));
        // The floor's bytes: activations in and out (scan.cu's header); the kernels also move the state
        // checkpoints (every 8 steps, fp32) and the backward's dB/dC partials (per 32-channel group,
        // written and read again).
        const double ckpt_bytes = TE / 8 * N * 4, partial_bytes = 2.0 * ((E + 31) / 32) * Tn * N * 4 * 2;
        const double fwd_bytes = TE * 8 + 2.0 * Tn * N * 2, bwd_bytes = TE * 14 + 4.0 * Tn * N * 2;
        const double exps = TE * (N + 3);
        row("selective scan fwd", time_ms([&] {
                gpu::scan_forward<bf16>(y, E, ckpt, u, E, dt, E, dbc + R, dbc + R + N, P, xz + E, 2 * E, A_log, Dv, bias, d_off,
                                        B, Tn, E, N, fwd_scratch, nullptr);
            }),
            fwd_bytes + ckpt_bytes, 0, exps, fwd_bytes);
        row("selective scan bwd", time_ms([&] {
                gpu::scan_backward<bf16>(du, E, ddt, E, ddbc + R, ddbc + R + N, P, dxz + E, 2 * E, dA, dD, dbias, scratch, y, E,
                                         ckpt, u, E, dt, E, dbc + R, dbc + R + N, P, xz + E, 2 * E, A_log, Dv, bias, d_off, B,
                                         Tn, E, N, nullptr);
            }),
            bwd_bytes + ckpt_bytes + partial_bytes, 0, exps, bwd_bytes);
        // The same tokens as one sequence of T steps: too few blocks for the GPU, so the scan cuts it over
        // time (a first pass: one more exponential per (t, n)), against the same floors.
        int32_t* d_off1 = device<int32_t>(2);
        const int32_t off1[2] = {0, Tn};
        CUDA_CHECK(cudaMemcpy(d_off1, off1, sizeof off1, cudaMemcpyHostToDevice));
        row("scan fwd, 1 x 8192 (cut)", time_ms([&] {
                gpu::scan_forward<bf16>(y, E, ckpt, u, E, dt, E, dbc + R, dbc + R + N, P, xz + E, 2 * E, A_log, Dv, bias, d_off1,
                                        1, Tn, E, N, fwd_scratch, nullptr);
            }),
            fwd_bytes + ckpt_bytes + TE * 4 + 2.0 * Tn * N * 2, 0, exps, fwd_bytes);  // + pass 1's u, dt, B, C
        row("scan bwd, 1 x 8192 (cut)", time_ms([&] {
                gpu::scan_backward<bf16>(du, E, ddt, E, ddbc + R, ddbc + R + N, P, dxz + E, 2 * E, dA, dD, dbias, scratch, y, E,
                                         ckpt, u, E, dt, E, dbc + R, dbc + R + N, P, xz + E, 2 * E, A_log, Dv, bias, d_off1, 1,
                                         Tn, E, N, nullptr);
            }),
            bwd_bytes + ckpt_bytes + partial_bytes + TE * 6 + Tn * N * 2, 0, exps, bwd_bytes);  // + pass 1's dt, z, dout, C
        cudaFree(d_off1);
        for (void* p : {(void*)u, (void*)dt, (void*)dbc, (void*)xz, (void*)y, (void*)du, (void*)ddt, (void*)ddbc, (void*)dxz,
                        (void*)A_log, (void*)Dv, (void*)bias, (void*)dA, (void*)dD, (void*)dbias, (void*)ckpt, (void*)scratch, (void*)fwd_scratch})
            cudaFree(p);
    }
    {  // AdamW over a mamba-130m-sized table (one tensor of 130M: the pieces are what matters)
        TensorTable t;
        t.add("all", {130 * 1000 * 1000}, true);
        float *p = device<float>(t.total), *g = device<float>(t.total), *m = device<float>(t.total), *v = device<float>(t.total);
        bf16* pb = device<bf16>(t.total);
        gpu::AdamWPlan plan = gpu::adamw_plan(t);
        AdamWConfig c;
        row("AdamW + clip (130M params)", time_ms([&] { gpu::adamw_step(c, plan, p, pb, g, m, v, 0, nullptr); }, 5),
            (double)t.total * (4 + 16 + 12 + 2));
        gpu::adamw_plan_free(plan);
        cudaFree(p), cudaFree(g), cudaFree(m), cudaFree(v), cudaFree(pb);
    }
    CUBLAS_CHECK(cublasDestroy(h));
    cudaFree(d_off), cudaFree(d_tok);
    return 0;
}
