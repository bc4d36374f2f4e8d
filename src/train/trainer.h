// The training step and training checkpoints of a model of any family (core/model.h), shared by
// ./train, the CUDA backend's step (backend/backend.h) and the tests.
//
// A checkpoint is a weights.bin (weights.h) holding everything a reranker file holds plus "optim.m" and
// "optim.v" (the AdamW moments, laid out as the parameter table) and "train.state" (i64: step, the four
// RNG words, the data position), so that a resumed run continues bit for bit where it stopped.
#pragma once
#include <cstdint>
#include <string>

#include "core/model.h"
#include "core/optim.h"
#include "core/rng.h"
#include "core/weights.h"

struct TrainState {
    int64_t step = 0;      // optimizer steps done
    Rng rng{0};            // the trainer's sampling stream
    int64_t data_pos = 0;  // position in the training data order
};

// One step on one batch of groups of G (positive first): zero the gradients, forward, loss, backward,
// AdamW. Returns the loss; *grad_norm gets the norm before clipping when not null. m is set up for
// training, with activations for the batch (model_setup_acts).
double train_step(Model& m, const AdamWConfig& oc, TrainState& st, const Batch& batch, int G,
                  double* grad_norm = nullptr);

// The parts of a reranker file that are not parameters.
struct ModelExtras {
    std::string tokenizer_json;   // the tokenizer.json bytes
    std::string input_template;   // e.g. "Document: {doc}\n\nQuery: {query}"
    double max_len = 0;           // training length (0: unset)
    double fuse_weight = -1;      // BM25 fusion weight tuned on dev (< 0: unset)
};

// A reranker file (config, parameters, extras). Atomic.
void save_model(const std::string& path, const Model& m, const ModelExtras& x);
// A training checkpoint: save_model's content plus the optimizer moments and the train state. Atomic.
void save_checkpoint(const std::string& path, const Model& m, const ModelExtras& x, const TrainState& st);
// Restores parameters, moments and state into m (set up for training with the file's config: throws
// "<path>: ..." when its family or config differs) and st.
void load_checkpoint(const WeightsFile& f, Model& m, TrainState& st);
ModelExtras load_extras(const WeightsFile& f);
