// BM25 analyzer, index and retrieval; the formulas are in bm25.h.
#include "ir/bm25.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/common.h"
#include "text/normalize.h"

static bool ends_with(std::string_view s, std::string_view suf) {
    return s.size() >= suf.size() && s.substr(s.size() - suf.size()) == suf;
}

// Harman (1991) S-stemmer, on tokens of 4 or more bytes.
std::string bm25_stem(std::string_view w) {
    if (w.size() < 4) return std::string(w);
    if (ends_with(w, "ies") && !ends_with(w, "eies") && !ends_with(w, "aies"))
        return std::string(w.substr(0, w.size() - 3)) + "y";
    if (ends_with(w, "es") && !ends_with(w, "aes") && !ends_with(w, "ees") && !ends_with(w, "oes"))
        return std::string(w.substr(0, w.size() - 1));
    if (ends_with(w, "s") && !ends_with(w, "us") && !ends_with(w, "ss")) return std::string(w.substr(0, w.size() - 1));
    return std::string(w);
}

std::vector<std::string> bm25_tokens(std::string_view text, bool drop_stopwords) {
    std::string f = fold_text(text);
    std::vector<std::string> out;
    for (std::string_view t : split_words(f))
        if (!(drop_stopwords && is_stopword(t))) out.push_back(bm25_stem(t));
    return out;
}

Bm25Index bm25_build(const std::vector<TextRecord>& docs, Bm25Params params) {
    Bm25Index ix;
    ix.params = params;
    size_t N = docs.size();
    std::vector<std::vector<std::string>> toks(N);
#pragma omp parallel for schedule(dynamic, 256)
    for (size_t i = 0; i < N; i++) toks[i] = bm25_tokens(docs[i].text);
    ix.docids.resize(N);
    ix.doc_len.resize(N);
    double total = 0;
    for (size_t i = 0; i < N; i++) {  // sequential: term ids in first-seen order, postings ascending
        ix.docids[i] = docs[i].id;
        ix.doc_len[i] = (uint32_t)toks[i].size();
        total += (double)toks[i].size();
        std::unordered_map<uint32_t, uint32_t> tf;
        for (const auto& t : toks[i]) {
            auto [it, fresh] = ix.term_id.emplace(t, (uint32_t)ix.post_doc.size());
            if (fresh) {
                ix.post_doc.emplace_back();
                ix.post_tf.emplace_back();
            }
            tf[it->second]++;
        }
        std::vector<std::pair<uint32_t, uint32_t>> v(tf.begin(), tf.end());
        std::sort(v.begin(), v.end());
        for (auto [term, n] : v) {
            ix.post_doc[term].push_back((uint32_t)i);
            ix.post_tf[term].push_back((uint16_t)std::min<uint32_t>(n, 65535));
        }
    }
    ix.avgdl = N ? total / double(N) : 0;
    std::vector<uint32_t> by_id(N);
    for (size_t i = 0; i < N; i++) by_id[i] = (uint32_t)i;
    std::sort(by_id.begin(), by_id.end(), [&](uint32_t a, uint32_t b) { return ix.docids[a] < ix.docids[b]; });
    ix.docid_rank.resize(N);
    for (size_t r = 0; r < N; r++) ix.docid_rank[by_id[r]] = (uint32_t)r;
    return ix;
}

std::vector<std::vector<ScoredDoc>> bm25_search(const Bm25Index& ix, const std::vector<TextRecord>& queries,
                                                size_t depth) {
    size_t N = ix.docids.size();
    std::vector<std::vector<ScoredDoc>> out(queries.size());
    const float k1 = ix.params.k1, b = ix.params.b;
    // The length normaliser of every document, once.
    std::vector<float> norm(N);
    for (size_t d = 0; d < N; d++) norm[d] = k1 * (1.0f - b + b * float(ix.doc_len[d] / ix.avgdl));
#pragma omp parallel
    {
        std::vector<float> acc(N, 0.0f);
        std::vector<uint32_t> touched;
#pragma omp for schedule(dynamic, 16)
        for (size_t qi = 0; qi < queries.size(); qi++) {
            // Query terms with multiplicity, in term-id order: the fixed summation order.
            std::map<uint32_t, int> qtf;
            for (const auto& t : bm25_tokens(queries[qi].text)) {
                auto it = ix.term_id.find(t);
                if (it != ix.term_id.end()) qtf[it->second]++;
            }
            touched.clear();
            for (auto [term, mult] : qtf) {
                const auto& pd = ix.post_doc[term];
                const auto& pt = ix.post_tf[term];
                double df = (double)pd.size();
                float idf = (float)std::log(1.0 + (double(N) - df + 0.5) / (df + 0.5));
                float w = idf * float(mult) * (k1 + 1.0f);
                for (size_t k = 0; k < pd.size(); k++) {
                    uint32_t d = pd[k];
                    float tf = (float)pt[k];
                    if (acc[d] == 0.0f) touched.push_back(d);
                    acc[d] += w * tf / (tf + norm[d]);
                }
            }
            // Top `depth` by (score desc, docid desc), comparing doc indices through docid order so that no
            // string is touched until the k winners are known.
            std::vector<std::pair<float, uint32_t>> cand;
            cand.reserve(touched.size());
            for (uint32_t d : touched) {
                cand.push_back({acc[d], d});
                acc[d] = 0.0f;
            }
            auto better = [&](const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& c) {
                if (a.first != c.first) return a.first > c.first;
                return ix.docid_rank[a.second] > ix.docid_rank[c.second];
            };
            size_t k = std::min(depth, cand.size());
            if (k < cand.size()) std::nth_element(cand.begin(), cand.begin() + k, cand.end(), better);
            cand.resize(k);
            std::sort(cand.begin(), cand.end(), better);
            std::vector<ScoredDoc> res(k);
            for (size_t j = 0; j < k; j++) res[j] = {ix.docids[cand[j].second], (double)cand[j].first};
            out[qi] = std::move(res);
        }
    }
    return out;
}
