// The CUDA backend's family-neutral entry points (src/backend/backend.h): the device query, and a
// DeviceModel that forwards to its family's GpuFamily (device_model.h). Compiled by nvcc for the GPU
// and by g++ for the simulator.
#include "backend/backend.h"
#include "device_model.h"
#include "core/common.h"
#include "runtime.h"

// The families with a CUDA model. Adding one: its GpuFamily here.
static const GpuFamily* const gpu_families[] = {&mamba_gpu};

struct DeviceModel {
    const GpuFamily* f;
    void* g;
};

static const GpuFamily* gpu_family(Family id) {
    for (const GpuFamily* f : gpu_families)
        if (f->id == id) return f;
    return nullptr;
}

std::string cuda_unavailable() {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();  // clear it: later calls must not report it again
        if (e == cudaErrorNoDevice) return "no CUDA device found";
        if (e == cudaErrorInsufficientDriver) return "no NVIDIA driver found, or one too old for this build's CUDA runtime";
        return strfmt("no usable CUDA device (%s)", cudaGetErrorString(e));
    }
    return n > 0 ? "" : "no CUDA device found";
}

std::string cuda_family_unavailable(const ModelFamily& f) {
    return gpu_family(f.id) ? "" : strfmt("model family %s has no CUDA model", f.name);
}

std::string cuda_device_name() {
    int dev = 0;
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    return strfmt("%s, sm_%d%d, %d SMs, %.1f GiB", p.name, p.major, p.minor, p.multiProcessorCount,
                  (double)p.totalGlobalMem / (1u << 30));
}

DeviceModel* cuda_model_create(const Model& m, bool bf16, int max_tokens, int max_seqs, int max_len) {
    const GpuFamily* f = gpu_family(m.family->id);
    if (!f) fatal("--device cuda: model family %s has no CUDA model", m.family->name);
    const std::string why = f->unsupported(m);
    if (!why.empty()) fatal("--device cuda: %s", why.c_str());
    return new DeviceModel{f, f->create(m, bf16, max_tokens, max_seqs, max_len)};
}

void cuda_model_free(DeviceModel* g) {
    if (!g) return;
    g->f->destroy(g->g);
    delete g;
}

void cuda_model_to_host(const DeviceModel* g, Model& m) { g->f->to_host(g->g, m); }
void cuda_model_grads(const DeviceModel* g, float* grads) { g->f->grads(g->g, grads); }
void cuda_forward(DeviceModel* g, const Batch& batch, float* scores) { g->f->forward(g->g, batch, scores); }

double cuda_train_step(DeviceModel* g, const AdamWConfig& oc, TrainState& st, const Batch& batch, int G,
                       double* grad_norm) {
    const double loss = g->f->train_step(g->g, oc, st.step, batch, G, grad_norm);
    st.step++;
    return loss;
}
