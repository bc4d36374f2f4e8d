// Where a model runs: the choice of device and precision (--device, --precision), and the CUDA
// backend's entry points as the programs see them. A model on the GPU (DeviceModel) is a copy of a host
// Model (core/model.h), which keeps the parameters that files are read into and written from; it runs
// its family's layer order over the kernels of cuda/ (for Mamba: cuda/mamba_model.cu, the same
// orchestration as the CPU's).
//
// The entry points are implemented by cuda/backend.cu when the build has CUDA (nvcc was found; ./train
// and ./rerank are then linked with cuBLAS and the CUDA runtime), else by src/backend/cuda_none.cpp,
// whose cuda_unavailable() says so. No CUDA header here: the CPU-only build compiles every file that
// includes it. A family runs on the GPU when cuda/backend.cu lists its GpuFamily.
//
// Precision on the GPU: bf16 (activations and GEMM weights in bf16, with fp32 master weights,
// gradients, AdamW moments and residual stream), or fp32 throughout (matches the CPU to rounding). The
// CPU's bf16 mode is narrower: only the GEMMs' inputs are rounded to bf16 (src/cpu/matmul_amx.cpp).
// Synchronisation: a training step waits for the GPU once, to read the loss and the gradient norm; a
// forward once, to read the scores.
#pragma once
#include <string>

#include "core/batch.h"
#include "core/model.h"
#include "core/optim.h"
#include "train/trainer.h"

struct DeviceModel;  // cuda/backend.cu

// "" when this build has the CUDA backend and a device is present; else the reason, in one line.
std::string cuda_unavailable();
// "" when family f has a CUDA model in this build; else the reason.
std::string cuda_family_unavailable(const ModelFamily& f);
// The device, for the log: "NVIDIA H200, sm_90, 132 SMs, 139.8 GiB".
std::string cuda_device_name();

// A model on the GPU with m's config and parameters (and, when m is set up for training, its AdamW
// moments), activations sized for batches of at most max_tokens tokens, max_seqs sequences, max_len
// tokens each. fatal() for a config the kernels do not support.
DeviceModel* cuda_model_create(const Model& m, bool bf16, int max_tokens, int max_seqs, int max_len);
void cuda_model_free(DeviceModel* g);
// Copies the parameters (and the moments, when training) back into m, for weights files and checkpoints.
void cuda_model_to_host(const DeviceModel* g, Model& m);
// The gradients of the last training step, laid out by m's parameter table (for tests).
void cuda_model_grads(const DeviceModel* g, float* grads);
// Scores [B] of a batch into `scores` (host). fatal() if the batch exceeds the setup.
void cuda_forward(DeviceModel* g, const Batch& batch, float* scores);
// trainer.h's train_step on the GPU: zero the gradients, forward, loss, backward, AdamW (the bf16
// weights refreshed from the fp32 masters). Returns the loss; *grad_norm gets the norm before clipping.
double cuda_train_step(DeviceModel* g, const AdamWConfig& oc, TrainState& st, const Batch& batch, int G,
                       double* grad_norm = nullptr);

// What --device and --precision chose.
struct BackendChoice {
    bool cuda = false;  // else the CPU
    bool bf16 = false;  // bf16 GEMM inputs (CPU: AMX; GPU: bf16 activations and weights), else fp32
    std::string describe() const { return std::string(cuda ? "cuda" : "cpu") + ", " + (bf16 ? "bf16" : "fp32"); }
};

// --device cpu|cuda|auto and --precision auto|bf16|fp32 of `program`, for a model of family f. Device
// auto takes cuda when cuda_unavailable() and cuda_family_unavailable(f) are "". Precision auto is bf16
// on the GPU, and on the CPU bf16 where it has AMX (cpu::amx_available(): the GEMMs then take bf16
// inputs with fp32 accumulation, master weights and everything else in fp32), else fp32. The choice,
// and any fallback, is said in one line on stderr. A choice that cannot run (--device cuda without a
// GPU, --precision bf16 on a CPU without AMX) or a bad value: fatal(), one line. Sets the CPU's GEMM
// precision (cpu::set_gemm_precision) to match.
BackendChoice choose_backend(const std::string& device, const std::string& precision, const ModelFamily& f,
                             const char* program);

// A model on whichever backend was chosen: the host model, and its GPU copy when there is one. The
// host model keeps CPU activations only when it runs (setup: no GPU copy).
struct Runner {
    Model* m = nullptr;
    DeviceModel* gpu = nullptr;
    // Sets up the chosen backend for batches of at most max_tokens, max_seqs, max_len.
    Runner(Model& model, const BackendChoice& be, int max_tokens, int max_seqs, int max_len);
    ~Runner();
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;
    void scores(const Batch& batch, float* out);  // forward: scores [B] into host memory
    double train_step(const AdamWConfig& oc, TrainState& st, const Batch& batch, int G, double* grad_norm);
    void to_host();  // brings m's parameters and moments up to date (a no-op on the CPU)
};
