// build/bin/tokenize: the tokenizer from the command line, and its benchmark.
//
//   tokenize encode TOKENIZER.json [TEXT]   one line of ids per input line (stdin when no TEXT)
//   tokenize decode TOKENIZER.json [IDS]    one line of text per line of ids
//   tokenize check TOKENIZER.json CORPUS IDS
//       compares the ids of every record of CORPUS with the reference IDS (both written by
//       tools/make_tokenizer_fixtures.py, e.g. for another tokenizer.json with --tokenizer); exit 1
//       on any difference
//   tokenize bench TOKENIZER.json CORPUS [--repeat N]
//       CORPUS: tests/fixtures/tokenizer/corpus.bin.gz (records, the format in
//       tools/make_tokenizer_fixtures.py) or a text file (one record per line). Prints single-thread
//       MB/s and tokens/s (best of N passes, each record encoded on its own) and encode_batch at
//       1, 2, ... up to all threads, as "key=value" lines that tools/bench_tokenizer.py reads.
#include <omp.h>

#include <ctime>
#include <cstring>
#include <iostream>
#include <sstream>

#include "core/common.h"
#include "text/tokenizer.h"
#include "support/tokenizer_fixtures.h"

namespace {

int bench(const Tokenizer& tok, const std::string& corpus_path, int repeat) {
    std::vector<std::string> recs = read_text_records(corpus_path).texts;
    std::vector<std::string_view> views(recs.begin(), recs.end());
    size_t bytes = 0;
    for (auto& r : recs) bytes += r.size();
    size_t n_tokens = 0;
    double best = 1e30;
    for (int rep = 0; rep < repeat; rep++) {  // the first pass also fills the word cache
        double t0 = now_seconds();
        size_t n = 0;
        for (auto v : views) n += encode(tok, v).size();
        best = std::min(best, now_seconds() - t0);
        n_tokens = n;
    }
    std::printf("records=%zu bytes=%zu tokens=%zu\n", recs.size(), bytes, n_tokens);
    std::printf("cpp_1thread_s=%.4f MBps=%.2f tokens_per_s=%.0f\n", best, bytes / best / 1e6, n_tokens / best);
    // Batch passes over the corpus repeated to about 0.5 s a pass at one thread, so that thread start
    // and the last chunk's imbalance do not dominate.
    size_t copies = std::max<size_t>(1, (size_t)(0.5 / std::max(best, 1e-6)));
    std::vector<std::string_view> batch_views;
    for (size_t k = 0; k < copies; k++) batch_views.insert(batch_views.end(), views.begin(), views.end());
    bytes *= copies;
    n_tokens *= copies;
    int max_threads = omp_get_max_threads();
    for (int th = 1; th <= max_threads; th *= 2) {
        omp_set_num_threads(th);
        std::vector<std::vector<int32_t>> out;
        double b = 1e30, cpu = 0;
        for (int rep = 0; rep < repeat; rep++) {
            double t0 = now_seconds();
            std::clock_t c0 = std::clock();  // CPU time of all threads: stays flat when the code scales
            encode_batch(tok, batch_views, out);
            double t = now_seconds() - t0;
            if (t < b) { b = t; cpu = (double)(std::clock() - c0) / CLOCKS_PER_SEC; }
        }
        std::printf("cpp_batch threads=%d copies=%zu s=%.4f cpu_s=%.4f MBps=%.2f tokens_per_s=%.0f\n", th, copies, b, cpu,
                    bytes / b / 1e6, n_tokens / b);
        if (th < max_threads && th * 2 > max_threads) th = max_threads / 2;  // also run at max_threads
    }
    return 0;
}

// Compares every record's ids (and word ids when the file has them) with the reference.
int check(const Tokenizer& tok, const std::string& corpus_path, const std::string& ids_path) {
    TextRecords c = read_text_records(corpus_path);
    IdRecords ref = read_id_records(ids_path);
    if (ref.ids.size() > c.texts.size()) fatal("%s: %zu records, more than the %zu of %s", ids_path.c_str(), ref.ids.size(), c.texts.size(), corpus_path.c_str());
    size_t n_ids = 0, bad = 0, bad_words = 0;
    for (size_t i = 0; i < ref.ids.size(); i++) {
        Encoding enc = encode_with_words(tok, c.texts[i]);
        n_ids += ref.ids[i].size();
        if (enc.ids != ref.ids[i]) {
            if (bad++ < 10) {
                size_t k = 0;
                while (k < enc.ids.size() && k < ref.ids[i].size() && enc.ids[k] == ref.ids[i][k]) k++;
                std::printf("record %zu: first difference at id %zu of %zu\n", i, k, ref.ids[i].size());
            }
        } else if (!ref.word_ids.empty() && enc.word_of_token != ref.word_ids[i]) {
            if (bad_words++ < 10) std::printf("record %zu: word ids differ\n", i);
        }
    }
    std::printf("%zu records, %zu ids compared: %zu records with other ids, %zu with other word ids\n", ref.ids.size(), n_ids, bad, bad_words);
    return bad || bad_words ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    auto usage = [] {
        fatal("usage: tokenize encode|decode TOKENIZER.json [FILE] | bench TOKENIZER.json CORPUS [--repeat N] | "
              "check TOKENIZER.json CORPUS IDS");
    };
    if (argc < 3) usage();
    std::string cmd = argv[1];
    Tokenizer tok = tokenizer_load(argv[2]);
    if (cmd == "check") {
        if (argc < 5) usage();
        return check(tok, argv[3], argv[4]);
    }
    if (cmd == "bench") {
        if (argc < 4) usage();
        int repeat = 3;
        for (int i = 4; i + 1 < argc; i++)
            if (!std::strcmp(argv[i], "--repeat")) repeat = flag_int("--repeat", argv[i + 1], 1, 1e6);
        return bench(tok, argv[3], repeat);
    }
    if (cmd != "encode" && cmd != "decode") usage();
    std::string input = argc > 3 ? read_file(argv[3], "input") : std::string(std::istreambuf_iterator<char>(std::cin), {});
    std::istringstream in(input);
    std::string line, out;
    while (std::getline(in, line)) {
        if (cmd == "encode") {
            for (int32_t id : encode(tok, line)) out += std::to_string(id) + " ";
            if (!out.empty() && out.back() == ' ') out.pop_back();
        } else {
            std::vector<int32_t> ids;
            std::istringstream ls(line);
            long long v;
            while (ls >> v) ids.push_back((int32_t)v);
            out += decode(tok, ids);
        }
        out += "\n";
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
    }
    return 0;
}
