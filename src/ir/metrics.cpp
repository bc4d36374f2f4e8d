// trec_eval-exact metrics; definitions in metrics.h.
#include "ir/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/common.h"

QueryMetrics evaluate_query(const std::vector<ScoredDoc>& ranked, const Judgments& judgments) {
    QueryMetrics m;
    m.num_ret = (int)ranked.size();
    std::vector<int> gains;
    for (const auto& [doc, rel] : judgments)
        if (rel > 0) gains.push_back(rel);
    m.num_rel = (int)gains.size();
    if (!m.num_rel) return m;  // all zero, as trec_eval reports a query without relevant documents

    int rel_ret100 = 0;
    double dcg = 0;
    for (size_t i = 0; i < ranked.size() && i < 100; i++) {
        auto it = judgments.find(ranked[i].docid);
        int rel = it == judgments.end() ? 0 : it->second;
        if (rel <= 0) continue;
        if (m.mrr100 == 0) {
            m.mrr100 = 1.0 / double(i + 1);
            if (i < 10) m.mrr10 = m.mrr100;
        }
        if (i < 10) dcg += rel / std::log2(double(i + 2));
        rel_ret100++;
    }
    m.recall100 = double(rel_ret100) / double(m.num_rel);

    std::sort(gains.begin(), gains.end(), std::greater<int>());
    double idcg = 0;
    for (size_t i = 0; i < gains.size() && i < 10; i++) idcg += gains[i] / std::log2(double(i + 2));
    m.ndcg10 = dcg / idcg;
    return m;
}

static void add(QueryMetrics& s, const QueryMetrics& m) {
    s.mrr10 += m.mrr10;
    s.mrr100 += m.mrr100;
    s.ndcg10 += m.ndcg10;
    s.recall100 += m.recall100;
    s.num_rel += m.num_rel;
    s.num_ret += m.num_ret;
}

static QueryMetrics divide(QueryMetrics s, size_t n) {
    if (!n) return s;
    s.mrr10 /= double(n);
    s.mrr100 /= double(n);
    s.ndcg10 /= double(n);
    s.recall100 /= double(n);
    return s;
}

Evaluation evaluate_run(const Run& run, const Qrels& qrels, const std::string& run_name,
                        const std::string& qrels_name) {
    Evaluation ev;
    // Summation in qid order (std::map) so that the means are the same bits on every run.
    for (const auto& [qid, docs] : run) {
        auto q = qrels.find(qid);
        if (q == qrels.end()) {
            ev.run_only++;
            continue;
        }
        std::vector<ScoredDoc> ranked = docs;
        sort_trec(ranked);
        ev.per_query[qid] = evaluate_query(ranked, q->second);
    }
    for (const auto& [qid, j] : qrels)
        if (!run.count(qid)) ev.qrels_only++;
    if (ev.per_query.empty() && !run.empty())
        throw FormatError(strfmt("%s and %s share no query id (%zu run queries, %zu judged): wrong file or id format?",
                                 run_name.c_str(), qrels_name.c_str(), run.size(), qrels.size()));
    QueryMetrics sum;
    for (const auto& [qid, m] : ev.per_query) add(sum, m);
    ev.mean = divide(sum, ev.per_query.size());
    ev.mean_all = divide(sum, ev.per_query.size() + ev.qrels_only);
    ev.mean_all.num_rel = ev.mean.num_rel = sum.num_rel;
    ev.mean_all.num_ret = ev.mean.num_ret = sum.num_ret;
    return ev;
}

void MetricsSum::add(const QueryMetrics& m) {
    ::add(sum, m);
    n++;
}

QueryMetrics MetricsSum::mean() const {
    QueryMetrics m = divide(sum, n);
    m.num_rel = sum.num_rel;
    m.num_ret = sum.num_ret;
    return m;
}

std::vector<ScoredDoc> ranked_by_position(const std::vector<std::string>& docids) {
    std::vector<ScoredDoc> r(docids.size());
    for (size_t i = 0; i < docids.size(); i++) r[i] = {docids[i], double(docids.size() - i)};
    return r;
}

std::string format_metrics(const QueryMetrics& m, size_t n) {
    return strfmt("MRR@10 %.4f  MRR@100 %.4f  nDCG@10 %.4f  R@100 %.4f  (%zu queries)", m.mrr10, m.mrr100, m.ndcg10,
                  m.recall100, n);
}
