// build/bin/evaluate RUN QRELS [-q] [-c]: trec_eval-exact MRR@10, MRR@100, nDCG@10 and R@100 of a TREC run
// (definitions in src/ir/metrics.h). -q also prints each query's values; -c averages over every judged
// query (a query missing from the run counts as 0), as `trec_eval -c` does.
#include <cstdio>
#include <cstring>
#include <exception>

#include "core/common.h"
#include "ir/metrics.h"

int main(int argc, char** argv) {
    const char* usage = "usage: evaluate RUN QRELS [-q] [-c]";
    std::vector<std::string> pos;
    bool per_query = false, complete = false;
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "-q")) per_query = true;
        else if (!std::strcmp(argv[i], "-c")) complete = true;
        else if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
            std::puts(usage);
            return 0;
        } else if (argv[i][0] == '-') fatal("unknown flag %s; %s", argv[i], usage);
        else pos.push_back(argv[i]);
    }
    if (pos.size() != 2) fatal("%s", usage);
    try {
        Run run = read_run(pos[0]);
        Qrels qrels = read_qrels(pos[1]);
        Evaluation ev = evaluate_run(run, qrels, "run " + pos[0], "qrels " + pos[1]);
        if (per_query)
            for (const auto& [qid, m] : ev.per_query)
                std::printf("%s\tMRR@10 %.4f\tMRR@100 %.4f\tnDCG@10 %.4f\tR@100 %.4f\trel %d\tret %d\n", qid.c_str(),
                            m.mrr10, m.mrr100, m.ndcg10, m.recall100, m.num_rel, m.num_ret);
        const QueryMetrics& m = complete ? ev.mean_all : ev.mean;
        size_t n = ev.per_query.size() + (complete ? ev.qrels_only : 0);
        std::printf("%s\n", format_metrics(m, n).c_str());
        if (ev.run_only) std::fprintf(stderr, "note: %zu run queries have no judgments and are ignored\n", ev.run_only);
        if (ev.qrels_only)
            std::fprintf(stderr, "note: %zu judged queries are missing from the run (%s)\n", ev.qrels_only,
                         complete ? "counted as 0" : "ignored; -c counts them as 0");
    } catch (const std::exception& e) {
        fatal("%s", e.what());
    }
    return 0;
}
