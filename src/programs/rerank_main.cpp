// ./rerank weights.bin candidates.tsv run.trec [flags]: reranks a candidates file with a reranker of any
// model family and writes a TREC run (src/rerank/rerank_run.h). Run ./rerank --help for the flags.
#include <cstdio>
#include <string>
#include <vector>

#include "core/common.h"
#include "rerank/rerank_run.h"

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

static RerankOptions parse_args(int argc, char** argv) {
    RerankOptions o;
    std::vector<std::string> pos;
    for (int i = 1; i < argc; i++) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            std::fputs(USAGE, stdout);
            std::exit(0);
        }
        if (k.rfind("--", 0) != 0) {
            pos.push_back(k);
            continue;
        }
        if (i + 1 >= argc) fatal("%s needs a value (./rerank --help)", k.c_str());
        const std::string v = argv[++i];
        if (k == "--first-stage") o.first_stage = v;
        else if (k == "--qrels") o.qrels = v;
        else if (k == "--tag") o.tag = v;
        else if (k == "--device") o.device = v;
        else if (k == "--precision") o.precision = v;
        else if (k == "--batch") o.batch = flag_int(k, v, 1, 1 << 16);
        else if (k == "--max-len") o.max_len = flag_int(k, v, 8, 1 << 20);
        else if (k == "--threads") o.threads = flag_int(k, v, 1, 4096);
        else if (k == "--fuse") o.fuse = flag_number(k, v, 0, 1);
        else fatal("unknown flag %s (./rerank --help)", k.c_str());
    }
    if (pos.size() != 3) fatal("expected WEIGHTS CANDIDATES OUT_RUN (./rerank --help)");
    if (o.fuse >= 0 && o.first_stage.empty()) fatal("--fuse needs --first-stage RUN");
    if (o.tag.empty() || o.tag.find_first_of(" \t\n") != std::string::npos) fatal("--tag must be one word");
    o.weights = pos[0], o.candidates = pos[1], o.out = pos[2];
    return o;
}

int main(int argc, char** argv) {
    const RerankOptions o = parse_args(argc, argv);
    enable_flush_to_zero();
    rerank_run(o);
    return 0;
}
