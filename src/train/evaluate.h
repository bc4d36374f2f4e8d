// Evaluation during and after training: the reranker's scores of each query's BM25 candidates, and the
// mean metrics of four orders of them (random, BM25, the reranker, the reranker fused with BM25).
#pragma once
#include <vector>

#include "ir/metrics.h"
#include "rerank/scoring.h"
#include "train/data.h"

// The reranker's scores of the first `depth` BM25 candidates of each query, `batch` pairs per forward.
std::vector<std::vector<float>> score_split(const ScoreFn& forward, const InputFormat& f, const TrainData& d,
                                            const std::vector<Query>& qs, int depth, int batch, Batch& b);

struct Orders {
    QueryMetrics random, bm25, rerank, fused;
};

// Mean metrics of the four orders of each query's scored candidates; the random order is one fixed
// shuffle, the fused one weighs BM25 by w (rerank/scoring.h fuse_scores).
Orders evaluate(const TrainData& d, const std::vector<Query>& qs, const std::vector<std::vector<float>>& scores, double w);

// The fusion weight in {0, 0.05, ..., 1} with the best MRR@10 (ties: the smaller weight).
double tune_fusion(const TrainData& d, const std::vector<Query>& qs, const std::vector<std::vector<float>>& scores);

// The closing table (Markdown): MRR@10 and nDCG@10 of the four orders on dev and test.
void print_results_table(const Orders& dev, const Orders& test);
