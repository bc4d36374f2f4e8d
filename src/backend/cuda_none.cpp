// The CUDA backend's entry points (backend.h) in a build without CUDA (nvcc was not found):
// cuda_unavailable() says so, and choose_backend() never picks the GPU. Linked into ./train, ./rerank
// and the CPU tests in place of cuda/*.cu; not part of libengine.a.
#include "backend/backend.h"
#include "core/common.h"

std::string cuda_unavailable() { return "this binary was built without the CUDA backend (nvcc was not found)"; }
std::string cuda_family_unavailable(const ModelFamily&) { return cuda_unavailable(); }
std::string cuda_device_name() { return "none"; }

[[noreturn]] static void unreachable() { fatal("internal: the CUDA backend was called in a build without CUDA"); }

DeviceModel* cuda_model_create(const Model&, bool, int, int, int) { unreachable(); }
void cuda_model_free(DeviceModel*) {}
void cuda_model_to_host(const DeviceModel*, Model&) { unreachable(); }
void cuda_model_grads(const DeviceModel*, float*) { unreachable(); }
void cuda_forward(DeviceModel*, const Batch&, float*) { unreachable(); }
double cuda_train_step(DeviceModel*, const AdamWConfig&, TrainState&, const Batch&, int, double*) { unreachable(); }
