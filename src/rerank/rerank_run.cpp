#include "rerank/rerank_run.h"

#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <unordered_map>

#include "backend/backend.h"
#include "core/common.h"
#include "ir/formats.h"
#include "ir/metrics.h"
#include "models/registry.h"
#include "rerank/scoring.h"

// The first stage's scores of one query's candidates, read from the run in step with the candidates.
static std::vector<double> first_stage_scores(RunReader& run, const CandidateGroup& g, const std::string& cpath) {
    std::string fq;
    std::vector<ScoredDoc> docs;
    if (!run.next(fq, docs) || fq != g.qid)
        run.in.fail("expected query " + g.qid + " (line " + std::to_string(g.first_line) + " of " + cpath + ") next, found " +
                    (fq.empty() ? std::string("the end of the run") : fq) +
                    ": the run must list the candidates' queries in the same order");
    std::unordered_map<std::string, double> fs;
    for (const ScoredDoc& sd : docs) fs[sd.docid] = sd.score;
    std::vector<double> f(g.docs.size());
    for (size_t i = 0; i < g.docs.size(); i++) {
        auto it = fs.find(g.docs[i].docid);
        if (it == fs.end()) run.in.fail("query " + g.qid + ": document " + g.docs[i].docid + " of the candidates is not in the run");
        f[i] = it->second;
    }
    return f;
}

// Metrics of the input order and the reranked order, for queries in both the run and the qrels.
struct Tally {
    Qrels qrels;
    MetricsSum in_order, reranked;
    void add(const CandidateGroup& g, std::vector<ScoredDoc> ranked) {
        auto j = qrels.find(g.qid);
        if (j == qrels.end()) return;
        std::vector<std::string> ids;
        for (const Candidate& cd : g.docs) ids.push_back(cd.docid);
        in_order.add(evaluate_query(ranked_by_position(ids), j->second));
        sort_trec(ranked);
        reranked.add(evaluate_query(ranked, j->second));
    }
};

// The model of the weights file, its input format, and the fusion weight to use.
struct Loaded {
    Model m;
    Tokenizer tok;
    InputFormat fmt;
    int max_len;
    double fuse;
};

static Loaded load(const RerankOptions& o, const WeightsFile& wf) {
    ModelExtras x = load_extras(wf);
    if (x.tokenizer_json.empty()) wf.fail("no tokenizer.json inside (convert with tools/convert_hf.py --tokenizer)");
    if (x.input_template.empty()) wf.fail("no input template inside");
    Model m = model_from_file(wf, false);
    Tokenizer tok = tokenizer_parse(x.tokenizer_json, o.weights + ":tokenizer.json");
    if (vocab_size(tok) > m.vocab()) wf.fail(strfmt("the tokenizer has %d ids, the model only %d", vocab_size(tok), m.vocab()));
    const int max_len = o.max_len > 0 ? o.max_len : x.max_len > 0 ? (int)x.max_len : 512;
    double fuse = o.fuse;
    if (!o.first_stage.empty() && fuse < 0) {
        if (x.fuse_weight < 0) wf.fail("no fusion weight stored; pass --fuse W");
        fuse = x.fuse_weight;
    }
    InputFormat fmt = input_format(tok, x.input_template, max_len, m.match());
    return {std::move(m), std::move(tok), std::move(fmt), max_len, fuse};
}

void rerank_run(const RerankOptions& o) {
    if (o.threads > 0) omp_set_num_threads(o.threads);
    const double t0 = now_seconds();
    try {
        WeightsFile wf = weights_load(o.weights);
        Loaded l = load(o, wf);
        const BackendChoice be = choose_backend(o.device, o.precision, *l.m.family, "rerank");
        Runner run(l.m, be, o.batch * l.max_len, o.batch, l.max_len);
        const ScoreFn forward = [&](const Batch& bt, float* s) { run.scores(bt, s); };

        Tally tally;
        if (!o.qrels.empty()) tally.qrels = read_qrels(o.qrels);
        CandidateReader cands(o.candidates);
        std::unique_ptr<RunReader> first = o.first_stage.empty() ? nullptr : std::make_unique<RunReader>(o.first_stage);
        AtomicFile out(o.out);
        CandidateGroup g;
        std::vector<EncodedText> enc;
        std::vector<const EncodedText*> ptrs;
        std::vector<float> scores;
        Batch b;
        size_t n_queries = 0, n_pairs = 0;
        double last_report = now_seconds();
        const bool tty = isatty(fileno(stderr));
        while (cands.next(g)) {
            EncodedText q = encode_text(l.tok, g.query, l.max_len);
            enc.resize(g.docs.size());
            ptrs.resize(g.docs.size());
#pragma omp parallel for schedule(dynamic, 4)
            for (size_t i = 0; i < g.docs.size(); i++) enc[i] = encode_text(l.tok, g.docs[i].document, l.max_len);
            for (size_t i = 0; i < g.docs.size(); i++) ptrs[i] = &enc[i];
            score_query(forward, l.fmt, q, ptrs, o.batch, scores, b);
            std::vector<ScoredDoc> ranked(g.docs.size());
            for (size_t i = 0; i < g.docs.size(); i++) ranked[i] = {g.docs[i].docid, (double)scores[i]};
            if (first) {
                std::vector<double> fused = fuse_scores(scores, first_stage_scores(*first, g, o.candidates), l.fuse);
                for (size_t i = 0; i < g.docs.size(); i++) ranked[i].score = fused[i];
            }
            std::string lines = format_run_lines(g.qid, ranked, o.tag);
            out.write(lines.data(), lines.size());
            if (!o.qrels.empty()) tally.add(g, ranked);
            n_queries++, n_pairs += g.docs.size();
            if (now_seconds() - last_report > (tty ? 0.5 : 10.0)) {
                std::fprintf(stderr, tty ? "\r%zu queries, %zu pairs, %.0f pairs/s" : "%zu queries, %zu pairs, %.0f pairs/s\n",
                             n_queries, n_pairs, n_pairs / (now_seconds() - t0));
                last_report = now_seconds();
            }
        }
        if (first) {
            std::string fq;
            std::vector<ScoredDoc> rest;
            if (first->next(fq, rest)) first->in.fail("query " + fq + " is in the run but not in the candidates");
        }
        out.commit();
        if (tty) std::fputc('\n', stderr);
        std::string warn = read_warnings(o.candidates, cands.stats);
        if (!warn.empty()) std::fputs(warn.c_str(), stderr);
        if (!o.qrels.empty()) {
            std::printf("input order:    %s\n", format_metrics(tally.in_order.mean(), tally.in_order.n).c_str());
            std::printf("%-15s %s\n", first ? "reranked+fused:" : "reranked:",
                        format_metrics(tally.reranked.mean(), tally.reranked.n).c_str());
        }
        const double el = now_seconds() - t0;
        std::fprintf(stderr, "reranked %zu queries, %zu pairs in %.1f s (%.0f pairs/s, %s)%s -> %s\n", n_queries, n_pairs,
                     el, n_pairs / std::max(el, 1e-9),
                     be.cuda ? be.describe().c_str() : strfmt("%s, %d threads", be.describe().c_str(), omp_get_max_threads()).c_str(),
                     first ? strfmt(", fused with %s at weight %.2f", o.first_stage.c_str(), l.fuse).c_str() : "",
                     o.out.c_str());
    } catch (const std::exception& e) {
        fatal("%s", e.what());
    }
}
