// A reranker of any model family, as the trainer, checkpoints, weights files and programs see it.
//
// A family (Mamba-1, ...) is a table of functions, struct ModelFamily, registered by name and by its
// weights-file id in src/models/registry.cpp. It brings its config (key/value entries, stored as such in
// the weights file), its parameter table, and its CPU model: forward and backward over a packed batch,
// written in its own orchestration over the shared layers of src/cpu/ (its CUDA model registers the same
// way in cuda/backend.cu). Everything else works on struct Model only: one scoring head, one loss, one
// trainer, one checkpoint format, one pair of programs for every family.
//
// Why a table of function pointers (dynamic dispatch): the family is known only at run time (from a
// weights file's family field or ./train --family), a family registered by a test must run through the
// same trainer and programs, and the cost is one indirect call per batch; inside a family the layers
// are bound statically (the orchestration is a template over the backend's layers).
//
// Conventions every family keeps: the config has the entries "vocab_size" (rows of the token embedding)
// and "match_feature" (1: the batch carries exact-match flags); the parameters are fp32 on the host,
// laid out by the family's TensorTable (one allocation each for parameters, gradients and the two AdamW
// moments); a forward returns one score per sequence; a backward accumulates (+=) into the gradients.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/batch.h"
#include "core/tensor.h"
#include "core/weights.h"

// A family's config as the weights file stores it: key/value entries in the family's key order.
struct ModelConfig {
    Family family = Family::none;
    std::vector<std::pair<std::string, double>> entries;

    const double* find(const std::string& key) const;  // nullptr when absent
    double get(const std::string& key) const;           // throws std::runtime_error naming the key when absent
    // An integer entry in [lo, hi]; throws "<key> = <value> (expected an integer in [lo, hi])" otherwise.
    int64_t get_int(const std::string& key, int64_t lo, int64_t hi) const;
    void set(const std::string& key, double value);     // replaces or appends
    bool operator==(const ModelConfig&) const = default;
    std::string describe() const;                       // "d_model 128, n_layer 3, ..."
};

struct Model;

struct ModelFamily {
    const char* name;                       // "mamba": ./train --family, messages
    Family id;                              // the weights file's family field
    std::vector<const char*> config_keys;   // what the weights file stores, in order
    const char* flags_help;                 // the family's ./train flags, for ./train --help

    // The config from ./train's model flags: `flags` maps a flag without its dashes ("d-model") to its
    // value; the family erases the ones it reads (any left over is an unknown flag) and fills the rest
    // with its defaults. `vocab` is the tokenizer's number of ids. Throws std::runtime_error.
    ModelConfig (*config_from_flags)(std::map<std::string, double>& flags, int vocab);
    std::string (*config_error)(const ModelConfig& c);  // "" or the first bad entry, in one line
    TensorTable (*param_table)(const ModelConfig& c);

    // The family's CPU model: created for a checked config, with fp32 parameters (and, when training,
    // gradients and AdamW moments) laid out by param_table(c); it points m.params ... at them.
    void* (*create)(Model& m, bool training);
    void (*destroy)(void* state);
    void (*init_random)(Model& m, uint64_t seed);
    // Activations for batches of at most max_tokens tokens, max_seqs sequences, max_len tokens each.
    void (*setup_acts)(Model& m, int max_tokens, int max_seqs, int max_len);
    const float* (*forward)(Model& m, const Batch& batch);  // scores [B], valid until the next call
    void (*backward)(Model& m, const float* dscores);       // of the last forward; grads +=
};

// A model of any family on the host. Move-only; the family's state owns the memory that the views
// below point into.
struct Model {
    const ModelFamily* family = nullptr;
    ModelConfig cfg;
    const TensorTable* ptable = nullptr;          // the parameter table
    float* params = nullptr;                      // [ptable->total]
    float *grads = nullptr, *opt_m = nullptr, *opt_v = nullptr;  // same layout; training only
    std::vector<float> dscores;                   // [max_seqs] the loss's gradient (sized by model_setup_acts)
    std::unique_ptr<void, void (*)(void*)> state{nullptr, nullptr};

    int vocab() const { return (int)cfg.get("vocab_size"); }
    bool match() const { return cfg.get("match_feature") != 0; }
    bool training() const { return grads != nullptr; }
    size_t n_params() const;  // elements of every tensor, without alignment padding
};

// A model of family f with config c (checked: throws std::runtime_error "model config: ..."); its
// parameters are zero until initialised or loaded.
Model model_create(const ModelFamily& f, const ModelConfig& c, bool training);
inline void model_init_random(Model& m, uint64_t seed) { m.family->init_random(m, seed); }
inline void model_setup_acts(Model& m, int max_tokens, int max_seqs, int max_len) {
    m.family->setup_acts(m, max_tokens, max_seqs, max_len);
    m.dscores.assign(max_seqs, 0.0f);
}
inline const float* model_forward(Model& m, const Batch& b) { return m.family->forward(m, b); }
inline void model_backward(Model& m, const float* dscores) { m.family->backward(m, dscores); }

// fatal() unless the batch fits a setup for max_seqs sequences, max_tokens tokens, max_len per sequence,
// a vocabulary of `vocab` ids (and carries match flags when `match`); returns its longest sequence.
int check_batch(const Batch& batch, int vocab, bool match, int max_tokens, int max_seqs, int max_len);

// ---- weights files (core/weights.h) -----------------------------------------------------------------
// The config of family f from a file: every key of f, range-checked; throws "<path>: config ...".
ModelConfig config_from_file(const ModelFamily& f, const WeightsFile& file);
void config_to(WeightsWriter& w, const ModelConfig& c);
// Copies every tensor of `table` from the file (dtype f32 or bf16, exact shape) into dst; throws naming
// the tensor. T: float, or double for the finite-difference tests.
template <class T>
void load_params(const TensorTable& table, T* dst, const WeightsFile& file);
// Adds every parameter of m (f32, pointing into m.params) to a writer.
void add_params(WeightsWriter& w, const Model& m);
