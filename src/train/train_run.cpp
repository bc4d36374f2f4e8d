#include "train/train_run.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "backend/backend.h"
#include "core/common.h"
#include "models/registry.h"
#include "train/data.h"
#include "train/evaluate.h"

static const char* TEMPLATE = "Document: {doc}\n\nQuery: {query}";

// The model of family f with the flags' config, randomly initialised, or resumed from o.resume
// (parameters, moments, step, RNG and data position).
static Model make_model(const TrainOptions& o, const ModelFamily* f, const Tokenizer& tok, TrainState& st) {
    std::map<std::string, double> flags = o.model_flags;
    Model m;
    try {
        ModelConfig c = f->config_from_flags(flags, vocab_size(tok));
        if (!flags.empty()) fatal("unknown flag --%s for model family %s (./train --help)", flags.begin()->first.c_str(), f->name);
        m = model_create(*f, c, true);
    } catch (const std::runtime_error& e) {
        fatal("%s", e.what());
    }
    model_init_random(m, (uint64_t)o.seed);
    st.rng = Rng((uint64_t)o.seed * 0x9e3779b97f4a7c15ull + 1);
    if (!o.resume.empty()) {
        load_checkpoint(weights_load(o.resume), m, st);
        std::printf("resumed from %s at step %lld\n", o.resume.c_str(), (long long)st.step);
    }
    return m;
}

// One line per step in the JSON log; a progress bar on a terminal, else a line every 50 steps.
struct Progress {
    FILE* log;
    bool tty;
    double t0, tokens = 0, loss_ema = 0, t_start;
    int64_t first_step;

    void step(const TrainOptions& o, const AdamWConfig& oc, int64_t step, double loss, double norm, int T) {
        tokens += T;
        loss_ema = step == first_step + 1 ? loss : 0.98 * loss_ema + 0.02 * loss;
        const double el = now_seconds() - t0, tps = tokens / el, eta = el / (step - first_step) * (o.steps - step);
        std::fprintf(log, "{\"step\": %lld, \"loss\": %.6f, \"grad_norm\": %.4f, \"lr\": %.6g, \"tokens\": %d, "
                     "\"tokens_per_s\": %.1f, \"elapsed_s\": %.2f}\n", (long long)step, loss, norm,
                     oc.lr * lr_multiplier(oc, step - 1), T, tps, now_seconds() - t_start);
        if (tty) {
            const int width = 30, done = (int)(width * step / o.steps);
            std::printf("\r[%.*s%*s] step %lld/%d  loss %.4f  %.0f tok/s  ETA %.0f s   ", done,
                        "##############################", width - done, "", (long long)step, o.steps, loss_ema, tps, eta);
            std::fflush(stdout);
        } else if (step % 50 == 0 || step == o.steps) {
            std::printf("step %lld/%d  loss %.4f  %.0f tok/s  ETA %.0f s\n", (long long)step, o.steps, loss_ema, tps, eta);
            std::fflush(stdout);
        }
    }
};

// The dev MRR@10 of the periodic evaluation, logged; its time is not counted as training.
static void periodic_eval(const TrainOptions& o, const TrainData& d, const ScoreFn& forward, const InputFormat& fmt,
                          Batch& b, int64_t step, Progress& p) {
    const double te = now_seconds();
    Orders r = evaluate(d, d.dev, score_split(forward, fmt, d, d.dev, o.eval_depth, o.batch * o.group, b), 0);
    std::fprintf(p.log, "{\"step\": %lld, \"dev_mrr10\": %.5f, \"dev_ndcg10\": %.5f, \"eval_s\": %.2f}\n",
                 (long long)step, r.rerank.mrr10, r.rerank.ndcg10, now_seconds() - te);
    std::printf("%sstep %lld: dev MRR@10 %.4f (BM25 %.4f), %zu queries, %.1f s\n", p.tty ? "\n" : "", (long long)step,
                r.rerank.mrr10, r.bm25.mrr10, d.dev.size(), now_seconds() - te);
    p.t0 += now_seconds() - te;
}

// The fusion weight tuned on dev, the weights file and the final checkpoint, then the closing table.
static void finish(const TrainOptions& o, const TrainData& d, Runner& run, const ScoreFn& forward, const InputFormat& fmt,
                   ModelExtras& extras, const TrainState& st, Batch& b) {
    const int depth = o.final_depth > 0 ? o.final_depth : o.eval_depth, seqs = o.batch * o.group;
    const double t = now_seconds();
    auto dev_scores = score_split(forward, fmt, d, d.dev_final, depth, seqs, b);
    extras.fuse_weight = tune_fusion(d, d.dev_final, dev_scores);
    run.to_host();
    save_model(o.out, *run.m, extras);
    save_checkpoint(o.out + ".ckpt", *run.m, extras, st);
    Orders dev = evaluate(d, d.dev_final, dev_scores, extras.fuse_weight);
    Orders test = evaluate(d, d.test, score_split(forward, fmt, d, d.test, depth, seqs, b), extras.fuse_weight);
    std::printf("\nwrote %s (fusion weight %.2f, tuned on dev)\n", o.out.c_str(), extras.fuse_weight);
    std::printf("\nreranking the BM25 top %d of %zu dev and %zu test queries (%.0f s):\n", depth, d.dev_final.size(),
                d.test.size(), now_seconds() - t);
    print_results_table(dev, test);
}

void train_run(const TrainOptions& o) {
    if (o.threads > 0) omp_set_num_threads(o.threads);
    const ModelFamily* family = family_by_name(o.family);
    if (!family) fatal("--family %s: unknown (this build knows: %s)", o.family.c_str(), family_names().c_str());
    const BackendChoice be = choose_backend(o.device, o.precision, *family, "train");
    const double t_start = now_seconds();
    try {
        Tokenizer tok = tokenizer_load(o.tokenizer);
        DataOptions dopt{o.data, o.train_groups, o.max_len,
                         o.final_queries > 0 ? (size_t)o.final_queries : SIZE_MAX, (size_t)o.eval_queries};
        TrainData d = load_train_data(dopt, tok);
        GroupSampler sampler(d, o.group, (uint64_t)o.seed, o.data);
        std::printf("data: %zu documents, %zu training queries (%zu usable for groups of %d), %zu dev (%zu in the "
                    "periodic evaluation), %zu test; encoded in %.1f s\n",
                    d.docs.size(), d.train.size(), sampler.usable.size(), o.group, d.dev_final.size(), d.dev.size(),
                    d.test.size(), now_seconds() - t_start);

        TrainState st;
        Model m = make_model(o, family, tok, st);
        const InputFormat fmt = input_format(tok, TEMPLATE, o.max_len, m.match());
        const int seqs = o.batch * o.group;
        std::printf("model: %s (%s): %.2fM parameters; %s\n", m.family->name, m.cfg.describe().c_str(), m.n_params() / 1e6,
                    be.cuda ? be.describe().c_str() : strfmt("%s, %d threads", be.describe().c_str(), omp_get_max_threads()).c_str());
        Runner run(m, be, seqs * o.max_len, std::max(seqs, 64), o.max_len);
        const ScoreFn forward = [&](const Batch& bt, float* s) { run.scores(bt, s); };
        AdamWConfig oc;
        oc.lr = (float)o.lr, oc.beta2 = (float)o.beta2, oc.weight_decay = (float)o.weight_decay, oc.clip = (float)o.clip;
        oc.warmup = o.warmup >= 0 ? o.warmup : std::max(1, o.steps / 20), oc.total_steps = o.steps;
        ModelExtras extras{read_file(o.tokenizer, "tokenizer"), TEMPLATE, (double)o.max_len, -1};

        const std::string log_path = o.out + ".log.jsonl";
        Progress p{std::fopen(log_path.c_str(), st.step > 0 ? "a" : "w"), (bool)isatty(fileno(stdout)), now_seconds(), 0, 0,
                   t_start, st.step};
        if (!p.log) fatal("%s: cannot write the training log", log_path.c_str());
        const int64_t last = o.stop_at > 0 ? std::min<int64_t>(o.stop_at, o.steps) : o.steps;
        Batch b;
        while (st.step < last) {
            sampler.next_batch(b, d, fmt, o.batch, st);
            double norm = 0;
            const double loss = run.train_step(oc, st, b, o.group, &norm);
            p.step(o, oc, st.step, loss, norm, b.T());
            if (o.eval_every > 0 && (st.step % o.eval_every == 0 || st.step == o.steps))
                periodic_eval(o, d, forward, fmt, b, st.step, p);
            std::fflush(p.log);
            if (o.checkpoint_every > 0 && st.step % o.checkpoint_every == 0 && st.step < o.steps) {
                run.to_host();
                save_checkpoint(o.out + ".ckpt", m, extras, st);
            }
        }
        std::fclose(p.log);
        const double train_s = now_seconds() - p.t0;
        std::printf("%straining %.0f s, %.0f tokens/s\n", p.tty ? "\n" : "", train_s, p.tokens / std::max(train_s, 1e-9));
        if (st.step < o.steps) {  // --stop-at: the checkpoint is the result
            run.to_host();
            save_checkpoint(o.out + ".ckpt", m, extras, st);
            std::printf("stopped at step %lld of %d: wrote %s.ckpt (continue with --resume)\n", (long long)st.step,
                        o.steps, o.out.c_str());
            return;
        }
        finish(o, d, run, forward, fmt, extras, st, b);
        std::printf("total wall time %.0f s\n", now_seconds() - t_start);
    } catch (const std::exception& e) {
        fatal("%s", e.what());
    }
}
