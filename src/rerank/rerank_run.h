// Reranking a candidates file with a model of any family, as ./rerank does it: scores every
// (query, document) pair of `qid \t docid \t query \t document` (the MS MARCO top1000 layout, one
// query's rows contiguous) and writes a TREC run (qid Q0 docid rank score tag), sorted by score within
// each query with trec_eval's tie order (docid descending). The weights file is self-contained: it
// carries the family, config, tokenizer, input template and training length.
//
// Streams: one query's candidates are in memory at a time. The run is written to a temporary file and
// renamed only when complete. src/programs/rerank_main.cpp parses the flags; the tests call rerank_run.
#pragma once
#include <string>

struct RerankOptions {
    std::string weights, candidates, out;
    std::string first_stage;   // a TREC run to fuse with ("": none)
    std::string qrels;         // print metrics of the input and reranked orders ("": none)
    std::string tag = "rerank", device = "auto", precision = "auto";
    double fuse = -1;          // fusion weight; < 0: the one stored in the weights file
    int batch = 64, max_len = 0, threads = 0;  // max_len 0: the stored training length, else 512
};

void rerank_run(const RerankOptions& o);
