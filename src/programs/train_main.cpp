// ./train: trains a reranker of any model family (--family, default mamba) with the RankMamba recipe
// on a collection in the formats IR people use (the demo collection of `make data`, or MS MARCO's
// files), and writes a self-contained weights file. Run ./train --help for the flags.
//
// Recipe (src/train/data.h, src/train/trainer.h): every step takes --batch training queries and builds
// for each a group of G sequences, one relevant document and G-1 BM25 negatives; input
// "Document: {doc}\n\nQuery: {query}" + EOS, document truncated first (text/input.h). Loss: softmax
// cross-entropy over each group with the positive at index 0 (localized contrastive estimation), mean
// over groups; AdamW, linear warmup then linear decay, global gradient clipping. Periodic dev
// evaluation, atomic checkpoints that --resume continues bit for bit, and a closing table
// (src/train/train_run.h).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/common.h"
#include "models/registry.h"
#include "train/train_run.h"

static const char* USAGE = R"(usage: ./train [flags]
  data
    --data DIR            collection.tsv, queries.{train,dev,test}.tsv, qrels.{split}.txt,
                          bm25.{split}.trec (default: data, made by `make data`)
    --tokenizer FILE      tokenizer.json (default: weights/tokenizer.json)
    --train-groups FILE   MS MARCO-style group file "qid pos neg1 ... negk" instead of BM25 sampling
  model
    --family NAME (mamba)   one of: %s
  training
    --group G (8)  --batch Q (8 groups per step)  --max-len N (128)  --steps N (1000)
    --lr X (2e-3)  --warmup N (steps/20)  --beta2 X (0.95)  --weight-decay X (0.1)  --clip X (1.0)
    --seed N (1)  --stop-at N (stop after step N, checkpoint written; the schedule still spans --steps)
    --device cpu|cuda|auto (auto: cuda when this build has it and a GPU is present)
    --precision auto|bf16|fp32 (auto: bf16 on a GPU, and on a CPU with AMX)  --threads N (all cores)
  evaluation and output
    --eval-every N (500)  --eval-queries N (500: spread evenly over the split)  --eval-depth N (50)
    --final-queries N (0: every judged query)  --final-depth N (--eval-depth): the closing table
    --checkpoint-every N (500)
    --out FILE (weights/model.bin; also FILE.ckpt, FILE.log.jsonl)  --resume CHECKPOINT
)";

static void print_usage() {
    std::printf(USAGE, family_names().c_str());
    for (const ModelFamily* f : registered_families()) std::printf("  model flags of --family %s\n%s", f->name, f->flags_help);
}

// Flags this program knows set o; any other numeric flag is the model family's (checked by it).
static TrainOptions parse_args(int argc, char** argv) {
    TrainOptions o;
    for (int i = 1; i < argc; i++) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            print_usage();
            std::exit(0);
        }
        if (k.rfind("--", 0) != 0) fatal("unexpected argument %s (./train --help)", k.c_str());
        if (i + 1 >= argc) fatal("%s needs a value (./train --help)", k.c_str());
        const std::string v = argv[++i];
        auto integer = [&](double lo, double hi) { return flag_int(k, v, lo, hi); };
        auto number = [&](double lo, double hi) { return flag_number(k, v, lo, hi); };
        if (k == "--data") o.data = v;
        else if (k == "--tokenizer") o.tokenizer = v;
        else if (k == "--train-groups") o.train_groups = v;
        else if (k == "--out") o.out = v;
        else if (k == "--resume") o.resume = v;
        else if (k == "--family") o.family = v;
        else if (k == "--device") o.device = v;
        else if (k == "--precision") o.precision = v;
        else if (k == "--group") o.group = integer(2, 1024);
        else if (k == "--batch") o.batch = integer(1, 1 << 16);
        else if (k == "--max-len") o.max_len = integer(8, 1 << 20);
        else if (k == "--steps") o.steps = integer(1, 1e9);
        else if (k == "--stop-at") o.stop_at = integer(1, 1e9);
        else if (k == "--warmup") o.warmup = integer(0, 1e9);
        else if (k == "--seed") o.seed = integer(0, 2e9);
        else if (k == "--threads") o.threads = integer(1, 4096);
        else if (k == "--lr") o.lr = number(0, 10);
        else if (k == "--weight-decay") o.weight_decay = number(0, 10);
        else if (k == "--beta2") o.beta2 = number(0, 0.999999);
        else if (k == "--clip") o.clip = number(0, 1e9);
        else if (k == "--eval-every") o.eval_every = integer(0, 1e9);
        else if (k == "--eval-queries") o.eval_queries = integer(1, 1e9);
        else if (k == "--eval-depth") o.eval_depth = integer(1, 1e6);
        else if (k == "--final-queries") o.final_queries = integer(0, 1e9);
        else if (k == "--final-depth") o.final_depth = integer(1, 1e6);
        else if (k == "--checkpoint-every") o.checkpoint_every = integer(0, 1e9);
        else if (!parse_number(v, &o.model_flags[k.substr(2)]))  // the family's, e.g. --d-model: numeric;
            fatal("unknown flag %s (./train --help)", k.c_str());  // the family says which it knows
    }
    return o;
}

int main(int argc, char** argv) {
    const TrainOptions o = parse_args(argc, argv);
    enable_flush_to_zero();
    train_run(o);
    return 0;
}
