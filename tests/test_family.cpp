// A second model family, defined here and nowhere else, runs through the engine's own code paths: it
// is registered at run time, trained by train_run (the body of ./train) with checkpoints, resumed from
// a mid-run checkpoint to the same bytes as an uninterrupted run, and reranks a candidates file through
// rerank_run (the body of ./rerank). What a family must bring is exactly what this file holds: its
// config, its parameter table and its CPU model (forward and backward).
//
// The family: a bag of embeddings. Per sequence b of tokens t in [o_b, o_{b+1}), length n_b:
//   pooled_b = (1/n_b) sum_t (embed[tok_t] + match[flag_t])           [B, D]
//   score_b  = pooled_b . score.weight + score.bias                    [B]
// backward (ds = dscores): dscore.weight += sum_b ds_b pooled_b; embed[tok_t] += ds_b score.weight / n_b
// (and match[flag_t] the same); score.bias is not trained (the group softmax is shift-invariant).
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/common.h"
#include "core/rng.h"
#include "ir/formats.h"
#include "text/input.h"
#include "models/registry.h"
#include "rerank/rerank_run.h"
#include "train/train_run.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace {

struct Bag {
    int V, D;
    bool match;
    TensorTable t;
    Buffer<float> params, grads, m, v;
    std::vector<float> pooled;  // [max_seqs, D]
    std::vector<float> scores;  // [max_seqs]
    int max_tokens = 0, max_seqs = 0, max_len = 0;
    Batch last;                 // the batch of the last forward
};

Bag& bag(Model& m) { return *static_cast<Bag*>(m.state.get()); }

ModelConfig bag_config_from_flags(std::map<std::string, double>& flags, int vocab) {
    ModelConfig c;
    c.entries = {{"vocab_size", (double)vocab}, {"d_model", 16}, {"match_feature", 1}};
    if (flags.count("d-model")) c.set("d_model", flags["d-model"]), flags.erase("d-model");
    if (flags.count("match")) c.set("match_feature", flags["match"]), flags.erase("match");
    return c;
}

std::string bag_config_error(const ModelConfig& c) {
    try {
        c.get_int("vocab_size", 1, 1 << 24), c.get_int("d_model", 1, 4096), c.get_int("match_feature", 0, 1);
        return "";
    } catch (const std::runtime_error& e) {
        return e.what();
    }
}

TensorTable bag_table(const ModelConfig& c) {
    TensorTable t;
    const int64_t V = c.get("vocab_size"), D = c.get("d_model");
    t.add("embed.weight", {V, D}, true);
    if (c.get("match_feature")) t.add("match.weight", {2, D}, true);
    t.add("score.weight", {1, D}, true);
    t.add("score.bias", {1}, false, false);
    return t;
}

void* bag_create(Model& m, bool training) {
    Bag* b = new Bag;
    b->V = (int)m.cfg.get("vocab_size"), b->D = (int)m.cfg.get("d_model"), b->match = m.cfg.get("match_feature") != 0;
    b->t = bag_table(m.cfg);
    b->params = Buffer<float>(b->t.total);
    if (training) b->grads = Buffer<float>(b->t.total), b->m = Buffer<float>(b->t.total), b->v = Buffer<float>(b->t.total);
    m.ptable = &b->t;
    m.params = b->params.data, m.grads = b->grads.data, m.opt_m = b->m.data, m.opt_v = b->v.data;
    return b;
}

void bag_destroy(void* s) { delete static_cast<Bag*>(s); }

void bag_init(Model& m, uint64_t seed) {
    Bag& b = bag(m);
    Rng rng(seed);
    for (size_t k = 0; k < b.t.specs.size(); k++)
        for (int64_t i = 0; i < b.t.specs[k].numel(); i++) b.params.data[b.t.offsets[k] + i] = (float)(0.1 * rng.normal());
}

void bag_setup_acts(Model& m, int max_tokens, int max_seqs, int max_len) {
    Bag& b = bag(m);
    b.max_tokens = max_tokens, b.max_seqs = max_seqs, b.max_len = max_len;
    b.pooled.assign((size_t)max_seqs * b.D, 0.0f);
    b.scores.assign(max_seqs, 0.0f);
}

const float* bag_forward(Model& m, const Batch& batch) {
    Bag& b = bag(m);
    check_batch(batch, b.V, b.match, b.max_tokens, b.max_seqs, b.max_len);
    b.last = batch;
    const float* E = b.params.data + b.t.offset("embed.weight");
    const float* M = b.match ? b.params.data + b.t.offset("match.weight") : nullptr;
    const float* w = b.params.data + b.t.offset("score.weight");
    const float bias = b.params.data[b.t.offset("score.bias")];
    for (int s = 0; s < batch.B(); s++) {
        float* p = &b.pooled[(size_t)s * b.D];
        std::fill(p, p + b.D, 0.0f);
        const int o0 = batch.offsets[s], o1 = batch.offsets[s + 1];
        for (int t = o0; t < o1; t++)
            for (int d = 0; d < b.D; d++)
                p[d] += E[(size_t)batch.tokens[t] * b.D + d] + (M ? M[batch.match[t] * b.D + d] : 0.0f);
        double score = bias;
        for (int d = 0; d < b.D; d++) p[d] /= (float)(o1 - o0), score += (double)p[d] * w[d];
        b.scores[s] = (float)score;
    }
    return b.scores.data();
}

void bag_backward(Model& m, const float* ds) {
    Bag& b = bag(m);
    const Batch& batch = b.last;
    float* dE = b.grads.data + b.t.offset("embed.weight");
    float* dM = b.match ? b.grads.data + b.t.offset("match.weight") : nullptr;
    float* dw = b.grads.data + b.t.offset("score.weight");
    const float* w = b.params.data + b.t.offset("score.weight");
    for (int s = 0; s < batch.B(); s++) {
        const int o0 = batch.offsets[s], o1 = batch.offsets[s + 1];
        for (int d = 0; d < b.D; d++) dw[d] += ds[s] * b.pooled[(size_t)s * b.D + d];
        const float g = ds[s] / (float)(o1 - o0);
        for (int t = o0; t < o1; t++)
            for (int d = 0; d < b.D; d++) {
                dE[(size_t)batch.tokens[t] * b.D + d] += g * w[d];
                if (dM) dM[batch.match[t] * b.D + d] += g * w[d];
            }
    }
}

const ModelFamily bag_family = {
    "bag-test",
    (Family)101,
    {"vocab_size", "d_model", "match_feature"},
    "    --d-model N (16)  --match 0|1 (1)\n",
    bag_config_from_flags,
    bag_config_error,
    bag_table,
    bag_create,
    bag_destroy,
    bag_init,
    bag_setup_acts,
    bag_forward,
    bag_backward,
};

// A data directory in the trainer's layout, from the MS MARCO-layout fixtures (as tests/test_e2e.sh).
std::string make_data_dir(const std::string& dir) {
    const std::string f = "tests/fixtures/formats", d = dir + "/data";
    fs::create_directories(d);
    fs::copy_file(f + "/collection.tsv", d + "/collection.tsv");
    for (const char* s : {"train", "dev", "test"}) {
        fs::copy_file(f + "/queries.dev.small.tsv", d + "/queries." + s + ".tsv");
        fs::copy_file(f + "/qrels.dev.small.tsv", d + "/qrels." + s + ".txt");
        fs::copy_file(f + "/run.dev.trec", d + "/bm25." + s + ".trec");
    }
    return d;
}

std::string slurp(const std::string& p) { return read_file(p, "test"); }

// The "step", "loss" and "grad_norm" fields of every step line of a training log.
std::string step_lines(const std::string& log) {
    std::istringstream in(slurp(log));
    std::string line, out;
    while (std::getline(in, line))
        if (line.find("\"loss\"") != std::string::npos) out += line.substr(0, line.find(", \"lr\"")) + "\n";
    return out;
}

}  // namespace

TEST_CASE("a second model family trains, checkpoints, resumes and reranks through the engine's code paths") {
    if (!family_by_name(bag_family.name)) register_family(&bag_family);
    const std::string dir = (fs::temp_directory_path() / ("engine_test_family_" + std::to_string(getpid()))).string();
    fs::remove_all(dir);
    fs::create_directories(dir);
    TrainOptions o;
    o.data = make_data_dir(dir);
    o.family = "bag-test";
    o.model_flags = {{"d-model", 8}};
    o.device = "cpu", o.precision = "fp32";
    o.max_len = 64, o.group = 2, o.batch = 2, o.steps = 12, o.eval_every = 5, o.eval_queries = 10, o.eval_depth = 5;
    o.checkpoint_every = 4, o.seed = 9, o.lr = 0.05;

    o.out = dir + "/a.bin";  // uninterrupted
    train_run(o);
    TrainOptions b = o;      // stopped after step 8, then resumed from its checkpoint to step 12
    b.out = dir + "/b.bin";
    b.stop_at = 8;
    train_run(b);
    b.stop_at = 0;
    b.resume = dir + "/b.bin.ckpt";
    train_run(b);

    const std::string la = step_lines(dir + "/a.bin.log.jsonl"), lb = step_lines(dir + "/b.bin.log.jsonl");
    std::printf("  bag-test family, 12 steps; uninterrupted log:\n%s", la.c_str());
    CHECK(std::count(la.begin(), la.end(), '\n') == 12);
    CHECK(la == lb);
    CHECK(slurp(dir + "/a.bin") == slurp(dir + "/b.bin"));
    CHECK(slurp(dir + "/a.bin.ckpt") == slurp(dir + "/b.bin.ckpt"));

    // The weights file is the family's: loaded by family id, its parameters moved from the seed's.
    WeightsFile wf = weights_load(dir + "/a.bin");
    CHECK(wf.family == bag_family.id);
    Model trained = model_from_file(wf, false);
    CHECK(trained.family == &bag_family);
    Model fresh = model_create(bag_family, trained.cfg, false);
    model_init_random(fresh, 9);
    CHECK(std::memcmp(fresh.params, trained.params, sizeof(float) * fresh.ptable->total) != 0);

    // Reranking with it: every candidate pair scored and ranked, scores as the family's own forward
    // gives them on the pairs as the input format builds them.
    RerankOptions r;
    r.weights = dir + "/a.bin", r.candidates = "tests/fixtures/formats/top1000.dev.tsv", r.out = dir + "/run.trec";
    r.device = "cpu", r.precision = "fp32";
    rerank_run(r);
    std::map<std::string, double> got;  // "qid docid" -> score of the run
    std::istringstream run(slurp(r.out));
    std::string q, q0, doc, tag;
    int rank;
    double score;
    while (run >> q >> q0 >> doc >> rank >> score >> tag) got[q + " " + doc] = score;
    CHECK(got.size() == 12);
    ModelExtras x = load_extras(wf);
    Tokenizer tok = tokenizer_parse(x.tokenizer_json, "tokenizer.json");
    InputFormat fmt = input_format(tok, x.input_template, (int)x.max_len, trained.match());
    model_setup_acts(trained, 64 * 64, 64, 64);
    CandidateReader cands(r.candidates);
    CandidateGroup g;
    double worst = 0;
    int n = 0;
    while (cands.next(g)) {
        const EncodedText qe = encode_text(tok, g.query, (int)x.max_len);
        for (const Candidate& c : g.docs) {
            Batch pair;
            append_pair(pair, fmt, encode_text(tok, c.document, (int)x.max_len), qe);
            const float want = model_forward(trained, pair)[0];
            const auto it = got.find(g.qid + " " + c.docid);
            REQUIRE(it != got.end());
            worst = std::max(worst, std::fabs(it->second - want) / std::max(1.0, std::fabs((double)want)));
            n++;
        }
    }
    // The run prints scores with 9 significant digits; the forward is the same code on the same
    // pair, alone instead of packed with others (a sequence's score does not depend on its neighbours).
    std::printf("  run: %zu pairs; largest difference from the family's forward %.2e (relative)\n", got.size(), worst);
    CHECK(n == 12);
    CHECK(worst <= 1e-5);
    fs::remove_all(dir);
}
