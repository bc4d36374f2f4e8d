// BM25 analyzer, index and retrieval; the formulas are in bm25.h.
#include "ir/bm25.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <unordered_set>

#include "core/common.h"

// A general English stopword list (NLTK's, without the contraction fragments it lists separately), plus
// the single letters left by apostrophes ("adam's" -> "adam", "s").
static const std::unordered_set<std::string_view>& stopwords() {
    static const std::unordered_set<std::string_view> s = {
        "a",         "about",      "above",   "after",   "again",  "against", "all",     "am",       "an",
        "and",       "any",        "are",     "as",      "at",     "be",      "because", "been",     "before",
        "being",     "below",      "between", "both",    "but",    "by",      "can",     "could",    "d",
        "did",       "do",         "does",    "doing",   "down",   "during",  "each",    "few",      "for",
        "from",      "further",    "had",     "has",     "have",   "having",  "he",      "her",      "here",
        "hers",      "herself",    "him",     "himself", "his",    "how",     "i",       "if",       "in",
        "into",      "is",         "it",      "its",     "itself", "just",    "ll",      "m",        "me",
        "more",      "most",       "my",      "myself",  "no",     "nor",     "not",     "now",      "o",
        "of",        "off",        "on",      "once",    "only",   "or",      "other",   "our",      "ours",
        "ourselves", "out",        "over",    "own",     "re",     "s",       "same",    "she",      "should",
        "so",        "some",       "such",    "t",       "than",   "that",    "the",     "their",    "theirs",
        "them",      "themselves", "then",    "there",   "these",  "they",    "this",    "those",    "through",
        "to",        "too",        "under",   "until",   "up",     "ve",      "very",    "was",      "we",
        "were",      "what",       "when",    "where",   "which",  "while",   "who",     "whom",     "why",
        "will",      "with",       "would",   "y",       "you",    "your",    "yours",   "yourself", "yourselves"};
    return s;
}

bool bm25_is_stopword(std::string_view t) { return stopwords().count(t) > 0; }

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

std::string bm25_fold(std::string_view text) {
    bool ascii = true;
    for (unsigned char c : text)
        if (c >= 0x80) {
            ascii = false;
            break;
        }
    if (ascii) {
        std::string s(text);
        for (auto& c : s)
            if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        return s;
    }
    utf8proc_uint8_t* out = nullptr;
    auto opts = utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK |
                                  UTF8PROC_CASEFOLD);
    utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), (utf8proc_ssize_t)text.size(), &out, opts);
    if (n < 0) {  // invalid UTF-8 (readers repair it, so only from a direct caller): fold the ASCII part
        std::string s;
        for (unsigned char c : text) s += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : char(c);
        return s;
    }
    std::string s(reinterpret_cast<char*>(out), (size_t)n);
    std::free(out);
    // Letters with no decomposition that Lucene's ASCIIFoldingFilter also folds (ß is case-folded to ss).
    static const std::pair<std::string_view, std::string_view> letters[] = {
        {"\u00E6", "ae"}, {"\u0153", "oe"}, {"\u00F8", "o"}, {"\u00F0", "d"}, {"\u00FE", "th"},
        {"\u0142", "l"},  {"\u0111", "d"},  {"\u014B", "n"}, {"\u0131", "i"}, {"\u021D", "gh"}};
    std::string r;
    r.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        bool hit = false;
        if ((unsigned char)s[i] >= 0x80)
            for (auto [from, to] : letters)
                if (s.compare(i, from.size(), from) == 0) {
                    r += to;
                    i += from.size();
                    hit = true;
                    break;
                }
        if (!hit) r += s[i++];
    }
    return r;
}

std::vector<std::string> bm25_tokens(std::string_view text, bool drop_stopwords) {
    std::string f = bm25_fold(text);
    std::vector<std::string> out;
    size_t i = 0;
    auto is_word = [](unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80; };
    while (i < f.size()) {
        while (i < f.size() && !is_word(f[i])) i++;
        size_t j = i;
        while (j < f.size() && is_word(f[j])) j++;
        if (j > i) {
            std::string_view t(f.data() + i, j - i);
            if (!(drop_stopwords && bm25_is_stopword(t))) out.push_back(bm25_stem(t));
        }
        i = j;
    }
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
