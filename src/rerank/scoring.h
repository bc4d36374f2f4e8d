// Scoring candidate lists with a reranker, and fusing its scores with the first stage's.
#pragma once
#include <functional>
#include <vector>

#include "text/input.h"
#include "core/batch.h"

// A model's forward on whichever backend: writes the B scores of a packed batch (host memory).
using ScoreFn = std::function<void(const Batch& batch, float* scores)>;

// Scores the pairs (docs[i], query), packing at most `batch` sequences into one forward. Writes
// scores[i]. `b` is reused scratch.
void score_query(const ScoreFn& forward, const InputFormat& f, const EncodedText& query,
                 const std::vector<const EncodedText*>& docs, int batch, std::vector<float>& scores, Batch& b);

// Fusion after per-query min-max normalisation: out = (1 - w) * norm(rerank) + w * norm(first).
// A list whose scores are all equal normalises to zeros.
std::vector<double> fuse_scores(const std::vector<float>& rerank, const std::vector<double>& first, double w);
