#include "train/trainer.h"

#include <cstring>

#include "core/common.h"
#include "cpu/layers.h"

double train_step(Model& m, const AdamWConfig& oc, TrainState& st, const Batch& batch, int G, double* grad_norm_out) {
    ENGINE_ASSERT(m.training() && (int)m.dscores.size() >= batch.B());
    std::memset(m.grads, 0, sizeof(float) * m.ptable->total);
    const float* scores = model_forward(m, batch);
    double loss = cpu::group_softmax_ce(m.dscores.data(), scores, batch.B(), G);
    model_backward(m, m.dscores.data());
    double norm = adamw_step(oc, *m.ptable, m.params, m.grads, m.opt_m, m.opt_v, st.step);
    if (grad_norm_out) *grad_norm_out = norm;
    st.step++;
    return loss;
}

static void add_model(WeightsWriter& w, const Model& m, const ModelExtras& x) {
    config_to(w, m.cfg);
    if (x.max_len > 0) w.set("max_len", x.max_len);
    if (x.fuse_weight >= 0) w.set("fuse_weight", x.fuse_weight);
    add_params(w, m);
    if (!x.tokenizer_json.empty()) w.add_bytes("tokenizer.json", x.tokenizer_json);
    if (!x.input_template.empty()) w.add_bytes("template", x.input_template);
}

void save_model(const std::string& path, const Model& m, const ModelExtras& x) {
    WeightsWriter w;
    add_model(w, m, x);
    w.write(path);
}

void save_checkpoint(const std::string& path, const Model& m, const ModelExtras& x, const TrainState& st) {
    ENGINE_ASSERT(m.training());
    WeightsWriter w;
    add_model(w, m, x);
    w.add("optim.m", DType::f32, {(int64_t)m.ptable->total}, m.opt_m);
    w.add("optim.v", DType::f32, {(int64_t)m.ptable->total}, m.opt_v);
    int64_t state[6] = {st.step, (int64_t)st.rng.s[0], (int64_t)st.rng.s[1], (int64_t)st.rng.s[2],
                        (int64_t)st.rng.s[3], st.data_pos};
    w.add("train.state", DType::i64, {6}, state);
    w.write(path);  // state[] is read here, while still alive
}

void load_checkpoint(const WeightsFile& f, Model& m, TrainState& st) {
    ENGINE_ASSERT(m.training());
    const ModelConfig c = config_from_file(*m.family, f);
    if (c != m.cfg) f.fail("the checkpoint's model config (" + c.describe() + ") differs from this run's (" + m.cfg.describe() + ")");
    load_params(*m.ptable, m.params, f);
    const int64_t total = (int64_t)m.ptable->total;
    std::memcpy(m.opt_m, f.get("optim.m", DType::f32, {total}).data, sizeof(float) * total);
    std::memcpy(m.opt_v, f.get("optim.v", DType::f32, {total}).data, sizeof(float) * total);
    const int64_t* s = (const int64_t*)f.get("train.state", DType::i64, {6}).data;
    if (s[0] < 0 || s[5] < 0) f.fail("train.state holds a negative step or data position");
    st.step = s[0];
    for (int i = 0; i < 4; i++) st.rng.s[i] = (uint64_t)s[1 + i];
    st.data_pos = s[5];
}

ModelExtras load_extras(const WeightsFile& f) {
    ModelExtras x;
    if (f.find("tokenizer.json")) x.tokenizer_json = f.bytes("tokenizer.json");
    if (f.find("template")) x.input_template = f.bytes("template");
    x.max_len = f.config_or("max_len", 0);
    x.fuse_weight = f.config_or("fuse_weight", -1);
    return x;
}
