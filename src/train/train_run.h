// A whole training run, as ./train does it, for a model of any family (core/model.h): data, model,
// the training loop with periodic evaluation, checkpoints and the log, then the fusion weight, the
// weights file and the closing table. src/programs/train_main.cpp parses the flags into TrainOptions;
// the tests call train_run directly.
//
// Files: OUT (the reranker), OUT.ckpt (the checkpoint, every --checkpoint-every steps and at the end),
// OUT.log.jsonl (one line per step, plus the evaluations), all written atomically except the log,
// which is appended to on resume.
#pragma once
#include <map>
#include <string>

struct TrainOptions {
    std::string data = "data", tokenizer = "weights/tokenizer.json", train_groups, out = "weights/model.bin", resume;
    std::string family = "mamba", device = "auto", precision = "auto";
    std::map<std::string, double> model_flags;  // the family's flags, without their dashes ("d-model")
    int group = 8, batch = 8, max_len = 128, steps = 1000, warmup = -1, seed = 1, threads = 0;
    int stop_at = 0;  // > 0: stop after this step (the schedule still spans `steps`), checkpoint written
    double lr = 2e-3, beta2 = 0.95, weight_decay = 0.1, clip = 1.0;
    int eval_every = 500, eval_queries = 500, eval_depth = 50, checkpoint_every = 500;
    int final_queries = 0, final_depth = 0;  // 0: every judged query; the eval depth
};

// Runs it; fatal() (one line) on any bad input.
void train_run(const TrainOptions& o);
