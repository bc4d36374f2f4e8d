// BM25 first stage: the analyzer (lower-case, accent folding, a stopword list, light plural stemming),
// an in-memory inverted index, and top-k retrieval over queries in parallel.
//
//   score(q, d) = sum over query terms t (with multiplicity) of
//                 idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl))
//   idf(t)      = log(1 + (N - df + 0.5) / (df + 0.5))                (Lucene / Anserini)
//   k1 = 0.9, b = 0.4 (Anserini's defaults); |d| = number of indexed tokens (stopwords removed), exact
//   (Lucene rounds it to one byte; we do not).
// Scores are fp32, accumulated per document in a fixed term order, so that a query's scores are the same
// bits whatever the number of threads; ties are ranked as trec_eval ranks them (docid descending).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ir/formats.h"

// The analyzer: the words of the folded text (fold_text and split_words; the rules are in
// text/normalize.h), stopwords dropped when drop_stopwords (is_stopword), then light plural stemming
// (Harman's S-stemmer, bm25_stem: -ies -> -y, -es -> -e, -s -> "", with its exceptions, on tokens of 4+
// bytes).
std::vector<std::string> bm25_tokens(std::string_view text, bool drop_stopwords = true);
std::string bm25_stem(std::string_view token);  // the plural stemmer alone

struct Bm25Params {
    float k1 = 0.9f, b = 0.4f;
};

struct Bm25Index {
    Bm25Params params;
    std::vector<std::string> docids;  // doc index -> docid
    std::unordered_map<std::string, uint32_t> term_id;
    std::vector<std::vector<uint32_t>> post_doc;  // term -> doc indices (ascending)
    std::vector<std::vector<uint16_t>> post_tf;   // term -> tf (saturated at 65535)
    std::vector<uint32_t> doc_len;                // tokens per document
    std::vector<uint32_t> docid_rank;             // position of the docid in byte order (tie breaks)
    double avgdl = 0;
};

// Builds the index over (docid, text) documents, analyzing in parallel (OpenMP).
Bm25Index bm25_build(const std::vector<TextRecord>& docs, Bm25Params params = {});

// Top `depth` documents for each query, in trec_eval order (score descending, docid descending);
// documents that share no term with the query are not returned. Parallel over queries.
std::vector<std::vector<ScoredDoc>> bm25_search(const Bm25Index& index, const std::vector<TextRecord>& queries,
                                                size_t depth);
