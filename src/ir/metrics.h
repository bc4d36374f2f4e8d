// Retrieval metrics with trec_eval's exact definitions (trec_eval 9, as in pytrec_eval), checked against
// pytrec_eval on the fixtures in tests/fixtures/metrics.
//
//   ranking   documents sorted by score descending, ties by docid descending (sort_trec); the rank
//             column of a run file is ignored, as trec_eval ignores it
//   relevant  rel >= 1 (trec_eval's default relevance level); rel <= 0 and unjudged count as not relevant
//   RR@k      1 / rank of the first relevant document among the first k, else 0 (trec_eval recip_rank
//             on the run cut to its first k documents, i.e. `trec_eval -M k`; k = 10 is MS MARCO's MRR@10)
//   nDCG@10   trec_eval ndcg_cut_10: DCG = sum over ranks i <= 10 of gain / log2(i + 1) with gain = rel
//             (rel > 0); ideal DCG from the judgments sorted by rel descending; 0 when nothing is relevant
//   R@100     trec_eval recall_100: relevant documents among the first 100 / relevant judged documents;
//             0 when the query has no relevant document
//   mean      trec_eval's default: over the queries present in both the run and the qrels, a query with
//             judgments but no relevant document counting as 0; queries only in the run are ignored,
//             queries only in the qrels are ignored (mean_all: counted as 0, `trec_eval -c`)
#pragma once
#include <map>
#include <string>
#include <vector>

#include "ir/formats.h"

struct QueryMetrics {
    double mrr10 = 0, mrr100 = 0, ndcg10 = 0, recall100 = 0;
    int num_rel = 0, num_ret = 0;
};

// One query: `ranked` already in sort_trec order.
QueryMetrics evaluate_query(const std::vector<ScoredDoc>& ranked, const Judgments& judgments);

struct Evaluation {
    std::map<std::string, QueryMetrics> per_query;  // queries in run and qrels
    QueryMetrics mean;                              // over per_query (trec_eval default)
    QueryMetrics mean_all;                          // over every qrels query, missing ones as 0 (trec_eval -c)
    size_t run_only = 0;                            // run queries without judgments (ignored)
    size_t qrels_only = 0;                          // judged queries missing from the run
};

// Sorts each query's documents with sort_trec (a copy) and averages. Throws FormatError when the run
// and the qrels share no query (a qrels/run mismatch: wrong file or wrong id format).
Evaluation evaluate_run(const Run& run, const Qrels& qrels, const std::string& run_name = "run",
                        const std::string& qrels_name = "qrels");

// A running mean, for programs that evaluate one query at a time (./rerank --qrels).
struct MetricsSum {
    QueryMetrics sum;
    size_t n = 0;
    void add(const QueryMetrics& m);
    QueryMetrics mean() const;
};

// Scores that make sort_trec keep `docids` in the given order (n, n-1, ..., 1): how "the input order"
// of a candidate list is evaluated.
std::vector<ScoredDoc> ranked_by_position(const std::vector<std::string>& docids);

// "MRR@10 0.1234  MRR@100 ...  nDCG@10 ...  R@100 ...  (n queries)"
std::string format_metrics(const QueryMetrics& m, size_t n_queries);
