#include "core/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "core/common.h"

const double* ModelConfig::find(const std::string& key) const {
    for (const auto& [k, v] : entries)
        if (k == key) return &v;
    return nullptr;
}

double ModelConfig::get(const std::string& key) const {
    const double* v = find(key);
    if (!v) throw std::runtime_error("config " + key + " is missing");
    return *v;
}

int64_t ModelConfig::get_int(const std::string& key, int64_t lo, int64_t hi) const {
    const double v = get(key);
    if (!(v >= (double)lo && v <= (double)hi) || v != std::floor(v))
        throw std::runtime_error(strfmt("%s = %g (expected an integer in [%lld, %lld])", key.c_str(), v, (long long)lo,
                                        (long long)hi));
    return (int64_t)v;
}

void ModelConfig::set(const std::string& key, double value) {
    for (auto& [k, v] : entries)
        if (k == key) {
            v = value;
            return;
        }
    entries.emplace_back(key, value);
}

std::string ModelConfig::describe() const {
    std::string s;
    for (const auto& [k, v] : entries) s += (s.empty() ? "" : ", ") + k + " " + strfmt("%g", v);
    return s;
}

size_t Model::n_params() const {
    size_t n = 0;
    for (const TensorSpec& s : ptable->specs) n += s.numel();
    return n;
}

Model model_create(const ModelFamily& f, const ModelConfig& c, bool training) {
    const std::string err = f.config_error(c);
    if (!err.empty()) throw std::runtime_error("model config: " + err);
    Model m;
    m.family = &f;
    m.cfg = c;
    m.cfg.family = f.id;
    m.state = std::unique_ptr<void, void (*)(void*)>(f.create(m, training), f.destroy);
    ENGINE_ASSERT(m.ptable && m.params && (!training || (m.grads && m.opt_m && m.opt_v)));
    return m;
}

int check_batch(const Batch& batch, int vocab, bool match, int max_tokens, int max_seqs, int max_len) {
    const int B = batch.B(), Tn = batch.T();
    int longest = 0;
    for (int b = 0; b < B; b++) {
        int len = batch.offsets[b + 1] - batch.offsets[b];
        if (len < 1) fatal("batch: sequence %d is empty", b);
        longest = std::max(longest, len);
    }
    if (B < 1 || Tn > max_tokens || B > max_seqs || longest > max_len)
        fatal("batch of %d sequences, %d tokens, longest %d exceeds the setup (%d, %d, %d)", B, Tn, longest, max_seqs,
              max_tokens, max_len);
    for (int t = 0; t < Tn; t++)
        if (batch.tokens[t] < 0 || batch.tokens[t] >= vocab)
            fatal("batch: token id %d at position %d is outside the vocabulary (%d)", batch.tokens[t], t, vocab);
    if (match && (int)batch.match.size() != Tn) fatal("batch: the model needs exact-match flags");
    return longest;
}

ModelConfig config_from_file(const ModelFamily& f, const WeightsFile& file) {
    if (file.family != f.id)
        file.fail(strfmt("model family %u, expected %u (%s)", (unsigned)file.family, (unsigned)f.id, f.name));
    ModelConfig c;
    c.family = f.id;
    for (const char* key : f.config_keys) c.entries.emplace_back(key, file.config_value(key));
    const std::string err = f.config_error(c);
    if (!err.empty()) file.fail("config " + err);
    return c;
}

void config_to(WeightsWriter& w, const ModelConfig& c) {
    w.family = c.family;
    for (const auto& [k, v] : c.entries) w.set(k, v);
}

static float bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

template <class T>
void load_params(const TensorTable& table, T* dst, const WeightsFile& file) {
    for (size_t k = 0; k < table.specs.size(); k++) {
        const TensorSpec& s = table.specs[k];
        const WTensor* t = file.find(s.name);
        if (!t) file.fail("tensor " + s.name + " is missing");
        if (t->dtype != DType::f32 && t->dtype != DType::bf16)
            file.fail(strfmt("tensor %s has dtype %s, expected f32 or bf16", s.name.c_str(), dtype_name(t->dtype)));
        file.get(s.name, t->dtype, s.shape);  // shape check
        T* out = dst + table.offsets[k];
        const int64_t n = s.numel();
        if (t->dtype == DType::f32) {
            const float* src = (const float*)t->data;
            for (int64_t i = 0; i < n; i++) out[i] = (T)src[i];
        } else {
            const uint16_t* src = (const uint16_t*)t->data;
            for (int64_t i = 0; i < n; i++) out[i] = (T)bf16_to_f32(src[i]);
        }
    }
}

void add_params(WeightsWriter& w, const Model& m) {
    for (size_t k = 0; k < m.ptable->specs.size(); k++) {
        const TensorSpec& s = m.ptable->specs[k];
        w.add(s.name, DType::f32, s.shape, m.params + m.ptable->offsets[k]);
    }
}

template void load_params<float>(const TensorTable&, float*, const WeightsFile&);
template void load_params<double>(const TensorTable&, double*, const WeightsFile&);
