// Mamba reranker <-> weights.bin (format in weights.h): the config keys of the family, the parameters
// under their Hugging Face names, the tokenizer and input template that make a file self-contained,
// and the extra state of a training checkpoint.
//
// Config keys of family mamba: d_model, n_layer, d_state, d_conv, d_inner, dt_rank, vocab_size,
// norm_eps, match_feature. Optional: max_len (the training length), fuse_weight (BM25 fusion weight
// tuned on dev).
#pragma once
#include <string>

#include "models/mamba/mamba.h"
#include "core/weights.h"

// Reads and range-checks the config; throws WeightsError "<path>: config ...".
MambaConfig mamba_config_from(const WeightsFile& f);
void mamba_config_to(WeightsWriter& w, const MambaConfig& c);

// Copies every parameter (dtype f32 or bf16, exact shape) into m.params; throws naming the tensor.
template <class T>
void mamba_load_params(Mamba<T>& m, const WeightsFile& f);

// Adds every parameter of m (f32, pointing into m.params) to a writer.
void mamba_add_params(WeightsWriter& w, const Mamba<float>& m);
