// ./train: trains a Mamba-1 reranker with the RankMamba recipe on a collection in the formats IR people
// use (the demo collection of `make data`, or MS MARCO's files), and writes a self-contained weights
// file. Run ./train --help for the flags.
//
// Recipe: every step takes --batch training queries in a shuffled order (one shuffle per epoch, from
// the seed), and for each builds a group of G sequences: one relevant document (drawn at random among
// the query's judged documents) and G-1 negatives drawn without replacement from the query's BM25
// top-100 minus its relevant documents; input "Document: {doc}\n\nQuery: {query}" + EOS, document
// truncated first (input.h). Loss: softmax cross-entropy over each group with the positive at index 0
// (localized contrastive estimation), mean over groups; AdamW, linear warmup then linear decay, global
// gradient clipping. Every --eval-every steps the dev MRR@10 of reranking the BM25 top --eval-depth of
// --eval-queries dev queries is logged; every --checkpoint-every steps an atomic checkpoint holds the
// whole training state, and --resume continues from it bit for bit. At the end the model reranks the
// BM25 top --final-depth of --final-queries dev and test queries (default: every judged query), the
// BM25 fusion weight is tuned on those dev queries and stored in the weights file, and a table
// compares the candidates in random order, the BM25 order, the reranker alone and the reranker fused
// with BM25.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/common.h"
#include "backend/backend.h"
#include "ir/formats.h"
#include "text/input.h"
#include "ir/metrics.h"
#include "models/mamba/mamba_io.h"
#include "rerank/scoring.h"
#include "text/tokenizer.h"
#include "train/trainer.h"

static const char* USAGE = R"(usage: ./train [flags]
  data
    --data DIR            collection.tsv, queries.{train,dev,test}.tsv, qrels.{split}.txt,
                          bm25.{split}.trec (default: data, made by `make data`)
    --tokenizer FILE      tokenizer.json (default: weights/tokenizer.json)
    --train-groups FILE   MS MARCO-style group file "qid pos neg1 ... negk" instead of BM25 sampling
  model
    --d-model N (128)  --layers N (3)  --d-state N (16)  --expand N (2)  --d-conv N (4)
    --dt-rank N (ceil(d_model/16))  --match 0|1 (1: exact-match flag embedding)
  training
    --group G (8)  --batch Q (8 groups per step)  --max-len N (128)  --steps N (1000)
    --lr X (2e-3)  --warmup N (steps/20)  --beta2 X (0.95)  --weight-decay X (0.1)  --clip X (1.0)
    --seed N (1)
    --device cpu|cuda|auto (auto: cuda when this build has it and a GPU is present)
    --precision auto|bf16|fp32 (auto: bf16 on a GPU, and on a CPU with AMX)  --threads N (all cores)
  evaluation and output
    --eval-every N (500)  --eval-queries N (500: spread evenly over the split)  --eval-depth N (50)
    --final-queries N (0: every judged query)  --final-depth N (--eval-depth): the closing table
    --checkpoint-every N (500)
    --out FILE (weights/model.bin; also FILE.ckpt, FILE.log.jsonl)  --resume CHECKPOINT
)";

struct Args {
    std::string data = "data", tokenizer = "weights/tokenizer.json", train_groups, out = "weights/model.bin", resume;
    std::string device = "auto", precision = "auto";
    int d_model = 128, layers = 3, d_state = 16, expand = 2, d_conv = 4, dt_rank = 0, match = 1;
    int group = 8, batch = 8, max_len = 128, steps = 1000, warmup = -1, seed = 1, threads = 0;
    double lr = 2e-3, beta2 = 0.95, weight_decay = 0.1, clip = 1.0;
    int eval_every = 500, eval_queries = 500, eval_depth = 50, checkpoint_every = 500;
    int final_queries = 0, final_depth = 0;  // 0: every judged query; the eval depth
};

static Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; i++) {
        std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            std::fputs(USAGE, stdout);
            std::exit(0);
        }
        if (i + 1 >= argc) fatal("%s needs a value (./train --help)", k.c_str());
        std::string v = argv[++i];
        auto num = [&](double lo, double hi) {
            char* end = nullptr;
            double x = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end || !(x >= lo && x <= hi))
                fatal("%s %s: expected a number in [%g, %g]", k.c_str(), v.c_str(), lo, hi);
            return x;
        };
        auto integer = [&](double lo, double hi) {
            double x = num(lo, hi);
            if (x != std::floor(x)) fatal("%s %s: expected an integer", k.c_str(), v.c_str());
            return (int)x;
        };
        if (k == "--data") a.data = v;
        else if (k == "--tokenizer") a.tokenizer = v;
        else if (k == "--train-groups") a.train_groups = v;
        else if (k == "--out") a.out = v;
        else if (k == "--resume") a.resume = v;
        else if (k == "--device") a.device = v;
        else if (k == "--precision") a.precision = v;
        else if (k == "--d-model") a.d_model = integer(1, 65536);
        else if (k == "--layers") a.layers = integer(1, 1024);
        else if (k == "--d-state") a.d_state = integer(1, 64);
        else if (k == "--expand") a.expand = integer(1, 16);
        else if (k == "--d-conv") a.d_conv = integer(1, 16);
        else if (k == "--dt-rank") a.dt_rank = integer(1, 1 << 20);
        else if (k == "--match") a.match = integer(0, 1);
        else if (k == "--group") a.group = integer(2, 1024);
        else if (k == "--batch") a.batch = integer(1, 1 << 16);
        else if (k == "--max-len") a.max_len = integer(8, 1 << 20);
        else if (k == "--steps") a.steps = integer(1, 1e9);
        else if (k == "--warmup") a.warmup = integer(0, 1e9);
        else if (k == "--seed") a.seed = integer(0, 2e9);
        else if (k == "--threads") a.threads = integer(1, 4096);
        else if (k == "--lr") a.lr = num(0, 10);
        else if (k == "--weight-decay") a.weight_decay = num(0, 10);
        else if (k == "--beta2") a.beta2 = num(0, 0.999999);
        else if (k == "--clip") a.clip = num(0, 1e9);
        else if (k == "--eval-every") a.eval_every = integer(0, 1e9);
        else if (k == "--eval-queries") a.eval_queries = integer(1, 1e9);
        else if (k == "--eval-depth") a.eval_depth = integer(1, 1e6);
        else if (k == "--final-queries") a.final_queries = integer(0, 1e9);
        else if (k == "--final-depth") a.final_depth = integer(1, 1e6);
        else if (k == "--checkpoint-every") a.checkpoint_every = integer(0, 1e9);
        else fatal("unknown flag %s (./train --help)", k.c_str());
    }
    if (a.warmup < 0) a.warmup = std::max(1, a.steps / 20);
    if (a.dt_rank == 0) a.dt_rank = (a.d_model + 15) / 16;
    return a;
}

static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Everything the trainer reads, with texts encoded once.
struct Data {
    std::vector<std::string> docids;
    std::unordered_map<std::string, int> doc_index;
    std::vector<EncodedText> docs;
    struct Query {
        std::string qid;
        EncodedText enc;
        std::vector<int> relevant;   // doc indices
        std::vector<int> bm25;       // doc indices, BM25 order
        std::vector<double> bm25_score;
    };
    std::vector<Query> train, dev, dev_final, test;  // dev: the periodic evaluation's subset of dev_final
};

// At most `limit` of the queries, spread evenly (qids are sorted by part of speech, so the first ones
// alone would all be adjectives).
static std::vector<Data::Query> spread(const std::vector<Data::Query>& qs, size_t limit) {
    if (limit >= qs.size()) return qs;
    std::vector<Data::Query> out;
    for (size_t i = 0; i < limit; i++) out.push_back(qs[i * qs.size() / limit]);
    return out;
}

static std::vector<Data::Query> load_split(const std::string& dir, const std::string& split, const Data& d,
                                           const Tokenizer& tok, int max_len, size_t limit) {
    std::vector<TextRecord> qs = read_queries(dir + "/queries." + split + ".tsv");
    Qrels qrels = read_qrels(dir + "/qrels." + split + ".txt");
    Run run = read_run(dir + "/bm25." + split + ".trec");
    // At most `limit` judged queries, spread evenly over the file (qids are sorted by part of speech, so
    // the first ones alone would all be adjectives).
    std::vector<const TextRecord*> judged;
    for (const TextRecord& r : qs)
        if (qrels.count(r.id)) judged.push_back(&r);
    std::vector<const TextRecord*> picked;
    for (size_t i = 0; i < std::min(limit, judged.size()); i++)
        picked.push_back(judged[limit >= judged.size() ? i : i * judged.size() / limit]);
    std::vector<Data::Query> out;
    for (const TextRecord* rp : picked) {
        const TextRecord& r = *rp;
        auto j = qrels.find(r.id);
        Data::Query q;
        q.qid = r.id;
        for (auto& [docid, rel] : j->second) {
            auto it = d.doc_index.find(docid);
            if (rel > 0 && it != d.doc_index.end()) q.relevant.push_back(it->second);
        }
        std::sort(q.relevant.begin(), q.relevant.end());
        auto rr = run.find(r.id);
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
        q.enc = encode_text(tok, r.text, max_len);
        out.push_back(std::move(q));
    }
    return out;
}

// Training queries from a group file "qid pos neg1 ... negk" (formats.h GroupReader): the group's
// positive is the relevant document and its negatives stand in for the BM25 candidates. Several lines
// of one qid are merged.
static std::vector<Data::Query> load_groups(const std::string& dir, const std::string& path, const Data& d,
                                            const Tokenizer& tok, int max_len) {
    std::unordered_map<std::string, std::string> text;
    for (TextRecord& r : read_queries(dir + "/queries.train.tsv")) text[r.id] = std::move(r.text);
    std::unordered_map<std::string, size_t> at;
    std::vector<Data::Query> out;
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
        Data::Query& q = out[it->second];
        int p = doc(g.pos);
        if (!std::count(q.relevant.begin(), q.relevant.end(), p)) q.relevant.push_back(p);
        for (const std::string& n : g.negs) {
            int k = doc(n);
            if (!std::count(q.bm25.begin(), q.bm25.end(), k)) q.bm25.push_back(k), q.bm25_score.push_back(0);
        }
    }
    for (Data::Query& q : out) std::sort(q.relevant.begin(), q.relevant.end());
    return out;
}

// The reranker's scores of the first `depth` BM25 candidates of each query.
static std::vector<std::vector<float>> score_split(const ScoreFn& forward, const InputFormat& f, const Data& d,
                                                   const std::vector<Data::Query>& qs, int depth, int batch, Batch& b) {
    std::vector<std::vector<float>> out;
    for (const Data::Query& q : qs) {
        std::vector<const EncodedText*> docs;
        for (int i = 0; i < std::min(depth, (int)q.bm25.size()); i++) docs.push_back(&d.docs[q.bm25[i]]);
        out.emplace_back();
        score_query(forward, f, q.enc, docs, batch, out.back(), b);
    }
    return out;
}

// Mean metrics of four orders of each query's candidates: random (one fixed shuffle), BM25, the
// reranker, and the reranker fused with BM25 at weight w.
struct Orders {
    QueryMetrics random, bm25, rerank, fused;
};

static Orders evaluate(const Data& d, const std::vector<Data::Query>& qs, const std::vector<std::vector<float>>& scores,
                       double w) {
    MetricsSum random, bm25, rerank, fused;
    Rng rng(12345);
    for (size_t k = 0; k < qs.size(); k++) {
        const Data::Query& q = qs[k];
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

// The fusion weight in {0, 0.05, ..., 1} with the best dev MRR@10 (ties: the smaller weight).
static double tune_fusion(const Data& d, const std::vector<Data::Query>& qs, const std::vector<std::vector<float>>& scores) {
    double best_w = 0, best = -1;
    for (int k = 0; k <= 20; k++) {
        double mrr = evaluate(d, qs, scores, k / 20.0).fused.mrr10;
        if (mrr > best + 1e-12) best = mrr, best_w = k / 20.0;
    }
    return best_w;
}

int main(int argc, char** argv) {
    Args a = parse_args(argc, argv);
    if (a.threads > 0) omp_set_num_threads(a.threads);
    const BackendChoice be = choose_backend(a.device, a.precision, "train");
    const bool cuda = be.cuda;
    enable_flush_to_zero();
    const double t_start = now();
    try {
        // ---- data --------------------------------------------------------------------------------------
        Tokenizer tok = tokenizer_load(a.tokenizer);
        std::string tok_json = read_file(a.tokenizer, "tokenizer");
        Data d;
        {
            std::vector<TextRecord> coll = read_collection(a.data + "/collection.tsv");
            d.docids.resize(coll.size());
            d.docs.resize(coll.size());
            for (size_t i = 0; i < coll.size(); i++) d.docids[i] = coll[i].id, d.doc_index[coll[i].id] = (int)i;
#pragma omp parallel for schedule(dynamic, 256)
            for (size_t i = 0; i < coll.size(); i++) d.docs[i] = encode_text(tok, coll[i].text, a.max_len);
        }
        d.train = a.train_groups.empty() ? load_split(a.data, "train", d, tok, a.max_len, SIZE_MAX)
                                         : load_groups(a.data, a.train_groups, d, tok, a.max_len);
        // The closing table's queries, and the periodic evaluation's subset of the dev ones.
        const size_t final_limit = a.final_queries > 0 ? (size_t)a.final_queries : SIZE_MAX;
        const int final_depth = a.final_depth > 0 ? a.final_depth : a.eval_depth;
        d.dev_final = load_split(a.data, "dev", d, tok, a.max_len, final_limit);
        d.test = load_split(a.data, "test", d, tok, a.max_len, final_limit);
        d.dev = spread(d.dev_final, (size_t)a.eval_queries);
        // Training queries usable for groups: a relevant document and G-1 non-relevant BM25 candidates.
        std::vector<int> usable;
        std::vector<std::vector<int>> negatives(d.train.size());
        for (size_t i = 0; i < d.train.size(); i++) {
            const Data::Query& q = d.train[i];
            for (int doc : q.bm25)
                if (!std::binary_search(q.relevant.begin(), q.relevant.end(), doc)) negatives[i].push_back(doc);
            if (!q.relevant.empty() && (int)negatives[i].size() >= a.group - 1) usable.push_back((int)i);
        }
        if (usable.empty()) fatal("%s: no training query has a relevant document and %d BM25 negatives", a.data.c_str(), a.group - 1);
        std::printf("data: %zu documents, %zu training queries (%zu usable for groups of %d), %zu dev (%zu in the "
                    "periodic evaluation), %zu test; encoded in %.1f s\n",
                    d.docs.size(), d.train.size(), usable.size(), a.group, d.dev_final.size(), d.dev.size(),
                    d.test.size(), now() - t_start);

        // ---- model -------------------------------------------------------------------------------------
        MambaConfig c;
        c.D = a.d_model, c.L = a.layers, c.N = a.d_state, c.K = a.d_conv, c.E = a.expand * a.d_model, c.R = a.dt_rank;
        c.V = (vocab_size(tok) + 63) / 64 * 64, c.match = a.match;
        InputFormat fmt = input_format(tok, "Document: {doc}\n\nQuery: {query}", a.max_len, a.match);
        Mamba<float> m;
        TrainState st;
        st.rng = Rng((uint64_t)a.seed * 0x9e3779b97f4a7c15ull + 1);
        mamba_setup(m, c, true);
        mamba_init_random(m, (uint64_t)a.seed);
        const int seqs = a.batch * a.group;
        mamba_setup_acts(m, seqs * a.max_len, std::max(seqs, 64), a.max_len);
        if (!a.resume.empty()) {
            WeightsFile f = weights_load(a.resume);
            MambaConfig rc = mamba_config_from(f);
            if (std::memcmp(&rc, &c, sizeof c) != 0) f.fail("the checkpoint's model config differs from the flags");
            load_checkpoint(f, m, st);
            std::printf("resumed from %s at step %lld\n", a.resume.c_str(), (long long)st.step);
        }
        size_t nparams = 0;
        for (auto& s : m.ptable.specs) nparams += s.numel();
        std::printf("model: Mamba-1 D %d, %d layers, N %d, E %d, R %d, V %d, match %d: %.2fM parameters; %s\n", c.D,
                    c.L, c.N, c.E, c.R, c.V, c.match, nparams / 1e6,
                    cuda ? be.describe().c_str() : strfmt("%s, %d threads", be.describe().c_str(), omp_get_max_threads()).c_str());
        // On cuda the model trains on the GPU; m stays the host copy that files are written from, brought
        // up to date (to_host) before every weights file or checkpoint.
        CudaModel* gm = cuda ? cuda_model_create(m, be.bf16, seqs * a.max_len, std::max(seqs, 64), a.max_len)
                             : nullptr;
        auto to_host = [&] {
            if (gm) cuda_model_to_host(gm, m);
        };
        const ScoreFn forward = [&](const Batch& bt, float* scores) { backend_scores(m, gm, bt, scores); };
        AdamWConfig oc;
        oc.lr = (float)a.lr, oc.beta2 = (float)a.beta2, oc.weight_decay = (float)a.weight_decay, oc.clip = (float)a.clip;
        oc.warmup = a.warmup, oc.total_steps = a.steps;
        ModelExtras extras{tok_json, "Document: {doc}\n\nQuery: {query}", (double)a.max_len, -1};

        std::string log_path = a.out + ".log.jsonl";
        FILE* log = std::fopen(log_path.c_str(), st.step > 0 ? "a" : "w");
        if (!log) fatal("%s: cannot write the training log", log_path.c_str());
        const bool tty = isatty(fileno(stdout));

        // ---- training ----------------------------------------------------------------------------------
        Batch b;
        std::vector<int> order;
        int64_t order_epoch = -1;
        double t0 = now(), tokens = 0, loss_ema = 0;
        const int64_t first_step = st.step;
        while (st.step < a.steps) {
            b.tokens.clear(), b.match.clear(), b.offsets.clear();
            for (int g = 0; g < a.batch; g++) {
                int64_t epoch = st.data_pos / (int64_t)usable.size();
                if (epoch != order_epoch) {  // one shuffle per epoch, from the seed and the epoch alone
                    order = usable;
                    Rng shuffle((uint64_t)a.seed * 1000003ull + (uint64_t)epoch);
                    for (size_t i = order.size() - 1; i > 0; i--) std::swap(order[i], order[shuffle.below(i + 1)]);
                    order_epoch = epoch;
                }
                const int qi = order[st.data_pos % (int64_t)usable.size()];
                st.data_pos++;
                const Data::Query& q = d.train[qi];
                append_pair(b, fmt, d.docs[q.relevant[st.rng.below(q.relevant.size())]], q.enc);
                std::vector<int>& neg = negatives[qi];  // partial Fisher-Yates: G-1 distinct negatives
                for (int k = 0; k < a.group - 1; k++) {
                    std::swap(neg[k], neg[k + st.rng.below(neg.size() - k)]);
                    append_pair(b, fmt, d.docs[neg[k]], q.enc);
                }
            }
            double norm = 0;
            double loss = gm ? cuda_train_step(gm, oc, st, b, a.group, &norm) : train_step(m, oc, st, b, a.group, &norm);
            tokens += b.T();
            loss_ema = st.step == first_step + 1 ? loss : 0.98 * loss_ema + 0.02 * loss;
            double el = now() - t0, tps = tokens / el, eta = el / (st.step - first_step) * (a.steps - st.step);
            std::fprintf(log, "{\"step\": %lld, \"loss\": %.6f, \"grad_norm\": %.4f, \"lr\": %.6g, \"tokens\": %d, "
                         "\"tokens_per_s\": %.1f, \"elapsed_s\": %.2f}\n", (long long)st.step, loss, norm,
                         oc.lr * lr_multiplier(oc, st.step - 1), b.T(), tps, now() - t_start);
            if (tty) {
                int width = 30, done = (int)(width * st.step / a.steps);
                std::printf("\r[%.*s%*s] step %lld/%d  loss %.4f  %.0f tok/s  ETA %.0f s   ", done,
                            "##############################", width - done, "", (long long)st.step, a.steps, loss_ema, tps, eta);
                std::fflush(stdout);
            } else if (st.step % 50 == 0 || st.step == a.steps) {
                std::printf("step %lld/%d  loss %.4f  %.0f tok/s  ETA %.0f s\n", (long long)st.step, a.steps, loss_ema, tps, eta);
                std::fflush(stdout);
            }
            if (a.eval_every > 0 && (st.step % a.eval_every == 0 || st.step == a.steps)) {
                double te = now();
                Orders r = evaluate(d, d.dev, score_split(forward, fmt, d, d.dev, a.eval_depth, seqs, b), 0);
                std::fprintf(log, "{\"step\": %lld, \"dev_mrr10\": %.5f, \"dev_ndcg10\": %.5f, \"eval_s\": %.2f}\n",
                             (long long)st.step, r.rerank.mrr10, r.rerank.ndcg10, now() - te);
                std::printf("%sstep %lld: dev MRR@10 %.4f (BM25 %.4f), %zu queries, %.1f s\n", tty ? "\n" : "",
                            (long long)st.step, r.rerank.mrr10, r.bm25.mrr10, d.dev.size(), now() - te);
                t0 += now() - te;  // throughput counts training only
            }
            std::fflush(log);
            if (a.checkpoint_every > 0 && st.step % a.checkpoint_every == 0 && st.step < a.steps) {
                to_host();
                save_checkpoint(a.out + ".ckpt", m, extras, st);
            }
        }
        std::fclose(log);
        double train_s = now() - t0;

        // ---- fusion weight, weights file, results table -------------------------------------------------
        const double t_final = now();
        auto final_dev_scores = score_split(forward, fmt, d, d.dev_final, final_depth, seqs, b);
        extras.fuse_weight = tune_fusion(d, d.dev_final, final_dev_scores);
        to_host();
        save_model(a.out, m, extras);
        save_checkpoint(a.out + ".ckpt", m, extras, st);
        Orders dev = evaluate(d, d.dev_final, final_dev_scores, extras.fuse_weight);
        Orders test = evaluate(d, d.test, score_split(forward, fmt, d, d.test, final_depth, seqs, b), extras.fuse_weight);
        const double final_s = now() - t_final;
        cuda_model_free(gm);
        std::printf("\nwrote %s (fusion weight %.2f, tuned on dev); training %.0f s, %.0f tokens/s\n", a.out.c_str(),
                    extras.fuse_weight, train_s, tokens / std::max(train_s, 1e-9));
        std::printf("\nreranking the BM25 top %d of %zu dev and %zu test queries (%.0f s):\n", final_depth,
                    d.dev_final.size(), d.test.size(), final_s);
        std::printf("| order                         | dev MRR@10 | dev nDCG@10 | test MRR@10 | test nDCG@10 |\n");
        std::printf("| ----------------------------- | ---------- | ----------- | ----------- | ------------ |\n");
        auto row = [&](const char* name, const QueryMetrics& x, const QueryMetrics& y) {
            std::printf("| %-29s | %10.4f | %11.4f | %11.4f | %12.4f |\n", name, x.mrr10, x.ndcg10, y.mrr10, y.ndcg10);
        };
        row("candidates in random order", dev.random, test.random);
        row("BM25", dev.bm25, test.bm25);
        row("reranker alone", dev.rerank, test.rerank);
        row("reranker fused with BM25", dev.fused, test.fused);
        std::printf("total wall time %.0f s\n", now() - t_start);
    } catch (const std::exception& e) {
        fatal("%s", e.what());
    }
    return 0;
}
