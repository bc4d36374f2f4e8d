// The CUDA backend's entry points (cuda_backend.h) in a build without CUDA (nvcc was not found):
// cuda_unavailable() says so, and ./train and ./rerank never get further (choose_cuda() stops there).
// Linked into those two programs in place of cuda/model.cu; not part of libengine.a.
#include "backend/backend.h"

std::string cuda_unavailable() { return "this build has no CUDA backend (nvcc was not found when it was built)"; }
std::string cuda_device_name() { return "none"; }

[[noreturn]] static void unreachable() { fatal("internal: the CUDA backend was called in a build without CUDA"); }

CudaModel* cuda_model_create(const Mamba<float>&, bool, int, int, int) { unreachable(); }
void cuda_model_free(CudaModel*) {}
void cuda_model_to_host(const CudaModel*, Mamba<float>&) { unreachable(); }
void cuda_model_grads(const CudaModel*, float*) { unreachable(); }
void cuda_forward(CudaModel*, const Batch&, float*) { unreachable(); }
double cuda_train_step(CudaModel*, const AdamWConfig&, TrainState&, const Batch&, int, double*) { unreachable(); }
