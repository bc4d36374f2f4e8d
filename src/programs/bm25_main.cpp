// build/bin/bm25 COLLECTION QUERIES RUN [--depth K] [--candidates OUT] [--tag TAG]: BM25 retrieval
// (src/ir/bm25.h: k1 0.9, b 0.4, Lucene idf) of every query in QUERIES (qid \t text) over COLLECTION
// (docid \t text), written as a TREC run; --candidates also writes the MS MARCO top-k layout
// qid \t docid \t query \t document that ./rerank reads. The index is built in memory with every
// document's tokens held at once: meant for the demo collection, not for MS MARCO's 8.8M passages.
#include <cstdio>
#include <cstring>
#include <exception>
#include <unordered_map>

#include "ir/bm25.h"
#include "core/common.h"

int main(int argc, char** argv) {
    const char* usage = "usage: bm25 COLLECTION QUERIES RUN [--depth K] [--candidates OUT] [--tag TAG]";
    std::vector<std::string> pos;
    size_t depth = 100;
    std::string cand_path, tag = "bm25";
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) fatal("%s needs a value; %s", a.c_str(), usage);
            return argv[++i];
        };
        if (a == "--depth") {
            depth = (size_t)flag_int(a, value(), 1, 1e9);
        } else if (a == "--candidates") cand_path = value();
        else if (a == "--tag") tag = value();
        else if (a == "-h" || a == "--help") {
            std::puts(usage);
            return 0;
        } else if (a[0] == '-' && a.size() > 1) fatal("unknown flag %s; %s", a.c_str(), usage);
        else pos.push_back(a);
    }
    if (pos.size() != 3) fatal("%s", usage);
    const double t0 = now_seconds();
    auto secs = [&] { return now_seconds() - t0; };
    try {
        ReadStats cs, qs;
        std::vector<TextRecord> docs = read_collection(pos[0], &cs);
        std::vector<TextRecord> queries = read_queries(pos[1], &qs);
        std::fputs(read_warnings(pos[0], cs).c_str(), stderr);
        std::fputs(read_warnings(pos[1], qs).c_str(), stderr);
        Bm25Index ix = bm25_build(docs);
        std::fprintf(stderr, "bm25: %zu documents, %zu terms, avgdl %.1f [%.1f s]\n", docs.size(), ix.post_doc.size(),
                     ix.avgdl, secs());
        auto res = bm25_search(ix, queries, depth);
        Run run;
        for (size_t i = 0; i < queries.size(); i++) run[queries[i].id] = res[i];
        write_run(pos[2], run, tag);
        if (!cand_path.empty()) {
            std::unordered_map<std::string, size_t> at;
            for (size_t i = 0; i < docs.size(); i++) at[docs[i].id] = i;
            AtomicFile f(cand_path);
            for (size_t i = 0; i < queries.size(); i++)
                for (const auto& d : res[i]) {
                    std::string line =
                        queries[i].id + "\t" + d.docid + "\t" + queries[i].text + "\t" + docs[at[d.docid]].text + "\n";
                    f.write(line.data(), line.size());
                }
            f.commit();
        }
        std::fprintf(stderr, "bm25: %zu queries, top %zu -> %s [%.1f s]\n", queries.size(), depth, pos[2].c_str(),
                     secs());
    } catch (const std::exception& e) {
        fatal("%s", e.what());
    }
    return 0;
}
