// build/bin/make_collection PKG_ROOT OUT_DIR: builds the demo collection from the extracted Debian
// packages wordnet-base and dict-gcide (PKG_ROOT/usr/share/wordnet, PKG_ROOT/usr/share/dictd) into OUT_DIR,
// then prints the BM25 metrics of dev and test. `make data` runs it; the recipe is in src/ir/collection.cpp.
#include <cstdio>
#include <exception>

#include "ir/collection.h"
#include "core/common.h"
#include "ir/metrics.h"

int main(int argc, char** argv) {
    if (argc != 3) fatal("usage: make_collection PKG_ROOT OUT_DIR (run by `make data`)");
    std::string root = argv[1], out = argv[2];
    const double t0 = now_seconds();
    try {
        CollectionStats st = build_collection(root + "/usr/share/wordnet", root + "/usr/share/dictd/gcide.dict.dz",
                                              root + "/usr/share/dictd/gcide.index", out);
        const double secs = now_seconds() - t0;
        std::printf(
            "\ncollection %s: %zu documents; queries train %zu, dev %zu, test %zu (qrels %zu, %zu, %zu) [%.1f s]\n",
            out.c_str(), st.docs, st.queries[0], st.queries[1], st.queries[2], st.qrels[0], st.qrels[1], st.qrels[2],
            secs);
        for (const char* split : {"dev", "test"}) {
            std::string run = out + "/bm25." + split + ".trec", qrels = out + "/qrels." + split + ".txt";
            Evaluation ev = evaluate_run(read_run(run), read_qrels(qrels), run, qrels);
            std::printf("BM25 %-4s  %s\n", split,
                        format_metrics(ev.mean_all, ev.per_query.size() + ev.qrels_only).c_str());
        }
    } catch (const std::exception& e) {
        fatal("%s", e.what());
    }
    return 0;
}
