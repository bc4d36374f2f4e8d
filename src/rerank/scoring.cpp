#include "rerank/scoring.h"

#include <algorithm>

void score_query(const ScoreFn& forward, const InputFormat& f, const EncodedText& query,
                 const std::vector<const EncodedText*>& docs, int batch, std::vector<float>& scores, Batch& b) {
    scores.resize(docs.size());
    for (size_t i0 = 0; i0 < docs.size(); i0 += batch) {
        size_t i1 = std::min(docs.size(), i0 + (size_t)batch);
        b.tokens.clear(), b.match.clear(), b.offsets.clear();
        for (size_t i = i0; i < i1; i++) append_pair(b, f, *docs[i], query);
        forward(b, scores.data() + i0);
    }
}

template <class T>
static std::vector<double> minmax(const std::vector<T>& x) {
    std::vector<double> out(x.size(), 0.0);
    if (x.empty()) return out;
    auto [lo, hi] = std::minmax_element(x.begin(), x.end());
    double range = (double)*hi - (double)*lo;
    if (range > 0)
        for (size_t i = 0; i < x.size(); i++) out[i] = ((double)x[i] - (double)*lo) / range;
    return out;
}

std::vector<double> fuse_scores(const std::vector<float>& rerank, const std::vector<double>& first, double w) {
    std::vector<double> a = minmax(rerank), b = minmax(first), out(a.size());
    for (size_t i = 0; i < a.size(); i++) out[i] = (1 - w) * a[i] + w * b[i];
    return out;
}
