#include "train/data.h"

#include <algorithm>

#include "core/common.h"
#include "ir/formats.h"

// The judged queries of a split (at most `limit`, spread evenly), with their relevant documents and
// their BM25 ranking.
static std::vector<Query> load_split(const std::string& dir, const std::string& split, const TrainData& d,
                                     const Tokenizer& tok, int max_len, size_t limit) {
    std::vector<TextRecord> qs = read_queries(dir + "/queries." + split + ".tsv");
    Qrels qrels = read_qrels(dir + "/qrels." + split + ".txt");
    Run run = read_run(dir + "/bm25." + split + ".trec");
    std::vector<const TextRecord*> judged;
    for (const TextRecord& r : qs)
        if (qrels.count(r.id)) judged.push_back(&r);
    std::vector<Query> out;
    for (const TextRecord* r : spread(judged, limit)) {
        Query q;
        q.qid = r->id;
        for (auto& [docid, rel] : qrels.find(r->id)->second) {
            auto it = d.doc_index.find(docid);
            if (rel > 0 && it != d.doc_index.end()) q.relevant.push_back(it->second);
        }
        std::sort(q.relevant.begin(), q.relevant.end());
        auto rr = run.find(r->id);
        if (rr != run.end()) {
            std::vector<ScoredDoc> ranked = rr->second;
            sort_trec(ranked);
            for (const ScoredDoc& sd : ranked) {
                auto it = d.doc_index.find(sd.docid);
                if (it == d.doc_index.end())
                    fatal("%s/bm25.%s.trec: docid %s is not in the collection", dir.c_str(), split.c_str(), sd.docid.c_str());
                q.bm25.push_back(it->second);
                q.bm25_score.push_back(sd.score);
            }
        }
        q.enc = encode_text(tok, r->text, max_len);
        out.push_back(std::move(q));
    }
    return out;
}

// Training queries from a group file "qid pos neg1 ... negk" (formats.h GroupReader): the group's
// positive is a relevant document and its negatives stand in for the BM25 candidates. Several lines
// of one qid are merged.
static std::vector<Query> load_groups(const std::string& dir, const std::string& path, const TrainData& d,
                                      const Tokenizer& tok, int max_len) {
    std::unordered_map<std::string, std::string> text;
    for (TextRecord& r : read_queries(dir + "/queries.train.tsv")) text[r.id] = std::move(r.text);
    std::unordered_map<std::string, size_t> at;
    std::vector<Query> out;
    GroupReader groups(path);
    TrainGroup g;
    auto doc = [&](const std::string& id) {
        auto it = d.doc_index.find(id);
        if (it == d.doc_index.end()) groups.in.fail("document " + id + " is not in " + dir + "/collection.tsv");
        return it->second;
    };
    while (groups.next(g)) {
        auto t = text.find(g.qid);
        if (t == text.end()) groups.in.fail("query " + g.qid + " is not in " + dir + "/queries.train.tsv");
        auto [it, fresh] = at.emplace(g.qid, out.size());
        if (fresh) {
            out.emplace_back();
            out.back().qid = g.qid;
            out.back().enc = encode_text(tok, t->second, max_len);
        }
        Query& q = out[it->second];
        int p = doc(g.pos);
        if (!std::count(q.relevant.begin(), q.relevant.end(), p)) q.relevant.push_back(p);
        for (const std::string& n : g.negs) {
            int k = doc(n);
            if (!std::count(q.bm25.begin(), q.bm25.end(), k)) q.bm25.push_back(k), q.bm25_score.push_back(0);
        }
    }
    for (Query& q : out) std::sort(q.relevant.begin(), q.relevant.end());
    return out;
}

TrainData load_train_data(const DataOptions& o, const Tokenizer& tok) {
    TrainData d;
    std::vector<TextRecord> coll = read_collection(o.dir + "/collection.tsv");
    d.docids.resize(coll.size());
    d.docs.resize(coll.size());
    for (size_t i = 0; i < coll.size(); i++) d.docids[i] = coll[i].id, d.doc_index[coll[i].id] = (int)i;
#pragma omp parallel for schedule(dynamic, 256)
    for (size_t i = 0; i < coll.size(); i++) d.docs[i] = encode_text(tok, coll[i].text, o.max_len);
    d.train = o.train_groups.empty() ? load_split(o.dir, "train", d, tok, o.max_len, SIZE_MAX)
                                     : load_groups(o.dir, o.train_groups, d, tok, o.max_len);
    d.dev_final = load_split(o.dir, "dev", d, tok, o.max_len, o.final_queries);
    d.test = load_split(o.dir, "test", d, tok, o.max_len, o.final_queries);
    d.dev = spread(d.dev_final, o.eval_queries);
    return d;
}

GroupSampler::GroupSampler(const TrainData& d, int G_, uint64_t seed_, const std::string& where) : G(G_), seed(seed_) {
    negatives.resize(d.train.size());
    for (size_t i = 0; i < d.train.size(); i++) {
        const Query& q = d.train[i];
        for (int doc : q.bm25)
            if (!std::binary_search(q.relevant.begin(), q.relevant.end(), doc)) negatives[i].push_back(doc);
        if (!q.relevant.empty() && (int)negatives[i].size() >= G - 1) usable.push_back((int)i);
    }
    if (usable.empty()) fatal("%s: no training query has a relevant document and %d BM25 negatives", where.c_str(), G - 1);
}

void GroupSampler::next_batch(Batch& b, const TrainData& d, const InputFormat& fmt, int queries, TrainState& st) {
    b.tokens.clear(), b.match.clear(), b.offsets.clear();
    for (int g = 0; g < queries; g++) {
        const int64_t pass = st.data_pos / (int64_t)usable.size();
        if (pass != order_pass_) {  // one shuffle per pass, from the seed and the pass alone
            order_ = usable;
            Rng shuffle(seed * 1000003ull + (uint64_t)pass);
            for (size_t i = order_.size() - 1; i > 0; i--) std::swap(order_[i], order_[shuffle.below(i + 1)]);
            order_pass_ = pass;
        }
        const int qi = order_[st.data_pos % (int64_t)usable.size()];
        st.data_pos++;
        const Query& q = d.train[qi];
        append_pair(b, fmt, d.docs[q.relevant[st.rng.below(q.relevant.size())]], q.enc);
        draw_ = negatives[qi];  // partial Fisher-Yates on a copy: G-1 distinct negatives
        for (int k = 0; k < G - 1; k++) {
            std::swap(draw_[k], draw_[k + st.rng.below(draw_.size() - k)]);
            append_pair(b, fmt, d.docs[draw_[k]], q.enc);
        }
    }
}
