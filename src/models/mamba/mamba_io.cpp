#include "models/mamba/mamba_io.h"

#include <cstring>

#include "core/common.h"

MambaConfig mamba_config_from(const WeightsFile& f) {
    if (f.family != Family::mamba) f.fail("not a Mamba reranker (model family " + std::to_string((int)f.family) + ")");
    MambaConfig c;
    c.D = (int)f.config_int("d_model", 1, 65536);
    c.L = (int)f.config_int("n_layer", 1, 1024);
    c.N = (int)f.config_int("d_state", 1, 64);
    c.K = (int)f.config_int("d_conv", 1, 16);
    c.E = (int)f.config_int("d_inner", 1, 262144);
    c.R = (int)f.config_int("dt_rank", 1, c.E);
    c.V = (int)f.config_int("vocab_size", 1, 1 << 24);
    c.eps = (float)f.config_value("norm_eps");
    c.match = (int)f.config_int("match_feature", 0, 1);
    std::string err = mamba_config_error(c);
    if (!err.empty()) f.fail("config " + err);
    return c;
}

void mamba_config_to(WeightsWriter& w, const MambaConfig& c) {
    w.family = Family::mamba;
    w.set("d_model", c.D), w.set("n_layer", c.L), w.set("d_state", c.N), w.set("d_conv", c.K);
    w.set("d_inner", c.E), w.set("dt_rank", c.R), w.set("vocab_size", c.V), w.set("norm_eps", c.eps);
    w.set("match_feature", c.match);
}

static float bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

template <class T>
void mamba_load_params(Mamba<T>& m, const WeightsFile& f) {
    for (size_t k = 0; k < m.ptable.specs.size(); k++) {
        const TensorSpec& s = m.ptable.specs[k];
        const WTensor* t = f.find(s.name);
        if (!t) f.fail("tensor " + s.name + " is missing");
        if (t->dtype != DType::f32 && t->dtype != DType::bf16)
            f.fail(strfmt("tensor %s has dtype %s, expected f32 or bf16", s.name.c_str(), dtype_name(t->dtype)));
        f.get(s.name, t->dtype, s.shape);  // shape check
        T* dst = m.params.data + m.ptable.offsets[k];
        const int64_t n = s.numel();
        if (t->dtype == DType::f32) {
            const float* src = (const float*)t->data;
            for (int64_t i = 0; i < n; i++) dst[i] = (T)src[i];
        } else {
            const uint16_t* src = (const uint16_t*)t->data;
            for (int64_t i = 0; i < n; i++) dst[i] = (T)bf16_to_f32(src[i]);
        }
    }
}

void mamba_add_params(WeightsWriter& w, const Mamba<float>& m) {
    for (size_t k = 0; k < m.ptable.specs.size(); k++) {
        const TensorSpec& s = m.ptable.specs[k];
        w.add(s.name, DType::f32, s.shape, m.params.data + m.ptable.offsets[k]);
    }
}

template void mamba_load_params<float>(Mamba<float>&, const WeightsFile&);
template void mamba_load_params<double>(Mamba<double>&, const WeightsFile&);
