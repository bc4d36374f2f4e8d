// What ./train reads, encoded once: the collection, the queries of each split with their judged and
// BM25-ranked documents, and the sampler that turns training queries into groups of G sequences.
//
// Sampling (the RankMamba recipe): every step takes Q training queries in a shuffled order (one
// shuffle per pass over the usable queries, a function of the seed and the pass number alone), and
// for each builds a group: one relevant document drawn at random among the query's judged ones, then
// G-1 negatives drawn without replacement from its BM25 top-100 minus its relevant documents. Every
// draw comes from TrainState's RNG and the query lists are never reordered, so a checkpoint's step,
// RNG and data position determine every later batch: a resumed run draws what the uninterrupted one
// would have drawn.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/batch.h"
#include "text/input.h"
#include "text/tokenizer.h"
#include "train/trainer.h"

struct Query {
    std::string qid;
    EncodedText enc;
    std::vector<int> relevant;        // doc indices, sorted
    std::vector<int> bm25;            // doc indices, BM25 order (a group file: its negatives)
    std::vector<double> bm25_score;
};

struct TrainData {
    std::vector<std::string> docids;
    std::unordered_map<std::string, int> doc_index;
    std::vector<EncodedText> docs;
    std::vector<Query> train, dev, dev_final, test;  // dev: the periodic evaluation's subset of dev_final
};

struct DataOptions {
    std::string dir;                  // collection.tsv, queries.{split}.tsv, qrels.{split}.txt, bm25.{split}.trec
    std::string train_groups;         // a group file "qid pos neg1 ... negk" instead of BM25 sampling ("": none)
    int max_len = 128;                // tokens kept per text
    size_t final_queries = SIZE_MAX;  // judged dev and test queries of the closing table
    size_t eval_queries = 500;        // dev queries of the periodic evaluation, spread over dev_final
};

TrainData load_train_data(const DataOptions& o, const Tokenizer& tok);

// At most `limit` of the items, spread evenly (the demo's qids are sorted by part of speech, so the
// first ones alone would all be adjectives).
template <class T>
std::vector<T> spread(const std::vector<T>& items, size_t limit) {
    if (limit >= items.size()) return items;
    std::vector<T> out;
    for (size_t i = 0; i < limit; i++) out.push_back(items[i * items.size() / limit]);
    return out;
}

struct GroupSampler {
    int G;
    uint64_t seed;
    std::vector<int> usable;                 // training queries with a relevant document and G-1 negatives
    std::vector<std::vector<int>> negatives; // per training query: its BM25 documents that are not relevant
    // fatal() when no training query is usable.
    GroupSampler(const TrainData& d, int G, uint64_t seed, const std::string& where);
    // Fills b with `queries` groups of G pairs, advancing st.rng and st.data_pos.
    void next_batch(Batch& b, const TrainData& d, const InputFormat& fmt, int queries, TrainState& st);

    // Scratch: the shuffle of pass order_pass_ (a function of seed and pass, cached), and the draw.
    std::vector<int> order_;
    int64_t order_pass_ = -1;
    std::vector<int> draw_;
};
