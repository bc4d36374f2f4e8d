// What a model family brings to the CUDA backend: its model on the device behind a table of functions,
// listed in cuda/backend.cu, which implements the family-neutral entry points of
// src/backend/backend.h over it (the same pattern as core/model.h's ModelFamily on the host).
#pragma once
#include <cstdint>
#include <string>

#include "core/batch.h"
#include "core/model.h"
#include "core/optim.h"

struct GpuFamily {
    Family id;  // the host family's id (core/model.h)
    // "" or why the kernels cannot run this model's config (one line).
    std::string (*unsupported)(const Model& m);
    // The model on the device: a copy of m's parameters (and AdamW moments when m is training),
    // activations for batches of at most max_tokens tokens, max_seqs sequences, max_len tokens each.
    void* (*create)(const Model& m, bool bf16, int max_tokens, int max_seqs, int max_len);
    void (*destroy)(void* g);
    void (*to_host)(const void* g, Model& m);   // parameters (and moments when training) into m
    void (*grads)(const void* g, float* grads);  // the last step's gradients, host, parameter layout
    void (*forward)(void* g, const Batch& batch, float* scores);  // scores [B] into host memory
    // Zero the gradients, forward, group softmax loss, backward, AdamW at 0-based `step`; returns the loss.
    double (*train_step)(void* g, const AdamWConfig& oc, int64_t step, const Batch& batch, int G, double* grad_norm);
};

extern const GpuFamily mamba_gpu;  // cuda/mamba_model.cu
