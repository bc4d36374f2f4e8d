// AdamW, clipping and the schedule (optim.h). Per element, at 1-based step t, with g already clipped:
//   p  -= lr * wd * p                               (decoupled decay, before the moment update)
//   m   = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p  -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// written as torch.optim.AdamW's single-tensor path does, so that fp32 results agree to rounding.
// Memory traffic: reads and writes p, m, v and reads g: 7 * 4 bytes per parameter.
#include "core/optim.h"

#include <cmath>

double lr_multiplier(const AdamWConfig& c, int64_t step) {
    if (step < c.warmup) return (double)(step + 1) / (double)c.warmup;
    if (c.total_steps <= c.warmup) return 1.0;
    double f = (double)(c.total_steps - step) / (double)(c.total_steps - c.warmup);
    return f > 0 ? f : 0;
}

template <class T>
double grad_norm(const T* g, size_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * (double)g[i];
    return std::sqrt(s);
}

template <class T>
double adamw_step(const AdamWConfig& c, const TensorTable& table, T* params, T* grads, T* m, T* v,
                  int64_t step) {
    double sq = 0;
    for (size_t k = 0; k < table.specs.size(); k++)
        if (table.specs[k].trained) {
            double nk = grad_norm(grads + table.offsets[k], (size_t)table.specs[k].numel());
            sq += nk * nk;
        }
    double norm = std::sqrt(sq);
    T scale = 1;
    if (c.clip > 0) {
        double coef = (double)c.clip / (norm + 1e-6);
        if (coef < 1) scale = (T)coef;
    }
    const double lr = c.lr * lr_multiplier(c, step);
    const int t = (int)(step + 1);
    const T bc1 = T(1) - (T)std::pow((double)c.beta1, t);
    const T bc2_sqrt = (T)std::sqrt(1.0 - std::pow((double)c.beta2, t));
    const T step_size = (T)(lr / bc1);
    const T b1 = c.beta1, b2 = c.beta2, eps = c.eps;
    for (size_t k = 0; k < table.specs.size(); k++) {
        if (!table.specs[k].trained) continue;
        const size_t off = table.offsets[k], n = (size_t)table.specs[k].numel();
        const T decay = table.specs[k].decay ? T(1) - (T)(lr * c.weight_decay) : T(1);
        T *p = params + off, *gr = grads + off, *mm = m + off, *vv = v + off;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            T gi = gr[i] * scale;
            p[i] *= decay;
            mm[i] = b1 * mm[i] + (T(1) - b1) * gi;
            vv[i] = b2 * vv[i] + (T(1) - b2) * gi * gi;
            T denom = std::sqrt(vv[i]) / bc2_sqrt + eps;
            p[i] -= step_size * mm[i] / denom;
        }
    }
    return norm;
}

template double grad_norm<float>(const float*, size_t);
template double grad_norm<double>(const double*, size_t);
template double adamw_step<float>(const AdamWConfig&, const TensorTable&, float*, float*, float*, float*, int64_t);
template double adamw_step<double>(const AdamWConfig&, const TensorTable&, double*, double*, double*, double*,
                                   int64_t);
