// AdamW (Loshchilov & Hutter 2019) with decoupled weight decay, global gradient-norm clipping, and a
// linear warmup then linear decay learning-rate schedule. Matches torch.optim.AdamW +
// torch.nn.utils.clip_grad_norm_ + LambdaLR(lr_multiplier) step for step (tests/test_parity.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

struct AdamWConfig {
    float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    float weight_decay = 0.1f;  // applied to tensors whose TensorSpec::decay is set
    float clip = 1.0f;          // max global gradient norm; <= 0 disables clipping
    int64_t warmup = 0, total_steps = 1;
};

// The schedule at optimizer step `step` (0-based): (step+1)/warmup during warmup, then linear decay
// from 1 to 0 at total_steps.
double lr_multiplier(const AdamWConfig& c, int64_t step);

// sqrt of the sum of squares of n values, accumulated in double.
template <class T>
double grad_norm(const T* g, size_t n);

// One AdamW step over every trained tensor of `table` (params, grads, m, v laid out by it), at 0-based `step`.
// Gradients are first scaled by min(1, clip / (norm + 1e-6)) (clip_grad_norm_), norm over the trained
// tensors. Returns the gradient norm before clipping.
template <class T>
double adamw_step(const AdamWConfig& c, const TensorTable& table, T* params, T* grads, T* m, T* v,
                  int64_t step);
