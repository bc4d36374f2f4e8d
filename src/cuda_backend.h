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
// Synchronisation: a training step waits for the GPU once, to read the loss and the gradient norm; a
// forward once, to read the scores.
#pragma once
#include <algorithm>
#include <cstdio>
#include <string>

#include "common.h"
#include "mamba.h"
#include "optim.h"
#include "trainer.h"

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

// --device cpu|cuda|auto and --precision bf16|fp32 of `program`: true for cuda. auto takes cuda when
// cuda_unavailable() is "". Where cuda runs, and where auto falls back to the CPU, a line on stderr says
// so. --device cuda where CUDA cannot run, or a bad value: fatal(), one line.
inline bool choose_cuda(const std::string& device, const std::string& precision, const char* program) {
    if (device != "auto" && device != "cpu" && device != "cuda") fatal("--device %s: expected cpu, cuda or auto", device.c_str());
    if (precision != "bf16" && precision != "fp32") fatal("--precision %s: expected bf16 or fp32", precision.c_str());
    if (device == "cpu") return false;
    const std::string why = cuda_unavailable();
    if (device == "cuda" && !why.empty()) fatal("--device cuda: %s", why.c_str());
    if (why.empty()) std::fprintf(stderr, "%s: device cuda (%s), %s\n", program, cuda_device_name().c_str(), precision.c_str());
    else std::fprintf(stderr, "%s: --device auto: cpu (%s)\n", program, why.c_str());
    return why.empty();
}

// The forward of whichever backend was chosen: the GPU copy g when set, else the CPU model m.
inline void backend_scores(Mamba<float>& m, CudaModel* g, const Batch& batch, float* scores) {
    if (g) return cuda_forward(g, batch, scores);
    const float* s = mamba_forward(m, batch);
    std::copy(s, s + batch.B(), scores);
}
