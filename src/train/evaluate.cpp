#include "train/evaluate.h"

#include <algorithm>
#include <cstdio>

#include "core/rng.h"
#include "ir/formats.h"

std::vector<std::vector<float>> score_split(const ScoreFn& forward, const InputFormat& f, const TrainData& d,
                                            const std::vector<Query>& qs, int depth, int batch, Batch& b) {
    std::vector<std::vector<float>> out;
    for (const Query& q : qs) {
        std::vector<const EncodedText*> docs;
        for (int i = 0; i < std::min(depth, (int)q.bm25.size()); i++) docs.push_back(&d.docs[q.bm25[i]]);
        out.emplace_back();
        score_query(forward, f, q.enc, docs, batch, out.back(), b);
    }
    return out;
}

Orders evaluate(const TrainData& d, const std::vector<Query>& qs, const std::vector<std::vector<float>>& scores, double w) {
    MetricsSum random, bm25, rerank, fused;
    Rng rng(12345);
    for (size_t k = 0; k < qs.size(); k++) {
        const Query& q = qs[k];
        const std::vector<float>& s = scores[k];
        const size_t n = s.size();
        Judgments j;
        for (int r : q.relevant) j[d.docids[r]] = 1;
        auto metrics = [&](const std::vector<double>& x) {
            std::vector<ScoredDoc> ranked;
            for (size_t i = 0; i < n; i++) ranked.push_back({d.docids[q.bm25[i]], x[i]});
            sort_trec(ranked);
            return evaluate_query(ranked, j);
        };
        std::vector<double> rnd(n), bm(q.bm25_score.begin(), q.bm25_score.begin() + n), sd(s.begin(), s.end());
        for (size_t i = 0; i < n; i++) rnd[i] = rng.uniform();
        random.add(metrics(rnd));
        bm25.add(metrics(bm));
        rerank.add(metrics(sd));
        fused.add(metrics(fuse_scores(s, bm, w)));
    }
    return {random.mean(), bm25.mean(), rerank.mean(), fused.mean()};
}

double tune_fusion(const TrainData& d, const std::vector<Query>& qs, const std::vector<std::vector<float>>& scores) {
    double best_w = 0, best = -1;
    for (int k = 0; k <= 20; k++) {
        double mrr = evaluate(d, qs, scores, k / 20.0).fused.mrr10;
        if (mrr > best + 1e-12) best = mrr, best_w = k / 20.0;
    }
    return best_w;
}

void print_results_table(const Orders& dev, const Orders& test) {
    std::printf("| order                         | dev MRR@10 | dev nDCG@10 | test MRR@10 | test nDCG@10 |\n");
    std::printf("| ----------------------------- | ---------- | ----------- | ----------- | ------------ |\n");
    auto row = [&](const char* name, const QueryMetrics& x, const QueryMetrics& y) {
        std::printf("| %-29s | %10.4f | %11.4f | %11.4f | %12.4f |\n", name, x.mrr10, x.ndcg10, y.mrr10, y.ndcg10);
    };
    row("candidates in random order", dev.random, test.random);
    row("BM25", dev.bm25, test.bm25);
    row("reranker alone", dev.rerank, test.rerank);
    row("reranker fused with BM25", dev.fused, test.fused);
}
