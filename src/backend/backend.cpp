#include "backend/backend.h"

#include <cstdio>

#include "core/common.h"
#include "cpu/layers.h"

BackendChoice choose_backend(const std::string& device, const std::string& precision, const ModelFamily& f,
                             const char* program) {
    if (device != "auto" && device != "cpu" && device != "cuda") fatal("--device %s: expected cpu, cuda or auto", device.c_str());
    if (precision != "auto" && precision != "bf16" && precision != "fp32")
        fatal("--precision %s: expected auto, bf16 or fp32", precision.c_str());
    BackendChoice c;
    std::string note;
    if (device != "cpu") {
        std::string why = cuda_unavailable();
        if (why.empty()) why = cuda_family_unavailable(f);
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

Runner::Runner(Model& model, const BackendChoice& be, int max_tokens, int max_seqs, int max_len) : m(&model) {
    if (be.cuda) gpu = cuda_model_create(model, be.bf16, max_tokens, max_seqs, max_len);
    else model_setup_acts(model, max_tokens, max_seqs, max_len);
}

Runner::~Runner() { cuda_model_free(gpu); }

void Runner::scores(const Batch& batch, float* out) {
    if (gpu) return cuda_forward(gpu, batch, out);
    const float* s = model_forward(*m, batch);
    std::copy(s, s + batch.B(), out);
}

double Runner::train_step(const AdamWConfig& oc, TrainState& st, const Batch& batch, int G, double* grad_norm) {
    return gpu ? cuda_train_step(gpu, oc, st, batch, G, grad_norm) : ::train_step(*m, oc, st, batch, G, grad_norm);
}

void Runner::to_host() {
    if (gpu) cuda_model_to_host(gpu, *m);
}
