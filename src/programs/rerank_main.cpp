// ./rerank weights.bin candidates.tsv run.trec [flags]: scores every (query, document) pair of a
// candidates file (qid \t docid \t query \t document, the MS MARCO top1000 layout: one query's rows
// contiguous) with a reranker and writes a TREC run (qid Q0 docid rank score tag), sorted by score within
// each query with trec_eval's tie order (docid descending). The weights file is self-contained: it
// carries the tokenizer, the input template and the training length.
//
// Streams: one query's candidates are in memory at a time, so memory does not grow with the number of
// queries. The run is written to a temporary file and renamed only when complete.
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>

#include "core/common.h"
#include "backend/backend.h"
#include "ir/formats.h"
#include "text/input.h"
#include "ir/metrics.h"
#include "models/mamba/mamba_io.h"
#include "rerank/scoring.h"
#include "text/tokenizer.h"
#include "train/trainer.h"

static const char* USAGE = R"(usage: ./rerank WEIGHTS CANDIDATES OUT_RUN [flags]
  CANDIDATES            qid \t docid \t query \t document (MS MARCO top1000 layout)
  --first-stage RUN     the first stage's TREC run over the same pairs: fuse its scores with the
                        reranker's after per-query min-max normalisation, with the weight tuned on
                        dev at training time (stored in WEIGHTS)
  --fuse W              the fusion weight in [0, 1] (overrides the stored one; needs --first-stage)
  --qrels FILE          also print MRR@10, MRR@100, nDCG@10 and R@100 of the input order and of the
                        reranked order
  --batch N (64)        sequences per forward pass
  --max-len N           tokens per sequence (default: the training length stored in WEIGHTS, else 512)
  --tag NAME (rerank)   the run's tag column
  --device cpu|cuda|auto (auto: cuda when this build has it and a GPU is present)
  --precision auto|bf16|fp32 (auto: bf16 on a GPU, and on a CPU with AMX)   --threads N (all cores)
)";

static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char** argv) {
    std::vector<std::string> pos;
    std::string first_stage, qrels_path, tag = "rerank", device = "auto", precision = "auto";
    double fuse_w = -1;
    int batch = 64, max_len = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            std::fputs(USAGE, stdout);
            return 0;
        }
        if (k.rfind("--", 0) != 0) {
            pos.push_back(k);
            continue;
        }
        if (i + 1 >= argc) fatal("%s needs a value (./rerank --help)", k.c_str());
        std::string v = argv[++i];
        auto integer = [&](long lo, long hi) {
            char* end = nullptr;
            long x = std::strtol(v.c_str(), &end, 10);
            if (end == v.c_str() || *end || x < lo || x > hi) fatal("%s %s: expected an integer in [%ld, %ld]", k.c_str(), v.c_str(), lo, hi);
            return (int)x;
        };
        if (k == "--first-stage") first_stage = v;
        else if (k == "--qrels") qrels_path = v;
        else if (k == "--tag") tag = v;
        else if (k == "--device") device = v;
        else if (k == "--precision") precision = v;
        else if (k == "--batch") batch = integer(1, 1 << 16);
        else if (k == "--max-len") max_len = integer(8, 1 << 20);
        else if (k == "--threads") threads = integer(1, 4096);
        else if (k == "--fuse") {
            char* end = nullptr;
            fuse_w = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end || !(fuse_w >= 0 && fuse_w <= 1)) fatal("--fuse %s: expected a number in [0, 1]", v.c_str());
        } else fatal("unknown flag %s (./rerank --help)", k.c_str());
    }
    if (pos.size() != 3) fatal("expected WEIGHTS CANDIDATES OUT_RUN (./rerank --help)");
    if (fuse_w >= 0 && first_stage.empty()) fatal("--fuse needs --first-stage RUN");
    if (tag.empty() || tag.find_first_of(" \t\n") != std::string::npos) fatal("--tag must be one word");
    const BackendChoice be = choose_backend(device, precision, "rerank");
    const bool cuda = be.cuda;
    if (threads > 0) omp_set_num_threads(threads);
    enable_flush_to_zero();
    const std::string &wpath = pos[0], &cpath = pos[1], &opath = pos[2];
    const double t0 = now();
    try {
        WeightsFile wf = weights_load(wpath);
        MambaConfig c = mamba_config_from(wf);
        ModelExtras x = load_extras(wf);
        if (x.tokenizer_json.empty()) wf.fail("no tokenizer.json inside (convert with tools/convert_hf.py --tokenizer)");
        if (x.input_template.empty()) wf.fail("no input template inside");
        Tokenizer tok = tokenizer_parse(x.tokenizer_json, wpath + ":tokenizer.json");
        if (vocab_size(tok) > c.V) wf.fail(strfmt("the tokenizer has %d ids, the model only %d", vocab_size(tok), c.V));
        if (max_len == 0) max_len = x.max_len > 0 ? (int)x.max_len : 512;
        if (!first_stage.empty() && fuse_w < 0) {
            if (x.fuse_weight < 0) wf.fail("no fusion weight stored; pass --fuse W");
            fuse_w = x.fuse_weight;
        }
        InputFormat fmt = input_format(tok, x.input_template, max_len, c.match);
        Mamba<float> m;
        mamba_setup(m, c, false);
        mamba_load_params(m, wf);
        CudaModel* gm = nullptr;  // on cuda, the model on the GPU (m keeps the host copy)
        if (cuda) gm = cuda_model_create(m, be.bf16, batch * max_len, batch, max_len);
        else mamba_setup_acts(m, batch * max_len, batch, max_len);
        const ScoreFn forward = [&](const Batch& bt, float* out) { backend_scores(m, gm, bt, out); };

        Qrels qrels;
        if (!qrels_path.empty()) qrels = read_qrels(qrels_path);
        CandidateReader cands(cpath);
        RunReader* first = first_stage.empty() ? nullptr : new RunReader(first_stage);
        AtomicFile out(opath);
        MetricsSum in_order, reranked;
        CandidateGroup g;
        std::vector<std::string> first_qids;
        std::vector<ScoredDoc> first_docs;
        std::vector<EncodedText> enc;
        std::vector<const EncodedText*> ptrs;
        std::vector<float> scores;
        Batch b;
        size_t n_queries = 0, n_pairs = 0;
        double last_report = now();
        const bool tty = isatty(fileno(stderr));
        while (cands.next(g)) {
            EncodedText q = encode_text(tok, g.query, max_len);
            enc.resize(g.docs.size());
            ptrs.resize(g.docs.size());
#pragma omp parallel for schedule(dynamic, 4)
            for (size_t i = 0; i < g.docs.size(); i++) enc[i] = encode_text(tok, g.docs[i].document, max_len);
            for (size_t i = 0; i < g.docs.size(); i++) ptrs[i] = &enc[i];
            score_query(forward, fmt, q, ptrs, batch, scores, b);
            std::vector<ScoredDoc> ranked(g.docs.size());
            for (size_t i = 0; i < g.docs.size(); i++) ranked[i] = {g.docs[i].docid, (double)scores[i]};
            if (first) {  // the first-stage run must list the same queries, in the same order
                std::string fq;
                if (!first->next(fq, first_docs) || fq != g.qid)
                    first->in.fail("expected query " + g.qid + " (line " + std::to_string(g.first_line) + " of " + cpath +
                                   ") next, found " + (fq.empty() ? std::string("the end of the run") : fq) +
                                   ": the run must list the candidates' queries in the same order");
                std::unordered_map<std::string, double> fs;
                for (const ScoredDoc& sd : first_docs) fs[sd.docid] = sd.score;
                std::vector<double> f(g.docs.size());
                for (size_t i = 0; i < g.docs.size(); i++) {
                    auto it = fs.find(g.docs[i].docid);
                    if (it == fs.end())
                        first->in.fail("query " + g.qid + ": document " + g.docs[i].docid + " of the candidates is not in the run");
                    f[i] = it->second;
                }
                std::vector<double> fused = fuse_scores(scores, f, fuse_w);
                for (size_t i = 0; i < g.docs.size(); i++) ranked[i].score = fused[i];
            }
            std::string lines = format_run_lines(g.qid, ranked, tag);
            out.write(lines.data(), lines.size());
            if (!qrels_path.empty()) {
                auto j = qrels.find(g.qid);
                if (j != qrels.end()) {  // trec_eval: queries in both the run and the qrels
                    std::vector<std::string> ids;
                    for (const Candidate& cd : g.docs) ids.push_back(cd.docid);
                    in_order.add(evaluate_query(ranked_by_position(ids), j->second));
                    sort_trec(ranked);
                    reranked.add(evaluate_query(ranked, j->second));
                }
            }
            n_queries++, n_pairs += g.docs.size();
            if (now() - last_report > (tty ? 0.5 : 10.0)) {
                std::fprintf(stderr, tty ? "\r%zu queries, %zu pairs, %.0f pairs/s" : "%zu queries, %zu pairs, %.0f pairs/s\n",
                             n_queries, n_pairs, n_pairs / (now() - t0));
                last_report = now();
            }
        }
        if (first) {
            std::string fq;
            if (first->next(fq, first_docs)) first->in.fail("query " + fq + " is in the run but not in the candidates");
            delete first;
        }
        out.commit();
        cuda_model_free(gm);
        if (tty) std::fputc('\n', stderr);
        std::string warn = read_warnings(cpath, cands.stats);
        if (!warn.empty()) std::fputs(warn.c_str(), stderr);
        if (!qrels_path.empty()) {
            std::printf("input order:    %s\n", format_metrics(in_order.mean(), in_order.n).c_str());
            std::printf("%-15s %s\n", first ? "reranked+fused:" : "reranked:", format_metrics(reranked.mean(), reranked.n).c_str());
        }
        double el = now() - t0;
        std::fprintf(stderr, "reranked %zu queries, %zu pairs in %.1f s (%.0f pairs/s, %s)%s -> %s\n", n_queries,
                     n_pairs, el, n_pairs / std::max(el, 1e-9),
                     cuda ? be.describe().c_str() : strfmt("%s, %d threads", be.describe().c_str(), omp_get_max_threads()).c_str(),
                     first ? strfmt(", fused with %s at weight %.2f", first_stage.c_str(), fuse_w).c_str() : "",
                     opath.c_str());
    } catch (const std::exception& e) {
        fatal("%s", e.what());
    }
    return 0;
}
