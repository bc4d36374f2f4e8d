// The Mamba-1 family as the trainer and the programs see it (core/model.h): its config entries, its
// ./train flags, and the CPU model Mamba<float> behind the family-neutral functions.
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "core/common.h"
#include "models/mamba/mamba.h"

// Integers here; their ranges are mamba_config_error's.
MambaConfig mamba_config(const ModelConfig& c) {
    auto whole = [&](const char* key) { return (int)c.get_int(key, INT32_MIN, INT32_MAX); };
    MambaConfig m;
    m.D = whole("d_model"), m.L = whole("n_layer"), m.N = whole("d_state"), m.K = whole("d_conv");
    m.E = whole("d_inner"), m.R = whole("dt_rank"), m.V = whole("vocab_size"), m.match = whole("match_feature");
    m.eps = (float)c.get("norm_eps");
    return m;
}

// Entries in the order of mamba_family.config_keys, so that configs compare equal entry by entry.
ModelConfig model_config(const MambaConfig& c) {
    ModelConfig m;
    m.family = Family::mamba;
    m.entries = {{"d_model", c.D},  {"n_layer", c.L},    {"d_state", c.N},     {"d_conv", c.K},
                 {"d_inner", c.E},  {"dt_rank", c.R},    {"vocab_size", c.V},  {"norm_eps", c.eps},
                 {"match_feature", c.match}};
    return m;
}

MambaConfig mamba_config_from(const WeightsFile& f) { return mamba_config(config_from_file(mamba_family, f)); }

namespace {

Mamba<float>& cpu_model(Model& m) { return *static_cast<Mamba<float>*>(m.state.get()); }

std::string config_error(const ModelConfig& c) {
    try {
        return mamba_config_error(mamba_config(c));
    } catch (const std::runtime_error& e) {
        return e.what();
    }
}

// --d-model N (128) --layers N (3) --d-state N (16) --expand N (2) --d-conv N (4)
// --dt-rank N (ceil(d_model/16)) --match 0|1 (1); the vocabulary is the tokenizer's, padded to 64.
ModelConfig config_from_flags(std::map<std::string, double>& flags, int vocab) {
    auto take = [&](const char* name, double fallback) {
        auto it = flags.find(name);
        if (it == flags.end()) return fallback;
        const double v = it->second;
        flags.erase(it);
        return v;
    };
    MambaConfig c;
    const double D = take("d-model", 128), expand = take("expand", 2);
    auto whole = [](const char* flag, double v) {
        if (v != std::floor(v) || v < 1 || v > (1 << 24)) throw std::runtime_error(strfmt("--%s %g: expected a positive integer", flag, v));
        return (int)v;
    };
    c.D = whole("d-model", D);
    c.L = whole("layers", take("layers", 3));
    c.N = whole("d-state", take("d-state", 16));
    c.K = whole("d-conv", take("d-conv", 4));
    c.E = whole("expand", expand) * c.D;
    c.R = whole("dt-rank", take("dt-rank", (c.D + 15) / 16));
    c.V = (vocab + 63) / 64 * 64;
    const double match = take("match", 1);
    if (match != 0 && match != 1) throw std::runtime_error(strfmt("--match %g: expected 0 or 1", match));
    c.match = (int)match;
    return model_config(c);
}

TensorTable param_table(const ModelConfig& c) { return mamba_param_table(mamba_config(c)); }

void* create(Model& m, bool training) {
    Mamba<float>* mm = new Mamba<float>;
    mamba_setup(*mm, mamba_config(m.cfg), training);
    m.ptable = &mm->ptable;
    m.params = mm->params.data;
    m.grads = mm->grads.data, m.opt_m = mm->opt_m.data, m.opt_v = mm->opt_v.data;
    return mm;
}

void destroy(void* state) { delete static_cast<Mamba<float>*>(state); }
void init_random(Model& m, uint64_t seed) { mamba_init_random(cpu_model(m), seed); }
void setup_acts(Model& m, int max_tokens, int max_seqs, int max_len) {
    mamba_setup_acts(cpu_model(m), max_tokens, max_seqs, max_len);
}
const float* forward(Model& m, const Batch& batch) { return mamba_forward(cpu_model(m), batch); }
void backward(Model& m, const float* dscores) { mamba_backward(cpu_model(m), dscores); }

}  // namespace

const ModelFamily mamba_family = {
    "mamba",
    Family::mamba,
    {"d_model", "n_layer", "d_state", "d_conv", "d_inner", "dt_rank", "vocab_size", "norm_eps", "match_feature"},
    "    --d-model N (128)  --layers N (3)  --d-state N (16)  --expand N (2)  --d-conv N (4)\n"
    "    --dt-rank N (ceil(d_model/16))  --match 0|1 (1: exact-match flag embedding)\n",
    config_from_flags,
    config_error,
    param_table,
    create,
    destroy,
    init_random,
    setup_acts,
    forward,
    backward,
};
