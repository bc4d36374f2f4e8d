// The CUDA backend as the programs see it: a copy of a host model (Mamba<float>, which keeps the
// parameters that files are read into and written from) living on the GPU, with its own training step
// and forward. It runs the same layer order as the CPU (mamba_orchestration.h) over the kernels of cuda/.
//
// Implemented by cuda/model.cu when the build has CUDA (nvcc was found; ./train and ./rerank are then
// linked with cuBLAS and the CUDA runtime), else by src/cuda_none.cpp, whose cuda_unavailable() says so.
// No CUDA header here: the CPU-only build compiles every file that includes it.
//
// Precision: bf16 (activations and GEMM weights in bf16, with fp32 master weights, gradients, AdamW
// moments, residual stream, rstd and scan state), or fp32 throughout (matches the CPU to rounding).
// The CPU's bf16 mode is narrower: only the GEMMs' inputs are rounded to bf16 (src/cpu/matmul_amx.cpp).
// Synchronisation: a training step waits for the GPU once, to read the loss and the gradient norm; a
// forward once, to read the scores.
#pragma once
#include <algorithm>
#include <cstdio>
#include <string>

#include "core/common.h"
#include "cpu/layers.h"
#include "models/mamba/mamba.h"
#include "core/optim.h"
#include "train/trainer.h"

struct CudaModel;  // cuda/model.cu

// "" when this build has the CUDA backend and a device is present; else the reason, in one line.
std::string cuda_unavailable();
// The device, for the log: "NVIDIA H200, sm_90, 132 SMs, 139.8 GiB".
std::string cuda_device_name();

// A model on the GPU with m's config and parameters (and, when m is set up for training, its AdamW
// moments), activations sized for batches of at most max_tokens tokens, max_seqs sequences, max_len
// tokens each. fatal() for a config the kernels do not support (d_conv outside 2..4, d_state > 16).
CudaModel* cuda_model_create(const Mamba<float>& m, bool bf16, int max_tokens, int max_seqs, int max_len);
void cuda_model_free(CudaModel* g);
// Copies the parameters (and the moments, when training) back into m, for weights files and checkpoints.
void cuda_model_to_host(const CudaModel* g, Mamba<float>& m);
// The gradients of the last training step, laid out by m's parameter table (for tests).
void cuda_model_grads(const CudaModel* g, float* grads);
// Scores [B] of a batch into `scores` (host). fatal() if the batch exceeds the setup.
void cuda_forward(CudaModel* g, const Batch& batch, float* scores);
// trainer.h's train_step on the GPU: zero the gradients, forward, loss, backward, AdamW (the bf16
// weights refreshed from the fp32 masters). Returns the loss; *grad_norm gets the norm before clipping.
double cuda_train_step(CudaModel* g, const AdamWConfig& oc, TrainState& st, const Batch& batch, int G,
                       double* grad_norm = nullptr);

// What --device and --precision chose.
struct BackendChoice {
    bool cuda = false;  // else the CPU
    bool bf16 = false;  // bf16 GEMM inputs (CPU: AMX; GPU: bf16 activations and weights), else fp32
    std::string describe() const { return std::string(cuda ? "cuda" : "cpu") + ", " + (bf16 ? "bf16" : "fp32"); }
};

// --device cpu|cuda|auto and --precision auto|bf16|fp32 of `program`. Device auto takes cuda when
// cuda_unavailable() is "". Precision auto is bf16 on the GPU, and on the CPU bf16 where it has AMX
// (cpu::amx_available(): the GEMMs then take bf16 inputs with fp32 accumulation, master weights and
// everything else in fp32), else fp32. The choice, and any fallback, is said in one line on stderr. A
// choice that cannot run (--device cuda without a GPU, --precision bf16 on a CPU without AMX) or a
// bad value: fatal(), one line. Sets the CPU's GEMM precision (cpu::set_gemm_precision) to match.
inline BackendChoice choose_backend(const std::string& device, const std::string& precision, const char* program) {
    if (device != "auto" && device != "cpu" && device != "cuda") fatal("--device %s: expected cpu, cuda or auto", device.c_str());
    if (precision != "auto" && precision != "bf16" && precision != "fp32")
        fatal("--precision %s: expected auto, bf16 or fp32", precision.c_str());
    BackendChoice c;
    std::string note;
    if (device != "cpu") {
        const std::string why = cuda_unavailable();
        if (device == "cuda" && !why.empty()) fatal("--device cuda: %s", why.c_str());
        c.cuda = why.empty();
        if (!c.cuda) note = " (--device auto: " + why + ")";
    }
    if (c.cuda) {
        c.bf16 = precision != "fp32";
        note = " (" + cuda_device_name() + ")" + note;
    } else {
        const char* why = nullptr;
        const bool amx = cpu::amx_available(&why);
        if (precision == "bf16" && !amx) fatal("--precision bf16 on the CPU needs AMX: %s", why ? why : "unavailable");
        c.bf16 = precision == "bf16" || (precision == "auto" && amx);
        if (precision == "auto" && !amx) note += std::string(" (--precision auto: fp32, no AMX: ") + (why ? why : "") + ")";
    }
    cpu::set_gemm_precision(!c.cuda && c.bf16 ? cpu::GemmPrecision::bf16 : cpu::GemmPrecision::fp32);
    std::fprintf(stderr, "%s: %s%s\n", program, c.describe().c_str(), note.c_str());
    return c;
}

// The forward of whichever backend was chosen: the GPU copy g when set, else the CPU model m.
inline void backend_scores(Mamba<float>& m, CudaModel* g, const Batch& batch, float* scores) {
    if (g) return cuda_forward(g, batch, scores);
    const float* s = mamba_forward(m, batch);
    std::copy(s, s + batch.B(), scores);
}
